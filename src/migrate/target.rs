//! Which database to migrate and how to reach it: the URL (flag, or the backend's
//! `DATABASE_URL` for the contour, resolved like compose resolves it for the API container) and
//! the route (`direct`, `host`, `docker`, `auto`).

use std::fmt;
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::dialect::Dialect;
use crate::model::{Contour, PerRepo, Repo};
use crate::rules::has_reference;
use crate::settings::Settings;
use crate::source::Source;
use crate::workspace::{find_env, Found};

use super::MigrateError;

/// How envsync reaches the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// `direct` if the URL's host resolves, else `host`.
    Auto,
    /// The URL as it is (inside the API container, or a URL that already names a reachable host).
    Direct,
    /// The compose service `db:5432` swapped for the contour's published port on 127.0.0.1.
    Host,
    /// A throwaway container on the contour's compose network runs `envsync migrate` itself.
    Docker,
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Via::Auto => "auto",
            Via::Direct => "direct",
            Via::Host => "host",
            Via::Docker => "docker",
        })
    }
}

/// The database URL and where it came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Full URL, password included: never print it, use [`crate::mask::url`].
    pub url: String,
    pub origin: String,
}

/// The two repos, each opened only when something needs it: migrating from the backend alone
/// (no infra checkout) works whenever `DATABASE_URL` holds no `${VAR}` for infra to fill.
#[derive(Debug)]
pub struct Repos<'s> {
    pub settings: &'s Settings,
    opened: PerRepo<Option<Source>>,
}

impl<'s> Repos<'s> {
    pub fn new(settings: &'s Settings) -> Repos<'s> {
        Repos {
            settings,
            opened: PerRepo::default(),
        }
    }

    pub fn config(&self) -> &'s Config {
        &self.settings.config
    }

    pub fn source(&mut self, repo: Repo) -> Result<&Source, MigrateError> {
        let slot = self.opened.get_mut(repo);
        if slot.is_none() {
            let opened = Source::open(self.settings.sources.get(repo), repo.name(), false)
                .map_err(|e| MigrateError::Url(e.to_string()))?;
            *slot = Some(opened);
        }
        Ok(slot.as_ref().expect("just opened"))
    }

    /// Both sources, opened once (reusing what is open), handed to a workspace for the
    /// compose project. An infra repo that cannot be opened is `None`: `migrate` does not need it.
    fn workspace(&mut self, rules: &crate::rules::Rules) -> Option<crate::workspace::Workspace> {
        for repo in Repo::BOTH {
            self.source(repo).ok()?;
        }
        let sources = PerRepo::from_fn(|repo| {
            self.opened
                .get_mut(repo)
                .take()
                .expect("both sources just opened")
        });
        Some(crate::workspace::Workspace::from_parts(
            self.settings.config.clone(),
            rules.clone(),
            sources,
            self.settings.env,
        ))
    }

    /// The contour's env file in `repo` (see `crate::workspace::find_env`).
    pub fn find(&mut self, repo: Repo, contour: &Contour) -> Result<Option<Found>, MigrateError> {
        let config = self.config();
        find_env(config, repo, self.source(repo)?, contour)
            .map_err(|e| MigrateError::Url(e.to_string()))
    }
}

/// The contour to use: `--contour`, else the one the backend's `.env` symlink points to, else
/// the only contour with a backend env file.
pub fn pick_contour(repos: &mut Repos<'_>) -> Result<Contour, MigrateError> {
    let config = repos.config();
    let backend = repos
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
        if let Ok(Some(Found { specific: true, .. })) = repos.find(Repo::Backend, c) {
            with_files.push(c);
        }
    }
    match with_files.as_slice() {
        [only] => Ok((*only).clone()),
        _ => Err(MigrateError::Usage(
            "which contour? pass --contour dev|stage|prod (or make the backend's .env a symlink to the active contour's file)".into(),
        )),
    }
}

/// The backend's `DATABASE_URL` for `contour`, `${VAR}` references resolved from the backend
/// file, then the infra file of the same contour (what compose gives the API container).
pub fn from_backend(
    repos: &mut Repos<'_>,
    contour: &Contour,
    key: &str,
) -> Result<Resolved, MigrateError> {
    let err = |m: String| MigrateError::Url(m);
    let config = repos.config();
    let Found { file, bytes, .. } = repos.find(Repo::Backend, contour)?.ok_or_else(|| {
        err(format!(
            "the backend has no env file for the {} contour; pass --database-url",
            contour.name
        ))
    })?;
    let backend_dialect = config.repo(Repo::Backend).dialect;
    let own = backend_dialect.decode(&bytes, &|_| None);
    let raw = own
        .get(key)
        .map(|a| a.value.clone())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            err(format!(
                "{key} is not set in backend {file}; pass --database-url"
            ))
        })?;
    let origin = format!("backend {file} ({key})");
    if !has_reference(&raw) {
        return Ok(Resolved { url: raw, origin });
    }
    let infra = repos
        .find(Repo::Infra, contour)
        .map_err(|e| {
            err(format!(
                "{key} in backend {file} refers to variables the infra repo sets, but {e}"
            ))
        })?
        .map(|f| config.repo(Repo::Infra).dialect.decode(&f.bytes, &|_| None))
        .unwrap_or_default();
    // compose reads its own environment first (only with --env-from-process for envsync).
    let env = repos.settings.env;
    let lookup = |name: &str| -> Option<String> {
        env.lookup(name).or_else(|| {
            own.get(name)
                .or_else(|| infra.get(name))
                .map(|a| a.value.clone())
        })
    };
    let line = own.get(key).map_or(0, |a| a.line);
    let as_compose = Dialect::Compose.decode(&bytes, &lookup);
    let unset: Vec<&str> = as_compose
        .unset_refs
        .iter()
        .filter(|(l, _)| *l == line)
        .map(|(_, n)| n.as_str())
        .collect();
    if !unset.is_empty() {
        return Err(err(format!(
            "{key} in backend {file} refers to {}, which neither the backend nor the infra file of the {} contour sets",
            unset.join(", "),
            contour.name
        )));
    }
    let url = as_compose
        .get(key)
        .map(|a| a.value.clone())
        .ok_or_else(|| err(format!("compose cannot read {key} in backend {file}")))?;
    Ok(Resolved {
        url,
        origin: format!("{origin}, references resolved as compose does"),
    })
}

