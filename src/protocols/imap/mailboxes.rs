//! Mailbox commands of the authenticated state: LIST, LSUB, CREATE, DELETE, RENAME,
//! SUBSCRIBE, UNSUBSCRIBE, STATUS (RFC 3501 §6.3) with LIST-EXTENDED selection and return
//! options (RFC 5258), SPECIAL-USE (RFC 6154), CHILDREN (RFC 3348) and LIST-STATUS (RFC 5819).

use std::collections::{BTreeMap, BTreeSet};

use super::names::{self, DELIMITER};
use crate::store::{Account, MailboxName, MailboxStatus, StoreError};
use mailwright_imap_proto::types::command::{ListReturnOption, ListSelectOption, StatusItem};
use mailwright_imap_proto::types::mailbox::{ListMailbox, Mailbox};
use mailwright_imap_proto::types::response::{Code, Data, ExtValue, ListData, Response};
use mailwright_imap_proto::{AString, Atom, IString};

/// A refused command: the code and text of its tagged NO.
#[derive(Debug)]
pub(crate) struct No(pub(crate) Option<Code<'static>>, pub(crate) String);

impl No {
    pub(crate) fn text(t: impl Into<String>) -> Self {
        No(None, t.into())
    }
}

impl From<names::BadName> for No {
    fn from(b: names::BadName) -> Self {
        No(Some(code("CANNOT")), b.0.to_owned())
    }
}

impl From<StoreError> for No {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchMailbox => {
                No(Some(code("NONEXISTENT")), "No such mailbox".to_owned())
            }
            StoreError::MailboxExists => No(
                Some(code("ALREADYEXISTS")),
                "Mailbox already exists".to_owned(),
            ),
            StoreError::InvalidName(why) => No(Some(code("CANNOT")), why.to_owned()),
            StoreError::OverQuota => No(Some(code("OVERQUOTA")), "Quota exceeded".to_owned()),
            // Dovecot's words for a full disk (its NOQUOTA error is OVERQUOTA on the wire).
            StoreError::NoSpace => No(Some(code("OVERQUOTA")), "Not enough disk space".to_owned()),
            // A COPY or MOVE of messages expunged meanwhile copies nothing (Dovecot's answer).
            StoreError::Expunged(_) => No(
                Some(code("EXPUNGEISSUED")),
                "Some of the requested messages no longer exist".to_owned(),
            ),
            StoreError::TooManyKeywords => No(
                Some(code("LIMIT")),
                "Too many keywords in this mailbox".to_owned(),
            ),
            other => {
                tracing::warn!("imap storage error: {other}");
                No(Some(code("SERVERBUG")), "Internal storage error".to_owned())
            }
        }
    }
}

/// A response code by name (RFC 5530 codes have no variant of their own).
pub(crate) fn code(name: &str) -> Code<'static> {
    Code::Other(
        Atom::try_from(name.to_owned()).expect("code is an atom"),
        None,
    )
}

/// Every mailbox: name -> whether it exists (else it is the implicit parent of one that does).
fn all_mailboxes(account: &dyn Account) -> Result<BTreeMap<String, bool>, No> {
    let mut out = BTreeMap::new();
    out.insert("INBOX".to_owned(), true);
    for m in account.list()? {
        // Implicit parents (`A` of `A/B`) are listed as \Noselect.
        for parent in m.name.parents() {
            out.entry(parent.to_owned()).or_insert(false);
        }
        out.insert(m.name.as_str().to_owned(), true);
    }
    Ok(out)
}

fn has_children(all: &BTreeMap<String, bool>, name: &str) -> bool {
    let prefix = format!("{name}/");
    all.range(prefix.clone()..)
        .next()
        .is_some_and(|(k, _)| k.starts_with(&prefix))
}

fn atom(s: &str) -> Atom<'static> {
    Atom::try_from(s.to_owned()).expect("attribute is an atom")
}

fn list_data(
    name: &str,
    attributes: Vec<Atom<'static>>,
    childinfo: bool,
) -> Option<ListData<'static>> {
    // RFC 5258 §3.5: `CHILDINFO ("SUBSCRIBED")` marks a mailbox with subscribed children.
    let extended = childinfo.then(|| {
        vec![(
            AString::try_from("CHILDINFO").expect("atom"),
            ExtValue::List(vec![ExtValue::String(
                IString::from_bytes(&b"SUBSCRIBED"[..]).expect("quoted"),
            )]),
        )]
    });
    Some(ListData {
        attributes,
        delimiter: Some(DELIMITER),
        mailbox: Mailbox(AString::from_bytes(name.as_bytes().to_vec()).ok()?),
        extended,
    })
}

