//! `fix` through the real binary on copies of the shipped fixtures: repairs, byte preservation,
//! dry runs, symlinks, refusals, secrets, the repo lock, and SIGKILL at random moments.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{copy_tree, envsync, fixtures, run, set_line, shown, Run};

/// A writable copy of a fixture set.
fn copy_set(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = if name == "gprod" {
        fixtures().join("gprod")
    } else {
        fixtures().join("drift").join(name)
    };
    copy_tree(&src, dir.path());
    let (b, i) = (dir.path().join("backend"), dir.path().join("infra"));
    (dir, b, i)
}

fn es(b: &Path, i: &Path, args: &[&str]) -> Run {
    let mut cmd = envsync(b.parent().unwrap());
    cmd.args(args).arg("--backend").arg(b).arg("--infra").arg(i);
    run(&mut cmd)
}

/// Every regular file of both repos, by path, with its bytes.
fn snapshot(b: &Path, i: &Path) -> Vec<(PathBuf, Vec<u8>, bool)> {
    let mut out = Vec::new();
    for repo in [b, i] {
        for e in fs::read_dir(repo).unwrap() {
            let p = e.unwrap().path();
            let link = fs::symlink_metadata(&p).unwrap().file_type().is_symlink();
            let bytes = if p.is_file() {
                fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            out.push((p, bytes, link));
        }
    }
    out.sort();
    out
}

const FIXABLE: [&str; 4] = [
    "value-mismatch",
    "database-url",
    "port-mismatch",
    "missing-key",
];

#[test]
fn fix_repairs_each_drifted_set_and_a_second_run_changes_nothing() {
    for set in [
        "password-mismatch",
        "port-drift",
        "sed-rewrite",
        "interpolated-password",
    ] {
        let (_d, b, i) = copy_set(set);
        for contour in ["dev", "stage", "prod"] {
            let first = es(&b, &i, &["fix", "-c", contour, "--no-backup"]);
            assert_eq!(
                first.code, 0,
                "{set} {contour}: {}{}",
                first.stdout, first.stderr
            );
            let check = es(&b, &i, &["check", "-c", contour, "--format", "json"]);
            let v: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
            for f in v["findings"].as_array().unwrap() {
                let code = f["code"].as_str().unwrap();
                assert!(
                    !FIXABLE.contains(&code),
                    "{set} {contour}: {code} left after fix: {f}"
                );
            }
            let before = snapshot(&b, &i);
            let second = es(&b, &i, &["fix", "-c", contour]);
            assert_eq!(second.code, 0, "{set} {contour}: {}", second.stdout);
            assert!(
                second.stdout.contains("nothing to fix"),
                "{}",
                second.stdout
            );
            assert_eq!(
                snapshot(&b, &i),
                before,
                "{set} {contour}: second fix wrote"
            );
        }
    }
}

/// Lines of `bytes`, each with its own line ending.
fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|&c| c == b'\n').collect()
}

