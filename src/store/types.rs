//! The values that cross the mail-store boundary ([`MailStore`](super::MailStore) and the
//! traits beside it): mailbox names, flags and keywords, what a sync or a STATUS reports, what a
//! STORE, COPY or APPEND did, and the errors. Nothing here names a backend's own things (files,
//! rows, paths): a message is a UID in a mailbox of a user, a POP3 message an id and a size.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::SystemTime;

/// A mailbox of one user: `INBOX`, or a path of names below the user's root separated by `/`
/// (`Archive/2024`), each level as the user spells it (IMAP sends modified UTF-7, RFC 3501
/// §5.1.3, and so does the name here). `INBOX` is spelled so whatever case it came in, also as
/// the first level of a longer name (`INBOX/Sub`).
///
/// A name is a name, not a promise that the store can hold it: a store refuses what it cannot
/// represent with [`StoreError::InvalidName`] (the Maildir store, for instance, a `.` inside a
/// level).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxName(String);

impl MailboxName {
    /// The hierarchy delimiter.
    pub const DELIMITER: char = '/';

    /// `INBOX`.
    pub fn inbox() -> Self {
        Self("INBOX".to_owned())
    }

    /// A name from its text: `Err` with the reason when it is empty or has an empty level
    /// (`a//b`, `/a`, `a/`).
    pub fn new(name: &str) -> Result<Self, StoreError> {
        if name.is_empty() {
            return Err(StoreError::InvalidName("empty mailbox name"));
        }
        let mut out = String::with_capacity(name.len());
        for (i, level) in name.split(Self::DELIMITER).enumerate() {
            if level.is_empty() {
                return Err(StoreError::InvalidName(
                    "empty hierarchy level in mailbox name",
                ));
            }
            if i > 0 {
                out.push(Self::DELIMITER);
            }
            if i == 0 && level.eq_ignore_ascii_case("INBOX") {
                out.push_str("INBOX");
            } else {
                out.push_str(level);
            }
        }
        Ok(Self(out))
    }

    /// Whether this is `INBOX` itself.
    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }

    /// The name as text, levels separated by `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The levels, outermost first.
    pub fn levels(&self) -> impl Iterator<Item = &str> {
        self.0.split(Self::DELIMITER)
    }

    /// The names of the mailboxes above this one, outermost first (`a`, `a/b` for `a/b/c`).
    pub fn parents(&self) -> impl Iterator<Item = &str> {
        self.0
            .match_indices(Self::DELIMITER)
            .map(move |(i, _)| &self.0[..i])
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SPECIAL-USE of a mailbox (RFC 6154 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecialUse {
    /// `\All`: every message.
    All,
    /// `\Archive`: archived messages.
    Archive,
    /// `\Drafts`: drafts.
    Drafts,
    /// `\Flagged`: flagged messages.
    Flagged,
    /// `\Junk`: junk mail.
    Junk,
    /// `\Sent`: sent mail.
    Sent,
    /// `\Trash`: deleted messages.
    Trash,
}

impl SpecialUse {
    /// The attribute's name without its backslash (`Sent`).
    pub fn attribute(self) -> &'static str {
        match self {
            Self::All => "All",
            Self::Archive => "Archive",
            Self::Drafts => "Drafts",
            Self::Flagged => "Flagged",
            Self::Junk => "Junk",
            Self::Sent => "Sent",
            Self::Trash => "Trash",
        }
    }
}

/// One existing mailbox, as a listing gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// Its name.
    pub name: MailboxName,
    /// Its special use, if any.
    pub special_use: Option<SpecialUse>,
}

/// A system flag (RFC 3501 §2.3.2; `\Recent` is no stored flag but a session's, see
/// [`MailboxView::recent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `\Seen`.
    Seen,
    /// `\Answered`.
    Answered,
    /// `\Flagged`.
    Flagged,
    /// `\Deleted`.
    Deleted,
    /// `\Draft`.
    Draft,
}

impl Flag {
    /// Every system flag, in the order IMAP lists them.
    pub const ALL: [Flag; 5] = [
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Seen,
        Flag::Draft,
    ];

    fn bit(self) -> u8 {
        match self {
            Flag::Seen => 1,
            Flag::Answered => 2,
            Flag::Flagged => 4,
            Flag::Deleted => 8,
            Flag::Draft => 16,
        }
    }
}

/// A set of system flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    /// No flag.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Whether `flag` is set.
    pub fn contains(self, flag: Flag) -> bool {
        self.0 & flag.bit() != 0
    }

    /// Sets `flag`.
    pub fn insert(&mut self, flag: Flag) {
        self.0 |= flag.bit();
    }

    /// Clears `flag`.
    pub fn remove(&mut self, flag: Flag) {
        self.0 &= !flag.bit();
    }

    /// This set with `flag` added.
    #[must_use]
    pub fn with(mut self, flag: Flag) -> Self {
        self.insert(flag);
        self
    }

    /// The flags set, in [`Flag::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = Flag> {
        Flag::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

