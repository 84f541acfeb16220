//! Serialisers: values are written into a caller's [`BytesMut`], each line ending in CRLF.

use std::fmt::Write as _;

use bytes::BytesMut;

use crate::types::text::{base64_encode, xtext_encode};
use crate::types::{
    BodyType, Command, MailAuth, MailParameters, Notify, RcptParameters, Reply, Ret,
};

impl Command {
    /// Writes the command line, CRLF included.
    pub fn encode(&self, out: &mut BytesMut) {
        // Writing into a BytesMut cannot fail.
        let _ = match self {
            Command::Ehlo(h) => write!(out, "EHLO {h}"),
            Command::Helo(h) => write!(out, "HELO {h}"),
            Command::Lhlo(h) => write!(out, "LHLO {h}"),
            Command::Mail { from, params } => {
                let _ = write!(out, "MAIL FROM:{from}");
                encode_mail_params(params, out);
                Ok(())
            }
            Command::Rcpt { to, params } => {
                let _ = write!(out, "RCPT TO:{to}");
                encode_rcpt_params(params, out);
                Ok(())
            }
            Command::Data => write!(out, "DATA"),
            Command::Bdat { size, last: true } => write!(out, "BDAT {size} LAST"),
            Command::Bdat { size, last: false } => write!(out, "BDAT {size}"),
            Command::Rset => write!(out, "RSET"),
            Command::Noop(None) => write!(out, "NOOP"),
            Command::Noop(Some(s)) => write!(out, "NOOP {s}"),
            Command::Quit => write!(out, "QUIT"),
            Command::Vrfy(s) => write!(out, "VRFY {s}"),
            Command::Expn(s) => write!(out, "EXPN {s}"),
            Command::Help(None) => write!(out, "HELP"),
            Command::Help(Some(s)) => write!(out, "HELP {s}"),
            Command::StartTls => write!(out, "STARTTLS"),
            Command::Auth {
                mechanism,
                initial_response: None,
            } => write!(out, "AUTH {mechanism}"),
            Command::Auth {
                mechanism,
                initial_response: Some(r),
            } if r.is_empty() => {
                write!(out, "AUTH {mechanism} =")
            }
            Command::Auth {
                mechanism,
                initial_response: Some(r),
            } => {
                write!(out, "AUTH {mechanism} {}", base64_encode(r))
            }
        };
        out.extend_from_slice(b"\r\n");
    }

    /// The command line as bytes.
    pub fn to_bytes(&self) -> BytesMut {
        let mut b = BytesMut::with_capacity(64);
        self.encode(&mut b);
        b
    }
}

fn encode_mail_params(p: &MailParameters, out: &mut BytesMut) {
    if let Some(s) = p.size {
        let _ = write!(out, " SIZE={s}");
    }
    if let Some(b) = p.body {
        out.extend_from_slice(match b {
            BodyType::SevenBit => b" BODY=7BIT",
            BodyType::EightBitMime => b" BODY=8BITMIME",
            BodyType::BinaryMime => b" BODY=BINARYMIME",
        });
    }
    if p.smtputf8 {
        out.extend_from_slice(b" SMTPUTF8");
    }
    if let Some(r) = p.ret {
        out.extend_from_slice(if r == Ret::Full {
            b" RET=FULL"
        } else {
            b" RET=HDRS"
        });
    }
    if let Some(e) = &p.envid {
        let _ = write!(out, " ENVID={}", xtext_encode(e));
    }
    match &p.auth {
        Some(MailAuth::Unknown) => out.extend_from_slice(b" AUTH=<>"),
        Some(MailAuth::Mailbox(m)) => {
            let _ = write!(out, " AUTH={}", xtext_encode(m));
        }
        None => {}
    }
    if p.requiretls {
        out.extend_from_slice(b" REQUIRETLS");
    }
    encode_other(&p.other, out);
}

fn encode_other(other: &[crate::types::Parameter], out: &mut BytesMut) {
    for o in other {
        let _ = match &o.value {
            Some(v) => write!(out, " {}={v}", o.keyword),
            None => write!(out, " {}", o.keyword),
        };
    }
}

fn encode_rcpt_params(p: &RcptParameters, out: &mut BytesMut) {
    match p.notify {
        Some(Notify::Never) => out.extend_from_slice(b" NOTIFY=NEVER"),
        Some(Notify::On {
            success,
            failure,
            delay,
        }) => {
            let flags: Vec<&str> = [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")]
                .into_iter()
                .filter_map(|(on, n)| on.then_some(n))
                .collect();
            let _ = write!(out, " NOTIFY={}", flags.join(","));
        }
        None => {}
    }
    if let Some(o) = &p.orcpt {
        let _ = write!(out, " ORCPT={};{}", o.addr_type, xtext_encode(&o.address));
    }
    encode_other(&p.other, out);
}

impl Reply {
    /// Writes the reply, one `code-`/`code ` line per text line, the enhanced code at the start of
    /// each line's text (RFC 2034 §4).
    pub fn encode(&self, out: &mut BytesMut) {
        let lines = self.raw_lines();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            let _ = write!(out, "{}", self.code());
            match self.enhanced() {
                Some(e) => {
                    let _ = write!(out, "{sep}{e}");
                    if !line.is_empty() {
                        out.extend_from_slice(b" ");
                    }
                }
                None if line.is_empty() && sep == ' ' => {}
                None => {
                    let _ = write!(out, "{sep}");
                }
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The reply as bytes.
    pub fn to_bytes(&self) -> BytesMut {
        let mut b = BytesMut::with_capacity(64);
        self.encode(&mut b);
        b
    }
}
