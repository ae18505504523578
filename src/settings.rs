//! Validated settings: command-line flags applied over `envsync.toml` over the preset.

use std::path::{Path, PathBuf};

use crate::cli::{Color, GlobalArgs};
use crate::config::{Config, Repo};
use crate::error::Error;
use crate::report::ColorChoice;
use crate::source::SourceSpec;

#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    pub backend: SourceSpec,
    pub infra: SourceSpec,
    /// The repo whose index is read (`check --staged`, `hook run`).
    pub staged_repo: Option<Repo>,
    pub color: ColorChoice,
    pub quiet: bool,
    pub verbose: u8,
    pub cwd: PathBuf,
}

impl Settings {
    pub fn from_args(g: &GlobalArgs, cwd: &Path) -> Result<Settings, Error> {
        let config = Config::load(g.config.as_deref(), cwd)?;
        // Paths in envsync.toml are relative to its directory; flags to the current one.
        let config_dir = config
            .file
            .as_deref()
            .and_then(Path::parent)
            .map_or_else(|| cwd.to_path_buf(), Path::to_path_buf);
        let spec = |flag: &Option<String>, rev: &Option<String>, repo: Repo| {
            let rc = config.repo(repo);
            match flag {
                Some(src) => SourceSpec::parse(src, rev.clone(), cwd),
                None => SourceSpec::parse(
                    &rc.path,
                    rev.clone().or_else(|| rc.rev.clone()),
                    &config_dir,
                ),
            }
        };
        let backend = spec(&g.backend, &g.backend_rev, Repo::Backend);
        let infra = spec(&g.infra, &g.infra_rev, Repo::Infra);
        Ok(Settings {
            config,
            backend,
            infra,
            staged_repo: None,
            color: match g.color {
                Color::Auto => ColorChoice::Auto,
                Color::Always => ColorChoice::Always,
                Color::Never => ColorChoice::Never,
            },
            quiet: g.quiet,
            verbose: g.verbose,
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
        match (depth(&self.backend), depth(&self.infra)) {
            (Some(b), Some(i)) if i > b => Repo::Infra,
            (None, Some(_)) => Repo::Infra,
            _ => Repo::Backend,
        }
    }

    /// Root of a repo given as a path (for writing, hooks, migrations).
    pub fn repo_path(&self, repo: Repo) -> Option<&Path> {
        match self.spec(repo) {
            SourceSpec::Path { path, .. } => Some(path),
            SourceSpec::Remote { .. } => None,
        }
    }

    pub fn spec(&self, repo: Repo) -> &SourceSpec {
        match repo {
            Repo::Backend => &self.backend,
            Repo::Infra => &self.infra,
        }
    }
}
