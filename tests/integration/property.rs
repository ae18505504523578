//! Property tests of the lossless model.

use envsync::envfile::EnvFile;
use proptest::prelude::*;

fn env_like() -> impl Strategy<Value = Vec<u8>> {
    // Lines built from the pieces that matter, joined by LF or CRLF, plus arbitrary bytes.
    let piece = prop_oneof![
        Just(b"KEY".to_vec()),
        Just(b"export ".to_vec()),
        Just(b"=".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"'".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"`".to_vec()),
        Just(b"#".to_vec()),
        Just(b"$".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"<<<<<<< ".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(vec![0u8]),
        Just(vec![0xff]),
        "[a-zA-Z0-9_.]{1,6}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn render_of_parse_is_identity_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        prop_assert_eq!(EnvFile::parse(&bytes).render(), bytes);
    }

    #[test]
    fn render_of_parse_is_identity_on_env_like_input(bytes in env_like()) {
        prop_assert_eq!(EnvFile::parse(&bytes).render(), bytes);
    }

    #[test]
    fn decoders_never_panic(bytes in env_like()) {
        for d in envsync::dialect::Dialect::ALL {
            let _ = d.decode(&bytes, &|_| None);
        }
    }
}

/// Values full of what each reader treats specially.
fn nasty_value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("#"),
        Just(" #"),
        Just("$"),
        Just("${X}"),
        Just("$$"),
        Just("'"),
        Just("\""),
        Just("`"),
        Just("\\"),
        Just("\\n"),
        Just("\n"),
        Just("\r\n"),
        Just(" "),
        Just("\t"),
        Just("="),
        Just("@"),
        Just(":"),
        Just("/"),
        Just("?"),
        Just("%"),
        Just("é"),
        Just("a"),
        Just("Zq9"),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

/// A file around the edited line: a comment, the line, another key, CRLF or LF, maybe no final
/// newline, maybe a BOM.
fn context() -> impl Strategy<Value = (bool, bool, bool)> {
    (any::<bool>(), any::<bool>(), any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn quoted_values_read_back_exactly_in_a_real_file(value in nasty_value(), (crlf, final_nl, bom) in context()) {
        use envsync::dialect::Dialect;
        use envsync::fix::quote::token_for;
        for d in Dialect::ALL {
            let Ok(token) = token_for(d, &value, None) else {
                // kubectl's env files have no quoting at all: a line break cannot be written,
                // nor a carriage return that ends the line.
                if d == Dialect::KubectlEnvFile {
                    prop_assert!(value.contains('\n') || value.ends_with('\r'),
                        "kubectl-env-file refused {:?}", value);
                    continue;
                }
                // Only node dotenv, which has no escapes, may have to give up: on a carriage
                // return next to a literal `\n`, or on a mix of quote characters.
                prop_assert_eq!(d, Dialect::NodeDotenv, "{} refused {:?}", d, value);
                let quotes = ['\'', '"', '`'].iter().filter(|q| value.contains(**q)).count();
                prop_assert!(value.contains('\r') || quotes >= 2 || (quotes == 1 && value.contains('\\')),
                    "node-dotenv refused {:?}", value);
                continue;
            };
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = format!("{}# header{eol}OLD=x{eol}", if bom { "\u{FEFF}" } else { "" });
            text.push_str(&format!("AFTER=1{}", if final_nl { eol } else { "" }));
            let mut file = EnvFile::parse(text.as_bytes());
            file.set_value("OLD", &token).unwrap();
            let bytes = file.render();
            let decoded = d.decode(&bytes, &|_| None);
            prop_assert!(decoded.error.is_none(), "{d}: {:?}", String::from_utf8_lossy(&bytes));
            prop_assert_eq!(decoded.get("OLD").map(|a| a.value.as_str()), Some(value.as_str()),
                "{} wrote {:?}", d, String::from_utf8_lossy(&bytes));
            prop_assert_eq!(decoded.get("AFTER").map(|a| a.value.as_str()), Some("1"));
        }
    }
}

/// A secret: 12 to 40 characters that need no quoting in either dialect.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{12,40}"
}

/// How a value is built from the secret `S` (compose interpolation in the infra file).
fn shape() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "${S}",
        "$S",
        "${S:-fallback}",
        "pre-${S}-post",
        "https://user:${S}@host:8443/path",
        "${S}${S}",
        "x${UNSET_Q:-${S}}y",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// For random secrets and random ways of building a value from one, no output of check,
    /// show, fix --dry-run or migrate holds the secret or 8 consecutive characters of it.
    #[test]
    fn no_output_holds_a_window_of_a_secret(
        s in secret(),
        shape in shape(),
        key in prop::sample::select(vec!["LINK", "PUBLIC_LINK", "NOTE"]),
    ) {
        use crate::common::{envsync, gprod_pair, run, set_line};
        let (d, b, i) = gprod_pair();
        std::fs::write(
            d.path().join("envsync.toml"),
            "[repos.backend]\npath = \"backend\"\n[repos.infra]\npath = \"infra\"\n[keys]\npublic = [\"PORT\", \"PUBLIC_LINK\"]\n",
        ).unwrap();
        let infra = i.join(".env.prod");
        set_line(&infra, "POSTGRES_PASSWORD", &format!("POSTGRES_PASSWORD={s}"));
        let mut text = std::fs::read_to_string(&infra).unwrap();
        text.push_str(&format!("S={s}\n{key}={shape}\n"));
        std::fs::write(&infra, text).unwrap();
        let backend = b.join(".env.production");
        set_line(&backend, "POSTGRES_PASSWORD", &format!("POSTGRES_PASSWORD={s}"));
        set_line(
            &backend,
            "DATABASE_URL",
            &format!("DATABASE_URL=postgresql://postgres:{s}@127.0.0.1:1/gprod_prod?schema=public"),
        );
        let windows = crate::common::windows8(&[&s]);
        let url = format!("postgresql://postgres:{s}@127.0.0.1:1/x");
        let runs: Vec<Vec<&str>> = vec![
            vec!["check", "-c", "prod"],
            vec!["check", "-c", "prod", "--format", "json"],
            vec!["show", "infra/.env.prod"],
            vec!["show", "infra/.env.prod", "--format", "json"],
            vec!["show", "--service", "db", "-c", "prod"],
            vec!["fix", "-c", "prod", "--dry-run"],
            vec!["fix", "-c", "prod", "--dry-run", "--prefer", "backend", "--format", "json"],
            vec!["migrate", "status", "-c", "prod", "--via", "direct"],
            vec!["migrate", "run", "--database-url", &url, "--format", "json"],
        ];
        for args in &runs {
            let r = run(envsync(d.path()).args(args));
            prop_assert!(r.code <= 2, "{args:?}: {}{}", r.stdout, r.stderr);
            for w in &windows {
                prop_assert!(
                    !r.stdout.contains(w.as_str()) && !r.stderr.contains(w.as_str()),
                    "{args:?} printed `{w}` of the secret:\n{}{}", r.stdout, r.stderr
                );
            }
        }
        // The switch still works: with --show-values the built value is printed.
        let shown = run(envsync(d.path()).args(["show", "infra/.env.prod", "--show-values"]));
        prop_assert!(shown.stdout.contains(&s));
    }
}
