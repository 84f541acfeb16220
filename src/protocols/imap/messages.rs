//! Commands on the messages of the selected mailbox, and APPEND: EXPUNGE, the plan of a FETCH,
//! STORE, COPY and MOVE, SEARCH (RFC 3501 §6.4), APPEND (§6.3.11), with the data of UIDPLUS
//! (RFC 4315), MOVE (RFC 6851) and CONDSTORE (RFC 7162).
//!
//! - Keywords go to the store by name (`SelectedMailbox::store`, `Account::append`), so a
//!   mailbox takes any number of them; `-FLAGS` of a keyword nobody uses defines nothing.
//!   When the mailbox's keywords grow, FLAGS and PERMANENTFLAGS go out again (RFC 3501 §7.2.6).
//! - A message this session APPENDs or COPYs into the mailbox it has selected read-write is
//!   claimed as `\Recent` here (`SelectedMailbox::claim_recent`), as Dovecot does; nowhere else.

use mailwright_imap_proto::types::command::SearchReturnOption;
use std::collections::BTreeSet;

use mailwright_imap_proto::types::command::{FetchAttribute, StoreKind};
use mailwright_imap_proto::types::flag::{Flag, FlagFetch};
use mailwright_imap_proto::types::response::{Code, Response, StatusKind};
use mailwright_imap_proto::types::sequence::SequenceSet;
use mailwright_imap_proto::{Tag, Vec1};

use super::fetch;
use super::mailboxes::{No, code};
use super::names;
use super::search;
use super::selected::{Selected, split_flags, uid_set};
use super::session::{Completion, FetchPlan, Session, StoreRequest, status};
use crate::store::{AppendRequest, FlagOp, StoreError, Transfer};

