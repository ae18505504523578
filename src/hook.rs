//! The git pre-commit hook: install, uninstall, and the staged-content guard it runs.
//!
//! `install` writes a marked block into the pre-commit hook git really uses (`core.hooksPath`,
//! worktrees, husky v9's `.husky/pre-commit`), inserting it into a foreign shell hook rather than
//! replacing it. `uninstall` removes exactly that block. [`guard`] inspects what the commit would
//! contain (the diff from HEAD to the index) and never writes the index or the working tree.

use std::path::{Path, PathBuf};

use git2::{Delta, Repository};

use crate::config::Repo;
use crate::dialect::Dialect;
use crate::envfile::{EnvFile, Problem};
use crate::report::{Finding, Location, Severity};
use crate::rules::{RuleCode, Rules};

const BEGIN: &str = "# >>> envsync pre-commit hook >>>";
const END: &str = "# <<< envsync pre-commit hook <<<";

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("not inside a git repository ({0}); run `envsync hook install` from your repo")]
    NoRepo(String),
    #[error("git: {0}")]
    Git(String),
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{} is a pre-commit hook envsync did not write and cannot chain into (not a shell script); rerun with --force to move it to {} and chain to it", path.display(), moved.display())]
    Foreign { path: PathBuf, moved: PathBuf },
}

fn io(path: &Path, e: std::io::Error) -> HookError {
    HookError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn git(e: git2::Error) -> HookError {
    HookError::Git(e.message().to_string())
}

/// Where the hook goes, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookTarget {
    /// The file that receives the block.
    pub file: PathBuf,
    /// husky v9: `.husky/pre-commit` is sourced by husky's own runner (no shebang needed).
    pub husky: bool,
}

/// Find the pre-commit hook file git will run for the repository containing `cwd`.
pub fn target(cwd: &Path) -> Result<HookTarget, HookError> {
    let repo = Repository::discover(cwd).map_err(|e| HookError::NoRepo(e.message().into()))?;
    let top = repo
        .workdir()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo.path().to_path_buf());
    let hooks_path = repo.config().map_err(git)?.get_path("core.hooksPath").ok();
    let dir = match hooks_path {
        Some(p) if p.is_absolute() => p,
        Some(p) => top.join(p),
        None => repo.commondir().join("hooks"),
    };
    // husky v9 sets core.hooksPath=.husky/_ and runs the user's .husky/pre-commit.
    if dir.file_name().is_some_and(|n| n == "_")
        && dir
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == ".husky")
    {
        let husky = dir.parent().expect("checked above").to_path_buf();
        return Ok(HookTarget {
            file: husky.join("pre-commit"),
            husky: true,
        });
    }
    Ok(HookTarget {
        file: dir.join("pre-commit"),
        husky: false,
    })
}

/// The block that runs envsync: the recorded binary if it still exists, else `envsync` on PATH.
fn block(binary: &Path) -> String {
    let quoted = format!("'{}'", binary.display().to_string().replace('\'', r"'\''"));
    format!(
        "{BEGIN}\nif [ -x {quoted} ]; then {quoted} hook run || exit $?; else envsync hook run || exit $?; fi\n{END}\n"
    )
}

fn strip_block(text: &str) -> (String, bool) {
    let Some(start) = text.find(BEGIN) else {
        return (text.to_string(), false);
    };
    let Some(end_rel) = text[start..].find(END) else {
        return (text.to_string(), false);
    };
    let mut end = start + end_rel + END.len();
    if text[end..].starts_with('\n') {
        end += 1;
    }
    (format!("{}{}", &text[..start], &text[end..]), true)
}

/// What `install` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    Created(PathBuf),
    Updated(PathBuf),
    Chained(PathBuf),
    /// `--force`: the foreign hook was moved aside and is called after envsync.
    MovedForeign {
        hook: PathBuf,
        moved: PathBuf,
    },
}

fn moved_path(file: &Path) -> PathBuf {
    file.with_file_name("pre-commit.envsync-chained")
}

