//! A concurrency checker for IMAP servers: many sessions of one user share one mailbox and run
//! a random mix of APPEND, STORE, EXPUNGE, FETCH, COPY, SEARCH and NOOP for a bounded time. At
//! each checkpoint every session stops, sends NOOP, and must then agree with every other on the
//! message count, the UIDs in sequence order and each message's flags (and MODSEQ, for the
//! sessions with CONDSTORE). Every command must complete OK: a NO, a BAD, a BYE or a lost
//! connection is a failure. Used by `examples/imap_check.rs` and by `tests/server_imap_load.rs`,
//! which runs it against our server and against Dovecot (the proof that the checker is right).
//!
//! Each session keeps the client-side model a real client keeps: the UID and flags of every
//! message number, from SELECT and the untagged EXISTS, EXPUNGE and FETCH responses only (a
//! message learnt by EXISTS is asked for with `FETCH n:m (UID FLAGS)`, as clients do). Checked
//! as it goes (RFC 3501 §7.2-§7.4):
//! - an EXPUNGE or FETCH never names a message past the count; EXISTS never shrinks the count;
//! - a FETCH's UID is the UID the session knows for that number;
//! - APPENDUID and COPYUID come with the UIDVALIDITY of SELECT, new UIDs above every UID the
//!   session knew; a FETCH of a message the session put there returns its octets;
//! - `SEARCH ALL` is exactly the session's messages; a SEARCH for a message's Message-ID
//!   finds that message and no other; UID EXPUNGE of a `\Deleted` message removes it;
//! - at a checkpoint, a fresh `FETCH 1:* (UID FLAGS)` shows nothing the untagged responses had
//!   not told (a change another session made must have been reported); a message is `\Recent`
//!   in one session only, and in exactly one when it arrived after the sessions selected.
//!
//! What keeps a correct server free of NO: a session expunges and copies only messages it put
//! there itself (`UID STORE +FLAGS.SILENT (\Deleted)`, then `UID EXPUNGE` or EXPUNGE), and no
//! STORE removes `\Deleted`; so no COPY meets a message expunged meanwhile. FETCH and STORE go
//! to any message; a FETCH of one expunged meanwhile may complete `OK [EXPUNGEISSUED]`
//! (counted). Operations are chosen by a seeded generator; the interleaving is the scheduler's.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailwright::imap::{Atom, ClientEvent, Code, CommandBody, StatusKind, Vec1};

use super::imap_check_model::{Reading, Slot, range};
use super::imap_client::{Conn, Rng, mailbox};

#[derive(Debug, Clone)]
pub(crate) struct CheckConfig {
    /// `host:port` of the server; several separated by commas (nodes sharing one store):
    /// session `i` connects to the `i`-th, round robin.
    pub(crate) addr: String,
    /// The user every session logs in as.
    pub(crate) user: String,
    /// Its password.
    pub(crate) password: String,
    /// The shared mailbox.
    pub(crate) mailbox: String,
    /// A second mailbox that some COPYs go to (created when missing).
    pub(crate) side_mailbox: String,
    /// Concurrent sessions.
    pub(crate) sessions: usize,
    /// How long the sessions run.
    pub(crate) duration: Duration,
    /// Time between checkpoints (the last one is at the end).
    pub(crate) checkpoint_every: Duration,
    /// Messages each session APPENDs before the run.
    pub(crate) preload: usize,
    /// Seed of the operation choices (session `i` uses `seed + i`).
    pub(crate) seed: u64,
    /// How long one command may take.
    pub(crate) command_timeout: Duration,
    /// A message that arrived while every session had the mailbox selected must be `\Recent`
    /// in exactly one session (ours does so; Dovecot sometimes in none, which RFC 3501 §2.3.2
    /// does not quite allow). Without it: in one session at most.
    pub(crate) strict_recent: bool,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            addr: "127.0.0.1:2143".into(),
            user: String::new(),
            password: String::new(),
            mailbox: "INBOX".into(),
            side_mailbox: "Check-side".into(),
            sessions: 10,
            duration: Duration::from_secs(5),
            checkpoint_every: Duration::from_secs(1),
            preload: 4,
            seed: 1,
            command_timeout: Duration::from_secs(30),
            strict_recent: false,
        }
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub(crate) struct CheckReport {
    /// Commands sent.
    pub(crate) commands: u64,
    /// Checkpoints every session took part in.
    pub(crate) checkpoints: u64,
    /// FETCHes that completed `OK [EXPUNGEISSUED]` (a message expunged by another session).
    pub(crate) expunge_issued: u64,
    /// NO, BAD, BYE, lost connections.
    pub(crate) failures: Vec<String>,
    /// Broken rules (module docs) and disagreements at checkpoints.
    pub(crate) disagreements: Vec<String>,
}

