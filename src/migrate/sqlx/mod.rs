//! The sqlx ledger: `<version>_<description>.sql` files ([`dir`]) and `_sqlx_migrations`
//! ([`ledger`]), written exactly as an app embedding `sqlx::migrate!` writes them.

pub mod dir;
pub mod ledger;

use sqlx::migrate::Migrate;
use sqlx::postgres::PgConnection;

use super::{
    pending, record_applied, record_failure, sql, AfterFailure, Event, MigrateError, MigrateReport,
};

/// `_sqlx_migrations`, created as sqlx creates it.
pub async fn create(conn: &mut PgConnection) -> Result<(), MigrateError> {
    conn.ensure_migrations_table()
        .await
        .map_err(|e| migrate_error("creating _sqlx_migrations", e))
}

/// Apply the pending migrations in order, stopping at the first failure (rolled back). Their
/// descriptions are bound [`sql::NAMES_PER_BINDING`] at a time before the batches that record
/// them.
pub async fn apply_pending(
    conn: &mut PgConnection,
    locals: &[dir::Local],
    report: &mut MigrateReport,
    emit: &mut dyn FnMut(Event),
) -> Result<(), MigrateError> {
    let pending: Vec<(usize, &dir::Local)> = pending(report)
        .into_iter()
        .map(|idx| {
            let version = report.migrations[idx]
                .version
                .expect("sqlx entries have versions");
            let local = locals
                .binary_search_by_key(&version, |l| l.migration.version)
                .map(|i| &locals[i])
                .expect("pending migrations are local");
            (idx, local)
        })
        .collect();
    let total = pending.len();
    let mut timing: Option<ledger::Timing> = None;
    for (c, chunk) in pending.chunks(sql::NAMES_PER_BINDING).enumerate() {
        let descriptions: Vec<&str> = chunk
            .iter()
            .map(|(_, l)| l.migration.description.as_ref())
            .collect();
        sql::bind_names(conn, &descriptions)
            .await
            .map_err(|e| MigrateError::query("binding the migrations' descriptions", &e))?;
        for (index, &(idx, local)) in chunk.iter().enumerate() {
            let n = c * sql::NAMES_PER_BINDING + index;
            let version = local.migration.version;
            let outcome = if local.migration.no_tx {
                // Outside a transaction: sqlx's own apply, statement by statement.
                if let Some(t) = timing.take() {
                    ledger::record_timing(conn, t).await;
                }
                conn.apply(&local.migration).await
            } else {
                ledger::apply_batched(conn, &local.migration, index, timing.take())
                    .await
                    .inspect(|took| {
                        timing = Some(ledger::Timing {
                            version,
                            nanos: i64::try_from(took.as_nanos()).unwrap_or(i64::MAX),
                        });
                    })
                    .map_err(|e| sqlx::migrate::MigrateError::ExecuteMigration(e, version))
            };
            match outcome {
                Ok(took) => record_applied(report, idx, (n, total), took, emit),
                Err(err) => {
                    let error = match &err {
                        sqlx::migrate::MigrateError::ExecuteMigration(e, _)
                        | sqlx::migrate::MigrateError::Execute(e) => match super::conn::db_error(e)
                        {
                            Some((c, m)) => (Some(c), m),
                            None => (None, e.to_string()),
                        },
                        other => (None, other.to_string()),
                    };
                    let file = local.file_name();
                    record_failure(report, idx, n, file, error, AfterFailure::RolledBack, emit);
                    return Ok(());
                }
            }
        }
    }
    if let Some(t) = timing {
        ledger::record_timing(conn, t).await;
    }
    Ok(())
}

fn migrate_error(context: &str, e: sqlx::migrate::MigrateError) -> MigrateError {
    match e {
        sqlx::migrate::MigrateError::Execute(e) => MigrateError::query(context, &e),
        other => MigrateError::Query {
            context: context.into(),
            sqlstate: None,
            message: other.to_string(),
        },
    }
}
