//! `envsync migrate [run] | status | preflight`: sqlx migrations against the contour's
//! PostgreSQL, after a privilege preflight, under sqlx's advisory lock.
//!
//! - [`dir`]: the migrations, loaded with sqlx's `Migrator` and checked for what sqlx would
//!   silently mishandle;
//! - [`target`]: the database URL (flag or the backend's `DATABASE_URL`) and the route to it;
//!   [`docker`] hands the whole job to a container on the contour's network;
//! - [`conn`]: the connection; [`preflight`]: the user's privileges; [`lock`]: the advisory
//!   lock; [`ledger`]: `_sqlx_migrations`, read, compared and written.
//!
//! Rows are written exactly as an app embedding `sqlx::migrate!` writes them.

pub mod conn;
pub mod dir;
pub mod docker;
pub mod ledger;
pub mod lock;
pub mod preflight;
pub mod target;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use sqlx::migrate::Migrate;
use sqlx::Connection;

use crate::config::ConfigError;
use crate::exit::ExitStatus;
use crate::model::Contour;
use crate::rules::RulesError;
use crate::settings::Settings;

pub use target::Via;

/// Trouble (exit 2). Findings (a refused preflight, a failed migration) are in the report.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Url(String),
    #[error("migrations directory {}: {message}", dir.display())]
    Dir { dir: PathBuf, message: String },
    #[error("migrations in {}: {message}; nothing was sent to the database", dir.display())]
    Invalid { dir: PathBuf, message: String },
    #[error("cannot connect to {endpoint}: {}{message}{}", sqlstate.as_deref().map(|c| format!("SQLSTATE {c}: ")).unwrap_or_default(), if hint.is_empty() { String::new() } else { format!("; {hint}") })]
    Connect {
        endpoint: String,
        sqlstate: Option<String>,
        message: String,
        hint: String,
    },
    #[error("{context} failed: {}{message}", sqlstate.as_deref().map(|c| format!("SQLSTATE {c}: ")).unwrap_or_default())]
    Query {
        context: String,
        sqlstate: Option<String>,
        message: String,
    },
    #[error("the migration lock (sqlx's advisory lock) is still held by {holder} after {seconds} s; nothing was applied. Wait for that run to finish, or raise --lock-timeout")]
    LockTimeout { seconds: u64, holder: String },
    #[error("--via docker: {0}")]
    Docker(String),
    #[error("interrupted: the connection was closed, so the server rolled back the running migration and released the lock")]
    Interrupted,
    #[error("cannot start the database session's runtime: {0}")]
    Runtime(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Rules(#[from] RulesError),
}

impl MigrateError {
    pub fn query(context: &str, e: &sqlx::Error) -> MigrateError {
        let (sqlstate, message) = match conn::db_error(e) {
            Some((c, m)) => (Some(c), m),
            None => (None, e.to_string()),
        };
        MigrateError::Query {
            context: context.to_string(),
            sqlstate,
            message,
        }
    }
}

/// A progress line, and whether it reports a problem (`-q` keeps only those).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub problem: bool,
    pub text: String,
}

impl Note {
    pub fn info(text: String) -> Note {
        Note {
            problem: false,
            text,
        }
    }

    pub fn problem(text: String) -> Note {
        Note {
            problem: true,
            text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Run,
    Status,
    Preflight,
}

#[derive(Debug, Clone)]
pub struct MigrateOptions {
    pub action: Action,
    pub contour: Option<String>,
    pub dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub via: Via,
    pub dry_run: bool,
    pub wait: Option<u64>,
    pub lock_timeout: u64,
    pub docker_image: String,
    pub docker_binary: Option<PathBuf>,
    /// Flags to hand to the envsync inside the container (`--via docker`).
    pub passthrough: Vec<String>,
}

/// Where one migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// In the ledger with the file's checksum.
    Applied,
    /// A file not in the ledger yet.
    Pending,
    /// In the ledger with another checksum: the file changed after it was applied.
    Modified,
    /// In the ledger, but its file is gone.
    Missing,
    /// In the ledger with `success = false` (partially applied).
    Dirty,
    /// Applied by this run.
    AppliedNow,
    /// Failed in this run (rolled back).
    Failed,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Modified => "modified",
            State::Missing => "missing",
            State::Dirty => "dirty",
            State::AppliedNow => "applied-now",
            State::Failed => "failed",
        }
    }

    /// The ledger no longer matches the files: nothing may be applied.
    pub fn blocks(self) -> bool {
        matches!(self, State::Modified | State::Missing | State::Dirty)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// One migration's state.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub version: i64,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The migration that failed.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub version: i64,
    pub file: String,
    pub sqlstate: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub applied: usize,
    pub applied_now: usize,
    pub pending: usize,
    pub modified: usize,
    pub missing: usize,
}

