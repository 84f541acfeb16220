//! The framer: splits a byte stream into complete commands (or responses), literals included.
//!
//! A command is one or more lines; a line that ends with a literal header `{n}` CRLF or `{n+}` CRLF
//! (RFC 3501 §4.3, RFC 7888) is followed by `n` octets and then the rest of the command. The framer
//! enforces every limit of [`FramerConfig`] before it buffers anything: a refused literal is never
//! allocated (its octets, if the client sends them anyway, are skipped as they arrive), and the tag of
//! a refused command is recovered so that the server can answer `tag BAD` and go on.
//!
//! Call order: [`Framer::handle_input`] with bytes read from the peer, then [`Framer::poll_event`]
//! until it returns `None`.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::types::core::{IntoStatic, LiteralMode, Tag, chars};

/// Limits of the framer. Every field has a documented default; the defaults differ for the two
/// sides, [`FramerConfig::commands`] (the server's, also [`Default`]) and
/// [`FramerConfig::responses`] (the client's). A session picks the side itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramerConfig {
    /// Longest line (literal octets excluded), CRLF included. Default 64 KiB: RFC 7162 §4 asks
    /// for at least 8192 octets, and Dovecot takes `ID` and `SEARCH` lines of 64 KiB.
    pub max_line: usize,
    /// Largest literal outside APPEND. Default 64 KiB (commands), 64 MiB (responses: a FETCH of a
    /// whole message).
    pub max_literal: u32,
    /// Largest APPEND message literal, the value to advertise as `APPENDLIMIT` (RFC 7889).
    /// Default 50 MiB. Not used for responses.
    pub max_append_literal: u32,
    /// Largest whole command or response outside APPEND, lines and literals together. Default
    /// 1 MiB (commands), 128 MiB (responses).
    pub max_command: usize,
    /// Largest non-synchronizing literal: `Some(4096)` for LITERAL- (RFC 7888 §4), `None` for
    /// LITERAL+ (then only the other limits apply). Default `None`. Not used for responses.
    pub max_non_sync_literal: Option<u32>,
}

impl Default for FramerConfig {
    fn default() -> Self {
        Self::commands()
    }
}

impl FramerConfig {
    /// The defaults for framing commands (server side).
    pub fn commands() -> Self {
        Self {
            max_line: 64 * 1024,
            max_literal: 64 * 1024,
            max_append_literal: 50 * 1024 * 1024,
            max_command: 1024 * 1024,
            max_non_sync_literal: None,
        }
    }

    /// The defaults for framing responses (client side).
    pub fn responses() -> Self {
        Self {
            max_line: 64 * 1024,
            max_literal: 64 * 1024 * 1024,
            max_append_literal: 64 * 1024 * 1024,
            max_command: 128 * 1024 * 1024,
            max_non_sync_literal: None,
        }
    }
}

/// What a [`Framer`] splits: commands from a client or responses from a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramerSide {
    /// Commands (server side): synchronizing literals need a `+`, APPEND messages are streamed.
    Commands,
    /// Responses (client side): literals follow at once; nothing is streamed.
    Responses,
}

/// Why the framer refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A line is longer than `max_line`.
    #[error("line longer than {limit} octets")]
    LineTooLong {
        /// The limit.
        limit: usize,
    },
    /// A literal is larger than the limit that applies to it.
    #[error("literal of {length} octets exceeds the limit of {limit}")]
    LiteralTooLarge {
        /// The announced length.
        length: u64,
        /// The limit that applied.
        limit: u32,
        /// Whether the limit was the APPEND one (answer `NO [TOOBIG]`, RFC 7889).
        append: bool,
    },
    /// A non-synchronizing literal is larger than LITERAL- allows (RFC 7888 §4).
    #[error("non-synchronizing literal of {length} octets exceeds {limit} (LITERAL-)")]
    NonSyncLiteralTooLarge {
        /// The announced length.
        length: u64,
        /// The limit.
        limit: u32,
    },
    /// The command as a whole (lines and literals) is larger than `max_command`.
    #[error("command larger than {limit} octets")]
    CommandTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A line ends in LF without CR (RFC 3501 §2.2 requires CRLF).
    #[error("line ends in a bare LF")]
    BareLf,
}

