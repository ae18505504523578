//! `check`, `show` and `init` through the real binary on the shipped fixtures, with snapshots
//! of text and JSON output.

use std::path::Path;

use crate::common::{envsync, fixtures, root, run};

fn check(set: &Path, extra: &[&str]) -> crate::common::Run {
    let mut cmd = envsync(&root());
    cmd.arg("check")
        .arg("--backend")
        .arg(set.join("backend"))
        .arg("--infra")
        .arg(set.join("infra"))
        .args(extra);
    run(&mut cmd)
}

#[test]
fn the_in_sync_fixture_is_clean() {
    let r = check(&fixtures().join("gprod"), &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    insta::assert_snapshot!("gprod_text", r.stdout);
    let j = check(&fixtures().join("gprod"), &["--format", "json"]);
    assert_eq!(j.code, 0);
    insta::assert_snapshot!("gprod_json", j.stdout);
}

#[test]
fn every_drifted_fixture_is_caught_and_never_leaks_a_secret() {
    let drift = fixtures().join("drift");
    let mut sets: Vec<_> = std::fs::read_dir(&drift)
        .unwrap()
        .map(|e| e.unwrap().path())
        // The Kubernetes drift sets need their config and helm: `kubernetes_rules.rs`.
        .filter(|p| !p.join("kubernetes.envsync.toml").exists())
        .collect();
    sets.sort();
    assert!(sets.len() >= 8);
    for set in sets {
        let name = set.file_name().unwrap().to_str().unwrap().to_string();
        let text = check(&set, &[]);
        assert_eq!(text.code, 1, "{name}: {}{}", text.stdout, text.stderr);
        insta::assert_snapshot!(format!("drift_{name}_text"), text.stdout);
        let json = check(&set, &["--format", "json"]);
        assert_eq!(json.code, 1, "{name}");
        let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
        assert_eq!(v["version"], 1);
        assert!(v["summary"]["errors"].as_u64().unwrap() >= 1);
        insta::assert_snapshot!(format!("drift_{name}_json"), json.stdout);
        for secret in secrets_in(&set) {
            assert!(
                !text.stdout.contains(&secret) && !json.stdout.contains(&secret),
                "{name} leaks a secret"
            );
        }
    }
}

/// Every secret-looking value in a fixture set (by key), to make sure none is printed.
fn secrets_in(set: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for repo in ["backend", "infra"] {
        for e in std::fs::read_dir(set.join(repo)).unwrap() {
            let p = e.unwrap().path();
            if !p.is_file() {
                continue;
            }
            let d = envsync::dialect::Dialect::NodeDotenv
                .decode(&std::fs::read(&p).unwrap(), &|_| None);
            for a in d.assignments {
                if (a.key.contains("SECRET") || a.key.contains("PASSWORD")) && a.value.len() >= 6 {
                    out.push(a.value);
                }
            }
        }
    }
    out
}

#[test]
fn show_values_is_the_only_way_to_print_a_value() {
    let set = fixtures().join("drift/password-mismatch");
    let masked = check(&set, &[]);
    assert!(masked.stdout.contains("sha256:"));
    assert!(!masked.stdout.contains("prd-rotated"));
    let shown = check(&set, &["--show-values"]);
    assert!(shown.stdout.contains("prd-rotated"), "{}", shown.stdout);
}

#[test]
fn contour_selection_and_missing_files() {
    let set = fixtures().join("drift/port-drift");
    let prod = check(&set, &["--contour", "production"]);
    assert_eq!(prod.code, 0, "{}", prod.stdout);
    assert!(
        prod.stdout.contains("1 contour checked: prod"),
        "{}",
        prod.stdout
    );
    let stage = check(&set, &["-c", "staging"]);
    assert_eq!(stage.code, 1);
    let unknown = check(&set, &["--contour", "qa"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("unknown contour `qa`"),
        "{}",
        unknown.stderr
    );

    // A selected contour missing in one repo names the candidates that were looked for.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("backend")).unwrap();
    std::fs::create_dir_all(dir.path().join("infra")).unwrap();
    std::fs::write(dir.path().join("backend/.env.production"), "PORT=3200\n").unwrap();
    let r = check(dir.path(), &["--contour", "prod"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(".env.prod, .env.production, .env"),
        "{}",
        r.stderr
    );
    let r = check(&dir.path().join("nowhere"), &[]);
    assert_eq!(r.code, 2);
}

#[test]
fn config_overrides_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_tree(&fixtures().join("gprod"), dir.path());
    // Move prod's API port: every prod PORT is now drift.
    std::fs::write(
        dir.path().join("envsync.toml"),
        "[repos.backend]\npath = \"backend\"\n[repos.infra]\npath = \"infra\"\n[contours.prod]\napi_port = 3999\n",
    )
    .unwrap();
    let r = run(envsync(dir.path()).args(["check", "--contour", "prod"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("API port is 3999"), "{}", r.stdout);
    // The compose files still publish the API on 3200.
    assert!(
        r.stdout.contains("error[published-port] prod"),
        "{}",
        r.stdout
    );
    // Disable the rules in the same file: clean again.
    let mut text = std::fs::read_to_string(dir.path().join("envsync.toml")).unwrap();
    text.push_str(
        "[rule.port-mismatch]\nenabled = false\n[rule.published-port]\nenabled = false\n[rule.value-mismatch]\nseverity = \"warning\"\n",
    );
    std::fs::write(dir.path().join("envsync.toml"), &text).unwrap();
    let r = run(envsync(dir.path()).args(["check", "--contour", "prod"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // Unknown key: exit 2 naming file, line and key.
    std::fs::write(
        dir.path().join("envsync.toml"),
        "[repos.backend]\npath = \"backend\"\ndialekt = \"compose\"\n",
    )
    .unwrap();
    let r = run(envsync(dir.path()).args(["check"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("envsync.toml:3") && r.stderr.contains("dialekt"),
        "{}",
        r.stderr
    );
}

#[test]
fn init_writes_a_template_once() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(envsync(dir.path()).arg("init"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(dir.path().join("envsync.toml")).unwrap();
    assert!(text.contains("[contours.prod]"));
    let again = run(envsync(dir.path()).arg("init"));
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("envsync.toml")).unwrap(),
        text
    );
}

#[test]
fn show_masks_by_default_and_picks_the_repos_dialect() {
    let f = fixtures().join("drift/crlf-dollar/infra/.env.prod");
    let infra = fixtures().join("drift/crlf-dollar/infra");
    let r = run(envsync(&root()).args([
        "show",
        f.to_str().unwrap(),
        "--format",
        "json",
        "--infra",
        infra.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["dialect"], "compose");
    assert!(v["variables"]["POSTGRES_PASSWORD"]
        .as_str()
        .unwrap()
        .contains("sha256:"));
}

#[test]
fn malformed_files_give_findings_with_file_and_line_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_tree(&fixtures().join("gprod"), dir.path());
    let prod = dir.path().join("backend/.env.production");
    let mut bytes = std::fs::read(&prod).unwrap();
    bytes.extend_from_slice(b"\nBROKEN=\xff\xfe\nNUL=a\x00b\nQUOTE=\"never closed\n");
    bytes.extend(std::iter::repeat_n(b'x', 5 * 1024 * 1024));
    std::fs::write(&prod, bytes).unwrap();
    let r = check(dir.path(), &["--contour", "prod"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    for needle in ["invalid UTF-8", "NUL byte", "unterminated quoted value"] {
        assert!(r.stdout.contains(needle), "{needle}: {}", r.stdout);
    }
    assert!(
        r.stdout.contains("backend .env.production:"),
        "{}",
        r.stdout
    );
}

#[test]
fn show_takes_the_dialect_from_the_configured_repos_never_from_the_current_directory() {
    let dir = fixtures().join("gprod");
    let dialect = |args: &[&str]| {
        let r = run(envsync(&dir).args(["show", "--format", "json"]).args(args));
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        v["dialect"].as_str().unwrap().to_string()
    };
    // No flags, no envsync.toml: the preset's `.` is not a claim on every file below it.
    assert_eq!(dialect(&["infra/.env.prod"]), "compose");
    assert_eq!(dialect(&["backend/.env.production"]), "compose");
    assert_eq!(
        dialect(&[
            "--backend",
            "backend",
            "--infra",
            "infra",
            "backend/.env.production"
        ]),
        "node-dotenv"
    );
    assert_eq!(
        dialect(&[
            "--backend",
            "backend",
            "--infra",
            "infra",
            "infra/.env.prod"
        ]),
        "compose"
    );
}

#[test]
fn show_gives_the_verdict_check_gives() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("logo.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01").unwrap();
    let r = run(envsync(dir.path())
        .args(["show", "--dialect", "node-dotenv"])
        .arg(&png));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let passwd = dir.path().join("passwd");
    std::fs::write(
        &passwd,
        "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/sbin/nologin\n",
    )
    .unwrap();
    let r = run(envsync(dir.path())
        .args(["show", "--dialect", "compose"])
        .arg(&passwd));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("# line 1:"), "{}", r.stdout);
}

#[test]
fn completions_for_every_shell_and_a_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let r = run(envsync(&root()).args(["completions", shell]));
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains("envsync"), "{shell}");
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("envsync.bash");
    std::fs::write(
        &script,
        run(envsync(&root()).args(["completions", "bash"])).stdout,
    )
    .unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(syntax.success(), "the bash completion script parses");
    let man = run(envsync(&root()).arg("man"));
    assert_eq!(man.code, 0);
    assert!(man.stdout.starts_with(".ie") && man.stdout.contains(".TH envsync 1"));
}

#[test]
fn the_process_environment_is_read_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join(".env");
    std::fs::write(&f, "GREETING=\"hello ${ZQ_FROM_SHELL}\"\n").unwrap();
    let show = |extra: &[&str]| {
        let r = run(envsync(dir.path())
            .env("ZQ_FROM_SHELL", "world")
            .args(["show", "--show-values", "--format", "json"])
            .args(extra)
            .arg(&f));
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        v["variables"].clone()
    };
    for dialect in ["compose", "dotenvy"] {
        let isolated = show(&["--dialect", dialect][..]);
        assert_eq!(isolated["GREETING"], "hello ", "{dialect}");
        let from_env = show(&["--env-from-process", "--dialect", dialect][..]);
        assert_eq!(from_env["GREETING"], "hello world", "{dialect}");
    }
    // check says so when a reference is left unset; this one is inside a password, so it is
    // named by its place, never by its text (the tail of the secret).
    let set = fixtures().join("drift/crlf-dollar");
    let r = check(&set, &["-c", "prod"]);
    assert!(
        r.stdout.contains(
            "warning[unset-reference] prod: a `$` reference at character 8 of POSTGRES_PASSWORD's value in infra .env.prod"
        ),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("Lm2"), "{}", r.stdout);
    let r = run(envsync(&root())
        .env("Lm2", "x")
        .args(["--env-from-process", "check", "-c", "prod", "--backend"])
        .arg(set.join("backend"))
        .arg("--infra")
        .arg(set.join("infra")));
    assert!(!r.stdout.contains("unset-reference"), "{}", r.stdout);
}
