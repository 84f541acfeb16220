//! # Mailwright
//!
//! Mail protocols and storage for Rust, and a reference mail server assembled from them.
//!
//! This umbrella crate re-exports the member crates under short names:
//!
//! | module | crate | what it is |
//! |---|---|---|
//! | [`smtp`] | `mailwright-smtp-proto` | Sans-IO SMTP, ESMTP, submission and LMTP |
//! | [`imap`] | `mailwright-imap-proto` | Sans-IO IMAP4rev1 and extensions |
//! | [`pop3`] | `mailwright-pop3-proto` | Sans-IO POP3 |
//! | [`maildir`] | `mailwright-maildir` | Maildir and Maildir++ storage |
//! | [`mbox`] | `mailwright-mbox` | mbox storage, every variant |
//!
//! The tokio server assembly that `examples/full_server.rs` runs lives here too: [`server`]
//! (listeners, limits, shutdown), [`config`] and [`datadir`] (zero-config start), [`auth`] and
//! [`directory`] (users, domains, aliases), [`tls`], and one module per protocol service
//! ([`smtp_service`], [`pop3_service`], [`imap_service`]) driving the Sans-IO machines, with
//! [`submission`] policy, [`abuse`] limits and [`trust`] (DKIM signing; SPF, DKIM, DMARC and
//! iprev checks of incoming mail).
//!
//! ## What this crate will not do
//!
//! The protocol crates never touch sockets, clocks or files; only the server assembly here does.

#![forbid(unsafe_code)]

pub use mailwright_imap_proto as imap;
pub use mailwright_maildir as maildir;
pub use mailwright_mbox as mbox;
pub use mailwright_pop3_proto as pop3;
pub use mailwright_smtp_proto as smtp;

pub mod abuse;
pub mod auth;
pub mod cli;
pub mod config;
pub mod datadir;
pub mod directory;
pub mod dns;
pub mod dsn;
pub mod imap_service;
pub mod login;
pub mod mailbox;
pub mod net;
pub mod pop3_service;
pub mod protocols;
pub mod queue;
pub mod relay;
pub mod server;
pub mod smtp_service;
pub mod srs;
pub mod submission;
pub mod timefmt;
pub mod tls;
pub mod trust;
mod watched;
