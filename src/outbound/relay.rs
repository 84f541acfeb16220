//! Delivery of the outbound queue: the loop that takes due messages, routes them (local domains
//! into Maildirs; others to the `relayhost` or the domain's MX hosts) and speaks SMTP with
//! `mailwright-smtp-proto`'s client machine; then retries, delay warnings and bounces.
//!
//! - Routing (RFC 5321 §5.1): MX hosts in preference order, each of their addresses in turn; a
//!   domain without MX is its own host; a null MX (RFC 7505) and a domain that does not exist fail
//!   the recipients at once. A host whose connection or greeting fails is skipped for the next.
//! - One connection per destination domain carries every due message for it (connection reuse),
//!   pipelined when offered. STARTTLS is used when offered, without checking the certificate
//!   (opportunistic, RFC 3207 §4.1; a failed handshake is retried once in plaintext); domains in
//!   `outbound.require_tls` get mail only over TLS with a verified certificate.
//! - The `relayhost` (smarthost): its certificate is verified when TLS is used (unless
//!   `relayhost_verify_tls = false`), TLS from the start on port 465 (`relayhost_implicit_tls`),
//!   AUTH PLAIN/LOGIN with `relayhost_credentials` (a file only the server may read) and then
//!   only over TLS; its `530` (authentication required) defers instead of bouncing.
//! - A message over 1 MiB is streamed from its queue file in 64 KiB blocks (smtp-proto's
//!   `send_message_streamed`) after one pass that finds its 8-bit content and longest line, so a
//!   connection holds at most about 1 MiB of a message; one with a line over 998 octets is read
//!   whole, to be rewritten (see [`crate::outbound::longlines`]).
//! - The machine adds SIZE, BODY=8BITMIME and SMTPUTF8 as offered. A message that needs 8BITMIME or
//!   SMTPUTF8 from a server that lacks them, or is larger than its SIZE, fails with 5.6.3 / 5.6.7 /
//!   5.3.4 instead of being sent in a form the server did not agree to.
//! - The client's timers are those of RFC 5321 §4.5.3.2, each an `outbound.*_timeout_secs`
//!   setting; one that fires defers the recipients of the transaction.
//! - 4xx and connection failures are retried after `outbound.retry_schedule_secs` (5m, 15m, 30m, 1h,
//!   2h, then every 4h by default) until `outbound.max_lifetime_secs` (5 days); one delay warning
//!   after `outbound.delay_warning_secs`; 5xx and expiry bounce (see [`crate::outbound::dsn`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mailwright_smtp_proto::client::{
    BodyInfo, ClientConfig, ClientError, ClientSession, Credentials, Envelope,
    Event as ClientEvent, Timeouts, TlsPolicy, TransactionResult,
};
use mailwright_smtp_proto::server::Mode;
use mailwright_smtp_proto::{
    Capability, Domain, EhloResponse, ForwardPath, Host, Mailbox, RcptParameters, Reply,
    ReversePath,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{info, warn};

use crate::core::directory::{Address, Resolution};
use crate::core::dns::{DnsError, MxRoute};
use crate::outbound::Outbound;
use crate::outbound::dsn::{self, Action};
use crate::outbound::mtasts;
use crate::outbound::queue::{self, Attempt, Entry, Kind, Notice, RcptStatus};
use crate::outbound::tlsrpt;
use crate::store::{Recipient, Spool};

/// Messages carried over one connection before it is closed and the rest left for the next round.
const MAX_MESSAGES_PER_CONNECTION: usize = 100;

/// Messages larger than this are streamed from the queue file in blocks instead of being read
/// whole, so that a connection holds at most about this much of a message (plus a block).
const STREAM_OVER: u64 = 1 << 20;

/// The block a streamed message is read in.
const STREAM_BLOCK: usize = 64 * 1024;

/// A message as it is about to be sent.
enum Body {
    /// Read whole (small, or with lines to rewrite first).
    Whole(Vec<u8>),
    /// Streamed from the queue file, as scanned.
    Streamed(queue::MessageScan),
}

/// Reads a small message whole; scans a large one to stream it. A large one with a line over
/// 998 octets is read whole too: the rewriting of long lines walks its MIME structure.
async fn load_body(outbound: &Outbound, entry: &Entry) -> std::io::Result<Body> {
    let queue = outbound.queue.clone();
    let entry = entry.clone();
    tokio::task::spawn_blocking(move || {
        if entry.size > STREAM_OVER {
            let scan = queue.scan_message(&entry)?;
            if scan.longest_line <= crate::outbound::longlines::MAX_LINE {
                return Ok(Body::Streamed(scan));
            }
        }
        // Nothing over RFC 5322's 998 octets a line leaves here (mail queued by intake is
        // re-encoded before it is signed; this catches what came another way).
        let message = queue.read_message(&entry)?;
        Ok(Body::Whole(
            crate::outbound::longlines::limit_line_length(&message).into_owned(),
        ))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// What happened to one recipient in one attempt.
#[derive(Debug, Clone)]
enum Outcome {
    /// Done here; the success report owed to a sender who asked for one (`NOTIFY=SUCCESS`), if
    /// this hop owes it: `Delivered` into a mailbox, `Relayed` to a server without DSN; `None`
    /// when the next hop took the DSN request over (or an alias passed it on).
    Delivered(Attempt, Option<Action>),
    Deferred(Attempt),
    Failed(Attempt),
}

/// The same outcome for each of the recipients at `idx`.
fn each(idx: impl IntoIterator<Item = usize>, outcome: &Outcome) -> Vec<(usize, Outcome)> {
    idx.into_iter().map(|i| (i, outcome.clone())).collect()
}

/// A reply line of the queue's own (a local error, a DNS verdict, a refusal before sending), built
/// as an SMTP reply by smtp-proto: `code`, enhanced status (RFC 3463) and text, one line, with
/// controls other than TAB turned into spaces so the text is never dropped.
fn own_reply(code: u16, enhanced: (u8, u16, u16), text: impl std::fmt::Display) -> String {
    let text: String = text
        .to_string()
        .chars()
        .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
        .collect();
    crate::core::smtp_reply(code, enhanced, &text).to_string()
}

fn attempt(remote: Option<&str>, reply: impl std::fmt::Display) -> Attempt {
    Attempt {
        remote: remote.map(str::to_owned),
        reply: reply.to_string().replace("\r\n", " "),
    }
}

/// Runs the queue until shutdown.
pub async fn run(outbound: Arc<Outbound>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let queue = outbound.queue.clone();
    let out = &outbound.core.config.outbound;
    let permits = Arc::new(tokio::sync::Semaphore::new(out.concurrency));
    // Deliveries in progress per destination domain, limited to `destination_concurrency` so
    // that one slow or failing destination cannot take every slot.
    let mut per_domain: std::collections::HashMap<String, Arc<tokio::sync::Semaphore>> =
        std::collections::HashMap::new();
    let mut last_log = 0;
    loop {
        let now = queue::now_secs();
        close_idle(&outbound);
        if queue.take_flush_request(now) {
            // An admin asked for delivery now: dead destinations too.
            outbound.destinations.clear();
        }
        if now >= last_log + 60 && !queue.is_empty() {
            info!(queue_size = queue.len(), "queue");
            last_log = now;
        }
        // A semaphore no delivery holds is dropped, so the map does not grow.
        per_domain.retain(|_, s| Arc::strong_count(s) > 1);
        let slots = |d: &str| {
            per_domain
                .get(d)
                .map_or(out.destination_concurrency, |s| s.available_permits())
        };
        // Only what can start now is taken: per destination, as many messages as its free slots
        // carry. What is left stays in the queue untouched (not taken, copied and handed back at
        // every wake-up, which cost more than the deliveries while a backlog waited).
        let free = permits.available_permits();
        let mut busy = false;
        let due = if free == 0 {
            busy = true;
            Vec::new()
        } else {
            let mut room: std::collections::HashMap<String, usize> =
                std::collections::HashMap::new();
            queue.take_due_except(now, free * MAX_MESSAGES_PER_CONNECTION, |e| {
                let domain = due_domain(e, now);
                let left = room
                    .entry(domain)
                    .or_insert_with_key(|d| slots(d).min(free) * MAX_MESSAGES_PER_CONNECTION);
                if *left == 0 {
                    busy = true;
                    return true;
                }
                *left -= 1;
                false
            })
        };
        for (domain, batch) in group_by_domain(due, now, |d| slots(d).min(free)) {
            let limit = per_domain.entry(domain.clone()).or_insert_with(|| {
                Arc::new(tokio::sync::Semaphore::new(out.destination_concurrency))
            });
            let (Ok(domain_permit), Ok(permit)) = (
                limit.clone().try_acquire_owned(),
                permits.clone().try_acquire_owned(),
            ) else {
                // No slot after all: these wait for a later round.
                queue.release(&batch);
                busy = true;
                continue;
            };
            let outbound = outbound.clone();
            tokio::spawn(async move {
                let slots = (permit, domain_permit);
                deliver_batch(&outbound, &domain, batch).await;
                // The slots are free before the loop is woken to use them: woken first, it
                // found the destination still busy and slept a second.
                drop(slots);
                outbound.queue.wake();
            });
        }
        let wait = queue
            .next_due()
            .map_or(Duration::from_secs(1), |t| {
                Duration::from_secs(t.saturating_sub(queue::now_secs()).clamp(0, 1))
            })
            .max(Duration::from_millis(50));
        // Messages left for a busy destination are due, but wait for a delivery to end (which
        // wakes the loop) rather than being looked at again every 50 ms.
        let wait = if busy { Duration::from_secs(1) } else { wait };
        tokio::select! {
            () = queue.woken() => {}
            () = tokio::time::sleep(wait) => {}
            () = crate::core::shutdown_signalled(&mut shutdown) => break,
        }
    }
}

/// Splits due entries by the domain of their first pending recipient that is due at `now`; the
/// other due domains of a message are attempted in the next round (the entry is due again at
/// once), those backing off when their wait ends. A domain's entries are spread evenly over up to
/// `slots(domain)` connections of at most [`MAX_MESSAGES_PER_CONNECTION`] each, so that a short
/// backlog does not queue behind one connection while others could carry it.
fn group_by_domain(
    due: Vec<Entry>,
    now: u64,
    slots: impl Fn(&str) -> usize,
) -> Vec<(String, Vec<Entry>)> {
    let mut groups: std::collections::BTreeMap<String, Vec<Entry>> =
        std::collections::BTreeMap::new();
    for entry in due {
        let domain = due_domain(&entry, now);
        groups.entry(domain).or_default().push(entry);
    }
    let mut out = Vec::new();
    for (domain, mut entries) in groups {
        let batches = entries
            .len()
            .div_ceil(MAX_MESSAGES_PER_CONNECTION)
            .max(slots(&domain).min(entries.len()))
            .max(1);
        let size = entries.len().div_ceil(batches);
        while entries.len() > size {
            let rest = entries.split_off(size);
            out.push((domain.clone(), std::mem::replace(&mut entries, rest)));
        }
        out.push((domain, entries));
    }
    out
}

/// The domain of an entry's first pending recipient that is due at `now` (of the first pending
/// one when none is).
fn due_domain(entry: &Entry, now: u64) -> String {
    let pending: Vec<String> = entry.pending().map(|(_, r)| r.domain()).collect();
    pending
        .iter()
        .find(|d| entry.due_at(d) <= now)
        .or(pending.first())
        .cloned()
        .unwrap_or_default()
}

/// Destinations none of whose hosts could be reached (connection, greeting or TLS failure): until
/// their wait ends, their messages are deferred without a connection, so that a dead
/// destination does not hold delivery slots (Postfix's dead destinations). The wait is the first
/// step of `outbound.retry_schedule_secs`. Kept in memory only.
#[derive(Debug, Default)]
pub struct Destinations {
    dead: std::sync::Mutex<std::collections::HashMap<String, (u64, Attempt)>>,
    /// Connections kept open after a delivery for the next message to the same domain.
    idle: std::sync::Mutex<std::collections::HashMap<String, Vec<Idle>>>,
}

/// An open connection between deliveries.
struct Idle {
    conn: Connection,
    caps: EhloResponse,
    smarthost: bool,
    since: Instant,
}

impl std::fmt::Debug for Idle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idle")
            .field("remote", &self.conn.remote)
            .field("since", &self.since)
            .finish_non_exhaustive()
    }
}

/// How long an idle connection is kept: `outbound.connection_cache_secs`.
fn cache_time(out: &crate::core::config::Outbound) -> Duration {
    Duration::from_secs(out.connection_cache_secs)
}

/// Keeps a connection that finished its batch for the next delivery to `domain`, or closes it
/// when caching is off or it carried its share of messages.
async fn park(
    outbound: &Outbound,
    domain: &str,
    conn: Connection,
    caps: EhloResponse,
    smarthost: bool,
) {
    if cache_time(&outbound.core.config.outbound).is_zero()
        || conn.sent >= MAX_MESSAGES_PER_CONNECTION
    {
        conn.quit().await;
        return;
    }
    let mut idle = outbound
        .destinations
        .idle
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    idle.entry(domain.to_owned()).or_default().push(Idle {
        conn,
        caps,
        smarthost,
        since: Instant::now(),
    });
}

/// Whether an idle connection is still usable: the server has neither closed it nor said
/// anything (a `421` before closing) while it waited.
async fn still_open(conn: &mut Connection) -> bool {
    let mut byte = [0u8; 1];
    // A zero timeout polls the read once: pending means nothing came.
    tokio::time::timeout(Duration::ZERO, conn.stream.read(&mut byte))
        .await
        .is_err()
}

/// Closes the idle connections older than `outbound.connection_cache_secs` (QUIT in the
/// background).
pub(crate) fn close_idle(outbound: &Outbound) {
    let limit = cache_time(&outbound.core.config.outbound);
    let mut stale = Vec::new();
    {
        let mut idle = outbound
            .destinations
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for conns in idle.values_mut() {
            let (old, fresh): (Vec<Idle>, Vec<Idle>) =
                conns.drain(..).partition(|i| i.since.elapsed() >= limit);
            *conns = fresh;
            stale.extend(old);
        }
        idle.retain(|_, c| !c.is_empty());
    }
    for i in stale {
        tokio::spawn(i.conn.quit());
    }
}

impl Destinations {
    /// The most recent idle connection to `domain` younger than `limit`.
    fn take_idle(&self, domain: &str, limit: Duration) -> Option<Idle> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let conns = idle.get_mut(domain)?;
        let i = conns.pop()?;
        (i.since.elapsed() < limit).then_some(i)
    }

    /// The failure that backed `domain` off, while it is backed off at `now`.
    fn backed_off(&self, domain: &str, now: u64) -> Option<Attempt> {
        let mut dead = self
            .dead
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match dead.get(domain) {
            Some((until, a)) if *until > now => Some(a.clone()),
            Some(_) => {
                dead.remove(domain);
                None
            }
            None => None,
        }
    }

    fn clear(&self) {
        self.dead
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    fn set(&self, domain: &str, until: Option<(u64, Attempt)>) {
        let mut dead = self
            .dead
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match until {
            Some(v) => {
                dead.insert(domain.to_owned(), v);
            }
            None => {
                dead.remove(domain);
            }
        }
    }
}

/// The indices of an entry's pending recipients in `domain`.
fn targets(entry: &Entry, domain: &str) -> Vec<usize> {
    entry
        .pending()
        .filter(|(_, r)| r.domain() == domain)
        .map(|(i, _)| i)
        .collect()
}

async fn deliver_batch(outbound: &Arc<Outbound>, domain: &str, batch: Vec<Entry>) {
    let local = crate::core::blocking(|| outbound.core.directory.domains())
        .is_ok_and(|d| d.contains(domain));
    // Our SRS addresses live at the host name, which need not be a local domain.
    let reversed: Vec<Vec<(usize, Outcome)>> =
        if local || domain.eq_ignore_ascii_case(&outbound.core.config.hostname) {
            crate::core::blocking(|| {
                batch
                    .iter()
                    .map(|e| reverse_srs(outbound, e, domain))
                    .collect()
            })
        } else {
            vec![Vec::new(); batch.len()]
        };
    // What is left to route: the entries without the recipients handled above.
    let mut routed = batch.clone();
    for (entry, done) in routed.iter_mut().zip(&reversed) {
        for (i, _) in done {
            entry.rcpts[*i].status = RcptStatus::Delivered(attempt(None, "SRS"));
        }
    }
    let rest = routed.iter().any(|e| !targets(e, domain).is_empty());
    let mut outcomes: Vec<Vec<(usize, Outcome)>> = if !rest {
        vec![Vec::new(); routed.len()]
    } else if local {
        let mut all = Vec::new();
        for entry in &routed {
            all.push(deliver_local(outbound, entry, domain).await);
        }
        all
    } else {
        deliver_remote(outbound, domain, &routed).await
    };
    for (o, r) in outcomes.iter_mut().zip(reversed) {
        o.extend(r);
    }
    for (entry, outcomes) in batch.into_iter().zip(outcomes) {
        let outbound = outbound.clone();
        let domain = domain.to_owned();
        let result =
            tokio::task::spawn_blocking(move || settle(&outbound, entry, &domain, outcomes)).await;
        if let Err(e) = result {
            warn!("queue update task failed: {e}");
        }
    }
}

/// Sends what is addressed to one of our SRS addresses (a report about a forwarded message) on
/// to the original sender: each such recipient of `entry` in `domain` gets a copy queued for the
/// address it stands for. Returns their outcomes (the caller routes the others). Blocking.
fn reverse_srs(outbound: &Outbound, entry: &Entry, domain: &str) -> Vec<(usize, Outcome)> {
    let day = queue::now_secs() / 86400;
    let originals: Vec<(usize, String)> = targets(entry, domain)
        .into_iter()
        .filter_map(|i| Some((i, outbound.srs.reverse(&entry.rcpts[i].address, day)?)))
        .collect();
    if originals.is_empty() {
        return Vec::new();
    }
    // Copied from file to file, never whole in memory (a RET=FULL report can be large).
    let queued = outbound.queue.open_message(entry).and_then(|mut message| {
        let rcpts: Vec<(String, queue::RcptDsn)> = originals
            .iter()
            .map(|(i, original)| (original.clone(), entry.rcpts[*i].dsn.clone()))
            .collect();
        let prepared = outbound.queue.prepare(
            &queue::Envelope {
                from: &entry.from,
                rcpts: &rcpts,
                kind: entry.kind,
                dsn: &entry.dsn,
            },
            b"",
            &mut message,
            queue::now_secs(),
        )?;
        Ok(outbound.queue.publish(outbound.queue.commit(prepared)?))
    });
    originals
        .into_iter()
        .map(|(i, original)| {
            let outcome = match &queued {
                Ok(id) => Outcome::Delivered(
                    attempt(
                        None,
                        own_reply(
                            250,
                            (2, 0, 0),
                            format!("SRS reversed to <{original}>, queued as {id}"),
                        ),
                    ),
                    None,
                ),
                Err(e) => Outcome::Deferred(attempt(None, own_reply(451, (4, 3, 0), e))),
            };
            (i, outcome)
        })
        .collect()
}

/// Delivers the recipients of a local domain (bounces to local senders, SRS bounces returning).
async fn deliver_local(
    outbound: &Arc<Outbound>,
    entry: &Entry,
    domain: &str,
) -> Vec<(usize, Outcome)> {
    let outbound = outbound.clone();
    let entry = entry.clone();
    let domain = domain.to_owned();
    tokio::task::spawn_blocking(move || {
        let idx = targets(&entry, &domain);
        // The message is copied into a spool (in memory when small, else a file of its own) in
        // blocks, never read whole: the alias copies and the local deliveries read it from there.
        let mut spool = Spool::new(outbound.core.spool_dir());
        if let Err(e) = outbound
            .queue
            .open_message(&entry)
            .and_then(|file| copy_into(file, &mut spool))
        {
            let a = attempt(
                None,
                own_reply(451, (4, 3, 0), format!("queue file unreadable: {e}")),
            );
            return each(idx, &Outcome::Deferred(a));
        }
        let mut out = Vec::new();
        let mut recipients = Vec::new();
        let mut owners = Vec::new();
        for i in idx {
            let address = &entry.rcpts[i].address;
            let resolved = address
                .parse::<Address>()
                .map_err(|e| e.to_string())
                .and_then(|a| {
                    outbound
                        .core
                        .directory
                        .resolve(&a)
                        .map_err(|e| e.to_string())
                });
            let resolved = match resolved {
                // An alias that forwards outside: a copy for its external targets goes back into
                // the queue (sender rewritten with SRS); its local users are delivered below.
                Ok(Resolution::Forward { local, external }) => {
                    let sender = forward_sender(&outbound, &entry.from);
                    // The copy carries the recipient's DSN request on (RFC 3461 §6.2.7.3).
                    let rcpts: Vec<(String, queue::RcptDsn)> = external
                        .iter()
                        .map(|a| (a.to_string(), entry.rcpts[i].dsn.clone()))
                        .collect();
                    let queued = forward_copy(&outbound, &mut spool, &sender, &rcpts, &entry)
                        .map(|c| outbound.queue.publish(c));
                    match queued {
                        Ok(id) if local.is_empty() => {
                            out.push((
                                i,
                                Outcome::Delivered(
                                    attempt(
                                        None,
                                        own_reply(250, (2, 0, 0), format!("forwarded as {id}")),
                                    ),
                                    None,
                                ),
                            ));
                            continue;
                        }
                        Ok(_) => Ok(Resolution::Local(local)),
                        Err(e) => {
                            out.push((
                                i,
                                Outcome::Deferred(attempt(None, own_reply(451, (4, 3, 0), &e))),
                            ));
                            continue;
                        }
                    }
                }
                other => other,
            };
            match resolved {
                Ok(Resolution::Local(users)) if !users.is_empty() => {
                    for user in users {
                        owners.push(i);
                        recipients.push(Recipient {
                            user,
                            envelope_to: address.clone(),
                        });
                    }
                }
                Ok(_) => out.push((
                    i,
                    Outcome::Failed(attempt(
                        None,
                        own_reply(550, (5, 1, 1), "No such user here"),
                    )),
                )),
                Err(e) => out.push((
                    i,
                    Outcome::Deferred(attempt(
                        None,
                        own_reply(451, (4, 3, 0), format!("lookup failed: {e}")),
                    )),
                )),
            }
        }
        if recipients.is_empty() {
            return out;
        }
        let headers = format!("Return-Path: <{}>\n", entry.from);
        let results = crate::store::deliver(&*outbound.store, &mut spool, &headers, &recipients);
        let mut per_rcpt: std::collections::BTreeMap<usize, Outcome> =
            std::collections::BTreeMap::new();
        for (i, result) in owners.into_iter().zip(results) {
            let outcome = match result {
                Ok(_) => Outcome::Delivered(
                    attempt(None, own_reply(250, (2, 0, 0), "delivered to Maildir")),
                    Some(Action::Delivered),
                ),
                Err(e) => Outcome::Deferred(attempt(None, own_reply(451, (4, 3, 0), &e))),
            };
            // A recipient expanding to several users is delivered only when every copy is.
            if !matches!(per_rcpt.get(&i), Some(Outcome::Deferred(_))) {
                per_rcpt.insert(i, outcome);
            }
        }
        out.extend(per_rcpt);
        out
    })
    .await
    .unwrap_or_default()
}

/// Copies a message into a spool in blocks. Blocking.
fn copy_into(mut from: impl std::io::Read, spool: &mut Spool) -> std::io::Result<()> {
    let mut buf = vec![0u8; STREAM_BLOCK];
    loop {
        match from.read(&mut buf)? {
            0 => return Ok(()),
            n => spool.write(&buf[..n])?,
        }
    }
}

/// Queues the copy of a message for an alias's external targets, streamed from the spool; a
/// message with a line over RFC 5322's 998 octets is read whole to rewrite it (as the relay
/// does). Blocking.
fn forward_copy(
    outbound: &Outbound,
    spool: &mut Spool,
    sender: &str,
    rcpts: &[(String, queue::RcptDsn)],
    entry: &Entry,
) -> std::io::Result<queue::CommittedMessage> {
    let envelope = queue::Envelope {
        from: sender,
        rcpts,
        kind: entry.kind,
        dsn: &entry.dsn,
    };
    let now = queue::now_secs();
    let prepared = if spool.longest_line() > crate::outbound::longlines::MAX_LINE as u64 {
        let mut message = Vec::new();
        std::io::Read::read_to_end(&mut spool.reader()?, &mut message)?;
        let message = crate::outbound::longlines::limit_line_length(&message);
        outbound
            .queue
            .prepare(&envelope, b"", &mut &message[..], now)?
    } else {
        outbound
            .queue
            .prepare(&envelope, b"", &mut spool.reader()?, now)?
    };
    outbound.queue.commit(prepared)
}

/// The envelope sender of a copy forwarded to another domain: rewritten with SRS (when
/// `outbound.srs` is on and the sender is not `<>`), so that SPF holds at the destination.
pub(crate) fn forward_sender(outbound: &Outbound, sender: &str) -> String {
    if !outbound.core.config.outbound.srs || sender.is_empty() {
        return sender.to_owned();
    }
    let day = queue::now_secs() / 86400;
    outbound
        .srs
        .forward(sender, &outbound.core.config.hostname, day)
        .unwrap_or_else(|| sender.to_owned())
}

/// One SMTP connection to a next hop. The machine owns the protocol timers (RFC 5321
/// §4.5.3.2); the connection only sleeps until the deadline it reports.
struct Connection {
    stream: Stream,
    machine: ClientSession,
    remote: String,
    buf: Vec<u8>,
    /// Bounds the TLS handshake, which the machine does not see.
    handshake_timeout: Duration,
    /// Transactions started on it.
    sent: usize,
    /// Our address on it (TLS-RPT's `sending-mta-ip`).
    local_ip: Option<std::net::IpAddr>,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Gone,
}

impl Stream {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf).await,
            Self::Tls(s) => s.read(buf).await,
            Self::Gone => Ok(0),
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.write_all(data).await,
            Self::Tls(s) => s.write_all(data).await,
            Self::Gone => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.flush().await,
            Self::Tls(s) => s.flush().await,
            Self::Gone => Ok(()),
        }
    }
}