pub fn install(cwd: &Path, binary: &Path, force: bool) -> Result<Installed, HookError> {
    let t = target(cwd)?;
    let dir = t.file.parent().expect("hook file has a directory");
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let ours = block(binary);
    let existing = match std::fs::read(&t.file) {
        Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&t.file, e)),
    };
    let (text, outcome) = match existing {
        None => {
            let head = if t.husky { "" } else { "#!/bin/sh\n" };
            (format!("{head}{ours}"), Installed::Created(t.file.clone()))
        }
        Some(text) => {
            let (rest, had) = strip_block(&text);
            let is_shell = t.husky
                || rest.is_empty()
                || rest.starts_with("#!/bin/sh")
                || rest.starts_with("#!/bin/bash")
                || rest.starts_with("#!/usr/bin/env sh")
                || rest.starts_with("#!/usr/bin/env bash");
            if had || is_shell {
                // Our block goes right after the shebang (or first, for husky), so it runs
                // before the rest of the foreign hook, which keeps working.
                let (head, body) = match rest.strip_prefix("#!") {
                    Some(_) => match rest.find('\n') {
                        Some(nl) => rest.split_at(nl + 1),
                        None => (rest.as_str(), ""),
                    },
                    None => ("", rest.as_str()),
                };
                let head = if head.is_empty() && !t.husky {
                    "#!/bin/sh\n".to_string()
                } else if !head.is_empty() && !head.ends_with('\n') {
                    format!("{head}\n")
                } else {
                    head.to_string()
                };
                let outcome = if had {
                    Installed::Updated(t.file.clone())
                } else {
                    Installed::Chained(t.file.clone())
                };
                (format!("{head}{ours}{body}"), outcome)
            } else if force {
                let moved = moved_path(&t.file);
                std::fs::rename(&t.file, &moved).map_err(|e| io(&t.file, e))?;
                (
                    format!("#!/bin/sh\n{ours}exec \"$(dirname \"$0\")/pre-commit.envsync-chained\" \"$@\"\n"),
                    Installed::MovedForeign {
                        hook: t.file.clone(),
                        moved,
                    },
                )
            } else {
                return Err(HookError::Foreign {
                    moved: moved_path(&t.file),
                    path: t.file,
                });
            }
        }
    };
    write_executable(&t.file, &text)?;
    Ok(outcome)
}

fn write_executable(path: &Path, text: &str) -> Result<(), HookError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().expect("hook file has a directory");
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io(dir, e))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(|e| io(path, e))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o755))
        .map_err(|e| io(path, e))?;
    tmp.persist(path).map_err(|e| io(path, e.error))?;
    Ok(())
}

/// Remove what `install` added. Returns the file touched, if any.
pub fn uninstall(cwd: &Path) -> Result<Option<PathBuf>, HookError> {
    let t = target(cwd)?;
    let text = match std::fs::read_to_string(&t.file) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&t.file, e)),
    };
    let (rest, had) = strip_block(&text);
    if !had {
        return Ok(None);
    }
    let moved = moved_path(&t.file);
    if moved.exists() {
        std::fs::rename(&moved, &t.file).map_err(|e| io(&moved, e))?;
    } else if rest.trim().is_empty() || rest.trim() == "#!/bin/sh" {
        std::fs::remove_file(&t.file).map_err(|e| io(&t.file, e))?;
    } else {
        write_executable(&t.file, &rest)?;
    }
    Ok(Some(t.file))
}

