//! Async drivers (feature `tokio`): [`Client`] runs a [`ClientSession`] over any connection; a
//! server runs a [`ServerSession`](crate::ServerSession) on the shared [`Driver`] with a
//! [`Service`] of its own (see the crate's README).
//!
//! Each call of [`Client`] sends one command and waits for its answer: [`Client::stat`],
//! [`Client::list`], [`Client::uidl`], [`Client::retr`] (streamed: the message comes in chunks,
//! dot-unstuffed), [`Client::dele`], [`Client::quit`], the logins [`Client::login`] (USER/PASS)
//! and [`Client::auth_plain`] (RFC 5034 with an initial response), and [`Client::stls`] (RFC
//! 2595). What the server advertises in CAPA is checked before STLS, USER and AUTH. The machine
//! times the server's answers ([`ClientConfig::response_timeout`]); STLS needs a connection that
//! can upgrade itself ([`Upgrade`] with the TLS library's handshake, as the `fetch` example
//! does with `tokio-rustls`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mailwright_pop3_proto::MessageNumber;
//! use mailwright_pop3_proto::driver::{Client, NoTls};
//! # use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
//! let (ours, theirs) = tokio::io::duplex(4096);
//! # let server = tokio::spawn(async move {
//! #     let (r, mut w) = tokio::io::split(theirs);
//! #     let mut lines = tokio::io::BufReader::new(r).lines();
//! #     w.write_all(b"+OK ready\r\n").await.unwrap();
//! #     while let Some(line) = lines.next_line().await.unwrap() {
//! #         let reply: &[u8] = match line.as_str() {
//! #             "CAPA" => b"+OK\r\nUSER\r\nUIDL\r\n.\r\n",
//! #             "USER alice" => b"+OK\r\n",
//! #             "PASS secret" => b"+OK logged in\r\n",
//! #             "STAT" => b"+OK 1 14\r\n",
//! #             "RETR 1" => b"+OK\r\nSubject: a\r\n\r\n..dot\r\n.\r\n",
//! #             "DELE 1" => b"+OK deleted\r\n",
//! #             "QUIT" => b"+OK bye\r\n",
//! #             _ => b"-ERR what\r\n",
//! #         };
//! #         w.write_all(reply).await.unwrap();
//! #     }
//! # });
//! let mut client = Client::connect(NoTls(ours)).await?;
//! client.capa().await?;
//! client.login("alice", b"secret").await?;
//! assert_eq!(client.stat().await?.count, 1);
//! let one = MessageNumber::new(1)?;
//! let mut message = client.retr(one).await?;
//! let mut content = Vec::new();
//! while let Some(chunk) = message.next().await? {
//!     content.extend_from_slice(&chunk);
//! }
//! assert_eq!(content, b"Subject: a\r\n\r\n.dot\r\n");
//! client.dele(one).await?;
//! client.quit().await?; // the deletion takes effect (RFC 1939 §6)
//! # server.await?;
//! # Ok(()) }
//! ```

use std::io;

use bytes::Bytes;
use mailwright_sansio::UsageError;
use mailwright_sansio::connection::Connection;

pub use mailwright_sansio::driver::{Driver, DriverConfig, Link, Next, NoTls, Service, Transport};
pub use mailwright_sansio::upgrade::Upgrade;

use crate::client::{ClientConfig, ClientError, ClientSession, Event};
use crate::types::{
    Capability, CommandKind, MessageNumber, Response, ScanListing, Stat, Status, TypeError,
    UidListing,
};

/// Why a [`Client`] call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection failed: a read or write, a write that timed out, the TLS handshake.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    /// An argument is not valid on the wire (a user name with a space ...).
    #[error(transparent)]
    Invalid(#[from] TypeError),
    /// The session cannot take the call now (it is closed).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The server answered the command `-ERR`.
    #[error("{command:?} refused: {}", line(.response))]
    Refused {
        /// The command refused.
        command: CommandKind,
        /// The server's answer.
        response: Response,
    },
    /// The server's CAPA answer does not list what the call needs (`STLS`, `USER`, `SASL
    /// PLAIN`).
    #[error("the server does not offer {0}")]
    NotOffered(&'static str),
    /// The greeting was `-ERR`.
    #[error("the server refused the session: {}", line(.0))]
    Greeting(Response),
    /// The server ended the session by itself (autologout, RFC 1939 §3, or shutdown).
    #[error("the server ended the session: {}", line(.0))]
    Disconnected(Response),
    /// The server broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server did not answer within [`ClientConfig::response_timeout`].
    #[error("the server did not answer in time")]
    TimedOut,
    /// The session has ended.
    #[error("the session is closed")]
    Closed,
}

impl From<ClientError> for Error {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Invalid(e) => Error::Invalid(e),
            ClientError::Usage(e) => Error::Usage(e),
        }
    }
}

