//! `--format github`: one GitHub Actions workflow command per finding, which the runner turns
//! into an annotation on the file and line (`::error file=…,line=…,title=…::message`), then the
//! summary line.
//!
//! envsync reads two repos, and an annotation can only land on a file of the checkout the
//! workflow runs in. [`Anchors`] says, per repo, where its root is relative to that checkout
//! (`$GITHUB_WORKSPACE`, else the current directory): a location in a repo inside it is
//! annotated on its file (`infra/.env.prod` when the infra repo is checked out at `infra/`);
//! a finding with no such location gets an annotation without a file rather than one on a
//! same-named file of the wrong repo. The message always ends with every location.
//!
//! Escaping is GitHub's (`@actions/core`'s `escapeData` and `escapeProperty`): in the message
//! `%`, CR and LF; in a property also `:` and `,`. Text from files is first made safe to print
//! ([`crate::mask::sanitize`]), so no line break, colour or reordering survives either way.

use std::io::{self, Write};
use std::path::Path;

use crate::finding::{Finding, Location, Report, Severity};
use crate::mask::sanitize;
use crate::model::PerRepo;

use super::check::{locations, summary};

/// Per repo, its root's path relative to the workflow's checkout (`""` when it is the
/// checkout), or `None` when it is not inside it (or is a remote).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Anchors(pub PerRepo<Option<String>>);

impl Anchors {
    /// Each repo root given as a path, relative to `workspace` if it lies inside it. Both are
    /// resolved first (symlinks, `..`), so `./backend` and `/abs/backend` agree.
    pub fn new(workspace: &Path, roots: PerRepo<Option<&Path>>) -> Anchors {
        let resolve = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let workspace = resolve(workspace);
        Anchors(PerRepo::from_fn(|repo| {
            let root = resolve((*roots.get(repo))?);
            let rel = root.strip_prefix(&workspace).ok()?;
            let parts: Option<Vec<&str>> =
                rel.components().map(|c| c.as_os_str().to_str()).collect();
            Some(parts?.join("/"))
        }))
    }

    /// The path GitHub should annotate for `l`, if its repo is in the checkout.
    fn path(&self, l: &Location) -> Option<String> {
        let prefix = self.0.get(l.repo).as_deref()?;
        Some(if prefix.is_empty() {
            l.file.clone()
        } else {
            format!("{prefix}/{}", l.file)
        })
    }

    /// The first location of `f` that GitHub can annotate, and its path.
    fn anchor<'a>(&self, f: &'a Finding) -> Option<(&'a Location, String)> {
        f.locations
            .iter()
            .find_map(|l| self.path(l).map(|p| (l, p)))
    }
}

/// `%`, CR and LF escaped, as in a workflow command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// [`escape_data`], and `:` and `,`, as in a workflow command's property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One workflow command for `f`.
pub fn command(f: &Finding, anchors: &Anchors) -> String {
    let name = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut props = Vec::new();
    if let Some((l, path)) = anchors.anchor(f) {
        props.push(format!("file={}", escape_property(&sanitize(&path))));
        if l.line > 0 {
            props.push(format!("line={}", l.line));
        }
    }
    let title = match &f.contour {
        Some(c) => format!("envsync {} ({c})", f.code.name()),
        None => format!("envsync {}", f.code.name()),
    };
    props.push(format!("title={}", escape_property(&sanitize(&title))));
    let mut message = sanitize(&f.message);
    if !f.locations.is_empty() {
        message = format!("{message} ({})", locations(f));
    }
    format!("::{name} {}::{}", props.join(","), escape_data(&message))
}

