//! Consumer dialects: what value each real reader of an env file would receive.
//!
//! The same bytes mean different things to the node `dotenv` package (the app), docker compose v2
//! (the infra) and the `dotenvy` crate. Each decoder here follows its reader's own algorithm, so
//! envsync compares what the consumers actually get, never raw text. The decoders are checked
//! against the real readers by the conformance suite (`tests/conformance/`).
//!
//! This module decodes whole files. It knows nothing of repos, contours or rules; the lossless
//! structure used for editing lives in [`crate::envfile`].

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};
use serde::{Deserialize, Serialize};

/// A consumer of env files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// docker compose v2 (`env_file:` and the project `.env`), with `${VAR}` interpolation.
    Compose,
    /// The npm `dotenv` package 16/17: no expansion, `#` always starts a comment.
    NodeDotenv,
    /// The `dotenvy` Rust crate, decoded by the crate itself.
    Dotenvy,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [Dialect::Compose, Dialect::NodeDotenv, Dialect::Dotenvy];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Compose => "compose",
            Dialect::NodeDotenv => "node-dotenv",
            Dialect::Dotenvy => "dotenvy",
        }
    }

    /// Which assignment wins when a key is assigned twice.
    pub fn first_wins(self) -> bool {
        matches!(self, Dialect::Dotenvy)
    }

    /// Decode a whole file. `external` resolves names that the file itself does not define
    /// (compose's project environment); it is never the process environment unless the caller
    /// passes that in.
    pub fn decode(self, bytes: &[u8], external: &dyn Fn(&str) -> Option<String>) -> Decoded {
        match self {
            Dialect::Compose => compose::decode(bytes, external),
            Dialect::NodeDotenv => node::decode(bytes),
            Dialect::Dotenvy => dotenvy_crate::decode(bytes),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                format!("unknown dialect `{s}`; expected one of compose, node-dotenv, dotenvy")
            })
    }
}

/// One assignment as the consumer reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub key: String,
    pub value: String,
    /// 1-based line where the assignment starts.
    pub line: usize,
}

/// Why a consumer rejects a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub line: usize,
    pub message: String,
}

/// The result of decoding one file under one dialect.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    /// Every assignment in file order, duplicates included.
    pub assignments: Vec<Assignment>,
    /// Index into `assignments` of the winning assignment of each key, hashed by the key
    /// stored in `assignments` (no copy of 100k keys).
    winners: Winners,
    /// The consumer refuses the file (compose and dotenvy reject some files whole).
    pub error: Option<DecodeError>,
    /// `${VAR}` references that resolved to nothing (compose warns and uses "").
    pub unset_refs: Vec<(usize, String)>,
}

/// Indices of winning assignments in a table hashed by their key.
#[derive(Clone, Default)]
struct Winners(hashbrown::HashTable<usize>);

impl fmt::Debug for Winners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Winners({})", self.0.len())
    }
}

fn key_hash(key: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(key)
}

impl Decoded {
    fn finish(mut self, first_wins: bool) -> Decoded {
        let mut table = hashbrown::HashTable::with_capacity(self.assignments.len());
        let all = &self.assignments;
        for (i, a) in all.iter().enumerate() {
            let entry = table.entry(
                key_hash(&a.key),
                |&j: &usize| all[j].key == a.key,
                |&j: &usize| key_hash(&all[j].key),
            );
            match entry {
                hashbrown::hash_table::Entry::Occupied(mut o) => {
                    if !first_wins {
                        *o.get_mut() = i;
                    }
                }
                hashbrown::hash_table::Entry::Vacant(v) => {
                    v.insert(i);
                }
            }
        }
        self.winners = Winners(table);
        self
    }

    /// The value the consumer ends up with for `key`.
    pub fn get(&self, key: &str) -> Option<&Assignment> {
        self.winners
            .0
            .find(key_hash(key), |&i| self.assignments[i].key == key)
            .map(|&i| &self.assignments[i])
    }

    /// The environment the consumer receives, in order of first appearance.
    pub fn variables(&self) -> Vec<&Assignment> {
        let mut idx: Vec<usize> = self.winners.0.iter().copied().collect();
        idx.sort_unstable();
        idx.into_iter().map(|i| &self.assignments[i]).collect()
    }

