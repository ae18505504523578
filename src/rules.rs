//! Rules as data: the rules file schema, its merge and validation, and the evaluation of every
//! rule over the decoded env files of each contour.
//!
//! Rule names come from [`RuleCode`] only. A rules file (`rules/gprod.toml` is built in) says which
//! keys are shared, required, secret; who owns a value; what a placeholder looks like; and each
//! rule's severity. This module turns decoded files into [`Finding`]s; it does not read files
//! (see [`crate::check`]) or print (see [`crate::report`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{toml_error, ConfigError, Contour, Repo};
use crate::dialect::{Decoded, Dialect};
use crate::envfile::{EnvFile, Problem};
use crate::report::{Finding, Location, Severity};
use crate::secret::{fingerprint, matches_pattern};

/// The built-in GPROD preset.
pub const GPROD_RULES: &str = include_str!("../rules/gprod.toml");

macro_rules! rule_codes {
    ($($variant:ident => $name:literal, $default:ident, $doc:literal;)*) => {
        /// Stable rule codes. Each has a page in `docs/rules/<code>.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuleCode { $(#[doc = $doc] $variant,)* }

        impl RuleCode {
            pub const ALL: &'static [RuleCode] = &[$(RuleCode::$variant,)*];
            pub fn name(self) -> &'static str {
                match self { $(RuleCode::$variant => $name,)* }
            }
            pub fn default_severity(self) -> Severity {
                match self { $(RuleCode::$variant => Severity::$default,)* }
            }
            pub fn summary(self) -> &'static str {
                match self { $(RuleCode::$variant => $doc,)* }
            }
        }
    };
}

rule_codes! {
    MissingKey => "missing-key", Error, "a required variable is absent or empty";
    ValueMismatch => "value-mismatch", Error, "a shared variable decodes to different values in the two repos";
    DatabaseUrl => "database-url", Error, "backend DATABASE_URL is unparsable or disagrees with infra's POSTGRES_* and the compose host";
    PortMismatch => "port-mismatch", Error, "PORT differs from the contour's API port";
    WeakSecret => "weak-secret", Error, "a secret is too short or a placeholder";
    ReusedSecret => "reused-secret", Error, "prod shares a secret with another contour";
    DuplicateKey => "duplicate-key", Error, "a variable is assigned twice in one file";
    DialectDivergence => "dialect-divergence", Warning, "a shared value would decode differently under the other repo's dialect";
    Syntax => "syntax", Error, "a line no consumer can read";
    ForeignContourKey => "foreign-contour-key", Warning, "a key prefixed with another contour's name (the app's loader falls back to it)";
    StagedSecretFile => "staged-secret-file", Error, "a secret-bearing env file is staged for commit (hook)";
    SecretInExample => "secret-in-example", Error, "an example or template file holds a real-looking secret (hook)";
}

impl std::str::FromStr for RuleCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RuleCode::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let all: Vec<_> = RuleCode::ALL.iter().map(|c| c.name()).collect();
                format!("unknown rule `{s}`; known rules: {}", all.join(", "))
            })
    }
}

impl Serialize for RuleCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

