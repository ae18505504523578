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
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{} chars, sha256:{hex}", value.chars().count())
}

/// Replace control characters before printing text that came from a file.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
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

/// Which values to hide, and whether the user asked to see them anyway.
#[derive(Debug, Clone, Default)]
pub struct Mask {
    reveal: bool,
    /// Every key counts as secret (`show`, which knows no rules).
    all: bool,
    /// `[keys] secrets` patterns (`*` wildcards, case-insensitive).
    patterns: Vec<String>,
    /// Keys named exactly (`[[weak_secret]] key`).
    names: Vec<String>,
}

impl Mask {
    /// `reveal` is `--show-values`.
    pub fn new(reveal: bool, patterns: Vec<String>, names: Vec<String>) -> Mask {
        Mask {
            reveal,
            all: false,
            patterns,
            names,
        }
    }

    /// Hide every value unless `reveal`.
    pub fn everything(reveal: bool) -> Mask {
        Mask {
            reveal,
            all: true,
            ..Mask::default()
        }
    }

    /// `--show-values` was given.
    pub fn reveals(&self) -> bool {
        self.reveal
    }

    /// Do the rules declare `key` secret?
    pub fn is_secret(&self, key: &str) -> bool {
        self.all
            || self.patterns.iter().any(|p| matches_pattern(p, key))
            || self.names.iter().any(|k| k == key)
    }

    /// Is `key`'s value replaced by its fingerprint in output?
    pub fn hides(&self, key: &str) -> bool {
        !self.reveal && self.is_secret(key)
    }

    /// How a value appears in a message: a fingerprint for secrets (unless `--show-values`),
    /// the sanitised value in backticks otherwise.
    pub fn value(&self, key: &str, value: &str) -> String {
        if self.hides(key) {
            fingerprint(value)
        } else {
            format!("`{}`", sanitize(value))
        }
    }

    /// May a diff show `key`'s raw value? Not when declared secret or named like one.
    pub fn shows_in_diff(&self, key: &str) -> bool {
        let upper = key.to_ascii_uppercase();
        self.reveal || (!self.is_secret(key) && !SECRET_WORDS.iter().any(|w| upper.contains(w)))
    }
}

/// `postgresql://user:****@host:port/db`: a database URL without its password.
pub fn url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("****"));
            }
            u.to_string()
        }
        Err(_) => "<a database URL that does not parse>".to_string(),
    }
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
            vec!["*_SECRET".into()],
            vec!["POSTGRES_PASSWORD".into()],
        );
        assert_eq!(m.value("JWT_SECRET", "abc"), "3 chars, sha256:ba7816bf");
        assert_eq!(
            m.value("POSTGRES_PASSWORD", "abc"),
            "3 chars, sha256:ba7816bf"
        );
        assert_eq!(m.value("PORT", "3000"), "`3000`");
        assert!(!m.shows_in_diff("API_TOKEN") && m.shows_in_diff("PORT"));
        let shown = Mask::new(true, vec!["*_SECRET".into()], vec![]);
        assert_eq!(shown.value("JWT_SECRET", "abc"), "`abc`");
        assert!(shown.shows_in_diff("API_TOKEN"));
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            url("postgresql://u:pw@db:5432/x"),
            "postgresql://u:****@db:5432/x"
        );
        assert_eq!(url("not a url"), "<a database URL that does not parse>");
    }
}
