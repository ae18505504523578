//! `[contours.C.kubernetes]` and `[kubernetes]` in `envsync.toml`: where a contour's cluster
//! objects come from (a chart rendered with `helm template`, already-rendered YAML, plain
//! manifests, Secrets made from env files) and which workload is the api.
//!
//! Validated once, with errors at the file and line of the key: names as the API server
//! accepts them, paths inside their repository (`repo:path`; values files relative to the
//! chart), a chart or rendered files but not both. What the GPROD preset can tell from a
//! backend's files ([`suggest`]) is written commented by `envsync init`: no table is assumed,
//! since the namespace and the out-of-band Secrets are not in the repository. Without a table
//! envsync reads no Kubernetes objects at all.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::k8s::refs::{check_name, check_namespace, ObjectRef, RefKind};
use crate::model::{Contour, Repo};

use super::tomlfile::{Located, TomlText};

/// A file or directory of a repo: `backend:helm/gprod-backend`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPath {
    pub repo: Repo,
    /// Relative to the repo root, normalised (`a/./b` is `a/b`).
    pub path: String,
}

impl RepoPath {
    /// `repo:path`, or a bare path in the backend repo (where charts live).
    pub fn parse(s: &str) -> Result<RepoPath, String> {
        let (repo, path) = match s.split_once(':') {
            Some(("backend", p)) => (Repo::Backend, p),
            Some(("infra", p)) => (Repo::Infra, p),
            Some((r, _)) => {
                return Err(format!(
                    "`{}` is not a repo: write backend:PATH or infra:PATH",
                    crate::mask::sanitize(r)
                ))
            }
            None => (Repo::Backend, s),
        };
        let path = crate::source::normalize(Path::new(path)).ok_or_else(|| {
            format!(
                "`{}` is outside the {repo} repository; name it relative to the repo root",
                crate::mask::sanitize(path)
            )
        })?;
        if path.is_empty() {
            return Err("an empty path".into());
        }
        Ok(RepoPath { repo, path })
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repo, self.path)
    }
}

/// `[kubernetes]`: the programs envsync runs, and the kubeconfig context of `migrate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeTools {
    /// `helm` (`ENVSYNC_HELM` overrides).
    pub helm: String,
    /// `kubectl` (`ENVSYNC_KUBECTL` overrides).
    pub kubectl: String,
    /// `None`: kubectl's current context.
    pub context: Option<String>,
}

impl Default for KubeTools {
    fn default() -> Self {
        KubeTools {
            helm: "helm".into(),
            kubectl: "kubectl".into(),
            context: None,
        }
    }
}