/// What the framer found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FramerEvent {
    /// A complete command or response: every line and literal, the final CRLF included.
    Frame(Bytes),
    /// A synchronizing literal was accepted: the server must send a `+` continuation request now
    /// (RFC 3501 §7.5). Never emitted when framing responses.
    ContinuationNeeded {
        /// The tag of the command, if it has a valid one.
        tag: Option<Tag<'static>>,
        /// The announced length.
        length: u32,
    },
    /// A command was refused and its octets discarded; answer `tag BAD` (or `NO [TOOBIG]`) and go on.
    Refused {
        /// The tag of the command, if it has a valid one (else answer `* BAD`).
        tag: Option<Tag<'static>>,
        /// Why.
        error: FrameError,
        /// Whether the client was left waiting for a `+` that will not come (a refused sync literal):
        /// it expects the tagged answer before it goes on.
        sync_literal: bool,
    },
    /// An APPEND message literal starts (commands only); chunks follow. For a `{n}`
    /// literal the server must send `+` (or refuse with [`Framer::reject_literal`]); no
    /// [`FramerEvent::ContinuationNeeded`] is emitted for it. The line right after a message
    /// literal may start the next message of a MULTIAPPEND (RFC 3502) the same way.
    LiteralStart {
        /// The command up to the literal header (`tag APPEND mailbox [flags] [date] `), or for
        /// the next message of a MULTIAPPEND the line up to it (` [flags] [date] `).
        prefix: Bytes,
        /// The literal's length.
        length: u32,
        /// `{n}` or `{n+}`.
        mode: LiteralMode,
    },
    /// Octets of a streamed literal; `remaining` more follow. After the last chunk the rest of the
    /// command comes as a new [`FramerEvent::Frame`] (normally just CRLF).
    LiteralChunk {
        /// The octets.
        data: Bytes,
        /// Octets of the literal still to come.
        remaining: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Line,
    Literal { remaining: usize },
    Stream { remaining: u32 },
    Discard { skip: u64 },
}

/// Splits input into frames; see the module docs.
#[derive(Debug)]
pub struct Framer {
    options: FramerConfig,
    side: FramerSide,
    buf: BytesMut,
    /// Where the current line starts; `buf[..scan]` is the frame so far.
    scan: usize,
    /// Where to resume looking for LF in the current line.
    lf_from: usize,
    state: State,
    /// Whether the literal being streamed is synchronizing.
    stream_sync: bool,
    /// An APPEND message literal just ended: the next line may announce the next message of a
    /// MULTIAPPEND (RFC 3502), streamed alike.
    append_more: bool,
    /// Looks for a `{n+}` CRLF line end in octets being discarded.
    header_scan: HeaderScan,
    events: VecDeque<FramerEvent>,
}

