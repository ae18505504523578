//! The SQL envsync writes itself (ledger rows, `search_path`, schema DDL), shared by both
//! ledgers, the preflight and the messages that show SQL to run.
//!
//! Names (a migration's directory name or description, a schema) are never spliced into SQL
//! text: they are bound as parameters. A migration and its ledger row go to the server as one
//! simple-protocol batch (one round trip per migration), and such a batch cannot carry
//! parameters; so the rows of the next [`ROWS_PER_BINDING`] migrations are bound first, in one
//! round trip, as session settings (`envsync.ledger_<index>_<field>`, [`bind_rows`]), and each
//! batch's `INSERT` reads its own row's values from there ([`bound`]). Only an index, a field
//! name of envsync's own and envsync's own integers reach the batch's text. DDL cannot take
//! parameters: identifiers there go through [`quote_ident`].

use sqlx::postgres::PgConnection;

/// `"name"`, with inner quotes doubled: PostgreSQL's `quote_ident` without its bare-word case.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// How many migrations' rows one binding carries: one extra round trip per this many
/// migrations, and a bounded number of settings in the session.
pub const ROWS_PER_BINDING: usize = 64;

/// One ledger row's values, by field name (a name of envsync's own: `id`, `name`, …).
pub type Row = Vec<(&'static str, String)>;

/// The session setting that holds `field` of row `index`.
fn setting(index: usize, field: &str) -> String {
    format!("envsync.ledger_{index}_{field}")
}

/// Bind `rows` (the rows of the coming batches, in order) as parameters into the session
/// settings the batches read: one round trip.
pub async fn bind_rows(conn: &mut PgConnection, rows: &[Row]) -> Result<(), sqlx::Error> {
    let (mut names, mut values) = (Vec::new(), Vec::new());
    for (index, row) in rows.iter().enumerate() {
        for (field, value) in row {
            names.push(setting(index, field));
            values.push(value.as_str());
        }
    }
    sqlx::query(
        "SELECT count(set_config(k, v, false)) FROM unnest($1::text[], $2::text[]) AS t(k, v)",
    )
    .bind(names)
    .bind(values)
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

/// The SQL expression for `field` of row `index` of the last [`bind_rows`]: the value as text.
/// A row that was not bound has no setting, and reading it is an error, so a batch never
/// records a row it was not given.
pub fn bound(index: usize, field: &str) -> String {
    format!("current_setting('{}')", setting(index, field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_its_own_delimiters() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
    }

    #[test]
    fn a_bound_value_is_read_by_position_and_field_only() {
        assert_eq!(bound(3, "name"), "current_setting('envsync.ledger_3_name')");
    }
}
