//! `fix`'s output: the masked diff (dry run) or one line per change, warnings, what `check`
//! still finds, and a summary line.

use std::io::{self, Write};

use owo_colors::OwoColorize;

use crate::fix::{ChangeKind, FixOutcome};

use super::plural;

/// Text output: the diff (dry run) or one line per change, warnings, then what `check` still
/// finds and a summary line.
pub fn text(o: &FixOutcome, color: bool, quiet: bool, out: &mut dyn Write) -> io::Result<()> {
    if o.dry_run {
        for f in &o.files {
            if let Some(d) = &f.diff {
                out.write_all(d.as_bytes())?;
            }
        }
    }
    if !quiet {
        for c in &o.changes {
            let verb = match (o.dry_run, c.action) {
                (true, ChangeKind::Append) => "would append",
                (true, ChangeKind::Set) => "would set",
                (false, ChangeKind::Append) => "appended",
                (false, ChangeKind::Set) => "set",
            };
            let old = c
                .old
                .as_deref()
                .map(|v| format!(" (was {v})"))
                .unwrap_or_default();
            writeln!(
                out,
                "{} {}:{}: {verb} {} = {}{old}; {}",
                c.repo, c.file, c.line, c.key, c.new, c.why
            )?;
        }
    }
    for r in &o.refused {
        let head = if color {
            "refused".red().bold().to_string()
        } else {
            "refused".into()
        };
        writeln!(
            out,
            "{head} {} {}:{}: {}: {}",
            r.repo, r.file, r.line, r.key, r.message
        )?;
    }
    for w in &o.warnings {
        let head = if color {
            "warning".yellow().bold().to_string()
        } else {
            "warning".into()
        };
        writeln!(out, "{head}: {w}")?;
    }
    let remaining: Vec<_> = o.remaining.findings.iter().collect();
    if !remaining.is_empty() {
        super::check::text(&o.remaining, color, quiet, out)?;
    }
    let files = plural(o.files.len(), "file");
    let values = plural(o.changes.len(), "value");
    let line = match (o.dry_run, o.changed()) {
        (_, false) if o.remaining.has_errors() || !o.refused.is_empty() => format!(
            "nothing fix can change in the {} contour; {} remain (above)",
            o.contour,
            plural(o.remaining.summary.errors.max(o.refused.len()), "problem")
        ),
        (_, false) => format!("nothing to fix in the {} contour", o.contour),
        (true, true) => format!("would change {values} in {files} (dry run: nothing written)"),
        (false, true) => {
            let backups: Vec<String> = o
                .files
                .iter()
                .filter_map(|f| f.backup.as_ref())
                .map(|b| b.display().to_string())
                .collect();
            let kept = if backups.is_empty() {
                String::new()
            } else {
                format!("; backups: {}", backups.join(", "))
            };
            format!("changed {values} in {files}{kept}")
        }
    };
    writeln!(out, "{line}")
}
