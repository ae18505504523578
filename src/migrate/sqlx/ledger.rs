//! sqlx's ledger: `_sqlx_migrations` read without creating it, rows written exactly as sqlx's
//! `Migrate::apply` writes them (one round trip per migration), the comparison of the
//! migrations directory against it, and `migrate resolve` for a dirty row.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha384};
use sqlx::postgres::PgConnection;
use sqlx::Row;

use super::dir::Local;
use crate::migrate::event::{Resolved, ResolvedHow};
use crate::migrate::sql::bound_name;
use crate::migrate::{Entry, MigrateError, State};

pub const TABLE: &str = "_sqlx_migrations";

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
    if !crate::migrate::table_exists(conn, TABLE).await? {
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
/// `execution_time = -1`; the description taken from the names bound at `index`, see
/// `crate::migrate::sql::bind_names`), the previous migration's execution time, `COMMIT`, sent
/// as one simple-protocol batch. sqlx needs five round trips and two commits for the same rows; at 500
/// migrations the difference is most of the wall time. On failure the transaction is rolled
/// back (the pending timing is written on its own) and the database's error returned.
pub async fn apply_batched(
    conn: &mut PgConnection,
    m: &sqlx::migrate::Migration,
    index: usize,
    previous: Option<Timing>,
) -> Result<Duration, sqlx::Error> {
    use sqlx::Executor;
    let hex = hex::encode(&*m.checksum);
    let mut batch = String::with_capacity(m.sql.len() + 256);
    batch.push_str("BEGIN;\n");
    batch.push_str(&m.sql);
    // A last line comment or a missing `;` must not swallow what follows.
    batch.push_str("\n;\n");
    batch.push_str(&format!(
        "INSERT INTO _sqlx_migrations ( version, description, success, checksum, execution_time ) VALUES ( {}, {}, TRUE, decode('{hex}', 'hex'), -1 );\n",
        m.version,
        bound_name(index)
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
                Some(format!("recorded with success = false (partially applied): fix the database by hand, then `envsync migrate resolve --rolled-back {v}` (it is applied again) or `--applied {v}` (if you completed it)", v = m.version)),
            ),
            Some(a) if a.checksum == m.checksum.as_ref() => (State::Applied, None),
            Some(a) => (State::Modified, Some(modified_note(&m.sql, &a.checksum))),
        };
        out.push(Entry {
            version: Some(m.version),
            name: None,
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
                version: Some(a.version),
                name: None,
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

/// The version `NAME` means: the number itself, or a migration file's name.
fn version_of(name: &str) -> Option<i64> {
    name.parse()
        .ok()
        .or_else(|| name.split_once('_').and_then(|(v, _)| v.parse().ok()))
}

/// `migrate resolve --rolled-back NAME`: a dirty row is deleted, so the next run applies the
/// migration again.
pub async fn resolve_rolled_back(
    conn: &mut PgConnection,
    applied: &[Applied],
    name: &str,
) -> Result<Resolved, MigrateError> {
    let v = version_of(name).ok_or_else(|| not_a_version(name))?;
    match applied.iter().find(|a| a.version == v) {
        Some(a) if !a.success => {
            sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1 AND NOT success")
                .bind(v)
                .execute(&mut *conn)
                .await
                .map_err(|e| MigrateError::query("writing _sqlx_migrations", &e))?;
            Ok(Resolved {
                migration: v.to_string(),
                how: ResolvedHow::DirtyRowDeleted,
            })
        }
        Some(_) => Err(MigrateError::Resolve(format!(
            "{v} is recorded as applied, not dirty: there is nothing to roll back"
        ))),
        None => Err(MigrateError::Resolve(format!(
            "{v} has no row in _sqlx_migrations: there is nothing to roll back"
        ))),
    }
}

/// `migrate resolve --applied NAME`: a dirty row becomes a successful one; a migration with no
/// row is recorded as sqlx records an applied one, without running it.
pub async fn resolve_applied(
    conn: &mut PgConnection,
    locals: &[Local],
    applied: &[Applied],
    name: &str,
) -> Result<Resolved, MigrateError> {
    let v = version_of(name).ok_or_else(|| not_a_version(name))?;
    let q = |e: sqlx::Error| MigrateError::query("writing _sqlx_migrations", &e);
    match applied.iter().find(|a| a.version == v) {
        Some(a) if a.success => Err(MigrateError::Resolve(format!(
            "{v} is already recorded as applied"
        ))),
        Some(_) => {
            sqlx::query("UPDATE _sqlx_migrations SET success = TRUE WHERE version = $1")
                .bind(v)
                .execute(&mut *conn)
                .await
                .map_err(q)?;
            Ok(Resolved {
                migration: v.to_string(),
                how: ResolvedHow::DirtyRowSucceeded,
            })
        }
        None => {
            let Some(l) = locals.iter().find(|l| l.migration.version == v) else {
                return Err(MigrateError::Resolve(format!(
                    "there is no migration {v} in the migrations directory"
                )));
            };
            sqlx::query(
                "INSERT INTO _sqlx_migrations ( version, description, success, checksum, execution_time ) VALUES ( $1, $2, TRUE, $3, -1 )",
            )
            .bind(v)
            .bind(l.migration.description.as_ref())
            .bind(l.migration.checksum.as_ref())
            .execute(&mut *conn)
            .await
            .map_err(q)?;
            Ok(Resolved {
                migration: v.to_string(),
                how: ResolvedHow::RecordedNotRun,
            })
        }
    }
}

fn not_a_version(name: &str) -> MigrateError {
    MigrateError::Resolve(format!(
        "`{name}` names no sqlx migration: give its version (the number before `_`) or its file name"
    ))
}
