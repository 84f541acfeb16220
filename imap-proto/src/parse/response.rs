//! Response parsers (RFC 3501 §9 and the extensions' response data); the grammar is quoted in
//! [`crate::types::response`] and [`crate::types::body`].

use std::borrow::Cow;

use nom::Parser;
use nom::bytes::streaming::{tag, tag_no_case};
use nom::error::ErrorKind;

use super::command::{MAX_NESTING, id_params, section};
use super::core::{
    Ahead, PResult, Upper, astring, atom, byte, crlf, date_time, fail, flag, flag_fetch, flag_perm,
    mailbox, nil, nstring, nstring_in, number, number64, nz_number, paren_list, paren_list1, run1,
    sequence_set, sp, sp_list1, string, string_in, tag_, text,
};
use crate::types::body::{
    Address, BodyExtension, BodyFields, BodyParams, BodyStructure, DispositionTail, Envelope,
    Language, LanguageTail, MultiPart, SinglePart, SpecificFields,
};
use crate::types::command::StatusItem;
use crate::types::core::{Atom, Text, Vec1, chars};
use crate::types::quota::QuotaResource;
use crate::types::response::{
    Code, Continue, Data, ESearchItem, ExtValue, FetchItem, ListData, NamespaceDescription,
    Response, StatusKind, StatusResponse,
};
use crate::types::sort::Thread;

#[inline]
fn word(i: &[u8]) -> PResult<'_, &[u8]> {
    run1(i, |b: u8| {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
    })
}

#[inline]
fn sp_then<'a, T>(i: &'a [u8], p: impl FnOnce(&'a [u8]) -> PResult<'a, T>) -> PResult<'a, T> {
    let (i, ()) = sp(i)?;
    p(i)
}

fn ascii(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

/// One response, CRLF included.
pub(crate) fn response(i: &[u8]) -> PResult<'_, Response<'_>> {
    match i.first() {
        None => Err(nom::Err::Incomplete(nom::Needed::new(1))),
        Some(b'+') => {
            let (r, ()) = sp(&i[1..])?;
            let (r, (code, text)) = resp_text(r)?;
            let (r, ()) = crlf(r)?;
            Ok((r, Response::Continue(Continue { code, text })))
        }
        Some(b'*') => {
            let (r, ()) = sp(&i[1..])?;
            let (r, resp) = untagged(r)?;
            let (r, ()) = crlf(r)?;
            Ok((r, resp))
        }
        Some(_) => {
            let (r, t) = tag_(i)?;
            let (r, ()) = sp(r)?;
            let (r, (kind, code, text)) = cond(r)?;
            if !matches!(kind, StatusKind::Ok | StatusKind::No | StatusKind::Bad) {
                return fail(i, ErrorKind::Tag);
            }
            let (r, ()) = crlf(r)?;
            Ok((
                r,
                Response::Status(StatusResponse {
                    tag: Some(t),
                    kind,
                    code,
                    text,
                }),
            ))
        }
    }
}

/// `greeting = "*" SP (resp-cond-auth / resp-cond-bye) CRLF`.
pub(crate) fn greeting(i: &[u8]) -> PResult<'_, StatusResponse<'_>> {
    let (r, resp) = response(i)?;
    match resp {
        Response::Status(s)
            if s.tag.is_none()
                && matches!(
                    s.kind,
                    StatusKind::Ok | StatusKind::PreAuth | StatusKind::Bye
                ) =>
        {
            Ok((r, s))
        }
        _ => fail(i, ErrorKind::Verify),
    }
}

type Cond<'a> = (StatusKind, Option<Code<'a>>, Text<'a>);

fn cond(i: &[u8]) -> PResult<'_, Cond<'_>> {
    let (r, w) = word(i)?;
    let kind = match Upper::new(w).as_slice() {
        b"OK" => StatusKind::Ok,
        b"NO" => StatusKind::No,
        b"BAD" => StatusKind::Bad,
        b"PREAUTH" => StatusKind::PreAuth,
        b"BYE" => StatusKind::Bye,
        _ => return fail(i, ErrorKind::Tag),
    };
    let (r, ()) = sp(r)?;
    let (r, (code, text)) = resp_text(r)?;
    Ok((r, (kind, code, text)))
}

/// `resp-text = ["[" resp-text-code "]" SP] text`; a `[` that opens no valid code is text.
fn resp_text(i: &[u8]) -> PResult<'_, (Option<Code<'_>>, Text<'_>)> {
    if i.first() == Some(&b'[') {
        match code(&i[1..]) {
            Ok((r, c)) => {
                let (r, ()) = byte(r, b']')?;
                // The SP before text; servers that send no text after the code end the line here.
                let r = if r.first() == Some(&b' ') { &r[1..] } else { r };
                let (r, t) = text(r)?;
                return Ok((r, (Some(c), t)));
            }
            Err(nom::Err::Incomplete(n)) => return Err(nom::Err::Incomplete(n)),
            Err(_) => {}
        }
    }
    let (r, t) = text(i)?;
    Ok((r, (None, t)))
}

