//! Git sources through libgit2: a commit of a local repo, the index, and git+file:// remotes,
//! on real repositories built in temporary directories.

use envsync::source::{Source, SourceSpec};

use crate::common::{envsync, fixtures, git, repo_from, run, which, Stub};

struct Pair {
    _dir: tempfile::TempDir,
    backend: std::path::PathBuf,
    infra: std::path::PathBuf,
}

fn pair() -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let backend = dir.path().join("gprod-backend");
    let infra = dir.path().join("gybernaty-infra");
    repo_from(&fixtures().join("gprod/backend"), &backend);
    repo_from(&fixtures().join("gprod/infra"), &infra);
    Pair {
        _dir: dir,
        backend,
        infra,
    }
}

fn drift_port(p: &std::path::Path) {
    let f = p.join(".env.production");
    let s = std::fs::read_to_string(&f)
        .unwrap()
        .replace("PORT=3200", "PORT=3007");
    std::fs::write(f, s).unwrap();
}

#[test]
fn a_rev_is_read_without_touching_the_working_tree() {
    let p = pair();
    drift_port(&p.backend);
    let before = std::fs::read(p.backend.join(".env.production")).unwrap();
    let index_before = std::fs::read(p.backend.join(".git/index")).unwrap();
    let b = p.backend.to_str().unwrap();
    let i = p.infra.to_str().unwrap();
    let wt = run(envsync(&p.backend).args(["check", "--backend", b, "--infra", i, "-c", "prod"]));
    assert_eq!(wt.code, 1, "{}", wt.stdout);
    let at_main = run(envsync(&p.backend).args([
        "check",
        "--backend",
        b,
        "--backend-rev",
        "main",
        "--infra",
        i,
        "-c",
        "prod",
    ]));
    assert_eq!(at_main.code, 0, "{}{}", at_main.stdout, at_main.stderr);
    assert_eq!(
        std::fs::read(p.backend.join(".env.production")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read(p.backend.join(".git/index")).unwrap(),
        index_before
    );
    let bad = run(envsync(&p.backend).args([
        "check",
        "--backend",
        b,
        "--backend-rev",
        "no-such-branch",
        "--infra",
        i,
    ]));
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("no-such-branch"), "{}", bad.stderr);
}

#[test]
fn staged_reads_the_index_not_the_working_tree() {
    let p = pair();
    let original = std::fs::read(p.backend.join(".env.production")).unwrap();
    drift_port(&p.backend);
    git(&p.backend, &["add", ".env.production"]);
    std::fs::write(p.backend.join(".env.production"), &original).unwrap();
    let index_before = std::fs::read(p.backend.join(".git/index")).unwrap();
    let i = p.infra.to_str().unwrap();
    let staged = run(envsync(&p.backend).args(["check", "--staged", "--infra", i, "-c", "prod"]));
    assert_eq!(staged.code, 1, "{}{}", staged.stdout, staged.stderr);
    assert!(staged.stdout.contains("3007"), "{}", staged.stdout);
    let wt = run(envsync(&p.backend).args(["check", "--infra", i, "-c", "prod"]));
    assert_eq!(wt.code, 0, "{}{}", wt.stdout, wt.stderr);
    assert_eq!(
        std::fs::read(p.backend.join(".git/index")).unwrap(),
        index_before
    );
}

#[test]
fn git_file_urls_are_fetched_into_a_cache_by_libgit2() {
    fetched_into_a_cache("libgit2");
}

#[test]
fn urls_are_fetched_by_the_git_program_when_asked() {
    // The transport https/ssh URLs take; forced here on a file:// URL (no network in tests).
    fetched_into_a_cache("cli");
}

fn fetched_into_a_cache(transport: &str) {
    let p = pair();
    git(&p.infra, &["checkout", "-q", "-b", "drifted"]);
    let f = p.infra.join(".env.prod");
    let s = std::fs::read_to_string(&f)
        .unwrap()
        .replace("PORT=3200", "PORT=3999");
    std::fs::write(&f, s).unwrap();
    git(&p.infra, &["commit", "-qam", "drift"]);
    git(&p.infra, &["checkout", "-q", "main"]);
    let cache = tempfile::tempdir().unwrap();
    let url = format!("git+file://{}", p.infra.display());
    // A `git` on PATH that records each call and hands it to the real one.
    let real_git = which("git");
    let stub = Stub::new("git", &format!("exec '{}' \"$@\"", real_git.display()));
    // `check -c prod` of the backend against `infra` as the given source.
    let check = |infra: &str| {
        run(envsync(&p.backend)
            .env("ENVSYNC_CACHE_DIR", cache.path())
            .env("ENVSYNC_GIT_FETCH", transport)
            .env("PATH", stub.path_var())
            .arg("check")
            .arg("--backend")
            .arg(&p.backend)
            .args(["--infra", infra, "-c", "prod"]))
    };
    let main = check(&format!("{url}#main"));
    assert_eq!(main.code, 0, "{}{}", main.stdout, main.stderr);
    let drifted = check(&format!("{url}#drifted"));
    assert_eq!(drifted.code, 1, "{}{}", drifted.stdout, drifted.stderr);
    assert!(drifted.stdout.contains("3999"));
    // Default branch when no #REV is given.
    let head = check(&url);
    assert_eq!(head.code, 0, "{}{}", head.stdout, head.stderr);
    let missing = check("git+file:///no/such/repo");
    assert_eq!(missing.code, 2);
    // Each fetch went through the transport asked for, and only through it.
    let fetches = stub
        .calls()
        .into_iter()
        .filter(|args| args.iter().any(|a| a == "fetch"))
        .count();
    match transport {
        "cli" => assert_eq!(fetches, 4, "{:?}", stub.calls()),
        _ => assert_eq!(stub.calls(), Vec::<Vec<String>>::new()),
    }
}