/// Why a connection could not be used.
struct SetupError {
    attempt: Attempt,
    /// A TLS handshake failed (opportunistic TLS then retries in plaintext).
    tls_failed: bool,
    /// What the TLS failure was, in RFC 8460's words (for TLS-RPT).
    tls_result: Option<tlsrpt::ResultType>,
    /// Our address on the connection, once connected (TLS-RPT's `sending-mta-ip`).
    local_ip: Option<std::net::IpAddr>,
}

impl Connection {
    /// Writes what the machine has to send, then waits for its next event (a timer the machine
    /// owns ends the wait with `Failed(Timeout(stage))`).
    async fn next_event(&mut self) -> Result<ClientEvent, Attempt> {
        loop {
            self.write_out().await?;
            if let Some(event) = self.machine.poll_event() {
                return Ok(event);
            }
            let deadline = self.machine.poll_timeout();
            tokio::select! {
                read = self.stream.read(&mut self.buf) => {
                    let n = read.map_err(|e| {
                        attempt(Some(&self.remote), format!("read failed: {e}"))
                    })?;
                    if n == 0 {
                        return Err(attempt(
                            Some(&self.remote),
                            "connection closed by the server",
                        ));
                    }
                    let (machine, buf) = (&mut self.machine, &self.buf);
                    machine.handle_input(Instant::now(), &buf[..n]);
                }
                () = sleep_until(deadline) => self.machine.handle_timeout(Instant::now()),
            }
        }
    }

