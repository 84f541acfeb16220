//! The protocol layer: SMTP, submission and LMTP ([`smtp`]), IMAP ([`imap`]) and POP3 ([`pop3`]),
//! each an event handler over its Sans-IO machine, and the connection they run over ([`conn`]).
//! Built on every layer below; only the composition root (`server`) imports it.

pub mod conn;
pub mod imap;
pub mod pop3;
pub mod smtp;

use std::sync::Arc;

use tokio::sync::watch;

use crate::core::Core;
use crate::intake::Intake;
use crate::outbound::Outbound;

/// What every session shares.
#[derive(Debug)]
pub struct Shared {
    /// The core services.
    pub core: Arc<Core>,
    /// The intake pipeline (end of data to disk and queue).
    pub intake: Arc<Intake>,
    /// The outbound layer (queue, SRS).
    pub outbound: Arc<Outbound>,
    /// Becomes `true` when shutdown starts: sessions waiting for a command close.
    pub shutdown: watch::Receiver<bool>,
}
