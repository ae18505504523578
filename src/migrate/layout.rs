//! Which ledger, and where its migrations are: `--ledger auto` picks Prisma when the backend has
//! `prisma/migrations/migration_lock.toml` (GPROD's layout) and sqlx when it has `migrations/`;
//! both without a choice is trouble, naming both.

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use crate::config::LedgerChoice;

use super::prisma::dir::LOCK_FILE;
use super::MigrateError;

/// The ledger a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ledger {
    Sqlx,
    Prisma,
}

impl std::fmt::Display for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ledger::Sqlx => "sqlx",
            Ledger::Prisma => "prisma",
        })
    }
}

/// Where each ledger's migrations are in a backend checkout.
const PRISMA_DIR: &str = "prisma/migrations";
const SQLX_DIR: &str = "migrations";

/// Decide the ledger and the directory. `dir` is `--dir` (already absolute); `root` is the
/// backend's working tree, when it has one.
pub fn locate(
    choice: LedgerChoice,
    dir: Option<&Path>,
    root: Option<&Path>,
) -> Result<(Ledger, PathBuf), MigrateError> {
    if let Some(d) = dir {
        let ledger = match choice {
            LedgerChoice::Sqlx => Ledger::Sqlx,
            LedgerChoice::Prisma => Ledger::Prisma,
            LedgerChoice::Auto if d.join(LOCK_FILE).is_file() => Ledger::Prisma,
            LedgerChoice::Auto => Ledger::Sqlx,
        };
        return Ok((ledger, d.to_path_buf()));
    }
    let root = root.ok_or_else(|| {
        MigrateError::Usage("the backend is not a directory; pass --dir DIR".into())
    })?;
    let prisma = root.join(PRISMA_DIR);
    let sqlx = root.join(SQLX_DIR);
    match choice {
        LedgerChoice::Prisma => Ok((Ledger::Prisma, prisma)),
        LedgerChoice::Sqlx => Ok((Ledger::Sqlx, sqlx)),
        LedgerChoice::Auto => match (prisma.join(LOCK_FILE).is_file(), sqlx.is_dir()) {
            (true, true) => Err(MigrateError::Usage(format!(
                "the backend has Prisma migrations ({}) and sqlx migrations ({}); choose one with --ledger prisma|sqlx or `[migrate] ledger = \"…\"` in envsync.toml",
                prisma.display(),
                sqlx.display()
            ))),
            (true, false) => Ok((Ledger::Prisma, prisma)),
            (false, true) => Ok((Ledger::Sqlx, sqlx)),
            (false, false) => Err(MigrateError::Dir {
                dir: root.to_path_buf(),
                message: format!(
                    "no migrations: looked for {PRISMA_DIR}/{LOCK_FILE} (Prisma) and {SQLX_DIR}/ (sqlx); pass --dir DIR"
                ),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_the_layout_and_refuses_both() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let e = locate(LedgerChoice::Auto, None, Some(root)).unwrap_err();
        assert!(e.to_string().contains("no migrations"), "{e}");
        std::fs::create_dir_all(root.join(SQLX_DIR)).unwrap();
        assert_eq!(
            locate(LedgerChoice::Auto, None, Some(root)).unwrap(),
            (Ledger::Sqlx, root.join(SQLX_DIR))
        );
        std::fs::create_dir_all(root.join(PRISMA_DIR)).unwrap();
        std::fs::write(
            root.join(PRISMA_DIR).join(LOCK_FILE),
            "provider = \"postgresql\"\n",
        )
        .unwrap();
        let e = locate(LedgerChoice::Auto, None, Some(root)).unwrap_err();
        assert!(e.to_string().contains("--ledger prisma|sqlx"), "{e}");
        assert_eq!(
            locate(LedgerChoice::Prisma, None, Some(root)).unwrap(),
            (Ledger::Prisma, root.join(PRISMA_DIR))
        );
        assert_eq!(
            locate(LedgerChoice::Auto, Some(&root.join(PRISMA_DIR)), None)
                .unwrap()
                .0,
            Ledger::Prisma
        );
    }
}
