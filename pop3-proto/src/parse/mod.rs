//! Streaming parsers: `&[u8]` in, `Ok((rest, value))`, [`ParseError::Incomplete`] when more input
//! is needed, or another [`ParseError`] when the input is malformed.
//!
//! POP3 is line-based: every parser first frames one line (CRLF, or a bare LF, which is accepted
//! for robustness) within a length limit, then parses the line's content with nom. Nothing is
//! allocated for a line longer than the limit: [`ParseError::LineTooLong`] says so as soon as the
//! limit is reached without a line end, and [`skip_line`] finds where to resume.

mod multiline;
mod reply;

pub use multiline::{DotUnstuffer, MultiLine, multiline_line};
pub use reply::{auth_reply, capability, response, scan_listing_line, uid_listing_line};

use base64::Engine as _;
use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{tag, take_while1},
    character::complete::digit1,
    combinator::{all_consuming, eof, map_res, opt, rest},
    sequence::preceded,
};

use crate::types::{Atom, Command, MessageNumber, SaslResponse, Secret};

/// The default longest command line, CRLF included. RFC 2449 §4 sets 255 octets; the default is
/// twice that, because real clients send long user names and passwords.
pub const DEFAULT_MAX_COMMAND_LINE: usize = 512;

/// The default longest line of a SASL exchange, CRLF included (RFC 5034 §4 sets no limit on
/// continuation lines; GSSAPI tokens run to a few kilobytes).
pub const DEFAULT_MAX_SASL_LINE: usize = 16 * 1024;

/// The default longest response line a client accepts, CRLF included (RFC 2449 §4 says 512, some
/// servers send more).
pub const DEFAULT_MAX_RESPONSE_LINE: usize = 4096;

/// Why input could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// More input is needed; not an error in the input.
    #[error("incomplete input")]
    Incomplete,
    /// No line end within the limit; resume after the next LF (see [`skip_line`]).
    #[error("line longer than {limit} octets")]
    LineTooLong {
        /// The limit that was reached, CRLF included.
        limit: usize,
    },
    /// A complete line that does not follow the grammar.
    #[error("malformed {what}: {line:?}")]
    Malformed {
        /// What was expected.
        what: &'static str,
        /// The offending line, cut to 64 octets, secrets redacted.
        line: Snippet,
        /// How many octets (the whole line with its end) to skip to resume.
        consumed: usize,
    },
}

/// A few octets of offending input, kept for a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Snippet(Vec<u8>);

impl Snippet {
    const MAX: usize = 64;

    fn new(line: &[u8]) -> Self {
        Self(line[..line.len().min(Self::MAX)].to_vec())
    }

    fn redacted(keyword: &[u8]) -> Self {
        let mut v = keyword[..keyword.len().min(8)].to_vec();
        v.extend_from_slice(b" <redacted>");
        Self(v)
    }

    /// The octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Snippet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

/// Frames one line: returns the line without its end (CRLF or LF) and the octets consumed.
///
/// `max` counts the line end too.
pub fn line(input: &[u8], max: usize) -> Result<(&[u8], usize), ParseError> {
    let window = &input[..input.len().min(max)];
    match memchr::memchr(b'\n', window) {
        Some(i) => {
            let line = &input[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Ok((line, i + 1))
        }
        None if input.len() >= max => Err(ParseError::LineTooLong { limit: max }),
        None => Err(ParseError::Incomplete),
    }
}

/// After [`ParseError::LineTooLong`]: how many octets to drop to reach the start of the next line,
/// or `None` if no LF is buffered yet (drop everything and call again with more input).
pub fn skip_line(input: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', input).map(|i| i + 1)
}

pub(crate) fn malformed(what: &'static str, line: &[u8], consumed: usize) -> ParseError {
    ParseError::Malformed {
        what,
        line: Snippet::new(line),
        consumed,
    }
}

type Res<'a, T> = IResult<&'a [u8], T>;

fn number(i: &[u8]) -> Res<'_, u32> {
    map_res(digit1, |d: &[u8]| {
        if d.len() > 10 {
            return Err(());
        }
        std::str::from_utf8(d)
            .map_err(drop)?
            .parse::<u32>()
            .map_err(drop)
    })
    .parse(i)
}

fn message_number(i: &[u8]) -> Res<'_, MessageNumber> {
    map_res(number, MessageNumber::new).parse(i)
}

fn atom(i: &[u8]) -> Res<'_, Atom> {
    map_res(take_while1(|b: u8| b > b' ' && b != 0x7f), |a: &[u8]| {
        std::str::from_utf8(a)
            .map_err(drop)
            .and_then(|s| Atom::new(s).map_err(drop))
    })
    .parse(i)
}

fn sp_message(i: &[u8]) -> Res<'_, MessageNumber> {
    preceded(tag(" "), message_number).parse(i)
}

/// Trailing spaces after the arguments are tolerated (some clients send them).
fn end(i: &[u8]) -> Res<'_, &[u8]> {
    all_consuming(take_while_spaces).parse(i)
}

fn take_while_spaces(i: &[u8]) -> Res<'_, &[u8]> {
    nom::bytes::complete::take_while(|b| b == b' ').parse(i)
}

