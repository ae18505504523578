//! The migrations directory, read into sqlx's own migration type and checked for what sqlx
//! would silently mishandle before anything touches the database.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType};

use super::MigrateError;
use crate::fs::read::{ReadError, Root};

/// An up (or simple) migration and its file.
#[derive(Debug, Clone)]
pub struct Local {
    pub migration: Migration,
    pub file: PathBuf,
}

impl Local {
    pub fn file_name(&self) -> String {
        self.file
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
    }
}

/// What sqlx does with a file name: `<i64>_<description>.sql` (or `.up.sql` / `.down.sql`);
/// anything else is skipped. Returns the version and whether it is a down migration.
fn classify(name: &str) -> Option<Result<(i64, bool), String>> {
    let (version, rest) = name.split_once('_')?;
    if !rest.ends_with(".sql") {
        return None;
    }
    Some(
        version
            .parse::<i64>()
            .map(|v| (v, rest.ends_with(".down.sql")))
            .map_err(|_| format!("{name}: the part before the first `_` must be an integer version (sqlx refuses the whole directory)")),
    )
}

/// Read the directory once, check it, and build each migration with sqlx's own constructor
/// (`Migration::new`: SHA-384 checksum, `MigrationType::from_filename`, the description with `_`
/// as spaces, `-- no-transaction` as the first bytes): the values `sqlx::migrate::Migrator` and
/// `sqlx::migrate!` compute for the same files (an integration test runs sqlx's `Migrator` on
/// envsync's ledger and the reverse). The directory and every file in it must resolve inside
/// `within` (the backend repo, or the directory `--dir` names).
pub fn load(dir: &Path, within: &Root) -> Result<Vec<Local>, MigrateError> {
    let invalid = |message: String| MigrateError::Invalid {
        dir: dir.to_path_buf(),
        message,
    };
    // A missing directory is said below, by `read_dir`.
    if let Err(e @ ReadError::Outside { .. }) = within.resolve(dir) {
        return Err(invalid(e.to_string()));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| MigrateError::Dir {
        dir: dir.to_path_buf(),
        message: format!("{e}; pass --dir DIR (default: migrations/ in the backend repo)"),
    })?;
    let mut ups: BTreeMap<i64, Vec<(PathBuf, Migration)>> = BTreeMap::new();
    let mut downs: BTreeMap<i64, Vec<PathBuf>> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| invalid(e.to_string()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(kind) = classify(&name) else {
            continue;
        };
        let path = entry.path();
        let (version, down) = kind.map_err(invalid)?;
        // A name sqlx takes for a migration must be a regular file inside the repo (a symbolic
        // link to one is followed): a directory, FIFO, device, dangling or looping link, or a
        // link out of the repo is refused, naming it, rather than skipped.
        let sql = within.read_to_string(&path).map_err(|e| {
            invalid(format!(
                "{name} is named like a migration but cannot be read: {}",
                e.to_string()
                    .strip_prefix(&format!("{}: ", path.display()))
                    .unwrap_or(&e.to_string())
            ))
        })?;
        if down {
            downs.entry(version).or_default().push(path);
            continue;
        }
        check_no_transaction(&name, sql.as_bytes()).map_err(invalid)?;
        let rest = name.split_once('_').map_or("", |(_, r)| r);
        let kind = MigrationType::from_filename(rest);
        let description = rest.trim_end_matches(kind.suffix()).replace('_', " ");
        let no_tx = sql.starts_with("-- no-transaction");
        let migration = Migration::new(
            version,
            Cow::Owned(description),
            kind,
            Cow::Owned(sql),
            no_tx,
        );
        ups.entry(version).or_default().push((path, migration));
    }
    let names = |files: Vec<&PathBuf>| {
        let mut n: Vec<String> = files
            .iter()
            .map(|f| {
                f.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        n.sort();
        n.join(" and ")
    };
    for (version, files) in &ups {
        if files.len() > 1 {
            return Err(invalid(format!(
                "version {version} is used by {}; sqlx would apply both under one version. Renumber one of them",
                names(files.iter().map(|(p, _)| p).collect())
            )));
        }
    }
    for (version, files) in &downs {
        if files.len() > 1 {
            return Err(invalid(format!(
                "version {version} has two down migrations: {}",
                names(files.iter().collect())
            )));
        }
    }
    Ok(ups
        .into_values()
        .flatten()
        .map(|(file, migration)| Local { migration, file })
        .collect())
}

/// sqlx honours `-- no-transaction` only as the very first bytes of the file.
fn check_no_transaction(name: &str, bytes: &[u8]) -> Result<(), String> {
    const MARK: &[u8] = b"-- no-transaction";
    if bytes.starts_with(MARK) {
        return Ok(());
    }
    let body = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    let trimmed = body.trim_ascii_start();
    if trimmed.starts_with(MARK) {
        let what = if body.len() != bytes.len() {
            "a byte-order mark"
        } else {
            "blank space"
        };
        return Err(format!(
            "{name}: `-- no-transaction` comes after {what}, so sqlx would run this file inside a transaction; make the marker the file's very first bytes"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified_like_sqlx() {
        assert_eq!(classify("1_init.sql"), Some(Ok((1, false))));
        assert_eq!(
            classify("20240101_add.down.sql"),
            Some(Ok((20240101, true)))
        );
        assert_eq!(classify("README.md"), None);
        assert_eq!(classify("notes_about.txt"), None);
        assert!(matches!(classify("v1_init.sql"), Some(Err(_))));
    }

    #[test]
    fn a_hidden_no_transaction_marker_is_refused() {
        assert!(check_no_transaction("a", b"-- no-transaction\nCREATE INDEX").is_ok());
        assert!(check_no_transaction("a", b"\n-- no-transaction\n").is_err());
        assert!(
            check_no_transaction("a", b"\xEF\xBB\xBF-- no-transaction\n")
                .unwrap_err()
                .contains("byte-order mark")
        );
        assert!(check_no_transaction("a", b"CREATE TABLE t();").is_ok());
    }
}
