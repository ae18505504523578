//! `envsync migrate [run] | status | preflight | resolve`: the backend's migrations applied to
//! the contour's PostgreSQL, after a privilege preflight, under the ledger's advisory lock.
//!
//! - [`layout`]: which ledger (sqlx or Prisma) and where its migrations are;
//! - [`sqlx`] and [`prisma`]: each ledger's migrations directory and table, read, compared and
//!   written the way the real tool writes them;
//! - [`route`]: the `--via` choice and the URL it leads to (the database target itself, the
//!   backend's `DATABASE_URL` for the contour, comes from `crate::load::target`); [`docker`]
//!   hands the whole job to a container on the contour's network; [`forward`] holds a
//!   `kubectl port-forward` to a Kubernetes contour's database Service;
//! - [`conn`]: the connection; [`preflight`]: the user's privileges; [`lock`]: the advisory
//!   lock; [`sql`]: the SQL envsync writes, names bound as parameters; [`backup`]: the
//!   `pg_dump` taken before anything is applied (`--backup`, `backup_before_migrate`);
//! - [`event`]: what a run reports as it goes, typed; `crate::render::migrate` prints it.
//!
//! A run is staged: the plan (ledger, migrations read and checked, target, route) is decided
//! before any connection; then the session connects, runs the preflight, takes the lock and
//! applies, emitting [`Event`]s.

pub mod backup;
pub mod conn;
pub mod docker;
pub mod event;
pub mod forward;
pub mod layout;
pub mod lock;
pub mod preflight;
pub mod prisma;
pub mod route;
pub mod sql;
pub mod sqlx;

use std::path::PathBuf;
use std::time::Duration;

use ::sqlx::postgres::PgConnection;
use ::sqlx::Connection;
use serde::Serialize;

use crate::config::settings::Settings;
use crate::config::ConfigError;
use crate::dburl::DbUrl;
use crate::exit::ExitStatus;
use crate::fs::read::Root;
use crate::load::target::{Resolved, TargetError};
use crate::load::{OpenOptions, Workspace};
use crate::model::Contour;

pub use event::{AfterFailure, Event};
pub use layout::{Ledger, LedgerChoice};
pub use route::{Route, Via};

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
    #[error("the migration lock ({lock}) is still held by {holder} after {seconds} s; nothing was applied. Wait for that run to finish, or raise --lock-timeout")]
    LockTimeout {
        lock: String,
        seconds: u64,
        holder: String,
    },
    #[error("migrate resolve: {0}")]
    Resolve(String),
    #[error("--via docker: {0}")]
    Docker(String),
    #[error("--via kubernetes: {0}")]
    Forward(#[from] forward::ForwardError),
    #[error("interrupted: envsync closed its connection (and its port-forward). A migration already sent to the server still ends as one transaction with its ledger row, committed or rolled back together, and the lock is released when it ends; `envsync migrate status` says which")]
    Interrupted,
    #[error("cannot start the database session's runtime: {0}")]
    Runtime(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Target(#[from] TargetError),
}

impl MigrateError {
    pub fn query(context: &str, e: &::sqlx::Error) -> MigrateError {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Run,
    Status,
    Preflight,
    Resolve,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Run => "run",
            Action::Status => "status",
            Action::Preflight => "preflight",
            Action::Resolve => "resolve",
        }
    }
}

/// `migrate resolve`: how to mark one migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Record it as applied without running it.
    Applied(String),
    /// Forget its failed attempt, so the next run applies it again.
    RolledBack(String),
}

