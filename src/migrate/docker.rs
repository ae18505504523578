//! `--via docker`: the whole job handed to envsync itself, run in a throwaway container on the
//! contour's compose network with the binary and the migrations mounted read-only.

use std::path::Path;

use crate::model::Contour;

use super::{Ledger, MigrateError, MigrateOptions, MigrateReport, Resolution};

/// `--via docker`: hand the job to envsync inside a throwaway container on the contour's network.
pub fn run(
    opts: &MigrateOptions,
    ledger: Ledger,
    c: &Contour,
    dir: &std::path::Path,
    url: &str,
    mut report: MigrateReport,
) -> Result<MigrateReport, MigrateError> {
    let binary = match &opts.docker_binary {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .map_err(|e| MigrateError::Docker(format!("cannot find this binary: {e}")))?,
    };
    let binary = std::fs::canonicalize(&binary)
        .map_err(|e| MigrateError::Docker(format!("{}: {e}", binary.display())))?;
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| MigrateError::Docker(format!("{}: {e}", dir.display())))?;
    // The ledger found here is the one the container uses, whatever its auto-detection says.
    let mut passthrough = vec!["--ledger".to_string(), ledger.to_string()];
    match &opts.resolution {
        Some(Resolution::Applied(n)) => passthrough.extend(["--applied".into(), n.clone()]),
        Some(Resolution::RolledBack(n)) => passthrough.extend(["--rolled-back".into(), n.clone()]),
        None => {}
    }
    passthrough.extend(opts.passthrough.iter().cloned());
    let args = docker_args(
        &c.network,
        &opts.docker_image,
        &binary,
        &dir,
        opts.action.name(),
        &passthrough,
    );
    let status = std::process::Command::new("docker")
        .args(&args)
        .env(URL_ENV, url)
        .status()
        .map_err(|e| {
            MigrateError::Docker(format!(
                "cannot run `docker` ({e}); install docker or use --via host"
            ))
        })?;
    report.docker_exit = Some(status.code().unwrap_or(2));
    Ok(report)
}

/// The variable that carries the database URL into the container.
pub const URL_ENV: &str = "ENVSYNC_DATABASE_URL";

/// The arguments of `docker` for `--via docker`: a throwaway container on the contour's network,
/// from an image already on this machine (`--pull never`), with this envsync binary and the
/// migrations mounted read-only. The URL travels in the environment ([`URL_ENV`], passed as
/// `-e NAME` without a value), never on the command line.
pub fn docker_args(
    network: &str,
    image: &str,
    binary: &Path,
    migrations: &Path,
    action: &str,
    passthrough: &[String],
) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "--pull".into(),
        "never".into(),
        "--network".into(),
        network.into(),
        "-e".into(),
        URL_ENV.into(),
        "-v".into(),
        format!("{}:/usr/local/bin/envsync:ro", binary.display()),
        "-v".into(),
        format!("{}:/migrations:ro", migrations.display()),
        "--entrypoint".into(),
        "/usr/local/bin/envsync".into(),
        image.into(),
        "migrate".into(),
        action.into(),
        "--via".into(),
        "direct".into(),
        "--dir".into(),
        "/migrations".into(),
    ];
    args.extend(passthrough.iter().cloned());
    args
}
