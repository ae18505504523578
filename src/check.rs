//! `envsync check`: every rule over the selected contours of the workspace.

use crate::finding::Report;
use crate::mask::Mask;
use crate::rules::evaluate;
use crate::workspace::{Workspace, WorkspaceError};

/// `envsync check`: `contours` are names or aliases (empty: every contour with env files).
pub fn check(ws: &Workspace, mask: &Mask, contours: &[String]) -> Result<Report, WorkspaceError> {
    let sel = ws.select(contours)?;
    let findings = evaluate(&ws.rules, mask, sel.selected_files(), &sel.files);
    let mut report = Report::new(findings, sel.selected.clone());
    for cf in sel.selected_files() {
        for f in [&cf.backend, &cf.infra].into_iter().flatten() {
            report.read.push(format!(
                "{}: {} {} from {} ({}, {} lines)",
                cf.contour.name,
                f.repo,
                f.file,
                ws.source(f.repo),
                f.dialect,
                f.parsed.items.len()
            ));
        }
        match &cf.compose {
            Some(p) => report.read.push(format!(
                "{}: compose project `{}` (directory {}): {}; interpolation from {}; read {}",
                cf.contour.name,
                p.name,
                if p.dir.is_empty() { "." } else { &p.dir },
                p.files.join(" + "),
                if p.env_files.is_empty() {
                    "nothing (no project .env)".to_string()
                } else {
                    p.env_files.join(", ")
                },
                p.read.join(", ")
            )),
            None => report.read.push(format!(
                "{}: no compose project (none of {} exists)",
                cf.contour.name,
                ws.compose_files(cf.contour).join(", ")
            )),
        }
        for (file, _) in &cf.nginx {
            report
                .read
                .push(format!("{}: nginx {file}", cf.contour.name));
        }
    }
    Ok(report)
}
