//! Command-line types (clap derive) only: the commands and their flags. The global flags are
//! [`GlobalArgs`], defined next to the settings they become; [`crate::run`] dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::config::settings::GlobalArgs;
use crate::dialect::Dialect;
use crate::migrate::{LedgerChoice, Via};
use crate::model::Repo;

#[derive(Debug, Parser)]
#[command(
    name = "envsync",
    version,
    about = "Keep the env files of an app repo and an infra repo in sync, per contour",
    after_help = crate::exit::HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The `--color` value among raw arguments (the last one wins, as clap would take it), so that
/// clap's own help and errors follow it; `auto` when absent or not understood.
pub fn color_from_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> clap::ColorChoice {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut choice = clap::ColorChoice::Auto;
    for (i, a) in args.iter().enumerate() {
        let value = match a.strip_prefix("--color=") {
            Some(v) => Some(v),
            None if a == "--color" => args.get(i + 1).map(String::as_str),
            None => None,
        };
        if let Some(c) = value.and_then(|v| clap::ColorChoice::from_str(v, true).ok()) {
            choice = c;
        }
    }
    choice
}

/// The whole command tree with every deferred subcommand built (the man page lists them all).
pub fn built() -> clap::Command {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    cmd
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// What `check` and `hook run` print. Their own enum, not [`Format`]: the other commands have
/// no SARIF, annotations or summary to give, so clap refuses those values there (exit 2) and
/// their `--help` does not offer them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReportFormat {
    /// One line per finding, then a summary
    #[default]
    Text,
    /// The report as one JSON document
    Json,
    /// A SARIF 2.1.0 log, for GitHub code scanning
    Sarif,
    /// GitHub Actions workflow commands: an annotation per finding
    Github,
    /// Markdown tables per contour, for $GITHUB_STEP_SUMMARY
    Markdown,
}

/// Each subcommand's flags are built only when it is the one invoked (`defer`): a `check` does
/// not pay for `migrate`'s dozens of flags at every start.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Report drift between the two repos' env files
    Check(CheckArgs),
    /// Repair drift for one contour in place, changing only the bytes it must
    Fix(FixArgs),
    /// Apply the backend's migrations (Prisma or sqlx) to the contour's PostgreSQL, after a privilege preflight
    Migrate(Box<MigrateArgs>),
    /// Decode one env file the way a consumer reads it, or show what a compose service or a Kubernetes workload receives
    Show(ShowArgs),
    /// Write one self-contained HTML page: per contour, the keys that matter by the sources that give them, then the findings
    Report(ReportArgs),
    /// Install, remove or run the git pre-commit hook
    Hook {
        #[command(subcommand)]
        action: HookAction,
    },
    /// Write a commented envsync.toml with the GPROD defaults
    Init,
    /// Print a completion script for SHELL (e.g. `envsync completions bash > /etc/bash_completion.d/envsync`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `envsync man > envsync.1`
    Man,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Contour name or alias; repeat for several (default: every contour with env files)
    #[arg(long = "contour", short = 'c', value_name = "C")]
    pub contours: Vec<String>,
    /// Read this repo's tracked files from the git index (what would be committed)
    #[arg(long)]
    pub staged: bool,
    /// The report's format: sarif, github and markdown are for CI (code scanning, annotations, job summary)
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Print secret values instead of fingerprints
    #[arg(long)]
    pub show_values: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write the page to FILE (replaced whole; its directory must exist)
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
    /// Contour name or alias; repeat for several (default: every contour with env files)
    #[arg(long = "contour", short = 'c', value_name = "C")]
    pub contours: Vec<String>,
    /// Read this repo's tracked files from the git index (what would be committed)
    #[arg(long)]
    pub staged: bool,
    /// Put values on the page beside their fingerprints (the file then holds secrets)
    #[arg(long)]
    pub show_values: bool,
}

