//! Header fields (RFC 5322 §2.2) as exact byte ranges, with their unfolded values.
//!
//! ```text
//! field           = field-name ":" unstructured CRLF
//! field-name      = 1*ftext
//! unstructured    = (*([FWS] VCHAR) *WSP) / obs-unstruct
//! FWS             = ([*WSP CRLF] 1*WSP) / obs-FWS
//! obs-optional    = field-name *WSP ":" unstructured CRLF
//! ```
//! (RFC 5322 §3.6.8, §3.2.2, §4.5.)
//!
//! A field runs from its first line to the last line that starts with SP or HTAB
//! (RFC 5322 §2.2.3 folding). Line ends are LF or CRLF. As in Dovecot 2.3
//! (`message-header-parser.c`): the name is what precedes the first ":" with trailing white
//! space removed (`obs-optional`); a line without ":" is a field whose name is the whole line and
//! whose value is empty; the value starts after the ":" and the white space that follows it on
//! the first line (only one octet of it when the first line holds nothing else), and runs to the
//! end of the last continuation line, line breaks included (callers unfold as they need).

use std::ops::Range;

/// Position of the next LF at or after `from`, if any.
pub(crate) fn find_lf(data: &[u8], from: usize) -> Option<usize> {
    memchr::memchr(b'\n', data.get(from..)?).map(|i| from + i)
}

/// Whether a line starting at `pos` is the empty line that ends a header (`\n` or `\r\n`).
pub(crate) fn is_eoh(data: &[u8], pos: usize) -> bool {
    match data.get(pos) {
        Some(b'\n') => true,
        Some(b'\r') => data.get(pos + 1) == Some(&b'\n'),
        _ => false,
    }
}

/// One header field, as positions in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawField {
    /// The whole field, from its name to the line break of its last line (included).
    pub(crate) whole: Range<usize>,
    /// The name.
    pub(crate) name: Range<usize>,
    /// The value, unfolded lazily: line breaks of continuation lines are still in it.
    pub(crate) value: Range<usize>,
    /// Length of the line break that ends the field (0 at the end of the input).
    pub(crate) newline: usize,
}

/// Reads the field that starts at `pos` (not an empty line, not past the end).
pub(crate) fn read_field(data: &[u8], pos: usize) -> RawField {
    let first_end = find_lf(data, pos).unwrap_or(data.len());
    let first_content_end = line_content_end(data, pos, first_end);
    let line = &data[pos..first_content_end];
    let (name, value_start) = match memchr::memchr(b':', line) {
        Some(colon) => {
            let mut name_end = pos + colon;
            while name_end > pos && matches!(data[name_end - 1], b' ' | b'\t') {
                name_end -= 1;
            }
            let after = pos + colon + 1;
            let mut v = after;
            while v < first_content_end && matches!(data[v], b' ' | b'\t') {
                v += 1;
            }
            if v == first_content_end && after < first_content_end {
                // Only white space on the first line: skip just one octet of it.
                v = after + 1;
            }
            (pos..name_end, v)
        }
        None => (pos..first_content_end, first_content_end),
    };
    // Continuation lines.
    let mut end = first_end;
    while end < data.len() && matches!(data.get(end + 1), Some(b' ' | b'\t')) {
        end = find_lf(data, end + 1).unwrap_or(data.len());
    }
    let (whole_end, newline, content_end) = if end < data.len() {
        let content_end = line_content_end(data, line_start(data, end), end);
        (end + 1, end + 1 - content_end, content_end)
    } else {
        (data.len(), 0, data.len())
    };
    RawField {
        whole: pos..whole_end,
        name,
        value: value_start.min(content_end)..content_end,
        newline,
    }
}

/// Start of the line that the LF at `lf` ends.
fn line_start(data: &[u8], lf: usize) -> usize {
    memchr::memrchr(b'\n', &data[..lf]).map_or(0, |i| i + 1)
}

/// End of a line's content: before its CRLF or LF (`lf` is the LF position or the input end).
fn line_content_end(data: &[u8], start: usize, lf: usize) -> usize {
    if lf < data.len() && lf > start && data[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    }
}

/// A header field of a message or a MIME part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field name as written (no trailing white space).
    pub name: &'a [u8],
    /// What lies between the name and the value: the colon and the white space around it.
    pub middle: &'a [u8],
    /// The value as written: after the colon and leading white space, folded lines included,
    /// without the final line break.
    pub value: &'a [u8],
    /// The whole field with its line breaks.
    pub raw: &'a [u8],
}

impl Field<'_> {
    /// The value unfolded as Dovecot's SEARCH sees it: line breaks removed, and a continuation
    /// line that starts with HTAB starts with SP instead.
    pub fn unfolded(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.value.len());
        let mut i = 0;
        let v = self.value;
        while i < v.len() {
            match v[i] {
                b'\r' if v.get(i + 1) == Some(&b'\n') => i += 1,
                b'\n' => {
                    i += 1;
                    if v.get(i) == Some(&b'\t') {
                        out.push(b' ');
                        i += 1;
                    }
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        out
    }
}

/// The fields of a header block (stops at the empty line or at the end).
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
}

/// The fields of `header`, a header block as in a message (its empty line may be included).
pub fn fields(header: &[u8]) -> Fields<'_> {
    Fields {
        data: header,
        pos: 0,
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;
    fn next(&mut self) -> Option<Field<'a>> {
        if self.pos >= self.data.len() || is_eoh(self.data, self.pos) {
            return None;
        }
        let f = read_field(self.data, self.pos);
        self.pos = f.whole.end;
        let middle = f.name.end.min(f.value.start)..f.value.start;
        Some(Field {
            name: &self.data[f.name],
            middle: &self.data[middle],
            value: &self.data[f.value],
            raw: &self.data[f.whole],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_values() {
        let h = b"Subject:  folded\r\n\tsubject \r\n and more\r\nX-No-Colon\r\nIn-Reply-To:   <x@y>  \r\nEmpty:\r\nWs: \t\r\n\r\nbody";
        let f: Vec<Field<'_>> = fields(h).collect();
        assert_eq!(f.len(), 5);
        assert_eq!(f[0].name, b"Subject");
        assert_eq!(f[0].value, b"folded\r\n\tsubject \r\n and more");
        assert_eq!(f[0].unfolded(), b"folded subject  and more");
        assert_eq!(f[1].name, b"X-No-Colon");
        assert_eq!(f[1].value, b"");
        assert_eq!(f[2].value, b"<x@y>  ");
        assert_eq!(f[3].value, b"");
        assert_eq!(f[4].value, b"\t");
        let lf = b"A: b\n c\nD: e";
        let f: Vec<Field<'_>> = fields(lf).collect();
        assert_eq!(f[0].value, b"b\n c");
        assert_eq!(f[1].value, b"e");
        assert_eq!(f[1].raw, b"D: e");
    }
}
