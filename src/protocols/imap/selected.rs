//! The selected mailbox: the session's view of message numbers, UIDs and flags, and the untagged
//! updates (EXISTS, RECENT, EXPUNGE, FETCH FLAGS) that bring a client up to date with changes
//! made by other sessions, other programs or delivery.
//!
//! - Message sequence numbers are the session's own: a message expunged elsewhere keeps its number
//!   until an EXPUNGE response is allowed (RFC 3501 §7.4.1: never during FETCH, STORE or SEARCH).
//! - `\Recent` (RFC 3501 §2.3.2): the maildir crate keeps the folder's first-recent UID; a
//!   read-write session claims the messages from there at each sync (the claim succeeds for one
//!   session only), so each is recent in the first read-write session to learn of it and nowhere
//!   else. A read-only session (EXAMINE) shows the unclaimed ones as recent without claiming them.
//! - Keywords: any number per folder (the first 26 are Maildir letters, the rest are kept by the
//!   maildir crate); `PERMANENTFLAGS` keeps `\*`.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;

use mailwright_imap_proto::types::flag::{Flag, FlagFetch, FlagPerm};
use mailwright_imap_proto::types::response::{
    Code, Data, FetchItem, Response, StatusKind, StatusResponse,
};
use mailwright_imap_proto::types::sequence::{SeqItem, SeqNumber, SequenceSet};
use mailwright_imap_proto::{Atom, Text, Vec1};
use mailwright_maildir::{
    Entry, Flag as MdFlag, Flags, Keywords, MailboxState, Maildir, UidMessage,
};

/// One message of the selected mailbox.
#[derive(Debug, Clone)]
pub(crate) struct Msg {
    pub(crate) uid: u32,
    pub(crate) modseq: u64,
    pub(crate) entry: Entry,
    /// Keywords past the 26 letters (indexes into `Selected::keywords`).
    pub(crate) extra: Vec<u32>,
}

impl Msg {
    fn from_state(m: &UidMessage) -> Msg {
        Msg {
            uid: m.uid,
            modseq: m.modseq,
            entry: m.entry.clone(),
            extra: m.extra_keywords.clone(),
        }
    }
}

/// The selected mailbox.
#[derive(Debug)]
pub(crate) struct Selected {
    pub(crate) maildir: Maildir,
    pub(crate) read_only: bool,
    pub(crate) uid_validity: u32,
    pub(crate) uid_next: u32,
    pub(crate) highest_modseq: u64,
    /// In sequence order (sequence number = index + 1).
    pub(crate) msgs: Vec<Msg>,
    /// The messages `\Recent` in this session. A UID above those shown is kept at the next
    /// refresh only if this session claimed it (then or in `claimed_ahead`).
    pub(crate) recent: HashSet<u32>,
    /// UIDs this session claimed before showing them (`Maildir::claim_recent` after its own
    /// APPEND or COPY into this mailbox): recent when they show up.
    pub(crate) claimed_ahead: HashSet<u32>,
    pub(crate) keywords: Keywords,
    /// CONDSTORE is on (RFC 7162 §3.1): FETCH responses carry MODSEQ.
    pub(crate) condstore: bool,
    /// The mtimes of `new/`, `cur/` and `dovecot-uidlist` at the last sync: when none changed,
    /// nothing did, and a refresh skips the (locking) sync.
    seen: Option<Signature>,
    /// Messages gone from disk whose EXPUNGE is still owed to the client.
    owed_expunges: bool,
    /// The last sync's state (its messages dropped: `msgs` is the session's view).
    last: MailboxState,
}

type Signature = [Option<std::time::SystemTime>; 4];

fn signature(md: &Maildir) -> Signature {
    let mtime = |p: std::path::PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    [
        mtime(md.path().join("new")),
        mtime(md.path().join("cur")),
        mtime(md.path().join(mailwright_maildir::UIDLIST)),
        // A change of the keywords past the letters renames no file.
        mtime(md.path().join(mailwright_maildir::EXTRA_KEYWORDS_FILE)),
    ]
}

