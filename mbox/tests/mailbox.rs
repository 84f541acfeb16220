//! Append, rewrite and locking on real files.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant, SystemTime};

use mailwright_mbox::{
    Action, Asctime, Error, Flags, FromLine, LockOptions, Mbox, MboxLock, MboxOptions, Metadata,
    NewMessage, Variant,
};

fn from(i: u64) -> FromLine {
    FromLine::new(
        &format!("s{i}@example.org"),
        Asctime::from_unix(1_700_000_000 + i64::try_from(i).unwrap()).unwrap(),
    )
    .unwrap()
}

fn text(i: u64) -> Vec<u8> {
    format!(
        "Subject: message {i}\nMessage-ID: <{i}@x>\n\nFrom the body of {i}\n>From quoted\nend\n"
    )
    .into_bytes()
}

fn opts(variant: Variant) -> MboxOptions {
    let mut o = MboxOptions::new(variant);
    o.lock.timeout = Duration::from_secs(10);
    o
}

#[test]
fn append_then_read_back_every_variant() {
    for variant in Variant::ALL {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        let mbox = Mbox::new(&path, opts(variant));
        let meta = Metadata::with_flags(Flags {
            seen: true,
            ..Flags::NONE
        });
        let (f0, t0, f1, t1) = (from(0), text(0), from(1), text(1));
        let offsets = mbox
            .append(&[
                NewMessage {
                    from: &f0,
                    metadata: &meta,
                    text: &t0,
                },
                NewMessage {
                    from: &f1,
                    metadata: &Metadata::default(),
                    text: &t1,
                },
            ])
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a new mailbox is private");
        let entries = mbox.entries().unwrap();
        assert_eq!(entries.len(), 2, "{variant:?}");
        assert_eq!(
            entries.iter().map(|e| e.offset).collect::<Vec<_>>(),
            offsets
        );
        assert!(entries[0].metadata.flags.seen);
        assert_eq!(entries[1].from_line, f1);
        let body = mbox.read_message(&entries[1]).unwrap();
        let body = String::from_utf8(body).unwrap();
        assert!(
            body.contains("\nFrom the body of 1\n"),
            "{variant:?}: {body}"
        );
        assert!(
            entries.iter().all(|e| e.tolerated.is_empty()),
            "{entries:?}"
        );
        assert!(!dir.path().join("inbox.lock").exists());
    }
}

#[test]
fn append_repairs_a_missing_final_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inbox");
    std::fs::write(
        &path,
        "From a@b Sat Nov 28 12:34:56 2026\nSubject: x\n\nno newline",
    )
    .unwrap();
    let mbox = Mbox::new(&path, opts(Variant::Mboxrd));
    let (f, t) = (from(2), text(2));
    mbox.append(&[NewMessage {
        from: &f,
        metadata: &Metadata::default(),
        text: &t,
    }])
    .unwrap();
    let entries = mbox.entries().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(
        entries[0].tolerated.is_empty(),
        "{:?}",
        entries[0].tolerated
    );
    assert_eq!(
        mbox.read_message(&entries[0]).unwrap(),
        b"Subject: x\n\nno newline\n"
    );
    assert_eq!(mbox.read_message(&entries[1]).unwrap(), t);
}

#[test]
fn content_length_messages_without_final_newline_survive_later_appends() {
    for variant in [Variant::Mboxcl, Variant::Mboxcl2] {
        let dir = tempfile::tempdir().unwrap();
        let mbox = Mbox::new(dir.path().join("inbox"), opts(variant));
        let (f0, f1) = (from(0), from(1));
        let exact: &[u8] = b"Subject: exact\n\nno final newline";
        let t1 = text(1);
        mbox.append(&[NewMessage {
            from: &f0,
            metadata: &Metadata::default(),
            text: exact,
        }])
        .unwrap();
        mbox.append(&[NewMessage {
            from: &f1,
            metadata: &Metadata::default(),
            text: &t1,
        }])
        .unwrap();
        let entries = mbox.entries().unwrap();
        assert_eq!(entries.len(), 2, "{variant:?}");
        assert!(
            entries.iter().all(|e| e.tolerated.is_empty()),
            "{variant:?}: {entries:?}"
        );
        let got = String::from_utf8(mbox.read_message(&entries[0]).unwrap()).unwrap();
        assert_eq!(
            got, "Subject: exact\nContent-Length: 16\n\nno final newline",
            "{variant:?}"
        );
    }
}

#[test]
fn concurrent_appends_from_threads_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inbox");
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mbox = Mbox::new(&path, opts(Variant::Mboxrd));
                for i in 0..15 {
                    let n = t * 100 + i;
                    let (f, x) = (from(n), text(n));
                    mbox.append(&[NewMessage {
                        from: &f,
                        metadata: &Metadata::default(),
                        text: &x,
                    }])
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mbox = Mbox::new(&path, opts(Variant::Mboxrd));
    let entries = mbox.entries().unwrap();
    assert_eq!(entries.len(), 60);
    let mut seen: Vec<String> = entries
        .iter()
        .map(|e| e.from_line.sender().to_owned())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 60);
    for e in &entries {
        assert!(e.tolerated.is_empty());
        let n: u64 = e.from_line.sender()[1..]
            .split('@')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(mbox.read_message(e).unwrap(), text(n));
    }
}

