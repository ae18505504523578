//! The compose rules: `published-port`, `container-port`, `network`, `volume`,
//! `compose-interpolation`, `compose-file`, `compose-unsupported`, and the shared keys compared
//! with the db and api services' effective environment (`value-mismatch`).

use crate::compose::{EnvSource, Problem, Project, Service};
use crate::config::Roles;
use crate::finding::{Location, RuleCode, Severity};
use crate::mask::secret_named;

use crate::config::Rules;
use crate::load::files::{Consumer, Origin, Received, Role};
use crate::load::{ContourFiles, LoadedFile};

use super::eval::Sink;

/// The first service of a role present in the project.
pub(super) fn problems(sink: &mut Sink, rules: &Rules, cf: &ContourFiles<'_>, p: &Project) {
    let mut seen: Vec<(&Location, &str)> = Vec::new();
    for problem in &p.problems {
        match problem {
            // An env file `check` reads anyway: its `syntax` findings say it already.
            Problem::Syntax { at, .. } if cf.is_env_file(at) => {}
            Problem::Syntax { at, message } => sink.push(
                RuleCode::ComposeFile,
                None,
                format!("{message} (compose refuses this project)"),
                vec![at.clone()],
            ),
            Problem::Limit { at, message } => sink.push(
                RuleCode::ComposeFile,
                None,
                format!("{message} (envsync does not check this project further)"),
                vec![at.clone()],
            ),
            Problem::MissingEnvFile { at, path } => sink.push(
                RuleCode::ComposeFile,
                None,
                format!(
                    "env_file `{path}` does not exist (paths are relative to the project directory `{}`); compose refuses to start",
                    shown_dir(&p.dir)
                ),
                vec![at.clone()],
            ),
            Problem::Unsupported { at, what } => sink.push(
                RuleCode::ComposeUnsupported,
                None,
                format!("{what}: envsync does not model this, so what it decides is not checked"),
                vec![at.clone()],
            ),
            Problem::Interpolation {
                at,
                name,
                required,
                key,
            } => {
                if seen.contains(&(at, name.as_str())) {
                    continue;
                }
                seen.push((at, name));
                // What matters: the referenced variable, or the key whose value it becomes.
                let matters = |k: &str| rules.shared.contains(&k.to_string()) || rules.is_secret(k) || secret_named(k);
                let important = *required || matters(name) || key.as_deref().is_some_and(matters);
                let default = if important { Severity::Error } else { Severity::Warning };
                let Some(severity) = sink.rules.severity_or(RuleCode::ComposeInterpolation, sink.contour, default) else {
                    continue;
                };
                let read = match p.env_files.as_slice() {
                    [] => format!("compose reads `${{…}}` from `{}`, which does not exist", default_env(p)),
                    files => format!("compose reads `${{…}}` from {}, which does not define it", files.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")),
                };
                let elsewhere = cf
                    .infra
                    .as_ref()
                    .filter(|i| i.value(name).is_some() && !p.env_files.contains(&i.file))
                    .map(|i| {
                        let dir = default_env(p);
                        format!(
                            "; `{}` at the infra root defines {name}, but compose does not read it for interpolation: create `{dir}`, or, if compose is started with `--env-file {}`, say so in envsync.toml: [contours.{}] compose_env_files = [\"{}\"]",
                            i.file, i.file, sink.contour.name, i.file
                        )
                    })
                    .unwrap_or_default();
                let within = key
                    .as_deref()
                    .filter(|k| k != name)
                    .map(|k| format!(" (in the value of {k})"))
                    .unwrap_or_default();
                let what = if *required {
                    format!("`${{{name}:?…}}`{within} has no value and compose refuses to start")
                } else {
                    format!("`${{{name}}}`{within} is unset and becomes an empty string")
                };
                sink.push_severity(
                    RuleCode::ComposeInterpolation,
                    severity,
                    Some(name),
                    format!("{what}: {read}{elsewhere}"),
                    vec![at.clone()],
                );
            }
        }
    }
}

/// Is `at` in one of the contour's env files, which the env-file rules check themselves?
fn shown_dir(dir: &str) -> &str {
    if dir.is_empty() {
        "."
    } else {
        dir
    }
}

fn default_env(p: &Project) -> String {
    crate::compose::join(&p.dir, ".env")
}

pub(super) fn published_ports(sink: &mut Sink, roles: &Roles, p: &Project) {
    let c = sink.contour;
    let wanted = [
        ("api", &roles.api, Some(c.api_port)),
        ("db", &roles.db, Some(c.db_port)),
        ("adminer", &roles.adminer, c.adminer_port),
        ("redis", &roles.redis, c.redis_port),
    ];
    for (what, names, port) in wanted {
        let (Some(port), Some((name, svc))) = (port, p.role(names)) else {
            continue;
        };
        let published: Vec<_> = svc
            .ports
            .iter()
            .filter(|e| e.port.published.is_some())
            .collect();
        let right = published
            .iter()
            .any(|e| e.port.published_port() == Some(port));
        for e in published {
            if e.port.published_port() == Some(port) {
                continue;
            }
            let extra = if right {
                format!(" as well as {port}: compose appends the ports of every file; write `ports: !override` in the contour's file to replace them")
            } else {
                String::new()
            };
            sink.push(
                RuleCode::PublishedPort,
                None,
                format!(
                    "the {what} service `{name}` publishes host port {} (→ {}){extra}; the {} contour's {what} port is {port}",
                    e.port.published.as_deref().unwrap_or("?"),
                    e.port.target,
                    c.name
                ),
                vec![e.at.clone()],
            );
        }
    }
}

/// The port the API listens on: its effective `PORT`, else the backend's.
fn listen_port(
    rules: &Rules,
    api: &Service,
    backend: Option<&LoadedFile>,
) -> Option<(u16, String)> {
    let key = &rules.port_key;
    if let Some(v) = api.environment.get(key) {
        if let Some(p) = v.value.as_deref().and_then(|s| s.parse().ok()) {
            return Some((p, format!("the container's effective {key}, {}", v.at)));
        }
    }
    let b = backend?;
    let p = b.value(key)?.parse().ok()?;
    Some((p, format!("the backend's {key}, {}", b.loc_of(key))))
}

pub(super) fn container_ports(
    sink: &mut Sink,
    rules: &Rules,
    roles: &Roles,
    p: &Project,
    backend: Option<&LoadedFile>,
    nginx: &[(String, Vec<crate::compose::nginx::Upstream>)],
) {
    let Some((name, api)) = p.role(&roles.api) else {
        return;
    };
    let Some((port, why)) = listen_port(rules, api, backend) else {
        return;
    };
    // Another container port next to the API's (a debugger, metrics) is not drift.
    let maps_it = api.ports.iter().any(|e| e.port.target == u32::from(port));
    for e in api.ports.iter().filter(|_| !maps_it) {
        if e.port.target != u32::from(port) {
            sink.push(
                RuleCode::ContainerPort,
                None,
                format!(
                    "the api service `{name}` maps container port {}, but the API listens on {port} ({why})",
                    e.port.target
                ),
                vec![e.at.clone()],
            );
        }
    }
    for (file, ups) in nginx {
        for u in ups.iter().filter(|u| u.host == name) {
            if u.port != Some(port) {
                sink.push(
                    RuleCode::ContainerPort,
                    None,
                    format!(
                        "nginx proxies to `{name}:{}`, but the API listens on {port} ({why})",
                        u.port.map_or("?".to_string(), |p| p.to_string())
                    ),
                    vec![Location {
                        repo: crate::model::Repo::Infra,
                        file: file.clone(),
                        line: u.line,
                    }],
                );
            }
        }
    }
}

pub(super) fn networks(sink: &mut Sink, roles: &Roles, p: &Project) {
    let c = sink.contour;
    let api = p.role(&roles.api);
    let db = p.role(&roles.db);
    for (what, svc) in [("api", api), ("db", db)] {
        let Some((name, svc)) = svc else { continue };
        let names = p.network_names(svc);
        if !names.contains(&c.network) {
            // Point at what names the network: its top-level `name:`, else the service's entry.
            let at = svc
                .networks
                .iter()
                .find_map(|(k, _)| p.networks.get(k).map(|r| r.at.clone()))
                .or_else(|| svc.networks.first().map(|n| n.1.clone()))
                .unwrap_or_else(|| svc.at.clone());
            sink.push(
                RuleCode::Network,
                None,
                format!(
                    "the {what} service `{name}` is on {}, not on the {} contour's network `{}`",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    c.name,
                    c.network
                ),
                vec![at],
            );
        }
    }
    if let (Some((an, a)), Some((dn, d))) = (api, db) {
        let dnets = p.network_names(d);
        if !p.network_names(a).iter().any(|n| dnets.contains(n)) {
            sink.push(
                RuleCode::Network,
                None,
                format!("the api service `{an}` and the db service `{dn}` share no network: the API cannot reach `{dn}:5432`"),
                vec![a.at.clone(), d.at.clone()],
            );
        }
    }
}

/// The named volumes the db and api services mount: (role, service, volume key, its name, where).
pub fn data_volumes<'p>(
    roles: &Roles,
    p: &'p Project,
) -> Vec<(&'static str, &'p str, &'p str, String, &'p Location)> {
    let mut out = Vec::new();
    for (what, names) in [("db", &roles.db), ("api", &roles.api)] {
        let Some((name, svc)) = p.role(names) else {
            continue;
        };
        for m in &svc.volumes {
            if let (Some(src), "volume") = (m.source.as_deref(), m.kind.as_str()) {
                out.push((what, name, src, p.volume_name(src), &m.at));
            }
        }
    }
    out
}

