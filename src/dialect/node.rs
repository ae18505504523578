//! The npm `dotenv` package, versions 16 and 17 (`lib/main.js`, `parse`).

use std::sync::OnceLock;

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};

use super::{lossy, Assignment, Decoded, LineCounter};

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
    let Some(&first) = line.get(v) else {
        // `KEY=` and nothing else: empty, unless the quoted alternatives' `\s*` can run over
        // the line break into a quote on a following line (or a non-ASCII space hides one).
        let next = hay[nl..].iter().find(|&&b| !is_ascii_js_space(b));
        return match next {
            Some(&b) if b == b'\'' || b == b'"' || b == b'`' || !b.is_ascii() => None,
            _ => Some((key, start + line.len()..start + line.len(), nl)),
        };
    };
    let end = match first {
        // `KEY=#…` or `KEY= #…`: the comment takes the rest of the line; the value is empty.
        b'#' => v,
        b'\'' | b'"' | b'`' => {
            let close = (v + 1..line.len()).find(|&c| line[c] == first && line[c - 1] != b'\\')?;
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

/// dotenv's LINE regex where `^` and `$` also stand at U+2028 and U+2029, which end a line in
/// JavaScript's multiline mode (the character classes are unchanged: `[^#\r\n]` still takes
/// them). Needs look-around, so it runs only on the rare file that holds one.
fn js_line_regex() -> &'static fancy_regex::Regex {
    static RE: OnceLock<fancy_regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let p = line_pattern();
        let body = p
            .strip_prefix("(?m)^")
            .and_then(|b| b.strip_suffix('$'))
            .expect("the LINE pattern is ^…$");
        fancy_regex::Regex::new(&format!(
            r"(?m)(?:^|(?<=[\x{{2028}}\x{{2029}}])){body}(?:$|(?=[\x{{2028}}\x{{2029}}]))"
        ))
        .expect("node dotenv LINE regex with JavaScript line ends compiles")
    })
}

/// A file with U+2028 or U+2029: every match of the look-around regex, in order.
fn decode_js_lines(lines: &str) -> Decoded {
    let re = js_line_regex();
    let mut out = Decoded::default();
    let mut counter = LineCounter::new(lines);
    let mut at = 0;
    while at <= lines.len() {
        let Ok(Some(caps)) = re.captures_from_pos(lines, at) else {
            break;
        };
        let m = caps.get(0).expect("group 0");
        let key = caps.get(1).expect("group 1 always matches");
        let raw = caps.get(2).map_or("", |g| g.as_str());
        out.assignments.push(Assignment {
            key: key.as_str().to_string(),
            value: value_of(raw),
            line: counter.line_at(key.start()),
        });
        // A match is never empty (a key has at least one character).
        at = m.end().max(m.start() + 1);
    }
    out.finish(false)
}

pub fn decode(bytes: &[u8]) -> Decoded {
    let text = lossy(bytes);
    let lines = normalise_line_breaks(&text);
    if lines.contains(['\u{2028}', '\u{2029}']) {
        return decode_js_lines(&lines);
    }
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
    // Files with U+2028/U+2029 take the look-around path in both; that path is checked against
    // npm dotenv itself by the differential fuzz (tests/integration/differential.rs).
    if lines.contains(['\u{2028}', '\u{2029}']) {
        return decode_js_lines(&lines);
    }
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