    /// Writes out the machine's transmits. Each piece of message data is written within the
    /// machine's data-block timer, which starts when the piece is handed out.
    async fn write_out(&mut self) -> Result<(), Attempt> {
        while let Some(bytes) = self.machine.poll_transmit() {
            // Handing out a piece may have started a timer without a `now`: anchor it here.
            let now = Instant::now();
            if self.machine.poll_timeout().is_some_and(|t| t <= now) {
                self.machine.handle_timeout(now);
            }
            if self.machine.is_closed() {
                // A timer ran out meanwhile: the machine reports it as its next event.
                return Ok(());
            }
            let deadline = self.machine.poll_timeout();
            tokio::select! {
                written = self.stream.write_all(&bytes) => written.map_err(|e| {
                    attempt(Some(&self.remote), format!("write failed: {e}"))
                })?,
                () = sleep_until(deadline) => {
                    // The timer fired: the machine reports it as its next event.
                    self.machine.handle_timeout(Instant::now());
                    return Ok(());
                }
            }
        }
        self.stream
            .flush()
            .await
            .map_err(|e| attempt(Some(&self.remote), format!("write failed: {e}")))
    }

    async fn open(
        outbound: &Outbound,
        host: &str,
        addr: SocketAddr,
        hop: &Hop,
    ) -> Result<(Self, EhloResponse), SetupError> {
        let (policy, verify) = (hop.policy, hop.verify);
        let out = &outbound.core.config.outbound;
        let remote = format!("{host}[{}]", addr.ip());
        let local_ip = std::sync::OnceLock::new();
        let fail = |reply: String, tls_failed: bool| SetupError {
            attempt: attempt(Some(&remote), reply),
            tls_failed,
            tls_result: tls_failed.then_some(tlsrpt::ResultType::ValidationFailure),
            local_ip: local_ip.get().copied(),
        };
        let fail_tls = |(reply, result): (String, tlsrpt::ResultType)| SetupError {
            tls_result: Some(result),
            ..fail(reply, true)
        };
        let tcp = match tokio::time::timeout(
            Duration::from_secs(out.connect_timeout_secs),
            TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(fail(format!("connect to {addr} failed: {e}"), false)),
            Err(_) => return Err(fail(format!("connect to {addr} timed out"), false)),
        };
        let _ = tcp.set_nodelay(true);
        if let Ok(a) = tcp.local_addr() {
            let _ = local_ip.set(a.ip());
        }
        let helo = Domain::try_from(outbound.core.config.hostname.as_str())
            .map_or_else(|_| Host::Literal(addr_literal(&tcp)), Host::Domain);
        let reply_timeout = Duration::from_secs(out.reply_timeout_secs);
        let mut config = ClientConfig::new(Mode::Smtp, helo);
        config.starttls = policy;
        config.timeouts = timeouts(out);
        config.credentials.clone_from(&hop.credentials);
        let stream = if hop.implicit_tls {
            // RFC 8314 §3: TLS from the first octet; the greeting comes over it.
            config.tls_active = true;
            Stream::Tls(Box::new(
                handshake(outbound, host, tcp, verify, reply_timeout)
                    .await
                    .map_err(fail_tls)?,
            ))
        } else {
            Stream::Plain(tcp)
        };
        let mut machine = ClientSession::new(config);
        // The wait for the greeting runs from the connection.
        machine.handle_timeout(Instant::now());
        let mut conn = Connection {
            stream,
            machine,
            remote: remote.clone(),
            buf: vec![0; 16 * 1024],
            handshake_timeout: reply_timeout,
            sent: 0,
            local_ip: local_ip.get().copied(),
        };
        loop {
            match conn.next_event().await {
                Ok(ClientEvent::Ready(caps)) => return Ok((conn, caps)),
                Ok(ClientEvent::StartTls) => {
                    let Stream::Plain(tcp) = std::mem::replace(&mut conn.stream, Stream::Gone)
                    else {
                        return Err(fail("STARTTLS twice".into(), true));
                    };
                    let tls = handshake(outbound, host, tcp, verify, conn.handshake_timeout)
                        .await
                        .map_err(fail_tls)?;
                    conn.stream = Stream::Tls(Box::new(tls));
                    conn.machine
                        .handle_tls_established()
                        .map_err(|e| fail(format!("STARTTLS out of step: {e}"), true))?;
                }
                Ok(ClientEvent::Failed(e)) => {
                    let tls = matches!(e, ClientError::TlsNotOffered | ClientError::StartTls(_));
                    return Err(SetupError {
                        tls_result: tls.then_some(tlsrpt::ResultType::StartTlsNotSupported),
                        ..fail(client_error_text(&e), tls)
                    });
                }
                Ok(other) => return Err(fail(format!("unexpected event {other:?}"), false)),
                Err(a) => {
                    return Err(SetupError {
                        attempt: a,
                        tls_failed: false,
                        tls_result: None,
                        local_ip: local_ip.get().copied(),
                    });
                }
            }
        }
    }