fn code(i: &[u8]) -> PResult<'_, Code<'_>> {
    let (r, name) = atom(i)?;
    let up = Upper::new(name.as_str().as_bytes());
    let known: PResult<'_, Code<'_>> = match up.as_slice() {
        b"ALERT" => Ok((r, Code::Alert)),
        b"PARSE" => Ok((r, Code::Parse)),
        b"READ-ONLY" => Ok((r, Code::ReadOnly)),
        b"READ-WRITE" => Ok((r, Code::ReadWrite)),
        b"TRYCREATE" => Ok((r, Code::TryCreate)),
        b"UIDNOTSTICKY" => Ok((r, Code::UidNotSticky)),
        b"NOMODSEQ" => Ok((r, Code::NoModSeq)),
        b"CLOSED" => Ok((r, Code::Closed)),
        b"COMPRESSIONACTIVE" => Ok((r, Code::CompressionActive)),
        b"TOOBIG" => Ok((r, Code::TooBig)),
        b"BADCHARSET" => {
            if r.starts_with(b" (") {
                sp_then(r, |i| paren_list1(i, astring)).map(|(r, l)| (r, Code::BadCharset(Some(l))))
            } else {
                Ok((r, Code::BadCharset(None)))
            }
        }
        b"CAPABILITY" => sp_then(r, |i| sp_list1(i, atom)).map(|(r, l)| (r, Code::Capability(l))),
        b"PERMANENTFLAGS" => {
            sp_then(r, |i| paren_list(i, flag_perm)).map(|(r, l)| (r, Code::PermanentFlags(l)))
        }
        b"UIDNEXT" => sp_then(r, nz_number).map(|(r, n)| (r, Code::UidNext(n))),
        b"UIDVALIDITY" => sp_then(r, nz_number).map(|(r, n)| (r, Code::UidValidity(n))),
        b"UNSEEN" => sp_then(r, nz_number).map(|(r, n)| (r, Code::Unseen(n))),
        b"HIGHESTMODSEQ" => sp_then(r, number64).map(|(r, n)| (r, Code::HighestModSeq(n))),
        b"MODIFIED" => sp_then(r, sequence_set).map(|(r, s)| (r, Code::Modified(s))),
        b"APPENDUID" => {
            let (r, uid_validity) = sp_then(r, nz_number)?;
            let (r, uids) = sp_then(r, sequence_set)?;
            Ok((r, Code::AppendUid { uid_validity, uids }))
        }
        b"COPYUID" => {
            let (r, uid_validity) = sp_then(r, nz_number)?;
            let (r, source) = sp_then(r, sequence_set)?;
            let (r, destination) = sp_then(r, sequence_set)?;
            Ok((
                r,
                Code::CopyUid {
                    uid_validity,
                    source,
                    destination,
                },
            ))
        }
        _ => fail(i, ErrorKind::Tag),
    };
    match known {
        Ok((rest, c)) if rest.first() == Some(&b']') => Ok((rest, c)),
        Ok(([], _)) => Err(nom::Err::Incomplete(nom::Needed::new(1))),
        Err(nom::Err::Incomplete(n)) => Err(nom::Err::Incomplete(n)),
        _ => other_code(r, name),
    }
}

/// `atom [SP 1*<any TEXT-CHAR except "]">]`.
fn other_code<'a>(r: &'a [u8], name: Atom<'a>) -> PResult<'a, Code<'a>> {
    if r.first() != Some(&b' ') {
        return Ok((r, Code::Other(name, None)));
    }
    let (r, t) = run1(&r[1..], |b: u8| chars::is_text_char(b) && b != b']')?;
    Ok((r, Code::Other(name, Some(Cow::Borrowed(ascii(t))))))
}

