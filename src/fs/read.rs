//! Reading the files envsync is given (env files, configs, rules, migrations, `show FILE`):
//! regular files only, decided on the opened file without blocking (a FIFO or a device is
//! refused at once, never read), and at most [`MAX_SIZE`] bytes.

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

/// The bytes of the regular file at `path` (symbolic links followed).
pub fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    // O_NONBLOCK: opening a FIFO with no writer must not wait; regular files ignore it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
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
    String::from_utf8(read(path)?).map_err(|_| ReadError::Io {
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
}