pub(super) fn volumes(sink: &mut Sink, roles: &Roles, p: &Project, all: &[ContourFiles<'_>]) {
    let c = sink.contour;
    let expected = &c.volumes;
    for (what, name, key, full, at) in data_volumes(roles, p) {
        let ok = expected
            .iter()
            .any(|v| v == key || *v == full || full == format!("{}_{v}", p.name));
        if !ok && !expected.is_empty() {
            sink.push(
                RuleCode::Volume,
                None,
                format!(
                    "the {what} service `{name}` mounts volume `{key}` (`{full}`); the {} contour's volumes are {}",
                    c.name,
                    expected.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                ),
                vec![at.clone()],
            );
        }
        for other in all.iter().filter(|o| o.contour.name != c.name) {
            let Some(op) = &other.compose else { continue };
            if let Some(o) = data_volumes(roles, op).into_iter().find(|o| o.3 == full) {
                sink.push(
                    RuleCode::Volume,
                    None,
                    format!(
                        "volume `{full}` is mounted by the {what} service in {} and by the {} service in {}: the two contours would share its data",
                        c.name, o.0, other.contour.name
                    ),
                    vec![at.clone(), o.4.clone()],
                );
            }
        }
    }
}

/// A value a consumer (the db or api container) receives that is compared with the backend.
#[derive(Debug, Clone, Copy)]
pub struct ContainerVar<'a> {
    pub consumer: Consumer<'a>,
    pub key: &'a str,
    pub received: Received<'a>,
}

