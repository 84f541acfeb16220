//! Command parsers (RFC 3501 §9 and the extensions listed in [`crate::types::command`]).
//!
//! ```text
//! append          = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP
//!                   literal
//! ; RFC 3502 §6 (MULTIAPPEND):
//! append          = "APPEND" SP mailbox 1*append-message
//! append-message  = [SP flag-list] [SP date-time] SP literal
//! authenticate    = "AUTHENTICATE" SP auth-type *(CRLF base64)
//! copy            = "COPY" SP sequence-set SP mailbox
//! fetch           = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
//!                   fetch-att / "(" fetch-att *(SP fetch-att) ")")
//! fetch-att       = "ENVELOPE" / "FLAGS" / "INTERNALDATE" /
//!                   "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
//!                   "BODY" ["STRUCTURE"] / "UID" /
//!                   "BODY" section ["<" number "." nz-number ">"] /
//!                   "BODY.PEEK" section ["<" number "." nz-number ">"]
//! list            = "LIST" SP mailbox SP list-mailbox
//! login           = "LOGIN" SP userid SP password
//! search          = "SEARCH" [SP "CHARSET" SP astring] 1*(SP search-key)
//! section         = "[" [section-spec] "]"
//! section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list /
//!                   "TEXT"
//! section-part    = nz-number *("." nz-number)
//! section-spec    = section-msgtext / (section-part ["." section-text])
//! section-text    = section-msgtext / "MIME"
//! status          = "STATUS" SP mailbox SP
//!                   "(" status-att *(SP status-att) ")"
//! store           = "STORE" SP sequence-set SP store-att-flags
//! store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
//!                   (flag-list / (flag *(SP flag)))
//! uid             = "UID" SP (copy / fetch / search / store)
//! ```
//! (RFC 3501 §9; `search-key` is quoted in [`crate::types::command::SearchKey`]'s parser below.)
//! Extensions follow the syntax of their RFCs, cited at each parser.

use std::num::NonZeroU32;

use nom::Parser;
use nom::bytes::streaming::tag_no_case;
use nom::error::ErrorKind;

use super::core::{
    PResult, Upper, astring, atom, byte, crlf, date, date_time, fail, flag, flag_list,
    list_mailbox, literal, mailbox, nil, nstring, number, number64, nz_number, paren_list,
    paren_list1, run1, sequence_set, sp, sp_list1, string, tag_,
};
use crate::types::command::{
    AuthData, Command, CommandBody, EntryType, FetchAttribute, FetchItems, ListReturnOption,
    ListSelectOption, SearchKey, SearchReturnOption, Section, SectionText, StatusItem, StoreKind,
};
use crate::types::core::{AString, Atom, Vec1};
use crate::types::qresync::{QresyncParams, SeqMatch};
use crate::types::sequence::SequenceSet;
use crate::types::sort::{SortCriterion, SortKey, ThreadAlgorithm};
use mailwright_sansio::Secret;

/// How deep SEARCH keys and parenthesised lists may nest before the parser refuses (stack safety).
pub(crate) const MAX_NESTING: usize = 32;

#[allow(clippy::needless_pass_by_value)] // Used with `map_err`.
fn incomplete<'a>(
    e: nom::Err<nom::error::Error<&'static [u8]>>,
) -> nom::Err<nom::error::Error<&'a [u8]>> {
    match e {
        nom::Err::Incomplete(n) => nom::Err::Incomplete(n),
        _ => nom::Err::Incomplete(nom::Needed::new(1)),
    }
}

#[inline]
fn word(i: &[u8]) -> PResult<'_, &[u8]> {
    run1(i, |b: u8| {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
    })
}

fn kw<'a>(k: &'static str) -> impl Fn(&'a [u8]) -> PResult<'a, ()> {
    move |i| tag_no_case(k.as_bytes()).map(|_| ()).parse(i)
}

#[inline]
fn sp_then<'a, T>(i: &'a [u8], p: impl FnOnce(&'a [u8]) -> PResult<'a, T>) -> PResult<'a, T> {
    let (i, ()) = sp(i)?;
    p(i)
}

/// `command = tag SP (...) CRLF`.
pub(crate) fn command(i: &[u8]) -> PResult<'_, Command<'_>> {
    let (i, tag) = tag_(i)?;
    let (i, ()) = sp(i)?;
    let (i, body) = command_body(i)?;
    let (i, ()) = crlf(i)?;
    Ok((i, Command { tag, body }))
}

