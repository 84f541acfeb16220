//! Group commit of fsyncs: threads of one process that need the same directory (or file)
//! fsynced share one `fsync` call when they ask at the same time.
//!
//! With several sessions writing one folder (IMAP STORE, EXPUNGE, APPEND from ten clients), each
//! change needs `cur/` or `new/` fsynced before its reply. One fsync of a directory makes every
//! name change made in it before the fsync *started* durable, so a caller whose change is done
//! needs an fsync that starts after it asked, not one of its own: while one runs, the callers
//! that arrive wait, and the next fsync, started once it ends, covers all of them. Durability is
//! unchanged (nobody returns before an fsync that began after its change has succeeded); the
//! number of fsyncs, and the time each caller waits for the disk, falls with the concurrency.
//!
//! Only threads of this process share; another process (Dovecot, a second server) just does its
//! own fsyncs, as before. An error of the fsync that would have covered a caller is that
//! caller's error too.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, LazyLock, Mutex, PoisonError};

/// One path's fsyncs: numbered from 1 in the order they start; one runs at a time.
#[derive(Debug, Default)]
struct Slot {
    state: Mutex<SlotState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct SlotState {
    /// The number the next fsync to start gets (0 until the first caller sets it to 1).
    next: u64,
    /// The number of the last fsync that ended.
    completed: u64,
    /// The number of the last fsync that failed, and its error's kind.
    failed: (u64, Option<io::ErrorKind>),
    running: bool,
}

/// The slots of the paths being fsynced now (removed when nobody uses them).
static SLOTS: LazyLock<Mutex<HashMap<PathBuf, Arc<Slot>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// fsyncs `path` (a directory or a file, opened read-only), or waits for an fsync of it that
/// another thread started after this call began. Returns when the changes made to `path`
/// before the call are durable.
pub(crate) fn fsync_path(path: &Path) -> io::Result<()> {
    let slot = {
        let mut slots = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(slots.entry(path.to_owned()).or_default())
    };
    let result = wait_or_run(&slot, || File::open(path).and_then(|f| f.sync_all()));
    let mut slots = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
    // Only the map and this caller hold it: nobody waits on it.
    if Arc::strong_count(&slot) == 2 {
        slots.remove(path);
    }
    result
}

fn wait_or_run(slot: &Slot, fsync: impl Fn() -> io::Result<()>) -> io::Result<()> {
    let mut st = slot.state.lock().unwrap_or_else(PoisonError::into_inner);
    st.next = st.next.max(1);
    // Any fsync numbered from here on starts after this call's changes.
    let target = st.next;
    loop {
        if st.completed >= target {
            return match st.failed {
                (n, kind) if n >= target => Err(io::Error::new(
                    kind.unwrap_or(io::ErrorKind::Other),
                    "fsync (shared with another thread) failed",
                )),
                _ => Ok(()),
            };
        }
        if st.running {
            st = slot.done.wait(st).unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        st.running = true;
        let number = st.next;
        st.next += 1;
        drop(st);
        let result = fsync();
        st = slot.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.running = false;
        st.completed = number;
        if let Err(e) = &result {
            st.failed = (number, Some(e.kind()));
        }
        slot.done.notify_all();
        return result;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn concurrent_callers_share_fsyncs_and_each_gets_one_that_started_after_it() {
        let slot = Arc::new(Slot::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let slot = Arc::clone(&slot);
                let calls = Arc::clone(&calls);
                std::thread::spawn(move || {
                    wait_or_run(&slot, || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        Ok(())
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic").expect("fsync ok");
        }
        let n = calls.load(Ordering::SeqCst);
        assert!((1..=8).contains(&n), "{n} fsyncs");
        let st = slot.state.lock().expect("lock");
        assert!(!st.running);
        assert_eq!(st.completed, st.next - 1);
    }

    #[test]
    fn a_caller_arriving_during_an_fsync_waits_for_the_next_one() {
        let slot = Arc::new(Slot::default());
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let first = {
            let slot = Arc::clone(&slot);
            std::thread::spawn(move || {
                wait_or_run(&slot, || {
                    started_tx.send(()).expect("send");
                    release_rx.recv().expect("recv");
                    Ok(())
                })
            })
        };
        started_rx.recv().expect("started");
        let runs = Arc::new(AtomicUsize::new(0));
        let second = {
            let slot = Arc::clone(&slot);
            let runs = Arc::clone(&runs);
            std::thread::spawn(move || {
                wait_or_run(&slot, || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Err(io::Error::other("disk gone"))
                })
            })
        };
        // The second caller registered while the first fsync ran: that one does not cover it.
        std::thread::sleep(Duration::from_millis(50));
        release_tx.send(()).expect("release");
        first.join().expect("no panic").expect("first ok");
        let err = second
            .join()
            .expect("no panic")
            .expect_err("its own fsync failed");
        assert_eq!(err.to_string(), "disk gone");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn fsyncs_a_real_directory_and_forgets_its_slot() {
        let dir = std::env::temp_dir().join(format!("mw-groupsync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        fsync_path(&dir).expect("fsync");
        assert!(!SLOTS.lock().expect("lock").contains_key(&dir));
        assert!(fsync_path(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).expect("rm");
    }
}
