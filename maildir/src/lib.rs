//! # mailwright-maildir
//!
//! Durable, concurrent Maildir and Maildir++ storage: delivery that survives a crash, flags in
//! file names, folders, quotas, and IMAP metadata (UIDs, keywords, MODSEQ) compatible with
//! Dovecot.
//!
//! - [`Maildir::create_user`] / [`Maildir::create`] / [`Maildir::open`] /
//!   [`Maildir::open_or_create`]: a user's store.
//! - Delivery: [`Maildir::delivery`] returns a [`Delivery`] you write chunks into (it is a
//!   [`std::io::Write`]); [`Delivery::commit`] fsyncs the file, links it into `new/` and fsyncs
//!   the directory, so `Ok` means on disk. Dropping or [`Delivery::abort`] removes the tmp file.
//!   [`Maildir::deliver`] and [`Maildir::deliver_from`] do it from bytes or a reader.
//! - Listing: [`Maildir::scan`] reads one directory listing per subdirectory; each [`Entry`]
//!   gives its unique name ([`Entry::unique`], the POP3 UIDL), size ([`Entry::size`], from
//!   `S=`), and flags.
//! - Reading: [`Maildir::open_message`] returns a [`std::fs::File`].
//! - Flags and deletion: [`Maildir::set_flags`], [`Maildir::move_to_cur`], [`Maildir::remove`],
//!   [`Maildir::remove_many`]; each follows a concurrent rename by another process.
//! - Folders (Maildir++): [`Maildir::create_folder`], [`Maildir::folder`],
//!   [`Maildir::list_folders`], subscriptions, quotas ([`Quota`]).
//! - IMAP metadata: [`Maildir::sync`] returns a [`MailboxState`] (UIDVALIDITY, UIDNEXT,
//!   HIGHESTMODSEQ, per-message UID and MODSEQ, keywords, `\Recent`), kept in Dovecot's own
//!   `dovecot-uidlist` and `dovecot-keywords` so Dovecot and Mailwright can serve the same
//!   folder in turn, and in files of ours beside them for what Dovecot keeps in its index.
//!   UIDVALIDITY comes from the user's counter, shared with Dovecot (`dovecot-uidvalidity`).
//! - `\Recent` (RFC 3501 §2.3.2): [`Maildir::sync_claim_recent`] claims the recent messages
//!   for one read-write session ([`MailboxState::claimed_recent`]); [`Maildir::sync`] only
//!   shows them ([`MailboxState::unclaimed_recent`]); [`Maildir::claim_recent`] after the
//!   session's own APPEND or COPY.
//! - Keywords, any number: [`Maildir::store`] and [`Maildir::append_with`] take names; the first
//!   26 of a folder are Maildir letters, the rest kept in `mailwright-keywords`
//!   ([`UidMessage::extra_keywords`], [`MailboxState::keyword_names`]).
//! - [`Maildir::copy_uids`] / [`Maildir::move_uids`] copy a set all or nothing, with
//!   consecutive UIDs (UIDPLUS mappings) and the quota checked for the whole set.
//! - QRESYNC (RFC 7162): [`Maildir::vanished_since`] names the UIDs expunged since a MODSEQ,
//!   from a bounded history kept beside the MODSEQs (`mailwright-vanished`).
//! - A per-folder index ([`Maildir::index`], [`FolderIndex`]): internal dates, sizes and what a
//!   server caches per message, checksummed, caught up with the Maildir at each read; or read
//!   on demand, a line at a time ([`IndexReader`]).
//! - Expunged messages stay readable for a while ([`Maildir::reopen`], [`Reopened`]) for the
//!   sessions that still show them (RFC 2180 §4.1).
//!
//! ```
//! use std::io::{Read, Write};
//! use mailwright_maildir::{Flag, FlagUpdate, Flags, Maildir};
//!
//! let dir = std::env::temp_dir().join(format!("mw-maildir-doc-{}", std::process::id()));
//! let inbox = Maildir::create_user(&dir)?; // INBOX + Drafts, Sent, Trash, Junk
//!
//! // Stream a message in chunks (as an SMTP DATA phase would); durable once commit returns.
//! let mut d = inbox.delivery()?;
//! d.write_all(b"Subject: hi\r\n\r\n")?;
//! d.write_all(b"hello\r\n")?;
//! let delivered = d.commit()?;
//! let uidl = delivered.unique().to_owned();
//!
//! // List with sizes and stable ids, read, flag, delete.
//! let list = inbox.scan()?;
//! assert_eq!(list.len(), 1);
//! assert_eq!(list[0].unique(), uidl);
//! assert_eq!(list[0].size(), Some(22));
//! let (mut file, _) = inbox.open_message(&list[0])?;
//! let mut text = String::new();
//! file.read_to_string(&mut text)?;
//! assert!(text.ends_with("hello\r\n"));
//! let seen = inbox.set_flags(&list[0], FlagUpdate::Add(Flags::empty().with(Flag::Seen)))?;
//! assert_eq!(seen.info(), Some("2,S"));
//! assert_eq!(inbox.remove_many(&[seen])?, 1);
//! assert!(inbox.scan()?.is_empty());
//! assert_eq!(inbox.list_folders()?, ["Drafts", "Junk", "Sent", "Trash"]);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## For a mail server
//!
//! | need | call |
//! |---|---|
//! | a new account | [`Maildir::create_user`] (INBOX + [`DEFAULT_FOLDERS`], subscribed) |
//! | SMTP/LMTP delivery, streamed | [`Maildir::delivery`], `write_all` per chunk, [`Delivery::commit`] |
//! | POP3 list / UIDL / RETR / DELE | [`Maildir::scan`], [`Entry::unique`], [`Entry::size`], [`Maildir::open_message`], [`Maildir::remove_many`] |
//! | IMAP SELECT / NOOP (read-write) | [`Maildir::sync_claim_recent`] → [`MailboxState`] with [`MailboxState::claimed_recent`] (skip it when [`Maildir::is_unchanged`]) |
//! | IMAP EXAMINE / STATUS | [`Maildir::sync`]; RECENT is [`MailboxState::unclaimed_recent`] |
//! | IMAP FETCH | [`Maildir::reopen`] (also finds a message another session expunged meanwhile), [`Maildir::internal_date`], [`MailboxState::keyword_names`] |
//! | IMAP STORE (+ CONDSTORE `UNCHANGEDSINCE`) | [`Maildir::store`] (keywords by name, any number); or [`Maildir::set_flags_many`] then [`Maildir::sync`] |
//! | IMAP APPEND / COPY / MOVE / EXPUNGE | [`Maildir::append_with`] (in two steps: [`Maildir::prepare_append`]) or [`Delivery::commit`] + [`Maildir::assign_uids`], then [`Maildir::claim_recent`] when the session has the folder selected; [`Maildir::copy_uids`]; [`Maildir::move_uids`]; [`Maildir::expunge`] |
//! | IMAP LIST / CREATE / DELETE / RENAME / LSUB | [`Maildir::list_folders`], [`Maildir::create_folder`], [`Maildir::delete_folder`], [`Maildir::rename_folder`], [`Maildir::subscriptions`] |
//!
//! [`Maildir`] is `Send + Sync` and cheap to clone; every call is blocking file-system work, to be
//! run off the async threads. Folder names use `.` as the hierarchy separator (Maildir++), so a
//! name cannot hold a literal `.`; mapping IMAP names (modified UTF-7, `/`) is the caller's job.
//!
//! ## Limits and their defaults
//!
//! | limit | default | where |
//! |---|---|---|
//! | wait for `dovecot-uidlist.lock` | 30 s | [`Maildir::set_lock_timeout`], [`DEFAULT_LOCK_TIMEOUT`] |
//! | stale `dovecot-uidlist.lock` | 2 min untouched, or its pid dead on this host | Dovecot's rule, fixed |
//! | stale `tmp/` file | 36 h | [`STALE_TMP_AGE`], [`Maildir::clean_tmp_older_than`] |
//! | retries after concurrent renames | 32 per operation, then [`Error::Contended`] | fixed |
//! | folder name | 254 bytes | [`MAX_FOLDER_NAME`] |
//! | keywords per folder | 1024, the first 26 as letters `a`..`z` | [`MAX_KEYWORDS`], fixed; [`Error::TooManyKeywords`] |
//! | expunged messages kept readable | 60 s | [`EXPUNGED_GRACE`], [`Maildir::set_expunged_grace`] |
//! | fsync | on | [`Maildir::set_fsync`] |
//! | MODSEQs per durable reservation | 65536 | [`MODSEQ_RESERVE`], fixed |
//! | records of expunged messages kept in `dovecot-uidlist` | 256, or as many as live ones | [`STALE_RECORDS`], fixed |
//!
//! What is fsynced before a call returns, and why the rest may wait: new UIDs always; message
//! files and directory entries always; MODSEQs through a durable reservation; the removal of
//! expunged messages' uidlist records at the next rewrite. The argument is in the `uids` module
//! source.
//!
//! ## Files beside Dovecot's
//!
//! | file (in each folder unless said) | holds | written |
//! |---|---|---|
//! | `dovecot-uidlist`, `dovecot-keywords` | Dovecot's own: UIDs, UIDVALIDITY, keyword letters | as Dovecot does, under `dovecot-uidlist.lock` |
//! | `dovecot-uidvalidity` + `dovecot-uidvalidity.<hex>` (root) | Dovecot's per-user UIDVALIDITY counter | as Dovecot does (renames), root fsynced |
//! | `maildirsize` (root) | Maildir++ quota | appended; recalculated past 5120 bytes |
//! | `mailwright-modseq`, `mailwright-modseq.floor` | MODSEQs and their durable reservation | appended under the lock; the floor durably |
//! | `mailwright-recent.<uidvalidity>.<uid>` | the first `\Recent` UID, in the (empty) file's name | renamed to claim (no lock); made under the lock |
//! | `mailwright-keywords` | keywords past the 26 letters, by unique name | replaced under the lock, durable like a flag change |
//! | `mailwright-expunged/` | expunged files for [`EXPUNGED_GRACE`] | renamed into at each removal |
//! | `mailwright-index` | per message: internal date, size, a cached blob ([`Maildir::index`]) | appended without lock; replaced to compact; never fsynced (rebuilt from the Maildir) |
//! | `tmp/mwcopy-<id>-<unique>` | a COPY's staged files until its commit | `tmp/` fsynced before the commit |
//!
//! A Dovecot pointed at the same Maildirs ignores ours: it sees the keyword letters, its own
//! `\Recent`, and none of our files as mailboxes.
//!
//! ## What this crate will not do
//!
//! No networking, no async runtime and no MIME parsing: plain synchronous std code that the
//! caller runs off its async threads.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's example, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod atomic;
mod changes;
mod copy;
mod delivery;
mod error;
mod expunged;
mod flags;
mod folders;
mod groupsync;
mod incremental;
mod index;
mod keywords;
mod lock;
mod name;
mod quota;
mod recent;
mod store;
mod uidlist;
mod uids;
mod uidvalidity;
mod vanished;

