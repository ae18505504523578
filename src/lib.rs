//! envsync: keep the env files of an app repo and an infra repo in sync, per contour.
//!
//! How data flows (see `docs/design.md`): command-line arguments ([`cli`]) become read-only
//! `settings` (flags over `envsync.toml` over the preset, [`config`]); a `workspace` opens
//! both repos' [`source`]s (working tree, revision, index or remote) and finds each contour's
//! env files; each file is kept byte for byte ([`envfile`]) and decoded the way its consumer
//! reads it ([`dialect`]); [`config::rules`] turn the decoded files into [`finding`]s; `check`, [`fix`]
//! and `hook` build on that, [`migrate`] applies migrations; `render` prints every result
//! through one masking policy ([`mask`]). The binary only parses and calls [`run`].

pub mod check;
pub mod cli;
pub mod compose;
pub mod config;
pub mod dburl;
pub mod dialect;
pub mod envfile;
pub mod error;
pub mod exit;
pub mod finding;
pub mod fix;
pub mod fs;
pub mod k8s;
pub mod load;
pub mod mask;
pub mod migrate;
pub mod model;
pub mod source;
pub mod yaml;

mod app;
pub(crate) mod hook;
mod layers;
pub(crate) mod render;
pub(crate) mod report;
pub(crate) mod secret;
pub(crate) mod show;

pub use app::run;
pub use error::Error;
pub use exit::ExitStatus;
