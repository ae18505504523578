//! Prisma's migrations directory: `prisma/migrations/<name>/migration.sql`, applied in byte order
//! of `<name>`, next to a `migration_lock.toml` that names the provider. Everything is checked
//! before any connection is made.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::fs::read::{ReadError, Root};
use crate::migrate::MigrateError;

/// The file Prisma writes next to the migrations, naming the database provider.
pub const LOCK_FILE: &str = "migration_lock.toml";

/// One migration directory.
#[derive(Debug, Clone)]
pub struct Local {
    /// The directory name, which is also `migration_name` in the ledger.
    pub name: String,
    /// `<name>/migration.sql` on disk.
    pub path: PathBuf,
    pub sql: String,
    /// Lowercase hex SHA-256 of the file's bytes, as Prisma computes it.
    pub checksum: String,
}

impl Local {
    /// `<name>/migration.sql`, as messages name it.
    pub fn file_name(&self) -> String {
        format!("{}/migration.sql", self.name)
    }
}

/// Lowercase hex SHA-256 of `bytes`: Prisma's checksum.
pub fn checksum(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Read and check the directory: the lock file must name `postgresql`, every subdirectory must
/// hold a regular `migration.sql` in UTF-8. The directory and every file read must resolve
/// inside `within` (the backend repo, or the directory `--dir` names).
pub fn load(dir: &Path, within: &Root) -> Result<Vec<Local>, MigrateError> {
    let invalid = |message: String| MigrateError::Invalid {
        dir: dir.to_path_buf(),
        message,
    };
    if let Err(e @ ReadError::Outside { .. }) = within.resolve(dir) {
        return Err(invalid(e.to_string()));
    }
    let lock = dir.join(LOCK_FILE);
    let text = within.read_to_string(&lock).map_err(|e| match e {
        ReadError::Outside { .. } => invalid(e.to_string()),
        e => MigrateError::Dir {
            dir: dir.to_path_buf(),
            message: format!("{e}; Prisma writes {LOCK_FILE} with the first migration (pass --dir DIR or --ledger sqlx)"),
        },
    })?;
    #[derive(serde::Deserialize)]
    struct LockFile {
        provider: Option<String>,
    }
    let provider = toml::from_str::<LockFile>(&text)
        .map_err(|e| invalid(format!("{LOCK_FILE}: {}", e.message())))?
        .provider;
    if provider.as_deref() != Some("postgresql") {
        return Err(invalid(format!(
            "{LOCK_FILE} says provider = {}, but envsync migrates PostgreSQL only (provider = \"postgresql\")",
            provider.map_or_else(|| "nothing".to_string(), |p| format!("\"{p}\""))
        )));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| MigrateError::Dir {
        dir: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| invalid(e.to_string()))?;
        let path = entry.path();
        // Prisma lists directories (a symlink to one counts); files beside them are not
        // migrations, but a link that leads nowhere may have been one: refuse it.
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => continue,
            Err(e) => {
                return Err(invalid(format!(
                    "{}: {e} (a symbolic link that leads nowhere?)",
                    entry.file_name().to_string_lossy()
                )))
            }
        }
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| invalid(format!("{}: the name is not UTF-8", n.to_string_lossy())))?;
        let file = path.join("migration.sql");
        if std::fs::symlink_metadata(&file).is_err() {
            return Err(invalid(format!(
                "{name}/ has no migration.sql; Prisma refuses such a directory too. Remove the directory or add its migration"
            )));
        }
        // A FIFO, a directory, a link that leads nowhere or out of the repo is refused,
        // naming it.
        let bytes = within.read(&file).map_err(|e| invalid(e.to_string()))?;
        let checksum = checksum(&bytes);
        let sql = String::from_utf8(bytes)
            .map_err(|_| invalid(format!("{name}/migration.sql is not valid UTF-8")))?;
        out.push(Local {
            name,
            path: file,
            sql,
            checksum,
        });
    }
    // Byte order of the names: the order Prisma applies them in.
    out.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = d.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        d
    }

    fn root(d: &tempfile::TempDir) -> Root {
        Root::new(d.path(), "repository").unwrap()
    }

    #[test]
    fn migrations_load_in_byte_order_with_prisma_checksums() {
        let d = dir(&[
            (LOCK_FILE, "provider = \"postgresql\"\n"),
            ("20250503_b/migration.sql", "SELECT 2;"),
            ("20250502_a/migration.sql", "abc"),
        ]);
        let m = load(d.path(), &root(&d)).unwrap();
        let names: Vec<_> = m.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["20250502_a", "20250503_b"]);
        // sha256("abc")
        assert_eq!(
            m[0].checksum,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bad_layouts_are_refused_before_any_connection() {
        let no_sql = dir(&[
            (LOCK_FILE, "provider = \"postgresql\"\n"),
            ("x/readme.txt", ""),
        ]);
        let e = load(no_sql.path(), &root(&no_sql)).unwrap_err().to_string();
        assert!(e.contains("x/ has no migration.sql"), "{e}");
        let mysql = dir(&[(LOCK_FILE, "provider = \"mysql\"\n")]);
        let e = load(mysql.path(), &root(&mysql)).unwrap_err().to_string();
        assert!(e.contains("provider = \"mysql\""), "{e}");
        let none = dir(&[]);
        let e = load(none.path(), &root(&none)).unwrap_err().to_string();
        assert!(e.contains(LOCK_FILE), "{e}");
    }
}