/// LIST options that change what is listed and how.
#[derive(Debug, Default)]
pub(crate) struct ListOptions {
    pub(crate) subscribed_only: bool,
    pub(crate) special_use_only: bool,
    /// RFC 5258 §3.1 RECURSIVEMATCH.
    pub(crate) recursive_match: bool,
    pub(crate) return_subscribed: bool,
    pub(crate) return_status: Option<Vec<StatusItem>>,
}

impl ListOptions {
    /// The options of a LIST command; `Err` with the text of its BAD (RFC 5258 §3: an option
    /// the server does not know, and RECURSIVEMATCH alone or only with REMOTE, are errors).
    pub(crate) fn from_command(
        selection: Option<&[ListSelectOption<'_>]>,
        returns: Option<&[ListReturnOption<'_>]>,
    ) -> Result<Self, &'static str> {
        let mut o = ListOptions::default();
        for s in selection.unwrap_or_default() {
            match s {
                ListSelectOption::Subscribed => {
                    o.subscribed_only = true;
                    o.return_subscribed = true;
                }
                ListSelectOption::SpecialUse => o.special_use_only = true,
                ListSelectOption::RecursiveMatch => o.recursive_match = true,
                // Every mailbox here is local (RFC 5258 §3.1).
                ListSelectOption::Remote => {}
                ListSelectOption::Other(_) => return Err("Unknown LIST selection option"),
            }
        }
        if o.recursive_match && !o.subscribed_only && !o.special_use_only {
            return Err("RECURSIVEMATCH must not be the only selection option");
        }
        for r in returns.unwrap_or_default() {
            match r {
                ListReturnOption::Subscribed => o.return_subscribed = true,
                ListReturnOption::Status(items) => o.return_status = Some(items.to_vec()),
                // Sent whether asked or not.
                ListReturnOption::Children | ListReturnOption::SpecialUse => {}
                ListReturnOption::Other(_) => return Err("Unknown LIST return option"),
            }
        }
        Ok(o)
    }
}

/// A mailbox a LIST or LSUB answers with.
#[derive(Debug, Clone, Copy)]
struct Row {
    /// It exists (else it is the implicit parent of one that does, or only subscribed).
    exists: bool,
    /// Listed for its subscribed children only (RECURSIVEMATCH, or LSUB with `%`).
    parent_only: bool,
}

/// LIST (and LSUB with `lsub`).
pub(crate) fn list(
    account: &dyn Account,
    reference: &Mailbox<'_>,
    patterns: &[ListMailbox<'_>],
    options: &ListOptions,
    lsub: bool,
    out: &mut Vec<Response<'static>>,
) -> Result<(), No> {
    // RFC 3501 §6.3.8: an empty pattern asks for the delimiter and the root name.
    if patterns.len() == 1 && patterns[0].as_bytes().is_empty() {
        if let Some(d) = list_data("", vec![atom("Noselect")], false) {
            out.push(Response::Data(if lsub {
                Data::Lsub(d)
            } else {
                Data::List(d)
            }));
        }
        return Ok(());
    }
    let all = all_mailboxes(account)?;
    let subscribed: BTreeSet<String> = account
        .subscriptions()?
        .into_iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    let full_patterns: Vec<Vec<u8>> = patterns
        .iter()
        .map(|p| [reference.as_bytes(), p.as_bytes()].concat())
        .collect();
    let matches = |n: &str| {
        full_patterns
            .iter()
            .any(|p| names::matches(p, n.as_bytes()))
    };
    let exists = |n: &str| all.get(n).copied().unwrap_or(false);
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    if lsub || options.subscribed_only {
        for s in &subscribed {
            if matches(s) {
                rows.insert(
                    s.clone(),
                    Row {
                        exists: exists(s),
                        parent_only: false,
                    },
                );
                continue;
            }
            // RFC 3501 §6.3.9: LSUB "" % answers `foo` (\Noselect) for a subscribed `foo/bar`,
            // the parent a `%` stopped at. RFC 5258 §3.1: RECURSIVEMATCH answers every parent
            // that matches, for its subscribed children (Dovecot's reading of both).
            let across = lsub
                && full_patterns
                    .iter()
                    .any(|p| names::matches_across(p, s.as_bytes()));
            if !(across || options.recursive_match) {
                continue;
            }
            for parent in ancestors(s) {
                if matches(parent) && !subscribed.contains(parent) {
                    rows.entry(parent.to_owned()).or_insert(Row {
                        exists: exists(parent),
                        parent_only: true,
                    });
                }
            }
        }
    } else {
        for (name, e) in &all {
            if matches(name) {
                rows.insert(
                    name.clone(),
                    Row {
                        exists: *e,
                        parent_only: false,
                    },
                );
            }
        }
    }
    let mut names_out: Vec<(&String, Row)> = rows.iter().map(|(n, r)| (n, *r)).collect();
    // INBOX first, then by name.
    names_out.sort_by_key(|(n, _)| (n.as_str() != "INBOX", (*n).clone()));
    for (name, row) in names_out {
        let mut attrs = Vec::new();
        let special = MailboxName::new(name)
            .ok()
            .and_then(|n| account.special_use(&n))
            .map(crate::store::SpecialUse::attribute);
        if options.special_use_only && special.is_none() {
            continue;
        }
        let is_subscribed = subscribed.contains(name);
        if lsub {
            if !row.exists || row.parent_only {
                attrs.push(atom("Noselect"));
            }
        } else {
            if !row.exists {
                attrs.push(atom(if options.subscribed_only {
                    "NonExistent"
                } else {
                    "Noselect"
                }));
            }
            attrs.push(atom(if has_children(&all, name) {
                "HasChildren"
            } else {
                "HasNoChildren"
            }));
            if let Some(s) = special {
                attrs.push(atom(s));
            }
            if options.return_subscribed && is_subscribed {
                attrs.push(atom("Subscribed"));
            }
        }
        let childinfo = !lsub && options.recursive_match && has_subscribed_child(&subscribed, name);
        let Some(d) = list_data(name, attrs, childinfo) else {
            continue;
        };
        out.push(Response::Data(if lsub {
            Data::Lsub(d)
        } else {
            Data::List(d)
        }));
        if let (Some(items), true) = (&options.return_status, row.exists)
            && let Ok(target) = names::resolve_str(name)
            && let Ok(r) = status(account, &target, name, items)
        {
            out.push(r);
        }
    }
    Ok(())
}

/// The parents of a hierarchical name, nearest last: `a`, `a/b` for `a/b/c`.
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('/').map(move |(i, _)| &name[..i])
}

fn has_subscribed_child(subscribed: &BTreeSet<String>, name: &str) -> bool {
    let prefix = format!("{name}/");
    subscribed
        .range(prefix.clone()..)
        .next()
        .is_some_and(|k| k.starts_with(&prefix))
}

/// STATUS of a mailbox that is not selected. RECENT counts the messages no read-write session
/// has claimed yet (RFC 3501 §6.3.10), without claiming them.
pub(crate) fn status(
    account: &dyn Account,
    target: &MailboxName,
    wire_name: &str,
    items: &[StatusItem],
) -> Result<Response<'static>, No> {
    status_response(wire_name, items, &account.status(target)?)
}

