//! `check --format sarif|github|markdown` through the real binary: every drift set gives a
//! SARIF log the official SARIF 2.1.0 schema accepts, with the findings `--format json` gives;
//! fingerprints survive unrelated edits; workflow commands are escaped property by property;
//! and no format prints a planted secret without `--show-values`.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{
    append, envsync, findings, fixtures, gprod_pair, k8s_tool, on_pair, root, run, windows8, Run,
};

/// The SARIF 2.1.0 schema vendored in `tests/data` (see its README), with formats (`uri`,
/// `date-time`) asserted as draft 7 does by default.
///
/// The published schema has one defect that stops it from compiling: the pattern of `language`
/// (in `run` and in `toolComponent`) holds a stray `]` (`…{2}]?$`) that the meta-schema's
/// `regex` format rejects. It is corrected here, in memory, to the pattern it means; envsync
/// writes no `language`.
fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let text = fs::read_to_string(root().join("tests/data/sarif-2.1.0.schema.json")).unwrap();
        let stray = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
        assert_eq!(text.matches(stray).count(), 2, "the schema's defect moved");
        let text = text.replace(stray, r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#);
        let schema: Value = serde_json::from_str(&text).unwrap();
        jsonschema::validator_for(&schema).expect("the SARIF schema compiles")
    })
}

/// The schema's complaints about `log`, one line each (empty: valid).
pub fn sarif_errors(log: &Value) -> Vec<String> {
    validator()
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Parse `r`'s stdout as a SARIF log and require the schema to accept it.
pub fn valid_sarif(r: &Run, what: &str) -> Value {
    let log: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{what}: no JSON ({e}): {}{}", r.stdout, r.stderr));
    let errors = sarif_errors(&log);
    assert!(
        errors.is_empty(),
        "{what}: invalid SARIF:\n{}\n{}",
        errors.join("\n"),
        r.stdout
    );
    log
}

/// `envsync check ARGS` on a drift set (with its `kubernetes.envsync.toml` and the real helm,
/// when it has one).
fn check_set(set: &Path, args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = envsync(set);
    let config = set.join("kubernetes.envsync.toml");
    if config.is_file() {
        cmd.env("ENVSYNC_HELM", k8s_tool("helm"))
            .env("HELM_CACHE_HOME", home.path().join("cache"))
            .env("HELM_CONFIG_HOME", home.path().join("config"))
            .env("HELM_DATA_HOME", home.path().join("data"))
            .arg("--config")
            .arg(config);
    }
    run(cmd
        .arg("check")
        .arg("--backend")
        .arg(set.join("backend"))
        .arg("--infra")
        .arg(set.join("infra"))
        .args(args))
}

fn results(log: &Value) -> &Vec<Value> {
    log["runs"][0]["results"].as_array().unwrap()
}

/// `(ruleId, level, "repo uri:line" of each location)` of a SARIF log: what
/// [`crate::common::findings`] gives for the same report in JSON.
fn sarif_findings(log: &Value) -> Vec<(String, String, Vec<String>)> {
    results(log)
        .iter()
        .map(|r| {
            let locs = r["locations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    let p = &l["physicalLocation"];
                    format!(
                        "{} {}:{}",
                        p["artifactLocation"]["uriBaseId"]
                            .as_str()
                            .unwrap()
                            .to_lowercase(),
                        p["artifactLocation"]["uri"].as_str().unwrap(),
                        p["region"]["startLine"]
                    )
                })
                .collect();
            (
                r["ruleId"].as_str().unwrap().to_string(),
                r["level"].as_str().unwrap().to_string(),
                locs,
            )
        })
        .collect()
}