/// `[contours.C.kubernetes]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubernetes {
    /// The release's namespace, where the api workload lives.
    pub namespace: String,
    pub release: Option<String>,
    pub chart: Option<RepoPath>,
    /// Values files in `-f` order: as written (relative to the chart), and relative to the repo.
    pub values: Vec<(String, String)>,
    pub set: Vec<String>,
    pub manifests: Vec<RepoPath>,
    pub rendered: Vec<RepoPath>,
    pub workload: ObjectRef,
    pub container: Option<String>,
    /// The database Service (`migrate --via kubernetes`, `k8s-db-host`).
    pub database: Option<ObjectRef>,
    /// `(namespace, name, file)` of each Secret made with `kubectl create secret generic NAME
    /// --from-env-file=FILE` (`NAME` in the contour's namespace, or `NS/NAME`).
    pub secret_env_files: Vec<(String, String, RepoPath)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KubernetesFile {
    namespace: Option<Spanned<String>>,
    release: Option<Spanned<String>>,
    chart: Option<Spanned<String>>,
    values: Option<Vec<Spanned<String>>>,
    set: Option<Spanned<Vec<String>>>,
    manifests: Option<Vec<Spanned<String>>>,
    rendered: Option<Vec<Spanned<String>>>,
    workload: Option<Spanned<String>>,
    container: Option<Spanned<String>>,
    database: Option<Spanned<String>>,
    secret_env_files: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ToolsFile {
    helm: Option<Spanned<String>>,
    kubectl: Option<Spanned<String>>,
    context: Option<String>,
}

impl KubeTools {
    pub(super) fn apply(&mut self, file: ToolsFile, t: &TomlText<'_>) -> Result<(), Located> {
        for (over, slot, key) in [
            (file.helm, &mut self.helm, "helm"),
            (file.kubectl, &mut self.kubectl, "kubectl"),
        ] {
            if let Some(v) = over {
                if v.get_ref().trim().is_empty() {
                    return Err(t.error_for(&v, format!("kubernetes.{key} must name a program")));
                }
                *slot = v.into_inner();
            }
        }
        if let Some(c) = file.context {
            self.context = (!c.is_empty()).then_some(c);
        }
        Ok(())
    }
}

/// Validate `[contours.NAME.kubernetes]` (the table starts at `at`).
pub(super) fn validate(
    name: &str,
    at: usize,
    f: KubernetesFile,
    t: &TomlText<'_>,
) -> Result<Kubernetes, Located> {
    let key = |k: &str| format!("contours.{name}.kubernetes.{k}");
    let missing = |k: &str, example: &str| {
        t.error_at(
            at,
            format!("[contours.{name}.kubernetes] needs {k} = {example}"),
        )
    };
    let Some(ns) = f.namespace else {
        return Err(missing(
            "namespace",
            "\"…\" (where the release and the api workload live)",
        ));
    };
    check_namespace(ns.get_ref())
        .map_err(|why| t.error_for(&ns, format!("{}: {why}", key("namespace"))))?;
    let Some(w) = f.workload else {
        return Err(missing(
            "workload",
            "\"deployment/NAME\" (the api workload)",
        ));
    };
    let workload = ObjectRef::parse(w.get_ref())
        .map_err(|why| t.error_for(&w, format!("{}: {why}", key("workload"))))?;
    if !workload.kind.is_workload() {
        return Err(t.error_for(
            &w,
            format!(
                "{}: a {} runs no containers; name the api's Deployment (or StatefulSet, …)",
                key("workload"),
                workload.kind
            ),
        ));
    }
    let repo_path = |s: &Spanned<String>, k: &str| {
        RepoPath::parse(s.get_ref()).map_err(|why| t.error_for(s, format!("{}: {why}", key(k))))
    };
    let chart = f
        .chart
        .as_ref()
        .map(|c| repo_path(c, "chart"))
        .transpose()?;
    let rendered = f
        .rendered
        .iter()
        .flatten()
        .map(|r| repo_path(r, "rendered"))
        .collect::<Result<Vec<_>, _>>()?;
    let manifests = f
        .manifests
        .iter()
        .flatten()
        .map(|m| repo_path(m, "manifests"))
        .collect::<Result<Vec<_>, _>>()?;
    if let (Some(c), false) = (&f.chart, rendered.is_empty()) {
        return Err(t.error_for(
            c,
            format!("[contours.{name}.kubernetes] has both chart and rendered: envsync renders the chart, or reads what was rendered, not both"),
        ));
    }
    if chart.is_none() && rendered.is_empty() && manifests.is_empty() {
        return Err(t.error_at(
            at,
            format!("[contours.{name}.kubernetes] needs chart = \"backend:helm/NAME\", rendered = [...] or manifests = [...]"),
        ));
    }
    let release = match (&chart, f.release) {
        (Some(_), None) => {
            return Err(missing(
                "release",
                "\"…\" (the name of `helm upgrade --install NAME`)",
            ))
        }
        (_, Some(r)) => {
            check_name(r.get_ref())
                .ok()
                .filter(|_| r.get_ref().len() <= 53 && !r.get_ref().contains('.'))
                .ok_or_else(|| {
                    t.error_for(
                        &r,
                        format!("{}: a Helm release name is lower-case letters, digits and `-`, at most 53 characters", key("release")),
                    )
                })?;
            Some(r.into_inner())
        }
        (None, None) => None,
    };
    let mut values = Vec::new();
    for v in f.values.iter().flatten() {
        let Some(c) = &chart else {
            return Err(t.error_for(
                v,
                format!(
                    "{}: values are read by helm: set chart too (or drop values)",
                    key("values")
                ),
            ));
        };
        let rel = crate::source::normalize(&Path::new(&c.path).join(v.get_ref()))
            .filter(|_| !Path::new(v.get_ref()).is_absolute())
            .ok_or_else(|| {
                t.error_for(
                    v,
                    format!("{}: `{}` is outside the {} repository; name values files relative to the chart", key("values"), crate::mask::sanitize(v.get_ref()), c.repo),
                )
            })?;
        values.push((v.get_ref().clone(), rel));
    }
    let set = match f.set {
        Some(s) if chart.is_none() => {
            return Err(t.error_for(
                &s,
                format!("{}: --set is helm's: set chart too", key("set")),
            ))
        }
        Some(s) => {
            if s.get_ref().iter().any(String::is_empty) {
                return Err(t.error_for(&s, format!("{}: an empty --set string", key("set"))));
            }
            s.into_inner()
        }
        None => Vec::new(),
    };
    let container = match f.container {
        Some(c) if c.get_ref().is_empty() => {
            return Err(t.error_for(&c, format!("{}: an empty container name", key("container"))))
        }
        c => c.map(Spanned::into_inner),
    };
    let database = match f.database {
        Some(d) => {
            let r = ObjectRef::parse(d.get_ref())
                .map_err(|why| t.error_for(&d, format!("{}: {why}", key("database"))))?;
            if r.kind != RefKind::Service {
                return Err(t.error_for(
                    &d,
                    format!(
                        "{}: name the database's Service (service/NAME or NS/service/NAME)",
                        key("database")
                    ),
                ));
            }
            Some(r)
        }
        None => None,
    };
    let mut secret_env_files = Vec::new();
    for (secret, file) in f.secret_env_files.unwrap_or_default() {
        let (sns, sname) = match secret.get_ref().split_once('/') {
            Some((n, s)) => (n.to_string(), s.to_string()),
            None => (ns.get_ref().clone(), secret.get_ref().clone()),
        };
        check_namespace(&sns)
            .and_then(|()| check_name(&sname))
            .map_err(|why| {
                t.error_for(
                    &secret,
                    format!(
                        "{}: `{}` is not a Secret name (NAME or NAMESPACE/NAME): {why}",
                        key("secret_env_files"),
                        crate::mask::sanitize(secret.get_ref())
                    ),
                )
            })?;
        secret_env_files.push((sns, sname, repo_path(&file, "secret_env_files")?));
    }
    Ok(Kubernetes {
        namespace: ns.into_inner(),
        release,
        chart,
        values,
        set,
        manifests,
        rendered,
        workload,
        container,
        database,
        secret_env_files,
    })
}

/// What the GPROD preset can tell from a backend's files: a chart at `helm/*/Chart.yaml`, its
/// values files per contour (`values.yaml`, then `values-<contour or alias>.yaml`), the
/// manifests beside it (`helm/*.yaml`). Written commented by `envsync init`; `None` when
/// there is no chart.
pub fn suggest(backend: &Path, contours: &[Contour]) -> Option<String> {
    let helm = backend.join("helm");
    let mut charts: Vec<String> = std::fs::read_dir(&helm)
        .ok()?
        .flatten()
        .filter(|e| e.path().join("Chart.yaml").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    charts.sort();
    let dir = charts.first()?.clone();
    let chart_dir = helm.join(&dir);
    // The chart's own name (`name:` in Chart.yaml), else its directory's.
    let name = std::fs::read_to_string(chart_dir.join("Chart.yaml"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("name:"))
                .map(|n| n.trim().trim_matches(['"', '\'']).to_string())
        })
        .filter(|n| check_name(n).is_ok())
        .unwrap_or_else(|| dir.clone());
    let mut manifests: Vec<String> = std::fs::read_dir(&helm)
        .ok()?
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .map(|n| format!("\"backend:helm/{n}\""))
        .collect();
    manifests.sort();
    let quoted = |v: &[String]| v.join(", ");
    let mut out = format!(
        "# Kubernetes: envsync found the chart backend:helm/{dir} (Chart.yaml name `{name}`). What\n\
         # follows is read from the files (chart, values files per contour, manifests in helm/) or\n\
         # assumed (release = the chart's name, workload = deployment/<release>); the namespace and\n\
         # the Secrets made by hand are not in the repository. Review, then uncomment.\n\
         # [kubernetes]\n\
         # helm = \"helm\"                   # also ENVSYNC_HELM\n\
         # kubectl = \"kubectl\"             # also ENVSYNC_KUBECTL\n"
    );
    if charts.len() > 1 {
        out.push_str(&format!(
            "# Other charts in helm/: {}\n",
            charts[1..].join(", ")
        ));
    }
    for c in contours {
        let mut values = Vec::new();
        if chart_dir.join("values.yaml").is_file() {
            values.push("\"values.yaml\"".to_string());
        }
        if let Some(v) = c
            .names()
            .map(|n| format!("values-{n}.yaml"))
            .find(|v| chart_dir.join(v).is_file())
        {
            values.push(format!("\"{v}\""));
        }
        out.push_str(&format!(
            "#\n# [contours.{}.kubernetes]\n\
             # namespace = \"default\"           # not in the repository: your `helm upgrade --namespace`\n\
             # release = \"{name}\"\n\
             # chart = \"backend:helm/{dir}\"\n\
             # values = [{}]\n\
             # manifests = [{}]\n\
             # workload = \"deployment/{name}\"\n\
             # database = \"service/postgres\"   # or \"NAMESPACE/service/NAME\"\n\
             # secret_env_files = {{ }}          # {{ \"SECRET\" = \"backend:.env.{}\" }} for `kubectl create secret generic SECRET --from-env-file=…`\n",
            c.name,
            quoted(&values),
            quoted(&manifests),
            c.name,
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn load(text: &str) -> Result<Config, super::super::ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("envsync.toml");
        std::fs::write(&p, text).unwrap();
        Config::load(Some(&p), dir.path())
    }

    const GPROD: &str = "[contours.dev.kubernetes]\nnamespace = \"gprod\"\nrelease = \"gprod-backend\"\nchart = \"backend:helm/gprod-backend\"\nvalues = [\"values.yaml\", \"values-dev.yaml\"]\nset = [\"image.tag=1.4.2\"]\nmanifests = [\"backend:helm/db-manifests.yaml\"]\nworkload = \"deployment/gprod-backend\"\ndatabase = \"develop-gprod/service/postgres\"\nsecret_env_files = { \"gprod-backend-env\" = \"backend:.env.dev\", \"develop-gprod/pg\" = \"infra:.env.dev\" }\n\n[kubernetes]\nhelm = \"/opt/helm\"\ncontext = \"\"\n";

    #[test]
    fn the_contract_example_is_read() {
        let c = load(GPROD).unwrap();
        let k = c.kubernetes(c.contour("development").unwrap()).unwrap();
        assert_eq!(k.namespace, "gprod");
        assert_eq!(
            k.chart.as_ref().unwrap().to_string(),
            "backend:helm/gprod-backend"
        );
        assert_eq!(
            k.values[1],
            (
                "values-dev.yaml".to_string(),
                "helm/gprod-backend/values-dev.yaml".to_string()
            )
        );
        assert_eq!(k.workload.to_string(), "deployment/gprod-backend");
        assert_eq!(
            k.database.as_ref().unwrap().namespace_or("gprod"),
            "develop-gprod"
        );
        assert_eq!(
            k.secret_env_files,
            [
                (
                    "develop-gprod".to_string(),
                    "pg".to_string(),
                    RepoPath {
                        repo: Repo::Infra,
                        path: ".env.dev".into()
                    }
                ),
                (
                    "gprod".to_string(),
                    "gprod-backend-env".to_string(),
                    RepoPath {
                        repo: Repo::Backend,
                        path: ".env.dev".into()
                    }
                ),
            ]
        );
        assert_eq!(c.kube_tools.helm, "/opt/helm");
        assert_eq!(c.kube_tools.kubectl, "kubectl");
        assert_eq!(c.kube_tools.context, None);
        assert!(c.kubernetes(c.contour("prod").unwrap()).is_none());
        // Without the tables, nothing.
        let plain = load("").unwrap();
        assert!(plain
            .contours
            .iter()
            .all(|ct| plain.kubernetes(ct).is_none()));
    }

    #[test]
    fn mistakes_name_the_file_line_and_key() {
        for (text, line, needle) in [
            ("[contours.dev.kubernetes]\nnamespace = \"gprod\"\nworkload = \"deployment/x\"\nchrat = \"a\"\n", 4, "chrat"),
            ("\n[contours.dev.kubernetes]\nworkload = \"deployment/x\"\nmanifests = [\"m.yaml\"]\n", 2, "needs namespace"),
            ("[contours.dev.kubernetes]\nnamespace = \"gprod\"\nmanifests = [\"m.yaml\"]\n", 1, "needs workload"),
            ("[contours.dev.kubernetes]\nnamespace = \"Gprod\"\n", 2, "namespace"),
            ("[contours.dev.kubernetes]\nnamespace = \"gprod\"\nworkload = \"service/x\"\nmanifests = [\"m.yaml\"]\n", 3, "runs no containers"),
            ("[contours.dev.kubernetes]\nnamespace = \"gprod\"\nworkload = \"deployment/x\"\n", 1, "needs chart"),
            ("[contours.dev.kubernetes]\nnamespace = \"gprod\"\nworkload = \"deployment/x\"\nchart = \"helm/c\"\n", 1, "needs release"),
            ("[contours.dev.kubernetes]\nnamespace = \"gprod\"\nworkload = \"deployment/x\"\nrelease = \"r\"\nchart = \"helm/c\"\nrendered = [\"out.yaml\"]\n", 5, "both chart and rendered"),
            ("[contours.dev.kubernetes]\nnamespace = \"gprod\"\nworkload = \"deployment/x\"\nmanifests = [\"../../etc/m.yaml\"]\n", 4, "outside the backend repository"),
            ("[contours.dev.kubernetes]\nnamespace = \"gprod\"\nworkload = \"deployment/x\"\nmanifests = [\"ops:m.yaml\"]\n", 4, "not a repo"),
            ("[contours.dev.kubernetes]\nnamespace = \"gprod\"\nworkload = \"deployment/x\"\nrelease = \"r\"\nchart = \"helm/c\"\nvalues = [\"v.yaml\", \"../../../x.yaml\"]\n", 6, "relative to the chart"),
            ("[contours.dev.kubernetes]\nnamespace = \"gprod\"\nworkload = \"deployment/x\"\nmanifests = [\"m.yaml\"]\nvalues = [\"v.yaml\"]\n", 5, "set chart too"),
            ("[contours.dev.kubernetes]\nnamespace = \"gprod\"\nworkload = \"deployment/x\"\nmanifests = [\"m.yaml\"]\ndatabase = \"deployment/db\"\n", 5, "Service"),
            ("[contours.dev.kubernetes]\nnamespace = \"gprod\"\nworkload = \"deployment/x\"\nmanifests = [\"m.yaml\"]\nsecret_env_files = { \"A_B\" = \".env\" }\n", 5, "not a Secret name"),
            ("[contours.dev.kubernetes]\nnamespace = \"gprod\"\nworkload = \"deployment/x\"\nrelease = \"--post-renderer=x\"\nchart = \"helm/c\"\n", 4, "release name"),
            ("[kubernetes]\nhelm = \"\"\n", 2, "must name a program"),
            ("[kubernetes]\nhelm = \"h\"\nkubeconfig = \"x\"\n", 3, "kubeconfig"),
        ] {
            let e = load(text).unwrap_err().to_string();
            assert!(e.contains(&format!("envsync.toml:{line}:")), "{text:?}: {e}");
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn paths_are_normalised_inside_their_repo() {
        assert_eq!(
            RepoPath::parse("infra:./k8s/../k8s/a.yaml").unwrap().path,
            "k8s/a.yaml"
        );
        assert_eq!(RepoPath::parse("helm/x").unwrap().repo, Repo::Backend);
        assert!(RepoPath::parse("backend:/etc/passwd").is_err());
        assert!(RepoPath::parse("backend:").is_err());
    }

    #[test]
    fn the_preset_suggests_what_the_files_say() {
        let d = tempfile::tempdir().unwrap();
        assert!(suggest(d.path(), &Config::preset().contours).is_none());
        let chart = d.path().join("helm/gprod-backend");
        std::fs::create_dir_all(&chart).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            "apiVersion: v2\nname: gprod-backend\nversion: 0.1.0\n",
        )
        .unwrap();
        for f in ["values.yaml", "values-dev.yaml", "values-production.yaml"] {
            std::fs::write(chart.join(f), "").unwrap();
        }
        std::fs::write(d.path().join("helm/db-manifests.yaml"), "").unwrap();
        let s = suggest(d.path(), &Config::preset().contours).unwrap();
        assert!(
            s.contains("# values = [\"values.yaml\", \"values-dev.yaml\"]"),
            "{s}"
        );
        assert!(
            s.contains("# values = [\"values.yaml\", \"values-production.yaml\"]"),
            "{s}"
        );
        assert!(s.contains("# values = [\"values.yaml\"]\n"), "{s}");
        assert!(
            s.contains("# manifests = [\"backend:helm/db-manifests.yaml\"]"),
            "{s}"
        );
        assert!(
            s.contains("# workload = \"deployment/gprod-backend\""),
            "{s}"
        );
        // Every line is a comment, and uncommented it is a valid configuration.
        assert!(s.lines().all(|l| l.starts_with('#')));
        let is_key = |l: &str| {
            l.strip_prefix("# ")
                .and_then(|r| r.split_once(" = "))
                .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        };
        let uncommented: String = s
            .lines()
            .filter(|l| l.starts_with("# [") || is_key(l))
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        let c = load(&uncommented).unwrap();
        assert_eq!(
            c.kubernetes(c.contour("stage").unwrap())
                .unwrap()
                .values
                .len(),
            1
        );
    }
}
