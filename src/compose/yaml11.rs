//! Where compose's YAML reader and envsync's part ways over three characters: U+0085 (NEL),
//! U+2028 (LS) and U+2029 (PS).
//!
//! compose reads YAML with go-yaml v3, which follows YAML 1.1: those three are line breaks,
//! everywhere (a comment ends at one, a plain scalar continues or ends there, a quoted scalar
//! folds there). `saphyr-parser` follows YAML 1.2, where they are ordinary characters. Measured
//! with docker compose 2.40.3 (`config --format json`):
//!
//! - `A: 'x<NEL>y'` and `A: "x<NEL>y"` give `x y` (NEL is read as `\n`, and a single line
//!   break inside a quoted scalar folds into a space); two NELs give `x\ny`;
//! - `A: 'x<LS>y'` gives `x<LS>y` (LS and PS are kept as the break itself, never folded into a
//!   space), and `A: 'x <LS> y'` gives `x<LS>y` (blanks around a break are dropped);
//! - `A: x<NEL>y` (plain) is refused (`y` starts a line of its own), `# c<NEL>B: 1` ends the
//!   comment and sets `B`, `|` and `>` blocks break their lines there too;
//! - env files (`env_file`, `.env`) are not YAML: compose's dotenv parser keeps all three in
//!   values, and so does [`crate::dialect::compose`].
//!
//! [`parse`] gives saphyr a text where each such character that go-yaml reads as a structural
//! line break is a `\n` (same number of characters, so spans stay valid), keeps those inside
//! quoted scalars (saphyr would apply YAML 1.2's indentation rule to the continuation), then
//! reads again, the way go-yaml does, every scalar whose value the difference changes. Lines
//! stay counted by `\n` as everywhere else in envsync.

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::yaml::{self, Kind, Node, Style, YamlError, YamlErrorKind};

