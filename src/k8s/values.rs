//! A chart's values files, read to say which values line decides a rendered value.
//!
//! Helm merges the `-f` files in order (a later file's key wins, maps merge deeply, `null`
//! deletes) and then `--set`. [`Values::find`] looks for the entry that gave a rendered
//! `KEY: value`: a leaf named `KEY` whose value Helm prints as the rendered text
//! ([`super::typing::helm_text`]), in the last file that sets that path. When several paths
//! could have given it, or `--set` sets it, there is no answer: a wrong line would be worse
//! than none. The entry keeps what is written and what Helm prints, so a later rule can tell
//! a value Helm's typing changed (`1000000` rendered `1e+06`).

use crate::finding::Location;
use crate::mask::Mask;
use crate::model::Repo;
use crate::yaml::{self, Kind, Node, Style, Typing};

use super::typing::helm_text;
use super::{K8sError, Place};

/// One values file.
#[derive(Debug, Clone)]
pub struct ValuesFile {
    pub repo: Repo,
    /// Relative to the repo.
    pub file: String,
    pub root: Node,
}

/// The values files in `-f` order, and the `--set` strings.
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub files: Vec<ValuesFile>,
    pub set: Vec<String>,
    /// Every leaf's last definition, by its last key (built once: lookups stay linear).
    index: rustc_hash::FxHashMap<String, Vec<Indexed>>,
}

/// A leaf path's last definition.
#[derive(Debug, Clone)]
struct Indexed {
    path: String,
    file: usize,
    line: usize,
    written: String,
    plain: bool,
    /// What Helm prints (`None`: Helm drops it).
    helm: Option<String>,
}

/// The values entry that decides a rendered value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at: Location,
    /// The key path (`env.PORT`).
    pub path: String,
    /// The scalar as written (`1000000`), and whether it is plain (unquoted).
    pub written: String,
    pub plain: bool,
    /// What Helm prints for it (`1e+06`).
    pub helm: String,
}

impl Entry {
    /// Helm's YAML typing changed the text (`1000000` rendered `1e+06`, `yes` rendered `true`).
    pub fn retyped(&self) -> bool {
        self.plain && self.written != self.helm
    }
}

/// A leaf of a values file: its key path, its last key, and its node.
struct Leaf<'a> {
    path: String,
    key: &'a str,
    node: &'a Node,
}

fn leaves(root: &Node) -> Vec<Leaf<'_>> {
    let mut out = Vec::new();
    let mut stack: Vec<(String, &Node)> = vec![(String::new(), root)];
    while let Some((path, node)) = stack.pop() {
        let Some(entries) = node.as_map() else {
            continue;
        };
        for (k, v) in entries.iter().rev() {
            let Some(key) = k.as_str() else { continue };
            let p = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
            match &v.kind {
                Kind::Map(_) => stack.push((p, v)),
                Kind::Seq(_) => {}
                Kind::Null | Kind::Scalar(..) => out.push(Leaf {
                    path: p,
                    key,
                    node: v,
                }),
            }
        }
    }
    out
}

/// The key paths a `--set` string assigns (`a.b=1,c=2`; escaped commas kept in values).
fn set_paths(set: &str) -> Vec<String> {
    set_items(set)
        .into_iter()
        .filter_map(|item| Some(item.split_once('=')?.0.trim().to_string()))
        .collect()
}

/// The items of a `--set` string as Helm's `strvals` splits them: at each comma that is
/// neither escaped (`\,`) nor inside a list value (`k={a,b}`). Empty items are dropped.
pub fn set_items(set: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut escaped, mut assigned, mut in_list) = (0, false, false, false);
    let mut chars = set.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' if !assigned => {
                assigned = true;
                in_list = matches!(chars.peek(), Some((_, '{')));
            }
            '}' if in_list => in_list = false,
            ',' if !in_list => {
                out.push(&set[start..i]);
                (start, assigned) = (i + 1, false);
            }
            _ => {}
        }
    }
    out.push(&set[start..]);
    out.retain(|item| !item.is_empty());
    out
}

/// A `--set` value as Helm reads it: each `\x` is `x`.
pub fn set_unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

impl Values {
    /// Parse the values files (`(repo, file, text)` in `-f` order).
    pub fn parse(files: Vec<(Repo, String, String)>, set: &[String]) -> Result<Values, K8sError> {
        let mut out = Vec::new();
        for (repo, file, text) in files {
            let root = yaml::parse_documents(&text, Typing::Raw)
                .map_err(|e| K8sError::Yaml {
                    place: Place {
                        at: Location {
                            repo,
                            file: file.clone(),
                            line: e.line,
                        },
                        rendered: false,
                    },
                    message: crate::mask::sanitize(&e.message),
                })?
                .into_iter()
                .next()
                .unwrap_or(Node {
                    kind: Kind::Null,
                    line: 1,
                    span: (0, 0),
                    directive: None,
                });
            out.push(ValuesFile { repo, file, root });
        }
        // Each path's last definition, then grouped by the path's last key.
        let mut by_path: rustc_hash::FxHashMap<String, (String, Indexed)> = Default::default();
        for (i, f) in out.iter().enumerate() {
            for leaf in leaves(&f.root) {
                let entry = Indexed {
                    path: leaf.path.clone(),
                    file: i,
                    line: leaf.node.line,
                    written: leaf.node.as_str().unwrap_or_default().to_string(),
                    plain: matches!(leaf.node.kind, Kind::Scalar(_, Style::Plain)),
                    helm: helm_text(leaf.node),
                };
                by_path.insert(leaf.path, (leaf.key.to_string(), entry));
            }
        }
        let mut index: rustc_hash::FxHashMap<String, Vec<Indexed>> = Default::default();
        for (key, entry) in by_path.into_values() {
            index.entry(key).or_default().push(entry);
        }
        Ok(Values {
            files: out,
            set: set.to_vec(),
            index,
        })
    }

