//! Validated settings: command-line flags applied over `envsync.toml` over the preset.
//!
//! Built once from the global flags and never changed afterwards: what a command needs beyond
//! them (the staged repo, `--show-values`, a revision for the other repo) it passes explicitly,
//! as [`crate::load::OpenOptions`] or a [`crate::mask::Mask`].

use std::path::{Path, PathBuf};

use clap::{Args, ColorChoice};

use crate::config::{Config, ConfigError};
use crate::model::{PerRepo, Repo};
use crate::source::SourceSpec;

#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// The app repo: a directory or git+file:// / git+https:// / git+ssh:// URL with optional #REV
    #[arg(long, global = true, value_name = "SRC")]
    pub backend: Option<String>,
    /// The infra repo (default from config, else ../gybernaty-infra)
    #[arg(long, global = true, value_name = "SRC")]
    pub infra: Option<String>,
    /// Read the backend at this commit, branch or tag instead of its working tree
    #[arg(long, global = true, value_name = "REV")]
    pub backend_rev: Option<String>,
    /// Read the infra repo at this commit, branch or tag instead of its working tree
    #[arg(long, global = true, value_name = "REV")]
    pub infra_rev: Option<String>,
    /// Config file (default: envsync.toml in the current directory or an ancestor)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Colour: auto colours only a terminal and honours NO_COLOR
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print less (errors only)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail: the files read, and how long it took
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Let ${VAR} references a file does not define fall back to this process's environment,
    /// as compose and dotenvy do when they run (off: results never depend on the shell)
    #[arg(long, global = true)]
    pub env_from_process: bool,
}

/// What every command reads: the global flags applied over the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    /// Where each repo is read from.
    pub sources: PerRepo<SourceSpec>,
    /// Whether each repo's place was given (flag or envsync.toml) rather than the preset's
    /// default: only such a place says which repo a file belongs to (`show`).
    pub located: PerRepo<bool>,
    pub color: clap::ColorChoice,
    pub quiet: bool,
    pub verbose: u8,
    /// `--env-from-process`.
    pub env: crate::dialect::Env,
    pub cwd: PathBuf,
}

impl Settings {
    pub fn from_args(g: &GlobalArgs, cwd: &Path) -> Result<Settings, ConfigError> {
        let mut config = Config::load(g.config.as_deref(), cwd)?;
        // The programs envsync runs: the environment over envsync.toml.
        for (var, slot) in [
            ("ENVSYNC_HELM", &mut config.kube_tools.helm),
            ("ENVSYNC_KUBECTL", &mut config.kube_tools.kubectl),
        ] {
            if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
                *slot = v;
            }
        }
        // Paths in envsync.toml are relative to its directory; flags to the current one.
        let config_dir = config
            .file
            .as_deref()
            .and_then(Path::parent)
            .map_or_else(|| cwd.to_path_buf(), Path::to_path_buf);
        let flags = PerRepo::new((&g.backend, &g.backend_rev), (&g.infra, &g.infra_rev));
        let sources = PerRepo::from_fn(|repo| {
            let (flag, rev) = flags.get(repo);
            let rc = config.repo(repo);
            match flag {
                Some(src) => SourceSpec::parse(src, (*rev).clone(), cwd),
                None => SourceSpec::parse(
                    &rc.path,
                    (*rev).clone().or_else(|| rc.rev.clone()),
                    &config_dir,
                ),
            }
        });
        let located = PerRepo::from_fn(|repo| {
            flags.get(repo).0.is_some() || config.repo(repo).path_configured
        });
        Ok(Settings {
            config,
            sources,
            located,
            color: g.color,
            quiet: g.quiet,
            verbose: g.verbose,
            env: if g.env_from_process {
                crate::dialect::Env::Process
            } else {
                crate::dialect::Env::Isolated
            },
            cwd: cwd.to_path_buf(),
        })
    }

    /// Which repo the current directory belongs to (the deepest match), for `--staged` and
    /// the hook. Defaults to the backend.
    pub fn current_repo(&self) -> Repo {
        let cwd = std::fs::canonicalize(&self.cwd).unwrap_or_else(|_| self.cwd.clone());
        let depth = |spec: &SourceSpec| match spec {
            SourceSpec::Path { path, .. } => std::fs::canonicalize(path)
                .ok()
                .filter(|p| cwd.starts_with(p))
                .map(|p| p.components().count()),
            SourceSpec::Remote { .. } => None,
        };
        match (depth(&self.sources.backend), depth(&self.sources.infra)) {
            (Some(b), Some(i)) if i > b => Repo::Infra,
            (None, Some(_)) => Repo::Infra,
            _ => Repo::Backend,
        }
    }

    /// Root of a repo given as a path (for writing, hooks, migrations).
    pub fn repo_path(&self, repo: Repo) -> Option<&Path> {
        match self.sources.get(repo) {
            SourceSpec::Path { path, .. } => Some(path),
            SourceSpec::Remote { .. } => None,
        }
    }
}
