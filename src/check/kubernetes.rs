//! The Kubernetes rules over a contour's workloads (`k8s-missing-key`, `k8s-typed-value`,
//! `k8s-db-host`, `k8s-db-credentials`, `k8s-placeholder`, `k8s-plaintext-secret`,
//! `k8s-secret-owner`, `k8s-missing-source`). The shared keys compared with the workloads'
//! environment (`k8s-value-mismatch`) are [`super::compose::effective_env`]'s: a workload is
//! one more [`crate::load::files::Consumer`].

use crate::config::Rules;
use crate::dburl::DbUrl;
use crate::finding::{RuleCode, Severity};
use crate::k8s::{RefKind, SourceKind, Value, Var, VarFrom, WorkloadEnv};
use crate::load::files::workload_line;
use crate::load::{ContourFiles, Kube};
use crate::mask::{sanitize, secret_named};
use crate::model::Repo;

use super::eval::Sink;

/// Every `k8s-*` rule but `k8s-value-mismatch` over the contour's Kubernetes objects.
pub(super) fn rules(sink: &mut Sink, rules: &Rules, cf: &ContourFiles<'_>, kube: &Kube) {
    missing_keys(sink, rules, kube);
    typed_values(sink, cf, kube);
    missing_sources(sink, kube);
    db_host(sink, rules, kube);
    db_credentials(sink, rules, kube);
    placeholders(sink, kube);
    plaintext_secrets(sink, rules, kube);
    secret_owner(sink, kube);
}

/// The api workload and the db workload (when the `database` Service selects one).
fn workloads(kube: &Kube) -> impl Iterator<Item = (&'static str, &WorkloadEnv)> {
    std::iter::once(("api", &kube.api)).chain(kube.db.as_ref().map(|d| ("db", d)))
}

/// A required (backend) or shared key the api workload does not get.
fn missing_keys(sink: &mut Sink, rules: &Rules, kube: &Kube) {
    let api = &kube.api;
    let required = rules.required.get(&Repo::Backend).into_iter().flatten();
    let mut keys: Vec<&str> = super::compose::compared_keys(rules, crate::load::files::Role::Api)
        .chain(required.map(String::as_str))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        if api.vars.contains_key(key) {
            continue;
        }
        let (why, at) = match kube.cluster.values.deleted(key) {
            Some(at) => (format!("; the values entry `{key}: null` deletes it"), at),
            None => (String::new(), api.at.at.clone()),
        };
        sink.push(
            RuleCode::K8sMissingKey,
            Some(key),
            format!(
                "the api workload {} (container `{}`, namespace {}) does not get {key}{why}",
                api.label(),
                sanitize(&api.container),
                api.namespace
            ),
            vec![at],
        );
    }
}

/// Is `var`'s value one that Helm's typing changed from what the values file says, while the
/// env file holds what is written (`1000000` rendered `1e+06`)?
pub(super) fn typed(var: &Var, file_value: &str) -> bool {
    var.values
        .as_ref()
        .is_some_and(|e| e.retyped() && e.written == file_value)
}

/// A value of the api workload that differs from the env files only because Helm typed an
/// unquoted values entry.
fn typed_values(sink: &mut Sink, cf: &ContourFiles<'_>, kube: &Kube) {
    for (role, w) in workloads(kube) {
        for (key, var) in &w.vars {
            let Some(entry) = var.values.as_ref().filter(|e| e.retyped()) else {
                continue;
            };
            let Some(file) = [cf.backend.as_ref(), cf.infra.as_ref()]
                .into_iter()
                .flatten()
                .find(|f| f.value(key) == Some(entry.written.as_str()))
            else {
                continue;
            };
            let leaf = entry.path.rsplit('.').next().unwrap_or(&entry.path);
            sink.push(
                RuleCode::K8sTypedValue,
                Some(key),
                format!(
                    "the {role} workload {} gets {key} = {} because `{}: {}` is unquoted: Helm reads it as YAML ({}) and prints it that way; {} {} holds {}. Quote it: `{leaf}: \"{}\"`",
                    w.label(),
                    sink.show(key, &entry.helm),
                    sanitize(&entry.path),
                    sink.show(key, &entry.written).trim_matches('`'),
                    what_typed(&entry.written),
                    file.repo,
                    file.file,
                    sink.show(key, &entry.written),
                    sink.show(key, &entry.written).trim_matches('`'),
                ),
                vec![entry.at.clone(), file.loc_of(key)],
            );
        }
    }
}

/// How YAML 1.1 reads a plain scalar, for a message.
fn what_typed(written: &str) -> &'static str {
    crate::k8s::typing::resolve(written).name()
}

