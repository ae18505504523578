//! `migrate --backup DIR` and `[contours.C] backup_before_migrate`: a real `pg_dump` of the real
//! database before anything is applied, restorable; none when nothing is pending; a failing or
//! too old `pg_dump` stops the run with nothing applied; the password never shows.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{count, ledger_exists, migrations};
use crate::common::{envsync, fixtures, run, Run, Stub};
use crate::pg::{cluster, SUPERUSER_PASSWORD};

const PASSWORD: &str = "Bk-Secret:9@x";

fn pg_bin(name: &str) -> PathBuf {
    let p = Path::new("/usr/lib/postgresql/15/bin").join(name);
    if p.exists() {
        p
    } else {
        PathBuf::from(name)
    }
}

/// A fresh database `db` owned by its role `<db>_app`, whose password needs encoding.
fn owned(db: &str) -> String {
    let pg = cluster();
    pg.fresh(db, &format!("{db}_app"), PASSWORD);
    pg.admin(db, &format!("ALTER DATABASE {db} OWNER TO {db}_app;"));
    pg.url(&format!("{db}_app"), PASSWORD, db)
}

/// `envsync migrate ARGS --dir MIGRATIONS --database-url URL`, run in `cwd`.
fn migrate_in(cwd: &Path, migrations: &Path, url: &str, args: &[&str], path: Option<&str>) -> Run {
    let mut c = envsync(cwd);
    c.arg("migrate")
        .args(args)
        .arg("--dir")
        .arg(migrations)
        .args(["--via", "direct", "--database-url", url])
        .env_remove("ENVSYNC_PG_DUMP");
    if let Some(p) = path {
        c.env("PATH", p);
    }
    run(&mut c)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn no_password(r: &Run) {
    let encoded = "Bk-Secret%3A9%40x";
    for text in [&r.stdout, &r.stderr] {
        assert!(
            !text.contains(PASSWORD) && !text.contains(encoded) && !text.contains("Bk-Secret"),
            "the password was printed:\n{}{}",
            r.stdout,
            r.stderr
        );
    }
}

/// `pg_dump` as a wrapper that records its arguments and then runs the real one.
fn recording_pg_dump() -> Stub {
    Stub::new(
        "pg_dump",
        &format!("exec {} \"$@\"", pg_bin("pg_dump").display()),
    )
}

#[test]
fn a_dump_of_the_database_as_it_was_is_written_before_anything_is_applied() {
    let pg = cluster();
    let url = owned("m_bk");
    let m = migrations(2);
    assert_eq!(migrate_in(m.path(), m.path(), &url, &[], None).code, 0);
    fs::write(
        m.path().join("3_more.sql"),
        "INSERT INTO hits (version) VALUES (3);\nCREATE TABLE later (x int);\n",
    )
    .unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let wrapper = recording_pg_dump();
    let mut c = envsync(cwd.path());
    let r = run(c
        .args(["migrate", "--contour", "dev", "--backup", "dumps", "--dir"])
        .arg(m.path())
        .args(["--via", "direct", "--database-url", &url])
        .env("ENVSYNC_PG_DUMP", wrapper.dir.path().join("pg_dump")));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    no_password(&r);
    // A relative --backup is relative to the current directory.
    let dir = cwd.path().join("dumps");
    let dumps = files(&dir);
    assert_eq!(dumps.len(), 1, "{dumps:?}");
    let dump = &dumps[0];
    let name = dump.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("m_bk-dev-")
            && name.ends_with("Z.dump")
            && name.len() == "m_bk-dev-20250101T000000Z.dump".len(),
        "{name}"
    );
    assert_eq!(
        fs::metadata(dump).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let bytes = fs::metadata(dump).unwrap().len();
    let printed = r
        .stdout
        .lines()
        .position(|l| l.starts_with(&format!("backup: {}", dump.display())))
        .unwrap_or_else(|| panic!("no backup line: {}", r.stdout));
    let applied = r
        .stdout
        .lines()
        .position(|l| l.starts_with("applied 1/1 3 more"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(printed < applied, "the dump comes first: {}", r.stdout);
    assert!(r.stdout.contains(&format!("{bytes} bytes")), "{}", r.stdout);
    // pg_dump got no password on its command line (PGPASSWORD carries it).
    let calls = wrapper.calls();
    assert_eq!(calls.len(), 2, "--version, then the dump: {calls:?}");
    assert!(
        calls[1].contains(&"--format=custom".to_string()),
        "{calls:?}"
    );
    assert!(
        !calls.concat().iter().any(|a| a.contains("Bk-Secret")),
        "{calls:?}"
    );
    // The dump holds the tables that existed before the run, and not the one it created.
    let list = Command::new(pg_bin("pg_restore"))
        .arg("--list")
        .arg(dump)
        .output()
        .unwrap();
    assert!(list.status.success());
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("TABLE public hits"), "{list}");
    assert!(list.contains("TABLE public _sqlx_migrations"), "{list}");
    assert!(!list.contains("TABLE public later"), "{list}");
    // Restored into a fresh database, it gives back the rows as they were.
    pg.admin("postgres", "CREATE DATABASE m_bk_restored");
    let restore = Command::new(pg_bin("pg_restore"))
        .args(["--no-owner", "--dbname"])
        .arg(format!(
            "host=127.0.0.1 port={} user=postgres dbname=m_bk_restored",
            pg.port
        ))
        .arg(dump)
        .env("PGPASSWORD", SUPERUSER_PASSWORD)
        .output()
        .unwrap();
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    assert_eq!(count("m_bk_restored", "SELECT count(*) FROM hits"), 1);
    assert_eq!(
        count("m_bk_restored", "SELECT count(*) FROM _sqlx_migrations"),
        2
    );
    assert_eq!(count("m_bk", "SELECT count(*) FROM hits"), 2);

    // Nothing pending: no dump, and the run says so.
    let again = run(envsync(cwd.path())
        .args(["migrate", "--backup", "dumps", "--dir"])
        .arg(m.path())
        .args(["--via", "direct", "--database-url", &url]));
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(
        again
            .stdout
            .contains("backup: nothing pending, so no dump was written"),
        "{}",
        again.stdout
    );
    assert_eq!(files(&dir).len(), 1);
}

#[test]
fn json_reports_the_backup_and_a_dry_run_or_status_takes_none() {
    let url = owned("m_bk_json");
    let m = migrations(2);
    let cwd = tempfile::tempdir().unwrap();
    let dir = cwd.path().join("out");
    let dry = migrate_in(
        cwd.path(),
        m.path(),
        &url,
        &["--dry-run", "--backup", "out"],
        None,
    );
    assert_eq!(dry.code, 1, "{}{}", dry.stdout, dry.stderr);
    assert!(files(&dir).is_empty(), "a dry run dumps nothing");
    let r = migrate_in(
        cwd.path(),
        m.path(),
        &url,
        &["--backup", "out", "--format", "json"],
        None,
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    no_password(&r);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let dumps = files(&dir);
    assert_eq!(dumps.len(), 1, "{dumps:?}");
    // No contour named: `<database>-<UTC timestamp>.dump`.
    let name = dumps[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("m_bk_json-2"), "{name}");
    assert_eq!(v["backup"]["path"], dumps[0].display().to_string());
    assert_eq!(v["backup"]["bytes"], fs::metadata(&dumps[0]).unwrap().len());
    assert_eq!(v["summary"]["applied_now"], 2);
    assert!(
        r.stderr.contains("backup: "),
        "progress on stderr: {}",
        r.stderr
    );
    let status = migrate_in(
        cwd.path(),
        m.path(),
        &url,
        &["status", "--format", "json"],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert!(v.get("backup").is_none(), "{v}");
}

#[test]
fn a_failing_pg_dump_stops_the_run_with_nothing_applied() {
    let url = owned("m_bk_fail");
    let m = migrations(2);
    let cwd = tempfile::tempdir().unwrap();
    // The fake pg_dump says a version, then fails quoting the URL (password included).
    let fake = Stub::new(
        "pg_dump",
        "case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 15.18'; exit 0;; esac\n\
         echo \"pg_dump: error: connection to postgresql://m_bk_fail_app:$PGPASSWORD@127.0.0.1/m_bk_fail failed: FATAL: no\" >&2\n\
         echo 'partial' ; exit 1",
    );
    let r = migrate_in(
        cwd.path(),
        m.path(),
        &url,
        &["--backup", "dumps"],
        Some(&fake.path_var()),
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    no_password(&r);
    assert!(
        r.stdout
            .contains("backup failed, so nothing was applied: pg_dump exited with 1: pg_dump: error: connection to postgresql://****@127.0.0.1/m_bk_fail failed: FATAL: no"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("backup failed: nothing was applied; 2 pending"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("applied 1/"), "{}", r.stdout);
    assert!(
        !ledger_exists("m_bk_fail"),
        "not even the ledger was created"
    );
    assert!(
        cluster()
            .scalar("m_bk_fail", "SELECT to_regclass('hits')::text")
            .is_none(),
        "nothing applied"
    );
    // No dump and no temporary file left behind.
    assert!(files(&cwd.path().join("dumps")).is_empty());
    let json = migrate_in(
        cwd.path(),
        m.path(),
        &url,
        &["--backup", "dumps", "--format", "json"],
        Some(&fake.path_var()),
    );
    assert_eq!(json.code, 1);
    no_password(&json);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(
        v["backup_error"]
            .as_str()
            .unwrap()
            .starts_with("pg_dump exited with 1"),
        "{v}"
    );
    assert!(v.get("backup").is_none());
}

#[test]
fn an_older_pg_dump_or_none_at_all_is_refused_before_dumping() {
    let url = owned("m_bk_old");
    let m = migrations(1);
    let cwd = tempfile::tempdir().unwrap();
    let old = Stub::new(
        "pg_dump",
        "case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 14.12'; exit 0;; esac\nexit 0",
    );
    let r = migrate_in(
        cwd.path(),
        m.path(),
        &url,
        &["--backup", "dumps"],
        Some(&old.path_var()),
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("is pg_dump 14, older than the server's PostgreSQL 15"),
        "{}",
        r.stdout
    );
    assert_eq!(old.calls().len(), 1, "asked for its version only");
    assert!(!ledger_exists("m_bk_old"));
    let missing = run(envsync(cwd.path())
        .args(["migrate", "--backup", "dumps", "--dir"])
        .arg(m.path())
        .args(["--via", "direct", "--database-url", &url])
        .env("ENVSYNC_PG_DUMP", cwd.path().join("no-such-pg_dump")));
    assert_eq!(missing.code, 1, "{}{}", missing.stdout, missing.stderr);
    assert!(
        missing.stdout.contains("cannot run `")
            && missing.stdout.contains("--pg-dump PATH or ENVSYNC_PG_DUMP"),
        "{}",
        missing.stdout
    );
    assert!(!ledger_exists("m_bk_old"));
    assert!(files(&cwd.path().join("dumps")).is_empty());
}

/// `[contours.C] backup_before_migrate`, relative to envsync.toml's directory, on GPROD's Prisma
/// migrations; `resolve` takes no dump.
#[test]
fn the_contour_s_backup_before_migrate_is_relative_to_the_config() {
    let url = format!("{}?schema=public", owned("m_bk_conf"));
    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("conf");
    fs::create_dir_all(&conf).unwrap();
    fs::write(
        conf.join("envsync.toml"),
        "[contours.prod]\nbackup_before_migrate = \"../prod-dumps\"\n",
    )
    .unwrap();
    let prisma = fixtures().join("gprod/backend/prisma/migrations");
    let elsewhere = tempfile::tempdir().unwrap();
    let migrate = |args: &[&str]| {
        run(envsync(elsewhere.path())
            .arg("--config")
            .arg(conf.join("envsync.toml"))
            .args(["migrate"])
            .args(args)
            .arg("--dir")
            .arg(&prisma)
            .args([
                "--contour",
                "prod",
                "--via",
                "direct",
                "--database-url",
                &url,
            ]))
    };
    let r = migrate(&[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    no_password(&r);
    let dumps = files(&work.path().join("prod-dumps"));
    assert_eq!(dumps.len(), 1, "{}", r.stdout);
    let name = dumps[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("m_bk_conf-prod-"), "{name}");
    assert!(files(elsewhere.path()).is_empty());
    assert_eq!(
        count("m_bk_conf", "SELECT count(*) FROM _prisma_migrations"),
        3
    );
    let resolve = migrate(&["resolve", "--applied", "20250502025251_init"]);
    assert_eq!(resolve.code, 2, "{}{}", resolve.stdout, resolve.stderr);
    assert!(!resolve.stdout.contains("backup"), "{}", resolve.stdout);
    assert_eq!(files(&work.path().join("prod-dumps")).len(), 1);
}
