//! The project model built from its files, as compose-go's loader builds it before it resolves
//! any service's environment: each file read, parsed and interpolated with the environment of
//! the (sub)project it belongs to, its services' `extends` resolved within that file
//! ([`super::extends`]), the projects it `include`s loaded and imported ([`super::include`]),
//! and the files merged in `-f` order (`!reset` and `!override` included). What each service
//! then receives is [`super::env`]'s business; naming networks and volumes is [`super::load`]'s.

use std::collections::BTreeMap;

use crate::finding::Location;
use crate::mask::sanitize;
use crate::model::Repo;

use super::layer::{FileReader, Layer, Merged, ServiceLayer};
use super::yaml::{Directive, Kind, Node};
use super::{interpolate_tree, unreadable, Input, Lookup, Parsed, Problem, ReadError};

/// What a load collects besides the model: problems, and every file read (`-v`).
#[derive(Debug, Default)]
pub(super) struct Sink {
    pub(super) problems: Vec<Problem>,
    pub(super) read: Vec<String>,
    /// How many projects `include` has loaded so far (the same file included twice at every
    /// level would otherwise be read an exponential number of times).
    pub(super) included: usize,
}

impl Sink {
    pub(super) fn read_file(&mut self, repo: Repo, file: &str) {
        let shown = format!("{repo} {file}");
        if !self.read.contains(&shown) {
            self.read.push(shown);
        }
    }

    pub(super) fn syntax(&mut self, at: Location, message: String) {
        self.problems.push(Problem::Syntax { at, message });
    }
}

/// The project, or an included project, whose files are being read.
pub(super) struct Scope<'s, 'i> {
    pub(super) input: &'s Input<'i>,
    /// Its project directory, relative to the infra root: relative paths in its own files
    /// (not in files reached through `extends`) resolve against it.
    pub(super) dir: String,
    /// `${VAR}` in its files.
    pub(super) lookup: &'s dyn Fn(&str) -> Option<String>,
    /// The files that include it, outermost first, each with the `include` entry that went on
    /// (empty for the project itself): an include cycle is named from it.
    pub(super) chain: Vec<(String, Location)>,
}

impl Scope<'_, '_> {
    /// Is this the project itself (not an included one)?
    pub(super) fn is_main(&self) -> bool {
        self.chain.is_empty()
    }
}

/// A top-level network or volume as the files define it.
#[derive(Debug, Clone)]
pub(super) struct Def {
    /// `name:`.
    pub(super) name: Option<String>,
    pub(super) external: bool,
    /// Where it is declared (its `name:` when it has one).
    pub(super) at: Location,
    /// The definition merged across the files, to compare with an imported one.
    pub(super) node: Node,
}

/// A service's `environment:` entries that it does not write itself, by where they are and
/// their key: how the service reached them (`extends` of a service, `include` of a file).
pub(super) type Inherited = BTreeMap<(Location, String), String>;

/// Services, networks and volumes of a project (or an included one), merged across its files.
#[derive(Debug, Default)]
pub(super) struct Model {
    pub(super) services: BTreeMap<String, Merged>,
    pub(super) inherited: BTreeMap<String, Inherited>,
    /// Each service as written (interpolated), with the directory its relative paths resolve
    /// against, when exactly one file defines it: an imported service that a file also
    /// defines is a conflict unless the two are the same.
    pub(super) written: BTreeMap<String, Option<(Node, String)>>,
    pub(super) networks: BTreeMap<String, Def>,
    pub(super) volumes: BTreeMap<String, Def>,
    /// The top-level `name:` of the project's own files.
    pub(super) name: Option<String>,
}

/// What reading a compose file gave.
pub(super) enum Text {
    Read(String),
    Absent,
    /// A problem says why it is not read (outside both repos, not UTF-8).
    Skipped,
}

/// Read a compose file (a path relative to the infra root) as text.
pub(super) fn read_text(input: &Input<'_>, path: &str, sink: &mut Sink) -> Result<Text, ReadError> {
    match (input.read)(path) {
        Lookup::Found(r) => {
            sink.read_file(r.repo, &r.file);
            match String::from_utf8(r.bytes) {
                Ok(text) => Ok(Text::Read(text)),
                Err(e) => {
                    let bytes = e.as_bytes();
                    let line = 1 + bytes[..e.utf8_error().valid_up_to()]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count();
                    sink.syntax(
                        at(path, line),
                        "not valid UTF-8; compose reads UTF-8 only".into(),
                    );
                    Ok(Text::Skipped)
                }
            }
        }
        Lookup::Absent => Ok(Text::Absent),
        Lookup::Unreadable(why) => Err(unreadable(path, why)),
        Lookup::Refused(why) => {
            sink.problems.push(Problem::whole_file(path, why));
            Ok(Text::Skipped)
        }
    }
}

