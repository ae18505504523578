//! The SQL envsync writes itself (ledger rows, `search_path`, schema DDL), shared by both
//! ledgers, the preflight and the messages that show SQL to run.
//!
//! Names (a migration's directory name or description, a schema) are never spliced into SQL
//! text: they are bound as parameters. A migration and its ledger row go to the server as one
//! simple-protocol batch (one round trip per migration), and such a batch cannot carry
//! parameters; so the names of the next [`NAMES_PER_BINDING`] migrations are bound first, in
//! one round trip, as one array in a session setting ([`bind_names`]), and each batch's `INSERT`
//! takes its own from there by position ([`bound_name`]). Only that position and envsync's own
//! values (integers, hex checksums, UUIDs: [`is_own_literal`]) reach the batch's text. DDL
//! cannot take parameters: identifiers there go through [`quote_ident`].
//!
//! One setting, not one per name: PostgreSQL 15 sorts its whole table of settings each time a
//! new one is created (about 0.2 ms each here), and an array of 32 names costs microseconds to
//! read.

use sqlx::postgres::PgConnection;

/// `"name"`, with inner quotes doubled: PostgreSQL's `quote_ident` without its bare-word case.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// How many migrations' names one binding carries: one extra round trip per this many
/// migrations, and an array this long for each batch to read.
pub const NAMES_PER_BINDING: usize = 32;

/// The session setting that holds the bound names (a `text[]` in its text form).
const NAMES_SETTING: &str = "envsync.ledger_names";

/// Bind `names` (those of the coming batches, in order) as one parameter into the session
/// setting the batches read. The array's text form is PostgreSQL's own (`$1::text[]::text`),
/// so no quoting happens here.
pub async fn bind_names(conn: &mut PgConnection, names: &[&str]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config($1, $2::text[]::text, false)")
        .bind(NAMES_SETTING)
        .bind(names)
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

/// The SQL expression for name `index` (from 0) of the last [`bind_names`]. Past the end it is
/// NULL, which the ledgers' NOT NULL columns refuse: a batch never records a name it was not
/// given.
pub fn bound_name(index: usize) -> String {
    format!(
        "(current_setting('{NAMES_SETTING}')::text[])[{}]",
        index + 1
    )
}

/// May `s` be written into SQL text as a literal: envsync's own UUIDs and hex digits, nothing
/// that could hold a quote or a dollar sign.
pub fn is_own_literal(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_its_own_delimiters() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
    }

    #[test]
    fn a_bound_name_is_read_by_position_only() {
        assert_eq!(
            bound_name(3),
            "(current_setting('envsync.ledger_names')::text[])[4]"
        );
        assert!(is_own_literal("0f1e-9A"));
        assert!(!is_own_literal("x$envsync$") && !is_own_literal("a'b"));
    }
}
