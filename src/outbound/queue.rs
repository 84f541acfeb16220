//! The durable outbound queue: mail for other domains, forwarded aliases and delivery reports.
//!
//! # On disk
//!
//! One directory (`queue/` in the data directory). A message is one file, `<id>.msg`: a short text
//! header with the envelope, a blank line, then the message as it will be sent (LF line ends, as in
//! the Maildirs). It is written to `tmp/`, fsynced, renamed into place and the directory fsynced
//! before the client hears `250`: the same rule as Maildir delivery, two fsyncs per message. What
//! happened to each recipient since lives beside it in `<id>.state`, replaced atomically after each
//! attempt that leaves the message queued (with a `wait DOMAIN ATTEMPTS NEXT` line per recipient
//! domain backing off). When every recipient is done the two files are removed.
//!
//! ```text
//! mailwright-queue 1
//! from alice@example.org            (empty for the null sender <>)
//! created 1764390000
//! kind message                      (message | report)
//! ret hdrs                          (DSN RET=, RFC 3461 §4.3; optional)
//! envid QQ+2B1                      (DSN ENVID=, xtext; optional)
//! rcpt bob@remote.test              (one line per recipient)
//! notify SUCCESS,FAILURE            (that recipient's DSN NOTIFY=; optional)
//! orcpt rfc822;bob+2Bx@example.org  (that recipient's DSN ORCPT=, xtext; optional)
//!
//! Received: ...
//! ```
//!
//! The DSN lines came later: a reader that does not know them skips them (unknown keys are
//! ignored), and a file without them reads as a message without DSN parameters.
//!
//! A crash can at worst deliver a message twice (when it falls between the remote `250` and the
//! state update), never lose one that was acknowledged. Files left in `tmp/` belong to messages
//! that were never acknowledged and are removed at start.
//!
//! # In the database
//!
//! With `[outbound] queue = "database"` (the default on the PostgreSQL store) the same envelope
//! and state texts, and the message, are rows of the store's `outbound_queue` table, shared by
//! every node (module [`dbqueue`](super::dbqueue)): any node enqueues, any node delivers. The
//! methods below behave the same on both.
//!
//! The admin commands (`full_server queue ...`) read and edit the same files; a running server
//! notices through the `flush` request file ([`request_flush`]) and, for deletions, the `deleted`
//! file (which makes it forget the message and nothing more).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mailwright_smtp_proto::{Notify, OriginalRecipient, Ret};

/// What a queued message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Mail from a user or forwarded by an alias.
    Message,
    /// A delivery status notification we generated (sent from `<>`; never bounced itself).
    Report,
}

/// Where one recipient stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptStatus {
    /// Not delivered yet; the last temporary failure, if any.
    Pending(Option<Attempt>),
    /// Accepted by the next hop.
    Delivered(Attempt),
    /// Refused for good (5xx, expiry, null MX ...).
    Failed(Attempt),
}

/// The outcome of one delivery attempt for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The host that answered (`dns; mx.example.org`-style name), if one did.
    pub remote: Option<String>,
    /// The reply or error, one line (e.g. `550 5.1.1 No such user`).
    pub reply: String,
}

/// One recipient and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRcpt {
    /// The address, `local@domain`.
    pub address: String,
    /// Where it stands.
    pub status: RcptStatus,
    /// Its DSN parameters.
    pub dsn: RcptDsn,
}

/// The DSN parameters of a message (RFC 3461 §4.3, §4.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageDsn {
    /// `RET=`: what a failure report returns of the message.
    pub ret: Option<Ret>,
    /// `ENVID=`: the sender's identifier of the transaction, decoded.
    pub envid: Option<String>,
}

/// The DSN parameters of one recipient (RFC 3461 §4.1, §4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptDsn {
    /// `NOTIFY=`: which reports the sender wants; `None` is the default (failures and delays).
    pub notify: Option<Notify>,
    /// `ORCPT=`: the recipient as the sender first gave it.
    pub orcpt: Option<OriginalRecipient>,
}

impl RcptDsn {
    /// Whether a report of `kind` is wanted for this recipient: RFC 3461 §4.1, with the
    /// default of an absent NOTIFY being failures and delays (as Postfix's).
    pub fn wants(&self, kind: Notice) -> bool {
        match (self.notify, kind) {
            (None, Notice::Success) => false,
            (None, _) => true,
            (Some(Notify::Never), _) => false,
            (Some(Notify::On { success, .. }), Notice::Success) => success,
            (Some(Notify::On { failure, .. }), Notice::Failure) => failure,
            (Some(Notify::On { delay, .. }), Notice::Delay) => delay,
        }
    }
}

/// The kinds of report a sender can ask for with `NOTIFY=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Delivered (or relayed to a server without DSN).
    Success,
    /// Failed for good.
    Failure,
    /// Delayed.
    Delay,
}

/// `NOTIFY=` as RFC 3461 §4.1 writes it.
pub fn notify_text(notify: Notify) -> String {
    match notify {
        Notify::Never => "NEVER".to_owned(),
        Notify::On {
            success,
            failure,
            delay,
        } => [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, w)| *w)
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn parse_notify(text: &str) -> Option<Notify> {
    if text.eq_ignore_ascii_case("NEVER") {
        return Some(Notify::Never);
    }
    let (mut success, mut failure, mut delay) = (false, false, false);
    for word in text.split(',') {
        match word.to_ascii_uppercase().as_str() {
            "SUCCESS" => success = true,
            "FAILURE" => failure = true,
            "DELAY" => delay = true,
            _ => return None,
        }
    }
    (success || failure || delay).then_some(Notify::On {
        success,
        failure,
        delay,
    })
}

/// xtext (RFC 3461 §4): `!` to `~` but `+` and `=` as themselves, every other octet `+XX`.
pub fn xtext_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "+{b:02X}");
        }
    }
    out
}

