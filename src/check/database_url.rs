//! `database-url`: the backend's `DATABASE_URL` against infra's `POSTGRES_*` and the compose
//! host.

use crate::config::Rules;
use crate::dburl::DbUrl;
use crate::dialect::{has_reference, Dialect};
use crate::finding::{Location, RuleCode};
use crate::load::LoadedFile;
use crate::mask::fingerprint;

use super::eval::Sink;

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
    let parts = match DbUrl::parse(raw) {
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
    let mask = sink.mask;
    let mut problem = |p: String, locs: Vec<Location>| {
        sink.push(
            RuleCode::DatabaseUrl,
            Some(key),
            format!("{key} in backend {}: {p}", b.file),
            locs,
        );
    };
    if parts.host() != r.host {
        problem(
            format!(
                "host is {}, expected `{}` (the compose service; the app runs inside the network)",
                mask.text(parts.host()),
                r.host
            ),
            loc.clone(),
        );
    }
    let port = parts.port_or_default();
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
    if parts.user() != want_user {
        problem(
            format!(
                "user is {}, but infra {} is {}",
                mask.text(parts.user()),
                r.user_key,
                mask.value(&r.user_key, want_user)
            ),
            vec![b.loc_of(key), i.loc_of(&r.user_key)],
        );
    }
    if let Some(pw) = i.value(&r.password_key).filter(|v| !v.is_empty()) {
        let password = parts.password().unwrap_or("");
        if password != pw {
            problem(
                format!(
                    "password ({}) differs from infra {} ({})",
                    fingerprint(password),
                    r.password_key,
                    fingerprint(pw)
                ),
                vec![b.loc_of(key), i.loc_of(&r.password_key)],
            );
        }
    }
    if let Some(db) = i.value(&r.database_key).filter(|v| !v.is_empty()) {
        if parts.database() != db {
            problem(
                format!(
                    "database is {}, but infra {} is {}",
                    mask.text(parts.database()),
                    r.database_key,
                    mask.value(&r.database_key, db)
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
        let p = DbUrl::parse("postgresql://u%40x:p%2Fw@db:5433/app").unwrap();
        assert_eq!((p.user(), p.password()), ("u@x", Some("p/w")));
        assert_eq!(
            (p.host(), p.port(), p.database()),
            ("db", Some(5433), "app")
        );
        assert!(DbUrl::parse("mysql://db/x").is_err());
        // Never an echo of what did not parse.
        for bad in [
            "usr9:Canary@db/x",
            "postgresql://postgres:123/Canary@db:5432/x",
        ] {
            let e = DbUrl::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("Canary") && !e.contains("usr9"), "{e}");
        }
        assert!(has_reference("x${A}y") && has_reference("$A") && !has_reference("a$1"));
    }
}