#[test]
fn rewrite_expunges_and_sets_flags_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inbox");
    let mbox = Mbox::new(&path, opts(Variant::Mboxrd));
    let froms: Vec<_> = (0..5).map(from).collect();
    let texts: Vec<_> = (0..5).map(text).collect();
    let meta = Metadata::default();
    let msgs: Vec<_> = (0..5)
        .map(|i| NewMessage {
            from: &froms[i],
            metadata: &meta,
            text: &texts[i],
        })
        .collect();
    mbox.append(&msgs).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();

    let flagged = Metadata {
        flags: Flags {
            seen: true,
            flagged: true,
            ..Flags::NONE
        },
        keywords: vec!["$Important".into()],
        uid: Some(7),
        imap_base: None,
    };
    let stats = mbox
        .rewrite(|e| match e.index {
            1 | 3 => Action::Delete,
            2 => Action::SetMetadata(flagged.clone()),
            _ => Action::Keep,
        })
        .unwrap();
    assert_eq!((stats.kept, stats.updated, stats.deleted), (2, 1, 2));
    let entries = mbox.entries().unwrap();
    let senders: Vec<_> = entries
        .iter()
        .map(|e| e.from_line.sender().to_owned())
        .collect();
    assert_eq!(
        senders,
        ["s0@example.org", "s2@example.org", "s4@example.org"]
    );
    assert_eq!(entries[1].metadata, flagged);
    assert_eq!(mbox.read_message(&entries[0]).unwrap(), texts[0]);
    assert_eq!(mbox.read_message(&entries[2]).unwrap(), texts[4]);
    let body = mbox.read_message(&entries[1]).unwrap();
    assert!(body.ends_with(b"\n\nFrom the body of 2\n>From quoted\nend\n"));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // No temporary file or lock left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["inbox"]);
}

#[test]
fn a_held_lock_times_out_the_writer_then_lets_it_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inbox");
    std::fs::write(&path, "").unwrap();
    let held = MboxLock::exclusive(&path, false, &LockOptions::default()).unwrap();
    let mut o = opts(Variant::Mboxrd);
    o.lock.timeout = Duration::from_millis(200);
    let mbox = Mbox::new(&path, o);
    let (f, t) = (from(0), text(0));
    let msg = NewMessage {
        from: &f,
        metadata: &Metadata::default(),
        text: &t,
    };
    let start = Instant::now();
    let err = mbox.append(&[msg]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LockTimeout {
                kind: "dotlock",
                ..
            }
        ),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(held);
    mbox.append(&[msg]).unwrap();
    assert_eq!(mbox.entries().unwrap().len(), 1);
}

#[test]
fn stale_dotlocks_are_broken_fresh_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inbox");
    let lock = dir.path().join("inbox.lock");
    let mut o = opts(Variant::Mboxrd);
    o.lock.timeout = Duration::from_millis(300);
    let mbox = Mbox::new(&path, o);
    let (f, t) = (from(0), text(0));
    let msg = NewMessage {
        from: &f,
        metadata: &Metadata::default(),
        text: &t,
    };

    // A pid that cannot be running (above Linux's pid_max).
    std::fs::write(&lock, "99999999\n").unwrap();
    mbox.append(&[msg]).unwrap();
    assert!(!lock.exists());

    // No pid and fresh: valid, we wait and give up.
    std::fs::write(&lock, "").unwrap();
    assert!(matches!(
        mbox.append(&[msg]),
        Err(Error::LockTimeout { .. })
    ));

    // No pid and older than 5 minutes: stale.
    let old = SystemTime::now() - Duration::from_mins(10);
    std::fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(old)
        .unwrap();
    mbox.append(&[msg]).unwrap();
    assert_eq!(mbox.entries().unwrap().len(), 2);
}

#[test]
fn readers_stream_large_files_in_bounded_memory() {
    // 2,000 messages of ~10 KiB read with a 4 KiB buffer: the buffer never needs to grow.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    let mut w = mailwright_mbox::Writer::new(
        std::fs::File::create(&path).unwrap(),
        mailwright_mbox::WriteOptions::default(),
    );
    let body = "x".repeat(70) + "\n";
    let text = format!("Subject: big\n\n{}", body.repeat(140));
    for i in 0..2000 {
        w.write_message(&from(i), &Metadata::default(), text.as_bytes())
            .unwrap();
    }
    w.into_inner().unwrap();
    let mut o = opts(Variant::Mboxrd);
    o.read.buffer_size = 4096;
    let mbox = Mbox::new(&path, o);
    let mut r = mbox.reader().unwrap();
    let mut n = 0;
    let mut sink = std::io::sink();
    while let Some(e) = r.next_message_to(&mut sink).unwrap() {
        assert_eq!(e.stored_len(), text.len() as u64);
        n += 1;
    }
    assert_eq!(n, 2000);
    assert!(format!("{r:?}").contains("eof: true"));
}

