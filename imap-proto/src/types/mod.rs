//! Validated value types: the lexical core, sequence sets, flags, mailbox names, dates, commands and
//! responses. Invalid values cannot be built: constructors check the RFC grammar.

pub mod base64;
pub mod body;
mod builders;
pub mod command;
pub mod core;
pub mod datetime;
pub mod flag;
pub mod mailbox;
pub mod qresync;
pub mod quota;
pub mod response;
pub mod sequence;
pub mod sort;

use std::fmt;

/// A value does not fit its grammar rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {rule}: {shown:?}")]
pub struct ValidationError {
    rule: &'static str,
    shown: String,
}

impl ValidationError {
    pub(crate) fn new(rule: &'static str, value: impl AsRef<[u8]>) -> Self {
        let v = value.as_ref();
        let shown = String::from_utf8_lossy(&v[..v.len().min(64)]).into_owned();
        Self { rule, shown }
    }
    /// The grammar rule the value failed.
    pub fn rule(&self) -> &'static str {
        self.rule
    }
}

impl fmt::Display for self::core::LiteralMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sync => "sync",
            Self::NonSync => "non-sync",
        })
    }
}
