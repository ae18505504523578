//! A PostgreSQL database URL, parsed once at the edge into a type.
//!
//! `DATABASE_URL` is read by the `database-url` rule, rebuilt by `fix`, routed and connected to
//! by `migrate`; all of them take a [`DbUrl`], so they agree on what the user, the password, the
//! host, the port, the database and Prisma's `?schema=` are. The password is never printed:
//! [`Display`](std::fmt::Display) and [`Debug`] mask it (userinfo and `password=` /
//! `sslpassword=` parameters alike, through [`crate::mask`]'s URL policy), and the only way to the
//! full text is [`DbUrl::expose`], for the driver. Parse errors never quote the URL: a part that
//! failed to parse may hold a piece of the password.

use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The form messages name when a URL does not parse.
const FORM: &str = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE";

/// PostgreSQL's port when a URL names none.
pub const DEFAULT_PORT: u16 = 5432;

/// What a user, password or database name written into a URL is percent-encoded against: every
/// byte but RFC 3986's unreserved ones, so `@ : / ? # %` and spaces never change the URL's shape.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a database URL was refused. No variant holds the URL's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbUrlError {
    #[error("does not parse as {FORM} ({reason})")]
    Syntax { reason: String },
    #[error("does not parse cleanly as {FORM}: a character in the user or password (`@ / ? #`) is not percent-encoded; encode it (`envsync fix` rebuilds the URL)")]
    Unencoded,
    #[error(
        "has scheme `{}`, expected postgresql://",
        crate::mask::sanitize(scheme)
    )]
    Scheme { scheme: String },
    #[error("has a user or password that is not valid UTF-8 once percent-decoded")]
    NotUtf8,
}

/// A parsed `postgres://` / `postgresql://` URL with its parts percent-decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    url: url::Url,
    user: String,
    password: Option<String>,
    database: String,
    schema: Option<String>,
}

impl DbUrl {
    /// Parse `s` the way the drivers do (the `url` crate, like sqlx), refusing what would be
    /// misread: another scheme, or an unencoded `@ / ? #` that moves part of the password into
    /// the path, query or fragment.
    pub fn parse(s: &str) -> Result<DbUrl, DbUrlError> {
        let url = url::Url::parse(s).map_err(|e| DbUrlError::Syntax {
            reason: e.to_string(),
        })?;
        if crate::mask::misparsed(&url) {
            return Err(DbUrlError::Unencoded);
        }
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(DbUrlError::Scheme {
                scheme: url.scheme().to_string(),
            });
        }
        DbUrl::from_url(url)
    }

    fn from_url(url: url::Url) -> Result<DbUrl, DbUrlError> {
        let decode = |p: &str| {
            percent_decode_str(p)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| DbUrlError::NotUtf8)
        };
        let schema = url
            .query_pairs()
            .find(|(k, _)| k == "schema")
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty());
        Ok(DbUrl {
            user: decode(url.username())?,
            password: url.password().map(decode).transpose()?,
            database: decode(url.path().trim_start_matches('/'))?,
            schema,
            url,
        })
    }

    /// A URL built from its parts, each percent-encoded (what `fix` writes): `scheme` is
    /// `postgresql` or `postgres`, `query` is kept as written (without its `?`).
    pub fn build(
        scheme: &str,
        (user, password): (&str, &str),
        (host, port): (&str, u16),
        database: &str,
        query: Option<&str>,
    ) -> Result<DbUrl, DbUrlError> {
        let text = format!(
            "{scheme}://{}:{}@{host}:{port}/{}{}",
            utf8_percent_encode(user, COMPONENT),
            utf8_percent_encode(password, COMPONENT),
            utf8_percent_encode(database, COMPONENT),
            query.map(|q| format!("?{q}")).unwrap_or_default()
        );
        DbUrl::parse(&text)
    }

    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// The user, percent-decoded (empty when the URL names none).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password, percent-decoded: a secret, for comparing and connecting, never printing.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or("")
    }

    /// The port the URL names, if it names one.
    pub fn port(&self) -> Option<u16> {
        self.url.port()
    }

    /// The port a driver connects to: the URL's, else PostgreSQL's 5432.
    pub fn port_or_default(&self) -> u16 {
        self.url.port().unwrap_or(DEFAULT_PORT)
    }

    /// The database name, percent-decoded (empty when the URL names none).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Prisma's `?schema=NAME`, when set and not empty.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The query as written, without its `?`.
    pub fn query(&self) -> Option<&str> {
        self.url.query()
    }

    /// The same URL reaching `host:port` instead (an IPv6 address is bracketed).
    pub fn with_endpoint(&self, host: &str, port: u16) -> Result<DbUrl, DbUrlError> {
        let mut url = self.url.clone();
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        url.set_host(Some(&host)).map_err(|e| DbUrlError::Syntax {
            reason: e.to_string(),
        })?;
        url.set_port(Some(port)).map_err(|()| DbUrlError::Syntax {
            reason: "this URL cannot have a port".into(),
        })?;
        DbUrl::from_url(url)
    }

    /// The whole URL, password included: only for handing to the driver or a subprocess's
    /// environment, never for output.
    pub fn expose(&self) -> &str {
        self.url.as_str()
    }
}

