//! `show`'s text output: `KEY=value` per variable (values already masked), then the lines the
//! consumer rejects.

use std::io::{self, Write};
use std::path::Path;

use crate::show::Shown;

pub fn text(shown: &Shown, file: &Path, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "# {} as read by {}", file.display(), shown.dialect)?;
    for (k, v) in &shown.variables {
        writeln!(out, "{k}={}", v.as_str().unwrap_or_default().escape_debug())?;
    }
    for e in shown.error.iter().chain(&shown.invalid_lines) {
        writeln!(out, "# line {}: {}", e.line, e.message)?;
    }
    Ok(())
}
