//! POP3 over a user's Maildir INBOX, driving `mailwright-pop3-proto`'s server machine.
//!
//! - Login: USER/PASS and AUTH PLAIN, refused before TLS except from loopback when the configuration
//!   allows it; a refused login waits `limits.auth_failure_delay_secs` before its reply.
//! - The maildrop is locked for the session (an exclusive lock on a file in the Maildir, so other
//!   processes see it too): a second session gets `-ERR [IN-USE]`.
//! - Messages are stored with LF line ends; sizes are the CRLF sizes (`W=` in the file name), and
//!   RETR/TOP stream the file from disk, converting line ends, never holding it whole.
//! - UIDL is the Maildir unique name (stable for the life of the message); deletions are applied only
//!   at QUIT.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use mailwright_maildir::{Entry, Maildir};
use mailwright_pop3_proto::server::{
    Maildrop, MaildropEntry, ServerConfig, ServerEvent, ServerSession,
};
use mailwright_pop3_proto::{Atom, ResponseCode, Text, Uid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{info, warn};

use crate::directory::Address;
use crate::net::{Conn, Peer};
use crate::server::Shared;

/// RFC 1939 §3: the autologout timer "MUST be of at least 10 minutes' duration".
const MIN_POP3_TIMEOUT: Duration = Duration::from_mins(10);

/// Name of the lock file a POP3 session holds in the Maildir.
pub const POP3_LOCK_FILE: &str = "mailwright-pop3.lock";

struct Session {
    user: Address,
    maildir: Maildir,
    entries: Vec<Entry>,
    _lock: std::fs::File,
}

/// Serves one POP3 connection until QUIT, close or timeout.
pub(crate) async fn serve(mut conn: Conn, peer: Peer, shared: &Arc<Shared>) -> io::Result<()> {
    let config = &shared.config;
    let mut cfg = ServerConfig::default();
    cfg.greeting = Text::lossy(&format!("{} Mailwright POP3 ready", config.hostname));
    cfg.tls_active = conn.is_tls();
    cfg.offer_stls = matches!(conn, Conn::Tcp(_));
    cfg.require_tls_for_login = !shared.login_allowed(conn.is_tls(), peer);
    cfg.sasl_mechanisms = vec![Atom::new("PLAIN").expect("valid atom")];
    cfg.implementation = Some(Text::lossy("Mailwright"));
    let mut machine = ServerSession::new(cfg);
    let timeout = config.limits.command_timeout().max(MIN_POP3_TIMEOUT);
    let mut shutdown = shared.shutdown.clone();
    let mut session: Option<Session> = None;
    let mut pending_sasl_user = false;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(event) = machine.poll_event() {
            match event {
                ServerEvent::Pass { user, password } => {
                    let result = login(shared, user.as_str(), password.expose()).await;
                    finish_login(&mut machine, &mut session, shared, peer, result).await;
                }
                ServerEvent::Auth {
                    mechanism,
                    initial_response,
                } => {
                    // Only PLAIN is offered; the machine refuses other mechanisms itself.
                    debug_assert_eq!(mechanism.as_str(), "PLAIN");
                    match initial_response {
                        Some(data) => {
                            let result = sasl_plain(shared, data.expose()).await;
                            finish_login(&mut machine, &mut session, shared, peer, result).await;
                        }
                        None => {
                            pending_sasl_user = true;
                            let _ = machine.sasl_challenge(b"");
                        }
                    }
                }
                ServerEvent::AuthResponse { data } if pending_sasl_user => {
                    pending_sasl_user = false;
                    let result = sasl_plain(shared, data.expose()).await;
                    finish_login(&mut machine, &mut session, shared, peer, result).await;
                }
                ServerEvent::Retr { message, .. } | ServerEvent::Top { message, .. } => {
                    let index = message.get() as usize - 1;
                    let opened = session.as_ref().and_then(|s| {
                        s.entries
                            .get(index)
                            .map(|e| s.maildir.open_message(e).map(|(f, _)| f))
                    });
                    match opened {
                        Some(Ok(mut file)) => loop {
                            let done = tokio::task::block_in_place(|| {
                                machine.send_message_from(&mut file)
                            })?;
                            flush(&mut machine, &mut conn).await?;
                            if done {
                                break;
                            }
                        },
                        _ => {
                            let _ = machine.refuse_message(
                                Some(ResponseCode::SysTemp),
                                "message is no longer available",
                            );
                        }
                    }
                }
                ServerEvent::StartTls { discarded } => {
                    if !discarded.is_empty() {
                        warn!(
                            bytes = discarded.len(),
                            "discarded plaintext pipelined after STLS"
                        );
                    }
                    flush(&mut machine, &mut conn).await?;
                    conn = conn.upgrade(shared.tls.acceptor()).await?;
                    let _ = machine.tls_established();
                    machine.config_mut().require_tls_for_login = false;
                }
                ServerEvent::Update { deleted } => {
                    let result = match &session {
                        Some(s) => {
                            let doomed: Vec<Entry> = deleted
                                .iter()
                                .filter_map(|d| {
                                    s.entries.get(d.message.get() as usize - 1).cloned()
                                })
                                .collect();
                            let maildir = s.maildir.clone();
                            tokio::task::spawn_blocking(move || maildir.remove_many(&doomed))
                                .await
                                .map_err(io::Error::other)?
                        }
                        None => Ok(0),
                    };
                    // The maildrop lock goes before the reply: a client that reconnects as soon
                    // as it reads the +OK must not find its own old session holding it.
                    let ended = session.take();
                    match result {
                        Ok(n) => {
                            if let Some(s) = &ended {
                                info!(user = %s.user, deleted = n, "pop3 update");
                            }
                            drop(ended);
                            let _ = machine.update_done(Ok(()));
                        }
                        Err(e) => {
                            drop(ended);
                            warn!("pop3 update failed: {e}");
                            let _ = machine.update_done(Err("some deleted messages not removed"));
                        }
                    }
                }
                ServerEvent::Closed(reason) => info!(?reason, "pop3 session over"),
                other => warn!(?other, "unexpected pop3 event"),
            }
        }
        flush(&mut machine, &mut conn).await?;
        if machine.is_closed() {
            break;
        }
        let n = tokio::select! {
            read = tokio::time::timeout(timeout, conn.read(&mut buf)) => match read {
                Ok(read) => read?,
                Err(_) => {
                    conn.write_all(b"-ERR [SYS/TEMP] autologout: idle too long\r\n").await?;
                    break;
                }
            },
            () = crate::server::shutdown_signalled(&mut shutdown) => {
                conn.write_all(b"-ERR [SYS/TEMP] server shutting down\r\n").await?;
                break;
            }
        };
        if n == 0 {
            break;
        }
        machine.handle_input(&buf[..n]);
    }
    let _ = conn.shutdown().await;
    Ok(())
}

