//! Reading the files envsync is given (env files, configs, rules, migrations, `show FILE`):
//! regular files only, decided on the opened file without blocking (a FIFO or a device is
//! refused at once, never read), and at most [`MAX_SIZE`] bytes.
//!
//! A file read on behalf of a repo goes through a [`Root`]: symbolic links are resolved and the
//! result must lie inside the repo (or the directory named on the command line), so an
//! in-repo link (`.env -> .env.production`) works and one that leads out of it
//! (`docker/app.env -> /etc/shadow`) is refused, naming the link, without opening its target.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The largest file envsync reads: far above any env file, config or migration, far below
/// what would exhaust memory.
pub const MAX_SIZE: u64 = 64 * 1024 * 1024;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a regular file ({kind}); envsync reads only regular files", path.display())]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error("{}: larger than {} MiB; envsync reads files up to that size", path.display(), MAX_SIZE / (1024 * 1024))]
    TooLarge { path: PathBuf },
    /// Where it leads is not said: the name of a file outside the repo is none of the
    /// output's business, and its content is never read.
    #[error("{}: points outside the {what} {} (a symbolic link leads out of it); envsync reads only files inside the {what}, so it was not opened. Make the link point inside the {what}, or copy the file in", path.display(), root.display())]
    Outside {
        path: PathBuf,
        what: &'static str,
        root: PathBuf,
    },
}

impl ReadError {
    /// The file does not exist (or a link in its path dangles).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// A directory whose files envsync reads on behalf of a repo: the repo's working tree, or a
/// migrations directory named with `--dir`. The one containment check of the crate: every
/// file read through it resolves (symbolic links followed, `..` removed) to a path inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// Canonical: absolute, no `.`, `..` or symbolic link left.
    dir: PathBuf,
    /// How messages name it: "repository", "migrations directory".
    what: &'static str,
}

impl Root {
    /// `dir`, canonicalised once.
    pub fn new(dir: &Path, what: &'static str) -> Result<Root, ReadError> {
        let dir = std::fs::canonicalize(dir).map_err(|source| ReadError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Root { dir, what })
    }

    /// The canonical directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `path` really is (canonical), when that is inside the root; [`ReadError::Outside`]
    /// naming `path` otherwise. A missing file (or a dangling link) is the `NotFound` error.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf, ReadError> {
        let real = std::fs::canonicalize(path).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if !real.starts_with(&self.dir) {
            return Err(ReadError::Outside {
                path: path.to_path_buf(),
                what: self.what,
                root: self.dir.clone(),
            });
        }
        Ok(real)
    }

    /// [`read`] of `path`, refused when it resolves outside the root. The path opened is the
    /// canonical one just checked, its last component not followed (`O_NOFOLLOW`): a link
    /// swapped in after the check is not followed out of the root. Errors name `path`.
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, ReadError> {
        let real = self.resolve(path)?;
        read_opened(path, &real, libc::O_NOFOLLOW)
    }

    /// [`Root::read`] as UTF-8 text.
    pub fn read_to_string(&self, path: &Path) -> Result<String, ReadError> {
        utf8(path, self.read(path)?)
    }
}

/// The bytes of the regular file at `path` (symbolic links followed): a file named explicitly
/// (`show FILE`, `--config`, a rules file). Files read on behalf of a repo go through [`Root`].
pub fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    read_opened(path, path, 0)
}

/// Open `open` (with `flags` added) and read it; errors name `path`.
fn read_opened(path: &Path, open: &Path, flags: libc::c_int) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    // O_NONBLOCK: opening a FIFO with no writer must not wait; regular files ignore it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | flags)
        .open(open)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile {
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        });
    }
    if meta.len() > MAX_SIZE {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The size can change while reading: the cap holds for what is read, not what was stat'ed.
    file.take(MAX_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_SIZE {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(path: &Path) -> Result<String, ReadError> {
    utf8(path, read(path)?)
}

fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, ReadError> {
    String::from_utf8(bytes).map_err(|_| ReadError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not valid UTF-8"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "A=1\n").unwrap();
        assert_eq!(read(&f).unwrap(), b"A=1\n");
        let e = read(d.path()).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        let e = read(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("a device"), "{e}");
        let link = d.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(read(&link), Err(ReadError::NotAFile { .. })));
        assert!(read(&d.path().join("none")).unwrap_err().is_not_found());
        let fifo = d.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let e = read(&fifo).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
    }

    #[test]
    fn a_root_reads_through_links_inside_it_and_refuses_links_out_of_it() {
        let outside = tempfile::tempdir().unwrap();
        let canary = outside.path().join("canary");
        std::fs::write(&canary, "CANARY=outside-content\n").unwrap();
        let repo = tempfile::tempdir().unwrap();
        let r = repo.path();
        std::fs::write(r.join(".env.prod"), "A=1\n").unwrap();
        std::os::unix::fs::symlink(".env.prod", r.join(".env")).unwrap();
        std::os::unix::fs::symlink(&canary, r.join(".env.dev")).unwrap();
        std::fs::create_dir(r.join("sub")).unwrap();
        std::os::unix::fs::symlink("../../", r.join("sub/up")).unwrap();
        std::os::unix::fs::symlink(outside.path(), r.join("out")).unwrap();
        let root = Root::new(r, "repository").unwrap();
        assert_eq!(root.read(&r.join(".env")).unwrap(), b"A=1\n");
        assert_eq!(root.read(&r.join("sub/../.env.prod")).unwrap(), b"A=1\n");
        // A link to a file, a linked directory on the way, `..` past the root: all refused,
        // naming the path asked for and never the content.
        let escapes = [
            r.join(".env.dev"),
            r.join("out/canary"),
            r.join("../")
                .join(outside.path().file_name().unwrap())
                .join("canary"),
        ];
        for p in escapes {
            let e = root.read(&p).unwrap_err();
            assert!(
                matches!(e, ReadError::Outside { .. }),
                "{}: {e}",
                p.display()
            );
            let text = e.to_string();
            assert!(text.starts_with(&p.display().to_string()), "{text}");
            assert!(text.contains("points outside the repository"), "{text}");
            assert!(!text.contains("outside-content"), "{text}");
        }
        assert!(root.read(&r.join("missing")).unwrap_err().is_not_found());
        assert!(matches!(
            root.read(&r.join("sub/up")),
            Err(ReadError::Outside { .. })
        ));
    }
}
