//! `--format sarif`: the report as one SARIF 2.1.0 log with one run, for GitHub code scanning
//! and every other SARIF reader. The model is `serde-sarif`'s (generated from the official
//! schema); this module only decides what goes in it:
//!
//! - `tool.driver.rules`: one entry per rule code that can fire (enabled in the loaded rules),
//!   its level the configured one, its help the rule's page, `docs/rules/<code>.md`;
//! - one result per finding, every location relative to its repo's root under the base id
//!   `BACKEND` or `INFRA` (declared in `originalUriBaseIds`, without an absolute path: the log
//!   is the same wherever the repos are checked out);
//! - `partialFingerprints["envsync/v1"]`: a SHA-256 of the code, contour, key and each
//!   location's repo and file, never of a line or a message (so an unrelated edit above a
//!   finding keeps its alert) nor of a value.
//!
//! Messages arrive masked ([`crate::mask`]); code scanning shows them as text, so control and
//! bidi characters are made visible here as in the text output.

use std::collections::BTreeMap;
use std::io::{self, Write};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_sarif::sarif;
use sha2::{Digest, Sha256};

use crate::config::rules::Rules;
use crate::finding::{Finding, Location, Report, RuleCode, Severity};
use crate::mask::sanitize;
use crate::model::Repo;

/// Where envsync lives (`Cargo.toml`'s `repository`): the driver's `informationUri` and the
/// base of each rule's `helpUri`.
pub const HOME: &str = env!("CARGO_PKG_REPOSITORY");

/// The `$schema` of the log.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The `partialFingerprints` key; its version changes if what is hashed ever does.
pub const FINGERPRINT: &str = "envsync/v1";

/// The rule's page: `HOME/blob/main/docs/rules/<code>.md`.
pub fn help_uri(code: RuleCode) -> String {
    format!("{HOME}/blob/main/docs/rules/{}.md", code.name())
}

/// The base id a repo's locations are relative to: `BACKEND`, `INFRA`.
pub fn base_id(repo: Repo) -> String {
    repo.name().to_ascii_uppercase()
}

/// Print the log, pretty, with a final newline.
pub fn log(report: &Report, rules: &Rules, out: &mut dyn Write) -> io::Result<()> {
    super::json(&build(report, rules), out)
}

/// The log of `report`, with the rules (and their levels) of `rules`.
pub fn build(report: &Report, rules: &Rules) -> sarif::Sarif {
    // Every code that can fire, in the enum's order; a code that fired is listed even if the
    // rules say it cannot (it did).
    let listed: Vec<(RuleCode, Severity)> = RuleCode::ALL
        .iter()
        .filter_map(|&code| {
            let fired = report.findings.iter().any(|f| f.code == code);
            rules
                .base_severity(code)
                .or(fired.then(|| code.default_severity()))
                .map(|level| (code, level))
        })
        .collect();
    let descriptors: Vec<_> = listed
        .iter()
        .map(|&(code, level)| rule(code, level))
        .collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let results = report
        .findings
        .iter()
        .map(|f| {
            let index = listed.iter().position(|&(c, _)| c == f.code);
            // Findings alike in all that is hashed get the 2nd, 3rd… fingerprint, in the
            // report's order (by place), which an unrelated edit does not change.
            let base = fingerprint(f, 1);
            let nth = seen.entry(base.clone()).or_insert(0);
            *nth += 1;
            let print = if *nth == 1 {
                base
            } else {
                fingerprint(f, *nth)
            };
            result(f, index, print)
        })
        .collect::<Vec<_>>();
    let bases = Repo::BOTH
        .iter()
        .map(|&repo| {
            let location = sarif::ArtifactLocation::builder()
                .description(text(&format!("the root of the {repo} repository")))
                .build();
            (base_id(repo), location)
        })
        .collect::<BTreeMap<_, _>>();
    let driver = sarif::ToolComponent::builder()
        .name("envsync")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .information_uri(HOME)
        .rules(descriptors)
        .build();
    let run = sarif::Run::builder()
        .tool(sarif::Tool::builder().driver(driver).build())
        .original_uri_base_ids(bases)
        .results(results)
        .build();
    sarif::Sarif::builder()
        .schema(SCHEMA)
        .version(serde_json::json!("2.1.0"))
        .runs(vec![run])
        .build()
}

