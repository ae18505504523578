//! `fix --dry-run`'s unified diff, with every value that could be secret fingerprinted.

use crate::dialect::Dialect;
use crate::envfile::{EnvFile, Item};
use crate::mask::{fingerprint, Mask};
use crate::rules::LoadedFile;

/// The file as text with every value that could be secret replaced by its fingerprint.
fn masked(mask: &Mask, file: &EnvFile, dialect: Dialect) -> String {
    let decoded = dialect.decode(&file.render(), &|_| None);
    let mut out = String::new();
    for item in &file.items {
        match item {
            Item::Blank { raw, .. } | Item::Comment { raw, .. } => {
                out.push_str(&String::from_utf8_lossy(raw))
            }
            Item::Invalid { raw, line, problem } => {
                out.push_str(&format!(
                    "<line {line}: {problem}, {} bytes hidden>",
                    raw.len()
                ));
                if raw.ends_with(b"\n") {
                    out.push('\n');
                }
            }
            Item::Entry(e) => {
                out.push_str(&String::from_utf8_lossy(&e.prefix));
                out.push_str(&e.key);
                out.push_str(&String::from_utf8_lossy(&e.sep));
                if mask.shows_in_diff(&e.key) {
                    out.push_str(&String::from_utf8_lossy(&e.value));
                } else {
                    let value = decoded
                        .assignments
                        .iter()
                        .find(|a| a.line == e.line && a.key == e.key)
                        .map_or_else(
                            || String::from_utf8_lossy(&e.value).into_owned(),
                            |a| a.value.clone(),
                        );
                    out.push_str(&format!("<{}>", fingerprint(&value)));
                }
                out.push_str(&String::from_utf8_lossy(&e.trail));
                out.push_str(&String::from_utf8_lossy(&e.eol));
            }
        }
    }
    out
}

pub(super) fn masked_diff(mask: &Mask, side: &LoadedFile, edited: &EnvFile, name: &str) -> String {
    let old = masked(mask, &side.parsed, side.dialect);
    let new = masked(mask, edited, side.dialect);
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}
