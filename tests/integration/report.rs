//! `envsync report --html`: the page rendered by a real headless Chromium (Debian's `chromium`,
//! which `.ci/run` installs), one screenshot per fixture set kept under
//! `target/test-artifacts/html/`, and checks on the DOM the browser built: a row per key that
//! matters and a column per source in each contour, the cells' text, the findings, nothing
//! fetched, no secret anywhere in the file. Then the page's own contract: escaping, values only
//! with `--show-values`, check's exit codes, no file left by a failing run.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{envsync, fixtures, gprod_pair, k8s_tool, root, run, windows8, Run};

const CHROMIUM: &str = "/usr/bin/chromium";

/// How long one browser run may take before it is killed (a cold start on a busy 2-core VM
/// takes a few seconds).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// The secret values of the fixture sets (every contour's, and the drift sets' own), which no
/// page may hold without `--show-values`.
const FIXTURE_SECRETS: [&str; 13] = [
    "dev-Pg_4nQ8wZr2Lx7",
    "dev-7f3Kq9LmZx2Rb8Nw4Tp6Yc1Hs5Vd0Ge3",
    "stg-Hm3vB9kT1qW6zN",
    "stg-Wn5Jc8Rv1Qx4Kz7Mb2Fh9Lp3Td6Sg0Ya",
    "prd-Qz7#Lm2@Vx9!Kw4",
    "prd-Qz7%23Lm2%40Vx9%21Kw4",
    "prd-Xa9Lq2Vn7Kc4Rz1Tb8Mw5Jh3Ps6Gd0Fy4e",
    "prd-rotated-Vn4Kc7Rz2Tb9Mw6Jh1Ps8Gd3Fy5",
    "prd-theirs-Kc4Rz1Tb8Mw5Jh3Ps6Gd0Fy4eXa9",
    "gr-5Tn8Qw2Lz7Xc",
    "gr-stage-local-only",
    "rd-9Kp3Vm6Zq1Wb",
    "canary-Smtp-9xQ2vLm7Rt4Kw8",
];

/// Run `chromium --headless` with `args` on `page`, killed after [`BROWSER_TIMEOUT`]; returns
/// its standard output. Fails loudly when the browser is not installed: CI installs it.
fn chromium(page: &Path, args: &[&str]) -> String {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: install Debian's chromium package (`apt-get install -y chromium`; .ci/run does)"
    );
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    // Read while it runs: a DOM bigger than the pipe's buffer would block it.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium {args:?} on {} took over {BROWSER_TIMEOUT:?}; killed",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap();
    assert!(status.success(), "chromium {args:?} failed: {status}");
    out
}

/// Take a 1280x2000 screenshot of `page` into `target/test-artifacts/html/NAME.png` (the page
/// beside it as `NAME.html`) and check it is a real PNG of some substance.
fn screenshot(page: &Path, name: &str) -> PathBuf {
    let dir = root().join("target/test-artifacts/html");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    // The page too, beside its picture.
    std::fs::copy(page, dir.join(format!("{name}.html"))).unwrap();
    chromium(
        page,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2000",
        ],
    );
    let bytes =
        std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot {}: {e}", png.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        png.display()
    );
    // A blank 1280x2000 page compresses to a few KiB; tables of coloured cells do not.
    assert!(
        bytes.len() > 20_000,
        "{} is only {} bytes: nothing rendered?",
        png.display(),
        bytes.len()
    );
    png
}

/// The DOM after the browser parsed and laid out the page.
fn dom(page: &Path) -> String {
    let dom = chromium(page, &["--dump-dom"]);
    assert!(dom.contains("<html"), "no DOM: {dom}");
    dom
}

/// `envsync [--config CFG] ARGS --backend DIR/backend --infra DIR/infra EXTRA` in `dir`, with
/// the real helm for sets that deploy to Kubernetes.
fn on_set(dir: &Path, config: Option<&Path>, args: &[&OsStr], extra: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = envsync(dir);
    cmd.env("ENVSYNC_HELM", k8s_tool("helm"))
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"));
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    run(cmd
        .args(args)
        .arg("--backend")
        .arg(dir.join("backend"))
        .arg("--infra")
        .arg(dir.join("infra"))
        .args(extra))
}

/// `report --html PAGE` on a set.
fn report(dir: &Path, config: Option<&Path>, page: &Path, extra: &[&str]) -> Run {
    let args = [OsStr::new("report"), OsStr::new("--html"), page.as_os_str()];
    on_set(dir, config, &args, extra)
}

