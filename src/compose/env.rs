//! A service's effective environment, as compose-go's `WithServicesEnvironmentResolved`
//! computes it from the merged `env_file` list and `environment:` entries.

use std::collections::BTreeMap;

use crate::dialect::compose as dialect;
use crate::finding::Location;

use super::layer::{EnvEntry, Merged};
use super::{unreadable, EnvSource, EnvVar, Input, Lookup, Problem, ReadError};

/// compose-go's `WithServicesEnvironmentResolved`: `environment:` entries without a value take
/// the project environment's; then each `env_file` in order, its `${VAR}` looked up in the
/// project environment, then in the resolved `environment:`, then in what earlier files and
/// lines set; finally `environment:` wins over the files.
pub(super) fn effective_env(
    m: &Merged,
    input: &Input<'_>,
    lookup: &dyn Fn(&str) -> Option<String>,
    read_files: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) -> Result<BTreeMap<String, EnvVar>, ReadError> {
    let declared: Vec<(&EnvEntry, Option<String>)> = m
        .environment
        .iter()
        .map(|e| (e, e.value.clone().or_else(|| lookup(&e.key))))
        .collect();
    // The resolved `environment:` values by key (the merge left one entry per key), looked up
    // for every `${VAR}` of every env_file: a hash map, not a scan of all the entries.
    let resolved: rustc_hash::FxHashMap<&str, &str> = declared
        .iter()
        .filter_map(|(e, v)| Some((e.key.as_str(), v.as_deref()?)))
        .collect();
    let in_service = |k: &str| resolved.get(k).map(|v| v.to_string());
    let mut env: BTreeMap<String, EnvVar> = BTreeMap::new();
    for ef in &m.env_file {
        let r = match (input.read)(&ef.path) {
            Lookup::Found(r) => r,
            Lookup::Absent => {
                if ef.required {
                    problems.push(Problem::MissingEnvFile {
                        at: ef.at.clone(),
                        path: ef.path.clone(),
                    });
                }
                continue;
            }
            Lookup::Unreadable(why) => return Err(unreadable(&ef.path, why)),
            Lookup::Refused(why) => {
                problems.push(Problem::Unsupported {
                    at: ef.at.clone(),
                    what: format!("env_file `{}`: {why}", ef.path),
                });
                continue;
            }
        };
        let shown = format!("{} {}", r.repo, r.file);
        if !read_files.contains(&shown) {
            read_files.push(shown);
        }
        let fresh;
        let decoded = match (input.known)(r.repo, &r.file).filter(|d| d.bytes_only) {
            Some(d) => d,
            None => {
                let known = &env;
                fresh = dialect::decode_layered(
                    &r.bytes,
                    &|k| lookup(k).or_else(|| in_service(k)),
                    &|k| known.get(k).and_then(|v| v.value.clone()),
                );
                &fresh
            }
        };
        if let Some(e) = &decoded.error {
            problems.push(Problem::in_file(
                &r,
                e.line,
                format!("compose refuses this env_file: {}", e.message),
            ));
            continue;
        }
        for a in &decoded.assignments {
            env.insert(
                a.key.clone(),
                EnvVar {
                    value: Some(a.value.clone()),
                    at: Location {
                        repo: r.repo,
                        file: r.file.clone(),
                        line: a.line,
                    },
                    source: EnvSource::EnvFile,
                },
            );
        }
    }
    for (e, value) in declared {
        env.insert(
            e.key.clone(),
            EnvVar {
                value,
                at: e.at.clone(),
                source: e.source.clone(),
            },
        );
    }
    Ok(env)
}
