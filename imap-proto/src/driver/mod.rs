//! Async drivers (feature `tokio`): [`Client`] runs a [`ClientSession`] over any connection; a
//! server runs a [`ServerSession`](crate::ServerSession) on the shared [`Driver`] with a
//! [`Service`] of its own (see the crate's README).
//!
//! [`Client`] sends a command and reads up to its completion: [`Client::connect`] (the
//! greeting), [`Client::starttls`], [`Client::login`], [`Client::select`], [`Client::fetch`]
//! (the FETCH responses one by one, [`Fetch::next`]), [`Client::idle`] (a guard that yields the
//! server's updates, [`Idle::next`], while the machine re-issues IDLE before the server's
//! 30-minute autologout), [`Client::enable`] and [`Client::select_qresync`] (QRESYNC, RFC 7162
//! §3.2.5), [`Client::logout`], and [`Client::run`] for any other command. The
//! machine's capability checks apply: STARTTLS and IDLE only when advertised, LOGIN not under
//! `LOGINDISABLED` (CAPABILITY is asked first when the capabilities are not known). Untagged
//! data that is not part of what a call returns ([`Data::Exists`] during a FETCH ...) is kept
//! for [`Client::take_updates`].
//!
//! STARTTLS needs a connection that can upgrade itself: [`Upgrade`] with the TLS library's
//! handshake (`tokio_rustls::TlsConnector::connect`), as the `list_subjects` example does;
//! implicit TLS (port 993) is the same connection with [`Transport::start_tls`] called before
//! [`Client::connect`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mailwright_imap_proto::driver::{Client, NoTls};
//! use mailwright_imap_proto::types::command::{FetchAttribute, FetchItems};
//! use mailwright_imap_proto::types::sequence::SequenceSet;
//! # use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
//! let (ours, theirs) = tokio::io::duplex(4096);
//! # let server = tokio::spawn(async move {
//! #     let (r, mut w) = tokio::io::split(theirs);
//! #     let mut lines = tokio::io::BufReader::new(r).lines();
//! #     w.write_all(b"* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n").await.unwrap();
//! #     while let Some(line) = lines.next_line().await.unwrap() {
//! #         let (tag, command) = line.split_once(' ').unwrap();
//! #         let reply = match command {
//! #             "LOGIN alice secret" => format!("{tag} OK Logged in\r\n"),
//! #             "SELECT INBOX" => format!("* 2 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n{tag} OK [READ-WRITE] done\r\n"),
//! #             "FETCH 2 UID" => format!("* 2 FETCH (UID 41)\r\n{tag} OK done\r\n"),
//! #             "LOGOUT" => format!("* BYE bye\r\n{tag} OK done\r\n"),
//! #             _ => format!("{tag} BAD what\r\n"),
//! #         };
//! #         w.write_all(reply.as_bytes()).await.unwrap();
//! #     }
//! # });
//! let mut client = Client::connect(NoTls(ours)).await?;
//! client.login("alice", "secret").await?;
//! let inbox = client.select("INBOX").await?;
//! assert_eq!(inbox.exists, 2);
//! let last = SequenceSet::single(inbox.exists.try_into()?);
//! let mut fetch = client.fetch(last, FetchItems::Single(FetchAttribute::Uid)).await?;
//! while let Some(message) = fetch.next().await? {
//!     assert_eq!(message.uid().map(|u| u.get()), Some(41));
//! }
//! client.logout().await?;
//! # server.await?;
//! # Ok(()) }
//! ```

mod fetch;
mod idle;

use std::collections::VecDeque;
use std::io;
use std::num::NonZeroU32;

use mailwright_sansio::connection::Connection;
use mailwright_sansio::{Secret, UsageError};

pub use fetch::{Fetch, Fetched};
pub use idle::Idle;
pub use mailwright_sansio::driver::{Driver, DriverConfig, Link, Next, NoTls, Service, Transport};
pub use mailwright_sansio::upgrade::Upgrade;

