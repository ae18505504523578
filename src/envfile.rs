//! The lossless env-file model.
//!
//! An [`EnvFile`] keeps every byte of the file it was parsed from: the UTF-8 BOM, indentation,
//! `export`, the spacing around `=`, the quote style, inline comments, blank lines, CRLF or LF per
//! line and the presence or absence of a final newline. Rendering an unmodified file gives back
//! the exact input; [`EnvFile::set_value`] replaces only the bytes of one value token.
//!
//! This module owns the *structure* of a file (where an assignment starts, which bytes are its
//! key and its raw value token) and the lines no consumer can read. It does not decide what a
//! value *means*: that depends on the consumer and lives in [`crate::dialect`].

use std::borrow::Cow;
use std::fmt;

/// Bytes that are usually one of a few spellings (`=`, `\n`): shared constants, owned otherwise.
pub type Bytes = Cow<'static, [u8]>;

/// `bytes` as a shared constant when it is a common spelling.
fn shared(bytes: &[u8]) -> Bytes {
    const COMMON: [&[u8]; 9] = [
        b"=", b" = ", b"= ", b" =", b"\n", b"\r\n", b"", b"\r", b"\t=\t",
    ];
    match COMMON.iter().find(|c| **c == bytes) {
        Some(c) => Cow::Borrowed(c),
        None => Cow::Owned(bytes.to_vec()),
    }
}

/// The UTF-8 byte-order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A parsed env file: a sequence of items whose raw bytes, concatenated, are the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    /// The file started with a UTF-8 BOM (kept, and not part of any item).
    pub bom: bool,
    pub items: Vec<Item>,
}

/// One logical line (an assignment may span several physical lines inside quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Only spaces or tabs, then the line end.
    Blank { raw: Vec<u8>, line: usize },
    /// A full-line comment.
    Comment { raw: Vec<u8>, line: usize },
    /// `KEY=value`, possibly with `export`, spaces, quotes and a trailing comment.
    Entry(Entry),
    /// A line no consumer can read as intended; kept verbatim.
    Invalid {
        raw: Vec<u8>,
        line: usize,
        problem: Problem,
    },
}

/// Why a line is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    ConflictMarker,
    UnterminatedQuote,
    NulByte,
    InvalidUtf8,
    /// Neither blank, comment nor `KEY=value`.
    NotAnAssignment,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Problem::ConflictMarker => "merge-conflict marker",
            Problem::UnterminatedQuote => "unterminated quoted value",
            Problem::NulByte => "NUL byte",
            Problem::InvalidUtf8 => "invalid UTF-8",
            Problem::NotAnAssignment => "not a KEY=value assignment",
        })
    }
}

/// An assignment. `prefix + key + sep + value + trail + eol` is its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based physical line on which the assignment starts.
    pub line: usize,
    /// Indentation and an optional `export ` keyword.
    pub prefix: Vec<u8>,
    pub key: String,
    /// Spaces, `=`, spaces (the common spellings are shared, not allocated per line).
    pub sep: Bytes,
    /// The raw value token, quotes included; may span lines when quoted.
    pub value: Vec<u8>,
    /// Whatever follows the value on its last line: spaces and an inline comment.
    pub trail: Vec<u8>,
    /// `\n`, `\r\n` or nothing (last line without a final newline).
    pub eol: Bytes,
}

impl Entry {
    /// The quote character the raw value starts with, if any.
    pub fn quote(&self) -> Option<u8> {
        match self.value.first() {
            Some(q @ (b'\'' | b'"' | b'`')) => Some(*q),
            _ => None,
        }
    }
}

impl Item {
    /// 1-based physical line where the item starts.
    pub fn line(&self) -> usize {
        match self {
            Item::Blank { line, .. } | Item::Comment { line, .. } | Item::Invalid { line, .. } => {
                *line
            }
            Item::Entry(e) => e.line,
        }
    }

    fn render_into(&self, out: &mut Vec<u8>) {
        match self {
            Item::Blank { raw, .. } | Item::Comment { raw, .. } | Item::Invalid { raw, .. } => {
                out.extend_from_slice(raw)
            }
            Item::Entry(e) => {
                out.extend_from_slice(&e.prefix);
                out.extend_from_slice(e.key.as_bytes());
                out.extend_from_slice(&e.sep);
                out.extend_from_slice(&e.value);
                out.extend_from_slice(&e.trail);
                out.extend_from_slice(&e.eol);
            }
        }
    }
}