/// A Secret or ConfigMap (or key) that nothing provides.
fn missing_sources(sink: &mut Sink, kube: &Kube) {
    for (_, w) in workloads(kube) {
        for m in &w.missing {
            let default = if m.optional {
                Severity::Warning
            } else {
                Severity::Error
            };
            let Some(severity) =
                sink.rules
                    .severity_or(RuleCode::K8sMissingSource, sink.contour, default)
            else {
                continue;
            };
            sink.push_severity(
                RuleCode::K8sMissingSource,
                severity,
                m.variable.as_deref(),
                format!("{} ({})", m, w.label()),
                vec![m.at.at.clone()],
            );
        }
    }
}

/// The api workload's known `DATABASE_URL`, parsed, with its variable.
fn pod_url<'k>(rules: &Rules, kube: &'k Kube) -> Option<(DbUrl, &'k Var)> {
    let var = kube.api.vars.get(&rules.database_url.key)?;
    let Value::Known(v) = &var.value else {
        return None;
    };
    if v.contains("$(") {
        return None;
    }
    Some((DbUrl::parse(v).ok()?, var))
}

/// `DATABASE_URL`'s host against the rendered Services: does it name one the pod resolves,
/// and is its port that Service's?
fn db_host(sink: &mut Sink, rules: &Rules, kube: &Kube) {
    let Some((url, var)) = pod_url(rules, kube) else {
        return;
    };
    let host = url.host().to_ascii_lowercase();
    if host.is_empty() || host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() {
        return;
    }
    let ns_here = kube.api.namespace.as_str();
    let namespaces: Vec<&str> = kube
        .cluster
        .objects
        .iter()
        .map(|o| o.namespace.as_str())
        .chain([kube.cluster.namespace.as_str()])
        .collect();
    // NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local; anything else is not a Service.
    let (bare, svc) = match host
        .strip_suffix(".svc.cluster.local")
        .or_else(|| host.strip_suffix(".svc"))
    {
        Some(b) => (b, true),
        None => (host.as_str(), false),
    };
    let (name, ns) = match bare.split('.').collect::<Vec<_>>()[..] {
        [name] if !svc => (name, ns_here),
        [name, ns] if svc || namespaces.contains(&ns) => (name, ns),
        _ => return,
    };
    let port = url.port_or_default();
    let at = workload_line(&kube.api, var).clone();
    let key = rules.database_url.key.as_str();
    let api = kube.api.label();
    match kube.cluster.find(RefKind::Service, ns, name) {
        Some(service) => {
            let ports = service.service_ports();
            if ports.is_empty() || ports.contains(&port) {
                return;
            }
            let list: Vec<String> = ports.iter().map(u16::to_string).collect();
            sink.push(
                RuleCode::K8sDbHost,
                Some(key),
                format!(
                    "the api workload {api} connects to port {port} of Service {name} (namespace {ns}), but the Service's ports are {}: connect to {}",
                    list.join(", "),
                    list[0]
                ),
                vec![at, service.at().at],
            );
        }
        None => {
            let elsewhere: Vec<&crate::k8s::Object> = kube
                .cluster
                .objects
                .iter()
                .filter(|o| o.kind == "Service" && o.name == name && o.namespace != ns)
                .collect();
            let message = match elsewhere.first() {
                Some(o) => format!(
                    "the api workload {api} (namespace {ns_here}) connects to host `{}`, which resolves to Service {name} in namespace {ns} only, but Service {name} is in namespace {}: use `{name}.{}.svc.cluster.local`",
                    sanitize(&host),
                    o.namespace,
                    o.namespace
                ),
                None => format!(
                    "the api workload {api} connects to host `{}`, but no Service {name} is rendered or in the manifests in namespace {ns}",
                    sanitize(&host)
                ),
            };
            let mut locations = vec![at];
            locations.extend(elsewhere.first().map(|o| o.at().at));
            sink.push(RuleCode::K8sDbHost, Some(key), message, locations);
        }
    }
}