/// Every finding as a command, then the summary line (`2 errors, 0 warnings (…)`).
pub fn commands(report: &Report, anchors: &Anchors, out: &mut dyn Write) -> io::Result<()> {
    for f in &report.findings {
        writeln!(out, "{}", command(f, anchors))?;
    }
    writeln!(out, "{}", summary(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::RuleCode;
    use crate::model::Repo;

    fn finding(contour: Option<&str>, message: &str, locs: &[(Repo, &str, usize)]) -> Finding {
        super::super::test_finding(RuleCode::ValueMismatch, contour, "PORT", message, locs)
    }

    fn at_root() -> Anchors {
        Anchors(PerRepo::new(Some(String::new()), None))
    }

    #[test]
    fn data_escapes_percent_cr_lf_and_nothing_else() {
        assert_eq!(escape_data("100%"), "100%25");
        assert_eq!(escape_data("a\rb"), "a%0Db");
        assert_eq!(escape_data("a\nb"), "a%0Ab");
        assert_eq!(escape_data("a\r\nb"), "a%0D%0Ab");
        // `%` first: an escape already in the text is not read as one.
        assert_eq!(escape_data("%0A"), "%250A");
        assert_eq!(escape_data("k: v, w"), "k: v, w");
    }

    #[test]
    fn properties_also_escape_colon_and_comma() {
        assert_eq!(escape_property("a:b"), "a%3Ab");
        assert_eq!(escape_property("a,b"), "a%2Cb");
        assert_eq!(escape_property("%"), "%25");
        assert_eq!(escape_property("\r\n"), "%0D%0A");
        assert_eq!(escape_property("x::error y"), "x%3A%3Aerror y");
    }

    #[test]
    fn a_command_names_file_line_and_title_and_ends_with_the_locations() {
        let f = finding(
            Some("prod"),
            "PORT differs",
            &[
                (Repo::Backend, ".env.production", 4),
                (Repo::Infra, ".env.prod", 9),
            ],
        );
        assert_eq!(
            command(&f, &at_root()),
            "::error file=.env.production,line=4,title=envsync value-mismatch (prod)::PORT differs (backend .env.production:4, infra .env.prod:9)"
        );
    }

    #[test]
    fn each_property_is_escaped_on_its_own() {
        // A file and a contour holding `:` and `,`; a message holding `%`, `,` and `:`.
        let f = finding(
            Some("eu,west:1"),
            "50% off, now: PORT",
            &[(Repo::Backend, "a,b:c.env", 2)],
        );
        let c = command(&f, &at_root());
        let (head, message) = c
            .split_once("::")
            .map(|(_, rest)| rest.split_once("::").unwrap())
            .unwrap();
        let props: Vec<&str> = head.strip_prefix("error ").unwrap().split(',').collect();
        assert_eq!(
            props,
            [
                "file=a%2Cb%3Ac.env",
                "line=2",
                "title=envsync value-mismatch (eu%2Cwest%3A1)"
            ]
        );
        assert_eq!(message, "50%25 off, now: PORT (backend a,b:c.env:2)");
    }

    #[test]
    fn line_breaks_in_file_text_cannot_start_a_command() {
        let f = finding(
            Some("prod"),
            "key\n::error::forged\r",
            &[(Repo::Backend, "x\n::warning::y", 1)],
        );
        let c = command(&f, &at_root());
        assert_eq!(c.lines().count(), 1, "{c}");
        assert!(!c.contains('\r'), "{c}");
        assert!(!c.chars().any(crate::mask::is_forging), "{c:?}");
    }

    #[test]
    fn a_repo_outside_the_checkout_gives_no_file() {
        let f = finding(Some("prod"), "m", &[(Repo::Infra, ".env.prod", 3)]);
        let c = command(&f, &at_root());
        assert!(
            c.starts_with("::error title=envsync value-mismatch (prod)::m"),
            "{c}"
        );
        // With the infra repo checked out at `infra/`, the same finding lands on its file.
        let both = Anchors(PerRepo::new(Some("backend".into()), Some("infra".into())));
        assert!(
            command(&f, &both).starts_with("::error file=infra/.env.prod,line=3,"),
            "{}",
            command(&f, &both)
        );
    }

    #[test]
    fn the_first_location_in_the_checkout_is_the_anchor_and_line_zero_is_no_line() {
        let f = finding(
            None,
            "m",
            &[(Repo::Infra, ".env.prod", 3), (Repo::Backend, ".env", 0)],
        );
        assert_eq!(
            command(&f, &at_root()),
            "::error file=.env,title=envsync value-mismatch::m (infra .env.prod:3, backend .env:0)"
        );
    }

    #[test]
    fn anchors_are_roots_relative_to_the_workspace() {
        let d = tempfile::tempdir().unwrap();
        let (b, i) = (d.path().join("backend"), d.path().join("infra/sub"));
        std::fs::create_dir_all(&b).unwrap();
        std::fs::create_dir_all(&i).unwrap();
        let a = Anchors::new(d.path(), PerRepo::new(Some(b.as_path()), Some(i.as_path())));
        assert_eq!(
            a.0,
            PerRepo::new(Some("backend".into()), Some("infra/sub".into()))
        );
        let a = Anchors::new(&b, PerRepo::new(Some(b.as_path()), Some(i.as_path())));
        assert_eq!(a.0, PerRepo::new(Some(String::new()), None));
        let a = Anchors::new(&b, PerRepo::new(None, None));
        assert_eq!(a.0, PerRepo::new(None, None));
    }
}
