//! Streaming nom parsers: `&[u8]` in, a value and the rest out, or "incomplete", or "malformed".
//!
//! Every parser answers with the one error shape of the protocol crates, [`DecodeError`]:
//! `Incomplete` (read more) or `Malformed { kind, skip, excerpt }`, where `skip` covers the bad
//! line and `excerpt` holds a few of its octets for the log. Credentials never reach an excerpt:
//! a malformed `LOGIN` or `AUTHENTICATE` command keeps only its tag and name, and AUTHENTICATE
//! response lines keep nothing.

// Parsers and writers read best with short names (`i` input, `r` rest, `e` encoder).
#![allow(clippy::many_single_char_names)]

pub(crate) mod command;
pub(crate) mod core;
pub(crate) mod response;
mod text;

use mailwright_sansio::Excerpt;

/// Why bytes could not be decoded: [`mailwright_sansio::DecodeError`] with IMAP's
/// [`MalformedKind`].
pub type DecodeError = mailwright_sansio::DecodeError<MalformedKind>;

/// What was wrong with malformed input, in IMAP's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedKind {
    /// The command name is not one this crate knows (RFC 3501 §9 and the extensions listed in
    /// the crate docs).
    #[error("unknown command")]
    UnknownCommand,
    /// A number does not fit its type (`number` is 32-bit, `mod-sequence-value` 63-bit).
    #[error("number out of range")]
    NumberTooLarge,
    /// AUTHENTICATE data is not base64 (RFC 3501 §6.2.2).
    #[error("invalid base64")]
    InvalidBase64,
    /// The input does not follow the grammar.
    #[error("syntax error")]
    Syntax,
}

/// How much of `input` from `offset` on belongs to the bad line: through the next LF, or all of it.
fn skip_line(input: &[u8], offset: usize) -> usize {
    match memchr::memchr(b'\n', &input[offset.min(input.len())..]) {
        Some(p) => offset + p + 1,
        None => input.len(),
    }
}

/// Maps a nom error to a [`DecodeError`]. `redact` keeps only that many octets of the input in
/// the excerpt (a tag and a command name) and marks the rest redacted.
fn from_nom(
    input: &[u8],
    e: nom::Err<nom::error::Error<&[u8]>>,
    redact: Option<usize>,
) -> DecodeError {
    match e {
        nom::Err::Incomplete(_) => DecodeError::Incomplete,
        nom::Err::Error(e) | nom::Err::Failure(e) => {
            let offset = input.len().saturating_sub(e.input.len());
            let kind = match e.code {
                nom::error::ErrorKind::Switch => MalformedKind::UnknownCommand,
                nom::error::ErrorKind::TooLarge => MalformedKind::NumberTooLarge,
                _ => MalformedKind::Syntax,
            };
            let excerpt = match redact {
                Some(keep) => Excerpt::redacted(&input[..keep.min(input.len())]),
                None => Excerpt::new(&input[offset.min(input.len())..]),
            };
            DecodeError::malformed(kind, skip_line(input, offset), excerpt)
        }
    }
}

/// The length of `tag SP name` at the start of a command line when the name is LOGIN or
/// AUTHENTICATE: those lines carry credentials and are redacted from excerpts.
pub(crate) fn credential_prefix(line: &[u8]) -> Option<usize> {
    let sp = line.iter().position(|&b| b == b' ')?;
    let rest = &line[sp + 1..];
    let end = rest
        .iter()
        .position(|&b| !b.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let name = &rest[..end];
    (name.eq_ignore_ascii_case(b"LOGIN") || name.eq_ignore_ascii_case(b"AUTHENTICATE"))
        .then_some(sp + 1 + end)
}

/// Runs `p` over `input`, mapping errors.
pub(crate) fn run<'a, T>(
    input: &'a [u8],
    p: impl FnOnce(&'a [u8]) -> core::PResult<'a, T>,
) -> Result<(&'a [u8], T), DecodeError> {
    p(input).map_err(|e| from_nom(input, e, None))
}

use crate::types::command::{AuthData, Command};

impl<'a> Command<'a> {
    /// Decodes one command (CRLF included) from the start of `input`; returns the rest.
    ///
    /// Literals must be inline (as the [`crate::framer::Framer`] delivers them). The excerpt of a
    /// malformed LOGIN or AUTHENTICATE command holds only its tag and name.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::Command;
    /// use mailwright_imap_proto::{DecodeError, MalformedKind};
    /// let Err(DecodeError::Malformed { kind, excerpt, .. }) = Command::decode(b"a LOGIN bob hunter2 x\r\n") else {
    ///     panic!()
    /// };
    /// assert_eq!(kind, MalformedKind::Syntax);
    /// assert_eq!(excerpt.to_string(), "a LOGIN <redacted>");
    /// ```
    pub fn decode(input: &'a [u8]) -> Result<(&'a [u8], Self), DecodeError> {
        command::command(input).map_err(|e| from_nom(input, e, credential_prefix(input)))
    }
}

impl<'a> AuthData<'a> {
    /// Decodes an AUTHENTICATE continuation line (RFC 3501 §6.2.2): base64 CRLF, or `*` CRLF.
    /// Its excerpt on error is always redacted (the line is SASL data).
    pub fn decode_line(input: &'a [u8]) -> Result<(&'a [u8], Self), DecodeError> {
        command::auth_line(input).map_err(|e| match from_nom(input, e, Some(0)) {
            DecodeError::Malformed {
                kind: MalformedKind::Syntax,
                skip,
                excerpt,
            } => DecodeError::malformed(MalformedKind::InvalidBase64, skip, excerpt),
            other => other,
        })
    }
}
#[cfg(test)]
mod tests;

use crate::types::response::{Response, StatusResponse};

impl<'a> Response<'a> {
    /// Decodes one response (CRLF included) from the start of `input`; returns the rest.
    ///
    /// Untagged data this crate does not know (`* XFOO bar`, `* 3 XBAR`) is
    /// [`Data::Other`](crate::types::response::Data::Other), not an error (RFC 3501 §7: a client
    /// ignores what it does not understand).
    pub fn decode(input: &'a [u8]) -> Result<(&'a [u8], Self), DecodeError> {
        run(input, response::response)
    }
}

impl<'a> StatusResponse<'a> {
    /// Decodes a greeting (RFC 3501 §7.1: untagged OK, PREAUTH or BYE).
    pub fn decode_greeting(input: &'a [u8]) -> Result<(&'a [u8], Self), DecodeError> {
        run(input, response::greeting)
    }
}
