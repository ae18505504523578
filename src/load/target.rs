//! The database a contour's backend connects to: which contour (when none is named), the
//! backend's `DATABASE_URL` resolved the way compose resolves it for the API container, and
//! where the compose project publishes the db service. Read through the one [`Workspace`]; the
//! route (`direct`, `host`, `docker`) is `crate::migrate`'s choice.

use std::path::Path;

use crate::dburl::{DbUrl, DbUrlError};
use crate::dialect::{has_reference, Dialect};
use crate::model::{Contour, Repo};

use super::{Found, Workspace, WorkspaceError};

/// Why the database target cannot be decided (trouble, exit 2). No variant holds a URL.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("which contour? pass --contour dev|stage|prod (or make the backend's .env a symlink to the active contour's file)")]
    WhichContour,
    #[error("the backend has no env file for the {contour} contour; pass --database-url")]
    NoEnvFile { contour: String },
    #[error("{key} is not set in backend {file}; pass --database-url")]
    NotSet { key: String, file: String },
    #[error("{key} in backend {file} refers to variables the infra repo sets, but {reason}")]
    InfraUnreadable {
        key: String,
        file: String,
        reason: String,
    },
    #[error("{key} in backend {file} refers to {}, which neither the backend nor the infra file of the {contour} contour sets", names.join(", "))]
    Unset {
        key: String,
        file: String,
        names: Vec<String>,
        contour: String,
    },
    #[error("compose cannot read {key} in backend {file}")]
    Unreadable { key: String, file: String },
    #[error("the database URL ({origin}) {source}")]
    Invalid { origin: String, source: DbUrlError },
    #[error("the {contour} contour has no [contours.{contour}.kubernetes] table, so there is no cluster to reach: add one (envsync init writes it commented), or pick another --via")]
    NoKubernetes { contour: String },
    #[error("--via kubernetes forwards to the database Service, but [contours.{contour}.kubernetes] names none: set database = \"service/NAME\" (or \"NAMESPACE/service/NAME\")")]
    NoKubeDatabase { contour: String },
    #[error("{key} of the api workload {workload} {why}; pass --database-url")]
    PodUrl {
        key: String,
        workload: String,
        why: String,
    },
    #[error("reading the compose project: {0}")]
    Compose(String),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
}

/// The database URL and where it came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub url: DbUrl,
    pub origin: String,
}

impl Resolved {
    /// A URL given on the command line (or in the environment), parsed at the edge.
    pub fn given(url: &str, origin: &str) -> Result<Resolved, TargetError> {
        DbUrl::parse(url)
            .map(|url| Resolved {
                url,
                origin: origin.to_string(),
            })
            .map_err(|source| TargetError::Invalid {
                origin: origin.to_string(),
                source,
            })
    }
}

impl Workspace {
    /// The contour to use: the one the backend's `.env` symlink points to, else the only
    /// contour with a backend env file.
    pub fn pick_contour(&self) -> Result<Contour, TargetError> {
        let config = &self.config;
        let backend = self
            .source(Repo::Backend)?
            .work_tree()
            .map(Path::to_path_buf);
        if let Some(link) = backend
            .as_ref()
            .and_then(|b| std::fs::read_link(b.join(".env")).ok())
        {
            let target = link.file_name().map(|f| f.to_string_lossy().into_owned());
            for c in &config.contours {
                let cands = config.repo(Repo::Backend).candidates(c);
                if cands
                    .iter()
                    .any(|(f, specific)| *specific && Some(f) == target.as_ref())
                {
                    return Ok(c.clone());
                }
            }
        }
        let mut with_files = Vec::new();
        for c in &config.contours {
            if let Ok(Some(Found { specific: true, .. })) = self.find(Repo::Backend, c) {
                with_files.push(c);
            }
        }
        match with_files.as_slice() {
            [only] => Ok((*only).clone()),
            _ => Err(TargetError::WhichContour),
        }
    }