/// Decodes xtext; `None` when malformed or not UTF-8.
pub fn xtext_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'+' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl QueuedRcpt {
    /// The domain part, lower case.
    pub fn domain(&self) -> String {
        domain_of(&self.address)
    }
}

/// The domain of an address (after the last `@`), lower case.
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or(String::new(), |(_, d)| d.to_ascii_lowercase())
}

/// A queued message without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The queue id (file name stem).
    pub id: String,
    /// The envelope sender; empty for `<>`.
    pub from: String,
    /// When it was queued (seconds since the epoch).
    pub created: u64,
    /// What it is.
    pub kind: Kind,
    /// The recipients, in envelope order.
    pub rcpts: Vec<QueuedRcpt>,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next attempt is due (seconds since the epoch): the earliest of its destinations'.
    pub next_attempt: u64,
    /// The back-off of each recipient domain that deferred: `(attempts, next attempt)`. A domain
    /// not listed is due at once; one domain's wait never holds back another's recipients.
    pub waits: BTreeMap<String, (u32, u64)>,
    /// Whether the sender was told that delivery is delayed.
    pub warned: bool,
    /// The message's DSN parameters.
    pub dsn: MessageDsn,
    /// Size of the message in bytes.
    pub size: u64,
    /// Where the message starts in the file.
    body_offset: u64,
}

impl Entry {
    /// The recipients not yet delivered or failed.
    pub fn pending(&self) -> impl Iterator<Item = (usize, &QueuedRcpt)> {
        self.rcpts
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r.status, RcptStatus::Pending(_)))
    }

    /// Whether every recipient is done.
    pub fn is_done(&self) -> bool {
        self.pending().next().is_none()
    }

    /// When the recipients in `domain` are due (0: at once).
    pub fn due_at(&self, domain: &str) -> u64 {
        self.waits.get(domain).map_or(0, |w| w.1)
    }

    /// The earliest instant a pending recipient is due (`None` when none is pending).
    pub fn earliest_due(&self) -> Option<u64> {
        self.pending().map(|(_, r)| self.due_at(&r.domain())).min()
    }
}

struct Slot {
    entry: Entry,
    in_flight: bool,
}

/// The envelope of a message to queue.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// The envelope sender; empty for `<>`.
    pub from: &'a str,
    /// The recipients with their DSN parameters.
    pub rcpts: &'a [(String, RcptDsn)],
    /// What the message is.
    pub kind: Kind,
    /// The message's DSN parameters.
    pub dsn: &'a MessageDsn,
}

/// A message written and fsynced in the queue's `tmp/` ([`Queue::prepare`]); removed if dropped.
/// With the queue in the database, read into memory (the row is written at [`Queue::commit`]).
#[derive(Debug)]
pub struct PreparedMessage {
    entry: Entry,
    tmp: Option<PathBuf>,
    /// The envelope text and the message, for the database.
    held: Option<(String, Vec<u8>)>,
}

impl PreparedMessage {
    /// The queue id it will have.
    pub fn id(&self) -> &str {
        &self.entry.id
    }
}

impl Drop for PreparedMessage {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// A message in the queue directory, not yet handed to the delivery loop ([`Queue::commit`]).
#[derive(Debug)]
pub struct CommittedMessage {
    entry: Entry,
}

impl CommittedMessage {
    /// Its queue id.
    pub fn id(&self) -> &str {
        &self.entry.id
    }
}

fn empty_entry() -> Entry {
    Entry {
        id: String::new(),
        from: String::new(),
        created: 0,
        kind: Kind::Message,
        rcpts: Vec::new(),
        attempts: 0,
        next_attempt: 0,
        waits: BTreeMap::new(),
        warned: false,
        dsn: MessageDsn::default(),
        size: 0,
        body_offset: 0,
    }
}

/// What [`Queue::scan_message`] found in a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageScan {
    /// It has octets above 127.
    pub eight_bit: bool,
    /// The longest line, in octets without its line end (a CR before the LF counts).
    pub longest_line: usize,
}

/// A queued message opened for reading ([`Queue::open_message`]): its file, or its copy read
/// from the database.
#[derive(Debug)]
pub enum MessageReader {
    /// The queue file, at the message's first octet.
    File(File),
    /// The message read from the database.
    Memory(io::Cursor<Vec<u8>>),
}

impl Read for MessageReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::File(f) => f.read(buf),
            Self::Memory(c) => c.read(buf),
        }
    }
}

impl MessageReader {
    /// The same reader for async code.
    pub fn into_async(self) -> Box<dyn tokio::io::AsyncRead + Send + Unpin> {
        match self {
            Self::File(f) => Box::new(tokio::fs::File::from_std(f)),
            Self::Memory(c) => Box::new(c),
        }
    }
}

/// The queue of one data directory, or of the database the nodes share.
pub struct Queue {
    /// The queue directory (with the database: only for `full_server queue retry`'s requests).
    dir: PathBuf,
    index: Mutex<BTreeMap<String, Slot>>,
    wake: Arc<tokio::sync::Notify>,
    /// The queue in the database, instead of the files.
    db: Option<DbQueue>,
}

#[cfg(feature = "postgres")]
use super::dbqueue::DbQueue;

/// Without the `postgres` feature there is no queue in a database.
#[cfg(not(feature = "postgres"))]
#[derive(Debug)]
enum DbQueue {}

