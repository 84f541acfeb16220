//! The PostgreSQL store: [`MailStore`] over a database that several front-end nodes share
//! (`[store] backend = "postgres"`).
//!
//! - Tables (module `schema`, made and migrated at start): `accounts` (the UIDVALIDITY counter,
//!   quota usage and limits, the POP3 lock), `mailboxes`, `messages` (flags as bits, keywords as
//!   text), `blobs` (bodies by SHA-256, so a COPY writes no body), `expunged` (the UIDs and
//!   MODSEQs QRESYNC's VANISHED needs), `subscriptions`.
//! - UIDs and MODSEQs are allocated in the transaction that stores the change, from the
//!   mailbox's row (`UPDATE mailboxes SET uidnext = uidnext + n ... RETURNING`), which that
//!   transaction holds locked: two nodes never hand out the same UID.
//! - Bodies are stored as the Maildir store stores them (LF line ends), so IMAP and POP3 serve
//!   the same octets and sizes; the CRLF size is kept beside the stored one.
//! - The traits are synchronous and called off the async threads (`core::blocking`); each call
//!   runs its queries with the runtime's `Handle::block_on` on a deadpool pool.
//! - Every write wakes the mailbox's [`Changes`] on this node and sends `NOTIFY
//!   mailwright_<hash of the user>` with the mailbox name; each node `LISTEN`s on the channels
//!   of the users watched there (module `listen`) and wakes their mailboxes too.
//! - Bodies no message names any more (expunged over an hour ago, or saved for an APPEND that
//!   never committed) are deleted every ten minutes by each node.
//! - A transaction the engine aborts as a serialization failure or deadlock is run again.
//! - The outbound queue may live here too (table `outbound_queue`); the outbound layer runs its
//!   queries through [`Database`], and the `LISTEN` connection wakes its delivery loop.

// PostgreSQL's integers are signed: UIDs, MODSEQs, sizes and counts go in as i64 (and a
// substring position as i32), all far below where a cast would wrap.
#![allow(clippy::cast_possible_wrap)]

mod delivery;
mod directory;
mod export;
mod import;
mod listen;
mod schema;
mod selected;

pub use listen::QUEUE_CHANNEL;

use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use export::{PgMailbox, PgMessage, PgUser};

use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Transaction,
};
use tokio_postgres::error::SqlState;

use super::notify::{Changes, Notifier};
use super::types::{
    AppendRequest, Appended, Flag, Flags, MailboxInfo, MailboxName, MailboxStatus, QuotaUsage,
    SpecialUse, StoreError,
};
use super::{Account, Delivery, MailStore, Maildrop, PreparedAppend, SelectedMailbox};
use crate::core::config::{DbTls, StoreConfig};
use crate::core::directory::Address;

pub use directory::{DirectoryCopy, PgDirectory, copy_database_to_files, copy_files_to_database};

/// The mailboxes every user has from the start (the Maildir store's set), all subscribed.
const DEFAULT_MAILBOXES: &[&str] = &["Drafts", "Sent", "Trash", "Junk", "Archive"];

/// The longest mailbox name stored, in octets.
const MAX_NAME: usize = 1000;

/// `sql` prepared on this connection: once, then from the pool's per-connection cache, so a
/// statement run again costs one round trip instead of two.
async fn prepared(
    client: &impl GenericClient,
    sql: &str,
) -> Result<tokio_postgres::Statement, StoreError> {
    client.prepare_cached(sql).await.map_err(pg)
}

/// A PostgreSQL error in the store's terms.
pub(crate) fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::backend(e)
}

/// Whether the engine aborted the transaction and running it again may succeed.
fn retryable(e: &StoreError) -> bool {
    let StoreError::Backend(b) = e else {
        return false;
    };
    b.downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        .is_some_and(|c| {
            *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
        })
}

/// The connection pool, the runtime it runs on, and this node's notifier.
#[derive(Debug)]
pub(crate) struct Db {
    pool: Pool,
    handle: tokio::runtime::Handle,
    notifier: Arc<Notifier>,
    /// The `LISTEN` connection for the other nodes' changes.
    listener: listen::Listener,
    /// Deliveries committing together share one transaction.
    deliveries: delivery::GroupCommit,
    /// Woken when a node notifies [`QUEUE_CHANNEL`].
    queue_wake: Arc<tokio::sync::Notify>,
}