/// A compose file's location (compose files are named from the infra root, like `-f` files).
pub(super) fn at(file: &str, line: usize) -> Location {
    Location {
        repo: Repo::Infra,
        file: file.to_string(),
        line,
    }
}

/// A file's YAML tree: shared with the parse cache when there is nothing to interpolate (no
/// `$`), else its own interpolated copy.
pub(super) enum Tree {
    Shared(Parsed),
    Own(Node),
}

impl Tree {
    pub(super) fn root(&self) -> &Node {
        match self {
            Tree::Own(n) => n,
            // Only an `Ok` parse is kept as `Shared`.
            Tree::Shared(p) => p.as_ref().as_ref().unwrap_or(&NULL),
        }
    }
}

static NULL: Node = Node {
    kind: Kind::Null,
    line: 1,
    span: (0, 0),
    directive: None,
};

/// `text` (the file `file`) parsed and interpolated with `lookup`; `None` (with a problem)
/// when it is not YAML.
pub(super) fn tree(
    input: &Input<'_>,
    file: &str,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    sink: &mut Sink,
) -> Option<Tree> {
    let parsed = match input.cache {
        Some(cache) => cache.parse(text),
        None => Parsed::new(super::yaml11::parse(text)),
    };
    match &*parsed {
        Ok(root) if text.contains('$') => {
            let mut own = root.clone();
            interpolate_tree(&mut own, lookup, file, &mut sink.problems);
            Some(Tree::Own(own))
        }
        Ok(_) => Some(Tree::Shared(parsed)),
        Err(e) => {
            match e.kind {
                super::yaml::YamlErrorKind::Syntax => sink.syntax(
                    at(file, e.line),
                    format!("not YAML compose can read: {}", e.message),
                ),
                super::yaml::YamlErrorKind::Limit => sink.problems.push(Problem::Limit {
                    at: at(file, e.line),
                    message: e.message.clone(),
                }),
            }
            None
        }
    }
}

/// The project environment compose interpolates a (sub)project's files with: `outer` first
/// (the process environment, or the including project's), then the env files in order, each
/// line's `${VAR}` looking in `outer`, then in what the files set before it. `required`: a
/// listed file that does not exist is a problem there (an `include`'s `env_file`).
pub(super) fn project_env(
    input: &Input<'_>,
    names: &[String],
    outer: &dyn Fn(&str) -> Option<String>,
    required: Option<&Location>,
    sink: &mut Sink,
) -> Result<(BTreeMap<String, String>, Vec<String>), ReadError> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut read = Vec::new();
    for name in names {
        match (input.read)(name) {
            Lookup::Found(r) => {
                let known = env.clone();
                let decoded = crate::dialect::Dialect::Compose
                    .decode(&r.bytes, &|k| outer(k).or_else(|| known.get(k).cloned()));
                if let Some(e) = &decoded.error {
                    sink.problems
                        .push(Problem::in_file(&r, e.line, e.message.clone()));
                }
                for a in decoded.assignments {
                    env.insert(a.key, a.value);
                }
                sink.read_file(r.repo, &r.file);
                read.push(r.file);
            }
            Lookup::Absent => {
                if let Some(at) = required {
                    sink.syntax(
                        at.clone(),
                        format!("the include's env_file `{}` does not exist", sanitize(name)),
                    );
                }
            }
            Lookup::Unreadable(why) => return Err(unreadable(name, why)),
            Lookup::Refused(why) => sink.problems.push(Problem::whole_file(name, why)),
        }
    }
    Ok((env, read))
}

/// Structural equality of two YAML values, as compose compares two definitions of a
/// resource (positions and quoting aside; a null is not an empty mapping).
pub(super) fn same(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Null, Kind::Null) => true,
        (Kind::Scalar(x, _), Kind::Scalar(y, _)) => x == y,
        (Kind::Seq(x), Kind::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Kind::Map(x), Kind::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .find(|(k2, _)| same(k, k2))
                        .is_some_and(|(_, v2)| same(v, v2))
                })
        }
        _ => false,
    }
}

