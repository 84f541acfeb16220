//! Messages coming in (local delivery, APPEND) and going out through POP3.
//!
//! - An APPEND writes its body to `blobs` (by its SHA-256) when it is prepared: durable, and seen
//!   by nobody, since no message row names it yet; its commit inserts the message row. A crash
//!   between the two leaves at most a body nobody names.
//! - A delivery checks quota and mailboxes when a copy is prepared and writes nothing; its commit
//!   writes the bodies and the message rows of every copy in one transaction, each mailbox's UIDs
//!   allocated there. Commits running at the same time on one node share that transaction
//!   ([`GroupCommit`]), and so one WAL flush.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use deadpool_postgres::{GenericClient, Transaction};

use super::{
    ACCOUNT_USAGE, Db, charge, conventional_name, create_mailbox, ensure_account, flag_bits,
    mailbox_id, notify_in, pg, prepared, remove_messages,
};
use crate::core::directory::Address;
use crate::store::types::{
    AppendRequest, Appended, Flag, Flags, MailboxName, MaildropMessage, SpecialUse, StoreError,
};
use crate::store::{CopyId, Delivery, Maildrop, PreparedAppend};

/// A message body read in full, with its hash and sizes.
#[derive(Debug)]
pub(super) struct Body {
    /// The octets; emptied once saved.
    data: Vec<u8>,
    hash: Vec<u8>,
    /// Octets as stored.
    size: i64,
    /// Octets with CRLF line ends (each LF not after a CR counts two).
    vsize: i64,
}

impl Body {
    pub(super) fn read(message: &mut dyn Read) -> Result<Self, StoreError> {
        let mut data = Vec::new();
        message.read_to_end(&mut data)?;
        let hash = ring::digest::digest(&ring::digest::SHA256, &data)
            .as_ref()
            .to_vec();
        let mut bare_lf = 0i64;
        for i in memchr_lf(&data) {
            if i == 0 || data[i - 1] != b'\r' {
                bare_lf += 1;
            }
        }
        let size = data.len() as i64;
        Ok(Self {
            data,
            hash,
            size,
            vsize: size + bare_lf,
        })
    }

    /// Writes the body (once per content), unless it was saved already.
    pub(super) async fn save(&self, client: &impl GenericClient) -> Result<(), StoreError> {
        if self.data.is_empty() && self.size > 0 {
            return Ok(());
        }
        let statement = prepared(
            client,
            // A body saved again is young again: the collector leaves it to the commit.
            "INSERT INTO blobs (hash, body) VALUES ($1, $2) \
             ON CONFLICT (hash) DO UPDATE SET saved_at = now()",
        )
        .await?;
        client
            .execute(&statement, &[&self.hash, &self.data])
            .await
            .map_err(pg)?;
        Ok(())
    }

    /// Forgets the octets once saved.
    pub(super) fn saved(mut self) -> Self {
        self.data = Vec::new();
        self
    }
}

fn memchr_lf(data: &[u8]) -> impl Iterator<Item = usize> + '_ {
    data.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
}

