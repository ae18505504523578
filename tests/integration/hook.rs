//! The pre-commit hook on real repositories with real `git commit` runs.

use crate::common::{copy_tree, envsync, fixtures, git, git_cmd, run};
use std::path::{Path, PathBuf};

struct Pair {
    _dir: tempfile::TempDir,
    backend: PathBuf,
}

/// `gprod-backend` as a git repo whose secret env files are ignored (as GPROD's are), and
/// `gybernaty-infra` next to it (a working tree).
fn pair() -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let backend = dir.path().join("gprod-backend");
    copy_tree(&fixtures().join("gprod/backend"), &backend);
    copy_tree(
        &fixtures().join("gprod/infra"),
        &dir.path().join("gybernaty-infra"),
    );
    std::fs::write(backend.join(".gitignore"), ".env\n.env.*\n!env.*.example\n").unwrap();
    std::fs::write(backend.join("README.md"), "backend\n").unwrap();
    git(&backend, &["init", "-q", "-b", "main"]);
    git(&backend, &["add", "-A"]);
    git(&backend, &["commit", "-qm", "initial"]);
    Pair { _dir: dir, backend }
}

fn install(repo: &Path, extra: &[&str]) -> crate::common::Run {
    run(envsync(repo).args(["hook", "install"]).args(extra))
}