#[derive(Debug, Clone)]
pub struct MigrateOptions {
    pub action: Action,
    pub contour: Option<String>,
    pub dir: Option<PathBuf>,
    /// `--ledger`, else `[migrate] ledger`, else auto.
    pub ledger: LedgerChoice,
    /// With [`Action::Resolve`].
    pub resolution: Option<Resolution>,
    pub database_url: Option<String>,
    pub via: Via,
    pub dry_run: bool,
    pub wait: Option<u64>,
    pub lock_timeout: u64,
    pub docker_image: String,
    pub docker_binary: Option<PathBuf>,
    /// `--kube-context`, else `[kubernetes] context` (`--via kubernetes`).
    pub kube_context: Option<String>,
    /// `--format json` (the envsync in a `--via docker` container is asked for it too).
    pub json: bool,
    /// `migrate run --backup` and its program.
    pub backup: BackupOptions,
}

/// What `migrate run` says about backing up (the contour's `backup_before_migrate` is looked up
/// by the run itself).
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// `--backup DIR`, made absolute against the current directory.
    pub dir: Option<PathBuf>,
    /// `--pg-dump` / `ENVSYNC_PG_DUMP`.
    pub pg_dump: PathBuf,
    /// The contour that names the dump, when the run itself cannot tell (`--via docker`'s
    /// envsync in the container).
    pub contour: Option<String>,
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
    /// sqlx: the version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Prisma: the directory name (`migration_name` in the ledger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Entry {
    /// How messages name it: `3 add roles` (sqlx), `20250503150000_add_roles_column` (Prisma).
    pub fn label(&self) -> String {
        match (&self.name, self.version) {
            (Some(n), _) => n.clone(),
            (None, Some(v)) => format!("{v} {}", self.description),
            (None, None) => self.description.clone(),
        }
    }
}

/// The migration that failed.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
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
    pub ledger: Ledger,
    pub dry_run: bool,
    /// Serialised as the text `crate::render::migrate` prints.
    pub route: Option<Route>,
    /// The URL with its password masked.
    pub target: String,
    pub origin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<preflight::Preflight>,
    pub migrations: Vec<Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    pub summary: Summary,
    /// `migrate resolve`: what was recorded (serialised as the text it prints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<event::Resolved>,
    /// `--via docker`: the exit code of the envsync that ran in the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_exit: Option<i32>,
    /// `--backup`: the dump written before the first migration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<backup::Backup>,
    /// `--backup`: why no dump was written (nothing was applied then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_error: Option<String>,
}

impl MigrateReport {
    fn new(action: Action, ledger: Ledger, dry_run: bool) -> MigrateReport {
        MigrateReport {
            version: 1,
            action,
            ledger,
            dry_run,
            route: None,
            target: String::new(),
            origin: String::new(),
            preflight: None,
            migrations: Vec::new(),
            failure: None,
            summary: Summary::default(),
            resolved: None,
            docker_exit: None,
            backup: None,
            backup_error: None,
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
                || self.backup_error.is_some()
                || inconsistent
                || (pending_is_finding && s.pending > 0),
        )
    }
}