// ---------------------------------------------------------------------------------------------
// The rules file schema (also accepted, minus `extends`, at the top of envsync.toml).

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    pub extends: Option<String>,
    pub keys: Option<KeysTable>,
    pub owners: Option<BTreeMap<String, Repo>>,
    pub database_url: Option<DatabaseUrlTable>,
    pub weak_secret: Option<Vec<WeakSecretTable>>,
    pub placeholders: Option<Vec<String>>,
    pub rule: Option<BTreeMap<String, RuleTable>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysTable {
    pub shared: Option<Vec<String>>,
    pub required_backend: Option<Vec<String>>,
    pub required_infra: Option<Vec<String>>,
    pub secrets: Option<Vec<String>>,
    pub unique_in_prod: Option<Vec<String>>,
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
    pub port_key: String,
    pub owners: BTreeMap<String, Repo>,
    pub database_url: DatabaseUrlRule,
    pub weak: Vec<(String, usize)>,
    pub placeholders: Vec<String>,
    /// `--show-values`: print values instead of fingerprints in messages.
    pub show_values: bool,
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
        let file: RulesFile = toml::from_str(GPROD_RULES).expect("built-in rules parse");
        let mut rules = Rules::empty();
        rules
            .apply(file, Path::new("rules/gprod.toml"), GPROD_RULES)
            .expect("built-in rules are valid");
        rules
    }

    fn empty() -> Rules {
        Rules {
            shared: vec![],
            required: BTreeMap::new(),
            secrets: vec![],
            unique_in_prod: vec![],
            port_key: "PORT".into(),
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
            show_values: false,
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

    /// The rules a configuration selects (`rules = …` and its tuning tables).
    pub fn for_config(config: &crate::config::Config) -> Result<Rules, ConfigError> {
        Rules::load(
            &config.rules,
            config.rules_path().as_deref(),
            &config.rule_overrides,
            config.file.as_deref(),
        )
    }

    /// Load `name_or_path` (a preset name or a rules file), then apply the tuning from
    /// `envsync.toml`.
    pub fn load(
        name: &str,
        path: Option<&Path>,
        overrides: &RulesFile,
        config_file: Option<&Path>,
    ) -> Result<Rules, ConfigError> {
        let mut rules = match path {
            None if name == "gprod" => Rules::gprod(),
            None => {
                return Err(ConfigError::Invalid {
                    file: config_file.map_or_else(|| "envsync.toml".into(), Path::to_path_buf),
                    line: 1,
                    message: format!(
                        "unknown rules preset `{name}`; use \"gprod\" or a path to a rules file"
                    ),
                })
            }
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::Read {
                    file: p.to_path_buf(),
                    message: e.to_string(),
                })?;
                let file: RulesFile =
                    toml::from_str(&text).map_err(|e| toml_error(p, &text, &e))?;
                let mut base = match file.extends.as_deref() {
                    Some("gprod") => Rules::gprod(),
                    None => Rules::empty(),
                    Some(other) => {
                        return Err(ConfigError::Invalid {
                            file: p.to_path_buf(),
                            line: 1,
                            message: format!("`extends = \"{other}\"`: only \"gprod\" is built in"),
                        })
                    }
                };
                base.apply(file, p, &text)?;
                base
            }
        };
        if let Some(cf) = config_file {
            let text = std::fs::read_to_string(cf).unwrap_or_default();
            rules.apply(overrides.clone(), cf, &text)?;
        }
        Ok(rules)
    }

    fn apply(&mut self, file: RulesFile, path: &Path, text: &str) -> Result<(), ConfigError> {
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
            let code: RuleCode = name.parse().map_err(|message| ConfigError::Invalid {
                file: path.to_path_buf(),
                line: text
                    .lines()
                    .position(|l| l.contains(&format!("rule.{name}")))
                    .map_or(1, |i| i + 1),
                message,
            })?;
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

    pub fn owner(&self, key: &str) -> Option<Repo> {
        self.owners.get(key).copied()
    }

    pub fn is_secret(&self, key: &str) -> bool {
        self.secrets.iter().any(|p| matches_pattern(p, key))
            || self.weak.iter().any(|(k, _)| k == key)
    }

    /// How a value appears in a message: a fingerprint for secrets (unless `--show-values`),
    /// the sanitised value otherwise.
    pub fn display(&self, key: &str, value: &str) -> String {
        if self.is_secret(key) && !self.show_values {
            fingerprint(value)
        } else {
            format!("`{}`", crate::secret::sanitize(value))
        }
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

// ---------------------------------------------------------------------------------------------
// Evaluation.

/// Files at least this big are decoded on two threads.
const PARALLEL_FROM: usize = 256 * 1024;

/// One repo's env file for one contour, read and decoded.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    pub repo: Repo,
    /// Path inside the repo, as shown in locations.
    pub file: String,
    pub parsed: EnvFile,
    pub dialect: Dialect,
    /// Decoded by this repo's consumer.
    pub own: Decoded,
    /// Decoded as the other repo's consumer would read the same bytes.
    pub other: Decoded,
    pub other_dialect: Dialect,
}

impl LoadedFile {
    pub fn load(
        repo: Repo,
        file: String,
        bytes: &[u8],
        dialect: Dialect,
        other_dialect: Dialect,
    ) -> LoadedFile {
        let none = |_: &str| None;
        let other = || {
            if other_dialect == dialect {
                Decoded::default()
            } else {
                other_dialect.decode(bytes, &none)
            }
        };
        // Three independent passes over the same bytes: on a big file, decode the other
        // dialect on a second core meanwhile (small files are not worth a thread).
        let (parsed, own, other) = if bytes.len() >= PARALLEL_FROM {
            std::thread::scope(|s| {
                let other = s.spawn(other);
                let parsed = EnvFile::parse(bytes);
                let own = dialect.decode(bytes, &none);
                (parsed, own, other.join().expect("decoder thread"))
            })
        } else {
            (EnvFile::parse(bytes), dialect.decode(bytes, &none), other())
        };
        LoadedFile {
            repo,
            file,
            parsed,
            own,
            other,
            dialect,
            other_dialect,
        }
    }

    pub fn value(&self, key: &str) -> Option<&str> {
        self.own.get(key).map(|a| a.value.as_str())
    }

    pub fn loc(&self, line: usize) -> Location {
        Location {
            repo: self.repo,
            file: self.file.clone(),
            line,
        }
    }

    /// Location of the winning assignment of `key`, else of line 1.
    pub fn loc_of(&self, key: &str) -> Location {
        self.loc(self.own.get(key).map_or(1, |a| a.line))
    }
}

/// The files of one contour.
#[derive(Debug, Clone)]
pub struct ContourFiles<'a> {
    pub contour: &'a Contour,
    pub backend: Option<LoadedFile>,
    pub infra: Option<LoadedFile>,
}

