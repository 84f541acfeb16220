//! # mailwright-imap-proto
//!
//! Sans-IO IMAP4rev1 (RFC 3501) with the extensions real clients use: streaming parsers and serialisers for every command and response, a literal-aware framer, and server and client flows.
//!
//! ## What this crate will not do
//!
//! No sockets, no TLS, no clock and no mailbox storage: it speaks the protocol and enforces session state; what a mailbox holds is the application's business.
//!
//! This crate is being built; see the workspace README for its status.

#![forbid(unsafe_code)]
