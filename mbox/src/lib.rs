//! # mailwright-mbox
//!
//! Streaming reader and writer for every mbox variant (mboxo, mboxrd, mboxcl, mboxcl2), with
//! locking compatible with mutt, Postfix and Dovecot, and safe rewrites.
//!
//! - [`Reader`]: any [`std::io::Read`] in, [`Entry`]s out (offsets, `From ` line, flags, Dovecot
//!   metadata, what damage was tolerated), in bounded memory whatever the file size; message text
//!   unquoted on request ([`Reader::next_message`]).
//! - [`Writer`] / [`encode_message`]: mbox bytes for any [`std::io::Write`], with quoting,
//!   `Status`/`X-Status`/`X-Keywords`/`X-UID`/`X-IMAPbase` and `Content-Length` headers.
//! - [`Mbox`]: a live file. [`Mbox::append`] locks (dotlock + fcntl, see [`lock`]), writes,
//!   fsyncs, and truncates back on failure; [`Mbox::rewrite`] expunges and changes flags through
//!   a temporary file, fsync and rename.
//! - Maildir (feature `maildir`): `convert::mbox_to_maildir` and `convert::maildir_to_mbox` for
//!   whole files, `convert::deliver_entry` for one message, and `From` conversions between
//!   [`Flags`] and `mailwright_maildir::Flags` (the mapping of `Status`/`X-Status` letters to
//!   Maildir info letters is in the `convert` module docs). [`strip_metadata`] removes the
//!   bookkeeping headers from a message's text, for any other store.
//!
//! ## The variants
//! | variant | `From ` quoting on write | unquoting on read | framing |
//! |---|---|---|---|
//! | mboxo | `From ` → `>From ` | `>From ` → `From ` (lossy) | `From ` lines |
//! | mboxrd (default) | `>*From ` gains a `>` | `>+From ` loses a `>` | `From ` lines |
//! | mboxcl | as mboxo | as mboxo | `Content-Length:`, checked |
//! | mboxcl2 | none | none | `Content-Length:`, checked |
//!
//! A `Content-Length` is trusted only when it ends at the end of the file or right before a
//! (blank line and) `From ` line; otherwise the reader falls back to scanning and reports
//! [`Tolerated::ContentLengthMismatch`].
//!
//! ## What this crate will not do
//!
//! No networking, no MIME parsing and no in-memory loading of whole files (one message at a time
//! at most, when the caller asks for its text). No MMDF. Plain synchronous std code: run it off
//! async threads.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "maildir")]
#[cfg_attr(docsrs, doc(cfg(feature = "maildir")))]
pub mod convert;
mod encode;
mod error;
pub mod lock;
mod mailbox;
mod parse;
mod types;

pub use encode::{WriteOptions, Writer, encode_message, strip_metadata};
pub use error::Error;
pub use lock::{Dotlock, LockOptions, MboxLock};
pub use mailbox::{Action, Mbox, MboxOptions, MessageReader, NewMessage, RewriteStats};
pub use parse::{ReadOptions, Reader, Unquoter, unquote_all};
/// The README's examples, run as doctests (one converts to Maildir: feature `maildir`).
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "maildir"))]
pub struct ReadmeDoctests;

pub use types::{
    Asctime, Entry, Flags, FromLine, ImapBase, LineEnding, Metadata, Tolerated, Variant,
};
