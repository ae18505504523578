//! kubectl's env-file reader (kubectl 1.32): what `kubectl create secret generic NAME
//! --from-env-file=FILE` (and `create configmap`) puts into the object.
//!
//! A line-by-line reader with no quoting and no expansion: each line (split at `\n`, one
//! trailing `\r` dropped) must be valid UTF-8; the first line loses a UTF-8 BOM; leading
//! whitespace (Unicode's) is trimmed, trailing whitespace is kept; an empty line or one that
//! starts with `#` is skipped (a `#` later in a line is part of the value); the key is the text
//! before the first `=`, and must be an environment variable name (`[-._a-zA-Z][-._a-zA-Z0-9]*`,
//! not `.`, `..` or `..`-prefixed) of at most 253 characters; everything after the `=` is the
//! value, quotes included. A line with no `=` takes the key's value from kubectl's own
//! environment (envsync: only with `--env-from-process`, else the empty value kubectl gets when
//! it is unset, reported in `unset_refs`). `export KEY=…`, an invalid key or a key written
//! twice makes kubectl refuse the whole file. kubectl's line scanner silently stops at a line
//! longer than 65,535 bytes: what follows is left out of the Secret without an error, which is
//! reported as a warning here. The real `kubectl` is the oracle of the differential tests.

use super::{Assignment, DecodeError, Decoded};

/// The longest line kubectl's `bufio.Scanner` reads (its 64 KiB buffer holds the line and its
/// `\n`); at a longer line it stops reading, silently.
pub const MAX_LINE: usize = 64 * 1024 - 1;

/// The longest key a Secret or ConfigMap accepts (a DNS-1123 subdomain's length).
const MAX_KEY: usize = 253;

const BOM: &str = "\u{feff}";

/// Decode `bytes` as kubectl reads an env file. `external` stands for kubectl's environment
/// (bare `KEY` lines).
pub fn decode(bytes: &[u8], external: &dyn Fn(&str) -> Option<String>) -> Decoded {
    let mut out = Decoded::default();
    let mut seen: rustc_hash::FxHashMap<&str, usize> = Default::default();
    let mut rest = bytes;
    let mut number = 0usize;
    while !rest.is_empty() {
        number += 1;
        let (raw, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        if raw.len() > MAX_LINE {
            out.warnings.push(DecodeError {
                line: number,
                message: format!(
                    "kubectl stops reading at this line (longer than {MAX_LINE} bytes) without an error: it and every line after it are left out"
                ),
            });
            break;
        }
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(text) = std::str::from_utf8(line) else {
            return refuse(
                out,
                number,
                "invalid UTF-8; kubectl refuses the file".into(),
            );
        };
        let text = if number == 1 {
            text.strip_prefix(BOM).unwrap_or(text)
        } else {
            text
        };
        let text = text.trim_start();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (key, value) = match text.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (text, None),
        };
        if let Some(why) = invalid_key(key) {
            return refuse(out, number, why);
        }
        if key.len() > MAX_KEY {
            return refuse(
                out,
                number,
                format!("a key longer than {MAX_KEY} characters; kubectl refuses the file"),
            );
        }
        if let Some(first) = seen.get(key) {
            return refuse(
                out,
                number,
                format!(
                    "`{key}` is already set at line {first}; kubectl refuses a key written twice"
                ),
            );
        }
        seen.insert(key, number);
        let value = match value {
            Some(v) => v.to_string(),
            None => external(key).unwrap_or_else(|| {
                out.unset_refs.push((number, key.to_string()));
                String::new()
            }),
        };
        out.assignments.push(Assignment {
            key: key.to_string(),
            value,
            line: number,
        });
    }
    out.finish(false)
}

/// kubectl refuses the file at `line`: nothing of it reaches the Secret.
fn refuse(mut out: Decoded, line: usize, message: String) -> Decoded {
    out.error = Some(DecodeError { line, message });
    out.finish(false)
}

