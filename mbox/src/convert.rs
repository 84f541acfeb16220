//! Conversion between mbox and Maildir (feature `maildir`), streaming, flags, keywords and dates
//! kept: whole files with [`mbox_to_maildir`] and [`maildir_to_mbox`], one message with
//! [`deliver_entry`], flags alone with `From` between [`Flags`] and
//! [`mailwright_maildir::Flags`].
//!
//! | mbox | Maildir |
//! |---|---|
//! | `Status: R` (`seen`) | `S` |
//! | `X-Status: A` (`answered`) | `R` |
//! | `X-Status: F` (`flagged`) | `F` |
//! | `X-Status: T` (`draft`) | `D` |
//! | `X-Status: D` (`deleted`) | `T` |
//! | `Status: O` (`old`: not \Recent) | in `cur/` rather than `new/` (no letter) |
//! | (none) | `P` (passed): dropped going to mbox |
//! | `X-Keywords:` | keyword letters `a`..`z` (names in `dovecot-keywords`) |
//! | `From ` line date | file mtime (IMAP INTERNALDATE) |
//! | `From ` line sender | `Return-Path:` header (back to mbox; else `MAILER-DAEMON`) |
//!
//! A message without flags, keywords or `O` goes to `new/`; the others go to `cur/` (Maildir has
//! no "flagged but still \Recent" state, so such a message comes back from Maildir with `O`).
//! Bookkeeping headers (`Status`, `X-Status`, `X-Keywords`, `X-UID`, `X-IMAPbase`) are not copied
//! into Maildir files ([`strip_metadata`]).
//!
//! ```
//! use mailwright_maildir::{Flag, Maildir};
//! use mailwright_mbox::convert::deliver_entry;
//! use mailwright_mbox::{Flags, ReadOptions, Reader, Variant};
//!
//! // The flags alone: Status/X-Status letters to Maildir info letters and back.
//! let mbox_flags = Flags { seen: true, answered: true, ..Flags::NONE };
//! let maildir_flags = mailwright_maildir::Flags::from(mbox_flags);
//! assert_eq!(maildir_flags.to_string(), "RS");
//! assert_eq!(Flags::from(maildir_flags), mbox_flags);
//!
//! // One message of an mbox into a Maildir.
//! let dir = tempfile::tempdir()?;
//! let maildir = Maildir::create(dir.path().join("Maildir"))?;
//! let file = b"From alice@example.org Sat Nov 28 12:34:56 2026\nStatus: RO\nSubject: hi\n\nhello\n";
//! let mut reader = Reader::with_options(&file[..], ReadOptions::new(Variant::Mboxrd));
//! let mut text = Vec::new();
//! while let Some(entry) = reader.next_message(&mut text)? {
//!     deliver_entry(&maildir, &entry, &text)?;
//! }
//! let delivered = &maildir.scan()?[0];
//! assert!(delivered.flags().contains(Flag::Seen));
//! assert_eq!(maildir.read_message(delivered)?, b"Subject: hi\n\nhello\n"); // Status: stripped
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::time::SystemTime;

use mailwright_maildir::{Delivered, DeliveryOptions, Flag, Maildir, Subdir};

use crate::Error;
use crate::encode::strip_metadata;
use crate::mailbox::{Mbox, NewMessage};
use crate::types::{Asctime, Entry, Flags, FromLine, Metadata};

/// The standard flags that have a Maildir letter, with it; `old` has none (it is `cur/`
/// against `new/`).
fn lettered(flags: Flags) -> [(bool, Flag); 5] {
    [
        (flags.seen, Flag::Seen),
        (flags.answered, Flag::Replied),
        (flags.flagged, Flag::Flagged),
        (flags.draft, Flag::Draft),
        (flags.deleted, Flag::Trashed),
    ]
}

impl From<Flags> for mailwright_maildir::Flags {
    /// The Maildir info letters of the mbox flags (table in the [module docs](self)); `old`
    /// has no letter: it is where the message goes, `cur/` rather than `new/`.
    fn from(flags: Flags) -> Self {
        lettered(flags)
            .into_iter()
            .filter_map(|(on, letter)| on.then_some(letter))
            .collect()
    }
}