impl Db {
    /// Runs `f` to its end, blocking the thread; runs it again (up to five times) when the
    /// engine aborted its transaction as a serialization failure or deadlock.
    fn run<T, F: Future<Output = Result<T, StoreError>>>(
        &self,
        mut f: impl FnMut() -> F,
    ) -> Result<T, StoreError> {
        let mut tries = 0;
        loop {
            // Also from an async thread (POP3 opens a message there): `core::blocking` moves
            // the other tasks off it first.
            match crate::core::blocking(|| self.handle.block_on(f())) {
                Err(e) if retryable(&e) && tries < 5 => tries += 1,
                other => return other,
            }
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(StoreError::backend)
    }

    /// Tells this node's sessions only that `user`'s `mailbox` changed: the transaction that
    /// changed it sent its `NOTIFY` ([`notify_in`]).
    fn changed_here(&self, user: &Address, mailbox: &MailboxName) {
        self.notifier.changed(user, mailbox);
    }

    /// Tells this node's sessions (and, through `NOTIFY`, the other nodes') that `user`'s
    /// `mailbox` changed.
    fn changed(&self, user: &Address, mailbox: &MailboxName) {
        self.notifier.changed(user, mailbox);
        let pool = self.pool.clone();
        let channel = channel_of(user);
        let payload = mailbox.as_str().to_owned();
        // Fire and forget: a lost notification costs the other nodes a poll interval.
        self.handle.spawn(async move {
            if let Ok(c) = pool.get().await {
                let _ = c
                    .execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
                    .await;
            }
        });
    }
}

/// Tells the other nodes, when `tx` commits, that `user`'s `mailbox` changed (a `NOTIFY` in the
/// transaction costs no commit of its own, and none is sent if it rolls back).
async fn notify_in(
    tx: &Transaction<'_>,
    user: &Address,
    mailbox: &MailboxName,
) -> Result<(), StoreError> {
    let statement = prepared(tx, "SELECT pg_notify($1, $2)").await?;
    tx.execute(&statement, &[&channel_of(user), &mailbox.as_str()])
        .await
        .map_err(pg)?;
    Ok(())
}

/// The `NOTIFY` channel of a user's changes: `mailwright_` and 32 hex digits of a SHA-256 of
/// the address (an identifier of any user fits the 63 octets).
pub fn channel_of(user: &Address) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, user.to_string().as_bytes());
    digest.as_ref()[..16]
        .iter()
        .fold(String::from("mailwright_"), |mut out, b| {
            use std::fmt::Write;
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// The users' mail in a PostgreSQL database.
#[derive(Debug)]
pub struct PostgresStore {
    db: Arc<Db>,
}

impl PostgresStore {
    /// Connects a pool as `config` says (files relative to `data_dir`) and brings the schema up
    /// to date. Called on the runtime the store will run its queries on.
    pub async fn connect(data_dir: &Path, config: &StoreConfig) -> Result<Self, StoreError> {
        let mut pg_config: tokio_postgres::Config = match &config.url {
            Some(url) => url.parse().map_err(pg)?,
            None => tokio_postgres::Config::new(),
        };
        if let Some(host) = &config.host {
            pg_config.host(host);
        }
        if let Some(port) = config.port {
            pg_config.port(port);
        }
        if let Some(user) = &config.user {
            pg_config.user(user);
        }
        if let Some(dbname) = &config.dbname {
            pg_config.dbname(dbname);
        }
        if let Some(file) = &config.password_file {
            let text = std::fs::read_to_string(crate::core::datadir::resolve(data_dir, file))?;
            pg_config.password(text.lines().next().unwrap_or_default());
        }
        pg_config.application_name("mailwright");
        pg_config.connect_timeout(Duration::from_secs(10));
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let notifier = Arc::new(Notifier::new());
        let queue_wake = Arc::new(tokio::sync::Notify::new());
        let (manager, listener) = match config.tls {
            DbTls::Disable => (
                Manager::from_config(pg_config.clone(), tokio_postgres::NoTls, manager_config),
                listen::Listener::start(
                    pg_config,
                    tokio_postgres::NoTls,
                    notifier.clone(),
                    queue_wake.clone(),
                ),
            ),
            DbTls::Require => {
                pg_config.ssl_mode(tokio_postgres::config::SslMode::Require);
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(
                    data_dir,
                    config.ca_file.as_deref(),
                )?);
                (
                    Manager::from_config(pg_config.clone(), tls.clone(), manager_config),
                    listen::Listener::start(pg_config, tls, notifier.clone(), queue_wake.clone()),
                )
            }
        };
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .build()
            .map_err(StoreError::backend)?;
        let applied = schema::migrate(&pool).await?;
        if applied > 0 {
            tracing::info!(migrations = applied, "database schema updated");
        }
        // The collector of bodies nobody names any more (every node runs it; it is idempotent).
        let gc_pool = pool.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(GC_EVERY).await;
                if gc_pool.is_closed() {
                    return;
                }
                if let Err(e) = collect(&gc_pool, KEEP_EXPUNGED).await {
                    tracing::warn!("collecting message bodies: {e}");
                }
            }
        });
        Ok(Self {
            db: Arc::new(Db {
                pool,
                handle: tokio::runtime::Handle::current(),
                notifier,
                listener,
                deliveries: delivery::GroupCommit::default(),
                queue_wake,
            }),
        })
    }

    /// The database, for the other tables kept in it (the outbound queue).
    pub fn database(&self) -> Database {
        Database(self.db.clone())
    }

    /// Deletes the bodies no message names, saved longer than `keep` ago and not expunged
    /// within `keep` (sessions may still show an expunged message, RFC 2180 §4.1). Returns how
    /// many went. The server runs it every ten minutes with an hour.
    pub fn collect_garbage(&self, keep: Duration) -> Result<u64, StoreError> {
        self.db.run(|| collect(&self.db.pool, keep))
    }
}