/// `git commit` with the hooks enabled; returns (success, combined output).
fn commit(repo: &Path, msg: &str) -> (bool, String) {
    let out = git_cmd(repo)
        .args(["commit", "-qm", msg])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn touch(repo: &Path, name: &str, text: &str) {
    std::fs::write(repo.join(name), text).unwrap();
    git(repo, &["add", name]);
}

#[test]
fn clean_commits_pass_and_staged_secret_files_are_blocked() {
    let p = pair();
    assert_eq!(install(&p.backend, &[]).code, 0);
    touch(&p.backend, "README.md", "changed\n");
    let (ok, out) = commit(&p.backend, "docs");
    assert!(ok, "{out}");

    git(&p.backend, &["add", "-f", ".env.production"]);
    let index_before = std::fs::read(p.backend.join(".git/index")).unwrap();
    let r = run(envsync(&p.backend).args(["hook", "run"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        std::fs::read(p.backend.join(".git/index")).unwrap(),
        index_before,
        "hook run wrote the index"
    );
    let (ok, out) = commit(&p.backend, "oops");
    assert!(!ok, "{out}");
    assert!(
        out.contains(".env.production is staged") && out.contains("git rm --cached"),
        "{out}"
    );
    assert!(
        !out.contains("prd-Xa9Lq2Vn7Kc4Rz1Tb8Mw5Jh3Ps6Gd0Fy4e"),
        "leaked: {out}"
    );
}

#[test]
fn a_real_secret_in_an_example_is_blocked_and_not_printed() {
    let p = pair();
    install(&p.backend, &[]);
    let secret = "Tq8vZ2mK9xR4wL7pN3sB6yH1cF5jD0gA";
    let example = std::fs::read_to_string(p.backend.join("env.prod.example")).unwrap();
    touch(
        &p.backend,
        "env.prod.example",
        &example.replace("your_secure_jwt_key", secret),
    );
    let (ok, out) = commit(&p.backend, "example");
    assert!(!ok, "{out}");
    assert!(
        out.contains("secret-in-example") && out.contains("JWT_SECRET"),
        "{out}"
    );
    assert!(!out.contains(secret), "leaked: {out}");
}

#[test]
fn conflict_markers_are_judged_on_the_index_not_the_working_tree() {
    let p = pair();
    install(&p.backend, &[]);
    let clean = std::fs::read_to_string(p.backend.join("env.prod.example")).unwrap();
    let conflicted = format!("<<<<<<< HEAD\n{clean}=======\nPORT=3000\n>>>>>>> other\n");
    // Staged markers, clean working tree: blocked.
    touch(&p.backend, "env.prod.example", &conflicted);
    std::fs::write(p.backend.join("env.prod.example"), &clean).unwrap();
    let (ok, out) = commit(&p.backend, "markers");
    assert!(!ok, "{out}");
    assert!(out.contains("merge-conflict marker"), "{out}");
    // The reverse: markers only in the working tree, a clean file staged: passes.
    touch(&p.backend, "env.prod.example", &clean.replace("15m", "30m"));
    std::fs::write(p.backend.join("env.prod.example"), &conflicted).unwrap();
    let (ok, out) = commit(&p.backend, "clean staged");
    assert!(ok, "{out}");
}

#[test]
fn core_hooks_path_is_honoured() {
    let p = pair();
    git(&p.backend, &["config", "core.hooksPath", ".githooks"]);
    let r = install(&p.backend, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(p.backend.join(".githooks/pre-commit").is_file());
    assert!(!p.backend.join(".git/hooks/pre-commit").exists());
    git(&p.backend, &["add", "-f", ".env.development"]);
    let (ok, out) = commit(&p.backend, "blocked");
    assert!(!ok, "{out}");
}

#[test]
fn husky_keeps_working_and_gets_one_line() {
    let p = pair();
    let husky = p.backend.join(".husky");
    std::fs::create_dir_all(husky.join("_")).unwrap();
    // husky v9's runner: .husky/_/pre-commit sources .husky/_/h, which runs .husky/pre-commit.
    let h = "#!/usr/bin/env sh\nn=$(basename \"$0\")\ns=$(dirname \"$(dirname \"$0\")\")/$n\n[ -f \"$s\" ] || exit 0\nsh -e \"$s\"\n";
    std::fs::write(husky.join("_/h"), h).unwrap();
    std::fs::write(
        husky.join("_/pre-commit"),
        "#!/usr/bin/env sh\n. \"$(dirname \"$0\")/h\"\n",
    )
    .unwrap();
    std::fs::write(husky.join("pre-commit"), "echo husky-user-hook-ran\n").unwrap();
    for f in ["_/h", "_/pre-commit"] {
        make_executable(&husky.join(f));
    }
    git(&p.backend, &["config", "core.hooksPath", ".husky/_"]);
    let r = install(&p.backend, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let user = std::fs::read_to_string(husky.join("pre-commit")).unwrap();
    assert!(
        user.contains("envsync") && user.ends_with("echo husky-user-hook-ran\n"),
        "{user}"
    );
    touch(&p.backend, "README.md", "x\n");
    let (ok, out) = commit(&p.backend, "ok");
    assert!(ok && out.contains("husky-user-hook-ran"), "{out}");
    git(&p.backend, &["add", "-f", ".env.staging"]);
    let (ok, out) = commit(&p.backend, "blocked");
    assert!(!ok, "{out}");
    assert_eq!(run(envsync(&p.backend).args(["hook", "uninstall"])).code, 0);
    assert_eq!(
        std::fs::read_to_string(husky.join("pre-commit")).unwrap(),
        "echo husky-user-hook-ran\n"
    );
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn foreign_hooks_are_chained_or_kept_and_uninstall_restores_them() {
    let p = pair();
    let hook = p.backend.join(".git/hooks/pre-commit");
    // A shell hook: envsync is added in front of it, and it still runs.
    let foreign = "#!/bin/sh\necho foreign-hook-ran\n";
    std::fs::write(&hook, foreign).unwrap();
    make_executable(&hook);
    assert_eq!(install(&p.backend, &[]).code, 0);
    assert_eq!(
        install(&p.backend, &[]).code,
        0,
        "installing twice is harmless"
    );
    let text = std::fs::read_to_string(&hook).unwrap();
    assert_eq!(text.matches(">>> envsync").count(), 1, "{text}");
    touch(&p.backend, "README.md", "y\n");
    let (ok, out) = commit(&p.backend, "ok");
    assert!(ok && out.contains("foreign-hook-ran"), "{out}");
    assert_eq!(run(envsync(&p.backend).args(["hook", "uninstall"])).code, 0);
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), foreign);

    // A hook that is not a shell script: refused without --force, chained with it.
    let python = "#!/usr/bin/env python3\nprint('py-hook-ran')\n";
    std::fs::write(&hook, python).unwrap();
    make_executable(&hook);
    let r = install(&p.backend, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), python);
    assert_eq!(install(&p.backend, &["--force"]).code, 0);
    touch(&p.backend, "README.md", "z\n");
    let (ok, out) = commit(&p.backend, "ok");
    assert!(ok && out.contains("py-hook-ran"), "{out}");
    assert_eq!(run(envsync(&p.backend).args(["hook", "uninstall"])).code, 0);
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), python);
}

#[test]
fn drift_against_the_other_repo_blocks_the_commit() {
    let p = pair();
    install(&p.backend, &[]);
    let infra = p
        .backend
        .parent()
        .unwrap()
        .join("gybernaty-infra/.env.prod");
    let s = std::fs::read_to_string(&infra)
        .unwrap()
        .replace("PORT=3200", "PORT=3008");
    std::fs::write(&infra, s).unwrap();
    touch(&p.backend, "README.md", "w\n");
    let (ok, out) = commit(&p.backend, "drift");
    assert!(!ok, "{out}");
    assert!(out.contains("port-mismatch"), "{out}");
}

#[test]
fn install_warns_when_the_other_repo_is_missing_and_run_outside_a_repo_says_where_to_run() {
    let p = pair();
    std::fs::remove_dir_all(p.backend.parent().unwrap().join("gybernaty-infra")).unwrap();
    let r = install(&p.backend, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("warning: the infra repo cannot be read"),
        "{}",
        r.stderr
    );
    let outside = tempfile::tempdir().unwrap();
    let r = run(envsync(outside.path()).args(["hook", "run"]));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("not inside a git repository"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hook install"), "{}", r.stderr);
}

#[test]
fn rule_settings_apply_to_the_hook_s_own_findings() {
    let p = pair();
    install(&p.backend, &[]);
    std::fs::write(p.backend.join(".gitignore"), "").unwrap();
    git(&p.backend, &["add", ".gitignore"]);
    git(&p.backend, &["commit", "-qm", "no ignore"]);
    git(&p.backend, &["add", "-f", ".env.production"]);
    let (ok, out) = commit(&p.backend, "secret file");
    assert!(!ok, "{out}");
    assert!(out.contains("staged-secret-file"), "{out}");
    std::fs::write(
        p.backend.join("envsync.toml"),
        "[repos.infra]\npath = \"../gybernaty-infra\"\n[rule.staged-secret-file]\nenabled = false\n",
    )
    .unwrap();
    git(&p.backend, &["add", "envsync.toml"]);
    let (ok, out) = commit(&p.backend, "secret file, rule disabled");
    assert!(ok, "{out}");
}

/// In the infra repo, a staged compose change that moves prod onto stage's network is
/// blocked; the same change left unstaged is not what the commit holds, so it passes.
#[test]
fn a_staged_compose_drift_blocks_the_commit_in_the_infra_repo() {
    let p = pair();
    let infra = p.backend.parent().unwrap().join("gybernaty-infra");
    std::fs::write(
        infra.join("envsync.toml"),
        "[repos.backend]\npath = \"../gprod-backend\"\n[repos.infra]\npath = \".\"\n",
    )
    .unwrap();
    std::fs::write(infra.join(".gitignore"), ".env\n.env.*\n!.env.example\n").unwrap();
    git(&infra, &["init", "-q", "-b", "main"]);
    git(&infra, &["add", "-A"]);
    git(&infra, &["commit", "-qm", "initial", "--no-verify"]);
    assert_eq!(install(&infra, &[]).code, 0);
    let prod = infra.join("docker/prod/docker-compose.prod.yml");
    let clean = std::fs::read_to_string(&prod).unwrap();
    std::fs::write(&prod, clean.replace("gp-network-prod", "gp-network-stage")).unwrap();
    git(&infra, &["add", "docker/prod/docker-compose.prod.yml"]);
    let (ok, out) = commit(&infra, "network");
    assert!(!ok, "{out}");
    assert!(out.contains("error[network] prod"), "{out}");
    // Staged clean, working tree drifted: the commit holds the clean file.
    std::fs::write(&prod, &clean).unwrap();
    git(&infra, &["add", "docker/prod/docker-compose.prod.yml"]);
    std::fs::write(&prod, clean.replace("gp-network-prod", "gp-network-stage")).unwrap();
    touch(&infra, "README.md", "infra\n");
    git(&infra, &["add", "README.md"]);
    let (ok, out) = commit(&infra, "readme");
    assert!(ok, "{out}");
}

#[test]
fn hook_run_prints_a_valid_sarif_log_of_what_blocks_the_commit() {
    let p = pair();
    git(&p.backend, &["add", "-f", ".env.production"]);
    let r = run(envsync(&p.backend).args(["hook", "run", "--format", "sarif"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let log = crate::formats::valid_sarif(&r, "hook run");
    let results = log["runs"][0]["results"].as_array().unwrap();
    let staged = results
        .iter()
        .find(|r| r["ruleId"] == "staged-secret-file")
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert_eq!(staged["level"], "error");
    let at = &staged["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(at["uri"], ".env.production");
    assert_eq!(at["uriBaseId"], "BACKEND");
    let secrets = crate::common::windows8(&[
        "prd-Xa9Lq2Vn7Kc4Rz1Tb8Mw5Jh3Ps6Gd0Fy4e",
        "prd-Qz7#Lm2@Vx9!Kw4",
    ]);
    // Every format gives the same verdict; none prints a secret.
    for format in ["sarif", "github", "markdown", "json", "text"] {
        let r = run(envsync(&p.backend).args(["hook", "run", "--format", format]));
        assert_eq!(r.code, 1, "{format}: {}{}", r.stdout, r.stderr);
        for w in &secrets {
            assert!(
                !r.stdout.contains(w.as_str()),
                "{format} leaked {w}: {}",
                r.stdout
            );
        }
        assert!(
            r.stdout.contains("staged-secret-file"),
            "{format}: {}",
            r.stdout
        );
    }
}