/// The characters go-yaml reads as line breaks and saphyr does not.
fn is_separator(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// How often the text is re-read to settle which separators are line breaks before envsync
/// gives up on a file (each round settles at least one more; real files need one or two).
const MAX_ROUNDS: usize = 32;

/// A separator in the text: its index in characters and the character.
#[derive(Debug, Clone, Copy)]
struct Sep {
    at: usize,
    c: char,
    /// Read as a structural line break (`\n` for saphyr), not as a character of a quoted scalar.
    broken: bool,
}

/// [`yaml::parse`], with U+0085, U+2028 and U+2029 read as compose's YAML reader reads them.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    if !text.chars().any(is_separator) {
        return yaml::parse(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut seps: Vec<Sep> = chars
        .iter()
        .enumerate()
        .filter(|(_, c)| is_separator(**c))
        .map(|(at, &c)| Sep {
            at,
            c,
            broken: false,
        })
        .collect();
    // A separator is a line break unless it is inside a quoted scalar, which only what comes
    // before it decides: settle them from the left, a round at a time.
    let mut settled = false;
    for _ in 0..MAX_ROUNDS {
        let cur = render(&chars, &seps);
        let quoted = quoted_spans(&cur);
        let inside = |at: usize| {
            let i = quoted.partition_point(|&(_, end)| end <= at);
            quoted.get(i).is_some_and(|&(start, _)| start <= at)
        };
        match seps.iter().position(|s| s.broken == inside(s.at)) {
            None => {
                settled = true;
                break;
            }
            Some(first) => {
                for s in &mut seps[first..] {
                    s.broken = !inside(s.at);
                }
            }
        }
    }
    let cur = render(&chars, &seps);
    if !settled {
        let first = seps.first().map_or(0, |s| s.at);
        return Err(YamlError {
            line: 1 + chars[..first].iter().filter(|&&c| c == '\n').count(),
            message: "U+0085/U+2028/U+2029 line separators here change what each other mean too often; envsync refuses such a file".into(),
            kind: YamlErrorKind::Syntax,
        });
    }
    let mut root = match yaml::parse(&cur) {
        Ok(root) => root,
        Err(mut e) => {
            e.line = original_line(&cur, &seps, e.line);
            return Err(e);
        }
    };
    // Folded block scalars with LS or PS are folded again from their literal reading.
    let literal = literal_blocks(&cur, &root, &seps)?;
    fix_tree(&mut root, &chars, &seps, &literal)?;
    Ok(root)
}

/// The text saphyr reads: broken separators as `\n`, the others as a space (saphyr accepts a
/// space anywhere in a quoted scalar, even after `\`; the value of a quoted scalar that holds
/// one is read again from the original text).
fn render(chars: &[char], seps: &[Sep]) -> String {
    let mut out: String = String::with_capacity(chars.len() + 8);
    let mut next = seps.iter().peekable();
    for (i, &c) in chars.iter().enumerate() {
        match next.peek() {
            Some(s) if s.at == i => {
                out.push(if s.broken { '\n' } else { ' ' });
                next.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// The spans (characters, sorted) of the quoted scalars saphyr reads in `text`, up to its
/// first error, in the first document.
fn quoted_spans(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(Ok((ev, span))) = parser.next_event() {
        match ev {
            Event::Scalar(_, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted, _, _) => {
                out.push((span.start.index(), span.end.index()));
            }
            Event::DocumentEnd | Event::StreamEnd => break,
            _ => {}
        }
    }
    out
}

/// saphyr's line `line` of `cur` as a line of the original text (broken separators removed).
fn original_line(cur: &str, seps: &[Sep], line: usize) -> usize {
    let mut breaks = seps.iter().filter(|s| s.broken).map(|s| s.at).peekable();
    let mut n = 1;
    let mut before = 0;
    let mut it = cur.chars().enumerate().peekable();
    while let Some((i, c)) = it.next() {
        if n >= line {
            break;
        }
        let is_break = c == '\n' || (c == '\r' && it.peek().is_none_or(|&(_, next)| next != '\n'));
        if is_break {
            if breaks.peek() == Some(&i) {
                before += 1;
            }
            n += 1;
        }
        while breaks.peek().is_some_and(|&b| b <= i) {
            breaks.next();
        }
    }
    line.saturating_sub(before).max(1)
}

/// How many broken separators come before each separator (and, last, in all).
fn broken_prefix(seps: &[Sep]) -> Vec<usize> {
    let mut out = Vec::with_capacity(seps.len() + 1);
    let mut n = 0;
    out.push(0);
    for s in seps {
        n += usize::from(s.broken);
        out.push(n);
    }
    out
}

/// How many broken separators come before the character `at`.
fn broken_before(seps: &[Sep], prefix: &[usize], at: usize) -> usize {
    prefix[seps.partition_point(|s| s.at < at)]
}

/// Does the span hold a separator that is `broken` (or kept), and is one of them LS or PS?
fn holds(seps: &[Sep], span: (usize, usize), broken: bool) -> (bool, bool) {
    let from = seps.partition_point(|s| s.at < span.0);
    let to = seps.partition_point(|s| s.at < span.1);
    let inside = seps[from..to].iter().filter(|s| s.broken == broken);
    inside.fold((false, false), |(_, ls), s| (true, ls || s.c != '\u{85}'))
}

/// The literal reading (`>` read as `|`) of each folded block scalar that holds LS or PS, by
/// the character where it starts; one more read of the file for all of them.
fn literal_blocks(
    cur: &str,
    root: &Node,
    seps: &[Sep],
) -> Result<std::collections::HashMap<usize, String>, YamlError> {
    let chars: Vec<char> = cur.chars().collect();
    let mut starts = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        match &n.kind {
            Kind::Scalar(_, Style::Block) if holds(seps, n.span, true).1 => {
                if let Some(h) = block_header(&chars, n.span.0) {
                    starts.push((n.span.0, h));
                }
            }
            Kind::Map(m) => stack.extend(m.iter().flat_map(|(k, v)| [k, v])),
            Kind::Seq(s) => stack.extend(s.iter()),
            _ => {}
        }
    }
    let mut out = std::collections::HashMap::new();
    let folded: Vec<usize> = starts
        .iter()
        .filter(|&&(_, h)| chars[h] == '>')
        .map(|&(s, _)| s)
        .collect();
    if folded.is_empty() {
        return Ok(out);
    }
    let mut chars = chars;
    for &(_, h) in &starts {
        chars[h] = '|';
    }
    let literal = yaml::parse(&chars.iter().collect::<String>())?;
    let mut stack = vec![&literal];
    while let Some(n) = stack.pop() {
        match &n.kind {
            Kind::Scalar(v, Style::Block) if folded.contains(&n.span.0) => {
                out.insert(n.span.0, v.clone());
            }
            Kind::Map(m) => stack.extend(m.iter().flat_map(|(k, v)| [k, v])),
            Kind::Seq(s) => stack.extend(s.iter()),
            _ => {}
        }
    }
    Ok(out)
}

/// Lines counted without the broken separators, and every scalar the separators change read
/// again as go-yaml reads it.
fn fix_tree(
    root: &mut Node,
    chars: &[char],
    seps: &[Sep],
    literal: &std::collections::HashMap<usize, String>,
) -> Result<(), YamlError> {
    let prefix = broken_prefix(seps);
    let mut stack: Vec<(&mut Node, bool)> = vec![(root, false)];
    while let Some((n, is_key)) = stack.pop() {
        n.line = n
            .line
            .saturating_sub(broken_before(seps, &prefix, n.span.0))
            .max(1);
        let span = n.span;
        let line = n.line;
        let source = || &chars[span.0..span.1.min(chars.len())];
        match &mut n.kind {
            Kind::Scalar(v, style @ (Style::Single | Style::Double)) => {
                if !holds(seps, span, false).0 {
                    continue;
                }
                if is_key {
                    return Err(YamlError {
                        line,
                        message: "a mapping key written over two lines (compose's YAML reader takes U+0085, U+2028 and U+2029 for line breaks)".into(),
                        kind: YamlErrorKind::Syntax,
                    });
                }
                *v = flow_scalar(source(), *style == Style::Single).map_err(|message| {
                    YamlError {
                        line,
                        message,
                        kind: YamlErrorKind::Syntax,
                    }
                })?;
            }
            Kind::Scalar(v, Style::Plain) if holds(seps, span, true).1 => {
                *v = plain_scalar(source());
            }
            Kind::Scalar(v, Style::Block) => {
                if !holds(seps, span, true).1 {
                    continue;
                }
                let Some(header) = block_header(chars, span.0) else {
                    continue;
                };
                let read = literal.get(&span.0).unwrap_or(v);
                let breaks = block_breaks(&chars[header..], read.matches('\n').count());
                let lines = with_breaks(read, &breaks);
                *v = if chars[header] == '>' {
                    fold_block(&lines)
                } else {
                    lines
                        .iter()
                        .flat_map(|(text, brk)| {
                            [text.clone(), brk.map(String::from).unwrap_or_default()]
                        })
                        .collect()
                };
            }
            Kind::Map(m) => stack.extend(m.iter_mut().flat_map(|(k, v)| [(k, true), (v, false)])),
            Kind::Seq(s) => stack.extend(s.iter_mut().map(|v| (v, false))),
            _ => {}
        }
    }
    Ok(())
}

/// go-yaml's `read_line`: what a line break becomes in a value (`\r\n`, `\r`, `\n` and NEL are
/// `\n`; LS and PS stay themselves). `None` when `chars` does not start with a break; else the
/// break and how many characters it takes.
fn read_break(chars: &[char]) -> Option<(char, usize)> {
    match chars {
        ['\r', '\n', ..] => Some(('\n', 2)),
        ['\r' | '\n' | '\u{85}', ..] => Some(('\n', 1)),
        [c @ ('\u{2028}' | '\u{2029}'), ..] => Some((*c, 1)),
        _ => None,
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// go-yaml's folding of the blanks and breaks between two runs of text: a single `\n` break
/// becomes a space, more keep all but the first; LS and PS are kept as they are.
fn join(out: &mut String, leading: Option<char>, trailing: &[char]) {
    match leading {
        Some('\n') if trailing.is_empty() => out.push(' '),
        Some('\n') => out.extend(trailing),
        Some(c) => {
            out.push(c);
            out.extend(trailing);
        }
        None => out.extend(trailing),
    }
}

/// A quoted scalar (`source` from its opening to its closing quote) as go-yaml's
/// `yaml_parser_scan_flow_scalar` reads it.
fn flow_scalar(source: &[char], single: bool) -> Result<String, String> {
    let quote = if single { '\'' } else { '"' };
    let body = source.get(1..).unwrap_or_default();
    let mut out = String::new();
    let mut i = 0;
    let mut column0 = false;
    loop {
        if column0 {
            let rest: String = body[i..].iter().take(4).collect();
            if (rest.starts_with("---") || rest.starts_with("..."))
                && rest[3..]
                    .chars()
                    .next()
                    .is_none_or(|c| is_blank(c) || read_break(&[c]).is_some())
            {
                return Err("found a document indicator (`---` or `...`) inside a quoted scalar after a U+0085/U+2028/U+2029 line break".into());
            }
        }
        let Some(&c) = body.get(i) else {
            return Err("a quoted scalar without its closing quote".into());
        };
        let mut leading_blanks = false;
        // The characters up to a blank or a break.
        let mut c = c;
        while !is_blank(c) && read_break(&body[i..]).is_none() {
            if single && c == '\'' && body.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
            } else if c == quote {
                return Ok(out);
            } else if !single && c == '\\' && body.get(i + 1..).and_then(read_break).is_some() {
                let (_, len) = body.get(i + 1..).and_then(read_break).unwrap_or(('\n', 1));
                i += 1 + len;
                leading_blanks = true;
                break;
            } else if !single && c == '\\' {
                let (ch, len) = escape(&body[i + 1..])?;
                out.push(ch);
                i += 1 + len;
            } else {
                out.push(c);
                i += 1;
            }
            match body.get(i) {
                Some(&next) => c = next,
                None => return Err("a quoted scalar without its closing quote".into()),
            }
        }
        // Blanks and breaks.
        let mut whitespace = String::new();
        let mut leading = None;
        let mut trailing = Vec::new();
        column0 = false;
        while let Some(&c) = body.get(i) {
            if is_blank(c) {
                if !leading_blanks {
                    whitespace.push(c);
                }
                column0 = false;
                i += 1;
            } else if let Some((b, len)) = read_break(&body[i..]) {
                if leading_blanks {
                    trailing.push(b);
                } else {
                    whitespace.clear();
                    leading = Some(b);
                    leading_blanks = true;
                }
                column0 = true;
                i += len;
            } else {
                break;
            }
        }
        if leading_blanks {
            join(&mut out, leading, &trailing);
        } else {
            out.push_str(&whitespace);
        }
    }
}

/// go-yaml's escapes in double quotes: the character and how many characters after the `\` it
/// takes.
fn escape(after: &[char]) -> Result<(char, usize), String> {
    let simple = match after.first() {
        Some('0') => '\0',
        Some('a') => '\u{07}',
        Some('b') => '\u{08}',
        Some('t' | '\t') => '\t',
        Some('n') => '\n',
        Some('v') => '\u{0B}',
        Some('f') => '\u{0C}',
        Some('r') => '\r',
        Some('e') => '\u{1B}',
        Some(' ') => ' ',
        Some('"') => '"',
        Some('\'') => '\'',
        Some('\\') => '\\',
        Some('N') => '\u{85}',
        Some('_') => '\u{A0}',
        Some('L') => '\u{2028}',
        Some('P') => '\u{2029}',
        Some(c @ ('x' | 'u' | 'U')) => {
            let len = match c {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let digits: String = after.iter().skip(1).take(len).collect();
            if digits.len() != len || !digits.chars().all(|d| d.is_ascii_hexdigit()) {
                return Err("did not find the expected hexadecimal number in an escape".into());
            }
            let code = u32::from_str_radix(&digits, 16).unwrap_or(u32::MAX);
            return char::from_u32(code)
                .map(|ch| (ch, 1 + len))
                .ok_or_else(|| "found an invalid Unicode character escape code".to_string());
        }
        _ => return Err("found an unknown escape character".into()),
    };
    Ok((simple, 1))
}

/// A plain scalar (`source` from its first to its last character) as go-yaml folds it.
fn plain_scalar(source: &[char]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < source.len() {
        let c = source[i];
        if !is_blank(c) && read_break(&source[i..]).is_none() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut whitespace = String::new();
        let mut leading = None;
        let mut trailing = Vec::new();
        while i < source.len() {
            if is_blank(source[i]) {
                if leading.is_none() {
                    whitespace.push(source[i]);
                }
                i += 1;
            } else if let Some((b, len)) = read_break(&source[i..]) {
                if leading.is_none() {
                    leading = Some(b);
                } else {
                    trailing.push(b);
                }
                i += len;
            } else {
                break;
            }
        }
        if leading.is_some() {
            join(&mut out, leading, &trailing);
        } else {
            out.push_str(&whitespace);
        }
    }
    out
}

/// Where the indicator (`|` or `>`) of the block scalar whose content starts at `content` is:
/// on the last line before it that is not blank, the first `|` or `>` followed only by
/// indentation and chomping indicators, blanks and a comment.
fn block_header(chars: &[char], content: usize) -> Option<usize> {
    let mut end = content.min(chars.len());
    // Back over the content's indentation and any empty lines, to the header line's end.
    while end > 0 && (is_blank(chars[end - 1]) || read_break(&chars[end - 1..]).is_some()) {
        end -= 1;
    }
    let start = chars[..end]
        .iter()
        .rposition(|&c| read_break(&[c]).is_some())
        .map_or(0, |b| b + 1);
    (start..end).find(|&i| {
        if !matches!(chars[i], '|' | '>') {
            return false;
        }
        let mut j = i + 1;
        while j < end && matches!(chars[j], '0'..='9' | '+' | '-') {
            j += 1;
        }
        while j < end && is_blank(chars[j]) {
            j += 1;
        }
        j == end || (chars[j] == '#' && is_blank(chars[j - 1]))
    })
}

/// The first `count` breaks of a block scalar's content (after its header line), as go-yaml
/// reads them.
fn block_breaks(from_header: &[char], count: usize) -> Vec<char> {
    let mut i = 0;
    while i < from_header.len() && read_break(&from_header[i..]).is_none() {
        i += 1;
    }
    if let Some((_, len)) = read_break(&from_header[i.min(from_header.len())..]) {
        i += len;
    }
    let mut out = Vec::new();
    while i < from_header.len() && out.len() < count {
        match read_break(&from_header[i..]) {
            Some((b, len)) => {
                out.push(b);
                i += len;
            }
            None => i += 1,
        }
    }
    out
}

/// A block scalar's literal reading split into its lines, each with the break that ends it as
/// go-yaml reads it (the n-th `\n` of the value is the n-th break of the content).
fn with_breaks(value: &str, breaks: &[char]) -> Vec<(String, Option<char>)> {
    let mut out = Vec::new();
    let mut brk = breaks.iter();
    let mut parts = value.split('\n').peekable();
    while let Some(p) = parts.next() {
        let end = parts.peek().map(|_| *brk.next().unwrap_or(&'\n'));
        out.push((p.to_string(), end));
    }
    out
}

/// go-yaml's folding of a `>` block from its lines: a `\n` between two lines that do not
/// start with a blank becomes a space (nothing when empty lines follow it); LS and PS, and
/// every break next to a more indented line, are kept. What follows the last line is kept as
/// the literal reading chomped it.
fn fold_block(lines: &[(String, Option<char>)]) -> String {
    let content: Vec<usize> = (0..lines.len())
        .filter(|&k| !lines[k].0.is_empty())
        .collect();
    let (Some(&first), Some(&last)) = (content.first(), content.last()) else {
        return lines.iter().filter_map(|(_, b)| *b).collect();
    };
    let mut out: String = lines[..first].iter().filter_map(|(_, b)| *b).collect();
    for pair in content.windows(2) {
        let (p, k) = (pair[0], pair[1]);
        if p == first {
            out.push_str(&lines[p].0);
        }
        let leading = lines[p].1;
        let trailing: Vec<char> = lines[p + 1..k].iter().filter_map(|(_, b)| *b).collect();
        if leading == Some('\n')
            && !lines[p].0.starts_with(is_blank)
            && !lines[k].0.starts_with(is_blank)
        {
            if trailing.is_empty() {
                out.push(' ');
            }
        } else {
            out.extend(leading);
        }
        out.extend(trailing);
        out.push_str(&lines[k].0);
    }
    if content.len() == 1 {
        out.push_str(&lines[first].0);
    }
    out.extend(lines[last..].iter().filter_map(|(_, b)| *b));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of `A` in `services: s: environment:` with `body` as the entry.
    fn value(entry: &str) -> Result<String, YamlError> {
        let text = format!("services:\n  s:\n    environment:\n{entry}\n    image: x\n");
        let root = parse(&text)?;
        let env = root
            .get("services")
            .and_then(|s| s.get("s"))
            .and_then(|s| s.get("environment"))
            .expect("environment");
        Ok(env
            .get("A")
            .and_then(Node::as_str)
            .unwrap_or("<none>")
            .to_string())
    }

    /// Each row measured with docker compose 2.40.3 (`config --format json`).
    #[test]
    fn separators_read_as_compose_reads_them() {
        for (entry, want) in [
            ("      A: 'x\u{85}y'", "x y"),
            ("      A: \"x\u{85}y\"", "x y"),
            ("      A: 'x \u{85} y'", "x y"),
            ("      A: 'x\u{85}\u{85}y'", "x\ny"),
            ("      A: \"x\u{85}\"", "x "),
            ("      A: 'x\u{85}\ty'", "x y"),
            ("      A: 'x\u{2028}y'", "x\u{2028}y"),
            ("      A: 'x \u{2028} y'", "x\u{2028}y"),
            ("      A: 'x  \u{2028}  \u{2028}  y'", "x\u{2028}\u{2028}y"),
            ("      A: \"x\u{2029}y\"", "x\u{2029}y"),
            ("      A: 'x\u{85}\u{2028}y'", "x\u{2028}y"),
            ("      A: 'x\u{2028}\u{85}y'", "x\u{2028}\ny"),
            ("      A: 'x\n        \u{2028}y'", "x\u{2028}y"),
            ("      A: \"x\\\u{85}  y\"", "xy"),
            ("      A: \"x\\\u{2028}y\"", "xy"),
            ("      A: \"x\\Ny\"", "x\u{85}y"),
            ("      A: 'x\u{85}---y'", "x ---y"),
            ("      A: x\u{85}", "x"),
            ("      A: x\u{2028}", "x"),
            ("      A: x\u{2028}         y", "x\u{2028}y"),
            ("      A: x\u{85}         y", "x y"),
            (
                "      A: x \u{2028}  \u{2028}       y",
                "x\u{2028}\u{2028}y",
            ),
            (
                "      A: |\n        x\u{2028}        y\n        z",
                "x\u{2028}y\nz\n",
            ),
            (
                "      A: |\n        x\u{85}        y\n        z",
                "x\ny\nz\n",
            ),
            (
                "      A: >\n        x\u{2028}        y\n        z",
                "x\u{2028}y z\n",
            ),
            ("      A: >\n        x\u{85}        y\n        z", "x y z\n"),
            ("      A: 'x'\u{85}      B: y", "x"),
            ("      B: x # c\u{85}      A: hidden", "hidden"),
            ("      B: x # c\u{2028}      A: hidden", "hidden"),
        ] {
            assert_eq!(value(entry).as_deref(), Ok(want), "{entry:?}");
        }
        let list = parse("e:\n  - 'A=x\u{85}y'\n  - B=2\n").unwrap();
        assert_eq!(
            list.get("e").unwrap().as_seq().unwrap()[0].as_str(),
            Some("A=x y")
        );
        let flow = parse("e: {A: 'x\u{85}y', B: x\u{85}y}\n").unwrap();
        assert_eq!(
            flow.get("e").unwrap().get("A").unwrap().as_str(),
            Some("x y")
        );
        assert_eq!(
            flow.get("e").unwrap().get("B").unwrap().as_str(),
            Some("x y")
        );
    }

    #[test]
    fn what_compose_refuses_is_refused_at_the_right_line() {
        for (entry, line) in [
            // compose: "yaml: line 6: could not find expected ':'"
            // saphyr notices at the next line.
            ("      A: x\u{85}y", 5),
            ("      A: x\u{2028}y", 5),
            ("      'K\u{85}L': v", 4),
            ("      A: 'x\u{85}--- y'", 4),
            ("      A: |\n        x\u{85}y", 6),
        ] {
            let e = value(entry).expect_err(entry);
            assert_eq!(e.line, line, "{entry:?}: {e:?}");
        }
    }

    #[test]
    fn lines_stay_counted_by_newlines() {
        let root = parse("a: x # \u{85}\u{85}b: 1\nc: 'y\u{2028}z'\nd: 2\n").unwrap();
        assert_eq!(root.get("b").unwrap().line, 1);
        assert_eq!(root.get("c").unwrap().line, 2);
        assert_eq!(root.get("d").unwrap().line, 3);
        assert_eq!(root.get("c").unwrap().as_str(), Some("y\u{2028}z"));
    }

    #[test]
    fn lines_are_right_with_many_nodes_and_separators() {
        let mut t = String::new();
        for i in 0..20_000 {
            t.push_str(&format!("k{i}: 'a\u{2028}b' # c\u{85}\n"));
        }
        let root = parse(&t).unwrap();
        assert_eq!(root.get("k19999").unwrap().line, 20_000);
        assert_eq!(root.get("k7").unwrap().as_str(), Some("a\u{2028}b"));
    }

    #[test]
    fn hostile_separators_end() {
        let many = "# \u{85}'\u{2028}".repeat(2000);
        let _ = parse(&many);
        let deep = "a: '\u{85}".repeat(500);
        let _ = parse(&deep);
    }
}
