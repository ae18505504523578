//! Conformance: envsync's dialect decoders against the real readers, on a corpus of tricky
//! files (`tests/conformance/corpus/`). The readers are installed into `.readers/` by
//! `scripts/install-readers` (which `scripts/test` and `.ci/run` call).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{envsync, root, run};
use crate::readers::{compose_all, node_all};

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

#[test]
fn node_dotenv_decoding_matches_the_npm_package() {
    let mut failures = Vec::new();
    let files = corpus();
    for (file, real) in files.iter().zip(node_all(&files)) {
        let real = real.expect("npm dotenv reads every file");
        match envsync_show(file, "node-dotenv") {
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
    let files = corpus();
    let dir = tempfile::tempdir().unwrap();
    for (file, real) in files.iter().zip(compose_all(&files, dir.path())) {
        let ours = envsync_show(file, "compose");
        match (&real, &ours) {
            (Some(a), Ok(b)) if a == b => {}
            (None, Err(_)) => rejected += 1,
            _ => failures.push(format!(
                "{}: real {real:?}, envsync {ours:?}",
                file.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(rejected >= 3, "the corpus must hold files compose rejects");
}
