//! `migrate --via kubernetes`: the GPROD chart rendered by the real helm, the URL the pod really
//! uses, and a stub `kubectl` first on PATH whose `port-forward` is a real loopback TCP proxy to
//! the test PostgreSQL (tests/data/kubectl-port-forward.py). No API server can run here; this is
//! envsync's whole route except the cluster itself.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{copy_tree, envsync, fixtures, k8s_tool, root, run, windows8, Run, Stub};
use crate::pg::cluster;
use crate::prisma::rows;

/// A GPROD pair in a temporary directory whose prod chart points the api at a database of the
/// test cluster, with a stub kubectl.
struct Setup {
    work: tempfile::TempDir,
    stub: Stub,
    pidfile: PathBuf,
    /// The role's password (planted in the chart's values; no output may show it).
    password: String,
}

const PASSWORD: &str = "k8s-Canary#Pw@9x!Zq4";

impl Setup {
    /// `db` is created, owned by `<db>_app`; `toml` is appended to envsync.toml.
    fn new(db: &str, toml: &str) -> Setup {
        let pg = cluster();
        let role = format!("{db}_app");
        pg.fresh(db, &role, PASSWORD);
        pg.admin(db, &format!("ALTER DATABASE {db} OWNER TO {role};"));
        let work = tempfile::tempdir().unwrap();
        let (b, i) = (work.path().join("backend"), work.path().join("infra"));
        copy_tree(&fixtures().join("gprod/backend"), &b);
        copy_tree(&fixtures().join("gprod/infra"), &i);
        let values = b.join("helm/gprod-backend/values-prod.yaml");
        let text = fs::read_to_string(&values).unwrap();
        let encoded =
            percent_encoding::utf8_percent_encode(PASSWORD, percent_encoding::NON_ALPHANUMERIC);
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("DATABASE_URL:"))
            .unwrap();
        fs::write(
            &values,
            text.replace(
                line,
                &format!(
                    "  DATABASE_URL: \"postgresql://{role}:{encoded}@postgres:5432/{db}?schema=public\""
                ),
            ),
        )
        .unwrap();
        let config = fs::read_to_string(fixtures().join("gprod/kubernetes.envsync.toml")).unwrap();
        fs::write(
            work.path().join("envsync.toml"),
            format!("{config}\n{toml}"),
        )
        .unwrap();
        let script = root().join("tests/data/kubectl-port-forward.py");
        let stub = Stub::new(
            "kubectl",
            &format!("exec python3 '{}' \"$@\"", script.display()),
        );
        let pidfile = work.path().join("kubectl.pid");
        Setup {
            work,
            stub,
            pidfile,
            password: PASSWORD.to_string(),
        }
    }

    fn backend(&self) -> PathBuf {
        self.work.path().join("backend")
    }

    /// `envsync migrate ARGS` with the stub in `mode` (ok, fail, hang).
    fn command(&self, mode: &str, args: &[&str]) -> Command {
        let home = self.work.path().join("helm-home");
        let mut c = envsync(self.work.path());
        c.arg("migrate")
            .args(args)
            .env("PATH", self.stub.path_var())
            .env("ENVSYNC_HELM", k8s_tool("helm"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env("STUB_MODE", mode)
            .env("STUB_PG_PORT", cluster().port.to_string())
            .env("STUB_PIDFILE", &self.pidfile);
        c
    }

    fn run(&self, mode: &str, args: &[&str]) -> Run {
        run(&mut self.command(mode, args))
    }

    /// The stub was started, and is no longer running.
    fn assert_stub_gone(&self) {
        let pid = fs::read_to_string(&self.pidfile).expect("the stub kubectl was started");
        let proc = PathBuf::from(format!("/proc/{}", pid.trim()));
        let cmdline = fs::read(proc.join("cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains("kubectl-port-forward"),
            "kubectl port-forward (pid {pid}) is still running"
        );
    }

    /// No output shows the password, nor 8 characters of it.
    fn assert_masked(&self, r: &Run) {
        let all = format!("{}{}", r.stdout, r.stderr);
        for w in windows8(&[&self.password]) {
            assert!(!all.contains(&w), "`{w}` of the password in:\n{all}");
        }
    }
}

/// Wait up to `secs` for `done`.
fn eventually(secs: u64, done: impl Fn() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn migrations_go_through_the_port_forward_and_the_prisma_ledger_is_a_direct_runs() {
    let s = Setup::new("k8s_fwd", "[kubernetes]\ncontext = \"from-config\"\n");
    let r = s.run("ok", &["-c", "prod", "--via", "kubernetes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("kubernetes port-forward gprod/service/postgres -> 127.0.0.1:"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("applied 3 migrations"), "{}", r.stdout);
    // The URL is the pod's (`deployment/gprod-backend`'s, from the chart's Secret).
    assert!(
        r.stdout.contains("deployment/gprod-backend"),
        "{}",
        r.stdout
    );
    s.assert_masked(&r);
    s.assert_stub_gone();
    assert_eq!(
        s.stub.calls(),
        [[
            "--context",
            "from-config",
            "port-forward",
            "-n",
            "gprod",
            "service/postgres",
            ":5432"
        ]]
    );

    // The same migrations applied directly: the same ledger.
    let direct = cluster().owned("k8s_direct");
    let mut c = envsync(&s.backend());
    let d = run(c
        .args(["migrate", "--via", "direct", "--database-url"])
        .arg(format!("{direct}?schema=public")));
    assert_eq!(d.code, 0, "{}{}", d.stdout, d.stderr);
    let through = rows("k8s_fwd", "public");
    assert!(
        through.contains("20250503150000_add_roles_column"),
        "{through}"
    );
    assert_eq!(through, rows("k8s_direct", "public"));

    // `--kube-context` wins over the config; JSON says the route; status through the forward.
    let r = s.run(
        "ok",
        &[
            "status",
            "-c",
            "prod",
            "--via",
            "kubernetes",
            "--kube-context",
            "ctx,with:odd chars",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        json["route"]
            .as_str()
            .unwrap()
            .starts_with("kubernetes port-forward gprod/service/postgres -> 127.0.0.1:"),
        "{json}"
    );
    assert_eq!(json["summary"]["applied"], 3);
    assert_eq!(s.stub.calls()[1][..2], ["--context", "ctx,with:odd chars"]);
    s.assert_masked(&r);
    s.assert_stub_gone();
}

#[test]
fn auto_goes_through_the_cluster_when_the_contour_has_no_compose_project() {
    let s = Setup::new("k8s_auto", "");
    // Without the infra's compose files, the prod contour deploys only to Kubernetes.
    fs::remove_dir_all(s.work.path().join("infra/docker")).unwrap();
    let r = s.run("ok", &["-c", "prod"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("kubernetes port-forward gprod/service/postgres -> 127.0.0.1:")
            && r.stdout
                .contains("(auto: the contour deploys to Kubernetes"),
        "{}",
        r.stdout
    );
    assert_eq!(s.stub.calls()[0][0], "port-forward");
    s.assert_stub_gone();
}

#[test]
fn a_forward_that_fails_or_never_comes_up_is_trouble_with_kubectls_message() {
    let s = Setup::new("k8s_fail", "");
    let r = s.run("fail", &["-c", "prod", "--via", "kubernetes"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("exited") && r.stderr.contains("services \"postgres\" not found"),
        "{}",
        r.stderr
    );
    s.assert_stub_gone();

    let started = Instant::now();
    let r = s.run(
        "hang",
        &["-c", "prod", "--via", "kubernetes", "--wait", "1"],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("did not forward within 1 s")
            && r.stderr.contains("waiting for the pod to be ready"),
        "{}",
        r.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    s.assert_stub_gone();
    // Nothing reached the database.
    assert!(cluster()
        .scalar("k8s_fail", "SELECT to_regclass('_prisma_migrations')::text")
        .is_none());

    // A kubectl that is not there.
    let mut c = s.command("ok", &["-c", "prod", "--via", "kubernetes"]);
    let r = run(c.env("ENVSYNC_KUBECTL", "/nonexistent/kubectl"));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("/nonexistent/kubectl") && r.stderr.contains("ENVSYNC_KUBECTL"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_failing_migration_stops_the_forward_too() {
    let s = Setup::new("k8s_bad", "");
    let bad = s
        .backend()
        .join("prisma/migrations/20990101000000_bad/migration.sql");
    fs::create_dir_all(bad.parent().unwrap()).unwrap();
    fs::write(&bad, "SELECT no_such_column FROM \"User\";\n").unwrap();
    let r = s.run("ok", &["-c", "prod", "--via", "kubernetes"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("20990101000000_bad"), "{}", r.stdout);
    s.assert_masked(&r);
    s.assert_stub_gone();
}

/// Ctrl-C (and SIGTERM) while a migration runs through the forward, and while kubectl has not
/// forwarded yet: the run ends as interrupted and kubectl is stopped.
#[test]
fn an_interrupted_run_stops_the_forward() {
    let s = Setup::new("k8s_int", "");
    let slow = s
        .backend()
        .join("prisma/migrations/20990101000000_slow/migration.sql");
    fs::create_dir_all(slow.parent().unwrap()).unwrap();
    fs::write(&slow, "SELECT pg_sleep(8);\n").unwrap();
    let child = s
        .command("ok", &["-c", "prod", "--via", "kubernetes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sleeping = || {
        cluster()
            .scalar(
                "postgres",
                "SELECT count(*)::text FROM pg_stat_activity WHERE query LIKE '%pg_sleep(8)%' AND pid <> pg_backend_pid()",
            )
            .as_deref()
            != Some("0")
    };
    if !eventually(60, sleeping) {
        signal(child.id(), "-KILL");
        let out = child.wait_with_output().unwrap();
        panic!(
            "the slow migration never started:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    signal(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    s.assert_stub_gone();
    // The migration was sent as one transaction with its ledger row: the server ends it and
    // commits both (or neither). The ledger agrees with the database, and the lock is free.
    assert!(eventually(30, || !sleeping()));
    let r = s.run("ok", &["status", "-c", "prod", "--via", "kubernetes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        cluster().scalar(
            "k8s_int",
            "SELECT count(*)::text FROM _prisma_migrations WHERE finished_at IS NULL"
        ),
        Some("0".into())
    );

    // SIGTERM while kubectl has not forwarded yet.
    fs::remove_file(&s.pidfile).unwrap();
    let child = s
        .command(
            "hang",
            &["-c", "prod", "--via", "kubernetes", "--wait", "120"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(eventually(60, || s.pidfile.is_file()));
    std::thread::sleep(Duration::from_millis(200));
    let asked = Instant::now();
    signal(child.id(), "-TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(asked.elapsed() < Duration::from_secs(60));
    s.assert_stub_gone();
}

#[test]
fn a_pod_url_that_is_not_there_or_not_a_url_is_trouble_naming_the_workload() {
    let s = Setup::new("k8s_nourl", "");
    let values = s.backend().join("helm/gprod-backend/values-prod.yaml");
    let text = fs::read_to_string(&values).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("DATABASE_URL:"))
        .unwrap();
    // `null` deletes the key the base values file sets.
    fs::write(&values, text.replace(line, "  DATABASE_URL: null")).unwrap();
    let r = s.run("ok", &["-c", "prod", "--via", "kubernetes"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "DATABASE_URL of the api workload deployment/gprod-backend is not in its environment; pass --database-url"
        ),
        "{}",
        r.stderr
    );
    // Not a PostgreSQL URL (a leftover SQLite one).
    fs::write(
        &values,
        text.replace(line, "  DATABASE_URL: \"file:./dev.db\""),
    )
    .unwrap();
    let r = s.run("ok", &["-c", "prod", "--via", "kubernetes"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("DATABASE_URL of deployment/gprod-backend (envFrom secret/gprod-backend-env"),
        "{}",
        r.stderr
    );
    // kubectl was never started.
    assert!(s.stub.calls().is_empty());
    assert!(!s.pidfile.exists());
}

/// `envsync migrate -c prod --via kubernetes ARGS` on a GPROD pair whose kubectl is a stub that
/// runs `then` (no database: kubectl fails before forwarding), with the pod's DATABASE_URL.
fn without_forward(args: &[&str], then: impl Fn(&str) -> String) -> (Run, Stub) {
    let (d, b, _) = crate::common::gprod_pair();
    let config = fs::read_to_string(fixtures().join("gprod/kubernetes.envsync.toml")).unwrap();
    fs::write(d.path().join("envsync.toml"), config).unwrap();
    let values = fs::read_to_string(b.join("helm/gprod-backend/values-prod.yaml")).unwrap();
    let url = values
        .lines()
        .find_map(|l| l.trim().strip_prefix("DATABASE_URL: "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    let stub = Stub::new("kubectl", &then(&url));
    let home = d.path().join("helm-home");
    let r = run(envsync(&b)
        .args([
            "migrate",
            "-c",
            "prod",
            "--via",
            "kubernetes",
            "--wait",
            "5",
        ])
        .args(args)
        .env("PATH", stub.path_var())
        .env("ENVSYNC_HELM", k8s_tool("helm"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data")));
    (r, stub)
}

/// kubectl's message is echoed, scrubbed: also of the pod's URL as kubectl would print it, its
/// password percent-encoded (`prd-Qz7%23Lm2%40…`), which holds no 8 characters of the
/// password as it is.
#[test]
fn kubectls_message_never_shows_the_pods_url_password_even_percent_encoded() {
    let password = "prd-Qz7#Lm2@Vx9!Kw4";
    let (r, stub) = without_forward(&[], |url| {
        assert!(url.contains("prd-Qz7%23Lm2%40Vx9%21Kw4"), "{url}");
        format!("echo 'error: dial {url}: connection refused' >&2; exit 1")
    });
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(stub.calls().len(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("(a line that holds a secret value is not shown)"),
        "{}",
        r.stderr
    );
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(!all.contains("Lm2%40Vx9"), "{all}");
    for w in windows8(&[password]) {
        assert!(!all.contains(&w), "`{w}` of the password in:\n{all}");
    }
}

/// The kubectl command a message names goes through the same policy as what kubectl said: a
/// context that holds one of the pod's secrets (pasted by mistake) is a fingerprint.
#[test]
fn the_kubectl_command_in_a_message_shows_no_secret_either() {
    let jwt = "prd-Xa9Lq2Vn7Kc4Rz1Tb8Mw5Jh3Ps6Gd0Fy4e";
    let (r, stub) = without_forward(&["--kube-context", jwt], |_| {
        "echo \"error: context \\\"$2\\\" does not exist\" >&2; exit 1".to_string()
    });
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(stub.calls()[0][..2], ["--context", jwt]);
    assert!(
        r.stderr.contains("--context <38 chars, sha256:"),
        "{}",
        r.stderr
    );
    let all = format!("{}{}", r.stdout, r.stderr);
    for w in windows8(&[jwt]) {
        assert!(!all.contains(&w), "`{w}` of the secret in:\n{all}");
    }
}