/// `check --format json` on the same set, for the findings the page must show.
fn findings(dir: &Path, config: Option<&Path>) -> (i32, serde_json::Value) {
    let args = ["check", "--format", "json"].map(OsStr::new);
    let r = on_set(dir, config, &args, &[]);
    (r.code, serde_json::from_str(&r.stdout).unwrap())
}

/// The text of `html` without its tags, entities decoded, blanks collapsed.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The parts of `html` that start with `open` (up to the next one, or the end).
fn parts<'a>(html: &'a str, open: &str) -> Vec<&'a str> {
    html.split(open).skip(1).collect()
}

/// The value of the first `name="…"` attribute in `html`.
fn attr<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("{name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + name.len()
        + 2;
    &html[start..start + html[start..].find('"').unwrap()]
}

/// One contour's matrix as the browser has it.
#[derive(Debug)]
struct Contour {
    name: String,
    /// Each column header's `data-source`.
    sources: Vec<String>,
    /// Each row's key and its cells' text.
    rows: Vec<(String, String, Vec<String>)>,
}

fn contours(dom: &str) -> Vec<Contour> {
    parts(dom, "<section class=\"contour\"")
        .into_iter()
        .map(|section| {
            let section = &section[..section.find("</section>").unwrap()];
            let sources = parts(section, "<th scope=\"col\" class=\"source\"")
                .into_iter()
                .map(|th| attr(th, "data-source").to_string())
                .collect();
            let rows = parts(section, "<tr data-key=")
                .into_iter()
                .map(|tr| {
                    let tr = &tr[..tr.find("</tr>").unwrap()];
                    let key = tr[1..][..tr[1..].find('"').unwrap()].to_string();
                    // (`>` in an attribute is serialised as `&gt;`.)
                    let tr = &tr[tr.find('>').unwrap() + 1..];
                    let header = text(&tr[..tr.find("</th>").unwrap()]);
                    let cells = parts(tr, "<td ")
                        .into_iter()
                        .map(|td| text(&format!("<{}", &td[..td.find("</td>").unwrap()])))
                        .collect();
                    (key, header, cells)
                })
                .collect();
            Contour {
                name: attr(section, "data-contour").to_string(),
                sources,
                rows,
            }
        })
        .collect()
}

/// Nothing on the page can make the browser fetch anything: no script, no link, no image or
/// frame, no `src`/`href`, no `url(` or `@import` in the CSS; and the policy forbids it anyway.
fn assert_self_contained(html: &str, what: &str) {
    let lower = html.to_ascii_lowercase();
    for banned in [
        "<script", "<link", "<img", "<iframe", "<object", "<embed", "<base", " src=", " href=",
        "url(", "@import", "http://", "https://", "srcset",
    ] {
        assert!(!lower.contains(banned), "{what}: the page holds `{banned}`");
    }
    assert!(
        lower.contains("http-equiv=\"content-security-policy\"")
            && lower.contains("default-src 'none'"),
        "{what}: no Content-Security-Policy"
    );
}

fn assert_no_secret(html: &str, secrets: &[&str], what: &str) {
    for s in secrets {
        assert!(!html.contains(s), "{what}: the secret {s} is on the page");
    }
    for w in windows8(secrets) {
        assert!(
            !html.contains(&w),
            "{what}: `{w}` of a secret is on the page"
        );
    }
}

/// The keys every GPROD contour's matrix has: required by either repo, or shared.
const GPROD_KEYS: [&str; 4] = ["POSTGRES_PASSWORD", "JWT_SECRET", "PORT", "DATABASE_URL"];

fn env_files(contour: &str) -> (&'static str, &'static str) {
    match contour {
        "dev" => (".env.development", ".env.dev"),
        "stage" => (".env.staging", ".env.stage"),
        "prod" => (".env.production", ".env.prod"),
        other => panic!("not a GPROD contour: {other}"),
    }
}

