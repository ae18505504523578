//! A container's environment, computed the way the kubelet computes it
//! (`makeEnvironmentVariables` in `pkg/kubelet/kubelet_pods.go`):
//!
//! 1. `envFrom` in order: every key of the ConfigMap's `data` or the Secret's data (`data`
//!    base64-decoded, `stringData` merged over it as the API server does), `prefix` prepended;
//!    a later source wins. A missing source stops the pod unless `optional`.
//! 2. `env` in order, each overriding what came before: `value` with `$(VAR)` expanded from the
//!    variables so far (then the service links); `$$` is a literal `$`, an undefined `$(X)`
//!    stays; `valueFrom` `secretKeyRef`/`configMapKeyRef` (a missing optional key leaves the
//!    variable as it was), `fieldRef`/`resourceFieldRef` known only in the cluster.
//! 3. The service links the kubelet adds for every Service of the namespace (unless
//!    `enableServiceLinks: false`) and for the default `kubernetes` Service, where the
//!    container does not set the name itself: `POSTGRES_PORT` is `tcp://10.0.0.7:5432` in a
//!    namespace with a `postgres` Service, unless the container sets `POSTGRES_PORT`.
//!
//! Secrets and ConfigMaps come from the rendered objects and the manifests, then from
//! `secret_env_files` ([`Sources`]); a reference to none of them is a [`MissingSource`], never a
//! guess. Every variable keeps its origin ([`VarFrom`]), where its value is written, and the
//! values line that decides it when one can be named.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;

use crate::yaml::Node;

use super::objects::Object;
use super::refs::{ObjectRef, RefKind};
use super::typing::{type_of, Scalar};
use super::values::Entry;
use super::{Cluster, Collision, DeclaredSecret, K8sError, Place, Problem, Provider};

/// A ConfigMap or a Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    ConfigMap,
    Secret,
}

impl SourceKind {
    fn kind(self) -> &'static str {
        match self {
            SourceKind::ConfigMap => "ConfigMap",
            SourceKind::Secret => "Secret",
        }
    }

    fn of(kind: &str) -> Option<SourceKind> {
        match kind {
            "ConfigMap" => Some(SourceKind::ConfigMap),
            "Secret" => Some(SourceKind::Secret),
            _ => None,
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::ConfigMap => "configmap",
            SourceKind::Secret => "secret",
        })
    }
}

/// One key of a Secret or ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub value: String,
    pub place: Place,
}

/// A Secret or ConfigMap as the kubelet reads it.
#[derive(Debug, Clone)]
pub struct SourceObject {
    pub kind: SourceKind,
    pub namespace: String,
    pub name: String,
    pub provider: Provider,
    pub at: Place,
    pub keys: BTreeMap<String, KeyValue>,
}

/// Every Secret and ConfigMap, by kind, namespace and name.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    map: rustc_hash::FxHashMap<(SourceKind, String, String), SourceObject>,
}

/// Go's `base64.StdEncoding`, as `encoding/json` decodes `[]byte` (padding required, line
/// breaks skipped, non-zero trailing bits accepted).
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
);