/// The line-ending style of a file, for appending new lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    Lf,
    CrLf,
}

impl LineEnding {
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Lf => b"\n",
            LineEnding::CrLf => b"\r\n",
        }
    }
}

impl EnvFile {
    /// Parse any bytes. Never fails: what cannot be read becomes [`Item::Invalid`].
    pub fn parse(input: &[u8]) -> EnvFile {
        let (bom, body) = match input.strip_prefix(BOM) {
            Some(rest) => (true, rest),
            None => (false, input),
        };
        let mut items = Vec::new();
        let mut pos = 0;
        let mut line = 1;
        while pos < body.len() {
            let (item, consumed) = parse_item(body, pos, line);
            line += body[pos..pos + consumed]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            pos += consumed;
            items.push(item);
        }
        EnvFile { bom, items }
    }

    /// The exact bytes of the file.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.items.len() * 32 + 3);
        if self.bom {
            out.extend_from_slice(BOM);
        }
        for item in &self.items {
            item.render_into(&mut out);
        }
        out
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.items.iter().filter_map(|i| match i {
            Item::Entry(e) => Some(e),
            _ => None,
        })
    }

    /// Items that no consumer can read as intended.
    pub fn invalid(&self) -> impl Iterator<Item = (usize, Problem)> + '_ {
        self.items.iter().filter_map(|i| match i {
            Item::Invalid { line, problem, .. } => Some((*line, *problem)),
            _ => None,
        })
    }

    /// The dominant line ending: CRLF when most terminated lines use it.
    pub fn line_ending(&self) -> LineEnding {
        let (mut crlf, mut lf) = (0usize, 0usize);
        let body = self.render();
        for (i, &b) in body.iter().enumerate() {
            if b == b'\n' {
                if i > 0 && body[i - 1] == b'\r' {
                    crlf += 1;
                } else {
                    lf += 1;
                }
            }
        }
        if crlf > lf {
            LineEnding::CrLf
        } else {
            LineEnding::Lf
        }
    }

    /// Replace the raw value token of the last assignment of `key`. Returns the line edited.
    pub fn set_value(&mut self, key: &str, raw_value: &[u8]) -> Option<usize> {
        let entry = self.items.iter_mut().rev().find_map(|i| match i {
            Item::Entry(e) if e.key == key => Some(e),
            _ => None,
        })?;
        entry.value = raw_value.to_vec();
        Some(entry.line)
    }

    /// Append `KEY=raw_value` in the file's own line-ending style; a missing final newline is
    /// added first so the new line stands on its own. Returns the new line's number.
    pub fn append(&mut self, key: &str, raw_value: &[u8]) -> usize {
        let eol = self.line_ending().as_bytes().to_vec();
        let mut line = 1;
        if let Some(last) = self.items.last_mut() {
            let (lines, terminated) = item_tail(last);
            line = last.line() + lines;
            if !terminated {
                match last {
                    Item::Entry(e) if *e.eol == *b"\r" => e.eol = shared(b"\r\n"),
                    Item::Entry(e) => e.eol = shared(&eol),
                    Item::Blank { raw, .. }
                    | Item::Comment { raw, .. }
                    | Item::Invalid { raw, .. } => raw.extend_from_slice(&eol),
                }
            }
        }
        self.items.push(Item::Entry(Entry {
            line,
            prefix: Vec::new(),
            key: key.to_string(),
            sep: shared(b"="),
            value: raw_value.to_vec(),
            trail: Vec::new(),
            eol: shared(&eol),
        }));
        line
    }
}

/// How many physical lines an item spans, and whether it ends with a newline.
fn item_tail(item: &Item) -> (usize, bool) {
    let mut bytes = Vec::new();
    item.render_into(&mut bytes);
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
    let terminated = bytes.last() == Some(&b'\n');
    (if terminated { newlines } else { newlines + 1 }, terminated)
}