/// A status line as text, for error messages.
fn line(r: &Response) -> String {
    let status = match r.status {
        Status::Ok => "+OK",
        Status::Err => "-ERR",
    };
    match &r.code {
        Some(code) => format!("{status} {code} {}", r.text),
        None => format!("{status} {}", r.text),
    }
}

/// A POP3 client session over a [`Transport`]; see the [module docs](self).
///
/// What an earlier call left unread is read (and thrown away) by the next call: the rest of a
/// [`Message`] dropped before its end, the answer to a call whose future was dropped. Only a
/// [`Client::stls`] cut short leaves the connection unusable.
#[derive(Debug)]
pub struct Client<T> {
    conn: Connection<ClientSession, T>,
    greeting: Response,
}

impl<T: Transport> Client<T> {
    /// Waits for the server's greeting.
    pub async fn connect(transport: T) -> Result<Self, Error> {
        Self::connect_with(transport, ClientConfig::default(), DriverConfig::default()).await
    }

    /// [`Client::connect`] with the machine's limits and timeout, and the driver's.
    pub async fn connect_with(
        transport: T,
        config: ClientConfig,
        driver: DriverConfig,
    ) -> Result<Self, Error> {
        let mut conn = Connection::new(ClientSession::new(config), transport, driver);
        loop {
            match conn.next_event().await?.ok_or(Error::Closed)? {
                Event::Greeting(g) if g.status == Status::Ok => {
                    return Ok(Self { conn, greeting: g });
                }
                Event::Greeting(g) => return Err(Error::Greeting(g)),
                Event::TimedOut => return Err(Error::TimedOut),
                Event::ProtocolError(e) => return Err(Error::Protocol(e)),
                _ => {}
            }
        }
    }

    /// The greeting.
    pub fn greeting(&self) -> &Response {
        &self.greeting
    }

    /// The capabilities from the last CAPA answer (none before [`Client::capa`]; forgotten after
    /// STLS, which asks again).
    pub fn capabilities(&self) -> &[Capability] {
        self.conn.machine().capabilities()
    }

    /// The session machine.
    pub fn session(&self) -> &ClientSession {
        self.conn.machine()
    }

    /// The connection.
    pub fn transport(&self) -> &T {
        self.conn.transport()
    }

    /// CAPA (RFC 2449 §5): what the server offers. Later commands are pipelined when it offers
    /// `PIPELINING`.
    pub async fn capa(&mut self) -> Result<Vec<Capability>, Error> {
        self.settle().await?;
        self.conn.machine_mut().capa()?;
        match self.answer().await? {
            Event::Capabilities(caps) => Ok(caps),
            other => Err(unexpected(&other)),
        }
    }

    /// STLS (RFC 2595 §4): TLS from here on, then CAPA again (the capabilities may differ over
    /// TLS). Fails with [`Error::NotOffered`] when CAPA does not list STLS (asked first when
    /// not known yet).
    pub async fn stls(&mut self) -> Result<(), Error> {
        self.require(&Capability::Stls, "STLS").await?;
        self.conn.machine_mut().stls()?;
        match self.answer().await? {
            Event::StartTls => {}
            other => return Err(unexpected(&other)),
        }
        self.conn.start_tls().await?;
        self.capa().await?;
        Ok(())
    }

    /// USER and PASS (RFC 1939 §7). Fails with [`Error::NotOffered`] when CAPA was answered
    /// without `USER`.
    pub async fn login(&mut self, user: &str, password: &[u8]) -> Result<(), Error> {
        self.settle().await?;
        if !self.capabilities().is_empty() && !self.capabilities().contains(&Capability::User) {
            return Err(Error::NotOffered("USER"));
        }
        self.conn.machine_mut().login(user, password)?;
        loop {
            match self.answer().await? {
                Event::LoggedIn(_) => return Ok(()),
                Event::Done {
                    command: CommandKind::User,
                    ..
                } => {}
                other => return Err(unexpected(&other)),
            }
        }
    }