fn command_body(i: &[u8]) -> PResult<'_, CommandBody<'_>> {
    let (rest, name) = word(i)?;
    let upper = Upper::new(name);
    let simple = |b: CommandBody<'static>| Ok((rest, b));
    match upper.as_slice() {
        b"CAPABILITY" => simple(CommandBody::Capability),
        b"NOOP" => simple(CommandBody::Noop),
        b"LOGOUT" => simple(CommandBody::Logout),
        b"STARTTLS" => simple(CommandBody::StartTls),
        b"CHECK" => simple(CommandBody::Check),
        b"CLOSE" => simple(CommandBody::Close),
        b"UNSELECT" => simple(CommandBody::Unselect),
        b"EXPUNGE" => simple(CommandBody::Expunge),
        b"IDLE" => simple(CommandBody::Idle),
        b"NAMESPACE" => simple(CommandBody::Namespace),
        b"AUTHENTICATE" => authenticate(rest),
        b"LOGIN" => {
            let (i, username) = sp_then(rest, astring)?;
            let (i, password) = sp_then(i, astring)?;
            Ok((
                i,
                CommandBody::Login {
                    username,
                    password: Secret::new(password),
                },
            ))
        }
        b"SELECT" | b"EXAMINE" => {
            let (i, mailbox) = sp_then(rest, mailbox)?;
            let (i, (condstore, qresync)) = select_params(i)?;
            Ok((
                i,
                if upper.as_slice() == b"SELECT" {
                    CommandBody::Select {
                        mailbox,
                        condstore,
                        qresync,
                    }
                } else {
                    CommandBody::Examine {
                        mailbox,
                        condstore,
                        qresync,
                    }
                },
            ))
        }
        b"CREATE" => {
            let (i, mailbox) = sp_then(rest, mailbox)?;
            let (i, special_use) = create_params(i)?;
            Ok((
                i,
                CommandBody::Create {
                    mailbox,
                    special_use,
                },
            ))
        }
        b"DELETE" => {
            sp_then(rest, mailbox).map(|(i, mailbox)| (i, CommandBody::Delete { mailbox }))
        }
        b"SUBSCRIBE" => {
            sp_then(rest, mailbox).map(|(i, mailbox)| (i, CommandBody::Subscribe { mailbox }))
        }
        b"UNSUBSCRIBE" => {
            sp_then(rest, mailbox).map(|(i, mailbox)| (i, CommandBody::Unsubscribe { mailbox }))
        }
        b"RENAME" => {
            let (i, from) = sp_then(rest, mailbox)?;
            let (i, to) = sp_then(i, mailbox)?;
            Ok((i, CommandBody::Rename { from, to }))
        }
        b"LIST" => list(rest),
        b"LSUB" => {
            let (i, reference) = sp_then(rest, mailbox)?;
            let (i, pattern) = sp_then(i, list_mailbox)?;
            Ok((i, CommandBody::Lsub { reference, pattern }))
        }
        b"STATUS" => {
            let (i, mailbox) = sp_then(rest, mailbox)?;
            let (i, items) = sp_then(i, |i| paren_list1(i, status_item))?;
            Ok((i, CommandBody::Status { mailbox, items }))
        }
        b"APPEND" => append(rest),
        b"SEARCH" => search(rest, false),
        b"SORT" => sort(rest, false),
        b"THREAD" => thread(rest, false),
        b"FETCH" => fetch(rest, false),
        b"STORE" => store(rest, false),
        b"COPY" => copy_move(rest, false, false),
        b"MOVE" => copy_move(rest, false, true),
        b"UID" => {
            let (i, ()) = sp(rest)?;
            let (r, name) = word(i)?;
            match Upper::new(name).as_slice() {
                b"SEARCH" => search(r, true),
                b"SORT" => sort(r, true),
                b"THREAD" => thread(r, true),
                b"FETCH" => fetch(r, true),
                b"STORE" => store(r, true),
                b"COPY" => copy_move(r, true, false),
                b"MOVE" => copy_move(r, true, true),
                b"EXPUNGE" => {
                    sp_then(r, sequence_set).map(|(i, set)| (i, CommandBody::UidExpunge { set }))
                }
                _ => fail(i, ErrorKind::Switch),
            }
        }
        b"ENABLE" => {
            let (i, ()) = sp(rest)?;
            let (i, capabilities) = sp_list1(i, atom)?;
            Ok((i, CommandBody::Enable { capabilities }))
        }
        b"ID" => {
            let (i, ()) = sp(rest)?;
            let (i, parameters) = id_params(i)?;
            Ok((i, CommandBody::Id { parameters }))
        }
        // RFC 9208 §8.
        b"GETQUOTA" => sp_then(rest, astring).map(|(i, root)| (i, CommandBody::GetQuota { root })),
        b"GETQUOTAROOT" => {
            sp_then(rest, mailbox).map(|(i, mailbox)| (i, CommandBody::GetQuotaRoot { mailbox }))
        }
        b"SETQUOTA" => {
            let (i, root) = sp_then(rest, astring)?;
            let (i, limits) = sp_then(i, |i| {
                paren_list(i, |i| {
                    let (r, name) = atom(i)?;
                    let (r, limit) = sp_then(r, number64)?;
                    Ok((r, (name, limit)))
                })
            })?;
            Ok((i, CommandBody::SetQuota { root, limits }))
        }
        b"COMPRESS" => {
            sp_then(rest, atom).map(|(i, algorithm)| (i, CommandBody::Compress { algorithm }))
        }
        // `Switch` marks "no such command" for `MalformedKind::UnknownCommand`.
        _ => fail(i, ErrorKind::Switch),
    }
}

/// `[create-params]` with RFC 6154 §6's one parameter (RFC 4466 §2.2):
/// ```text
/// create-params   = SP "(" create-param *( SP create-param) ")"
/// create-param =/ "USE" SP "(" [use-attr *(SP use-attr)] ")"
/// use-attr        = "\All" / "\Archive" / "\Drafts" / "\Flagged" /
///                   "\Junk" / "\Sent" / "\Trash" / use-attr-ext
/// use-attr-ext    = "\" atom
/// ```
fn create_params(i: &[u8]) -> PResult<'_, Option<Vec<Atom<'_>>>> {
    if i.first() != Some(&b' ') {
        return Ok((i, None));
    }
    let (i, ()) = sp(i)?;
    let (i, ()) = byte(i, b'(')?;
    let (i, ()) = kw("USE ")(i)?;
    let (i, uses) = paren_list(i, |i| {
        let (i, ()) = byte(i, b'\\')?;
        atom(i)
    })?;
    let (i, ()) = byte(i, b')')?;
    Ok((i, Some(uses)))
}

