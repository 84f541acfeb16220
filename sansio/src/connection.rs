//! A machine and its connection, driven by the caller (feature `tokio`): the client side's
//! counterpart of [`Driver`](crate::driver::Driver).
//!
//! A server reacts to what its peer asks, so [`Driver`](crate::driver::Driver) pushes each event
//! to a [`Service`](crate::driver::Service). A client asks and waits: it queues a command on the
//! machine ([`Connection::machine_mut`]), then pulls events with [`Connection::next_event`] until
//! the answer it waits for has come. Meanwhile `next_event` moves the bytes and the time the
//! same way the driver does: it writes out what the machine queued (with a bounded time per
//! write), reads what the peer sends, and calls [`Machine::handle_timeout`] at the machine's
//! deadlines, so the protocol timers the machine owns (an SMTP reply timeout, an IMAP IDLE
//! re-issue) run while the application waits. The clock is tokio's: under tokio's paused test
//! clock the timers fire without real waiting.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
//! use std::time::Instant;
//! use mailwright_sansio::connection::Connection;
//! use mailwright_sansio::driver::{DriverConfig, NoTls};
//! use mailwright_sansio::{Machine, UsageError};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! /// A toy client: sends what it is given, reports each line it reads.
//! #[derive(Default)]
//! struct Lines { out: Vec<u8>, input: Vec<u8>, closed: bool }
//! impl Machine for Lines {
//!     type Event = String;
//!     fn handle_input(&mut self, _: Instant, data: &[u8]) { self.input.extend_from_slice(data) }
//!     fn poll_event(&mut self) -> Option<String> {
//!         let end = self.input.iter().position(|b| *b == b'\n')?;
//!         let line: Vec<u8> = self.input.drain(..=end).collect();
//!         self.closed |= line.starts_with(b"bye");
//!         Some(String::from_utf8_lossy(&line).trim_end().to_owned())
//!     }
//!     fn poll_transmit(&mut self) -> Option<bytes::Bytes> {
//!         (!self.out.is_empty()).then(|| std::mem::take(&mut self.out).into())
//!     }
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//!     fn handle_timeout(&mut self, _: Instant) {}
//!     fn handle_tls_established(&mut self) -> Result<(), UsageError> {
//!         Err(UsageError::NotPending { expected: "STARTTLS" })
//!     }
//!     fn handle_shutdown(&mut self) {}
//!     fn wants_input(&self) -> bool { !self.closed }
//!     fn is_closed(&self) -> bool { self.closed }
//! }
//!
//! let (ours, mut theirs) = tokio::io::duplex(1024);
//! let peer = tokio::spawn(async move {
//!     let mut line = [0u8; 6];
//!     theirs.read_exact(&mut line).await?;
//!     assert_eq!(&line, b"hello\n");
//!     theirs.write_all(b"hi\nbye\n").await
//! });
//! let mut conn = Connection::new(Lines::default(), NoTls(ours), DriverConfig::default());
//! conn.machine_mut().out.extend_from_slice(b"hello\n");
//! assert_eq!(conn.next_event().await?.as_deref(), Some("hi"));
//! assert_eq!(conn.next_event().await?.as_deref(), Some("bye"));
//! assert_eq!(conn.next_event().await?, None); // the machine closed the session
//! peer.await.unwrap()?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::io;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Machine;
use crate::driver::{DriverConfig, Transport};

/// Past this many octets, a burst of output is written before more is gathered.
const GATHER: usize = 64 * 1024;

/// A machine and the connection it runs over, driven by the caller; see the
/// [module docs](self).
///
/// [`Connection::next_event`] and [`Connection::flush`] are cancel-safe: dropping their future
/// (in a `tokio::select!`) loses no input and no output, and the next call goes on where the
/// last one stopped. [`Connection::start_tls`] is not: a handshake cut short leaves the
/// connection unusable.
#[derive(Debug)]
pub struct Connection<M, T> {
    machine: M,
    transport: T,
    config: DriverConfig,
    buf: Vec<u8>,
    /// Output taken from the machine and not yet written.
    out: BytesMut,
    /// Octets were written since the last completed flush of the transport.
    unflushed: bool,
    /// The peer closed its side.
    eof: bool,
}

