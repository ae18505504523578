//! The compose side of `fix`: what the db and api containers really get. A value decided by a
//! plain `environment:` entry of a compose file is rewritten in place (its YAML quoting kept,
//! every other byte untouched); a value decided anywhere else (an interpolated `${VAR}`, an
//! env_file envsync does not edit, a secret that would be committed) is refused, naming the line.

use std::collections::BTreeMap;

use crate::check::compose::{container_vars, ContainerVar};
use crate::compose::yaml::{self, Style};
use crate::compose::{EnvSource, Project};
use crate::config::Rules;
use crate::load::files::Origin;
use crate::load::ContourFiles;
use crate::mask::Mask;
use crate::model::Repo;

use super::{Change, ChangeKind, Refusal};

/// One edit of a compose file: the scalar at `span` (characters) becomes `text`.
#[derive(Debug, Clone)]
pub(super) struct Edit {
    pub file: String,
    pub span: (usize, usize),
    pub text: String,
    /// The service and key, to verify the edit reads back.
    pub service: String,
    pub key: String,
    pub value: String,
    pub change: Change,
}

/// `$` is compose's interpolation character: a literal one is written `$$`.
fn escape_dollars(v: &str) -> String {
    v.replace('$', "$$")
}

/// Can `v` be written as a plain scalar that compose reads back as `v`? Not when YAML would
/// type it (`010` is 8, `True` is `true`, `1e3` is `1000`, `null` is nothing).
fn plain_ok(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./@+-".contains(&b))
        // `@` is reserved at the start of a plain scalar; a lone `-` starts a sequence entry.
        && !v.starts_with('@')
        && v != "-"
        && !matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n" | "~"
        )
        && yaml::resolve_plain(v).is_ok_and(|r| r.is_none() || r.as_deref() == Some(v))
}

/// The YAML scalar for `v` in `style` (a plain scalar that would not read back is quoted).
fn scalar(v: &str, style: Style) -> Option<String> {
    // In single quotes a line break is folded into a space and nothing can be escaped: a value
    // with a break or a control character is double-quoted instead.
    let single_ok = !v.chars().any(|c| c.is_control() || is_yaml_break(c));
    match style {
        Style::Plain if plain_ok(v) => Some(v.to_string()),
        Style::Single if single_ok => Some(format!("'{}'", v.replace('\'', "''"))),
        Style::Plain | Style::Single | Style::Double => {
            let mut s = String::from("\"");
            for c in v.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    '\n' => s.push_str("\\n"),
                    '\t' => s.push_str("\\t"),
                    '\r' => s.push_str("\\r"),
                    c if c.is_control() || is_yaml_break(c) => {
                        s.push_str(&format!("\\u{:04x}", c as u32))
                    }
                    c => s.push(c),
                }
            }
            s.push('"');
            Some(s)
        }
        Style::Block => None,
    }
}

