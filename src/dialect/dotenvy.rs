//! The `dotenvy` crate 0.15.7, as `dotenvy::dotenv()` / `from_path` read a file: logical lines
//! (a quote left open continues on the next line; a `#` after blanks ends the line), then one
//! assignment per line with strong (`'…'`) and weak (`"…"`) quotes, backslash escapes and
//! `$NAME` / `${NAME}` substitution.
//!
//! Written here rather than called, for one difference: the crate looks names up in the
//! process environment first, and `dotenv()` puts the first assignment of a key there, so a
//! later `$KEY` sees the first value. envsync reproduces that order but consults the process
//! environment only through `external` (`--env-from-process`). The crate itself checks this
//! reader in the differential tests.

use std::collections::HashMap;

use super::{Assignment, DecodeError, Decoded};

/// How the line splitter sees the text so far (the crate's `QuotedLines` states).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scan {
    Complete,
    Escape,
    Strong,
    StrongEscape,
    Weak,
    WeakEscape,
    Blank,
}

/// One logical line: its text (without the line break, or cut at a comment) and the physical
/// line it starts on.
struct Logical {
    text: String,
    line: usize,
}

/// Split the file into logical lines. `Err(line)` when the file ends inside a quote, an escape
/// or after trailing blanks with no final line break (the crate refuses those).
fn logical_lines(text: &str) -> Result<Vec<Logical>, (usize, String)> {
    let mut out = Vec::new();
    let mut physical = text.split_inclusive('\n').peekable();
    let mut number = 0usize;
    while let Some(first) = physical.next() {
        number += 1;
        let start = number;
        if first.trim_start().starts_with('#') {
            continue;
        }
        let mut buf = String::from(first);
        let mut state = Scan::Complete;
        let mut from = 0usize;
        loop {
            let (cut, next) = scan(state, &buf[from..]);
            state = next;
            if let Some(at) = cut {
                buf.truncate(from + at);
                break;
            }
            if state == Scan::Complete {
                if buf.ends_with('\n') {
                    buf.pop();
                    if buf.ends_with('\r') {
                        buf.pop();
                    }
                }
                break;
            }
            match physical.next() {
                Some(more) => {
                    number += 1;
                    from = buf.len();
                    buf.push_str(more);
                }
                None => return Err((start, buf)),
            }
        }
        out.push(Logical {
            text: buf,
            line: start,
        });
    }
    Ok(out)
}

/// Advance the splitter over `s`: the state after it, and where a comment starts, if one does.
fn scan(mut state: Scan, s: &str) -> (Option<usize>, Scan) {
    for (pos, c) in s.char_indices() {
        state = match state {
            Scan::Blank => match c {
                '#' => return (Some(pos), Scan::Complete),
                '\\' => Scan::Escape,
                '"' => Scan::Weak,
                '\'' => Scan::Strong,
                _ => Scan::Complete,
            },
            Scan::Escape => Scan::Complete,
            Scan::Complete => match c {
                c if c.is_whitespace() && c != '\n' && c != '\r' => Scan::Blank,
                '\\' => Scan::Escape,
                '"' => Scan::Weak,
                '\'' => Scan::Strong,
                _ => Scan::Complete,
            },
            Scan::Weak => match c {
                '\\' => Scan::WeakEscape,
                '"' => Scan::Complete,
                _ => Scan::Weak,
            },
            Scan::WeakEscape => Scan::Weak,
            Scan::Strong => match c {
                '\\' => Scan::StrongEscape,
                '\'' => Scan::Complete,
                _ => Scan::Strong,
            },
            Scan::StrongEscape => Scan::Strong,
        };
    }
    (None, state)
}

/// Where `$NAME` values come from: `external` (the process environment, only when asked), then
/// the first value this file gave the name (what `dotenv()` put into the environment).
struct Names<'a> {
    external: &'a dyn Fn(&str) -> Option<String>,
    first: HashMap<String, String>,
    /// How many more bytes references may copy into the file's values (see
    /// [`super::MAX_GROWTH`]); `over` once a reference went past it.
    budget: std::cell::Cell<usize>,
    over: std::cell::Cell<bool>,
}

