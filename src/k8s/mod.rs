//! What a contour deploys to Kubernetes, and what each container of it really receives.
//!
//! [`load`] renders the backend's Helm chart with the real `helm template` ([`helm`]; the chart
//! directory checked first, [`chart`]) or reads already-rendered YAML, adds the plain
//! manifests that are applied beside it, reads the Secrets created out of band with
//! `kubectl create secret generic --from-env-file` (in kubectl's own env-file dialect), and
//! parses every document into [`Object`]s that remember where they are written ([`objects`]).
//! The chart's values files are read too ([`values`]), so a rendered value can be traced to
//! the values line that decides it, with Helm's YAML typing ([`typing`]). A [`Cluster`] then
//! computes a workload's effective environment the way the kubelet does ([`mod@env`]): `envFrom`,
//! `env`, `$(VAR)` expansion, key references, the cluster's own variables.
//!
//! This is a reader, like [`crate::compose`]: it judges nothing (the `k8s-*` rules do) and
//! contacts no cluster. Files are read through a closure the caller gives it, so it works on
//! working trees, revisions and the index alike; only Helm needs the chart on disk.

pub mod chart;
pub mod env;
pub mod helm;
pub mod objects;
pub mod refs;
pub mod typing;
pub mod values;

use std::fmt;
use std::path::Path;

use crate::dialect::{Decoded, Dialect, Env};
use crate::finding::Location;
use crate::mask::Mask;
use crate::model::Repo;

pub use env::{MissingSource, SourceKind, Value, Var, VarFrom, WorkloadEnv};
pub use objects::Object;
pub use refs::{ObjectRef, RefKind};

/// Where something is written: a line of a file, or of a chart template's rendered output.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub at: Location,
    /// `at.file` is a chart template and `at.line` counts lines of what it rendered (the
    /// output `helm template` prints after its `# Source:` line), not lines of the template.
    pub rendered: bool,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.rendered {
            write!(
                f,
                "{} {} (rendered line {})",
                self.at.repo, self.at.file, self.at.line
            )
        } else {
            self.at.fmt(f)
        }
    }
}

/// Who puts an object into the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provider {
    /// Rendered from the chart by `helm template`: Helm owns it.
    Chart,
    /// Read from `rendered` (someone else's `helm template` or kustomize output).
    Rendered,
    /// A plain manifest applied beside the chart (`manifests`).
    Manifest,
    /// A Secret made with `kubectl create secret generic --from-env-file` (`secret_env_files`).
    EnvFile,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Chart => "rendered by the chart",
            Provider::Rendered => "in the rendered files",
            Provider::Manifest => "in the manifests",
            Provider::EnvFile => "created by kubectl from an env file",
        })
    }
}

/// Something in the objects that changes what a pod gets, or keeps it from starting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A field the API requires to be a string is written as a plain YAML number, boolean or
    /// date: the API server refuses the object (a date would be rewritten as RFC 3339).
    NotAString {
        place: Place,
        field: String,
        typed: &'static str,
    },
    /// A Secret's `data` entry is not base64: the API server refuses the Secret.
    BadBase64 {
        place: Place,
        secret: String,
        key: String,
    },
    /// An object's field has the wrong shape (`env` not a list, an entry without a name).
    Malformed { place: Place, message: String },
    /// A construct envsync does not model; what it decides is not known.
    Unsupported { place: Place, what: String },
    /// An `envFrom` key that is not a strict variable name (it starts with a digit): kubelets
    /// with relaxed variable names (the default since Kubernetes 1.32) keep it, older ones
    /// skip it. envsync keeps it.
    SkippedKey {
        place: Place,
        source: String,
        key: String,
    },
    /// The same object is defined twice; the later definition is used.
    Duplicate {
        object: String,
        first: Place,
        second: Place,
    },
    /// kubectl refuses a `secret_env_files` file, so the Secret cannot be created.
    EnvFileRefused {
        secret: String,
        file: Location,
        message: String,
    },
    /// kubectl reads only part of a `secret_env_files` file (a line over 64 KiB).
    EnvFileCut {
        secret: String,
        file: Location,
        message: String,
    },
}

