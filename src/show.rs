//! `envsync show FILE`: the environment one consumer receives from one file.

use std::path::Path;

use serde::Serialize;

use crate::dialect::Dialect;
use crate::envfile::EnvFile;
use crate::mask::{fingerprint, Mask};
use crate::model::Repo;
use crate::settings::Settings;

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
