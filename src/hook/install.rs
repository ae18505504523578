//! `hook install` and `hook uninstall`: a marked block in the pre-commit hook git really uses
//! (`core.hooksPath`, worktrees, husky v9's `.husky/pre-commit`), inserted into a foreign shell
//! hook rather than replacing it, and removed exactly.

use std::path::{Path, PathBuf};

use crate::source::Checkout;

use super::{io, HookError};

const BEGIN: &str = "# >>> envsync pre-commit hook >>>";
const END: &str = "# <<< envsync pre-commit hook <<<";

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
    let dir = Checkout::discover(cwd)?.hooks_dir()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_round_trips() {
        let b = block(Path::new("/usr/local/bin/envsync"));
        let text = format!("#!/bin/sh\n{b}echo foreign\n");
        let (rest, had) = strip_block(&text);
        assert!(had);
        assert_eq!(rest, "#!/bin/sh\necho foreign\n");
    }
}
