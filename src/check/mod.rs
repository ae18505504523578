//! `envsync check`: every rule over the selected contours of the workspace.
//!
//! The rule families, one module each, see the contours' sources the way `crate::load`
//! produced them ([`crate::load::ContourFiles`]) and the rules `crate::config` decided;
//! [`evaluate`] runs them and yields [`Finding`](crate::finding::Finding)s. Reading files is
//! `crate::load`'s job and printing `crate::render`'s.

pub mod compose;
mod database_url;
mod eval;
mod keys;
mod kubernetes;
mod secrets;
mod syntax;
mod values;

pub use eval::evaluate;

use crate::finding::Report;
use crate::load::{Selection, Workspace, WorkspaceError};
use crate::mask::Mask;

/// `envsync check`: `contours` are names or aliases (empty: every contour with env files).
/// `describe` also lists what was read, for `-v` ([`Report::read`]).
pub fn check(
    ws: &Workspace,
    mask: &Mask,
    contours: &[String],
    describe: bool,
) -> Result<Report, WorkspaceError> {
    Ok(checked(ws, mask, contours, describe)?.report)
}

/// What a check read and what it found: the sources of every contour (the selected ones are
/// those of [`Report::contours`]) with the report, for a command that shows both (`report`).
#[derive(Debug)]
pub struct Checked<'w> {
    pub selection: Selection<'w>,
    pub report: Report,
}

/// [`check`], keeping the sources it read.
pub fn checked<'w>(
    ws: &'w Workspace,
    mask: &Mask,
    contours: &[String],
    describe: bool,
) -> Result<Checked<'w>, WorkspaceError> {
    let mut sel = ws.select(contours)?;
    sel.read_kubernetes(ws)?;
    // Values that hold a secret are hidden wherever they appear: learn every secret value read.
    let mut mask = mask.clone();
    mask.learn(sel.values());
    let findings = evaluate(&ws.config.rules, &mask, sel.selected_files(), &sel.files);
    let mut report = Report::new(findings, sel.selected.clone());
    if describe {
        describe_reads(ws, &sel, &mut report.read);
    }
    Ok(Checked {
        selection: sel,
        report,
    })
}

/// One line per file read, per selected contour.
fn describe_reads(ws: &Workspace, sel: &Selection<'_>, read: &mut Vec<String>) {
    for cf in sel.selected_files() {
        for f in [&cf.backend, &cf.infra].into_iter().flatten() {
            read.push(format!(
                "{}: {} {} from {} ({}, {} lines)",
                cf.contour.name,
                f.repo,
                f.file,
                ws.source_name(f.repo),
                f.dialect,
                f.parsed.items.len()
            ));
        }
        match &cf.compose {
            Some(p) => read.push(format!(
                "{}: compose project `{}` (directory {}): {}; interpolation from {}; read {}",
                cf.contour.name,
                p.name,
                if p.dir.is_empty() { "." } else { &p.dir },
                p.files.join(" + "),
                if p.env_files.is_empty() {
                    "nothing (no project .env)".to_string()
                } else {
                    p.env_files.join(", ")
                },
                p.read.join(", ")
            )),
            None => read.push(format!(
                "{}: no compose project (none of {} exists)",
                cf.contour.name,
                ws.compose_files(cf.contour).join(", ")
            )),
        }
        for (file, _) in &cf.nginx {
            read.push(format!("{}: nginx {file}", cf.contour.name));
        }
        if let Some(k) = &cf.kube {
            read.push(describe_kube(cf.contour, k));
        }
    }
}

/// `prod: kubernetes: helm template … (80.1 ms) + backend:helm/db-manifests.yaml: 7 objects;
/// api deployment/gprod-backend container api (namespace gprod), 14 variables`.
fn describe_kube(contour: &crate::model::Contour, k: &crate::load::kube::Kube) -> String {
    let mut sources: Vec<String> = Vec::new();
    if let Some(run) = &k.cluster.helm {
        sources.push(format!(
            "{} ({:.1} ms)",
            run.command,
            run.elapsed.as_secs_f64() * 1000.0
        ));
    }
    sources.extend(k.config.rendered.iter().map(|p| format!("rendered {p}")));
    sources.extend(k.config.manifests.iter().map(ToString::to_string));
    format!(
        "{}: kubernetes: {}: {} objects; api {} container {} (namespace {}), {} variables",
        contour.name,
        sources.join(" + "),
        k.cluster.objects.len(),
        k.api.label(),
        k.api.container,
        k.api.namespace,
        k.api.vars.len()
    )
}

/// What the rule families' table tests share: a contour's pair of files from two strings, and
/// the codes and severities every rule finds in them.
#[cfg(test)]
pub(crate) mod testkit {
    use super::evaluate;
    use crate::config::{Config, Rules};
    use crate::dialect::Dialect;
    use crate::finding::Severity;
    use crate::load::{ContourFiles, LoadedFile};
    use crate::model::{Contour, Repo};

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
            kube: None,
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
                    kube: None,
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
    use crate::finding::RuleCode;

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
}
