//! `envsync show`: the environment one consumer receives: from one file (`show FILE`), as a
//! compose service (`--service`), or as a Kubernetes workload's container (`--workload`).

use std::path::Path;

use serde::Serialize;

use crate::config::settings::Settings;
use crate::dialect::Dialect;
use crate::envfile::EnvFile;
use crate::mask::{fingerprint, Mask};
use crate::model::Repo;

#[derive(Debug, Serialize)]
pub struct Shown {
    pub dialect: Dialect,
    /// Key to decoded value (or fingerprint), sorted by key.
    pub variables: serde_json::Map<String, serde_json::Value>,
    /// The consumer rejects the file (`show` then exits 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ShownError>,
    /// Lines no consumer can read (conflict markers, NUL bytes, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_lines: Vec<ShownError>,
    /// What the consumer does silently that changes what it reads (kubectl stops at a line
    /// over 64 KiB; `show` then exits 1).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ShownError>,
}

#[derive(Debug, Serialize)]
pub struct ShownError {
    pub line: usize,
    pub message: String,
}

/// Pick the dialect: `--dialect`, else that of the repo the file lies in (by the `--backend` /
/// `--infra` paths and envsync.toml, never by the preset's defaults, which are relative to the
/// current directory), else compose.
pub fn dialect_for(file: &Path, explicit: Option<Dialect>, settings: &Settings) -> Dialect {
    if let Some(d) = explicit {
        return d;
    }
    let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    // The deepest repo root that contains the file wins (the backend is often `.`).
    let owner = Repo::BOTH
        .into_iter()
        .filter(|&repo| *settings.located.get(repo))
        .filter_map(|repo| {
            let root = std::fs::canonicalize(settings.repo_path(repo)?).ok()?;
            abs.starts_with(&root)
                .then(|| (root.components().count(), repo))
        })
        .max();
    if let Some((_, repo)) = owner {
        return settings.config.repo(repo).dialect;
    }
    Dialect::Compose
}

/// Decode `bytes` as `dialect` reads them; values go through `mask`.
pub fn show(bytes: &[u8], dialect: Dialect, mask: &Mask, env: crate::dialect::Env) -> Shown {
    let decoded = dialect.decode(bytes, &|n| env.lookup(n));
    let mut mask = mask.clone();
    mask.learn(
        decoded
            .assignments
            .iter()
            .map(|a| (a.key.as_str(), a.value.as_str())),
    );
    let mut variables = serde_json::Map::new();
    if decoded.error.is_none() {
        for a in decoded.variables() {
            let v = if mask.hides_value(&a.key, &a.value) {
                fingerprint(&a.value)
            } else {
                a.value.clone()
            };
            variables.insert(a.key.clone(), serde_json::Value::String(v));
        }
    }
    Shown {
        dialect,
        variables,
        error: decoded.error.map(|e| ShownError {
            line: e.line,
            message: e.message,
        }),
        warnings: decoded
            .warnings
            .into_iter()
            .map(|e| ShownError {
                line: e.line,
                message: e.message,
            })
            .collect(),
        invalid_lines: EnvFile::parse(bytes)
            .invalid()
            .map(|(line, p)| ShownError {
                line,
                message: p.to_string(),
            })
            .collect(),
    }
}

/// What a compose service receives in a contour (`show --service S --contour C`).
#[derive(Debug, Serialize)]
pub struct ShownService {
    pub service: String,
    pub contour: String,
    pub dialect: Dialect,
    /// The compose files read, in `-f` order.
    pub files: Vec<String>,
    /// Key to value (or fingerprint); `null` for a variable declared without a value that the
    /// project environment does not set.
    pub variables: serde_json::Map<String, serde_json::Value>,
    /// Where each variable's value is decided (`repo file:line`).
    pub origins: serde_json::Map<String, serde_json::Value>,
    pub ports: Vec<ShownPort>,
    /// Network names (as the engine names them).
    pub networks: Vec<String>,
    pub volumes: Vec<ShownMount>,
    /// Why compose would refuse this project (`show` then exits 1).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ShownPort {
    pub target: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    pub protocol: String,
}

#[derive(Debug, Serialize)]
pub struct ShownMount {
    #[serde(rename = "type")]
    pub kind: String,
    /// The volume's engine name, or the bind mount's host path (relative to the infra root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
}

