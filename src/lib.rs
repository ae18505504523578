//! envsync: keep the env files of an app repo and an infra repo in sync, per contour.
//!
//! How data flows (see `docs/design.md`): command-line arguments ([`cli`]) become read-only
//! `settings` (flags over `envsync.toml` over the preset, [`config`]); a `workspace` opens
//! both repos' [`source`]s (working tree, revision, index or remote) and finds each contour's
//! env files; each file is kept byte for byte ([`envfile`]) and decoded the way its consumer
//! reads it ([`dialect`]); [`rules`] turn the decoded files into [`finding`]s; `check`, [`fix`]
//! and `hook` build on that, [`migrate`] applies migrations; `render` prints every result
//! through one masking policy ([`mask`]). The binary only parses and calls [`run`].

pub mod cli;
pub mod compose;
pub mod config;
pub mod dialect;
pub mod envfile;
pub mod error;
pub mod exit;
pub mod finding;
pub mod fix;
pub mod mask;
pub mod migrate;
pub mod model;
pub mod rules;
pub mod source;

mod app;
pub(crate) mod check;
pub mod fsread;
pub(crate) mod hook;
pub(crate) mod render;
pub(crate) mod secret;
pub(crate) mod settings;
pub(crate) mod show;
pub(crate) mod tomlfile;
pub(crate) mod workspace;
pub(crate) mod write;

pub use app::run;
pub use error::Error;
pub use exit::ExitStatus;

/// `envsync init`: write the commented template, refusing to overwrite.
pub(crate) fn init(dir: &std::path::Path) -> Result<std::path::PathBuf, Error> {
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
