//! Connecting: an unreachable database, `--wait` retries, bad directories refused up front.

use std::fs;

use super::{count, migrate, migrations};
use crate::common::{envsync, run};
use crate::pg::cluster;

#[test]
fn an_unreachable_database_fails_fast_with_exit_2_and_no_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let m = migrations(1);
    let started = std::time::Instant::now();
    let r = migrate(
        m.path(),
        &format!("postgresql://app:Top%23Secret@127.0.0.1:{port}/x"),
        &["--via", "direct"],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(started.elapsed().as_secs() < 10);
    assert!(
        r.stderr.contains(&format!("127.0.0.1:{port}")) && r.stderr.contains("route direct"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("Top") && !r.stdout.contains("Top"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    // The compose host does not resolve outside the network: the message says what to do.
    let r = migrate(
        m.path(),
        "postgresql://app:pw@db.invalid:5432/x",
        &["--via", "direct"],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--via host"), "{}", r.stderr);
}

#[test]
fn bad_migration_directories_are_refused_before_touching_the_database() {
    let m = migrations(2);
    fs::write(m.path().join("2_again.sql"), "SELECT 1;\n").unwrap();
    // An unroutable URL: the error must come from the directory check, not the connection.
    let r = migrate(m.path(), "postgresql://u:p@127.0.0.1:1/x", &[]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("version 2 is used by 2_again.sql and 2_hit_2.sql"),
        "{}",
        r.stderr
    );
    let m = migrations(1);
    fs::write(
        m.path().join("2_index.sql"),
        "\u{FEFF}-- no-transaction\nCREATE INDEX CONCURRENTLY i ON hits (at);\n",
    )
    .unwrap();
    let r = migrate(m.path(), "postgresql://u:p@127.0.0.1:1/x", &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("byte-order mark"), "{}", r.stderr);
}

/// A forwarder to the test cluster on a port of its own, held from the start (nothing else can
/// take it): the first `starting` connections are answered the way a starting PostgreSQL
/// answers (FATAL, SQLSTATE 57P03 "the database system is starting up"), the rest forwarded.
fn starting_forwarder(upstream: u16, starting: usize) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    fn read_message(c: &mut TcpStream) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        c.read_exact(&mut len).ok()?;
        let mut body = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
        c.read_exact(&mut body).ok()?;
        Some(body)
    }
    fn starting_up(mut c: TcpStream) {
        let Some(first) = read_message(&mut c) else {
            return;
        };
        // SSLRequest: decline TLS; the startup message follows.
        if first.starts_with(&80877103u32.to_be_bytes()) {
            let _ = c.write_all(b"N");
            if read_message(&mut c).is_none() {
                return;
            }
        }
        let mut fields = Vec::new();
        for (tag, text) in [
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', "57P03"),
            (b'M', "the database system is starting up"),
        ] {
            fields.push(tag);
            fields.extend_from_slice(text.as_bytes());
            fields.push(0);
        }
        fields.push(0);
        let mut msg = vec![b'E'];
        msg.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
        msg.extend_from_slice(&fields);
        let _ = c.write_all(&msg);
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().flatten().enumerate() {
            if n < starting {
                starting_up(client);
                continue;
            }
            let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut c, mut s) = (client, server);
            std::thread::spawn(move || std::io::copy(&mut c, &mut s));
            std::thread::spawn(move || std::io::copy(&mut s2, &mut c2));
        }
    });
    port
}

/// `--wait`: while the database is starting, envsync keeps retrying and then migrates; without
/// `--wait` the same answer ends the run with exit 2.
#[test]
fn wait_retries_until_the_database_answers() {
    let pg = cluster();
    pg.owned("m_wait"); // reached below through the forwarders
    let m = migrations(2);
    let migrate = |port: u16, wait: &[&str]| {
        let url = format!("postgresql://m_wait_app:pw@127.0.0.1:{port}/m_wait");
        run(envsync(m.path())
            .arg("migrate")
            .args(wait)
            .args(["--via", "direct", "--dir"])
            .arg(m.path())
            .args(["--database-url", &url]))
    };
    let once = migrate(starting_forwarder(pg.port, 1), &[]);
    assert_eq!(once.code, 2, "{}{}", once.stdout, once.stderr);
    assert!(once.stderr.contains("57P03"), "{}", once.stderr);
    let out = migrate(starting_forwarder(pg.port, 2), &["--wait", "30"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("waiting for the database at 127.0.0.1:"),
        "{}",
        out.stdout
    );
    assert_eq!(count("m_wait", "SELECT count(*) FROM hits"), 1);
}
