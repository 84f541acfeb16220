//! The intake layer: what happens to a message between the end of its data and the disk, for SMTP,
//! submission and LMTP alike: submission policy and fix-ups, trust checks of incoming mail (SPF,
//! DKIM, DMARC, iprev) and DKIM signing of outgoing mail, local delivery into the store and the
//! hand-over to the outbound queue. Built on the core, the store and the outbound layer.

pub mod submission;
pub mod trust;

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use mailwright_smtp_proto::server::{HeloKind, Mode};
use mailwright_smtp_proto::{ForwardPath, Host, Reply, ReversePath};
use tracing::{info, warn};

use crate::core::Core;
use crate::core::directory::{Address, Resolution};
use crate::core::net::Peer;
use crate::core::smtp_reply as reply;
use crate::outbound::Outbound;
use crate::store::{MailStore, Recipient, Spool};

/// What the intake layer shares.
#[derive(Debug)]
pub struct Intake {
    /// The core services.
    pub core: Arc<Core>,
    /// The outbound queue and SRS.
    pub outbound: Arc<Outbound>,
    /// The users' mail, where local deliveries go.
    pub store: Arc<dyn MailStore>,
}

/// One accepted envelope recipient: the local users it expands to and the addresses elsewhere
/// it goes to through the outbound queue.
#[derive(Debug)]
pub struct Rcpt {
    /// The address as the envelope named it (for `Delivered-To:` and logs).
    pub envelope: String,
    /// The local users it expands to.
    pub users: Vec<Address>,
    /// Addresses in other domains (relayed for an authenticated or trusted client, or targets of
    /// a forwarding alias).
    pub remote: Vec<String>,
    /// `remote` are alias targets: the envelope sender is rewritten with SRS.
    pub forward: bool,
}

/// The transaction in progress: sender, accepted recipients, the message data.
#[derive(Debug, Default)]
pub struct Transaction {
    /// The envelope sender, once MAIL was accepted.
    pub from: Option<ReversePath>,
    /// The accepted recipients.
    pub rcpts: Vec<Rcpt>,
    /// The message data, once DATA or BDAT started.
    pub spool: Option<Spool>,
    /// When the data started (for the delay in logs).
    pub started: Option<Instant>,
}

/// `MAIL`: the submission sender policy, then the message rate limits (not on LMTP).
pub fn mail_policy(
    intake: &Intake,
    mode: Mode,
    peer: Peer,
    from: &ReversePath,
    user: Option<&Address>,
) -> Result<(), Reply> {
    if mode == Mode::Lmtp {
        return Ok(());
    }
    submission::check_mail(&intake.core, mode, from, user)?;
    intake
        .core
        .abuse
        .admit_message(peer, user, Instant::now())
        .map_err(|limited| {
            info!(?limited, "message refused by rate limit");
            limited.reply()
        })
}

/// `rcpt` (the routing of one recipient) within the hourly recipient limit of an authenticated user.
pub fn rcpt_limited(
    intake: &Intake,
    peer: Peer,
    to: &ForwardPath,
    user: Option<&Address>,
) -> Result<Rcpt, Reply> {
    intake
        .core
        .abuse
        .admit_recipient(peer, user, Instant::now())
        .map_err(|limited| {
            info!(?limited, "recipient refused by rate limit");
            limited.reply()
        })?;
    rcpt(intake, peer, to, user).inspect_err(|_| intake.core.abuse.refund_recipient(peer, user))
}

