//! IMAP4rev1 over the users' mail, driving `mailwright-imap-proto`'s server session; the mail
//! is the store's ([`MailStore`](crate::store::MailStore)), reached only through its traits.
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
//!   APPENDLIMIT (= `limits.max_message_size`), SORT, SORT=DISPLAY, ESORT (module `sort`),
//!   THREAD=ORDEREDSUBJECT, THREAD=REFERENCES, THREAD=REFS (module `thread`), QUOTA with
//!   STORAGE and MESSAGE (module `quota`), WITHIN (RFC 5032), STATUS=SIZE (RFC 8438),
//!   SEARCHRES (RFC 5182: the saved result is the session's, by UID), CREATE-SPECIAL-USE
//!   (RFC 6154 §3: the store ties uses to names, so only a name's own use is accepted),
//!   MULTIAPPEND (RFC 3502: the messages are spooled as they come, then stored all or none by
//!   `Account::append_all`), BINARY (RFC 3516, module `fetch`: base64 and quoted-printable
//!   undone, literal8 when the content has NUL, `NO [UNKNOWN-CTE]` for other encodings; APPEND
//!   takes literal8).
//! - Mailboxes: `/` is the delimiter, names are modified UTF-7 as the store keeps them (module
//!   `names`); UIDs, UIDVALIDITY, keywords, MODSEQs and `\Recent` claims are the store's.
//! - Messages are presented with CRLF line ends whatever the store keeps; RFC822.SIZE is the
//!   store's size when it knows it. ENVELOPE and BODYSTRUCTURE match Dovecot's for the same
//!   message (see `tests/server_imap_dovecot.rs`).
//! - Where the RFCs leave a choice, Dovecot 2.3's answer (module `messages`, `fetch`,
//!   `mailboxes`): a FETCH of a message another session expunged is served while the store
//!   keeps it readable, then answered with NIL texts and `OK [EXPUNGEISSUED]` (RFC 2180
//!   §4.1); STATUS of the selected mailbox reports the session's view `OK [CLIENTBUG]`; each
//!   CONDSTORE enabling command with a mailbox selected sends `OK [HIGHESTMODSEQ]` (RFC 7162
//!   §3.1); LSUB and RECURSIVEMATCH answer the parents of subscribed children; a full disk is
//!   `NO [OVERQUOTA] Not enough disk space`, any other store failure `NO [SERVERBUG]`.
//!   Deliberately not: `-FLAGS` of an unused keyword defines nothing; STORE UNCHANGEDSINCE
//!   enables CONDSTORE (RFC 7162 §3.1, Dovecot 2.3 does not); a FETCH that sets `\Seen` with
//!   CONDSTORE on reports UID and MODSEQ in the same response (Dovecot sends a second one
//!   without the UID).
//! - SEARCH answers dates, sizes, flags, keywords and sets from the store's view and its
//!   internal dates without reading a message; header keys read each header once (module
//!   `search`).
//! - Storage calls block: commands run under `block_in_place`. FETCH is written message by
//!   message; APPEND is spooled to disk past 1 MiB, then handed to the store in two steps.
//! - IDLE (RFC 2177) reports EXISTS, EXPUNGE and FETCH FLAGS as soon as the store tells of a
//!   change to the mailbox (a delivery, another session: [`Changes`](crate::store::Changes)),
//!   and syncs every [`IDLE_POLL`] (cheap while nothing changed) for changes made behind the
//!   store's back, so every change shows within a second. EXPUNGEs wait for a command that
//!   allows them (RFC 3501 §7.4.1).
//! - A session only ever reaches its own user's [`Account`](crate::store::Account), so no user
//!   reaches another's mail.