/// RFC 4959 §7: `authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")] *(CRLF base64)`.
fn authenticate(i: &[u8]) -> PResult<'_, CommandBody<'_>> {
    let (i, mechanism) = sp_then(i, atom)?;
    if i.first() != Some(&b' ') {
        return Ok((
            i,
            CommandBody::Authenticate {
                mechanism,
                initial_response: None,
            },
        ));
    }
    let (i, data) = sp_then(i, atom)?;
    let ir = if data.as_str() == "=" {
        AuthData::Empty
    } else if crate::types::base64::is_base64(data.as_str().as_bytes()) {
        AuthData::Base64(Secret::new(data))
    } else {
        return fail(i, ErrorKind::Verify);
    };
    Ok((
        i,
        CommandBody::Authenticate {
            mechanism,
            initial_response: Some(ir),
        },
    ))
}

/// An AUTHENTICATE continuation line from the client (RFC 3501 §6.2.2): base64, or `*` to cancel.
pub(crate) fn auth_line(i: &[u8]) -> PResult<'_, AuthData<'_>> {
    if i.starts_with(b"\r\n") {
        return Ok((&i[2..], AuthData::Empty));
    }
    if i.starts_with(b"*") {
        let (r, ()) = crlf(&i[1..])?;
        return Ok((r, AuthData::Cancel));
    }
    let (r, data) = atom(i)?;
    if !crate::types::base64::is_base64(data.as_str().as_bytes()) {
        return fail(i, ErrorKind::Verify);
    }
    let (r, ()) = crlf(r)?;
    Ok((r, AuthData::Base64(Secret::new(data))))
}

/// RFC 4466 `select-params = SP "(" select-param *(SP select-param) ")"`, of which CONDSTORE
/// (RFC 7162 §3.1.8) and QRESYNC (§3.2.5) are known, each at most once, in either order.
fn select_params(i: &[u8]) -> PResult<'_, (bool, Option<QresyncParams>)> {
    if !peek_is(i, b" (").map_err(incomplete)? {
        return Ok((i, (false, None)));
    }
    let mut r = &i[2..];
    let (mut condstore, mut qresync) = (false, None);
    loop {
        let (r2, w) = word(r)?;
        match Upper::new(w).as_slice() {
            b"CONDSTORE" if !condstore => {
                condstore = true;
                r = r2;
            }
            b"QRESYNC" if qresync.is_none() => {
                let (r3, p) = sp_then(r2, qresync_params)?;
                qresync = Some(p);
                r = r3;
            }
            _ => return fail(r, ErrorKind::Tag),
        }
        match r.first() {
            Some(b' ') => r = &r[1..],
            Some(b')') => return Ok((&r[1..], (condstore, qresync))),
            Some(_) => return fail(r, ErrorKind::Char),
            None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
        }
    }
}

/// RFC 7162 §7: `"(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"`.
fn qresync_params(i: &[u8]) -> PResult<'_, QresyncParams> {
    let (r, ()) = byte(i, b'(')?;
    let (r, uid_validity) = nz_number(r)?;
    let (mut r, modseq) = sp_then(r, number64)?;
    let mut known_uids = None;
    if r.first() == Some(&b' ') && r.get(1).is_some_and(u8::is_ascii_digit) {
        let (r2, set) = known_set(&r[1..])?;
        known_uids = Some(set);
        r = r2;
    }
    let mut seq_match = None;
    if peek_is(r, b" (").map_err(incomplete)? {
        let (r2, seqs) = known_set(&r[2..])?;
        let (r2, uids) = sp_then(r2, known_set)?;
        let (r2, ()) = byte(r2, b')')?;
        seq_match = Some(SeqMatch { seqs, uids });
        r = r2;
    }
    let (r, ()) = byte(r, b')')?;
    Ok((
        r,
        QresyncParams {
            uid_validity,
            modseq,
            known_uids,
            seq_match,
        },
    ))
}

/// `known-uids`, `known-sequence-set`, `known-uid-set` (RFC 7162 §7): a `sequence-set`
/// without `*` or `$`.
pub(crate) fn known_set(i: &[u8]) -> PResult<'_, SequenceSet> {
    let (r, set) = sequence_set(i)?;
    if !set.is_explicit() {
        return fail(i, ErrorKind::Verify);
    }
    Ok((r, set))
}

fn status_item(i: &[u8]) -> PResult<'_, StatusItem> {
    let (r, w) = word(i)?;
    match StatusItem::ALL
        .iter()
        .find(|(_, s)| s.as_bytes().eq_ignore_ascii_case(w))
    {
        Some((item, _)) => Ok((r, *item)),
        None => fail(i, ErrorKind::Tag),
    }
}

pub(crate) fn status_items(i: &[u8]) -> PResult<'_, Vec1<StatusItem>> {
    paren_list1(i, status_item)
}

