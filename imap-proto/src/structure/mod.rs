//! The structure of a message as IMAP shows it: the MIME part tree by exact byte ranges,
//! ENVELOPE, BODY and BODYSTRUCTURE, and the octets of every `BODY[section]`
//! (RFC 3501 §6.4.5, §7.4.2; RFC 5322; RFC 2045, RFC 2046, RFC 2231).
//!
//! Sans-IO like the rest of the crate: it reads a message's octets (LF or CRLF line ends) and
//! allocates only what it returns; work is linear in the input, nesting is bounded
//! ([`Limits`]), and no input makes it panic. Header text is kept raw: nothing is decoded
//! (RFC 2047 encoded words, RFC 2231 parameters and charsets stay as written), because
//! ENVELOPE and BODYSTRUCTURE send header text as it appears (RFC 3501 §7.4.2).
//!
//! Where RFC 3501 leaves a choice, the answers are Dovecot 2.3's, so that a client sees the
//! same ENVELOPE, BODYSTRUCTURE and sections from us as from Dovecot for the same octets. Each
//! module says which conventions it follows and why: [`tree`] (where parts begin and end, the
//! default types, `message/global`), [`envelope`] (comments as display names, groups, source
//! routes, unfolding of the subject, the last field winning), [`body`] (case kept, RFC 2231 raw,
//! default charset, broken Content-Type), [`section`] (part numbering, HEADER.FIELDS) and the
//! NUL octet ([`SectionContent::to_imap_bytes`]: 0x80, as Dovecot sends it).
//!
//! Not done here: decoding for display or search (transfer encodings, charsets, encoded words);
//! BINARY (RFC 3516); IMAP4rev2's `message/global` (RFC 9051 treats it like `message/rfc822`).
//!
//! ```
//! use mailwright_imap_proto::structure::Message;
//! use mailwright_imap_proto::types::command::{Section, SectionText};
//!
//! let raw = b"From: user@example.org (Real Name)\r\nSubject: hi\r\n\r\nbody\r\n";
//! let msg = Message::parse(raw);
//! let env = msg.envelope();
//! assert_eq!(env.from.unwrap()[0].name.as_bytes(), Some(&b"Real Name"[..]));
//! let text = msg.section(&Section::new(vec![], Some(SectionText::Text)).unwrap()).unwrap();
//! assert_eq!(text.to_imap_bytes(raw), b"body\r\n");
//! ```

pub mod address;
pub mod body;
pub mod envelope;
pub mod header;
pub(crate) mod lexer;
pub(crate) mod params;
pub mod section;
pub mod tree;

#[cfg(test)]
mod tests;

use crate::types::body::{BodyStructure, Envelope};
use crate::types::command::Section;

pub use header::{Field, Fields, fields};
pub use section::{Piece, SectionContent};
pub use tree::{Limits, Part};

/// A MIME parameter: name and value, raw.
pub type Parameter = (Vec<u8>, Vec<u8>);

/// A Content-Type value read as the part tree reads it: `type/subtype` as written (empty when
/// it cannot be parsed, the lone type when the subtype is missing) and the parameters, raw
/// (RFC 2231 sections joined, not decoded).
pub fn content_type(value: &[u8]) -> (Vec<u8>, Vec<Parameter>) {
    let mut lx = lexer::Lexer::new(value);
    let _ = lx.skip_lwsp();
    let mut ct = Vec::new();
    let step = lx.content_type(&mut ct);
    let params = if step.invalid() {
        Vec::new()
    } else {
        params::parse(&mut lx).0
    };
    (ct, params)
}

/// A parsed message: its octets and its part tree.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    data: &'a [u8],
    root: Part,
}

impl<'a> Message<'a> {
    /// Parses `data` with the default [`Limits`].
    pub fn parse(data: &'a [u8]) -> Self {
        Self::parse_with(data, Limits::default())
    }
    /// Parses `data` with `limits`.
    pub fn parse_with(data: &'a [u8], limits: Limits) -> Self {
        Message {
            data,
            root: tree::parse(data, limits),
        }
    }
    /// The octets.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    /// The top-level part (the message itself).
    pub fn root(&self) -> &Part {
        &self.root
    }
    /// The size with CRLF line ends: RFC822.SIZE (RFC 3501 §2.3.4).
    pub fn size(&self) -> u64 {
        body::crlf_size(self.data, 0..self.data.len()).0
    }
    /// ENVELOPE.
    pub fn envelope(&self) -> Envelope<'static> {
        envelope::envelope(&self.data[self.root.header()])
    }
    /// BODYSTRUCTURE (`extended`) or BODY.
    pub fn body_structure(&self, extended: bool) -> BodyStructure<'static> {
        body::message_structure(self.data, &self.root, extended)
    }
    /// `BODY[section]` before any partial range; `None` when the section does not exist (an
    /// empty string is the answer then, as Dovecot gives).
    pub fn section(&self, section: &Section<'_>) -> Option<SectionContent> {
        section::section(self.data, &self.root, section)
    }
    /// The header fields of a part's header block.
    pub fn fields_of(&self, part: &Part) -> Fields<'a> {
        fields(&self.data[part.header()])
    }
}
