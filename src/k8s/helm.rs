//! Running the real `helm template`: the chart is rendered by Helm itself, never by a copy of
//! its template engine.
//!
//! Arguments are passed as `--flag=value`, so nothing from the configuration can be taken for
//! another flag. Helm runs with no input, under a time limit, and its output is read up to the
//! size cap every reader of envsync has. What it prints on failure goes through the masking
//! policy (every secret the values files and env files hold, learned before the run), and the
//! command as messages show it has secret `--set` values fingerprinted. `helm template` renders
//! offline: no cluster is contacted.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::mask::{fingerprint, sanitize, Mask};

use super::K8sError;

/// How long Helm may take before it is stopped.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// At most this much of what Helm writes to stderr is kept.
const MAX_STDERR: u64 = 64 * 1024;

/// One `helm template` run.
#[derive(Debug)]
pub struct Template<'a> {
    pub program: &'a str,
    pub release: &'a str,
    pub namespace: &'a str,
    /// For messages: `[contours.NAME.kubernetes]`.
    pub contour: &'a str,
    /// The chart directory on disk.
    pub chart_dir: &'a Path,
    /// How messages name the chart (`backend:helm/gprod-backend`).
    pub chart_label: String,
    /// Values files on disk, and how messages name them (as configured).
    pub values: Vec<(PathBuf, String)>,
    pub set: &'a [String],
    /// Where the repo's files are on disk: removed from paths in Helm's messages.
    pub disk_root: &'a Path,
}

/// What a run did, for `-v` and JSON.
#[derive(Debug, Clone)]
pub struct Run {
    /// The command, as messages show it (`helm template REL backend:helm/chart …`).
    pub command: String,
    pub elapsed: Duration,
}

impl Template<'_> {
    /// The arguments after the program.
    pub fn args(&self) -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = vec![
            "template".into(),
            self.release.into(),
            self.chart_dir.as_os_str().into(),
            format!("--namespace={}", self.namespace).into(),
        ];
        for (path, _) in &self.values {
            let mut v = std::ffi::OsString::from("--values=");
            v.push(path);
            a.push(v);
        }
        for s in self.set {
            a.push(format!("--set={s}").into());
        }
        a
    }

    /// The command as messages show it: the chart and values files as configured, secret
    /// `--set` values fingerprinted.
    pub fn shown(&self, mask: &Mask) -> String {
        let mut out = format!(
            "{} template {} {} --namespace {}",
            self.program, self.release, self.chart_label, self.namespace
        );
        for (_, shown) in &self.values {
            out.push_str(&format!(" -f {shown}"));
        }
        for s in self.set {
            out.push_str(" --set ");
            out.push_str(&masked_set(s, mask));
        }
        sanitize(&out)
    }
}