impl ContourFiles<'_> {
    pub fn side(&self, repo: Repo) -> Option<&LoadedFile> {
        match repo {
            Repo::Backend => self.backend.as_ref(),
            Repo::Infra => self.infra.as_ref(),
        }
    }
}

struct Sink<'r> {
    rules: &'r Rules,
    contour: &'r Contour,
    out: Vec<Finding>,
}

impl Sink<'_> {
    fn push(
        &mut self,
        code: RuleCode,
        key: Option<&str>,
        message: String,
        locations: Vec<Location>,
    ) {
        if let Some(severity) = self.rules.severity(code, self.contour) {
            self.out.push(Finding {
                code,
                severity,
                contour: Some(self.contour.name.clone()),
                key: key.map(str::to_string),
                message,
                locations,
            });
        }
    }
}

/// Evaluate every rule over the selected contours. `all` holds every contour's files (for
/// `reused-secret`), the selected ones included.
pub fn evaluate<'s, 'c: 's>(
    rules: &Rules,
    selected: impl IntoIterator<Item = &'s ContourFiles<'c>>,
    all: &[ContourFiles<'_>],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for cf in selected {
        let mut sink = Sink {
            rules,
            contour: cf.contour,
            out: Vec::new(),
        };
        for side in [cf.backend.as_ref(), cf.infra.as_ref()]
            .into_iter()
            .flatten()
        {
            syntax(&mut sink, side);
            duplicates(&mut sink, side);
            missing(&mut sink, rules, side);
            port(&mut sink, rules, side);
            weak(&mut sink, rules, side);
            foreign_contour_keys(&mut sink, side, all);
            divergence(&mut sink, rules, side);
        }
        if let (Some(b), Some(i)) = (&cf.backend, &cf.infra) {
            mismatch(&mut sink, rules, b, i);
            database_url(&mut sink, rules, b, i);
        }
        reused(&mut sink, rules, cf, all);
        findings.extend(sink.out);
    }
    findings
}

fn syntax(sink: &mut Sink, f: &LoadedFile) {
    let mut reported = BTreeSet::new();
    for (line, problem) in f.parsed.invalid() {
        // A dialect that reads the line fine (node dotenv ignores a bare word) still gets
        // a finding: the line does not do what it looks like it does.
        let advice = match problem {
            Problem::ConflictMarker => "resolve the merge conflict",
            Problem::UnterminatedQuote => "close the quote",
            Problem::NulByte => "remove the NUL byte",
            Problem::InvalidUtf8 => "re-save the file as UTF-8",
            Problem::NotAnAssignment => "write KEY=value or comment the line out with #",
        };
        reported.insert(line);
        sink.push(
            RuleCode::Syntax,
            None,
            format!("{problem}; {advice}"),
            vec![f.loc(line)],
        );
    }
    if let Some(e) = &f.own.error {
        if !reported.contains(&e.line) {
            sink.push(
                RuleCode::Syntax,
                None,
                format!("{} rejects the file: {}", f.dialect, e.message),
                vec![f.loc(e.line.max(1))],
            );
        }
    }
}

