//! Writing files safely: all or nothing, through symlinks, under a lock, with backups.
//!
//! A [`NewFile`] is one private file written under a temporary name and renamed once complete.
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
use std::time::{Duration, SystemTime};

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

/// The prefix of every temporary name envsync uses (covered by `.env.*` ignore rules). The
/// names are exactly:
///
/// - `<prefix><pid>.<6 letters or digits>`: a staged new file (the random part is tempfile's);
///   `<prefix><6 letters or digits>` is the same, written by a version without the pid;
/// - `<prefix><pid>.<n>.bak.<name>` / `<prefix><pid>.copy.bak.<name>`: `<name>`'s old content,
///   kept for its backup between the two renames of a commit (see `keep_old`).
const TEMP_PREFIX: &str = ".env.envsync-tmp.";

/// What a name of [`TEMP_PREFIX`]'s form is; `None` for any other name, however similar.
#[derive(Debug, PartialEq, Eq)]
enum Leftover<'a> {
    /// A staged new file, by the writing process (unknown for the old form).
    Staged { pid: Option<u32> },
    /// The old content of `target` (a file in the same directory).
    Kept { pid: u32, target: &'a str },
}

fn leftover(name: &str) -> Option<Leftover<'_>> {
    let rest = name.strip_prefix(TEMP_PREFIX)?;
    let pid = |s: &str| {
        (!s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let random = |s: &str| s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if random(rest) {
        return Some(Leftover::Staged { pid: None });
    }
    let (first, tail) = rest.split_once('.')?;
    let pid = pid(first)?;
    if random(tail) {
        return Some(Leftover::Staged { pid: Some(pid) });
    }
    let (n, target) = tail.split_once(".bak.")?;
    let numbered = !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit());
    ((numbered || n == "copy") && !target.is_empty() && !target.contains('/'))
        .then_some(Leftover::Kept { pid, target })
}

/// How long a temporary file of a running process is left alone: staging to renaming takes
/// milliseconds, so a temp this old belongs to nobody, even if its pid has been reused.
const IN_FLIGHT_AT_MOST: Duration = Duration::from_secs(60 * 60);

/// Is a temporary file made by `pid` (`None`: by a version that did not say) at `made` stale
/// at `now`? `me` is this process; `running` says whether a pid names a running process.
fn stale(
    pid: Option<u32>,
    made: Option<SystemTime>,
    now: SystemTime,
    me: u32,
    running: &dyn Fn(u32) -> bool,
) -> bool {
    match pid {
        None => true,
        // This run has staged nothing yet: a temp with its pid is a dead run's, pid reused.
        Some(p) if p == me => true,
        Some(p) if !running(p) => true,
        Some(_) => made
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > IN_FLIGHT_AT_MOST),
    }
}

/// Whether `pid` names a running process (Linux: `/proc/<pid>` exists). Elsewhere it is not
/// known and the lock alone decides.
fn running(pid: u32) -> bool {
    cfg!(target_os = "linux") && Path::new("/proc").join(pid.to_string()).exists()
}

