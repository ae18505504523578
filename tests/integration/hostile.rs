//! Hostile input: every malformed or odd file gives a finding or an error naming it, never a
//! panic, a stack overflow or a hang; only regular files are read; values never leak through
//! the paths that handle broken input.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{envsync, gprod_pair, on_pair, set_line, Run};

/// Run with a deadline far above the normal time: a hang fails the test instead of the suite.
fn within(limit: Duration, cmd: &mut std::process::Command) -> Run {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn ten_thousand_nested_references_are_a_finding_not_a_crash() {
    let (_d, b, i) = gprod_pair();
    for depth in [6_000, 100_000] {
        let value = format!("{}x{}", "${A:-".repeat(depth), "}".repeat(depth));
        let infra = i.join(".env.prod");
        let text = fs::read_to_string(&infra).unwrap();
        fs::write(&infra, format!("{text}DEEP={value}\n")).unwrap();
        let r = within(
            Duration::from_secs(60),
            envsync(&b)
                .args(["check", "-c", "prod", "--backend"])
                .arg(&b)
                .arg("--infra")
                .arg(&i),
        );
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("nested more than 64 levels"),
            "{}",
            r.stdout
        );
        let shown = within(
            Duration::from_secs(60),
            envsync(&b)
                .args(["show", "--dialect", "compose"])
                .arg(&infra),
        );
        assert_eq!(shown.code, 1, "{}{}", shown.stdout, shown.stderr);
        fs::write(&infra, text).unwrap();
    }
}

#[test]
fn only_regular_files_are_read() {
    let (_d, b, i) = gprod_pair();
    // A FIFO as the infra env file: refused at once, not waited on.
    let fifo = i.join(".env.prod");
    fs::remove_file(&fifo).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let r = within(
        Duration::from_secs(30),
        envsync(&b)
            .args(["check", "-c", "prod", "--backend"])
            .arg(&b)
            .arg("--infra")
            .arg(&i),
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("not a regular file (a FIFO)"),
        "{}",
        r.stderr
    );
    let shown = within(Duration::from_secs(30), envsync(&b).arg("show").arg(&fifo));
    assert_eq!(shown.code, 2, "{}", shown.stderr);
    let config = within(
        Duration::from_secs(30),
        envsync(&b).args(["check", "--config"]).arg(&fifo),
    );
    assert_eq!(config.code, 2, "{}", config.stderr);
    // A link to /dev/zero is a device, not an endless file.
    fs::remove_file(&fifo).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &fifo).unwrap();
    let r = within(Duration::from_secs(30), envsync(&b).arg("show").arg(&fifo));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("a device"), "{}", r.stderr);
}

#[test]
fn migration_files_that_are_not_files_are_refused_by_name() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path();
    fs::write(m.join("1_create.sql"), "CREATE TABLE t (x int);\n").unwrap();
    type Make<'a> = &'a dyn Fn(&Path);
    let cases: [(&str, Make); 4] = [
        ("2_dangling.sql", &|p| {
            std::os::unix::fs::symlink("nowhere.sql", p).unwrap()
        }),
        ("2_loop.sql", &|p| {
            std::os::unix::fs::symlink(p.file_name().unwrap(), p).unwrap()
        }),
        ("2_dir.sql", &|p| fs::create_dir(p).unwrap()),
        ("2_fifo.sql", &|p| {
            assert!(std::process::Command::new("mkfifo")
                .arg(p)
                .status()
                .unwrap()
                .success())
        }),
    ];
    for (name, make) in cases {
        let p = m.join(name);
        make(&p);
        let r = within(
            Duration::from_secs(30),
            envsync(m)
                .args(["migrate", "status", "--dir"])
                .arg(m)
                .args(["--database-url", "postgresql://u:p@127.0.0.1:1/x"]),
        );
        assert_eq!(r.code, 2, "{name}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(name), "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains("nothing was sent to the database"),
            "{}",
            r.stderr
        );
        if p.is_dir() {
            fs::remove_dir(&p).unwrap();
        } else {
            fs::remove_file(&p).unwrap();
        }
    }
}

