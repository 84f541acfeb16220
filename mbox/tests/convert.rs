//! mbox -> Maildir -> mbox with flags, keywords, dates and senders (feature `maildir`).
#![cfg(feature = "maildir")]

use mailwright_maildir::{Maildir, Subdir};
use mailwright_mbox::convert::{maildir_to_mbox, mbox_to_maildir};
use mailwright_mbox::{Asctime, Flags, FromLine, Mbox, MboxOptions, Metadata, NewMessage, Variant};

#[test]
fn mbox_to_maildir_and_back_keeps_everything_maildir_can_hold() {
    let dir = tempfile::tempdir().unwrap();
    let src = Mbox::new(
        dir.path().join("in.mbox"),
        MboxOptions::new(Variant::Mboxrd),
    );
    let cases: Vec<(Metadata, String)> = vec![
        (
            Metadata::default(),
            "Return-Path: <s0@example.org>\nSubject: new\n\nFrom the top\n>From q\n".into(),
        ),
        (
            Metadata::with_flags(Flags {
                seen: true,
                old: true,
                ..Flags::NONE
            }),
            "Return-Path: <s1@example.org>\nSubject: seen\n\nbody\n".into(),
        ),
        (
            Metadata {
                flags: Flags {
                    old: true,
                    answered: true,
                    flagged: true,
                    ..Flags::NONE
                },
                keywords: vec!["$Work".into(), "later".into()],
                ..Metadata::default()
            },
            "Return-Path: <s2@example.org>\nSubject: kw\n\nx\n".into(),
        ),
        (
            Metadata::with_flags(Flags {
                old: true,
                deleted: true,
                draft: true,
                ..Flags::NONE
            }),
            "Return-Path: <s3@example.org>\nSubject: gone\n\ny\n".into(),
        ),
    ];
    let froms: Vec<FromLine> = (0..cases.len())
        .map(|i| {
            let date =
                Asctime::from_unix(1_790_000_000 + i64::try_from(i).unwrap() * 3600).unwrap();
            FromLine::new(&format!("s{i}@example.org"), date).unwrap()
        })
        .collect();
    let msgs: Vec<NewMessage<'_>> = cases
        .iter()
        .zip(&froms)
        .map(|((m, t), from)| NewMessage {
            from,
            metadata: m,
            text: t.as_bytes(),
        })
        .collect();
    src.append(&msgs).unwrap();

    let mut md = Maildir::create(dir.path().join("Maildir")).unwrap();
    md.set_fsync(false);
    let mut ticks = 0;
    let stats = mbox_to_maildir(&src, &md, &mut |_| ticks += 1).unwrap();
    assert_eq!((stats.messages, stats.tolerated, ticks), (4, 0, 4));
    let entries = md.scan().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(
        entries.iter().filter(|e| e.subdir() == Subdir::New).count(),
        1
    );
    for e in &entries {
        let text = md.read_message(e).unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains("Status:"),
            "bookkeeping headers stripped"
        );
    }

    let back = Mbox::new(
        dir.path().join("out.mbox"),
        MboxOptions::new(Variant::Mboxrd),
    );
    let stats = maildir_to_mbox(&md, &back, 1 << 20, &mut |_| {}).unwrap();
    assert_eq!(stats.messages, 4);
    let entries = back.entries().unwrap();
    assert_eq!(entries.len(), 4);
    for (e, ((meta, text), from)) in entries.iter().zip(cases.iter().zip(&froms)) {
        assert_eq!(e.from_line, *from, "sender and date survive the trip");
        let got = mailwright_mbox::strip_metadata(&back.read_message(e).unwrap());
        assert_eq!(String::from_utf8_lossy(&got), *text);
        let mut want = meta.clone();
        // Maildir keeps flagged and answered messages in cur/: they come back as not \Recent.
        want.flags.old = !meta.is_empty();
        want.keywords.sort();
        let mut have = e.metadata.clone();
        have.keywords.sort();
        assert_eq!(have, want);
    }
}
