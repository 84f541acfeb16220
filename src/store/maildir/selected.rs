//! A selected Maildir folder ([`SelectedMailbox`]): the maildir crate's sync, STORE, EXPUNGE,
//! COPY and MOVE over the messages the session shows.
//!
//! - A sync is skipped while the mtimes of `new/`, `cur/`, `dovecot-uidlist`,
//!   `mailwright-keywords` and `mailwright-modseq` are what they were at the last one, and a second old (directory
//!   mtimes tick with a coarse clock: two changes within one tick must not pass for none).
//! - The maildir crate's calls take a `MailboxState` of the messages they act on: it is built
//!   from the last sync's bookkeeping and the messages as this session knows them, so a change
//!   the session has not seen yet (a `\Deleted` another session set) is not acted on.
//! - Messages gone from the folder stay known (and readable, for the maildir crate's grace
//!   period) until the session releases them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use mailwright_maildir::{
    Flag as MdFlag, FlagUpdate, Keywords, MailboxState, Maildir, Reopened, UidMessage,
};

use super::{error, folder_of};
use crate::core::directory::Address;
use crate::store::SelectedMailbox;
use crate::store::notify::Notifier;
use crate::store::summary::Cached;
use crate::store::types::{
    CopyOutcome, FlagOp, Flags, Keyword, MailboxName, MailboxView, MessageInfo, MessageText,
    StoreError, StoreOutcome, Transfer,
};

/// The keyword the Maildir flag `P` (passed) stands for.
const FORWARDED: &str = "$Forwarded";

type Signature = [Option<SystemTime>; 5];

fn signature(md: &Maildir) -> Signature {
    let mtime = |p: std::path::PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    [
        mtime(md.path().join("new")),
        mtime(md.path().join("cur")),
        mtime(md.path().join(mailwright_maildir::UIDLIST)),
        // A change of the keywords past the letters renames no file.
        mtime(md.path().join(mailwright_maildir::EXTRA_KEYWORDS_FILE)),
        // The log an incremental sync reads: an expunge or a new MODSEQ may be logged after
        // the directory changes another sync already saw.
        mtime(md.path().join(mailwright_maildir::MODSEQ_FILE)),
    ]
}

/// System flags and keyword names as the maildir crate takes them: `$Forwarded` is the flag
/// `P`, the other names stay names.
pub(super) fn split_keywords<'a>(
    flags: Flags,
    keywords: &'a [&'a str],
) -> (mailwright_maildir::Flags, Vec<&'a str>) {
    let mut md = super::flags_to_maildir(flags);
    let mut names = Vec::with_capacity(keywords.len());
    for k in keywords {
        if k.eq_ignore_ascii_case(FORWARDED) {
            md.insert(MdFlag::Passed);
        } else {
            names.push(*k);
        }
    }
    (md, names)
}

/// A message's size as IMAP presents it (`W=`), and what STATUS SIZE counts it at.
fn sizes(m: &UidMessage) -> (Option<u64>, u64) {
    let exact = m.entry.vsize();
    (exact, exact.or(m.entry.size()).unwrap_or(0))
}

/// A message without its keywords (for counting).
pub(super) fn bare_info(m: &UidMessage) -> MessageInfo {
    let (size, status_size) = sizes(m);
    MessageInfo {
        uid: m.uid,
        modseq: m.modseq,
        flags: super::flags_from_maildir(m.entry.flags()),
        keywords: Vec::new(),
        size,
        status_size,
    }
}

/// The keyword names of a folder, each allocated once.
struct Names<'a> {
    table: &'a Keywords,
    shared: HashMap<&'a str, Keyword>,
    forwarded: Keyword,
}

impl<'a> Names<'a> {
    fn new(table: &'a Keywords) -> Self {
        Self {
            table,
            shared: table
                .all_names()
                .map(|(_, n)| (n, Keyword::from(n)))
                .collect(),
            forwarded: Keyword::from(FORWARDED),
        }
    }

