//! Conformance: envsync's dialect decoders against the real readers, on a corpus of tricky
//! files (`tests/conformance/corpus/`). The readers are installed into `.readers/` by
//! `scripts/install-readers` (which `scripts/test` and `.ci/run` call).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{envsync, readers, root, run};

fn corpus() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("tests/conformance/corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    assert!(v.len() >= 20, "corpus too small");
    v
}

/// What envsync says: Ok(variables) or Err(()) when it rejects the file.
fn envsync_show(file: &Path, dialect: &str) -> Result<BTreeMap<String, String>, String> {
    let r = run(envsync(&root()).args([
        "show",
        file.to_str().unwrap(),
        "--dialect",
        dialect,
        "--format",
        "json",
        "--show-values",
    ]));
    let v: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("show printed no JSON ({e}): {}{}", r.stdout, r.stderr));
    if let Some(err) = v.get("error") {
        assert_eq!(r.code, 1, "a rejected file exits 1");
        return Err(err.to_string());
    }
    // Lines `check` reports as syntax make `show` exit 1 too, with the variables still shown.
    let expected = if v.get("invalid_lines").is_some() {
        1
    } else {
        0
    };
    assert_eq!(r.code, expected, "{}", r.stderr);
    assert_eq!(v["dialect"], dialect);
    Ok(v["variables"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect())
}

fn node_dotenv(file: &Path) -> BTreeMap<String, String> {
    let dotenv = readers().join("node_modules/dotenv");
    let out = Command::new("node")
        .arg("-e")
        .arg("const d=require(process.argv[1]);process.stdout.write(JSON.stringify(d.parse(require('fs').readFileSync(process.argv[2]))))")
        .arg(dotenv)
        .arg(file)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn docker_compose(file: &Path) -> Result<BTreeMap<String, String>, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yml"),
        format!(
            "services:\n  s:\n    image: scratch\n    env_file: [\"{}\"]\n",
            file.display()
        ),
    )
    .unwrap();
    let out = Command::new(readers().join("venv/bin/docker-compose"))
        .current_dir(dir.path())
        .env_clear()
        .env("HOME", dir.path())
        .args(["-f", "compose.yml", "config", "--format", "json"])
        .output()
        .expect("docker-compose runs");
    // The PyPI wrapper exits 0 even when compose refuses the env file; it then prints no
    // configuration, only the error on stderr.
    if !out.status.success() || out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let env = &v["services"]["s"]["environment"];
    Ok(env
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.replace("$$", "$"))))
                .collect()
        })
        .unwrap_or_default())
}

#[test]
fn node_dotenv_decoding_matches_the_npm_package() {
    let mut failures = Vec::new();
    for file in corpus() {
        let real = node_dotenv(&file);
        match envsync_show(&file, "node-dotenv") {
            Ok(ours) if ours == real => {}
            other => failures.push(format!(
                "{}: real {real:?}, envsync {other:?}",
                file.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn compose_decoding_matches_docker_compose() {
    let mut failures = Vec::new();
    let mut rejected = 0;
    for file in corpus() {
        let real = docker_compose(&file);
        let ours = envsync_show(&file, "compose");
        match (&real, &ours) {
            (Ok(a), Ok(b)) if a == b => {}
            (Err(_), Err(_)) => rejected += 1,
            _ => failures.push(format!(
                "{}: real {real:?}, envsync {ours:?}",
                file.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(rejected >= 3, "the corpus must hold files compose rejects");
}