#[test]
fn every_drift_set_gives_a_valid_sarif_log_with_the_json_findings() {
    let mut sets: Vec<_> = fs::read_dir(fixtures().join("drift"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    sets.sort();
    assert!(sets.len() >= 20, "{sets:?}");
    sets.push(fixtures().join("gprod"));
    for set in &sets {
        let name = set.file_name().unwrap().to_string_lossy().into_owned();
        let sarif = check_set(set, &["--format", "sarif"]);
        let json = check_set(set, &["--format", "json"]);
        assert_eq!(sarif.code, json.code, "{name}: {}", sarif.stderr);
        assert!(sarif.code <= 1, "{name}: {}{}", sarif.stdout, sarif.stderr);
        let log = valid_sarif(&sarif, &name);
        let report: Value = serde_json::from_str(&json.stdout).unwrap();
        assert_eq!(sarif_findings(&log), findings(&report), "{name}");
        if name != "gprod" {
            assert!(!results(&log).is_empty(), "{name}: no result");
        }
        let driver = &log["runs"][0]["tool"]["driver"];
        assert_eq!(driver["name"], "envsync");
        let rules = driver["rules"].as_array().unwrap();
        for r in results(&log) {
            let index = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[index]["id"], r["ruleId"], "{name}");
            assert!(rules[index]["helpUri"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/docs/rules/{}.md", r["ruleId"].as_str().unwrap())));
            let print = r["partialFingerprints"]["envsync/v1"].as_str().unwrap();
            assert_eq!(print.len(), 64, "{name}");
        }
    }
}

#[test]
fn the_validator_rejects_broken_logs() {
    let r = check_set(
        &fixtures().join("drift/password-mismatch"),
        &["--format", "sarif"],
    );
    let good = valid_sarif(&r, "password-mismatch");
    type Breakage<'a> = (&'a str, &'a dyn Fn(&mut Value));
    let breakages: [Breakage; 7] = [
        ("a helpUri that is no URI", &|v| {
            v["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = "docs/rules/x y.md".into()
        }),
        ("no version", &|v| {
            v.as_object_mut().unwrap().remove("version");
        }),
        ("version 2.0.0", &|v| v["version"] = "2.0.0".into()),
        ("an unknown level", &|v| {
            v["runs"][0]["results"][0]["level"] = "fatal".into()
        }),
        ("line 0", &|v| {
            v["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
                0.into()
        }),
        ("a property SARIF does not have", &|v| {
            v["runs"][0]["results"][0]["severity"] = "error".into()
        }),
        ("a tool without a name", &|v| {
            v["runs"][0]["tool"]["driver"]
                .as_object_mut()
                .unwrap()
                .remove("name");
        }),
    ];
    for (what, breakage) in breakages {
        let mut bad = good.clone();
        breakage(&mut bad);
        assert!(!sarif_errors(&bad).is_empty(), "{what} passed the schema");
    }
}

/// The value-mismatch fingerprints of a `check --format sarif` run, with each one's start line.
fn mismatch_prints(b: &Path) -> Vec<(String, u64)> {
    let r = run(envsync(b.parent().unwrap()).args(["check", "-c", "prod", "--format", "sarif"]));
    let log = valid_sarif(&r, "check");
    results(&log)
        .iter()
        .filter(|r| r["ruleId"] == "value-mismatch")
        .map(|r| {
            (
                r["partialFingerprints"]["envsync/v1"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                r["locations"][0]["physicalLocation"]["region"]["startLine"]
                    .as_u64()
                    .unwrap(),
            )
        })
        .collect()
}

#[test]
fn fingerprints_survive_runs_and_unrelated_edits_but_not_a_new_key() {
    let (d, b, i) = gprod_pair();
    fs::write(
        d.path().join("envsync.toml"),
        "[repos.backend]\npath = \"backend\"\n[repos.infra]\npath = \"infra\"\n[keys]\nshared = [\"FEATURE_A\", \"FEATURE_B\"]\n",
    )
    .unwrap();
    let (be, ie) = (b.join(".env.production"), i.join(".env.prod"));
    append(&be, "FEATURE_A=on");
    append(&ie, "FEATURE_A=off");
    let first = mismatch_prints(&b);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(mismatch_prints(&b), first, "two runs differ");
    // Unrelated edits above the finding in both files: its lines move, its fingerprint stays.
    for p in [&be, &ie] {
        let text = fs::read_to_string(p).unwrap();
        fs::write(p, format!("# reviewed\nUNRELATED_FLAG=1\n\n{text}")).unwrap();
    }
    let moved = mismatch_prints(&b);
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].1, first[0].1 + 3, "the lines did not move");
    assert_eq!(
        moved[0].0, first[0].0,
        "an unrelated edit changed the fingerprint"
    );
    // The same drift on another key is another finding.
    for p in [&be, &ie] {
        let text = fs::read_to_string(p).unwrap();
        fs::write(p, text.replace("FEATURE_A=", "FEATURE_B=")).unwrap();
    }
    let renamed = mismatch_prints(&b);
    assert_eq!(renamed.len(), 1);
    assert_eq!(renamed[0].1, moved[0].1);
    assert_ne!(renamed[0].0, first[0].0, "a new key kept the fingerprint");
}

#[test]
fn github_commands_anchor_and_escape_each_property_on_a_real_project() {
    let (d, b, _i) = gprod_pair();
    // The backend's prod file in a directory whose name holds `%`, `,`, `:` and a line break,
    // with a duplicated key (whose message names the file).
    let odd = "odd%,dir:x\n::warning::forged";
    fs::create_dir_all(b.join(odd)).unwrap();
    let text = fs::read_to_string(b.join(".env.production")).unwrap();
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("LOG_LEVEL="))
        .unwrap();
    fs::write(
        b.join(odd).join(".env.production"),
        format!("{}\nLOG_LEVEL=debug\n", text.trim_end()),
    )
    .unwrap();
    fs::write(
        d.path().join("envsync.toml"),
        "[repos.backend]\npath = \"backend\"\nenv = [\"odd%,dir:x\\n::warning::forged/.env.{contour}\"]\n[repos.infra]\npath = \"infra\"\n",
    )
    .unwrap();
    let gh = |workspace: &Path| {
        run(envsync(d.path())
            .env("GITHUB_WORKSPACE", workspace)
            .args(["check", "-c", "prod", "--format", "github"]))
    };
    let r = gh(d.path());
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let (summary, commands) = lines.split_last().unwrap();
    assert_eq!(*summary, "1 error, 0 warnings (1 contour checked: prod)");
    assert_eq!(commands.len(), 1, "{}", r.stdout);
    let (props, message) = commands[0]
        .strip_prefix("::error ")
        .unwrap()
        .split_once("::")
        .unwrap();
    let props: Vec<&str> = props.split(',').collect();
    let expected = vec![
        "file=backend/odd%25%2Cdir%3Ax\\u{a}%3A%3Awarning%3A%3Aforged/.env.production".to_string(),
        format!("line={line}"),
        "title=envsync duplicate-key (prod)".to_string(),
    ];
    assert_eq!(props, expected, "{}", commands[0]);
    assert!(
        message.starts_with(
            "LOG_LEVEL is assigned 2 times in backend odd%25,dir:x\\u{a}::warning::forged/.env.production"
        ),
        "{message}"
    );
    // Run from a workspace that holds neither repo: no file to annotate, the same message.
    let elsewhere = tempfile::tempdir().unwrap();
    let r = gh(elsewhere.path());
    assert!(
        r.stdout
            .starts_with("::error title=envsync duplicate-key (prod)::LOG_LEVEL is assigned"),
        "{}",
        r.stdout
    );
}

#[test]
fn markdown_has_a_table_per_contour_and_the_summary() {
    let r = check_set(
        &fixtures().join("drift/port-drift"),
        &["--format", "markdown"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let md = &r.stdout;
    for c in ["### dev", "### stage", "### prod"] {
        assert_eq!(md.matches(c).count(), 1, "{md}");
    }
    let header = "| Severity | Code | Key | Message | Locations |";
    assert!(md.matches(header).count() >= 1, "{md}");
    let rows = md
        .lines()
        .filter(|l| l.starts_with("| error") || l.starts_with("| warning"));
    let json: Value = serde_json::from_str(
        &check_set(&fixtures().join("drift/port-drift"), &["--format", "json"]).stdout,
    )
    .unwrap();
    assert_eq!(
        rows.count(),
        json["findings"].as_array().unwrap().len(),
        "{md}"
    );
    assert!(
        md.trim_end().lines().last().unwrap().starts_with("**"),
        "{md}"
    );
}

const CANARIES: [&str; 5] = [
    "canary-pg-B7xQ2mLw9Zr4",
    "canary-pg-I3vN8kTq5Hs1",
    "canary-url-P6dF4jRb8Wn2",
    "canary-jwt-backend-K2mV7xQ9Lr4Tz8",
    "canary-jwt-infra-H5pB1cD6fG0jS8u",
];

#[test]
fn no_format_prints_a_planted_secret_without_show_values() {
    let (_d, b, i) = gprod_pair();
    let set = |p: &Path, key: &str, line: String| crate::common::set_line(p, key, &line);
    let (be, ie) = (b.join(".env.production"), i.join(".env.prod"));
    set(
        &be,
        "POSTGRES_PASSWORD",
        format!("POSTGRES_PASSWORD='{}'", CANARIES[0]),
    );
    set(
        &ie,
        "POSTGRES_PASSWORD",
        format!("POSTGRES_PASSWORD='{}'", CANARIES[1]),
    );
    set(
        &be,
        "DATABASE_URL",
        format!(
            "DATABASE_URL=postgresql://postgres:{}@db:5432/gprod_prod?schema=public",
            CANARIES[2]
        ),
    );
    set(&be, "JWT_SECRET", format!("JWT_SECRET={}", CANARIES[3]));
    set(&ie, "JWT_SECRET", format!("JWT_SECRET={}", CANARIES[4]));
    let windows = windows8(&CANARIES);
    for format in ["sarif", "github", "markdown", "json", "text"] {
        let r = on_pair(&b, &i, &["check", "-c", "prod", "--format", format]);
        assert_eq!(r.code, 1, "{format}: {}{}", r.stdout, r.stderr);
        for w in &windows {
            assert!(
                !r.stdout.contains(w.as_str()) && !r.stderr.contains(w.as_str()),
                "{format} printed {w}:\n{}{}",
                r.stdout,
                r.stderr
            );
        }
        for code in ["value-mismatch", "database-url"] {
            assert!(
                r.stdout.contains(code),
                "{format}: no {code}:\n{}",
                r.stdout
            );
        }
        if format == "sarif" {
            valid_sarif(&r, "canaries");
        }
        // The one switch that prints them (so the check above can fail).
        let revealed = on_pair(
            &b,
            &i,
            &["check", "-c", "prod", "--format", format, "--show-values"],
        );
        assert!(
            CANARIES[3..].iter().all(|c| revealed.stdout.contains(c)),
            "{format} --show-values: {}",
            revealed.stdout
        );
    }
}

#[test]
fn other_commands_refuse_the_report_formats() {
    let (_d, b, i) = gprod_pair();
    for args in [
        &["fix", "-c", "prod", "--dry-run", "--format", "sarif"][..],
        &["show", ".env.production", "--format", "github"],
        &["migrate", "status", "--format", "markdown"],
    ] {
        let r = on_pair(&b, &i, args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("possible values: text, json"),
            "{}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
}