/// RFC 5258 §6:
/// `list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]`.
fn list(i: &[u8]) -> PResult<'_, CommandBody<'_>> {
    let (i, ()) = sp(i)?;
    let (i, selection) = if i.first() == Some(&b'(') {
        let (i, s) = paren_list(i, |i| {
            let (r, a) = atom(i)?;
            let s = a.as_str();
            Ok((
                r,
                if s.eq_ignore_ascii_case("SUBSCRIBED") {
                    ListSelectOption::Subscribed
                } else if s.eq_ignore_ascii_case("REMOTE") {
                    ListSelectOption::Remote
                } else if s.eq_ignore_ascii_case("RECURSIVEMATCH") {
                    ListSelectOption::RecursiveMatch
                } else if s.eq_ignore_ascii_case("SPECIAL-USE") {
                    ListSelectOption::SpecialUse
                } else {
                    ListSelectOption::Other(a)
                },
            ))
        })?;
        let (i, ()) = sp(i)?;
        (i, Some(s))
    } else {
        (i, None)
    };
    let (i, reference) = mailbox(i)?;
    let (i, ()) = sp(i)?;
    let (i, patterns, patterns_list) = if i.first() == Some(&b'(') {
        let (i, p) = paren_list1(i, list_mailbox)?;
        (i, p, true)
    } else {
        let (i, p) = list_mailbox(i)?;
        (i, Vec1::one(p), false)
    };
    let (i, returns) = if i.starts_with(b" ") {
        let (i, _) = tag_no_case(&b" RETURN "[..]).parse(i)?;
        let (i, r) = paren_list(i, list_return_option)?;
        (i, Some(r))
    } else {
        (i, None)
    };
    Ok((
        i,
        CommandBody::List {
            selection,
            reference,
            patterns,
            patterns_list,
            returns,
        },
    ))
}

fn list_return_option(i: &[u8]) -> PResult<'_, ListReturnOption<'_>> {
    let (r, a) = atom(i)?;
    let s = a.as_str();
    Ok(if s.eq_ignore_ascii_case("SUBSCRIBED") {
        (r, ListReturnOption::Subscribed)
    } else if s.eq_ignore_ascii_case("CHILDREN") {
        (r, ListReturnOption::Children)
    } else if s.eq_ignore_ascii_case("SPECIAL-USE") {
        (r, ListReturnOption::SpecialUse)
    } else if s.eq_ignore_ascii_case("STATUS") {
        // RFC 5819 §6: status-option = "STATUS" SP "(" status-att *(SP status-att) ")"
        let (r, items) = sp_then(r, status_items)?;
        (r, ListReturnOption::Status(items))
    } else {
        (r, ListReturnOption::Other(a))
    })
}

fn append(i: &[u8]) -> PResult<'_, CommandBody<'_>> {
    let (i, (mailbox, flags, date)) = append_head(i)?;
    let (mut i, message) = literal(i)?;
    let mut messages = vec![crate::types::command::AppendMessage {
        flags,
        date,
        message,
    }];
    // RFC 3502 §6: append = "APPEND" SP mailbox 1*append-message
    while i.first() == Some(&b' ') {
        let (r, (flags, date)) = append_opts(i)?;
        let (r, message) = literal(r)?;
        messages.push(crate::types::command::AppendMessage {
            flags,
            date,
            message,
        });
        i = r;
    }
    if messages.len() > 1 {
        return Ok((i, CommandBody::MultiAppend { mailbox, messages }));
    }
    let m = messages.pop().expect("one message");
    Ok((
        i,
        CommandBody::Append {
            mailbox,
            flags: m.flags,
            date: m.date,
            message: m.message,
        },
    ))
}

type AppendHead<'a> = (
    crate::types::mailbox::Mailbox<'a>,
    Option<Vec<crate::types::flag::Flag<'a>>>,
    Option<crate::types::datetime::DateTime>,
);

type AppendOpts<'a> = (
    Option<Vec<crate::types::flag::Flag<'a>>>,
    Option<crate::types::datetime::DateTime>,
);

/// `SP mailbox [SP flag-list] [SP date-time] SP`, up to the message literal.
pub(crate) fn append_head(i: &[u8]) -> PResult<'_, AppendHead<'_>> {
    let (i, mailbox) = sp_then(i, mailbox)?;
    let (i, (flags, date)) = append_opts(i)?;
    Ok((i, (mailbox, flags, date)))
}

/// `SP [flag-list SP] [date-time SP]`: what comes before each message literal (RFC 3502 §6
/// `append-message`).
pub(crate) fn append_opts(i: &[u8]) -> PResult<'_, AppendOpts<'_>> {
    let (mut i, ()) = sp(i)?;
    let mut flags = None;
    let mut date = None;
    if i.first() == Some(&b'(') {
        let (r, f) = flag_list(i)?;
        let (r, ()) = sp(r)?;
        flags = Some(f);
        i = r;
    }
    if i.first() == Some(&b'"') {
        let (r, d) = date_time(i)?;
        let (r, ()) = sp(r)?;
        date = Some(d);
        i = r;
    }
    Ok((i, (flags, date)))
}

/// Whether `prefix` is exactly `SP [flag-list SP] [date-time SP]`: the next message of a
/// MULTIAPPEND (RFC 3502) follows as a literal.
pub(crate) fn is_append_next_prefix(prefix: &[u8]) -> bool {
    matches!(append_opts(prefix), Ok((rest, _)) if rest.is_empty())
}

/// Whether `prefix` is exactly `tag SP "APPEND" SP mailbox [SP flag-list] [SP date-time] SP`, so
/// that the literal after it is the message.
pub(crate) fn is_append_message_prefix(prefix: &[u8]) -> bool {
    let Ok((i, _)) = tag_(prefix) else {
        return false;
    };
    let Ok((i, ())) = sp(i) else { return false };
    let Ok((i, ())) = kw("APPEND")(i) else {
        return false;
    };
    matches!(append_head(i), Ok((rest, _)) if rest.is_empty())
}

/// The APPEND head parsed from a [`is_append_message_prefix`] prefix.
pub(crate) fn append_prefix(
    prefix: &[u8],
) -> PResult<'_, (crate::types::core::Tag<'_>, AppendHead<'_>)> {
    let (i, t) = tag_(prefix)?;
    let (i, ()) = sp(i)?;
    let (i, ()) = kw("APPEND")(i)?;
    let (i, head) = append_head(i)?;
    Ok((i, (t, head)))
}