mod fetch;
mod keys;
mod mailboxes;
mod messages;
mod mime;
mod names;
mod qresync;
mod quota;
mod search;
mod selected;
mod session;
mod sort;
mod thread;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use mailwright_imap_proto::server::{
    Condition, Event, Greeting, LoginHandle, Refusal, RejectReason, ServerConfig, ServerSession,
    Untagged,
};
use mailwright_imap_proto::types::response::{Code, Response, StatusKind};
use mailwright_sansio::driver::{Link, Next};
use tracing::{info, warn};

use crate::core::login::Outcome;
use crate::core::net::Peer;
use crate::protocols::Shared;
use crate::protocols::conn::Conn;
use session::{Action, Completion, Session, User};

/// RFC 3501 §5.4: the autologout timer is at least 30 minutes.
pub const AUTOLOGOUT: Duration = Duration::from_mins(30);

/// How often an idling session looks for changes made behind the store's back (changes made
/// through it wake the session at once, see [`Changes`](crate::store::Changes)).
pub const IDLE_POLL: Duration = Duration::from_millis(500);

/// Most messages in one MULTIAPPEND: each may hold a spool file open until the end.
const MAX_MULTIAPPEND: usize = 256;

/// An APPEND in progress.
struct Append {
    mailbox: mailwright_imap_proto::types::mailbox::Mailbox<'static>,
    /// The messages so far, the last one still coming (several: MULTIAPPEND, RFC 3502).
    messages: Vec<messages::Staged>,
    /// A write to the spool failed: the APPEND is answered NO.
    failed: bool,
    /// More than [`MAX_MULTIAPPEND`] messages: answered NO [LIMIT].
    too_many: bool,
}