impl Problem {
    /// Does it keep the object from being created (or the pod from starting)?
    pub fn blocks(&self) -> bool {
        matches!(
            self,
            Problem::NotAString { .. }
                | Problem::BadBase64 { .. }
                | Problem::Malformed { .. }
                | Problem::EnvFileRefused { .. }
        )
    }

    /// Where it is.
    pub fn place(&self) -> Place {
        match self {
            Problem::NotAString { place, .. }
            | Problem::BadBase64 { place, .. }
            | Problem::Malformed { place, .. }
            | Problem::Unsupported { place, .. }
            | Problem::SkippedKey { place, .. } => place.clone(),
            Problem::Duplicate { second, .. } => second.clone(),
            Problem::EnvFileRefused { file, .. } | Problem::EnvFileCut { file, .. } => Place {
                at: file.clone(),
                rendered: false,
            },
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::mask::sanitize;
        match self {
            Problem::NotAString { place, field, typed } => write!(
                f,
                "{place}: `{}` is {typed}, not a string: the API server refuses the object; quote it",
                sanitize(field)
            ),
            Problem::BadBase64 { place, secret, key } => write!(
                f,
                "{place}: Secret {} key `{}` is not base64: the API server refuses the Secret (use stringData for plain text)",
                sanitize(secret),
                sanitize(key)
            ),
            Problem::Malformed { place, message } => write!(f, "{place}: {message}"),
            Problem::Unsupported { place, what } => {
                write!(f, "{place}: envsync does not model {what}; what it sets is not known")
            }
            Problem::SkippedKey { place, source, key } => write!(
                f,
                "{place}: key `{}` of {} is not a strict variable name: kubelets before Kubernetes 1.32 skip it",
                sanitize(key),
                sanitize(source)
            ),
            Problem::Duplicate {
                object,
                first,
                second,
            } => write!(
                f,
                "{second}: {} is also defined at {first}; the later definition is used",
                sanitize(object)
            ),
            Problem::EnvFileRefused {
                secret,
                file,
                message,
            } => write!(
                f,
                "{file}: kubectl refuses this file, so Secret {} cannot be created from it: {}",
                sanitize(secret),
                sanitize(message)
            ),
            Problem::EnvFileCut {
                secret,
                file,
                message,
            } => write!(
                f,
                "{file}: Secret {}: {}",
                sanitize(secret),
                sanitize(message)
            ),
        }
    }
}

/// A Secret declared in `secret_env_files`: made by `kubectl create secret generic NAME
/// --from-env-file=FILE` in `namespace`.
#[derive(Debug, Clone)]
pub struct DeclaredSecret {
    pub namespace: String,
    pub name: String,
    /// The env file (line 1).
    pub file: Location,
    /// The file as kubectl reads it.
    pub decoded: Decoded,
}

/// A Secret both rendered (or in the manifests) and declared in `secret_env_files`: the
/// rendered object is what the pod gets, and the manual `kubectl create secret` collides with
/// it (`k8s-secret-owner`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    pub namespace: String,
    pub name: String,
    pub provider: Provider,
    pub object: Place,
    pub declared: Location,
}

/// Everything a contour deploys, as envsync read it.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The release's namespace (objects without `metadata.namespace` go there).
    pub namespace: String,
    /// Every object: the chart's (or the rendered files'), then the manifests', in order.
    pub objects: Vec<Object>,
    pub declared: Vec<DeclaredSecret>,
    /// The chart's values files (none when the objects come from `rendered`).
    pub values: values::Values,
    /// How the chart was rendered, when it was.
    pub helm: Option<helm::Run>,
    /// Duplicates, Secrets and ConfigMaps the API server would refuse, env files kubectl refuses.
    pub problems: Vec<Problem>,
    pub collisions: Vec<Collision>,
    /// Each Secret and ConfigMap's keys, as the kubelet reads them.
    pub sources: env::Sources,
}