/// The keys a consumer must agree with the backend on: the shared `POSTGRES_*` keys for the
/// db; every shared key and `DATABASE_URL` for the api.
pub fn compared_keys(rules: &Rules, role: Role) -> impl Iterator<Item = &str> {
    let shared = rules
        .shared
        .iter()
        .map(String::as_str)
        .filter(move |k| role == Role::Api || k.starts_with("POSTGRES_"));
    shared.chain((role == Role::Api).then_some(rules.database_url.key.as_str()))
}

/// What the contour's consumers receive for their compared keys, leaving out values that come
/// from the contour's own env files: the env-file rules compare those already, and `fix` edits
/// them there. `check` compares these with the backend, `fix` repairs them.
pub fn container_vars<'a>(rules: &'a Rules, cf: &'a ContourFiles<'_>) -> Vec<ContainerVar<'a>> {
    let mut out = Vec::new();
    for consumer in cf.consumers(&rules.roles) {
        for key in compared_keys(rules, consumer.role()) {
            if let Some(received) = consumer.receives(key).filter(|r| !cf.is_env_file(r.at)) {
                out.push(ContainerVar {
                    consumer,
                    key,
                    received,
                });
            }
        }
    }
    out
}

/// Shared keys (and `DATABASE_URL` for the api) against the db and api services' effective
/// environment: what the containers get must be what the backend holds.
pub(super) fn effective_env(sink: &mut Sink, rules: &Rules, cf: &ContourFiles<'_>) {
    let Some(backend) = cf.backend.as_ref() else {
        return;
    };
    let url_key = rules.database_url.key.as_str();
    for ContainerVar {
        consumer,
        key,
        received,
    } in container_vars(rules, cf)
    {
        // A workload's key the backend lacks is compared with infra's.
        let file = match received.from {
            Origin::Workload(_) if backend.value(key).is_none() => cf.infra.as_ref(),
            _ => Some(backend),
        };
        let Some((bv, file)) = file.and_then(|f| Some((f.value(key)?, f))) else {
            continue;
        };
        let got = received.value;
        if got == Some(bv) {
            continue;
        }
        let (what, name) = (consumer.role().name(), consumer.name());
        let show = |v: &str| {
            if key == url_key && !sink.mask.hides(key) {
                format!("`{}`", crate::mask::url(v))
            } else {
                sink.show(key, v)
            }
        };
        let bshown = show(bv);
        let (code, how) = match received.from {
            Origin::Compose(var) => (
                RuleCode::ValueMismatch,
                match var.source {
                    EnvSource::EnvFile => "an env_file".to_string(),
                    EnvSource::Environment { .. } => {
                        "`environment:` (which wins over every env_file)".to_string()
                    }
                },
            ),
            Origin::Workload(var) => {
                // Known only in the cluster; or Helm's typing (`k8s-typed-value` says it).
                let Some(got) = got else { continue };
                if super::kubernetes::typed(var, bv) {
                    continue;
                }
                if key == url_key {
                    workload_url(sink, rules, consumer, got, bv, received.at, file);
                    continue;
                }
                (RuleCode::K8sValueMismatch, var.from.to_string())
            }
        };
        let shown = match got {
            None => "no value".to_string(),
            Some("") => "an empty value".to_string(),
            Some(v) => show(v),
        };
        let (kind, holder) = match consumer {
            Consumer::Service { .. } => ("container", "the backend".to_string()),
            Consumer::Workload { .. } => ("workload", format!("{} {}", file.repo, file.file)),
        };
        sink.push(
            code,
            Some(key),
            format!(
                "the {what} {kind} `{name}` gets {key} = {shown} from {how}, but {holder} holds {bshown}"
            ),
            vec![received.at.clone(), file.loc_of(key)],
        );
    }
}

