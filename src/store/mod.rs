//! The store layer: the users' mail behind one boundary, and the messages on their way in.
//!
//! - [`MailStore`] and the traits beside it ([`Account`], [`SelectedMailbox`],
//!   [`PreparedAppend`], [`Delivery`], [`Maildrop`]) are everything IMAP, POP3 and local
//!   delivery ask of the users' mail, in backend-neutral terms ([`types`]): mailboxes by name,
//!   messages by UID, POP3 messages by id. The services reach the store as an
//!   `Arc<dyn MailStore>` in their layer's context and never see a file or a path.
//! - [`maildir`]: the store the server runs on, Maildir++ per user through the
//!   `mailwright-maildir` crate.
//! - `postgres` (cargo feature `postgres`, on by default): the users' mail in a PostgreSQL
//!   database that several nodes share.
//! - [`notify`]: change notification per (user, mailbox); every write through a store wakes the
//!   watchers of its mailbox.
//!
//! A message arrives in chunks into a [`Spool`] (memory up to a threshold, then a temporary file in
//! the data directory) with its CRLF line ends turned into LF, as Maildir files are stored on Unix
//! (and as Dovecot and Postfix store them); POP3 and IMAP turn them back into CRLF and report sizes
//! from the `W=` field. Lines are kept as they came, however long, and so are NUL octets (IMAP
//! and POP3 serve them as 0x80).
//!
//! A delivery to several mailboxes is two-phase, so that it is all-or-nothing: the store's
//! [`Delivery`] prepares one copy per mailbox (written and fsynced, not visible; a quota overrun
//! fails here), commits them together, rolls a committed copy back when the message is refused
//! after all, and publishes the copies kept (the IMAP sessions hear of them then). A 250 sent
//! after the commits is a promise kept across a crash. [`deliver`] delivers each copy on its
//! own (the queue's local deliveries, which are per recipient). Blocking: run it off the async
//! threads.

pub mod maildir;
mod mailstore;
pub mod migrate;
pub mod notify;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod summary;
pub mod types;

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

pub use maildir::create_user_maildir;
pub use mailstore::{
    Account, CopyId, Delivery, MailStore, Maildrop, PreparedAppend, SelectedMailbox,
};
pub use notify::{Changes, Notifier};
pub use types::*;

use crate::core::directory::Address;

/// Messages up to this size stay in memory while they arrive.
pub const SPOOL_MEMORY_LIMIT: usize = 1024 * 1024;

/// A message body being received.
#[derive(Debug)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<(std::fs::File, PathBuf)>,
    dir: PathBuf,
    len: u64,
    pending_cr: bool,
    /// Octets of the line being received so far.
    line: u64,
    /// The longest complete or partial line so far, line end excluded.
    longest: u64,
    /// How much may stay in memory before it spills.
    memory_limit: usize,
}