/// Resolves one RCPT TO; `Err` is the refusal to send.
///
/// Local users and aliases are accepted from anyone; other domains only from an authenticated
/// user or a client in `outbound.trusted_networks` (never an open relay). Bounces to an SRS
/// address of ours are accepted and sent on to the original sender.
fn rcpt(
    intake: &Intake,
    peer: Peer,
    to: &ForwardPath,
    user: Option<&Address>,
) -> Result<Rcpt, Reply> {
    let envelope = match to {
        // RFC 5321 §4.5.1: <Postmaster> must be accepted; it goes to postmaster@ the host name.
        ForwardPath::Postmaster => format!("postmaster@{}", intake.core.config.hostname),
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
    let may_relay = user.is_some()
        || intake
            .core
            .config
            .outbound
            .is_trusted(peer.addr.map(|a| a.ip()));
    let domain = crate::outbound::queue::domain_of(&envelope);
    let domains = crate::core::blocking(|| intake.core.directory.domains());
    let local_domain = match &domains {
        Ok(d) => d.contains(&domain),
        Err(e) => {
            warn!("directory lookup failed: {e}");
            return Err(reply(451, (4, 3, 0), "Temporary lookup failure"));
        }
    };
    if local_domain || domain.eq_ignore_ascii_case(&intake.core.config.hostname) {
        let day = crate::outbound::queue::now_secs() / 86400;
        if let Some(original) = intake.outbound.srs.reverse(&envelope, day) {
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
    let resolution = crate::core::blocking(|| intake.core.directory.resolve(&address));
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

/// Delivers the finished message to every accepted recipient. Returns one reply per envelope
/// recipient (LMTP) — in SMTP the first one stands for all.
pub async fn finish_message(
    intake: &Arc<Intake>,
    txn: &mut Transaction,
    mode: Mode,
    helo: Option<&(HeloKind, Host)>,
    user: Option<&Address>,
    tls: bool,
    peer: Peer,
) -> Vec<Reply> {
    let Some(mut spool) = txn.spool.take() else {
        return vec![reply(451, (4, 3, 0), "Local error in processing")];
    };
    let id = crate::outbound::queue::new_id();
    let from = txn.from.clone().unwrap_or(ReversePath::Null);
    let headers = trace_headers(intake, &id, &from, txn, mode, helo, user, tls, peer);
    let headers = headers + &submission::fix_ups(&intake.core, mode, &mut spool, &id);
    // Port 25 without AUTH: SPF, DKIM, DMARC, iprev (src/trust), an Authentication-Results field.
    let headers = match trust::screen(&intake.core, &mut spool, mode, user, peer, helo, &from).await
    {
        Ok(results) => headers + &results,
        Err(refusal) => return vec![refusal],
    };
    let recipients: Vec<Recipient> = txn
        .rcpts
        .iter()
        .flat_map(|r| {
            r.users.iter().map(|u| Recipient {
                user: u.clone(),
                envelope_to: r.envelope.clone(),
            })
        })
        .collect();
    let size = spool.len();
    let sign = user.is_some()
        || intake
            .core
            .config
            .outbound
            .is_trusted(peer.addr.map(|a| a.ip()));
    let outbound = Leaving::of(intake, txn, &from, &headers, sign);
    let shared2 = intake.clone();
    let (spool, results, queued) = tokio::task::spawn_blocking(move || {
        let results = crate::store::deliver(&*shared2.store, &mut spool, &headers, &recipients);
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
            Spool::new(intake.core.spool_dir()),
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
        let full = mine
            .iter()
            .any(|(res, _)| matches!(res, Err(crate::store::StoreError::NoSpace)));
        replies.push(if full {
            no_space()
        } else if failed {
            reply(451, (4, 3, 0), "Local delivery failed, try again later")
        } else {
            reply(250, (2, 0, 0), &format!("Ok: queued as {id}"))
        });
    }
    if mode != Mode::Lmtp
        && let Some(refusal) = replies.iter().find(|r| !r.is_positive())
    {
        // SMTP has one reply for all: any failure defers the whole message.
        return vec![refusal.clone()];
    }
    replies
}

/// The refusal when the disk is full: RFC 5321 §4.2.2's 452, RFC 3463 §3.4 `4.3.1` (mail system
/// full); the client retries later.
fn no_space() -> Reply {
    reply(
        452,
        (4, 3, 1),
        "Insufficient system storage, try again later",
    )
}

/// The part of a message that leaves through the outbound queue: one envelope for relayed
/// recipients (the sender as given) and one for alias targets (the sender rewritten with SRS).
struct Leaving {
    prefix: String,
    relayed: (String, Vec<String>),
    forwarded: (String, Vec<String>),
    /// DKIM-sign it (mail of our users and trusted clients).
    sign: bool,
}

impl Leaving {
    fn of(
        intake: &Intake,
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
        let forward_sender = crate::outbound::relay::forward_sender(&intake.outbound, &sender);
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
    fn enqueue(&self, intake: &Intake, spool: &mut Spool) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        if self.relayed.1.is_empty() && self.forwarded.1.is_empty() {
            return Ok(ids);
        }
        let mut prefix = self.prefix.clone();
        if self.sign {
            // Sign what leaves: the fields we add (Date, Message-ID fix-ups) included.
            let mut message = prefix.clone().into_bytes();
            spool.reader()?.read_to_end(&mut message)?;
            if let Some(signature) = trust::sign(&intake.core, &message) {
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
            ids.push(intake.outbound.queue.enqueue(
                sender,
                rcpts,
                crate::outbound::queue::Kind::Message,
                prefix.as_bytes(),
                &mut body,
                crate::outbound::queue::now_secs(),
            )?);
        }
        Ok(ids)
    }
}

/// `Return-Path:` and `Received:` (RFC 5321 §4.4; "with" keywords of RFC 3848), LF line ends.
#[allow(clippy::too_many_arguments)]
fn trace_headers(
    intake: &Intake,
    id: &str,
    from: &ReversePath,
    txn: &Transaction,
    mode: Mode,
    helo: Option<&(HeloKind, Host)>,
    user: Option<&Address>,
    tls: bool,
    peer: Peer,
) -> String {
    let helo_name = helo.map_or_else(|| "unknown".to_owned(), |(_, h)| h.to_string());
    let with = match (mode, helo.map(|(k, _)| *k)) {
        (Mode::Lmtp, _) => "LMTP".to_owned(),
        (_, Some(HeloKind::Helo)) => "SMTP".to_owned(),
        _ => format!(
            "ESMTP{}{}",
            if tls { "S" } else { "" },
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
        intake.core.config.hostname,
        crate::core::timefmt::rfc5322(SystemTime::now())
    )
}
