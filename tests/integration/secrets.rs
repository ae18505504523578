//! One masking policy for every output: planted canary values must not appear in any message,
//! diff, JSON document, URL or git source label, whichever path printed them.

use std::fs;

use crate::common::{append, envsync, gprod_pair, on_pair, run, set_line, windows8, Run};

fn assert_clean(r: &Run, canaries: &[&str], what: &str) {
    for c in canaries {
        assert!(
            !r.stdout.contains(c) && !r.stderr.contains(c),
            "{what} printed {c}:\n{}{}",
            r.stdout,
            r.stderr
        );
    }
}

#[test]
fn keys_declared_shared_are_masked_in_check_and_fix() {
    let (d, b, i) = gprod_pair();
    fs::write(
        d.path().join("envsync.toml"),
        "[repos.backend]\npath = \"backend\"\n[repos.infra]\npath = \"infra\"\n[keys]\nshared = [\"API_ACCESS\"]\n",
    )
    .unwrap();
    append(&b.join(".env.production"), "API_ACCESS=backend-Canary-1");
    append(&i.join(".env.prod"), "API_ACCESS=infra-Canary-2");
    let canaries = ["Canary-1", "Canary-2"];
    for args in [
        &["check", "-c", "prod"][..],
        &["check", "-c", "prod", "--format", "json"],
        &["check", "-c", "prod", "-q"],
        &["fix", "-c", "prod", "--prefer", "backend", "--dry-run"],
        &[
            "fix",
            "-c",
            "prod",
            "--prefer",
            "backend",
            "--dry-run",
            "--format",
            "json",
        ],
        &["show", "infra/.env.prod"],
    ] {
        let r = run(envsync(d.path()).args(args));
        assert!(r.code <= 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert_clean(&r, &canaries, &format!("{args:?}"));
    }
    let check = run(envsync(d.path()).args(["check", "-c", "prod"]));
    assert!(
        check.stdout.contains("API_ACCESS differs"),
        "{}",
        check.stdout
    );
    // And --show-values is the one way to see them.
    let shown = run(envsync(d.path()).args(["check", "-c", "prod", "--show-values"]));
    assert!(shown.stdout.contains("Canary-1"), "{}", shown.stdout);
}

#[test]
fn show_hides_what_check_hides_and_prints_what_check_prints() {
    let (_d, b, _i) = gprod_pair();
    let r = run(envsync(&b)
        .args(["show", "--format", "json"])
        .arg(b.join(".env.production")));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["variables"]["PORT"], "3200");
    assert_eq!(v["variables"]["NODE_ENV"], "production");
    for hidden in ["JWT_SECRET", "POSTGRES_PASSWORD", "DATABASE_URL"] {
        assert!(
            v["variables"][hidden].as_str().unwrap().contains("sha256:"),
            "{hidden}: {}",
            r.stdout
        );
    }
}

#[test]
fn url_passwords_never_reach_the_output() {
    let (_d, b, i) = gprod_pair();
    // In the query string: `migrate` prints the target before it connects.
    for format in ["text", "json"] {
        let r = run(envsync(&b).args([
            "migrate",
            "status",
            "--via",
            "direct",
            "--format",
            format,
            "--database-url",
            "postgresql://u@127.0.0.1:1/x?sslmode=disable&password=Query-Canary-3",
        ]));
        assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("password=****") || r.stderr.contains("password=****"),
            "{}{}",
            r.stdout,
            r.stderr
        );
        assert_clean(&r, &["Query-Canary-3"], "migrate target");
    }
    // A password with an unencoded `/`: the parts that did not parse are never echoed.
    set_line(
        &b.join(".env.production"),
        "DATABASE_URL",
        "DATABASE_URL=postgresql://postgres:123/Slash-Canary-4@db:5432/gprod_prod",
    );
    let check = on_pair(&b, &i, &["check", "-c", "prod"]);
    assert_eq!(check.code, 1, "{}", check.stdout);
    assert!(
        check.stdout.contains("does not parse cleanly"),
        "{}",
        check.stdout
    );
    let migrate = on_pair(
        &b,
        &i,
        &["migrate", "status", "-c", "prod", "--via", "direct"],
    );
    assert_clean(&check, &["Slash-Canary-4"], "check");
    assert_clean(&migrate, &["Slash-Canary-4"], "migrate");
    // A scheme-looking user name is not a scheme to echo.
    set_line(
        &b.join(".env.production"),
        "DATABASE_URL",
        "DATABASE_URL=userCanary5:pw@db/x",
    );
    assert_clean(
        &on_pair(&b, &i, &["check", "-c", "prod"]),
        &["userCanary5"],
        "check",
    );
}