#[derive(Debug, Args)]
pub struct FixArgs {
    /// The contour to repair (name or alias)
    #[arg(long = "contour", short = 'c', value_name = "C")]
    pub contour: String,
    /// Print a unified diff (values masked) and change nothing; exit 1 if something would change
    #[arg(long)]
    pub dry_run: bool,
    /// Which repo's value wins for the shared keys (default: the owners in the rules)
    #[arg(long, value_enum, value_name = "REPO")]
    pub prefer: Option<Repo>,
    /// Generate missing, weak or reused secrets (48 random bytes, URL-safe) and write them to both repos
    #[arg(long)]
    pub generate_secrets: bool,
    /// Do not keep a backup (FILE.envsync.bak, mode 0600) of each changed file
    #[arg(long)]
    pub no_backup: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print values instead of fingerprints
    #[arg(long)]
    pub show_values: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub action: Option<MigrateAction>,
    /// `migrate` alone is `migrate run`
    #[command(flatten)]
    pub run: RunFlags,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum MigrateAction {
    /// Apply pending migrations (the default)
    Run(RunFlags),
    /// List applied, pending, modified and missing migrations; read-only
    Status(MigrateFlags),
    /// Check the migration user's privileges only; read-only
    Preflight(MigrateFlags),
    /// Mark a failed migration applied or rolled back (as `prisma migrate resolve` does)
    Resolve(ResolveArgs),
}

// `migrate run`: what writes. (A plain comment: with `defer`, a doc comment here would become
// the about text of every command that flattens these flags.)
#[derive(Debug, Args, Clone)]
pub struct RunFlags {
    /// List what would be applied; write nothing (exit 1 if something is pending)
    #[arg(long)]
    pub dry_run: bool,
    /// Before applying anything, pg_dump the database into DIR (relative to the current directory); also [contours.C] backup_before_migrate
    #[arg(long, value_name = "DIR")]
    pub backup: Option<PathBuf>,
    /// The pg_dump program for --backup (its major version must be at least the server's)
    #[arg(
        long,
        value_name = "PATH",
        env = "ENVSYNC_PG_DUMP",
        default_value = "pg_dump"
    )]
    pub pg_dump: PathBuf,
    // --via docker: the contour the host's envsync runs for, which names the dump made in the
    // container (that envsync reads no envsync.toml).
    #[arg(long, value_name = "C", hide = true)]
    pub backup_contour: Option<String>,
    #[command(flatten)]
    pub lock: LockFlags,
    #[command(flatten)]
    pub flags: MigrateFlags,
}

#[derive(Debug, Args, Clone)]
pub struct LockFlags {
    /// Give up waiting for another runner's migration lock after SECS
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub lock_timeout: u64,
}

#[derive(Debug, Args, Clone)]
#[command(group(clap::ArgGroup::new("how").required(true).args(["applied", "rolled_back"])))]
pub struct ResolveArgs {
    /// Record NAME as applied without running it (you completed it by hand)
    #[arg(long, value_name = "NAME")]
    pub applied: Option<String>,
    /// Forget NAME's failed attempt, so the next run applies it again (after you undid what it did)
    #[arg(long, value_name = "NAME")]
    pub rolled_back: Option<String>,
    #[command(flatten)]
    pub lock: LockFlags,
    #[command(flatten)]
    pub flags: MigrateFlags,
}

// What every `migrate` action takes: where the migrations and the database are (a plain
// comment, as on `RunFlags`).
#[derive(Debug, Args, Clone)]
pub struct MigrateFlags {
    /// Contour whose DATABASE_URL, DB port and network are used (default: the one the backend's .env links to)
    #[arg(long = "contour", short = 'c', value_name = "C")]
    pub contour: Option<String>,
    /// Migrations directory (default: prisma/migrations or migrations/ in the backend repo)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Which ledger: prisma (_prisma_migrations), sqlx (_sqlx_migrations), or auto from the layout
    #[arg(long, value_enum, default_value_t = LedgerChoice::Auto)]
    pub ledger: LedgerChoice,
    /// Use this URL instead of the backend's DATABASE_URL
    #[arg(
        long,
        value_name = "URL",
        env = "ENVSYNC_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// How to reach the database: direct, host (127.0.0.1:CONTOUR_DB_PORT), docker, kubernetes (kubectl port-forward), or auto
    #[arg(long, value_enum, default_value_t = Via::Auto)]
    pub via: Via,
    /// --via kubernetes: the kubeconfig context kubectl uses (default: the context in envsync.toml, else kubectl's current one)
    #[arg(long, value_name = "X")]
    pub kube_context: Option<String>,
    /// Keep retrying the connection for up to SECS while the database starts
    #[arg(long, value_name = "SECS")]
    pub wait: Option<u64>,
    /// --via docker: an image already on this machine to run envsync in (glibc-based unless --docker-binary is static)
    #[arg(long, value_name = "IMAGE", default_value = "gprod-backend:latest")]
    pub docker_image: String,
    /// --via docker: the envsync binary to mount into the container (default: this one)
    #[arg(long, value_name = "PATH")]
    pub docker_binary: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("consumer").args(["service", "workload"])))]