#[test]
fn fix_keeps_secrets_out_of_the_diff_and_writes_what_follows_a_quoted_value() {
    let (_d, b, i) = gprod_pair();
    let bf = b.join(".env.production");
    set_line(
        &bf,
        "POSTGRES_PASSWORD",
        "POSTGRES_PASSWORD=\"Leak-Canary-1\"-tail-canary",
    );
    let text = fs::read_to_string(&bf).unwrap();
    fs::write(
        &bf,
        format!("#JWT_SECRET=commented-canary-secret-0123456789\n{text}"),
    )
    .unwrap();
    let dry = on_pair(
        &b,
        &i,
        &["fix", "-c", "prod", "--prefer", "infra", "--dry-run"],
    );
    assert_eq!(dry.code, 1, "{}{}", dry.stdout, dry.stderr);
    for canary in ["Leak-Canary-1", "tail-canary", "commented-canary"] {
        assert!(
            !dry.stdout.contains(canary),
            "{canary} leaked:\n{}",
            dry.stdout
        );
    }
    let real = on_pair(
        &b,
        &i,
        &["fix", "-c", "prod", "--prefer", "infra", "--no-backup"],
    );
    assert_eq!(real.code, 0, "{}{}", real.stdout, real.stderr);
    assert!(!fs::read_to_string(&bf).unwrap().contains("tail-canary"));
    assert_eq!(on_pair(&b, &i, &["check", "-c", "prod"]).code, 0);
}

