//! The ledger's advisory lock (sqlx's key, or Prisma's), taken with a deadline and its holder
//! named, so two runners never interleave.

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnection;
use sqlx::Row;

use super::{Event, MigrateError};

/// sqlx's advisory-lock key: `0x3d32ad9e * crc32(current_database())`.
pub fn sqlx_key(database: &str) -> i64 {
    const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    0x3d32ad9e * i64::from(CRC.checksum(database.as_bytes()))
}

/// Who holds the lock: `pid 123 (user app, application "envsync migrate", since …)`.
async fn holder(conn: &mut PgConnection, key: i64) -> Option<String> {
    let row = sqlx::query(
        "SELECT a.pid, coalesce(a.usename::text, '?'), coalesce(a.application_name, ''),
                coalesce(host(a.client_addr), 'local socket'),
                coalesce(to_char(a.xact_start, 'YYYY-MM-DD HH24:MI:SS TZ'), to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), '?')
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND ((l.classid::bigint << 32) | l.objid::bigint) = $1
          LIMIT 1",
    )
    .bind(key)
    .fetch_optional(conn)
    .await
    .ok()??;
    let pid: i32 = row.get(0);
    let (user, app, from, since): (String, String, String, String) =
        (row.get(1), row.get(2), row.get(3), row.get(4));
    Some(format!(
        "pid {pid} (user {user}, application \"{app}\", from {from}, since {since})"
    ))
}

/// Take the advisory lock `key` (`name` in messages), polling with `pg_try_advisory_lock` until
/// `timeout`.
pub async fn lock(
    conn: &mut PgConnection,
    key: i64,
    name: &'static str,
    timeout: Duration,
    emit: &mut dyn FnMut(Event),
) -> Result<(), MigrateError> {
    let deadline = Instant::now() + timeout;
    let mut told: Option<String> = None;
    let mut pause = Duration::from_millis(50);
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| MigrateError::query("taking the migration lock", &e))?;
        if got {
            return Ok(());
        }
        let who = holder(conn, key)
            .await
            .unwrap_or_else(|| "another session".into());
        if Instant::now() >= deadline {
            return Err(MigrateError::LockTimeout {
                lock: name.to_string(),
                seconds: timeout.as_secs(),
                holder: who,
            });
        }
        if told.as_deref() != Some(who.as_str()) {
            emit(Event::WaitingForLock {
                lock: name,
                holder: who.clone(),
                timeout,
            });
            told = Some(who);
        }
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

pub async fn unlock(conn: &mut PgConnection, key: i64) {
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(conn)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_key_is_sqlx_s() {
        // crc32("postgres") = 0x156a8775 (CRC-32/ISO-HDLC, as zlib computes it).
        assert_eq!(sqlx_key("postgres"), 0x3d32ad9e * 0x156a8775_i64);
        assert!(sqlx_key("gprod_prod") > 0);
    }
}
