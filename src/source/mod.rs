//! Sources: where a repo's files are read from. All git access in envsync goes through this
//! module (libgit2 here and in [`checkout`], the `git` program for remote fetches in [`remote`]).
//!
//! A source is a working tree (symlinks followed, but only to files inside the repo), a commit of a local repository
//! (`--backend-rev`), the index (`--staged`: tracked files from the index, untracked or ignored
//! ones from the working tree), or a remote (`git+file://`, `git+https://`, `git+ssh://`) fetched
//! into a bare cache repository. Reading never changes a working tree or an index.

pub mod checkout;
pub mod remote;

use std::fmt;
use std::path::{Component, Path, PathBuf};

use git2::{ObjectType, Repository};

use crate::fs::read::{ReadError, Root};

pub use checkout::{Checkout, StagedChange};
use remote::{fetch_into_cache, Transport};

/// How a source is named on the command line or in `envsync.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A directory: its working tree, or with `rev` that commit of the repository.
    Path { path: PathBuf, rev: Option<String> },
    /// A git URL (`git+file:///abs`, `git+https://…`, `git+ssh://…`) with an optional `#REV`.
    Remote { url: String, rev: Option<String> },
}

impl SourceSpec {
    /// Parse `SRC` relative to `base`; `rev` is `--*-rev` or the config's `rev`.
    pub fn parse(src: &str, rev: Option<String>, base: &Path) -> SourceSpec {
        if let Some(rest) = src.strip_prefix("git+") {
            let (url, frag) = match rest.split_once('#') {
                Some((u, r)) if !r.is_empty() => (u.to_string(), Some(r.to_string())),
                Some((u, _)) => (u.to_string(), None),
                None => (rest.to_string(), None),
            };
            return SourceSpec::Remote {
                url,
                rev: rev.or(frag),
            };
        }
        let p = Path::new(src);
        SourceSpec::Path {
            path: if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            },
            rev,
        }
    }
}

/// How messages name a source that is not open (yet): a remote's credentials hidden.
impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, rev) = match self {
            SourceSpec::Path { path, rev } => (path.display().to_string(), rev),
            SourceSpec::Remote { url, rev } => (crate::mask::git_url(url), rev),
        };
        match rev {
            Some(r) => write!(f, "{name}#{r}"),
            None => f.write_str(&name),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{} is not a directory; pass --{role} DIR or a git+file:// / git+https:// URL", path.display())]
    NotADirectory { role: &'static str, path: PathBuf },
    #[error("{} is not a git repository ({message}); --{role}-rev and --staged need one", path.display())]
    NotARepo {
        role: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("cannot resolve `{rev}` in {repo}: {message}; check the branch, tag or commit name")]
    BadRev {
        repo: String,
        rev: String,
        message: String,
    },
    #[error("cannot fetch {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("cannot read {file} from {repo}: {message}")]
    Read {
        repo: String,
        file: String,
        message: String,
    },
    #[error("{file} in {repo} is a symlink loop or points outside the repository")]
    BadLink { repo: String, file: String },
    /// A working-tree file that resolves outside its repo (see [`crate::fs::read::Root`]).
    #[error("{file} in {repo} points outside the repository (a symbolic link leads out of it); envsync reads only files inside the repository, so it was not opened. Make the link point inside the repository, or copy the file in")]
    Outside { repo: String, file: String },
    #[error("not inside a git repository ({0}); run envsync from the working tree of your app or infra repo")]
    NoRepo(String),
    #[error("git: {0}")]
    Git(String),
}

/// An opened source. A working tree's files (also the untracked ones an index source reads)
/// are read through its [`Root`]: each must resolve inside the repo.
pub enum Source {
    WorkTree {
        root: PathBuf,
        within: Root,
    },
    Tree {
        repo: Repository,
        tree: git2::Oid,
        label: String,
    },
    Index {
        repo: Repository,
        /// Read once at open: every file lookup uses it.
        index: git2::Index,
        root: PathBuf,
        within: Root,
    },
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({self})")
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::WorkTree { root, .. } => write!(f, "{}", root.display()),
            Source::Tree { label, .. } => f.write_str(label),
            Source::Index { root, .. } => write!(f, "{} (staged)", root.display()),
        }
    }
}

