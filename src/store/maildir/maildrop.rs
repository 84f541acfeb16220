//! The POP3 maildrop of a Maildir: its INBOX, locked by an exclusive lock on a file in the
//! Maildir (so other processes see the lock too), listed once in delivery order; deletions are
//! made at the UPDATE state.

use std::io;
use std::sync::Arc;

use mailwright_maildir::{Entry, Maildir};

use super::error;
use crate::core::directory::Address;
use crate::store::Maildrop;
use crate::store::notify::Notifier;
use crate::store::types::{MailboxName, MaildropMessage, StoreError};

/// Name of the lock file a POP3 session holds in the Maildir.
pub const POP3_LOCK_FILE: &str = "mailwright-pop3.lock";

/// A locked Maildir INBOX.
#[derive(Debug)]
pub(super) struct MaildirMaildrop {
    md: Maildir,
    user: Address,
    notifier: Arc<Notifier>,
    entries: Vec<Entry>,
    list: Vec<MaildropMessage>,
    _lock: std::fs::File,
}

impl MaildirMaildrop {
    /// Locks and lists `md`.
    pub(super) fn lock(
        md: Maildir,
        user: Address,
        notifier: &Arc<Notifier>,
    ) -> Result<Self, StoreError> {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(md.path().join(POP3_LOCK_FILE))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::InUse),
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        let mut entries = md.scan().map_err(error)?;
        entries.sort_by(|a, b| mailwright_maildir::delivery_order(a.unique(), b.unique()));
        let mut list = Vec::with_capacity(entries.len());
        for entry in &entries {
            // Sizes are the CRLF sizes POP3 sends (RFC 1939 §5): `W=` from the name, else
            // counted from the file.
            let size = match entry.vsize() {
                Some(v) => v,
                None => crlf_size(&md, entry)?,
            };
            list.push(MaildropMessage {
                size,
                id: entry.unique().to_owned(),
            });
        }
        Ok(Self {
            md,
            user,
            notifier: notifier.clone(),
            entries,
            list,
            _lock: lock,
        })
    }
}

fn crlf_size(md: &Maildir, entry: &Entry) -> Result<u64, StoreError> {
    let bytes = md.read_message(entry).map_err(error)?;
    #[allow(clippy::naive_bytecount)] // a rare fallback, not worth a dependency
    let lf = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    let crlf = bytes.windows(2).filter(|w| w == b"\r\n").count() as u64;
    Ok(bytes.len() as u64 + lf - crlf)
}

impl Maildrop for MaildirMaildrop {
    fn messages(&self) -> &[MaildropMessage] {
        &self.list
    }

    fn open(&self, index: usize) -> Result<Box<dyn io::Read + Send>, StoreError> {
        let entry = self
            .entries
            .get(index)
            .ok_or(StoreError::Misuse("no such message in the maildrop"))?;
        let (file, _) = self.md.open_message(entry).map_err(error)?;
        Ok(Box::new(file))
    }

    fn delete(self: Box<Self>, indexes: &[usize]) -> Result<usize, StoreError> {
        let doomed: Vec<&Entry> = indexes
            .iter()
            .filter_map(|&i| self.entries.get(i))
            .collect();
        let n = self.md.remove_many(doomed).map_err(error)?;
        if n > 0 {
            self.notifier.changed(&self.user, &MailboxName::inbox());
        }
        Ok(n)
    }
}
