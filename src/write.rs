//! Writing files safely: all or nothing, through symlinks, under a lock, with backups.
//!
//! A [`Transaction`] stages every new file as a temporary file next to its target (same
//! directory, so the rename is atomic; same mode and owner; fsynced), and only when all of them
//! are staged renames them into place, then fsyncs the directories. A rename that fails undoes
//! the ones already made, so a failed `fix` leaves every file as it was. A reader (or a process
//! killed at any moment) sees either the old or the new content, never a torn or empty file.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// Why a write was refused or failed. Nothing has been changed when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{} is read-only (mode {mode:o}); make it writable (chmod u+w) and run fix again", path.display())]
    ReadOnly { path: PathBuf, mode: u32 },
    #[error("{} is a symlink to {}, outside the repo {}; envsync writes only inside the repo: fix the link or edit the target yourself", link.display(), target.display(), repo.display())]
    OutsideRepo {
        link: PathBuf,
        target: PathBuf,
        repo: PathBuf,
    },
}

fn io(path: &Path, e: std::io::Error) -> WriteError {
    WriteError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// An exclusive advisory lock on a directory, held until dropped. Concurrent `fix` runs on the
/// same repo queue up behind it, so each one reads what the previous one wrote.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock, WriteError> {
        let file = File::open(dir).map_err(|e| io(dir, e))?;
        file.lock().map_err(|e| io(dir, e))?;
        Ok(DirLock { _file: file })
    }
}

