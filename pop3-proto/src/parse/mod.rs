//! Streaming parsers: `&[u8]` in, `Ok((rest, value))`, [`DecodeError::Incomplete`] when more input
//! is needed, or [`DecodeError::Malformed`] (with the octets to skip and a redacted excerpt) when
//! the input is malformed.
//!
//! POP3 is line-based: every parser first frames one line (CRLF, or a bare LF, which is accepted
//! for robustness) within a length limit, then parses the line's content with nom. Nothing is
//! allocated for a line longer than the limit: [`MalformedKind::LineTooLong`] says so as soon as
//! the limit is reached without a line end, and [`skip_line`] finds where to resume.

mod multiline;
mod reply;

pub use multiline::{DotUnstuffer, MultiLine, multiline_line};
pub use reply::{auth_reply, capability, response, scan_listing_line, uid_listing_line};

use std::fmt;

use base64::Engine as _;
use mailwright_sansio::Excerpt;
use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{tag, take_while1},
    character::complete::digit1,
    combinator::{all_consuming, eof, map_res, opt, rest},
    sequence::preceded,
};

use crate::types::{Atom, Command, MessageNumber, Password, SaslResponse, Secret};

/// The default longest command line, CRLF included. RFC 2449 §4 sets 255 octets; the default is
/// twice that, because real clients send long user names and passwords.
pub const DEFAULT_MAX_COMMAND_LINE: usize = 512;

/// The default longest line of a SASL exchange, CRLF included (RFC 5034 §4 sets no limit on
/// continuation lines; GSSAPI tokens run to a few kilobytes).
pub const DEFAULT_MAX_SASL_LINE: usize = 16 * 1024;

/// The default longest response line a client accepts, CRLF included (RFC 2449 §4 says 512, some
/// servers send more).
pub const DEFAULT_MAX_RESPONSE_LINE: usize = 4096;

/// What was wrong with malformed input: the `kind` of a [`DecodeError::Malformed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedKind {
    /// No line end within `limit` octets (CRLF included). `skip` covers the buffered part of the
    /// line; when it does not end with LF the line goes on: discard through the next LF.
    LineTooLong {
        /// The limit that was reached, CRLF included.
        limit: usize,
    },
    /// The keyword is not a POP3 command.
    UnknownCommand,
    /// A known command whose arguments do not follow its grammar.
    Arguments,
    /// A client line of an AUTH exchange that is neither base64 nor `*`.
    SaslResponse,
    /// A server line that starts with neither `+OK` nor `-ERR`.
    StatusLine,
    /// A SASL continuation (`+ ...`) whose data is not base64.
    SaslContinuation,
    /// A CAPA line that does not follow RFC 2449's grammar.
    Capability,
}

impl fmt::Display for MalformedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LineTooLong { limit } => write!(f, "line longer than {limit} octets"),
            Self::UnknownCommand => f.write_str("unknown command"),
            Self::Arguments => f.write_str("invalid arguments"),
            Self::SaslResponse => f.write_str("malformed SASL response"),
            Self::StatusLine => f.write_str("malformed status line"),
            Self::SaslContinuation => f.write_str("malformed SASL continuation"),
            Self::Capability => f.write_str("malformed capability"),
        }
    }
}

/// Why input could not be decoded: the one error shape of the Mailwright protocol crates.
pub type DecodeError = mailwright_sansio::DecodeError<MalformedKind>;

/// One framed line, or why there is none.
enum Frame<'a> {
    /// The line without its end, and the octets it took.
    Line(&'a [u8], usize),
    /// No line end yet, within the limit.
    Incomplete,
    /// No line end within the limit: skip this many octets (through the next LF if buffered).
    TooLong(usize),
}

fn frame(input: &[u8], max: usize) -> Frame<'_> {
    let window = &input[..input.len().min(max)];
    match memchr::memchr(b'\n', window) {
        Some(i) => {
            let line = &input[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Frame::Line(line, i + 1)
        }
        None if input.len() >= max => Frame::TooLong(skip_line(input).unwrap_or(input.len())),
        None => Frame::Incomplete,
    }
}

/// Frames one line: returns the line without its end (CRLF or LF) and the octets consumed.
///
/// `max` counts the line end too. A line without an end within `max` octets is
/// [`MalformedKind::LineTooLong`], with an excerpt of its start (use it for lines that hold no
/// credentials).
pub fn line(input: &[u8], max: usize) -> Result<(&[u8], usize), DecodeError> {
    match frame(input, max) {
        Frame::Line(l, used) => Ok((l, used)),
        Frame::Incomplete => Err(DecodeError::Incomplete),
        Frame::TooLong(skip) => Err(DecodeError::malformed(
            MalformedKind::LineTooLong { limit: max },
            skip,
            Excerpt::new(input),
        )),
    }
}

/// How many octets to drop to reach the start of the next line, or `None` if no LF is buffered
/// yet (drop everything and call again with more input).
pub fn skip_line(input: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', input).map(|i| i + 1)
}

