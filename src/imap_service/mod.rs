//! IMAP4rev1 over the users' Maildirs, driving `mailwright-imap-proto`'s server flow.
//!
//! - `serve` runs one connection: greeting with CAPABILITY, STARTTLS (plaintext pipelined after
//!   it is discarded by the flow), LOGIN and AUTHENTICATE PLAIN with SASL-IR, refused before TLS
//!   except from loopback when the configuration allows it; a failed login waits
//!   `limits.auth_failure_delay_secs`; `limits.max_errors` bad commands end the session.
//!   Auto-logout after 30 idle minutes (RFC 3501 §5.4).
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
pub(crate) mod notify;
mod search;
mod selected;
mod session;
mod wire;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use mailwright_imap_proto::Tag;
use mailwright_imap_proto::server::{RejectReason, ServerEvent, ServerFlow, ServerOptions};
use mailwright_imap_proto::types::command::{AuthData, CommandBody};
use mailwright_imap_proto::types::response::{Code, Continue, Response, StatusKind};
use mailwright_maildir::Maildir;
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

use crate::directory::Address;
use crate::net::{Conn, Peer};
use crate::server::Shared;
use session::{Action, Session, User, status};

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
    spool: crate::mailbox::Spool,
    /// A write to the spool failed: the APPEND is answered NO.
    failed: bool,
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
    let mut options = ServerOptions::default();
    // APPEND literals up to the message size limit (RFC 7889 APPENDLIMIT advertises it).
    options.framer.max_append_literal =
        u32::try_from(session::append_limit(shared)).unwrap_or(u32::MAX);
    let mut flow = ServerFlow::new(options);
    let mut s = Session {
        shared: shared.clone(),
        peer,
        login_allowed: shared.login_allowed(conn.is_tls(), peer),
        tls: conn.is_tls(),
        starttls_offered: matches!(conn, Conn::Tcp(_)),
        user: None,
        selected: None,
        condstore: false,
        compressed: false,
    };
    flow.enqueue(&status(
        None,
        StatusKind::Ok,
        Some(Code::Capability(s.capabilities())),
        &format!("{} Mailwright IMAP ready", shared.config.hostname),
    ));
    let mut shutdown = shared.shutdown.clone();
    let mut idle_tag: Option<Tag<'static>> = None;
    let mut sasl_tag: Option<Tag<'static>> = None;
    let mut append: Option<Append> = None;
    let mut buf = vec![0u8; 16 * 1024];
    let mut deflate: Option<wire::Deflate> = None;
    let mut errors = 0usize;
    loop {
        while let Some(event) = flow.poll_event() {
            let mut out = Vec::new();
            match event {
                ServerEvent::Command(cmd) => {
                    let tag = cmd.tag.clone();
                    match cmd.body {
                        CommandBody::Login { username, password } => {
                            let r = if s.login_allowed {
                                login(&s, username.as_bytes(), password.as_bytes()).await
                            } else {
                                Err(LoginError::NotAllowed)
                            };
                            finish_login(&mut s, tag, r, &mut out).await;
                        }
                        CommandBody::Authenticate {
                            mechanism,
                            initial_response,
                        } => {
                            if !mechanism.as_str().eq_ignore_ascii_case("PLAIN") {
                                out.push(status(
                                    Some(tag),
                                    StatusKind::No,
                                    None,
                                    "Unsupported authentication mechanism",
                                ));
                            } else if !s.login_allowed {
                                finish_login(&mut s, tag, Err(LoginError::NotAllowed), &mut out)
                                    .await;
                            } else if let Some(ir) = initial_response {
                                let r = sasl_plain(&s, &ir).await;
                                finish_login(&mut s, tag, r, &mut out).await;
                            } else {
                                sasl_tag = Some(tag);
                                out.push(Response::Continue(Continue::base64(b"")));
                            }
                        }
                        body => {
                            // A FETCH's first step runs in the same `block_in_place` as the
                            // command: one hand-off instead of two for the usual small FETCH.
                            let mut part = Vec::new();
                            let mut gone = 0;
                            let action = tokio::task::block_in_place(|| {
                                let action = s.handle(&tag, body, &mut out);
                                if let Action::Fetch(plan) = &action
                                    && let Some(first) = plan.idx.chunks(plan.step()).next()
                                {
                                    gone = s.fetch_some(plan, first, &mut part);
                                }
                                action
                            });
                            match action {
                                Action::Idle => idle_tag = Some(tag),
                                Action::Fetch(plan) => {
                                    // Written as it is read, so a big FETCH never sits in memory.
                                    for r in out.drain(..).chain(part.drain(..)) {
                                        flow.enqueue(&r);
                                    }
                                    for chunk in plan.idx.chunks(plan.step()).skip(1) {
                                        flush(&mut flow, &mut conn, &mut deflate).await?;
                                        gone += tokio::task::block_in_place(|| {
                                            s.fetch_some(&plan, chunk, &mut part)
                                        });
                                        for r in part.drain(..) {
                                            flow.enqueue(&r);
                                        }
                                    }
                                    out.push(Session::fetch_done(&tag, plan.uid, gone));
                                }
                                Action::None => {}
                            }
                        }
                    }
                }
                ServerEvent::AuthenticateData { tag, data } => {
                    if sasl_tag.take().is_some() {
                        let r = sasl_plain(&s, &data).await;
                        finish_login(&mut s, tag, r, &mut out).await;
                    }
                }
                ServerEvent::AuthenticateAborted { .. } => sasl_tag = None,
                ServerEvent::IdleDone { tag } => {
                    idle_tag = None;
                    tokio::task::block_in_place(|| s.refresh(true, &mut out));
                    out.push(status(Some(tag), StatusKind::Ok, None, "IDLE terminated"));
                }
                ServerEvent::AppendStart {
                    mailbox,
                    flags,
                    date,
                    ..
                } => {
                    quickack(&conn);
                    append = Some(Append {
                        mailbox,
                        flags,
                        date,
                        spool: crate::mailbox::Spool::new(shared.spool_dir()),
                        failed: false,
                    });
                }
                ServerEvent::AppendChunk { data, .. } => {
                    quickack(&conn);
                    if let Some(a) = &mut append
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
                ServerEvent::AppendEnd { tag } => {
                    let a = append.take();
                    let r = match a {
                        Some(mut a) if !a.failed => tokio::task::block_in_place(|| {
                            let r = s.append(&a.mailbox, a.flags.as_deref(), a.date, &mut a.spool);
                            s.refresh(true, &mut out);
                            r
                        }),
                        _ => Err(mailboxes::No::text("APPEND failed to store its message")),
                    };
                    out.push(match r {
                        Ok((code, t)) => status(Some(tag), StatusKind::Ok, code, &t),
                        Err(mailboxes::No(code, t)) => status(Some(tag), StatusKind::No, code, &t),
                    });
                }
                ServerEvent::AppendAborted { .. } => append = None,
                ServerEvent::StartTls { discarded } => {
                    if discarded > 0 {
                        warn!(
                            bytes = discarded,
                            "discarded plaintext pipelined after STARTTLS"
                        );
                    }
                    flush(&mut flow, &mut conn, &mut deflate).await?;
                    conn = conn.upgrade(shared.tls.acceptor()).await?;
                    s.tls = true;
                    s.login_allowed = true;
                }
                ServerEvent::CompressionStarted => {
                    // RFC 4978 §3: the tagged OK goes out uncompressed, everything after it
                    // compressed.
                    flush(&mut flow, &mut conn, &mut deflate).await?;
                    deflate = Some(wire::Deflate::new());
                    s.compressed = true;
                }
                ServerEvent::Rejected { reason, .. } => {
                    info!(%reason, "imap command rejected");
                    if matches!(reason, RejectReason::ExpectedDone) {
                        idle_tag = None;
                    }
                    errors += 1;
                }
                other => warn!(?other, "unexpected imap event"),
            }
            errors += out
                .iter()
                .filter(|r| {
                    matches!(r, Response::Status(st) if st.tag.is_some() && st.kind != StatusKind::Ok
                        && st.code.as_ref().is_some_and(|c| matches!(c, Code::Other(a, _) if a.as_str() == "AUTHENTICATIONFAILED")))
                })
                .count();
            for r in &out {
                flow.enqueue(r);
            }
            if errors > shared.config.limits.max_errors && !flow.is_closed() {
                // Too many bad commands or failed logins: hang up (like the SMTP service).
                flow.enqueue(&status(None, StatusKind::Bye, None, "Too many errors"));
            }
        }
        flush(&mut flow, &mut conn, &mut deflate).await?;
        if flow.is_closed() {
            break;
        }
        let mut input = Vec::new();
        let got = if idle_tag.is_some() {
            // IDLE: woken by changes made in this process, polling for other processes' changes,
            // while waiting for DONE.
            let deadline = tokio::time::Instant::now() + AUTOLOGOUT;
            let mut wake = s
                .selected
                .as_ref()
                .map(|sel| notify::subscribe(sel.maildir.path()));
            loop {
                tokio::select! {
                    r = wire::recv(&mut conn, &mut deflate, &mut buf, &mut input) => {
                        break if r? { Input::Data } else { Input::Eof };
                    }
                    () = tokio::time::sleep(IDLE_POLL) => {
                        if tokio::time::Instant::now() > deadline {
                            break Input::Timeout;
                        }
                    }
                    () = woken(&mut wake) => {}
                    () = crate::server::shutdown_signalled(&mut shutdown) => break Input::Shutdown,
                }
                let mut out = Vec::new();
                tokio::task::block_in_place(|| s.refresh(true, &mut out));
                for r in &out {
                    flow.enqueue(r);
                }
                flush(&mut flow, &mut conn, &mut deflate).await?;
                if flow.is_closed() {
                    break Input::Eof;
                }
            }
        } else {
            tokio::select! {
                r = tokio::time::timeout(
                    AUTOLOGOUT,
                    wire::recv(&mut conn, &mut deflate, &mut buf, &mut input),
                ) => match r {
                    Ok(r) => if r? { Input::Data } else { Input::Eof },
                    Err(_) => Input::Timeout,
                },
                () = crate::server::shutdown_signalled(&mut shutdown) => Input::Shutdown,
            }
        };
        match got {
            Input::Data => flow.handle_input(&input),
            Input::Eof => break,
            Input::Timeout => {
                let _ = wire::send(
                    &mut conn,
                    &mut deflate,
                    b"* BYE Autologout; idle for too long\r\n",
                )
                .await;
                break;
            }
            Input::Shutdown => {
                let _ =
                    wire::send(&mut conn, &mut deflate, b"* BYE Server shutting down\r\n").await;
                break;
            }
        }
    }
    let _ = conn.shutdown().await;
    Ok(())
}