fn text(s: &str) -> sarif::Message {
    sarif::Message::builder().text(s).build()
}

fn level_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn rule(code: RuleCode, level: Severity) -> sarif::ReportingDescriptor {
    let help = format!("{}. See {}", code.summary(), help_uri(code));
    sarif::ReportingDescriptor::builder()
        .id(code.name())
        .short_description(
            sarif::MultiformatMessageString::builder()
                .text(code.summary())
                .build(),
        )
        .help(
            sarif::MultiformatMessageString::builder()
                .text(help)
                .build(),
        )
        .help_uri(help_uri(code))
        .default_configuration(
            sarif::ReportingConfiguration::builder()
                .level(serde_json::json!(level_name(level)))
                .build(),
        )
        .build()
}

fn result(f: &Finding, index: Option<usize>, print: String) -> sarif::Result {
    let level = match f.severity {
        Severity::Error => sarif::ResultLevel::Error,
        Severity::Warning => sarif::ResultLevel::Warning,
    };
    let locations = f.locations.iter().map(location).collect::<Vec<_>>();
    let mut result = sarif::Result::builder()
        .rule_id(f.code.name())
        .level(level)
        .message(text(&sanitize(&f.message)))
        .locations(locations)
        .partial_fingerprints(BTreeMap::from([(FINGERPRINT.to_string(), print)]))
        .build();
    result.rule_index = index.and_then(|i| i64::try_from(i).ok());
    result
}

/// What a URI path segment may hold as it is: RFC 3986's unreserved characters; `/` separates
/// segments. Everything else (a space, `%`, `#`, `?`, non-ASCII) is percent-encoded, so any file
/// name makes a valid relative reference.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// A file's path relative to its repo's root as a relative URI reference. A leading `/` or a
/// segment that looks like a scheme (`a:b`) cannot arise: `:` is encoded, and a repo-relative
/// path starts with a name.
pub fn uri(file: &str) -> String {
    utf8_percent_encode(file.trim_start_matches('/'), PATH).to_string()
}

fn location(l: &Location) -> sarif::Location {
    let artifact = sarif::ArtifactLocation::builder()
        .uri(uri(&l.file))
        .uri_base_id(base_id(l.repo))
        .build();
    let mut physical = sarif::PhysicalLocation::builder()
        .artifact_location(artifact)
        .build();
    // Line 0 would be no line at all: the location is the whole file.
    if let Ok(line @ 1..) = i64::try_from(l.line) {
        physical.region = Some(sarif::Region::builder().start_line(line).build());
    }
    sarif::Location::builder()
        .physical_location(physical)
        .build()
}