fn duplicates(sink: &mut Sink, f: &LoadedFile) {
    // Count first (a hash map, no allocation per key), then collect lines for the few repeats.
    let mut counts: rustc_hash::FxHashMap<&str, u32> = rustc_hash::FxHashMap::default();
    counts.reserve(f.parsed.items.len());
    let mut repeated = false;
    for e in f.parsed.entries() {
        let n = counts.entry(e.key.as_str()).or_insert(0);
        *n += 1;
        repeated |= *n > 1;
    }
    if !repeated {
        return;
    }
    let mut lines: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for e in f.parsed.entries() {
        if counts.get(e.key.as_str()).is_some_and(|&n| n > 1) {
            lines.entry(e.key.as_str()).or_default().push(e.line);
        }
    }
    for (key, ls) in lines {
        let values: BTreeSet<&str> = f
            .own
            .assignments
            .iter()
            .filter(|a| a.key == key)
            .map(|a| a.value.as_str())
            .collect();
        let differ = if values.len() > 1 {
            " with different values"
        } else {
            ""
        };
        sink.push(
            RuleCode::DuplicateKey,
            Some(key),
            format!(
                "{key} is assigned {} times in {} {}{differ} ({} uses the {}, dotenvy the first); keep one",
                ls.len(),
                f.repo,
                f.file,
                f.dialect,
                if f.dialect.first_wins() { "first" } else { "last" },
            ),
            ls.into_iter().map(|l| f.loc(l)).collect(),
        );
    }
}

fn missing(sink: &mut Sink, rules: &Rules, f: &LoadedFile) {
    if f.own.error.is_some() {
        // The consumer rejects the whole file: the syntax finding is the cause, not each key.
        return;
    }
    for key in rules.required.get(&f.repo).into_iter().flatten() {
        let state = match f.value(key) {
            None => "absent",
            Some("") => "empty",
            Some(_) => continue,
        };
        sink.push(
            RuleCode::MissingKey,
            Some(key),
            format!("{key} is {state} in {} {}", f.repo, f.file),
            vec![f.loc_of(key)],
        );
    }
}

fn mismatch(sink: &mut Sink, rules: &Rules, b: &LoadedFile, i: &LoadedFile) {
    for key in &rules.shared {
        let (Some(bv), Some(iv)) = (b.value(key), i.value(key)) else {
            continue;
        };
        if bv.is_empty() || iv.is_empty() || bv == iv {
            continue;
        }
        let show = |v: &str| rules.display(key, v);
        let owner = rules
            .owner(key)
            .map(|o| format!("; {o} owns it (`envsync fix` copies it)"))
            .unwrap_or_default();
        sink.push(
            RuleCode::ValueMismatch,
            Some(key),
            format!(
                "{key} differs: backend ({}) {} vs infra ({}) {}{owner}",
                b.dialect,
                show(bv),
                i.dialect,
                show(iv)
            ),
            vec![b.loc_of(key), i.loc_of(key)],
        );
    }
}

fn port(sink: &mut Sink, rules: &Rules, f: &LoadedFile) {
    let key = &rules.port_key;
    let Some(v) = f.value(key) else { return };
    if v.is_empty() || v == sink.contour.api_port.to_string() {
        return;
    }
    sink.push(
        RuleCode::PortMismatch,
        Some(key),
        format!(
            "{key} in {} {} is `{}`, but the {} contour's API port is {}",
            f.repo,
            f.file,
            crate::secret::sanitize(v),
            sink.contour.name,
            sink.contour.api_port
        ),
        vec![f.loc_of(key)],
    );
}

fn weak(sink: &mut Sink, rules: &Rules, f: &LoadedFile) {
    for (key, _) in &rules.weak {
        let Some(v) = f.value(key) else { continue };
        if v.is_empty() {
            continue;
        }
        let Some(why) = rules.weakness(key, v) else {
            continue;
        };
        sink.push(
            RuleCode::WeakSecret,
            Some(key),
            format!(
                "{key} in {} {} {why}; generate one with `envsync fix --contour {} --generate-secrets`",
                f.repo, f.file, sink.contour.name
            ),
            vec![f.loc_of(key)],
        );
    }
}