#[test]
fn symlinks_are_followed_in_trees_and_in_the_index() {
    let p = pair();
    let spec = SourceSpec::Path {
        path: p.backend.clone(),
        rev: Some("main".into()),
    };
    let tree = Source::open(&spec, "backend", false).unwrap();
    let via_link = tree.read(".env").unwrap().unwrap();
    assert_eq!(via_link, tree.read(".env.production").unwrap().unwrap());
    let spec = SourceSpec::Path {
        path: p.backend.clone(),
        rev: None,
    };
    let index = Source::open(&spec, "backend", true).unwrap();
    assert_eq!(index.read(".env").unwrap().unwrap(), via_link);
    assert!(index.read(".env.qa").unwrap().is_none());
}

/// The compose project and the nginx files are read from the same source as the env files:
/// drift in the infra working tree is found there, and not at the committed revision.
#[test]
fn compose_files_are_read_from_the_selected_revision() {
    let p = pair();
    let prod = p.infra.join("docker/prod/docker-compose.prod.yml");
    let text = std::fs::read_to_string(&prod).unwrap();
    std::fs::write(&prod, text.replace("gp-network-prod", "gp-network-stage")).unwrap();
    let conf = p.infra.join("nginx/prod/gprod.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("app:3200", "app:3000")).unwrap();
    let b = p.backend.to_str().unwrap();
    let i = p.infra.to_str().unwrap();
    let wt = run(envsync(&p.backend).args(["check", "--backend", b, "--infra", i, "-c", "prod"]));
    assert_eq!(wt.code, 1, "{}{}", wt.stdout, wt.stderr);
    assert!(wt.stdout.contains("error[network] prod"), "{}", wt.stdout);
    assert!(
        wt.stdout.contains("nginx/prod/gprod.conf:7"),
        "{}",
        wt.stdout
    );
    for rev in [vec!["--infra-rev", "main"], vec![]] {
        let url = format!("git+file://{i}#main");
        let infra = if rev.is_empty() { url.as_str() } else { i };
        let r = run(envsync(&p.backend)
            .args(["check", "--backend", b, "--infra", infra, "-c", "prod"])
            .args(&rev)
            .env("ENVSYNC_CACHE_DIR", p.backend.join("../cache")));
        assert_eq!(r.code, 0, "{infra} {rev:?}: {}{}", r.stdout, r.stderr);
        assert!(!r.stdout.contains("network"), "{}", r.stdout);
    }
}

/// Files compose reads through `extends` and `include` come through the same reader as the
/// `-f` files: from the selected revision, not the working tree.
#[test]
fn extended_and_included_files_are_read_from_the_selected_revision() {
    for (set, service, file, key, from, to) in [
        (
            "extends-other-dir",
            "db",
            "shared/postgres/db.yml",
            "PGDATA",
            "/var/lib/postgresql/data/pgdata",
            "/elsewhere",
        ),
        (
            "include-short",
            "grafana",
            "monitoring/.env",
            "GF_SECURITY_ADMIN_PASSWORD",
            "grafana-admin-Xq7",
            "changed-in-the-working-tree",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let infra = dir.path().join("infra");
        repo_from(&fixtures().join("compose").join(set).join("infra"), &infra);
        let path = infra.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace(from, to)).unwrap();
        let show = |rev: &[&str]| {
            let r = run(envsync(dir.path())
                .args([
                    "show",
                    "--service",
                    service,
                    "-c",
                    "dev",
                    "--format",
                    "json",
                ])
                .arg("--show-values")
                .arg("--config")
                .arg(fixtures().join("compose").join(set).join("envsync.toml"))
                .arg("--backend")
                .arg(fixtures().join("compose").join(set).join("backend"))
                .arg("--infra")
                .arg(&infra)
                .args(rev));
            assert_eq!(r.code, 0, "{set}: {}{}", r.stdout, r.stderr);
            let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            v["variables"][key].as_str().unwrap().to_string()
        };
        assert_eq!(show(&[]), to, "{set}");
        assert_eq!(show(&["--infra-rev", "main"]), from, "{set}");
    }
}