impl From<mailwright_maildir::Flags> for Flags {
    /// The mbox flags of Maildir info letters (table in the [module docs](self)). `P` (passed)
    /// and keyword letters have no mbox flag and are dropped; `old` stays false, since letters
    /// do not say whether the message is in `cur/` (`From<&Entry>` does).
    fn from(letters: mailwright_maildir::Flags) -> Self {
        Flags {
            seen: letters.contains(Flag::Seen),
            old: false,
            answered: letters.contains(Flag::Replied),
            flagged: letters.contains(Flag::Flagged),
            draft: letters.contains(Flag::Draft),
            deleted: letters.contains(Flag::Trashed),
        }
    }
}

impl From<&mailwright_maildir::Entry> for Flags {
    /// The mbox flags of a Maildir message: its info letters, and `old` when it is in `cur/`.
    fn from(entry: &mailwright_maildir::Entry) -> Self {
        Flags {
            old: entry.subdir() == Subdir::Cur,
            ..Flags::from(entry.flags())
        }
    }
}

/// Where a conversion is, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Progress {
    /// Messages done.
    pub messages: u64,
    /// Of how many, when known in advance (Maildir to mbox).
    pub total_messages: Option<u64>,
    /// Bytes done (mbox offset when reading an mbox; message bytes when writing one).
    pub bytes: u64,
    /// Of how many, when known in advance (the mbox size when reading one).
    pub total_bytes: Option<u64>,
}

/// What a conversion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConvertStats {
    /// Messages converted.
    pub messages: u64,
    /// Damage the mbox reader worked around (see [`crate::Tolerated`]).
    pub tolerated: u64,
}

/// Keyword lists already mapped to Maildir letters (each lookup reads `dovecot-keywords`).
type KeywordCache = HashMap<Vec<String>, mailwright_maildir::Flags>;

fn maildir_flags(
    md: &Maildir,
    meta: &Metadata,
    cache: &mut KeywordCache,
) -> Result<(mailwright_maildir::Flags, bool), Error> {
    let mut flags = mailwright_maildir::Flags::from(meta.flags);
    // new/ names carry no info, so a message with keywords goes to cur/ to keep them.
    let recent = !meta.flags.old && flags.is_empty() && meta.keywords.is_empty();
    if !meta.keywords.is_empty() {
        let letters = match cache.get(&meta.keywords) {
            Some(&l) => l,
            None => {
                let names: Vec<&str> = meta.keywords.iter().map(String::as_str).collect();
                let l = md.keyword_flags(&names)?;
                cache.insert(meta.keywords.clone(), l);
                l
            }
        };
        flags = flags.union(letters);
    }
    Ok((flags, recent))
}

/// Delivers one message with its flags, keywords and date, `text` stripped of the bookkeeping
/// headers; the delivery options say where it goes (`new/` when it has no flags at all).
fn deliver_cached(
    md: &Maildir,
    entry: &Entry,
    text: &[u8],
    cache: &mut KeywordCache,
) -> Result<Delivered, Error> {
    let (flags, recent) = maildir_flags(md, &entry.metadata, cache)?;
    let date = entry.from_line.date().map(Asctime::to_system_time);
    let opts = DeliveryOptions {
        time: date,
        flags: (!recent).then_some(flags),
        ignore_quota: true,
        internal_date: date,
    };
    Ok(md.deliver_with(&strip_metadata(text), opts)?)
}

/// Delivers one mbox message into `md`, as [`mbox_to_maildir`] does each: `text` is its
/// unquoted text ([`Reader::next_message`](crate::Reader::next_message)); the flags and
/// keywords of `entry` go into the file name (table in the [module docs](self)), the date of its
/// `From ` line becomes the file's mtime (IMAP INTERNALDATE), and the bookkeeping headers are
/// left out ([`strip_metadata`]). Durable when this returns, as
/// [`Maildir::deliver`] is; the quota is not checked (the message was already the user's).
pub fn deliver_entry(md: &Maildir, entry: &Entry, text: &[u8]) -> Result<Delivered, Error> {
    deliver_cached(md, entry, text, &mut KeywordCache::new())
}

/// Delivers every message of `mbox` into `md`, read under a shared lock, one message in memory
/// at a time. Deliveries are as durable as `md` is set to be ([`Maildir::set_fsync`]).
pub fn mbox_to_maildir(
    mbox: &Mbox,
    md: &Maildir,
    progress: &mut dyn FnMut(Progress),
) -> Result<ConvertStats, Error> {
    let total = std::fs::metadata(mbox.path())?.len();
    let mut stats = ConvertStats::default();
    let mut cache = KeywordCache::new();
    mbox.read_locked(|reader| {
        let mut text = Vec::new();
        while let Some(entry) = reader.next_message(&mut text)? {
            stats.tolerated += entry.tolerated.len() as u64;
            deliver_cached(md, &entry, &text, &mut cache)?;
            stats.messages += 1;
            progress(Progress {
                messages: stats.messages,
                total_messages: None,
                bytes: reader.offset(),
                total_bytes: Some(total),
            });
        }
        Ok(())
    })?;
    Ok(stats)
}

