//! The reader on small clusters built in memory: objects, sources and environments as the
//! kubelet would make them (the real `helm template` is exercised by the integration tests).

use super::*;

const NS: &str = "gprod";

/// A cluster from one manifest (`m.yaml`) and Secrets made from env files (`NAME=TEXT`).
fn cluster(manifest: &str, env_files: &[(&str, &str)]) -> Cluster {
    let files: Vec<(String, Vec<u8>)> =
        std::iter::once(("m.yaml".to_string(), manifest.as_bytes().to_vec()))
            .chain(
                env_files
                    .iter()
                    .map(|(n, t)| (format!("{n}.env"), t.as_bytes().to_vec())),
            )
            .collect();
    let read =
        move |_: Repo, f: &str| Ok(files.iter().find(|(n, _)| n == f).map(|(_, b)| b.clone()));
    let declared: Vec<(String, String, Repo, String)> = env_files
        .iter()
        .map(|(n, _)| {
            (
                NS.to_string(),
                n.to_string(),
                Repo::Backend,
                format!("{n}.env"),
            )
        })
        .collect();
    let mask = Mask::new(false, vec![], vec![], vec![]);
    load(&Input {
        contour: "dev",
        namespace: NS,
        chart: None,
        rendered: &[],
        manifests: &[(Repo::Backend, "m.yaml".to_string())],
        secret_env_files: &declared,
        read: &read,
        env: Env::Isolated,
        mask: &mask,
    })
    .unwrap()
}

fn deployment(containers: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n{containers}")
}

fn api(c: &Cluster) -> WorkloadEnv {
    c.env(&ObjectRef::parse("deployment/api").unwrap(), None)
        .unwrap()
}

fn value(env: &WorkloadEnv, k: &str) -> Option<String> {
    env.vars
        .get(k)
        .and_then(|v| v.value.known())
        .map(str::to_string)
}

#[test]
fn env_from_in_order_then_env_with_expansion() {
    let m = format!(
        "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  A: from-cm\n  B: cm-b\n  HOST: db\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: sec\ndata:\n  A: {}\n  PW: {}\nstringData:\n  PW: from-string-data\n",
        deployment(
            "        - name: api\n          envFrom:\n            - configMapRef: {name: cfg}\n            - secretRef: {name: sec}\n            - configMapRef: {name: cfg}\n              prefix: CM_\n          env:\n            - name: URL\n              value: \"postgres://$(HOST):$(PORT)/$(LATER)\"\n            - name: PORT\n              value: \"5432\"\n            - name: URL2\n              value: \"$(HOST):$(PORT) $$(HOST) $(NOPE)\"\n            - name: LATER\n              value: x\n            - name: B\n              value: env-b\n            - name: EMPTY\n"
        ),
        "ZnJvbS1zZWNyZXQ=", // from-secret
        "b2xk"              // old
    );
    let env = api(&cluster(&m, &[]));
    assert_eq!(value(&env, "A").as_deref(), Some("from-secret"));
    assert_eq!(value(&env, "CM_A").as_deref(), Some("from-cm"));
    assert_eq!(value(&env, "PW").as_deref(), Some("from-string-data"));
    assert_eq!(value(&env, "B").as_deref(), Some("env-b"));
    // $(PORT) is defined later, $(LATER) too: both stay as written.
    assert_eq!(
        value(&env, "URL").as_deref(),
        Some("postgres://db:$(PORT)/$(LATER)")
    );
    assert_eq!(
        value(&env, "URL2").as_deref(),
        Some("db:5432 $(HOST) $(NOPE)")
    );
    assert_eq!(value(&env, "EMPTY").as_deref(), Some(""));
    let a = &env.vars["A"];
    assert_eq!(a.from.to_string(), "envFrom secret/sec");
    assert!(a.secret);
    assert_eq!(
        env.vars["CM_B"].from.to_string(),
        "envFrom configmap/cfg prefix CM_"
    );
    assert!(!env.vars["CM_B"].secret);
    assert_eq!(env.vars["B"].from, VarFrom::Env);
    assert_eq!(
        env.vars["PW"].at.as_ref().unwrap().to_string(),
        "backend m.yaml:45"
    );
    assert!(env.starts(), "{:?} {:?}", env.missing, env.problems);
}

