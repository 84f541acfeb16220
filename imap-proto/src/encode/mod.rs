//! Serialisers: values into a caller's [`BytesMut`].
//!
//! [`Encoder`] remembers where each synchronizing literal's `{n}` CRLF ends, so that a client can send
//! a command up to that point, wait for the server's `+`, and go on (RFC 3501 §7.5).

// Parsers and writers read best with short names (`i` input, `r` rest, `e` encoder).
#![allow(clippy::many_single_char_names)]

use bytes::{BufMut, BytesMut};

mod command;
mod core;
mod response;

/// `Display` as the wire form, for values people read and write by hand (sections, FETCH
/// attributes, search keys, dates). A literal is shown as on the wire (`{n}` CRLF octets), and
/// octets that are not UTF-8 as U+FFFD.
macro_rules! display_as_wire {
    ($($t:ty),* $(,)?) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&String::from_utf8_lossy(&Encode::to_bytes(self)))
            }
        }
    )*};
}

display_as_wire!(
    crate::types::command::Section<'_>,
    crate::types::command::FetchAttribute<'_>,
    crate::types::command::FetchItems<'_>,
    crate::types::command::SearchKey<'_>,
    crate::types::datetime::Date,
);

/// Something that can be written in IMAP syntax.
pub trait Encode {
    /// Writes `self` into `e`.
    fn encode(&self, e: &mut Encoder);

    /// Writes `self` into a fresh buffer and returns the octets (sync points dropped).
    fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.encode(&mut e);
        e.into_parts().0.to_vec()
    }
}

/// An output buffer that records synchronizing-literal points.
#[derive(Debug, Default)]
pub struct Encoder {
    out: BytesMut,
    sync_points: Vec<usize>,
    /// Synchronizing literals up to this size are written as `{n+}` (LITERAL+ / LITERAL-).
    non_sync_up_to: Option<u32>,
    /// Literals over `non_sync_up_to` are written as `{n}` even when they are non-synchronizing.
    strict: bool,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }
    /// An encoder appending to `out`.
    pub fn with_buffer(out: BytesMut) -> Self {
        Self {
            out,
            sync_points: Vec::new(),
            non_sync_up_to: None,
            strict: false,
        }
    }

    /// Writes synchronizing literals of at most `max` octets as non-synchronizing ones: `Some(u32::MAX)`
    /// for a server that announced LITERAL+, `Some(4096)` for LITERAL- (RFC 7888), `None` to keep
    /// every literal as it is (the default).
    pub fn set_non_sync_literals(&mut self, max: Option<u32>) {
        self.non_sync_up_to = max;
        self.strict = false;
    }

    /// Writes every literal of at most `max` octets as non-synchronizing and every other one as
    /// synchronizing, whatever its mode: a client following what the server advertised
    /// (`Some(u32::MAX)` for LITERAL+, `Some(4096)` for LITERAL-, `None` for neither).
    pub fn set_literal_limit(&mut self, max: Option<u32>) {
        self.non_sync_up_to = max;
        self.strict = true;
    }
    /// The octets and the offsets just after each sync literal's `{n}` CRLF.
    pub fn into_parts(self) -> (BytesMut, Vec<usize>) {
        (self.out, self.sync_points)
    }
    /// The octets written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }
    /// Appends raw octets.
    pub fn raw(&mut self, b: &[u8]) {
        self.out.put_slice(b);
    }
    /// Appends one space.
    pub fn sp(&mut self) {
        self.out.put_u8(b' ');
    }
    /// Appends CRLF.
    pub fn crlf(&mut self) {
        self.out.put_slice(b"\r\n");
    }
    /// Appends a number in decimal.
    pub fn number(&mut self, n: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut n = n;
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.out.put_slice(&buf[i..]);
    }
    /// Appends a literal header and its octets, recording a sync point for `{n}`.
    pub fn literal(&mut self, data: &[u8], mode: crate::types::core::LiteralMode) {
        let mode = match self.non_sync_up_to {
            Some(max) if data.len() as u64 <= u64::from(max) => {
                crate::types::core::LiteralMode::NonSync
            }
            _ if self.strict => crate::types::core::LiteralMode::Sync,
            _ => mode,
        };
        self.out.put_u8(b'{');
        self.number(data.len() as u64);
        if mode == crate::types::core::LiteralMode::NonSync {
            self.out.put_u8(b'+');
        }
        self.out.put_slice(b"}\r\n");
        if mode == crate::types::core::LiteralMode::Sync {
            self.sync_points.push(self.out.len());
        }
        self.out.put_slice(data);
    }
    /// Appends `items` separated by single spaces.
    pub fn join<T: Encode>(&mut self, items: &[T]) {
        for (k, item) in items.iter().enumerate() {
            if k > 0 {
                self.sp();
            }
            item.encode(self);
        }
    }
    /// Appends `"(" items ")"`.
    pub fn paren<T: Encode>(&mut self, items: &[T]) {
        self.raw(b"(");
        self.join(items);
        self.raw(b")");
    }
}