/// `envsync migrate`. `emit` receives the run's events as they happen.
pub fn migrate(
    settings: &Settings,
    opts: &MigrateOptions,
    emit: &mut dyn FnMut(Event),
) -> Result<MigrateReport, MigrateError> {
    // The one workspace, each repo opened when first needed: the backend alone is enough when
    // its DATABASE_URL holds no reference for infra to fill.
    let ws = Workspace::lazy(settings, &OpenOptions::default());
    // The contour is looked up once, and only when something needs it.
    let named = opts
        .contour
        .as_deref()
        .map(|n| settings.config.contour(n).cloned())
        .transpose()?;
    let picked = std::cell::OnceCell::new();
    let contour = || -> Result<Contour, MigrateError> {
        if let Some(c) = &named {
            return Ok(c.clone());
        }
        if let Some(c) = picked.get() {
            return Ok(Contour::clone(c));
        }
        let c = ws.pick_contour()?;
        Ok(picked.get_or_init(|| c).clone())
    };
    let (ledger, dir, within) = migrations_dir(&ws, opts, settings)?;
    let migrations = Migrations::load(ledger, &dir, &within)?;
    let mut report = MigrateReport::new(opts.action, ledger, opts.dry_run);
    let db_rule = &settings.config.rules.database_url;
    // `auto` goes through the cluster when the contour deploys there and not with compose
    // (and no URL was given to use as it is).
    let via = match opts.via {
        Via::Auto
            if opts.database_url.is_none() && deploys_to_kubernetes(settings, &ws, &contour) =>
        {
            Via::Kubernetes
        }
        v => v,
    };
    // The cluster's side: the pod's URL and the Service to forward to.
    let kube = match via {
        Via::Kubernetes => Some(ws.kube_database(&contour()?)?),
        _ => None,
    };
    let resolved = match (&opts.database_url, &kube) {
        (Some(u), _) => Resolved::given(u, "--database-url / ENVSYNC_DATABASE_URL")?,
        (None, Some(k)) => k.resolved.clone(),
        (None, None) => ws.database_url(&contour()?)?,
    };
    report.origin = resolved.origin.clone();
    let service = (db_rule.host.as_str(), db_rule.port);
    let via = match via {
        Via::Auto if route::resolves(resolved.url.host(), resolved.url.port_or_default()) => {
            Via::Direct
        }
        Via::Auto => Via::Host,
        v => v,
    };
    let auto = (opts.via == Via::Auto).then(|| resolved.url.host().to_string());
    let backup = backup_plan(settings, opts, &contour);
    let leg = match (via, kube) {
        // Through the cluster: the URL and route are known once the forward is up.
        (_, Some(k)) => Leg::Forward(k),
        (Via::Host, None) => {
            let c = contour()?;
            let db = ws.db_service(&c, db_rule.port)?;
            let (url, swap) = route::via_host(&resolved.url, service, &c, db.as_ref())
                .map_err(|e| MigrateError::Url(format!("the database URL {e}")))?;
            Leg::Ready(
                url,
                Route::Host {
                    service: (service.0.to_string(), service.1),
                    swap,
                    auto_unresolved: auto,
                },
            )
        }
        (Via::Docker, None) => {
            let mut c = contour()?;
            // The network the db service is really on, when the compose project says.
            if let Some(n) = ws.db_service(&c, db_rule.port)?.and_then(|d| d.network) {
                c.network = n;
            }
            let route = Route::Docker {
                network: c.network.clone(),
                image: opts.docker_image.clone(),
            };
            report.target = resolved.url.to_string();
            report.route = Some(route.clone());
            emit(Event::Route {
                route,
                target: report.target.clone(),
                origin: report.origin.clone(),
            });
            return docker::run(
                opts,
                ledger,
                &c,
                &dir,
                &resolved.url,
                backup.as_ref(),
                report,
            );
        }
        (_, None) => Leg::Ready(
            resolved.url.clone(),
            Route::Direct {
                auto_resolved: auto,
            },
        ),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| MigrateError::Runtime(e.to_string()))?;
    let result = rt.block_on(async {
        // Registered before kubectl starts, so that no signal leaves it running.
        let mut stop = Interrupt::listen()?;
        // Held until the session is over; dropping it stops kubectl.
        let mut _forward = None;
        let (url, chosen) = match leg {
            Leg::Ready(url, route) => (url, route),
            Leg::Forward(kube) => {
                let (f, (host, port)) = tokio::select! {
                    f = open_forward(settings, opts, &kube, &resolved) => f?,
                    _ = stop.recv() => return Err(MigrateError::Interrupted),
                };
                let url = resolved
                    .url
                    .with_endpoint(&host, port)
                    .map_err(|e| MigrateError::Url(format!("the database URL {e}")))?;
                let route = Route::Kubernetes {
                    target: f.target.to_string(),
                    local: (host, port),
                    auto: opts.via == Via::Auto,
                };
                _forward = Some(f);
                (url, route)
            }
        };
        report.target = url.to_string();
        report.route = Some(chosen.clone());
        emit(Event::Route {
            route: chosen,
            target: report.target.clone(),
            origin: report.origin.clone(),
        });
        let endpoint = conn::Endpoint {
            host: url.host().to_string(),
            port: url.port_or_default(),
            route: via,
        };
        let migrations = migrations.with_schema(&url);
        let session = session(
            &url,
            &endpoint,
            opts,
            &migrations,
            backup.as_ref(),
            &mut report,
            emit,
        );
        tokio::select! {
            r = session => r,
            _ = stop.recv() => Err(MigrateError::Interrupted),
        }
    });
    result?;
    report.tally();
    Ok(report)
}