fn untagged(i: &[u8]) -> PResult<'_, Response<'_>> {
    if i.first().is_some_and(u8::is_ascii_digit) {
        let (r, n) = number(i)?;
        let (r, ()) = sp(r)?;
        let (r2, w) = word(r)?;
        let nz = std::num::NonZeroU32::new(n);
        return match (Upper::new(w).as_slice(), nz) {
            (b"EXISTS", _) => Ok((r2, Response::Data(Data::Exists(n)))),
            (b"RECENT", _) => Ok((r2, Response::Data(Data::Recent(n)))),
            (b"EXPUNGE", Some(seq)) => Ok((r2, Response::Data(Data::Expunge(seq)))),
            (b"FETCH", Some(seq)) => {
                let (r, items) = sp_then(r2, msg_att)?;
                Ok((r, Response::Data(Data::Fetch { seq, items })))
            }
            (b"EXPUNGE" | b"FETCH", None) => fail(i, ErrorKind::Verify),
            _ => other_data(i),
        };
    }
    let (r, w) = word(i)?;
    let data = |(r, d)| Ok((r, Response::Data(d)));
    match Upper::new(w).as_slice() {
        b"OK" | b"NO" | b"BAD" | b"PREAUTH" | b"BYE" => {
            let (r, (kind, code, text)) = cond(i)?;
            Ok((
                r,
                Response::Status(StatusResponse {
                    tag: None,
                    kind,
                    code,
                    text,
                }),
            ))
        }
        b"CAPABILITY" => {
            data(sp_then(r, |i| sp_list1(i, atom)).map(|(r, l)| (r, Data::Capability(l)))?)
        }
        b"VANISHED" => {
            // RFC 7162 §7: expunged-resp = "VANISHED" [SP "(EARLIER)"] SP known-uids
            let (r, ()) = sp(r)?;
            let (r, earlier) = if r.first() == Some(&b'(') {
                let (r, _) = tag_no_case(&b"(EARLIER) "[..]).parse(r)?;
                (r, true)
            } else {
                (r, false)
            };
            let (r, uids) = super::command::known_set(r)?;
            data((r, Data::Vanished { earlier, uids }))
        }
        b"LIST" => data(sp_then(r, list_data).map(|(r, l)| (r, Data::List(l)))?),
        b"LSUB" => data(sp_then(r, list_data).map(|(r, l)| (r, Data::Lsub(l)))?),
        b"FLAGS" => data(sp_then(r, |i| paren_list(i, flag)).map(|(r, l)| (r, Data::Flags(l)))?),
        b"STATUS" => {
            let (r, mailbox) = sp_then(r, mailbox)?;
            let (r, items) = sp_then(r, |i| {
                paren_list(i, |i| {
                    let (r, w) = word(i)?;
                    let Some((item, _)) = StatusItem::ALL
                        .iter()
                        .find(|(_, s)| s.as_bytes().eq_ignore_ascii_case(w))
                    else {
                        return fail(i, ErrorKind::Tag);
                    };
                    // RFC 7889 §4: status-att-val =/ "APPENDLIMIT" SP (number / nil)
                    let (r, n) = if *item == StatusItem::AppendLimit
                        && matches!(r.get(1), Some(b'N' | b'n'))
                    {
                        sp_then(r, nil).map(|(r, ())| (r, None))?
                    } else {
                        sp_then(r, number64).map(|(r, n)| (r, Some(n)))?
                    };
                    Ok((r, (*item, n)))
                })
            })?;
            data((r, Data::Status { mailbox, items }))
        }
        b"SEARCH" => {
            let (r, (ids, modseq)) = search_data(r)?;
            data((r, Data::Search { ids, modseq }))
        }
        b"SORT" => {
            // RFC 7162 §7 extends sort-data as it extends mailbox-data's SEARCH.
            let (r, (ids, modseq)) = search_data(r)?;
            data((r, Data::Sort { ids, modseq }))
        }
        b"THREAD" => data(thread_data(r).map(|(r, t)| (r, Data::Thread(t)))?),
        b"ESEARCH" => esearch(r),
        // RFC 9208 §8.
        b"QUOTA" => {
            let (r, root) = sp_then(r, astring)?;
            let (r, resources) = sp_then(r, |i| {
                paren_list1(i, |i| {
                    let (r, name) = atom(i)?;
                    let (r, usage) = sp_then(r, number64)?;
                    let (r, limit) = sp_then(r, number64)?;
                    Ok((r, QuotaResource { name, usage, limit }))
                })
            })?;
            data((r, Data::Quota { root, resources }))
        }
        b"QUOTAROOT" => {
            let (mut r, mailbox) = sp_then(r, mailbox)?;
            let mut roots = Vec::new();
            while r.first() == Some(&b' ') {
                let (r2, root) = astring(&r[1..])?;
                roots.push(root);
                r = r2;
            }
            data((r, Data::QuotaRoot { mailbox, roots }))
        }
        b"ENABLED" => {
            let mut r = r;
            let mut caps = Vec::new();
            while r.first() == Some(&b' ') {
                let (r2, a) = atom(&r[1..])?;
                caps.push(a);
                r = r2;
            }
            data((r, Data::Enabled(caps)))
        }
        b"ID" => data(sp_then(r, id_params).map(|(r, p)| (r, Data::Id(p)))?),
        b"NAMESPACE" => {
            let (r, personal) = sp_then(r, namespace)?;
            let (r, other) = sp_then(r, namespace)?;
            let (r, shared) = sp_then(r, namespace)?;
            data((
                r,
                Data::Namespace {
                    personal,
                    other,
                    shared,
                },
            ))
        }
        _ => other_data(i),
    }
}

