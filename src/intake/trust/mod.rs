//! Trust: DKIM signing of outgoing mail, and SPF, DKIM, DMARC and iprev checks of incoming mail,
//! with `mail-auth` on the server's one resolver ([`crate::core::dns`]).
//!
//! - Outgoing: [`sign`] returns the `DKIM-Signature:` fields to prepend to a message leaving
//!   through the queue, made with the keys of its From domain kept in `dkim/<domain>/<selector>.key`
//!   (see [`dkim`]); `full_server dkim generate` makes a key and prints its DNS record.
//! - Incoming on the SMTP port: [`check_inbound`] runs SPF (HELO and MAIL FROM), DKIM, DMARC and
//!   iprev and returns a [`Verdict`]: the `Authentication-Results:` field (RFC 8601, our host
//!   name as authserv-id) and, for a DMARC failure under `p=reject`, a refusal.
//!
//! ```no_run
//! # async fn demo(core: &mailwright::core::Core, message: &[u8]) {
//! // Outgoing: prepend the signature fields (LF line ends) to the stored message.
//! if let Some(fields) = mailwright::intake::trust::sign(core, message) {
//!     let _signed = [fields.as_bytes(), message].concat();
//! }
//! // Incoming: one verdict per message.
//! let ip = "192.0.2.1".parse().unwrap();
//! let verdict =
//!     mailwright::intake::trust::check_inbound(core, message, ip, "mail.example.net", "a@example.net")
//!         .await;
//! println!("{}", verdict.header);
//! # }
//! ```

pub mod dkim;
pub mod inbound;

use std::path::PathBuf;

use mailwright_smtp_proto::server::{HeloKind, Mode};
use mailwright_smtp_proto::{Host, Reply, ReversePath};
use tracing::{info, warn};

pub use dkim::{KeyAlgorithm, SigningKey};
pub use inbound::{AuthResult, Verdict, check_inbound};

use crate::core::Core;
use crate::core::directory::Address;
use crate::core::net::Peer;
use crate::store::Spool;

/// Errors of key handling and signing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A domain or selector is not a plain DNS name (and so not a safe file name).
    #[error("{0:?} is not a valid domain or selector")]
    BadName(String),
    /// A key file could not be read as an RSA or Ed25519 private key.
    #[error("DKIM key {selector} of {domain}: {why}")]
    BadKey {
        /// The selector (file name).
        selector: String,
        /// The domain.
        domain: String,
        /// What is wrong.
        why: String,
    },
    /// A key with this selector exists already; it is never overwritten.
    #[error("{0} exists; choose another selector or remove it first")]
    KeyExists(PathBuf),
    /// Key generation failed.
    #[error("cannot generate the key: {0}")]
    Generate(String),
    /// Signing failed.
    #[error("cannot sign: {0}")]
    Sign(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

pub use crate::core::config::DEFAULT_SIGNED_HEADERS;

/// Signs an outgoing message with the DKIM keys of its RFC 5322 From domain (see [`dkim`]).
///
/// `message` is the whole message, header and body, with LF line ends (as the spool stores it) or
/// CRLF. The signature covers its CRLF form, the one the relay sends, so the message must not
/// change after signing except for fields prepended above the result. Returns the
/// `DKIM-Signature:` field(s) to prepend, with **LF** line ends (folded with LF TAB) and a final
/// LF; `None` when signing is off, the From domain has no key, or a key is unusable (logged).
/// Reads the key files: blocking, cheap (call it where the queue file is written).
pub fn sign(core: &Core, message: &[u8]) -> Option<String> {
    match dkim::sign_message(&core.data_dir, &core.config.dkim, message) {
        Ok(signed) => signed,
        Err(e) => {
            warn!("DKIM signing skipped: {e}");
            None
        }
    }
}

/// The hook of `smtp_service::finish_message`: for mail on the SMTP port without AUTH, not from
/// `outbound.trusted_networks` (our own hosts relay through us) and, unless
/// `inbound.verify_loopback`, not from loopback, runs [`check_inbound`] on the spooled message,
/// logs the results, and returns the `Authentication-Results:` field to add after the trace
/// fields with whether the message fails DMARC of a `p=quarantine` domain, or the refusal to
/// send. Forged results claiming our host name are removed from the
/// spooled message first (RFC 8601 §5).
pub(crate) async fn screen(
    core: &Core,
    spool: &mut Spool,
    mode: Mode,
    user: Option<&Address>,
    peer: Peer,
    helo: Option<&(HeloKind, Host)>,
    from: &ReversePath,
) -> Result<(String, bool), Reply> {
    let inbound = &core.config.inbound;
    let Some(addr) = peer.addr else {
        return Ok((String::new(), false));
    };
    if mode != Mode::Smtp
        || user.is_some()
        || !inbound.verify
        || (addr.ip().is_loopback() && !inbound.verify_loopback)
        || (core.config.outbound.is_trusted(Some(addr.ip())) && !addr.ip().is_loopback())
    {
        return Ok((String::new(), false));
    }
    let read = |spool: &mut Spool| -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(spool.len() as usize);
        std::io::Read::read_to_end(&mut spool.reader()?, &mut bytes)?;
        Ok(bytes)
    };
    let message = if spool.on_disk() {
        crate::core::blocking(|| read(spool))
    } else {
        read(spool)
    };
    let mut message = match message {
        Ok(m) => m,
        Err(e) => {
            warn!("cannot read the spooled message for authentication checks: {e}");
            return Ok((String::new(), false));
        }
    };
    if let Some(stripped) = inbound::strip_own_results(&message, &core.config.hostname) {
        info!("removed Authentication-Results fields claiming to be ours");
        let mut fresh = Spool::new(core.spool_dir());
        let written = if stripped.len() > crate::store::SPOOL_MEMORY_LIMIT {
            crate::core::blocking(|| fresh.write(&stripped))
        } else {
            fresh.write(&stripped)
        };
        match written {
            Ok(()) => {
                *spool = fresh;
                message = stripped;
            }
            Err(e) => warn!("cannot rewrite the spooled message: {e}"),
        }
    }
    let helo_name = helo.map(|(_, h)| h.to_string()).unwrap_or_default();
    let mail_from = match from {
        ReversePath::Null => String::new(),
        ReversePath::Mailbox(m) => m.to_string(),
    };
    let verdict = check_inbound(core, &message, addr.ip(), &helo_name, &mail_from).await;
    info!(
        client = %addr.ip(),
        helo = %helo_name,
        from = %mail_from,
        spf = %verdict.spf,
        spf_helo = %verdict.spf_helo,
        dkim = %verdict.dkim,
        dmarc = %verdict.dmarc,
        dmarc_policy = verdict.dmarc_policy,
        iprev = %verdict.iprev,
        refused = verdict.refusal.is_some(),
        "inbound authentication"
    );
    // RFC 7489 §6.3: p=quarantine asks that failing mail be treated as suspicious (filed as
    // junk); a temporary error never counts.
    let quarantine =
        verdict.dmarc == inbound::AuthResult::Fail && verdict.dmarc_policy == "quarantine";
    match verdict.refusal {
        Some(reply) => Err(reply),
        None => Ok((verdict.header, quarantine)),
    }
}