/// The envelope sender from `Return-Path: <addr>`, if it fits a `From ` line.
fn return_path(text: &[u8]) -> Option<String> {
    let mut found = None;
    let end = memchr::memmem::find(text, b"\n\n").map_or(text.len(), |i| i + 1);
    crate::parse::for_each_header(&text[..end], |name, raw, _| {
        if found.is_none() && name.eq_ignore_ascii_case(b"Return-Path") {
            let v = String::from_utf8_lossy(raw);
            let addr = v
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
                .to_owned();
            if !addr.is_empty() && !addr.contains(char::is_whitespace) {
                found = Some(addr);
            }
        }
    });
    found
}

/// Appends every message of `md` (`new/` and `cur/`, in delivery order: mtime, then unique name)
/// to `mbox`, in locked, fsynced batches of up to `batch_bytes` of message text.
pub fn maildir_to_mbox(
    md: &Maildir,
    mbox: &Mbox,
    batch_bytes: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<ConvertStats, Error> {
    let keywords = md.keywords()?;
    let mut entries: Vec<(SystemTime, mailwright_maildir::Entry)> = Vec::new();
    for e in md.scan()? {
        entries.push((md.internal_date(&e)?, e));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.unique().cmp(b.1.unique())));
    let total = entries.len() as u64;
    let mut stats = ConvertStats::default();
    let mut batch: Vec<(FromLine, Metadata, Vec<u8>)> = Vec::new();
    let mut pending = 0usize;
    let mut bytes = 0u64;
    let flush = |batch: &mut Vec<(FromLine, Metadata, Vec<u8>)>| -> Result<(), Error> {
        let msgs: Vec<NewMessage<'_>> = batch
            .iter()
            .map(|(from, metadata, text)| NewMessage {
                from,
                metadata,
                text,
            })
            .collect();
        mbox.append(&msgs)?;
        batch.clear();
        Ok(())
    };
    for (date, entry) in &entries {
        let text = md.read_message(entry)?;
        let metadata = Metadata {
            flags: Flags::from(entry),
            keywords: keywords
                .names_in(entry.flags())
                .into_iter()
                .map(str::to_owned)
                .collect(),
            ..Metadata::default()
        };
        let when = Asctime::from_system_time(*date)?;
        let sender = return_path(&text).unwrap_or_else(|| "MAILER-DAEMON".to_owned());
        let from =
            FromLine::new(&sender, when).or_else(|_| FromLine::new("MAILER-DAEMON", when))?;
        pending += text.len();
        bytes += text.len() as u64;
        batch.push((from, metadata, text));
        stats.messages += 1;
        if pending >= batch_bytes {
            flush(&mut batch)?;
            pending = 0;
        }
        progress(Progress {
            messages: stats.messages,
            total_messages: Some(total),
            bytes,
            total_bytes: None,
        });
    }
    if !batch.is_empty() {
        flush(&mut batch)?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_letter_for_letter() {
        for bits in 0u8..64 {
            let on = |k: u8| bits & (1 << k) != 0;
            let flags = Flags {
                seen: on(0),
                old: on(1),
                answered: on(2),
                flagged: on(3),
                draft: on(4),
                deleted: on(5),
            };
            let letters = mailwright_maildir::Flags::from(flags);
            let expected: String = [
                (on(4), 'D'),
                (on(3), 'F'),
                (on(2), 'R'),
                (on(0), 'S'),
                (on(5), 'T'),
            ]
            .iter()
            .filter_map(|&(set, c)| set.then_some(c))
            .collect();
            assert_eq!(letters.to_string(), expected);
            // `old` is no letter: it comes back false.
            assert_eq!(
                Flags::from(letters),
                Flags {
                    old: false,
                    ..flags
                }
            );
        }
        let passed_and_keyword = mailwright_maildir::Flags::parse("PSa").unwrap();
        assert_eq!(
            Flags::from(passed_and_keyword),
            Flags {
                seen: true,
                ..Flags::NONE
            }
        );
    }
}
