//! The hook's output: what `install` and `uninstall` did, and `hook run`'s verdict.

use std::io::{self, Write};
use std::path::Path;

use crate::finding::Report;
use crate::hook::Installed;

pub fn installed(done: &Installed, out: &mut dyn Write) -> io::Result<()> {
    match done {
        Installed::Created(p) => writeln!(out, "installed {}", p.display()),
        Installed::Updated(p) => writeln!(out, "already installed in {} (updated)", p.display()),
        Installed::Chained(p) => {
            writeln!(out, "added envsync to the existing hook {}", p.display())
        }
        Installed::MovedForeign { hook, moved } => writeln!(
            out,
            "installed {}; the previous hook moved to {} and still runs after envsync",
            hook.display(),
            moved.display()
        ),
    }
}

pub fn uninstalled(file: Option<&Path>, out: &mut dyn Write) -> io::Result<()> {
    match file {
        Some(p) => writeln!(out, "removed envsync from {}", p.display()),
        None => writeln!(out, "no envsync hook installed"),
    }
}

/// The findings that block the commit, or one line saying the staged files are fine.
pub fn run(report: &Report, color: bool, quiet: bool, out: &mut dyn Write) -> io::Result<()> {
    if report.has_errors() {
        super::check::text(report, color, false, out)?;
        writeln!(
            out,
            "envsync: commit blocked; fix the above, or bypass once with `git commit --no-verify`"
        )
    } else if !quiet {
        writeln!(out, "envsync: staged env files OK")
    } else {
        Ok(())
    }
}