/// Untagged data of a kind this crate does not parse: `atom *(SP / any octet but CR and LF /
/// literal)` up to CRLF, kept raw ([`Data::Other`]).
fn other_data(i: &[u8]) -> PResult<'_, Response<'_>> {
    let (r, name) = atom(i)?;
    match r.first() {
        None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
        Some(b' ' | b'\r') => {}
        Some(_) => return fail(r, ErrorKind::Tag),
    }
    let mut pos = 0;
    loop {
        let Some(k) = memchr::memchr2(b'\r', b'\n', &r[pos..]) else {
            return Err(nom::Err::Incomplete(nom::Needed::new(1)));
        };
        let at = pos + k;
        match (r[at], r.get(at + 1)) {
            (b'\r', Some(b'\n')) => {}
            (b'\r', None) => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
            _ => return fail(&r[at..], ErrorKind::Char),
        }
        match literal_header_end(&r[pos..at]) {
            Some(n) => {
                let Some(end) = (at + 2).checked_add(n) else {
                    return fail(&r[at..], ErrorKind::TooLarge);
                };
                if r.len() < end {
                    return Err(nom::Err::Incomplete(nom::Needed::new(end - r.len())));
                }
                pos = end;
            }
            None => {
                let raw = Cow::Borrowed(&r[..at]);
                return Ok((&r[at..], Response::Data(Data::Other { name, raw })));
            }
        }
    }
}

/// The length of a `{n}` or `{n+}` literal header ending `segment`, if it ends in one.
fn literal_header_end(segment: &[u8]) -> Option<usize> {
    let body = segment.strip_suffix(b"}")?;
    let body = body.strip_suffix(b"+").unwrap_or(body);
    let digits = body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || body.len() == digits || body[body.len() - digits - 1] != b'{' {
        return None;
    }
    body[body.len() - digits..]
        .iter()
        .try_fold(0usize, |acc, &d| {
            acc.checked_mul(10)?.checked_add(usize::from(d - b'0'))
        })
}

/// `"SEARCH" *(SP nz-number) [SP "(" "MODSEQ" SP mod-sequence-value ")"]` after the keyword
/// (RFC 3501 §9, RFC 7162 §7); the number loop is hand-rolled, results run to thousands.
#[allow(clippy::type_complexity)]
fn search_data(mut r: &[u8]) -> PResult<'_, (Vec<std::num::NonZeroU32>, Option<u64>)> {
    let mut ids = Vec::with_capacity(r.len() / 4);
    loop {
        match r {
            [b' ', b'(', ..] => {
                let (r2, _) = nom::bytes::streaming::tag_no_case(&b" (MODSEQ "[..]).parse(r)?;
                let (r2, m) = number64(r2)?;
                let (r2, ()) = byte(r2, b')')?;
                return Ok((r2, (ids, Some(m))));
            }
            [b' ', rest @ ..] => {
                let mut n: u64 = 0;
                let mut k = 0;
                while let Some(&d) = rest.get(k) {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    n = n * 10 + u64::from(d - b'0');
                    if n > u64::from(u32::MAX) {
                        return fail(rest, ErrorKind::TooLarge);
                    }
                    k += 1;
                }
                if k == rest.len() {
                    return Err(nom::Err::Incomplete(nom::Needed::new(1)));
                }
                let id = u32::try_from(n).ok().and_then(std::num::NonZeroU32::new);
                match id {
                    Some(id) if k > 0 && rest[0] != b'0' => ids.push(id),
                    _ => return fail(rest, ErrorKind::Digit),
                }
                r = &rest[k..];
            }
            _ => return Ok((r, (ids, None))),
        }
    }
}

/// How deep `thread-nested` lists may nest (each level is a branch; chains are flat).
const MAX_THREAD_NESTING: usize = 256;

/// `thread-data = "THREAD" [SP 1*thread-list]` after the keyword (RFC 5256 §5).
fn thread_data(i: &[u8]) -> PResult<'_, Vec<Thread>> {
    let mut threads = Vec::new();
    if i.first() != Some(&b' ') {
        return Ok((i, threads));
    }
    let mut r = &i[1..];
    loop {
        let (r2, t) = thread_list(r, 0)?;
        threads.push(t);
        r = r2;
        if r.first() != Some(&b'(') {
            return Ok((r, threads));
        }
    }
}

/// ```text
/// thread-list     = "(" (thread-members / thread-nested) ")"
/// thread-members  = nz-number *(SP nz-number) [SP thread-nested]
/// thread-nested   = 2*thread-list
/// ```
/// (RFC 5256 §5.)
fn thread_list(i: &[u8], depth: usize) -> PResult<'_, Thread> {
    if depth > MAX_THREAD_NESTING {
        return Err(nom::Err::Failure(nom::error::Error::new(
            i,
            ErrorKind::TooLarge,
        )));
    }
    let (mut r, ()) = byte(i, b'(')?;
    let mut members = Vec::new();
    // After members, nested lists follow an SP; with none, they start at once.
    let mut nested = r.first() == Some(&b'(');
    if !nested {
        loop {
            let (r2, n) = nz_number(r)?;
            members.push(n);
            r = r2;
            if r.first() != Some(&b' ') {
                break;
            }
            r = &r[1..];
            if r.first() == Some(&b'(') {
                nested = true;
                break;
            }
        }
    }
    let mut children = Vec::new();
    while nested && r.first() == Some(&b'(') {
        let (r2, t) = thread_list(r, depth + 1)?;
        children.push(t);
        r = r2;
    }
    let (r, ()) = byte(r, b')')?;
    match Thread::new(members, children) {
        Ok(t) => Ok((r, t)),
        Err(_) => fail(i, ErrorKind::Verify),
    }
}

