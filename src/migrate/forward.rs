//! `migrate --via kubernetes`: a `kubectl port-forward` to the contour's database Service,
//! held for the run and stopped on every path.
//!
//! kubectl is started with its standard output and error piped; the run goes on once it prints
//! its own `Forwarding from 127.0.0.1:N -> PORT` line, and N is the local port to connect to.
//! The [`Forward`] guard owns the process from the moment it is spawned: dropping it (success,
//! a failed migration, an error, an interrupted run, a forward that never came up) kills
//! kubectl and reaps it. Both pipes are drained for as long as kubectl lives, so its
//! `Handling connection for N` lines never fill a pipe and stall it; the first part of what it
//! writes to standard error is kept for messages, scrubbed of secrets.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::mask::Mask;

/// At most this much of kubectl's standard error is kept for messages.
const MAX_STDERR: usize = 16 * 1024;
/// How often the starting forward is looked at.
const POLL: Duration = Duration::from_millis(10);

/// What to forward to: the db Service and its port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub namespace: String,
    /// `service/postgres`, as kubectl takes it.
    pub resource: String,
    pub port: u16,
}

impl std::fmt::Display for Target {
    /// `gprod-db/service/postgres`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.resource)
    }
}

/// The kubectl to run and the kubeconfig context (`None`: kubectl's current one).
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub program: String,
    pub context: Option<String>,
}

/// Why the forward is not there (trouble, exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("cannot run `{program}`: {message}; install kubectl, or name it with [kubernetes] kubectl in envsync.toml or ENVSYNC_KUBECTL")]
    Spawn { program: String, message: String },
    #[error("`{command}` exited ({status}) before forwarding; kubectl said: {said}")]
    Exited {
        command: String,
        status: String,
        said: String,
    },
    #[error("`{command}` did not forward within {seconds} s (raise --wait); kubectl said: {said}")]
    Timeout {
        command: String,
        seconds: u64,
        said: String,
    },
}

/// kubectl's arguments: `[--context X] port-forward -n NS service/NAME :PORT` (`:PORT`: a
/// free local port, which kubectl prints).
pub fn argv(kubectl: &Kubectl, target: &Target) -> Vec<String> {
    let mut a = Vec::with_capacity(7);
    if let Some(c) = &kubectl.context {
        a.extend(["--context".to_string(), c.clone()]);
    }
    a.extend([
        "port-forward".to_string(),
        "-n".to_string(),
        target.namespace.clone(),
        target.resource.clone(),
        format!(":{}", target.port),
    ]);
    a
}

/// The local end kubectl printed: `Forwarding from 127.0.0.1:N -> PORT` (or `[::1]:N`). Only
/// a loopback address and a real port are taken: the credentials go where this line says, and
/// kubectl listens on loopback unless told otherwise.
fn forwarding(line: &str) -> Option<(String, u16)> {
    let rest = line.trim().strip_prefix("Forwarding from ")?;
    let (local, _remote) = rest.split_once(" -> ")?;
    let (host, port) = local.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().ok()?;
    let loopback = host.parse::<std::net::IpAddr>().ok()?.is_loopback();
    (loopback && port != 0).then(|| (host.to_string(), port))
}

/// The forwarding line, as the standard output reader saw it.
struct Seen(String, u16);

