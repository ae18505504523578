//! `envsync report`: the drift matrix of each checked contour, built from what `check` read and
//! found ([`crate::check::Checked`]).
//!
//! Rows are the keys that matter (the rules' required and shared keys, and every key with a
//! finding); columns are the sources that give them: the backend and infra env files, each
//! compose service that receives one of the keys, each Kubernetes workload. A cell holds what
//! its source gives for the key as a fingerprint (the value itself only with `--show-values`),
//! a colour derived from that fingerprint alone (equal values, equal colours), and the findings
//! whose locations point at it. This module owns that model; it reads no file and prints
//! nothing (the page is `crate::render::html`'s).

use crate::check::Checked;
use crate::compose::Service;
use crate::config::Rules;
use crate::finding::{Finding, Location, RuleCode, Severity};
use crate::k8s::WorkloadEnv;
use crate::load::files::{workload_line, Consumer, Role};
use crate::load::{ContourFiles, LoadedFile};
use crate::mask::fingerprint;
use crate::model::Repo;

/// Every selected contour's matrix, in the order they were checked.
#[derive(Debug)]
pub struct Matrix {
    pub contours: Vec<ContourMatrix>,
    /// `--show-values`: cells carry the values themselves too.
    pub reveal: bool,
}

/// One contour: its sources (columns) and its keys (rows, one cell per source).
#[derive(Debug)]
pub struct ContourMatrix {
    pub contour: String,
    pub sources: Vec<Source>,
    pub rows: Vec<Row>,
    /// The contour has a compose project that compose would refuse: its services are not
    /// columns (what they would get means nothing), the findings say why.
    pub compose_refused: bool,
}

/// A column: something that gives keys their values in a contour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub kind: SourceKind,
    /// The file's path in its repo, the compose service's name, or `kind/name` of a workload.
    pub name: String,
    /// The part a consumer plays (`db`, `api`), when it plays one.
    pub role: Option<Role>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    BackendFile,
    InfraFile,
    /// A compose service's effective environment.
    Service,
    /// A Kubernetes workload container's effective environment.
    Workload,
}

impl SourceKind {
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::BackendFile => "backend env file",
            SourceKind::InfraFile => "infra env file",
            SourceKind::Service => "compose service",
            SourceKind::Workload => "Kubernetes workload",
        }
    }
}

/// A key that matters, with what each source gives for it.
#[derive(Debug)]
pub struct Row {
    pub key: String,
    /// Why it is a row: required by a repo, shared, or named by a finding.
    pub why: Vec<Why>,
    /// One per [`ContourMatrix::sources`], in that order.
    pub cells: Vec<Cell>,
    /// Findings about the key that point at no cell (a values line that deletes the key, a
    /// Secret that is missing): shown with the key.
    pub elsewhere: Vec<Mark>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Required(Repo),
    Shared,
    Finding,
}

impl Why {
    pub fn label(self) -> &'static str {
        match self {
            Why::Required(Repo::Backend) => "required (backend)",
            Why::Required(Repo::Infra) => "required (infra)",
            Why::Shared => "shared",
            Why::Finding => "has a finding",
        }
    }
}

/// What one source gives for one key.
#[derive(Debug)]
pub struct Cell {
    pub value: Value,
    /// The line that decides it.
    pub at: Option<Location>,
    /// The findings whose locations point here.
    pub marks: Vec<Mark>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The source does not give the key.
    Missing,
    /// Declared without a value (compose's `KEY:`): not set in the container.
    Unset,
    /// Set by the cluster when the pod starts (what it is, never a value read from a file).
    Cluster(String),
    Given(Given),
}

/// A value, as the page may show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    /// `44 chars, sha256:1a2b3c4d`.
    pub fingerprint: String,
    pub colour: Colour,
    /// The value itself: only with `--show-values`.
    pub shown: Option<String>,
}

