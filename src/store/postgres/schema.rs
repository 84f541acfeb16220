//! The schema, and the migrations that make it at start.
//!
//! Each migration runs in one transaction that first records its version in
//! `schema_migrations`: a second node starting at the same moment waits on that row and then
//! skips the migration, so every migration runs once. Plain SQL only (no extension, no stored
//! procedure), so that the engines speaking PostgreSQL's protocol take it too.

use deadpool_postgres::Pool;

use super::pg;
use crate::store::types::StoreError;

/// The migrations, in order: version `i + 1` is `MIGRATIONS[i]`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: mailboxes, messages, bodies by content hash, the expunge history, subscriptions, quota.
    "
    CREATE TABLE accounts (
        username text PRIMARY KEY,
        -- The UIDVALIDITY the user's next mailbox gets.
        next_uidvalidity bigint NOT NULL,
        used_bytes bigint NOT NULL DEFAULT 0,
        used_messages bigint NOT NULL DEFAULT 0,
        bytes_limit bigint,
        messages_limit bigint,
        -- The POP3 maildrop lock: who holds it, since when (a crashed node's expires).
        pop3_lock text,
        pop3_locked_at timestamptz
    );
    CREATE TABLE mailboxes (
        id bigserial PRIMARY KEY,
        username text NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
        name text NOT NULL,
        uidvalidity bigint NOT NULL,
        uidnext bigint NOT NULL DEFAULT 1,
        highestmodseq bigint NOT NULL DEFAULT 1,
        -- The first UID no read-write session has claimed as \\Recent.
        first_recent bigint NOT NULL DEFAULT 1,
        -- The keywords defined in the mailbox, in the order they were defined.
        keywords text[] NOT NULL DEFAULT '{}',
        special_use text,
        UNIQUE (username, name)
    );
    CREATE TABLE subscriptions (
        username text NOT NULL,
        name text NOT NULL,
        PRIMARY KEY (username, name)
    );
    CREATE TABLE blobs (
        hash bytea PRIMARY KEY,
        body bytea NOT NULL
    );
    CREATE TABLE messages (
        mailbox bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
        uid bigint NOT NULL,
        modseq bigint NOT NULL,
        flags smallint NOT NULL DEFAULT 0,
        keywords text[] NOT NULL DEFAULT '{}',
        internal_date timestamptz NOT NULL,
        -- Octets as stored (LF line ends), and as IMAP and POP3 present them (CRLF).
        size bigint NOT NULL,
        vsize bigint NOT NULL,
        blob bytea NOT NULL REFERENCES blobs (hash),
        PRIMARY KEY (mailbox, uid)
    );
    CREATE TABLE expunged (
        mailbox bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
        uid bigint NOT NULL,
        modseq bigint NOT NULL,
        blob bytea NOT NULL,
        expunged_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (mailbox, uid)
    );
    CREATE INDEX expunged_by_modseq ON expunged (mailbox, modseq);
    ",
    // 2: bodies nobody names are collected: when each was last saved, and what names them.
    "
    ALTER TABLE blobs ADD COLUMN saved_at timestamptz NOT NULL DEFAULT now();
    CREATE INDEX messages_by_blob ON messages (blob);
    CREATE INDEX expunged_by_blob ON expunged (blob);
    ",
    // 3: a session's sync reads what was written since the MODSEQ it last saw.
    "
    CREATE INDEX messages_by_modseq ON messages (mailbox, modseq);
    ",
    // 4: users (with the passwd file's `{SCHEME}hash`), local domains and aliases, for
    // `[store] directory = "database"`. An alias is one row per target, in the order added.
    "
    CREATE TABLE domains (
        name text PRIMARY KEY
    );
    CREATE TABLE users (
        username text PRIMARY KEY,
        password text NOT NULL
    );
    CREATE TABLE aliases (
        id bigserial PRIMARY KEY,
        -- `alias@domain`, or `@domain` for a catch-all.
        source text NOT NULL,
        target text NOT NULL,
        UNIQUE (source, target)
    );
    ",
    // 5: the outbound queue shared by the nodes (`[outbound] queue = "database"`): the envelope
    // and the state as the queue files write them, the message, and the claim of the node
    // delivering it (`claimed_until` in seconds since the epoch by the database's clock).
    "
    CREATE TABLE outbound_queue (
        id text PRIMARY KEY,
        envelope text NOT NULL,
        state text NOT NULL DEFAULT '',
        body bytea NOT NULL,
        size bigint NOT NULL,
        next_attempt bigint NOT NULL,
        claimed_by text,
        claimed_until bigint,
        queued_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX outbound_queue_due ON outbound_queue (next_attempt);
    CREATE INDEX outbound_queue_claims ON outbound_queue (claimed_by);
    ",
];

/// Brings the schema up to date.
pub(super) async fn migrate(pool: &Pool) -> Result<usize, StoreError> {
    let mut client = pool.get().await.map_err(StoreError::backend)?;
    // Two nodes creating the table at once: one of them fails on the catalogue, and sees it
    // made when it tries again.
    let create = "CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    )";
    if client.batch_execute(create).await.is_err() {
        client.batch_execute(create).await.map_err(pg)?;
    }
    let mut applied = 0;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i32 + 1;
        let tx = client.transaction().await.map_err(pg)?;
        let fresh = tx
            .execute(
                "INSERT INTO schema_migrations (version) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&version],
            )
            .await
            .map_err(pg)?;
        if fresh == 0 {
            continue;
        }
        tx.batch_execute(sql).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        applied += 1;
    }
    Ok(applied)
}
