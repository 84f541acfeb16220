//! Expunged messages kept readable for a while, for the sessions that still show them.
//!
//! RFC 2180 §4.1: a session may have to answer a FETCH of a message another session expunged,
//! because it may not announce the EXPUNGE in the middle of a FETCH, STORE or SEARCH (RFC 3501
//! §7.4.1). Dovecot then answers the FETCH without the body (`BODY[] NIL`) and `[EXPUNGEISSUED]`.
//! We do better where it is cheap: a removal by this crate ([`Maildir::expunge`],
//! [`Maildir::remove`], [`Maildir::remove_many`], the sources of [`Maildir::move_uids`]) renames
//! the file into the folder's `mailwright-expunged/` instead of unlinking it, and
//! [`Maildir::reopen`] finds it there by unique name. It stays there for the grace period
//! ([`EXPUNGED_GRACE`], 60 s by default, [`Maildir::set_expunged_grace`]); removals sweep out the
//! older ones at most every eighth of the period, and [`Maildir::purge_expunged`] does it on demand.
//!
//! What is and is not promised: a message removed by this crate is readable for at least the
//! grace period (unless the whole folder is deleted); a message removed by another program
//! (Dovecot, mutt) is gone at once, and [`Reopened::Gone`] says so, for the caller to answer as
//! Dovecot does. A caller that keeps the [`File`] it opened can read it as long as it keeps it,
//! whoever removes the name. The removal itself is as durable as an unlink (the rename out of
//! `cur/` is fsynced like one); the quota is credited at once; the folder's scans, UIDs and
//! Dovecot never see the directory (it is not `new/` or `cur/`, and its name does not start with
//! `.`, so it is no Maildir++ folder).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result, io_err};
use crate::name::INFO_SEPARATOR;
use crate::store::{Entry, Maildir};

/// The directory in a folder that holds expunged messages for the grace period.
pub const EXPUNGED_DIR: &str = "mailwright-expunged";

/// How long a removed message stays readable by [`Maildir::reopen`] by default
/// ([`Maildir::set_expunged_grace`]).
pub const EXPUNGED_GRACE: Duration = Duration::from_mins(1);

/// A message opened again by [`Maildir::reopen`].
#[derive(Debug)]
pub enum Reopened {
    /// The message is in the folder: the open file and its entry as found now.
    Present(File, Entry),
    /// The message was expunged, and is still readable (module docs): the open file.
    Expunged(File),
    /// The message is gone (expunged longer ago than the grace period, or by another program):
    /// answer as RFC 2180 §4.1 allows (Dovecot: `BODY[] NIL` and `[EXPUNGEISSUED]`).
    Gone,
}

impl Maildir {
    /// Sets how long removed messages stay readable by [`reopen`](Self::reopen). Default
    /// [`EXPUNGED_GRACE`] (60 s); `Duration::ZERO` unlinks at once.
    pub fn set_expunged_grace(&mut self, grace: Duration) {
        self.expunged_grace = grace;
    }

    /// Opens a message by its unique name, following a concurrent rename, and also when it was
    /// expunged meanwhile but is still kept (module docs): for a session that still shows it.
    pub fn reopen(&self, entry: &Entry) -> Result<Reopened> {
        match self.open_message(entry) {
            Ok((f, e)) => return Ok(Reopened::Present(f, e)),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let dir = self.path.join(EXPUNGED_DIR);
        // The name it had is the likely one; else the one with its unique name.
        match File::open(dir.join(entry.file_name())) {
            Ok(f) => return Ok(Reopened::Expunged(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("open", &dir)(e)),
        }
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Reopened::Gone),
            Err(e) => return Err(io_err("read_dir", &dir)(e)),
        };
        for dent in entries.flatten() {
            let name = dent.file_name();
            let Some(name) = name.to_str() else { continue };
            let same = name
                .strip_prefix(entry.unique())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(INFO_SEPARATOR));
            if same {
                match File::open(dent.path()) {
                    Ok(f) => return Ok(Reopened::Expunged(f)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("open", &dent.path())(e)),
                }
            }
        }
        Ok(Reopened::Gone)
    }

    /// Removes the kept expunged messages older than the grace period at `now` (by when they
    /// were removed: their inode change time). Returns how many went.
    pub fn purge_expunged(&self, now: SystemTime) -> Result<usize> {
        let dir = self.path.join(EXPUNGED_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err("read_dir", &dir)(e)),
        };
        let mut n = 0;
        for dent in entries.flatten() {
            let Ok(meta) = dent.metadata() else { continue };
            // A rename sets the inode's change time: when it was expunged.
            let removed_at = UNIX_EPOCH
                + Duration::new(
                    u64::try_from(meta.ctime()).unwrap_or(0),
                    u32::try_from(meta.ctime_nsec()).unwrap_or(0),
                );
            let old = now
                .duration_since(removed_at)
                .is_ok_and(|age| age >= self.expunged_grace);
            if old && fs::remove_file(dent.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// [`purge_expunged`](Self::purge_expunged) after a removal, at most every eighth of the
    /// grace period per handle (best effort).
    pub(crate) fn sweep_expunged(&self, now: SystemTime) {
        if self.expunged_grace.is_zero() {
            return;
        }
        {
            let mut last = self
                .swept
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|t| {
                now.duration_since(t)
                    .is_ok_and(|d| d < self.expunged_grace / 8)
            }) {
                return;
            }
            *last = Some(now);
        }
        let _ = self.purge_expunged(now);
    }

    /// Takes a message file out of the folder: into [`EXPUNGED_DIR`] when there is a grace
    /// period, else unlinked. `NotFound` when the file is not there.
    pub(crate) fn discard(&self, path: &std::path::Path, file_name: &str) -> io::Result<()> {
        if self.expunged_grace.is_zero() {
            return fs::remove_file(path);
        }
        let dir = self.path.join(EXPUNGED_DIR);
        let kept = dir.join(file_name);
        match fs::rename(path, &kept) {
            Ok(()) => Ok(()),
            // Either the file or the directory is missing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::symlink_metadata(path)?;
                match fs::create_dir(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(_) => return fs::remove_file(path),
                }
                fs::rename(path, &kept).or_else(|e| match e.kind() {
                    io::ErrorKind::NotFound => Err(e),
                    _ => fs::remove_file(path),
                })
            }
            // No room to keep it (permissions, a full directory): remove it outright.
            Err(_) => fs::remove_file(path),
        }
    }
}
