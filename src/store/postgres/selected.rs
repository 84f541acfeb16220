//! A selected mailbox ([`SelectedMailbox`]) in the database.
//!
//! - A sync first reads the mailbox's row alone (UIDNEXT, HIGHESTMODSEQ, the first unclaimed
//!   `\Recent` UID): every write bumps one of them in the transaction that makes it, so when
//!   they are what they were the messages are too, and nothing more is read.
//! - A full sync holds the mailbox's row locked while it reads the messages (every writer locks
//!   it first), so the view is one state of the mailbox; a read-write one claims the `\Recent`
//!   messages in the same transaction.
//! - Messages gone from the mailbox stay known until the session releases them, and readable
//!   for an hour after their expunge (then their body may be collected).

use std::sync::Arc;
use std::time::SystemTime;

use deadpool_postgres::Transaction;

use super::{Db, charge, flag_bits, flags_of, notify_in, pg, prepared, remove_messages};
use crate::core::directory::Address;
use crate::store::SelectedMailbox;
use crate::store::types::{
    CopyOutcome, FlagOp, Flags, Keyword, MailboxName, MailboxView, MessageInfo, MessageText,
    StoreError, StoreOutcome, Transfer,
};

/// One message as the session knows it.
#[derive(Debug, Clone)]
struct Known {
    info: MessageInfo,
    internal_date: SystemTime,
    blob: Vec<u8>,
}

/// What a sync of the mailbox's row alone tells: (UIDNEXT, HIGHESTMODSEQ, first unclaimed
/// `\Recent` UID).
type Signature = (i64, i64, i64);

/// A mailbox a session has open.
#[derive(Debug)]
pub(super) struct PgMailbox {
    db: Arc<Db>,
    user: Address,
    owner: String,
    name: MailboxName,
    id: i64,
    uid_validity: u32,
    read_only: bool,
    seen: Option<Signature>,
    keywords: Vec<Keyword>,
    current: Vec<Known>,
    gone: Vec<Known>,
}

/// A keyword as the mailbox spells it (keywords are case-insensitive), if it has it.
fn spelled<'a>(defined: &'a [Keyword], name: &str) -> Option<&'a Keyword> {
    defined.iter().find(|k| k.eq_ignore_ascii_case(name))
}

/// Adds the names `defined` lacks to it; returns whether it grew.
fn define(defined: &mut Vec<Keyword>, names: &[&str]) -> bool {
    let before = defined.len();
    for n in names {
        if spelled(defined, n).is_none() {
            defined.push(Keyword::from(*n));
        }
    }
    defined.len() != before
}

/// A message's keywords in the order the mailbox defined them.
fn ordered(defined: &[Keyword], names: &[String]) -> Vec<Keyword> {
    let mut out: Vec<(usize, Keyword)> = names
        .iter()
        .map(|n| {
            defined
                .iter()
                .position(|k| k.eq_ignore_ascii_case(n))
                .map_or((usize::MAX, Keyword::from(n.as_str())), |i| {
                    (i, defined[i].clone())
                })
        })
        .collect();
    out.sort_by_key(|(i, _)| *i);
    out.dedup_by(|a, b| a.1.eq_ignore_ascii_case(&b.1));
    out.into_iter().map(|(_, k)| k).collect()
}

const MESSAGE_COLUMNS: &str = "uid, modseq, flags, keywords, vsize, internal_date, blob";

/// Every message of a mailbox.
const ALL_MESSAGES: &str = "SELECT uid, modseq, flags, keywords, vsize, internal_date, blob FROM messages \
     WHERE mailbox = $1 ORDER BY uid";
/// The messages of a mailbox written after a MODSEQ (new, or with new flags).
const CHANGED_SINCE: &str = "SELECT uid, modseq, flags, keywords, vsize, internal_date, blob FROM messages \
     WHERE mailbox = $1 AND modseq > $2 ORDER BY uid";
/// The UIDs of a mailbox expunged after a MODSEQ.
const EXPUNGED_SINCE: &str =
    "SELECT uid FROM expunged WHERE mailbox = $1 AND modseq > $2 ORDER BY uid";

