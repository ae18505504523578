//! YAML as a tree that remembers where each node is written: compose files ([`crate::compose`])
//! and Kubernetes manifests ([`crate::k8s`]) are read with it.
//!
//! Built from `saphyr-parser`'s events without recursion (a file nested 10,000 deep is an error,
//! not a stack overflow). Anchors and aliases are expanded here, as copies, within a budget of
//! bytes per file checked before each copy is made (no "billion laughs": see [`MAX_COPIED`]);
//! merge keys (`<<`) are applied as YAML 1.1, compose and Kubernetes do, in time linear in what
//! they merge; a key written twice in one mapping is refused, and compose's own tags `!reset`
//! and `!override` are kept on the node they mark. [`parse`] reads the first document (compose
//! reads one per file); [`parse_documents`] reads every document of a stream (`---`-separated
//! manifests). How a plain scalar is typed is the reader's business ([`Typing`]): compose's
//! reader types it as go-yaml v3 does, a Kubernetes reader keeps the text and types it itself.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// How deep mappings and sequences may nest.
pub const MAX_DEPTH: usize = 128;
/// How many bytes of tree anchors and aliases may copy in one file (all its documents together): 16 MiB, counting each
/// copied node at its size in memory and its text at its length (what the copy allocates).
///
/// An anchor keeps a copy of the node it marks and each alias copies that again, so without a
/// bound a 118 KiB file aliasing a 59 KiB scalar 15,000 times asks for 900 MiB. The budget is
/// fixed rather than a multiple of the file's size: a small real file whose services all merge
/// one `x-env` anchor expands to tens of times its own size (10x would refuse it), while a
/// multiple of a 64 MiB file would allow gigabytes. Real compose files copy kilobytes. 16 MiB
/// holds about 262,000 empty nodes, more than the 200,000 nodes the earlier budget (which
/// counted nodes, not text) allowed, so only long text is newly limited. docker compose has no
/// such limit for text: it took 6 GiB on the 118 KiB file above.
pub const MAX_COPIED: usize = 16 << 20;

/// What becomes of an untagged plain scalar that is not null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typing {
    /// Typed as compose's reader (go-yaml v3, then Go's formatting) types it: `010` is `8`, and
    /// a date is refused ([`resolve_plain`]). Keys are kept as written.
    Compose,
    /// Kept as written, with its [`Style::Plain`]: the reader types it (Kubernetes' go-yaml v2
    /// rules differ from compose's).
    Raw,
}

/// compose's merge directives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    /// `!reset`: the key is removed from what earlier files set.
    Reset,
    /// `!override`: the value replaces what earlier files set instead of merging with it.
    Override,
}

/// One YAML node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    /// 1-based line where the node starts.
    pub line: usize,
    /// Where the node is written, in characters of the file (for scalars: the scalar itself,
    /// quotes included).
    pub span: (usize, usize),
    pub directive: Option<Directive>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Scalar(String, Style),
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
}

/// How a scalar is written (fix keeps it when it rewrites the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Single,
    Double,
    Block,
}

/// Why a file is not valid YAML (or is too deep or too large to expand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
    pub kind: YamlErrorKind,
}

/// Whether compose would refuse the file too, or only envsync does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlErrorKind {
    /// Not YAML compose can read (a syntax error, a key written twice, a date as a value…).
    Syntax,
    /// Within what compose reads, but past one of envsync's limits on memory
    /// ([`MAX_COPIED`]); compose itself would try to hold it all.
    Limit,
}

/// The error for going past [`MAX_COPIED`] at `line`.
fn too_large(line: usize) -> YamlError {
    YamlError {
        line,
        message: format!(
            "aliases expand to more than {} MiB at this line (an anchor keeps a copy of the node it marks, each alias copies it again); envsync refuses such a file to keep its memory bounded: alias large nodes fewer times, or write the values out",
            MAX_COPIED >> 20
        ),
        kind: YamlErrorKind::Limit,
    }
}