use crate::client::{ClientConfig, ClientSession, Event, IdleHandle};
use crate::state::SessionState;
use crate::types::ValidationError;
use crate::types::command::{AuthData, CommandBody, FetchItems};
use crate::types::core::{AString, Atom, Tag, Vec1};
use crate::types::flag::{Flag, FlagPerm};
use crate::types::mailbox::Mailbox;
use crate::types::qresync::QresyncParams;
use crate::types::response::{Code, Data, FetchItem, StatusKind, StatusResponse};
use crate::types::sequence::SequenceSet;

/// What a command's untagged responses are collected in: data and statuses.
type Untagged = (Vec<Data<'static>>, Vec<StatusResponse<'static>>);

/// How many updates [`Client::take_updates`] keeps; past this the oldest go.
pub const MAX_UPDATES: usize = 10_000;

/// Why a [`Client`] call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection failed: a read or write, a write that timed out, the TLS handshake.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    /// The session cannot take the call now (an IDLE is active, the session is closed ...).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// An argument cannot be sent (a mailbox name, a user name ...).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The server answered the command `NO` or `BAD`.
    #[error("{command} refused: {} {}", .status.kind.as_str(), .status.text)]
    Refused {
        /// The command's name (`"UID FETCH"` ...).
        command: &'static str,
        /// The completion.
        status: StatusResponse<'static>,
    },
    /// The server does not advertise what the call needs (`STARTTLS`, `IDLE`), or forbids it
    /// (`LOGIN` under `LOGINDISABLED`).
    #[error("the server does not offer {0}")]
    NotOffered(&'static str),
    /// The greeting was `* BYE`: the server refused the connection.
    #[error("the server refused the connection: {}", .0.text)]
    Greeting(StatusResponse<'static>),
    /// The server ended the session (`* BYE`: autologout, shutdown ...).
    #[error("the server ended the session: {}", .0.text)]
    Bye(StatusResponse<'static>),
    /// The server did something the call cannot make sense of (a malformed greeting, an IDLE
    /// completed without DONE).
    #[error("unexpected: {0}")]
    Unexpected(String),
    /// The session has ended.
    #[error("the session is closed")]
    Closed,
}

/// What a command returned: the untagged responses up to its completion, and the completion.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Answer {
    /// Untagged data, in order.
    pub data: Vec<Data<'static>>,
    /// Untagged status responses (`* OK [UIDVALIDITY ...]`, `* NO ...`), in order.
    pub statuses: Vec<StatusResponse<'static>>,
    /// The tagged `OK`.
    pub status: StatusResponse<'static>,
}

/// A selected mailbox, from the responses to SELECT or EXAMINE (RFC 3501 §6.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Selected {
    /// `n EXISTS`: the number of messages.
    pub exists: u32,
    /// `n RECENT`.
    pub recent: u32,
    /// `FLAGS (...)`: the flags defined in the mailbox.
    pub flags: Vec<Flag<'static>>,
    /// `[PERMANENTFLAGS (...)]`: the flags the client can change for good.
    pub permanent_flags: Option<Vec<FlagPerm<'static>>>,
    /// `[UIDVALIDITY n]`.
    pub uid_validity: Option<NonZeroU32>,
    /// `[UIDNEXT n]`.
    pub uid_next: Option<NonZeroU32>,
    /// `[UNSEEN n]`: the first unseen message.
    pub unseen: Option<NonZeroU32>,
    /// `[HIGHESTMODSEQ n]` (RFC 7162).
    pub highest_modseq: Option<u64>,
    /// `[READ-ONLY]`: EXAMINE, or a mailbox the user may not change.
    pub read_only: bool,
    /// `* OK [CLOSED]` (RFC 7162 §3.2.11): the mailbox selected before was closed first.
    pub closed: bool,
    /// `VANISHED (EARLIER)` (RFC 7162 §3.2.5.1): UIDs expunged since the MODSEQ given in
    /// [`Client::select_qresync`] (possibly some the client never knew), in the order sent.
    pub vanished: Vec<SequenceSet>,
    /// The FETCH responses of a [`Client::select_qresync`]: the messages whose flags changed
    /// since the MODSEQ given (`UID`, `FLAGS`, `MODSEQ`), in the order sent.
    pub changed: Vec<(NonZeroU32, Vec1<FetchItem<'static>>)>,
}

impl Selected {
    fn from_answer(answer: Answer) -> Self {
        let mut selected = Selected::default();
        for data in answer.data {
            match data {
                Data::Exists(n) => selected.exists = n,
                Data::Recent(n) => selected.recent = n,
                Data::Flags(flags) => selected.flags = flags,
                Data::Vanished {
                    earlier: true,
                    uids,
                } => selected.vanished.push(uids),
                Data::Fetch { seq, items } => selected.changed.push((seq, items)),
                _ => {}
            }
        }
        for status in answer.statuses {
            match status.code {
                Some(Code::PermanentFlags(flags)) => selected.permanent_flags = Some(flags),
                Some(Code::UidValidity(n)) => selected.uid_validity = Some(n),
                Some(Code::UidNext(n)) => selected.uid_next = Some(n),
                Some(Code::Unseen(n)) => selected.unseen = Some(n),
                Some(Code::HighestModSeq(n)) => selected.highest_modseq = Some(n),
                Some(Code::Closed) => selected.closed = true,
                _ => {}
            }
        }
        selected.read_only = answer.status.code == Some(Code::ReadOnly);
        selected
    }
}

/// An IMAP client session over a [`Transport`]; see the [module docs](self).
///
/// What an earlier call left open is finished by the next call: the rest of a [`Fetch`] read
/// and dropped, `DONE` sent for an [`Idle`] left without [`Idle::done`], the completion of a
/// call whose future was dropped read. Only a [`Client::starttls`] cut short leaves the
/// connection unusable. [`Fetch::next`] and [`Idle::next`] are cancel-safe.
#[derive(Debug)]
pub struct Client<T> {
    conn: Connection<ClientSession, T>,
    greeting: StatusResponse<'static>,
    updates: VecDeque<Data<'static>>,
    /// Commands whose completion a call still has to read: a FETCH being streamed, a command
    /// whose call was dropped.
    open: Vec<Tag<'static>>,
    /// The IDLE in progress: its handle (taken by the guard's `done`) and the tag of the IDLE
    /// command now running (the machine re-issues it under new tags).
    idle: Option<IdleHandle>,
    idle_tag: Option<Tag<'static>>,
    /// The `* BYE` that ended the session.
    bye: Option<StatusResponse<'static>>,
}

impl<T: Transport> Client<T> {
    /// Waits for the server's greeting (`* OK` or `* PREAUTH`).
    pub async fn connect(transport: T) -> Result<Self, Error> {
        Self::connect_with(transport, ClientConfig::default(), DriverConfig::default()).await
    }

    /// [`Client::connect`] with the machine's configuration and the driver's limits.
    pub async fn connect_with(
        transport: T,
        config: ClientConfig,
        driver: DriverConfig,
    ) -> Result<Self, Error> {
        let mut conn = Connection::new(ClientSession::new(config), transport, driver);
        loop {
            match conn.next_event().await?.ok_or(Error::Closed)? {
                Event::Greeting(g) if g.kind == StatusKind::Bye => return Err(Error::Greeting(g)),
                Event::Greeting(g) => {
                    return Ok(Self {
                        conn,
                        greeting: g,
                        updates: VecDeque::new(),
                        open: Vec::new(),
                        idle: None,
                        idle_tag: None,
                        bye: None,
                    });
                }
                Event::Malformed { error } => {
                    return Err(Error::Unexpected(format!("malformed greeting: {error}")));
                }
                _ => {}
            }
        }
    }

    /// The greeting.
    pub fn greeting(&self) -> &StatusResponse<'static> {
        &self.greeting
    }

    /// The session state as far as the client can tell.
    pub fn state(&self) -> SessionState {
        self.conn.machine().state()
    }

    /// The server's capabilities, when known (they are forgotten at STARTTLS and login unless
    /// the server sent the new ones; [`Client::capability`] asks).
    pub fn capabilities(&self) -> Option<&[Atom<'static>]> {
        self.conn.machine().capabilities()
    }

    /// Whether the server is known to advertise `name` (case-insensitive).
    pub fn has_capability(&self, name: &str) -> bool {
        self.conn.machine().has_capability(name)
    }

    /// The session machine.
    pub fn session(&self) -> &ClientSession {
        self.conn.machine()
    }

    /// The connection.
    pub fn transport(&self) -> &T {
        self.conn.transport()
    }

    /// Untagged data that came outside what a call returned (`EXISTS`, `EXPUNGE` and `FETCH`
    /// flag changes outside a FETCH ...), oldest first; up to [`MAX_UPDATES`] are kept.
    pub fn take_updates(&mut self) -> impl Iterator<Item = Data<'static>> + '_ {
        self.updates.drain(..)
    }

    /// CAPABILITY: asks the server what it offers.
    pub async fn capability(&mut self) -> Result<Vec<Atom<'static>>, Error> {
        self.run(CommandBody::Capability).await?;
        Ok(self.capabilities().map(<[_]>::to_vec).unwrap_or_default())
    }

    /// STARTTLS (RFC 3501 §6.2.1): TLS from here on, then CAPABILITY again (RFC 3501 §6.2.1:
    /// what was learnt in plaintext is forgotten). Fails with [`Error::NotOffered`] when the
    /// server does not advertise it.
    pub async fn starttls(&mut self) -> Result<(), Error> {
        self.require("STARTTLS").await?;
        let tag = self.conn.machine_mut().enqueue(CommandBody::StartTls)?;
        self.complete(&tag, None).await?;
        loop {
            if let Event::StartTls { .. } = self.event().await? {
                break;
            }
        }
        self.conn.start_tls().await?;
        self.capability().await?;
        Ok(())
    }

    /// LOGIN (RFC 3501 §6.2.3). Fails with [`Error::NotOffered`] under `LOGINDISABLED` (RFC
    /// 3501 §6.2.3: a client must not send LOGIN then; over TLS the server usually allows it).
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), Error> {
        self.settle().await?;
        if self.capabilities().is_none() {
            self.capability().await?;
        }
        if self.has_capability("LOGINDISABLED") {
            return Err(Error::NotOffered("LOGIN"));
        }
        self.run(CommandBody::Login {
            username: AString::try_from(user)?,
            password: Secret::new(AString::try_from(password)?),
        })
        .await?;
        Ok(())
    }

    /// SELECT: opens `mailbox` (Unicode; sent in modified UTF-7) read-write.
    pub async fn select(&mut self, mailbox: &str) -> Result<Selected, Error> {
        let mailbox = Mailbox::from_utf8(mailbox)?;
        let answer = self
            .run(CommandBody::Select {
                mailbox,
                condstore: false,
                qresync: None,
            })
            .await?;
        Ok(Selected::from_answer(answer))
    }

    /// EXAMINE: opens `mailbox` read-only.
    pub async fn examine(&mut self, mailbox: &str) -> Result<Selected, Error> {
        let mailbox = Mailbox::from_utf8(mailbox)?;
        let answer = self
            .run(CommandBody::Examine {
                mailbox,
                condstore: false,
                qresync: None,
            })
            .await?;
        Ok(Selected::from_answer(answer))
    }

    /// ENABLE (RFC 5161): returns what the server says it enabled (`* ENABLED`).
    pub async fn enable(&mut self, capabilities: &[&str]) -> Result<Vec<Atom<'static>>, Error> {
        let caps = capabilities
            .iter()
            .map(|c| Atom::try_from(*c))
            .collect::<Result<Vec<_>, _>>()?;
        let answer = self
            .run(CommandBody::Enable {
                capabilities: Vec1::try_from(caps)?,
            })
            .await?;
        Ok(answer
            .data
            .into_iter()
            .filter_map(|d| match d {
                Data::Enabled(caps) => Some(caps),
                _ => None,
            })
            .flatten()
            .collect())
    }

    /// SELECT (or EXAMINE, `read_only`) with QRESYNC (RFC 7162 §3.2.5): opens `mailbox` and
    /// resynchronises from what the client knew, `params`. Enable QRESYNC first
    /// ([`enable`](Self::enable)). The UIDs expunged since are in [`Selected::vanished`], the
    /// flags changed since in [`Selected::changed`]; both are empty when the UIDVALIDITY
    /// differs (compare [`Selected::uid_validity`]: the cache is then to be dropped).
    pub async fn select_qresync(
        &mut self,
        mailbox: &str,
        read_only: bool,
        params: QresyncParams,
    ) -> Result<Selected, Error> {
        let mailbox = Mailbox::from_utf8(mailbox)?;
        let body = if read_only {
            CommandBody::Examine {
                mailbox,
                condstore: false,
                qresync: Some(params),
            }
        } else {
            CommandBody::Select {
                mailbox,
                condstore: false,
                qresync: Some(params),
            }
        };
        Ok(Selected::from_answer(self.run(body).await?))
    }

    /// FETCH: the responses come one by one from [`Fetch::next`].
    pub async fn fetch(
        &mut self,
        set: SequenceSet,
        items: FetchItems<'_>,
    ) -> Result<Fetch<'_, T>, Error> {
        self.start_fetch(false, set, items).await
    }

    /// UID FETCH: as [`Client::fetch`], with `set` of UIDs.
    pub async fn uid_fetch(
        &mut self,
        set: SequenceSet,
        items: FetchItems<'_>,
    ) -> Result<Fetch<'_, T>, Error> {
        self.start_fetch(true, set, items).await
    }

    /// NOOP: gives the server a chance to report changes; returns what it sent.
    pub async fn noop(&mut self) -> Result<Vec<Data<'static>>, Error> {
        Ok(self.run(CommandBody::Noop).await?.data)
    }

    /// Any command: sends it and reads up to its completion. A `NO` or `BAD` is
    /// [`Error::Refused`]. For IDLE use [`Client::idle`].
    pub async fn run(&mut self, body: CommandBody<'_>) -> Result<Answer, Error> {
        self.settle().await?;
        let tag = self.conn.machine_mut().enqueue(body)?;
        let mut untagged = (Vec::new(), Vec::new());
        let status = self.complete(&tag, Some(&mut untagged)).await?;
        let (data, statuses) = untagged;
        Ok(Answer {
            data,
            statuses,
            status,
        })
    }

    /// LOGOUT (RFC 3501 §6.1.3), then the connection is closed (the server may have closed its
    /// side already: that is no error).
    pub async fn logout(mut self) -> Result<(), Error> {
        self.settle().await?;
        let tag = self.conn.machine_mut().enqueue(CommandBody::Logout)?;
        match self.complete(&tag, None).await {
            // The machine closes the session at the BYE; the tagged OK may not be read.
            Ok(_) | Err(Error::Bye(_) | Error::Closed) => {}
            Err(e) => return Err(e),
        }
        let _ = self.conn.close().await;
        Ok(())
    }

    /// CAPABILITY first when the capabilities are not known; then `name` must be among them.
    async fn require(&mut self, name: &'static str) -> Result<(), Error> {
        self.settle().await?;
        if self.capabilities().is_none() {
            self.capability().await?;
        }
        if self.has_capability(name) {
            Ok(())
        } else {
            Err(Error::NotOffered(name))
        }
    }

    async fn start_fetch(
        &mut self,
        uid: bool,
        set: SequenceSet,
        items: FetchItems<'_>,
    ) -> Result<Fetch<'_, T>, Error> {
        self.settle().await?;
        let tag = self.conn.machine_mut().enqueue(CommandBody::Fetch {
            uid,
            set,
            items,
            changed_since: None,
            vanished: false,
        })?;
        self.open.push(tag.clone());
        Ok(Fetch::new(self, tag))
    }

    /// Reads up to the completion of `tag`: its `OK`, or [`Error::Refused`]. Untagged data and
    /// statuses go to `untagged` when given, data to the updates otherwise. The command is open
    /// meanwhile: a call whose future is dropped leaves it for the next call to finish.
    async fn complete(
        &mut self,
        tag: &Tag<'static>,
        mut untagged: Option<&mut Untagged>,
    ) -> Result<StatusResponse<'static>, Error> {
        if !self.open.contains(tag) {
            self.open.push(tag.clone());
        }
        loop {
            match self.event().await? {
                Event::Completed { command, status } if status.tag.as_ref() == Some(tag) => {
                    self.completed(Some(tag));
                    return if status.kind == StatusKind::Ok {
                        Ok(status)
                    } else {
                        Err(Error::Refused { command, status })
                    };
                }
                Event::Data(data) => match untagged.as_deref_mut() {
                    Some((all, _)) => all.push(data),
                    None => self.update(data),
                },
                Event::Status(status) => {
                    if let Some((_, statuses)) = untagged.as_deref_mut() {
                        statuses.push(status);
                    }
                }
                _ => {}
            }
        }
    }

    /// Finishes what an earlier call left open: the IDLE whose guard was dropped gets its
    /// `DONE`, and the responses of open commands are read to their completion.
    async fn settle(&mut self) -> Result<(), Error> {
        if let Some(handle) = self.idle.take() {
            // Refused only when the IDLE has ended already; its completion is read below.
            let _ = self.conn.machine_mut().idle_done(handle);
        }
        while !self.open.is_empty() || self.idle_tag.is_some() {
            match self.event().await? {
                Event::Completed { status, .. } => self.completed(status.tag.as_ref()),
                Event::IdleReissued { tag } => self.idle_tag = Some(tag),
                // What a FETCH left unread would have returned.
                Event::Data(Data::Fetch { .. }) => {}
                Event::Data(data) => self.update(data),
                _ => {}
            }
        }
        Ok(())
    }

    /// A command completed: it is no longer open.
    fn completed(&mut self, tag: Option<&Tag<'static>>) {
        self.open.retain(|t| Some(t) != tag);
        if self.idle_tag.as_ref() == tag {
            self.idle_tag = None;
            self.idle = None;
        }
    }

    fn update(&mut self, data: Data<'static>) {
        if self.updates.len() == MAX_UPDATES {
            self.updates.pop_front();
        }
        self.updates.push_back(data);
    }

    /// The machine's next event; the end of the session as an error.
    async fn event(&mut self) -> Result<Event, Error> {
        match self.conn.next_event().await? {
            Some(Event::Status(s)) if s.kind == StatusKind::Bye => {
                self.bye = Some(s.clone());
                Ok(Event::Status(s))
            }
            // This client runs no AUTHENTICATE exchange: a challenge is cancelled (the
            // command then fails), anything else unexpected is ignored.
            Some(Event::Continue(c)) => {
                let _ = self
                    .conn
                    .machine_mut()
                    .authenticate_continue(&AuthData::Cancel);
                Ok(Event::Continue(c))
            }
            Some(event) => Ok(event),
            None => Err(self.bye.clone().map_or(Error::Closed, Error::Bye)),
        }
    }
}
