//! `envsync migrate [run] | status | preflight | resolve`: the backend's migrations applied to
//! the contour's PostgreSQL, after a privilege preflight, under the ledger's advisory lock.
//!
//! - [`layout`]: which ledger (sqlx or Prisma) and where its migrations are;
//! - [`sqlx`] and [`prisma`]: each ledger's migrations directory and table, read, compared and
//!   written the way the real tool writes them;
//! - [`target`]: the database URL (flag or the backend's `DATABASE_URL`) and the route to it;
//!   [`docker`] hands the whole job to a container on the contour's network;
//! - [`conn`]: the connection; [`preflight`]: the user's privileges; [`lock`]: the advisory
//!   lock; [`sql`]: quoting for the SQL envsync writes.

pub mod conn;
pub mod docker;
pub mod layout;
pub mod lock;
pub mod preflight;
pub mod prisma;
pub mod sql;
pub mod sqlx;
pub mod target;

use std::path::PathBuf;
use std::time::Duration;

use ::sqlx::postgres::PgConnection;
use ::sqlx::Connection;
use serde::Serialize;

use crate::config::ConfigError;
use crate::exit::ExitStatus;
use crate::model::Contour;
use crate::rules::RulesError;
use crate::settings::Settings;

pub use layout::{Ledger, LedgerChoice};
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
    /// `migrate resolve`: what was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// `--via docker`: the exit code of the envsync that ran in the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_exit: Option<i32>,
}

