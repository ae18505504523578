//! The connection: one dedicated session to PostgreSQL, with `--wait` retries and advice when
//! the server cannot be reached. Driver messages never carry the URL.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::ConnectOptions;

use super::{Event, MigrateError};

/// One connection attempt may take this long before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where we connect, for messages (never the password).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub route: super::Via,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{} (route {})", self.host, self.port, self.route)
    }
}

/// The SQLSTATE and message of a database error, if it is one.
pub fn db_error(e: &sqlx::Error) -> Option<(String, String)> {
    e.as_database_error().map(|d| {
        (
            d.code().map(|c| c.into_owned()).unwrap_or_default(),
            d.message().to_string(),
        )
    })
}

/// Worth retrying while `--wait` lasts: the server is not there yet, or is starting.
fn retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        _ => db_error(e).is_some_and(|(code, _)| code == "57P03"),
    }
}

/// Advice for a failed connection.
fn connect_hint(e: &sqlx::Error, ep: &Endpoint) -> String {
    if let Some((code, _)) = db_error(e) {
        return match code.as_str() {
            "28P01" => "wrong password for this user: compare POSTGRES_PASSWORD with the database (an initialised volume keeps its first password; see ALTER ROLE)".into(),
            "28000" => "the role does not exist or pg_hba.conf rejects it".into(),
            "3D000" => "the database does not exist: check POSTGRES_DB".into(),
            "57P03" => "the server is starting up: retry with --wait 30".into(),
            _ => String::new(),
        };
    }
    let text = e.to_string().to_lowercase();
    if ep.route == super::Via::Kubernetes {
        return "kubectl forwards, but the connection through it failed: is the database pod running and ready (kubectl get pods -n NAMESPACE), and does the Service select it?".into();
    }
    if text.contains("failed to lookup")
        || text.contains("name or service not known")
        || text.contains("resolve")
    {
        return format!(
            "`{}` does not resolve here: it is a compose service name, reachable only inside the compose network. Use --via host (the published port on 127.0.0.1) or --via docker",
            ep.host
        );
    }
    if text.contains("refused") {
        return "nothing listens there: is the database container up (docker compose ps)? --wait SECS retries while it starts".into();
    }
    String::new()
}

/// Connect once, or keep retrying until `wait` runs out.
pub async fn connect(
    url: &crate::dburl::DbUrl,
    ep: &Endpoint,
    wait: Option<Duration>,
    emit: &mut dyn FnMut(Event),
) -> Result<PgConnection, MigrateError> {
    let opts = PgConnectOptions::from_str(url.expose())
        .map_err(|e| {
            MigrateError::Url(format!(
                "the database URL does not parse: {}",
                crate::mask::sanitize(&strip_url(&e.to_string()))
            ))
        })?
        .application_name("envsync migrate");
    let deadline = wait.map(|w| Instant::now() + w);
    let mut announced = false;
    let mut pause = Duration::from_millis(100);
    loop {
        let attempt = tokio::time::timeout(CONNECT_TIMEOUT, opts.connect()).await;
        let err = match attempt {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(e)) => e,
            Err(_) => sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            )),
        };
        let can_retry = retryable(&err) && deadline.is_some_and(|d| Instant::now() + pause < d);
        if !can_retry {
            let (sqlstate, message) = match db_error(&err) {
                Some((c, m)) => (Some(c), m),
                None => (None, strip_url(&err.to_string())),
            };
            return Err(MigrateError::Connect {
                endpoint: ep.to_string(),
                sqlstate,
                message,
                hint: connect_hint(&err, ep),
            });
        }
        if !announced {
            emit(Event::WaitingForDatabase {
                endpoint: ep.to_string(),
                reason: strip_url(&err.to_string()),
            });
            announced = true;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Error texts from drivers may quote the URL; cut anything that looks like one.
fn strip_url(s: &str) -> String {
    s.split_whitespace()
        .map(|w| if w.contains("://") { "<url>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_cut_out_of_driver_messages() {
        assert_eq!(strip_url("bad postgres://u:pw@h/x here"), "bad <url> here");
    }
}