/// Why kubectl refuses `key` as an environment variable name (`IsEnvVarName`). The key is not
/// repeated: on a line without `=` it is the whole line, which may be a secret.
fn invalid_key(key: &str) -> Option<String> {
    let b = key.as_bytes();
    let name_char = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_');
    let valid = b
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, b'-' | b'.' | b'_'))
        && b.iter().all(name_char);
    if !valid {
        if key.starts_with("export") && key[6..].starts_with(char::is_whitespace) {
            return Some(
                "`export` is not understood: kubectl reads `export KEY` as the key and refuses the file; remove `export`".into(),
            );
        }
        return Some(
            "not a key kubectl accepts (letters, digits, `_`, `-` and `.`, not starting with a digit, then `=`); kubectl refuses the file".into(),
        );
    }
    match key {
        "." | ".." => Some(format!("the key `{key}` is refused by kubectl")),
        k if k.starts_with("..") => Some("a key starting with `..` is refused by kubectl".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn vars(src: &str) -> Vec<(String, String)> {
        let d = decode(src.as_bytes(), &none);
        assert!(d.error.is_none(), "{src:?}: {:?}", d.error);
        d.variables()
            .into_iter()
            .map(|a| (a.key.clone(), a.value.clone()))
            .collect()
    }

    #[test]
    fn quotes_comments_and_spaces_as_kubectl_keeps_them() {
        // Measured with kubectl 1.32.3 (`create secret generic --dry-run=client -o json`).
        let got =
            vars("A=\"q\"\nB= \"x\" \n  C=3\r\n#E=1\n F=#x\nG='a'b\nH=a # b\nI=${A}\nJ=x=y\n");
        let want = [
            ("A", "\"q\""),
            ("B", " \"x\" "),
            ("C", "3"),
            ("F", "#x"),
            ("G", "'a'b"),
            ("H", "a # b"),
            ("I", "${A}"),
            ("J", "x=y"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
        // CR only at the end of a line is dropped; a lone CR stays in the value.
        assert_eq!(vars("A=1\rB=2\r\n"), [("A".into(), "1\rB=2".into())]);
        assert_eq!(vars("A=1\r\r\n"), [("A".into(), "1\r".into())]);
        // A BOM on the first line only; Unicode spaces are trimmed before the key.
        assert_eq!(vars("\u{feff}A=1\n"), [("A".into(), "1".into())]);
        assert_eq!(vars("\u{a0}\u{2028}A=1\n"), [("A".into(), "1".into())]);
        assert_eq!(vars(""), []);
        assert_eq!(
            vars(".A=1\n-=2\n_=3"),
            [
                (".A".into(), "1".into()),
                ("-".into(), "2".into()),
                ("_".into(), "3".into())
            ]
        );
    }

    #[test]
    fn what_kubectl_refuses_names_the_line_and_never_the_value() {
        for (src, line, needle) in [
            (&b"A=1\nexport B=2\n"[..], 2, "export"),
            (b"A=1\nA=2\n", 2, "already set at line 1"),
            ("A=1\n\u{feff}B=2\n".as_bytes(), 2, "not a key"),
            (b"1A=1\n", 1, "not a key"),
            ("B\u{a0}=1\n".as_bytes(), 1, "not a key"),
            (b"A=1\nsecret words here\n", 2, "not a key"),
            (b"..A=1\n", 1, "`..`"),
            (b".=1\n", 1, "`.`"),
            (b"A=1\nB=\xff\n", 2, "UTF-8"),
        ] {
            let e = decode(src, &none).error.unwrap();
            assert_eq!(e.line, line, "{src:?}");
            assert!(e.message.contains(needle), "{src:?}: {}", e.message);
            assert!(!e.message.contains("secret words"), "{}", e.message);
        }
        let long_key = format!("{}=1\n", "A".repeat(254));
        assert!(decode(long_key.as_bytes(), &none).error.is_some());
        let ok_key = format!("{}=1\n", "A".repeat(253));
        assert!(decode(ok_key.as_bytes(), &none).error.is_none());
    }

    #[test]
    fn a_bare_key_reads_kubectls_environment_only_when_given() {
        let d = decode(b"A=1\nHOME_DIR\n", &none);
        assert_eq!(d.get("HOME_DIR").unwrap().value, "");
        assert_eq!(d.unset_refs, [(2, "HOME_DIR".to_string())]);
        let env = |k: &str| (k == "HOME_DIR").then(|| "/home/x".to_string());
        let d = decode(b"HOME_DIR\n", &env);
        assert_eq!(d.get("HOME_DIR").unwrap().value, "/home/x");
        assert!(d.unset_refs.is_empty());
    }

    #[test]
    fn a_line_over_64_kib_silently_ends_what_kubectl_reads() {
        // kubectl 1.32.3: 65,535 bytes before the newline are read, 65,536 end the file.
        for (len, newline, read) in [
            (MAX_LINE, true, true),
            (MAX_LINE + 1, true, false),
            (MAX_LINE, false, true),
            (MAX_LINE + 1, false, false),
        ] {
            let mut src = format!("A=1\nB={}", "x".repeat(len - 2));
            if newline {
                src.push_str("\nC=3\n");
            }
            let d = decode(src.as_bytes(), &none);
            assert!(d.error.is_none());
            assert_eq!(d.get("B").is_some(), read, "{len} {newline}");
            assert_eq!(d.get("C").is_some(), read && newline, "{len} {newline}");
            assert_eq!(d.warnings.len(), usize::from(!read));
            assert_eq!(d.get("A").unwrap().value, "1");
        }
    }
}