async fn flush(machine: &mut ServerSession, conn: &mut Conn) -> io::Result<()> {
    while let Some(bytes) = machine.poll_transmit() {
        conn.write_all(&bytes).await?;
    }
    conn.flush().await
}

enum LoginResult {
    Ok(Session),
    BadCredentials,
    /// Too many failed logins from this address (`[abuse] auth_failures_per_ip`).
    Blocked,
    InUse,
    Failed(String),
}

/// AUTH PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`; an authzid other than the user is refused.
async fn sasl_plain(shared: &Arc<Shared>, data: &[u8]) -> LoginResult {
    let mut parts = data.split(|b| *b == 0);
    let (Some(authz), Some(authc), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return LoginResult::BadCredentials;
    };
    if !authz.is_empty() && authz != authc {
        return LoginResult::BadCredentials;
    }
    match std::str::from_utf8(authc) {
        Ok(user) => login(shared, user, pass).await,
        Err(_) => LoginResult::BadCredentials,
    }
}

async fn login(shared: &Arc<Shared>, user: &str, password: &[u8]) -> LoginResult {
    let Ok(address) = user.parse::<Address>() else {
        return LoginResult::BadCredentials;
    };
    let Ok(password) = String::from_utf8(password.to_vec()) else {
        return LoginResult::BadCredentials;
    };
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        match shared
            .directory
            .passwd()
            .verify(&address.to_string(), &password)
        {
            Ok(true) => {}
            Ok(false) => return LoginResult::BadCredentials,
            Err(e) => return LoginResult::Failed(e.to_string()),
        }
        open_maildrop(&shared, address)
    })
    .await
    .unwrap_or_else(|e| LoginResult::Failed(e.to_string()))
}

