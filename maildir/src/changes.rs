//! Changes to a folder's IMAP view: STORE of flags and keywords (any number of them), APPEND,
//! EXPUNGE, each recording its MODSEQs under the uidlist lock so the next sync has nothing to
//! write.

use std::io;
use std::time::SystemTime;

use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::flags::{FlagUpdate, Flags};
use crate::keywords::{ExtraKeywords, KEYWORDS_FILE, Keywords, LETTERS};
use crate::lock::DotLock;
use crate::store::{Maildir, Subdir, sync_dir};
use crate::uidlist::UIDLIST;
use crate::uids::{Appended, MailboxState, Stamps, StoreResult, sorted_rows};

/// Keyword names resolved against a folder's table: the letters, and the indexes past them.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    pub(crate) letters: Flags,
    pub(crate) extra: Vec<u32>,
}

impl Maildir {
    /// Resolves keyword names against `table`, under the uidlist lock. With `add`, a name not
    /// defined yet gets the first free letter, else the next index past the letters, and the
    /// files are written; without (a removal), unknown names are ignored and nothing is written.
    /// A name both a letter and an index past the letters (Dovecot gave it a letter after we
    /// had run out) resolves to both.
    pub(crate) fn resolve_keywords(
        &self,
        table: &mut Keywords,
        file: &mut ExtraKeywords,
        names: &[&str],
        add: bool,
    ) -> Result<Resolved> {
        let mut out = Resolved::default();
        let (mut letters_added, mut extra_added) = (false, false);
        for name in names {
            let letter = table.index_of(name);
            let past = table
                .extra()
                .iter()
                .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
                .map(|i| LETTERS + u32::try_from(i).unwrap_or(0));
            if letter.is_none() && past.is_none() {
                if !add {
                    continue;
                }
                let (i, _) = table.get_or_add_any(name)?;
                match u8::try_from(i) {
                    Ok(l) if i < LETTERS => {
                        letters_added = true;
                        out.letters.insert_keyword_index(l);
                    }
                    _ => {
                        extra_added = true;
                        out.extra.push(i);
                    }
                }
                continue;
            }
            if let Some(l) = letter {
                out.letters.insert_keyword_index(l);
            }
            if let Some(i) = past {
                out.extra.push(i);
            }
        }
        out.extra.sort_unstable();
        out.extra.dedup();
        if letters_added {
            write_atomic(
                &self.meta(KEYWORDS_FILE),
                table.encode().as_bytes(),
                self.fsync,
            )?;
        }
        if extra_added {
            file.names = table.extra().to_vec();
            self.write_extra_keywords(file)?;
        }
        Ok(out)
    }

    /// The flag letters for keyword names, adding names missing from `dovecot-keywords`
    /// (under the uidlist lock). [`Error::TooManyKeywords`] past 26: for any number of keywords
    /// use [`store`](Self::store) and [`append_with`](Self::append_with), which take names.
    pub fn keyword_flags(&self, names: &[&str]) -> Result<Flags> {
        if names.is_empty() {
            return Ok(Flags::empty());
        }
        let mut kw = self.keywords()?;
        let mut flags = Flags::empty();
        if names.iter().all(|n| kw.index_of(n).is_some()) {
            for n in names {
                flags.insert_keyword_index(kw.index_of(n).unwrap_or(0));
            }
            return Ok(flags);
        }
        let _lock = DotLock::acquire(&self.meta(UIDLIST), self.lock_timeout)?;
        kw = self.keywords()?;
        let mut changed = false;
        for n in names {
            let (i, added) = kw.get_or_add(n)?;
            changed |= added;
            flags.insert_keyword_index(i);
        }
        if changed {
            write_atomic(
                &self.meta(KEYWORDS_FILE),
                kw.encode().as_bytes(),
                self.fsync,
            )?;
        }
        Ok(flags)
    }

    /// IMAP STORE of flags only: [`store`](Self::store) with no keyword names (keyword letters in
    /// `update` are applied as letters). A `Replace` clears the keywords past the letters too.
    pub fn store_flags(
        &self,
        state: &mut MailboxState,
        uids: &[u32],
        update: FlagUpdate,
        unchanged_since: Option<u64>,
    ) -> Result<StoreResult> {
        self.store(state, uids, update, &[], unchanged_since)
    }

