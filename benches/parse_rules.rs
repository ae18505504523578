//! Parser, decoders and rules on realistic and large inputs.
//! Run: `cargo bench --bench parse_rules`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use envsync::config::{Config, Repo};
use envsync::dialect::Dialect;
use envsync::envfile::EnvFile;
use envsync::rules::{evaluate, ContourFiles, LoadedFile, Rules};

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
            let prod = config.contour("prod").unwrap();
            b.iter(|| {
                let files = [ContourFiles {
                    contour: prod,
                    backend: Some(LoadedFile::load(
                        Repo::Backend,
                        "big".into(),
                        &big,
                        Dialect::NodeDotenv,
                        Dialect::Compose,
                    )),
                    infra: Some(LoadedFile::load(
                        Repo::Infra,
                        "big".into(),
                        &big,
                        Dialect::Compose,
                        Dialect::NodeDotenv,
                    )),
                }];
                evaluate(&rules, &files, &files)
            })
        },
    );
    g.bench_function(
        "parse+check one 100k-line file (backend) against the prod infra fixture",
        |b| {
            let config = Config::preset();
            let rules = Rules::gprod();
            let prod = config.contour("prod").unwrap();
            let infra = fixture("infra/.env.prod");
            b.iter(|| {
                let files = [ContourFiles {
                    contour: prod,
                    backend: Some(LoadedFile::load(
                        Repo::Backend,
                        "big".into(),
                        &big,
                        Dialect::NodeDotenv,
                        Dialect::Compose,
                    )),
                    infra: Some(LoadedFile::load(
                        Repo::Infra,
                        ".env.prod".into(),
                        &infra,
                        Dialect::Compose,
                        Dialect::NodeDotenv,
                    )),
                }];
                evaluate(&rules, &files, &files)
            })
        },
    );
    g.finish();

    let config = Config::preset();
    let rules = Rules::gprod();
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
                .map(|(contour, (bb, ib))| ContourFiles {
                    contour,
                    backend: Some(LoadedFile::load(
                        Repo::Backend,
                        "b".into(),
                        bb,
                        Dialect::NodeDotenv,
                        Dialect::Compose,
                    )),
                    infra: Some(LoadedFile::load(
                        Repo::Infra,
                        "i".into(),
                        ib,
                        Dialect::Compose,
                        Dialect::NodeDotenv,
                    )),
                })
                .collect();
            evaluate(&rules, &files, &files)
        })
    });
}

criterion_group!(parse_rules, benches);
criterion_main!(parse_rules);

// The allocator the binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
