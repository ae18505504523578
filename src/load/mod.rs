//! The one way into the repos: the workspace holds the configuration and the two sources
//! (working tree, revision, index or remote), and finds and decodes each contour's env files,
//! its compose project and nginx files ([`files`]), its Kubernetes objects and api workload
//! ([`kube`]), and the database target ([`target`]).
//! Every command gets its files through it; a repo is opened when first needed, so `migrate`
//! works from the backend alone.

pub mod files;
pub mod kube;
pub mod target;

use std::cell::OnceCell;
use std::path::PathBuf;

pub use files::{ContourFiles, LoadedFile};
pub use kube::Kube;

use crate::config::settings::Settings;
use crate::config::{Config, ConfigError, RulesError};
use crate::dialect::{Dialect, Env};
use crate::model::{Contour, PerRepo, Repo};
use crate::source::{Source, SourceError, SourceSpec};

/// Why a workspace cannot be opened or a contour's files cannot be found.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Compose(#[from] crate::compose::ReadError),
    #[error(transparent)]
    Kubernetes(#[from] crate::k8s::K8sError),
    #[error("contour {contour}: no env file in {repo} ({source_name}); looked for {}. Create one, or set [repos.{repo}] env = [...] in envsync.toml", candidates.join(", "))]
    MissingEnvFile {
        contour: String,
        repo: Repo,
        source_name: String,
        candidates: Vec<String>,
    },
    #[error("no env files found for any contour; looked in backend {backend} and infra {infra} for {}. Pass --backend/--infra, or run `envsync init`", candidates.join(", "))]
    NoEnvFiles {
        backend: String,
        infra: String,
        candidates: Vec<String>,
    },
}

/// How to open the two sources, beyond what the settings say.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Read this repo's tracked files from the git index (`check --staged`, the hook).
    pub staged: Option<Repo>,
    /// Read this repo at a revision instead of its working tree (`[hook] other_rev`).
    pub rev: Option<(Repo, String)>,
}

/// The first of `repo`'s candidate files for `contour` that exists in `source`.
pub fn find_env(
    config: &Config,
    repo: Repo,
    source: &Source,
    contour: &Contour,
) -> Result<Option<Found>, crate::source::SourceError> {
    for (file, specific) in config.repo(repo).candidates(contour) {
        if let Some(bytes) = source.read(&file)? {
            return Ok(Some(Found {
                file,
                bytes,
                specific,
            }));
        }
    }
    Ok(None)
}

/// Everything a command needs to read both repos.
#[derive(Debug)]
pub struct Workspace {
    pub config: Config,
    /// Where each repo is, and whether to read its index (`--staged`).
    specs: PerRepo<(SourceSpec, bool)>,
    /// Each repo, opened when first needed.
    sources: PerRepo<OnceCell<Source>>,
    /// `--env-from-process`.
    pub env: Env,
    /// Compose files parsed once for all contours.
    compose_cache: crate::compose::ParseCache,
    /// Files read for the compose projects (and the env files `select` read), by repo and
    /// path: every contour reads the same base file, `.env` and nginx files.
    read_cache: ReadCache,
    /// The sources' local roots, canonicalised once (for env_files that reach the backend).
    roots: std::cell::OnceCell<(Option<PathBuf>, Option<PathBuf>)>,
    /// Each contour's Kubernetes objects, rendered once.
    kube_cache: std::cell::RefCell<rustc_hash::FxHashMap<String, std::rc::Rc<Kube>>>,
}

type ReadCache =
    std::cell::RefCell<rustc_hash::FxHashMap<(Repo, String), Result<Option<Vec<u8>>, String>>>;

/// Where a contour's file was found.
#[derive(Debug, Clone)]
pub struct Found {
    pub file: String,
    pub bytes: Vec<u8>,
    /// Found through a `{contour}` candidate (not a shared fallback like `.env`).
    pub specific: bool,
}

impl Workspace {
    /// Both repos opened now: a command that reads both fails before reading anything when
    /// one of them cannot be opened.
    pub fn open(settings: &Settings, opts: &OpenOptions) -> Result<Workspace, WorkspaceError> {
        let ws = Workspace::lazy(settings, opts);
        for repo in Repo::BOTH {
            ws.source(repo)?;
        }
        Ok(ws)
    }

    /// Each repo opened when first needed (`migrate` reads the backend alone when its
    /// `DATABASE_URL` needs nothing from infra).
    pub fn lazy(settings: &Settings, opts: &OpenOptions) -> Workspace {
        let specs = PerRepo::from_fn(|repo| {
            let mut spec = settings.sources.get(repo).clone();
            if let (Some((r, rev)), SourceSpec::Path { rev: at, .. }) = (&opts.rev, &mut spec) {
                if *r == repo {
                    *at = Some(rev.clone());
                }
            }
            (spec, opts.staged == Some(repo))
        });
        Workspace {
            config: settings.config.clone(),
            specs,
            sources: PerRepo::default(),
            env: settings.env,
            compose_cache: Default::default(),
            read_cache: Default::default(),
            roots: Default::default(),
            kube_cache: Default::default(),
        }
    }