/// Hands the session's untagged responses to the protocol session: data as data, a BYE (the
/// selected mailbox is gone) as the end of the session.
fn emit(server: &mut ServerSession, out: &mut Vec<Response<'static>>) {
    for r in out.drain(..) {
        let result = match r {
            Response::Status(st) if st.tag.is_none() && st.kind == StatusKind::Bye => {
                server.bye(st.text.as_str())
            }
            r => match Untagged::try_from(r) {
                Ok(u) => server.send(u),
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
    // `[limits]`: the time to log in, and the deadline of one command line from its first octet.
    config.login_timeout = shared.core.config.limits.login_timeout();
    config.command_timeout = shared.core.config.limits.command_timeout();
    config.max_bad_commands = shared.core.config.limits.max_errors;
    // CONDSTORE and QRESYNC are offered (RFC 7162 §3.2.11).
    config.announce_closed = true;
    config.greeting = Greeting {
        preauth: false,
        capabilities: Some(s.capabilities()),
        text: format!("{} Mailwright IMAP ready", shared.core.config.hostname),
    };
    config
}

/// Serves one IMAP connection.
pub(crate) async fn serve(mut conn: Conn, peer: Peer, shared: &Arc<Shared>) -> io::Result<()> {
    let s = Session {
        shared: shared.clone(),
        peer,
        login_allowed: shared.core.login_allowed(conn.is_tls(), peer),
        tls: conn.is_tls(),
        starttls_offered: conn.can_start_tls(),
        user: None,
        selected: None,
        condstore: false,
        qresync: false,
        compressed: false,
    };
    let mut machine = ServerSession::new(config(shared, &s));
    let mut imap = Imap {
        s,
        append: None,
        idle: None,
    };
    shared.run(&mut machine, &mut conn, &mut imap).await
}

/// One IMAP session: what the application knows beside the machine.
struct Imap {
    s: Session,
    append: Option<Append>,
    idle: Option<Idling>,
}

/// An IDLE in progress: woken by the store's notice of a change to the selected mailbox,
/// polling for changes made behind the store's back.
struct Idling {
    wake: Option<crate::store::Changes>,
    /// How often to look for changes nobody wakes the session for (`None`: never, the store
    /// wakes it for every change).
    poll: Option<Duration>,
}

impl mailwright_sansio::driver::Service<ServerSession, Conn> for Imap {
    async fn on_event(
        &mut self,
        machine: &mut ServerSession,
        event: Event,
        link: &mut Link<'_, Conn>,
    ) -> io::Result<Next> {
        self.event(machine, event, link).await
    }

    /// An idling session looks for changes when its folder was notified, or at the store's
    /// poll interval ([`IDLE_POLL`] for a Maildir; never for a store that wakes its watchers
    /// for every change).
    async fn wake(&mut self) {
        match &mut self.idle {
            Some(idle) => {
                let poll = idle.poll;
                let tick = async move {
                    match poll {
                        Some(every) => tokio::time::sleep(every).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = tick => {}
                    () = woken(idle.wake.as_mut()) => {}
                }
            }
            None => std::future::pending().await,
        }
    }

    async fn on_wake(
        &mut self,
        machine: &mut ServerSession,
        _: &mut Link<'_, Conn>,
    ) -> io::Result<Next> {
        let mut out = Vec::new();
        crate::core::blocking(|| self.s.refresh(true, &mut out));
        emit(machine, &mut out);
        Ok(Next::Continue)
    }
}

impl Imap {
    /// Acts on one event of the protocol session.
    async fn event(
        &mut self,
        server: &mut ServerSession,
        event: Event,
        link: &mut Link<'_, Conn>,
    ) -> io::Result<Next> {
        let s = &mut self.s;
        let mut out = Vec::new();
        match event {
            Event::Login {
                handle,
                authzid,
                username,
                password,
            } => {
                let r = if s.login_allowed {
                    login(s, authzid.as_deref(), &username, &password).await
                } else {
                    Err(LoginError::NotAllowed)
                };
                finish_login(server, s, handle, r);
            }
            Event::Command { handle, command } => {
                // A FETCH's first step runs in the same `block_in_place` as the command: one
                // hand-off instead of two for the usual small FETCH.
                let tag = handle.tag().clone();
                let mut part = Vec::new();
                let mut gone = messages::FetchTally::default();
                let action = crate::core::blocking(|| {
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
                        emit(server, &mut out);
                        done
                    }
                    Action::Fetch(plan) => {
                        // Written as it is read, so a big FETCH never sits in memory.
                        emit(server, &mut out);
                        emit(server, &mut part);
                        for chunk in plan.idx.chunks(plan.step()).skip(1) {
                            link.flush(server).await?;
                            gone += crate::core::blocking(|| s.fetch_some(&plan, chunk, &mut part));
                            emit(server, &mut part);
                        }
                        Session::fetch_done(plan.uid, gone)
                    }
                };
                decided(server.complete(handle, done.condition, done.code, &done.text));
            }
            Event::Select {
                handle,
                mailbox,
                read_only,
                condstore,
                qresync,
            } => {
                let refusal = match &qresync {
                    // RFC 7162 §3.2.5.
                    Some(_) if !s.qresync => Some("QRESYNC not enabled"),
                    Some(p) if p.seq_match.as_ref().is_some_and(|m| !m.is_consistent()) => {
                        Some("Invalid QRESYNC sets")
                    }
                    _ => None,
                };
                if let Some(text) = refusal {
                    // BAD; the mailbox selected before is closed, as by any refused SELECT, with
                    // [CLOSED] (as Dovecot does).
                    if crate::core::blocking(|| s.selected.take()).is_some() {
                        out.push(session::status(
                            None,
                            StatusKind::Ok,
                            Some(Code::Closed),
                            "Previous mailbox closed",
                        ));
                        emit(server, &mut out);
                    }
                    decided(server.reject(handle, Refusal::Bad, None, text));
                    return Ok(Next::Continue);
                }
                s.condstore |= condstore;
                let r = crate::core::blocking(|| {
                    s.select(&mailbox, read_only, qresync.as_ref(), &mut out)
                });
                emit(server, &mut out);
                decided(match r {
                    Ok((code, text)) => server.accept_select(handle, code, &text),
                    Err(mailboxes::No(code, text)) => {
                        server.reject(handle, Refusal::No, code, &text)
                    }
                });
            }
            Event::Close { handle, expunge } => {
                crate::core::blocking(|| s.close(expunge));
                let text = if expunge {
                    "CLOSE completed"
                } else {
                    "UNSELECT completed"
                };
                decided(server.accept_close(handle, text));
            }
            Event::Logout { handle } => decided(server.accept_logout(handle)),
            Event::Idle { handle } => {
                decided(server.accept_idle(handle));
                let (wake, poll) = match (&s.selected, &s.user) {
                    (Some(sel), Some(user)) => (
                        Some(user.account.watch(sel.name())),
                        user.account.poll_interval(),
                    ),
                    _ => (None, Some(IDLE_POLL)),
                };
                self.idle = Some(Idling { wake, poll });
            }
            Event::IdleDone { handle } => {
                self.idle = None;
                crate::core::blocking(|| s.refresh(true, &mut out));
                emit(server, &mut out);
                decided(server.complete(handle, Condition::Ok, None, "IDLE terminated"));
            }
            Event::AppendStart {
                mailbox,
                flags,
                date,
                ..
            } => {
                link.transport().quickack();
                self.append = Some(Append {
                    mailbox,
                    messages: vec![messages::Staged {
                        flags,
                        date,
                        spool: crate::store::Spool::new(s.shared.core.spool_dir()),
                    }],
                    failed: false,
                    too_many: false,
                });
            }
            Event::AppendNext { flags, date, .. } => {
                link.transport().quickack();
                if let Some(a) = &mut self.append {
                    if a.messages.len() >= MAX_MULTIAPPEND {
                        a.too_many = true;
                    }
                    if a.too_many {
                        // The rest is read and dropped; the APPEND is answered NO [LIMIT].
                        a.messages.truncate(1);
                        a.failed = true;
                    } else {
                        // One memory budget for the whole batch; past it, messages spill to disk.
                        let held: usize = a.messages.iter().map(|m| m.spool.in_memory()).sum();
                        a.messages.push(messages::Staged {
                            flags,
                            date,
                            spool: crate::store::Spool::with_memory_limit(
                                s.shared.core.spool_dir(),
                                crate::store::SPOOL_MEMORY_LIMIT.saturating_sub(held),
                            ),
                        });
                    }
                }
            }
            Event::AppendChunk { data, .. } => {
                link.transport().quickack();
                if let Some(a) = &mut self.append
                    && !a.failed
                    && let Some(m) = a.messages.last_mut()
                    && let Err(e) = if m.spool.stays_in_memory(data.len()) {
                        m.spool.write(&data)
                    } else {
                        crate::core::blocking(|| m.spool.write(&data))
                    }
                {
                    warn!("imap append spool: {e}");
                    a.failed = true;
                }
            }
            Event::AppendEnd { handle } => {
                let r = match self.append.take() {
                    Some(mut a) if !a.failed => crate::core::blocking(|| {
                        let r = s.append(&a.mailbox, &mut a.messages);
                        s.refresh(true, &mut out);
                        r
                    }),
                    Some(a) if a.too_many => Err(mailboxes::No(
                        Some(mailboxes::code("LIMIT")),
                        format!("Too many messages in one APPEND (at most {MAX_MULTIAPPEND})"),
                    )),
                    _ => Err(mailboxes::No::text("APPEND failed to store its message")),
                };
                emit(server, &mut out);
                let done = Completion::of(r);
                decided(server.complete(handle, done.condition, done.code, &done.text));
            }
            Event::AppendAborted { .. } => self.append = None,
            Event::StartTls { handle } => match s.starttls() {
                Err(mailboxes::No(code, text)) => {
                    decided(server.reject(handle, Refusal::No, code, &text));
                }
                Ok(()) => {
                    let discarded = server.accept_starttls(handle).unwrap_or_default();
                    if discarded > 0 {
                        warn!(
                            bytes = discarded,
                            "discarded plaintext pipelined after STARTTLS"
                        );
                    }
                    // The driver writes the OK, runs the handshake and tells the session.
                    s.tls = true;
                    s.login_allowed = true;
                    return Ok(Next::StartTls);
                }
            },
            Event::Compress { handle, algorithm } => match s.compress(algorithm.as_str()) {
                Err(mailboxes::No(code, text)) => {
                    decided(server.reject(handle, Refusal::No, code, &text));
                }
                Ok(()) => {
                    // RFC 4978 §3: the tagged OK goes out uncompressed, everything after it
                    // compressed; what the client sent after its command is compressed already.
                    let rest = server.accept_compress(handle).unwrap_or_default();
                    link.flush(server).await?;
                    link.transport().start_compression(&rest);
                    s.compressed = true;
                }
            },
            Event::Rejected { reason, .. } => {
                info!(%reason, "imap command rejected");
                // Something other than DONE ended IDLE (the session answered BAD).
                if reason == RejectReason::ExpectedDone {
                    self.idle = None;
                }
            }
            // A SELECT that did not parse closed the mailbox (the session sent [CLOSED]).
            Event::Deselected => {
                crate::core::blocking(|| drop(s.selected.take()));
            }
            Event::Closed { reason } => info!(?reason, "imap session closed"),
            other => warn!(?other, "unexpected imap event"),
        }
        Ok(Next::Continue)
    }
}

/// Returns when the mailbox `wake` watches changed; never without a mailbox.
async fn woken(wake: Option<&mut crate::store::Changes>) {
    match wake {
        Some(changes) => changes.changed().await,
        None => std::future::pending().await,
    }
}

#[derive(Debug)]
enum LoginError {
    NotAllowed,
    /// The login path's verdict.
    Refused(Outcome),
    Failed(String),
}

/// Checks the credentials on the one login path, then opens the user's mail.
async fn login(
    s: &Session,
    authzid: Option<&str>,
    username: &str,
    password: &mailwright_sansio::Secret<String>,
) -> Result<User, LoginError> {
    let core = &s.shared.core;
    let address = match core
        .logins
        .check(
            &core.directory,
            &core.abuse,
            s.peer,
            authzid,
            username,
            password,
        )
        .await
    {
        Outcome::Accepted(address) => address,
        other => return Err(LoginError::Refused(other)),
    };
    let store = s.shared.store.clone();
    tokio::task::spawn_blocking(move || {
        let account = store
            .account(&address)
            .map_err(|e| LoginError::Failed(e.to_string()))?;
        Ok(User { address, account })
    })
    .await
    .unwrap_or_else(|e| Err(LoginError::Failed(e.to_string())))
}

fn finish_login(
    server: &mut ServerSession,
    s: &mut Session,
    handle: LoginHandle,
    result: Result<User, LoginError>,
) {
    let (code, text) = match result {
        Ok(user) => {
            info!(user = %user.address, "imap login");
            s.user = Some(user);
            decided(server.accept_login(handle, Some(s.capabilities())));
            return;
        }
        Err(LoginError::NotAllowed) => (
            "PRIVACYREQUIRED",
            "Plaintext login is not allowed without TLS",
        ),
        Err(LoginError::Refused(Outcome::Refused)) => {
            info!("imap login refused");
            ("AUTHENTICATIONFAILED", "Authentication failed")
        }
        Err(LoginError::Refused(Outcome::Blocked)) => {
            info!("imap login blocked: too many failures from this address");
            (
                "UNAVAILABLE",
                "Too many failed logins from this address, try again later",
            )
        }
        Err(LoginError::Refused(_)) => ("UNAVAILABLE", "Temporary failure, try again later"),
        Err(LoginError::Failed(e)) => {
            warn!("imap login failed: {e}");
            ("UNAVAILABLE", "Temporary failure, try again later")
        }
    };
    decided(server.reject_login(handle, Some(mailboxes::code(code)), text));
}