/// A running `kubectl port-forward`: killed and reaped when dropped.
#[derive(Debug)]
pub struct Forward {
    child: Child,
    /// What it forwards to.
    pub target: Target,
    /// The command as shown in messages.
    command: String,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Drop for Forward {
    fn drop(&mut self) {
        // Already gone (it exited on its own): nothing to kill, only to reap.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Forward {
    /// Start kubectl and wait, for at most `within`, until it forwards: the guard, and the
    /// local end kubectl listens on (`127.0.0.1`, N). On an error the process is already
    /// stopped.
    pub async fn open(
        kubectl: &Kubectl,
        target: Target,
        within: Duration,
        mask: &Mask,
    ) -> Result<(Forward, (String, u16)), ForwardError> {
        let args = argv(kubectl, &target);
        // Shown under the same policy as what kubectl says: a word that holds a secret is
        // its fingerprint.
        let command = std::iter::once(kubectl.program.as_str())
            .chain(args.iter().map(String::as_str))
            .map(|w| match mask.touches(w) {
                true => format!("<{}>", crate::mask::fingerprint(w)),
                false => crate::mask::sanitize(w),
            })
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new(&kubectl.program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ForwardError::Spawn {
                program: crate::mask::sanitize(&kubectl.program),
                message: match e.kind() {
                    std::io::ErrorKind::NotFound => "not found".to_string(),
                    _ => e.to_string(),
                },
            })?;
        let out = child.stdout.take();
        let err = child.stderr.take();
        let mut forward = Forward {
            child,
            target,
            command,
            stderr: Arc::new(Mutex::new(Vec::new())),
        };
        let seen = drain_stdout(out);
        drain_stderr(err, forward.stderr.clone());
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Seen(host, port)) = seen.try_recv() {
                return Ok((forward, (host, port)));
            }
            if let Ok(Some(status)) = forward.child.try_wait() {
                // What it wrote last is on its way through the pipe.
                tokio::time::sleep(POLL).await;
                return Err(ForwardError::Exited {
                    command: forward.command.clone(),
                    status: status.to_string(),
                    said: forward.said(mask),
                });
            }
            if Instant::now() >= deadline {
                return Err(ForwardError::Timeout {
                    command: forward.command.clone(),
                    seconds: within.as_secs(),
                    said: forward.said(mask),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// What kubectl wrote to standard error, every line that holds a secret hidden.
    fn said(&self, mask: &Mask) -> String {
        let bytes = self.stderr.lock().map(|b| b.clone()).unwrap_or_default();
        let text = mask.scrub_lines(&String::from_utf8_lossy(&bytes));
        if text.is_empty() {
            "nothing".to_string()
        } else {
            text
        }
    }
}

/// Read kubectl's standard output on a thread until it closes: the first forwarding line is
/// sent, the rest discarded.
fn drain_stdout(out: Option<std::process::ChildStdout>) -> Receiver<Seen> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Some(out) = out else {
            return;
        };
        let mut told = false;
        let mut line = Vec::new();
        let mut r = BufReader::new(out);
        loop {
            line.clear();
            // A line is at most 4 KiB for this purpose; longer ones are read on and dropped.
            match r.by_ref().take(4096).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if told => {}
                Ok(_) => {
                    if let Some((host, port)) = forwarding(&String::from_utf8_lossy(&line)) {
                        told = tx.send(Seen(host, port)).is_ok();
                    }
                }
            }
        }
    });
    rx
}

/// Keep the first [`MAX_STDERR`] bytes kubectl writes to standard error; drop the rest.
fn drain_stderr(err: Option<std::process::ChildStderr>, keep: Arc<Mutex<Vec<u8>>>) {
    let Some(mut err) = err else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match err.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut k) = keep.lock() {
                        let room = MAX_STDERR.saturating_sub(k.len());
                        k.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arguments_name_context_namespace_service_and_port() {
        let t = Target {
            namespace: "gprod-db".into(),
            resource: "service/postgres".into(),
            port: 5432,
        };
        let k = Kubectl {
            program: "kubectl".into(),
            context: Some("prod".into()),
        };
        assert_eq!(
            argv(&k, &t),
            [
                "--context",
                "prod",
                "port-forward",
                "-n",
                "gprod-db",
                "service/postgres",
                ":5432"
            ]
        );
        let k = Kubectl { context: None, ..k };
        assert_eq!(argv(&k, &t)[0], "port-forward");
        assert_eq!(t.to_string(), "gprod-db/service/postgres");
    }

    #[test]
    fn the_local_end_is_read_from_kubectls_line() {
        assert_eq!(
            forwarding("Forwarding from 127.0.0.1:41234 -> 5432\n"),
            Some(("127.0.0.1".into(), 41234))
        );
        assert_eq!(
            forwarding("Forwarding from [::1]:41234 -> 5432"),
            Some(("::1".into(), 41234))
        );
        for not in [
            "Handling connection for 41234",
            "Forwarding from somewhere:1 -> 5432",
            "Forwarding from 127.0.0.1:99999 -> 5432",
            "Forwarding from 127.0.0.1:0 -> 5432",
            "Forwarding from 10.0.0.7:41234 -> 5432",
            "Forwarding from [2001:db8::1]:41234 -> 5432",
            "Forwarding from 127.0.0.1:41234",
            "",
        ] {
            assert_eq!(forwarding(not), None, "{not}");
        }
    }
}