/// A handle on the store's database (its pool and runtime) for the other layers' tables.
#[derive(Debug, Clone)]
pub struct Database(Arc<Db>);

impl Database {
    /// Runs `f` to its end, blocking the thread (also from an async thread); runs it again (up
    /// to five times) when the engine aborted its transaction as a serialization failure or
    /// deadlock.
    pub fn run<T, F: Future<Output = Result<T, StoreError>>>(
        &self,
        f: impl FnMut() -> F,
    ) -> Result<T, StoreError> {
        self.0.run(f)
    }

    /// A connection from the pool.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.0.client().await
    }

    /// Spawns a task on the store's runtime.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.0.handle.spawn(task);
    }

    /// Woken when a node (this one too) notifies [`QUEUE_CHANNEL`], and after the `LISTEN`
    /// connection was made again.
    pub fn queue_wake(&self) -> Arc<tokio::sync::Notify> {
        self.0.queue_wake.clone()
    }

    /// Whether the store was dropped (its pool closed).
    pub fn is_closed(&self) -> bool {
        self.0.pool.is_closed()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // The last user of the store is gone: this ends the collector's loop too.
        self.pool.close();
    }
}

/// How often each node collects unnamed bodies.
const GC_EVERY: Duration = Duration::from_mins(10);
/// How long an expunged message stays readable, and a saved body waits for its commit.
const KEEP_EXPUNGED: Duration = Duration::from_hours(1);

async fn collect(pool: &Pool, keep: Duration) -> Result<u64, StoreError> {
    let client = pool.get().await.map_err(StoreError::backend)?;
    let keep = keep.as_secs() as i64;
    // In batches: a COPY naming a body at the same moment makes one batch fail on the foreign
    // key (the body stays), not the whole collection.
    let mut total = 0;
    loop {
        let n = client
            .execute(
                "DELETE FROM blobs WHERE hash IN (SELECT b.hash FROM blobs b \
                 WHERE b.saved_at < now() - ($1::bigint * interval '1 second') \
                 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob = b.hash) \
                 AND NOT EXISTS (SELECT 1 FROM expunged e WHERE e.blob = b.hash \
                   AND e.expunged_at >= now() - ($1::bigint * interval '1 second')) \
                 LIMIT 500)",
                &[&keep],
            )
            .await
            .map_err(pg)?;
        total += n;
        if n < 500 {
            return Ok(total);
        }
    }
}

