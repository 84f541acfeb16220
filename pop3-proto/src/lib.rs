//! # mailwright-pop3-proto
//!
//! Sans-IO POP3 (RFC 1939) with CAPA (RFC 2449), STLS (RFC 2595), SASL AUTH (RFC 5034) and
//! response codes (RFC 2449, RFC 3206): parsers, serialisers, streamed multi-line responses and
//! state machines for server and client.
//!
//! ## What this crate will not do
//!
//! No sockets, no TLS, no clock and no maildrop storage: the application supplies message data and
//! applies deletions.

#![forbid(unsafe_code)]

pub mod client;
#[cfg(feature = "tokio")]
pub mod codec;
pub mod encode;
pub mod parse;
pub mod server;
pub mod types;

pub use bytes;
pub use encode::Encode;
pub use types::*;