/// Clean up after a run that was killed while writing into `dir`: staged new files are
/// deleted; a kept old file (the only copy of `<name>`'s previous content when the kill fell
/// between the two renames) becomes `<name>`'s backup. Only regular files named exactly as
/// envsync names its temporaries are touched (see `TEMP_PREFIX`).
///
/// Call it only under the repo lock (`fix` holds it from before reading until after the last
/// rename), on a directory inside the locked repo, before this run stages anything. Then every
/// temporary of ours there is stale: the only writer of these names is a [`Transaction`], whose
/// temporaries exist only between staging and the end of its commit (they are renamed, or
/// removed when dropped, on every handled path), and it stages only while holding the lock of
/// the repo it writes into. A run that held the lock has released it, so it finished, failed
/// cleanly, or was killed: what it left is garbage.
///
/// One case escapes that argument: two runs whose repos are nested (`--infra /x` and
/// `--infra /x/infra`) lock different directories yet may write the same one. So a temp
/// whose name carries the pid of a running process (other than this one) is left alone,
/// unless it is older than `IN_FLIGHT_AT_MOST` (its pid reused).
pub fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let (now, me) = (SystemTime::now(), std::process::id());
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(kind) = leftover(&name) else {
            continue;
        };
        let Ok(meta) = e.metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        // When the name was made: a kept old file is a second name of an old inode, whose
        // mtime is the old file's; the link changed its ctime.
        let made = u64::try_from(meta.ctime())
            .ok()
            .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        let pid = match kind {
            Leftover::Staged { pid } => pid,
            Leftover::Kept { pid, .. } => Some(pid),
        };
        if !stale(pid, made, now, me, &running) {
            continue;
        }
        match kind {
            Leftover::Kept { target, .. } => {
                let backup = backup_path(&dir.join(target));
                let promoted = fs::set_permissions(e.path(), fs::Permissions::from_mode(0o600))
                    .and_then(|()| fs::rename(e.path(), &backup));
                if promoted.is_err() {
                    let _ = fs::remove_file(e.path());
                }
            }
            Leftover::Staged { .. } => {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// A new temporary file in `dir`, named so `.env.*` ignore rules cover a leftover and a later
/// run can tell whose it was (see [`TEMP_PREFIX`]).
fn temp_in(dir: &Path) -> Result<NamedTempFile, WriteError> {
    tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}.", std::process::id()))
        .rand_bytes(6)
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
    let mode = like.map_or(mode, |m| m.mode() & 0o7777);
    let temp = stage_unsynced(dir, bytes, like, mode)?;
    temp.as_file().sync_all().map_err(|e| io(temp.path(), e))?;
    Ok(temp)
}

/// [`stage`] without the fsync, and with `mode` whether or not there is a `like`.
fn stage_unsynced(
    dir: &Path,
    bytes: &[u8],
    like: Option<&fs::Metadata>,
    mode: u32,
) -> Result<NamedTempFile, WriteError> {
    let mut temp = temp_in(dir)?;
    let path = temp.path().to_path_buf();
    let f = temp.as_file_mut();
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| io(&path, e))?;
    if let Some(m) = like {
        // Keep the owner when we may (as root, or when it is already ours).
        let _ = std::os::unix::fs::fchown(&*f, Some(m.uid()), Some(m.gid()));
    }
    f.write_all(bytes).map_err(|e| io(&path, e))?;
    Ok(temp)
}

