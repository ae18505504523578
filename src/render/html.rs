//! `report --html`: one self-contained page. Inline CSS only: no script, no link, no image, and
//! a Content-Security-Policy that forbids the browser to fetch anything, so the page can be
//! kept as a CI artifact and opened anywhere. Every name, value and message is escaped by the
//! template (maud) after [`sanitize`] made control and bidi characters visible.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::finding::{Report, Severity};
use crate::mask::sanitize;
use crate::report::{Cell, ContourMatrix, Mark, Matrix, Row, Source, Value};

/// The page's stylesheet: fixed text, no `url(` and no `@import`.
const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #1b1b1b; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; }
.summary { margin: 0 0 12px; font-weight: 600; }
.summary.errors { color: #a40000; }
.summary.clean { color: #1c6b1c; }
.legend { color: #444; margin: 0 0 8px; max-width: 70em; }
table { border-collapse: collapse; }
table.matrix { table-layout: auto; }
th, td { border: 1px solid #c8c8c8; padding: 4px 6px; vertical-align: top; text-align: left; }
thead th { background: #f2f2f2; font-weight: 600; }
th .kind, .why, .at { display: block; font-weight: normal; font-size: 12px; color: #555; }
th .role { font-weight: normal; font-size: 12px; color: #555; }
tbody th { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; max-width: 16em; overflow-wrap: anywhere; }
tbody th .why { font-family: system-ui, sans-serif; }
thead th.source { max-width: 13em; overflow-wrap: break-word; }
td.cell { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; width: 9.5em; max-width: 14em; }
td.missing { background: repeating-linear-gradient(135deg, #fff, #fff 6px, #eee 6px, #eee 12px); color: #6a6a6a; font-style: italic; }
td.unset, td.cluster { background: #f6f6f6; color: #444; }
.value { display: block; word-break: break-all; color: #000; }
td.marked { outline: 3px solid #c00000; outline-offset: -3px; }
td.marked.warning-only { outline-color: #b86e00; }
.mark { display: block; margin-top: 3px; font-family: system-ui, sans-serif; font-size: 12px; font-style: normal; font-weight: normal; color: #1b1b1b; }
.sev { display: inline-block; padding: 0 4px; border-radius: 3px; color: #fff; font-size: 11px; text-transform: uppercase; }
.sev.error { background: #b00000; }
.sev.warning { background: #9a5c00; }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
table.findings td { font-size: 13px; }
table.findings td.message { max-width: 60em; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
"#;

/// Nothing may be fetched: no script, no image, no font, no frame; the inline stylesheet only.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; base-uri 'none'";

/// The whole page: a matrix per contour, then the findings and the summary.
pub fn page(matrix: &Matrix, report: &Report) -> String {
    let title = format!("envsync report: {}", report.contours.join(", "));
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(POLICY);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (sanitize(&title)) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "envsync drift report" }
                (summary(report))
                p class="legend" {
                    "Each table is one contour: a row per key that matters (required, shared, or named by a finding), a column per source that gives it. "
                    @if matrix.reveal {
                        "Cells show the value and its fingerprint (length and the first 8 hex digits of its SHA-256); "
                    } @else {
                        "Cells show fingerprints (length and the first 8 hex digits of the value's SHA-256), never values; "
                    }
                    "equal values have equal colours. A cell outlined in red carries a finding: its rule code and the location it points at."
                }
                @for c in &matrix.contours {
                    (contour(c))
                }
                (findings(report))
            }
        }
    };
    page.into_string()
}

fn summary(report: &Report) -> Markup {
    let class = if report.has_errors() {
        "summary errors"
    } else {
        "summary clean"
    };
    html! {
        p class=(class) { (sanitize(&super::check::summary(report))) }
    }
}

fn contour(c: &ContourMatrix) -> Markup {
    let name = sanitize(&c.contour);
    html! {
        section class="contour" id={ "contour-" (name) } data-contour=(name) {
            h2 { "Contour " (name) }
            @if c.compose_refused {
                p class="note" { "The compose project is not shown: compose would refuse it (see the findings)." }
            }
            table class="matrix" {
                caption class="sr" { "Keys of contour " (name) " by source" }
                thead {
                    tr {
                        th scope="col" { "key" }
                        @for s in &c.sources {
                            (source(s))
                        }
                    }
                }
                tbody {
                    @for r in &c.rows {
                        (row(r))
                    }
                }
            }
        }
    }
}

fn source(s: &Source) -> Markup {
    html! {
        th scope="col" class="source" data-source=(sanitize(&s.name)) data-kind=(s.kind.label()) {
            span class="kind" { (s.kind.label()) }
            // A line may break after each `/` of a path or `kind/name`.
            @for (i, part) in sanitize(&s.name).split('/').enumerate() {
                @if i > 0 { "/" wbr; }
                (part)
            }
            @if let Some(role) = s.role {
                " " span class="role" { "(" (role.name()) ")" }
            }
        }
    }
}

fn row(r: &Row) -> Markup {
    let key = sanitize(&r.key);
    html! {
        tr data-key=(key) {
            th scope="row" {
                (key)
                span class="why" {
                    @for (i, w) in r.why.iter().enumerate() {
                        @if i > 0 { ", " }
                        (w.label())
                    }
                }
                @for m in &r.elsewhere {
                    (mark(m))
                }
            }
            @for c in &r.cells {
                (cell(c))
            }
        }
    }
}

fn cell(c: &Cell) -> Markup {
    let mut class = String::from("cell");
    class.push_str(match &c.value {
        Value::Missing => " missing",
        Value::Unset => " unset",
        Value::Cluster(_) => " cluster",
        Value::Given(_) => " given",
    });
    if !c.marks.is_empty() {
        class.push_str(" marked");
        if c.marks.iter().all(|m| m.severity == Severity::Warning) {
            class.push_str(" warning-only");
        }
    }
    let style = match &c.value {
        Value::Given(g) => Some(format!(
            "background:hsl({},62%,{}%)",
            g.colour.hue, g.colour.lightness
        )),
        _ => None,
    };
    let title = c.at.as_ref().map(|at| sanitize(&at.to_string()));
    html! {
        td class=(class) style=[style] title=[title] {
            @match &c.value {
                Value::Missing => { "missing" }
                Value::Unset => { "declared, no value" }
                Value::Cluster(what) => { "set by the cluster: " (sanitize(what)) }
                Value::Given(g) => {
                    @if let Some(v) = &g.shown {
                        span class="value" { (sanitize(v)) }
                    }
                    span class="fingerprint" { (g.fingerprint) }
                }
            }
            @for m in &c.marks {
                (mark(m))
            }
        }
    }
}

fn mark(m: &Mark) -> Markup {
    html! {
        span class="mark" {
            span class={ "sev " (m.severity.name()) } { (m.severity.name()) }
            " " code { (m.code.name()) }
            " at " (sanitize(&m.at.to_string()))
        }
    }
}

fn findings(report: &Report) -> Markup {
    html! {
        section class="findings" {
            h2 { "Findings" }
            @if report.findings.is_empty() {
                p { "None." }
            } @else {
                table class="findings" {
                    thead {
                        tr {
                            th scope="col" { "severity" }
                            th scope="col" { "rule" }
                            th scope="col" { "contour" }
                            th scope="col" { "key" }
                            th scope="col" { "message" }
                            th scope="col" { "locations" }
                        }
                    }
                    tbody {
                        @for f in &report.findings {
                            tr data-code=(f.code.name()) {
                                td { span class={ "sev " (f.severity.name()) } { (f.severity.name()) } }
                                td { code { (f.code.name()) } }
                                td { (sanitize(f.contour.as_deref().unwrap_or(""))) }
                                td { code { (sanitize(f.key.as_deref().unwrap_or(""))) } }
                                td class="message" { (sanitize(&f.message)) }
                                td {
                                    @for l in &f.locations {
                                        span class="at" { (sanitize(&l.to_string())) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Finding, Location, RuleCode};
    use crate::model::Repo;
    use crate::report::{Colour, Given, Why};

    fn odd_page(reveal: bool) -> String {
        let at = Location {
            repo: Repo::Backend,
            file: "<i>.env</i>".into(),
            line: 3,
        };
        let fp = crate::mask::fingerprint("v");
        let matrix = Matrix {
            reveal,
            contours: vec![ContourMatrix {
                contour: "pr\u{202e}od".into(),
                sources: vec![Source {
                    kind: crate::report::SourceKind::BackendFile,
                    name: "<i>.env</i>".into(),
                    role: None,
                }],
                rows: vec![Row {
                    key: "<script>x</script>".into(),
                    why: vec![Why::Finding],
                    cells: vec![Cell {
                        value: Value::Given(Given {
                            colour: Colour::of(&fp),
                            fingerprint: fp,
                            shown: reveal.then(|| "a\"<b>&".to_string()),
                        }),
                        at: Some(at.clone()),
                        marks: vec![Mark {
                            code: RuleCode::Syntax,
                            severity: Severity::Error,
                            at: at.clone(),
                        }],
                    }],
                    elsewhere: vec![],
                }],
                compose_refused: false,
            }],
        };
        let report = Report::new(
            vec![Finding {
                code: RuleCode::Syntax,
                severity: Severity::Error,
                contour: Some("pr\u{202e}od".into()),
                key: Some("<script>x</script>".into()),
                message: "a line </td><script>".into(),
                locations: vec![at],
            }],
            vec!["pr\u{202e}od".into()],
        );
        page(&matrix, &report)
    }

    #[test]
    fn every_name_value_and_message_is_escaped() {
        let page = odd_page(true);
        assert!(!page.contains("<script") && !page.contains("<i>") && !page.contains("<b>"));
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(page.contains("a&quot;&lt;b&gt;&amp;"));
        assert!(page.contains("a line &lt;/td&gt;&lt;script&gt;"));
        // A bidi control from a name is shown, not obeyed.
        assert!(!page.contains('\u{202e}') && page.contains("pr\\u{202e}od"));
        assert!(page.contains("1 chars, sha256:"));
        assert!(
            page.contains("error</span> <code>syntax</code> at backend &lt;i&gt;.env&lt;/i&gt;:3")
        );
    }

    #[test]
    fn the_page_fetches_nothing_and_shows_no_value_unless_asked() {
        let page = odd_page(false);
        for banned in [
            "<script", "<link", "<img", "src=", "href=", "url(", "@import",
        ] {
            assert!(!page.contains(banned), "{banned}");
        }
        assert!(page.contains("default-src 'none'"));
        assert!(!page.contains("a&quot;&lt;b&gt;&amp;"));
    }
}