fn open_maildrop(shared: &Shared, user: Address) -> LoginResult {
    let path = shared.directory.maildir_path(&user);
    let maildir = match Maildir::open(&path).or_else(|_| crate::mailbox::create_user_maildir(&path))
    {
        Ok(m) => m,
        Err(e) => return LoginResult::Failed(e.to_string()),
    };
    let lock = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.join(POP3_LOCK_FILE))
    {
        Ok(f) => f,
        Err(e) => return LoginResult::Failed(e.to_string()),
    };
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return LoginResult::InUse,
        Err(std::fs::TryLockError::Error(e)) => return LoginResult::Failed(e.to_string()),
    }
    let mut entries = match maildir.scan() {
        Ok(e) => e,
        Err(e) => return LoginResult::Failed(e.to_string()),
    };
    entries.sort_by(|a, b| mailwright_maildir::delivery_order(a.unique(), b.unique()));
    LoginResult::Ok(Session {
        user,
        maildir,
        entries,
        _lock: lock,
    })
}

async fn finish_login(
    machine: &mut ServerSession,
    session: &mut Option<Session>,
    shared: &Arc<Shared>,
    peer: Peer,
    result: LoginResult,
) {
    let now = std::time::Instant::now();
    // An address over its failure budget is refused whatever it sent (as on submission).
    let result = match (shared.abuse.auth_blocked(peer, now), result) {
        (Err(_), LoginResult::Ok(_) | LoginResult::BadCredentials) => LoginResult::Blocked,
        (_, LoginResult::BadCredentials) => {
            shared.abuse.record_auth_failure(peer, now);
            LoginResult::BadCredentials
        }
        (_, r) => r,
    };
    match result {
        LoginResult::Ok(s) => {
            let maildrop = match build_maildrop(&s) {
                Ok(m) => m,
                Err(e) => {
                    warn!("cannot list maildrop of {}: {e}", s.user);
                    let _ =
                        machine.refuse_login(Some(ResponseCode::SysTemp), "cannot open maildrop");
                    return;
                }
            };
            info!(user = %s.user, messages = s.entries.len(), "pop3 login");
            *session = Some(s);
            let _ = machine.accept_login(maildrop);
        }
        LoginResult::BadCredentials => {
            tokio::time::sleep(shared.config.limits.auth_failure_delay()).await;
            info!("pop3 login refused");
            let _ = machine.refuse_login(Some(ResponseCode::Auth), "authentication failed");
        }
        LoginResult::Blocked => {
            tokio::time::sleep(shared.config.limits.auth_failure_delay()).await;
            info!("pop3 login blocked: too many failures from this address");
            let _ = machine.refuse_login(
                Some(ResponseCode::SysTemp),
                "too many failed logins from this address, try again later",
            );
        }
        LoginResult::InUse => {
            let _ = machine.refuse_login(
                Some(ResponseCode::InUse),
                "maildrop is locked by another session",
            );
        }
        LoginResult::Failed(e) => {
            warn!("pop3 login failed: {e}");
            let _ = machine.refuse_login(
                Some(ResponseCode::SysTemp),
                "temporary failure, try again later",
            );
        }
    }
}

/// Sizes are the CRLF sizes POP3 sends (RFC 1939 §5): `W=` from the name, else counted from the file.
fn build_maildrop(s: &Session) -> io::Result<Maildrop> {
    let mut list = Vec::with_capacity(s.entries.len());
    for entry in &s.entries {
        let size = match entry.vsize() {
            Some(v) => v,
            None => crlf_size(&s.maildir, entry)?,
        };
        // RFC 1939 §7: a unique-id is 1 to 70 characters 0x21-0x7E. Unique names fit unless the
        // host name is very long; then a digest of the name stands in, just as stable.
        let uid = Uid::new(entry.unique()).or_else(|_| {
            let digest = ring::digest::digest(&ring::digest::SHA256, entry.unique().as_bytes());
            Uid::new(
                digest.as_ref()[..16]
                    .iter()
                    .fold(String::new(), |mut hex, b| {
                        use std::fmt::Write;
                        let _ = write!(hex, "{b:02x}");
                        hex
                    }),
            )
        });
        let uid = uid.map_err(io::Error::other)?;
        list.push(MaildropEntry { size, uid });
    }
    Ok(Maildrop::new(list))
}

fn crlf_size(maildir: &Maildir, entry: &Entry) -> io::Result<u64> {
    let bytes = maildir.read_message(entry).map_err(io::Error::other)?;
    #[allow(clippy::naive_bytecount)] // a rare fallback, not worth a dependency
    let lf = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    let crlf = bytes.windows(2).filter(|w| w == b"\r\n").count() as u64;
    Ok(bytes.len() as u64 + lf - crlf)
}