/// The last leg to the database: known, or through a port-forward still to open.
enum Leg {
    Ready(DbUrl, Route),
    Forward(crate::load::kube::KubeDatabase),
}

/// Does `--via auto` go through the cluster: the contour has a `kubernetes` table and no
/// compose project? (Without a contour to ask, no.)
fn deploys_to_kubernetes(
    settings: &Settings,
    ws: &Workspace,
    contour: &dyn Fn() -> Result<Contour, MigrateError>,
) -> bool {
    contour().is_ok_and(|c| settings.config.kubernetes(&c).is_some() && !ws.has_compose(&c))
}

/// Start `kubectl port-forward` to the contour's database Service and wait for it: at most
/// `--wait` seconds, else [`FORWARD_WAIT`].
async fn open_forward(
    settings: &Settings,
    opts: &MigrateOptions,
    kube: &crate::load::kube::KubeDatabase,
    resolved: &Resolved,
) -> Result<(forward::Forward, (String, u16)), MigrateError> {
    let tools = &settings.config.kube_tools;
    let kubectl = forward::Kubectl {
        program: tools.kubectl.clone(),
        context: opts.kube_context.clone().or_else(|| tools.context.clone()),
    };
    let target = forward::Target {
        namespace: kube.namespace.clone(),
        resource: kube.resource.clone(),
        port: kube.port,
    };
    let mut mask = settings.config.rules.mask(false);
    mask.learn(kube.values.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    mask.learn_values(resolved.url.password());
    let within = Duration::from_secs(opts.wait.unwrap_or(FORWARD_WAIT)).max(Duration::from_secs(1));
    Ok(forward::Forward::open(&kubectl, target, within, &mask).await?)
}

/// How long `--via kubernetes` waits for kubectl to forward when `--wait` is not given.
pub const FORWARD_WAIT: u64 = 15;

/// SIGINT (Ctrl-C), SIGTERM and SIGHUP, listened to for the whole run: each ends it as
/// [`MigrateError::Interrupted`], so the connection closes (the server rolls back and
/// unlocks) and a port-forward stops.
struct Interrupt {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Interrupt {
    fn listen() -> Result<Interrupt, MigrateError> {
        use tokio::signal::unix::{signal, SignalKind};
        let on = |k| signal(k).map_err(|e| MigrateError::Runtime(e.to_string()));
        Ok(Interrupt {
            int: on(SignalKind::interrupt())?,
            term: on(SignalKind::terminate())?,
            hup: on(SignalKind::hangup())?,
        })
    }

    /// The first of them to arrive.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
            _ = self.hup.recv() => {}
        }
    }
}

/// Where `migrate run` backs up before applying: `--backup DIR`, else the contour's
/// `backup_before_migrate` (the contour named by `--contour`, else the one the backend's `.env`
/// points to). Not for `--dry-run`, `status`, `preflight` or `resolve`.
fn backup_plan(
    settings: &Settings,
    opts: &MigrateOptions,
    contour: &dyn Fn() -> Result<Contour, MigrateError>,
) -> Option<backup::Plan> {
    if opts.action != Action::Run || opts.dry_run {
        return None;
    }
    let configured = settings
        .config
        .contours
        .iter()
        .any(|c| c.backup_before_migrate.is_some());
    if opts.backup.dir.is_none() && !configured {
        return None;
    }
    // A run given its URL needs no contour; one is looked for here only to find its key and to
    // name the file, and none is fine.
    let c = contour().ok();
    let dir = opts
        .backup
        .dir
        .clone()
        .or_else(|| c.as_ref().and_then(|c| c.backup_before_migrate.clone()))?;
    Some(backup::Plan {
        dir,
        pg_dump: opts.backup.pg_dump.clone(),
        contour: opts.backup.contour.clone().or(c.map(|c| c.name)),
        lock_wait: Duration::from_secs(opts.lock_timeout),
    })
}

