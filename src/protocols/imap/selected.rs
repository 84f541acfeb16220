//! The selected mailbox: the session's view of message numbers, UIDs and flags, and the untagged
//! updates (EXISTS, RECENT, EXPUNGE, FETCH FLAGS) that bring a client up to date with changes
//! made by other sessions, other programs or delivery.
//!
//! - Message sequence numbers are the session's own: a message expunged elsewhere keeps its number
//!   until an EXPUNGE response is allowed (RFC 3501 §7.4.1: never during FETCH, STORE or SEARCH).
//! - `\Recent` (RFC 3501 §2.3.2): a read-write session claims the new messages at each sync
//!   (the store gives each to one session only), so each is recent in the first read-write
//!   session to learn of it and nowhere else. A read-only session (EXAMINE) shows the unclaimed
//!   ones as recent without claiming them.
//! - Keywords: any number per mailbox, by name; `PERMANENTFLAGS` keeps `\*`.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;

use mailwright_imap_proto::types::flag::{Flag, FlagFetch, FlagPerm};
use mailwright_imap_proto::types::response::{
    Code, Data, FetchItem, Response, StatusKind, StatusResponse,
};
use mailwright_imap_proto::types::sequence::{SeqItem, SeqNumber, SequenceSet};
use mailwright_imap_proto::{Atom, Text, Vec1};

use crate::store::{
    Flag as StoreFlag, Flags, Keyword, MailboxName, MailboxStatus, MailboxView, MessageInfo,
    SelectedMailbox, StoreError,
};

/// One message of the selected mailbox, as the session shows it.
pub(crate) type Msg = MessageInfo;

/// The selected mailbox.
#[derive(Debug)]
pub(crate) struct Selected {
    /// The store's handle of the mailbox.
    pub(crate) mailbox: Box<dyn SelectedMailbox>,
    pub(crate) read_only: bool,
    pub(crate) uid_validity: u32,
    pub(crate) uid_next: u32,
    pub(crate) highest_modseq: u64,
    /// In sequence order (sequence number = index + 1).
    pub(crate) msgs: Vec<Msg>,
    /// The messages `\Recent` in this session. A UID above those shown is kept at the next
    /// refresh only if this session claimed it (then or in `claimed_ahead`).
    pub(crate) recent: HashSet<u32>,
    /// UIDs this session claimed before showing them (after its own APPEND or COPY into this
    /// mailbox): recent when they show up.
    pub(crate) claimed_ahead: HashSet<u32>,
    /// The keywords defined in the mailbox, as last told to the client (FLAGS).
    pub(crate) keywords: Vec<Keyword>,
    /// CONDSTORE is on (RFC 7162 §3.1): FETCH responses carry MODSEQ.
    pub(crate) condstore: bool,
    /// QRESYNC is on (RFC 7162 §3.2.10): expunges are announced as `VANISHED uids`.
    pub(crate) qresync: bool,
    /// Set when this session's own change got a MODSEQ above changes of others it has not
    /// reported yet: the HIGHESTMODSEQ up to which the client knows everything (RFC 7162 §3.2).
    /// Cleared by the next refresh, which reports them.
    pub(crate) unreported_below: Option<u64>,
    /// Messages gone from the store whose EXPUNGE is still owed to the client.
    owed_expunges: bool,
    /// The UIDs the last SEARCH or SORT with `RETURN (SAVE)` saved, that `$` names (RFC 5182).
    pub(crate) saved: HashSet<u32>,
}

impl Selected {
    /// The session's view of a mailbox the store opened, from its first view.
    pub(crate) fn open(mailbox: Box<dyn SelectedMailbox>, view: MailboxView) -> Self {
        Selected {
            read_only: mailbox.read_only(),
            mailbox,
            uid_validity: view.uid_validity,
            uid_next: view.uid_next,
            highest_modseq: view.highest_modseq,
            msgs: view.messages,
            recent: view.recent.into_iter().collect(),
            claimed_ahead: HashSet::new(),
            keywords: view.keywords,
            condstore: false,
            qresync: false,
            unreported_below: None,
            owed_expunges: false,
            saved: HashSet::new(),
        }
    }

    /// The mailbox's name.
    pub(crate) fn name(&self) -> &MailboxName {
        self.mailbox.name()
    }

    /// The number of messages.
    pub(crate) fn exists(&self) -> u32 {
        u32::try_from(self.msgs.len()).unwrap_or(u32::MAX)
    }

