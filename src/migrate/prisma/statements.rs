//! A migration script cut into statements at the top-level `;`, for the files that must run
//! outside a transaction (PostgreSQL runs a multi-statement query string as one implicit
//! transaction). Quotes, quoted identifiers, `E'…'` escapes, dollar quoting and both kinds of
//! comments are respected; one pass, linear in the script's length.

/// The statements of `sql`, each without its `;`; those holding only blanks and comments are
/// left out.
pub fn split(sql: &str) -> Vec<&str> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0usize, 0usize);
    // Whether the statement so far has anything but blanks and comments.
    let mut code = false;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                // `E'…'` (a lone E or e before the quote) takes backslash escapes.
                let escapes =
                    i > 0 && matches!(b[i - 1], b'E' | b'e') && (i < 2 || !is_ident(b[i - 2]));
                i = skip_quoted(b, i, b'\'', escapes);
                code = true;
            }
            b'"' => {
                i = skip_quoted(b, i, b'"', false);
                code = true;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(b.len(), |n| i + n + 1);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => i = skip_block_comment(b, i),
            b'$' => match dollar_tag(b, i) {
                Some(tag_len) => {
                    // The tag is `$`, identifier characters, `$`: whole characters.
                    let tag = &sql[i..i + tag_len];
                    let body = i + tag_len;
                    i = sql[body..]
                        .find(tag)
                        .map_or(b.len(), |n| body + n + tag_len);
                    code = true;
                }
                None => {
                    i += 1;
                    code = true;
                }
            },
            b';' => {
                if code {
                    out.push(sql[start..i].trim());
                }
                i += 1;
                start = i;
                code = false;
            }
            c => {
                code |= !c.is_ascii_whitespace();
                i += 1;
            }
        }
    }
    if code {
        out.push(sql[start..].trim());
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// Past the closing quote of the quoted text opening at `open` (doubled quotes stay inside).
fn skip_quoted(b: &[u8], open: usize, q: u8, backslash: bool) -> usize {
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'\\' if backslash => i += 2,
            c if c == q => {
                if b.get(i + 1) == Some(&q) {
                    i += 2;
                } else {
                    return i + 1;
                }
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// Past the end of the (nestable) block comment opening at `open`.
fn skip_block_comment(b: &[u8], open: usize) -> usize {
    let (mut depth, mut i) = (0usize, open);
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// The length of the dollar-quote tag (`$$`, `$body$`) at `i`, if one starts there. A `$` after
/// an identifier character, or followed by a digit (`$1`), opens none.
fn dollar_tag(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && is_ident(b[i - 1]) {
        return None;
    }
    let mut j = i + 1;
    if b.get(j).is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    while j < b.len() && is_ident(b[j]) {
        j += 1;
    }
    (b.get(j) == Some(&b'$')).then_some(j + 1 - i)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn statements_split_only_at_top_level_semicolons() {
        let sql = "CREATE TABLE \"a;b\" (x text DEFAULT 'x;y''z');\n\
                   -- a comment; not a statement\n\
                   /* block; /* nested; */ still; */\n\
                   CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n\
                   SELECT E'it\\'s; fine', $$;$$, $1;\n\
                   CREATE INDEX CONCURRENTLY i ON a (x)";
        let s = split(sql);
        assert_eq!(s.len(), 4, "{s:#?}");
        assert!(s[0].starts_with("CREATE TABLE \"a;b\""));
        assert!(s[1].contains("$body$ SELECT 1; $body$"), "{}", s[1]);
        assert!(s[2].contains("E'it\\'s; fine'"), "{}", s[2]);
        assert_eq!(s[3], "CREATE INDEX CONCURRENTLY i ON a (x)");
    }

    #[test]
    fn blanks_and_comments_alone_are_no_statement() {
        assert!(split("  ;\n-- only a comment\n;/* x */").is_empty());
        assert_eq!(split("SELECT 1;;SELECT 2"), ["SELECT 1", "SELECT 2"]);
    }

    proptest::proptest! {
        /// Any text, multi-byte characters after a backslash or inside a tag included, is cut
        /// without a panic into pieces of itself.
        #[test]
        fn any_text_splits_into_pieces_of_itself(sql in r#"(--|;|'|"|\$|\$\$|\$é\$|/\*|\*/|\\|E'|é|ß|x| |\n){0,40}"#) {
            for piece in split(&sql) {
                proptest::prop_assert!(sql.contains(piece));
            }
        }
    }
}
