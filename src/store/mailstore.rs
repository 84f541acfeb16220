//! The mail-store boundary: what the protocol services and local delivery ask of the users'
//! mail, in terms any backend can answer (the Maildir store of this crate, a database shared by
//! several front-end nodes ...). The services hold an `Arc<dyn MailStore>` and never learn what
//! is behind it.
//!
//! Every call blocks (files, a database round trip): callers run it with
//! [`core::blocking`](crate::core::blocking) or `spawn_blocking`. The traits are object safe;
//! the objects they hand out are `Send` (and `Sync` where a session keeps them), so a session
//! can keep them across `.await`s.
//!
//! | service | calls |
//! |---|---|
//! | IMAP login | [`MailStore::account`] |
//! | LIST, LSUB, CREATE, DELETE, RENAME, (UN)SUBSCRIBE, STATUS | [`Account`] |
//! | SELECT, EXAMINE | [`Account::select`] → a [`SelectedMailbox`] and its first [`MailboxView`] |
//! | NOOP, IDLE, after commands | [`SelectedMailbox::sync`]; IDLE waits on [`Account::watch`] |
//! | FETCH, SEARCH | [`MessageInfo`] of the view, [`SelectedMailbox::open`], [`SelectedMailbox::internal_date`] |
//! | FETCH ENVELOPE/BODYSTRUCTURE, SORT, THREAD, SEARCH on headers | [`SelectedMailbox::cached`], [`SelectedMailbox::keep_summary`] |
//! | STORE, EXPUNGE, COPY, MOVE | [`SelectedMailbox::store`], [`SelectedMailbox::expunge`], [`SelectedMailbox::copy`] |
//! | APPEND | [`Account::append`] then [`PreparedAppend::commit`]; MULTIAPPEND [`Account::append_all`] |
//! | POP3 | [`Account::maildrop`] → a locked [`Maildrop`] |
//! | SMTP, LMTP, the queue's local deliveries | [`MailStore::delivery`] → a [`Delivery`]; RCPT's quota check [`MailStore::quota`] |
//!
//! Change notification is the store's: every write through it (a delivery, APPEND, STORE,
//! EXPUNGE, COPY or MOVE, a POP3 deletion, a mailbox deleted or renamed) wakes the
//! [`Changes`](super::Changes) of that user's mailbox once it is done, so no caller announces
//! anything. A store shared with other writers (another process, other nodes) makes their
//! changes known too as it can (a database's `LISTEN`/`NOTIFY`); a session also polls.

use std::fmt;
use std::io;
use std::time::SystemTime;

use super::notify::Changes;
use super::summary::Cached;
use super::types::{
    AppendRequest, Appended, CopyOutcome, FlagOp, Flags, MailboxInfo, MailboxName, MailboxStatus,
    MailboxView, MaildropMessage, MessageText, QuotaUsage, SpecialUse, StoreError, StoreOutcome,
    Transfer,
};
use crate::core::directory::Address;

/// The users' mail.
pub trait MailStore: Send + Sync + fmt::Debug {
    /// Opens a user's mail, making it ready the first time (INBOX and the default mailboxes).
    fn account(&self, user: &Address) -> Result<Box<dyn Account>, StoreError>;

    /// A user's quota, making nothing: `None` when the user has no mail yet or no quota.
    fn quota(&self, user: &Address) -> Result<Option<QuotaUsage>, StoreError>;

    /// Starts the local delivery of one message into the INBOX of one or more users.
    fn delivery(&self) -> Box<dyn Delivery>;
}

/// One user's mail: the mailboxes and what is done to them as a whole.
///
/// `INBOX` always exists. Names are checked by the store: one it cannot hold is refused with
/// [`StoreError::InvalidName`].
pub trait Account: Send + Sync + fmt::Debug {
    /// Whose mail this is.
    fn user(&self) -> &Address;

    /// Every existing mailbox, `INBOX` included, in no particular order.
    fn list(&self) -> Result<Vec<MailboxInfo>, StoreError>;