/// A workload's `DATABASE_URL` against the env file's: user, password and database (its host
/// and port are the cluster's, judged by `k8s-db-host`).
fn workload_url(
    sink: &mut Sink,
    rules: &Rules,
    consumer: Consumer<'_>,
    got: &str,
    want: &str,
    at: &Location,
    file: &LoadedFile,
) {
    let key = rules.database_url.key.as_str();
    if crate::dialect::has_reference(want) || got.contains("$(") {
        return;
    }
    let (Ok(g), Ok(w)) = (
        crate::dburl::DbUrl::parse(got),
        crate::dburl::DbUrl::parse(want),
    ) else {
        return;
    };
    let pw = &rules.database_url.password_key;
    let parts = [
        ("user", g.user(), w.user()),
        (
            "password",
            g.password().unwrap_or(""),
            w.password().unwrap_or(""),
        ),
        ("database", g.database(), w.database()),
    ];
    for (part, a, b) in parts {
        if a == b {
            continue;
        }
        let show = |v: &str| {
            if part == "password" {
                sink.show(pw, v)
            } else {
                sink.mask.text(v)
            }
        };
        sink.push(
            RuleCode::K8sValueMismatch,
            Some(key),
            format!(
                "the {} workload `{}` connects with {part} {} ({key}), but {} {} names {}",
                consumer.role().name(),
                consumer.name(),
                show(a),
                file.repo,
                file.file,
                show(b)
            ),
            vec![at.clone(), file.loc_of(key)],
        );
    }
}

