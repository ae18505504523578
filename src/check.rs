//! `envsync check`: every rule over the selected contours of the workspace.

use crate::finding::Report;
use crate::mask::Mask;
use crate::rules::evaluate;
use crate::workspace::{Selection, Workspace, WorkspaceError};

/// What `check` found, and the files it found it in.
#[derive(Debug)]
pub struct Checked<'w> {
    pub report: Report,
    /// Every decoded file and compose project. A command that exits next may leak it instead
    /// of freeing its thousands of allocations (`std::mem::forget`): it is plain data.
    pub files: Selection<'w>,
}

/// `envsync check`: `contours` are names or aliases (empty: every contour with env files).
/// `describe` also lists what was read, for `-v` ([`Report::read`]).
pub fn check<'w>(
    ws: &'w Workspace,
    mask: &Mask,
    contours: &[String],
    describe: bool,
) -> Result<Checked<'w>, WorkspaceError> {
    let sel = ws.select(contours)?;
    let findings = evaluate(&ws.rules, mask, sel.selected_files(), &sel.files);
    let mut report = Report::new(findings, sel.selected.clone());
    if describe {
        describe_reads(ws, &sel, &mut report.read);
    }
    Ok(Checked { report, files: sel })
}

/// One line per file read, per selected contour.
fn describe_reads(ws: &Workspace, sel: &Selection<'_>, read: &mut Vec<String>) {
    for cf in sel.selected_files() {
        for f in [&cf.backend, &cf.infra].into_iter().flatten() {
            read.push(format!(
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
            Some(p) => read.push(format!(
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
            None => read.push(format!(
                "{}: no compose project (none of {} exists)",
                cf.contour.name,
                ws.compose_files(cf.contour).join(", ")
            )),
        }
        for (file, _) in &cf.nginx {
            read.push(format!("{}: nginx {file}", cf.contour.name));
        }
    }
}
