//! SMTP (port 25), submission (587/465) and LMTP (24 and a unix socket), driving
//! `mailwright-smtp-proto`'s server machine and delivering into local Maildirs.
//!
//! - Recipients are resolved through the [`Directory`](crate::core::directory::Directory): local users,
//!   aliases and catch-alls are accepted; unknown users get `550 5.1.1`; other domains get
//!   `554 5.7.1` (never an open relay; the outbound relay is a later piece).
//! - Submission requires AUTH (PLAIN, LOGIN) before MAIL, offered only under TLS except to loopback
//!   clients when `auth.plaintext_on_loopback` is set.
//! - The reply after the data is sent only when every copy is fsynced in its Maildir; LMTP answers
//!   once per recipient (RFC 2033 §4.2).
//! - `Return-Path:` and `Received:` (RFC 5321 §4.4) are prepended, and `Delivered-To:` per copy.

mod screen;

use crate::core::smtp_reply as reply;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use mailwright_smtp_proto::server::{Event, HeloKind, Mode, ServerConfig, ServerSession};
use mailwright_smtp_proto::{Host, Mechanism};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{info, warn};

use crate::core::directory::Address;
use crate::core::net::Service;
use crate::core::net::{Conn, Peer};
use crate::intake::{Transaction, finish_message, mail_policy, rcpt_limited};
use crate::protocols::Shared;
use crate::store::Spool;

/// The machine's configuration for `service` on `conn`: the `[limits]` of the server mapped onto
/// the machine's limits and timers.
fn machine_config(shared: &Shared, mode: Mode, conn: &Conn, peer: Peer) -> ServerConfig {
    let config = &shared.core.config;
    let mut cfg = ServerConfig::new(mode, config.hostname.clone());
    cfg.greeting = if mode == Mode::Lmtp {
        "LMTP Mailwright".into()
    } else {
        "ESMTP Mailwright".into()
    };
    cfg.tls_active = conn.is_tls();
    cfg.limits.max_message_size = Some(config.limits.max_message_size);
    cfg.limits.max_recipients = config.limits.max_recipients;
    if mode == Mode::Submission {
        cfg.limits.max_recipients = cfg
            .limits
            .max_recipients
            .min(config.submission.max_recipients_per_message);
    }
    // `limits.max_errors` is where the session is closed: the machine's hard limit. Replies slow
    // down past the machine's soft limit (10) only when the hard limit is above it.
    cfg.limits.hard_error_limit = config.limits.max_errors.max(1);
    cfg.limits.soft_error_limit = cfg.limits.soft_error_limit.min(cfg.limits.hard_error_limit);
    // `limits.command_timeout_secs` bounds every wait for the client: for a command, for the rest
    // of a command line from its first octet, and between octets of message data.
    let timeout = config.limits.command_timeout();
    cfg.timeouts.idle = timeout;
    cfg.timeouts.command = timeout;
    cfg.timeouts.data_idle = timeout;
    // Messages are stored as text with LF line ends, so binary content cannot be kept exactly.
    cfg.extensions.binary_mime = false;
    cfg.extensions.starttls = matches!(conn, Conn::Tcp(_)) && mode != Mode::Lmtp;
    if mode == Mode::Submission {
        cfg.extensions.auth = vec![Mechanism::plain(), Mechanism::login()];
        cfg.extensions.auth_requires_tls = !shared.core.login_allowed(false, peer);
    }
    cfg
}