/// The view `current` becomes with the rows written since and the UIDs expunged since (both
/// ascending).
fn merge(current: &[Known], changed: Vec<Known>, expunged: &[i64]) -> Vec<Known> {
    let mut out = Vec::with_capacity(current.len() + changed.len());
    let mut changed = changed.into_iter().peekable();
    for m in current {
        while let Some(new) = changed.next_if(|c| c.info.uid < m.info.uid) {
            out.push(new);
        }
        if let Some(fresh) = changed.next_if(|c| c.info.uid == m.info.uid) {
            out.push(fresh);
        } else if expunged.binary_search(&i64::from(m.info.uid)).is_err() {
            out.push(m.clone());
        }
    }
    out.extend(changed);
    out
}

fn known(r: &tokio_postgres::Row, defined: &[Keyword]) -> Known {
    let vsize: i64 = r.get(4);
    let keywords: Vec<String> = r.get(3);
    Known {
        info: MessageInfo {
            uid: r.get::<_, i64>(0) as u32,
            modseq: r.get::<_, i64>(1) as u64,
            flags: flags_of(r.get(2)),
            keywords: ordered(defined, &keywords),
            size: Some(vsize as u64),
            status_size: vsize as u64,
        },
        internal_date: r.get(5),
        blob: r.get(6),
    }
}

impl PgMailbox {
    pub(super) fn open(
        db: Arc<Db>,
        user: Address,
        owner: String,
        name: MailboxName,
        read_only: bool,
    ) -> Result<(Self, MailboxView), StoreError> {
        let (id, uid_validity) = db.run(|| async {
            let client = db.client().await?;
            super::mailbox_id(&client, &owner, &name).await
        })?;
        let mut mailbox = Self {
            db,
            user,
            owner,
            name,
            id,
            uid_validity,
            read_only,
            seen: None,
            keywords: Vec::new(),
            current: Vec::new(),
            gone: Vec::new(),
        };
        let view = mailbox
            .sync(true)?
            .ok_or(StoreError::Misuse("a forced sync returns a view"))?;
        Ok((mailbox, view))
    }

    fn find(&self, uid: u32) -> Option<&Known> {
        [&self.current, &self.gone].into_iter().find_map(|list| {
            list.binary_search_by_key(&uid, |m| m.info.uid)
                .ok()
                .map(|i| &list[i])
        })
    }

    fn find_mut(&mut self, uid: u32) -> impl Iterator<Item = &mut Known> {
        [&mut self.current, &mut self.gone]
            .into_iter()
            .filter_map(move |list| {
                list.binary_search_by_key(&uid, |m| m.info.uid)
                    .ok()
                    .map(|i| &mut list[i])
            })
    }

    fn changed(&self, name: &MailboxName) {
        self.db.changed(&self.user, name);
    }

    /// The mailbox's row locked for a write: MailboxGone when it was deleted or renamed.
    async fn lock(&self, tx: &Transaction<'_>) -> Result<(i64, Vec<Keyword>), StoreError> {
        let statement = prepared(
            tx,
            "SELECT highestmodseq, keywords FROM mailboxes \
             WHERE id = $1 AND name = $2 FOR UPDATE",
        )
        .await?;
        let row = tx
            .query_opt(&statement, &[&self.id, &self.name.as_str()])
            .await
            .map_err(pg)?
            .ok_or(StoreError::MailboxGone)?;
        let keywords: Vec<String> = row.get(1);
        Ok((
            row.get(0),
            keywords.iter().map(|k| Keyword::from(k.as_str())).collect(),
        ))
    }
}