/// `search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"`
/// (RFC 4466 §2.6, RFC 4731 §3); ESORT's `sort-return-opts` are the same (RFC 5267 §3). Called
/// after the SP that follows the command name; returns the input after the SP that follows the
/// options.
fn return_opts(i: &[u8]) -> PResult<'_, Option<Vec<SearchReturnOption>>> {
    if i.len() < 7 {
        if b"RETURN "[..i.len()].eq_ignore_ascii_case(i) {
            return Err(nom::Err::Incomplete(nom::Needed::new(7 - i.len())));
        }
        return Ok((i, None));
    }
    if !i[..7].eq_ignore_ascii_case(b"RETURN ") {
        return Ok((i, None));
    }
    let (r, opts) = paren_list(&i[7..], |i| {
        let (r, w) = word(i)?;
        let o = match Upper::new(w).as_slice() {
            b"MIN" => SearchReturnOption::Min,
            b"MAX" => SearchReturnOption::Max,
            b"ALL" => SearchReturnOption::All,
            b"COUNT" => SearchReturnOption::Count,
            b"SAVE" => SearchReturnOption::Save,
            _ => return fail(i, ErrorKind::Tag),
        };
        Ok((r, o))
    })?;
    let (r, ()) = sp(r)?;
    Ok((r, Some(opts)))
}

/// RFC 4466 §2.6 / RFC 4731 §3: `search = "SEARCH" [search-return-opts] SP search-program`,
/// `search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"`.
fn search(i: &[u8], uid: bool) -> PResult<'_, CommandBody<'_>> {
    let (i, ()) = sp(i)?;
    let (mut i, returns) = return_opts(i)?;
    let mut charset = None;
    if i.len() >= 8 && i[..8].eq_ignore_ascii_case(b"CHARSET ") {
        let (r, c) = astring(&i[8..])?;
        let (r, ()) = sp(r)?;
        charset = Some(c);
        i = r;
    }
    let (i, criteria) = sp_list1(i, |i| search_key(i, 0))?;
    Ok((
        i,
        CommandBody::Search {
            uid,
            returns,
            charset,
            criteria,
        },
    ))
}

/// `sort-criterion = ["REVERSE" SP] sort-key` (RFC 5256 §5, RFC 5957 §3).
fn sort_criterion(i: &[u8]) -> PResult<'_, SortCriterion> {
    let (r, w) = word(i)?;
    let (r, w, reverse) = if w.eq_ignore_ascii_case(b"REVERSE") {
        let (r, w) = sp_then(r, word)?;
        (r, w, true)
    } else {
        (r, w, false)
    };
    match SortKey::ALL
        .iter()
        .find(|(_, s)| s.as_bytes().eq_ignore_ascii_case(w))
    {
        Some((key, _)) => Ok((r, SortCriterion { reverse, key: *key })),
        None => fail(i, ErrorKind::Tag),
    }
}

/// `search-criteria = charset 1*(SP search-key)` (RFC 5256 §5), after an SP.
fn search_criteria(i: &[u8]) -> PResult<'_, (AString<'_>, Vec1<SearchKey<'_>>)> {
    let (i, charset) = sp_then(i, astring)?;
    let (i, ()) = sp(i)?;
    let (i, keys) = sp_list1(i, |i| search_key(i, 0))?;
    Ok((i, (charset, keys)))
}

/// RFC 5267 §3: `sort = ["UID" SP] "SORT" [sort-return-opts] SP sort-criteria SP
/// search-criteria`.
fn sort(i: &[u8], uid: bool) -> PResult<'_, CommandBody<'_>> {
    let (i, ()) = sp(i)?;
    let (i, returns) = return_opts(i)?;
    let (i, criteria) = paren_list1(i, sort_criterion)?;
    let (i, (charset, search)) = search_criteria(i)?;
    Ok((
        i,
        CommandBody::Sort {
            uid,
            returns,
            criteria,
            charset,
            search,
        },
    ))
}

/// RFC 5256 §5: `thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria`.
fn thread(i: &[u8], uid: bool) -> PResult<'_, CommandBody<'_>> {
    let (i, alg) = sp_then(i, atom)?;
    let algorithm = match Upper::new(alg.as_str().as_bytes()).as_slice() {
        b"ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        b"REFERENCES" => ThreadAlgorithm::References,
        b"REFS" => ThreadAlgorithm::Refs,
        _ => ThreadAlgorithm::Other(alg),
    };
    let (i, (charset, search)) = search_criteria(i)?;
    Ok((
        i,
        CommandBody::Thread {
            uid,
            algorithm,
            charset,
            search,
        },
    ))
}