/// The ledger and its migrations directory: `--dir`, else the backend working tree's
/// `prisma/migrations` or `migrations/` (see [`layout::locate`]); `--ledger` wins over
/// `[migrate] ledger` in envsync.toml. With them, the [`Root`] every migration file must
/// resolve inside: the backend repo, or the directory `--dir` names when it lies outside the
/// backend (named explicitly, so it is trusted as a whole).
fn migrations_dir(
    ws: &Workspace,
    opts: &MigrateOptions,
    settings: &Settings,
) -> Result<(Ledger, PathBuf, Root), MigrateError> {
    let choice = match opts.ledger {
        LedgerChoice::Auto => settings.config.migrate_ledger.unwrap_or_default(),
        chosen => chosen,
    };
    let dir = opts.dir.as_deref().map(|d| settings.cwd.join(d));
    let root = match &dir {
        Some(_) => None,
        None => ws
            .source(crate::model::Repo::Backend)
            .map_err(|e| MigrateError::Url(e.to_string()))?
            .work_tree()
            .map(std::path::Path::to_path_buf),
    };
    let (ledger, located) = layout::locate(choice, dir.as_deref(), root.as_deref())?;
    let repo = |r: &std::path::Path| {
        Root::new(r, "repository").map_err(|e| MigrateError::Dir {
            dir: r.to_path_buf(),
            message: e.to_string(),
        })
    };
    let within = match (&dir, &root) {
        (None, Some(r)) => repo(r)?,
        (None, None) => {
            return Err(MigrateError::Usage(
                "the backend is not a directory; pass --dir DIR".into(),
            ))
        }
        (Some(d), _) => {
            // `--dir` inside the backend working tree: the repo's rule holds (a link in it may
            // lead elsewhere in the repo, not out of it). Decided on where the directory's
            // name is, a link as its last component not followed, so `--dir migrations` with
            // `migrations -> /elsewhere` in the repo is still refused.
            let backend = match settings.sources.get(crate::model::Repo::Backend) {
                crate::source::SourceSpec::Path { path, .. } => std::fs::canonicalize(path).ok(),
                crate::source::SourceSpec::Remote { .. } => None,
            };
            let placed = match std::fs::symlink_metadata(d) {
                Ok(m) if m.file_type().is_symlink() => d
                    .parent()
                    .and_then(|p| std::fs::canonicalize(p).ok())
                    .zip(d.file_name())
                    .map(|(p, name)| p.join(name)),
                _ => std::fs::canonicalize(d).ok(),
            };
            match backend {
                Some(b) if placed.is_some_and(|p| p.starts_with(&b)) => repo(&b)?,
                _ => Root::new(d, "migrations directory").map_err(|e| MigrateError::Dir {
                    dir: d.clone(),
                    message: match e {
                        crate::fs::read::ReadError::Io { source, .. } => {
                            format!("{source}; pass --dir DIR")
                        }
                        e => e.to_string(),
                    },
                })?,
            }
        }
    };
    Ok((ledger, located, within))
}

/// Everything that talks to the database, on one dedicated connection closed on every path.
async fn session(
    url: &DbUrl,
    ep: &conn::Endpoint,
    opts: &MigrateOptions,
    migrations: &Migrations,
    backup: Option<&backup::Plan>,
    report: &mut MigrateReport,
    emit: &mut dyn FnMut(Event),
) -> Result<(), MigrateError> {
    let mut conn = conn::connect(url, ep, opts.wait.map(Duration::from_secs), emit).await?;
    let r = match migrations.on_connect(&mut conn).await {
        Ok(()) => {
            let backup = backup.map(|plan| (plan, url));
            work(&mut conn, opts, migrations, backup, report, emit).await
        }
        Err(e) => Err(e),
    };
    let _ = conn.close().await;
    r
}

