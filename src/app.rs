//! One function per command: settings in, the domain call, a renderer out, an exit status back.
//! The binary only parses arguments, calls [`run`] and maps its result to an exit code.

use std::io::{self, Write};

use crate::cli::{
    CheckArgs, Cli, Command, FixArgs, Format, HookAction, MigrateAction, MigrateArgs, ReportArgs,
    ReportFormat, ShowArgs,
};
use crate::config::settings::Settings;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::finding::Report;
use crate::load::{OpenOptions, Workspace};
use crate::render;

/// Run a parsed command line, printing to stdout (progress of `migrate --format json` to
/// stderr). Errors are returned for the caller to print.
pub fn run(cli: Cli) -> Result<ExitStatus, Error> {
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", &e))?;
    let settings = Settings::from_args(&cli.global, &cwd)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let color = render::use_color(settings.color);
    match cli.command {
        Command::Check(args) => check(args, &settings, color, &mut out),
        Command::Fix(args) => fix(args, &settings, color, &mut out),
        Command::Migrate(args) => migrate(*args, &settings, &mut out),
        Command::Show(args) => show(args, &settings, &mut out),
        Command::Report(args) => report(args, &settings, &mut out),
        Command::Init => {
            let path = init(&cwd, settings.repo_path(crate::model::Repo::Backend))?;
            if !settings.quiet {
                writeln!(out, "wrote {}", path.display())?;
            }
            Ok(ExitStatus::Clean)
        }
        Command::Hook { action } => hook(action, &settings, color, &mut out),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            // Into a buffer first: the generator panics on a write error (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "envsync", &mut script);
            out.write_all(&script)?;
            Ok(ExitStatus::Clean)
        }
        Command::Man => {
            clap_mangen::Man::new(crate::cli::built()).render(&mut out)?;
            Ok(ExitStatus::Clean)
        }
    }
}

fn check(
    args: CheckArgs,
    s: &Settings,
    color: bool,
    out: &mut dyn Write,
) -> Result<ExitStatus, Error> {
    let started = std::time::Instant::now();
    let ws = checked_workspace(s, args.staged)?;
    let mask = ws.config.rules.mask(args.show_values);
    let report = &crate::check::check(&ws, &mask, &args.contours, s.verbose > 0)?;
    if s.verbose > 0 {
        render::verbose(&report.read, started, &mut io::stderr())?;
    }
    print_report(report, args.format, s, out, |out| {
        render::check::text(report, color, s.quiet, out)
    })?;
    Ok(ExitStatus::from_findings(report.has_errors()))
}

/// Both repos, as `check` and `report` read them (`--staged`: the current repo's index).
fn checked_workspace(s: &Settings, staged: bool) -> Result<Workspace, Error> {
    let opts = OpenOptions {
        staged: staged.then(|| s.current_repo()),
        rev: None,
    };
    Ok(Workspace::open(s, &opts)?)
}

/// `report --html FILE`: what `check` reads and finds, as one page; the exit status is check's.
fn report(args: ReportArgs, s: &Settings, out: &mut dyn Write) -> Result<ExitStatus, Error> {
    let started = std::time::Instant::now();
    let ws = checked_workspace(s, args.staged)?;
    let mask = ws.config.rules.mask(args.show_values);
    let checked = crate::check::checked(&ws, &mask, &args.contours, s.verbose > 0)?;
    let matrix = crate::report::matrix(&ws.config.rules, &checked, args.show_values);
    let page = render::html::page(&matrix, &checked.report);
    // A page with values on it is as private as the env files.
    let mode = if args.show_values { 0o600 } else { 0o644 };
    let path = s.cwd.join(&args.html);
    crate::fs::write::replace(&path, page.as_bytes(), mode)?;
    if s.verbose > 0 {
        render::verbose(&checked.report.read, started, &mut io::stderr())?;
    }
    if !s.quiet {
        render::check::wrote(&checked.report, &args.html, out)?;
    }
    Ok(ExitStatus::from_findings(checked.report.has_errors()))
}

/// `check`'s or the hook's report in the format asked for; `text` prints the command's own
/// text. `-q` concerns the text only: the other formats are documents for tools.
fn print_report(
    report: &Report,
    format: ReportFormat,
    s: &Settings,
    out: &mut dyn Write,
    text: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    match format {
        ReportFormat::Text => text(out),
        ReportFormat::Json => render::json(report, out),
        ReportFormat::Sarif => render::sarif::log(report, &s.config.rules, out),
        ReportFormat::Github => {
            // Annotations land on files of the workflow's checkout.
            let workspace = std::env::var_os("GITHUB_WORKSPACE")
                .filter(|w| !w.is_empty())
                .map_or_else(|| s.cwd.clone(), std::path::PathBuf::from);
            let roots = crate::model::PerRepo::from_fn(|repo| s.repo_path(repo));
            let anchors = render::github::Anchors::new(&workspace, roots);
            render::github::commands(report, &anchors, out)
        }
        ReportFormat::Markdown => render::markdown::report(report, out),
    }
}

