//! The folder index (`mailwright-index`, the maildir crate's [`IndexReader`]) as the store
//! uses it: summaries ([`crate::store::summary`]) kept per message, written where a message is
//! written and read on demand.
//!
//! - One reader per folder in the process, shared by the sessions that have it open (its
//!   memory is an offset per message, no blobs), so that a session costs no more than its view
//!   and only the first one reads the file through; kept for the last folders used
//!   ([`KEPT_FOLDERS`]) when no session has them open.
//! - Never trusted over the Maildir: only messages of the session's last sync are looked up,
//!   and only while their file is there (a `stat`; a message expunged or renamed since is read
//!   from its file, or answered as gone); a message without a line is read and its summary
//!   kept then.
//! - Expunged messages' lines are dropped by compacting the file ([`Maildir::index`]) once
//!   they are over an eighth of the messages indexed.
//! - The SORT and THREAD keys worked out of the messages' headers ([`HeaderKeys`]) are kept
//!   in memory with the reader, by UID, as long as it is kept: a header never changes under
//!   a UID, so they need no check against the Maildir.
//!
//! [`HeaderKeys`]: crate::store::summary::HeaderKeys

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use mailwright_maildir::{Entry, IndexReader, Maildir};

use super::error;
use crate::store::summary::{Cached, SharedKeys, Summary};
use crate::store::types::StoreError;

/// A folder's reader, shared.
pub(crate) type Shared = Arc<Mutex<Folder>>;

/// What the process knows of a folder's index.
#[derive(Debug)]
pub(crate) struct Folder {
    reader: IndexReader,
    /// Messages expunged through this process since the file was last compacted.
    expunged: usize,
    /// SORT and THREAD keys by UID, kept while the folder is (module docs).
    keys: SharedKeys,
}

/// Folders whose readers are kept while no session has them open, so that a client that
/// logs in again (webmail does, per page) finds the offsets read.
const KEPT_FOLDERS: usize = 64;

/// The reader of `md`'s index, shared with the other sessions of this process.
pub(crate) fn shared(md: &Maildir) -> Shared {
    static FOLDERS: OnceLock<Mutex<HashMap<PathBuf, Shared>>> = OnceLock::new();
    let mut folders = FOLDERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(f) = folders.get(md.path()) {
        return f.clone();
    }
    if folders.len() >= KEPT_FOLDERS {
        // Forget the folders no session has open.
        folders.retain(|_, f| Arc::strong_count(f) > 1);
    }
    let f = Arc::new(Mutex::new(Folder {
        reader: IndexReader::new(md),
        expunged: 0,
        keys: SharedKeys::default(),
    }));
    folders.insert(md.path().to_owned(), f.clone());
    f
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Folder> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the index holds of a message listed as `entry`, while its file is where it was
/// listed: one `stat`, no open (a message expunged or renamed since is read as before, which
/// finds it again or answers that it is gone).
pub(crate) fn cached(
    shared: &Shared,
    md: &Maildir,
    entry: &Entry,
) -> Result<Option<Cached>, StoreError> {
    let record = lock(shared).reader.get(md, entry.unique()).map_err(error)?;
    let Some(record) = record else {
        return Ok(None);
    };
    if std::fs::symlink_metadata(md.entry_path(entry)).is_err() {
        return Ok(None);
    }
    Ok(Some(Cached {
        internal_date: record.internal_date,
        summary: record.cached,
    }))
}

/// The internal date the index holds of a message listed as `entry`, while its file is
/// there (as [`cached`], without decoding the summary).
pub(crate) fn internal_date(
    shared: &Shared,
    md: &Maildir,
    entry: &Entry,
) -> Result<Option<std::time::SystemTime>, StoreError> {
    let date = lock(shared)
        .reader
        .internal_date(md, entry.unique())
        .map_err(error)?;
    if date.is_none() || std::fs::symlink_metadata(md.entry_path(entry)).is_err() {
        return Ok(None);
    }
    Ok(date)
}

/// The folder's SORT and THREAD keys, shared like its reader.
pub(crate) fn header_keys(shared: &Shared) -> SharedKeys {
    lock(shared).keys.clone()
}

/// Keeps a message's encoded summary (best effort: a file renamed meanwhile is not indexed).
pub(crate) fn keep(md: &Maildir, entry: &Entry, summary: &[u8]) -> Result<(), StoreError> {
    md.index_cache_entry(entry, summary).map_err(error)?;
    Ok(())
}

/// Indexes a message just written to `path` as `entry`: read back (it is in the page cache)
/// and summarised once here, so that no session has to. Failing changes nothing: the message
/// is indexed when first read.
pub(crate) fn index_written(md: &Maildir, entry: &Entry, path: &std::path::Path) {
    let mut text = Vec::new();
    let read = std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut text));
    if read.is_err() {
        return;
    }
    if let Some(s) = Summary::of_stored(&text)
        && let Err(e) = keep(md, entry, &s.encode())
    {
        tracing::debug!("index: {}: {e}", md.path().display());
    }
}

/// Counts messages expunged from the folder and compacts its index when the lines of expunged
/// messages are over an eighth of those indexed.
pub(crate) fn expunged(shared: &Shared, md: &Maildir, count: usize) -> Result<(), StoreError> {
    let mut folder = lock(shared);
    if folder.reader.is_empty() {
        folder.reader.refresh(md).map_err(error)?;
    }
    folder.expunged += count;
    if !folder.reader.is_empty() && folder.expunged.saturating_mul(8) > folder.reader.len() {
        md.index().map_err(error)?;
        folder.expunged = 0;
    }
    Ok(())
}
