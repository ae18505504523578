//! `fix`'s output: the masked diff (dry run) or one line per change, warnings, what `check`
//! still finds, and a summary line.

use std::io::{self, Write};

use owo_colors::OwoColorize;

use crate::fix::{ChangeKind, FixOutcome, FixWarning};
use crate::mask::{sanitize, sanitize_lines};

use super::plural;

/// Text output: the diff (dry run) or one line per change, warnings, then what `check` still
/// finds and a summary line.
pub fn text(o: &FixOutcome, color: bool, quiet: bool, out: &mut dyn Write) -> io::Result<()> {
    if o.dry_run {
        for f in &o.files {
            if let Some(d) = &f.diff {
                out.write_all(sanitize_lines(d).as_bytes())?;
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
                c.repo,
                sanitize(&c.file),
                c.line,
                sanitize(&c.key),
                sanitize(&c.new),
                sanitize(&c.why)
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
            r.repo,
            sanitize(&r.file),
            r.line,
            sanitize(&r.key),
            sanitize(&r.message)
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

impl std::fmt::Display for FixWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FixWarning::PasswordChanged { key, user } => write!(
                f,
                "infra {key} changed: a database volume initialised with the old password keeps it. After deploying, run as an admin: ALTER ROLE {} WITH PASSWORD '********'; (the new value of {key}), e.g. with `docker compose exec db psql -U {} -c \"ALTER ROLE …\"`",
                crate::migrate::sql::quote_ident(user),
                sanitize(user)
            ),
            FixWarning::NotRead {
                key,
                file,
                overridden,
            } if overridden.is_empty() => write!(
                f,
                "{key} not written into infra {file}: no container of the compose project reads that file, and compose does not interpolate from it; the value there reaches nobody (point an env_file at it, or fix the file the containers read)"
            ),
            FixWarning::NotRead {
                key,
                file,
                overridden,
            } => write!(
                f,
                "{key} not written into infra {file}: the containers that read it take {key} from elsewhere ({}), so the write would change nothing they receive",
                overridden
                    .iter()
                    .map(|(s, at)| format!("`{s}` from {at}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            FixWarning::SecretsRemain { count, contour } => write!(
                f,
                "{count} weak or reused secret{} remain{}: fix copies values but makes new secrets only when asked: `envsync fix --contour {contour} --generate-secrets` replaces them in both repos",
                if *count == 1 { "" } else { "s" },
                if *count == 1 { "s" } else { "" },
            ),
        }
    }
}

/// In `fix --format json`, a warning is the text printed.
impl serde::Serialize for FixWarning {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
