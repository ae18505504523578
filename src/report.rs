//! Findings and their renderers (text and JSON).
//!
//! The library returns [`Report`]s; only the binary prints them, through [`render_text`] or
//! [`render_json`]. Values never reach this module: messages are built with fingerprints.

use std::io::{self, Write};

use owo_colors::OwoColorize;
use serde::Serialize;

use crate::config::Repo;
use crate::rules::RuleCode;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Where a finding points.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub repo: Repo,
    pub file: String,
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}:{}", self.repo, self.file, self.line)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: RuleCode,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contour: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub message: String,
    pub locations: Vec<Location>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
}

/// The result of `check` (and of the hook).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub version: u32,
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// The contours that were checked.
    #[serde(skip)]
    pub contours: Vec<String>,
}

impl Report {
    pub fn new(mut findings: Vec<Finding>, contours: Vec<String>) -> Report {
        // Contours in the order they were checked, errors first, then by place.
        let rank = |c: &Option<String>| {
            c.as_ref()
                .and_then(|c| contours.iter().position(|x| x == c))
                .unwrap_or(usize::MAX)
        };
        findings.sort_by(|a, b| {
            (rank(&a.contour), b.severity, &a.locations, a.code.name()).cmp(&(
                rank(&b.contour),
                a.severity,
                &b.locations,
                b.code.name(),
            ))
        });
        findings.dedup();
        let errors = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        Report {
            version: 1,
            summary: Summary {
                errors,
                warnings: findings.len() - errors,
            },
            findings,
            contours,
        }
    }

    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }
}

/// An output stream whose colour is decided once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Whether to colour a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Decide colour once per stream: `--color`, then `NO_COLOR`, then whether it is a terminal.
pub fn colorize(choice: ColorChoice, stream: Stream) -> bool {
    use std::io::IsTerminal;
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && match stream {
                    Stream::Stdout => io::stdout().is_terminal(),
                    Stream::Stderr => io::stderr().is_terminal(),
                }
        }
    }
}

/// `severity[code] contour: message (locations)`, then a summary line.
pub fn render_text(
    report: &Report,
    color: bool,
    quiet: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
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
        write!(out, "{head}{contour}: {}", f.message)?;
        if !f.locations.is_empty() {
            let locs: Vec<String> = f.locations.iter().map(ToString::to_string).collect();
            let locs = locs.join(", ");
            if color {
                write!(out, " ({})", locs.dimmed())?;
            } else {
                write!(out, " ({locs})")?;
            }
        }
        writeln!(out)?;
    }
    let s = &report.summary;
    let checked = if report.contours.is_empty() {
        String::new()
    } else {
        format!(
            " ({} checked: {})",
            plural(report.contours.len(), "contour"),
            report.contours.join(", ")
        )
    };
    let line = if s.errors == 0 && s.warnings == 0 {
        format!("no drift{checked}")
    } else {
        format!(
            "{}, {}{checked}",
            plural(s.errors, "error"),
            plural(s.warnings, "warning")
        )
    };
    if color {
        let line = if s.errors > 0 {
            line.red().to_string()
        } else {
            line.green().to_string()
        };
        writeln!(out, "{line}")
    } else {
        writeln!(out, "{line}")
    }
}

pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

pub fn render_json(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}