fn fix(args: FixArgs, s: &Settings, color: bool, out: &mut dyn Write) -> Result<ExitStatus, Error> {
    let opts = crate::fix::FixOptions {
        contour: args.contour.trim().to_string(),
        dry_run: args.dry_run,
        prefer: args.prefer,
        generate_secrets: args.generate_secrets,
        backup: !args.no_backup,
        show_values: args.show_values,
    };
    let outcome = crate::fix::fix(s, &opts)?;
    match args.format {
        Format::Json => render::json(&outcome, out)?,
        Format::Text => render::fix::text(&outcome, color, s.quiet, out)?,
    }
    // A dry run answers "would fix change anything?"; a real run "is anything left?". A
    // refused key is drift left either way.
    Ok(ExitStatus::from_findings(
        !outcome.refused.is_empty()
            || if outcome.dry_run {
                outcome.changed()
            } else {
                outcome.remaining.has_errors()
            },
    ))
}

fn show(args: ShowArgs, s: &Settings, out: &mut dyn Write) -> Result<ExitStatus, Error> {
    let (Some(file), None) = (&args.file, &args.service) else {
        return show_service(args, s, out);
    };
    let bytes = crate::fs::read::read(file)?;
    let dialect = crate::show::dialect_for(file, args.dialect, s);
    // The same masking policy as `check`: the rules' secret, shared and secret-named keys.
    let mask = s.config.rules.mask(args.show_values);
    let shown = crate::show::show(&bytes, dialect, &mask, s.env);
    match args.format {
        Format::Json => render::json(&shown, out)?,
        Format::Text => render::show::text(&shown, file, out)?,
    }
    // One verdict per file and dialect: the consumer rejects it, or a line is one `check`
    // reports as `syntax`.
    Ok(ExitStatus::from_findings(
        shown.error.is_some() || !shown.invalid_lines.is_empty() || !shown.warnings.is_empty(),
    ))
}

fn show_service(args: ShowArgs, s: &Settings, out: &mut dyn Write) -> Result<ExitStatus, Error> {
    if args.workload.is_some() {
        return show_workload(args, s, out);
    }
    let (Some(service), Some(contour)) = (&args.service, &args.contour) else {
        return Err(Error::Usage(
            "show needs FILE, or --service S --contour C".into(),
        ));
    };
    let ws = Workspace::open(s, &OpenOptions::default())?;
    let mask = ws.config.rules.mask(args.show_values);
    let shown = crate::show::service(&ws, service, contour, &mask)?;
    match args.format {
        Format::Json => render::json(&shown, out)?,
        Format::Text => render::show::service_text(&shown, out)?,
    }
    // compose would refuse this project.
    Ok(ExitStatus::from_findings(!shown.errors.is_empty()))
}

fn show_workload(args: ShowArgs, s: &Settings, out: &mut dyn Write) -> Result<ExitStatus, Error> {
    let (Some(workload), Some(contour)) = (&args.workload, &args.contour) else {
        return Err(Error::Usage(
            "show --workload needs KIND/NAME and --contour C".into(),
        ));
    };
    let started = std::time::Instant::now();
    let ws = Workspace::lazy(s, &OpenOptions::default());
    let mask = ws.config.rules.mask(args.show_values);
    let shown = crate::show::workload(&ws, workload, args.container.as_deref(), contour, &mask)?;
    if s.verbose > 0 {
        render::show::workload_verbose(&shown, started, &mut io::stderr())?;
    }
    match args.format {
        Format::Json => render::json(&shown, out)?,
        Format::Text => render::show::workload_text(&shown, out)?,
    }
    // The pod would not start as rendered.
    Ok(ExitStatus::from_findings(!shown.errors.is_empty()))
}

