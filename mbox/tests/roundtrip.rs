//! Property tests: write -> read round trips for every variant, arbitrary bytes never panic,
//! and any chunking of the input gives the same messages.

use std::io::Read;

use mailwright_mbox::{
    Asctime, Entry, Flags, FromLine, Metadata, ReadOptions, Reader, Variant, WriteOptions, Writer,
    unquote_all,
};
use proptest::prelude::*;

fn from_line(i: usize) -> FromLine {
    let date = Asctime::from_unix(1_700_000_000 + i64::try_from(i).unwrap() * 3_601).unwrap();
    FromLine::new(&format!("sender{i}@example.org"), date).unwrap()
}

/// Body lines that exercise quoting.
fn body_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("From here".to_owned()),
        Just(">From there".to_owned()),
        Just(">>From everywhere".to_owned()),
        Just(">>>From ".to_owned()),
        Just("From ".to_owned()),
        Just("From sender@x Sat Nov 28 12:34:56 2026".to_owned()),
        Just(String::new()),
        Just(">".to_owned()),
        Just(">Fro".to_owned()),
        Just("Status: RO".to_owned()),
        "[a-zA-Z >:]{0,20}",
    ]
}

fn message(crlf: bool) -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(body_line(), 0..8), any::<bool>()).prop_map(move |(lines, trailing)| {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut m = format!("Subject: test{eol}X-Other: 1{eol}{eol}");
        m.push_str(&lines.join(eol));
        if trailing || lines.is_empty() {
            m.push_str(eol);
        }
        m.into_bytes()
    })
}

fn read_all(data: &[u8], opts: ReadOptions) -> Vec<(Entry, Vec<u8>)> {
    let mut r = Reader::with_options(data, opts);
    let mut out = Vec::new();
    let mut text = Vec::new();
    while let Some(e) = r.next_message(&mut text).unwrap() {
        out.push((e, text.clone()));
    }
    out
}

