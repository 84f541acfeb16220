//! Streaming nom parsers: `&[u8]` in, a value and the rest out, or "incomplete", or "malformed".

// Parsers and writers read best with short names (`i` input, `r` rest, `e` encoder).
#![allow(clippy::many_single_char_names)]

pub(crate) mod command;
pub(crate) mod core;
pub(crate) mod response;

/// Why a value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends before the value does: read more and try again.
    #[error("incomplete input")]
    Incomplete,
    /// The input is malformed at `offset`; `near` shows (truncated) what was there.
    #[error("malformed input at offset {offset} near {near:?}")]
    Failed {
        /// Offset of the failure in the input.
        offset: usize,
        /// Up to 32 octets from the failure point, lossily decoded.
        near: String,
    },
}

impl DecodeError {
    pub(crate) fn from_nom(input: &[u8], e: nom::Err<nom::error::Error<&[u8]>>) -> Self {
        match e {
            nom::Err::Incomplete(_) => DecodeError::Incomplete,
            nom::Err::Error(e) | nom::Err::Failure(e) => {
                let offset = input.len().saturating_sub(e.input.len());
                let near = String::from_utf8_lossy(&e.input[..e.input.len().min(32)]).into_owned();
                DecodeError::Failed { offset, near }
            }
        }
    }
}

/// Runs `p` over `input`, mapping errors.
pub(crate) fn run<'a, T>(
    input: &'a [u8],
    p: impl FnOnce(&'a [u8]) -> core::PResult<'a, T>,
) -> Result<(&'a [u8], T), DecodeError> {
    p(input).map_err(|e| DecodeError::from_nom(input, e))
}

use crate::types::command::{AuthData, Command};

impl<'a> Command<'a> {
    /// Decodes one command (CRLF included) from the start of `input`; returns the rest.
    ///
    /// Literals must be inline (as the [`crate::framer::Framer`] delivers them).
    pub fn decode(input: &'a [u8]) -> Result<(&'a [u8], Self), DecodeError> {
        run(input, command::command)
    }
}

impl<'a> AuthData<'a> {
    /// Decodes an AUTHENTICATE continuation line (RFC 3501 §6.2.2): base64 CRLF, or `*` CRLF.
    pub fn decode_line(input: &'a [u8]) -> Result<(&'a [u8], Self), DecodeError> {
        run(input, command::auth_line)
    }
}
#[cfg(test)]
mod tests;

use crate::types::response::{Response, StatusResponse};

impl<'a> Response<'a> {
    /// Decodes one response (CRLF included) from the start of `input`; returns the rest.
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
