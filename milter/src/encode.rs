//! Encoders: a value into one frame appended to a caller's buffer.

use crate::error::EncodeError;
use crate::types::{Address, Command, OptNeg, Response};

/// Appends `cmd` as one frame to `out`. Fails, appending nothing, when a text field holds a NUL
/// or the frame would be longer than `max_frame`.
pub fn command(cmd: &Command, max_frame: usize, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    frame(cmd.code(), max_frame, out, |w| match cmd {
        Command::OptNeg(o) => optneg(o, w),
        Command::Macro { code, macros } => {
            w.raw(&[*code]);
            for (name, value) in macros {
                w.cstr(name)?;
                w.cstr(value)?;
            }
            Ok(())
        }
        Command::Connect { hostname, address } => {
            w.cstr(hostname)?;
            match address {
                Address::Unknown => {
                    w.raw(b"U");
                    Ok(())
                }
                Address::Inet4 { port, addr } | Address::Inet6 { port, addr } => {
                    w.raw(if matches!(address, Address::Inet4 { .. }) {
                        b"4"
                    } else {
                        b"6"
                    });
                    w.raw(&port.to_be_bytes());
                    w.cstr(addr)
                }
                Address::Unix { path } => {
                    w.raw(b"L");
                    w.raw(&[0, 0]);
                    w.cstr(path)
                }
            }
        }
        Command::Helo(s) | Command::Unknown(s) => w.cstr(s),
        Command::Mail(args) | Command::Rcpt(args) => {
            for a in args {
                w.cstr(a)?;
            }
            Ok(())
        }
        Command::Header { name, value } => {
            w.cstr(name)?;
            w.cstr(value)
        }
        Command::Body(chunk) => {
            w.raw(chunk);
            Ok(())
        }
        Command::Data
        | Command::EndOfHeaders
        | Command::EndOfMessage
        | Command::Abort
        | Command::Quit
        | Command::QuitNewConnection => Ok(()),
    })
}

/// Appends `resp` as one frame to `out`. Fails, appending nothing, when a text field holds a NUL,
/// a reply code is not `4xx`/`5xx`, or the frame would be longer than `max_frame`.
pub fn response(resp: &Response, max_frame: usize, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    frame(resp.code(), max_frame, out, |w| match resp {
        Response::OptNeg(o) => optneg(o, w),
        Response::ReplyCode(text) => {
            if !crate::parse::valid_reply(text) {
                return Err(EncodeError::BadReplyCode);
            }
            w.cstr(text)
        }
        Response::Quarantine(s) | Response::AddRcpt(s) | Response::DeleteRcpt(s) => w.cstr(s),
        Response::AddHeader { name, value } => {
            w.cstr(name)?;
            w.cstr(value)
        }
        Response::InsertHeader { index, name, value }
        | Response::ChangeHeader { index, name, value } => {
            w.raw(&index.to_be_bytes());
            w.cstr(name)?;
            w.cstr(value)
        }
        Response::ReplaceBody(chunk) => {
            w.raw(chunk);
            Ok(())
        }
        Response::AddRcptPar { rcpt, args } => {
            w.cstr(rcpt)?;
            w.cstr(args)
        }
        Response::ChangeFrom { from, args } => {
            w.cstr(from)?;
            match args {
                Some(a) => w.cstr(a),
                None => Ok(()),
            }
        }
        Response::Accept
        | Response::Continue
        | Response::Discard
        | Response::Reject
        | Response::Tempfail
        | Response::Skip
        | Response::Progress
        | Response::ConnectionFail
        | Response::Shutdown => Ok(()),
    })
}

fn optneg(o: &OptNeg, w: &mut Writer<'_>) -> Result<(), EncodeError> {
    w.raw(&o.version.to_be_bytes());
    w.raw(&o.actions.0.to_be_bytes());
    w.raw(&o.protocol.0.to_be_bytes());
    for (stage, names) in &o.macros {
        w.raw(&stage.code().to_be_bytes());
        w.cstr(names)?;
    }
    Ok(())
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn raw(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }

    fn cstr(&mut self, s: &[u8]) -> Result<(), EncodeError> {
        if s.contains(&0) {
            return Err(EncodeError::Nul);
        }
        self.0.extend_from_slice(s);
        self.0.push(0);
        Ok(())
    }
}

fn frame(
    code: u8,
    max_frame: usize,
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Writer<'_>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, code]);
    let result = body(&mut Writer(out));
    let len = out.len() - start - 4;
    match result {
        Ok(()) if len <= max_frame && u32::try_from(len).is_ok() => {
            out[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
            Ok(())
        }
        Ok(()) => {
            out.truncate(start);
            Err(EncodeError::TooLarge)
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}
