//! A contour's Kubernetes objects and its api workload's environment, read through the
//! workspace's sources ([`Workspace::kubernetes`]).
//!
//! Files are read from the sources like every other file (working tree, revision, index,
//! remote). Helm needs the chart on disk: a working tree's chart directory is used where it
//! is, after [`crate::k8s::chart::check_dir`]; a chart read from a revision, the index or a
//! remote is copied out of git into a private temporary directory (with its values files),
//! through the same regular-file and size checks every read has. Rendering happens once per
//! contour and command.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::config::Kubernetes as KubeConfig;
use crate::k8s::{self, Cluster, K8sError, WorkloadEnv};
use crate::model::{Contour, Repo};
use crate::source::Source;

use super::target::{Resolved, TargetError};
use super::{Workspace, WorkspaceError};

/// Where `migrate --via kubernetes` goes: the database URL the api workload's pod really
/// uses, and the Service (with its port) to forward to.
#[derive(Debug, Clone)]
pub struct KubeDatabase {
    /// The pod's `DATABASE_URL`, with where it comes from.
    pub resolved: Resolved,
    /// The Service's namespace: its own in `database`, else the contour's.
    pub namespace: String,
    /// `service/postgres`, as kubectl takes it.
    pub resource: String,
    /// The Service's port that the URL names, else its first; the URL's when the Service is
    /// not among the objects read.
    pub port: u16,
    /// What the pod receives, known before it starts (to learn its secrets from, for
    /// kubectl's messages).
    pub values: Vec<(String, String)>,
}

/// What a contour deploys, and what its api workload receives.
#[derive(Debug)]
pub struct Kube {
    pub config: KubeConfig,
    pub cluster: Cluster,
    /// The configured api workload's container (`workload`, `container`).
    pub api: WorkloadEnv,
    /// The container of the workload behind the `database` Service (the one whose pod
    /// template's labels the Service selects), when there is one.
    pub db: Option<WorkloadEnv>,
}

/// The workload the `database` Service selects, and its (only or default) container.
fn db_workload(cluster: &Cluster, cfg: &KubeConfig) -> Option<WorkloadEnv> {
    let service = cluster.get(cfg.database.as_ref()?)?;
    let selector = service.node.get("spec")?.get("selector")?.as_map()?;
    if selector.is_empty() {
        return None;
    }
    cluster.workloads().into_iter().find_map(|w| {
        let o = cluster
            .get(&w)
            .filter(|o| o.namespace == service.namespace)?;
        let labels = match w.kind {
            k8s::RefKind::Pod => o.node.get("metadata"),
            k8s::RefKind::CronJob => None,
            _ => o.node.get("spec")?.get("template")?.get("metadata"),
        }?
        .get("labels")?;
        let selected = selector.iter().all(|(k, v)| {
            k.as_str()
                .and_then(|k| labels.get(k))
                .and_then(|l| l.as_str())
                .is_some_and(|l| Some(l) == v.as_str())
        });
        selected.then(|| cluster.env(&w, None).ok()).flatten()
    })
}

/// Copy the chart directory `chart` and the values files of `source` into `into`, mirroring
/// their paths in the repo.
fn materialize(
    source: &Source,
    repo: Repo,
    chart: &str,
    values: &[(String, String)],
    into: &Path,
) -> Result<(), WorkspaceError> {
    let err = |path: &str, message: String| K8sError::Chart {
        repo,
        path: path.to_string(),
        message,
    };
    let files = source.list(chart)?;
    if files.len() >= crate::source::MAX_LISTED {
        return Err(err(
            chart,
            format!(
                "more than {} files; envsync refuses such a chart",
                crate::source::MAX_LISTED
            ),
        )
        .into());
    }
    if !files.iter().any(|f| f == &format!("{chart}/Chart.yaml")) {
        return Err(err(
            chart,
            format!("no Chart.yaml in it in {source}: not a Helm chart"),
        )
        .into());
    }
    let wanted = files.iter().chain(values.iter().map(|(_, rel)| rel));
    for rel in wanted {
        let Some(bytes) = source.read(rel)? else {
            continue;
        };
        let dest = into.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| err(rel, format!("cannot copy it out of git: {e}")))?;
        }
        std::fs::write(&dest, bytes)
            .map_err(|e| err(rel, format!("cannot copy it out of git: {e}")))?;
    }
    Ok(())
}

