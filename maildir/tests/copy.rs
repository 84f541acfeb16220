//! COPY and MOVE of a set, all or nothing: consecutive UIDs in one uidlist update, the quota
//! checked for the whole set, an expunged source failing the whole copy, and a copy cut short by
//! a crash undone (or finished) by the next sync.

mod common;

use std::fmt::Write as _;

use common::TempDir;
use mailwright_maildir::{Error, MailboxState, Maildir, Quota, QuotaUsage};

fn fill(md: &Maildir, n: usize) -> MailboxState {
    for i in 0..n {
        md.deliver(format!("Subject: {i}\r\n\r\nbody {i}\r\n").as_bytes())
            .unwrap();
    }
    md.sync().unwrap()
}

fn uids(st: &MailboxState) -> Vec<u32> {
    st.messages.iter().map(|m| m.uid).collect()
}

fn tmp_names(md: &Maildir) -> Vec<String> {
    std::fs::read_dir(md.path().join("tmp"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

#[test]
fn a_set_gets_consecutive_uids_in_the_order_given() {
    let tmp = TempDir::new("copy-set");
    let inbox = Maildir::create_user(tmp.path()).unwrap();
    let sent = inbox.folder("Sent").unwrap();
    fill(&sent, 2);
    let st = fill(&inbox, 5);
    let res = inbox.copy_uids(&st, &[5, 1, 3, 42], &sent).unwrap();
    assert_eq!(res.uids, [(5, 3), (1, 4), (3, 5)]);
    let ss = sent.sync().unwrap();
    assert_eq!(res.uid_validity, ss.uid_validity);
    assert_eq!(uids(&ss), [1, 2, 3, 4, 5]);
    assert_eq!(
        sent.read_message(&ss.by_uid(3).unwrap().entry).unwrap(),
        inbox.read_message(&st.by_uid(5).unwrap().entry).unwrap()
    );
    assert!(tmp_names(&sent).is_empty(), "no staged file left");
    // MOVE: the same, then the sources are gone.
    let res = inbox.move_uids(&st, &[2, 4], &sent).unwrap();
    assert_eq!(res.uids, [(2, 6), (4, 7)]);
    assert_eq!(uids(&inbox.sync().unwrap()), [1, 3, 5]);
    // COPY into the folder itself.
    let st = inbox.sync().unwrap();
    let res = inbox.copy_uids(&st, &[1, 3], &inbox).unwrap();
    assert_eq!(res.uids, [(1, 6), (3, 7)]);
}

fn usage(md: &Maildir) -> QuotaUsage {
    md.quota_usage().unwrap().unwrap()
}

#[test]
fn the_quota_is_checked_for_the_whole_set_and_a_move_within_the_root_is_free() {
    let tmp = TempDir::new("copy-quota");
    let inbox = Maildir::create_user(tmp.path()).unwrap();
    let archive = inbox.folder("Trash").unwrap();
    let st = fill(&inbox, 3);
    // Room for two more messages, not three.
    inbox
        .set_quota(Quota {
            bytes: None,
            messages: Some(5),
        })
        .unwrap();
    let before = usage(&inbox);
    assert_eq!(before.messages, 3);
    let err = inbox.copy_uids(&st, &[1, 2, 3], &archive).unwrap_err();
    assert!(matches!(err, Error::QuotaExceeded { .. }), "{err}");
    assert!(
        archive.sync().unwrap().messages.is_empty(),
        "nothing copied"
    );
    assert!(tmp_names(&archive).is_empty());
    assert_eq!(usage(&inbox), before);
    // Two fit.
    inbox.copy_uids(&st, &[1, 2], &archive).unwrap();
    assert_eq!(usage(&inbox).messages, 5);
    // Full now; a move within the root still works and changes nothing.
    let res = inbox.move_uids(&st, &[3], &archive).unwrap();
    assert_eq!(res.uids.len(), 1);
    assert_eq!(usage(&inbox).messages, 5);
    assert_eq!(archive.sync().unwrap().messages.len(), 3);
}

#[test]
fn an_expunged_source_fails_the_whole_copy() {
    let tmp = TempDir::new("copy-expunged");
    let inbox = Maildir::create_user(tmp.path()).unwrap();
    let trash = inbox.folder("Trash").unwrap();
    let st = fill(&inbox, 3);
    // Another session expunges UID 2 (past the grace period, so not even kept).
    let mut other = Maildir::open(tmp.path()).unwrap();
    other.set_expunged_grace(std::time::Duration::ZERO);
    other.remove(&st.by_uid(2).unwrap().entry).unwrap();
    let err = inbox.copy_uids(&st, &[1, 2, 3], &trash).unwrap_err();
    assert!(matches!(&err, Error::Expunged(u) if u == &[2]), "{err}");
    let err = inbox.move_uids(&st, &[1, 2, 3], &trash).unwrap_err();
    assert!(matches!(err, Error::Expunged(_)));
    assert!(trash.sync().unwrap().messages.is_empty());
    assert!(tmp_names(&trash).is_empty());
    assert_eq!(
        uids(&inbox.sync().unwrap()),
        [1, 3],
        "a failed move keeps its sources"
    );
}

#[test]
fn readers_see_a_copy_whole_or_not_at_all() {
    let tmp = TempDir::new("copy-readers");
    let inbox = Maildir::create_user(tmp.path()).unwrap();
    let dest = inbox.folder("Sent").unwrap();
    dest.sync().unwrap();
    let st = fill(&inbox, 10);
    let all = uids(&st);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let dest = Maildir::open(dest.path()).unwrap();
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut syncs = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let n = dest.sync().unwrap().messages.len();
                assert_eq!(n % 10, 0, "saw part of a copy: {n}");
                syncs += 1;
            }
            syncs
        })
    };
    for _ in 0..8 {
        inbox.copy_uids(&st, &all, &dest).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(dest.sync().unwrap().messages.len(), 80);
}