/// One fixture set: render it, screenshot it, and check the DOM against `check`'s findings:
/// per contour a row for each key that matters, a column for each source (the env files, the
/// compose services `services`, the workloads `workloads`), fingerprints, missing cells, and
/// each finding's code in its key's row and in the list.
fn fixture_set(
    name: &str,
    set: &Path,
    kube: bool,
    services: &dyn Fn(&str) -> Vec<&'static str>,
    exit: i32,
) {
    let config = kube.then(|| set.join("kubernetes.envsync.toml"));
    let out = tempfile::tempdir().unwrap();
    let page = out.path().join("report.html");
    let r = report(set, config.as_deref(), &page, &[]);
    assert_eq!(r.code, exit, "{name}: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("wrote "), "{name}: {}", r.stdout);
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html, name);
    assert_no_secret(&html, &FIXTURE_SECRETS, name);
    screenshot(&page, name);

    let dom = dom(&page);
    assert_self_contained(&dom, name);
    assert_no_secret(&dom, &FIXTURE_SECRETS, name);
    let (code, json) = findings(set, config.as_deref());
    assert_eq!(code, exit, "{name}: check and report disagree");
    let all = json["findings"].as_array().unwrap();
    let contours = contours(&dom);
    let checked: Vec<String> = contours.iter().map(|c| c.name.clone()).collect();
    assert!(!checked.is_empty(), "{name}: no matrix");
    for c in &contours {
        let here: Vec<&serde_json::Value> = all
            .iter()
            .filter(|f| f["contour"].as_str() == Some(c.name.as_str()))
            .collect();
        // Rows: the keys that matter, each once.
        let mut want: Vec<String> = GPROD_KEYS.iter().map(|k| k.to_string()).collect();
        for f in &here {
            if let Some(k) = f["key"].as_str() {
                if !want.iter().any(|w| w == k) {
                    want.push(k.to_string());
                }
            }
        }
        let got: Vec<String> = c.rows.iter().map(|(k, _, _)| k.clone()).collect();
        assert_eq!(got, want, "{name} {}: rows", c.name);
        // Columns: both env files, the services that read the keys, the workloads.
        let (backend, infra) = env_files(&c.name);
        let mut sources = vec![backend.to_string(), infra.to_string()];
        sources.extend(services(&c.name).iter().map(|s| s.to_string()));
        if kube {
            sources.extend([
                "deployment/postgres".into(),
                "deployment/gprod-backend".into(),
            ]);
        }
        assert_eq!(c.sources, sources, "{name} {}: columns", c.name);
        // Cells: one per source, a fingerprint or a mark saying what is there instead.
        for (key, header, cells) in &c.rows {
            assert_eq!(cells.len(), sources.len(), "{name} {} {key}", c.name);
            for cell in cells {
                let fingerprinted =
                    cell.split_whitespace()
                        .collect::<Vec<_>>()
                        .windows(3)
                        .any(|w| {
                            w[0].parse::<usize>().is_ok()
                                && w[1] == "chars,"
                                && w[2].len() == 15
                                && w[2].starts_with("sha256:")
                                && w[2][7..].bytes().all(|b| b.is_ascii_hexdigit())
                        });
                assert!(
                    fingerprinted
                        || cell.starts_with("missing")
                        || cell.starts_with("declared, no value")
                        || cell.starts_with("set by the cluster"),
                    "{name} {} {key}: cell `{cell}`",
                    c.name
                );
            }
            // Every finding about the key is in its row, with its code and where it points.
            for f in here.iter().filter(|f| f["key"].as_str() == Some(key)) {
                let code = f["code"].as_str().unwrap();
                let row = format!("{header} {}", cells.join(" "));
                assert!(row.contains(code), "{name} {} {key}: no {code}", c.name);
                let l = &f["locations"][0];
                let at = format!(
                    "{} {}:{}",
                    l["repo"].as_str().unwrap(),
                    l["file"].as_str().unwrap(),
                    l["line"]
                );
                assert!(
                    row.contains(&format!("{code} at {at}")),
                    "{name} {} {key}: no `{code} at {at}` in {row}",
                    c.name
                );
            }
        }
    }
    // The findings list: one row per finding, in check's order.
    let listed: Vec<&str> = parts(&dom, "<tr data-code=\"")
        .into_iter()
        .map(|p| &p[..p.find('"').unwrap()])
        .collect();
    let want: Vec<&str> = all.iter().map(|f| f["code"].as_str().unwrap()).collect();
    assert_eq!(listed, want, "{name}: the findings list");
}

#[test]
fn gprod_renders_clean_with_three_contours() {
    let set = fixtures().join("gprod");
    fixture_set("gprod", &set, false, &|_| vec!["db", "app"], 0);
    fixture_set("gprod-kubernetes", &set, true, &|_| vec!["db", "app"], 0);
}