    /// AUTH PLAIN with the credentials as initial response (RFC 5034, RFC 4616). Fails with
    /// [`Error::NotOffered`] when CAPA was answered without `SASL ... PLAIN`.
    pub async fn auth_plain(&mut self, user: &str, password: &[u8]) -> Result<(), Error> {
        self.settle().await?;
        let plain = self.capabilities().iter().any(|c| match c {
            Capability::Sasl(mechs) => mechs.iter().any(|m| m.as_str() == "PLAIN"),
            _ => false,
        });
        if !self.capabilities().is_empty() && !plain {
            return Err(Error::NotOffered("SASL PLAIN"));
        }
        self.conn.machine_mut().auth_plain(user, password)?;
        loop {
            match self.answer().await? {
                Event::LoggedIn(_) => return Ok(()),
                // PLAIN has no challenges once the initial response is sent: cancel, and the
                // server's -ERR ends the call.
                Event::AuthChallenge(_) => self.conn.machine_mut().auth_cancel()?,
                other => return Err(unexpected(&other)),
            }
        }
    }

    /// STAT: the number of messages and their total size.
    pub async fn stat(&mut self) -> Result<Stat, Error> {
        self.settle().await?;
        self.conn.machine_mut().stat()?;
        match self.answer().await? {
            Event::Stat(stat) => Ok(stat),
            other => Err(unexpected(&other)),
        }
    }

    /// LIST: the size of every message.
    pub async fn list(&mut self) -> Result<Vec<ScanListing>, Error> {
        self.settle().await?;
        self.conn.machine_mut().list(None)?;
        match self.answer().await? {
            Event::List(list) => Ok(list),
            other => Err(unexpected(&other)),
        }
    }

    /// `LIST n`: the size of one message.
    pub async fn list_one(&mut self, message: MessageNumber) -> Result<ScanListing, Error> {
        self.settle().await?;
        self.conn.machine_mut().list(Some(message))?;
        match self.answer().await? {
            Event::ListOne(one) => Ok(one),
            other => Err(unexpected(&other)),
        }
    }

    /// UIDL: the unique-id of every message (RFC 1939 §7; [`crate::client::unseen`] picks the
    /// new ones).
    pub async fn uidl(&mut self) -> Result<Vec<UidListing>, Error> {
        self.settle().await?;
        self.conn.machine_mut().uidl(None)?;
        match self.answer().await? {
            Event::Uidl(list) => Ok(list),
            other => Err(unexpected(&other)),
        }
    }

    /// `UIDL n`: the unique-id of one message.
    pub async fn uidl_one(&mut self, message: MessageNumber) -> Result<UidListing, Error> {
        self.settle().await?;
        self.conn.machine_mut().uidl(Some(message))?;
        match self.answer().await? {
            Event::UidlOne(one) => Ok(one),
            other => Err(unexpected(&other)),
        }
    }

