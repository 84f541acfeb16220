//! What a store's index keeps of a message so that IMAP need not read it again: its size as
//! IMAP presents it, its header block, BODY and BODYSTRUCTURE ([`Summary`]). ENVELOPE, SORT,
//! THREAD and the SEARCH header keys all work from the header block, the same octets they
//! would have read from the file, so an answer from a summary is the answer from the message.
//!
//! A store treats the encoded summary as an opaque blob (the Maildir store keeps it in the
//! folder's `mailwright-index`). It is made once, where the message is written (delivery,
//! APPEND) or first read, by the same parser FETCH uses.

use mailwright_imap_proto::structure::Message;
use mailwright_imap_proto::types::body::BodyStructure;
use mailwright_imap_proto::types::response::{Data, FetchItem, Response};
use mailwright_imap_proto::{Encode, IntoStatic, Vec1};

/// Headers larger than this are not kept: such a message is read each time.
pub const MAX_SUMMARY_HEADER: usize = 64 * 1024;

const MAGIC: &[u8; 4] = b"MWS1";

/// What a store's index holds of a message ([`SelectedMailbox::cached`](super::SelectedMailbox::cached)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    /// The INTERNALDATE.
    pub internal_date: std::time::SystemTime,
    /// The encoded [`Summary`] kept for it, if any.
    pub summary: Option<Vec<u8>>,
}

/// What a store's index keeps of a message (module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// RFC822.SIZE: the size of the CRLF text.
    pub vsize: u64,
    /// The top-level header block up to and with its empty line, CRLF.
    pub header: Vec<u8>,
    /// BODY (BODYSTRUCTURE without extension data).
    pub body: BodyStructure<'static>,
    /// BODYSTRUCTURE.
    pub body_structure: BodyStructure<'static>,
}

/// A stored message (LF line ends, possibly mixed) as the CRLF text IMAP presents.
pub fn to_crlf(stored: &[u8]) -> Vec<u8> {
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

impl Summary {
    /// The summary of a parsed message (its CRLF text); `None` when its header is over
    /// [`MAX_SUMMARY_HEADER`].
    pub fn of(message: &Message<'_>) -> Option<Summary> {
        let header = &message.data()[message.root().header()];
        if header.len() > MAX_SUMMARY_HEADER {
            return None;
        }
        Some(Summary {
            vsize: message.data().len() as u64,
            header: header.to_vec(),
            body: message.body_structure(false),
            body_structure: message.body_structure(true),
        })
    }

    /// The summary of a stored message's text (LF or CRLF line ends).
    pub fn of_stored(stored: &[u8]) -> Option<Summary> {
        let text = to_crlf(stored);
        Summary::of(&Message::parse(&text))
    }

    /// The blob a store keeps: `MWS1`, the size (u64 LE), the header's length (u32 LE) and the
    /// header, then BODY and BODYSTRUCTURE as a FETCH response encodes them.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.header.len() + 256);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.vsize.to_le_bytes());
        let len = u32::try_from(self.header.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.header);
        let items = Vec1::try_from(vec![
            FetchItem::Body(Box::new(self.body.clone())),
            FetchItem::BodyStructure(Box::new(self.body_structure.clone())),
        ])
        .expect("two items");
        let response = Response::Data(Data::Fetch {
            seq: std::num::NonZeroU32::MIN,
            items,
        });
        out.extend_from_slice(&response.to_bytes());
        out
    }

    /// The size and the header block of a blob, without decoding the rest (what SORT, THREAD
    /// and SEARCH need).
    pub fn header_of(blob: &[u8]) -> Option<(u64, &[u8])> {
        let rest = blob.strip_prefix(MAGIC)?;
        let vsize = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let len = u32::from_le_bytes(rest.get(8..12)?.try_into().ok()?) as usize;
        Some((vsize, rest.get(12..12 + len)?))
    }

    /// A blob back: `None` when it is not one [`encode`](Self::encode) wrote (the caller
    /// reads the message instead, and may keep a new summary).
    pub fn decode(blob: &[u8]) -> Option<Summary> {
        let (vsize, header) = Summary::header_of(blob)?;
        let structures = blob.get(MAGIC.len() + 12 + header.len()..)?;
        let header = header.to_vec();
        let (tail, response) = Response::decode(structures).ok()?;
        if !tail.is_empty() {
            return None;
        }
        let Response::Data(Data::Fetch { items, .. }) = response else {
            return None;
        };
        let (mut body, mut body_structure) = (None, None);
        for item in items.into_vec() {
            match item {
                FetchItem::Body(b) => body = Some((*b).into_static()),
                FetchItem::BodyStructure(b) => body_structure = Some((*b).into_static()),
                _ => return None,
            }
        }
        Some(Summary {
            vsize,
            header,
            body: body?,
            body_structure: body_structure?,
        })
    }
}

