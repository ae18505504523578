//! `extends`: a service built on another one, resolved the way compose-go's loader resolves it
//! (`ApplyExtends`), file by file before the files are merged. What docker compose 2.40.3
//! does, measured with `config --format json`:
//!
//! - `extends: base` (or `{service: base}`) names a service of the same file *as that file
//!   writes it*: an override file's change to `base` does not reach a service of the base file
//!   that extends it, and a service of an override file cannot extend one that only the base
//!   file defines;
//! - `extends: {file: F, service: S}`: `F` is relative to the project directory in a `-f` file
//!   (to an included project's directory in its files), and to the extending file's own
//!   directory in a file reached through `extends`; the relative paths of `S` (`env_file`,
//!   bind mounts) and its own `extends.file` resolve against `F`'s directory; `F` is
//!   interpolated with the project's environment, its `include` is not read;
//! - the result is the base merged with the service as an override file merges
//!   (`environment` by variable, `env_file`, `ports` appended and de-duplicated, `volumes` by
//!   target, `networks` by name, `profiles` inherited); the service's `!override` and
//!   `!reset` act on what it extends and on earlier files alike, the base's own on its base
//!   only;
//! - a cycle (`a` extends `b` extends `a`, across files too) and a missing service or file
//!   make compose refuse the project, and so does envsync, naming the `extends` line.

use std::collections::HashMap;

use crate::finding::Location;
use crate::mask::sanitize;

use super::layer::{Layer, Merged, ServiceLayer};
use super::model::{self, as_layer, at, mark, Inherited, Scope, Sink, Text};
use super::yaml::{Directive, Kind, Node};
use super::{join, EnvSource, Problem, ReadError};

/// How long a chain of `extends` may be.
pub const MAX_DEPTH: usize = 64;

/// One service of a file with its `extends` resolved.
#[derive(Debug)]
pub(super) struct Resolved {
    pub(super) name: String,
    /// Where its name is written.
    pub(super) at: Location,
    /// `!reset` / `!override` on the service itself.
    pub(super) directive: Option<Directive>,
    /// What to merge over earlier files, in order: what it extends (no directive), then the
    /// service as written.
    pub(super) layers: Vec<ServiceLayer>,
    /// The `environment:` entries that come from what it extends.
    pub(super) inherited: Inherited,
}

/// A link of an `extends` chain: the file, the service, and where its `extends` is written.
type Link = (String, String, Location);

/// What a service's `extends` names: the service, the file (as written), and the line.
struct Ref {
    service: String,
    file: Option<String>,
    at: Location,
}

/// The `extends` of a service node: `None` when it has none, `Err` (with a problem) when it
/// is malformed.
fn extends_of(file: &str, name: &str, node: &Node, sink: &mut Sink) -> Option<Result<Ref, ()>> {
    let e = node.get("extends")?;
    let at = at(file, e.line);
    let r = match &e.kind {
        Kind::Scalar(s, _) => Some((s.clone(), None)),
        Kind::Map(_) => e.get("service").and_then(Node::as_str).map(|s| {
            (
                s.to_string(),
                e.get("file").and_then(Node::as_str).map(str::to_string),
            )
        }),
        _ => None,
    };
    Some(match r {
        Some((service, file)) => Ok(Ref { service, file, at }),
        None => {
            sink.syntax(
                at,
                format!(
                    "`extends` of service `{}` must name a service (`extends: NAME` or `extends: {{service: NAME, file: …}}`)",
                    sanitize(name)
                ),
            );
            Err(())
        }
    })
}

/// Does the layer hold a `!reset` or `!override` on one of its keys?
fn has_directive(l: &ServiceLayer) -> bool {
    fn d<T>(l: &Option<Layer<T>>) -> bool {
        matches!(l, Some(Layer::Reset | Layer::Override(_)))
    }
    d(&l.env_file) || d(&l.environment) || d(&l.ports) || d(&l.networks) || d(&l.volumes)
}