/// `search-key` (RFC 3501 §9):
/// ```text
/// search-key      = "ALL" / "ANSWERED" / "BCC" SP astring /
///                   "BEFORE" SP date / "BODY" SP astring /
///                   "CC" SP astring / "DELETED" / "FLAGGED" /
///                   "FROM" SP astring / "KEYWORD" SP flag-keyword /
///                   "NEW" / "OLD" / "ON" SP date / "RECENT" / "SEEN" /
///                   "SINCE" SP date / "SUBJECT" SP astring /
///                   "TEXT" SP astring / "TO" SP astring /
///                   "UNANSWERED" / "UNDELETED" / "UNFLAGGED" /
///                   "UNKEYWORD" SP flag-keyword / "UNSEEN" /
///                     ; Above this line were in [IMAP2]
///                   "DRAFT" / "HEADER" SP header-fld-name SP astring /
///                   "LARGER" SP number / "NOT" SP search-key /
///                   "OR" SP search-key SP search-key /
///                   "SENTBEFORE" SP date / "SENTON" SP date /
///                   "SENTSINCE" SP date / "SMALLER" SP number /
///                   "UID" SP sequence-set / "UNDRAFT" / sequence-set /
///                   "(" search-key *(SP search-key) ")"
/// ```
/// plus `MODSEQ` (RFC 7162 §7) and `OLDER` / `YOUNGER` (RFC 5032 §4).
pub(crate) fn search_key(i: &[u8], depth: usize) -> PResult<'_, SearchKey<'_>> {
    if depth > MAX_NESTING {
        return Err(nom::Err::Failure(nom::error::Error::new(
            i,
            ErrorKind::TooLarge,
        )));
    }
    match i.first() {
        None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
        Some(b'(') => {
            let (r, keys) = paren_list1(i, |i| search_key(i, depth + 1))?;
            return Ok((r, SearchKey::And(keys)));
        }
        Some(b'0'..=b'9' | b'*' | b'$') => {
            return sequence_set(i).map(|(r, s)| (r, SearchKey::SequenceSet(s)));
        }
        Some(_) => {}
    }
    let (r, w) = word(i)?;
    let up = Upper::new(w);
    let k = |key: SearchKey<'static>| Ok((r, key));
    fn arg<'x>(
        r: &'x [u8],
        f: fn(crate::types::core::AString<'x>) -> SearchKey<'x>,
    ) -> PResult<'x, SearchKey<'x>> {
        sp_then(r, astring).map(|(r, v)| (r, f(v)))
    }
    let a = |f| arg(r, f);
    let d = |f: fn(crate::types::datetime::Date) -> SearchKey<'static>| {
        sp_then(r, date).map(|(r, v)| (r, f(v)))
    };
    match up.as_slice() {
        b"ALL" => k(SearchKey::All),
        b"ANSWERED" => k(SearchKey::Answered),
        b"DELETED" => k(SearchKey::Deleted),
        b"DRAFT" => k(SearchKey::Draft),
        b"FLAGGED" => k(SearchKey::Flagged),
        b"NEW" => k(SearchKey::New),
        b"OLD" => k(SearchKey::Old),
        b"RECENT" => k(SearchKey::Recent),
        b"SEEN" => k(SearchKey::Seen),
        b"UNANSWERED" => k(SearchKey::Unanswered),
        b"UNDELETED" => k(SearchKey::Undeleted),
        b"UNDRAFT" => k(SearchKey::Undraft),
        b"UNFLAGGED" => k(SearchKey::Unflagged),
        b"UNSEEN" => k(SearchKey::Unseen),
        b"BCC" => a(SearchKey::Bcc),
        b"BODY" => a(SearchKey::Body),
        b"CC" => a(SearchKey::Cc),
        b"FROM" => a(SearchKey::From),
        b"SUBJECT" => a(SearchKey::Subject),
        b"TEXT" => a(SearchKey::Text),
        b"TO" => a(SearchKey::To),
        b"BEFORE" => d(SearchKey::Before),
        b"ON" => d(SearchKey::On),
        b"SINCE" => d(SearchKey::Since),
        b"SENTBEFORE" => d(SearchKey::SentBefore),
        b"SENTON" => d(SearchKey::SentOn),
        b"SENTSINCE" => d(SearchKey::SentSince),
        b"KEYWORD" => sp_then(r, atom).map(|(r, v)| (r, SearchKey::Keyword(v))),
        b"UNKEYWORD" => sp_then(r, atom).map(|(r, v)| (r, SearchKey::Unkeyword(v))),
        b"HEADER" => {
            let (r, name) = sp_then(r, astring)?;
            let (r, value) = sp_then(r, astring)?;
            Ok((r, SearchKey::Header(name, value)))
        }
        b"LARGER" => sp_then(r, number).map(|(r, v)| (r, SearchKey::Larger(v))),
        b"SMALLER" => sp_then(r, number).map(|(r, v)| (r, SearchKey::Smaller(v))),
        b"OLDER" => sp_then(r, nz_number).map(|(r, v)| (r, SearchKey::Older(v))),
        b"YOUNGER" => sp_then(r, nz_number).map(|(r, v)| (r, SearchKey::Younger(v))),
        b"UID" => sp_then(r, sequence_set).map(|(r, v)| (r, SearchKey::Uid(v))),
        b"NOT" => {
            sp_then(r, |i| search_key(i, depth + 1)).map(|(r, v)| (r, SearchKey::Not(Box::new(v))))
        }
        b"OR" => {
            let (r, x) = sp_then(r, |i| search_key(i, depth + 1))?;
            let (r, y) = sp_then(r, |i| search_key(i, depth + 1))?;
            Ok((r, SearchKey::Or(Box::new(x), Box::new(y))))
        }
        b"MODSEQ" => {
            // RFC 7162 §7: search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer
            // search-modseq-ext = SP entry-name SP entry-type-req
            let (r, ()) = sp(r)?;
            if matches!(r.first(), Some(b'"' | b'{')) {
                let (r, name) = string(r)?;
                let (r, t) = sp_then(r, word)?;
                let t = match Upper::new(t).as_slice() {
                    b"PRIV" => EntryType::Private,
                    b"SHARED" => EntryType::Shared,
                    b"ALL" => EntryType::All,
                    _ => return fail(r, ErrorKind::Tag),
                };
                let (r, modseq) = sp_then(r, number64)?;
                return Ok((
                    r,
                    SearchKey::ModSeq {
                        entry: Some((name, t)),
                        modseq,
                    },
                ));
            }
            let (r, modseq) = number64(r)?;
            Ok((
                r,
                SearchKey::ModSeq {
                    entry: None,
                    modseq,
                },
            ))
        }
        _ => fail(i, ErrorKind::Tag),
    }
}