fn expected(variant: Variant, original: &[u8], eol: &[u8]) -> Vec<u8> {
    let mut m = original.to_vec();
    // mboxo and mboxrd need a final newline; the writer adds the file's line ending.
    if !variant.uses_content_length() && !m.is_empty() && !m.ends_with(b"\n") {
        m.extend_from_slice(eol);
    }
    match variant {
        // The documented loss of mboxo quoting: `>From ` comes back as `From `.
        Variant::Mboxo | Variant::Mboxcl => unquote_all(Variant::Mboxo, &m),
        _ => m,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn write_then_read_gives_the_messages_back(
        variant in prop::sample::select(Variant::ALL.to_vec()),
        crlf in any::<bool>(),
        msgs in prop::collection::vec(message(false), 1..6),
        buffer in 64usize..4096,
    ) {
        let mut opts = WriteOptions::new(variant);
        if crlf {
            opts.line_ending = mailwright_mbox::LineEnding::CrLf;
        }
        let mut w = Writer::new(Vec::new(), opts);
        for (i, m) in msgs.iter().enumerate() {
            w.write_message(&from_line(i), &Metadata::default(), m).unwrap();
        }
        let file = w.into_inner().unwrap();
        let ropts = ReadOptions { buffer_size: buffer, ..ReadOptions::new(variant) };
        let got = read_all(&file, ropts);
        prop_assert_eq!(got.len(), msgs.len(), "file: {:?}", String::from_utf8_lossy(&file));
        for (i, ((entry, text), original)) in got.iter().zip(&msgs).enumerate() {
            let want = expected(variant, original, if crlf { b"\r\n" } else { b"\n" });
            let mut text = text.clone();
            if variant.uses_content_length() {
                // The writer added a Content-Length header: take it out to compare.
                let s = String::from_utf8(text).unwrap();
                let cl = format!("Content-Length: {}\n", entry.content_length.unwrap());
                text = s.replacen(&cl, "", 1).into_bytes();
            }
            prop_assert_eq!(String::from_utf8_lossy(&text), String::from_utf8_lossy(&want));
            prop_assert_eq!(&entry.from_line, &from_line(i));
            prop_assert!(entry.tolerated.is_empty(), "{:?}", entry.tolerated);
        }
    }

    #[test]
    fn crlf_messages_round_trip(msgs in prop::collection::vec(message(true), 1..4)) {
        let mut w = Writer::new(Vec::new(), WriteOptions::default());
        for (i, m) in msgs.iter().enumerate() {
            w.write_message(&from_line(i), &Metadata::default(), m).unwrap();
        }
        let file = w.into_inner().unwrap();
        let got = read_all(&file, ReadOptions::default());
        prop_assert_eq!(got.len(), msgs.len());
        for ((_, text), original) in got.iter().zip(&msgs) {
            prop_assert_eq!(text, &expected(Variant::Mboxrd, original, b"\n"));
        }
    }

    #[test]
    fn metadata_round_trips(
        variant in prop::sample::select(Variant::ALL.to_vec()),
        bits in any::<[bool; 6]>(),
        keywords in prop::collection::vec("[a-zA-Z$][a-zA-Z0-9_]{0,8}", 0..4),
        uid in proptest::option::of(1u32..1_000_000),
    ) {
        let flags = Flags { seen: bits[0], old: bits[1], answered: bits[2], flagged: bits[3], draft: bits[4], deleted: bits[5] };
        let meta = Metadata { flags, keywords, uid, imap_base: None };
        let mut w = Writer::new(Vec::new(), WriteOptions::new(variant));
        w.write_message(&from_line(0), &meta, b"Subject: x\nStatus: O\nX-Status: D\n\nbody\n").unwrap();
        w.write_message(&from_line(1), &Metadata::default(), b"Subject: y\n\nbody\n").unwrap();
        let file = w.into_inner().unwrap();
        let got = read_all(&file, ReadOptions::new(variant));
        prop_assert_eq!(got.len(), 2);
        prop_assert_eq!(&got[0].0.metadata, &meta);
        prop_assert_eq!(&got[1].0.metadata, &Metadata::default());
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        variant in prop::sample::select(Variant::ALL.to_vec()),
        data in prop::collection::vec(any::<u8>(), 0..2048),
        buffer in 64usize..512,
    ) {
        check_invariants(&data, ReadOptions { buffer_size: buffer, max_from_line: 100, max_header_bytes: 300, ..ReadOptions::new(variant) });
    }

    #[test]
    fn mbox_like_bytes_never_panic_and_chunking_does_not_matter(
        variant in prop::sample::select(Variant::ALL.to_vec()),
        lines in prop::collection::vec(mbox_line(), 0..60),
        crlf in any::<bool>(),
        chunk in 1usize..97,
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let data = lines.join(eol).into_bytes();
        let opts = ReadOptions { max_from_line: 80, max_header_bytes: 200, ..ReadOptions::new(variant) };
        let whole = check_invariants(&data, opts.clone());
        let mut r = Reader::with_options(Chunked { data: &data, chunk }, opts);
        let mut got = Vec::new();
        let mut text = Vec::new();
        while let Some(e) = r.next_message(&mut text).unwrap() {
            got.push((e, text.clone()));
        }
        prop_assert_eq!(got, whole);
    }

    /// Without Content-Length framing, the buffer size does not change the result either. (With
    /// it, a body larger than the buffer whose Content-Length is wrong is only found wrong at its
    /// declared end: see `ReadOptions::buffer_size`.)
    #[test]
    fn buffer_size_does_not_matter(
        variant in prop::sample::select(vec![Variant::Mboxo, Variant::Mboxrd]),
        lines in prop::collection::vec(mbox_line(), 0..60),
        crlf in any::<bool>(),
        buffer in 64usize..300,
        chunk in 1usize..97,
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let data = lines.join(eol).into_bytes();
        let opts = ReadOptions { max_from_line: 80, max_header_bytes: 200, ..ReadOptions::new(variant) };
        let whole = check_invariants(&data, opts.clone());
        let small = ReadOptions { buffer_size: buffer, ..opts };
        let mut r = Reader::with_options(Chunked { data: &data, chunk }, small);
        let mut got = Vec::new();
        let mut text = Vec::new();
        while let Some(e) = r.next_message(&mut text).unwrap() {
            got.push((e, text.clone()));
        }
        prop_assert_eq!(got, whole);
    }
}

fn mbox_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("From a@b Sat Nov 28 12:34:56 2026".to_owned()),
        1 => Just("From a@b Sat Nov 28 12:34:56 2026 +0000 remote from x".to_owned()),
        2 => Just("From bad line".to_owned()),
        2 => Just(">From x".to_owned()),
        1 => Just(">>From x".to_owned()),
        4 => Just(String::new()),
        2 => Just("Content-Length: 5".to_owned()),
        1 => Just("Content-Length: 0".to_owned()),
        1 => Just("Content-Length: 99999999999999999999".to_owned()),
        2 => Just("Status: RO".to_owned()),
        1 => Just("X-Keywords: a b".to_owned()),
        1 => Just("X-IMAPbase: 1 2 a".to_owned()),
        1 => Just(" folded".to_owned()),
        6 => "[ -~]{0,30}",
    ]
}

/// Reads everything, checks the structural invariants, and returns the messages.
fn check_invariants(data: &[u8], opts: ReadOptions) -> Vec<(Entry, Vec<u8>)> {
    let mut r = Reader::with_options(data, opts);
    let mut out: Vec<(Entry, Vec<u8>)> = Vec::new();
    let mut text = Vec::new();
    let mut last_end = 0;
    while let Some(e) = r.next_message(&mut text).unwrap() {
        assert!(e.offset >= last_end, "{e:?}");
        assert!(
            e.offset < e.content.start || e.content.start == e.offset,
            "{e:?}"
        );
        assert!(
            e.content.start <= e.content.end && e.content.end <= e.end,
            "{e:?}"
        );
        assert!(e.end <= data.len() as u64, "{e:?}");
        assert!(data[e.offset as usize..].starts_with(b"From "), "{e:?}");
        // Unquoting never adds bytes.
        assert!(text.len() as u64 <= e.stored_len(), "{e:?}");
        last_end = e.end;
        out.push((e, text.clone()));
        assert!(out.len() <= data.len() + 1);
    }
    assert!(r.next_entry().unwrap().is_none());
    out
}

/// A reader that hands out at most `chunk` bytes per call.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
