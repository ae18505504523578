//! The one masking policy for every output: messages, diffs, JSON, `show`, URLs.
//!
//! No value leaves envsync unless the user asked with `--show-values`; where two values must be
//! told apart, [`fingerprint`] gives their length and the first 8 hex digits of their SHA-256.
//! A [`Mask`] is built once per command from the rules' secret keys and the flag, and handed to
//! evaluation and to every renderer.

use sha2::{Digest, Sha256};

use crate::secret::matches_pattern;

/// `44 chars, sha256:1a2b3c4d`.
pub fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let hex = hex::encode(&digest[..4]);
    format!("{} chars, sha256:{hex}", value.chars().count())
}

/// Could `c` forge output when printed: a control character (ESC starts colour and cursor
/// sequences, CR and LF start lines), a Unicode line or paragraph separator, or a bidi control
/// that reorders what follows?
pub fn is_forging(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{061C}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Text that came from a file, made safe to print: every character that could forge output
/// ([`is_forging`]) is written as a visible escape (`\u{1b}`), so nothing starts a line, a
/// colour or a reordering of its own.
pub fn sanitize(s: &str) -> String {
    if !s.chars().any(is_forging) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_forging(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// [`sanitize`] for text of several lines (a diff): each line's `\n` (or `\r\n`) stays.
pub fn sanitize_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, eol) = match line.strip_suffix("\r\n") {
            Some(b) => (b, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            },
        };
        out.push_str(&sanitize(body));
        out.push_str(eol);
    }
    out
}

/// How many consecutive characters of a secret make a value secret-bearing.
pub const WINDOW: usize = 8;

/// Secrets shorter than this are not looked for inside other values (too many false matches);
/// their own keys still hide them.
const MIN_SECRET: usize = 4;

/// The secret values of the files a command read: a value that contains one, or
/// [`WINDOW`] consecutive characters of one, is hidden like the secret itself, however it got
/// there (`A=${POSTGRES_PASSWORD}`, `API_URL=https://x:${JWT_SECRET}@host`, a copy).
///
/// Learning only keeps the values; the index of their windows is built the first time a value
/// is looked up, so a run that prints no value (a clean check of a 100,000-line file) pays for
/// no index.
#[derive(Debug, Clone, Default)]
pub struct SecretValues {
    learned: Vec<String>,
    index: std::cell::OnceCell<Index>,
}

#[derive(Debug, Clone, Default)]
struct Index {
    /// Secrets of `MIN_SECRET..WINDOW` characters: looked for whole.
    short: Vec<String>,
    /// A hash of every window of [`WINDOW`] characters of the longer ones.
    windows: rustc_hash::FxHashSet<u64>,
}

impl SecretValues {
    /// Learn `value` as a secret. A URL with a password contributes its password only (the
    /// rest of a database URL is no secret, and would match every other URL).
    pub fn learn(&mut self, value: &str) {
        let value = url_password(value).unwrap_or_else(|| value.to_string());
        if value.chars().count() >= MIN_SECRET {
            self.learned.push(value);
            self.index = std::cell::OnceCell::new();
        }
    }

    fn index(&self) -> &Index {
        self.index.get_or_init(|| {
            let mut index = Index::default();
            for value in &self.learned {
                if value.chars().count() < WINDOW {
                    if !index.short.contains(value) {
                        index.short.push(value.clone());
                    }
                } else {
                    index.windows.extend(windows(value).map(hash));
                }
            }
            index
        })
    }

    /// Does `value` contain a learned secret, or a window of one, as it is or percent-decoded?
    /// A secret written into a URL (`p%40ss` for `p@ss`, a pod's `DATABASE_URL` echoed by
    /// kubectl or helm) shares no window with the secret once its special characters are
    /// encoded, whichever characters the encoder chose to encode.
    pub fn touches(&self, value: &str) -> bool {
        if self.learned.is_empty() {
            return false;
        }
        let index = self.index();
        let holds = |v: &str| {
            (!index.windows.is_empty() && windows(v).any(|w| index.windows.contains(&hash(w))))
                || index.short.iter().any(|s| v.contains(s.as_str()))
        };
        holds(value)
            || (value.contains('%')
                && holds(&percent_encoding::percent_decode_str(value).decode_utf8_lossy()))
    }

    pub fn is_empty(&self) -> bool {
        self.learned.is_empty()
    }
}

/// Every run of [`WINDOW`] consecutive characters of `s`.
fn windows(s: &str) -> impl Iterator<Item = &str> {
    let starts: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
    (0..starts.len().saturating_sub(WINDOW)).map(move |i| &s[starts[i]..starts[i + WINDOW]])
}