/// The resolution of one file's services: files read for `extends`, layers read once, bases
/// resolved once.
struct Ctx<'s, 'a, 'i> {
    scope: &'s Scope<'a, 'i>,
    /// The file whose services are resolved, and its `services:`.
    top: (&'s str, &'s Node),
    /// Files read for `extends` (parsed and interpolated); `None`: absent or not readable.
    files: HashMap<String, Option<model::Tree>>,
    /// Each (file, directory its paths resolve against, service)'s own layer (a file may name
    /// itself in `extends.file`: its services then resolve paths against its own directory).
    own: HashMap<(String, String, String), ServiceLayer>,
    /// Each (file, directory, service) resolved as a base.
    done: HashMap<(String, String, String), Option<(Merged, Inherited)>>,
    /// The cycles reported, each as its sorted links (every service of a cycle meets it).
    cycles: Vec<Vec<(String, String)>>,
}

impl Ctx<'_, '_, '_> {
    /// The service `name` of `file` (read for `extends` unless it is the file being resolved):
    /// `Ok(None)` with a problem when the file cannot be read, `Ok(Some(None))` when it does
    /// not define the service.
    fn service(
        &mut self,
        file: &str,
        name: &str,
        from: &Location,
        sink: &mut Sink,
    ) -> Result<Option<Option<Node>>, ReadError> {
        if file == self.top.0 {
            return Ok(Some(self.top.1.get(name).cloned()));
        }
        if !self.files.contains_key(file) {
            let text = model::read_text(self.scope.input, file, sink)
                .map_err(|e| super::include::named_by(e, from))?;
            let root = match text {
                Text::Read(text) => {
                    model::tree(self.scope.input, file, &text, self.scope.lookup, sink)
                }
                Text::Absent => {
                    sink.syntax(
                        from.clone(),
                        format!(
                            "`extends` names the file `{}`, which does not exist",
                            sanitize(file)
                        ),
                    );
                    None
                }
                Text::Skipped => None,
            };
            self.files.insert(file.to_string(), root);
        }
        Ok(self.files[file]
            .as_ref()
            .map(|t| t.root().get("services").and_then(|s| s.get(name)).cloned()))
    }

    /// The layer `node` (service `name` of `file`, relative paths against `dir`) says.
    fn own(
        &mut self,
        file: &str,
        dir: &str,
        name: &str,
        node: &Node,
        sink: &mut Sink,
    ) -> ServiceLayer {
        let key = (file.to_string(), dir.to_string(), name.to_string());
        if let Some(l) = self.own.get(&key) {
            return l.clone();
        }
        let mut l = model::reader(file, dir, &mut sink.problems).service(name, node);
        if !self.scope.is_main() {
            resolve_bare(&mut l, self.scope.lookup, false);
        }
        self.own.insert(key, l.clone());
        l
    }

    /// The service `r` names, seen from `from` (a file whose relative paths resolve against
    /// `from_dir`), resolved; `chain` ends with the service that extends it.
    fn base(
        &mut self,
        from: &str,
        from_dir: &str,
        r: &Ref,
        chain: &mut Vec<Link>,
        sink: &mut Sink,
    ) -> Result<Option<(Merged, Inherited)>, ReadError> {
        let (file, dir) = match &r.file {
            None => (from.to_string(), from_dir.to_string()),
            Some(f) => {
                let path = join(from_dir, f);
                let dir = model::parent(&path).to_string();
                (path, dir)
            }
        };
        if let Some(i) = chain
            .iter()
            .position(|(f, s, _)| *f == file && *s == r.service)
        {
            let mut members: Vec<(String, String)> = chain[i..]
                .iter()
                .map(|(f, s, _)| (f.clone(), s.clone()))
                .collect();
            members.sort();
            if self.cycles.contains(&members) {
                return Ok(None);
            }
            self.cycles.push(members);
            let names: Vec<String> = chain[i..]
                .iter()
                .map(|(f, s, at)| format!("`{}` ({}:{})", sanitize(s), sanitize(f), at.line))
                .chain([format!("`{}`", sanitize(&r.service))])
                .collect();
            sink.syntax(
                r.at.clone(),
                format!(
                    "`extends` goes round in a cycle: {}; compose refuses such a project",
                    names.join(" extends ")
                ),
            );
            return Ok(None);
        }
        if chain.len() >= MAX_DEPTH {
            sink.syntax(
                r.at.clone(),
                format!("`extends` chained more than {MAX_DEPTH} services deep; envsync refuses such a project"),
            );
            return Ok(None);
        }
        let key = (file.clone(), dir.clone(), r.service.clone());
        if let Some(done) = self.done.get(&key) {
            return Ok(done.clone());
        }
        let Some(found) = self.service(&file, &r.service, &r.at, sink)? else {
            self.done.insert(key, None);
            return Ok(None);
        };
        let Some(node) = found else {
            sink.syntax(
                r.at.clone(),
                format!(
                    "`extends` names the service `{}`, which {} does not define",
                    sanitize(&r.service),
                    sanitize(&file)
                ),
            );
            self.done.insert(key, None);
            return Ok(None);
        };
        let own = self.own(&file, &dir, &r.service, &node, sink);
        let mut m = Merged::default();
        let mut inherited = Inherited::new();
        if let Some(Ok(next)) = extends_of(&file, &r.service, &node, sink) {
            if has_directive(&own) {
                sink.problems.push(Problem::Unsupported {
                    at: at(&file, node.line),
                    what: format!(
                        "`!override`/`!reset` in service `{}`, which extends another service and is extended itself: docker compose 2.40.3 applies them or not from one run to the next; envsync applies them to what `{}` extends",
                        sanitize(&r.service),
                        sanitize(&r.service)
                    ),
                });
            }
            chain.push((file.clone(), r.service.clone(), next.at.clone()));
            let below = self.base(&file, &dir, &next, chain, sink)?;
            chain.pop();
            if let Some((b, inh)) = below {
                m.apply(as_layer(&b, false));
                inherited = inh;
                mark(&b, &how(&next, &file, &dir), &mut inherited);
            }
        }
        m.apply(own);
        let out = Some((m, inherited));
        self.done.insert(key, out.clone());
        Ok(out)
    }
}

