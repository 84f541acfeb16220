//! Fuzz target bodies for the `mbox` crate.

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[];
