//! Fuzz target bodies for the `mbox` crate.

use mailwright_mbox::{Metadata, ReadOptions, Reader, Variant, WriteOptions, Writer};

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[("mbox_reader", mbox_reader)];

/// A reader that hands out at most `chunk` bytes per call.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl std::io::Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn read_all<R: std::io::Read>(r: R, opts: ReadOptions) -> Vec<(mailwright_mbox::Entry, Vec<u8>)> {
    let mut reader = Reader::with_options(r, opts);
    let mut out = Vec::new();
    let mut text = Vec::new();
    while let Some(e) = reader
        .next_message(&mut text)
        .expect("reading from memory cannot fail")
    {
        assert!(e.content.start <= e.content.end && e.content.end <= e.end);
        assert!(text.len() as u64 <= e.stored_len());
        out.push((e, text.clone()));
    }
    out
}

/// Reads arbitrary bytes as every variant: never panics, gives the same messages whatever the read
/// chunk size, and (mboxrd) writing the messages back and reading them again gives the same text.
pub fn mbox_reader(data: &[u8]) {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    let variant = Variant::ALL[usize::from(selector) % 4];
    let chunk = usize::from(selector / 4) % 31 + 1;
    // A small buffer: cheap per input, and it exercises refills and growth.
    let opts = ReadOptions {
        buffer_size: 256,
        max_from_line: 200,
        max_header_bytes: 1000,
        ..ReadOptions::new(variant)
    };
    let whole = read_all(data, opts.clone());
    let chunked = read_all(Chunked { data, chunk }, opts);
    assert_eq!(whole, chunked, "chunk size {chunk} changed the result");

    if variant == Variant::Mboxrd {
        let wopts = WriteOptions {
            replace_metadata: false,
            ..WriteOptions::new(Variant::Mboxrd)
        };
        let mut w = Writer::new(Vec::new(), wopts);
        let fallback = mailwright_mbox::FromLine::new(
            "MAILER-DAEMON",
            mailwright_mbox::Asctime::from_unix(0).unwrap(),
        )
        .expect("valid sender");
        for (e, text) in &whole {
            let from = if e.from_line.is_well_formed()
                && !e.from_line.sender().contains(char::is_whitespace)
            {
                &e.from_line
            } else {
                &fallback
            };
            w.write_message(from, &Metadata::default(), text)
                .expect("encode");
        }
        let file = w.into_inner().expect("vec");
        let again = read_all(&file[..], ReadOptions::default());
        assert_eq!(again.len(), whole.len());
        for ((_, a), (_, b)) in again.iter().zip(&whole) {
            let mut want = b.clone();
            if !want.is_empty() && !want.ends_with(b"\n") {
                want.push(b'\n');
            }
            assert_eq!(a, &want);
        }
    }
}
