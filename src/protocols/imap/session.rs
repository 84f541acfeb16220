//! Command handling of one IMAP session, synchronous: the connection loop in `mod.rs` runs it
//! with `block_in_place`, since every storage call blocks.

use std::sync::Arc;

use mailwright_imap_proto::server::Condition;
use mailwright_imap_proto::types::command::{CommandBody, FetchAttribute, StoreKind};
use mailwright_imap_proto::types::flag::Flag;
use mailwright_imap_proto::types::response::{
    Code, Data, NamespaceDescription, Response, StatusKind, StatusResponse,
};
use mailwright_imap_proto::{Atom, IString, NString, Tag, Text, Vec1};
use mailwright_maildir::{FlagUpdate, Maildir};

use super::fetch;
use super::mailboxes::{self, ListOptions, No, code};
use super::names::{self, Target};
use super::search;
use super::selected::{Selected, uid_set};
use crate::core::directory::Address;
use crate::protocols::Shared;

/// What STORE does besides the flags.
#[derive(Debug)]
pub(crate) struct StoreRequest {
    kind: StoreKind,
    silent: bool,
    /// RFC 7162 `UNCHANGEDSINCE`.
    unchanged_since: Option<u64>,
}

/// The logged-in user.
#[derive(Debug)]
pub(crate) struct User {
    pub(crate) address: Address,
    pub(crate) root: Maildir,
}

/// What the connection loop must do after a command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Complete the command so.
    Done(Completion),
    /// Run a FETCH in steps (its untagged responses so far were queued), then complete it.
    Fetch(FetchPlan),
}

/// The tagged completion of a command, for the protocol session to send.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    pub(crate) condition: Condition,
    pub(crate) code: Option<Code<'static>>,
    pub(crate) text: String,
}

impl Completion {
    /// OK or NO from a command's result.
    pub(crate) fn of(result: Result<(Option<Code<'static>>, String), No>) -> Self {
        match result {
            Ok((code, text)) => Self {
                condition: Condition::Ok,
                code,
                text,
            },
            Err(No(code, text)) => Self {
                condition: Condition::No,
                code,
                text,
            },
        }
    }
}

/// A checked FETCH: which messages (indexes), which items.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FetchPlan {
    pub(crate) idx: Vec<usize>,
    pub(crate) attrs: Vec<FetchAttribute<'static>>,
    pub(crate) uid: bool,
}

impl FetchPlan {
    /// Messages per step: one when message text is read, else many.
    pub(crate) fn step(&self) -> usize {
        if self.attrs.iter().any(fetch::needs_text) {
            1
        } else {
            256
        }
    }
}

/// A session's state beyond what the protocol flow tracks.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) shared: Arc<Shared>,
    /// The client (per-address login failure counting).
    pub(crate) peer: crate::core::net::Peer,
    /// Plaintext logins are allowed (TLS, or loopback by configuration).
    pub(crate) login_allowed: bool,
    pub(crate) tls: bool,
    pub(crate) starttls_offered: bool,
    pub(crate) user: Option<User>,
    pub(crate) selected: Option<Selected>,
    /// CONDSTORE was enabled (RFC 7162 §3.1): FETCH responses carry MODSEQ.
    pub(crate) condstore: bool,
    /// COMPRESS=DEFLATE is active (RFC 4978).
    pub(crate) compressed: bool,
}

pub(crate) fn text(s: &str) -> Text<'static> {
    Text::try_from(s.replace(['\r', '\n'], " "))
        .unwrap_or_else(|_| Text::try_from("Error").expect("valid text"))
}

pub(crate) fn status(
    tag: Option<Tag<'static>>,
    kind: StatusKind,
    code: Option<Code<'static>>,
    t: &str,
) -> Response<'static> {
    Response::Status(StatusResponse {
        tag,
        kind,
        code,
        text: text(t),
    })
}