impl SelectedMailbox for PgMailbox {
    fn name(&self) -> &MailboxName {
        &self.name
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn sync(&mut self, force: bool) -> Result<Option<MailboxView>, StoreError> {
        let this = &*self;
        let fresh = this.db.run(|| async move {
            let mut client = this.db.client().await?;
            let sig_sql = "SELECT uidnext, highestmodseq, first_recent FROM mailboxes \
                           WHERE id = $1 AND name = $2";
            if !force && let Some(seen) = this.seen {
                // Prepared once per pooled connection: one round trip per poll.
                let statement = client.prepare_cached(sig_sql).await.map_err(pg)?;
                let row = client
                    .query_opt(&statement, &[&this.id, &this.name.as_str()])
                    .await
                    .map_err(pg)?
                    .ok_or(StoreError::MailboxGone)?;
                let sig: Signature = (row.get(0), row.get(1), row.get(2));
                if sig == seen {
                    return Ok(None);
                }
            }
            let tx = client.transaction().await.map_err(pg)?;
            let row_sql = if this.read_only {
                "SELECT uidnext, highestmodseq, first_recent, keywords FROM mailboxes \
                 WHERE id = $1 AND name = $2 FOR SHARE"
            } else {
                "SELECT uidnext, highestmodseq, first_recent, keywords FROM mailboxes \
                 WHERE id = $1 AND name = $2 FOR UPDATE"
            };
            let row = tx
                .query_opt(
                    &prepared(&tx, row_sql).await?,
                    &[&this.id, &this.name.as_str()],
                )
                .await
                .map_err(pg)?
                .ok_or(StoreError::MailboxGone)?;
            let (uid_next, modseq, first_recent): Signature = (row.get(0), row.get(1), row.get(2));
            let defined: Vec<String> = row.get(3);
            let defined: Vec<Keyword> = defined.iter().map(|k| Keyword::from(k.as_str())).collect();
            let mut claimed_to = first_recent;
            if !this.read_only && first_recent < uid_next {
                let statement =
                    prepared(&tx, "UPDATE mailboxes SET first_recent = $2 WHERE id = $1").await?;
                tx.execute(&statement, &[&this.id, &uid_next])
                    .await
                    .map_err(pg)?;
                claimed_to = uid_next;
            }
            let messages = match this.seen {
                // What changed since the last view: the rows written at a higher MODSEQ and the
                // UIDs expunged at one (every write takes a new MODSEQ; the history of
                // expunges is kept).
                Some((_, since, _)) if !force => {
                    let changed = tx
                        .query(&prepared(&tx, CHANGED_SINCE).await?, &[&this.id, &since])
                        .await
                        .map_err(pg)?;
                    let expunged: Vec<i64> = tx
                        .query(&prepared(&tx, EXPUNGED_SINCE).await?, &[&this.id, &since])
                        .await
                        .map_err(pg)?
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    let changed: Vec<Known> = changed.iter().map(|r| known(r, &defined)).collect();
                    merge(&this.current, changed, &expunged)
                }
                _ => {
                    let rows = tx
                        .query(&prepared(&tx, ALL_MESSAGES).await?, &[&this.id])
                        .await
                        .map_err(pg)?;
                    rows.iter().map(|r| known(r, &defined)).collect()
                }
            };
            tx.commit().await.map_err(pg)?;
            let recent: Vec<u32> = messages
                .iter()
                .map(|m| m.info.uid)
                .filter(|&u| {
                    i64::from(u) >= first_recent && (this.read_only || i64::from(u) < claimed_to)
                })
                .collect();
            Ok(Some((
                (uid_next, modseq, claimed_to),
                defined,
                messages,
                recent,
                MailboxView {
                    uid_validity: this.uid_validity,
                    uid_next: uid_next as u32,
                    highest_modseq: modseq.max(1) as u64,
                    keywords: Vec::new(),
                    messages: Vec::new(),
                    recent: Vec::new(),
                },
            )))
        })?;
        let Some((sig, defined, messages, recent, mut view)) = fresh else {
            return Ok(None);
        };
        self.seen = Some(sig);
        view.keywords.clone_from(&defined);
        view.messages = messages.iter().map(|m| m.info.clone()).collect();
        view.recent = recent;
        self.keywords = defined;
        // What the last view had and this one has not stays known until it is released.
        let old = std::mem::replace(&mut self.current, messages);
        let mut fresh = self.current.iter().map(|m| m.info.uid).peekable();
        for m in old {
            while fresh.next_if(|&u| u < m.info.uid).is_some() {}
            if fresh.peek() != Some(&m.info.uid) {
                self.gone.push(m);
            }
        }
        self.gone.sort_by_key(|m| m.info.uid);
        self.gone.dedup_by_key(|m| m.info.uid);
        Ok(Some(view))
    }

    fn open(&self, uid: u32) -> Result<Option<MessageText>, StoreError> {
        let Some(m) = self.find(uid) else {
            return Ok(None);
        };
        let body = self.db.run(|| async {
            let client = self.db.client().await?;
            Ok(client
                .query_opt("SELECT body FROM blobs WHERE hash = $1", &[&m.blob])
                .await
                .map_err(pg)?
                .map(|r| r.get::<_, Vec<u8>>(0)))
        })?;
        Ok(body.map(|b| MessageText {
            text: Box::new(std::io::Cursor::new(b)),
            internal_date: m.internal_date,
        }))
    }

    fn internal_date(&self, uid: u32) -> Result<Option<SystemTime>, StoreError> {
        Ok(self.find(uid).map(|m| m.internal_date))
    }

    fn store(
        &mut self,
        uids: &[u32],
        op: FlagOp,
        flags: Flags,
        keywords: &[&str],
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome, StoreError> {
        let bits = flag_bits(flags);
        let wanted: Vec<i64> = uids.iter().map(|&u| i64::from(u)).collect();
        let this = &*self;
        let (outcome, rows) = this.db.run(|| async {
            let mut client = this.db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let (mut highest, mut defined) = this.lock(&tx).await?;
            if op != FlagOp::Remove && define(&mut defined, keywords) {
                let names: Vec<&str> = defined.iter().map(|k| &**k).collect();
                tx.execute(
                    "UPDATE mailboxes SET keywords = $2 WHERE id = $1",
                    &[&this.id, &names],
                )
                .await
                .map_err(pg)?;
            }
            let rows = tx
                .query(
                    &format!(
                        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE mailbox = $1 \
                         AND uid = ANY($2) ORDER BY uid"
                    ),
                    &[&this.id, &wanted],
                )
                .await
                .map_err(pg)?;
            let mut outcome = StoreOutcome::default();
            let mut updated = Vec::with_capacity(rows.len());
            let new_modseq = highest + 1;
            for r in &rows {
                let mut m = known(r, &defined);
                let old_bits = flag_bits(m.info.flags);
                let old_names: Vec<String> = r.get(3);
                let new_bits = match op {
                    FlagOp::Add => old_bits | bits,
                    FlagOp::Remove => old_bits & !bits,
                    FlagOp::Replace => bits,
                };
                let mut names: Vec<String> = match op {
                    FlagOp::Replace => Vec::new(),
                    _ => old_names.clone(),
                };
                match op {
                    FlagOp::Add | FlagOp::Replace => {
                        for k in keywords {
                            if !names.iter().any(|n| n.eq_ignore_ascii_case(k)) {
                                let k = spelled(&defined, k).map_or(*k, |s| &**s);
                                names.push(k.to_owned());
                            }
                        }
                    }
                    FlagOp::Remove => {
                        names.retain(|n| !keywords.iter().any(|k| k.eq_ignore_ascii_case(n)));
                    }
                }
                let same_names = names.len() == old_names.len()
                    && names
                        .iter()
                        .all(|n| old_names.iter().any(|o| o.eq_ignore_ascii_case(n)));
                if new_bits == old_bits && same_names {
                    updated.push(m);
                    continue;
                }
                if unchanged_since.is_some_and(|u| m.info.modseq > u) {
                    outcome.modified.push(m.info.uid);
                    updated.push(m);
                    continue;
                }
                let statement = prepared(
                    &tx,
                    "UPDATE messages SET flags = $3, keywords = $4, modseq = $5 \
                     WHERE mailbox = $1 AND uid = $2",
                )
                .await?;
                tx.execute(
                    &statement,
                    &[
                        &this.id,
                        &i64::from(m.info.uid),
                        &new_bits,
                        &names,
                        &new_modseq,
                    ],
                )
                .await
                .map_err(pg)?;
                m.info.flags = flags_of(new_bits);
                m.info.keywords = ordered(&defined, &names);
                m.info.modseq = new_modseq as u64;
                outcome.changed.push((m.info.uid, new_modseq as u64));
                updated.push(m);
            }
            if !outcome.changed.is_empty() {
                highest = new_modseq;
                let statement =
                    prepared(&tx, "UPDATE mailboxes SET highestmodseq = $2 WHERE id = $1").await?;
                tx.execute(&statement, &[&this.id, &highest])
                    .await
                    .map_err(pg)?;
                notify_in(&tx, &this.user, &this.name).await?;
            }
            tx.commit().await.map_err(pg)?;
            outcome.highest_modseq = highest as u64;
            outcome.keywords = defined;
            Ok((outcome, updated))
        })?;
        for fresh in &rows {
            for known in self.find_mut(fresh.info.uid) {
                known.info.flags = fresh.info.flags;
                known.info.keywords.clone_from(&fresh.info.keywords);
                known.info.modseq = known.info.modseq.max(fresh.info.modseq);
            }
        }
        self.keywords.clone_from(&outcome.keywords);
        let mut outcome = outcome;
        // In the order asked.
        for &uid in uids {
            if let Some(m) = rows.iter().find(|m| m.info.uid == uid)
                && !outcome.messages.iter().any(|o| o.uid == uid)
            {
                outcome.messages.push(m.info.clone());
            }
        }
        if !outcome.changed.is_empty() {
            // The transaction told the other nodes.
            self.db.changed_here(&self.user, &self.name);
        }
        Ok(outcome)
    }

    fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>, StoreError> {
        // Only what this session sees with \Deleted, and (checked in the DELETE) still has it.
        let wanted: Vec<i64> = uids
            .iter()
            .filter(|&&u| {
                self.find(u)
                    .is_some_and(|m| m.info.flags.contains(crate::store::types::Flag::Deleted))
            })
            .map(|&u| i64::from(u))
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let this = &*self;
        let gone = this.db.run(|| async {
            let mut client = this.db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            this.lock(&tx).await?;
            let gone = remove_messages(&tx, &this.owner, this.id, &wanted, true).await?;
            if !gone.is_empty() {
                notify_in(&tx, &this.user, &this.name).await?;
            }
            tx.commit().await.map_err(pg)?;
            Ok(gone)
        })?;
        if !gone.is_empty() {
            // The transaction told the other nodes.
            self.db.changed_here(&self.user, &self.name);
        }
        Ok(gone)
    }

    fn copy(
        &mut self,
        uids: &[u32],
        to: &MailboxName,
        how: Transfer,
    ) -> Result<CopyOutcome, StoreError> {
        let mut sorted: Vec<i64> = uids.iter().map(|&u| i64::from(u)).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let this = &*self;
        let sorted = &sorted;
        let (uid_validity, base) = this.db.run(|| async move {
            let mut client = this.db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let (dest, _) = super::mailbox_id(&tx, &this.owner, to).await?;
            // Both rows locked, lower id first (no deadlock between two crossing MOVEs).
            let locked = tx
                .query(
                    "SELECT id, keywords FROM mailboxes WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                    &[&vec![this.id, dest]],
                )
                .await
                .map_err(pg)?;
            if !locked.iter().any(|r| r.get::<_, i64>(0) == this.id) {
                return Err(StoreError::MailboxGone);
            }
            let rows = tx
                .query(
                    "SELECT uid, size, keywords FROM messages WHERE mailbox = $1 \
                     AND uid = ANY($2) ORDER BY uid",
                    &[&this.id, sorted],
                )
                .await
                .map_err(pg)?;
            if rows.len() != sorted.len() {
                let present: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
                let missing = sorted
                    .iter()
                    .filter(|u| !present.contains(u))
                    .map(|&u| u as u32)
                    .collect();
                return Err(StoreError::Expunged(missing));
            }
            let bytes: i64 = rows.iter().map(|r| r.get::<_, i64>(1)).sum();
            let n = rows.len() as i64;
            charge(&tx, &this.owner, bytes, n, how == Transfer::Copy).await?;
            let dest_keywords: Vec<String> = locked
                .iter()
                .find(|r| r.get::<_, i64>(0) == dest)
                .map(|r| r.get(1))
                .unwrap_or_default();
            let mut defined: Vec<Keyword> = dest_keywords
                .iter()
                .map(|k| Keyword::from(k.as_str()))
                .collect();
            for r in &rows {
                let names: Vec<String> = r.get(2);
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                define(&mut defined, &names);
            }
            let defined: Vec<&str> = defined.iter().map(|k| &**k).collect();
            let row = tx
                .query_one(
                    "UPDATE mailboxes SET uidnext = uidnext + $2, \
                     highestmodseq = highestmodseq + 1, keywords = $3 WHERE id = $1 \
                     RETURNING uidnext - $2, highestmodseq, uidvalidity",
                    &[&dest, &n, &defined],
                )
                .await
                .map_err(pg)?;
            let (base, modseq, uid_validity): (i64, i64, i64) =
                (row.get(0), row.get(1), row.get(2));
            tx.execute(
                "INSERT INTO messages \
                   (mailbox, uid, modseq, flags, keywords, internal_date, size, vsize, blob) \
                 SELECT $1, $2 + row_number() OVER (ORDER BY uid) - 1, $3, flags, keywords, \
                   internal_date, size, vsize, blob \
                 FROM messages WHERE mailbox = $4 AND uid = ANY($5)",
                &[&dest, &base, &modseq, &this.id, sorted],
            )
            .await
            .map_err(pg)?;
            if how == Transfer::Move {
                remove_messages(&tx, &this.owner, this.id, sorted, false).await?;
            }
            tx.commit().await.map_err(pg)?;
            Ok((uid_validity as u32, base))
        })?;
        let mut pairs = Vec::with_capacity(uids.len());
        for &u in uids {
            if pairs.iter().any(|(s, _)| *s == u) {
                continue;
            }
            let i = sorted.binary_search(&i64::from(u)).unwrap_or_default();
            pairs.push((u, (base + i as i64) as u32));
        }
        if !pairs.is_empty() {
            self.changed(to);
            if how == Transfer::Move {
                self.changed(&self.name);
            }
        }
        Ok(CopyOutcome {
            uid_validity,
            uids: pairs,
        })
    }

    fn claim_recent(&mut self, uid_validity: u32, through: u32) -> Result<Vec<u32>, StoreError> {
        if self.read_only || uid_validity != self.uid_validity {
            return Ok(Vec::new());
        }
        let through = i64::from(through);
        let this = &*self;
        this.db.run(|| async {
            let mut client = this.db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let first: i64 = tx
                .query_opt(
                    "SELECT first_recent FROM mailboxes WHERE id = $1 FOR UPDATE",
                    &[&this.id],
                )
                .await
                .map_err(pg)?
                .ok_or(StoreError::MailboxGone)?
                .get(0);
            if first > through {
                return Ok(Vec::new());
            }
            tx.execute(
                "UPDATE mailboxes SET first_recent = $2 WHERE id = $1",
                &[&this.id, &(through + 1)],
            )
            .await
            .map_err(pg)?;
            let rows = tx
                .query(
                    "SELECT uid FROM messages WHERE mailbox = $1 AND uid >= $2 AND uid <= $3 \
                     ORDER BY uid",
                    &[&this.id, &first, &through],
                )
                .await
                .map_err(pg)?;
            tx.commit().await.map_err(pg)?;
            Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u32).collect())
        })
    }

