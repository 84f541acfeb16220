//! The streaming scanner: any `Read` in, [`Entry`]s out, in a buffer of bounded size.
//!
//! Separators are found with a SIMD `memmem` search for `\nFrom `; between separators the scanner
//! does not look at the bytes at all unless the caller asked for the message text. Memory use is
//! the buffer (`ReadOptions::buffer_size`), which grows only to hold one `From ` line or one header
//! block, each bounded by its own option.

use std::io::{self, Read, Write};

use memchr::memmem;

use super::headers::parse_metadata;
use super::unquote::Unquoter;
use crate::Error;
use crate::types::{Entry, FromLine, LineEnding, Metadata, Tolerated, Variant};

/// Bytes kept before the scan position so that a blank line before `From ` can be seen.
const LOOKBACK: usize = 3;
/// Bytes at the end of the buffer never forwarded before more data arrives: a `\r\n` blank line
/// and a partial `\nFrom `.
const TAIL: usize = 8;

/// Reader settings. Every limit has a documented default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// The dialect: how `From ` lines are unquoted and whether `Content-Length:` frames messages.
    /// Default [`Variant::Mboxrd`].
    pub variant: Variant,
    /// Size of the read buffer. Default 256 KiB. A `Content-Length` body that fits in it is
    /// checked before any of it is used, and a wrong length costs nothing; a larger body is
    /// streamed through and its length checked at its declared end (if wrong, the message then
    /// runs to the next separator after that point).
    pub buffer_size: usize,
    /// Longest `From ` line looked at; the rest is ignored and reported. Default 4 KiB.
    pub max_from_line: usize,
    /// Largest header block parsed for metadata; past it the message is still read, but its
    /// metadata may be incomplete and this is reported. Default 256 KiB.
    pub max_header_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            variant: Variant::Mboxrd,
            buffer_size: 256 * 1024,
            max_from_line: 4096,
            max_header_bytes: 256 * 1024,
        }
    }
}

impl ReadOptions {
    /// Default options for `variant`.
    pub fn new(variant: Variant) -> Self {
        ReadOptions {
            variant,
            ..ReadOptions::default()
        }
    }
}

/// Where the unquoted text of the current message goes, if anywhere.
struct Sink<'a> {
    out: Option<&'a mut dyn Write>,
    unquoter: Unquoter,
}

impl Sink<'_> {
    fn forward(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) if !bytes.is_empty() => self.unquoter.feed(bytes, &mut **out),
            _ => Ok(()),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => self.unquoter.finish(&mut **out),
            None => Ok(()),
        }
    }
}

/// Streaming mbox reader over any [`Read`].
///
/// Call [`Reader::next_entry`] to walk the messages (positions, `From ` line, flags) without
/// touching their text, or [`Reader::next_message`] / [`Reader::next_message_to`] to also get the
/// unquoted text. Memory stays bounded whatever the file size. Reading never panics and never
/// fails on malformed input: what it works around is listed in [`Entry::tolerated`].
pub struct Reader<R> {
    inner: R,
    opts: ReadOptions,
    buf: Vec<u8>,
    filled: usize,
    pos: usize,
    base: u64,
    eof: bool,
    started: bool,
    index: u64,
    raw_next: bool,
    finder: memmem::Finder<'static>,
}

