//! Editing: each wanted value written into the lossless model of its file (the value token of
//! the winning line, or an appended line), then the whole file decoded again to verify it.

use crate::envfile::{EnvFile, Item, Problem};
use crate::load::LoadedFile;
use crate::mask::Mask;

use super::{Change, ChangeKind, FixError, Want};

/// Edit `side`'s file for `wants`. `None` when nothing changes.
pub(super) fn apply(
    mask: &Mask,
    side: &LoadedFile,
    wants: &[&Want],
) -> Result<Option<(EnvFile, Vec<Change>)>, FixError> {
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
        return Err(FixError::Refused {
            repo: side.repo,
            file: side.file.clone(),
            lines: refuse,
        });
    }
    let mut file = side.parsed.clone();
    let mut changes = Vec::new();
    for w in wants {
        let winner = side.own.get(&w.key).map(|a| a.line);
        let existing = winner
            .and_then(|line| entry_at(&file, line))
            .and_then(|e| e.quote());
        let token =
            super::quote::token_for_both(side.dialect, side.other_dialect, &w.value, existing)
                .map_err(|source| FixError::Unquotable {
                    repo: side.repo,
                    file: side.file.clone(),
                    key: w.key.clone(),
                    source,
                })?;
        let (line, action) = match winner.filter(|&l| set_at(&mut file, l, &w.key, &token)) {
            Some(l) => (l, ChangeKind::Set),
            None => (file.append(&w.key, &token), ChangeKind::Append),
        };
        changes.push(Change {
            repo: side.repo,
            file: side.file.clone(),
            line,
            key: w.key.clone(),
            action,
            old: side.value(&w.key).map(|v| mask.value(&w.key, v)),
            new: mask.value(&w.key, &w.value),
            why: w.why.clone(),
        });
    }
    // Read the result back as the consumer will.
    let decoded = side.dialect.decode(&file.render(), &|n| side.env.lookup(n));
    for w in wants {
        if decoded.error.is_some()
            || decoded.get(&w.key).map(|a| a.value.as_str()) != Some(w.value.as_str())
        {
            return Err(FixError::Verify {
                repo: side.repo,
                file: side.file.clone(),
                key: w.key.clone(),
            });
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
                // `KEY="abc"-rest`: what follows the token is part of what a consumer reads,
                // so it goes with the old value; a comment stays.
                if !super::diff::is_blank_or_comment(&e.trail) {
                    e.trail.clear();
                }
                return true;
            }
        }
    }
    false
}