/// A keyword (an IMAP flag without a backslash: `$Forwarded`, `Work`), as the mailbox spells it.
/// Shared, so that the messages of a big mailbox do not each hold a copy of the same names.
pub type Keyword = Arc<str>;

/// One message of a mailbox, as a sync reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// Its UID, stable for the life of the mailbox's UIDVALIDITY.
    pub uid: u32,
    /// The MODSEQ of its last change (RFC 7162).
    pub modseq: u64,
    /// Its system flags.
    pub flags: Flags,
    /// Its keywords, in the order the mailbox defined them.
    pub keywords: Vec<Keyword>,
    /// RFC822.SIZE: its size as IMAP and POP3 present it (CRLF line ends), when the store knows
    /// it without reading the message; `None`: read it ([`SelectedMailbox::open`]).
    ///
    /// [`SelectedMailbox::open`]: super::SelectedMailbox::open
    pub size: Option<u64>,
    /// The size a STATUS SIZE counts it at: [`size`](Self::size), or when that is unknown the
    /// size the store keeps it at, so that a STATUS never reads messages.
    pub status_size: u64,
}

/// A mailbox as a sync of a [`SelectedMailbox`](super::SelectedMailbox) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxView {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UIDNEXT: the UID the next message will get.
    pub uid_next: u32,
    /// HIGHESTMODSEQ (RFC 7162); at least 1.
    pub highest_modseq: u64,
    /// Every keyword defined in the mailbox, in order (IMAP `FLAGS`).
    pub keywords: Vec<Keyword>,
    /// The messages, UIDs ascending.
    pub messages: Vec<MessageInfo>,
    /// The UIDs `\Recent` for this session as of this sync, ascending (RFC 3501 §2.3.2): those
    /// this read-write session claimed now (each message is claimed by one session only), or in
    /// a read-only one those no read-write session has claimed yet.
    pub recent: Vec<u32>,
}

/// What STATUS reports of a mailbox (RFC 3501 §6.3.10, RFC 7162 §3.1.2 HIGHESTMODSEQ, RFC 9051
/// DELETED and SIZE).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxStatus {
    /// MESSAGES.
    pub messages: u64,
    /// RECENT: messages no read-write session has claimed yet.
    pub recent: u64,
    /// UIDNEXT.
    pub uid_next: u32,
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UNSEEN: messages without `\Seen`.
    pub unseen: u64,
    /// HIGHESTMODSEQ.
    pub highest_modseq: u64,
    /// DELETED: messages with `\Deleted`.
    pub deleted: u64,
    /// SIZE: the sum of [`MessageInfo::status_size`].
    pub size: u64,
}

impl MailboxStatus {
    /// Counts one message into MESSAGES, UNSEEN, DELETED and SIZE.
    pub fn add(&mut self, m: &MessageInfo) {
        self.messages += 1;
        self.unseen += u64::from(!m.flags.contains(Flag::Seen));
        self.deleted += u64::from(m.flags.contains(Flag::Deleted));
        self.size += m.status_size;
    }
}

/// How a STORE changes flags (RFC 3501 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `+FLAGS`: add these.
    Add,
    /// `-FLAGS`: remove these (a keyword nobody uses is not defined by it).
    Remove,
    /// `FLAGS`: exactly these.
    Replace,
}

/// What a STORE did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOutcome {
    /// The messages stored to, as they are now (those expunged meanwhile are left out).
    pub messages: Vec<MessageInfo>,
    /// (UID, new MODSEQ) of each message whose flags or keywords changed.
    pub changed: Vec<(u32, u64)>,
    /// UIDs left alone because their MODSEQ was above `UNCHANGEDSINCE` (RFC 7162 §3.1.3
    /// `MODIFIED`).
    pub modified: Vec<u32>,
    /// HIGHESTMODSEQ after the change.
    pub highest_modseq: u64,
    /// Every keyword defined in the mailbox now (the STORE may have defined some).
    pub keywords: Vec<Keyword>,
}

/// Whether a COPY leaves the messages where they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// COPY.
    Copy,
    /// MOVE (RFC 6851): the source messages are expunged.
    Move,
}

/// UIDPLUS data of a COPY or MOVE (RFC 4315 `COPYUID`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyOutcome {
    /// The destination's UIDVALIDITY.
    pub uid_validity: u32,
    /// (source UID, destination UID) of each message, in the order given.
    pub uids: Vec<(u32, u32)>,
}

/// What an APPEND stores besides the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendRequest {
    /// System flags.
    pub flags: Flags,
    /// Keywords by name.
    pub keywords: Vec<String>,
    /// The internal date; `None`: now.
    pub internal_date: Option<SystemTime>,
}

