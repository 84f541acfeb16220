//! A user's Maildir++ copied into the database as it stands (`full_server migrate --to
//! postgres`, module `store::migrate`): every mailbox with its UIDVALIDITY, UIDNEXT and
//! HIGHESTMODSEQ, every message with its UID, MODSEQ, flags, keywords and internal date, the
//! QRESYNC expunge history, subscriptions and quota, so that a client's cache stays valid.
//!
//! One transaction per user: a copy is all there or not at all.

use std::time::SystemTime;

use mailwright_maildir::{Flag as MdFlag, MailboxState, Maildir};

use super::{Db, PostgresStore, check_name, flag_bits, pg, special_use};
use crate::store::migrate::{Copied, MaildirFolder, MaildirUser};
use crate::store::types::StoreError;

/// Dovecot's and our name for the Maildir flag `P`.
const FORWARDED: &str = "$Forwarded";

impl PostgresStore {
    /// Whether the database has the user's mail already. Blocking.
    pub fn has_account(&self, user: &str) -> Result<bool, StoreError> {
        self.db.run(|| async move {
            let client = self.db.client().await?;
            Ok(client
                .query_opt("SELECT 1 FROM accounts WHERE username = $1", &[&user])
                .await
                .map_err(pg)?
                .is_some())
        })
    }

    /// Copies a user's Maildir folders (read by [`MaildirUser::read`]) into the database.
    /// `Ok(None)` when the database has the user already and `force` is off; with `force` the
    /// user's mail in the database is replaced. Blocking.
    pub fn import_maildir(
        &self,
        user: &MaildirUser,
        force: bool,
    ) -> Result<Option<Copied>, StoreError> {
        for folder in &user.folders {
            check_name(&folder.name)?;
        }
        self.db.run(|| import(&self.db, user, force))
    }
}

/// A message's keywords as the Maildir store reports them: `P` is `$Forwarded`, first.
fn keywords_of(state: &MailboxState, m: &mailwright_maildir::UidMessage) -> Vec<String> {
    let f = m.entry.flags();
    let passed = f.contains(MdFlag::Passed);
    let mut out: Vec<String> = Vec::new();
    if passed {
        out.push(FORWARDED.to_owned());
    }
    for name in state.keywords.names_of(f, &m.extra_keywords) {
        if !out.iter().any(|k| k.eq_ignore_ascii_case(name)) {
            out.push(name.to_owned());
        }
    }
    out
}

/// The keywords defined in a folder, in order; `$Forwarded` last when a message has `P` and the
/// table does not name it.
fn defined_keywords(state: &MailboxState) -> Vec<String> {
    let mut out: Vec<String> = state
        .keywords
        .all_names()
        .map(|(_, n)| n.to_owned())
        .collect();
    if !out.iter().any(|k| k.eq_ignore_ascii_case(FORWARDED))
        && state
            .messages
            .iter()
            .any(|m| m.entry.flags().contains(MdFlag::Passed))
    {
        out.push(FORWARDED.to_owned());
    }
    out
}

/// Octets with CRLF line ends (each LF not after a CR counts two), as the store keeps them.
fn crlf_size(data: &[u8]) -> i64 {
    let mut n = data.len() as i64;
    for (i, b) in data.iter().enumerate() {
        if *b == b'\n' && (i == 0 || data[i - 1] != b'\r') {
            n += 1;
        }
    }
    n
}

async fn import(db: &Db, user: &MaildirUser, force: bool) -> Result<Option<Copied>, StoreError> {
    let name = user.address.to_string();
    let mut client = db.client().await?;
    let tx = client.transaction().await.map_err(pg)?;
    let there = tx
        .query_opt(
            "SELECT 1 FROM accounts WHERE username = $1 FOR UPDATE",
            &[&name],
        )
        .await
        .map_err(pg)?
        .is_some();
    if there && !force {
        return Ok(None);
    }
    // Replaced whole: the mailboxes go with the account (ON DELETE CASCADE); their bodies are
    // left to the collector.
    tx.execute("DELETE FROM subscriptions WHERE username = $1", &[&name])
        .await
        .map_err(pg)?;
    tx.execute("DELETE FROM accounts WHERE username = $1", &[&name])
        .await
        .map_err(pg)?;
    // A mailbox made later gets a UIDVALIDITY none of the copied ones has.
    let next_uidvalidity = user
        .folders
        .iter()
        .map(|f| i64::from(f.state.uid_validity) + 1)
        .max()
        .unwrap_or(1)
        .max(super::unix_now());
    let limit = |v: Option<u64>| v.map(|l| l.min(i64::MAX as u64) as i64);
    tx.execute(
        "INSERT INTO accounts (username, next_uidvalidity, bytes_limit, messages_limit) \
         VALUES ($1, $2, $3, $4)",
        &[
            &name,
            &next_uidvalidity,
            &limit(user.quota.and_then(|q| q.bytes)),
            &limit(user.quota.and_then(|q| q.messages)),
        ],
    )
    .await
    .map_err(pg)?;
    let mut copied = Copied::default();
    for folder in &user.folders {
        copy_folder(&tx, &name, folder, &mut copied).await?;
    }
    for sub in &user.subscriptions {
        copied.subscriptions += tx
            .execute(
                "INSERT INTO subscriptions (username, name) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
                &[&name, &sub.as_str()],
            )
            .await
            .map_err(pg)?;
    }
    tx.execute(
        "UPDATE accounts SET used_bytes = $2, used_messages = $3 WHERE username = $1",
        &[&name, &(copied.bytes as i64), &(copied.messages as i64)],
    )
    .await
    .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    Ok(Some(copied))
}