mod rewrite_model {
    use super::*;
    use proptest::prelude::*;

    fn action() -> impl Strategy<Value = u8> {
        0u8..3
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Any mix of keep / delete / set-flags gives exactly the model's result, for every
        /// variant, and the texts of kept messages are untouched.
        #[test]
        fn rewrite_matches_the_model(
            variant in prop::sample::select(Variant::ALL.to_vec()),
            actions in prop::collection::vec(action(), 1..12),
            bits in any::<u8>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut o = opts(variant);
            o.no_fsync = true;
            let mbox = Mbox::new(dir.path().join("box"), o);
            let froms: Vec<_> = (0..actions.len() as u64).map(from).collect();
            let texts: Vec<_> = (0..actions.len() as u64).map(text).collect();
            let meta = Metadata::default();
            let msgs: Vec<_> = froms
                .iter()
                .zip(&texts)
                .map(|(f, t)| NewMessage { from: f, metadata: &meta, text: t })
                .collect();
            mbox.append(&msgs).unwrap();
            let new_meta = Metadata::with_flags(Flags {
                seen: bits & 1 != 0,
                flagged: bits & 2 != 0,
                deleted: bits & 4 != 0,
                ..Flags::NONE
            });
            mbox.rewrite(|e| match actions[e.index as usize] {
                0 => Action::Keep,
                1 => Action::Delete,
                _ => Action::SetMetadata(new_meta.clone()),
            })
            .unwrap();
            let entries = mbox.entries().unwrap();
            let kept: Vec<usize> = (0..actions.len()).filter(|&i| actions[i] != 1).collect();
            prop_assert_eq!(entries.len(), kept.len());
            for (e, &i) in entries.iter().zip(&kept) {
                prop_assert_eq!(&e.from_line, &froms[i]);
                prop_assert!(e.tolerated.is_empty(), "{:?}", e.tolerated);
                let want = if actions[i] == 2 { new_meta.clone() } else { Metadata::default() };
                prop_assert_eq!(&e.metadata, &want);
                let got = mailwright_mbox::strip_metadata(&mbox.read_message(e).unwrap());
                let mut got = String::from_utf8(got).unwrap();
                if variant.uses_content_length() {
                    got = got.replacen(&format!("Content-Length: {}\n", e.content_length.unwrap()), "", 1);
                }
                let mut expect = String::from_utf8(texts[i].clone()).unwrap();
                if matches!(variant, Variant::Mboxo | Variant::Mboxcl) {
                    expect = expect.replace("\n>From quoted", "\nFrom quoted");
                }
                prop_assert_eq!(got, expect);
            }
        }
    }
}

mod append_model {
    use super::*;
    use proptest::prelude::*;

    fn body() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("From x".to_owned()),
                Just(">From y".to_owned()),
                Just(String::new()),
                "[a-z ]{0,12}",
            ],
            0..5,
        )
        .prop_map(|lines| lines.join("\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        /// Appends one at a time (each a separate locked append) read back as the model says,
        /// whatever the previous message ended with.
        #[test]
        fn appends_read_back(
            variant in prop::sample::select(Variant::ALL.to_vec()),
            bodies in prop::collection::vec(body(), 1..6),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut o = opts(variant);
            o.no_fsync = true;
            let mbox = Mbox::new(dir.path().join("box"), o);
            let texts: Vec<String> = bodies.iter().map(|b| format!("Subject: s\n\n{b}")).collect();
            for (i, t) in texts.iter().enumerate() {
                let f = from(i as u64);
                mbox.append(&[NewMessage { from: &f, metadata: &Metadata::default(), text: t.as_bytes() }]).unwrap();
            }
            let entries = mbox.entries().unwrap();
            prop_assert_eq!(entries.len(), texts.len());
            for (e, t) in entries.iter().zip(&texts) {
                prop_assert!(e.tolerated.is_empty(), "{:?}", e.tolerated);
                let mut got = String::from_utf8(mbox.read_message(e).unwrap()).unwrap();
                let mut want = t.clone();
                if variant.uses_content_length() {
                    got = got.replacen(&format!("Content-Length: {}\n", e.content_length.unwrap()), "", 1);
                } else if !want.ends_with('\n') {
                    want.push('\n');
                }
                if matches!(variant, Variant::Mboxo | Variant::Mboxcl) {
                    want = mailwright_mbox::unquote_all(Variant::Mboxo, want.as_bytes())
                        .into_iter()
                        .map(char::from)
                        .collect();
                }
                prop_assert_eq!(got, want);
            }
        }
    }
}