impl Framer {
    /// A framer for one side with these limits.
    pub fn new(side: FramerSide, options: FramerConfig) -> Self {
        Self {
            options,
            side,
            buf: BytesMut::new(),
            scan: 0,
            lf_from: 0,
            state: State::Line,
            stream_sync: false,
            append_more: false,
            header_scan: HeaderScan::default(),
            events: VecDeque::new(),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &FramerConfig {
        &self.options
    }

    /// Whether the next octet starts a new line of a command (nothing of a line or literal is
    /// buffered): a session arms its per-command deadline at such an octet.
    pub fn at_frame_start(&self) -> bool {
        self.state == State::Line && self.buf.is_empty()
    }

    /// Whether literal octets are being read (buffered or streamed) or skipped; not while the
    /// rest of a refused line is skipped.
    pub fn in_literal(&self) -> bool {
        match self.state {
            State::Line => false,
            State::Literal { .. } | State::Stream { .. } => true,
            State::Discard { skip } => skip > 0,
        }
    }

    /// Takes everything buffered and starts afresh: the octets that followed a COMPRESS command
    /// (RFC 4978 §3: they are compressed, to be inflated and fed back).
    pub fn take_buffered(&mut self) -> bytes::Bytes {
        let rest = self.buf.split().freeze();
        self.discard_buffered();
        rest
    }

    /// Feeds bytes read from the peer. Drain [`Framer::poll_event`] before feeding more.
    pub fn handle_input(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Octets received and not yet framed (e.g. to discard after STARTTLS).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Drops everything buffered and starts afresh (STARTTLS: RFC 3501 §6.2.1 forbids acting on
    /// plaintext sent after the command). Returns how many octets were dropped.
    pub fn discard_buffered(&mut self) -> usize {
        let n = self.buf.len();
        self.buf.clear();
        self.scan = 0;
        self.lf_from = 0;
        self.state = State::Line;
        self.append_more = false;
        self.header_scan = HeaderScan::default();
        self.events.clear();
        n
    }

    /// The command received so far, up to and including the header of a literal just announced
    /// (to check it before answering `+`).
    pub fn pending_frame(&self) -> &[u8] {
        match self.state {
            State::Literal { .. } => &self.buf[..self.scan],
            _ => &[],
        }
    }

    /// Refuses the literal just announced by [`FramerEvent::ContinuationNeeded`] or
    /// [`FramerEvent::LiteralStart`]: the command is dropped. A synchronizing literal's octets will
    /// not come (the client waits for `+`); a non-synchronizing one's are skipped as they arrive.
    pub fn reject_literal(&mut self) {
        match self.state {
            State::Literal { .. } => {
                self.buf.advance(self.scan);
                self.scan = 0;
                self.lf_from = 0;
                self.state = State::Line;
            }
            State::Stream { remaining } => {
                self.state = if self.stream_sync {
                    State::Line
                } else {
                    State::Discard {
                        skip: u64::from(remaining),
                    }
                };
            }
            _ => {}
        }
    }

    /// The next event, or `None` when more input is needed.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<FramerEvent> {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Some(ev);
            }
            if !self.step() {
                return self.events.pop_front();
            }
        }
    }

    /// The tag of the frame being read, if it has a valid one. Only the first
    /// `min(max_line, 128)` octets are looked at, so that the answer does not depend on how much of
    /// an overlong line has arrived.
    fn frame_tag(&self) -> Option<Tag<'static>> {
        let window = &self.buf[..self.buf.len().min(self.options.max_line.min(128))];
        let n = window.iter().position(|&b| !chars::is_tag_char(b))?;
        if n == 0 || window[n] != b' ' {
            return None;
        }
        Tag::try_from(std::str::from_utf8(&window[..n]).ok()?)
            .ok()
            .map(IntoStatic::into_static)
    }

    /// Whether the frame ending at `p` is an APPEND (its first line says so).
    fn is_append(&self, p: usize) -> bool {
        let frame = &self.buf[..=p];
        let Some(n) = frame.iter().position(|&b| b == b' ' || b == b'\n') else {
            return false;
        };
        frame.len() > n + 7
            && frame[n] == b' '
            && frame[n + 1..n + 7].eq_ignore_ascii_case(b"APPEND")
            && frame[n + 7] == b' '
    }

    fn refuse(&mut self, error: FrameError, sync_literal: bool) {
        let tag = self.frame_tag();
        self.events.push_back(FramerEvent::Refused {
            tag,
            error,
            sync_literal,
        });
    }

    /// Makes progress; returns false when it needs more input.
    fn step(&mut self) -> bool {
        match self.state {
            State::Line => self.step_line(),
            State::Literal { remaining } => {
                if self.buf.len() < self.scan + remaining {
                    return false;
                }
                self.scan += remaining;
                self.lf_from = self.scan;
                self.state = State::Line;
                true
            }
            State::Stream { remaining } => {
                if self.buf.is_empty() {
                    return false;
                }
                let k = self.buf.len().min(remaining as usize);
                let data = self.buf.split_to(k).freeze();
                let remaining = remaining - k as u32;
                self.events
                    .push_back(FramerEvent::LiteralChunk { data, remaining });
                self.append_more = remaining == 0;
                self.state = if remaining == 0 {
                    State::Line
                } else {
                    State::Stream { remaining }
                };
                self.scan = 0;
                self.lf_from = 0;
                true
            }
            State::Discard { skip } => {
                if skip > 0 {
                    if self.buf.is_empty() {
                        return false;
                    }
                    let k = (self.buf.len() as u64).min(skip);
                    self.buf.advance(k as usize);
                    self.state = State::Discard { skip: skip - k };
                    return true;
                }
                // Discarded octets go through a small scanner instead of being kept: it tells
                // whether the discarded line ends in a `{n+}` header whose octets follow anyway.
                let mut end = None;
                for (k, &b) in self.buf.iter().enumerate() {
                    if let Some(next) = self.header_scan.feed(b) {
                        end = Some((k, next));
                        break;
                    }
                }
                let Some((k, next)) = end else {
                    self.buf.clear();
                    return false;
                };
                self.buf.advance(k + 1);
                self.header_scan = HeaderScan::default();
                self.state = match next {
                    Some(n) => State::Discard { skip: n },
                    None => State::Line,
                };
                self.scan = 0;
                self.lf_from = 0;
                true
            }
        }
    }