fn base64_data(data: &[u8]) -> Option<Secret> {
    if data == b"=" {
        return Some(Secret::binary(Vec::new()));
    }
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()
        .map(Secret::binary)
}

/// The content of a command line (RFC 1939 §3, RFC 2449 §3):
/// ```text
/// command = keyword *(SP argument) CRLF
/// ```
fn command_content(kw: &[u8], args: &[u8]) -> Option<Command> {
    let upper = kw.to_ascii_uppercase();
    let parsed: Res<'_, Command> = match upper.as_slice() {
        b"USER" => preceded(tag(" "), atom).map(Command::User).parse(args),
        // RFC 1939 §7: "Since the PASS command has exactly one argument, a POP3 server may treat
        // spaces in the argument as part of the password, instead of as argument separators."
        b"PASS" => map_res(preceded(tag(" "), rest), |p: &[u8]| Secret::new(p.to_vec()))
            .map(Command::Pass)
            .parse(args),
        b"APOP" => (preceded(tag(" "), atom), preceded(tag(" "), atom))
            .map(|(name, digest)| Command::Apop { name, digest })
            .parse(args),
        b"STAT" => Ok((args, Command::Stat)),
        b"LIST" => opt(sp_message).map(Command::List).parse(args),
        b"RETR" => sp_message.map(Command::Retr).parse(args),
        b"DELE" => sp_message.map(Command::Dele).parse(args),
        b"NOOP" => Ok((args, Command::Noop)),
        b"RSET" => Ok((args, Command::Rset)),
        b"QUIT" => Ok((args, Command::Quit)),
        b"TOP" => (sp_message, preceded(tag(" "), number))
            .map(|(message, lines)| Command::Top { message, lines })
            .parse(args),
        b"UIDL" => opt(sp_message).map(Command::Uidl).parse(args),
        b"CAPA" => Ok((args, Command::Capa)),
        b"STLS" => Ok((args, Command::Stls)),
        // RFC 5034 §4:
        //   auth-command     = "AUTH" SP sasl-mech [SP initial-response]
        //                      *(CRLF [base64]) [CRLF cancel-response] CRLF
        //   initial-response = base64 / "="
        b"AUTH" => (
            preceded(tag(" "), atom),
            opt(preceded(
                tag(" "),
                map_res(take_while1(|b: u8| b != b' '), |d: &[u8]| {
                    base64_data(d).ok_or(())
                }),
            )),
        )
            .map(|(mech, initial_response)| Command::Auth {
                mechanism: Atom::new(mech.as_str().to_ascii_uppercase()).unwrap_or(mech),
                initial_response,
            })
            .parse(args),
        _ => return None,
    };
    let (rest_args, cmd) = parsed.ok()?;
    if matches!(cmd, Command::Pass(_)) {
        return Some(cmd);
    }
    end(rest_args).ok()?;
    Some(cmd)
}

/// Parses one command line of at most `max_line` octets (CRLF included).
pub fn command_with_limit(input: &[u8], max_line: usize) -> Result<(&[u8], Command), ParseError> {
    let (line_bytes, consumed) = line(input, max_line)?;
    let kw_len = line_bytes
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(line_bytes.len());
    let (kw, args) = line_bytes.split_at(kw_len);
    let secret = kw.eq_ignore_ascii_case(b"PASS") || kw.eq_ignore_ascii_case(b"AUTH");
    match command_content(kw, args) {
        Some(cmd) => Ok((&input[consumed..], cmd)),
        None => Err(ParseError::Malformed {
            what: "command",
            line: if secret {
                Snippet::redacted(kw)
            } else {
                Snippet::new(line_bytes)
            },
            consumed,
        }),
    }
}

/// Parses one command line with [`DEFAULT_MAX_COMMAND_LINE`].
pub fn command(input: &[u8]) -> Result<(&[u8], Command), ParseError> {
    command_with_limit(input, DEFAULT_MAX_COMMAND_LINE)
}

/// Parses a client's line during an `AUTH` exchange (RFC 5034 §4):
/// ```text
/// *(CRLF [base64]) [CRLF cancel-response]
/// cancel-response  = "*"
/// ```
pub fn sasl_response(input: &[u8], max_line: usize) -> Result<(&[u8], SaslResponse), ParseError> {
    let (line_bytes, consumed) = line(input, max_line)?;
    let parsed: Res<'_, SaslResponse> = alt((
        (tag("*"), eof).map(|_| SaslResponse::Cancel),
        all_consuming(map_res(rest, |d: &[u8]| {
            if d.is_empty() {
                Ok(Secret::binary(Vec::new()))
            } else {
                base64::engine::general_purpose::STANDARD
                    .decode(d)
                    .map(Secret::binary)
            }
        }))
        .map(SaslResponse::Data),
    ))
    .parse(line_bytes);
    match parsed {
        Ok((_, r)) => Ok((&input[consumed..], r)),
        Err(_) => Err(ParseError::Malformed {
            what: "SASL response",
            line: Snippet::redacted(b"AUTH"),
            consumed,
        }),
    }
}

#[cfg(test)]
mod tests;
