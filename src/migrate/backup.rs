//! `migrate --backup DIR` and `[contours.C] backup_before_migrate`: a `pg_dump --format=custom`
//! of the target database, taken when something is pending, after the preflight and the lock and
//! before the first migration is applied.
//!
//! The dump goes through the migration's own route: the host, port, user and database of the
//! URL the session connected with (the password in `PGPASSWORD`, never on `pg_dump`'s command
//! line). A `pg_dump` older than the server (by major version) is refused before it runs. The
//! file is written privately (0600) under a temporary name in `DIR` and renamed to
//! `<database>-<contour>-<UTC timestamp>.dump` once complete and fsynced
//! ([`crate::fs::write::NewFile`]). `pg_dump`'s messages are returned with the URL's
//! credentials masked. This module does not decide whether to dump: `super::apply_all` does.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::postgres::PgConnection;

use crate::dburl::DbUrl;
use crate::fs::write::{NewFile, WriteError};

use super::MigrateError;

/// What a run was asked to back up, and with what.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Absolute: `--backup` against the current directory, `backup_before_migrate` against
    /// envsync.toml's directory.
    pub dir: PathBuf,
    /// `--pg-dump` / `ENVSYNC_PG_DUMP`, else `pg_dump` on `PATH`.
    pub pg_dump: PathBuf,
    /// The contour, for the file's name (none when the run names no contour).
    pub contour: Option<String>,
    /// How long `pg_dump` waits for a table lock (`--lock-timeout`).
    pub lock_wait: Duration,
}

/// A dump that was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backup {
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    pub bytes: u64,
}

fn lossy_path<S: serde::Serializer>(p: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// A PostgreSQL major version: `15`, or `9.6` before version 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Major {
    major: u32,
    /// The second number, part of the major version before 10.
    minor: u32,
}

impl Major {
    /// From `server_version_num` (`150018`, `90624`).
    pub fn from_version_num(n: u32) -> Major {
        if n >= 100_000 {
            Major {
                major: n / 10_000,
                minor: 0,
            }
        } else {
            Major {
                major: n / 10_000,
                minor: (n / 100) % 100,
            }
        }
    }

    /// From `pg_dump --version`: `pg_dump (PostgreSQL) 15.18 (Debian 15.18-1.pgdg120+1)`.
    pub fn from_version_output(text: &str) -> Option<Major> {
        let version = text
            .split_whitespace()
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
        let mut parts = version.split(|c: char| !c.is_ascii_digit());
        let major: u32 = parts.next()?.parse().ok()?;
        let minor = if major >= 10 {
            0
        } else {
            parts.next()?.parse().ok()?
        };
        Some(Major { major, minor })
    }
}

impl fmt::Display for Major {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.major >= 10 {
            write!(f, "{}", self.major)
        } else {
            write!(f, "{}.{}", self.major, self.minor)
        }
    }
}

/// Why no dump was written. The run stops before anything is applied (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot run `{program}` ({message}); install PostgreSQL's client programs (pg_dump {server} or newer) or name one with --pg-dump PATH or ENVSYNC_PG_DUMP. With --via docker, pg_dump runs where envsync runs, inside the container: the image must have it")]
    NotFound {
        program: String,
        message: String,
        server: Major,
    },
    #[error("`{program} --version` printed no version envsync can read ({output}); name a real pg_dump with --pg-dump PATH or ENVSYNC_PG_DUMP")]
    NoVersion { program: String, output: String },
    #[error("{program} is pg_dump {dump}, older than the server's PostgreSQL {server}, which it cannot dump; install pg_dump {server} or newer and name it with --pg-dump PATH or ENVSYNC_PG_DUMP")]
    TooOld {
        program: String,
        dump: Major,
        server: Major,
    },
    #[error("pg_dump {status}: {message}")]
    Failed { status: String, message: String },
    #[error("cannot write the dump: {0}; choose another directory with --backup DIR (or backup_before_migrate)")]
    Write(#[from] WriteError),
}

/// The server's major version, asked on the migration's connection.
pub async fn server_major(conn: &mut PgConnection) -> Result<Major, MigrateError> {
    let num: String = sqlx::query_scalar("SELECT current_setting('server_version_num')")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| MigrateError::query("reading the server's version", &e))?;
    num.trim()
        .parse()
        .map(Major::from_version_num)
        .map_err(|_| MigrateError::Query {
            context: "reading the server's version".into(),
            sqlstate: None,
            message: format!(
                "server_version_num is `{}`, not a number",
                crate::mask::sanitize(&num)
            ),
        })
}

/// Dump `database` (as the session sees it: `current_database()`) at `url`'s endpoint into
/// `plan.dir`. Blocking: it waits for `pg_dump`.
pub fn dump(
    plan: &Plan,
    url: &DbUrl,
    database: &str,
    server: Major,
) -> Result<Backup, BackupError> {
    let program = plan.pg_dump.display().to_string();
    let masked = |text: &[u8]| mask(&String::from_utf8_lossy(text), url);
    let version = Command::new(&plan.pg_dump)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BackupError::NotFound {
            program: program.clone(),
            message: e.to_string(),
            server,
        })?;
    let said = masked(&version.stdout);
    let dump = match Major::from_version_output(&said) {
        Some(v) if version.status.success() => v,
        _ => {
            return Err(BackupError::NoVersion {
                program,
                output: if said.is_empty() {
                    masked(&version.stderr)
                } else {
                    said
                },
            })
        }
    };
    if dump < server {
        return Err(BackupError::TooOld {
            program,
            dump,
            server,
        });
    }
    let file = NewFile::create_in(&plan.dir)?;
    let out = file.file().try_clone().map_err(|e| WriteError::Io {
        path: plan.dir.clone(),
        message: e.to_string(),
    })?;
    let mut cmd = Command::new(&plan.pg_dump);
    cmd.args([
        "--format=custom",
        "--no-password",
        &format!("--lock-wait-timeout={}", plan.lock_wait.as_millis().max(1)),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::from(out))
    .stderr(Stdio::piped());
    connection_env(&mut cmd, url, database);
    let ran = cmd.output().map_err(|e| BackupError::NotFound {
        program: program.clone(),
        message: e.to_string(),
        server,
    })?;
    if !ran.status.success() {
        let status = match ran.status.code() {
            Some(c) => format!("exited with {c}"),
            None => "was killed".to_string(),
        };
        let message = masked(&ran.stderr);
        return Err(BackupError::Failed {
            status,
            message: if message.is_empty() {
                "no message".into()
            } else {
                message
            },
        });
    }
    let name = file_name(database, plan.contour.as_deref(), SystemTime::now());
    let (path, bytes) = file.persist(&name)?;
    Ok(Backup { path, bytes })
}

