//! The SQL envsync writes itself (ledger rows, `search_path`, schema DDL), shared by both
//! ledgers, the preflight and the messages that show SQL to run.
//!
//! Names (a migration's directory name or description, a schema) are never spliced into SQL
//! text: they are bound as parameters. A migration and its ledger row go to the server as one
//! simple-protocol batch (one round trip per migration), and such a batch cannot carry
//! parameters; so the rows of the next [`ROWS_PER_BINDING`] migrations are bound once, as one
//! JSON parameter, into a session setting ([`bind_rows`]), and each batch's `INSERT` reads its
//! row from there by position ([`bound_row`]). Only an index and envsync's own integers reach
//! the batch's text. DDL cannot take parameters: identifiers there go through [`quote_ident`].

use sqlx::postgres::PgConnection;

/// `"name"`, with inner quotes doubled: PostgreSQL's `quote_ident` without its bare-word case.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The session setting that holds the bound ledger rows (a JSON array).
const ROWS_SETTING: &str = "envsync.ledger_rows";

/// How many migrations' rows one binding carries: one extra round trip per this many
/// migrations, and a short array for each batch to read (not the whole run's, every time).
pub const ROWS_PER_BINDING: usize = 64;

/// Bind `rows` (a JSON array, one object per migration of the coming batches) as a parameter
/// into the session setting the batches read.
pub async fn bind_rows(
    conn: &mut PgConnection,
    rows: &[serde_json::Value],
) -> Result<(), sqlx::Error> {
    let json = serde_json::Value::Array(rows.to_vec()).to_string();
    sqlx::query("SELECT set_config($1, $2, false)")
        .bind(ROWS_SETTING)
        .bind(json)
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

/// A `FROM` item giving row `index` of the last [`bind_rows`] as `alias` (a `jsonb` object;
/// NULL past the end, which every ledger's NOT NULL columns refuse, so a batch never records a
/// row it was not given).
pub fn bound_row(index: usize, alias: &str) -> String {
    format!("(SELECT current_setting('{ROWS_SETTING}')::jsonb -> {index} AS {alias}) AS bound")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_its_own_delimiters() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
    }

    #[test]
    fn a_bound_row_is_read_by_position_only() {
        assert_eq!(
            bound_row(3, "r"),
            "(SELECT current_setting('envsync.ledger_rows')::jsonb -> 3 AS r) AS bound"
        );
    }
}