/// What `migrate` did: printed as JSON with `--format json`.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub version: u32,
    pub action: Action,
    pub dry_run: bool,
    pub route: String,
    /// The URL with its password masked.
    pub target: String,
    pub origin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<preflight::Preflight>,
    pub migrations: Vec<Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    pub summary: Summary,
    /// `--via docker`: the exit code of the envsync that ran in the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_exit: Option<i32>,
}

impl MigrateReport {
    fn new(action: Action, dry_run: bool) -> MigrateReport {
        MigrateReport {
            version: 1,
            action,
            dry_run,
            route: String::new(),
            target: String::new(),
            origin: String::new(),
            preflight: None,
            migrations: Vec::new(),
            failure: None,
            summary: Summary::default(),
            docker_exit: None,
        }
    }

    fn tally(&mut self) {
        let count = |s: State| self.migrations.iter().filter(|e| e.state == s).count();
        self.summary = Summary {
            applied: count(State::Applied) + count(State::AppliedNow),
            applied_now: count(State::AppliedNow),
            pending: count(State::Pending),
            modified: count(State::Modified),
            missing: count(State::Missing) + count(State::Dirty),
        };
    }

    /// Exit status per the contract.
    pub fn status(&self) -> ExitStatus {
        if let Some(code) = self.docker_exit {
            return match code {
                0 => ExitStatus::Clean,
                1 => ExitStatus::Findings,
                _ => ExitStatus::Trouble,
            };
        }
        let refused = self.preflight.as_ref().is_some_and(|p| !p.ok());
        let s = &self.summary;
        let inconsistent = s.modified > 0 || s.missing > 0;
        let pending_is_finding = self.action == Action::Status || self.dry_run;
        ExitStatus::from_findings(
            refused
                || self.failure.is_some()
                || inconsistent
                || (pending_is_finding && s.pending > 0),
        )
    }
}