    /// IMAP STORE without rescanning the folder: applies `update` (system flags, and keyword
    /// letters if any) and the same operation on the keywords named in `keywords` to the
    /// messages of `state` with these UIDs (following concurrent renames), gives each one whose
    /// flags or keywords changed a new MODSEQ, records it in `mailwright-modseq` under the
    /// uidlist lock, and updates `state` in place (its keyword table too).
    ///
    /// Keywords take letters while there are free ones (so Dovecot and other readers see them),
    /// then indexes past the letters, with no limit below [`MAX_KEYWORDS`](crate::MAX_KEYWORDS).
    /// A removal (`FlagUpdate::Remove`) never defines a keyword: `-FLAGS (never-used)` changes
    /// nothing. `FlagUpdate::Replace` sets exactly these flags and keywords.
    ///
    /// With `unchanged_since` (CONDSTORE `UNCHANGEDSINCE`), messages whose MODSEQ is higher are
    /// left alone and reported in [`StoreResult::modified`]. Messages expunged meanwhile are
    /// skipped. If the MODSEQ file does not belong to this state's UIDVALIDITY, a full
    /// [`sync`](Self::sync) is done first.
    pub fn store(
        &self,
        state: &mut MailboxState,
        uids: &[u32],
        update: FlagUpdate,
        keywords: &[&str],
        unchanged_since: Option<u64>,
    ) -> Result<StoreResult> {
        let uidlist_path = self.meta(UIDLIST);
        let lock = DotLock::acquire(&uidlist_path, self.lock_timeout)?;
        let file = self
            .load_modseq()?
            .filter(|m| m.uid_validity == state.uid_validity);
        let Some(mut file) = file else {
            drop(lock);
            *state = self.sync()?;
            return self.store(state, uids, update, keywords, unchanged_since);
        };
        let (start, reserved) = self
            .modseq_start(Some(&file), true)?
            .unwrap_or((file.highest, file.reserved));
        let jumped = start != file.highest;
        file.highest = start;
        // Keywords by name: read only when there are names, or a replace that may clear some.
        let mut tables: Option<(Keywords, ExtraKeywords)> = None;
        let named = if keywords.is_empty() {
            Resolved::default()
        } else {
            let (mut table, mut file) = self.load_keywords()?;
            let add = !matches!(update, FlagUpdate::Remove(_));
            let named = self.resolve_keywords(&mut table, &mut file, keywords, add)?;
            tables = Some((table, file));
            named
        };
        if tables.is_none() && matches!(update, FlagUpdate::Replace(_)) {
            tables = Some(self.load_keywords()?);
        }
        // The keyword letters go with the flags into the file name; the others into our file.
        let rename = match update {
            FlagUpdate::Add(f) => FlagUpdate::Add(f.union(named.letters)),
            FlagUpdate::Remove(f) => FlagUpdate::Remove(f.union(named.letters)),
            FlagUpdate::Replace(f) => FlagUpdate::Replace(f.union(named.letters)),
        };
        let mut result = StoreResult::default();
        let mut touched_new = false;
        let mut any = false;
        let mut extra_changed = false;
        for &uid in uids {
            let Ok(i) = state.messages.binary_search_by_key(&uid, |m| m.uid) else {
                continue;
            };
            let m = &mut state.messages[i];
            let current = file
                .per_uid
                .get(&uid)
                .map_or(m.modseq, |&(ms, _)| ms.max(m.modseq));
            if unchanged_since.is_some_and(|since| current > since) {
                result.modified.push(uid);
                continue;
            }
            let before = m.entry.flags();
            let (entry, from_new) = match self.set_flags_no_sync(&m.entry, rename) {
                Ok(r) => r,
                Err(Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            any = true;
            touched_new |= from_new;
            let after = entry.flags();
            m.entry = entry;
            let mut keywords_changed = false;
            if let Some((_, file)) = tables.as_mut() {
                let old_extra = file.of(m.entry.unique());
                let new_extra: Vec<u32> = match update {
                    FlagUpdate::Add(_) => old_extra.iter().chain(&named.extra).copied().collect(),
                    FlagUpdate::Remove(_) => old_extra
                        .iter()
                        .copied()
                        .filter(|i| !named.extra.contains(i))
                        .collect(),
                    FlagUpdate::Replace(_) => named.extra.clone(),
                };
                keywords_changed = file.set(m.entry.unique(), new_extra);
                extra_changed |= keywords_changed;
                m.extra_keywords = file.of(m.entry.unique()).to_vec();
            }
            if after != before
                || keywords_changed
                || file.per_uid.get(&uid).is_none_or(|&(_, f)| f != after)
            {
                file.highest = file.highest.max(state.highest_modseq) + 1;
                m.modseq = file.highest;
                file.per_uid.insert(uid, (m.modseq, after));
                result.changed.push((uid, m.modseq));
            }
        }
        // The renames are fsynced after the lock is released, before the reply (below).
        let sync_dirs = any && self.fsync && self.fsync_changes;
        if let Some((_, file)) = &tables
            && extra_changed
        {
            self.write_extra_keywords(file)?;
        }
        if !result.changed.is_empty() || jumped {
            if !result.changed.is_empty() {
                state.highest_modseq = file.highest;
            }
            let changed: Vec<(u32, u64, Flags)> = result
                .changed
                .iter()
                .filter_map(|&(uid, _)| file.per_uid.get(&uid).map(|&(ms, f)| (uid, ms, f)))
                .collect();
            self.update_modseq(
                Some(&file),
                file.uid_validity,
                file.highest,
                reserved,
                &changed,
                &[],
                || sorted_rows(&file.per_uid),
                None,
            )?;
        }
        if let Some((mut table, file)) = tables {
            table.set_extra(file.names);
            state.keywords = table;
        }
        // The directories changed under this state: it must not pass for current.
        state.stamps = Stamps(None);
        // Other writers need not wait for the disk: the fsync of this STORE's renames may run
        // (and be shared, the `groupsync` module) outside the lock; the reply still waits.
        drop(lock);
        if sync_dirs {
            sync_dir(&self.sub("cur"))?;
            if touched_new {
                sync_dir(&self.sub("new"))?;
            }
        }
        Ok(result)
    }

    /// Stores a message read from `message` straight into `cur/` with `flags` (and the mtime
    /// `internal_date` if given) and gives it a UID: IMAP APPEND with its APPENDUID result.
    pub fn append(
        &self,
        message: impl io::Read,
        flags: Flags,
        internal_date: Option<SystemTime>,
    ) -> Result<Appended> {
        self.append_with(message, flags, &[], internal_date)
    }

    /// [`append`](Self::append) with keywords by name, any number of them (letters while there
    /// are free ones, then indexes past the letters, as [`store`](Self::store) gives them).
    pub fn append_with(
        &self,
        message: impl io::Read,
        flags: Flags,
        keywords: &[&str],
        internal_date: Option<SystemTime>,
    ) -> Result<Appended> {
        let mut prepared = self.prepare_append(flags, keywords, internal_date)?;
        let mut reader = message;
        io::copy(&mut reader, &mut prepared)
            .map_err(crate::error::io_err("write", prepared.delivery.tmp_path()))?;
        prepared.commit()
    }

    /// [`append_with`](Self::append_with) in two steps, for a caller that wants the message
    /// written before it decides to store it (a server that must be able to stop between the
    /// two): defines the keywords and starts the message in `tmp/`, where nobody sees it. Write
    /// the message into the [`PreparedAppend`] (an [`io::Write`]), then
    /// [`PreparedAppend::commit`] stores it and gives it its UID; dropping it removes the file.
    pub fn prepare_append(
        &self,
        flags: Flags,
        keywords: &[&str],
        internal_date: Option<SystemTime>,
    ) -> Result<PreparedAppend> {
        let named = if keywords.is_empty() {
            Resolved::default()
        } else {
            let _lock = DotLock::acquire(&self.meta(UIDLIST), self.lock_timeout)?;
            let (mut table, mut file) = self.load_keywords()?;
            self.resolve_keywords(&mut table, &mut file, keywords, true)?
        };
        let opts = crate::DeliveryOptions {
            flags: Some(flags.union(named.letters)),
            internal_date,
            ..Default::default()
        };
        Ok(PreparedAppend {
            maildir: self.clone(),
            delivery: self.delivery_with(opts)?,
            extra: named.extra,
        })
    }

    /// IMAP EXPUNGE (or UID EXPUNGE with `only`): removes the messages of `state` that carry
    /// the `T` (`\Deleted`) flag *now*: each name is re-read, so a flag cleared meanwhile by
    /// another session is respected. Returns the UIDs removed; call [`sync`](Self::sync) after.
    /// The files stay readable for a while by [`reopen`](Self::reopen) (sessions that still show
    /// them, RFC 2180 §4.1).
    ///
    /// The files are removed and the removals logged under the uidlist lock (as a STORE
    /// renames), so that no other writer's `C` line (the `incremental` module) covers a
    /// removal not logged yet; the directories are fsynced after the lock is released, before
    /// this returns.
    pub fn expunge(&self, state: &MailboxState, only: Option<&[u32]>) -> Result<Vec<u32>> {
        let mut removed = Vec::new();
        let mut touched = [false, false];
        let candidates = state.messages.iter().filter(|m| {
            only.is_none_or(|uids| uids.contains(&m.uid))
                && m.entry.flags().contains(crate::Flag::Trashed)
        });
        let mut candidates = candidates.peekable();
        if candidates.peek().is_none() {
            return Ok(removed);
        }
        let lock = DotLock::acquire(&self.meta(UIDLIST), self.lock_timeout)?;
        for m in candidates {
            if let Some(sub) =
                self.remove_if(&m.entry, |cur| cur.flags().contains(crate::Flag::Trashed))?
            {
                touched[usize::from(sub == Subdir::Cur)] = true;
                removed.push(m.uid);
            }
        }
        if !removed.is_empty() {
            self.record_expunged_modseqs_locked(state.uid_validity, &removed)?;
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
        Ok(removed)
    }

    /// Records expunged UIDs (and the HIGHESTMODSEQ step an expunge makes), under the uidlist
    /// lock the caller holds, so the sync that follows has nothing to write and takes no lock.
    /// Nothing to do when the MODSEQ file belongs to another UIDVALIDITY or a sync already
    /// recorded them.
    pub(crate) fn record_expunged_modseqs_locked(
        &self,
        uid_validity: u32,
        uids: &[u32],
    ) -> Result<()> {
        let Some(mut file) = self
            .load_modseq()?
            .filter(|m| m.uid_validity == uid_validity)
        else {
            return Ok(());
        };
        let gone: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|u| file.per_uid.remove(u).is_some())
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        let Some((highest, reserved)) = self.modseq_start(Some(&file), true)? else {
            return Ok(());
        };
        // RFC 7162 §3.2.10: an expunge raises HIGHESTMODSEQ.
        self.update_modseq(
            Some(&file),
            uid_validity,
            highest + 1,
            reserved,
            &[],
            &gone,
            || sorted_rows(&file.per_uid),
            None,
        )
    }
}

/// An APPEND between its steps ([`Maildir::prepare_append`]): the message is written into
/// `tmp/` through [`io::Write`] and seen by nobody until [`commit`](Self::commit); dropping it
/// removes the file.
#[derive(Debug)]
pub struct PreparedAppend {
    maildir: Maildir,
    delivery: crate::Delivery,
    /// The keywords past the letters the message gets with its UID.
    extra: Vec<u32>,
}

impl PreparedAppend {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.delivery.size()
    }

    /// Stores the message straight into `cur/` (fsynced, file and directory) and gives it its
    /// UID, with its keywords, without a rescan of the folder: the APPENDUID result.
    pub fn commit(self) -> Result<Appended> {
        let delivered = self.delivery.commit()?;
        let extra: Vec<Vec<u32>> = if self.extra.is_empty() {
            Vec::new()
        } else {
            vec![self.extra]
        };
        let (uid_validity, uids) = self
            .maildir
            .assign_uids_with(std::slice::from_ref(&delivered.entry), &extra)?;
        Ok(Appended {
            delivered,
            uid_validity,
            uid: uids[0],
        })
    }
}

impl PreparedAppend {
    /// Stores several messages prepared in one folder, all or none (IMAP MULTIAPPEND, RFC 3502):
    /// the quota is checked for the whole batch, then each is moved into `cur/` in turn (a quota overrun or an IO error stops there, and the
    /// ones moved already are removed again), then all get their UIDs in one locked step, in
    /// order. Returns the UIDVALIDITY and the UIDs. Messages not yet committed when one fails
    /// are dropped (their `tmp/` files removed).
    ///
    /// # Errors
    /// The first error; then no message of `batch` is in the folder. [`Error::InvalidName`]
    /// for an empty batch or one that spans folders.
    pub fn commit_all(batch: Vec<PreparedAppend>) -> Result<(u32, Vec<u32>)> {
        let Some(first) = batch.first() else {
            return Err(Error::InvalidName("an empty MULTIAPPEND".into()));
        };
        let maildir = first.maildir.clone();
        if batch.iter().any(|p| p.maildir.path() != maildir.path()) {
            return Err(Error::InvalidName("a MULTIAPPEND across folders".into()));
        }
        // The whole batch against the quota first, so that a batch over it fails before any
        // message is where a concurrent reader could see it (each commit checks again).
        let total: u64 = batch.iter().map(PreparedAppend::size).sum();
        crate::quota::check_many(&maildir, total, batch.len() as u64)?;
        let any_extra = batch.iter().any(|p| !p.extra.is_empty());
        let mut entries = Vec::with_capacity(batch.len());
        let mut extra = Vec::with_capacity(batch.len());
        let undo = |entries: &[crate::Entry]| {
            for e in entries {
                // Best effort: the error that stopped the batch is the one to report.
                let _ = maildir.remove(e);
            }
        };
        for p in batch {
            match p.delivery.commit() {
                Ok(d) => {
                    entries.push(d.entry);
                    extra.push(p.extra);
                }
                Err(e) => {
                    undo(&entries);
                    return Err(e);
                }
            }
        }
        let extra = if any_extra { extra } else { Vec::new() };
        maildir
            .assign_uids_with(&entries, &extra)
            .inspect_err(|_| undo(&entries))
    }
}

impl io::Write for PreparedAppend {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.delivery.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.delivery.flush()
    }
}
