//! Evaluation: [`evaluate`] runs every rule family over the contours' files that
//! `crate::load` produced, and the [`Sink`] the families put their findings in.

use crate::config::Rules;
use crate::finding::{Finding, Location, RuleCode};
use crate::load::ContourFiles;
use crate::mask::Mask;
use crate::model::Contour;

use super::{compose, database_url, keys, kubernetes, secrets, syntax, values};

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
            compose::database(&mut sink, rules, p, cf);
        }
        // What the compose services and the Kubernetes workloads receive.
        compose::effective_env(&mut sink, rules, cf);
        if let Some(kube) = &cf.kube {
            kubernetes::rules(&mut sink, rules, cf, kube);
        }
        findings.extend(sink.out);
    }
    findings
}
