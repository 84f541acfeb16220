//! Fuzz target bodies for the `imap` crate.

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[];
