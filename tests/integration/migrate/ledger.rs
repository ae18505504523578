//! The `_sqlx_migrations` ledger: read-only status, drift, rollback, sqlx agreement, resolve.

use std::fs;
use std::path::PathBuf;

use super::{count, ledger_exists, migrate, migrations};
use crate::pg::{block_on, cluster};

#[test]
fn status_and_dry_run_are_read_only() {
    let pg = cluster();
    let url = pg.granted("m_status");
    let m = migrations(4);
    let status = migrate(m.path(), &url, &["status"]);
    assert_eq!(status.code, 1, "{}{}", status.stdout, status.stderr);
    assert!(
        status.stdout.contains("pending   1 create hits"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("0 applied, 4 pending"),
        "{}",
        status.stdout
    );
    let dry = migrate(m.path(), &url, &["run", "--dry-run"]);
    assert_eq!(dry.code, 1, "{}{}", dry.stdout, dry.stderr);
    assert!(dry.stdout.contains("pending   4 hit 4"), "{}", dry.stdout);
    assert!(
        !dry.stdout.contains("would apply"),
        "listed once: {}",
        dry.stdout
    );
    assert!(
        !ledger_exists("m_status"),
        "status or dry-run created the ledger"
    );
    assert_eq!(migrate(m.path(), &url, &[]).code, 0);
    let status = migrate(m.path(), &url, &["status", "--format", "json"]);
    assert_eq!(status.code, 0, "{}", status.stdout);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["summary"]["applied"], 4);
    assert_eq!(v["summary"]["pending"], 0);
}

#[test]
fn modified_and_missing_migrations_stop_the_run() {
    let pg = cluster();
    let url = pg.granted("m_mod");
    let m = migrations(3);
    assert_eq!(migrate(m.path(), &url, &[]).code, 0);
    fs::write(
        m.path().join("4_more.sql"),
        "INSERT INTO hits (version) VALUES (4);\n",
    )
    .unwrap();

    // Only the line endings changed.
    fs::write(
        m.path().join("2_hit_2.sql"),
        "INSERT INTO hits (version) VALUES (2);\r\n",
    )
    .unwrap();
    let crlf = migrate(m.path(), &url, &[]);
    assert_eq!(crlf.code, 1, "{}{}", crlf.stdout, crlf.stderr);
    assert!(
        crlf.stdout.contains("only line endings differ"),
        "{}",
        crlf.stdout
    );
    assert!(crlf.stdout.contains("2_hit_2.sql"), "{}", crlf.stdout);
    assert_eq!(
        count("m_mod", "SELECT count(*) FROM hits"),
        2,
        "nothing applied"
    );

    // A real change.
    fs::write(
        m.path().join("2_hit_2.sql"),
        "INSERT INTO hits (version) VALUES (22);\n",
    )
    .unwrap();
    let changed = migrate(m.path(), &url, &["status"]);
    assert_eq!(changed.code, 1);
    assert!(
        changed.stdout.contains("modified  2 hit 2") && changed.stdout.contains("checksum differs"),
        "{}",
        changed.stdout
    );

    // A vanished file.
    fs::write(
        m.path().join("2_hit_2.sql"),
        "INSERT INTO hits (version) VALUES (2);\n",
    )
    .unwrap();
    fs::remove_file(m.path().join("3_hit_3.sql")).unwrap();
    let missing = migrate(m.path(), &url, &[]);
    assert_eq!(missing.code, 1);
    assert!(missing.stdout.contains("missing   3"), "{}", missing.stdout);
    assert_eq!(count("m_mod", "SELECT count(*) FROM _sqlx_migrations"), 3);
}