/// Why `show --service` cannot answer.
#[derive(Debug, thiserror::Error)]
pub enum ShowError {
    #[error(transparent)]
    Workspace(#[from] crate::load::WorkspaceError),
    #[error("contour {contour} has no compose project in {infra}: none of {} exists", files.join(", "))]
    NoProject {
        contour: String,
        infra: String,
        files: Vec<String>,
    },
    #[error("contour {contour} has no [contours.{contour}.kubernetes] table in envsync.toml, so envsync reads no Kubernetes objects for it; add one (docs/reference.md, \"Kubernetes\"){hint}")]
    NoKubernetes { contour: String, hint: String },
    #[error("--workload: {0}")]
    BadWorkload(String),
    #[error("contour {contour}: no service `{service}` in {}; its services: {}", files.join(" + "), known.join(", "))]
    NoService {
        contour: String,
        service: String,
        files: Vec<String>,
        known: Vec<String>,
    },
}

pub fn service(
    ws: &crate::load::Workspace,
    name: &str,
    contour: &str,
    mask: &Mask,
) -> Result<ShownService, ShowError> {
    let contour = ws
        .config
        .contour(contour)
        .map_err(crate::load::WorkspaceError::from)?;
    let files = ws.compose_files(contour);
    let project = ws.compose(contour)?.ok_or_else(|| ShowError::NoProject {
        contour: contour.name.clone(),
        infra: ws.source_name(Repo::Infra),
        files: files.clone(),
    })?;
    // In a project compose refuses (a file that is not YAML hides its services), the answer is
    // the refusal, not "no such service".
    let empty = crate::compose::Service {
        at: crate::finding::Location {
            repo: Repo::Infra,
            file: project.files.first().cloned().unwrap_or_default(),
            line: 1,
        },
        environment: Default::default(),
        ports: vec![],
        networks: vec![],
        volumes: vec![],
        inherited: Default::default(),
    };
    let svc = match project.services.get(name) {
        Some(s) => s,
        None if project.refused() => &empty,
        None => {
            return Err(ShowError::NoService {
                contour: contour.name.clone(),
                service: name.to_string(),
                files: project.files.clone(),
                known: project.services.keys().cloned().collect(),
            })
        }
    };
    let mut mask = mask.clone();
    for s in project.services.values() {
        mask.learn(
            s.environment
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.value.as_deref()?))),
        );
    }
    let mut variables = serde_json::Map::new();
    let mut origins = serde_json::Map::new();
    for (k, v) in &svc.environment {
        let value = match &v.value {
            None => serde_json::Value::Null,
            Some(x) if mask.hides_value(k, x) => fingerprint(x).into(),
            Some(x) => x.clone().into(),
        };
        variables.insert(k.clone(), value);
        origins.insert(k.clone(), v.at.to_string().into());
    }
    let errors = project.refusals().collect();
    Ok(ShownService {
        service: name.to_string(),
        contour: contour.name.clone(),
        dialect: Dialect::Compose,
        files: project.files.clone(),
        variables,
        origins,
        ports: svc
            .ports
            .iter()
            .map(|p| ShownPort {
                target: p.port.target,
                published: p.port.published.clone(),
                host_ip: p.port.host_ip.clone(),
                protocol: p.port.protocol.clone(),
            })
            .collect(),
        networks: project.network_names(svc),
        volumes: svc
            .volumes
            .iter()
            .map(|m| ShownMount {
                kind: m.kind.clone(),
                source: match (m.kind.as_str(), &m.source) {
                    ("volume", Some(s)) => Some(project.volume_name(s)),
                    (_, s) => s.clone(),
                },
                target: m.target.clone(),
            })
            .collect(),
        errors,
    })
}

/// What a Kubernetes workload's container receives in a contour (`show --workload`): the
/// shapes of [`ShownService`], plus where each value comes from.
#[derive(Debug, Serialize)]
pub struct ShownWorkload {
    pub workload: String,
    pub container: String,
    pub namespace: String,
    pub contour: String,
    /// The `helm template` command that rendered the chart (values masked), if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm: Option<String>,
    /// How long rendering took, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm_ms: Option<u64>,
    /// The rendered files and manifests read, and the env files of Secrets made by kubectl.
    pub files: Vec<String>,
    /// Key to value (or fingerprint); `null` for a value only the cluster knows.
    pub variables: serde_json::Map<String, serde_json::Value>,
    /// Where each value is written (`repo file:line`, or a template's rendered line).
    pub origins: serde_json::Map<String, serde_json::Value>,
    /// How the container gets each variable (`env`, `envFrom secret/NAME`,
    /// `secretKeyRef NAME.KEY`, `fieldRef metadata.namespace`, `service link service/NAME`).
    pub from: serde_json::Map<String, serde_json::Value>,
    /// The values file line that decides a value the chart rendered, where one can be named.
    pub values: serde_json::Map<String, serde_json::Value>,
    /// What the cluster sets for each `null` variable.
    pub cluster: serde_json::Map<String, serde_json::Value>,
    /// References to Secrets or ConfigMaps (or keys) that nothing provides.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_sources: Vec<ShownMissing>,
    /// What changes the environment without stopping the pod (a Secret made by hand that the
    /// chart also renders, a duplicate object, a construct envsync does not model).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why the pod would not start as rendered (`show` then exits 1).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ShownMissing {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    pub optional: bool,
    pub at: String,
}

