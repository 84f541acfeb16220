//! MULTIAPPEND (RFC 3502) in two steps: several prepared messages stored all or none.

mod common;

use std::io::Write as _;

use common::TempDir;
use mailwright_maildir::{Error, Flags, Maildir, PreparedAppend, Quota};

fn prepare(md: &Maildir, text: &str, keywords: &[&str]) -> PreparedAppend {
    let mut p = md.prepare_append(Flags::default(), keywords, None).unwrap();
    p.write_all(text.as_bytes()).unwrap();
    p
}

fn count(md: &Maildir, sub: &str) -> usize {
    std::fs::read_dir(md.path().join(sub)).unwrap().count()
}

#[test]
fn a_batch_gets_consecutive_uids_in_order() {
    let tmp = TempDir::new("multiappend");
    let inbox = Maildir::create_user(tmp.path()).unwrap();
    inbox.deliver(b"Subject: before\r\n\r\nx\r\n").unwrap();
    inbox.sync().unwrap();
    let batch = vec![
        prepare(&inbox, "Subject: 1\r\n\r\none\r\n", &[]),
        prepare(&inbox, "Subject: 2\r\n\r\ntwo\r\n", &["$Label1"]),
        prepare(&inbox, "Subject: 3\r\n\r\nthree\r\n", &[]),
    ];
    let (validity, uids) = PreparedAppend::commit_all(batch).unwrap();
    assert_eq!(uids, [2, 3, 4]);
    let st = inbox.sync().unwrap();
    assert_eq!(st.uid_validity, validity);
    let m = st.by_uid(3).unwrap();
    assert_eq!(
        inbox.read_message(&m.entry).unwrap(),
        b"Subject: 2\r\n\r\ntwo\r\n"
    );
    assert_eq!(count(&inbox, "tmp"), 0);
}

#[test]
fn a_quota_overrun_keeps_none() {
    let tmp = TempDir::new("multiappend-quota");
    let inbox = Maildir::create_user(tmp.path()).unwrap();
    inbox.deliver(b"Subject: before\r\n\r\nx\r\n").unwrap();
    inbox
        .set_quota(Quota {
            bytes: None,
            messages: Some(3),
        })
        .unwrap();
    let before = inbox.sync().unwrap();
    // Room for two more, not three: the third fails, the first two go again.
    let batch = vec![
        prepare(&inbox, "Subject: 1\r\n\r\none\r\n", &[]),
        prepare(&inbox, "Subject: 2\r\n\r\ntwo\r\n", &[]),
        prepare(&inbox, "Subject: 3\r\n\r\nthree\r\n", &[]),
    ];
    let err = PreparedAppend::commit_all(batch).unwrap_err();
    assert!(matches!(err, Error::QuotaExceeded { .. }), "{err}");
    let after = inbox.sync().unwrap();
    assert_eq!(after.messages.len(), before.messages.len());
    assert_eq!(count(&inbox, "tmp"), 0, "no staged file left");
    let usage = inbox.quota_usage().unwrap().unwrap();
    assert_eq!(usage.messages, 1, "the quota credited back");
    // Two fit.
    let batch = vec![
        prepare(&inbox, "Subject: 1\r\n\r\none\r\n", &[]),
        prepare(&inbox, "Subject: 2\r\n\r\ntwo\r\n", &[]),
    ];
    assert_eq!(PreparedAppend::commit_all(batch).unwrap().1, [2, 3]);
}

#[test]
fn an_empty_batch_or_one_across_folders_is_refused() {
    let tmp = TempDir::new("multiappend-refused");
    let inbox = Maildir::create_user(tmp.path()).unwrap();
    let sent = inbox.folder("Sent").unwrap();
    assert!(PreparedAppend::commit_all(Vec::new()).is_err());
    let batch = vec![
        prepare(&inbox, "Subject: 1\r\n\r\none\r\n", &[]),
        prepare(&sent, "Subject: 2\r\n\r\ntwo\r\n", &[]),
    ];
    assert!(matches!(
        PreparedAppend::commit_all(batch),
        Err(Error::InvalidName(_))
    ));
    assert!(inbox.sync().unwrap().messages.is_empty());
    assert_eq!(count(&inbox, "tmp") + count(&sent, "tmp"), 0);
}

#[test]
fn a_commit_failing_midway_takes_out_the_ones_before_it() {
    let tmp = TempDir::new("multiappend-undo");
    let inbox = Maildir::create_user(tmp.path()).unwrap();
    inbox
        .set_quota(Quota {
            bytes: None,
            messages: Some(10),
        })
        .unwrap();
    let names = |md: &Maildir| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(md.path().join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    let first = prepare(&inbox, "Subject: 1\r\n\r\none\r\n", &[]);
    let before = names(&inbox);
    let second = prepare(&inbox, "Subject: 2\r\n\r\ntwo\r\n", &[]);
    // The second message's file vanishes (as on a failing disk): its commit fails.
    for p in names(&inbox) {
        if !before.contains(&p) {
            std::fs::remove_file(p).unwrap();
        }
    }
    assert!(PreparedAppend::commit_all(vec![first, second]).is_err());
    assert!(
        inbox.sync().unwrap().messages.is_empty(),
        "the first one is taken out again"
    );
    assert_eq!(count(&inbox, "cur") + count(&inbox, "new"), 0);
    assert_eq!(inbox.quota_usage().unwrap().unwrap().messages, 0);
}