/// RFC 4466 §2.4 fetch modifiers; CONDSTORE's `CHANGEDSINCE` (RFC 7162 §3.1.4).
fn fetch(i: &[u8], uid: bool) -> PResult<'_, CommandBody<'_>> {
    let (i, set) = sp_then(i, sequence_set)?;
    let (i, ()) = sp(i)?;
    let (i, items) = fetch_items(i)?;
    let (mut i, mut changed_since, mut vanished) = (i, None, false);
    if peek_is(i, b" (").map_err(incomplete)? {
        // `fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"` (RFC 4466 §2.4),
        // each at most once; RFC 7162 §3.2.6: VANISHED only in UID FETCH with CHANGEDSINCE.
        let mut r = &i[2..];
        loop {
            let (r2, w) = word(r)?;
            match Upper::new(w).as_slice() {
                b"CHANGEDSINCE" if changed_since.is_none() => {
                    let (r3, n) = sp_then(r2, number64)?;
                    changed_since = Some(n);
                    r = r3;
                }
                b"VANISHED" if uid && !vanished => {
                    vanished = true;
                    r = r2;
                }
                _ => return fail(r, ErrorKind::Tag),
            }
            match r.first() {
                Some(b' ') => r = &r[1..],
                Some(b')') => break,
                Some(_) => return fail(r, ErrorKind::Char),
                None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
            }
        }
        if vanished && changed_since.is_none() {
            return fail(r, ErrorKind::Verify);
        }
        i = &r[1..];
    }
    Ok((
        i,
        CommandBody::Fetch {
            uid,
            set,
            items,
            changed_since,
            vanished,
        },
    ))
}

pub(crate) fn fetch_items(i: &[u8]) -> PResult<'_, FetchItems<'_>> {
    if i.first() == Some(&b'(') {
        return paren_list1(i, fetch_att).map(|(r, l)| (r, FetchItems::List(l)));
    }
    let (r, w) = word(i)?;
    match Upper::new(w).as_slice() {
        b"ALL" => Ok((r, FetchItems::All)),
        b"FAST" => Ok((r, FetchItems::Fast)),
        b"FULL" => Ok((r, FetchItems::Full)),
        _ => fetch_att(i).map(|(r, a)| (r, FetchItems::Single(a))),
    }
}

pub(crate) fn fetch_att(i: &[u8]) -> PResult<'_, FetchAttribute<'_>> {
    let (r, w) = word(i)?;
    let up = Upper::new(w);
    let att = match up.as_slice() {
        b"ENVELOPE" => FetchAttribute::Envelope,
        b"FLAGS" => FetchAttribute::Flags,
        b"INTERNALDATE" => FetchAttribute::InternalDate,
        b"RFC822" => FetchAttribute::Rfc822,
        b"RFC822.HEADER" => FetchAttribute::Rfc822Header,
        b"RFC822.SIZE" => FetchAttribute::Rfc822Size,
        b"RFC822.TEXT" => FetchAttribute::Rfc822Text,
        b"BODYSTRUCTURE" => FetchAttribute::BodyStructure,
        b"UID" => FetchAttribute::Uid,
        b"MODSEQ" => FetchAttribute::ModSeq,
        b"BODY" | b"BODY.PEEK" => {
            let peek = up.as_slice() == b"BODY.PEEK";
            if r.first() != Some(&b'[') {
                if peek {
                    return fail(r, ErrorKind::Char);
                }
                if r.is_empty() {
                    return Err(nom::Err::Incomplete(nom::Needed::new(1)));
                }
                return Ok((r, FetchAttribute::Body));
            }
            let (r, section) = section(r)?;
            let (r, partial) = if r.first() == Some(&b'<') {
                let (r, off) = number(&r[1..])?;
                let (r, ()) = byte(r, b'.')?;
                let (r, len) = nz_number(r)?;
                let (r, ()) = byte(r, b'>')?;
                (r, Some((off, len)))
            } else {
                (r, None)
            };
            return Ok((
                r,
                FetchAttribute::BodySection {
                    peek,
                    section,
                    partial,
                },
            ));
        }
        b"BINARY" | b"BINARY.PEEK" => {
            let peek = up.as_slice() == b"BINARY.PEEK";
            let (r, section) = section_binary(r)?;
            let (r, partial) = if r.first() == Some(&b'<') {
                let (r, off) = number(&r[1..])?;
                let (r, ()) = byte(r, b'.')?;
                let (r, len) = nz_number(r)?;
                let (r, ()) = byte(r, b'>')?;
                (r, Some((off, len)))
            } else {
                (r, None)
            };
            return Ok((
                r,
                FetchAttribute::Binary {
                    peek,
                    section,
                    partial,
                },
            ));
        }
        b"BINARY.SIZE" => {
            let (r, section) = section_binary(r)?;
            return Ok((r, FetchAttribute::BinarySize { section }));
        }
        _ => return fail(i, ErrorKind::Tag),
    };
    Ok((r, att))
}

/// `section-binary = "[" [section-part] "]"`, `section-part = nz-number *("." nz-number)`
/// (RFC 3516 §4.1).
pub(crate) fn section_binary(i: &[u8]) -> PResult<'_, Vec<NonZeroU32>> {
    let (mut i, ()) = byte(i, b'[')?;
    let mut part = Vec::new();
    if i.first() == Some(&b']') {
        return Ok((&i[1..], part));
    }
    loop {
        let (r, n) = nz_number(i)?;
        part.push(n);
        match r.first() {
            Some(b'.') => i = &r[1..],
            Some(b']') => return Ok((&r[1..], part)),
            Some(_) => return fail(r, ErrorKind::Char),
            None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
        }
    }
}