impl Sources {
    /// Read every Secret and ConfigMap of `objects` (a later definition wins), then the
    /// declared Secrets that no object already defines. Also returns what the API server or
    /// kubectl would refuse, and the Secrets both rendered and declared.
    pub fn build(
        objects: &[Object],
        declared: &[DeclaredSecret],
    ) -> (Sources, Vec<Problem>, Vec<Collision>) {
        let mut map = rustc_hash::FxHashMap::default();
        let mut problems = Vec::new();
        for o in objects {
            let Some(kind) = SourceKind::of(&o.kind) else {
                continue;
            };
            let mut keys = BTreeMap::new();
            let string = |field: &str, n: &Node, problems: &mut Vec<Problem>| -> Option<String> {
                match type_of(n) {
                    Scalar::Str => Some(n.as_str().unwrap_or_default().to_string()),
                    Scalar::Null => Some(String::new()),
                    t => {
                        problems.push(Problem::NotAString {
                            place: o.place(n),
                            field: field.to_string(),
                            typed: t.name(),
                        });
                        None
                    }
                }
            };
            let field = |name: &str| o.node.get(name).and_then(Node::as_map).unwrap_or(&[]);
            for (k, v) in field("data") {
                let Some(key) = k.as_str() else { continue };
                let Some(text) = string(&format!("data.{key}"), v, &mut problems) else {
                    continue;
                };
                let value = match kind {
                    SourceKind::ConfigMap => text,
                    SourceKind::Secret => {
                        let compact: String =
                            text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
                        match BASE64.decode(compact.as_bytes()) {
                            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                            Err(_) => {
                                problems.push(Problem::BadBase64 {
                                    place: o.place(v),
                                    secret: o.name.clone(),
                                    key: key.to_string(),
                                });
                                continue;
                            }
                        }
                    }
                };
                keys.insert(
                    key.to_string(),
                    KeyValue {
                        value,
                        place: o.place(v),
                    },
                );
            }
            if kind == SourceKind::Secret {
                for (k, v) in field("stringData") {
                    let Some(key) = k.as_str() else { continue };
                    if let Some(value) = string(&format!("stringData.{key}"), v, &mut problems) {
                        keys.insert(
                            key.to_string(),
                            KeyValue {
                                value,
                                place: o.place(v),
                            },
                        );
                    }
                }
            }
            map.insert(
                (kind, o.namespace.clone(), o.name.clone()),
                SourceObject {
                    kind,
                    namespace: o.namespace.clone(),
                    name: o.name.clone(),
                    provider: o.provider,
                    at: o.at(),
                    keys,
                },
            );
        }
        let mut collisions = Vec::new();
        for d in declared {
            let id = (SourceKind::Secret, d.namespace.clone(), d.name.clone());
            if let Some(rendered) = map.get(&id) {
                collisions.push(Collision {
                    namespace: d.namespace.clone(),
                    name: d.name.clone(),
                    provider: rendered.provider,
                    object: rendered.at.clone(),
                    declared: d.file.clone(),
                });
                continue;
            }
            let label = format!("{}/{}", d.namespace, d.name);
            for w in &d.decoded.warnings {
                problems.push(Problem::EnvFileCut {
                    secret: label.clone(),
                    file: crate::finding::Location {
                        line: w.line,
                        ..d.file.clone()
                    },
                    message: w.message.clone(),
                });
            }
            if let Some(e) = &d.decoded.error {
                problems.push(Problem::EnvFileRefused {
                    secret: label,
                    file: crate::finding::Location {
                        line: e.line,
                        ..d.file.clone()
                    },
                    message: e.message.clone(),
                });
                continue;
            }
            let keys = d
                .decoded
                .variables()
                .into_iter()
                .map(|a| {
                    (
                        a.key.clone(),
                        KeyValue {
                            value: a.value.clone(),
                            place: Place {
                                at: crate::finding::Location {
                                    line: a.line,
                                    ..d.file.clone()
                                },
                                rendered: false,
                            },
                        },
                    )
                })
                .collect();
            map.insert(
                id,
                SourceObject {
                    kind: SourceKind::Secret,
                    namespace: d.namespace.clone(),
                    name: d.name.clone(),
                    provider: Provider::EnvFile,
                    at: Place {
                        at: d.file.clone(),
                        rendered: false,
                    },
                    keys,
                },
            );
        }
        (Sources { map }, problems, collisions)
    }

    pub fn get(&self, kind: SourceKind, namespace: &str, name: &str) -> Option<&SourceObject> {
        self.map
            .get(&(kind, namespace.to_string(), name.to_string()))
    }

    /// Every Secret and ConfigMap (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = &SourceObject> {
        self.map.values()
    }
}

/// A variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Known(String),
    /// Set by the cluster when the pod starts; says what it is (`fieldRef metadata.name`,
    /// `the Service's cluster IP`).
    Cluster(String),
}

impl Value {
    pub fn known(&self) -> Option<&str> {
        match self {
            Value::Known(v) => Some(v),
            Value::Cluster(_) => None,
        }
    }
}

/// Where a variable comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarFrom {
    /// A literal `env` entry (`value`, possibly with `$(VAR)` expanded).
    Env,
    /// An `envFrom` source.
    EnvFrom {
        kind: SourceKind,
        name: String,
        prefix: String,
    },
    /// `valueFrom.secretKeyRef` / `configMapKeyRef`.
    KeyRef {
        kind: SourceKind,
        name: String,
        key: String,
    },
    /// `valueFrom.fieldRef.fieldPath`.
    FieldRef(String),
    /// `valueFrom.resourceFieldRef.resource`.
    ResourceFieldRef(String),
    /// A service link the kubelet adds for the Service of this name.
    ServiceLink(String),
}

