//! The migration lock: concurrent runners and a lock held by another session.

use super::{count, ledger_exists, migrate, migrations};
use crate::common::envsync;
use crate::pg::{block_on, cluster};

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
