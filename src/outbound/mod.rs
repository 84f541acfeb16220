//! The outbound layer: the queue of messages for other hosts, the relay that delivers them (MX
//! routing, TLS, retries), delivery status notifications, and sender rewriting (SRS) for forwarded
//! mail, MTA-STS policies and TLS reporting (TLS-RPT). Built on the core and the store (reports for local senders are delivered locally).

#[cfg(feature = "postgres")]
pub mod dbqueue;
pub mod dsn;
pub mod longlines;
pub mod mtasts;
pub mod queue;
pub mod relay;
pub mod srs;
pub mod tlsrpt;

use std::sync::Arc;

use crate::core::Core;
use crate::store::MailStore;

/// What the outbound layer shares.
#[derive(Debug)]
pub struct Outbound {
    /// The core services.
    pub core: Arc<Core>,
    /// The outbound queue (`queue/` in the data directory, or the store's database).
    pub queue: Arc<queue::Queue>,
    /// Sender rewriting for forwarded mail (secret in `srs.key`).
    pub srs: srs::Srs,
    /// The users' mail (reports for local senders, local recipients of queued mail).
    pub store: Arc<dyn MailStore>,
    /// Destinations backed off as a whole (every host failed).
    pub destinations: relay::Destinations,
    /// MTA-STS policies fetched (`mta-sts/` in the data directory).
    pub mta_sts: mtasts::Cache,
    /// The TLS sessions recorded for TLS-RPT (`tls-rpt/` in the data directory).
    pub tls_rpt: tlsrpt::Recorder,
    /// DKIM-signs a message we write (LF line ends): the `DKIM-Signature:` fields to prepend,
    /// or `None`. Given by the composition root (signing lives in the intake layer, above).
    pub sign: fn(&Core, &[u8]) -> Option<String>,
}
