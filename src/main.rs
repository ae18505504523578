//! The `envsync` binary: parse arguments, call the library, print, map to an exit code.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use envsync::check::{check, Workspace};
use envsync::cli::{Cli, Command, Format, HookAction, Prefer};
use envsync::config::Repo;
use envsync::report::{colorize, render_json, render_text, Stream};
use envsync::settings::Settings;
use envsync::{Error, ExitStatus};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Trouble.into()
            } else {
                ExitStatus::Clean.into()
            };
        }
    };
    match run(cli) {
        Ok(status) => status.into(),
        Err(Failure::Pipe) => ExitStatus::Clean.into(),
        Err(Failure::Error(e)) => {
            let _ = writeln!(io::stderr(), "envsync: error: {e}");
            ExitStatus::Trouble.into()
        }
    }
}

enum Failure {
    /// stdout closed early (`| head`): not an error.
    Pipe,
    Error(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::Pipe
        } else {
            Failure::Error(Error::Io {
                path: "<stdout>".into(),
                message: e.to_string(),
            })
        }
    }
}

fn run(cli: Cli) -> Result<ExitStatus, Failure> {
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", &e))?;
    let mut settings = Settings::from_args(&cli.global, &cwd)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let color = colorize(settings.color, Stream::Stdout);
    match cli.command {
        Command::Check(args) => {
            if args.staged {
                settings.staged_repo = Some(settings.current_repo());
            }
            let mut ws = Workspace::open(&settings)?;
            ws.rules.show_values = args.show_values;
            let report = check(&ws, &args.contours)?;
            match args.format {
                Format::Json => render_json(&report, &mut out)?,
                Format::Text => render_text(&report, color, settings.quiet, &mut out)?,
            }
            Ok(ExitStatus::from_findings(report.has_errors()))
        }
        Command::Fix(args) => {
            let mut opts = envsync::fix::FixOptions {
                contour: args.contour,
                dry_run: args.dry_run,
                prefer: args.prefer.map(|p| match p {
                    Prefer::Backend => Repo::Backend,
                    Prefer::Infra => Repo::Infra,
                }),
                generate_secrets: args.generate_secrets,
                backup: !args.no_backup,
                show_values: args.show_values,
            };
            opts.contour = opts.contour.trim().to_string();
            let outcome = envsync::fix::fix(&settings, &opts)?;
            match args.format {
                Format::Json => {
                    serde_json::to_writer_pretty(&mut out, &outcome).map_err(io::Error::from)?;
                    writeln!(out)?;
                }
                Format::Text => {
                    envsync::fix::render_text(&outcome, color, settings.quiet, &mut out)?
                }
            }
            // A dry run answers "would fix change anything?"; a real run "is anything left?".
            Ok(ExitStatus::from_findings(if outcome.dry_run {
                outcome.changed()
            } else {
                outcome.remaining.has_errors()
            }))
        }
        Command::Migrate(args) => run_migrate(*args, &settings, &mut out),
        Command::Show(args) => {
            let bytes = std::fs::read(&args.file).map_err(|e| Error::io(&args.file, &e))?;
            let dialect = envsync::show::dialect_for(&args.file, args.dialect, &settings);
            let shown = envsync::show::show(&bytes, dialect, args.show_values);
            match args.format {
                Format::Json => {
                    serde_json::to_writer_pretty(&mut out, &shown).map_err(io::Error::from)?;
                    writeln!(out)?;
                }
                Format::Text => {
                    writeln!(
                        out,
                        "# {} as read by {}",
                        args.file.display(),
                        shown.dialect
                    )?;
                    for (k, v) in &shown.variables {
                        writeln!(out, "{k}={}", v.as_str().unwrap_or_default().escape_debug())?;
                    }
                    for e in shown.error.iter().chain(&shown.invalid_lines) {
                        writeln!(out, "# line {}: {}", e.line, e.message)?;
                    }
                }
            }
            Ok(ExitStatus::from_findings(shown.error.is_some()))
        }
        Command::Init => {
            let path = envsync::init(&cwd)?;
            if !settings.quiet {
                writeln!(out, "wrote {}", path.display())?;
            }
            Ok(ExitStatus::Clean)
        }
        Command::Hook { action } => run_hook(action, &settings, color, &mut out),
    }
}

