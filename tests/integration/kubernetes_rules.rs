//! The `k8s-*` rules of `check` through the real binary and the real helm 3.17.2 (from
//! `.readers/k8s/`): the consistent GPROD chart is clean, and each drift set
//! `fixtures/drift/k8s-<rule>` (the GPROD dev contour with one disagreement) gives exactly its
//! rule, with its severity and the values file or manifest line that decides it, and never a
//! secret value.

use std::path::Path;

use crate::common::{envsync, findings, fixtures, k8s_tool, run, Run};

/// The dev contour's secrets, and the canary planted as a literal env password.
const SECRETS: [&str; 3] = [
    "dev-Pg_4nQ8wZr2Lx7",
    "dev-7f3Kq9LmZx2Rb8Nw4Tp6Yc1Hs5Vd0Ge3",
    "canary-Smtp-9xQ2vLm7Rt4Kw8",
];

/// `envsync --config DIR/kubernetes.envsync.toml check --format json ARGS` in `dir`.
fn check(dir: &Path, extra: &[&str]) -> (Run, serde_json::Value) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = envsync(dir);
    cmd.env("ENVSYNC_HELM", k8s_tool("helm"))
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .arg("--config")
        .arg(dir.join("kubernetes.envsync.toml"))
        .args(["check", "--backend"])
        .arg(dir.join("backend"))
        .arg("--infra")
        .arg(dir.join("infra"))
        .args(["--format", "json"])
        .args(extra);
    let r = run(&mut cmd);
    for s in SECRETS {
        assert!(
            !r.stdout.contains(s) && !r.stderr.contains(s),
            "a secret leaked: {}{}",
            r.stdout,
            r.stderr
        );
    }
    let v = serde_json::from_str(&r.stdout).unwrap_or(serde_json::Value::Null);
    (r, v)
}

#[test]
fn the_consistent_gprod_chart_has_no_k8s_finding() {
    let (r, v) = check(&fixtures().join("gprod"), &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let codes: Vec<String> = findings(&v).into_iter().map(|f| f.0).collect();
    assert!(
        !codes
            .iter()
            .any(|c| c.starts_with("k8s-") || c == "database-url"),
        "{codes:?}"
    );
}

/// The drift set `k8s-<rule>`: exactly one finding, `rule` with `severity` at `locations`,
/// whose message says `says`; `exit` is the exit code.
fn drift(rule: &str, severity: &str, locations: &[&str], says: &str, exit: i32) {
    let (r, v) = check(
        &fixtures().join(format!("drift/{rule}")),
        &["--contour", "dev"],
    );
    assert_eq!(r.code, exit, "{rule}: {}{}", r.stdout, r.stderr);
    let got = findings(&v);
    let want = vec![(
        rule.to_string(),
        severity.to_string(),
        locations.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    )];
    assert_eq!(got, want, "{rule}: {}", r.stdout);
    let message = v["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains(says), "{rule}: {message}");
}

#[test]
fn k8s_missing_key_names_the_null_that_deletes_it() {
    drift(
        "k8s-missing-key",
        "error",
        &["backend helm/gprod-backend/values-dev.yaml:16"],
        "`JWT_SECRET: null` deletes it",
        1,
    );
}

#[test]
fn k8s_value_mismatch_port_3008_against_the_env_file() {
    drift(
        "k8s-value-mismatch",
        "error",
        &[
            "backend helm/gprod-backend/values-dev.yaml:6",
            "backend .env.development:3",
        ],
        "PORT = `3008`",
        1,
    );
}

#[test]
fn k8s_typed_value_an_unquoted_million_renders_1e6() {
    drift(
        "k8s-typed-value",
        "error",
        &[
            "backend helm/gprod-backend/values-dev.yaml:10",
            "backend .env.development:26",
        ],
        "`1e+06`",
        1,
    );
}

#[test]
fn k8s_db_host_short_name_across_namespaces() {
    drift(
        "k8s-db-host",
        "error",
        &[
            "backend helm/gprod-backend/values-dev.yaml:15",
            "backend helm/db-manifests.yaml:60",
        ],
        "postgres.develop-gprod.svc.cluster.local",
        1,
    );
}

#[test]
fn k8s_db_credentials_database_differs_from_the_db_workload() {
    drift(
        "k8s-db-credentials",
        "error",
        &[
            "backend helm/gprod-backend/values-dev.yaml:15",
            "backend helm/db-manifests.yaml:46",
        ],
        "POSTGRES_DB = `gprod`",
        1,
    );
}

#[test]
fn k8s_placeholder_is_a_warning_in_dev() {
    drift(
        "k8s-placeholder",
        "warning",
        &["backend helm/gprod-backend/values.yaml:54"],
        "REPLACE_SMTP_PASSWORD",
        0,
    );
}

#[test]
fn k8s_plaintext_secret_a_literal_env_password() {
    drift(
        "k8s-plaintext-secret",
        "warning",
        &["backend helm/gprod-backend/values-dev.yaml:10"],
        "literal `env` value",
        0,
    );
}

#[test]
fn k8s_secret_owner_rendered_and_from_an_env_file() {
    drift(
        "k8s-secret-owner",
        "warning",
        &[
            "backend .env.development:1",
            "backend helm/gprod-backend/templates/secret.yaml:1",
        ],
        "kubectl create secret generic gprod-backend-env",
        0,
    );
}

#[test]
fn k8s_missing_source_a_configmap_nothing_provides() {
    drift(
        "k8s-missing-source",
        "error",
        &["backend helm/gprod-backend/templates/deployment.yaml:29"],
        "configmap/gprod-backend-extra",
        1,
    );
}

#[test]
fn a_rule_can_be_disabled_like_any_other() {
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_tree(&fixtures().join("drift/k8s-value-mismatch"), dir.path());
    let config = dir.path().join("kubernetes.envsync.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[rule.k8s-value-mismatch]\nenabled = false\n"),
    )
    .unwrap();
    let (r, v) = check(dir.path(), &["--contour", "dev"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(findings(&v), vec![]);
}
