//! The Prisma ledger against a real PostgreSQL 15 (see `pg.rs`) and the real Prisma CLI 6.19.3
//! in driver-adapter mode (installed by `scripts/install-readers`, configured by
//! `tests/oracle/prisma.config.mjs`): whatever envsync writes, Prisma must agree with, and the
//! reverse.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{copy_tree, envsync, fixtures, root, run, Run};
use crate::pg::{block_on, cluster, SUPERUSER_PASSWORD};

/// A `prisma/` directory (schema and migrations) copied from GPROD's fixture, or with the
/// given migrations instead.
struct PrismaDir {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl PrismaDir {
    fn gprod() -> PrismaDir {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("prisma");
        copy_tree(&fixtures().join("gprod/backend/prisma"), &dir);
        PrismaDir { _tmp: tmp, dir }
    }

    fn with(migrations: &[(&str, &str)]) -> PrismaDir {
        let p = PrismaDir::gprod();
        fs::remove_dir_all(p.migrations()).unwrap();
        fs::create_dir_all(p.migrations()).unwrap();
        fs::write(
            p.migrations().join("migration_lock.toml"),
            "provider = \"postgresql\"\n",
        )
        .unwrap();
        for (name, sql) in migrations {
            p.put(name, sql);
        }
        p
    }

    fn migrations(&self) -> PathBuf {
        self.dir.join("migrations")
    }

    fn put(&self, name: &str, sql: &str) {
        let d = self.migrations().join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("migration.sql"), sql).unwrap();
    }

    /// `envsync migrate ARGS --dir … --database-url URL --via direct`.
    fn envsync(&self, url: &str, args: &[&str]) -> Run {
        run(envsync(&self.dir)
            .arg("migrate")
            .args(args)
            .arg("--dir")
            .arg(self.migrations())
            .args(["--via", "direct", "--database-url", url]))
    }

    /// The real `prisma ARGS` on this directory's schema and migrations.
    fn prisma(&self, url: &str, args: &[&str]) -> Run {
        run(&mut prisma_cmd(&self.dir, url, args))
    }
}

fn prisma_cmd(dir: &Path, url: &str, args: &[&str]) -> Command {
    let oracle = root().join(".readers/prisma");
    let bin = oracle.join("node_modules/.bin/prisma");
    assert!(
        bin.exists(),
        "the Prisma CLI is not installed in {}: run scripts/install-readers",
        oracle.display()
    );
    let mut c = Command::new(bin);
    c.args(args)
        .arg("--config")
        .arg(oracle.join("prisma.config.mjs"))
        .current_dir(&oracle)
        .env("DATABASE_URL", url)
        .env("ORACLE_SCHEMA", dir.join("schema.prisma"))
        .env("PRISMA_QUERY_ENGINE_LIBRARY", oracle.join("dummy.so.node"))
        .env("PRISMA_SCHEMA_ENGINE_BINARY", "/bin/false")
        .env("CHECKPOINT_DISABLE", "1")
        .env("PRISMA_HIDE_UPDATE_MESSAGE", "1");
    c
}

fn up_to_date(r: &Run) -> bool {
    r.code == 0 && r.stdout.contains("Database schema is up to date!")
}

fn text(db: &str, sql: &str) -> Option<String> {
    cluster().scalar(db, &format!("SELECT ({sql})::text"))
}

fn count(db: &str, sql: &str) -> i64 {
    text(db, sql).unwrap().parse().unwrap()
}

/// The ledger's rows, every column but `id` and the times, and checks on those.
pub(crate) fn rows(db: &str, schema: &str) -> String {
    text(
        db,
        &format!(
            "SELECT string_agg(concat_ws('|', migration_name, checksum, coalesce(logs, '<null>'),
                        rolled_back_at IS NULL, finished_at IS NOT NULL, applied_steps_count,
                        id ~ '^[0-9a-f]{{8}}-[0-9a-f]{{4}}-4[0-9a-f]{{3}}-[89ab][0-9a-f]{{3}}-[0-9a-f]{{12}}$',
                        started_at <= coalesce(finished_at, started_at)), E'\\n'
                        ORDER BY migration_name, started_at)
               FROM {schema}._prisma_migrations"
        ),
    )
    .unwrap_or_default()
}

const GPROD: [&str; 3] = [
    "20250502025251_init",
    "20250503123000_add_refresh_token",
    "20250503150000_add_roles_column",
];

fn schema_url(url: &str, schema: &str) -> String {
    format!("{url}?schema={schema}")
}