async fn work(
    conn: &mut PgConnection,
    opts: &MigrateOptions,
    migrations: &Migrations,
    backup: Option<(&backup::Plan, &DbUrl)>,
    report: &mut MigrateReport,
    emit: &mut dyn FnMut(Event),
) -> Result<(), MigrateError> {
    if opts.action == Action::Status {
        report.migrations = migrations.compare(conn).await?;
        return Ok(());
    }
    let pre = preflight::preflight(conn, migrations.table(), migrations.schema()).await?;
    let ok = pre.ok();
    emit(Event::Preflight {
        preflight: pre.clone(),
        ledger_table: migrations.table(),
    });
    report.preflight = Some(pre);
    if !ok || opts.action == Action::Preflight {
        return Ok(());
    }
    if opts.dry_run {
        // The listing says what would be applied (`pending`), once.
        report.migrations = migrations.compare(conn).await?;
        return Ok(());
    }
    let key = migrations.lock_key(
        &report
            .preflight
            .as_ref()
            .map_or(String::new(), |p| p.database.clone()),
    );
    lock::lock(
        conn,
        key,
        migrations.lock_name(),
        Duration::from_secs(opts.lock_timeout),
        emit,
    )
    .await?;
    let r = match &opts.resolution {
        Some(how) => resolve(conn, migrations, how, report, emit).await,
        None => apply_all(conn, migrations, backup, report, emit).await,
    };
    lock::unlock(conn, key).await;
    r
}

async fn resolve(
    conn: &mut PgConnection,
    migrations: &Migrations,
    how: &Resolution,
    report: &mut MigrateReport,
    emit: &mut dyn FnMut(Event),
) -> Result<(), MigrateError> {
    migrations.create(conn).await?;
    let done = migrations.resolve(conn, how).await?;
    emit(Event::Resolved(done.clone()));
    report.resolved = Some(done);
    report.migrations = migrations.compare(conn).await?;
    Ok(())
}

async fn apply_all(
    conn: &mut PgConnection,
    migrations: &Migrations,
    backup: Option<(&backup::Plan, &DbUrl)>,
    report: &mut MigrateReport,
    emit: &mut dyn FnMut(Event),
) -> Result<(), MigrateError> {
    // Compared before the ledger is created, so that a backup shows the database as it was.
    report.migrations = migrations.compare(conn).await?;
    let blockers: Vec<event::Blocker> = report
        .migrations
        .iter()
        .filter(|e| e.state.blocks())
        .map(|e| event::Blocker {
            state: e.state,
            name: e.file.clone().unwrap_or_else(|| e.label()),
            why: e.note.clone().unwrap_or_default(),
        })
        .collect();
    if !blockers.is_empty() {
        emit(Event::Blocked(blockers));
        return Ok(());
    }
    if let Some((plan, url)) = backup {
        if pending(report).is_empty() {
            emit(Event::BackupSkipped {
                dir: plan.dir.clone(),
            });
        } else if !back_up(conn, plan, url, report, emit).await? {
            return Ok(());
        }
    }
    migrations.create(conn).await?;
    match migrations {
        Migrations::Sqlx(locals) => sqlx::apply_pending(conn, locals, report, emit).await,
        Migrations::Prisma { locals, .. } => {
            prisma::apply_pending(conn, locals, report, emit).await
        }
    }
}

