//! Docker compose v2 (compose-go's `dotenv` parser and `template` interpolation).

use rustc_hash::FxHashMap;

use super::{lossy, Assignment, DecodeError, Decoded, LineCounter, MAX_GROWTH};

/// compose-go's `isSpace`: a space that is not a line break.
fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{85}' | '\u{A0}'
    )
}

pub fn decode(bytes: &[u8], external: &dyn Fn(&str) -> Option<String>) -> Decoded {
    decode_layered(bytes, external, &|_| None)
}

/// Where `${VAR}` looks, in order: `first`, then the file's own earlier lines, then `last`
/// (compose's `env_file` list: the project environment first, the earlier files last).
struct Ext<'a> {
    first: &'a dyn Fn(&str) -> Option<String>,
    last: &'a dyn Fn(&str) -> Option<String>,
    /// What interpolation has added to the file's values so far (see [`MAX_GROWTH`]).
    grown: std::cell::Cell<usize>,
}

/// Decode an `env_file` of a compose service: lookups go to `first`, then to the file's earlier
/// lines, then to `last`.
pub fn decode_layered(
    bytes: &[u8],
    first: &dyn Fn(&str) -> Option<String>,
    last: &dyn Fn(&str) -> Option<String>,
) -> Decoded {
    let bytes = bytes.strip_prefix(crate::envfile::BOM).unwrap_or(bytes);
    let text = lossy(bytes);
    let mut out = Decoded::default();
    let mut env: Env = FxHashMap::default();
    // Every reference and every bare `KEY` asks `first` before anything else.
    let looked_up = std::cell::Cell::new(false);
    let first = |k: &str| {
        looked_up.set(true);
        first(k)
    };
    let external = Ext {
        first: &first,
        last,
        grown: std::cell::Cell::new(0),
    };
    if let Err(e) = parse(&text, &mut out, &mut env, &external) {
        out.error = Some(e);
    }
    out.bytes_only = !looked_up.get();
    out.finish(false)
}

/// The file's assignments so far: key to index in `Decoded::assignments`.
type Env<'t> = FxHashMap<&'t str, usize>;

fn parse<'t>(
    text: &'t str,
    out: &mut Decoded,
    env: &mut Env<'t>,
    external: &Ext<'_>,
) -> Result<(), DecodeError> {
    let mut pos = 0usize;
    let mut lines = LineCounter::new(text);
    loop {
        // Statement start: skip whitespace (line breaks included) and comment lines.
        loop {
            let rest = &text[pos..];
            match rest.find(|c: char| !c.is_whitespace()) {
                None => return Ok(()),
                Some(i) => pos += i,
            }
            if text[pos..].starts_with('#') {
                match text[pos..].find('\n') {
                    None => return Ok(()),
                    Some(nl) => pos += nl,
                }
            } else {
                break;
            }
        }
        let line = lines.line_at(pos);
        let err = |message: String| DecodeError { line, message };
        // `export` prefix.
        let mut src = &text[pos..];
        if let Some(after) = src.strip_prefix("export") {
            if after.starts_with(|c: char| c.is_whitespace()) {
                src = after.trim_start_matches(is_space);
            }
        }
        // Key name up to `=`, `:` or a line break.
        let mut key_end = None;
        for (i, c) in src.char_indices() {
            if is_space(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    key_end = Some((i, c));
                    break;
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if c.is_alphanumeric() => {}
                c => {
                    return Err(err(format!(
                        "unexpected character {c:?} in a variable name"
                    )));
                }
            }
        }
        let Some((end, sep)) = key_end else {
            // compose-go reads a last line with no `=` and no line break as a value whose
            // name is empty.
            let (value, _) = extract_value(src, env, external, line, out)?;
            out.assignments.push(Assignment {
                key: String::new(),
                value,
                line,
            });
            return Ok(());
        };
        let key = src[..end].trim_end_matches(char::is_whitespace);
        if key.contains(' ') {
            return Err(err("key cannot contain a space".into()));
        }
        let after_sep = &src[end + sep.len_utf8()..];
        let consumed_to = text.len() - after_sep.len();
        if sep == '\n' {
            // `KEY` alone: taken from the environment, dropped when unset.
            if let Some(v) = (external.first)(key) {
                env.insert(key, out.assignments.len());
                out.assignments.push(Assignment {
                    key: key.to_string(),
                    value: v,
                    line,
                });
            }
            pos = consumed_to;
            continue;
        }
        let value_src = after_sep.trim_start_matches(is_space);
        let value_pos = text.len() - value_src.len();
        let (value, next) = extract_value(value_src, env, external, line, out)?;
        pos = value_pos + next;
        env.insert(key, out.assignments.len());
        out.assignments.push(Assignment {
            key: key.to_string(),
            value,
            line,
        });
    }
}

