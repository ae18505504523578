//! Layout and configuration, decided once and immutable afterwards: the GPROD preset,
//! `envsync.toml`, the rules ([`rules`], [`schema`]), the service roles and the ledger choice.
//!
//! Owns where the two repos are, which files hold each contour's variables, which dialect each
//! repo's consumer speaks, the contour table (ports, networks), and the validated rule set.
//! Precedence is flags > `envsync.toml` > preset; flags are applied over it once, in
//! [`settings`]. This is the lowest layer that knows about envsync's configuration: it depends
//! only on the vocabulary below it (`model`, `finding`, `dialect`'s names, `fs`), never on a
//! command.

pub mod kubernetes;
pub mod rules;
pub mod schema;
pub mod settings;
pub mod tomlfile;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::dialect::Dialect;
use crate::model::{Contour, PerRepo, Repo};
pub use kubernetes::{KubeTools, Kubernetes, RepoPath};
pub use rules::{DatabaseUrlRule, Rules, RulesError};
use schema::RulesFile;
use tomlfile::{Located, TomlText};

/// Where one repo is and how its env files are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoConfig {
    pub path: String,
    /// `path` comes from envsync.toml, not from the preset.
    pub path_configured: bool,
    pub rev: Option<String>,
    pub dialect: Dialect,
    /// Candidate file names in order; `{contour}` expands to the name, then each alias.
    pub env: Vec<String>,
}

impl RepoConfig {
    /// Candidate paths for a contour, in the order they are tried, and whether each one is
    /// specific to the contour (contains `{contour}`) or a shared fallback such as `.env`.
    pub fn candidates(&self, contour: &Contour) -> Vec<(String, bool)> {
        let mut out: Vec<(String, bool)> = Vec::new();
        for pattern in &self.env {
            if pattern.contains("{contour}") {
                for name in contour.names() {
                    let p = pattern.replace("{contour}", name);
                    if !out.iter().any(|(q, _)| *q == p) {
                        out.push((p, true));
                    }
                }
            } else if !out.iter().any(|(q, _)| q == pattern) {
                out.push((pattern.clone(), false));
            }
        }
        out
    }
}

/// The validated configuration: preset merged with `envsync.toml`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, if any.
    pub file: Option<PathBuf>,
    /// `rules = …`: a preset name or a path (relative to the config file).
    pub rules_source: String,
    pub repos: PerRepo<RepoConfig>,
    pub contours: Vec<Contour>,
    /// The validated rules: the rules file, tuned by `envsync.toml`, with its service roles.
    pub rules: Rules,
    /// `[hook] other_rev`: read the other repo at this ref during `hook run`.
    pub hook_other_rev: Option<String>,
    /// `[migrate] ledger`: which ledger `migrate` uses when `--ledger` is not given.
    pub migrate_ledger: Option<LedgerChoice>,
    /// `[compose] nginx`: directories of the infra repo whose `*.conf` files are nginx
    /// configuration.
    pub nginx: Vec<String>,
    /// `[contours.C.kubernetes]`, by contour name: where each contour's cluster objects come
    /// from. Absent for a contour: no Kubernetes objects are read.
    pub kubernetes: BTreeMap<String, Kubernetes>,
    /// `[kubernetes]`: the helm and kubectl programs and the kubeconfig context.
    pub kube_tools: KubeTools,
}

/// Which ledger `migrate` uses (`--ledger`, `[migrate] ledger`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum LedgerChoice {
    /// From the layout of the migrations.
    #[default]
    Auto,
    /// `_sqlx_migrations`, `<version>_<description>.sql` files.
    Sqlx,
    /// `_prisma_migrations`, `<name>/migration.sql` directories.
    Prisma,
}

/// Which compose service plays which role (`[compose.services]`; the first name present wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    pub api: Vec<String>,
    pub db: Vec<String>,
    pub adminer: Vec<String>,
    pub redis: Vec<String>,
}

impl Default for Roles {
    fn default() -> Self {
        let v = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        Roles {
            api: v(&["api", "app"]),
            db: v(&["db"]),
            adminer: v(&["adminer"]),
            redis: v(&["redis"]),
        }
    }
}

