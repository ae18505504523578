//! Kubernetes objects read from multi-document YAML: `helm template`'s output, already-rendered
//! files and plain manifests.
//!
//! Each document becomes an [`Object`] (a `kind: List` its items) that keeps its tree and where
//! it is written: a line of a manifest, or, for Helm's output, the template named by the
//! `# Source:` comment Helm writes before each document and the line within that template's
//! rendered output. Nothing here interprets an object beyond its identity (kind, name,
//! namespace); [`super::env`] reads pod templates, Secrets and ConfigMaps.

use crate::finding::Location;
use crate::model::Repo;
use crate::yaml::{self, Node, Typing};

use super::typing::{type_of, Scalar};
use super::{K8sError, Place, Provider};

/// Where a document's lines are counted from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub repo: Repo,
    /// The file (a manifest), or the chart template that rendered the object.
    pub file: String,
    /// The line before the object's first line, in the text it was parsed from (Helm's
    /// `# Source:` line; 0 for a file read as it is).
    pub base: usize,
    /// Lines count the template's rendered output, not the template.
    pub rendered: bool,
}

impl FileRef {
    /// Where a line of the parsed text is.
    pub fn place(&self, line: usize) -> Place {
        Place {
            at: Location {
                repo: self.repo,
                file: self.file.clone(),
                line: line.saturating_sub(self.base).max(1),
            },
            rendered: self.rendered,
        }
    }
}

/// One object.
#[derive(Debug, Clone)]
pub struct Object {
    pub kind: String,
    pub api_version: String,
    pub name: String,
    /// `metadata.namespace`, else the release's namespace.
    pub namespace: String,
    /// `metadata.namespace` is written (else it was assumed).
    pub namespace_written: bool,
    pub provider: Provider,
    pub file: FileRef,
    /// The document (or the `List` item).
    pub node: Node,
}

impl Object {
    /// Where a node of this object is written.
    pub fn place(&self, node: &Node) -> Place {
        self.file.place(node.line)
    }

    /// Where the object starts.
    pub fn at(&self) -> Place {
        self.place(&self.node)
    }

    /// The ports a Service declares (`spec.ports[].port`), in order.
    pub fn service_ports(&self) -> Vec<u16> {
        self.node
            .get("spec")
            .and_then(|s| s.get("ports"))
            .and_then(|p| p.as_seq())
            .unwrap_or(&[])
            .iter()
            .filter_map(|p| p.get("port")?.as_str()?.parse().ok())
            .collect()
    }

    /// `kind/name` as messages write it (`Deployment/gprod-backend`).
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// How a text's lines are attributed.
#[derive(Debug)]
pub enum Origin<'a> {
    /// A file of a repo, read as it is (`manifests`, `rendered`).
    File {
        repo: Repo,
        file: &'a str,
        provider: Provider,
    },
    /// `helm template`'s output for the chart at `chart` in `repo`.
    Helm { repo: Repo, chart: &'a str },
}

/// The objects in `text`. `namespace` is where objects without `metadata.namespace` go.
pub fn parse(text: &str, origin: &Origin<'_>, namespace: &str) -> Result<Vec<Object>, K8sError> {
    let (repo, file_of_text) = match origin {
        Origin::File { repo, file, .. } => (*repo, file.to_string()),
        Origin::Helm { repo, chart } => (*repo, format!("{chart} (helm template output)")),
    };
    // Helm's `# Source:` lines, found once (each document looks its own up by binary search).
    let sources: Vec<(usize, &str)> = match origin {
        Origin::Helm { .. } => text
            .lines()
            .enumerate()
            .filter_map(|(i, l)| Some((i + 1, l.strip_prefix("# Source: ")?.trim())))
            .collect(),
        Origin::File { .. } => Vec::new(),
    };
    let docs = yaml::parse_documents(text, Typing::Raw).map_err(|e| {
        let (file, line, rendered) = match origin {
            Origin::Helm { chart, .. } => {
                let at = helm_source(&sources, e.line, repo, chart);
                (at.file, e.line.saturating_sub(at.base).max(1), true)
            }
            Origin::File { file, .. } => (file.to_string(), e.line, false),
        };
        K8sError::Yaml {
            place: Place {
                at: Location { repo, file, line },
                rendered,
            },
            message: crate::mask::sanitize(&e.message),
        }
    })?;
    let mut out = Vec::new();
    for doc in docs {
        if doc.is_null() {
            continue;
        }
        let (file, provider) = match origin {
            Origin::File { provider, .. } => (
                FileRef {
                    repo,
                    file: file_of_text.clone(),
                    base: 0,
                    rendered: false,
                },
                *provider,
            ),
            Origin::Helm { chart, .. } => (
                helm_source(&sources, doc.line, repo, chart),
                Provider::Chart,
            ),
        };
        let mut pending = vec![doc];
        while let Some(node) = pending.pop() {
            let object = identify(node, &file, provider, namespace)?;
            if object.kind.ends_with("List") {
                if let Some(items) = object.node.get("items").and_then(Node::as_seq) {
                    pending.extend(items.iter().rev().cloned());
                    continue;
                }
            }
            out.push(object);
        }
    }
    Ok(out)
}

/// Read a document's identity; a document that is not an object is an error at its line.
fn identify(
    node: Node,
    file: &FileRef,
    provider: Provider,
    namespace: &str,
) -> Result<Object, K8sError> {
    let err = |n: &Node, message: String| K8sError::Object {
        place: file.place(n.line),
        message,
    };
    if node.as_map().is_none() {
        return Err(err(
            &node,
            format!(
                "a document is {}, not an object (a mapping with apiVersion, kind and metadata)",
                node.kind_name()
            ),
        ));
    }
    let text = |key: &str| -> Result<String, K8sError> {
        match node.get(key) {
            Some(v) if v.as_str().is_some_and(|s| !s.is_empty()) && type_of(v) == Scalar::Str => {
                Ok(v.as_str().unwrap_or_default().to_string())
            }
            Some(v) => Err(err(v, format!("`{key}` must be a non-empty string"))),
            None => Err(err(&node, format!("an object without `{key}`"))),
        }
    };
    let kind = text("kind")?;
    let api_version = text("apiVersion")?;
    if kind.ends_with("List") {
        return Ok(Object {
            kind,
            api_version,
            name: String::new(),
            namespace: namespace.to_string(),
            namespace_written: false,
            provider,
            file: file.clone(),
            node,
        });
    }
    let Some(meta) = node.get("metadata").filter(|m| m.as_map().is_some()) else {
        return Err(err(&node, format!("a {kind} without `metadata`")));
    };
    let name = match meta.get("name").and_then(Node::as_str) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => {
            return Err(err(
                meta,
                format!("a {kind} without `metadata.name` (envsync cannot follow `generateName`)"),
            ))
        }
    };
    let written = meta
        .get("namespace")
        .and_then(Node::as_str)
        .filter(|s| !s.is_empty());
    Ok(Object {
        kind,
        api_version,
        name,
        namespace: written.unwrap_or(namespace).to_string(),
        namespace_written: written.is_some(),
        provider,
        file: file.clone(),
        node,
    })
}

