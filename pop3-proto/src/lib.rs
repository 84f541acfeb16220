//! # mailwright-pop3-proto
//!
//! Sans-IO POP3 (RFC 1939) with CAPA and response codes (RFC 2449, RFC 3206), STLS (RFC 2595) and
//! SASL AUTH (RFC 5034): parsers, serialisers, streamed multi-line responses and state machines
//! for server and client.
//!
//! ## What this crate will not do
//!
//! No sockets, no TLS, no clock and no maildrop storage: the application supplies message data and
//! applies deletions.
//!
//! ## Rooms
//!
//! - [`types`]: validated values; [`parse`]: streaming parsers ("incomplete" is not an error);
//!   [`encode`]: serialisers and the streaming [`encode::DotStuffer`].
//! - [`server::ServerSession`] and [`client::ClientSession`]: the state machines.
//! - `codec` (feature `tokio`): `tokio_util` line codecs.
//!
//! ## Driving a server session
//!
//! One loop per connection: bytes in with [`handle_input`](server::ServerSession::handle_input),
//! events out with [`poll_event`](server::ServerSession::poll_event) (answer each with the method
//! it names), bytes out with [`poll_transmit`](server::ServerSession::poll_transmit). The machine
//! answers CAPA, USER, STAT, LIST, UIDL, DELE, NOOP and RSET itself from the
//! [`Maildrop`](server::Maildrop) listing installed by
//! [`accept_login`](server::ServerSession::accept_login), refuses out-of-state commands, and
//! reports the deletions at QUIT ([`ServerEvent::Update`](server::ServerEvent::Update)). A message
//! is streamed from any `std::io::Read` in bounded pieces. Below, a blocking driver over any
//! `Read + Write` (a tokio driver has the same shape with `.await`):
//!
//! ```
//! use std::io::{Read, Write};
//! use mailwright_pop3_proto::server::{Maildrop, ServerConfig, ServerEvent, ServerSession};
//! use mailwright_pop3_proto::{ResponseCode, Uid};
//!
//! fn drive(stream: &mut (impl Read + Write), messages: &mut Vec<Option<Vec<u8>>>) -> std::io::Result<()> {
//!     let mut config = ServerConfig::default();
//!     config.offer_stls = false; // true once the driver can run a TLS handshake
//!     let mut s = ServerSession::new(config);
//!     let mut buf = [0u8; 8192];
//!     loop {
//!         while let Some(event) = s.poll_event() {
//!             match event {
//!                 ServerEvent::Pass { user, password } => {
//!                     if user.as_str() == "alice" && password.expose() == b"pw" {
//!                         let mut listing = Maildrop::default();
//!                         for (i, m) in messages.iter().enumerate().filter(|(_, m)| m.is_some()) {
//!                             let size = m.as_ref().unwrap().len() as u64;
//!                             listing.push(size, Uid::new(format!("uid{i}")).unwrap());
//!                         }
//!                         s.accept_login(listing).unwrap();
//!                     } else {
//!                         s.refuse_login(Some(ResponseCode::Auth), "invalid credentials").unwrap();
//!                     }
//!                 }
//!                 ServerEvent::Retr { message, .. } | ServerEvent::Top { message, .. } => {
//!                     let data = messages[message.index()].clone().unwrap();
//!                     let mut reader = &data[..];
//!                     while !s.send_message_from(&mut reader)? {
//!                         while let Some(b) = s.poll_transmit() {
//!                             stream.write_all(&b)?;
//!                         }
//!                     }
//!                 }
//!                 ServerEvent::Update { deleted } => {
//!                     for d in deleted {
//!                         messages[d.message.index()] = None;
//!                     }
//!                     s.update_done(Ok(())).unwrap();
//!                 }
//!                 ServerEvent::StartTls { .. } => { /* flush, handshake, s.tls_established() */ }
//!                 _ => {}
//!             }
//!         }
//!         while let Some(b) = s.poll_transmit() {
//!             stream.write_all(&b)?;
//!         }
//!         if s.is_closed() {
//!             return Ok(());
//!         }
//!         let n = stream.read(&mut buf)?;
//!         if n == 0 {
//!             return Ok(());
//!         }
//!         s.handle_input(&buf[..n]);
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

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