    /// `repo`, opened on first use.
    pub fn source(&self, repo: Repo) -> Result<&Source, SourceError> {
        let cell = self.sources.get(repo);
        if let Some(s) = cell.get() {
            return Ok(s);
        }
        let (spec, staged) = self.specs.get(repo);
        let opened = Source::open(spec, repo.name(), *staged)?;
        Ok(cell.get_or_init(|| opened))
    }

    /// How messages name `repo`'s source (also when it cannot be opened).
    pub fn source_name(&self, repo: Repo) -> String {
        match self.sources.get(repo).get() {
            Some(s) => s.to_string(),
            None => self.specs.get(repo).0.to_string(),
        }
    }

    /// The first candidate that exists for `contour` in `repo`.
    pub fn find(&self, repo: Repo, contour: &Contour) -> Result<Option<Found>, WorkspaceError> {
        Ok(find_env(&self.config, repo, self.source(repo)?, contour)?)
    }

    pub fn load(&self, repo: Repo, found: &Found) -> LoadedFile {
        LoadedFile::load(
            repo,
            found.file.clone(),
            &found.bytes,
            (
                self.config.repo(repo).dialect,
                self.config.repo(repo.other()).dialect,
            ),
            self.env,
        )
    }

    /// `source(repo).read(path)`, once per path (errors as their message).
    pub(crate) fn read_once(&self, repo: Repo, path: &str) -> Result<Option<Vec<u8>>, String> {
        self.with_read(repo, path, Clone::clone)
    }

    /// `f` of what [`Workspace::read_once`] would return, without copying the bytes.
    fn with_read<T>(
        &self,
        repo: Repo,
        path: &str,
        f: impl FnOnce(&Result<Option<Vec<u8>>, String>) -> T,
    ) -> T {
        let key = (repo, path.to_string());
        if let Some(hit) = self.read_cache.borrow().get(&key) {
            return f(hit);
        }
        let got = self
            .source(repo)
            .and_then(|s| s.read(path))
            .map_err(|e| e.to_string());
        let out = f(&got);
        self.read_cache.borrow_mut().insert(key, got);
        out
    }

    /// The contour's compose files, `{contour}` expanded to the first name (or alias) whose
    /// file exists.
    pub fn compose_files(&self, contour: &Contour) -> Vec<String> {
        let mut files = Vec::new();
        for pattern in &contour.compose {
            if !pattern.contains("{contour}") {
                files.push(pattern.clone());
                continue;
            }
            let expanded: Vec<String> = contour
                .names()
                .map(|n| pattern.replace("{contour}", n))
                .collect();
            let found = expanded
                .iter()
                // A name that cannot be read is taken too: reading it says why.
                .find(|f| self.with_read(Repo::Infra, f, |r| !matches!(r, Ok(None))))
                .unwrap_or(&expanded[0]);
            files.push(found.clone());
        }
        files
    }

    /// Does any of the contour's compose files exist (is there a compose project to read)?
    pub fn has_compose(&self, contour: &Contour) -> bool {
        self.compose_files(contour)
            .iter()
            .any(|f| self.with_read(Repo::Infra, f, |r| matches!(r, Ok(Some(_)))))
    }

    /// The contour's compose project, read as `docker compose -f … config` reads it; `None`
    /// when none of its files exists.
    pub fn compose(
        &self,
        contour: &Contour,
    ) -> Result<Option<crate::compose::Project>, WorkspaceError> {
        self.compose_overlaid(contour, &|_, _| None, &|_, _| None)
    }

