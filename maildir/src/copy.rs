//! COPY and MOVE of a set of messages, all or nothing (RFC 3501 §6.4.7: "If the COPY command is
//! unsuccessful for any reason, server implementations MUST restore the destination mailbox to
//! its state before the COPY attempt"; RFC 6851 MOVE; RFC 4315 COPYUID).
//!
//! The steps, for a set of `n` messages copied into a destination folder:
//!
//! 1. The whole set's size is checked against the destination's quota, once, before anything is
//!    written (a MOVE within one quota root is not charged: its net change is zero).
//! 2. *Staging*: each message is hard-linked (or, across file systems, copied and fsynced) into
//!    the destination's `tmp/` as `mwcopy-<copy id>-<unique name>`, then `tmp/` is fsynced.
//!    Nothing is visible yet; a source gone meanwhile fails the whole copy
//!    ([`Error::Expunged`]) and the staged files are removed.
//! 3. Under the destination's uidlist lock: the staged files are linked into `cur/` under their
//!    unique names with the flags and keywords mapped by name, `cur/` is fsynced, then the `n`
//!    records with consecutive UIDs are appended to `dovecot-uidlist` in one write and fsynced.
//!    That fsync is the commit. The staged names go after it, still under the lock.
//!
//! Readers never see part of a copy: our syncs and Dovecot find the new files in `cur/` without
//! records and wait for the uidlist lock to number them, by which time the records are there. A
//! crash before the commit leaves files in `cur/` without (all their) records: the first locked
//! sync of the folder, before it numbers anything, finds their staged names in `tmp/` and
//! removes them from `cur/` (records that made it are then records of gone files, which every
//! sync ignores; their UIDs are never given again). A crash after the commit leaves a whole copy,
//! and the staged names, which that sync removes. Staged files of a copy that never reached the
//! lock stay in `tmp/` until tmp cleaning (36 hours), like an interrupted delivery.
//!
//! What this does not cover: a reader that lists `cur/` without taking the uidlist lock (POP3
//! listing, mutt) can see the files of a copy in progress; a Dovecot that opens the folder after a
//! crash and before our next sync numbers what it finds; on a file system without hard links the
//! staged file is renamed into `cur/`, so a crash there is not undone.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result, io_err};
use crate::lock::DotLock;
use crate::name;
use crate::store::{Entry, Maildir, Subdir, sync_dir};
use crate::uidlist::{UIDLIST, UidRecord};
use crate::uids::{CopyResult, IndexedUidList, MailboxState, UidMessage};

/// The prefix of a staged copy's names in the destination's `tmp/`.
const STAGE_PREFIX: &str = "mwcopy-";

/// How many times staging follows a source renamed by another process.
const MAX_RENAME_RETRIES: usize = 32;

/// One message of a copy, staged in the destination's `tmp/`.
#[derive(Debug)]
struct Staged<'a> {
    source: &'a UidMessage,
    /// The destination unique name.
    base: String,
    /// `tmp/mwcopy-<id>-<base>` in the destination.
    path: PathBuf,
}

impl Maildir {
    /// Copies messages (by UID) to `dest`, all or none (module docs), keeping flags and keywords
    /// (by name), and returns the UIDPLUS mapping: consecutive destination UIDs, in the order
    /// given. UIDs not in `state` are skipped. Fails with [`Error::QuotaExceeded`] when the whole
    /// set does not fit in the destination's quota and with [`Error::Expunged`] when a message
    /// is gone; either way nothing is copied.
    pub fn copy_uids(
        &self,
        state: &MailboxState,
        uids: &[u32],
        dest: &Maildir,
    ) -> Result<CopyResult> {
        self.transfer(state, uids, dest, false)
    }

    /// Moves messages (by UID) to `dest`: the copy of [`copy_uids`](Self::copy_uids), then the
    /// sources are expunged. Returns the UIDPLUS mapping (RFC 6851 MOVE uses COPYUID too).
    /// Within one Maildir++ root the move is not charged to the quota (its net change is zero),
    /// so it works even over quota.
    pub fn move_uids(
        &self,
        state: &MailboxState,
        uids: &[u32],
        dest: &Maildir,
    ) -> Result<CopyResult> {
        self.transfer(state, uids, dest, true)
    }

