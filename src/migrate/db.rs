//! Talking to PostgreSQL: one dedicated connection, the privilege preflight, sqlx's advisory
//! lock taken with a deadline, and the `_sqlx_migrations` ledger.

use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Row};

use super::MigrateError;

/// One connection attempt may take this long before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where we connect, for messages (never the password).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub route: String,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{} (route {})", self.host, self.port, self.route)
    }
}

/// The SQLSTATE and message of a database error, if it is one.
pub fn db_error(e: &sqlx::Error) -> Option<(String, String)> {
    e.as_database_error().map(|d| {
        (
            d.code().map(|c| c.into_owned()).unwrap_or_default(),
            d.message().to_string(),
        )
    })
}

/// Worth retrying while `--wait` lasts: the server is not there yet, or is starting.
fn retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        _ => db_error(e).is_some_and(|(code, _)| code == "57P03"),
    }
}

/// Advice for a failed connection.
fn connect_hint(e: &sqlx::Error, ep: &Endpoint) -> String {
    if let Some((code, _)) = db_error(e) {
        return match code.as_str() {
            "28P01" => "wrong password for this user: compare POSTGRES_PASSWORD with the database (an initialised volume keeps its first password; see ALTER ROLE)".into(),
            "28000" => "the role does not exist or pg_hba.conf rejects it".into(),
            "3D000" => "the database does not exist: check POSTGRES_DB".into(),
            "57P03" => "the server is starting up: retry with --wait 30".into(),
            _ => String::new(),
        };
    }
    let text = e.to_string().to_lowercase();
    if text.contains("failed to lookup")
        || text.contains("name or service not known")
        || text.contains("resolve")
    {
        return format!(
            "`{}` does not resolve here: it is a compose service name, reachable only inside the compose network. Use --via host (the published port on 127.0.0.1) or --via docker",
            ep.host
        );
    }
    if text.contains("refused") {
        return "nothing listens there: is the database container up (docker compose ps)? --wait SECS retries while it starts".into();
    }
    String::new()
}

