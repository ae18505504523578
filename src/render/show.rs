//! `show`'s text output: `KEY=value` per variable (values already masked), then the lines the
//! consumer rejects.

use std::io::{self, Write};
use std::path::Path;

use crate::mask::sanitize;
use crate::show::{Shown, ShownService};

pub fn text(shown: &Shown, file: &Path, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "# {} as read by {}", file.display(), shown.dialect)?;
    for (k, v) in &shown.variables {
        writeln!(
            out,
            "{}={}",
            sanitize(k),
            shown_value(v.as_str().unwrap_or_default())
        )?;
    }
    for e in shown
        .error
        .iter()
        .chain(&shown.invalid_lines)
        .chain(&shown.warnings)
    {
        writeln!(out, "# line {}: {}", e.line, sanitize(&e.message))?;
    }
    Ok(())
}

pub fn service_text(shown: &ShownService, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "# service {} in contour {}, as docker compose -f {} config computes it",
        shown.service,
        shown.contour,
        shown.files.join(" -f ")
    )?;
    for (k, v) in &shown.variables {
        let origin = sanitize(shown.origins.get(k).and_then(|o| o.as_str()).unwrap_or(""));
        let k = sanitize(k);
        match v.as_str() {
            Some(v) => writeln!(out, "{k}={}  # {origin}", shown_value(v))?,
            None => writeln!(
                out,
                "# {k} is declared without a value and not set  ({origin})"
            )?,
        }
    }
    for p in &shown.ports {
        let host = match (&p.host_ip, &p.published) {
            (Some(ip), Some(h)) => format!("{ip}:{h}:"),
            (None, Some(h)) => format!("{h}:"),
            (Some(ip), None) => format!("{ip}::"),
            (None, None) => String::new(),
        };
        writeln!(out, "# port {host}{}/{}", p.target, p.protocol)?;
    }
    writeln!(out, "# networks: {}", shown.networks.join(", "))?;
    for m in &shown.volumes {
        writeln!(
            out,
            "# {} {} -> {}",
            m.kind,
            m.source.as_deref().unwrap_or("(anonymous)"),
            m.target
        )?;
    }
    for e in &shown.errors {
        writeln!(out, "# compose refuses: {}", sanitize(&e.to_string()))?;
    }
    Ok(())
}

/// A value on one line: escapes as Rust writes them (`\n`, `\t`, `\u{1b}`), and nothing that
/// could forge output left unescaped.
fn shown_value(v: &str) -> String {
    sanitize(&v.escape_debug().to_string())
}
