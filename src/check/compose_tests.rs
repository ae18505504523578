//! Table tests of the compose rule families in `check::compose` (`problems`, `published_ports`,
//! `container_ports`, `networks`, `volumes`, `effective_env`, `database`): each row edits an
//! in-memory infra repo whose prod contour is clean and names every finding `check` must give
//! for prod, with its code, severity and the file lines it points at.

use std::collections::BTreeMap;

use super::super::testkit::{self, good_backend, good_infra, E, JWT, PW, W};
use crate::compose::{nginx, Project};
use crate::config::{Config, Rules};
use crate::finding::{Finding, Location, Severity};
use crate::load::ContourFiles;
use crate::model::Repo;

/// The base compose file every contour reads first.
const BASE: &str = "docker/docker-compose.yml";
/// The prod contour's compose file.
const PROD: &str = "docker/prod/docker-compose.prod.yml";
/// The stage contour's compose file (absent unless a row writes it).
const STAGE: &str = "docker/stage/docker-compose.stage.yml";
/// The backend's env file, as `testkit::files` names it (the only backend file here).
const BACKEND: &str = ".env.test";
/// The infra root's env file: the contour's infra env file, and `../.env` for compose.
const INFRA: &str = ".env";
/// The project directory's `.env`, which compose interpolates from (absent unless written).
const PROJECT_ENV: &str = "docker/.env";
/// An nginx configuration that applies to prod.
const NGINX: &str = "nginx/gprod.conf";

const BASE_TEXT: &str = "\
services:
  db:
    image: postgres
  app:
    image: api
";

/// The prod compose file with nothing to report (its line numbers in the comment below).
const PROD_TEXT: &str = "\
services:
  db:
    env_file: [../.env]
    ports: [\"5434:5432\"]
    volumes: [\"pgdata_prod:/var/lib/postgresql/data\"]
  app:
    environment:
      PORT: 3200
    ports: [\"3200:3200\"]
networks:
  default:
    name: gp-network-prod
volumes:
  pgdata_prod:
";
// 1 services:            6 app:               11 default:
// 2 db:                  7 environment:       12 name: gp-network-prod
// 3 env_file             8 PORT: 3200         13 volumes:
// 4 ports 5434:5432      9 ports 3200:3200    14 pgdata_prod:
// 5 volumes pgdata_prod 10 networks:

/// `(file, from, to)`: replace every `from` in `file` with `to`; a file not there yet is
/// created with `to` (then `from` is empty).
type Edit<'a> = (&'a str, &'a str, &'a str);
/// A finding a row expects: code, severity, and its locations as `(file, line)` (a file is in
/// the infra repo unless it is [`BACKEND`]).
type Want<'a> = (&'a str, Severity, &'a [(&'a str, usize)]);
/// A table row: what it shows, the edits of the clean repo, every finding prod then has.
type Case<'a> = (&'a str, &'a [Edit<'a>], &'a [Want<'a>]);

/// The clean repo (both env files in sync, [`BASE_TEXT`], [`PROD_TEXT`]) with `edits` applied.
fn repo(edits: &[Edit<'_>]) -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = [
        (BASE, BASE_TEXT.to_string()),
        (PROD, PROD_TEXT.to_string()),
        (BACKEND, good_backend(3200)),
        (INFRA, good_infra(3200)),
    ]
    .into_iter()
    .map(|(f, t)| (f.to_string(), t))
    .collect();
    for (file, from, to) in edits {
        match files.get_mut(*file) {
            Some(text) => {
                assert!(
                    !from.is_empty() && text.contains(from),
                    "{file} has no `{from}`"
                );
                *text = text.replace(from, to);
            }
            None => {
                assert!(from.is_empty(), "{file} does not exist");
                files.insert(file.to_string(), to.to_string());
            }
        }
    }
    files
}

/// The compose project of `contour` (its `-f` files as the preset names them) over the
/// in-memory infra repo `files` (`(path from the infra root, text)`); `None` when none of its
/// compose files exists.
fn project_of(contour: &str, files: &[(&str, &str)]) -> Option<Project> {
    let infra: Vec<(&str, &str)> = files
        .iter()
        .copied()
        .filter(|(f, _)| *f != BACKEND)
        .collect();
    let prod = format!("docker/{contour}/docker-compose.{contour}.yml");
    crate::compose::in_memory(&infra, &[BASE, &prod])
}

