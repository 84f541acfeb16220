//! QRESYNC's history of expunged UIDs (RFC 7162 §3.2.5.1): every removal is recorded with the
//! MODSEQ at which it went, by this crate's EXPUNGE and MOVE and when a sync notices a message
//! another program removed, so `vanished_since` is exact; where the history does not reach, it
//! says so.

mod common;

use common::TempDir;
use mailwright_maildir::{FlagUpdate, Flags, Maildir, VANISHED_FILE};

fn deleted() -> FlagUpdate {
    FlagUpdate::Add(Flags::parse("T").unwrap())
}

#[test]
fn expunges_and_removals_by_others_are_recorded_with_their_modseq() {
    let tmp = TempDir::new("vanished");
    let md = Maildir::create_user(tmp.path()).unwrap();
    for k in 0..8 {
        md.deliver(format!("message {k}").as_bytes()).unwrap();
    }
    let mut st = md.sync().unwrap();
    let v = st.uid_validity;
    let h0 = st.highest_modseq;
    assert_eq!(md.vanished_since(v, h0).unwrap(), Some(vec![]));
    // EXPUNGE of 2 and 3.
    md.store_flags(&mut st, &[2, 3], deleted(), None).unwrap();
    assert_eq!(md.expunge(&st, None).unwrap(), [2, 3]);
    let st = md.sync().unwrap();
    let h1 = st.highest_modseq;
    assert!(h1 > h0);
    assert_eq!(md.vanished_since(v, h0).unwrap(), Some(vec![(2, 3)]));
    assert_eq!(md.vanished_since(v, h1).unwrap(), Some(vec![]));
    // A flag change alone records nothing.
    let mut st = st;
    md.store_flags(
        &mut st,
        &[1],
        FlagUpdate::Add(Flags::parse("S").unwrap()),
        None,
    )
    .unwrap();
    assert_eq!(md.vanished_since(v, h1).unwrap(), Some(vec![]));
    // Another program removes UID 5's file: the next sync records it.
    let five = st.by_uid(5).unwrap().entry.clone();
    std::fs::remove_file(md.path().join("cur").join(five.file_name()))
        .or_else(|_| std::fs::remove_file(md.path().join("new").join(five.file_name())))
        .unwrap();
    let st = md.sync().unwrap();
    let h2 = st.highest_modseq;
    assert!(st.by_uid(5).is_none());
    assert_eq!(md.vanished_since(v, h1).unwrap(), Some(vec![(5, 5)]));
    assert_eq!(
        md.vanished_since(v, h0).unwrap(),
        Some(vec![(2, 3), (5, 5)])
    );
    // MOVE out: the sources are expunged.
    let trash = md.folder("Trash").unwrap();
    md.move_uids(&st, &[4, 6], &trash).unwrap();
    let st = md.sync().unwrap();
    assert_eq!(
        md.vanished_since(v, h2).unwrap(),
        Some(vec![(4, 4), (6, 6)])
    );
    assert_eq!(md.vanished_since(v, h0).unwrap(), Some(vec![(2, 6)]));
    // Another UIDVALIDITY knows nothing.
    assert_eq!(md.vanished_since(v + 1, h0).unwrap(), None);
    // A fresh handle (another process) reads the same.
    let again = Maildir::open(tmp.path()).unwrap();
    assert_eq!(again.vanished_since(v, h0).unwrap(), Some(vec![(2, 6)]));
    assert!(st.highest_modseq > h2);
}

#[test]
fn a_history_that_starts_late_says_where_it_starts() {
    let tmp = TempDir::new("vanished-late");
    let md = Maildir::create_user(tmp.path()).unwrap();
    for k in 0..4 {
        md.deliver(format!("message {k}").as_bytes()).unwrap();
    }
    let mut st = md.sync().unwrap();
    let v = st.uid_validity;
    md.store_flags(&mut st, &[1], deleted(), None).unwrap();
    md.expunge(&st, None).unwrap();
    // As a folder written by an older version: no history file.
    std::fs::remove_file(md.path().join(VANISHED_FILE)).unwrap();
    let mut st = md.sync().unwrap();
    md.store_flags(&mut st, &[2], deleted(), None).unwrap();
    let before = st.highest_modseq;
    assert_eq!(md.vanished_since(v, before).unwrap(), None);
    md.expunge(&st, None).unwrap();
    // Exact from the MODSEQ before that expunge on; unknown before it.
    assert_eq!(md.vanished_since(v, before).unwrap(), Some(vec![(2, 2)]));
    assert_eq!(md.vanished_since(v, before - 1).unwrap(), None);
    // A torn last line (a crash in the middle of an append) is skipped, then replaced.
    let path = md.path().join(VANISHED_FILE);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("999 4");
    std::fs::write(&path, &text).unwrap();
    assert_eq!(md.vanished_since(v, before).unwrap(), Some(vec![(2, 2)]));
    let mut st = md.sync().unwrap();
    md.store_flags(&mut st, &[3], deleted(), None).unwrap();
    md.expunge(&st, None).unwrap();
    assert_eq!(md.vanished_since(v, before).unwrap(), Some(vec![(2, 3)]));
    assert!(!std::fs::read_to_string(&path).unwrap().contains("999"));
}