/// Characters a YAML reader may take as a line break (YAML 1.1's NEL, LS and PS).
fn is_yaml_break(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Plan the compose edits and refusals for the contour's db and api services. `desired` holds
/// the backend's values after the env-file part of the fix.
pub(super) fn plan(
    rules: &Rules,
    mask: &Mask,
    project: &Project,
    cf: &ContourFiles<'_>,
    desired: &BTreeMap<String, String>,
    others: &[(String, Vec<String>)],
    read: &dyn Fn(&str) -> Option<String>,
) -> (Vec<Edit>, Vec<Refusal>) {
    let mut edits = Vec::new();
    let mut refused = Vec::new();
    let url_key = rules.database_url.key.as_str();
    for ContainerVar {
        consumer,
        key,
        received,
    } in container_vars(rules, cf)
    {
        let (what, name) = (consumer.role().name(), consumer.name());
        let Origin::Compose(var) = received.from else {
            continue;
        };
        let Some(want) = desired.get(key) else {
            continue;
        };
        if var.value.as_deref() == Some(want.as_str()) {
            continue;
        }
        let refuse = |message: String| Refusal {
            repo: var.at.repo,
            file: var.at.file.clone(),
            line: var.at.line,
            key: key.to_string(),
            message,
        };
        let EnvSource::Environment {
            span: Some(span),
            style: Some(style),
            list,
        } = &var.source
        else {
            let why = match var.source {
                EnvSource::EnvFile => format!(
                    "the {what} container `{name}` reads {key} from this env_file line, which is not one of the contour's env files envsync edits; change it, or point env_file at the contour's file"
                ),
                EnvSource::Environment { .. } => format!(
                    "the {what} container `{name}` takes {key} from the environment compose runs in (`{key}` without a value); define it in the file compose reads for interpolation"
                ),
            };
            refused.push(refuse(why));
            continue;
        };
        if let Some(how) = project
            .services
            .get(name)
            .and_then(|s| s.inherited.get(key))
        {
            refused.push(refuse(format!(
                "the {what} container `{name}` gets {key} from this `environment:` entry through {how}; editing it would change every service that reaches it that way: set {key} in `{name}`'s own `environment:` instead"
            )));
            continue;
        }
        let Some(text) = read(&var.at.file) else {
            continue;
        };
        let raw: String = text.chars().skip(span.0).take(span.1 - span.0).collect();
        if raw.contains('$') {
            let reads = match project.env_files.as_slice() {
                [] => format!("`{}`", crate::compose::join(&project.dir, ".env")),
                files => files
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            refused.push(refuse(format!(
                "the {what} container `{name}` gets {key} through `${{…}}` interpolation here; envsync does not rewrite interpolated compose values: define the variable in {reads} (what compose interpolates from), or take the value from an env_file"
            )));
            continue;
        }
        let sharing: Vec<&str> = others
            .iter()
            .filter(|(_, files)| files.contains(&var.at.file))
            .map(|(c, _)| c.as_str())
            .collect();
        if !sharing.is_empty() {
            refused.push(refuse(format!(
                "the {what} container `{name}` gets {key} from this `environment:` entry, but {} also use{} this file; editing it would change {}: move the entry to the {} contour's own compose file",
                sharing.join(" and "),
                if sharing.len() == 1 { "s" } else { "" },
                if sharing.len() == 1 { "that contour" } else { "those contours" },
                cf.contour.name
            )));
            continue;
        }
        if mask.is_secret(key) || key == url_key {
            refused.push(refuse(format!(
                "the {what} container `{name}` gets {key} from this `environment:` entry, written in a compose file that is committed; envsync does not write secrets there: replace it with an env_file (e.g. the contour's env file) and run fix again"
            )));
            continue;
        }
        let body = if *list {
            format!("{key}={}", escape_dollars(want))
        } else {
            escape_dollars(want)
        };
        let Some(new) = scalar(&body, *style) else {
            refused.push(refuse(format!(
                "{key} is a block scalar here; envsync does not rewrite those: edit the line by hand"
            )));
            continue;
        };
        let edit = Edit {
            file: var.at.file.clone(),
            span: *span,
            text: new,
            service: name.to_string(),
            key: key.to_string(),
            value: want.clone(),
            change: Change {
                repo: Repo::Infra,
                file: var.at.file.clone(),
                line: var.at.line,
                key: key.to_string(),
                action: ChangeKind::Set,
                old: var.value.as_deref().map(|v| mask.value(key, v)),
                new: mask.value(key, want),
                why: format!("what the {what} container `{name}` gets must be the backend's value"),
            },
        };
        // Read back what would be written with the same YAML reader: a value it would read
        // as anything else is refused, never written.
        if apply(&text, &[&edit]).is_err() {
            refused.push(refuse(format!(
                "the {what} container `{name}` gets {key} from this `environment:` entry, and no quoting envsync tried makes compose read the intended value back exactly; edit the line by hand"
            )));
            continue;
        }
        edits.push(edit);
    }
    (edits, refused)
}

/// Apply the edits of one file (spans in characters) and verify each reads back as intended.
pub(super) fn apply(text: &str, edits: &[&Edit]) -> Result<String, String> {
    let mut sorted: Vec<&&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.span.0));
    let byte = |chars: usize| {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(b, _)| b)
    };
    let mut out = text.to_string();
    for e in sorted {
        let (a, b) = (byte(e.span.0), byte(e.span.1));
        out.replace_range(a..b, &e.text);
    }
    let root = crate::compose::yaml11::parse(&out).map_err(|e| e.message)?;
    for e in edits {
        let env = root
            .get("services")
            .and_then(|s| s.get(&e.service))
            .and_then(|s| s.get("environment"))
            .ok_or_else(|| e.key.clone())?;
        let got = if let Some(v) = env.get(&e.key) {
            v.as_str().map(str::to_string)
        } else {
            env.as_seq().and_then(|items| {
                items.iter().find_map(|i| {
                    i.as_str()?
                        .split_once('=')
                        .filter(|(k, _)| *k == e.key)
                        .map(|(_, v)| v.to_string())
                })
            })
        };
        if got.map(|g| g.replace("$$", "$")) != Some(e.value.clone()) {
            return Err(e.key.clone());
        }
    }
    Ok(out)
}

