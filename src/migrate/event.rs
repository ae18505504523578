//! What a `migrate` run reports while it works: typed events, emitted as they happen into the
//! caller's sink. `crate::render::migrate` turns them into progress lines (stdout, or stderr
//! under `--format json`); nothing here is prose.

use std::path::PathBuf;
use std::time::Duration;

use super::backup::Backup;
use super::preflight::Preflight;
use super::route::Route;
use super::State;

/// One step of a run.
#[derive(Debug, Clone)]
pub enum Event {
    /// The route and the target, decided before connecting.
    Route {
        route: Route,
        /// The URL with its password masked.
        target: String,
        origin: String,
    },
    /// The database does not answer yet; `--wait` keeps retrying (reported once).
    WaitingForDatabase { endpoint: String, reason: String },
    /// Another session holds the migration lock (reported each time the holder changes).
    WaitingForLock {
        lock: &'static str,
        holder: String,
        timeout: Duration,
    },
    /// The privilege preflight ran (passed or refused, with each missing privilege).
    Preflight {
        preflight: Preflight,
        ledger_table: &'static str,
    },
    /// The ledger no longer matches the files: nothing is applied.
    Blocked(Vec<Blocker>),
    /// `--backup`: `pg_dump` of `database` into `dir` starts (something is pending).
    BackingUp { database: String, dir: PathBuf },
    /// `--backup`: the dump is written, before anything is applied.
    BackedUp { backup: Backup, elapsed: Duration },
    /// `--backup`: nothing is pending, so no dump was written.
    BackupSkipped { dir: PathBuf },
    /// `--backup`: no dump was written; nothing is applied.
    BackupFailed { message: String },
    /// Migration `n` (from 1) of `total` in this run applied.
    Applied {
        n: usize,
        total: usize,
        label: String,
        elapsed: Duration,
    },
    /// A migration failed; `earlier_stay` when this run applied some before it.
    Failed {
        label: String,
        file: String,
        sqlstate: Option<String>,
        message: String,
        after: AfterFailure,
        earlier_stay: bool,
    },
    /// `migrate resolve` recorded a decision.
    Resolved(Resolved),
}

impl Event {
    /// Does the event report a problem (`-q` keeps only those)?
    pub fn is_problem(&self) -> bool {
        match self {
            Event::Preflight { preflight, .. } => !preflight.ok(),
            Event::Blocked(_) | Event::Failed { .. } | Event::BackupFailed { .. } => true,
            _ => false,
        }
    }
}

/// A migration that stops the run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub state: State,
    /// Its file, else its label.
    pub name: String,
    pub why: String,
}

/// What became of a failed migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Its transaction was rolled back (sqlx).
    RolledBack,
    /// Rolled back with its ledger row (Prisma, one transaction).
    RolledBackNoRow,
    /// It ran outside a transaction, as Prisma runs such files: what ran stays, and the failed
    /// row blocks later runs until `migrate resolve`.
    FailedRowLeft,
}

/// What `migrate resolve` recorded for a migration (printed by `crate::render::migrate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The sqlx version or the Prisma directory name.
    pub migration: String,
    pub how: ResolvedHow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedHow {
    /// sqlx `--rolled-back`: the dirty row is deleted; the next run applies it again.
    DirtyRowDeleted,
    /// Prisma `--rolled-back`: its failed rows get `rolled_back_at`; the next run (envsync's or
    /// `prisma migrate deploy`) applies it again.
    FailedRowsRolledBack,
    /// sqlx `--applied` on a dirty row: the row now says success.
    DirtyRowSucceeded,
    /// `--applied` with no row: recorded as the tool records an applied one, without running it.
    RecordedNotRun,
}
