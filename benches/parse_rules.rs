//! Parser, decoders and rules on realistic and large inputs.
//! Run: `cargo bench --bench parse_rules` (only the compose groups: `-- compose`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use envsync::check::evaluate;
use envsync::config::Config;
use envsync::config::Rules;
use envsync::dialect::{Dialect, Env};
use envsync::envfile::EnvFile;
use envsync::load::{ContourFiles, LoadedFile};
use envsync::model::{Contour, Repo};

fn big_file(lines: usize) -> Vec<u8> {
    let mut s = String::with_capacity(lines * 40);
    for i in 0..lines {
        match i % 10 {
            0 => s.push_str(&format!("# section {i}\n")),
            1 => s.push_str(&format!("export KEY_{i}=\"quoted value {i}\"\n")),
            2 => s.push_str(&format!("KEY_{i}='single $quoted'\n")),
            3 => s.push_str(&format!("KEY_{i}=value_{i} # trailing\n")),
            4 => s.push('\n'),
            _ => s.push_str(&format!("KEY_{i}=plain-{i}-abcdefghij\n")),
        }
    }
    s.into_bytes()
}

/// One contour's backend (node dotenv) and infra (compose) files, loaded as `check` loads them.
fn pair<'c>(contour: &'c Contour, backend: &[u8], infra: &[u8]) -> ContourFiles<'c> {
    ContourFiles {
        contour,
        backend: Some(LoadedFile::load(
            Repo::Backend,
            "backend".into(),
            backend,
            (Dialect::NodeDotenv, Dialect::Compose),
            Env::Isolated,
        )),
        infra: Some(LoadedFile::load(
            Repo::Infra,
            "infra".into(),
            infra,
            (Dialect::Compose, Dialect::NodeDotenv),
            Env::Isolated,
        )),
        compose: None,
        nginx: vec![],
        kube: None,
    }
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/gprod/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn benches(c: &mut Criterion) {
    let big = big_file(100_000);
    let mut g = c.benchmark_group("100k-lines");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(20);
    g.bench_function("parse+render", |b| b.iter(|| EnvFile::parse(&big).render()));
    g.bench_function("decode node-dotenv", |b| {
        b.iter(|| Dialect::NodeDotenv.decode(&big, &|_| None))
    });
    g.bench_function("decode compose", |b| {
        b.iter(|| Dialect::Compose.decode(&big, &|_| None))
    });
    g.bench_function(
        "parse+check two 100k-line files (both dialects + rules)",
        |b| {
            let config = Config::preset();
            let rules = Rules::gprod();
            let mask = rules.mask(false);
            let prod = config.contour("prod").unwrap();
            b.iter(|| {
                let files = [pair(prod, &big, &big)];
                evaluate(&rules, &mask, &files, &files)
            })
        },
    );
    g.bench_function(
        "parse+check one 100k-line file (backend) against the prod infra fixture",
        |b| {
            let config = Config::preset();
            let rules = Rules::gprod();
            let mask = rules.mask(false);
            let prod = config.contour("prod").unwrap();
            let infra = fixture("infra/.env.prod");
            b.iter(|| {
                let files = [pair(prod, &big, &infra)];
                evaluate(&rules, &mask, &files, &files)
            })
        },
    );
    g.finish();

    let config = Config::preset();
    let rules = Rules::gprod();
    let mask = rules.mask(false);
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = [
        ("development", "dev"),
        ("staging", "stage"),
        ("production", "prod"),
    ]
    .iter()
    .map(|(b, i)| {
        (
            fixture(&format!("backend/.env.{b}")),
            fixture(&format!("infra/.env.{i}")),
        )
    })
    .collect();
    c.bench_function("gprod fixtures: load 6 files + all rules", |b| {
        b.iter(|| {
            let files: Vec<ContourFiles> = config
                .contours
                .iter()
                .zip(&pairs)
                .map(|(contour, (bb, ib))| pair(contour, bb, ib))
                .collect();
            evaluate(&rules, &mask, &files, &files)
        })
    });
}