/// The URL with its passwords masked (`postgresql://user:****@host:5432/db`).
impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::mask::masked_url(&self.url))
    }
}

/// Masked like [`Display`](fmt::Display): a `{:?}` in a log or a panic prints no password.
impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_decoded_and_the_password_never_printed() {
        let u = DbUrl::parse(
            "postgresql://gp%40user:p%23ss%2Fw@db:5433/gprod?schema=public&sslpassword=zz",
        )
        .unwrap();
        assert_eq!(u.user(), "gp@user");
        assert_eq!(u.password(), Some("p#ss/w"));
        assert_eq!(
            (u.host(), u.port(), u.port_or_default()),
            ("db", Some(5433), 5433)
        );
        assert_eq!(u.database(), "gprod");
        assert_eq!(u.schema(), Some("public"));
        for shown in [u.to_string(), format!("{u:?}")] {
            assert!(!shown.contains("p%23ss"), "{shown}");
            assert!(!shown.contains("zz"), "{shown}");
            assert!(shown.contains("db:5433/gprod"), "{shown}");
        }
    }

    #[test]
    fn misread_urls_are_refused_without_quoting_them() {
        for (url, want) in [
            ("postgresql://u:123/ss@db/x", "not percent-encoded"),
            ("mysql://u:pw@db/x", "scheme `mysql`"),
            ("not a url secretpw", "does not parse"),
            ("postgresql://u:%ff%fe@db/x", "not valid UTF-8"),
        ] {
            let e = DbUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(want), "{url}: {e}");
            assert!(!e.contains("ss@db") && !e.contains("secretpw"), "{e}");
        }
    }

    #[test]
    fn built_urls_round_trip_special_characters() {
        for pw in ["p@ss:w/rd#?%$=", "prd-Qz7#Lm2@Vx9!Kw4", "ü ñ+&;", "plain"] {
            let u = DbUrl::build(
                "postgresql",
                ("u", pw),
                ("db", 5432),
                "x",
                Some("schema=public"),
            )
            .unwrap();
            assert_eq!(u.password(), Some(pw));
            assert_eq!((u.host(), u.port(), u.database()), ("db", Some(5432), "x"));
            assert_eq!(u.schema(), Some("public"));
        }
    }

    #[test]
    fn an_endpoint_swap_keeps_everything_else() {
        let u = DbUrl::parse("postgresql://u:p%23@db:5432/x?schema=public").unwrap();
        let v = u.with_endpoint("127.0.0.1", 5434).unwrap();
        assert_eq!(
            v.expose(),
            "postgresql://u:p%23@127.0.0.1:5434/x?schema=public"
        );
        let v = u.with_endpoint("::1", 6000).unwrap();
        assert_eq!(v.expose(), "postgresql://u:p%23@[::1]:6000/x?schema=public");
    }
}