impl CheckReport {
    /// No failure, no disagreement.
    pub(crate) fn passed(&self) -> bool {
        self.failures.is_empty() && self.disagreements.is_empty()
    }

    /// A human summary, ending with one `RESULT` line.
    pub(crate) fn summary(&self) -> String {
        let mut out = String::new();
        for (what, list) in [
            ("failure", &self.failures),
            ("disagreement", &self.disagreements),
        ] {
            for e in list.iter().take(20) {
                let _ = writeln!(out, "{what}: {e}");
            }
        }
        let _ = writeln!(
            out,
            "RESULT commands={} checkpoints={} expungeissued={} failures={} disagreements={}",
            self.commands,
            self.checkpoints,
            self.expunge_issued,
            self.failures.len(),
            self.disagreements.len()
        );
        out
    }

    fn merge(&mut self, other: CheckReport) {
        self.commands += other.commands;
        self.checkpoints = self.checkpoints.max(other.checkpoints);
        self.expunge_issued += other.expunge_issued;
        self.failures.extend(other.failures);
        self.disagreements.extend(other.disagreements);
    }
}

/// Runs the check.
pub(crate) async fn run(cfg: CheckConfig) -> CheckReport {
    let sessions = cfg.sessions.max(2);
    let checkpoints = (cfg.duration.as_secs_f64() / cfg.checkpoint_every.as_secs_f64().max(0.001))
        .ceil()
        .max(1.0) as u64;
    // Message-IDs unique to this run, so a mailbox used before holds none of them.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let shared = Arc::new(Shared {
        barrier: tokio::sync::Barrier::new(sessions),
        snapshots: Mutex::new(vec![None; sessions]),
        first_uid_next: Mutex::new(u32::MAX),
        nonce,
        strict_recent: cfg.strict_recent,
    });
    let cfg = Arc::new(cfg);
    let tasks: Vec<_> = (0..sessions)
        .map(|id| tokio::spawn(session(id, cfg.clone(), shared.clone(), checkpoints)))
        .collect();
    let mut total = CheckReport::default();
    for t in tasks {
        match t.await {
            Ok(r) => total.merge(r),
            Err(e) => total.failures.push(format!("a session panicked: {e}")),
        }
    }
    total
}

/// What the sessions share: the checkpoint barrier and their views at a checkpoint.
struct Shared {
    barrier: tokio::sync::Barrier,
    snapshots: Mutex<Vec<Option<Snapshot>>>,
    /// The smallest UIDNEXT a session saw at SELECT: messages from there on arrived while every
    /// session had the mailbox selected.
    first_uid_next: Mutex<u32>,
    /// Makes this run's Message-IDs unique.
    nonce: u64,
    /// [`CheckConfig::strict_recent`].
    strict_recent: bool,
}

/// One session's view at a checkpoint.
#[derive(Debug, Clone)]
struct Snapshot {
    uids: Vec<u32>,
    flags: Vec<BTreeSet<String>>,
    recent: Vec<bool>,
    /// From the checkpoint's FETCH, for CONDSTORE sessions.
    modseqs: Option<Vec<u64>>,
    own: BTreeSet<u32>,
}

/// One session of the run.
pub(crate) struct Checker {
    pub(crate) id: usize,
    pub(crate) conn: Conn,
    pub(crate) cfg: Arc<CheckConfig>,
    pub(crate) rng: Rng,
    pub(crate) slots: Vec<Slot>,
    pub(crate) uid_validity: u32,
    pub(crate) uid_next_at_select: u32,
    pub(crate) condstore: bool,
    pub(crate) nonce: u64,
    /// The numbers of the last SEARCH response.
    pub(crate) last_search: Vec<u32>,
    /// UIDs this session put into the shared mailbox, with their octets.
    pub(crate) own: HashMap<u32, Arc<Vec<u8>>>,
    pub(crate) appended: u64,
    pub(crate) report: CheckReport,
    /// The connection is lost: the session only takes part in the checkpoints.
    pub(crate) dead: bool,
}