/// What a crash leaves: the staged files (`tmp/mwcopy-<id>-<unique>`), maybe their links in
/// `cur/`, maybe some or all of their uidlist records.
fn half_copy(src: &Maildir, st: &MailboxState, dest: &Maildir, id: &str, records: usize) {
    let next = dest.read_uidlist().unwrap().unwrap().next_uid;
    let mut lines = String::new();
    for (i, m) in st.messages.iter().enumerate() {
        let base = format!("{}{id}{i}.host,S=1", 1_700_000_000 + i);
        std::fs::hard_link(
            src.entry_path(&m.entry),
            dest.path().join(format!("tmp/mwcopy-{id}-{base}")),
        )
        .unwrap();
        std::fs::hard_link(
            src.entry_path(&m.entry),
            dest.path().join(format!("cur/{base}:2,")),
        )
        .unwrap();
        if i < records {
            let _ = writeln!(lines, "{} :{base}:2,", next + i as u32);
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dest.path().join("dovecot-uidlist"))
        .unwrap();
    std::io::Write::write_all(&mut f, lines.as_bytes()).unwrap();
}

#[test]
fn a_copy_cut_short_is_undone_and_a_committed_one_kept() {
    let tmp = TempDir::new("copy-crash");
    let inbox = Maildir::create_user(tmp.path()).unwrap();
    let dest = inbox.folder("Junk").unwrap();
    fill(&dest, 1);
    let st = fill(&inbox, 3);
    // Linked, no record: not committed.
    half_copy(&inbox, &st, &dest, "A", 0);
    let ds = dest.sync().unwrap();
    assert_eq!(uids(&ds), [1]);
    assert_eq!(dest.scan().unwrap().len(), 1, "removed from cur/");
    // Linked, a torn append (one record of three): not committed either.
    half_copy(&inbox, &st, &dest, "B", 1);
    let ds = dest.sync().unwrap();
    assert_eq!(uids(&ds), [1]);
    // Every record: committed; kept, its staged names go.
    half_copy(&inbox, &st, &dest, "C", 3);
    let ds = dest.sync().unwrap();
    assert_eq!(ds.messages.len(), 4);
    let left: Vec<String> = tmp_names(&dest);
    assert!(left.iter().all(|n| !n.contains("-C")), "{left:?}");
    // The UID of the undone record (2) is never given again.
    assert_eq!(uids(&ds), [1, 3, 4, 5]);
    // A copy still staging (no links, no records) is left alone.
    let staged = dest.path().join("tmp/mwcopy-D-1700000000.D.host,S=1");
    std::fs::hard_link(inbox.entry_path(&st.messages[0].entry), &staged).unwrap();
    std::fs::write(dest.path().join("new/1700000099.x.host"), b"new").unwrap();
    assert_eq!(dest.sync().unwrap().messages.len(), 5);
    assert!(staged.exists());
}
