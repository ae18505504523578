//! Where the URL and route come from: compose-resolved via the host port, docker, backend alone.

use std::fs;
use std::path::PathBuf;

use super::{count, migrations};
use crate::common::{copy_tree, envsync, fixtures, run, set_line, Stub};
use crate::pg::cluster;

/// A GPROD-shaped pair whose prod `DATABASE_URL` uses `${POSTGRES_PASSWORD}` from infra, with a
/// password full of URL-special characters, reached through `--via host` on the test cluster.
#[test]
fn the_backend_url_is_resolved_like_compose_and_routed_through_the_host_port() {
    let pg = cluster();
    let password = "p@ss:w/rd#?%$=x";
    pg.fresh("gprod_prod_t", "gprod_app", password);
    pg.admin(
        "gprod_prod_t",
        "ALTER DATABASE gprod_prod_t OWNER TO gprod_app;",
    );
    let work = tempfile::tempdir().unwrap();
    let (b, i) = (work.path().join("backend"), work.path().join("infra"));
    copy_tree(&fixtures().join("gprod/backend"), &b);
    copy_tree(&fixtures().join("gprod/infra"), &i);
    let set = |p: PathBuf, key: &str, line: &str| set_line(&p, key, line);
    set(
        b.join(".env.production"),
        "DATABASE_URL",
        "DATABASE_URL=postgresql://gprod_app:${POSTGRES_PASSWORD}@db:5432/gprod_prod_t",
    );
    set(b.join(".env.production"), "POSTGRES_PASSWORD", "");
    set(
        i.join(".env.prod"),
        "POSTGRES_PASSWORD",
        &format!("POSTGRES_PASSWORD='{password}'"),
    );
    let m = migrations(2);
    // The cluster's port is known only to the compose file: the contour table still says 5434.
    let prod = i.join("docker/prod/docker-compose.prod.yml");
    let compose = fs::read_to_string(&prod).unwrap();
    assert!(compose.contains("\"5434:5432\""));
    fs::write(
        &prod,
        compose.replace("\"5434:5432\"", &format!("\"127.0.0.1:{}:5432\"", pg.port)),
    )
    .unwrap();
    fs::write(
        work.path().join("envsync.toml"),
        "[repos.backend]\npath = \"backend\"\n[repos.infra]\npath = \"infra\"\n",
    )
    .unwrap();
    let mut c = envsync(work.path());
    let r = run(c
        .args(["migrate", "-c", "prod", "--via", "host", "--dir"])
        .arg(m.path()));
    // `${POSTGRES_PASSWORD}` in a URL is not percent-encoded by compose: the raw `@`, `/`, `#`
    // break the URL, and envsync says so instead of connecting somewhere else.
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        !r.stderr.contains("w/rd") && !r.stdout.contains("w/rd"),
        "{}{}",
        r.stdout,
        r.stderr
    );

    // With the URL as `envsync fix` writes it (percent-encoded), the same pair migrates.
    set(
        b.join(".env.production"),
        "DATABASE_URL",
        "DATABASE_URL=postgresql://gprod_app:${PW_ENC}@db:5432/gprod_prod_t",
    );
    let encoded: String =
        percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let text = fs::read_to_string(i.join(".env.prod")).unwrap();
    fs::write(i.join(".env.prod"), format!("{text}PW_ENC={}\n", encoded)).unwrap();
    let mut c = envsync(work.path());
    let r = run(c
        .args(["migrate", "-c", "prod", "--via", "host", "--dir"])
        .arg(m.path()));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "db:5432 -> 127.0.0.1:{}, published by the db service, infra docker/prod/docker-compose.prod.yml:8",
            pg.port
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("gprod_app:****@127.0.0.1"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("w/rd") && !r.stdout.contains(&encoded),
        "{}",
        r.stdout
    );
    assert_eq!(count("gprod_prod_t", "SELECT count(*) FROM hits"), 1);
}