/// Serves one SMTP, submission or LMTP connection.
pub(crate) async fn serve(
    service: Service,
    mut conn: Conn,
    peer: Peer,
    shared: &Arc<Shared>,
) -> io::Result<()> {
    let config = &shared.core.config;
    let mode = match service {
        Service::Lmtp | Service::LmtpUnix => Mode::Lmtp,
        Service::Submission | Service::Submissions => Mode::Submission,
        _ => Mode::Smtp,
    };
    let cfg = machine_config(shared, mode, &conn, peer);
    let mut machine = match screen::screen(service, &mut conn, peer, shared).await? {
        screen::Screen::Pass => ServerSession::new(cfg),
        screen::Screen::Refuse(greeting) => match ServerSession::refusing(cfg, greeting) {
            Ok(machine) => machine,
            Err(e) => {
                warn!("cannot refuse the session in SMTP: {e}");
                return Ok(());
            }
        },
        screen::Screen::Refused => return Ok(()),
    };
    // The wait for the first command runs from now.
    machine.handle_timeout(Instant::now());
    let mut shutdown = shared.shutdown.clone();
    let mut shutting_down = false;
    let mut helo: Option<(HeloKind, Host)> = None;
    let mut user: Option<Address> = None;
    let mut txn = Transaction::default();
    let mut auth_failures = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(event) = machine.poll_event() {
            let decided = match event {
                Event::Helo { kind, host } => {
                    helo = Some((kind, host));
                    txn = Transaction::default();
                    machine.accept()
                }
                Event::Mail { from, .. } => {
                    match mail_policy(&shared.intake, mode, peer, &from, user.as_ref()) {
                        Err(refusal) => machine.reject(refusal),
                        Ok(()) => {
                            txn = Transaction {
                                from: Some(from),
                                ..Transaction::default()
                            };
                            machine.accept()
                        }
                    }
                }
                Event::Rcpt { to, .. } => {
                    match rcpt_limited(&shared.intake, peer, &to, user.as_ref()) {
                        Ok(r) => {
                            txn.rcpts.push(r);
                            machine.accept()
                        }
                        Err(refusal) => machine.reject(refusal),
                    }
                }
                Event::DataStart => {
                    txn.spool = Some(Spool::new(shared.core.spool_dir()));
                    txn.started = Some(Instant::now());
                    Ok(())
                }
                Event::DataChunk(bytes) => {
                    if let Some(spool) = &mut txn.spool {
                        let result = if spool.stays_in_memory(bytes.len()) {
                            spool.write(&bytes)
                        } else {
                            tokio::task::block_in_place(|| spool.write(&bytes))
                        };
                        if let Err(e) = result {
                            // The machine keeps reading the data; the failure is answered at its end.
                            warn!("spool write failed: {e}");
                            txn.spool = None;
                        }
                    }
                    Ok(())
                }
                Event::DataAborted(reason) => {
                    info!(?reason, "message data refused");
                    txn = Transaction::default();
                    Ok(())
                }
                Event::DataEnd => {
                    let replies = finish_message(
                        &shared.intake,
                        &mut txn,
                        mode,
                        helo.as_ref(),
                        user.as_ref(),
                        conn.is_tls(),
                        peer,
                    )
                    .await;
                    txn = Transaction::default();
                    if mode == Mode::Lmtp {
                        machine.data_replies(replies)
                    } else {
                        let first = replies
                            .into_iter()
                            .next()
                            .unwrap_or_else(|| reply(451, (4, 3, 0), "Local error"));
                        if first.is_positive() {
                            machine.accept_with(first)
                        } else {
                            machine.reject(first)
                        }
                    }
                }
                Event::AuthCredentials {
                    authzid,
                    username,
                    password,
                    ..
                } => {
                    let outcome = match shared.core.abuse.auth_blocked(peer, Instant::now()) {
                        Err(blocked) => Err(blocked.reply()),
                        Ok(()) => {
                            match authenticate(
                                shared,
                                authzid.as_deref(),
                                &username,
                                password.expose(),
                            )
                            .await
                            {
                                Some(address) => Ok(address),
                                None => {
                                    shared.core.abuse.record_auth_failure(peer, Instant::now());
                                    tokio::time::sleep(config.limits.auth_failure_delay()).await;
                                    Err(reply(535, (5, 7, 8), "Authentication credentials invalid"))
                                }
                            }
                        }
                    };
                    match outcome {
                        Ok(address) => {
                            info!(user = %address, "authenticated");
                            user = Some(address);
                            machine.accept()
                        }
                        Err(refusal) => {
                            auth_failures += 1;
                            info!(failures = auth_failures, "authentication failed");
                            if auth_failures >= config.submission.max_auth_failures {
                                machine.reject_and_close(reply(
                                    421,
                                    (4, 7, 0),
                                    "Too many failed login attempts, closing connection",
                                ))
                            } else {
                                machine.reject(refusal)
                            }
                        }
                    }
                }
                Event::AuthStart { .. } | Event::AuthResponse(_) => {
                    machine.reject(reply(504, (5, 5, 4), "Mechanism not supported"))
                }
                Event::StartTls { discarded } => {
                    if discarded > 0 {
                        warn!(
                            bytes = discarded,
                            "discarded plaintext pipelined after STARTTLS"
                        );
                    }
                    flush(&mut machine, &mut conn).await?;
                    conn = conn.upgrade(shared.core.tls.acceptor()).await?;
                    helo = None;
                    user = None;
                    txn = Transaction::default();
                    machine.handle_tls_established()
                }
                Event::Closed(reason) => {
                    info!(?reason, "session closed by protocol");
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(e) = decided {
                // A decision the machine was not waiting for is a bug here: end the session
                // rather than go on out of step with the client.
                warn!("SMTP session out of step with its machine: {e}");
                flush(&mut machine, &mut conn).await?;
                let _ = conn.shutdown().await;
                return Ok(());
            }
        }
        flush(&mut machine, &mut conn).await?;
        if machine.is_closed() {
            break;
        }
        let deadline = machine.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            read = conn.read(&mut buf), if machine.wants_input() => {
                let n = read?;
                if n == 0 {
                    break;
                }
                machine.handle_input(Instant::now(), &buf[..n]);
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                machine.handle_timeout(Instant::now());
            }
            // RFC 5321 §3.8: a server going down answers 421 and closes; the machine says when.
            () = crate::core::shutdown_signalled(&mut shutdown), if !shutting_down => {
                shutting_down = true;
                machine.handle_shutdown();
            }
            else => break,
        }
    }
    let _ = conn.shutdown().await;
    Ok(())
}

/// Sleeps until `deadline` (never when there is none).
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn flush(machine: &mut ServerSession, conn: &mut Conn) -> io::Result<()> {
    while let Some(bytes) = machine.poll_transmit() {
        conn.write_all(&bytes).await?;
    }
    conn.flush().await
}

async fn authenticate(
    shared: &Arc<Shared>,
    authzid: Option<&str>,
    username: &str,
    password: &str,
) -> Option<Address> {
    if authzid.is_some_and(|z| !z.eq_ignore_ascii_case(username)) {
        return None;
    }
    let address: Address = username.parse().ok()?;
    let shared = shared.clone();
    let password = password.to_owned();
    let name = address.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        shared.core.directory.passwd().verify(&name, &password)
    })
    .await
    .ok()?
    .ok()?;
    ok.then_some(address)
}