impl fmt::Display for VarFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarFrom::Env => f.write_str("env"),
            VarFrom::EnvFrom { kind, name, prefix } if prefix.is_empty() => {
                write!(f, "envFrom {kind}/{name}")
            }
            VarFrom::EnvFrom { kind, name, prefix } => {
                write!(f, "envFrom {kind}/{name} prefix {prefix}")
            }
            VarFrom::KeyRef { kind, name, key } => {
                let field = match kind {
                    SourceKind::Secret => "secretKeyRef",
                    SourceKind::ConfigMap => "configMapKeyRef",
                };
                write!(f, "{field} {name}.{key}")
            }
            VarFrom::FieldRef(p) => write!(f, "fieldRef {p}"),
            VarFrom::ResourceFieldRef(r) => write!(f, "resourceFieldRef {r}"),
            VarFrom::ServiceLink(s) => write!(f, "service link service/{s}"),
        }
    }
}

/// One variable of a container's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    pub value: Value,
    pub from: VarFrom,
    /// Where the value is written: the `env` entry, the Secret's or ConfigMap's key, the env
    /// file's line, the Service.
    pub at: Option<Place>,
    /// Who provides the Secret, ConfigMap or Service it comes from.
    pub provider: Option<Provider>,
    /// The values line that decides it, when the chart rendered it and one line can be named.
    pub values: Option<Entry>,
    /// The value comes from a Secret.
    pub secret: bool,
}

/// An `envFrom` or `valueFrom` reference to a Secret or ConfigMap (or a key of one) that
/// neither the rendered objects, the manifests nor `secret_env_files` provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingSource {
    pub kind: SourceKind,
    pub namespace: String,
    pub name: String,
    /// The key, for a key reference to a source that exists without it.
    pub key: Option<String>,
    pub optional: bool,
    /// The reference.
    pub at: Place,
    /// The variable a key reference sets.
    pub variable: Option<String>,
}

impl fmt::Display for MissingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::mask::sanitize;
        let what = match &self.key {
            Some(k) => format!(
                "key `{}` of {}/{}",
                sanitize(k),
                self.kind,
                sanitize(&self.name)
            ),
            None => format!(
                "{}/{} in namespace {}",
                self.kind,
                sanitize(&self.name),
                self.namespace
            ),
        };
        let var = self
            .variable
            .as_deref()
            .map(|v| format!(" for {}", sanitize(v)))
            .unwrap_or_default();
        let then = if self.optional {
            "optional: the pod starts without it"
        } else {
            "the pod does not start without it"
        };
        write!(
            f,
            "{}: {what}{var} is neither rendered, in the manifests, nor in secret_env_files ({then})",
            self.at
        )
    }
}

/// A container's effective environment.
#[derive(Debug, Clone)]
pub struct WorkloadEnv {
    pub kind: RefKind,
    pub name: String,
    pub namespace: String,
    pub container: String,
    /// The container is an init container.
    pub init: bool,
    /// The workload object.
    pub at: Place,
    pub provider: Provider,
    pub vars: BTreeMap<String, Var>,
    pub missing: Vec<MissingSource>,
    pub problems: Vec<Problem>,
}

impl WorkloadEnv {
    /// `deployment/gprod-backend`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// Does the pod start (every non-optional source present, nothing the API refuses)?
    pub fn starts(&self) -> bool {
        self.missing.iter().all(|m| m.optional) && !self.problems.iter().any(Problem::blocks)
    }
}

/// Where the pod spec of a workload kind is.
fn pod_spec_path(kind: RefKind) -> &'static [&'static str] {
    match kind {
        RefKind::Pod => &["spec"],
        RefKind::CronJob => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => &["spec", "template", "spec"],
    }
}

fn at_path<'a>(node: &'a Node, path: &[&str]) -> Option<&'a Node> {
    path.iter().try_fold(node, |n, k| n.get(k))
}

/// The name `IsEnvVarName` accepts (`[-._a-zA-Z][-._a-zA-Z0-9]*`).
fn strict_env_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.first()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, b'-' | b'.' | b'_'))
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
}