pub struct ShowArgs {
    /// The env file to decode (or use --service / --workload)
    #[arg(
        required_unless_present_any = ["service", "workload"],
        conflicts_with_all = ["service", "workload"]
    )]
    pub file: Option<PathBuf>,
    /// Show what this compose service of the infra repo receives (needs --contour)
    #[arg(
        long,
        value_name = "S",
        requires = "contour",
        conflicts_with = "workload"
    )]
    pub service: Option<String>,
    /// Show what this Kubernetes workload's container receives, e.g. deployment/gprod-backend (needs --contour)
    #[arg(long, value_name = "KIND/NAME", requires = "contour")]
    pub workload: Option<String>,
    /// With --workload: the container (default: the configured one, or the workload's only one)
    #[arg(long, value_name = "NAME", requires = "workload")]
    pub container: Option<String>,
    /// The contour whose compose files or Kubernetes objects are read (with --service or --workload)
    #[arg(long, short = 'c', value_name = "C", requires = "consumer")]
    pub contour: Option<String>,
    /// The consumer to read it as (default: the dialect of the repo the file is in)
    #[arg(long, value_enum)]
    pub dialect: Option<Dialect>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print values instead of fingerprints
    #[arg(long)]
    pub show_values: bool,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum HookAction {
    /// Install the pre-commit hook in the repo of the current directory
    Install {
        /// Replace a foreign pre-commit hook instead of refusing
        #[arg(long)]
        force: bool,
    },
    /// Remove exactly what `hook install` added
    Uninstall,
    /// What the hook runs: check the staged content against the other repo
    Run {
        /// The report's format, as for `check` (text: the findings that block, or one line saying all is well)
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_color_flag_is_found_before_parsing() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            color_from_args(args(&["envsync", "--color", "never", "--help"])),
            clap::ColorChoice::Never
        );
        assert_eq!(
            color_from_args(args(&["envsync", "check", "--color=always"])),
            clap::ColorChoice::Always
        );
        assert_eq!(
            color_from_args(args(&["envsync", "--color"])),
            clap::ColorChoice::Auto
        );
    }

    #[test]
    fn read_only_migrate_actions_take_no_writing_flags() {
        for args in [
            &["envsync", "migrate", "status", "--dry-run"][..],
            &["envsync", "migrate", "preflight", "--lock-timeout", "5"],
            &[
                "envsync",
                "migrate",
                "resolve",
                "--dry-run",
                "--applied",
                "x",
            ],
            &["envsync", "migrate", "resolve"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
        assert!(
            Cli::try_parse_from(["envsync", "migrate", "--dry-run", "--lock-timeout", "5"]).is_ok()
        );
    }

    #[test]
    fn the_man_page_in_docs_is_the_one_envsync_man_prints() {
        let mut page = Vec::new();
        clap_mangen::Man::new(built()).render(&mut page).unwrap();
        let shipped = std::fs::read(format!("{}/docs/envsync.1", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_default();
        assert!(
            page == shipped,
            "docs/envsync.1 is stale: regenerate it with `cargo run -- man > docs/envsync.1`"
        );
    }

    #[test]
    fn global_flags_go_before_or_after_the_subcommand() {
        let a = Cli::try_parse_from(["envsync", "--backend", "b", "check"]).unwrap();
        let b = Cli::try_parse_from(["envsync", "check", "--backend", "b"]).unwrap();
        assert_eq!(a.global.backend, b.global.backend);
    }
}
