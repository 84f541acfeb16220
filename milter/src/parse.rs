//! Streaming decoders: a frame is a 4-octet big-endian length, then that many octets (a code
//! octet and its data). Partial input is [`DecodeError::Incomplete`]; a frame longer than the
//! caller's limit is refused before anything is allocated for it.

use mailwright_sansio::Excerpt;

use crate::error::{DecodeError, MalformedKind};
use crate::types::{Address, Command, OptNeg, Response, Stage};

/// Splits the next frame off `input`: `(octets consumed, code, data)`.
///
/// A frame whose length exceeds `max_frame` (or is zero) is malformed; its `skip` is the whole
/// input, since a stream cannot be resynchronised after a bad length.
pub fn frame(input: &[u8], max_frame: usize) -> Result<(usize, u8, &[u8]), DecodeError> {
    let Some(len) = input.get(..4) else {
        return Err(DecodeError::Incomplete);
    };
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len == 0 {
        return Err(DecodeError::malformed(
            MalformedKind::EmptyFrame,
            input.len(),
            Excerpt::new(input),
        ));
    }
    if len > max_frame {
        return Err(DecodeError::malformed(
            MalformedKind::FrameTooLarge,
            input.len(),
            Excerpt::new(input),
        ));
    }
    let Some(body) = input.get(4..4 + len) else {
        return Err(DecodeError::Incomplete);
    };
    Ok((4 + len, body[0], &body[1..]))
}

/// Decodes the next command (MTA to filter) from `input`: `(octets consumed, command)`.
pub fn command(input: &[u8], max_frame: usize) -> Result<(usize, Command), DecodeError> {
    let (used, code, data) = frame(input, max_frame)?;
    let bad = |kind| DecodeError::malformed(kind, used, Excerpt::new(&input[..used]));
    let cmd = command_data(code, data).map_err(bad)?;
    Ok((used, cmd))
}

/// Decodes the next response (filter to MTA) from `input`: `(octets consumed, response)`.
pub fn response(input: &[u8], max_frame: usize) -> Result<(usize, Response), DecodeError> {
    let (used, code, data) = frame(input, max_frame)?;
    let bad = |kind| DecodeError::malformed(kind, used, Excerpt::new(&input[..used]));
    let resp = response_data(code, data).map_err(bad)?;
    Ok((used, resp))
}

/// A cursor over a frame's data.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Result<u32, MalformedKind> {
        let Some((head, rest)) = self.0.split_first_chunk::<4>() else {
            return Err(MalformedKind::Truncated);
        };
        self.0 = rest;
        Ok(u32::from_be_bytes(*head))
    }

    fn u16(&mut self) -> Result<u16, MalformedKind> {
        let Some((head, rest)) = self.0.split_first_chunk::<2>() else {
            return Err(MalformedKind::Truncated);
        };
        self.0 = rest;
        Ok(u16::from_be_bytes(*head))
    }

    fn u8(&mut self) -> Result<u8, MalformedKind> {
        let Some((&b, rest)) = self.0.split_first() else {
            return Err(MalformedKind::Truncated);
        };
        self.0 = rest;
        Ok(b)
    }

    /// A NUL-terminated string, without its NUL.
    fn cstr(&mut self) -> Result<&'a [u8], MalformedKind> {
        let Some(end) = self.0.iter().position(|&b| b == 0) else {
            return Err(MalformedKind::MissingNul);
        };
        let s = &self.0[..end];
        self.0 = &self.0[end + 1..];
        Ok(s)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn end(&self) -> Result<(), MalformedKind> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(MalformedKind::TrailingData)
        }
    }

    /// NUL-terminated strings up to the end of the data.
    fn cstrs(&mut self) -> Result<Vec<Vec<u8>>, MalformedKind> {
        let mut out = Vec::new();
        while !self.is_empty() {
            out.push(self.cstr()?.to_vec());
        }
        Ok(out)
    }
}

fn optneg(data: &[u8]) -> Result<OptNeg, MalformedKind> {
    let mut r = Reader(data);
    let version = r.u32()?;
    let actions = crate::Actions(r.u32()?);
    let protocol = crate::Protocol(r.u32()?);
    let mut macros = Vec::new();
    while !r.is_empty() {
        let stage = Stage::from_code(r.u32()?).ok_or(MalformedKind::BadStage)?;
        macros.push((stage, r.cstr()?.to_vec()));
    }
    Ok(OptNeg {
        version,
        actions,
        protocol,
        macros,
    })
}

