//! Writing: `From ` quoting, metadata headers, `Content-Length`, and a streaming [`Writer`].

use std::io::Write;

use memchr::memmem;

use crate::Error;
use crate::parse::for_each_header;
use crate::types::{FromLine, LineEnding, Metadata, Quoting, Variant};

/// Writer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// The dialect to write. Default [`Variant::Mboxrd`], the only one that round-trips every
    /// message.
    pub variant: Variant,
    /// Line ending of `From ` lines and separating blank lines. Default LF. Message text is
    /// written as given.
    pub line_ending: LineEnding,
    /// Drop `Status`, `X-Status`, `X-Keywords`, `X-UID` and `X-IMAPbase` headers found in the
    /// message and write the ones the [`Metadata`] says. Default `true`. (`Content-Length` is
    /// always replaced for mboxcl/mboxcl2 and left alone for mboxo/mboxrd.)
    pub replace_metadata: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            variant: Variant::Mboxrd,
            line_ending: LineEnding::Lf,
            replace_metadata: true,
        }
    }
}

impl WriteOptions {
    /// Default options for `variant`.
    pub fn new(variant: Variant) -> Self {
        WriteOptions {
            variant,
            ..WriteOptions::default()
        }
    }
}

const METADATA_HEADERS: [&[u8]; 5] = [
    b"Status",
    b"X-Status",
    b"X-Keywords",
    b"X-UID",
    b"X-IMAPbase",
];

/// Appends `From ` quoting of `data` to `out`: mboxrd adds one `>` to every line matching
/// `>*From `, mboxo and mboxcl add one to lines starting `From `, mboxcl2 copies.
pub(crate) fn quote_into(out: &mut Vec<u8>, data: &[u8], quoting: Quoting) {
    if quoting == Quoting::None {
        out.extend_from_slice(data);
        return;
    }
    let mut copied = 0;
    for k in memmem::find_iter(data, b"From ") {
        // Walk back over '>' to the line start.
        let mut s = k;
        if quoting == Quoting::Mboxrd {
            while s > 0 && data[s - 1] == b'>' {
                s -= 1;
            }
        }
        if s == 0 || data[s - 1] == b'\n' {
            out.extend_from_slice(&data[copied..s]);
            out.push(b'>');
            copied = s;
        }
    }
    out.extend_from_slice(&data[copied..]);
}

/// Splits a message into its header block (up to and including the empty line) and body.
/// `None` when there is no empty line.
fn split_header(text: &[u8]) -> Option<usize> {
    if text.starts_with(b"\n") {
        return Some(1);
    }
    if text.starts_with(b"\r\n") {
        return Some(2);
    }
    let lf = memmem::find(text, b"\n\n").map(|i| i + 2);
    let crlf = memmem::find(text, b"\n\r\n").map(|i| i + 3);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn check_keyword(k: &str) -> Result<(), Error> {
    if k.is_empty()
        || k.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',')
    {
        return Err(Error::InvalidKeyword(k.to_owned()));
    }
    Ok(())
}

/// The metadata header lines for `meta`, each ending in `eol`.
fn metadata_lines(meta: &Metadata, eol: &[u8]) -> Result<Vec<u8>, Error> {
    let mut h = Vec::new();
    let mut line = |name: &str, value: &str| {
        h.extend_from_slice(name.as_bytes());
        h.extend_from_slice(b": ");
        h.extend_from_slice(value.as_bytes());
        h.extend_from_slice(eol);
    };
    if let Some(base) = &meta.imap_base {
        for k in &base.keywords {
            check_keyword(k)?;
        }
        let mut v = format!("{} {:010}", base.uid_validity, base.uid_last);
        for k in &base.keywords {
            v.push(' ');
            v.push_str(k);
        }
        line("X-IMAPbase", &v);
    }
    if let Some(uid) = meta.uid {
        line("X-UID", &uid.to_string());
    }
    let status = meta.flags.status();
    if !status.is_empty() {
        line("Status", &status);
    }
    let x_status = meta.flags.x_status();
    if !x_status.is_empty() {
        line("X-Status", &x_status);
    }
    if !meta.keywords.is_empty() {
        for k in &meta.keywords {
            check_keyword(k)?;
        }
        line("X-Keywords", &meta.keywords.join(" "));
    }
    Ok(h)
}