    /// RETR: the message, streamed ([`Message::next`]).
    pub async fn retr(&mut self, message: MessageNumber) -> Result<Message<'_, T>, Error> {
        self.settle().await?;
        self.conn.machine_mut().retr(message)?;
        self.message_start().await?;
        Ok(Message {
            client: self,
            done: false,
        })
    }

    /// `TOP n lines`: the header and the first `lines` lines of the body, streamed.
    pub async fn top(
        &mut self,
        message: MessageNumber,
        lines: u32,
    ) -> Result<Message<'_, T>, Error> {
        self.settle().await?;
        self.conn.machine_mut().top(message, lines)?;
        self.message_start().await?;
        Ok(Message {
            client: self,
            done: false,
        })
    }

    /// DELE: marks the message deleted; it goes at [`Client::quit`] (RFC 1939 §6).
    pub async fn dele(&mut self, message: MessageNumber) -> Result<(), Error> {
        self.simple(|m| m.dele(message), CommandKind::Dele).await
    }

    /// NOOP.
    pub async fn noop(&mut self) -> Result<(), Error> {
        self.simple(ClientSession::noop, CommandKind::Noop).await
    }

    /// RSET: unmarks the deleted messages.
    pub async fn rset(&mut self) -> Result<(), Error> {
        self.simple(ClientSession::rset, CommandKind::Rset).await
    }

    /// QUIT: the server removes the messages marked deleted (the UPDATE state, RFC 1939 §6);
    /// then the connection is closed (the server may have closed its side already: that is no
    /// error).
    pub async fn quit(mut self) -> Result<(), Error> {
        self.settle().await?;
        self.conn.machine_mut().quit()?;
        match self.answer().await? {
            Event::Done {
                command: CommandKind::Quit,
                ..
            } => {}
            other => return Err(unexpected(&other)),
        }
        let _ = self.conn.close().await;
        Ok(())
    }

    async fn simple(
        &mut self,
        send: impl FnOnce(&mut ClientSession) -> Result<(), UsageError>,
        kind: CommandKind,
    ) -> Result<(), Error> {
        self.settle().await?;
        send(self.conn.machine_mut())?;
        match self.answer().await? {
            Event::Done { command, .. } if command == kind => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// CAPA first when the capabilities are not known; then `cap` must be among them.
    async fn require(&mut self, cap: &Capability, name: &'static str) -> Result<(), Error> {
        self.settle().await?;
        if self.capabilities().is_empty() {
            self.capa().await?;
        }
        if self.capabilities().contains(cap) {
            Ok(())
        } else {
            Err(Error::NotOffered(name))
        }
    }

    async fn message_start(&mut self) -> Result<(), Error> {
        match self.answer().await? {
            Event::MessageStart { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Reads the answers still due to commands an earlier call left (a [`Message`] not read to
    /// its end, a call whose future was dropped): each command's answer comes in turn.
    async fn settle(&mut self) -> Result<(), Error> {
        while self.conn.machine().is_busy() {
            let event = self.conn.next_event().await?.ok_or(Error::Closed)?;
            self.discard(event)?;
        }
        // The last answers may be decoded already.
        while let Some(event) = self.conn.machine_mut().poll_event() {
            self.discard(event)?;
        }
        Ok(())
    }

    /// An event of an answer nobody waits for; the session's own endings as errors.
    fn discard(&mut self, event: Event) -> Result<(), Error> {
        match event {
            Event::Disconnected(r) => Err(Error::Disconnected(r)),
            Event::ProtocolError(e) => Err(Error::Protocol(e)),
            Event::TimedOut => Err(Error::TimedOut),
            Event::AuthChallenge(_) => Ok(self.conn.machine_mut().auth_cancel()?),
            _ => Ok(()),
        }
    }

    /// The next event that answers a command; the session's own endings as errors.
    async fn answer(&mut self) -> Result<Event, Error> {
        loop {
            match self.conn.next_event().await?.ok_or(Error::Closed)? {
                Event::Error { command, response } => {
                    return Err(Error::Refused { command, response });
                }
                Event::Disconnected(r) => return Err(Error::Disconnected(r)),
                Event::ProtocolError(e) => return Err(Error::Protocol(e)),
                Event::TimedOut => return Err(Error::TimedOut),
                // The end of a session the answer already told about (QUIT's +OK, an error).
                Event::Closed | Event::Greeting(_) => {}
                event => return Ok(event),
            }
        }
    }
}

fn unexpected(event: &Event) -> Error {
    Error::Protocol(format!("unexpected answer: {event:?}"))
}

/// A message coming in (RETR or TOP): [`Message::next`] until `None`.
#[derive(Debug)]
pub struct Message<'a, T: Transport> {
    client: &'a mut Client<T>,
    done: bool,
}

impl<T: Transport> Message<'_, T> {
    /// The next chunk of the message, dot-unstuffed, line ends as sent (CRLF); `None` at its
    /// end. Cancel-safe.
    pub async fn next(&mut self) -> Result<Option<Bytes>, Error> {
        if self.done {
            return Ok(None);
        }
        match self.client.answer().await? {
            Event::MessageData(chunk) => Ok(Some(chunk)),
            Event::MessageEnd { .. } => {
                self.done = true;
                Ok(None)
            }
            other => Err(unexpected(&other)),
        }
    }

    /// The rest of the message in one buffer.
    pub async fn to_vec(mut self) -> Result<Vec<u8>, Error> {
        let mut all = Vec::new();
        while let Some(chunk) = self.next().await? {
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }
}