/// Never called: no value of [`DbQueue`] exists without the `postgres` feature.
#[cfg(not(feature = "postgres"))]
#[allow(clippy::unused_self, clippy::needless_pass_by_ref_mut)]
impl DbQueue {
    fn len(&self) -> usize {
        match *self {}
    }
    fn commit(&self, _: &Entry, _: &str, _: &[u8]) -> io::Result<()> {
        match *self {}
    }
    fn delete(&self, _: &str) -> io::Result<()> {
        match *self {}
    }
    fn publish(&self, _: &str) {
        match *self {}
    }
    fn take_due(&self, _: u64, _: usize, _: &mut dyn FnMut(&Entry) -> bool) -> Vec<Entry> {
        match *self {}
    }
    fn release(&self, _: &[Entry]) {
        match *self {}
    }
    fn next_due(&self) -> Option<u64> {
        match *self {}
    }
    fn read_message(&self, _: &str) -> io::Result<Vec<u8>> {
        match *self {}
    }
    fn finish(&self, _: &Entry) -> io::Result<()> {
        match *self {}
    }
    fn retry_now(&self, _: Option<&[String]>, _: u64) -> usize {
        match *self {}
    }
    fn stale(&self) {
        match *self {}
    }
    fn known_empty(&self) -> bool {
        match *self {}
    }
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.db {
            Some(db) => f
                .debug_struct("Queue")
                .field("db", db)
                .finish_non_exhaustive(),
            None => f
                .debug_struct("Queue")
                .field("dir", &self.dir)
                .field("len", &self.len())
                .finish_non_exhaustive(),
        }
    }
}

const MAGIC: &str = "mailwright-queue 1";

fn msg_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.msg"))
}

fn state_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.state"))
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A new queue id: unique within this host (time in microseconds and a counter), safe as a file
/// name.
pub fn new_id() -> String {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!(
        "{micros:X}{:04X}",
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xffff
    )
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n', '\t'], " ")
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads the envelope header and the state file of one message.
fn read_entry(dir: &Path, id: &str) -> io::Result<Entry> {
    let file = File::open(msg_path(dir, id))?;
    let size_total = file.metadata()?.len();
    let mut entry = parse_envelope(id, &mut BufReader::new(file))?;
    let offset = entry.body_offset;
    entry.size = size_total.saturating_sub(offset);
    entry.next_attempt = entry.created;
    match fs::read_to_string(state_path(dir, id)) {
        Ok(text) => apply_state(&mut entry, &text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(entry)
}

/// Reads an envelope header (up to its blank line); `body_offset` is where the reader stopped.
pub(super) fn parse_envelope(id: &str, reader: &mut dyn BufRead) -> io::Result<Entry> {
    let mut line = String::new();
    let mut offset = 0u64;
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{id}: {what}"));
    let mut entry = Entry {
        id: id.to_owned(),
        ..empty_entry()
    };
    let mut first = true;
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 {
            return Err(bad("truncated envelope"));
        }
        offset += n as u64;
        let l = line.trim_end_matches('\n');
        if first {
            if l != MAGIC {
                return Err(bad("not a queue file"));
            }
            first = false;
            continue;
        }
        if l.is_empty() {
            break;
        }
        let (key, value) = l.split_once(' ').unwrap_or((l, ""));
        match key {
            "from" => value.clone_into(&mut entry.from),
            "created" => entry.created = value.parse().map_err(|_| bad("bad created"))?,
            "kind" => {
                entry.kind = match value {
                    "report" => Kind::Report,
                    _ => Kind::Message,
                }
            }
            "rcpt" => entry.rcpts.push(QueuedRcpt {
                address: value.to_owned(),
                status: RcptStatus::Pending(None),
                dsn: RcptDsn::default(),
            }),
            "ret" => {
                entry.dsn.ret = match value {
                    "full" => Some(Ret::Full),
                    "hdrs" => Some(Ret::Headers),
                    _ => None,
                }
            }
            "envid" => entry.dsn.envid = xtext_decode(value),
            "notify" => {
                if let Some(r) = entry.rcpts.last_mut() {
                    r.dsn.notify = parse_notify(value);
                }
            }
            "orcpt" => {
                if let Some(r) = entry.rcpts.last_mut()
                    && let Some((addr_type, xtext)) = value.split_once(';')
                    && let Some(address) = xtext_decode(xtext)
                {
                    r.dsn.orcpt = Some(OriginalRecipient {
                        addr_type: addr_type.to_owned(),
                        address,
                    });
                }
            }
            _ => {}
        }
    }
    entry.body_offset = offset;
    Ok(entry)
}

fn parse_attempt(rest: &str) -> (String, Attempt) {
    let mut parts = rest.splitn(3, '\t');
    let address = parts.next().unwrap_or_default().to_owned();
    let remote = parts
        .next()
        .filter(|r| !r.is_empty() && *r != "-")
        .map(str::to_owned);
    let reply = parts.next().unwrap_or_default().to_owned();
    (address, Attempt { remote, reply })
}

pub(super) fn apply_state(entry: &mut Entry, text: &str) {
    for l in text.lines() {
        let (key, value) = l.split_once(' ').unwrap_or((l, ""));
        match key {
            "attempts" => entry.attempts = value.parse().unwrap_or(0),
            "next" => entry.next_attempt = value.parse().unwrap_or(0),
            "warned" => entry.warned = value == "1",
            "wait" => {
                let mut parts = value.split(' ');
                if let (Some(domain), Some(Ok(attempts)), Some(Ok(next))) = (
                    parts.next(),
                    parts.next().map(str::parse),
                    parts.next().map(str::parse),
                ) {
                    entry.waits.insert(domain.to_owned(), (attempts, next));
                }
            }
            "delivered" | "failed" | "deferred" => {
                let (address, attempt) = parse_attempt(value);
                if let Some(r) = entry.rcpts.iter_mut().find(|r| r.address == address) {
                    r.status = match key {
                        "delivered" => RcptStatus::Delivered(attempt),
                        "failed" => RcptStatus::Failed(attempt),
                        _ => RcptStatus::Pending(Some(attempt)),
                    };
                }
            }
            _ => {}
        }
    }
}

pub(super) fn render_state(entry: &Entry) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "attempts {}", entry.attempts);
    let _ = writeln!(s, "next {}", entry.next_attempt);
    let _ = writeln!(s, "warned {}", u8::from(entry.warned));
    for (domain, (attempts, next)) in &entry.waits {
        let _ = writeln!(s, "wait {domain} {attempts} {next}");
    }
    for r in &entry.rcpts {
        let (key, attempt) = match &r.status {
            RcptStatus::Pending(None) => continue,
            RcptStatus::Pending(Some(a)) => ("deferred", a),
            RcptStatus::Delivered(a) => ("delivered", a),
            RcptStatus::Failed(a) => ("failed", a),
        };
        let _ = writeln!(
            s,
            "{key} {}\t{}\t{}",
            r.address,
            attempt.remote.as_deref().map_or("-".to_owned(), one_line),
            one_line(&attempt.reply)
        );
    }
    s
}