/// Returns when the folder `wake` watches is notified of a change; never without a folder.
async fn woken(wake: &mut Option<tokio::sync::watch::Receiver<u64>>) {
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

/// What the connection loop waited for.
enum Input {
    Data,
    Eof,
    Timeout,
    Shutdown,
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

async fn flush(
    flow: &mut ServerFlow,
    conn: &mut Conn,
    deflate: &mut Option<wire::Deflate>,
) -> io::Result<()> {
    let mut all = Vec::new();
    while let Some(bytes) = flow.poll_transmit() {
        all.extend_from_slice(&bytes);
    }
    if all.is_empty() {
        return Ok(());
    }
    wire::send(conn, deflate, &all).await
}

#[derive(Debug)]
enum LoginError {
    NotAllowed,
    BadCredentials,
    /// Too many failed logins from this address (`[abuse] auth_failures_per_ip`).
    Blocked,
    Failed(String),
}

/// SASL PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`; an authzid other than the user is
/// refused.
async fn sasl_plain(s: &Session, data: &AuthData<'_>) -> Result<User, LoginError> {
    let Ok(bytes) = data.decode() else {
        return Err(LoginError::BadCredentials);
    };
    let mut parts = bytes.split(|b| *b == 0);
    let (Some(authz), Some(authc), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(LoginError::BadCredentials);
    };
    if !authz.is_empty() && authz != authc {
        return Err(LoginError::BadCredentials);
    }
    login(s, authc, pass).await
}

async fn login(s: &Session, user: &[u8], password: &[u8]) -> Result<User, LoginError> {
    let (Ok(user), Ok(password)) = (std::str::from_utf8(user), std::str::from_utf8(password))
    else {
        return Err(LoginError::BadCredentials);
    };
    let Ok(address) = user.parse::<Address>() else {
        return Err(LoginError::BadCredentials);
    };
    let password = password.to_owned();
    let shared = s.shared.clone();
    tokio::task::spawn_blocking(move || {
        match shared
            .directory
            .passwd()
            .verify(&address.to_string(), &password)
        {
            Ok(true) => {}
            Ok(false) => return Err(LoginError::BadCredentials),
            Err(e) => return Err(LoginError::Failed(e.to_string())),
        }
        let path = shared.directory.maildir_path(&address);
        let mut root = Maildir::open(&path)
            .or_else(|_| crate::mailbox::create_user_maildir(&path))
            .map_err(|e| LoginError::Failed(e.to_string()))?;
        root.set_fsync_changes(shared.config.storage.fsync_changes);
        Ok(User { address, root })
    })
    .await
    .unwrap_or_else(|e| Err(LoginError::Failed(e.to_string())))
}

async fn finish_login(
    s: &mut Session,
    tag: Tag<'static>,
    result: Result<User, LoginError>,
    out: &mut Vec<Response<'static>>,
) {
    let now = std::time::Instant::now();
    // An address over its failure budget is refused whatever it sent (as on submission).
    let result = match (s.shared.abuse.auth_blocked(s.peer, now), result) {
        (Err(_), Ok(_) | Err(LoginError::BadCredentials)) => Err(LoginError::Blocked),
        (_, Err(LoginError::BadCredentials)) => {
            s.shared.abuse.record_auth_failure(s.peer, now);
            Err(LoginError::BadCredentials)
        }
        (_, r) => r,
    };
    match result {
        Ok(user) => {
            info!(user = %user.address, "imap login");
            s.user = Some(user);
            out.push(status(
                Some(tag),
                StatusKind::Ok,
                Some(Code::Capability(s.capabilities())),
                "Logged in",
            ));
        }
        Err(LoginError::NotAllowed) => out.push(status(
            Some(tag),
            StatusKind::No,
            Some(mailboxes::code("PRIVACYREQUIRED")),
            "Plaintext login is not allowed without TLS",
        )),
        Err(LoginError::BadCredentials) => {
            tokio::time::sleep(s.shared.config.limits.auth_failure_delay()).await;
            info!("imap login refused");
            out.push(status(
                Some(tag),
                StatusKind::No,
                Some(mailboxes::code("AUTHENTICATIONFAILED")),
                "Authentication failed",
            ));
        }
        Err(LoginError::Blocked) => {
            tokio::time::sleep(s.shared.config.limits.auth_failure_delay()).await;
            info!("imap login blocked: too many failures from this address");
            out.push(status(
                Some(tag),
                StatusKind::No,
                Some(mailboxes::code("UNAVAILABLE")),
                "Too many failed logins from this address, try again later",
            ));
        }
        Err(LoginError::Failed(e)) => {
            warn!("imap login failed: {e}");
            out.push(status(
                Some(tag),
                StatusKind::No,
                Some(mailboxes::code("UNAVAILABLE")),
                "Temporary failure, try again later",
            ));
        }
    }
}