/// A cell's background, derived from the fingerprint's digits only: two cells with the same
/// value have the same colour, and the colour tells nothing the fingerprint does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour {
    /// 0..360.
    pub hue: u16,
    /// A light background (percent), so dark text stays readable on every hue.
    pub lightness: u8,
}

impl Colour {
    /// The colour of a fingerprint `… sha256:1a2b3c4d` (grey when it has no digits).
    pub fn of(fingerprint: &str) -> Colour {
        let n = fingerprint
            .rsplit_once("sha256:")
            .and_then(|(_, hex)| u32::from_str_radix(hex, 16).ok());
        match n {
            Some(n) => Colour {
                hue: (n % 360) as u16,
                lightness: [76, 83, 90][(n / 360 % 3) as usize],
            },
            None => Colour {
                hue: 0,
                lightness: 90,
            },
        }
    }
}

/// A finding, where it marks a cell or a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub code: RuleCode,
    pub severity: Severity,
    pub at: Location,
}

/// The matrices of the contours `checked` selected. `reveal` is `--show-values`.
pub fn matrix(rules: &Rules, checked: &Checked<'_>, reveal: bool) -> Matrix {
    let contours = checked
        .selection
        .selected_files()
        .map(|cf| {
            let findings: Vec<&Finding> = checked
                .report
                .findings
                .iter()
                .filter(|f| f.contour.as_deref() == Some(cf.contour.name.as_str()))
                .collect();
            contour_matrix(rules, cf, &findings, reveal)
        })
        .collect();
    Matrix { contours, reveal }
}

/// A column while it is built: the source itself, to ask it for keys.
enum Column<'a> {
    File(&'a LoadedFile),
    Service(&'a Service),
    /// A workload, with the values files of the chart that renders it (`repo`, path): a
    /// finding there is about what the chart gives the workload (a `null` that deletes a key).
    Workload(&'a WorkloadEnv, Vec<(Repo, &'a str)>),
}

/// What `column` gives for `key`, and every location that belongs to that cell (the line
/// that decides it and, for a workload, where the value is written and its values line).
fn lookup(column: &Column<'_>, key: &str, reveal: bool) -> (Value, Vec<Location>) {
    let given = |v: &str| {
        let fingerprint = fingerprint(v);
        Value::Given(Given {
            colour: Colour::of(&fingerprint),
            fingerprint,
            shown: reveal.then(|| v.to_string()),
        })
    };
    match column {
        Column::File(f) => match f.own.get(key) {
            Some(a) => (given(&a.value), vec![f.loc(a.line)]),
            None => (Value::Missing, vec![]),
        },
        Column::Service(s) => match s.environment.get(key) {
            Some(v) => (
                v.value.as_deref().map_or(Value::Unset, given),
                vec![v.at.clone()],
            ),
            None => (Value::Missing, vec![]),
        },
        Column::Workload(env, _) => match env.vars.get(key) {
            Some(var) => {
                let value = match &var.value {
                    crate::k8s::Value::Known(v) => given(v),
                    crate::k8s::Value::Cluster(what) => Value::Cluster(what.clone()),
                };
                let mut at = vec![workload_line(env, var).clone()];
                at.extend(var.at.iter().map(|p| p.at.clone()));
                at.extend(var.values.iter().map(|e| e.at.clone()));
                (value, at)
            }
            None => (Value::Missing, vec![]),
        },
    }
}