pub(crate) fn malformed(kind: MalformedKind, line: &[u8], consumed: usize) -> DecodeError {
    DecodeError::malformed(kind, consumed, Excerpt::new(line))
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

fn base64_data(data: &[u8]) -> Option<Secret<Vec<u8>>> {
    if data == b"=" {
        return Some(Secret::new(Vec::new()));
    }
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()
        .map(Secret::new)
}

/// The content of a command line (RFC 1939 §3, RFC 2449 §3):
/// ```text
/// command = keyword *(SP argument) CRLF
/// ```
fn command_content(kw: &[u8], args: &[u8]) -> Result<Command, MalformedKind> {
    let upper = kw.to_ascii_uppercase();
    let parsed: Res<'_, Command> = match upper.as_slice() {
        b"USER" => preceded(tag(" "), atom).map(Command::User).parse(args),
        // RFC 1939 §7: "Since the PASS command has exactly one argument, a POP3 server may treat
        // spaces in the argument as part of the password, instead of as argument separators."
        b"PASS" => map_res(preceded(tag(" "), rest), |p: &[u8]| {
            Password::new(p.to_vec())
        })
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
        _ => return Err(MalformedKind::UnknownCommand),
    };
    let (rest_args, cmd) = parsed.map_err(|_| MalformedKind::Arguments)?;
    if matches!(cmd, Command::Pass(_)) {
        return Ok(cmd);
    }
    end(rest_args).map_err(|_| MalformedKind::Arguments)?;
    Ok(cmd)
}

/// Whether a command line carries credentials (PASS, AUTH): its excerpt keeps only the keyword.
fn carries_secret(line: &[u8]) -> Option<&[u8]> {
    let kw_len = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let kw = &line[..kw_len];
    (kw.eq_ignore_ascii_case(b"PASS") || kw.eq_ignore_ascii_case(b"AUTH")).then_some(kw)
}

fn command_excerpt(line: &[u8]) -> Excerpt {
    match carries_secret(line) {
        Some(kw) => Excerpt::redacted(kw),
        None => Excerpt::new(line),
    }
}

/// Parses one command line of at most `max_line` octets (CRLF included).
pub fn command_with_limit(input: &[u8], max_line: usize) -> Result<(&[u8], Command), DecodeError> {
    let (line_bytes, consumed) = match frame(input, max_line) {
        Frame::Line(l, used) => (l, used),
        Frame::Incomplete => return Err(DecodeError::Incomplete),
        Frame::TooLong(skip) => {
            return Err(DecodeError::malformed(
                MalformedKind::LineTooLong { limit: max_line },
                skip,
                command_excerpt(input),
            ));
        }
    };
    let kw_len = line_bytes
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(line_bytes.len());
    let (kw, args) = line_bytes.split_at(kw_len);
    match command_content(kw, args) {
        Ok(cmd) => Ok((&input[consumed..], cmd)),
        Err(kind) => Err(DecodeError::malformed(
            kind,
            consumed,
            command_excerpt(line_bytes),
        )),
    }
}

/// Parses one command line with [`DEFAULT_MAX_COMMAND_LINE`].
pub fn command(input: &[u8]) -> Result<(&[u8], Command), DecodeError> {
    command_with_limit(input, DEFAULT_MAX_COMMAND_LINE)
}

/// Parses a client's line during an `AUTH` exchange (RFC 5034 §4):
/// ```text
/// *(CRLF [base64]) [CRLF cancel-response]
/// cancel-response  = "*"
/// ```
/// The data is a credential: excerpts of these lines are redacted whole.
pub fn sasl_response(input: &[u8], max_line: usize) -> Result<(&[u8], SaslResponse), DecodeError> {
    let (line_bytes, consumed) = match frame(input, max_line) {
        Frame::Line(l, used) => (l, used),
        Frame::Incomplete => return Err(DecodeError::Incomplete),
        Frame::TooLong(skip) => {
            return Err(DecodeError::malformed(
                MalformedKind::LineTooLong { limit: max_line },
                skip,
                Excerpt::redacted(b""),
            ));
        }
    };
    let parsed: Res<'_, SaslResponse> = alt((
        (tag("*"), eof).map(|_| SaslResponse::Cancel),
        all_consuming(map_res(rest, |d: &[u8]| {
            if d.is_empty() {
                Ok(Secret::new(Vec::new()))
            } else {
                base64::engine::general_purpose::STANDARD
                    .decode(d)
                    .map(Secret::new)
            }
        }))
        .map(SaslResponse::Data),
    ))
    .parse(line_bytes);
    match parsed {
        Ok((_, r)) => Ok((&input[consumed..], r)),
        Err(_) => Err(DecodeError::malformed(
            MalformedKind::SaslResponse,
            consumed,
            Excerpt::redacted(b""),
        )),
    }
}

#[cfg(test)]
mod tests;
