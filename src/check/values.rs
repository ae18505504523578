//! `value-mismatch`, `port-mismatch` and `dialect-divergence`: what the consumers receive.

use std::collections::BTreeSet;

use crate::finding::RuleCode;

use crate::config::Rules;
use crate::load::LoadedFile;

use super::eval::Sink;

pub(super) fn mismatch(sink: &mut Sink, rules: &Rules, b: &LoadedFile, i: &LoadedFile) {
    for key in &rules.shared {
        let (Some(bv), Some(iv)) = (b.value(key), i.value(key)) else {
            continue;
        };
        if bv.is_empty() || iv.is_empty() || bv == iv {
            continue;
        }
        let show = |v: &str| sink.show(key, v);
        let owner = rules
            .owner(key)
            .map(|o| format!("; {o} owns it (`envsync fix` copies it)"))
            .unwrap_or_default();
        sink.push(
            RuleCode::ValueMismatch,
            Some(key),
            format!(
                "{key} differs: backend ({}) {} vs infra ({}) {}{owner}",
                b.dialect,
                show(bv),
                i.dialect,
                show(iv)
            ),
            vec![b.loc_of(key), i.loc_of(key)],
        );
    }
}

pub(super) fn port(sink: &mut Sink, rules: &Rules, f: &LoadedFile) {
    let key = &rules.port_key;
    let Some(v) = f.value(key) else { return };
    if v.is_empty() || v == sink.contour.api_port.to_string() {
        return;
    }
    sink.push(
        RuleCode::PortMismatch,
        Some(key),
        format!(
            "{key} in {} {} is {}, but the {} contour's API port is {}",
            f.repo,
            f.file,
            sink.show(key, v),
            sink.contour.name,
            sink.contour.api_port
        ),
        vec![f.loc_of(key)],
    );
}

pub(super) fn divergence(sink: &mut Sink, rules: &Rules, f: &LoadedFile) {
    if f.dialect == f.other_dialect {
        return;
    }
    let mut keys: Vec<&String> = rules.shared.iter().collect();
    keys.push(&rules.database_url.key);
    for key in keys {
        let (Some(own), Some(other)) = (f.own.get(key), f.other.get(key)) else {
            continue;
        };
        // DATABASE_URL with a ${VAR} under node is reported by database-url.
        if own.value == other.value || (own.value.contains("${") && *key == rules.database_url.key)
        {
            continue;
        }
        let show = |v: &str| sink.show(key, v);
        sink.push(
            RuleCode::DialectDivergence,
            Some(key),
            format!(
                "{key} in {} {} reads as {} under {} but {} under {}; quote it (single quotes) so both consumers agree",
                f.repo, f.file, show(&own.value), f.dialect, show(&other.value), f.other_dialect
            ),
            vec![f.loc(own.line)],
        );
    }
}

/// `unset-reference`: a reference the consumer resolves from its own environment.
pub(super) fn unset_references(sink: &mut Sink, f: &LoadedFile) {
    let mut seen = BTreeSet::new();
    for (line, name) in &f.own.unset_refs {
        if !seen.insert((line, name)) {
            continue;
        }
        // A reference inside a secret-bearing value may be the tail of the secret itself
        // (`Qx7$ecretPass…`): named by its place and fingerprint, never by its text.
        let holder = f.own.assignments.iter().find(|a| a.line == *line);
        if let Some(a) =
            holder.filter(|a| sink.mask.hides_value(&a.key, &a.value) || sink.mask.touches(name))
        {
            let raw = f
                .parsed
                .entries()
                .find(|e| e.line == *line)
                .map(|e| String::from_utf8_lossy(&e.value).into_owned());
            let at = raw
                .as_deref()
                .and_then(|r| r.find(&format!("${name}")).or_else(|| r.find("${")))
                .map(|i| format!(" at character {}", i + 1))
                .unwrap_or_default();
            let key = crate::mask::sanitize(&a.key);
            sink.push(
                RuleCode::UnsetReference,
                Some(&a.key),
                format!(
                    "a `$` reference{at} of {key}'s value in {} {} (name {}) names a variable the file does not define: {} takes it from the environment it runs in, envsync reads it as empty; if the `$` is part of the secret, quote the value with single quotes so it is read literally",
                    f.repo,
                    f.file,
                    crate::mask::fingerprint(name),
                    f.dialect
                ),
                vec![f.loc(*line)],
            );
            continue;
        }
        sink.push(
            RuleCode::UnsetReference,
            None,
            format!(
                "`${{{name}}}` in {} {} names a variable the file does not define: {} takes it from the environment it runs in, envsync reads it as empty (define it, give a default with `${{{name}:-…}}`, or run envsync with --env-from-process)",
                f.repo, f.file, f.dialect
            ),
            vec![f.loc(*line)],
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
                good_backend(3200).replace(PW, "other-password-9"),
                good_infra(3200),
                "prod",
                vec![("database-url", E), ("value-mismatch", E)],
            ),
            (
                good_backend(3007),
                good_infra(3007),
                "prod",
                vec![("port-mismatch", E), ("port-mismatch", E)],
            ),
            (
                good_backend(3200).replace(PW, "ab#cd$ef-long-pw"),
                good_infra(3200).replace(PW, "'ab#cd$ef-long-pw'"),
                "prod",
                vec![
                    ("database-url", E),
                    ("dialect-divergence", W),
                    ("dialect-divergence", W),
                    ("value-mismatch", E),
                ],
            ),
            (good_backend(3100), good_infra(3100), "stage", vec![]),
        ]);
    }
}