impl Spool {
    /// An empty spool that spills to a file in `dir` past [`SPOOL_MEMORY_LIMIT`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_memory_limit(dir, SPOOL_MEMORY_LIMIT)
    }

    /// An empty spool that spills past `limit` octets (at most [`SPOOL_MEMORY_LIMIT`]): the
    /// messages of one MULTIAPPEND share one memory budget.
    pub fn with_memory_limit(dir: impl Into<PathBuf>, limit: usize) -> Self {
        Self {
            memory: Vec::new(),
            file: None,
            dir: dir.into(),
            len: 0,
            pending_cr: false,
            line: 0,
            longest: 0,
            memory_limit: limit.min(SPOOL_MEMORY_LIMIT),
        }
    }

    /// Octets held in memory (none once spilled).
    pub fn in_memory(&self) -> usize {
        self.memory.len()
    }

    /// The directory it spills to.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a chunk of CRLF text, storing LF line ends (a CR not followed by LF is kept). May
    /// block on the file system once spilled: call it with `tokio::task::block_in_place` or off the
    /// async threads for large messages.
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        let mut out = Vec::with_capacity(chunk.len() + 1);
        if std::mem::take(&mut self.pending_cr) && chunk.first() != Some(&b'\n') {
            out.push(b'\r');
        }
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|b| *b == b'\r') {
            out.extend_from_slice(&rest[..pos]);
            match rest.get(pos + 1) {
                Some(b'\n') => {}
                Some(_) => out.push(b'\r'),
                None => self.pending_cr = true,
            }
            rest = &rest[pos + 1..];
        }
        out.extend_from_slice(rest);
        self.append(&out)
    }

    /// Ends the body: a CR left at the very end is kept.
    fn finish(&mut self) -> io::Result<()> {
        if std::mem::take(&mut self.pending_cr) {
            self.append(b"\r")
        } else {
            Ok(())
        }
    }

    /// The longest line received so far, in octets without its line end.
    pub fn longest_line(&self) -> u64 {
        self.longest.max(self.line)
    }

    fn append(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.len += chunk.len() as u64;
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            self.longest = self.longest.max(self.line + end as u64);
            self.line = 0;
            rest = &rest[end + 1..];
        }
        self.line += rest.len() as u64;
        if let Some((file, _)) = &mut self.file {
            return file.write_all(chunk);
        }
        if self.memory.len() + chunk.len() <= self.memory_limit {
            self.memory.extend_from_slice(chunk);
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!(
            "spool.{}.{}",
            std::process::id(),
            SPOOL_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all(&self.memory)?;
        file.write_all(chunk)?;
        self.memory = Vec::new();
        self.file = Some((file, path));
        Ok(())
    }

    /// The whole body received so far (LF line ends), to read from the start. Blocks once spilled.
    pub fn reader(&mut self) -> io::Result<Box<dyn Read + '_>> {
        self.finish()?;
        let len = self.len;
        match &mut self.file {
            Some((file, _)) => {
                file.seek(SeekFrom::Start(0))?;
                Ok(Box::new(Read::take(&*file, len)))
            }
            None => Ok(Box::new(io::Cursor::new(&self.memory[..]))),
        }
    }

    /// Whether writing `more` bytes keeps the body in memory (so [`write`](Self::write) does not
    /// block and needs no `block_in_place`).
    pub fn stays_in_memory(&self, more: usize) -> bool {
        self.file.is_none() && self.memory.len() + more < self.memory_limit
    }

    /// Whether the body spilled to disk (so copying it blocks).
    pub fn on_disk(&self) -> bool {
        self.file.is_some()
    }
}

static SPOOL_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some((_, path)) = &self.file {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One recipient's copy.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// The local user whose INBOX receives the copy.
    pub user: Address,
    /// The address the envelope named (for `Delivered-To:`), which may be an alias of the user.
    pub envelope_to: String,
}

/// The result for one recipient: the id of the copy (the POP3 unique id), or why it failed.
pub type DeliveryResult = Result<String, StoreError>;