    /// The special use of a mailbox of this name, whether it exists or not (this store ties
    /// special uses to names; another may tie them to mailboxes and answer for existing ones).
    fn special_use(&self, name: &MailboxName) -> Option<SpecialUse>;

    /// Whether the mailbox exists.
    fn exists(&self, name: &MailboxName) -> Result<bool, StoreError>;

    /// Creates a mailbox and any missing mailboxes above it. [`StoreError::MailboxExists`] if
    /// it exists (`INBOX` always does).
    fn create(&self, name: &MailboxName) -> Result<(), StoreError>;

    /// Deletes a mailbox and its messages; the mailboxes below it stay.
    fn delete(&self, name: &MailboxName) -> Result<(), StoreError>;

    /// Renames a mailbox with the mailboxes below it. Renaming `INBOX` moves its messages into
    /// a new mailbox and leaves `INBOX` empty (RFC 3501 §6.3.5).
    fn rename(&self, from: &MailboxName, to: &MailboxName) -> Result<(), StoreError>;

    /// The subscribed names (whether those mailboxes exist or not).
    fn subscriptions(&self) -> Result<Vec<MailboxName>, StoreError>;

    /// Subscribes to a name (`true`) or unsubscribes.
    fn set_subscribed(&self, name: &MailboxName, subscribed: bool) -> Result<(), StoreError>;

    /// What STATUS reports of a mailbox, claiming nothing.
    fn status(&self, name: &MailboxName) -> Result<MailboxStatus, StoreError>;

    /// The user's quota: `None` when there is none.
    fn quota(&self) -> Result<Option<QuotaUsage>, StoreError>;

    /// Opens a mailbox for a session (IMAP SELECT, or EXAMINE when `read_only`), with its first
    /// view. A read-write open claims the `\Recent` messages no session has claimed.
    fn select(
        &self,
        name: &MailboxName,
        read_only: bool,
    ) -> Result<(Box<dyn SelectedMailbox>, MailboxView), StoreError>;

    /// APPEND, first step: reads `message` to its end and keeps it where nobody sees it yet.
    /// [`PreparedAppend::commit`] stores it; dropping the prepared append forgets it.
    fn append(
        &self,
        name: &MailboxName,
        request: &AppendRequest,
        message: &mut dyn io::Read,
    ) -> Result<Box<dyn PreparedAppend>, StoreError>;

    /// MULTIAPPEND (RFC 3502): reads each message to its end and stores them all into `name`,
    /// in order, or none of them: when this returns an error no message of the batch is in the
    /// mailbox (a quota overrun by the last one takes out the first ones again). Returns their
    /// UIDs, ascending.
    fn append_all(
        &self,
        name: &MailboxName,
        messages: &mut [(AppendRequest, &mut dyn io::Read)],
    ) -> Result<Vec<Appended>, StoreError>;

    /// Changes of a mailbox: woken after every write to it through this store.
    fn watch(&self, name: &MailboxName) -> Changes;

    /// How often a session watching a mailbox should also look for changes nobody wakes it for:
    /// writes by other programs to the same storage. `None` when every change wakes the
    /// watchers ([`watch`](Self::watch)), so that nothing needs to poll. Default: every 500 ms
    /// (a Maildir is also written by Dovecot, mutt or a plain file drop).
    fn poll_interval(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_millis(500))
    }

    /// The user's INBOX as a POP3 maildrop, locked for this session until it is dropped
    /// ([`StoreError::InUse`] while another one holds it).
    fn maildrop(&self) -> Result<Box<dyn Maildrop>, StoreError>;
}

/// A mailbox a session has open: its messages by UID, as of the last sync.
///
/// The handle remembers the messages of every view it gave until the session says it no longer
/// shows them ([`release`](Self::release)), so a session can still read a message another one
/// expunged meanwhile (RFC 2180 §4.1) for as long as the store keeps it.
pub trait SelectedMailbox: Send + Sync + fmt::Debug {
    /// The mailbox's name.
    fn name(&self) -> &MailboxName;

    /// Whether it was opened read-only (EXAMINE).
    fn read_only(&self) -> bool;