    /// Runs the transaction started on the machine to its result, handing it the blocks of a
    /// streamed message from the queue file as it asks for them (one block held at a time).
    async fn transaction(
        &mut self,
        outbound: &Outbound,
        entry: &Entry,
    ) -> Result<TransactionResult, String> {
        let mut file: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>> = None;
        let mut block = Vec::new();
        loop {
            match self.next_event().await {
                Ok(ClientEvent::Sent(result)) => return Ok(result),
                Ok(ClientEvent::BodyWanted) => {
                    let f = match &mut file {
                        Some(f) => f,
                        None => {
                            let queue = outbound.queue.clone();
                            let e = entry.clone();
                            let opened =
                                tokio::task::spawn_blocking(move || queue.open_message(&e))
                                    .await
                                    .map_err(std::io::Error::other)
                                    .and_then(|r| r)
                                    .map_err(|e| format!("queue file unreadable: {e}"))?;
                            block = vec![0; STREAM_BLOCK];
                            file.insert(opened.into_async())
                        }
                    };
                    // A read error leaves the data unfinished: the connection is given up, and
                    // the server drops what it got.
                    let n = f
                        .read(&mut block)
                        .await
                        .map_err(|e| format!("queue file unreadable: {e}"))?;
                    let fed = if n == 0 {
                        self.machine.handle_body_end()
                    } else {
                        self.machine.handle_body(&block[..n])
                    };
                    fed.map_err(|e| e.to_string())?;
                }
                Ok(ClientEvent::Failed(e)) => return Err(client_error_text(&e)),
                Ok(other) => return Err(format!("unexpected {other:?}")),
                Err(a) => return Err(a.reply),
            }
        }
    }

