//! The Prisma ledger: GPROD's real migrations (`prisma/migrations/<name>/migration.sql`) and
//! `_prisma_migrations`, kept so that the real `prisma migrate status` and `deploy` agree with
//! envsync about what is applied.

pub mod dir;
pub mod ledger;
pub mod statements;

use sqlx::postgres::PgConnection;

use super::{pending, record_applied, record_failure, MigrateError, MigrateReport, Note};

/// Apply the pending migrations in name order, stopping at the first failure.
pub async fn apply_pending(
    conn: &mut PgConnection,
    locals: &[dir::Local],
    report: &mut MigrateReport,
    note: &mut dyn FnMut(Note),
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
            ledger::Applied::Done(took) => record_applied(report, idx, (n, total), took, note),
            ledger::Applied::Failed {
                sqlstate,
                message,
                row_left,
            } => {
                let after = if row_left {
                    "it ran outside a transaction (as Prisma runs such files), so what ran before the error stays and its failed row blocks later runs until `envsync migrate resolve`"
                } else {
                    "rolled back, no row written"
                };
                record_failure(
                    report,
                    idx,
                    n,
                    local.file_name(),
                    (sqlstate, message),
                    after,
                    note,
                );
                return Ok(());
            }
        }
    }
    Ok(())
}
