//! `syntax` and `duplicate-key`: lines no consumer reads as intended.

use std::collections::{BTreeMap, BTreeSet};

use crate::envfile::Problem;
use crate::finding::RuleCode;

use crate::load::LoadedFile;

use super::eval::Sink;

pub(super) fn syntax(sink: &mut Sink, f: &LoadedFile) {
    let mut reported = BTreeSet::new();
    for (line, problem) in f.parsed.invalid() {
        // A dialect that reads the line fine (node dotenv ignores a bare word) still gets
        // a finding: the line does not do what it looks like it does.
        let advice = match problem {
            Problem::ConflictMarker => "resolve the merge conflict",
            Problem::UnterminatedQuote => "close the quote",
            Problem::NulByte => "remove the NUL byte",
            Problem::InvalidUtf8 => "re-save the file as UTF-8",
            Problem::NotAnAssignment => "write KEY=value or comment the line out with #",
        };
        reported.insert(line);
        sink.push(
            RuleCode::Syntax,
            None,
            format!("{problem}; {advice}"),
            vec![f.loc(line)],
        );
    }
    if let Some(e) = &f.own.error {
        if !reported.contains(&e.line) {
            sink.push(
                RuleCode::Syntax,
                None,
                format!("{} rejects the file: {}", f.dialect, e.message),
                vec![f.loc(e.line.max(1))],
            );
        }
    }
}

pub(super) fn duplicates(sink: &mut Sink, f: &LoadedFile) {
    // Count first (a hash map, no allocation per key), then collect lines for the few repeats.
    let mut counts: rustc_hash::FxHashMap<&str, u32> = rustc_hash::FxHashMap::default();
    counts.reserve(f.parsed.items.len());
    let mut repeated = false;
    for e in f.parsed.entries() {
        let n = counts.entry(e.key.as_str()).or_insert(0);
        *n += 1;
        repeated |= *n > 1;
    }
    if !repeated {
        return;
    }
    let mut lines: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for e in f.parsed.entries() {
        if counts.get(e.key.as_str()).is_some_and(|&n| n > 1) {
            lines.entry(e.key.as_str()).or_default().push(e.line);
        }
    }
    // Each repeated key's decoded values, in one pass (not one scan per key).
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for a in &f.own.assignments {
        if lines.contains_key(a.key.as_str()) {
            values
                .entry(a.key.as_str())
                .or_default()
                .insert(a.value.as_str());
        }
    }
    for (key, ls) in lines {
        let differ = if values.get(key).is_some_and(|v| v.len() > 1) {
            " with different values"
        } else {
            ""
        };
        sink.push(
            RuleCode::DuplicateKey,
            Some(key),
            format!(
                "{key} is assigned {} times in {} {}{differ} ({} uses the {}, dotenvy the first); keep one",
                ls.len(),
                f.repo,
                f.file,
                f.dialect,
                if f.dialect.first_wins() { "first" } else { "last" },
            ),
            ls.into_iter().map(|l| f.loc(l)).collect(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;

    #[test]
    fn table() {
        assert_table(vec![
            (
                format!(
                    "{}DATABASE_URL=postgresql://postgres:{PW}@localhost:5432/gprod\n",
                    good_backend(3200)
                ),
                good_infra(3200),
                "prod",
                vec![("database-url", E), ("duplicate-key", E)],
            ),
            (
                good_backend(3200),
                format!("{}<<<<<<< HEAD\n", good_infra(3200)),
                "prod",
                vec![("syntax", E)],
            ),
            (
                format!("{}NOT AN ASSIGNMENT\n", good_backend(3200)),
                good_infra(3200),
                "prod",
                vec![("syntax", E)],
            ),
        ]);
    }
}