    /// The mailbox as it is now: `None` when nothing changed since the last view (which the
    /// store tells cheaply), unless `force`. A read-write handle claims the new `\Recent`
    /// messages. [`StoreError::MailboxGone`] when the mailbox was deleted or renamed.
    fn sync(&mut self, force: bool) -> Result<Option<MailboxView>, StoreError>;

    /// A message's text: `None` when it is gone (expunged longer ago than the store keeps
    /// expunged messages readable, or removed behind the store's back).
    fn open(&self, uid: u32) -> Result<Option<MessageText>, StoreError>;

    /// A message's INTERNALDATE without reading it; `None` when it is gone.
    fn internal_date(&self, uid: u32) -> Result<Option<SystemTime>, StoreError>;

    /// What the store's index holds of a message (module [`summary`](super::summary)), so
    /// that FETCH ENVELOPE and BODYSTRUCTURE, SORT, THREAD and SEARCH on headers need not read
    /// it: `None` when the store has no index (the default) or the message is not in it; the
    /// caller then reads the message and may hand its summary to
    /// [`keep_summary`](Self::keep_summary).
    fn cached(&self, uid: u32) -> Result<Option<Cached>, StoreError> {
        let _ = uid;
        Ok(None)
    }

    /// The folder's [`KeyCache`](super::summary::KeyCache) of SORT and THREAD keys, shared
    /// with the other sessions of the process that have it open: `None` (the default) when
    /// the store keeps none, and each SORT or THREAD works them out again.
    fn header_keys(&self) -> Option<super::summary::SharedKeys> {
        None
    }

    /// Keeps an encoded [`Summary`](super::summary::Summary) of a message in the store's
    /// index (nothing without one, the default). Best effort: a message renamed or gone
    /// meanwhile is not indexed.
    fn keep_summary(&self, uid: u32, summary: &[u8]) -> Result<(), StoreError> {
        let _ = (uid, summary);
        Ok(())
    }

    /// STORE (RFC 3501 §6.4.6): changes the system `flags` and the `keywords` (by name, any
    /// number) of the messages with these UIDs, each change with a new MODSEQ; with
    /// `unchanged_since` (RFC 7162 §3.1.3) the messages changed since are left alone.
    fn store(
        &mut self,
        uids: &[u32],
        op: FlagOp,
        flags: Flags,
        keywords: &[&str],
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome, StoreError>;

    /// EXPUNGE: removes those of these messages that have `\Deleted` as this session sees them
    /// and still have it (another session may have cleared it). Returns the UIDs removed.
    fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>, StoreError>;

    /// COPY or MOVE of these messages into another mailbox (or this one), all or nothing:
    /// [`StoreError::Expunged`] when some were expunged meanwhile, [`StoreError::OverQuota`]
    /// when they do not all fit.
    fn copy(
        &mut self,
        uids: &[u32],
        to: &MailboxName,
        how: Transfer,
    ) -> Result<CopyOutcome, StoreError>;

    /// Claims as `\Recent` for this session the messages up to `through` that it stored into
    /// this mailbox itself (APPEND, COPY) and nobody claimed; returns their UIDs. Nothing for a
    /// read-only handle or another UIDVALIDITY.
    fn claim_recent(&mut self, uid_validity: u32, through: u32) -> Result<Vec<u32>, StoreError>;

    /// The session no longer shows these messages (it sent their EXPUNGE): the handle may
    /// forget them.
    fn release(&mut self, uids: &[u32]);

    /// The UIDs expunged from the mailbox at a MODSEQ above `modseq` (RFC 7162 QRESYNC's
    /// `VANISHED (EARLIER)`), as ranges ascending: `None` when the store does not remember
    /// expunges back that far (the default), and the service answers from the UIDs the
    /// mailbox holds now, as RFC 7162 §3.2.5.2 allows.
    fn vanished_since(&self, modseq: u64) -> Result<Option<Vec<(u32, u32)>>, StoreError> {
        let _ = modseq;
        Ok(None)
    }
}

/// An APPEND between its two steps: the message is read and kept, not yet in the mailbox.
pub trait PreparedAppend: Send + fmt::Debug {
    /// Stores the message: durable and in the mailbox when this returns `Ok`, with its UID.
    fn commit(self: Box<Self>) -> Result<Appended, StoreError>;
}

/// A copy of a message being delivered, numbered in the order of [`Delivery::prepare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CopyId(usize);

impl CopyId {
    /// The copy prepared `n`-th (from 0).
    pub fn new(n: usize) -> Self {
        Self(n)
    }

