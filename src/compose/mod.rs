//! The infra repo's compose project, read the way `docker compose -f A -f B config` reads it.
//!
//! [`load`] reads the project environment (the process environment only with
//! `--env-from-process`, then the project directory's `.env`), then each file through `model`:
//! parsed ([`yaml11`] over [`yaml`]), interpolated ([`crate::dialect::compose::interpolate`]),
//! its services' `extends` resolved (`extends.rs`), the projects it `include`s loaded and
//! imported (`include.rs`), its services' keys envsync needs read into layers and merged with
//! the compose spec's rules (`!reset` and `!override` included; `layer.rs`); `env.rs` computes
//! each service's environment. The result is each service's effective environment (`env_file`
//! lists in order, then `environment:`), ports, networks and volumes, each item remembering the
//! file and line that decided it, in whichever file that is. Constructs envsync does not model
//! become [`Problem::Unsupported`] warnings, never silence. Reading files is the caller's job (a
//! closure), so the model works on working trees, revisions and the index alike.

mod env;
mod extends;
mod include;
mod layer;
mod model;
pub mod nginx;
pub mod ports;
/// The YAML reader compose files are parsed with (shared with [`crate::k8s`]).
pub use crate::yaml;
pub mod yaml11;

use std::collections::BTreeMap;

use crate::dialect::compose as dialect;
use crate::finding::Location;
use crate::model::Repo;
pub use ports::Port;
use yaml::{Kind, Node};

/// What envsync found wrong or could not model in a compose project.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Problem {
    /// The file is not YAML compose can read, or a key has the wrong shape.
    Syntax { at: Location, message: String },
    /// `${VAR}` resolved to nothing (`unset`) or `${VAR:?msg}` failed (compose refuses to start).
    Interpolation {
        at: Location,
        name: String,
        required: bool,
        /// The key whose value holds the reference (`JWT_SECRET: ${NOPE}`), when there is one.
        key: Option<String>,
    },
    /// A construct envsync does not model; what it decides is not checked.
    Unsupported { at: Location, what: String },
    /// A required `env_file` does not exist (compose refuses to start).
    MissingEnvFile { at: Location, path: String },
    /// Past one of envsync's limits on memory (aliases and interpolation copying more than
    /// [`yaml::MAX_COPIED`]): compose would try to hold it all; envsync reads no further.
    Limit { at: Location, message: String },
}

/// Where a variable of the effective environment comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSource {
    /// A line of an `env_file`.
    EnvFile,
    /// An `environment:` entry of a compose file; `span` is the entry's value in characters
    /// of that file (`None` when it has no value: `KEY:` or `- KEY`).
    Environment {
        span: Option<(usize, usize)>,
        style: Option<yaml::Style>,
        list: bool,
    },
}

/// One variable as the container receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// `None`: declared without a value and not in the project environment (not set).
    pub value: Option<String>,
    pub at: Location,
    pub source: EnvSource,
}

/// A `ports:` entry with the place that declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortAt {
    pub port: Port,
    pub at: Location,
}

/// A service's mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `volume`, `bind`, `tmpfs`, …
    pub kind: String,
    /// The named volume's key (for `volume`) or the resolved host path (for `bind`).
    pub source: Option<String>,
    pub target: String,
    pub at: Location,
}

/// A top-level network or volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The name the engine uses (`name:`, else `<project>_<key>`, or the key when external).
    pub name: String,
    pub external: bool,
    pub at: Location,
}

/// A service's effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub at: Location,
    pub environment: BTreeMap<String, EnvVar>,
    pub ports: Vec<PortAt>,
    /// Network keys (top-level `networks:` keys; `default` when the service names none).
    pub networks: Vec<(String, Location)>,
    pub volumes: Vec<Mount>,
    /// The variables decided by an `environment:` entry the service did not write itself, with
    /// how it reached it (`extends` of another service, `include` of another project): an edit
    /// there changes more than this service.
    pub inherited: BTreeMap<String, String>,
}

/// A contour's compose project.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    /// The project directory, relative to the infra root (`docker`).
    pub dir: String,
    pub files: Vec<String>,
    /// The files `${VAR}` is interpolated from that exist (`docker/.env`).
    pub env_files: Vec<String>,
    /// Every file read, in order, as `repo file` (`-v`).
    pub read: Vec<String>,
    pub services: BTreeMap<String, Service>,
    pub networks: BTreeMap<String, Resource>,
    pub volumes: BTreeMap<String, Resource>,
    pub problems: Vec<Problem>,
}

