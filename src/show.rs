//! `envsync show FILE`: the environment one consumer receives from one file.

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
    let mut variables = serde_json::Map::new();
    if decoded.error.is_none() {
        for a in decoded.variables() {
            let v = if mask.hides(&a.key) {
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
    let mut variables = serde_json::Map::new();
    let mut origins = serde_json::Map::new();
    for (k, v) in &svc.environment {
        let value = match &v.value {
            None => serde_json::Value::Null,
            Some(x) if mask.hides(k) => fingerprint(x).into(),
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