/// `pg_dump` the database before the first migration; `false` (and the report says why) when
/// no dump was written, so nothing may be applied.
async fn back_up(
    conn: &mut PgConnection,
    plan: &backup::Plan,
    url: &DbUrl,
    report: &mut MigrateReport,
    emit: &mut dyn FnMut(Event),
) -> Result<bool, MigrateError> {
    let server = backup::server_major(conn).await?;
    let database = report
        .preflight
        .as_ref()
        .map_or_else(|| url.database().to_string(), |p| p.database.clone());
    emit(Event::BackingUp {
        database: database.clone(),
        dir: plan.dir.clone(),
    });
    let started = std::time::Instant::now();
    // pg_dump runs on the blocking pool, so Ctrl-C still ends the session meanwhile.
    let (job_plan, job_url) = (plan.clone(), url.clone());
    let done =
        tokio::task::spawn_blocking(move || backup::dump(&job_plan, &job_url, &database, server))
            .await
            .map_err(|e| MigrateError::Runtime(e.to_string()))?;
    match done {
        Ok(b) => {
            emit(Event::BackedUp {
                backup: b.clone(),
                elapsed: started.elapsed(),
            });
            report.backup = Some(b);
            Ok(true)
        }
        Err(e) => {
            let message = e.to_string();
            emit(Event::BackupFailed {
                message: message.clone(),
            });
            report.backup_error = Some(message);
            Ok(false)
        }
    }
}

/// The migrations on disk, in the order they apply, and the ledger they are recorded in.
#[derive(Debug)]
pub enum Migrations {
    Sqlx(Vec<sqlx::dir::Local>),
    Prisma {
        locals: Vec<prisma::dir::Local>,
        /// `?schema=` of the URL: the ledger's and the migrations' schema.
        schema: Option<String>,
    },
}

impl Migrations {
    /// Read and check the directory before anything is sent to the database; every file
    /// must resolve inside `within`.
    pub fn load(
        ledger: Ledger,
        dir: &std::path::Path,
        within: &Root,
    ) -> Result<Migrations, MigrateError> {
        Ok(match ledger {
            Ledger::Sqlx => Migrations::Sqlx(sqlx::dir::load(dir, within)?),
            Ledger::Prisma => Migrations::Prisma {
                locals: prisma::dir::load(dir, within)?,
                schema: None,
            },
        })
    }

    /// Prisma's convention: `?schema=NAME` in the URL is the schema to work in. sqlx ignores it.
    fn with_schema(self, url: &DbUrl) -> Migrations {
        match self {
            Migrations::Prisma { locals, .. } => Migrations::Prisma {
                locals,
                schema: url.schema().map(str::to_string),
            },
            other => other,
        }
    }

    pub fn schema(&self) -> Option<&str> {
        match self {
            Migrations::Prisma { schema, .. } => schema.as_deref(),
            Migrations::Sqlx(_) => None,
        }
    }