async fn copy_folder(
    tx: &tokio_postgres::Transaction<'_>,
    user: &str,
    folder: &MaildirFolder,
    copied: &mut Copied,
) -> Result<(), StoreError> {
    let state = &folder.state;
    let md: &Maildir = &folder.maildir;
    let history = folder
        .vanished
        .as_ref()
        .filter(|h| h.uid_validity == state.uid_validity);
    let highest = state
        .messages
        .iter()
        .map(|m| m.modseq)
        .chain(history.iter().flat_map(|h| h.lines.iter().map(|l| l.0)))
        .fold(state.highest_modseq, u64::max)
        .max(1);
    let id: i64 = tx
        .query_one(
            "INSERT INTO mailboxes (username, name, uidvalidity, uidnext, highestmodseq, \
               first_recent, keywords, special_use) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &user,
                &folder.name.as_str(),
                &i64::from(state.uid_validity),
                &i64::from(state.uid_next),
                &(highest as i64),
                &i64::from(state.first_recent),
                &defined_keywords(state),
                &special_use(&folder.name).map(crate::store::SpecialUse::attribute),
            ],
        )
        .await
        .map_err(pg)?
        .get(0);
    copied.mailboxes += 1;
    for m in &state.messages {
        let body = md
            .read_message(&m.entry)
            .map_err(crate::store::maildir::error)?;
        let internal_date: SystemTime = md
            .internal_date(&m.entry)
            .map_err(crate::store::maildir::error)?;
        let hash = ring::digest::digest(&ring::digest::SHA256, &body)
            .as_ref()
            .to_vec();
        tx.execute(
            "INSERT INTO blobs (hash, body) VALUES ($1, $2) \
             ON CONFLICT (hash) DO UPDATE SET saved_at = now()",
            &[&hash, &body],
        )
        .await
        .map_err(pg)?;
        tx.execute(
            "INSERT INTO messages \
               (mailbox, uid, modseq, flags, keywords, internal_date, size, vsize, blob) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &id,
                &i64::from(m.uid),
                &(m.modseq.max(1) as i64),
                &flag_bits(crate::store::maildir::flags_from_maildir(m.entry.flags())),
                &keywords_of(state, m),
                &internal_date,
                &(body.len() as i64),
                &crlf_size(&body),
                &hash,
            ],
        )
        .await
        .map_err(pg)?;
        copied.messages += 1;
        copied.bytes += body.len() as u64;
    }
    // The expunge history: the UIDs Maildir's history names, at their MODSEQs; every other UID
    // below UIDNEXT that no message has went at or before the history's floor (or before now,
    // without a history), so a client that knows an older MODSEQ hears of it too.
    let floor = history.map_or(highest, |h| h.floor);
    let expunge = "INSERT INTO expunged (mailbox, uid, modseq, blob) \
         SELECT $1, g, $2, ''::bytea FROM generate_series($3::bigint, $4::bigint) AS g \
         WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.mailbox = $1 AND m.uid = g) \
         ON CONFLICT (mailbox, uid) DO UPDATE SET modseq = greatest(expunged.modseq, EXCLUDED.modseq)";
    if let Some(h) = history {
        for (modseq, ranges) in &h.lines {
            for (first, last) in ranges {
                copied.expunged += tx
                    .execute(
                        expunge,
                        &[
                            &id,
                            &(*modseq as i64),
                            &i64::from(*first),
                            &i64::from(*last),
                        ],
                    )
                    .await
                    .map_err(pg)?;
            }
        }
    }
    if state.uid_next > 1 {
        copied.expunged += tx
            .execute(
                "INSERT INTO expunged (mailbox, uid, modseq, blob) \
                 SELECT $1, g, $2, ''::bytea FROM generate_series(1, $3::bigint) AS g \
                 WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.mailbox = $1 AND m.uid = g) \
                 ON CONFLICT (mailbox, uid) DO NOTHING",
                &[&id, &(floor as i64), &(i64::from(state.uid_next) - 1)],
            )
            .await
            .map_err(pg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_size_counts_bare_lf_twice() {
        assert_eq!(crlf_size(b"a\nb\r\nc"), 7);
        assert_eq!(crlf_size(b"\n"), 2);
        assert_eq!(crlf_size(b""), 0);
    }
}