/// The ids of the messages in a queue directory, oldest first.
fn ids(dir: &Path) -> io::Result<Vec<String>> {
    let mut ids = Vec::new();
    for e in fs::read_dir(dir)? {
        let name = e?.file_name();
        if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".msg"))
            && valid_id(id)
        {
            ids.push(id.to_owned());
        }
    }
    ids.sort();
    Ok(ids)
}

impl Queue {
    /// Opens (creating it if needed) the queue in `dir`, drops unacknowledged leftovers and loads
    /// the index.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(dir.join("tmp"))?;
        for e in fs::read_dir(dir.join("tmp"))? {
            let _ = fs::remove_file(e?.path());
        }
        let mut index = BTreeMap::new();
        for id in ids(&dir)? {
            match read_entry(&dir, &id) {
                Ok(entry) => {
                    index.insert(
                        id,
                        Slot {
                            entry,
                            in_flight: false,
                        },
                    );
                }
                Err(e) => tracing::warn!("queue: skipping {id}: {e}"),
            }
        }
        Ok(Self {
            dir,
            index: Mutex::new(index),
            wake: Arc::new(tokio::sync::Notify::new()),
            db: None,
        })
    }

    /// The queue in the store's database, shared by the nodes (`[outbound] queue =
    /// "database"`). `dir` keeps only the requests of `full_server queue retry`; messages left
    /// there by the queue in files are moved into the database first. `lease_secs`: how long
    /// a claim lasts unrenewed. Blocking.
    #[cfg(feature = "postgres")]
    pub fn open_database(
        dir: impl Into<PathBuf>,
        db: crate::store::postgres::Database,
        lease_secs: u64,
    ) -> io::Result<Self> {
        let files = Self::open(dir)?;
        let wake = db.queue_wake();
        let db = DbQueue::new(db, lease_secs);
        let (imported, left) = db.import(&files)?;
        if imported > 0 {
            tracing::info!(messages = imported, "queue files moved into the database");
        }
        if left > 0 {
            tracing::warn!(messages = left, "queue files left in queue/ (unreadable)");
        }
        Ok(Self {
            dir: files.dir,
            index: Mutex::new(BTreeMap::new()),
            wake,
            db: Some(db),
        })
    }

    /// The entries of the queue in files, with their messages, for moving into the database.
    /// Blocking.
    #[cfg(feature = "postgres")]
    pub(super) fn file_entries(&self) -> Vec<(Entry, String, io::Result<Vec<u8>>)> {
        self.lock()
            .values()
            .map(|s| {
                let e = &s.entry;
                let envelope = fs::read(msg_path(&self.dir, &e.id)).map(|bytes| {
                    String::from_utf8_lossy(&bytes[..usize::try_from(e.body_offset).unwrap_or(0)])
                        .into_owned()
                });
                let body = envelope
                    .as_ref()
                    .map_err(|e| io::Error::new(e.kind(), e.to_string()))
                    .and_then(|_| self.read_message(e));
                (e.clone(), envelope.unwrap_or_default(), body)
            })
            .collect()
    }

    /// Removes the files of a message moved into the database. Blocking.
    #[cfg(feature = "postgres")]
    pub(super) fn remove_files(&self, id: &str) -> io::Result<()> {
        fs::remove_file(msg_path(&self.dir, id))?;
        let _ = fs::remove_file(state_path(&self.dir, id));
        self.lock().remove(id);
        sync_dir(&self.dir)
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Messages in the queue (with the database: of every node; 0 when it cannot be asked).
    pub fn len(&self) -> usize {
        if let Some(db) = &self.db {
            return db.len();
        }
        self.lock().len()
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        if let Some(db) = &self.db
            && db.known_empty()
        {
            // The idle delivery loop asks every second: answered without a query.
            return true;
        }
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Slot>> {
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes a message durably, makes it visible to the delivery loop and returns its id.
    /// `prefix` (header lines, LF ends) goes before `body`. Blocking: call it off the async
    /// threads.
    pub fn enqueue(
        &self,
        from: &str,
        rcpts: &[String],
        kind: Kind,
        prefix: &[u8],
        body: &mut dyn Read,
        now: u64,
    ) -> io::Result<String> {
        let rcpts: Vec<(String, RcptDsn)> = rcpts
            .iter()
            .map(|r| (r.clone(), RcptDsn::default()))
            .collect();
        let prepared = self.prepare(
            &Envelope {
                from,
                rcpts: &rcpts,
                kind,
                dsn: &MessageDsn::default(),
            },
            prefix,
            body,
            now,
        )?;
        let committed = self.commit(prepared)?;
        Ok(self.publish(committed))
    }

    /// The first phase of queueing a message with the others of a transaction: writes the file
    /// into `tmp/` and fsyncs it. Nothing is visible yet; dropping the result removes the file.
    /// Blocking.
    pub fn prepare(
        &self,
        envelope: &Envelope<'_>,
        prefix: &[u8],
        body: &mut dyn Read,
        now: u64,
    ) -> io::Result<PreparedMessage> {
        if envelope.rcpts.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no recipients"));
        }
        let id = match &self.db {
            // Unique across the nodes, not only within this host.
            Some(_) => format!("{}{:04X}", new_id(), rand_u16()),
            None => new_id(),
        };
        let header = render_envelope(envelope, now);
        let new_entry = |size: u64, body_offset: u64| Entry {
            id: id.clone(),
            from: envelope.from.to_owned(),
            created: now,
            kind: envelope.kind,
            rcpts: envelope
                .rcpts
                .iter()
                .map(|(r, dsn)| QueuedRcpt {
                    address: r.clone(),
                    status: RcptStatus::Pending(None),
                    dsn: dsn.clone(),
                })
                .collect(),
            attempts: 0,
            next_attempt: now,
            waits: BTreeMap::new(),
            warned: false,
            dsn: envelope.dsn.clone(),
            size,
            body_offset,
        };
        if self.db.is_some() {
            let mut message = prefix.to_vec();
            body.read_to_end(&mut message)?;
            return Ok(PreparedMessage {
                entry: new_entry(message.len() as u64, 0),
                tmp: None,
                held: Some((header, message)),
            });
        }
        let tmp = self.dir.join("tmp").join(&id);
        let result = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            let mut w = io::BufWriter::with_capacity(64 * 1024, &mut file);
            w.write_all(header.as_bytes())?;
            w.write_all(prefix)?;
            let copied = io::copy(body, &mut w)?;
            w.flush()?;
            drop(w);
            file.sync_all()?;
            Ok::<u64, io::Error>(copied)
        })();
        let copied = match result {
            Ok(c) => c,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        Ok(PreparedMessage {
            entry: new_entry(prefix.len() as u64 + copied, header.len() as u64),
            tmp: Some(tmp),
            held: None,
        })
    }
}