impl MigrateReport {
    fn new(action: Action, ledger: Ledger, dry_run: bool) -> MigrateReport {
        MigrateReport {
            version: 1,
            action,
            ledger,
            dry_run,
            route: String::new(),
            target: String::new(),
            origin: String::new(),
            preflight: None,
            migrations: Vec::new(),
            failure: None,
            summary: Summary::default(),
            resolved: None,
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
    let (ledger, dir) = target::migrations_dir(&mut repos, opts, settings)?;
    let migrations = Migrations::load(ledger, &dir)?;
    let mut report = MigrateReport::new(opts.action, ledger, opts.dry_run);
    let rules = settings.config.load_rules()?;
    let db_rule = rules.database_url.clone();
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
            // The compose project decides the published port; the contour table is the fallback.
            let route = target::compose_route(&mut repos, &rules, &c, service_port)?;
            let (host, db_port, why) = match route.as_ref().and_then(|r| r.published.clone()) {
                Some((h, p, at)) => (h, p, format!("published by the db service, {at}")),
                None => (
                    "127.0.0.1".to_string(),
                    c.db_port,
                    match &route {
                        Some(r) => format!(
                            "the {} contour's DB port: {} publish none for {service_port}",
                            c.name,
                            r.files.join(" + ")
                        ),
                        None => format!("the {} contour's published DB port", c.name),
                    },
                ),
            };
            let (u, swapped) =
                target::via_host(&resolved.url, &service, service_port, (&host, db_port))?;
            report.route = if swapped {
                format!("host ({service}:{service_port} -> {host}:{db_port}, {why})")
            } else {
                format!("host (the URL does not name {service}:{service_port}; used as it is)")
            };
            u
        }
        Via::Docker => {
            let mut c = need_contour(&mut repos)?;
            // The network the db service is really on, when the compose project says.
            if let Some(n) =
                target::compose_route(&mut repos, &rules, &c, service_port)?.and_then(|r| r.network)
            {
                c.network = n;
            }
            report.route = format!(
                "docker (network {}, image {})",
                c.network, opts.docker_image
            );
            report.target = crate::mask::url(&resolved.url);
            note(Note::info(format!(
                "route: {}; target {} (from {})",
                report.route, report.target, report.origin
            )));
            return docker::run(opts, ledger, &c, &dir, &resolved.url, report);
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
    let migrations = migrations.with_schema(&url);
    let session = session(&url, &endpoint, opts, &migrations, &mut report, note);
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
    migrations: &Migrations,
    report: &mut MigrateReport,
    note: &mut dyn FnMut(Note),
) -> Result<(), MigrateError> {
    let mut conn = conn::connect(url, ep, opts.wait.map(Duration::from_secs), note).await?;
    let r = match migrations.on_connect(&mut conn).await {
        Ok(()) => work(&mut conn, opts, migrations, report, note).await,
        Err(e) => Err(e),
    };
    let _ = conn.close().await;
    r
}

async fn work(
    conn: &mut PgConnection,
    opts: &MigrateOptions,
    migrations: &Migrations,
    report: &mut MigrateReport,
    note: &mut dyn FnMut(Note),
) -> Result<(), MigrateError> {
    if opts.action == Action::Status {
        report.migrations = migrations.compare(conn).await?;
        return Ok(());
    }
    let pre = preflight::preflight(conn, migrations.table(), migrations.schema()).await?;
    let ok = pre.ok();
    if ok {
        note(Note::info(format!(
            "preflight: OK ({} on {}, schema {}, ledger {})",
            pre.user,
            pre.database,
            pre.schema.as_deref().unwrap_or("?"),
            migrations.table()
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
        note,
    )
    .await?;
    let r = match &opts.resolution {
        Some(how) => resolve(conn, migrations, how, report, note).await,
        None => apply_all(conn, migrations, report, note).await,
    };
    lock::unlock(conn, key).await;
    r
}

async fn resolve(
    conn: &mut PgConnection,
    migrations: &Migrations,
    how: &Resolution,
    report: &mut MigrateReport,
    note: &mut dyn FnMut(Note),
) -> Result<(), MigrateError> {
    migrations.create(conn).await?;
    let done = migrations.resolve(conn, how).await?;
    note(Note::info(done.clone()));
    report.resolved = Some(done);
    report.migrations = migrations.compare(conn).await?;
    Ok(())
}

async fn apply_all(
    conn: &mut PgConnection,
    migrations: &Migrations,
    report: &mut MigrateReport,
    note: &mut dyn FnMut(Note),
) -> Result<(), MigrateError> {
    migrations.create(conn).await?;
    report.migrations = migrations.compare(conn).await?;
    let bad: Vec<&Entry> = report
        .migrations
        .iter()
        .filter(|e| e.state.blocks())
        .collect();
    if !bad.is_empty() {
        note(Note::problem(
            "refusing to apply anything: the ledger no longer matches the migrations".into(),
        ));
        for e in bad {
            note(Note::problem(format!(
                "  {:<9} {}: {}",
                e.state,
                e.file.as_deref().unwrap_or(&e.label()),
                e.note.as_deref().unwrap_or("")
            )));
        }
        return Ok(());
    }
    match migrations {
        Migrations::Sqlx(locals) => sqlx::apply_pending(conn, locals, report, note).await,
        Migrations::Prisma { locals, .. } => {
            prisma::apply_pending(conn, locals, report, note).await
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
    /// Read and check the directory before anything is sent to the database.
    pub fn load(ledger: Ledger, dir: &std::path::Path) -> Result<Migrations, MigrateError> {
        Ok(match ledger {
            Ledger::Sqlx => Migrations::Sqlx(sqlx::dir::load(dir)?),
            Ledger::Prisma => Migrations::Prisma {
                locals: prisma::dir::load(dir)?,
                schema: None,
            },
        })
    }

    /// Prisma's convention: `?schema=NAME` in the URL is the schema to work in. sqlx ignores it.
    fn with_schema(self, url: &str) -> Migrations {
        match self {
            Migrations::Prisma { locals, .. } => Migrations::Prisma {
                locals,
                schema: url::Url::parse(url).ok().and_then(|u| {
                    u.query_pairs()
                        .find(|(k, _)| k == "schema")
                        .map(|(_, v)| v.into_owned())
                        .filter(|v| !v.is_empty())
                }),
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
            use ::sqlx::Executor;
            conn.execute(::sqlx::raw_sql(&format!(
                "SET search_path TO {}",
                sql::quote_ident(s)
            )))
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
    ) -> Result<String, MigrateError> {
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
    note: &mut dyn FnMut(Note),
) {
    let ms = took.as_secs_f64() * 1000.0;
    let e = &mut report.migrations[idx];
    e.state = State::AppliedNow;
    e.duration_ms = Some((ms * 10.0).round() / 10.0);
    note(Note::info(format!(
        "applied {}/{total} {} ({ms:.1} ms)",
        n + 1,
        e.label()
    )));
}

/// Migration `idx` (the `n`-th of this run) failed; `after` says what became of it.
fn record_failure(
    report: &mut MigrateReport,
    idx: usize,
    n: usize,
    file: String,
    (sqlstate, message): (Option<String>, String),
    after: &str,
    note: &mut dyn FnMut(Note),
) {
    let e = &mut report.migrations[idx];
    e.state = State::Failed;
    note(Note::problem(format!(
        "failed {} ({file}): {}{message}; {after}{}",
        e.label(),
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
