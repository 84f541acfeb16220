//! Fuzz target bodies for the `maildir` crate.

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[];