    /// The folder's keywords; `$Forwarded` among them when a message has `P` (Dovecot lists it
    /// in FLAGS once a message has it), last unless the keyword table names it too.
    fn all<'m>(&self, mut messages: impl Iterator<Item = &'m UidMessage>) -> Vec<Keyword> {
        let mut all: Vec<Keyword> = self
            .table
            .all_names()
            .map(|(_, n)| self.shared.get(n).cloned().unwrap_or_else(|| n.into()))
            .collect();
        if !all.iter().any(|k| k.eq_ignore_ascii_case(FORWARDED))
            && messages.any(|m| m.entry.flags().contains(MdFlag::Passed))
        {
            all.push(self.forwarded.clone());
        }
        all
    }

    /// A message as the store reports it: `P` is `$Forwarded`, first among the keywords, as
    /// Dovecot lists it.
    fn info(&self, m: &UidMessage) -> MessageInfo {
        let f = m.entry.flags();
        let passed = f.contains(MdFlag::Passed);
        let mut keywords = Vec::new();
        if passed {
            keywords.push(self.forwarded.clone());
        }
        for name in self.table.names_of(f, &m.extra_keywords) {
            if passed && name.eq_ignore_ascii_case(FORWARDED) {
                continue;
            }
            keywords.push(
                self.shared
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| name.into()),
            );
        }
        let (size, status_size) = sizes(m);
        MessageInfo {
            uid: m.uid,
            modseq: m.modseq,
            flags: super::flags_from_maildir(f),
            keywords,
            size,
            status_size,
        }
    }
}

/// A Maildir folder a session has open.
#[derive(Debug)]
pub(crate) struct MaildirMailbox {
    md: Maildir,
    /// The user's root, for the destinations of COPY and MOVE.
    root: Maildir,
    read_only: bool,
    name: MailboxName,
    user: Address,
    notifier: Arc<Notifier>,
    /// The mtimes at the last sync (module docs).
    seen: Option<Signature>,
    /// The last sync's state without its messages: the maildir crate's bookkeeping, and the
    /// keyword table as the session knows it.
    last: MailboxState,
    /// The messages of the last view, UIDs ascending, as the session knows them.
    current: Vec<UidMessage>,
    /// Messages of earlier views gone since, not released yet, UIDs ascending.
    gone: Vec<UidMessage>,
    /// The folder's index, shared with the other sessions (module `index`).
    index: super::index::Shared,
}

impl MaildirMailbox {
    /// Opens a folder: a read-write open claims the `\Recent` messages no session has claimed
    /// (and moves `new/` to `cur/`); a read-only one shows them without claiming.
    pub(crate) fn open(
        md: Maildir,
        root: Maildir,
        read_only: bool,
        name: MailboxName,
        user: Address,
        notifier: Arc<Notifier>,
    ) -> Result<(Self, MailboxView), StoreError> {
        // Taken before the sync, as `sync` does: the first command after SELECT then skips a
        // second full sync when nothing changed (it cost as much as the SELECT).
        let seen = Some(signature(&md));
        let state = if read_only {
            md.sync()
        } else {
            md.sync_claim_recent()
        }
        .map_err(error)?;
        let recent = if read_only {
            state.unclaimed_recent().map(|m| m.uid).collect()
        } else {
            state.claimed_recent.clone()
        };
        let index = super::index::shared(&md);
        let mut mailbox = MaildirMailbox {
            md,
            root,
            read_only,
            name,
            user,
            notifier,
            seen,
            last: state,
            current: Vec::new(),
            gone: Vec::new(),
            index,
        };
        let view = mailbox.take(recent);
        Ok((mailbox, view))
    }

    /// Makes `last` (a fresh sync's state) the current view and returns it.
    fn take(&mut self, recent: Vec<u32>) -> MailboxView {
        let messages = std::mem::take(&mut self.last.messages);
        let names = Names::new(&self.last.keywords);
        let view = MailboxView {
            uid_validity: self.last.uid_validity,
            uid_next: self.last.uid_next,
            highest_modseq: self.last.highest_modseq,
            keywords: names.all(messages.iter()),
            messages: messages.iter().map(|m| names.info(m)).collect(),
            recent,
        };
        // What the last view had and this one has not stays known until it is released.
        let old = std::mem::replace(&mut self.current, messages);
        let mut fresh = self.current.iter().map(|m| m.uid).peekable();
        for m in old {
            while fresh.next_if(|&u| u < m.uid).is_some() {}
            if fresh.peek() != Some(&m.uid) {
                self.gone.push(m);
            }
        }
        self.gone.sort_by_key(|m| m.uid);
        self.gone.dedup_by_key(|m| m.uid);
        view
    }

