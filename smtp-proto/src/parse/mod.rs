//! Streaming parsers: `&[u8] -> Result<(rest, T), DecodeError>`, where
//! [`DecodeError::Incomplete`] means "need more bytes" and is kept apart from malformed input.
//!
//! Framing is streaming (a command or reply line ends at LF); the grammar inside a line is parsed
//! with nom 8's complete combinators, since a framed line is whole.

pub(crate) mod address;
mod command;
mod reply;

use std::fmt;

pub use mailwright_sansio::Excerpt;

pub use command::{command, command_line};
pub use reply::reply;

/// The offending bytes of a line for a log: cut to [`mailwright_sansio::EXCERPT_LEN`] octets, and
/// for `AUTH` only the verb (initial responses carry credentials).
pub(crate) fn excerpt(line: &[u8]) -> Excerpt {
    let upper: Vec<u8> = line.iter().take(5).map(u8::to_ascii_uppercase).collect();
    if upper.starts_with(b"AUTH ") {
        return Excerpt::redacted(b"AUTH");
    }
    Excerpt::new(line)
}

/// What was wrong with a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedKind {
    /// The verb is not a known command (reply 500).
    UnknownCommand,
    /// The arguments do not follow the grammar (reply 501).
    Syntax,
    /// An ESMTP parameter is malformed or repeated (reply 501).
    Parameter,
    /// The line is not valid UTF-8 where text was expected.
    Encoding,
    /// A reply line does not start with a valid code, or the code changes between lines.
    ReplyCode,
    /// A reply line was longer than the limit.
    TooLong,
}

impl fmt::Display for MalformedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MalformedKind::UnknownCommand => "unknown command",
            MalformedKind::Syntax => "syntax error in arguments",
            MalformedKind::Parameter => "malformed parameter",
            MalformedKind::Encoding => "invalid UTF-8",
            MalformedKind::ReplyCode => "malformed reply code",
            MalformedKind::TooLong => "line too long",
        })
    }
}

/// A parse failure: [`DecodeError::Incomplete`] (read more) or [`DecodeError::Malformed`] with
/// the [`MalformedKind`], the octets to skip (the whole bad line or reply, terminator included)
/// and an [`Excerpt`] of the offending line.
pub type DecodeError = mailwright_sansio::DecodeError<MalformedKind>;

/// Finds the next line ending at LF. Returns the line without `CRLF` (or a bare `LF`, which
/// commands tolerate as Postfix does) and the number of bytes the line took.
pub(crate) fn split_line(input: &[u8]) -> Option<(&[u8], usize)> {
    let lf = memchr::memchr(b'\n', input)?;
    let line = &input[..lf];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, lf + 1))
}
