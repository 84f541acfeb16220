//! # mailwright-maildir
//!
//! Durable, concurrent Maildir and Maildir++ storage: delivery that survives a crash, flags in file names, folders, quotas, and IMAP metadata (UIDs, keywords, MODSEQ) compatible with Dovecot.
//!
//! ## What this crate will not do
//!
//! No networking, no async runtime and no MIME parsing: plain synchronous std code that the caller runs off its async threads.
//!
//! This crate is being built; see the workspace README for its status.

#![forbid(unsafe_code)]