/// rustls for the database connection: the server verified against `ca_file` or the system
/// roots.
fn tls_config(data_dir: &Path, ca_file: Option<&Path>) -> Result<rustls::ClientConfig, StoreError> {
    use rustls::pki_types::pem::PemObject;
    let file = match ca_file {
        Some(f) => crate::core::datadir::resolve(data_dir, f),
        None => "/etc/ssl/certs/ca-certificates.crt".into(),
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(&file)
        .map_err(|e| StoreError::Io(io::Error::other(format!("{}: {e}", file.display()))))?;
    for cert in certs.flatten() {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(StoreError::Io(io::Error::other(format!(
            "{}: no CA certificate",
            file.display()
        ))));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Io(io::Error::other(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl MailStore for PostgresStore {
    fn account(&self, user: &Address) -> Result<Box<dyn Account>, StoreError> {
        let name = user.to_string();
        self.db.run(|| ensure_account(&self.db, &name))?;
        Ok(Box::new(PgAccount {
            user: user.clone(),
            name,
            db: self.db.clone(),
        }))
    }

    fn quota(&self, user: &Address) -> Result<Option<QuotaUsage>, StoreError> {
        let name = user.to_string();
        self.db.run(|| quota_of(&self.db, &name))
    }

    fn delivery(&self) -> Box<dyn Delivery> {
        Box::new(delivery::PgDelivery::new(self.db.clone()))
    }
}

/// Flags as stored: one bit each.
pub(crate) fn flag_bits(flags: Flags) -> i16 {
    let mut out = 0;
    for (i, f) in Flag::ALL.iter().enumerate() {
        if flags.contains(*f) {
            out |= 1 << i;
        }
    }
    out
}

/// The flags of stored bits.
pub(crate) fn flags_of(bits: i16) -> Flags {
    let mut out = Flags::empty();
    for (i, f) in Flag::ALL.iter().enumerate() {
        if bits & (1 << i) != 0 {
            out.insert(*f);
        }
    }
    out
}

/// Refuses what the database cannot hold as a name.
fn check_name(name: &MailboxName) -> Result<(), StoreError> {
    if name.as_str().len() > MAX_NAME {
        return Err(StoreError::InvalidName("mailbox name too long"));
    }
    if name.as_str().chars().any(|c| c.is_control() || c == '\\') {
        return Err(StoreError::InvalidName(
            "mailbox name holds a character not allowed here (\\ or a control character)",
        ));
    }
    // Harmless here, but no other store could hold them (a Maildir level is a path).
    if name.levels().any(|l| l == "." || l == "..") {
        return Err(StoreError::InvalidName(
            "mailbox name holds a . or .. level",
        ));
    }
    Ok(())
}

/// The SPECIAL-USE of a top-level mailbox, by its conventional name (as the Maildir store).
fn special_use(name: &MailboxName) -> Option<SpecialUse> {
    Some(match name.as_str() {
        "Sent" => SpecialUse::Sent,
        "Drafts" => SpecialUse::Drafts,
        "Trash" => SpecialUse::Trash,
        "Junk" => SpecialUse::Junk,
        "Archive" => SpecialUse::Archive,
        _ => return None,
    })
}

/// The conventional name of a special use.
fn conventional_name(special: SpecialUse) -> Option<&'static str> {
    Some(match special {
        SpecialUse::Sent => "Sent",
        SpecialUse::Drafts => "Drafts",
        SpecialUse::Trash => "Trash",
        SpecialUse::Junk => "Junk",
        SpecialUse::Archive => "Archive",
        _ => return None,
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as i64)
}

/// Makes the user's account and default mailboxes the first time.
async fn ensure_account(db: &Db, user: &str) -> Result<(), StoreError> {
    let mut client = db.client().await?;
    if client
        .query_opt("SELECT 1 FROM accounts WHERE username = $1", &[&user])
        .await
        .map_err(pg)?
        .is_some()
    {
        return Ok(());
    }
    let tx = client.transaction().await.map_err(pg)?;
    // UIDVALIDITY starts at the time, as Dovecot's does, and counts up per mailbox made.
    let made = tx
        .execute(
            "INSERT INTO accounts (username, next_uidvalidity) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
            &[&user, &unix_now()],
        )
        .await
        .map_err(pg)?;
    if made == 0 {
        return Ok(());
    }
    create_mailbox(&tx, user, &MailboxName::inbox()).await?;
    for name in DEFAULT_MAILBOXES {
        let name = MailboxName::new(name)?;
        create_mailbox(&tx, user, &name).await?;
        tx.execute(
            "INSERT INTO subscriptions (username, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&user, &name.as_str()],
        )
        .await
        .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)
}

/// Makes one mailbox with a fresh UIDVALIDITY: [`StoreError::MailboxExists`] if it exists.
async fn create_mailbox(
    tx: &tokio_postgres::Transaction<'_>,
    user: &str,
    name: &MailboxName,
) -> Result<i64, StoreError> {
    let uid_validity: i64 = tx
        .query_one(
            "UPDATE accounts SET next_uidvalidity = next_uidvalidity + 1 WHERE username = $1 \
             RETURNING next_uidvalidity - 1",
            &[&user],
        )
        .await
        .map_err(pg)?
        .get(0);
    let special = special_use(name).map(SpecialUse::attribute);
    tx.query_opt(
        "INSERT INTO mailboxes (username, name, uidvalidity, special_use) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (username, name) DO NOTHING RETURNING id",
        &[
            &user,
            &name.as_str(),
            &(uid_validity & 0xffff_ffff).max(1),
            &special,
        ],
    )
    .await
    .map_err(pg)?
    .map(|r| r.get(0))
    .ok_or(StoreError::MailboxExists)
}

/// A mailbox's id and UIDVALIDITY.
async fn mailbox_id(
    client: &impl GenericClient,
    user: &str,
    name: &MailboxName,
) -> Result<(i64, u32), StoreError> {
    let statement = prepared(
        client,
        "SELECT id, uidvalidity FROM mailboxes WHERE username = $1 AND name = $2",
    )
    .await?;
    client
        .query_opt(&statement, &[&user, &name.as_str()])
        .await
        .map_err(pg)?
        .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1) as u32))
        .ok_or(StoreError::NoSuchMailbox)
}

/// A user's usage and limits, as [`usage_of`] reads them: no row when the account is not made.
const ACCOUNT_USAGE: &str = "SELECT used_bytes, used_messages, bytes_limit, messages_limit \
                             FROM accounts WHERE username = $1";

async fn quota_of(db: &Db, user: &str) -> Result<Option<QuotaUsage>, StoreError> {
    let client = db.client().await?;
    let row = client
        .query_opt(&prepared(&client, ACCOUNT_USAGE).await?, &[&user])
        .await
        .map_err(pg)?;
    Ok(row.and_then(|r| usage_of(&r)))
}

/// The quota of an `accounts` row selected as (used_bytes, used_messages, bytes_limit,
/// messages_limit): `None` without limits.
fn usage_of(r: &tokio_postgres::Row) -> Option<QuotaUsage> {
    let bytes_limit: Option<i64> = r.get(2);
    let messages_limit: Option<i64> = r.get(3);
    if bytes_limit.is_none() && messages_limit.is_none() {
        return None;
    }
    Some(QuotaUsage {
        bytes: r.get::<_, i64>(0).max(0) as u64,
        messages: r.get::<_, i64>(1).max(0) as u64,
        bytes_limit: bytes_limit.map(|l| l.max(0) as u64),
        messages_limit: messages_limit.map(|l| l.max(0) as u64),
    })
}

/// Locks the user's `accounts` row for the rest of the transaction and checks that `bytes`
/// octets in `messages` more messages fit; counts them in.
pub(crate) async fn charge(
    tx: &Transaction<'_>,
    user: &str,
    bytes: i64,
    messages: i64,
    check: bool,
) -> Result<(), StoreError> {
    let statement = prepared(
        tx,
        "SELECT used_bytes, used_messages, bytes_limit, messages_limit FROM accounts \
         WHERE username = $1 FOR UPDATE",
    )
    .await?;
    let row = tx.query_one(&statement, &[&user]).await.map_err(pg)?;
    if check && let Some(q) = usage_of(&row) {
        let over_bytes = q
            .bytes_limit
            .is_some_and(|l| q.bytes.saturating_add(bytes.max(0) as u64) > l);
        let over_messages = q
            .messages_limit
            .is_some_and(|l| q.messages.saturating_add(messages.max(0) as u64) > l);
        if over_bytes || over_messages {
            return Err(StoreError::OverQuota);
        }
    }
    let statement = prepared(
        tx,
        "UPDATE accounts SET used_bytes = used_bytes + $2, used_messages = used_messages + $3 \
         WHERE username = $1",
    )
    .await?;
    tx.execute(&statement, &[&user, &bytes, &messages])
        .await
        .map_err(pg)?;
    Ok(())
}

/// Removes messages of a mailbox (locked by the caller) at a new MODSEQ, keeping their UIDs in
/// the expunge history and taking them out of the quota. Returns the UIDs removed, ascending.
pub(crate) async fn remove_messages(
    tx: &Transaction<'_>,
    user: &str,
    mailbox: i64,
    uids: &[i64],
    only_deleted: bool,
) -> Result<Vec<u32>, StoreError> {
    let sql = if only_deleted {
        "DELETE FROM messages WHERE mailbox = $1 AND uid = ANY($2) AND flags & 4 <> 0 \
         RETURNING uid, size, blob"
    } else {
        "DELETE FROM messages WHERE mailbox = $1 AND uid = ANY($2) RETURNING uid, size, blob"
    };
    let rows = tx
        .query(&prepared(tx, sql).await?, &[&mailbox, &uids])
        .await
        .map_err(pg)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let statement = prepared(
        tx,
        "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = $1 \
         RETURNING highestmodseq",
    )
    .await?;
    let modseq: i64 = tx
        .query_one(&statement, &[&mailbox])
        .await
        .map_err(pg)?
        .get(0);
    let mut gone = Vec::with_capacity(rows.len());
    let mut bytes = 0i64;
    let mut blobs: Vec<Vec<u8>> = Vec::with_capacity(rows.len());
    let mut uids_gone: Vec<i64> = Vec::with_capacity(rows.len());
    for r in &rows {
        let uid: i64 = r.get(0);
        bytes += r.get::<_, i64>(1);
        uids_gone.push(uid);
        blobs.push(r.get(2));
        gone.push(uid as u32);
    }
    let statement = prepared(
        tx,
        "INSERT INTO expunged (mailbox, uid, modseq, blob) \
         SELECT $1, u, $2, b FROM unnest($3::bigint[], $4::bytea[]) AS t (u, b) \
         ON CONFLICT (mailbox, uid) DO UPDATE SET modseq = EXCLUDED.modseq",
    )
    .await?;
    tx.execute(&statement, &[&mailbox, &modseq, &uids_gone, &blobs])
        .await
        .map_err(pg)?;
    charge(tx, user, -bytes, -(rows.len() as i64), false).await?;
    gone.sort_unstable();
    Ok(gone)
}

/// One user's mail.
#[derive(Debug)]
struct PgAccount {
    user: Address,
    /// The user as stored.
    name: String,
    db: Arc<Db>,
}

impl PgAccount {
    /// The mailbox names `sql` selects for this user (`$1`), those that are not valid names
    /// left out.
    fn names(&self, sql: &str) -> Result<Vec<MailboxName>, StoreError> {
        self.db.run(|| async move {
            let client = self.db.client().await?;
            let rows = client.query(sql, &[&self.name]).await.map_err(pg)?;
            Ok(rows
                .iter()
                .filter_map(|r| MailboxName::new(r.get(0)).ok())
                .collect())
        })
    }
}

impl Account for PgAccount {
    fn user(&self) -> &Address {
        &self.user
    }

    fn list(&self) -> Result<Vec<MailboxInfo>, StoreError> {
        Ok(self
            .names("SELECT name FROM mailboxes WHERE username = $1")?
            .into_iter()
            .map(|name| MailboxInfo {
                special_use: special_use(&name),
                name,
            })
            .collect())
    }

    fn special_use(&self, name: &MailboxName) -> Option<SpecialUse> {
        special_use(name)
    }

    fn exists(&self, name: &MailboxName) -> Result<bool, StoreError> {
        self.db.run(|| async move {
            let client = self.db.client().await?;
            match mailbox_id(&client, &self.name, name).await {
                Ok(_) => Ok(true),
                Err(StoreError::NoSuchMailbox) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn create(&self, name: &MailboxName) -> Result<(), StoreError> {
        check_name(name)?;
        if name.is_inbox() {
            return Err(StoreError::MailboxExists);
        }
        self.db.run(|| async move {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            for parent in name.parents() {
                let parent = MailboxName::new(parent)?;
                if parent.is_inbox() {
                    continue;
                }
                match create_mailbox(&tx, &self.name, &parent).await {
                    Ok(_) | Err(StoreError::MailboxExists) => {}
                    Err(e) => return Err(e),
                }
            }
            create_mailbox(&tx, &self.name, name).await?;
            tx.commit().await.map_err(pg)
        })
    }

    fn delete(&self, name: &MailboxName) -> Result<(), StoreError> {
        if name.is_inbox() {
            return Err(StoreError::InvalidName("INBOX cannot be deleted"));
        }
        self.db.run(|| async move {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let (id, _) = mailbox_id(&tx, &self.name, name).await?;
            let row = tx
                .query_one(
                    "SELECT count(*), coalesce(sum(size), 0)::bigint FROM messages \
                     WHERE mailbox = $1",
                    &[&id],
                )
                .await
                .map_err(pg)?;
            let (count, bytes): (i64, i64) = (row.get(0), row.get(1));
            tx.execute("DELETE FROM mailboxes WHERE id = $1", &[&id])
                .await
                .map_err(pg)?;
            charge(&tx, &self.name, -bytes, -count, false).await?;
            tx.commit().await.map_err(pg)
        })?;
        self.db.changed(&self.user, name);
        Ok(())
    }

    fn rename(&self, from: &MailboxName, to: &MailboxName) -> Result<(), StoreError> {
        check_name(to)?;
        if to.is_inbox() {
            return Err(StoreError::MailboxExists);
        }
        self.db.run(|| async move {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let (from_id, _) = mailbox_id(&tx, &self.name, from).await?;
            if from.is_inbox() {
                // The messages move into a new mailbox with their UIDs (it is new: its
                // UIDVALIDITY is its own); INBOX stays, empty, its UIDs expunged.
                let to_id = create_mailbox(&tx, &self.name, to).await?;
                let row = tx
                    .query_one(
                        "SELECT uidnext, highestmodseq FROM mailboxes WHERE id = $1 FOR UPDATE",
                        &[&from_id],
                    )
                    .await
                    .map_err(pg)?;
                let (uidnext, modseq): (i64, i64) = (row.get(0), row.get(1));
                tx.execute(
                    "UPDATE mailboxes SET uidnext = $2, highestmodseq = $3, keywords = \
                     (SELECT keywords FROM mailboxes WHERE id = $4) WHERE id = $1",
                    &[&to_id, &uidnext, &modseq, &from_id],
                )
                .await
                .map_err(pg)?;
                let moved = tx
                    .query(
                        "UPDATE messages SET mailbox = $2 WHERE mailbox = $1 \
                         RETURNING uid, blob",
                        &[&from_id, &to_id],
                    )
                    .await
                    .map_err(pg)?;
                if !moved.is_empty() {
                    let modseq = modseq + 1;
                    let uids: Vec<i64> = moved.iter().map(|r| r.get(0)).collect();
                    let blobs: Vec<Vec<u8>> = moved.iter().map(|r| r.get(1)).collect();
                    tx.execute(
                        "UPDATE mailboxes SET highestmodseq = $2 WHERE id = $1",
                        &[&from_id, &modseq],
                    )
                    .await
                    .map_err(pg)?;
                    tx.execute(
                        "INSERT INTO expunged (mailbox, uid, modseq, blob) \
                         SELECT $1, u, $2, b FROM unnest($3::bigint[], $4::bytea[]) AS t (u, b) \
                         ON CONFLICT (mailbox, uid) DO UPDATE SET modseq = EXCLUDED.modseq",
                        &[&from_id, &modseq, &uids, &blobs],
                    )
                    .await
                    .map_err(pg)?;
                }
            } else {
                if mailbox_id(&tx, &self.name, to).await.is_ok() {
                    return Err(StoreError::MailboxExists);
                }
                // The mailbox and those below it; parents of the new name are made.
                let prefix = format!("{from}/");
                tx.execute(
                    "UPDATE mailboxes SET name = $3 || substr(name, $4) WHERE username = $1 \
                     AND (name = $2 OR substr(name, 1, $5) = $6)",
                    &[
                        &self.name,
                        &from.as_str(),
                        &to.as_str(),
                        &(from.as_str().chars().count() as i32 + 1),
                        &(prefix.chars().count() as i32),
                        &prefix,
                    ],
                )
                .await
                .map_err(|e| {
                    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                        StoreError::MailboxExists
                    } else {
                        pg(e)
                    }
                })?;
                for parent in to.parents() {
                    let parent = MailboxName::new(parent)?;
                    if parent.is_inbox() {
                        continue;
                    }
                    match create_mailbox(&tx, &self.name, &parent).await {
                        Ok(_) | Err(StoreError::MailboxExists) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            tx.commit().await.map_err(pg)
        })?;
        self.db.changed(&self.user, from);
        Ok(())
    }

    fn subscriptions(&self) -> Result<Vec<MailboxName>, StoreError> {
        self.names("SELECT name FROM subscriptions WHERE username = $1")
    }

    fn set_subscribed(&self, name: &MailboxName, subscribed: bool) -> Result<(), StoreError> {
        check_name(name)?;
        self.db.run(|| async move {
            let client = self.db.client().await?;
            let sql = if subscribed {
                "INSERT INTO subscriptions (username, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM subscriptions WHERE username = $1 AND name = $2"
            };
            client
                .execute(sql, &[&self.name, &name.as_str()])
                .await
                .map_err(pg)?;
            Ok(())
        })
    }

    fn status(&self, name: &MailboxName) -> Result<MailboxStatus, StoreError> {
        self.db.run(|| async move {
            let client = self.db.client().await?;
            let row = client
                .query_opt(
                    "SELECT b.uidvalidity, b.uidnext, b.highestmodseq, \
                       count(m.uid), \
                       coalesce(sum(CASE WHEN m.uid >= b.first_recent THEN 1 ELSE 0 END), 0)::bigint, \
                       coalesce(sum(CASE WHEN m.flags & 8 = 0 THEN 1 ELSE 0 END), 0)::bigint, \
                       coalesce(sum(CASE WHEN m.flags & 4 <> 0 THEN 1 ELSE 0 END), 0)::bigint, \
                       coalesce(sum(m.vsize), 0)::bigint \
                     FROM mailboxes b LEFT JOIN messages m ON m.mailbox = b.id \
                     WHERE b.username = $1 AND b.name = $2 \
                     GROUP BY b.id, b.uidvalidity, b.uidnext, b.highestmodseq",
                    &[&self.name, &name.as_str()],
                )
                .await
                .map_err(pg)?
                .ok_or(StoreError::NoSuchMailbox)?;
            let n = |i: usize| row.get::<_, i64>(i).max(0) as u64;
            Ok(MailboxStatus {
                uid_validity: row.get::<_, i64>(0) as u32,
                uid_next: row.get::<_, i64>(1) as u32,
                highest_modseq: n(2),
                messages: n(3),
                recent: n(4),
                unseen: n(5),
                deleted: n(6),
                size: n(7),
            })
        })
    }

    fn quota(&self) -> Result<Option<QuotaUsage>, StoreError> {
        self.db.run(|| quota_of(&self.db, &self.name))
    }

    fn select(
        &self,
        name: &MailboxName,
        read_only: bool,
    ) -> Result<(Box<dyn SelectedMailbox>, super::MailboxView), StoreError> {
        let (mailbox, view) = selected::PgMailbox::open(
            self.db.clone(),
            self.user.clone(),
            self.name.clone(),
            name.clone(),
            read_only,
        )?;
        Ok((Box::new(mailbox), view))
    }

    fn append(
        &self,
        name: &MailboxName,
        request: &AppendRequest,
        message: &mut dyn io::Read,
    ) -> Result<Box<dyn PreparedAppend>, StoreError> {
        let body = delivery::Body::read(message)?;
        let body_ref = &body;
        self.db.run(|| async move {
            let client = self.db.client().await?;
            mailbox_id(&client, &self.name, name).await?;
            body_ref.save(&client).await
        })?;
        Ok(Box::new(delivery::PgAppend {
            db: self.db.clone(),
            user: self.user.clone(),
            name: self.name.clone(),
            mailbox: name.clone(),
            request: request.clone(),
            body: body.saved(),
        }))
    }

    fn append_all(
        &self,
        name: &MailboxName,
        messages: &mut [(AppendRequest, &mut dyn io::Read)],
    ) -> Result<Vec<Appended>, StoreError> {
        let mut batch = Vec::with_capacity(messages.len());
        for (request, message) in messages.iter_mut() {
            batch.push((request.clone(), delivery::Body::read(*message)?));
        }
        let appended = self
            .db
            .run(|| delivery::append(&self.db, &self.user, &self.name, name, &batch))?;
        // The transaction told the other nodes.
        self.db.changed_here(&self.user, name);
        Ok(appended)
    }

    fn watch(&self, name: &MailboxName) -> Changes {
        self.db.listener.watch(&self.user);
        self.db.notifier.subscribe(&self.user, name)
    }

    /// Every write, on any node, is announced with `NOTIFY` and wakes the watchers here
    /// (`listen`): IDLE sessions never poll the database.
    fn poll_interval(&self) -> Option<std::time::Duration> {
        None
    }

    fn maildrop(&self) -> Result<Box<dyn Maildrop>, StoreError> {
        delivery::PgMaildrop::lock(self.db.clone(), self.user.clone(), self.name.clone())
            .map(|m| Box::new(m) as Box<dyn Maildrop>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_through_their_bits() {
        for bits in 0..32i16 {
            assert_eq!(flag_bits(flags_of(bits)), bits);
        }
        assert_eq!(
            flag_bits(Flags::empty().with(Flag::Deleted)),
            4,
            "the SQL tests \\Deleted as 4"
        );
        assert_eq!(
            flag_bits(Flags::empty().with(Flag::Seen)),
            8,
            "and \\Seen as 8"
        );
    }

    #[test]
    fn channels_are_identifiers() {
        let c = channel_of(&"someone.with.a.long.name@example.org".parse().unwrap());
        assert_eq!(c.len(), 11 + 32);
        assert!(c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    }
}