/// Split off one physical line: (content without eol, eol bytes, total length).
fn physical_line(body: &[u8], start: usize) -> (&[u8], &[u8], usize) {
    let rest = &body[start..];
    match rest.iter().position(|&b| b == b'\n') {
        Some(nl) => {
            let content_end = if nl > 0 && rest[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            (&rest[..content_end], &rest[content_end..=nl], nl + 1)
        }
        None => {
            // A final line without newline; a lone trailing `\r` is kept as its "eol".
            if rest.last() == Some(&b'\r') {
                (&rest[..rest.len() - 1], &rest[rest.len() - 1..], rest.len())
            } else {
                (rest, &[][..], rest.len())
            }
        }
    }
}

const CONFLICT_MARKERS: [&[u8]; 4] = [b"<<<<<<<", b"=======", b">>>>>>>", b"|||||||"];

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-'
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Parse the item starting at `start`; returns it and the number of bytes consumed.
fn parse_item(body: &[u8], start: usize, line: usize) -> (Item, usize) {
    let (content, eol, len) = physical_line(body, start);
    let raw = || body[start..start + len].to_vec();
    let invalid = |problem| {
        (
            Item::Invalid {
                raw: raw(),
                line,
                problem,
            },
            len,
        )
    };
    if CONFLICT_MARKERS.iter().any(|m| content.starts_with(m)) {
        return invalid(Problem::ConflictMarker);
    }
    if content.contains(&0) {
        return invalid(Problem::NulByte);
    }
    if std::str::from_utf8(content).is_err() {
        return invalid(Problem::InvalidUtf8);
    }
    let indent = content.iter().take_while(|&&b| is_blank(b)).count();
    let trimmed = &content[indent..];
    if trimmed.is_empty() || trimmed.iter().all(|&b| b.is_ascii_whitespace()) {
        return (Item::Blank { raw: raw(), line }, len);
    }
    if trimmed[0] == b'#' {
        return (Item::Comment { raw: raw(), line }, len);
    }
    // `export` keyword followed by blanks.
    let mut key_start = indent;
    if let Some(after) = trimmed.strip_prefix(b"export") {
        let blanks = after.iter().take_while(|&&b| is_blank(b)).count();
        if blanks > 0 && after.get(blanks).is_some_and(|&b| is_key_byte(b)) {
            key_start = indent + 6 + blanks;
        }
    }
    let key_len = content[key_start..]
        .iter()
        .take_while(|&&b| is_key_byte(b))
        .count();
    if key_len == 0 {
        return invalid(Problem::NotAnAssignment);
    }
    let key_end = key_start + key_len;
    let spaces_before = content[key_end..]
        .iter()
        .take_while(|&&b| is_blank(b))
        .count();
    if content.get(key_end + spaces_before) != Some(&b'=') {
        return invalid(Problem::NotAnAssignment);
    }
    let after_eq = key_end + spaces_before + 1;
    let spaces_after = content[after_eq..]
        .iter()
        .take_while(|&&b| is_blank(b))
        .count();
    let value_start = after_eq + spaces_after;
    // Byte offsets below are relative to `start` (the whole item, possibly multi-line).
    let abs = |i: usize| start + i;
    // Key bytes are ASCII by construction (`is_key_byte`).
    let key = String::from_utf8_lossy(&content[key_start..key_end]).into_owned();
    let (value_end_abs, trail_end_abs, item_end_abs, eol_bytes) = match content.get(value_start) {
        Some(&q @ (b'\'' | b'"' | b'`')) => {
            match find_closing_quote(body, abs(value_start), q) {
                Some(close) => {
                    // The rest of the closing quote's physical line is the trail.
                    let (_, eol2, _) = physical_line(body, close + 1);
                    let line_end = body[close + 1..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(body.len(), |p| close + 1 + p + 1);
                    let trail_end = line_end - eol2.len();
                    let multi = &body[abs(value_start)..=close];
                    if multi.contains(&0) || std::str::from_utf8(multi).is_err() {
                        return invalid(Problem::InvalidUtf8);
                    }
                    (close + 1, trail_end, line_end, shared(eol2))
                }
                None => return invalid(Problem::UnterminatedQuote),
            }
        }
        _ => {
            // Unquoted: the value runs to ` #` (or `\t#`) or the end of the line, minus
            // trailing blanks.
            let rest = &content[value_start..];
            let mut end = rest.len();
            for i in 0..rest.len() {
                if rest[i] == b'#' && i > 0 && is_blank(rest[i - 1]) {
                    end = i;
                    break;
                }
            }
            while end > 0 && is_blank(rest[end - 1]) {
                end -= 1;
            }
            (
                abs(value_start + end),
                abs(content.len()),
                start + len,
                shared(eol),
            )
        }
    };
    let entry = Entry {
        line,
        prefix: content[..key_start].to_vec(),
        key,
        sep: shared(&content[key_end..value_start]),
        value: body[abs(value_start)..value_end_abs].to_vec(),
        trail: body[value_end_abs..trail_end_abs].to_vec(),
        eol: eol_bytes,
    };
    (Item::Entry(entry), item_end_abs - start)
}

/// Find the closing quote for a value opened at `open`. Backslash escapes the quote inside
/// double quotes and backticks; single quotes end at the next `'`.
fn find_closing_quote(body: &[u8], open: usize, quote: u8) -> Option<usize> {
    let mut i = open + 1;
    while i < body.len() {
        let b = body[i];
        if b == b'\\' && quote != b'\'' {
            i += 2;
            continue;
        }
        if b == quote {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &[u8]) {
        assert_eq!(
            EnvFile::parse(s).render(),
            s,
            "{:?}",
            String::from_utf8_lossy(s)
        );
    }

    #[test]
    fn keeps_every_byte() {
        for s in [
            &b""[..],
            b"A=1",
            b"A=1\n",
            b"\xEF\xBB\xBFA=1\r\nB = 'x' # c\r\n",
            b"  export A=\"multi\nline\" # trailing\nB=2",
            b"<<<<<<< HEAD\nA=1\n=======\nA=2\n>>>>>>> x\n",
            b"A=\"unterminated\nB=2\n",
            b"A=\xff\nB=\x00\n",
            b"\r",
            b"A=1\r",
            b"just words\n\n\t\n",
        ] {
            roundtrip(s);
        }
    }

    #[test]
    fn structure_of_an_entry() {
        let f = EnvFile::parse(b"  export KEY = \"a b\"  # note\r\n");
        let e = f.entries().next().unwrap();
        assert_eq!(e.prefix, b"  export ");
        assert_eq!(e.key, "KEY");
        assert_eq!(*e.sep, *b" = ");
        assert_eq!(e.value, b"\"a b\"");
        assert_eq!(e.trail, b"  # note");
        assert_eq!(*e.eol, *b"\r\n");
    }

    #[test]
    fn multiline_value_keeps_line_numbers() {
        let f = EnvFile::parse(b"A='x\ny'\nB=2\n");
        let lines: Vec<_> = f.entries().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(lines, [("A", 1), ("B", 3)]);
    }

    #[test]
    fn invalid_lines_are_reported_with_their_line() {
        let f = EnvFile::parse(b"A=1\n<<<<<<< HEAD\nB='open\nC=\xc3\x28\nD\x00=1\nnope\n");
        let bad: Vec<_> = f.invalid().collect();
        assert_eq!(
            bad,
            [
                (2, Problem::ConflictMarker),
                (3, Problem::UnterminatedQuote),
                (4, Problem::InvalidUtf8),
                (5, Problem::NulByte),
                (6, Problem::NotAnAssignment)
            ]
        );
    }

    #[test]
    fn editing_changes_only_the_value() {
        let mut f = EnvFile::parse(b"\xEF\xBB\xBF# c\r\nexport A = 'old' # keep\r\nB=2");
        f.set_value("A", b"'new'");
        assert_eq!(
            f.render(),
            b"\xEF\xBB\xBF# c\r\nexport A = 'new' # keep\r\nB=2"
        );
    }

    #[test]
    fn append_uses_the_files_line_ending_and_terminates_the_last_line() {
        let mut f = EnvFile::parse(b"A=1\r\nB=2");
        assert_eq!(f.append("C", b"3"), 3);
        assert_eq!(f.render(), b"A=1\r\nB=2\r\nC=3\r\n");
        let mut g = EnvFile::parse(b"");
        assert_eq!(g.append("C", b"3"), 1);
        assert_eq!(g.render(), b"C=3\n");
    }
}