/// The backend's `DATABASE_URL` against what the db container really gets (`POSTGRES_USER`,
/// `POSTGRES_PASSWORD`, `POSTGRES_DB`, with the postgres image's defaults): a `${POSTGRES_DB:-…}`
/// default in a compose file creates another database than the one the API connects to.
pub(super) fn database(sink: &mut Sink, rules: &Rules, p: &Project, cf: &ContourFiles<'_>) {
    let r = &rules.database_url;
    let Some(backend) = cf.backend.as_ref() else {
        return;
    };
    let Some((name, db)) = p.role(&rules.roles.db) else {
        return;
    };
    let Some(url) = backend.value(&r.key) else {
        return;
    };
    if crate::dialect::has_reference(url) {
        return;
    }
    let Ok(parts) = crate::dburl::DbUrl::parse(url) else {
        return;
    };
    let get = |k: &str| {
        db.environment
            .get(k)
            .and_then(|v| v.value.as_deref().map(|s| (s, v)))
    };
    let user = get(&r.user_key).map_or(r.default_user.as_str(), |(v, _)| v);
    let checks = [
        (&r.user_key, Some(user), parts.user(), "user"),
        (
            &r.password_key,
            get(&r.password_key).map(|(v, _)| v),
            parts.password().unwrap_or(""),
            "password",
        ),
        // The postgres image names the database after the user when POSTGRES_DB is unset.
        (
            &r.database_key,
            Some(get(&r.database_key).map_or(user, |(v, _)| v)),
            parts.database(),
            "database",
        ),
    ];
    for (key, got, want, part) in checks {
        let Some(got) = got else { continue };
        let Some(var) = db.environment.get(key.as_str()) else {
            continue;
        };
        if got == want || cf.is_env_file(&var.at) || (part == "password" && got.is_empty()) {
            continue;
        }
        let show = |v: &str| sink.show(key, v);
        sink.push(
            RuleCode::DatabaseUrl,
            Some(&r.key),
            format!(
                "the db container `{name}` gets {key} = {}, but backend {} connects with {part} {}: the API and the database disagree",
                show(got),
                r.key,
                show(want)
            ),
            vec![var.at.clone(), backend.loc_of(&r.key)],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{files, good_backend, good_infra, E, W};
    use crate::compose::{load, Input, Lookup, Read};
    use crate::config::Config;
    use crate::finding::Severity;
    use crate::model::Repo;

    const BASE: &str = "services:\n  db:\n    image: postgres\n  app:\n    image: api\n";
    const CLEAN: &str = "services:\n  db:\n    env_file: [../.env]\n    ports: [\"5434:5432\"]\n    volumes: [\"pgdata_prod:/var/lib/postgresql/data\"]\n  app:\n    environment:\n      PORT: 3200\n    ports: [\"3200:3200\"]\nnetworks:\n  default:\n    name: gp-network-prod\nvolumes:\n  pgdata_prod:\n";

    /// Every finding (code, severity) for the prod contour with `overlay` as its contour file.
    fn codes(overlay: &str) -> Vec<(&'static str, Severity)> {
        let config = Config::preset();
        let prod = config.contour("prod").unwrap();
        let infra = good_infra(3200);
        let read = |p: &str| {
            let text = match p {
                "docker/docker-compose.yml" => BASE,
                "docker/prod/docker-compose.prod.yml" => overlay,
                ".env" => infra.as_str(),
                _ => return Lookup::Absent,
            };
            Lookup::Found(Read {
                repo: Repo::Infra,
                file: p.to_string(),
                bytes: text.as_bytes().to_vec(),
            })
        };
        let project = load(&Input {
            files: &[
                "docker/docker-compose.yml".to_string(),
                "docker/prod/docker-compose.prod.yml".to_string(),
            ],
            project_directory: None,
            env_files: None,
            root_name: "infra",
            process: crate::dialect::Env::Isolated,
            read: &read,
            cache: None,
            known: &|_, _| None,
        })
        .unwrap();
        let mut cf = files(prod, &good_backend(3200), &good_infra(3200));
        cf.compose = project;
        let rules = crate::config::Rules::gprod();
        let all = [cf];
        let mut v: Vec<_> = super::super::evaluate(&rules, &rules.mask(false), &all, &all)
            .into_iter()
            .map(|f| (f.code.name(), f.severity))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn each_compose_rule_fires_on_its_drift_and_only_there() {
        // (case, text of the clean overlay, what replaces it, the findings expected)
        type Case<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, Severity)]);
        let cases: [Case; 9] = [
            ("clean", "", "", &[]),
            (
                "db port",
                "\"5434:5432\"",
                "\"5432:5432\"",
                &[("published-port", E)],
            ),
            (
                "a second container port is not the API's, but published",
                "\"3200:3200\"",
                "\"3200:3200\", \"9229:9229\"",
                &[("published-port", E)],
            ),
            (
                "container port",
                "\"3200:3200\"",
                "\"3200:3000\"",
                &[("container-port", E)],
            ),
            (
                "network",
                "gp-network-prod",
                "gp-network",
                &[("network", E), ("network", E)],
            ),
            ("volume", "pgdata_prod", "pgdata_dev", &[("volume", E)]),
            (
                "secret interpolation",
                "PORT: 3200\n",
                "PORT: 3200\n      JWT_SECRET: ${NOPE}\n",
                &[("compose-interpolation", E), ("value-mismatch", E)],
            ),
            (
                "other interpolation",
                "PORT: 3200\n",
                "PORT: 3200\n      LOG: ${NOPE}\n",
                &[("compose-interpolation", W)],
            ),
            (
                "refused project",
                "env_file: [../.env]",
                "env_file: [../missing.env]",
                &[("compose-file", E)],
            ),
        ];
        for (name, from, to, want) in cases {
            assert!(CLEAN.contains(from), "{name}");
            let overlay = CLEAN.replace(from, to);
            assert_eq!(codes(&overlay), want.to_vec(), "{name}");
        }
    }
}

#[cfg(test)]
#[path = "compose_tests.rs"]
mod rule_tests;
