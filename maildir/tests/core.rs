//! Core Maildir behaviour: delivery, scan, flags, expunge, crash leftovers, tmp cleaning.

mod common;

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::TempDir;
use mailwright_maildir::{DeliveryOptions, Error, Flag, FlagUpdate, Flags, Maildir, Quota, Subdir};

fn flags(s: &str) -> Flags {
    Flags::parse(s).unwrap()
}

#[test]
fn deliver_scan_read_flag_remove() {
    let t = TempDir::new("core");
    let md = Maildir::create(t.path().join("m")).unwrap();
    let time = UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_042);
    let d = md
        .deliver_with(
            b"a\nb\n",
            DeliveryOptions {
                time: Some(time),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(d.unique().starts_with("1700000000.M42P"), "{}", d.unique());
    assert!(d.unique().ends_with(",S=4,W=6"), "{}", d.unique());
    assert_eq!(d.entry.subdir(), Subdir::New);
    let list = md.scan().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].size(), list[0].vsize()), (Some(4), Some(6)));
    assert_eq!(md.read_message(&list[0]).unwrap(), b"a\nb\n");

    let cur = md.move_to_cur(&list[0]).unwrap();
    assert_eq!(cur.subdir(), Subdir::Cur);
    assert_eq!(cur.info(), Some("2,"));
    let e = md.set_flags(&cur, FlagUpdate::Add(flags("SFa"))).unwrap();
    assert_eq!(e.info(), Some("2,FSa"));
    // A stale entry (old name) still works: it is found again by unique name.
    let e2 = md.set_flags(&cur, FlagUpdate::Remove(flags("F"))).unwrap();
    assert_eq!(e2.info(), Some("2,Sa"));
    assert!(e2.flags().contains(Flag::Seen));
    assert_eq!(e2.unique(), d.unique());
    assert!(md.remove(&cur).unwrap());
    assert!(!md.remove(&cur).unwrap());
    assert!(matches!(
        md.set_flags(&cur, FlagUpdate::Add(flags("S"))),
        Err(Error::NotFound(_))
    ));
    assert!(md.scan().unwrap().is_empty());
}

#[test]
fn streaming_chunks_and_abort() {
    let t = TempDir::new("chunks");
    let md = Maildir::create(t.path()).unwrap();
    let mut d = md.delivery().unwrap();
    // CR and LF split across chunks must not count as a bare LF.
    for chunk in [&b"Subject: x\r"[..], b"\n\r\n", b"body\n"] {
        d.write_all(chunk).unwrap();
    }
    let tmp = d.tmp_path().to_path_buf();
    assert!(tmp.exists());
    let done = d.commit().unwrap();
    assert!(!tmp.exists());
    assert_eq!(
        (done.entry.size(), done.entry.vsize()),
        (Some(19), Some(20))
    );

    let mut d = md.delivery().unwrap();
    d.write_all(b"partial").unwrap();
    let tmp = d.tmp_path().to_path_buf();
    d.abort().unwrap();
    assert!(!tmp.exists());
    {
        let mut d = md.delivery().unwrap();
        d.write_all(b"dropped").unwrap();
    }
    assert_eq!(std::fs::read_dir(md.path().join("tmp")).unwrap().count(), 0);
    assert_eq!(md.scan().unwrap().len(), 1);
}

#[test]
fn deliver_into_cur_with_flags_and_from_reader() {
    let t = TempDir::new("cur");
    let md = Maildir::create(t.path()).unwrap();
    let opts = DeliveryOptions {
        flags: Some(flags("S")),
        ..Default::default()
    };
    let d = md.deliver_from(&b"x\r\n"[..], opts).unwrap();
    assert_eq!(d.entry.subdir(), Subdir::Cur);
    assert_eq!(d.entry.info(), Some("2,S"));
    assert_eq!(md.find(d.unique()).unwrap().unwrap(), d.entry);
}

#[test]
fn crash_leftovers_are_invisible_and_cleaned() {
    let t = TempDir::new("crash");
    let md = Maildir::create(t.path()).unwrap();
    // A delivery killed after writing tmp/ but before the link: not listed.
    std::fs::write(md.path().join("tmp/123.M1P1Q1.host"), b"half").unwrap();
    assert!(md.scan().unwrap().is_empty());
    let now = SystemTime::now();
    assert_eq!(md.clean_tmp(now).unwrap(), 0, "fresh tmp files are kept");
    assert_eq!(md.clean_tmp(now + Duration::from_hours(37)).unwrap(), 1);
    // A delivery killed after the link but before unlinking tmp: the message is whole.
    let d = md.deliver(b"whole").unwrap();
    std::fs::hard_link(&d.path, md.path().join("tmp/leftover")).unwrap();
    assert_eq!(md.scan().unwrap().len(), 1);
    assert_eq!(md.read_message(&md.scan().unwrap()[0]).unwrap(), b"whole");
}