/// `envsync migrate`. `note` receives progress lines as they happen.
pub fn migrate(
    settings: &Settings,
    opts: &MigrateOptions,
    note: &mut dyn FnMut(Note),
) -> Result<MigrateReport, MigrateError> {
    let mut repos = target::Repos::new(settings);
    // The contour is looked up once, and only when something needs it.
    let mut contour: Option<Contour> = match &opts.contour {
        Some(n) => Some(settings.config.contour(n)?.clone()),
        None => None,
    };
    let mut need_contour = |repos: &mut target::Repos<'_>| -> Result<Contour, MigrateError> {
        if contour.is_none() {
            contour = Some(target::pick_contour(repos)?);
        }
        Ok(contour.clone().expect("just picked"))
    };
    let dir = target::migrations_dir(&mut repos, opts.dir.as_deref(), &settings.cwd)?;
    let locals = dir::load(&dir)?;

    let mut report = MigrateReport::new(opts.action, opts.dry_run);
    let db_rule = settings.config.load_rules()?.database_url;
    let resolved = match &opts.database_url {
        Some(u) => target::Resolved {
            url: u.clone(),
            origin: "--database-url / ENVSYNC_DATABASE_URL".into(),
        },
        None => {
            let c = need_contour(&mut repos)?;
            target::from_backend(&mut repos, &c, &db_rule.key)?
        }
    };
    report.origin = resolved.origin.clone();
    let (service, service_port) = (db_rule.host.clone(), db_rule.port);
    let (host, port) = target::host_port(&resolved.url);
    let via = match opts.via {
        Via::Auto if target::resolves(&host, port) => Via::Direct,
        Via::Auto => Via::Host,
        v => v,
    };
    let url = match via {
        Via::Host => {
            let c = need_contour(&mut repos)?;
            let (u, swapped) = target::via_host(&resolved.url, &service, service_port, c.db_port)?;
            report.route = if swapped {
                format!("host ({service}:{service_port} -> 127.0.0.1:{}, the {} contour's published DB port)", c.db_port, c.name)
            } else {
                format!("host (the URL does not name {service}:{service_port}; used as it is)")
            };
            u
        }
        Via::Docker => {
            let c = need_contour(&mut repos)?;
            report.route = format!(
                "docker (network {}, image {})",
                c.network, opts.docker_image
            );
            report.target = crate::mask::url(&resolved.url);
            note(Note::info(format!(
                "route: {}; target {} (from {})",
                report.route, report.target, report.origin
            )));
            return docker::run(opts, &c, &dir, &resolved.url, report);
        }
        _ => {
            report.route = if opts.via == Via::Auto {
                format!("direct (auto: {host} resolves)")
            } else {
                "direct".into()
            };
            resolved.url.clone()
        }
    };
    if opts.via == Via::Auto && via == Via::Host {
        report.route = format!("{} (auto: {host} does not resolve here)", report.route);
    }
    report.target = crate::mask::url(&url);
    note(Note::info(format!(
        "route: {}; target {} (from {})",
        report.route, report.target, report.origin
    )));
    let (h, p) = target::host_port(&url);
    let endpoint = conn::Endpoint {
        host: h,
        port: p,
        route: via.to_string(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| MigrateError::Runtime(e.to_string()))?;
    let session = session(&url, &endpoint, opts, &locals, &mut report, note);
    let result = rt.block_on(async {
        tokio::select! {
            r = session => r,
            _ = tokio::signal::ctrl_c() => Err(MigrateError::Interrupted),
        }
    });
    result?;
    report.tally();
    Ok(report)
}

/// Everything that talks to the database, on one dedicated connection closed on every path.
async fn session(
    url: &str,
    ep: &conn::Endpoint,
    opts: &MigrateOptions,
    locals: &[dir::Local],
    report: &mut MigrateReport,
    note: &mut dyn FnMut(Note),
) -> Result<(), MigrateError> {
    let mut conn = conn::connect(url, ep, opts.wait.map(Duration::from_secs), note).await?;
    let r = work(&mut conn, opts, locals, report, note).await;
    let _ = conn.close().await;
    r
}

async fn work(
    conn: &mut sqlx::PgConnection,
    opts: &MigrateOptions,
    locals: &[dir::Local],
    report: &mut MigrateReport,
    note: &mut dyn FnMut(Note),
) -> Result<(), MigrateError> {
    if opts.action == Action::Status {
        let applied = ledger::read(conn).await?.unwrap_or_default();
        report.migrations = ledger::compare(locals, &applied);
        return Ok(());
    }
    let pre = preflight::preflight(conn).await?;
    let ok = pre.ok();
    let database = pre.database.clone();
    if ok {
        note(Note::info(format!(
            "preflight: OK ({} on {}, schema {})",
            pre.user,
            pre.database,
            pre.schema.as_deref().unwrap_or("?")
        )));
    } else {
        note(Note::problem(format!(
            "preflight: user {} cannot migrate {}; nothing was created. Missing:",
            pre.user, pre.database
        )));
        for m in &pre.missing {
            note(Note::problem(format!(
                "  - {}\n      {}",
                m.privilege, m.fix
            )));
        }
    }
    report.preflight = Some(pre);
    if !ok || opts.action == Action::Preflight {
        return Ok(());
    }
    if opts.dry_run {
        let applied = ledger::read(conn).await?.unwrap_or_default();
        report.migrations = ledger::compare(locals, &applied);
        for e in report
            .migrations
            .iter()
            .filter(|e| e.state == State::Pending)
        {
            note(Note::info(format!(
                "would apply {} {}",
                e.version, e.description
            )));
        }
        return Ok(());
    }
    let key = lock::lock(
        conn,
        &database,
        Duration::from_secs(opts.lock_timeout),
        note,
    )
    .await?;
    let r = apply_all(conn, locals, report, note).await;
    lock::unlock(conn, key).await;
    r
}

