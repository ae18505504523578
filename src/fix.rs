//! `envsync fix --contour C`: repair drift in place, changing only the bytes it must.
//!
//! 1. [`plan`]: from both repos' decoded files, decide each key's intended value: the owner's
//!    (or `--prefer`'s) value for shared keys, the contour's API port for `PORT`, a fresh secret
//!    for a missing, weak or reused one with `--generate-secrets`, and `DATABASE_URL` rebuilt
//!    from infra's `POSTGRES_*`.
//! 2. [`apply`]: edit the lossless [`EnvFile`]s (only the value token of the winning line, or
//!    an appended line), quoting each value for the file's dialect, then decode the whole
//!    rendered file again and refuse if any key would read back wrong.
//! 3. [`fix`]: under a lock on both repos, write every changed file in one
//!    [`crate::write::Transaction`], or print a masked diff (`--dry-run`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;

use crate::check::Workspace;
use crate::config::{Contour, Repo};
use crate::dialect::Dialect;
use crate::envfile::{EnvFile, Item, Problem};
use crate::error::Error;
use crate::report::Report;
use crate::rules::{evaluate, has_reference, parse_database_url, ContourFiles, LoadedFile, Rules};
use crate::secret::fingerprint;
use crate::settings::Settings;
use crate::source::SourceSpec;
use crate::write::{resolve_target, DirLock, Transaction, WriteError};

/// RFC 3986 userinfo: everything but the unreserved characters is percent-encoded, so any
/// password (`@ : / # ? % $ =` included) round-trips through every URL parser.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

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
        source: crate::quote::Unquotable,
    },
    #[error("internal check failed: after editing {repo} {file}, {key} would not read back as intended; nothing was written (please report this)")]
    Verify {
        repo: Repo,
        file: String,
        key: String,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// One value written.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub repo: Repo,
    pub file: String,
    pub line: usize,
    pub key: String,
    /// `set` (an existing line's value) or `append` (a new line).
    pub action: &'static str,
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
    pub warnings: Vec<String>,
    /// `check` of the contour on the fixed files.
    pub remaining: Report,
}