#[test]
fn envsync_applies_gprod_and_prisma_finds_nothing_to_do() {
    let p = PrismaDir::gprod();
    let url = schema_url(&cluster().owned("p_gprod"), "public");
    let r = p.envsync(&url, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("applied 3 migrations"), "{}", r.stdout);
    assert!(
        r.stdout.contains("ledger _prisma_migrations"),
        "{}",
        r.stdout
    );
    let status = p.prisma(&url, &["migrate", "status"]);
    assert!(up_to_date(&status), "{}{}", status.stdout, status.stderr);
    let deploy = p.prisma(&url, &["migrate", "deploy"]);
    assert_eq!(deploy.code, 0, "{}{}", deploy.stdout, deploy.stderr);
    assert!(
        deploy.stdout.contains("No pending migrations to apply."),
        "{}",
        deploy.stdout
    );
    assert_eq!(
        count("p_gprod", "SELECT count(*) FROM _prisma_migrations"),
        3
    );
    // The roles column the API checks for at start-up.
    assert!(text(
        "p_gprod",
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'User' AND column_name = 'roles'"
    )
    .is_some());
    let again = p.envsync(&url, &[]);
    assert!(
        again.stdout.contains("up to date (3 applied)"),
        "{}",
        again.stdout
    );
}

#[test]
fn prisma_applies_two_envsync_the_third_and_the_rows_agree_with_prisma_s() {
    let cl = cluster();
    let p = PrismaDir::gprod();
    let third = p.migrations().join(GPROD[2]);
    let held = tempfile::tempdir().unwrap();
    fs::rename(&third, held.path().join(GPROD[2])).unwrap();
    let mixed = schema_url(&cl.owned("p_mixed"), "public");
    let d = p.prisma(&mixed, &["migrate", "deploy"]);
    assert_eq!(d.code, 0, "{}{}", d.stdout, d.stderr);
    fs::rename(held.path().join(GPROD[2]), &third).unwrap();
    let r = p.envsync(&mixed, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("applied 1/1 {}", GPROD[2])),
        "{}",
        r.stdout
    );
    // The same migrations applied by Prisma alone.
    let prisma_only = schema_url(&cl.owned("p_ref"), "public");
    let d = p.prisma(&prisma_only, &["migrate", "deploy"]);
    assert_eq!(d.code, 0, "{}{}", d.stdout, d.stderr);
    let (ours, theirs) = (rows("p_mixed", "public"), rows("p_ref", "public"));
    assert_eq!(ours, theirs);
    assert_eq!(ours.lines().count(), 3, "{ours}");
    assert!(
        ours.lines().all(|l| l.ends_with("|<null>|t|t|1|t|t")),
        "{ours}"
    );
    let status = p.prisma(&mixed, &["migrate", "status"]);
    assert!(up_to_date(&status), "{}{}", status.stdout, status.stderr);
}