/// Is a service a file defines (`mine`) the same as the one it imports (`theirs`, as its one
/// file writes it, with the directory its relative paths resolve against)? compose compares
/// the two after resolving paths and `extends`; envsync only says yes when no path or
/// `extends` can make them differ.
fn same_service(mine: Option<&Node>, theirs: Option<&(Node, String)>, dir: &str) -> bool {
    let (Some(mine), Some((theirs, their_dir))) = (mine, theirs) else {
        return false;
    };
    let paths = [
        "env_file", "volumes", "build", "extends", "configs", "secrets",
    ];
    same(mine, theirs)
        && mine.get("extends").is_none()
        && (dir == their_dir || paths.iter().all(|k| mine.get(k).is_none()))
}

/// `from` merged over `into` the way overriding files merge a top-level resource: mappings key
/// by key, anything else replaced.
fn merge_node(into: &mut Node, from: &Node) {
    match (&mut into.kind, &from.kind) {
        (Kind::Map(mine), Kind::Map(theirs)) => {
            for (k, v) in theirs {
                match mine.iter_mut().find(|(k2, _)| same(k, k2)) {
                    Some((_, old)) => merge_node(old, v),
                    None => mine.push((k.clone(), v.clone())),
                }
            }
        }
        _ => *into = from.clone(),
    }
}

/// One file's definition of a top-level network or volume merged into `table`.
fn merge_def(table: &mut BTreeMap<String, Def>, key: &str, def: Def) {
    match table.get_mut(key) {
        None => {
            table.insert(key.to_string(), def);
        }
        Some(old) => {
            if def.name.is_some() {
                old.name = def.name;
                old.at = def.at;
            }
            if def.node.get("external").is_some() {
                old.external = def.external;
            }
            merge_node(&mut old.node, &def.node);
        }
    }
}

/// A top-level network or volume as one file defines it.
fn def(file: &str, key: &Node, value: &Node) -> Def {
    let name = value.get("name").and_then(Node::as_str).map(str::to_string);
    let external = value
        .get("external")
        .is_some_and(|e| e.as_str() == Some("true") || e.as_map().is_some());
    Def {
        at: at(
            file,
            value
                .get("name")
                .filter(|_| name.is_some())
                .unwrap_or(key)
                .line,
        ),
        name,
        external,
        node: value.clone(),
    }
}

/// A merged service as a layer to merge into another one: what it sets, with no directive
/// (those of the files it was merged from acted there). `at`: keep where it is defined.
pub(super) fn as_layer(m: &Merged, at: bool) -> ServiceLayer {
    ServiceLayer {
        at: if at { m.at.clone() } else { None },
        env_file: Some(Layer::Merge(m.env_file.clone())),
        environment: Some(Layer::Merge(m.environment.clone())),
        ports: Some(Layer::Merge(m.ports.clone())),
        networks: m.networks.clone().map(Layer::Merge),
        volumes: Some(Layer::Merge(m.volumes.clone())),
        profiles: m.profiles,
    }
}

/// The `environment:` entries of `m`, each marked as reached `how`.
pub(super) fn mark(m: &Merged, how: &str, into: &mut Inherited) {
    for e in &m.environment {
        into.entry((e.at.clone(), e.key.clone()))
            .or_insert_with(|| how.to_string());
    }
}

/// Read, parse and interpolate the file `file` of `scope` and merge it into `model`.
pub(super) fn merge_text(
    scope: &Scope<'_, '_>,
    model: &mut Model,
    file: &str,
    text: &str,
    sink: &mut Sink,
) -> Result<(), ReadError> {
    let Some(tree) = tree(scope.input, file, text, scope.lookup, sink) else {
        return Ok(());
    };
    merge_file(scope, model, file, tree.root(), sink)
}

