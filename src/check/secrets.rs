//! `weak-secret` and `reused-secret`.

use crate::finding::{Location, RuleCode};
use crate::mask::fingerprint;

use crate::config::Rules;
use crate::load::{ContourFiles, LoadedFile};

use super::eval::Sink;

pub(super) fn weak(sink: &mut Sink, rules: &Rules, f: &LoadedFile) {
    for (key, _) in &rules.weak {
        let Some(v) = f.value(key) else { continue };
        if v.is_empty() {
            continue;
        }
        let Some(why) = rules.weakness(key, v) else {
            continue;
        };
        sink.push(
            RuleCode::WeakSecret,
            Some(key),
            format!(
                "{key} in {} {} {why}; generate one with `envsync fix --contour {} --generate-secrets`",
                f.repo, f.file, sink.contour.name
            ),
            vec![f.loc_of(key)],
        );
    }
}

pub(super) fn reused(
    sink: &mut Sink,
    rules: &Rules,
    cf: &ContourFiles<'_>,
    all: &[ContourFiles<'_>],
) {
    for key in rules
        .unique_in_prod
        .iter()
        .filter(|k| rules.must_be_unique(k, cf.contour))
    {
        for side in [cf.backend.as_ref(), cf.infra.as_ref()]
            .into_iter()
            .flatten()
        {
            let Some(v) = side.value(key).filter(|v| !v.is_empty()) else {
                continue;
            };
            for other in all.iter().filter(|o| o.contour.name != cf.contour.name) {
                let hits: Vec<Location> = [other.backend.as_ref(), other.infra.as_ref()]
                    .into_iter()
                    .flatten()
                    .filter(|o| o.value(key) == Some(v))
                    .map(|o| o.loc_of(key))
                    .collect();
                if hits.is_empty() {
                    continue;
                }
                let mut locs = vec![side.loc_of(key)];
                locs.extend(hits);
                sink.push(
                    RuleCode::ReusedSecret,
                    Some(key),
                    format!(
                        "{key} in {} {} ({}) is also used by the {} contour; prod needs its own",
                        side.repo,
                        side.file,
                        fingerprint(v),
                        other.contour.name
                    ),
                    locs,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;

    #[test]
    fn table() {
        assert_table(vec![(
            good_backend(3000).replace(JWT, "dev_jwt_secret_change_me_in_production"),
            good_infra(3000).replace(JWT, "dev_jwt_secret_change_me_in_production"),
            "dev",
            vec![("weak-secret", W), ("weak-secret", W)],
        )]);
    }

    #[test]
    fn prod_may_not_share_a_secret_with_another_contour() {
        let dev = (
            "dev",
            good_backend(3000).replace(PW, "dev-only-password"),
            good_infra(3000).replace(PW, "dev-only-password"),
        );
        let found = codes_among(
            &good_backend(3200),
            &good_infra(3200),
            "prod",
            &[(dev.0, &dev.1, &dev.2)],
        );
        assert_eq!(found, vec![("reused-secret", E), ("reused-secret", E)]);
    }
}