const MAX_LINKS: usize = 8;

/// How many files [`Source::list`] returns at most.
pub const MAX_LISTED: usize = 10_000;

impl Source {
    /// Open a source. `staged` reads the index of a local repository.
    pub fn open(
        spec: &SourceSpec,
        role: &'static str,
        staged: bool,
    ) -> Result<Source, SourceError> {
        match spec {
            SourceSpec::Path { path, rev } => {
                if !path.is_dir() {
                    return Err(SourceError::NotADirectory {
                        role,
                        path: path.clone(),
                    });
                }
                let within = |root: &Path| {
                    Root::new(root, "repository").map_err(|_| SourceError::NotADirectory {
                        role,
                        path: path.clone(),
                    })
                };
                if rev.is_none() && !staged {
                    return Ok(Source::WorkTree {
                        within: within(path)?,
                        root: path.clone(),
                    });
                }
                let repo = Repository::open(path).map_err(|e| SourceError::NotARepo {
                    role,
                    path: path.clone(),
                    message: e.message().to_string(),
                })?;
                match rev {
                    Some(rev) => {
                        let tree = resolve_tree(&repo, rev, &path.display().to_string())?;
                        Ok(Source::Tree {
                            repo,
                            tree,
                            label: format!("{}@{rev}", path.display()),
                        })
                    }
                    None => Ok(Source::Index {
                        within: within(repo.workdir().unwrap_or(path))?,
                        root: repo.workdir().unwrap_or(path).to_path_buf(),
                        index: repo.index().map_err(|e| SourceError::NotARepo {
                            role,
                            path: path.clone(),
                            message: e.message().to_string(),
                        })?,
                        repo,
                    }),
                }
            }
            SourceSpec::Remote { url, rev } => {
                let repo = fetch_into_cache(url, Transport::for_url(url))?;
                let rev_name = rev.clone().unwrap_or_else(|| "refs/envsync/HEAD".into());
                let shown = crate::mask::git_url(url);
                let tree = resolve_tree(&repo, &rev_name, &shown).or_else(|e| {
                    // A branch name fetched as refs/heads/NAME.
                    resolve_tree(&repo, &format!("refs/heads/{rev_name}"), &shown).map_err(|_| e)
                })?;
                Ok(Source::Tree {
                    repo,
                    tree,
                    label: format!(
                        "{}#{}",
                        crate::mask::git_url(url),
                        rev.as_deref().unwrap_or("HEAD")
                    ),
                })
            }
        }
    }