impl Names<'_> {
    fn value(&self, name: &str, unset: &mut Vec<String>) -> String {
        let v = if let Some(v) = (self.external)(name) {
            v
        } else {
            match self.first.get(name) {
                Some(v) => v.clone(),
                None => {
                    if !name.is_empty() {
                        unset.push(name.to_string());
                    }
                    String::new()
                }
            }
        };
        // Each reference copies the value it names: ten lines that each name the previous
        // one ten times would copy 10 GB. Past the budget nothing more is copied.
        match self.budget.get().checked_sub(v.len()) {
            Some(left) => {
                self.budget.set(left);
                v
            }
            None => {
                self.over.set(true);
                String::new()
            }
        }
    }
}

/// A line's assignment, `None` for a blank line; `Err(())` when the crate refuses the line.
fn assignment(
    line: &str,
    names: &Names<'_>,
    unset: &mut Vec<String>,
) -> Result<Option<(String, String)>, ()> {
    let mut rest = line.trim_end().trim_start();
    if rest.is_empty() || rest.starts_with('#') {
        return Ok(None);
    }
    let take_key = |s: &str| -> Result<(String, usize), ()> {
        if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return Err(());
        }
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(s.len());
        Ok((s[..end].to_string(), end))
    };
    let (mut key, used) = take_key(rest)?;
    rest = rest[used..].trim_start();
    match rest.strip_prefix('=') {
        Some(after) => rest = after,
        // `export KEY=…`: `export` was a prefix, not the key.
        None if key == "export" => {
            let (k, used) = take_key(rest)?;
            key = k;
            rest = rest[used..].trim_start().strip_prefix('=').ok_or(())?;
        }
        None => return Err(()),
    }
    rest = rest.trim_start();
    if rest.is_empty() || rest.starts_with('#') {
        return Ok(Some((key, String::new())));
    }
    Ok(Some((key, value(rest, names, unset)?)))
}

#[derive(PartialEq, Eq)]
enum Subst {
    None,
    Bare,
    Braced,
}

/// The crate's value rules, quirks included (`"$A"` leaves its closing quote to the name's
/// end and fails; `$A_B` substitutes `A`, then writes `_B`).
fn value(input: &str, names: &Names<'_>, unset: &mut Vec<String>) -> Result<String, ()> {
    let (mut strong, mut weak, mut escaped, mut end) = (false, false, false, false);
    let mut out = String::new();
    let mut mode = Subst::None;
    let mut name = String::new();
    for c in input.chars() {
        if end {
            match c {
                ' ' | '\t' => continue,
                '#' => break,
                _ => return Err(()),
            }
        } else if escaped {
            match c {
                '\\' | '\'' | '"' | '$' | ' ' => out.push(c),
                'n' => out.push('\n'),
                _ => return Err(()),
            }
            escaped = false;
        } else if strong {
            if c == '\'' {
                strong = false;
            } else {
                out.push(c);
            }
        } else if mode != Subst::None {
            if c.is_alphanumeric() {
                name.push(c);
            } else if mode == Subst::Braced {
                if c == '}' {
                    mode = Subst::None;
                    out.push_str(&names.value(&std::mem::take(&mut name), unset));
                } else {
                    name.push(c);
                }
            } else if c == '{' && name.is_empty() {
                mode = Subst::Braced;
            } else {
                out.push_str(&names.value(&std::mem::take(&mut name), unset));
                if c == '$' {
                    mode = Subst::Bare;
                } else {
                    mode = Subst::None;
                    out.push(c);
                }
            }
        } else if c == '$' {
            mode = Subst::Bare;
        } else if weak {
            match c {
                '"' => weak = false,
                '\\' => escaped = true,
                _ => out.push(c),
            }
        } else {
            match c {
                '\'' => strong = true,
                '"' => weak = true,
                '\\' => escaped = true,
                ' ' | '\t' => end = true,
                _ => out.push(c),
            }
        }
    }
    if mode == Subst::Braced || strong || weak {
        return Err(());
    }
    if mode == Subst::Bare {
        out.push_str(&names.value(&name, unset));
    }
    Ok(out)
}

