//! Prisma's ledger, `_prisma_migrations`, written the way `prisma migrate deploy` and
//! `prisma migrate resolve` write it: a UUID v4 `id`, the SHA-256 `checksum`, `started_at` and
//! `finished_at`, `applied_steps_count = 1`; a failed migration keeps its row with
//! `finished_at` NULL until it is resolved. Unqualified names resolve in the session's
//! `search_path`, which the caller sets to the URL's `?schema=`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor, Row};

use super::dir::{checksum, Local};
use crate::migrate::conn::db_error;
use crate::migrate::event::{Resolved, ResolvedHow};
use crate::migrate::sql::{bound_name, is_own_literal, quote_ident};
use crate::migrate::{Entry, MigrateError, State};

pub const TABLE: &str = "_prisma_migrations";

/// Prisma's advisory lock key: envsync and `prisma migrate deploy` never run at once.
pub const LOCK_KEY: i64 = 72707369;

/// Prisma's DDL for the ledger.
const CREATE: &str = "CREATE TABLE IF NOT EXISTS \"_prisma_migrations\" (
    \"id\"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    \"checksum\"              VARCHAR(64) NOT NULL,
    \"finished_at\"           TIMESTAMPTZ,
    \"migration_name\"        VARCHAR(255) NOT NULL,
    \"logs\"                  TEXT,
    \"rolled_back_at\"        TIMESTAMPTZ,
    \"started_at\"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    \"applied_steps_count\"   INTEGER NOT NULL DEFAULT 0
)";

/// A ledger row.
#[derive(Debug, Clone)]
pub struct LedgerRow {
    pub id: String,
    pub checksum: String,
    pub name: String,
    pub finished: bool,
    pub rolled_back: bool,
}

/// The ledger, read without creating it (`None` when it does not exist).
pub async fn read(conn: &mut PgConnection) -> Result<Option<Vec<LedgerRow>>, MigrateError> {
    let q = |e: sqlx::Error| MigrateError::query("reading _prisma_migrations", &e);
    if !crate::migrate::table_exists(conn, TABLE).await? {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT id::text, checksum::text, migration_name::text, finished_at IS NOT NULL,
                rolled_back_at IS NOT NULL
           FROM _prisma_migrations ORDER BY started_at, id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(q)?;
    Ok(Some(
        rows.into_iter()
            .map(|r| LedgerRow {
                id: r.get(0),
                checksum: r.get(1),
                name: r.get(2),
                finished: r.get(3),
                rolled_back: r.get(4),
            })
            .collect(),
    ))
}

/// The schema the URL names (created if absent, as Prisma does) and the ledger in it.
pub async fn create(conn: &mut PgConnection, schema: Option<&str>) -> Result<(), MigrateError> {
    let q = |e: sqlx::Error| MigrateError::query("creating _prisma_migrations", &e);
    if let Some(s) = schema {
        // `CREATE SCHEMA IF NOT EXISTS` wants CREATE on the database even when the schema is
        // there: ask first.
        let absent: bool = sqlx::query_scalar("SELECT to_regnamespace(quote_ident($1)) IS NULL")
            .bind(s)
            .fetch_one(&mut *conn)
            .await
            .map_err(q)?;
        if absent {
            conn.execute(sqlx::raw_sql(&format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                quote_ident(s)
            )))
            .await
            .map_err(q)?;
        }
    }
    conn.execute(CREATE).await.map_err(q)?;
    Ok(())
}

/// `20250503123000_add_refresh_token` → `add refresh token`.
fn description(name: &str) -> String {
    name.split_once('_')
        .map_or(name, |(_, rest)| rest)
        .replace('_', " ")
}

/// The local migration `name`; `locals` is in byte order of the names, as [`super::dir`] reads it.
pub fn find<'l>(locals: &'l [Local], name: &str) -> Option<&'l Local> {
    locals
        .binary_search_by(|l| l.name.as_str().cmp(name))
        .ok()
        .map(|i| &locals[i])
}

