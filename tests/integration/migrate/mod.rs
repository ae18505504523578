//! `migrate` against a real PostgreSQL 15 cluster started by the tests (see `pg.rs`).

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{copy_tree, envsync, fixtures, run, set_line, Run, Stub};
use crate::pg::{block_on, cluster};

/// A migrations directory with `n` small migrations, each inserting one row into `hits`.
fn migrations(n: usize) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(
        d.path().join("1_create_hits.sql"),
        "CREATE TABLE hits (version BIGINT PRIMARY KEY, at TIMESTAMPTZ NOT NULL DEFAULT now());\n",
    )
    .unwrap();
    for v in 2..=n {
        fs::write(
            d.path().join(format!("{v}_hit_{v}.sql")),
            format!("INSERT INTO hits (version) VALUES ({v});\n"),
        )
        .unwrap();
    }
    d
}

fn migrate(dir: &Path, url: &str, args: &[&str]) -> Run {
    let mut c = envsync(dir);
    c.arg("migrate")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .arg("--database-url")
        .arg(url);
    run(&mut c)
}

fn ledger_exists(db: &str) -> bool {
    cluster()
        .scalar(db, "SELECT to_regclass('_sqlx_migrations')::text")
        .is_some()
}

fn count(db: &str, sql: &str) -> i64 {
    cluster()
        .scalar(db, &format!("SELECT ({sql})::text"))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn pg15_public_without_create_is_refused_then_granted_applied_and_idempotent() {
    let pg = cluster();
    pg.fresh("m_grant", "m_grant_app", "app-pw-1");
    let url = pg.url("m_grant_app", "app-pw-1", "m_grant");
    let m = migrations(3);

    let refused = migrate(m.path(), &url, &[]);
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused
            .stdout
            .contains("GRANT CREATE ON SCHEMA public TO m_grant_app;"),
        "{}",
        refused.stdout
    );
    assert!(
        !ledger_exists("m_grant"),
        "the preflight created the ledger"
    );
    let pre = migrate(m.path(), &url, &["preflight"]);
    assert_eq!(pre.code, 1);

    pg.admin("m_grant", "GRANT CREATE ON SCHEMA public TO m_grant_app;");
    let pre = migrate(m.path(), &url, &["preflight"]);
    assert_eq!(pre.code, 0, "{}{}", pre.stdout, pre.stderr);
    let applied = migrate(m.path(), &url, &["run"]);
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
    assert!(
        applied.stdout.contains("applied 1/3 1 create hits"),
        "{}",
        applied.stdout
    );
    assert!(
        applied.stdout.contains("route: direct"),
        "{}",
        applied.stdout
    );
    assert!(!applied.stdout.contains("app-pw-1"));
    assert_eq!(count("m_grant", "SELECT count(*) FROM hits"), 2);
    assert_eq!(
        count(
            "m_grant",
            "SELECT count(*) FROM _sqlx_migrations WHERE success"
        ),
        3
    );

    let again = migrate(m.path(), &url, &[]);
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.contains("up to date (3 applied)"),
        "{}",
        again.stdout
    );
    assert_eq!(count("m_grant", "SELECT count(*) FROM hits"), 2);

    // A table the role does not own: the preflight names it with the ALTER ... OWNER TO.
    pg.admin("m_grant", "CREATE TABLE public.legacy (id int);");
    let owner = migrate(m.path(), &url, &["preflight"]);
    assert_eq!(owner.code, 1);
    assert!(
        owner
            .stdout
            .contains("ALTER TABLE public.legacy OWNER TO m_grant_app;"),
        "{}",
        owner.stdout
    );
}