impl<R> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("opts", &self.opts)
            .field("offset", &(self.base + self.pos as u64))
            .field("index", &self.index)
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Reader<R> {
    /// A reader with default options (mboxrd).
    pub fn new(inner: R) -> Self {
        Self::with_options(inner, ReadOptions::default())
    }

    /// A reader with the given options.
    pub fn with_options(inner: R, opts: ReadOptions) -> Self {
        let size = opts.buffer_size.max(64);
        Reader {
            inner,
            opts,
            buf: vec![0; size],
            filled: 0,
            pos: 0,
            base: 0,
            eof: false,
            started: false,
            index: 0,
            raw_next: false,
            finder: memmem::Finder::new(b"\nFrom ").into_owned(),
        }
    }

    /// Offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The options in use.
    pub fn options(&self) -> &ReadOptions {
        &self.opts
    }

    /// The next message's position and metadata, skipping its text.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, Error> {
        self.next_inner(None)
    }

    /// The next message; its unquoted text replaces the contents of `text`.
    pub fn next_message(&mut self, text: &mut Vec<u8>) -> Result<Option<Entry>, Error> {
        text.clear();
        self.next_inner(Some(text))
    }

    /// The next message; its unquoted text is written to `out` as it is read.
    pub fn next_message_to(&mut self, out: &mut dyn Write) -> Result<Option<Entry>, Error> {
        self.next_inner(Some(out))
    }

    /// The next message; its text is written to `out` exactly as stored (still quoted).
    pub fn next_raw_to(&mut self, out: &mut dyn Write) -> Result<Option<Entry>, Error> {
        self.raw_next = true;
        let r = self.next_inner(Some(out));
        self.raw_next = false;
        r
    }

    /// Moves `buf[keep_from..filled]` to the front and reads more. Returns how far indices
    /// moved left. Sets `eof` when the reader is exhausted.
    fn refill(&mut self, keep_from: usize) -> io::Result<usize> {
        let keep_from = keep_from.min(self.pos).min(self.filled);
        if keep_from > 0 {
            self.buf.copy_within(keep_from..self.filled, 0);
            self.filled -= keep_from;
            self.pos -= keep_from;
            self.base += keep_from as u64;
        }
        if self.filled == self.buf.len() {
            let len = self.buf.len();
            self.buf.resize(len * 2, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.filled += n;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(keep_from)
    }

    /// Makes `buf[pos..]` hold at least `n` bytes, unless the input ends first.
    fn want(&mut self, n: usize) -> io::Result<()> {
        while self.filled - self.pos < n && !self.eof {
            let keep = self.pos.saturating_sub(LOOKBACK);
            self.refill(keep)?;
        }
        Ok(())
    }

    fn abs(&self, i: usize) -> u64 {
        self.base + i as u64
    }

    /// Length of the blank line that ends just before `buf[h]` (the `\n` of `\nFrom `), counting
    /// only bytes at or after absolute offset `lower`: 0, 1 (`\n`) or 2 (`\r\n`).
    fn blank_before(&self, h: usize, lower: u64) -> usize {
        // The blank line's own newline is buf[h]; the line before it ends at h-1 or h-2.
        if h >= 1 && self.abs(h) > lower && self.buf[h - 1] == b'\n' {
            return 1;
        }
        if h >= 2 && self.abs(h - 1) > lower && self.buf[h - 1] == b'\r' && self.buf[h - 2] == b'\n'
        {
            return 2;
        }
        // A blank line right at the start of the content (an empty message): the From line's own
        // newline precedes it.
        if self.abs(h) == lower && h >= 1 {
            return 1;
        }
        if self.abs(h - 1) == lower && h >= 1 && self.buf[h - 1] == b'\r' {
            return 2;
        }
        0
    }

    /// Finds the next `\nFrom ` at or after `*scan`, forwarding the text before it that can no
    /// longer be part of a separator. Returns its index with the whole line (or
    /// `max_from_line` bytes of it) in the buffer, or `None` at the end of input.
    fn next_candidate(
        &mut self,
        scan: &mut usize,
        sink: &mut Sink<'_>,
    ) -> Result<Option<usize>, Error> {
        loop {
            if let Some(i) = self.finder.find(&self.buf[*scan..self.filled]) {
                let h = *scan + i;
                let ls = h + 1;
                let complete = memchr::memchr(b'\n', &self.buf[ls..self.filled]).is_some();
                if complete || self.eof || self.filled - ls >= self.opts.max_from_line {
                    return Ok(Some(h));
                }
                let shift = self.refill(self.pos.min(h).saturating_sub(LOOKBACK))?;
                *scan = h - shift;
                continue;
            }
            if self.eof {
                return Ok(None);
            }
            let safe = self.filled.saturating_sub(TAIL).max(self.pos);
            sink.forward(&self.buf[self.pos..safe])?;
            self.pos = safe;
            *scan = (*scan).max(self.filled.saturating_sub(TAIL - 2));
            let shift = self.refill(self.pos.saturating_sub(LOOKBACK))?;
            *scan -= shift;
        }
    }

    /// The line starting at `ls` (without its line ending), at most `max_from_line` bytes, and
    /// whether it was cut.
    fn line_at(&self, ls: usize) -> (&[u8], bool) {
        let avail = &self.buf[ls..self.filled];
        let limit = avail.len().min(self.opts.max_from_line);
        match memchr::memchr(b'\n', &avail[..limit]) {
            Some(k) => (&avail[..k], false),
            None => (
                &avail[..limit],
                limit == self.opts.max_from_line || !self.eof,
            ),
        }
    }

    fn next_inner(&mut self, out: Option<&mut dyn Write>) -> Result<Option<Entry>, Error> {
        let mut tolerated = Vec::new();
        if !self.started {
            self.started = true;
            self.skip_leading(&mut tolerated)?;
        }
        self.want(5)?;
        if self.pos >= self.filled {
            return Ok(None);
        }
        // Invariant: buf[pos..] starts with "From " (or is what is left of a damaged file).
        let offset = self.abs(self.pos);

        // The From line.
        let (from_line, cut, line_ending, line_len) = loop {
            let (line, cut) = self.line_at(self.pos);
            if cut && !self.eof && self.filled - self.pos < self.opts.max_from_line {
                let keep = self.pos.saturating_sub(LOOKBACK);
                self.refill(keep)?;
                continue;
            }
            let ending = if line.last() == Some(&b'\r') {
                LineEnding::CrLf
            } else {
                LineEnding::Lf
            };
            break (FromLine::parse(line), cut, ending, line.len());
        };
        if cut {
            tolerated.push(Tolerated::FromLineTooLong { offset });
        }
        if !from_line.is_well_formed() {
            tolerated.push(Tolerated::MalformedFromLine { offset });
        }
        // Skip the rest of the From line (it may be longer than the buffer).
        self.pos += line_len;
        loop {
            if let Some(k) = memchr::memchr(b'\n', &self.buf[self.pos..self.filled]) {
                self.pos += k + 1;
                break;
            }
            self.pos = self.filled;
            if self.eof {
                break;
            }
            let keep = self.pos.saturating_sub(LOOKBACK);
            self.refill(keep)?;
        }
        let content_start = self.abs(self.pos);

        // The header block, whole in the buffer (bounded by max_header_bytes).
        let (header_len, body_start) = loop {
            match header_end(
                &self.buf[self.pos..self.filled],
                self.opts.max_header_bytes,
                self.eof,
            ) {
                HeaderEnd::Found { len, blank } => break (len, blank.then_some(len)),
                HeaderEnd::TooLong(len) => {
                    tolerated.push(Tolerated::HeaderTooLong {
                        offset: content_start,
                    });
                    break (len, None);
                }
                HeaderEnd::NeedMore => {
                    let keep = self.pos.saturating_sub(LOOKBACK);
                    self.refill(keep)?;
                }
            }
        };
        let (metadata, content_length) = if header_len > 0 {
            parse_metadata(&self.buf[self.pos..self.pos + header_len])
        } else {
            (Metadata::default(), None)
        };

        let unquoter = if self.raw_next {
            Unquoter::raw()
        } else {
            Unquoter::new(self.opts.variant)
        };
        let mut sink = Sink { out, unquoter };
        let mut done = None;
        if let (true, Some(n), Some(body_off)) = (
            self.opts.variant.uses_content_length(),
            content_length,
            body_start,
        ) {
            done = self.by_content_length(
                content_start + body_off as u64,
                n,
                &mut sink,
                &mut tolerated,
            )?;
        }
        let (content_end, end) = match done {
            Some(r) => r,
            None => self.by_scanning(content_start, &mut sink, &mut tolerated)?,
        };
        sink.finish()?;
        let entry = Entry {
            index: self.index,
            from_line,
            offset,
            content: content_start..content_end.max(content_start),
            end,
            metadata,
            content_length,
            line_ending,
            tolerated,
        };
        self.index += 1;
        Ok(Some(entry))
    }

    /// Skips anything before the first `From ` line.
    fn skip_leading(&mut self, tolerated: &mut Vec<Tolerated>) -> Result<(), Error> {
        self.want(5)?;
        if self.buf[self.pos..self.filled].starts_with(b"From ") || self.pos >= self.filled {
            return Ok(());
        }
        let start = self.abs(self.pos);
        let mut junk = Junk(false);
        {
            let mut sink = Sink {
                out: Some(&mut junk),
                unquoter: Unquoter::raw(),
            };
            let mut scan = self.pos;
            let found = self.next_candidate(&mut scan, &mut sink)?;
            let upto = found.map_or(self.filled, |h| h + 1);
            sink.forward(&self.buf[self.pos..upto])?;
            self.pos = upto;
        }
        if junk.0 {
            let len = self.abs(self.pos) - start;
            tolerated.push(Tolerated::LeadingGarbage { offset: start, len });
        }
        Ok(())
    }

    /// Content-Length framing (mboxcl, mboxcl2). Returns `None` when the length does not check
    /// out and scanning must decide; forwarded text is then still valid (the message is at least
    /// that long), or nothing was forwarded.
    fn by_content_length(
        &mut self,
        body: u64,
        n: u64,
        sink: &mut Sink<'_>,
        tolerated: &mut Vec<Tolerated>,
    ) -> Result<Option<(u64, u64)>, Error> {
        let target = body.saturating_add(n);
        let fits = target
            .checked_sub(self.abs(self.pos))
            .is_some_and(|span| span.saturating_add(16) < self.opts.buffer_size.max(64) as u64);
        if fits {
            // Peek without forwarding, so a bad length costs nothing.
            let need = (target - self.abs(self.pos)) as usize + 8;
            self.want(need)?;
            let t = (target - self.base) as usize;
            if let Some(next) = self.after_body(t) {
                sink.forward(&self.buf[self.pos..t.min(self.filled)])?;
                self.pos = next;
                return Ok(Some((target, self.abs(next))));
            }
            tolerated.push(Tolerated::ContentLengthMismatch {
                offset: body,
                declared: n,
            });
            return Ok(None);
        }
        // A body larger than the buffer: stream it through, then check where it ends.
        while self.abs(self.filled) < target && !self.eof {
            sink.forward(&self.buf[self.pos..self.filled])?;
            self.pos = self.filled;
            self.refill(self.pos.saturating_sub(LOOKBACK))?;
        }
        if self.abs(self.filled) < target {
            // Truncated file: the rest of it is this message.
            tolerated.push(Tolerated::ContentLengthMismatch {
                offset: body,
                declared: n,
            });
            return Ok(None);
        }
        let t = (target - self.base) as usize;
        sink.forward(&self.buf[self.pos..t])?;
        self.pos = t;
        self.want(8)?;
        if let Some(next) = self.after_body(self.pos) {
            self.pos = next;
            return Ok(Some((target, self.abs(next))));
        }
        tolerated.push(Tolerated::ContentLengthMismatch {
            offset: body,
            declared: n,
        });
        Ok(None)
    }

    /// Where the next message starts if a body ends at `t`: `t` must be followed by the end of
    /// the input, `From `, or a blank line and then one of those.
    fn after_body(&self, t: usize) -> Option<usize> {
        if t > self.filled {
            return None;
        }
        let rest = &self.buf[t..self.filled];
        let at_line_start = t == 0 || self.buf[t - 1] == b'\n';
        if rest.is_empty() && self.eof {
            return Some(t);
        }
        if at_line_start && rest.starts_with(b"From ") {
            return Some(t);
        }
        for sep in [&b"\n"[..], b"\r\n"] {
            if let Some(after) = rest.strip_prefix(sep)
                && (after.starts_with(b"From ") || (after.is_empty() && self.eof))
            {
                return Some(t + sep.len());
            }
        }
        None
    }

    /// Finds the end of the message at `self.pos` by looking for the next separator.
    fn by_scanning(
        &mut self,
        content_start: u64,
        sink: &mut Sink<'_>,
        tolerated: &mut Vec<Tolerated>,
    ) -> Result<(u64, u64), Error> {
        let mut scan = self.pos.saturating_sub(1);
        loop {
            let Some(h) = self.next_candidate(&mut scan, sink)? else {
                return self.end_of_input(content_start, sink, tolerated);
            };
            let ls = h + 1;
            if self.abs(ls) <= content_start {
                // The newline of the From line itself: not a candidate (the header scan would
                // have stopped there), but a `From ` at content start is checked below.
                if self.abs(ls) < content_start {
                    scan = h + 1;
                    continue;
                }
            }
            let blank = self.blank_before(h, content_start);
            let separator = blank > 0 || {
                let (line, _) = self.line_at(ls);
                FromLine::parse(line).is_well_formed()
            };
            if !separator {
                tolerated.push(Tolerated::UnquotedFromLine {
                    offset: self.abs(ls),
                });
                scan = h + 1;
                continue;
            }
            if blank == 0 {
                tolerated.push(Tolerated::MissingBlankLine {
                    offset: self.abs(ls),
                });
            }
            let content_end = (h + 1 - blank).max(self.pos);
            sink.forward(&self.buf[self.pos..content_end])?;
            self.pos = ls;
            return Ok((self.abs(content_end), self.abs(ls)));
        }
    }

    fn end_of_input(
        &mut self,
        content_start: u64,
        sink: &mut Sink<'_>,
        tolerated: &mut Vec<Tolerated>,
    ) -> Result<(u64, u64), Error> {
        let end_abs = self.abs(self.filled);
        let mut end = self.filled;
        if end_abs > content_start {
            if self.buf[end - 1] == b'\n' {
                let blank = self.blank_before(end - 1, content_start);
                if blank > 0 {
                    end -= blank;
                } else {
                    tolerated.push(Tolerated::MissingFinalBlankLine { offset: end_abs });
                }
            } else {
                tolerated.push(Tolerated::MissingTrailingNewline { offset: end_abs });
            }
        }
        let end = end.max(self.pos);
        sink.forward(&self.buf[self.pos..end])?;
        let content_end = self.abs(end);
        self.pos = self.filled;
        Ok((content_end, end_abs))
    }
}

enum HeaderEnd {
    /// The header block is `len` bytes (including the blank line when `blank`).
    Found { len: usize, blank: bool },
    /// More than the limit without an end; parse the first `.0` bytes.
    TooLong(usize),
    /// The block continues past the buffered bytes.
    NeedMore,
}

/// Where the header block at the start of `data` ends: at an empty line (included), at a line
/// starting with `From ` (excluded: a message without body whose separator lacks a blank line),
/// or at the end of input.
fn header_end(data: &[u8], max: usize, eof: bool) -> HeaderEnd {
    let mut i = 0;
    loop {
        if i >= max {
            return HeaderEnd::TooLong(i.min(data.len()));
        }
        let rest = &data[i..];
        if rest.starts_with(b"From ") {
            return HeaderEnd::Found {
                len: i,
                blank: false,
            };
        }
        match memchr::memchr(b'\n', rest) {
            Some(k) => {
                // Only whole lines within the limit count, whatever is buffered beyond it.
                if i + k + 1 > max {
                    return HeaderEnd::TooLong(i);
                }
                let line = &rest[..k];
                if line.is_empty() || line == b"\r" {
                    return HeaderEnd::Found {
                        len: i + k + 1,
                        blank: true,
                    };
                }
                i += k + 1;
            }
            None if eof && data.len() > max => return HeaderEnd::TooLong(i),
            None if eof => {
                return HeaderEnd::Found {
                    len: data.len(),
                    blank: false,
                };
            }
            // A partial line that may still turn out to be a `From ` line needs more data.
            None if data.len() >= max && rest.len() >= 5 => return HeaderEnd::TooLong(i),
            None => return HeaderEnd::NeedMore,
        }
    }
}

/// A sink that only notes whether it saw anything but whitespace.
struct Junk(bool);

impl Write for Junk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 |= buf.iter().any(|b| !b.is_ascii_whitespace());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8], opts: ReadOptions) -> Vec<(Entry, Vec<u8>)> {
        let mut r = Reader::with_options(data, opts);
        let mut out = Vec::new();
        let mut text = Vec::new();
        while let Some(e) = r.next_message(&mut text).unwrap() {
            out.push((e, text.clone()));
        }
        out
    }

    const D: &str = "Sat Nov 28 12:34:56 2026";

    #[test]
    fn splits_and_unquotes_mboxrd() {
        let file = format!(
            "From a@x {D}\nSubject: 1\nStatus: RO\n\n>From here\n>>From there\n\nFrom b@y {D}\nSubject: 2\n\nbye\n\n"
        );
        let msgs = read_all(file.as_bytes(), ReadOptions::default());
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0].1,
            b"Subject: 1\nStatus: RO\n\nFrom here\n>From there\n"
        );
        assert!(msgs[0].0.metadata.flags.seen);
        assert_eq!(msgs[0].0.from_line.sender(), "a@x");
        assert_eq!(msgs[1].1, b"Subject: 2\n\nbye\n");
        assert!(msgs.iter().all(|m| m.0.tolerated.is_empty()), "{msgs:?}");
        assert_eq!(msgs[1].0.offset, msgs[0].0.end);
        assert_eq!(msgs[1].0.end, file.len() as u64);
    }

    #[test]
    fn tolerates_damage() {
        // Garbage first, a missing blank line, an unquoted body From line, no final newline.
        let file = format!(
            "junk\nFrom a@x {D}\nS: 1\n\nbody\nFrom b@y {D}\nS: 2\n\nbody\nFrom the start\nend"
        );
        let msgs = read_all(file.as_bytes(), ReadOptions::default());
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert_eq!(msgs[0].1, b"S: 1\n\nbody\n");
        assert!(matches!(
            msgs[0].0.tolerated[0],
            Tolerated::LeadingGarbage { offset: 0, len: 5 }
        ));
        assert!(matches!(
            msgs[0].0.tolerated[1],
            Tolerated::MissingBlankLine { .. }
        ));
        assert_eq!(msgs[1].1, b"S: 2\n\nbody\nFrom the start\nend");
        let t = &msgs[1].0.tolerated;
        assert!(
            t.iter()
                .any(|t| matches!(t, Tolerated::UnquotedFromLine { .. })),
            "{t:?}"
        );
        assert!(
            t.iter()
                .any(|t| matches!(t, Tolerated::MissingTrailingNewline { .. })),
            "{t:?}"
        );
    }

    #[test]
    fn crlf_files() {
        let file =
            format!("From a@x {D}\r\nS: 1\r\n\r\nhi\r\n\r\nFrom b@y {D}\r\nS: 2\r\n\r\nyo\r\n\r\n");
        let msgs = read_all(file.as_bytes(), ReadOptions::default());
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].1, b"S: 1\r\n\r\nhi\r\n");
        assert_eq!(msgs[1].1, b"S: 2\r\n\r\nyo\r\n");
        assert_eq!(msgs[0].0.line_ending, LineEnding::CrLf);
        assert!(msgs.iter().all(|m| m.0.tolerated.is_empty()), "{msgs:?}");
    }

    #[test]
    fn content_length_framing() {
        let file = format!(
            "From a@x {D}\nContent-Length: 17\n\nFrom not a sep\nx\n\nFrom b@y {D}\nContent-Length: 99\n\nshort\n\n"
        );
        let msgs = read_all(file.as_bytes(), ReadOptions::new(Variant::Mboxcl2));
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert_eq!(msgs[0].1, b"Content-Length: 17\n\nFrom not a sep\nx\n");
        assert!(msgs[0].0.tolerated.is_empty());
        assert_eq!(msgs[1].1, b"Content-Length: 99\n\nshort\n");
        assert!(matches!(
            msgs[1].0.tolerated[0],
            Tolerated::ContentLengthMismatch { declared: 99, .. }
        ));
    }

    #[test]
    fn empty_and_tiny_inputs() {
        assert!(read_all(b"", ReadOptions::default()).is_empty());
        assert!(read_all(b"\n\n", ReadOptions::default()).is_empty());
        let msgs = read_all(
            format!("From a {D}\n\nFrom b {D}\n").as_bytes(),
            ReadOptions::default(),
        );
        assert_eq!(msgs.len(), 2);
        assert!(msgs[0].1.is_empty() && msgs[1].1.is_empty());
    }

    #[test]
    fn small_buffers_give_the_same_entries() {
        let mut file = String::new();
        for i in 0..50 {
            use std::fmt::Write as _;
            let lines = "line\n".repeat(i);
            let _ = write!(
                file,
                "From s{i}@x {D}\nSubject: {i}\n\n{lines}\n>From q\n\n"
            );
        }
        let whole = read_all(file.as_bytes(), ReadOptions::default());
        assert_eq!(whole.len(), 50);
        for size in [64, 65, 100, 333] {
            let opts = ReadOptions {
                buffer_size: size,
                ..ReadOptions::default()
            };
            assert_eq!(read_all(file.as_bytes(), opts), whole, "buffer {size}");
        }
    }
}
