//! A tokio driver for any [`Machine`] over any connection (feature `tokio`).
//!
//! One loop moves bytes and time for a server or client session: it feeds what it reads to the
//! machine, hands every event to a [`Service`] (the application's event handler), writes out what
//! the machine transmits with a bounded time per write, sleeps until the machine's next deadline,
//! runs the STARTTLS upgrade when the service asks for it, and tells the machine when shutdown
//! begins. The time it passes in is tokio's clock, so a test with tokio's paused clock runs
//! timeouts without waiting.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
//! use std::time::Instant;
//! use mailwright_sansio::driver::{Driver, DriverConfig, Link, Next, NoTls, Service};
//! use mailwright_sansio::{Machine, UsageError};
//!
//! /// A toy machine: greets, then answers each line with "ok".
//! #[derive(Default)]
//! struct Echo { out: Vec<bytes::Bytes>, closed: bool }
//! impl Machine for Echo {
//!     type Event = ();
//!     fn handle_input(&mut self, _: Instant, data: &[u8]) {
//!         if data.starts_with(b"QUIT") { self.closed = true }
//!         self.out.push(bytes::Bytes::from_static(b"ok\r\n"));
//!     }
//!     fn poll_event(&mut self) -> Option<()> { None }
//!     fn poll_transmit(&mut self) -> Option<bytes::Bytes> { self.out.pop() }
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//!     fn handle_timeout(&mut self, _: Instant) {}
//!     fn handle_tls_established(&mut self) -> Result<(), UsageError> {
//!         Err(UsageError::NotPending { expected: "STARTTLS" })
//!     }
//!     fn handle_shutdown(&mut self) { self.closed = true }
//!     fn wants_input(&self) -> bool { true }
//!     fn is_closed(&self) -> bool { self.closed && self.out.is_empty() }
//! }
//! struct Nothing;
//! impl<T: mailwright_sansio::driver::Transport> Service<Echo, T> for Nothing {
//!     async fn on_event(&mut self, _: &mut Echo, _: (), _: &mut Link<'_, T>) -> std::io::Result<Next> {
//!         Ok(Next::Continue)
//!     }
//! }
//!
//! let (client, server) = tokio::io::duplex(1024);
//! let task = tokio::spawn(async move {
//!     let mut conn = NoTls(server);
//!     Driver::new(DriverConfig::default())
//!         .run(&mut Echo::default(), &mut conn, &mut Nothing, std::future::pending())
//!         .await
//! });
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! let mut client = client;
//! client.write_all(b"QUIT\r\n").await?;
//! let mut reply = String::new();
//! client.read_to_string(&mut reply).await?;
//! assert_eq!(reply, "ok\r\n");
//! task.await.unwrap()?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::Machine;

/// What the driver does after a [`Service`] handled an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// Go on.
    Continue,
    /// Write out what the machine queued (the reply that invites the handshake), run the TLS
    /// handshake with [`Transport::start_tls`] within [`DriverConfig::tls_handshake_timeout`], then
    /// call [`Machine::handle_tls_established`].
    StartTls,
    /// Write out what the machine queued and end the session.
    Close,
}

/// A connection the driver runs a session over: any async byte stream that can be upgraded to TLS
/// in place (STARTTLS).
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    /// Runs the TLS handshake over this connection; afterwards reads and writes are encrypted.
    fn start_tls(&mut self) -> impl Future<Output = io::Result<()>> + Send;
}

/// A stream without TLS: [`Transport::start_tls`] fails with [`io::ErrorKind::Unsupported`].
#[derive(Debug)]
pub struct NoTls<S>(pub S);

impl<S: AsyncRead + Unpin> AsyncRead for NoTls<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for NoTls<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Transport for NoTls<S> {
    async fn start_tls(&mut self) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this connection has no TLS",
        ))
    }
}

/// The application's side of a session: what it does with each event of the machine.
pub trait Service<M: Machine, T: Transport>: Send {
    /// Handles one event: decide (call the machine's decision method the event names), look things
    /// up, store. `link` writes out what the machine queued so far ([`Link::flush`]) for replies
    /// produced piece by piece.
    fn on_event(
        &mut self,
        machine: &mut M,
        event: M::Event,
        link: &mut Link<'_, T>,
    ) -> impl Future<Output = io::Result<Next>> + Send;

    /// Completes when something outside the connection needs the service's attention (a mailbox
    /// changed while a client idles); never by default. Must be cancel-safe: the driver drops it
    /// when input or a timer comes first.
    fn wake(&mut self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }

    /// Called after [`Service::wake`] completed.
    fn on_wake(
        &mut self,
        machine: &mut M,
        link: &mut Link<'_, T>,
    ) -> impl Future<Output = io::Result<Next>> + Send {
        let _ = (machine, link);
        async { Ok(Next::Continue) }
    }
}

/// Limits of the driver. Every field has a documented default.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverConfig {
    /// Octets read from the connection at a time. Default 16 KiB.
    pub read_buffer: usize,
    /// The longest a write may wait for the peer to read: a peer that stops reading is dropped
    /// (and whatever its session holds is released). Default 5 minutes.
    pub write_timeout: Duration,
    /// The longest a TLS handshake may take. Default 30 seconds.
    pub tls_handshake_timeout: Duration,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            read_buffer: 16 * 1024,
            write_timeout: Duration::from_mins(5),
            tls_handshake_timeout: Duration::from_secs(30),
        }
    }
}

/// The connection as a [`Service`] sees it while handling an event.
#[derive(Debug)]
pub struct Link<'a, T> {
    transport: &'a mut T,
    out: &'a mut BytesMut,
    write_timeout: Duration,
}