#[test]
fn only_the_value_bytes_change_in_a_crlf_bom_file_without_final_newline_handling_lost() {
    // --prefer backend makes infra's CRLF + BOM file the one rewritten.
    let (_d, b, i) = copy_set("crlf-dollar");
    let path = i.join(".env.prod");
    let before = fs::read(&path).unwrap();
    let r = es(
        &b,
        &i,
        &["fix", "-c", "prod", "--prefer", "backend", "--no-backup"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let after = fs::read(&path).unwrap();
    assert!(after.starts_with(b"\xEF\xBB\xBF"), "BOM kept");
    let (old, new) = (lines(&before), lines(&after));
    assert_eq!(old.len(), new.len());
    let changed: Vec<usize> = (0..old.len()).filter(|&n| old[n] != new[n]).collect();
    assert_eq!(changed.len(), 1, "{}", r.stdout);
    let n = changed[0];
    assert!(new[n].starts_with(b"POSTGRES_PASSWORD="));
    assert!(new[n].ends_with(b"\r\n"), "CRLF kept on the edited line");
    assert_eq!(before.ends_with(b"\n"), after.ends_with(b"\n"));
    // compose reads back exactly the backend's value (it holds `#`, `@`, `!`).
    let show = |file: &Path, dialect: &str| {
        shown(file, dialect)["POSTGRES_PASSWORD"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        show(&path, "compose"),
        show(&b.join(".env.production"), "node-dotenv")
    );
    // Quoted so that node dotenv would read the same (no dialect-divergence left).
    let after_check = es(&b, &i, &["check", "-c", "prod"]);
    assert!(
        !after_check.stdout.contains("dialect-divergence"),
        "{}",
        after_check.stdout
    );
    // The infra password changed: ALTER ROLE advice, masked.
    assert!(
        r.stdout
            .contains("ALTER ROLE \"postgres\" WITH PASSWORD '********'"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("prd-Qz7"), "{}", r.stdout);
}

#[test]
fn dry_run_prints_a_masked_diff_writes_nothing_and_exits_1() {
    let (_d, b, i) = copy_set("password-mismatch");
    let before = snapshot(&b, &i);
    let r = es(&b, &i, &["fix", "-c", "prod", "--dry-run"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(snapshot(&b, &i), before, "dry run changed or created files");
    assert!(r.stdout.contains("--- a/infra/.env.prod"), "{}", r.stdout);
    assert!(
        r.stdout.contains("+JWT_SECRET=<38 chars, sha256:"),
        "{}",
        r.stdout
    );
    for secret in ["prd-", "postgres:postgres@"] {
        assert!(!r.stdout.contains(secret), "leaked {secret}: {}", r.stdout);
    }
    insta::assert_snapshot!("fix_dry_run_password_mismatch", r.stdout);
    let json = es(
        &b,
        &i,
        &["fix", "-c", "prod", "--dry-run", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["changes"].as_array().unwrap().len(), 2);
    assert!(!json.stdout.contains("prd-"));
    assert_eq!(es(&b, &i, &["fix", "-c", "prod"]).code, 0);
    let clean = es(&b, &i, &["fix", "-c", "prod", "--dry-run"]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);
    assert!(!clean.stdout.contains("---"));
}

#[test]
fn backups_are_private_and_ignored_by_the_env_rule() {
    let (_d, b, i) = copy_set("port-drift");
    let old = fs::read(b.join(".env.staging")).unwrap();
    assert_eq!(es(&b, &i, &["fix", "-c", "staging"]).code, 0);
    let backup = b.join(".env.staging.envsync.bak");
    assert_eq!(fs::read(&backup).unwrap(), old);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn writes_go_through_a_symlink_and_the_link_stays() {
    let (_d, b, i) = copy_set("port-drift");
    // infra keeps its stage file under deploy/ and links .env to it; no .env.stage.
    fs::create_dir(i.join("deploy")).unwrap();
    fs::rename(i.join(".env.stage"), i.join("deploy/stage.env")).unwrap();
    for f in [".env", ".env.dev", ".env.prod"] {
        fs::remove_file(i.join(f)).unwrap();
    }
    std::os::unix::fs::symlink("deploy/stage.env", i.join(".env")).unwrap();
    // (The compose files name `.env.stage`, which this layout no longer has.)
    fs::remove_dir_all(i.join("docker")).unwrap();
    let r = es(&b, &i, &["fix", "-c", "stage", "--no-backup"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(fs::symlink_metadata(i.join(".env"))
        .unwrap()
        .file_type()
        .is_symlink());
    let target = fs::read_to_string(i.join("deploy/stage.env")).unwrap();
    assert!(target.contains("PORT=3100"), "{target}");
}

#[test]
fn unsafe_targets_are_refused_with_exit_2_and_nothing_changes() {
    // A symlink leaving the repo.
    let (_d, b, i) = copy_set("port-drift");
    let outside = tempfile::tempdir().unwrap();
    fs::rename(i.join(".env.stage"), outside.path().join("stage.env")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("stage.env"), i.join(".env.stage")).unwrap();
    let before = snapshot(&b, &i);
    let outside_before = fs::read(outside.path().join("stage.env")).unwrap();
    let r = es(&b, &i, &["fix", "-c", "stage"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("outside the repo"), "{}", r.stderr);
    assert_eq!(snapshot(&b, &i), before);
    assert_eq!(
        fs::read(outside.path().join("stage.env")).unwrap(),
        outside_before
    );

    // A read-only file (refused even for root).
    let (_d, b, i) = copy_set("port-drift");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(i.join(".env.stage"), fs::Permissions::from_mode(0o444)).unwrap();
    let before = snapshot(&b, &i);
    let r = es(&b, &i, &["fix", "-c", "stage"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("read-only"), "{}", r.stderr);
    assert_eq!(
        snapshot(&b, &i),
        before,
        "the backend must not be half-fixed"
    );

    // A missing repo directory.
    let r = es(&b, &i.join("nope"), &["fix", "-c", "stage"]);
    assert_eq!(r.code, 2);

    // Conflict markers: named, nothing written.
    let (_d, b, i) = copy_set("merge-conflict");
    let before = snapshot(&b, &i);
    let r = es(&b, &i, &["fix", "-c", "prod"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("merge-conflict marker") && r.stderr.contains("line 10"),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot(&b, &i), before);

    // A git source cannot be written.
    let r = es(&b, &i, &["fix", "-c", "prod", "--infra-rev", "main"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("working-tree directory"), "{}", r.stderr);
}

#[test]
fn passwords_full_of_url_special_characters_round_trip() {
    let (_d, b, i) = copy_set("gprod");
    let nasty = "p@ss:w/rd#?%$=&'x\"y";
    // compose: double quotes, `\"` and `$$` escapes.
    let encoded = nasty.replace('$', "$$").replace('"', "\\\"");
    set_line(
        &i.join(".env.prod"),
        "POSTGRES_PASSWORD",
        &format!("POSTGRES_PASSWORD=\"{encoded}\""),
    );
    let r = es(&b, &i, &["fix", "-c", "prod", "--no-backup"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("w/rd"), "{}", r.stdout);
    let v = shown(&b.join(".env.production"), "node-dotenv");
    assert_eq!(v["POSTGRES_PASSWORD"], nasty);
    let url = v["DATABASE_URL"].as_str().unwrap();
    let parts = envsync::dburl::DbUrl::parse(url).unwrap();
    assert_eq!(parts.password(), Some(nasty));
    assert_eq!(parts.host(), "db");
    assert!(url.ends_with("?schema=public"), "query string kept: {url}");
    assert_eq!(es(&b, &i, &["check", "-c", "prod"]).code, 0);
}

#[test]
fn secrets_are_generated_only_when_asked() {
    let (_d, b, i) = copy_set("gprod");
    for (repo, file) in [(&b, ".env.staging"), (&i, ".env.stage")] {
        set_line(
            &repo.join(file),
            "JWT_SECRET",
            "JWT_SECRET=your_jwt_secret_here",
        );
    }
    let without = es(&b, &i, &["fix", "-c", "stage"]);
    assert_eq!(without.code, 1, "weak secret remains: {}", without.stdout);
    assert!(without.stdout.contains("weak-secret"), "{}", without.stdout);
    let with = es(&b, &i, &["fix", "-c", "stage", "--generate-secrets"]);
    assert_eq!(with.code, 0, "{}{}", with.stdout, with.stderr);
    let value = |p: PathBuf| {
        let text = fs::read_to_string(p).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("JWT_SECRET="))
            .unwrap()
            .to_string()
    };
    let (x, y) = (value(b.join(".env.staging")), value(i.join(".env.stage")));
    assert_eq!(x, y);
    assert!(
        x.len() >= 48
            && x.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{x}"
    );
    assert!(!with.stdout.contains(&x), "generated secret printed");
    assert_eq!(es(&b, &i, &["check", "-c", "stage"]).code, 0);
}

#[test]
fn a_missing_key_is_appended_in_the_files_own_line_endings() {
    let (_d, b, i) = copy_set("crlf-dollar");
    let p = i.join(".env.prod");
    // The set's infra password line is one fix refuses to copy from; make it agree first.
    set_line(
        &p,
        "POSTGRES_PASSWORD",
        "POSTGRES_PASSWORD='prd-Qz7#Lm2@Vx9!Kw4'",
    );
    let text = fs::read(&p).unwrap();
    let kept: Vec<&[u8]> = lines(&text)
        .into_iter()
        .filter(|l| !l.starts_with(b"JWT_SECRET="))
        .collect();
    let mut without = kept.concat();
    // and no final newline
    while without.ends_with(b"\n") || without.ends_with(b"\r") {
        without.pop();
    }
    fs::write(&p, &without).unwrap();
    // infra's password line is one fix refuses to copy from; the backend decides it here.
    let r = es(
        &b,
        &i,
        &["fix", "-c", "prod", "--no-backup", "--prefer", "backend"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let after = fs::read(&p).unwrap();
    assert!(after.starts_with(&without), "existing bytes kept");
    let tail = &after[without.len()..];
    assert!(
        tail.starts_with(b"\r\nJWT_SECRET="),
        "{:?}",
        String::from_utf8_lossy(tail)
    );
    assert!(tail.ends_with(b"\r\n"));
}

#[test]
fn a_held_repo_lock_makes_fix_wait() {
    let (_d, b, i) = copy_set("port-drift");
    let lock = fs::File::open(&i).unwrap();
    lock.lock().unwrap();
    let mut child = envsync(&b)
        .args(["fix", "-c", "stage", "--no-backup", "--backend"])
        .arg(&b)
        .arg("--infra")
        .arg(&i)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the kernel lists fix as blocked on our lock (`->` in /proc/locks).
    let waiting = format!(" {} ", child.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .any(|l| l.contains("->") && l.contains(&waiting))
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "fix ran while the lock was held"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "fix never waited for the lock"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(fs::read_to_string(b.join(".env.staging"))
        .unwrap()
        .contains("PORT=3007"));
    lock.unlock().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(fs::read_to_string(b.join(".env.staging"))
        .unwrap()
        .contains("PORT=3100"));
}

#[test]
fn concurrent_fixes_leave_a_consistent_pair() {
    let (_d, b, i) = copy_set("password-mismatch");
    let children: Vec<_> = (0..6)
        .map(|n| {
            let prefer = if n % 2 == 0 { "backend" } else { "infra" };
            envsync(&b)
                .args([
                    "fix",
                    "-c",
                    "prod",
                    "--no-backup",
                    "--prefer",
                    prefer,
                    "--backend",
                ])
                .arg(&b)
                .arg("--infra")
                .arg(&i)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let r = es(&b, &i, &["check", "-c", "prod"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn sigkill_at_any_moment_leaves_old_or_new_content() {
    // The expected result, from one uninterrupted run. fix also edits a compose file, in a
    // directory of its own.
    let (_d, b, i) = copy_set("password-mismatch");
    let compose = i.join("docker/prod/docker-compose.prod.yml");
    replace_in(
        &compose,
        "      - app_data_prod:/app/data\n",
        "      - app_data_prod:/app/data\n    environment:\n      PORT: '3000'\n",
    );
    let files = [
        b.join(".env.production"),
        i.join(".env.prod"),
        compose.clone(),
    ];
    let old: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
    let started = std::time::Instant::now();
    assert_eq!(es(&b, &i, &["fix", "-c", "prod", "--no-backup"]).code, 0);
    // Kill anywhere from process start to a while after a whole run takes.
    let span = (started.elapsed().as_micros() as u64 * 3 / 2).max(2_000);
    let new: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
    for n in 0..files.len() {
        assert_ne!(old[n], new[n], "{} is not edited", files[n].display());
    }
    let (mut before, mut after) = (0, 0);
    for n in 0..60u64 {
        for (f, o) in files.iter().zip(&old) {
            fs::write(f, o).unwrap();
        }
        let mut child = envsync(&b)
            .args(["fix", "-c", "prod", "--backend"])
            .arg(&b)
            .arg("--infra")
            .arg(&i)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill moments sweep the whole span evenly.
        std::thread::sleep(Duration::from_micros(span * n / 60));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for (n, f) in files.iter().enumerate() {
            let now = fs::read(f).unwrap();
            assert!(
                now == old[n] || now == new[n],
                "{} is torn: {:?}",
                f.display(),
                String::from_utf8_lossy(&now)
            );
            if now == old[n] {
                before += 1
            } else {
                after += 1
            }
        }
    }
    // Which moments fell before and after the write depends on the machine's speed; the
    // property tested is that no kill ever leaves a torn file.
    eprintln!("SIGKILL sweep: {before} files old, {after} new");
    // The next run, under the lock, clears what the killed runs left behind.
    assert_eq!(
        es(&b, &i, &["fix", "-c", "prod", "--prefer", "backend"]).code,
        0
    );
    for dir in [&b, &i, &i.join("docker/prod")] {
        assert_eq!(
            temporaries(dir),
            Vec::<String>::new(),
            "in {}",
            dir.display()
        );
    }
}

/// The names in `dir` that start like envsync's temporaries.
fn temporaries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".env.envsync-tmp."))
        .collect();
    names.sort();
    names
}

fn replace_in(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{}: no `{from}`", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// The pid of a process that has exited (and been reaped): what a killed `fix` leaves.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// F8: what a killed run left in any directory fix writes to (the env files' and the compose
/// files', of every contour) is cleaned up by the next run, and only that: names that merely
/// look alike, and a temporary of a process still running, are kept.
#[test]
fn stale_temporaries_are_removed_from_every_directory_fix_writes_and_only_those() {
    let (_d, b, i) = copy_set("password-mismatch");
    let dead = dead_pid();
    let live = std::process::id();
    let dirs = [
        b.clone(),
        i.clone(),
        i.join("docker"),
        i.join("docker/prod"),
        i.join("docker/dev"),
    ];
    let stale = [
        format!(".env.envsync-tmp.{dead}.Ab12cD"),
        format!(".env.envsync-tmp.{dead}.0000z9"),
        // Written by a version that did not put its pid in the name.
        ".env.envsync-tmp.Zz9Yy8".to_string(),
    ];
    let unrelated = [
        ".env.envsync-tmp.notes".to_string(),
        format!(".env.envsync-tmp.{dead}.Ab12c"),
        format!(".env.envsync-tmp.{dead}.Ab12cD.orig"),
        format!("env.envsync-tmp.{dead}.Ab12cD"),
        format!(".env.envsync-tmp.{dead}.old.bak.x"),
        // Our name, but a process that is running: maybe a run under another lock.
        format!(".env.envsync-tmp.{live}.Ab12cD"),
    ];
    for d in &dirs {
        for n in stale.iter().chain(&unrelated) {
            fs::write(d.join(n), "A=1\n").unwrap();
        }
    }
    // A killed run's old content of the compose file, kept between its two renames.
    let kept = i.join(format!(
        "docker/prod/.env.envsync-tmp.{dead}.copy.bak.docker-compose.prod.yml"
    ));
    fs::write(&kept, "services: {}\n").unwrap();

    let r = es(&b, &i, &["fix", "-c", "prod"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for d in &dirs {
        for n in &stale {
            assert!(!d.join(n).exists(), "{} left in {}", n, d.display());
        }
        for n in &unrelated {
            assert!(d.join(n).is_file(), "{} removed from {}", n, d.display());
        }
    }
    assert!(!kept.exists());
    assert_eq!(
        fs::read_to_string(i.join("docker/prod/.env.envsync.bak.docker-compose.prod.yml")).unwrap(),
        "services: {}\n"
    );
}

/// F8: a handled error between staging and commit (the compose file's backup name is taken,
/// found after both env files were staged) leaves no temporary anywhere and changes nothing.
#[test]
fn a_handled_error_after_staging_leaves_no_temporary() {
    let (_d, b, i) = copy_set("password-mismatch");
    let compose = i.join("docker/prod/docker-compose.prod.yml");
    replace_in(
        &compose,
        "      - app_data_prod:/app/data\n",
        "      - app_data_prod:/app/data\n    environment:\n      PORT: '3000'\n",
    );
    // Both env files and the compose file are to change (the compose file is staged last).
    let dry = es(&b, &i, &["fix", "-c", "prod", "--dry-run"]);
    for f in [
        "backend/.env.production",
        "infra/.env.prod",
        "infra/docker/prod/docker-compose.prod.yml",
    ] {
        assert!(
            dry.stdout.contains(&format!("+++ b/{f}")),
            "{f}: {}",
            dry.stdout
        );
    }
    fs::create_dir(i.join("docker/prod/.env.envsync.bak.docker-compose.prod.yml")).unwrap();
    let before = snapshot(&b, &i);
    let compose_before = fs::read(&compose).unwrap();
    let r = es(&b, &i, &["fix", "-c", "prod"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("--no-backup"), "{}", r.stderr);
    assert_eq!(snapshot(&b, &i), before);
    assert_eq!(fs::read(&compose).unwrap(), compose_before);
    for d in [&b, &i, &i.join("docker/prod")] {
        assert_eq!(temporaries(d), Vec::<String>::new(), "in {}", d.display());
    }
}

/// An owner value its consumer reads otherwise than it is written is refused, not spread: the
/// crlf-dollar set's infra password `prd-Qz7$Lm2 #Vx9` is `prd-Qz7` to compose.
#[test]
fn a_value_the_consumers_read_differently_is_refused_with_both_readings() {
    let (_d, b, i) = copy_set("crlf-dollar");
    let before = snapshot(&b, &i);
    let r = es(&b, &i, &["fix", "-c", "prod"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("refused infra .env.prod:")
            && r.stdout
                .contains("POSTGRES_PASSWORD: compose reads it as 7 chars")
            && r.stdout.contains("but the line holds 16 chars")
            && r.stdout.contains("a `$` that compose interpolates")
            && r.stdout.contains("--prefer backend|infra"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("prd-Qz7"), "{}", r.stdout);
    let pw = |f: &Path| {
        fs::read_to_string(f)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("POSTGRES_PASSWORD=") || l.starts_with("DATABASE_URL="))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let after = snapshot(&b, &i);
    let password_lines = |snap: &[(PathBuf, Vec<u8>, bool)]| {
        snap.iter()
            .filter(|(p, _, l)| !l && p.is_file())
            .map(|(p, _, _)| pw(p))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        password_lines(&before),
        password_lines(&after),
        "no password spread"
    );
    // Choosing a side is deciding: then it is copied.
    let chosen = es(&b, &i, &["fix", "-c", "prod", "--prefer", "backend"]);
    assert_eq!(chosen.code, 0, "{}{}", chosen.stdout, chosen.stderr);
}

/// A value from a line `check` reports as `syntax` is never copied.
#[test]
fn a_value_from_an_invalid_line_is_refused() {
    let (_d, b, i) = copy_set("gprod");
    let f = b.join(".env.production");
    let text = fs::read(&f).unwrap();
    let jwt = text
        .split(|&c| c == b'\n')
        .find(|l| l.starts_with(b"JWT_SECRET="))
        .unwrap()
        .to_vec();
    let mut broken = b"JWT_SECRET=\xff\xfe".to_vec();
    broken.extend_from_slice(&jwt[11..]);
    let bytes: Vec<u8> = text
        .split(|&c| c == b'\n')
        .map(|l| {
            if l == jwt.as_slice() {
                broken.clone()
            } else {
                l.to_vec()
            }
        })
        .collect::<Vec<_>>()
        .join(&b'\n');
    fs::write(&f, bytes).unwrap();
    let infra_before = fs::read(i.join(".env.prod")).unwrap();
    let r = es(&b, &i, &["fix", "-c", "prod"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("JWT_SECRET: its line is not valid (invalid UTF-8"),
        "{}",
        r.stdout
    );
    assert_eq!(fs::read(i.join(".env.prod")).unwrap(), infra_before);
}

/// `PORT: 3999` is read by compose as PORT; fix refuses to add a second PORT line.
#[test]
fn a_line_fix_cannot_edit_is_refused_not_duplicated() {
    let (_d, b, i) = copy_set("gprod");
    set_line(&i.join(".env.prod"), "PORT", "PORT: 3999");
    let r = es(&b, &i, &["fix", "-c", "prod"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("rewrite it as PORT="), "{}", r.stdout);
    let text = fs::read_to_string(i.join(".env.prod")).unwrap();
    assert_eq!(
        text.matches("PORT").filter(|_| true).count(),
        text.matches("PORT").count()
    );
    assert!(!text.contains("PORT=3200"), "{text}");
}

/// Exit 2 means no file changed, even when the failure comes after the first rename.
#[test]
fn a_backup_name_taken_by_a_directory_changes_nothing() {
    let (_d, b, i) = copy_set("password-mismatch");
    fs::create_dir(b.join(".env.production.envsync.bak")).unwrap();
    let before = snapshot(&b, &i);
    let r = es(&b, &i, &["fix", "-c", "prod"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("--no-backup"), "{}", r.stderr);
    assert_eq!(snapshot(&b, &i), before);
}

/// Weak or reused secrets are not invented without the flag, and the output says how.
#[test]
fn remaining_weak_or_reused_secrets_point_to_generate_secrets() {
    let (_d, b, i) = copy_set("weak-reused");
    let r = es(&b, &i, &["fix", "-c", "prod"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("--generate-secrets` replaces them"),
        "{}",
        r.stdout
    );
}

/// Issue 19, F6: a value fix writes into a compose `environment:` entry stays the intended
/// string, whatever YAML would make of it unquoted, and compose (envsync's reader of it) reads
/// it back exactly.
#[test]
fn values_written_into_yaml_keep_their_string() {
    for value in [
        "@daily", "-", "yes", "0755", "*x", "a: b", "#x", "null", "[1]",
    ] {
        let (d, b, i) = copy_set("gprod");
        fs::write(
            d.path().join("envsync.toml"),
            "[repos.backend]\npath = \"backend\"\n[repos.infra]\npath = \"infra\"\n[keys]\nshared = [\"SCHEDULE\"]\npublic = [\"PORT\", \"SCHEDULE\"]\n",
        )
        .unwrap();
        // Both env files agree (single quotes: both dialects read them literally); the api
        // container's own `environment:` entry says otherwise.
        for f in [b.join(".env.production"), i.join(".env.prod")] {
            let mut text = fs::read_to_string(&f).unwrap();
            text.push_str(&format!("SCHEDULE='{value}'\n"));
            fs::write(&f, text).unwrap();
        }
        let prod = i.join("docker/prod/docker-compose.prod.yml");
        let text = fs::read_to_string(&prod).unwrap().replace(
            "  app:\n    env_file:",
            "  app:\n    environment:\n      SCHEDULE: hourly\n    env_file:",
        );
        fs::write(&prod, text).unwrap();
        let r = run(envsync(d.path()).args(["fix", "-c", "prod", "--no-backup"]));
        assert_eq!(r.code, 0, "{value}: {}{}", r.stdout, r.stderr);
        let r = run(envsync(d.path()).args([
            "show",
            "--service",
            "app",
            "-c",
            "prod",
            "--format",
            "json",
            "--show-values",
        ]));
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(
            v["variables"]["SCHEDULE"],
            value,
            "{}",
            fs::read_to_string(&prod).unwrap()
        );
        assert_eq!(
            run(envsync(d.path()).args(["check", "-c", "prod"])).code,
            0,
            "{value}"
        );
    }
}

/// Issue 19, F3: fix writes a value only where a consumer receives it. The db container takes
/// JWT_SECRET from its `environment:` (interpolated), not from infra's `.env.prod`: writing the
/// backend's value there would change nothing, so fix says so and leaves the file alone; once
/// no container reads the file at all, the same.
#[test]
fn fix_writes_only_where_a_consumer_receives_the_value() {
    for (what, edit) in [
        (
            "overridden",
            "  db:\n    environment:\n      JWT_SECRET: \"${DB_JWT:-x}\"\n    env_file:",
        ),
        ("no reader", "  db:\n    env_file: []\n    x-was-env-file:"),
    ] {
        let (_d, b, i) = copy_set("gprod");
        let infra_env = i.join(".env.prod");
        set_line(
            &infra_env,
            "JWT_SECRET",
            "JWT_SECRET=infra-side-jwt-0123456789abcdef0123456789",
        );
        let prod = i.join("docker/prod/docker-compose.prod.yml");
        let text = fs::read_to_string(&prod)
            .unwrap()
            .replacen("  db:\n    env_file:", edit, 1);
        fs::write(&prod, text).unwrap();
        let before = fs::read(&infra_env).unwrap();
        let r = es(&b, &i, &["fix", "-c", "prod", "--no-backup"]);
        assert!(
            r.stdout
                .contains("JWT_SECRET not written into infra .env.prod"),
            "{what}: {}{}",
            r.stdout,
            r.stderr
        );
        assert_eq!(
            fs::read(&infra_env).unwrap(),
            before,
            "{what}: the file is untouched"
        );
        assert!(!r.stdout.contains("infra-side-jwt"), "{}", r.stdout);
    }
}
