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