impl Workspace {
    /// `migrate --via kubernetes`'s target for `contour`: the api workload's `DATABASE_URL`
    /// and the db Service. Renders the chart like `check` does (no cluster is contacted).
    pub fn kube_database(&self, contour: &Contour) -> Result<KubeDatabase, TargetError> {
        let kube = self
            .kubernetes(contour)?
            .ok_or_else(|| TargetError::NoKubernetes {
                contour: contour.name.clone(),
            })?;
        let cfg = &kube.config;
        let database = cfg
            .database
            .as_ref()
            .ok_or_else(|| TargetError::NoKubeDatabase {
                contour: contour.name.clone(),
            })?;
        let key = self.config.rules.database_url.key.as_str();
        let workload = kube.api.label();
        let pod_url = |why: String| TargetError::PodUrl {
            key: key.to_string(),
            workload: workload.clone(),
            why,
        };
        let var = kube
            .api
            .vars
            .get(key)
            .ok_or_else(|| pod_url("is not in its environment".into()))?;
        let origin = {
            let at = var
                .at
                .as_ref()
                .map(|p| format!(", {p}"))
                .unwrap_or_default();
            format!("{key} of {workload} ({}{at})", var.from)
        };
        let value = match &var.value {
            k8s::Value::Known(v) => v,
            k8s::Value::Cluster(what) => {
                return Err(pod_url(format!("is set by the cluster ({what})")))
            }
        };
        let resolved = Resolved::given(value, &origin)?;
        let namespace = database.namespace_or(&cfg.namespace).to_string();
        let url_port = resolved.url.port_or_default();
        let port = match self.kube_service(&kube, database, &namespace) {
            Some(ports) if !ports.is_empty() && !ports.contains(&url_port) => ports[0],
            _ => url_port,
        };
        let values = kube
            .api
            .vars
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.value.known()?.to_string())))
            .collect();
        Ok(KubeDatabase {
            resolved,
            namespace,
            resource: format!("{}/{}", database.kind, database.name),
            port,
            values,
        })
    }

    /// The ports of the `database` object, when it is a Service among the objects read.
    fn kube_service(&self, kube: &Kube, database: &k8s::ObjectRef, ns: &str) -> Option<Vec<u16>> {
        (database.kind == k8s::RefKind::Service)
            .then(|| kube.cluster.find(k8s::RefKind::Service, ns, &database.name))
            .flatten()
            .map(k8s::Object::service_ports)
    }

    /// The contour's Kubernetes objects and api environment; `None` when the contour has no
    /// `[contours.C.kubernetes]` table. Rendered once per contour.
    pub fn kubernetes(&self, contour: &Contour) -> Result<Option<Rc<Kube>>, WorkspaceError> {
        self.kubernetes_all(&[contour])?;
        Ok(self.kube_cache.borrow().get(&contour.name).cloned())
    }

    /// Render the charts of `contours` at once: every contour's `helm template` is started
    /// before the first is waited for, so three contours cost about one render on a machine
    /// with the cores for it. The first error (in `contours`' order) is returned; Helm runs
    /// still going are stopped.
    pub fn kubernetes_all(&self, contours: &[&Contour]) -> Result<(), WorkspaceError> {
        let mut prepared = Vec::new();
        for c in contours {
            let Some(cfg) = self.config.kubernetes(c) else {
                continue;
            };
            if self.kube_cache.borrow().contains_key(&c.name)
                || prepared.iter().any(|p: &Prepared| p.contour == c.name)
            {
                continue;
            }
            prepared.push(self.prepare(c, cfg)?);
        }
        let read = |repo: Repo, path: &str| -> Result<Option<Vec<u8>>, String> {
            self.source(repo)
                .map_err(|e| e.to_string())?
                .read(path)
                .map_err(|e| e.to_string())
        };
        let mask = self.config.rules.mask(false);
        let inputs: Vec<k8s::Input<'_>> = prepared
            .iter()
            .map(|p| p.input(&self.config.kube_tools.helm, &read, self.env, &mask))
            .collect();
        let mut started = Vec::with_capacity(inputs.len());
        for input in &inputs {
            started.push(k8s::start(input)?);
        }
        for ((p, input), st) in prepared.iter().zip(&inputs).zip(started) {
            let cluster = st.finish(input)?;
            let api = cluster.env(&p.cfg.workload, p.cfg.container.as_deref())?;
            let db = db_workload(&cluster, &p.cfg);
            let kube = Rc::new(Kube {
                config: p.cfg.clone(),
                cluster,
                api,
                db,
            });
            self.kube_cache.borrow_mut().insert(p.contour.clone(), kube);
        }
        Ok(())
    }

    /// What rendering `contour` needs on disk and from the configuration.
    fn prepare(&self, contour: &Contour, cfg: &KubeConfig) -> Result<Prepared, WorkspaceError> {
        // The chart on disk for Helm: where it is, or a private copy.
        let mut copy: Option<tempfile::TempDir> = None;
        let mut disk_root = PathBuf::new();
        if let Some(chart) = &cfg.chart {
            let source = self.source(chart.repo)?;
            match source.work_tree() {
                Some(root) => {
                    k8s::chart::check_dir(chart.repo, root, &chart.path)?;
                    // Values files outside the chart directory: Helm reads them too.
                    for (_, rel) in &cfg.values {
                        k8s::chart::check_file(chart.repo, root, rel)?;
                    }
                    disk_root = root.to_path_buf();
                }
                None => {
                    let dir = tempfile::Builder::new()
                        .prefix("envsync-chart-")
                        .tempdir()
                        .map_err(|e| K8sError::Chart {
                            repo: chart.repo,
                            path: chart.path.clone(),
                            message: format!(
                                "cannot make a temporary directory to render it in: {e}"
                            ),
                        })?;
                    materialize(source, chart.repo, &chart.path, &cfg.values, dir.path())?;
                    disk_root = dir.path().to_path_buf();
                    copy = Some(dir);
                }
            }
        }
        let pairs = |v: &[crate::config::RepoPath]| -> Vec<(Repo, String)> {
            v.iter().map(|p| (p.repo, p.path.clone())).collect()
        };
        Ok(Prepared {
            contour: contour.name.clone(),
            cfg: cfg.clone(),
            disk_root,
            _copy: copy,
            rendered: pairs(&cfg.rendered),
            manifests: pairs(&cfg.manifests),
            secret_env_files: cfg
                .secret_env_files
                .iter()
                .map(|(ns, name, p)| (ns.clone(), name.clone(), p.repo, p.path.clone()))
                .collect(),
        })
    }
}

