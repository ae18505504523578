//! How `migrate` reaches the database: the `--via` choice and the route it leads to, with the
//! URL to connect to. The compose project (through `crate::load`) says where the db service is
//! published and which network it is on; the contour table is the fallback. A contour that
//! deploys to Kubernetes is reached through `kubectl port-forward` (`super::forward`).

use std::net::ToSocketAddrs;

use crate::dburl::DbUrl;
use crate::load::target::DbService;
use crate::model::Contour;

/// How envsync reaches the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// `kubernetes` when the contour has a `kubernetes` table and no compose project, else
    /// `direct` if the URL's host resolves, else `host`.
    Auto,
    /// The URL as it is (inside the API container, or a URL that already names a reachable host).
    Direct,
    /// The compose service `db:5432` swapped for the contour's published port on 127.0.0.1.
    Host,
    /// A throwaway container on the contour's compose network runs `envsync migrate` itself.
    Docker,
    /// `kubectl port-forward` to the contour's database Service, with the URL the api
    /// workload's pod uses.
    Kubernetes,
}

impl Via {
    pub fn name(self) -> &'static str {
        match self {
            Via::Auto => "auto",
            Via::Direct => "direct",
            Via::Host => "host",
            Via::Docker => "docker",
            Via::Kubernetes => "kubernetes",
        }
    }
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The route a run takes (printed, and in the JSON report as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The URL as it is; `auto_resolved` names the host when `--via auto` chose it.
    Direct { auto_resolved: Option<String> },
    /// Through the published port on the host.
    Host {
        /// The db service and its port inside the compose network (`db:5432`).
        service: (String, u16),
        /// The swap made, or `None` when the URL does not name the db service.
        swap: Option<Swap>,
        /// `--via auto` chose it because this host does not resolve here.
        auto_unresolved: Option<String>,
    },
    /// A throwaway container on `network` from `image`.
    Docker { network: String, image: String },
    /// Through `kubectl port-forward` to `target` (`NS/service/NAME`), listening on `local`.
    Kubernetes {
        target: String,
        local: (String, u16),
        /// `--via auto` chose it: the contour deploys to Kubernetes and has no compose project.
        auto: bool,
    },
}

/// The db service swapped for `host:port`, and where that port comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub host: String,
    pub port: u16,
    pub from: PortSource,
}

/// Where a host route's port comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSource {
    /// Published by the db service (the compose file and line).
    Published { at: String },
    /// The contour table's DB port; `compose_files` when a compose project publishes none.
    ContourTable {
        contour: String,
        compose_files: Option<Vec<String>>,
    },
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

/// `--via host`: the URL with `service:service_port` swapped for the port the compose project
/// publishes (else the contour's DB port on 127.0.0.1). A URL naming another host is used as it
/// is (`swap` is `None`).
pub fn via_host(
    url: &DbUrl,
    (service, service_port): (&str, u16),
    contour: &Contour,
    db: Option<&DbService>,
) -> Result<(DbUrl, Option<Swap>), crate::dburl::DbUrlError> {
    if url.host() != service || url.port_or_default() != service_port {
        return Ok((url.clone(), None));
    }
    let (host, port, from) = match db.and_then(|d| d.published.clone()) {
        Some(p) => (p.host, p.port, PortSource::Published { at: p.at }),
        None => (
            "127.0.0.1".to_string(),
            contour.db_port,
            PortSource::ContourTable {
                contour: contour.name.clone(),
                compose_files: db.map(|d| d.files.clone()),
            },
        ),
    };
    let swapped = url.with_endpoint(&host, port)?;
    Ok((swapped, Some(Swap { host, port, from })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::target::Published;

    fn contour() -> Contour {
        crate::config::Config::preset()
            .contour("prod")
            .unwrap()
            .clone()
    }

    #[test]
    fn host_route_swaps_only_the_compose_service() {
        let url = DbUrl::parse("postgresql://u:p%23@db:5432/x?schema=public").unwrap();
        let (u, swap) = via_host(&url, ("db", 5432), &contour(), None).unwrap();
        assert_eq!(
            u.expose(),
            "postgresql://u:p%23@127.0.0.1:5434/x?schema=public"
        );
        assert!(matches!(
            swap.unwrap().from,
            PortSource::ContourTable {
                compose_files: None,
                ..
            }
        ));
        // The published port (and an IPv6 host address, bracketed) wins over the table.
        let db = DbService {
            published: Some(Published {
                host: "::1".into(),
                port: 6000,
                at: "docker/docker-compose.yml:9".into(),
            }),
            network: None,
            files: vec![],
        };
        let url = DbUrl::parse("postgresql://u@db:5432/x").unwrap();
        let (u, _) = via_host(&url, ("db", 5432), &contour(), Some(&db)).unwrap();
        assert_eq!(u.expose(), "postgresql://u@[::1]:6000/x");
        let url = DbUrl::parse("postgresql://u@elsewhere:6000/x").unwrap();
        let (u, swap) = via_host(&url, ("db", 5432), &contour(), None).unwrap();
        assert!(swap.is_none());
        assert_eq!(u.expose(), "postgresql://u@elsewhere:6000/x");
    }
}
