//! Consumer dialects: what value each real reader of an env file would receive.
//!
//! The same bytes mean different things to the node `dotenv` package (the app), docker compose v2
//! (the infra) and the `dotenvy` crate. Each decoder here follows its reader's own algorithm, so
//! envsync compares what the consumers actually get, never raw text. The decoders are checked
//! against the real readers by the conformance suite (`tests/conformance/`).
//!
//! This module decodes whole files. It knows nothing of repos, contours or rules; the lossless
//! structure used for editing lives in [`crate::envfile`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// A consumer of env files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// docker compose v2 (`env_file:` and the project `.env`), with `${VAR}` interpolation.
    Compose,
    /// The npm `dotenv` package 16/17: no expansion, `#` always starts a comment.
    NodeDotenv,
    /// The `dotenvy` Rust crate, decoded by the crate itself.
    Dotenvy,
    /// `kubectl create secret generic --from-env-file`: no quotes removed, `#` only at line
    /// start, no expansion; `export` and a duplicate key are errors.
    KubectlEnvFile,
}

impl Dialect {
    pub const ALL: [Dialect; 4] = [
        Dialect::Compose,
        Dialect::NodeDotenv,
        Dialect::Dotenvy,
        Dialect::KubectlEnvFile,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Compose => "compose",
            Dialect::NodeDotenv => "node-dotenv",
            Dialect::Dotenvy => "dotenvy",
            Dialect::KubectlEnvFile => "kubectl-env-file",
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
            Dialect::Dotenvy => dotenvy::decode(bytes, external),
            Dialect::KubectlEnvFile => kubectl::decode(bytes, external),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a `${VAR}` reference that the file does not define is looked up. compose and dotenvy
/// read the environment they run in; envsync does so only with `--env-from-process`, so that a
/// result never depends on the shell that runs envsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Env {
    /// Nowhere: the reference is unset (and reported as such).
    #[default]
    Isolated,
    /// envsync's own process environment.
    Process,
}

impl Env {
    pub fn lookup(self, name: &str) -> Option<String> {
        match self {
            Env::Isolated => None,
            Env::Process => std::env::var(name).ok(),
        }
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
    /// `${VAR}` references that resolved to nothing (compose warns and uses ""), and bare
    /// `KEY` lines kubectl would fill from an environment envsync does not read.
    pub unset_refs: Vec<(usize, String)>,
    /// What the consumer does silently that changes what it reads (kubectl stops at a line
    /// over 64 KiB): the file is read, but not all of it.
    pub warnings: Vec<DecodeError>,
    /// The reading depends on the bytes alone: decoding looked up no name (no `${VAR}`, no
    /// bare `KEY`), so any environment gives the same result. Only the compose decoder sets
    /// it; `false` claims nothing.
    pub bytes_only: bool,
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

pub mod compose;
pub mod dotenvy;
pub mod kubectl;
pub mod node;

/// How much reference expansion may copy into one file's values (compose and dotenvy): 16 MiB.
/// The readers have no limit, and ten lines that each reference the previous one ten times
/// (`L1=${L0}${L0}…`) grow to 10 GB; envsync refuses the file at the line that goes past it.
pub const MAX_GROWTH: usize = 16 << 20;

/// Does `s` hold a `$VAR` or `${VAR}` reference (as compose would read it)?
pub fn has_reference(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(2)
        .any(|w| w[0] == b'$' && (w[1] == b'{' || w[1] == b'_' || w[1].is_ascii_alphabetic()))
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

    #[test]
    fn a_compose_reading_says_whether_it_depends_on_the_bytes_alone() {
        // compose-go's own `${VAR}` and bare `KEY` consult the environment; quotes, `$$`, a
        // later line's value, comments and an unterminated value do not.
        for (src, bytes_only) in [
            ("A=1\nB='x y' # c\nC=\"q\\n\"\n", true),
            ("A=$$1\nB=a$\n", true),
            ("A='unterminated\n", true),
            ("A=${P}\n", false),
            ("A=$P\n", false),
            ("A=1\nB=${A}\n", false),
            ("A=\"${P:-d}\"\n", false),
            ("P\n", false),
        ] {
            let d = Dialect::Compose.decode(src.as_bytes(), &none);
            assert_eq!(d.bytes_only, bytes_only, "{src:?}");
        }
        // Other dialects claim nothing.
        assert!(!Dialect::NodeDotenv.decode(b"A=1\n", &none).bytes_only);
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
