//! The staged-content guard: what the commit would contain (HEAD to the index), inspected for
//! secret env files, real-looking secrets in examples and conflict markers.

use crate::config::Rules;
use crate::dialect::Dialect;
use crate::envfile::{EnvFile, Problem};
use crate::finding::{Finding, Location, RuleCode};
use crate::model::Repo;
use crate::source::StagedChange;

/// Is this path an env file that holds real secrets (not an example/template/sample)?
pub fn classify(path: &str) -> Option<EnvKind> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = path.to_ascii_lowercase();
    let envish = name == ".env"
        || name.starts_with(".env.")
        || name.starts_with("env.")
        || name.ends_with(".env");
    if !envish {
        return None;
    }
    if ["example", "sample", "template", ".dist"]
        .iter()
        .any(|w| lower.contains(w))
    {
        Some(EnvKind::Example)
    } else {
        Some(EnvKind::Secret)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvKind {
    Secret,
    Example,
}

/// Findings about the staged files themselves: secret env files being committed, real-looking
/// secrets in examples, conflict markers. Reads the index; writes nothing.
pub fn guard(
    staged: &[StagedChange],
    repo_kind: Repo,
    dialect: Dialect,
    rules: &Rules,
) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    // `[rule.*]` settings apply here too: a disabled rule finds nothing, a severity is kept.
    let mut push = |code: RuleCode, key: Option<&str>, message: String, file: &str, line| {
        if let Some(severity) = rules.base_severity(code) {
            out.push(Finding {
                code,
                severity,
                contour: None,
                key: key.map(str::to_string),
                message,
                locations: vec![Location {
                    repo: repo_kind,
                    file: file.to_string(),
                    line,
                }],
            });
        }
    };
    for change in staged {
        let path = change.path.as_str();
        let Some(kind) = classify(path) else { continue };
        if kind == EnvKind::Secret {
            push(
                RuleCode::StagedSecretFile,
                None,
                format!(
                    "{path} is staged: it holds the contour's secrets and must not be committed. Unstage it with `git rm --cached -- {path}` and ignore it (add `{path}` or `.env*` with `!*.example` to .gitignore)"
                ),
                path,
                1,
            );
            continue;
        }
        let Some(content) = change.content.as_deref() else {
            continue; // a symbolic link: its target is checked where it is staged
        };
        let parsed = EnvFile::parse(content);
        for (line, problem) in parsed.invalid() {
            if problem == Problem::ConflictMarker {
                push(
                    RuleCode::Syntax,
                    None,
                    format!("{path}:{line}: merge-conflict marker staged; resolve the conflict and `git add` the file again"),
                    path,
                    line,
                );
            }
        }
        let decoded = dialect.decode(content, &|_| None);
        for a in decoded.variables() {
            if rules.is_secret(&a.key) && crate::secret::looks_real(&a.value, &rules.placeholders) {
                push(
                    RuleCode::SecretInExample,
                    Some(&a.key),
                    format!(
                        "{} in {path}:{} looks like a real secret ({} chars, high entropy); examples must hold placeholders such as `your_{}`",
                        a.key,
                        a.line,
                        a.value.chars().count(),
                        a.key.to_ascii_lowercase()
                    ),
                    path,
                    a.line,
                );
            }
        }
    }
    // Conflict markers in staged secret files are caught by `check --staged` (syntax).
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_env_files() {
        assert_eq!(classify(".env"), Some(EnvKind::Secret));
        assert_eq!(classify("sub/.env.production"), Some(EnvKind::Secret));
        assert_eq!(classify("env.prod.example"), Some(EnvKind::Example));
        assert_eq!(classify(".env.example"), Some(EnvKind::Example));
        assert_eq!(
            classify(".env-templates/.env.production"),
            Some(EnvKind::Example)
        );
        assert_eq!(classify("src/environment.ts"), None);
    }
}
