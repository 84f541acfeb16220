//! SMTP (port 25), submission (587/465) and LMTP (24 and a unix socket), driving
//! `mailwright-smtp-proto`'s server machine and delivering into local Maildirs.
//!
//! - Recipients are resolved through the [`Directory`](crate::directory::Directory): local users,
//!   aliases and catch-alls are accepted; unknown users get `550 5.1.1`; other domains get
//!   `554 5.7.1` (never an open relay; the outbound relay is a later piece).
//! - Submission requires AUTH (PLAIN, LOGIN) before MAIL, offered only under TLS except to loopback
//!   clients when `auth.plaintext_on_loopback` is set.
//! - The reply after the data is sent only when every copy is fsynced in its Maildir; LMTP answers
//!   once per recipient (RFC 2033 §4.2).
//! - `Return-Path:` and `Received:` (RFC 5321 §4.4) are prepended, and `Delivered-To:` per copy.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use mailwright_smtp_proto::server::{Event, HeloKind, Mode, ServerConfig, ServerSession};
use mailwright_smtp_proto::{EnhancedCode, ForwardPath, Host, Mechanism, Reply, ReversePath};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{info, warn};

use crate::directory::{Address, Resolution};
use crate::mailbox::{Recipient, Spool};
use crate::net::{Conn, Peer};
use crate::server::{Service, Shared};

/// A reply with an enhanced status code.
fn reply(code: u16, enhanced: (u8, u16, u16), text: &str) -> Reply {
    let enhanced = EnhancedCode::new(enhanced.0, enhanced.1, enhanced.2).ok();
    Reply::new(code, enhanced, text).expect("static replies are valid")
}

/// One accepted envelope recipient: the local users it expands to and the addresses elsewhere
/// it goes to through the outbound queue.
struct Rcpt {
    envelope: String,
    users: Vec<Address>,
    /// Addresses in other domains (relayed for an authenticated or trusted client, or targets of
    /// a forwarding alias).
    remote: Vec<String>,
    /// `remote` are alias targets: the envelope sender is rewritten with SRS.
    forward: bool,
}

#[derive(Default)]
struct Transaction {
    from: Option<ReversePath>,
    rcpts: Vec<Rcpt>,
    spool: Option<Spool>,
    started: Option<Instant>,
}