/// UIDPLUS data of an APPEND (RFC 4315 `APPENDUID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The mailbox's UIDVALIDITY.
    pub uid_validity: u32,
    /// The message's UID.
    pub uid: u32,
}

/// A message's text to read, and its internal date.
pub struct MessageText {
    /// The message as stored: line ends LF or CRLF (a reader presents it with CRLF).
    pub text: Box<dyn io::Read + Send>,
    /// Its INTERNALDATE.
    pub internal_date: SystemTime,
}

impl fmt::Debug for MessageText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageText")
            .field("internal_date", &self.internal_date)
            .finish_non_exhaustive()
    }
}

/// A user's quota (RFC 9208 terms: usage and limit per resource).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaUsage {
    /// Octets in use.
    pub bytes: u64,
    /// The limit of octets, if any.
    pub bytes_limit: Option<u64>,
    /// Messages in use.
    pub messages: u64,
    /// The limit of messages, if any.
    pub messages_limit: Option<u64>,
}

impl QuotaUsage {
    /// Whether one more message of `size` octets stays within the limits.
    pub fn fits(&self, size: u64) -> bool {
        self.bytes_limit
            .is_none_or(|l| self.bytes.saturating_add(size) <= l)
            && self
                .messages_limit
                .is_none_or(|l| self.messages.saturating_add(1) <= l)
    }
}

/// One message of a POP3 maildrop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildropMessage {
    /// Its size as POP3 sends it (CRLF line ends, RFC 1939 §5).
    pub size: u64,
    /// An id unique in the maildrop and stable for the life of the message (POP3 UIDL). It may
    /// be longer than POP3's 70 characters: the POP3 service shortens it.
    pub id: String,
}

/// What went wrong in the store. The protocol services turn each kind into their refusal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The mailbox does not exist.
    #[error("no such mailbox")]
    NoSuchMailbox,
    /// The mailbox (to create, or the target of a rename) exists already.
    #[error("mailbox already exists")]
    MailboxExists,
    /// A mailbox name the store cannot hold; the text says why.
    #[error("invalid mailbox name: {0}")]
    InvalidName(&'static str),
    /// The user's quota would be exceeded.
    #[error("quota exceeded")]
    OverQuota,
    /// The disk (or the file system's quota) is full.
    #[error("not enough disk space")]
    NoSpace,
    /// Messages of a COPY or MOVE were expunged meanwhile (their UIDs); nothing was copied.
    #[error("messages expunged meanwhile: {0:?}")]
    Expunged(Vec<u32>),
    /// The mailbox has as many keywords as the store can hold.
    #[error("too many keywords in this mailbox")]
    TooManyKeywords,
    /// The selected mailbox was deleted or renamed under the session.
    #[error("the mailbox was deleted or renamed")]
    MailboxGone,
    /// The POP3 maildrop is locked by another session.
    #[error("the maildrop is in use")]
    InUse,
    /// A call the store's contract does not allow: a caller's bug (a copy committed that was
    /// never prepared ...).
    #[error("store misuse: {0}")]
    Misuse(&'static str),
    /// An input/output error (`EIO` and the like).
    #[error("storage I/O error: {0}")]
    Io(#[source] io::Error),
    /// Anything else the backend reports.
    #[error("storage error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// An error of the backend, kept for the log.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(e))
    }
}

impl From<io::Error> for StoreError {
    /// A full disk is [`StoreError::NoSpace`]; any other I/O error is [`StoreError::Io`].
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Self::NoSpace,
            _ => Self::Io(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_levels_and_spell_inbox_one_way() {
        assert_eq!(MailboxName::new("inbox").unwrap(), MailboxName::inbox());
        assert_eq!(MailboxName::new("Inbox/x").unwrap().as_str(), "INBOX/x");
        assert_eq!(MailboxName::new("a/inbox").unwrap().as_str(), "a/inbox");
        let n = MailboxName::new("a/b/c").unwrap();
        assert_eq!(n.levels().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(n.parents().collect::<Vec<_>>(), ["a", "a/b"]);
        for bad in ["", "/a", "a/", "a//b"] {
            assert!(MailboxName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn flags_and_quota() {
        let f = Flags::empty().with(Flag::Seen).with(Flag::Deleted);
        assert_eq!(f.iter().collect::<Vec<_>>(), [Flag::Deleted, Flag::Seen]);
        let q = QuotaUsage {
            bytes: 90,
            bytes_limit: Some(100),
            messages: 1,
            messages_limit: Some(2),
        };
        assert!(q.fits(10));
        assert!(!q.fits(11));
        assert!(!QuotaUsage { messages: 2, ..q }.fits(0));
        assert_eq!(
            StoreError::from(io::Error::from(io::ErrorKind::StorageFull)).to_string(),
            "not enough disk space"
        );
    }
}
