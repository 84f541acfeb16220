//! Bounded time on every protocol, with short timeouts configured in `[limits]`:
//!
//! - STARTTLS (SMTP), STLS (POP3) and STARTTLS (IMAP) followed by silence: the connection is
//!   closed within `tls_handshake_timeout_secs` and its slot is free again;
//! - a client that stops reading a large reply (POP3 RETR, IMAP FETCH of a big message) is dropped
//!   after `write_timeout_secs`: the slot is freed and the POP3 maildrop lock released;
//! - a client sending one octet at a time cannot keep an SMTP or POP3 command open past
//!   `command_timeout_secs`, nor stay unauthenticated on POP3 past `login_timeout_secs`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::TestServer;
use mailwright::server::Service;

/// Reads until `needle` appears (or the peer closes, or 10 s pass); returns what was read.
fn read_until(s: &mut TcpStream, needle: &str) -> String {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !String::from_utf8_lossy(&out).contains(needle) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits until the server closes `s` (EOF or reset); how long that took, at most `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 16384];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

/// Whether a new connection to `addr` is greeted (`greeting` prefix) rather than refused.
fn greeted(addr: SocketAddr, greeting: &str) -> bool {
    let mut s = TcpStream::connect(addr).unwrap();
    let text = read_until(&mut s, "\r\n");
    text.starts_with(greeting)
}

/// A connection to `addr` once one is greeted with `greeting` (retrying for up to 10 s while the
/// slot is taken).
fn connect_greeted(addr: SocketAddr, greeting: &str) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = TcpStream::connect(addr).unwrap();
        if read_until(&mut s, "\r\n").starts_with(greeting) {
            return s;
        }
        assert!(Instant::now() < deadline, "never greeted on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn one_slot(c: &mut mailwright::core::config::Config) {
    c.limits.max_connections_per_ip = 1;
    c.limits.tls_handshake_timeout_secs = 2;
    c.limits.write_timeout_secs = 2;
}

#[test]
fn a_silent_tls_handshake_is_dropped_and_frees_its_slot() {
    let server = TestServer::start_with(one_slot);
    for (service, greeting, start_tls, ready) in [
        (Service::Smtp, "220 ", "STARTTLS\r\n", "220 2.0.0"),
        (Service::Pop3, "+OK", "STLS\r\n", "+OK Begin TLS"),
        (Service::Imap, "* OK", "a STARTTLS\r\n", "a OK"),
    ] {
        let addr = server.addr(service);
        // The probe of the last round may still be closing on the server's side.
        let mut s = connect_greeted(addr, greeting);
        if service == Service::Smtp {
            // RFC 2920: EHLO ends a pipelined group.
            s.write_all(b"EHLO client.test\r\n").unwrap();
            let caps = read_until(&mut s, "250 ");
            assert!(caps.contains("STARTTLS"), "{caps}");
        }
        s.write_all(start_tls.as_bytes()).unwrap();
        let reply = read_until(&mut s, ready);
        assert!(reply.contains(ready), "{service:?}: {reply}");
        // The slot is taken: a second connection from this address is refused.
        assert!(
            !greeted(addr, greeting),
            "{service:?}: one slot per address"
        );
        // No ClientHello ever comes.
        let took = closed_within(&mut s, Duration::from_secs(8));
        let took = took.unwrap_or_else(|| panic!("{service:?}: still open after 8 s"));
        assert!(
            took < Duration::from_secs(5),
            "{service:?}: closed after {took:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            greeted(addr, greeting),
            "{service:?}: the slot is free again"
        );
    }
}

/// A message of `size` octets in alice's INBOX.
fn big_message(server: &TestServer, size: usize) {
    let md = mailwright::store::create_user_maildir(&server.maildir("alice@example.org")).unwrap();
    let mut m = b"Subject: big\n\n".to_vec();
    let line = [b'z'; 99];
    while m.len() < size {
        m.extend_from_slice(&line);
        m.push(b'\n');
    }
    md.deliver(&m).unwrap();
}

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let server = TestServer::start_with(one_slot);
    // Far more than the socket buffers of both ends hold, so the server's writes block.
    big_message(&server, 48 * 1024 * 1024);
    // POP3: RETR, then never read.
    let pop3 = server.addr(Service::Pop3);
    let mut s = connect_greeted(pop3, "+OK");
    s.write_all(b"USER alice@example.org\r\nPASS alice-pw\r\n")
        .unwrap();
    let r = read_until(&mut s, "maildrop");
    assert!(r.contains("+OK"), "{r}");
    s.write_all(b"RETR 1\r\n").unwrap();
    // Not reading; the server gives up after 2 s of a blocked write, then the slot and the
    // maildrop lock are free: a new session logs in.
    let start = Instant::now();
    let mut logged_in = false;
    while start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(500));
        let mut t = TcpStream::connect(pop3).unwrap();
        let hello = read_until(&mut t, "\r\n");
        if !hello.starts_with("+OK") {
            continue;
        }
        t.write_all(b"USER alice@example.org\r\nPASS alice-pw\r\nQUIT\r\n")
            .unwrap();
        let r = read_until(&mut t, "\r\n+OK");
        if r.contains("maildrop") {
            logged_in = true;
            break;
        }
        assert!(r.contains("[IN-USE]") || r.contains("-ERR"), "{r}");
    }
    assert!(logged_in, "the stalled session still holds the maildrop");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    drop(s);

    // IMAP: FETCH the big message, then never read. (The POP3 probes may still hold the one
    // slot for a moment.)
    let imap = server.addr(Service::Imap);
    let mut s = connect_greeted(imap, "* OK");
    s.write_all(b"a LOGIN alice@example.org alice-pw\r\nb SELECT INBOX\r\n")
        .unwrap();
    let r = read_until(&mut s, "b OK");
    assert!(r.contains("b OK"), "{r}");
    s.write_all(b"c FETCH 1 BODY.PEEK[]\r\n").unwrap();
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !greeted(imap, "* OK"),
        "the stalled session holds the one slot"
    );
    let mut freed = false;
    while start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(500));
        if greeted(imap, "* OK") {
            freed = true;
            break;
        }
    }
    assert!(freed, "the stalled IMAP session was not dropped");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

/// Sends `line` one octet every 300 ms; returns what the server answered and when it closed.
fn trickle(addr: SocketAddr, before: &[u8], line: &[u8]) -> (String, Duration) {
    let mut s = TcpStream::connect(addr).unwrap();
    read_until(&mut s, "\r\n");
    if !before.is_empty() {
        s.write_all(before).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    for b in line.iter().cycle() {
        if start.elapsed() > Duration::from_secs(12) || s.write_all(&[*b]).is_err() {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

#[test]
fn one_octet_at_a_time_cannot_hold_a_command_or_a_login_open() {
    let server = TestServer::start_with(|c| {
        c.limits.command_timeout_secs = 2;
        c.limits.idle_timeout_secs = 30;
        c.limits.login_timeout_secs = 3;
    });
    // SMTP: a command line that never ends.
    let (out, took) = trickle(
        server.addr(Service::Smtp),
        b"EHLO client.test\r\n",
        b"NOOP aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    );
    assert!(out.contains("421 4.4.2"), "{out}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // POP3: the same.
    let (out, took) = trickle(
        server.addr(Service::Pop3),
        b"",
        b"CAPAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    assert!(out.contains("-ERR"), "{out}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // POP3: complete commands that never log in.
    let (out, took) = trickle(server.addr(Service::Pop3), b"", b"NOOP\r\n");
    assert!(out.contains("-ERR"), "{out}");
    assert!(took < Duration::from_secs(6), "login timeout: {took:?}");
}