fn command_data(code: u8, data: &[u8]) -> Result<Command, MalformedKind> {
    let mut r = Reader(data);
    let cmd = match code {
        b'O' => return optneg(data).map(Command::OptNeg),
        b'D' => {
            let code = r.u8()?;
            let mut macros = Vec::new();
            while !r.is_empty() {
                let name = r.cstr()?.to_vec();
                let value = r.cstr()?.to_vec();
                macros.push((name, value));
            }
            Command::Macro { code, macros }
        }
        b'C' => {
            let hostname = r.cstr()?.to_vec();
            let address = match r.u8()? {
                b'U' => Address::Unknown,
                family @ (b'4' | b'6') => {
                    let port = r.u16()?;
                    let addr = r.cstr()?.to_vec();
                    if family == b'4' {
                        Address::Inet4 { port, addr }
                    } else {
                        Address::Inet6 { port, addr }
                    }
                }
                b'L' => {
                    r.u16()?;
                    Address::Unix {
                        path: r.cstr()?.to_vec(),
                    }
                }
                _ => return Err(MalformedKind::BadFamily),
            };
            Command::Connect { hostname, address }
        }
        b'H' => Command::Helo(r.cstr()?.to_vec()),
        b'M' => Command::Mail(r.cstrs()?),
        b'R' => Command::Rcpt(r.cstrs()?),
        b'T' => Command::Data,
        b'L' => {
            let name = r.cstr()?.to_vec();
            let value = r.cstr()?.to_vec();
            Command::Header { name, value }
        }
        b'N' => Command::EndOfHeaders,
        b'B' => return Ok(Command::Body(data.to_vec())),
        b'E' => Command::EndOfMessage,
        b'A' => Command::Abort,
        b'Q' => Command::Quit,
        b'K' => Command::QuitNewConnection,
        b'U' => Command::Unknown(r.cstr()?.to_vec()),
        _ => return Err(MalformedKind::UnknownCode),
    };
    // SMFIC_BODYEOB may carry a last body chunk (libmilter allows it); nobody sends one.
    if code != b'E' {
        r.end()?;
    }
    Ok(cmd)
}

fn response_data(code: u8, data: &[u8]) -> Result<Response, MalformedKind> {
    let mut r = Reader(data);
    let resp = match code {
        b'O' => return optneg(data).map(Response::OptNeg),
        b'a' => Response::Accept,
        b'c' => Response::Continue,
        b'd' => Response::Discard,
        b'r' => Response::Reject,
        b't' => Response::Tempfail,
        b'y' => {
            let text = r.cstr()?;
            if !valid_reply(text) {
                return Err(MalformedKind::BadReplyCode);
            }
            Response::ReplyCode(text.to_vec())
        }
        b's' => Response::Skip,
        b'p' => Response::Progress,
        b'f' => Response::ConnectionFail,
        b'4' => Response::Shutdown,
        b'q' => Response::Quarantine(r.cstr()?.to_vec()),
        b'h' => {
            let name = r.cstr()?.to_vec();
            let value = r.cstr()?.to_vec();
            Response::AddHeader { name, value }
        }
        b'i' | b'm' => {
            let index = r.u32()?;
            let name = r.cstr()?.to_vec();
            let value = r.cstr()?.to_vec();
            if code == b'i' {
                Response::InsertHeader { index, name, value }
            } else {
                Response::ChangeHeader { index, name, value }
            }
        }
        b'b' => return Ok(Response::ReplaceBody(data.to_vec())),
        b'+' => Response::AddRcpt(r.cstr()?.to_vec()),
        b'-' => Response::DeleteRcpt(r.cstr()?.to_vec()),
        b'2' => {
            let rcpt = r.cstr()?.to_vec();
            let args = if r.is_empty() {
                Vec::new()
            } else {
                r.cstr()?.to_vec()
            };
            Response::AddRcptPar { rcpt, args }
        }
        b'e' => {
            let from = r.cstr()?.to_vec();
            let args = if r.is_empty() {
                None
            } else {
                Some(r.cstr()?.to_vec())
            };
            Response::ChangeFrom { from, args }
        }
        _ => return Err(MalformedKind::UnknownCode),
    };
    r.end()?;
    Ok(resp)
}

/// Whether `text` starts like an SMTP reply a filter may give: a three-digit code `4xx` or
/// `5xx`, then a space, a hyphen (multi-line) or nothing.
pub fn valid_reply(text: &[u8]) -> bool {
    matches!(text, [b'4' | b'5', b'0'..=b'9', b'0'..=b'9', rest @ ..]
        if matches!(rest.first(), None | Some(b' ' | b'-')))
}
