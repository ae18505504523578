//! The Prisma ledger: GPROD's real migrations (`prisma/migrations/<name>/migration.sql`) and
//! `_prisma_migrations`, kept so that the real `prisma migrate status` and `deploy` agree with
//! envsync about what is applied.

pub mod dir;
pub mod ledger;
pub mod statements;

use sqlx::postgres::PgConnection;

use super::{
    pending, record_applied, record_failure, sql, AfterFailure, Event, MigrateError, MigrateReport,
};

/// Apply the pending migrations in name order, stopping at the first failure. Their names are
/// bound [`sql::NAMES_PER_BINDING`] at a time before the batches that record them.
pub async fn apply_pending(
    conn: &mut PgConnection,
    locals: &[dir::Local],
    report: &mut MigrateReport,
    emit: &mut dyn FnMut(Event),
) -> Result<(), MigrateError> {
    let pending: Vec<(usize, &dir::Local)> = pending(report)
        .into_iter()
        .map(|idx| {
            let name = report.migrations[idx]
                .name
                .as_deref()
                .expect("Prisma entries have names");
            let local = ledger::find(locals, name).expect("pending migrations are local");
            (idx, local)
        })
        .collect();
    let total = pending.len();
    for (c, chunk) in pending.chunks(sql::NAMES_PER_BINDING).enumerate() {
        let names: Vec<&str> = chunk.iter().map(|(_, l)| l.name.as_str()).collect();
        sql::bind_names(conn, &names)
            .await
            .map_err(|e| MigrateError::query("binding the migrations' names", &e))?;
        for (i, &(idx, local)) in chunk.iter().enumerate() {
            let n = c * sql::NAMES_PER_BINDING + i;
            match ledger::apply(conn, local, i).await? {
                ledger::Applied::Done(took) => record_applied(report, idx, (n, total), took, emit),
                ledger::Applied::Failed {
                    sqlstate,
                    message,
                    row_left,
                } => {
                    let after = if row_left {
                        AfterFailure::FailedRowLeft
                    } else {
                        AfterFailure::RolledBackNoRow
                    };
                    record_failure(
                        report,
                        idx,
                        n,
                        local.file_name(),
                        (sqlstate, message),
                        after,
                        emit,
                    );
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}