/// Rewrites the header block of `text` (stored or unquoted alike: headers never hold `From `
/// lines) with the metadata headers of `meta`, keeping every other header in order.
/// `drop_content_length` also removes `Content-Length`. Returns the new header block; the body is
/// `text[split..]`.
pub(crate) fn rewrite_headers(
    text: &[u8],
    meta: Option<&Metadata>,
    content_length: Option<u64>,
) -> Result<(Vec<u8>, usize), Error> {
    let split = split_header(text);
    let header = &text[..split.unwrap_or(text.len())];
    let eol: &[u8] = match memchr::memchr(b'\n', header) {
        Some(i) if i > 0 && header[i - 1] == b'\r' => b"\r\n",
        _ => b"\n",
    };
    let mut out = Vec::with_capacity(header.len() + 128);
    let mut last = 0;
    for_each_header(header, |name, _, range| {
        let drop_meta = meta.is_some()
            && METADATA_HEADERS
                .iter()
                .any(|m| m.eq_ignore_ascii_case(name));
        let drop_cl = content_length.is_some() && name.eq_ignore_ascii_case(b"Content-Length");
        if drop_meta || drop_cl {
            out.extend_from_slice(&header[last..range.start]);
            last = range.end;
        }
    });
    // Everything up to the blank line (or the end) is kept; our headers go before the blank line.
    let blank_len = match split {
        Some(s) if header[..s].ends_with(b"\r\n") && (s == 2 || header[s - 3] == b'\n') => 2,
        Some(_) => 1,
        None => 0,
    };
    let fields_end = header.len() - blank_len;
    out.extend_from_slice(&header[last.min(fields_end)..fields_end]);
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.extend_from_slice(eol);
    }
    if let Some(meta) = meta {
        out.extend_from_slice(&metadata_lines(meta, eol)?);
    }
    if let Some(n) = content_length {
        out.extend_from_slice(format!("Content-Length: {n}").as_bytes());
        out.extend_from_slice(eol);
    }
    out.extend_from_slice(&header[fields_end..]);
    Ok((out, split.unwrap_or(text.len())))
}

/// Encodes one message (its `From ` line, metadata headers, quoted text and the separating
/// blank line) onto the end of `out`.
///
/// mboxo and mboxrd cannot store a message whose last line has no newline: one is added. The
/// `Content-Length` variants store such a message exactly when it has a header/body separator.
pub fn encode_message(
    out: &mut Vec<u8>,
    from: &FromLine,
    metadata: &Metadata,
    text: &[u8],
    opts: &WriteOptions,
) -> Result<(), Error> {
    let eol = opts.line_ending.as_bytes();
    out.extend_from_slice(from.as_bytes());
    out.extend_from_slice(eol);
    let quoting = opts.variant.quoting();
    let meta = (opts.replace_metadata || !metadata.is_empty()).then_some(metadata);
    let needs_headers = meta.is_some_and(|m| !m.is_empty() || has_metadata_headers(text));
    if opts.variant.uses_content_length() && split_header(text).is_some() {
        let split = split_header(text).unwrap_or(text.len());
        let mut body = Vec::with_capacity(text.len() - split + 64);
        quote_into(&mut body, &text[split..], quoting);
        let (header, _) = rewrite_headers(text, meta, Some(body.len() as u64))?;
        quote_into(out, &header, quoting);
        out.extend_from_slice(&body);
    } else if needs_headers {
        let (header, split) = rewrite_headers(text, meta, None)?;
        quote_into(out, &header, quoting);
        quote_into(out, &text[split..], quoting);
    } else {
        quote_into(out, text, quoting);
    }
    let exact = opts.variant.uses_content_length() && split_header(text).is_some();
    if !exact && !out.ends_with(b"\n") && !text.is_empty() {
        out.extend_from_slice(eol);
    }
    out.extend_from_slice(eol);
    Ok(())
}

