//! # mailwright-mbox
//!
//! Streaming reader and writer for every mbox variant (mboxo, mboxrd, mboxcl, mboxcl2), with locking compatible with mutt, Postfix and Dovecot, and safe rewrites.
//!
//! ## What this crate will not do
//!
//! No networking, no MIME parsing and no in-memory loading of whole files.
//!
//! This crate is being built; see the workspace README for its status.

#![forbid(unsafe_code)]