#[test]
fn ledger_privileges_are_checked_one_by_one() {
    let pg = cluster();
    pg.fresh("m_ledger", "m_ledger_app", "pw");
    pg.admin(
        "m_ledger",
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, \
         execution_time BIGINT NOT NULL); GRANT CREATE ON SCHEMA public TO m_ledger_app; \
         GRANT SELECT, INSERT ON _sqlx_migrations TO m_ledger_app;",
    );
    let m = migrations(2);
    let r = migrate(
        m.path(),
        &pg.url("m_ledger_app", "pw", "m_ledger"),
        &["preflight", "--format", "json"],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let fixes: Vec<&str> = v["preflight"]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["fix"].as_str().unwrap())
        .collect();
    assert!(
        fixes.contains(&"GRANT UPDATE ON TABLE _sqlx_migrations TO m_ledger_app;"),
        "{fixes:?}"
    );
    assert!(
        fixes.contains(&"GRANT DELETE ON TABLE _sqlx_migrations TO m_ledger_app;"),
        "{fixes:?}"
    );
    assert!(
        !fixes
            .iter()
            .any(|f| f.contains("GRANT SELECT") || f.contains("GRANT INSERT")),
        "{fixes:?}"
    );
}

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
fn eight_concurrent_runners_apply_each_migration_exactly_once() {
    let pg = cluster();
    let url = pg.granted("m_conc");
    let m = migrations(50);
    let applied_total = crate::common::applied_by_concurrent_runs(8, || {
        let mut c = envsync(m.path());
        c.args(["migrate", "--dir"])
            .arg(m.path())
            .args(["--database-url", &url]);
        c
    });
    assert_eq!(
        applied_total, 50,
        "each migration applied by exactly one runner"
    );
    assert_eq!(count("m_conc", "SELECT count(*) FROM _sqlx_migrations"), 50);
    assert_eq!(count("m_conc", "SELECT count(*) FROM hits"), 49);
}

#[test]
fn a_held_lock_is_waited_for_and_named() {
    let pg = cluster();
    let url = pg.granted("m_lock");
    let key = envsync::migrate::lock::sqlx_key("m_lock");
    let admin = pg.url("postgres", crate::pg::SUPERUSER_PASSWORD, "m_lock");
    let m = migrations(2);
    block_on(async {
        use sqlx::Connection;
        let mut holder = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query("SET application_name = 'someone-else'")
            .execute(&mut holder)
            .await
            .unwrap();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut holder)
            .await
            .unwrap();
        let dir = m.path().to_path_buf();
        let url2 = url.clone();
        let r = tokio::task::spawn_blocking(move || migrate(&dir, &url2, &["--lock-timeout", "1"]))
            .await
            .unwrap();
        assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
        assert!(
            r.stdout
                .contains("waiting up to 1 s for the migration lock held by pid"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("someone-else"), "{}", r.stdout);
        assert!(r.stderr.contains("still held"), "{}", r.stderr);
        holder.close().await.unwrap();
    });
    assert!(
        !ledger_exists("m_lock"),
        "nothing is created before the lock is taken"
    );
    assert_eq!(migrate(m.path(), &url, &[]).code, 0);
}