/// The maximum size of an APPEND (RFC 7889 APPENDLIMIT).
pub(crate) fn append_limit(shared: &Shared) -> u64 {
    shared.core.config.limits.max_message_size
}

impl Session {
    /// The capabilities for the current state (RFC 3501 §6.1.1).
    pub(crate) fn capabilities(&self) -> Vec1<Atom<'static>> {
        let mut caps = vec!["IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE"];
        if self.user.is_none() {
            if self.starttls_offered && !self.tls {
                caps.push("STARTTLS");
            }
            if self.login_allowed {
                caps.push("AUTH=PLAIN");
            } else {
                caps.push("LOGINDISABLED");
            }
        } else {
            caps.extend([
                "NAMESPACE",
                "UNSELECT",
                "UIDPLUS",
                "MOVE",
                "CHILDREN",
                "SPECIAL-USE",
                "LIST-EXTENDED",
                "LIST-STATUS",
                "ESEARCH",
                "CONDSTORE",
                "COMPRESS=DEFLATE",
            ]);
        }
        let mut v: Vec<Atom<'static>> = caps
            .into_iter()
            .map(|c| Atom::try_from(c).expect("capability is an atom"))
            .collect();
        if self.user.is_some() {
            v.push(
                Atom::try_from(format!("APPENDLIMIT={}", append_limit(&self.shared)))
                    .expect("atom"),
            );
        }
        Vec1::try_from(v).expect("non-empty")
    }

    fn root(&self) -> Result<&Maildir, No> {
        self.user
            .as_ref()
            .map(|u| &u.root)
            .ok_or_else(|| No::text("Not authenticated"))
    }

    /// Handles one command without a session-state change (the protocol session reports the
    /// others as events of their own); pushes the untagged responses to `out` and says how to
    /// complete the command.
    #[allow(clippy::too_many_lines)]
    pub(crate) fn handle(
        &mut self,
        tag: &Tag<'static>,
        body: CommandBody<'static>,
        out: &mut Vec<Response<'static>>,
    ) -> Action {
        let name = body.name();
        let result: Result<(Option<Code<'static>>, String), No> = match body {
            CommandBody::Capability => {
                out.push(Response::Data(Data::Capability(self.capabilities())));
                Ok((None, "CAPABILITY completed".into()))
            }
            CommandBody::Noop | CommandBody::Check => {
                self.refresh(true, out);
                Ok((None, format!("{name} completed")))
            }
            CommandBody::Id { .. } => {
                let field = |k: &str, v: &str| {
                    (
                        IString::from_bytes(k.as_bytes().to_vec()).expect("quoted"),
                        NString(Some(
                            IString::from_bytes(v.as_bytes().to_vec()).expect("quoted"),
                        )),
                    )
                };
                out.push(Response::Data(Data::Id(Some(vec![
                    field("name", "Mailwright"),
                    field("version", env!("CARGO_PKG_VERSION")),
                ]))));
                Ok((None, "ID completed".into()))
            }
            CommandBody::Enable { capabilities } => {
                let mut enabled = Vec::new();
                for c in capabilities.iter() {
                    if c.as_str().eq_ignore_ascii_case("CONDSTORE") {
                        self.condstore = true;
                        if let Some(sel) = &mut self.selected {
                            sel.condstore = true;
                        }
                        enabled.push(c.clone());
                    }
                }
                out.push(Response::Data(Data::Enabled(enabled)));
                Ok((None, "ENABLE completed".into()))
            }
            CommandBody::Namespace => {
                let personal = NamespaceDescription {
                    prefix: IString::from_bytes(&b""[..]).expect("empty"),
                    delimiter: Some(names::DELIMITER),
                    extensions: Vec::new(),
                };
                out.push(Response::Data(Data::Namespace {
                    personal: Some(Vec1::one(personal)),
                    other: None,
                    shared: None,
                }));
                Ok((None, "NAMESPACE completed".into()))
            }
            CommandBody::Create { mailbox } => self.with_target(&mailbox, |root, t| {
                mailboxes::create(root, t).map(|()| (None, "CREATE completed".into()))
            }),
            CommandBody::Delete { mailbox } => self.with_target(&mailbox, |root, t| {
                mailboxes::delete(root, t).map(|()| (None, "DELETE completed".into()))
            }),
            CommandBody::Rename { from, to } => self.root().and_then(|root| {
                let from = names::resolve(&from)?;
                let to = names::resolve(&to)?;
                mailboxes::rename(root, &from, &to)?;
                Ok((None, "RENAME completed".into()))
            }),
            CommandBody::Subscribe { mailbox } => self.with_target(&mailbox, |root, t| {
                mailboxes::subscribe(root, t, true).map(|()| (None, "SUBSCRIBE completed".into()))
            }),
            CommandBody::Unsubscribe { mailbox } => self.with_target(&mailbox, |root, t| {
                mailboxes::subscribe(root, t, false)
                    .map(|()| (None, "UNSUBSCRIBE completed".into()))
            }),
            CommandBody::List {
                selection,
                reference,
                patterns,
                returns,
                ..
            } => self.root().and_then(|root| {
                let opts = ListOptions::from_command(selection.as_deref(), returns.as_deref());
                mailboxes::list(root, &reference, &patterns, &opts, false, out)?;
                Ok((None, "LIST completed".into()))
            }),
            CommandBody::Lsub { reference, pattern } => self.root().and_then(|root| {
                mailboxes::list(
                    root,
                    &reference,
                    std::slice::from_ref(&pattern),
                    &ListOptions::default(),
                    true,
                    out,
                )?;
                Ok((None, "LSUB completed".into()))
            }),
            CommandBody::Status { mailbox, items } => self.root().and_then(|root| {
                let target = names::resolve(&mailbox)?;
                let wire = String::from_utf8_lossy(mailbox.as_bytes()).into_owned();
                let wire = if mailbox.is_inbox() {
                    "INBOX".to_owned()
                } else {
                    wire
                };
                out.push(mailboxes::status(root, &target, &wire, &items)?);
                Ok((None, "STATUS completed".into()))
            }),
            CommandBody::Expunge => self.expunge(None, out),
            CommandBody::UidExpunge { set } => self.expunge(Some(&set), out),
            CommandBody::Fetch {
                uid,
                set,
                items,
                changed_since,
            } => match self.fetch_plan(uid, &set, &items.expand(), changed_since, out) {
                Ok(plan) => return Action::Fetch(plan),
                Err(e) => Err(e),
            },
            CommandBody::Store {
                uid,
                set,
                unchanged_since,
                kind,
                silent,
                flags,
                ..
            } => self.store(
                uid,
                &set,
                &StoreRequest {
                    kind,
                    silent,
                    unchanged_since,
                },
                &flags,
                out,
            ),
            CommandBody::Copy { uid, set, mailbox } => self.copy(uid, &set, &mailbox, false, out),
            CommandBody::Move { uid, set, mailbox } => self.copy(uid, &set, &mailbox, true, out),
            CommandBody::Search {
                uid,
                returns,
                charset,
                criteria,
            } => self.search(
                tag,
                uid,
                returns.as_deref(),
                charset.as_ref(),
                &criteria,
                out,
            ),
            // APPEND arrives as AppendStart/Chunk/End; the state-changing commands as events of
            // their own.
            _ => Err(No::text("Command not supported here")),
        };
        Action::Done(Completion::of(result))
    }

    /// CLOSE (RFC 3501 §6.4.2: expunges silently) or UNSELECT (RFC 3691): leaves the mailbox.
    pub(crate) fn close(&mut self, expunge: bool) {
        if let Some(sel) = self.selected.take()
            && expunge
            && !sel.read_only
        {
            let all: Vec<usize> = (0..sel.msgs.len()).collect();
            match sel.maildir.expunge(&sel.state_of(&all), None) {
                Ok(gone) if !gone.is_empty() => crate::store::notify::changed(sel.maildir.path()),
                Ok(_) => {}
                Err(e) => tracing::warn!("imap close: expunge failed: {e}"),
            }
        }
    }

    /// Whether STARTTLS can start: offered on this port and not done yet.
    pub(crate) fn starttls(&self) -> Result<(), No> {
        if self.tls || !self.starttls_offered {
            Err(No::text("TLS is already active"))
        } else {
            Ok(())
        }
    }

    /// Whether COMPRESS `algorithm` can start (RFC 4978: DEFLATE, once).
    pub(crate) fn compress(&self, algorithm: &str) -> Result<(), No> {
        if self.compressed {
            Err(No(
                Some(Code::CompressionActive),
                "Already compressing".into(),
            ))
        } else if algorithm.eq_ignore_ascii_case("DEFLATE") {
            Ok(())
        } else {
            Err(No(
                Some(code("CANNOT")),
                "Unknown compression algorithm".into(),
            ))
        }
    }

    fn with_target(
        &self,
        mailbox: &mailwright_imap_proto::types::mailbox::Mailbox<'_>,
        f: impl FnOnce(&Maildir, &Target) -> Result<(Option<Code<'static>>, String), No>,
    ) -> Result<(Option<Code<'static>>, String), No> {
        let root = self.root()?;
        let t = names::resolve(mailbox)?;
        f(root, &t)
    }

    /// Untagged updates for the selected mailbox (NOOP, CHECK, IDLE, after commands).
    pub(crate) fn refresh(&mut self, allow_expunge: bool, out: &mut Vec<Response<'static>>) {
        if let Some(sel) = &mut self.selected
            && let Err(e) = sel.refresh(allow_expunge, out)
        {
            if sel.maildir.path().join("cur").is_dir() {
                tracing::warn!("imap refresh failed: {e}");
            } else {
                // The mailbox was deleted or renamed under this session: there is no state to
                // go on from, so end the session as Dovecot does.
                self.selected = None;
                out.push(status(
                    None,
                    StatusKind::Bye,
                    None,
                    "Selected mailbox was deleted or renamed",
                ));
            }
        }
    }

    /// SELECT or EXAMINE (RFC 3501 §6.3.1, §6.3.2): the mailbox's untagged data to `out`.
    pub(crate) fn select(
        &mut self,
        mailbox: &mailwright_imap_proto::types::mailbox::Mailbox<'_>,
        read_only: bool,
        out: &mut Vec<Response<'static>>,
    ) -> Result<(Option<Code<'static>>, String), No> {
        // RFC 3501 §6.3.1: a SELECT first deselects, even if it then fails; RFC 7162 §3.2.11
        // marks the switch with [CLOSED].
        if self.selected.take().is_some() {
            out.push(status(
                None,
                StatusKind::Ok,
                Some(Code::Closed),
                "Previous mailbox closed",
            ));
        }
        let root = self.root()?;
        let target = names::resolve(mailbox)?;
        let md = mailboxes::open(root, &target)?;
        let mut sel = Selected::open(md, read_only)?;
        sel.condstore = self.condstore;
        out.push(Response::Data(Data::Exists(sel.exists())));
        out.push(Response::Data(Data::Recent(sel.recent_count())));
        sel.flag_responses(out);
        // RFC 3501 §7.1: resp-text needs text after the code.
        let untagged_ok = |code, text| status(None, StatusKind::Ok, Some(code), text);
        if let Some(first) = sel
            .msgs
            .iter()
            .position(|m| !m.entry.flags().contains(mailwright_maildir::Flag::Seen))
        {
            out.push(untagged_ok(
                Code::Unseen(super::selected::nz(first + 1)),
                "First unseen",
            ));
        }
        out.push(untagged_ok(
            Code::UidValidity(super::selected::nz(sel.uid_validity as usize)),
            "UIDs valid",
        ));
        out.push(untagged_ok(
            Code::UidNext(super::selected::nz(sel.uid_next as usize)),
            "Predicted next UID",
        ));
        out.push(untagged_ok(
            Code::HighestModSeq(sel.highest_modseq),
            "Highest",
        ));
        self.selected = Some(sel);
        Ok((
            Some(if read_only {
                Code::ReadOnly
            } else {
                Code::ReadWrite
            }),
            format!("{} completed", if read_only { "EXAMINE" } else { "SELECT" }),
        ))
    }

    fn sel(&mut self) -> Result<&mut Selected, No> {
        self.selected
            .as_mut()
            .ok_or_else(|| No::text("No mailbox selected"))
    }

    fn expunge(
        &mut self,
        uids: Option<&mailwright_imap_proto::types::sequence::SequenceSet>,
        out: &mut Vec<Response<'static>>,
    ) -> Result<(Option<Code<'static>>, String), No> {
        let sel = self.sel()?;
        if sel.read_only {
            return Err(No(Some(Code::ReadOnly), "Mailbox is read-only".into()));
        }
        let scope: Vec<usize> = match uids {
            Some(set) => sel.resolve(set, true),
            None => (0..sel.msgs.len()).collect(),
        };
        // Each file's flags are re-read: a \Deleted cleared meanwhile by another session stays.
        let gone = sel.maildir.expunge(&sel.state_of(&scope), None)?;
        if !gone.is_empty() {
            crate::store::notify::changed(sel.maildir.path());
        }
        sel.refresh(true, out)?;
        Ok((None, "EXPUNGE completed".into()))
    }

    /// Checks a FETCH and decides which messages and items it returns; the connection loop
    /// then runs [`Session::fetch_some`] over the messages in steps, writing as it goes.
    fn fetch_plan(
        &mut self,
        uid: bool,
        set: &mailwright_imap_proto::types::sequence::SequenceSet,
        attrs: &[FetchAttribute<'_>],
        changed_since: Option<u64>,
        out: &mut Vec<Response<'static>>,
    ) -> Result<FetchPlan, No> {
        let sel = self.sel()?;
        if !uid && sel.out_of_range(set) {
            return Err(No(None, "Invalid message sequence number".into()));
        }
        if uid {
            // RFC 3501 §7.4.1: EXPUNGE may be sent during UID FETCH.
            sel.refresh(true, out)?;
        }
        let mut idx = sel.resolve(set, uid);
        let mut attrs: Vec<FetchAttribute<'static>> = attrs
            .iter()
            .map(|a| mailwright_imap_proto::IntoStatic::into_static(a.clone()))
            .collect();
        // RFC 7162 §3.1.4: CHANGEDSINCE implies MODSEQ; with CONDSTORE on, MODSEQ always comes.
        if (sel.condstore || changed_since.is_some()) && !attrs.contains(&FetchAttribute::ModSeq) {
            attrs.push(FetchAttribute::ModSeq);
        }
        if let Some(since) = changed_since {
            sel.condstore = true;
            idx.retain(|&i| sel.msgs[i].modseq > since);
        }
        Ok(FetchPlan { idx, attrs, uid })
    }

    /// FETCH responses for some of a plan's messages; returns how many were gone from disk.
    pub(crate) fn fetch_some(
        &mut self,
        plan: &FetchPlan,
        idx: &[usize],
        out: &mut Vec<Response<'static>>,
    ) -> usize {
        match &mut self.selected {
            Some(sel) => fetch::fetch(sel, idx, &plan.attrs, plan.uid, out),
            None => idx.len(),
        }
    }

    /// The tagged completion of a FETCH.
    pub(crate) fn fetch_done(uid: bool, gone: usize) -> Completion {
        Completion::of(if gone > 0 {
            Err(No(
                Some(code("EXPUNGEISSUED")),
                "Some messages were expunged meanwhile".into(),
            ))
        } else {
            Ok((
                None,
                format!("{} completed", if uid { "UID FETCH" } else { "FETCH" }),
            ))
        })
    }

    fn store(
        &mut self,
        uid: bool,
        set: &mailwright_imap_proto::types::sequence::SequenceSet,
        req: &StoreRequest,
        flags: &[Flag<'_>],
        out: &mut Vec<Response<'static>>,
    ) -> Result<(Option<Code<'static>>, String), No> {
        let sel = self.sel()?;
        if sel.read_only {
            return Err(No(Some(Code::ReadOnly), "Mailbox is read-only".into()));
        }
        if !uid && sel.out_of_range(set) {
            return Err(No(None, "Invalid message sequence number".into()));
        }
        let wanted = super::selected::maildir_flags(&sel.maildir, flags)?;
        // The flags may have added keywords: announce the new FLAGS (RFC 3501 §7.2.6).
        let keywords = sel.maildir.keywords()?;
        if keywords != sel.keywords {
            sel.keywords = keywords;
            sel.flag_responses(out);
        }
        let update = match req.kind {
            StoreKind::Add => FlagUpdate::Add(wanted),
            StoreKind::Remove => FlagUpdate::Remove(wanted),
            StoreKind::Replace => FlagUpdate::Replace(wanted),
        };
        if req.unchanged_since.is_some() {
            sel.condstore = true;
        }
        // The maildir crate renames and records the new MODSEQs under the uidlist lock, and
        // checks UNCHANGEDSINCE there (RFC 7162 §3.1.3), without rescanning the folder.
        let idx = sel.resolve(set, uid);
        let uids: Vec<u32> = idx.iter().map(|&i| sel.msgs[i].uid).collect();
        let mut state = sel.state_of(&idx);
        let result = sel
            .maildir
            .store_flags(&mut state, &uids, update, req.unchanged_since)?;
        if !result.changed.is_empty() {
            crate::store::notify::changed(sel.maildir.path());
        }
        sel.highest_modseq = sel.highest_modseq.max(state.highest_modseq);
        for m in state.messages {
            if let Ok(i) = sel.msgs.binary_search_by_key(&m.uid, |x| x.uid) {
                sel.msgs[i].entry = m.entry;
                sel.msgs[i].modseq = sel.msgs[i].modseq.max(m.modseq);
            }
        }
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
        let done: Vec<usize> = idx
            .into_iter()
            .filter(|&i| !result.modified.contains(&sel.msgs[i].uid))
            .collect();
        for i in done {
            if !req.silent {
                out.push(fetch::flags_response(sel, i, uid));
            } else if sel.condstore {
                out.push(fetch::modseq_response(sel, i, uid));
            }
        }
        let name = if uid { "UID STORE" } else { "STORE" };
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

    fn copy(
        &mut self,
        uid: bool,
        set: &mailwright_imap_proto::types::sequence::SequenceSet,
        mailbox: &mailwright_imap_proto::types::mailbox::Mailbox<'_>,
        is_move: bool,
        out: &mut Vec<Response<'static>>,
    ) -> Result<(Option<Code<'static>>, String), No> {
        let root = self.root()?.clone();
        let target = names::resolve(mailbox)?;
        let Ok(dest) = mailboxes::open(&root, &target) else {
            return Err(No(Some(Code::TryCreate), "No such mailbox".into()));
        };
        let sel = self.sel()?;
        if is_move && sel.read_only {
            return Err(No(Some(Code::ReadOnly), "Mailbox is read-only".into()));
        }
        if !uid && sel.out_of_range(set) {
            return Err(No(None, "Invalid message sequence number".into()));
        }
        let idx = sel.resolve(set, uid);
        let state = sel.state_of(&idx);
        let uids: Vec<u32> = idx.iter().map(|&i| sel.msgs[i].uid).collect();
        let result = if is_move {
            sel.maildir.move_uids(&state, &uids, &dest)?
        } else {
            sel.maildir.copy_uids(&state, &uids, &dest)?
        };
        if !result.uids.is_empty() {
            crate::store::notify::changed(dest.path());
            if is_move {
                crate::store::notify::changed(sel.maildir.path());
            }
        }
        let src: Vec<u32> = result.uids.iter().map(|(s, _)| *s).collect();
        let dst: Vec<u32> = result.uids.iter().map(|(_, d)| *d).collect();
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
        Ok((
            copyuid,
            format!("{} completed", if uid { "UID COPY" } else { "COPY" }),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn search(
        &mut self,
        tag: &Tag<'static>,
        uid: bool,
        returns: Option<&[mailwright_imap_proto::types::command::SearchReturnOption]>,
        charset: Option<&mailwright_imap_proto::AString<'_>>,
        criteria: &[mailwright_imap_proto::types::command::SearchKey<'_>],
        out: &mut Vec<Response<'static>>,
    ) -> Result<(Option<Code<'static>>, String), No> {
        if let Some(cs) = charset {
            let cs = cs.as_bytes();
            if !cs.eq_ignore_ascii_case(b"UTF-8") && !cs.eq_ignore_ascii_case(b"US-ASCII") {
                return Err(No(
                    Some(Code::BadCharset(Some(
                        Vec1::try_from(vec![
                            mailwright_imap_proto::AString::try_from("UTF-8").expect("atom"),
                            mailwright_imap_proto::AString::try_from("US-ASCII").expect("atom"),
                        ])
                        .expect("two"),
                    ))),
                    "Unsupported charset".into(),
                ));
            }
        }
        let sel = self.sel()?;
        if uid {
            sel.refresh(true, out)?;
        }
        let hits = search::search(sel, criteria);
        let modseq = search::uses_modseq(criteria);
        if modseq {
            sel.condstore = true;
        }
        out.push(search::response(sel, &hits, uid, returns, tag, modseq));
        Ok((
            None,
            format!("{} completed", if uid { "UID SEARCH" } else { "SEARCH" }),
        ))
    }

    /// APPEND (RFC 3501 §6.3.11, RFC 4315 APPENDUID): stores the spooled message (LF form).
    pub(crate) fn append(
        &mut self,
        mailbox: &mailwright_imap_proto::types::mailbox::Mailbox<'_>,
        flags: Option<&[Flag<'_>]>,
        date: Option<mailwright_imap_proto::types::datetime::DateTime>,
        message: &mut crate::store::Spool,
    ) -> Result<(Option<Code<'static>>, String), No> {
        let root = self.root()?;
        let target = names::resolve(mailbox)?;
        let Ok(md) = mailboxes::open(root, &target) else {
            return Err(No(Some(Code::TryCreate), "No such mailbox".into()));
        };
        let md_flags = super::selected::maildir_flags(&md, flags.unwrap_or_default())?;
        let internal_date = date.map(|d| {
            let ts = d.unix_timestamp();
            if ts >= 0 {
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(ts.unsigned_abs())
            } else {
                std::time::UNIX_EPOCH
            }
        });
        let reader = message
            .reader()
            .map_err(|e| No(Some(code("SERVERBUG")), format!("APPEND spool: {e}")))?;
        // Stored straight into cur/ and given its UID without a rescan of the folder.
        let appended = md.append(reader, md_flags, internal_date)?;
        crate::store::notify::changed(md.path());
        // RFC 3501 §2.3.2: the message is \Recent in the first session told of it; appended to
        // the mailbox this session has selected, that is this session.
        if let Some(sel) = &mut self.selected
            && !sel.read_only
            && sel.maildir.path() == md.path()
        {
            sel.recent.insert(appended.uid);
        }
        let code = std::num::NonZeroU32::new(appended.uid_validity).and_then(|v| {
            Some(Code::AppendUid {
                uid_validity: v,
                uids: uid_set(&[appended.uid])?,
            })
        });
        Ok((code, "APPEND completed".into()))
    }
}
