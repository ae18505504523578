//! The rules file schema: what `rules/gprod.toml`, a user's rules file and the tuning tables at
//! the top of `envsync.toml` may say. Parsed with `deny_unknown_fields`, so a typo is an error
//! naming file, line and key.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::finding::Severity;
use crate::model::Repo;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    pub extends: Option<String>,
    pub keys: Option<KeysTable>,
    pub owners: Option<BTreeMap<String, Repo>>,
    pub database_url: Option<DatabaseUrlTable>,
    pub weak_secret: Option<Vec<WeakSecretTable>>,
    pub placeholders: Option<Vec<String>>,
    /// `[rule.NAME]`: names keep their place in the file, so an unknown one names its line.
    pub rule: Option<BTreeMap<toml::Spanned<String>, RuleTable>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysTable {
    pub shared: Option<Vec<String>>,
    pub required_backend: Option<Vec<String>>,
    pub required_infra: Option<Vec<String>>,
    pub secrets: Option<Vec<String>>,
    pub unique_in_prod: Option<Vec<String>>,
    /// Keys never masked in output, though shared (GPROD: `PORT`).
    pub public: Option<Vec<String>>,
    pub port: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseUrlTable {
    pub key: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user_key: Option<String>,
    pub default_user: Option<String>,
    pub password_key: Option<String>,
    pub database_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeakSecretTable {
    pub key: String,
    #[serde(default)]
    pub min_length: usize,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTable {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    /// Per-contour severity, e.g. `{ dev = "warning" }`.
    pub contours: Option<BTreeMap<String, Severity>>,
}
