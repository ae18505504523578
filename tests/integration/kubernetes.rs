//! Kubernetes through the real binary and the real helm 3.17.2 and kubectl 1.32.3 (from
//! `.readers/k8s/`): `show --workload` on the fixture charts, a conformance test against an
//! independent reader, and the failures (helm missing or failing, hostile charts, broken
//! manifests, missing tables) that must be trouble naming what to do, never a panic or a leak.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;

use crate::common::{copy_tree, envsync, fixtures, helm, k8s_tool, repo_from, run, Run};

/// `envsync` with the real helm, and helm's directories under `home`.
fn with_helm(mut cmd: Command, home: &Path) -> Command {
    cmd.env("ENVSYNC_HELM", k8s_tool("helm"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    cmd
}

fn gprod_config() -> PathBuf {
    fixtures().join("gprod/kubernetes.envsync.toml")
}

/// `show --workload W --contour C --format json ARGS` with `config`, as JSON.
fn shown(config: &Path, workload: &str, contour: &str, extra: &[&str]) -> (Run, serde_json::Value) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = with_helm(envsync(config.parent().unwrap()), home.path());
    cmd.arg("--config")
        .arg(config)
        .args([
            "show",
            "--workload",
            workload,
            "--contour",
            contour,
            "--format",
            "json",
        ])
        .args(extra);
    let r = run(&mut cmd);
    let v = serde_json::from_str(&r.stdout).unwrap_or(serde_json::Value::Null);
    (r, v)
}

#[test]
fn the_gprod_chart_gives_each_contour_its_environment() {
    for (contour, port, db) in [
        ("dev", "3000", "gprod_dev"),
        ("stage", "3100", "gprod_stage"),
        ("prod", "3200", "gprod_prod"),
    ] {
        let (r, v) = shown(
            &gprod_config(),
            "deployment/gprod-backend",
            contour,
            &["--show-values"],
        );
        assert_eq!(r.code, 0, "{contour}: {}{}", r.stdout, r.stderr);
        let vars = &v["variables"];
        assert_eq!(vars["PORT"], port, "{contour}");
        assert_eq!(vars["POSTGRES_DB"], db, "{contour}");
        assert_eq!(v["from"]["JWT_SECRET"], "envFrom secret/gprod-backend-env");
        assert_eq!(v["from"]["PORT"], "env");
        assert!(vars["POD_NAMESPACE"].is_null());
        assert_eq!(
            v["cluster"]["POD_NAMESPACE"],
            "the pod's metadata.namespace"
        );
        // The values line that decides each value, and the template that rendered it.
        let values_at = v["values"]["PORT"].as_str().unwrap();
        assert!(
            values_at.starts_with(&format!(
                "backend helm/gprod-backend/values-{contour}.yaml:"
            )),
            "{values_at}"
        );
        assert!(v["origins"]["PORT"]
            .as_str()
            .unwrap()
            .starts_with("backend helm/gprod-backend/templates/deployment.yaml (rendered line "));
        assert!(v["helm"].as_str().unwrap().ends_with(&format!("template gprod-backend backend:helm/gprod-backend --namespace gprod -f values.yaml -f values-{contour}.yaml")));
        // The fixture is consistent: every key of the backend's env file (as the app reads it)
        // that the pod gets has the same value, except the database host (`db` in compose,
        // the `postgres` Service here).
        let env_file = ["development", "staging", "production"][["dev", "stage", "prod"]
            .iter()
            .position(|c| *c == contour)
            .unwrap()];
        let file = fixtures().join(format!("gprod/backend/.env.{env_file}"));
        let env = crate::common::shown(&file, "node-dotenv");
        let mut shared = 0;
        for (k, want) in env.as_object().unwrap() {
            let Some(got) = vars.get(k) else { continue };
            shared += 1;
            let want = want.as_str().unwrap();
            match k.as_str() {
                "POSTGRES_HOST" => assert_eq!((want, got.as_str().unwrap()), ("db", "postgres")),
                "DATABASE_URL" => assert_eq!(want.replace("@db:", "@postgres:"), *got, "{contour}"),
                _ => assert_eq!(want, got, "{contour} {k}"),
            }
        }
        assert!(shared >= 20, "{shared}");
        // The database gets its password from the chart's Secret.
        let (r, db_env) = shown(
            &gprod_config(),
            "deployment/postgres",
            contour,
            &["--show-values"],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(
            db_env["variables"]["POSTGRES_PASSWORD"],
            vars["POSTGRES_PASSWORD"]
        );
        assert_eq!(
            db_env["from"]["POSTGRES_PASSWORD"],
            "secretKeyRef gprod-backend-env.POSTGRES_PASSWORD"
        );
        // A Service named postgres makes the kubelet set POSTGRES_PORT in the database's pod.
        assert!(db_env["variables"]["POSTGRES_PORT"].is_null());
    }
}

#[test]
fn show_workload_never_prints_a_secret_without_show_values() {
    let mut secrets: Vec<String> = Vec::new();
    for f in ["values-dev.yaml", "values-stage.yaml", "values-prod.yaml"] {
        let text =
            std::fs::read_to_string(fixtures().join("gprod/backend/helm/gprod-backend").join(f))
                .unwrap();
        let mut in_secret = false;
        for line in text.lines() {
            if !line.starts_with(' ') {
                in_secret = line.starts_with("secretEnv:");
            } else if in_secret {
                let v = line.split_once(": ").unwrap().1.trim_matches('"');
                if v.len() > 8 {
                    secrets.push(v.to_string());
                }
            }
        }
    }
    assert!(secrets.len() >= 9, "{secrets:?}");
    for contour in ["dev", "stage", "prod"] {
        for format in ["text", "json"] {
            let home = tempfile::tempdir().unwrap();
            let mut cmd = with_helm(envsync(&fixtures()), home.path());
            cmd.arg("--config").arg(gprod_config()).args([
                "show",
                "--workload",
                "deployment/gprod-backend",
                "-c",
                contour,
                "--format",
                format,
                "-v",
            ]);
            let r = run(&mut cmd);
            assert_eq!(r.code, 0, "{}", r.stderr);
            assert!(r.stdout.contains("sha256:"), "{}", r.stdout);
            for s in &secrets {
                assert!(
                    !r.stdout.contains(s.as_str()) && !r.stderr.contains(s.as_str()),
                    "{contour} {format} leaks a secret"
                );
            }
            // -v says how the chart was rendered and how long it took.
            assert!(
                r.stderr.contains("rendered: ") && r.stderr.contains(" ms)"),
                "{}",
                r.stderr
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Conformance: envsync's environment equals what an independent reader computes from the real
// `helm template` output, read into JSON by kubectl itself (`kubectl label --local -o json`),
// and the Secrets `kubectl create secret generic --from-env-file --dry-run=client` makes.

/// One workload to compare.
struct Case {
    config: PathBuf,
    contour: &'static str,
    workload: &'static str,
    container: Option<&'static str>,
    namespace: &'static str,
    /// `helm template` arguments after `template` (chart path relative to the backend).
    helm: Option<Vec<String>>,
    /// Rendered files and manifests, relative to the backend, in order.
    files: Vec<&'static str>,
    /// Secrets made by kubectl: (name, env file relative to the backend).
    secrets: Vec<(&'static str, &'static str)>,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for contour in ["dev", "stage", "prod"] {
        for workload in ["deployment/gprod-backend", "deployment/postgres"] {
            out.push(Case {
                config: gprod_config(),
                contour,
                workload,
                container: None,
                namespace: "gprod",
                helm: Some(
                    [
                        "gprod-backend",
                        "helm/gprod-backend",
                        "--namespace=gprod",
                        "--values=helm/gprod-backend/values.yaml",
                        &format!("--values=helm/gprod-backend/values-{contour}.yaml"),
                    ]
                    .map(String::from)
                    .to_vec(),
                ),
                files: vec!["helm/db-manifests.yaml"],
                secrets: vec![],
            });
        }
    }
    let edge = fixtures().join("k8s/edge/envsync.toml");
    for container in [None, Some("sidecar"), Some("migrate")] {
        out.push(Case {
            config: edge.clone(),
            contour: "dev",
            workload: "deployment/edge",
            container,
            namespace: "edge",
            helm: Some(
                [
                    "edge",
                    "helm/edge",
                    "--namespace=edge",
                    "--values=helm/edge/values.yaml",
                    "--values=helm/edge/values-dev.yaml",
                    "--set=env.FROM_SET=set on the command line",
                    "--set=secretData.TOKEN=tok-Zq8Wm2Lx5Rv9",
                ]
                .map(String::from)
                .to_vec(),
            ),
            files: vec!["helm/extra.yaml"],
            secrets: vec![
                ("manual-secret", "secrets/manual.env"),
                ("edge-secret", "secrets/collides.env"),
            ],
        });
    }
    out.push(Case {
        config: edge,
        contour: "stage",
        workload: "deployment/edge",
        container: None,
        namespace: "edge",
        helm: None,
        files: vec!["rendered/stage.yaml", "helm/extra.yaml"],
        secrets: vec![("manual-secret", "secrets/manual.env")],
    });
    out
}

type Json = serde_json::Value;

fn kubectl(home: &Path) -> Command {
    let mut c = Command::new(k8s_tool("kubectl"));
    c.env_clear()
        .env("KUBECONFIG", "/nonexistent")
        .env("HOME", home);
    c
}

/// The objects of a YAML file as kubectl decodes them (sigs.k8s.io/yaml), as JSON.
fn kubectl_objects(file: &Path, home: &Path) -> Vec<Json> {
    let out = kubectl(home)
        .args(["label", "--local", "-o", "json", "-f"])
        .arg(file)
        .arg("envsync-conformance=1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Json>()
        .map(Result::unwrap)
        .flat_map(|v| match v["kind"].as_str() {
            Some(k) if k.ends_with("List") => v["items"].as_array().cloned().unwrap_or_default(),
            _ => vec![v],
        })
        .collect()
}

/// The Secret `kubectl create secret generic` makes from an env file.
fn kubectl_secret(name: &str, namespace: &str, file: &Path, home: &Path) -> Json {
    let out = kubectl(home)
        .args([
            "create",
            "secret",
            "generic",
            name,
            "-n",
            namespace,
            "--dry-run=client",
            "-o",
            "json",
        ])
        .arg(format!("--from-env-file={}", file.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A reader written from the kubelet's documented algorithm, on kubectl's JSON: `None` is a
/// value only the cluster knows.
fn kubelet_env(
    objects: &[Json],
    ns: &str,
    kind: &str,
    name: &str,
    container: Option<&str>,
) -> BTreeMap<String, Option<String>> {
    let in_ns = |o: &&Json| o["metadata"]["namespace"].as_str().unwrap_or(ns) == ns;
    let find = |k: &str, n: &str| {
        objects
            .iter()
            .filter(in_ns)
            .rfind(|o| o["kind"] == k && o["metadata"]["name"] == n)
    };
    let data = |k: &str, n: &str| -> Option<BTreeMap<String, String>> {
        let o = find(k, n)?;
        let mut m = BTreeMap::new();
        for (key, v) in o["data"].as_object().into_iter().flatten() {
            let s = v.as_str().unwrap().to_string();
            let s = if k == "Secret" {
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap())
                    .unwrap()
            } else {
                s
            };
            m.insert(key.clone(), s);
        }
        for (key, v) in o["stringData"].as_object().into_iter().flatten() {
            m.insert(key.clone(), v.as_str().unwrap().to_string());
        }
        Some(m)
    };
    let w = find(kind, name).expect("the workload is rendered");
    let spec = &w["spec"]["template"]["spec"];
    let all: Vec<&Json> = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(spec["initContainers"].as_array().into_iter().flatten())
        .collect();
    let c = match container {
        Some(n) => all.iter().find(|c| c["name"] == n).unwrap(),
        None if spec["containers"].as_array().unwrap().len() == 1 => &all[0],
        None => {
            let d = &w["spec"]["template"]["metadata"]["annotations"]
                ["kubectl.kubernetes.io/default-container"];
            all.iter().find(|c| c["name"] == *d).unwrap()
        }
    };
    let mut env: BTreeMap<String, Option<String>> = BTreeMap::new();
    for from in c["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or("");
        let (k, r) = if from["configMapRef"].is_object() {
            ("ConfigMap", &from["configMapRef"])
        } else {
            ("Secret", &from["secretRef"])
        };
        if let Some(m) = data(k, r["name"].as_str().unwrap()) {
            for (key, v) in m {
                env.insert(format!("{prefix}{key}"), Some(v));
            }
        }
    }
    // Service links, computed apart so that $(VAR) can see them after the container's own.
    let mut links: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (n, v) in [
        ("KUBERNETES_SERVICE_HOST", None),
        ("KUBERNETES_SERVICE_PORT", Some("443")),
        ("KUBERNETES_SERVICE_PORT_HTTPS", Some("443")),
        ("KUBERNETES_PORT", None),
        ("KUBERNETES_PORT_443_TCP", None),
        ("KUBERNETES_PORT_443_TCP_PROTO", Some("tcp")),
        ("KUBERNETES_PORT_443_TCP_PORT", Some("443")),
        ("KUBERNETES_PORT_443_TCP_ADDR", None),
    ] {
        links.insert(n.into(), v.map(String::from));
    }
    let link_off = spec["enableServiceLinks"] == false;
    for s in objects
        .iter()
        .filter(in_ns)
        .filter(|o| o["kind"] == "Service" && !link_off)
    {
        if s["spec"]["clusterIP"] == "None" || s["spec"]["type"] == "ExternalName" {
            continue;
        }
        let base = s["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_uppercase()
            .replace('-', "_");
        let ports = s["spec"]["ports"].as_array().unwrap();
        for (i, p) in ports.iter().enumerate() {
            let port = p["port"].as_u64().unwrap().to_string();
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            if i == 0 {
                links.insert(format!("{base}_SERVICE_HOST"), None);
                links.insert(format!("{base}_SERVICE_PORT"), Some(port.clone()));
                links.insert(format!("{base}_PORT"), None);
            }
            if let Some(pn) = p["name"].as_str() {
                links.insert(
                    format!(
                        "{base}_SERVICE_PORT_{}",
                        pn.to_uppercase().replace('-', "_")
                    ),
                    Some(port.clone()),
                );
            }
            let pp = format!("{base}_PORT_{port}_{proto}");
            links.insert(pp.clone(), None);
            links.insert(format!("{pp}_PROTO"), Some(proto.to_lowercase()));
            links.insert(format!("{pp}_PORT"), Some(port));
            links.insert(format!("{pp}_ADDR"), None);
        }
    }
    for e in c["env"].as_array().into_iter().flatten() {
        let n = e["name"].as_str().unwrap().to_string();
        let value = e["value"].as_str().unwrap_or("");
        if !value.is_empty() || e["valueFrom"].is_null() {
            // $(VAR) from what is set so far, then the links; `$$` is `$`.
            let mut out = String::new();
            let mut unknown = false;
            let chars: Vec<char> = value.chars().collect();
            let mut i = 0;
            while i < chars.len() {
                if chars[i] == '$' && i + 1 < chars.len() {
                    match chars[i + 1] {
                        '$' => {
                            out.push('$');
                            i += 2;
                        }
                        '(' => match chars[i + 2..].iter().position(|&c| c == ')') {
                            Some(len) => {
                                let var: String = chars[i + 2..i + 2 + len].iter().collect();
                                match env.get(&var).or(links.get(&var)) {
                                    Some(Some(v)) => out.push_str(v),
                                    Some(None) => unknown = true,
                                    None => out.push_str(&format!("$({var})")),
                                }
                                i += len + 3;
                            }
                            None => {
                                out.push_str("$(");
                                i += 2;
                            }
                        },
                        c => {
                            out.push('$');
                            out.push(c);
                            i += 2;
                        }
                    }
                } else {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            env.insert(n, (!unknown).then_some(out));
            continue;
        }
        let vf = &e["valueFrom"];
        if vf["fieldRef"].is_object() || vf["resourceFieldRef"].is_object() {
            env.insert(n, None);
            continue;
        }
        let (k, r) = if vf["configMapKeyRef"].is_object() {
            ("ConfigMap", &vf["configMapKeyRef"])
        } else {
            ("Secret", &vf["secretKeyRef"])
        };
        if let Some(v) = data(k, r["name"].as_str().unwrap())
            .and_then(|m| m.get(r["key"].as_str().unwrap()).cloned())
        {
            env.insert(n, Some(v));
        }
    }
    for (k, v) in links {
        env.entry(k).or_insert(v);
    }
    env
}

#[test]
fn the_environment_equals_what_an_independent_reader_makes_of_helm_and_kubectl_output() {
    let home = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for case in cases() {
        let backend = case.config.parent().unwrap().join("backend");
        let mut objects = Vec::new();
        if let Some(args) = &case.helm {
            let out = helm(home.path())
                .current_dir(&backend)
                .arg("template")
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let rendered = home.path().join("rendered.yaml");
            std::fs::write(&rendered, &out.stdout).unwrap();
            objects.extend(kubectl_objects(&rendered, home.path()));
        }
        for f in &case.files {
            objects.extend(kubectl_objects(&backend.join(f), home.path()));
        }
        // A Secret made by hand counts only where no object of that name exists.
        for (name, file) in &case.secrets {
            let taken = objects
                .iter()
                .any(|o| o["kind"] == "Secret" && o["metadata"]["name"] == *name);
            if !taken {
                objects.push(kubectl_secret(
                    name,
                    case.namespace,
                    &backend.join(file),
                    home.path(),
                ));
            }
        }
        let (kind, name) = case.workload.split_once('/').unwrap();
        let kind = match kind {
            "deployment" => "Deployment",
            other => panic!("{other}"),
        };
        let want = kubelet_env(&objects, case.namespace, kind, name, case.container);
        let mut extra = vec!["--show-values"];
        if let Some(c) = case.container {
            extra.extend(["--container", c]);
        }
        let (r, v) = shown(&case.config, case.workload, case.contour, &extra);
        assert!(
            r.code == 0,
            "{} {}: {}{}",
            case.contour,
            case.workload,
            r.stdout,
            r.stderr
        );
        let got: BTreeMap<String, Option<String>> = v["variables"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(String::from)))
            .collect();
        assert_eq!(
            got, want,
            "{} {} {:?}",
            case.contour, case.workload, case.container
        );
        compared += 1;
    }
    assert_eq!(compared, 10);
}

// ---------------------------------------------------------------------------------------------
// Failures: trouble (exit 2) that names the command or file and says what to do.

/// A writable copy of the GPROD fixtures with the Kubernetes configuration.
fn gprod_copy() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("gprod"), d.path());
    let config = d.path().join("kubernetes.envsync.toml");
    (d, config)
}

fn show_in(config: &Path, env: &[(&str, &str)], extra: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = with_helm(envsync(config.parent().unwrap()), home.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("--config")
        .arg(config)
        .args([
            "show",
            "--workload",
            "deployment/gprod-backend",
            "--contour",
            "dev",
        ])
        .args(extra);
    run(&mut cmd)
}

#[test]
fn without_helm_the_message_names_the_command_and_the_ways_out() {
    let r = show_in(
        &gprod_config(),
        &[("ENVSYNC_HELM", "/nonexistent/helm")],
        &[],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    for needle in [
        "`/nonexistent/helm` was not found",
        "helm template gprod-backend backend:helm/gprod-backend --namespace gprod -f values.yaml -f values-dev.yaml",
        "Install helm 3",
        "[contours.dev.kubernetes] rendered = [...]",
    ] {
        assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
    }
    // [kubernetes] helm in envsync.toml names it too, and ENVSYNC_HELM wins over it.
    let (d, config) = gprod_copy();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[kubernetes]\nhelm = \"/nowhere/helm\"\n"),
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = envsync(d.path());
    cmd.env_remove("ENVSYNC_HELM")
        .env("HELM_CACHE_HOME", home.path());
    let r = run(cmd.arg("--config").arg(&config).args([
        "show",
        "--workload",
        "deployment/gprod-backend",
        "-c",
        "dev",
    ]));
    assert!(
        r.stderr.contains("`/nowhere/helm` was not found"),
        "{}",
        r.stderr
    );
    assert_eq!(show_in(&config, &[], &[]).code, 0);
}

#[test]
fn a_failing_chart_is_trouble_and_helms_message_is_masked() {
    let (_d, config) = gprod_copy();
    let chart = config.parent().unwrap().join("backend/helm/gprod-backend");
    // `required` prints its message, here holding the JWT secret.
    std::fs::write(
        chart.join("templates/check.yaml"),
        "{{ required (printf \"no ingress host; the secret is %s\" .Values.secretEnv.JWT_SECRET) .Values.nothing }}\n",
    )
    .unwrap();
    let r = show_in(&config, &[], &[]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("failed: (exit status 1)"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("(a line that holds a secret value is not shown)"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("dev-7f3Kq9LmZx2Rb8Nw4Tp6Yc1Hs5Vd0Ge3"),
        "{}",
        r.stderr
    );
    // A template error without a secret is shown as helm wrote it.
    std::fs::write(
        chart.join("templates/check.yaml"),
        "{{ .Values.nothing.deeper }}\n",
    )
    .unwrap();
    let r = show_in(&config, &[], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("nil pointer evaluating interface {}.deeper"),
        "{}",
        r.stderr
    );
}

#[test]
fn hostile_charts_and_manifests_are_refused_at_once() {
    // A FIFO in the chart: Helm would block on it.
    let (_d, config) = gprod_copy();
    let chart = config.parent().unwrap().join("backend/helm/gprod-backend");
    let fifo = chart.join("templates/pipe.yaml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let r = show_in(&config, &[], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("backend helm/gprod-backend/templates/pipe.yaml: not a regular file"),
        "{}",
        r.stderr
    );
    std::fs::remove_file(&fifo).unwrap();
    // A link out of the repository.
    std::os::unix::fs::symlink("/etc/passwd", chart.join("templates/passwd.yaml")).unwrap();
    let r = show_in(&config, &[], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("leads outside the repository"),
        "{}",
        r.stderr
    );
    std::fs::remove_file(chart.join("templates/passwd.yaml")).unwrap();
    // A manifest that is not YAML, one that expands aliases without end, one nested too deep.
    let manifest = config
        .parent()
        .unwrap()
        .join("backend/helm/db-manifests.yaml");
    let good = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{good}---\nkind: [\n")).unwrap();
    let r = show_in(&config, &[], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("backend helm/db-manifests.yaml:") && r.stderr.contains("not YAML"),
        "{}",
        r.stderr
    );
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..8 {
        let p = if i == 0 {
            "a".to_string()
        } else {
            format!("l{}", i - 1)
        };
        bomb.push_str(&format!(
            "l{i}: &l{i} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        ));
    }
    std::fs::write(&manifest, bomb).unwrap();
    let r = show_in(&config, &[], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("aliases expand"), "{}", r.stderr);
    std::fs::write(&manifest, "[".repeat(100_000)).unwrap();
    let r = show_in(&config, &[], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("nested more than") || r.stderr.contains("recursion limit"),
        "{}",
        r.stderr
    );
    // A manifest that is a FIFO.
    std::fs::remove_file(&manifest).unwrap();
    assert!(Command::new("mkfifo")
        .arg(&manifest)
        .status()
        .unwrap()
        .success());
    let r = show_in(&config, &[], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not a regular file"), "{}", r.stderr);
}

#[test]
fn missing_tables_workloads_and_files_say_what_to_do() {
    // No table for the contour: nothing is rendered, and the chart is pointed at.
    let home = tempfile::tempdir().unwrap();
    let mut cmd = with_helm(envsync(&fixtures().join("gprod")), home.path());
    let r = run(cmd.args([
        "show",
        "--workload",
        "deployment/gprod-backend",
        "-c",
        "dev",
        "--backend",
        "backend",
        "--infra",
        "infra",
    ]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("has no [contours.dev.kubernetes] table"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("the backend has a chart in helm/"),
        "{}",
        r.stderr
    );
    let r = show_in(&gprod_config(), &[], &["--container", "nope"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("no container `nope`; its containers: gprod-backend"),
        "{}",
        r.stderr
    );
    let (r, _) = shown(&gprod_config(), "deployment/nope", "dev", &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no deployment/nope in namespace gprod; the workloads are: deployment/gprod-backend, deployment/postgres"), "{}", r.stderr);
    let (r, _) = shown(&gprod_config(), "widget/x", "dev", &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown kind `widget`"), "{}", r.stderr);
    // A configured file that does not exist, and a table with a typo.
    let (_d, config) = gprod_copy();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("helm/db-manifests.yaml", "helm/db.yaml", 1),
    )
    .unwrap();
    let r = show_in(&config, &[], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("the manifest backend:helm/db.yaml does not exist"),
        "{}",
        r.stderr
    );
    std::fs::write(&config, text.replacen("workload = ", "workloads = ", 1)).unwrap();
    let r = show_in(&config, &[], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("kubernetes.envsync.toml:17") && r.stderr.contains("workloads"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_missing_secret_stops_the_pod_and_show_says_so() {
    let (_d, config) = gprod_copy();
    let chart = config.parent().unwrap().join("backend/helm/gprod-backend");
    std::fs::remove_file(chart.join("templates/secret.yaml")).unwrap();
    let r = show_in(&config, &[], &["--format", "json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v: Json = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["missing_sources"][0]["name"], "gprod-backend-env");
    assert_eq!(v["missing_sources"][0]["optional"], false);
    assert!(v["errors"][0]
        .as_str()
        .unwrap()
        .contains("the pod does not start without it"));
    // Declared in secret_env_files instead: kubectl's reading of the env file is what the pod
    // gets, quotes included.
    let text = std::fs::read_to_string(&config).unwrap();
    let declared = text.replacen(
        "database = \"service/postgres\"\n",
        "database = \"service/postgres\"\nsecret_env_files = { \"gprod-backend-env\" = \"backend:.env.development\" }\n",
        1,
    );
    std::fs::write(&config, declared).unwrap();
    let r = show_in(&config, &[], &["--format", "json", "--show-values"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Json = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["variables"]["POSTGRES_PASSWORD"], "'dev-Pg_4nQ8wZr2Lx7'");
    assert_eq!(
        v["origins"]["POSTGRES_PASSWORD"],
        "backend .env.development:12"
    );
}

#[test]
fn a_chart_is_read_from_a_revision_or_the_working_tree() {
    let d = tempfile::tempdir().unwrap();
    let backend = d.path().join("backend");
    repo_from(&fixtures().join("gprod/backend"), &backend);
    let values = backend.join("helm/gprod-backend/values-dev.yaml");
    let text = std::fs::read_to_string(&values).unwrap();
    std::fs::write(&values, text.replace("PORT: \"3000\"", "PORT: \"3999\"")).unwrap();
    let port = |extra: &[&str]| {
        let home = tempfile::tempdir().unwrap();
        let mut cmd = with_helm(envsync(d.path()), home.path());
        cmd.arg("--config")
            .arg(gprod_config())
            .arg("--backend")
            .arg(&backend)
            .args(extra)
            .args([
                "show",
                "--workload",
                "deployment/gprod-backend",
                "-c",
                "dev",
                "--format",
                "json",
            ]);
        let r = run(&mut cmd);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v: Json = serde_json::from_str(&r.stdout).unwrap();
        v["variables"]["PORT"].as_str().unwrap().to_string()
    };
    assert_eq!(port(&[]), "3999");
    assert_eq!(port(&["--backend-rev", "HEAD"]), "3000");
}

#[test]
fn check_renders_the_chart_and_needs_helm() {
    // The consistent chart: check renders it and stays clean (the k8s-* rules find nothing).
    let home = tempfile::tempdir().unwrap();
    let mut cmd = with_helm(envsync(&fixtures().join("gprod")), home.path());
    let r = run(cmd.arg("--config").arg(gprod_config()).arg("check"));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "no drift (3 contours checked: dev, stage, prod)\n"
    );
    // Without helm, a contour with a chart cannot be judged: trouble naming helm.
    let mut cmd = envsync(&fixtures().join("gprod"));
    cmd.env("ENVSYNC_HELM", "/nonexistent/helm");
    let r = run(cmd.arg("--config").arg(gprod_config()).arg("check"));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("/nonexistent/helm"), "{}", r.stderr);
}

#[test]
fn show_reads_a_file_as_kubectl_does() {
    let f = fixtures().join("k8s/edge/backend/secrets/manual.env");
    let v = crate::common::shown(&f, "kubectl-env-file");
    assert_eq!(v["DB_PASSWORD"], "'quotes are kept'");
    assert_eq!(v["INDENTED"], "leading blanks go, trailing stay  ");
    assert_eq!(v["HASH"], "a#b # not a comment");
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("bad.env");
    std::fs::write(&bad, "A=1\nexport B=secret-value\n").unwrap();
    let r = run(envsync(d.path())
        .args(["show", "--dialect", "kubectl-env-file", "--format", "json"])
        .arg(&bad));
    assert_eq!(r.code, 1);
    let v: Json = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["error"]["line"], 2);
    assert!(!r.stdout.contains("secret-value"));
}

#[test]
fn init_writes_the_charts_table_commented() {
    let d = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("gprod/backend"), d.path());
    let r = run(envsync(d.path()).arg("init"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(d.path().join("envsync.toml")).unwrap();
    for needle in [
        "# chart = \"backend:helm/gprod-backend\"",
        "# values = [\"values.yaml\", \"values-prod.yaml\"]",
        "# manifests = [\"backend:helm/db-manifests.yaml\"]",
        "# [contours.stage.kubernetes]",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(!text
        .lines()
        .any(|l| l.starts_with("[contours.dev.kubernetes]")));
}

#[test]
fn check_verbose_names_the_helm_command_and_what_it_rendered() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = with_helm(envsync(&fixtures().join("gprod")), home.path());
    let r = run(cmd
        .arg("--config")
        .arg(gprod_config())
        .args(["check", "-v", "-c", "prod"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("read prod: kubernetes: "))
        .unwrap_or_else(|| panic!("no kubernetes line in:\n{}", r.stderr));
    for part in [
        "template gprod-backend backend:helm/gprod-backend --namespace gprod -f values.yaml -f values-prod.yaml (",
        " ms) + backend:helm/db-manifests.yaml: 7 objects; api deployment/gprod-backend container gprod-backend (namespace gprod), ",
    ] {
        assert!(line.contains(part), "{line}");
    }
}

/// The three contours' charts render at once: a helm that waits (up to 30 s) until all three
/// have started before it renders would time out if envsync waited for each in turn.
#[test]
fn the_contours_charts_render_at_once() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("starts");
    let helm_stub = dir.path().join("helm");
    std::fs::write(
        &helm_stub,
        format!(
            "#!/bin/sh\necho start >> '{log}'\ni=0\nwhile [ \"$(wc -l < '{log}')\" -lt 3 ]; do\n  i=$((i+1)); [ $i -gt 600 ] && echo alone >> '{log}.alone' && break; sleep 0.05\ndone\nexec '{helm}' \"$@\"\n",
            log = log.display(),
            helm = k8s_tool("helm").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helm_stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = with_helm(envsync(&fixtures().join("gprod")), home.path());
    let r = run(cmd
        .env("ENVSYNC_HELM", &helm_stub)
        .arg("--config")
        .arg(gprod_config())
        .arg("check"));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3);
    assert!(
        !dir.path().join("starts.alone").exists(),
        "a chart was rendered while the others had not started"
    );
}

/// `set` strings as Helm splits them: a secret with an escaped comma, or a list of tokens, is
/// one value, shown by `check -v` (and helm's errors) only as a fingerprint, no part of it.
#[test]
fn check_verbose_shows_no_part_of_a_secret_set_value() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("kubernetes.envsync.toml");
    let text = std::fs::read_to_string(gprod_config()).unwrap();
    let prod = "values = [\"values.yaml\", \"values-prod.yaml\"]";
    assert!(text.contains(prod));
    let set = r#"set = ["secretEnv.JWT_SECRET=CanaryHead1\\,CanaryTail9XyZwQ", "secretEnv.EXTRA_TOKENS={tokA-Canary1234,tokB-Canary0987},image.tag=1.3"]"#;
    let text = text.replace(prod, &format!("{prod}\n{set}"));
    // Paths in the copied config are relative to it: point them at the fixtures.
    let root = fixtures().join("gprod");
    let text = text
        .replace(
            "path = \"backend\"",
            &format!("path = {:?}", root.join("backend")),
        )
        .replace(
            "path = \"infra\"",
            &format!("path = {:?}", root.join("infra")),
        );
    std::fs::write(&config, text).unwrap();
    let mut cmd = with_helm(envsync(&root), home.path());
    let r = run(cmd
        .arg("--config")
        .arg(&config)
        .args(["check", "-v", "-c", "prod"]));
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("read prod: kubernetes: "))
        .unwrap_or_else(|| panic!("no kubernetes line in:\n{}{}", r.stdout, r.stderr));
    assert!(line.contains("--set secretEnv.JWT_SECRET=<"), "{line}");
    assert!(line.contains(",image.tag=1.3"), "{line}");
    let all = format!("{}{}", r.stdout, r.stderr);
    for secret in [
        "CanaryHead1,CanaryTail9XyZwQ",
        "tokA-Canary1234",
        "tokB-Canary0987",
    ] {
        for w in crate::common::windows8(&[secret]) {
            assert!(!all.contains(&w), "`{w}` of `{secret}` in:\n{all}");
        }
    }
}