/// The old content of `target`, kept in `dir` under a temporary name that says whose it is
/// (`.env.envsync-tmp.<pid>.<n>.bak.<name>`): a second name for the current inode (no copy, no
/// extra fsync), or a private fsynced copy of `old` when the inode has other names too (a
/// hard link elsewhere must keep its mode) or hard links are not supported.
fn keep_old(target: &Path, dir: &Path, old: &[u8]) -> Result<PathBuf, WriteError> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let shared_inode = fs::metadata(target).map(|m| m.nlink() > 1).unwrap_or(true);
    if !shared_inode {
        for n in 0..100u32 {
            let kept = dir.join(format!(
                "{TEMP_PREFIX}{}.{n}.bak.{name}",
                std::process::id()
            ));
            match fs::hard_link(target, &kept) {
                Ok(()) => return Ok(kept),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(_) => break,
            }
        }
    }
    let copy = stage(dir, old, None, 0o600)?;
    let kept = dir.join(format!(
        "{TEMP_PREFIX}{}.copy.bak.{name}",
        std::process::id()
    ));
    copy.persist(&kept).map_err(|e| io(&kept, e.error))?;
    Ok(kept)
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
        // Found now, not halfway through the commit: a backup name taken by something that is
        // not a regular file.
        if let Some(b) = &backup {
            if let Ok(m) = fs::symlink_metadata(b) {
                if !m.is_file() {
                    return Err(WriteError::Io {
                        path: b.clone(),
                        message: "the backup name is taken by something that is not a regular file; move it away, or run fix with --no-backup".into(),
                    });
                }
            }
        }
        let temp = stage(dir, bytes, Some(&meta), 0o644)?;
        self.staged.push(Staged {
            target: target.to_path_buf(),
            temp,
            old: old.to_vec(),
            backup,
        });
        Ok(())
    }

    /// Rename every staged file into place. If anything fails, every file already replaced,
    /// the current one included, gets its old content back and the error is returned: an error
    /// means no file changed.
    pub fn commit(self) -> Result<Vec<PathBuf>, WriteError> {
        let mut done: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        let mut dirs: Vec<PathBuf> = Vec::new();
        for s in self.staged {
            let dir = s.target.parent().unwrap_or(Path::new(".")).to_path_buf();
            // The backup is the old file itself, kept under a temporary name before the rename
            // and moved to its own name after it.
            let kept = match &s.backup {
                Some(b) => match keep_old(&s.target, &dir, &s.old) {
                    Ok(k) => Some((k, b.clone())),
                    Err(err) => {
                        restore(&done);
                        return Err(err);
                    }
                },
                None => None,
            };
            if let Err(e) = s.temp.persist(&s.target) {
                if let Some((k, _)) = &kept {
                    let _ = fs::remove_file(k);
                }
                restore(&done);
                return Err(io(&s.target, e.error));
            }
            if let Some((k, backup)) = &kept {
                // Private now: the kept inode's only other name was the file just replaced.
                let moved = fs::set_permissions(k, fs::Permissions::from_mode(0o600))
                    .and_then(|()| fs::rename(k, backup));
                if let Err(e) = moved {
                    // Put the current file back from the kept old content, then the others.
                    let meta = fs::metadata(&s.target).ok();
                    if let Ok(t) = stage(&dir, &s.old, meta.as_ref(), 0o644) {
                        let _ = t.persist(&s.target);
                    }
                    let _ = fs::remove_file(k);
                    restore(&done);
                    return Err(io(backup, e));
                }
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

/// Write `bytes` as the whole of `target` (a report envsync produces), replacing what is there:
/// staged under a temporary name in the target's directory, then renamed, so a reader never
/// sees a partial file and a failure leaves no file behind (nor changes an existing one). A new
/// file gets `mode`; an existing one keeps its owner and its mode narrowed to `mode` (a
/// symbolic link: its target is written), so a page with values on it (`0o600`) is never left
/// readable by others because an earlier page without values was. The directory must exist.
///
/// Not fsynced, unlike a [`Transaction`]: what it writes is output that the next run makes
/// again, not a user's file, and the two fsyncs took a millisecond on ext4, a fifth of a
/// `report` of the GPROD fixtures. A power loss right after the rename may leave the page
/// empty, never a mix of two pages.
pub fn replace(target: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    let target = match fs::canonicalize(target) {
        Ok(real) => real,
        Err(_) => target.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let meta = fs::metadata(&target).ok().filter(fs::Metadata::is_file);
    let mode = meta.as_ref().map_or(mode, |m| m.mode() & 0o777 & mode);
    let temp = stage_unsynced(dir, bytes, meta.as_ref(), mode)?;
    temp.persist(&target).map_err(|e| io(&target, e.error))?;
    Ok(())
}

/// Create `dir` and its missing parents, private (mode 0700); an existing one is left as it is.
pub fn create_private_dir(dir: &Path) -> Result<(), WriteError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io(dir, e))
}

/// A new private file (mode 0600) being written in a directory, under a temporary name until
/// [`NewFile::persist`] gives it its own: a reader never sees a partial file under the final
/// name, and a failure (or a dropped `NewFile`) leaves nothing behind. For files other programs
/// write (a database dump): [`NewFile::file`] is handed to them as their output.
#[derive(Debug)]
pub struct NewFile {
    temp: NamedTempFile,
    dir: PathBuf,
}

/// The prefix of a [`NewFile`]'s temporary name.
const NEW_PREFIX: &str = ".envsync-tmp.";

impl NewFile {
    /// Create `dir` if it is missing (mode 0700: what goes there is private) and a private
    /// temporary file in it.
    pub fn create_in(dir: &Path) -> Result<NewFile, WriteError> {
        create_private_dir(dir)?;
        let temp = tempfile::Builder::new()
            .prefix(NEW_PREFIX)
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)
            .map_err(|e| io(dir, e))?;
        // The mode asked for above is filtered by the umask; say it again, exactly.
        temp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| io(temp.path(), e))?;
        Ok(NewFile {
            temp,
            dir: dir.to_path_buf(),
        })
    }

    /// The open file, for writing into (or handing to a child process as its output).
    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// fsync the file, give it the name `name` in its directory (never replacing an existing
    /// file: `name-2`, `name-3`, … before the extension when it is taken), fsync the
    /// directory. Returns the path and the size.
    pub fn persist(self, name: &str) -> Result<(PathBuf, u64), WriteError> {
        let f = self.temp.as_file();
        f.sync_all().map_err(|e| io(self.temp.path(), e))?;
        let bytes = f.metadata().map_err(|e| io(self.temp.path(), e))?.len();
        let (stem, ext) = match name.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() => (s, format!(".{e}")),
            _ => (name, String::new()),
        };
        let mut temp = self.temp;
        for n in 1..=1000u32 {
            let candidate = if n == 1 {
                self.dir.join(name)
            } else {
                self.dir.join(format!("{stem}-{n}{ext}"))
            };
            match temp.persist_noclobber(&candidate) {
                Ok(_) => {
                    sync_dir(&self.dir)?;
                    return Ok((candidate, bytes));
                }
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => temp = e.file,
                Err(e) => return Err(io(&candidate, e.error)),
            }
        }
        Err(io(
            &self.dir.join(name),
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a thousand files of that name are already there",
            ),
        ))
    }
}