/// The prod compose project of the GPROD fixtures, read from memory as `check` reads it.
fn compose_prod() -> Option<envsync::compose::Project> {
    use envsync::compose::{join, load, Input, Lookup, Read};
    let root = format!("{}/fixtures/gprod/infra", env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| match std::fs::read(format!("{root}/{p}")) {
        Ok(bytes) => Lookup::Found(Read {
            repo: Repo::Infra,
            file: join("", p),
            bytes,
        }),
        Err(_) => Lookup::Absent,
    };
    let files = [
        "docker/docker-compose.yml".to_string(),
        "docker/prod/docker-compose.prod.yml".to_string(),
    ];
    load(&Input {
        files: &files,
        project_directory: None,
        env_files: None,
        root_name: "infra",
        process: Env::Isolated,
        read: &read,
        cache: None,
        known: &|_, _| None,
    })
    .expect("the fixture's files read")
}

fn compose(c: &mut Criterion) {
    assert!(compose_prod().is_some_and(|p| p.services.len() == 4));
    c.bench_function(
        "compose: load the prod project (2 files, 4 services)",
        |b| b.iter(compose_prod),
    );
}

/// `n` anchored mappings of two keys each (one of them shared), all merged into one mapping
/// by a single merge key: `<<: [*a0, *a1, …]`.
fn merge_keys(n: usize) -> String {
    let mut t = String::new();
    for i in 0..n {
        t.push_str(&format!("x-{i}: &a{i} {{K{i}: v{i}, SHARED: s{i}}}\n"));
    }
    t.push_str("m:\n  <<: [");
    for i in 0..n {
        t.push_str(&format!("*a{i}, "));
    }
    t.push_str("]\n");
    t
}

/// A base file whose service sets `n` environment keys, and an overlay that sets every other
/// one again and adds `n` new ones, loaded as one project (`-f base -f overlay`).
fn overlaid_environment(n: usize) -> [(String, Vec<u8>); 2] {
    let mut base = String::from("services:\n  api:\n    environment:\n");
    let mut overlay = base.clone();
    for i in 0..n {
        base.push_str(&format!("      K{i}: base{i}\n"));
        if i % 2 == 0 {
            overlay.push_str(&format!("      K{i}: over{i}\n"));
        }
        overlay.push_str(&format!("      N{i}: new{i}\n"));
    }
    [
        ("docker/base.yml".into(), base.into_bytes()),
        ("docker/overlay.yml".into(), overlay.into_bytes()),
    ]
}

fn load_overlaid(files: &[(String, Vec<u8>); 2]) -> envsync::compose::Project {
    use envsync::compose::{load, Input, Lookup, Read};
    let read = |p: &str| match files.iter().find(|(f, _)| f == p) {
        Some((f, bytes)) => Lookup::Found(Read {
            repo: Repo::Infra,
            file: f.clone(),
            bytes: bytes.clone(),
        }),
        None => Lookup::Absent,
    };
    let order = [files[0].0.clone(), files[1].0.clone()];
    load(&Input {
        files: &order,
        project_directory: None,
        env_files: None,
        root_name: "infra",
        process: Env::Isolated,
        read: &read,
        cache: None,
        known: &|_, _| None,
    })
    .expect("in memory")
    .expect("two files")
}

/// Issue 19, F5: merge keys and the `environment` merge across overlays scale linearly: 10x
/// the input takes about 10x the time (it took about 100x when each key was looked for among
/// all the keys before it). Compare the 1k and 10k lines of each group.
fn compose_scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("compose merge keys");
    g.sample_size(20);
    for n in [1_000, 10_000] {
        let text = merge_keys(n);
        let merged = envsync::compose::yaml::parse(&text).expect("valid YAML");
        assert_eq!(
            merged.get("m").and_then(|m| m.as_map()).map(<[_]>::len),
            Some(n + 1)
        );
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(format!("{n} merges"), &text, |b, t| {
            b.iter(|| envsync::compose::yaml::parse(t))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("compose environment over an overlay");
    g.sample_size(20);
    for n in [1_000, 10_000] {
        let files = overlaid_environment(n);
        assert_eq!(
            load_overlaid(&files).services["api"].environment.len(),
            2 * n
        );
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(format!("{n} keys"), &files, |b, f| {
            b.iter(|| load_overlaid(f))
        });
    }
    g.finish();
}

criterion_group!(parse_rules, benches, compose, compose_scaling);
criterion_main!(parse_rules);