/// The rows that count: rolled-back ones are history.
fn live<'r>(rows: &'r [LedgerRow], name: &'r str) -> impl Iterator<Item = &'r LedgerRow> {
    rows.iter()
        .filter(move |r| r.name == name && !r.rolled_back)
}

/// The migrations directory against the ledger, in name order.
pub fn compare(locals: &[Local], rows: &[LedgerRow]) -> Vec<Entry> {
    let entry = |name: &str, file: Option<String>, state: State, note: Option<String>| Entry {
        version: None,
        name: Some(name.to_string()),
        description: description(name),
        file,
        state,
        duration_ms: None,
        note,
    };
    // The live rows of each name, in one pass over the ledger (not one per migration).
    let mut by_name: BTreeMap<&str, Vec<&LedgerRow>> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.rolled_back) {
        by_name.entry(r.name.as_str()).or_default().push(r);
    }
    let mut out: Vec<Entry> = Vec::new();
    for l in locals {
        let here = by_name.remove(l.name.as_str()).unwrap_or_default();
        let done = here.iter().find(|r| r.finished);
        let failed = here.iter().any(|r| !r.finished);
        let (state, note) = match done {
            Some(r) if r.checksum == l.checksum => (State::Applied, None),
            Some(r) => (State::Modified, Some(modified_note(l, &r.checksum))),
            None if failed => (State::Dirty, Some(failed_note(&l.name))),
            None => (State::Pending, None),
        };
        out.push(entry(&l.name, Some(l.file_name()), state, note));
    }
    // What is left has no directory.
    for (name, here) in by_name {
        let finished = here.iter().any(|r| r.finished);
        out.push(if finished {
            entry(
                name,
                None,
                State::Missing,
                Some("applied to the database, but its directory is gone from prisma/migrations; restore it from version control".into()),
            )
        } else {
            entry(name, None, State::Dirty, Some(failed_note(name)))
        });
    }
    out.sort_by(|a, b| {
        a.name
            .as_deref()
            .map(str::as_bytes)
            .cmp(&b.name.as_deref().map(str::as_bytes))
    });
    out
}

fn failed_note(name: &str) -> String {
    format!(
        "recorded as failed (finished_at is NULL; Prisma's P3009): nothing is applied until it is resolved. \
         If it left nothing behind, or after you undid what it did: `envsync migrate resolve --rolled-back {name}` (it is applied again); \
         if you completed it by hand: `envsync migrate resolve --applied {name}`"
    )
}

fn modified_note(l: &Local, applied: &str) -> String {
    let lf = l.sql.replace("\r\n", "\n");
    let crlf = lf.replace('\n', "\r\n");
    let ending = if checksum(lf.as_bytes()) == applied {
        "only line endings differ: it was applied with LF and now has CRLF (check core.autocrlf / .gitattributes); restore LF. "
    } else if checksum(crlf.as_bytes()) == applied {
        "only line endings differ: it was applied with CRLF and now has LF (check core.autocrlf / .gitattributes); restore CRLF. "
    } else {
        "the file changed after it was applied (its SHA-256 differs from the ledger's; `prisma migrate deploy` would not notice). "
    };
    format!(
        "{ending}Restore the applied version and put the change in a new migration; to accept the file as it is now on purpose, \
         record its checksum: UPDATE _prisma_migrations SET checksum = '{}' WHERE migration_name = '{}' AND finished_at IS NOT NULL;",
        l.checksum,
        l.name.replace('\'', "''")
    )
}

/// How one migration ended.
#[derive(Debug)]
pub enum Applied {
    Done(Duration),
    /// The database refused it. `row_left`: a failed row stays in the ledger (only for files
    /// run outside a transaction, as Prisma would leave it).
    Failed {
        sqlstate: Option<String>,
        message: String,
        row_left: bool,
    },
}

