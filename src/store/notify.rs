//! In-process change notification per Maildir folder, so an idling IMAP session hears of a change
//! made in this process (SMTP/LMTP delivery, another IMAP session's APPEND, STORE, EXPUNGE, COPY
//! or MOVE) at once instead of at its next poll. Changes made by other processes (Dovecot, mutt,
//! a second server) are still found by IDLE's polling (`protocols::imap::IDLE_POLL`), so a missed or
//! spurious notification costs at most a poll interval or one refresh, never correctness.
//!
//! One `tokio::sync::watch` channel per folder path that has an idling session; a channel nobody
//! listens to any more is dropped at the next subscription. Paths are compared as given: every
//! caller takes them from the same place (`Directory::maildir_path`, then `Maildir::folder`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};

use tokio::sync::watch;

/// Folder path -> the channel its idling sessions wait on.
static WATCHERS: LazyLock<Mutex<HashMap<PathBuf, watch::Sender<u64>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Tells the sessions idling on the folder at `path` that it changed. Cheap when nobody idles
/// there (one lock and one hash lookup); never blocks on the listeners.
pub(crate) fn changed(path: &Path) {
    let map = WATCHERS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(tx) = map.get(path) {
        tx.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// A receiver that [`changed`] on `path` wakes (`changed().await` returns).
pub(crate) fn subscribe(path: &Path) -> watch::Receiver<u64> {
    let mut map = WATCHERS.lock().unwrap_or_else(PoisonError::into_inner);
    map.retain(|_, tx| tx.receiver_count() > 0);
    map.entry(path.to_owned())
        .or_insert_with(|| watch::channel(0).0)
        .subscribe()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_change_wakes_only_that_folders_listeners() {
        let a = Path::new("/nonexistent/mw-notify-test/a");
        let b = Path::new("/nonexistent/mw-notify-test/b");
        let mut ra = subscribe(a);
        let rb = subscribe(b);
        changed(a);
        tokio::time::timeout(std::time::Duration::from_secs(1), ra.changed())
            .await
            .expect("woken")
            .expect("sender alive");
        assert!(!rb.has_changed().unwrap());
        drop(ra);
        // A folder nobody listens to is forgotten at the next subscription.
        let _rb2 = subscribe(b);
        assert!(!WATCHERS.lock().unwrap().contains_key(a));
        changed(a); // nobody listens: nothing happens
        assert!(!rb.has_changed().unwrap());
    }
}