fn foreign_contour_keys(sink: &mut Sink, f: &LoadedFile, all: &[ContourFiles<'_>]) {
    let me = sink.contour;
    let prefixes: Vec<(String, &str)> = all
        .iter()
        .map(|c| c.contour)
        .filter(|c| c.name != me.name)
        .flat_map(|c| {
            c.names()
                .map(move |n| (format!("{}_", n.to_ascii_uppercase()), c.name.as_str()))
        })
        .collect();
    for a in f.own.variables() {
        if let Some((p, other)) = prefixes.iter().find(|(p, _)| a.key.starts_with(p.as_str())) {
            let bare = &a.key[p.len()..];
            sink.push(
                RuleCode::ForeignContourKey,
                Some(&a.key),
                format!(
                    "{} in the {} file of {} {} belongs to the {other} contour; the app's EnvHelper falls back to it when {bare} is missing, so remove it",
                    a.key, me.name, f.repo, f.file
                ),
                vec![f.loc(a.line)],
            );
        }
    }
}

fn divergence(sink: &mut Sink, rules: &Rules, f: &LoadedFile) {
    if f.dialect == f.other_dialect {
        return;
    }
    let mut keys: Vec<&String> = rules.shared.iter().collect();
    keys.push(&rules.database_url.key);
    for key in keys {
        let (Some(own), Some(other)) = (f.own.get(key), f.other.get(key)) else {
            continue;
        };
        // DATABASE_URL with a ${VAR} under node is reported by database-url.
        if own.value == other.value || (own.value.contains("${") && *key == rules.database_url.key)
        {
            continue;
        }
        let show = |v: &str| rules.display(key, v);
        sink.push(
            RuleCode::DialectDivergence,
            Some(key),
            format!(
                "{key} in {} {} reads as {} under {} but {} under {}; quote it (single quotes) so both consumers agree",
                f.repo, f.file, show(&own.value), f.dialect, show(&other.value), f.other_dialect
            ),
            vec![f.loc(own.line)],
        );
    }
}

/// Does `s` hold a `$VAR` or `${VAR}` reference (as compose would read it)?
pub fn has_reference(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(2)
        .any(|w| w[0] == b'$' && (w[1] == b'{' || w[1] == b'_' || w[1].is_ascii_alphabetic()))
}

/// The parts of a database URL that envsync compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbUrlParts {
    pub scheme: String,
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: Option<u16>,
    pub database: String,
}

pub fn parse_database_url(s: &str) -> Result<DbUrlParts, String> {
    let url = url::Url::parse(s).map_err(|e| format!("does not parse as a URL ({e})"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "has scheme `{}`, expected postgresql://",
            url.scheme()
        ));
    }
    let decode = |p: &str| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                "has a user or password that is not valid UTF-8 once percent-decoded".to_string()
            })
    };
    Ok(DbUrlParts {
        scheme: url.scheme().to_string(),
        user: decode(url.username())?,
        password: decode(url.password().unwrap_or(""))?,
        host: url.host_str().unwrap_or("").to_string(),
        port: url.port(),
        database: decode(url.path().trim_start_matches('/'))?,
    })
}

