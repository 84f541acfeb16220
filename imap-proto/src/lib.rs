//! # mailwright-imap-proto
//!
//! Sans-IO IMAP4rev1 (RFC 3501) with the extensions real clients use: streaming parsers and serialisers for every command and response, a literal-aware framer, and server and client flows.
//!
//! ## What this crate will not do
//!
//! No sockets, no TLS, no clock and no mailbox storage: it speaks the protocol and enforces session state; what a mailbox holds is the application's business.

#![forbid(unsafe_code)]

pub mod encode;
pub mod parse;
pub mod types;

pub use encode::{Encode, Encoder};
pub use types::ValidationError;
pub use types::core::{
    AString, Atom, AtomExt, IString, IntoStatic, Literal, LiteralMode, NString, Quoted, Tag, Text,
    Vec1,
};
#[cfg(test)]
mod arbitrary;
pub mod client;
pub mod framer;
pub mod server;