/// Add `cost` bytes to what anchors and aliases have copied; `Err` past [`MAX_COPIED`]. Called
/// before the copy is made.
fn charge(copied: &mut usize, cost: usize, line: usize) -> Result<(), YamlError> {
    *copied = copied.saturating_add(cost);
    if *copied > MAX_COPIED {
        return Err(too_large(line));
    }
    Ok(())
}

impl Node {
    /// The text of a scalar (plain, quoted or block), `None` for other kinds.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// What kind of node this is, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Scalar(..) => "a scalar",
            Kind::Map(_) => "a mapping",
            Kind::Seq(_) => "a sequence",
        }
    }

    /// What a copy of this node allocates, in bytes: each node's size and each scalar's text.
    /// (Recursion is bounded: a tree is at most [`MAX_DEPTH`] deep.)
    fn cost(&self) -> usize {
        let own = std::mem::size_of::<Node>();
        match &self.kind {
            Kind::Null => own,
            Kind::Scalar(s, _) => own + s.len(),
            Kind::Map(m) => m.iter().fold(own, |sum, (k, v)| {
                sum.saturating_add(k.cost()).saturating_add(v.cost())
            }),
            Kind::Seq(s) => s.iter().fold(own, |sum, n| sum.saturating_add(n.cost())),
        }
    }
}

enum Frame {
    Seq(Node, usize),
    /// The mapping, its anchor, a key waiting for its value, and its entries' indices hashed by
    /// key, to refuse a duplicate in constant time without copying the key.
    Map(Node, usize, Option<Node>, hashbrown::HashTable<usize>),
}

fn key_hash(key: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(key)
}

/// The line of an earlier entry of `entries` whose key is `name`; otherwise `name` is recorded
/// as the key of the entry about to be pushed.
fn first_definition(
    seen: &mut hashbrown::HashTable<usize>,
    entries: &[(Node, Node)],
    name: &str,
) -> Option<usize> {
    match seen.entry(
        key_hash(name),
        |&i| key_of(entries, i) == name,
        |&i| key_hash(key_of(entries, i)),
    ) {
        hashbrown::hash_table::Entry::Occupied(o) => Some(entries[*o.get()].0.line),
        hashbrown::hash_table::Entry::Vacant(v) => {
            v.insert(entries.len());
            None
        }
    }
}

fn directive(tag: Option<&saphyr_parser::Tag>) -> Option<Directive> {
    let tag = tag?;
    if tag.handle != "!" {
        return None;
    }
    match tag.suffix.as_str() {
        "reset" => Some(Directive::Reset),
        "override" => Some(Directive::Override),
        _ => None,
    }
}

fn node(kind: Kind, span: Span, tag: Option<&saphyr_parser::Tag>) -> Node {
    Node {
        kind,
        line: span.start.line(),
        span: (span.start.index(), span.end.index()),
        directive: directive(tag),
    }
}

/// Parse the first document of `text`, typed as compose types it. An empty file is a null node.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut docs = parse_stream(text, Typing::Compose, true)?;
    Ok(if docs.is_empty() {
        null_at(1)
    } else {
        docs.swap_remove(0)
    })
}

/// Parse every document of `text` (`---`-separated), in order. An empty document is a null
/// node; an empty file has no documents. The alias budget and the depth limit hold for the
/// whole file.
pub fn parse_documents(text: &str, typing: Typing) -> Result<Vec<Node>, YamlError> {
    parse_stream(text, typing, false)
}

fn null_at(line: usize) -> Node {
    Node {
        kind: Kind::Null,
        line,
        span: (0, 0),
        directive: None,
    }
}

