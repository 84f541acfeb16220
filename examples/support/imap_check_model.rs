//! The client-side model of an `imap_check` session (see `imap_check.rs`): the UID and flags
//! of every message number, kept from the untagged responses as a client keeps them and
//! checked response by response; and the helpers the operations share.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use mailwright::imap::types::command::{FetchAttribute, FetchItems, Section, SectionText};
use mailwright::imap::types::flag::{Flag, FlagFetch};
use mailwright::imap::types::response::FetchItem;
use mailwright::imap::types::sequence::{SeqItem, SeqNumber, SequenceSet};
use mailwright::imap::{Atom, ClientEvent, Code, CommandBody, Data, StatusKind, Vec1};

use super::imap_check::Checker;
use super::imap_client::Reply;

/// One message number as the session knows it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slot {
    pub(crate) uid: Option<u32>,
    /// Case-folded, without `\Recent`.
    pub(crate) flags: Option<BTreeSet<String>>,
    pub(crate) recent: bool,
    pub(crate) modseq: Option<u64>,
}

/// How the responses of one command are read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reading {
    /// The command is a UID command (its SEARCH results are UIDs).
    pub(crate) uid: bool,
    /// FLAGS that differ from the session's model are a missed update (the checkpoint FETCH).
    pub(crate) verify: bool,
}

/// The flag pool of STORE and APPEND: system flags and 30 keywords (past the 26 letters a
/// Maildir names).
pub(crate) fn pool(i: u32) -> Flag<'static> {
    match i {
        0 => Flag::Seen,
        1 => Flag::Flagged,
        2 => Flag::Answered,
        3 => Flag::Draft,
        i => Flag::Keyword(Atom::try_from(format!("k{:02}", (i - 4) % 30)).expect("atom")),
    }
}
pub(crate) const POOL: u32 = 34;

pub(crate) fn flag_name(f: &Flag<'_>) -> String {
    match f {
        Flag::Answered => "\\answered".into(),
        Flag::Flagged => "\\flagged".into(),
        Flag::Deleted => "\\deleted".into(),
        Flag::Seen => "\\seen".into(),
        Flag::Draft => "\\draft".into(),
        Flag::Keyword(k) => k.as_str().to_ascii_lowercase(),
        Flag::Extension(e) => format!("\\{}", e.as_str().to_ascii_lowercase()),
    }
}

