//! FETCH and UID FETCH (RFC 3501 §6.4.5, §7.4.2).
//!
//! A store may keep messages with LF line ends; FETCH presents the CRLF text (RFC 3501 §2.3.4:
//! sizes are of the message as IMAP presents it), so RFC822.SIZE is the store's size of the
//! CRLF text, or the length of the text read.
//! ENVELOPE, BODY and BODYSTRUCTURE come from the store's index when the FETCH needs no other
//! text (a [`Summary`] made by the same parser, so the answer is the same), and every section
//! comes from imap-proto's
//! [`structure`](mailwright_imap_proto::structure) parser, which answers as Dovecot 2.3 does.
//! A section that does not exist is an empty string (Dovecot's answer); a NUL octet, which no
//! IMAP literal may hold, is sent as 0x80 (Dovecot's answer too), so every literal has the size
//! RFC822.SIZE and BODYSTRUCTURE advertise. BINARY (RFC 3516) sends decoded content with its
//! NUL octets, as literal8.

use std::io::Read;
use std::num::NonZeroU32;
use std::time::UNIX_EPOCH;

use super::selected::{Selected, nz};
use crate::store::summary::Summary;
use crate::store::{Flag, FlagOp, Flags, SelectedMailbox};
use mailwright_imap_proto::structure::{Message, Part};
use mailwright_imap_proto::types::command::{FetchAttribute, Section, SectionText};
use mailwright_imap_proto::types::datetime::DateTime;
use mailwright_imap_proto::types::response::{Data, FetchItem, Response};
use mailwright_imap_proto::{AString, IString, IntoStatic, Literal, LiteralMode, NString, Vec1};

/// A message read from the store, as IMAP presents it.
pub(crate) struct Loaded {
    /// The CRLF text.
    pub(crate) text: Vec<u8>,
    /// The INTERNALDATE in seconds.
    pub(crate) internal: i64,
}

/// Opens a message for a session that still shows it, also when another session expunged it
/// meanwhile (the store keeps it readable for a while, RFC 2180 §4.1); `None` when it is gone.
pub(crate) fn open(mailbox: &dyn SelectedMailbox, uid: u32) -> Option<crate::store::MessageText> {
    match mailbox.open(uid) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("imap: reading message UID {uid}: {e}");
            None
        }
    }
}

/// Reads a message (see [`open`]); `None` if it is gone.
pub(crate) fn load(mailbox: &dyn SelectedMailbox, uid: u32) -> Option<Loaded> {
    let mut message = open(mailbox, uid)?;
    let mut raw = Vec::new();
    message.text.read_to_end(&mut raw).ok()?;
    Some(Loaded {
        text: to_crlf(&raw),
        internal: unix_secs(message.internal_date),
    })
}

