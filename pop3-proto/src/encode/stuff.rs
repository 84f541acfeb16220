//! Streaming dot-stuffing of a message into a multi-line response (RFC 1939 §3), with line ends
//! made CRLF and an optional TOP cut (RFC 1939 §7: "the headers of the message, the blank line
//! separating the headers from the body, and then the number of lines of the indicated message's
//! body").

use bytes::{BufMut, BytesMut};

/// What [`DotStuffer::feed`] tells the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Keep feeding.
    More,
    /// The TOP cut has been reached: the rest of the message is not needed.
    Done,
}

#[derive(Debug, Clone, Copy)]
struct Top {
    in_body: bool,
    remaining: u32,
}

/// Dot-stuffs a message handed over in chunks of any size, without holding it whole.
///
/// Lines that start with `.` get another `.`; bare LF line ends (as in most Maildir files) become
/// CRLF; CRLF passes through. [`DotStuffer::finish`] closes the line if the message does not end
/// with one and writes the terminating `.` line.
#[derive(Debug, Clone)]
pub struct DotStuffer {
    at_line_start: bool,
    last_cr: bool,
    line_len: usize,
    top: Option<Top>,
    done: bool,
    finished: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl DotStuffer {
    /// A stuffer for a whole message (RETR).
    pub fn new() -> Self {
        Self {
            at_line_start: true,
            last_cr: false,
            line_len: 0,
            top: None,
            done: false,
            finished: false,
        }
    }

    /// A stuffer that stops after the headers, the blank line and `lines` body lines (TOP).
    pub fn top(lines: u32) -> Self {
        Self {
            top: Some(Top {
                in_body: false,
                remaining: lines,
            }),
            ..Self::new()
        }
    }

    /// Whether the TOP cut has been reached (or `finish` was called).
    pub fn is_done(&self) -> bool {
        self.done || self.finished
    }

    /// Stuffs `chunk` into `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut BytesMut) -> Feed {
        if self.done || self.finished {
            return Feed::Done;
        }
        if chunk.is_empty() {
            return Feed::More;
        }
        out.reserve(chunk.len() + chunk.len() / 16 + 8);
        if self.top.is_none() && self.all_crlf(chunk) {
            self.feed_crlf(chunk, out);
            return Feed::More;
        }
        if self.at_line_start && chunk[0] == b'.' {
            out.put_u8(b'.');
        }
        let mut copy_from = 0;
        let mut pos = 0;
        let mut line_start = 0;
        let mut carried = self.line_len;
        while let Some(off) = memchr::memchr(b'\n', &chunk[pos..]) {
            let j = pos + off;
            let content_len = carried + (j - line_start);
            let cr_before = if j > line_start {
                chunk[j - 1] == b'\r'
            } else {
                carried > 0 && self.last_cr
            };
            if !cr_before {
                out.extend_from_slice(&chunk[copy_from..j]);
                out.put_slice(b"\r\n");
                copy_from = j + 1;
            }
            let empty = content_len == 0 || (content_len == 1 && cr_before);
            let mut stop = false;
            if let Some(top) = &mut self.top {
                if top.in_body {
                    top.remaining -= 1;
                    stop = top.remaining == 0;
                } else if empty {
                    top.in_body = true;
                    stop = top.remaining == 0;
                }
            }
            pos = j + 1;
            line_start = pos;
            carried = 0;
            if stop {
                if copy_from < pos {
                    out.extend_from_slice(&chunk[copy_from..pos]);
                }
                self.done = true;
                self.at_line_start = true;
                self.line_len = 0;
                return Feed::Done;
            }
            if pos < chunk.len() && chunk[pos] == b'.' {
                out.extend_from_slice(&chunk[copy_from..pos]);
                out.put_u8(b'.');
                copy_from = pos;
            }
        }
        out.extend_from_slice(&chunk[copy_from..]);
        if pos == chunk.len() {
            self.at_line_start = true;
            self.line_len = 0;
        } else {
            self.at_line_start = false;
            self.line_len = carried + (chunk.len() - line_start);
            self.last_cr = chunk[chunk.len() - 1] == b'\r';
        }
        Feed::More
    }