    fn step_line(&mut self) -> bool {
        let Some(p) = memchr_lf(&self.buf[self.lf_from..]).map(|p| p + self.lf_from) else {
            if self.buf.len() - self.scan > self.options.max_line {
                self.append_more = false;
                self.refuse(
                    FrameError::LineTooLong {
                        limit: self.options.max_line,
                    },
                    false,
                );
                self.buf.advance(self.scan);
                self.scan = 0;
                self.lf_from = 0;
                self.state = State::Discard { skip: 0 };
                return true;
            }
            self.lf_from = self.buf.len();
            return false;
        };
        // Only the line right after an APPEND message literal may start the next message.
        let append_more = std::mem::take(&mut self.append_more) && self.scan == 0;
        let line_len = p + 1 - self.scan;
        if line_len > self.options.max_line {
            self.refuse(
                FrameError::LineTooLong {
                    limit: self.options.max_line,
                },
                false,
            );
            // A non-sync literal announced at the end of the refused line is sent anyway: skip it.
            let skip = literal_header_at_end(&self.buf[self.scan..=p])
                .and_then(|(n, mode, _)| (mode == LiteralMode::NonSync).then_some(n));
            self.finish_discarding_line(p, skip);
            return true;
        }
        if p == 0 || self.buf[p - 1] != b'\r' {
            self.refuse(FrameError::BareLf, false);
            self.finish_discarding_line(p, None);
            return true;
        }
        let Some((length, mode, header_len)) = literal_header_at_end(&self.buf[self.scan..=p])
        else {
            let frame = self.buf.split_to(p + 1).freeze();
            self.scan = 0;
            self.lf_from = 0;
            self.events.push_back(FramerEvent::Frame(frame));
            return true;
        };
        let append = self.side == FramerSide::Commands && (append_more || self.is_append(p));
        let limit = if append {
            self.options.max_append_literal
        } else {
            self.options.max_literal
        };
        let sync = mode == LiteralMode::Sync && self.side == FramerSide::Commands;
        if let (LiteralMode::NonSync, Some(max), false) = (
            mode,
            self.options.max_non_sync_literal,
            self.side == FramerSide::Responses,
        ) && length > u64::from(max)
        {
            {
                self.refuse(
                    FrameError::NonSyncLiteralTooLarge { length, limit: max },
                    false,
                );
                self.finish_discarding_line(p, Some(length));
                return true;
            }
        }
        if length > u64::from(limit) {
            self.refuse(
                FrameError::LiteralTooLarge {
                    length,
                    limit,
                    append,
                },
                sync,
            );
            let skip = (mode == LiteralMode::NonSync || self.side == FramerSide::Responses)
                .then_some(length);
            self.finish_discarding_line(p, skip);
            return true;
        }
        let length32 = length as u32;
        // RFC 3516 §4.4: an APPEND message may come as literal8 (`~{n}`); its octets are
        // streamed alike, the `~` left out of the prefix.
        let mut prefix_end = p + 1 - header_len;
        if append && prefix_end > 0 && self.buf[prefix_end - 1] == b'~' {
            prefix_end -= 1;
        }
        let prefix = &self.buf[..prefix_end];
        let streamed = if append_more {
            crate::parse::command::is_append_next_prefix(prefix)
        } else {
            crate::parse::command::is_append_message_prefix(prefix)
        };
        if append && streamed {
            let mut frame = self.buf.split_to(p + 1);
            frame.truncate(prefix_end);
            self.stream_sync = sync;
            self.events.push_back(FramerEvent::LiteralStart {
                prefix: frame.freeze(),
                length: length32,
                mode,
            });
            self.scan = 0;
            self.lf_from = 0;
            self.append_more = length32 == 0;
            self.state = if length32 == 0 {
                State::Line
            } else {
                State::Stream {
                    remaining: length32,
                }
            };
            return true;
        }
        if !append && p + 1 + length as usize > self.options.max_command {
            self.refuse(
                FrameError::CommandTooLarge {
                    limit: self.options.max_command,
                },
                sync,
            );
            let skip = (mode == LiteralMode::NonSync || self.side == FramerSide::Responses)
                .then_some(length);
            self.finish_discarding_line(p, skip);
            return true;
        }
        if sync {
            let tag = self.frame_tag();
            self.events.push_back(FramerEvent::ContinuationNeeded {
                tag,
                length: length32,
            });
        }
        self.scan = p + 1;
        self.lf_from = self.scan;
        self.state = State::Literal {
            remaining: length as usize,
        };
        true
    }