/// Compose files get the same treatment: a FIFO is trouble at once (exit 2, named); deep
/// nesting, alias bombs, invalid UTF-8, 10,000 nested `${`, a 5 MB line are findings naming the
/// file and line, in bounded time.
#[test]
fn hostile_compose_files_are_findings_or_trouble_never_a_crash() {
    let check = |b: &Path, i: &Path| {
        within(
            Duration::from_secs(60),
            envsync(b)
                .args(["check", "-c", "prod", "--backend"])
                .arg(b)
                .arg("--infra")
                .arg(i),
        )
    };
    let (_d, b, i) = gprod_pair();
    let prod = i.join("docker/prod/docker-compose.prod.yml");
    let original = fs::read(&prod).unwrap();
    fs::remove_file(&prod).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(&prod)
        .status()
        .unwrap()
        .success());
    let r = check(&b, &i);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("docker/prod/docker-compose.prod.yml") && r.stderr.contains("FIFO"),
        "{}",
        r.stderr
    );
    fs::remove_file(&prod).unwrap();

    let mut laughs =
        String::from("services:\n  db:\n    image: x\nx-a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for k in 0..9 {
        let prev = if k == 0 {
            "a".to_string()
        } else {
            format!("l{}", k - 1)
        };
        laughs.push_str(&format!(
            "x-l{k}: &l{k} [{}]\n",
            vec![format!("*{prev}"); 10].join(", ")
        ));
    }
    let secret = "prd-Qz7#Lm2@Vx9!Kw4";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "deep",
            format!("services:\n  db:\n    x: {}\n", "[".repeat(10_000)).into_bytes(),
            "recursion limit",
        ),
        ("laughs", laughs.into_bytes(), "aliases expand"),
        (
            "utf8",
            b"services:\n  db:\n    environment:\n      A: \"\xff\xfe\"\n".to_vec(),
            "UTF-8",
        ),
        (
            "nested-refs",
            format!(
                "services:\n  db:\n    environment:\n      A: {}x{}\n",
                "${B:-".repeat(10_000),
                "}".repeat(10_000)
            )
            .into_bytes(),
            "nested more than 64 levels",
        ),
        (
            "conflict",
            format!(
                "services:\n<<<<<<< HEAD\n  db:\n    environment:\n      P: {secret}\n=======\n"
            )
            .into_bytes(),
            "docker-compose.prod.yml:",
        ),
        (
            "extends-cycle",
            b"services:\n  db:\n    image: x\n    extends: {service: app}\n  app:\n    extends: db\n"
                .to_vec(),
            "`extends` goes round in a cycle: `db` (docker/prod/docker-compose.prod.yml:4)",
        ),
        (
            "extends-deep",
            (0..200)
                .map(|k| format!("  s{k}:\n    extends: s{}\n", k + 1))
                .fold(String::from("services:\n"), |acc, s| acc + &s)
                .into_bytes(),
            "chained more than 64 services deep",
        ),
        (
            "include-self",
            b"include: [prod/docker-compose.prod.yml]\n".to_vec(),
            "`include` goes round in a cycle: docker/prod/docker-compose.prod.yml includes",
        ),
    ];
    for (name, bytes, expect) in cases {
        fs::write(&prod, &bytes).unwrap();
        let r = check(&b, &i);
        assert_eq!(r.code, 1, "{name}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("error[compose-file] prod") && r.stdout.contains(expect),
            "{name}: {}",
            r.stdout
        );
        assert!(!r.stdout.contains(secret), "{name} leaks");
    }
    // A file compose would read through `extends` that is a FIFO: trouble, naming both lines.
    let fifo = i.join("docker/prod/base.yml");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    fs::write(
        &prod,
        "services:\n  db:\n    extends:\n      file: prod/base.yml\n      service: x\n",
    )
    .unwrap();
    let r = check(&b, &i);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("docker/prod/base.yml")
            && r.stderr.contains("FIFO")
            && r.stderr
                .contains("named at docker/prod/docker-compose.prod.yml:4"),
        "{}",
        r.stderr
    );
    fs::remove_file(&fifo).unwrap();
    // Line separators by the hundred thousand (each a line break to compose's YAML reader):
    // read in bounded time.
    let flood = format!(
        "services:\n  db:\n    image: x\n{}    environment:\n      A: '{}'\n",
        "    # \u{85}".repeat(100_000),
        "x\u{2028}".repeat(100_000)
    );
    fs::write(&prod, flood).unwrap();
    let r = check(&b, &i);
    assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
    // A 5 MB scalar is read (and found wanting) in bounded time, linearly.
    let big = format!(
        "services:\n  db:\n    environment:\n      BIG: {}\n",
        "x".repeat(5 << 20)
    );
    fs::write(&prod, big).unwrap();
    let r = check(&b, &i);
    assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
    fs::write(&prod, original).unwrap();
    assert_eq!(check(&b, &i).code, 0);
}

/// What a file outside every repo holds: it must never appear in any output.
const CANARY: &str = "canary-7f3e-outside-content";

/// A directory outside the repos holding canary files (env, compose, nginx, SQL).
fn outside() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    fs::write(
        p.join("canary.env"),
        format!(
            "SHADOW_CANARY={CANARY}\nPOSTGRES_PASSWORD={CANARY}\nJWT_SECRET={CANARY}\nPORT=3200\n"
        ),
    )
    .unwrap();
    fs::write(
        p.join("canary.yml"),
        format!("services:\n  app:\n    environment:\n      SHADOW_CANARY: {CANARY}\n"),
    )
    .unwrap();
    fs::write(
        p.join("canary.conf"),
        format!("# {CANARY}\nserver {{ location / {{ proxy_pass http://app:9999/; }} }}\n"),
    )
    .unwrap();
    fs::write(p.join("canary.sql"), format!("-- {CANARY}\nSELECT 1;\n")).unwrap();
    d
}

/// Replace `path` (a file or nothing) with a symbolic link to `target`.
fn link(target: &Path, path: &Path) {
    let _ = fs::remove_file(path);
    std::os::unix::fs::symlink(target, path).unwrap();
}