/// `section = "[" [section-spec] "]"`.
pub(crate) fn section(i: &[u8]) -> PResult<'_, Section<'_>> {
    let (mut i, ()) = byte(i, b'[')?;
    let mut part: Vec<NonZeroU32> = Vec::new();
    while i.first().is_some_and(u8::is_ascii_digit) {
        let (r, n) = nz_number(i)?;
        part.push(n);
        i = r;
        if i.first() == Some(&b'.') {
            i = &i[1..];
            if !i.first().is_some_and(u8::is_ascii_digit) {
                break;
            }
        } else {
            let (r, ()) = byte(i, b']')?;
            return Ok((r, Section::new(part, None).unwrap_or_default()));
        }
    }
    if i.first() == Some(&b']') {
        if !part.is_empty() {
            // "1.]" is not a section.
            return fail(i, ErrorKind::Char);
        }
        return Ok((&i[1..], Section::whole()));
    }
    let (r, w) = word(i)?;
    let text = match Upper::new(w).as_slice() {
        b"HEADER" => (r, SectionText::Header),
        b"TEXT" => (r, SectionText::Text),
        b"MIME" if !part.is_empty() => (r, SectionText::Mime),
        b"HEADER.FIELDS" => {
            let (r, l) = sp_then(r, |i| paren_list1(i, astring))?;
            (r, SectionText::HeaderFields(l))
        }
        b"HEADER.FIELDS.NOT" => {
            let (r, l) = sp_then(r, |i| paren_list1(i, astring))?;
            (r, SectionText::HeaderFieldsNot(l))
        }
        _ => return fail(i, ErrorKind::Tag),
    };
    let (r, ()) = byte(text.0, b']')?;
    match Section::new(part, Some(text.1)) {
        Ok(s) => Ok((r, s)),
        Err(_) => fail(i, ErrorKind::Verify),
    }
}

/// RFC 4466 §2.5 store modifiers; CONDSTORE's `UNCHANGEDSINCE` (RFC 7162 §3.1.3).
fn store(i: &[u8], uid: bool) -> PResult<'_, CommandBody<'_>> {
    let (i, set) = sp_then(i, sequence_set)?;
    let (i, unchanged_since) = if peek_is(i, b" (").map_err(incomplete)? {
        let (r, _) = tag_no_case(&b" (UNCHANGEDSINCE "[..]).parse(i)?;
        let (r, n) = number64(r)?;
        let (r, ()) = byte(r, b')')?;
        (r, Some(n))
    } else {
        (i, None)
    };
    let (i, ()) = sp(i)?;
    let (i, kind) = match i.first() {
        Some(b'+') => (&i[1..], StoreKind::Add),
        Some(b'-') => (&i[1..], StoreKind::Remove),
        _ => (i, StoreKind::Replace),
    };
    let (i, w) = word(i)?;
    let silent = match Upper::new(w).as_slice() {
        b"FLAGS" => false,
        b"FLAGS.SILENT" => true,
        _ => return fail(i, ErrorKind::Tag),
    };
    let (i, ()) = sp(i)?;
    let (i, flags, flags_list) = if i.first() == Some(&b'(') {
        let (r, f) = flag_list(i)?;
        (r, f, true)
    } else {
        let (r, f) = sp_list1(i, flag)?;
        (r, f.into_vec(), false)
    };
    Ok((
        i,
        CommandBody::Store {
            uid,
            set,
            unchanged_since,
            kind,
            silent,
            flags,
            flags_list,
        },
    ))
}

fn copy_move(i: &[u8], uid: bool, is_move: bool) -> PResult<'_, CommandBody<'_>> {
    let (i, set) = sp_then(i, sequence_set)?;
    let (i, mailbox) = sp_then(i, mailbox)?;
    Ok((
        i,
        if is_move {
            CommandBody::Move { uid, set, mailbox }
        } else {
            CommandBody::Copy { uid, set, mailbox }
        },
    ))
}

/// RFC 2971 §4: `id-params-list = "(" *(string SP nstring) ")" / nil`.
#[allow(clippy::type_complexity)]
pub(crate) fn id_params(
    i: &[u8],
) -> PResult<
    '_,
    Option<
        Vec<(
            crate::types::core::IString<'_>,
            crate::types::core::NString<'_>,
        )>,
    >,
> {
    if i.first() != Some(&b'(') {
        return nil(i).map(|(r, ())| (r, None));
    }
    paren_list(i, |i| {
        let (r, k) = string(i)?;
        let (r, v) = sp_then(r, nstring)?;
        Ok((r, (k, v)))
    })
    .map(|(r, v)| (r, Some(v)))
}

/// Whether `i` starts with `pat` (ASCII case-insensitively); `Incomplete` when `i` is a proper
/// prefix of it, so that a split input never reads as a different command.
pub(crate) fn peek_is(
    i: &[u8],
    pat: &[u8],
) -> Result<bool, nom::Err<nom::error::Error<&'static [u8]>>> {
    if i.len() < pat.len() {
        if pat[..i.len()].eq_ignore_ascii_case(i) {
            return Err(nom::Err::Incomplete(nom::Needed::new(pat.len() - i.len())));
        }
        return Ok(false);
    }
    Ok(i[..pat.len()].eq_ignore_ascii_case(pat))
}