/// The prod contour's compose project over `files`.
fn project(files: &[(&str, &str)]) -> Option<Project> {
    project_of("prod", files)
}

/// Every finding `check` gives for prod when the repos hold `files`: prod has both env files,
/// its compose project and the nginx files under `nginx/`; the other contours have only their
/// compose projects (which share the base file).
fn findings(files: &BTreeMap<String, String>) -> Vec<Finding> {
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    let text = |p: &str| files.iter().find(|(f, _)| *f == p).map_or("", |(_, t)| *t);
    let config = Config::preset();
    let all: Vec<ContourFiles> = config
        .contours
        .iter()
        .map(|c| {
            if c.name == "prod" {
                let mut cf = testkit::files(c, text(BACKEND), text(INFRA));
                cf.compose = project(&files);
                cf.nginx = files
                    .iter()
                    .filter(|(f, _)| f.starts_with("nginx/"))
                    .map(|(f, t)| (f.to_string(), nginx::upstreams(t)))
                    .collect();
                cf
            } else {
                ContourFiles {
                    contour: c,
                    backend: None,
                    infra: None,
                    compose: project_of(&c.name, &files),
                    nginx: vec![],
                    kube: None,
                }
            }
        })
        .collect();
    let rules = Rules::gprod();
    super::super::evaluate(
        &rules,
        &rules.mask(false),
        all.iter().filter(|cf| cf.contour.name == "prod"),
        &all,
    )
}

type Row = (String, Severity, Vec<Location>);

fn at(file: &str, line: usize) -> Location {
    Location {
        repo: if file == BACKEND {
            Repo::Backend
        } else {
            Repo::Infra
        },
        file: file.to_string(),
        line,
    }
}

/// Findings as sorted `(code, severity, locations)`.
fn rows(findings: &[Finding]) -> Vec<Row> {
    let mut v: Vec<Row> = findings
        .iter()
        .map(|f| (f.code.name().to_string(), f.severity, f.locations.clone()))
        .collect();
    v.sort();
    v
}

