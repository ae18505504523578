//! `--via docker`: the whole job handed to envsync itself, run in a throwaway container on the
//! contour's compose network with the binary and the migrations mounted read-only. A backup
//! (`--backup`, `backup_before_migrate`) is taken by that envsync, with the image's `pg_dump`,
//! into the backup directory mounted at the same path.

use std::path::Path;

use crate::model::Contour;

use crate::dburl::DbUrl;

use super::{backup, Action, Ledger, MigrateError, MigrateOptions, MigrateReport, Resolution};

/// `--via docker`: hand the job to envsync inside a throwaway container on the contour's network.
pub fn run(
    opts: &MigrateOptions,
    ledger: Ledger,
    c: &Contour,
    dir: &std::path::Path,
    url: &DbUrl,
    backup: Option<&backup::Plan>,
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
    // The backup directory is mounted where it is here, so the path the container's envsync
    // prints is the one on this machine; it is made here first (private), not by docker.
    if let Some(plan) = backup {
        crate::fs::write::create_private_dir(&plan.dir)
            .map_err(|e| MigrateError::Docker(format!("the backup directory: {e}")))?;
    }
    let passthrough = passthrough(opts, ledger, backup);
    let args = docker_args(
        &c.network,
        &opts.docker_image,
        &binary,
        &dir,
        backup.map(|b| b.dir.as_path()),
        opts.action.name(),
        &passthrough,
    );
    let status = std::process::Command::new("docker")
        .args(&args)
        .env(URL_ENV, url.expose())
        .status()
        .map_err(|e| {
            MigrateError::Docker(format!(
                "cannot run `docker` ({e}); install docker or use --via host"
            ))
        })?;
    report.docker_exit = Some(status.code().unwrap_or(2));
    Ok(report)
}

/// The flags the envsync in the container gets, built from the typed request: the ledger found
/// here (whatever the container's auto-detection would say), the resolution, and the run's
/// options.
pub fn passthrough(
    opts: &MigrateOptions,
    ledger: Ledger,
    backup: Option<&backup::Plan>,
) -> Vec<String> {
    let mut args = vec!["--ledger".to_string(), ledger.to_string()];
    if let Some(plan) = backup {
        args.extend(["--backup".into(), plan.dir.display().to_string()]);
        if let Some(c) = &plan.contour {
            args.extend(["--backup-contour".into(), c.clone()]);
        }
    }
    match &opts.resolution {
        Some(Resolution::Applied(n)) => args.extend(["--applied".into(), n.clone()]),
        Some(Resolution::RolledBack(n)) => args.extend(["--rolled-back".into(), n.clone()]),
        None => {}
    }
    if opts.dry_run {
        args.push("--dry-run".into());
    }
    if let Some(w) = opts.wait {
        args.extend(["--wait".into(), w.to_string()]);
    }
    if matches!(opts.action, Action::Run | Action::Resolve) {
        args.extend(["--lock-timeout".into(), opts.lock_timeout.to_string()]);
    }
    if opts.json {
        args.extend(["--format".into(), "json".into()]);
    }
    args
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
    backup_dir: Option<&Path>,
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
    ];
    if let Some(d) = backup_dir {
        args.extend(["-v".into(), format!("{}:{}", d.display(), d.display())]);
    }
    args.extend([
        "--entrypoint".into(),
        "/usr/local/bin/envsync".into(),
        image.into(),
        "migrate".into(),
        action.into(),
        "--via".into(),
        "direct".into(),
        "--dir".into(),
        "/migrations".into(),
    ]);
    args.extend(passthrough.iter().cloned());
    args
}