/// Resolve `path` (following symlinks) to the file that will really be written, and refuse a
/// target outside `repo` or one that is read-only.
pub fn resolve_target(path: &Path, repo: &Path) -> Result<PathBuf, WriteError> {
    let target = fs::canonicalize(path).map_err(|e| io(path, e))?;
    let root = fs::canonicalize(repo).map_err(|e| io(repo, e))?;
    if !target.starts_with(&root) {
        return Err(WriteError::OutsideRepo {
            link: path.to_path_buf(),
            target,
            repo: root,
        });
    }
    let meta = fs::metadata(&target).map_err(|e| io(&target, e))?;
    // Honour the mode even for root, who could write anyway: a read-only file says "hands off".
    if meta.permissions().readonly() {
        return Err(WriteError::ReadOnly {
            path: target,
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(target)
}

/// Where the backup of `target` goes: next to it, named so that the usual `.env.*` ignore rule
/// covers it (`.env.production` → `.env.production.envsync.bak`, `app.env` →
/// `.env.envsync.bak.app.env`).
pub fn backup_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let backup = if name == ".env" || name.starts_with(".env.") {
        format!("{name}.envsync.bak")
    } else {
        format!(".env.envsync.bak.{name}")
    };
    target.with_file_name(backup)
}

struct Staged {
    target: PathBuf,
    temp: NamedTempFile,
    old: Vec<u8>,
    /// Where the backup goes.
    backup: Option<PathBuf>,
}

/// Files to replace together.
#[derive(Default)]
pub struct Transaction {
    staged: Vec<Staged>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field(
                "files",
                &self.staged.iter().map(|s| &s.target).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The prefix of every temporary name envsync uses (covered by `.env.*` ignore rules).
const TEMP_PREFIX: &str = ".env.envsync-tmp.";

/// Delete temporary files a killed run left in `dir`. Call it only under the repo lock: then
/// no other run is between staging and renaming.
pub fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// A new temporary file in `dir`, named so `.env.*` ignore rules cover a leftover.
fn temp_in(dir: &Path) -> Result<NamedTempFile, WriteError> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| io(dir, e))
}

/// Write `bytes` to a fresh temporary file in `dir` with `like`'s mode and owner (or `mode`),
/// fsynced.
fn stage(
    dir: &Path,
    bytes: &[u8],
    like: Option<&fs::Metadata>,
    mode: u32,
) -> Result<NamedTempFile, WriteError> {
    let mut temp = temp_in(dir)?;
    let path = temp.path().to_path_buf();
    let f = temp.as_file_mut();
    let mode = like.map_or(mode, |m| m.mode() & 0o7777);
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| io(&path, e))?;
    if let Some(m) = like {
        // Keep the owner when we may (as root, or when it is already ours).
        let _ = std::os::unix::fs::fchown(&*f, Some(m.uid()), Some(m.gid()));
    }
    f.write_all(bytes).map_err(|e| io(&path, e))?;
    f.sync_all().map_err(|e| io(&path, e))?;
    Ok(temp)
}

/// A second name for `target`'s current inode in `dir` (or, where hard links are not
/// supported, a private fsynced copy of `old`).
fn keep_old(target: &Path, dir: &Path, old: &[u8]) -> Result<PathBuf, WriteError> {
    for n in 0..100u32 {
        let name = dir.join(format!("{TEMP_PREFIX}{}.{n}.bak", std::process::id()));
        match fs::hard_link(target, &name) {
            Ok(()) => return Ok(name),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => break,
        }
    }
    let copy = stage(dir, old, None, 0o600)?;
    let (_, path) = copy.keep().map_err(|e| io(dir, e.error))?;
    Ok(path)
}

fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

impl Transaction {
    pub fn new() -> Transaction {
        Transaction::default()
    }

    /// Stage `bytes` as the new content of `target` (already resolved, see [`resolve_target`]),
    /// whose current content `old` the caller has already read (kept for a rollback).
    /// With `backup`, the current file is kept (mode 0600) at [`backup_path`] on commit.
    /// Nothing visible changes until [`Transaction::commit`].
    pub fn stage(
        &mut self,
        target: &Path,
        old: &[u8],
        bytes: &[u8],
        backup: bool,
    ) -> Result<(), WriteError> {
        let dir = target.parent().unwrap_or(Path::new("."));
        let meta = fs::metadata(target).map_err(|e| io(target, e))?;
        let backup = backup.then(|| backup_path(target));
        let temp = stage(dir, bytes, Some(&meta), 0o644)?;
        self.staged.push(Staged {
            target: target.to_path_buf(),
            temp,
            old: old.to_vec(),
            backup,
        });
        Ok(())
    }

    /// Rename every staged file into place. If one rename fails, the files already replaced
    /// get their old content back and the error is returned.
    pub fn commit(self) -> Result<Vec<PathBuf>, WriteError> {
        let mut done: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        let mut dirs: Vec<PathBuf> = Vec::new();
        for s in self.staged {
            let dir = s.target.parent().unwrap_or(Path::new(".")).to_path_buf();
            // The backup is the old file itself: a hard link taken before the rename (no
            // copy, no extra fsync: its data is already on disk), made private once the rename
            // has left it as the only name of the old inode.
            let link = match &s.backup {
                Some(b) => Some((keep_old(&s.target, &dir, &s.old)?, b.clone())),
                None => None,
            };
            let replaced = s
                .temp
                .persist(&s.target)
                .map(|_| ())
                .map_err(|e| io(&s.target, e.error));
            let result = replaced.and_then(|()| match &link {
                Some((tmp, backup)) => fs::set_permissions(tmp, fs::Permissions::from_mode(0o600))
                    .and_then(|()| fs::rename(tmp, backup))
                    .map_err(|e| io(backup, e)),
                None => Ok(()),
            });
            if let Err(err) = result {
                if let Some((tmp, _)) = &link {
                    let _ = fs::remove_file(tmp);
                }
                for (path, old) in done.iter().rev() {
                    let dir = path.parent().unwrap_or(Path::new("."));
                    let meta = fs::metadata(path).ok();
                    if let Ok(t) = stage(dir, old, meta.as_ref(), 0o644) {
                        let _ = t.persist(path);
                    }
                }
                return Err(err);
            }
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
            done.push((s.target, s.old));
        }
        for d in &dirs {
            sync_dir(d)?;
        }
        Ok(done.into_iter().map(|(p, _)| p).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_are_named_for_the_env_ignore_rule() {
        assert_eq!(
            backup_path(Path::new("/r/.env.production")),
            Path::new("/r/.env.production.envsync.bak")
        );
        assert_eq!(
            backup_path(Path::new("/r/.env")),
            Path::new("/r/.env.envsync.bak")
        );
        assert_eq!(
            backup_path(Path::new("/r/app.env")),
            Path::new("/r/.env.envsync.bak.app.env")
        );
    }

    #[test]
    fn a_transaction_replaces_content_and_keeps_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(".env.prod");
        fs::write(&f, "A=1\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        let target = resolve_target(&f, dir.path()).unwrap();
        let mut t = Transaction::new();
        t.stage(&target, b"A=1\n", b"A=2\n", true).unwrap();
        t.commit().unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"A=2\n");
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o640);
        let b = backup_path(&target);
        assert_eq!(fs::read(&b).unwrap(), b"A=1\n");
        assert_eq!(fs::metadata(&b).unwrap().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("tmp")
            })
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn read_only_and_escaping_targets_are_refused() {
        let repo = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("x.env");
        fs::write(&secret, "A=1\n").unwrap();
        let link = repo.path().join(".env");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        assert!(matches!(
            resolve_target(&link, repo.path()),
            Err(WriteError::OutsideRepo { .. })
        ));
        let ro = repo.path().join(".env.prod");
        fs::write(&ro, "A=1\n").unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o444)).unwrap();
        assert!(matches!(
            resolve_target(&ro, repo.path()),
            Err(WriteError::ReadOnly { .. })
        ));
    }
}