#[test]
fn key_references_env_files_and_collisions() {
    let m = format!(
        "{}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: helm-owned\nstringData:\n  JWT: rendered\n",
        deployment(
            "        - name: api\n          envFrom:\n            - secretRef: {name: manual}\n          env:\n            - name: PW\n              valueFrom:\n                secretKeyRef: {name: manual, key: POSTGRES_PASSWORD}\n            - name: JWT\n              valueFrom:\n                secretKeyRef: {name: helm-owned, key: JWT}\n            - name: NS\n              valueFrom:\n                fieldRef: {fieldPath: metadata.namespace}\n            - name: MEM\n              valueFrom:\n                resourceFieldRef: {resource: limits.memory}\n"
        )
    );
    let c = cluster(
        &m,
        &[
            (
                "manual",
                "# made by hand\nPOSTGRES_PASSWORD='quoted'\nOTHER=a # b\n",
            ),
            ("helm-owned", "JWT=manual\n"),
        ],
    );
    let env = api(&c);
    // kubectl keeps quotes and `#`.
    assert_eq!(value(&env, "PW").as_deref(), Some("'quoted'"));
    assert_eq!(value(&env, "OTHER").as_deref(), Some("a # b"));
    assert_eq!(
        env.vars["PW"].from.to_string(),
        "secretKeyRef manual.POSTGRES_PASSWORD"
    );
    assert_eq!(env.vars["PW"].provider, Some(Provider::EnvFile));
    assert_eq!(
        env.vars["PW"].at.as_ref().unwrap().to_string(),
        "backend manual.env:2"
    );
    // The rendered Secret wins over the declared one, and the collision is recorded.
    assert_eq!(value(&env, "JWT").as_deref(), Some("rendered"));
    assert_eq!(c.collisions.len(), 1);
    assert_eq!(c.collisions[0].name, "helm-owned");
    assert_eq!(c.collisions[0].declared.file, "helm-owned.env");
    assert_eq!(
        env.vars["NS"].value,
        Value::Cluster("the pod's metadata.namespace".into())
    );
    assert_eq!(
        env.vars["NS"].from.to_string(),
        "fieldRef metadata.namespace"
    );
    assert_eq!(
        env.vars["MEM"].from.to_string(),
        "resourceFieldRef limits.memory"
    );
}

#[test]
fn missing_sources_are_recorded_never_guessed() {
    let m = format!(
        "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  K: from-envfrom\n",
        deployment(
            "        - name: api\n          envFrom:\n            - configMapRef: {name: cfg}\n            - secretRef: {name: gone}\n            - secretRef: {name: maybe, optional: true}\n          env:\n            - name: K\n              valueFrom:\n                configMapKeyRef: {name: cfg, key: NOPE, optional: true}\n            - name: L\n              valueFrom:\n                configMapKeyRef: {name: cfg, key: NOPE}\n            - name: M\n              valueFrom:\n                secretKeyRef: {name: elsewhere, key: X}\n"
        )
    );
    let env = api(&cluster(&m, &[]));
    // An optional key that is missing leaves the variable as envFrom set it.
    assert_eq!(value(&env, "K").as_deref(), Some("from-envfrom"));
    assert!(!env.vars.contains_key("L") && !env.vars.contains_key("M"));
    let got: Vec<(String, Option<String>, bool, Option<String>)> = env
        .missing
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                m.key.clone(),
                m.optional,
                m.variable.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("gone".into(), None, false, None),
            ("maybe".into(), None, true, None),
            ("cfg".into(), Some("NOPE".into()), true, Some("K".into())),
            ("cfg".into(), Some("NOPE".into()), false, Some("L".into())),
            ("elsewhere".into(), None, false, Some("M".into())),
        ]
    );
    assert!(!env.starts());
    let shown = env.missing[0].to_string();
    assert!(shown.starts_with("backend m.yaml:"), "{shown}");
    assert!(shown.contains("does not start"), "{shown}");
}