async fn apply_all(
    conn: &mut sqlx::PgConnection,
    locals: &[dir::Local],
    report: &mut MigrateReport,
    note: &mut dyn FnMut(Note),
) -> Result<(), MigrateError> {
    conn.ensure_migrations_table()
        .await
        .map_err(|e| sqlx_migrate_error("creating _sqlx_migrations", e))?;
    let applied = ledger::read(conn).await?.unwrap_or_default();
    report.migrations = ledger::compare(locals, &applied);
    let bad: Vec<&Entry> = report
        .migrations
        .iter()
        .filter(|e| e.state.blocks())
        .collect();
    if !bad.is_empty() {
        note(Note::problem(
            "refusing to apply anything: applied migrations no longer match their files".into(),
        ));
        for e in bad {
            note(Note::problem(format!(
                "  {} {} {}: {}",
                e.state,
                e.version,
                e.file.as_deref().unwrap_or(&e.description),
                e.note.as_deref().unwrap_or("")
            )));
        }
        return Ok(());
    }
    let pending: Vec<usize> = report
        .migrations
        .iter()
        .enumerate()
        .filter(|(_, e)| e.state == State::Pending)
        .map(|(i, _)| i)
        .collect();
    let total = pending.len();
    let mut timing: Option<ledger::Timing> = None;
    for (n, idx) in pending.into_iter().enumerate() {
        let version = report.migrations[idx].version;
        let local = locals
            .binary_search_by_key(&version, |l| l.migration.version)
            .map(|i| &locals[i])
            .expect("pending migrations are local");
        let outcome = if local.migration.no_tx {
            // Outside a transaction: sqlx's own apply, statement by statement.
            if let Some(t) = timing.take() {
                ledger::record_timing(conn, t).await;
            }
            conn.apply(&local.migration).await
        } else {
            ledger::apply_batched(conn, &local.migration, timing.take())
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
            Ok(took) => {
                let ms = took.as_secs_f64() * 1000.0;
                let e = &mut report.migrations[idx];
                e.state = State::AppliedNow;
                e.duration_ms = Some((ms * 10.0).round() / 10.0);
                note(Note::info(format!(
                    "applied {}/{total} {} {} ({ms:.1} ms)",
                    n + 1,
                    e.version,
                    e.description
                )));
            }
            Err(err) => {
                let (sqlstate, message) = match &err {
                    sqlx::migrate::MigrateError::ExecuteMigration(e, _)
                    | sqlx::migrate::MigrateError::Execute(e) => match conn::db_error(e) {
                        Some((c, m)) => (Some(c), m),
                        None => (None, e.to_string()),
                    },
                    other => (None, other.to_string()),
                };
                let e = &mut report.migrations[idx];
                e.state = State::Failed;
                let file = local.file_name();
                note(Note::problem(format!(
                    "failed {} {} ({file}): {}{message}; rolled back{}",
                    e.version,
                    e.description,
                    sqlstate
                        .as_deref()
                        .map(|c| format!("SQLSTATE {c}: "))
                        .unwrap_or_default(),
                    if n > 0 {
                        ", the migrations before it stay applied"
                    } else {
                        ""
                    }
                )));
                report.failure = Some(Failure {
                    version,
                    file,
                    sqlstate,
                    message,
                });
                return Ok(());
            }
        }
    }
    if let Some(t) = timing {
        ledger::record_timing(conn, t).await;
    }
    Ok(())
}

fn sqlx_migrate_error(context: &str, e: sqlx::migrate::MigrateError) -> MigrateError {
    match e {
        sqlx::migrate::MigrateError::Execute(e) => MigrateError::query(context, &e),
        other => MigrateError::Query {
            context: context.into(),
            sqlstate: None,
            message: other.to_string(),
        },
    }
}
