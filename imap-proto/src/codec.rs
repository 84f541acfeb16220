//! `tokio_util::codec` adapters (feature `tokio`): the [`Framer`] as a `Decoder`, and every
//! [`Encode`] value as an `Encoder`.
//!
//! The codec only frames; for session handling drive a [`crate::server::ServerSession`] or
//! [`crate::client::ClientSession`] with the bytes instead.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::encode::{Encode, Encoder as Writer};
use crate::framer::{Framer, FramerConfig, FramerEvent, FramerSide};

/// Frames IMAP commands (server side) or responses (client side).
#[derive(Debug)]
pub struct ImapCodec {
    framer: Framer,
}

impl ImapCodec {
    /// A codec for one side with these limits.
    pub fn new(side: FramerSide, config: FramerConfig) -> Self {
        Self {
            framer: Framer::new(side, config),
        }
    }
    /// The framer, e.g. to [`Framer::reject_literal`] or read [`Framer::pending_frame`].
    pub fn framer_mut(&mut self) -> &mut Framer {
        &mut self.framer
    }
}

impl Decoder for ImapCodec {
    type Item = FramerEvent;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<FramerEvent>, std::io::Error> {
        if !src.is_empty() {
            let data = src.split();
            self.framer.handle_input(&data);
        }
        Ok(self.framer.poll_event())
    }
}

impl<T: Encode> Encoder<&T> for ImapCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: &T, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        let mut w = Writer::with_buffer(std::mem::take(dst));
        item.encode(&mut w);
        *dst = w.into_parts().0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_frames_and_encodes_values() {
        let mut codec = ImapCodec::new(FramerSide::Commands, FramerConfig::default());
        let mut src = BytesMut::from(&b"a NOOP\r\nb NO"[..]);
        assert!(
            matches!(codec.decode(&mut src).unwrap(), Some(FramerEvent::Frame(f)) if &f[..] == b"a NOOP\r\n")
        );
        assert_eq!(codec.decode(&mut src).unwrap(), None);
        let mut dst = BytesMut::new();
        let r = crate::types::response::Continue::text("go").unwrap();
        codec
            .encode(&crate::types::response::Response::Continue(r), &mut dst)
            .unwrap();
        assert_eq!(&dst[..], b"+ go\r\n");
    }
}