/// The machine's configuration for `service` on `conn`: the `[limits]` of the server mapped onto
/// the machine's limits and timers.
fn machine_config(shared: &Shared, mode: Mode, conn: &Conn, peer: Peer) -> ServerConfig {
    let config = &shared.config;
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
        cfg.extensions.auth_requires_tls = !shared.login_allowed(false, peer);
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
    let config = &shared.config;
    let mode = match service {
        Service::Lmtp | Service::LmtpUnix => Mode::Lmtp,
        Service::Submission | Service::Submissions => Mode::Submission,
        _ => Mode::Smtp,
    };
    let cfg = machine_config(shared, mode, &conn, peer);
    let mut machine = match crate::abuse::screen(service, &mut conn, peer, shared).await? {
        crate::abuse::Screen::Pass => ServerSession::new(cfg),
        crate::abuse::Screen::Refuse(greeting) => match ServerSession::refusing(cfg, greeting) {
            Ok(machine) => machine,
            Err(e) => {
                warn!("cannot refuse the session in SMTP: {e}");
                return Ok(());
            }
        },
        crate::abuse::Screen::Refused => return Ok(()),
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
                    match mail_policy(shared, mode, peer, &from, user.as_ref()) {
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
                Event::Rcpt { to, .. } => match rcpt_limited(shared, peer, &to, user.as_ref()) {
                    Ok(r) => {
                        txn.rcpts.push(r);
                        machine.accept()
                    }
                    Err(refusal) => machine.reject(refusal),
                },
                Event::DataStart => {
                    txn.spool = Some(Spool::new(shared.spool_dir()));
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
                        shared,
                        &mut txn,
                        mode,
                        helo.as_ref(),
                        user.as_ref(),
                        &conn,
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
                    let outcome = match shared.abuse.auth_blocked(peer, Instant::now()) {
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
                                    shared.abuse.record_auth_failure(peer, Instant::now());
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
                    conn = conn.upgrade(shared.tls.acceptor()).await?;
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
            () = crate::server::shutdown_signalled(&mut shutdown), if !shutting_down => {
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

/// `MAIL`: the submission sender policy, then the message rate limits (not on LMTP).
fn mail_policy(
    shared: &Shared,
    mode: Mode,
    peer: Peer,
    from: &ReversePath,
    user: Option<&Address>,
) -> Result<(), Reply> {
    if mode == Mode::Lmtp {
        return Ok(());
    }
    crate::submission::check_mail(shared, mode, from, user)?;
    shared
        .abuse
        .admit_message(peer, user, Instant::now())
        .map_err(|limited| {
            info!(?limited, "message refused by rate limit");
            limited.reply()
        })
}

/// [`rcpt`] within the hourly recipient limit of an authenticated user.
fn rcpt_limited(
    shared: &Shared,
    peer: Peer,
    to: &ForwardPath,
    user: Option<&Address>,
) -> Result<Rcpt, Reply> {
    shared
        .abuse
        .admit_recipient(peer, user, Instant::now())
        .map_err(|limited| {
            info!(?limited, "recipient refused by rate limit");
            limited.reply()
        })?;
    rcpt(shared, peer, to, user).inspect_err(|_| shared.abuse.refund_recipient(peer, user))
}

/// Resolves one RCPT TO; `Err` is the refusal to send.
///
/// Local users and aliases are accepted from anyone; other domains only from an authenticated
/// user or a client in `outbound.trusted_networks` (never an open relay). Bounces to an SRS
/// address of ours are accepted and sent on to the original sender.
fn rcpt(
    shared: &Shared,
    peer: Peer,
    to: &ForwardPath,
    user: Option<&Address>,
) -> Result<Rcpt, Reply> {
    let envelope = match to {
        // RFC 5321 §4.5.1: <Postmaster> must be accepted; it goes to postmaster@ the host name.
        ForwardPath::Postmaster => format!("postmaster@{}", shared.config.hostname),
        ForwardPath::Mailbox(m) => match &m.host {
            // A local part that is not a Dot-string stays quoted (RFC 5321 §4.1.2), so that the
            // address still parses when the queue relays it.
            Host::Domain(d) => format!("{}@{}", m.local_part, d.as_str()),
            Host::Literal(_) => {
                return Err(reply(
                    550,
                    (5, 1, 2),
                    "Address literals are not accepted here",
                ));
            }
        },
    };
    let may_relay = user.is_some() || shared.config.outbound.is_trusted(peer.addr.map(|a| a.ip()));
    let domain = crate::queue::domain_of(&envelope);
    let domains = tokio::task::block_in_place(|| shared.directory.domains());
    let local_domain = match &domains {
        Ok(d) => d.contains(&domain),
        Err(e) => {
            warn!("directory lookup failed: {e}");
            return Err(reply(451, (4, 3, 0), "Temporary lookup failure"));
        }
    };
    if local_domain || domain.eq_ignore_ascii_case(&shared.config.hostname) {
        let day = crate::queue::now_secs() / 86400;
        if let Some(original) = shared.srs.reverse(&envelope, day) {
            return Ok(Rcpt {
                envelope,
                users: Vec::new(),
                remote: vec![original],
                forward: false,
            });
        }
        if envelope
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("srs0="))
        {
            return Err(reply(550, (5, 7, 1), "Invalid or expired SRS address"));
        }
    }
    let remote = |envelope: String| Rcpt {
        remote: vec![envelope.clone()],
        envelope,
        users: Vec::new(),
        forward: false,
    };
    let Ok(address) = envelope.parse::<Address>() else {
        // An address our directory cannot hold (quoted or UTF-8 local part) may still be relayed.
        if !local_domain && may_relay {
            return Ok(remote(envelope));
        }
        return Err(if local_domain {
            reply(550, (5, 1, 1), "No such user here")
        } else {
            reply(554, (5, 7, 1), "Relay access denied")
        });
    };
    let resolution = tokio::task::block_in_place(|| shared.directory.resolve(&address));
    match resolution {
        Ok(Resolution::Local(users)) => Ok(Rcpt {
            envelope: address.to_string(),
            users,
            remote: Vec::new(),
            forward: false,
        }),
        Ok(Resolution::Forward { local, external }) => Ok(Rcpt {
            envelope: address.to_string(),
            users: local,
            remote: external.iter().map(ToString::to_string).collect(),
            forward: true,
        }),
        Ok(Resolution::UnknownUser) => Err(reply(550, (5, 1, 1), "No such user here")),
        Ok(Resolution::NotLocal) if may_relay => Ok(remote(envelope)),
        Ok(Resolution::NotLocal) => Err(reply(554, (5, 7, 1), "Relay access denied")),
        Err(e) => {
            warn!("directory lookup failed: {e}");
            Err(reply(451, (4, 3, 0), "Temporary lookup failure"))
        }
    }
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
    let ok =
        tokio::task::spawn_blocking(move || shared.directory.passwd().verify(&name, &password))
            .await
            .ok()?
            .ok()?;
    ok.then_some(address)
}

/// Delivers the finished message to every accepted recipient. Returns one reply per envelope
/// recipient (LMTP) — in SMTP the first one stands for all.
async fn finish_message(
    shared: &Arc<Shared>,
    txn: &mut Transaction,
    mode: Mode,
    helo: Option<&(HeloKind, Host)>,
    user: Option<&Address>,
    conn: &Conn,
    peer: Peer,
) -> Vec<Reply> {
    let Some(mut spool) = txn.spool.take() else {
        return vec![reply(451, (4, 3, 0), "Local error in processing")];
    };
    let id = crate::queue::new_id();
    let from = txn.from.clone().unwrap_or(ReversePath::Null);
    let headers = trace_headers(shared, &id, &from, txn, mode, helo, user, conn, peer);
    let headers = headers + &crate::submission::fix_ups(shared, mode, &mut spool, &id);
    // Port 25 without AUTH: SPF, DKIM, DMARC, iprev (src/trust), an Authentication-Results field.
    let headers =
        match crate::trust::screen(shared, &mut spool, mode, user, peer, helo, &from).await {
            Ok(results) => headers + &results,
            Err(refusal) => return vec![refusal],
        };
    let recipients: Vec<Recipient> = txn
        .rcpts
        .iter()
        .flat_map(|r| {
            r.users.iter().map(|u| Recipient {
                user: u.clone(),
                maildir: shared.directory.maildir_path(u),
                envelope_to: r.envelope.clone(),
            })
        })
        .collect();
    let size = spool.len();
    let sign = user.is_some() || shared.config.outbound.is_trusted(peer.addr.map(|a| a.ip()));
    let outbound = Outbound::of(shared, txn, &from, &headers, sign);
    let shared2 = shared.clone();
    let (spool, results, queued) = tokio::task::spawn_blocking(move || {
        let results = crate::mailbox::deliver(&mut spool, &headers, &recipients);
        let queued = outbound.enqueue(&shared2, &mut spool);
        (
            spool,
            results.into_iter().zip(recipients).collect::<Vec<_>>(),
            queued,
        )
    })
    .await
    .unwrap_or_else(|e| {
        warn!("delivery task failed: {e}");
        (
            Spool::new(shared.spool_dir()),
            Vec::new(),
            Err(io::Error::other("delivery task failed")),
        )
    });
    if let Err(e) = &queued {
        warn!(%id, "cannot queue for outbound delivery: {e}");
    }
    drop(spool);
    let delay = txn
        .started
        .map(|s| s.elapsed().as_secs_f64())
        .unwrap_or_default();
    let mut replies = Vec::with_capacity(txn.rcpts.len());
    for rcpt in &txn.rcpts {
        let mine: Vec<_> = results
            .iter()
            .filter(|(_, r)| r.envelope_to == rcpt.envelope)
            .collect();
        let failed = mine.len() != rcpt.users.len()
            || mine.iter().any(|(res, _)| res.is_err())
            || (!rcpt.remote.is_empty() && queued.is_err());
        if !rcpt.remote.is_empty()
            && let Ok(ids) = &queued
        {
            info!(%id, from = %from, to = %rcpt.envelope, remote = ?rcpt.remote, size, status = "queued", queue_ids = ?ids);
        }
        for (res, r) in &mine {
            match res {
                Ok(unique) => {
                    info!(%id, from = %from, to = %rcpt.envelope, user = %r.user, size, delay, status = "delivered", file = %unique);
                }
                Err(e) => {
                    warn!(%id, from = %from, to = %rcpt.envelope, user = %r.user, size, delay, status = "deferred", "delivery failed: {e}");
                }
            }
        }
        replies.push(if failed {
            reply(451, (4, 3, 0), "Local delivery failed, try again later")
        } else {
            reply(250, (2, 0, 0), &format!("Ok: queued as {id}"))
        });
    }
    if mode != Mode::Lmtp && replies.iter().any(|r| !r.is_positive()) {
        // SMTP has one reply for all: any failure defers the whole message.
        return vec![reply(
            451,
            (4, 3, 0),
            "Local delivery failed, try again later",
        )];
    }
    replies
}

/// The part of a message that leaves through the outbound queue: one envelope for relayed
/// recipients (the sender as given) and one for alias targets (the sender rewritten with SRS).
struct Outbound {
    prefix: String,
    relayed: (String, Vec<String>),
    forwarded: (String, Vec<String>),
    /// DKIM-sign it (mail of our users and trusted clients).
    sign: bool,
}

impl Outbound {
    fn of(
        shared: &Shared,
        txn: &Transaction,
        from: &ReversePath,
        headers: &str,
        sign: bool,
    ) -> Self {
        let sender = match from {
            ReversePath::Null => String::new(),
            ReversePath::Mailbox(m) => m.to_string(),
        };
        let mut relayed = Vec::new();
        let mut forwarded = Vec::new();
        for r in &txn.rcpts {
            if r.forward {
                forwarded.extend(r.remote.iter().cloned());
            } else {
                relayed.extend(r.remote.iter().cloned());
            }
        }
        let forward_sender = crate::relay::forward_sender(shared, &sender);
        // Return-Path is added by the final delivery (RFC 5321 §4.4), not by a relay.
        let prefix = headers
            .split_inclusive('\n')
            .skip_while(|l| l.starts_with("Return-Path:"))
            .collect();
        Self {
            prefix,
            relayed: (sender, relayed),
            forwarded: (forward_sender, forwarded),
            sign,
        }
    }

    /// Writes the queue files (fsynced), DKIM-signed when `sign`. Blocking.
    fn enqueue(&self, shared: &Shared, spool: &mut Spool) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        if self.relayed.1.is_empty() && self.forwarded.1.is_empty() {
            return Ok(ids);
        }
        let mut prefix = self.prefix.clone();
        if self.sign {
            // Sign what leaves: the fields we add (Date, Message-ID fix-ups) included.
            let mut message = prefix.clone().into_bytes();
            spool.reader()?.read_to_end(&mut message)?;
            if let Some(signature) = crate::trust::sign(shared, &message) {
                // After our Received field, which stays on top (RFC 5321 §4.4).
                let mut lines = prefix.split_inclusive('\n');
                let mut received: String = lines.next().unwrap_or_default().to_owned();
                let mut rest = String::new();
                for line in lines {
                    if rest.is_empty() && line.starts_with([' ', '\t']) {
                        received.push_str(line);
                    } else {
                        rest.push_str(line);
                    }
                }
                prefix = received + &signature + &rest;
            }
        }
        for (sender, rcpts) in [&self.relayed, &self.forwarded] {
            if rcpts.is_empty() {
                continue;
            }
            let mut body = spool.reader()?;
            ids.push(shared.queue.enqueue(
                sender,
                rcpts,
                crate::queue::Kind::Message,
                prefix.as_bytes(),
                &mut body,
                crate::queue::now_secs(),
            )?);
        }
        Ok(ids)
    }
}

/// `Return-Path:` and `Received:` (RFC 5321 §4.4; "with" keywords of RFC 3848), LF line ends.
#[allow(clippy::too_many_arguments)]
fn trace_headers(
    shared: &Shared,
    id: &str,
    from: &ReversePath,
    txn: &Transaction,
    mode: Mode,
    helo: Option<&(HeloKind, Host)>,
    user: Option<&Address>,
    conn: &Conn,
    peer: Peer,
) -> String {
    let helo_name = helo.map_or_else(|| "unknown".to_owned(), |(_, h)| h.to_string());
    let with = match (mode, helo.map(|(k, _)| *k)) {
        (Mode::Lmtp, _) => "LMTP".to_owned(),
        (_, Some(HeloKind::Helo)) => "SMTP".to_owned(),
        _ => format!(
            "ESMTP{}{}",
            if conn.is_tls() { "S" } else { "" },
            if user.is_some() { "A" } else { "" }
        ),
    };
    let client = match peer.addr {
        Some(a) => format!("[{}]", a.ip()),
        None => "local".to_owned(),
    };
    let for_clause = match txn.rcpts.as_slice() {
        [one] => format!("\n\tfor <{}>", one.envelope),
        _ => String::new(),
    };
    let return_path = match from {
        ReversePath::Null => "<>".to_owned(),
        ReversePath::Mailbox(m) => format!("<{m}>"),
    };
    format!(
        "Return-Path: {return_path}\nReceived: from {helo_name} ({client})\n\tby {} (Mailwright) with {with} id {id}{for_clause};\n\t{}\n",
        shared.config.hostname,
        crate::timefmt::rfc5322(SystemTime::now())
    )
}
