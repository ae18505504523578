//! `show`'s text output: `KEY=value` per variable (values already masked), then the lines the
//! consumer rejects.

use std::io::{self, Write};
use std::path::Path;

use crate::mask::sanitize;
use crate::show::{Shown, ShownService, ShownWorkload};

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

pub fn workload_text(shown: &ShownWorkload, out: &mut dyn Write) -> io::Result<()> {
    let how = match &shown.helm {
        Some(cmd) => format!("`{cmd}`"),
        None => "the rendered files".to_string(),
    };
    writeln!(
        out,
        "# {} container {} in namespace {}, contour {}, as the kubelet computes it from {how}",
        shown.workload, shown.container, shown.namespace, shown.contour
    )?;
    for f in &shown.files {
        writeln!(out, "# also read: {}", sanitize(f))?;
    }
    let text = |m: &serde_json::Map<String, serde_json::Value>, k: &str| {
        sanitize(m.get(k).and_then(|o| o.as_str()).unwrap_or(""))
    };
    // Service links come last, one line per Service: the container sets the rest itself.
    let mut links: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in &shown.variables {
        let (from, origin) = (text(&shown.from, k), text(&shown.origins, k));
        let key = sanitize(k);
        if let Some(service) = from.strip_prefix("service link ") {
            let item = match v.as_str() {
                Some(v) => format!("{key}={}", shown_value(v)),
                None => key,
            };
            match links.iter_mut().find(|(s, _)| s == service) {
                Some((_, items)) => items.push(item),
                None => links.push((service.to_string(), vec![item])),
            }
            continue;
        }
        let values = match shown.values.get(k).and_then(|v| v.as_str()) {
            Some(at) => format!(", values {}", sanitize(at)),
            None => String::new(),
        };
        match v.as_str() {
            Some(v) => writeln!(out, "{key}={}  # {from}, {origin}{values}", shown_value(v))?,
            None => writeln!(
                out,
                "# {key} is set by the cluster: {} ({from})",
                text(&shown.cluster, k)
            )?,
        }
    }
    for (service, items) in &links {
        writeln!(
            out,
            "# service links of {service} (the kubelet adds them; names alone are set by the cluster): {}",
            items.join(", ")
        )?;
    }
    for m in &shown.missing_sources {
        let what = match &m.key {
            Some(key) => format!("key {} of {}/{}", sanitize(key), m.kind, sanitize(&m.name)),
            None => format!("{}/{}", m.kind, sanitize(&m.name)),
        };
        writeln!(
            out,
            "# missing{}: {what} in namespace {} ({})",
            if m.optional { " (optional)" } else { "" },
            m.namespace,
            sanitize(&m.at)
        )?;
    }
    for w in &shown.warnings {
        writeln!(out, "# warning: {}", sanitize(w))?;
    }
    for e in &shown.errors {
        writeln!(out, "# the pod would not start: {}", sanitize(e))?;
    }
    Ok(())
}

/// `-v`: how the workload's objects were read, and how long it took.
pub fn workload_verbose(
    shown: &ShownWorkload,
    started: std::time::Instant,
    err: &mut dyn Write,
) -> io::Result<()> {
    if let (Some(cmd), Some(ms)) = (&shown.helm, shown.helm_ms) {
        writeln!(err, "rendered: {cmd} ({ms} ms)")?;
    }
    for f in &shown.files {
        writeln!(err, "read: {}", sanitize(f))?;
    }
    writeln!(err, "took {} ms", started.elapsed().as_millis())
}

/// A value on one line: escapes as Rust writes them (`\n`, `\t`, `\u{1b}`), and nothing that
/// could forge output left unescaped.
fn shown_value(v: &str) -> String {
    sanitize(&v.escape_debug().to_string())
}