/// `DQUOTE QUOTED-CHAR DQUOTE / nil` (a hierarchy delimiter).
fn delimiter(i: &[u8]) -> PResult<'_, Option<u8>> {
    match i.first() {
        Some(b'"') => match (i.get(1), i.get(2), i.get(3)) {
            (Some(b'\\'), Some(&c @ (b'"' | b'\\')), Some(b'"')) => Ok((&i[4..], Some(c))),
            (Some(&c), Some(b'"'), _) if chars::is_text_char(c) && c != b'"' && c != b'\\' => {
                Ok((&i[3..], Some(c)))
            }
            (Some(b'\\'), Some(b'"' | b'\\'), None) | (Some(_), None, _) | (None, _, _) => {
                Err(nom::Err::Incomplete(nom::Needed::new(1)))
            }
            _ => fail(i, ErrorKind::Char),
        },
        _ => nil(i).map(|(r, ())| (r, None)),
    }
}

fn list_data(i: &[u8]) -> PResult<'_, ListData<'_>> {
    let (r, attributes) = paren_list(i, |i| {
        let (r, _) = tag(&b"\\"[..]).parse(i)?;
        atom(r)
    })?;
    let (r, delimiter) = sp_then(r, delimiter)?;
    let (r, mailbox) = sp_then(r, mailbox)?;
    // RFC 5258 §9: mailbox-list =/ ... [SP mbox-list-extended]
    let (r, extended) = if r.first() == Some(&b' ') {
        let (r, items) = sp_then(r, |i| {
            paren_list(i, |i| {
                let (r, name) = astring(i)?;
                let (r, v) = sp_then(r, |i| ext_value(i, 0))?;
                Ok((r, (name, v)))
            })
        })?;
        (r, Some(items))
    } else {
        (r, None)
    };
    Ok((
        r,
        ListData {
            attributes,
            delimiter,
            mailbox,
            extended,
        },
    ))
}

/// `tagged-ext-val` (RFC 4466 §2.1), loosely: tokens, strings and nested lists.
fn ext_value(i: &[u8], depth: usize) -> PResult<'_, ExtValue<'_>> {
    if depth > MAX_NESTING {
        return Err(nom::Err::Failure(nom::error::Error::new(
            i,
            ErrorKind::TooLarge,
        )));
    }
    match i.first() {
        Some(b'(') => {
            paren_list(i, |i| ext_value(i, depth + 1)).map(|(r, l)| (r, ExtValue::List(l)))
        }
        Some(b'"' | b'{') => string(i).map(|(r, s)| (r, ExtValue::String(s))),
        _ => {
            let (r, t) = run1(i, |b: u8| chars::is_astring_char(b) || b == b'*')?;
            Ok((r, ExtValue::Token(Cow::Borrowed(ascii(t)))))
        }
    }
}

/// RFC 4731 §3.1: `esearch-response = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)`.
fn esearch(i: &[u8]) -> PResult<'_, Response<'_>> {
    let mut r = i;
    let mut tag_s = None;
    if r.starts_with(b" (") {
        let (r2, _) = nom::bytes::streaming::tag_no_case(&b" (TAG "[..]).parse(r)?;
        let (r2, s) = string(r2)?;
        let (r2, ()) = byte(r2, b')')?;
        tag_s = Some(s);
        r = r2;
    }
    let mut uid = false;
    if r.len() >= 4
        && r[..4].eq_ignore_ascii_case(b" UID")
        && !r.get(4).is_some_and(u8::is_ascii_alphanumeric)
    {
        if r.len() == 4 {
            return Err(nom::Err::Incomplete(nom::Needed::new(1)));
        }
        uid = true;
        r = &r[4..];
    }
    let mut items = Vec::new();
    while r.first() == Some(&b' ') {
        let (r2, w) = word(&r[1..])?;
        let (r2, item) = match Upper::new(w).as_slice() {
            b"MIN" => sp_then(r2, nz_number).map(|(r, n)| (r, ESearchItem::Min(n)))?,
            b"MAX" => sp_then(r2, nz_number).map(|(r, n)| (r, ESearchItem::Max(n)))?,
            b"ALL" => sp_then(r2, sequence_set).map(|(r, s)| (r, ESearchItem::All(s)))?,
            b"COUNT" => sp_then(r2, number).map(|(r, n)| (r, ESearchItem::Count(n)))?,
            b"MODSEQ" => sp_then(r2, number64).map(|(r, n)| (r, ESearchItem::ModSeq(n)))?,
            _ => return fail(r, ErrorKind::Tag),
        };
        items.push(item);
        r = r2;
    }
    Ok((
        r,
        Response::Data(Data::ESearch {
            tag: tag_s,
            uid,
            items,
        }),
    ))
}

