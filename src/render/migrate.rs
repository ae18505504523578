//! `migrate`'s text output: the listing (`status`, `--dry-run`), then one summary line.
//! Progress lines, the migrations that stop a run included, are printed as they happen
//! ([`note`]).

use std::io::{self, Write};

use crate::migrate::{Action, MigrateReport, Note};

/// A progress line: stdout in text mode, stderr with `--format json` (stdout holds the JSON).
/// `-q` keeps only the lines that report a problem.
pub fn note(n: &Note, quiet: bool, json: bool, out: &mut dyn Write) -> io::Result<()> {
    if quiet && !n.problem {
        return Ok(());
    }
    if json {
        writeln!(io::stderr(), "{}", n.text)
    } else {
        writeln!(out, "{}", n.text)
    }
}

pub fn text(r: &MigrateReport, quiet: bool, out: &mut dyn Write) -> io::Result<()> {
    let listing = r.action == Action::Status || r.dry_run;
    if listing && !quiet {
        for e in &r.migrations {
            let note = e
                .note
                .as_deref()
                .map(|n| format!("  ({n})"))
                .unwrap_or_default();
            writeln!(out, "{:<9} {}{note}", e.state, e.label())?;
        }
    }
    // A run that refused lists the migrations in its progress lines already (`-q` keeps them).
    writeln!(out, "{}", summary(r))
}

fn summary(r: &MigrateReport) -> String {
    let s = &r.summary;
    match r.action {
        Action::Preflight => match &r.preflight {
            Some(p) if p.ok() => "preflight passed".to_string(),
            _ => {
                "preflight refused: grant the privileges above, then run migrate again".to_string()
            }
        },
        _ if r.preflight.as_ref().is_some_and(|p| !p.ok()) => {
            "preflight refused: nothing was applied or created".to_string()
        }
        Action::Resolve => match &r.resolved {
            Some(done) => format!("resolved: {done}"),
            None => "nothing was resolved".to_string(),
        },
        _ if r.failure.is_some() => format!(
            "migration failed; {} applied in this run, {} pending",
            s.applied_now, s.pending
        ),
        _ if s.modified + s.missing > 0 => format!(
            "{} modified, {} missing or failed earlier: nothing was applied",
            s.modified, s.missing
        ),
        Action::Status => format!("{} applied, {} pending", s.applied, s.pending),
        _ if r.dry_run => format!(
            "{} pending (dry run: nothing written), {} applied",
            s.pending, s.applied
        ),
        _ if s.applied_now == 0 => format!("up to date ({} applied)", s.applied),
        _ => format!(
            "applied {} migration{}; {} in total",
            s.applied_now,
            if s.applied_now == 1 { "" } else { "s" },
            s.applied
        ),
    }
}
