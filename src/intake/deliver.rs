//! End of data: the checks of a whole message, then its delivery, all or nothing.
//!
//! 1. A line over `limits.max_line_length` (BDAT; DATA's are refused by the machine) gets
//!    `550 5.6.0`; a message that, with our own `Received:` field, would carry
//!    `limits.max_received_headers` of them gets `554 5.4.6 Too many hops` (a loop between hosts;
//!    Postfix's `hopcount_limit` rule).
//! 2. The trace fields are added, submission fix-ups and trust checks run (they may refuse).
//! 3. A recipient the message was delivered to before (a `Delivered-To:` field naming it, or all
//!    of its mailboxes, as Postfix's local delivery agent checks) is a mail forwarding loop:
//!    refused per recipient in LMTP (`554 5.4.6`); in SMTP the message is refused when every
//!    recipient loops, else the others get it and the sender a failure report for the looping
//!    ones. A mailbox named in `Delivered-To:` gets no second copy through an alias.
//! 4. One copy per final mailbox, however many recipients lead to it (case, `+detail`, aliases,
//!    catch-alls), and one queue file per envelope sender for the addresses elsewhere.
//! 5. Every copy is prepared (written and fsynced, not visible), then all are committed; if one
//!    cannot be, the committed ones are rolled back. Only then is the reply sent: `250` means
//!    every copy is durable; anything else means none is kept. LMTP answers per recipient and
//!    keeps the copies of the recipients answered `250` (a copy shared with a failed recipient is
//!    kept for the others).
//! 6. A recipient that asked for `NOTIFY=SUCCESS` and was delivered here gets its sender a
//!    "delivered" report (RFC 3464, from `<>`).
//!
//! One log line per delivered copy, per queue file and per refused recipient, with `client=`.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::SystemTime;

use mailwright_sieve::Action as SieveAction;
use mailwright_smtp_proto::server::Mode;
use mailwright_smtp_proto::{OriginalRecipient, Reply, ReversePath};
use tracing::{info, warn};

use crate::core::smtp_reply as reply;
use crate::intake::headers::{self, Session, Trace};
use crate::intake::{Intake, Transaction, client, quota_reply, sieve, submission, trust};
use crate::outbound::dsn::{self, Action, Report, ReportRcpt};
use crate::outbound::longlines;
use crate::outbound::queue::{self, Attempt, Kind, MessageDsn, Notice, RcptDsn};
use crate::store::{CopyId, Delivery, Recipient, SpecialUse, Spool, StoreError};

/// What the delivery of one message needs to know of a recipient.
#[derive(Debug, Clone)]
struct RcptInfo {
    envelope: String,
    has_users: bool,
    remote: Vec<String>,
    forward: bool,
    dsn: RcptDsn,
    /// The message was delivered to it before.
    looping: bool,
}

/// One copy for one mailbox, and the recipients (indices) it serves.
#[derive(Debug)]
struct Copy {
    recipient: Recipient,
    serves: Vec<usize>,
}

/// A delivery of one message, run off the async threads.
struct Job {
    intake: Arc<Intake>,
    spool: Spool,
    /// The fields prepended to every copy (`Return-Path:`, `Received:`, fix-ups, results).
    head: String,
    mode: Mode,
    id: String,
    from: String,
    dsn: MessageDsn,
    rcpts: Vec<RcptInfo>,
    copies: Vec<Copy>,
    /// DKIM-sign what leaves through the queue.
    sign: bool,
    /// File the local copies in the recipients' Junk mailboxes (SPECIAL-USE `\Junk`).
    junk: bool,
}

/// What became of it.
#[derive(Debug, Default)]
struct Done {
    /// Per recipient: `None` delivered (or queued), else the reply that refuses it.
    failed: Vec<Option<Reply>>,
    /// Copies kept: (copy index, unique name).
    delivered: Vec<(usize, String)>,
    /// Queue files kept: (queue id, addresses).
    queued: Vec<(String, Vec<String>)>,
}