#[test]
fn drift_sets_render_with_their_findings_in_the_cells() {
    let drift = fixtures().join("drift");
    fixture_set(
        "compose-dotenv-trap",
        &drift.join("compose-dotenv-trap"),
        false,
        &|_| vec!["db", "app"],
        1,
    );
    fixture_set(
        "password-mismatch",
        &drift.join("password-mismatch"),
        false,
        &|_| vec!["db", "app"],
        1,
    );
    fixture_set(
        "port-drift",
        &drift.join("port-drift"),
        false,
        &|_| vec!["db", "app"],
        1,
    );
    // Its prod infra file has conflict markers: compose would refuse prod's project.
    let services = |c: &str| -> Vec<&'static str> {
        match c {
            "prod" => vec![],
            _ => vec!["db", "app"],
        }
    };
    fixture_set(
        "merge-conflict",
        &drift.join("merge-conflict"),
        false,
        &services,
        1,
    );
    let page =
        std::fs::read_to_string(root().join("target/test-artifacts/html/merge-conflict.html"))
            .unwrap();
    assert!(page.contains("The compose project is not shown"), "{page}");
}

#[test]
fn kubernetes_drift_sets_render_with_their_workloads() {
    let drift = fixtures().join("drift");
    for (set, exit) in [
        ("k8s-missing-key", 1),
        ("k8s-value-mismatch", 1),
        ("k8s-typed-value", 1),
        ("k8s-plaintext-secret", 0),
    ] {
        fixture_set(set, &drift.join(set), true, &|_| vec![], exit);
    }
}

/// Sixteen more keys every GPROD backend file holds, required by an envsync.toml: twenty rows.
const MORE_KEYS: [&str; 16] = [
    "NODE_ENV",
    "HOST",
    "APP_NAME",
    "APP_VERSION",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_USER",
    "POSTGRES_DB",
    "JWT_EXPIRES",
    "JWT_REFRESH_EXPIRES",
    "LOG_LEVEL",
    "DEBUG",
    "CORS_ENABLED",
    "CORS_ORIGIN",
    "RATE_LIMIT_WINDOW_MS",
    "RATE_LIMIT_MAX",
];