/// The STATUS response with the items asked for, in their order.
pub(crate) fn status_response(
    wire_name: &str,
    items: &[StatusItem],
    counts: &MailboxStatus,
) -> Result<Response<'static>, No> {
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        let v: u64 = match item {
            StatusItem::Messages => counts.messages,
            StatusItem::Recent => counts.recent,
            StatusItem::UidNext => u64::from(counts.uid_next),
            StatusItem::UidValidity => u64::from(counts.uid_validity),
            StatusItem::Unseen => counts.unseen,
            StatusItem::HighestModSeq => counts.highest_modseq,
            StatusItem::Deleted => counts.deleted,
            StatusItem::Size => counts.size,
            _ => continue,
        };
        values.push((*item, Some(v)));
    }
    let mailbox = Mailbox(
        AString::from_bytes(wire_name.as_bytes().to_vec()).map_err(|_| No::text("bad name"))?,
    );
    Ok(Response::Data(Data::Status {
        mailbox,
        items: values,
    }))
}

/// CREATE, with any missing parents (RFC 3501 §6.3.3).
pub(crate) fn create(account: &dyn Account, target: &MailboxName) -> Result<(), No> {
    if target.is_inbox() {
        return Err(No(
            Some(code("ALREADYEXISTS")),
            "INBOX always exists".to_owned(),
        ));
    }
    Ok(account.create(target)?)
}

/// DELETE (RFC 3501 §6.3.4).
pub(crate) fn delete(account: &dyn Account, target: &MailboxName) -> Result<(), No> {
    if target.is_inbox() {
        return Err(No(
            Some(code("CANNOT")),
            "INBOX cannot be deleted".to_owned(),
        ));
    }
    Ok(account.delete(target)?)
}

/// RENAME (RFC 3501 §6.3.5): renaming INBOX moves its messages to the new mailbox and leaves INBOX
/// empty.
pub(crate) fn rename(
    account: &dyn Account,
    from: &MailboxName,
    to: &MailboxName,
) -> Result<(), No> {
    if to.is_inbox() {
        return Err(No(
            Some(code("ALREADYEXISTS")),
            "INBOX already exists".to_owned(),
        ));
    }
    Ok(account.rename(from, to)?)
}

/// SUBSCRIBE / UNSUBSCRIBE.
pub(crate) fn subscribe(account: &dyn Account, target: &MailboxName, on: bool) -> Result<(), No> {
    Ok(account.set_subscribed(target, on)?)
}
