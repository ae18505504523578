//! The checkout a command runs in, as the pre-commit hook sees it: where git looks for hooks,
//! and what the next commit would change (HEAD to the index). Read-only.

use std::path::{Path, PathBuf};

use git2::{Delta, Repository};

use super::SourceError;

fn git(e: git2::Error) -> SourceError {
    SourceError::Git(e.message().to_string())
}

/// The repository that contains a directory.
pub struct Checkout {
    repo: Repository,
}

impl std::fmt::Debug for Checkout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Checkout({})", self.repo.path().display())
    }
}

impl Checkout {
    /// The repository containing `dir` (searching upwards, like git).
    pub fn discover(dir: &Path) -> Result<Checkout, SourceError> {
        Repository::discover(dir)
            .map(|repo| Checkout { repo })
            .map_err(|e| SourceError::NoRepo(e.message().into()))
    }

    /// The `.git` directory (the worktree's own, for a linked worktree).
    pub fn git_dir(&self) -> &Path {
        self.repo.path()
    }

    /// The working tree, `None` for a bare repository.
    pub fn work_tree(&self) -> Option<&Path> {
        self.repo.workdir()
    }

    /// The directory git runs hooks from: `core.hooksPath` (relative to the top of the working
    /// tree) or the common directory's `hooks/` (shared by linked worktrees).
    pub fn hooks_dir(&self) -> Result<PathBuf, SourceError> {
        let top = self
            .repo
            .workdir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.repo.path().to_path_buf());
        let hooks_path = self
            .repo
            .config()
            .map_err(git)?
            .get_path("core.hooksPath")
            .ok();
        Ok(match hooks_path {
            Some(p) if p.is_absolute() => p,
            Some(p) => top.join(p),
            None => self.repo.commondir().join("hooks"),
        })
    }

    /// What the next commit would change, reading the index now.
    pub fn staged_changes(
        &self,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<StagedChange>, SourceError> {
        let index = self.repo.index().map_err(git)?;
        staged_changes(&self.repo, &index, wanted)
    }
}

/// A file the next commit adds or changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedChange {
    /// Path inside the repository, `/`-separated.
    pub path: String,
    /// A symbolic link (its content is a path, not the file's text).
    pub link: bool,
    /// The staged bytes, for paths the caller asked for and that are not links.
    pub content: Option<Vec<u8>>,
}

/// The files added, modified, renamed, copied or retyped from HEAD to `index`.
pub(super) fn staged_changes(
    repo: &Repository,
    index: &git2::Index,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<StagedChange>, SourceError> {
    let head_tree = repo.head().ok().and_then(|h| h.peel_to_tree().ok());
    let diff = repo
        .diff_tree_to_index(head_tree.as_ref(), Some(index), None)
        .map_err(git)?;
    let mut out = Vec::new();
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
        if !wanted(path) {
            continue;
        }
        let link = file.mode() == git2::FileMode::Link;
        let content = if link {
            None
        } else {
            Some(repo.find_blob(file.id()).map_err(git)?.content().to_vec())
        };
        out.push(StagedChange {
            path: path.to_string(),
            link,
            content,
        });
    }
    Ok(out)
}