fn unix_secs(t: std::time::SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The INTERNALDATE of a message without reading it; `None` when it is gone.
pub(crate) fn internal_date(mailbox: &dyn SelectedMailbox, uid: u32) -> Option<i64> {
    match mailbox.internal_date(uid) {
        Ok(t) => t.map(unix_secs),
        Err(e) => {
            tracing::warn!("imap: reading message UID {uid}: {e}");
            None
        }
    }
}

/// The INTERNALDATE and RFC822.SIZE of a message: the store's size, or else the summary's;
/// `None` when it is gone.
fn meta(sel: &Selected, i: usize) -> Option<(i64, u64)> {
    let m = &sel.msgs[i];
    let internal = internal_date(&*sel.mailbox, m.uid)?;
    let size = match m.size {
        Some(v) => v,
        None => match summary_blob(&*sel.mailbox, m.uid) {
            Some(blob) => Summary::header_of(&blob)?.0,
            None => load(&*sel.mailbox, m.uid)?.text.len() as u64,
        },
    };
    Some((internal, size))
}

/// A message's encoded [`Summary`]: the store's index's, or else the message is read and
/// summarised, and the summary handed to the store to keep. `None` when it is gone, or when
/// it has no summary (a header over the limit): then the caller reads it.
pub(crate) fn summary_blob(mailbox: &dyn SelectedMailbox, uid: u32) -> Option<Vec<u8>> {
    match mailbox.cached(uid) {
        Ok(Some(crate::store::summary::Cached {
            summary: Some(blob),
            ..
        })) if Summary::header_of(&blob).is_some() => return Some(blob),
        Ok(_) => {}
        Err(e) => tracing::warn!("imap: reading the index for UID {uid}: {e}"),
    }
    #[cfg(test)]
    SUMMARISED.with(|c| c.set(c.get() + 1));
    let loaded = load(mailbox, uid)?;
    let blob = Summary::of(&Message::parse(&loaded.text))?.encode();
    if let Err(e) = mailbox.keep_summary(uid, &blob) {
        tracing::warn!("imap: indexing UID {uid}: {e}");
    }
    Some(blob)
}

#[cfg(test)]
thread_local! {
    /// Messages read to be summarised, on this thread.
    pub(crate) static SUMMARISED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A message's INTERNALDATE and decoded summary ([`summary_blob`]).
fn summarised(mailbox: &dyn SelectedMailbox, uid: u32) -> Option<(i64, Summary)> {
    let summary = Summary::decode(&summary_blob(mailbox, uid)?)?;
    Some((internal_date(mailbox, uid)?, summary))
}

/// A stored message (LF line ends, possibly mixed) as the CRLF text IMAP presents.
pub(crate) fn to_crlf(stored: &[u8]) -> Vec<u8> {
    crate::store::summary::to_crlf(stored)
}

/// A literal of `data`; NUL octets (not `CHAR8`, RFC 3501 §9) become 0x80 as Dovecot sends them.
fn literal(mut data: Vec<u8>) -> NString<'static> {
    for b in &mut data {
        if *b == 0 {
            *b = 0x80;
        }
    }
    NString(Some(IString::Literal(
        Literal::new(data, LiteralMode::Sync).unwrap_or_else(|_| {
            Literal::new(Vec::new(), LiteralMode::Sync).expect("empty literal")
        }),
    )))
}

/// Whether an attribute needs the message text.
pub(crate) fn needs_text(a: &FetchAttribute<'_>) -> bool {
    !matches!(
        a,
        FetchAttribute::Flags
            | FetchAttribute::Uid
            | FetchAttribute::InternalDate
            | FetchAttribute::Rfc822Size
            | FetchAttribute::ModSeq
    )
}

/// Whether an attribute sets `\Seen` (RFC 3501 §6.4.5: BODY[...] without PEEK, RFC822,
/// RFC822.TEXT; RFC 3516 §4.1: BINARY[...] without PEEK).
fn sets_seen(a: &FetchAttribute<'_>) -> bool {
    matches!(
        a,
        FetchAttribute::Rfc822
            | FetchAttribute::Rfc822Text
            | FetchAttribute::BodySection { peek: false, .. }
            | FetchAttribute::Binary { peek: false, .. }
    )
}

/// A part whose Content-Transfer-Encoding the server cannot undo (RFC 3516 §4.3 `UNKNOWN-CTE`).
pub(crate) struct UnknownCte;

/// `BINARY[section]` (RFC 3516 §4.2) as Dovecot 2.3 gives it: the part's content with its
/// Content-Transfer-Encoding undone, NUL octets kept; in a multipart, a `message/rfc822` part
/// or the whole message (`BINARY[]`) every base64 or quoted-printable part inside is decoded
/// too and its header says `Content-Transfer-Encoding: binary` (moved to the header's end). A
/// part that does not exist is empty, as its `BODY[section]` is. Returns the octets and whether
/// anything was decoded (Dovecot then sends literal8).
fn binary(m: &Message<'_>, section: &[NonZeroU32]) -> Result<(Vec<u8>, bool), UnknownCte> {
    let data = m.data();
    let mut out = Vec::new();
    if section.is_empty() {
        let decoded = decode_entity(data, m.root(), &mut out)?;
        return Ok((out, decoded));
    }
    let Some(part) = mailwright_imap_proto::structure::section::find(m.root(), section) else {
        return Ok((Vec::new(), false));
    };
    let decoded = decode_body(data, part, &mut out)?;
    Ok((out, decoded))
}

/// A part's Content-Transfer-Encoding token, lowercased (`None` without the field).
fn cte(data: &[u8], part: &Part) -> Option<String> {
    mailwright_imap_proto::structure::fields(&data[part.header()])
        .find(|f| f.name.eq_ignore_ascii_case(b"Content-Transfer-Encoding"))
        .map(|f| {
            String::from_utf8_lossy(f.value)
                .split(|c: char| c.is_ascii_whitespace() || c == '(' || c == ';')
                .find(|t| !t.is_empty())
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
}

/// Whether a leaf part's encoding is undone: `Some(true)` for base64 and quoted-printable,
/// `Some(false)` for the identity encodings.
fn decodes(data: &[u8], part: &Part) -> Result<bool, UnknownCte> {
    if part.is_multipart() || part.is_message() {
        return Ok(false);
    }
    match cte(data, part).as_deref() {
        None | Some("" | "7bit" | "8bit" | "binary") => Ok(false),
        Some("base64" | "quoted-printable") => Ok(true),
        Some(_) => Err(UnknownCte),
    }
}

/// A part's header and body, decoded ([`decode_body`]); a decoded leaf's header has its
/// Content-Transfer-Encoding field replaced by `binary` at the end of the header.
fn decode_entity(data: &[u8], part: &Part, out: &mut Vec<u8>) -> Result<bool, UnknownCte> {
    let header = part.header();
    if decodes(data, part)? {
        let block = &data[header.clone()];
        // Everything but the field is kept as it is (lines that are not fields too).
        let mut pos = 0;
        for f in mailwright_imap_proto::structure::fields(block) {
            if f.name.eq_ignore_ascii_case(b"Content-Transfer-Encoding") {
                let start = (f.raw.as_ptr() as usize).saturating_sub(block.as_ptr() as usize);
                out.extend_from_slice(&block[pos..start.max(pos)]);
                pos = (start + f.raw.len()).max(pos);
            }
        }
        let end = eoh_start(block).max(pos);
        out.extend_from_slice(&block[pos..end]);
        out.extend_from_slice(b"Content-Transfer-Encoding: binary\r\n");
        out.extend_from_slice(&block[end..]);
    } else {
        out.extend_from_slice(&data[header]);
    }
    let inner = decode_body(data, part, out)?;
    Ok(inner || decodes(data, part)?)
}

/// Where the empty line that ends a header block starts (its length when there is none).
fn eoh_start(block: &[u8]) -> usize {
    if block.ends_with(b"\r\n\r\n") {
        block.len() - 2
    } else if block == b"\r\n" {
        0
    } else {
        block.len()
    }
}

/// A part's body with its encoding undone; a multipart or `message/rfc822` body as it is, with
/// the parts inside decoded.
fn decode_body(data: &[u8], part: &Part, out: &mut Vec<u8>) -> Result<bool, UnknownCte> {
    let body = part.body();
    if part.is_multipart() || part.is_message() {
        let mut pos = body.start;
        let mut decoded = false;
        for child in part.children() {
            let whole = child.whole();
            out.extend_from_slice(&data[pos..whole.start.max(pos)]);
            decoded |= decode_entity(data, child, out)?;
            pos = whole.end.max(pos);
        }
        out.extend_from_slice(&data[pos.min(body.end)..body.end]);
        return Ok(decoded);
    }
    let raw = &data[body];
    match cte(data, part).as_deref() {
        Some("base64") => out.extend_from_slice(&super::mime::base64(raw)),
        Some("quoted-printable") => {
            out.extend_from_slice(&super::mime::quoted_printable(raw, false));
        }
        None | Some("" | "7bit" | "8bit" | "binary") => {
            out.extend_from_slice(raw);
            return Ok(false);
        }
        Some(_) => return Err(UnknownCte),
    }
    Ok(true)
}

/// Answers FETCH for the messages at `idx`; returns how many were gone from the store (answered
/// as [`gone_response`] says).
#[allow(clippy::too_many_lines)]
pub(crate) fn fetch(
    sel: &mut Selected,
    idx: &[usize],
    attrs: &[FetchAttribute<'_>],
    uid_cmd: bool,
    out: &mut Vec<Response<'static>>,
) -> super::messages::FetchTally {
    let mut tally = super::messages::FetchTally::default();
    let mut unreported = false;
    let mut attrs: Vec<FetchAttribute<'_>> = attrs.to_vec();
    if uid_cmd && !attrs.contains(&FetchAttribute::Uid) {
        // RFC 3501 §6.4.8: UID FETCH always returns the UID.
        attrs.insert(0, FetchAttribute::Uid);
    }
    let text_needed = attrs.iter().any(needs_text);
    let meta_needed = attrs
        .iter()
        .any(|a| matches!(a, FetchAttribute::InternalDate | FetchAttribute::Rfc822Size));
    let seen_wanted = !sel.read_only && attrs.iter().any(sets_seen);
    let parse_needed = attrs.iter().any(|a| {
        matches!(
            a,
            FetchAttribute::Envelope
                | FetchAttribute::Body
                | FetchAttribute::BodyStructure
                | FetchAttribute::BodySection { .. }
                | FetchAttribute::Rfc822Header
                | FetchAttribute::Rfc822Text
                | FetchAttribute::Binary { .. }
                | FetchAttribute::BinarySize { .. }
        )
    });
    // ENVELOPE, BODY and BODYSTRUCTURE come from the store's index when nothing else needs the
    // text.
    let from_summary = text_needed
        && attrs.iter().all(|a| {
            !needs_text(a)
                || matches!(
                    a,
                    FetchAttribute::Envelope | FetchAttribute::Body | FetchAttribute::BodyStructure
                )
        });
    for &i in idx {
        let uid = sel.msgs[i].uid;
        let summary = if from_summary {
            summarised(&*sel.mailbox, uid)
        } else {
            None
        };
        let found = if let Some((internal, s)) = &summary {
            Some((None, *internal, s.vsize))
        } else if text_needed {
            load(&*sel.mailbox, uid).map(|l| {
                let (internal, size) = (l.internal, l.text.len() as u64);
                (Some(l), internal, size)
            })
        } else if meta_needed {
            meta(sel, i).map(|(internal, size)| (None, internal, size))
        } else {
            Some((None, 0, 0))
        };
        let Some((loaded, internal, vsize)) = found else {
            tally.gone += 1;
            out.push(gone_response(sel, i, &attrs));
            continue;
        };
        let before = sel.highest_modseq;
        let flags_changed =
            seen_wanted && !sel.msgs[i].flags.contains(Flag::Seen) && mark_seen(sel, i);
        if flags_changed {
            let after = sel.highest_modseq;
            unreported |= sel.own_changes(before, after, 1);
        }
        let parsed = loaded
            .as_ref()
            .filter(|_| parse_needed)
            .map(|l| Message::parse(&l.text));
        let mut items: Vec<FetchItem<'static>> = Vec::with_capacity(attrs.len() + 2);
        if flags_changed && !attrs.contains(&FetchAttribute::Flags) {
            // RFC 3501 §6.4.5: the \Seen change is reported with the FETCH (first, as Dovecot
            // puts it).
            items.push(FetchItem::Flags(sel.flags_of(i)));
        }
        for a in &attrs {
            let item = match a {
                FetchAttribute::Flags => FetchItem::Flags(sel.flags_of(i)),
                FetchAttribute::Uid => FetchItem::Uid(nz(sel.msgs[i].uid as usize)),
                FetchAttribute::ModSeq => FetchItem::ModSeq(sel.msgs[i].modseq),
                FetchAttribute::InternalDate => FetchItem::InternalDate(date(internal)),
                FetchAttribute::Rfc822Size => {
                    FetchItem::Rfc822Size(u32::try_from(vsize).unwrap_or(u32::MAX))
                }
                FetchAttribute::Envelope => {
                    if let Some((_, s)) = &summary {
                        FetchItem::Envelope(Box::new(
                            mailwright_imap_proto::structure::envelope::envelope(&s.header),
                        ))
                    } else {
                        let Some(m) = &parsed else { continue };
                        FetchItem::Envelope(Box::new(m.envelope()))
                    }
                }
                FetchAttribute::Rfc822 => {
                    let Some(l) = &loaded else { continue };
                    FetchItem::Rfc822(literal(l.text.clone()))
                }
                FetchAttribute::Rfc822Header | FetchAttribute::Rfc822Text => {
                    let Some(m) = &parsed else { continue };
                    // RFC 3501 §6.4.5: RFC822.HEADER is BODY.PEEK[HEADER], RFC822.TEXT BODY[TEXT].
                    if matches!(a, FetchAttribute::Rfc822Header) {
                        FetchItem::Rfc822Header(literal(m.data()[m.root().header()].to_vec()))
                    } else {
                        FetchItem::Rfc822Text(literal(m.data()[m.root().body()].to_vec()))
                    }
                }
                FetchAttribute::Body | FetchAttribute::BodyStructure => {
                    let extended = matches!(a, FetchAttribute::BodyStructure);
                    let s = if let Some((_, sum)) = &summary {
                        Box::new(if extended {
                            sum.body_structure.clone()
                        } else {
                            sum.body.clone()
                        })
                    } else {
                        let Some(m) = &parsed else { continue };
                        Box::new(m.body_structure(extended))
                    };
                    if extended {
                        FetchItem::BodyStructure(s)
                    } else {
                        FetchItem::Body(s)
                    }
                }
                FetchAttribute::BodySection {
                    section, partial, ..
                } => {
                    let Some(m) = &parsed else { continue };
                    let data = m
                        .section(section)
                        .map(|c| c.to_imap_bytes(m.data()))
                        .unwrap_or_default();
                    let (origin, data) = match partial {
                        Some((start, len)) => (Some(*start), cut(&data, *start, *len)),
                        None => (None, data),
                    };
                    FetchItem::BodySection {
                        section: echo_section(section),
                        origin,
                        data: literal(data),
                    }
                }
                FetchAttribute::Binary {
                    section, partial, ..
                } => {
                    let Some(m) = &parsed else { continue };
                    let Ok((data, literal8)) = binary(m, section) else {
                        tally.unknown_cte = true;
                        continue;
                    };
                    let (origin, data) = match partial {
                        Some((start, len)) => (Some(*start), cut(&data, *start, *len)),
                        None => (None, data),
                    };
                    FetchItem::Binary {
                        section: section.clone(),
                        origin,
                        data: Some(data.into()),
                        literal8,
                    }
                }
                FetchAttribute::BinarySize { section } => {
                    let Some(m) = &parsed else { continue };
                    let Ok((data, _)) = binary(m, section) else {
                        tally.unknown_cte = true;
                        continue;
                    };
                    FetchItem::BinarySize {
                        section: section.clone(),
                        size: u32::try_from(data.len()).unwrap_or(u32::MAX),
                    }
                }
                _ => continue,
            };
            items.push(item);
        }
        if flags_changed && sel.condstore {
            // RFC 7162 §3.1: once CONDSTORE is on, a FETCH response that reports a flag change
            // carries the UID and the MODSEQ after the change.
            if !attrs.contains(&FetchAttribute::Uid) {
                items.push(FetchItem::Uid(nz(sel.msgs[i].uid as usize)));
            }
            if !attrs.contains(&FetchAttribute::ModSeq) {
                items.push(FetchItem::ModSeq(sel.msgs[i].modseq));
            }
        }
        if let Ok(items) = Vec1::try_from(items) {
            out.push(Response::Data(Data::Fetch {
                seq: nz(i + 1),
                items,
            }));
        }
    }
    if unreported {
        sel.report_unreported(out);
    }
    tally
}

/// Sets `\Seen` on message `i` for a FETCH of its text (RFC 3501 §6.4.5), through the store's
/// STORE so the change gets its MODSEQ. Whether the flag was set.
fn mark_seen(sel: &mut Selected, i: usize) -> bool {
    let uid = sel.msgs[i].uid;
    let seen = Flags::empty().with(Flag::Seen);
    match sel.mailbox.store(&[uid], FlagOp::Add, seen, &[], None) {
        Ok(result) => {
            sel.highest_modseq = sel.highest_modseq.max(result.highest_modseq);
            // (The store may know of other changes: only this message is taken.)
            sel.update(&[i], &result.messages);
            sel.msgs[i].flags.contains(Flag::Seen)
        }
        Err(e) => {
            tracing::warn!("imap: setting \\Seen on UID {uid}: {e}");
            false
        }
    }
}

fn date(secs: i64) -> DateTime {
    DateTime::from_unix_timestamp(secs)
        .unwrap_or_else(|_| DateTime::from_unix_timestamp(0).expect("epoch is a date"))
}

/// The FETCH response for a message that is gone from the store before this session could be told
/// (RFC 2180 §4.1.2), as Dovecot answers: what the session knows (FLAGS, UID, MODSEQ), NIL for
/// every text item, an empty ENVELOPE and BODYSTRUCTURE, RFC822.SIZE 0 and INTERNALDATE
/// 1-Jan-1970. The FETCH then completes `OK [EXPUNGEISSUED]`.
fn gone_response(sel: &Selected, i: usize, attrs: &[FetchAttribute<'_>]) -> Response<'static> {
    let nil = || NString(None);
    let empty = || Message::parse(b"");
    let items: Vec<FetchItem<'static>> = attrs
        .iter()
        .filter_map(|a| {
            Some(match a {
                FetchAttribute::Flags => FetchItem::Flags(sel.flags_of(i)),
                FetchAttribute::Uid => FetchItem::Uid(nz(sel.msgs[i].uid as usize)),
                FetchAttribute::ModSeq => FetchItem::ModSeq(sel.msgs[i].modseq),
                FetchAttribute::InternalDate => FetchItem::InternalDate(date(0)),
                FetchAttribute::Rfc822Size => FetchItem::Rfc822Size(0),
                FetchAttribute::Envelope => FetchItem::Envelope(Box::new(empty().envelope())),
                FetchAttribute::Body => FetchItem::Body(Box::new(empty().body_structure(false))),
                FetchAttribute::BodyStructure => {
                    FetchItem::BodyStructure(Box::new(empty().body_structure(true)))
                }
                FetchAttribute::Rfc822 => FetchItem::Rfc822(nil()),
                FetchAttribute::Rfc822Header => FetchItem::Rfc822Header(nil()),
                FetchAttribute::Rfc822Text => FetchItem::Rfc822Text(nil()),
                FetchAttribute::BodySection {
                    section, partial, ..
                } => FetchItem::BodySection {
                    section: echo_section(section),
                    origin: partial.map(|(start, _)| start),
                    data: nil(),
                },
                FetchAttribute::Binary {
                    section, partial, ..
                } => FetchItem::Binary {
                    section: section.clone(),
                    origin: partial.map(|(start, _)| start),
                    data: None,
                    literal8: false,
                },
                FetchAttribute::BinarySize { section } => FetchItem::BinarySize {
                    section: section.clone(),
                    size: 0,
                },
                _ => return None,
            })
        })
        .collect();
    Response::Data(Data::Fetch {
        seq: nz(i + 1),
        items: Vec1::try_from(items)
            .unwrap_or_else(|_| Vec1::one(FetchItem::Uid(nz(sel.msgs[i].uid as usize)))),
    })
}

/// The section as the response names it: header field names uppercased, as Dovecot does.
fn echo_section(section: &Section<'_>) -> Section<'static> {
    let upper = |names: &Vec1<AString<'_>>| -> Option<Vec1<AString<'static>>> {
        let v: Vec<AString<'static>> = names
            .iter()
            .filter_map(|n| AString::from_bytes(n.as_bytes().to_ascii_uppercase()).ok())
            .collect();
        Vec1::try_from(v).ok()
    };
    let text = match section.text() {
        Some(SectionText::HeaderFields(n)) => upper(n).map(SectionText::HeaderFields),
        Some(SectionText::HeaderFieldsNot(n)) => upper(n).map(SectionText::HeaderFieldsNot),
        _ => None,
    };
    match text {
        Some(t) => Section::new(section.part().to_vec(), Some(t))
            .unwrap_or_else(|_| section.clone().into_static()),
        None => section.clone().into_static(),
    }
}

fn cut(data: &[u8], start: u32, len: NonZeroU32) -> Vec<u8> {
    let start = start as usize;
    if start >= data.len() {
        return Vec::new();
    }
    let end = start.saturating_add(len.get() as usize).min(data.len());
    data[start..end].to_vec()
}

/// The FETCH response STORE sends: FLAGS, UID for UID STORE, UID and MODSEQ with CONDSTORE
/// (RFC 7162 §3.1: once it is on, such responses carry both).
pub(crate) fn flags_response(sel: &Selected, i: usize, with_uid: bool) -> Response<'static> {
    let mut items: Vec<FetchItem<'static>> = vec![FetchItem::Flags(sel.flags_of(i))];
    if with_uid || sel.condstore {
        items.push(FetchItem::Uid(nz(sel.msgs[i].uid as usize)));
    }
    if sel.condstore {
        items.push(FetchItem::ModSeq(sel.msgs[i].modseq));
    }
    Response::Data(Data::Fetch {
        seq: nz(i + 1),
        items: Vec1::try_from(items).expect("non-empty"),
    })
}

/// The FETCH response of a silent STORE with CONDSTORE (RFC 7162 §3.1.3): UID and MODSEQ only.
pub(crate) fn modseq_response(sel: &Selected, i: usize) -> Response<'static> {
    let items = vec![
        FetchItem::Uid(nz(sel.msgs[i].uid as usize)),
        FetchItem::ModSeq(sel.msgs[i].modseq),
    ];
    Response::Data(Data::Fetch {
        seq: nz(i + 1),
        items: Vec1::try_from(items).expect("non-empty"),
    })
}