    /// Drops the frame through the LF at `p`; then skips `skip` literal octets the client sends anyway.
    fn finish_discarding_line(&mut self, p: usize, skip: Option<u64>) {
        self.buf.advance(p + 1);
        self.scan = 0;
        self.lf_from = 0;
        self.state = match skip {
            Some(n) => State::Discard { skip: n },
            None => State::Line,
        };
    }
}

/// Recognises `"{" 1*DIGIT "+}" CRLF` at the end of a line, one octet at a time (the same lines
/// as [`literal_header_at_end`], lengths saturating alike).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct HeaderScan {
    /// 0 nothing, 1 after `{`, 2 digits, 3 `+`, 4 `+}`, 5 `+}` CR.
    state: u8,
    value: u64,
}

impl HeaderScan {
    /// Feeds one octet; at LF returns `Some(Some(n))` when the line ended in `{n+}` CRLF,
    /// `Some(None)` otherwise.
    #[allow(clippy::option_option)] // "not at the end yet" / "end without a header" / "end with one".
    fn feed(&mut self, b: u8) -> Option<Option<u64>> {
        let (state, value) = match (self.state, b) {
            (_, b'\n') => {
                let done = (self.state == 5).then_some(self.value);
                *self = Self::default();
                return Some(done);
            }
            (_, b'{') => (1, 0),
            (1 | 2, b'0'..=b'9') => (
                2,
                self.value
                    .saturating_mul(10)
                    .saturating_add(u64::from(b - b'0')),
            ),
            (2, b'+') => (3, self.value),
            (3, b'}') => (4, self.value),
            (4, b'\r') => (5, self.value),
            _ => (0, 0),
        };
        self.state = state;
        self.value = value;
        None
    }
}

