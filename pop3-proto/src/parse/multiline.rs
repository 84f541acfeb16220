//! Multi-line responses (RFC 1939 §3): "each line is terminated by a CRLF pair. ... If any line
//! of the multi-line response begins with the termination octet, the line is 'byte-stuffed' by
//! pre-pending the termination octet to that line of the response. ... a multi-line response is
//! terminated with the five octets "CRLF.CRLF"."
//!
//! RFC 2449 §9:
//! ```text
//! multi-line  = single-line *dot-stuffed "." CRLF
//! dot-stuffed = *CHAR CRLF                ; must be dot-stuffed
//! ```

use bytes::BytesMut;

use super::{DecodeError, line};

/// One line of a multi-line body, unstuffed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiLine<'a> {
    /// A line, without its end and without the stuffing dot.
    Line(&'a [u8]),
    /// The terminating `.` line.
    End,
}

/// Frames one line of a multi-line body (listings, CAPA) and removes the stuffing dot.
pub fn multiline_line(
    input: &[u8],
    max_line: usize,
) -> Result<(&[u8], MultiLine<'_>), DecodeError> {
    let (l, consumed) = line(input, max_line)?;
    let item = if l == b"." {
        MultiLine::End
    } else {
        MultiLine::Line(l.strip_prefix(b".").unwrap_or(l))
    };
    Ok((&input[consumed..], item))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    LineStart,
    Middle,
    Dot,
    DotCr,
    Done,
}

/// Streams a multi-line body (a message from RETR or TOP) out of the wire form: removes the
/// stuffing dots and stops at the terminating `CRLF.CRLF`, keeping state across chunks so the
/// input may be split anywhere. Line ends are passed through unchanged.
#[derive(Debug, Clone)]
pub struct DotUnstuffer {
    state: State,
}

impl Default for DotUnstuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl DotUnstuffer {
    /// A decoder positioned at the start of the body (just after the `+OK` line).
    pub fn new() -> Self {
        Self {
            state: State::LineStart,
        }
    }

    /// Whether the terminating line has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input` into `out`; returns the octets consumed. Once the terminator is consumed
    /// the decoder is done and consumes nothing more: what follows is the next response.
    pub fn decode(&mut self, input: &[u8], out: &mut BytesMut) -> usize {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => break,
                State::LineStart => {
                    if input[i] == b'.' {
                        self.state = State::Dot;
                        i += 1;
                    } else {
                        self.state = State::Middle;
                    }
                }
                State::Dot => match input[i] {
                    b'\r' => {
                        self.state = State::DotCr;
                        i += 1;
                    }
                    // A bare-LF terminator, accepted for robustness.
                    b'\n' => {
                        self.state = State::Done;
                        i += 1;
                    }
                    // The stuffing dot is dropped; the line goes on.
                    _ => self.state = State::Middle,
                },
                State::DotCr => {
                    if input[i] == b'\n' {
                        self.state = State::Done;
                        i += 1;
                    } else {
                        // ".\r" followed by more: the dot was stuffing, the CR is data.
                        out.extend_from_slice(b"\r");
                        self.state = State::Middle;
                    }
                }
                State::Middle => match memchr::memchr(b'\n', &input[i..]) {
                    Some(j) => {
                        out.extend_from_slice(&input[i..=i + j]);
                        i += j + 1;
                        self.state = State::LineStart;
                    }
                    None => {
                        out.extend_from_slice(&input[i..]);
                        i = input.len();
                    }
                },
            }
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstuffs_and_stops() {
        let mut d = DotUnstuffer::new();
        let mut out = BytesMut::new();
        let input = b"a\r\n..b\r\n.\r\nnext";
        let n = d.decode(input, &mut out);
        assert!(d.is_done());
        assert_eq!(&input[n..], b"next");
        assert_eq!(&out[..], b"a\r\n.b\r\n");
    }

    #[test]
    fn split_anywhere() {
        let input = b"..x\r\n.\ry\r\n\r\n.\r\n";
        let mut whole = BytesMut::new();
        DotUnstuffer::new().decode(input, &mut whole);
        for cut in 0..input.len() {
            let mut d = DotUnstuffer::new();
            let mut out = BytesMut::new();
            let n = d.decode(&input[..cut], &mut out);
            assert_eq!(n, cut);
            d.decode(&input[cut..], &mut out);
            assert!(d.is_done());
            assert_eq!(out, whole);
        }
    }
}
