//! `tokio_util::codec` adapters (feature `tokio`): framing of commands and status lines for
//! drivers that prefer `Framed` to the state machines. Multi-line bodies are the state machines'
//! business ([`crate::server::ServerSession`], [`crate::client::ClientSession`]); these codecs
//! handle one line at a time.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::encode::Encode;
use crate::parse::{self, DecodeError, MalformedKind};
use crate::types::{Command, Response};

/// Why a line could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The transport failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A line did not parse ([`DecodeError::Malformed`]); it is skipped (an over-long one
    /// through its end, as it arrives) and decoding goes on with the next line.
    #[error("{0}")]
    Malformed(DecodeError),
}

fn decode_line<T>(
    src: &mut BytesMut,
    discarding: &mut bool,
    max: usize,
    parse: impl Fn(&[u8], usize) -> Result<(&[u8], T), DecodeError>,
) -> Result<Option<T>, CodecError> {
    if *discarding {
        match parse::skip_line(src) {
            Some(n) => {
                let _ = src.split_to(n);
                *discarding = false;
            }
            None => {
                src.clear();
                return Ok(None);
            }
        }
    }
    let result = parse(src, max).map(|(rest, v)| (rest.len(), v));
    match result {
        Ok((rest, v)) => {
            let used = src.len() - rest;
            let _ = src.split_to(used);
            Ok(Some(v))
        }
        Err(DecodeError::Malformed {
            kind,
            skip,
            excerpt,
        }) => {
            let skip = skip.min(src.len());
            *discarding =
                matches!(kind, MalformedKind::LineTooLong { .. }) && !src[..skip].ends_with(b"\n");
            let _ = src.split_to(skip);
            Err(CodecError::Malformed(DecodeError::malformed(
                kind, skip, excerpt,
            )))
        }
        Err(_) => Ok(None),
    }
}

/// Server side: decodes commands, encodes status lines.
#[derive(Debug, Clone)]
pub struct ServerCodec {
    max_line: usize,
    discarding: bool,
}

impl Default for ServerCodec {
    fn default() -> Self {
        Self::new(parse::DEFAULT_MAX_COMMAND_LINE)
    }
}

impl ServerCodec {
    /// A codec refusing command lines longer than `max_line` (CRLF included).
    pub fn new(max_line: usize) -> Self {
        Self {
            max_line,
            discarding: false,
        }
    }
}

impl Decoder for ServerCodec {
    type Item = Command;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Command>, CodecError> {
        decode_line(
            src,
            &mut self.discarding,
            self.max_line,
            parse::command_with_limit,
        )
    }
}

impl Encoder<Response> for ServerCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Response, dst: &mut BytesMut) -> Result<(), CodecError> {
        item.encode(dst);
        Ok(())
    }
}

/// Client side: decodes status lines, encodes commands.
#[derive(Debug, Clone)]
pub struct ClientCodec {
    max_line: usize,
    discarding: bool,
}

impl Default for ClientCodec {
    fn default() -> Self {
        Self::new(parse::DEFAULT_MAX_RESPONSE_LINE)
    }
}

impl ClientCodec {
    /// A codec refusing status lines longer than `max_line` (CRLF included).
    pub fn new(max_line: usize) -> Self {
        Self {
            max_line,
            discarding: false,
        }
    }
}

impl Decoder for ClientCodec {
    type Item = Response;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Response>, CodecError> {
        decode_line(src, &mut self.discarding, self.max_line, parse::response)
    }
}

impl Encoder<Command> for ClientCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Command, dst: &mut BytesMut) -> Result<(), CodecError> {
        item.encode(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_codec_frames_and_recovers() {
        let mut codec = ServerCodec::new(16);
        let mut buf = BytesMut::from(&b"NOOP\r\nSTA"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Command::Noop));
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"T\r\nAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Command::Stat));
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::Malformed(DecodeError::Malformed {
                kind: MalformedKind::LineTooLong { limit: 16 },
                ..
            }))
        ));
        buf.extend_from_slice(b"AAAA\r\nBOGUS\r\nQUIT\r\n");
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::Malformed(_))
        ));
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Command::Quit));
        let mut out = BytesMut::new();
        codec.encode(Response::ok("hi"), &mut out).unwrap();
        assert_eq!(&out[..], b"+OK hi\r\n");
    }

    #[test]
    fn client_codec_round_trips() {
        let mut codec = ClientCodec::default();
        let mut out = BytesMut::new();
        codec.encode(Command::Capa, &mut out).unwrap();
        assert_eq!(&out[..], b"CAPA\r\n");
        let mut buf = BytesMut::from(&b"-ERR [IN-USE] locked\r\n"[..]);
        let r = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(r.code, Some(crate::types::ResponseCode::InUse));
    }
}
