//! BODY and BODYSTRUCTURE (RFC 3501 §6.4.5, §7.4.2) of a part tree.
//!
//! ```text
//! body-type-1part = (body-type-basic / body-type-msg / body-type-text)
//!                   [SP body-ext-1part]
//! body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP
//!                   body-fld-enc SP body-fld-octets
//! body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
//!                   [SP body-fld-loc *(SP body-extension)]]]
//! body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang
//!                   [SP body-fld-loc *(SP body-extension)]]]
//! ```
//! (RFC 3501 §9.)
//!
//! Conventions, each Dovecot 2.3's (`imap-bodystructure.c`, `message-part-data.c`):
//! - media type, subtype, parameter names and values, encoding and disposition keep the case of
//!   the header (§7.4.2 shows upper case but does not ask for it); RFC 2231 parameters are sent
//!   raw (see `params`);
//! - a part without Content-Type is `"text" "plain" ("charset" "us-ascii")` (RFC 2045 §5.2), a
//!   text part without a charset gets `"charset" "us-ascii"` appended; a Content-Type that cannot
//!   be parsed gives `"" ""` with no parameters (a lone type, `Content-Type: text`, gives
//!   `"text" ""`);
//! - the Content-* fields of a part that is not MIME (no MIME-Version, no Content-Type, not in a
//!   multipart) are ignored;
//! - a `message/rfc822` part is written `"message" "rfc822"` whatever the header's case;
//!   `message/global` (RFC 6532) is a basic part, as in IMAP4rev1;
//! - a multipart without parts (no boundary) shows one empty `text/plain` part, since
//!   `body-type-mpart` needs `1*body`;
//! - body-fld-octets and body-fld-lines count the body with CRLF line ends (RFC 3501 §2.3.4);
//! - body-fld-lang is always a list; body-fld-id, -desc, -md5 and -loc lose their line breaks;
//! - when a Content-* field repeats, the first counts, except that Content-Disposition is read
//!   again while no parameters were found;
//! - a message that is plain 7-bit text (`text/plain`, no parameter but `charset=us-ascii`,
//!   7bit or no encoding, none of Content-ID, -Description, -MD5, -Disposition, -Language,
//!   -Location) is written in the canonical lower-case form
//!   `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" size lines)`, as Dovecot writes
//!   such messages from a flag instead of from their header.

use crate::types::body::{
    BodyFields, BodyParams, BodyStructure, Disposition, DispositionTail, Language, LanguageTail,
    MultiPart, SinglePart, SpecificFields,
};
use crate::types::core::{IString, NString, Vec1};

use super::envelope::{envelope, istring, nstring, replace_nul, without_newlines};
use super::header::fields;
use super::lexer::{Lexer, Step};
use super::params::{self, Param};
use super::tree::Part;

/// The Content-* data of a part.
#[derive(Debug, Default)]
pub(crate) struct MimeData {
    pub(crate) content_type: Option<(Vec<u8>, Vec<u8>)>,
    pub(crate) params: Vec<Param>,
    pub(crate) encoding: Option<Vec<u8>>,
    id: Option<Vec<u8>>,
    md5: Option<Vec<u8>>,
    description: Option<Vec<u8>>,
    location: Option<Vec<u8>>,
    disposition: Option<Vec<u8>>,
    disposition_params: Vec<Param>,
    language: Option<Vec<Vec<u8>>>,
}

