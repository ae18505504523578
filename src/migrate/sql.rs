//! Quoting for the SQL envsync writes itself (ledger rows, `search_path`, schema DDL), shared by
//! both ledgers, the preflight and the messages that show SQL to run.

/// `"name"`, with inner quotes doubled: PostgreSQL's `quote_ident` without its bare-word case.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A dollar-quoted literal whose tag does not occur in `s`.
pub fn dollar_quote(s: &str) -> String {
    let mut tag = String::from("envsync");
    while s.contains(&format!("${tag}$")) {
        tag.push('_');
    }
    format!("${tag}${s}${tag}$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_its_own_delimiters() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(dollar_quote("x"), "$envsync$x$envsync$");
        assert_eq!(dollar_quote("$envsync$"), "$envsync_$$envsync$$envsync_$");
    }
}
