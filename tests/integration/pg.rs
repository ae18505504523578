//! A throwaway PostgreSQL 15 cluster for the migrate tests: one per test binary, started on
//! first use as the `postgres` system user (PostgreSQL refuses root), scram passwords, a free
//! port, a temporary directory. A watchdog process stops it and deletes the directory when the
//! test binary exits, however it exits (a panic or abort included).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sqlx::Connection;

pub const SUPERUSER_PASSWORD: &str = "Super-secret-1";

#[derive(Debug)]
pub struct Cluster {
    pub port: u16,
}

fn bin(name: &str) -> PathBuf {
    let p = Path::new("/usr/lib/postgresql/15/bin").join(name);
    if p.exists() {
        p
    } else {
        PathBuf::from(name)
    }
}

fn is_root() -> bool {
    // The effective uid, from /proc (no unsafe libc call).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// `cmd` as the postgres user when we are root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn must(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(start)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> Cluster {
    let dir = tempfile::Builder::new()
        .prefix("envsync-pg-")
        .tempdir()
        .unwrap()
        .keep();
    let data = dir.join("data");
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
    if is_root() {
        let uid = Command::new("id")
            .args(["-u", "postgres"])
            .output()
            .unwrap();
        let gid = Command::new("id")
            .args(["-g", "postgres"])
            .output()
            .unwrap();
        let parse = |o: std::process::Output| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u32>()
                .unwrap()
        };
        let (uid, gid) = (parse(uid), parse(gid));
        for p in [&dir, &pwfile] {
            std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
        }
    }
    // Stop and delete the cluster once this test process is gone.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.3; done; {runas}{pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        runas = if is_root() { "runuser -u postgres -- " } else { "" },
        pg_ctl = bin("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    // Never waited for: it must outlive this process, and init reaps it.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &stop])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("watchdog starts");
    must(
        as_postgres(&bin("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=scram-sha-256", "-E", "UTF8", "-N"])
            .arg(format!("--pwfile={}", pwfile.display())),
        "initdb",
    );
    let port = free_port();
    must(
        as_postgres(&bin("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                dir.display()
            ))
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "start"]),
        "pg_ctl start",
    );
    Cluster { port }
}

impl Cluster {
    pub fn url(&self, user: &str, password: &str, db: &str) -> String {
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        format!(
            "postgresql://{}:{}@127.0.0.1:{}/{db}",
            utf8_percent_encode(user, NON_ALPHANUMERIC),
            utf8_percent_encode(password, NON_ALPHANUMERIC),
            self.port
        )
    }

    /// Run SQL statements as the superuser in `db`.
    pub fn admin(&self, db: &str, sql: &str) {
        let url = self.url("postgres", SUPERUSER_PASSWORD, db);
        block_on(async move {
            let mut c = sqlx::PgConnection::connect(&url)
                .await
                .expect("superuser connects");
            sqlx::raw_sql(sql)
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            c.close().await.unwrap();
        });
    }

    /// A single value as the superuser (text).
    pub fn scalar(&self, db: &str, sql: &str) -> Option<String> {
        let url = self.url("postgres", SUPERUSER_PASSWORD, db);
        let sql = sql.to_string();
        block_on(async move {
            let mut c = sqlx::PgConnection::connect(&url)
                .await
                .expect("superuser connects");
            let v: Option<String> = sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap();
            c.close().await.unwrap();
            v
        })
    }

    /// A fresh database owned by the superuser and an ordinary login role for it (the PG15
    /// default: no CREATE on `public`).
    pub fn fresh(&self, name: &str, role: &str, password: &str) {
        let pw = password.replace('\'', "''");
        self.admin(
            "postgres",
            &format!("CREATE ROLE \"{role}\" LOGIN PASSWORD '{pw}'"),
        );
        self.admin("postgres", &format!("CREATE DATABASE \"{name}\""));
    }

    /// A fresh database `db` and its role `<db>_app` (password `pw`) with CREATE on `public`;
    /// the role's URL.
    pub fn granted(&self, db: &str) -> String {
        self.fresh(db, &format!("{db}_app"), "pw");
        self.admin(db, &format!("GRANT CREATE ON SCHEMA public TO {db}_app;"));
        self.url(&format!("{db}_app"), "pw", db)
    }

    /// A fresh database `db` owned by its role `<db>_app` (password `pw`); the role's URL.
    pub fn owned(&self, db: &str) -> String {
        self.fresh(db, &format!("{db}_app"), "pw");
        self.admin(db, &format!("ALTER DATABASE {db} OWNER TO {db}_app;"));
        self.url(&format!("{db}_app"), "pw", db)
    }
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