/// In an included project, an `environment:` entry without a value takes it from that
/// project's environment when the file is read if it is a list entry (`- KEY`), or if the
/// service extends another (any entry, its base's included); otherwise (`KEY:` in a service
/// that extends nothing) it waits for the main project's environment, like every other
/// service's. Measured with docker compose 2.40.3.
fn resolve_bare(l: &mut ServiceLayer, lookup: &dyn Fn(&str) -> Option<String>, all: bool) {
    let entries = match &mut l.environment {
        Some(Layer::Merge(v) | Layer::Override(v)) => v,
        _ => return,
    };
    for e in entries {
        let list = matches!(e.source, EnvSource::Environment { list: true, .. });
        if e.value.is_none() && (all || list) {
            e.value = lookup(&e.key);
        }
    }
}

/// How a service reached what `r` names (seen from `from`, whose paths resolve against
/// `from_dir`), for messages.
fn how(r: &Ref, from: &str, from_dir: &str) -> String {
    let file = r
        .file
        .as_deref()
        .map_or(from.to_string(), |f| join(from_dir, f));
    format!(
        "`extends` of service `{}` in {}",
        sanitize(&r.service),
        sanitize(&file)
    )
}

/// The services of `file` (a file of `scope`; `services` its `services:`), each with its
/// `extends` resolved.
pub(super) fn resolve(
    scope: &Scope<'_, '_>,
    file: &str,
    services: &Node,
    sink: &mut Sink,
) -> Result<Vec<Resolved>, ReadError> {
    let Some(map) = services.as_map() else {
        if !services.is_null() {
            sink.syntax(at(file, services.line), "services must be a mapping".into());
        }
        return Ok(Vec::new());
    };
    // Most files extend nothing: their services are read once, with nothing to remember.
    if !map.iter().any(|(_, v)| v.get("extends").is_some()) {
        let mut reader = model::reader(file, &scope.dir, &mut sink.problems);
        let mut out = Vec::with_capacity(map.len());
        for (k, v) in map {
            let Some(name) = k.as_str() else { continue };
            let mut layers = Vec::new();
            if v.directive != Some(Directive::Reset) {
                let mut l = reader.service(name, v);
                if !scope.is_main() {
                    resolve_bare(&mut l, scope.lookup, false);
                }
                layers.push(l);
            }
            out.push(Resolved {
                name: name.to_string(),
                at: at(file, k.line),
                directive: v.directive,
                layers,
                inherited: Inherited::new(),
            });
        }
        return Ok(out);
    }
    let mut ctx = Ctx {
        scope,
        top: (file, services),
        files: HashMap::new(),
        own: HashMap::new(),
        done: HashMap::new(),
        cycles: Vec::new(),
    };
    let mut out = Vec::new();
    for (k, v) in map {
        let Some(name) = k.as_str() else { continue };
        let mut r = Resolved {
            name: name.to_string(),
            at: at(file, k.line),
            directive: v.directive,
            layers: Vec::new(),
            inherited: Inherited::new(),
        };
        if v.directive == Some(Directive::Reset) {
            out.push(r);
            continue;
        }
        let own = ctx.own(file, &scope.dir, name, v, sink);
        if let Some(Ok(target)) = extends_of(file, name, v, sink) {
            let mut chain = vec![(file.to_string(), name.to_string(), target.at.clone())];
            if let Some((base, inherited)) =
                ctx.base(file, &scope.dir, &target, &mut chain, sink)?
            {
                r.layers.push(as_layer(&base, false));
                r.inherited = inherited;
                mark(&base, &how(&target, file, &scope.dir), &mut r.inherited);
            }
        }
        r.layers.push(own);
        if !scope.is_main() && r.layers.len() > 1 {
            for l in &mut r.layers {
                resolve_bare(l, scope.lookup, true);
            }
        }
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{Problem, Project};

    /// The project of the `-f` files `compose` over the in-memory infra repo `files`.
    pub(crate) fn project(files: &[(&str, String)], compose: &[&str]) -> Project {
        super::super::in_memory(files, compose).expect("the compose files exist")
    }

    fn refusals(p: &Project) -> Vec<String> {
        p.refusals().collect()
    }

    #[test]
    fn each_item_remembers_the_file_and_line_that_decided_it() {
        let p = project(
            &[
                (
                    "docker/compose.yml",
                    "services:\n  app:\n    extends:\n      file: ../lib/node.yml\n      service: node\n    environment:\n      OWN: '1'\n"
                        .into(),
                ),
                (
                    "lib/node.yml",
                    "services:\n  node:\n    image: x\n    env_file: [node.env]\n    environment:\n      TZ: UTC\n    ports: [\"9229:9229\"]\n    volumes: [\"./certs:/certs\"]\n"
                        .into(),
                ),
                ("lib/node.env", "LOG=debug\n".into()),
            ],
            &["docker/compose.yml"],
        );
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let app = &p.services["app"];
        let at = |k: &str| {
            (
                app.environment[k].at.file.clone(),
                app.environment[k].at.line,
            )
        };
        assert_eq!(at("OWN"), ("docker/compose.yml".into(), 7));
        assert_eq!(at("TZ"), ("lib/node.yml".into(), 6));
        assert_eq!(at("LOG"), ("lib/node.env".into(), 1));
        assert_eq!(app.ports[0].at.file, "lib/node.yml");
        assert_eq!(app.ports[0].at.line, 7);
        assert_eq!(app.volumes[0].source.as_deref(), Some("lib/certs"));
        assert_eq!(app.volumes[0].at.line, 8);
        // TZ is decided by an entry of `node`: editing it would change `node`'s other users.
        assert_eq!(
            app.inherited["TZ"],
            "`extends` of service `node` in lib/node.yml"
        );
        assert!(!app.inherited.contains_key("OWN"));
        assert!(!p.read.iter().any(|r| r.contains("compose-unsupported")));
    }

    #[test]
    fn cycles_and_long_chains_are_refused_at_their_line() {
        // a → b → c → a, across two files: one refusal, at the `extends` that closes it.
        let p = project(
            &[
                (
                    "compose.yml",
                    "services:\n  a:\n    image: x\n    extends: {file: other.yml, service: b}\n"
                        .into(),
                ),
                (
                    "other.yml",
                    "services:\n  b:\n    extends: c\n  c:\n    extends: {file: compose.yml, service: a}\n"
                        .into(),
                ),
            ],
            &["compose.yml"],
        );
        let r = refusals(&p);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(
            r[0].starts_with("infra other.yml:5: `extends` goes round in a cycle"),
            "{r:?}"
        );
        assert!(r[0].contains("`a` (compose.yml:4) extends `b` (other.yml:3) extends `c` (other.yml:5) extends `a`"), "{r:?}");

        // A chain longer than MAX_DEPTH ends with a refusal, not a deep recursion.
        let n = super::MAX_DEPTH + 10;
        let mut text = String::from("services:\n");
        for i in 0..n {
            text.push_str(&format!("  s{i}:\n    extends: s{}\n", i + 1));
        }
        text.push_str(&format!("  s{n}:\n    image: x\n"));
        let p = project(&[("compose.yml", text)], &["compose.yml"]);
        assert!(
            refusals(&p)
                .iter()
                .any(|r| r.contains("chained more than 64")),
            "{:?}",
            refusals(&p)
        );
    }

    #[test]
    fn malformed_extends_is_refused_naming_the_line() {
        for (extends, line) in [
            ("extends: [a]", 3),
            ("extends: {file: x.yml}", 3),
            ("extends: nope", 3),
            ("extends: {file: missing.yml, service: a}", 3),
        ] {
            let p = project(
                &[(
                    "compose.yml",
                    format!("services:\n  s:\n    {extends}\n    image: x\n"),
                )],
                &["compose.yml"],
            );
            let r = refusals(&p);
            assert!(
                r.len() == 1 && r[0].starts_with(&format!("infra compose.yml:{line}: ")),
                "{extends}: {r:?}"
            );
        }
    }

    #[test]
    fn an_override_of_a_base_does_not_reach_services_of_the_base_file() {
        // Measured: compose resolves `extends` in each file as that file writes the service.
        let p = project(
            &[
                (
                    "docker/compose.yml",
                    "services:\n  base:\n    image: x\n    environment: {A: '1'}\n  web:\n    extends: base\n"
                        .into(),
                ),
                (
                    "docker/prod/over.yml",
                    "services:\n  base:\n    environment: {A: '2'}\n  web2:\n    extends: {file: compose.yml, service: base}\n    environment: !override {B: '1'}\n"
                        .into(),
                ),
            ],
            &["docker/compose.yml", "docker/prod/over.yml"],
        );
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let value = |s: &str, k: &str| {
            p.services[s]
                .environment
                .get(k)
                .and_then(|v| v.value.clone())
        };
        assert_eq!(value("base", "A").as_deref(), Some("2"));
        assert_eq!(value("web", "A").as_deref(), Some("1"));
        // `file:` in the override file is relative to the project directory (docker/), and
        // the service's `!override` replaces what it extends.
        assert_eq!(value("web2", "A"), None);
        assert_eq!(value("web2", "B").as_deref(), Some("1"));
    }

    #[test]
    fn a_file_that_names_itself_resolves_paths_in_its_own_directory() {
        // Measured: `extends: base` in docker/prod/over.yml resolves base's env_file against
        // the project directory (docker/); `extends: {file: prod/over.yml, service: base}`
        // reads the file as an extended file, against docker/prod/.
        let p = project(
            &[
                ("docker/compose.yml", "services:\n  app:\n    image: x\n".into()),
                (
                    "docker/prod/over.yml",
                    "services:\n  base:\n    image: y\n    env_file: [b.env]\n  s1:\n    extends: base\n  s2:\n    extends: {file: prod/over.yml, service: base}\n"
                        .into(),
                ),
                ("docker/b.env", "K=docker\n".into()),
                ("docker/prod/b.env", "K=prod\n".into()),
            ],
            &["docker/compose.yml", "docker/prod/over.yml"],
        );
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let k = |s: &str| p.services[s].environment["K"].value.clone();
        assert_eq!(k("s1").as_deref(), Some("docker"));
        assert_eq!(k("s2").as_deref(), Some("prod"));
    }

    #[test]
    fn directives_in_a_chain_are_warned_about() {
        let p = project(
            &[(
                "compose.yml",
                "services:\n  c:\n    image: x\n    environment: {C: '1'}\n  b:\n    extends: c\n    environment: !override {B: '1'}\n  a:\n    extends: b\n"
                    .into(),
            )],
            &["compose.yml"],
        );
        assert!(!p.refused());
        assert!(
            p.problems
                .iter()
                .any(|pr| matches!(pr, Problem::Unsupported { at, .. } if at.line == 6)),
            "{:?}",
            p.problems
        );
        // envsync applies b's `!override` to what b extends.
        assert_eq!(
            p.services["a"].environment.keys().collect::<Vec<_>>(),
            ["B"]
        );
    }
}