/// One contour's rendering, prepared: what [`k8s::Input`] borrows.
struct Prepared {
    contour: String,
    cfg: KubeConfig,
    disk_root: PathBuf,
    /// The private copy of a chart read from git, removed when rendering is over.
    _copy: Option<tempfile::TempDir>,
    rendered: Vec<(Repo, String)>,
    manifests: Vec<(Repo, String)>,
    secret_env_files: Vec<(String, String, Repo, String)>,
}

impl Prepared {
    fn input<'a>(
        &'a self,
        helm: &'a str,
        read: &'a k8s::ReadFile<'a>,
        env: crate::dialect::Env,
        mask: &'a crate::mask::Mask,
    ) -> k8s::Input<'a> {
        let cfg = &self.cfg;
        k8s::Input {
            contour: &self.contour,
            namespace: &cfg.namespace,
            chart: cfg.chart.as_ref().map(|c| k8s::Chart {
                helm,
                release: cfg.release.as_deref().unwrap_or_default(),
                repo: c.repo,
                path: &c.path,
                disk_root: &self.disk_root,
                values: &cfg.values,
                set: &cfg.set,
            }),
            rendered: &self.rendered,
            manifests: &self.manifests,
            secret_env_files: &self.secret_env_files,
            read,
            env,
            mask,
        }
    }
}
