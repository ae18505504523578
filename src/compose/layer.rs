//! What one compose file says about one service (only the keys envsync reads), and the compose
//! spec's merge of those layers across the `-f` files: `environment` by variable, `env_file`
//! and `ports` appended and de-duplicated, `volumes` by target, `networks` by name, `!reset`
//! and `!override` honoured. Each merge finds an item's earlier namesake through a hash table,
//! so merging costs time linear in the items, not quadratic.

use std::hash::{BuildHasher, Hash};

use crate::finding::Location;
use crate::model::Repo;

use super::yaml::{Directive, Kind, Node};
use super::{join, ports, EnvSource, Mount, PortAt, Problem};

/// A merge directive applied to one key of a service.
#[derive(Debug, Clone)]
pub(super) enum Layer<T> {
    Merge(T),
    Override(T),
    Reset,
}

impl<T> Layer<T> {
    fn of(node: &Node, value: T) -> Layer<T> {
        match node.directive {
            Some(Directive::Reset) => Layer::Reset,
            Some(Directive::Override) => Layer::Override(value),
            None => Layer::Merge(value),
        }
    }
}

/// An `environment:` entry as written.
#[derive(Debug, Clone)]
pub(super) struct EnvEntry {
    pub(super) key: String,
    pub(super) value: Option<String>,
    pub(super) at: Location,
    pub(super) source: EnvSource,
}

#[derive(Debug, Clone)]
pub(super) struct EnvFileRef {
    pub(super) path: String,
    pub(super) required: bool,
    pub(super) at: Location,
}

/// What one file says about one service (only the keys envsync reads).
#[derive(Debug, Clone, Default)]
pub(super) struct ServiceLayer {
    pub(super) at: Option<Location>,
    pub(super) env_file: Option<Layer<Vec<EnvFileRef>>>,
    pub(super) environment: Option<Layer<Vec<EnvEntry>>>,
    pub(super) ports: Option<Layer<Vec<PortAt>>>,
    pub(super) networks: Option<Layer<Vec<(String, Location)>>>,
    pub(super) volumes: Option<Layer<Vec<Mount>>>,
    pub(super) profiles: bool,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Merged {
    pub(super) at: Option<Location>,
    pub(super) env_file: Vec<EnvFileRef>,
    pub(super) environment: Vec<EnvEntry>,
    pub(super) ports: Vec<PortAt>,
    pub(super) networks: Option<Vec<(String, Location)>>,
    pub(super) volumes: Vec<Mount>,
    pub(super) profiles: bool,
}

/// Merge a layer's list into `into`, items being the same when `key` gives equal keys: a later
/// item replaces its first namesake (`replace`) or is dropped. An index of `into` by key is
/// built once per layer, so a layer costs time linear in both lists (it was a scan of `into`
/// per item: quadratic).
fn merge_by<T, K: Hash + Eq + ?Sized>(
    into: &mut Vec<T>,
    layer: Option<Layer<Vec<T>>>,
    key: impl Fn(&T) -> &K,
    replace: bool,
) {
    match layer {
        None => {}
        Some(Layer::Reset) => into.clear(),
        Some(Layer::Override(v)) => {
            into.clear();
            merge_by(into, Some(Layer::Merge(v)), key, replace);
        }
        Some(Layer::Merge(v)) => {
            let hash = |k: &K| rustc_hash::FxBuildHasher.hash_one(k);
            let mut index = hashbrown::HashTable::with_capacity(into.len() + v.len());
            for (i, item) in into.iter().enumerate() {
                let h = hash(key(item));
                // Only `networks: !override` keeps a list as written, duplicates included: the
                // first of them is the namesake, as a scan would find it.
                if index
                    .find(h, |&j: &usize| key(&into[j]) == key(item))
                    .is_none()
                {
                    index.insert_unique(h, i, |&j| hash(key(&into[j])));
                }
            }
            // Duplicates within one list are merged the same way as across files.
            for item in v {
                let h = hash(key(&item));
                match index.find(h, |&j| key(&into[j]) == key(&item)) {
                    Some(&i) if replace => into[i] = item,
                    Some(_) => {}
                    None => {
                        index.insert_unique(h, into.len(), |&j| hash(key(&into[j])));
                        into.push(item);
                    }
                }
            }
        }
    }
}

impl Merged {
    pub(super) fn apply(&mut self, l: ServiceLayer) {
        if self.at.is_none() {
            self.at = l.at;
        }
        self.profiles |= l.profiles;
        merge_by(&mut self.env_file, l.env_file, |e| e.path.as_str(), false);
        merge_by(
            &mut self.environment,
            l.environment,
            |e| e.key.as_str(),
            true,
        );
        merge_by(&mut self.ports, l.ports, |p| &p.port, false);
        merge_by(&mut self.volumes, l.volumes, |m| m.target.as_str(), true);
        match l.networks {
            None => {}
            Some(Layer::Reset) => self.networks = None,
            Some(Layer::Override(v)) => self.networks = Some(v),
            Some(Layer::Merge(v)) => {
                let nets = self.networks.get_or_insert_with(Vec::new);
                merge_by(nets, Some(Layer::Merge(v)), |n| n.0.as_str(), true);
            }
        }
    }
}

/// Reads one file's keys into layers, collecting problems.
pub(super) struct FileReader<'p> {
    pub(super) file: String,
    pub(super) project_dir: &'p str,
    pub(super) problems: &'p mut Vec<Problem>,
}