fn memchr_lf(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// `{n}` CRLF or `{n+}` CRLF at the end of `line`: (n, mode, header length). Lengths beyond `u64`
/// count as `u64::MAX`, which every limit refuses.
fn literal_header_at_end(line: &[u8]) -> Option<(u64, LiteralMode, usize)> {
    let body = line.strip_suffix(b"}\r\n")?;
    let (body, mode) = match body.strip_suffix(b"+") {
        Some(b) => (b, LiteralMode::NonSync),
        None => (body, LiteralMode::Sync),
    };
    let digits = body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || body.len() == digits || body[body.len() - digits - 1] != b'{' {
        return None;
    }
    let n = body[body.len() - digits..].iter().fold(0u64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some((n, mode, line.len() - (body.len() - digits - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(f: &mut Framer) -> Vec<FramerEvent> {
        std::iter::from_fn(|| f.poll_event()).collect()
    }

    #[allow(clippy::unnecessary_wraps)] // Mirrors the events' `Option<Tag>`.
    fn tag(s: &str) -> Option<Tag<'static>> {
        Some(Tag::try_from(s.to_owned()).unwrap())
    }

    #[test]
    fn lines_and_literals() {
        let mut f = Framer::new(FramerSide::Commands, FramerConfig::default());
        f.handle_input(b"a1 NOOP\r\na2 LOGIN {3}\r\n");
        assert_eq!(
            drain(&mut f),
            vec![
                FramerEvent::Frame(Bytes::from_static(b"a1 NOOP\r\n")),
                FramerEvent::ContinuationNeeded {
                    tag: tag("a2"),
                    length: 3
                },
            ]
        );
        f.handle_input(b"fre {3+}\r\nabc\r");
        assert_eq!(drain(&mut f), vec![]);
        f.handle_input(b"\n");
        assert_eq!(
            drain(&mut f),
            vec![FramerEvent::Frame(Bytes::from_static(
                b"a2 LOGIN {3}\r\nfre {3+}\r\nabc\r\n"
            ))]
        );
    }

    #[test]
    fn refused_sync_literal_is_not_allocated_and_tag_recovered() {
        let mut f = Framer::new(FramerSide::Commands, FramerConfig::default());
        f.handle_input(b"A044 BLURDYBLOOP {102856}\r\nA045 NOOP\r\n");
        let ev = drain(&mut f);
        assert_eq!(
            ev[0],
            FramerEvent::Refused {
                tag: tag("A044"),
                error: FrameError::LiteralTooLarge {
                    length: 102_856,
                    limit: 65536,
                    append: false
                },
                sync_literal: true,
            }
        );
        assert_eq!(
            ev[1],
            FramerEvent::Frame(Bytes::from_static(b"A045 NOOP\r\n"))
        );
    }

    #[test]
    fn refused_non_sync_literal_is_skipped() {
        let mut f = Framer::new(
            FramerSide::Commands,
            FramerConfig {
                max_non_sync_literal: Some(4),
                ..FramerConfig::default()
            },
        );
        f.handle_input(b"t1 LOGIN {5+}\r\nab\ncd x {2+}\r\n\r\n\r\nt2 NOOP\r\n");
        let ev = drain(&mut f);
        assert!(
            matches!(&ev[0], FramerEvent::Refused { tag: Some(t), error: FrameError::NonSyncLiteralTooLarge { .. }, .. } if t.as_str() == "t1")
        );
        assert_eq!(
            ev[1],
            FramerEvent::Frame(Bytes::from_static(b"t2 NOOP\r\n"))
        );
        assert_eq!(ev.len(), 2);
    }

    #[test]
    fn long_line_refused_then_recovers() {
        let mut f = Framer::new(
            FramerSide::Commands,
            FramerConfig {
                max_line: 16,
                ..FramerConfig::default()
            },
        );
        f.handle_input(b"x1 SEARCH aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        let ev = drain(&mut f);
        assert!(
            matches!(&ev[0], FramerEvent::Refused { tag: Some(t), error: FrameError::LineTooLong { .. }, .. } if t.as_str() == "x1")
        );
        f.handle_input(b"aaaaaaaaaaa\r\nx2 NOOP\r\n");
        assert_eq!(
            drain(&mut f),
            vec![FramerEvent::Frame(Bytes::from_static(b"x2 NOOP\r\n"))]
        );
        assert!(f.buffered() == 0);
    }

    #[test]
    fn tag_of_an_overlong_line_does_not_depend_on_the_split() {
        // Found by the imap_framer fuzz target: the tag's SP arrived only in the whole input.
        let line = [&b"SSSSSSSSASSSSSSSS:"[..], &[b'S'; 60], b" x\r\n"].concat();
        let options = FramerConfig {
            max_line: 64,
            ..FramerConfig::default()
        };
        let whole = frames(&[&line], &options);
        assert_eq!(frames(&[&line[..70], &line[70..]], &options), whole);
        assert!(matches!(&whole[0], FramerEvent::Refused { tag: None, .. }));
    }

    #[test]
    fn overlong_non_sync_header_split_anywhere() {
        // Found by the imap_framer fuzz target: the header's "{" was dropped with the line's head.
        let line = [&b"{07"[..], &[b'9'; 80], b"+}\r\nnext\r\n"].concat();
        let options = FramerConfig {
            max_line: 64,
            ..FramerConfig::default()
        };
        let whole = frames(&[&line], &options);
        for cut in 0..line.len() {
            assert_eq!(
                frames(&[&line[..cut], &line[cut..]], &options),
                whole,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn bare_lf_is_refused() {
        let mut f = Framer::new(FramerSide::Commands, FramerConfig::default());
        f.handle_input(b"a NOOP\nb NOOP\r\n");
        let ev = drain(&mut f);
        assert!(matches!(
            &ev[0],
            FramerEvent::Refused {
                error: FrameError::BareLf,
                ..
            }
        ));
        assert_eq!(ev[1], FramerEvent::Frame(Bytes::from_static(b"b NOOP\r\n")));
    }

    #[test]
    fn responses_never_ask_for_continuation() {
        let mut f = Framer::new(FramerSide::Responses, FramerConfig::responses());
        f.handle_input(b"* 1 FETCH (BODY[] {2}\r\nab)\r\n");
        assert_eq!(
            drain(&mut f),
            vec![FramerEvent::Frame(Bytes::from_static(
                b"* 1 FETCH (BODY[] {2}\r\nab)\r\n"
            ))]
        );
    }

    fn frames(chunks: &[&[u8]], options: &FramerConfig) -> Vec<FramerEvent> {
        let mut f = Framer::new(FramerSide::Commands, options.clone());
        let mut out = Vec::new();
        for c in chunks {
            f.handle_input(c);
            out.extend(drain(&mut f));
        }
        // Merge adjacent chunks of streamed literals so that split points do not matter.
        let mut merged: Vec<FramerEvent> = Vec::new();
        for ev in out {
            if let (
                Some(FramerEvent::LiteralChunk {
                    data: prev,
                    remaining: r0,
                }),
                FramerEvent::LiteralChunk { data, remaining },
            ) = (merged.last_mut(), &ev)
            {
                let mut v = prev.to_vec();
                v.extend_from_slice(data);
                *prev = Bytes::from(v);
                *r0 = *remaining;
                continue;
            }
            merged.push(ev);
        }
        merged
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn split_anywhere_gives_the_same_frames(
            input in proptest::collection::vec(prop_oneof![
                Just(&b"a1 NOOP\r\n"[..]), Just(&b"a2 LOGIN {3}\r\nabc def\r\n"[..]), Just(&b"{9999999}\r\n"[..]),
                Just(&b"a3 APPEND INBOX {5+}\r\nhello\r\n"[..]), Just(&b"x {3+}\r\n"[..]), Just(&b"\n"[..]),
                Just(&b"zz"[..]), Just(&b"\r\n"[..]), Just(&b"a4 APPEND INBOX (\\Seen) {2}\r\n"[..]),
            ], 0..12),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
            small in any::<bool>(),
        ) {
            let whole: Vec<u8> = input.concat();
            let options = FramerConfig { max_line: if small { 20 } else { 8192 }, max_literal: 16, ..FramerConfig::default() };
            let expected = frames(&[&whole], &options);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(whole.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points { chunks.push(&whole[last..p]); last = p; }
            chunks.push(&whole[last..]);
            prop_assert_eq!(frames(&chunks, &options), expected.clone());
            // Frames and streamed literals come out in input order, each a piece of the input.
            let mut pos = 0;
            for ev in &expected {
                let piece: &[u8] = match ev {
                    FramerEvent::Frame(b) | FramerEvent::LiteralChunk { data: b, .. } => b,
                    FramerEvent::LiteralStart { prefix, .. } => prefix,
                    _ => continue,
                };
                let found = whole[pos..].windows(piece.len().max(1)).position(|w| w == piece);
                prop_assert!(piece.is_empty() || found.is_some());
                if let Some(k) = found { pos += k + piece.len(); }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut f = Framer::new(FramerSide::Commands, FramerConfig { max_line: 32, max_literal: 8, ..FramerConfig::default() });
            f.handle_input(&data);
            let _ = drain(&mut f);
            let streaming = matches!(f.state, State::Stream { .. });
            prop_assert!(f.buffered() <= data.len() || streaming);
        }
    }
}