/// Apply one migration. In one transaction with its ledger row, sent as one batch; the row's
/// name is taken from the names bound at `index` (`crate::migrate::sql::bind_names`), never
/// written into the batch. A file PostgreSQL refuses inside a transaction (SQLSTATE 25001,
/// e.g. `CREATE INDEX CONCURRENTLY`) is run the way Prisma runs it: the row first, then
/// statement by statement, the row finished on success or left failed with the error in `logs`.
pub async fn apply(
    conn: &mut PgConnection,
    l: &Local,
    index: usize,
) -> Result<Applied, MigrateError> {
    let id = uuid::Uuid::new_v4().to_string();
    // The id is a UUID made here and the checksum hex digits: envsync's own literals.
    debug_assert!(is_own_literal(&id) && is_own_literal(&l.checksum));
    let mut batch = String::with_capacity(l.sql.len() + 400);
    batch.push_str("BEGIN;\n");
    batch.push_str(&l.sql);
    // A last line comment or a missing `;` must not swallow what follows.
    batch.push_str("\n;\n");
    batch.push_str(&format!(
        "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) \
         VALUES ('{id}', '{}', clock_timestamp(), {}, NULL, NULL, now(), 1);\nCOMMIT;",
        l.checksum,
        bound_name(index)
    ));
    let start = Instant::now();
    match conn.execute(sqlx::raw_sql(&batch)).await {
        Ok(_) => Ok(Applied::Done(start.elapsed())),
        Err(e) => {
            let _ = conn.execute("ROLLBACK").await;
            match db_error(&e) {
                Some((code, _)) if code == "25001" => apply_outside_transaction(conn, l, &id).await,
                Some((code, message)) => Ok(Applied::Failed {
                    sqlstate: Some(code),
                    message,
                    row_left: false,
                }),
                None => Err(MigrateError::query(
                    &format!("applying {}", l.file_name()),
                    &e,
                )),
            }
        }
    }
}

