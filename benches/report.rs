//! `report --html` against `check` on the same project: the three GPROD contours with their
//! compose projects and nginx files, each command a whole process (start-up included), as a
//! user runs them. The contract: the report costs at most 1.2 times the check.
//! Run: `cargo bench --bench report`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use criterion::{criterion_group, criterion_main, Criterion};

fn gprod(repo: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/gprod")
        .join(repo)
}

/// `envsync ARGS --backend … --infra …`, its output thrown away; it must exit 0 (in sync).
fn envsync(args: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_envsync"))
        .args(args)
        .arg("--backend")
        .arg(gprod("backend"))
        .arg("--infra")
        .arg(gprod("infra"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("envsync runs");
    assert!(status.success(), "envsync {args:?}: {status}");
}

fn report_vs_check(c: &mut Criterion) {
    let out = tempfile::tempdir().unwrap();
    let page = out.path().join("report.html");
    let page = page.to_str().unwrap();
    let mut g = c.benchmark_group("gprod_three_contours");
    g.bench_function("check", |b| b.iter(|| envsync(&["check"])));
    g.bench_function("report_html", |b| {
        b.iter(|| envsync(&["report", "--html", page]))
    });
    g.finish();
}

criterion_group!(report, report_vs_check);
criterion_main!(report);
