//! The privilege preflight: everything the migration user needs, checked as that user,
//! read-only, each missing privilege with the statement an admin would run.

use serde::Serialize;
use sqlx::postgres::PgConnection;
use sqlx::Row;

use super::MigrateError;

/// One privilege the migration user lacks, and the statement an admin would run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Missing {
    pub privilege: String,
    pub fix: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Preflight {
    pub user: String,
    pub database: String,
    pub schema: Option<String>,
    /// The ledger table checked (`_sqlx_migrations` or `_prisma_migrations`).
    pub ledger: String,
    /// Whether the ledger exists (it is never created by the preflight).
    pub ledger_exists: bool,
    pub missing: Vec<Missing>,
}

impl Preflight {
    pub fn ok(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Everything the migration user needs, checked as that user, read-only. `ledger` is the
/// ledger's table; `schema` the schema the URL names (Prisma's `?schema=`), which the session's
/// `search_path` already points at and which a run creates when it does not exist.
pub async fn preflight(
    conn: &mut PgConnection,
    ledger: &str,
    url_schema: Option<&str>,
) -> Result<Preflight, MigrateError> {
    let q = |e: sqlx::Error| MigrateError::query("the privilege preflight", &e);
    let row = sqlx::query(
        "SELECT current_database()::text, current_user::text, current_schema()::text,
                has_database_privilege(current_database(), 'CONNECT'),
                pg_is_in_recovery(), current_setting('transaction_read_only') = 'on',
                quote_ident(current_user), quote_ident(current_database()),
                has_database_privilege(current_database(), 'CREATE'),
                $1::text IS NOT NULL AND to_regnamespace(quote_ident($1::text)) IS NULL",
    )
    .bind(url_schema)
    .fetch_one(&mut *conn)
    .await
    .map_err(q)?;
    let database: String = row.get(0);
    let user: String = row.get(1);
    let schema: Option<String> = row.get(2);
    let (connect, replica, read_only): (bool, bool, bool) = (row.get(3), row.get(4), row.get(5));
    let (role, db): (String, String) = (row.get(6), row.get(7));
    let (create_schemas, schema_absent): (bool, bool) = (row.get(8), row.get(9));
    let mut missing = Vec::new();
    let mut need = |privilege: String, fix: String| missing.push(Missing { privilege, fix });
    if !connect {
        need(
            format!("CONNECT on database {db}"),
            format!("GRANT CONNECT ON DATABASE {db} TO {role};"),
        );
    }
    if replica {
        need(
            "a writable server (this one is a replica in recovery)".into(),
            "-- connect to the primary instead of a replica".into(),
        );
    } else if read_only {
        need(
            "read-write transactions (transaction_read_only is on)".into(),
            format!("ALTER ROLE {role} SET default_transaction_read_only = off;"),
        );
    }
    let mut ledger_exists = false;
    match &schema {
        // The URL's schema does not exist yet: the run creates it, which needs CREATE on the
        // database; there is nothing in it to check.
        None if schema_absent => {
            if !create_schemas {
                let s = super::sql::quote_ident(
                    url_schema.unwrap_or_default(),
                );
                need(
                    format!("CREATE on database {db} (to create schema {s}, which ?schema= names)"),
                    format!("GRANT CREATE ON DATABASE {db} TO {role};  -- or: CREATE SCHEMA {s} AUTHORIZATION {role};"),
                );
            }
        }
        None => need(
            "a schema to create tables in (no schema of search_path exists; current_schema() is NULL, error 3F000)".into(),
            format!("CREATE SCHEMA {role} AUTHORIZATION {role};  -- or: ALTER ROLE {role} SET search_path = public;"),
        ),
        Some(s) => {
            let r = sqlx::query(
                "SELECT has_schema_privilege($1, 'USAGE'), has_schema_privilege($1, 'CREATE'), quote_ident($1)",
            )
            .bind(s)
            .fetch_one(&mut *conn)
            .await
            .map_err(q)?;
            let (usage, create, qs): (bool, bool, String) = (r.get(0), r.get(1), r.get(2));
            if !usage {
                need(format!("USAGE on schema {qs}"), format!("GRANT USAGE ON SCHEMA {qs} TO {role};"));
            }
            if !create {
                need(
                    format!("CREATE on schema {qs} (PostgreSQL 15 no longer grants it on public to every role)"),
                    format!("GRANT CREATE ON SCHEMA {qs} TO {role};  -- or: ALTER DATABASE {db} OWNER TO {role};"),
                );
            }
            // The ledger: each privilege by its own call (a list means "any of"), in one
            // round trip; `CASE` keeps the checks from running on a missing table.
            let r = sqlx::query(
                "SELECT to_regclass($1) IS NOT NULL,
                        coalesce(to_regclass($1)::text, $1),
                        CASE WHEN to_regclass($1) IS NULL THEN true
                             ELSE has_table_privilege(to_regclass($1), 'SELECT') END,
                        CASE WHEN to_regclass($1) IS NULL THEN true
                             ELSE has_table_privilege(to_regclass($1), 'INSERT') END,
                        CASE WHEN to_regclass($1) IS NULL THEN true
                             ELSE has_table_privilege(to_regclass($1), 'UPDATE') END,
                        CASE WHEN to_regclass($1) IS NULL THEN true
                             ELSE has_table_privilege(to_regclass($1), 'DELETE') END",
            )
            .bind(ledger)
            .fetch_one(&mut *conn)
            .await
            .map_err(q)?;
            ledger_exists = r.get(0);
            let table: String = r.get(1);
            for (i, p) in ["SELECT", "INSERT", "UPDATE", "DELETE"].into_iter().enumerate() {
                let has: bool = r.get(2 + i);
                if !has {
                    need(format!("{p} on {table}"), format!("GRANT {p} ON TABLE {table} TO {role};"));
                }
            }
            // Relations of the schema the role cannot act as owner of.
            let rows = sqlx::query(
                "SELECT c.relkind::text, quote_ident(n.nspname) || '.' || quote_ident(c.relname)
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = $1
                    AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                    AND NOT pg_has_role(c.relowner, 'USAGE')
                    AND c.oid IS DISTINCT FROM to_regclass($2)::oid
                    AND NOT (c.relkind = 'S' AND EXISTS (
                          SELECT 1 FROM pg_depend d
                           WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                             AND d.deptype IN ('a', 'i')))
                  ORDER BY 2 LIMIT 100",
            )
            .bind(s)
            .bind(ledger)
            .fetch_all(&mut *conn)
            .await
            .map_err(q)?;
            for r in rows {
                let (kind, name): (String, String) = (r.get(0), r.get(1));
                let what = match kind.as_str() {
                    "v" => "VIEW",
                    "m" => "MATERIALIZED VIEW",
                    "S" => "SEQUENCE",
                    "f" => "FOREIGN TABLE",
                    _ => "TABLE",
                };
                need(
                    format!("ownership of {} {name} (migrations may alter it)", what.to_lowercase()),
                    format!("ALTER {what} {name} OWNER TO {role};"),
                );
            }
        }
    }
    Ok(Preflight {
        user,
        database,
        schema: schema.or_else(|| url_schema.map(str::to_string)),
        ledger: ledger.to_string(),
        ledger_exists,
        missing,
    })
}