#[test]
fn the_docker_route_builds_a_throwaway_container_command() {
    let stub = Stub::new(
        "docker",
        "printf '%s' \"$ENVSYNC_DATABASE_URL\" > \"$(dirname \"$0\")/url\"; exit 0",
    );
    let m = migrations(1);
    let mut c = envsync(m.path());
    let r = run(c
        .env("PATH", stub.path_var())
        .args(["migrate", "-c", "stage", "--via", "docker", "--dir"])
        .arg(m.path())
        .args([
            "--database-url",
            "postgresql://app:S3cret%40@db:5432/gprod_stage",
        ]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let calls = stub.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let args: Vec<&str> = calls[0].iter().map(String::as_str).collect();
    let has = |pair: [&str; 2]| args.windows(2).any(|w| w == pair);
    assert_eq!(args[0], "run");
    assert!(has(["--network", "gp-network-stage"]), "{args:?}");
    assert!(has(["--pull", "never"]), "{args:?}");
    assert!(has(["-e", "ENVSYNC_DATABASE_URL"]), "{args:?}");
    assert!(
        args.contains(&"--rm") && args.contains(&"gprod-backend:latest"),
        "{args:?}"
    );
    assert!(
        args.iter().any(|a| a.ends_with(":/migrations:ro")),
        "{args:?}"
    );
    assert!(
        args.iter()
            .any(|a| a.ends_with(":/usr/local/bin/envsync:ro")),
        "{args:?}"
    );
    assert!(has(["--via", "direct"]), "{args:?}");
    // The container uses the ledger found here, whatever its own detection would say.
    assert!(has(["--ledger", "sqlx"]), "{args:?}");
    assert!(
        !args.iter().any(|a| a.contains("S3cret")),
        "password on the command line: {args:?}"
    );
    let url = fs::read_to_string(stub.dir.path().join("url")).unwrap();
    assert_eq!(url, "postgresql://app:S3cret%40@db:5432/gprod_stage");
    assert!(
        r.stdout.contains("route: docker (network gp-network-stage"),
        "{}",
        r.stdout
    );
}

/// From the backend alone: no infra checkout, the contour taken from the `.env` symlink, the
/// migrations from `migrations/` of the backend.
#[test]
fn the_backend_alone_is_enough_when_its_url_is_complete() {
    let pg = cluster();
    pg.fresh("m_alone", "m_alone_app", "pw#1");
    pg.admin("m_alone", "ALTER DATABASE m_alone OWNER TO m_alone_app;");
    let work = tempfile::tempdir().unwrap();
    let b = work.path().join("gprod-backend");
    copy_tree(&fixtures().join("gprod/backend"), &b);
    let url = pg.url("m_alone_app", "pw#1", "m_alone");
    set_line(
        &b.join(".env.production"),
        "DATABASE_URL",
        &format!("DATABASE_URL={url}"),
    );
    let mut c = envsync(&b);
    let r = run(c.args(["migrate", "--via", "direct"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("from backend .env.production"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("applied 3 migrations"), "{}", r.stdout);
    assert_eq!(
        count("m_alone", "SELECT count(*) FROM _prisma_migrations"),
        3
    );
}

/// `--via docker --backup DIR`: the envsync in the container takes the dump with the image's
/// pg_dump, into DIR mounted at the same path (made here first, private), named for the contour.
#[test]
fn the_docker_route_takes_its_backup_in_the_container_into_the_same_path() {
    use std::os::unix::fs::PermissionsExt;
    let stub = Stub::new("docker", "exit 0");
    let m = migrations(1);
    let cwd = tempfile::tempdir().unwrap();
    let r = run(envsync(cwd.path())
        .env("PATH", stub.path_var())
        .args([
            "migrate", "-c", "stage", "--via", "docker", "--backup", "dumps", "--dir",
        ])
        .arg(m.path())
        .args([
            "--database-url",
            "postgresql://app:S3cret%40@db:5432/gprod_stage",
        ]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let dumps = fs::canonicalize(cwd.path()).unwrap().join("dumps");
    assert_eq!(
        fs::metadata(&dumps).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let calls = stub.calls();
    let args: Vec<&str> = calls[0].iter().map(String::as_str).collect();
    let has = |pair: [&str; 2]| args.windows(2).any(|w| w == pair);
    let d = dumps.display().to_string();
    assert!(has(["-v", &format!("{d}:{d}")]), "{args:?}");
    assert!(has(["--backup", &d]), "{args:?}");
    assert!(has(["--backup-contour", "stage"]), "{args:?}");
}
