//! # Mailwright
//!
//! Mail protocols and storage for Rust, and a reference mail server assembled from them.
//!
//! This umbrella crate re-exports the member crates under short names:
//!
//! | module | crate | what it is |
//! |---|---|---|
//! | [`sansio`] | `mailwright-sansio` | the Sans-IO contract every machine follows, and its tokio driver |
//! | [`smtp`] | `mailwright-smtp-proto` | Sans-IO SMTP, ESMTP, submission and LMTP |
//! | [`imap`] | `mailwright-imap-proto` | Sans-IO IMAP4rev1 and extensions |
//! | [`pop3`] | `mailwright-pop3-proto` | Sans-IO POP3 |
//! | [`maildir`] | `mailwright-maildir` | Maildir and Maildir++ storage |
//! | [`mbox`] | `mailwright-mbox` | mbox storage, every variant |
//!
//! ## The server, in layers
//!
//! The tokio server that `examples/full_server.rs` runs is built in layers; a layer imports only
//! the layers below it, never one above:
//!
//! | layer | what it holds |
//! |---|---|
//! | [`server`], [`cli`] | the composition root: listeners and the wiring of the layers; admin commands |
//! | [`protocols`] | SMTP/submission/LMTP, IMAP and POP3 sessions: event handlers over the Sans-IO machines |
//! | [`intake`] | end of data to disk and queue: submission policy, trust checks, DKIM signing, delivery |
//! | [`outbound`] | the queue, the relay, delivery status notifications, SRS |
//! | [`store`] | the users' mail behind one boundary ([`MailStore`](store::MailStore); the Maildir store implements it), the spool, change notifications |
//! | [`core`] | configuration, data directory, users and aliases, logins, limits, TLS, DNS |
//!
//! ## What this crate will not do
//!
//! The protocol crates never touch sockets, clocks or files; only the server assembly here does.

#![forbid(unsafe_code)]

pub use mailwright_imap_proto as imap;
pub use mailwright_maildir as maildir;
pub use mailwright_mbox as mbox;
pub use mailwright_pop3_proto as pop3;
pub use mailwright_sansio as sansio;
pub use mailwright_smtp_proto as smtp;

pub mod cli;
pub mod core;
pub mod intake;
pub mod outbound;
pub mod protocols;
pub mod server;
pub mod store;