    pub fn table(&self) -> &'static str {
        match self {
            Migrations::Sqlx(_) => sqlx::ledger::TABLE,
            Migrations::Prisma { .. } => prisma::ledger::TABLE,
        }
    }

    fn lock_key(&self, database: &str) -> i64 {
        match self {
            Migrations::Sqlx(_) => lock::sqlx_key(database),
            Migrations::Prisma { .. } => prisma::ledger::LOCK_KEY,
        }
    }

    fn lock_name(&self) -> &'static str {
        match self {
            Migrations::Sqlx(_) => "sqlx's advisory lock",
            Migrations::Prisma { .. } => "Prisma's advisory lock 72707369",
        }
    }

    /// Work in the URL's schema (Prisma): unqualified names, the ledger's included, resolve
    /// there. A schema that does not exist yet changes nothing until `create`.
    async fn on_connect(&self, conn: &mut PgConnection) -> Result<(), MigrateError> {
        if let Some(s) = self.schema() {
            // `SET` takes no parameters; `set_config` does (the value is a search path, so
            // the name inside it is quoted as an identifier).
            ::sqlx::query("SELECT set_config('search_path', $1, false)")
                .bind(sql::quote_ident(s))
                .execute(&mut *conn)
                .await
                .map_err(|e| MigrateError::query("selecting the schema of ?schema=", &e))?;
        }
        Ok(())
    }

    /// The ledger (and Prisma's schema), created when absent.
    async fn create(&self, conn: &mut PgConnection) -> Result<(), MigrateError> {
        match self {
            Migrations::Sqlx(_) => sqlx::create(conn).await,
            Migrations::Prisma { schema, .. } => {
                prisma::ledger::create(conn, schema.as_deref()).await
            }
        }
    }

    /// Files against the ledger, read without creating anything.
    async fn compare(&self, conn: &mut PgConnection) -> Result<Vec<Entry>, MigrateError> {
        Ok(match self {
            Migrations::Sqlx(locals) => {
                let applied = sqlx::ledger::read(conn).await?.unwrap_or_default();
                sqlx::ledger::compare(locals, &applied)
            }
            Migrations::Prisma { locals, .. } => {
                let rows = prisma::ledger::read(conn).await?.unwrap_or_default();
                prisma::ledger::compare(locals, &rows)
            }
        })
    }

    async fn resolve(
        &self,
        conn: &mut PgConnection,
        how: &Resolution,
    ) -> Result<event::Resolved, MigrateError> {
        match self {
            Migrations::Sqlx(locals) => {
                let applied = sqlx::ledger::read(conn).await?.unwrap_or_default();
                match how {
                    Resolution::Applied(n) => {
                        sqlx::ledger::resolve_applied(conn, locals, &applied, n).await
                    }
                    Resolution::RolledBack(n) => {
                        sqlx::ledger::resolve_rolled_back(conn, &applied, n).await
                    }
                }
            }
            Migrations::Prisma { locals, .. } => {
                let rows = prisma::ledger::read(conn).await?.unwrap_or_default();
                match how {
                    Resolution::Applied(n) => {
                        prisma::ledger::resolve_applied(conn, locals, &rows, n).await
                    }
                    Resolution::RolledBack(n) => {
                        prisma::ledger::resolve_rolled_back(conn, &rows, n).await
                    }
                }
            }
        }
    }
}

/// The pending migrations' indices in `report.migrations`, in the order they apply.
fn pending(report: &MigrateReport) -> Vec<usize> {
    report
        .migrations
        .iter()
        .enumerate()
        .filter(|(_, e)| e.state == State::Pending)
        .map(|(i, _)| i)
        .collect()
}

/// Migration `idx` (the `n`-th of `total` in this run) applied in `took`.
fn record_applied(
    report: &mut MigrateReport,
    idx: usize,
    (n, total): (usize, usize),
    took: Duration,
    emit: &mut dyn FnMut(Event),
) {
    let ms = took.as_secs_f64() * 1000.0;
    let e = &mut report.migrations[idx];
    e.state = State::AppliedNow;
    e.duration_ms = Some((ms * 10.0).round() / 10.0);
    emit(Event::Applied {
        n: n + 1,
        total,
        label: e.label(),
        elapsed: took,
    });
}

/// Migration `idx` (the `n`-th of this run) failed; `after` says what became of it.
fn record_failure(
    report: &mut MigrateReport,
    idx: usize,
    n: usize,
    file: String,
    (sqlstate, message): (Option<String>, String),
    after: AfterFailure,
    emit: &mut dyn FnMut(Event),
) {
    let e = &mut report.migrations[idx];
    e.state = State::Failed;
    emit(Event::Failed {
        label: e.label(),
        file: file.clone(),
        sqlstate: sqlstate.clone(),
        message: message.clone(),
        after,
        earlier_stay: n > 0,
    });
    report.failure = Some(Failure {
        version: e.version,
        name: e.name.clone(),
        file,
        sqlstate,
        message,
    });
}

/// Does `table` exist (resolved through the session's `search_path`)? Reading a ledger never
/// creates it.
async fn table_exists(conn: &mut PgConnection, table: &str) -> Result<bool, MigrateError> {
    ::sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| MigrateError::query(&format!("reading {table}"), &e))
}