    /// [`Workspace::compose`] with some files replaced by `overlay` (fix re-checks its edits
    /// before writing them), and env files already decoded (`known`, see
    /// [`crate::compose::Input::known`]).
    pub fn compose_overlaid<'k>(
        &self,
        contour: &Contour,
        overlay: &dyn Fn(Repo, &str) -> Option<Vec<u8>>,
        known: &'k dyn Fn(Repo, &str) -> Option<&'k crate::dialect::Decoded>,
    ) -> Result<Option<crate::compose::Project>, WorkspaceError> {
        use crate::compose::{Lookup, Read};
        let files = self.compose_files(contour);
        let (infra_root, backend_root) = self.roots.get_or_init(|| {
            let canon = |p: PathBuf| std::fs::canonicalize(&p).ok();
            (
                self.source(Repo::Infra)
                    .ok()
                    .and_then(Source::local_root)
                    .and_then(canon),
                self.source(Repo::Backend)
                    .ok()
                    .and_then(Source::local_root)
                    .and_then(canon),
            )
        });
        let root_name = infra_root
            .as_deref()
            .and_then(|r| r.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("infra")
            .to_string();
        // A file of the backend repo, `rel` to its root: read through the backend's source, so
        // it too must resolve inside the backend repo.
        let from_backend = |rel: &std::path::Path| -> Lookup {
            let rel = rel.to_string_lossy().into_owned();
            if let Some(bytes) = overlay(Repo::Backend, &rel) {
                return Lookup::Found(Read {
                    repo: Repo::Backend,
                    file: rel,
                    bytes,
                });
            }
            match self.read_once(Repo::Backend, &rel) {
                Ok(Some(bytes)) => Lookup::Found(Read {
                    repo: Repo::Backend,
                    file: rel,
                    bytes,
                }),
                Ok(None) => Lookup::Absent,
                Err(e) => Lookup::Unreadable(e),
            }
        };
        let read = |path: &str| -> Lookup {
            if path.starts_with('/') || path.starts_with("..") {
                if let (Some(ir), Some(br)) = (infra_root, backend_root) {
                    let abs = crate::compose::lexical(&ir.join(path));
                    if let Ok(rel) = abs.strip_prefix(br) {
                        return from_backend(rel);
                    }
                }
                return Lookup::Refused(
                    "it is outside the infra repository and not inside the backend repository; envsync reads only those".into(),
                );
            }
            if let Some(bytes) = overlay(Repo::Infra, path) {
                return Lookup::Found(Read {
                    repo: Repo::Infra,
                    file: path.to_string(),
                    bytes,
                });
            }
            match self.read_once(Repo::Infra, path) {
                Ok(Some(bytes)) => Lookup::Found(Read {
                    repo: Repo::Infra,
                    file: path.to_string(),
                    bytes,
                }),
                Ok(None) => Lookup::Absent,
                Err(e) => {
                    // An infra path whose symbolic link leads into the backend repo is read as
                    // that backend file (compose reads backend files by design); anything else
                    // outside the infra repo stays refused.
                    let into_backend = self
                        .source(Repo::Infra)
                        .ok()
                        .and_then(|s| s.real_path(path))
                        .filter(|real| infra_root.as_ref().is_some_and(|ir| !real.starts_with(ir)))
                        .and_then(|real| {
                            let br = backend_root.as_ref()?;
                            real.strip_prefix(br).ok().map(std::path::Path::to_path_buf)
                        });
                    match into_backend {
                        Some(rel) => from_backend(&rel),
                        None => Lookup::Unreadable(e),
                    }
                }
            }
        };
        Ok(crate::compose::load(&crate::compose::Input {
            files: &files,
            project_directory: contour.project_directory.as_deref(),
            env_files: contour.compose_env_files.as_deref(),
            root_name: &root_name,
            process: self.env,
            read: &read,
            cache: Some(&self.compose_cache),
            // Wrapped: `Input` has one lifetime, shorter than `'k`, and a `dyn Fn` returning
            // `&'k` does not coerce to one returning the shorter borrow.
            known: &|repo, file| known(repo, file),
        })?)
    }

    /// Every nginx configuration file (`*.conf` under `[compose] nginx` directories) with its
    /// upstreams. A listed file that cannot be read (not a regular file, over the size cap, a
    /// link out of the repo) is trouble naming it, as for every other file of a repo.
    pub fn nginx_configs(
        &self,
    ) -> Result<Vec<(String, Vec<crate::compose::nginx::Upstream>)>, SourceError> {
        let infra = self.source(Repo::Infra)?;
        let mut out = Vec::new();
        for dir in &self.config.nginx {
            for file in infra.list(dir)? {
                if !file.ends_with(".conf") {
                    continue;
                }
                if let Some(bytes) = infra.read(&file)? {
                    let ups = crate::compose::nginx::upstreams(&String::from_utf8_lossy(&bytes));
                    out.push((file, ups));
                }
            }
        }
        Ok(out)
    }

    fn missing(&self, repo: Repo, contour: &Contour) -> WorkspaceError {
        WorkspaceError::MissingEnvFile {
            contour: contour.name.clone(),
            repo,
            source_name: self.source_name(repo),
            candidates: self
                .config
                .repo(repo)
                .candidates(contour)
                .into_iter()
                .map(|(c, _)| c)
                .collect(),
        }
    }

    /// Resolve `--contour` names (empty: every contour with a contour-specific file in either
    /// repo) and load both repos' files for all contours.
    pub fn select(&self, names: &[String]) -> Result<Selection<'_>, WorkspaceError> {
        let mut all = Vec::new();
        for contour in &self.config.contours {
            let b = self.find(Repo::Backend, contour)?;
            let i = self.find(Repo::Infra, contour)?;
            all.push((contour, b, i));
        }
        let selected: Vec<&Contour> = if names.is_empty() {
            let present: Vec<&Contour> = all
                .iter()
                .filter(|(_, b, i)| {
                    b.as_ref().is_some_and(|f| f.specific) || i.as_ref().is_some_and(|f| f.specific)
                })
                .map(|(c, _, _)| *c)
                .collect();
            if present.is_empty() {
                let mut candidates: Vec<String> = Vec::new();
                for c in &self.config.contours {
                    for repo in Repo::BOTH {
                        for (f, _) in self.config.repo(repo).candidates(c) {
                            if !candidates.contains(&f) {
                                candidates.push(f);
                            }
                        }
                    }
                }
                return Err(WorkspaceError::NoEnvFiles {
                    backend: self.source_name(Repo::Backend),
                    infra: self.source_name(Repo::Infra),
                    candidates,
                });
            }
            present
        } else {
            let mut v: Vec<&Contour> = Vec::new();
            for n in names {
                let c = self.config.contour(n)?;
                if !v.iter().any(|x| x.name == c.name) {
                    v.push(c);
                }
            }
            v
        };
        for c in &selected {
            let (_, b, i) = all
                .iter()
                .find(|(x, _, _)| x.name == c.name)
                .expect("all contours loaded");
            if b.is_none() {
                return Err(self.missing(Repo::Backend, c));
            }
            if i.is_none() {
                return Err(self.missing(Repo::Infra, c));
            }
        }
        // compose's env_file entries read the env files just found: from memory.
        let just_read = |repo: Repo, file: &str| {
            all.iter()
                .flat_map(|(_, b, i)| [(Repo::Backend, b), (Repo::Infra, i)])
                .find_map(|(r, f)| f.as_ref().filter(|f| r == repo && f.file == file))
                .map(|f| f.bytes.clone())
        };
        let nginx = self.nginx_configs()?;
        let all_names: Vec<&str> = self
            .config
            .contours
            .iter()
            .flat_map(Contour::names)
            .collect();
        let files: Vec<ContourFiles<'_>> = all
            .iter()
            .map(|(contour, b, i)| {
                let names: Vec<&str> = contour.names().collect();
                let backend = b.as_ref().map(|f| self.load(Repo::Backend, f));
                let infra = i.as_ref().map(|f| self.load(Repo::Infra, f));
                // ... and what compose makes of them, when they were decoded its way already.
                let known = |repo: Repo, file: &str| {
                    [&backend, &infra]
                        .into_iter()
                        .flatten()
                        .find(|f| f.repo == repo && f.file == file)
                        .and_then(|f| f.decoded_as(Dialect::Compose))
                };
                let compose = self.compose_overlaid(contour, &just_read, &known)?;
                Ok(ContourFiles {
                    contour,
                    backend,
                    infra,
                    compose,
                    nginx: nginx
                        .iter()
                        .filter(|(path, _)| {
                            crate::compose::nginx::applies(path, &names, &all_names)
                        })
                        .cloned()
                        .collect(),
                    kube: None,
                })
            })
            .collect::<Result<_, WorkspaceError>>()?;
        Ok(Selection {
            selected: selected.iter().map(|c| c.name.clone()).collect(),
            files,
        })
    }
}

