//! Rules as data: the resolved rule set, loaded once from a rules file (the GPROD preset is
//! built in) and tuned by `envsync.toml`.
//!
//! Rule names come from [`RuleCode`] only. A rules file (schema in [`super::schema`]) says which
//! keys are shared, required, secret; who owns a value; what a placeholder looks like; each
//! rule's severity; and which compose service plays which role. Evaluating the rules over
//! decoded files is `crate::check`'s job.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::schema::RulesFile;
use super::tomlfile::{Located, TomlText};

use crate::finding::{RuleCode, Severity};
use crate::mask::Mask;
use crate::model::{Contour, Repo};
use crate::secret::matches_pattern;

/// The built-in GPROD preset.
pub const GPROD_RULES: &str = include_str!("../../rules/gprod.toml");

/// A rules file that cannot be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read the rules: {0}")]
    Read(#[from] crate::fs::read::ReadError),
    #[error(transparent)]
    Invalid(#[from] Located),
}

/// Which rules to load: `rules = …` of `envsync.toml` and its tuning tables.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    /// A preset name (`gprod`) or a rules file's path.
    pub name: &'a str,
    /// The rules file, when `name` is a path (resolved against the config's directory).
    pub path: Option<&'a Path>,
    /// The tuning tables of `envsync.toml` and that file's text (for error lines).
    pub tuning: Option<(&'a RulesFile, TomlText<'a>)>,
}

// ---------------------------------------------------------------------------------------------
// The resolved rule set.

#[derive(Debug, Clone)]
pub struct DatabaseUrlRule {
    pub key: String,
    pub host: String,
    pub port: u16,
    pub user_key: String,
    pub default_user: String,
    pub password_key: String,
    pub database_key: String,
}

#[derive(Debug, Clone, Default)]
struct RuleSetting {
    enabled: bool,
    severity: Option<Severity>,
    contours: BTreeMap<String, Severity>,
}

/// The validated rules envsync applies.
#[derive(Debug, Clone)]
pub struct Rules {
    pub shared: Vec<String>,
    pub required: BTreeMap<Repo, Vec<String>>,
    pub secrets: Vec<String>,
    pub unique_in_prod: Vec<String>,
    /// Keys whose values are never hidden (`[keys] public`).
    pub public: Vec<String>,
    pub port_key: String,
    pub owners: BTreeMap<String, Repo>,
    pub database_url: DatabaseUrlRule,
    pub weak: Vec<(String, usize)>,
    pub placeholders: Vec<String>,
    /// Which compose service plays which role (`[compose.services]` of envsync.toml).
    pub roles: crate::config::Roles,
    settings: HashMap<RuleCode, RuleSetting>,
}

fn union(into: &mut Vec<String>, more: Option<Vec<String>>) {
    for k in more.into_iter().flatten() {
        if !into.contains(&k) {
            into.push(k);
        }
    }
}

impl Rules {
    /// The GPROD preset alone.
    pub fn gprod() -> Rules {
        let text = TomlText {
            file: Path::new("rules/gprod.toml"),
            text: GPROD_RULES,
        };
        let file: RulesFile = text.parse().expect("built-in rules parse");
        let mut rules = Rules::empty();
        rules.apply(&file, &text).expect("built-in rules are valid");
        rules
    }

    fn empty() -> Rules {
        Rules {
            shared: vec![],
            required: BTreeMap::new(),
            secrets: vec![],
            unique_in_prod: vec![],
            public: vec![],
            port_key: "PORT".into(),
            roles: crate::config::Roles::default(),
            owners: BTreeMap::new(),
            database_url: DatabaseUrlRule {
                key: "DATABASE_URL".into(),
                host: "db".into(),
                port: 5432,
                user_key: "POSTGRES_USER".into(),
                default_user: "postgres".into(),
                password_key: "POSTGRES_PASSWORD".into(),
                database_key: "POSTGRES_DB".into(),
            },
            weak: vec![],
            placeholders: vec![],
            settings: RuleCode::ALL
                .iter()
                .map(|&c| {
                    (
                        c,
                        RuleSetting {
                            enabled: true,
                            ..Default::default()
                        },
                    )
                })
                .collect(),
        }
    }

