//! What `BODY[section]` names (RFC 3501 §6.4.5), as pieces of the message.
//!
//! ```text
//! section         = "[" [section-spec] "]"
//! section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list /
//!                   "TEXT"
//! section-part    = nz-number *("." nz-number)
//! section-spec    = section-msgtext / (section-part ["." section-text])
//! section-text    = section-msgtext / "MIME"
//! ```
//! (RFC 3501 §9.)
//!
//! Part numbers are resolved as Dovecot 2.3 does (`imap-msgpart.c`): in a multipart, `n` is its
//! n-th part; any other part is its own part 1 (and only 1); a number after a `message/rfc822`
//! part counts inside the encapsulated message. So `1` of a single-part message is its body,
//! `1.MIME` its header, and `2.1` of a `message/rfc822` part 2 whose message is single-part is
//! that message's body. HEADER, HEADER.FIELDS and TEXT after a part number need a
//! `message/rfc822` part; MIME of such a part is the header of the part itself.
//!
//! HEADER.FIELDS gives the matching fields in message order with their continuation lines (a
//! last line without a line break gets one), then an empty line; HEADER.FIELDS.NOT the other
//! fields as they are, then an empty line. The empty line is left out when the header's last
//! line has no line break (a message that ends inside its header), as Dovecot does. Names match
//! without regard to case.
//!
//! One Dovecot 2.3 answer is not copied: for the last part of a message that ends right after
//! the part's empty header and an unterminated close delimiter, Dovecot sends `n.MIME` as an
//! empty string; this module sends the header (the empty line), the part's MIME header as
//! RFC 3501 §6.4.5 defines it.

use std::num::NonZeroU32;
use std::ops::Range;

use crate::types::command::{Section, SectionText};

use super::header::{is_eoh, read_field};
use super::tree::Part;

/// One piece of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Octets of the message.
    Bytes(Range<usize>),
    /// A CRLF that is not in the message.
    Crlf,
}

/// The content of a section: pieces of the message in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SectionContent {
    pieces: Vec<Piece>,
}

impl SectionContent {
    fn range(r: Range<usize>) -> Self {
        SectionContent {
            pieces: vec![Piece::Bytes(r)],
        }
    }
    /// The pieces.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }
    /// The section as IMAP sends it: line ends made CRLF (a lone LF gets a CR, RFC 3501
    /// §2.3.4's canonical form), and NUL octets, which no IMAP literal may hold (`CHAR8`),
    /// changed to 0x80 as Dovecot does. The length is that of the CRLF text, so sizes and
    /// partial offsets agree with RFC822.SIZE and BODYSTRUCTURE.
    pub fn to_imap_bytes(&self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &self.pieces {
            match p {
                Piece::Crlf => out.extend_from_slice(b"\r\n"),
                Piece::Bytes(r) => {
                    for i in r.clone() {
                        let c = data[i];
                        if c == b'\n' && (i == 0 || data[i - 1] != b'\r') {
                            out.push(b'\r');
                        }
                        out.push(if c == 0 { 0x80 } else { c });
                    }
                }
            }
        }
        out
    }
}

/// The part a part path names, or `None`.
pub fn find<'p>(root: &'p Part, path: &[NonZeroU32]) -> Option<&'p Part> {
    let mut part = root;
    for (i, n) in path.iter().enumerate() {
        let more = i + 1 < path.len();
        if part.is_multipart() {
            part = part.children().get(n.get() as usize - 1)?;
        } else if n.get() != 1 || (more && !part.is_message()) {
            return None;
        }
        if more && part.is_message() {
            part = part.children().first()?;
        }
    }
    Some(part)
}

fn header_fields(data: &[u8], part: &Part, names: &[&[u8]], keep: bool) -> SectionContent {
    let h = part.header();
    let mut pieces = Vec::new();
    let mut pos = h.start;
    while pos < h.end && !is_eoh(data, pos) {
        let f = read_field(&data[..h.end], pos);
        let name = &data[f.name.clone()];
        let listed = names.iter().any(|n| n.eq_ignore_ascii_case(name));
        if listed == keep {
            pieces.push(Piece::Bytes(f.whole.clone()));
            if keep && f.newline == 0 {
                pieces.push(Piece::Crlf);
            }
        }
        pos = f.whole.end;
    }
    // The empty line, also when the header ran to the end of the message after a complete
    // line; not when its last line has no line break.
    if h.end > h.start && data[h.end - 1] == b'\n' {
        pieces.push(Piece::Crlf);
    }
    SectionContent { pieces }
}

/// The content of `section` of the message `data` whose tree is `root`; `None` when the part
/// does not exist or is not a message where one is needed (Dovecot sends an empty string then).
pub fn section(data: &[u8], root: &Part, section: &Section<'_>) -> Option<SectionContent> {
    let path = section.part();
    let part = find(root, path)?;
    let message = if path.is_empty() {
        Some(part)
    } else if part.is_message() {
        part.children().first()
    } else {
        None
    };
    Some(match section.text() {
        None if path.is_empty() => SectionContent::range(0..data.len()),
        None => SectionContent::range(part.body()),
        Some(SectionText::Mime) => SectionContent::range(part.header()),
        Some(SectionText::Header) => SectionContent::range(message?.header()),
        Some(SectionText::Text) => SectionContent::range(message?.body()),
        Some(SectionText::HeaderFields(names)) => {
            let names: Vec<&[u8]> = names
                .iter()
                .map(crate::types::core::AString::as_bytes)
                .collect();
            header_fields(data, message?, &names, true)
        }
        Some(SectionText::HeaderFieldsNot(names)) => {
            let names: Vec<&[u8]> = names
                .iter()
                .map(crate::types::core::AString::as_bytes)
                .collect();
            header_fields(data, message?, &names, false)
        }
    })
}
