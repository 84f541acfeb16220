//! Messages expunged by one handle stay readable by unique name to another that still shows them
//! (RFC 2180 §4.1), for the grace period; then, or when another program removed them, `Gone`.

mod common;

use std::io::Read;
use std::time::{Duration, SystemTime};

use common::TempDir;
use mailwright_maildir::{EXPUNGED_DIR, Error, FlagUpdate, Flags, Maildir, Quota, Reopened};

fn read(r: Reopened) -> (&'static str, Vec<u8>) {
    let (kind, mut f) = match r {
        Reopened::Present(f, _) => ("present", f),
        Reopened::Expunged(f) => ("expunged", f),
        Reopened::Gone => return ("gone", Vec::new()),
    };
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).unwrap();
    (kind, buf)
}

#[test]
fn another_handle_reads_what_was_expunged_under_it() {
    let tmp = TempDir::new("expunged-read");
    let root = Maildir::create_user(tmp.path()).unwrap();
    root.set_quota(Quota {
        bytes: None,
        messages: Some(100),
    })
    .unwrap();
    let a = Maildir::open(tmp.path()).unwrap();
    let b = Maildir::open(tmp.path()).unwrap();
    a.deliver(b"kept for a while").unwrap();
    a.deliver(b"other").unwrap();
    let shown = a.sync().unwrap(); // session A's view
    let entry = shown.messages[0].entry.clone();
    assert_eq!(
        read(a.reopen(&entry).unwrap()),
        ("present", b"kept for a while".to_vec())
    );
    // Session B flags it \Deleted and expunges it.
    let mut sb = b.sync().unwrap();
    b.store_flags(
        &mut sb,
        &[1],
        FlagUpdate::Add(Flags::parse("T").unwrap()),
        None,
    )
    .unwrap();
    assert_eq!(b.expunge(&sb, None).unwrap(), [1]);
    // A still shows it: the old name is gone, the message readable.
    assert!(matches!(a.open_message(&entry), Err(Error::NotFound(_))));
    assert_eq!(
        read(a.reopen(&entry).unwrap()),
        ("expunged", b"kept for a while".to_vec())
    );
    // Invisible to everything else: scans, UIDs, folders, quota.
    assert_eq!(a.sync().unwrap().messages.len(), 1);
    assert_eq!(a.scan().unwrap().len(), 1);
    assert_eq!(
        a.list_folders().unwrap(),
        ["Drafts", "Junk", "Sent", "Trash"]
    );
    assert_eq!(a.quota_usage().unwrap().unwrap().messages, 1);
    // After the grace period, gone.
    let later = SystemTime::now() + Duration::from_secs(61);
    assert_eq!(a.purge_expunged(later).unwrap(), 1);
    assert_eq!(read(a.reopen(&entry).unwrap()).0, "gone");
    assert!(tmp.path().join(EXPUNGED_DIR).is_dir());
}

#[test]
fn removed_by_another_program_or_without_a_grace_period_is_gone() {
    let tmp = TempDir::new("expunged-gone");
    let mut md = Maildir::create(tmp.path()).unwrap();
    let d1 = md.deliver(b"1").unwrap();
    let d2 = md.deliver(b"2").unwrap();
    std::fs::remove_file(&d1.path).unwrap();
    assert_eq!(read(md.reopen(&d1.entry).unwrap()).0, "gone");
    md.set_expunged_grace(Duration::ZERO);
    md.remove(&d2.entry).unwrap();
    assert_eq!(read(md.reopen(&d2.entry).unwrap()).0, "gone");
    assert!(!tmp.path().join(EXPUNGED_DIR).exists());
}

#[test]
fn a_file_kept_open_outlives_everything() {
    let tmp = TempDir::new("expunged-open");
    let mut md = Maildir::create(tmp.path()).unwrap();
    md.set_expunged_grace(Duration::ZERO);
    let d = md.deliver(b"still here").unwrap();
    let Reopened::Present(mut f, _) = md.reopen(&d.entry).unwrap() else {
        panic!("present");
    };
    md.remove(&d.entry).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "still here");
}
