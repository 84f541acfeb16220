//! `\Recent` (RFC 3501 §2.3.2): each message is recent in exactly one read-write session, the
//! first to sync after it arrived; read-only sessions and STATUS see it without claiming it.
//! Two handles on one folder stand for two sessions (each handle has caches of its own).

mod common;

use std::collections::BTreeSet;

use common::TempDir;
use mailwright_maildir::{Flags, Maildir, RECENT_PREFIX, Subdir};

fn uids(it: impl IntoIterator<Item = u32>) -> Vec<u32> {
    it.into_iter().collect()
}

fn unclaimed(md: &Maildir) -> Vec<u32> {
    uids(md.sync().unwrap().unclaimed_recent().map(|m| m.uid))
}

#[test]
fn the_first_read_write_sync_claims_and_no_other_session_sees_them() {
    let tmp = TempDir::new("recent-two");
    let a = Maildir::create(tmp.path()).unwrap();
    let b = Maildir::open(tmp.path()).unwrap();
    a.deliver(b"one").unwrap();
    a.deliver(b"two").unwrap();
    // STATUS and EXAMINE: seen, not claimed, as often as asked.
    assert_eq!(unclaimed(&b), [1, 2]);
    assert_eq!(unclaimed(&a), [1, 2]);
    let examined = b.sync().unwrap();
    assert!(examined.claimed_recent.is_empty());
    assert!(
        examined
            .messages
            .iter()
            .all(|m| m.entry.subdir() == Subdir::New),
        "a read-only sync moves nothing"
    );
    // SELECT in session A claims both, and the messages move to cur/.
    let sa = a.sync_claim_recent().unwrap();
    assert_eq!(sa.claimed_recent, [1, 2]);
    assert_eq!(sa.first_recent, sa.uid_next);
    assert!(sa.messages.iter().all(|m| m.entry.subdir() == Subdir::Cur));
    // SELECT in session B: nothing left; STATUS counts none.
    assert!(b.sync_claim_recent().unwrap().claimed_recent.is_empty());
    assert!(unclaimed(&b).is_empty());
    // A delivery while both have it selected goes to whichever syncs first: here B.
    a.deliver(b"three").unwrap();
    assert_eq!(unclaimed(&a), [3]);
    assert_eq!(b.sync_claim_recent().unwrap().claimed_recent, [3]);
    assert!(a.sync_claim_recent().unwrap().claimed_recent.is_empty());
    assert!(unclaimed(&a).is_empty());
}

#[test]
fn append_copy_and_move_arrive_recent_and_the_appending_session_can_claim_them() {
    let tmp = TempDir::new("recent-arrive");
    let inbox = Maildir::create_user(tmp.path()).unwrap();
    let other_session = Maildir::open(tmp.path()).unwrap();
    inbox.deliver(b"x").unwrap();
    inbox.deliver(b"y").unwrap();
    let s = inbox.sync_claim_recent().unwrap();
    assert_eq!(s.claimed_recent, [1, 2]);
    // APPEND: recent; the session that appended claims it at once (Dovecot gives it that session).
    let appended = inbox.append(&b"z"[..], Flags::empty(), None).unwrap();
    assert_eq!(unclaimed(&other_session), [3]);
    let claimed = inbox
        .claim_recent(appended.uid_validity, appended.uid + 1)
        .unwrap();
    assert_eq!(claimed, 3..4);
    assert!(
        other_session
            .sync_claim_recent()
            .unwrap()
            .claimed_recent
            .is_empty()
    );
    // COPY and MOVE into a folder: recent there.
    let archive = inbox.create_folder("Archive").unwrap();
    let copied = inbox.copy_uids(&s, &[1], &archive).unwrap();
    assert_eq!(unclaimed(&archive), [1]);
    let s = inbox.sync().unwrap();
    let moved = inbox.move_uids(&s, &[2], &archive).unwrap();
    assert_eq!(unclaimed(&archive), [1, 2]);
    assert_eq!((copied.uids[0].1, moved.uids[0].1), (1, 2));
    assert_eq!(archive.sync_claim_recent().unwrap().claimed_recent, [1, 2]);
}

#[test]
fn concurrent_sessions_claim_each_message_exactly_once() {
    let tmp = TempDir::new("recent-race");
    let md = Maildir::create(tmp.path()).unwrap();
    md.sync().unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sessions: Vec<_> = (0..3)
        .map(|_| {
            let md = Maildir::open(tmp.path()).unwrap();
            let done = std::sync::Arc::clone(&done);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                    mine.extend(md.sync_claim_recent().unwrap().claimed_recent);
                    if finished {
                        return mine;
                    }
                }
            })
        })
        .collect();
    for i in 0..60 {
        md.deliver(format!("message {i}").as_bytes()).unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut all = BTreeSet::new();
    let mut total = 0;
    for s in sessions {
        let mine = s.join().unwrap();
        total += mine.len();
        all.extend(mine);
    }
    assert_eq!(total, all.len(), "a message was recent in two sessions");
    assert_eq!(all, (1..=60).collect());
}

#[test]
fn a_folder_from_before_and_a_lost_file_start_at_what_no_reader_has_seen() {
    let tmp = TempDir::new("recent-upgrade");
    let md = Maildir::create(tmp.path()).unwrap();
    let seen = md.deliver(b"seen").unwrap();
    md.move_to_cur(&seen.entry).unwrap();
    md.deliver(b"unseen").unwrap();
    md.sync().unwrap();
    // As an older version left it: no first-recent file.
    let recent_files = || -> Vec<String> {
        std::fs::read_dir(md.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(RECENT_PREFIX))
            .collect()
    };
    for f in recent_files() {
        std::fs::remove_file(md.path().join(f)).unwrap();
    }
    let fresh = Maildir::open(md.path()).unwrap();
    assert_eq!(unclaimed(&fresh), [2], "the message still in new/");
    assert_eq!(fresh.sync_claim_recent().unwrap().claimed_recent, [2]);
    assert_eq!(recent_files().len(), 1);
    // A rebuilt uidlist (new UIDVALIDITY): everything is recent again, and the old file goes.
    std::fs::remove_file(md.path().join("dovecot-uidlist")).unwrap();
    let s = fresh.sync().unwrap();
    assert_eq!(uids(s.unclaimed_recent().map(|m| m.uid)), [1, 2]);
    assert_eq!(
        recent_files(),
        [format!("{RECENT_PREFIX}{}.1", s.uid_validity)]
    );
}

#[test]
fn examine_of_a_new_folder_sees_appended_messages_recent() {
    let tmp = TempDir::new("recent-new-folder");
    let inbox = Maildir::create_user(tmp.path()).unwrap();
    let f = inbox.create_folder("New").unwrap();
    f.append(&b"a"[..], Flags::empty(), None).unwrap();
    f.append(&b"b"[..], Flags::empty(), None).unwrap();
    assert_eq!(unclaimed(&f), [1, 2]);
}