    fn release(&mut self, uids: &[u32]) {
        if !self.gone.is_empty() && !uids.is_empty() {
            let released: std::collections::HashSet<u32> = uids.iter().copied().collect();
            self.gone.retain(|m| !released.contains(&m.info.uid));
        }
    }

    fn vanished_since(&self, modseq: u64) -> Result<Option<Vec<(u32, u32)>>, StoreError> {
        let modseq = modseq.min(i64::MAX as u64) as i64;
        let rows = self.db.run(|| async {
            let client = self.db.client().await?;
            client
                .query(
                    "SELECT uid FROM expunged WHERE mailbox = $1 AND modseq > $2 ORDER BY uid",
                    &[&self.id, &modseq],
                )
                .await
                .map_err(pg)
        })?;
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for r in rows {
            let uid = r.get::<_, i64>(0) as u32;
            match ranges.last_mut() {
                Some((_, end)) if end.checked_add(1) == Some(uid) => *end = uid,
                _ => ranges.push((uid, uid)),
            }
        }
        Ok(Some(ranges))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(uid: u32, modseq: u64) -> Known {
        Known {
            info: MessageInfo {
                uid,
                modseq,
                flags: Flags::empty(),
                keywords: Vec::new(),
                size: Some(10),
                status_size: 10,
            },
            internal_date: SystemTime::UNIX_EPOCH,
            blob: Vec::new(),
        }
    }

    fn uids_and_modseqs(view: &[Known]) -> Vec<(u32, u64)> {
        view.iter().map(|m| (m.info.uid, m.info.modseq)).collect()
    }

    #[test]
    fn merge_applies_changes_new_messages_and_expunges_in_uid_order() {
        let current = [message(1, 1), message(3, 1), message(5, 2), message(7, 2)];
        // 3 has new flags, 5 and 7 are expunged, 8 and 9 arrived.
        let changed = vec![message(3, 4), message(8, 3), message(9, 4)];
        let merged = merge(&current, changed, &[5, 7]);
        assert_eq!(uids_and_modseqs(&merged), [(1, 1), (3, 4), (8, 3), (9, 4)]);
        assert_eq!(
            uids_and_modseqs(&merge(&current, Vec::new(), &[])),
            [(1, 1), (3, 1), (5, 2), (7, 2)]
        );
        assert!(merge(&[], Vec::new(), &[1]).is_empty());
        assert_eq!(
            uids_and_modseqs(&merge(&[], vec![message(2, 1)], &[])),
            [(2, 1)]
        );
    }
}
