//! Change notification per (user, mailbox): a store wakes the [`Changes`] of a mailbox after
//! each write it made there, so an idling IMAP session hears of a delivery, another session's
//! APPEND, STORE, EXPUNGE, COPY or MOVE, or a POP3 deletion at once instead of at its next poll.
//! Changes made behind the store's back (Dovecot, mutt, another server on the same Maildirs) are
//! found by the session's polling (`protocols::imap::IDLE_POLL`), so a missed or spurious
//! notification costs at most a poll interval or one sync, never correctness.
//!
//! A [`Notifier`] keeps one `tokio::sync::watch` channel per mailbox somebody watches; a channel
//! nobody listens to any more is dropped at the next subscription. A store whose writers are
//! elsewhere too (a database shared by several nodes) calls [`Notifier::changed`] from what
//! tells it of their writes (`LISTEN`/`NOTIFY`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio::sync::watch;

use super::types::MailboxName;
use crate::core::directory::Address;

/// The channels of the mailboxes being watched.
#[derive(Debug, Default)]
pub struct Notifier {
    watchers: Mutex<HashMap<(Address, MailboxName), watch::Sender<u64>>>,
}

impl Notifier {
    /// A notifier nobody watches yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes the watchers of `user`'s `mailbox`. Cheap when nobody watches it (one lock and one
    /// hash lookup); never blocks on the watchers.
    pub fn changed(&self, user: &Address, mailbox: &MailboxName) {
        let map = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = map.get(&(user.clone(), mailbox.clone())) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Wakes every watcher: something may have changed that nobody was told of (a store's
    /// feed of other nodes' writes was down, or has just started listening for a user). A
    /// spurious wake costs a session one sync.
    pub fn changed_all(&self) {
        let map = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        for tx in map.values() {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// What [`changed`](Self::changed) on `user`'s `mailbox` wakes.
    pub fn subscribe(&self, user: &Address, mailbox: &MailboxName) -> Changes {
        let mut map = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, tx| tx.receiver_count() > 0);
        Changes(
            map.entry((user.clone(), mailbox.clone()))
                .or_insert_with(|| watch::channel(0).0)
                .subscribe(),
        )
    }
}

/// A subscription to the changes of one mailbox.
#[derive(Debug, Clone)]
pub struct Changes(watch::Receiver<u64>);

impl Changes {
    /// Returns once the mailbox changed since this subscription was made or last returned
    /// (several changes meanwhile wake it once).
    pub async fn changed(&mut self) {
        // The sender lives as long as a receiver does: an error cannot happen, but must not spin.
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// A subscription that never wakes (a store that cannot tell of changes).
    pub fn never() -> Self {
        Self(watch::channel(0).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_change_wakes_only_that_mailboxs_watchers() {
        let n = Notifier::new();
        let user: Address = "a@x.test".parse().unwrap();
        let other: Address = "b@x.test".parse().unwrap();
        let inbox = MailboxName::inbox();
        let sent = MailboxName::new("Sent").unwrap();
        let mut a = n.subscribe(&user, &inbox);
        let b = n.subscribe(&user, &sent);
        let c = n.subscribe(&other, &inbox);
        n.changed(&user, &inbox);
        tokio::time::timeout(std::time::Duration::from_secs(1), a.changed())
            .await
            .expect("woken");
        assert!(!b.0.has_changed().unwrap());
        assert!(!c.0.has_changed().unwrap());
        drop(a);
        // A mailbox nobody watches is forgotten at the next subscription.
        let _b2 = n.subscribe(&user, &sent);
        assert!(
            !n.watchers
                .lock()
                .unwrap()
                .contains_key(&(user.clone(), inbox.clone()))
        );
        n.changed(&user, &inbox); // nobody watches: nothing happens
        assert!(!b.0.has_changed().unwrap());
    }
}