#[test]
fn an_unreachable_database_fails_fast_with_exit_2_and_no_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let m = migrations(1);
    let started = std::time::Instant::now();
    let r = migrate(
        m.path(),
        &format!("postgresql://app:Top%23Secret@127.0.0.1:{port}/x"),
        &["--via", "direct"],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(started.elapsed().as_secs() < 10);
    assert!(
        r.stderr.contains(&format!("127.0.0.1:{port}")) && r.stderr.contains("route direct"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("Top") && !r.stdout.contains("Top"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    // The compose host does not resolve outside the network: the message says what to do.
    let r = migrate(
        m.path(),
        "postgresql://app:pw@db.invalid:5432/x",
        &["--via", "direct"],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--via host"), "{}", r.stderr);
}

#[test]
fn bad_migration_directories_are_refused_before_touching_the_database() {
    let m = migrations(2);
    fs::write(m.path().join("2_again.sql"), "SELECT 1;\n").unwrap();
    // An unroutable URL: the error must come from the directory check, not the connection.
    let r = migrate(m.path(), "postgresql://u:p@127.0.0.1:1/x", &[]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("version 2 is used by 2_again.sql and 2_hit_2.sql"),
        "{}",
        r.stderr
    );
    let m = migrations(1);
    fs::write(
        m.path().join("2_index.sql"),
        "\u{FEFF}-- no-transaction\nCREATE INDEX CONCURRENTLY i ON hits (at);\n",
    )
    .unwrap();
    let r = migrate(m.path(), "postgresql://u:p@127.0.0.1:1/x", &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("byte-order mark"), "{}", r.stderr);
}

/// A GPROD-shaped pair whose prod `DATABASE_URL` uses `${POSTGRES_PASSWORD}` from infra, with a
/// password full of URL-special characters, reached through `--via host` on the test cluster.
#[test]
fn the_backend_url_is_resolved_like_compose_and_routed_through_the_host_port() {
    let pg = cluster();
    let password = "p@ss:w/rd#?%$=x";
    pg.fresh("gprod_prod_t", "gprod_app", password);
    pg.admin(
        "gprod_prod_t",
        "ALTER DATABASE gprod_prod_t OWNER TO gprod_app;",
    );
    let work = tempfile::tempdir().unwrap();
    let (b, i) = (work.path().join("backend"), work.path().join("infra"));
    copy_tree(&fixtures().join("gprod/backend"), &b);
    copy_tree(&fixtures().join("gprod/infra"), &i);
    let set = |p: PathBuf, key: &str, line: &str| set_line(&p, key, line);
    set(
        b.join(".env.production"),
        "DATABASE_URL",
        "DATABASE_URL=postgresql://gprod_app:${POSTGRES_PASSWORD}@db:5432/gprod_prod_t",
    );
    set(b.join(".env.production"), "POSTGRES_PASSWORD", "");
    set(
        i.join(".env.prod"),
        "POSTGRES_PASSWORD",
        &format!("POSTGRES_PASSWORD='{password}'"),
    );
    let m = migrations(2);
    // The cluster's port is known only to the compose file: the contour table still says 5434.
    let prod = i.join("docker/prod/docker-compose.prod.yml");
    let compose = fs::read_to_string(&prod).unwrap();
    assert!(compose.contains("\"5434:5432\""));
    fs::write(
        &prod,
        compose.replace("\"5434:5432\"", &format!("\"127.0.0.1:{}:5432\"", pg.port)),
    )
    .unwrap();
    fs::write(
        work.path().join("envsync.toml"),
        "[repos.backend]\npath = \"backend\"\n[repos.infra]\npath = \"infra\"\n",
    )
    .unwrap();
    let mut c = envsync(work.path());
    let r = run(c
        .args(["migrate", "-c", "prod", "--via", "host", "--dir"])
        .arg(m.path()));
    // `${POSTGRES_PASSWORD}` in a URL is not percent-encoded by compose: the raw `@`, `/`, `#`
    // break the URL, and envsync says so instead of connecting somewhere else.
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        !r.stderr.contains("w/rd") && !r.stdout.contains("w/rd"),
        "{}{}",
        r.stdout,
        r.stderr
    );

    // With the URL as `envsync fix` writes it (percent-encoded), the same pair migrates.
    set(
        b.join(".env.production"),
        "DATABASE_URL",
        "DATABASE_URL=postgresql://gprod_app:${PW_ENC}@db:5432/gprod_prod_t",
    );
    let encoded: String =
        percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let text = fs::read_to_string(i.join(".env.prod")).unwrap();
    fs::write(i.join(".env.prod"), format!("{text}PW_ENC={}\n", encoded)).unwrap();
    let mut c = envsync(work.path());
    let r = run(c
        .args(["migrate", "-c", "prod", "--via", "host", "--dir"])
        .arg(m.path()));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "db:5432 -> 127.0.0.1:{}, published by the db service, infra docker/prod/docker-compose.prod.yml:8",
            pg.port
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("gprod_app:****@127.0.0.1"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("w/rd") && !r.stdout.contains(&encoded),
        "{}",
        r.stdout
    );
    assert_eq!(count("gprod_prod_t", "SELECT count(*) FROM hits"), 1);
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
fn the_docker_route_builds_a_throwaway_container_command() {
    let stub = Stub::new(
        "docker",
        "printf '%s' \"$ENVSYNC_DATABASE_URL\" > \"$(dirname \"$0\")/url\"; exit 0",
    );
    let m = migrations(1);
    let mut c = envsync(m.path());
    let r = run(c
        .env("PATH", stub.path_var())
        .args(["migrate", "-c", "stage", "--via", "docker", "--dir"])
        .arg(m.path())
        .args([
            "--database-url",
            "postgresql://app:S3cret%40@db:5432/gprod_stage",
        ]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let calls = stub.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let args: Vec<&str> = calls[0].iter().map(String::as_str).collect();
    let has = |pair: [&str; 2]| args.windows(2).any(|w| w == pair);
    assert_eq!(args[0], "run");
    assert!(has(["--network", "gp-network-stage"]), "{args:?}");
    assert!(has(["--pull", "never"]), "{args:?}");
    assert!(has(["-e", "ENVSYNC_DATABASE_URL"]), "{args:?}");
    assert!(
        args.contains(&"--rm") && args.contains(&"gprod-backend:latest"),
        "{args:?}"
    );
    assert!(
        args.iter().any(|a| a.ends_with(":/migrations:ro")),
        "{args:?}"
    );
    assert!(
        args.iter()
            .any(|a| a.ends_with(":/usr/local/bin/envsync:ro")),
        "{args:?}"
    );
    assert!(has(["--via", "direct"]), "{args:?}");
    // The container uses the ledger found here, whatever its own detection would say.
    assert!(has(["--ledger", "sqlx"]), "{args:?}");
    assert!(
        !args.iter().any(|a| a.contains("S3cret")),
        "password on the command line: {args:?}"
    );
    let url = fs::read_to_string(stub.dir.path().join("url")).unwrap();
    assert_eq!(url, "postgresql://app:S3cret%40@db:5432/gprod_stage");
    assert!(
        r.stdout.contains("route: docker (network gp-network-stage"),
        "{}",
        r.stdout
    );
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

/// A forwarder to the test cluster on a port of its own, held from the start (nothing else can
/// take it): the first `starting` connections are answered the way a starting PostgreSQL
/// answers (FATAL, SQLSTATE 57P03 "the database system is starting up"), the rest forwarded.
fn starting_forwarder(upstream: u16, starting: usize) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    fn read_message(c: &mut TcpStream) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        c.read_exact(&mut len).ok()?;
        let mut body = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
        c.read_exact(&mut body).ok()?;
        Some(body)
    }
    fn starting_up(mut c: TcpStream) {
        let Some(first) = read_message(&mut c) else {
            return;
        };
        // SSLRequest: decline TLS; the startup message follows.
        if first.starts_with(&80877103u32.to_be_bytes()) {
            let _ = c.write_all(b"N");
            if read_message(&mut c).is_none() {
                return;
            }
        }
        let mut fields = Vec::new();
        for (tag, text) in [
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', "57P03"),
            (b'M', "the database system is starting up"),
        ] {
            fields.push(tag);
            fields.extend_from_slice(text.as_bytes());
            fields.push(0);
        }
        fields.push(0);
        let mut msg = vec![b'E'];
        msg.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
        msg.extend_from_slice(&fields);
        let _ = c.write_all(&msg);
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().flatten().enumerate() {
            if n < starting {
                starting_up(client);
                continue;
            }
            let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut c, mut s) = (client, server);
            std::thread::spawn(move || std::io::copy(&mut c, &mut s));
            std::thread::spawn(move || std::io::copy(&mut s2, &mut c2));
        }
    });
    port
}

/// `--wait`: while the database is starting, envsync keeps retrying and then migrates; without
/// `--wait` the same answer ends the run with exit 2.
#[test]
fn wait_retries_until_the_database_answers() {
    let pg = cluster();
    pg.owned("m_wait"); // reached below through the forwarders
    let m = migrations(2);
    let migrate = |port: u16, wait: &[&str]| {
        let url = format!("postgresql://m_wait_app:pw@127.0.0.1:{port}/m_wait");
        run(envsync(m.path())
            .arg("migrate")
            .args(wait)
            .args(["--via", "direct", "--dir"])
            .arg(m.path())
            .args(["--database-url", &url]))
    };
    let once = migrate(starting_forwarder(pg.port, 1), &[]);
    assert_eq!(once.code, 2, "{}{}", once.stdout, once.stderr);
    assert!(once.stderr.contains("57P03"), "{}", once.stderr);
    let out = migrate(starting_forwarder(pg.port, 2), &["--wait", "30"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("waiting for the database at 127.0.0.1:"),
        "{}",
        out.stdout
    );
    assert_eq!(count("m_wait", "SELECT count(*) FROM hits"), 1);
}

/// From the backend alone: no infra checkout, the contour taken from the `.env` symlink, the
/// migrations from `migrations/` of the backend.
#[test]
fn the_backend_alone_is_enough_when_its_url_is_complete() {
    let pg = cluster();
    pg.fresh("m_alone", "m_alone_app", "pw#1");
    pg.admin("m_alone", "ALTER DATABASE m_alone OWNER TO m_alone_app;");
    let work = tempfile::tempdir().unwrap();
    let b = work.path().join("gprod-backend");
    copy_tree(&fixtures().join("gprod/backend"), &b);
    let url = pg.url("m_alone_app", "pw#1", "m_alone");
    set_line(
        &b.join(".env.production"),
        "DATABASE_URL",
        &format!("DATABASE_URL={url}"),
    );
    let mut c = envsync(&b);
    let r = run(c.args(["migrate", "--via", "direct"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("from backend .env.production"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("applied 3 migrations"), "{}", r.stdout);
    assert_eq!(
        count("m_alone", "SELECT count(*) FROM _prisma_migrations"),
        3
    );
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
