//! The SMTP and submission connection screen, before the greeting: the connection rate limit, then
//! on port 25 the DNSBLs (asked while the greeting delay runs) and early talkers (RFC 5321 §3.1:
//! the client waits for the greeting; one that talks first does not listen: the postscreen
//! "pregreet" test). Refusals are SMTP sessions of the machine's own (`closing`, `refusing`).

use std::io;
use std::time::{Duration, Instant};

use mailwright_smtp_proto::Reply;
use mailwright_smtp_proto::server::{Mode, ServerConfig, ServerSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{info, warn};

use crate::core::abuse::dnsbl_listed;
use crate::core::net::{Peer, Service};
use crate::core::smtp_reply;
use crate::protocols::Shared;
use crate::protocols::conn::Conn;

/// What [`screen`] decided about a new connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Screen {
    /// Go on: send the greeting.
    Pass,
    /// Refuse service (RFC 5321 §3.1): greet with this `554` and answer `503` until QUIT, with
    /// [`ServerSession::refusing`].
    Refuse(Reply),
    /// The client was answered and the connection is done.
    Refused,
}

/// Checks a new SMTP or submission connection before its greeting: the connection rate, then on
/// port 25 the DNSBLs (asked while the greeting delay runs) and early talking. Implicit-TLS
/// submission (465) is counted before its handshake, in `server::session`.
pub(crate) async fn screen(
    service: Service,
    conn: &mut Conn,
    peer: Peer,
    shared: &Shared,
) -> io::Result<Screen> {
    if !matches!(service, Service::Smtp | Service::Submission) {
        return Ok(Screen::Pass);
    }
    let abuse = &shared.core.abuse;
    if let Err(limited) = abuse.admit_connection(peer, Instant::now()) {
        info!(client = %crate::intake::client(peer), ?limited, "connection refused by rate limit");
        send_and_close(conn, limited.reply(), shared).await;
        return Ok(Screen::Refused);
    }
    if service != Service::Smtp {
        return Ok(Screen::Pass);
    }
    let zones = &abuse.config().dnsbl_zones;
    let dnsbl = match peer.addr {
        Some(addr) if !zones.is_empty() && !abuse.is_exempt(peer) => {
            let (dns, zones, ip) = (shared.core.dns.clone(), zones.clone(), addr.ip());
            Some(tokio::spawn(
                async move { dnsbl_listed(&dns, ip, &zones).await },
            ))
        }
        _ => None,
    };
    let delay = Duration::from_millis(abuse.config().greeting_delay_ms);
    if !delay.is_zero() && !abuse.is_exempt(peer) {
        let mut byte = [0u8; 1];
        // RFC 5321 §3.1: the client waits for the greeting; anything sent before it is an
        // SMTP engine that does not listen (the postscreen "pregreet" test).
        match tokio::time::timeout(delay, conn.read(&mut byte)).await {
            Err(_) => {}
            Ok(Ok(0) | Err(_)) => {
                if let Some(task) = dnsbl {
                    task.abort();
                }
                return Ok(Screen::Refused);
            }
            Ok(Ok(_)) => {
                if let Some(task) = dnsbl {
                    task.abort();
                }
                info!(client = %crate::intake::client(peer), "early talker refused");
                send_and_close(
                    conn,
                    smtp_reply(
                        554,
                        (5, 5, 1),
                        "Protocol error: data sent before the greeting",
                    ),
                    shared,
                )
                .await;
                return Ok(Screen::Refused);
            }
        }
    }
    if let Some(task) = dnsbl
        && let Ok(Some(zone)) = task.await
        && let Some(addr) = peer.addr
    {
        info!(client = %addr.ip(), %zone, "client listed in DNSBL");
        let reply = smtp_reply(
            554,
            (5, 7, 1),
            &format!(
                "Service unavailable; client [{}] blocked using {zone}",
                addr.ip()
            ),
        );
        return Ok(Screen::Refuse(reply));
    }
    Ok(Screen::Pass)
}

/// Greets with `reply` (a `421` over a limit, a `554` to an early talker) and closes: the bytes
/// come from [`ServerSession::closing`].
async fn send_and_close(conn: &mut Conn, reply: Reply, shared: &Shared) {
    let config = ServerConfig::new(Mode::Smtp, shared.core.config.hostname.clone());
    match ServerSession::closing(config, reply) {
        Ok(mut machine) => {
            while let Some(out) = machine.poll_transmit() {
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.write_all(&out)).await;
            }
        }
        Err(e) => warn!("cannot refuse the connection in SMTP: {e}"),
    }
    let _ = conn.shutdown().await;
    // Closing a socket with unread input sends a reset, which can destroy the reply before the
    // client reads it: read what the client already sent (briefly, boundedly) first.
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        for _ in 0..16 {
            if !matches!(conn.read(&mut sink).await, Ok(n) if n > 0) {
                break;
            }
        }
    })
    .await;
}
