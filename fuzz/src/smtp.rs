//! Fuzz target bodies for the `smtp` crate.

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[];