impl Selected {
    /// Opens a mailbox: a read-write open claims the `\Recent` messages no session has claimed
    /// (and moves `new/` to `cur/`); a read-only one shows them without claiming.
    pub(crate) fn open(maildir: Maildir, read_only: bool) -> mailwright_maildir::Result<Self> {
        let state = if read_only {
            maildir.sync()?
        } else {
            maildir.sync_claim_recent()?
        };
        let recent: HashSet<u32> = if read_only {
            state.unclaimed_recent().map(|m| m.uid).collect()
        } else {
            state.claimed_recent.iter().copied().collect()
        };
        let mut last = state.clone();
        last.messages = Vec::new();
        Ok(Selected {
            maildir,
            read_only,
            uid_validity: state.uid_validity,
            uid_next: state.uid_next,
            highest_modseq: state.highest_modseq,
            msgs: state.messages.iter().map(Msg::from_state).collect(),
            recent,
            claimed_ahead: HashSet::new(),
            keywords: state.keywords.clone(),
            condstore: false,
            seen: None,
            owed_expunges: false,
            last,
        })
    }

    /// The number of messages.
    pub(crate) fn exists(&self) -> u32 {
        u32::try_from(self.msgs.len()).unwrap_or(u32::MAX)
    }

    /// Re-reads the mailbox and appends the untagged responses that tell the client what changed.
    /// With `allow_expunge == false`, messages gone from disk keep their numbers for now.
    pub(crate) fn refresh(
        &mut self,
        allow_expunge: bool,
        out: &mut Vec<Response<'static>>,
    ) -> mailwright_maildir::Result<()> {
        let sig = signature(&self.maildir);
        if sig[1].is_none() {
            // `cur/` is gone: the mailbox was deleted or renamed.
            return Err(mailwright_maildir::Error::NotMaildir(
                self.maildir.path().to_owned(),
            ));
        }
        // Directory mtimes tick with a coarse clock: trust an unchanged signature only once it
        // is a second old, so two changes within one tick are never mistaken for none.
        let settled = sig.iter().flatten().all(|t| {
            t.elapsed()
                .is_ok_and(|age| age > std::time::Duration::from_secs(1))
        });
        if settled && self.seen == Some(sig) && !(allow_expunge && self.owed_expunges) {
            return Ok(());
        }
        // Taken before the sync, so a change racing with it is seen next time.
        self.seen = Some(sig);
        let state: MailboxState = if self.read_only {
            self.maildir.sync()?
        } else {
            self.maildir.sync_claim_recent()?
        };
        self.last = state.clone();
        self.last.messages = Vec::new();
        if state.keywords != self.keywords {
            self.keywords = state.keywords.clone();
            self.flag_responses(out);
        }
        self.uid_next = state.uid_next;
        self.highest_modseq = state.highest_modseq;
        let fresh: HashMap<u32, &UidMessage> = state.messages.iter().map(|m| (m.uid, m)).collect();
        if allow_expunge {
            for i in (0..self.msgs.len()).rev() {
                if !fresh.contains_key(&self.msgs[i].uid) {
                    let gone = self.msgs.remove(i);
                    self.recent.remove(&gone.uid);
                    out.push(Response::Data(Data::Expunge(nz(i + 1))));
                }
            }
        }
        self.owed_expunges = self.msgs.iter().any(|m| !fresh.contains_key(&m.uid));
        let max_known = self.msgs.iter().map(|m| m.uid).max().unwrap_or(0);
        for (i, m) in self.msgs.iter_mut().enumerate() {
            if let Some(f) = fresh.get(&m.uid) {
                let changed = f.entry.flags() != m.entry.flags() || f.extra_keywords != m.extra;
                m.entry = f.entry.clone();
                m.modseq = f.modseq;
                m.extra.clone_from(&f.extra_keywords);
                if changed {
                    let flags = imap_flags(
                        m.entry.flags(),
                        &m.extra,
                        &self.keywords,
                        self.recent.contains(&m.uid),
                    );
                    let mut items =
                        vec![FetchItem::Flags(flags), FetchItem::Uid(nz(m.uid as usize))];
                    if self.condstore {
                        items.push(FetchItem::ModSeq(m.modseq));
                    }
                    out.push(Response::Data(Data::Fetch {
                        seq: nz(i + 1),
                        items: Vec1::try_from(items).expect("non-empty"),
                    }));
                }
            }
        }
        let before = self.msgs.len();
        let new: Vec<&UidMessage> = state
            .messages
            .iter()
            .filter(|m| m.uid > max_known)
            .collect();
        for m in new {
            // Recent here if this session claimed it (now, or by its own APPEND or COPY); a
            // read-only session shows what nobody has claimed.
            let recent = if self.read_only {
                m.uid >= state.first_recent || self.recent.contains(&m.uid)
            } else {
                state.claimed_recent.binary_search(&m.uid).is_ok()
                    || self.claimed_ahead.remove(&m.uid)
            };
            if recent {
                self.recent.insert(m.uid);
            } else {
                self.recent.remove(&m.uid);
            }
            self.msgs.push(Msg::from_state(m));
        }
        if self.msgs.len() != before
            || out
                .iter()
                .any(|r| matches!(r, Response::Data(Data::Expunge(_))))
        {
            out.push(Response::Data(Data::Exists(self.exists())));
            out.push(Response::Data(Data::Recent(self.recent_count())));
        }
        Ok(())
    }

