//! What a contour's sources hold, read and decoded: one repo's env file ([`LoadedFile`]) and a
//! contour's files together ([`ContourFiles`]: both env files, the compose project, nginx).
//! Every command sees sources through these types; rules never read files themselves.

use crate::dialect::{Decoded, Dialect, Env};
use crate::envfile::EnvFile;
use crate::finding::Location;
use crate::model::{Contour, Repo};

/// Files at least this big are decoded on two threads.
const PARALLEL_FROM: usize = 256 * 1024;

/// One repo's env file for one contour, read and decoded.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    pub repo: Repo,
    /// Path inside the repo, as shown in locations.
    pub file: String,
    pub parsed: EnvFile,
    pub dialect: Dialect,
    /// Decoded by this repo's consumer.
    pub own: Decoded,
    /// Decoded as the other repo's consumer would read the same bytes.
    pub other: Decoded,
    pub other_dialect: Dialect,
    /// Where references the file does not define were looked up.
    pub env: Env,
}

impl LoadedFile {
    pub fn load(
        repo: Repo,
        file: String,
        bytes: &[u8],
        (dialect, other_dialect): (Dialect, Dialect),
        env: Env,
    ) -> LoadedFile {
        let none = move |name: &str| env.lookup(name);
        let other = || {
            if other_dialect == dialect {
                Decoded::default()
            } else {
                other_dialect.decode(bytes, &none)
            }
        };
        // Three independent passes over the same bytes: on a big file, decode the other
        // dialect on a second core meanwhile (small files are not worth a thread).
        let (parsed, own, other) = if bytes.len() >= PARALLEL_FROM {
            std::thread::scope(|s| {
                let other = s.spawn(other);
                let parsed = EnvFile::parse(bytes);
                let own = dialect.decode(bytes, &none);
                (parsed, own, other.join().expect("decoder thread"))
            })
        } else {
            (EnvFile::parse(bytes), dialect.decode(bytes, &none), other())
        };
        LoadedFile {
            repo,
            file,
            parsed,
            own,
            other,
            dialect,
            other_dialect,
            env,
        }
    }

    /// The file as `dialect`'s consumer reads it, when it was decoded that way.
    pub fn decoded_as(&self, dialect: Dialect) -> Option<&Decoded> {
        if self.dialect == dialect {
            Some(&self.own)
        } else if self.other_dialect == dialect {
            Some(&self.other)
        } else {
            None
        }
    }

    pub fn value(&self, key: &str) -> Option<&str> {
        self.own.get(key).map(|a| a.value.as_str())
    }

    pub fn loc(&self, line: usize) -> Location {
        Location {
            repo: self.repo,
            file: self.file.clone(),
            line,
        }
    }

    /// Location of the winning assignment of `key`, else of line 1.
    pub fn loc_of(&self, key: &str) -> Location {
        self.loc(self.own.get(key).map_or(1, |a| a.line))
    }
}

/// The files of one contour.
#[derive(Debug, Clone)]
pub struct ContourFiles<'a> {
    pub contour: &'a Contour,
    pub backend: Option<LoadedFile>,
    pub infra: Option<LoadedFile>,
    /// The contour's compose project, when its files exist.
    pub compose: Option<crate::compose::Project>,
    /// nginx configuration files that apply to the contour, with their upstreams.
    pub nginx: Vec<(String, Vec<crate::compose::nginx::Upstream>)>,
}

impl ContourFiles<'_> {
    pub fn side(&self, repo: Repo) -> Option<&LoadedFile> {
        match repo {
            Repo::Backend => self.backend.as_ref(),
            Repo::Infra => self.infra.as_ref(),
        }
    }
}