/// The contract's size: three contours, twenty keys, the env files, two compose services and
/// two workloads per contour, laid out by the browser in a 1280-pixel window without
/// scrolling sideways and with text no smaller than 12 pixels. The layout is measured by a
/// script added to a copy of the page (the page itself has none, and its policy would refuse
/// one).
#[test]
fn three_contours_and_twenty_keys_fit_a_1280_pixel_window() {
    let (d, _b, _i) = gprod_pair();
    let kube = std::fs::read_to_string(fixtures().join("gprod/kubernetes.envsync.toml")).unwrap();
    let keys: Vec<String> = MORE_KEYS.iter().map(|k| format!("\"{k}\"")).collect();
    std::fs::write(
        d.path().join("envsync.toml"),
        format!("{kube}\n[keys]\nrequired_backend = [{}]\n", keys.join(", ")),
    )
    .unwrap();
    let page = d.path().join("report.html");
    let r = report(d.path(), None, &page, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    screenshot(&page, "gprod-twenty-keys");
    let dom = dom(&page);
    let contours = contours(&dom);
    assert_eq!(
        contours.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["dev", "stage", "prod"]
    );
    for c in &contours {
        assert_eq!(c.rows.len(), 20, "{}: {:?}", c.name, c.rows);
        assert_eq!(c.sources.len(), 6, "{}: {:?}", c.name, c.sources);
    }

    let html = std::fs::read_to_string(&page).unwrap();
    let start = html.find("<meta http-equiv").unwrap();
    let end = start + html[start..].find('>').unwrap() + 1;
    let probe = format!(
        "{}{}",
        &html[..start],
        &html[end..].replace(
            "</body>",
            "<script>\
             const b = document.body, s = (q) => getComputedStyle(document.querySelector(q)).fontSize;\
             b.setAttribute('data-scroll-width', document.documentElement.scrollWidth);\
             b.setAttribute('data-cell-font', s('td.cell'));\
             b.setAttribute('data-key-font', s('tbody th'));\
             b.setAttribute('data-mark-font', s('.kind'));\
             </script></body>"
        )
    );
    let probe_page = d.path().join("probe.html");
    std::fs::write(&probe_page, probe).unwrap();
    let measured = chromium(&probe_page, &["--dump-dom", "--window-size=1280,2000"]);
    let px = |name: &str| -> f64 {
        attr(&measured, name)
            .trim_end_matches("px")
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert!(
        px("data-scroll-width") <= 1280.0,
        "the page is {} pixels wide",
        px("data-scroll-width")
    );
    for font in ["data-cell-font", "data-key-font", "data-mark-font"] {
        assert!(px(font) >= 12.0, "{font}: {}px", px(font));
    }
}

/// Canary secrets planted in every source (the backend file, the infra file, a compose
/// `environment:` entry, an env_file only compose reads, a Kubernetes values file) are on the
/// page as fingerprints only, and as themselves with `--show-values` (a private file then).
#[test]
fn canaries_in_every_source_stay_off_the_page_without_show_values() {
    use std::os::unix::fs::PermissionsExt;
    let (d, b, i) = gprod_pair();
    std::fs::copy(
        fixtures().join("gprod/kubernetes.envsync.toml"),
        d.path().join("envsync.toml"),
    )
    .unwrap();
    let canaries = [
        "canary-pg-Mv4Tn6Qs8Wy2",
        "canary-jwt-7Hq2Lx9Vw3Kp8Zr1",
        "canary-url-pw-Rb5Jc7Xd9",
        "canary-extra-Gf3Hk5Lm7",
        "canary-k8s-Qe3Wr5Ty7Ui9",
    ];
    let edit = |path: &Path, from: &str, to: &str| {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains(from), "{}: no {from}", path.display());
        std::fs::write(path, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        &b.join(".env.production"),
        "POSTGRES_PASSWORD='prd-Qz7#Lm2@Vx9!Kw4'",
        &format!("POSTGRES_PASSWORD='{}'", canaries[0]),
    );
    edit(
        &i.join(".env.prod"),
        "JWT_SECRET=prd-Xa9Lq2Vn7Kc4Rz1Tb8Mw5Jh3Ps6Gd0Fy4e",
        &format!("JWT_SECRET={}", canaries[1]),
    );
    edit(
        &i.join("docker/prod/docker-compose.prod.yml"),
        "      - ../../backend/.env.production\n",
        &format!(
            "      - ../../backend/.env.production\n      - ../extra.env\n    environment:\n      DATABASE_URL: postgresql://postgres:{}@db:5432/gprod_prod\n",
            canaries[2]
        ),
    );
    std::fs::write(
        i.join("extra.env"),
        format!("EXTRA_TOKEN={}\nPORT=3200\n", canaries[3]),
    )
    .unwrap();
    edit(
        &b.join("helm/gprod-backend/values-prod.yaml"),
        "JWT_SECRET: prd-Xa9Lq2Vn7Kc4Rz1Tb8Mw5Jh3Ps6Gd0Fy4e",
        &format!("JWT_SECRET: {}", canaries[4]),
    );
    let page = d.path().join("report.html");
    let r = report(d.path(), None, &page, &["-c", "prod"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    for c in canaries {
        assert!(
            !r.stdout.contains(c) && !r.stderr.contains(c),
            "{c} printed"
        );
    }
    let html = std::fs::read_to_string(&page).unwrap();
    assert_no_secret(&html, &canaries, "masked page");
    assert_eq!(
        std::fs::metadata(&page).unwrap().permissions().mode() & 0o777,
        0o644
    );
    // The planted values are there, as fingerprints.
    let url = format!("postgresql://postgres:{}@db:5432/gprod_prod", canaries[2]);
    for v in [canaries[0], canaries[1], &url, canaries[4]] {
        assert!(
            html.contains(&envsync::mask::fingerprint(v)),
            "no fingerprint of {v}"
        );
    }

    let shown = d.path().join("shown.html");
    let r = report(d.path(), None, &shown, &["-c", "prod", "--show-values"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let html = std::fs::read_to_string(&shown).unwrap();
    for c in [canaries[0], canaries[1], canaries[2], canaries[4]] {
        assert!(html.contains(c), "--show-values: {c} is not on the page");
    }
    assert_eq!(
        std::fs::metadata(&shown).unwrap().permissions().mode() & 0o777,
        0o600,
        "a page with values is private"
    );
}

/// Names and values from files are escaped: a required key named `<script>…` (from
/// envsync.toml) and, with `--show-values`, a value full of markup are text on the page, and
/// the browser builds no element from them.
#[test]
fn names_and_values_are_escaped() {
    let (d, b, i) = gprod_pair();
    let key = "<script>alert(1)</script>";
    std::fs::write(
        d.path().join("envsync.toml"),
        "[repos.backend]\npath = \"backend\"\n[repos.infra]\npath = \"infra\"\n\
         [keys]\nrequired_backend = [\"<script>alert(1)</script>\"]\npublic = [\"PORT\", \"APP_NAME\"]\n\
         shared = [\"APP_NAME\"]\n",
    )
    .unwrap();
    let value = r#"<b onmouseover="x">A&B</b> "q""#;
    for f in [b.join(".env.production"), i.join(".env.prod")] {
        let text = std::fs::read_to_string(&f).unwrap();
        let text = text
            .lines()
            .filter(|l| !l.starts_with("APP_NAME="))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&f, format!("{text}\nAPP_NAME='{value}'\n")).unwrap();
    }
    let page = d.path().join("report.html");
    let r = report(d.path(), None, &page, &["-c", "prod", "--show-values"]);
    assert_eq!(
        r.code, 1,
        "missing-key of the odd key: {}{}",
        r.stdout, r.stderr
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Both repos read the value alike (single quotes): one finding, the odd key's.
    assert!(!html.contains("value-mismatch"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<b "), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&lt;b onmouseover=&quot;x&quot;&gt;A&amp;B&lt;/b&gt;"),
        "{html}"
    );
    // The browser reads them as text: the key's row and the value's cells, and no element.
    let dom = dom(&page);
    assert!(!dom.contains("<script") && !dom.contains("<b "), "{dom}");
    let prod = &contours(&dom)[0];
    let (_, header, cells) = prod
        .rows
        .iter()
        .find(|(k, _, _)| text(k) == key)
        .unwrap_or_else(|| panic!("no row for the key: {prod:?}"));
    assert!(header.starts_with(key), "{header}");
    assert!(
        cells[0].starts_with("missing error missing-key at backend .env.production"),
        "{cells:?}"
    );
    let (_, _, cells) = prod.rows.iter().find(|(k, _, _)| k == "APP_NAME").unwrap();
    assert!(
        cells[0].contains(value) && cells[1].contains(value),
        "{cells:?}"
    );
    assert!(
        cells[0].contains(&envsync::mask::fingerprint(value)),
        "{cells:?}"
    );
}

/// A page that cannot be written, or a run in trouble, leaves no file: exit 2, nothing in the
/// way of the next run, and an earlier page untouched.
#[test]
fn a_failing_run_leaves_no_partial_file() {
    let (d, _b, _i) = gprod_pair();
    let missing = d.path().join("no/such/dir/report.html");
    let r = report(d.path(), None, &missing, &[]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no/such/dir"), "{}", r.stderr);
    assert!(!d.path().join("no").exists());

    let page = d.path().join("report.html");
    std::fs::write(&page, "the previous page").unwrap();
    let r = report(d.path(), None, &page, &["-c", "nope"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(std::fs::read_to_string(&page).unwrap(), "the previous page");
    // A directory where the file should be: refused, nothing left beside it.
    let dir = d.path().join("taken");
    std::fs::create_dir(&dir).unwrap();
    let r = report(d.path(), None, &dir, &[]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // And a run that succeeds replaces the old page whole.
    let r = report(d.path(), None, &page, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(std::fs::read_to_string(&page)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
}

/// A page with values on it is private even where a page without values was written before:
/// `report --html` then `report --html --show-values` to the same file (what a CI job or a
/// user re-running with the flag does) must not leave the values readable by everyone.
#[test]
fn a_page_with_values_never_keeps_an_earlier_pages_open_mode() {
    use std::os::unix::fs::PermissionsExt;
    let (d, _b, _i) = gprod_pair();
    let page = d.path().join("report.html");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let r = report(d.path(), None, &page, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(mode(&page), 0o644);
    let r = report(d.path(), None, &page, &["--show-values"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("prd-Xa9Lq2Vn7Kc4Rz1Tb8Mw5Jh3Ps6Gd0Fy4e"));
    assert_eq!(
        mode(&page),
        0o600,
        "a page with values is readable by others"
    );
    // Through a symbolic link, to a file someone made group-writable: still private.
    let target = d.path().join("target.html");
    std::fs::write(&target, "old").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o664)).unwrap();
    let link = d.path().join("link.html");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let r = report(d.path(), None, &link, &["--show-values"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(mode(&target), 0o600);
    // Without values an existing file keeps what it had, narrowed to the page's 0644.
    let r = report(d.path(), None, &link, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(mode(&target), 0o600);
}