fn replace_in(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{}: no `{from}`", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// The refusal: trouble (exit 2), naming the link, saying where it points, printing nothing of
/// the outside file.
fn assert_refused(case: &str, r: &Run, named: &str) {
    assert_eq!(r.code, 2, "{case}: {}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(named) && r.stderr.contains("points outside the repository"),
        "{case}: {}",
        r.stderr
    );
    assert!(
        !r.stdout.contains(CANARY) && !r.stderr.contains(CANARY),
        "{case} prints the outside file: {}{}",
        r.stdout,
        r.stderr
    );
}

/// F9: a symbolic link inside a repo that leads out of it is not followed, for any file envsync
/// reads on the repo's behalf; `show --service` used to print the outside file's lines.
#[test]
fn links_out_of_the_repo_are_refused_naming_the_link() {
    let out = outside();
    let o = out.path();
    let show = [
        "show",
        "--service",
        "app",
        "--contour",
        "prod",
        "--show-values",
    ];
    let check = ["check", "-c", "prod"];
    type Setup<'a> = &'a dyn Fn(&Path, &Path);
    let cases: [(&str, Setup, &[&str], &str); 5] = [
        (
            "contour env file",
            &|b, _| link(&o.join("canary.env"), &b.join(".env.production")),
            &check,
            ".env.production in",
        ),
        (
            "compose env_file",
            &|_, i| {
                link(&o.join("canary.env"), &i.join("docker/extra.env"));
                replace_in(
                    &i.join("docker/prod/docker-compose.prod.yml"),
                    "      - ../../backend/.env.production\n",
                    "      - ../../backend/.env.production\n      - extra.env\n",
                );
            },
            &show,
            "docker/extra.env in",
        ),
        (
            "compose project .env",
            &|_, i| {
                link(&o.join("canary.env"), &i.join("docker/.env"));
                replace_in(
                    &i.join("docker/docker-compose.yml"),
                    "      RUNNING_IN_DOCKER: \"true\"\n",
                    "      RUNNING_IN_DOCKER: \"true\"\n      LEAK: ${SHADOW_CANARY}\n",
                );
            },
            &show,
            "docker/.env in",
        ),
        (
            "compose file",
            &|_, i| {
                link(
                    &o.join("canary.yml"),
                    &i.join("docker/prod/docker-compose.prod.yml"),
                )
            },
            &show,
            "docker/prod/docker-compose.prod.yml in",
        ),
        (
            "nginx conf",
            &|_, i| link(&o.join("canary.conf"), &i.join("nginx/prod/gprod.conf")),
            &check,
            "nginx/prod/gprod.conf in",
        ),
    ];
    for (case, setup, args, named) in cases {
        let (_d, b, i) = gprod_pair();
        setup(&b, &i);
        let r = within(
            Duration::from_secs(60),
            envsync(&b)
                .args(args)
                .arg("--backend")
                .arg(&b)
                .arg("--infra")
                .arg(&i),
        );
        assert_refused(case, &r, named);
    }
}

/// F9: migrations are refused before any connection (the URL's port 1 would refuse one): a
/// sqlx file, a Prisma `migration.sql` and the migrations directory itself linked out of the
/// backend repo. A directory named explicitly with `--dir` outside the repo is still read.
#[test]
fn migrations_linked_out_of_the_repo_are_refused_before_any_connection() {
    let out = outside();
    let o = out.path();
    let url = "postgresql://u:p@127.0.0.1:1/x";
    let migrate = |b: &Path, extra: &[&str]| {
        within(
            Duration::from_secs(60),
            envsync(b)
                .args(["migrate", "--database-url", url])
                .args(extra)
                .arg("--backend")
                .arg(b),
        )
    };
    let before_connecting = |case: &str, r: &Run, named: &str| {
        assert_refused(case, r, named);
        assert!(
            r.stderr.contains("nothing was sent to the database")
                && !r.stderr.contains("cannot connect"),
            "{case}: {}",
            r.stderr
        );
    };

    let (_d, b, _) = gprod_pair();
    let m = b.join("migrations");
    fs::create_dir(&m).unwrap();
    fs::write(m.join("1_init.sql"), "CREATE TABLE t (x int);\n").unwrap();
    link(&o.join("canary.sql"), &m.join("2_leak.sql"));
    let r = migrate(&b, &["--ledger", "sqlx"]);
    before_connecting("sqlx file", &r, "2_leak.sql");

    // The directory itself, linked out of the repo.
    let elsewhere = o.join("migs");
    fs::create_dir(&elsewhere).unwrap();
    fs::write(elsewhere.join("1_init.sql"), format!("-- {CANARY}\n")).unwrap();
    fs::remove_dir_all(&m).unwrap();
    link(&elsewhere, &m);
    let r = migrate(&b, &["--ledger", "sqlx"]);
    before_connecting("sqlx directory", &r, "migrations");
    let r = migrate(&b, &["--ledger", "sqlx", "--dir", "migrations"]);
    before_connecting("sqlx directory named in the repo", &r, "migrations");
    // Named explicitly, outside the repo: read, and the run goes on to connect.
    let r = migrate(
        &b,
        &["--ledger", "sqlx", "--dir", elsewhere.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("cannot connect"), "{}", r.stderr);

    let (_d, b, _) = gprod_pair();
    let sql = b.join("prisma/migrations/20250503150000_add_roles_column/migration.sql");
    link(&o.join("canary.sql"), &sql);
    let r = migrate(&b, &[]);
    before_connecting(
        "prisma migration.sql",
        &r,
        "20250503150000_add_roles_column/migration.sql",
    );
}

/// F9, what keeps working: in-repo links (`.env -> .env.prod`, a project `.env` linked to the
/// contour's file, a backend env file linked into a subdirectory) and an infra link into the
/// backend repo, which compose reads as that backend file.
#[test]
fn links_inside_the_repos_still_work() {
    let (_d, b, i) = gprod_pair();
    assert!(fs::symlink_metadata(i.join(".env"))
        .unwrap()
        .file_type()
        .is_symlink());
    let prod = i.join("docker/prod/docker-compose.prod.yml");
    // db reads the contour's file through the in-repo `.env -> .env.prod` link.
    replace_in(&prod, "      - ../.env.prod\n", "      - ../.env\n");
    // The project `.env` (interpolation) is a link to the contour's file.
    std::os::unix::fs::symlink("../.env.prod", i.join("docker/.env")).unwrap();
    replace_in(
        &i.join("docker/docker-compose.yml"),
        "      RUNNING_IN_DOCKER: \"true\"\n",
        "      RUNNING_IN_DOCKER: \"true\"\n      PROJECT: ${COMPOSE_PROJECT_NAME}\n",
    );
    // The backend's env file lives in a subdirectory, linked from its usual name.
    fs::create_dir(b.join("config")).unwrap();
    fs::rename(b.join(".env.production"), b.join("config/production.env")).unwrap();
    std::os::unix::fs::symlink("config/production.env", b.join(".env.production")).unwrap();
    // An infra file linked into the backend repo.
    fs::write(b.join("config/extra.env"), "FROM_BACKEND=yes\n").unwrap();
    std::os::unix::fs::symlink("../../backend/config/extra.env", i.join("docker/app.env")).unwrap();
    replace_in(
        &prod,
        "      - ../../backend/.env.production\n",
        "      - ../../backend/.env.production\n      - app.env\n",
    );

    let r = on_pair(&b, &i, &["check", "-c", "prod"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let service = |name: &str| {
        let r = on_pair(
            &b,
            &i,
            &[
                "show",
                "--service",
                name,
                "-c",
                "prod",
                "--format",
                "json",
                "--show-values",
            ],
        );
        assert_eq!(r.code, 0, "{name}: {}{}", r.stdout, r.stderr);
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["variables"].clone()
    };
    let infra_env = fs::read_to_string(i.join(".env.prod")).unwrap();
    let password = infra_env
        .lines()
        .find_map(|l| l.strip_prefix("POSTGRES_PASSWORD="))
        .unwrap()
        .trim_matches('\'');
    assert_eq!(service("db")["POSTGRES_PASSWORD"], password);
    let app = service("app");
    assert_eq!(app["PROJECT"], "gprod-prod");
    assert_eq!(app["FROM_BACKEND"], "yes");
    let backend_env = fs::read_to_string(b.join("config/production.env")).unwrap();
    let jwt = backend_env
        .lines()
        .find_map(|l| l.strip_prefix("JWT_SECRET="))
        .unwrap()
        .trim_matches('\'');
    assert_eq!(app["JWT_SECRET"], jwt);
}

/// Issue 19, F4: a 118 KiB compose file aliasing one 59 KiB scalar 15,000 times made `check`
/// hold 900 MiB. It is refused as a `compose-file` finding (exit 1, as for any compose file
/// envsync will not read) naming the file and the line of the alias that went over the budget,
/// and the run fits in 200 MiB of address space: the child runs under `ulimit -v`, so a run
/// that asks for more fails to allocate and aborts (memory, not time).
#[test]
fn a_compose_alias_bomb_of_long_scalars_is_refused_in_bounded_memory() {
    let (_d, b, i) = gprod_pair();
    let prod = i.join("docker/prod/docker-compose.prod.yml");
    let mut bomb = format!(
        "services:\n  db:\n    image: x\nx-a: &a \"{}\"\nx-b: [",
        "x".repeat(59 << 10)
    );
    while bomb.len() < 118 << 10 {
        bomb.push_str("*a, ");
    }
    bomb.push_str("*a]\n");
    fs::write(&prod, &bomb).unwrap();
    let limited = |args: &[&str]| {
        let limit_kib = 200 << 10;
        within(
            Duration::from_secs(60),
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("ulimit -v {limit_kib} && exec \"$0\" \"$@\""))
                .arg(crate::common::bin())
                .args(args)
                .arg("--backend")
                .arg(&b)
                .arg("--infra")
                .arg(&i)
                .current_dir(&b)
                .env("NO_COLOR", "1"),
        )
    };
    let r = limited(&["check", "-c", "prod"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("error[compose-file] prod: aliases expand")
            && r.stdout
                .contains("(infra docker/prod/docker-compose.prod.yml:5)"),
        "{}",
        r.stdout
    );
    let json = limited(&["check", "-c", "prod", "--format", "json"]);
    assert_eq!(json.code, 1, "{}{}", json.stdout, json.stderr);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(
        doc["findings"].as_array().unwrap().iter().any(|f| {
            f["code"] == "compose-file"
                && f["locations"][0]["file"] == "docker/prod/docker-compose.prod.yml"
                && f["locations"][0]["line"] == 5
        }),
        "{}",
        json.stdout
    );
}

/// Ten lines, each naming the previous one ten times (`L1=${L0}${L0}…`), would expand to 10 GB
/// in the compose and dotenvy dialects: refused at the line that copies past 16 MiB, at once,
/// for `show` and `check` alike (a guard against hanging, not a measurement).
#[test]
fn exponential_references_in_an_env_file_are_refused_at_once() {
    let (_d, b, i) = gprod_pair();
    let mut bomb = String::from("L0=0123456789\n");
    for n in 1..10 {
        bomb.push_str(&format!("L{n}={}\n", format!("${{L{}}}", n - 1).repeat(10)));
    }
    let file = i.join(".env.prod");
    let text = fs::read_to_string(&file).unwrap();
    fs::write(&file, format!("{text}{bomb}")).unwrap();
    for dialect in ["compose", "dotenvy"] {
        let r = within(
            Duration::from_secs(60),
            envsync(&b).args(["show", "--dialect", dialect]).arg(&file),
        );
        assert_eq!(r.code, 1, "{dialect}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("more than 16 MiB"),
            "{dialect}: {}",
            r.stdout
        );
    }
    let r = within(
        Duration::from_secs(60),
        envsync(&b)
            .args(["check", "-c", "prod", "--backend"])
            .arg(&b)
            .arg("--infra")
            .arg(&i),
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("infra .env.prod"), "{}", r.stdout);
}
