//! Conversion between mbox and Maildir (feature `maildir`), streaming, flags, keywords and dates
//! kept.
//!
//! | mbox | Maildir |
//! |---|---|
//! | `Status: R` / `X-Status: A F T D` | `S` / `R F D T` in the `:2,` info |
//! | `X-Keywords:` | keyword letters `a`..`z` (names in `dovecot-keywords`) |
//! | `Status: O` (not \Recent) | in `cur/` |
//! | `From ` line date | file mtime (IMAP INTERNALDATE) |
//! | `From ` line sender | `Return-Path:` header (back to mbox; else `MAILER-DAEMON`) |
//!
//! A message without flags, keywords or `O` goes to `new/`; the others go to `cur/` (Maildir has
//! no "flagged but still \Recent" state, so such a message comes back from Maildir with `O`).
//! Bookkeeping headers (`Status`, `X-Status`, `X-Keywords`, `X-UID`, `X-IMAPbase`) are not copied
//! into Maildir files.

use std::collections::HashMap;
use std::time::SystemTime;

use mailwright_maildir::{DeliveryOptions, Flag, Maildir, Subdir};

use crate::Error;
use crate::encode::strip_metadata;
use crate::mailbox::{Mbox, NewMessage};
use crate::types::{Asctime, Flags, FromLine, Metadata};

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
    let mut flags = mailwright_maildir::Flags::empty();
    for (on, flag) in [
        (meta.flags.seen, Flag::Seen),
        (meta.flags.answered, Flag::Replied),
        (meta.flags.flagged, Flag::Flagged),
        (meta.flags.draft, Flag::Draft),
        (meta.flags.deleted, Flag::Trashed),
    ] {
        if on {
            flags.insert(flag);
        }
    }
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
            let (flags, recent) = maildir_flags(md, &entry.metadata, &mut cache)?;
            let date = entry.from_line.date().map(Asctime::to_system_time);
            let opts = DeliveryOptions {
                time: date,
                flags: (!recent).then_some(flags),
                ignore_quota: true,
                internal_date: date,
            };
            md.deliver_with(&strip_metadata(&text), opts)?;
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
        let f = entry.flags();
        let metadata = Metadata {
            flags: Flags {
                seen: f.contains(Flag::Seen),
                old: entry.subdir() == Subdir::Cur,
                answered: f.contains(Flag::Replied),
                flagged: f.contains(Flag::Flagged),
                draft: f.contains(Flag::Draft),
                deleted: f.contains(Flag::Trashed),
            },
            keywords: keywords
                .names_in(f)
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