fn parse_stream(text: &str, typing: Typing, first_only: bool) -> Result<Vec<Node>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    // Each anchor's copy of its node, and what the copy cost (what each alias will cost).
    let mut anchors: rustc_hash::FxHashMap<usize, (Node, usize)> = Default::default();
    let mut copied = 0usize;
    let mut docs: Vec<Node> = Vec::new();
    // The current document's root, once its top node is complete.
    let mut root: Option<Node> = None;
    let mut doc_line = 1usize;
    while let Some(ev) = parser.next_event() {
        let (ev, span) = ev.map_err(|e| YamlError {
            line: e.marker().line(),
            message: e.info().to_string(),
            kind: YamlErrorKind::Syntax,
        })?;
        let line = span.start.line();
        let err = |message: String| YamlError {
            line,
            message,
            kind: YamlErrorKind::Syntax,
        };
        let is_seq = matches!(ev, Event::SequenceStart(..));
        let done = match ev {
            Event::StreamStart | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                // Anchors do not reach across documents.
                anchors.clear();
                doc_line = line;
                continue;
            }
            Event::DocumentEnd => {
                docs.push(root.take().unwrap_or_else(|| null_at(doc_line)));
                if first_only {
                    break;
                }
                continue;
            }
            Event::StreamEnd => break,
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.as_deref();
                let null_tag = tag.is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "null");
                let kind = if null_tag
                    || (style == ScalarStyle::Plain
                        && tag.is_none()
                        && matches!(&*text, "" | "~" | "null" | "Null" | "NULL"))
                {
                    Kind::Null
                } else {
                    let style = match style {
                        ScalarStyle::Plain => Style::Plain,
                        ScalarStyle::SingleQuoted => Style::Single,
                        ScalarStyle::DoubleQuoted => Style::Double,
                        ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
                    };
                    // A plain value (not a key) is typed as compose types it: `010` is 8.
                    let is_key = matches!(stack.last(), Some(Frame::Map(_, _, None, _)));
                    let text = if typing == Typing::Compose
                        && style == Style::Plain
                        && tag.is_none()
                        && !is_key
                    {
                        match resolve_plain(&text) {
                            Ok(Some(resolved)) => resolved,
                            Ok(None) => text.into_owned(),
                            Err(message) => return Err(err(message)),
                        }
                    } else {
                        text.into_owned()
                    };
                    Kind::Scalar(text, style)
                };
                let n = node(kind, span, tag);
                if anchor > 0 {
                    let cost = n.cost();
                    charge(&mut copied, cost, n.line)?;
                    anchors.insert(anchor, (n.clone(), cost));
                }
                n
            }
            Event::Alias(id) => {
                let Some((target, cost)) = anchors.get(&id) else {
                    return Err(err("an alias names an anchor that is not defined".into()));
                };
                charge(&mut copied, *cost, line)?;
                target.clone()
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err(format!(
                        "nested more than {MAX_DEPTH} levels deep; envsync refuses such a file"
                    )));
                }
                let kind = if is_seq {
                    Kind::Seq(Vec::new())
                } else {
                    Kind::Map(Vec::new())
                };
                let n = node(kind, span, tag.as_deref());
                stack.push(if is_seq {
                    Frame::Seq(n, anchor)
                } else {
                    Frame::Map(n, anchor, None, Default::default())
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (mut n, anchor) = match stack.pop() {
                    Some(Frame::Seq(n, a)) => (n, a),
                    Some(Frame::Map(n, a, _, _)) => (n, a),
                    None => return Err(err("unbalanced collection".into())),
                };
                n.span.1 = span.end.index();
                if let Kind::Map(entries) = &mut n.kind {
                    apply_merge_keys(entries).map_err(|m| err(m.into()))?;
                }
                if anchor > 0 {
                    let cost = n.cost();
                    charge(&mut copied, cost, n.line)?;
                    anchors.insert(anchor, (n.clone(), cost));
                }
                n
            }
        };
        match stack.last_mut() {
            None => root = Some(done),
            Some(Frame::Seq(parent, _)) => {
                if let Kind::Seq(items) = &mut parent.kind {
                    items.push(done);
                }
            }
            Some(Frame::Map(parent, _, pending, seen)) => match pending.take() {
                None => *pending = Some(done),
                Some(key) => {
                    if let Kind::Map(entries) = &mut parent.kind {
                        // compose's YAML reader refuses a key written twice in one mapping.
                        if let Some(name) = key.as_str().filter(|k| *k != "<<") {
                            if let Some(first) = first_definition(seen, entries, name) {
                                return Err(YamlError {
                                    line: key.line,
                                    message: format!(
                                        "mapping key `{}` already defined at line {first}",
                                        crate::mask::sanitize(name)
                                    ),
                                    kind: YamlErrorKind::Syntax,
                                });
                            }
                        }
                        entries.push((key, done));
                    }
                }
            },
        }
    }
    if let Some(last) = root {
        // A stream whose last document has no end event.
        docs.push(last);
    }
    Ok(docs)
}

