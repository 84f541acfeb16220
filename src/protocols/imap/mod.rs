//! IMAP4rev1 over the users' Maildirs, driving `mailwright-imap-proto`'s server session.
//!
//! - `serve` is the driver of one connection: it moves bytes and time between the socket and
//!   the protocol session (`ServerSession`) and answers its events; every protocol byte
//!   (greeting, refusals, timeouts, shutdown, the SASL PLAIN exchange) comes from the session.
//! - Greeting with CAPABILITY, STARTTLS (plaintext pipelined after it is discarded by the
//!   session), LOGIN and AUTHENTICATE PLAIN with SASL-IR, refused before TLS except from loopback
//!   when the configuration allows it; a failed login waits `limits.auth_failure_delay_secs`;
//!   `limits.max_errors` bad commands or failed logins end the session. Autologout after 30 idle
//!   minutes (RFC 3501 §5.4), 3 minutes to log in, 60 seconds per command line.
//! - Extensions: LITERAL+, SASL-IR, ID, ENABLE, IDLE, NAMESPACE, UNSELECT, UIDPLUS, MOVE,
//!   CHILDREN, SPECIAL-USE, LIST-EXTENDED, LIST-STATUS, ESEARCH, CONDSTORE, COMPRESS=DEFLATE,
//!   APPENDLIMIT (= `limits.max_message_size`).
//! - Mailboxes: INBOX is the Maildir root, `A/B` the Maildir++ folder `.A.B` (module `names`);
//!   UIDs, UIDVALIDITY, keywords and MODSEQs are the `maildir` crate's (Dovecot's files).
//! - Messages are stored with LF line ends and presented with CRLF; RFC822.SIZE is the `W=` size.
//!   ENVELOPE and BODYSTRUCTURE match Dovecot's for the same message (see
//!   `tests/server_imap_dovecot.rs`).
//! - Storage calls block: commands run under `block_in_place`. FETCH is written message by
//!   message; APPEND is spooled to disk past 1 MiB.
//! - IDLE (RFC 2177) reports EXISTS, EXPUNGE and FETCH FLAGS as soon as a change made in this
//!   process (delivery, another session) is notified (module `notify`), and polls the mailbox
//!   every [`IDLE_POLL`] (a few `stat`s while nothing changed) for changes by other processes, so
//!   every change shows within a second. EXPUNGEs wait for a command that allows them
//!   (RFC 3501 §7.4.1).
//! - A session only ever opens Maildirs under its own user's root (`directory.maildir_path`), and
//!   names are validated before they reach the file system, so no user reaches another's mail.

mod fetch;
mod mailboxes;
mod mime;
mod names;
mod search;
mod selected;
mod session;
mod wire;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailwright_imap_proto::Machine;
use mailwright_imap_proto::server::{
    Condition, Event, Greeting, LoginHandle, Refusal, RejectReason, ServerConfig, ServerSession,
    Untagged,
};
use mailwright_imap_proto::types::response::{Response, StatusKind};
use mailwright_maildir::Maildir;
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

use crate::core::directory::Address;
use crate::core::net::{Conn, Peer};
use crate::protocols::Shared;
use session::{Action, Completion, Session, User};

/// RFC 3501 §5.4: the autologout timer is at least 30 minutes.
pub const AUTOLOGOUT: Duration = Duration::from_mins(30);

/// How often an idling session looks for changes made by other processes (changes made in this
/// one wake it at once, see `notify`).
pub const IDLE_POLL: Duration = Duration::from_millis(500);

/// An APPEND in progress.
struct Append {
    mailbox: mailwright_imap_proto::types::mailbox::Mailbox<'static>,
    flags: Option<Vec<mailwright_imap_proto::types::flag::Flag<'static>>>,
    date: Option<mailwright_imap_proto::types::datetime::DateTime>,
    spool: crate::store::Spool,
    /// A write to the spool failed: the APPEND is answered NO.
    failed: bool,
}

/// One connection's protocol session and compression.
struct Link {
    deflate: Option<wire::Deflate>,
    server: ServerSession,
}