/// The result of a command: the code and text of its tagged OK, or its NO.
type Answer = Result<(Option<Code<'static>>, String), No>;

impl Session {
    /// EXPUNGE, or UID EXPUNGE of `uids` (RFC 4315 §2.1).
    pub(crate) fn expunge(
        &mut self,
        uids: Option<&SequenceSet>,
        out: &mut Vec<Response<'static>>,
    ) -> Answer {
        let sel = self.sel()?;
        if sel.read_only {
            return Err(No(Some(Code::ReadOnly), "Mailbox is read-only".into()));
        }
        let scope: Vec<usize> = match uids {
            Some(set) => sel.resolve(set, true),
            None => (0..sel.msgs.len()).collect(),
        };
        // The store looks again: a \Deleted cleared meanwhile by another session stays.
        sel.mailbox.expunge(&sel.uids_of(&scope))?;
        sel.refresh(true, out)?;
        Ok((None, "EXPUNGE completed".into()))
    }

    /// Checks a FETCH and decides which messages and items it returns; the connection loop
    /// then runs [`Session::fetch_some`] over the messages in steps, writing as it goes.
    pub(crate) fn fetch_plan(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        attrs: &[FetchAttribute<'_>],
        changed_since: Option<u64>,
        out: &mut Vec<Response<'static>>,
    ) -> Result<FetchPlan, No> {
        let sel = self.sel()?;
        if !uid && sel.out_of_range(set) {
            return Err(No(None, "Invalid message sequence number".into()));
        }
        // RFC 7162 §3.1: the MODSEQ item and the CHANGEDSINCE modifier enable CONDSTORE.
        if changed_since.is_some() || attrs.contains(&FetchAttribute::ModSeq) {
            self.enable_condstore(out);
        }
        let sel = self.sel()?;
        if uid {
            // RFC 3501 §7.4.1: EXPUNGE may be sent during UID FETCH.
            sel.refresh(true, out)?;
        }
        let mut idx = sel.resolve(set, uid);
        let mut attrs: Vec<FetchAttribute<'static>> = attrs
            .iter()
            .map(|a| mailwright_imap_proto::IntoStatic::into_static(a.clone()))
            .collect();
        // RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ. A FETCH without it or MODSEQ gets no
        // MODSEQ, even with CONDSTORE on (§3.1: the rule that adds UID and MODSEQ covers flag
        // changes, not what a FETCH asked for), as Dovecot answers; a \Seen this FETCH sets
        // comes with its UID and MODSEQ (fetch::fetch).
        if changed_since.is_some() && !attrs.contains(&FetchAttribute::ModSeq) {
            attrs.push(FetchAttribute::ModSeq);
        }
        if let Some(since) = changed_since {
            idx.retain(|&i| sel.msgs[i].modseq > since);
        }
        Ok(FetchPlan { idx, attrs, uid })
    }

    /// FETCH responses for some of a plan's messages; returns how many were gone from the store.
    pub(crate) fn fetch_some(
        &mut self,
        plan: &FetchPlan,
        idx: &[usize],
        out: &mut Vec<Response<'static>>,
    ) -> FetchTally {
        match &mut self.selected {
            Some(sel) => fetch::fetch(sel, idx, &plan.attrs, plan.uid, out),
            None => FetchTally {
                gone: idx.len(),
                unknown_cte: false,
            },
        }
    }

    /// The tagged completion of a FETCH: a message gone from the store (removed behind its back,
    /// or expunged longer ago than it keeps messages readable) was answered without its contents, and
    /// the FETCH completes `OK [EXPUNGEISSUED]` (RFC 2180 §4.1.2, Dovecot's words).
    pub(crate) fn fetch_done(uid: bool, tally: FetchTally) -> Completion {
        if tally.unknown_cte {
            // RFC 3516 §4.3: a part whose encoding the server does not know.
            return Completion::of(Err(No(
                Some(code("UNKNOWN-CTE")),
                "Unknown Content-Transfer-Encoding".into(),
            )));
        }
        Completion::of(Ok(if tally.gone > 0 {
            (
                Some(code("EXPUNGEISSUED")),
                "Some messages were already expunged".into(),
            )
        } else {
            (
                None,
                format!("{} completed", if uid { "UID FETCH" } else { "FETCH" }),
            )
        }))
    }

    /// STORE and UID STORE (RFC 3501 §6.4.6), with UNCHANGEDSINCE (RFC 7162 §3.1.3).
    pub(crate) fn store(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        req: &StoreRequest,
        flags: &[Flag<'_>],
        out: &mut Vec<Response<'static>>,
    ) -> Answer {
        let sel = self.sel()?;
        if sel.read_only {
            return Err(No(Some(Code::ReadOnly), "Mailbox is read-only".into()));
        }
        if !uid && sel.out_of_range(set) {
            return Err(No(None, "Invalid message sequence number".into()));
        }
        if req.unchanged_since.is_some() {
            self.enable_condstore(out);
        }
        let sel = self.sel()?;
        let (system, names) = split_flags(flags);
        let op = match req.kind {
            StoreKind::Add => FlagOp::Add,
            StoreKind::Remove => FlagOp::Remove,
            StoreKind::Replace => FlagOp::Replace,
        };
        let idx = sel.resolve(set, uid);
        let uids = sel.uids_of(&idx);
        // What the client believes after a .SILENT STORE: its view with the change applied.
        let believed: Vec<BTreeSet<String>> = if req.silent {
            idx.iter()
                .map(|&i| changed_view(&flag_set(&sel.flags_of(i)), req.kind, flags))
                .collect()
        } else {
            Vec::new()
        };
        // The store checks UNCHANGEDSINCE and gives each change its MODSEQ at once.
        let before = sel.highest_modseq;
        let result = sel
            .mailbox
            .store(&uids, op, system, &names, req.unchanged_since)?;
        let unreported = sel.own_changes(before, result.highest_modseq, result.changed.len());
        // The flags may have defined keywords: announce the new FLAGS (RFC 3501 §7.2.6).
        if result.keywords != sel.keywords {
            sel.keywords = result.keywords;
            sel.flag_responses(out);
        }
        sel.highest_modseq = sel.highest_modseq.max(result.highest_modseq);
        sel.update(&idx, &result.messages);
        for (k, &i) in idx.iter().enumerate() {
            if result.modified.contains(&sel.msgs[i].uid) {
                continue;
            }
            // RFC 3501 §6.4.6: .SILENT spares the client the change it asked for, not a change
            // another session made meanwhile (found by the rename): that one is reported.
            let hidden = req.silent && believed[k] != flag_set(&sel.flags_of(i));
            if !req.silent || hidden {
                out.push(fetch::flags_response(sel, i, uid));
            } else if sel.condstore {
                out.push(fetch::modseq_response(sel, i));
            }
        }
        let name = if uid { "UID STORE" } else { "STORE" };
        let mut modified: Vec<u32> = result
            .modified
            .iter()
            .filter_map(|u| {
                if uid {
                    Some(*u)
                } else {
                    sel.msgs
                        .binary_search_by_key(u, |x| x.uid)
                        .ok()
                        .map(|i| u32::try_from(i + 1).unwrap_or(u32::MAX))
                }
            })
            .collect();
        if unreported {
            sel.report_unreported(out);
        }
        if modified.is_empty() {
            Ok((None, format!("{name} completed")))
        } else {
            modified.sort_unstable();
            Ok((
                uid_set(&modified).map(Code::Modified),
                format!("Conditional {name} failed"),
            ))
        }
    }

    /// COPY and MOVE (RFC 6851), with COPYUID (RFC 4315 §3).
    pub(crate) fn copy(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mailbox: &mailwright_imap_proto::types::mailbox::Mailbox<'_>,
        is_move: bool,
        out: &mut Vec<Response<'static>>,
    ) -> Answer {
        let account = self.account()?;
        let target = names::resolve(mailbox)?;
        if !account.exists(&target)? {
            return Err(No(Some(Code::TryCreate), "No such mailbox".into()));
        }
        let sel = self.sel()?;
        if is_move && sel.read_only {
            return Err(No(Some(Code::ReadOnly), "Mailbox is read-only".into()));
        }
        if !uid && sel.out_of_range(set) {
            return Err(No(None, "Invalid message sequence number".into()));
        }
        let idx = sel.resolve(set, uid);
        let uids = sel.uids_of(&idx);
        let how = if is_move {
            Transfer::Move
        } else {
            Transfer::Copy
        };
        let result = match sel.mailbox.copy(&uids, &target, how) {
            Err(StoreError::NoSuchMailbox) => {
                return Err(No(Some(Code::TryCreate), "No such mailbox".into()));
            }
            other => other?,
        };
        let src: Vec<u32> = result.uids.iter().map(|(s, _)| *s).collect();
        let dst: Vec<u32> = result.uids.iter().map(|(_, d)| *d).collect();
        // Copies into the mailbox this session has selected are recent here (RFC 3501 §2.3.2).
        let into_selected = sel.name() == &target;
        if into_selected && let Some(last) = dst.iter().max() {
            claim_recent(sel, result.uid_validity, *last);
        }
        let copyuid = match (uid_set(&src), uid_set(&dst)) {
            (Some(source), Some(destination)) => Some(Code::CopyUid {
                uid_validity: super::selected::nz(result.uid_validity as usize),
                source,
                destination,
            }),
            _ => None,
        };
        if is_move {
            // RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGEs.
            if let Some(c) = copyuid {
                out.push(status(None, StatusKind::Ok, Some(c), "Moved UIDs."));
            }
            sel.refresh(true, out)?;
            return Ok((
                None,
                format!("{} completed", if uid { "UID MOVE" } else { "MOVE" }),
            ));
        }
        if into_selected {
            // The copies show at once, with EXISTS and RECENT, as Dovecot shows them.
            sel.refresh(true, out)?;
        }
        Ok((
            copyuid,
            format!("{} completed", if uid { "UID COPY" } else { "COPY" }),
        ))
    }

    /// SEARCH and UID SEARCH (RFC 3501 §6.4.4), ESEARCH (RFC 4731), MODSEQ (RFC 7162 §3.1.5).
    pub(crate) fn search(
        &mut self,
        tag: &Tag<'static>,
        uid: bool,
        returns: Option<&[SearchReturnOption]>,
        charset: Option<&mailwright_imap_proto::AString<'_>>,
        criteria: &[mailwright_imap_proto::types::command::SearchKey<'_>],
        out: &mut Vec<Response<'static>>,
    ) -> Answer {
        let save = self.start_save(returns);
        if let Some(cs) = charset {
            check_charset(cs)?;
        }
        let hits = self.matches(uid, criteria, out)?;
        let sel = self.sel()?;
        let modseq = search::uses_modseq(criteria);
        if let Some(returns) = returns.filter(|_| save) {
            sel.saved = search::saved(sel, &hits, returns).into_iter().collect();
        }
        // RFC 5182 §2.4: SAVE alone answers no ESEARCH.
        if !returns.is_some_and(|r| r == [SearchReturnOption::Save]) {
            out.push(search::response(
                sel, &hits, uid, returns, tag, modseq, false,
            ));
        }
        Ok((
            None,
            format!("{} completed", if uid { "UID SEARCH" } else { "SEARCH" }),
        ))
    }

    /// SORT and UID SORT (RFC 5256 §3), SORT=DISPLAY (RFC 5957), ESORT (RFC 5267).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sort(
        &mut self,
        tag: &Tag<'static>,
        uid: bool,
        returns: Option<&[SearchReturnOption]>,
        criteria: &[mailwright_imap_proto::types::sort::SortCriterion],
        charset: &mailwright_imap_proto::AString<'_>,
        keys: &[mailwright_imap_proto::types::command::SearchKey<'_>],
        out: &mut Vec<Response<'static>>,
    ) -> Answer {
        let save = self.start_save(returns);
        check_charset(charset)?;
        let hits = self.matches(uid, keys, out)?;
        let sel = self.sel()?;
        let sorted = super::sort::sort(sel, &hits, criteria);
        let modseq = search::uses_modseq(keys);
        if let Some(returns) = returns.filter(|_| save) {
            sel.saved = search::saved(sel, &sorted, returns).into_iter().collect();
        }
        if !returns.is_some_and(|r| r == [SearchReturnOption::Save]) {
            out.push(search::response(
                sel, &sorted, uid, returns, tag, modseq, true,
            ));
        }
        Ok((
            None,
            format!("{} completed", if uid { "UID SORT" } else { "SORT" }),
        ))
    }

    /// THREAD and UID THREAD (RFC 5256 §3): ORDEREDSUBJECT, REFERENCES, REFS.
    pub(crate) fn thread(
        &mut self,
        uid: bool,
        algorithm: &mailwright_imap_proto::types::sort::ThreadAlgorithm<'_>,
        charset: &mailwright_imap_proto::AString<'_>,
        keys: &[mailwright_imap_proto::types::command::SearchKey<'_>],
        out: &mut Vec<Response<'static>>,
    ) -> Answer {
        use mailwright_imap_proto::types::sort::ThreadAlgorithm as A;
        if !matches!(algorithm, A::OrderedSubject | A::References | A::Refs) {
            return Err(No(None, "Unknown threading algorithm".into()));
        }
        check_charset(charset)?;
        let hits = self.matches(uid, keys, out)?;
        let sel = self.sel()?;
        let threads = super::thread::threads(sel, &hits, algorithm, uid);
        out.push(Response::Data(
            mailwright_imap_proto::types::response::Data::Thread(threads),
        ));
        Ok((
            None,
            format!("{} completed", if uid { "UID THREAD" } else { "THREAD" }),
        ))
    }

    /// Whether `returns` has SAVE (RFC 5182); if so the saved result is emptied first, so that
    /// a SEARCH that fails leaves it empty (§2.1).
    fn start_save(&mut self, returns: Option<&[SearchReturnOption]>) -> bool {
        let save = returns.is_some_and(|r| r.contains(&SearchReturnOption::Save));
        if save && let Ok(sel) = self.sel() {
            sel.saved.clear();
        }
        save
    }

    /// The indexes of the messages matching `criteria` (SEARCH, SORT and THREAD share it): a
    /// MODSEQ key enables CONDSTORE (RFC 7162 §3.1), a UID command may report expunges first.
    fn matches(
        &mut self,
        uid: bool,
        criteria: &[mailwright_imap_proto::types::command::SearchKey<'_>],
        out: &mut Vec<Response<'static>>,
    ) -> Result<Vec<usize>, No> {
        self.sel()?;
        if search::uses_modseq(criteria) {
            self.enable_condstore(out);
        }
        let sel = self.sel()?;
        if uid {
            sel.refresh(true, out)?;
        }
        Ok(search::search(sel, criteria))
    }

    /// APPEND (RFC 3501 §6.3.11, RFC 4315 APPENDUID): stores the spooled messages (LF form);
    /// several are a MULTIAPPEND (RFC 3502), all stored or none, `APPENDUID` with their UID set.
    pub(crate) fn append(
        &mut self,
        mailbox: &mailwright_imap_proto::types::mailbox::Mailbox<'_>,
        messages: &mut [Staged],
    ) -> Answer {
        let account = self.account()?;
        let target = names::resolve(mailbox)?;
        let mut batch = Vec::with_capacity(messages.len());
        for m in messages.iter_mut() {
            let (system, keywords) = split_flags(m.flags.as_deref().unwrap_or_default());
            let internal_date = m.date.map(|d| {
                let ts = d.unix_timestamp();
                if ts >= 0 {
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(ts.unsigned_abs())
                } else {
                    std::time::UNIX_EPOCH
                }
            });
            let reader = m
                .spool
                .reader()
                .map_err(|e| No(Some(code("SERVERBUG")), format!("APPEND spool: {e}")))?;
            let request = AppendRequest {
                flags: system,
                keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
                internal_date,
            };
            batch.push((request, reader));
        }
        let no_mailbox = || No(Some(Code::TryCreate), "No such mailbox".into());
        let appended = if let [(request, reader)] = &mut batch[..] {
            // Written first, then stored with its UID: two steps, so a store can stop between them.
            match account.append(&target, request, reader) {
                Err(StoreError::NoSuchMailbox) => return Err(no_mailbox()),
                prepared => vec![prepared?.commit()?],
            }
        } else {
            let mut refs: Vec<(AppendRequest, &mut dyn std::io::Read)> = batch
                .iter_mut()
                .map(|(request, reader)| {
                    (std::mem::take(request), reader as &mut dyn std::io::Read)
                })
                .collect();
            match account.append_all(&target, &mut refs) {
                Err(StoreError::NoSuchMailbox) => return Err(no_mailbox()),
                r => r?,
            }
        };
        let Some(last) = appended.last() else {
            return Err(No(
                Some(code("SERVERBUG")),
                "APPEND without a message".into(),
            ));
        };
        // RFC 3501 §2.3.2: the message is \Recent in the first session told of it; appended to
        // the mailbox this session has selected, that is this session.
        if let Some(sel) = &mut self.selected
            && sel.name() == &target
        {
            claim_recent(sel, last.uid_validity, last.uid);
        }
        let uids: Vec<u32> = appended.iter().map(|a| a.uid).collect();
        let code = std::num::NonZeroU32::new(last.uid_validity).and_then(|v| {
            Some(Code::AppendUid {
                uid_validity: v,
                uids: uid_set(&uids)?,
            })
        });
        Ok((code, "APPEND completed".into()))
    }
}

/// What a FETCH met along the way, for its tagged completion.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FetchTally {
    /// Messages gone from the store.
    pub(crate) gone: usize,
    /// A BINARY part with an encoding the server cannot undo.
    pub(crate) unknown_cte: bool,
}

impl std::ops::AddAssign for FetchTally {
    fn add_assign(&mut self, other: Self) {
        self.gone += other.gone;
        self.unknown_cte |= other.unknown_cte;
    }
}

/// One message of an APPEND, spooled as it came.
pub(crate) struct Staged {
    /// Its flags.
    pub(crate) flags: Option<Vec<Flag<'static>>>,
    /// Its internal date.
    pub(crate) date: Option<mailwright_imap_proto::types::datetime::DateTime>,
    /// Its octets.
    pub(crate) spool: crate::store::Spool,
}

/// Claims for a read-write session the messages up to `last` it stored into the mailbox it has
/// selected, so they are `\Recent` when the next refresh shows them.
fn claim_recent(sel: &mut Selected, validity: u32, last: u32) {
    if sel.read_only {
        return;
    }
    match sel.mailbox.claim_recent(validity, last) {
        Ok(claimed) => sel.claimed_ahead.extend(claimed),
        Err(e) => tracing::warn!("imap: claiming recent messages failed: {e}"),
    }
}

/// A message's flags as a set of case-folded names, `\Recent` left out.
fn flag_set(flags: &[FlagFetch<'_>]) -> BTreeSet<String> {
    flags
        .iter()
        .filter_map(|f| match f {
            FlagFetch::Flag(f) => flag_name(f),
            FlagFetch::Recent => None,
        })
        .collect()
}

fn flag_name(f: &Flag<'_>) -> Option<String> {
    Some(match f {
        Flag::Answered => "\\answered".to_owned(),
        Flag::Flagged => "\\flagged".to_owned(),
        Flag::Deleted => "\\deleted".to_owned(),
        Flag::Seen => "\\seen".to_owned(),
        Flag::Draft => "\\draft".to_owned(),
        Flag::Keyword(k) => k.as_str().to_ascii_lowercase(),
        Flag::Extension(_) => return None,
    })
}

/// A flag set after a STORE of `flags` (system flags and keywords; extensions are not kept).
fn changed_view(view: &BTreeSet<String>, kind: StoreKind, flags: &[Flag<'_>]) -> BTreeSet<String> {
    let named: BTreeSet<String> = flags.iter().filter_map(flag_name).collect();
    match kind {
        StoreKind::Add => view.union(&named).cloned().collect(),
        StoreKind::Remove => view.difference(&named).cloned().collect(),
        StoreKind::Replace => named,
    }
}

/// The charsets SEARCH, SORT and THREAD take: UTF-8 and its subset US-ASCII (RFC 3501 §6.4.4,
/// RFC 5256 §3); any other is `NO [BADCHARSET (UTF-8 US-ASCII)]`.
fn check_charset(cs: &mailwright_imap_proto::AString<'_>) -> Result<(), No> {
    let cs = cs.as_bytes();
    if cs.eq_ignore_ascii_case(b"UTF-8") || cs.eq_ignore_ascii_case(b"US-ASCII") {
        return Ok(());
    }
    Err(No(
        Some(Code::BadCharset(Some(
            Vec1::try_from(vec![
                mailwright_imap_proto::AString::try_from("UTF-8").expect("atom"),
                mailwright_imap_proto::AString::try_from("US-ASCII").expect("atom"),
            ])
            .expect("two"),
        ))),
        "Unsupported charset".into(),
    ))
}