fn contour_matrix(
    rules: &Rules,
    cf: &ContourFiles<'_>,
    findings: &[&Finding],
    reveal: bool,
) -> ContourMatrix {
    let rows = keys(rules, findings);
    let mut columns: Vec<(Source, Column<'_>)> = Vec::new();
    for (f, kind) in [
        (&cf.backend, SourceKind::BackendFile),
        (&cf.infra, SourceKind::InfraFile),
    ] {
        if let Some(f) = f {
            let source = Source {
                kind,
                name: f.file.clone(),
                role: None,
            };
            columns.push((source, Column::File(f)));
        }
    }
    let consumers = cf.consumers(&rules.roles);
    let role_of = |name: &str| {
        consumers.iter().find_map(|c| match c {
            Consumer::Service { name: n, .. } if *n == name => Some(c.role()),
            _ => None,
        })
    };
    // Every compose service that receives one of the keys: the db and the api first.
    if let Some(p) = cf.compose.as_ref().filter(|p| !p.refused()) {
        let mut services: Vec<(&String, &Service)> = p
            .services
            .iter()
            .filter(|(_, s)| rows.iter().any(|(k, _)| s.environment.contains_key(k)))
            .collect();
        services.sort_by_key(|(name, _)| (role_of(name).map_or(2, |r| r as u8), *name));
        for (name, s) in services {
            let source = Source {
                kind: SourceKind::Service,
                name: name.clone(),
                role: role_of(name),
            };
            columns.push((source, Column::Service(s)));
        }
    }
    for c in &consumers {
        if let Consumer::Workload { role, env } = c {
            let source = Source {
                kind: SourceKind::Workload,
                name: env.label(),
                role: Some(*role),
            };
            let values = match (&cf.kube, env.provider) {
                (Some(k), crate::k8s::Provider::Chart) => k
                    .config
                    .chart
                    .iter()
                    .flat_map(|chart| {
                        k.config
                            .values
                            .iter()
                            .map(|(_, v)| (chart.repo, v.as_str()))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            columns.push((source, Column::Workload(env, values)));
        }
    }
    let rows = rows
        .into_iter()
        .map(|(key, why)| {
            let looked: Vec<(Value, Vec<Location>)> = columns
                .iter()
                .map(|(_, c)| lookup(c, &key, reveal))
                .collect();
            let mut cells: Vec<Cell> = looked
                .iter()
                .map(|(value, at)| Cell {
                    value: value.clone(),
                    at: at.first().cloned(),
                    marks: Vec::new(),
                })
                .collect();
            let mut elsewhere = Vec::new();
            for f in findings.iter().filter(|f| f.key.as_deref() == Some(&key)) {
                for at in &f.locations {
                    let mark = Mark {
                        code: f.code,
                        severity: f.severity,
                        at: at.clone(),
                    };
                    let mut placed = false;
                    for (i, (_, column)) in columns.iter().enumerate() {
                        let here = match column {
                            // Any line of an env file is that file's (a duplicate, a syntax
                            // error on the key's line).
                            Column::File(file) => at.repo == file.repo && at.file == file.file,
                            Column::Workload(_, values) => {
                                looked[i].1.contains(at)
                                    || values.iter().any(|(r, f)| at.repo == *r && at.file == *f)
                            }
                            Column::Service(_) => looked[i].1.contains(at),
                        };
                        if here {
                            placed = true;
                            if !cells[i].marks.contains(&mark) {
                                cells[i].marks.push(mark.clone());
                            }
                        }
                    }
                    if !placed && !elsewhere.contains(&mark) {
                        elsewhere.push(mark);
                    }
                }
            }
            Row {
                key,
                why,
                cells,
                elsewhere,
            }
        })
        .collect();
    ContourMatrix {
        contour: cf.contour.name.clone(),
        sources: columns.into_iter().map(|(s, _)| s).collect(),
        rows,
        compose_refused: cf.compose.as_ref().is_some_and(|p| p.refused()),
    }
}

/// The keys that matter, each once, with why: required (backend's, then infra's), shared,
/// then the keys findings name, in the report's order.
fn keys(rules: &Rules, findings: &[&Finding]) -> Vec<(String, Vec<Why>)> {
    let mut rows: Vec<(String, Vec<Why>)> = Vec::new();
    let mut add = |key: &str, why: Why| match rows.iter_mut().find(|(k, _)| k == key) {
        Some((_, whys)) => {
            if !whys.contains(&why) {
                whys.push(why);
            }
        }
        None => rows.push((key.to_string(), vec![why])),
    };
    for repo in Repo::BOTH {
        for key in rules.required.get(&repo).into_iter().flatten() {
            add(key, Why::Required(repo));
        }
    }
    for key in &rules.shared {
        add(key, Why::Shared);
    }
    for key in findings.iter().filter_map(|f| f.key.as_deref()) {
        add(key, Why::Finding);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::{files, good_backend, good_infra, JWT};
    use crate::config::Config;

    #[test]
    fn colours_come_from_the_fingerprint_alone() {
        let a = Colour::of(&fingerprint("same value"));
        assert_eq!(a, Colour::of(&fingerprint("same value")));
        assert_ne!(a, Colour::of(&fingerprint("other value")));
        // Only the eight hex digits count: the same digits give the same colour.
        assert_eq!(
            Colour::of("3 chars, sha256:ba7816bf"),
            Colour::of("99 chars, sha256:ba7816bf")
        );
        assert!(a.hue < 360 && (76..=90).contains(&a.lightness));
        assert_eq!(Colour::of("no digits").lightness, 90);
    }

    /// prod with a JWT_SECRET that differs between the repos and an extra key in the backend.
    fn prod_matrix(reveal: bool) -> ContourMatrix {
        let config = Config::preset();
        let rules = &config.rules;
        let c = config.contour("prod").unwrap();
        let backend = good_backend(3200).replace(JWT, "another-secret-of-enough-length-0123456789");
        let cf = files(c, &backend, &good_infra(3200));
        let mask = rules.mask(reveal);
        let found = crate::check::evaluate(rules, &mask, [&cf], std::slice::from_ref(&cf));
        let found: Vec<&Finding> = found.iter().collect();
        contour_matrix(rules, &cf, &found, reveal)
    }

    #[test]
    fn rows_are_the_keys_that_matter_and_columns_the_sources() {
        let m = prod_matrix(false);
        let keys: Vec<&str> = m.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            ["POSTGRES_PASSWORD", "JWT_SECRET", "PORT", "DATABASE_URL"]
        );
        assert_eq!(
            m.rows[1].why,
            [
                Why::Required(Repo::Backend),
                Why::Required(Repo::Infra),
                Why::Shared,
                Why::Finding
            ]
        );
        let names: Vec<&str> = m.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [".env.test", ".env"]);
        // The infra file has no DATABASE_URL.
        assert_eq!(m.rows[3].cells[1].value, Value::Missing);
        assert!(!m.compose_refused);
    }

    #[test]
    fn a_finding_marks_the_cells_it_points_at() {
        let m = prod_matrix(false);
        let jwt = &m.rows[1];
        for cell in &jwt.cells {
            let codes: Vec<RuleCode> = cell.marks.iter().map(|m| m.code).collect();
            assert_eq!(codes, [RuleCode::ValueMismatch], "{cell:?}");
        }
        assert!(jwt.elsewhere.is_empty());
        // Different values, different fingerprints; equal ones (PORT), equal colours.
        let (Value::Given(b), Value::Given(i)) = (&jwt.cells[0].value, &jwt.cells[1].value) else {
            panic!("{jwt:?}");
        };
        assert_ne!(b.fingerprint, i.fingerprint);
        let port = &m.rows[2];
        assert_eq!(port.cells[0].value, port.cells[1].value);
        assert!(port.cells.iter().all(|c| c.marks.is_empty()));
    }

    #[test]
    fn values_are_in_the_model_only_when_revealed() {
        let given = |m: &ContourMatrix| -> Vec<Option<String>> {
            m.rows
                .iter()
                .flat_map(|r| &r.cells)
                .filter_map(|c| match &c.value {
                    Value::Given(g) => Some(g.shown.clone()),
                    _ => None,
                })
                .collect()
        };
        assert!(given(&prod_matrix(false)).iter().all(Option::is_none));
        let shown = given(&prod_matrix(true));
        assert!(shown.contains(&Some(JWT.to_string())), "{shown:?}");
    }
}