fn database_url(sink: &mut Sink, rules: &Rules, b: &LoadedFile, i: &LoadedFile) {
    let r = &rules.database_url;
    let key = r.key.as_str();
    let Some(raw) = b.value(key) else { return };
    if raw.is_empty() {
        return;
    }
    let loc = vec![b.loc_of(key)];
    if b.dialect == Dialect::NodeDotenv && has_reference(raw) {
        sink.push(
            RuleCode::DatabaseUrl,
            Some(key),
            format!(
                "{key} in backend {} holds a ${{VAR}} reference that {} leaves unexpanded: the app connects with the literal text; write the value itself (`envsync fix` does)",
                b.file, b.dialect
            ),
            loc,
        );
        return;
    }
    let parts = match parse_database_url(raw) {
        Ok(p) => p,
        Err(e) => {
            sink.push(
                RuleCode::DatabaseUrl,
                Some(key),
                format!("{key} in backend {} {e}", b.file),
                loc,
            );
            return;
        }
    };
    let mut problems: Vec<(String, Vec<Location>)> = Vec::new();
    if parts.host != r.host {
        problems.push((
            format!(
                "host is `{}`, expected `{}` (the compose service; the app runs inside the network)",
                crate::secret::sanitize(&parts.host),
                r.host
            ),
            loc.clone(),
        ));
    }
    let port = parts.port.unwrap_or(5432);
    if port != r.port {
        problems.push((
            format!(
                "port is {port}, expected {} (inside the compose network)",
                r.port
            ),
            loc.clone(),
        ));
    }
    let want_user = i
        .value(&r.user_key)
        .filter(|v| !v.is_empty())
        .unwrap_or(&r.default_user);
    if parts.user != want_user {
        problems.push((
            format!(
                "user is `{}`, but infra {} is `{}`",
                crate::secret::sanitize(&parts.user),
                r.user_key,
                crate::secret::sanitize(want_user)
            ),
            vec![b.loc_of(key), i.loc_of(&r.user_key)],
        ));
    }
    if let Some(pw) = i.value(&r.password_key).filter(|v| !v.is_empty()) {
        if parts.password != pw {
            problems.push((
                format!(
                    "password ({}) differs from infra {} ({})",
                    fingerprint(&parts.password),
                    r.password_key,
                    fingerprint(pw)
                ),
                vec![b.loc_of(key), i.loc_of(&r.password_key)],
            ));
        }
    }
    if let Some(db) = i.value(&r.database_key).filter(|v| !v.is_empty()) {
        if parts.database != db {
            problems.push((
                format!(
                    "database is `{}`, but infra {} is `{}`",
                    crate::secret::sanitize(&parts.database),
                    r.database_key,
                    crate::secret::sanitize(db)
                ),
                vec![b.loc_of(key), i.loc_of(&r.database_key)],
            ));
        }
    }
    for (p, locs) in problems {
        sink.push(
            RuleCode::DatabaseUrl,
            Some(key),
            format!("{key} in backend {}: {p}", b.file),
            locs,
        );
    }
}