/// Inserts one message row into a mailbox locked by the caller, with the UID given.
#[allow(clippy::too_many_arguments)]
async fn insert(
    tx: &Transaction<'_>,
    mailbox: i64,
    uid: i64,
    modseq: i64,
    flags: i16,
    keywords: &[String],
    internal_date: SystemTime,
    body: &Body,
) -> Result<(), StoreError> {
    let statement = prepared(
        tx,
        "INSERT INTO messages \
           (mailbox, uid, modseq, flags, keywords, internal_date, size, vsize, blob) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .await?;
    tx.execute(
        &statement,
        &[
            &mailbox,
            &uid,
            &modseq,
            &flags,
            &keywords,
            &internal_date,
            &body.size,
            &body.vsize,
            &body.hash,
        ],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

/// Allocates `n` UIDs and a MODSEQ in a mailbox, defining `keywords` there: returns the first
/// UID, the MODSEQ and the UIDVALIDITY. Locks the mailbox's row.
async fn allocate(
    tx: &Transaction<'_>,
    mailbox: i64,
    n: i64,
    keywords: &[String],
) -> Result<(i64, i64, u32), StoreError> {
    let row = if keywords.is_empty() {
        // The common case: the row's lock comes with the update, in one statement.
        let statement = prepared(
            tx,
            "UPDATE mailboxes SET uidnext = uidnext + $2, highestmodseq = highestmodseq + 1 \
             WHERE id = $1 RETURNING uidnext - $2, highestmodseq, uidvalidity",
        )
        .await?;
        tx.query_one(&statement, &[&mailbox, &n]).await
    } else {
        let statement = prepared(
            tx,
            "SELECT keywords FROM mailboxes WHERE id = $1 FOR UPDATE",
        )
        .await?;
        let mut all: Vec<String> = tx
            .query_one(&statement, &[&mailbox])
            .await
            .map_err(pg)?
            .get(0);
        for k in keywords {
            if !all.iter().any(|d| d.eq_ignore_ascii_case(k)) {
                all.push(k.clone());
            }
        }
        let statement = prepared(
            tx,
            "UPDATE mailboxes SET uidnext = uidnext + $2, highestmodseq = highestmodseq + 1, \
             keywords = $3 WHERE id = $1 RETURNING uidnext - $2, highestmodseq, uidvalidity",
        )
        .await?;
        tx.query_one(&statement, &[&mailbox, &n, &all]).await
    }
    .map_err(pg)?;
    Ok((row.get(0), row.get(1), row.get::<_, i64>(2) as u32))
}

/// Stores messages into a user's mailbox in one transaction, all or none.
pub(super) async fn append(
    db: &Db,
    user: &Address,
    owner: &str,
    name: &MailboxName,
    batch: &[(AppendRequest, Body)],
) -> Result<Vec<Appended>, StoreError> {
    let mut client = db.client().await?;
    for (_, body) in batch {
        body.save(&client).await?;
    }
    let tx = client.transaction().await.map_err(pg)?;
    let (id, _) = mailbox_id(&tx, owner, name).await?;
    let bytes: i64 = batch.iter().map(|(_, b)| b.size).sum();
    let mut keywords: Vec<String> = Vec::new();
    for (r, _) in batch {
        for k in &r.keywords {
            if !keywords.iter().any(|d| d.eq_ignore_ascii_case(k)) {
                keywords.push(k.clone());
            }
        }
    }
    let (base, modseq, uid_validity) = allocate(&tx, id, batch.len() as i64, &keywords).await?;
    charge(&tx, owner, bytes, batch.len() as i64, true).await?;
    let now = SystemTime::now();
    let mut out = Vec::with_capacity(batch.len());
    for (i, (request, body)) in batch.iter().enumerate() {
        let uid = base + i as i64;
        insert(
            &tx,
            id,
            uid,
            modseq,
            flag_bits(request.flags),
            &request.keywords,
            request.internal_date.unwrap_or(now),
            body,
        )
        .await?;
        out.push(Appended {
            uid_validity,
            uid: uid as u32,
        });
    }
    notify_in(&tx, user, name).await?;
    tx.commit().await.map_err(pg)?;
    Ok(out)
}

/// An APPEND whose body is saved, waiting for its commit.
#[derive(Debug)]
pub(super) struct PgAppend {
    pub(super) db: Arc<Db>,
    pub(super) user: Address,
    pub(super) name: String,
    pub(super) mailbox: MailboxName,
    pub(super) request: AppendRequest,
    pub(super) body: Body,
}

impl PreparedAppend for PgAppend {
    fn commit(self: Box<Self>) -> Result<Appended, StoreError> {
        let this = *self;
        let batch = [(this.request.clone(), this.body)];
        let batch = &batch;
        let appended = this
            .db
            .run(|| append(&this.db, &this.user, &this.name, &this.mailbox, batch))?;
        // The transaction told the other nodes.
        this.db.changed_here(&this.user, &this.mailbox);
        appended
            .into_iter()
            .next()
            .ok_or(StoreError::Misuse("an append of one message stored none"))
    }
}

/// One copy of a delivery.
#[derive(Debug)]
enum Copy {
    /// Its body saved.
    Prepared(Body),
    /// In its mailbox: (mailbox id, UIDVALIDITY, UID).
    Committed(i64, u32, i64),
    /// Not committed, rolled back, or failed.
    Dropped,
}

#[derive(Debug)]
struct Target {
    user: Address,
    owner: String,
    mailbox: MailboxName,
    flags: i16,
    keywords: Vec<String>,
    copy: Copy,
}

/// A local delivery into users' mailboxes in the database.
#[derive(Debug)]
pub(super) struct PgDelivery {
    db: Arc<Db>,
    copies: Vec<Target>,
}

impl PgDelivery {
    pub(super) fn new(db: Arc<Db>) -> Self {
        Self {
            db,
            copies: Vec::new(),
        }
    }
}

/// System flags and valid keywords of a Sieve `:flags` list (unknown ones dropped).
fn parse_flags(flags: &[String]) -> (i16, Vec<String>) {
    let mut out = Flags::empty();
    let mut keywords: Vec<String> = Vec::new();
    for f in flags {
        match f.to_ascii_lowercase().as_str() {
            "\\seen" => out.insert(Flag::Seen),
            "\\answered" => out.insert(Flag::Answered),
            "\\flagged" => out.insert(Flag::Flagged),
            "\\deleted" => out.insert(Flag::Deleted),
            "\\draft" => out.insert(Flag::Draft),
            _ if !f.starts_with('\\')
                && mailwright_maildir::is_valid_keyword(f)
                && !keywords.iter().any(|k| k.eq_ignore_ascii_case(f)) =>
            {
                keywords.push(f.clone());
            }
            _ => {}
        }
    }
    (flag_bits(out), keywords)
}

impl Delivery for PgDelivery {
    fn prepare(&mut self, user: &Address, message: &mut dyn Read) -> Result<CopyId, StoreError> {
        self.prepare_into(user, &MailboxName::inbox(), false, &[], message)
    }

    fn prepare_special(
        &mut self,
        user: &Address,
        special: SpecialUse,
        message: &mut dyn Read,
    ) -> Result<CopyId, StoreError> {
        match conventional_name(special) {
            Some(name) => {
                let name = MailboxName::new(name)?;
                self.prepare_into(user, &name, true, &[], message)
            }
            None => self.prepare(user, message),
        }
    }

    fn prepare_into(
        &mut self,
        user: &Address,
        mailbox: &MailboxName,
        create: bool,
        flags: &[String],
        message: &mut dyn Read,
    ) -> Result<CopyId, StoreError> {
        let body = Body::read(message)?;
        let owner = user.to_string();
        let db = &*self.db;
        let (owner_ref, body_ref) = (&owner, &body);
        db.run(|| async move {
            let mut client = db.client().await?;
            let mut row = client
                .query_opt(&prepared(&client, ACCOUNT_USAGE).await?, &[owner_ref])
                .await
                .map_err(pg)?;
            if row.is_none() {
                // The user's first message: make the account (another client from the pool).
                drop(client);
                ensure_account(db, owner_ref).await?;
                client = db.client().await?;
                row = client
                    .query_opt(&prepared(&client, ACCOUNT_USAGE).await?, &[owner_ref])
                    .await
                    .map_err(pg)?;
            }
            if create && !mailbox.is_inbox() {
                super::check_name(mailbox)?;
                let tx = client.transaction().await.map_err(pg)?;
                for parent in mailbox.parents() {
                    let parent = MailboxName::new(parent)?;
                    if !parent.is_inbox() {
                        match create_mailbox(&tx, owner_ref, &parent).await {
                            Ok(_) | Err(StoreError::MailboxExists) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                match create_mailbox(&tx, owner_ref, mailbox).await {
                    Ok(_) | Err(StoreError::MailboxExists) => {}
                    Err(e) => return Err(e),
                }
                tx.commit().await.map_err(pg)?;
            }
            mailbox_id(&client, owner_ref, mailbox).await?;
            if let Some(q) = row.as_ref().and_then(super::usage_of)
                && !q.fits(body_ref.size as u64)
            {
                return Err(StoreError::OverQuota);
            }
            // The body is written by the commit, in the transaction that names it.
            Ok(())
        })?;
        let (flags, keywords) = parse_flags(flags);
        self.copies.push(Target {
            user: user.clone(),
            owner,
            mailbox: mailbox.clone(),
            flags,
            keywords,
            copy: Copy::Prepared(body),
        });
        Ok(CopyId::new(self.copies.len() - 1))
    }

    fn commit(&mut self, copies: &[CopyId]) -> Vec<Result<(), StoreError>> {
        let mut chosen = Vec::with_capacity(copies.len());
        let mut items = Vec::with_capacity(copies.len());
        for c in copies {
            let Some(t) = self.copies.get_mut(c.index()) else {
                continue;
            };
            if let Copy::Prepared(body) = std::mem::replace(&mut t.copy, Copy::Dropped) {
                chosen.push(c.index());
                items.push(Item {
                    user: t.user.clone(),
                    owner: t.owner.clone(),
                    mailbox: t.mailbox.clone(),
                    flags: t.flags,
                    keywords: t.keywords.clone(),
                    body,
                });
            }
        }
        match self.db.deliveries.commit(&self.db, items) {
            Ok(placed) => {
                for (&i, (id, uid_validity, uid)) in chosen.iter().zip(placed) {
                    self.copies[i].copy = Copy::Committed(id, uid_validity, uid);
                }
                copies
                    .iter()
                    .map(|c| match self.copies.get(c.index()) {
                        Some(Target {
                            copy: Copy::Committed(..),
                            ..
                        }) => Ok(()),
                        _ => Err(StoreError::Misuse("copy not prepared")),
                    })
                    .collect()
            }
            Err(e) => {
                let text = e.to_string();
                copies
                    .iter()
                    .map(|_| match &e {
                        StoreError::OverQuota => Err(StoreError::OverQuota),
                        StoreError::NoSuchMailbox => Err(StoreError::NoSuchMailbox),
                        _ => Err(StoreError::Io(io::Error::other(text.clone()))),
                    })
                    .collect()
            }
        }
    }

    fn rollback(&mut self, copy: CopyId) -> Result<(), StoreError> {
        let t = self
            .copies
            .get(copy.index())
            .ok_or(StoreError::Misuse("no such copy in this delivery"))?;
        let Copy::Committed(id, _, uid) = t.copy else {
            return Err(StoreError::Misuse("rollback of a copy not committed"));
        };
        let db = &*self.db;
        let owner = &t.owner;
        db.run(|| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            tx.execute("SELECT 1 FROM mailboxes WHERE id = $1 FOR UPDATE", &[&id])
                .await
                .map_err(pg)?;
            remove_messages(&tx, owner, id, &[uid], false).await?;
            tx.commit().await.map_err(pg)
        })?;
        self.copies[copy.index()].copy = Copy::Dropped;
        Ok(())
    }

    fn publish(self: Box<Self>) -> Vec<(CopyId, String)> {
        let mut out = Vec::new();
        for (i, t) in self.copies.iter().enumerate() {
            if let Copy::Committed(_, uid_validity, uid) = t.copy {
                // The commit's transaction told the other nodes.
                self.db.changed_here(&t.user, &t.mailbox);
                out.push((CopyId::new(i), unique_id(uid_validity, uid)));
            }
        }
        out
    }
}

/// A copy handed to the group commit.
#[derive(Debug)]
struct Item {
    user: Address,
    owner: String,
    mailbox: MailboxName,
    flags: i16,
    keywords: Vec<String>,
    body: Body,
}

/// Where a copy went: (mailbox id, UIDVALIDITY, UID).
type Placed = (i64, u32, i64);

/// One `Delivery::commit` waiting in the group.
#[derive(Debug)]
struct Job {
    items: Vec<Item>,
    result: Mutex<Option<Result<Vec<Placed>, StoreError>>>,
}

/// Group commit of deliveries on one node, as the Maildir store's fsyncs are grouped.
///
/// A commit holds its mailboxes' rows from the UID allocation to the end of its transaction,
/// which waits for the WAL flush: deliveries into one mailbox would go one flush at a time.
/// Instead, the first commit to arrive leads: it takes every commit waiting, places them all in
/// one transaction, and hands each its result; commits that arrive meanwhile wait for the next
/// round, led by one of them. A round that fails is run again one commit at a time, so one
/// commit's error (a mailbox deleted since its prepare) is its own.
#[derive(Debug, Default)]
pub(super) struct GroupCommit {
    state: Mutex<GroupState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct GroupState {
    leading: bool,
    waiting: Vec<Arc<Job>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A round's leader: however the round ends, its commits get a result and the next may lead.
struct Round<'a> {
    group: &'a GroupCommit,
    jobs: Vec<Arc<Job>>,
}

impl Drop for Round<'_> {
    fn drop(&mut self) {
        for job in &self.jobs {
            lock(&job.result).get_or_insert(Err(StoreError::Misuse("the commit's round failed")));
        }
        lock(&self.group.state).leading = false;
        self.group.done.notify_all();
    }
}

impl GroupCommit {
    /// Places `items` in their mailboxes, with the commits of other sessions running now:
    /// where each went, in order, or why none did.
    fn commit(&self, db: &Db, items: Vec<Item>) -> Result<Vec<Placed>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let job = Arc::new(Job {
            items,
            result: Mutex::new(None),
        });
        crate::core::blocking(|| {
            let mut state = lock(&self.state);
            state.waiting.push(Arc::clone(&job));
            loop {
                if let Some(result) = lock(&job.result).take() {
                    return result;
                }
                if state.leading {
                    state = self
                        .done
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                    continue;
                }
                state.leading = true;
                let round = Round {
                    group: self,
                    jobs: std::mem::take(&mut state.waiting),
                };
                drop(state);
                for (job, result) in round.jobs.iter().zip(place_round(db, &round.jobs)) {
                    *lock(&job.result) = Some(result);
                }
                drop(round);
                state = lock(&self.state);
            }
        })
    }
}

/// Runs one round: all its commits in one transaction, or, if that fails, each alone.
fn place_round(db: &Db, jobs: &[Arc<Job>]) -> Vec<Result<Vec<Placed>, StoreError>> {
    let all: Vec<&Item> = jobs.iter().flat_map(|j| &j.items).collect();
    match db.run(|| place(db, &all)) {
        Ok(mut placed) => jobs
            .iter()
            .map(|j| Ok(placed.drain(..j.items.len()).collect()))
            .collect(),
        Err(e) if jobs.len() == 1 => vec![Err(e)],
        Err(_) => jobs
            .iter()
            .map(|j| {
                let items: Vec<&Item> = j.items.iter().collect();
                db.run(|| place(db, &items))
            })
            .collect(),
    }
}

/// Stores copies in one transaction: their bodies (each once), then per mailbox, in a fixed
/// order so that transactions lock rows alike, the UIDs in arrival order and one MODSEQ, then the
/// quota of each owner, and a `NOTIFY` per mailbox.
async fn place(db: &Db, items: &[&Item]) -> Result<Vec<Placed>, StoreError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await.map_err(pg)?;
    let mut saved: Vec<&[u8]> = Vec::new();
    for item in items {
        if !saved.contains(&item.body.hash.as_slice()) {
            item.body.save(&tx).await?;
            saved.push(&item.body.hash);
        }
    }
    let mailbox_of = |i: usize| (items[i].owner.as_str(), items[i].mailbox.as_str());
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| mailbox_of(i)); // stable: arrival order within a mailbox
    let now = SystemTime::now();
    let mut placed = vec![(0, 0, 0); items.len()];
    let mut charges: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for group in order.chunk_by(|&a, &b| mailbox_of(a) == mailbox_of(b)) {
        let first = items[group[0]];
        let (id, _) = mailbox_id(&tx, &first.owner, &first.mailbox).await?;
        let mut keywords: Vec<String> = Vec::new();
        for k in group.iter().flat_map(|&i| &items[i].keywords) {
            if !keywords.iter().any(|d| d.eq_ignore_ascii_case(k)) {
                keywords.push(k.clone());
            }
        }
        let (base, modseq, uid_validity) = allocate(&tx, id, group.len() as i64, &keywords).await?;
        for (n, &i) in group.iter().enumerate() {
            let item = items[i];
            let uid = base + n as i64;
            insert(
                &tx,
                id,
                uid,
                modseq,
                item.flags,
                &item.keywords,
                now,
                &item.body,
            )
            .await?;
            placed[i] = (id, uid_validity, uid);
            let owed = charges.entry(&item.owner).or_default();
            owed.0 += item.body.size;
            owed.1 += 1;
        }
        notify_in(&tx, &first.user, &first.mailbox).await?;
    }
    for (owner, (bytes, messages)) in charges {
        charge(&tx, owner, bytes, messages, false).await?;
    }
    tx.commit().await.map_err(pg)?;
    Ok(placed)
}

/// The id of a message (POP3 UIDL): its mailbox's UIDVALIDITY and its UID.
fn unique_id(uid_validity: u32, uid: i64) -> String {
    format!("{uid_validity}.{uid}")
}

/// How long a POP3 lock lasts when its node died holding it.
const LOCK_EXPIRY_SQL: &str = "interval '30 minutes'";

/// The INBOX as a POP3 maildrop, locked in the `accounts` row.
#[derive(Debug)]
pub(super) struct PgMaildrop {
    db: Arc<Db>,
    user: Address,
    owner: String,
    token: String,
    inbox: i64,
    messages: Vec<MaildropMessage>,
    /// (UID, body hash) of each message.
    rows: Vec<(i64, Vec<u8>)>,
    released: bool,
}

impl PgMaildrop {
    pub(super) fn lock(db: Arc<Db>, user: Address, owner: String) -> Result<Self, StoreError> {
        let mut token = [0u8; 12];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut token)
            .map_err(|_| StoreError::Io(io::Error::other("no randomness")))?;
        let token: String = token.iter().fold(String::new(), |mut out, b| {
            use std::fmt::Write;
            let _ = write!(out, "{b:02x}");
            out
        });
        let (owner_ref, token_ref) = (&owner, &token);
        let dbr = &*db;
        let (inbox, uid_validity, rows) = dbr.run(|| async move {
            let client = dbr.client().await?;
            let locked = client
                .execute(
                    &format!(
                        "UPDATE accounts SET pop3_lock = $2, pop3_locked_at = now() \
                         WHERE username = $1 AND (pop3_lock IS NULL \
                         OR pop3_locked_at < now() - {LOCK_EXPIRY_SQL})"
                    ),
                    &[owner_ref, token_ref],
                )
                .await
                .map_err(pg)?;
            if locked == 0 {
                return Err(StoreError::InUse);
            }
            let (inbox, uid_validity) =
                mailbox_id(&client, owner_ref, &MailboxName::inbox()).await?;
            let rows = client
                .query(
                    "SELECT uid, vsize, blob FROM messages WHERE mailbox = $1 ORDER BY uid",
                    &[&inbox],
                )
                .await
                .map_err(pg)?;
            Ok((inbox, uid_validity, rows))
        })?;
        let messages = rows
            .iter()
            .map(|r| MaildropMessage {
                size: r.get::<_, i64>(1) as u64,
                id: unique_id(uid_validity, r.get(0)),
            })
            .collect();
        let rows = rows.iter().map(|r| (r.get(0), r.get(2))).collect();
        Ok(Self {
            db,
            user,
            owner,
            token,
            inbox,
            messages,
            rows,
            released: false,
        })
    }
}

impl Maildrop for PgMaildrop {
    fn messages(&self) -> &[MaildropMessage] {
        &self.messages
    }

    fn open(&self, index: usize) -> Result<Box<dyn Read + Send>, StoreError> {
        let (_, hash) = self
            .rows
            .get(index)
            .ok_or(StoreError::Misuse("no such message in the maildrop"))?;
        let body = self.db.run(|| async {
            let client = self.db.client().await?;
            client
                .query_opt("SELECT body FROM blobs WHERE hash = $1", &[hash])
                .await
                .map_err(pg)?
                .map(|r| r.get::<_, Vec<u8>>(0))
                .ok_or(StoreError::Expunged(Vec::new()))
        })?;
        Ok(Box::new(io::Cursor::new(body)))
    }

    fn delete(mut self: Box<Self>, indexes: &[usize]) -> Result<usize, StoreError> {
        let uids: Vec<i64> = indexes
            .iter()
            .filter_map(|&i| self.rows.get(i).map(|(u, _)| *u))
            .collect();
        let this = &*self;
        let gone = this.db.run(|| async {
            let mut client = this.db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            tx.execute(
                "SELECT 1 FROM mailboxes WHERE id = $1 FOR UPDATE",
                &[&this.inbox],
            )
            .await
            .map_err(pg)?;
            let gone = remove_messages(&tx, &this.owner, this.inbox, &uids, false).await?;
            tx.execute(
                "UPDATE accounts SET pop3_lock = NULL WHERE username = $1 AND pop3_lock = $2",
                &[&this.owner, &this.token],
            )
            .await
            .map_err(pg)?;
            tx.commit().await.map_err(pg)?;
            Ok(gone.len())
        })?;
        self.released = true;
        if gone > 0 {
            self.db.changed(&self.user, &MailboxName::inbox());
        }
        Ok(gone)
    }
}

impl Drop for PgMaildrop {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // Dropped anywhere (an async thread too): the unlock runs as a task of its own.
        let pool = self.db.pool.clone();
        let (owner, token) = (self.owner.clone(), self.token.clone());
        self.db.handle.spawn(async move {
            if let Ok(c) = pool.get().await {
                let _ = c
                    .execute(
                        "UPDATE accounts SET pop3_lock = NULL WHERE username = $1 AND pop3_lock = $2",
                        &[&owner, &token],
                    )
                    .await;
            }
        });
    }
}