    /// Load the selected preset or rules file, then apply the tuning from `envsync.toml`.
    pub fn load(sel: Selection<'_>) -> Result<Rules, RulesError> {
        let mut rules = match sel.path {
            None if sel.name == "gprod" => Rules::gprod(),
            None => {
                return Err(Located {
                    file: sel
                        .tuning
                        .map_or_else(|| "envsync.toml".into(), |(_, t)| t.file.to_path_buf()),
                    line: 1,
                    message: format!(
                        "unknown rules preset `{}`; use \"gprod\" or a path to a rules file",
                        sel.name
                    ),
                }
                .into())
            }
            Some(p) => {
                let text = crate::fs::read::read_to_string(p)?;
                let t = TomlText {
                    file: p,
                    text: &text,
                };
                let file: RulesFile = t.parse()?;
                let mut base = match file.extends.as_deref() {
                    Some("gprod") => Rules::gprod(),
                    None => Rules::empty(),
                    Some(other) => {
                        return Err(Located {
                            file: p.to_path_buf(),
                            line: 1,
                            message: format!("`extends = \"{other}\"`: only \"gprod\" is built in"),
                        }
                        .into())
                    }
                };
                base.apply(&file, &t)?;
                base
            }
        };
        if let Some((tuning, text)) = &sel.tuning {
            rules.apply(tuning, text)?;
        }
        Ok(rules)
    }

    fn apply(&mut self, file: &RulesFile, text: &TomlText<'_>) -> Result<(), Located> {
        let file = file.clone();
        if let Some(keys) = file.keys {
            union(&mut self.shared, keys.shared);
            union(
                self.required.entry(Repo::Backend).or_default(),
                keys.required_backend,
            );
            union(
                self.required.entry(Repo::Infra).or_default(),
                keys.required_infra,
            );
            union(&mut self.secrets, keys.secrets);
            union(&mut self.unique_in_prod, keys.unique_in_prod);
            union(&mut self.public, keys.public);
            if let Some(p) = keys.port {
                self.port_key = p;
            }
        }
        for (k, repo) in file.owners.unwrap_or_default() {
            self.owners.insert(k, repo);
        }
        if let Some(d) = file.database_url {
            let t = &mut self.database_url;
            let set = |into: &mut String, v: Option<String>| {
                if let Some(v) = v {
                    *into = v;
                }
            };
            set(&mut t.key, d.key);
            set(&mut t.host, d.host);
            set(&mut t.user_key, d.user_key);
            set(&mut t.default_user, d.default_user);
            set(&mut t.password_key, d.password_key);
            set(&mut t.database_key, d.database_key);
            if let Some(p) = d.port {
                t.port = p;
            }
        }
        for w in file.weak_secret.unwrap_or_default() {
            self.weak.retain(|(k, _)| *k != w.key);
            self.weak.push((w.key, w.min_length));
        }
        union(&mut self.placeholders, file.placeholders);
        for (name, table) in file.rule.unwrap_or_default() {
            let code: RuleCode = name
                .get_ref()
                .parse()
                .map_err(|message| text.error_for(&name, message))?;
            let s = self.settings.entry(code).or_default();
            if let Some(e) = table.enabled {
                s.enabled = e;
            }
            if let Some(sev) = table.severity {
                s.severity = Some(sev);
            }
            for (c, sev) in table.contours.unwrap_or_default() {
                s.contours.insert(c, sev);
            }
        }
        Ok(())
    }

    /// The severity of `code` in `contour`, or `None` when the rule is disabled.
    pub fn severity(&self, code: RuleCode, contour: &Contour) -> Option<Severity> {
        let s = self.settings.get(&code)?;
        if !s.enabled {
            return None;
        }
        let per_contour = contour.names().find_map(|n| s.contours.get(n)).copied();
        Some(
            per_contour
                .or(s.severity)
                .unwrap_or_else(|| code.default_severity()),
        )
    }

