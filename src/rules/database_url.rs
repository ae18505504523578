//! `database-url`: the backend's `DATABASE_URL` against infra's `POSTGRES_*` and the compose
//! host, and the URL parsing `fix` and `migrate` share.

use crate::dialect::Dialect;
use crate::finding::{Location, RuleCode};
use crate::mask::{fingerprint, sanitize};

use super::eval::{LoadedFile, Sink};
use super::Rules;

/// Does `s` hold a `$VAR` or `${VAR}` reference (as compose would read it)?
pub fn has_reference(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(2)
        .any(|w| w[0] == b'$' && (w[1] == b'{' || w[1] == b'_' || w[1].is_ascii_alphabetic()))
}

/// The parts of a database URL that envsync compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbUrlParts {
    pub scheme: String,
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: Option<u16>,
    pub database: String,
}

/// The parts of a database URL. Messages never quote the URL: a part that failed to parse may
/// hold part of the password.
pub fn parse_database_url(s: &str) -> Result<DbUrlParts, String> {
    let form = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE";
    let url = url::Url::parse(s).map_err(|e| format!("does not parse as {form} ({e})"))?;
    if crate::mask::misparsed(&url) {
        return Err(format!(
            "does not parse cleanly as {form}: a character in the user or password (`@ / ? #`) is not percent-encoded; encode it (`envsync fix` rebuilds the URL)"
        ));
    }
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "has scheme `{}`, expected postgresql://",
            crate::mask::sanitize(url.scheme())
        ));
    }
    let decode = |p: &str| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                "has a user or password that is not valid UTF-8 once percent-decoded".to_string()
            })
    };
    Ok(DbUrlParts {
        scheme: url.scheme().to_string(),
        user: decode(url.username())?,
        password: decode(url.password().unwrap_or(""))?,
        host: url.host_str().unwrap_or("").to_string(),
        port: url.port(),
        database: decode(url.path().trim_start_matches('/'))?,
    })
}

pub(super) fn database_url(sink: &mut Sink, rules: &Rules, b: &LoadedFile, i: &LoadedFile) {
    let r = &rules.database_url;
    let key = r.key.as_str();
    let Some(raw) = b.value(key) else { return };
    if raw.is_empty() {
        return;
    }
    let loc = vec![b.loc_of(key)];
    if b.dialect == Dialect::NodeDotenv && has_reference(raw) {
        sink.push(
            RuleCode::DatabaseUrl,
            Some(key),
            format!(
                "{key} in backend {} holds a ${{VAR}} reference that {} leaves unexpanded: the app connects with the literal text; write the value itself (`envsync fix` does)",
                b.file, b.dialect
            ),
            loc,
        );
        return;
    }
    let parts = match parse_database_url(raw) {
        Ok(p) => p,
        Err(e) => {
            sink.push(
                RuleCode::DatabaseUrl,
                Some(key),
                format!("{key} in backend {} {e}", b.file),
                loc,
            );
            return;
        }
    };
    let mut problem = |p: String, locs: Vec<Location>| {
        sink.push(
            RuleCode::DatabaseUrl,
            Some(key),
            format!("{key} in backend {}: {p}", b.file),
            locs,
        );
    };
    if parts.host != r.host {
        problem(
            format!(
                "host is `{}`, expected `{}` (the compose service; the app runs inside the network)",
                sanitize(&parts.host),
                r.host
            ),
            loc.clone(),
        );
    }
    let port = parts.port.unwrap_or(5432);
    if port != r.port {
        problem(
            format!(
                "port is {port}, expected {} (inside the compose network)",
                r.port
            ),
            loc.clone(),
        );
    }
    let want_user = i
        .value(&r.user_key)
        .filter(|v| !v.is_empty())
        .unwrap_or(&r.default_user);
    if parts.user != want_user {
        problem(
            format!(
                "user is `{}`, but infra {} is `{}`",
                sanitize(&parts.user),
                r.user_key,
                sanitize(want_user)
            ),
            vec![b.loc_of(key), i.loc_of(&r.user_key)],
        );
    }
    if let Some(pw) = i.value(&r.password_key).filter(|v| !v.is_empty()) {
        if parts.password != pw {
            problem(
                format!(
                    "password ({}) differs from infra {} ({})",
                    fingerprint(&parts.password),
                    r.password_key,
                    fingerprint(pw)
                ),
                vec![b.loc_of(key), i.loc_of(&r.password_key)],
            );
        }
    }
    if let Some(db) = i.value(&r.database_key).filter(|v| !v.is_empty()) {
        if parts.database != db {
            problem(
                format!(
                    "database is `{}`, but infra {} is `{}`",
                    sanitize(&parts.database),
                    r.database_key,
                    sanitize(db)
                ),
                vec![b.loc_of(key), i.loc_of(&r.database_key)],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    #[test]
    fn table() {
        assert_table(vec![
            (
                good_backend(3200).replace("@db:", "@localhost:"),
                good_infra(3200),
                "prod",
                vec![("database-url", E)],
            ),
            (
                good_backend(3200)
                    .replace(&format!("postgres:{PW}@"), "postgres:${POSTGRES_PASSWORD}@"),
                good_infra(3200),
                "prod",
                vec![("database-url", E)],
            ),
            (
                good_backend(3200).replace("/gprod", "/other"),
                good_infra(3200),
                "prod",
                vec![("database-url", E)],
            ),
        ]);
    }

    #[test]
    fn urls_decode_percent_encoded_parts() {
        let p = parse_database_url("postgresql://u%40x:p%2Fw@db:5433/app").unwrap();
        assert_eq!((p.user.as_str(), p.password.as_str()), ("u@x", "p/w"));
        assert_eq!(
            (p.host.as_str(), p.port, p.database.as_str()),
            ("db", Some(5433), "app")
        );
        assert!(parse_database_url("mysql://db/x").is_err());
        // Never an echo of what did not parse.
        for bad in [
            "usr9:Canary@db/x",
            "postgresql://postgres:123/Canary@db:5432/x",
        ] {
            let e = parse_database_url(bad).unwrap_err();
            assert!(!e.contains("Canary") && !e.contains("usr9"), "{e}");
        }
        assert!(has_reference("x${A}y") && has_reference("$A") && !has_reference("a$1"));
    }
}
