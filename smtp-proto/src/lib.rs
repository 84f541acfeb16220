#![doc = include_str!("../README.md")]
//!
//! ## The server machine in five calls
//!
//! Per connection: [`ServerSession::new`] with a [`ServerConfig`] (mode, host name, offered
//! [`server::Extensions`] including STARTTLS and AUTH, [`server::Limits`]); then
//! [`ServerSession::handle_input`] with the bytes read, [`ServerSession::poll_event`] for
//! [`Event`]s, a decision for those that need one ([`ServerSession::accept`],
//! [`ServerSession::reject`], [`ServerSession::data_replies`] for LMTP,
//! [`ServerSession::auth_challenge`] for SASL), and [`ServerSession::poll_transmit`] for the bytes
//! to write (the greeting is there from the start). After [`Event::StartTls`] (which says how many
//! bytes were discarded) run the handshake and call [`ServerSession::handle_tls_established`].
//! Stop reading while [`ServerSession::wants_input`] is false (a decision is pending); on an idle
//! timer call [`ServerSession::handle_timeout`]. Every limit is in [`server::Limits`] with its
//! default; [`ServerConfig::strict_pipelining`] (on by default) closes sessions that pipeline past
//! EHLO or DATA, as RFC 2920 §3.1 forbids.
//!
//! ```
//! use mailwright_smtp_proto::{Event, Mode, Reply, ServerConfig, ServerSession};
//!
//! let mut config = ServerConfig::new(Mode::Lmtp, "lmtp.example.org");
//! config.strict_pipelining = false; // this example sends everything at once
//! let mut s = ServerSession::new(config);
//! s.handle_input(b"LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nRCPT TO:<z@y>\r\nDATA\r\nHi\r\n.\r\n");
//! let mut content = Vec::new();
//! while let Some(event) = s.poll_event() {
//!     match event {
//!         Event::DataChunk(c) => content.extend_from_slice(&c),
//!         // LMTP: one reply per accepted recipient.
//!         Event::DataEnd => s.data_replies(vec![Reply::ok(), Reply::new(452, None, "Mailbox full").unwrap()]),
//!         e if e.needs_decision() => s.accept(),
//!         _ => {}
//!     }
//! }
//! let out = s.poll_transmit().unwrap();
//! assert!(out.ends_with(b"354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 OK\r\n452 Mailbox full\r\n"));
//! assert_eq!(content, b"Hi\r\n");
//! ```
//!
//! ## What this crate will not do
//!
//! No sockets, no TLS, no clock, no filesystem: bytes go in, typed events and bytes to send come
//! out. Routing, queueing and delivery belong to the application.

#![forbid(unsafe_code)]

pub mod client;
#[cfg(feature = "tokio")]
pub mod codec;
pub mod data;
pub mod encode;
pub mod parse;
pub mod server;
pub mod types;

pub use bytes;
pub use client::{ClientConfig, ClientEvent, ClientSession, Envelope, TransactionResult};
pub use data::{BareLineEnding, DataDecoder, DataError, DotStuffer};
pub use parse::{MalformedKind, ParseError};
pub use server::{Event, Mode, ServerConfig, ServerSession};
pub use types::*;
