//! The core layer: what every other layer builds on. Configuration and the data directory, the
//! directory of domains, users and aliases, password checks and the one login path, connection
//! limits and anti-abuse budgets, certificates, the resolver, time formatting. It imports no other
//! layer of the server.

pub mod abuse;
pub mod auth;
pub mod config;
pub mod datadir;
pub mod directory;
pub mod dns;
pub mod login;
pub mod net;
pub mod timefmt;
pub mod tls;
pub(crate) mod watched;

use std::path::PathBuf;
use std::sync::Arc;

use abuse::Abuse;
use config::Config;
use directory::Directory;
use dns::Dns;
use login::Logins;
use net::{ConnLimits, Peer};
use tls::TlsStore;

/// The core services of a running server, shared by every layer above.
#[derive(Debug)]
pub struct Core {
    /// The configuration in force.
    pub config: Config,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Domains, users and aliases.
    pub directory: Arc<Directory>,
    /// Certificates.
    pub tls: TlsStore,
    /// Connection counting.
    pub limits: Arc<ConnLimits>,
    /// The resolver (MX routing, SPF/DKIM/DMARC, DNSBL).
    pub dns: Dns,
    /// Rate limits and failed-login counts (`[abuse]`).
    pub abuse: Abuse,
    /// The login path of every service.
    pub logins: Logins,
}

impl Core {
    /// The login policy of every service: plaintext logins are allowed over TLS, and without it only
    /// from loopback when `auth.plaintext_on_loopback` says so.
    pub fn login_allowed(&self, tls: bool, peer: Peer) -> bool {
        tls || (peer.is_local() && self.config.auth.plaintext_on_loopback)
    }

    /// Where message bodies too large for memory wait during DATA.
    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("spool")
    }
}

/// Completes once shutdown has started (at once if it already has): the server's shutdown signal is a
/// `watch` channel that turns `true`.
pub(crate) async fn shutdown_signalled(rx: &mut tokio::sync::watch::Receiver<bool>) {
    // The `Ref` that wait_for returns is not Send: drop it here, inside this future.
    let _ = rx.wait_for(|s| *s).await;
}

/// An SMTP reply of the server's policy: `code`, the enhanced status `class.subject.detail` (RFC
/// 3463) and `text`. Text that cannot be sent (a control character from a configured value) is
/// replaced by a plain word of the same code: a refusal never turns into a success.
pub fn smtp_reply(code: u16, enhanced: (u8, u16, u16), text: &str) -> mailwright_smtp_proto::Reply {
    use mailwright_smtp_proto::{EnhancedCode, Reply};
    let enhanced = EnhancedCode::new(enhanced.0, enhanced.1, enhanced.2).ok();
    Reply::new(code, enhanced, text)
        .or_else(|_| Reply::new(code, enhanced, if code < 400 { "Ok" } else { "Error" }))
        .or_else(|_| Reply::new(451, EnhancedCode::new(4, 3, 0).ok(), "Local error"))
        .expect("451 4.3.0 is a valid reply")
}

/// Runs blocking work (file system, storage) from async code. On the multi-threaded runtime the
/// server runs on, the worker thread hands its other tasks over first (`block_in_place`); on a
/// current-thread runtime, which simulation tests use with tokio's paused clock, the work runs in
/// place, in the order the tasks asked for it.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
