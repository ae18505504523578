//! The top-level error: every domain error, each mapped to exit code 2 ("trouble").

use std::path::PathBuf;

use crate::config::{ConfigError, Repo};
use crate::source::SourceError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("contour {contour}: no env file in {repo} ({source_name}); looked for {}. Create one, or set [repos.{repo}] env = [...] in envsync.toml", candidates.join(", "))]
    MissingEnvFile {
        contour: String,
        repo: Repo,
        source_name: String,
        candidates: Vec<String>,
    },
    #[error("no env files found for any contour; looked in backend {backend} and infra {infra} for {}. Pass --backend/--infra, or run `envsync init`", candidates.join(", "))]
    NoEnvFiles {
        backend: String,
        infra: String,
        candidates: Vec<String>,
    },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Hook(#[from] crate::hook::HookError),
    #[error(transparent)]
    Fix(Box<crate::fix::FixError>),
    #[error(transparent)]
    Migrate(Box<crate::migrate::MigrateError>),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, e: &std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            message: e.to_string(),
        }
    }
}
