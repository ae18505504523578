//! envsync: keep the env files of an app repo and an infra repo in sync, per contour.
//!
//! The library does the work and returns data; the `envsync` binary parses arguments, calls it,
//! renders reports and maps errors to the exit-code contract ([`exit::ExitStatus`]).

pub mod check;
pub mod cli;
pub mod config;
pub mod dialect;
pub mod envfile;
pub mod error;
pub mod exit;
pub mod fix;
pub mod hook;
pub mod migrate;
pub mod quote;
pub mod report;
pub mod rules;
pub mod secret;
pub mod settings;
pub mod show;
pub mod source;
pub mod write;

pub use error::Error;
pub use exit::ExitStatus;

/// `envsync init`: write the commented template, refusing to overwrite.
pub fn init(dir: &std::path::Path) -> Result<std::path::PathBuf, Error> {
    use std::io::Write;
    let path = dir.join("envsync.toml");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Usage(format!(
                    "{} already exists; envsync init never overwrites it (edit it, or remove it first)",
                    path.display()
                ))
            } else {
                Error::io(&path, &e)
            }
        })?;
    f.write_all(config::INIT_TEMPLATE.as_bytes())
        .map_err(|e| Error::io(&path, &e))?;
    Ok(path)
}
