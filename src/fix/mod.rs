//! `envsync fix --contour C`: repair drift in place, changing only the bytes it must.
//!
//! 1. `plan`: from both repos' decoded files, decide each key's intended value: the owner's
//!    (or `--prefer`'s) value for shared keys, the contour's API port for `PORT`, a fresh secret
//!    for a missing, weak or reused one with `--generate-secrets`, and `DATABASE_URL` rebuilt
//!    from infra's `POSTGRES_*`.
//! 2. `edit`: change the lossless [`EnvFile`](crate::envfile::EnvFile)s (only the value token
//!    of the winning line, or an appended line), quoting each value for the file's dialect
//!    ([`quote`]), then decode the whole rendered file again and refuse if any key would read
//!    back wrong.
//! 3. [`fix`]: under a lock on both repos, write every changed file in one transaction
//!    (`crate::write`), or print a masked diff (`diff`, `--dry-run`).

mod compose;
mod diff;
mod edit;
mod plan;
pub mod quote;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::ConfigError;
use crate::finding::Report;
use crate::model::Repo;
use crate::rules::{evaluate, LoadedFile};
use crate::settings::Settings;
use crate::source::SourceSpec;
use crate::workspace::{OpenOptions, Workspace, WorkspaceError};
use crate::write::{resolve_target, DirLock, Transaction, WriteError};

#[derive(Debug, Clone, Default)]
pub struct FixOptions {
    pub contour: String,
    pub dry_run: bool,
    pub prefer: Option<Repo>,
    pub generate_secrets: bool,
    pub backup: bool,
    pub show_values: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error("fix writes files: --{repo} must be a working-tree directory, not {what}; check a git source with `envsync check` instead")]
    NotAWorkTree { repo: Repo, what: String },
    #[error("refusing to rewrite {repo} {file}: {}; resolve {} first, then run fix again", lines.iter().map(|(l, p)| format!("line {l}: {p}")).collect::<Vec<_>>().join(", "), if lines.len() == 1 { "it" } else { "them" })]
    Refused {
        repo: Repo,
        file: String,
        lines: Vec<(usize, String)>,
    },
    #[error("cannot write {key} into {repo} {file}: {source}")]
    Unquotable {
        repo: Repo,
        file: String,
        key: String,
        source: quote::Unquotable,
    },
    #[error("internal check failed: after editing {repo} {file}, {key} would not read back as intended; nothing was written (please report this)")]
    Verify {
        repo: Repo,
        file: String,
        key: String,
    },
    #[error("cannot read the compose file infra {file}: {message}")]
    Compose { file: String, message: String },
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What a [`Change`] does to its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// An existing line's value token is replaced.
    Set,
    /// A new line is appended.
    Append,
}

/// One value written.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub repo: Repo,
    pub file: String,
    pub line: usize,
    pub key: String,
    pub action: ChangeKind,
    /// How the old and new values are shown: fingerprints for secrets.
    pub old: Option<String>,
    pub new: String,
    pub why: String,
}

/// A changed file.
#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    pub repo: Repo,
    pub file: String,
    /// The file really written (symlinks resolved).
    pub path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<PathBuf>,
    /// Unified diff with values masked (dry run only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(skip)]
    pub before: Vec<u8>,
    #[serde(skip)]
    pub after: Vec<u8>,
}

/// What `fix` did (or would do).
#[derive(Debug, Clone, Serialize)]
pub struct FixOutcome {
    pub version: u32,
    pub contour: String,
    pub dry_run: bool,
    pub changes: Vec<Change>,
    pub files: Vec<FileChange>,
    /// Keys not touched because their value cannot be trusted or their line cannot be edited.
    pub refused: Vec<Refusal>,
    pub warnings: Vec<String>,
    /// `check` of the contour on the fixed files.
    pub remaining: Report,
}

impl FixOutcome {
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// A key fix would not touch, and why (exit 1: drift remains).
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub repo: Repo,
    pub file: String,
    pub line: usize,
    pub key: String,
    pub message: String,
}

/// An intended value for one key in one repo.
#[derive(Debug, Clone)]
struct Want {
    repo: Repo,
    key: String,
    value: String,
    why: String,
}