/// The finding's identity across runs: SHA-256 (hex) of its code, contour, key and each
/// location's repo and file, fields separated by NUL (which no name holds); the `nth` finding
/// alike in all of these (from 2) adds its ordinal.
pub fn fingerprint(f: &Finding, nth: usize) -> String {
    let mut h = Sha256::new();
    h.update(f.code.name());
    for part in [f.contour.as_deref(), f.key.as_deref()] {
        h.update([0]);
        h.update(part.unwrap_or(""));
    }
    for l in &f.locations {
        h.update([0]);
        h.update(l.repo.name());
        h.update(":");
        h.update(&l.file);
    }
    if nth > 1 {
        h.update([0]);
        h.update(nth.to_string());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(code: RuleCode, key: &str, locs: &[(Repo, &str, usize)]) -> Finding {
        super::super::test_finding(code, Some("prod"), key, &format!("{key} differs"), locs)
    }

    fn log_of(findings: Vec<Finding>) -> serde_json::Value {
        let report = Report::new(findings, vec!["prod".into()]);
        serde_json::to_value(build(&report, &Rules::gprod())).unwrap()
    }

    #[test]
    fn the_home_is_an_absolute_https_url() {
        assert!(HOME.starts_with("https://"), "{HOME:?}");
        assert_eq!(
            help_uri(RuleCode::MissingKey),
            format!("{HOME}/blob/main/docs/rules/missing-key.md")
        );
    }

    #[test]
    fn every_rule_is_listed_once_with_its_page_and_level() {
        let v = log_of(Vec::new());
        let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
        let all: Vec<&str> = RuleCode::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(ids, all);
        let r = &rules[RuleCode::DialectDivergence as usize];
        assert_eq!(r["defaultConfiguration"]["level"], "warning");
        assert!(r["helpUri"]
            .as_str()
            .unwrap()
            .ends_with("/docs/rules/dialect-divergence.md"));
        assert_eq!(v["version"], "2.1.0");
        assert_eq!(v["$schema"], SCHEMA);
    }

    #[test]
    fn a_result_points_at_each_location_under_its_repo_base() {
        let v = log_of(vec![finding(
            RuleCode::ValueMismatch,
            "JWT_SECRET",
            &[
                (Repo::Backend, ".env.production", 4),
                (Repo::Infra, "dir with space/.env#1", 9),
            ],
        )]);
        let r = &v["runs"][0]["results"][0];
        assert_eq!(r["ruleId"], "value-mismatch");
        assert_eq!(r["level"], "error");
        assert_eq!(
            r["ruleIndex"],
            RuleCode::ALL
                .iter()
                .position(|&c| c == RuleCode::ValueMismatch)
                .unwrap()
        );
        let at = |i: usize| &r["locations"][i]["physicalLocation"];
        assert_eq!(at(0)["artifactLocation"]["uri"], ".env.production");
        assert_eq!(at(0)["artifactLocation"]["uriBaseId"], "BACKEND");
        assert_eq!(at(0)["region"]["startLine"], 4);
        assert_eq!(
            at(1)["artifactLocation"]["uri"],
            "dir%20with%20space/.env%231"
        );
        assert_eq!(at(1)["artifactLocation"]["uriBaseId"], "INFRA");
        let bases = &v["runs"][0]["originalUriBaseIds"];
        assert!(bases["BACKEND"].is_object() && bases["INFRA"].is_object());
    }

    #[test]
    fn a_line_zero_location_is_the_whole_file() {
        let v = log_of(vec![finding(
            RuleCode::MissingKey,
            "PORT",
            &[(Repo::Backend, ".env", 0)],
        )]);
        let p = &v["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
        assert!(p.get("region").is_none(), "{p}");
    }

    #[test]
    fn fingerprints_ignore_lines_and_messages_and_follow_code_contour_key_and_files() {
        let base = finding(
            RuleCode::ValueMismatch,
            "PORT",
            &[(Repo::Backend, ".env", 3), (Repo::Infra, ".env.prod", 7)],
        );
        let fp = fingerprint(&base, 1);
        assert_eq!(fp.len(), 64);
        let mut moved = base.clone();
        moved.locations[0].line = 30;
        moved.message = "PORT differs: 3000 vs 3001".into();
        assert_eq!(fingerprint(&moved, 1), fp);
        let changes: [&dyn Fn(&mut Finding); 5] = [
            &|f| f.code = RuleCode::PortMismatch,
            &|f| f.contour = Some("stage".into()),
            &|f| f.key = Some("API_PORT".into()),
            &|f| f.locations[1].file = ".env.stage".into(),
            &|f| f.locations[1].repo = Repo::Backend,
        ];
        for change in changes {
            let mut other = base.clone();
            change(&mut other);
            assert_ne!(fingerprint(&other, 1), fp, "{other:?}");
        }
        assert_ne!(fingerprint(&base, 2), fp);
    }

    #[test]
    fn findings_alike_but_for_the_line_get_distinct_fingerprints() {
        let one = finding(RuleCode::Syntax, "", &[(Repo::Backend, ".env", 3)]);
        let mut two = one.clone();
        two.locations[0].line = 8;
        let v = log_of(vec![one, two]);
        let prints: Vec<&str> = v["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partialFingerprints"][FINGERPRINT].as_str().unwrap())
            .collect();
        assert_eq!(prints.len(), 2);
        assert_ne!(prints[0], prints[1]);
    }

    #[test]
    fn messages_are_sanitised() {
        let mut f = finding(RuleCode::Syntax, "K", &[(Repo::Backend, ".env", 1)]);
        f.message = "bad\u{1b}[31m\nline\u{202e}".into();
        let v = log_of(vec![f]);
        let text = v["runs"][0]["results"][0]["message"]["text"]
            .as_str()
            .unwrap();
        assert!(!text.chars().any(crate::mask::is_forging), "{text:?}");
    }
}