/// RFC 2342 §5: `Namespace = nil / "(" 1*( "(" string SP (<"> QUOTED_CHAR <"> / nil)
/// *(Namespace_Response_Extension) ")" ) ")"`,
/// `Namespace_Response_Extension = SP string SP "(" string *(SP string) ")"`.
fn namespace(i: &[u8]) -> PResult<'_, Option<Vec1<NamespaceDescription<'_>>>> {
    if i.first() != Some(&b'(') {
        return nil(i).map(|(r, ())| (r, None));
    }
    let mut r = &i[1..];
    let mut out = Vec::new();
    loop {
        let (r2, ()) = byte(r, b'(')?;
        let (r2, prefix) = string(r2)?;
        let (mut r2, delimiter) = sp_then(r2, delimiter)?;
        let mut extensions = Vec::new();
        while r2.first() == Some(&b' ') {
            let (r3, name) = sp_then(r2, string)?;
            let (r3, values) = sp_then(r3, |i| paren_list1(i, string))?;
            extensions.push((name, values));
            r2 = r3;
        }
        let (r2, ()) = byte(r2, b')')?;
        out.push(NamespaceDescription {
            prefix,
            delimiter,
            extensions,
        });
        r = r2;
        match r.first() {
            Some(b'(') => {}
            Some(b')') => return Ok((&r[1..], Some(Vec1::unvalidated(out)))),
            Some(_) => return fail(r, ErrorKind::Char),
            None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
        }
    }
}

/// `msg-att = "(" (msg-att-dynamic / msg-att-static) *(SP ...) ")"`.
pub(crate) fn msg_att(i: &[u8]) -> PResult<'_, Vec1<FetchItem<'_>>> {
    paren_list1(i, fetch_item)
}

fn fetch_item(i: &[u8]) -> PResult<'_, FetchItem<'_>> {
    let (r, w) = word(i)?;
    match Upper::new(w).as_slice() {
        b"FLAGS" => {
            sp_then(r, |i| paren_list(i, flag_fetch)).map(|(r, f)| (r, FetchItem::Flags(f)))
        }
        b"ENVELOPE" => sp_then(r, |i| envelope(i, Ahead::new(i)))
            .map(|(r, e)| (r, FetchItem::Envelope(Box::new(e)))),
        b"INTERNALDATE" => sp_then(r, date_time).map(|(r, d)| (r, FetchItem::InternalDate(d))),
        b"RFC822" => sp_then(r, nstring).map(|(r, s)| (r, FetchItem::Rfc822(s))),
        b"RFC822.HEADER" => sp_then(r, nstring).map(|(r, s)| (r, FetchItem::Rfc822Header(s))),
        b"RFC822.TEXT" => sp_then(r, nstring).map(|(r, s)| (r, FetchItem::Rfc822Text(s))),
        b"RFC822.SIZE" => sp_then(r, number).map(|(r, n)| (r, FetchItem::Rfc822Size(n))),
        b"BODYSTRUCTURE" => sp_then(r, |i| body(i, 0, Ahead::new(i)))
            .map(|(r, b)| (r, FetchItem::BodyStructure(Box::new(b)))),
        b"UID" => sp_then(r, nz_number).map(|(r, n)| (r, FetchItem::Uid(n))),
        b"MODSEQ" => {
            // RFC 7162 §7: fetch-mod-resp = "MODSEQ" SP "(" permsg-modsequence ")"
            let (r, _) = tag(&b" ("[..]).parse(r)?;
            let (r, n) = number64(r)?;
            let (r, ()) = byte(r, b')')?;
            Ok((r, FetchItem::ModSeq(n)))
        }
        b"BODY" => match r.first() {
            Some(b'[') => {
                let (r, section) = section(r)?;
                let (r, origin) = if r.first() == Some(&b'<') {
                    let (r, n) = number(&r[1..])?;
                    let (r, ()) = byte(r, b'>')?;
                    (r, Some(n))
                } else {
                    (r, None)
                };
                let (r, data) = sp_then(r, nstring)?;
                Ok((
                    r,
                    FetchItem::BodySection {
                        section,
                        origin,
                        data,
                    },
                ))
            }
            _ => sp_then(r, |i| body(i, 0, Ahead::new(i)))
                .map(|(r, b)| (r, FetchItem::Body(Box::new(b)))),
        },
        b"BINARY" => {
            let (r, section) = crate::parse::command::section_binary(r)?;
            let (r, origin) = if r.first() == Some(&b'<') {
                let (r, n) = number(&r[1..])?;
                let (r, ()) = byte(r, b'>')?;
                (r, Some(n))
            } else {
                (r, None)
            };
            let (r, ()) = sp(r)?;
            let literal8 = r.first() == Some(&b'~');
            let (r, data) = binary_data(r)?;
            Ok((
                r,
                FetchItem::Binary {
                    section,
                    origin,
                    data,
                    literal8,
                },
            ))
        }
        b"BINARY.SIZE" => {
            let (r, section) = crate::parse::command::section_binary(r)?;
            let (r, size) = sp_then(r, number)?;
            Ok((r, FetchItem::BinarySize { section, size }))
        }
        _ => fail(i, ErrorKind::Tag),
    }
}