/// The loaded files of every contour, and which ones were selected.
#[derive(Debug)]
pub struct Selection<'a> {
    pub selected: Vec<String>,
    pub files: Vec<ContourFiles<'a>>,
}

impl<'a> Selection<'a> {
    /// Every `(key, value)` of every contour's sources (see [`ContourFiles::values`]): what
    /// the masking policy learns secret values from.
    pub fn values(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().flat_map(ContourFiles::values)
    }

    /// Read what each selected contour deploys to Kubernetes (`check`: the `k8s-*` rules and
    /// the workloads as consumers), for the contours with a `kubernetes` table.
    pub fn read_kubernetes(&mut self, ws: &Workspace) -> Result<(), WorkspaceError> {
        // Every selected contour's chart renders at once.
        let selected: Vec<&Contour> = self
            .files
            .iter()
            .filter(|cf| self.selected.contains(&cf.contour.name))
            .map(|cf| cf.contour)
            .collect();
        ws.kubernetes_all(&selected)?;
        for cf in self.files.iter_mut() {
            if self.selected.contains(&cf.contour.name) {
                cf.kube = ws.kubernetes(cf.contour)?;
            }
        }
        Ok(())
    }

    /// The selected contours' files (borrowed: a 100k-line file is not copied).
    pub fn selected_files(&self) -> impl Iterator<Item = &ContourFiles<'a>> {
        self.files
            .iter()
            .filter(|f| self.selected.contains(&f.contour.name))
    }
}