    fn transfer(
        &self,
        state: &MailboxState,
        uids: &[u32],
        dest: &Maildir,
        moving: bool,
    ) -> Result<CopyResult> {
        let picked: Vec<&UidMessage> = uids.iter().filter_map(|u| state.by_uid(*u)).collect();
        if picked.is_empty() {
            let uid_validity = match dest.load_uidlist()? {
                Some((l, _)) => l.uid_validity,
                None => dest.sync()?.uid_validity,
            };
            return Ok(CopyResult {
                uid_validity,
                uids: Vec::new(),
            });
        }
        let charged = !(moving && self.root == dest.root);
        // 1. Sizes, and the quota for the whole set.
        let mut sizes = Vec::with_capacity(picked.len());
        let mut gone = Vec::new();
        for m in &picked {
            match self.size(&m.entry) {
                Ok(s) => sizes.push(s),
                Err(Error::NotFound(_)) => gone.push(m.uid),
                Err(e) => return Err(e),
            }
        }
        if !gone.is_empty() {
            return Err(Error::Expunged(gone));
        }
        let total: u64 = sizes.iter().sum();
        if charged {
            crate::quota::check_many(dest, total, picked.len() as u64)?;
        }
        // 2. Staging.
        let copy_id = name::unique_base(SystemTime::now(), "c").replace(['.', '-'], "");
        let tmp = dest.sub("tmp");
        let mut staged: Vec<Staged<'_>> = Vec::with_capacity(picked.len());
        let cleanup = |staged: &[Staged<'_>]| {
            for s in staged {
                let _ = fs::remove_file(&s.path);
            }
        };
        for (m, size) in picked.iter().zip(&sizes) {
            let mut base = name::unique_base(SystemTime::now(), &dest.host);
            let _ = write!(base, ",S={size}");
            if let Some(w) = m.entry.vsize() {
                let _ = write!(base, ",W={w}");
            }
            let path = tmp.join(format!("{STAGE_PREFIX}{copy_id}-{base}"));
            match self.stage(&m.entry, &path, dest.fsync) {
                Ok(true) => staged.push(Staged {
                    source: m,
                    base,
                    path,
                }),
                Ok(false) => gone.push(m.uid),
                Err(e) => {
                    cleanup(&staged);
                    return Err(e);
                }
            }
        }
        if !gone.is_empty() {
            cleanup(&staged);
            return Err(Error::Expunged(gone));
        }
        if dest.fsync
            && let Err(e) = sync_dir(&tmp)
        {
            cleanup(&staged);
            return Err(e);
        }
        // 3. The commit.
        let (uid_validity, dest_uids) = match dest.commit_staged(state, &staged) {
            Ok(r) => r,
            Err(e) => {
                cleanup(&staged);
                return Err(e);
            }
        };
        if charged {
            crate::quota::record(
                dest,
                i64::try_from(total).unwrap_or(i64::MAX),
                i64::try_from(staged.len()).unwrap_or(i64::MAX),
            );
        }
        let pairs: Vec<(u32, u32)> = staged.iter().map(|s| s.source.uid).zip(dest_uids).collect();
        if moving {
            self.remove_sources(state.uid_validity, &staged, charged)?;
        }
        Ok(CopyResult {
            uid_validity,
            uids: pairs,
        })
    }