    async fn quit(mut self) {
        if self.machine.quit().is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), self.next_event()).await;
        }
    }
}

/// Runs a TLS handshake as a client of `host`, within `limit`. A failure comes with its
/// TLS-RPT result type.
async fn handshake(
    outbound: &Outbound,
    host: &str,
    tcp: TcpStream,
    verify: bool,
    limit: Duration,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, (String, tlsrpt::ResultType)> {
    let connector = tls_connector(outbound, verify);
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|_| {
        (
            format!("{host} is not a TLS server name"),
            tlsrpt::ResultType::ValidationFailure,
        )
    })?;
    match tokio::time::timeout(limit, connector.connect(name, tcp)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err((format!("TLS handshake failed: {e}"), tls_result_of(&e))),
        Err(_) => Err((
            "TLS handshake timed out".into(),
            tlsrpt::ResultType::ValidationFailure,
        )),
    }
}

/// The RFC 8460 §4.3 result type of a failed handshake.
fn tls_result_of(e: &std::io::Error) -> tlsrpt::ResultType {
    use rustls::CertificateError as C;
    use tlsrpt::ResultType as R;
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            C::Expired | C::ExpiredContext { .. } => R::CertificateExpired,
            C::NotValidForName | C::NotValidForNameContext { .. } => R::CertificateHostMismatch,
            C::UnknownIssuer | C::BadSignature | C::UnhandledCriticalExtension => {
                R::CertificateNotTrusted
            }
            _ => R::ValidationFailure,
        },
        _ => R::ValidationFailure,
    }
}

/// How to talk to one next hop.
#[derive(Debug, Clone)]
struct Hop {
    /// STARTTLS use.
    policy: TlsPolicy,
    /// Whether the certificate is verified.
    verify: bool,
    /// TLS from the start (port 465).
    implicit_tls: bool,
    /// AUTH credentials (the relayhost's).
    credentials: Option<Credentials>,
}

/// The relayhost's credentials from `outbound.relayhost_credentials`: `username:password` on the
/// first line that is neither empty nor a `#` comment. A file that others than its owner may
/// read is refused. The error never holds the file's content.
fn relay_credentials(outbound: &Outbound) -> Result<Option<Credentials>, String> {
    use std::os::unix::fs::PermissionsExt;
    let Some(file) = &outbound.core.config.outbound.relayhost_credentials else {
        return Ok(None);
    };
    let path = crate::core::datadir::resolve(&outbound.core.data_dir, file);
    let shown = path.display();
    let meta = std::fs::metadata(&path).map_err(|e| format!("{shown}: {e}"))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{shown} may be read by others than its owner (mode {mode:o}): chmod 600 it"
        ));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{shown}: {e}"))?;
    let line = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .ok_or_else(|| format!("{shown} holds no credentials"))?;
    match line.split_once(':') {
        Some((user, password)) if !user.trim().is_empty() && !password.is_empty() => {
            Ok(Some(Credentials::new(user.trim(), password)))
        }
        _ => Err(format!("{shown}: expected \"username:password\"")),
    }
}

/// The client's RFC 5321 §4.5.3.2 timers, as configured under `[outbound]`.
fn timeouts(out: &crate::core::config::Outbound) -> Timeouts {
    let secs = Duration::from_secs;
    Timeouts {
        greeting: secs(out.greeting_timeout_secs),
        mail: secs(out.mail_timeout_secs),
        rcpt: secs(out.rcpt_timeout_secs),
        data_init: secs(out.data_init_timeout_secs),
        data_block: secs(out.data_block_timeout_secs),
        data_end: secs(out.data_end_timeout_secs),
        reply: secs(out.reply_timeout_secs),
    }
}

/// Sleeps until `deadline` (never when there is none).
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await,
        None => std::future::pending().await,
    }
}

fn addr_literal(tcp: &TcpStream) -> mailwright_smtp_proto::AddressLiteral {
    let ip = tcp
        .local_addr()
        .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    match ip {
        std::net::IpAddr::V4(v4) => mailwright_smtp_proto::AddressLiteral::Ipv4(v4),
        std::net::IpAddr::V6(v6) => mailwright_smtp_proto::AddressLiteral::Ipv6(v6),
    }
}

fn client_error_text(e: &ClientError) -> String {
    match e {
        ClientError::Greeting(r)
        | ClientError::Helo(r)
        | ClientError::StartTls(r)
        | ClientError::Auth(r)
        | ClientError::ServiceClosing(r)
        | ClientError::Unexpected(r) => r.to_string().replace("\r\n", " "),
        other => other.to_string(),
    }
}