#[test]
fn service_links_fill_what_the_container_does_not_set() {
    let svc = "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: postgres\nspec:\n  ports:\n    - port: 5432\n      name: pg\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: headless\nspec:\n  clusterIP: None\n  ports:\n    - port: 80\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: other-ns\n  namespace: elsewhere\nspec:\n  ports:\n    - port: 80\n";
    let m = format!(
        "{}{svc}",
        deployment("        - name: api\n          env:\n            - name: POSTGRES_PORT\n              value: \"5432\"\n            - name: DB\n              value: \"$(POSTGRES_SERVICE_HOST):$(POSTGRES_SERVICE_PORT)\"\n")
    );
    let env = api(&cluster(&m, &[]));
    assert_eq!(value(&env, "POSTGRES_PORT").as_deref(), Some("5432"));
    assert_eq!(
        value(&env, "POSTGRES_SERVICE_PORT").as_deref(),
        Some("5432")
    );
    assert_eq!(
        value(&env, "POSTGRES_SERVICE_PORT_PG").as_deref(),
        Some("5432")
    );
    assert_eq!(
        value(&env, "POSTGRES_PORT_5432_TCP_PROTO").as_deref(),
        Some("tcp")
    );
    assert!(matches!(
        env.vars["POSTGRES_SERVICE_HOST"].value,
        Value::Cluster(_)
    ));
    assert!(matches!(env.vars["DB"].value, Value::Cluster(_)));
    assert_eq!(
        value(&env, "KUBERNETES_SERVICE_PORT").as_deref(),
        Some("443")
    );
    assert!(!env
        .vars
        .keys()
        .any(|k| k.starts_with("HEADLESS_") || k.starts_with("OTHER_NS_")));
    assert_eq!(
        env.vars["POSTGRES_SERVICE_PORT"].from.to_string(),
        "service link service/postgres"
    );
    // enableServiceLinks: false keeps only the kubernetes Service's.
    let off = m.replace(
        "    spec:\n      containers:",
        "    spec:\n      enableServiceLinks: false\n      containers:",
    );
    let env = api(&cluster(&off, &[]));
    assert!(!env.vars.contains_key("POSTGRES_SERVICE_HOST"));
    assert!(env.vars.contains_key("KUBERNETES_SERVICE_HOST"));
}

#[test]
fn what_the_api_server_refuses_is_a_problem_at_its_line() {
    let m = format!(
        "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  N: 1000000\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  BAD: not base64!\n",
        deployment("        - name: api\n          env:\n            - name: PORT\n              value: 3000\n            - name: OK\n              value: \"3000\"\n            - name: FLAG\n              value: yes\n            - name: ON\n              value: x\n")
    );
    let c = cluster(&m, &[]);
    let env = api(&c);
    let shown: Vec<String> = env
        .problems
        .iter()
        .chain(&c.problems)
        .map(ToString::to_string)
        .collect();
    assert!(
        shown
            .iter()
            .any(|p| p.contains("m.yaml:12") && p.contains("a YAML integer")),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|p| p.contains("m.yaml:16") && p.contains("a YAML boolean")),
        "{shown:?}"
    );
    // `name: ON` is a YAML 1.1 boolean too.
    assert!(
        shown
            .iter()
            .any(|p| p.contains("m.yaml:17") && p.contains("without a name")),
        "{shown:?}"
    );
    assert!(shown.iter().any(|p| p.contains("data.N")), "{shown:?}");
    assert!(
        shown.iter().any(|p| p.contains("key `BAD` is not base64")),
        "{shown:?}"
    );
    assert!(!env.vars.contains_key("PORT"));
    assert_eq!(value(&env, "OK").as_deref(), Some("3000"));
    assert!(!env.starts());
}