/// Merge one file of `scope` (already interpolated) into `model`, as compose-go's
/// `loadYamlFile` does: its services' `extends` resolved, its includes imported (a resource
/// both defined and imported must be the same), then merged over what earlier files set.
fn merge_file(
    scope: &Scope<'_, '_>,
    model: &mut Model,
    file: &str,
    root: &Node,
    sink: &mut Sink,
) -> Result<(), ReadError> {
    let Some(top) = root.as_map() else {
        if !root.is_null() {
            sink.syntax(
                at(file, root.line),
                "a compose file must be a mapping".into(),
            );
        }
        return Ok(());
    };
    let section = |name: &str| top.iter().find(|(k, _)| k.as_str() == Some(name));
    let own = match section("services") {
        Some((_, services)) => super::extends::resolve(scope, file, services, sink)?,
        None => Vec::new(),
    };
    let imported = match section("include") {
        Some((_, entries)) => super::include::load(scope, file, entries, sink)?,
        None => Vec::new(),
    };
    // The file's own networks and volumes.
    let mut tables: [(&str, Vec<(String, Def)>); 2] = [("networks", vec![]), ("volumes", vec![])];
    for (which, defs) in &mut tables {
        let Some((_, v)) = section(which) else {
            continue;
        };
        for (rk, rv) in v.as_map().unwrap_or(&[]) {
            if let Some(key) = rk.as_str() {
                defs.push((key.to_string(), def(file, rk, rv)));
            }
        }
    }
    if scope.is_main() {
        if let Some((_, v)) = section("name") {
            model.name = v.as_str().map(str::to_string);
        }
    }

    // What the included projects bring, unless this file defines it otherwise.
    let own_node = |name: &str| section("services").and_then(|(_, s)| s.get(name));
    for inc in imported {
        for (name, m) in inc.model.services {
            if let Some(mine) = own.iter().find(|r| r.name == name) {
                let theirs = inc.model.written.get(&name).cloned().flatten();
                if !same_service(own_node(&name), theirs.as_ref(), &scope.dir) {
                    sink.syntax(
                        mine.at.clone(),
                        format!(
                            "service `{}` is defined here and in `{}`, which {}:{} includes; compose refuses a service defined twice this way (\"conflicts with imported resource\")",
                            sanitize(&name),
                            sanitize(&inc.file),
                            sanitize(&inc.at.file),
                            inc.at.line
                        ),
                    );
                    continue;
                }
            }
            let how = format!("`include` of {}", sanitize(&inc.file));
            let marks = model.inherited.entry(name.clone()).or_default();
            mark(&m, &how, marks);
            marks.extend(inc.model.inherited.get(&name).cloned().unwrap_or_default());
            model
                .services
                .entry(name.clone())
                .or_default()
                .apply(as_layer(&m, true));
            if !scope.is_main() {
                let w = inc.model.written.get(&name).cloned().flatten();
                model.written.insert(name, w);
            }
        }
        for ((which, mine), theirs) in tables.iter().zip([inc.model.networks, inc.model.volumes]) {
            let table = if *which == "networks" {
                &mut model.networks
            } else {
                &mut model.volumes
            };
            for (key, d) in theirs {
                if let Some((_, own_def)) = mine.iter().find(|(k, _)| *k == key) {
                    if !same(&own_def.node, &d.node) {
                        sink.syntax(
                            own_def.at.clone(),
                            format!(
                                "{which} `{}` is defined here and, differently, in `{}`, which {}:{} includes; compose refuses it (\"conflicts with imported resource\")",
                                sanitize(&key),
                                sanitize(&inc.file),
                                sanitize(&inc.at.file),
                                inc.at.line
                            ),
                        );
                        continue;
                    }
                }
                merge_def(table, &key, d);
            }
        }
    }

    // The file's own services, over what earlier files set.
    for r in own {
        // Kept to compare with a definition of the including project (only when imported).
        let written = (!scope.is_main())
            .then(|| own_node(&r.name).cloned())
            .flatten()
            .map(|n| (n, scope.dir.clone()));
        let name = r.name;
        if r.directive == Some(Directive::Reset) {
            model.services.remove(&name);
            model.inherited.remove(&name);
            model.written.remove(&name);
            continue;
        }
        let m = model.services.entry(name.clone()).or_default();
        let marks = model.inherited.entry(name.clone()).or_default();
        if r.directive == Some(Directive::Override) {
            *m = Merged::default();
            marks.clear();
        }
        for layer in r.layers {
            m.apply(layer);
        }
        marks.extend(r.inherited);
        if !scope.is_main() {
            // A second definition: not comparable with an imported one any more.
            let again = model.written.contains_key(&name);
            model
                .written
                .insert(name, if again { None } else { written });
        }
    }
    for (which, defs) in tables {
        let table = if which == "networks" {
            &mut model.networks
        } else {
            &mut model.volumes
        };
        for (key, d) in defs {
            merge_def(table, &key, d);
        }
    }
    Ok(())
}

/// The directory part of `file` (relative to the infra root).
pub(super) fn parent(file: &str) -> &str {
    super::parent(file)
}

/// A reader of one file's service keys, its relative paths resolved against `dir`.
pub(super) fn reader<'p>(
    file: &str,
    dir: &'p str,
    problems: &'p mut Vec<Problem>,
) -> FileReader<'p> {
    FileReader {
        file: file.to_string(),
        project_dir: dir,
        problems,
    }
}
