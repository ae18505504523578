//! `check`'s report (and the hook's, and what `fix` leaves): one line per finding, then a
//! summary line. The pieces other renderers reuse: a finding's [`locations`], the [`summary`].

use std::io::{self, Write};

use owo_colors::OwoColorize;

use crate::finding::{Finding, Report, Severity};
use crate::mask::sanitize;

use super::plural;

/// `severity[code] contour: message (locations)`, then a summary line.
pub fn text(report: &Report, color: bool, quiet: bool, out: &mut dyn Write) -> io::Result<()> {
    for f in &report.findings {
        if quiet && f.severity == Severity::Warning {
            continue;
        }
        let head = format!("{}[{}]", f.severity.name(), f.code.name());
        let head = match (color, f.severity) {
            (false, _) => head,
            (true, Severity::Error) => head.red().bold().to_string(),
            (true, Severity::Warning) => head.yellow().bold().to_string(),
        };
        let contour = f
            .contour
            .as_deref()
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        // Names and values in a message came from files: nothing in them may start a line, a
        // colour or a reordering of its own.
        write!(out, "{head}{contour}: {}", sanitize(&f.message))?;
        if !f.locations.is_empty() {
            let locs = locations(f);
            if color {
                write!(out, " ({})", locs.dimmed())?;
            } else {
                write!(out, " ({locs})")?;
            }
        }
        writeln!(out)?;
    }
    // `-q`: a clean run prints nothing.
    if quiet && report.summary.errors == 0 {
        return Ok(());
    }
    let line = summary(report);
    if color {
        let line = if report.summary.errors > 0 {
            line.red().to_string()
        } else {
            line.green().to_string()
        };
        writeln!(out, "{line}")
    } else {
        writeln!(out, "{line}")
    }
}

/// A finding's locations as text prints them (`backend .env:3, infra .env.prod:5`), made
/// safe to print.
pub fn locations(f: &Finding) -> String {
    let locs: Vec<String> = f
        .locations
        .iter()
        .map(|l| sanitize(&l.to_string()))
        .collect();
    locs.join(", ")
}

/// The summary line, without colour: `no drift (…)` or `2 errors, 1 warning (3 contours
/// checked: dev, stage, prod)`.
pub fn summary(report: &Report) -> String {
    let s = &report.summary;
    let checked = if report.contours.is_empty() {
        String::new()
    } else {
        format!(
            " ({} checked: {})",
            plural(report.contours.len(), "contour"),
            sanitize(&report.contours.join(", "))
        )
    };
    if s.errors == 0 && s.warnings == 0 {
        format!("no drift{checked}")
    } else {
        format!(
            "{}, {}{checked}",
            plural(s.errors, "error"),
            plural(s.warnings, "warning")
        )
    }
}

/// `report`: where the page went, and the summary line.
pub fn wrote(report: &Report, file: &std::path::Path, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "wrote {}: {}",
        sanitize(&file.display().to_string()),
        summary(report)
    )
}