/// Where `pg_dump` connects: the URL's endpoint, user and database, and its TLS settings, all
/// in libpq's environment (nothing on the command line, so no password in `ps`). Variables that
/// would send libpq elsewhere (a service file, a host address) are removed, and so is the URL
/// envsync may have been given in its own environment (`pg_dump` does not need a second copy).
fn connection_env(cmd: &mut Command, url: &DbUrl, database: &str) {
    for v in [
        "PGSERVICE",
        "PGSERVICEFILE",
        "PGHOSTADDR",
        "PGDATABASE",
        super::docker::URL_ENV,
    ] {
        cmd.env_remove(v);
    }
    let host = percent_encoding::percent_decode_str(url.host()).decode_utf8_lossy();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if !host.is_empty() {
        cmd.env("PGHOST", host);
    }
    cmd.env("PGPORT", url.port_or_default().to_string());
    if !url.user().is_empty() {
        cmd.env("PGUSER", url.user());
    }
    if let Some(pw) = url.password() {
        cmd.env("PGPASSWORD", pw);
    }
    cmd.env("PGDATABASE", database)
        .env("PGAPPNAME", "envsync migrate backup")
        .env("PGCONNECT_TIMEOUT", "5");
    if let Some(q) = url.query() {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            let var = match k.as_ref() {
                "sslmode" => "PGSSLMODE",
                "sslrootcert" => "PGSSLROOTCERT",
                "sslcert" => "PGSSLCERT",
                "sslkey" => "PGSSLKEY",
                _ => continue,
            };
            cmd.env(var, v.as_ref());
        }
    }
}

/// `pg_dump`'s message: the URL's credentials masked, control characters replaced, one line.
fn mask(text: &str, url: &DbUrl) -> String {
    let text = crate::mask::url_secrets(url.expose())
        .iter()
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), "****"));
    text.lines()
        .map(|l| crate::mask::sanitize(l.trim()))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// `<database>-<contour>-<UTC timestamp>.dump` (`-<contour>` left out when the run names
/// none), each name cut down to characters safe in a file name.
fn file_name(database: &str, contour: Option<&str>, at: SystemTime) -> String {
    let safe = |s: &str| -> String {
        let s: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        match s.strip_prefix('.') {
            Some(rest) => format!("_{rest}"),
            None if s.is_empty() => "_".into(),
            None => s,
        }
    };
    let stamp = utc_stamp(at);
    match contour {
        Some(c) => format!("{}-{}-{stamp}.dump", safe(database), safe(c)),
        None => format!("{}-{stamp}.dump", safe(database)),
    }
}

/// `20250102T030405Z`: ISO 8601's basic format, in UTC, to the second.
fn utc_stamp(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01 (no negative dates here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_major() {
        let v = |s| Major::from_version_output(s).unwrap();
        assert_eq!(
            v("pg_dump (PostgreSQL) 15.18 (Debian 15.18-1.pgdg120+1)"),
            Major::from_version_num(150_018)
        );
        assert!(v("pg_dump (PostgreSQL) 14.12") < Major::from_version_num(150_002));
        assert!(v("pg_dump (PostgreSQL) 16.1") > Major::from_version_num(150_018));
        assert!(v("pg_dump (PostgreSQL) 17devel") > Major::from_version_num(160_000));
        assert_eq!(v("pg_dump (PostgreSQL) 9.6.24").to_string(), "9.6");
        assert!(v("pg_dump (PostgreSQL) 9.6.24") > Major::from_version_num(90_524));
        assert_eq!(Major::from_version_num(150_018).to_string(), "15");
        assert_eq!(Major::from_version_output("no digits here"), None);
    }

    #[test]
    fn the_file_is_named_after_database_contour_and_utc_time() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(utc_stamp(at), "20231114T221320Z");
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "20000229T000000Z"
        );
        assert_eq!(
            file_name("gprod_prod", Some("prod"), at),
            "gprod_prod-prod-20231114T221320Z.dump"
        );
        assert_eq!(
            file_name("../x y", None, at),
            "_._x_y-20231114T221320Z.dump"
        );
    }

    #[test]
    fn pg_dump_messages_lose_the_credentials() {
        let url = DbUrl::parse("postgresql://app:S3cret-pw@db:5432/gprod").unwrap();
        let said = mask(
            "pg_dump: error: bad postgresql://app:S3cret-pw@db/gprod\n\tS3cret-pw again\n",
            &url,
        );
        assert!(!said.contains("S3cret-pw"), "{said}");
        assert!(said.starts_with("pg_dump: error: bad"), "{said}");
        assert!(said.contains("; **** again"), "{said}");
    }
}
