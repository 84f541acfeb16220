//! FETCH and UID FETCH (RFC 3501 §6.4.5, §7.4.2).
//!
//! Messages are stored with LF line ends; FETCH presents the CRLF text (RFC 3501 §2.3.4: sizes
//! are of the message as IMAP presents it), so RFC822.SIZE is the `W=` size of the file name.
//! ENVELOPE, BODY, BODYSTRUCTURE and every section come from imap-proto's
//! [`structure`](mailwright_imap_proto::structure) parser, which answers as Dovecot 2.3 does.
//! A section that does not exist is an empty string (Dovecot's answer); a NUL octet, which no
//! IMAP literal may hold, is sent as 0x80 (Dovecot's answer too), so every literal has the size
//! RFC822.SIZE and BODYSTRUCTURE advertise.

use std::io::Read;
use std::num::NonZeroU32;
use std::time::UNIX_EPOCH;

use mailwright_imap_proto::structure::Message;
use mailwright_imap_proto::types::command::{FetchAttribute, Section, SectionText};
use mailwright_imap_proto::types::datetime::DateTime;
use mailwright_imap_proto::types::response::{Data, FetchItem, Response};
use mailwright_imap_proto::{AString, IString, IntoStatic, Literal, LiteralMode, NString, Vec1};
use mailwright_maildir::{Entry, Flag as MdFlag, FlagUpdate, Flags, Maildir};

use super::selected::{Selected, nz};

/// A message read from disk, as IMAP presents it.
pub(crate) struct Loaded {
    /// The CRLF text.
    pub(crate) text: Vec<u8>,
    /// The file's mtime in seconds: the INTERNALDATE.
    pub(crate) internal: i64,
}

/// Reads a message (following a concurrent rename); `None` if it is gone.
pub(crate) fn load(maildir: &Maildir, entry: &Entry) -> Option<Loaded> {
    let (mut file, _) = maildir.open_message(entry).ok()?;
    let internal = internal_secs(&file);
    let mut raw = Vec::new();
    file.read_to_end(&mut raw).ok()?;
    Some(Loaded {
        text: to_crlf(&raw),
        internal,
    })
}

