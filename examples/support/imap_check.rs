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
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailwright::imap::types::command::{
    FetchAttribute, FetchItems, SearchKey, Section, SectionText, StoreKind,
};
use mailwright::imap::types::datetime::Date;
use mailwright::imap::types::flag::{Flag, FlagFetch};
use mailwright::imap::types::response::FetchItem;
use mailwright::imap::types::sequence::{SeqItem, SeqNumber, SequenceSet};
use mailwright::imap::{
    Atom, ClientEvent, Code, CommandBody, Data, Literal, LiteralMode, NString, StatusKind, Vec1,
};

use super::imap_client::{Conn, Reply, Rng, astring, mailbox};

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct CheckConfig {
    /// `host:port` of the server.
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
                out.push_str(&format!("{what}: {e}\n"));
            }
        }
        out.push_str(&format!(
            "RESULT commands={} checkpoints={} expungeissued={} failures={} disagreements={}\n",
            self.commands,
            self.checkpoints,
            self.expunge_issued,
            self.failures.len(),
            self.disagreements.len()
        ));
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

/// One message number as the session knows it.
#[derive(Debug, Clone, Default)]
struct Slot {
    uid: Option<u32>,
    /// Case-folded, without `\Recent`.
    flags: Option<BTreeSet<String>>,
    recent: bool,
    modseq: Option<u64>,
}

/// One session of the run.
struct Checker {
    id: usize,
    conn: Conn,
    cfg: Arc<CheckConfig>,
    rng: Rng,
    slots: Vec<Slot>,
    uid_validity: u32,
    uid_next_at_select: u32,
    condstore: bool,
    nonce: u64,
    /// The numbers of the last SEARCH response.
    last_search: Vec<u32>,
    /// UIDs this session put into the shared mailbox, with their octets.
    own: HashMap<u32, Arc<Vec<u8>>>,
    appended: u64,
    report: CheckReport,
    /// The connection is lost: the session only takes part in the checkpoints.
    dead: bool,
}

/// How the responses of one command are read.
#[derive(Debug, Clone, Copy, Default)]
struct Reading {
    /// The command is a UID command (its SEARCH results are UIDs).
    uid: bool,
    /// FLAGS that differ from the session's model are a missed update (the checkpoint FETCH).
    verify: bool,
}

/// The flag pool of STORE and APPEND: system flags and 30 keywords (past the 26 letters a
/// Maildir names).
fn pool(i: u32) -> Flag<'static> {
    match i {
        0 => Flag::Seen,
        1 => Flag::Flagged,
        2 => Flag::Answered,
        3 => Flag::Draft,
        i => Flag::Keyword(Atom::try_from(format!("k{:02}", (i - 4) % 30)).expect("atom")),
    }
}
const POOL: u32 = 34;

fn flag_name(f: &Flag<'_>) -> String {
    match f {
        Flag::Answered => "\\answered".into(),
        Flag::Flagged => "\\flagged".into(),
        Flag::Deleted => "\\deleted".into(),
        Flag::Seen => "\\seen".into(),
        Flag::Draft => "\\draft".into(),
        Flag::Keyword(k) => k.as_str().to_ascii_lowercase(),
        Flag::Extension(e) => format!("\\{}", e.as_str().to_ascii_lowercase()),
    }
}