/// A random number, for ids unique across nodes.
fn rand_u16() -> u16 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 2];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    u16::from_be_bytes(b)
}

/// The envelope header of a queue file, ending in its blank line.
fn render_envelope(envelope: &Envelope<'_>, now: u64) -> String {
    {
        let mut header = format!(
            "{MAGIC}\nfrom {}\ncreated {now}\nkind {}\n",
            one_line(envelope.from),
            match envelope.kind {
                Kind::Message => "message",
                Kind::Report => "report",
            }
        );
        match envelope.dsn.ret {
            Some(Ret::Full) => header.push_str("ret full\n"),
            Some(Ret::Headers) => header.push_str("ret hdrs\n"),
            None => {}
        }
        if let Some(envid) = &envelope.dsn.envid {
            let _ = writeln!(header, "envid {}", xtext_encode(envid));
        }
        for (r, dsn) in envelope.rcpts {
            let _ = writeln!(header, "rcpt {}", one_line(r));
            if let Some(notify) = dsn.notify {
                let _ = writeln!(header, "notify {}", notify_text(notify));
            }
            if let Some(o) = &dsn.orcpt {
                let _ = writeln!(
                    header,
                    "orcpt {};{}",
                    xtext_encode(&o.addr_type),
                    xtext_encode(&o.address)
                );
            }
        }
        header.push('\n');
        header
    }
}