    /// Re-reads the mailbox and appends the untagged responses that tell the client what changed.
    /// With `allow_expunge == false`, messages gone from the store keep their numbers for now.
    pub(crate) fn refresh(
        &mut self,
        allow_expunge: bool,
        out: &mut Vec<Response<'static>>,
    ) -> Result<(), StoreError> {
        let Some(view) = self.mailbox.sync(allow_expunge && self.owed_expunges)? else {
            return Ok(());
        };
        if view.keywords != self.keywords {
            self.keywords = view.keywords;
            self.flag_responses(out);
        }
        self.uid_next = view.uid_next;
        self.highest_modseq = view.highest_modseq;
        if allow_expunge {
            self.unreported_below = None;
        }
        let recent_before = self.recent_count();
        let mut fresh: HashMap<u32, MessageInfo> =
            view.messages.into_iter().map(|m| (m.uid, m)).collect();
        if allow_expunge {
            let mut released = Vec::new();
            for i in (0..self.msgs.len()).rev() {
                if !fresh.contains_key(&self.msgs[i].uid) {
                    let gone = self.msgs.remove(i);
                    self.recent.remove(&gone.uid);
                    released.push(gone.uid);
                    if !self.qresync {
                        out.push(Response::Data(Data::Expunge(nz(i + 1))));
                    }
                }
            }
            // RFC 7162 §3.2.10: once QRESYNC is enabled, one VANISHED in place of the EXPUNGEs.
            if self.qresync
                && let Some(uids) = SequenceSet::from_numbers(released.iter().copied())
            {
                out.push(Response::Data(Data::Vanished {
                    earlier: false,
                    uids,
                }));
            }
            self.mailbox.release(&released);
        }
        self.owed_expunges = self.msgs.iter().any(|m| !fresh.contains_key(&m.uid));
        let max_known = self.msgs.iter().map(|m| m.uid).max().unwrap_or(0);
        for (i, m) in self.msgs.iter_mut().enumerate() {
            if let Some(f) = fresh.remove(&m.uid) {
                let changed = f.flags != m.flags || f.keywords != m.keywords;
                *m = f;
                if changed {
                    let flags = imap_flags(m, self.recent.contains(&m.uid));
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
        let mut new: Vec<MessageInfo> = fresh.into_values().filter(|m| m.uid > max_known).collect();
        new.sort_by_key(|m| m.uid);
        for m in new {
            // Recent here if this session claimed it (now, or by its own APPEND or COPY); a
            // read-only session shows what nobody has claimed.
            let recent = if self.read_only {
                view.recent.binary_search(&m.uid).is_ok() || self.recent.contains(&m.uid)
            } else {
                view.recent.binary_search(&m.uid).is_ok() || self.claimed_ahead.remove(&m.uid)
            };
            if recent {
                self.recent.insert(m.uid);
            } else {
                self.recent.remove(&m.uid);
            }
            self.msgs.push(m);
        }
        // As Dovecot: EXISTS when messages arrived (each EXPUNGE already lowered the count the
        // client keeps, RFC 3501 §7.4.1), RECENT when this session's count changed.
        if self.msgs.len() != before {
            out.push(Response::Data(Data::Exists(self.exists())));
        }
        if self.recent_count() != recent_before {
            out.push(Response::Data(Data::Recent(self.recent_count())));
        }
        Ok(())
    }

    /// After this session's own change (STORE, the `\Seen` of a FETCH) took the mailbox from
    /// `before` to `after` with `own` MODSEQs of its own: if the mailbox moved further, others
    /// changed it meanwhile (flags, expunges) and the client has not been told. Returns whether
    /// so; then [`report_unreported`](Self::report_unreported) once the command's responses
    /// are out.
    pub(crate) fn own_changes(&mut self, before: u64, after: u64, own: usize) -> bool {
        if after <= before.saturating_add(own as u64) {
            return false;
        }
        self.unreported_below = Some(self.unreported_below.map_or(before, |f| f.min(before)));
        true
    }

    /// A client that took the MODSEQs of this session's own changes for its resynchronisation
    /// point would skip the changes of others not reported yet: with CONDSTORE, `* OK
    /// [HIGHESTMODSEQ n]` after the command's responses says up to where it knows everything
    /// (RFC 7162 §3.2; Dovecot completes such a command `OK [HIGHESTMODSEQ n]`).
    pub(crate) fn report_unreported(&self, out: &mut Vec<Response<'static>>) {
        if let (true, Some(floor)) = (self.condstore, self.unreported_below) {
            out.push(Response::Status(StatusResponse {
                tag: None,
                kind: StatusKind::Ok,
                code: Some(Code::HighestModSeq(floor)),
                text: Text::try_from("Some changes not reported yet").expect("text"),
            }));
        }
    }

    /// How many messages are `\Recent` in this session.
    pub(crate) fn recent_count(&self) -> u32 {
        u32::try_from(self.recent.len()).unwrap_or(u32::MAX)
    }

    /// Indexes of the messages a sequence set names (message numbers, or UIDs with `uid`).
    pub(crate) fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<usize> {
        (0..self.msgs.len())
            .filter(|&i| self.in_set(set, i, uid))
            .collect()
    }

    /// Whether message `i` is in `set` (of UIDs with `uid`, else of sequence numbers); `$` is
    /// the saved result (RFC 5182 §2.1), whichever numbers the command takes.
    pub(crate) fn in_set(&self, set: &SequenceSet, i: usize, uid: bool) -> bool {
        let m = &self.msgs[i];
        let hit = if uid {
            set.contains(m.uid, self.msgs.last().map_or(0, |l| l.uid))
        } else {
            set.contains(u32::try_from(i + 1).unwrap_or(u32::MAX), self.exists())
        };
        hit || (set.uses_last_result() && self.saved.contains(&m.uid))
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
        imap_flags(m, self.recent.contains(&m.uid))
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

    /// The flags clients may use: the system flags and every keyword defined here.
    pub(crate) fn defined_flags(&self) -> Vec<Flag<'static>> {
        let mut v = vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ];
        for name in &self.keywords {
            if let Ok(a) = Atom::try_from(name.to_string()) {
                v.push(Flag::Keyword(a));
            }
        }
        v
    }

    /// What STATUS reports of this mailbox in this session: the session's view.
    pub(crate) fn counts(&self) -> MailboxStatus {
        let mut counts = MailboxStatus {
            recent: u64::from(self.recent_count()),
            uid_next: self.uid_next,
            uid_validity: self.uid_validity,
            highest_modseq: self.highest_modseq,
            ..Default::default()
        };
        for m in &self.msgs {
            counts.add(m);
        }
        counts
    }

    /// The UIDs of the messages at these indexes.
    pub(crate) fn uids_of(&self, idx: &[usize]) -> Vec<u32> {
        idx.iter().map(|&i| self.msgs[i].uid).collect()
    }

    /// Takes the messages a STORE changed from the store's answer (only those: the store may
    /// know of other changes, which the next refresh reports).
    pub(crate) fn update(&mut self, idx: &[usize], stored: &[MessageInfo]) {
        let stored: HashMap<u32, &MessageInfo> = stored.iter().map(|m| (m.uid, m)).collect();
        for &i in idx {
            let msg = &mut self.msgs[i];
            if let Some(m) = stored.get(&msg.uid) {
                msg.flags = m.flags;
                msg.keywords.clone_from(&m.keywords);
                msg.modseq = msg.modseq.max(m.modseq);
            }
        }
    }
}

/// A non-zero number from a count that is at least 1.
pub(crate) fn nz(n: usize) -> NonZeroU32 {
    NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN)
}

/// The IMAP flags of a message: the system flags, `\Recent`, then the keywords (Dovecot's
/// order).
pub(crate) fn imap_flags(m: &MessageInfo, recent: bool) -> Vec<FlagFetch<'static>> {
    let mut out = Vec::with_capacity(m.keywords.len() + 2);
    for (store, imap) in [
        (StoreFlag::Answered, Flag::Answered),
        (StoreFlag::Flagged, Flag::Flagged),
        (StoreFlag::Deleted, Flag::Deleted),
        (StoreFlag::Seen, Flag::Seen),
        (StoreFlag::Draft, Flag::Draft),
    ] {
        if m.flags.contains(store) {
            out.push(FlagFetch::Flag(imap));
        }
    }
    if recent {
        out.push(FlagFetch::Recent);
    }
    for name in &m.keywords {
        if let Ok(a) = Atom::try_from(name.to_string()) {
            out.push(FlagFetch::Flag(Flag::Keyword(a)));
        }
    }
    out
}

/// IMAP flags split into the store's system flags and keyword names. Flag extensions other
/// than the system flags are dropped (not permanent here).
pub(crate) fn split_flags<'a>(flags: &'a [Flag<'_>]) -> (Flags, Vec<&'a str>) {
    let mut out = Flags::empty();
    let mut names: Vec<&str> = Vec::new();
    for f in flags {
        match f {
            Flag::Answered => out.insert(StoreFlag::Answered),
            Flag::Flagged => out.insert(StoreFlag::Flagged),
            Flag::Deleted => out.insert(StoreFlag::Deleted),
            Flag::Seen => out.insert(StoreFlag::Seen),
            Flag::Draft => out.insert(StoreFlag::Draft),
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