/// Reads the Content-* fields of a header block.
pub(crate) fn mime_data(header: &[u8], is_mime: bool) -> MimeData {
    let mut d = MimeData::default();
    if !is_mime {
        return d;
    }
    for f in fields(header) {
        if f.name.len() < 8 || !f.name[..8].eq_ignore_ascii_case(b"Content-") {
            continue;
        }
        let name = &f.name[8..];
        let v = f.value;
        if name.eq_ignore_ascii_case(b"Type") && d.content_type.is_none() {
            let mut lx = Lexer::new(v);
            let _ = lx.skip_lwsp();
            let mut ct = Vec::new();
            let step = lx.content_type(&mut ct);
            let (t, s) = match ct.iter().position(|&c| c == b'/') {
                Some(p) => (ct[..p].to_vec(), ct[p + 1..].to_vec()),
                None => (ct.clone(), Vec::new()),
            };
            d.content_type = Some((t, s));
            if !step.invalid() {
                d.params = params::parse(&mut lx).0;
            }
        } else if name.eq_ignore_ascii_case(b"Transfer-Encoding") && d.encoding.is_none() {
            let mut lx = Lexer::new(v);
            let _ = lx.skip_lwsp();
            let mut t = Vec::new();
            // Nothing may follow the token.
            if !lx.mime_token(&mut t).invalid() && lx.skip_lwsp() == Step::End && !t.is_empty() {
                d.encoding = Some(t);
            }
        } else if name.eq_ignore_ascii_case(b"ID") && d.id.is_none() {
            d.id = Some(replace_nul(v));
        } else if name.eq_ignore_ascii_case(b"MD5") && d.md5.is_none() {
            d.md5 = Some(replace_nul(v));
        } else if name.eq_ignore_ascii_case(b"Description") && d.description.is_none() {
            d.description = Some(replace_nul(v));
        } else if name.eq_ignore_ascii_case(b"Location") && d.location.is_none() {
            d.location = Some(replace_nul(v));
        } else if name.eq_ignore_ascii_case(b"Language") && d.language.is_none() {
            let mut lx = Lexer::new(v);
            let _ = lx.skip_lwsp();
            let mut langs = Vec::new();
            loop {
                let mut a = Vec::new();
                if lx.atom(&mut a).invalid() {
                    break;
                }
                langs.push(a);
                if !lx.at(b',') {
                    break;
                }
                lx.pos += 1;
                let _ = lx.skip_lwsp();
            }
            if !langs.is_empty() {
                d.language = Some(langs);
            }
        } else if name.eq_ignore_ascii_case(b"Disposition") && d.disposition_params.is_empty() {
            let mut lx = Lexer::new(v);
            let _ = lx.skip_lwsp();
            let mut t = Vec::new();
            if !lx.mime_token(&mut t).invalid() {
                d.disposition = Some(t);
                d.disposition_params = params::parse(&mut lx).0;
            }
        }
    }
    d
}

fn params_list(p: &[Param], default_charset: bool) -> BodyParams<'static> {
    let mut out: Vec<(IString<'static>, IString<'static>)> = p
        .iter()
        .map(|(k, v)| (istring(k.clone()), istring(v.clone())))
        .collect();
    if default_charset && !p.iter().any(|(k, _)| k.eq_ignore_ascii_case(b"charset")) {
        out.push((istring(b"charset".to_vec()), istring(b"us-ascii".to_vec())));
    }
    Vec1::try_from(out).ok()
}

fn nolf(v: Option<&Vec<u8>>) -> NString<'static> {
    nstring(v.map(|v| without_newlines(v)))
}

fn tail(d: &MimeData) -> DispositionTail<'static> {
    let disposition: Disposition<'static> = d.disposition.as_ref().map(|t| {
        (
            istring(t.clone()),
            params_list(&d.disposition_params, false),
        )
    });
    let language = match &d.language {
        Some(l) => Vec1::try_from(l.iter().map(|t| istring(t.clone())).collect::<Vec<_>>())
            .map_or(Language::Single(NString::NIL), Language::List),
        None => Language::Single(NString::NIL),
    };
    DispositionTail {
        disposition,
        language: Some(LanguageTail {
            language,
            location: Some((nolf(d.location.as_ref()), Vec::new())),
        }),
    }
}

/// Octets of `range` with CRLF line ends, and its lines.
pub(crate) fn crlf_size(data: &[u8], range: std::ops::Range<usize>) -> (u64, u32) {
    let mut lines = 0u32;
    let mut missing_cr = 0u64;
    for i in memchr::memchr_iter(b'\n', &data[range.clone()]) {
        let at = range.start + i;
        lines = lines.saturating_add(1);
        if at == 0 || data[at - 1] != b'\r' {
            missing_cr += 1;
        }
    }
    ((range.end - range.start) as u64 + missing_cr, lines)
}