fn run_migrate(
    args: envsync::cli::MigrateArgs,
    settings: &Settings,
    out: &mut dyn Write,
) -> Result<ExitStatus, Failure> {
    use envsync::cli::{MigrateAction, ViaArg};
    use envsync::migrate::{migrate, Action, MigrateOptions, Via};
    let (action, f) = match args.action {
        None => (Action::Run, args.run),
        Some(MigrateAction::Run(f)) => (Action::Run, f),
        Some(MigrateAction::Status(f)) => (Action::Status, f),
        Some(MigrateAction::Preflight(f)) => (Action::Preflight, f),
    };
    let json = f.format == Format::Json;
    let mut passthrough = Vec::new();
    if f.dry_run {
        passthrough.push("--dry-run".to_string());
    }
    if let Some(w) = f.wait {
        passthrough.extend(["--wait".to_string(), w.to_string()]);
    }
    passthrough.extend(["--lock-timeout".to_string(), f.lock_timeout.to_string()]);
    if json {
        passthrough.extend(["--format".to_string(), "json".to_string()]);
    }
    let opts = MigrateOptions {
        action,
        contour: f.contour,
        dir: f.dir,
        database_url: f.database_url,
        via: match f.via {
            ViaArg::Auto => Via::Auto,
            ViaArg::Direct => Via::Direct,
            ViaArg::Host => Via::Host,
            ViaArg::Docker => Via::Docker,
        },
        dry_run: f.dry_run,
        wait: f.wait,
        lock_timeout: f.lock_timeout,
        docker_image: f.docker_image,
        docker_binary: f.docker_binary,
        passthrough,
    };
    // Progress goes to stdout as it happens (stderr with --format json).
    let quiet = settings.quiet;
    let mut broken = None;
    let report = {
        let mut note = |n: envsync::migrate::Note| {
            if quiet && !n.problem {
                return;
            }
            let line = n.text;
            let r = if json {
                writeln!(io::stderr(), "{line}")
            } else {
                writeln!(out, "{line}")
            };
            if let Err(e) = r {
                broken.get_or_insert(e);
            }
        };
        migrate(settings, &opts, &mut note)?
    };
    if let Some(e) = broken {
        return Err(e.into());
    }
    if report.docker_exit.is_none() {
        if json {
            serde_json::to_writer_pretty(&mut *out, &report).map_err(io::Error::from)?;
            writeln!(out)?;
        } else {
            render_migrate_text(&report, quiet, out)?;
        }
    }
    Ok(report.status())
}

fn render_migrate_text(
    r: &envsync::migrate::MigrateReport,
    quiet: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    use envsync::migrate::Action;
    let listing = r.action == Action::Status || r.dry_run;
    if listing && !quiet {
        for e in &r.migrations {
            let note = e
                .note
                .as_deref()
                .map(|n| format!("  ({n})"))
                .unwrap_or_default();
            writeln!(out, "{:<9} {} {}{note}", e.state, e.version, e.description)?;
        }
    } else if !quiet {
        for e in r
            .migrations
            .iter()
            .filter(|e| matches!(e.state, "modified" | "missing" | "dirty"))
        {
            let note = e.note.as_deref().unwrap_or("");
            writeln!(
                out,
                "{:<9} {} {}: {note}",
                e.state,
                e.version,
                e.file.as_deref().unwrap_or(&e.description)
            )?;
        }
    }
    let s = &r.summary;
    let line = match r.action {
        Action::Preflight => match &r.preflight {
            Some(p) if p.ok() => "preflight passed".to_string(),
            _ => {
                "preflight refused: grant the privileges above, then run migrate again".to_string()
            }
        },
        _ if r.preflight.as_ref().is_some_and(|p| !p.ok()) => {
            "preflight refused: nothing was applied or created".to_string()
        }
        _ if r.failure.is_some() => format!(
            "migration failed; {} applied in this run, {} pending",
            s.applied_now, s.pending
        ),
        _ if s.modified + s.missing > 0 => format!(
            "{} modified, {} missing: nothing was applied",
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
    };
    writeln!(out, "{line}")
}

fn run_hook(
    action: HookAction,
    settings: &Settings,
    color: bool,
    out: &mut dyn Write,
) -> Result<ExitStatus, Failure> {
    use envsync::hook::{self, Installed};
    match action {
        HookAction::Install { force } => {
            let binary = std::env::current_exe()
                .and_then(std::fs::canonicalize)
                .map_err(|e| Error::io("envsync", &e))?;
            let done = hook::install(&settings.cwd, &binary, force).map_err(Error::from)?;
            let line = match done {
                Installed::Created(p) => format!("installed {}", p.display()),
                Installed::Updated(p) => format!("already installed in {} (updated)", p.display()),
                Installed::Chained(p) => {
                    format!("added envsync to the existing hook {}", p.display())
                }
                Installed::MovedForeign { hook, moved } => format!(
                    "installed {}; the previous hook moved to {} and still runs after envsync",
                    hook.display(),
                    moved.display()
                ),
            };
            writeln!(out, "{line}")?;
            Ok(ExitStatus::Clean)
        }
        HookAction::Uninstall => {
            match hook::uninstall(&settings.cwd).map_err(Error::from)? {
                Some(p) => writeln!(out, "removed envsync from {}", p.display())?,
                None => writeln!(out, "no envsync hook installed")?,
            }
            Ok(ExitStatus::Clean)
        }
        HookAction::Run => {
            let report = hook::run(settings)?;
            if report.has_errors() {
                render_text(&report, color, false, out)?;
                writeln!(
                    out,
                    "envsync: commit blocked; fix the above, or bypass once with `git commit --no-verify`"
                )?;
            } else if !settings.quiet {
                writeln!(out, "envsync: staged env files OK")?;
            }
            Ok(ExitStatus::from_findings(report.has_errors()))
        }
    }
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