impl Queue {
    /// The second phase: renames the file into the queue and fsyncs the directory. From here it
    /// survives a crash (and would be delivered after a restart), but the running delivery loop
    /// sees it only at [`Queue::publish`]. Blocking.
    pub fn commit(&self, mut prepared: PreparedMessage) -> io::Result<CommittedMessage> {
        if let (Some(db), Some((envelope, message))) = (&self.db, prepared.held.take()) {
            // Committed in the database, held by this node until published.
            db.commit(&prepared.entry, &envelope, &message)?;
            return Ok(CommittedMessage {
                entry: std::mem::replace(&mut prepared.entry, empty_entry()),
            });
        }
        let tmp = prepared
            .tmp
            .take()
            .expect("a prepared message has its file");
        let target = msg_path(&self.dir, &prepared.entry.id);
        let result = fs::rename(&tmp, &target).and_then(|()| sync_dir(&self.dir));
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_file(&target);
            return Err(e);
        }
        Ok(CommittedMessage {
            entry: std::mem::replace(&mut prepared.entry, empty_entry()),
        })
    }

    /// Takes a committed message out again (another copy of its transaction failed). Blocking.
    pub fn rollback(&self, committed: CommittedMessage) -> io::Result<()> {
        let CommittedMessage { entry } = committed;
        if let Some(db) = &self.db {
            return db.delete(&entry.id);
        }
        fs::remove_file(msg_path(&self.dir, &entry.id))?;
        sync_dir(&self.dir)
    }

    /// Hands a committed message to the delivery loop; returns its id.
    pub fn publish(&self, committed: CommittedMessage) -> String {
        let entry = committed.entry;
        let id = entry.id.clone();
        let (from, rcpts) = (entry.from.clone(), entry.rcpts.len());
        if let Some(db) = &self.db {
            // Released to every node's delivery loop, which the notification wakes. Should the
            // release fail, the hold ends with its lease and another node (or this one) takes it.
            db.publish(&id);
            tracing::info!(%id, from, rcpts, "queued");
            self.wake.notify_one();
            return id;
        }
        let len = {
            let mut index = self.lock();
            index.insert(
                id.clone(),
                Slot {
                    entry,
                    in_flight: false,
                },
            );
            index.len()
        };
        tracing::info!(%id, from, rcpts, queue_size = len, "queued");
        self.wake.notify_one();
        id
    }

    /// Wakes the delivery loop (after an enqueue or a flush request).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits until [`Queue::wake`] is called (or was called since the last wait).
    pub async fn woken(&self) {
        self.wake.notified().await;
        if let Some(db) = &self.db {
            // Something changed (here, or on another node that notified): look again.
            db.stale();
        }
    }

    /// Takes up to `limit` messages that are due at `now` and not being delivered, marking them in
    /// flight. Each comes with the pending recipients grouped by domain.
    pub fn take_due(&self, now: u64, limit: usize) -> Vec<Entry> {
        self.take_due_except(now, limit, |_| false)
    }

    /// [`Queue::take_due`] leaving the entries for which `busy` is true where they are (their
    /// destination has no free slot), so that they do not crowd out the others. `busy` is asked
    /// about each due entry in queue order until `limit` are taken.
    pub fn take_due_except(
        &self,
        now: u64,
        limit: usize,
        mut busy: impl FnMut(&Entry) -> bool,
    ) -> Vec<Entry> {
        if let Some(db) = &self.db {
            return db.take_due(now, limit, &mut busy);
        }
        let mut index = self.lock();
        let mut out = Vec::new();
        for slot in index.values_mut() {
            if out.len() >= limit {
                break;
            }
            if !slot.in_flight
                && slot.entry.next_attempt <= now
                && !slot.entry.is_done()
                && !busy(&slot.entry)
            {
                slot.in_flight = true;
                out.push(slot.entry.clone());
            }
        }
        out
    }

    /// Hands entries taken with [`Queue::take_due`] back untouched, to be taken again.
    pub fn release(&self, entries: &[Entry]) {
        if let Some(db) = &self.db {
            db.release(entries);
            return;
        }
        let mut index = self.lock();
        for e in entries {
            if let Some(slot) = index.get_mut(&e.id) {
                slot.in_flight = false;
            }
        }
    }

    /// When the earliest waiting message is due, if any.
    pub fn next_due(&self) -> Option<u64> {
        if let Some(db) = &self.db {
            return db.next_due();
        }
        self.lock()
            .values()
            .filter(|s| !s.in_flight)
            .map(|s| s.entry.next_attempt)
            .min()
    }

    /// Reads the message of an entry (its body, without the envelope header).
    pub fn read_message(&self, entry: &Entry) -> io::Result<Vec<u8>> {
        if let Some(db) = &self.db {
            return db.read_message(&entry.id);
        }
        let mut file = File::open(msg_path(&self.dir, &entry.id))?;
        io::Seek::seek(&mut file, io::SeekFrom::Start(entry.body_offset))?;
        let mut buf = Vec::with_capacity(usize::try_from(entry.size).unwrap_or(0));
        file.read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// Opens the message of an entry for reading from its first octet (after the envelope
    /// header), to stream it. Blocking.
    pub fn open_message(&self, entry: &Entry) -> io::Result<MessageReader> {
        if let Some(db) = &self.db {
            return Ok(MessageReader::Memory(io::Cursor::new(
                db.read_message(&entry.id)?,
            )));
        }
        let mut file = File::open(msg_path(&self.dir, &entry.id))?;
        io::Seek::seek(&mut file, io::SeekFrom::Start(entry.body_offset))?;
        Ok(MessageReader::File(file))
    }

    /// Reads the message of an entry through once, in blocks, for what must be known before it
    /// is sent. Blocking.
    pub fn scan_message(&self, entry: &Entry) -> io::Result<MessageScan> {
        let mut file = self.open_message(entry)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut scan = MessageScan::default();
        let mut line = 0usize;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            let block = &buf[..n];
            scan.eight_bit |= !block.is_ascii();
            let mut rest = block;
            while let Some(i) = rest.iter().position(|&b| b == b'\n') {
                scan.longest_line = scan.longest_line.max(line + i);
                line = 0;
                rest = &rest[i + 1..];
            }
            line += rest.len();
        }
        scan.longest_line = scan.longest_line.max(line);
        Ok(scan)
    }

    /// Records the outcome of an attempt: the updated entry replaces the old one. When every
    /// recipient is done the files are removed; otherwise the state file is replaced (fsynced).
    /// Blocking. Returns the entry as stored.
    pub fn finish(&self, entry: Entry) -> io::Result<Entry> {
        if let Some(db) = &self.db {
            return db.finish(&entry).map(|()| entry);
        }
        let id = entry.id.clone();
        if !msg_path(&self.dir, &id).exists() {
            // Deleted by an admin while in flight.
            self.lock().remove(&id);
            return Ok(entry);
        }
        let result = if entry.is_done() {
            let r = fs::remove_file(msg_path(&self.dir, &id));
            let _ = fs::remove_file(state_path(&self.dir, &id));
            r
        } else {
            crate::core::datadir::write_atomic(
                &state_path(&self.dir, &id),
                render_state(&entry).as_bytes(),
                0o600,
            )
        };
        let len = {
            let mut index = self.lock();
            if entry.is_done() {
                index.remove(&id);
            } else if let Some(slot) = index.get_mut(&id) {
                slot.entry = entry.clone();
                slot.in_flight = false;
            }
            index.len()
        };
        if entry.is_done() {
            tracing::info!(%id, queue_size = len, "removed from queue");
        }
        result.map(|()| entry)
    }

    /// Makes every message (or the given ones) due now. Returns how many.
    pub fn retry_now(&self, only: Option<&[String]>, now: u64) -> usize {
        if let Some(db) = &self.db {
            let n = db.retry_now(only, now);
            self.wake.notify_one();
            return n;
        }
        let mut index = self.lock();
        let mut n = 0;
        for (id, slot) in index.iter_mut() {
            if only.is_none_or(|ids| ids.contains(id)) {
                slot.entry.next_attempt = now;
                for wait in slot.entry.waits.values_mut() {
                    wait.1 = now;
                }
                n += 1;
            }
        }
        drop(index);
        self.wake.notify_one();
        n
    }

    /// Forgets messages whose files an admin removed.
    pub fn drop_missing(&self) {
        if self.db.is_some() {
            // `full_server queue delete` edits only the files.
            return;
        }
        let mut index = self.lock();
        index.retain(|id, slot| slot.in_flight || msg_path(&self.dir, id).exists());
    }

    /// Picks up a flush request left by `full_server queue retry`, and the deletions of
    /// `full_server queue delete`, if any. Returns whether there was a flush request.
    pub fn take_flush_request(&self, now: u64) -> bool {
        let deleted = self.dir.join("deleted");
        if fs::remove_file(&deleted).is_ok() {
            self.drop_missing();
        }
        let path = self.dir.join("flush");
        let Ok(text) = fs::read_to_string(&path) else {
            return false;
        };
        let _ = fs::remove_file(&path);
        self.drop_missing();
        let ids: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        let n = self.retry_now((!ids.is_empty()).then_some(ids.as_slice()), now);
        tracing::info!(messages = n, "queue flush requested");
        true
    }
}