/// Delivers `spool` to every recipient through `store` with `headers` (LF line ends, e.g.
/// `Return-Path:`, `Received:`) and a `Delivered-To:` prepended, each copy on its own (one
/// failing leaves the others delivered). Returns one result per recipient, in order. Blocking.
pub fn deliver(
    store: &dyn MailStore,
    spool: &mut Spool,
    headers: &str,
    recipients: &[Recipient],
) -> Vec<DeliveryResult> {
    let mut delivery = store.delivery();
    let prepared: Vec<Result<CopyId, StoreError>> = recipients
        .iter()
        .map(|r| {
            let prefix = format!("Delivered-To: {}\n{headers}", r.envelope_to);
            let mut message = io::Cursor::new(prefix.into_bytes()).chain(spool.reader()?);
            delivery.prepare(&r.user, &mut message)
        })
        .collect();
    let ids: Vec<CopyId> = prepared
        .iter()
        .filter_map(|p| p.as_ref().ok().copied())
        .collect();
    let mut committed = ids.iter().zip(delivery.commit(&ids));
    let mut results: Vec<Result<CopyId, StoreError>> = prepared
        .into_iter()
        .map(|p| {
            let id = p?;
            match committed.next() {
                Some((_, Ok(()))) => Ok(id),
                Some((_, Err(e))) => Err(e),
                None => Err(StoreError::Misuse("copy not committed")),
            }
        })
        .collect();
    let published: std::collections::HashMap<CopyId, String> =
        delivery.publish().into_iter().collect();
    results
        .drain(..)
        .map(|r| {
            let id = r?;
            published
                .get(&id)
                .cloned()
                .ok_or(StoreError::Misuse("copy not published"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(chunks: &[&[u8]]) -> Vec<u8> {
        let mut spool = Spool::new(std::env::temp_dir());
        for c in chunks {
            spool.write(c).unwrap();
        }
        let mut out = Vec::new();
        spool.reader().unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn any_split_stores_the_same_and_reads_back() {
        let msg = b"Subject: x\r\n\r\na\rb\r\nc\r";
        let whole = stored(&[msg]);
        assert_eq!(whole, b"Subject: x\n\na\rb\nc\r");
        for cut in 0..msg.len() {
            assert_eq!(stored(&[&msg[..cut], &msg[cut..]]), whole, "cut at {cut}");
            let mut spool = Spool::new(std::env::temp_dir());
            spool.write(&msg[..cut]).unwrap();
            spool.write(&msg[cut..]).unwrap();
            let mut read = Vec::new();
            spool.reader().unwrap().read_to_end(&mut read).unwrap();
            assert_eq!(read, whole, "reader, cut at {cut}");
        }
    }

    #[test]
    fn crlf_becomes_lf_across_chunk_boundaries() {
        assert_eq!(stored(&[b"a\r\nb\r\n"]), b"a\nb\n");
        assert_eq!(stored(&[b"a\r", b"\nb\r", b"\n"]), b"a\nb\n");
        assert_eq!(stored(&[b"a\r", b"b\r"]), b"a\rb\r");
        assert_eq!(stored(&[b"\r", b"\r", b"\n"]), b"\r\n");
        assert_eq!(stored(&[b"a\r\r\nb"]), b"a\r\nb");
        for split in 0..=8 {
            let whole = b"x\r\ny\rz\r\n";
            let (a, b) = whole.split_at(split.min(whole.len()));
            assert_eq!(stored(&[a, b]), b"x\ny\rz\n", "split at {split}");
        }
    }

    #[test]
    fn a_spool_with_a_smaller_budget_spills_past_it() {
        let dir = std::env::temp_dir().join(format!("mailwright-budget-{}", std::process::id()));
        let mut spool = Spool::with_memory_limit(&dir, 8);
        assert!(spool.stays_in_memory(4) && !spool.stays_in_memory(8));
        spool.write(b"abc\r\n").unwrap();
        assert_eq!(spool.in_memory(), 4);
        spool.write(b"defgh\r\n").unwrap();
        assert!(spool.on_disk() && spool.in_memory() == 0);
        let mut back = Vec::new();
        spool.reader().unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, b"abc\ndefgh\n");
        drop(spool);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn spool_spills_and_delivers_every_copy_whole() {
        let dir = std::env::temp_dir().join(format!("mailwright-mailbox-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut spool = Spool::new(dir.join("spool"));
        let line = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab\rcd\r\n";
        let mut expected = Vec::new();
        while spool.len() <= SPOOL_MEMORY_LIMIT as u64 + 10 {
            // Split inside the CRLF so the held-back CR is exercised.
            spool.write(&line[..line.len() - 1]).unwrap();
            spool.write(&line[line.len() - 1..]).unwrap();
            expected.extend_from_slice(
                b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab\rcd\n",
            );
        }
        assert!(spool.on_disk());
        let recipients: Vec<Recipient> = ["a@x.org", "b@x.org"]
            .iter()
            .map(|u| Recipient {
                user: u.parse().unwrap(),
                envelope_to: (*u).to_owned(),
            })
            .collect();
        let directory = std::sync::Arc::new(crate::core::directory::Directory::open(
            &dir,
            std::time::Duration::ZERO,
        ));
        let store =
            maildir::MaildirStore::new(directory.clone(), &crate::core::config::Storage::default());
        let results = deliver(&store, &mut spool, "Return-Path: <s@y.org>\n", &recipients);
        for (r, result) in recipients.iter().zip(results) {
            let unique = result.unwrap();
            let md = mailwright_maildir::Maildir::open(directory.maildir_path(&r.user)).unwrap();
            let entry = md.find(&unique).unwrap().unwrap();
            let body = md.read_message(&entry).unwrap();
            let head = format!("Delivered-To: {}\nReturn-Path: <s@y.org>\n", r.envelope_to);
            assert!(body.starts_with(head.as_bytes()));
            assert_eq!(&body[head.len()..], expected.as_slice());
        }
        drop(spool);
        assert_eq!(
            std::fs::read_dir(dir.join("spool")).unwrap().count(),
            0,
            "spool file removed"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
