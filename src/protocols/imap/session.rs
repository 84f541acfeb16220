//! Command handling of one IMAP session, synchronous: the connection loop in `mod.rs` runs it
//! with `block_in_place`, since every storage call blocks.

use std::sync::Arc;

use mailwright_imap_proto::server::Condition;
use mailwright_imap_proto::types::command::{CommandBody, FetchAttribute, StatusItem, StoreKind};
use mailwright_imap_proto::types::response::{
    Code, Data, NamespaceDescription, Response, StatusKind, StatusResponse,
};
use mailwright_imap_proto::{Atom, IString, NString, Tag, Text, Vec1};

use super::fetch;
use super::mailboxes::{self, ListOptions, No, code};
use super::names;
use super::selected::Selected;
use crate::core::directory::Address;
use crate::protocols::Shared;
use crate::store::{Account, Flag, MailboxName, StoreError};

/// What STORE does besides the flags.
#[derive(Debug)]
pub(crate) struct StoreRequest {
    pub(crate) kind: StoreKind,
    pub(crate) silent: bool,
    /// RFC 7162 `UNCHANGEDSINCE`.
    pub(crate) unchanged_since: Option<u64>,
}

/// The logged-in user.
#[derive(Debug)]
pub(crate) struct User {
    pub(crate) address: Address,
    /// The user's mail.
    pub(crate) account: Box<dyn Account>,
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
    /// QRESYNC was enabled (RFC 7162 §3.2.3): VANISHED in place of EXPUNGE, and the QRESYNC
    /// SELECT parameter and VANISHED FETCH modifier are allowed.
    pub(crate) qresync: bool,
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
                "SORT",
                "SORT=DISPLAY",
                "ESORT",
                "THREAD=ORDEREDSUBJECT",
                "THREAD=REFERENCES",
                "THREAD=REFS",
                "WITHIN",
                "SEARCHRES",
                "CREATE-SPECIAL-USE",
                "MULTIAPPEND",
                "BINARY",
                "STATUS=SIZE",
                "CONDSTORE",
                "QRESYNC",
                "COMPRESS=DEFLATE",
            ]);
            caps.extend(super::quota::CAPABILITIES);
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

    pub(crate) fn account(&self) -> Result<&dyn Account, No> {
        self.user
            .as_ref()
            .map(|u| &*u.account)
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
                        self.enable_condstore(out);
                        enabled.push(c.clone());
                    } else if c.as_str().eq_ignore_ascii_case("QRESYNC") {
                        // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
                        self.enable_condstore(out);
                        self.qresync = true;
                        if let Some(sel) = &mut self.selected {
                            sel.qresync = true;
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
            CommandBody::Create {
                mailbox,
                special_use,
            } => self.with_target(&mailbox, |root, t| {
                // RFC 6154 §3: this store ties special uses to names, so CREATE can give a
                // mailbox the use its name has, and no other (NO [USEATTR], creating nothing).
                if let Some(uses) = special_use.as_deref().filter(|u| !u.is_empty()) {
                    let tied = root.special_use(t).map(crate::store::SpecialUse::attribute);
                    if uses.len() > 1
                        || !tied.is_some_and(|a| uses[0].as_str().eq_ignore_ascii_case(a))
                    {
                        return Err(No(
                            Some(mailboxes::code("USEATTR")),
                            match tied {
                                Some(a) => format!("This name can only have the special use \\{a}"),
                                None => "This name cannot have a special use".into(),
                            },
                        ));
                    }
                }
                mailboxes::create(root, t).map(|()| (None, "CREATE completed".into()))
            }),
            CommandBody::Delete { mailbox } => self.with_target(&mailbox, |root, t| {
                mailboxes::delete(root, t).map(|()| (None, "DELETE completed".into()))
            }),
            CommandBody::Rename { from, to } => self.account().and_then(|account| {
                let from = names::resolve(&from)?;
                let to = names::resolve(&to)?;
                mailboxes::rename(account, &from, &to)?;
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
            } => {
                let opts = match ListOptions::from_command(selection.as_deref(), returns.as_deref())
                {
                    Ok(o) => o,
                    Err(text) => {
                        return Action::Done(Completion {
                            condition: Condition::Bad,
                            code: None,
                            text: text.to_owned(),
                        });
                    }
                };
                self.account().and_then(|account| {
                    mailboxes::list(account, &reference, &patterns, &opts, false, out)?;
                    Ok((None, "LIST completed".into()))
                })
            }
            CommandBody::Lsub { reference, pattern } => self.account().and_then(|account| {
                mailboxes::list(
                    account,
                    &reference,
                    std::slice::from_ref(&pattern),
                    &ListOptions::default(),
                    true,
                    out,
                )?;
                Ok((None, "LSUB completed".into()))
            }),
            CommandBody::Status { mailbox, items } => self.status(&mailbox, &items, out),
            CommandBody::GetQuotaRoot { mailbox } => self.account().and_then(|account| {
                super::quota::get_quota_root(account, &mailbox, out)?;
                Ok((None, "GETQUOTAROOT completed".into()))
            }),
            CommandBody::GetQuota { root } => self.account().and_then(|account| {
                super::quota::get_quota(account, &root, out)?;
                Ok((None, "GETQUOTA completed".into()))
            }),
            CommandBody::SetQuota { .. } => Err(No(
                Some(super::mailboxes::code("NOPERM")),
                "Quotas are set by the administrator".into(),
            )),
            CommandBody::Expunge => self.expunge(None, out),
            CommandBody::UidExpunge { set } => self.expunge(Some(&set), out),
            CommandBody::Fetch { vanished: true, .. } if !self.qresync => {
                // RFC 7162 §3.2.6.
                return Action::Done(Completion {
                    condition: Condition::Bad,
                    code: None,
                    text: "QRESYNC not enabled".into(),
                });
            }
            CommandBody::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => match self
                .vanished_fetch(vanished, &set, changed_since, out)
                .and_then(|()| self.fetch_plan(uid, &set, &items.expand(), changed_since, out))
            {
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
            CommandBody::Sort {
                uid,
                returns,
                criteria,
                charset,
                search,
            } => self.sort(
                tag,
                uid,
                returns.as_deref(),
                &criteria,
                &charset,
                &search,
                out,
            ),
            CommandBody::Thread {
                uid,
                algorithm,
                charset,
                search,
            } => self.thread(uid, &algorithm, &charset, &search, out),
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
            let mut sel = sel;
            let all: Vec<u32> = sel.msgs.iter().map(|m| m.uid).collect();
            if let Err(e) = sel.mailbox.expunge(&all) {
                tracing::warn!("imap close: expunge failed: {e}");
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
        f: impl FnOnce(&dyn Account, &MailboxName) -> Result<(Option<Code<'static>>, String), No>,
    ) -> Result<(Option<Code<'static>>, String), No> {
        let account = self.account()?;
        let t = names::resolve(mailbox)?;
        f(account, &t)
    }

    /// Untagged updates for the selected mailbox (NOOP, CHECK, IDLE, after commands).
    pub(crate) fn refresh(&mut self, allow_expunge: bool, out: &mut Vec<Response<'static>>) {
        if let Some(sel) = &mut self.selected
            && let Err(e) = sel.refresh(allow_expunge, out)
        {
            if !matches!(e, StoreError::MailboxGone) {
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

    /// `VANISHED (EARLIER)` for `UID FETCH ... (CHANGEDSINCE n VANISHED)` (RFC 7162 §3.2.6).
    fn vanished_fetch(
        &mut self,
        vanished: bool,
        set: &mailwright_imap_proto::types::sequence::SequenceSet,
        changed_since: Option<u64>,
        out: &mut Vec<Response<'static>>,
    ) -> Result<(), No> {
        if let (true, Some(since)) = (vanished, changed_since) {
            self.sel()?.vanished_fetch(set, since, out);
        }
        Ok(())
    }

    /// SELECT or EXAMINE (RFC 3501 §6.3.1, §6.3.2): the mailbox's untagged data to `out`;
    /// with QRESYNC's parameter, what changed since the client's MODSEQ (RFC 7162 §3.2.5).
    pub(crate) fn select(
        &mut self,
        mailbox: &mailwright_imap_proto::types::mailbox::Mailbox<'_>,
        read_only: bool,
        qresync: Option<&mailwright_imap_proto::types::qresync::QresyncParams>,
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
        let account = self.account()?;
        let target = names::resolve(mailbox)?;
        let (mailbox, view) = account.select(&target, read_only)?;
        let mut sel = Selected::open(mailbox, view);
        sel.condstore = self.condstore;
        sel.qresync = self.qresync;
        out.push(Response::Data(Data::Exists(sel.exists())));
        out.push(Response::Data(Data::Recent(sel.recent_count())));
        sel.flag_responses(out);
        // RFC 3501 §7.1: resp-text needs text after the code.
        let untagged_ok = |code, text| status(None, StatusKind::Ok, Some(code), text);
        if let Some(first) = sel.msgs.iter().position(|m| !m.flags.contains(Flag::Seen)) {
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
        if let Some(p) = qresync {
            sel.resync(p, out);
        }
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

    pub(crate) fn sel(&mut self) -> Result<&mut Selected, No> {
        self.selected
            .as_mut()
            .ok_or_else(|| No::text("No mailbox selected"))
    }

    /// STATUS (RFC 3501 §6.3.10); HIGHESTMODSEQ enables CONDSTORE (RFC 7162 §3.1). Of the
    /// selected mailbox it reports this session's view (its messages, its `\Recent` ones) and
    /// completes `OK [CLIENTBUG]`, as Dovecot answers (clients should not ask, RFC 9051 §6.3.11).
    fn status(
        &mut self,
        mailbox: &mailwright_imap_proto::types::mailbox::Mailbox<'_>,
        items: &[StatusItem],
        out: &mut Vec<Response<'static>>,
    ) -> Result<(Option<Code<'static>>, String), No> {
        let account = self.account()?;
        let target = names::resolve(mailbox)?;
        let wire = if mailbox.is_inbox() {
            "INBOX".to_owned()
        } else {
            String::from_utf8_lossy(mailbox.as_bytes()).into_owned()
        };
        if !account.exists(&target)? {
            return Err(StoreError::NoSuchMailbox.into());
        }
        if items.contains(&StatusItem::HighestModSeq) {
            self.enable_condstore(out);
        }
        if let Some(sel) = &self.selected
            && sel.name() == &target
        {
            out.push(mailboxes::status_response(&wire, items, &sel.counts())?);
            return Ok((
                Some(code("CLIENTBUG")),
                "Status on selected mailbox completed".into(),
            ));
        }
        let account = self.account()?;
        out.push(mailboxes::status(account, &target, &wire, items)?);
        Ok((None, "STATUS completed".into()))
    }

    /// Turns CONDSTORE on for the rest of the session (RFC 7162 §3.1: ENABLE CONDSTORE or the
    /// first CONDSTORE enabling command). With a mailbox selected, the client learns its
    /// HIGHESTMODSEQ at once in an untagged OK, as Dovecot tells it.
    pub(crate) fn enable_condstore(&mut self, out: &mut Vec<Response<'static>>) {
        if self.condstore {
            return;
        }
        self.condstore = true;
        if let Some(sel) = &mut self.selected {
            sel.condstore = true;
            out.push(status(
                None,
                StatusKind::Ok,
                Some(Code::HighestModSeq(sel.highest_modseq)),
                "Highest",
            ));
        }
    }
}
