//! Keywords past the 26 Maildir letters: kept in `mailwright-keywords` by unique name, changed
//! under the uidlist lock with MODSEQs like flags; the first 26 stay letters for Dovecot.

mod common;

use common::TempDir;
use mailwright_maildir::{FlagUpdate, Flags, Keywords, Maildir};

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("$Label{i}")).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn letters_file(md: &Maildir) -> Keywords {
    Keywords::parse(
        &std::fs::read_to_string(md.path().join("dovecot-keywords")).unwrap_or_default(),
    )
}

#[test]
fn thirty_keywords_on_one_message() {
    let tmp = TempDir::new("kw-thirty");
    let md = Maildir::create(tmp.path()).unwrap();
    md.deliver(b"x").unwrap();
    let mut st = md.sync().unwrap();
    let h0 = st.highest_modseq;
    let all = names(30);
    let r = md
        .store(
            &mut st,
            &[1],
            FlagUpdate::Add(Flags::empty()),
            &refs(&all),
            None,
        )
        .unwrap();
    assert_eq!(r.changed, [(1, h0 + 1)]);
    let m = st.by_uid(1).unwrap();
    assert_eq!(st.keyword_names(m), refs(&all));
    assert_eq!(m.extra_keywords, [26, 27, 28, 29]);
    // On disk: 26 letters in the name (Dovecot's view), the rest in our file.
    assert_eq!(m.entry.flags().keyword_indexes().count(), 26);
    assert_eq!(letters_file(&md).names().count(), 26);
    // A second session reads the same.
    let other = Maildir::open(tmp.path()).unwrap();
    assert_eq!(other.sync().unwrap(), st);
    // -FLAGS of four of them, across letters and the rest.
    let some = ["$Label0", "$Label25", "$Label26", "$label29"];
    let r = md
        .store(
            &mut st,
            &[1],
            FlagUpdate::Remove(Flags::empty()),
            &some,
            None,
        )
        .unwrap();
    assert_eq!(r.changed, [(1, h0 + 2)]);
    let left = st.keyword_names(st.by_uid(1).unwrap()).len();
    assert_eq!(left, 26);
    assert_eq!(other.sync().unwrap(), st);
}

#[test]
fn the_27th_keyword_of_a_folder_and_removing_unknown_ones_uses_no_slot() {
    let tmp = TempDir::new("kw-27th");
    let md = Maildir::create(tmp.path()).unwrap();
    for b in [&b"a"[..], b"b"] {
        md.deliver(b).unwrap();
    }
    let mut st = md.sync().unwrap();
    // 26 keywords over the folder, one per store.
    for n in names(26) {
        md.store(&mut st, &[1], FlagUpdate::Add(Flags::empty()), &[&n], None)
            .unwrap();
    }
    // -FLAGS (never-used): nothing defined, nothing changed.
    let r = md
        .store(
            &mut st,
            &[1, 2],
            FlagUpdate::Remove(Flags::empty()),
            &["never-used"],
            None,
        )
        .unwrap();
    assert!(r.changed.is_empty());
    assert_eq!(st.keywords.len(), 26);
    assert_eq!(md.keywords().unwrap().find("never-used"), None);
    // The 27th.
    md.store(
        &mut st,
        &[2],
        FlagUpdate::Add(Flags::empty()),
        &["Project-X"],
        None,
    )
    .unwrap();
    assert_eq!(st.keywords.find("project-x"), Some(26));
    assert_eq!(
        st.keyword_names(st.by_uid(2).unwrap()),
        ["Project-X"],
        "no letter for it"
    );
    assert!(st.by_uid(2).unwrap().entry.flags().is_empty());
    // FLAGS (replace) sets exactly the named ones: a letter keyword, no more Project-X.
    md.store(
        &mut st,
        &[2],
        FlagUpdate::Replace(Flags::empty()),
        &["$Label3"],
        None,
    )
    .unwrap();
    assert_eq!(st.keyword_names(st.by_uid(2).unwrap()), ["$Label3"]);
    assert_eq!(md.sync().unwrap(), st);
}