async fn apply_outside_transaction(
    conn: &mut PgConnection,
    l: &Local,
    id: &str,
) -> Result<Applied, MigrateError> {
    let q = |e: sqlx::Error| MigrateError::query("writing _prisma_migrations", &e);
    let start = Instant::now();
    sqlx::query(
        "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())",
    )
    .bind(id)
    .bind(&l.checksum)
    .bind(&l.name)
    .execute(&mut *conn)
    .await
    .map_err(q)?;
    for statement in super::statements::split(&l.sql) {
        if let Err(e) = conn.execute(sqlx::raw_sql(statement)).await {
            let (sqlstate, message) = match db_error(&e) {
                Some((c, m)) => (Some(c), m),
                None => (None, e.to_string()),
            };
            let logs = format!(
                "Database error code: {}\n\nDatabase error:\n{message}\n",
                sqlstate.as_deref().unwrap_or("none")
            );
            sqlx::query("UPDATE _prisma_migrations SET logs = $1 WHERE id = $2")
                .bind(logs)
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(q)?;
            return Ok(Applied::Failed {
                sqlstate,
                message,
                row_left: true,
            });
        }
    }
    sqlx::query(
        "UPDATE _prisma_migrations SET applied_steps_count = applied_steps_count + 1, finished_at = clock_timestamp() WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(q)?;
    Ok(Applied::Done(start.elapsed()))
}

/// `migrate resolve --rolled-back NAME`: the failed rows of `name` are marked rolled back, so
/// the next run applies it again (`prisma migrate resolve --rolled-back`).
pub async fn resolve_rolled_back(
    conn: &mut PgConnection,
    rows: &[LedgerRow],
    name: &str,
) -> Result<Resolved, MigrateError> {
    let failed: Vec<&str> = live(rows, name)
        .filter(|r| !r.finished)
        .map(|r| r.id.as_str())
        .collect();
    if failed.is_empty() {
        return Err(MigrateError::Resolve(
            if live(rows, name).any(|r| r.finished) {
                format!("{name} is recorded as applied, not failed: there is nothing to roll back (Prisma's P3012)")
            } else {
                format!("{name} has no failed row in _prisma_migrations: there is nothing to roll back (Prisma's P3011)")
            },
        ));
    }
    sqlx::query("UPDATE _prisma_migrations SET rolled_back_at = now() WHERE id = ANY($1)")
        .bind(&failed)
        .execute(&mut *conn)
        .await
        .map_err(|e| MigrateError::query("writing _prisma_migrations", &e))?;
    Ok(Resolved {
        migration: name.to_string(),
        how: ResolvedHow::FailedRowsRolledBack,
    })
}

/// `migrate resolve --applied NAME`: record `name` as applied without running it; its failed
/// rows are marked rolled back (`prisma migrate resolve --applied`).
pub async fn resolve_applied(
    conn: &mut PgConnection,
    locals: &[Local],
    rows: &[LedgerRow],
    name: &str,
) -> Result<Resolved, MigrateError> {
    let Some(l) = find(locals, name) else {
        return Err(MigrateError::Resolve(format!(
            "there is no migration {name} in prisma/migrations (Prisma's P3017); name a directory of it"
        )));
    };
    if live(rows, name).any(|r| r.finished) {
        return Err(MigrateError::Resolve(format!(
            "{name} is already recorded as applied (Prisma's P3008)"
        )));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let q = |e: sqlx::Error| MigrateError::query("writing _prisma_migrations", &e);
    let mut tx = conn.begin().await.map_err(q)?;
    sqlx::query(
        "UPDATE _prisma_migrations SET rolled_back_at = now()
          WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL",
    )
    .bind(name)
    .execute(&mut *tx)
    .await
    .map_err(q)?;
    sqlx::query(
        "INSERT INTO _prisma_migrations (id, checksum, logs, started_at, finished_at, migration_name)
         VALUES ($1, $2, '', now(), now(), $3)",
    )
    .bind(&id)
    .bind(&l.checksum)
    .bind(name)
    .execute(&mut *tx)
    .await
    .map_err(q)?;
    tx.commit().await.map_err(q)?;
    Ok(Resolved {
        migration: name.to_string(),
        how: ResolvedHow::RecordedNotRun,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn local(name: &str, sql: &str) -> Local {
        Local {
            name: name.into(),
            path: PathBuf::from(name),
            sql: sql.into(),
            checksum: checksum(sql.as_bytes()),
        }
    }

    fn row(name: &str, sum: &str, finished: bool, rolled_back: bool) -> LedgerRow {
        LedgerRow {
            id: format!("{name}-{finished}-{rolled_back}"),
            checksum: sum.into(),
            name: name.into(),
            finished,
            rolled_back,
        }
    }

    #[test]
    fn the_ledger_decides_each_state() {
        let a = local("1_a", "SELECT 1;\n");
        let b = local("2_b", "SELECT 2;\n");
        let c = local("3_c", "SELECT 3;\n");
        let d = local("4_d", "SELECT 4;\n");
        let rows = vec![
            row("1_a", &a.checksum, true, false),
            // failed, then rolled back and applied again
            row("2_b", &b.checksum, false, true),
            row("2_b", &checksum(b"SELECT 2;\r\n"), true, false),
            row("3_c", &c.checksum, false, false),
            row("0_gone", "x", true, false),
        ];
        let states: Vec<(String, State)> = compare(&[a, b, c, d], &rows)
            .into_iter()
            .map(|e| (e.name.unwrap(), e.state))
            .collect();
        assert_eq!(
            states,
            [
                ("0_gone".to_string(), State::Missing),
                ("1_a".into(), State::Applied),
                ("2_b".into(), State::Modified),
                ("3_c".into(), State::Dirty),
                ("4_d".into(), State::Pending),
            ]
        );
    }

    #[test]
    fn a_line_ending_change_is_named() {
        let l = local("1_a", "SELECT 1;\r\n");
        let note = modified_note(&l, &checksum(b"SELECT 1;\n"));
        assert!(
            note.starts_with("only line endings differ: it was applied with LF"),
            "{note}"
        );
    }
}