pub fn decode(bytes: &[u8], external: &dyn Fn(&str) -> Option<String>) -> Decoded {
    let body = bytes.strip_prefix(crate::envfile::BOM).unwrap_or(bytes);
    let mut out = Decoded::default();
    // The crate reads UTF-8 only.
    let Ok(text) = std::str::from_utf8(body) else {
        let line = 1 + body
            .iter()
            .take(body.utf8_chunks().next().map_or(0, |c| c.valid().len()))
            .filter(|&&b| b == b'\n')
            .count();
        out.error = Some(DecodeError {
            line,
            message: "dotenvy cannot read this line (it is not valid UTF-8)".into(),
        });
        return out.finish(true);
    };
    let lines = match logical_lines(text) {
        Ok(l) => l,
        Err((line, _)) => {
            out.error = Some(DecodeError {
                line,
                message: "dotenvy cannot parse this line (a quote or escape is still open at the end of the file)".into(),
            });
            return out.finish(true);
        }
    };
    let mut names = Names {
        external,
        first: HashMap::new(),
        budget: std::cell::Cell::new(super::MAX_GROWTH),
        over: std::cell::Cell::new(false),
    };
    for l in lines {
        let mut unset = Vec::new();
        let read = assignment(&l.text, &names, &mut unset);
        if names.over.get() {
            out.error = Some(DecodeError {
                line: l.line,
                message: format!(
                    "`$NAME` references here copy more than {} MiB into the file's values; envsync refuses such a file to keep its memory bounded",
                    super::MAX_GROWTH >> 20
                ),
            });
            break;
        }
        match read {
            Ok(Some((key, value))) => {
                names
                    .first
                    .entry(key.clone())
                    .or_insert_with(|| value.clone());
                out.unset_refs
                    .extend(unset.into_iter().map(|n| (l.line, n)));
                out.assignments.push(Assignment {
                    key,
                    value,
                    line: l.line,
                });
            }
            Ok(None) => {}
            Err(()) => {
                out.error = Some(DecodeError {
                    line: l.line,
                    message: "dotenvy cannot parse this line".into(),
                });
                break;
            }
        }
    }
    out.finish(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(src: &str) -> Result<Vec<(String, String)>, usize> {
        let d = decode(src.as_bytes(), &|_| None);
        match d.error {
            Some(e) => Err(e.line),
            None => Ok(d
                .variables()
                .into_iter()
                .map(|a| (a.key.clone(), a.value.clone()))
                .collect()),
        }
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_later_reference_sees_the_first_value_as_dotenv_loads_it() {
        assert_eq!(
            read("A=1\nA=2\nB=$A\n"),
            Ok(pairs(&[("A", "1"), ("B", "1")]))
        );
    }

    #[test]
    fn the_process_environment_only_through_the_lookup() {
        let d = decode(b"P=${ZQ_NOT_SET}x\n", &|n| {
            (n == "ZQ_NOT_SET").then(|| "env".into())
        });
        assert_eq!(d.get("P").unwrap().value, "envx");
        let d = decode(b"P=${ZQ_NOT_SET}x\n", &|_| None);
        assert_eq!(d.get("P").unwrap().value, "x");
        assert_eq!(d.unset_refs, vec![(1, "ZQ_NOT_SET".to_string())]);
    }

    #[test]
    fn exponential_references_are_refused_in_bounded_memory() {
        let mut t = String::from("L0=0123456789\n");
        for n in 1..10 {
            t.push_str(&format!("L{n}={}\n", format!("${{L{}}}", n - 1).repeat(10)));
        }
        let d = decode(t.as_bytes(), &|_| None);
        let e = d.error.expect("refused");
        assert!(e.message.contains("more than 16 MiB"), "{e:?}");
        assert_eq!(e.line, 8, "{e:?}");
    }

    #[test]
    fn quirks_of_the_crate_are_kept() {
        assert_eq!(read("A=1\nB=\"$A\"\n"), Err(2));
        assert_eq!(
            read("A=1\nB=\"${A}\"\n"),
            Ok(pairs(&[("A", "1"), ("B", "1")]))
        );
        assert_eq!(
            read("U=x\nV=$U_y\n"),
            Ok(pairs(&[("U", "x"), ("V", "x_y")]))
        );
        assert_eq!(read("K=a b\n"), Err(1));
        assert_eq!(
            read("K='multi\nline'\n"),
            Ok(pairs(&[("K", "multi\nline")]))
        );
        assert_eq!(
            read("K=v # c\nL=v#c\n"),
            Ok(pairs(&[("K", "v"), ("L", "v#c")]))
        );
        assert_eq!(
            read("K=1 "),
            Err(1),
            "trailing blanks at the end of the file"
        );
        assert_eq!(read("export K=1\n"), Ok(pairs(&[("K", "1")])));
    }
}
