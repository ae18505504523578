//! Privilege preflight: `public` without CREATE, then the ledger privileges one by one.

use super::{count, ledger_exists, migrate, migrations};
use crate::pg::cluster;

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