impl<M: Machine, T: Transport> Connection<M, T> {
    /// Runs `machine` over `transport`, with `config`'s buffer size and time limits. The machine
    /// learns the time the connection starts at ([`Machine::handle_timeout`]): timers that run
    /// from the start (the wait for a greeting) start now.
    pub fn new(mut machine: M, transport: T, config: DriverConfig) -> Self {
        machine.handle_timeout(now());
        let buf = vec![0u8; config.read_buffer.max(1)];
        Self {
            machine,
            transport,
            config,
            buf,
            out: BytesMut::new(),
            unflushed: false,
            eof: false,
        }
    }

    /// The machine.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// The machine, to queue commands and answer its events.
    pub fn machine_mut(&mut self) -> &mut M {
        &mut self.machine
    }

    /// The connection (whether TLS is active, the peer's certificate ...).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The limits in force.
    pub fn config(&self) -> &DriverConfig {
        &self.config
    }

    /// Writes out everything the machine has queued, each write within
    /// [`DriverConfig::write_timeout`]. Cancel-safe.
    pub async fn flush(&mut self) -> io::Result<()> {
        let limit = self.config.write_timeout;
        loop {
            while self.out.len() < GATHER {
                let Some(bytes) = self.machine.poll_transmit() else {
                    break;
                };
                self.out.extend_from_slice(&bytes);
            }
            if self.out.is_empty() {
                break;
            }
            while !self.out.is_empty() {
                let n = timed(limit, self.transport.write(&self.out)).await?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                self.out.advance(n);
                self.unflushed = true;
            }
        }
        if self.unflushed {
            timed(limit, self.transport.flush()).await?;
            self.unflushed = false;
        }
        Ok(())
    }

    /// The machine's next event. Until there is one, it writes out what the machine queued,
    /// reads from the peer while the machine wants input, and calls
    /// [`Machine::handle_timeout`] at the machine's deadlines. `Ok(None)` once the machine has
    /// closed the session (its last transmit written). Cancel-safe.
    ///
    /// Fails with [`io::ErrorKind::UnexpectedEof`] when the peer closes the connection before
    /// the machine ends the session, and with [`io::ErrorKind::Other`] when the machine waits for
    /// the application (a TLS handshake, a decision) and nothing else can move it.
    pub async fn next_event(&mut self) -> io::Result<Option<M::Event>> {
        loop {
            if let Some(event) = self.machine.poll_event() {
                return Ok(Some(event));
            }
            self.flush().await?;
            if self.machine.is_closed() {
                return Ok(None);
            }
            if self.eof {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection",
                ));
            }
            let deadline = self.machine.poll_timeout();
            let reading = self.machine.wants_input();
            if deadline.is_none() && !reading {
                return Err(io::Error::other(
                    "the session waits for the application (a TLS handshake or a decision)",
                ));
            }
            let deadline = deadline.map(tokio::time::Instant::from_std);
            tokio::select! {
                biased;
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.machine.handle_timeout(now());
                }
                read = self.transport.read(&mut self.buf), if reading => match read? {
                    0 => self.eof = true,
                    n => self.machine.handle_input(now(), &self.buf[..n]),
                },
            }
        }
    }

    /// Runs the TLS handshake the machine asked for (its STARTTLS was accepted): writes out what
    /// is queued, runs [`Transport::start_tls`] within [`DriverConfig::tls_handshake_timeout`],
    /// then tells the machine ([`Machine::handle_tls_established`]).
    pub async fn start_tls(&mut self) -> io::Result<()> {
        self.flush().await?;
        tokio::time::timeout(
            self.config.tls_handshake_timeout,
            self.transport.start_tls(),
        )
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        self.machine
            .handle_tls_established()
            .map_err(io::Error::other)
    }

    /// Writes out what is queued and shuts the connection down (a TLS `close_notify`, then the
    /// end of the stream), within the write timeout.
    pub async fn close(&mut self) -> io::Result<()> {
        self.flush().await?;
        timed(self.config.write_timeout, self.transport.shutdown()).await
    }

    /// The machine and the connection.
    pub fn into_parts(self) -> (M, T) {
        (self.machine, self.transport)
    }
}

/// `op` within `limit`, a timeout being [`io::ErrorKind::TimedOut`].
async fn timed<R>(
    limit: std::time::Duration,
    op: impl Future<Output = io::Result<R>>,
) -> io::Result<R> {
    tokio::time::timeout(limit, op)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading"))?
}

/// tokio's clock, so that a paused test clock drives the machine's timers.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
