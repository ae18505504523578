//! Top-level `include`: another compose project read as a project of its own and imported
//! into the file that includes it, the way compose-go's `ApplyInclude` does. What docker
//! compose 2.40.3 does, measured with `config --format json`:
//!
//! - short form `include: [inc/compose.yml]`; long form `{path: P | [P…], project_directory:
//!   D, env_file: E | [E…]}`. `path`, `project_directory` and `env_file` are relative to the
//!   including project's directory, whichever of its files (an override under `docker/prod/`
//!   too) holds the `include`;
//! - the included project's directory is `project_directory`, else the directory of its
//!   first file; its relative paths (`env_file`, bind mounts, `extends.file`, its own
//!   includes) resolve against it;
//! - its files are interpolated with the including project's environment first, then its own
//!   `env_file` list (default: `.env` in its directory; a listed file that does not exist is
//!   an error), whose `${VAR}` also look in the including project's environment first;
//! - its services' environments (`env_file` contents, `KEY` without a value) are resolved
//!   later, with the **main** project's environment, like every other service's;
//! - its networks and volumes are named after the main project; its `name:` is ignored;
//! - a service, network or volume that the including file defines too is an error unless
//!   the two definitions are the same; an include cycle is an error.

use crate::finding::Location;
use crate::mask::sanitize;

use super::model::{self, at, Model, Scope, Sink, Text};
use super::yaml::{Kind, Node};
use super::{join, ReadError};

/// How deep includes may nest.
pub const MAX_DEPTH: usize = 32;
/// How many projects a project may include in all (each include of the same file counts).
pub const MAX_INCLUDES: usize = 256;

/// A project an `include` entry brings in.
#[derive(Debug)]
pub(super) struct Imported {
    /// Its first file.
    pub(super) file: String,
    /// The `include` entry.
    pub(super) at: Location,
    pub(super) model: Model,
}

