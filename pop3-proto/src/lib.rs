//! # mailwright-pop3-proto
//!
//! Sans-IO POP3 (RFC 1939) with CAPA, STLS, SASL AUTH and response codes: parsers, serialisers, streamed multi-line responses and state machines for server and client.
//!
//! ## What this crate will not do
//!
//! No sockets, no TLS, no clock and no maildrop storage: the application supplies message data and applies deletions.
//!
//! This crate is being built; see the workspace README for its status.

#![forbid(unsafe_code)]
