//! What checking produces: rule codes, severities, findings with their locations, and the
//! report that orders and counts them. A leaf module next to [`crate::model`]: rules create
//! findings, renderers print them, and neither needs the other.

use serde::Serialize;

use crate::model::Repo;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Where a finding points.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    pub repo: Repo,
    pub file: String,
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}:{}", self.repo, self.file, self.line)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: RuleCode,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contour: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub message: String,
    pub locations: Vec<Location>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
}

/// The result of `check` (and of the hook).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub version: u32,
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// The contours that were checked.
    #[serde(skip)]
    pub contours: Vec<String>,
    /// What was read, one line per file (`-v`).
    #[serde(skip)]
    pub read: Vec<String>,
}

impl Report {
    pub fn new(mut findings: Vec<Finding>, contours: Vec<String>) -> Report {
        // Contours in the order they were checked, errors first, then by place.
        let rank = |c: &Option<String>| {
            c.as_ref()
                .and_then(|c| contours.iter().position(|x| x == c))
                .unwrap_or(usize::MAX)
        };
        findings.sort_by(|a, b| {
            (rank(&a.contour), b.severity, &a.locations, a.code.name()).cmp(&(
                rank(&b.contour),
                a.severity,
                &b.locations,
                b.code.name(),
            ))
        });
        findings.dedup();
        let errors = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        Report {
            version: 1,
            summary: Summary {
                errors,
                warnings: findings.len() - errors,
            },
            findings,
            contours,
            read: Vec::new(),
        }
    }

    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }
}

macro_rules! rule_codes {
    ($($variant:ident => $name:literal, $default:ident, $doc:literal;)*) => {
        /// Stable rule codes. Each has a page in `docs/rules/<code>.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuleCode { $(#[doc = $doc] $variant,)* }

        impl RuleCode {
            pub const ALL: &'static [RuleCode] = &[$(RuleCode::$variant,)*];
            pub fn name(self) -> &'static str {
                match self { $(RuleCode::$variant => $name,)* }
            }
            pub fn default_severity(self) -> Severity {
                match self { $(RuleCode::$variant => Severity::$default,)* }
            }
            pub fn summary(self) -> &'static str {
                match self { $(RuleCode::$variant => $doc,)* }
            }
        }
    };
}

rule_codes! {
    MissingKey => "missing-key", Error, "a required variable is absent or empty";
    ValueMismatch => "value-mismatch", Error, "a shared variable decodes to different values in the two repos";
    DatabaseUrl => "database-url", Error, "backend DATABASE_URL is unparsable or disagrees with infra's POSTGRES_* and the compose host";
    PortMismatch => "port-mismatch", Error, "PORT differs from the contour's API port";
    WeakSecret => "weak-secret", Error, "a secret is too short or a placeholder";
    ReusedSecret => "reused-secret", Error, "prod shares a secret with another contour";
    DuplicateKey => "duplicate-key", Error, "a variable is assigned twice in one file";
    DialectDivergence => "dialect-divergence", Warning, "a shared value would decode differently under the other repo's dialect";
    Syntax => "syntax", Error, "a line no consumer can read";
    ForeignContourKey => "foreign-contour-key", Warning, "a key prefixed with another contour's name (the app's loader falls back to it)";
    StagedSecretFile => "staged-secret-file", Error, "a secret-bearing env file is staged for commit (hook)";
    SecretInExample => "secret-in-example", Error, "an example or template file holds a real-looking secret (hook)";
    UnsetReference => "unset-reference", Warning, "a ${VAR} reference names a variable nothing defines (read as empty)";
    PublishedPort => "published-port", Error, "a compose service publishes a host port other than the contour's";
    ContainerPort => "container-port", Error, "the api service's container port (or nginx's upstream) is not the port the API listens on";
    Network => "network", Error, "the contour's services are not on the contour's network, or api and db share none";
    Volume => "volume", Error, "the db or api data volume is not the contour's, or two contours share one";
    ComposeInterpolation => "compose-interpolation", Error, "a ${VAR} in a compose file resolves to empty or unset";
    ComposeFile => "compose-file", Error, "a compose file (or an env_file it names) cannot be read as compose reads it";
    ComposeUnsupported => "compose-unsupported", Warning, "a compose construct envsync does not model, so what it decides is not checked";
    K8sMissingKey => "k8s-missing-key", Error, "a required or shared key is not in the Kubernetes api workload's effective environment";
    K8sValueMismatch => "k8s-value-mismatch", Error, "a shared key differs between a Kubernetes workload's environment and the contour's env files";
    K8sTypedValue => "k8s-typed-value", Error, "a workload's value differs because Helm/YAML typed an unquoted values entry (1000000 renders 1e+06)";
    K8sDbHost => "k8s-db-host", Error, "the api workload's DATABASE_URL host is not a Service the pod can resolve, or its port is not the Service's";
    K8sDbCredentials => "k8s-db-credentials", Error, "the api workload's DATABASE_URL user, password or database disagree with the db workload's POSTGRES_*";
    K8sPlaceholder => "k8s-placeholder", Error, "a workload's rendered value is still a placeholder (REPLACE_*, change_me, your_…)";
    K8sPlaintextSecret => "k8s-plaintext-secret", Warning, "a secret-named key is given to a workload as a literal env value or from a ConfigMap";
    K8sSecretOwner => "k8s-secret-owner", Warning, "a Secret is both rendered by the chart and created from an env file (secret_env_files)";
    K8sMissingSource => "k8s-missing-source", Error, "an envFrom/valueFrom Secret or ConfigMap (or key) is neither rendered, in the manifests, nor in secret_env_files";
}

impl std::str::FromStr for RuleCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RuleCode::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let all: Vec<_> = RuleCode::ALL.iter().map(|c| c.name()).collect();
                format!("unknown rule `{s}`; known rules: {}", all.join(", "))
            })
    }
}

impl Serialize for RuleCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}