async fn session(
    id: usize,
    cfg: Arc<CheckConfig>,
    shared: Arc<Shared>,
    checkpoints: u64,
) -> CheckReport {
    let mut checker = match Checker::connect(id, cfg.clone(), shared.nonce).await {
        Ok(c) => c,
        Err(e) => {
            let mut r = CheckReport::default();
            r.failures.push(format!("session {id}: setup failed: {e}"));
            // Still take part in the setup and every checkpoint: the others wait for all.
            shared.barrier.wait().await;
            shared.barrier.wait().await;
            for _ in 0..checkpoints {
                shared.barrier.wait().await;
                r.disagreements.extend(take_part(&shared, id, None).await);
            }
            return r;
        }
    };
    {
        let mut first = shared.first_uid_next.lock().expect("lock");
        *first = (*first).min(checker.uid_next_at_select);
    }
    shared.barrier.wait().await;
    for _ in 0..cfg.preload {
        checker.append().await;
        checker.complete().await;
    }
    shared.barrier.wait().await;
    let start = Instant::now();
    for k in 1..=checkpoints {
        let at = start + cfg.checkpoint_every.mul_f64(k as f64);
        let at = at.min(start + cfg.duration);
        while Instant::now() < at && !checker.dead {
            checker.step().await;
        }
        checker.checkpoint(&shared, k).await;
    }
    if !checker.dead {
        let _ = checker.conn.command(CommandBody::Logout).await;
    }
    checker.report
}

/// A checkpoint after the first barrier: publishes this session's view, lets session 0 compare
/// them all, and returns what it found.
async fn take_part(shared: &Shared, id: usize, snapshot: Option<Snapshot>) -> Vec<String> {
    shared.snapshots.lock().expect("lock")[id] = snapshot;
    shared.barrier.wait().await;
    let found = if id == 0 {
        compare(
            &shared.snapshots.lock().expect("lock"),
            *shared.first_uid_next.lock().expect("lock"),
            shared.strict_recent,
        )
    } else {
        Vec::new()
    };
    // Nobody writes the next snapshots before session 0 has compared these.
    shared.barrier.wait().await;
    found
}

/// The disagreements between the sessions' views at one checkpoint.
fn compare(
    snapshots: &[Option<Snapshot>],
    first_uid_next: u32,
    strict_recent: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let live: Vec<(usize, &Snapshot)> = snapshots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
        .collect();
    let Some(&(first, base)) = live.first() else {
        return out;
    };
    for &(i, s) in &live[1..] {
        if s.uids != base.uids {
            let at = s
                .uids
                .iter()
                .zip(&base.uids)
                .position(|(a, b)| a != b)
                .unwrap_or(s.uids.len().min(base.uids.len()));
            out.push(format!(
                "session {i} has {} messages, session {first} {}; first difference at message {}: UID {:?} against {:?}",
                s.uids.len(),
                base.uids.len(),
                at + 1,
                s.uids.get(at),
                base.uids.get(at)
            ));
            continue;
        }
        for (k, uid) in s.uids.iter().enumerate() {
            if s.flags[k] != base.flags[k] {
                out.push(format!(
                    "UID {uid}: session {i} has flags {:?}, session {first} {:?}",
                    s.flags[k], base.flags[k]
                ));
            }
        }
    }
    // MODSEQ, among the sessions that asked for it.
    let with_modseq: Vec<(usize, &Vec<u64>)> = live
        .iter()
        .filter_map(|(i, s)| s.modseqs.as_ref().map(|m| (*i, m)))
        .collect();
    if let Some(&(first, base_m)) = with_modseq.first() {
        for &(i, m) in &with_modseq[1..] {
            if m != base_m && live.iter().all(|(_, s)| s.uids == base.uids) {
                out.push(format!(
                    "sessions {i} and {first} were told different MODSEQs"
                ));
            }
        }
    }
    for &(i, s) in &live {
        let have: BTreeSet<u32> = s.uids.iter().copied().collect();
        for uid in &s.own {
            if !have.contains(uid) {
                out.push(format!(
                    "session {i} put UID {uid} there and nobody expunged it, but it is gone"
                ));
            }
        }
    }
    // \Recent (RFC 3501 §2.3.2): in one session at most. (Exactly one, for what arrived while
    // every session had the mailbox selected, is what we give; Dovecot sometimes gives none.)
    if live.iter().all(|(_, s)| s.uids == base.uids) {
        for (k, uid) in base.uids.iter().enumerate() {
            let n = live.iter().filter(|(_, s)| s.recent[k]).count();
            if n > 1 || (strict_recent && n == 0 && *uid >= first_uid_next) {
                out.push(format!("UID {uid} is \\Recent in {n} sessions"));
            }
        }
    }
    out
}

