//! # mailwright-smtp-proto
//!
//! Sans-IO SMTP (RFC 5321) with ESMTP extensions, submission (RFC 6409) and LMTP (RFC 2033):
//! streaming parsers and serialisers for every command and reply, and session state machines for
//! both the server and the client side.
//!
//! ## What this crate will not do
//!
//! No sockets, no TLS, no clock, no filesystem: bytes go in, typed events and bytes to send come
//! out. Routing, queueing and delivery belong to the application.

#![forbid(unsafe_code)]

pub mod client;
pub mod data;
pub mod encode;
pub mod parse;
pub mod server;
pub mod types;

pub use client::{ClientConfig, ClientEvent, ClientSession, Envelope, TransactionResult};
pub use data::{BareLineEnding, DataDecoder, DataError, DotStuffer};
pub use parse::{MalformedKind, ParseError};
pub use server::{Event, Mode, ServerConfig, ServerSession};
pub use types::*;