/// What SORT, THREAD and SEARCH FROM, TO, CC and SUBJECT take from a message's header block (RFC 5256 §2.1, §3, SORT=DISPLAY),
/// worked out once and kept per folder ([`KeyCache`]) so that a SORT or THREAD of a folder
/// whose keys are kept needs no header read, split or collation. Depends on the header block
/// alone, which never changes under a UID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderKeys {
    /// The (last valid) Date: field in seconds; `None` without one (the INTERNALDATE is used).
    pub sent_date: Option<i64>,
    /// The base subject in the `i;unicode-casemap` form.
    pub subject: Box<str>,
    /// The subject was marked a reply or a forward.
    pub reply: bool,
    /// FROM, TO, CC: the first address's mailbox, collated.
    pub from: Box<str>,
    /// TO.
    pub to: Box<str>,
    /// CC.
    pub cc: Box<str>,
    /// DISPLAYFROM (RFC 5957).
    pub display_from: Box<str>,
    /// DISPLAYTO.
    pub display_to: Box<str>,
    /// The Message-ID, without brackets.
    pub message_id: Option<Box<str>>,
    /// References, or else the first id of In-Reply-To.
    pub references: Box<[Box<str>]>,
    /// SEARCH FROM, TO, CC and SUBJECT: each From, To, Cc and Subject field's value as these
    /// keys compare it (decoded, collated; addresses written back, spaces compressed).
    pub search: [Box<[Box<str>]>; 4],
}

/// The [`HeaderKeys`] of a folder's messages by UID, for one UIDVALIDITY; shared by the
/// sessions of a process that have the folder open ([`SelectedMailbox::header_keys`](super::SelectedMailbox::header_keys)).
#[derive(Debug, Default)]
pub struct KeyCache {
    /// The UIDVALIDITY the UIDs are of.
    pub uid_validity: u32,
    /// Per UID.
    pub keys: std::collections::HashMap<u32, std::sync::Arc<HeaderKeys>>,
}

/// A folder's [`KeyCache`], shared.
pub type SharedKeys = std::sync::Arc<std::sync::Mutex<KeyCache>>;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_multipart_message_round_trips_through_its_blob() {
        let text = b"From: Ann <ann@example.org>\nSubject: =?utf-8?q?caf=C3=A9?=\n\
            Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n\
            --b\nContent-Type: application/octet-stream; name=\"a\"\n\
            Content-Transfer-Encoding: base64\n\nAAEC\n--b--\n";
        let s = Summary::of_stored(text).expect("summary");
        assert!(s.header.starts_with(b"From: Ann") && s.header.ends_with(b"\r\n\r\n"));
        assert_eq!(s.vsize, to_crlf(text).len() as u64);
        let blob = s.encode();
        assert_eq!(Summary::header_of(&blob), Some((s.vsize, &s.header[..])));
        assert_eq!(Summary::decode(&blob), Some(s));
    }

    proptest! {
        #[test]
        fn summaries_round_trip_and_blobs_never_panic(
            text in proptest::collection::vec(any::<u8>(), 0..400),
            blob in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            if let Some(s) = Summary::of_stored(&text) {
                prop_assert_eq!(Summary::decode(&s.encode()), Some(s));
            }
            let _ = Summary::decode(&blob);
            let mut prefixed = MAGIC.to_vec();
            prefixed.extend_from_slice(&blob);
            let _ = Summary::decode(&prefixed);
        }
    }
}
