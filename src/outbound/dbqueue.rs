//! The outbound queue in the store's PostgreSQL database (`[outbound] queue = "database"`),
//! shared by every node: the backend of [`Queue`] behind the same methods.
//!
//! One row per message in `outbound_queue`: the envelope and the state as the queue files write
//! them (so both backends read them with the same code), the message as `bytea`, when the next
//! attempt is due, and a claim: `claimed_by` (this node's id, made at each start) and
//! `claimed_until` (seconds since the epoch by the database's clock).
//!
//! - **Enqueue**: [`Queue::commit`](super::queue::Queue::commit) inserts the row in its own
//!   transaction, claimed by this node, before the client hears `250`; `publish` ends the claim
//!   and sends `NOTIFY mailwright_queue`, which wakes every node's delivery loop. A node that
//!   dies between the two leaves a claim that ends with its lease: the message is then delivered
//!   by another node, as the queue in files delivers it after a restart.
//! - **Claim**: `SELECT ... FOR UPDATE SKIP LOCKED` of due rows nobody holds, then an `UPDATE`
//!   of their claim, in one short transaction: two nodes never take the same row. No
//!   transaction stays open during a delivery.
//! - **Lease**: a node renews its claims every third of `queue_lease_secs`; the claims of a node
//!   that stopped (killed, or cut from the database) end after it, and its messages are taken by
//!   the others.
//! - **Finish**: the row is updated (the claim ended) or, when every recipient is done, deleted.
//! - **No polling while idle**: after a look finds nothing due, the node remembers when the
//!   earliest row is due (or the earliest claim of another node runs out) and asks again only
//!   then, when a `NOTIFY` or one of its own changes wakes its delivery loop, or after a lease
//!   at the latest; it renews claims only while it holds some.
//!
//! The duplicate window is the queue in files' (between the next hop's `250` and the update of
//! the row, a node that dies there has the message delivered again by another), and one more: a
//! node that cannot reach the database for longer than the lease while it delivers sees its
//! messages taken over, and both may deliver them.

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::outbound::queue::{Entry, Queue, apply_state, parse_envelope, render_state};
use crate::store::StoreError;
use crate::store::postgres::{Database, QUEUE_CHANNEL};

/// The columns a claim reads.
const COLUMNS: &str = "id, envelope, state, size, next_attempt";

/// The database's clock, in seconds since the epoch.
const DB_NOW: &str = "extract(epoch from now())::bigint";

fn io_err(e: StoreError) -> io::Error {
    match e {
        StoreError::Io(e) => e,
        other => io::Error::other(other),
    }
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    crate::store::postgres::pg(e)
}

// PostgreSQL's integers are signed; the sizes, times and counts here are far below the wrap.
#[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
fn entry_of(row: &tokio_postgres::Row) -> io::Result<Entry> {
    let id: String = row.get(0);
    let envelope: String = row.get(1);
    let state: String = row.get(2);
    let size: i64 = row.get(3);
    let next: i64 = row.get(4);
    let mut entry = parse_envelope(&id, &mut envelope.as_bytes())?;
    entry.size = size as u64;
    apply_state(&mut entry, &state);
    entry.next_attempt = next as u64;
    Ok(entry)
}

#[allow(clippy::cast_possible_wrap)]
fn signed(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

/// What the last look at the table found, to be trusted until something changes.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// When it looked (seconds since the epoch, this node's clock).
    at: u64,
    /// When the earliest row nobody holds is due, or the earliest claim runs out.
    due: Option<u64>,
}

/// This node's side of the queue in the database.
pub(crate) struct DbQueue {
    db: Database,
    /// This node's id in `claimed_by`: new at each start, so that no claim of an earlier run
    /// is taken for this one's.
    node: Arc<str>,
    lease: i64,
    /// The rows this node holds (claimed or committed and not yet published); the renewing
    /// task, which holds it weakly, ends after the queue.
    held: Arc<Mutex<HashSet<String>>>,
    /// The last look, until a change makes it stale.
    seen: Mutex<Option<Seen>>,
}

