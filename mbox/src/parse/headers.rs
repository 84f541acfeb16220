//! The few headers an mbox reader cares about, read from a message's header block.

use crate::types::{ImapBase, Metadata};

/// Calls `f(name, raw_value, line_range)` for each header of `block`: `raw_value` is everything
/// after the colon, continuation lines and line endings included (see [`unfold`]); `line_range`
/// covers the header's lines. Stops at the first empty line. Allocates nothing.
pub(crate) fn for_each_header<'b>(
    block: &'b [u8],
    mut f: impl FnMut(&'b [u8], &'b [u8], std::ops::Range<usize>),
) {
    let mut i = 0;
    let mut current: Option<usize> = None; // start of the current header
    let mut flush = |cur: Option<usize>, end: usize| {
        if let Some(start) = cur {
            let raw = &block[start..end];
            if let Some(colon) = memchr::memchr(b':', raw) {
                f(trim(&raw[..colon]), &raw[colon + 1..], start..end);
            }
        }
    };
    while i < block.len() {
        let line_end = memchr::memchr(b'\n', &block[i..]).map_or(block.len(), |k| i + k + 1);
        let line = &block[i..line_end];
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
        if bare.is_empty() {
            break;
        }
        // RFC 5322 §2.2.3: a line starting with white space continues the current field.
        if !(matches!(line[0], b' ' | b'\t') && current.is_some()) {
            flush(current.take(), i);
            current = Some(i);
        }
        i = line_end;
    }
    flush(current, i);
}

/// A raw header value unfolded (RFC 5322 §2.2.3: CRLF before white space removed) and trimmed.
pub(crate) fn unfold(raw: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(raw.len());
    for (n, part) in raw.split(|&b| b == b'\n').enumerate() {
        let part = part.strip_suffix(b"\r").unwrap_or(part);
        if n > 0 && !part.is_empty() {
            value.push(b' ');
        }
        value.extend_from_slice(part);
    }
    trim(&value).to_vec()
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end]
}

fn words(value: &[u8]) -> impl Iterator<Item = String> + '_ {
    value
        .split(|b| b.is_ascii_whitespace() || *b == b',')
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
}

fn number<T: std::str::FromStr>(value: &[u8]) -> Option<T> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// Reads flags, keywords, UID, IMAP base and `Content-Length` from a header block.
pub(crate) fn parse_metadata(block: &[u8]) -> (Metadata, Option<u64>) {
    let mut meta = Metadata::default();
    let mut content_length = None;
    for_each_header(block, |name, raw, _| {
        // Most headers are none of ours: decide on the first letter before comparing names.
        if !matches!(name.first(), Some(b'S' | b's' | b'X' | b'x' | b'C' | b'c')) {
            return;
        }
        if name.eq_ignore_ascii_case(b"Status") {
            meta.flags.apply_status(&unfold(raw));
        } else if name.eq_ignore_ascii_case(b"X-Status") {
            meta.flags.apply_x_status(&unfold(raw));
        } else if name.eq_ignore_ascii_case(b"X-Keywords") {
            meta.keywords.extend(words(&unfold(raw)));
        } else if name.eq_ignore_ascii_case(b"X-UID") {
            meta.uid = number(&unfold(raw));
        } else if name.eq_ignore_ascii_case(b"X-IMAPbase") {
            let value = unfold(raw);
            let mut w = words(&value);
            let uid_validity = w.next().and_then(|s| s.parse().ok());
            let uid_last = w.next().and_then(|s| s.parse().ok());
            if let (Some(uid_validity), Some(uid_last)) = (uid_validity, uid_last) {
                meta.imap_base = Some(ImapBase {
                    uid_validity,
                    uid_last,
                    keywords: w.collect(),
                });
            }
        } else if name.eq_ignore_ascii_case(b"Content-Length") {
            content_length = number(&unfold(raw));
        }
    });
    (meta, content_length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flags_and_dovecot_headers() {
        let block = b"Subject: hi\nStatus: RO\nX-Status: AF\nX-Keywords: $Label1 work,\n home\n\
X-UID: 42\nX-IMAPbase: 1700000000 0000000043 $Label1 work home\nContent-Length: 12\r\n\nbody";
        let (m, cl) = parse_metadata(block);
        assert!(m.flags.seen && m.flags.old && m.flags.answered && m.flags.flagged);
        assert!(!m.flags.deleted && !m.flags.draft);
        assert_eq!(m.keywords, ["$Label1", "work", "home"]);
        assert_eq!(m.uid, Some(42));
        let base = m.imap_base.unwrap();
        assert_eq!((base.uid_validity, base.uid_last), (1_700_000_000, 43));
        assert_eq!(base.keywords.len(), 3);
        assert_eq!(cl, Some(12));
    }
}