impl Problem {
    /// An infra file of the project that is not read at all (named at its first line).
    fn whole_file(file: &str, message: String) -> Problem {
        Problem::Syntax {
            at: Location {
                repo: Repo::Infra,
                file: file.to_string(),
                line: 1,
            },
            message,
        }
    }

    /// A line of a file read for the project that compose refuses.
    fn in_file(r: &Read, line: usize, message: String) -> Problem {
        Problem::Syntax {
            at: Location {
                repo: r.repo,
                file: r.file.clone(),
                line,
            },
            message,
        }
    }
}

impl Project {
    /// The service playing a role: the first of `names` (`[compose.services]`) the project has.
    pub fn role(&self, names: &[String]) -> Option<(&str, &Service)> {
        names
            .iter()
            .find_map(|n| self.services.get_key_value(n.as_str()))
            .map(|(k, v)| (k.as_str(), v))
    }

    /// Would compose refuse this project (a file it cannot read, a missing env_file, a required
    /// variable without a value)? Then what the containers get is not worth checking.
    pub fn refused(&self) -> bool {
        self.refusals().next().is_some()
    }

    /// Why compose would refuse this project, one line per reason (`file:line: why`).
    pub fn refusals(&self) -> impl Iterator<Item = String> + '_ {
        self.problems.iter().filter_map(|p| match p {
            Problem::Syntax { at, message } => Some(format!("{at}: {message}")),
            Problem::MissingEnvFile { at, path } => {
                Some(format!("{at}: env_file `{path}` does not exist"))
            }
            Problem::Interpolation {
                at,
                name,
                required: true,
                ..
            } => Some(format!("{at}: required variable {name} has no value")),
            Problem::Limit { at, message } => Some(format!("{at}: {message}")),
            Problem::Interpolation { .. } | Problem::Unsupported { .. } => None,
        })
    }

    /// The network names a service is on.
    pub fn network_names(&self, service: &Service) -> Vec<String> {
        service
            .networks
            .iter()
            .map(|(k, _)| self.network_name(k))
            .collect()
    }

    pub fn network_name(&self, key: &str) -> String {
        match self.networks.get(key) {
            Some(r) => r.name.clone(),
            None => format!("{}_{key}", self.name),
        }
    }

    pub fn volume_name(&self, key: &str) -> String {
        match self.volumes.get(key) {
            Some(r) => r.name.clone(),
            None => format!("{}_{key}", self.name),
        }
    }
}

/// A file handed to [`load`] by its reader.
#[derive(Debug, Clone)]
pub struct Read {
    pub repo: Repo,
    /// The path to name in messages (relative to that repo's root).
    pub file: String,
    pub bytes: Vec<u8>,
}

/// What the reader answers for a path.
#[derive(Debug)]
pub enum Lookup {
    Found(Read),
    Absent,
    /// The path is not read by policy (outside both repos): why.
    Refused(String),
    /// Reading failed (not a regular file, too large, a git error): why. Trouble, not a finding.
    Unreadable(String),
}

/// A file of the project could not be read (exit 2: a FIFO, a directory, a file over the cap…).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("compose project: cannot read {repo} {file}: {message}")]
pub struct ReadError {
    pub repo: Repo,
    pub file: String,
    pub message: String,
}

fn unreadable(file: &str, message: String) -> ReadError {
    ReadError {
        repo: if file.starts_with("..") || file.starts_with('/') {
            Repo::Backend
        } else {
            Repo::Infra
        },
        file: file.to_string(),
        message,
    }
}

/// How to read one contour's project.
pub struct Input<'a> {
    /// The `-f` files, relative to the infra root, in order; absent ones are skipped.
    pub files: &'a [String],
    /// `[contours.C] project_directory`; default the first file's directory.
    pub project_directory: Option<&'a str>,
    /// `[contours.C] compose_env_files`; default `<project dir>/.env`.
    pub env_files: Option<&'a [String]>,
    /// The infra root's directory name (the project name when the project directory is it).
    pub root_name: &'a str,
    /// `--env-from-process`.
    pub process: crate::dialect::Env,
    /// Reads a path relative to the infra root (it may start with `../`).
    pub read: &'a dyn Fn(&str) -> Lookup,
    /// Parsed files shared between the contours' projects (the base file is parsed once).
    pub cache: Option<&'a ParseCache>,
    /// compose's reading of an env file (by repo and path) envsync has decoded already, with
    /// the same bytes `read` returns; an `env_file` whose reading depends on its bytes alone
    /// is not decoded again.
    pub known: &'a dyn Fn(Repo, &str) -> Option<&'a crate::dialect::Decoded>,
}

/// What reading a compose file's YAML gave, shared between the projects that use the file.
pub type Parsed = std::rc::Rc<Result<Node, yaml::YamlError>>;