impl<T: Transport> Link<'_, T> {
    /// Writes out everything the machine has queued, within the write timeout.
    pub async fn flush<M: Machine>(&mut self, machine: &mut M) -> io::Result<()> {
        flush(machine, self.transport, self.out, self.write_timeout).await
    }

    /// The connection itself (for what only the application knows how to do with it).
    pub fn transport(&mut self) -> &mut T {
        self.transport
    }
}

/// Writes what `machine` queued, gathered into one write per burst (RFC 2920 §3.2 asks SMTP servers
/// to answer a pipelined group in one write; it helps every protocol), bounded by `limit`.
async fn flush<M: Machine, T: Transport>(
    machine: &mut M,
    transport: &mut T,
    out: &mut BytesMut,
    limit: Duration,
) -> io::Result<()> {
    /// Past this, a burst is written in pieces rather than gathered.
    const GATHER: usize = 64 * 1024;
    let mut wrote = false;
    while let Some(bytes) = machine.poll_transmit() {
        out.extend_from_slice(&bytes);
        if out.len() >= GATHER {
            write(transport, out, limit).await?;
            wrote = true;
        }
    }
    if !out.is_empty() {
        write(transport, out, limit).await?;
        wrote = true;
    }
    if wrote {
        timed(limit, transport.flush()).await?;
    }
    Ok(())
}

async fn write<T: Transport>(
    transport: &mut T,
    out: &mut BytesMut,
    limit: Duration,
) -> io::Result<()> {
    let result = timed(limit, transport.write_all(out)).await;
    out.clear();
    result
}

/// `op` within `limit`, a timeout being [`io::ErrorKind::TimedOut`].
async fn timed<R>(limit: Duration, op: impl Future<Output = io::Result<R>>) -> io::Result<R> {
    tokio::time::timeout(limit, op)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading"))?
}

/// Runs sessions: one [`Driver::run`] per connection.
#[derive(Debug, Clone, Default)]
pub struct Driver {
    config: DriverConfig,
}

impl Driver {
    /// A driver with `config`.
    pub fn new(config: DriverConfig) -> Self {
        Self { config }
    }

    /// The driver's limits.
    pub fn config(&self) -> &DriverConfig {
        &self.config
    }

    /// Runs `machine` over `transport` until the session ends, handing events to `service`.
    /// When `shutdown` completes, the machine is told ([`Machine::handle_shutdown`]) and the session
    /// goes on until the machine closes it. Returns the I/O error that ended the session, if any (a
    /// peer that closed the connection is a normal end).
    pub async fn run<M, T, S>(
        &self,
        machine: &mut M,
        transport: &mut T,
        service: &mut S,
        shutdown: impl Future<Output = ()> + Send,
    ) -> io::Result<()>
    where
        M: Machine + Send,
        T: Transport,
        S: Service<M, T>,
    {
        let result = self.session(machine, transport, service, shutdown).await;
        // A peer that stopped reading must not hold the task: the close is bounded too.
        let _ = tokio::time::timeout(self.config.write_timeout, transport.shutdown()).await;
        result
    }

    async fn session<M, T, S>(
        &self,
        machine: &mut M,
        transport: &mut T,
        service: &mut S,
        shutdown: impl Future<Output = ()> + Send,
    ) -> io::Result<()>
    where
        M: Machine + Send,
        T: Transport,
        S: Service<M, T>,
    {
        let write_timeout = self.config.write_timeout;
        let mut buf = vec![0u8; self.config.read_buffer.max(1)];
        let mut out = BytesMut::new();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut shutting_down = false;
        // The machine learns the time the session starts at: timers that run from the connection
        // (a login deadline) start now, not at the first input.
        machine.handle_timeout(now());
        loop {
            while let Some(event) = machine.poll_event() {
                let mut link = Link {
                    transport,
                    out: &mut out,
                    write_timeout,
                };
                let next = service.on_event(machine, event, &mut link).await?;
                if self.after(next, machine, transport, &mut out).await? {
                    return Ok(());
                }
            }
            flush(machine, transport, &mut out, write_timeout).await?;
            if machine.is_closed() {
                return Ok(());
            }
            let deadline = machine.poll_timeout().map(tokio::time::Instant::from_std);
            let reading = machine.wants_input();
            tokio::select! {
                biased;
                () = &mut shutdown, if !shutting_down => {
                    shutting_down = true;
                    machine.handle_shutdown();
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    machine.handle_timeout(now());
                }
                read = transport.read(&mut buf), if reading => {
                    let n = read?;
                    if n == 0 {
                        return Ok(());
                    }
                    machine.handle_input(now(), &buf[..n]);
                }
                () = service.wake() => {
                    let mut link = Link { transport, out: &mut out, write_timeout };
                    let next = service.on_wake(machine, &mut link).await?;
                    if self.after(next, machine, transport, &mut out).await? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Carries out `next`; `true` when the session is over.
    async fn after<M: Machine, T: Transport>(
        &self,
        next: Next,
        machine: &mut M,
        transport: &mut T,
        out: &mut BytesMut,
    ) -> io::Result<bool> {
        match next {
            Next::Continue => Ok(false),
            Next::Close => {
                flush(machine, transport, out, self.config.write_timeout).await?;
                Ok(true)
            }
            Next::StartTls => {
                flush(machine, transport, out, self.config.write_timeout).await?;
                tokio::time::timeout(self.config.tls_handshake_timeout, transport.start_tls())
                    .await
                    .map_err(|_| {
                        io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                    })??;
                machine.handle_tls_established().map_err(io::Error::other)?;
                Ok(false)
            }
        }
    }
}

/// The driver's clock: tokio's, so that a paused test clock drives the machines' timers.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
