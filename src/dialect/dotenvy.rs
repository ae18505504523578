//! The `dotenvy` crate, used as is.

use std::collections::HashMap;

use super::{lossy, Assignment, DecodeError, Decoded};

pub fn decode(bytes: &[u8]) -> Decoded {
    let body = bytes.strip_prefix(crate::envfile::BOM).unwrap_or(bytes);
    let text = lossy(body);
    // dotenvy reports no line numbers: find each key's statement in the file.
    let file = crate::envfile::EnvFile::parse(body);
    let mut key_lines: HashMap<&str, Vec<usize>> = HashMap::new();
    for e in file.entries() {
        key_lines.entry(e.key.as_str()).or_default().push(e.line);
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Decoded::default();
    for item in ::dotenvy::from_read_iter(std::io::Cursor::new(body)) {
        match item {
            Ok((key, value)) => {
                let n = seen.entry(key.clone()).or_insert(0);
                let line = key_lines
                    .get(key.as_str())
                    .and_then(|l| l.get(*n))
                    .copied()
                    .unwrap_or(0);
                *n += 1;
                out.assignments.push(Assignment { key, value, line });
            }
            Err(e) => {
                // dotenvy names the unparsed rest of the line, not its number: find it
                // after the last line that parsed.
                let after = out.assignments.last().map_or(0, |a| a.line);
                let line = match &e {
                    ::dotenvy::Error::LineParse(rest, _) => text
                        .lines()
                        .enumerate()
                        .skip(after)
                        .find(|(_, l)| l.contains(rest.as_str()))
                        .map_or(after + 1, |(i, _)| i + 1),
                    _ => after + 1,
                };
                let message = match &e {
                    ::dotenvy::Error::LineParse(_, col) => {
                        format!("dotenvy cannot parse this line (at character {col})")
                    }
                    other => other.to_string(),
                };
                out.error = Some(DecodeError { line, message });
                break;
            }
        }
    }
    out.finish(true)
}