    /// The backend's `DATABASE_URL` for `contour`, `${VAR}` references resolved from the
    /// backend file, then the infra file of the same contour (what compose gives the API
    /// container). The infra repo is opened only when a reference needs it.
    pub fn database_url(&self, contour: &Contour) -> Result<Resolved, TargetError> {
        let key = self.config.rules.database_url.key.as_str();
        let Found { file, bytes, .. } =
            self.find(Repo::Backend, contour)?
                .ok_or_else(|| TargetError::NoEnvFile {
                    contour: contour.name.clone(),
                })?;
        let not_set = || TargetError::NotSet {
            key: key.to_string(),
            file: file.clone(),
        };
        let own = self
            .config
            .repo(Repo::Backend)
            .dialect
            .decode(&bytes, &|_| None);
        let raw = own
            .get(key)
            .map(|a| a.value.clone())
            .filter(|v| !v.is_empty())
            .ok_or_else(not_set)?;
        let origin = format!("backend {file} ({key})");
        if !has_reference(&raw) {
            return Resolved::given(&raw, &origin);
        }
        let infra = self
            .find(Repo::Infra, contour)
            .map_err(|e| TargetError::InfraUnreadable {
                key: key.to_string(),
                file: file.clone(),
                reason: e.to_string(),
            })?
            .map(|f| {
                self.config
                    .repo(Repo::Infra)
                    .dialect
                    .decode(&f.bytes, &|_| None)
            })
            .unwrap_or_default();
        // compose reads its own environment first (only with --env-from-process for envsync).
        let lookup = |name: &str| -> Option<String> {
            self.env.lookup(name).or_else(|| {
                own.get(name)
                    .or_else(|| infra.get(name))
                    .map(|a| a.value.clone())
            })
        };
        let line = own.get(key).map_or(0, |a| a.line);
        let as_compose = Dialect::Compose.decode(&bytes, &lookup);
        let names: Vec<String> = as_compose
            .unset_refs
            .iter()
            .filter(|(l, _)| *l == line)
            .map(|(_, n)| n.clone())
            .collect();
        if !names.is_empty() {
            return Err(TargetError::Unset {
                key: key.to_string(),
                file,
                names,
                contour: contour.name.clone(),
            });
        }
        let url = as_compose
            .get(key)
            .map(|a| a.value.clone())
            .ok_or_else(|| TargetError::Unreadable {
                key: key.to_string(),
                file: file.clone(),
            })?;
        Resolved::given(
            &url,
            &format!("{origin}, references resolved as compose does"),
        )
    }

    /// Where the contour's compose project publishes the db service's `service_port`, and
    /// which network the db service is on. `None` when the contour has no compose project, or
    /// the infra repo cannot be opened (the backend alone is enough to migrate: the contour
    /// table is the fallback); a compose file that cannot be read is an error.
    pub fn db_service(
        &self,
        c: &Contour,
        service_port: u16,
    ) -> Result<Option<DbService>, TargetError> {
        if self.source(Repo::Infra).is_err() {
            return Ok(None);
        }
        let Some(project) = self
            .compose(c)
            .map_err(|e| TargetError::Compose(e.to_string()))?
        else {
            return Ok(None);
        };
        let Some((_, db)) = project.role(&self.config.rules.roles.db) else {
            return Ok(None);
        };
        let published = db
            .ports
            .iter()
            .filter(|p| p.port.target == u32::from(service_port) && p.port.protocol == "tcp")
            .find_map(|p| {
                let port = p.port.published_port()?;
                let host = match p.port.host_ip.as_deref() {
                    None | Some("0.0.0.0") => "127.0.0.1".to_string(),
                    Some("::") => "::1".to_string(),
                    Some(ip) => ip.to_string(),
                };
                Some(Published {
                    host,
                    port,
                    at: p.at.to_string(),
                })
            });
        let names = project.network_names(db);
        let network = names
            .iter()
            .find(|n| **n == c.network)
            .or(names.first())
            .cloned();
        Ok(Some(DbService {
            published,
            network,
            files: project.files.clone(),
        }))
    }
}

/// The db service of a contour's compose project, as far as reaching it is concerned.
#[derive(Debug, Clone)]
pub struct DbService {
    /// Where the service port is published on the host, if it is.
    pub published: Option<Published>,
    /// The network the db service is on (the contour's network when it is one of them).
    pub network: Option<String>,
    /// The compose files read, in `-f` order.
    pub files: Vec<String>,
}

/// A published port: host address, host port, and the compose file and line that declare it.
#[derive(Debug, Clone)]
pub struct Published {
    pub host: String,
    pub port: u16,
    pub at: String,
}