    /// Whether every LF in `chunk` follows a CR (counting a CR that ended the previous chunk).
    /// The loop has no early exit so the compiler vectorises it: far cheaper than a branch per
    /// line.
    fn all_crlf(&self, chunk: &[u8]) -> bool {
        if chunk[0] == b'\n' && (self.at_line_start || !self.last_cr) {
            return false;
        }
        // LF-only text (most Maildir files) fails at its first line: skip the full scan.
        if let Some(i) = memchr::memchr(b'\n', &chunk[1..])
            && chunk[i] != b'\r'
        {
            return false;
        }
        let mut bare = 0u8;
        for (lf, cr) in chunk[1..].iter().zip(&chunk[..chunk.len() - 1]) {
            bare |= u8::from(*lf == b'\n') & u8::from(*cr != b'\r');
        }
        bare == 0
    }

    /// The fast path for whole-message streaming of CRLF text: only lines that start with `.`
    /// need work, and `memmem` finds them.
    fn feed_crlf(&mut self, chunk: &[u8], out: &mut BytesMut) {
        if self.at_line_start && chunk[0] == b'.' {
            out.put_u8(b'.');
        }
        let mut copy_from = 0;
        for k in memchr::memmem::find_iter(chunk, b"\n.") {
            out.extend_from_slice(&chunk[copy_from..=k]);
            out.put_u8(b'.');
            copy_from = k + 1;
        }
        out.extend_from_slice(&chunk[copy_from..]);
        match memchr::memrchr(b'\n', chunk) {
            Some(i) if i + 1 == chunk.len() => {
                self.at_line_start = true;
                self.line_len = 0;
            }
            Some(i) => {
                self.at_line_start = false;
                self.line_len = chunk.len() - i - 1;
            }
            None => {
                self.at_line_start = false;
                self.line_len += chunk.len();
            }
        }
        self.last_cr = chunk[chunk.len() - 1] == b'\r';
    }

    /// Ends the response: completes a last line without line end, then writes `.` CRLF. Calling it
    /// again does nothing.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if self.finished {
            return;
        }
        if !self.at_line_start {
            out.put_slice(if self.last_cr { b"\n" } else { b"\r\n" });
        }
        out.put_slice(b".\r\n");
        self.finished = true;
        self.at_line_start = true;
    }

    /// Stuffs a whole message at once (tests and small messages).
    pub fn stuff_all(message: &[u8], top: Option<u32>) -> Vec<u8> {
        let mut s = top.map_or_else(Self::new, Self::top);
        let mut out = BytesMut::new();
        s.feed(message, &mut out);
        s.finish(&mut out);
        out.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffs_dots_and_fixes_line_ends() {
        assert_eq!(
            DotStuffer::stuff_all(b".a\n.b\r\nc", None),
            b"..a\r\n..b\r\nc\r\n.\r\n"
        );
        assert_eq!(DotStuffer::stuff_all(b"", None), b".\r\n");
        assert_eq!(DotStuffer::stuff_all(b"x\r", None), b"x\r\n.\r\n");
        assert_eq!(DotStuffer::stuff_all(b"\n\n", None), b"\r\n\r\n.\r\n");
    }

    #[test]
    fn top_cuts_after_body_lines() {
        let m = b"A: 1\nB: 2\n\nl1\n.l2\nl3\n";
        assert_eq!(
            DotStuffer::stuff_all(m, Some(0)),
            b"A: 1\r\nB: 2\r\n\r\n.\r\n"
        );
        assert_eq!(
            DotStuffer::stuff_all(m, Some(2)),
            b"A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n.\r\n"
        );
        assert_eq!(
            DotStuffer::stuff_all(m, Some(9)),
            DotStuffer::stuff_all(m, None)
        );
    }

    #[test]
    fn split_anywhere_matches_whole() {
        let m: &[u8] = b".x\r\n\r\n..\n\r\n.\r\nend\r";
        for top in [None, Some(0), Some(1), Some(3)] {
            let whole = DotStuffer::stuff_all(m, top);
            for cut in 0..=m.len() {
                for cut2 in cut..=m.len() {
                    let mut s = top.map_or_else(DotStuffer::new, DotStuffer::top);
                    let mut out = BytesMut::new();
                    s.feed(&m[..cut], &mut out);
                    s.feed(&m[cut..cut2], &mut out);
                    s.feed(&m[cut2..], &mut out);
                    s.finish(&mut out);
                    assert_eq!(out.to_vec(), whole, "cuts {cut} {cut2} top {top:?}");
                }
            }
        }
    }
}