/// Checks and delivers the finished message to every accepted recipient. Returns one reply per
/// envelope recipient in LMTP; in SMTP one reply for the message.
pub async fn finish_message(
    intake: &Arc<Intake>,
    txn: &mut Transaction,
    session: &Session<'_>,
) -> Vec<Reply> {
    let n = txn.rcpts.len();
    let client = client(session.peer);
    let from = txn.from.clone().unwrap_or(ReversePath::Null);
    let sender = match &from {
        ReversePath::Null => String::new(),
        ReversePath::Mailbox(m) => m.to_string(),
    };
    let refuse_all = |refusal: Reply, why: &str| {
        info!(%client, from = %angle(&sender), rcpts = n, reply = %refusal, "message refused: {why}");
        if session.mode == Mode::Lmtp {
            vec![refusal; n]
        } else {
            vec![refusal]
        }
    };
    let Some(mut spool) = txn.spool.take() else {
        return refuse_all(
            reply(451, (4, 3, 0), "Local error in processing"),
            "spool lost",
        );
    };
    let limits = &intake.core.config.limits;
    // RFC 5322 §2.1.1 counts the line without its CRLF; the limit counts it in.
    if spool.longest_line() + 2 > limits.max_line_length as u64 {
        return refuse_all(
            reply(550, (5, 6, 0), "Message has a line longer than allowed"),
            "line too long",
        );
    }
    let trace = if spool.on_disk() {
        crate::core::blocking(|| headers::scan(&mut spool))
    } else {
        headers::scan(&mut spool)
    };
    let trace = match trace {
        Ok(t) => t,
        Err(e) => {
            warn!("cannot read the spooled message: {e}");
            return refuse_all(
                reply(451, (4, 3, 0), "Local error in processing"),
                "spool unreadable",
            );
        }
    };
    // Postfix's hopcount_limit rule: our own Received field counts, and reaching the limit is
    // the loop (49 from the client are refused at the default of 50).
    if trace.received + 1 >= limits.max_received_headers {
        return refuse_all(
            reply(554, (5, 4, 6), "Too many hops"),
            "too many Received fields",
        );
    }
    let id = txn.id.take().unwrap_or_else(queue::new_id);
    let mut distinct: Vec<&str> = txn.rcpts.iter().map(|r| r.envelope.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let only = (distinct.len() == 1).then(|| distinct[0]);
    let head = headers::trace_fields(&intake.core.config.hostname, &id, &from, session, only)
        + &submission::fix_ups(&intake.core, session.mode, &mut spool, &id);
    // Port 25 without AUTH: SPF, DKIM, DMARC, iprev, an Authentication-Results field.
    let head = match trust::screen(
        &intake.core,
        &mut spool,
        session.mode,
        session.user,
        session.peer,
        session.helo,
        &from,
    )
    .await
    {
        Ok((results, dmarc_quarantine)) => {
            let spam = &intake.core.config.spam;
            if dmarc_quarantine && spam.junk_dmarc_quarantine && !txn.spam {
                info!(%id, %client, from = %angle(&sender), "filed as junk: DMARC p=quarantine failed");
                txn.spam = true;
            }
            head + &results
        }
        Err(refusal) => return refuse_all(refusal, "trust checks"),
    };
    let rcpts: Vec<RcptInfo> = txn
        .rcpts
        .iter()
        .map(|r| RcptInfo {
            envelope: r.envelope.clone(),
            has_users: !r.users.is_empty(),
            remote: r.remote.clone(),
            forward: r.forward,
            dsn: r.dsn.clone(),
            looping: loops(&trace, r),
        })
        .collect();
    if rcpts.iter().all(|r| r.looping) {
        let replies: Vec<Reply> = rcpts.iter().map(loop_reply).collect();
        info!(%client, from = %angle(&sender), to = %angle(&rcpts[0].envelope), reply = %replies[0], "message refused: mail forwarding loop");
        return if session.mode == Mode::Lmtp {
            replies
        } else {
            replies.into_iter().take(1).collect()
        };
    }
    // One copy per final mailbox: the first recipient naming it gives its Delivered-To.
    let mut copies: Vec<Copy> = Vec::new();
    for (i, r) in txn.rcpts.iter().enumerate() {
        if rcpts[i].looping {
            continue;
        }
        for user in &r.users {
            if trace.delivered_to(&user.to_string()) {
                // The mailbox had this message already: delivering it again is the loop.
                info!(%client, from = %angle(&sender), to = %angle(&r.envelope), user = %user, "mailbox skipped: it had the message before (loop)");
                continue;
            }
            match copies.iter_mut().find(|c| c.recipient.user == *user) {
                Some(c) => c.serves.push(i),
                None => copies.push(Copy {
                    recipient: Recipient {
                        user: user.clone(),
                        envelope_to: r.envelope.clone(),
                    },
                    serves: vec![i],
                }),
            }
        }
    }
    let size = spool.len();
    let sign = session.user.is_some()
        || intake
            .core
            .config
            .outbound
            .is_trusted(session.peer.addr.map(|a| a.ip()));
    let job = Job {
        intake: intake.clone(),
        spool,
        head,
        mode: session.mode,
        id: id.clone(),
        from: sender.clone(),
        dsn: txn.dsn.clone(),
        rcpts,
        copies,
        sign,
        junk: txn.spam,
    };
    let (done, job) = match tokio::task::spawn_blocking(move || {
        let mut job = job;
        let done = job.run();
        (done, job)
    })
    .await
    {
        Ok(r) => r,
        Err(e) => {
            warn!(%id, "delivery task failed: {e}");
            return refuse_all(
                reply(451, (4, 3, 0), "Local error in processing"),
                "delivery task failed",
            );
        }
    };
    let delay = txn
        .started
        .map(|s| s.elapsed().as_secs_f64())
        .unwrap_or_default();
    for (c, unique) in &done.delivered {
        let copy = &job.copies[*c];
        info!(%id, %client, from = %angle(&sender), to = %angle(&copy.recipient.envelope_to), user = %copy.recipient.user, size, delay, file = %unique, "delivered");
    }
    for (queue_id, addresses) in &done.queued {
        info!(%id, %client, from = %angle(&sender), to = %addresses.iter().map(|a| angle(a)).collect::<Vec<_>>().join(","), size, %queue_id, "queued");
    }
    let mut logged = std::collections::BTreeSet::new();
    for (r, failed) in job.rcpts.iter().zip(&done.failed) {
        if let Some(refusal) = failed
            && logged.insert(r.envelope.as_str())
        {
            let what = if r.looping {
                "recipient not delivered: mail forwarding loop"
            } else {
                "recipient not delivered"
            };
            info!(%id, %client, from = %angle(&sender), to = %angle(&r.envelope), reply = %refusal, "{what}");
        }
    }
    let ok = reply(250, (2, 0, 0), &format!("Ok: queued as {id}"));
    if session.mode == Mode::Lmtp {
        return done
            .failed
            .into_iter()
            .map(|f| f.unwrap_or_else(|| ok.clone()))
            .collect();
    }
    // SMTP: one reply; looping recipients were accepted and reported to the sender.
    match done
        .failed
        .iter()
        .zip(&job.rcpts)
        .find_map(|(f, r)| f.as_ref().filter(|_| !r.looping))
    {
        Some(refusal) => vec![refusal.clone()],
        None => vec![ok],
    }
}

/// An address as logs show it, in angle brackets (`<>` for the null sender), as Postfix's do.
fn angle(address: &str) -> String {
    format!("<{address}>")
}

/// Whether the message was delivered to `r` before: its own address, or every mailbox it leads
/// to (and nowhere else). An alias some of whose mailboxes had the message gets it in the others.
fn loops(trace: &Trace, r: &crate::intake::Rcpt) -> bool {
    trace.delivered_to(&r.envelope)
        || (!r.users.is_empty()
            && r.remote.is_empty()
            && r.users.iter().all(|u| trace.delivered_to(&u.to_string())))
}

/// Postfix's local(8) words (RFC 3463 §3.5: 5.4.6 routing loop detected).
fn loop_reply(r: &RcptInfo) -> Reply {
    reply(
        554,
        (5, 4, 6),
        &format!("Mail forwarding loop for <{}>", r.envelope),
    )
}

/// The reply for a copy that could not be stored: a full mailbox as configured, a full disk
/// RFC 5321 §4.2.2's 452 with RFC 3463's `4.3.1` (mail system full), else `451 4.3.0`.
fn store_failure(intake: &Intake, e: &StoreError) -> Reply {
    match e {
        StoreError::OverQuota => quota_reply(&intake.core.config),
        StoreError::NoSpace => reply(
            452,
            (4, 3, 1),
            "Insufficient system storage, try again later",
        ),
        _ => reply(451, (4, 3, 0), "Local delivery failed, try again later"),
    }
}

fn queue_failure() -> Reply {
    reply(451, (4, 3, 0), "Cannot queue the message, try again later")
}

/// A message bound for the queue: one envelope sender, its addresses, the recipients it serves.
struct Outgoing {
    sender: String,
    rcpts: Vec<(String, RcptDsn)>,
    serves: Vec<usize>,
    /// Alias addresses it was delivered to here (`Delivered-To:`, for loop detection downstream).
    delivered_to: Vec<String>,
}

impl Job {
    fn lmtp(&self) -> bool {
        self.mode == Mode::Lmtp
    }

    /// Whether every recipient in `serves` has failed (its copy is kept for none).
    fn serves_none(failed: &[Option<Reply>], serves: &[usize]) -> bool {
        serves.iter().all(|&i| failed[i].is_some())
    }

    fn run(&mut self) -> Done {
        let mut failed: Vec<Option<Reply>> = self
            .rcpts
            .iter()
            .map(|r| r.looping.then(|| loop_reply(r)))
            .collect();
        let any_failure = |failed: &[Option<Reply>], rcpts: &[RcptInfo]| {
            failed
                .iter()
                .zip(rcpts)
                .any(|(f, r)| f.is_some() && !r.looping)
        };
        // Phase 1: every local copy written and fsynced, none visible; the user's Sieve
        // scripts decide where (and whether) it goes.
        let mut delivery = self.intake.store.delivery();
        let mut prepared: Vec<Vec<CopyId>> = Vec::with_capacity(self.copies.len());
        let mut sieved: Vec<Sieved> = Vec::with_capacity(self.copies.len());
        let mut body: Option<Vec<u8>> = None;
        for copy in &self.copies {
            let prefix = format!(
                "Delivered-To: {}\n{}",
                copy.recipient.envelope_to, self.head
            );
            let scripts = sieve::scripts(
                &self.intake.core.config.sieve,
                &self.intake.core.directory,
                &copy.recipient.user,
            );
            let result = if scripts.is_empty() {
                self.spool
                    .reader()
                    .map_err(StoreError::from)
                    .and_then(|body| {
                        let mut message = io::Cursor::new(prefix.into_bytes()).chain(body);
                        if self.junk {
                            delivery.prepare_special(
                                &copy.recipient.user,
                                SpecialUse::Junk,
                                &mut message,
                            )
                        } else {
                            delivery.prepare(&copy.recipient.user, &mut message)
                        }
                    })
                    .map(|id| (vec![id], Sieved::default()))
            } else {
                let body = match &body {
                    Some(b) => Ok(b),
                    None => {
                        let mut b = Vec::new();
                        self.spool
                            .reader()
                            .and_then(|mut r| r.read_to_end(&mut b))
                            .map(|_| &*body.insert(b))
                    }
                };
                body.map_err(StoreError::from).and_then(|body| {
                    let mut message = prefix.into_bytes();
                    message.extend_from_slice(body);
                    let decision = sieve::decide(
                        &self.intake.core.config.sieve,
                        &self.intake.core.directory,
                        &copy.recipient.user,
                        &self.from,
                        &copy.recipient.envelope_to,
                        &message,
                        SystemTime::now(),
                    );
                    store_sieved(
                        &mut *delivery,
                        &self.id,
                        &copy.recipient,
                        self.junk,
                        decision,
                        &message,
                    )
                })
            };
            match result {
                Ok((ids, s)) => {
                    prepared.push(ids);
                    sieved.push(s);
                }
                Err(e) => {
                    warn!(id = %self.id, user = %copy.recipient.user, "cannot store a copy: {e}");
                    let refusal = store_failure(&self.intake, &e);
                    for &i in &copy.serves {
                        failed[i].get_or_insert_with(|| refusal.clone());
                    }
                    prepared.push(Vec::new());
                    sieved.push(Sieved::default());
                }
            }
        }
        // A recipient all of whose mailboxes' scripts refused the message (reject, ereject).
        let mut rejected: Vec<(usize, Reply)> = Vec::new();
        for (i, r) in self.rcpts.iter().enumerate() {
            if failed[i].is_some() || !r.remote.is_empty() {
                continue;
            }
            let mut reasons = self
                .copies
                .iter()
                .zip(&sieved)
                .filter(|(c, _)| c.serves.contains(&i))
                .map(|(_, s)| s.rejected.as_deref());
            let first = reasons.next().flatten();
            if let Some(reason) = first
                && reasons.all(|r| r.is_some())
            {
                rejected.push((i, reject_reply(reason)));
            }
        }
        if !rejected.is_empty() {
            let all = self
                .rcpts
                .iter()
                .enumerate()
                .all(|(i, r)| r.looping || rejected.iter().any(|(j, _)| *j == i));
            if self.lmtp() || all {
                for (i, refusal) in rejected.drain(..) {
                    info!(id = %self.id, to = %angle(&self.rcpts[i].envelope), reply = %refusal, "refused by a Sieve script");
                    failed[i] = Some(refusal);
                }
            }
        }
        if !self.lmtp() && any_failure(&failed, &self.rcpts) {
            return self.fail_all(failed, delivery, Vec::new(), Vec::new());
        }
        // Phase 2: the copies some recipient still wants, committed together.
        let wanted: Vec<(usize, CopyId)> = prepared
            .iter()
            .enumerate()
            .flat_map(|(c, p)| p.iter().map(move |id| (c, *id)))
            .filter(|(c, _)| !Self::serves_none(&failed, &self.copies[*c].serves))
            .collect();
        let ids: Vec<CopyId> = wanted.iter().map(|(_, id)| *id).collect();
        let mut committed: Vec<(usize, CopyId)> = Vec::new();
        for ((c, id), result) in wanted.into_iter().zip(delivery.commit(&ids)) {
            match result {
                Ok(()) => committed.push((c, id)),
                Err(e) => {
                    let copy = &self.copies[c];
                    warn!(id = %self.id, user = %copy.recipient.user, "cannot commit a copy: {e}");
                    let refusal = store_failure(&self.intake, &e);
                    for &i in &copy.serves {
                        failed[i].get_or_insert_with(|| refusal.clone());
                    }
                }
            }
        }
        if !self.lmtp() && any_failure(&failed, &self.rcpts) {
            return self.fail_all(failed, delivery, committed, Vec::new());
        }
        // Phase 3: the queue files, for the addresses of the recipients still standing.
        let mut messages: Vec<(queue::CommittedMessage, Vec<usize>, Vec<String>)> = Vec::new();
        for out in self.outgoing(&failed) {
            match self.queue(&out) {
                Ok(m) => {
                    let addresses = out.rcpts.iter().map(|(a, _)| a.clone()).collect();
                    messages.push((m, out.serves, addresses));
                }
                Err(e) => {
                    warn!(id = %self.id, "cannot queue for outbound delivery: {e}");
                    for &i in &out.serves {
                        failed[i].get_or_insert_with(queue_failure);
                    }
                }
            }
        }
        if !self.lmtp() && any_failure(&failed, &self.rcpts) {
            return self.fail_all(failed, delivery, committed, messages);
        }
        // SMTP: the sender hears of the looping and rejecting recipients, durably, before the
        // 250.
        if !self.lmtp()
            && (self.rcpts.iter().any(|r| r.looping) || !rejected.is_empty())
            && let Err(e) = self.loop_report(&rejected)
        {
            warn!(id = %self.id, "cannot queue the loop report: {e}");
            for (i, f) in failed.iter_mut().enumerate() {
                if !self.rcpts[i].looping {
                    *f = Some(queue_failure());
                }
            }
            return self.fail_all(failed, delivery, committed, messages);
        }
        // LMTP: copies and queue files that serve only failed recipients go.
        let mut done = Done::default();
        let mut kept: Vec<(usize, CopyId)> = Vec::new();
        for (c, id) in committed {
            if Self::serves_none(&failed, &self.copies[c].serves) {
                if let Err(e) = delivery.rollback(id) {
                    warn!(id = %self.id, "cannot roll a copy back: {e}");
                }
            } else {
                kept.push((c, id));
            }
        }
        // Every copy kept is in: the mailboxes' sessions hear of them now.
        let published: std::collections::HashMap<CopyId, String> =
            delivery.publish().into_iter().collect();
        for (c, id) in kept {
            if let Some(unique) = published.get(&id) {
                done.delivered.push((c, unique.clone()));
            }
        }
        let queue = &self.intake.outbound.queue;
        for (m, serves, addresses) in messages {
            if Self::serves_none(&failed, &serves) {
                if let Err(e) = queue.rollback(m) {
                    warn!(id = %self.id, "cannot roll a queue file back: {e}");
                }
            } else {
                done.queued.push((queue.publish(m), addresses));
            }
        }
        // What the scripts send: redirects and vacation replies, for the copies kept.
        for (c, s) in sieved.iter().enumerate() {
            if !s.sends.is_empty() && !Self::serves_none(&failed, &self.copies[c].serves) {
                self.send_sieved(c, &s.sends);
            }
        }
        self.success_report(&failed);
        done.failed = failed;
        done
    }

    /// Queues what a copy's scripts send (best effort: logged when it cannot be): `redirect`
    /// from the sender (rewritten by SRS), with the recipient's `Delivered-To:` on top for loop
    /// detection; `vacation` from `<>`, noted in the user's sent-reply record.
    fn send_sieved(&mut self, c: usize, sends: &[SieveAction]) {
        let recipient = self.copies[c].recipient.clone();
        let queue = self.intake.outbound.queue.clone();
        for action in sends {
            match action {
                SieveAction::Redirect { address, .. } => {
                    // SRS only for a sender elsewhere: ours passes SPF as it is.
                    let local = self.from.rsplit_once('@').is_some_and(|(_, domain)| {
                        self.intake
                            .core
                            .directory
                            .domains()
                            .is_ok_and(|d| d.contains(&domain.to_ascii_lowercase()))
                    });
                    let sender = if local {
                        self.from.clone()
                    } else {
                        crate::outbound::relay::forward_sender(&self.intake.outbound, &self.from)
                    };
                    let prefix: String = format!("Delivered-To: {}\n", recipient.envelope_to)
                        + &self
                            .head
                            .split_inclusive('\n')
                            .skip_while(|l| l.starts_with("Return-Path:"))
                            .collect::<String>();
                    let result = self.spool.reader().and_then(|mut body| {
                        queue.enqueue(
                            &sender,
                            std::slice::from_ref(address),
                            Kind::Message,
                            prefix.as_bytes(),
                            &mut body,
                            queue::now_secs(),
                        )
                    });
                    match result {
                        Ok(queue_id) => {
                            info!(id = %self.id, user = %recipient.user, to = %angle(address), from = %angle(&sender), %queue_id, "redirected by a Sieve script");
                        }
                        Err(e) => {
                            warn!(id = %self.id, user = %recipient.user, "cannot queue a Sieve redirect: {e}");
                        }
                    }
                }
                SieveAction::Vacation(reply) => {
                    let now = SystemTime::now();
                    let text = sieve::vacation_message(
                        reply,
                        &self.intake.core.config.hostname,
                        &queue::new_id(),
                        now,
                    );
                    let result = queue.enqueue(
                        "",
                        std::slice::from_ref(&reply.to),
                        Kind::Message,
                        b"",
                        &mut &text[..],
                        queue::now_secs(),
                    );
                    match result {
                        Ok(queue_id) => {
                            info!(id = %self.id, user = %recipient.user, to = %angle(&reply.to), %queue_id, "vacation reply queued");
                            let home = sieve::home(&self.intake.core.directory, &recipient.user);
                            if let Err(e) = sieve::note_reply(&home, &reply.key, now) {
                                warn!(id = %self.id, user = %recipient.user, "cannot note the vacation reply: {e}");
                            }
                        }
                        Err(e) => {
                            warn!(id = %self.id, user = %recipient.user, "cannot queue a vacation reply: {e}");
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// SMTP after a failure: nothing is kept, and every recipient gets the failure.
    fn fail_all(
        &self,
        mut failed: Vec<Option<Reply>>,
        mut delivery: Box<dyn Delivery>,
        committed: Vec<(usize, CopyId)>,
        messages: Vec<(queue::CommittedMessage, Vec<usize>, Vec<String>)>,
    ) -> Done {
        for (_, id) in committed {
            if let Err(e) = delivery.rollback(id) {
                warn!(id = %self.id, "cannot roll a copy back: {e}");
            }
        }
        // Nothing to announce: the prepared copies go with the delivery.
        drop(delivery);
        for (m, ..) in messages {
            if let Err(e) = self.intake.outbound.queue.rollback(m) {
                warn!(id = %self.id, "cannot roll a queue file back: {e}");
            }
        }
        let first = failed
            .iter()
            .zip(&self.rcpts)
            .find_map(|(f, r)| f.clone().filter(|_| !r.looping))
            .unwrap_or_else(queue_failure);
        for f in &mut failed {
            f.get_or_insert_with(|| first.clone());
        }
        Done {
            failed,
            ..Done::default()
        }
    }

    /// The queue files to write: the relayed addresses with the sender as given, and alias
    /// targets with the sender rewritten by SRS; each address once.
    fn outgoing(&self, failed: &[Option<Reply>]) -> Vec<Outgoing> {
        let forward_sender =
            crate::outbound::relay::forward_sender(&self.intake.outbound, &self.from);
        let mut out = Vec::new();
        for (forward, sender) in [(false, self.from.clone()), (true, forward_sender)] {
            let mut o = Outgoing {
                sender,
                rcpts: Vec::new(),
                serves: Vec::new(),
                delivered_to: Vec::new(),
            };
            for (i, r) in self.rcpts.iter().enumerate() {
                if r.forward != forward || failed[i].is_some() || r.remote.is_empty() {
                    continue;
                }
                o.serves.push(i);
                if forward && !o.delivered_to.contains(&r.envelope) {
                    o.delivered_to.push(r.envelope.clone());
                }
                for address in &r.remote {
                    if o.rcpts.iter().any(|(a, _)| a == address) {
                        continue;
                    }
                    let mut dsn = r.dsn.clone();
                    // RFC 3461 §6.2.7.3: a forwarded copy names the address it was sent to.
                    if forward && dsn.orcpt.is_none() {
                        dsn.orcpt = Some(OriginalRecipient {
                            addr_type: "rfc822".to_owned(),
                            address: r.envelope.clone(),
                        });
                    }
                    o.rcpts.push((address.clone(), dsn));
                }
            }
            if !o.rcpts.is_empty() {
                out.push(o);
            }
        }
        out
    }

    /// Writes and commits one queue file (not yet handed to the delivery loop).
    fn queue(&mut self, out: &Outgoing) -> io::Result<queue::CommittedMessage> {
        // Return-Path is added by the final delivery (RFC 5321 §4.4), not by a relay.
        let prefix: String = self
            .head
            .split_inclusive('\n')
            .skip_while(|l| l.starts_with("Return-Path:"))
            .collect();
        let mut message = self.leaving(&prefix)?;
        if !out.delivered_to.is_empty() {
            // Above everything, as Postfix's local delivery agent adds it when it forwards.
            let mut top = String::new();
            for a in &out.delivered_to {
                top.push_str("Delivered-To: ");
                top.push_str(a);
                top.push('\n');
            }
            match &mut message {
                Leaving::Whole(bytes) => {
                    let mut with = top.into_bytes();
                    with.append(bytes);
                    *bytes = with;
                }
                Leaving::Prefixed(p) => {
                    top.push_str(p);
                    *p = top;
                }
            }
        }
        let queue = &self.intake.outbound.queue;
        let envelope = queue::Envelope {
            from: &out.sender,
            rcpts: &out.rcpts,
            kind: Kind::Message,
            dsn: &self.dsn,
        };
        let now = queue::now_secs();
        let prepared = match &message {
            Leaving::Whole(bytes) => queue.prepare(&envelope, b"", &mut &bytes[..], now)?,
            Leaving::Prefixed(prefix) => {
                let mut body = self.spool.reader()?;
                queue.prepare(&envelope, prefix.as_bytes(), &mut body, now)?
            }
        };
        queue.commit(prepared)
    }

    /// What leaves through the queue: the message after `prefix`, with no line over RFC 5322's
    /// 998 octets, DKIM-signed when `sign`. Read whole only when it must be changed or signed.
    fn leaving(&mut self, prefix: &str) -> io::Result<Leaving> {
        let long = self.spool.longest_line() > longlines::MAX_LINE as u64;
        if !self.sign && !long {
            return Ok(Leaving::Prefixed(prefix.to_owned()));
        }
        let mut message = prefix.as_bytes().to_vec();
        self.spool.reader()?.read_to_end(&mut message)?;
        if long {
            message = longlines::limit_line_length(&message).into_owned();
        }
        if self.sign
            && let Some(signature) = trust::sign(&self.intake.core, &message)
        {
            // After our Received field, which stays on top (RFC 5321 §4.4).
            let first_field_end = first_field_len(&message);
            let mut signed = Vec::with_capacity(message.len() + signature.len());
            signed.extend_from_slice(&message[..first_field_end]);
            signed.extend_from_slice(signature.as_bytes());
            signed.extend_from_slice(&message[first_field_end..]);
            message = signed;
        }
        Ok(Leaving::Whole(message))
    }

    /// The sender's failure report for the looping recipients and those a Sieve script
    /// rejected (SMTP, when others were delivered).
    fn loop_report(&mut self, rejected: &[(usize, Reply)]) -> io::Result<()> {
        let mut looping: Vec<(usize, Attempt)> = self
            .rcpts
            .iter()
            .enumerate()
            .filter(|(_, r)| r.looping && r.dsn.wants(Notice::Failure))
            .map(|(i, r)| {
                (
                    i,
                    Attempt {
                        remote: None,
                        reply: loop_reply(r).to_string(),
                    },
                )
            })
            .collect();
        for (i, refusal) in rejected {
            if self.rcpts[*i].dsn.wants(Notice::Failure) {
                looping.push((
                    *i,
                    Attempt {
                        remote: None,
                        reply: refusal.to_string(),
                    },
                ));
            }
        }
        self.report(Action::Failed, &looping)
    }

    /// "delivered" reports for recipients delivered here that asked for them (best effort: a
    /// lost notice loses no mail).
    fn success_report(&mut self, failed: &[Option<Reply>]) {
        let delivered: Vec<(usize, Attempt)> = self
            .rcpts
            .iter()
            .enumerate()
            .filter(|(i, r)| failed[*i].is_none() && r.has_users && r.dsn.wants(Notice::Success))
            .map(|(i, _)| {
                (
                    i,
                    Attempt {
                        remote: None,
                        reply: crate::core::smtp_reply(250, (2, 0, 0), "delivered to Maildir")
                            .to_string(),
                    },
                )
            })
            .collect();
        if let Err(e) = self.report(Action::Delivered, &delivered) {
            warn!(id = %self.id, "cannot queue the delivery report: {e}");
        }
    }

    /// Queues a report to the sender about `rcpts`; nothing when there is none to send.
    fn report(&mut self, action: Action, rcpts: &[(usize, Attempt)]) -> io::Result<()> {
        if rcpts.is_empty() || self.from.is_empty() {
            return Ok(());
        }
        let original_size = self.head.len() as u64 + self.spool.len();
        let original = io::Cursor::new(self.head.as_bytes()).chain(self.spool.reader()?);
        let listed: Vec<ReportRcpt<'_>> = rcpts
            .iter()
            .map(|(i, attempt)| ReportRcpt {
                address: &self.rcpts[*i].envelope,
                orcpt: self.rcpts[*i].dsn.orcpt.as_ref(),
                attempt,
            })
            .collect();
        let about = Report {
            hostname: &self.intake.core.config.hostname,
            to: &self.from,
            id: &self.id,
            arrival: SystemTime::now(),
            action,
            envid: self.dsn.envid.as_deref(),
            ret: self.dsn.ret,
            is_report: false,
            original_size,
            bounce_size_limit: self.intake.core.config.outbound.bounce_size_limit,
        };
        let Some(mut text) = dsn::build(&about, &listed, SystemTime::now(), original) else {
            return Ok(());
        };
        let queue = &self.intake.outbound.queue;
        let id = queue.enqueue(
            "",
            std::slice::from_ref(&self.from),
            Kind::Report,
            b"",
            &mut text,
            queue::now_secs(),
        )?;
        info!(id = %self.id, report = %id, to = %self.from, ?action, "delivery report queued");
        Ok(())
    }
}

/// What a copy's scripts decided beyond storing it.
#[derive(Debug, Default)]
struct Sieved {
    /// `reject`/`ereject`: the reason.
    rejected: Option<String>,
    /// `redirect` and `vacation`, sent once the copy is kept.
    sends: Vec<SieveAction>,
}

/// The reply that refuses a recipient whose script rejected the message (RFC 5429 §2.1:
/// `550 5.7.1` and the reason, on one line).
fn reject_reply(reason: &str) -> Reply {
    let one_line: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one_line = one_line.trim();
    reply(
        550,
        (5, 7, 1),
        if one_line.is_empty() {
            "Rejected by the recipient's filter"
        } else {
            one_line
        },
    )
}

/// Prepares the copies a Sieve decision stores (keep, fileinto) for one recipient, and returns
/// what else it decided. No decision (no script) is a plain delivery. A `fileinto` to a mailbox
/// that does not exist (without `:create`) or cannot be keeps the message instead, as
/// Pigeonhole does.
fn store_sieved(
    delivery: &mut dyn Delivery,
    id: &str,
    recipient: &Recipient,
    junk: bool,
    decision: Option<sieve::Decision>,
    message: &[u8],
) -> Result<(Vec<CopyId>, Sieved), StoreError> {
    let user = &recipient.user;
    let keep = |delivery: &mut dyn Delivery, flags: &[String]| {
        if junk {
            delivery.prepare_special(user, SpecialUse::Junk, &mut &*message)
        } else {
            delivery.prepare_into(
                user,
                &crate::store::MailboxName::inbox(),
                false,
                flags,
                &mut &*message,
            )
        }
    };
    let Some(decision) = decision else {
        return Ok((vec![keep(delivery, &[])?], Sieved::default()));
    };
    let mut ids = Vec::new();
    let mut kept = false;
    let mut sieved = Sieved::default();
    for action in decision.actions {
        match action {
            SieveAction::Keep { flags, .. } if !kept => {
                ids.push(keep(delivery, &flags)?);
                kept = true;
            }
            SieveAction::FileInto {
                mailbox,
                flags,
                create,
                ..
            } => {
                let result = crate::store::MailboxName::new(&mailbox).and_then(|name| {
                    delivery.prepare_into(user, &name, create, &flags, &mut &*message)
                });
                match result {
                    Ok(copy) => {
                        info!(%id, %user, mailbox = %mailbox, "filed by a Sieve script");
                        ids.push(copy);
                    }
                    Err(e @ (StoreError::NoSuchMailbox | StoreError::InvalidName(_))) => {
                        warn!(%id, %user, mailbox = %mailbox, "Sieve fileinto failed, keeping the message: {e}");
                        if !kept {
                            ids.push(keep(delivery, &flags)?);
                            kept = true;
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            SieveAction::Discard => {
                info!(%id, %user, "discarded by a Sieve script");
            }
            SieveAction::Reject { reason, .. } => sieved.rejected = Some(reason),
            other @ (SieveAction::Redirect { .. } | SieveAction::Vacation(_)) => {
                sieved.sends.push(other);
            }
            _ => {}
        }
    }
    Ok((ids, sieved))
}

/// A message for the queue: a prefix before the spooled body, or the whole message rewritten.
enum Leaving {
    Prefixed(String),
    Whole(Vec<u8>),
}

/// The length of the first header field with its continuation lines.
fn first_field_len(message: &[u8]) -> usize {
    let mut end = 0;
    for line in message.split_inclusive(|b| *b == b'\n') {
        if end > 0 && !line.starts_with(b" ") && !line.starts_with(b"\t") {
            break;
        }
        end += line.len();
    }
    end
}
