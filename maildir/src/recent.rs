//! `\Recent` (RFC 3501 §2.3.2): the folder's first-recent UID.
//!
//! "This session is the first session to have been notified about this message; if the session
//! is read-write, subsequent sessions will not see \Recent set for this message." Dovecot keeps a
//! `first_recent_uid` in its index; we keep ours beside Dovecot's files as the *name* of an empty
//! file, `mailwright-recent.<uidvalidity>.<uid>`: every message whose UID is at least `<uid>` is
//! recent and unclaimed.
//!
//! A read-write session claims them by renaming the file to `…<uidnext>` (the UIDNEXT its sync
//! saw): the rename is a compare-and-swap, it succeeds for one session only, and a session that
//! loses re-reads the name and claims what is left, if anything. So each message is \Recent in
//! exactly one read-write session, without taking the uidlist lock, and a read-only session or
//! STATUS reads the name without claiming. The name is never torn by a crash (a rename is atomic);
//! a crash may lose the last claims, which then only makes those messages recent once more.
//!
//! The file is created under the uidlist lock (so there is only ever one per UIDVALIDITY): when a
//! folder's uidlist is created, at the first UID of the folder; for a folder from before this file
//! existed (or after the file was lost), at the first UID of what no reader has seen (the messages
//! still in `new/`, and those this sync numbers). A uidlist rebuilt with a new UIDVALIDITY gets a
//! new file and the old one goes.

use std::fs::{self, OpenOptions};
use std::io;
use std::ops::Range;

use crate::error::{Error, Result, io_err};
use crate::store::Maildir;

/// The prefix of the first-recent file: `mailwright-recent.<uidvalidity>.<first recent UID>`.
pub const RECENT_PREFIX: &str = "mailwright-recent.";

/// How often a claim re-reads the file after losing a race before giving up.
const MAX_CLAIM_RETRIES: usize = 32;

impl Maildir {
    fn recent_path(&self, uid_validity: u32, first: u32) -> std::path::PathBuf {
        self.path
            .join(format!("{RECENT_PREFIX}{uid_validity}.{first}"))
    }

    /// The first-recent UID recorded for `uid_validity`, `None` when there is no such file. The
    /// handle remembers the last name it saw, so this is one `stat` when nobody claimed since.
    /// When somebody did, `guess` (the UIDNEXT the caller knows, where a claim most often moves
    /// the file) is tried with one more `stat` before the folder is listed.
    pub(crate) fn read_first_recent(
        &self,
        uid_validity: u32,
        guess: Option<u32>,
    ) -> Result<Option<u32>> {
        let hint = self.meta_cache_recent();
        let tried = hint.filter(|&(v, _)| v == uid_validity).map(|(_, r)| r);
        for r in tried.into_iter().chain(guess.filter(|&g| Some(g) != tried)) {
            if fs::symlink_metadata(self.recent_path(uid_validity, r)).is_ok() {
                if Some(r) != tried {
                    self.set_meta_cache_recent(uid_validity, r);
                }
                return Ok(Some(r));
            }
        }
        let mine: Vec<u32> = self
            .recent_files()?
            .into_iter()
            .filter(|(v, _)| *v == uid_validity)
            .map(|(_, r)| r)
            .collect();
        let found = mine.iter().copied().max();
        if let Some(r) = found {
            // There is one file per UIDVALIDITY; should a second ever appear, the larger wins
            // and the other goes (as Dovecot treats its UIDVALIDITY counter).
            for &other in mine.iter().filter(|&&o| o != r) {
                let _ = fs::remove_file(self.recent_path(uid_validity, other));
            }
            self.set_meta_cache_recent(uid_validity, r);
        }
        Ok(found)
    }