/// The key of `entries[i]` (`""` for a key that is not a string).
fn key_of(entries: &[(Node, Node)], i: usize) -> &str {
    entries[i].0.as_str().unwrap_or("")
}

/// `<<: *base` (or a list of them): the merged mappings' keys that the mapping does not set
/// itself are added, earlier sources winning. Each key is looked up in a hash table of the keys
/// already there, so 10,000 merged mappings cost 10,000 lookups, not 50 million comparisons.
fn apply_merge_keys(entries: &mut Vec<(Node, Node)>) -> Result<(), &'static str> {
    if !entries.iter().any(|(k, _)| k.as_str() == Some("<<")) {
        return Ok(());
    }
    let mut own = Vec::with_capacity(entries.len());
    let mut sources = Vec::new();
    for (k, v) in entries.drain(..) {
        if k.as_str() == Some("<<") {
            match v.kind {
                Kind::Map(m) => sources.push(m),
                Kind::Seq(items) => {
                    for item in items {
                        match item.kind {
                            Kind::Map(m) => sources.push(m),
                            _ => {
                                return Err(
                                    "a merge key (`<<`) lists something other than mappings",
                                )
                            }
                        }
                    }
                }
                _ => return Err("a merge key (`<<`) must name a mapping or a list of mappings"),
            }
        } else {
            own.push((k, v));
        }
    }
    // The indices in `own` of its entries whose key is a string, hashed by that key.
    let mut taken = hashbrown::HashTable::with_capacity(own.len());
    for (i, (k, _)) in own.iter().enumerate() {
        if let Some(name) = k.as_str() {
            // A mapping's own keys are distinct (a key written twice is refused above).
            taken.insert_unique(key_hash(name), i, |&j| key_hash(key_of(&own, j)));
        }
    }
    for source in sources {
        for (k, v) in source {
            if let Some(name) = k.as_str() {
                match taken.entry(
                    key_hash(name),
                    |&j| key_of(&own, j) == name,
                    |&j| key_hash(key_of(&own, j)),
                ) {
                    hashbrown::hash_table::Entry::Occupied(_) => continue,
                    hashbrown::hash_table::Entry::Vacant(slot) => {
                        slot.insert(own.len());
                    }
                }
            }
            own.push((k, v));
        }
    }
    *entries = own;
    Ok(())
}