/// `DATABASE_URL`'s user, password and database against the db workload's `POSTGRES_*`.
fn db_credentials(sink: &mut Sink, rules: &Rules, kube: &Kube) {
    let Some(db) = &kube.db else {
        return;
    };
    let Some((url, url_var)) = pod_url(rules, kube) else {
        return;
    };
    let r = &rules.database_url;
    let get = |k: &str| db.vars.get(k).and_then(|v| Some((v.value.known()?, v)));
    let user = get(&r.user_key).map_or(r.default_user.as_str(), |(v, _)| v);
    let checks = [
        (&r.user_key, Some(user), url.user(), "user"),
        (
            &r.password_key,
            get(&r.password_key).map(|(v, _)| v),
            url.password().unwrap_or(""),
            "password",
        ),
        (
            &r.database_key,
            Some(get(&r.database_key).map_or(user, |(v, _)| v)),
            url.database(),
            "database",
        ),
    ];
    let url_at = workload_line(&kube.api, url_var).clone();
    for (key, got, want, part) in checks {
        let Some(got) = got else { continue };
        if got == want {
            continue;
        }
        let show = |v: &str| {
            if part == "password" {
                sink.show(key, v)
            } else {
                sink.mask.text(v)
            }
        };
        let db_at = db
            .vars
            .get(key.as_str())
            .map_or(&db.at.at, |v| workload_line(db, v))
            .clone();
        sink.push(
            RuleCode::K8sDbCredentials,
            Some(&r.key),
            format!(
                "the db workload {} gets {key} = {}, but the api workload {} connects with {part} {} ({}): the API and the database disagree",
                db.label(),
                show(got),
                kube.api.label(),
                show(want),
                r.key
            ),
            vec![url_at.clone(), db_at],
        );
    }
}

/// The placeholder a value still holds: a `REPLACE_…` word, `change_me`, `your_…`.
fn placeholder(value: &str) -> Option<String> {
    if let Some(i) = value.find("REPLACE_") {
        let word: String = value[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        return Some(format!("`{word}`"));
    }
    let lower = value.to_ascii_lowercase();
    for p in ["change_me", "changeme", "change-me"] {
        if lower.contains(p) {
            return Some(format!("`{p}`"));
        }
    }
    (lower.starts_with("your_") || lower.starts_with("your-")).then(|| "`your_…`".to_string())
}

/// A value that is still a placeholder in what a workload gets.
fn placeholders(sink: &mut Sink, kube: &Kube) {
    for (role, w) in workloads(kube) {
        for (key, var) in &w.vars {
            let Some(found) = var.value.known().and_then(placeholder) else {
                continue;
            };
            sink.push(
                RuleCode::K8sPlaceholder,
                Some(key),
                format!(
                    "the {role} workload {} gets {key} from {} still holding the placeholder {found}: set the contour's real value",
                    w.label(),
                    var.from
                ),
                vec![workload_line(w, var).clone()],
            );
        }
    }
}

/// A secret-named key given as a literal `env` value or from a ConfigMap.
fn plaintext_secrets(sink: &mut Sink, rules: &Rules, kube: &Kube) {
    for (role, w) in workloads(kube) {
        for (key, var) in &w.vars {
            if !(rules.is_secret(key) || secret_named(key)) || var.secret {
                continue;
            }
            let how = match &var.from {
                VarFrom::Env => "a literal `env` value",
                VarFrom::EnvFrom {
                    kind: SourceKind::ConfigMap,
                    ..
                }
                | VarFrom::KeyRef {
                    kind: SourceKind::ConfigMap,
                    ..
                } => "a ConfigMap",
                _ => continue,
            };
            if var.value.known().is_none_or(str::is_empty) {
                continue;
            }
            sink.push(
                RuleCode::K8sPlaintextSecret,
                Some(key),
                format!(
                    "the {role} workload {} gets {key} as {how} ({}), readable by anyone who can read the object: take it from a Secret (secretKeyRef or envFrom secretRef)",
                    w.label(),
                    var.from
                ),
                vec![workload_line(w, var).clone()],
            );
        }
    }
}

/// A Secret both rendered (Helm owns it) and created by hand from an env file.
fn secret_owner(sink: &mut Sink, kube: &Kube) {
    for c in &kube.cluster.collisions {
        sink.push(
            RuleCode::K8sSecretOwner,
            None,
            format!(
                "Secret {} in namespace {} is {} ({}) and also listed in secret_env_files ({}): `kubectl create secret generic {} --from-env-file` collides with it, and the pod gets the rendered one",
                sanitize(&c.name),
                c.namespace,
                c.provider,
                c.object,
                c.declared,
                sanitize(&c.name)
            ),
            vec![c.declared.clone(), c.object.at.clone()],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_recognised_and_real_values_are_not() {
        assert_eq!(
            placeholder("postgresql://u:REPLACE_PW@h/db").as_deref(),
            Some("`REPLACE_PW`")
        );
        assert_eq!(
            placeholder("please-CHANGE_ME").as_deref(),
            Some("`change_me`")
        );
        assert_eq!(placeholder("your_jwt_secret").as_deref(), Some("`your_…`"));
        assert_eq!(placeholder("dev-Pg_4nQ8wZr2Lx7"), None);
        assert_eq!(placeholder("postgres"), None);
    }
}