    /// Lines of every assignment of `key`, in file order.
    pub fn lines_of(&self, key: &str) -> Vec<usize> {
        self.assignments
            .iter()
            .filter(|a| a.key == key)
            .map(|a| a.line)
            .collect()
    }
}

/// Turns byte offsets into 1-based line numbers; offsets must not decrease between calls, so
/// a whole file costs one pass.
struct LineCounter<'a> {
    text: &'a [u8],
    offset: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            offset: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, offset: usize) -> usize {
        debug_assert!(offset >= self.offset);
        let end = offset.min(self.text.len());
        if end > self.offset {
            self.line += self.text[self.offset..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.offset = end;
        }
        self.line
    }
}

/// The text as a reader that replaces invalid UTF-8 sees it; valid input (the usual case) is
/// borrowed after the fast validation, not walked chunk by chunk.
fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Docker compose v2 (compose-go's `dotenv` parser and `template` interpolation).
pub mod compose {
    use super::*;

    /// compose-go's `isSpace`: a space that is not a line break.
    fn is_space(c: char) -> bool {
        matches!(
            c,
            '\t' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{85}' | '\u{A0}'
        )
    }

    pub fn decode(bytes: &[u8], external: &dyn Fn(&str) -> Option<String>) -> Decoded {
        let bytes = bytes.strip_prefix(crate::envfile::BOM).unwrap_or(bytes);
        let text = lossy(bytes);
        let mut out = Decoded::default();
        let mut env: Env = FxHashMap::default();
        if let Err(e) = parse(&text, &mut out, &mut env, external) {
            out.error = Some(e);
        }
        out.finish(false)
    }

    /// The file's assignments so far: key to index in `Decoded::assignments`.
    type Env<'t> = FxHashMap<&'t str, usize>;

    fn parse<'t>(
        text: &'t str,
        out: &mut Decoded,
        env: &mut Env<'t>,
        external: &dyn Fn(&str) -> Option<String>,
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
                return Err(err("unexpected end of file after a variable name".into()));
            };
            let key = src[..end].trim_end_matches(char::is_whitespace);
            if key.contains(' ') {
                return Err(err("key cannot contain a space".into()));
            }
            let after_sep = &src[end + sep.len_utf8()..];
            let consumed_to = text.len() - after_sep.len();
            if sep == '\n' {
                // `KEY` alone: taken from the environment, dropped when unset.
                if let Some(v) = external(key) {
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
        external: &dyn Fn(&str) -> Option<String>,
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
                let v = substitute(raw, env, external, line, out)?;
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
                substitute(&expand_escapes(&value), env, external, line, out)?
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

    /// compose-go's `template.Substitute`: `$$`, `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`,
    /// `${VAR:?e}`, `${VAR?e}`, `${VAR:+a}`, `${VAR+a}`. Lookups go to `external` first, then to
    /// the file's earlier assignments, as compose does.
    fn substitute(
        s: &str,
        env: &Env<'_>,
        external: &dyn Fn(&str) -> Option<String>,
        line: usize,
        out: &mut Decoded,
    ) -> Result<String, DecodeError> {
        if !s.contains('$') {
            return Ok(s.to_string());
        }
        let lookup = |name: &str, out: &Decoded| {
            external(name).or_else(|| env.get(name).map(|&i| out.assignments[i].value.clone()))
        };
        let invalid = || DecodeError {
            line,
            message: "invalid interpolation format (write a literal `$` as `$$`)".into(),
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
                    match lookup(name, out) {
                        Some(v) => res.push_str(&v),
                        None => out.unset_refs.push((line, name.to_string())),
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
                    let value = lookup(name, out);
                    let present = |v: &Option<String>| match v {
                        Some(v) => !colon || !v.is_empty(),
                        None => false,
                    };
                    let piece = match kind {
                        ' ' => match value {
                            Some(v) => v,
                            None => {
                                out.unset_refs.push((line, name.to_string()));
                                String::new()
                            }
                        },
                        '-' => {
                            let d = substitute(arg, env, external, line, out)?;
                            if present(&value) {
                                value.unwrap_or_default()
                            } else {
                                d
                            }
                        }
                        '+' => {
                            let a = substitute(arg, env, external, line, out)?;
                            if present(&value) {
                                a
                            } else {
                                String::new()
                            }
                        }
                        _ => {
                            let m = substitute(arg, env, external, line, out)?;
                            if present(&value) {
                                value.unwrap_or_default()
                            } else {
                                return Err(DecodeError {
                                    line,
                                    message: format!(
                                        "required variable {name} is missing a value{}",
                                        if m.is_empty() {
                                            String::new()
                                        } else {
                                            format!(": {m}")
                                        }
                                    ),
                                });
                            }
                        }
                    };
                    res.push_str(&piece);
                    i = close + 1;
                }
                _ => return Err(invalid()),
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
}

/// The npm `dotenv` package, versions 16 and 17 (`lib/main.js`, `parse`).
pub mod node {
    use super::*;

    /// JavaScript's `\s`.
    const JS_SPACE: &str = r"\t\n\x0B\x0C\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}";

    /// dotenv's LINE regex, with JavaScript's `\s` and ASCII `\w` spelled out.
    pub(crate) fn line_pattern() -> String {
        let s = format!("[{JS_SPACE}]");
        format!(
            r#"(?m)^{s}*(?:export{s}+)?([A-Za-z0-9_.-]+)(?:{s}*={s}*?|:{s}+?)({s}*'(?:\\'|[^'])*'|{s}*"(?:\\"|[^"])*"|{s}*`(?:\\`|[^`])*`|[^#\r\n]+)?{s}*(?:#[^\n\r\x{{2028}}\x{{2029}}]*)?$"#
        )
    }

    fn line_regex() -> &'static Regex {
        static RE: OnceLock<Regex> = OnceLock::new();
        RE.get_or_init(|| {
            // A larger lazy-DFA cache keeps the search from falling back to the slow engines on
            // big files (the JavaScript whitespace class makes many states).
            Regex::builder()
                .configure(Regex::config().hybrid_cache_capacity(32 << 20))
                .build(&line_pattern())
                .expect("node dotenv LINE regex compiles")
        })
    }

    fn is_js_space(c: char) -> bool {
        matches!(
            c,
            '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200A}'
                    | '\u{2028}'
                    | '\u{2029}'
                    | '\u{202F}'
                    | '\u{205F}'
                    | '\u{3000}'
                    | '\u{FEFF}'
        )
    }

    fn is_key_byte(b: u8) -> bool {
        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
    }

    /// ASCII whitespace that JavaScript's `\s` matches.
    fn is_ascii_js_space(b: u8) -> bool {
        matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ')
    }

    /// The regex's two groups at line start `start`, found without the regex for the lines
    /// real files are made of, all on one ASCII line: `[export ]KEY[ ]=[ ]value[ #comment]`
    /// and `KEY='…'`, `"…"`, `` `…` `` followed by blanks or a comment. The value group is the
    /// text up to `#`, or up to the first closing quote not preceded by `\` (the first end the
    /// greedy quoted alternative tries). Anything else (`:` separators, empty values, quotes
    /// spanning lines or followed by text, non-ASCII) returns `None` and goes to the regex. The
    /// regex's match may run on over following blank lines or a comment, but no assignment
    /// can start there, so the next search starts at the end of this line. A property test
    /// checks all of this against the straightforward port.
    fn simple_line(
        hay: &[u8],
        start: usize,
    ) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>, usize)> {
        let nl = hay[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(hay.len(), |i| start + i);
        let line = &hay[start..nl];
        if !line.is_ascii() {
            return None;
        }
        let blank = |b: u8| is_ascii_js_space(b);
        let mut i = 0;
        // `export` + blanks, when a key follows (else `export` is the key itself).
        if let Some(rest) = line.strip_prefix(b"export") {
            let n = rest.iter().take_while(|&&b| blank(b)).count();
            if n > 0 && rest.get(n).is_some_and(|&b| is_key_byte(b)) {
                i = 6 + n;
            }
        }
        let key_start = i;
        while i < line.len() && is_key_byte(line[i]) {
            i += 1;
        }
        if i == key_start {
            return None;
        }
        let key = start + key_start..start + i;
        while i < line.len() && blank(line[i]) {
            i += 1;
        }
        if line.get(i) != Some(&b'=') {
            return None;
        }
        let after_eq = i + 1;
        let mut v = after_eq;
        while v < line.len() && blank(line[v]) {
            v += 1;
        }
        let first = *line.get(v)?;
        let end = match first {
            b'#' => return None, // empty value: `\s*` may run into the next lines
            b'\'' | b'"' | b'`' => {
                let close =
                    (v + 1..line.len()).find(|&c| line[c] == first && line[c - 1] != b'\\')?;
                let tail = &line[close + 1..];
                let blanks = tail.iter().take_while(|&&b| blank(b)).count();
                if blanks < tail.len() && tail[blanks] != b'#' {
                    return None;
                }
                close + 1
            }
            _ => line[v..]
                .iter()
                .position(|&b| b == b'#')
                .map_or(line.len(), |h| v + h),
        };
        Some((key, start + after_eq..start + end, nl))
    }

    pub fn decode(bytes: &[u8]) -> Decoded {
        let text = lossy(bytes);
        let lines = normalise_line_breaks(&text);
        let hay = lines.as_bytes();
        let mut out = Decoded::default();
        let mut counter = LineCounter::new(&lines);
        let mut caps = None;
        // Every match starts at a line start (`^` in multiline mode), so instead of an
        // unanchored search (a forward and a reverse DFA scan per match) try an anchored
        // search at each line start from the current position: the first that matches is the
        // leftmost match `String.prototype.match`/`exec` would find.
        let mut pos = 0;
        while pos < hay.len() {
            let start = if pos == 0 || hay[pos - 1] == b'\n' {
                pos
            } else {
                match hay[pos..].iter().position(|&b| b == b'\n') {
                    Some(i) => pos + i + 1,
                    None => break,
                }
            };
            if start >= hay.len() {
                break;
            }
            // A blank line or a comment line cannot start an assignment of its own (a match
            // from a blank line is the same as the one from the next line), so skip it
            // without the regex: typical files then never compile it.
            let first = hay[start..]
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .map_or(hay.len(), |i| start + i);
            match hay.get(first) {
                None => break,
                Some(b'\n') => {
                    pos = first + 1;
                    continue;
                }
                Some(b'#') => {
                    pos = first + 1;
                    continue;
                }
                _ => {}
            }
            let (key, raw) = if let Some((key, value, end)) = simple_line(hay, start) {
                pos = end;
                (key, &lines[value])
            } else {
                let re = line_regex();
                let input = Input::new(hay).range(start..).anchored(Anchored::Yes);
                let Some(m) = re.search(&input) else {
                    pos = start + 1;
                    continue;
                };
                pos = m.end();
                let input = Input::new(hay)
                    .range(m.start()..m.end())
                    .anchored(Anchored::Yes);
                let caps = caps.get_or_insert_with(|| re.create_captures());
                re.search_captures(&input, caps);
                let key = caps.get_group(1).expect("group 1 always matches");
                let raw = caps.get_group(2).map_or("", |g| &lines[g.range()]);
                (key.range(), raw)
            };
            out.assignments.push(Assignment {
                key: lines[key.clone()].to_string(),
                value: value_of(raw),
                line: counter.line_at(key.start),
            });
        }
        out.finish(false)
    }

    /// The straightforward port (every match by an unanchored search, groups by the capture
    /// engine): the oracle the fast decoder is property-tested against.
    #[cfg(test)]
    pub(crate) fn decode_reference(bytes: &[u8]) -> Decoded {
        let text = lossy(bytes);
        let lines = normalise_line_breaks(&text);
        let mut out = Decoded::default();
        let mut counter = LineCounter::new(&lines);
        let re = regex::Regex::new(&line_pattern()).unwrap();
        for m in re.find_iter(&lines) {
            let caps = re.captures(&lines[m.start()..m.end()]).unwrap();
            let key = caps.get(1).unwrap();
            let raw = caps.get(2).map_or("", |m| m.as_str());
            out.assignments.push(Assignment {
                key: key.as_str().to_string(),
                value: value_of(raw),
                line: counter.line_at(m.start() + key.start()),
            });
        }
        out.finish(false)
    }

    /// `src.replace(/\r\n?/mg, '\n')`.
    /// What dotenv does with the matched value group: trim, strip the quotes, and turn `\n`
    /// and `\r` into line breaks inside double quotes.
    fn value_of(raw: &str) -> String {
        let value = raw.trim_matches(is_js_space);
        let quote = value.chars().next();
        let value = strip_quotes(value);
        if quote == Some('"') {
            value.replace("\\n", "\n").replace("\\r", "\r")
        } else {
            value
        }
    }

    fn normalise_line_breaks(s: &str) -> std::borrow::Cow<'_, str> {
        if !s.contains('\r') {
            return std::borrow::Cow::Borrowed(s);
        }
        let mut out = String::with_capacity(s.len());
        let mut it = s.chars().peekable();
        while let Some(c) = it.next() {
            if c == '\r' {
                if it.peek() == Some(&'\n') {
                    it.next();
                }
                out.push('\n');
            } else {
                out.push(c);
            }
        }
        std::borrow::Cow::Owned(out)
    }

    /// `value.replace(/^(['"`])([\s\S]*)\1$/mg, '$2')`: in multiline mode, a quote at the start
    /// of a line paired with the last matching quote that ends a line.
    fn strip_quotes(v: &str) -> String {
        let b = v.as_bytes();
        let mut out = String::with_capacity(v.len());
        let mut copied = 0;
        let mut p = 0;
        while p < b.len() {
            let at_line_start = p == 0 || b[p - 1] == b'\n';
            let q = b[p];
            if at_line_start && matches!(q, b'\'' | b'"' | b'`') {
                let close = (p + 1..b.len())
                    .rev()
                    .find(|&i| b[i] == q && (i + 1 == b.len() || b[i + 1] == b'\n'));
                if let Some(close) = close {
                    out.push_str(&v[copied..p]);
                    out.push_str(&v[p + 1..close]);
                    copied = close + 1;
                    p = close + 1;
                    continue;
                }
            }
            p += 1;
        }
        out.push_str(&v[copied..]);
        out
    }

    #[cfg(test)]
    #[test]
    fn strips_like_javascript() {
        assert_eq!(strip_quotes("'a'"), "a");
        assert_eq!(strip_quotes("\"a\"b\""), "a\"b");
        assert_eq!(strip_quotes("\""), "\"");
        assert_eq!(strip_quotes("`x`"), "x");
        assert_eq!(strip_quotes("''"), "");
    }
}

/// The `dotenvy` crate, used as is.
pub mod dotenvy_crate {
    use super::*;

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
        for item in dotenvy::from_read_iter(std::io::Cursor::new(body)) {
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
                        dotenvy::Error::LineParse(rest, _) => text
                            .lines()
                            .enumerate()
                            .skip(after)
                            .find(|(_, l)| l.contains(rest.as_str()))
                            .map_or(after + 1, |(i, _)| i + 1),
                        _ => after + 1,
                    };
                    let message = match &e {
                        dotenvy::Error::LineParse(_, col) => {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn val(d: Dialect, src: &str, key: &str) -> Option<String> {
        d.decode(src.as_bytes(), &none)
            .get(key)
            .map(|a| a.value.clone())
    }

    #[test]
    fn the_table_of_differences() {
        use Dialect::*;
        let cases: &[(&str, &str, [Option<&str>; 2])] = &[
            ("K=v#c", "K", [Some("v#c"), Some("v")]),
            ("K=v # c", "K", [Some("v"), Some("v")]),
            ("K=a b", "K", [Some("a b"), Some("a b")]),
            ("export K=v", "K", [Some("v"), Some("v")]),
            ("K = v", "K", [Some("v"), Some("v")]),
            ("K='a $b'", "K", [Some("a $b"), Some("a $b")]),
            ("K=\"a\\nb\"", "K", [Some("a\nb"), Some("a\nb")]),
            ("K=\"a\\tb\"", "K", [Some("a\tb"), Some("a\\tb")]),
            ("A=1\nK=${A}x", "K", [Some("1x"), Some("${A}x")]),
            ("K=p$$s", "K", [Some("p$s"), Some("p$$s")]),
            ("K=${U:-d}", "K", [Some("d"), Some("${U:-d}")]),
            ("K=1\nK=2", "K", [Some("2"), Some("2")]),
            ("K=\"a\nb\"", "K", [Some("a\nb"), Some("a\nb")]),
            ("K=`a b`", "K", [Some("`a b`"), Some("a b")]),
            ("\u{FEFF}K=v", "K", [Some("v"), Some("v")]),
            ("K=v\r\nL=w\r\n", "K", [Some("v"), Some("v")]),
        ];
        for (src, key, [compose, node]) in cases {
            assert_eq!(
                val(Compose, src, key).as_deref(),
                *compose,
                "compose {src:?}"
            );
            assert_eq!(val(NodeDotenv, src, key).as_deref(), *node, "node {src:?}");
        }
    }

    #[test]
    fn compose_rejects_what_compose_rejects() {
        for src in ["K=\"open", "<<<<<<< HEAD\nK=1", "K=${", "K=${A:?need it}"] {
            let d = Dialect::Compose.decode(src.as_bytes(), &none);
            assert!(d.error.is_some(), "{src:?}");
        }
    }

    #[test]
    fn dotenvy_first_wins_and_reports_errors() {
        let d = Dialect::Dotenvy.decode(b"K=1\nK=2\n", &none);
        assert_eq!(d.get("K").unwrap().value, "1");
        assert_eq!(d.get("K").unwrap().line, 1);
        let e = Dialect::Dotenvy.decode(b"A=1\nK=a b\n", &none);
        assert_eq!(e.error.unwrap().line, 2);
    }

    #[test]
    fn external_lookup_is_used_only_when_given() {
        let ext = |k: &str| (k == "P").then(|| "secret".to_string());
        let d = Dialect::Compose.decode(b"U=x:${P}@db\n", &ext);
        assert_eq!(d.get("U").unwrap().value, "x:secret@db");
        let d = Dialect::Compose.decode(b"U=x:${P}@db\n", &none);
        assert_eq!(d.get("U").unwrap().value, "x:@db");
        assert_eq!(d.unset_refs, vec![(1, "P".to_string())]);
    }

    fn env_like() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just("KEY"),
            Just("B.c-d"),
            Just("export "),
            Just("="),
            Just(":"),
            Just(" "),
            Just("\t"),
            Just("\u{A0}"),
            Just("\u{2028}"),
            Just("'"),
            Just("\""),
            Just("`"),
            Just("\\"),
            Just("#"),
            Just(" #"),
            Just("$"),
            Just("\n"),
            Just("\r\n"),
            Just("\r"),
            Just("\n\n"),
            Just("v1"),
            Just("x y"),
        ];
        // Line-shaped input: [indent][export ]KEY[sep]value-pieces, so that quotes, escapes
        // and comments land where real files have them.
        let value_piece = prop_oneof![
            Just("a"),
            Just("b c"),
            Just("'"),
            Just("\""),
            Just("`"),
            Just("\\"),
            Just("\\'"),
            Just("\\\""),
            Just("#"),
            Just(" #"),
            Just(" "),
            Just("\t"),
            Just("$X"),
            Just("\n"),
            Just("é"),
        ];
        let line = (
            prop_oneof![Just(""), Just(" "), Just("\t")],
            prop_oneof![Just(""), Just("export "), Just("export\t")],
            prop_oneof![Just("K"), Just("A_1"), Just("b.c-d"), Just("export")],
            prop_oneof![Just("="), Just(" = "), Just("= "), Just(": "), Just(":")],
            proptest::collection::vec(value_piece, 0..6),
            prop_oneof![
                Just("\n"),
                Just("\r\n"),
                Just("\n\n"),
                Just("\n# c\n"),
                Just("")
            ],
        )
            .prop_map(|(i, e, k, s, v, end)| format!("{i}{e}{k}{s}{}{end}", v.concat()));
        prop_oneof![
            proptest::collection::vec(piece, 0..30).prop_map(|v| v.concat()),
            proptest::collection::vec(line, 1..6).prop_map(|v| v.concat()),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// The fast node decoder (anchored searches, plain-line shortcut) reads every input
        /// exactly like the straightforward port of dotenv's regex loop.
        #[test]
        fn fast_node_decoder_equals_the_reference(src in env_like()) {
            let fast = node::decode(src.as_bytes());
            let reference = node::decode_reference(src.as_bytes());
            proptest::prop_assert_eq!(fast.assignments, reference.assignments);
        }
    }
}
