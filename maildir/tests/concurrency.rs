//! Concurrency and crash safety: threads × processes delivering, flagging and syncing at once;
//! a delivering process killed at a random moment.
//!
//! The child processes are this test binary run again with `MW_MAILDIR_CHILD` set, filtered to
//! the `child_*` entry points (which do nothing when the variable is absent).

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;
use mailwright_maildir::{FlagUpdate, Flags, Maildir};

const THREADS: usize = 3;
const PROCESSES: usize = 3;
const PER_WORKER: usize = 20;
const SHARED: usize = 15;

/// One worker: deliver `PER_WORKER` messages, add its own keyword letter to every shared
/// message (racing every other worker's renames), sync now and then.
fn worker(dir: &Path, id: usize) {
    let md = Maildir::open(dir).unwrap();
    let letter = char::from(b'a' + id as u8);
    let mut mine = Flags::empty();
    assert!(mine.insert_char(letter));
    let shared: Vec<_> = md
        .scan()
        .unwrap()
        .into_iter()
        .filter(|e| e.size() == Some(6))
        .collect();
    assert_eq!(shared.len(), SHARED);
    for i in 0..PER_WORKER {
        let mut d = md.delivery().unwrap();
        writeln!(d, "worker {id} message {i}").unwrap();
        d.commit().unwrap();
        if let Some(e) = shared.get(i % SHARED) {
            md.set_flags(e, FlagUpdate::Add(mine)).unwrap();
        }
        if i % 7 == 0 {
            md.sync().unwrap();
        }
        if i % 6 == 3 {
            // The same flag through the MODSEQ-recording path, racing syncs and renames.
            let mut state = md.sync().unwrap();
            let uids: Vec<u32> = state
                .messages
                .iter()
                .filter(|m| m.entry.size() == Some(6))
                .map(|m| m.uid)
                .collect();
            md.store_flags(&mut state, &uids, FlagUpdate::Add(mine), None)
                .unwrap();
        }
    }
    for e in &shared {
        md.set_flags(e, FlagUpdate::Add(mine)).unwrap();
    }
}

#[test]
fn child_worker() {
    if let (Ok(dir), Ok(id)) = (
        std::env::var("MW_MAILDIR_CHILD"),
        std::env::var("MW_CHILD_ID"),
    ) {
        worker(Path::new(&dir), id.parse().unwrap());
    }
}

#[test]
fn threads_and_processes_lose_nothing() {
    let tmp = TempDir::new("conc");
    let md = Maildir::create(tmp.path()).unwrap();
    for _ in 0..SHARED {
        md.deliver(b"shared").unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            Command::new(&exe)
                .args(["--exact", "child_worker", "--nocapture", "--test-threads=1"])
                .env("MW_MAILDIR_CHILD", tmp.path())
                .env("MW_CHILD_ID", (THREADS + p).to_string())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::scope(|s| {
        for id in 0..THREADS {
            let dir = tmp.path();
            s.spawn(move || worker(dir, id));
        }
    });
    for mut c in children {
        assert!(c.wait().unwrap().success(), "child worker failed");
    }

    let entries = md.scan().unwrap();
    assert_eq!(entries.len(), SHARED + (THREADS + PROCESSES) * PER_WORKER);
    let uniques: HashSet<_> = entries.iter().map(|e| e.unique().to_owned()).collect();
    assert_eq!(uniques.len(), entries.len(), "duplicate unique names");
    let mut bodies = HashSet::new();
    let all_letters: String = (0..THREADS + PROCESSES)
        .map(|i| char::from(b'a' + i as u8))
        .collect();
    for e in &entries {
        let body = md.read_message(e).unwrap();
        if body == b"shared" {
            assert_eq!(
                e.flags().to_string(),
                all_letters,
                "lost flag update on {}",
                e.file_name()
            );
        } else {
            assert!(bodies.insert(body), "duplicate delivery");
        }
    }
    assert_eq!(bodies.len(), (THREADS + PROCESSES) * PER_WORKER);
    let state = md.sync().unwrap();
    assert_eq!(state.messages.len(), entries.len());
    let uids: HashSet<_> = state.messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids.len(), entries.len(), "duplicate UIDs");
    assert!(state.messages.iter().all(|m| m.uid < state.uid_next));
    assert!(
        state
            .messages
            .iter()
            .all(|m| m.modseq <= state.highest_modseq)
    );
}

/// Delivers messages that state their own length until killed.
#[test]
fn child_deliver_forever() {
    let Ok(dir) = std::env::var("MW_MAILDIR_CRASH") else {
        return;
    };
    let md = Maildir::open(dir).unwrap();
    for i in 0..100_000usize {
        let len = 1000 + (i * 7919) % 200_000;
        let mut d = md.delivery().unwrap();
        writeln!(d, "{len:010}").unwrap();
        let chunk = vec![b'x'; 4096];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len());
            d.write_all(&chunk[..n]).unwrap();
            left -= n;
        }
        d.commit().unwrap();
    }
}

#[test]
fn killed_delivery_leaves_nothing_or_a_whole_message() {
    let tmp = TempDir::new("crash");
    let md = Maildir::create(tmp.path()).unwrap();
    let exe = std::env::current_exe().unwrap();
    for round in 0..3u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "child_deliver_forever", "--nocapture"])
            .env("MW_MAILDIR_CRASH", tmp.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it has delivered something, then kill it mid-flight.
        let start = Instant::now();
        while md.scan().unwrap().len() < (round as usize + 1) * 3
            && start.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(3 + round * 4));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let entries = md.scan().unwrap();
    assert!(entries.len() >= 9);
    for e in &entries {
        let body = md.read_message(e).unwrap();
        let declared: usize = std::str::from_utf8(&body[..10]).unwrap().parse().unwrap();
        assert_eq!(
            body.len(),
            11 + declared,
            "partial message {}",
            e.file_name()
        );
        assert_eq!(e.size(), Some(body.len() as u64));
    }
    // Whatever the kills left in tmp/ is invisible, and goes after 36 hours.
    let later = std::time::SystemTime::now() + Duration::from_hours(37);
    let left = std::fs::read_dir(md.path().join("tmp")).unwrap().count();
    assert_eq!(md.clean_tmp(later).unwrap(), left);
    assert_eq!(md.scan().unwrap().len(), entries.len());
}
