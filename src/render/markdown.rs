//! `--format markdown`: the report as GitHub-flavoured Markdown for a job summary
//! (`>> "$GITHUB_STEP_SUMMARY"`): per contour checked a table of its findings (severity, code,
//! key, message, locations), the findings of no contour (the hook's staged files) last, then
//! the summary line.
//!
//! Every piece of text from a file (a key, a message, a path, a contour's name) goes through
//! [`cell`]: made safe to print, then `|`, backticks, emphasis and link brackets escaped and
//! `<`, `>`, `&` written as entities, so a name cannot end a cell, open a code span, a link
//! or an HTML tag.

use std::io::{self, Write};

use crate::finding::{Finding, Report};
use crate::mask::sanitize;

use super::check::{locations, summary};

/// `s` as inert text in a table cell or a heading.
pub fn cell(s: &str) -> String {
    let s = sanitize(s);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // `sanitize` has already made them visible; a cell must stay on its line anyway.
            '\r' | '\n' => out.push(' '),
            '|' | '`' | '\\' | '*' | '_' | '[' | ']' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn table(findings: &[&Finding], out: &mut dyn Write) -> io::Result<()> {
    if findings.is_empty() {
        return writeln!(out, "No findings.\n");
    }
    writeln!(out, "| Severity | Code | Key | Message | Locations |")?;
    writeln!(out, "| --- | --- | --- | --- | --- |")?;
    for f in findings {
        writeln!(
            out,
            "| {} | `{}` | {} | {} | {} |",
            f.severity.name(),
            f.code.name(),
            cell(f.key.as_deref().unwrap_or("")),
            cell(&f.message),
            cell(&locations(f)),
        )?;
    }
    writeln!(out)
}

/// The whole report.
pub fn report(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "## envsync\n")?;
    for contour in &report.contours {
        let mine: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.contour.as_ref() == Some(contour))
            .collect();
        writeln!(out, "### {}\n", cell(contour))?;
        table(&mine, out)?;
    }
    let rest: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| {
            !f.contour
                .as_ref()
                .is_some_and(|c| report.contours.contains(c))
        })
        .collect();
    if !rest.is_empty() {
        writeln!(out, "### Not tied to a contour\n")?;
        table(&rest, out)?;
    }
    writeln!(out, "**{}**", cell(&summary(report)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::RuleCode;
    use crate::model::Repo;

    fn finding(contour: Option<&str>, key: &str, message: &str) -> Finding {
        let at = [(Repo::Backend, ".env.production", 3)];
        super::super::test_finding(RuleCode::MissingKey, contour, key, message, &at)
    }

    fn render(findings: Vec<Finding>, contours: &[&str]) -> String {
        let report = Report::new(findings, contours.iter().map(|c| c.to_string()).collect());
        let mut out = Vec::new();
        super::report(&report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cells_cannot_break_the_table_or_inject_markup() {
        assert_eq!(cell("a|b"), "a\\|b");
        assert_eq!(cell("`code`"), "\\`code\\`");
        assert_eq!(
            cell("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(cell("&lt;"), "&amp;lt;");
        assert_eq!(cell("[x](http://e)"), "\\[x\\](http://e)");
        assert_eq!(cell("*a* _b_ ~c~ \\"), "\\*a\\* \\_b\\_ \\~c\\~ \\\\");
        let broken = cell("one\ntwo\r\u{1b}[31m");
        assert!(!broken.contains(['\n', '\r', '\u{1b}']), "{broken:?}");
    }

    #[test]
    fn one_table_per_contour_in_the_order_checked_then_the_summary() {
        let md = render(
            vec![
                finding(Some("prod"), "JWT_SECRET", "JWT_SECRET is missing"),
                finding(Some("dev"), "PORT", "PORT is missing"),
            ],
            &["dev", "stage", "prod"],
        );
        let dev = md.find("### dev").unwrap();
        let stage = md.find("### stage").unwrap();
        let prod = md.find("### prod").unwrap();
        assert!(dev < stage && stage < prod, "{md}");
        assert!(md[stage..prod].contains("No findings."), "{md}");
        assert!(md[dev..stage].contains(
            "| error | `missing-key` | PORT | PORT is missing | backend .env.production:3 |"
        ));
        assert_eq!(
            md.matches("| Severity | Code | Key | Message | Locations |")
                .count(),
            2
        );
        assert!(
            md.ends_with("**2 errors, 0 warnings (3 contours checked: dev, stage, prod)**\n"),
            "{md}"
        );
    }

    #[test]
    fn a_hostile_key_stays_in_its_cell() {
        let md = render(
            vec![finding(
                Some("prod"),
                "A|B`<script>",
                "A|B`<script>\n| x | y |",
            )],
            &["prod"],
        );
        let row = md.lines().find(|l| l.starts_with("| error")).unwrap();
        // Five cells: six unescaped pipes.
        let unescaped = row
            .char_indices()
            .filter(|&(i, c)| c == '|' && !row[..i].ends_with('\\'))
            .count();
        assert_eq!(unescaped, 6, "{row}");
        assert!(!md.contains("<script>") && !md.contains("\n| x"), "{md}");
    }

    #[test]
    fn findings_of_no_contour_come_last() {
        let md = render(vec![finding(None, "JWT_SECRET", "staged")], &[]);
        assert!(md.contains("### Not tied to a contour"), "{md}");
        assert!(md.ends_with("**1 error, 0 warnings**\n"), "{md}");
    }
}