impl FileReader<'_> {
    pub(super) fn at(&self, node: &Node) -> Location {
        Location {
            repo: Repo::Infra,
            file: self.file.clone(),
            line: node.line,
        }
    }

    pub(super) fn syntax(&mut self, node: &Node, message: String) {
        let at = self.at(node);
        self.problems.push(Problem::Syntax { at, message });
    }

    pub(super) fn unsupported(&mut self, node: &Node, what: String) {
        let at = self.at(node);
        self.problems.push(Problem::Unsupported { at, what });
    }

    pub(super) fn service(&mut self, name: &str, node: &Node) -> ServiceLayer {
        let mut l = ServiceLayer {
            at: Some(self.at(node)),
            ..Default::default()
        };
        let Some(map) = node.as_map() else {
            if !node.is_null() {
                self.syntax(node, format!("service `{name}` must be a mapping"));
            }
            return l;
        };
        for (k, v) in map {
            match k.as_str().unwrap_or("") {
                "environment" => l.environment = Some(Layer::of(v, self.environment(v))),
                "env_file" => l.env_file = Some(Layer::of(v, self.env_file(v))),
                "ports" => l.ports = Some(Layer::of(v, self.ports(v))),
                "networks" => l.networks = Some(Layer::of(v, self.networks(v))),
                "volumes" => l.volumes = Some(Layer::of(v, self.volumes(v))),
                "profiles" => {
                    l.profiles = v.as_seq().is_some_and(|s| !s.is_empty());
                    if l.profiles {
                        self.unsupported(v, format!("`profiles` on service `{name}`: compose leaves it out unless a profile is enabled, and so does envsync"));
                    }
                }
                key @ ("network_mode" | "volumes_from") => {
                    self.unsupported(v, format!("`{key}` on service `{name}`"));
                }
                _ => {}
            }
        }
        l
    }

    fn environment(&mut self, node: &Node) -> Vec<EnvEntry> {
        let mut out = Vec::new();
        if let Some(map) = node.as_map() {
            for (k, v) in map {
                let Some(key) = k.as_str() else { continue };
                let (value, span, style) = match &v.kind {
                    Kind::Null => (None, None, None),
                    Kind::Scalar(s, style) => (Some(s.clone()), Some(v.span), Some(*style)),
                    _ => {
                        self.syntax(v, format!("environment: `{key}` must be a string"));
                        continue;
                    }
                };
                out.push(EnvEntry {
                    key: key.to_string(),
                    value,
                    at: self.at(k),
                    source: EnvSource::Environment {
                        span,
                        style,
                        list: false,
                    },
                });
            }
        } else if let Some(seq) = node.as_seq() {
            for item in seq {
                let Some(s) = item.as_str() else {
                    self.syntax(item, "environment: a list entry must be `KEY=value`".into());
                    continue;
                };
                let (key, value) = match s.split_once('=') {
                    Some((k, v)) => (k, Some(v.to_string())),
                    None => (s, None),
                };
                out.push(EnvEntry {
                    key: key.to_string(),
                    value,
                    at: self.at(item),
                    source: EnvSource::Environment {
                        span: Some(item.span),
                        style: match &item.kind {
                            Kind::Scalar(_, st) => Some(*st),
                            _ => None,
                        },
                        list: true,
                    },
                });
            }
        } else if !node.is_null() {
            self.syntax(node, "environment must be a mapping or a list".into());
        }
        out
    }

    fn env_file(&mut self, node: &Node) -> Vec<EnvFileRef> {
        let items: Vec<&Node> = match &node.kind {
            Kind::Seq(s) => s.iter().collect(),
            Kind::Null => vec![],
            _ => vec![node],
        };
        let mut out = Vec::new();
        for item in items {
            let (path, required) = if let Some(p) = item.as_str() {
                (p, true)
            } else if let Some(p) = item.get("path").and_then(Node::as_str) {
                if let Some(f) = item.get("format").and_then(Node::as_str) {
                    if f != "dotenv" {
                        self.unsupported(item, format!("env_file format `{f}`"));
                    }
                }
                let required = !item
                    .get("required")
                    .and_then(Node::as_str)
                    .is_some_and(|r| r.eq_ignore_ascii_case("false"));
                (p, required)
            } else {
                self.syntax(item, "env_file: an entry needs a path".into());
                continue;
            };
            out.push(EnvFileRef {
                path: join(self.project_dir, path),
                required,
                at: self.at(item),
            });
        }
        out
    }

    /// The items of a key that must be a list (null: none).
    fn list<'n>(&mut self, node: &'n Node, key: &str) -> &'n [Node] {
        match node.as_seq() {
            Some(seq) => seq,
            None => {
                if !node.is_null() {
                    self.syntax(node, format!("{key} must be a list"));
                }
                &[]
            }
        }
    }

    fn ports(&mut self, node: &Node) -> Vec<PortAt> {
        let mut out = Vec::new();
        for item in self.list(node, "ports") {
            match ports::parse_entry(item) {
                Ok(ps) => out.extend(ps.into_iter().map(|port| PortAt {
                    port,
                    at: self.at(item),
                })),
                Err(m) => self.syntax(item, m),
            }
        }
        out
    }

    fn networks(&mut self, node: &Node) -> Vec<(String, Location)> {
        match &node.kind {
            Kind::Seq(s) => s
                .iter()
                .filter_map(|n| n.as_str().map(|k| (k.to_string(), self.at(n))))
                .collect(),
            Kind::Map(m) => m
                .iter()
                .filter_map(|(k, _)| k.as_str().map(|s| (s.to_string(), self.at(k))))
                .collect(),
            Kind::Null => vec![],
            _ => {
                self.syntax(node, "networks must be a list or a mapping".into());
                vec![]
            }
        }
    }

    fn volumes(&mut self, node: &Node) -> Vec<Mount> {
        let mut out = Vec::new();
        for item in self.list(node, "volumes") {
            let at = self.at(item);
            if let Some(s) = item.as_str() {
                let parts: Vec<&str> = s.split(':').collect();
                let (src, target) = match parts.as_slice() {
                    [t] => (None, *t),
                    [s, t] | [s, t, _] => (Some(*s), *t),
                    _ => {
                        self.syntax(item, format!("`{s}` is not a volume compose understands"));
                        continue;
                    }
                };
                let (kind, source) = match src {
                    None => ("volume", None),
                    Some(s) if s.starts_with(['.', '/', '~']) => {
                        ("bind", Some(join(self.project_dir, s)))
                    }
                    Some(s) => ("volume", Some(s.to_string())),
                };
                out.push(Mount {
                    kind: kind.into(),
                    source,
                    target: target.to_string(),
                    at,
                });
            } else if item.as_map().is_some() {
                let kind = item.get("type").and_then(Node::as_str).unwrap_or("volume");
                let Some(target) = item.get("target").and_then(Node::as_str) else {
                    self.syntax(item, "volumes: the long syntax needs `target`".into());
                    continue;
                };
                let source = item.get("source").and_then(Node::as_str).map(|s| {
                    if kind == "bind" {
                        join(self.project_dir, s)
                    } else {
                        s.to_string()
                    }
                });
                out.push(Mount {
                    kind: kind.into(),
                    source,
                    target: target.into(),
                    at,
                });
            } else {
                self.syntax(item, format!("a volumes entry is {}", item.kind_name()));
            }
        }
        out
    }
}
