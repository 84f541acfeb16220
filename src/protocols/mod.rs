//! The protocol layer: SMTP, submission and LMTP ([`smtp`]), IMAP ([`imap`]), POP3 ([`pop3`]) and
//! ManageSieve ([`managesieve`]),
//! each an event handler over its Sans-IO machine, and the connection they run over ([`conn`]).
//! Built on every layer below; only the composition root (`server`) imports it.

pub mod conn;
pub mod imap;
pub mod managesieve;
pub mod pop3;
pub mod smtp;

use std::io;
use std::sync::Arc;

use mailwright_sansio::Machine;
use mailwright_sansio::driver::{Driver, Service};
use tokio::sync::watch;

use tracing::info;

use crate::core::Core;
use crate::core::net::{Peer, Refusal, Service as Listener};
use crate::intake::Intake;
use crate::outbound::Outbound;
use crate::store::MailStore;

/// What every session shares.
#[derive(Debug)]
pub struct Shared {
    /// The core services.
    pub core: Arc<Core>,
    /// The intake pipeline (end of data to disk and queue).
    pub intake: Arc<Intake>,
    /// The outbound layer (queue, SRS).
    pub outbound: Arc<Outbound>,
    /// The users' mail.
    pub store: Arc<dyn MailStore>,
    /// Becomes `true` when shutdown starts: sessions waiting for a command close.
    pub shutdown: watch::Receiver<bool>,
    /// The one connection driver every session runs on.
    pub driver: Driver,
}

impl Shared {
    /// Runs one session: `machine` over `conn`, its events handled by `service`, until the session
    /// ends; told when the server shuts down.
    pub(crate) async fn run<M, S>(
        &self,
        machine: &mut M,
        conn: &mut conn::Conn,
        service: &mut S,
    ) -> io::Result<()>
    where
        M: Machine + Send,
        S: Service<M, conn::Conn>,
    {
        let mut shutdown = self.shutdown.clone();
        self.driver
            .run(machine, conn, service, async move {
                crate::core::shutdown_signalled(&mut shutdown).await;
            })
            .await
    }
}

/// Runs one accepted connection of `service`: takes a connection slot (or refuses the client in its
/// protocol when the limits are reached), the TLS handshake of implicit-TLS ports, then the session.
pub async fn accept(service: Listener, mut conn: conn::Conn, peer: Peer, shared: &Arc<Shared>) {
    let _slot = match shared.core.limits.acquire(peer.addr.map(|a| a.ip())) {
        Ok(slot) => slot,
        Err(refusal) => {
            refuse(service, conn, refusal, shared).await;
            return;
        }
    };
    // Counted before the TLS handshake, which is the costly part for the server (SMTP and 587
    // are counted before their greeting). No plaintext reply on an implicit-TLS port.
    if service == Listener::Submissions
        && let Err(limited) = shared
            .core
            .abuse
            .admit_connection(peer, std::time::Instant::now())
    {
        info!(?limited, "refused before the TLS handshake");
        return;
    }
    if service.implicit_tls() {
        let limit = shared.driver.config().tls_handshake_timeout;
        match tokio::time::timeout(limit, conn.upgrade()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                info!("TLS handshake failed: {e}");
                return;
            }
            Err(_) => {
                info!("TLS handshake timed out");
                return;
            }
        }
    }
    info!("connected");
    let result = match service {
        Listener::Smtp
        | Listener::Submission
        | Listener::Submissions
        | Listener::Lmtp
        | Listener::LmtpUnix => smtp::serve(service, conn, peer, shared).await,
        Listener::Imap | Listener::Imaps => imap::serve(conn, peer, shared).await,
        Listener::Pop3 | Listener::Pop3s => pop3::serve(conn, peer, shared).await,
        Listener::ManageSieve => managesieve::serve(conn, peer, shared).await,
    };
    match result {
        Ok(()) => info!("closed"),
        Err(e) => info!("closed: {e}"),
    }
}

/// Tells a client over the connection limits why it is refused, in its protocol (the words come
/// from the protocol crates), and closes. Implicit-TLS ports get no plaintext reply.
async fn refuse(service: Listener, mut conn: conn::Conn, refusal: Refusal, shared: &Arc<Shared>) {
    info!(?refusal, "refused: connection limit");
    if service.implicit_tls() {
        return;
    }
    let result = match service {
        Listener::Imap => {
            let text = match refusal {
                Refusal::Total => "Too many connections, try again later.",
                Refusal::PerIp => "Too many connections from your address, try again later.",
            };
            let mut machine = mailwright_imap_proto::ServerSession::refused(
                mailwright_imap_proto::ServerConfig::default(),
                text,
            );
            shared.run(&mut machine, &mut conn, &mut Nothing).await
        }
        Listener::ManageSieve => {
            let text = match refusal {
                Refusal::Total => "Too many connections, try again later",
                Refusal::PerIp => "Too many connections from your address, try again later",
            };
            let bye = mailwright_sieve::managesieve::Response::new(
                mailwright_sieve::managesieve::Status::Bye,
                text,
            )
            .with_code("TRYLATER");
            tokio::io::AsyncWriteExt::write_all(&mut conn, &bye.encode()).await
        }
        Listener::Pop3 => {
            let why = match refusal {
                Refusal::Total => {
                    mailwright_pop3_proto::server::ConnectionRefusal::TooManyConnections
                }
                Refusal::PerIp => {
                    mailwright_pop3_proto::server::ConnectionRefusal::TooManyFromAddress
                }
            };
            let mut machine = mailwright_pop3_proto::ServerSession::refused(why);
            shared.run(&mut machine, &mut conn, &mut Nothing).await
        }
        _ => {
            let text = match refusal {
                Refusal::Total => "Too many connections, try again later",
                Refusal::PerIp => "Too many connections from your address, try again later",
            };
            let mode = if matches!(service, Listener::Lmtp | Listener::LmtpUnix) {
                mailwright_smtp_proto::Mode::Lmtp
            } else {
                mailwright_smtp_proto::Mode::Smtp
            };
            let config =
                mailwright_smtp_proto::ServerConfig::new(mode, shared.core.config.hostname.clone());
            match mailwright_smtp_proto::ServerSession::closing(
                config,
                crate::core::smtp_reply(421, (4, 7, 0), text),
            ) {
                Ok(mut machine) => shared.run(&mut machine, &mut conn, &mut Nothing).await,
                Err(e) => Err(io::Error::other(e)),
            }
        }
    };
    if let Err(e) = result {
        info!("refusal not delivered: {e}");
    }
}

/// The service of a session that only says goodbye: it has no events to handle.
struct Nothing;

impl<M: Machine> Service<M, conn::Conn> for Nothing {
    fn on_event(
        &mut self,
        _: &mut M,
        _: M::Event,
        _: &mut mailwright_sansio::driver::Link<'_, conn::Conn>,
    ) -> impl Future<Output = io::Result<mailwright_sansio::driver::Next>> + Send {
        std::future::ready(Ok(mailwright_sansio::driver::Next::Close))
    }
}