/// Every message in a queue directory (for the admin commands; the server need not run).
pub fn list(dir: &Path) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for id in ids(dir)? {
        match read_entry(dir, &id) {
            Ok(e) => out.push(e),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// One message's entry and its text.
pub fn show(dir: &Path, id: &str) -> io::Result<(Entry, Vec<u8>)> {
    if !valid_id(id) {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no such queue id"));
    }
    let entry = read_entry(dir, id)?;
    let mut file = File::open(msg_path(dir, id))?;
    io::Seek::seek(&mut file, io::SeekFrom::Start(entry.body_offset))?;
    let mut body = Vec::new();
    file.read_to_end(&mut body)?;
    Ok((entry, body))
}

/// Removes a message from the queue without delivering it.
pub fn delete(dir: &Path, id: &str) -> io::Result<()> {
    if !valid_id(id) {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no such queue id"));
    }
    fs::remove_file(msg_path(dir, id))?;
    let _ = fs::remove_file(state_path(dir, id));
    sync_dir(dir)?;
    // Tells a running server to forget it, and nothing else: a flush request would make every
    // other message due at once, throwing away their back-off.
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("deleted"))?;
    f.write_all(format!("{id}\n").as_bytes())
}

/// Asks a running server to attempt delivery now (of `ids`, or of everything when empty).
pub fn request_flush(dir: &Path, ids: &[String]) -> io::Result<()> {
    let mut text = ids.join(" ");
    text.push('\n');
    // Appending keeps concurrent requests; the server reads and removes the file.
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("flush"))?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("mw-queue-{}", new_id()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn enqueue_survives_reopen_and_state_round_trips() {
        let dir = tempdir();
        let q = Queue::open(&dir).unwrap();
        let rcpts = vec!["a@x.test".to_owned(), "b@y.test".to_owned()];
        let id = q
            .enqueue(
                "me@here.test",
                &rcpts,
                Kind::Message,
                b"Received: x\n",
                &mut &b"Subject: hi\n\nbody\n"[..],
                100,
            )
            .unwrap();
        let mut due = q.take_due(100, 10);
        assert_eq!(due.len(), 1);
        assert!(
            q.take_due(100, 10).is_empty(),
            "in flight is not taken twice"
        );
        let mut e = due.pop().unwrap();
        assert_eq!(
            q.read_message(&e).unwrap(),
            b"Received: x\nSubject: hi\n\nbody\n"
        );
        e.rcpts[0].status = RcptStatus::Delivered(Attempt {
            remote: Some("mx.x.test".into()),
            reply: "250 ok".into(),
        });
        e.rcpts[1].status = RcptStatus::Pending(Some(Attempt {
            remote: None,
            reply: "451 4.4.1 try\tlater".into(),
        }));
        e.attempts = 1;
        e.next_attempt = 400;
        e.waits.insert("y.test".into(), (1, 400));
        q.finish(e).unwrap();
        drop(q);
        let q = Queue::open(&dir).unwrap();
        assert!(q.take_due(399, 10).is_empty());
        let e = q.take_due(400, 10).pop().unwrap();
        assert_eq!(e.id, id);
        assert_eq!(e.attempts, 1);
        assert_eq!(e.waits.get("y.test"), Some(&(1, 400)));
        assert_eq!((e.due_at("y.test"), e.due_at("x.test")), (400, 0));
        assert_eq!(e.earliest_due(), Some(400));
        assert!(matches!(e.rcpts[0].status, RcptStatus::Delivered(_)));
        assert_eq!(e.pending().count(), 1);
        let mut e = e;
        e.rcpts[1].status = RcptStatus::Failed(Attempt {
            remote: None,
            reply: "550 no".into(),
        });
        q.finish(e).unwrap();
        assert!(q.is_empty());
        assert!(list(&dir).unwrap().is_empty());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn leftovers_in_tmp_are_dropped_and_flush_requests_apply() {
        let dir = tempdir();
        let q = Queue::open(&dir).unwrap();
        fs::write(dir.join("tmp/ABC"), b"half").unwrap();
        let id = q
            .enqueue(
                "",
                &["a@x.test".into()],
                Kind::Report,
                b"",
                &mut &b"x\n"[..],
                10,
            )
            .unwrap();
        let mut e = q.take_due(10, 1).pop().unwrap();
        e.next_attempt = 1000;
        q.finish(e).unwrap();
        drop(q);
        let q = Queue::open(&dir).unwrap();
        assert!(!dir.join("tmp/ABC").exists());
        assert!(q.take_due(20, 1).is_empty());
        request_flush(&dir, std::slice::from_ref(&id)).unwrap();
        q.take_flush_request(20);
        assert_eq!(q.take_due(20, 1)[0].id, id);
        let listed = list(&dir).unwrap();
        assert_eq!(listed[0].kind, Kind::Report);
        delete(&dir, &id).unwrap();
        assert!(show(&dir, &id).is_err());
        assert!(show(&dir, "../etc").is_err());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn delete_touches_only_its_message() {
        let dir = tempdir();
        let q = Queue::open(&dir).unwrap();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let rcpts = ["a@x.test".to_owned()];
            ids.push(
                q.enqueue("", &rcpts, Kind::Report, b"", &mut &b"x\n"[..], 10)
                    .unwrap(),
            );
        }
        for mut e in q.take_due(10, 2) {
            e.attempts = 1;
            e.next_attempt = 1000;
            q.finish(e).unwrap();
        }
        delete(&dir, &ids[0]).unwrap();
        q.take_flush_request(20);
        assert_eq!(q.len(), 1, "the running queue forgot it");
        assert!(q.take_due(20, 2).is_empty(), "the other keeps its back-off");
        assert_eq!(q.next_due(), Some(1000));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dsn_parameters_survive_a_reopen_and_old_readers_skip_them() {
        let dir = tempdir();
        let q = Queue::open(&dir).unwrap();
        let rcpts = vec![
            (
                "a@x.test".to_owned(),
                RcptDsn {
                    notify: Some(Notify::On {
                        success: true,
                        failure: false,
                        delay: true,
                    }),
                    orcpt: Some(OriginalRecipient {
                        addr_type: "rfc822".into(),
                        address: "A+1=b@X.test".into(),
                    }),
                },
            ),
            (
                "b@y.test".to_owned(),
                RcptDsn {
                    notify: Some(Notify::Never),
                    orcpt: None,
                },
            ),
            ("c@y.test".to_owned(), RcptDsn::default()),
        ];
        let dsn = MessageDsn {
            ret: Some(Ret::Headers),
            envid: Some("env id\n1".into()),
        };
        let envelope = Envelope {
            from: "me@here.test",
            rcpts: &rcpts,
            kind: Kind::Message,
            dsn: &dsn,
        };
        let prepared = q.prepare(&envelope, b"", &mut &b"x\n"[..], 5).unwrap();
        assert!(
            list(&dir).unwrap().is_empty(),
            "prepared is not in the queue"
        );
        let committed = q.commit(prepared).unwrap();
        assert!(q.is_empty(), "committed is not handed to delivery yet");
        let id = q.publish(committed);
        drop(q);
        let e = list(&dir).unwrap().pop().unwrap();
        assert_eq!(e.id, id);
        assert_eq!(e.dsn, dsn);
        let got: Vec<(String, RcptDsn)> = e
            .rcpts
            .iter()
            .map(|r| (r.address.clone(), r.dsn.clone()))
            .collect();
        assert_eq!(got, rcpts);
        // The envelope lines an older reader knows are all still there, one per recipient.
        let text = fs::read_to_string(dir.join(format!("{id}.msg"))).unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("rcpt ")).count(), 3);
        assert!(
            text.contains("\nnotify SUCCESS,DELAY\norcpt rfc822;A+2B1+3Db@X.test\n"),
            "{text}"
        );
        // Rolling back a committed message removes it.
        let q = Queue::open(&dir).unwrap();
        let c = q
            .commit(q.prepare(&envelope, b"", &mut &b"y\n"[..], 6).unwrap())
            .unwrap();
        q.rollback(c).unwrap();
        assert_eq!(list(&dir).unwrap().len(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever is in a queue or state file (damage, a hand edit), opening never panics.
        #[test]
        fn damaged_files_never_panic(msg in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
                                     state in ".{0,200}") {
            let dir = tempdir();
            fs::write(dir.join("ABC.msg"), &msg).unwrap();
            fs::write(dir.join("ABC.state"), &state).unwrap();
            let q = Queue::open(&dir).unwrap();
            let _ = q.take_due(u64::MAX, 10);
            let _ = list(&dir);
            fs::remove_dir_all(dir).unwrap();
        }
    }
}
