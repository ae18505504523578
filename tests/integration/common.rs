//! Shared helpers: run the binary, locate fixtures, build git repositories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    root().join("fixtures")
}

/// The binary under test: the one cargo built for this run, or `ENVSYNC_BIN` (relative to the
/// crate root) when set: to run the suite on another build (e.g. `scripts/dist`'s, or an older
/// one, to see a new test fail there).
pub fn bin() -> PathBuf {
    match std::env::var_os("ENVSYNC_BIN") {
        Some(p) => root().join(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_envsync")),
    }
}

/// The `envsync` binary, with colour off and no config discovery from the caller's tree.
pub fn envsync(cwd: &Path) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("ENVSYNC_DATABASE_URL");
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("envsync runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// `git` in `dir`, with a fixed identity and no global or system config.
pub fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org");
    c
}

/// Run `git` in `dir`; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Copy a directory tree (symlinks kept as links).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        let dest = to.join(entry.file_name());
        if ty.is_symlink() {
            let target = std::fs::read_link(entry.path()).unwrap();
            std::os::unix::fs::symlink(target, dest).unwrap();
        } else if ty.is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A git repository initialised from a fixture tree, everything committed on `main`.
pub fn repo_from(fixture: &Path, dir: &Path) {
    copy_tree(fixture, dir);
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "initial"]);
}

/// Replace the line that assigns `key` in the env file at `path` with `line` (which may be
/// empty, dropping the assignment).
pub fn set_line(path: &Path, key: &str, line: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let old = text
        .lines()
        .find(|l| l.starts_with(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{} has no {key}= line", path.display()))
        .to_string();
    std::fs::write(path, text.replace(&old, line)).unwrap();
}

/// The variables `envsync show --show-values --format json --dialect D FILE` prints.
pub fn shown(file: &Path, dialect: &str) -> serde_json::Value {
    let mut c = envsync(file.parent().unwrap());
    let out = run(c
        .args([
            "show",
            "--show-values",
            "--format",
            "json",
            "--dialect",
            dialect,
        ])
        .arg(file));
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("show printed no JSON ({e}): {}{}", out.stdout, out.stderr));
    v["variables"].clone()
}

/// A program of the given name placed first on `PATH`: a shell script that records its
/// arguments (one per line, then an empty line) in `calls()`, then runs `then`.
pub struct Stub {
    pub dir: tempfile::TempDir,
    name: String,
}

impl Stub {
    pub fn new(name: &str, then: &str) -> Stub {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let record = dir.path().join(format!("{name}.calls"));
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\necho >> '{}'\n{then}\n",
                record.display(),
                record.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Stub {
            dir,
            name: name.to_string(),
        }
    }

    /// `PATH` with the stub's directory first.
    pub fn path_var(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap()
        )
    }

    /// The argument lists of every call so far.
    pub fn calls(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.dir.path().join(format!("{}.calls", self.name)))
            .unwrap_or_default();
        text.split("\n\n")
            .filter(|c| !c.is_empty())
            .map(|c| c.lines().map(str::to_string).collect())
            .collect()
    }
}

/// Where a program is found on the current `PATH`.
pub fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

/// Run `n` copies of a `migrate` command at once; all must succeed. Returns how many
/// migrations they applied together (their `applied i/n …` progress lines).
pub fn applied_by_concurrent_runs(n: usize, command: impl Fn() -> Command) -> usize {
    let children: Vec<_> = (0..n)
        .map(|_| {
            command()
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        applied += stdout
            .lines()
            .filter(|l| l.starts_with("applied ") && l.contains('/'))
            .count();
    }
    applied
}

/// Where `scripts/install-readers` put the real readers (npm dotenv, docker compose, Prisma).
pub fn readers() -> PathBuf {
    let dir = root().join(".readers");
    assert!(
        dir.join("node_modules/dotenv/package.json").is_file()
            && dir.join("venv/bin/docker-compose").is_file(),
        "the real readers are not installed: run scripts/install-readers (scripts/test does)"
    );
    dir
}

/// The real `helm` and `kubectl` (3.17.2 and 1.32.3) that `scripts/install-readers` unpacked
/// from PyPI into `.readers/k8s/`.
pub fn k8s_tool(name: &str) -> PathBuf {
    let p = root().join(".readers/k8s").join(name);
    assert!(
        p.is_file(),
        "{} is not installed: run scripts/install-readers (scripts/test does)",
        p.display()
    );
    p
}

/// `helm` with its cache, config and data directories under `home` (nothing of the user's).
pub fn helm(home: &Path) -> Command {
    let mut c = Command::new(k8s_tool("helm"));
    c.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    c
}

/// A writable copy of the in-sync GPROD pair: (its directory, backend, infra).
pub fn gprod_pair() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let (b, i) = (d.path().join("backend"), d.path().join("infra"));
    copy_tree(&fixtures().join("gprod/backend"), &b);
    copy_tree(&fixtures().join("gprod/infra"), &i);
    (d, b, i)
}

/// `envsync ARGS --backend B --infra I`, run from the backend.
pub fn on_pair(b: &Path, i: &Path, args: &[&str]) -> Run {
    run(envsync(b)
        .args(args)
        .arg("--backend")
        .arg(b)
        .arg("--infra")
        .arg(i))
}

/// Every run of 8 consecutive characters of each of `secrets`: what no output may hold.
pub fn windows8(secrets: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for s in secrets {
        let chars: Vec<char> = s.chars().collect();
        out.extend(chars.windows(8).map(|w| w.iter().collect::<String>()));
    }
    out
}

/// `(code, severity, "repo file:line" of each location)` of every finding of a `--format json`
/// report.
pub fn findings(v: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let locs = f["locations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    format!(
                        "{} {}:{}",
                        l["repo"].as_str().unwrap(),
                        l["file"].as_str().unwrap(),
                        l["line"]
                    )
                })
                .collect();
            (
                f["code"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                locs,
            )
        })
        .collect()
}

/// Add `line` at the end of `file`, after a line break if its last line has none.
pub fn append(file: &Path, line: &str) {
    let mut text = std::fs::read_to_string(file).unwrap();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    std::fs::write(file, format!("{text}{line}\n")).unwrap();
}
