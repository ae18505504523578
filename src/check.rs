//! `envsync check`: every rule over the selected contours of the workspace.

use crate::finding::Report;
use crate::mask::Mask;
use crate::rules::evaluate;
use crate::workspace::{Workspace, WorkspaceError};

/// `envsync check`: `contours` are names or aliases (empty: every contour with env files).
pub fn check(ws: &Workspace, mask: &Mask, contours: &[String]) -> Result<Report, WorkspaceError> {
    let sel = ws.select(contours)?;
    let findings = evaluate(&ws.rules, mask, sel.selected_files(), &sel.files);
    Ok(Report::new(findings, sel.selected.clone()))
}
