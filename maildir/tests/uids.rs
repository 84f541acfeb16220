//! IMAP metadata: UIDs, UIDVALIDITY, MODSEQ, keywords, copy/move with UIDPLUS results.

mod common;

use common::TempDir;
use mailwright_maildir::{FlagUpdate, Flags, Maildir, UidList};

fn flags(s: &str) -> Flags {
    Flags::parse(s).unwrap()
}

#[test]
fn uids_stable_and_modseq_tracks_flags() {
    let tmp = TempDir::new("uids");
    let md = Maildir::create(tmp.path()).unwrap();
    let a = md.deliver(b"a").unwrap();
    let b = md.deliver(b"b").unwrap();
    let s1 = md.sync().unwrap();
    assert_eq!(s1.messages.len(), 2);
    assert_eq!(
        (s1.messages[0].uid, s1.messages[1].uid, s1.uid_next),
        (1, 2, 3)
    );
    assert_eq!(s1.by_unique(a.unique()).unwrap().uid, 1);
    assert_eq!(s1.guid.as_ref().map(String::len), Some(32));

    // Flags change through another path (as Dovecot or mutt would): new MODSEQ at next sync.
    let e = md.set_flags(&b.entry, FlagUpdate::Add(flags("S"))).unwrap();
    md.move_to_cur(&a.entry).unwrap();
    let s2 = md.sync().unwrap();
    assert_eq!(s2.uid_validity, s1.uid_validity);
    assert!(s2.highest_modseq > s1.highest_modseq);
    let mb = s2.by_uid(2).unwrap();
    assert_eq!(mb.entry, e);
    assert_eq!(mb.modseq, s2.highest_modseq);
    assert_eq!(
        s2.by_uid(1).unwrap().modseq,
        s1.by_uid(1).unwrap().modseq,
        "new→cur is no flag change"
    );

    // Expunge keeps the other UIDs; a new message gets UIDNEXT.
    md.remove(&e).unwrap();
    let c = md.deliver(b"c").unwrap();
    let s3 = md.sync().unwrap();
    assert_eq!(
        s3.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [1, 3]
    );
    assert_eq!(s3.by_uid(3).unwrap().entry.unique(), c.unique());
    assert!(s3.highest_modseq > s2.highest_modseq);
    // Nothing changed: same state, no rewrite.
    assert_eq!(md.sync().unwrap(), s3);

    // Losing dovecot-uidlist rebuilds with a new, larger UIDVALIDITY.
    std::fs::remove_file(md.path().join("dovecot-uidlist")).unwrap();
    let s4 = md.sync().unwrap();
    assert!(s4.uid_validity > s3.uid_validity);
    assert_eq!(
        s4.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn reads_a_dovecot_uidlist() {
    let t = TempDir::new("dovecot-ul");
    let md = Maildir::create(t.path()).unwrap();
    std::fs::write(
        md.path()
            .join("cur/1276528487.M364837P9451.kurkku,S=1,W=1:2,S"),
        b"x",
    )
    .unwrap();
    std::fs::write(md.path().join("new/1276533073.M242911P3632.kurkku"), b"y").unwrap();
    std::fs::write(
        md.path().join("dovecot-uidlist"),
        "3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n\
         25006 :1276528487.M364837P9451.kurkku,S=1,W=1:2,\n\
         25017 W2481 :1276533073.M242911P3632.kurkku\n",
    )
    .unwrap();
    std::fs::write(md.path().join("dovecot-keywords"), "0 $Junk\n1 Work\n").unwrap();
    let s = md.sync().unwrap();
    assert_eq!(s.uid_validity, 1_275_660_208);
    assert_eq!(s.uid_next, 25022);
    assert_eq!(
        s.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [25006, 25017]
    );
    assert_eq!(s.keywords.name(1), Some("Work"));
    let d = md.deliver(b"z").unwrap();
    let s = md.sync().unwrap();
    assert_eq!(s.by_unique(d.unique()).unwrap().uid, 25022);
    // The file we wrote is still Dovecot's format with its extensions.
    let l = UidList::parse(&std::fs::read_to_string(md.path().join("dovecot-uidlist")).unwrap())
        .unwrap();
    assert_eq!(l.records[1].extensions, ["W2481"]);
    assert_eq!(l.next_uid, 25023);
}

#[test]
fn keywords_and_copy_move_uidplus() {
    let t = TempDir::new("copy");
    let inbox = Maildir::create_user(t.path()).unwrap();
    let trash = inbox.folder("Trash").unwrap();
    trash.keyword_flags(&["Other"]).unwrap(); // so letters differ between the folders
    let kw = inbox.keyword_flags(&["$Junk", "Work"]).unwrap();
    assert_eq!(kw.to_string(), "ab");
    let m1 = inbox.deliver(b"one").unwrap();
    inbox.deliver(b"two").unwrap();
    inbox
        .set_flags(&m1.entry, FlagUpdate::Add(flags("Sb")))
        .unwrap();
    let s = inbox.sync().unwrap();
    let res = inbox.copy_uids(&s, &[2, 1, 99], &trash).unwrap();
    assert_eq!(res.uids, [(2, 1), (1, 2)]);
    let ts = trash.sync().unwrap();
    assert_eq!(res.uid_validity, ts.uid_validity);
    let copied = ts.by_uid(2).unwrap();
    assert_eq!(trash.read_message(&copied.entry).unwrap(), b"one");
    assert_eq!(ts.keywords.names_in(copied.entry.flags()), ["Work"]);
    assert!(
        copied
            .entry
            .flags()
            .contains(mailwright_maildir::Flag::Seen)
    );

    let res = inbox.move_uids(&s, &[1], &trash).unwrap();
    assert_eq!(res.uids, [(1, 3)]);
    let s = inbox.sync().unwrap();
    assert_eq!(s.messages.iter().map(|m| m.uid).collect::<Vec<_>>(), [2]);
}

#[test]
fn append_and_assign_uids_without_scan() {
    let tmp = TempDir::new("append");
    let md = Maildir::create(tmp.path()).unwrap();
    // No uidlist yet: the first append builds it.
    let a = md.append(&b"first"[..], flags("S"), None).unwrap();
    assert_eq!(a.uid, 1);
    md.deliver(b"other").unwrap();
    let b = md.append(&b"second"[..], Flags::empty(), None).unwrap();
    assert_eq!((b.uid, b.uid_validity), (2, a.uid_validity));
    // A full sync keeps the appended UIDs and numbers the rest after them.
    let s = md.sync().unwrap();
    assert_eq!(s.by_unique(b.delivered.unique()).unwrap().uid, 2);
    assert_eq!(s.messages.len(), 3);
    assert_eq!(s.uid_next, 4);
    // Asking again gives the same UID.
    assert_eq!(
        md.assign_uids(std::slice::from_ref(&b.delivered.entry))
            .unwrap()
            .1,
        [2]
    );
}

#[test]
fn stale_uidlist_lock_is_broken() {
    let tmp = TempDir::new("stale-lock");
    let md = Maildir::create(tmp.path()).unwrap();
    md.deliver(b"x").unwrap();
    let lock = md.path().join("dovecot-uidlist.lock");
    // A lock left by a dead process on this host (the Dovecot `pid:host` form)...
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    std::fs::write(&lock, format!("{}:{}", u32::MAX - 1, host.trim())).unwrap();
    let start = std::time::Instant::now();
    assert_eq!(md.sync().unwrap().messages.len(), 1);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert!(!lock.exists());
    // ... and one not touched for over two minutes.
    let f = std::fs::File::create(&lock).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_mins(10))
        .unwrap();
    drop(f);
    // (A sync with nothing to write takes no lock: give this one a new message to number.)
    md.deliver(b"y").unwrap();
    assert_eq!(md.sync().unwrap().messages.len(), 2);
    assert!(!lock.exists());
}

#[test]
fn expunge_rechecks_deleted_flag() {
    let tmp = TempDir::new("expunge");
    let md = Maildir::create(tmp.path()).unwrap();
    for body in [&b"1"[..], b"2", b"3"] {
        let d = md.deliver(body).unwrap();
        md.set_flags(&d.entry, FlagUpdate::Add(flags("T"))).unwrap();
    }
    let state = md.sync().unwrap();
    // Another session clears \Deleted on UID 2 after our sync.
    md.set_flags(&state.messages[1].entry, FlagUpdate::Remove(flags("T")))
        .unwrap();
    assert_eq!(md.expunge(&state, Some(&[1, 2])).unwrap(), [1]);
    assert_eq!(md.expunge(&state, None).unwrap(), [3]);
    let after = md.sync().unwrap();
    assert_eq!(
        after.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [2]
    );
}

#[test]
fn live_lock_times_out() {
    let tmp = TempDir::new("live-lock");
    let mut md = Maildir::create(tmp.path()).unwrap();
    md.set_lock_timeout(std::time::Duration::from_millis(200));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let lock = md.path().join("dovecot-uidlist.lock");
    std::fs::write(&lock, format!("{}:{}", std::process::id(), host.trim())).unwrap();
    assert!(matches!(
        md.sync(),
        Err(mailwright_maildir::Error::LockTimeout(_))
    ));
    assert!(lock.exists(), "a live holder's lock is left alone");
    std::fs::remove_file(&lock).unwrap();
    assert!(md.sync().is_ok());
}

#[test]
fn is_unchanged_sees_every_kind_of_change() {
    let tmp = TempDir::new("unchanged");
    let md = Maildir::create(tmp.path()).unwrap();
    let d = md.deliver(b"x").unwrap();
    md.sync().unwrap();
    // Age everything past the dirty window instead of sleeping.
    let old = std::time::SystemTime::now() - std::time::Duration::from_mins(1);
    let age = |p: &std::path::Path| {
        std::fs::File::open(p).unwrap().set_modified(old).unwrap();
    };
    let age_all = || {
        for p in ["new", "cur", "dovecot-uidlist"] {
            age(&md.path().join(p));
        }
    };
    age_all();
    let state = md.sync().unwrap();
    assert!(md.is_unchanged(&state));
    md.set_flags(&d.entry, FlagUpdate::Add(flags("S"))).unwrap();
    assert!(!md.is_unchanged(&state), "rename new -> cur");
    age_all();
    let state = md.sync().unwrap();
    assert!(md.is_unchanged(&state));
    md.keyword_flags(&["$Work"]).unwrap();
    assert!(!md.is_unchanged(&state), "keyword file");
    // Fresh changes are never trusted.
    md.deliver(b"y").unwrap();
    let state = md.sync().unwrap();
    assert!(!md.is_unchanged(&state));
}

#[test]
fn store_flags_gives_modseqs_without_rescan() {
    let tmp = TempDir::new("store");
    let md = Maildir::create(tmp.path()).unwrap();
    for b in [&b"1"[..], b"2", b"3"] {
        md.deliver(b).unwrap();
    }
    let mut state = md.sync().unwrap();
    let h0 = state.highest_modseq;
    let r = md
        .store_flags(&mut state, &[1, 3, 99], FlagUpdate::Add(flags("S")), None)
        .unwrap();
    assert_eq!(r.changed, [(1, h0 + 1), (3, h0 + 2)]);
    assert_eq!(state.highest_modseq, h0 + 2);
    assert_eq!(state.by_uid(3).unwrap().entry.info(), Some("2,S"));
    // Nothing to change: no new MODSEQ.
    let r = md
        .store_flags(&mut state, &[1], FlagUpdate::Add(flags("S")), None)
        .unwrap();
    assert!(r.changed.is_empty());
    // UNCHANGEDSINCE below UID 3's MODSEQ: refused (MODIFIED), UID 2 goes through.
    let r = md
        .store_flags(
            &mut state,
            &[2, 3],
            FlagUpdate::Add(flags("F")),
            Some(h0 + 1),
        )
        .unwrap();
    assert_eq!(r.modified, [3]);
    assert_eq!(r.changed, [(2, h0 + 3)]);
    // A full sync agrees with the state kept in place.
    let fresh = md.sync().unwrap();
    assert_eq!(fresh, state);
}

#[test]
fn modseq_never_goes_back_when_its_unsynced_file_is_lost() {
    let tmp = TempDir::new("modseq-floor");
    let md = Maildir::create(tmp.path()).unwrap();
    md.deliver(b"x").unwrap();
    let mut st = md.sync().unwrap();
    let uid = st.messages[0].uid;
    md.store_flags(&mut st, &[uid], FlagUpdate::Add(flags("S")), None)
        .unwrap();
    let mut seen = st.highest_modseq;
    let file = md.path().join(mailwright_maildir::MODSEQ_FILE);
    // The MODSEQ file is replaced without fsync: a crash may lose it or leave it unreadable.
    // MODSEQs then continue above the durable reservation, never below what was reported.
    for damage in [None, Some("garbage\n"), Some("")] {
        match damage {
            None => std::fs::remove_file(&file).unwrap(),
            Some(text) => std::fs::write(&file, text).unwrap(),
        }
        let mut st = md.sync().unwrap();
        assert!(st.highest_modseq > seen, "{damage:?}");
        assert!(st.messages[0].modseq > seen, "{damage:?}");
        seen = st.highest_modseq;
        let r = md
            .store_flags(&mut st, &[uid], FlagUpdate::Add(flags("F")), None)
            .unwrap();
        assert!(r.changed.is_empty() || r.changed[0].1 > seen);
        seen = seen.max(st.highest_modseq);
        md.store_flags(&mut st, &[uid], FlagUpdate::Remove(flags("F")), None)
            .unwrap();
        assert!(st.highest_modseq > seen);
        seen = st.highest_modseq;
    }
    // The reservation on disk is above every MODSEQ handed out.
    let floor: u64 = std::fs::read_to_string(md.path().join(mailwright_maildir::MODSEQ_FLOOR_FILE))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(floor > seen);
}

#[test]
fn expunged_records_wait_for_a_rewrite_and_uids_are_never_reused() {
    let tmp = TempDir::new("stale-records");
    let md = Maildir::create(tmp.path()).unwrap();
    for b in [&b"a"[..], b"b", b"c"] {
        md.deliver(b).unwrap();
    }
    let st = md.sync().unwrap();
    assert_eq!(st.uid_next, 4);
    let uidlist = || {
        UidList::parse(&std::fs::read_to_string(md.path().join("dovecot-uidlist")).unwrap())
            .unwrap()
    };
    let before = std::fs::read_to_string(md.path().join("dovecot-uidlist")).unwrap();
    // An expunge does not rewrite the uidlist: the record of the gone file stays for now.
    md.remove_many([&st.messages[2].entry]).unwrap();
    let st = md.sync().unwrap();
    assert_eq!(
        st.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(
        std::fs::read_to_string(md.path().join("dovecot-uidlist")).unwrap(),
        before
    );
    // The highest UID is gone: a new message still gets a new UID. Its record is appended, as
    // Dovecot does (the file others read incrementally stays the same); the stale one waits.
    let d = md.deliver(b"d").unwrap();
    let st = md.sync().unwrap();
    assert_eq!(st.by_unique(d.unique()).unwrap().uid, 4);
    let l = uidlist();
    assert_eq!(
        l.records.iter().map(|r| r.uid).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(l.next_uid, 5);
    // APPEND's path (assign_uids) appends to a uidlist that still holds stale records.
    md.remove_many([&st.messages[2].entry]).unwrap();
    md.sync().unwrap();
    let a = md.append(&b"e"[..], flags(""), None).unwrap();
    assert_eq!(a.uid, 5);
    assert_eq!(
        md.sync()
            .unwrap()
            .messages
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        [1, 2, 5]
    );
}

#[test]
fn modseq_changes_are_appended_and_compacted() {
    let tmp = TempDir::new("modseq-log");
    let md = Maildir::create(tmp.path()).unwrap();
    for b in [&b"a"[..], b"b", b"c"] {
        md.deliver(b).unwrap();
    }
    let mut st = md.sync().unwrap();
    let file = md.path().join(mailwright_maildir::MODSEQ_FILE);
    let mut longest = 0;
    for i in 0..500u32 {
        let update = if (i / 3) % 2 == 0 {
            FlagUpdate::Add(flags("F"))
        } else {
            FlagUpdate::Remove(flags("F"))
        };
        let r = md.store_flags(&mut st, &[1 + i % 3], update, None).unwrap();
        assert_eq!(r.changed.len(), 1);
        longest = longest.max(std::fs::read_to_string(&file).unwrap().lines().count());
        if i % 50 == 0 {
            // Whatever the file holds now reads back as the state kept in place.
            assert_eq!(md.sync().unwrap(), st);
        }
    }
    // Appended lines are folded back into a rewrite before they pile up.
    assert!(longest < 200, "{longest} lines");
    assert_eq!(md.sync().unwrap(), st);
    // An expunge is recorded as a removal; the state still agrees.
    md.remove_many([&st.messages[0].entry]).unwrap();
    let after = md.sync().unwrap();
    assert_eq!(after.messages.len(), 2);
    assert!(after.highest_modseq > st.highest_modseq);
    assert_eq!(md.sync().unwrap(), after);
}

#[test]
fn dotlocks_link_this_process_template_and_dead_templates_go() {
    let tmp = TempDir::new("lock-template");
    let md = Maildir::create(tmp.path()).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let dead = md.path().join(format!("mailwright-lock.{}", u32::MAX - 1));
    std::fs::write(&dead, format!("{}:{host}", u32::MAX - 1)).unwrap();
    md.deliver(b"x").unwrap();
    assert_eq!(md.sync().unwrap().messages.len(), 1); // numbers the message: takes the lock
    assert!(!dead.exists(), "a dead process's template is removed");
    let mine = md
        .path()
        .join(format!("mailwright-lock.{}", std::process::id()));
    assert_eq!(
        std::fs::read_to_string(&mine).unwrap(),
        format!("{}:{host}", std::process::id())
    );
    assert!(!md.path().join("dovecot-uidlist.lock").exists(), "released");
    // A lock held elsewhere still excludes us (bounded wait, then LockTimeout).
    let mut md2 = md.clone();
    md2.set_lock_timeout(std::time::Duration::from_millis(50));
    std::fs::write(
        md.path().join("dovecot-uidlist.lock"),
        format!("{}:{host}", std::process::id()),
    )
    .unwrap();
    md.deliver(b"y").unwrap();
    assert!(md2.sync().is_err());
    std::fs::remove_file(md.path().join("dovecot-uidlist.lock")).unwrap();
    assert_eq!(md2.sync().unwrap().messages.len(), 2);
}