    /// Its number.
    pub fn index(self) -> usize {
        self.0
    }
}

/// The local delivery of one message to several users, all or nothing:
///
/// 1. [`prepare`](Self::prepare) each copy: written durably, visible to nobody;
/// 2. [`commit`](Self::commit) the copies still wanted, together: each in its mailbox, durable;
/// 3. [`rollback`](Self::rollback) a committed copy when the message is refused after all;
/// 4. [`publish`](Self::publish): the copies kept are announced.
///
/// Dropping it before the commit forgets the prepared copies. A crash between the steps leaves
/// at most prepared copies, which nobody ever sees. A backend with transactions commits all
/// copies in one.
pub trait Delivery: Send + fmt::Debug {
    /// Writes the copy for `user`'s INBOX from `message` (read to its end), durably and out of
    /// sight; fails here already when it does not fit the user's quota.
    fn prepare(&mut self, user: &Address, message: &mut dyn io::Read)
    -> Result<CopyId, StoreError>;

    /// Like [`prepare`](Self::prepare), for `user`'s mailbox with the SPECIAL-USE `special`
    /// (RFC 6154: `\Junk` for mail filed as spam), made when the user has none. A backend
    /// without special mailboxes delivers to the INBOX (the default).
    fn prepare_special(
        &mut self,
        user: &Address,
        special: SpecialUse,
        message: &mut dyn io::Read,
    ) -> Result<CopyId, StoreError> {
        let _ = special;
        self.prepare(user, message)
    }

    /// Like [`prepare`](Self::prepare), for `user`'s mailbox `mailbox` (a Sieve `fileinto`, or
    /// `keep` with flags when `mailbox` is INBOX), with these IMAP flags and keywords (RFC 5232;
    /// unknown ones are dropped). A missing mailbox is made when `create`, else
    /// [`StoreError::NoSuchMailbox`]. A backend without folders delivers to the INBOX (the
    /// default).
    fn prepare_into(
        &mut self,
        user: &Address,
        mailbox: &MailboxName,
        create: bool,
        flags: &[String],
        message: &mut dyn io::Read,
    ) -> Result<CopyId, StoreError> {
        let _ = (mailbox, create, flags);
        self.prepare(user, message)
    }

    /// Puts these prepared copies into their mailboxes: one result per copy, in order; a copy
    /// prepared but not named here is forgotten.
    fn commit(&mut self, copies: &[CopyId]) -> Vec<Result<(), StoreError>>;

    /// Takes a committed copy out of its mailbox again.
    fn rollback(&mut self, copy: CopyId) -> Result<(), StoreError>;

    /// Ends the delivery: the committed copies still in place are announced (their mailboxes'
    /// [`Changes`](super::Changes) wake); returns each one's id (the POP3 unique id).
    fn publish(self: Box<Self>) -> Vec<(CopyId, String)>;
}

/// A POP3 maildrop: the INBOX as it was when it was locked, messages numbered from 0 in
/// delivery order. The lock goes when it is dropped.
pub trait Maildrop: Send + Sync + fmt::Debug {
    /// The messages.
    fn messages(&self) -> &[MaildropMessage];

    /// The text of message `index` (line ends LF or CRLF).
    fn open(&self, index: usize) -> Result<Box<dyn io::Read + Send>, StoreError>;

    /// The UPDATE state (RFC 1939 §6): removes these messages and releases the lock. Returns
    /// how many were removed (one removed meanwhile by someone else is not counted).
    fn delete(self: Box<Self>, indexes: &[usize]) -> Result<usize, StoreError>;
}