/// For `--via host`: the URL with `db:5432` swapped for `<host>:<db_port>` (the published port).
/// Other hosts are left alone (the second value says whether a swap happened).
pub fn via_host(
    url: &str,
    service: &str,
    service_port: u16,
    (host, db_port): (&str, u16),
) -> Result<(String, bool), MigrateError> {
    let mut u = url::Url::parse(url)
        .map_err(|e| MigrateError::Url(format!("the database URL does not parse ({e})")))?;
    if u.host_str() == Some(service) && u.port().unwrap_or(5432) == service_port {
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        u.set_host(Some(&host))
            .map_err(|e| MigrateError::Url(e.to_string()))?;
        u.set_port(Some(db_port))
            .map_err(|()| MigrateError::Url("cannot set the port".into()))?;
        return Ok((u.to_string(), true));
    }
    Ok((url.to_string(), false))
}

/// Host and port a URL names (for messages and `auto`).
pub fn host_port(url: &str) -> (String, u16) {
    url::Url::parse(url)
        .ok()
        .map(|u| {
            (
                u.host_str().unwrap_or("localhost").to_string(),
                u.port().unwrap_or(5432),
            )
        })
        .unwrap_or_else(|| ("?".into(), 5432))
}

/// Does `host` resolve (what `auto` asks)? A bounded DNS lookup on a helper thread.
pub fn resolves(host: &str, port: u16) -> bool {
    let h = host.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(
            (h.as_str(), port)
                .to_socket_addrs()
                .map(|mut a| a.next().is_some())
                .unwrap_or(false),
        );
    });
    rx.recv_timeout(std::time::Duration::from_secs(2))
        .unwrap_or(false)
}

/// The ledger and its migrations directory: `--dir`, else the backend working tree's
/// `prisma/migrations` or `migrations/` (see [`super::layout::locate`]); `--ledger` wins over
/// `[migrate] ledger` in envsync.toml.
pub fn migrations_dir(
    repos: &mut Repos<'_>,
    opts: &super::MigrateOptions,
    settings: &Settings,
) -> Result<(super::Ledger, PathBuf), MigrateError> {
    let choice = match opts.ledger {
        super::LedgerChoice::Auto => settings.config.migrate_ledger.unwrap_or_default(),
        chosen => chosen,
    };
    let dir = opts.dir.as_deref().map(|d| settings.cwd.join(d));
    let root = match &dir {
        Some(_) => None,
        None => repos
            .source(Repo::Backend)?
            .work_tree()
            .map(Path::to_path_buf),
    };
    super::layout::locate(choice, dir.as_deref(), root.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_route_swaps_only_the_compose_service() {
        let (u, swapped) = via_host(
            "postgresql://u:p%23@db:5432/x?schema=public",
            "db",
            5432,
            ("127.0.0.1", 5434),
        )
        .unwrap();
        assert!(swapped);
        assert_eq!(u, "postgresql://u:p%23@127.0.0.1:5434/x?schema=public");
        // A published IPv6 host address is bracketed.
        let (u, _) = via_host("postgresql://u@db:5432/x", "db", 5432, ("::1", 6000)).unwrap();
        assert_eq!(u, "postgresql://u@[::1]:6000/x");
        let (u, swapped) = via_host(
            "postgresql://u@elsewhere:6000/x",
            "db",
            5432,
            ("127.0.0.1", 5434),
        )
        .unwrap();
        assert!(!swapped);
        assert_eq!(u, "postgresql://u@elsewhere:6000/x");
    }
}

/// Where the compose project of a contour publishes the db service's `service_port`, and which
/// network the db service is on. `None` when the contour has no compose project.
#[derive(Debug, Clone)]
pub struct ComposeRoute {
    /// (host, port, where it is declared) of the published port, if one is published.
    pub published: Option<(String, u16, String)>,
    /// The network the db service is on (the contour's network when it is one of them).
    pub network: Option<String>,
    pub files: Vec<String>,
}

///
/// An infra repo that cannot be opened leaves the contour table in charge (the backend alone is
/// enough for `migrate`); a compose file that cannot be read is an error.
pub fn compose_route(
    repos: &mut Repos<'_>,
    rules: &crate::rules::Rules,
    c: &Contour,
    service_port: u16,
) -> Result<Option<ComposeRoute>, MigrateError> {
    let Some(ws) = repos.workspace(rules) else {
        return Ok(None);
    };
    let Some(project) = ws
        .compose(c)
        .map_err(|e| MigrateError::Usage(e.to_string()))?
    else {
        return Ok(None);
    };
    let Some((_, db)) = crate::rules::compose::role(&project, &ws.config.compose.roles.db) else {
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
            Some((host, port, p.at.to_string()))
        });
    let names = project.network_names(db);
    let network = names
        .iter()
        .find(|n| **n == c.network)
        .or(names.first())
        .cloned();
    Ok(Some(ComposeRoute {
        published,
        network,
        files: project.files.clone(),
    }))
}