fn migrate(args: MigrateArgs, s: &Settings, out: &mut dyn Write) -> Result<ExitStatus, Error> {
    use crate::migrate::{Action, BackupOptions, MigrateOptions, Resolution};
    let run_backup = |r: &crate::cli::RunFlags| BackupOptions {
        // Relative to the current directory (envsync.toml's key: to its directory).
        dir: r.backup.as_deref().map(|d| s.cwd.join(d)),
        pg_dump: r.pg_dump.clone(),
        contour: r.backup_contour.clone(),
    };
    // (action, connection flags, dry run, lock timeout, resolution, backup)
    let (action, f, dry_run, lock_timeout, resolution, backup) = match args.action {
        None => {
            let backup = run_backup(&args.run);
            let r = args.run;
            (
                Action::Run,
                r.flags,
                r.dry_run,
                r.lock.lock_timeout,
                None,
                backup,
            )
        }
        Some(MigrateAction::Run(r)) => {
            let backup = run_backup(&r);
            (
                Action::Run,
                r.flags,
                r.dry_run,
                r.lock.lock_timeout,
                None,
                backup,
            )
        }
        Some(MigrateAction::Status(f)) => {
            (Action::Status, f, false, 0, None, BackupOptions::default())
        }
        Some(MigrateAction::Preflight(f)) => (
            Action::Preflight,
            f,
            false,
            0,
            None,
            BackupOptions::default(),
        ),
        Some(MigrateAction::Resolve(r)) => {
            let how = match (r.applied, r.rolled_back) {
                (Some(n), _) => Resolution::Applied(n),
                (None, Some(n)) => Resolution::RolledBack(n),
                (None, None) => {
                    return Err(Error::Usage(
                        "migrate resolve needs --applied NAME or --rolled-back NAME".into(),
                    ))
                }
            };
            // `resolve` applies nothing, so it dumps nothing.
            (
                Action::Resolve,
                r.flags,
                false,
                r.lock.lock_timeout,
                Some(how),
                BackupOptions::default(),
            )
        }
    };
    let json = f.format == Format::Json;
    let opts = MigrateOptions {
        action,
        contour: f.contour,
        dir: f.dir,
        ledger: f.ledger,
        resolution,
        database_url: f.database_url,
        via: f.via,
        dry_run,
        wait: f.wait,
        lock_timeout,
        docker_image: f.docker_image,
        docker_binary: f.docker_binary,
        kube_context: f.kube_context,
        json,
        backup,
    };
    // Progress is printed as it happens; the first write error ends the output, not the run.
    let mut broken = None;
    let report = crate::migrate::migrate(s, &opts, &mut |event| {
        if broken.is_none() {
            broken = render::migrate::event(&event, s.quiet, json, out).err();
        }
    })?;
    if let Some(e) = broken {
        return Err(e.into());
    }
    if report.docker_exit.is_none() {
        if json {
            render::json(&report, out)?;
        } else {
            render::migrate::text(&report, s.quiet, out)?;
        }
    }
    Ok(report.status())
}

fn hook(
    action: HookAction,
    s: &Settings,
    color: bool,
    out: &mut dyn Write,
) -> Result<ExitStatus, Error> {
    match action {
        HookAction::Install { force } => {
            let binary = std::env::current_exe()
                .and_then(std::fs::canonicalize)
                .map_err(|e| Error::io("envsync", &e))?;
            let done = crate::hook::install(&s.cwd, &binary, force)?;
            render::hook::installed(&done, out)?;
            if let Some(problem) = crate::hook::other_repo_problem(s) {
                writeln!(io::stderr(), "envsync: warning: {problem}")?;
            }
            Ok(ExitStatus::Clean)
        }
        HookAction::Uninstall => {
            let removed = crate::hook::uninstall(&s.cwd)?;
            render::hook::uninstalled(removed.as_deref(), out)?;
            Ok(ExitStatus::Clean)
        }
        HookAction::Run { format } => {
            let started = std::time::Instant::now();
            let report = &crate::hook::run(s)?;
            if s.verbose > 0 {
                render::verbose(&report.read, started, &mut io::stderr())?;
            }
            print_report(report, format, s, out, |out| {
                render::hook::run(report, color, s.quiet, out)
            })?;
            Ok(ExitStatus::from_findings(report.has_errors()))
        }
    }
}

/// `envsync init`: write the commented template (its Kubernetes section filled from the
/// backend's chart, if any), refusing to overwrite.
fn init(
    dir: &std::path::Path,
    backend: Option<&std::path::Path>,
) -> Result<std::path::PathBuf, Error> {
    use std::io::Write;
    let path = dir.join("envsync.toml");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Usage(format!(
                    "{} already exists; envsync init never overwrites it (edit it, or remove it first)",
                    path.display()
                ))
            } else {
                Error::io(&path, &e)
            }
        })?;
    f.write_all(crate::config::init_text(backend).as_bytes())
        .map_err(|e| Error::io(&path, &e))?;
    Ok(path)
}
