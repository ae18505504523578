//! `missing-key` and `foreign-contour-key`: which keys a file has.

use crate::finding::RuleCode;

use crate::config::Rules;
use crate::load::{ContourFiles, LoadedFile};

use super::eval::Sink;

pub(super) fn missing(sink: &mut Sink, rules: &Rules, f: &LoadedFile) {
    if f.own.error.is_some() {
        // The consumer rejects the whole file: the syntax finding is the cause, not each key.
        return;
    }
    for key in rules.required.get(&f.repo).into_iter().flatten() {
        let state = match f.value(key) {
            None => "absent",
            Some("") => "empty",
            Some(_) => continue,
        };
        sink.push(
            RuleCode::MissingKey,
            Some(key),
            format!("{key} is {state} in {} {}", f.repo, f.file),
            vec![f.loc_of(key)],
        );
    }
}

pub(super) fn foreign_contour_keys(sink: &mut Sink, f: &LoadedFile, all: &[ContourFiles<'_>]) {
    let me = sink.contour;
    let prefixes: Vec<(String, &str)> = all
        .iter()
        .map(|c| c.contour)
        .filter(|c| c.name != me.name)
        .flat_map(|c| {
            c.names()
                .map(move |n| (format!("{}_", n.to_ascii_uppercase()), c.name.as_str()))
        })
        .collect();
    for a in f.own.variables() {
        if let Some((p, other)) = prefixes.iter().find(|(p, _)| a.key.starts_with(p.as_str())) {
            let bare = &a.key[p.len()..];
            sink.push(
                RuleCode::ForeignContourKey,
                Some(&a.key),
                format!(
                    "{} in the {} file of {} {} belongs to the {other} contour; the app's EnvHelper falls back to it when {bare} is missing, so remove it",
                    a.key, me.name, f.repo, f.file
                ),
                vec![f.loc(a.line)],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;

    #[test]
    fn table() {
        assert_table(vec![
            (
                good_backend(3200).replace("PORT=3200\n", ""),
                good_infra(3200),
                "prod",
                vec![("missing-key", E)],
            ),
            (
                format!("{}DEV_JWT_SECRET=x\n", good_backend(3200)),
                good_infra(3200),
                "prod",
                vec![("foreign-contour-key", W)],
            ),
        ]);
    }
}