pub(crate) fn tls_connector(outbound: &Outbound, verify: bool) -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let config = if verify {
        let mut roots = rustls::RootCertStore::empty();
        let files: Vec<std::path::PathBuf> = match &outbound.core.config.outbound.ca_file {
            Some(f) => vec![crate::core::datadir::resolve(&outbound.core.data_dir, f)],
            None => vec!["/etc/ssl/certs/ca-certificates.crt".into()],
        };
        for file in files {
            use rustls::pki_types::pem::PemObject;
            if let Ok(iter) = rustls::pki_types::CertificateDer::pem_file_iter(&file) {
                for cert in iter.flatten() {
                    let _ = roots.add(cert);
                }
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Opportunistic(provider)))
            .with_no_client_auth()
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Opportunistic TLS (RFC 3207 §4.1, RFC 7435): encrypt without authenticating the server; the
/// handshake signature is still checked so the session keys belong to the presented key.
#[derive(Debug)]
struct Opportunistic(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Opportunistic {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The next hops of a domain: `(host name, addresses)` in order, or the outcome for every
/// recipient when there is no route.
async fn route(
    outbound: &Outbound,
    domain: &str,
) -> Result<Vec<(String, Vec<SocketAddr>)>, Outcome> {
    let out = &outbound.core.config.outbound;
    let (hosts, port) = if out.relayhost.is_empty() {
        match outbound.core.dns.mx(domain).await {
            Ok(MxRoute::Hosts(hosts)) => (hosts, out.mx_port),
            Ok(MxRoute::NullMx) => {
                return Err(Outcome::Failed(attempt(
                    None,
                    own_reply(
                        556,
                        (5, 1, 10),
                        format!("{domain} accepts no mail (null MX)"),
                    ),
                )));
            }
            Err(DnsError::NoDomain(_)) => {
                return Err(Outcome::Failed(attempt(
                    None,
                    own_reply(550, (5, 1, 2), format!("Domain {domain} does not exist")),
                )));
            }
            Err(e) => {
                return Err(Outcome::Deferred(attempt(
                    None,
                    own_reply(451, (4, 4, 3), &e),
                )));
            }
        }
    } else {
        let (host, port) = split_host_port(&out.relayhost);
        (vec![host], port)
    };
    let mut hops = Vec::new();
    let mut last_error = None;
    for host in hosts {
        match outbound.core.dns.addresses(&host).await {
            Ok(ips) if !ips.is_empty() => {
                hops.push((
                    host,
                    ips.into_iter()
                        .map(|ip| SocketAddr::new(ip, port))
                        .collect(),
                ));
            }
            Ok(_) => last_error = Some(format!("{host} has no address")),
            Err(e) => last_error = Some(e.to_string()),
        }
    }
    if hops.is_empty() {
        return Err(Outcome::Deferred(attempt(
            None,
            own_reply(
                451,
                (4, 4, 4),
                format!(
                    "no reachable host for {domain}: {}",
                    last_error.unwrap_or_default()
                ),
            ),
        )));
    }
    Ok(hops)
}

/// `host:port`, `[ip]:port`, `[ip]` or `host` (port 25).
fn split_host_port(s: &str) -> (String, u16) {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[')
        && let Some((host, tail)) = rest.split_once(']')
    {
        let port = tail
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(25);
        return (host.to_owned(), port);
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host.to_owned(), port.parse().unwrap_or(25)),
        _ => (s.to_owned(), 25),
    }
}

async fn deliver_remote(
    outbound: &Arc<Outbound>,
    domain: &str,
    batch: &[Entry],
) -> Vec<Vec<(usize, Outcome)>> {
    let all = |o: &Outcome| -> Vec<Vec<(usize, Outcome)>> {
        batch.iter().map(|e| each(targets(e, domain), o)).collect()
    };
    let out = &outbound.core.config.outbound;
    if let Some(a) = outbound.destinations.backed_off(domain, queue::now_secs()) {
        return all(&Outcome::Deferred(Attempt {
            reply: format!("{} (destination backed off)", a.reply),
            ..a
        }));
    }
    // An idle connection to the destination, left by the delivery before, is used first.
    if let Some(Idle {
        mut conn,
        caps,
        smarthost,
        ..
    }) = outbound.destinations.take_idle(domain, cache_time(out))
        && still_open(&mut conn).await
    {
        let (results, conn) = send_all(outbound, conn, &caps, domain, batch, smarthost).await;
        if let Some(conn) = conn {
            park(outbound, domain, conn, caps, smarthost).await;
        }
        return results;
    }
    let hops = match route(outbound, domain).await {
        Ok(h) => h,
        Err(outcome) => return all(&outcome),
    };
    let smarthost = !out.relayhost.is_empty();
    let credentials = if smarthost {
        match crate::core::blocking(|| relay_credentials(outbound)) {
            Ok(c) => c,
            Err(e) => {
                warn!("relayhost credentials unusable: {e}");
                return all(&Outcome::Deferred(attempt(
                    None,
                    own_reply(
                        451,
                        (4, 7, 0),
                        format!("relayhost credentials unusable: {e}"),
                    ),
                )));
            }
        }
    } else {
        None
    };
    // RFC 8461 §5: MX delivery under the domain's MTA-STS policy.
    let mut hops = hops;
    let (sts, sts_failure) = if smarthost || !out.mta_sts {
        (None, None)
    } else {
        mtasts::policy_checked(outbound, domain).await
    };
    // TLS-RPT (RFC 8460): each session of MX delivery is recorded under the policy in force.
    let tls_rpt = !smarthost && out.tls_rpt;
    let in_force = sts.as_ref().filter(|p| p.mode != mtasts::Mode::None);
    let note = |host: &str,
                (ip, local): (Option<std::net::IpAddr>, Option<std::net::IpAddr>),
                failure: Option<(tlsrpt::ResultType, String)>| {
        if !tls_rpt {
            return;
        }
        let mut session = tlsrpt::Session::new(domain, in_force);
        if let Some((result, info)) = failure {
            session = session.failed(result, Some(host), ip, local, Some(info));
        }
        crate::core::blocking(|| tlsrpt::record(outbound, &session));
    };
    if tls_rpt && let Some(f) = &sts_failure {
        let mut session = tlsrpt::Session::new(domain, None);
        session.policy.policy_type = tlsrpt::PolicyType::Sts;
        let session = session.failed(f.result, None, None, None, Some(f.text.clone()));
        crate::core::blocking(|| tlsrpt::record(outbound, &session));
    }
    let sts_enforce = sts
        .as_ref()
        .is_some_and(|p| p.mode == mtasts::Mode::Enforce);
    if let Some(p) = &sts {
        for (host, _) in hops.iter().filter(|(h, _)| !p.matches(h)) {
            match p.mode {
                mtasts::Mode::Enforce => {
                    info!(%domain, %host, "MTA-STS enforce: MX host not in the policy, skipped");
                    note(
                        host,
                        (None, None),
                        Some((
                            tlsrpt::ResultType::ValidationFailure,
                            "MX host not named by the MTA-STS policy".to_owned(),
                        )),
                    );
                }
                mtasts::Mode::Testing => warn!(
                    %domain, %host,
                    "MTA-STS testing: MX host not in the policy; enforce would not deliver to it"
                ),
                mtasts::Mode::None => {}
            }
        }
        if sts_enforce {
            hops.retain(|(h, _)| p.matches(h));
            if hops.is_empty() {
                return all(&Outcome::Deferred(attempt(
                    None,
                    own_reply(
                        451,
                        (4, 7, 5),
                        format!("MTA-STS policy of {domain} (enforce) names none of its MX hosts"),
                    ),
                )));
            }
        }
    }
    let require_tls = out
        .require_tls
        .iter()
        .any(|d| d.eq_ignore_ascii_case(domain))
        || credentials.is_some()
        || sts_enforce;
    // The relayhost's certificate is checked when TLS is used (by default), and then a failed
    // handshake is not retried in plaintext.
    let verify = require_tls || (smarthost && out.relayhost_verify_tls);
    let sts_testing = !require_tls
        && sts
            .as_ref()
            .is_some_and(|p| p.mode == mtasts::Mode::Testing);
    let mut last = attempt(None, own_reply(451, (4, 4, 1), "no host could be reached"));
    for (host, addrs) in hops {
        for addr in addrs {
            let hop = Hop {
                policy: if require_tls {
                    TlsPolicy::Required
                } else {
                    TlsPolicy::IfOffered
                },
                verify,
                implicit_tls: smarthost && out.relayhost_implicit_tls.unwrap_or(addr.port() == 465),
                // AUTH only over TLS: with credentials TLS is required.
                credentials: credentials.clone(),
            };
            // MTA-STS testing (RFC 8461 §5): TLS is tried verified first, and what enforce
            // would have refused is logged before delivering as usual.
            let mut opened = if sts_testing {
                let verified = Hop {
                    verify: true,
                    ..hop.clone()
                };
                Connection::open(outbound, &host, addr, &verified).await
            } else {
                Connection::open(outbound, &host, addr, &hop).await
            };
            // The session's TLS outcome, recorded once for TLS-RPT: a host the policy does not
            // name (testing) failed validation whatever its TLS did.
            let mut noted = false;
            let local = match &opened {
                Ok((conn, _)) => conn.local_ip,
                Err(e) => e.local_ip,
            };
            if in_force.is_some_and(|p| !p.matches(&host)) {
                note(
                    &host,
                    (Some(addr.ip()), local),
                    Some((
                        tlsrpt::ResultType::ValidationFailure,
                        "MX host not named by the MTA-STS policy".to_owned(),
                    )),
                );
                noted = true;
            }
            if let Err(e) = &opened
                && e.tls_failed
                && !noted
            {
                let result = e
                    .tls_result
                    .unwrap_or(tlsrpt::ResultType::ValidationFailure);
                note(
                    &host,
                    (Some(addr.ip()), local),
                    Some((result, e.attempt.reply.clone())),
                );
                noted = true;
            }
            if sts_testing
                && let Err(e) = &opened
                && e.tls_failed
            {
                warn!(%domain, %host, "MTA-STS testing: {}; enforce would defer", e.attempt.reply);
                opened = Connection::open(outbound, &host, addr, &hop).await;
            }
            let opened = match opened {
                Err(e) if e.tls_failed && !verify && !hop.implicit_tls => {
                    info!(%host, "opportunistic TLS failed ({}); retrying in plaintext", e.attempt.reply);
                    let plain = Hop {
                        policy: TlsPolicy::Never,
                        ..hop
                    };
                    Connection::open(outbound, &host, addr, &plain).await
                }
                other => other,
            };
            match opened {
                Ok((conn, caps)) => {
                    if !noted {
                        if matches!(conn.stream, Stream::Tls(_)) {
                            note(&host, (Some(addr.ip()), conn.local_ip), None);
                        } else {
                            note(
                                &host,
                                (Some(addr.ip()), conn.local_ip),
                                Some((
                                    tlsrpt::ResultType::StartTlsNotSupported,
                                    "the MX host does not offer STARTTLS".to_owned(),
                                )),
                            );
                        }
                    }
                    if sts_testing && !matches!(conn.stream, Stream::Tls(_)) {
                        warn!(%domain, %host, "MTA-STS testing: delivering without TLS; enforce would defer");
                    }
                    outbound.destinations.set(domain, None);
                    let (results, conn) =
                        send_all(outbound, conn, &caps, domain, batch, smarthost).await;
                    if let Some(conn) = conn {
                        park(outbound, domain, conn, caps, smarthost).await;
                    }
                    return results;
                }
                Err(e) => {
                    info!(%host, %addr, "next hop unusable: {}", e.attempt.reply);
                    last = e.attempt;
                    if verify && e.tls_failed {
                        last.reply = own_reply(
                            451,
                            (4, 7, 5),
                            format!(
                                "TLS required for {domain}{}: {}",
                                if sts_enforce {
                                    " (MTA-STS enforce)"
                                } else {
                                    ""
                                },
                                last.reply
                            ),
                        );
                    }
                }
            }
        }
    }
    if !last.reply.starts_with(['4', '5']) {
        last.reply = own_reply(451, (4, 4, 1), &last.reply);
    }
    // Every host failed before a transaction: temporary, whatever the greeting said; and the
    // destination as a whole waits before the next connection.
    let until = queue::now_secs() + out.retry_schedule_secs[0];
    outbound
        .destinations
        .set(domain, Some((until, last.clone())));
    all(&Outcome::Deferred(last))
}

/// The outcome of a reply of `remote`; `dsn` is whether it offered DSN (and so took over the
/// sender's success notice); `smarthost` whether it is the relayhost.
fn reply_outcome(remote: &str, reply: &Reply, dsn: bool, smarthost: bool) -> Outcome {
    let a = attempt(Some(remote), reply);
    if reply.is_positive() {
        Outcome::Delivered(a, (!dsn).then_some(Action::Relayed))
    } else if smarthost && reply.code().get() == 530 {
        // "530 5.7.0 Authentication required" (RFC 4954 §6) from a smarthost is about our
        // setup, not the recipient: keep the mail until the credentials are fixed.
        Outcome::Deferred(a)
    } else if reply.code().is_permanent() {
        Outcome::Failed(a)
    } else {
        Outcome::Deferred(a)
    }
}

fn needs_smtputf8(entry: &Entry, idx: &[usize]) -> bool {
    !entry.from.is_ascii() || idx.iter().any(|&i| !entry.rcpts[i].address.is_ascii())
}

async fn send_all(
    outbound: &Arc<Outbound>,
    mut conn: Connection,
    caps: &EhloResponse,
    domain: &str,
    batch: &[Entry],
    smarthost: bool,
) -> (Vec<Vec<(usize, Outcome)>>, Option<Connection>) {
    let mut results = Vec::with_capacity(batch.len());
    let mut broken: Option<Attempt> = None;
    let offers_dsn = caps.has(&Capability::Dsn);
    for entry in batch {
        let idx = targets(entry, domain);
        if let Some(a) = &broken {
            results.push(each(idx, &Outcome::Deferred(a.clone())));
            continue;
        }
        let fail_all = |reply: &str| -> Vec<(usize, Outcome)> {
            idx.iter()
                .map(|&i| (i, Outcome::Failed(attempt(Some(&conn.remote), reply))))
                .collect()
        };
        if needs_smtputf8(entry, &idx) && !caps.has(&Capability::SmtpUtf8) {
            results.push(fail_all(&own_reply(
                553,
                (5, 6, 7),
                "The destination does not support SMTPUTF8 (RFC 6531) addresses",
            )));
            continue;
        }
        let body = match load_body(outbound, entry).await {
            Ok(b) => b,
            Err(e) => {
                let a = attempt(
                    None,
                    own_reply(451, (4, 3, 0), format!("queue file unreadable: {e}")),
                );
                results.push(each(idx, &Outcome::Deferred(a)));
                continue;
            }
        };
        let (eight_bit, len) = match &body {
            Body::Whole(b) => (!b.is_ascii(), b.len() as u64),
            Body::Streamed(scan) => (scan.eight_bit, entry.size),
        };
        if eight_bit && !caps.has(&Capability::EightBitMime) {
            results.push(fail_all(&own_reply(
                554,
                (5, 6, 3),
                "The message has 8-bit content and the destination does not offer 8BITMIME",
            )));
            continue;
        }
        if let Some(max) = caps.size()
            && len > max
        {
            results.push(fail_all(&own_reply(
                552,
                (5, 3, 4),
                format!("Message too big for the destination (its limit is {max} bytes)"),
            )));
            continue;
        }
        let from = if entry.from.is_empty() {
            ReversePath::Null
        } else {
            match Mailbox::try_from(entry.from.as_str()) {
                Ok(m) => ReversePath::Mailbox(m),
                Err(_) => ReversePath::Null,
            }
        };
        let mut rcpt_idx = Vec::new();
        let mut outcomes = Vec::new();
        let mut paths = Vec::new();
        for &i in &idx {
            match Mailbox::try_from(entry.rcpts[i].address.as_str()) {
                Ok(m) => {
                    rcpt_idx.push(i);
                    let mut params = RcptParameters::default();
                    if offers_dsn {
                        params.notify = entry.rcpts[i].dsn.notify;
                        params.orcpt.clone_from(&entry.rcpts[i].dsn.orcpt);
                    }
                    paths.push((ForwardPath::Mailbox(m), params));
                }
                Err(_) => outcomes.push((
                    i,
                    Outcome::Failed(attempt(
                        None,
                        own_reply(553, (5, 1, 3), "Invalid recipient address"),
                    )),
                )),
            }
        }
        if paths.is_empty() {
            results.push(outcomes);
            continue;
        }
        // Anything but the transaction's result breaks the connection: this message and the
        // rest of the batch are deferred.
        let mut envelope = Envelope::new(from, std::iter::empty());
        envelope.rcpts = paths;
        if offers_dsn {
            // RFC 3461 §4: the DSN request travels on to a server that offers DSN.
            envelope.params.ret = entry.dsn.ret;
            envelope.params.envid.clone_from(&entry.dsn.envid);
        }
        conn.sent += 1;
        let started = match body {
            Body::Whole(b) => conn.machine.send_message(envelope, b),
            Body::Streamed(scan) => conn.machine.send_message_streamed(
                envelope,
                BodyInfo {
                    size: Some(entry.size),
                    eight_bit: scan.eight_bit,
                },
            ),
        };
        let sent = match started {
            Err(e) => Err(e.to_string()),
            Ok(()) => conn.transaction(outbound, entry).await,
        };
        match sent {
            Ok(result) => {
                outcomes.extend(transaction_outcomes(
                    &conn.remote,
                    &rcpt_idx,
                    &result,
                    offers_dsn,
                    smarthost,
                ));
            }
            Err(reason) => {
                let a = attempt(Some(&conn.remote), own_reply(451, (4, 4, 2), &reason));
                outcomes.extend(each(
                    rcpt_idx.iter().copied(),
                    &Outcome::Deferred(a.clone()),
                ));
                broken = Some(a);
            }
        }
        results.push(outcomes);
    }
    (results, broken.is_none().then_some(conn))
}

/// Maps the replies of one transaction onto the recipients it carried.
fn transaction_outcomes(
    remote: &str,
    rcpt_idx: &[usize],
    result: &TransactionResult,
    dsn: bool,
    smarthost: bool,
) -> Vec<(usize, Outcome)> {
    if let Some(mail) = &result.mail
        && !mail.is_positive()
    {
        let o = reply_outcome(remote, mail, dsn, smarthost);
        return rcpt_idx.iter().map(|&i| (i, o.clone())).collect();
    }
    let data = result.data.first();
    rcpt_idx
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let outcome = match result.rcpts.get(n) {
                Some(r) if !r.is_positive() => reply_outcome(remote, r, dsn, smarthost),
                Some(_) => match data {
                    Some(d) => reply_outcome(remote, d, dsn, smarthost),
                    None => Outcome::Deferred(attempt(
                        Some(remote),
                        own_reply(451, (4, 4, 2), "no reply to the data"),
                    )),
                },
                None => Outcome::Deferred(attempt(
                    Some(remote),
                    own_reply(451, (4, 4, 2), "recipient not answered"),
                )),
            };
            (i, outcome)
        })
        .collect()
}

/// Applies an attempt's outcomes, schedules the next try or finishes the message, and queues the
/// reports owed to the sender. Blocking.
fn settle(outbound: &Outbound, mut entry: Entry, domain: &str, outcomes: Vec<(usize, Outcome)>) {
    let out = &outbound.core.config.outbound;
    let now = queue::now_secs();
    let mut deferred = false;
    let mut succeeded = Vec::new();
    let failed_before: Vec<usize> = entry
        .rcpts
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.status, RcptStatus::Failed(_)))
        .map(|(i, _)| i)
        .collect();
    for (i, outcome) in outcomes {
        let to = entry.rcpts[i].address.clone();
        entry.rcpts[i].status = match outcome {
            Outcome::Delivered(a, notice) => {
                info!(id = %entry.id, from = %entry.from, %to, relay = a.remote.as_deref().unwrap_or("local"), status = "sent", reply = %a.reply);
                if let Some(action) = notice
                    && entry.rcpts[i].dsn.wants(Notice::Success)
                {
                    succeeded.push((i, action, a.clone()));
                }
                RcptStatus::Delivered(a)
            }
            Outcome::Failed(a) => {
                warn!(id = %entry.id, from = %entry.from, %to, relay = a.remote.as_deref().unwrap_or("-"), status = "bounced", reply = %a.reply);
                RcptStatus::Failed(a)
            }
            Outcome::Deferred(a) => {
                info!(id = %entry.id, from = %entry.from, %to, relay = a.remote.as_deref().unwrap_or("-"), status = "deferred", reply = %a.reply);
                deferred = true;
                RcptStatus::Pending(Some(a))
            }
        };
    }
    // Each destination backs off on its own: a deferral here leaves the other domains' recipients
    // due when they were.
    if deferred {
        entry.attempts += 1;
        let schedule = &out.retry_schedule_secs;
        let wait = entry.waits.entry(domain.to_owned()).or_insert((0, now));
        wait.0 += 1;
        wait.1 = now + schedule[(wait.0 as usize - 1).min(schedule.len() - 1)];
    } else {
        entry.waits.remove(domain);
    }
    let mut failed_now: Vec<usize> = entry
        .rcpts
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.status, RcptStatus::Failed(_)))
        .map(|(i, _)| i)
        .filter(|i| !failed_before.contains(i))
        .collect();
    if !entry.is_done() && now.saturating_sub(entry.created) >= out.max_lifetime_secs {
        for (i, r) in entry.rcpts.iter_mut().enumerate() {
            if let RcptStatus::Pending(last) = &r.status {
                let reason = last
                    .as_ref()
                    .map_or_else(String::new, |a| format!(": {}", a.reply));
                r.status = RcptStatus::Failed(Attempt {
                    remote: last.as_ref().and_then(|a| a.remote.clone()),
                    reply: format!("550 4.4.7 Delivery time expired{reason}"),
                });
                failed_now.push(i);
            }
        }
    }
    let pending_domains: std::collections::BTreeSet<String> =
        entry.pending().map(|(_, r)| r.domain()).collect();
    entry.waits.retain(|d, _| pending_domains.contains(d));
    entry.next_attempt = entry.earliest_due().unwrap_or(now).max(now);
    for action in [Action::Delivered, Action::Relayed] {
        let rcpts: Vec<(usize, &Attempt)> = succeeded
            .iter()
            .filter(|(_, a, _)| *a == action)
            .map(|(i, _, attempt)| (*i, attempt))
            .collect();
        if !rcpts.is_empty() {
            report(outbound, &entry, &rcpts, action);
        }
    }
    // The recipients that failed in this attempt are reported now, not when the message is done
    // (one report per message per batch of failures, as Postfix does).
    let failed: Vec<(usize, &Attempt)> = failed_now
        .iter()
        .filter_map(|&i| match &entry.rcpts[i].status {
            RcptStatus::Failed(a) if entry.rcpts[i].dsn.wants(Notice::Failure) => Some((i, a)),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        report(outbound, &entry, &failed, Action::Failed);
    }
    if !entry.is_done()
        && out.delay_warning_secs > 0
        && !entry.warned
        && now.saturating_sub(entry.created) >= out.delay_warning_secs
    {
        let pending: Vec<(usize, &Attempt)> = entry
            .rcpts
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match &r.status {
                RcptStatus::Pending(Some(a)) if r.dsn.wants(Notice::Delay) => Some((i, a)),
                _ => None,
            })
            .collect();
        if !pending.is_empty() {
            report(outbound, &entry, &pending, Action::Delayed);
        }
        entry.warned = true;
    }
    if let Err(e) = outbound.queue.finish(entry) {
        warn!("queue: cannot record delivery state: {e}");
    }
}