/// What the connection loop does after an event.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Goes on.
    Continue,
    /// Runs the TLS handshake (STARTTLS was accepted and its OK written).
    StartTls,
}

impl Link {
    /// Writes out everything the protocol session queued.
    async fn flush(&mut self, conn: &mut Conn) -> io::Result<()> {
        let mut all = Vec::new();
        while let Some(bytes) = self.server.poll_transmit() {
            all.extend_from_slice(&bytes);
        }
        if all.is_empty() {
            return Ok(());
        }
        wire::send(conn, &mut self.deflate, &all).await
    }

    /// Hands the session's untagged responses to the protocol session: data as data, a BYE
    /// (the selected mailbox is gone) as the end of the session.
    fn emit(&mut self, out: &mut Vec<Response<'static>>) {
        for r in out.drain(..) {
            let result = match r {
                Response::Status(st) if st.tag.is_none() && st.kind == StatusKind::Bye => {
                    self.server.bye(st.text.as_str())
                }
                r => match Untagged::try_from(r) {
                    Ok(u) => self.server.send(u),
                    Err(r) => {
                        warn!(?r, "imap: not untagged data, dropped");
                        Ok(())
                    }
                },
            };
            if let Err(e) = result {
                warn!("imap: untagged response not sent: {e}");
            }
        }
    }
}

/// Logs a decision the protocol session refused (a bug, or the session closed meanwhile).
fn decided(result: Result<(), mailwright_imap_proto::UsageError>) {
    if let Err(e) = result {
        warn!("imap decision not taken: {e}");
    }
}

/// The protocol session's configuration from the server's.
fn config(shared: &Shared, s: &Session) -> ServerConfig {
    let mut config = ServerConfig::default();
    // APPEND literals up to the message size limit (RFC 7889 APPENDLIMIT advertises it).
    config.framer.max_append_literal =
        u32::try_from(session::append_limit(shared)).unwrap_or(u32::MAX);
    config.autologout = AUTOLOGOUT;
    config.max_bad_commands = shared.core.config.limits.max_errors;
    config.greeting = Greeting {
        preauth: false,
        capabilities: Some(s.capabilities()),
        text: format!("{} Mailwright IMAP ready", shared.core.config.hostname),
    };
    config
}

/// Serves one IMAP connection.
pub(crate) async fn serve(mut conn: Conn, peer: Peer, shared: &Arc<Shared>) -> io::Result<()> {
    // Responses are written whole, once per burst: Nagle's algorithm only adds a delayed-ACK
    // wait (40 ms) to the reply of a synchronizing APPEND literal.
    let _ = match &conn {
        Conn::Tcp(t) => t.set_nodelay(true),
        Conn::Tls(t) => t.get_ref().0.set_nodelay(true),
        Conn::Unix(_) => Ok(()),
    };
    let mut s = Session {
        shared: shared.clone(),
        peer,
        login_allowed: shared.core.login_allowed(conn.is_tls(), peer),
        tls: conn.is_tls(),
        starttls_offered: matches!(conn, Conn::Tcp(_)),
        user: None,
        selected: None,
        condstore: false,
        compressed: false,
    };
    let mut link = Link {
        server: ServerSession::new(config(shared, &s)),
        deflate: None,
    };
    // The connection is accepted now: the pre-login timer starts.
    link.server.handle_timeout(Instant::now());
    let mut shutdown = shared.shutdown.clone();
    let mut shutting_down = false;
    let mut append: Option<Append> = None;
    let mut buf = vec![0u8; 16 * 1024];
    let mut idle: Option<Idling> = None;
    loop {
        while let Some(event) = link.server.poll_event() {
            let next =
                on_event(&mut link, &mut conn, &mut s, &mut append, &mut idle, event).await?;
            if next == Next::StartTls {
                conn = conn.upgrade(shared.core.tls.acceptor()).await?;
                s.tls = true;
                s.login_allowed = true;
                decided(link.server.handle_tls_established());
            }
        }
        link.flush(&mut conn).await?;
        if link.server.is_closed() {
            break;
        }
        let deadline = link.server.poll_timeout();
        let reading = link.server.wants_input();
        let mut input = Vec::new();
        tokio::select! {
            r = wire::recv(&mut conn, &mut link.deflate, &mut buf, &mut input), if reading => {
                if !r? {
                    break;
                }
                link.server.handle_input(Instant::now(), &input);
            }
            () = sleep_until(deadline) => link.server.handle_timeout(Instant::now()),
            () = crate::core::shutdown_signalled(&mut shutdown), if !shutting_down => {
                // The session says goodbye at the next point the protocol allows.
                link.server.handle_shutdown();
                shutting_down = true;
            }
            () = idle_wake(&mut idle), if idle.is_some() => {
                let mut out = Vec::new();
                tokio::task::block_in_place(|| s.refresh(true, &mut out));
                link.emit(&mut out);
            }
        }
    }
    let _ = link.flush(&mut conn).await;
    let _ = conn.shutdown().await;
    Ok(())
}