/// Is this path an env file that holds real secrets (not an example/template/sample)?
pub fn classify(path: &str) -> Option<EnvKind> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = path.to_ascii_lowercase();
    let envish = name == ".env"
        || name.starts_with(".env.")
        || name.starts_with("env.")
        || name.ends_with(".env");
    if !envish {
        return None;
    }
    if ["example", "sample", "template", ".dist"]
        .iter()
        .any(|w| lower.contains(w))
    {
        Some(EnvKind::Example)
    } else {
        Some(EnvKind::Secret)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvKind {
    Secret,
    Example,
}

/// Findings about the staged files themselves: secret env files being committed, real-looking
/// secrets in examples, conflict markers. Reads the index; writes nothing.
pub fn guard(
    repo: &Repository,
    index: &git2::Index,
    repo_kind: Repo,
    dialect: Dialect,
    rules: &Rules,
) -> Result<Vec<Finding>, HookError> {
    let head_tree = repo.head().ok().and_then(|h| h.peel_to_tree().ok());
    let diff = repo
        .diff_tree_to_index(head_tree.as_ref(), Some(index), None)
        .map_err(git)?;
    let mut out = Vec::new();
    let finding = |code, key: Option<&str>, message: String, file: &str, line| Finding {
        code,
        severity: Severity::Error,
        contour: None,
        key: key.map(str::to_string),
        message,
        locations: vec![Location {
            repo: repo_kind,
            file: file.to_string(),
            line,
        }],
    };
    for delta in diff.deltas() {
        if !matches!(
            delta.status(),
            Delta::Added | Delta::Modified | Delta::Renamed | Delta::Copied | Delta::Typechange
        ) {
            continue;
        }
        let file = delta.new_file();
        let Some(path) = file.path().and_then(Path::to_str) else {
            continue;
        };
        let Some(kind) = classify(path) else { continue };
        if kind == EnvKind::Secret {
            out.push(finding(
                RuleCode::StagedSecretFile,
                None,
                format!(
                    "{path} is staged: it holds the contour's secrets and must not be committed. Unstage it with `git rm --cached -- {path}` and ignore it (add `{path}` or `.env*` with `!*.example` to .gitignore)"
                ),
                path,
                1,
            ));
            continue;
        }
        if file.mode() == git2::FileMode::Link {
            continue;
        }
        let blob = repo.find_blob(file.id()).map_err(git)?;
        let parsed = EnvFile::parse(blob.content());
        for (line, problem) in parsed.invalid() {
            if problem == Problem::ConflictMarker {
                out.push(finding(
                    RuleCode::Syntax,
                    None,
                    format!("{path}:{line}: merge-conflict marker staged; resolve the conflict and `git add` the file again"),
                    path,
                    line,
                ));
            }
        }
        let decoded = dialect.decode(blob.content(), &|_| None);
        for a in decoded.variables() {
            if rules.is_secret(&a.key) && crate::secret::looks_real(&a.value, &rules.placeholders) {
                out.push(finding(
                    RuleCode::SecretInExample,
                    Some(&a.key),
                    format!(
                        "{} in {path}:{} looks like a real secret ({} chars, high entropy); examples must hold placeholders such as `your_{}`",
                        a.key,
                        a.line,
                        a.value.chars().count(),
                        a.key.to_ascii_lowercase()
                    ),
                    path,
                    a.line,
                ));
            }
        }
    }
    // Conflict markers in staged secret files are caught by `check --staged` (syntax).
    Ok(out)
}

/// `envsync hook run`: `check --staged` of this repo against the other one, plus [`guard`].
pub fn run(settings: &crate::settings::Settings) -> Result<crate::report::Report, crate::Error> {
    let repo =
        Repository::discover(&settings.cwd).map_err(|e| HookError::NoRepo(e.message().into()))?;
    if repo.workdir().is_none() {
        return Err(HookError::NoRepo("a bare repository has no commits to guard".into()).into());
    }
    let mut s = settings.clone();
    let this = s.current_repo();
    s.staged_repo = Some(this);
    if let Some(rev) = s.config.hook_other_rev.clone() {
        let other = match this {
            Repo::Backend => &mut s.infra,
            Repo::Infra => &mut s.backend,
        };
        if let crate::source::SourceSpec::Path { rev: r, .. } = other {
            *r = Some(rev);
        }
    }
    let ws = crate::check::Workspace::open(&s)?;
    let (mut findings, contours) = match crate::check::check(&ws, &[]) {
        Ok(report) => (report.findings, report.contours),
        // A repo with no env files at all has nothing to compare; the guard still runs.
        Err(crate::Error::NoEnvFiles { .. }) => (Vec::new(), Vec::new()),
        Err(e) => return Err(e),
    };
    findings.retain(|f| f.severity == Severity::Error);
    // The index `check --staged` just read, when it is this repository's; else read it here.
    let own_index;
    let (git_repo, index) = match ws.source(this).staged() {
        Some((r, index)) if r.path() == repo.path() => (r, index),
        _ => {
            own_index = repo.index().map_err(git)?;
            (&repo, &own_index)
        }
    };
    let dialect = ws.config.repo(this).dialect;
    findings.extend(guard(git_repo, index, this, dialect, &ws.rules)?);
    Ok(crate::report::Report::new(findings, contours))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_env_files() {
        assert_eq!(classify(".env"), Some(EnvKind::Secret));
        assert_eq!(classify("sub/.env.production"), Some(EnvKind::Secret));
        assert_eq!(classify("env.prod.example"), Some(EnvKind::Example));
        assert_eq!(classify(".env.example"), Some(EnvKind::Example));
        assert_eq!(
            classify(".env-templates/.env.production"),
            Some(EnvKind::Example)
        );
        assert_eq!(classify("src/environment.ts"), None);
    }

    #[test]
    fn block_round_trips() {
        let b = block(Path::new("/usr/local/bin/envsync"));
        let text = format!("#!/bin/sh\n{b}echo foreign\n");
        let (rest, had) = strip_block(&text);
        assert!(had);
        assert_eq!(rest, "#!/bin/sh\necho foreign\n");
    }
}
