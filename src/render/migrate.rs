//! `migrate`'s text output: progress lines from the run's [`Event`]s as they happen (the
//! migrations that stop a run included), the listing (`status`, `--dry-run`), then one summary
//! line. The typed route and resolution are written here too, for text and JSON alike.

use std::fmt;
use std::io::{self, Write};

use crate::mask::sanitize;
use crate::migrate::event::{AfterFailure, Resolved, ResolvedHow};
use crate::migrate::route::{PortSource, Route};
use crate::migrate::{Action, Event, MigrateReport};

/// A progress line: stdout in text mode, stderr with `--format json` (stdout holds the JSON).
/// `-q` keeps only the events that report a problem.
pub fn event(e: &Event, quiet: bool, json: bool, out: &mut dyn Write) -> io::Result<()> {
    if quiet && !e.is_problem() {
        return Ok(());
    }
    let text = progress(e);
    if json {
        writeln!(io::stderr(), "{text}")
    } else {
        writeln!(out, "{text}")
    }
}

/// The progress text of an event (one or more lines).
pub fn progress(e: &Event) -> String {
    match e {
        Event::Route {
            route,
            target,
            origin,
        } => format!(
            "route: {}; target {} (from {})",
            sanitize(&route.to_string()),
            sanitize(target),
            sanitize(origin)
        ),
        Event::WaitingForDatabase { endpoint, reason } => format!(
            "waiting for the database at {}: {}",
            sanitize(endpoint),
            sanitize(reason)
        ),
        Event::WaitingForLock {
            lock,
            holder,
            timeout,
        } => format!(
            "waiting up to {} s for the migration lock held by {} ({lock})",
            timeout.as_secs(),
            sanitize(holder)
        ),
        Event::Preflight {
            preflight: p,
            ledger_table,
        } if p.ok() => format!(
            "preflight: OK ({} on {}, schema {}, ledger {ledger_table})",
            sanitize(&p.user),
            sanitize(&p.database),
            sanitize(p.schema.as_deref().unwrap_or("?")),
        ),
        Event::Preflight { preflight: p, .. } => {
            let mut text = format!(
                "preflight: user {} cannot migrate {}; nothing was created. Missing:",
                sanitize(&p.user),
                sanitize(&p.database)
            );
            for m in &p.missing {
                text.push_str(&format!(
                    "\n  - {}\n      {}",
                    sanitize(&m.privilege),
                    sanitize(&m.fix)
                ));
            }
            text
        }
        Event::Blocked(blockers) => {
            let mut text =
                "refusing to apply anything: the ledger no longer matches the migrations"
                    .to_string();
            for b in blockers {
                text.push_str(&format!(
                    "\n  {:<9} {}: {}",
                    b.state,
                    sanitize(&b.name),
                    sanitize(&b.why)
                ));
            }
            text
        }
        Event::BackingUp { database, dir } => format!(
            "backup: pg_dump of {} into {} ...",
            sanitize(database),
            sanitize(&dir.display().to_string())
        ),
        Event::BackedUp { backup, elapsed } => format!(
            "backup: {} ({}, {:.1} s)",
            sanitize(&backup.path.display().to_string()),
            size(backup.bytes),
            elapsed.as_secs_f64()
        ),
        Event::BackupSkipped { dir } => format!(
            "backup: nothing pending, so no dump was written to {}",
            sanitize(&dir.display().to_string())
        ),
        Event::BackupFailed { message } => {
            format!("backup failed, so nothing was applied: {message}")
        }
        Event::Applied {
            n,
            total,
            label,
            elapsed,
        } => format!(
            "applied {n}/{total} {} ({:.1} ms)",
            sanitize(label),
            elapsed.as_secs_f64() * 1000.0
        ),
        Event::Failed {
            label,
            file,
            sqlstate,
            message,
            after,
            earlier_stay,
        } => format!(
            "failed {} ({}): {}{}; {}{}",
            sanitize(label),
            sanitize(file),
            sqlstate
                .as_deref()
                .map(|c| format!("SQLSTATE {c}: "))
                .unwrap_or_default(),
            sanitize(message),
            match after {
                AfterFailure::RolledBack => "rolled back",
                AfterFailure::RolledBackNoRow => "rolled back, no row written",
                AfterFailure::FailedRowLeft => "it ran outside a transaction (as Prisma runs such files), so what ran before the error stays and its failed row blocks later runs until `envsync migrate resolve`",
            },
            if *earlier_stay {
                ", the migrations before it stay applied"
            } else {
                ""
            }
        ),
        Event::Resolved(r) => sanitize(&r.to_string()),
    }
}