    /// How many messages are `\Recent` in this session.
    pub(crate) fn recent_count(&self) -> u32 {
        u32::try_from(self.recent.len()).unwrap_or(u32::MAX)
    }

    /// Indexes of the messages a sequence set names (message numbers, or UIDs with `uid`).
    pub(crate) fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<usize> {
        if self.msgs.is_empty() {
            return Vec::new();
        }
        if uid {
            let largest = self.msgs.last().map_or(0, |m| m.uid);
            self.msgs
                .iter()
                .enumerate()
                .filter(|(_, m)| set.contains(m.uid, largest))
                .map(|(i, _)| i)
                .collect()
        } else {
            let largest = self.exists();
            (0..self.msgs.len())
                .filter(|i| set.contains(u32::try_from(i + 1).unwrap_or(u32::MAX), largest))
                .collect()
        }
    }

    /// Whether a message-number set names a number past the end (RFC 3501 §9: an error).
    pub(crate) fn out_of_range(&self, set: &SequenceSet) -> bool {
        let n = self.exists();
        set.items().iter().any(|item| {
            let past = |s: &SeqNumber| n == 0 || matches!(s, SeqNumber::Value(v) if v.get() > n);
            match item {
                SeqItem::Single(s) => past(s),
                SeqItem::Range(a, b) => past(a) && past(b),
                SeqItem::LastResult => false,
            }
        })
    }

    /// The FLAGS of message `i`.
    pub(crate) fn flags_of(&self, i: usize) -> Vec<FlagFetch<'static>> {
        let m = &self.msgs[i];
        imap_flags(
            m.entry.flags(),
            &m.extra,
            &self.keywords,
            self.recent.contains(&m.uid),
        )
    }

    /// `FLAGS` and `OK [PERMANENTFLAGS]` (RFC 3501 §6.3.1, §7.2.6): at SELECT, and again when
    /// the keywords change.
    pub(crate) fn flag_responses(&self, out: &mut Vec<Response<'static>>) {
        let flags = self.defined_flags();
        out.push(Response::Data(Data::Flags(flags.clone())));
        let mut perm: Vec<FlagPerm<'static>> = Vec::new();
        if !self.read_only {
            perm = flags.into_iter().map(FlagPerm::Flag).collect();
            perm.push(FlagPerm::Asterisk);
        }
        out.push(Response::Status(StatusResponse {
            tag: None,
            kind: StatusKind::Ok,
            code: Some(Code::PermanentFlags(perm)),
            text: Text::try_from("Flags permitted").expect("text"),
        }));
    }

    /// The flags clients may use: the system flags and the keywords defined here (all of them,
    /// letters or not).
    pub(crate) fn defined_flags(&self) -> Vec<Flag<'static>> {
        let mut v = vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ];
        for (_, name) in self.keywords.all_names() {
            if let Ok(a) = Atom::try_from(name.to_owned()) {
                v.push(Flag::Keyword(a));
            }
        }
        v
    }

    /// What STATUS reports of this mailbox in this session: the session's view.
    pub(crate) fn counts(&self) -> super::mailboxes::Counts {
        let mut counts = super::mailboxes::Counts {
            recent: u64::from(self.recent_count()),
            uid_next: self.uid_next,
            uid_validity: self.uid_validity,
            highest_modseq: self.highest_modseq,
            ..Default::default()
        };
        for m in &self.msgs {
            counts.add(&m.entry);
        }
        counts
    }

    /// A [`MailboxState`] of some messages, for the maildir crate's copy and move.
    pub(crate) fn state_of(&self, idx: &[usize]) -> MailboxState {
        let mut messages: Vec<UidMessage> = idx
            .iter()
            .map(|&i| {
                let m = &self.msgs[i];
                UidMessage {
                    uid: m.uid,
                    modseq: m.modseq,
                    entry: m.entry.clone(),
                    extra_keywords: m.extra.clone(),
                }
            })
            .collect();
        messages.sort_by_key(|m| m.uid);
        // The maildir crate's state has private bookkeeping: start from the last sync's, with
        // this session's view of the chosen messages.
        let mut state = self.last.clone();
        state.messages = messages;
        state.keywords = self.keywords.clone();
        state
    }
}