#[test]
fn git_source_credentials_are_masked() {
    let (_d, b, _i) = gprod_pair();
    let cache = tempfile::tempdir().unwrap();
    for src in [
        "git+https://user:Git-Canary-6@127.0.0.1:1/infra.git",
        "git+https://ghp_TokenCanary7@127.0.0.1:1/infra.git",
        "git+ssh://user:Git-Canary-6@127.0.0.1:1/infra.git",
        "git+file://user:Git-Canary-6@/no/such/repo",
    ] {
        let r = run(envsync(&b)
            .env("ENVSYNC_CACHE_DIR", cache.path())
            .env("GIT_SSH_COMMAND", "false")
            .args(["check", "-c", "prod", "--infra", src]));
        assert_eq!(r.code, 2, "{src}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("****"), "{src}: {}", r.stderr);
        assert_clean(&r, &["Git-Canary-6", "TokenCanary7"], src);
    }
}

#[test]
fn interpolation_errors_do_not_carry_interpolated_secrets() {
    let (_d, b, i) = gprod_pair();
    append(
        &i.join(".env.prod"),
        "GRAFANA_ADMIN_PASSWORD=${NOPE:?pw is $POSTGRES_PASSWORD}",
    );
    let secret = "prd-Qz7#Lm2@Vx9!Kw4";
    for args in [
        &["check", "-c", "prod"][..],
        &["fix", "-c", "prod", "--dry-run"],
    ] {
        let r = on_pair(&b, &i, args);
        assert_clean(&r, &[secret], &format!("{args:?}"));
        assert!(
            r.stdout.contains("NOPE is missing a value")
                || r.stderr.contains("NOPE is missing a value"),
            "{args:?}: {}{}",
            r.stdout,
            r.stderr
        );
    }
    let shown = run(envsync(&b)
        .args(["show", "--dialect", "compose"])
        .arg(i.join(".env.prod")));
    assert_clean(&shown, &[secret], "show");
}

/// Canary secrets planted where only the compose model reads them (a compose `environment:`
/// entry, an interpolation default, an env_file only compose reads, a DATABASE_URL hard-coded in
/// compose) never reach `check`, `show --service` (text, JSON) or `fix --dry-run`.
#[test]
fn compose_outputs_never_print_planted_secrets() {
    let (_d, b, i) = gprod_pair();
    let canaries = [
        "canary-jwt-7Hq2Lx9Vw3Kp8Zr1",
        "canary-pg-Mv4Tn6Qs8Wy2",
        "canary-url-pw-Rb5Jc7Xd9",
        "canary-extra-Gf3Hk5Lm7",
    ];
    let prod = i.join("docker/prod/docker-compose.prod.yml");
    let text = std::fs::read_to_string(&prod).unwrap();
    let text = text.replacen(
        "      - ../../backend/.env.production\n",
        &format!(
            "      - ../../backend/.env.production\n      - ../extra.env\n    environment:\n      JWT_SECRET: {}\n      DATABASE_URL: postgresql://postgres:{}@db:5432/gprod_prod\n",
            canaries[0], canaries[2]
        ),
        1,
    );
    let text = text.replacen(
        "      - ../.env.prod\n",
        &format!(
            "      - ../.env.prod\n    environment:\n      POSTGRES_PASSWORD: ${{NOPE:-{}}}\n",
            canaries[1]
        ),
        1,
    );
    std::fs::write(&prod, text).unwrap();
    std::fs::write(
        i.join("extra.env"),
        format!("EXTRA_TOKEN={}\n", canaries[3]),
    )
    .unwrap();
    let runs = [
        on_pair(&b, &i, &["check", "-c", "prod"]),
        on_pair(&b, &i, &["check", "-c", "prod", "--format", "json"]),
        on_pair(&b, &i, &["check", "-c", "prod", "-v"]),
        on_pair(&b, &i, &["show", "--service", "app", "-c", "prod"]),
        on_pair(
            &b,
            &i,
            &["show", "--service", "app", "-c", "prod", "--format", "json"],
        ),
        on_pair(
            &b,
            &i,
            &["show", "--service", "db", "-c", "prod", "--format", "json"],
        ),
        on_pair(&b, &i, &["fix", "-c", "prod", "--dry-run"]),
        on_pair(
            &b,
            &i,
            &["fix", "-c", "prod", "--dry-run", "--format", "json"],
        ),
    ];
    for r in &runs {
        assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
        for c in canaries {
            assert!(
                !r.stdout.contains(c) && !r.stderr.contains(c),
                "{c} printed:\n{}{}",
                r.stdout,
                r.stderr
            );
        }
    }
    // The findings are there, fingerprinted.
    assert!(
        runs[0]
            .stdout
            .contains("the api container `app` gets JWT_SECRET"),
        "{}",
        runs[0].stdout
    );
    // --show-values is the one way to print them.
    let shown = on_pair(
        &b,
        &i,
        &["show", "--service", "app", "-c", "prod", "--show-values"],
    );
    assert!(shown.stdout.contains(canaries[3]), "{}", shown.stdout);
}

const PROD_PW: &str = "prd-Qz7#Lm2@Vx9!Kw4";
const PROD_JWT: &str = "prd-Xa9Lq2Vn7Kc4Rz1Tb8Mw5Jh3Ps6Gd0Fy4e";

#[test]
fn values_built_from_a_secret_are_masked_however_they_got_there() {
    let (d, _b, i) = gprod_pair();
    // A public key that interpolates a secret, a URL built around one, a plain copy.
    fs::write(
        d.path().join("envsync.toml"),
        "[repos.backend]\npath = \"backend\"\n[repos.infra]\npath = \"infra\"\n[keys]\npublic = [\"PORT\", \"LINK_COPY\"]\n",
    )
    .unwrap();
    append(&i.join(".env.prod"), "A=${POSTGRES_PASSWORD}");
    append(
        &i.join(".env.prod"),
        "API_LINK=https://x:${JWT_SECRET}@host",
    );
    append(&i.join(".env.prod"), "LINK_COPY=see-${JWT_SECRET}-here");
    // A compose finding that prints a container's value: the api gets PORT built from a secret.
    let prod = i.join("docker/prod/docker-compose.prod.yml");
    let text = fs::read_to_string(&prod).unwrap().replace(
        "  app:\n    env_file:",
        "  app:\n    environment:\n      PORT: \"${POSTGRES_PASSWORD}\"\n    env_file:",
    );
    fs::write(&prod, text).unwrap();
    fs::write(
        i.join("docker/.env"),
        format!("POSTGRES_PASSWORD='{PROD_PW}'\n"),
    )
    .unwrap();
    let canaries = windows8(&[PROD_PW, PROD_JWT]);
    let canaries: Vec<&str> = canaries.iter().map(String::as_str).collect();
    let mut printed_port_finding = false;
    for args in [
        &["show", "infra/.env.prod"][..],
        &["show", "infra/.env.prod", "--format", "json"],
        &["show", "--service", "app", "-c", "prod"],
        &["show", "--service", "app", "-c", "prod", "--format", "json"],
        &["check", "-c", "prod"],
        &["check", "-c", "prod", "--format", "json"],
        &["fix", "-c", "prod", "--dry-run"],
        &["fix", "-c", "prod", "--dry-run", "--format", "json"],
    ] {
        let r = run(envsync(d.path()).args(args));
        assert!(r.code <= 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert_clean(&r, &canaries, &format!("{args:?}"));
        printed_port_finding |= r.stdout.contains("gets PORT =");
    }
    assert!(
        printed_port_finding,
        "the compose value-mismatch on PORT was reported"
    );
    // The policy hides them; --show-values shows them.
    let shown = run(envsync(d.path()).args(["show", "infra/.env.prod", "--show-values"]));
    assert!(
        shown.stdout.contains(&format!("A={PROD_PW}")),
        "{}",
        shown.stdout
    );
    let masked = run(envsync(d.path()).args(["show", "infra/.env.prod"]));
    assert!(
        masked.stdout.contains("LINK_COPY=47 chars, sha256:"),
        "{}",
        masked.stdout
    );
}

#[test]
fn a_reference_inside_a_secret_is_named_by_place_not_text() {
    let (_d, b, i) = gprod_pair();
    set_line(
        &i.join(".env.prod"),
        "POSTGRES_PASSWORD",
        "POSTGRES_PASSWORD=Qx7$ecretPass_9f8eZZ",
    );
    for args in [
        &["check", "-c", "prod"][..],
        &["check", "-c", "prod", "--format", "json"],
    ] {
        let r = on_pair(&b, &i, args);
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("unset-reference"), "{}", r.stdout);
        assert_clean(
            &r,
            &["ecretPas", "Pass_9f8", "9f8eZZ"],
            &format!("{args:?}"),
        );
    }
}

#[test]
fn control_characters_cannot_forge_output() {
    let (_d, b, i) = gprod_pair();
    let evil = "3200\u{1b}[2J\u{202e}\r\nerror[fake] forged\u{2028}x";
    set_line(&i.join(".env.prod"), "PORT", &format!("PORT=\"{evil}\""));
    append(
        &i.join(".env.prod"),
        "PLAIN=\"a\u{1b}[31mred\u{2029}b\u{85}c\"",
    );
    let forging = ['\u{1b}', '\u{202e}', '\u{2028}', '\u{2029}', '\u{85}'];
    for args in [
        &["check", "-c", "prod"][..],
        &["show", "--format", "text"],
        &["fix", "-c", "prod", "--dry-run"],
    ] {
        let mut args = args.to_vec();
        let file = i.join(".env.prod");
        if args[0] == "show" {
            args.push(file.to_str().unwrap());
        }
        let r = on_pair(&b, &i, &args);
        assert!(r.code <= 1, "{args:?}: {}{}", r.stdout, r.stderr);
        for c in forging {
            assert!(
                !r.stdout.contains(c),
                "{args:?} printed {c:?} raw:\n{}",
                r.stdout
            );
        }
        // A CR only ever ends a line of a diff with its LF (a CRLF file's line ending).
        assert!(
            !r.stdout.replace("\r\n", "\n").contains('\r'),
            "{args:?} printed a lone CR:\n{}",
            r.stdout
        );
        assert!(
            !r.stdout.lines().any(|l| l.starts_with("error[fake]")),
            "{args:?} let a value start a line:\n{}",
            r.stdout
        );
    }
    // JSON stays JSON, with the characters escaped by the JSON writer.
    let r = on_pair(&b, &i, &["check", "-c", "prod", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("valid JSON");
    assert!(v["findings"].as_array().is_some_and(|f| !f.is_empty()));
}