/// `envsync fix`.
pub fn fix(settings: &Settings, opts: &FixOptions) -> Result<FixOutcome, FixError> {
    let roots = crate::model::PerRepo::try_from_fn(|repo| match settings.sources.get(repo) {
        SourceSpec::Path { path, rev: None } => Ok(path.clone()),
        SourceSpec::Path { rev: Some(r), .. } => Err(FixError::NotAWorkTree {
            repo,
            what: format!("revision `{r}`"),
        }),
        SourceSpec::Remote { url, .. } => Err(FixError::NotAWorkTree {
            repo,
            what: format!("the git source {url}"),
        }),
    })?;
    let ws = Workspace::open(settings, &OpenOptions::default())?;
    let mask = ws.rules.mask(opts.show_values);
    // Lock both repos (in a fixed order) before reading, so a concurrent fix reads our result.
    let _locks = if opts.dry_run {
        Vec::new()
    } else {
        let mut dirs: Vec<PathBuf> = roots
            .iter()
            .map(|(_, r)| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()))
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs.iter()
            .map(|d| DirLock::acquire(d))
            .collect::<Result<Vec<_>, _>>()?
    };
    let sel = ws.select(std::slice::from_ref(&opts.contour))?;
    let contour = ws.config.contour(&opts.contour)?;
    let cf = sel
        .files
        .iter()
        .find(|c| c.contour.name == contour.name)
        .expect("select loads the selected contour");
    let (Some(b), Some(i)) = (&cf.backend, &cf.infra) else {
        unreachable!("select fails when a selected contour's file is missing")
    };

    if !opts.dry_run {
        // Under the lock, any temporary file of ours is a leftover of a killed run.
        for side in [b, i] {
            let root = roots.get(side.repo);
            if let Some(dir) = std::fs::canonicalize(root.join(&side.file))
                .ok()
                .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
            {
                crate::write::remove_leftovers(&dir);
            }
        }
    }
    let (wants, refused) = plan::plan(&ws.rules, contour, b, i, &sel.files, opts, &mask);
    let mut warnings = Vec::new();
    let mut changes = Vec::new();
    let mut new_sides: BTreeMap<Repo, LoadedFile> = BTreeMap::new();
    let mut files = Vec::new();
    for side in [b, i] {
        let mine: Vec<&Want> = wants.iter().filter(|w| w.repo == side.repo).collect();
        let Some((edited, side_changes)) = edit::apply(&mask, side, &mine)? else {
            continue;
        };
        let root = roots.get(side.repo);
        let path = root.join(&side.file);
        let target = resolve_target(&path, root)?;
        let before = side.parsed.render();
        let after = edited.render();
        let diff = opts.dry_run.then(|| {
            diff::masked_diff(
                &mask,
                side,
                &edited,
                &format!("{}/{}", side.repo, side.file),
            )
        });
        files.push(FileChange {
            repo: side.repo,
            file: side.file.clone(),
            backup: (opts.backup && !opts.dry_run).then(|| crate::write::backup_path(&target)),
            path: target,
            diff,
            before,
            after: after.clone(),
        });
        new_sides.insert(
            side.repo,
            LoadedFile::load(
                side.repo,
                side.file.clone(),
                &after,
                (side.dialect, side.other_dialect),
                side.env,
            ),
        );
        changes.extend(side_changes);
    }

    // The compose side: what the db and api containers get must be the backend's value.
    let mut refused = refused;
    // A project compose refuses is reported by check; its values are not fixed.
    if let Some(project) = cf.compose.as_ref().filter(|p| !p.refused()) {
        let url_key = &ws.rules.database_url.key;
        let desired: BTreeMap<String, String> = ws
            .rules
            .shared
            .iter()
            .chain(std::iter::once(url_key))
            .filter_map(|k| {
                let planned = wants
                    .iter()
                    .find(|w| w.repo == Repo::Backend && &w.key == k)
                    .map(|w| w.value.clone());
                planned
                    .or_else(|| b.value(k).map(str::to_string))
                    .map(|v| (k.clone(), v))
            })
            .collect();
        let infra_root = roots.get(Repo::Infra).clone();
        // The compose files as the workspace read them, under the lock: not read again.
        let read = |file: &str| {
            ws.read_once(Repo::Infra, file)
                .ok()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let others: Vec<(String, Vec<String>)> = ws
            .config
            .contours
            .iter()
            .filter(|c| c.name != contour.name)
            .map(|c| (c.name.clone(), ws.compose_files(c)))
            .collect();
        let (edits, compose_refused) =
            compose::plan(&ws.rules, &mask, project, cf, &desired, &others, &read);
        refused.extend(compose_refused);
        let mut by_file: BTreeMap<&str, Vec<&compose::Edit>> = BTreeMap::new();
        for e in &edits {
            by_file.entry(&e.file).or_default().push(e);
        }
        for (file, mine) in by_file {
            let path = infra_root.join(file);
            let before = match ws.read_once(Repo::Infra, file) {
                Ok(Some(bytes)) => bytes,
                Ok(None) => {
                    return Err(FixError::Compose {
                        file: file.to_string(),
                        message: "it no longer exists".into(),
                    })
                }
                Err(message) => {
                    return Err(FixError::Compose {
                        file: file.to_string(),
                        message,
                    })
                }
            };
            let text = String::from_utf8_lossy(&before).into_owned();
            let after = compose::apply(&text, &mine).map_err(|key| FixError::Verify {
                repo: Repo::Infra,
                file: file.to_string(),
                key,
            })?;
            let diff = opts.dry_run.then(|| {
                let name = format!("infra/{file}");
                similar::TextDiff::from_lines(
                    &compose::masked(&mask, &text),
                    &compose::masked(&mask, &after),
                )
                .unified_diff()
                .context_radius(2)
                .header(&format!("a/{name}"), &format!("b/{name}"))
                .to_string()
            });
            let target = resolve_target(&path, &infra_root)?;
            files.push(FileChange {
                repo: Repo::Infra,
                file: file.to_string(),
                backup: (opts.backup && !opts.dry_run).then(|| crate::write::backup_path(&target)),
                path: target,
                diff,
                before,
                after: after.into_bytes(),
            });
            changes.extend(mine.iter().map(|e| e.change.clone()));
        }
    }

    let pw_key = &ws.rules.database_url.password_key;
    if changes
        .iter()
        .any(|c| c.repo == Repo::Infra && &c.key == pw_key && c.action == ChangeKind::Set)
    {
        let user = i
            .value(&ws.rules.database_url.user_key)
            .filter(|v| !v.is_empty())
            .unwrap_or(&ws.rules.database_url.default_user);
        warnings.push(format!(
            "infra {pw_key} changed: a database volume initialised with the old password keeps it. After deploying, run as an admin: ALTER ROLE {} WITH PASSWORD '********'; (the new value of {pw_key}), e.g. with `docker compose exec db psql -U {} -c \"ALTER ROLE …\"`",
            crate::migrate::sql::quote_ident(user),
            crate::mask::sanitize(user)
        ));
    }

    // Check the contour again on the edited files (the others are moved, not copied), with
    // its compose project read through the edits too.
    let edited: Vec<(Repo, String, Vec<u8>)> = files
        .iter()
        .map(|f| (f.repo, f.file.clone(), f.after.clone()))
        .collect();
    let recomposed = ws.compose_overlaid(
        contour,
        &|repo, file| {
            edited
                .iter()
                .find(|(r, f, _)| *r == repo && f == file)
                .map(|(_, _, b)| b.clone())
        },
        &|_, _| None,
    );
    let mut all = sel.files;
    if let Some(c) = all.iter_mut().find(|c| c.contour.name == contour.name) {
        c.compose = recomposed?;
    }
    if let Some(c) = all.iter_mut().find(|c| c.contour.name == contour.name) {
        if let Some(f) = new_sides.remove(&Repo::Backend) {
            c.backend = Some(f);
        }
        if let Some(f) = new_sides.remove(&Repo::Infra) {
            c.infra = Some(f);
        }
    }
    let this = all.iter().filter(|c| c.contour.name == contour.name);
    let remaining = Report::new(
        evaluate(&ws.rules, &mask, this, &all),
        vec![contour.name.clone()],
    );

    if !opts.dry_run && !files.is_empty() {
        let mut tx = Transaction::new();
        for f in &files {
            tx.stage(&f.path, &f.before, &f.after, opts.backup)?;
        }
        tx.commit()?;
    }
    if !opts.generate_secrets {
        let secrets = remaining
            .findings
            .iter()
            .filter(|f| {
                f.severity == crate::finding::Severity::Error
                    && matches!(
                        f.code,
                        crate::finding::RuleCode::WeakSecret
                            | crate::finding::RuleCode::ReusedSecret
                    )
            })
            .count();
        if secrets > 0 {
            warnings.push(format!(
                "{} weak or reused secret{} remain{}: fix copies values but makes new secrets only when asked: `envsync fix --contour {} --generate-secrets` replaces them in both repos",
                secrets,
                if secrets == 1 { "" } else { "s" },
                if secrets == 1 { "s" } else { "" },
                contour.name
            ));
        }
    }
    Ok(FixOutcome {
        version: 1,
        contour: contour.name.clone(),
        dry_run: opts.dry_run,
        changes,
        files,
        refused,
        warnings,
        remaining,
    })
}