    /// Like [`Rules::severity`], for a rule whose default depends on the finding
    /// (`compose-interpolation`: error for shared and secret keys, warning otherwise).
    pub fn severity_or(
        &self,
        code: RuleCode,
        contour: &Contour,
        default: Severity,
    ) -> Option<Severity> {
        let s = self.settings.get(&code)?;
        if !s.enabled {
            return None;
        }
        let per_contour = contour.names().find_map(|n| s.contours.get(n)).copied();
        Some(per_contour.or(s.severity).unwrap_or(default))
    }

    /// The severity of `code` for findings that belong to no contour (the hook's guard over
    /// staged files), or `None` when the rule is disabled.
    pub fn base_severity(&self, code: RuleCode) -> Option<Severity> {
        let s = self.settings.get(&code)?;
        s.enabled
            .then(|| s.severity.unwrap_or_else(|| code.default_severity()))
    }

    pub fn owner(&self, key: &str) -> Option<Repo> {
        self.owners.get(key).copied()
    }

    pub fn is_secret(&self, key: &str) -> bool {
        self.secrets.iter().any(|p| matches_pattern(p, key))
            || self.weak.iter().any(|(k, _)| k == key)
    }

    /// The masking policy for these rules (secret, shared, weak-secret and public keys);
    /// `reveal` is `--show-values`.
    pub fn mask(&self, reveal: bool) -> Mask {
        let mut names: Vec<String> = self.weak.iter().map(|(k, _)| k.clone()).collect();
        names.extend(self.shared.iter().cloned());
        Mask::new(reveal, self.secrets.clone(), names, self.public.clone())
    }

    /// Must `repo` set `key` (`[keys] required_*`)?
    pub fn is_required(&self, repo: Repo, key: &str) -> bool {
        self.required
            .get(&repo)
            .is_some_and(|keys| keys.iter().any(|k| k == key))
    }

    /// Why `value` is too weak for `key` (`[[weak_secret]]`), if it is.
    pub fn weakness(&self, key: &str, value: &str) -> Option<String> {
        let (_, min) = self.weak.iter().find(|(k, _)| k == key)?;
        let len = value.chars().count();
        if self.is_placeholder(value) {
            Some("is a placeholder".to_string())
        } else if len < *min {
            Some(format!("is {len} characters long, under {min}"))
        } else {
            None
        }
    }

    /// Must `key` in `contour` differ from every other contour's value (`unique_in_prod`)?
    pub fn must_be_unique(&self, key: &str, contour: &Contour) -> bool {
        contour.answers_to("prod") && self.unique_in_prod.iter().any(|k| k == key)
    }

    pub fn is_placeholder(&self, value: &str) -> bool {
        self.placeholders.iter().any(|p| matches_pattern(p, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn tune(rules: &mut Rules, text: &'static str) -> Result<(), Located> {
        let t = TomlText {
            file: Path::new("x.toml"),
            text,
        };
        let file: RulesFile = t.parse().unwrap();
        rules.apply(&file, &t)
    }

    #[test]
    fn severities_can_be_tuned() {
        let mut rules = Rules::gprod();
        tune(
            &mut rules,
            "[rule.port-mismatch]\nenabled = false\n[rule.value-mismatch]\nseverity = \"warning\"\n",
        )
        .unwrap();
        let config = Config::preset();
        let prod = config.contour("prod").unwrap();
        assert_eq!(rules.severity(RuleCode::PortMismatch, prod), None);
        assert_eq!(
            rules.severity(RuleCode::ValueMismatch, prod),
            Some(Severity::Warning)
        );
        assert_eq!(
            rules.severity(RuleCode::WeakSecret, config.contour("dev").unwrap()),
            Some(Severity::Warning)
        );
        let err = tune(&mut rules, "\n\n[rule.no-such-rule]\nenabled = false\n").unwrap_err();
        assert!(err.to_string().starts_with("x.toml:3:"), "{err}");
    }
}