fn empty_text_part(extended: bool) -> BodyStructure<'static> {
    BodyStructure::Single(SinglePart {
        media_type: istring(b"text".to_vec()),
        subtype: istring(b"plain".to_vec()),
        fields: BodyFields {
            parameters: params_list(&[], true),
            id: NString::NIL,
            description: NString::NIL,
            encoding: istring(b"7bit".to_vec()),
            octets: 0,
        },
        specific: SpecificFields::Text { lines: 0 },
        extension: extended.then(|| (NString::NIL, Some(tail(&MimeData::default())))),
    })
}

/// Whether a top-level part is plain 7-bit text (Dovecot's `message_part_data_is_plain_7bit`).
fn is_plain_7bit(part: &Part, d: &MimeData) -> bool {
    part.is_text()
        && part.children().is_empty()
        && d.content_type
            .as_ref()
            .is_none_or(|(_, s)| s.eq_ignore_ascii_case(b"plain"))
        && match d.params.as_slice() {
            [] => true,
            [(k, v)] => k.eq_ignore_ascii_case(b"charset") && v.eq_ignore_ascii_case(b"us-ascii"),
            _ => false,
        }
        && d.id.is_none()
        && d.description.is_none()
        && d.encoding
            .as_ref()
            .is_none_or(|e| e.eq_ignore_ascii_case(b"7bit"))
        && d.md5.is_none()
        && d.disposition.is_none()
        && d.language.is_none()
        && d.location.is_none()
}

/// BODY or BODYSTRUCTURE of a whole message (`root` is its top-level part).
pub fn message_structure(data: &[u8], root: &Part, extended: bool) -> BodyStructure<'static> {
    let d = mime_data(&data[root.header()], root.is_mime());
    if !is_plain_7bit(root, &d) {
        return structure(data, root, extended);
    }
    let (octets, lines) = crlf_size(data, root.body());
    let mut plain = empty_text_part(extended);
    if let BodyStructure::Single(s) = &mut plain {
        s.fields.octets = u32::try_from(octets).unwrap_or(u32::MAX);
        s.specific = SpecificFields::Text { lines };
    }
    plain
}

/// BODY (`extended == false`) or BODYSTRUCTURE of `part` of `data`.
pub fn structure(data: &[u8], part: &Part, extended: bool) -> BodyStructure<'static> {
    let header = &data[part.header()];
    let d = mime_data(header, part.is_mime());
    if part.is_multipart() {
        let parts: Vec<BodyStructure<'static>> = part
            .children()
            .iter()
            .map(|c| structure(data, c, extended))
            .collect();
        let parts = Vec1::try_from(parts).unwrap_or_else(|_| Vec1::one(empty_text_part(extended)));
        let subtype = d
            .content_type
            .as_ref()
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        return BodyStructure::Multi(MultiPart {
            parts,
            subtype: istring(subtype),
            extension: extended.then(|| (params_list(&d.params, false), Some(tail(&d)))),
        });
    }
    let message_child = if part.is_message() {
        part.children().first()
    } else {
        None
    };
    let (media_type, subtype, text) = if message_child.is_some() {
        (b"message".to_vec(), b"rfc822".to_vec(), false)
    } else {
        match &d.content_type {
            None => (b"text".to_vec(), b"plain".to_vec(), true),
            Some((t, s)) => (t.clone(), s.clone(), t.eq_ignore_ascii_case(b"text")),
        }
    };
    let (octets, lines) = crlf_size(data, part.body());
    let fields = BodyFields {
        parameters: params_list(&d.params, text),
        id: nolf(d.id.as_ref()),
        description: nolf(d.description.as_ref()),
        encoding: istring(d.encoding.clone().unwrap_or_else(|| b"7bit".to_vec())),
        octets: u32::try_from(octets).unwrap_or(u32::MAX),
    };
    let specific = match message_child {
        Some(child) => SpecificFields::Message {
            envelope: Box::new(envelope(&data[child.header()])),
            body: Box::new(structure(data, child, extended)),
            lines,
        },
        None if text => SpecificFields::Text { lines },
        None => SpecificFields::Basic,
    };
    BodyStructure::Single(SinglePart {
        media_type: istring(media_type),
        subtype: istring(subtype),
        fields,
        specific,
        extension: extended.then(|| (nolf(d.md5.as_ref()), Some(tail(&d)))),
    })
}
