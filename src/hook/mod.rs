//! The git pre-commit hook: [`install()`] and [`uninstall()`] put a marked block into the hook git
//! runs; [`run`] is what that block calls: `check --staged` of this repo against the other one,
//! plus the [`guard()`] over what the commit would contain. Nothing here writes the index or the
//! working tree.

mod guard;
mod install;

use std::path::{Path, PathBuf};

pub use guard::{classify, guard};
pub use install::{install, uninstall, Installed};

use crate::config::settings::Settings;
use crate::finding::{Report, Severity};
use crate::load::{OpenOptions, Workspace, WorkspaceError};
use crate::source::{Checkout, SourceError};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{} is a pre-commit hook envsync did not write and cannot chain into (not a shell script); rerun with --force to move it to {} and chain to it", path.display(), moved.display())]
    Foreign { path: PathBuf, moved: PathBuf },
}

fn io(path: &Path, e: std::io::Error) -> HookError {
    HookError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Can the repo the hook compares against be opened? `hook install` warns when it cannot: every
/// commit would be blocked until it can.
pub fn other_repo_problem(settings: &Settings) -> Option<String> {
    let other = settings.current_repo().other();
    let spec = settings.sources.get(other);
    match crate::source::Source::open(spec, other.name(), false) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "the {other} repo cannot be read ({e}); until it can, `hook run` stops every commit. Clone it there, or set `[repos.{other}] path` in an envsync.toml of this repo (the hook reads it)"
        )),
    }
}

/// `envsync hook run`: `check --staged` of this repo against the other one, plus [`guard()`].
pub fn run(settings: &Settings) -> Result<Report, HookError> {
    let checkout = Checkout::discover(&settings.cwd)?;
    if checkout.work_tree().is_none() {
        return Err(SourceError::NoRepo("a bare repository has no commits to guard".into()).into());
    }
    let this = settings.current_repo();
    let opts = OpenOptions {
        staged: Some(this),
        rev: settings
            .config
            .hook_other_rev
            .clone()
            .map(|rev| (this.other(), rev)),
    };
    let ws = Workspace::open(settings, &opts)?;
    let mask = ws.config.rules.mask(false);
    let (mut findings, contours, read) =
        match crate::check::check(&ws, &mask, &[], settings.verbose > 0) {
            Ok(report) => (report.findings, report.contours, report.read),
            // A repo with no env files at all has nothing to compare; the guard still runs.
            Err(WorkspaceError::NoEnvFiles { .. }) => (Vec::new(), Vec::new(), Vec::new()),
            Err(e) => return Err(e.into()),
        };
    findings.retain(|f| f.severity == Severity::Error);
    // The index `check --staged` just read, when it is this checkout's; else read it here.
    let wanted = |path: &str| classify(path).is_some();
    let staged = match ws.source(this)?.staged_changes(checkout.git_dir(), &wanted) {
        Some(changes) => changes?,
        None => checkout.staged_changes(&wanted)?,
    };
    let dialect = ws.config.repo(this).dialect;
    findings.extend(guard(&staged, this, dialect, &ws.config.rules));
    let mut report = Report::new(findings, contours);
    report.read = read;
    Ok(report)
}