    /// What a commit would change (HEAD to the index), when this source reads the index of
    /// the repository whose git directory is `git_dir`; `None` otherwise. Only paths `wanted`
    /// accepts have their content read.
    pub fn staged_changes(
        &self,
        git_dir: &Path,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Option<Result<Vec<StagedChange>, SourceError>> {
        match self {
            Source::Index { repo, index, .. } if repo.path() == git_dir => {
                Some(checkout::staged_changes(repo, index, wanted))
            }
            _ => None,
        }
    }

    /// Is this a working tree (so files can be written back)?
    pub fn work_tree(&self) -> Option<&Path> {
        match self {
            Source::WorkTree { root, .. } => Some(root),
            _ => None,
        }
    }

    /// The local directory this source reads (a working tree, or the work tree of a local
    /// repository read at a revision or from its index); `None` for remote sources.
    pub fn local_root(&self) -> Option<PathBuf> {
        match self {
            Source::WorkTree { root, .. } | Source::Index { root, .. } => Some(root.clone()),
            Source::Tree { repo, .. } => repo
                .workdir()
                .filter(|_| !repo.is_bare())
                .map(Path::to_path_buf),
        }
    }

    /// Where the working-tree file `rel` really is (symbolic links resolved), for a source that
    /// reads the working tree; `None` for git objects, or when it cannot be resolved. The
    /// workspace uses it to follow an infra link into the backend repo, as compose does.
    pub fn real_path(&self, rel: &str) -> Option<PathBuf> {
        match self {
            Source::WorkTree { root, .. } | Source::Index { root, .. } => {
                std::fs::canonicalize(root.join(rel)).ok()
            }
            Source::Tree { .. } => None,
        }
    }

    /// The files under `dir` (relative to the repo root, recursively, at most [`MAX_LISTED`]),
    /// sorted. Symbolic links are listed, not followed.
    pub fn list(&self, dir: &str) -> Result<Vec<String>, SourceError> {
        let mut out = Vec::new();
        match self {
            Source::WorkTree { root, .. } | Source::Index { root, .. } => {
                let mut stack = vec![dir.trim_end_matches('/').to_string()];
                while let Some(d) = stack.pop() {
                    let Ok(entries) = std::fs::read_dir(root.join(&d)) else {
                        continue;
                    };
                    for e in entries.flatten() {
                        let Ok(name) = e.file_name().into_string() else {
                            continue;
                        };
                        let rel = format!("{d}/{name}");
                        match e.file_type() {
                            Ok(t) if t.is_dir() => stack.push(rel),
                            Ok(_) => out.push(rel),
                            Err(_) => {}
                        }
                        if out.len() + stack.len() > MAX_LISTED {
                            break;
                        }
                    }
                }
                if let Source::Index { index, .. } = self {
                    let prefix = format!("{}/", dir.trim_end_matches('/'));
                    for e in index.iter() {
                        let path = String::from_utf8_lossy(&e.path).into_owned();
                        if path.starts_with(&prefix) && !out.contains(&path) {
                            out.push(path);
                        }
                    }
                }
            }
            Source::Tree { repo, tree, .. } => {
                let tree = repo.find_tree(*tree).map_err(|e| self.read_err(dir, &e))?;
                let Ok(entry) = tree.get_path(Path::new(dir)) else {
                    return Ok(out);
                };
                let Ok(sub) = repo.find_tree(entry.id()) else {
                    return Ok(out);
                };
                sub.walk(git2::TreeWalkMode::PreOrder, |parent, e| {
                    if e.kind() == Some(ObjectType::Blob) {
                        if let Some(name) = e.name() {
                            out.push(format!("{}/{parent}{name}", dir.trim_end_matches('/')));
                        }
                    }
                    if out.len() > MAX_LISTED {
                        git2::TreeWalkResult::Abort
                    } else {
                        git2::TreeWalkResult::Ok
                    }
                })
                .ok();
            }
        }
        out.truncate(MAX_LISTED);
        out.sort();
        Ok(out)
    }

    /// Read `rel` (relative to the repo root), following symlinks. `Ok(None)` when absent.
    pub fn read(&self, rel: &str) -> Result<Option<Vec<u8>>, SourceError> {
        match self {
            Source::WorkTree { root, within } => read_fs(within, root, rel, &self.to_string()),
            Source::Tree { repo, tree, .. } => {
                let tree = repo.find_tree(*tree).map_err(|e| self.read_err(rel, &e))?;
                self.follow(rel, |path| match tree.get_path(Path::new(path)) {
                    Ok(entry) if entry.kind() == Some(ObjectType::Blob) => {
                        let blob = repo
                            .find_blob(entry.id())
                            .map_err(|e| self.read_err(rel, &e))?;
                        Ok(Some((
                            blob.content().to_vec(),
                            entry.filemode() == 0o120000,
                        )))
                    }
                    Ok(_) => Ok(None),
                    Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
                    Err(e) => Err(self.read_err(rel, &e)),
                })
            }
            Source::Index {
                repo,
                index,
                root,
                within,
            } => {
                let tracked =
                    self.follow(rel, |path| match index.get_path(Path::new(path), 0) {
                        Some(entry) => {
                            let blob = repo
                                .find_blob(entry.id)
                                .map_err(|e| self.read_err(rel, &e))?;
                            Ok(Some((blob.content().to_vec(), entry.mode == 0o120000)))
                        }
                        None => Ok(None),
                    })?;
                match tracked {
                    Some(bytes) => Ok(Some(bytes)),
                    // Untracked or ignored: not part of the commit, read from the working tree.
                    None => read_fs(within, root, rel, &self.to_string()),
                }
            }
        }
    }

    fn read_err(&self, rel: &str, e: &git2::Error) -> SourceError {
        SourceError::Read {
            repo: self.to_string(),
            file: rel.to_string(),
            message: e.message().to_string(),
        }
    }

    /// Look `rel` up with `get`, following in-repo symlinks (content = target path).
    fn follow(
        &self,
        rel: &str,
        get: impl Fn(&str) -> Result<Option<(Vec<u8>, bool)>, SourceError>,
    ) -> Result<Option<Vec<u8>>, SourceError> {
        let mut path = normalize(Path::new(rel)).ok_or_else(|| self.bad_link(rel))?;
        for _ in 0..MAX_LINKS {
            match get(&path)? {
                None => return Ok(None),
                Some((bytes, false)) => return Ok(Some(bytes)),
                Some((target, true)) => {
                    let target = String::from_utf8_lossy(&target).into_owned();
                    let parent = Path::new(&path).parent().unwrap_or(Path::new(""));
                    path = normalize(&parent.join(target)).ok_or_else(|| self.bad_link(rel))?;
                }
            }
        }
        Err(self.bad_link(rel))
    }

    fn bad_link(&self, rel: &str) -> SourceError {
        SourceError::BadLink {
            repo: self.to_string(),
            file: rel.to_string(),
        }
    }
}

/// Normalise a relative path inside a repo (`a/./b/../c` is `a/c`); `None` if it escapes the
/// root or is absolute. Every path named relative to a repo (a file read, a config's
/// `repo:path`) is normalised by this one function.
pub fn normalize(p: &Path) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// `rel` in a working tree, read through its [`Root`]: a file that resolves outside the repo is
/// [`SourceError::Outside`], as a git source's escaping link is [`SourceError::BadLink`].
fn read_fs(
    within: &Root,
    root: &Path,
    rel: &str,
    label: &str,
) -> Result<Option<Vec<u8>>, SourceError> {
    match within.read(&root.join(rel)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(ReadError::Outside { .. }) => Err(SourceError::Outside {
            repo: label.to_string(),
            file: rel.to_string(),
        }),
        Err(e) => Err(SourceError::Read {
            repo: label.to_string(),
            file: rel.to_string(),
            message: e.to_string(),
        }),
    }
}

fn resolve_tree(repo: &Repository, rev: &str, label: &str) -> Result<git2::Oid, SourceError> {
    let obj = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_tree())
        .map_err(|e| SourceError::BadRev {
            repo: label.to_string(),
            rev: rev.to_string(),
            message: e.message().to_string(),
        })?;
    Ok(obj.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_specs() {
        let base = Path::new("/w");
        assert_eq!(
            SourceSpec::parse("git+file:///srv/infra#main", None, base),
            SourceSpec::Remote {
                url: "file:///srv/infra".into(),
                rev: Some("main".into())
            }
        );
        assert_eq!(
            SourceSpec::parse("../infra", Some("v1".into()), base),
            SourceSpec::Path {
                path: "/w/../infra".into(),
                rev: Some("v1".into())
            }
        );
    }

    #[test]
    fn normalize_refuses_escapes() {
        assert_eq!(normalize(Path::new("a/./b/../c")), Some("a/c".into()));
        assert_eq!(normalize(Path::new("../x")), None);
        assert_eq!(normalize(Path::new("/etc/passwd")), None);
    }
}