    /// The `(uidvalidity, first recent)` of every first-recent file of this folder.
    fn recent_files(&self) -> Result<Vec<(u32, u32)>> {
        let mut out = Vec::new();
        for dent in fs::read_dir(&self.path).map_err(io_err("read_dir", &self.path))? {
            let dent = dent.map_err(io_err("read_dir", &self.path))?;
            let name = dent.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(RECENT_PREFIX)) else {
                continue;
            };
            let Some((v, r)) = rest.split_once('.') else {
                continue;
            };
            if let (Ok(v), Ok(r)) = (v.parse::<u32>(), r.parse::<u32>()) {
                out.push((v, r));
            }
        }
        Ok(out)
    }

    /// Creates the first-recent file of `uid_validity` at `first`, removing those of other
    /// UIDVALIDITYs. Only under the uidlist lock (module docs); a file already there for this
    /// UIDVALIDITY is kept and its value returned.
    pub(crate) fn create_first_recent(&self, uid_validity: u32, first: u32) -> Result<u32> {
        let mut kept = None;
        for (v, r) in self.recent_files()? {
            if v == uid_validity {
                kept = Some(kept.map_or(r, |k: u32| k.max(r)));
            } else {
                let _ = fs::remove_file(self.recent_path(v, r));
            }
        }
        if let Some(r) = kept {
            return Ok(r);
        }
        let path = self.recent_path(uid_validity, first);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("create", &path)(e)),
        }
        self.set_meta_cache_recent(uid_validity, first);
        Ok(first)
    }

    /// Claims for this session every message of `uid_validity` with a UID from the first-recent
    /// UID up to (not including) `uid_next`, and moves the first-recent UID to `uid_next`. Returns
    /// the UIDs claimed: empty when another session claimed them first or there were none. Some
    /// of them may name messages this session has not synced yet (or that are gone): they are
    /// recent here when they show up.
    ///
    /// [`sync_claim_recent`](Self::sync_claim_recent) claims at each sync; a read-write session
    /// that learns of messages through its own APPEND or COPY calls this with the UIDNEXT after
    /// them (from [`Appended::uid`](crate::Appended::uid) + 1 or the largest UID of a
    /// [`CopyResult`](crate::CopyResult) + 1), so they are recent there, as in Dovecot, and
    /// nowhere else.
    pub fn claim_recent(&self, uid_validity: u32, uid_next: u32) -> Result<Range<u32>> {
        if let Some(r) = self.try_claim_recent(uid_validity, uid_next)? {
            return Ok(r);
        }
        // No first-recent file yet (a folder from before it existed): make one, then claim.
        self.ensure_first_recent(uid_validity)?;
        Ok(self
            .try_claim_recent(uid_validity, uid_next)?
            .unwrap_or(uid_next..uid_next))
    }

    /// [`claim_recent`](Self::claim_recent), or `None` when the folder has no first-recent file
    /// for `uid_validity`.
    pub(crate) fn try_claim_recent(
        &self,
        uid_validity: u32,
        uid_next: u32,
    ) -> Result<Option<Range<u32>>> {
        for _ in 0..MAX_CLAIM_RETRIES {
            // A session that won the race most often claimed up to the same UIDNEXT.
            let Some(first) = self.read_first_recent(uid_validity, Some(uid_next))? else {
                return Ok(None);
            };
            if first >= uid_next {
                return Ok(Some(uid_next..uid_next));
            }
            let from = self.recent_path(uid_validity, first);
            match fs::rename(&from, self.recent_path(uid_validity, uid_next)) {
                Ok(()) => {
                    self.set_meta_cache_recent(uid_validity, uid_next);
                    return Ok(Some(first..uid_next));
                }
                // Another session claimed meanwhile: read the name again.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.forget_meta_cache_recent();
                }
                Err(e) => return Err(io_err("rename", &from)(e)),
            }
        }
        Err(Error::Contended(self.path.display().to_string()))
    }
}

/// Where the recent messages start in a folder that has no first-recent file: at the first UID of
/// what no reader has seen, the messages still in `new/` (`in_new`) and those not numbered yet
/// (from `next_uid` on).
pub(crate) fn first_unseen(next_uid: u32, in_new: impl IntoIterator<Item = u32>) -> u32 {
    in_new.into_iter().fold(next_uid, u32::min)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use crate::name;
    use crate::store::Maildir;

    /// A handle whose remembered name is stale (another handle claimed) finds the file under
    /// the guess, or by listing when the guess is wrong; and none when there is none.
    #[test]
    fn a_stale_hint_is_followed_by_the_guess_then_a_listing() {
        let dir = std::env::temp_dir().join(format!(
            "mw-maildir-recent-{}-{}",
            std::process::id(),
            name::unique_base(SystemTime::now(), "t")
        ));
        let a = Maildir::create(&dir).expect("maildir");
        let b = Maildir::open(&dir).expect("maildir");
        let v = a.sync().expect("sync").uid_validity;
        assert_eq!(b.read_first_recent(v, None).expect("read"), Some(1));
        assert_eq!(a.claim_recent(v, 5).expect("claim"), 1..5);
        // The guess right.
        assert_eq!(b.read_first_recent(v, Some(5)).expect("read"), Some(5));
        assert_eq!(a.claim_recent(v, 9).expect("claim"), 5..9);
        // The guess wrong: listed.
        assert_eq!(b.read_first_recent(v, Some(7)).expect("read"), Some(9));
        // Another UIDVALIDITY: none, whatever the guess.
        assert_eq!(b.read_first_recent(v + 1, Some(9)).expect("read"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