#[test]
fn a_failing_migration_is_rolled_back_and_earlier_ones_stay() {
    let pg = cluster();
    let url = pg.granted("m_fail");
    let m = migrations(2);
    fs::write(
        m.path().join("3_broken.sql"),
        "CREATE TABLE half (id int);\nINSERT INTO no_such_table VALUES (1);\n",
    )
    .unwrap();
    fs::write(
        m.path().join("4_after.sql"),
        "INSERT INTO hits (version) VALUES (4);\n",
    )
    .unwrap();
    let r = migrate(m.path(), &url, &[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("failed 3 broken (3_broken.sql): SQLSTATE 42P01"),
        "{}",
        r.stdout
    );
    assert_eq!(count("m_fail", "SELECT count(*) FROM _sqlx_migrations"), 2);
    assert!(
        pg.scalar("m_fail", "SELECT to_regclass('half')::text")
            .is_none(),
        "rolled back"
    );
    assert_eq!(count("m_fail", "SELECT count(*) FROM hits"), 1);
    let json = migrate(m.path(), &url, &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["failure"]["version"], 3);
    assert_eq!(v["failure"]["sqlstate"], "42P01");
    // The lock was released on the failure path: a lock-free session can take it at once.
    let key = envsync::migrate::lock::sqlx_key("m_fail");
    let free = pg.scalar(
        "m_fail",
        &format!("SELECT pg_try_advisory_lock({key})::text"),
    );
    assert_eq!(free.as_deref(), Some("true"));
}

#[test]
fn envsync_and_sqlx_agree_on_the_ledger() {
    use sqlx::Connection;
    let pg = cluster();
    for (db, first_envsync) in [("m_sqlx_a", true), ("m_sqlx_b", false)] {
        let url = pg.owned(db);
        let m = migrations(5);
        let sqlx_run = |dir: PathBuf, url: String| {
            block_on(async move {
                let migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                migrator.run(&mut conn).await.map_err(|e| e.to_string())
            })
        };
        if first_envsync {
            assert_eq!(migrate(m.path(), &url, &[]).code, 0);
            // sqlx sees everything applied, with matching checksums (it errors on a mismatch).
            sqlx_run(m.path().to_path_buf(), url.clone()).unwrap();
        } else {
            sqlx_run(m.path().to_path_buf(), url.clone()).unwrap();
            let s = migrate(m.path(), &url, &["status"]);
            assert_eq!(s.code, 0, "{}{}", s.stdout, s.stderr);
            assert!(s.stdout.contains("5 applied, 0 pending"), "{}", s.stdout);
        }
        assert_eq!(
            count(db, "SELECT count(*) FROM hits"),
            4,
            "{db}: applied once"
        );
        let described = pg
            .scalar(
                db,
                "SELECT description FROM _sqlx_migrations WHERE version = 1",
            )
            .unwrap();
        assert_eq!(described, "create hits");
    }
}

#[test]
fn no_transaction_migrations_and_execution_times_are_recorded_like_sqlx() {
    let pg = cluster();
    let url = pg.owned("m_notx");
    let m = migrations(2);
    fs::write(
        m.path().join("3_index.sql"),
        "-- no-transaction\nCREATE INDEX CONCURRENTLY hits_at ON hits (at);\n",
    )
    .unwrap();
    fs::write(
        m.path().join("4_more.sql"),
        "INSERT INTO hits (version) VALUES (4) -- no semicolon, a comment last",
    )
    .unwrap();
    let r = migrate(m.path(), &url, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(pg
        .scalar("m_notx", "SELECT to_regclass('hits_at')::text")
        .is_some());
    assert_eq!(
        count(
            "m_notx",
            "SELECT count(*) FROM _sqlx_migrations WHERE success AND execution_time > 0"
        ),
        4
    );
    assert_eq!(count("m_notx", "SELECT count(*) FROM hits"), 2);
}

/// sqlx's dirty row (`success = false`): refused, then `migrate resolve` either way.
#[test]
fn resolve_clears_a_dirty_sqlx_row_either_way() {
    let pg = cluster();
    let url = pg.granted("m_dirty");
    let m = migrations(3);
    assert_eq!(migrate(m.path(), &url, &[]).code, 0);
    pg.admin(
        "m_dirty",
        "UPDATE _sqlx_migrations SET success = FALSE WHERE version = 3;",
    );
    let refused = migrate(m.path(), &url, &[]);
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused.stdout.contains("migrate resolve --rolled-back 3"),
        "{}",
        refused.stdout
    );
    // Rolled back: the row goes, the next run applies the migration again.
    pg.admin("m_dirty", "DELETE FROM hits WHERE version = 3;");
    let r = migrate(m.path(), &url, &["resolve", "--rolled-back", "3_hit_3.sql"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = migrate(m.path(), &url, &[]);
    assert!(r.stdout.contains("applied 1/1 3 hit 3"), "{}", r.stdout);
    // Applied: the row becomes a success without running anything.
    pg.admin(
        "m_dirty",
        "UPDATE _sqlx_migrations SET success = FALSE WHERE version = 3;",
    );
    let r = migrate(m.path(), &url, &["resolve", "--applied", "3"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(migrate(m.path(), &url, &["status"]).code, 0);
    assert_eq!(count("m_dirty", "SELECT count(*) FROM hits"), 2);
    let again = migrate(m.path(), &url, &["resolve", "--applied", "3"]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already recorded as applied"),
        "{}",
        again.stderr
    );
}

/// A description holding dollar-quote delimiters is recorded byte for byte (bound as a
/// parameter, never spliced into SQL), and sqlx agrees about what is applied.
#[test]
fn descriptions_with_dollar_quotes_are_recorded_as_sqlx_records_them() {
    use sqlx::Connection;
    let pg = cluster();
    let url = pg.owned("m_dollar");
    let m = migrations(1);
    for (file, sql) in [
        (
            "2_x$envsync.sql",
            "INSERT INTO hits (version) VALUES (2);\n",
        ),
        ("3_$tag$.sql", "INSERT INTO hits (version) VALUES (3);\n"),
        ("4_it's_$$.sql", "INSERT INTO hits (version) VALUES (4);\n"),
    ] {
        fs::write(m.path().join(file), sql).unwrap();
    }
    let r = migrate(m.path(), &url, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let described = pg
        .scalar(
            "m_dollar",
            "SELECT string_agg(description, '|' ORDER BY version) FROM _sqlx_migrations",
        )
        .unwrap();
    assert_eq!(described, "create hits|x$envsync|$tag$|it's $$");
    let dir = m.path().to_path_buf();
    block_on(async move {
        let migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        migrator.run(&mut conn).await.unwrap();
    });
    assert_eq!(count("m_dollar", "SELECT count(*) FROM hits"), 3);
}
