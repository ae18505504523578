//! The Prisma ledger: GPROD's real migrations (`prisma/migrations/<name>/migration.sql`) and
//! `_prisma_migrations`, kept so that the real `prisma migrate status` and `deploy` agree with
//! envsync about what is applied.

pub mod dir;
pub mod ledger;
pub mod statements;

use sqlx::postgres::PgConnection;

use super::{
    pending, record_applied, record_failure, AfterFailure, Event, MigrateError, MigrateReport,
};

/// Apply the pending migrations in name order, stopping at the first failure.
pub async fn apply_pending(
    conn: &mut PgConnection,
    locals: &[dir::Local],
    report: &mut MigrateReport,
    emit: &mut dyn FnMut(Event),
) -> Result<(), MigrateError> {
    let pending = pending(report);
    let total = pending.len();
    for (n, idx) in pending.into_iter().enumerate() {
        let name = report.migrations[idx]
            .name
            .clone()
            .expect("Prisma entries have names");
        let local = ledger::find(locals, &name).expect("pending migrations are local");
        match ledger::apply(conn, local).await? {
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
    Ok(())
}
