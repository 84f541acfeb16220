//! # mailwright-smtp-proto
//!
//! Sans-IO SMTP (RFC 5321) with ESMTP extensions, submission (RFC 6409) and LMTP (RFC 2033): streaming parsers and serialisers for every command and reply, and session state machines for both the server and the client side.
//!
//! ## What this crate will not do
//!
//! No sockets, no TLS, no clock, no filesystem: bytes go in, typed events and bytes to send come out. Routing, queueing and delivery belong to the application.
//!
//! This crate is being built; see the workspace README for its status.

#![forbid(unsafe_code)]