/// `532 bytes`, `1.4 MiB (1468006 bytes)`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {} ({bytes} bytes)", UNITS[unit])
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Direct {
                auto_resolved: None,
            } => f.write_str("direct"),
            Route::Direct {
                auto_resolved: Some(host),
            } => write!(f, "direct (auto: {host} resolves)"),
            Route::Host {
                service: (service, port),
                swap,
                auto_unresolved,
            } => {
                match swap {
                    Some(s) => {
                        write!(f, "host ({service}:{port} -> {}:{}, ", s.host, s.port)?;
                        match &s.from {
                            PortSource::Published { at } => {
                                write!(f, "published by the db service, {at})")?
                            }
                            PortSource::ContourTable {
                                contour,
                                compose_files: Some(files),
                            } => write!(
                                f,
                                "the {contour} contour's DB port: {} publish none for {port})",
                                files.join(" + ")
                            )?,
                            PortSource::ContourTable { contour, .. } => {
                                write!(f, "the {contour} contour's published DB port)")?
                            }
                        }
                    }
                    None => write!(
                        f,
                        "host (the URL does not name {service}:{port}; used as it is)"
                    )?,
                }
                match auto_unresolved {
                    Some(host) => write!(f, " (auto: {host} does not resolve here)"),
                    None => Ok(()),
                }
            }
            Route::Docker { network, image } => {
                write!(f, "docker (network {network}, image {image})")
            }
            Route::Kubernetes {
                target,
                local: (host, port),
                auto,
            } => {
                let host = match host.contains(':') {
                    true => format!("[{host}]"),
                    false => host.clone(),
                };
                write!(f, "kubernetes port-forward {target} -> {host}:{port}")?;
                if *auto {
                    f.write_str(" (auto: the contour deploys to Kubernetes, no compose project)")?;
                }
                Ok(())
            }
        }
    }
}

/// In `migrate --format json`, the route is the text printed.
impl serde::Serialize for Route {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.migration;
        match self.how {
            ResolvedHow::DirtyRowDeleted => write!(
                f,
                "{m} marked as rolled back (its dirty row is deleted); the next `envsync migrate` applies it again"
            ),
            ResolvedHow::FailedRowsRolledBack => write!(
                f,
                "{m} marked as rolled back; the next `envsync migrate` (or `prisma migrate deploy`) applies it again"
            ),
            ResolvedHow::DirtyRowSucceeded => {
                write!(f, "{m} recorded as applied (its dirty row is now a success)")
            }
            ResolvedHow::RecordedNotRun => write!(f, "{m} recorded as applied (it was not run)"),
        }
    }
}

/// In `migrate --format json`, what was resolved is the text printed.
impl serde::Serialize for Resolved {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

pub fn text(r: &MigrateReport, quiet: bool, out: &mut dyn Write) -> io::Result<()> {
    let listing = r.action == Action::Status || r.dry_run;
    if listing && !quiet {
        for e in &r.migrations {
            let note = e
                .note
                .as_deref()
                .map(|n| format!("  ({n})"))
                .unwrap_or_default();
            writeln!(
                out,
                "{:<9} {}{}",
                e.state,
                sanitize(&e.label()),
                sanitize(&note)
            )?;
        }
    }
    // A run that refused lists the migrations in its progress lines already (`-q` keeps them).
    writeln!(out, "{}", summary(r))
}

fn summary(r: &MigrateReport) -> String {
    let s = &r.summary;
    match r.action {
        Action::Preflight => match &r.preflight {
            Some(p) if p.ok() => "preflight passed".to_string(),
            _ => {
                "preflight refused: grant the privileges above, then run migrate again".to_string()
            }
        },
        _ if r.preflight.as_ref().is_some_and(|p| !p.ok()) => {
            "preflight refused: nothing was applied or created".to_string()
        }
        Action::Resolve => match &r.resolved {
            Some(done) => format!("resolved: {done}"),
            None => "nothing was resolved".to_string(),
        },
        _ if r.backup_error.is_some() => format!(
            "backup failed: nothing was applied; {} pending, {} applied",
            s.pending, s.applied
        ),
        _ if r.failure.is_some() => format!(
            "migration failed; {} applied in this run, {} pending",
            s.applied_now, s.pending
        ),
        _ if s.modified + s.missing > 0 => format!(
            "{} modified, {} missing or failed earlier: nothing was applied",
            s.modified, s.missing
        ),
        Action::Status => format!("{} applied, {} pending", s.applied, s.pending),
        _ if r.dry_run => format!(
            "{} pending (dry run: nothing written), {} applied",
            s.pending, s.applied
        ),
        _ if s.applied_now == 0 => format!("up to date ({} applied)", s.applied),
        _ => format!(
            "applied {} migration{}; {} in total",
            s.applied_now,
            if s.applied_now == 1 { "" } else { "s" },
            s.applied
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(size(532), "532 bytes");
        assert_eq!(size(2048), "2.0 KiB (2048 bytes)");
        assert_eq!(size(1_468_006), "1.4 MiB (1468006 bytes)");
    }
}
