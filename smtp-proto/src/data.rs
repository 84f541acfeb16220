//! The `DATA` body: streaming dot-unstuffing for the server, dot-stuffing for the client
//! (RFC 5321 §4.5.2), hardened against SMTP smuggling.
//!
//! The end of data is only ever `CRLF "." CRLF` where the first CRLF is a real one from the peer
//! (RFC 5321 §4.1.1.4: "the end of mail data indicator ... `<CRLF>.<CRLF>`"). `<LF>.<LF>`,
//! `<LF>.<CR><LF>`, `<CR><LF>.<LF>` and `<CR>.<CR>` never end the message: under
//! [`BareLineEnding::Reject`] a bare CR or LF is an error, under [`BareLineEnding::Normalize`] it is
//! turned into CRLF (as Postfix's `smtpd_forbid_bare_newline = normalize`) and a line start
//! reached that way cannot begin the end marker.

use bytes::BytesMut;

/// What to do with a CR or LF that is not part of a CRLF pair inside message data
/// (RFC 5321 §2.3.8 forbids them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BareLineEnding {
    /// Stop with an error (the server replies and closes the connection). The default.
    #[default]
    Reject,
    /// Replace it with CRLF; it never counts toward the end-of-data marker.
    Normalize,
}

/// A smuggling attempt or other breach of the data grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A LF without CR before it.
    #[error("bare <LF> in message data")]
    BareLf,
    /// A CR without LF after it.
    #[error("bare <CR> in message data")]
    BareCr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Inside a line.
    Body,
    /// A CR was the last byte seen (not yet written out).
    Cr,
    /// At the start of a line; `strict` when reached by a real CRLF (or at the start of data).
    LineStart { strict: bool },
    /// A dot at a line start was seen (not yet written out).
    Dot { strict: bool },
    /// `.` CR at a line start was seen.
    DotCr { strict: bool },
}

/// Streaming dot-unstuffer for the server side of `DATA`.
///
/// Feed it input with [`DataDecoder::decode`]; it copies the unstuffed content into `out` and
/// reports how many bytes it consumed and whether the end marker was reached. Bytes after the end
/// marker are left unconsumed (they are the next pipelined command).
#[derive(Clone, Debug)]
pub struct DataDecoder {
    state: State,
    policy: BareLineEnding,
    line_len: usize,
    max_line: usize,
    line_too_long: bool,
}

/// Progress of [`DataDecoder::decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of input consumed.
    pub consumed: usize,
    /// Whether `CRLF.CRLF` was reached (the marker is consumed, not written).
    pub end: bool,
}

impl DataDecoder {
    /// A decoder at the start of the body. `max_line` is the longest text line allowed, CRLF
    /// included (RFC 5321 §4.5.3.1.6: 1000); longer lines are flagged, not cut.
    pub fn new(policy: BareLineEnding, max_line: usize) -> Self {
        DataDecoder {
            state: State::LineStart { strict: true },
            policy,
            line_len: 0,
            max_line: max_line.saturating_sub(2),
            line_too_long: false,
        }
    }

    /// Whether a line longer than the limit was seen.
    pub fn line_too_long(&self) -> bool {
        self.line_too_long
    }

    fn bare(&self, e: DataError) -> Result<(), DataError> {
        match self.policy {
            BareLineEnding::Reject => Err(e),
            BareLineEnding::Normalize => Ok(()),
        }
    }

