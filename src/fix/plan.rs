//! Planning: the value each key should have in each repo of the contour.

use std::collections::BTreeMap;

use crate::config::Rules;
use crate::dburl::DbUrl;
use crate::dialect::has_reference;
use crate::dialect::Dialect;
use crate::load::{ContourFiles, LoadedFile};
use crate::model::{Contour, Repo};

use super::{FixOptions, Refusal, Want};

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

/// Does a token hold a `$NAME` or `${…}` reference (a `$` not escaped as `$$`)?
fn has_unescaped_reference(token: &[u8]) -> bool {
    let mut i = 0;
    while i < token.len() {
        if token[i] != b'$' {
            i += 1;
            continue;
        }
        let run = token[i..].iter().take_while(|&&c| c == b'$').count();
        let next = token.get(i + run);
        if run % 2 == 1 && next.is_some_and(|&c| c == b'{' || c == b'_' || c.is_ascii_alphabetic())
        {
            return true;
        }
        i += run;
    }
    false
}

/// Why `key`'s value in `f` cannot be copied: its line is not valid, or (unless the user chose
/// this side with `--prefer`) its consumer reads something other than what is written there: a
/// `$` that compose interpolates, a `#` that cuts the value short.
fn untrusted(f: &LoadedFile, key: &str, chosen: bool, mask: &crate::mask::Mask) -> Option<Refusal> {
    let a = f.own.get(key)?;
    let refusal = |message: String| Refusal {
        repo: f.repo,
        file: f.file.clone(),
        line: a.line,
        key: key.to_string(),
        message,
    };
    if let Some((_, problem)) = f.parsed.invalid().find(|(l, _)| *l == a.line) {
        return Some(refusal(format!(
            "its line is not valid ({problem}), so its value cannot be trusted; repair the line first"
        )));
    }
    if chosen {
        return None;
    }
    let e = f
        .parsed
        .entries()
        .find(|e| e.line == a.line && e.key == key)?;
    let quote = e.quote();
    let comment_cut = quote.is_none()
        && mask.is_secret(key)
        && e.trail.first().is_some_and(u8::is_ascii_whitespace)
        && e.trail.trim_ascii_start().starts_with(b"#");
    let why = match f.dialect {
        crate::dialect::Dialect::Compose | crate::dialect::Dialect::Dotenvy
            if quote != Some(b'\'') && has_unescaped_reference(&e.value) =>
        {
            format!("a `$` that {} interpolates", f.dialect)
        }
        crate::dialect::Dialect::NodeDotenv if quote.is_none() && e.value.contains(&b'#') => {
            "a `#` that starts a comment for node dotenv".to_string()
        }
        _ if comment_cut => "a ` #` that ends the value as a comment".to_string(),
        _ => return None,
    };
    let mut written = String::from_utf8_lossy(&e.value).into_owned();
    if comment_cut {
        written.push_str(&String::from_utf8_lossy(&e.trail));
    }
    Some(refusal(format!(
        "{} reads it as {}, but the line holds {} ({why}), so it is not copied. Decide which is meant: quote the line (single quotes keep it as written), or choose a side with --prefer backend|infra",
        f.dialect,
        mask.value(key, &a.value),
        mask.value(key, &written),
    )))
}

/// A line the consumer reads `key` from but envsync cannot edit (`KEY: value`).
fn uneditable(f: &LoadedFile, key: &str) -> Option<Refusal> {
    let a = f.own.get(key)?;
    if f.parsed.entries().any(|e| e.line == a.line && e.key == key) {
        return None;
    }
    Some(Refusal {
        repo: f.repo,
        file: f.file.clone(),
        line: a.line,
        key: key.to_string(),
        message: format!(
            "{} reads {key} from this line, which is not in the KEY=value form envsync edits; rewrite it as {key}=… and run fix again",
            f.dialect
        ),
    })
}

/// Decide every intended value, and the keys refused.
pub(super) fn plan(
    rules: &Rules,
    contour: &Contour,
    b: &LoadedFile,
    i: &LoadedFile,
    all: &[ContourFiles<'_>],
    opts: &FixOptions,
    mask: &crate::mask::Mask,
) -> (Vec<Want>, Vec<Refusal>) {
    let mut refused: Vec<Refusal> = Vec::new();
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
            // A value copied from a line that cannot be trusted is refused, not spread.
            if let Some((_, from)) = from_any {
                let chosen = opts.prefer == Some(from) && shared;
                if let Some(r) = untrusted(side(from), key, chosen, mask) {
                    refused.push(r);
                    continue;
                }
            }
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
    // DATABASE_URL is rebuilt only from values that were not refused.
    let r = &rules.database_url;
    let refused_parts = [&r.user_key, &r.password_key, &r.database_key]
        .iter()
        .any(|k| refused.iter().any(|x| &x.key == *k));
    if !refused_parts {
        if let Some(w) = database_url(rules, b, i, &intended) {
            wants.push(w);
        }
    }
    // A value the consumer reads from a line envsync cannot edit: refused, not appended twice.
    wants.retain(|w| match uneditable(side(w.repo), &w.key) {
        Some(r) => {
            if !refused.iter().any(|x| x.key == r.key && x.repo == r.repo) {
                refused.push(r);
            }
            false
        }
        None => true,
    });
    (wants, refused)
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
    let written = current.and_then(|v| DbUrl::parse(v).ok());
    // A reference node dotenv leaves unexpanded is no value to keep (its query still is).
    let parsed = written
        .clone()
        .filter(|_| !current.is_some_and(|v| b.dialect == Dialect::NodeDotenv && has_reference(v)));
    let database = infra(&r.database_key)
        .map(str::to_string)
        .or_else(|| {
            parsed
                .as_ref()
                .map(|p| p.database().to_string())
                .filter(|d| !d.is_empty())
        })
        .unwrap_or_else(|| user.clone());
    if let Some(p) = &parsed {
        let ok = p.host() == r.host
            && p.port_or_default() == r.port
            && p.user() == user
            && p.password().unwrap_or("") == password
            && p.database() == database;
        if ok {
            return None;
        }
    }
    if b.value(&r.key).is_none() && !rules.is_required(Repo::Backend, &r.key) {
        return None;
    }
    // The scheme and the query (`?schema=public`) of the current URL stay.
    let value = DbUrl::build(
        parsed.as_ref().map_or("postgresql", DbUrl::scheme),
        (&user, &password),
        (&r.host, r.port),
        &database,
        written.as_ref().and_then(DbUrl::query),
    )
    .ok()?
    .expose()
    .to_string();
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