#[test]
fn a_keyword_change_is_a_modseq_change_another_session_sees() {
    let tmp = TempDir::new("kw-modseq");
    let md = Maildir::create(tmp.path()).unwrap();
    md.deliver(b"x").unwrap();
    let mut st = md.sync().unwrap();
    let full = names(26);
    md.store(
        &mut st,
        &[1],
        FlagUpdate::Add(Flags::empty()),
        &refs(&full),
        None,
    )
    .unwrap();
    // Age what the state was built from, so `is_unchanged` can trust it.
    let old = std::time::SystemTime::now() - std::time::Duration::from_mins(1);
    for p in [
        "new",
        "cur",
        "dovecot-uidlist",
        "dovecot-keywords",
        "mailwright-keywords",
    ] {
        let _ = std::fs::File::open(md.path().join(p)).and_then(|f| f.set_modified(old));
    }
    let other = Maildir::open(tmp.path()).unwrap();
    let seen = other.sync().unwrap();
    assert!(other.is_unchanged(&seen));
    // Only a keyword past the letters changes: no rename, yet a new MODSEQ and a changed state.
    let before = st.by_uid(1).unwrap().modseq;
    let r = md
        .store(
            &mut st,
            &[1],
            FlagUpdate::Add(Flags::empty()),
            &["Extra"],
            None,
        )
        .unwrap();
    assert_eq!(r.changed.len(), 1);
    assert!(st.by_uid(1).unwrap().modseq > before);
    assert!(!other.is_unchanged(&seen));
    let now = other.sync().unwrap();
    assert_eq!(now, st);
    assert_eq!(now.highest_modseq, st.by_uid(1).unwrap().modseq);
    // UNCHANGEDSINCE below it: refused.
    let r = md
        .store(
            &mut st,
            &[1],
            FlagUpdate::Remove(Flags::empty()),
            &["Extra"],
            Some(before),
        )
        .unwrap();
    assert_eq!(r.modified, [1]);
}

#[test]
fn append_and_copy_carry_every_keyword_by_name() {
    let tmp = TempDir::new("kw-copy");
    let inbox = Maildir::create_user(tmp.path()).unwrap();
    let trash = inbox.folder("Trash").unwrap();
    trash.keyword_flags(&["Other"]).unwrap(); // so the tables differ
    let all = names(28);
    let a = inbox
        .append_with(&b"body"[..], Flags::empty(), &refs(&all), None)
        .unwrap();
    let st = inbox.sync().unwrap();
    let m = st.by_uid(a.uid).unwrap();
    assert_eq!(st.keyword_names(m), refs(&all));
    let res = inbox.copy_uids(&st, &[a.uid], &trash).unwrap();
    let ts = trash.sync().unwrap();
    let copied = ts.by_uid(res.uids[0].1).unwrap();
    let mut got = ts.keyword_names(copied);
    got.sort_unstable();
    let mut want = refs(&all);
    want.sort_unstable();
    assert_eq!(got, want);
    // Trash had one letter taken: 25 of them are letters there, 3 are not.
    assert_eq!(copied.entry.flags().keyword_indexes().count(), 25);
    assert_eq!(copied.extra_keywords.len(), 3);
}

#[test]
fn keywords_past_the_letters_survive_a_rebuilt_uidlist() {
    let tmp = TempDir::new("kw-rebuild");
    let md = Maildir::create(tmp.path()).unwrap();
    md.deliver(b"x").unwrap();
    let mut st = md.sync().unwrap();
    let all = names(27);
    md.store(
        &mut st,
        &[1],
        FlagUpdate::Add(Flags::empty()),
        &refs(&all),
        None,
    )
    .unwrap();
    std::fs::remove_file(md.path().join("dovecot-uidlist")).unwrap();
    let st = md.sync().unwrap();
    assert_eq!(st.keyword_names(&st.messages[0]), refs(&all));
    // An expunged message's record goes at the next locked sync.
    md.remove(&st.messages[0].entry).unwrap();
    md.deliver(b"y").unwrap();
    md.sync().unwrap();
    let text = std::fs::read_to_string(md.path().join("mailwright-keywords")).unwrap();
    assert!(!text.lines().any(|l| l.starts_with('M')), "{text}");
    assert!(text.contains("K26 $Label26"));
}