    /// Decodes as much of `input` as possible into `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut BytesMut) -> Result<Decoded, DataError> {
        let len = input.len();
        let mut i = 0;
        // `input[start..i]` is content still to be copied verbatim.
        let mut start = 0;
        while i < len {
            match self.state {
                State::Body => {
                    self.fast_lines(input, &mut i);
                    if i < len && self.state == State::Body {
                        self.body_line(input, &mut i, &mut start, out)?;
                    }
                }
                State::Cr => {
                    if input[i] == b'\n' {
                        out.extend_from_slice(b"\r\n");
                        i += 1;
                        start = i;
                        self.new_line(true);
                    } else {
                        self.bare(DataError::BareCr)?;
                        out.extend_from_slice(b"\r\n");
                        start = i;
                        self.new_line(false);
                    }
                }
                State::LineStart { strict } => {
                    if input[i] == b'.' {
                        out.extend_from_slice(&input[start..i]);
                        i += 1;
                        start = i;
                        self.state = State::Dot { strict };
                    } else {
                        self.state = State::Body;
                    }
                }
                State::Dot { strict } => match input[i] {
                    b'\r' => {
                        i += 1;
                        start = i;
                        self.state = State::DotCr { strict };
                    }
                    b'\n' => {
                        self.bare(DataError::BareLf)?;
                        out.extend_from_slice(b".\r\n");
                        i += 1;
                        start = i;
                        self.new_line(false);
                    }
                    // RFC 5321 §4.5.2: the first of a line's leading periods is deleted.
                    _ => {
                        self.line_len = 0;
                        self.state = State::Body;
                    }
                },
                State::DotCr { strict } => {
                    if input[i] == b'\n' {
                        i += 1;
                        if strict {
                            return Ok(Decoded {
                                consumed: i,
                                end: true,
                            });
                        }
                        // A line start reached through a normalised bare CR or LF: "." is content.
                        out.extend_from_slice(b".\r\n");
                        start = i;
                        self.new_line(true);
                    } else {
                        self.bare(DataError::BareCr)?;
                        out.extend_from_slice(b".\r\n");
                        start = i;
                        self.new_line(false);
                    }
                }
            }
        }
        out.extend_from_slice(&input[start..i]);
        Ok(Decoded {
            consumed: i,
            end: false,
        })
    }

    /// From state `Body`: the fast path over well-formed lines. Jumps from one CR or LF to the
    /// next with `memchr2`; as long as each hit is a CRLF pair (RFC 5321 §2.3.8) and the next line
    /// does not start with a period, the line is left in place to be copied in bulk later (the
    /// caller's `start` stays put). Stops with `i` at the first line it cannot vouch for (a bare CR
    /// or LF, a CR at the end of the input), still in state `Body`, for `body_line` to handle; or
    /// after a CRLF followed by a period, in state `LineStart`.
    fn fast_lines(&mut self, input: &[u8], i: &mut usize) {
        let len = input.len();
        let mut p = *i;
        while let Some(off) = memchr::memchr2(b'\r', b'\n', &input[p..]) {
            let cr = p + off;
            if input[cr] != b'\r' || cr + 2 >= len || input[cr + 1] != b'\n' {
                break;
            }
            self.add_line_len(off);
            self.line_len = 0;
            p = cr + 2;
            if input[p] == b'.' {
                self.state = State::LineStart { strict: true };
                break;
            }
        }
        *i = p;
    }

    /// From state `Body`: handles input up to and including the next CR or LF, byte-wise.
    fn body_line(
        &mut self,
        input: &[u8],
        i: &mut usize,
        start: &mut usize,
        out: &mut BytesMut,
    ) -> Result<(), DataError> {
        let len = input.len();
        match memchr::memchr2(b'\r', b'\n', &input[*i..]) {
            None => {
                self.add_line_len(len - *i);
                *i = len;
            }
            Some(off) => {
                let p = *i + off;
                self.add_line_len(off);
                if input[p] == b'\n' {
                    out.extend_from_slice(&input[*start..p]);
                    self.bare(DataError::BareLf)?;
                    out.extend_from_slice(b"\r\n");
                    *i = p + 1;
                    *start = *i;
                    self.new_line(false);
                } else if p + 1 == len {
                    out.extend_from_slice(&input[*start..p]);
                    *i = len;
                    *start = len;
                    self.state = State::Cr;
                } else if input[p + 1] == b'\n' {
                    *i = p + 2;
                    self.new_line(true);
                } else {
                    out.extend_from_slice(&input[*start..p]);
                    self.bare(DataError::BareCr)?;
                    out.extend_from_slice(b"\r\n");
                    *i = p + 1;
                    *start = *i;
                    self.new_line(false);
                }
            }
        }
        Ok(())
    }

    fn new_line(&mut self, strict: bool) {
        self.line_len = 0;
        self.state = State::LineStart { strict };
    }

    fn add_line_len(&mut self, n: usize) {
        self.line_len += n;
        if self.line_len > self.max_line {
            self.line_too_long = true;
        }
    }
}

/// Streaming dot-stuffer for the client side: doubles a leading period on each line, turns bare CR
/// and LF into CRLF, and writes the `CRLF.CRLF` end marker on [`DotStuffer::finish`].
#[derive(Clone, Debug)]
pub struct DotStuffer {
    line_start: bool,
    pending_cr: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer {
            line_start: true,
            pending_cr: false,
        }
    }
}