#[test]
fn a_migration_that_failed_under_prisma_blocks_until_resolved() {
    let cl = cluster();
    let p = PrismaDir::with(&[
        ("1_ok", "CREATE TABLE a (x int);\n"),
        ("2_bad", "CREATE TABLE b (x int);\nSELECT 1/0;\n"),
        ("3_later", "CREATE TABLE c (x int);\n"),
    ]);
    let url = schema_url(&cl.owned("p_failed"), "public");
    let d = p.prisma(&url, &["migrate", "deploy"]);
    assert_ne!(d.code, 0, "{}{}", d.stdout, d.stderr);
    // Prisma ran the statements one by one: the first stayed, and so did its failed row.
    assert!(text("p_failed", "to_regclass('b')").is_some());
    let r = p.envsync(&url, &[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("2_bad") && r.stdout.contains("migrate resolve --rolled-back 2_bad"),
        "{}",
        r.stdout
    );
    assert!(
        text("p_failed", "to_regclass('c')").is_none(),
        "nothing applied"
    );
    // Clean up by hand, fix the migration, then tell the ledger.
    cl.admin("p_failed", "DROP TABLE b;");
    p.put("2_bad", "CREATE TABLE b (x int);\nSELECT 1;\n");
    let resolved = p.envsync(&url, &["resolve", "--rolled-back", "2_bad"]);
    assert_eq!(resolved.code, 0, "{}{}", resolved.stdout, resolved.stderr);
    assert!(
        resolved.stdout.contains("2_bad marked as rolled back"),
        "{}",
        resolved.stdout
    );
    let twice = p.envsync(&url, &["resolve", "--rolled-back", "2_bad"]);
    assert_eq!(twice.code, 2, "{}{}", twice.stdout, twice.stderr);
    assert!(twice.stderr.contains("P3011"), "{}", twice.stderr);
    let r = p.envsync(&url, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("applied 2 migrations"), "{}", r.stdout);
    let status = p.prisma(&url, &["migrate", "status"]);
    assert!(up_to_date(&status), "{}{}", status.stdout, status.stderr);
    // The rolled-back attempt stays as history, as Prisma keeps it.
    assert_eq!(
        count(
            "p_failed",
            "SELECT count(*) FROM _prisma_migrations WHERE rolled_back_at IS NOT NULL"
        ),
        1
    );
}

#[test]
fn resolve_applied_records_a_migration_completed_by_hand_as_prisma_does() {
    let cl = cluster();
    let p = PrismaDir::with(&[
        ("1_ok", "CREATE TABLE a (x int);\n"),
        ("2_bad", "CREATE TABLE b (x int);\nSELECT 1/0;\n"),
    ]);
    let url = schema_url(&cl.owned("p_applied"), "public");
    assert_ne!(p.prisma(&url, &["migrate", "deploy"]).code, 0);
    let r = p.envsync(&url, &["resolve", "--applied", "2_bad"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let status = p.prisma(&url, &["migrate", "status"]);
    assert!(up_to_date(&status), "{}{}", status.stdout, status.stderr);
    assert_eq!(p.envsync(&url, &["status"]).code, 0);
    // Prisma's own resolve writes the same row: logs '', no steps, started = finished.
    let row = text(
        "p_applied",
        "SELECT concat_ws('|', logs, applied_steps_count, started_at = finished_at) FROM _prisma_migrations WHERE migration_name = '2_bad' AND rolled_back_at IS NULL",
    );
    assert_eq!(row.as_deref(), Some("|0|t"));
    let again = p.envsync(&url, &["resolve", "--applied", "2_bad"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("P3008"), "{}", again.stderr);
}

#[test]
fn a_failing_migration_under_envsync_leaves_no_table_and_no_row() {
    let p = PrismaDir::with(&[
        ("1_ok", "CREATE TABLE a (x int);\n"),
        ("2_bad", "CREATE TABLE b (x int);\nSELECT 1/0;\n"),
        ("3_later", "CREATE TABLE c (x int);\n"),
    ]);
    let url = schema_url(&cluster().owned("p_tx"), "public");
    let r = p.envsync(&url, &["--format", "json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ledger"], "prisma");
    assert_eq!(v["failure"]["name"], "2_bad");
    assert_eq!(v["failure"]["sqlstate"], "22012");
    assert!(text("p_tx", "to_regclass('a')").is_some());
    assert!(text("p_tx", "to_regclass('b')").is_none(), "rolled back");
    assert!(text("p_tx", "to_regclass('c')").is_none(), "not reached");
    assert_eq!(
        rows("p_tx", "public")
            .lines()
            .map(|l| l.split('|').next().unwrap())
            .collect::<Vec<_>>(),
        ["1_ok"]
    );
}

#[test]
fn files_that_cannot_run_in_a_transaction_run_as_prisma_runs_them() {
    let cl = cluster();
    let p = PrismaDir::with(&[
        ("1_table", "CREATE TABLE a (x int);\n"),
        (
            "2_index",
            "CREATE INDEX CONCURRENTLY a_x ON a (x);\nCREATE TABLE after_index (y int);\n",
        ),
        ("3_bad", "CREATE INDEX CONCURRENTLY a_y ON a (y);\n"),
    ]);
    let url = schema_url(&cl.owned("p_notx"), "public");
    let r = p.envsync(&url, &[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("applied 2/3 2_index"), "{}", r.stdout);
    assert!(text("p_notx", "to_regclass('a_x')").is_some());
    assert!(text("p_notx", "to_regclass('after_index')").is_some());
    // 3_bad failed outside a transaction: Prisma's failed row, with the error in `logs`.
    let failed = text(
        "p_notx",
        "SELECT concat_ws('|', finished_at IS NULL, applied_steps_count, logs LIKE '%42703%') FROM _prisma_migrations WHERE migration_name = '3_bad'",
    );
    assert_eq!(failed.as_deref(), Some("t|0|t"));
    let status = p.prisma(&url, &["migrate", "status"]);
    assert_ne!(status.code, 0, "Prisma sees the failed migration too");
    assert!(
        format!("{}{}", status.stdout, status.stderr)
            .contains("Following migration have failed:\n3_bad"),
        "{}{}",
        status.stdout,
        status.stderr
    );
}

#[test]
fn edits_privileges_and_read_only_status() {
    let cl = cluster();
    let p = PrismaDir::gprod();
    // PG15: an ordinary role has no CREATE on public.
    cl.fresh("p_edit", "p_edit_app", "pw");
    let url = schema_url(&cl.url("p_edit_app", "pw", "p_edit"), "public");
    let status = p.envsync(&url, &["status"]);
    assert_eq!(status.code, 1, "{}{}", status.stdout, status.stderr);
    assert!(
        status.stdout.contains("0 applied, 3 pending"),
        "{}",
        status.stdout
    );
    let refused = p.envsync(&url, &[]);
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused
            .stdout
            .contains("GRANT CREATE ON SCHEMA public TO p_edit_app;"),
        "{}",
        refused.stdout
    );
    assert!(
        text("p_edit", "to_regclass('_prisma_migrations')").is_none(),
        "status and a refused preflight create nothing"
    );
    cl.admin("p_edit", "GRANT CREATE ON SCHEMA public TO p_edit_app;");
    let granted = p.envsync(&url, &[]);
    assert_eq!(granted.code, 0, "{}{}", granted.stdout, granted.stderr);
    // An applied migration edited afterwards.
    let f = p.migrations().join(GPROD[1]).join("migration.sql");
    let original = fs::read(&f).unwrap();
    fs::write(&f, [original.as_slice(), b"\n-- edited"].concat()).unwrap();
    let r = p.envsync(&url, &[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("modified")
            && r.stdout.contains(GPROD[1])
            && r.stdout.contains("UPDATE _prisma_migrations SET checksum"),
        "{}",
        r.stdout
    );
    // Only line endings changed.
    let crlf = String::from_utf8(original.clone())
        .unwrap()
        .replace('\n', "\r\n");
    fs::write(&f, crlf).unwrap();
    let r = p.envsync(&url, &["status"]);
    assert!(
        r.stdout.contains("only line endings differ"),
        "{}",
        r.stdout
    );
    fs::write(&f, &original).unwrap();
    assert_eq!(p.envsync(&url, &["status"]).code, 0);
}

#[test]
fn the_url_schema_holds_the_ledger_and_the_tables_and_prisma_agrees() {
    let cl = cluster();
    let p = PrismaDir::gprod();
    let url = schema_url(&cl.owned("p_gp"), "gp");
    let r = p.envsync(&url, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let tables = text(
        "p_gp",
        "SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname IN ('gp', 'public')",
    );
    assert_eq!(
        tables.as_deref(),
        Some("gp.Project,gp.RefreshToken,gp.User,gp._prisma_migrations")
    );
    let status = p.prisma(&url, &["migrate", "status"]);
    assert!(up_to_date(&status), "{}{}", status.stdout, status.stderr);
    // Without ?schema= the default schema has no ledger: everything is pending there.
    let public = p.envsync(&cl.url("p_gp_app", "pw", "p_gp"), &["status"]);
    assert!(
        public.stdout.contains("0 applied, 3 pending"),
        "{}",
        public.stdout
    );
    // A schema that does not exist yet is created by the run, which needs CREATE on the
    // database: the preflight says so, and creates nothing.
    cl.fresh("p_gp2", "p_gp2_app", "pw");
    let url = schema_url(&cl.url("p_gp2_app", "pw", "p_gp2"), "gp");
    let r = p.envsync(&url, &[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("GRANT CREATE ON DATABASE p_gp2 TO p_gp2_app;"),
        "{}",
        r.stdout
    );
    assert!(text("p_gp2", "to_regnamespace('gp')").is_none());
    cl.admin("p_gp2", "GRANT CREATE ON DATABASE p_gp2 TO p_gp2_app;");
    let r = p.envsync(&url, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

/// A session (as `admin`) holding advisory lock `key` until the returned sender is dropped: a
/// gate a migration waits at (`pg_advisory_xact_lock(key)`).
fn gate(admin: String, key: i64) -> std::sync::mpsc::Sender<()> {
    let (held, is_held) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        block_on(async move {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(key)
                .execute(&mut c)
                .await
                .unwrap();
            held.send(()).unwrap();
            // Until the sender is dropped (a failing test drops it too); closing unlocks.
            let _ = released.recv();
            let _ = c.close().await;
        })
    });
    is_held.recv().expect("the gate is held");
    release
}

#[test]
fn envsync_and_prisma_wait_for_each_other_s_lock() {
    let cl = cluster();
    // The migration waits at a gate the test opens once Prisma is seen waiting: envsync holds
    // the lock for as long as that takes, however slowly the Prisma CLI starts.
    let p = PrismaDir::with(&[(
        "1_slow",
        "CREATE TABLE a (x int);\nSELECT pg_advisory_xact_lock(4242);\n",
    )]);
    let url = schema_url(&cl.owned("p_lock"), "public");
    let admin = cl.url("postgres", SUPERUSER_PASSWORD, "p_lock");
    // A session holding Prisma's key keeps envsync waiting, and is named.
    block_on(async {
        use sqlx::Connection;
        let mut holder = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query("SET application_name = 'prisma-elsewhere'")
            .execute(&mut holder)
            .await
            .unwrap();
        sqlx::query("SELECT pg_advisory_lock(72707369)")
            .execute(&mut holder)
            .await
            .unwrap();
        let r = p.envsync(&url, &["--lock-timeout", "1"]);
        assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("prisma-elsewhere"), "{}", r.stdout);
        assert!(
            r.stderr.contains("Prisma's advisory lock 72707369"),
            "{}",
            r.stderr
        );
        holder.close().await.unwrap();
    });
    // And envsync's lock keeps `prisma migrate deploy` waiting.
    let release = gate(admin.clone(), 4242);
    let mut ours = envsync(&p.dir);
    let ours = ours
        .arg("migrate")
        .arg("--dir")
        .arg(p.migrations())
        .args(["--via", "direct", "--database-url", &url])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting_for = |granted: bool| {
        count(
            "p_lock",
            &format!(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 72707369 AND granted = {granted}"
            ),
        )
    };
    // A guard against hanging, not a measurement.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while waiting_for(true) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "envsync never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let theirs = prisma_cmd(&p.dir, &url, &["migrate", "deploy"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while waiting_for(false) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "prisma never waited for the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(release);
    let ours = ours.wait_with_output().unwrap();
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stdout)
    );
    let theirs = theirs.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&theirs.stdout);
    assert!(
        theirs.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    assert!(said.contains("No pending migrations to apply."), "{said}");
    assert_eq!(
        count("p_lock", "SELECT count(*) FROM _prisma_migrations"),
        1
    );
}

#[test]
fn eight_concurrent_runners_apply_each_prisma_migration_once() {
    let migrations: Vec<(String, String)> = (1..=30)
        .map(|i| {
            let sql = if i == 1 {
                "CREATE TABLE hits (n int PRIMARY KEY);\n".to_string()
            } else {
                format!("INSERT INTO hits VALUES ({i});\n")
            };
            (format!("{i:03}_m"), sql)
        })
        .collect();
    let refs: Vec<(&str, &str)> = migrations
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let p = PrismaDir::with(&refs);
    let url = schema_url(&cluster().owned("p_conc"), "public");
    let applied = crate::common::applied_by_concurrent_runs(8, || {
        let mut c = envsync(&p.dir);
        c.arg("migrate").arg("--dir").arg(p.migrations()).args([
            "--via",
            "direct",
            "--database-url",
            &url,
        ]);
        c
    });
    assert_eq!(applied, 30, "each migration applied by exactly one runner");
    assert_eq!(
        count("p_conc", "SELECT count(*) FROM _prisma_migrations"),
        30
    );
    assert_eq!(count("p_conc", "SELECT count(*) FROM hits"), 29);
}

#[test]
fn the_ledger_follows_the_layout_and_both_layouts_need_a_choice() {
    let work = tempfile::tempdir().unwrap();
    let b = work.path().join("gprod-backend");
    copy_tree(&fixtures().join("gprod/backend"), &b);
    let url = schema_url(&cluster().owned("p_auto"), "public");
    let status = run(envsync(&b).args([
        "migrate",
        "status",
        "--via",
        "direct",
        "--database-url",
        &url,
    ]));
    assert_eq!(status.code, 1, "{}{}", status.stdout, status.stderr);
    assert!(
        status.stdout.contains(&format!("pending   {}", GPROD[0])),
        "{}",
        status.stdout
    );
    copy_tree(&fixtures().join("sqlx/migrations"), &b.join("migrations"));
    let both = run(envsync(&b).args([
        "migrate",
        "status",
        "--via",
        "direct",
        "--database-url",
        &url,
    ]));
    assert_eq!(both.code, 2, "{}{}", both.stdout, both.stderr);
    assert!(
        both.stderr.contains("prisma/migrations") && both.stderr.contains("--ledger prisma|sqlx"),
        "{}",
        both.stderr
    );
    let sqlx = run(envsync(&b).args([
        "migrate",
        "status",
        "--ledger",
        "sqlx",
        "--via",
        "direct",
        "--database-url",
        &url,
    ]));
    assert!(
        sqlx.stdout
            .contains("pending   20240101000000 create users"),
        "{}",
        sqlx.stdout
    );
    fs::write(b.join("envsync.toml"), "[migrate]\nledger = \"prisma\"\n").unwrap();
    let configured = run(envsync(&b).args([
        "migrate",
        "status",
        "--via",
        "direct",
        "--database-url",
        &url,
    ]));
    assert_eq!(
        configured.code, 1,
        "{}{}",
        configured.stdout, configured.stderr
    );
    assert!(
        configured.stdout.contains(GPROD[2]),
        "{}",
        configured.stdout
    );
}

/// Directory names that hold dollar-quote delimiters (`$envsync$`, `$tag$`, a trailing
/// `$envsync` that closes a `$envsync$…$envsync$` literal early, a quote and `$$`): recorded
/// byte for byte, and Prisma agrees. A name is bound as a parameter, never spliced into SQL.
const DOLLAR_NAMES: [&str; 5] = [
    "20250101000000_x$envsync$y",
    "20250101000001_$tag$",
    "20250101000002_x$envsync",
    "20250101000003_it's_$$_$envsync_",
    "20250101000004_$1",
];

fn dollar_migrations() -> Vec<(String, String)> {
    DOLLAR_NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), format!("CREATE TABLE t{i} (x int);\n")))
        .collect()
}

#[test]
fn names_with_dollar_quotes_are_applied_recorded_and_agreed_by_prisma() {
    let owned = dollar_migrations();
    let refs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let p = PrismaDir::with(&refs);
    let url = schema_url(&cluster().owned("p_dollar"), "public");
    let r = p.envsync(&url, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("applied 5 migrations"), "{}", r.stdout);
    let recorded = text(
        "p_dollar",
        "SELECT string_agg(migration_name, E'\\n' ORDER BY migration_name) FROM _prisma_migrations WHERE finished_at IS NOT NULL",
    )
    .unwrap_or_default();
    assert_eq!(recorded, DOLLAR_NAMES.join("\n"));
    let status = p.prisma(&url, &["migrate", "status"]);
    assert!(up_to_date(&status), "{}{}", status.stdout, status.stderr);
    let again = p.envsync(&url, &["status"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("5 applied, 0 pending"),
        "{}",
        again.stdout
    );
}

#[test]
fn resolve_takes_names_with_dollar_quotes() {
    let cl = cluster();
    let bad = "20250101000009_bad$envsync";
    let bad_too = "20250101000010_$tag$_bad";
    let p = PrismaDir::with(&[
        ("20250101000000_ok", "CREATE TABLE a (x int);\n"),
        (bad, "CREATE TABLE b (x int);\nSELECT 1/0;\n"),
    ]);
    let url = schema_url(&cl.owned("p_dollar_resolve"), "public");
    assert_ne!(p.prisma(&url, &["migrate", "deploy"]).code, 0);
    let r = p.envsync(&url, &["resolve", "--applied", bad]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("{bad} recorded as applied")),
        "{}",
        r.stdout
    );
    let status = p.prisma(&url, &["migrate", "status"]);
    assert!(up_to_date(&status), "{}{}", status.stdout, status.stderr);
    assert_eq!(
        count(
            "p_dollar_resolve",
            &format!("SELECT count(*) FROM _prisma_migrations WHERE migration_name = '{bad}' AND finished_at IS NOT NULL AND rolled_back_at IS NULL")
        ),
        1
    );
    // The other way out, on a second failed migration: rolled back, fixed, applied by envsync.
    p.put(bad_too, "CREATE TABLE c (x int);\nSELECT 1/0;\n");
    assert_ne!(p.prisma(&url, &["migrate", "deploy"]).code, 0);
    cl.admin("p_dollar_resolve", "DROP TABLE c;");
    p.put(bad_too, "CREATE TABLE c (x int);\n");
    let r = p.envsync(&url, &["resolve", "--rolled-back", bad_too]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = p.envsync(&url, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("applied 1/1 {bad_too}")),
        "{}",
        r.stdout
    );
    let status = p.prisma(&url, &["migrate", "status"]);
    assert!(up_to_date(&status), "{}{}", status.stdout, status.stderr);
}
