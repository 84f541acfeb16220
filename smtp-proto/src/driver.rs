//! Async drivers (feature `tokio`): [`Client`] runs a [`ClientSession`] over any connection; a
//! server runs a [`ServerSession`](crate::ServerSession) on the shared [`Driver`] with a
//! [`Service`] of its own (see the crate's README).
//!
//! The client machine does the protocol: the greeting, `EHLO` (`HELO` as a fallback, `LHLO` in
//! LMTP), `STARTTLS` as [`ClientConfig::starttls`] says, `AUTH PLAIN` or `AUTH LOGIN` with
//! [`ClientConfig::credentials`], `MAIL`/`RCPT`/`DATA` pipelined when the server offers
//! `PIPELINING` (`BDAT` when it offers `CHUNKING`), and the reply timeouts of RFC 5321 §4.5.3.2
//! ([`Timeouts`](crate::client::Timeouts)). [`Client`] moves its bytes and time over a
//! [`Transport`], runs the TLS handshake when the machine asks for it, and returns what the
//! machine reports. For STARTTLS, give it an [`Upgrade`] around the TCP stream with
//! `tokio_rustls::TlsConnector::connect` as the handshake (the `submit` example does).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mailwright_smtp_proto::driver::{Client, NoTls};
//! use mailwright_smtp_proto::{
//!     ClientConfig, Envelope, ForwardPath, Host, Mailbox, Mode, ReversePath,
//! };
//! # use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
//! let (ours, theirs) = tokio::io::duplex(4096);
//! # let server = tokio::spawn(async move {
//! #     let (r, mut w) = tokio::io::split(theirs);
//! #     let mut lines = tokio::io::BufReader::new(r).lines();
//! #     w.write_all(b"220 mx.example.org ESMTP\r\n").await.unwrap();
//! #     while let Some(line) = lines.next_line().await.unwrap() {
//! #         let reply: &[u8] = match line.as_str() {
//! #             l if l.starts_with("EHLO") => b"250-mx.example.org\r\n250 PIPELINING\r\n",
//! #             "RCPT TO:<nobody@example.org>" => b"550 5.1.1 No such user\r\n",
//! #             "DATA" => b"354 Go ahead\r\n",
//! #             "." => b"250 2.0.0 Queued\r\n",
//! #             "QUIT" => b"221 2.0.0 Bye\r\n",
//! #             l if l.starts_with("MAIL") || l.starts_with("RCPT") => b"250 OK\r\n",
//! #             _ => continue,
//! #         };
//! #         w.write_all(reply).await.unwrap();
//! #     }
//! # });
//! let config = ClientConfig::new(Mode::Smtp, Host::try_from("client.example.com")?);
//! let mut client = Client::connect(NoTls(ours), config).await?;
//! let envelope = Envelope::new(
//!     ReversePath::Mailbox(Mailbox::try_from("alice@example.com")?),
//!     [
//!         ForwardPath::Mailbox(Mailbox::try_from("bob@example.org")?),
//!         ForwardPath::Mailbox(Mailbox::try_from("nobody@example.org")?),
//!     ],
//! );
//! let result = client.send(envelope, &b"Subject: hi\r\n\r\nHello\r\n"[..]).await?;
//! assert!(result.delivered());
//! // One reply per recipient.
//! assert!(result.rcpts[0].is_positive() && !result.rcpts[1].is_positive());
//! client.quit().await?;
//! # server.await?;
//! # Ok(()) }
//! ```

use std::io;

use bytes::Bytes;
use mailwright_sansio::UsageError;
use mailwright_sansio::connection::Connection;

pub use mailwright_sansio::driver::{Driver, DriverConfig, Link, Next, NoTls, Service, Transport};
pub use mailwright_sansio::upgrade::Upgrade;

use crate::client::{ClientConfig, ClientError, ClientSession, Envelope, Event, TransactionResult};
use crate::types::EhloResponse;

/// Why a [`Client`] call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection failed: a read or write, a write that timed out, the TLS handshake.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    /// The session failed: the greeting, `EHLO`, `STARTTLS` or `AUTH` was refused, a reply
    /// timed out (RFC 5321 §4.5.3.2), the server broke the protocol or closed the session.
    #[error(transparent)]
    Session(#[from] ClientError),
    /// The session cannot take the call now (a transaction was cut short by a dropped future).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The session has ended.
    #[error("the session is closed")]
    Closed,
}