#[test]
fn folders_and_subscriptions() {
    let t = TempDir::new("folders");
    let inbox = Maildir::create_user(t.path()).unwrap();
    assert_eq!(
        inbox.subscriptions().unwrap(),
        ["Drafts", "Junk", "Sent", "Trash"]
    );
    let a = inbox.create_folder("Archive.2024").unwrap();
    assert!(a.path().join("maildirfolder").is_file());
    assert!(matches!(
        inbox.create_folder("Archive.2024"),
        Err(Error::FolderExists(_))
    ));
    for bad in ["..", "../x", ".Sent", "a..b", "a/b", "x\0"] {
        assert!(
            matches!(
                inbox.create_folder(bad),
                Err(Error::InvalidFolderName { .. })
            ),
            "{bad}"
        );
    }
    a.deliver(b"old").unwrap();
    inbox.create_folder("Archive").unwrap();
    inbox.rename_folder("Archive", "Old").unwrap();
    assert_eq!(
        inbox.list_folders().unwrap(),
        ["Drafts", "Junk", "Old", "Old.2024", "Sent", "Trash"]
    );
    assert_eq!(inbox.folder("Old.2024").unwrap().scan().unwrap().len(), 1);
    inbox.delete_folder("Old.2024").unwrap();
    assert!(matches!(
        inbox.folder("Old.2024"),
        Err(Error::FolderNotFound(_))
    ));
    // A creation cut short (directory without cur/) is not listed, and can be completed.
    std::fs::create_dir(t.path().join(".Half")).unwrap();
    assert!(!inbox.list_folders().unwrap().contains(&"Half".to_owned()));
    inbox.create_folder("Half").unwrap();
    inbox.delete_folder("Half").unwrap();
    inbox.unsubscribe("Junk").unwrap();
    assert_eq!(inbox.subscriptions().unwrap(), ["Drafts", "Sent", "Trash"]);
}

/// A name that is only the parent of folders (IMAP `\Noselect`: `.P.a` and `.P.b.c` exist,
/// `.P` does not) renames its children; a name with neither folder nor children is not found,
/// and a child that would land on an existing folder refuses the whole rename.
#[test]
fn renaming_a_parent_that_is_no_folder_moves_its_children() {
    let t = TempDir::new("rename-parent");
    let inbox = Maildir::create_user(t.path()).unwrap();
    inbox
        .create_folder("P.a")
        .unwrap()
        .deliver(b"in a")
        .unwrap();
    inbox.create_folder("P.b.c").unwrap();
    assert!(!t.path().join(".P").exists());
    inbox.rename_folder("P", "Q").unwrap();
    let names = inbox.list_folders().unwrap();
    assert!(names.contains(&"Q.a".to_owned()) && names.contains(&"Q.b.c".to_owned()));
    assert!(!names.iter().any(|n| n.starts_with("P.")), "{names:?}");
    assert!(!t.path().join(".Q").exists());
    assert_eq!(inbox.folder("Q.a").unwrap().scan().unwrap().len(), 1);
    assert!(matches!(
        inbox.rename_folder("Nothing", "X"),
        Err(Error::FolderNotFound(_))
    ));
    inbox.create_folder("R.a").unwrap();
    assert!(matches!(
        inbox.rename_folder("Q", "R"),
        Err(Error::FolderExists(_))
    ));
    assert!(inbox.folder("Q.a").is_ok());
}

#[test]
fn quota_enforced_on_delivery() {
    let t = TempDir::new("quota");
    let inbox = Maildir::create_user(t.path()).unwrap();
    inbox.deliver(&[b'x'; 40]).unwrap();
    inbox
        .set_quota(Quota {
            bytes: Some(100),
            messages: Some(3),
        })
        .unwrap();
    let u = inbox.quota_usage().unwrap().unwrap();
    assert_eq!((u.bytes, u.messages), (40, 1));
    let sent = inbox.folder("Sent").unwrap();
    sent.deliver(&[b'y'; 50]).unwrap();
    assert!(matches!(
        sent.deliver(&[b'z'; 20]),
        Err(Error::QuotaExceeded { .. })
    ));
    assert_eq!(
        std::fs::read_dir(sent.path().join("tmp")).unwrap().count(),
        0
    );
    let e = inbox.scan().unwrap().remove(0);
    inbox.remove(&e).unwrap();
    sent.deliver(&[b'z'; 20]).unwrap();
    let u = inbox.quota_usage().unwrap().unwrap();
    assert_eq!((u.bytes, u.messages), (70, 2));
}

