//! Evaluation: one repo's decoded file per contour ([`LoadedFile`]), the contour's pair
//! ([`ContourFiles`]), and [`evaluate`], which runs every rule family over them.

use crate::dialect::{Decoded, Dialect, Env};
use crate::envfile::EnvFile;
use crate::finding::{Finding, Location, RuleCode};
use crate::mask::Mask;
use crate::model::{Contour, Repo};

use super::{compose, database_url, keys, secrets, syntax, values, Rules};

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
    /// Where references the file does not define were looked up.
    pub env: Env,
}

impl LoadedFile {
    pub fn load(
        repo: Repo,
        file: String,
        bytes: &[u8],
        (dialect, other_dialect): (Dialect, Dialect),
        env: Env,
    ) -> LoadedFile {
        let none = move |name: &str| env.lookup(name);
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
            env,
        }
    }

    /// The file as `dialect`'s consumer reads it, when it was decoded that way.
    pub fn decoded_as(&self, dialect: Dialect) -> Option<&Decoded> {
        if self.dialect == dialect {
            Some(&self.own)
        } else if self.other_dialect == dialect {
            Some(&self.other)
        } else {
            None
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
    /// The contour's compose project, when its files exist.
    pub compose: Option<crate::compose::Project>,
    /// nginx configuration files that apply to the contour, with their upstreams.
    pub nginx: Vec<(String, Vec<crate::compose::nginx::Upstream>)>,
}

impl ContourFiles<'_> {
    pub fn side(&self, repo: Repo) -> Option<&LoadedFile> {
        match repo {
            Repo::Backend => self.backend.as_ref(),
            Repo::Infra => self.infra.as_ref(),
        }
    }
}

/// Where rule families put their findings: applies the configured severity (or drops a
/// disabled rule) and carries what every family needs.
pub(super) struct Sink<'r> {
    pub(super) rules: &'r Rules,
    pub(super) mask: &'r Mask,
    pub(super) contour: &'r Contour,
    out: Vec<Finding>,
}

impl Sink<'_> {
    pub(super) fn push(
        &mut self,
        code: RuleCode,
        key: Option<&str>,
        message: String,
        locations: Vec<Location>,
    ) {
        if let Some(severity) = self.rules.severity(code, self.contour) {
            self.push_severity(code, severity, key, message, locations);
        }
    }

    /// Push with a severity decided by the caller (through [`Rules::severity_or`]).
    pub(super) fn push_severity(
        &mut self,
        code: RuleCode,
        severity: crate::finding::Severity,
        key: Option<&str>,
        message: String,
        locations: Vec<Location>,
    ) {
        self.out.push(Finding {
            code,
            severity,
            contour: Some(self.contour.name.clone()),
            key: key.map(str::to_string),
            message,
            locations,
        });
    }

    /// A value as a message shows it (see [`Mask::value`]).
    pub(super) fn show(&self, key: &str, value: &str) -> String {
        self.mask.value(key, value)
    }
}

/// Evaluate every rule over the selected contours. `all` holds every contour's files (for
/// `reused-secret`), the selected ones included. Values in messages go through `mask`.
pub fn evaluate<'s, 'c: 's>(
    rules: &Rules,
    mask: &Mask,
    selected: impl IntoIterator<Item = &'s ContourFiles<'c>>,
    all: &[ContourFiles<'_>],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for cf in selected {
        let mut sink = Sink {
            rules,
            mask,
            contour: cf.contour,
            out: Vec::new(),
        };
        for side in [cf.backend.as_ref(), cf.infra.as_ref()]
            .into_iter()
            .flatten()
        {
            syntax::syntax(&mut sink, side);
            syntax::duplicates(&mut sink, side);
            keys::missing(&mut sink, rules, side);
            values::port(&mut sink, rules, side);
            secrets::weak(&mut sink, rules, side);
            keys::foreign_contour_keys(&mut sink, side, all);
            values::divergence(&mut sink, rules, side);
            values::unset_references(&mut sink, side);
        }
        if let (Some(b), Some(i)) = (&cf.backend, &cf.infra) {
            values::mismatch(&mut sink, rules, b, i);
            database_url::database_url(&mut sink, rules, b, i);
        }
        secrets::reused(&mut sink, rules, cf, all);
        if let Some(p) = &cf.compose {
            compose::problems(&mut sink, rules, cf, p);
        }
        // A project compose refuses is reported as such; its parts are not checked.
        if let Some(p) = cf.compose.as_ref().filter(|p| !p.refused()) {
            let roles = &rules.roles;
            compose::published_ports(&mut sink, roles, p);
            compose::container_ports(&mut sink, rules, roles, p, cf.backend.as_ref(), &cf.nginx);
            compose::networks(&mut sink, roles, p);
            compose::volumes(&mut sink, roles, p, all);
            compose::effective_env(&mut sink, rules, p, cf);
            compose::database(&mut sink, rules, p, cf);
        }
        findings.extend(sink.out);
    }
    findings
}