/// An SMTP (or LMTP) client session over a [`Transport`]; see the [module docs](self).
///
/// A `send` whose future is dropped leaves its transaction to run to its end: the next call
/// reads its replies first (the message may have been delivered). Only a handshake cut short
/// leaves the connection unusable.
#[derive(Debug)]
pub struct Client<T> {
    conn: Connection<ClientSession, T>,
}

impl<T: Transport> Client<T> {
    /// Runs the session up to the point where a message can be sent: greeting, `EHLO`,
    /// `STARTTLS` and `AUTH` as `config` asks.
    pub async fn connect(transport: T, config: ClientConfig) -> Result<Self, Error> {
        Self::connect_with(transport, config, DriverConfig::default()).await
    }

    /// [`Client::connect`] with the driver's limits (read buffer, write and handshake timeouts).
    pub async fn connect_with(
        transport: T,
        config: ClientConfig,
        driver: DriverConfig,
    ) -> Result<Self, Error> {
        let mut client = Self {
            conn: Connection::new(ClientSession::new(config), transport, driver),
        };
        loop {
            match client.next().await? {
                Event::Ready(_) => return Ok(client),
                Event::StartTls => client.conn.start_tls().await?,
                Event::Failed(e) => return Err(e.into()),
                Event::Closed => return Err(Error::Closed),
                // Not before the session is ready.
                Event::Sent(_) | Event::BodyWanted => {}
            }
        }
    }

    /// The server's capabilities from the last `EHLO` (after STARTTLS, the second one).
    pub fn capabilities(&self) -> &EhloResponse {
        self.conn.machine().capabilities()
    }

    /// Whether the session runs over TLS.
    pub fn tls_active(&self) -> bool {
        self.conn.machine().tls_active()
    }

    /// The session machine.
    pub fn session(&self) -> &ClientSession {
        self.conn.machine()
    }

    /// The connection.
    pub fn transport(&self) -> &T {
        self.conn.transport()
    }

    /// Sends one message: `MAIL`, one `RCPT` per recipient and the data (pipelined when offered),
    /// with `message` as written to a file (CRLF or LF line ends; the machine dot-stuffs it or
    /// sends it with `BDAT`). Returns the server's replies: to `MAIL`, to each `RCPT` in order,
    /// and to the data (one per accepted recipient in LMTP). A transaction the server refused
    /// is a result too ([`TransactionResult::delivered`] is false); an error means the session
    /// cannot go on.
    pub async fn send(
        &mut self,
        envelope: Envelope,
        message: impl Into<Bytes>,
    ) -> Result<TransactionResult, Error> {
        self.settle().await?;
        self.conn.machine_mut().send_message(envelope, message)?;
        loop {
            match self.next().await? {
                Event::Sent(result) => return Ok(result),
                Event::Failed(e) => return Err(e.into()),
                Event::Closed => return Err(Error::Closed),
                // (`send` hands over the message whole: no piece is asked for.)
                Event::Ready(_) | Event::StartTls | Event::BodyWanted => {}
            }
        }
    }

    /// Sends `QUIT`, waits for the reply and closes the connection (the server may have closed
    /// its side already: that is no error).
    pub async fn quit(mut self) -> Result<(), Error> {
        self.settle().await?;
        self.conn.machine_mut().quit()?;
        loop {
            match self.conn.next_event().await? {
                None => break,
                Some(Event::Failed(e)) => return Err(e.into()),
                Some(_) => {}
            }
        }
        let _ = self.conn.close().await;
        Ok(())
    }

    /// Reads to the end of a transaction whose `send` future was dropped.
    async fn settle(&mut self) -> Result<(), Error> {
        while !self.conn.machine().is_ready() && !self.conn.machine().is_closed() {
            match self.next().await? {
                Event::Failed(e) => return Err(e.into()),
                Event::Closed => return Err(Error::Closed),
                Event::Sent(_) | Event::Ready(_) | Event::StartTls | Event::BodyWanted => {}
            }
        }
        Ok(())
    }

    async fn next(&mut self) -> Result<Event, Error> {
        self.conn.next_event().await?.ok_or(Error::Closed)
    }
}

/// Sends one message in a session of its own: [`Client::connect`], [`Client::send`],
/// [`Client::quit`]. Once the server has accepted the message, a failing `QUIT` does not turn the
/// result into an error (RFC 5321 §6.1: with its reply the server took responsibility for the
/// message).
pub async fn send<T: Transport>(
    transport: T,
    config: ClientConfig,
    envelope: Envelope,
    message: impl Into<Bytes>,
) -> Result<TransactionResult, Error> {
    let mut client = Client::connect(transport, config).await?;
    let result = client.send(envelope, message).await?;
    let _ = client.quit().await;
    Ok(result)
}
