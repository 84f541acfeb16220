//! A plain TCP IMAP client for the example tools (`imap_load`, `imap_check`): a connection
//! driven by `mailwright-imap-proto`'s [`ClientSession`], one command at a time, and the small
//! helpers they share. Included with `#[path = "support/imap_client.rs"] mod imap_client;`.

use std::io;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use mailwright::imap::client::IdleHandle;
use mailwright::imap::types::mailbox::Mailbox;
use mailwright::imap::types::sequence::{SeqItem, SeqNumber, SequenceSet};
use mailwright::imap::{
    AString, ClientConfig, ClientEvent, ClientSession, Code, CommandBody, Machine, Secret,
    StatusKind, StatusResponse,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// xorshift64*: enough randomness for choosing operations, no dependency.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        (self.next() >> 32) as u32 % n.max(1)
    }
}

/// A plain TCP IMAP connection driven by a [`ClientSession`].
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    flow: ClientSession,
    buf: Vec<u8>,
    timeout: Duration,
    /// The IDLE in progress.
    idle: Option<IdleHandle>,
}

/// A command's answer.
#[derive(Debug)]
pub(crate) struct Reply {
    /// Everything before the tagged completion, in order.
    pub(crate) untagged: Vec<ClientEvent>,
    /// The tagged completion.
    pub(crate) status: StatusResponse<'static>,
    /// How long the command took.
    pub(crate) elapsed: Duration,
}

impl Conn {
    pub(crate) async fn connect(
        addr: &str,
        sync_literals: bool,
        buf: usize,
        timeout: Duration,
    ) -> io::Result<Conn> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        let config = ClientConfig {
            non_sync_literals: !sync_literals,
            ..ClientConfig::default()
        };
        let mut c = Conn {
            stream,
            flow: ClientSession::new(config),
            buf: vec![0; buf],
            timeout,
            idle: None,
        };
        match c.next_event().await? {
            ClientEvent::Greeting(g) if g.kind == StatusKind::Ok => Ok(c),
            other => Err(io::Error::other(format!("bad greeting: {other:?}"))),
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        while let Some(b) = self.flow.poll_transmit() {
            self.stream.write_all(&b).await?;
        }
        Ok(())
    }

    /// The next event, writing what the flow releases (e.g. a literal after `+`) before reading.
    pub(crate) async fn next_event(&mut self) -> io::Result<ClientEvent> {
        loop {
            if let Some(ev) = self.flow.poll_event() {
                return Ok(ev);
            }
            self.flush().await?;
            let n = tokio::time::timeout(self.timeout, self.stream.read(&mut self.buf))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))??;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.flow.handle_input(Instant::now(), &self.buf[..n]);
        }
    }

    /// Sends a command and collects everything up to its tagged completion.
    pub(crate) async fn command(&mut self, body: CommandBody<'_>) -> io::Result<Reply> {
        let start = Instant::now();
        let tag = self.flow.enqueue(body).map_err(io::Error::other)?;
        self.flush().await?;
        let mut untagged = Vec::new();
        loop {
            match self.next_event().await? {
                ClientEvent::Completed { status, .. } if status.tag.as_ref() == Some(&tag) => {
                    return Ok(Reply {
                        untagged,
                        status,
                        elapsed: start.elapsed(),
                    });
                }
                ev @ (ClientEvent::Malformed { .. } | ClientEvent::TooLarge { .. }) => {
                    return Err(io::Error::other(format!("unreadable response: {ev:?}")));
                }
                ev => untagged.push(ev),
            }
        }
    }

    /// Starts IDLE: sends it and waits for the `+`.
    pub(crate) async fn idle(&mut self) -> io::Result<()> {
        self.idle = Some(self.flow.idle().map_err(io::Error::other)?);
        self.flush().await?;
        loop {
            match self.next_event().await? {
                ClientEvent::Idling { .. } => return Ok(()),
                ClientEvent::Completed { status, .. } => {
                    return Err(io::Error::other(format!("IDLE refused: {status:?}")));
                }
                _ => {}
            }
        }
    }

    /// Ends IDLE and waits for its completion.
    pub(crate) async fn idle_done(&mut self) -> io::Result<()> {
        let idle = self
            .idle
            .take()
            .ok_or_else(|| io::Error::other("not idling"))?;
        self.flow.idle_done(idle).map_err(io::Error::other)?;
        self.flush().await?;
        loop {
            if let ClientEvent::Completed { status, .. } = self.next_event().await? {
                return if status.kind == StatusKind::Ok {
                    Ok(())
                } else {
                    Err(io::Error::other(format!("IDLE ended with {status:?}")))
                };
            }
        }
    }
}

impl Conn {
    /// LOGIN; a server busy checking other logins (`NO [UNAVAILABLE]`, RFC 5530) is asked
    /// again a little later, up to a few seconds.
    pub(crate) async fn login(&mut self, user: &str, password: &str) -> io::Result<()> {
        for attempt in 0..40 {
            let r = self
                .command(CommandBody::Login {
                    username: astring(user),
                    password: Secret::new(astring(password)),
                })
                .await?;
            if r.status.kind == StatusKind::Ok {
                return Ok(());
            }
            let busy =
                matches!(&r.status.code, Some(Code::Other(a, _)) if a.as_str() == "UNAVAILABLE");
            if !busy || attempt == 39 {
                return Err(io::Error::other(format!(
                    "LOGIN {user} refused: {}",
                    r.status.text.as_str()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        unreachable!("the last attempt returns")
    }
}

pub(crate) fn astring(s: &str) -> AString<'static> {
    // Atom, quoted or literal as the content needs; only a NUL octet is refused (never in
    // user names or passwords given on a command line).
    AString::from_bytes(s.as_bytes().to_vec()).unwrap_or_else(|_| {
        AString::from_bytes(s.replace('\0', "").into_bytes()).expect("no NUL left")
    })
}

pub(crate) fn mailbox(name: &str) -> Mailbox<'static> {
    if name.eq_ignore_ascii_case("INBOX") {
        Mailbox::inbox()
    } else {
        Mailbox::from_utf8(name).unwrap_or_else(|_| Mailbox::inbox())
    }
}

pub(crate) fn seq(n: u32) -> SequenceSet {
    SequenceSet::single(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

pub(crate) fn all_messages() -> SequenceSet {
    SequenceSet::try_from(vec![SeqItem::Range(
        SeqNumber::Value(NonZeroU32::MIN),
        SeqNumber::Largest,
    )])
    .expect("one item")
}