/// `show --workload KIND/NAME --contour C [--container NAME]`.
pub fn workload(
    ws: &crate::load::Workspace,
    workload: &str,
    container: Option<&str>,
    contour: &str,
    mask: &Mask,
) -> Result<ShownWorkload, ShowError> {
    use crate::k8s::{ObjectRef, Value};
    let contour = ws
        .config
        .contour(contour)
        .map_err(crate::load::WorkspaceError::from)?;
    let r = ObjectRef::parse(workload).map_err(ShowError::BadWorkload)?;
    let Some(kube) = ws.kubernetes(contour)? else {
        let backend = ws
            .source(Repo::Backend)
            .ok()
            .and_then(|s| s.work_tree().map(Path::to_path_buf));
        let hint = backend
            .and_then(|b| crate::config::kubernetes::suggest(&b, std::slice::from_ref(contour)))
            .map(|_| "; the backend has a chart in helm/: `envsync init` in an empty directory writes a commented table for it".to_string())
            .unwrap_or_default();
        return Err(ShowError::NoKubernetes {
            contour: contour.name.clone(),
            hint,
        });
    };
    let configured = r == kube.config.workload
        || (r.namespace.is_none()
            && r.kind == kube.config.workload.kind
            && r.name == kube.config.workload.name
            && kube.config.workload.namespace.is_none());
    let env = if configured && container.is_none() {
        kube.api.clone()
    } else {
        let c = container.or(if configured {
            kube.config.container.as_deref()
        } else {
            None
        });
        kube.cluster
            .env(&r, c)
            .map_err(|e| ShowError::Workspace(e.into()))?
    };
    // A value held by a Secret is hidden wherever the container gets it from the Secret
    // (`var.secret` below); like every other value, it hides other values that hold it when
    // its key is a secret one.
    let mut mask = mask.clone();
    for src in kube.cluster.sources.iter() {
        mask.learn(
            src.keys
                .iter()
                .map(|(k, kv)| (k.as_str(), kv.value.as_str())),
        );
    }
    mask.learn(
        env.vars
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.value.known()?))),
    );
    let mut shown = ShownWorkload {
        workload: env.label(),
        container: env.container.clone(),
        namespace: env.namespace.clone(),
        contour: contour.name.clone(),
        helm: kube.cluster.helm.as_ref().map(|h| h.command.clone()),
        helm_ms: kube
            .cluster
            .helm
            .as_ref()
            .map(|h| h.elapsed.as_millis() as u64),
        files: kube
            .config
            .rendered
            .iter()
            .chain(&kube.config.manifests)
            .map(ToString::to_string)
            .chain(kube.config.secret_env_files.iter().map(|(ns, name, p)| {
                format!("{p} (kubectl create secret generic {name} -n {ns} --from-env-file)")
            }))
            .collect(),
        variables: Default::default(),
        origins: Default::default(),
        from: Default::default(),
        values: Default::default(),
        cluster: Default::default(),
        missing_sources: Vec::new(),
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    for (k, var) in &env.vars {
        let value = match &var.value {
            Value::Known(v) if (var.secret && !mask.reveals()) || mask.hides_value(k, v) => {
                fingerprint(v).into()
            }
            Value::Known(v) => v.clone().into(),
            Value::Cluster(why) => {
                shown.cluster.insert(k.clone(), why.clone().into());
                serde_json::Value::Null
            }
        };
        shown.variables.insert(k.clone(), value);
        let origin = var
            .at
            .as_ref()
            .map_or_else(|| "the cluster".to_string(), ToString::to_string);
        shown.origins.insert(k.clone(), origin.into());
        shown.from.insert(k.clone(), var.from.to_string().into());
        if let Some(e) = &var.values {
            shown.values.insert(k.clone(), e.at.to_string().into());
        }
    }
    for m in &env.missing {
        shown.missing_sources.push(ShownMissing {
            kind: m.kind.to_string(),
            namespace: m.namespace.clone(),
            name: m.name.clone(),
            key: m.key.clone(),
            variable: m.variable.clone(),
            optional: m.optional,
            at: m.at.to_string(),
        });
        if !m.optional {
            shown.errors.push(m.to_string());
        }
    }
    for p in env.problems.iter().chain(&kube.cluster.problems) {
        if p.blocks() {
            shown.errors.push(p.to_string());
        } else {
            shown.warnings.push(p.to_string());
        }
    }
    for c in &kube.cluster.collisions {
        shown.warnings.push(format!(
            "{}: Secret {}/{} is {} and also made by hand from {}; the pod gets the rendered one",
            c.object, c.namespace, c.name, c.provider, c.declared.file
        ));
    }
    Ok(shown)
}
