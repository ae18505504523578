//! The ledger: `_sqlx_migrations` read without creating it, rows written exactly as sqlx's
//! `Migrate::apply` writes them (one round trip per migration), and the comparison of the
//! migrations directory against it.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha384};
use sqlx::postgres::PgConnection;
use sqlx::Row;

use super::dir::Local;
use super::{Entry, MigrateError, State};

/// A ledger row.
#[derive(Debug, Clone)]
pub struct Applied {
    pub version: i64,
    pub description: String,
    pub checksum: Vec<u8>,
    pub success: bool,
}

/// The ledger, read without creating it (`None` when it does not exist).
pub async fn read(conn: &mut PgConnection) -> Result<Option<Vec<Applied>>, MigrateError> {
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

/// Local files against the ledger; both come sorted by version (the directory is read into a
/// `BTreeMap`, the ledger `ORDER BY version`), so lookups are binary searches.
pub fn compare(locals: &[Local], applied: &[Applied]) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for l in locals {
        let m = &l.migration;
        let found = applied.binary_search_by_key(&m.version, |a| a.version);
        let (state, note) = match found.ok().map(|i| &applied[i]) {
            None => (State::Pending, None),
            Some(a) if !a.success => (
                State::Dirty,
                Some("recorded with success = false (partially applied); fix the database by hand, then delete its row from _sqlx_migrations".to_string()),
            ),
            Some(a) if a.checksum == m.checksum.as_ref() => (State::Applied, None),
            Some(a) => (State::Modified, Some(modified_note(&m.sql, &a.checksum))),
        };
        out.push(Entry {
            version: m.version,
            description: m.description.to_string(),
            file: Some(l.file_name()),
            state,
            duration_ms: None,
            note,
        });
    }
    for a in applied {
        if locals
            .binary_search_by_key(&a.version, |l| l.migration.version)
            .is_err()
        {
            out.push(Entry {
                version: a.version,
                description: a.description.clone(),
                file: None,
                state: State::Missing,
                duration_ms: None,
                note: Some(
                    "applied to the database, but its file is gone from the migrations directory"
                        .into(),
                ),
            });
        }
    }
    out.sort_by_key(|e| e.version);
    out
}

fn modified_note(sql: &str, applied: &[u8]) -> String {
    let lf = sql.replace("\r\n", "\n");
    let crlf = lf.replace('\n', "\r\n");
    let same = |s: &str| Sha384::digest(s.as_bytes()).as_slice() == applied;
    if same(&lf) {
        "only line endings differ: it was applied with LF and now has CRLF (check core.autocrlf / .gitattributes); restore LF".into()
    } else if same(&crlf) {
        "only line endings differ: it was applied with CRLF and now has LF (check core.autocrlf / .gitattributes); restore CRLF".into()
    } else {
        "the file changed after it was applied (checksum differs); restore it and put the change in a new migration".into()
    }
}