impl Cluster {
    /// The object of `kind` named `name` in `namespace` (the last definition).
    pub fn find(&self, kind: RefKind, namespace: &str, name: &str) -> Option<&Object> {
        self.objects
            .iter()
            .rev()
            .find(|o| o.kind == kind.kind() && o.namespace == namespace && o.name == name)
    }

    /// The object a reference names (its namespace, else the release's).
    pub fn get(&self, r: &ObjectRef) -> Option<&Object> {
        self.find(r.kind, r.namespace_or(&self.namespace), &r.name)
    }

    /// Every workload (objects that run containers), as `kind/name` references.
    pub fn workloads(&self) -> Vec<ObjectRef> {
        self.objects
            .iter()
            .filter_map(|o| {
                let kind = RefKind::of_kind(&o.kind).filter(|k| k.is_workload())?;
                Some(ObjectRef {
                    namespace: (o.namespace != self.namespace).then(|| o.namespace.clone()),
                    kind,
                    name: o.name.clone(),
                })
            })
            .collect()
    }

    /// The effective environment of `container` (or the workload's only or default
    /// container) of the workload `r`.
    pub fn env(&self, r: &ObjectRef, container: Option<&str>) -> Result<WorkloadEnv, K8sError> {
        env::compute(self, r, container)
    }
}

/// Reads a file of a repo: `Ok(None)` when it does not exist, `Err` with the reason it cannot
/// be read.
pub type ReadFile<'a> = dyn Fn(Repo, &str) -> Result<Option<Vec<u8>>, String> + 'a;

/// What [`load`] reads, all paths relative to their repo.
pub struct Input<'a> {
    /// For messages: `[contours.NAME.kubernetes]`.
    pub contour: &'a str,
    pub namespace: &'a str,
    pub chart: Option<Chart<'a>>,
    pub rendered: &'a [(Repo, String)],
    pub manifests: &'a [(Repo, String)],
    /// `(namespace, name, repo, file)` of each Secret made from an env file.
    pub secret_env_files: &'a [(String, String, Repo, String)],
    /// Reads a file of a repo: `Ok(None)` when it does not exist.
    pub read: &'a ReadFile<'a>,
    /// Where a bare `KEY` of an env file is looked up (kubectl's environment).
    pub env: Env,
    /// The masking policy; what helm prints is scrubbed with it, and with the values of secret
    /// keys read here (values files, `--set`, env files).
    pub mask: &'a Mask,
}

impl fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("contour", &self.contour)
            .field("namespace", &self.namespace)
            .field("chart", &self.chart)
            .field("rendered", &self.rendered)
            .field("manifests", &self.manifests)
            .field("secret_env_files", &self.secret_env_files)
            .finish_non_exhaustive()
    }
}

/// The chart to render.
#[derive(Debug)]
pub struct Chart<'a> {
    /// The `helm` program.
    pub helm: &'a str,
    pub release: &'a str,
    pub repo: Repo,
    /// The chart directory, relative to the repo.
    pub path: &'a str,
    /// Where the repo's files are on disk for Helm: the working tree, or a private copy of
    /// the chart (and its values files) made from a revision or the index.
    pub disk_root: &'a Path,
    /// Values files: as configured (relative to the chart), and relative to the repo.
    pub values: &'a [(String, String)],
    pub set: &'a [String],
}

/// Render, read and parse everything a contour deploys.
pub fn load(input: &Input<'_>) -> Result<Cluster, K8sError> {
    start(input)?.finish(input)
}

/// A contour's load with its `helm template` running: [`Started::finish`] completes it. Start
/// several contours before finishing any, and their charts render at once.
#[derive(Debug)]
pub struct Started {
    mask: Mask,
    declared: Vec<DeclaredSecret>,
    values: values::Values,
    helm: Option<helm::Running>,
}