/// `nstring / literal8`, `literal8 = "~{" number "}" CRLF *OCTET` (RFC 3516 §4.2).
fn binary_data(i: &[u8]) -> PResult<'_, Option<std::borrow::Cow<'_, [u8]>>> {
    if i.first() == Some(&b'~') {
        let (r, (n, mode)) = crate::parse::core::literal_header(&i[1..])?;
        if mode == crate::types::core::LiteralMode::NonSync {
            return fail(i, ErrorKind::Char);
        }
        let (r, data) = nom::bytes::streaming::take(n as usize).parse(r)?;
        return Ok((r, Some(std::borrow::Cow::Borrowed(data))));
    }
    let (r, s) = nstring(i)?;
    Ok((
        r,
        s.0.map(|s| std::borrow::Cow::Owned(s.as_bytes().to_vec())),
    ))
}

fn address<'a>(i: &'a [u8], a: Ahead<'a>) -> PResult<'a, Address<'a>> {
    let (r, ()) = byte(i, b'(')?;
    let (r, name) = nstring_in(r, a)?;
    let (r, adl) = sp_then(r, |i| nstring_in(i, a))?;
    let (r, mailbox) = sp_then(r, |i| nstring_in(i, a))?;
    let (r, host) = sp_then(r, |i| nstring_in(i, a))?;
    let (r, ()) = byte(r, b')')?;
    Ok((
        r,
        Address {
            name,
            adl,
            mailbox,
            host,
        },
    ))
}

/// `"(" 1*address ")" / nil`.
fn address_list<'a>(i: &'a [u8], a: Ahead<'a>) -> PResult<'a, Option<Vec1<Address<'a>>>> {
    if i.first() != Some(&b'(') {
        return nil(i).map(|(r, ())| (r, None));
    }
    let mut r = &i[1..];
    let mut out = Vec::new();
    loop {
        let (r2, a) = address(r, a)?;
        out.push(a);
        r = r2;
        match r.first() {
            Some(b'(') => {}
            Some(b')') => return Ok((&r[1..], Some(Vec1::unvalidated(out)))),
            Some(_) => return fail(r, ErrorKind::Char),
            None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
        }
    }
}

pub(crate) fn envelope<'a>(i: &'a [u8], a: Ahead<'a>) -> PResult<'a, Envelope<'a>> {
    let (r, ()) = byte(i, b'(')?;
    let (r, date) = nstring_in(r, a)?;
    let (r, subject) = sp_then(r, |i| nstring_in(i, a))?;
    let (r, from) = sp_then(r, |i| address_list(i, a))?;
    let (r, sender) = sp_then(r, |i| address_list(i, a))?;
    let (r, reply_to) = sp_then(r, |i| address_list(i, a))?;
    let (r, to) = sp_then(r, |i| address_list(i, a))?;
    let (r, cc) = sp_then(r, |i| address_list(i, a))?;
    let (r, bcc) = sp_then(r, |i| address_list(i, a))?;
    let (r, in_reply_to) = sp_then(r, |i| nstring_in(i, a))?;
    let (r, message_id) = sp_then(r, |i| nstring_in(i, a))?;
    let (r, ()) = byte(r, b')')?;
    Ok((
        r,
        Envelope {
            date,
            subject,
            from,
            sender,
            reply_to,
            to,
            cc,
            bcc,
            in_reply_to,
            message_id,
        },
    ))
}

fn body_params<'a>(i: &'a [u8], a: Ahead<'a>) -> PResult<'a, BodyParams<'a>> {
    if i.first() != Some(&b'(') {
        return nil(i).map(|(r, ())| (r, None));
    }
    paren_list1(i, |i| {
        let (r, k) = string_in(i, a)?;
        let (r, v) = sp_then(r, |i| string_in(i, a))?;
        Ok((r, (k, v)))
    })
    .map(|(r, l)| (r, Some(l)))
}

fn body_fields<'a>(i: &'a [u8], a: Ahead<'a>) -> PResult<'a, BodyFields<'a>> {
    let (r, parameters) = body_params(i, a)?;
    let (r, id) = sp_then(r, |i| nstring_in(i, a))?;
    let (r, description) = sp_then(r, |i| nstring_in(i, a))?;
    let (r, encoding) = sp_then(r, |i| string_in(i, a))?;
    let (r, octets) = sp_then(r, number)?;
    Ok((
        r,
        BodyFields {
            parameters,
            id,
            description,
            encoding,
            octets,
        },
    ))
}

fn body_extension<'a>(i: &'a [u8], depth: usize, a: Ahead<'a>) -> PResult<'a, BodyExtension<'a>> {
    if depth > MAX_NESTING {
        return Err(nom::Err::Failure(nom::error::Error::new(
            i,
            ErrorKind::TooLarge,
        )));
    }
    match i.first() {
        Some(b'(') => paren_list1(i, |i| body_extension(i, depth + 1, a))
            .map(|(r, l)| (r, BodyExtension::List(l))),
        Some(b'0'..=b'9') => number(i).map(|(r, n)| (r, BodyExtension::Number(n))),
        _ => nstring_in(i, a).map(|(r, s)| (r, BodyExtension::NString(s))),
    }
}