fn hash(s: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(s)
}

/// The percent-decoded password of a URL that has one.
fn url_password(value: &str) -> Option<String> {
    if !value.contains("://") {
        return None;
    }
    let u = url::Url::parse(value).ok()?;
    let pw = u.password()?;
    Some(
        percent_encoding::percent_decode_str(pw)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// Words that make a key secret-named even when the rules do not declare it secret.
const SECRET_WORDS: [&str; 8] = [
    "PASS",
    "SECRET",
    "TOKEN",
    "KEY",
    "PRIVATE",
    "CREDENTIAL",
    "URL",
    "DSN",
];

/// Is `key` named like a secret (`*PASSWORD*`, `*SECRET*`, `*TOKEN*`, `*_KEY`, `*URL*`, …)?
pub fn secret_named(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// Which values to hide, and whether the user asked to see them anyway.
///
/// A value is hidden when its key is declared secret (`[keys] secrets`, `*` patterns), is a
/// shared key or a `[[weak_secret]]` key, or is named like a secret; `[keys] public` names
/// the exceptions (GPROD: `PORT`, shared but no secret). The same policy serves every output:
/// findings, `fix`'s diff and summary, `show`, JSON.
#[derive(Debug, Clone, Default)]
pub struct Mask {
    reveal: bool,
    /// `[keys] secrets` patterns (`*` wildcards, case-insensitive).
    patterns: Vec<String>,
    /// Keys named exactly: shared and weak-secret keys.
    names: Vec<String>,
    /// Keys never hidden by name.
    public: Vec<String>,
    /// Secret values learned from the files read ([`Mask::learn`]).
    secrets: SecretValues,
}

impl Mask {
    /// `reveal` is `--show-values`.
    pub fn new(
        reveal: bool,
        patterns: Vec<String>,
        names: Vec<String>,
        public: Vec<String>,
    ) -> Mask {
        Mask {
            reveal,
            patterns,
            names,
            public,
            secrets: SecretValues::default(),
        }
    }

    /// Learn the values of secret keys (`(key, value)` pairs from the files read), so that a
    /// value holding one is hidden wherever it appears, public keys included.
    pub fn learn<'v>(&mut self, pairs: impl IntoIterator<Item = (&'v str, &'v str)>) {
        if self.reveal {
            return;
        }
        for (key, value) in pairs {
            if self.is_secret(key) && !value.is_empty() {
                self.secrets.learn(value);
            }
        }
    }

    /// Learn values known to be secret whatever their key (a URL's password, what a pod
    /// receives from a Secret).
    pub fn learn_values<'v>(&mut self, values: impl IntoIterator<Item = &'v str>) {
        if self.reveal {
            return;
        }
        for v in values.into_iter().filter(|v| !v.is_empty()) {
            self.secrets.learn(v);
        }
    }

    /// Does `value` hold a learned secret (or a window of one)?
    pub fn touches(&self, value: &str) -> bool {
        !self.reveal && self.secrets.touches(value)
    }

    /// Is `key = value` hidden in output: a secret key, or a value that holds a secret?
    pub fn hides_value(&self, key: &str, value: &str) -> bool {
        self.hides(key) || self.touches(value)
    }

    /// A program's message (helm's, kubectl's) made safe to print: each line that holds a
    /// learned secret replaced, control characters escaped, trimmed.
    pub fn scrub_lines(&self, message: &str) -> String {
        let lines: Vec<String> = message
            .lines()
            .map(|l| {
                if self.touches(l) {
                    "(a line that holds a secret value is not shown)".to_string()
                } else {
                    sanitize(l)
                }
            })
            .collect();
        lines.join("\n").trim().to_string()
    }

    /// A value with no key of its own (a URL's host, user or database) as a message shows it:
    /// its fingerprint when it holds a secret, else sanitised in backticks.
    pub fn text(&self, value: &str) -> String {
        if self.touches(value) {
            fingerprint(value)
        } else {
            format!("`{}`", sanitize(value))
        }
    }

    /// `--show-values` was given.
    pub fn reveals(&self) -> bool {
        self.reveal
    }

    /// Is `key`'s value a secret under this policy?
    pub fn is_secret(&self, key: &str) -> bool {
        !self.public.iter().any(|k| k == key)
            && (self.patterns.iter().any(|p| matches_pattern(p, key))
                || self.names.iter().any(|k| k == key)
                || secret_named(key))
    }

    /// Is `key`'s value replaced by its fingerprint in output?
    pub fn hides(&self, key: &str) -> bool {
        !self.reveal && self.is_secret(key)
    }

    /// How a value appears in a message: a fingerprint for secrets (unless `--show-values`),
    /// the sanitised value in backticks otherwise.
    pub fn value(&self, key: &str, value: &str) -> String {
        if self.hides_value(key, value) {
            fingerprint(value)
        } else {
            format!("`{}`", sanitize(value))
        }
    }

    /// May a diff show `key`'s raw value?
    pub fn shows_in_diff(&self, key: &str) -> bool {
        !self.hides(key)
    }
}

/// Query parameters that carry a password (libpq's and the drivers' names).
const PASSWORD_PARAMS: [&str; 2] = ["password", "sslpassword"];

/// Did `url` parse, but not as the URL it was meant to be? An unencoded `@`, `/` or `?` in a
/// password moves part of it into the path, query or fragment, which must then not be printed.
pub fn misparsed(url: &url::Url) -> bool {
    [
        url.path(),
        url.query().unwrap_or(""),
        url.fragment().unwrap_or(""),
    ]
    .iter()
    .any(|p| p.contains('@'))
        || !url.has_authority()
}

/// `postgresql://user:****@host:port/db?sslmode=require&password=****`: a database URL without
/// its passwords, in the userinfo and in the query. A URL that does not parse cleanly is not
/// shown at all.
pub fn url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if misparsed(&u) => "<a database URL that does not parse cleanly>".to_string(),
        Ok(u) => masked_url(&u),
        Err(_) => "<a database URL that does not parse>".to_string(),
    }
}