    /// Expunges the sources of a committed move; `charged` says whether the copy was charged to
    /// the quota (else the removal is not credited either).
    fn remove_sources(
        &self,
        uid_validity: u32,
        staged: &[Staged<'_>],
        charged: bool,
    ) -> Result<()> {
        let mut touched = [false, false];
        let mut removed = Vec::new();
        // Removed and logged under the uidlist lock, as an EXPUNGE ([`Maildir::expunge`]).
        let lock = DotLock::acquire(&self.meta(UIDLIST), self.lock_timeout)?;
        for s in staged {
            if let Some(sub) = self.remove_quietly(&s.source.entry, charged)? {
                touched[usize::from(sub == Subdir::Cur)] = true;
                removed.push(s.source.uid);
            }
        }
        if !removed.is_empty() {
            self.record_expunged_modseqs_locked(uid_validity, &removed)?;
        }
        drop(lock);
        if self.fsync && self.fsync_changes {
            for (i, sub) in ["new", "cur"].into_iter().enumerate() {
                if touched[i] {
                    sync_dir(&self.sub(sub))?;
                }
            }
        }
        if !removed.is_empty() {
            self.sweep_expunged(SystemTime::now());
        }
        Ok(())
    }

    /// Hard-links (or copies and fsyncs, across file systems) a message to `target`, following
    /// a concurrent rename. `Ok(false)` if the message is gone.
    fn stage(&self, entry: &Entry, target: &Path, fsync: bool) -> Result<bool> {
        let mut cur = entry.clone();
        for _ in 0..MAX_RENAME_RETRIES {
            let from = self.entry_path(&cur);
            let res = match fs::hard_link(&from, target) {
                Err(e) if matches!(e.raw_os_error(), Some(1 | 18 | 95)) => {
                    copy_file(&from, target, fsync)
                }
                other => other,
            };
            match res {
                Ok(()) => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound && from.exists() => {
                    return Err(io_err("link", target)(e));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => match self.find(entry.unique())? {
                    Some(found) => cur = found,
                    None => return Ok(false),
                },
                Err(e) => return Err(io_err("link", target)(e)),
            }
        }
        Err(Error::Contended(entry.unique().to_owned()))
    }

    /// Step 3 (module docs), on the destination: links the staged files into `cur/` and commits
    /// their records. On error, whatever was linked is removed again.
    fn commit_staged(
        &self,
        source: &MailboxState,
        staged: &[Staged<'_>],
    ) -> Result<(u32, Vec<u32>)> {
        let path = self.meta(UIDLIST);
        let mut lock = DotLock::acquire(&path, self.lock_timeout)?;
        let (list, complete) = match self.load_uidlist()? {
            Some(l) => l,
            None => {
                // A folder never synced: number what it holds first (our files are not there
                // yet), then append to that.
                drop(lock);
                self.sync()?;
                lock = DotLock::acquire(&path, self.lock_timeout)?;
                self.load_uidlist()?
                    .ok_or_else(|| Error::Contended(self.path.display().to_string()))?
            }
        };
        self.ensure_first_recent_locked(&list)?;
        // Keywords by name into this folder's table.
        let (mut table, mut file) = self.load_keywords()?;
        let names: Vec<&str> = {
            let mut all: Vec<&str> = Vec::new();
            for s in staged {
                for n in source.keyword_names(s.source) {
                    if !all.iter().any(|a| a.eq_ignore_ascii_case(n)) {
                        all.push(n);
                    }
                }
            }
            all
        };
        self.resolve_keywords(&mut table, &mut file, &names, true)?;
        let cur = self.sub("cur");
        let mut linked: Vec<PathBuf> = Vec::with_capacity(staged.len());
        let unlink_all = |linked: &[PathBuf]| {
            for p in linked {
                let _ = fs::remove_file(p);
            }
        };
        let mut records = Vec::with_capacity(staged.len());
        let mut rows = Vec::with_capacity(staged.len());
        let mut next_uid = list.next_uid;
        let mut uids = Vec::with_capacity(staged.len());
        let mut extra_changed = false;
        for s in staged {
            let src_flags = s.source.entry.flags();
            let mut flags = src_flags.difference(src_flags.keywords_only());
            let mut extra = Vec::new();
            for n in source.keyword_names(s.source) {
                match table.find(n) {
                    Some(i) if i < crate::keywords::LETTERS => {
                        flags.insert_keyword_index(u8::try_from(i).unwrap_or(0));
                    }
                    Some(i) => extra.push(i),
                    None => {}
                }
            }
            let file_name = name::with_flags(&s.base, flags);
            let target = cur.join(&file_name);
            if let Err(e) = link_or_rename(&s.path, &target) {
                unlink_all(&linked);
                return Err(io_err("link", &target)(e));
            }
            linked.push(target);
            extra_changed |= file.set(&s.base, extra);
            let uid = next_uid;
            next_uid = next_uid.saturating_add(1);
            uids.push(uid);
            records.push(UidRecord {
                uid,
                extensions: Vec::new(),
                file_name,
            });
            rows.push((uid, flags));
        }
        let committed = (|| {
            if extra_changed {
                self.write_extra_keywords(&file)?;
            }
            if self.fsync {
                sync_dir(&cur)?;
            }
            self.add_records(list.clone(), complete, records, next_uid, true)
                .map(|_| ())
        })();
        if let Err(e) = committed {
            unlink_all(&linked);
            return Err(e);
        }
        for s in staged {
            let _ = fs::remove_file(&s.path);
        }
        // Committed: a failure from here on must not turn into "nothing was copied". Without
        // these MODSEQs the next sync gives them, as for any message new to the MODSEQ file.
        let _ = self.record_new_modseqs(list.uid_validity, &rows);
        drop(lock);
        Ok((list.uid_validity, uids))
    }

    /// Undoes or finishes copies cut short by a crash (module docs), under the uidlist lock,
    /// before a sync numbers `entries` (the folder's scan): files of an uncommitted copy are
    /// removed from the folder and from `entries`; the staged names of a committed one go.
    pub(crate) fn recover_copies(
        &self,
        list: &IndexedUidList,
        entries: &mut Vec<Entry>,
    ) -> Result<()> {
        let tmp = self.sub("tmp");
        let mut groups: HashMap<String, Vec<(PathBuf, String)>> = HashMap::new();
        for dent in fs::read_dir(&tmp).map_err(io_err("read_dir", &tmp))? {
            let dent = dent.map_err(io_err("read_dir", &tmp))?;
            let file_name = dent.file_name();
            let Some(rest) = file_name
                .to_str()
                .and_then(|n| n.strip_prefix(STAGE_PREFIX))
            else {
                continue;
            };
            let Some((id, base)) = rest.split_once('-') else {
                continue;
            };
            groups
                .entry(id.to_owned())
                .or_default()
                .push((dent.path(), base.to_owned()));
        }
        let mut hidden = [false, false];
        for files in groups.values() {
            if files.iter().all(|(_, base)| list.find(base).is_some()) {
                // Committed: only the staged names are left over.
                for (p, _) in files {
                    let _ = fs::remove_file(p);
                }
                continue;
            }
            // Not committed: whatever of it reached the folder goes. The staged files stay
            // (this may be a copy still staging, before it takes the lock).
            let bases: HashSet<&str> = files.iter().map(|(_, b)| b.as_str()).collect();
            let mut err = None;
            entries.retain(|e| {
                if !bases.contains(e.unique()) {
                    return true;
                }
                let p = self.entry_path(e);
                match fs::remove_file(&p) {
                    Ok(()) => hidden[usize::from(e.subdir() == Subdir::Cur)] = true,
                    Err(x) if x.kind() == io::ErrorKind::NotFound => {}
                    Err(x) => err = Some(io_err("unlink", &p)(x)),
                }
                false
            });
            if let Some(e) = err {
                return Err(e);
            }
        }
        if self.fsync {
            for (i, sub) in ["new", "cur"].into_iter().enumerate() {
                if hidden[i] {
                    sync_dir(&self.sub(sub))?;
                }
            }
        }
        Ok(())
    }
}

/// Copies `from` to `target` (a new name), fsynced when asked.
fn copy_file(from: &Path, target: &Path, fsync: bool) -> io::Result<()> {
    fs::copy(from, target)?;
    if fsync {
        fs::File::open(target)?.sync_all()?;
    }
    Ok(())
}

/// Links `from` to the new name `to` (never replacing one); renames where hard links fail.
fn link_or_rename(from: &Path, to: &Path) -> io::Result<()> {
    match fs::hard_link(from, to) {
        Err(e) if matches!(e.raw_os_error(), Some(1 | 18 | 95)) => {
            if to.exists() {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            fs::rename(from, to)
        }
        other => other,
    }
}
