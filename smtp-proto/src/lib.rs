// The README is the crate's documentation; its examples run as doctests on `ReadmeDoctests`.
#![cfg_attr(not(doctest), doc = include_str!("../README.md"))]
//!
//! ## The server machine
//!
//! Per connection: [`ServerSession::new`] with a [`ServerConfig`] (mode, host name, offered
//! [`server::Extensions`] including STARTTLS and AUTH, [`server::Limits`], [`server::Timeouts`]);
//! then the [`Machine`] calls: [`ServerSession::handle_input`]`(now, bytes)`,
//! [`ServerSession::poll_event`] for [`ServerEvent`]s, a decision for those that need one
//! ([`ServerSession::accept`], [`ServerSession::reject`], [`ServerSession::data_replies`] for
//! LMTP, [`ServerSession::auth_challenge`] for SASL; each returns a [`UsageError`] when no such
//! decision is pending), [`ServerSession::poll_transmit`] for the bytes to write (the greeting is
//! there from the start), and [`ServerSession::poll_timeout`] /
//! [`ServerSession::handle_timeout`]`(now)` for the timers the machine owns. After
//! [`ServerEvent::StartTls`] (which says how many bytes were discarded) run the handshake and call
//! [`ServerSession::handle_tls_established`]. Stop reading while [`ServerSession::wants_input`] is
//! false. [`ServerSession::refusing`] and [`ServerSession::closing`] refuse a client in SMTP
//! terms; [`ServerSession::handle_shutdown`] says goodbye when the server goes down.
//!
//! ```
//! use std::time::Instant;
//! use mailwright_smtp_proto::{Mode, Reply, ServerConfig, ServerEvent, ServerSession};
//!
//! let mut config = ServerConfig::new(Mode::Lmtp, "lmtp.example.org");
//! config.strict_pipelining = false; // this example sends everything at once
//! let mut s = ServerSession::new(config);
//! s.handle_input(
//!     Instant::now(),
//!     b"LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nRCPT TO:<z@y>\r\nDATA\r\nHi\r\n.\r\n",
//! );
//! let mut content = Vec::new();
//! while let Some(event) = s.poll_event() {
//!     match event {
//!         ServerEvent::DataChunk(c) => content.extend_from_slice(&c),
//!         // LMTP: one reply per accepted recipient.
//!         ServerEvent::DataEnd => s
//!             .data_replies(vec![Reply::ok(), Reply::new(452, None, "Mailbox full").unwrap()])
//!             .unwrap(),
//!         e if e.needs_decision() => s.accept().unwrap(),
//!         _ => {}
//!     }
//! }
//! let out = s.poll_transmit().unwrap();
//! assert!(out.ends_with(b"354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 OK\r\n452 Mailbox full\r\n"));
//! assert_eq!(content, b"Hi\r\n");
//! // Nothing is pending: a decision now is a misuse, not a silent no-op.
//! assert!(s.accept().is_err());
//! ```
//!
//! ## What this crate will not do
//!
//! No sockets, no TLS, no clock, no filesystem: bytes go in, typed events and bytes to send come
//! out. Routing, queueing and delivery belong to the application.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod codec;
pub mod data;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod encode;
pub mod parse;
pub mod server;
pub mod types;

pub use bytes;
pub use client::{
    BodyInfo, ClientConfig, ClientSession, Credentials, Envelope, Event as ClientEvent, TlsPolicy,
    TransactionResult,
};
pub use data::{BareLineEnding, DataDecoder, DataError, DotStuffer};
pub use mailwright_sansio::{Excerpt, Machine, Secret, UsageError};
pub use parse::{DecodeError, MalformedKind};
pub use server::{Event as ServerEvent, Mode, ServerConfig, ServerSession};
pub use types::*;

/// The README's examples, run as doctests with the `tokio` feature, which its async client
/// examples need.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "tokio"))]
pub struct ReadmeDoctests;