impl DotStuffer {
    /// A stuffer at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `chunk` stuffed into `out`.
    pub fn encode(&mut self, chunk: &[u8], out: &mut BytesMut) {
        out.reserve(chunk.len() + 8);
        let mut start = 0;
        let mut i = 0;
        while i < chunk.len() {
            let c = chunk[i];
            if self.pending_cr {
                self.pending_cr = false;
                out.extend_from_slice(b"\r\n");
                self.line_start = true;
                if c == b'\n' {
                    i += 1;
                    start = i;
                    continue;
                }
                start = i;
            }
            if self.line_start {
                self.line_start = false;
                if c == b'.' {
                    out.extend_from_slice(b".");
                }
            }
            match memchr::memchr2(b'\r', b'\n', &chunk[i..]) {
                None => {
                    i = chunk.len();
                }
                Some(off) => {
                    let p = i + off;
                    out.extend_from_slice(&chunk[start..p]);
                    if chunk[p] == b'\n' {
                        out.extend_from_slice(b"\r\n");
                        self.line_start = true;
                    } else {
                        self.pending_cr = true;
                    }
                    i = p + 1;
                    start = i;
                }
            }
        }
        out.extend_from_slice(&chunk[start..]);
    }

    /// Ends the body: completes the last line and writes `.CRLF`.
    pub fn finish(self, out: &mut BytesMut) {
        if self.pending_cr || !self.line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// The body with every bare CR or LF made CRLF (RFC 5321 §2.3.8), borrowed when it has none.
pub fn canonical_line_endings(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut i = 0;
    let clean = loop {
        match memchr::memchr2(b'\r', b'\n', &body[i..]) {
            None => break true,
            Some(off) => {
                let p = i + off;
                if body[p] == b'\n' || body.get(p + 1) != Some(&b'\n') {
                    break false;
                }
                i = p + 2;
            }
        }
    };
    if clean {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut i = 0;
    while i < body.len() {
        match (body[i], body.get(i + 1)) {
            (b'\r', Some(b'\n')) => {
                out.extend_from_slice(b"\r\n");
                i += 2;
            }
            (b'\r' | b'\n', _) => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Dot-stuffs a whole body into `out`, end marker included.
pub fn dot_stuff(body: &[u8], out: &mut BytesMut) {
    let mut s = DotStuffer::new();
    s.encode(body, out);
    s.finish(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(policy: BareLineEnding, input: &[u8]) -> (Result<Option<usize>, DataError>, Vec<u8>) {
        let mut d = DataDecoder::new(policy, 1000);
        let mut out = BytesMut::new();
        match d.decode(input, &mut out) {
            Ok(r) => (Ok(r.end.then_some(r.consumed)), out.to_vec()),
            Err(e) => (Err(e), out.to_vec()),
        }
    }

    #[test]
    fn basic() {
        let (r, out) = run(BareLineEnding::Reject, b"a\r\n..b\r\n.\r\nMAIL");
        assert_eq!(r, Ok(Some(11)));
        assert_eq!(out, b"a\r\n.b\r\n");
        let (r, out) = run(BareLineEnding::Reject, b".\r\n");
        assert_eq!((r, out), (Ok(Some(3)), vec![]));
    }

    /// The smuggling matrix: every combination of line endings around the dot.
    #[test]
    fn smuggling_matrix() {
        let ends: [&[u8]; 4] = [b"\r\n", b"\n", b"\r", b""];
        for before in ends {
            for after in ends {
                let mut input = b"x".to_vec();
                input.extend_from_slice(before);
                input.push(b'.');
                input.extend_from_slice(after);
                input.extend_from_slice(b"MAIL FROM:<a@b>\r\n");
                let proper = before == b"\r\n" && after == b"\r\n";
                for policy in [BareLineEnding::Reject, BareLineEnding::Normalize] {
                    let (r, out) = run(policy, &input);
                    if proper {
                        assert_eq!(r, Ok(Some(6)), "{input:?}");
                        continue;
                    }
                    match policy {
                        BareLineEnding::Reject => {
                            let lone = |e: &[u8]| e == b"\n" || e == b"\r";
                            let bare = lone(before) || lone(after);
                            if bare {
                                assert!(r.is_err(), "{input:?} {r:?}");
                            } else {
                                assert_eq!(r, Ok(None), "{input:?}");
                            }
                        }
                        BareLineEnding::Normalize => {
                            assert_eq!(r, Ok(None), "{input:?} must not end the data");
                            assert!(!out.windows(2).any(|w| w == b"\r\r"), "{out:?}");
                        }
                    }
                }
            }
        }
        // And after normalisation the real end still works.
        let (r, out) = run(BareLineEnding::Normalize, b"a\n.\nb\r\n.\r\n");
        assert_eq!(r, Ok(Some(10)));
        assert_eq!(out, b"a\r\n.\r\nb\r\n");
        let (r, _) = run(BareLineEnding::Normalize, b"a\n.\r\n");
        assert_eq!(r, Ok(None));
    }

    #[test]
    fn long_lines_flagged() {
        let mut d = DataDecoder::new(BareLineEnding::Reject, 10);
        let mut out = BytesMut::new();
        d.decode(b"12345678\r\n", &mut out).unwrap();
        assert!(!d.line_too_long());
        d.decode(b"123456789\r\n", &mut out).unwrap();
        assert!(d.line_too_long());
    }

    type Split = (Result<Option<usize>, DataError>, Vec<u8>, bool);

    /// Byte-by-byte feeding never takes the word-at-a-time path, so comparing it with whole
    /// feeding checks that path against the byte-wise one, line-length flag included.
    fn decode_split(input: &[u8], cuts: &[usize], policy: BareLineEnding) -> Split {
        let mut d = DataDecoder::new(policy, 14);
        let mut out = BytesMut::new();
        let mut pos = 0;
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.sort_unstable();
        points.push(input.len());
        for p in points {
            if p < pos {
                continue;
            }
            match d.decode(&input[pos..p], &mut out) {
                Err(e) => return (Err(e), out.to_vec(), d.line_too_long()),
                Ok(r) if r.end => {
                    return (Ok(Some(pos + r.consumed)), out.to_vec(), d.line_too_long());
                }
                Ok(r) => pos += r.consumed,
            }
        }
        (Ok(None), out.to_vec(), d.line_too_long())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn stuff_then_unstuff(body in proptest::collection::vec(prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), Just(b'a')], 0..40)) {
            let mut wire = BytesMut::new();
            dot_stuff(&body, &mut wire);
            wire.extend_from_slice(b"NEXT");
            let (r, out) = run(BareLineEnding::Reject, &wire);
            prop_assert_eq!(r, Ok(Some(wire.len() - 4)));
            // The content is the body with line endings made CRLF and a final CRLF.
            let mut expect = BytesMut::new();
            let mut s = DotStuffer::new();
            s.encode(&body, &mut expect);
            let mut norm = Vec::new();
            let mut i = 0;
            while i < body.len() {
                match (body[i], body.get(i + 1)) {
                    (b'\r', Some(b'\n')) => { norm.extend_from_slice(b"\r\n"); i += 2; }
                    (b'\r' | b'\n', _) => { norm.extend_from_slice(b"\r\n"); i += 1; }
                    (c, _) => { norm.push(c); i += 1; }
                }
            }
            if !norm.is_empty() && !norm.ends_with(b"\r\n") { norm.extend_from_slice(b"\r\n"); }
            prop_assert_eq!(out, norm);
        }

        #[test]
        fn split_anywhere(input in proptest::collection::vec(prop_oneof![1 => Just(&b"."[..]), 1 => Just(&b"\r"[..]), 1 => Just(&b"\n"[..]), 1 => Just(&b"\r\n"[..]), 1 => Just(&b"\r\n."[..]), 6 => Just(&b"a"[..])].prop_map(<[u8]>::to_vec), 0..80),
                          cuts in proptest::collection::vec(any::<usize>(), 0..6), normalize: bool) {
            let input: Vec<u8> = input.concat();
            let policy = if normalize { BareLineEnding::Normalize } else { BareLineEnding::Reject };
            let whole = decode_split(&input, &[], policy);
            prop_assert_eq!(decode_split(&input, &cuts, policy), whole.clone());
            let one_by_one: Vec<usize> = (0..input.len()).collect();
            prop_assert_eq!(decode_split(&input, &one_by_one, policy), whole);
        }
    }
}
