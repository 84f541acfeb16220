//! Fuzz target bodies for the `pop3` crate.

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[];
