//! Remote sources: `git+file://`, `git+https://` and `git+ssh://` URLs fetched into a bare
//! cache repository, which [`super::Source`] then reads like any other commit.

use std::path::PathBuf;

use git2::Repository;

use super::SourceError;

/// The cache directory: `$ENVSYNC_CACHE_DIR`, else `$XDG_CACHE_HOME/envsync`, else
/// `~/.cache/envsync`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ENVSYNC_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("envsync");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache"))
        .unwrap_or_else(std::env::temp_dir)
        .join("envsync")
}

/// How a remote is fetched into the cache. Reading is always libgit2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// libgit2's own transport: local `file://` repositories need no TLS or SSH.
    Libgit2,
    /// The `git` program (like cargo's `net.git-fetch-with-cli`): https and ssh with the user's
    /// own credential helpers, `~/.ssh/config` and proxies, and no TLS library linked into
    /// envsync, which keeps every run (the pre-commit hook included) free of OpenSSL's start-up.
    GitCli,
}

impl Transport {
    /// `file://` goes through libgit2, everything else through `git`;
    /// `ENVSYNC_GIT_FETCH=cli` sends every URL through `git` (behind a proxy, say).
    pub fn for_url(url: &str) -> Transport {
        let force_cli = std::env::var_os("ENVSYNC_GIT_FETCH").is_some_and(|v| v == "cli");
        if url.starts_with("file://") && !force_cli {
            Transport::Libgit2
        } else {
            Transport::GitCli
        }
    }
}

/// The refspecs a cache repository mirrors: branches, tags and the remote's HEAD.
const REFSPECS: [&str; 3] = [
    "+refs/heads/*:refs/heads/*",
    "+refs/tags/*:refs/tags/*",
    "+HEAD:refs/envsync/HEAD",
];

/// Fetch `url` into its bare cache repository (created on first use) and open it.
pub fn fetch_into_cache(url: &str, transport: Transport) -> Result<Repository, SourceError> {
    use sha2::{Digest, Sha256};
    // Messages name the URL without its credentials, and lose any copy of them the transport
    // printed.
    let secrets = crate::mask::url_secrets(url);
    let fail = |message: String| SourceError::Fetch {
        url: crate::mask::git_url(url),
        message: secrets
            .iter()
            .fold(message, |m, s| m.replace(s.as_str(), "****")),
    };
    let digest = Sha256::digest(url.as_bytes());
    let name = hex::encode(&digest[..8]);
    let dir = cache_dir().join("git").join(name);
    let repo = match Repository::open_bare(&dir) {
        Ok(r) => r,
        Err(_) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| fail(format!("cannot create cache {}: {e}", dir.display())))?;
            Repository::init_bare(&dir).map_err(|e| fail(e.message().to_string()))?
        }
    };
    match transport {
        Transport::Libgit2 => {
            let mut remote = repo
                .remote_anonymous(url)
                .map_err(|e| fail(e.message().to_string()))?;
            remote
                .fetch(&REFSPECS, None, None)
                .map_err(|e| fail(e.message().to_string()))?;
        }
        Transport::GitCli => {
            let out = std::process::Command::new("git")
                .arg("--git-dir")
                .arg(&dir)
                .args(["fetch", "--quiet", "--no-write-fetch-head", "--", url])
                .args(REFSPECS)
                .env("GIT_TERMINAL_PROMPT", "0")
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| {
                    fail(format!(
                        "cannot run `git` ({e}); https and ssh sources are fetched with the git \
                         program, install it or use a git+file:// source"
                    ))
                })?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                return Err(fail(format!("git fetch failed: {}", err.trim())));
            }
        }
    }
    Ok(repo)
}