#[test]
fn dovecot_info_extension_kept_across_flag_change() {
    let t = TempDir::new("ext");
    let md = Maildir::create(t.path()).unwrap();
    std::fs::write(md.path().join("cur/1.M1P1Q1.h:2,S,Xfoo"), b"m").unwrap();
    let e = md.scan().unwrap().remove(0);
    assert_eq!(e.flags(), flags("S"));
    let e = md.set_flags(&e, FlagUpdate::Add(flags("F"))).unwrap();
    assert_eq!(e.file_name(), "1.M1P1Q1.h:2,FS,Xfoo");
}

#[test]
fn internal_date_sets_mtime() {
    let t = TempDir::new("mtime");
    let md = Maildir::create(t.path()).unwrap();
    let when = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let d = md
        .deliver_with(
            b"x",
            DeliveryOptions {
                internal_date: Some(when),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        std::fs::metadata(&d.path).unwrap().modified().unwrap(),
        when
    );
}

#[test]
fn set_flags_many_skips_expunged() {
    let t = TempDir::new("many");
    let md = Maildir::create(t.path()).unwrap();
    let a = md.deliver(b"a").unwrap().entry;
    let b = md.deliver(b"b").unwrap().entry;
    md.remove(&a).unwrap();
    let out = md
        .set_flags_many([&a, &b], FlagUpdate::Add(flags("ST")))
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].unique(), b.unique());
    assert_eq!(out[0].info(), Some("2,ST"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Chunk boundaries anywhere (even between CR and LF) give the same file and the same W=.
    #[test]
    fn chunked_delivery_matches_whole(
        body in proptest::collection::vec(proptest::prop_oneof![
            proptest::prelude::Just(b'\r'), proptest::prelude::Just(b'\n'), proptest::prelude::Just(b'a')
        ], 0..64),
        cuts in proptest::collection::vec(0usize..64, 0..6),
    ) {
        let t = TempDir::new("prop");
        let md = Maildir::create(t.path()).unwrap();
        let whole = md.deliver(&body).unwrap();
        let mut d = md.delivery().unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
        cuts.sort_unstable();
        let mut at = 0;
        for c in cuts.into_iter().chain([body.len()]) {
            d.write_all(&body[at..c]).unwrap();
            at = c;
        }
        let split = d.commit().unwrap();
        let crlf_len = body.len() + body.iter().enumerate()
            .filter(|&(i, &b)| b == b'\n' && (i == 0 || body[i - 1] != b'\r')).count();
        proptest::prop_assert_eq!(whole.entry.vsize(), Some(crlf_len as u64));
        proptest::prop_assert_eq!(split.entry.vsize(), whole.entry.vsize());
        proptest::prop_assert_eq!(md.read_message(&split.entry).unwrap(), body);
    }
}

#[test]
fn folder_opened_directly_knows_its_root() {
    let t = TempDir::new("root");
    let inbox = Maildir::create_user(t.path()).unwrap();
    let sent = Maildir::open(t.path().join(".Sent")).unwrap();
    assert_eq!(sent.root(), inbox.path());
    assert_eq!(inbox.root(), inbox.path());
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Maildir>();
    check::<mailwright_maildir::MailboxState>();
    check::<Error>();
    fn owned<T: Send + 'static>() {}
    owned::<mailwright_maildir::Delivery>();
}

#[test]
fn a_message_seen_in_new_and_cur_is_listed_once() {
    // What a scan racing another process's new → cur rename can see.
    let t = TempDir::new("dup");
    let md = Maildir::create(t.path()).unwrap();
    std::fs::write(md.path().join("new/5.M1P1Q1.h,S=1"), b"x").unwrap();
    std::fs::write(md.path().join("cur/5.M1P1Q1.h,S=1:2,S"), b"x").unwrap();
    let list = md.scan().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].subdir(), Subdir::Cur);
    let state = md.sync().unwrap();
    assert_eq!(state.messages.len(), 1);
    assert_eq!(state.uid_next, 2);
}