/// The compose file as the dry run shows it: values of hidden keys replaced.
pub(super) fn masked(mask: &Mask, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        let body = body.strip_prefix('#').unwrap_or(body).trim_start();
        let body = body.strip_prefix('-').unwrap_or(body).trim_start();
        let body = body.trim_start_matches(['"', '\'']);
        let key_len = body
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let rest = &body[key_len..];
        if key_len > 0
            && (rest.starts_with(':') || rest.starts_with('='))
            && mask.hides_value(&body[..key_len], rest)
        {
            let cut = line.len() - rest.len() + 1;
            let eol = if line.ends_with('\n') { "\n" } else { "" };
            out.push_str(&line[..cut]);
            out.push_str(" <hidden>");
            out.push_str(eol);
        } else if mask.touches(line) {
            out.push_str("<a line holding a secret, hidden>");
            out.push_str(if line.ends_with('\n') { "\n" } else { "" });
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_keep_their_style_and_read_back() {
        for (v, style) in [
            ("3200", Style::Plain),
            ("a b#c", Style::Plain),
            ("it's", Style::Single),
            ("q\"\\x", Style::Double),
            ("true", Style::Plain),
            ("010", Style::Plain),
            ("1.10", Style::Plain),
            ("2001-12-14", Style::Plain),
            // Issue 19, F6: YAML indicators, typed words and line breaks in every style.
            ("@daily", Style::Plain),
            ("-", Style::Plain),
            ("-", Style::Single),
            ("yes", Style::Plain),
            ("0755", Style::Plain),
            ("*x", Style::Plain),
            (": ", Style::Plain),
            ("a: b", Style::Plain),
            ("#x", Style::Plain),
            ("# x", Style::Double),
            ("a\nb", Style::Plain),
            ("a\nb", Style::Single),
            ("a\nb", Style::Double),
            ("a\u{85}b\u{2028}c", Style::Single),
            ("&anchor", Style::Plain),
            ("!tag", Style::Plain),
            ("%x", Style::Plain),
            ("`x", Style::Plain),
            ("|", Style::Plain),
            (">", Style::Plain),
            ("[a]", Style::Plain),
            ("{a}", Style::Plain),
            (" lead", Style::Plain),
            ("trail ", Style::Single),
        ] {
            let s = scalar(v, style).unwrap();
            let doc = format!("k: {s}\n");
            let root = yaml::parse(&doc).unwrap();
            assert_eq!(root.get("k").unwrap().as_str(), Some(v), "{doc}");
        }
        assert_eq!(scalar("3200", Style::Plain).unwrap(), "3200");
        assert_eq!(scalar("x", Style::Single).unwrap(), "'x'");
    }

    #[test]
    fn hidden_keys_are_masked_in_compose_text() {
        let mask = Mask::new(false, vec!["*PASSWORD*".into()], vec![], vec![]);
        let t = "    environment:\n      POSTGRES_PASSWORD: s3cret\n      - \"DB_PASSWORD=x\"\n      PORT: 1\n";
        let m = masked(&mask, t);
        assert!(!m.contains("s3cret") && !m.contains("=x"), "{m}");
        assert!(m.contains("PORT: 1"), "{m}");
    }
}