/// The template whose output holds `line` of Helm's output: the last `# Source: CHART/PATH`
/// comment before it, mapped to the chart directory in the repo (`helm/gprod-backend/...`).
fn helm_source(sources: &[(usize, &str)], line: usize, repo: Repo, chart: &str) -> FileRef {
    let before = sources.partition_point(|(at, _)| *at < line);
    match before.checked_sub(1).map(|i| sources[i]) {
        Some((at, src)) => {
            // `gprod-backend/templates/x.yaml`: the chart's name, then the path inside it.
            let inside = src.split_once('/').map_or(src, |(_, rest)| rest);
            FileRef {
                repo,
                file: format!("{}/{inside}", chart.trim_end_matches('/')),
                base: at,
                rendered: true,
            }
        }
        None => FileRef {
            repo,
            file: format!("{chart} (helm template output)"),
            base: 0,
            rendered: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELM: &str = "---\n# Source: gprod-backend/templates/secret.yaml\napiVersion: v1\nkind: Secret\nmetadata:\n  name: gprod-backend-env\nstringData:\n  A: \"1\"\n---\n# Source: gprod-backend/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: other\n";

    #[test]
    fn helm_output_is_attributed_to_its_templates() {
        let objs = parse(
            HELM,
            &Origin::Helm {
                repo: Repo::Backend,
                chart: "helm/gprod-backend",
            },
            "gprod",
        )
        .unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0].label(), "Secret/gprod-backend-env");
        assert_eq!(
            (objs[0].namespace.as_str(), objs[0].namespace_written),
            ("gprod", false)
        );
        assert_eq!(
            objs[0].at().to_string(),
            "backend helm/gprod-backend/templates/secret.yaml (rendered line 1)"
        );
        let a = objs[0].node.get("stringData").unwrap().get("A").unwrap();
        assert_eq!(objs[0].place(a).at.line, 6);
        assert_eq!(objs[1].namespace, "other");
        assert!(objs[1].namespace_written);
        assert_eq!(
            objs[1].file.file,
            "helm/gprod-backend/templates/deployment.yaml"
        );
        assert_eq!(objs[1].provider, Provider::Chart);
    }

    #[test]
    fn lists_are_expanded_and_broken_documents_name_their_line() {
        let text = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: a}\n  - apiVersion: v1\n    kind: Service\n    metadata: {name: b}\n";
        let origin = Origin::File {
            repo: Repo::Backend,
            file: "m.yaml",
            provider: Provider::Manifest,
        };
        let objs = parse(text, &origin, "ns").unwrap();
        let labels: Vec<_> = objs.iter().map(Object::label).collect();
        assert_eq!(labels, ["ConfigMap/a", "Service/b"]);
        assert_eq!(objs[1].at().to_string(), "backend m.yaml:7");
        for (text, line, needle) in [
            (
                "a: 1\n---\nkind: Secret\napiVersion: v1\n",
                1,
                "without `kind`",
            ),
            (
                "kind: Secret\napiVersion: v1\nmetadata:\n  generateName: x-\n",
                4,
                "metadata.name",
            ),
            ("- 1\n", 1, "a sequence"),
            ("kind: [\n", 2, "did not find"),
            ("kind: 1\n", 1, "must be a non-empty string"),
        ] {
            let e = parse(text, &origin, "ns").unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(&format!("m.yaml:{line}")), "{text:?}: {msg}");
            assert!(
                msg.contains(needle) || needle == "did not find",
                "{text:?}: {msg}"
            );
        }
    }
}