/// Returns the decoded value and how many bytes of `src` it used.
fn extract_value(
    src: &str,
    env: &Env<'_>,
    external: &Ext<'_>,
    line: usize,
    out: &mut Decoded,
) -> Result<(String, usize), DecodeError> {
    let quote = match src.as_bytes().first() {
        Some(&q @ (b'"' | b'\'')) => q,
        _ => {
            let (raw, used) = match src.find('\n') {
                Some(nl) => (&src[..nl], nl),
                None => (src, src.len()),
            };
            let raw = raw.split_once(" #").map_or(raw, |(v, _)| v);
            let raw = raw.trim_end_matches(char::is_whitespace);
            let v = file_substitute(raw, env, external, line, out)?;
            return Ok((v, used));
        }
    };
    let bytes = src.as_bytes();
    let mut chars: Vec<u8> = Vec::new();
    let mut escaped = false;
    for (i, &c) in bytes.iter().enumerate().skip(1) {
        if c != quote {
            if !escaped && c == b'\\' {
                escaped = true;
                continue;
            }
            if escaped {
                escaped = false;
                chars.push(b'\\');
            }
            chars.push(c);
            continue;
        }
        if escaped {
            escaped = false;
            chars.push(c);
            continue;
        }
        let value = String::from_utf8_lossy(&chars).into_owned();
        let value = if quote == b'"' {
            file_substitute(&expand_escapes(&value), env, external, line, out)?
        } else {
            value
        };
        return Ok((value, i + 1));
    }
    Err(DecodeError {
        line,
        message: "unterminated quoted value".into(),
    })
}

/// Go-style escapes inside double quotes: `\a \b \c \f \n \r \t \v \$ \" \\` and `\0NNN`.
fn expand_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.char_indices().peekable();
    while let Some((_, c)) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.peek().map(|&(_, n)| n) {
            Some(n @ ('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '"' | '\\')) => {
                it.next();
                out.push(match n {
                    'a' => '\u{07}',
                    'b' => '\u{08}',
                    'f' => '\u{0C}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\u{0B}',
                    other => other,
                });
            }
            Some('$') => {
                it.next();
                out.push_str("$$");
            }
            Some('0') => {
                it.next();
                let mut digits = String::new();
                while digits.len() < 3 {
                    match it.peek() {
                        Some(&(_, d)) if d.is_ascii_digit() => {
                            digits.push(d);
                            it.next();
                        }
                        _ => break,
                    }
                }
                // Go's Unquote wants exactly three octal digits after the backslash.
                match u8::from_str_radix(&digits, 8) {
                    Ok(b) if digits.len() == 3 && b < 0x80 => out.push(b as char),
                    _ => {
                        out.push_str("\\0");
                        out.push_str(&digits);
                    }
                }
            }
            _ => out.push('\\'),
        }
    }
    out
}

fn is_name_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

/// How deep `${A:-${B:-…}}` may nest. compose has no limit; a file nested deeper than this is
/// refused rather than walked with unbounded recursion (each level rescans its text, so the
/// limit also keeps the work linear in the file's size).
pub const MAX_NESTING: usize = 64;

fn too_grown(line: usize) -> DecodeError {
    DecodeError {
        line,
        message: format!(
            "`${{…}}` references here expand the file's values by more than {} MiB (each reference copies the value it names); envsync refuses such a file to keep its memory bounded",
            MAX_GROWTH >> 20
        ),
    }
}

/// Substitute inside an env file: lookups go to `external.first`, then to the file's earlier
/// assignments, then to `external.last`, as compose does.
fn file_substitute(
    s: &str,
    env: &Env<'_>,
    external: &Ext<'_>,
    line: usize,
    out: &mut Decoded,
) -> Result<String, DecodeError> {
    let assignments = &out.assignments;
    let lookup = |name: &str| {
        (external.first)(name)
            .or_else(|| env.get(name).map(|&i| assignments[i].value.clone()))
            .or_else(|| (external.last)(name))
    };
    let v = substitute(s, &lookup, line, &mut out.unset_refs, 0)?;
    let grown = external
        .grown
        .get()
        .saturating_add(v.len().saturating_sub(s.len()));
    external.grown.set(grown);
    if grown > MAX_GROWTH {
        return Err(too_grown(line));
    }
    Ok(v)
}

/// Why a value cannot be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolateError {
    /// `${NAME:?…}` (or `${NAME?…}`) without a value: compose stops.
    Missing { name: String, error: DecodeError },
    /// A broken `${…}`, or one nested too deep.
    Invalid(DecodeError),
}

impl From<InterpolateError> for DecodeError {
    fn from(e: InterpolateError) -> DecodeError {
        match e {
            InterpolateError::Missing { error, .. } | InterpolateError::Invalid(error) => error,
        }
    }
}

/// Interpolate one value of a compose file (`${VAR}` in YAML) with the project environment.
/// Names that resolve to nothing are pushed to `unset` with `line`.
pub fn interpolate(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    line: usize,
    unset: &mut Vec<(usize, String)>,
) -> Result<String, InterpolateError> {
    substitute(s, lookup, line, unset, 0)
}

