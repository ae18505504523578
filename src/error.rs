//! The crate-wide error, at the edge only: [`crate::run`] turns each domain's own error into it,
//! and the binary prints it and exits with code 2 ("trouble"). Domain functions return their own
//! types (`crate::load::WorkspaceError`, [`crate::fix::FixError`], …).

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::fix::FixError;
use crate::hook::HookError;
use crate::load::WorkspaceError;
use crate::migrate::MigrateError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Fix(#[from] Box<FixError>),
    #[error(transparent)]
    Migrate(#[from] Box<MigrateError>),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Read(#[from] crate::fs::read::ReadError),
    #[error(transparent)]
    Rules(#[from] crate::config::RulesError),
    #[error(transparent)]
    Show(#[from] crate::show::ShowError),
    #[error(transparent)]
    Write(#[from] crate::fs::write::WriteError),
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
    /// Writing the output failed; a closed pipe (`| head`) is not an error.
    #[error("<stdout>: {0}")]
    Output(#[from] std::io::Error),
}

impl From<FixError> for Error {
    fn from(e: FixError) -> Self {
        Error::Fix(Box::new(e))
    }
}

impl From<MigrateError> for Error {
    fn from(e: MigrateError) -> Self {
        Error::Migrate(Box::new(e))
    }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, e: &std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            message: e.to_string(),
        }
    }

    /// Standard output was closed early (`envsync check | head`): the reader has what it wanted.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
