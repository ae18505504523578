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
//!    (`crate::fs::write`), or print a masked diff (`diff`, `--dry-run`).

mod compose;
mod diff;
mod edit;
mod plan;
pub mod quote;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::check::evaluate;
use crate::config::settings::Settings;
use crate::config::ConfigError;
use crate::finding::Report;
use crate::fs::write::{resolve_target, DirLock, Transaction, WriteError};
use crate::load::LoadedFile;
use crate::load::{OpenOptions, Workspace, WorkspaceError};
use crate::model::Repo;
use crate::source::SourceSpec;

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
    /// Serialised as the text `crate::render::fix` prints.
    pub warnings: Vec<FixWarning>,
    /// `check` of the contour on the fixed files.
    pub remaining: Report,
}

impl FixOutcome {
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Something the user should know after a fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixWarning {
    /// Infra's database password changed: an initialised volume keeps the old one until an
    /// admin runs `ALTER ROLE`.
    PasswordChanged { key: String, user: String },
    /// Weak or reused secrets remain: `--generate-secrets` replaces them.
    SecretsRemain { count: usize, contour: String },
    /// A value not written into infra `file`: no container takes `key` from it. `overridden`
    /// names the services that read the file but take the key elsewhere (and where); empty
    /// when no service reads the file at all.
    NotRead {
        key: String,
        file: String,
        overridden: Vec<(String, String)>,
    },
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

/// `envsync fix`, in stages: open and lock, plan every edit (env files, then the compose lines
/// that decide the containers' values), check the contour again on the edited bytes, and only
/// then write every changed file in one transaction (or, with `--dry-run`, nothing).
pub fn fix(settings: &Settings, opts: &FixOptions) -> Result<FixOutcome, FixError> {
    let roots = work_trees(settings)?;
    let ws = Workspace::open(settings, &OpenOptions::default())?;
    let mut mask = ws.config.rules.mask(opts.show_values);
    // Lock both repos (in a fixed order) before reading, so a concurrent fix reads our result.
    let _locks = if opts.dry_run {
        Vec::new()
    } else {
        lock(&roots)?
    };
    let sel = ws.select(std::slice::from_ref(&opts.contour))?;
    // Values that hold a secret are hidden wherever they appear: learn every secret value read.
    mask.learn(sel.values());
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
        // Under the lock, before anything is staged, a temporary file of ours is a leftover
        // of a killed run (see `remove_leftovers` for why, and for its one exception).
        for dir in writable_dirs(&ws, &sel.files, &roots) {
            crate::fs::write::remove_leftovers(&dir);
        }
    }

    // Plan.
    let (wants, mut refused) = plan::plan(&ws.config.rules, contour, b, i, &sel.files, opts, &mask);
    let ctx = Stage {
        ws: &ws,
        roots: &roots,
        opts,
        mask: &mask,
    };
    // A value written into a file no consumer reads it from changes nothing: not written, said.
    let mut warnings = Vec::new();
    let wants: Vec<Want> = wants
        .into_iter()
        .filter(|w| match unread(cf, w) {
            Some(why) => {
                warnings.push(why);
                false
            }
            None => true,
        })
        .collect();
    let mut staged = ctx.env_files(&[b, i], &wants)?;
    if let Some(project) = cf.compose.as_ref().filter(|p| !p.refused()) {
        // A project compose refuses is reported by check; its values are not fixed.
        refused.extend(ctx.compose(contour, cf, project, &wants, &mut staged)?);
    }
    let r = &ws.config.rules.database_url;
    if staged
        .changes
        .iter()
        .any(|c| c.repo == Repo::Infra && c.key == r.password_key && c.action == ChangeKind::Set)
    {
        warnings.push(FixWarning::PasswordChanged {
            key: r.password_key.clone(),
            user: i
                .value(&r.user_key)
                .filter(|v| !v.is_empty())
                .unwrap_or(&r.default_user)
                .to_string(),
        });
    }

    // Verify: check the contour again on the edited files, its compose project read through
    // the edits too.
    let remaining = ctx.recheck(contour, sel.files, &staged)?;

    // Apply.
    if !opts.dry_run && !staged.files.is_empty() {
        let mut tx = Transaction::new();
        for f in &staged.files {
            tx.stage(&f.path, &f.before, &f.after, opts.backup)?;
        }
        tx.commit()?;
    }
    if !opts.generate_secrets {
        let count = remaining
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
        if count > 0 {
            warnings.push(FixWarning::SecretsRemain {
                count,
                contour: contour.name.clone(),
            });
        }
    }
    Ok(FixOutcome {
        version: 1,
        contour: contour.name.clone(),
        dry_run: opts.dry_run,
        changes: staged.changes,
        files: staged.files,
        refused,
        warnings,
        remaining,
    })
}

/// Why writing `w` into the infra env file would change nothing a consumer receives, if it
/// would not (see [`crate::load::ContourFiles::takes_from_infra_file`]).
fn unread(cf: &crate::load::ContourFiles<'_>, w: &Want) -> Option<FixWarning> {
    if w.repo != Repo::Infra {
        return None;
    }
    let overridden = cf.takes_from_infra_file(&w.key).err()?;
    Some(FixWarning::NotRead {
        key: w.key.clone(),
        file: cf.infra.as_ref()?.file.clone(),
        overridden,
    })
}

/// The working trees `fix` writes into: a revision or a remote is refused.
fn work_trees(settings: &Settings) -> Result<crate::model::PerRepo<PathBuf>, FixError> {
    crate::model::PerRepo::try_from_fn(|repo| match settings.sources.get(repo) {
        SourceSpec::Path { path, rev: None } => Ok(path.clone()),
        SourceSpec::Path { rev: Some(r), .. } => Err(FixError::NotAWorkTree {
            repo,
            what: format!("revision `{r}`"),
        }),
        SourceSpec::Remote { url, .. } => Err(FixError::NotAWorkTree {
            repo,
            what: format!("the git source {}", crate::mask::git_url(url)),
        }),
    })
}

/// Every directory a `fix` may write into, for any contour (a killed `fix -c prod` is cleaned
/// up by the next `fix -c dev` too): those of the env files found and of the compose files,
/// links resolved as [`resolve_target`] resolves them, and only inside their repo.
fn writable_dirs(
    ws: &Workspace,
    all: &[crate::load::ContourFiles<'_>],
    roots: &crate::model::PerRepo<PathBuf>,
) -> Vec<PathBuf> {
    let mut files: Vec<(Repo, String)> = Vec::new();
    for cf in all {
        for f in [&cf.backend, &cf.infra].into_iter().flatten() {
            files.push((f.repo, f.file.clone()));
        }
        for f in ws.compose_files(cf.contour) {
            files.push((Repo::Infra, f));
        }
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (repo, file) in files {
        let root = roots.get(repo);
        let Ok(real_root) = std::fs::canonicalize(root) else {
            continue;
        };
        let Some(dir) = std::fs::canonicalize(root.join(&file))
            .ok()
            .filter(|p| p.starts_with(&real_root))
            .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
        else {
            continue;
        };
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// Both repos' locks, taken in a fixed order (one lock when both are the same directory).
fn lock(roots: &crate::model::PerRepo<PathBuf>) -> Result<Vec<DirLock>, FixError> {
    let mut dirs: Vec<PathBuf> = roots
        .iter()
        .map(|(_, r)| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()))
        .collect();
    dirs.sort();
    dirs.dedup();
    Ok(dirs
        .iter()
        .map(|d| DirLock::acquire(d))
        .collect::<Result<Vec<_>, _>>()?)
}

/// What a run shares between its stages.
struct Stage<'a> {
    ws: &'a Workspace,
    roots: &'a crate::model::PerRepo<PathBuf>,
    opts: &'a FixOptions,
    mask: &'a crate::mask::Mask,
}

/// The edits planned so far: changed files, the values changed, and the env files as they
/// will read once written.
#[derive(Default)]
struct Staged {
    files: Vec<FileChange>,
    changes: Vec<Change>,
    decoded: BTreeMap<Repo, LoadedFile>,
}

impl Stage<'_> {
    /// Each env file edited (value tokens only) to hold its intended values.
    fn env_files(&self, sides: &[&LoadedFile], wants: &[Want]) -> Result<Staged, FixError> {
        let (opts, mask) = (self.opts, self.mask);
        let mut staged = Staged::default();
        for side in sides {
            let mine: Vec<&Want> = wants.iter().filter(|w| w.repo == side.repo).collect();
            let Some((edited, side_changes)) = edit::apply(mask, side, &mine)? else {
                continue;
            };
            let root = self.roots.get(side.repo);
            let target = resolve_target(&root.join(&side.file), root)?;
            let after = edited.render();
            let diff = opts.dry_run.then(|| {
                diff::masked_diff(mask, side, &edited, &format!("{}/{}", side.repo, side.file))
            });
            staged.files.push(FileChange {
                repo: side.repo,
                file: side.file.clone(),
                backup: (opts.backup && !opts.dry_run)
                    .then(|| crate::fs::write::backup_path(&target)),
                path: target,
                diff,
                before: side.parsed.render(),
                after: after.clone(),
            });
            staged.decoded.insert(
                side.repo,
                LoadedFile::load(
                    side.repo,
                    side.file.clone(),
                    &after,
                    (side.dialect, side.other_dialect),
                    side.env,
                ),
            );
            staged.changes.extend(side_changes);
        }
        Ok(staged)
    }

    /// The compose lines that decide what the db and api containers get, edited to the
    /// backend's (intended) values; the keys it will not touch are returned.
    fn compose(
        &self,
        contour: &crate::model::Contour,
        cf: &crate::load::ContourFiles<'_>,
        project: &crate::compose::Project,
        wants: &[Want],
        staged: &mut Staged,
    ) -> Result<Vec<Refusal>, FixError> {
        let (ws, opts, mask) = (self.ws, self.opts, self.mask);
        let b = cf.backend.as_ref().expect("select loads both files");
        let url_key = &ws.config.rules.database_url.key;
        let desired: BTreeMap<String, String> = ws
            .config
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
        let infra_root = self.roots.get(Repo::Infra).clone();
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
        let (edits, compose_refused) = compose::plan(
            &ws.config.rules,
            mask,
            project,
            cf,
            &desired,
            &others,
            &read,
        );
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
                    &compose::masked(mask, &text),
                    &compose::masked(mask, &after),
                )
                .unified_diff()
                .context_radius(2)
                .header(&format!("a/{name}"), &format!("b/{name}"))
                .to_string()
            });
            let target = resolve_target(&path, &infra_root)?;
            staged.files.push(FileChange {
                repo: Repo::Infra,
                file: file.to_string(),
                backup: (opts.backup && !opts.dry_run)
                    .then(|| crate::fs::write::backup_path(&target)),
                path: target,
                diff,
                before,
                after: after.into_bytes(),
            });
            staged.changes.extend(mine.iter().map(|e| e.change.clone()));
        }
        Ok(compose_refused)
    }

    /// `check` of the contour on the edited files (the other contours are moved, not copied),
    /// with its compose project read through the edits.
    fn recheck(
        &self,
        contour: &crate::model::Contour,
        mut all: Vec<crate::load::ContourFiles<'_>>,
        staged: &Staged,
    ) -> Result<Report, FixError> {
        let recomposed = self.ws.compose_overlaid(
            contour,
            &|repo, file| {
                staged
                    .files
                    .iter()
                    .find(|f| f.repo == repo && f.file == file)
                    .map(|f| f.after.clone())
            },
            &|_, _| None,
        )?;
        if let Some(c) = all.iter_mut().find(|c| c.contour.name == contour.name) {
            c.compose = recomposed;
            for (repo, f) in &staged.decoded {
                match repo {
                    Repo::Backend => c.backend = Some(f.clone()),
                    Repo::Infra => c.infra = Some(f.clone()),
                }
            }
        }
        let this = all.iter().filter(|c| c.contour.name == contour.name);
        Ok(Report::new(
            evaluate(&self.ws.config.rules, self.mask, this, &all),
            vec![contour.name.clone()],
        ))
    }
}