impl FixOutcome {
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
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
pub fn fix(settings: &Settings, opts: &FixOptions) -> Result<FixOutcome, Error> {
    let mut roots: Vec<PathBuf> = Vec::new();
    for repo in Repo::BOTH {
        match settings.spec(repo) {
            SourceSpec::Path { path, rev: None } => roots.push(path.clone()),
            SourceSpec::Path { rev: Some(r), .. } => {
                return Err(fix_err(FixError::NotAWorkTree {
                    repo,
                    what: format!("revision `{r}`"),
                }))
            }
            SourceSpec::Remote { url, .. } => {
                return Err(fix_err(FixError::NotAWorkTree {
                    repo,
                    what: format!("the git source {url}"),
                }))
            }
        }
    }
    let mut ws = Workspace::open(settings)?;
    ws.rules.show_values = opts.show_values;
    // Lock both repos (in a fixed order) before reading, so a concurrent fix reads our result.
    let _locks = if opts.dry_run {
        Vec::new()
    } else {
        let mut dirs: Vec<PathBuf> = roots
            .iter()
            .map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()))
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs.iter()
            .map(|d| DirLock::acquire(d))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fix_err(e.into()))?
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
        for (side, root) in [(b, &roots[0]), (i, &roots[1])] {
            if let Some(dir) = std::fs::canonicalize(root.join(&side.file))
                .ok()
                .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
            {
                crate::write::remove_leftovers(&dir);
            }
        }
    }
    let wants = plan(&ws.rules, contour, b, i, &sel.files, opts);
    let mut warnings = Vec::new();
    let mut changes = Vec::new();
    let mut new_sides: BTreeMap<Repo, LoadedFile> = BTreeMap::new();
    let mut files = Vec::new();
    for side in [b, i] {
        let mine: Vec<&Want> = wants.iter().filter(|w| w.repo == side.repo).collect();
        let Some((edited, side_changes)) = apply(&ws.rules, side, &mine)? else {
            continue;
        };
        let root = &roots[if side.repo == Repo::Backend { 0 } else { 1 }];
        let path = root.join(&side.file);
        let target = resolve_target(&path, root).map_err(|e| fix_err(e.into()))?;
        let before = side.parsed.render();
        let after = edited.render();
        let diff = opts.dry_run.then(|| {
            masked_diff(
                &ws.rules,
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
                side.dialect,
                side.other_dialect,
            ),
        );
        changes.extend(side_changes);
    }

    let pw_key = &ws.rules.database_url.password_key;
    if changes
        .iter()
        .any(|c| c.repo == Repo::Infra && &c.key == pw_key && c.action == "set")
    {
        let user = i
            .value(&ws.rules.database_url.user_key)
            .filter(|v| !v.is_empty())
            .unwrap_or(&ws.rules.database_url.default_user);
        warnings.push(format!(
            "infra {pw_key} changed: a database volume initialised with the old password keeps it. After deploying, run as an admin: ALTER ROLE \"{}\" WITH PASSWORD '********'; (the new value of {pw_key}), e.g. with `docker compose exec db psql -U {} -c \"ALTER ROLE …\"`",
            user.replace('"', "\"\""),
            crate::secret::sanitize(user)
        ));
    }

    // Check the contour again on the edited files (the others are moved, not copied).
    let mut all = sel.files;
    if let Some(c) = all.iter_mut().find(|c| c.contour.name == contour.name) {
        if let Some(f) = new_sides.remove(&Repo::Backend) {
            c.backend = Some(f);
        }
        if let Some(f) = new_sides.remove(&Repo::Infra) {
            c.infra = Some(f);
        }
    }
    let this = all.iter().filter(|c| c.contour.name == contour.name);
    let remaining = Report::new(evaluate(&ws.rules, this, &all), vec![contour.name.clone()]);

    if !opts.dry_run && !files.is_empty() {
        let mut tx = Transaction::new();
        for f in &files {
            tx.stage(&f.path, &f.before, &f.after, opts.backup)
                .map_err(|e| fix_err(e.into()))?;
        }
        tx.commit().map_err(|e| fix_err(e.into()))?;
    }
    Ok(FixOutcome {
        version: 1,
        contour: contour.name.clone(),
        dry_run: opts.dry_run,
        changes,
        files,
        warnings,
        remaining,
    })
}

fn fix_err(e: FixError) -> Error {
    Error::Fix(Box::new(e))
}