/// `a.b=v,c=w` with each secret value (by key or content) fingerprinted. Items are split as
/// Helm splits them ([`super::values::set_items`]): an escaped comma or a list `{a,b}` is
/// part of a value, and a value is fingerprinted whole.
fn masked_set(s: &str, mask: &Mask) -> String {
    super::values::set_items(s)
        .into_iter()
        .map(|item| match item.split_once('=') {
            Some((path, value)) => {
                let key = path.rsplit('.').next().unwrap_or(path);
                if mask.hides_value(key, value)
                    || mask.touches(&super::values::set_unescape(value))
                    || (!mask.reveals() && path.split('.').any(crate::mask::secret_named))
                {
                    format!("{path}=<{}>", fingerprint(value))
                } else {
                    item.to_string()
                }
            }
            None if mask.touches(item) => format!("<{}>", fingerprint(item)),
            None => item.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Helm's message made safe to print: paths of a private copy shown relative to the repo,
/// every line that holds a secret replaced, control characters escaped.
fn scrub(message: &str, mask: &Mask, disk_root: &Path) -> String {
    let root = format!("{}/", disk_root.display());
    let text = mask.scrub_lines(&message.replace(&root, ""));
    if text.is_empty() {
        "helm printed nothing".to_string()
    } else {
        text
    }
}

/// Run `helm template`; its standard output on success.
pub fn template(t: &Template<'_>, mask: &Mask) -> Result<(String, Run), K8sError> {
    spawn(t, mask)?.finish(mask)
}

/// A `helm template` that is running: [`Running::finish`] waits for it. Dropped unfinished, it
/// stops Helm. Several run at once when several contours are rendered (see
/// `crate::load::Workspace::kubernetes_all`).
#[derive(Debug)]
pub struct Running {
    child: Child,
    command: String,
    contour: String,
    disk_root: PathBuf,
    started: Instant,
    out_reader: Option<JoinHandle<(Vec<u8>, Option<String>)>>,
    err_reader: Option<JoinHandle<Vec<u8>>>,
    done: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Start `helm template` with both of its outputs read on their own threads.
pub fn spawn(t: &Template<'_>, mask: &Mask) -> Result<Running, K8sError> {
    let command = t.shown(mask);
    let started = Instant::now();
    let mut child = match Command::new(t.program)
        .args(t.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(K8sError::HelmMissing {
                program: sanitize(t.program),
                command,
                contour: t.contour.to_string(),
            })
        }
        Err(e) => {
            return Err(K8sError::HelmFailed {
                command,
                message: format!("cannot start it: {e}"),
                contour: t.contour.to_string(),
            })
        }
    };
    let max = crate::fs::read::MAX_SIZE;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let r = (&mut stdout).take(max + 1).read_to_end(&mut buf);
        (buf, r.err().map(|e| e.to_string()))
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(MAX_STDERR).read_to_end(&mut buf);
        // Keep draining so that Helm never blocks on a full pipe.
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        buf
    });
    Ok(Running {
        child,
        command,
        contour: t.contour.to_string(),
        disk_root: t.disk_root.to_path_buf(),
        started,
        out_reader: Some(out_reader),
        err_reader: Some(err_reader),
        done: false,
    })
}

impl Running {
    /// Wait for Helm (at most [`TIMEOUT`] from its start); its standard output on success.
    pub fn finish(mut self, mask: &Mask) -> Result<(String, Run), K8sError> {
        let max = crate::fs::read::MAX_SIZE;
        let command = self.command.clone();
        let too_large = || K8sError::HelmOutput {
            command: command.clone(),
            message: format!(
                "it printed more than {} MiB; envsync reads rendered output up to that size",
                max / (1024 * 1024)
            ),
        };
        let mut reader = self.out_reader.take();
        let mut output = None;
        let status = loop {
            if let Some(status) = self.child.try_wait().map_err(|e| K8sError::HelmOutput {
                command: command.clone(),
                message: e.to_string(),
            })? {
                self.done = true;
                break status;
            }
            // The reader ends when Helm closes its output (as it exits) or at the size cap.
            if reader.as_ref().is_some_and(|r| r.is_finished()) {
                let got = reader.take().expect("checked").join().unwrap_or_default();
                if got.0.len() as u64 > max {
                    return Err(too_large());
                }
                output = Some(got);
            }
            if self.started.elapsed() > TIMEOUT {
                return Err(K8sError::HelmTimeout {
                    command,
                    secs: TIMEOUT.as_secs(),
                    contour: self.contour.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let (buf, read) = match (output, reader) {
            (Some(got), _) => got,
            (None, Some(r)) => r.join().unwrap_or_default(),
            (None, None) => Default::default(),
        };
        let err = self
            .err_reader
            .take()
            .map(|r| r.join().unwrap_or_default())
            .unwrap_or_default();
        // Over the cap, the reader closed the pipe and Helm may have died of it: the size is
        // the reason.
        if buf.len() as u64 > max {
            return Err(too_large());
        }
        if !status.success() {
            let code = status
                .code()
                .map_or_else(|| "a signal".to_string(), |c| format!("exit status {c}"));
            let msg = scrub(&String::from_utf8_lossy(&err), mask, &self.disk_root);
            return Err(K8sError::HelmFailed {
                command,
                message: format!("({code}) {msg}"),
                contour: self.contour.clone(),
            });
        }
        if let Some(message) = read {
            return Err(K8sError::HelmOutput { command, message });
        }
        let text = String::from_utf8(buf).map_err(|_| K8sError::HelmOutput {
            command: command.clone(),
            message: "its output is not UTF-8".into(),
        })?;
        Ok((
            text,
            Run {
                command,
                elapsed: self.started.elapsed(),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template<'a>(program: &'a str, set: &'a [String], dir: &'a Path) -> Template<'a> {
        Template {
            program,
            release: "rel",
            namespace: "ns",
            contour: "dev",
            chart_dir: dir,
            chart_label: "backend:helm/c".into(),
            values: vec![(dir.join("values.yaml"), "values.yaml".into())],
            set,
            disk_root: dir,
        }
    }

    fn mask() -> Mask {
        Mask::new(false, vec![], vec![], vec![])
    }

    #[test]
    fn arguments_are_flag_value_pairs_and_the_shown_command_masks_secrets() {
        let dir = Path::new("/repo");
        let set = vec![
            "image.tag=1.2,secretEnv.JWT_SECRET=hunter2-hunter2".to_string(),
            "x=--post-renderer=y".to_string(),
        ];
        let t = template("helm", &set, dir);
        let args: Vec<String> = t
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "template",
                "rel",
                "/repo",
                "--namespace=ns",
                "--values=/repo/values.yaml",
                "--set=image.tag=1.2,secretEnv.JWT_SECRET=hunter2-hunter2",
                "--set=x=--post-renderer=y"
            ]
        );
        let shown = t.shown(&mask());
        assert!(shown.starts_with("helm template rel backend:helm/c --namespace ns -f values.yaml --set image.tag=1.2,secretEnv.JWT_SECRET=<15 chars, sha256:"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");

        // An escaped comma and a list are parts of one value: no part of it is shown.
        let set = vec![
            "secretEnv.JWT_SECRET=Canary-head\\,Canary-tail-9x".to_string(),
            "secretEnv.API_TOKENS={tokA-Canary1,tokB-Canary2},image.tag=1.3".to_string(),
        ];
        let shown = template("helm", &set, dir).shown(&mask());
        assert!(!shown.contains("Canary"), "{shown}");
        assert!(shown.ends_with(",image.tag=1.3"), "{shown}");
    }

    #[test]
    fn output_over_the_cap_is_stopped_not_read_forever() {
        // A "helm" that prints without end: the reader stops at the cap and kills it.
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let stub = d.path().join("helm");
        std::fs::write(&stub, "#!/bin/sh\nexec yes 'kind: ConfigMap'\n").unwrap();
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
        let program = stub.to_string_lossy().into_owned();
        let t = template(&program, &[], d.path());
        let e = template_run(&t);
        assert!(e.contains("more than 64 MiB"), "{e}");
    }

    #[test]
    fn a_failing_program_and_a_missing_one_are_told_apart() {
        let d = tempfile::tempdir().unwrap();
        let e = template_run(&template("false", &[], d.path()));
        assert!(
            e.contains("failed: (exit status 1) helm printed nothing"),
            "{e}"
        );
        let e = template_run(&template("/nonexistent/helm", &[], d.path()));
        assert!(e.contains("`/nonexistent/helm` was not found"), "{e}");
    }

    fn template_run(t: &Template<'_>) -> String {
        super::template(t, &mask())
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }
}