impl std::fmt::Debug for DbQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbQueue")
            .field("node", &self.node)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl DbQueue {
    /// This node's queue on `db`, and the task renewing its claims (on the store's runtime).
    pub(crate) fn new(db: Database, lease_secs: u64) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        let node: Arc<str> = format!(
            "{host}/{}/{}",
            std::process::id(),
            crate::outbound::queue::new_id()
        )
        .into();
        let lease = signed(lease_secs.max(3));
        let held = Arc::new(Mutex::new(HashSet::new()));
        db.spawn(renew(
            db.clone(),
            node.clone(),
            lease,
            Arc::downgrade(&held),
        ));
        Self {
            db,
            node,
            lease,
            held,
            seen: Mutex::new(None),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets the last look: the next asks the table again.
    pub(crate) fn stale(&self) {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Whether the last look still says nothing is due at `now`.
    #[allow(clippy::cast_sign_loss)]
    fn quiet(&self, now: u64) -> bool {
        let seen = *self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.is_some_and(|s| {
            now < s.at.saturating_add(self.lease as u64) && s.due.is_none_or(|d| now < d)
        })
    }

    /// Moves the messages of the queue in files into the database (each inserted, then its
    /// files removed). Returns how many moved and how many could not be read.
    pub(crate) fn import(&self, files: &Queue) -> io::Result<(usize, usize)> {
        let (mut moved, mut left) = (0, 0);
        for (entry, envelope, body) in files.file_entries() {
            let Ok(body) = body else {
                left += 1;
                continue;
            };
            let state = render_state(&entry);
            let (id, next, size) = (
                entry.id.clone(),
                signed(entry.next_attempt),
                signed(body.len() as u64),
            );
            self.db
                .run(|| async {
                    let client = self.db.client().await?;
                    client
                        .execute(
                            "INSERT INTO outbound_queue (id, envelope, state, body, size, \
                             next_attempt) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                            &[&id, &envelope, &state, &body, &size, &next],
                        )
                        .await
                        .map_err(pg)
                })
                .map_err(io_err)?;
            files.remove_files(&entry.id)?;
            moved += 1;
        }
        Ok((moved, left))
    }

    /// Whether the last look found the table empty, and nothing changed since that this node
    /// knows of (no query).
    pub(crate) fn known_empty(&self) -> bool {
        let seen = *self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.is_some_and(|s| s.due.is_none()) && self.held().is_empty()
    }

    /// Messages in the queue, of every node.
    pub(crate) fn len(&self) -> usize {
        let n = self.db.run(|| async {
            let client = self.db.client().await?;
            let row = client
                .query_one("SELECT count(*) FROM outbound_queue", &[])
                .await
                .map_err(pg)?;
            Ok(row.get::<_, i64>(0))
        });
        match n {
            Ok(n) => usize::try_from(n).unwrap_or(0),
            Err(e) => {
                tracing::warn!("queue: counting the messages: {e}");
                0
            }
        }
    }

    /// Inserts a message, held by this node until [`DbQueue::publish`]; committed on return.
    pub(crate) fn commit(&self, entry: &Entry, envelope: &str, message: &[u8]) -> io::Result<()> {
        let (size, next) = (signed(message.len() as u64), signed(entry.next_attempt));
        self.db
            .run(|| async {
                let client = self.db.client().await?;
                client
                    .execute(
                        &format!(
                            "INSERT INTO outbound_queue (id, envelope, body, size, next_attempt, \
                             claimed_by, claimed_until) VALUES ($1, $2, $3, $4, $5, $6, \
                             {DB_NOW} + $7)"
                        ),
                        &[
                            &entry.id,
                            &envelope,
                            &message,
                            &size,
                            &next,
                            &&*self.node,
                            &self.lease,
                        ],
                    )
                    .await
                    .map_err(pg)
            })
            .map_err(io_err)?;
        self.held().insert(entry.id.clone());
        Ok(())
    }

    /// Ends this node's hold on a committed message and wakes every node's delivery loop.
    pub(crate) fn publish(&self, id: &str) {
        let result = self.db.run(|| async {
            let client = self.db.client().await?;
            client
                .execute(
                    "UPDATE outbound_queue SET claimed_by = NULL, claimed_until = NULL \
                     WHERE id = $1 AND claimed_by = $2",
                    &[&id, &&*self.node],
                )
                .await
                .map_err(pg)?;
            client
                .execute("SELECT pg_notify($1, '')", &[&QUEUE_CHANNEL])
                .await
                .map_err(pg)
        });
        match result {
            Ok(_) => {
                self.held().remove(id);
            }
            Err(e) => {
                tracing::warn!(%id, "queue: releasing a new message: {e} (it waits for its lease)");
            }
        }
        self.stale();
    }

    /// Removes a message.
    pub(crate) fn delete(&self, id: &str) -> io::Result<()> {
        self.held().remove(id);
        self.db
            .run(|| async {
                let client = self.db.client().await?;
                client
                    .execute("DELETE FROM outbound_queue WHERE id = $1", &[&id])
                    .await
                    .map_err(pg)
            })
            .map(drop)
            .map_err(io_err)
    }

    /// Claims up to `limit` due messages nobody holds, those for which `busy` is true left
    /// where they are.
    pub(crate) fn take_due(
        &self,
        now: u64,
        limit: usize,
        busy: &mut dyn FnMut(&Entry) -> bool,
    ) -> Vec<Entry> {
        if limit == 0 || self.quiet(now) {
            return Vec::new();
        }
        let now = signed(now);
        // Some of the rows looked at may be left for a busy destination: look at more.
        let window = i64::try_from(limit.saturating_mul(4).saturating_add(64)).unwrap_or(i64::MAX);
        let busy = std::cell::RefCell::new(busy);
        let result = self.db.run(|| async {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let rows = tx
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM outbound_queue WHERE next_attempt <= $1 \
                         AND (claimed_until IS NULL OR claimed_until < {DB_NOW}) \
                         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"
                    ),
                    &[&now, &window],
                )
                .await
                .map_err(pg)?;
            let mut taken = Vec::new();
            for row in &rows {
                if taken.len() >= limit {
                    break;
                }
                match entry_of(row) {
                    Ok(e) if e.is_done() => {}
                    Ok(e) => {
                        if !(busy.borrow_mut())(&e) {
                            taken.push(e);
                        }
                    }
                    Err(e) => tracing::warn!("queue: skipping {}: {e}", row.get::<_, &str>(0)),
                }
            }
            if !taken.is_empty() {
                let ids: Vec<&str> = taken.iter().map(|e| e.id.as_str()).collect();
                tx.execute(
                    &format!(
                        "UPDATE outbound_queue SET claimed_by = $1, \
                         claimed_until = {DB_NOW} + $2 WHERE id = ANY($3)"
                    ),
                    &[&&*self.node, &self.lease, &ids],
                )
                .await
                .map_err(pg)?;
            }
            tx.commit().await.map_err(pg)?;
            Ok(taken)
        });
        let taken = result.unwrap_or_else(|e| {
            tracing::warn!("queue: claiming due messages: {e}");
            Vec::new()
        });
        self.held().extend(taken.iter().map(|e| e.id.clone()));
        taken
    }

    /// Ends this node's claims on `entries`, untouched.
    pub(crate) fn release(&self, entries: &[Entry]) {
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let result = self.db.run(|| async {
            let client = self.db.client().await?;
            client
                .execute(
                    "UPDATE outbound_queue SET claimed_by = NULL, claimed_until = NULL \
                     WHERE id = ANY($1) AND claimed_by = $2",
                    &[&ids, &&*self.node],
                )
                .await
                .map_err(pg)
        });
        match result {
            Ok(_) => {
                let mut held = self.held();
                for id in ids {
                    held.remove(id);
                }
            }
            Err(e) => tracing::warn!("queue: releasing messages: {e} (they wait for their lease)"),
        }
        self.stale();
    }

    /// When the earliest message nobody holds is due, or the earliest claim of another node
    /// runs out (as this node's clock reads); remembered until something changes.
    #[allow(clippy::cast_sign_loss)]
    pub(crate) fn next_due(&self) -> Option<u64> {
        let now = crate::outbound::queue::now_secs();
        if let Some(seen) = *self.seen.lock().unwrap_or_else(PoisonError::into_inner) {
            return seen.due;
        }
        let looked = self.db.run(|| async {
            let client = self.db.client().await?;
            let row = client
                .query_one(
                    &format!(
                        "SELECT (SELECT min(next_attempt) FROM outbound_queue \
                         WHERE claimed_until IS NULL OR claimed_until < {DB_NOW}), \
                         (SELECT min(claimed_until) - {DB_NOW} FROM outbound_queue \
                         WHERE claimed_until >= {DB_NOW} AND claimed_by <> $1)"
                    ),
                    &[&&*self.node],
                )
                .await
                .map_err(pg)?;
            Ok((row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1)))
        });
        match looked {
            Ok((due, claim_left)) => {
                let due = due.map(|d| d.max(0) as u64);
                let claim_ends = claim_left.map(|s| now + s.max(0) as u64 + 1);
                let due = match (due, claim_ends) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                *self.seen.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(Seen { at: now, due });
                due
            }
            Err(e) => {
                tracing::warn!("queue: {e}");
                None
            }
        }
    }

    /// The message of a queued entry.
    pub(crate) fn read_message(&self, id: &str) -> io::Result<Vec<u8>> {
        self.db
            .run(|| async {
                let client = self.db.client().await?;
                client
                    .query_opt("SELECT body FROM outbound_queue WHERE id = $1", &[&id])
                    .await
                    .map_err(pg)
            })
            .map_err(io_err)?
            .map(|row| row.get(0))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such queued message"))
    }

    /// Records an attempt: the row's state replaced and this node's claim ended, or the row
    /// deleted when every recipient is done.
    pub(crate) fn finish(&self, entry: &Entry) -> io::Result<()> {
        let id = entry.id.as_str();
        self.stale();
        if entry.is_done() {
            self.delete(id)?;
            tracing::info!(%id, "removed from queue");
            return Ok(());
        }
        let (state, next) = (render_state(entry), signed(entry.next_attempt));
        let updated = self
            .db
            .run(|| async {
                let client = self.db.client().await?;
                client
                    .execute(
                        "UPDATE outbound_queue SET state = $2, next_attempt = $3, \
                         claimed_by = NULL, claimed_until = NULL \
                         WHERE id = $1 AND claimed_by = $4",
                        &[&id, &state, &next, &&*self.node],
                    )
                    .await
                    .map_err(pg)
            })
            .map_err(io_err)?;
        self.held().remove(id);
        if updated == 0 {
            // Deleted meanwhile, or its claim ran out and another node took it: that node's
            // outcome stands.
            tracing::warn!(%id, "queue: the message was no longer this node's to update");
        }
        Ok(())
    }

    /// Makes every message nobody holds (or the given ones) due at `now`. Returns how many.
    pub(crate) fn retry_now(&self, only: Option<&[String]>, now: u64) -> usize {
        let ids: Option<Vec<&str>> = only.map(|ids| ids.iter().map(String::as_str).collect());
        let result = self.db.run(|| async {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let rows = tx
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM outbound_queue \
                         WHERE ($1::text[] IS NULL OR id = ANY($1)) FOR UPDATE SKIP LOCKED"
                    ),
                    &[&ids],
                )
                .await
                .map_err(pg)?;
            let mut n = 0;
            for row in &rows {
                let Ok(mut e) = entry_of(row) else { continue };
                e.next_attempt = now;
                for wait in e.waits.values_mut() {
                    wait.1 = now;
                }
                tx.execute(
                    "UPDATE outbound_queue SET state = $2, next_attempt = $3 WHERE id = $1",
                    &[&e.id, &render_state(&e), &signed(now)],
                )
                .await
                .map_err(pg)?;
                n += 1;
            }
            tx.commit().await.map_err(pg)?;
            // The other nodes look again too.
            client
                .execute("SELECT pg_notify($1, '')", &[&QUEUE_CHANNEL])
                .await
                .map_err(pg)?;
            Ok(n)
        });
        self.stale();
        result.unwrap_or_else(|e| {
            tracing::warn!("queue: retry: {e}");
            0
        })
    }
}

/// Renews `node`'s claims every third of the lease while the queue lives and holds some.
async fn renew(db: Database, node: Arc<str>, lease: i64, held: Weak<Mutex<HashSet<String>>>) {
    let every = Duration::from_secs(u64::try_from(lease / 3).unwrap_or(1).max(1));
    loop {
        tokio::time::sleep(every).await;
        let Some(held) = held.upgrade() else {
            return;
        };
        if db.is_closed() {
            return;
        }
        if held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
        {
            continue;
        }
        drop(held);
        let renewed = async {
            let client = db.client().await?;
            client
                .execute(
                    &format!(
                        "UPDATE outbound_queue SET claimed_until = {DB_NOW} + $2 \
                         WHERE claimed_by = $1"
                    ),
                    &[&&*node, &lease],
                )
                .await
                .map_err(pg)
        }
        .await;
        if let Err(e) = renewed {
            tracing::warn!("queue: renewing this node's claims: {e}");
        }
    }
}
