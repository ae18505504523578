//! Writing a value so that a consumer reads back exactly those bytes.
//!
//! Each dialect has its own traps: node dotenv cuts an unquoted value at `#` and has no escapes
//! inside quotes, compose interpolates `$` outside single quotes, dotenvy unescapes `\` inside
//! double quotes. Rather than trusting one encoder per dialect, [`candidates`] proposes raw tokens
//! in order of preference (the style the line already uses first, so a rewrite changes as few
//! bytes as possible) and [`token_for`] keeps the first one that the dialect's own decoder reads
//! back as the intended value. `fix` then decodes the whole rendered file once more.

use crate::dialect::Dialect;

/// Why a value cannot be written for a dialect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no quoting makes {dialect} read this value back exactly ({why})")]
pub struct Unquotable {
    pub dialect: Dialect,
    pub why: &'static str,
}

/// Raw tokens that may encode `value` under `dialect`, best first. `existing` is the quote
/// character the current token uses (`None` for unquoted or a new line).
pub fn candidates(dialect: Dialect, value: &str, existing: Option<u8>) -> Vec<Vec<u8>> {
    let single = wrap(b'\'', value);
    let plain = value.as_bytes().to_vec();
    let mut out: Vec<Vec<u8>> = Vec::new();
    match dialect {
        Dialect::NodeDotenv => {
            // No escapes at all, except `\n`/`\r` turned into line breaks inside double quotes.
            out.push(plain);
            out.push(single);
            out.push(wrap(b'"', value));
            out.push(wrap(b'"', &value.replace('\r', "\\r").replace('\n', "\\n")));
            out.push(wrap(b'`', value));
        }
        Dialect::Compose => {
            out.push(value.replace('$', "$$").into_bytes());
            out.push(single);
            out.push(wrap(b'\'', &value.replace('\'', "\\'")));
            out.push(wrap(b'"', &escape_double(value, "$$")));
        }
        Dialect::Dotenvy => {
            out.push(escape_plain_dotenvy(value).into_bytes());
            out.push(single);
            out.push(wrap(b'"', &escape_double(value, "\\$")));
            // dotenvy has no `\r` escape, but keeps raw line breaks inside quotes.
            let raw_breaks = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$");
            out.push(wrap(b'"', &raw_breaks));
        }
        // No quoting at all: the value as it is, on one line without leading blanks.
        Dialect::KubectlEnvFile => out.push(plain),
    }
    if let Some(q) = existing {
        // Keep the line's own quote style when it works.
        if let Some(at) = out.iter().position(|t| t.first() == Some(&q)) {
            let preferred = out.remove(at);
            out.insert(0, preferred);
        }
    }
    out.dedup();
    out
}

/// The first candidate that `dialect` decodes back to `value` on a line of its own.
pub fn token_for(
    dialect: Dialect,
    value: &str,
    existing: Option<u8>,
) -> Result<Vec<u8>, Unquotable> {
    token_for_both(dialect, dialect, value, existing)
}

/// Like [`token_for`], but prefer a token that `also` (the other repo's reader) reads the same
/// way, so that a shared value written by `fix` leaves no `dialect-divergence` behind.
pub fn token_for_both(
    dialect: Dialect,
    also: Dialect,
    value: &str,
    existing: Option<u8>,
) -> Result<Vec<u8>, Unquotable> {
    if value.contains('\0') {
        return Err(Unquotable {
            dialect,
            why: "it contains a NUL byte",
        });
    }
    let mut own_only = None;
    for t in candidates(dialect, value, existing) {
        if !decodes_to(dialect, &t, value) {
            continue;
        }
        if also == dialect || decodes_to(also, &t, value) {
            return Ok(t);
        }
        own_only.get_or_insert(t);
    }
    own_only.ok_or(Unquotable {
        dialect,
        why: "it mixes quote characters, line breaks and escapes that this reader cannot express together",
    })
}

/// Does `KEY=<token>` on a line of its own decode to exactly `value`?
pub fn decodes_to(dialect: Dialect, token: &[u8], value: &str) -> bool {
    let mut line = b"K=".to_vec();
    line.extend_from_slice(token);
    line.push(b'\n');
    let decoded = dialect.decode(&line, &|_| None);
    decoded.error.is_none()
        && decoded.assignments.len() == 1
        && decoded.get("K").is_some_and(|a| a.value == value)
}

fn wrap(q: u8, body: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 2);
    v.push(q);
    v.extend_from_slice(body.as_bytes());
    v.push(q);
    v
}

/// Double-quoted body with `\\`, `\"`, `\n`, `\r`, `\t` escapes and `$` written as `dollar`.
fn escape_double(value: &str, dollar: &str) -> String {
    let mut s = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '$' => s.push_str(dollar),
            c => s.push(c),
        }
    }
    s
}

/// dotenvy's unquoted values take `\` escapes and expand `$`.
fn escape_plain_dotenvy(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        if matches!(c, '\\' | '$' | '"' | '\'' | '#' | ' ') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_stay_plain() {
        for d in [Dialect::NodeDotenv, Dialect::Compose, Dialect::Dotenvy] {
            assert_eq!(token_for(d, "3200", None).unwrap(), b"3200");
        }
    }

    #[test]
    fn the_traps_of_each_dialect_are_quoted_away() {
        let node = token_for(Dialect::NodeDotenv, "a#b", None).unwrap();
        assert_eq!(node, b"'a#b'");
        let compose = token_for(Dialect::Compose, "p$ss", None).unwrap();
        assert_eq!(compose, b"p$$ss");
        let compose = token_for(Dialect::Compose, "p$ss", Some(b'\'')).unwrap();
        assert_eq!(compose, b"'p$ss'");
        assert!(token_for(Dialect::NodeDotenv, "both ' and \" and `", None).is_ok());
    }

    #[test]
    fn both_readers_are_served_when_they_can_be() {
        // compose alone could take it bare; node dotenv would cut it at `#`.
        assert_eq!(token_for(Dialect::Compose, "a#b", None).unwrap(), b"a#b");
        let both = token_for_both(Dialect::Compose, Dialect::NodeDotenv, "a#b", None).unwrap();
        assert_eq!(both, b"'a#b'");
    }

    #[test]
    fn a_value_no_reader_can_hold_is_refused() {
        assert!(token_for(Dialect::Compose, "a\0b", None).is_err());
        // node dotenv has no escapes: all three quotes plus a `#` cannot be written.
        let err = token_for(Dialect::NodeDotenv, "'\"`#", None).unwrap_err();
        assert!(err.to_string().contains("node-dotenv"));
    }
}
