//! Serialisers: values into a caller's `BytesMut`, and [`DotStuffer`], which streams a message into
//! a multi-line response.

mod stuff;

pub use stuff::{DotStuffer, Feed};

use base64::Engine as _;
use bytes::{BufMut, BytesMut};

use crate::types::{
    AuthReply, Capability, Command, Response, SaslResponse, ScanListing, Stat, Status, UidListing,
};

/// A value with a wire form.
pub trait Encode {
    /// Appends the wire form, line end included, to `out`.
    fn encode(&self, out: &mut BytesMut);

    /// The wire form as a fresh vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.to_vec()
    }
}

fn base64(out: &mut BytesMut, data: &[u8]) {
    out.put_slice(
        base64::engine::general_purpose::STANDARD
            .encode(data)
            .as_bytes(),
    );
}

impl Encode for Command {
    fn encode(&self, out: &mut BytesMut) {
        out.put_slice(self.kind().keyword().as_bytes());
        match self {
            Self::User(name) => {
                out.put_u8(b' ');
                out.put_slice(name.as_str().as_bytes());
            }
            Self::Pass(secret) => {
                out.put_u8(b' ');
                out.put_slice(secret.expose());
            }
            Self::Apop { name, digest } => {
                out.put_u8(b' ');
                out.put_slice(name.as_str().as_bytes());
                out.put_u8(b' ');
                out.put_slice(digest.as_str().as_bytes());
            }
            Self::List(Some(n)) | Self::Uidl(Some(n)) | Self::Retr(n) | Self::Dele(n) => {
                out.put_slice(format!(" {n}").as_bytes());
            }
            Self::Top { message, lines } => {
                out.put_slice(format!(" {message} {lines}").as_bytes());
            }
            Self::Auth {
                mechanism,
                initial_response,
            } => {
                out.put_u8(b' ');
                out.put_slice(mechanism.as_str().as_bytes());
                if let Some(ir) = initial_response {
                    out.put_u8(b' ');
                    // RFC 5034 §4: "=" indicates a zero-length initial response.
                    if ir.expose().is_empty() {
                        out.put_u8(b'=');
                    } else {
                        base64(out, ir.expose());
                    }
                }
            }
            Self::Stat
            | Self::List(None)
            | Self::Noop
            | Self::Rset
            | Self::Quit
            | Self::Uidl(None)
            | Self::Capa
            | Self::Stls => {}
        }
        out.put_slice(b"\r\n");
    }
}

impl Encode for SaslResponse {
    fn encode(&self, out: &mut BytesMut) {
        match self {
            Self::Data(d) => base64(out, d.expose()),
            Self::Cancel => out.put_u8(b'*'),
        }
        out.put_slice(b"\r\n");
    }
}

impl Encode for Response {
    fn encode(&self, out: &mut BytesMut) {
        out.put_slice(match self.status {
            Status::Ok => b"+OK",
            Status::Err => b"-ERR",
        });
        if let Some(code) = &self.code {
            out.put_slice(b" [");
            out.put_slice(code.as_str().as_bytes());
            out.put_u8(b']');
        }
        if !self.text.is_empty() {
            out.put_u8(b' ');
            out.put_slice(self.text.as_str().as_bytes());
        }
        out.put_slice(b"\r\n");
    }
}

impl Encode for AuthReply {
    fn encode(&self, out: &mut BytesMut) {
        match self {
            Self::Continue(d) => {
                out.put_u8(b'+');
                out.put_u8(b' ');
                base64(out, d.expose());
                out.put_slice(b"\r\n");
            }
            Self::Done(r) => r.encode(out),
        }
    }
}

impl Encode for Capability {
    fn encode(&self, out: &mut BytesMut) {
        let line = match self {
            Self::Top => "TOP".to_owned(),
            Self::User => "USER".to_owned(),
            Self::Sasl(mechs) => {
                let mut s = "SASL".to_owned();
                for m in mechs {
                    s.push(' ');
                    s.push_str(m.as_str());
                }
                s
            }
            Self::RespCodes => "RESP-CODES".to_owned(),
            Self::LoginDelay { seconds, per_user } => {
                format!(
                    "LOGIN-DELAY {seconds}{}",
                    if *per_user { " USER" } else { "" }
                )
            }
            Self::Pipelining => "PIPELINING".to_owned(),
            Self::Expire { days, per_user } => format!(
                "EXPIRE {}{}",
                days.map_or_else(|| "NEVER".to_owned(), |d| d.to_string()),
                if *per_user { " USER" } else { "" }
            ),
            Self::Uidl => "UIDL".to_owned(),
            Self::Implementation(t) => format!("IMPLEMENTATION {t}"),
            Self::Stls => "STLS".to_owned(),
            Self::AuthRespCode => "AUTH-RESP-CODE".to_owned(),
            Self::Other { tag, params } => {
                let mut s = tag.as_str().to_owned();
                for p in params {
                    s.push(' ');
                    s.push_str(p.as_str());
                }
                s
            }
        };
        out.put_slice(line.as_bytes());
        out.put_slice(b"\r\n");
    }
}

/// A scan listing as one line of a multi-line LIST body (never starts with `.`).
impl Encode for ScanListing {
    fn encode(&self, out: &mut BytesMut) {
        out.put_slice(format!("{} {}\r\n", self.message, self.size).as_bytes());
    }
}

/// A unique-id listing as one line of a multi-line UIDL body (never starts with `.`).
impl Encode for UidListing {
    fn encode(&self, out: &mut BytesMut) {
        out.put_slice(format!("{} {}\r\n", self.message, self.uid).as_bytes());
    }
}

/// The `+OK nn mm` answer to STAT.
impl Encode for Stat {
    fn encode(&self, out: &mut BytesMut) {
        out.put_slice(format!("+OK {} {}\r\n", self.count, self.size).as_bytes());
    }
}

/// Appends the line that ends a multi-line response.
pub fn end_multiline(out: &mut BytesMut) {
    out.put_slice(b".\r\n");
}