/// An IDLE in progress: woken by changes made in this process to the selected folder, polling
/// for other processes' changes.
struct Idling {
    wake: Option<tokio::sync::watch::Receiver<u64>>,
}

/// Sleeps until the protocol session's next deadline; forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// Returns when an idling session should look for changes: its folder was notified, or
/// [`IDLE_POLL`] passed.
async fn idle_wake(idle: &mut Option<Idling>) {
    let wake = idle.as_mut().and_then(|i| i.wake.as_mut());
    tokio::select! {
        () = tokio::time::sleep(IDLE_POLL) => {}
        () = woken(wake) => {}
    }
}

/// Acts on one event of the protocol session.
async fn on_event(
    link: &mut Link,
    conn: &mut Conn,
    s: &mut Session,
    append: &mut Option<Append>,
    idle: &mut Option<Idling>,
    event: Event,
) -> io::Result<Next> {
    let mut out = Vec::new();
    match event {
        Event::Login {
            handle,
            authzid,
            username,
            password,
        } => {
            // An authzid other than the user is refused (RFC 4616 §2 lets the server decide).
            let r = if !s.login_allowed {
                Err(LoginError::NotAllowed)
            } else if authzid.is_some_and(|a| a != username) {
                Err(LoginError::BadCredentials)
            } else {
                login(s, &username, password.expose()).await
            };
            finish_login(link, s, handle, r).await;
        }
        Event::Command { handle, command } => {
            // A FETCH's first step runs in the same `block_in_place` as the command: one
            // hand-off instead of two for the usual small FETCH.
            let tag = handle.tag().clone();
            let mut part = Vec::new();
            let mut gone = 0;
            let action = tokio::task::block_in_place(|| {
                let action = s.handle(&tag, command, &mut out);
                if let Action::Fetch(plan) = &action
                    && let Some(first) = plan.idx.chunks(plan.step()).next()
                {
                    gone = s.fetch_some(plan, first, &mut part);
                }
                action
            });
            let done = match action {
                Action::Done(done) => {
                    link.emit(&mut out);
                    done
                }
                Action::Fetch(plan) => {
                    // Written as it is read, so a big FETCH never sits in memory.
                    link.emit(&mut out);
                    link.emit(&mut part);
                    for chunk in plan.idx.chunks(plan.step()).skip(1) {
                        link.flush(conn).await?;
                        gone +=
                            tokio::task::block_in_place(|| s.fetch_some(&plan, chunk, &mut part));
                        link.emit(&mut part);
                    }
                    Session::fetch_done(plan.uid, gone)
                }
            };
            decided(
                link.server
                    .complete(handle, done.condition, done.code, &done.text),
            );
        }
        Event::Select {
            handle,
            mailbox,
            read_only,
            condstore,
        } => {
            s.condstore |= condstore;
            let r = tokio::task::block_in_place(|| s.select(&mailbox, read_only, &mut out));
            link.emit(&mut out);
            decided(match r {
                Ok((code, text)) => link.server.accept_select(handle, code, &text),
                Err(mailboxes::No(code, text)) => {
                    link.server.reject(handle, Refusal::No, code, &text)
                }
            });
        }
        Event::Close { handle, expunge } => {
            tokio::task::block_in_place(|| s.close(expunge));
            let text = if expunge {
                "CLOSE completed"
            } else {
                "UNSELECT completed"
            };
            decided(link.server.accept_close(handle, text));
        }
        Event::Logout { handle } => decided(link.server.accept_logout(handle)),
        Event::Idle { handle } => {
            decided(link.server.accept_idle(handle));
            *idle = Some(Idling {
                wake: s
                    .selected
                    .as_ref()
                    .map(|sel| crate::store::notify::subscribe(sel.maildir.path())),
            });
        }
        Event::IdleDone { handle } => {
            *idle = None;
            tokio::task::block_in_place(|| s.refresh(true, &mut out));
            link.emit(&mut out);
            decided(
                link.server
                    .complete(handle, Condition::Ok, None, "IDLE terminated"),
            );
        }
        Event::AppendStart {
            mailbox,
            flags,
            date,
            ..
        } => {
            quickack(conn);
            *append = Some(Append {
                mailbox,
                flags,
                date,
                spool: crate::store::Spool::new(s.shared.core.spool_dir()),
                failed: false,
            });
        }
        Event::AppendChunk { data, .. } => {
            quickack(conn);
            if let Some(a) = append
                && !a.failed
                && let Err(e) = if a.spool.stays_in_memory(data.len()) {
                    a.spool.write(&data)
                } else {
                    tokio::task::block_in_place(|| a.spool.write(&data))
                }
            {
                warn!("imap append spool: {e}");
                a.failed = true;
            }
        }
        Event::AppendEnd { handle } => {
            let r = match append.take() {
                Some(mut a) if !a.failed => tokio::task::block_in_place(|| {
                    let r = s.append(&a.mailbox, a.flags.as_deref(), a.date, &mut a.spool);
                    s.refresh(true, &mut out);
                    r
                }),
                _ => Err(mailboxes::No::text("APPEND failed to store its message")),
            };
            link.emit(&mut out);
            let done = Completion::of(r);
            decided(
                link.server
                    .complete(handle, done.condition, done.code, &done.text),
            );
        }
        Event::AppendAborted { .. } => *append = None,
        Event::StartTls { handle } => match s.starttls() {
            Err(mailboxes::No(code, text)) => {
                decided(link.server.reject(handle, Refusal::No, code, &text));
            }
            Ok(()) => {
                let discarded = link.server.accept_starttls(handle).unwrap_or_default();
                if discarded > 0 {
                    warn!(
                        bytes = discarded,
                        "discarded plaintext pipelined after STARTTLS"
                    );
                }
                link.flush(conn).await?;
                return Ok(Next::StartTls);
            }
        },
        Event::Compress { handle, algorithm } => match s.compress(algorithm.as_str()) {
            Err(mailboxes::No(code, text)) => {
                decided(link.server.reject(handle, Refusal::No, code, &text));
            }
            Ok(()) => {
                // RFC 4978 §3: the tagged OK goes out uncompressed, everything after it
                // compressed; what the client sent after its command is compressed already.
                let rest = link.server.accept_compress(handle).unwrap_or_default();
                link.flush(conn).await?;
                let mut z = wire::Deflate::new();
                let mut input = Vec::new();
                z.inflate(&rest, &mut input)?;
                link.deflate = Some(z);
                s.compressed = true;
                if !input.is_empty() {
                    link.server.handle_input(Instant::now(), &input);
                }
            }
        },
        Event::Rejected { reason, .. } => {
            info!(%reason, "imap command rejected");
            // Something other than DONE ended IDLE (the session answered BAD).
            if reason == RejectReason::ExpectedDone {
                *idle = None;
            }
        }
        Event::Closed { reason } => info!(?reason, "imap session closed"),
        other => warn!(?other, "unexpected imap event"),
    }
    Ok(Next::Continue)
}