    /// A message the session knows.
    fn find(&self, uid: u32) -> Option<&UidMessage> {
        [&self.current, &self.gone].into_iter().find_map(|list| {
            list.binary_search_by_key(&uid, |m| m.uid)
                .ok()
                .map(|i| &list[i])
        })
    }

    /// A `MailboxState` of some messages as the session knows them, for the maildir crate.
    fn state_of(&self, uids: &[u32]) -> MailboxState {
        let mut messages: Vec<UidMessage> =
            uids.iter().filter_map(|&u| self.find(u)).cloned().collect();
        messages.sort_by_key(|m| m.uid);
        messages.dedup_by_key(|m| m.uid);
        let mut state = self.last.clone();
        state.messages = messages;
        state
    }

    fn changed(&self, name: &MailboxName) {
        self.notifier.changed(&self.user, name);
    }

    fn reopen(&self, uid: u32) -> Result<Option<std::fs::File>, StoreError> {
        let Some(m) = self.find(uid) else {
            return Ok(None);
        };
        match self.md.reopen(&m.entry).map_err(error)? {
            Reopened::Present(f, _) | Reopened::Expunged(f) => Ok(Some(f)),
            Reopened::Gone => Ok(None),
        }
    }
}

fn mtime(f: &std::fs::File) -> SystemTime {
    f.metadata()
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

impl SelectedMailbox for MaildirMailbox {
    fn name(&self) -> &MailboxName {
        &self.name
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn sync(&mut self, force: bool) -> Result<Option<MailboxView>, StoreError> {
        let sig = signature(&self.md);
        if sig[1].is_none() {
            // `cur/` is gone: the folder was deleted or renamed.
            return Err(StoreError::MailboxGone);
        }
        let settled = sig.iter().flatten().all(|t| {
            t.elapsed()
                .is_ok_and(|age| age > std::time::Duration::from_secs(1))
        });
        if settled && self.seen == Some(sig) && !force {
            return Ok(None);
        }
        // Taken before the sync, so a change racing with it is seen next time.
        self.seen = Some(sig);
        let state = if self.read_only {
            self.md.sync()
        } else {
            self.md.sync_claim_recent()
        };
        let state = match state {
            Ok(s) => s,
            Err(_) if !self.md.path().join("cur").is_dir() => {
                return Err(StoreError::MailboxGone);
            }
            Err(e) => return Err(error(e)),
        };
        let recent = if self.read_only {
            state.unclaimed_recent().map(|m| m.uid).collect()
        } else {
            state.claimed_recent.clone()
        };
        self.last = state;
        Ok(Some(self.take(recent)))
    }

    fn open(&self, uid: u32) -> Result<Option<MessageText>, StoreError> {
        Ok(self.reopen(uid)?.map(|f| MessageText {
            internal_date: mtime(&f),
            text: Box::new(f),
        }))
    }

    fn internal_date(&self, uid: u32) -> Result<Option<SystemTime>, StoreError> {
        let Some(m) = self.find(uid) else {
            return Ok(None);
        };
        if self.current.binary_search_by_key(&uid, |m| m.uid).is_ok()
            && let Some(t) = super::index::internal_date(&self.index, &self.md, &m.entry)?
        {
            return Ok(Some(t));
        }
        match self.md.internal_date(&m.entry) {
            Ok(t) => Ok(Some(t)),
            // Renamed or expunged meanwhile: the file as found now, or as kept.
            Err(_) => Ok(self.reopen(uid)?.map(|f| mtime(&f))),
        }
    }

    fn store(
        &mut self,
        uids: &[u32],
        op: FlagOp,
        flags: Flags,
        keywords: &[&str],
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome, StoreError> {
        let (system, names) = split_keywords(flags, keywords);
        let update = match op {
            FlagOp::Add => FlagUpdate::Add(system),
            FlagOp::Remove => FlagUpdate::Remove(system),
            FlagOp::Replace => FlagUpdate::Replace(system),
        };
        // The maildir crate renames and records the new MODSEQs under the uidlist lock, gives
        // new keywords letters or indexes past them, and checks UNCHANGEDSINCE there, without
        // rescanning the folder.
        let mut state = self.state_of(uids);
        let result = self
            .md
            .store(&mut state, uids, update, &names, unchanged_since)
            .map_err(error)?;
        if !result.changed.is_empty() {
            self.changed(&self.name.clone());
        }
        self.last.keywords = state.keywords.clone();
        let names = Names::new(&state.keywords);
        let mut messages = Vec::with_capacity(uids.len());
        // Only the stored messages are taken from the state (it may be a full sync's, whose
        // other changes the next sync reports).
        for &uid in uids {
            let Some(fresh) = state.by_uid(uid) else {
                continue;
            };
            for list in [&mut self.current, &mut self.gone] {
                if let Ok(i) = list.binary_search_by_key(&uid, |m| m.uid) {
                    let known = &mut list[i];
                    known.entry = fresh.entry.clone();
                    known.modseq = known.modseq.max(fresh.modseq);
                    known.extra_keywords.clone_from(&fresh.extra_keywords);
                }
            }
            messages.push(names.info(fresh));
        }
        Ok(StoreOutcome {
            messages,
            changed: result.changed,
            modified: result.modified,
            highest_modseq: state.highest_modseq,
            keywords: names.all(self.current.iter()),
        })
    }

    fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>, StoreError> {
        // Each file's flags are re-read: a \Deleted cleared meanwhile by another session stays.
        let gone = self.md.expunge(&self.state_of(uids), None).map_err(error)?;
        if !gone.is_empty() {
            self.changed(&self.name.clone());
            super::index::expunged(&self.index, &self.md, gone.len())?;
        }
        Ok(gone)
    }

    fn copy(
        &mut self,
        uids: &[u32],
        to: &MailboxName,
        how: Transfer,
    ) -> Result<CopyOutcome, StoreError> {
        let dest = match folder_of(to)? {
            None => self.root.inbox(),
            Some(f) => self.root.folder(&f).map_err(error)?,
        };
        let state = self.state_of(uids);
        let result = match how {
            Transfer::Move => self.md.move_uids(&state, uids, &dest),
            Transfer::Copy => self.md.copy_uids(&state, uids, &dest),
        }
        .map_err(error)?;
        if !result.uids.is_empty() {
            self.changed(to);
            if how == Transfer::Move {
                self.changed(&self.name.clone());
            }
        }
        Ok(CopyOutcome {
            uid_validity: result.uid_validity,
            uids: result.uids,
        })
    }

    fn claim_recent(&mut self, uid_validity: u32, through: u32) -> Result<Vec<u32>, StoreError> {
        if self.read_only {
            return Ok(Vec::new());
        }
        Ok(self
            .md
            .claim_recent(uid_validity, through.saturating_add(1))
            .map_err(error)?
            .collect())
    }

    fn release(&mut self, uids: &[u32]) {
        if !self.gone.is_empty() && !uids.is_empty() {
            let released: std::collections::HashSet<u32> = uids.iter().copied().collect();
            self.gone.retain(|m| !released.contains(&m.uid));
        }
    }

    fn cached(&self, uid: u32) -> Result<Option<Cached>, StoreError> {
        // Only a message of the last sync: one gone since is read from its file (or is gone).
        let Ok(i) = self.current.binary_search_by_key(&uid, |m| m.uid) else {
            return Ok(None);
        };
        super::index::cached(&self.index, &self.md, &self.current[i].entry)
    }

    fn keep_summary(&self, uid: u32, summary: &[u8]) -> Result<(), StoreError> {
        match self.current.binary_search_by_key(&uid, |m| m.uid) {
            Ok(i) => super::index::keep(&self.md, &self.current[i].entry, summary),
            Err(_) => Ok(()),
        }
    }

    fn header_keys(&self) -> Option<crate::store::summary::SharedKeys> {
        Some(super::index::header_keys(&self.index))
    }

    fn vanished_since(&self, modseq: u64) -> Result<Option<Vec<(u32, u32)>>, StoreError> {
        self.md
            .vanished_since(self.last.uid_validity, modseq)
            .map_err(error)
    }
}