/// The message without the headers an mbox uses for its own bookkeeping (`Status`, `X-Status`,
/// `X-Keywords`, `X-UID`, `X-IMAPbase`): what to hand to another store after reading their values
/// from [`crate::Entry::metadata`]. `Content-Length` is left alone. With the `maildir` feature,
/// `convert::deliver_entry` does this and the rest of a Maildir delivery.
///
/// ```
/// let text = b"Subject: hi\nStatus: RO\nX-UID: 7\n\nStatus: in the body stays\n";
/// assert_eq!(
///     mailwright_mbox::strip_metadata(text),
///     b"Subject: hi\n\nStatus: in the body stays\n"
/// );
/// ```
pub fn strip_metadata(text: &[u8]) -> Vec<u8> {
    if !has_metadata_headers(text) {
        return text.to_vec();
    }
    match rewrite_headers(text, Some(&Metadata::default()), None) {
        Ok((mut header, split)) => {
            header.extend_from_slice(&text[split..]);
            header
        }
        // Only keyword validation can fail, and an empty Metadata has no keywords.
        Err(_) => text.to_vec(),
    }
}

fn has_metadata_headers(text: &[u8]) -> bool {
    let header = &text[..split_header(text).unwrap_or(text.len())];
    let mut found = false;
    for_each_header(header, |name, _, _| {
        found |= METADATA_HEADERS
            .iter()
            .any(|m| m.eq_ignore_ascii_case(name));
    });
    found
}

/// Streams messages in mbox form to any [`Write`] (an export file, a pipe, a socket).
///
/// It does no locking and no fsync: use [`crate::Mbox::append`] to add to a live mailbox.
#[derive(Debug)]
pub struct Writer<W> {
    inner: W,
    opts: WriteOptions,
    buf: Vec<u8>,
    written: u64,
}

impl<W: Write> Writer<W> {
    /// A writer with the given options.
    pub fn new(inner: W, opts: WriteOptions) -> Self {
        Writer {
            inner,
            opts,
            buf: Vec::new(),
            written: 0,
        }
    }

    /// Writes one message; returns the offset its `From ` line starts at.
    pub fn write_message(
        &mut self,
        from: &FromLine,
        metadata: &Metadata,
        text: &[u8],
    ) -> Result<u64, Error> {
        self.buf.clear();
        encode_message(&mut self.buf, from, metadata, text, &self.opts)?;
        self.inner.write_all(&self.buf)?;
        let at = self.written;
        self.written += self.buf.len() as u64;
        Ok(at)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(mut self) -> Result<W, Error> {
        self.inner.flush()?;
        Ok(self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Asctime, Flags};

    fn from() -> FromLine {
        FromLine::new("a@b.c", Asctime::new(2026, 11, 28, 12, 0, 0).unwrap()).unwrap()
    }

    #[test]
    fn strips_metadata_headers_only() {
        let text = b"Subject: x\nStatus: RO\nX-UID: 3\nX-Keywords: a\n b\nTo: y\n\nStatus: body\n";
        assert_eq!(strip_metadata(text), b"Subject: x\nTo: y\n\nStatus: body\n");
        assert_eq!(
            strip_metadata(b"Subject: x\n\nbody\n"),
            b"Subject: x\n\nbody\n"
        );
    }

    #[test]
    fn quotes_per_variant() {
        let text = b"From a\n>From b\nx From c\n>>From d\n";
        let mut rd = Vec::new();
        quote_into(&mut rd, text, Quoting::Mboxrd);
        assert_eq!(rd, b">From a\n>>From b\nx From c\n>>>From d\n");
        let mut o = Vec::new();
        quote_into(&mut o, text, Quoting::Mboxo);
        assert_eq!(o, b">From a\n>From b\nx From c\n>>From d\n");
    }

    #[test]
    fn writes_status_and_content_length() {
        let meta = Metadata::with_flags(Flags {
            seen: true,
            old: true,
            answered: true,
            ..Flags::NONE
        });
        let mut out = Vec::new();
        let text = b"Subject: x\nStatus: O\n\nFrom me\nbye";
        encode_message(
            &mut out,
            &from(),
            &meta,
            text,
            &WriteOptions::new(Variant::Mboxcl),
        )
        .unwrap();
        assert_eq!(
            out,
            b"From a@b.c Sat Nov 28 12:00:00 2026\nSubject: x\nStatus: RO\nX-Status: A\n\
Content-Length: 12\n\n>From me\nbye\n"
        );
        out.clear();
        encode_message(
            &mut out,
            &from(),
            &Metadata::default(),
            b"Subject: y\n\nhi\n",
            &WriteOptions::default(),
        )
        .unwrap();
        assert_eq!(
            out,
            b"From a@b.c Sat Nov 28 12:00:00 2026\nSubject: y\n\nhi\n\n"
        );
    }
}
