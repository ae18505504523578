//! Rules as data: the resolved rule set, loaded from a rules file and tuned by `envsync.toml`,
//! and the rule families that evaluate it.
//!
//! Rule names come from [`RuleCode`] only. A rules file (`rules/gprod.toml` is built in, schema
//! in [`schema`]) says which keys are shared, required, secret; who owns a value; what a
//! placeholder looks like; and each rule's severity. [`eval`] turns decoded files into
//! [`Finding`](crate::finding::Finding)s, one module per rule family; reading files is
//! `crate::workspace`'s job and printing `crate::render`'s.

pub mod compose;
mod database_url;
pub mod eval;
mod keys;
pub mod schema;
mod secrets;
mod syntax;
mod values;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub use database_url::{has_reference, parse_database_url, DbUrlParts};
pub use eval::{evaluate, ContourFiles, LoadedFile};
pub use schema::RulesFile;

use crate::finding::{RuleCode, Severity};
use crate::mask::Mask;
use crate::model::{Contour, Repo};
use crate::secret::matches_pattern;
use crate::tomlfile::{Located, TomlText};

/// The built-in GPROD preset.
pub const GPROD_RULES: &str = include_str!("../../rules/gprod.toml");

/// A rules file that cannot be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read the rules: {0}")]
    Read(#[from] crate::fsread::ReadError),
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
            roles: crate::config::ComposeConfig::default().roles,
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
                let text = crate::fsread::read_to_string(p)?;
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

/// What the rule families' table tests share: a contour's pair of files from two strings, and
/// the codes and severities every rule finds in them.
#[cfg(test)]
pub(crate) mod testkit {
    use super::*;
    use crate::config::Config;
    use crate::dialect::Dialect;

    pub const JWT: &str = "Qm9vdHN0cmFwLXNlY3JldC1mb3ItdGVzdHMtb25seS0xMjM0NTY3OA";
    pub const PW: &str = "Zx8-pRt4_wq9LmV2";
    pub const E: Severity = Severity::Error;
    pub const W: Severity = Severity::Warning;

    pub fn good_backend(port: u16) -> String {
        format!("PORT={port}\nJWT_SECRET={JWT}\nPOSTGRES_PASSWORD={PW}\nDATABASE_URL=postgresql://postgres:{PW}@db:5432/gprod\n")
    }

    pub fn good_infra(port: u16) -> String {
        format!("PORT={port}\nJWT_SECRET={JWT}\nPOSTGRES_PASSWORD={PW}\nPOSTGRES_DB=gprod\n")
    }

    pub fn files<'a>(c: &'a Contour, backend: &str, infra: &str) -> ContourFiles<'a> {
        ContourFiles {
            contour: c,
            backend: Some(LoadedFile::load(
                Repo::Backend,
                ".env.test".into(),
                backend.as_bytes(),
                (Dialect::NodeDotenv, Dialect::Compose),
                crate::dialect::Env::Isolated,
            )),
            infra: Some(LoadedFile::load(
                Repo::Infra,
                ".env".into(),
                infra.as_bytes(),
                (Dialect::Compose, Dialect::NodeDotenv),
                crate::dialect::Env::Isolated,
            )),
            compose: None,
            nginx: vec![],
        }
    }

    /// Sorted `(code, severity)` of every finding in `contour` when the other contours hold
    /// `others` (contour, backend, infra), or nothing.
    pub fn codes_among(
        backend: &str,
        infra: &str,
        contour: &str,
        others: &[(&str, &str, &str)],
    ) -> Vec<(&'static str, Severity)> {
        let config = Config::preset();
        let c = config.contour(contour).unwrap();
        let cf = [files(c, backend, infra)];
        let mut all: Vec<ContourFiles> = config
            .contours
            .iter()
            .filter(|o| o.name != c.name)
            .map(|o| match others.iter().find(|(n, _, _)| o.answers_to(n)) {
                Some((_, b, i)) => files(o, b, i),
                None => ContourFiles {
                    contour: o,
                    backend: None,
                    infra: None,
                    compose: None,
                    nginx: vec![],
                },
            })
            .collect();
        all.push(cf[0].clone());
        let rules = Rules::gprod();
        let mut v: Vec<_> = evaluate(&rules, &rules.mask(false), &cf, &all)
            .into_iter()
            .map(|f| (f.code.name(), f.severity))
            .collect();
        v.sort();
        v
    }

    pub fn codes(backend: &str, infra: &str, contour: &str) -> Vec<(&'static str, Severity)> {
        codes_among(backend, infra, contour, &[])
    }

    /// A table row: backend, infra, contour, and the findings it must give (in any order).
    pub type Case = (String, String, &'static str, Vec<(&'static str, Severity)>);

    pub fn assert_table(cases: Vec<Case>) {
        for (b, i, c, mut want) in cases {
            want.sort();
            assert_eq!(codes(&b, &i, c), want, "backend:\n{b}\ninfra:\n{i}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;
    use crate::config::Config;

    #[test]
    fn every_rule_has_a_docs_page() {
        for code in RuleCode::ALL {
            let page = format!(
                "{}/docs/rules/{}.md",
                env!("CARGO_MANIFEST_DIR"),
                code.name()
            );
            assert!(std::path::Path::new(&page).is_file(), "missing {page}");
        }
    }

    #[test]
    fn in_sync_is_clean() {
        assert_eq!(
            codes(&good_backend(3200), &good_infra(3200), "prod"),
            vec![]
        );
    }

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