/// Connect once, or keep retrying until `wait` runs out.
pub async fn connect(
    url: &str,
    ep: &Endpoint,
    wait: Option<Duration>,
    note: &mut dyn FnMut(super::Note),
) -> Result<PgConnection, MigrateError> {
    let opts = PgConnectOptions::from_str(url)
        .map_err(|e| {
            MigrateError::Url(format!(
                "the database URL does not parse: {}",
                crate::secret::sanitize(&strip_url(&e.to_string()))
            ))
        })?
        .application_name("envsync migrate");
    let deadline = wait.map(|w| Instant::now() + w);
    let mut announced = false;
    let mut pause = Duration::from_millis(100);
    loop {
        let attempt = tokio::time::timeout(CONNECT_TIMEOUT, opts.connect()).await;
        let err = match attempt {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(e)) => e,
            Err(_) => sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            )),
        };
        let can_retry = retryable(&err) && deadline.is_some_and(|d| Instant::now() + pause < d);
        if !can_retry {
            let (sqlstate, message) = match db_error(&err) {
                Some((c, m)) => (Some(c), m),
                None => (None, strip_url(&err.to_string())),
            };
            return Err(MigrateError::Connect {
                endpoint: ep.to_string(),
                sqlstate,
                message,
                hint: connect_hint(&err, ep),
            });
        }
        if !announced {
            note(super::Note::info(format!(
                "waiting for the database at {ep}: {}",
                strip_url(&err.to_string())
            )));
            announced = true;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Error texts from drivers may quote the URL; cut anything that looks like one.
fn strip_url(s: &str) -> String {
    s.split_whitespace()
        .map(|w| if w.contains("://") { "<url>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

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
    /// Whether `_sqlx_migrations` exists (it is never created by the preflight).
    pub ledger_exists: bool,
    pub missing: Vec<Missing>,
}

impl Preflight {
    pub fn ok(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Everything the migration user needs, checked as that user, read-only.
pub async fn preflight(conn: &mut PgConnection) -> Result<Preflight, MigrateError> {
    let q = |e: sqlx::Error| MigrateError::query("the privilege preflight", &e);
    let row = sqlx::query(
        "SELECT current_database()::text, current_user::text, current_schema()::text,
                has_database_privilege(current_database(), 'CONNECT'),
                pg_is_in_recovery(), current_setting('transaction_read_only') = 'on',
                quote_ident(current_user), quote_ident(current_database())",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(q)?;
    let database: String = row.get(0);
    let user: String = row.get(1);
    let schema: Option<String> = row.get(2);
    let (connect, replica, read_only): (bool, bool, bool) = (row.get(3), row.get(4), row.get(5));
    let (role, db): (String, String) = (row.get(6), row.get(7));
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
                "SELECT to_regclass('_sqlx_migrations') IS NOT NULL,
                        coalesce(to_regclass('_sqlx_migrations')::text, '_sqlx_migrations'),
                        CASE WHEN to_regclass('_sqlx_migrations') IS NULL THEN true
                             ELSE has_table_privilege(to_regclass('_sqlx_migrations'), 'SELECT') END,
                        CASE WHEN to_regclass('_sqlx_migrations') IS NULL THEN true
                             ELSE has_table_privilege(to_regclass('_sqlx_migrations'), 'INSERT') END,
                        CASE WHEN to_regclass('_sqlx_migrations') IS NULL THEN true
                             ELSE has_table_privilege(to_regclass('_sqlx_migrations'), 'UPDATE') END,
                        CASE WHEN to_regclass('_sqlx_migrations') IS NULL THEN true
                             ELSE has_table_privilege(to_regclass('_sqlx_migrations'), 'DELETE') END",
            )
            .fetch_one(&mut *conn)
            .await
            .map_err(q)?;
            ledger_exists = r.get(0);
            let ledger: String = r.get(1);
            for (i, p) in ["SELECT", "INSERT", "UPDATE", "DELETE"].into_iter().enumerate() {
                let has: bool = r.get(2 + i);
                if !has {
                    need(format!("{p} on {ledger}"), format!("GRANT {p} ON TABLE {ledger} TO {role};"));
                }
            }
            // Relations of the schema the role cannot act as owner of.
            let rows = sqlx::query(
                "SELECT c.relkind::text, quote_ident(n.nspname) || '.' || quote_ident(c.relname)
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = $1
                    AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                    AND NOT pg_has_role(c.relowner, 'USAGE')
                    AND c.oid IS DISTINCT FROM to_regclass('_sqlx_migrations')::oid
                    AND NOT (c.relkind = 'S' AND EXISTS (
                          SELECT 1 FROM pg_depend d
                           WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                             AND d.deptype IN ('a', 'i')))
                  ORDER BY 2 LIMIT 100",
            )
            .bind(s)
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
        schema,
        ledger_exists,
        missing,
    })
}

/// sqlx's advisory-lock key: `0x3d32ad9e * crc32(current_database())`.
pub fn lock_key(database: &str) -> i64 {
    const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    0x3d32ad9e * i64::from(CRC.checksum(database.as_bytes()))
}

/// Who holds the lock: `pid 123 (user app, application "envsync migrate", since …)`.
async fn holder(conn: &mut PgConnection, key: i64) -> Option<String> {
    let row = sqlx::query(
        "SELECT a.pid, coalesce(a.usename::text, '?'), coalesce(a.application_name, ''),
                coalesce(host(a.client_addr), 'local socket'),
                coalesce(to_char(a.xact_start, 'YYYY-MM-DD HH24:MI:SS TZ'), to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), '?')
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND ((l.classid::bigint << 32) | l.objid::bigint) = $1
          LIMIT 1",
    )
    .bind(key)
    .fetch_optional(conn)
    .await
    .ok()??;
    let pid: i32 = row.get(0);
    let (user, app, from, since): (String, String, String, String) =
        (row.get(1), row.get(2), row.get(3), row.get(4));
    Some(format!(
        "pid {pid} (user {user}, application \"{app}\", from {from}, since {since})"
    ))
}

/// Take sqlx's migration lock, polling with `pg_try_advisory_lock` until `timeout`.
pub async fn lock(
    conn: &mut PgConnection,
    database: &str,
    timeout: Duration,
    note: &mut dyn FnMut(super::Note),
) -> Result<i64, MigrateError> {
    let key = lock_key(database);
    let deadline = Instant::now() + timeout;
    let mut told: Option<String> = None;
    let mut pause = Duration::from_millis(50);
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| MigrateError::query("taking the migration lock", &e))?;
        if got {
            return Ok(key);
        }
        let who = holder(conn, key)
            .await
            .unwrap_or_else(|| "another session".into());
        if Instant::now() >= deadline {
            return Err(MigrateError::LockTimeout {
                seconds: timeout.as_secs(),
                holder: who,
            });
        }
        if told.as_deref() != Some(who.as_str()) {
            note(super::Note::info(format!(
                "waiting up to {} s for the migration lock held by {who}",
                timeout.as_secs()
            )));
            told = Some(who);
        }
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

pub async fn unlock(conn: &mut PgConnection, key: i64) {
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(conn)
        .await;
}

/// A ledger row.
#[derive(Debug, Clone)]
pub struct Applied {
    pub version: i64,
    pub description: String,
    pub checksum: Vec<u8>,
    pub success: bool,
}

/// The ledger, read without creating it (`None` when it does not exist).
pub async fn ledger(conn: &mut PgConnection) -> Result<Option<Vec<Applied>>, MigrateError> {
    let q = |e: sqlx::Error| MigrateError::query("reading _sqlx_migrations", &e);
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await
        .map_err(q)?;
    if !exists {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT version, description, checksum, success FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(q)?;
    Ok(Some(
        rows.into_iter()
            .map(|r| Applied {
                version: r.get(0),
                description: r.get(1),
                checksum: r.get(2),
                success: r.get(3),
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_key_is_sqlx_s() {
        // crc32("postgres") = 0x156a8775 (CRC-32/ISO-HDLC, as zlib computes it).
        assert_eq!(lock_key("postgres"), 0x3d32ad9e * 0x156a8775_i64);
        assert!(lock_key("gprod_prod") > 0);
    }

    #[test]
    fn urls_are_cut_out_of_driver_messages() {
        assert_eq!(strip_url("bad postgres://u:pw@h/x here"), "bad <url> here");
    }
}

/// A ledger row's `execution_time`, recorded after the fact (as sqlx does).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub version: i64,
    pub nanos: i64,
}

fn update_timing(t: Timing) -> String {
    format!(
        "UPDATE _sqlx_migrations SET execution_time = {} WHERE version = {};\n",
        t.nanos, t.version
    )
}

/// Apply one transactional migration in a single round trip: `BEGIN`, the migration, the
/// ledger row exactly as sqlx's `Migrate::apply` writes it (`success = TRUE`,
/// `execution_time = -1`), the previous migration's execution time, `COMMIT`, sent as one
/// simple-protocol batch. sqlx needs five round trips and two commits for the same rows; at 500
/// migrations the difference is most of the wall time. On failure the transaction is rolled
/// back (the pending timing is written on its own) and the database's error returned.
pub async fn apply_batched(
    conn: &mut PgConnection,
    m: &sqlx::migrate::Migration,
    previous: Option<Timing>,
) -> Result<Duration, sqlx::Error> {
    use sqlx::Executor;
    let hex: String = m.checksum.iter().map(|b| format!("{b:02x}")).collect();
    let mut batch = String::with_capacity(m.sql.len() + 256);
    batch.push_str("BEGIN;\n");
    batch.push_str(&m.sql);
    // A last line comment or a missing `;` must not swallow what follows.
    batch.push_str("\n;\n");
    batch.push_str(&format!(
        "INSERT INTO _sqlx_migrations ( version, description, success, checksum, execution_time ) VALUES ( {}, {}, TRUE, decode('{hex}', 'hex'), -1 );\n",
        m.version,
        dollar_quote(&m.description)
    ));
    if let Some(t) = previous {
        batch.push_str(&update_timing(t));
    }
    batch.push_str("COMMIT;");
    let start = Instant::now();
    match conn.execute(sqlx::raw_sql(&batch)).await {
        Ok(_) => Ok(start.elapsed()),
        Err(e) => {
            let _ = conn.execute("ROLLBACK").await;
            if let Some(t) = previous {
                let _ = conn.execute(sqlx::raw_sql(&update_timing(t))).await;
            }
            Err(e)
        }
    }
}

/// Write a timing that no later batch carried.
pub async fn record_timing(conn: &mut PgConnection, t: Timing) {
    use sqlx::Executor;
    let _ = conn.execute(sqlx::raw_sql(&update_timing(t))).await;
}

/// A dollar-quoted literal whose tag does not occur in `s`.
fn dollar_quote(s: &str) -> String {
    let mut tag = String::from("envsync");
    while s.contains(&format!("${tag}$")) {
        tag.push('_');
    }
    format!("${tag}${s}${tag}$")
}