/// How compose's YAML reader (go-yaml v3, then Go's formatting) turns an untagged plain scalar
/// into the text a container gets: `010` is octal 8, `1e3` is `1000`, `True` is `true`, `1_000`
/// is `1000`; anything else is kept. `Err` for a date or time, which compose refuses as a value.
pub fn resolve_plain(s: &str) -> Result<Option<String>, String> {
    match s {
        "true" | "True" | "TRUE" => return Ok(Some("true".into())),
        "false" | "False" | "FALSE" => return Ok(Some("false".into())),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Ok(Some("+Inf".into())),
        "-.inf" | "-.Inf" | "-.INF" => return Ok(Some("-Inf".into())),
        ".nan" | ".NaN" | ".NAN" => return Ok(Some("NaN".into())),
        _ => {}
    }
    if !s.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.')) {
        return Ok(None);
    }
    if is_timestamp(s) {
        return Err(format!(
            "`{}` is a date or time to YAML, which compose refuses as a value; quote it",
            crate::mask::sanitize(s)
        ));
    }
    let plain = s.replace('_', "");
    if let Some(i) = go_parse_int(&plain) {
        return Ok(Some(i));
    }
    if is_yaml_float(&plain) {
        if let Ok(f) = plain.parse::<f64>() {
            if f.is_finite() {
                return Ok(Some(go_format_float(f)));
            }
        }
    }
    Ok(None)
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`: a sign, then `0x`, `0o`, `0b` or a
/// leading `0` (octal) or decimal digits. The value as decimal text.
pub fn go_parse_int(s: &str) -> Option<String> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    if neg {
        (magnitude <= 1u128 << 63).then(|| {
            if magnitude == 0 {
                "0".to_string()
            } else {
                format!("-{magnitude}")
            }
        })
    } else {
        (magnitude <= u128::from(u64::MAX)).then(|| magnitude.to_string())
    }
}

/// go-yaml's float syntax: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
pub fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: the shortest digits, in exponent form when the
/// exponent is below -4 or at least 6 (`1e+06`, `1.5e-07`), else plain (`1000`, `0.0001`).
pub fn go_format_float(f: f64) -> String {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// go-yaml's timestamp forms: `2001-12-14`, with `T`/`t`/space and a time, optional zone.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |i: &mut usize, min: usize, max: usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        *i - start >= min
    };
    let mut i = 0;
    if !(num(&mut i, 4, 4) && b.get(i) == Some(&b'-')) {
        return false;
    }
    i += 1;
    if !(num(&mut i, 1, 2) && b.get(i) == Some(&b'-')) {
        return false;
    }
    i += 1;
    if !num(&mut i, 1, 2) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let sep = b[i];
    if !matches!(sep, b'T' | b't' | b' ') {
        return false;
    }
    i += 1;
    for last in [false, false, true] {
        if !num(&mut i, 1, 2) {
            return false;
        }
        if !last {
            if b.get(i) != Some(&b':') {
                return false;
            }
            i += 1;
        }
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !num(&mut i, 1, 9) {
            return false;
        }
    }
    let zone = &s[i..];
    if sep == b' ' {
        return zone.is_empty();
    }
    let zb = zone.as_bytes();
    zone == "Z"
        || (zb.len() == 6
            && matches!(zb[0], b'+' | b'-')
            && zb[1..3].iter().all(u8::is_ascii_digit)
            && zb[3] == b':'
            && zb[4..].iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// This thread's CPU time so far (user and system, in clock ticks, from
    /// `/proc/thread-self/stat`): unlike the wall clock, it does not count the time other
    /// processes on a busy machine take from this test. `None` where there is no such file.
    fn thread_cpu_ticks() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        // After `pid (comm) `: state, ppid, …; utime and stime are the 14th and 15th fields.
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
        let tick = |i: usize| fields.get(i)?.parse::<u64>().ok();
        Some(tick(11)? + tick(12)?)
    }

    /// How many times longer `large` takes than `small` when `large` is `factor` times the
    /// size: `small` runs `factor` times per sample, so both samples take about as long (half
    /// a second or more, well above the clock tick). The least of a few samples of each, in
    /// this thread's CPU time (wall time where /proc is missing). A ratio within one run of the
    /// tests, never a time.
    pub(crate) fn time_ratio(factor: u32, mut small: impl FnMut(), mut large: impl FnMut()) -> f64 {
        let cpu = thread_cpu_ticks().is_some();
        let sample = |f: &mut dyn FnMut()| {
            if cpu {
                let start = thread_cpu_ticks().unwrap_or(0);
                f();
                thread_cpu_ticks().unwrap_or(0).saturating_sub(start).max(1) as f64
            } else {
                let start = std::time::Instant::now();
                f();
                start.elapsed().as_secs_f64()
            }
        };
        let (mut s, mut l) = (f64::MAX, f64::MAX);
        for _ in 0..3 {
            s = s.min(sample(&mut || {
                for _ in 0..factor {
                    small()
                }
            }));
            l = l.min(sample(&mut large));
        }
        l / (s / f64::from(factor))
    }

    #[test]
    fn lines_tags_and_nulls_are_kept() {
        let t = "services:\n  db:\n    ports: !override\n      - \"5434:5432\"\n    environment:\n      A:\n      B: ~\n      C: 'x'\n";
        let root = parse(t).unwrap();
        let db = root.get("services").unwrap().get("db").unwrap();
        let ports = db.get("ports").unwrap();
        assert_eq!(ports.directive, Some(Directive::Override));
        assert_eq!(ports.as_seq().unwrap()[0].as_str(), Some("5434:5432"));
        assert_eq!(ports.as_seq().unwrap()[0].line, 4);
        let env = db.get("environment").unwrap();
        assert!(env.get("A").unwrap().is_null());
        assert!(env.get("B").unwrap().is_null());
        assert_eq!(
            env.get("C").unwrap().kind,
            Kind::Scalar("x".into(), Style::Single)
        );
    }

    #[test]
    fn a_key_written_twice_is_refused_as_compose_refuses_it() {
        let e = parse("services:\n  db:\n    environment:\n      A: 1\n      A: 2\n").unwrap_err();
        assert_eq!(e.line, 5);
        assert!(e.message.contains("already defined at line 4"), "{e:?}");
    }

    #[test]
    fn plain_values_are_typed_as_compose_types_them() {
        // Measured with docker compose 2.40.3 (`config --format json`).
        for (written, read) in [
            ("1.10", "1.1"),
            ("0x1F", "31"),
            ("1e3", "1000"),
            ("1e6", "1e+06"),
            ("010", "8"),
            ("09", "9"),
            (".5", "0.5"),
            ("True", "true"),
            ("0o17", "15"),
            ("1_000", "1000"),
            ("-0", "0"),
            ("+12", "12"),
            ("0.00001", "1e-05"),
            ("123456789.5", "1.234567895e+08"),
            ("99999999999999999999", "1e+20"),
            ("-9223372036854775809", "-9.223372036854776e+18"),
            ("12345678901234567890", "12345678901234567890"),
            ("-.INF", "-Inf"),
            ("yes", "yes"),
            ("1e400", "1e400"),
            ("0o", "0o"),
            ("1,000", "1,000"),
            ("2001-12-14T21:59:43", "2001-12-14T21:59:43"),
        ] {
            let root = parse(&format!("k: {written}\n{written}: v\n")).unwrap();
            assert_eq!(root.get("k").unwrap().as_str(), Some(read), "{written}");
            // Keys are left as written.
            assert!(root.get(written).is_some(), "{written}");
        }
        assert!(parse("k: 2001-12-14\n")
            .unwrap_err()
            .message
            .contains("date or time"));
        assert!(parse("k: 2001-12-14T21:59:43.10-05:00\n").is_err());
        assert_eq!(
            parse("k: '010'\n").unwrap().get("k").unwrap().as_str(),
            Some("010")
        );
    }

    #[test]
    fn anchors_and_merge_keys_expand() {
        let t = "x-env: &env\n  A: 1\n  B: 2\nservices:\n  api:\n    environment:\n      <<: *env\n      B: 3\n";
        let root = parse(t).unwrap();
        let env = root
            .get("services")
            .unwrap()
            .get("api")
            .unwrap()
            .get("environment")
            .unwrap();
        let pairs: Vec<_> = env
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str().unwrap(), v.as_str().unwrap()))
            .collect();
        assert_eq!(pairs, [("B", "3"), ("A", "1")]);
    }

    #[test]
    fn hostile_nesting_and_aliases_are_refused() {
        let deep = "[".repeat(10_000);
        let e = parse(&deep).unwrap_err();
        assert!(
            e.message.contains("nested") || e.message.contains("recursion"),
            "{e:?}"
        );
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            laughs.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(parse(&laughs)
            .unwrap_err()
            .message
            .contains("aliases expand"));
        assert_eq!(parse("a: [1\n").unwrap_err().line, 2);
    }

    #[test]
    fn every_document_of_a_stream_is_read_with_its_lines() {
        let t = "---\n# Source: a.yaml\nkind: A\nv: 010\n---\n---\n# empty above\nkind: B\n...\n";
        let docs = parse_documents(t, Typing::Raw).unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].get("kind").unwrap().as_str(), Some("A"));
        assert_eq!(docs[0].line, 3);
        // Raw typing keeps the plain text; compose typing reads `010` as 8.
        let v = docs[0].get("v").unwrap();
        assert_eq!(v.kind, Kind::Scalar("010".into(), Style::Plain));
        assert!(docs[1].is_null());
        assert_eq!(docs[2].get("kind").unwrap().as_str(), Some("B"));
        assert_eq!(docs[2].get("kind").unwrap().line, 8);
        assert_eq!(parse(t).unwrap().get("v").unwrap().as_str(), Some("8"));
        assert!(parse_documents("", Typing::Raw).unwrap().is_empty());
        assert_eq!(parse_documents("a: 1\n", Typing::Raw).unwrap().len(), 1);
        // A date is text to a raw reader, and refused by compose's.
        assert!(parse_documents("k: 2001-12-14\n", Typing::Raw).is_ok());
    }

    #[test]
    fn a_later_document_cannot_break_the_first_for_compose_but_does_for_streams() {
        let t = "a: 1\n---\nb: [\n";
        assert_eq!(parse(t).unwrap().get("a").unwrap().as_str(), Some("1"));
        assert_eq!(parse_documents(t, Typing::Raw).unwrap_err().line, 4);
    }

    #[test]
    fn anchors_stay_in_their_document_and_the_budget_spans_the_file() {
        let e = parse_documents("a: &x 1\n---\nb: *x\n", Typing::Raw).unwrap_err();
        assert_eq!(e.line, 3, "{e:?}");
        // Each document alone is under the budget; all of them together are not.
        let mut doc = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..3 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            doc.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(parse_documents(&doc, Typing::Raw).is_ok());
        let many = vec![doc; 40].join("---\n");
        assert!(parse_documents(&many, Typing::Raw)
            .unwrap_err()
            .message
            .contains("aliases expand"));
    }

    /// Issue 19, F4: `bytes` of YAML whose first half is one long scalar and whose second half
    /// aliases it over and over (one line of `*a, *a, …`, line 5).
    fn long_scalar_aliased(bytes: usize) -> String {
        let head = "services:\n  db:\n    image: x\n";
        let mut t = format!("{head}x-a: &a \"{}\"\nx-b: [", "x".repeat(bytes / 2));
        while t.len() + 4 < bytes {
            t.push_str("*a, ");
        }
        t.push_str("*a]\n");
        t
    }

    /// 118 KiB aliasing a 59 KiB scalar 15,000 times asked for 900 MiB: 15,000 nodes were
    /// within the old budget of nodes, but each copied 59 KiB of text. The budget counts bytes
    /// (each node and its text) and is checked before each copy is made.
    #[test]
    fn aliases_of_a_long_scalar_are_refused_before_they_are_copied() {
        let text = long_scalar_aliased(118 << 10);
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("aliases expand"), "{e:?}");
        assert_eq!(e.line, 5, "the line of the alias that went over the budget");
        // Aliasing it a few times, as compose files do, is fine.
        let few = format!("x-a: &a \"{}\"\nx-b: [*a, *a, *a]\n", "x".repeat(59 << 10));
        let root = parse(&few).unwrap();
        assert_eq!(root.get("x-b").unwrap().as_seq().unwrap().len(), 3);
    }

    /// An anchor keeps its own copy of what it marks (an alias later copies that copy), so
    /// anchors nested in anchors copy the inner node once per level: 100 levels around a
    /// 200 KB scalar made 20 MB of copies without a single alias.
    #[test]
    fn anchors_nested_in_anchors_count_their_copies() {
        let depth = 100;
        let mut t = String::from("x: ");
        for i in 0..depth {
            t.push_str(&format!("&a{i} ["));
        }
        t.push_str(&format!("&s \"{}\"", "x".repeat(200_000)));
        t.push_str(&"]".repeat(depth));
        t.push('\n');
        let e = parse(&t).unwrap_err();
        assert!(e.message.contains("aliases expand"), "{e:?}");
        assert_eq!(e.line, 1);
    }

    /// `<<: [*a, *b, …]`: the mapping's own keys win, then the earliest source; keys that are
    /// not strings are kept; the order is own keys, then each source's new keys in order.
    #[test]
    fn merge_key_lists_keep_own_keys_then_the_earliest_source() {
        let t = "x-a: &a {A: a1, B: a2}\nx-b: &b {B: b2, C: b3, D: b4}\nx-c: &c {D: c4, E: c5}\nm:\n  C: own\n  <<: [*a, *b, *c]\n  F: own\n";
        let root = parse(t).unwrap();
        let pairs: Vec<_> = root
            .get("m")
            .unwrap()
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str().unwrap(), v.as_str().unwrap()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("C", "own"),
                ("F", "own"),
                ("A", "a1"),
                ("B", "a2"),
                ("D", "b4"),
                ("E", "c5")
            ]
        );
        // Two merge keys in one mapping read as one list, in order.
        let two = parse("x-a: &a {A: 1}\nx-b: &b {A: 2, B: 2}\nm:\n  <<: *a\n  <<: *b\n").unwrap();
        let m = two.get("m").unwrap();
        assert_eq!(m.get("A").unwrap().as_str(), Some("1"));
        assert_eq!(m.get("B").unwrap().as_str(), Some("2"));
    }

    /// `n` anchors of one key each, all merged into one mapping with one merge key.
    fn merges(n: usize) -> String {
        let mut t = String::new();
        for i in 0..n {
            t.push_str(&format!("x-{i}: &a{i} {{K{i}: v{i}, SHARED: s{i}}}\n"));
        }
        t.push_str("m:\n  <<: [");
        for i in 0..n {
            t.push_str(&format!("*a{i}, "));
        }
        t.push_str("]\n");
        t
    }

    /// Issue 19, F5: each key a merge key brought in was looked for among all the keys
    /// already there (20,000 merges: some 400 million comparisons). Ten times the merges must cost
    /// about ten times as much, not a hundred (a ratio within one run, not a time).
    #[test]
    fn merge_keys_take_time_linear_in_the_merges() {
        let (small, large) = (merges(2_000), merges(20_000));
        let m = parse(&large).unwrap();
        assert_eq!(m.get("m").unwrap().as_map().unwrap().len(), 20_001);
        assert_eq!(
            m.get("m").unwrap().get("SHARED").unwrap().as_str(),
            Some("s0")
        );
        let ratio = time_ratio(
            10,
            || drop(parse(&small).unwrap()),
            || drop(parse(&large).unwrap()),
        );
        assert!(
            ratio < 30.0,
            "10x the merges took {ratio:.0}x the time (linear: about 10, quadratic: about 100)"
        );
    }
}