/// The kubelet's `$(VAR)` expansion (`third_party/forked/golang/expansion`), byte for byte:
/// `$$` is `$`, `$(NAME)` is the variable's value when `lookup` knows it, else kept as
/// written; an unclosed `$(` and any other `$x` are kept. A reference to a value only the
/// cluster knows makes the whole value one.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<Value>) -> Value {
    let b = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut cluster: Option<String> = None;
    let (mut cursor, mut checkpoint) = (0usize, 0usize);
    while cursor < b.len() {
        if b[cursor] == b'$' && cursor + 1 < b.len() {
            out.extend_from_slice(&b[checkpoint..cursor]);
            let advance = match b[cursor + 1] {
                b'$' => {
                    out.push(b'$');
                    1
                }
                b'(' => match b[cursor + 2..].iter().position(|&c| c == b')') {
                    Some(len) => {
                        let name = &input[cursor + 2..cursor + 2 + len];
                        match lookup(name) {
                            Some(Value::Known(v)) => out.extend_from_slice(v.as_bytes()),
                            Some(Value::Cluster(_)) => {
                                cluster.get_or_insert_with(|| name.to_string());
                                out.extend_from_slice(format!("$({name})").as_bytes());
                            }
                            None => out.extend_from_slice(format!("$({name})").as_bytes()),
                        }
                        len + 2
                    }
                    None => {
                        out.extend_from_slice(b"$(");
                        1
                    }
                },
                c => {
                    // Go's `string(input[0])`: the byte taken as a code point.
                    out.push(b'$');
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(char::from(c).encode_utf8(&mut buf).as_bytes());
                    1
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.extend_from_slice(&b[checkpoint.min(b.len())..]);
    match cluster {
        Some(name) => Value::Cluster(format!("expands $({name}), which the cluster sets")),
        None => Value::Known(String::from_utf8_lossy(&out).into_owned()),
    }
}

/// The variables the kubelet adds for the Services a pod sees, by name.
fn service_links(cluster: &Cluster, namespace: &str, enabled: bool) -> BTreeMap<String, Var> {
    let mut out = BTreeMap::new();
    let mut add = |name: String,
                   value: Value,
                   service: &str,
                   at: Option<Place>,
                   provider: Option<Provider>| {
        out.insert(
            name,
            Var {
                value,
                from: VarFrom::ServiceLink(service.to_string()),
                at,
                provider,
                values: None,
                secret: false,
            },
        );
    };
    let ip = || Value::Cluster("the Service's cluster IP".into());
    let url = |proto: &str, port: u32| {
        Value::Cluster(format!(
            "{}://<the Service's cluster IP>:{port}",
            proto.to_ascii_lowercase()
        ))
    };
    // The default namespace's `kubernetes` Service, always (port 443 as clusters create it).
    for (name, value) in [
        ("KUBERNETES_SERVICE_HOST", ip()),
        ("KUBERNETES_SERVICE_PORT", Value::Known("443".into())),
        ("KUBERNETES_SERVICE_PORT_HTTPS", Value::Known("443".into())),
        ("KUBERNETES_PORT", url("TCP", 443)),
        ("KUBERNETES_PORT_443_TCP", url("TCP", 443)),
        ("KUBERNETES_PORT_443_TCP_PROTO", Value::Known("tcp".into())),
        ("KUBERNETES_PORT_443_TCP_PORT", Value::Known("443".into())),
        ("KUBERNETES_PORT_443_TCP_ADDR", ip()),
    ] {
        add(name.to_string(), value, "kubernetes", None, None);
    }
    if !enabled {
        return out;
    }
    for o in cluster
        .objects
        .iter()
        .filter(|o| o.kind == "Service" && o.namespace == namespace)
    {
        let spec = o.node.get("spec");
        let field = |k: &str| spec.and_then(|s| s.get(k)).and_then(Node::as_str);
        if field("clusterIP") == Some("None") || field("type") == Some("ExternalName") {
            continue;
        }
        let ports: Vec<(u32, String, String)> = spec
            .and_then(|s| s.get("ports"))
            .and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .filter_map(|p| {
                let port: u32 = p.get("port")?.as_str()?.parse().ok()?;
                let name = p
                    .get("name")
                    .and_then(Node::as_str)
                    .unwrap_or("")
                    .to_string();
                let proto = p
                    .get("protocol")
                    .and_then(Node::as_str)
                    .unwrap_or("TCP")
                    .to_string();
                Some((port, name, proto))
            })
            .collect();
        let Some((first, _, first_proto)) = ports.first().cloned() else {
            continue;
        };
        let prefix = o.name.replace('-', "_").to_ascii_uppercase();
        let at = Some(o.at());
        let p = Some(o.provider);
        add(
            format!("{prefix}_SERVICE_HOST"),
            ip(),
            &o.name,
            at.clone(),
            p,
        );
        add(
            format!("{prefix}_SERVICE_PORT"),
            Value::Known(first.to_string()),
            &o.name,
            at.clone(),
            p,
        );
        for (port, name, _) in &ports {
            if !name.is_empty() {
                let n = name.replace('-', "_").to_ascii_uppercase();
                add(
                    format!("{prefix}_SERVICE_PORT_{n}"),
                    Value::Known(port.to_string()),
                    &o.name,
                    at.clone(),
                    p,
                );
            }
        }
        add(
            format!("{prefix}_PORT"),
            url(&first_proto, first),
            &o.name,
            at.clone(),
            p,
        );
        for (port, _, proto) in &ports {
            let pp = format!("{prefix}_PORT_{port}_{}", proto.to_ascii_uppercase());
            add(pp.clone(), url(proto, *port), &o.name, at.clone(), p);
            add(
                format!("{pp}_PROTO"),
                Value::Known(proto.to_ascii_lowercase()),
                &o.name,
                at.clone(),
                p,
            );
            add(
                format!("{pp}_PORT"),
                Value::Known(port.to_string()),
                &o.name,
                at.clone(),
                p,
            );
            add(format!("{pp}_ADDR"), ip(), &o.name, at.clone(), p);
        }
    }
    out
}

/// A `{name, optional}` reference (`configMapRef`, `secretKeyRef`, …).
struct Reference<'a> {
    name: Option<&'a str>,
    key: Option<&'a str>,
    optional: bool,
}

fn reference(n: &Node) -> Reference<'_> {
    Reference {
        name: n.get("name").and_then(Node::as_str),
        key: n.get("key").and_then(Node::as_str),
        optional: n
            .get("optional")
            .and_then(Node::as_str)
            .is_some_and(|s| matches!(super::typing::resolve(s), Scalar::Bool(true))),
    }
}

/// The effective environment of a container of the workload `r`.
pub fn compute(
    cluster: &Cluster,
    r: &ObjectRef,
    container: Option<&str>,
) -> Result<WorkloadEnv, K8sError> {
    let namespace = r.namespace_or(&cluster.namespace).to_string();
    let object = cluster
        .find(r.kind, &namespace, &r.name)
        .filter(|_| r.kind.is_workload())
        .ok_or_else(|| K8sError::NoWorkload {
            workload: format!("{}/{}", r.kind, r.name),
            namespace: namespace.clone(),
            known: cluster
                .workloads()
                .iter()
                .map(ObjectRef::to_string)
                .collect(),
        })?;
    let label = format!("{}/{}", r.kind, r.name);
    let container_err = |place: Place, message: String| K8sError::Container {
        place,
        workload: label.clone(),
        message,
    };
    let path = pod_spec_path(r.kind);
    let Some(spec) = at_path(&object.node, path).filter(|s| s.as_map().is_some()) else {
        return Err(container_err(
            object.at(),
            format!("no pod spec at `{}`", path.join(".")),
        ));
    };
    let list = |field: &str| -> Vec<(&Node, &str)> {
        spec.get(field)
            .and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .filter_map(|c| Some((c, c.get("name")?.as_str()?)))
            .collect()
    };
    let (containers, inits) = (list("containers"), list("initContainers"));
    let names = |l: &[(&Node, &str)]| l.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ");
    let default = at_path(&object.node, &path[..path.len() - 1])
        .and_then(|t| {
            at_path(
                t,
                &[
                    "metadata",
                    "annotations",
                    "kubectl.kubernetes.io/default-container",
                ],
            )
        })
        .and_then(Node::as_str);
    let (node, name, init) = match (container, containers.as_slice()) {
        (Some(want), _) => match containers.iter().find(|(_, n)| *n == want) {
            Some((c, n)) => (*c, *n, false),
            None => match inits.iter().find(|(_, n)| *n == want) {
                Some((c, n)) => (*c, *n, true),
                None => {
                    return Err(container_err(
                        object.at(),
                        format!("no container `{}`; its containers: {}", crate::mask::sanitize(want), names(&containers)),
                    ))
                }
            },
        },
        (None, [(c, n)]) => (*c, *n, false),
        (None, []) => return Err(container_err(object.at(), "no containers".into())),
        (None, many) => match default.and_then(|d| many.iter().find(|(_, n)| *n == d)) {
            Some((c, n)) => (*c, *n, false),
            None => {
                return Err(container_err(
                    object.at(),
                    format!(
                        "{} containers ({}); name one with container = \"NAME\" in the contour's kubernetes table",
                        many.len(),
                        names(many)
                    ),
                ))
            }
        },
    };
    let links_enabled = !spec
        .get("enableServiceLinks")
        .and_then(Node::as_str)
        .is_some_and(|s| matches!(super::typing::resolve(s), Scalar::Bool(false)));
    let links = service_links(cluster, &namespace, links_enabled);

    let mut out = WorkloadEnv {
        kind: r.kind,
        name: r.name.clone(),
        namespace: namespace.clone(),
        container: name.to_string(),
        init,
        at: object.at(),
        provider: object.provider,
        vars: BTreeMap::new(),
        missing: Vec::new(),
        problems: Vec::new(),
    };
    let chart_values = |key: &str, value: &str, provider: Provider| {
        (provider == Provider::Chart)
            .then(|| cluster.values.find(key, value))
            .flatten()
    };

    // 1. envFrom.
    for item in node.get("envFrom").and_then(Node::as_seq).unwrap_or(&[]) {
        let prefix = item
            .get("prefix")
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_string();
        let (kind, r) = match (item.get("configMapRef"), item.get("secretRef")) {
            (Some(r), None) => (SourceKind::ConfigMap, reference(r)),
            (None, Some(r)) => (SourceKind::Secret, reference(r)),
            _ => {
                out.problems.push(Problem::Malformed {
                    place: object.place(item),
                    message: "an envFrom entry needs exactly one of configMapRef and secretRef"
                        .into(),
                });
                continue;
            }
        };
        let Some(source_name) = r.name else {
            out.problems.push(Problem::Malformed {
                place: object.place(item),
                message: format!(
                    "an envFrom {}Ref without a name",
                    kind.kind().to_ascii_lowercase()
                ),
            });
            continue;
        };
        let Some(source) = cluster.sources.get(kind, &namespace, source_name) else {
            out.missing.push(MissingSource {
                kind,
                namespace: namespace.clone(),
                name: source_name.to_string(),
                key: None,
                optional: r.optional,
                at: object.place(item),
                variable: None,
            });
            continue;
        };
        for (key, kv) in &source.keys {
            let var = format!("{prefix}{key}");
            if !strict_env_name(&var) {
                out.problems.push(Problem::SkippedKey {
                    place: kv.place.clone(),
                    source: format!("{kind}/{source_name}"),
                    key: var.clone(),
                });
            }
            out.vars.insert(
                var,
                Var {
                    value: Value::Known(kv.value.clone()),
                    from: VarFrom::EnvFrom {
                        kind,
                        name: source_name.to_string(),
                        prefix: prefix.clone(),
                    },
                    at: Some(kv.place.clone()),
                    provider: Some(source.provider),
                    values: chart_values(key, &kv.value, source.provider),
                    secret: kind == SourceKind::Secret,
                },
            );
        }
    }

    // 2. env.
    for entry in node.get("env").and_then(Node::as_seq).unwrap_or(&[]) {
        let Some(var_name) = entry
            .get("name")
            .filter(|n| type_of(n) == Scalar::Str)
            .and_then(Node::as_str)
            .filter(|n| !n.is_empty())
        else {
            out.problems.push(Problem::Malformed {
                place: object.place(entry),
                message: "an env entry without a name (a string)".into(),
            });
            continue;
        };
        let value_node = entry.get("value");
        let literal = match value_node {
            Some(v) => match type_of(v) {
                Scalar::Str => v.as_str().unwrap_or_default(),
                Scalar::Null => "",
                t => {
                    out.problems.push(Problem::NotAString {
                        place: object.place(v),
                        field: format!("env {var_name} value"),
                        typed: t.name(),
                    });
                    continue;
                }
            },
            None => "",
        };
        let place = object.place(value_node.unwrap_or(entry));
        let value_from = entry.get("valueFrom");
        if !literal.is_empty() || value_from.is_none() {
            let value = {
                let vars = &out.vars;
                expand(literal, &|n| {
                    vars.get(n)
                        .or_else(|| links.get(n))
                        .map(|v| v.value.clone())
                })
            };
            let values = chart_values(var_name, literal, object.provider);
            out.vars.insert(
                var_name.to_string(),
                Var {
                    value,
                    from: VarFrom::Env,
                    at: Some(place),
                    provider: Some(object.provider),
                    values,
                    secret: false,
                },
            );
            continue;
        }
        let from = value_from.expect("checked above");
        let keyref = match (from.get("configMapKeyRef"), from.get("secretKeyRef")) {
            (Some(r), None) => Some((SourceKind::ConfigMap, reference(r))),
            (None, Some(r)) => Some((SourceKind::Secret, reference(r))),
            _ => None,
        };
        if let Some((kind, r)) = keyref {
            let (Some(source_name), Some(key)) = (r.name, r.key) else {
                out.problems.push(Problem::Malformed {
                    place: object.place(from),
                    message: format!("env {var_name}: a key reference needs name and key"),
                });
                continue;
            };
            let missing = |key: Option<&str>| MissingSource {
                kind,
                namespace: namespace.clone(),
                name: source_name.to_string(),
                key: key.map(str::to_string),
                optional: r.optional,
                at: object.place(from),
                variable: Some(var_name.to_string()),
            };
            let Some(source) = cluster.sources.get(kind, &namespace, source_name) else {
                out.missing.push(missing(None));
                continue;
            };
            let Some(kv) = source.keys.get(key) else {
                out.missing.push(missing(Some(key)));
                continue;
            };
            out.vars.insert(
                var_name.to_string(),
                Var {
                    value: Value::Known(kv.value.clone()),
                    from: VarFrom::KeyRef {
                        kind,
                        name: source_name.to_string(),
                        key: key.to_string(),
                    },
                    at: Some(kv.place.clone()),
                    provider: Some(source.provider),
                    values: chart_values(key, &kv.value, source.provider),
                    secret: kind == SourceKind::Secret,
                },
            );
            continue;
        }
        let cluster_set = match (from.get("fieldRef"), from.get("resourceFieldRef")) {
            (Some(f), None) => f
                .get("fieldPath")
                .and_then(Node::as_str)
                .map(|p| VarFrom::FieldRef(p.to_string())),
            (None, Some(f)) => f
                .get("resource")
                .and_then(Node::as_str)
                .map(|r| VarFrom::ResourceFieldRef(r.to_string())),
            _ => None,
        };
        match cluster_set {
            Some(from_what) => {
                let what = match &from_what {
                    VarFrom::FieldRef(p) => format!("the pod's {p}"),
                    VarFrom::ResourceFieldRef(r) => format!("the container's {r}"),
                    other => other.to_string(),
                };
                out.vars.insert(
                    var_name.to_string(),
                    Var {
                        value: Value::Cluster(what),
                        from: from_what,
                        at: Some(object.place(from)),
                        provider: Some(object.provider),
                        values: None,
                        secret: false,
                    },
                );
            }
            None => out.problems.push(Problem::Unsupported {
                place: object.place(from),
                what: format!("this valueFrom of env {var_name} (envsync reads secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef)"),
            }),
        }
    }

    // 3. Service links, where the container does not set the name.
    for (k, v) in links {
        out.vars.entry(k).or_insert(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known<'a>(m: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<Value> + 'a {
        move |n| {
            m.iter().find(|(k, _)| *k == n).map(|(_, v)| {
                if *v == "<cluster>" {
                    Value::Cluster("ip".into())
                } else {
                    Value::Known(v.to_string())
                }
            })
        }
    }

    #[test]
    fn expansion_follows_the_kubelet_byte_for_byte() {
        let vars = [("A", "1"), ("B", "two words"), ("IP", "<cluster>")];
        let lookup = known(&vars);
        for (input, want) in [
            ("$(A)", "1"),
            ("x$(A)y$(B)", "x1ytwo words"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$1"),
            ("$(NOPE)", "$(NOPE)"),
            ("$(A", "$(A"),
            ("$A", "$A"),
            ("a$", "a$"),
            ("$", "$"),
            ("$$", "$"),
            ("$()", "$()"),
            ("$(A)$(A)", "11"),
            ("($(A))", "(1)"),
            ("$é", "$Ã\u{fffd}"),
            ("", ""),
        ] {
            assert_eq!(
                expand(input, &lookup),
                Value::Known(want.to_string()),
                "{input:?}"
            );
        }
        assert!(matches!(
            expand("http://$(IP):80", &lookup),
            Value::Cluster(_)
        ));
        assert_eq!(expand("$$(IP)", &lookup), Value::Known("$(IP)".into()));
    }
}