fn reused(sink: &mut Sink, rules: &Rules, cf: &ContourFiles<'_>, all: &[ContourFiles<'_>]) {
    for key in rules
        .unique_in_prod
        .iter()
        .filter(|k| rules.must_be_unique(k, cf.contour))
    {
        for side in [cf.backend.as_ref(), cf.infra.as_ref()]
            .into_iter()
            .flatten()
        {
            let Some(v) = side.value(key).filter(|v| !v.is_empty()) else {
                continue;
            };
            for other in all.iter().filter(|o| o.contour.name != cf.contour.name) {
                let hits: Vec<Location> = [other.backend.as_ref(), other.infra.as_ref()]
                    .into_iter()
                    .flatten()
                    .filter(|o| o.value(key) == Some(v))
                    .map(|o| o.loc_of(key))
                    .collect();
                if hits.is_empty() {
                    continue;
                }
                let mut locs = vec![side.loc_of(key)];
                locs.extend(hits);
                sink.push(
                    RuleCode::ReusedSecret,
                    Some(key),
                    format!(
                        "{key} in {} {} ({}) is also used by the {} contour; prod needs its own",
                        side.repo,
                        side.file,
                        fingerprint(v),
                        other.contour.name
                    ),
                    locs,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn files<'a>(c: &'a Contour, backend: &str, infra: &str) -> ContourFiles<'a> {
        ContourFiles {
            contour: c,
            backend: Some(LoadedFile::load(
                Repo::Backend,
                ".env.test".into(),
                backend.as_bytes(),
                Dialect::NodeDotenv,
                Dialect::Compose,
            )),
            infra: Some(LoadedFile::load(
                Repo::Infra,
                ".env".into(),
                infra.as_bytes(),
                Dialect::Compose,
                Dialect::NodeDotenv,
            )),
        }
    }

    fn codes(backend: &str, infra: &str, contour: &str) -> Vec<(&'static str, Severity)> {
        let config = Config::preset();
        let c = config.contour(contour).unwrap();
        let cf = [files(c, backend, infra)];
        let mut all: Vec<ContourFiles> = config
            .contours
            .iter()
            .filter(|o| o.name != c.name)
            .map(|o| ContourFiles {
                contour: o,
                backend: None,
                infra: None,
            })
            .collect();
        all.push(cf[0].clone());
        let mut v: Vec<_> = evaluate(&Rules::gprod(), &cf, &all)
            .into_iter()
            .map(|f| (f.code.name(), f.severity))
            .collect();
        v.sort();
        v
    }

    const JWT: &str = "Qm9vdHN0cmFwLXNlY3JldC1mb3ItdGVzdHMtb25seS0xMjM0NTY3OA";
    const PW: &str = "Zx8-pRt4_wq9LmV2";

    fn good_backend(port: u16) -> String {
        format!("PORT={port}\nJWT_SECRET={JWT}\nPOSTGRES_PASSWORD={PW}\nDATABASE_URL=postgresql://postgres:{PW}@db:5432/gprod\n")
    }
    fn good_infra(port: u16) -> String {
        format!("PORT={port}\nJWT_SECRET={JWT}\nPOSTGRES_PASSWORD={PW}\nPOSTGRES_DB=gprod\n")
    }

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

    #[test]
    fn table_of_drifts() {
        let e = Severity::Error;
        let w = Severity::Warning;
        type Case = (String, String, &'static str, Vec<(&'static str, Severity)>);
        let cases: Vec<Case> = vec![
            (
                good_backend(3200).replace(PW, "other-password-9"),
                good_infra(3200),
                "prod",
                vec![("database-url", e), ("value-mismatch", e)],
            ),
            (
                good_backend(3200).replace("@db:", "@localhost:"),
                good_infra(3200),
                "prod",
                vec![("database-url", e)],
            ),
            (
                good_backend(3007),
                good_infra(3007),
                "prod",
                vec![("port-mismatch", e), ("port-mismatch", e)],
            ),
            (
                good_backend(3000).replace(JWT, "dev_jwt_secret_change_me_in_production"),
                good_infra(3000).replace(JWT, "dev_jwt_secret_change_me_in_production"),
                "dev",
                vec![("weak-secret", w), ("weak-secret", w)],
            ),
            (
                good_backend(3200)
                    .replace(&format!("postgres:{PW}@"), "postgres:${POSTGRES_PASSWORD}@"),
                good_infra(3200),
                "prod",
                vec![("database-url", e)],
            ),
            (
                format!(
                    "{}DATABASE_URL=postgresql://postgres:{PW}@localhost:5432/gprod\n",
                    good_backend(3200)
                ),
                good_infra(3200),
                "prod",
                vec![("database-url", e), ("duplicate-key", e)],
            ),
            (
                good_backend(3200).replace("PORT=3200\n", ""),
                good_infra(3200),
                "prod",
                vec![("missing-key", e)],
            ),
            (
                format!("{}DEV_JWT_SECRET=x\n", good_backend(3200)),
                good_infra(3200),
                "prod",
                vec![("foreign-contour-key", w)],
            ),
            (
                good_backend(3200),
                format!("{}<<<<<<< HEAD\n", good_infra(3200)),
                "prod",
                vec![("syntax", e)],
            ),
            (
                good_backend(3200).replace(PW, "ab#cd$ef-long-pw"),
                good_infra(3200).replace(PW, "'ab#cd$ef-long-pw'"),
                "prod",
                vec![
                    ("database-url", e),
                    ("dialect-divergence", w),
                    ("dialect-divergence", w),
                    ("value-mismatch", e),
                ],
            ),
        ];
        for (b, i, c, want) in cases {
            let mut want = want;
            want.sort();
            assert_eq!(codes(&b, &i, c), want, "backend:\n{b}\ninfra:\n{i}");
        }
    }

    #[test]
    fn severities_can_be_tuned() {
        let mut rules = Rules::gprod();
        let t: RulesFile = toml::from_str("[rule.port-mismatch]\nenabled = false\n[rule.value-mismatch]\nseverity = \"warning\"\n").unwrap();
        rules.apply(t, Path::new("x.toml"), "").unwrap();
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
        let bad: RulesFile = toml::from_str("[rule.no-such-rule]\nenabled = false\n").unwrap();
        let err = rules
            .apply(bad, Path::new("x.toml"), "[rule.no-such-rule]\n")
            .unwrap_err();
        assert!(err.to_string().contains("x.toml:1"), "{err}");
    }
}