impl Checker {
    async fn connect(id: usize, cfg: Arc<CheckConfig>, nonce: u64) -> std::io::Result<Checker> {
        let addrs: Vec<&str> = cfg.addr.split(',').collect();
        let addr = addrs[id % addrs.len()];
        let conn = Conn::connect(addr, false, 64 * 1024, cfg.command_timeout).await?;
        let mut c = Checker {
            id,
            conn,
            rng: Rng::new(cfg.seed.wrapping_add(id as u64)),
            cfg,
            slots: Vec::new(),
            uid_validity: 0,
            uid_next_at_select: 0,
            condstore: id.is_multiple_of(2),
            nonce,
            last_search: Vec::new(),
            own: HashMap::new(),
            appended: 0,
            report: CheckReport::default(),
            dead: false,
        };
        let (user, password) = (c.cfg.user.clone(), c.cfg.password.clone());
        c.conn.login(&user, &password).await?;
        if id == 0 {
            c.ensure_side_mailbox().await?;
        }
        if c.condstore {
            let r = c
                .conn
                .command(CommandBody::Enable {
                    capabilities: Vec1::one(Atom::try_from("CONDSTORE").expect("atom")),
                })
                .await?;
            if r.status.kind != StatusKind::Ok {
                return Err(std::io::Error::other("ENABLE CONDSTORE refused"));
            }
        }
        let r = c
            .conn
            .command(CommandBody::Select {
                mailbox: mailbox(&c.cfg.mailbox),
                condstore: false,
                qresync: None,
            })
            .await?;
        if r.status.kind != StatusKind::Ok {
            return Err(std::io::Error::other(format!(
                "SELECT refused: {}",
                r.status.text.as_str()
            )));
        }
        for ev in &r.untagged {
            if let ClientEvent::Status(s) = ev {
                match &s.code {
                    Some(Code::UidValidity(v)) => c.uid_validity = v.get(),
                    Some(Code::UidNext(n)) => c.uid_next_at_select = n.get(),
                    _ => {}
                }
            }
        }
        c.read(&r, Reading::default());
        c.complete().await;
        Ok(c)
    }

    async fn ensure_side_mailbox(&mut self) -> std::io::Result<()> {
        let name = mailbox(&self.cfg.side_mailbox);
        let r = self
            .conn
            .command(CommandBody::Status {
                mailbox: name.clone(),
                items: Vec1::one(mailwright::imap::types::command::StatusItem::Messages),
            })
            .await?;
        if r.status.kind != StatusKind::Ok {
            self.conn.command(CommandBody::create(name)).await?;
        }
        Ok(())
    }

    /// All sessions stopped at the barrier: NOOP, a FETCH 1:* that must tell nothing new, then
    /// the view goes to session 0 for comparison.
    async fn checkpoint(&mut self, shared: &Shared, k: u64) {
        shared.barrier.wait().await;
        if !self.dead {
            self.cmd("NOOP", CommandBody::Noop, Reading::default())
                .await;
            if !self.complete().await && !self.dead {
                self.disagree("FETCH (UID FLAGS) left messages unknown, nothing changing");
            }
        }
        if !self.dead && !self.slots.is_empty() {
            let body = CommandBody::Fetch {
                uid: false,
                set: range(1, u32::try_from(self.slots.len()).unwrap_or(u32::MAX)),
                items: self.fetch_items(),
                changed_since: None,
                vanished: false,
            };
            let how = Reading {
                verify: true,
                ..Reading::default()
            };
            self.cmd("FETCH", body, how).await;
        }
        let snapshot = (!self.dead).then(|| Snapshot {
            uids: self.slots.iter().map(|s| s.uid.unwrap_or(0)).collect(),
            flags: self
                .slots
                .iter()
                .map(|s| s.flags.clone().unwrap_or_default())
                .collect(),
            recent: self.slots.iter().map(|s| s.recent).collect(),
            modseqs: self
                .condstore
                .then(|| self.slots.iter().map(|s| s.modseq.unwrap_or(0)).collect()),
            own: self.own.keys().copied().collect(),
        });
        let found = take_part(shared, self.id, snapshot).await;
        self.report.checkpoints = k;
        for f in found {
            self.disagree(&format!("checkpoint {k}: {f}"));
        }
    }
}