/// A file of `input`'s repos; a missing one is an error naming what it was for.
fn read_file(
    input: &Input<'_>,
    repo: Repo,
    file: &str,
    what: &'static str,
) -> Result<Vec<u8>, K8sError> {
    match (input.read)(repo, file) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(K8sError::Missing {
            contour: input.contour.to_string(),
            what,
            repo,
            file: file.to_string(),
        }),
        Err(message) => Err(K8sError::Unreadable {
            repo,
            file: file.to_string(),
            message,
        }),
    }
}

/// The file's text; invalid UTF-8 is an error at its line.
fn utf8(repo: Repo, file: &str, bytes: Vec<u8>) -> Result<String, K8sError> {
    String::from_utf8(bytes).map_err(|e| K8sError::Yaml {
        place: Place {
            at: Location {
                repo,
                file: file.to_string(),
                line: 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count(),
            },
            rendered: false,
        },
        message: "invalid UTF-8".into(),
    })
}

/// What [`load`] does up to Helm: the env files of `secret_env_files` and the values files read
/// (and their secrets learned), then `helm template` started.
pub fn start(input: &Input<'_>) -> Result<Started, K8sError> {
    // What helm may print is scrubbed of every secret read here.
    let mut mask = input.mask.clone();
    let mut declared = Vec::new();
    for (namespace, name, repo, file) in input.secret_env_files {
        let bytes = read_file(input, *repo, file, "secret_env_files file")?;
        let decoded = Dialect::KubectlEnvFile.decode(&bytes, &|n| input.env.lookup(n));
        mask.learn(
            decoded
                .assignments
                .iter()
                .map(|a| (a.key.as_str(), a.value.as_str())),
        );
        declared.push(DeclaredSecret {
            namespace: namespace.clone(),
            name: name.clone(),
            file: Location {
                repo: *repo,
                file: file.clone(),
                line: 1,
            },
            decoded,
        });
    }
    let mut values = values::Values::default();
    let mut running = None;
    if let Some(chart) = &input.chart {
        let mut files = Vec::new();
        for (_, file) in chart.values {
            let bytes = read_file(input, chart.repo, file, "values file")?;
            files.push((chart.repo, file.clone(), utf8(chart.repo, file, bytes)?));
        }
        values = values::Values::parse(files, chart.set)?;
        values.learn_secrets(&mut mask);
        let dir = chart.disk_root.join(chart.path);
        let shown = |v: &str| v.to_string();
        let template = helm::Template {
            program: chart.helm,
            release: chart.release,
            namespace: input.namespace,
            contour: input.contour,
            chart_dir: &dir,
            chart_label: format!("{}:{}", chart.repo, chart.path),
            values: chart
                .values
                .iter()
                .map(|(as_written, rel)| (chart.disk_root.join(rel), shown(as_written)))
                .collect(),
            set: chart.set,
            disk_root: chart.disk_root,
        };
        running = Some(helm::spawn(&template, &mask)?);
    }
    Ok(Started {
        mask,
        declared,
        values,
        helm: running,
    })
}

impl Started {
    /// Wait for Helm, then read the rendered files and manifests and compute the sources.
    pub fn finish(self, input: &Input<'_>) -> Result<Cluster, K8sError> {
        let Started {
            mask,
            declared,
            values,
            helm,
        } = self;
        let mut objects = Vec::new();
        let mut run = None;
        if let (Some(running), Some(chart)) = (helm, &input.chart) {
            let (out, r) = running.finish(&mask)?;
            objects.extend(objects::parse(
                &out,
                &objects::Origin::Helm {
                    repo: chart.repo,
                    chart: chart.path,
                },
                input.namespace,
            )?);
            run = Some(r);
        }
        finish(input, objects, declared, values, run)
    }
}

