//! The tokio driver with tokio's paused clock: timers fire from the machine's deadlines without
//! real waiting, a peer that stops reading is dropped after the write timeout, and shutdown reaches
//! the machine.
#![cfg(feature = "tokio")]

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mailwright_sansio::driver::{Driver, DriverConfig, Link, Next, NoTls, Service, Transport};
use mailwright_sansio::{Machine, Timer, UsageError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers every complete line with `ok`, `big` with 1 MiB, closes after 60 s without input.
struct Lines {
    buf: Vec<u8>,
    out: VecDeque<Bytes>,
    idle: Timer,
    closed: bool,
    events: VecDeque<String>,
}

impl Lines {
    fn new() -> Self {
        Self {
            buf: Vec::new(),
            out: VecDeque::from([Bytes::from_static(b"hello\r\n")]),
            idle: Timer::default(),
            closed: false,
            events: VecDeque::new(),
        }
    }
}

impl Machine for Lines {
    type Event = String;
    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.idle.arm(now, Duration::from_mins(1));
        self.buf.extend_from_slice(data);
        while let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line).trim().to_owned();
            match line.as_str() {
                "big" => self.out.push_back(Bytes::from(vec![b'x'; 1 << 20])),
                _ => self.events.push_back(line),
            }
        }
    }
    fn poll_event(&mut self) -> Option<String> {
        self.events.pop_front()
    }
    fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.idle.deadline()
    }
    fn handle_timeout(&mut self, now: Instant) {
        if self.idle.expired(now) {
            self.out.push_back(Bytes::from_static(b"timeout\r\n"));
            self.closed = true;
        }
    }
    fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        Err(UsageError::NotPending {
            expected: "STARTTLS",
        })
    }
    fn handle_shutdown(&mut self) {
        self.out.push_back(Bytes::from_static(b"bye\r\n"));
        self.closed = true;
    }
    fn wants_input(&self) -> bool {
        !self.closed
    }
    fn is_closed(&self) -> bool {
        self.closed
    }
}

struct Answer;

impl<T: Transport> Service<Lines, T> for Answer {
    async fn on_event(
        &mut self,
        machine: &mut Lines,
        event: String,
        _: &mut Link<'_, T>,
    ) -> io::Result<Next> {
        if event == "quit" {
            return Ok(Next::Close);
        }
        machine
            .out
            .push_back(Bytes::from(format!("ok {event}\r\n")));
        Ok(Next::Continue)
    }
}

async fn read_all(client: &mut tokio::io::DuplexStream) -> String {
    let mut s = String::new();
    client.read_to_string(&mut s).await.unwrap();
    s
}

#[tokio::test(start_paused = true)]
async fn the_machine_timer_fires_in_virtual_time() {
    let (mut client, server) = tokio::io::duplex(4096);
    let start = tokio::time::Instant::now();
    let task = tokio::spawn(async move {
        Driver::default()
            .run(
                &mut Lines::new(),
                &mut NoTls(server),
                &mut Answer,
                std::future::pending(),
            )
            .await
    });
    client.write_all(b"a\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    client.write_all(b"b\r\n").await.unwrap();
    let got = read_all(&mut client).await;
    assert_eq!(got, "hello\r\nok a\r\nok b\r\ntimeout\r\n");
    // 30 s, then 60 s of silence after the second line.
    assert_eq!(start.elapsed().as_secs(), 90);
    task.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_reading_is_dropped_after_the_write_timeout() {
    let (mut client, server) = tokio::io::duplex(4096);
    let mut config = DriverConfig::default();
    config.write_timeout = Duration::from_secs(10);
    let start = tokio::time::Instant::now();
    let task = tokio::spawn(async move {
        Driver::new(config)
            .run(
                &mut Lines::new(),
                &mut NoTls(server),
                &mut Answer,
                std::future::pending(),
            )
            .await
    });
    client.write_all(b"big\r\n").await.unwrap();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(start.elapsed().as_secs(), 10);
}

#[tokio::test(start_paused = true)]
async fn shutdown_reaches_the_machine_and_close_ends_the_session() {
    let (mut client, server) = tokio::io::duplex(4096);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        Driver::default()
            .run(&mut Lines::new(), &mut NoTls(server), &mut Answer, async {
                let _ = rx.await;
            })
            .await
    });
    client.write_all(b"x\r\n").await.unwrap();
    let mut first = [0u8; 13];
    client.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"hello\r\nok x\r\n");
    tx.send(()).unwrap();
    assert_eq!(read_all(&mut client).await, "bye\r\n");
    task.await.unwrap().unwrap();

    let (mut client, server) = tokio::io::duplex(4096);
    let task = tokio::spawn(async move {
        Driver::default()
            .run(
                &mut Lines::new(),
                &mut NoTls(server),
                &mut Answer,
                std::future::pending(),
            )
            .await
    });
    client.write_all(b"y\r\nquit\r\nz\r\n").await.unwrap();
    assert_eq!(read_all(&mut client).await, "hello\r\nok y\r\n");
    task.await.unwrap().unwrap();
}
