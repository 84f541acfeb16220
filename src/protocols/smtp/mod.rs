//! SMTP (port 25), submission (587/465) and LMTP (24 and a unix socket), driving
//! `mailwright-smtp-proto`'s server machine; what happens to a message is the intake layer's.
//!
//! - Recipients are resolved by [`crate::intake`]: local users, aliases and catch-alls are
//!   accepted, and so are `postmaster@`, `abuse@` and `<Postmaster>`; unknown users get
//!   `550 5.1.1`; other domains `554 5.7.1` unless the client may relay; a full mailbox
//!   `452 4.2.2`.
//! - Submission requires AUTH (PLAIN, LOGIN) before MAIL, offered only under TLS except to loopback
//!   clients when `auth.plaintext_on_loopback` is set.
//! - The machine is configured from `[limits]`: Postfix's error accounting (soft and hard limits,
//!   the error delay), the command, idle and data deadlines, the longest data line; DSN is offered
//!   on every port.
//! - The reply after the data is sent only when every copy is durable (none is kept otherwise);
//!   LMTP answers once per recipient (RFC 2033 §4.2).
//! - Refused senders and recipients are logged with the client's address.
//! - `[[milter]]` filters (port 25, and submission when an entry says so) are asked at MAIL,
//!   at each RCPT and at the end of data ([`crate::intake::milter`]); their refusals are the
//!   replies, their modifications are applied before delivery.

mod screen;

use std::io;
use std::sync::Arc;
use std::time::Instant;

use mailwright_sansio::UsageError;
use mailwright_sansio::driver::{Link, Next};
use mailwright_smtp_proto::server::{Event, HeloKind, Mode, ServerConfig, ServerSession};
use mailwright_smtp_proto::{Host, Mechanism, Reply, ReversePath};
use tracing::{info, warn};

use crate::core::directory::Address;
use crate::core::login::Outcome;
use crate::core::net::{Peer, Service};
use crate::core::smtp_reply as reply;
use crate::intake::headers::Session;
use crate::intake::milter::{Context, Milters, Step};
use crate::intake::{Transaction, client, finish_message, mail_policy, rcpt_limited};
use crate::outbound::queue;
use crate::protocols::Shared;
use crate::protocols::conn::Conn;
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
    // Error accounting as Postfix's smtpd: replies slow down past the soft limit, the session
    // closes at the hard one.
    cfg.limits.soft_error_limit = config.limits.soft_error_limit;
    cfg.limits.hard_error_limit = config.limits.hard_error_limit.max(1);
    cfg.limits.error_delay = config.limits.error_delay();
    // Lines of any length up to the limit are taken and stored as they came (Postfix takes any
    // length); the queue re-encodes what it relays to RFC 5322's 998.
    cfg.limits.max_text_line = config.limits.max_line_length;
    cfg.timeouts.idle = config.limits.idle_timeout();
    cfg.timeouts.command = config.limits.command_timeout();
    cfg.timeouts.data_idle = config.limits.idle_timeout();
    cfg.timeouts.data = config.limits.data_timeout();
    // RFC 3461 on every port: NOTIFY, ORCPT, RET and ENVID are kept with the message.
    cfg.extensions.dsn = true;
    // Messages are stored as text with LF line ends, so binary content cannot be kept exactly.
    cfg.extensions.binary_mime = false;
    cfg.extensions.starttls = conn.can_start_tls() && mode != Mode::Lmtp;
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
    let mut session = Smtp {
        shared: shared.clone(),
        mode,
        peer,
        helo: None,
        user: None,
        txn: Transaction::default(),
        auth_failures: 0,
        milters: Milters::for_session(&shared.core.config, mode),
    };
    let result = shared.run(&mut machine, &mut conn, &mut session).await;
    if let Some(milters) = &mut session.milters {
        milters.quit().await;
    }
    result
}

/// One SMTP, submission or LMTP session: what the application knows beside the machine.
struct Smtp {
    shared: Arc<Shared>,
    mode: Mode,
    peer: Peer,
    helo: Option<(HeloKind, Host)>,
    /// The authenticated user (submission).
    user: Option<Address>,
    txn: Transaction,
    auth_failures: usize,
    /// The mail filters of this session (`[[milter]]`), if any applies.
    milters: Option<Milters>,
}