fn flag_set(flags: &[FlagFetch<'_>]) -> (BTreeSet<String>, bool) {
    let mut set = BTreeSet::new();
    let mut recent = false;
    for f in flags {
        match f {
            FlagFetch::Flag(f) => {
                set.insert(flag_name(f));
            }
            FlagFetch::Recent => recent = true,
        }
    }
    (set, recent)
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn set_of(numbers: &[u32]) -> SequenceSet {
    let items: Vec<SeqItem> = numbers
        .iter()
        .map(|&n| SeqItem::Single(SeqNumber::Value(nz(n))))
        .collect();
    SequenceSet::try_from(items).expect("non-empty")
}

fn range(lo: u32, hi: u32) -> SequenceSet {
    SequenceSet::try_from(vec![SeqItem::Range(
        SeqNumber::Value(nz(lo)),
        SeqNumber::Value(nz(hi)),
    )])
    .expect("one item")
}

/// The numbers of a set of values (UIDPLUS data), in order.
fn expand(set: &SequenceSet) -> Vec<u32> {
    let mut out = Vec::new();
    for item in set.items() {
        match item {
            SeqItem::Single(SeqNumber::Value(v)) => out.push(v.get()),
            SeqItem::Range(SeqNumber::Value(a), SeqNumber::Value(b)) => {
                let (a, b) = (a.get().min(b.get()), a.get().max(b.get()));
                out.extend(a..=b);
            }
            _ => {}
        }
    }
    out
}

fn section(text: Option<SectionText<'static>>) -> Section<'static> {
    Section::new(Vec::new(), text).expect("valid section")
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
        let conn = Conn::connect(&cfg.addr, false, 64 * 1024, cfg.command_timeout).await?;
        let mut c = Checker {
            id,
            conn,
            rng: Rng::new(cfg.seed.wrapping_add(id as u64)),
            cfg,
            slots: Vec::new(),
            uid_validity: 0,
            uid_next_at_select: 0,
            condstore: id % 2 == 0,
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
            self.conn
                .command(CommandBody::Create { mailbox: name })
                .await?;
        }
        Ok(())
    }

    fn fail(&mut self, what: String) {
        if self.report.failures.len() < 100 {
            self.report
                .failures
                .push(format!("session {}: {what}", self.id));
        }
    }

    fn disagree(&mut self, what: String) {
        if self.report.disagreements.len() < 100 {
            self.report
                .disagreements
                .push(format!("session {}: {what}", self.id));
        }
    }

    /// Sends a command and reads its responses into the model; a NO, BAD or lost connection is
    /// a failure. `None` when the connection is lost.
    async fn cmd(&mut self, name: &str, body: CommandBody<'_>, how: Reading) -> Option<Reply> {
        if self.dead {
            return None;
        }
        self.report.commands += 1;
        match self.conn.command(body).await {
            Err(e) => {
                self.fail(format!("{name}: connection lost: {e}"));
                self.dead = true;
                None
            }
            Ok(r) => {
                self.read(&r, how);
                if r.status.kind == StatusKind::Ok {
                    if matches!(&r.status.code, Some(Code::Other(a, _)) if a.as_str() == "EXPUNGEISSUED")
                    {
                        self.report.expunge_issued += 1;
                    }
                } else {
                    self.fail(format!(
                        "{name} answered {:?} {}",
                        r.status.kind,
                        r.status.text.as_str()
                    ));
                }
                Some(r)
            }
        }
    }

    /// Applies a command's untagged responses to the model, in order, checking them.
    fn read(&mut self, r: &Reply, how: Reading) {
        for ev in &r.untagged {
            match ev {
                ClientEvent::Data(d) => self.data(d, how),
                ClientEvent::Status(s) if s.kind == StatusKind::Bye => {
                    self.fail(format!("BYE {}", s.text.as_str()));
                }
                ClientEvent::Malformed { error } => {
                    self.disagree(format!("unreadable response: {error:?}"));
                }
                _ => {}
            }
        }
    }

    fn data(&mut self, d: &Data<'_>, how: Reading) {
        match d {
            Data::Exists(n) => {
                let n = *n as usize;
                if n < self.slots.len() {
                    let msg = format!(
                        "EXISTS {n} below the {} messages the session knows, without EXPUNGE",
                        self.slots.len()
                    );
                    self.disagree(msg);
                } else {
                    self.slots.resize(n, Slot::default());
                }
            }
            Data::Expunge(k) => {
                let k = k.get() as usize;
                if k > self.slots.len() {
                    let msg = format!("EXPUNGE {k} past the {} messages", self.slots.len());
                    self.disagree(msg);
                } else {
                    self.slots.remove(k - 1);
                }
            }
            Data::Fetch { seq, items } => self.fetched(seq.get() as usize, items, how),
            Data::Search { ids, .. } => {
                let ids: Vec<u32> = ids.iter().map(|n| n.get()).collect();
                self.searched(&ids, how);
                self.last_search = ids;
            }
            _ => {}
        }
    }

    fn fetched(&mut self, n: usize, items: &Vec1<FetchItem<'_>>, how: Reading) {
        if n == 0 || n > self.slots.len() {
            let msg = format!("FETCH {n} past the {} messages", self.slots.len());
            self.disagree(msg);
            return;
        }
        let mut problems = Vec::new();
        let slot = &mut self.slots[n - 1];
        for it in items.iter() {
            match it {
                FetchItem::Uid(u) => match slot.uid {
                    None => slot.uid = Some(u.get()),
                    Some(k) if k != u.get() => problems.push(format!(
                        "FETCH says message {n} is UID {u}, the session knows it as UID {k}"
                    )),
                    Some(_) => {}
                },
                FetchItem::Flags(f) => {
                    let (set, recent) = flag_set(f);
                    // (Not `\Recent`: Dovecot may give it to a session after telling it the
                    // message's flags without it.)
                    if how.verify && slot.flags.as_ref() != Some(&set) {
                        problems.push(format!(
                            "message {n} (UID {:?}) has flags {set:?}, but the session was told {:?}",
                            slot.uid, slot.flags
                        ));
                    }
                    slot.flags = Some(set);
                    slot.recent = recent;
                }
                FetchItem::ModSeq(m) => {
                    if slot.modseq.is_some_and(|old| *m < old) {
                        problems.push(format!(
                            "MODSEQ of message {n} went down from {:?} to {m}",
                            slot.modseq
                        ));
                    }
                    slot.modseq = Some(*m);
                }
                _ => {}
            }
        }
        for p in problems {
            self.disagree(p);
        }
    }

    fn searched(&mut self, ids: &[u32], how: Reading) {
        if how.uid {
            let known: BTreeSet<u32> = self.slots.iter().filter_map(|s| s.uid).collect();
            let complete = self.slots.iter().all(|s| s.uid.is_some());
            let max = known.last().copied().unwrap_or(0);
            for u in ids {
                if complete && *u <= max && !known.contains(u) {
                    self.disagree(format!("UID SEARCH found UID {u}, unknown to the session"));
                }
            }
        } else if let Some(n) = ids.iter().find(|n| **n as usize > self.slots.len()) {
            let msg = format!("SEARCH found message {n} past the {}", self.slots.len());
            self.disagree(msg);
        }
    }

    fn max_uid(&self) -> u32 {
        self.slots.iter().filter_map(|s| s.uid).max().unwrap_or(0)
    }

    fn slot_of(&self, uid: u32) -> Option<usize> {
        self.slots.iter().position(|s| s.uid == Some(uid))
    }

    /// Asks for the UID and flags of the messages the session learnt of by EXISTS only (more
    /// may arrive meanwhile: a few rounds, then the next command goes on).
    async fn complete(&mut self) -> bool {
        for _ in 0..4 {
            let missing = |s: &Slot| s.uid.is_none() || s.flags.is_none();
            let (Some(lo), Some(hi)) = (
                self.slots.iter().position(missing),
                self.slots.iter().rposition(missing),
            ) else {
                return true;
            };
            let set = range(lo as u32 + 1, hi as u32 + 1);
            let items = self.fetch_items();
            self.cmd(
                "FETCH",
                CommandBody::Fetch {
                    uid: false,
                    set,
                    items,
                    changed_since: None,
                },
                Reading::default(),
            )
            .await;
            if self.dead {
                return false;
            }
        }
        self.slots
            .iter()
            .all(|s| s.uid.is_some() && s.flags.is_some())
    }

    fn fetch_items(&self) -> FetchItems<'static> {
        let mut items = vec![FetchAttribute::Uid, FetchAttribute::Flags];
        if self.condstore {
            items.push(FetchAttribute::ModSeq);
        }
        FetchItems::List(Vec1::try_from(items).expect("non-empty"))
    }

    fn message_id(&self, n: u64) -> String {
        format!("<check-{}-{}-{n}@example.net>", self.nonce, self.id)
    }

    fn message(&mut self) -> Vec<u8> {
        let n = self.appended;
        let mut m = format!(
            "From: Checker <check@example.net>\r\nTo: shared@example.org\r\n\
             Subject: check {} {n}\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\
             Message-ID: {}\r\n\r\n",
            self.id,
            self.message_id(n)
        );
        for i in 0..self.rng.below(40) {
            m.push_str(&format!("line {i} of message {} {n}\r\n", self.id));
        }
        m.into_bytes()
    }

    /// A message number (the session has messages): half the time one of the first eight, so
    /// that sessions often work on the same messages.
    fn pick(&mut self) -> u32 {
        let len = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        let hot = if self.rng.below(2) == 0 {
            len.min(8)
        } else {
            len
        };
        self.rng.below(hot) + 1
    }

    /// A random message this session put there.
    fn pick_own(&mut self) -> Option<u32> {
        let mut own: Vec<u32> = self.own.keys().copied().collect();
        own.sort_unstable();
        if own.is_empty() {
            return None;
        }
        let i = self.rng.below(u32::try_from(own.len()).unwrap_or(u32::MAX)) as usize;
        Some(own[i])
    }

    fn random_flags(&mut self, max: u32) -> Vec<Flag<'static>> {
        let mut names = BTreeSet::new();
        let mut out = Vec::new();
        for _ in 0..=self.rng.below(max) {
            let f = pool(self.rng.below(POOL));
            if names.insert(flag_name(&f)) {
                out.push(f);
            }
        }
        out
    }

    /// One random operation, then the model completed.
    async fn step(&mut self) {
        // Keep the mailbox about its size: a session with many messages of its own expunges.
        let crowded = self.own.len() > 3 * self.cfg.preload.max(2);
        match self.rng.below(20) {
            0..=2 if !crowded => self.append().await,
            0..=2 => self.expunge().await,
            3..=7 => self.store().await,
            8..=10 => self.expunge().await,
            11..=14 => self.fetch().await,
            15..=16 if !crowded => self.copy().await,
            15..=16 => self.expunge().await,
            17..=18 => self.search().await,
            _ => {
                self.cmd("NOOP", CommandBody::Noop, Reading::default())
                    .await;
            }
        }
        self.complete().await;
    }

    async fn append(&mut self) {
        self.appended += 1;
        let msg = Arc::new(self.message());
        let flags = if self.rng.below(2) == 0 {
            None
        } else {
            Some(self.random_flags(3))
        };
        let max_known = self.max_uid();
        let body = CommandBody::Append {
            mailbox: mailbox(&self.cfg.mailbox),
            flags,
            date: None,
            message: Literal::new(msg.to_vec(), LiteralMode::Sync).expect("no NUL"),
        };
        let Some(r) = self.cmd("APPEND", body, Reading::default()).await else {
            return;
        };
        if r.status.kind != StatusKind::Ok {
            return;
        }
        match &r.status.code {
            Some(Code::AppendUid { uid_validity, uids }) => {
                let uids = expand(uids);
                if uid_validity.get() != self.uid_validity || uids.len() != 1 {
                    self.disagree(format!(
                        "APPENDUID {uid_validity} {uids:?} (UIDVALIDITY {})",
                        self.uid_validity
                    ));
                }
                if let Some(&u) = uids.first() {
                    if u <= max_known {
                        self.disagree(format!(
                            "APPENDUID {u} not above UID {max_known} the session knew"
                        ));
                    }
                    self.own.insert(u, msg);
                }
            }
            _ => self.disagree("APPEND without APPENDUID".into()),
        }
    }

    async fn store(&mut self) {
        if self.slots.is_empty() {
            return self.append().await;
        }
        let n = self.pick();
        let uid = self.slots[n as usize - 1].uid;
        let by_uid = uid.is_some() && self.rng.below(3) == 0;
        let add = self.rng.below(2) == 0;
        let silent = self.rng.below(5) == 0;
        let flags = self.random_flags(2);
        let names: Vec<String> = flags.iter().map(flag_name).collect();
        let set = set_of(&[if by_uid { uid.unwrap_or(n) } else { n }]);
        let body = CommandBody::Store {
            uid: by_uid,
            set,
            unchanged_since: None,
            kind: if add {
                StoreKind::Add
            } else {
                StoreKind::Remove
            },
            silent,
            flags,
            flags_list: true,
        };
        let name = if by_uid { "UID STORE" } else { "STORE" };
        let how = Reading {
            uid: by_uid,
            ..Reading::default()
        };
        let Some(r) = self.cmd(name, body, how).await else {
            return;
        };
        // .SILENT: the client applies the change it asked for itself.
        if r.status.kind == StatusKind::Ok
            && silent
            && let Some(i) = uid.and_then(|u| self.slot_of(u))
            && let Some(set) = &mut self.slots[i].flags
        {
            for name in names {
                if add {
                    set.insert(name);
                } else {
                    set.remove(&name);
                }
            }
        }
    }

    /// Expunges a message of this session's: `\Deleted` (silently), then UID EXPUNGE or
    /// EXPUNGE (which may take other sessions' `\Deleted` messages with it).
    async fn expunge(&mut self) {
        let Some(uid) = self.pick_own() else {
            return self.append().await;
        };
        let set = set_of(&[uid]);
        let body = CommandBody::Store {
            uid: true,
            set: set.clone(),
            unchanged_since: None,
            kind: StoreKind::Add,
            silent: true,
            flags: vec![Flag::Deleted],
            flags_list: true,
        };
        let uid_reading = Reading {
            uid: true,
            ..Reading::default()
        };
        let Some(r) = self.cmd("UID STORE", body, uid_reading).await else {
            return;
        };
        if r.status.kind != StatusKind::Ok {
            return;
        }
        if let Some(i) = self.slot_of(uid)
            && let Some(set) = &mut self.slots[i].flags
        {
            set.insert("\\deleted".into());
        }
        let r = if self.rng.below(3) == 0 {
            self.cmd("EXPUNGE", CommandBody::Expunge, Reading::default())
                .await
        } else {
            self.cmd("UID EXPUNGE", CommandBody::UidExpunge { set }, uid_reading)
                .await
        };
        self.own.remove(&uid);
        if r.is_some_and(|r| r.status.kind == StatusKind::Ok) && self.slot_of(uid).is_some() {
            self.disagree(format!(
                "UID {uid} is \\Deleted, and still there after EXPUNGE"
            ));
        }
    }

    async fn fetch(&mut self) {
        if self.slots.is_empty() {
            return self.append().await;
        }
        let len = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        let n = self.pick();
        let uid = self.slots[n as usize - 1].uid;
        let peek_all = FetchAttribute::BodySection {
            peek: true,
            section: section(None),
            partial: None,
        };
        let text = FetchAttribute::BodySection {
            peek: false,
            section: section(Some(SectionText::Text)),
            partial: None,
        };
        let message_id = FetchAttribute::BodySection {
            peek: true,
            section: section(Some(SectionText::HeaderFields(Vec1::one(astring(
                "Message-ID",
            ))))),
            partial: None,
        };
        let (by_uid, set, items) = match (self.rng.below(6), uid) {
            (0, _) => (
                false,
                set_of(&[n]),
                vec![FetchAttribute::Flags, FetchAttribute::Uid],
            ),
            (1, _) => (
                false,
                set_of(&[n]),
                vec![
                    FetchAttribute::Uid,
                    FetchAttribute::Rfc822Size,
                    FetchAttribute::InternalDate,
                    FetchAttribute::Envelope,
                ],
            ),
            (2, Some(u)) => (true, set_of(&[u]), vec![peek_all]),
            (3, _) => (
                false,
                range(n, (n + 4).min(len)),
                vec![FetchAttribute::Uid, FetchAttribute::Flags],
            ),
            (4, _) => (false, set_of(&[n]), vec![FetchAttribute::Uid, text]),
            (_, Some(u)) => (true, set_of(&[u]), vec![message_id]),
            (_, None) => (false, set_of(&[n]), vec![FetchAttribute::Uid, peek_all]),
        };
        let body = CommandBody::Fetch {
            uid: by_uid,
            set,
            items: FetchItems::List(Vec1::try_from(items).expect("non-empty")),
            changed_since: None,
        };
        let name = if by_uid { "UID FETCH" } else { "FETCH" };
        let how = Reading {
            uid: by_uid,
            ..Reading::default()
        };
        let Some(r) = self.cmd(name, body, how).await else {
            return;
        };
        self.check_contents(&r, by_uid);
    }

    /// A FETCH of a message this session put there returns its octets.
    fn check_contents(&mut self, r: &Reply, by_uid: bool) {
        let mut problems = Vec::new();
        for ev in &r.untagged {
            let ClientEvent::Data(Data::Fetch { seq, items }) = ev else {
                continue;
            };
            let uid = items
                .iter()
                .find_map(|it| match it {
                    FetchItem::Uid(u) => Some(u.get()),
                    _ => None,
                })
                .or_else(|| {
                    // Without the UID item: a FETCH, which no EXPUNGE interrupts.
                    (!by_uid)
                        .then(|| self.slots.get(seq.get() as usize - 1).and_then(|s| s.uid))
                        .flatten()
                });
            let Some(content) = uid.and_then(|u| self.own.get(&u)) else {
                continue;
            };
            let body_at = content
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(content.len(), |p| p + 4);
            for it in items.iter() {
                let (what, got, want): (&str, &NString<'_>, &[u8]) = match it {
                    FetchItem::BodySection { section, data, .. } => match section.text() {
                        None => ("BODY[]", data, &content[..]),
                        Some(SectionText::Text) => ("BODY[TEXT]", data, &content[body_at..]),
                        Some(SectionText::HeaderFields(_)) => {
                            let Some(got) = data.0.as_ref() else {
                                problems.push(format!("UID {uid:?}: BODY[HEADER.FIELDS] NIL"));
                                continue;
                            };
                            let text = String::from_utf8_lossy(got.as_bytes()).into_owned();
                            let line = content
                                .split(|&b| b == b'\n')
                                .find(|l| l.starts_with(b"Message-ID: "))
                                .map(|l| String::from_utf8_lossy(l).trim_end().to_owned())
                                .unwrap_or_default();
                            if !text.contains(&line) {
                                problems.push(format!(
                                    "UID {uid:?}: Message-ID field {text:?}, expected {line:?}"
                                ));
                            }
                            continue;
                        }
                        Some(_) => continue,
                    },
                    FetchItem::Rfc822Size(size) => {
                        if *size as usize != content.len() {
                            problems.push(format!(
                                "UID {uid:?}: RFC822.SIZE {size}, appended {}",
                                content.len()
                            ));
                        }
                        continue;
                    }
                    _ => continue,
                };
                if got.0.as_ref().map(|s| s.as_bytes()) != Some(want) {
                    problems.push(format!(
                        "UID {uid:?}: {what} is not what the session stored ({} octets)",
                        got.0.as_ref().map_or(0, |s| s.as_bytes().len())
                    ));
                }
            }
        }
        for p in problems {
            self.disagree(p);
        }
    }

    /// COPY of messages this session put there: into the shared mailbox (the copies are its
    /// own then) or into the side mailbox.
    async fn copy(&mut self) {
        let mut uids = BTreeSet::new();
        for _ in 0..=self.rng.below(3) {
            if let Some(u) = self.pick_own() {
                uids.insert(u);
            }
        }
        if uids.is_empty() {
            return self.append().await;
        }
        let uids: Vec<u32> = uids.into_iter().collect();
        let side = self.rng.below(4) == 0;
        let dest = if side {
            self.cfg.side_mailbox.clone()
        } else {
            self.cfg.mailbox.clone()
        };
        let max_known = self.max_uid();
        let body = CommandBody::Copy {
            uid: true,
            set: set_of(&uids),
            mailbox: mailbox(&dest),
        };
        let how = Reading {
            uid: true,
            ..Reading::default()
        };
        let Some(r) = self.cmd("UID COPY", body, how).await else {
            return;
        };
        if r.status.kind != StatusKind::Ok {
            return;
        }
        let Some(Code::CopyUid {
            uid_validity,
            source,
            destination,
        }) = &r.status.code
        else {
            return self.disagree("COPY without COPYUID".into());
        };
        let (src, dst) = (expand(source), expand(destination));
        if src.len() != dst.len() || src.iter().copied().collect::<Vec<_>>() != uids {
            return self.disagree(format!("COPY of {uids:?} answered COPYUID {src:?} {dst:?}"));
        }
        if side {
            return;
        }
        if uid_validity.get() != self.uid_validity {
            self.disagree(format!("COPYUID with UIDVALIDITY {uid_validity}"));
        }
        for (s, d) in src.iter().zip(&dst) {
            if *d <= max_known {
                self.disagree(format!(
                    "COPYUID gave UID {d}, not above UID {max_known} the session knew"
                ));
            }
            if let Some(c) = self.own.get(s).cloned() {
                self.own.insert(*d, c);
            }
        }
    }

    async fn search(&mut self) {
        let before = self.slots.len();
        match self.rng.below(5) {
            0 => {
                let Some(_) = self
                    .cmd(
                        "SEARCH",
                        search_body(false, SearchKey::All),
                        Reading::default(),
                    )
                    .await
                else {
                    return;
                };
                let k = self.last_search.len();
                let exact = self
                    .last_search
                    .iter()
                    .enumerate()
                    .all(|(i, n)| *n as usize == i + 1);
                if !exact || k < before || k > self.slots.len() {
                    let msg = format!(
                        "SEARCH ALL found {k} messages ({}), the session has {before}",
                        if exact { "in order" } else { "not 1:n" }
                    );
                    self.disagree(msg);
                }
            }
            1 => {
                let known: Vec<u32> = self.slots.iter().filter_map(|s| s.uid).collect();
                if known.is_empty() {
                    return;
                }
                let len = u32::try_from(known.len()).unwrap_or(u32::MAX);
                let a = known[self.rng.below(len) as usize];
                let b = known[self.rng.below(len) as usize];
                let (lo, hi) = (a.min(b), a.max(b));
                let how = Reading {
                    uid: true,
                    ..Reading::default()
                };
                let key = SearchKey::Uid(range(lo, hi));
                if self
                    .cmd("UID SEARCH", search_body(true, key), how)
                    .await
                    .is_none()
                {
                    return;
                }
                let found: BTreeSet<u32> = self.last_search.iter().copied().collect();
                let own: Vec<u32> = self.own.keys().copied().collect();
                if let Some(u) = found.iter().find(|u| **u < lo || **u > hi) {
                    self.disagree(format!("UID SEARCH UID {lo}:{hi} found UID {u}"));
                }
                if let Some(u) = own
                    .iter()
                    .find(|u| (lo..=hi).contains(*u) && !found.contains(*u))
                {
                    self.disagree(format!("UID SEARCH UID {lo}:{hi} missed UID {u}"));
                }
            }
            2 => {
                let Some(uid) = self.pick_own() else { return };
                let content = self.own[&uid].clone();
                let id = content
                    .split(|&b| b == b'\n')
                    .find_map(|l| l.strip_prefix(b"Message-ID: "))
                    .map(|v| String::from_utf8_lossy(v).trim_end().to_owned())
                    .unwrap_or_default();
                let key = SearchKey::Header(astring("Message-ID"), astring(&id));
                if self
                    .cmd("SEARCH", search_body(false, key), Reading::default())
                    .await
                    .is_none()
                {
                    return;
                }
                // The message and the copies this session made of it.
                let mut want: Vec<u32> = self
                    .own
                    .iter()
                    .filter(|(_, c)| **c == content)
                    .filter_map(|(u, _)| self.slot_of(*u))
                    .map(|i| u32::try_from(i + 1).unwrap_or(0))
                    .collect();
                want.sort_unstable();
                if self.last_search != want {
                    let msg = format!(
                        "SEARCH HEADER Message-ID of UID {uid} found {:?}, expected {want:?}",
                        self.last_search
                    );
                    self.disagree(msg);
                }
            }
            3 => {
                let key = match self.rng.below(6) {
                    0 => SearchKey::Flagged,
                    1 => SearchKey::Unseen,
                    2 => SearchKey::Not(Box::new(SearchKey::Deleted)),
                    3 => SearchKey::Since(Date::new(2000, 1, 1).expect("date")),
                    4 => SearchKey::Larger(400),
                    _ => SearchKey::Or(Box::new(SearchKey::Seen), Box::new(SearchKey::Flagged)),
                };
                self.cmd("SEARCH", search_body(false, key), Reading::default())
                    .await;
            }
            _ => {
                let Flag::Keyword(k) = pool(4 + self.rng.below(30)) else {
                    return;
                };
                let how = Reading {
                    uid: true,
                    ..Reading::default()
                };
                self.cmd("UID SEARCH", search_body(true, SearchKey::Keyword(k)), how)
                    .await;
            }
        }
    }

    /// All sessions stopped at the barrier: NOOP, a FETCH 1:* that must tell nothing new, then
    /// the view goes to session 0 for comparison.
    async fn checkpoint(&mut self, shared: &Shared, k: u64) {
        shared.barrier.wait().await;
        if !self.dead {
            self.cmd("NOOP", CommandBody::Noop, Reading::default())
                .await;
            if !self.complete().await && !self.dead {
                self.disagree("FETCH (UID FLAGS) left messages unknown, nothing changing".into());
            }
        }
        if !self.dead && !self.slots.is_empty() {
            let body = CommandBody::Fetch {
                uid: false,
                set: range(1, u32::try_from(self.slots.len()).unwrap_or(u32::MAX)),
                items: self.fetch_items(),
                changed_since: None,
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
            self.disagree(format!("checkpoint {k}: {f}"));
        }
    }
}

fn search_body(uid: bool, key: SearchKey<'static>) -> CommandBody<'static> {
    CommandBody::Search {
        uid,
        returns: None,
        charset: None,
        criteria: Vec1::one(key),
    }
}