/// compose-go's `template.Substitute`: `$$`, `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`,
/// `${VAR:?e}`, `${VAR?e}`, `${VAR:+a}`, `${VAR+a}`. A `$` that starts no reference (`$`, `$1`,
/// `$ x`, `$.`) is a literal `$`, as compose keeps it; only a broken `${…}` is an error.
fn substitute(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    line: usize,
    unset: &mut Vec<(usize, String)>,
    depth: usize,
) -> Result<String, InterpolateError> {
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    if depth > MAX_NESTING {
        return Err(InterpolateError::Invalid(DecodeError {
            line,
            message: format!(
                "`${{…}}` nested more than {MAX_NESTING} levels deep; envsync refuses such a value"
            ),
        }));
    }
    let invalid = || {
        InterpolateError::Invalid(DecodeError {
            line,
            message: "invalid interpolation format (write a literal `$` as `$$`)".into(),
        })
    };
    let b = s.as_bytes();
    let mut res = String::with_capacity(s.len());
    let mut i = 0;
    let mut lit = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        res.push_str(&s[lit..i]);
        match b.get(i + 1) {
            Some(b'$') => {
                res.push('$');
                i += 2;
            }
            Some(&c) if is_name_start(c) => {
                let mut j = i + 1;
                while j < b.len() && is_name_char(b[j]) {
                    j += 1;
                }
                let name = &s[i + 1..j];
                match lookup(name) {
                    Some(v) => res.push_str(&v),
                    None => unset.push((line, name.to_string())),
                }
                if res.len() > MAX_GROWTH.saturating_add(s.len()) {
                    return Err(InterpolateError::Invalid(too_grown(line)));
                }
                i = j;
            }
            Some(b'{') => {
                let close = closing_brace(&s[i..]).ok_or_else(invalid)? + i;
                let content = &s[i + 2..close];
                let cb = content.as_bytes();
                if cb.is_empty() || !is_name_start(cb[0]) {
                    return Err(invalid());
                }
                let n = cb.iter().take_while(|&&c| is_name_char(c)).count();
                let name = &content[..n];
                let op = &content[n..];
                let (colon, kind, arg) = if op.is_empty() {
                    (false, ' ', "")
                } else {
                    let (colon, rest) = match op.strip_prefix(':') {
                        Some(r) => (true, r),
                        None => (false, op),
                    };
                    match rest.chars().next() {
                        Some(k @ ('-' | '+' | '?')) => (colon, k, &rest[1..]),
                        _ => return Err(invalid()),
                    }
                };
                let value = lookup(name);
                let present = |v: &Option<String>| match v {
                    Some(v) => !colon || !v.is_empty(),
                    None => false,
                };
                let piece = match kind {
                    ' ' => match value {
                        Some(v) => v,
                        None => {
                            unset.push((line, name.to_string()));
                            String::new()
                        }
                    },
                    '-' => {
                        let d = substitute(arg, lookup, line, unset, depth + 1)?;
                        if present(&value) {
                            value.unwrap_or_default()
                        } else {
                            d
                        }
                    }
                    '+' => {
                        let a = substitute(arg, lookup, line, unset, depth + 1)?;
                        if present(&value) {
                            a
                        } else {
                            String::new()
                        }
                    }
                    _ => {
                        // compose interpolates the message too (and fails on a broken one).
                        substitute(arg, lookup, line, unset, depth + 1)?;
                        if present(&value) {
                            value.unwrap_or_default()
                        } else {
                            // The message as written, never as interpolated: references in
                            // it may name secrets.
                            return Err(InterpolateError::Missing {
                                name: name.to_string(),
                                error: DecodeError {
                                    line,
                                    message: format!(
                                        "required variable {name} is missing a value{}",
                                        if arg.is_empty() {
                                            String::new()
                                        } else {
                                            format!(
                                                " (its message: `{}`)",
                                                crate::mask::sanitize(arg)
                                            )
                                        }
                                    ),
                                },
                            });
                        }
                    }
                };
                res.push_str(&piece);
                if res.len() > MAX_GROWTH.saturating_add(s.len()) {
                    return Err(InterpolateError::Invalid(too_grown(line)));
                }
                i = close + 1;
            }
            _ => {
                res.push('$');
                i += 1;
            }
        }
        lit = i;
    }
    res.push_str(&s[lit..]);
    Ok(res)
}

/// Index of the `}` that closes the `${` at the start of `s`, counting nested `${`.
fn closing_brace(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0i32;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'}' {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
        if b[i..].starts_with(b"${") {
            depth += 1;
            i += 1;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten lines, each referencing the previous one ten times, would grow to 10 GB: refused at
    /// the line that goes past the budget, in bounded memory, instead of running for minutes.
    #[test]
    fn exponential_references_are_refused_in_bounded_memory() {
        let mut t = String::from("L0=0123456789\n");
        for n in 1..10 {
            t.push_str(&format!("L{n}={}\n", format!("${{L{}}}", n - 1).repeat(10)));
        }
        let d = decode(t.as_bytes(), &|_| None);
        let e = d.error.expect("refused");
        assert!(
            e.message
                .contains("expand the file's values by more than 16 MiB"),
            "{e:?}"
        );
        assert_eq!(e.line, 8, "{e:?}");
        // Ordinary references stay.
        let d = decode(b"A=x\nB=${A}${A}\n", &|_| None);
        assert_eq!(d.get("B").unwrap().value, "xx");
    }
}