impl mailwright_sansio::driver::Service<ServerSession, Conn> for Smtp {
    async fn on_event(
        &mut self,
        machine: &mut ServerSession,
        event: Event,
        link: &mut Link<'_, Conn>,
    ) -> io::Result<Next> {
        let decided = match event {
            Event::StartTls { discarded } => {
                if discarded > 0 {
                    warn!(
                        bytes = discarded,
                        "discarded plaintext pipelined after STARTTLS"
                    );
                }
                // RFC 3207 §4.2: the session starts over.
                self.helo = None;
                self.user = None;
                self.txn = Transaction::default();
                return Ok(Next::StartTls);
            }
            event => self.decide(machine, event, link.transport().is_tls()).await,
        };
        if let Err(e) = decided {
            // A decision the machine was not waiting for is a bug here: end the session rather
            // than go on out of step with the client.
            warn!("SMTP session out of step with its machine: {e}");
            return Ok(Next::Close);
        }
        Ok(Next::Continue)
    }
}

impl Smtp {
    async fn decide(
        &mut self,
        machine: &mut ServerSession,
        event: Event,
        tls: bool,
    ) -> Result<(), UsageError> {
        let shared = &self.shared;
        match event {
            Event::Helo { kind, host } => {
                self.helo = Some((kind, host));
                self.txn = Transaction::default();
                if let Some(milters) = &mut self.milters {
                    milters.abort().await;
                }
                machine.accept()
            }
            Event::Mail { from, params } => {
                match mail_policy(
                    &shared.intake,
                    self.mode,
                    self.peer,
                    &from,
                    self.user.as_ref(),
                ) {
                    Err(refusal) => {
                        info!(client = %client(self.peer), %from, reply = %refusal, "sender refused");
                        machine.reject(refusal)
                    }
                    Ok(()) => {
                        let mut txn = Transaction::new(from, &params);
                        if let Some(milters) = &mut self.milters {
                            let ctx = Context {
                                core: &shared.core,
                                peer: self.peer,
                                helo: self.helo.as_ref(),
                                user: self.user.as_ref(),
                                tls,
                            };
                            let id = queue::new_id();
                            let sender = txn.from.clone().unwrap_or(ReversePath::Null);
                            match milters.mail(&ctx, &sender, &id).await {
                                Step::Continue => {}
                                Step::Discard => txn.discard = true,
                                Step::Refuse(refusal) => {
                                    info!(client = %client(self.peer), from = %sender, reply = %refusal, "sender refused by milter");
                                    self.txn = Transaction::default();
                                    return machine.reject(refusal);
                                }
                            }
                            txn.id = Some(id);
                        }
                        self.txn = txn;
                        machine.accept()
                    }
                }
            }
            Event::Rcpt { to, params } => {
                match rcpt_limited(
                    &shared.intake,
                    self.peer,
                    &to,
                    &params,
                    self.user.as_ref(),
                    self.txn.size,
                ) {
                    Ok(r) => {
                        if let Some(milters) = &mut self.milters {
                            match milters.rcpt(&to.to_string()).await {
                                Step::Continue => {}
                                Step::Discard => self.txn.discard = true,
                                Step::Refuse(refusal) => {
                                    shared
                                        .intake
                                        .core
                                        .abuse
                                        .refund_recipient(self.peer, self.user.as_ref());
                                    info!(client = %client(self.peer), %to, reply = %refusal, "recipient refused by milter");
                                    return machine.reject(refusal);
                                }
                            }
                        }
                        self.txn.rcpts.push(r);
                        machine.accept()
                    }
                    Err(refusal) => {
                        let from = self
                            .txn
                            .from
                            .as_ref()
                            .map_or_else(|| "<>".to_owned(), ToString::to_string);
                        info!(client = %client(self.peer), %from, %to, reply = %refusal, "recipient refused");
                        machine.reject(refusal)
                    }
                }
            }
            Event::DataStart => {
                self.txn.spool = Some(Spool::new(shared.core.spool_dir()));
                self.txn.started = Some(Instant::now());
                Ok(())
            }
            Event::DataChunk(bytes) => {
                if let Some(spool) = &mut self.txn.spool {
                    let result = if spool.stays_in_memory(bytes.len()) {
                        spool.write(&bytes)
                    } else {
                        crate::core::blocking(|| spool.write(&bytes))
                    };
                    if let Err(e) = result {
                        // The machine keeps reading the data; the failure is answered at its end.
                        warn!("spool write failed: {e}");
                        self.txn.spool = None;
                    }
                }
                Ok(())
            }
            Event::DataAborted(reason) => {
                info!(?reason, "message data refused");
                self.txn = Transaction::default();
                if let Some(milters) = &mut self.milters {
                    milters.abort().await;
                }
                Ok(())
            }
            Event::DataEnd => {
                if let Some(refusal) = self.filter_message().await {
                    self.txn = Transaction::default();
                    return machine.reject(refusal);
                }
                if self.txn.discard || (self.milters.is_some() && self.txn.rcpts.is_empty()) {
                    let id = self.txn.id.take().unwrap_or_else(queue::new_id);
                    info!(%id, client = %client(self.peer), "message discarded by milter");
                    self.txn = Transaction::default();
                    return machine.accept_with(reply(
                        250,
                        (2, 0, 0),
                        &format!("Ok: queued as {id}"),
                    ));
                }
                let session = Session {
                    mode: self.mode,
                    helo: self.helo.as_ref(),
                    user: self.user.as_ref(),
                    tls,
                    peer: self.peer,
                };
                let replies = finish_message(&self.shared.intake, &mut self.txn, &session).await;
                self.txn = Transaction::default();
                if self.mode == Mode::Lmtp {
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
                let outcome = shared
                    .core
                    .logins
                    .check(
                        &shared.core.directory,
                        &shared.core.abuse,
                        self.peer,
                        authzid.as_deref(),
                        &username,
                        &password,
                    )
                    .await;
                match self.auth_reply(outcome) {
                    Ok(()) => machine.accept(),
                    Err((refusal, close)) if close => machine.reject_and_close(refusal),
                    Err((refusal, _)) => machine.reject(refusal),
                }
            }
            Event::AuthStart { .. } | Event::AuthResponse(_) => {
                machine.reject(reply(504, (5, 5, 4), "Mechanism not supported"))
            }
            Event::Closed(reason) => {
                info!(?reason, "session closed by protocol");
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The end of data through the milters: their modifications applied to the spooled message
    /// and the recipients; `Some` refusal when a filter refused the message.
    async fn filter_message(&mut self) -> Option<Reply> {
        let milters = self.milters.as_mut()?;
        if self.txn.discard {
            milters.abort().await;
            return None;
        }
        let spool = self.txn.spool.as_mut()?;
        let id = self.txn.id.get_or_insert_with(queue::new_id).clone();
        let verdict = milters.end_of_data(spool, &id).await;
        if let Some(refusal) = verdict.refusal {
            let from = self
                .txn
                .from
                .as_ref()
                .map_or_else(|| "<>".to_owned(), ToString::to_string);
            info!(%id, client = %client(self.peer), %from, reply = %refusal, "message refused by milter");
            return Some(refusal);
        }
        self.txn.discard |= verdict.discard;
        let bare = |a: &str| {
            a.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        };
        for gone in &verdict.delete_rcpts {
            let gone = bare(gone);
            self.txn
                .rcpts
                .retain(|r| !r.envelope.eq_ignore_ascii_case(&gone));
            info!(%id, to = %gone, "recipient deleted by milter");
        }
        for added in &verdict.add_rcpts {
            let routed = added
                .parse::<mailwright_smtp_proto::ForwardPath>()
                .map_err(|e| e.to_string())
                .and_then(|to| {
                    crate::intake::rcpt(&self.shared.intake, self.peer, &to, self.user.as_ref())
                        .map_err(|r| r.to_string())
                });
            match routed {
                Ok(r) => {
                    info!(%id, to = %r.envelope, "recipient added by milter");
                    self.txn.rcpts.push(r);
                }
                Err(why) => warn!(%id, to = %added, "recipient added by milter not routed: {why}"),
            }
        }
        if let Some(reason) = &verdict.quarantine {
            info!(%id, %reason, "message quarantined by milter");
        }
        if (verdict.spam || verdict.quarantine.is_some())
            && self.shared.core.config.spam.junk_marked
        {
            info!(%id, client = %client(self.peer), "filed as junk: marked by a milter");
            self.txn.spam = true;
        }
        None
    }

    /// The answer to AUTH (RFC 4954 §6): `Ok` for a login, else the refusal and whether the session
    /// ends with it.
    fn auth_reply(&mut self, outcome: Outcome) -> Result<(), (Reply, bool)> {
        let refusal = match outcome {
            Outcome::Accepted(address) => {
                info!(user = %address, "authenticated");
                self.user = Some(address);
                return Ok(());
            }
            Outcome::Refused => reply(535, (5, 7, 8), "Authentication credentials invalid"),
            Outcome::Blocked => crate::core::abuse::Limited::AuthBlocked.reply(),
            _ => reply(454, (4, 7, 0), "Temporary authentication failure"),
        };
        self.auth_failures += 1;
        info!(failures = self.auth_failures, "authentication failed");
        if self.auth_failures >= self.shared.core.config.submission.max_auth_failures {
            let close = reply(
                421,
                (4, 7, 0),
                "Too many failed login attempts, closing connection",
            );
            return Err((close, true));
        }
        Err((refusal, false))
    }
}