/// Compose files already parsed, by their text: every contour reads the same base file.
#[derive(Default)]
pub struct ParseCache(std::cell::RefCell<rustc_hash::FxHashMap<String, Parsed>>);

impl std::fmt::Debug for ParseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ParseCache({} files)", self.0.borrow().len())
    }
}

impl ParseCache {
    /// [`yaml11::parse`]`(text)`, once per distinct text.
    pub fn parse(&self, text: &str) -> Parsed {
        if let Some(hit) = self.0.borrow().get(text) {
            return hit.clone();
        }
        let parsed = Parsed::new(yaml11::parse(text));
        self.0
            .borrow_mut()
            .insert(text.to_string(), Parsed::clone(&parsed));
        parsed
    }
}

impl std::fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input").field("files", &self.files).finish()
    }
}

/// Join `rel` to the directory `base` (both relative to the infra root) and remove `.` and
/// `..` lexically, as compose does. The result may start with `../`.
pub fn join(base: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let start = if rel.starts_with('/') { "" } else { base };
    for p in start.split('/').chain(rel.split('/')) {
        match p {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(l) if *l != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if rel.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

/// `p` with `.` and `..` removed without touching the file system (compose resolves paths
/// lexically too).
pub fn lexical(p: &std::path::Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

fn parent(file: &str) -> &str {
    file.rsplit_once('/').map_or("", |(d, _)| d)
}

/// compose's project-name normalisation: lowercase, only `a-z0-9_-`.
fn normalize_name(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect()
}

/// Interpolate every value (not keys) of `node` in place.
///
/// Aliases are expanded before interpolation (as compose does), so every copy of a `${BIG}`
/// becomes a copy of BIG's value: what interpolation adds to the tree counts against
/// [`yaml::MAX_COPIED`] too, and past it the file is a [`Problem::Limit`] and interpolation stops.
fn interpolate_tree(
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    file: &str,
    problems: &mut Vec<Problem>,
) {
    let mut added = 0usize;
    // Each node with the mapping key it is the value of.
    let mut stack: Vec<(&mut Node, Option<&str>)> = vec![(node, None)];
    while let Some((n, parent)) = stack.pop() {
        match &mut n.kind {
            Kind::Scalar(s, _) => {
                if !s.contains('$') {
                    continue;
                }
                // `- KEY=${VAR}` in a list names its key before the `=`.
                let key = parent.map(str::to_string).or_else(|| {
                    s.split_once('=')
                        .map(|(k, _)| k.to_string())
                        .filter(|k| !k.is_empty() && !k.contains('$'))
                });
                let mut unset = Vec::new();
                let at = Location {
                    repo: Repo::Infra,
                    file: file.to_string(),
                    line: n.line,
                };
                match dialect::interpolate(s, lookup, n.line, &mut unset) {
                    Ok(v) => {
                        added = added.saturating_add(v.len().saturating_sub(s.len()));
                        *s = v;
                        if added > yaml::MAX_COPIED {
                            problems.push(Problem::Limit {
                                at,
                                message: format!(
                                    "interpolating `${{…}}` adds more than {} MiB to this file (each alias of a value that holds `${{…}}` is interpolated again); envsync refuses such a file to keep its memory bounded: alias such values, or reference large variables, fewer times",
                                    yaml::MAX_COPIED >> 20
                                ),
                            });
                            return;
                        }
                    }
                    Err(dialect::InterpolateError::Missing { name, .. }) => {
                        problems.push(Problem::Interpolation {
                            at,
                            name,
                            required: true,
                            key,
                        });
                        s.clear();
                        continue;
                    }
                    Err(dialect::InterpolateError::Invalid(e)) => {
                        problems.push(Problem::Syntax {
                            at,
                            message: e.message,
                        });
                        s.clear();
                        continue;
                    }
                }
                for (_, name) in unset {
                    problems.push(Problem::Interpolation {
                        at: at.clone(),
                        name,
                        required: false,
                        key: key.clone(),
                    });
                }
            }
            Kind::Map(m) => stack.extend(m.iter_mut().map(|(k, v)| (v, k.as_str()))),
            Kind::Seq(s) => stack.extend(s.iter_mut().map(|v| (v, None))),
            Kind::Null => {}
        }
    }
}

/// Load a contour's project. `None` when none of its files exists.
pub fn load(input: &Input<'_>) -> Result<Option<Project>, ReadError> {
    let mut sink = model::Sink::default();
    let mut docs: Vec<(String, String)> = Vec::new();
    for f in input.files {
        if let model::Text::Read(text) = model::read_text(input, f, &mut sink)? {
            docs.push((f.clone(), text));
        }
    }
    if docs.is_empty() && sink.problems.is_empty() {
        return Ok(None);
    }
    let first = docs
        .first()
        .map(|(f, _)| f.as_str())
        .or(input.files.first().map(String::as_str))
        .unwrap_or("");
    let dir = match input.project_directory {
        Some(d) => join("", d),
        None => parent(first).to_string(),
    };

    // The project environment: the process (only with --env-from-process), then `.env`.
    let default_env = [join(&dir, ".env")];
    let env_names = input.env_files.unwrap_or(&default_env);
    let process = input.process;
    let (project_env, env_files) =
        model::project_env(input, env_names, &|k| process.lookup(k), None, &mut sink)?;
    let lookup = |k: &str| process.lookup(k).or_else(|| project_env.get(k).cloned());

    let scope = model::Scope {
        input,
        dir: dir.clone(),
        lookup: &lookup,
        chain: Vec::new(),
    };
    let mut merged = model::Model::default();
    for (file, text) in &docs {
        model::merge_text(&scope, &mut merged, file, text, &mut sink)?;
    }
    let model::Model {
        services: merged_services,
        inherited,
        networks,
        volumes,
        name: name_key,
        ..
    } = merged;

    let base = match &dir {
        d if d.is_empty() || d == "." => input.root_name.to_string(),
        d => d.rsplit('/').next().unwrap_or(d).to_string(),
    };
    let name = normalize_name(&lookup("COMPOSE_PROJECT_NAME").or(name_key).unwrap_or(base));
    let resources = |table: BTreeMap<String, model::Def>| {
        table
            .into_iter()
            .map(|(key, d)| {
                let external = d.external;
                let name = d.name.unwrap_or_else(|| {
                    if external {
                        key.clone()
                    } else {
                        format!("{name}_{key}")
                    }
                });
                let at = d.at;
                (key, Resource { name, external, at })
            })
            .collect::<BTreeMap<_, _>>()
    };
    let networks = resources(networks);
    let volumes = resources(volumes);

    let mut problems = std::mem::take(&mut sink.problems);
    let mut read_files = std::mem::take(&mut sink.read);
    let mut services = BTreeMap::new();
    for (sname, m) in merged_services {
        if m.profiles {
            continue;
        }
        let Some(at) = m.at.clone() else { continue };
        let environment = env::effective_env(&m, input, &lookup, &mut read_files, &mut problems)?;
        let service_networks = m
            .networks
            .clone()
            .unwrap_or_else(|| vec![("default".to_string(), at.clone())]);
        // compose refuses a project whose services name networks or volumes it does not declare.
        for (key, at) in &service_networks {
            if key != "default" && !networks.contains_key(key) {
                problems.push(Problem::Syntax {
                    at: at.clone(),
                    message: format!("service `{sname}` refers to undefined network `{key}`"),
                });
            }
        }
        for v in &m.volumes {
            if let (Some(src), "volume") = (&v.source, v.kind.as_str()) {
                if !volumes.contains_key(src) {
                    problems.push(Problem::Syntax {
                        at: v.at.clone(),
                        message: format!("service `{sname}` refers to undefined volume `{src}`"),
                    });
                }
            }
        }
        // The `environment:` entries that decide a variable and that the service did not write.
        let inherited: BTreeMap<String, String> = match inherited.get(&sname) {
            Some(marks) if !marks.is_empty() => environment
                .iter()
                .filter(|(_, v)| matches!(v.source, EnvSource::Environment { .. }))
                .filter_map(|(k, v)| {
                    let how = marks.get(&(v.at.clone(), k.clone()))?;
                    Some((k.clone(), how.clone()))
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        let networks = service_networks;
        services.insert(
            sname,
            Service {
                at,
                environment,
                ports: m.ports,
                networks,
                volumes: m.volumes,
                inherited,
            },
        );
    }
    // A file reached twice (extends from two files, an include in two overlays) says its
    // problems once.
    let mut seen = std::collections::HashSet::new();
    problems.retain(|p| seen.insert(p.clone()));
    Ok(Some(Project {
        name,
        dir,
        files: docs.into_iter().map(|(f, _)| f).collect(),
        env_files,
        read: read_files,
        services,
        networks,
        volumes,
        problems,
    }))
}

/// The project of the `-f` files `compose` over an in-memory infra repo of `(path, text)`
/// pairs; `None` when none of them exists. The one builder the compose and check tests share.
#[cfg(test)]
pub(crate) fn in_memory<S: AsRef<str>>(files: &[(&str, S)], compose: &[&str]) -> Option<Project> {
    let read = |p: &str| match files.iter().find(|(f, _)| *f == p) {
        Some((f, text)) => Lookup::Found(Read {
            repo: crate::model::Repo::Infra,
            file: f.to_string(),
            bytes: text.as_ref().as_bytes().to_vec(),
        }),
        None => Lookup::Absent,
    };
    let compose: Vec<String> = compose.iter().map(|s| s.to_string()).collect();
    load(&Input {
        files: &compose,
        project_directory: None,
        env_files: None,
        root_name: "infra",
        process: crate::dialect::Env::Isolated,
        read: &read,
        cache: None,
        known: &|_, _| None,
    })
    .expect("an in-memory file is always readable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_like_compose() {
        assert_eq!(join("docker", "../.env"), ".env");
        assert_eq!(join("docker", "./x/../y"), "docker/y");
        assert_eq!(join("docker", "../../backend/.env"), "../backend/.env");
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("docker", "/etc/x"), "/etc/x");
    }

    #[test]
    fn project_names_are_normalised() {
        assert_eq!(normalize_name("MyProj.X"), "myprojx");
    }

    /// `files` (path, text) as the infra repo, loaded as the project of `-f` `order`.
    fn load_from(files: &[(&str, String)], order: &[&str]) -> Project {
        super::extends::tests::project(files, order)
    }

    /// A service whose `environment:` holds `n` keys in the base file, and an overlay that
    /// sets every other one again and adds as many new ones.
    fn overlaid(n: usize) -> [(&'static str, String); 2] {
        let mut base = String::from("services:\n  api:\n    environment:\n");
        let mut overlay = base.clone();
        for i in 0..n {
            base.push_str(&format!("      K{i}: base{i}\n"));
            if i % 2 == 0 {
                overlay.push_str(&format!("      K{i}: over{i}\n"));
            }
            overlay.push_str(&format!("      N{i}: new{i}\n"));
        }
        [("d/base.yml", base), ("d/over.yml", overlay)]
    }

    /// Issue 19, F5: the `environment` merge looked for each entry among all the entries
    /// before it, within a file and across the overlays (10,000 keys: 10^8 comparisons).
    /// Ten times the keys must cost about ten times as much, not a hundred (a ratio within
    /// one run, not a time).
    #[test]
    fn the_environment_merge_across_overlays_is_linear() {
        let order = ["d/base.yml", "d/over.yml"];
        let (small, large) = (overlaid(1_000), overlaid(10_000));
        let p = load_from(&large, &order);
        let env = &p.services["api"].environment;
        assert_eq!(env.len(), 20_000);
        assert_eq!(env["K0"].value.as_deref(), Some("over0"));
        assert_eq!(env["K0"].at.file, "d/over.yml");
        assert_eq!(env["K1"].value.as_deref(), Some("base1"));
        let ratio = crate::yaml::tests::time_ratio(
            10,
            || drop(load_from(&small, &order)),
            || drop(load_from(&large, &order)),
        );
        assert!(
            ratio < 30.0,
            "10x the keys took {ratio:.0}x the time (linear: about 10, quadratic: about 100)"
        );
    }

    /// Interpolation happens after aliases are expanded, so each copy of `${BIG}` becomes a
    /// copy of BIG's value: 200 aliases of a 1 MB value asked for 200 MB from a 1 KB compose
    /// file. What interpolation adds counts against the same budget as what aliases copy.
    #[test]
    fn aliases_of_an_interpolated_value_are_bounded_too() {
        let mut compose =
            String::from("services:\n  db:\n    image: x\nx-a: &a \"${BIG}\"\nx-b: [");
        compose.push_str(&vec!["*a"; 200].join(", "));
        compose.push_str("]\n");
        let files = [
            ("d/compose.yml", compose),
            ("d/.env", format!("BIG={}\n", "x".repeat(1_000_000))),
        ];
        let p = load_from(&files, &["d/compose.yml"]);
        let refusals: Vec<String> = p.refusals().collect();
        assert!(
            refusals.iter().any(
                |r| r.starts_with("infra d/compose.yml:4: interpolating `${…}` adds more than")
            ),
            "{refusals:?}"
        );
        // A few copies are fine.
        let few = [
            (
                "d/compose.yml",
                "services:\n  db:\n    environment:\n      A: &a \"${BIG}\"\n      B: *a\n"
                    .to_string(),
            ),
            files[1].clone(),
        ];
        let p = load_from(&few, &["d/compose.yml"]);
        assert!(!p.refused(), "{:?}", p.problems);
        assert_eq!(
            p.services["db"].environment["B"]
                .value
                .as_deref()
                .map(str::len),
            Some(1_000_000)
        );
    }
}