pub use changes::PreparedAppend;
pub use delivery::{Delivered, Delivery, DeliveryOptions};
pub use error::{Error, Result};
pub use expunged::{EXPUNGED_DIR, EXPUNGED_GRACE, Reopened};
pub use flags::{Flag, FlagUpdate, Flags};
pub use folders::{
    DEFAULT_FOLDERS, MAILDIRFOLDER, MAX_FOLDER_NAME, SUBSCRIPTIONS, validate_folder_name,
};
pub use index::{FolderIndex, INDEX_FILE, IndexOutcome, IndexReader, IndexRecord};
pub use keywords::{EXTRA_KEYWORDS_FILE, KEYWORDS_FILE, Keywords, MAX_KEYWORDS, is_valid_keyword};
pub use lock::DEFAULT_LOCK_TIMEOUT;
pub use name::{
    FileName, INFO_SEPARATOR, delivery_order, is_valid_base, sanitize_host, system_hostname,
    unique_base, with_flags,
};
pub use quota::{MAILDIRSIZE, Quota, QuotaUsage};
pub use recent::RECENT_PREFIX;
pub use store::{Entry, Maildir, STALE_TMP_AGE, Subdir};
pub use uidlist::{UIDLIST, UidList, UidListError, UidRecord};
pub use uids::{
    Appended, CopyResult, MODSEQ_FILE, MODSEQ_FLOOR_FILE, MODSEQ_RESERVE, MailboxState,
    STALE_RECORDS, StoreResult, UidMessage,
};
pub use uidvalidity::UIDVALIDITY_FILE;
pub use vanished::{
    UidRanges, VANISHED_FILE, VANISHED_MAX_LINES, VANISHED_MAX_RANGES, VanishedHistory,
};
