//! `migrate` against a real PostgreSQL 15 cluster started by the tests (see `pg.rs`).

mod backup;
mod concurrency;
mod connection;
mod kubernetes;
mod ledger;
mod preflight;
mod routes;

use std::fs;
use std::path::Path;

use crate::common::{envsync, run, Run};
use crate::pg::cluster;

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