pub(crate) fn flag_set(flags: &[FlagFetch<'_>]) -> (BTreeSet<String>, bool) {
    let mut set = BTreeSet::new();
    let mut recent = false;
    for f in flags {
        match f {
            FlagFetch::Flag(f) => {
                set.insert(flag_name(f));
            }
            FlagFetch::Recent => recent = true,
        }
    }
    (set, recent)
}

pub(crate) fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

pub(crate) fn set_of(numbers: &[u32]) -> SequenceSet {
    let items: Vec<SeqItem> = numbers
        .iter()
        .map(|&n| SeqItem::Single(SeqNumber::Value(nz(n))))
        .collect();
    SequenceSet::try_from(items).expect("non-empty")
}

pub(crate) fn range(lo: u32, hi: u32) -> SequenceSet {
    SequenceSet::try_from(vec![SeqItem::Range(
        SeqNumber::Value(nz(lo)),
        SeqNumber::Value(nz(hi)),
    )])
    .expect("one item")
}

/// The numbers of a set of values (UIDPLUS data), in order.
pub(crate) fn expand(set: &SequenceSet) -> Vec<u32> {
    let mut out = Vec::new();
    for item in set.items() {
        match item {
            SeqItem::Single(SeqNumber::Value(v)) => out.push(v.get()),
            SeqItem::Range(SeqNumber::Value(a), SeqNumber::Value(b)) => {
                let (a, b) = (a.get().min(b.get()), a.get().max(b.get()));
                out.extend(a..=b);
            }
            _ => {}
        }
    }
    out
}

pub(crate) fn section(text: Option<SectionText<'static>>) -> Section<'static> {
    Section::new(Vec::new(), text).expect("valid section")
}

impl Checker {
    pub(crate) fn fail(&mut self, what: &str) {
        if self.report.failures.len() < 100 {
            self.report
                .failures
                .push(format!("session {}: {what}", self.id));
        }
    }

    pub(crate) fn disagree(&mut self, what: &str) {
        if self.report.disagreements.len() < 100 {
            self.report
                .disagreements
                .push(format!("session {}: {what}", self.id));
        }
    }

    /// Sends a command and reads its responses into the model; a NO, BAD or lost connection is
    /// a failure. `None` when the connection is lost.
    pub(crate) async fn cmd(
        &mut self,
        name: &str,
        body: CommandBody<'_>,
        how: Reading,
    ) -> Option<Reply> {
        if self.dead {
            return None;
        }
        self.report.commands += 1;
        match self.conn.command(body).await {
            Err(e) => {
                self.fail(&format!("{name}: connection lost: {e}"));
                self.dead = true;
                None
            }
            Ok(r) => {
                self.read(&r, how);
                if r.status.kind == StatusKind::Ok {
                    if matches!(&r.status.code, Some(Code::Other(a, _)) if a.as_str() == "EXPUNGEISSUED")
                    {
                        self.report.expunge_issued += 1;
                    }
                } else {
                    self.fail(&format!(
                        "{name} answered {:?} {}",
                        r.status.kind,
                        r.status.text.as_str()
                    ));
                }
                Some(r)
            }
        }
    }

    /// Applies a command's untagged responses to the model, in order, checking them.
    pub(crate) fn read(&mut self, r: &Reply, how: Reading) {
        for ev in &r.untagged {
            match ev {
                ClientEvent::Data(d) => self.data(d, how),
                ClientEvent::Status(s) if s.kind == StatusKind::Bye => {
                    self.fail(&format!("BYE {}", s.text.as_str()));
                }
                ClientEvent::Malformed { error } => {
                    self.disagree(&format!("unreadable response: {error:?}"));
                }
                _ => {}
            }
        }
    }

    pub(crate) fn data(&mut self, d: &Data<'_>, how: Reading) {
        match d {
            Data::Exists(n) => {
                let n = *n as usize;
                if n < self.slots.len() {
                    let msg = format!(
                        "EXISTS {n} below the {} messages the session knows, without EXPUNGE",
                        self.slots.len()
                    );
                    self.disagree(&msg);
                } else {
                    self.slots.resize(n, Slot::default());
                }
            }
            Data::Expunge(k) => {
                let k = k.get() as usize;
                if k > self.slots.len() {
                    let msg = format!("EXPUNGE {k} past the {} messages", self.slots.len());
                    self.disagree(&msg);
                } else {
                    self.slots.remove(k - 1);
                }
            }
            Data::Fetch { seq, items } => self.fetched(seq.get() as usize, items, how),
            Data::Search { ids, .. } => {
                let ids: Vec<u32> = ids.iter().map(|n| n.get()).collect();
                self.searched(&ids, how);
                self.last_search = ids;
            }
            _ => {}
        }
    }

    pub(crate) fn fetched(&mut self, n: usize, items: &Vec1<FetchItem<'_>>, how: Reading) {
        if n == 0 || n > self.slots.len() {
            let msg = format!("FETCH {n} past the {} messages", self.slots.len());
            self.disagree(&msg);
            return;
        }
        let mut problems = Vec::new();
        let slot = &mut self.slots[n - 1];
        for it in items.iter() {
            match it {
                FetchItem::Uid(u) => match slot.uid {
                    None => slot.uid = Some(u.get()),
                    Some(k) if k != u.get() => problems.push(format!(
                        "FETCH says message {n} is UID {u}, the session knows it as UID {k}"
                    )),
                    Some(_) => {}
                },
                FetchItem::Flags(f) => {
                    let (set, recent) = flag_set(f);
                    // (Not `\Recent`: Dovecot may give it to a session after telling it the
                    // message's flags without it.)
                    if how.verify && slot.flags.as_ref() != Some(&set) {
                        problems.push(format!(
                            "message {n} (UID {:?}) has flags {set:?}, but the session was told {:?}",
                            slot.uid, slot.flags
                        ));
                    }
                    slot.flags = Some(set);
                    slot.recent = recent;
                }
                FetchItem::ModSeq(m) => {
                    if slot.modseq.is_some_and(|old| *m < old) {
                        problems.push(format!(
                            "MODSEQ of message {n} went down from {:?} to {m}",
                            slot.modseq
                        ));
                    }
                    slot.modseq = Some(*m);
                }
                _ => {}
            }
        }
        for p in problems {
            self.disagree(&p);
        }
    }

    pub(crate) fn searched(&mut self, ids: &[u32], how: Reading) {
        if how.uid {
            let known: BTreeSet<u32> = self.slots.iter().filter_map(|s| s.uid).collect();
            let complete = self.slots.iter().all(|s| s.uid.is_some());
            let max = known.last().copied().unwrap_or(0);
            for u in ids {
                if complete && *u <= max && !known.contains(u) {
                    self.disagree(&format!("UID SEARCH found UID {u}, unknown to the session"));
                }
            }
        } else if let Some(n) = ids.iter().find(|n| **n as usize > self.slots.len()) {
            let msg = format!("SEARCH found message {n} past the {}", self.slots.len());
            self.disagree(&msg);
        }
    }

    pub(crate) fn max_uid(&self) -> u32 {
        self.slots.iter().filter_map(|s| s.uid).max().unwrap_or(0)
    }

    pub(crate) fn slot_of(&self, uid: u32) -> Option<usize> {
        self.slots.iter().position(|s| s.uid == Some(uid))
    }

    /// Asks for the UID and flags of the messages the session learnt of by EXISTS only (more
    /// may arrive meanwhile: a few rounds, then the next command goes on).
    pub(crate) async fn complete(&mut self) -> bool {
        for _ in 0..4 {
            let missing = |s: &Slot| s.uid.is_none() || s.flags.is_none();
            let (Some(lo), Some(hi)) = (
                self.slots.iter().position(missing),
                self.slots.iter().rposition(missing),
            ) else {
                return true;
            };
            let set = range(lo as u32 + 1, hi as u32 + 1);
            let items = self.fetch_items();
            self.cmd(
                "FETCH",
                CommandBody::Fetch {
                    uid: false,
                    set,
                    items,
                    changed_since: None,
                    vanished: false,
                },
                Reading::default(),
            )
            .await;
            if self.dead {
                return false;
            }
        }
        self.slots
            .iter()
            .all(|s| s.uid.is_some() && s.flags.is_some())
    }

    pub(crate) fn fetch_items(&self) -> FetchItems<'static> {
        let mut items = vec![FetchAttribute::Uid, FetchAttribute::Flags];
        if self.condstore {
            items.push(FetchAttribute::ModSeq);
        }
        FetchItems::List(Vec1::try_from(items).expect("non-empty"))
    }
}
