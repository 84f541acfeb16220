//! `tokio_util::codec` adapters (feature `tokio`) for drivers that prefer framed streams to the
//! session machines: [`ServerCodec`] frames commands and DATA, [`ClientCodec`] frames replies.
//!
//! These do framing only; command order, limits and replies are the business of
//! [`crate::ServerSession`] and [`crate::ClientSession`].

use std::io;

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::data::{BareLineEnding, DataDecoder, DataError};
use crate::parse::{DecodeError, command, reply};
use crate::types::{Command, Reply};

/// A frame read by [`ServerCodec`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerFrame {
    /// A well-formed command.
    Command(Command),
    /// A malformed line, skipped (reply 500/501).
    Malformed(DecodeError),
    /// A line longer than the limit, skipped (reply 500).
    LineTooLong,
    /// Unstuffed message content (after [`ServerCodec::start_data`]).
    DataChunk(Bytes),
    /// The end of message content; the codec is back to commands.
    DataEnd,
    /// A bare CR or LF in the content; the codec is back to commands, the connection should close.
    DataError(DataError),
}

/// Server-side framing: command lines, then DATA content when asked.
#[derive(Debug)]
pub struct ServerCodec {
    max_line: usize,
    discarding: bool,
    ended: bool,
    data: Option<DataDecoder>,
}

impl ServerCodec {
    /// A codec with a command line limit (CRLF included; RFC 5321 says 512).
    pub fn new(max_line: usize) -> Self {
        ServerCodec {
            max_line,
            discarding: false,
            ended: false,
            data: None,
        }
    }

    /// Switches to DATA content after you sent the 354.
    pub fn start_data(&mut self, policy: BareLineEnding, max_text_line: usize) {
        self.data = Some(DataDecoder::new(policy, max_text_line));
    }
}

impl Default for ServerCodec {
    fn default() -> Self {
        Self::new(512)
    }
}

impl Decoder for ServerCodec {
    type Item = ServerFrame;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ServerFrame>, io::Error> {
        if self.ended {
            self.ended = false;
            return Ok(Some(ServerFrame::DataEnd));
        }
        if let Some(dec) = &mut self.data {
            if src.is_empty() {
                return Ok(None);
            }
            return match dec.decode_chunk(src) {
                Err(e) => {
                    self.data = None;
                    src.clear();
                    Ok(Some(ServerFrame::DataError(e)))
                }
                Ok((d, out)) => {
                    if d.end {
                        self.data = None;
                        if out.is_empty() {
                            return Ok(Some(ServerFrame::DataEnd));
                        }
                        // Content first; the next call reports the end.
                        self.ended = true;
                        return Ok(Some(ServerFrame::DataChunk(out)));
                    }
                    if out.is_empty() {
                        Ok(None)
                    } else {
                        Ok(Some(ServerFrame::DataChunk(out)))
                    }
                }
            };
        }
        loop {
            if self.discarding {
                match memchr::memchr(b'\n', src) {
                    None => {
                        src.clear();
                        return Ok(None);
                    }
                    Some(p) => {
                        let _ = src.split_to(p + 1);
                        self.discarding = false;
                        return Ok(Some(ServerFrame::LineTooLong));
                    }
                }
            }
            match memchr::memchr(b'\n', src) {
                None if src.len() >= self.max_line => {
                    self.discarding = true;
                }
                None => return Ok(None),
                Some(p) if p + 1 > self.max_line => {
                    let _ = src.split_to(p + 1);
                    return Ok(Some(ServerFrame::LineTooLong));
                }
                Some(_) => {
                    return match command(src) {
                        Ok((rest, c)) => {
                            let used = src.len() - rest.len();
                            let _ = src.split_to(used);
                            Ok(Some(ServerFrame::Command(c)))
                        }
                        Err(e @ DecodeError::Malformed { skip, .. }) => {
                            let _ = src.split_to(skip);
                            Ok(Some(ServerFrame::Malformed(e)))
                        }
                        Err(_) => Ok(None),
                    };
                }
            }
        }
    }
}

