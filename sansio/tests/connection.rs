//! The caller-driven connection: events pulled while bytes and timers move, tokio's paused clock
//! driving the machine's timer, a peer that hangs up, a handshake through [`Upgrade`], and
//! cancellation that loses nothing.
#![cfg(feature = "tokio")]

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mailwright_sansio::connection::Connection;
use mailwright_sansio::driver::{DriverConfig, NoTls};
use mailwright_sansio::upgrade::Upgrade;
use mailwright_sansio::{Machine, Timer, UsageError};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// A line client: sends what it is asked to, reports each line, gives up after 60 s without an
/// answer, and waits for a handshake after the line `tls`.
#[derive(Default)]
struct Client {
    out: Vec<u8>,
    input: Vec<u8>,
    timer: Timer,
    /// A line went out: the timer starts at the next instant seen.
    rearm: bool,
    last: Option<Instant>,
    tls_pending: bool,
    tls: bool,
    closed: bool,
}

impl Client {
    fn send(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\n");
        self.rearm = true;
    }
    fn see(&mut self, now: Instant) {
        self.last = Some(now);
        if std::mem::take(&mut self.rearm) {
            self.timer.arm(now, Duration::from_mins(1));
        }
    }
}

impl Machine for Client {
    type Event = String;
    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.see(now);
        self.timer.disarm();
        self.input.extend_from_slice(data);
    }
    fn poll_event(&mut self) -> Option<String> {
        if self.tls_pending {
            return None;
        }
        let end = self.input.iter().position(|b| *b == b'\n')?;
        let line: Vec<u8> = self.input.drain(..=end).collect();
        let line = String::from_utf8_lossy(&line).trim_end().to_owned();
        match line.as_str() {
            "bye" => self.closed = true,
            "tls" => self.tls_pending = true,
            _ => {}
        }
        Some(line)
    }
    fn poll_transmit(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out).into())
    }
    fn poll_timeout(&self) -> Option<Instant> {
        if self.rearm {
            return self.last;
        }
        self.timer.deadline()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.see(now);
        if self.timer.expired(now) {
            self.timer.disarm();
            self.input.extend_from_slice(b"timeout\n");
            self.closed = true;
        }
    }
    fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        if !std::mem::take(&mut self.tls_pending) {
            return Err(UsageError::NotPending {
                expected: "TLS handshake",
            });
        }
        self.tls = true;
        Ok(())
    }
    fn handle_shutdown(&mut self) {}
    fn wants_input(&self) -> bool {
        !self.closed && !self.tls_pending
    }
    fn is_closed(&self) -> bool {
        self.closed && self.input.is_empty()
    }
}

fn pair() -> (Connection<Client, NoTls<DuplexStream>>, DuplexStream) {
    let (ours, theirs) = tokio::io::duplex(4096);
    let conn = Connection::new(Client::default(), NoTls(ours), DriverConfig::default());
    (conn, theirs)
}

async fn read_line(peer: &mut DuplexStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while peer.read(&mut b).await.unwrap() == 1 {
        if b[0] == b'\n' {
            break;
        }
        line.push(b[0]);
    }
    String::from_utf8(line).unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_machine_timer_fires_while_the_caller_waits() {
    let (mut conn, mut peer) = pair();
    conn.machine_mut().send("hello");
    let start = tokio::time::Instant::now();
    // The peer reads the line and never answers: the machine's 60 s timer ends the wait.
    let reader = tokio::spawn(async move {
        let line = read_line(&mut peer).await;
        (line, peer)
    });
    assert_eq!(conn.next_event().await.unwrap().as_deref(), Some("timeout"));
    assert_eq!(conn.next_event().await.unwrap(), None);
    assert_eq!(start.elapsed(), Duration::from_mins(1));
    assert_eq!(reader.await.unwrap().0, "hello");
}

#[tokio::test]
async fn a_peer_that_hangs_up_is_an_unexpected_eof() {
    let (mut conn, mut peer) = pair();
    peer.write_all(b"one\n").await.unwrap();
    drop(peer);
    assert_eq!(conn.next_event().await.unwrap().as_deref(), Some("one"));
    let err = conn.next_event().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    // It stays so.
    let err = conn.next_event().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
}

#[tokio::test]
async fn a_machine_that_waits_for_a_handshake_is_not_waited_on_for_ever() {
    let (mut conn, mut peer) = pair();
    peer.write_all(b"tls\n").await.unwrap();
    assert_eq!(conn.next_event().await.unwrap().as_deref(), Some("tls"));
    let err = conn.next_event().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other);
    // A connection without TLS cannot run the handshake.
    let err = conn.start_tls().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    assert!(!conn.machine().tls);
}

#[tokio::test]
async fn start_tls_runs_the_handshake_of_an_upgrade_and_tells_the_machine() {
    let (ours, mut peer) = tokio::io::duplex(4096);
    // The "handshake" reads the peer's hello and wraps nothing: enough to see it run in place.
    let upgrade = Upgrade::new(ours, |mut plain: DuplexStream| async move {
        let mut hello = [0u8; 6];
        plain.read_exact(&mut hello).await?;
        assert_eq!(&hello, b"HELLO\n");
        Ok(plain)
    });
    let mut conn = Connection::new(Client::default(), upgrade, DriverConfig::default());
    peer.write_all(b"tls\n").await.unwrap();
    assert_eq!(conn.next_event().await.unwrap().as_deref(), Some("tls"));
    peer.write_all(b"HELLO\n").await.unwrap();
    conn.start_tls().await.unwrap();
    assert!(conn.transport().is_tls() && conn.machine().tls);
    conn.machine_mut().send("secret");
    peer.write_all(b"bye\n").await.unwrap();
    assert_eq!(conn.next_event().await.unwrap().as_deref(), Some("bye"));
    assert_eq!(read_line(&mut peer).await, "secret");
    assert_eq!(conn.next_event().await.unwrap(), None);
    conn.close().await.unwrap();
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn a_cancelled_next_event_loses_nothing() {
    // A small pipe: a big line cannot be written at once, so cancellation catches it mid-write.
    let (ours, mut peer) = tokio::io::duplex(64);
    let mut conn = Connection::new(Client::default(), NoTls(ours), DriverConfig::default());
    let big = "x".repeat(1000);
    conn.machine_mut().send(&big);
    let mut taken = 0;
    for _ in 0..10 {
        tokio::select! {
            biased;
            _ = conn.next_event() => panic!("no event yet"),
            () = tokio::task::yield_now() => {}
        }
        let mut some = [0u8; 32];
        taken += peer.read(&mut some).await.unwrap();
    }
    assert!(taken > 0);
    let reader = tokio::spawn(async move {
        let line = read_line(&mut peer).await;
        peer.write_all(b"bye\n").await.unwrap();
        line
    });
    assert_eq!(conn.next_event().await.unwrap().as_deref(), Some("bye"));
    // Whatever the peer read in the loop above came from the start of the line; the rest
    // arrives whole, with no octet lost or repeated.
    let rest = reader.await.unwrap();
    assert!(rest.chars().all(|c| c == 'x'));
    assert_eq!(rest.len(), 1000 - taken);
}