/// A non-zero number from a count that is at least 1.
pub(crate) fn nz(n: usize) -> NonZeroU32 {
    NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN)
}

/// Maildir flags as IMAP flags (`T` is `\Deleted`, `R` `\Answered`, letters are keywords),
/// with the keywords past the letters (`extra`).
pub(crate) fn imap_flags(
    flags: Flags,
    extra: &[u32],
    keywords: &Keywords,
    recent: bool,
) -> Vec<FlagFetch<'static>> {
    let mut out = Vec::new();
    for (md, imap) in [
        (MdFlag::Replied, Flag::Answered),
        (MdFlag::Flagged, Flag::Flagged),
        (MdFlag::Trashed, Flag::Deleted),
        (MdFlag::Seen, Flag::Seen),
        (MdFlag::Draft, Flag::Draft),
    ] {
        if flags.contains(md) {
            out.push(FlagFetch::Flag(imap));
        }
    }
    // Dovecot's order: the system flags, \Recent, then the keywords.
    if recent {
        out.push(FlagFetch::Recent);
    }
    if flags.contains(MdFlag::Passed) {
        out.push(FlagFetch::Flag(Flag::Keyword(
            Atom::try_from("$Forwarded").expect("atom"),
        )));
    }
    for name in keywords.names_of(flags, extra) {
        if name.eq_ignore_ascii_case("$Forwarded") && flags.contains(MdFlag::Passed) {
            continue;
        }
        if let Ok(a) = Atom::try_from(name.to_owned()) {
            out.push(FlagFetch::Flag(Flag::Keyword(a)));
        }
    }
    out
}

/// IMAP flags split into Maildir system flags (`$Forwarded` is `P`) and keyword names, for
/// `Maildir::store` and `Maildir::append_with`, which give the names letters or keep them past
/// the letters. Flag extensions other than the system flags are dropped (not permanent here).
pub(crate) fn split_flags<'a>(flags: &'a [Flag<'_>]) -> (Flags, Vec<&'a str>) {
    let mut out = Flags::empty();
    let mut names: Vec<&str> = Vec::new();
    for f in flags {
        match f {
            Flag::Answered => out.insert(MdFlag::Replied),
            Flag::Flagged => out.insert(MdFlag::Flagged),
            Flag::Deleted => out.insert(MdFlag::Trashed),
            Flag::Seen => out.insert(MdFlag::Seen),
            Flag::Draft => out.insert(MdFlag::Draft),
            Flag::Keyword(k) if k.as_str().eq_ignore_ascii_case("$Forwarded") => {
                out.insert(MdFlag::Passed);
            }
            Flag::Keyword(k) => names.push(k.as_str()),
            Flag::Extension(_) => {}
        }
    }
    (out, names)
}

/// A compact UID set (`1:3,7`) of ascending or unordered UIDs, in the order given.
pub(crate) fn uid_set(uids: &[u32]) -> Option<SequenceSet> {
    let mut items: Vec<SeqItem> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            end += 1;
            i += 1;
        }
        let v = |n: u32| SeqNumber::Value(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        items.push(if start == end {
            SeqItem::Single(v(start))
        } else {
            SeqItem::Range(v(start), v(end))
        });
        i += 1;
    }
    SequenceSet::try_from(items).ok()
}