impl Config {
    pub fn repo(&self, repo: Repo) -> &RepoConfig {
        self.repos.get(repo)
    }

    /// Find a contour by name or alias.
    pub fn contour(&self, name: &str) -> Result<&Contour, ConfigError> {
        self.contours
            .iter()
            .find(|c| c.answers_to(name))
            .ok_or_else(|| ConfigError::UnknownContour {
                name: name.to_string(),
                known: self
                    .contours
                    .iter()
                    .map(|c| c.names().collect::<Vec<_>>().join("/"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// `[contours.C.kubernetes]` of a contour, if it has one.
    pub fn kubernetes(&self, contour: &Contour) -> Option<&Kubernetes> {
        self.kubernetes.get(&contour.name)
    }

    /// The built-in GPROD preset.
    pub fn preset() -> Config {
        let contour = |name: &str, alias: &str, api, db, adminer, redis, network: &str| Contour {
            name: name.into(),
            aliases: vec![alias.into()],
            api_port: api,
            db_port: db,
            adminer_port: Some(adminer),
            redis_port: Some(redis),
            network: network.into(),
            volumes: vec![format!("pgdata_{name}"), format!("app_data_{name}")],
            compose: vec![
                "docker/docker-compose.yml".into(),
                "docker/{contour}/docker-compose.{contour}.yml".into(),
            ],
            project_directory: None,
            compose_env_files: None,
            backup_before_migrate: None,
        };
        Config {
            file: None,
            rules_source: "gprod".into(),
            repos: PerRepo::new(
                RepoConfig {
                    path: ".".into(),
                    path_configured: false,
                    rev: None,
                    dialect: Dialect::NodeDotenv,
                    env: vec![".env.{contour}".into()],
                },
                RepoConfig {
                    path: "../gybernaty-infra".into(),
                    path_configured: false,
                    rev: None,
                    dialect: Dialect::Compose,
                    env: vec![".env.{contour}".into(), ".env".into()],
                },
            ),
            contours: vec![
                contour("dev", "development", 3000, 5432, 8080, 6379, "gp-network"),
                contour(
                    "stage",
                    "staging",
                    3100,
                    5433,
                    8081,
                    6380,
                    "gp-network-stage",
                ),
                contour(
                    "prod",
                    "production",
                    3200,
                    5434,
                    8082,
                    6381,
                    "gp-network-prod",
                ),
            ],
            rules: Rules::gprod(),
            hook_other_rev: None,
            migrate_ledger: None,
            nginx: vec!["nginx".into()],
            // The preset assumes no cluster: `envsync init` writes what it can tell from a
            // backend's chart commented ([`kubernetes::suggest`]).
            kubernetes: BTreeMap::new(),
            kube_tools: KubeTools::default(),
        }
    }

    /// The preset, overridden by `file` when given, else by `envsync.toml` found in `start` or
    /// its ancestors (none is fine).
    pub fn load(explicit: Option<&Path>, start: &Path) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => discover(start),
        };
        let mut config = Config::preset();
        let Some(path) = path else {
            return Ok(config);
        };
        let text = crate::fs::read::read_to_string(&path)?;
        let t = TomlText {
            file: &path,
            text: &text,
        };
        let parsed: ConfigFile = t.parse()?;
        let tuning = config.apply(parsed, &t)?;
        config.file = Some(path.clone());
        config.rules = config.load_rules(tuning, &t)?;
        Ok(config)
    }

    /// Apply what `envsync.toml` says about the layout; returns its rule tuning (the tables a
    /// rules file has, and `[compose.services]`), which [`Config::load_rules`] applies.
    fn apply(&mut self, file: ConfigFile, t: &TomlText<'_>) -> Result<Tuning, ConfigError> {
        if let Some(rules) = file.rules {
            self.rules_source = rules;
        }
        if let Some(repos) = file.repos {
            for (repo, over) in [(Repo::Backend, repos.backend), (Repo::Infra, repos.infra)] {
                let Some(over) = over else { continue };
                let target = self.repos.get_mut(repo);
                if let Some(p) = over.path {
                    target.path = p;
                    target.path_configured = true;
                }
                if over.rev.is_some() {
                    target.rev = over.rev;
                }
                if let Some(d) = over.dialect {
                    target.dialect = d;
                }
                if let Some(env) = over.env {
                    if env.get_ref().is_empty() {
                        return Err(t
                            .error_for(
                                &env,
                                format!("repos.{repo}.env must list at least one file"),
                            )
                            .into());
                    }
                    // Env files are named inside their repository; a path that leaves it
                    // (`/etc/shadow`, `../other/.env`) is refused.
                    if let Some(bad) = env.get_ref().iter().find(|p| leaves_repo(p)) {
                        return Err(t
                            .error_for(
                                &env,
                                format!(
                                    "repos.{repo}.env: `{bad}` is outside the repository; name env files relative to its root"
                                ),
                            )
                            .into());
                    }
                    target.env = env.into_inner();
                }
            }
        }
        for (name, over) in file.contours.unwrap_or_default() {
            let (at, over) = (over.span().start, over.into_inner());
            // Ports are 1–65535: 0 would be written as `PORT=0` and published as "any port".
            let port = |p: Option<Spanned<u16>>, key: &str| -> Result<Option<u16>, ConfigError> {
                match p {
                    Some(p) if *p.get_ref() == 0 => Err(t
                        .error_for(
                            &p,
                            format!("contours.{name}.{key} must be a port from 1 to 65535"),
                        )
                        .into()),
                    p => Ok(p.map(Spanned::into_inner)),
                }
            };
            let api = port(over.api_port, "api_port")?;
            let db = port(over.db_port, "db_port")?;
            let adminer = port(over.adminer_port, "adminer_port")?;
            let redis = port(over.redis_port, "redis_port")?;
            let existing = self.contours.iter().position(|c| c.answers_to(&name));
            let mut c = match existing {
                Some(i) => self.contours.remove(i),
                None => {
                    let (Some(api_port), Some(db_port)) = (api, db) else {
                        return Err(t
                            .error_at(
                                at,
                                format!(
                                    "new contour `{name}` needs api_port and db_port (and usually network)"
                                ),
                            )
                            .into());
                    };
                    Contour {
                        name: name.clone(),
                        aliases: vec![],
                        api_port,
                        db_port,
                        adminer_port: None,
                        redis_port: None,
                        network: format!("gp-network-{name}"),
                        volumes: vec![],
                        compose: Config::preset().contours[0].compose.clone(),
                        project_directory: None,
                        compose_env_files: None,
                        backup_before_migrate: None,
                    }
                }
            };
            if let Some(a) = over.aliases {
                c.aliases = a;
            }
            if let Some(p) = api {
                c.api_port = p;
            }
            if let Some(p) = db {
                c.db_port = p;
            }
            if adminer.is_some() {
                c.adminer_port = adminer;
            }
            if redis.is_some() {
                c.redis_port = redis;
            }
            if let Some(n) = over.network {
                c.network = n;
            }
            if let Some(v) = over.volumes {
                c.volumes = v;
            }
            for (what, paths) in [
                ("compose", over.compose.as_ref()),
                ("compose_env_files", over.compose_env_files.as_ref()),
            ] {
                if let Some(bad) = paths.and_then(|p| p.get_ref().iter().find(|p| leaves_repo(p))) {
                    return Err(t
                        .error_for(
                            paths.expect("found in it"),
                            format!("contours.{name}.{what}: `{bad}` is outside the infra repository; name files relative to its root"),
                        )
                        .into());
                }
            }
            if let Some(v) = over.compose {
                c.compose = v.into_inner();
            }
            if let Some(v) = over.compose_env_files {
                c.compose_env_files = Some(v.into_inner());
            }
            if let Some(k) = over.kubernetes {
                let (table_at, table) = (k.span().start, k.into_inner());
                let validated = kubernetes::validate(&name, table_at, table, t)?;
                self.kubernetes.insert(c.name.clone(), validated);
            }
            if let Some(d) = over.project_directory {
                if leaves_repo(d.get_ref()) {
                    return Err(t
                        .error_for(
                            &d,
                            format!(
                                "contours.{name}.project_directory is outside the infra repository"
                            ),
                        )
                        .into());
                }
                c.project_directory = Some(d.into_inner());
            }
            if let Some(d) = over.backup_before_migrate {
                if d.get_ref().trim().is_empty() {
                    return Err(t
                        .error_for(
                            &d,
                            format!("contours.{name}.backup_before_migrate must name a directory (relative to this file's directory, or absolute)"),
                        )
                        .into());
                }
                // Relative to envsync.toml's directory, like every path in it.
                let base = t.file.parent().unwrap_or(Path::new("."));
                let dir = base.join(d.into_inner());
                c.backup_before_migrate = Some(std::path::absolute(&dir).unwrap_or(dir));
            }
            let at = existing.unwrap_or(self.contours.len());
            self.contours.insert(at.min(self.contours.len()), c);
        }
        let tables = RulesFile {
            extends: None,
            keys: file.keys,
            owners: file.owners,
            database_url: file.database_url,
            weak_secret: file.weak_secret,
            placeholders: file.placeholders,
            rule: file.rule,
        };
        if let Some(hook) = file.hook {
            self.hook_other_rev = hook.other_rev;
        }
        if let Some(m) = file.migrate {
            self.migrate_ledger = m.ledger;
        }
        if let Some(k) = file.kubernetes {
            self.kube_tools.apply(k, t)?;
        }
        let mut services = None;
        if let Some(c) = file.compose {
            services = c.services;
            if let Some(n) = c.nginx {
                self.nginx = n;
            }
        }
        Ok(Tuning { tables, services })
    }

    /// The rules this configuration selects (`rules = …`), tuned by `envsync.toml`'s tables
    /// (`t` is its text, which their error lines point into).
    fn load_rules(&self, tuning: Tuning, t: &TomlText<'_>) -> Result<Rules, RulesError> {
        let path = self.rules_path();
        let mut rules = Rules::load(rules::Selection {
            name: &self.rules_source,
            path: path.as_deref(),
            tuning: Some((&tuning.tables, t.clone())),
        })?;
        if let Some(s) = tuning.services {
            let roles = &mut rules.roles;
            for (role, names) in [
                (&mut roles.api, s.api),
                (&mut roles.db, s.db),
                (&mut roles.adminer, s.adminer),
                (&mut roles.redis, s.redis),
            ] {
                if let Some(n) = names {
                    *role = n;
                }
            }
        }
        Ok(rules)
    }

    /// Resolve `rules = "path"` relative to the config file's directory.
    pub fn rules_path(&self) -> Option<PathBuf> {
        let name = &self.rules_source;
        if !name.contains('/') && !name.ends_with(".toml") {
            return None;
        }
        let p = PathBuf::from(name);
        Some(match (&self.file, p.is_relative()) {
            (Some(f), true) => f.parent().unwrap_or(Path::new(".")).join(p),
            _ => p,
        })
    }
}

/// What `envsync.toml` says about the rules, applied once they are loaded.
struct Tuning {
    tables: RulesFile,
    services: Option<ServicesFile>,
}

/// Does a configured file path leave its repository (absolute, or through `..`)?
fn leaves_repo(p: &str) -> bool {
    let p = Path::new(p);
    p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
}

/// Look for `envsync.toml` in `start` and its ancestors.
pub fn discover(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join("envsync.toml"))
        .find(|p| p.is_file())
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    rules: Option<String>,
    repos: Option<ReposFile>,
    contours: Option<BTreeMap<String, Spanned<ContourFile>>>,
    hook: Option<HookFile>,
    migrate: Option<MigrateFile>,
    compose: Option<ComposeFile>,
    kubernetes: Option<kubernetes::ToolsFile>,
    // Rule tuning, the same tables a rules file has (serde cannot flatten with
    // deny_unknown_fields, so they are listed here).
    keys: Option<schema::KeysTable>,
    owners: Option<BTreeMap<String, Repo>>,
    database_url: Option<schema::DatabaseUrlTable>,
    weak_secret: Option<Vec<schema::WeakSecretTable>>,
    placeholders: Option<Vec<String>>,
    rule: Option<BTreeMap<Spanned<String>, schema::RuleTable>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReposFile {
    backend: Option<RepoFile>,
    infra: Option<RepoFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepoFile {
    path: Option<String>,
    rev: Option<String>,
    dialect: Option<Dialect>,
    env: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContourFile {
    aliases: Option<Vec<String>>,
    api_port: Option<Spanned<u16>>,
    db_port: Option<Spanned<u16>>,
    adminer_port: Option<Spanned<u16>>,
    redis_port: Option<Spanned<u16>>,
    network: Option<String>,
    volumes: Option<Vec<String>>,
    compose: Option<Spanned<Vec<String>>>,
    project_directory: Option<Spanned<String>>,
    compose_env_files: Option<Spanned<Vec<String>>>,
    kubernetes: Option<Spanned<kubernetes::KubernetesFile>>,
    backup_before_migrate: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComposeFile {
    services: Option<ServicesFile>,
    nginx: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesFile {
    api: Option<Vec<String>>,
    db: Option<Vec<String>>,
    adminer: Option<Vec<String>>,
    redis: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HookFile {
    other_rev: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrateFile {
    ledger: Option<LedgerChoice>,
}

/// Problems with `envsync.toml`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration: {0}")]
    Read(#[from] crate::fs::read::ReadError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Invalid(#[from] Located),
    #[error("unknown contour `{name}`; known contours: {known} (add one under [contours.NAME] in envsync.toml)")]
    UnknownContour { name: String, known: String },
}

/// The commented template written by `envsync init`.
pub const INIT_TEMPLATE: &str = include_str!("../../docs/envsync.template.toml");

/// Where the template's Kubernetes section starts (it runs to the end of the file).
const KUBE_SECTION: &str = "\n# Kubernetes (optional)";

/// What `envsync init` writes: the template, its Kubernetes section filled in (still
/// commented) from the chart of the backend at `backend` when it has one
/// ([`kubernetes::suggest`]).
pub fn init_text(backend: Option<&Path>) -> String {
    let suggestion = backend.and_then(|b| kubernetes::suggest(b, &Config::preset().contours));
    match (suggestion, INIT_TEMPLATE.find(KUBE_SECTION)) {
        (Some(s), Some(at)) => format!("{}\n{s}", &INIT_TEMPLATE[..=at]),
        _ => INIT_TEMPLATE.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("envsync.toml");
        std::fs::write(&p, text).unwrap();
        Config::load(Some(&p), dir.path())
    }

    #[test]
    fn override_keeps_the_rest_of_a_contour() {
        let c = load_str("[contours.prod]\ndb_port = 6543\n").unwrap();
        let prod = c.contour("production").unwrap();
        assert_eq!(prod.db_port, 6543);
        assert_eq!(prod.api_port, 3200);
        assert_eq!(prod.network, "gp-network-prod");
        assert_eq!(c.contours.len(), 3);
    }

    #[test]
    fn backup_before_migrate_is_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("envsync.toml");
        std::fs::write(
            &p,
            "[contours.prod]\nbackup_before_migrate = \"backups/prod\"\n[contours.dev]\nbackup_before_migrate = \"/srv/dumps\"\n",
        )
        .unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let c = Config::load(Some(&p), elsewhere.path()).unwrap();
        assert_eq!(
            c.contour("prod").unwrap().backup_before_migrate.as_deref(),
            Some(dir.path().join("backups/prod").as_path())
        );
        assert_eq!(
            c.contour("dev").unwrap().backup_before_migrate.as_deref(),
            Some(Path::new("/srv/dumps"))
        );
        assert_eq!(c.contour("stage").unwrap().backup_before_migrate, None);
        let e = load_str("[contours.prod]\nbackup_before_migrate = \"\"\n").unwrap_err();
        assert!(e.to_string().contains("envsync.toml:2"), "{e}");
    }

    #[test]
    fn unknown_keys_name_file_line_and_key() {
        let e = load_str("rules = \"gprod\"\n\n[repos.backend]\npaht = \".\"\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("envsync.toml:4"), "{msg}");
        assert!(msg.contains("paht"), "{msg}");
    }

    #[test]
    fn candidates_try_name_then_aliases_then_fallback() {
        let c = Config::preset();
        let prod = c.contour("prod").unwrap();
        let names: Vec<_> = c
            .repo(Repo::Infra)
            .candidates(prod)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(names, [".env.prod", ".env.production", ".env"]);
    }

    #[test]
    fn an_empty_env_list_names_its_own_line() {
        let text = "[repos.backend]\nenv = [\".env.{contour}\"]\n\n[repos.infra]\nenv = []\n";
        let e = load_str(text).unwrap_err();
        assert!(e.to_string().contains("envsync.toml:5"), "{e}");
        let e = load_str("\n[contours.qa]\nnetwork = \"n\"\n").unwrap_err();
        assert!(e.to_string().contains("envsync.toml:2"), "{e}");
    }

    #[test]
    fn paths_stay_in_the_repo_and_ports_are_ports() {
        let e = load_str("[repos.infra]\nenv = [\"/etc/shadow\"]\n").unwrap_err();
        assert!(e.to_string().contains("outside the repository"), "{e}");
        let e = load_str("[repos.backend]\nenv = [\"../x/.env\"]\n").unwrap_err();
        assert!(e.to_string().contains("envsync.toml:2"), "{e}");
        let e = load_str("[contours.prod]\n\napi_port = 0\n").unwrap_err();
        assert!(e.to_string().contains("envsync.toml:3"), "{e}");
        assert!(e.to_string().contains("1 to 65535"), "{e}");
        assert!(load_str("[repos.infra]\nenv = [\"docker/.env\"]\n").is_ok());
    }

    #[test]
    fn unknown_rule_names_point_at_their_table() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("envsync.toml");
        std::fs::write(
            &p,
            "# rule.nope is not a rule\n\n[rule.nope]\nenabled = false\n",
        )
        .unwrap();
        let e = Config::load(Some(&p), dir.path()).unwrap_err();
        assert!(e.to_string().contains("envsync.toml:3"), "{e}");
    }

    #[test]
    fn the_template_is_a_valid_config() {
        let c = load_str(INIT_TEMPLATE).unwrap();
        assert_eq!(c.contours.len(), 3);
        assert!(c.kubernetes.is_empty());
        // Its Kubernetes section, uncommented, is a valid table too.
        let at = INIT_TEMPLATE.find(KUBE_SECTION).unwrap();
        let uncommented: String = INIT_TEMPLATE[at..]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                l.starts_with('[') || l.split_once(" = ").is_some_and(|(k, _)| !k.contains(' '))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let c = load_str(&uncommented).unwrap();
        let dev = c.kubernetes(c.contour("dev").unwrap()).unwrap();
        assert_eq!(dev.workload.to_string(), "deployment/gprod-backend");
        assert_eq!(dev.secret_env_files.len(), 1);
    }

    #[test]
    fn init_fills_the_kubernetes_section_from_the_backends_chart() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(init_text(Some(d.path())), INIT_TEMPLATE);
        std::fs::create_dir_all(d.path().join("helm/api")).unwrap();
        std::fs::write(d.path().join("helm/api/Chart.yaml"), "name: api\n").unwrap();
        std::fs::write(d.path().join("helm/api/values-stage.yaml"), "").unwrap();
        let text = init_text(Some(d.path()));
        assert!(text.starts_with(&INIT_TEMPLATE[..INIT_TEMPLATE.find(KUBE_SECTION).unwrap()]));
        assert!(text.contains("# chart = \"backend:helm/api\""), "{text}");
        assert!(
            text.contains("# values = [\"values-stage.yaml\"]"),
            "{text}"
        );
        assert!(load_str(&text).unwrap().kubernetes.is_empty());
    }
}