fn is_reused(
    key: &str,
    value: &str,
    contour: &Contour,
    all: &[ContourFiles<'_>],
    rules: &Rules,
) -> bool {
    rules.must_be_unique(key, contour)
        && all
            .iter()
            .filter(|c| c.contour.name != contour.name)
            .flat_map(|c| [c.backend.as_ref(), c.infra.as_ref()])
            .flatten()
            .any(|f| f.value(key) == Some(value))
}

/// Decide every intended value.
fn plan(
    rules: &Rules,
    contour: &Contour,
    b: &LoadedFile,
    i: &LoadedFile,
    all: &[ContourFiles<'_>],
    opts: &FixOptions,
) -> Vec<Want> {
    let side = |r: Repo| if r == Repo::Backend { b } else { i };
    let present = |r: Repo, k: &str| side(r).value(k).filter(|v| !v.is_empty());
    let mut keys: Vec<String> = rules.shared.clone();
    for k in rules.owners.keys() {
        if !keys.contains(k) && b.value(k).is_some() && i.value(k).is_some() {
            keys.push(k.clone());
        }
    }
    let mut wants = Vec::new();
    let mut intended: BTreeMap<String, String> = BTreeMap::new();
    for key in &keys {
        let shared = rules.shared.contains(key);
        let owner = opts.prefer.filter(|_| shared).or_else(|| rules.owner(key));
        let (value, why) = if *key == rules.port_key {
            (
                Some(contour.api_port.to_string()),
                format!("the {} contour's API port", contour.name),
            )
        } else {
            let from_owner = owner.and_then(|o| present(o, key).map(|v| (v, o)));
            let from_any = from_owner.or_else(|| {
                // No owner, or the owner lacks it: only an unambiguous value can be copied.
                match (present(Repo::Backend, key), present(Repo::Infra, key)) {
                    (Some(x), Some(y)) if x != y => None,
                    (Some(x), _) => Some((x, Repo::Backend)),
                    (None, Some(y)) => Some((y, Repo::Infra)),
                    (None, None) => None,
                }
            });
            let stale = match from_any {
                None => true,
                Some((v, _)) => {
                    rules.weakness(key, v).is_some() || is_reused(key, v, contour, all, rules)
                }
            };
            if opts.generate_secrets && rules.is_secret(key) && stale {
                (
                    Some(crate::secret::generate()),
                    "a new secret (--generate-secrets)".to_string(),
                )
            } else {
                match from_any {
                    Some((v, from)) => (Some(v.to_string()), format!("copied from {from}")),
                    None => (None, String::new()),
                }
            }
        };
        let Some(value) = value else { continue };
        intended.insert(key.clone(), value.clone());
        for repo in Repo::BOTH {
            let current = side(repo).value(key);
            let wanted_here = current.is_some() || shared || rules.is_required(repo, key);
            if wanted_here && current != Some(value.as_str()) {
                wants.push(Want {
                    repo,
                    key: key.clone(),
                    value: value.clone(),
                    why: why.clone(),
                });
            }
        }
    }
    if let Some(w) = database_url(rules, b, i, &intended) {
        wants.push(w);
    }
    wants
}

/// `DATABASE_URL` for the backend, when the current one is missing, unparsable, holds an
/// unexpanded reference, or disagrees with infra (after the fix).
fn database_url(
    rules: &Rules,
    b: &LoadedFile,
    i: &LoadedFile,
    intended: &BTreeMap<String, String>,
) -> Option<Want> {
    let r = &rules.database_url;
    let infra = |k: &str| {
        intended
            .get(k)
            .map(String::as_str)
            .or_else(|| i.value(k))
            .filter(|v| !v.is_empty())
    };
    let user = infra(&r.user_key).unwrap_or(&r.default_user).to_string();
    let password = infra(&r.password_key)?.to_string();
    let current = b.value(&r.key).filter(|v| !v.is_empty());
    let parsed = current
        .filter(|v| !(b.dialect == Dialect::NodeDotenv && has_reference(v)))
        .and_then(|v| parse_database_url(v).ok());
    let database = infra(&r.database_key)
        .map(str::to_string)
        .or_else(|| {
            parsed
                .as_ref()
                .map(|p| p.database.clone())
                .filter(|d| !d.is_empty())
        })
        .unwrap_or_else(|| user.clone());
    if let Some(p) = &parsed {
        let ok = p.host == r.host
            && p.port.unwrap_or(5432) == r.port
            && p.user == user
            && p.password == password
            && p.database == database;
        if ok {
            return None;
        }
    }
    if b.value(&r.key).is_none() && !rules.is_required(Repo::Backend, &r.key) {
        return None;
    }
    let scheme = parsed
        .as_ref()
        .map_or("postgresql", |p| p.scheme.as_str())
        .to_string();
    let query = current
        .and_then(|v| url::Url::parse(v).ok())
        .and_then(|u| u.query().map(str::to_string))
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let value = format!(
        "{scheme}://{}:{}@{}:{}/{}{query}",
        utf8_percent_encode(&user, USERINFO),
        utf8_percent_encode(&password, USERINFO),
        r.host,
        r.port,
        utf8_percent_encode(&database, USERINFO),
    );
    Some(Want {
        repo: Repo::Backend,
        key: r.key.clone(),
        value,
        why: format!(
            "rebuilt from infra {}/{}/{}",
            r.user_key, r.password_key, r.database_key
        ),
    })
}

/// Edit `side`'s file for `wants`. `None` when nothing changes.
fn apply(
    rules: &Rules,
    side: &LoadedFile,
    wants: &[&Want],
) -> Result<Option<(EnvFile, Vec<Change>)>, Error> {
    if wants.is_empty() {
        return Ok(None);
    }
    let refuse: Vec<(usize, String)> = side
        .parsed
        .invalid()
        .filter(|(_, p)| matches!(p, Problem::ConflictMarker | Problem::UnterminatedQuote))
        .map(|(l, p)| (l, p.to_string()))
        .chain(side.own.error.iter().map(|e| {
            (
                e.line,
                format!("{} rejects the file: {}", side.dialect, e.message),
            )
        }))
        .collect();
    if !refuse.is_empty() {
        return Err(fix_err(FixError::Refused {
            repo: side.repo,
            file: side.file.clone(),
            lines: refuse,
        }));
    }
    let mut file = side.parsed.clone();
    let mut changes = Vec::new();
    for w in wants {
        let winner = side.own.get(&w.key).map(|a| a.line);
        let existing = winner
            .and_then(|line| entry_at(&file, line))
            .and_then(|e| e.quote());
        let token =
            crate::quote::token_for_both(side.dialect, side.other_dialect, &w.value, existing)
                .map_err(|source| {
                    fix_err(FixError::Unquotable {
                        repo: side.repo,
                        file: side.file.clone(),
                        key: w.key.clone(),
                        source,
                    })
                })?;
        let (line, action) = match winner.filter(|&l| set_at(&mut file, l, &w.key, &token)) {
            Some(l) => (l, "set"),
            None => (file.append(&w.key, &token), "append"),
        };
        changes.push(Change {
            repo: side.repo,
            file: side.file.clone(),
            line,
            key: w.key.clone(),
            action,
            old: side.value(&w.key).map(|v| rules.display(&w.key, v)),
            new: rules.display(&w.key, &w.value),
            why: w.why.clone(),
        });
    }
    // Read the result back as the consumer will.
    let decoded = side.dialect.decode(&file.render(), &|_| None);
    for w in wants {
        if decoded.error.is_some()
            || decoded.get(&w.key).map(|a| a.value.as_str()) != Some(w.value.as_str())
        {
            return Err(fix_err(FixError::Verify {
                repo: side.repo,
                file: side.file.clone(),
                key: w.key.clone(),
            }));
        }
    }
    Ok(Some((file, changes)))
}

fn entry_at(file: &EnvFile, line: usize) -> Option<&crate::envfile::Entry> {
    file.entries().find(|e| e.line == line)
}

fn set_at(file: &mut EnvFile, line: usize, key: &str, token: &[u8]) -> bool {
    for item in &mut file.items {
        if let Item::Entry(e) = item {
            if e.line == line && e.key == key {
                e.value = token.to_vec();
                return true;
            }
        }
    }
    false
}

/// Keys whose values the diff may show: not declared secret and not named like one.
fn shown_in_diff(rules: &Rules, key: &str) -> bool {
    const SECRET_WORDS: [&str; 8] = [
        "PASS",
        "SECRET",
        "TOKEN",
        "KEY",
        "PRIVATE",
        "CREDENTIAL",
        "URL",
        "DSN",
    ];
    let upper = key.to_ascii_uppercase();
    !rules.is_secret(key) && !SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// The file as text with every value that could be secret replaced by its fingerprint.
fn masked(rules: &Rules, file: &EnvFile, dialect: Dialect) -> String {
    let decoded = dialect.decode(&file.render(), &|_| None);
    let mut out = String::new();
    for item in &file.items {
        match item {
            Item::Blank { raw, .. } | Item::Comment { raw, .. } => {
                out.push_str(&String::from_utf8_lossy(raw))
            }
            Item::Invalid { raw, line, problem } => {
                out.push_str(&format!(
                    "<line {line}: {problem}, {} bytes hidden>",
                    raw.len()
                ));
                if raw.ends_with(b"\n") {
                    out.push('\n');
                }
            }
            Item::Entry(e) => {
                out.push_str(&String::from_utf8_lossy(&e.prefix));
                out.push_str(&e.key);
                out.push_str(&String::from_utf8_lossy(&e.sep));
                if rules.show_values || shown_in_diff(rules, &e.key) {
                    out.push_str(&String::from_utf8_lossy(&e.value));
                } else {
                    let value = decoded
                        .assignments
                        .iter()
                        .find(|a| a.line == e.line && a.key == e.key)
                        .map_or_else(
                            || String::from_utf8_lossy(&e.value).into_owned(),
                            |a| a.value.clone(),
                        );
                    out.push_str(&format!("<{}>", fingerprint(&value)));
                }
                out.push_str(&String::from_utf8_lossy(&e.trail));
                out.push_str(&String::from_utf8_lossy(&e.eol));
            }
        }
    }
    out
}

fn masked_diff(rules: &Rules, side: &LoadedFile, edited: &EnvFile, name: &str) -> String {
    let old = masked(rules, &side.parsed, side.dialect);
    let new = masked(rules, edited, side.dialect);
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

/// Text output: the diff (dry run) or one line per change, warnings, then what `check` still
/// finds and a summary line.
pub fn render_text(
    o: &FixOutcome,
    color: bool,
    quiet: bool,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    use owo_colors::OwoColorize;
    if o.dry_run {
        for f in &o.files {
            if let Some(d) = &f.diff {
                out.write_all(d.as_bytes())?;
            }
        }
    }
    if !quiet {
        for c in &o.changes {
            let verb = match (o.dry_run, c.action) {
                (true, "append") => "would append",
                (true, _) => "would set",
                (false, "append") => "appended",
                (false, _) => "set",
            };
            let old = c
                .old
                .as_deref()
                .map(|v| format!(" (was {v})"))
                .unwrap_or_default();
            writeln!(
                out,
                "{} {}:{}: {verb} {} = {}{old}; {}",
                c.repo, c.file, c.line, c.key, c.new, c.why
            )?;
        }
    }
    for w in &o.warnings {
        let head = if color {
            "warning".yellow().bold().to_string()
        } else {
            "warning".into()
        };
        writeln!(out, "{head}: {w}")?;
    }
    let remaining: Vec<_> = o.remaining.findings.iter().collect();
    if !remaining.is_empty() {
        crate::report::render_text(&o.remaining, color, quiet, out)?;
    }
    let files = crate::report::plural(o.files.len(), "file");
    let values = crate::report::plural(o.changes.len(), "value");
    let line = match (o.dry_run, o.changed()) {
        (_, false) => format!("nothing to fix in the {} contour", o.contour),
        (true, true) => format!("would change {values} in {files} (dry run: nothing written)"),
        (false, true) => {
            let backups: Vec<String> = o
                .files
                .iter()
                .filter_map(|f| f.backup.as_ref())
                .map(|b| b.display().to_string())
                .collect();
            let kept = if backups.is_empty() {
                String::new()
            } else {
                format!("; backups: {}", backups.join(", "))
            };
            format!("changed {values} in {files}{kept}")
        }
    };
    writeln!(out, "{line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_encoding_round_trips_url_special_characters() {
        for pw in ["p@ss:w/rd#?%$=", "prd-Qz7#Lm2@Vx9!Kw4", "ü ñ+&;", "plain"] {
            let url = format!(
                "postgresql://u:{}@db:5432/x",
                utf8_percent_encode(pw, USERINFO)
            );
            let parts = parse_database_url(&url).unwrap();
            assert_eq!(parts.password, pw);
            assert_eq!(parts.host, "db");
        }
    }
}
