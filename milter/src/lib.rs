//! # mailwright-milter
//!
//! The Sendmail/Postfix milter protocol, version 6, without I/O: the frame codec ([`parse`],
//! [`encode`]) and both sides, the MTA's [`ClientSession`] (what a mail server uses to ask a
//! filter such as spamass-milter, rspamd or OpenDKIM) and the filter's [`ServerSession`] (so
//! that every type round-trips, and for writing filters and tests).
//!
//! A frame is a 4-octet big-endian length, a code octet and its data. The MTA negotiates options
//! ([`Command::OptNeg`]: version, the modifications it allows, the steps the filter may skip or
//! leave unanswered, and the macros the filter wants per stage), then sends each SMTP step
//! (connect, HELO, MAIL, RCPT, DATA, header fields, end of header, body chunks, end of message)
//! preceded by its macros ([`Command::Macro`]). The filter answers with a verdict
//! ([`Response::Continue`], `Accept`, `Reject`, `Tempfail`, `Discard`, `ReplyCode`) and, at the
//! end of the message, modifications first (add, change or insert a header field, replace the
//! body, add or delete a recipient, quarantine).
//!
//! ```
//! use std::time::Instant;
//! use mailwright_milter::{ClientConfig, ClientEvent, ClientSession, Command, Response, Sent,
//!     ServerConfig, ServerEvent, ServerSession, Actions};
//! use mailwright_sansio::Machine;
//!
//! let now = Instant::now();
//! let mut mta = ClientSession::new(ClientConfig::default());
//! let mut filter = ServerSession::new(ServerConfig {
//!     actions: Actions::ADD_HEADERS,
//!     ..ServerConfig::default()
//! });
//! mta.handle_timeout(now);
//! // Moves bytes both ways until nothing moves.
//! fn pump(mta: &mut ClientSession, filter: &mut ServerSession, now: Instant) {
//!     while let Some(b) = mta.poll_transmit() {
//!         filter.handle_input(now, &b);
//!     }
//!     while let Some(ev) = filter.poll_event() {
//!         if let ServerEvent::Command(Command::EndOfMessage) = ev {
//!             filter.reply(Response::AddHeader {
//!                 name: b"X-Spam-Flag".to_vec(),
//!                 value: b"NO".to_vec(),
//!             }).unwrap();
//!             filter.reply(Response::Accept).unwrap();
//!         } else if filter.reply_pending() {
//!             filter.reply(Response::Continue).unwrap();
//!         }
//!     }
//!     while let Some(b) = filter.poll_transmit() {
//!         mta.handle_input(now, &b);
//!     }
//! }
//! pump(&mut mta, &mut filter, now);
//! assert!(matches!(mta.poll_event(), Some(ClientEvent::Negotiated(_))));
//! assert_eq!(mta.send(now, Command::EndOfMessage), Ok(Sent::AwaitReply));
//! pump(&mut mta, &mut filter, now);
//! assert!(matches!(mta.poll_event(), Some(ClientEvent::Modification(Response::AddHeader { .. }))));
//! assert_eq!(mta.poll_event(), Some(ClientEvent::Reply(Response::Accept)));
//! ```
//!
//! ## What this crate will not do
//!
//! No sockets, no clock, no filesystem: the application connects (unix or TCP), moves the bytes
//! and passes the time; the [`ClientSession`] owns the command and end-of-message timeouts. It
//! does not apply the modifications to a message, and does not format SMTP replies: a
//! [`Response::ReplyCode`] is handed over as the filter sent it (checked to start with `4xx` or
//! `5xx`).

#![forbid(unsafe_code)]

pub mod client;
pub mod encode;
mod error;
pub mod parse;
pub mod server;
mod types;

pub use client::{ClientConfig, ClientSession, Event as ClientEvent, Sent};
pub use error::{DecodeError, EncodeError, MalformedKind, SessionError};
pub use server::{Event as ServerEvent, ServerConfig, ServerSession};
pub use types::{
    Actions, Address, CHUNK_SIZE, Command, OptNeg, Protocol, Response, Stage, VERSION,
};