fn internal_secs(file: &std::fs::File) -> i64 {
    file.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The INTERNALDATE and size of a message without reading it (when the name has `W=`).
fn meta(maildir: &Maildir, entry: &Entry) -> Option<(i64, Option<u64>)> {
    let (file, _) = maildir.open_message(entry).ok()?;
    Some((internal_secs(&file), entry.vsize()))
}

/// A stored message (LF line ends, possibly mixed) as the CRLF text IMAP presents.
pub(crate) fn to_crlf(stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored.len() + stored.len() / 32);
    let mut prev = 0u8;
    for &b in stored {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
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
/// RFC822.TEXT).
fn sets_seen(a: &FetchAttribute<'_>) -> bool {
    matches!(
        a,
        FetchAttribute::Rfc822
            | FetchAttribute::Rfc822Text
            | FetchAttribute::BodySection { peek: false, .. }
    )
}

/// Answers FETCH for the messages at `idx`; returns how many were gone from disk.
pub(crate) fn fetch(
    sel: &mut Selected,
    idx: &[usize],
    attrs: &[FetchAttribute<'_>],
    uid_cmd: bool,
    out: &mut Vec<Response<'static>>,
) -> usize {
    let mut attrs: Vec<FetchAttribute<'_>> = attrs.to_vec();
    if uid_cmd && !attrs.contains(&FetchAttribute::Uid) {
        // RFC 3501 §6.4.8: UID FETCH always returns the UID.
        attrs.insert(0, FetchAttribute::Uid);
    }
    let text_needed = attrs.iter().any(needs_text);
    let seen_wanted = !sel.read_only && attrs.iter().any(sets_seen);
    let mut gone = 0;
    for &i in idx {
        let entry = sel.msgs[i].entry.clone();
        let (loaded, internal, vsize) = if text_needed {
            match load(&sel.maildir, &entry) {
                Some(l) => {
                    let size = l.text.len() as u64;
                    let internal = l.internal;
                    (Some(l), internal, Some(size))
                }
                None => {
                    gone += 1;
                    continue;
                }
            }
        } else if attrs
            .iter()
            .any(|a| matches!(a, FetchAttribute::InternalDate | FetchAttribute::Rfc822Size))
        {
            match meta(&sel.maildir, &entry) {
                Some((t, Some(v))) => (None, t, Some(v)),
                Some((t, None)) => match load(&sel.maildir, &entry) {
                    Some(l) => (None, t, Some(l.text.len() as u64)),
                    None => {
                        gone += 1;
                        continue;
                    }
                },
                None => {
                    gone += 1;
                    continue;
                }
            }
        } else {
            (None, 0, None)
        };
        let mut flags_changed = false;
        if seen_wanted && !entry.flags().contains(MdFlag::Seen) {
            let update = FlagUpdate::Add(Flags::empty().with(MdFlag::Seen));
            if let Ok(e) = sel.maildir.set_flags(&entry, update) {
                sel.msgs[i].entry = e;
                flags_changed = true;
            }
        }
        let parsed = loaded.as_ref().and_then(|l| {
            attrs
                .iter()
                .any(|a| {
                    matches!(
                        a,
                        FetchAttribute::Envelope
                            | FetchAttribute::Body
                            | FetchAttribute::BodyStructure
                            | FetchAttribute::BodySection { .. }
                            | FetchAttribute::Rfc822Header
                            | FetchAttribute::Rfc822Text
                    )
                })
                .then(|| Message::parse(&l.text))
        });
        let mut items: Vec<FetchItem<'static>> = Vec::with_capacity(attrs.len() + 1);
        for a in &attrs {
            let item = match a {
                FetchAttribute::Flags => FetchItem::Flags(sel.flags_of(i)),
                FetchAttribute::Uid => FetchItem::Uid(nz(sel.msgs[i].uid as usize)),
                FetchAttribute::ModSeq => FetchItem::ModSeq(sel.msgs[i].modseq),
                FetchAttribute::InternalDate => {
                    FetchItem::InternalDate(DateTime::from_unix_timestamp(internal).unwrap_or_else(
                        |_| DateTime::from_unix_timestamp(0).expect("epoch is a date"),
                    ))
                }
                FetchAttribute::Rfc822Size => {
                    FetchItem::Rfc822Size(u32::try_from(vsize.unwrap_or(0)).unwrap_or(u32::MAX))
                }
                FetchAttribute::Envelope => {
                    let Some(m) = &parsed else { continue };
                    FetchItem::Envelope(Box::new(m.envelope()))
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
                    let Some(m) = &parsed else { continue };
                    let extended = matches!(a, FetchAttribute::BodyStructure);
                    let s = Box::new(m.body_structure(extended));
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
                _ => continue,
            };
            items.push(item);
        }
        if flags_changed && !attrs.contains(&FetchAttribute::Flags) {
            // RFC 3501 §6.4.5: the \Seen change is reported with the FETCH.
            items.push(FetchItem::Flags(sel.flags_of(i)));
        }
        if let Ok(items) = Vec1::try_from(items) {
            out.push(Response::Data(Data::Fetch {
                seq: nz(i + 1),
                items,
            }));
        }
    }
    gone
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

/// The FETCH response STORE sends: FLAGS, UID for UID STORE, MODSEQ with CONDSTORE.
pub(crate) fn flags_response(sel: &Selected, i: usize, with_uid: bool) -> Response<'static> {
    let mut items: Vec<FetchItem<'static>> = vec![FetchItem::Flags(sel.flags_of(i))];
    if with_uid {
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
pub(crate) fn modseq_response(sel: &Selected, i: usize, with_uid: bool) -> Response<'static> {
    let mut items: Vec<FetchItem<'static>> = Vec::new();
    if with_uid {
        items.push(FetchItem::Uid(nz(sel.msgs[i].uid as usize)));
    }
    items.push(FetchItem::ModSeq(sel.msgs[i].modseq));
    Response::Data(Data::Fetch {
        seq: nz(i + 1),
        items: Vec1::try_from(items).expect("non-empty"),
    })
}