/// Put back the old content of files already replaced, newest first.
fn restore(done: &[(PathBuf, Vec<u8>)]) {
    for (path, old) in done.iter().rev() {
        let dir = path.parent().unwrap_or(Path::new("."));
        let meta = fs::metadata(path).ok();
        if let Ok(t) = stage(dir, old, meta.as_ref(), 0o644) {
            let _ = t.persist(path);
        }
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
    fn replace_writes_whole_files_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("page.html");
        replace(&f, b"one", 0o600).unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"one");
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o600);
        // An existing file keeps its mode, narrowed to the one asked for; a link has its
        // target written.
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.html");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        replace(&link, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"two");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o640);
        // A private page over an open one: private.
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        replace(&link, b"three", 0o600).unwrap();
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o600);
        // No directory: an error, and nothing made.
        let missing = dir.path().join("no/page.html");
        assert!(matches!(
            replace(&missing, b"x", 0o644),
            Err(WriteError::Io { .. })
        ));
        assert!(!dir.path().join("no").exists());
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
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
    fn a_second_hard_link_keeps_its_mode_and_a_killed_runs_old_file_becomes_the_backup() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(".env.prod");
        let other = dir.path().join("elsewhere.env");
        fs::write(&f, "A=1\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        fs::hard_link(&f, &other).unwrap();
        let mut t = Transaction::new();
        t.stage(&f, b"A=1\n", b"A=2\n", true).unwrap();
        t.commit().unwrap();
        assert_eq!(fs::metadata(&other).unwrap().mode() & 0o777, 0o644);
        assert_eq!(fs::read(&other).unwrap(), b"A=1\n");
        assert_eq!(fs::read(backup_path(&f)).unwrap(), b"A=1\n");
        // What a kill between the two renames leaves behind.
        let dead = dead_pid();
        let kept = dir
            .path()
            .join(format!("{TEMP_PREFIX}{dead}.0.bak..env.prod"));
        fs::write(&kept, "A=0\n").unwrap();
        let staged = dir.path().join(format!("{TEMP_PREFIX}{dead}.x1y2Z3"));
        fs::write(&staged, "A=9\n").unwrap();
        let legacy = dir.path().join(format!("{TEMP_PREFIX}Ab12cD"));
        fs::write(&legacy, "A=8\n").unwrap();
        remove_leftovers(dir.path());
        assert_eq!(fs::read(backup_path(&f)).unwrap(), b"A=0\n");
        assert!(!kept.exists() && !staged.exists() && !legacy.exists());
    }

    /// The pid of a process that has exited (and been reaped).
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    fn temporaries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(TEMP_PREFIX))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn only_envsyncs_own_temporary_names_are_leftovers() {
        let cases: [(&str, Option<Leftover>); 14] = [
            ("Ab12cD", Some(Leftover::Staged { pid: None })),
            ("4242.Ab12cD", Some(Leftover::Staged { pid: Some(4242) })),
            (
                "4242.0.bak..env.prod",
                Some(Leftover::Kept {
                    pid: 4242,
                    target: ".env.prod",
                }),
            ),
            (
                "4242.copy.bak.docker-compose.yml",
                Some(Leftover::Kept {
                    pid: 4242,
                    target: "docker-compose.yml",
                }),
            ),
            ("notes", None),
            ("Ab12c", None),
            ("Ab12cDe", None),
            ("Ab12c-", None),
            ("4242.Ab12c", None),
            ("x42.Ab12cD", None),
            ("+42.Ab12cD", None),
            ("4242.0.bak.", None),
            ("4242.123.bak.x", None),
            ("4242.old.bak.x", None),
        ];
        for (rest, want) in cases {
            assert_eq!(leftover(&format!("{TEMP_PREFIX}{rest}")), want, "{rest}");
        }
        assert_eq!(leftover(".env.envsync.bak"), None);
        assert_eq!(leftover(".env.envsync-tmpAb12cD"), None);
    }

    #[test]
    fn a_temporary_of_a_running_process_is_left_alone_unless_it_is_ancient() {
        let now = SystemTime::now();
        let just = Some(now - Duration::from_secs(1));
        let ancient = Some(now - IN_FLIGHT_AT_MOST - Duration::from_secs(1));
        let alive = |p: u32| p == 7;
        assert!(stale(None, just, now, 1, &alive));
        assert!(stale(Some(1), just, now, 1, &alive));
        assert!(stale(Some(8), just, now, 1, &alive));
        assert!(!stale(Some(7), just, now, 1, &alive));
        assert!(!stale(Some(7), None, now, 1, &alive));
        assert!(stale(Some(7), ancient, now, 1, &alive));
        // Through the file system: this process's parent is running, a reaped child is not.
        let dir = tempfile::tempdir().unwrap();
        let live = std::os::unix::process::parent_id();
        let dead = dead_pid();
        let unrelated = [
            format!("{TEMP_PREFIX}notes"),
            format!("{TEMP_PREFIX}{dead}.Ab12c"),
            ".env.envsync-tmp".to_string(),
            format!("x{TEMP_PREFIX}{dead}.Ab12cD"),
        ];
        let ours_live = format!("{TEMP_PREFIX}{live}.Ab12cD");
        let ours_dead = format!("{TEMP_PREFIX}{dead}.Ab12cD");
        for n in unrelated.iter().chain([&ours_live, &ours_dead]) {
            fs::write(dir.path().join(n), "A=1\n").unwrap();
        }
        // A directory with our name is not something we wrote either.
        fs::create_dir(dir.path().join(format!("{TEMP_PREFIX}{dead}.Dir123"))).unwrap();
        remove_leftovers(dir.path());
        for n in unrelated.iter().chain([&ours_live]) {
            assert!(dir.path().join(n).exists(), "{n} was removed");
        }
        assert!(!dir.path().join(&ours_dead).exists());
        assert!(dir
            .path()
            .join(format!("{TEMP_PREFIX}{dead}.Dir123"))
            .is_dir());
    }

    #[test]
    fn a_failure_after_the_first_rename_leaves_every_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join(".env.a"), dir.path().join(".env.b"));
        fs::write(&a, "A=1\n").unwrap();
        fs::write(&b, "B=1\n").unwrap();
        let mut t = Transaction::new();
        t.stage(&a, b"A=1\n", b"A=2\n", true).unwrap();
        t.stage(&b, b"B=1\n", b"B=2\n", true).unwrap();
        // The second backup's name becomes a directory after staging: its rename fails.
        fs::create_dir(backup_path(&b)).unwrap();
        assert!(t.commit().is_err());
        assert_eq!(fs::read(&a).unwrap(), b"A=1\n");
        assert_eq!(fs::read(&b).unwrap(), b"B=1\n");
        // No temporary is left: not the staged files, not the kept old ones.
        assert_eq!(temporaries(dir.path()), Vec::<String>::new());
        // Known before staging, it is refused before anything happens, and what was staged
        // before it is removed with the transaction.
        let mut t = Transaction::new();
        t.stage(&a, b"A=1\n", b"A=2\n", true).unwrap();
        assert_eq!(temporaries(dir.path()).len(), 1);
        assert!(t.stage(&b, b"B=1\n", b"B=2\n", true).is_err());
        drop(t);
        assert_eq!(temporaries(dir.path()), Vec::<String>::new());
        assert_eq!(fs::read(&a).unwrap(), b"A=1\n");
    }

    #[test]
    fn a_new_file_is_private_appears_whole_and_never_replaces_another() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("backups/deeper");
        let f = NewFile::create_in(&dir).unwrap();
        f.file().write_all(b"dump").unwrap();
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "only the temporary file"
        );
        let (path, bytes) = f.persist("db-dev-1.dump").unwrap();
        assert_eq!((path.clone(), bytes), (dir.join("db-dev-1.dump"), 4));
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let again = NewFile::create_in(&dir).unwrap();
        again.file().write_all(b"second").unwrap();
        let (second, _) = again.persist("db-dev-1.dump").unwrap();
        assert_eq!(second, dir.join("db-dev-1-2.dump"));
        assert_eq!(fs::read(&path).unwrap(), b"dump");
        // Dropped before persist: nothing is left.
        drop(NewFile::create_in(&dir).unwrap());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
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