impl Encoder<Reply> for ServerCodec {
    type Error = io::Error;
    fn encode(&mut self, item: Reply, dst: &mut BytesMut) -> Result<(), io::Error> {
        item.encode(dst);
        Ok(())
    }
}

/// Client-side framing: whole (multi-line) replies in, commands out.
#[derive(Debug)]
pub struct ClientCodec {
    max_reply: usize,
}

impl ClientCodec {
    /// A codec refusing replies longer than `max_reply` bytes.
    pub fn new(max_reply: usize) -> Self {
        ClientCodec { max_reply }
    }
}

impl Default for ClientCodec {
    fn default() -> Self {
        Self::new(65536)
    }
}

impl Decoder for ClientCodec {
    type Item = Reply;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Reply>, io::Error> {
        match reply(src) {
            Ok((rest, r)) => {
                let used = src.len() - rest.len();
                let _ = src.split_to(used);
                Ok(Some(r))
            }
            Err(DecodeError::Incomplete) if src.len() <= self.max_reply => Ok(None),
            Err(DecodeError::Incomplete) => {
                Err(io::Error::new(io::ErrorKind::InvalidData, "reply too long"))
            }
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }
}

impl Encoder<Command> for ClientCodec {
    type Error = io::Error;
    fn encode(&mut self, item: Command, dst: &mut BytesMut) -> Result<(), io::Error> {
        item.encode(dst);
        Ok(())
    }
}

impl Encoder<&[u8]> for ClientCodec {
    type Error = io::Error;
    /// Writes raw bytes (a dot-stuffed body or a BDAT chunk).
    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), io::Error> {
        dst.extend_from_slice(item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frames() {
        let mut c = ServerCodec::default();
        let mut src = BytesMut::from(&b"EHLO x\r\nFOO\r\nDATA\r\nhi\r\n..\r\n.\r\nQUIT\r\n"[..]);
        assert!(matches!(
            c.decode(&mut src).unwrap(),
            Some(ServerFrame::Command(Command::Ehlo(_)))
        ));
        assert!(matches!(
            c.decode(&mut src).unwrap(),
            Some(ServerFrame::Malformed(_))
        ));
        assert_eq!(
            c.decode(&mut src).unwrap(),
            Some(ServerFrame::Command(Command::Data))
        );
        c.start_data(BareLineEnding::Reject, 1000);
        assert_eq!(
            c.decode(&mut src).unwrap(),
            Some(ServerFrame::DataChunk(Bytes::from_static(b"hi\r\n.\r\n")))
        );
        assert_eq!(c.decode(&mut src).unwrap(), Some(ServerFrame::DataEnd));
        assert_eq!(
            c.decode(&mut src).unwrap(),
            Some(ServerFrame::Command(Command::Quit))
        );
        assert_eq!(c.decode(&mut src).unwrap(), None);
        let mut long = BytesMut::from(&[b'x'; 600][..]);
        assert_eq!(c.decode(&mut long).unwrap(), None);
        long.extend_from_slice(b"\r\nNOOP\r\n");
        assert_eq!(c.decode(&mut long).unwrap(), Some(ServerFrame::LineTooLong));
        assert_eq!(
            c.decode(&mut long).unwrap(),
            Some(ServerFrame::Command(Command::Noop(None)))
        );
    }

    #[test]
    fn client_frames() {
        let mut c = ClientCodec::default();
        let mut src = BytesMut::from(&b"250-a\r\n250 b\r\n354 go\r\n"[..]);
        assert_eq!(c.decode(&mut src).unwrap().unwrap().lines(), ["a", "b"]);
        assert_eq!(c.decode(&mut src).unwrap().unwrap().code().get(), 354);
        assert!(c.decode(&mut BytesMut::from(&b"xyz\r\n"[..])).is_err());
        let mut out = BytesMut::new();
        c.encode(Command::Quit, &mut out).unwrap();
        assert_eq!(&out[..], b"QUIT\r\n");
    }
}
