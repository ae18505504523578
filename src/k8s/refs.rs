//! References to Kubernetes objects as users write them in `envsync.toml` and on the command
//! line: `deployment/gprod-backend`, `service/postgres`, `develop-gprod/service/postgres`.
//!
//! Parsed once into an [`ObjectRef`]; kinds are matched the way kubectl matches them
//! (case-insensitive, singular, plural or short name: `deploy`, `sts`, `svc`), names are checked
//! as the API server checks them (DNS-1123), so a typo is reported where it is written rather
//! than as "no such workload" after rendering.

use std::fmt;

/// The kinds envsync reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    CronJob,
    Pod,
    Service,
    Secret,
    ConfigMap,
}

impl RefKind {
    const ALL: [RefKind; 10] = [
        RefKind::Deployment,
        RefKind::StatefulSet,
        RefKind::DaemonSet,
        RefKind::ReplicaSet,
        RefKind::Job,
        RefKind::CronJob,
        RefKind::Pod,
        RefKind::Service,
        RefKind::Secret,
        RefKind::ConfigMap,
    ];

    /// The `kind:` of the objects this names.
    pub fn kind(self) -> &'static str {
        match self {
            RefKind::Deployment => "Deployment",
            RefKind::StatefulSet => "StatefulSet",
            RefKind::DaemonSet => "DaemonSet",
            RefKind::ReplicaSet => "ReplicaSet",
            RefKind::Job => "Job",
            RefKind::CronJob => "CronJob",
            RefKind::Pod => "Pod",
            RefKind::Service => "Service",
            RefKind::Secret => "Secret",
            RefKind::ConfigMap => "ConfigMap",
        }
    }

    /// kubectl's names for it: the lower-case kind, its plural, its short names.
    fn names(self) -> &'static [&'static str] {
        match self {
            RefKind::Deployment => &["deployment", "deployments", "deploy"],
            RefKind::StatefulSet => &["statefulset", "statefulsets", "sts"],
            RefKind::DaemonSet => &["daemonset", "daemonsets", "ds"],
            RefKind::ReplicaSet => &["replicaset", "replicasets", "rs"],
            RefKind::Job => &["job", "jobs"],
            RefKind::CronJob => &["cronjob", "cronjobs", "cj"],
            RefKind::Pod => &["pod", "pods", "po"],
            RefKind::Service => &["service", "services", "svc"],
            RefKind::Secret => &["secret", "secrets"],
            RefKind::ConfigMap => &["configmap", "configmaps", "cm"],
        }
    }

    /// The kind named `s` (as kubectl accepts it), if envsync reads it.
    pub fn parse(s: &str) -> Option<RefKind> {
        let lower = s.to_ascii_lowercase();
        RefKind::ALL
            .into_iter()
            .find(|k| k.names().contains(&lower.as_str()))
    }

    /// The kind of an object's `kind:`.
    pub fn of_kind(kind: &str) -> Option<RefKind> {
        RefKind::ALL.into_iter().find(|k| k.kind() == kind)
    }

    /// Does it run containers (has a pod template, or is a pod)?
    pub fn is_workload(self) -> bool {
        !matches!(
            self,
            RefKind::Service | RefKind::Secret | RefKind::ConfigMap
        )
    }

    /// How references write it: `deployment`.
    pub fn name(self) -> &'static str {
        self.names()[0]
    }
}

impl fmt::Display for RefKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `[NAMESPACE/]KIND/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// Written explicitly; else the contour's namespace applies.
    pub namespace: Option<String>,
    pub kind: RefKind,
    pub name: String,
}

impl ObjectRef {
    /// Parse `KIND/NAME` or `NAMESPACE/KIND/NAME`; the message says what is wrong.
    pub fn parse(s: &str) -> Result<ObjectRef, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let (namespace, kind, name) = match parts.as_slice() {
            [kind, name] => (None, *kind, *name),
            [ns, kind, name] => (Some(*ns), *kind, *name),
            _ => {
                return Err(format!(
                    "`{}` is not KIND/NAME or NAMESPACE/KIND/NAME (e.g. deployment/gprod-backend, develop-gprod/service/postgres)",
                    crate::mask::sanitize(s)
                ))
            }
        };
        let Some(k) = RefKind::parse(kind) else {
            return Err(format!(
                "unknown kind `{}`; envsync reads {}",
                crate::mask::sanitize(kind),
                RefKind::ALL.map(RefKind::name).join(", ")
            ));
        };
        check_name(name).map_err(|why| format!("name `{}`: {why}", crate::mask::sanitize(name)))?;
        if let Some(ns) = namespace {
            check_namespace(ns)
                .map_err(|why| format!("namespace `{}`: {why}", crate::mask::sanitize(ns)))?;
        }
        Ok(ObjectRef {
            namespace: namespace.map(str::to_string),
            kind: k,
            name: name.to_string(),
        })
    }

    /// The namespace it lives in: its own, else `default`.
    pub fn namespace_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(default)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// An object name as the API server accepts it (a DNS-1123 subdomain: lower-case letters,
/// digits, `-` and `.`, at most 253 characters, starting and ending alphanumeric).
pub fn check_name(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > 253 {
        return Err("must be 1 to 253 characters");
    }
    for label in s.split('.') {
        check_label(label, 253)?;
    }
    Ok(())
}

/// A namespace as the API server accepts it (a DNS-1123 label, at most 63 characters).
pub fn check_namespace(s: &str) -> Result<(), &'static str> {
    check_label(s, 63)
}

fn check_label(s: &str, max: usize) -> Result<(), &'static str> {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || b.len() > max {
        return Err("must be lower-case letters, digits and `-` (1 to 63 characters)");
    }
    if !ok(&b[0]) || !ok(&b[b.len() - 1]) || !b.iter().all(|c| ok(c) || *c == b'-') {
        return Err("must be lower-case letters, digits and `-`, starting and ending with a letter or digit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_as_kubectl_names_them() {
        let r = ObjectRef::parse("deployment/gprod-backend").unwrap();
        assert_eq!(
            (r.kind, r.name.as_str(), r.namespace),
            (RefKind::Deployment, "gprod-backend", None)
        );
        let r = ObjectRef::parse("develop-gprod/svc/postgres").unwrap();
        assert_eq!(r.kind, RefKind::Service);
        assert_eq!(r.namespace_or("gprod"), "develop-gprod");
        assert_eq!(r.to_string(), "develop-gprod/service/postgres");
        assert_eq!(
            ObjectRef::parse("Deploy/x").unwrap().kind,
            RefKind::Deployment
        );
        assert_eq!(ObjectRef::parse("sts/db-0.x").unwrap().name, "db-0.x");
        for bad in [
            "gprod-backend",
            "a/b/c/d",
            "ingress/x",
            "deployment/Gprod",
            "deployment/-x",
            "NS/deployment/x",
            "deployment/",
        ] {
            assert!(ObjectRef::parse(bad).is_err(), "{bad}");
        }
        assert!(ObjectRef::parse("widget/x")
            .unwrap_err()
            .contains("envsync reads deployment"));
    }
}