fn finish(
    input: &Input<'_>,
    mut objects: Vec<Object>,
    declared: Vec<DeclaredSecret>,
    values: values::Values,
    run: Option<helm::Run>,
) -> Result<Cluster, K8sError> {
    for (list, provider, what) in [
        (input.rendered, Provider::Rendered, "rendered file"),
        (input.manifests, Provider::Manifest, "manifest"),
    ] {
        for (repo, file) in list {
            let bytes = read_file(input, *repo, file, what)?;
            let t = utf8(*repo, file, bytes)?;
            objects.extend(objects::parse(
                &t,
                &objects::Origin::File {
                    repo: *repo,
                    file,
                    provider,
                },
                input.namespace,
            )?);
        }
    }
    // An object defined twice: the later definition is the one applied last. (Hashed: a
    // rendered file of many small objects stays linear.)
    let mut problems = Vec::new();
    let mut seen: rustc_hash::FxHashMap<(&str, &str, &str), usize> = Default::default();
    for (i, o) in objects.iter().enumerate() {
        let id = (o.kind.as_str(), o.namespace.as_str(), o.name.as_str());
        if let Some(first) = seen.insert(id, i) {
            problems.push(Problem::Duplicate {
                object: format!("{} in namespace {}", o.label(), o.namespace),
                first: objects[first].at(),
                second: o.at(),
            });
        }
    }
    let (sources, more, collisions) = env::Sources::build(&objects, &declared);
    problems.extend(more);
    Ok(Cluster {
        namespace: input.namespace.to_string(),
        objects,
        declared,
        values,
        helm: run,
        problems,
        collisions,
        sources,
    })
}

/// Why a contour's Kubernetes objects cannot be read (trouble: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("`{program}` was not found, so `{command}` cannot run. Install helm 3 (https://helm.sh/docs/intro/install/), point [kubernetes] helm = \"/path/to/helm\" (or ENVSYNC_HELM) at it, or render the chart elsewhere and list the output in [contours.{contour}.kubernetes] rendered = [...]")]
    HelmMissing {
        program: String,
        command: String,
        contour: String,
    },
    #[error("`{command}` failed: {message}\nFix the chart or its values, or render it elsewhere and list the output in [contours.{contour}.kubernetes] rendered = [...]")]
    HelmFailed {
        command: String,
        message: String,
        contour: String,
    },
    #[error("`{command}` did not finish within {secs} s and was stopped; check the chart for a template that never ends, or use [contours.{contour}.kubernetes] rendered = [...]")]
    HelmTimeout {
        command: String,
        secs: u64,
        contour: String,
    },
    #[error("`{command}`: {message}")]
    HelmOutput { command: String, message: String },
    #[error("{repo} {path}: {message}")]
    Chart {
        repo: Repo,
        path: String,
        message: String,
    },
    #[error("[contours.{contour}.kubernetes]: the {what} {repo}:{file} does not exist; fix the path (relative to the repo, or to the chart for values)")]
    Missing {
        contour: String,
        what: &'static str,
        repo: Repo,
        file: String,
    },
    #[error("cannot read {repo} {file}: {message}")]
    Unreadable {
        repo: Repo,
        file: String,
        message: String,
    },
    #[error("{place}: not YAML Kubernetes can read: {message}")]
    Yaml { place: Place, message: String },
    #[error("{place}: {message}")]
    Object { place: Place, message: String },
    #[error("no {workload} in namespace {namespace}; the workloads are: {}. Name one of them (workload = \"KIND/NAME\" in the contour's kubernetes table, or --workload)", listed(known))]
    NoWorkload {
        workload: String,
        namespace: String,
        known: Vec<String>,
    },
    #[error("{place}: {workload}: {message}")]
    Container {
        place: Place,
        workload: String,
        message: String,
    },
}

/// At most 20 names, for a message.
fn listed(names: &[String]) -> String {
    match names.len() {
        0 => "none".to_string(),
        n if n > 20 => format!("{}, … ({n} in all)", names[..20].join(", ")),
        _ => names.join(", "),
    }
}

#[cfg(test)]
mod tests;