/// Queues a report to the sender of `entry` about the recipients at the given indices (those
/// that asked for it; see `RcptDsn::wants`). The original is copied from the queue file.
fn report(outbound: &Outbound, entry: &Entry, rcpts: &[(usize, &Attempt)], action: Action) {
    let listed: Vec<dsn::ReportRcpt<'_>> = rcpts
        .iter()
        .map(|(i, attempt)| dsn::ReportRcpt {
            address: &entry.rcpts[*i].address,
            orcpt: entry.rcpts[*i].dsn.orcpt.as_ref(),
            attempt,
        })
        .collect();
    let about = dsn::Report::for_entry(
        &outbound.core.config.hostname,
        entry,
        action,
        outbound.core.config.outbound.bounce_size_limit,
    );
    let original = match outbound.queue.open_message(entry) {
        Ok(file) => file,
        Err(e) => {
            warn!(id = %entry.id, "cannot queue the delivery report: queue file unreadable: {e}");
            return;
        }
    };
    let Some(mut dsn) = dsn::build(&about, &listed, SystemTime::now(), original) else {
        if entry.from.is_empty() || entry.kind == Kind::Report {
            info!(id = %entry.id, "no report: the message came from the null sender");
        }
        return;
    };
    match outbound.queue.enqueue(
        "",
        std::slice::from_ref(&entry.from),
        Kind::Report,
        b"",
        &mut dsn,
        queue::now_secs(),
    ) {
        Ok(id) => {
            info!(id = %entry.id, report = %id, to = %entry.from, ?action, "delivery report queued");
        }
        Err(e) => warn!(id = %entry.id, "cannot queue the delivery report: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relayhost_forms() {
        assert_eq!(
            split_host_port("[127.0.0.1]:2525"),
            ("127.0.0.1".into(), 2525)
        );
        assert_eq!(
            split_host_port("smtp.example.org:587"),
            ("smtp.example.org".into(), 587)
        );
        assert_eq!(
            split_host_port("smtp.example.org"),
            ("smtp.example.org".into(), 25)
        );
        assert_eq!(split_host_port("[::1]:26"), ("::1".into(), 26));
    }
}