/// Returns when the folder `wake` watches is notified of a change; never without a folder.
async fn woken(wake: Option<&mut tokio::sync::watch::Receiver<u64>>) {
    match wake {
        // The sender lives as long as a receiver does: an error cannot happen, but must not spin.
        Some(rx) => {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Acknowledges the client's next segments at once (Linux `TCP_QUICKACK`, which the kernel
/// clears again by itself). During a synchronizing APPEND literal the client (with Nagle's
/// algorithm) holds back the CRLF that ends the command until its literal is acknowledged;
/// a delayed ACK would cost 40 ms per APPEND.
fn quickack(conn: &Conn) {
    let _ = match conn {
        Conn::Tcp(t) => t.set_quickack(true),
        Conn::Tls(t) => t.get_ref().0.set_quickack(true),
        Conn::Unix(_) => Ok(()),
    };
}

#[derive(Debug)]
enum LoginError {
    NotAllowed,
    BadCredentials,
    /// Too many failed logins from this address (`[abuse] auth_failures_per_ip`).
    Blocked,
    Failed(String),
}

async fn login(s: &Session, user: &str, password: &str) -> Result<User, LoginError> {
    let Ok(address) = user.parse::<Address>() else {
        return Err(LoginError::BadCredentials);
    };
    let password = password.to_owned();
    let shared = s.shared.clone();
    tokio::task::spawn_blocking(move || {
        match shared
            .core
            .directory
            .passwd()
            .verify(&address.to_string(), &password)
        {
            Ok(true) => {}
            Ok(false) => return Err(LoginError::BadCredentials),
            Err(e) => return Err(LoginError::Failed(e.to_string())),
        }
        let path = shared.core.directory.maildir_path(&address);
        let mut root = Maildir::open(&path)
            .or_else(|_| crate::store::create_user_maildir(&path))
            .map_err(|e| LoginError::Failed(e.to_string()))?;
        root.set_fsync_changes(shared.core.config.storage.fsync_changes);
        Ok(User { address, root })
    })
    .await
    .unwrap_or_else(|e| Err(LoginError::Failed(e.to_string())))
}

async fn finish_login(
    link: &mut Link,
    s: &mut Session,
    handle: LoginHandle,
    result: Result<User, LoginError>,
) {
    let now = Instant::now();
    // An address over its failure budget is refused whatever it sent (as on submission).
    let result = match (s.shared.core.abuse.auth_blocked(s.peer, now), result) {
        (Err(_), Ok(_) | Err(LoginError::BadCredentials)) => Err(LoginError::Blocked),
        (_, Err(LoginError::BadCredentials)) => {
            s.shared.core.abuse.record_auth_failure(s.peer, now);
            Err(LoginError::BadCredentials)
        }
        (_, r) => r,
    };
    let refusal = match result {
        Ok(user) => {
            info!(user = %user.address, "imap login");
            s.user = Some(user);
            decided(link.server.accept_login(handle, Some(s.capabilities())));
            return;
        }
        Err(LoginError::NotAllowed) => (
            "PRIVACYREQUIRED",
            "Plaintext login is not allowed without TLS",
        ),
        Err(LoginError::BadCredentials) => {
            tokio::time::sleep(s.shared.core.config.limits.auth_failure_delay()).await;
            info!("imap login refused");
            ("AUTHENTICATIONFAILED", "Authentication failed")
        }
        Err(LoginError::Blocked) => {
            tokio::time::sleep(s.shared.core.config.limits.auth_failure_delay()).await;
            info!("imap login blocked: too many failures from this address");
            (
                "UNAVAILABLE",
                "Too many failed logins from this address, try again later",
            )
        }
        Err(LoginError::Failed(e)) => {
            warn!("imap login failed: {e}");
            ("UNAVAILABLE", "Temporary failure, try again later")
        }
    };
    let (code, text) = refusal;
    decided(
        link.server
            .reject_login(handle, Some(mailboxes::code(code)), text),
    );
}
