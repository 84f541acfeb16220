//! QUOTA (RFC 9208): GETQUOTAROOT and GETQUOTA over the store's per-user quota.
//!
//! Each user has one quota root, `""`, over every mailbox of the account (the store keeps
//! one quota per user: Maildir++ `maildirsize`). Its resources are STORAGE (units of 1024
//! octets, §5.1) and MESSAGE (§5.2), each reported when it has a limit. SETQUOTA is an
//! administrator's (`full_server quota set`): QUOTASET is not advertised and SETQUOTA is
//! refused. Over-quota APPEND, COPY and MOVE are `NO [OVERQUOTA]` (module `mailboxes`).

use super::mailboxes::{No, code};
use super::names;
use crate::store::{Account, QuotaUsage};
use mailwright_imap_proto::IntoStatic;
use mailwright_imap_proto::types::core::{AString, Atom, Vec1};
use mailwright_imap_proto::types::mailbox::Mailbox;
use mailwright_imap_proto::types::quota::QuotaResource;
use mailwright_imap_proto::types::response::{Data, Response};

/// The capabilities (RFC 9208 §3.1, §5).
pub(crate) const CAPABILITIES: [&str; 3] = ["QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"];

/// The resources of a quota with a limit; `None` when it limits nothing.
fn resources(q: &QuotaUsage) -> Option<Vec1<QuotaResource<'static>>> {
    let mut out = Vec::new();
    if let Some(limit) = q.bytes_limit {
        out.push(QuotaResource {
            name: Atom::try_from("STORAGE").expect("atom"),
            usage: q.bytes.div_ceil(1024),
            limit: limit / 1024,
        });
    }
    if let Some(limit) = q.messages_limit {
        out.push(QuotaResource {
            name: Atom::try_from("MESSAGE").expect("atom"),
            usage: q.messages,
            limit,
        });
    }
    Vec1::try_from(out).ok()
}

fn root() -> AString<'static> {
    AString::try_from("").expect("empty quoted")
}

/// The user's quota as a QUOTA response, if there is one.
fn quota_response(account: &dyn Account) -> Result<Option<Response<'static>>, No> {
    Ok(account
        .quota()?
        .as_ref()
        .and_then(resources)
        .map(|resources| {
            Response::Data(Data::Quota {
                root: root(),
                resources,
            })
        }))
}

/// GETQUOTAROOT (RFC 9208 §4.1.2): the mailbox's root and its quota, or no root.
pub(crate) fn get_quota_root(
    account: &dyn Account,
    mailbox: &Mailbox<'_>,
    out: &mut Vec<Response<'static>>,
) -> Result<(), No> {
    let target = names::resolve(mailbox)?;
    if !account.exists(&target)? {
        return Err(No(Some(code("NONEXISTENT")), "No such mailbox".into()));
    }
    let quota = quota_response(account)?;
    out.push(Response::Data(Data::QuotaRoot {
        mailbox: IntoStatic::into_static(mailbox.clone()),
        roots: quota.iter().map(|_| root()).collect(),
    }));
    out.extend(quota);
    Ok(())
}

/// GETQUOTA (RFC 9208 §4.1.1): the user's root only.
pub(crate) fn get_quota(
    account: &dyn Account,
    name: &AString<'_>,
    out: &mut Vec<Response<'static>>,
) -> Result<(), No> {
    match quota_response(account)? {
        Some(q) if name.as_bytes().is_empty() => {
            out.push(q);
            Ok(())
        }
        _ => Err(No(Some(code("NONEXISTENT")), "No such quota root".into())),
    }
}
