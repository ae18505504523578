//! `fix --dry-run`'s unified diff, with every value that could be secret fingerprinted.

use crate::dialect::Dialect;
use crate::envfile::{EnvFile, Item};
use crate::load::LoadedFile;
use crate::mask::{fingerprint, Mask};

/// The file as text with every value that could be secret replaced by its fingerprint: values
/// of hidden keys, what follows them on their line unless it is a comment, and the values of
/// commented-out assignments of hidden keys (`#JWT_SECRET=…`).
fn masked(mask: &Mask, file: &EnvFile, dialect: Dialect) -> String {
    let decoded = dialect.decode(&file.render(), &|_| None);
    // Decoded values by line: one lookup per entry, not a scan.
    let by_line: std::collections::HashMap<usize, &crate::dialect::Assignment> =
        decoded.assignments.iter().map(|a| (a.line, a)).collect();
    let mut out = String::new();
    for item in &file.items {
        match item {
            Item::Blank { raw, .. } => out.push_str(&String::from_utf8_lossy(raw)),
            Item::Comment { raw, .. } => out.push_str(&masked_comment(mask, raw)),
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
                let decoded = by_line.get(&e.line).filter(|a| a.key == e.key);
                let raw = String::from_utf8_lossy(&e.value);
                let trail = String::from_utf8_lossy(&e.trail);
                if mask.shows_in_diff(&e.key)
                    && !mask.touches(&raw)
                    && !mask.touches(&trail)
                    && !decoded.is_some_and(|a| mask.touches(&a.value))
                {
                    out.push_str(&String::from_utf8_lossy(&e.value));
                    out.push_str(&String::from_utf8_lossy(&e.trail));
                } else {
                    let value =
                        decoded.map_or_else(|| raw.clone().into_owned(), |a| a.value.clone());
                    out.push_str(&format!("<{}>", fingerprint(&value)));
                    // After the value token: a comment is shown, anything else may be part of
                    // the value as a consumer reads it.
                    if is_blank_or_comment(&e.trail) && !mask.touches(&trail) {
                        out.push_str(&String::from_utf8_lossy(&e.trail));
                    } else {
                        out.push_str("<…>");
                    }
                }
                out.push_str(&String::from_utf8_lossy(&e.eol));
            }
        }
    }
    out
}

/// Blanks, or blanks then a `#` comment.
pub(super) fn is_blank_or_comment(trail: &[u8]) -> bool {
    let t = trail.trim_ascii_start();
    t.is_empty() || t.starts_with(b"#")
}

/// A comment line, with the value hidden when it is a commented-out assignment of a key the
/// mask hides (`# JWT_SECRET=…`, `#export API_TOKEN: …`).
fn masked_comment(mask: &Mask, raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    if mask.touches(&text) {
        let eol = if text.ends_with("\r\n") {
            "\r\n"
        } else if text.ends_with('\n') {
            "\n"
        } else {
            ""
        };
        return format!("# <a comment holding a secret, hidden>{eol}");
    }
    let body = text.trim_start().trim_start_matches('#').trim_start();
    let body = body.strip_prefix("export ").unwrap_or(body).trim_start();
    let key_len = body
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        .count();
    let rest = body[key_len..].trim_start();
    if key_len == 0
        || !(rest.starts_with('=') || rest.starts_with(':'))
        || mask.shows_in_diff(&body[..key_len])
    {
        return text.into_owned();
    }
    let cut = text.len() - rest.len() + 1;
    let eol = if text.ends_with("\r\n") {
        "\r\n"
    } else if text.ends_with('\n') {
        "\n"
    } else {
        ""
    };
    format!("{}<hidden>{eol}", &text[..cut])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commented_out_secrets_and_what_follows_a_value_are_hidden() {
        let mask = Mask::new(false, vec!["*_SECRET".into()], vec![], vec![]);
        let file = EnvFile::parse(
            b"# JWT_SECRET=old-secret-1\n#PORT=1\nJWT_SECRET=\"abc\"-rest\nPORT=2 # two\n",
        );
        let text = masked(&mask, &file, Dialect::Compose);
        assert!(
            !text.contains("old-secret-1") && !text.contains("rest"),
            "{text}"
        );
        assert!(text.contains("# JWT_SECRET=<hidden>\n#PORT=1\n"), "{text}");
        assert!(text.contains("PORT=2 # two\n"), "{text}");
    }
}
