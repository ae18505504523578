//! What a secret is and how a new one is made: key and placeholder patterns, entropy, and
//! generated secrets. How secrets are hidden in output is [`crate::mask`].

/// `match` a placeholder pattern: `*` matches any run of characters, ASCII case-insensitively.
/// No allocation: it runs for every secret value against every placeholder.
pub fn matches_pattern(pattern: &str, value: &str) -> bool {
    let (p, v) = (pattern.as_bytes(), value.as_bytes());
    let same = |a: &[u8], b: &[u8]| a.eq_ignore_ascii_case(b);
    let (Some(first_star), Some(last_star)) = (
        p.iter().position(|&c| c == b'*'),
        p.iter().rposition(|&c| c == b'*'),
    ) else {
        return same(p, v);
    };
    let (prefix, suffix) = (&p[..first_star], &p[last_star + 1..]);
    if v.len() < prefix.len() + suffix.len()
        || !same(&v[..prefix.len()], prefix)
        || !same(&v[v.len() - suffix.len()..], suffix)
    {
        return false;
    }
    // The parts between the first and the last `*`, in order, between prefix and suffix.
    let (mut at, end) = (prefix.len(), v.len() - suffix.len());
    if last_star > first_star {
        for part in p[first_star + 1..last_star].split(|&c| c == b'*') {
            if part.is_empty() {
                continue;
            }
            match (at..end).find(|&i| i + part.len() <= end && same(&v[i..i + part.len()], part)) {
                Some(i) => at = i + part.len(),
                None => return false,
            }
        }
    }
    true
}

/// Shannon entropy in bits per character.
pub fn entropy(value: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let n = value.chars().count();
    if n == 0 {
        return 0.0;
    }
    for c in value.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// Does a value in an example file look like a real secret rather than a placeholder?
/// Long enough, varied enough, and no placeholder pattern.
pub fn looks_real(value: &str, placeholders: &[String]) -> bool {
    let len = value.chars().count();
    len >= 16
        && entropy(value) >= 3.5
        && !placeholders.iter().any(|p| matches_pattern(p, value))
        && !value.contains("${")
}

/// A new secret: 48 bytes from the OS CSPRNG, URL-safe base64 without padding (64 characters).
pub fn generate() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        for (p, v, m) in [
            ("your_*", "your_secure_password", true),
            (
                "*change_me*",
                "dev_jwt_secret_change_me_in_production",
                true,
            ),
            ("*secret*_here", "my_secret_key_here", true),
            ("postgres", "Postgres", true),
            ("postgres", "postgres1", false),
            ("your_*", "my_your_x", false),
            ("a*b*c", "AxxBxxC", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
            ("*", "", true),
            ("x*", "x", true),
        ] {
            assert_eq!(matches_pattern(p, v), m, "{p} {v}");
        }
    }

    #[test]
    fn generated_secrets_are_long_url_safe_and_distinct() {
        let a = generate();
        assert!(a.len() >= 48);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, generate());
        assert!(looks_real(&a, &[]));
        assert!(!looks_real("your_secure_jwt_key", &["your_*".into()]));
    }
}