/// `[SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]`.
fn disposition_tail<'a>(
    i: &'a [u8],
    depth: usize,
    a: Ahead<'a>,
) -> PResult<'a, Option<DispositionTail<'a>>> {
    if i.first() != Some(&b' ') {
        return Ok((i, None));
    }
    let (r, disposition) = sp_then(i, |i| {
        if i.first() != Some(&b'(') {
            return nil(i).map(|(r, ())| (r, None));
        }
        let (r, ()) = byte(i, b'(')?;
        let (r, t) = string_in(r, a)?;
        let (r, p) = sp_then(r, |i| body_params(i, a))?;
        let (r, ()) = byte(r, b')')?;
        Ok((r, Some((t, p))))
    })?;
    if r.first() != Some(&b' ') {
        return Ok((
            r,
            Some(DispositionTail {
                disposition,
                language: None,
            }),
        ));
    }
    let (r, language) = sp_then(r, |i| {
        if i.first() == Some(&b'(') {
            paren_list1(i, |i| string_in(i, a)).map(|(r, l)| (r, Language::List(l)))
        } else {
            nstring_in(i, a).map(|(r, s)| (r, Language::Single(s)))
        }
    })?;
    if r.first() != Some(&b' ') {
        return Ok((
            r,
            Some(DispositionTail {
                disposition,
                language: Some(LanguageTail {
                    language,
                    location: None,
                }),
            }),
        ));
    }
    let (mut r, location) = sp_then(r, |i| nstring_in(i, a))?;
    let mut ext = Vec::new();
    while r.first() == Some(&b' ') {
        let (r2, e) = sp_then(r, |i| body_extension(i, depth + 1, a))?;
        ext.push(e);
        r = r2;
    }
    Ok((
        r,
        Some(DispositionTail {
            disposition,
            language: Some(LanguageTail {
                language,
                location: Some((location, ext)),
            }),
        }),
    ))
}

/// `body = "(" (body-type-1part / body-type-mpart) ")"`.
pub(crate) fn body<'a>(i: &'a [u8], depth: usize, a: Ahead<'a>) -> PResult<'a, BodyStructure<'a>> {
    if depth > MAX_NESTING {
        return Err(nom::Err::Failure(nom::error::Error::new(
            i,
            ErrorKind::TooLarge,
        )));
    }
    let (r, ()) = byte(i, b'(')?;
    if r.first() == Some(&b'(') {
        let mut r = r;
        let mut parts = Vec::new();
        while r.first() == Some(&b'(') {
            let (r2, b) = body(r, depth + 1, a)?;
            parts.push(b);
            r = r2;
        }
        let (r, subtype) = sp_then(r, |i| string_in(i, a))?;
        let (r, extension) = if r.first() == Some(&b' ') {
            let (r, params) = sp_then(r, |i| body_params(i, a))?;
            let (r, tail) = disposition_tail(r, depth, a)?;
            (r, Some((params, tail)))
        } else {
            (r, None)
        };
        let (r, ()) = byte(r, b')')?;
        return Ok((
            r,
            BodyStructure::Multi(MultiPart {
                parts: Vec1::unvalidated(parts),
                subtype,
                extension,
            }),
        ));
    }
    let (r, media_type) = string_in(r, a)?;
    let (r, subtype) = sp_then(r, |i| string_in(i, a))?;
    let (r, fields) = sp_then(r, |i| body_fields(i, a))?;
    let t = media_type.as_bytes();
    let (r, specific) = if t.eq_ignore_ascii_case(b"TEXT") {
        let (r, lines) = sp_then(r, number)?;
        (r, SpecificFields::Text { lines })
    } else if t.eq_ignore_ascii_case(b"MESSAGE")
        && subtype.as_bytes().eq_ignore_ascii_case(b"RFC822")
    {
        let (r, envelope) = sp_then(r, |i| envelope(i, a))?;
        let (r, b) = sp_then(r, |i| body(i, depth + 1, a))?;
        let (r, lines) = sp_then(r, number)?;
        (
            r,
            SpecificFields::Message {
                envelope: Box::new(envelope),
                body: Box::new(b),
                lines,
            },
        )
    } else {
        (r, SpecificFields::Basic)
    };
    let (r, extension) = if r.first() == Some(&b' ') {
        let (r, md5) = sp_then(r, |i| nstring_in(i, a))?;
        let (r, tail) = disposition_tail(r, depth, a)?;
        (r, Some((md5, tail)))
    } else {
        (r, None)
    };
    let (r, ()) = byte(r, b')')?;
    Ok((
        r,
        BodyStructure::Single(SinglePart {
            media_type,
            subtype,
            fields,
            specific,
            extension,
        }),
    ))
}