/// A string or a list of strings (`None` when it is neither).
fn strings(node: &Node) -> Option<Vec<String>> {
    match &node.kind {
        Kind::Scalar(s, _) => Some(vec![s.clone()]),
        Kind::Seq(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}

/// One `include` entry: its files, project directory and env files, as written.
struct Entry {
    paths: Vec<String>,
    project_directory: Option<String>,
    env_file: Option<Vec<String>>,
}

fn entry(item: &Node) -> Result<Entry, String> {
    if let Some(p) = item.as_str() {
        return Ok(Entry {
            paths: vec![p.to_string()],
            project_directory: None,
            env_file: None,
        });
    }
    if item.as_map().is_none() {
        return Err("an `include` entry is a path or a mapping with `path`".into());
    }
    // compose reads an entry without `path` (or with `path: []`) as including nothing.
    let paths = match item.get("path") {
        None
        | Some(Node {
            kind: Kind::Null, ..
        }) => Vec::new(),
        Some(p) => strings(p).ok_or("`path` of an `include` is a path or a list of paths")?,
    };
    let project_directory = match item.get("project_directory") {
        None => None,
        Some(d) => Some(
            d.as_str()
                .ok_or("`project_directory` of an `include` is a path")?
                .to_string(),
        ),
    };
    let env_file = match item.get("env_file") {
        None => None,
        Some(e) => {
            Some(strings(e).ok_or("`env_file` of an `include` is a path or a list of paths")?)
        }
    };
    Ok(Entry {
        paths,
        project_directory,
        env_file,
    })
}

/// A file that cannot be read, said with the line that names it.
pub(super) fn named_by(mut e: ReadError, by: &Location) -> ReadError {
    e.message = format!("{} (named at {}:{})", e.message, by.file, by.line);
    e
}

/// The projects `file`'s `include:` (`entries`) brings into `scope`.
pub(super) fn load(
    scope: &Scope<'_, '_>,
    file: &str,
    entries: &Node,
    sink: &mut Sink,
) -> Result<Vec<Imported>, ReadError> {
    let Some(items) = entries.as_seq() else {
        if !entries.is_null() {
            sink.syntax(at(file, entries.line), "`include` must be a list".into());
        }
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in items {
        let here = at(file, item.line);
        let e = match entry(item) {
            Ok(e) => e,
            Err(message) => {
                sink.syntax(here, message);
                continue;
            }
        };
        if scope.chain.len() >= MAX_DEPTH {
            sink.syntax(
                here,
                format!("`include` nested more than {MAX_DEPTH} projects deep; envsync refuses such a project"),
            );
            continue;
        }
        sink.included += 1;
        if sink.included > MAX_INCLUDES {
            sink.syntax(
                here,
                format!("more than {MAX_INCLUDES} projects included in all; envsync refuses such a project"),
            );
            continue;
        }
        let paths: Vec<String> = e.paths.iter().map(|p| join(&scope.dir, p)).collect();
        // An include cycle: a file that includes (or is) one of those it includes.
        let including: Vec<&str> = scope
            .chain
            .iter()
            .map(|(f, _)| f.as_str())
            .chain([file])
            .collect();
        if let Some(p) = paths.iter().find(|p| including.contains(&p.as_str())) {
            let i = including.iter().position(|f| f == p).unwrap_or(0);
            let mut names: Vec<&str> = including[i..].to_vec();
            names.push(p);
            sink.syntax(
                here,
                format!(
                    "`include` goes round in a cycle: {}; compose refuses such a project",
                    sanitize(&names.join(" includes "))
                ),
            );
            continue;
        }
        let dir = match (&e.project_directory, paths.first()) {
            (Some(d), _) => join(&scope.dir, d),
            (None, Some(first)) => model::parent(first).to_string(),
            (None, None) => scope.dir.clone(),
        };
        let (names, required) = match &e.env_file {
            Some(list) => (
                list.iter()
                    .filter(|f| *f != "/dev/null")
                    .map(|f| join(&scope.dir, f))
                    .collect(),
                Some(&here),
            ),
            None => (vec![join(&dir, ".env")], None),
        };
        let (env, _) = model::project_env(scope.input, &names, scope.lookup, required, sink)
            .map_err(|e| named_by(e, &here))?;
        let outer = scope.lookup;
        let lookup = |k: &str| outer(k).or_else(|| env.get(k).cloned());
        let mut chain = scope.chain.clone();
        chain.push((file.to_string(), here.clone()));
        let sub = Scope {
            input: scope.input,
            dir,
            lookup: &lookup,
            chain,
        };
        let mut m = Model::default();
        for p in &paths {
            let text = model::read_text(scope.input, p, sink).map_err(|e| named_by(e, &here))?;
            match text {
                Text::Read(text) => model::merge_text(&sub, &mut m, p, &text, sink)?,
                Text::Absent => sink.syntax(
                    here.clone(),
                    format!(
                        "`include` names the file `{}`, which does not exist",
                        sanitize(p)
                    ),
                ),
                Text::Skipped => {}
            }
        }
        let Some(first) = paths.first() else { continue };
        out.push(Imported {
            file: first.clone(),
            at: here,
            model: m,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::extends::tests::project;

    fn value(p: &super::super::Project, s: &str, k: &str) -> Option<String> {
        p.services[s]
            .environment
            .get(k)
            .and_then(|v| v.value.clone())
    }

    #[test]
    fn an_included_project_reads_its_own_directory_and_environment() {
        let p = project(
            &[
                (
                    "docker/compose.yml",
                    "include:\n  - ../inc/compose.yml\nservices:\n  app:\n    image: x\n    environment: {Q: '${Q:-no}'}\n"
                        .into(),
                ),
                ("docker/.env", "P=parent\n".into()),
                (
                    "inc/compose.yml",
                    "services:\n  s:\n    image: y\n    env_file: [s.env]\n    volumes: [\"./data:/data\"]\n    environment:\n      P: ${P:-none}\n      Q: ${Q:-none}\n      MAP:\n    networks: [n]\nnetworks:\n  n: {}\n"
                        .into(),
                ),
                ("inc/.env", "P=inc\nQ=inc-q\nR=inc-r\nMAP=inc-map\n".into()),
                ("inc/s.env", "FROM_FILE=${R:-main-has-no-r}\n".into()),
            ],
            &["docker/compose.yml"],
        );
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        // The including project's environment wins; the included `.env` fills in.
        assert_eq!(value(&p, "s", "P").as_deref(), Some("parent"));
        assert_eq!(value(&p, "s", "Q").as_deref(), Some("inc-q"));
        // The included `.env` is not the main project's.
        assert_eq!(value(&p, "app", "Q").as_deref(), Some("no"));
        // env_file contents and `KEY:` are resolved with the main project's environment.
        assert_eq!(
            value(&p, "s", "FROM_FILE").as_deref(),
            Some("main-has-no-r")
        );
        assert_eq!(value(&p, "s", "MAP"), None);
        // Paths resolve in the included project's directory; names are the main project's.
        assert_eq!(
            p.services["s"].volumes[0].source.as_deref(),
            Some("inc/data")
        );
        assert_eq!(p.network_names(&p.services["s"]), ["docker_n"]);
        assert_eq!(p.services["s"].environment["P"].at.file, "inc/compose.yml");
        assert!(p.services["s"].inherited["P"].contains("`include` of inc/compose.yml"));
    }

    #[test]
    fn the_long_form_resolves_against_the_including_project_directory() {
        let p = project(
            &[
                ("docker/compose.yml", "services:\n  app:\n    image: x\n".into()),
                (
                    "docker/prod/over.yml",
                    "include:\n  - path: [inc/c.yml, inc/c2.yml]\n    project_directory: pd\n    env_file: [inc/a.env, inc/b.env]\n"
                        .into(),
                ),
                (
                    "docker/inc/c.yml",
                    "services:\n  s:\n    image: y\n    env_file: [own.env]\n    environment: {S: '${S}', T: '${T}', U: '${U}'}\n"
                        .into(),
                ),
                ("docker/inc/c2.yml", "services:\n  s:\n    environment: {V: '2'}\n".into()),
                ("docker/inc/a.env", "S=a\nT=a\nU=${T}-u\n".into()),
                ("docker/inc/b.env", "T=b\n".into()),
                ("docker/pd/.env", "S=not-read\n".into()),
                ("docker/pd/own.env", "OWN=pd\n".into()),
            ],
            &["docker/compose.yml", "docker/prod/over.yml"],
        );
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        for (k, v) in [
            ("S", "a"),
            ("T", "b"),
            ("U", "a-u"),
            ("V", "2"),
            ("OWN", "pd"),
        ] {
            assert_eq!(value(&p, "s", k).as_deref(), Some(v), "{k}");
        }
    }

    #[test]
    fn cycles_conflicts_missing_files_and_depth_are_refused_at_their_line() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[("c.yml", "include: [c.yml]\n")], "infra c.yml:1: `include` goes round in a cycle: c.yml includes c.yml"),
            (
                &[("c.yml", "include: [inc/d.yml]\n"), ("inc/d.yml", "include: [../c.yml]\n")],
                "infra inc/d.yml:1: `include` goes round in a cycle: c.yml includes inc/d.yml includes c.yml",
            ),
            (&[("c.yml", "include:\n  - inc/none.yml\n")], "infra c.yml:2: `include` names the file `inc/none.yml`, which does not exist"),
            (
                &[("c.yml", "include:\n  - path: inc/d.yml\n    env_file: nope.env\n"), ("inc/d.yml", "services: {}\n")],
                "infra c.yml:2: the include's env_file `nope.env` does not exist",
            ),
            (
                &[
                    ("c.yml", "include: [inc/d.yml]\nservices:\n  s:\n    image: x\n"),
                    ("inc/d.yml", "services:\n  s:\n    image: y\n"),
                ],
                "infra c.yml:3: service `s` is defined here and in `inc/d.yml`",
            ),
        ];
        for (files, want) in cases {
            let files: Vec<(&str, String)> =
                files.iter().map(|(f, t)| (*f, t.to_string())).collect();
            let p = project(&files, &["c.yml"]);
            let r: Vec<String> = p.refusals().collect();
            assert!(r.len() == 1 && r[0].starts_with(want), "{want}: {r:?}");
        }
        // A chain of includes deeper than MAX_DEPTH.
        let n = super::MAX_DEPTH + 5;
        let files: Vec<(String, String)> = (0..n)
            .map(|i| (format!("f{i}.yml"), format!("include: [f{}.yml]\n", i + 1)))
            .chain([(format!("f{n}.yml"), "services: {}\n".to_string())])
            .collect();
        let files: Vec<(&str, String)> =
            files.iter().map(|(f, t)| (f.as_str(), t.clone())).collect();
        let p = project(&files, &["f0.yml"]);
        let r: Vec<String> = p.refusals().collect();
        assert!(r.iter().any(|r| r.contains("nested more than 32")), "{r:?}");
        // Each file including the next twice: 2^20 loads without a budget.
        let files: Vec<(String, String)> = (0..20)
            .map(|i| {
                (
                    format!("f{i}.yml"),
                    format!("include: [f{0}.yml, f{0}.yml]\n", i + 1),
                )
            })
            .chain([("f20.yml".to_string(), "services: {}\n".to_string())])
            .collect();
        let files: Vec<(&str, String)> =
            files.iter().map(|(f, t)| (f.as_str(), t.clone())).collect();
        let p = project(&files, &["f0.yml"]);
        let r: Vec<String> = p.refusals().collect();
        assert!(
            r.iter()
                .any(|r| r.contains("more than 256 projects included")),
            "{r:?}"
        );
    }
}
