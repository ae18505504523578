//! What a contour's sources hold, read and decoded: one repo's env file ([`LoadedFile`]), a
//! contour's files together ([`ContourFiles`]: both env files, the compose project, nginx), and
//! the consumers that receive an environment from them ([`Consumer`]: today the compose
//! services that play a role; a Kubernetes workload is one more variant). Every command sees
//! sources through these types; rules never read files themselves.

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
    /// What the contour deploys to Kubernetes, when it has a `kubernetes` table and the
    /// command reads it (`check`).
    pub kube: Option<std::rc::Rc<super::Kube>>,
}

impl ContourFiles<'_> {
    pub fn side(&self, repo: Repo) -> Option<&LoadedFile> {
        match repo {
            Repo::Backend => self.backend.as_ref(),
            Repo::Infra => self.infra.as_ref(),
        }
    }

    /// Every `(key, value)` the contour's sources hold: both env files as both dialects read
    /// them, and each compose service's effective environment (what `Mask::learn` learns
    /// secret values from).
    pub fn values(&self) -> impl Iterator<Item = (&str, &str)> {
        let files = [self.backend.as_ref(), self.infra.as_ref()]
            .into_iter()
            .flatten()
            .flat_map(|f| [&f.own, &f.other])
            .flat_map(|d| d.assignments.iter())
            .map(|a| (a.key.as_str(), a.value.as_str()));
        let services = self
            .compose
            .iter()
            .flat_map(|p| p.services.values())
            .flat_map(|s| s.environment.iter())
            .filter_map(|(k, v)| Some((k.as_str(), v.value.as_deref()?)));
        let kube = self.kube.iter().flat_map(|k| {
            let workloads = [Some(&k.api), k.db.as_ref()]
                .into_iter()
                .flatten()
                .flat_map(|w| w.vars.iter())
                .filter_map(|(key, var)| Some((key.as_str(), var.value.known()?)));
            let declared = k
                .cluster
                .declared
                .iter()
                .flat_map(|d| d.decoded.assignments.iter())
                .map(|a| (a.key.as_str(), a.value.as_str()));
            let sources = k
                .cluster
                .sources
                .iter()
                .flat_map(|o| o.keys.iter())
                .map(|(key, kv)| (key.as_str(), kv.value.as_str()));
            workloads.chain(declared).chain(sources)
        });
        files.chain(services).chain(kube)
    }

    /// Does a consumer receive `key` from the infra env file? With a compose project, only
    /// when a service takes it from that file (no `environment:` entry overrides it) or compose
    /// interpolates from it; without one, compose reads the file itself. `Err` lists the
    /// services that read the file but take the key elsewhere, with where (empty: no service
    /// reads the file at all).
    pub fn takes_from_infra_file(&self, key: &str) -> Result<(), Vec<(String, String)>> {
        let (Some(project), Some(file)) = (
            self.compose.as_ref().filter(|p| !p.refused()),
            self.infra.as_ref().map(|f| f.file.as_str()),
        ) else {
            return Ok(());
        };
        if project.env_files.iter().any(|f| f == file) {
            return Ok(());
        }
        let from_file = |v: &crate::compose::EnvVar| v.at.repo == Repo::Infra && v.at.file == file;
        let mut elsewhere = Vec::new();
        for (name, s) in &project.services {
            if !s.environment.values().any(from_file) {
                continue;
            }
            match s.environment.get(key) {
                Some(v) if !from_file(v) => elsewhere.push((name.clone(), v.at.to_string())),
                _ => return Ok(()),
            }
        }
        Err(elsewhere)
    }

    /// Is `at` a line of one of the contour's own env files (which the env-file rules compare
    /// already)?
    pub fn is_env_file(&self, at: &Location) -> bool {
        [self.backend.as_ref(), self.infra.as_ref()]
            .into_iter()
            .flatten()
            .any(|f| f.repo == at.repo && f.file == at.file)
    }

    /// The consumers that play a role in the contour (`roles`: which compose service is the
    /// db, which the api), in role order. None when the contour has no compose project, or one
    /// compose would refuse (its parts mean nothing).
    pub fn consumers<'s>(&'s self, roles: &crate::config::Roles) -> Vec<Consumer<'s>> {
        let mut out: Vec<Consumer<'s>> = Vec::new();
        if let Some(p) = self.compose.as_ref().filter(|p| !p.refused()) {
            out.extend(
                [(Role::Db, &roles.db), (Role::Api, &roles.api)]
                    .into_iter()
                    .filter_map(|(role, names)| {
                        p.role(names).map(|(name, service)| Consumer::Service {
                            role,
                            name,
                            service,
                        })
                    }),
            );
        }
        if let Some(k) = &self.kube {
            if let Some(db) = &k.db {
                out.push(Consumer::Workload {
                    role: Role::Db,
                    env: db,
                });
            }
            out.push(Consumer::Workload {
                role: Role::Api,
                env: &k.api,
            });
        }
        out
    }
}

/// The part a consumer plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The database (`POSTGRES_*`).
    Db,
    /// The backend API (every shared key, `DATABASE_URL`).
    Api,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Db => "db",
            Role::Api => "api",
        }
    }
}

/// Something that receives an environment in a contour, other than the env files themselves.
#[derive(Debug, Clone, Copy)]
pub enum Consumer<'a> {
    /// A compose service, with its effective environment (as `docker compose config` computes
    /// it).
    Service {
        role: Role,
        name: &'a str,
        service: &'a crate::compose::Service,
    },
    /// A Kubernetes workload's container, with its effective environment (as the kubelet
    /// computes it): the api workload, or the db workload behind the `database` Service.
    Workload {
        role: Role,
        env: &'a crate::k8s::WorkloadEnv,
    },
}

/// What a consumer receives for one key, and the line that decides it.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// `None`: declared without a value (not set).
    pub value: Option<&'a str>,
    pub at: &'a Location,
    pub from: Origin<'a>,
}

/// Where a received value is decided.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// A compose `environment:` entry or an `env_file` line (the variable, for `fix`).
    Compose(&'a crate::compose::EnvVar),
    /// A workload's variable (its origin, the object line or values line that decides it).
    Workload(&'a crate::k8s::Var),
}

impl<'a> Consumer<'a> {
    pub fn role(&self) -> Role {
        match self {
            Consumer::Service { role, .. } | Consumer::Workload { role, .. } => *role,
        }
    }

    /// The name messages use (`app`, `db`).
    pub fn name(&self) -> &'a str {
        match self {
            Consumer::Service { name, .. } => name,
            Consumer::Workload { env, .. } => &env.name,
        }
    }

    /// What it receives for `key`, if the key is in its environment.
    pub fn receives(&self, key: &str) -> Option<Received<'a>> {
        match self {
            Consumer::Service { service, .. } => service.environment.get(key).map(|var| Received {
                value: var.value.as_deref(),
                at: &var.at,
                from: Origin::Compose(var),
            }),
            Consumer::Workload { env, .. } => env.vars.get(key).map(|var| Received {
                value: var.value.known(),
                at: workload_line(env, var),
                from: Origin::Workload(var),
            }),
        }
    }
}

/// The line that decides a workload's variable: the values line when one can be named, else
/// where the value is written (the `env` entry, the Secret's key, the env file's line), else
/// the workload object.
pub fn workload_line<'a>(
    env: &'a crate::k8s::WorkloadEnv,
    var: &'a crate::k8s::Var,
) -> &'a Location {
    var.values
        .as_ref()
        .map(|e| &e.at)
        .or(var.at.as_ref().map(|p| &p.at))
        .unwrap_or(&env.at.at)
}