    /// Learn the values of secret keys (by the masking policy: `JWT_SECRET`, `*PASSWORD*`, a
    /// URL's password, …) from the values files and `--set`, so that nothing Helm prints
    /// about them shows them.
    pub fn learn_secrets(&self, mask: &mut Mask) {
        for f in &self.files {
            let leaves = leaves(&f.root);
            mask.learn(
                leaves
                    .iter()
                    .filter_map(|l| Some((l.key, l.node.as_str()?))),
            );
        }
        for s in &self.set {
            for item in set_items(s) {
                if let Some((path, value)) = item.split_once('=') {
                    let key = path.rsplit('.').next().unwrap_or(path);
                    mask.learn([(key, value), (key, set_unescape(value).as_str())]);
                }
            }
        }
    }

    /// The values line whose `null` deletes a leaf named `key` (Helm drops the key), when
    /// that is the leaf's last definition and `--set` does not set it.
    pub fn deleted(&self, key: &str) -> Option<Location> {
        let set: Vec<String> = self.set.iter().flat_map(|s| set_paths(s)).collect();
        let e = self
            .index
            .get(key)?
            .iter()
            .find(|e| !set.contains(&e.path) && e.helm.is_none())?;
        let f = &self.files[e.file];
        Some(Location {
            repo: f.repo,
            file: f.file.clone(),
            line: e.line,
        })
    }

    /// The values entry a rendered `key: rendered` comes from, when exactly one path can
    /// have given it and `--set` does not set it.
    pub fn find(&self, key: &str, rendered: &str) -> Option<Entry> {
        let set: Vec<String> = self.set.iter().flat_map(|s| set_paths(s)).collect();
        let mut found = self
            .index
            .get(key)?
            .iter()
            .filter(|e| !set.contains(&e.path) && e.helm.as_deref() == Some(rendered));
        let e = found.next()?;
        if found.next().is_some() {
            return None;
        }
        let f = &self.files[e.file];
        Some(Entry {
            at: Location {
                repo: f.repo,
                file: f.file.clone(),
                line: e.line,
            },
            path: e.path.clone(),
            written: e.written.clone(),
            plain: e.plain,
            helm: rendered.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(files: &[(&str, &str)], set: &[&str]) -> Values {
        Values::parse(
            files
                .iter()
                .map(|(f, t)| (Repo::Backend, f.to_string(), t.to_string()))
                .collect(),
            &set.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn the_last_file_that_sets_a_path_decides_it() {
        let v = values(
            &[
                ("values.yaml", "env:\n  PORT: \"3000\"\n  MAX: 1000000\n  KEEP: x\nsecretEnv:\n  JWT_SECRET: REPLACE_ME\n"),
                ("values-dev.yaml", "# dev\nenv:\n  PORT: 3100\n"),
            ],
            &[],
        );
        let e = v.find("PORT", "3100").unwrap();
        assert_eq!(
            (e.at.file.as_str(), e.at.line, e.path.as_str()),
            ("values-dev.yaml", 3, "env.PORT")
        );
        assert!(!e.retyped());
        // The base file's `3000` was overridden: it does not give a rendered "3000".
        assert!(v.find("PORT", "3000").is_none());
        let e = v.find("MAX", "1e+06").unwrap();
        assert!(e.retyped());
        assert_eq!((e.written.as_str(), e.at.line), ("1000000", 3));
        assert_eq!(v.find("KEEP", "x").unwrap().at.file, "values.yaml");
    }

    #[test]
    fn ambiguity_and_set_give_no_answer() {
        let v = values(
            &[("v.yaml", "a:\n  X: \"1\"\nb:\n  X: 1\nc:\n  Y: y\n")],
            &["c.Y=z,d=e\\,f"],
        );
        assert!(v.find("X", "1").is_none());
        assert!(v.find("Y", "y").is_none());
        assert_eq!(set_paths("a.b=1,c=x\\,y=2"), ["a.b", "c"]);
        // A list value is one item; its commas separate its elements, not items.
        assert_eq!(
            set_items("a={x,y},b=1,c=p\\,q"),
            ["a={x,y}", "b=1", "c=p\\,q"]
        );
        assert_eq!(set_items(",a=1,,"), ["a=1"]);
        assert_eq!(set_unescape("p\\,q\\\\"), "p,q\\");
    }

    #[test]
    fn secret_keys_are_learned() {
        let v = values(&[("v.yaml", "secretEnv:\n  JWT_SECRET: jwt-Zq8Wm2Lx5Rv9\n  POSTGRES_DB: gprod\nenv:\n  APP_NAME: gprod-api-dev\n")], &["postgres.password=hunter2-hunter2"]);
        let mut mask = Mask::new(false, vec![], vec![], vec![]);
        v.learn_secrets(&mut mask);
        assert!(mask.touches("x jwt-Zq8Wm2Lx5Rv9 y"));
        // Not a secret key: a chart's error about `gprod-backend` stays readable.
        assert!(!mask.touches("gprod-backend"));
        assert!(!mask.touches("gprod-api-dev"));
        assert!(mask.touches("hunter2-hunter2"));
    }
}