fn wanted(want: &[Want<'_>]) -> Vec<Row> {
    let mut v: Vec<Row> = want
        .iter()
        .map(|(code, severity, locs)| {
            (
                code.to_string(),
                *severity,
                locs.iter().map(|(f, l)| at(f, *l)).collect(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Run every row: prod's findings must be exactly the row's.
fn assert_cases(cases: &[Case<'_>]) {
    for (name, edits, want) in cases {
        let files = repo(edits);
        let got = findings(&files);
        assert_eq!(
            rows(&got),
            wanted(want),
            "case `{name}`; findings: {got:#?}"
        );
    }
}

/// The message of the only finding with `code` in the repo `edits` make.
fn message(edits: &[Edit<'_>], code: &str) -> String {
    let got = findings(&repo(edits));
    let mut of_code = got.iter().filter(|f| f.code.name() == code);
    let f = of_code
        .next()
        .unwrap_or_else(|| panic!("no {code}: {got:#?}"));
    assert!(of_code.next().is_none(), "more than one {code}: {got:#?}");
    f.message.clone()
}

#[test]
fn the_clean_repo_has_a_project_and_no_finding() {
    let files = repo(&[]);
    let list: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    let p = project(&list).expect("prod's compose files exist");
    assert_eq!(p.name, "docker");
    assert_eq!(p.files, [BASE, PROD]);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert!(!p.refused());
    assert_eq!(rows(&findings(&files)), vec![]);
    // No compose file, no project, nothing compose-related to say.
    assert!(project(&[(INFRA, "PORT=3200\n")]).is_none());
}

#[test]
fn problems_report_what_compose_refuses_or_envsync_does_not_model() {
    assert_cases(&[
        ("clean", &[], &[]),
        (
            "an env_file that does not exist",
            &[(PROD, "[../.env]", "[../missing.env]")],
            &[("compose-file", E, &[(PROD, 3)])],
        ),
        (
            "`ports:` that is not a list",
            &[(PROD, "ports: [\"5434:5432\"]", "ports: 5434")],
            &[("compose-file", E, &[(PROD, 4)])],
        ),
        (
            "a compose file that is not YAML",
            &[(PROD, "[\"5434:5432\"]", "[\"5434:5432\"")],
            &[("compose-file", E, &[(PROD, 5)])],
        ),
        (
            "an undefined network refuses the project (nothing else is checked)",
            &[(
                PROD,
                "    ports: [\"5434:5432\"]\n",
                "    ports: [\"5432:5432\"]\n    networks: [nowhere]\n",
            )],
            &[("compose-file", E, &[(PROD, 5)])],
        ),
        (
            "volumes_from is not modelled; the rest is still checked",
            &[(
                PROD,
                "      PORT: 3200\n",
                "      PORT: 3200\n    volumes_from: [db]\n",
            )],
            &[("compose-unsupported", W, &[(PROD, 9)])],
        ),
        (
            "network_mode in the base file",
            &[(
                BASE,
                "    image: postgres\n",
                "    image: postgres\n    network_mode: host\n",
            )],
            &[("compose-unsupported", W, &[(BASE, 4)])],
        ),
        (
            "an unset secret: error, and the container gets it empty",
            &[(
                PROD,
                "      PORT: 3200\n",
                "      PORT: 3200\n      JWT_SECRET: ${NOPE}\n",
            )],
            &[
                ("compose-interpolation", E, &[(PROD, 9)]),
                ("value-mismatch", E, &[(PROD, 9), (BACKEND, 2)]),
            ],
        ),
        (
            "an unset variable of an unimportant key: warning",
            &[(
                PROD,
                "      PORT: 3200\n",
                "      PORT: 3200\n      LOG_LEVEL: ${NOPE}\n",
            )],
            &[("compose-interpolation", W, &[(PROD, 9)])],
        ),
        (
            "one variable twice on a line is one finding",
            &[(
                PROD,
                "      PORT: 3200\n",
                "      PORT: 3200\n      LOG_LEVEL: ${NOPE}-${NOPE}\n",
            )],
            &[("compose-interpolation", W, &[(PROD, 9)])],
        ),
        (
            "a secret-named variable in an unimportant key: error",
            &[(
                PROD,
                "      PORT: 3200\n",
                "      PORT: 3200\n      LOG_LEVEL: ${JWT_SECRET}\n",
            )],
            &[("compose-interpolation", E, &[(PROD, 9)])],
        ),
        (
            "a required variable without a value: error, and compose refuses",
            &[(
                PROD,
                "      PORT: 3200\n",
                "      PORT: 3200\n      LOG_LEVEL: ${NOPE:?set it}\n",
            )],
            &[("compose-interpolation", E, &[(PROD, 9)])],
        ),
        (
            "the project directory's .env defines it",
            &[
                (
                    PROD,
                    "      PORT: 3200\n",
                    "      PORT: 3200\n      LOG_LEVEL: ${LEVEL}\n",
                ),
                (PROJECT_ENV, "", "LEVEL=debug\n"),
            ],
            &[],
        ),
    ]);
}

#[test]
fn interpolation_messages_say_which_file_compose_reads() {
    let m = message(
        &[(
            PROD,
            "      PORT: 3200\n",
            "      PORT: 3200\n      LOG_LEVEL: ${JWT_SECRET}\n",
        )],
        "compose-interpolation",
    );
    assert!(
        m.contains("`${JWT_SECRET}` (in the value of LOG_LEVEL) is unset"),
        "{m}"
    );
    assert!(
        m.contains("compose reads `${…}` from `docker/.env`, which does not exist"),
        "{m}"
    );
    assert!(
        m.contains("`.env` at the infra root defines JWT_SECRET"),
        "{m}"
    );
    let m = message(
        &[
            (
                PROD,
                "      PORT: 3200\n",
                "      PORT: 3200\n      LOG_LEVEL: ${NOPE}\n",
            ),
            (PROJECT_ENV, "", "LEVEL=debug\n"),
        ],
        "compose-interpolation",
    );
    assert!(
        m.contains("from `docker/.env`, which does not define it"),
        "{m}"
    );
    assert!(!m.contains("infra root"), "{m}");
}

#[test]
fn published_ports_must_be_the_contours() {
    let roles = "    ports: [\"3200:3200\"]\n";
    let base_publishes = (
        BASE,
        "    image: postgres\n",
        "    image: postgres\n    ports: [\"5432:5432\"]\n",
    );
    let others = |adminer: &str, redis: &str| {
        format!(
            "{roles}  adminer:\n    ports: [\"{adminer}\"]\n  redis:\n    ports: [\"{redis}\"]\n"
        )
    };
    let dev_others = others("8080:8080", "6379:6379");
    let prod_others = others("8082:8080", "6381:6379");
    assert_cases(&[
        ("clean", &[], &[]),
        (
            "db publishes dev's port",
            &[(PROD, "\"5434:5432\"", "\"5432:5432\"")],
            &[("published-port", E, &[(PROD, 4)])],
        ),
        (
            "api publishes stage's port",
            &[(PROD, "\"3200:3200\"", "\"3100:3200\"")],
            &[("published-port", E, &[(PROD, 9)])],
        ),
        (
            "the base file's port is appended to the contour's",
            &[base_publishes],
            &[("published-port", E, &[(BASE, 4)])],
        ),
        (
            "`!override` replaces the base file's ports",
            &[
                base_publishes,
                (
                    PROD,
                    "ports: [\"5434:5432\"]",
                    "ports: !override [\"5434:5432\"]",
                ),
            ],
            &[],
        ),
        (
            "adminer and redis publish dev's ports",
            &[(PROD, roles, &dev_others)],
            &[
                ("published-port", E, &[(PROD, 11)]),
                ("published-port", E, &[(PROD, 13)]),
            ],
        ),
        (
            "adminer and redis publish prod's ports",
            &[(PROD, roles, &prod_others)],
            &[],
        ),
        (
            "a second published port next to the right one",
            &[(PROD, "\"3200:3200\"", "\"3200:3200\", \"9229:9229\"")],
            &[("published-port", E, &[(PROD, 9)])],
        ),
        (
            "a container port that is not published",
            &[(PROD, "\"3200:3200\"", "\"3200:3200\", \"9229\"")],
            &[],
        ),
    ]);
    let m = message(&[base_publishes], "published-port");
    assert!(
        m.contains("publishes host port 5432 (→ 5432) as well as 5434"),
        "{m}"
    );
    assert!(m.contains("`ports: !override`"), "{m}");
}

#[test]
fn container_ports_must_be_the_one_the_api_listens_on() {
    let no_port = (PROD, "      PORT: 3200\n", "      NODE_ENV: production\n");
    let own_port = (
        PROD,
        "      PORT: 3200\n    ports: [\"3200:3200\"]",
        "      PORT: 3000\n    ports: [\"3200:3000\"]",
    );
    let upstream = concat!(
        "upstream api {\n",
        "  server app:3000;\n",
        "}\n",
        "server {\n",
        "  location / { proxy_pass http://api; }\n",
        "}\n",
    );
    let elsewhere = concat!(
        "server {\n",
        "  location / { proxy_pass http://app:3200; }\n",
        "  location /db { proxy_pass http://adminer:8080; }\n",
        "}\n",
    );
    assert_cases(&[
        ("clean", &[], &[]),
        (
            "the api maps another container port than its PORT",
            &[(PROD, "\"3200:3200\"", "\"3200:3000\"")],
            &[("container-port", E, &[(PROD, 9)])],
        ),
        (
            "no PORT in the container: the backend's PORT decides",
            &[no_port, (PROD, "\"3200:3200\"", "\"3200:3000\"")],
            &[("container-port", E, &[(PROD, 9)])],
        ),
        (
            "no PORT in the container, the backend's mapped",
            &[no_port],
            &[],
        ),
        (
            "the container's PORT wins over the backend's (and differs from it)",
            &[own_port],
            &[("value-mismatch", E, &[(PROD, 8), (BACKEND, 1)])],
        ),
        (
            "a debugger port next to the API's",
            &[(PROD, "\"3200:3200\"", "\"3200:3200\", \"9229\"")],
            &[],
        ),
        (
            "nginx proxies to another port",
            &[(
                NGINX,
                "",
                "server {\n  location / {\n    proxy_pass http://app:3000;\n  }\n}\n",
            )],
            &[("container-port", E, &[(NGINX, 3)])],
        ),
        (
            "nginx's upstream block names another port",
            &[(NGINX, "", upstream)],
            &[("container-port", E, &[(NGINX, 2)])],
        ),
        (
            "nginx proxies without a port (80)",
            &[(
                NGINX,
                "",
                "server {\n  location / { proxy_pass http://app; }\n}\n",
            )],
            &[("container-port", E, &[(NGINX, 2)])],
        ),
        (
            "nginx proxies to the API's port, and elsewhere to another service",
            &[(NGINX, "", elsewhere)],
            &[],
        ),
    ]);
}

#[test]
fn networks_must_be_the_contours_and_shared() {
    let isolated = [
        (
            PROD,
            "    env_file: [../.env]\n",
            "    env_file: [../.env]\n    networks: [isolated]\n",
        ),
        (
            PROD,
            "    name: gp-network-prod\n",
            "    name: gp-network-prod\n  isolated:\n",
        ),
    ];
    let external = [
        (
            PROD,
            "    env_file: [../.env]\n",
            "    env_file: [../.env]\n    networks: [shared]\n",
        ),
        (
            PROD,
            "      PORT: 3200\n",
            "      PORT: 3200\n    networks: [shared]\n",
        ),
        (
            PROD,
            "    name: gp-network-prod\n",
            "    name: gp-network-prod\n  shared:\n    external: true\n",
        ),
    ];
    let named = [
        (
            PROD,
            "    env_file: [../.env]\n",
            "    env_file: [../.env]\n    networks: [backend]\n",
        ),
        (
            PROD,
            "      PORT: 3200\n",
            "      PORT: 3200\n    networks: [backend]\n",
        ),
        (
            PROD,
            "  default:\n    name: gp-network-prod\n",
            "  backend:\n    name: gp-network-prod\n",
        ),
    ];
    assert_cases(&[
        ("clean", &[], &[]),
        (
            "the default network is dev's: both services, at its name",
            &[(PROD, "gp-network-prod", "gp-network")],
            &[("network", E, &[(PROD, 12)]), ("network", E, &[(PROD, 12)])],
        ),
        (
            "no network named: `<project>_default`, at each service",
            &[(
                PROD,
                "networks:\n  default:\n    name: gp-network-prod\n",
                "",
            )],
            &[("network", E, &[(BASE, 3)]), ("network", E, &[(BASE, 5)])],
        ),
        (
            "db alone on its own network: not the contour's, and not the api's",
            &isolated,
            &[
                ("network", E, &[(PROD, 14)]),
                ("network", E, &[(BASE, 5), (BASE, 3)]),
            ],
        ),
        (
            "both on an external network that is not the contour's",
            &external,
            &[("network", E, &[(PROD, 15)]), ("network", E, &[(PROD, 15)])],
        ),
        (
            "both on another key named as the contour's network",
            &named,
            &[],
        ),
    ]);
}

#[test]
fn data_volumes_must_be_the_contours_and_not_shared() {
    let stage_copy = (
        STAGE,
        "",
        concat!(
            "services:\n",
            "  db:\n",
            "    volumes: [\"pgdata_prod:/var/lib/postgresql/data\"]\n",
            "volumes:\n",
            "  pgdata_prod:\n",
        ),
    );
    let stage_named = (
        STAGE,
        "",
        concat!(
            "services:\n",
            "  db:\n",
            "    volumes: [\"pgdata_stage:/var/lib/postgresql/data\"]\n",
            "volumes:\n",
            "  pgdata_stage:\n",
            "    name: shared_pg\n",
        ),
    );
    let uploads = |key: &str| format!("      PORT: 3200\n    volumes: [\"{key}:/app/uploads\"]\n");
    let app_data_prod = uploads("app_data_prod");
    let app_uploads = uploads("uploads");
    assert_cases(&[
        ("clean", &[], &[]),
        (
            "db mounts dev's volume",
            &[(PROD, "pgdata_prod", "pgdata_dev")],
            &[("volume", E, &[(PROD, 5)])],
        ),
        (
            "a volume key that is not the contour's (engine name `docker_pgdata`)",
            &[(PROD, "pgdata_prod", "pgdata")],
            &[("volume", E, &[(PROD, 5)])],
        ),
        (
            "another key whose engine name is the contour's",
            &[
                (PROD, "pgdata_prod", "data"),
                (PROD, "  data:\n", "  data:\n    name: pgdata_prod\n"),
            ],
            &[],
        ),
        (
            "a bind mount is not a named volume",
            &[(PROD, "[\"pgdata_prod:", "[\"./pgdata:")],
            &[],
        ),
        (
            "the api mounts a volume that is not the contour's",
            &[
                (PROD, "      PORT: 3200\n", &app_uploads),
                (PROD, "  pgdata_prod:\n", "  pgdata_prod:\n  uploads:\n"),
            ],
            &[("volume", E, &[(PROD, 9)])],
        ),
        (
            "the api mounts the contour's app volume",
            &[
                (PROD, "      PORT: 3200\n", &app_data_prod),
                (
                    PROD,
                    "  pgdata_prod:\n",
                    "  pgdata_prod:\n  app_data_prod:\n",
                ),
            ],
            &[],
        ),
        (
            "stage's file copies prod's volume: the contours share its data",
            &[stage_copy],
            &[("volume", E, &[(PROD, 5), (STAGE, 3)])],
        ),
        (
            "stage's volume has prod's engine name",
            &[
                stage_named,
                (
                    PROD,
                    "  pgdata_prod:\n",
                    "  pgdata_prod:\n    name: shared_pg\n",
                ),
            ],
            &[("volume", E, &[(PROD, 5), (STAGE, 3)])],
        ),
    ]);
}

#[test]
fn effective_env_must_hold_what_the_backend_holds() {
    let app_env_file = (
        PROD,
        "    environment:\n      PORT: 3200\n",
        "    env_file: [./app.env]\n    environment:\n      PORT: 3200\n",
    );
    let in_app = |line: &str| {
        (
            PROD,
            "      PORT: 3200\n",
            format!("      PORT: 3200\n      {line}\n"),
        )
    };
    let (f, from, jwt_to) = in_app(&format!("JWT_SECRET: {JWT}x"));
    let (_, _, jwt_empty) = in_app("JWT_SECRET:");
    let (_, _, url) = in_app(&format!(
        "DATABASE_URL: postgresql://postgres:{PW}@db:5432/other"
    ));
    let db_password =
        format!("    env_file: [../.env]\n    environment:\n      POSTGRES_PASSWORD: {PW}x\n");
    let bad_file = format!("JWT_SECRET={JWT}x\n");
    let good_file = format!("JWT_SECRET={JWT}\n");
    let app_file_and_environment = format!(
        "    env_file: [./app.env]\n    environment:\n      PORT: 3200\n      JWT_SECRET: {JWT}\n"
    );
    assert_cases(&[
        (
            "clean: the db's env_file is the infra env file, checked as such",
            &[],
            &[],
        ),
        (
            "the api's `environment:` gets another secret",
            &[(f, from, &jwt_to)],
            &[("value-mismatch", E, &[(PROD, 9), (BACKEND, 2)])],
        ),
        (
            "the api declares a secret without a value",
            &[(f, from, &jwt_empty)],
            &[("value-mismatch", E, &[(PROD, 9), (BACKEND, 2)])],
        ),
        (
            "the api gets another DATABASE_URL",
            &[(f, from, &url)],
            &[("value-mismatch", E, &[(PROD, 9), (BACKEND, 4)])],
        ),
        (
            "the api's own env_file holds another secret",
            &[app_env_file, ("docker/app.env", "", &bad_file)],
            &[("value-mismatch", E, &[("docker/app.env", 1), (BACKEND, 2)])],
        ),
        (
            "the api's own env_file agrees",
            &[app_env_file, ("docker/app.env", "", &good_file)],
            &[],
        ),
        (
            "`environment:` wins over the env_file",
            &[
                (
                    PROD,
                    "    environment:\n      PORT: 3200\n",
                    &app_file_and_environment,
                ),
                ("docker/app.env", "", &bad_file),
            ],
            &[],
        ),
        (
            "the db's `environment:` overrides the password of the infra env file",
            &[(PROD, "    env_file: [../.env]\n", &db_password)],
            &[
                ("value-mismatch", E, &[(PROD, 5), (BACKEND, 3)]),
                ("database-url", E, &[(PROD, 5), (BACKEND, 4)]),
            ],
        ),
    ]);
    let m = message(&[(f, from, &jwt_empty)], "value-mismatch");
    assert!(
        m.contains("the api container `app` gets JWT_SECRET = no value from `environment:`"),
        "{m}"
    );
    assert!(!m.contains(JWT), "a secret is masked: {m}");
}

#[test]
fn the_db_container_must_create_what_database_url_connects_to() {
    let db_env = |lines: &str| {
        (
            PROD,
            "    env_file: [../.env]\n",
            format!("    env_file: [../.env]\n    environment:\n{lines}"),
        )
    };
    let other_db = db_env("      POSTGRES_DB: other\n");
    let other_user = db_env("      POSTGRES_USER: admin\n");
    let default_user = db_env("      POSTGRES_USER: postgres\n");
    let defaulted = db_env("      POSTGRES_DB: ${POSTGRES_DB:-app}\n");
    let empty_password = db_env("      POSTGRES_PASSWORD: \"\"\n");
    let both = db_env("      POSTGRES_USER: admin\n      POSTGRES_DB: admin\n");
    assert_cases(&[
        ("clean: POSTGRES_* come from the infra env file", &[], &[]),
        (
            "another database",
            &[(other_db.0, other_db.1, &other_db.2)],
            &[("database-url", E, &[(PROD, 5), (BACKEND, 4)])],
        ),
        (
            "another user",
            &[(other_user.0, other_user.1, &other_user.2)],
            &[("database-url", E, &[(PROD, 5), (BACKEND, 4)])],
        ),
        (
            "the image's default user, written out",
            &[(default_user.0, default_user.1, &default_user.2)],
            &[],
        ),
        (
            "a `${POSTGRES_DB:-…}` default compose uses (the project has no .env)",
            &[(defaulted.0, defaulted.1, &defaulted.2)],
            &[("database-url", E, &[(PROD, 5), (BACKEND, 4)])],
        ),
        (
            "the project .env defines it: no default",
            &[
                (defaulted.0, defaulted.1, &defaulted.2),
                (PROJECT_ENV, "", "POSTGRES_DB=gprod\n"),
            ],
            &[],
        ),
        (
            "an empty password is the env rules' business, not the URL's",
            &[(empty_password.0, empty_password.1, &empty_password.2)],
            &[("value-mismatch", E, &[(PROD, 5), (BACKEND, 3)])],
        ),
        (
            "user and database both differ",
            &[(both.0, both.1, &both.2)],
            &[
                ("database-url", E, &[(PROD, 5), (BACKEND, 4)]),
                ("database-url", E, &[(PROD, 6), (BACKEND, 4)]),
            ],
        ),
    ]);
    let m = message(&[(other_db.0, other_db.1, &other_db.2)], "database-url");
    assert!(m.contains("the db container `db` gets POSTGRES_DB"), "{m}");
    assert!(m.contains("connects with database"), "{m}");
}

#[test]
fn extends_and_include_are_read_and_findings_point_into_their_files() {
    const SHARED: &str = "shared/db.yml";
    const MON: &str = "monitoring/compose.yml";
    assert_cases(&[
        (
            "the db extends a service of another directory: its port is published too, and \
             the finding points at the extended file's line",
            &[
                (
                    BASE,
                    "  db:\n    image: postgres\n",
                    "  db:\n    extends:\n      file: ../shared/db.yml\n      service: pg\n",
                ),
                (
                    SHARED,
                    "",
                    "services:\n  pg:\n    image: postgres\n    ports: [\"5432:5432\"]\n",
                ),
            ],
            &[("published-port", E, &[(SHARED, 4)])],
        ),
        (
            "the api extends a service of the same file whose environment sets PORT",
            &[
                (
                    BASE,
                    "  app:\n    image: api\n",
                    "  api-base:\n    image: api\n    environment:\n      PORT: 3100\n  app:\n    extends: api-base\n",
                ),
                (PROD, "    environment:\n      PORT: 3200\n", ""),
            ],
            &[
                ("value-mismatch", E, &[(BASE, 7), (BACKEND, 1)]),
                ("container-port", E, &[(PROD, 7)]),
            ],
        ),
        (
            "an extends cycle refuses the project, naming the line",
            &[(
                BASE,
                "  app:\n    image: api\n",
                "  app:\n    image: api\n    extends: app\n",
            )],
            &[("compose-file", E, &[(BASE, 6)])],
        ),
        (
            "an included project's redis publishes another contour's port, at its own line",
            &[
                (PROD, "services:\n", "include:\n  - ../monitoring/compose.yml\nservices:\n"),
                (
                    MON,
                    "",
                    "services:\n  redis:\n    image: redis\n    ports: [\"6380:6379\"]\n",
                ),
            ],
            &[("published-port", E, &[(MON, 4)])],
        ),
        (
            "an include cycle refuses the project, naming the line",
            &[
                (PROD, "services:\n", "include:\n  - ../monitoring/compose.yml\nservices:\n"),
                (MON, "", "include:\n  - ../docker/prod/docker-compose.prod.yml\n"),
            ],
            &[("compose-file", E, &[(MON, 2)])],
        ),
    ]);
}
