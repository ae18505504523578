//! The shared vocabulary: the two repos, a value per repo, and the deployment contours.
//!
//! A leaf module: it depends on nothing else in the crate, so every other module can use it.

use std::fmt;

/// The two repositories envsync compares.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Repo {
    Backend,
    Infra,
}

impl Repo {
    pub const BOTH: [Repo; 2] = [Repo::Backend, Repo::Infra];

    pub fn name(self) -> &'static str {
        match self {
            Repo::Backend => "backend",
            Repo::Infra => "infra",
        }
    }

    pub fn other(self) -> Repo {
        match self {
            Repo::Backend => Repo::Infra,
            Repo::Infra => Repo::Backend,
        }
    }
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `T` for each repo: the one place that says which field is the backend's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerRepo<T> {
    pub backend: T,
    pub infra: T,
}

impl<T> PerRepo<T> {
    pub fn new(backend: T, infra: T) -> PerRepo<T> {
        PerRepo { backend, infra }
    }

    /// Build both sides from one function of the repo.
    pub fn from_fn(mut f: impl FnMut(Repo) -> T) -> PerRepo<T> {
        PerRepo {
            backend: f(Repo::Backend),
            infra: f(Repo::Infra),
        }
    }

    /// Like [`PerRepo::from_fn`], stopping at the first error (backend first).
    pub fn try_from_fn<E>(mut f: impl FnMut(Repo) -> Result<T, E>) -> Result<PerRepo<T>, E> {
        Ok(PerRepo {
            backend: f(Repo::Backend)?,
            infra: f(Repo::Infra)?,
        })
    }

    pub fn get(&self, repo: Repo) -> &T {
        match repo {
            Repo::Backend => &self.backend,
            Repo::Infra => &self.infra,
        }
    }

    pub fn get_mut(&mut self, repo: Repo) -> &mut T {
        match repo {
            Repo::Backend => &mut self.backend,
            Repo::Infra => &mut self.infra,
        }
    }

    /// Both sides, backend first.
    pub fn iter(&self) -> impl Iterator<Item = (Repo, &T)> {
        [(Repo::Backend, &self.backend), (Repo::Infra, &self.infra)].into_iter()
    }
}

/// A deployment contour and its port table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contour {
    pub name: String,
    pub aliases: Vec<String>,
    pub api_port: u16,
    pub db_port: u16,
    pub adminer_port: Option<u16>,
    pub redis_port: Option<u16>,
    pub network: String,
    pub volumes: Vec<String>,
    /// The compose files (`-f` order, relative to the infra root; `{contour}` expands to the
    /// contour's name, then its aliases: the first that exists is used).
    pub compose: Vec<String>,
    /// compose's `--project-directory` (default: the first file's directory).
    pub project_directory: Option<String>,
    /// compose's `--env-file` list (default: `<project directory>/.env`).
    pub compose_env_files: Option<Vec<String>>,
    /// `backup_before_migrate`: where `migrate` writes a `pg_dump` of the database before it
    /// applies anything (absolute: resolved against envsync.toml's directory when read).
    pub backup_before_migrate: Option<std::path::PathBuf>,
}

impl Contour {
    /// The name followed by its aliases.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    pub fn answers_to(&self, name: &str) -> bool {
        self.names().any(|n| n.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_repo_picks_the_named_side() {
        let mut p = PerRepo::from_fn(Repo::name);
        assert_eq!(*p.get(Repo::Infra), "infra");
        *p.get_mut(Repo::Backend) = "b";
        let all: Vec<_> = p.iter().map(|(r, v)| (r, *v)).collect();
        assert_eq!(all, [(Repo::Backend, "b"), (Repo::Infra, "infra")]);
        assert_eq!(Repo::Backend.other(), Repo::Infra);
    }

    #[test]
    fn contours_answer_to_aliases_in_any_case() {
        let c = Contour {
            name: "prod".into(),
            aliases: vec!["production".into()],
            api_port: 3200,
            db_port: 5434,
            adminer_port: None,
            redis_port: None,
            network: "n".into(),
            volumes: vec![],
            compose: vec![],
            project_directory: None,
            compose_env_files: None,
            backup_before_migrate: None,
        };
        assert!(c.answers_to("Production"));
        assert!(!c.answers_to("stage"));
    }
}