/// A parsed URL without its passwords (see [`url()`]; [`crate::dburl::DbUrl`] prints this way).
pub fn masked_url(u: &url::Url) -> String {
    let mut u = u.clone();
    {
        {
            if u.password().is_some() {
                let _ = u.set_password(Some("****"));
            }
            if u.query_pairs()
                .any(|(k, _)| PASSWORD_PARAMS.contains(&k.as_ref()))
            {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if PASSWORD_PARAMS.contains(&k.as_ref()) {
                            "****".to_string()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
    }
}

/// The `user:password` part of `scheme://user:password@host/…`, found by position (also where
/// a URL parser refuses the URL).
pub fn userinfo(url: &str) -> Option<&str> {
    userinfo_range(url).map(|r| &url[r])
}

/// Where [`userinfo`] is in `url`.
fn userinfo_range(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    authority.rfind('@').map(|at| start..start + at)
}

/// A git source URL as messages show it: userinfo hidden (a token is often the user name), except
/// the conventional `git` user of ssh URLs.
pub fn git_url(url: &str) -> String {
    match userinfo_range(url) {
        Some(r) if &url[r.clone()] != "git" => {
            let hidden = if url[r.clone()].contains(':') {
                "****:****"
            } else {
                "****"
            };
            format!("{}{hidden}{}", &url[..r.start], &url[r.end..])
        }
        _ => url.to_string(),
    }
}

/// The secret pieces of a URL's userinfo (the whole of it, and each part long enough not to be
/// a common word; raw and percent-decoded), to scrub from messages other programs wrote.
pub fn url_secrets(url: &str) -> Vec<String> {
    let Some(info) = userinfo(url) else {
        return Vec::new();
    };
    let mut pieces: Vec<&str> = vec![info];
    pieces.extend(info.split(':').filter(|s| s.len() >= 4 && *s != "git"));
    let mut out: Vec<String> = Vec::new();
    for p in pieces {
        for s in [
            p.to_string(),
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned(),
        ] {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    // Longest first, so a whole userinfo is replaced before its parts.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_has_length_and_eight_hex_digits() {
        // sha256("abc") = ba7816bf...
        assert_eq!(fingerprint("abc"), "3 chars, sha256:ba7816bf");
    }

    #[test]
    fn secrets_are_fingerprinted_unless_revealed() {
        let m = Mask::new(
            false,
            vec!["JWT_*".into()],
            vec!["SMTP_PASS".into(), "SHARED_NAME".into(), "PORT".into()],
            vec!["PORT".into()],
        );
        assert_eq!(m.value("JWT_SECRET", "abc"), "3 chars, sha256:ba7816bf");
        // Declared, shared, or named like a secret: hidden; public or plain: shown.
        for hidden in [
            "SHARED_NAME",
            "API_TOKEN",
            "SMTP_PASS",
            "SSL_KEY",
            "REDIS_URL",
        ] {
            assert!(m.hides(hidden), "{hidden}");
        }
        assert_eq!(m.value("PORT", "3000"), "`3000`");
        assert_eq!(m.value("LOG_LEVEL", "debug"), "`debug`");
        let shown = Mask::new(true, vec!["JWT_*".into()], vec![], vec![]);
        assert_eq!(shown.value("JWT_SECRET", "abc"), "`abc`");
        assert!(shown.shows_in_diff("API_TOKEN"));
    }

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            url("postgresql://u:pw@db:5432/x"),
            "postgresql://u:****@db:5432/x"
        );
        assert_eq!(
            url("postgresql://u@db/x?sslmode=require&password=Canary%231&sslpassword=c2"),
            "postgresql://u@db/x?sslmode=require&password=****&sslpassword=****"
        );
        assert_eq!(url("not a url"), "<a database URL that does not parse>");
        // An unencoded `/` in the password: `123` became the port and the rest the path.
        assert_eq!(
            url("postgresql://postgres:123/Canary@db:5432/x"),
            "<a database URL that does not parse cleanly>"
        );
    }

    #[test]
    fn git_urls_lose_their_credentials() {
        assert_eq!(
            git_url("https://user:Canary@example.org/infra.git"),
            "https://****:****@example.org/infra.git"
        );
        assert_eq!(
            git_url("https://ghp_Canary@example.org/infra.git"),
            "https://****@example.org/infra.git"
        );
        assert_eq!(
            git_url("ssh://git@example.org/infra.git"),
            "ssh://git@example.org/infra.git"
        );
        assert_eq!(git_url("file:///srv/infra"), "file:///srv/infra");
        // A token that also occurs earlier in the URL is hidden where it stands.
        assert_eq!(
            git_url("https://ht@example.org/infra.git"),
            "https://****@example.org/infra.git"
        );
        assert_eq!(
            git_url("file://u:Canary@/srv/infra"),
            "file://****:****@/srv/infra"
        );
        assert_eq!(
            url_secrets("https://u:p%40ss@h/x"),
            ["u:p%40ss", "u:p@ss", "p%40ss", "p@ss"]
        );
    }

    #[test]
    fn values_holding_a_learned_secret_are_hidden_public_keys_too() {
        let mut m = Mask::new(
            false,
            vec!["*PASSWORD*".into()],
            vec![],
            vec!["LINK".into()],
        );
        m.learn([
            ("POSTGRES_PASSWORD", "Zx8-pRt4_wq9LmV2"),
            ("DATABASE_URL", "postgresql://u:Url%23Pass-77@db/x"),
            ("PORT", "3200"),
        ]);
        for v in [
            "Zx8-pRt4_wq9LmV2",
            "https://x:Zx8-pRt4_wq9LmV2@host",
            "tail pRt4_wq9 only",
            "Url#Pass-77",
        ] {
            assert!(m.touches(v), "{v}");
            assert!(m.value("LINK", v).contains("sha256:"), "{v}");
        }
        // Percent-encoded, as in a URL that another program prints.
        for v in [
            "dial postgresql://u:Zx8-pRt4%5Fwq9LmV2@db/x",
            "postgresql://u:Url%23Pass-77@db/x",
            "x Url%23Pass%2D77 y",
        ] {
            assert!(m.touches(v), "{v}");
            assert!(m.scrub_lines(v).contains("is not shown"), "{v}");
        }
        // Seven characters of a secret, the rest of a URL and unrelated values stay.
        for v in ["pRt4_wq", "postgresql://u@db/x", "3200", "gprod_prod"] {
            assert!(!m.touches(v), "{v}");
        }
        assert_eq!(m.value("LINK", "3200"), "`3200`");
        let shown = {
            let mut m = Mask::new(true, vec![], vec![], vec![]);
            m.learn([("PASSWORD", "Zx8-pRt4_wq9LmV2")]);
            m
        };
        assert!(!shown.touches("Zx8-pRt4_wq9LmV2"));
    }

    #[test]
    fn forging_characters_are_escaped_visibly() {
        assert_eq!(sanitize("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(
            sanitize("x\u{2028}y\u{202e}z\r"),
            "x\\u{2028}y\\u{202e}z\\u{d}"
        );
        assert_eq!(sanitize("plain ü"), "plain ü");
        assert_eq!(sanitize_lines("a\u{85}\r\nb\n"), "a\\u{85}\r\nb\n");
    }
}