#[test]
fn containers_are_chosen_by_name_annotation_or_alone() {
    let two = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  template:\n    metadata:\n      annotations:\n        kubectl.kubernetes.io/default-container: main\n    spec:\n      initContainers:\n        - name: init\n          env: [{name: I, value: \"1\"}]\n      containers:\n        - name: side\n          env: [{name: S, value: \"1\"}]\n        - name: main\n          env: [{name: M, value: \"1\"}]\n";
    let c = cluster(two, &[]);
    let r = ObjectRef::parse("sts/db").unwrap();
    assert_eq!(c.env(&r, None).unwrap().container, "main");
    assert!(c.env(&r, Some("side")).unwrap().vars.contains_key("S"));
    let init = c.env(&r, Some("init")).unwrap();
    assert!(init.init && init.vars.contains_key("I"));
    let e = c.env(&r, Some("nope")).unwrap_err().to_string();
    assert!(
        e.contains("no container `nope`; its containers: side, main"),
        "{e}"
    );
    let plain = two.replace(
        "      annotations:\n        kubectl.kubernetes.io/default-container: main\n",
        "      labels: {}\n",
    );
    let e = cluster(&plain, &[]).env(&r, None).unwrap_err().to_string();
    assert!(
        e.contains("2 containers (side, main); name one with container"),
        "{e}"
    );
    let e = c
        .env(&ObjectRef::parse("deployment/api").unwrap(), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no deployment/api in namespace gprod; the workloads are: statefulset/db"),
        "{e}"
    );
}

#[test]
fn sources_are_read_in_the_workloads_namespace_only() {
    let m = format!(
        "{}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: develop-gprod\nstringData:\n  A: x\n",
        deployment("        - name: api\n          envFrom:\n            - secretRef: {name: s}\n")
    );
    let c = cluster(&m, &[]);
    let env = api(&c);
    assert_eq!(env.missing.len(), 1);
    assert_eq!(env.missing[0].namespace, "gprod");
    assert!(c.find(RefKind::Secret, "develop-gprod", "s").is_some());
    let dup = format!(
        "{m}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: develop-gprod\n"
    );
    let c = cluster(&dup, &[]);
    assert!(
        matches!(c.problems[0], Problem::Duplicate { .. }),
        "{:?}",
        c.problems
    );
}

#[test]
fn a_refused_or_cut_env_file_is_a_problem_and_no_secret() {
    let m = deployment(
        "        - name: api\n          envFrom:\n            - secretRef: {name: manual}\n",
    );
    let c = cluster(&m, &[("manual", "A=1\nexport B=2\n")]);
    let shown: Vec<String> = c.problems.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 1);
    assert!(
        shown[0].starts_with("backend manual.env:2: kubectl refuses this file"),
        "{}",
        shown[0]
    );
    assert!(c.problems[0].blocks());
    assert_eq!(api(&c).missing.len(), 1);
}

#[test]
fn many_objects_stay_linear() {
    // 20,000 objects, one of them twice: duplicates are found by hashing, not by pairs.
    let mut m = String::new();
    for i in 0..20_000 {
        m.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  K: v\n"
        ));
    }
    m.push_str("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c7\n");
    let c = cluster(&m, &[]);
    assert_eq!(c.objects.len(), 20_001);
    assert_eq!(c.problems.len(), 1);
    assert!(c.problems[0]
        .to_string()
        .contains("ConfigMap/c7 in namespace gprod is also defined at backend m.yaml:51"));
    assert!(c
        .sources
        .get(SourceKind::ConfigMap, NS, "c7")
        .unwrap()
        .keys
        .is_empty());
}
