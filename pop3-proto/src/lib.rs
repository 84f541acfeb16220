//! # mailwright-pop3-proto
//!
//! Sans-IO POP3 (RFC 1939) with CAPA and response codes (RFC 2449, RFC 3206), STLS (RFC 2595) and
//! SASL AUTH (RFC 5034): parsers, serialisers, streamed multi-line responses and state machines
//! for server and client.
//!
//! ## What this crate will not do
//!
//! No sockets, no TLS, no clock and no maildrop storage: the application supplies message data,
//! checks credentials and applies deletions.
//!
//! ## Rooms
//!
//! - [`types`]: validated values; [`parse`]: streaming parsers ("incomplete" is not an error,
//!   malformed input is a [`DecodeError`] with a redacted [`Excerpt`]); [`encode`]: serialisers
//!   and the streaming [`encode::DotStuffer`].
//! - [`ServerSession`] and [`ClientSession`]: the state machines, both [`Machine`]s.
//! - `codec` (feature `tokio`): `tokio_util` line codecs.
//!
//! ## The Sans-IO contract
//!
//! Both sessions follow the contract of `mailwright_sansio` ([`Machine`]): bytes in with
//! `handle_input(now, bytes)`, events out with `poll_event` (answer each with the method it
//! names), bytes out with `poll_transmit`, and time in with `handle_timeout(now)` at
//! `poll_timeout`. The session never reads a clock: the driver passes `now`, so a test runs on a
//! virtual clock. Decision methods return [`UsageError`] when nothing waits for them; login and
//! update decisions consume the ticket their event carries.
//!
//! The server session answers CAPA, USER, STAT, LIST, UIDL, DELE, NOOP and RSET itself from the
//! [`Maildrop`](server::Maildrop) listing installed by
//! [`accept_login`](ServerSession::accept_login), runs AUTH PLAIN itself (USER/PASS and PLAIN
//! both arrive as one [`ServerEvent::Login`]), refuses out-of-state commands, owns the POP3
//! timers (autologout of RFC 1939 §3, the time allowed to log in, a deadline per command line),
//! and reports the deletions at QUIT ([`ServerEvent::Update`]). Every reply is its own, timeouts
//! and shutdown included. A message is streamed from any `std::io::Read` in bounded pieces.
//! Below, a blocking driver over any `Read + Write` (a tokio driver has the same shape with
//! `.await`, and sleeps until `poll_timeout` as well):
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Instant;
//! use mailwright_pop3_proto::server::{Maildrop, Refusal};
//! use mailwright_pop3_proto::{Machine, ServerConfig, ServerEvent, ServerSession, Uid};
//!
//! fn drive(stream: &mut (impl Read + Write), messages: &mut Vec<Option<Vec<u8>>>) -> std::io::Result<()> {
//!     let mut config = ServerConfig::default();
//!     config.offer_stls = false; // true once the driver can run a TLS handshake
//!     let mut s = ServerSession::new(config);
//!     s.handle_timeout(Instant::now()); // the connection opens: the login timer starts
//!     let mut buf = [0u8; 8192];
//!     loop {
//!         while let Some(event) = s.poll_event() {
//!             match event {
//!                 ServerEvent::Login { user, password, ticket, .. } => {
//!                     if user == "alice" && password.expose() == b"pw" {
//!                         let mut listing = Maildrop::default();
//!                         for (i, m) in messages.iter().enumerate().filter(|(_, m)| m.is_some()) {
//!                             let size = m.as_ref().unwrap().len() as u64;
//!                             listing.push(size, Uid::new(format!("uid{i}")).unwrap());
//!                         }
//!                         s.accept_login(ticket, listing).unwrap();
//!                     } else {
//!                         s.refuse_login(ticket, Refusal::BadCredentials).unwrap();
//!                     }
//!                 }
//!                 ServerEvent::Retr { message, .. } | ServerEvent::Top { message, .. } => {
//!                     let data = messages[message.index()].clone().unwrap();
//!                     let mut reader = &data[..];
//!                     while !s.send_message_from(&mut reader).map_err(std::io::Error::other)? {
//!                         while let Some(b) = s.poll_transmit() {
//!                             stream.write_all(&b)?;
//!                         }
//!                     }
//!                 }
//!                 ServerEvent::Update { deleted, ticket } => {
//!                     for d in deleted {
//!                         messages[d.message.index()] = None;
//!                     }
//!                     s.update_done(ticket).unwrap();
//!                 }
//!                 ServerEvent::StartTls { .. } => { /* flush, handshake, s.handle_tls_established() */ }
//!                 _ => {}
//!             }
//!         }
//!         while let Some(b) = s.poll_transmit() {
//!             stream.write_all(&b)?;
//!         }
//!         if s.is_closed() {
//!             return Ok(());
//!         }
//!         // A real driver waits for input or until s.poll_timeout(), then s.handle_timeout(now).
//!         let n = stream.read(&mut buf)?;
//!         if n == 0 {
//!             return Ok(());
//!         }
//!         s.handle_input(Instant::now(), &buf[..n]);
//!     }
//! }
//!
//! // A pretend socket: the client's octets in, ours out.
//! struct Pipe(std::io::Cursor<Vec<u8>>, Vec<u8>);
//! impl Read for Pipe {
//!     fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> { self.0.read(b) }
//! }
//! impl Write for Pipe {
//!     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.1.write(b) }
//!     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! }
//! let client = b"USER alice\r\nPASS pw\r\nSTAT\r\nTOP 1 0\r\nDELE 1\r\nQUIT\r\n".to_vec();
//! let mut pipe = Pipe(std::io::Cursor::new(client), Vec::new());
//! let mut messages = vec![Some(b"Subject: a\r\n\r\nbody\r\n".to_vec())];
//! drive(&mut pipe, &mut messages).unwrap();
//! let wire = String::from_utf8(pipe.1).unwrap();
//! assert!(wire.contains("+OK 1 20\r\n+OK 20 octets\r\nSubject: a\r\n\r\n.\r\n+OK message 1 deleted\r\n"));
//! assert_eq!(messages, vec![None]);
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod codec;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod encode;
pub mod parse;
pub mod server;
pub mod types;

pub use bytes;
pub use client::{ClientConfig, ClientSession, Event as ClientEvent};
pub use encode::Encode;
pub use mailwright_sansio::{Excerpt, Machine, UsageError};
pub use parse::{DecodeError, MalformedKind};
pub use server::{Event as ServerEvent, ServerConfig, ServerSession};
pub use types::*;

/// The README's examples, compiled and run as doctests with the `tokio` feature, which its async
/// client examples need.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "tokio"))]
pub struct ReadmeDoctests;
