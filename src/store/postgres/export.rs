//! A user's mail read out of the database for `full_server migrate --to maildir` (module
//! `store::migrate` writes it into a Maildir++).

use std::time::SystemTime;

use super::{PostgresStore, flags_of, pg};
use crate::store::types::{Flags, StoreError};

/// One message as stored.
#[derive(Debug, Clone)]
pub struct PgMessage {
    /// Its UID.
    pub uid: u32,
    /// Its MODSEQ.
    pub modseq: u64,
    /// Its system flags.
    pub flags: Flags,
    /// Its keywords.
    pub keywords: Vec<String>,
    /// Its internal date.
    pub internal_date: SystemTime,
    /// The SHA-256 of its body ([`PostgresStore::body`]).
    pub blob: Vec<u8>,
}

/// One mailbox as stored.
#[derive(Debug, Clone)]
pub struct PgMailbox {
    /// Its name, levels separated by `/`.
    pub name: String,
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UIDNEXT.
    pub uid_next: u32,
    /// HIGHESTMODSEQ.
    pub highest_modseq: u64,
    /// The first UID not claimed as `\Recent`.
    pub first_recent: u32,
    /// The keywords defined, in order.
    pub keywords: Vec<String>,
    /// The messages, UIDs ascending.
    pub messages: Vec<PgMessage>,
    /// The expunge history: (UID, MODSEQ).
    pub expunged: Vec<(u32, u64)>,
}

/// One user's mail as stored.
#[derive(Debug, Clone)]
pub struct PgUser {
    /// The mailboxes.
    pub mailboxes: Vec<PgMailbox>,
    /// The subscribed names.
    pub subscriptions: Vec<String>,
    /// Quota limits: octets, messages.
    pub limits: (Option<u64>, Option<u64>),
}

impl PostgresStore {
    /// Everything but the bodies of a user's mail: `None` when the database has no such user.
    /// Blocking.
    pub fn export_user(&self, user: &str) -> Result<Option<PgUser>, StoreError> {
        self.db.run(|| async move {
            let client = self.db.client().await?;
            let Some(account) = client
                .query_opt(
                    "SELECT bytes_limit, messages_limit FROM accounts WHERE username = $1",
                    &[&user],
                )
                .await
                .map_err(pg)?
            else {
                return Ok(None);
            };
            let limit = |v: Option<i64>| v.map(|l| l.max(0) as u64);
            let limits = (limit(account.get(0)), limit(account.get(1)));
            let subscriptions = client
                .query(
                    "SELECT name FROM subscriptions WHERE username = $1 ORDER BY name",
                    &[&user],
                )
                .await
                .map_err(pg)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let rows = client
                .query(
                    "SELECT id, name, uidvalidity, uidnext, highestmodseq, first_recent, keywords \
                     FROM mailboxes WHERE username = $1 ORDER BY name",
                    &[&user],
                )
                .await
                .map_err(pg)?;
            let mut mailboxes = Vec::with_capacity(rows.len());
            for r in rows {
                let id: i64 = r.get(0);
                let messages = client
                    .query(
                        "SELECT uid, modseq, flags, keywords, internal_date, blob FROM messages \
                         WHERE mailbox = $1 ORDER BY uid",
                        &[&id],
                    )
                    .await
                    .map_err(pg)?
                    .iter()
                    .map(|m| PgMessage {
                        uid: m.get::<_, i64>(0) as u32,
                        modseq: m.get::<_, i64>(1).max(1) as u64,
                        flags: flags_of(m.get(2)),
                        keywords: m.get(3),
                        internal_date: m.get(4),
                        blob: m.get(5),
                    })
                    .collect();
                let expunged = client
                    .query(
                        "SELECT uid, modseq FROM expunged WHERE mailbox = $1 ORDER BY uid",
                        &[&id],
                    )
                    .await
                    .map_err(pg)?
                    .iter()
                    .map(|e| (e.get::<_, i64>(0) as u32, e.get::<_, i64>(1).max(0) as u64))
                    .collect();
                mailboxes.push(PgMailbox {
                    name: r.get(1),
                    uid_validity: r.get::<_, i64>(2) as u32,
                    uid_next: r.get::<_, i64>(3) as u32,
                    highest_modseq: r.get::<_, i64>(4).max(1) as u64,
                    first_recent: r.get::<_, i64>(5) as u32,
                    keywords: r.get(6),
                    messages,
                    expunged,
                });
            }
            Ok(Some(PgUser {
                mailboxes,
                subscriptions,
                limits,
            }))
        })
    }

    /// A body by its hash. Blocking.
    pub fn body(&self, hash: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.db.run(|| async move {
            let client = self.db.client().await?;
            client
                .query_opt("SELECT body FROM blobs WHERE hash = $1", &[&hash])
                .await
                .map_err(pg)?
                .map(|r| r.get(0))
                .ok_or(StoreError::Misuse(
                    "a message names a body the database lacks",
                ))
        })
    }
}
