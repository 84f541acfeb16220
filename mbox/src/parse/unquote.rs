//! Removing `From ` quoting, streamed: chunk boundaries can fall anywhere.

use std::io::{self, Write};

use crate::types::{Quoting, Variant};

const FROM: &[u8; 5] = b"From ";

/// Streaming un-quoter for message text: feed it the stored bytes in chunks of any size, it
/// writes the message with one `>` removed from each quoted `From ` line, as the variant says
/// (mboxrd: every `>+From ` line; mboxo and mboxcl: `>From ` lines; mboxcl2: nothing).
#[derive(Debug, Clone)]
pub struct Unquoter {
    quoting: Quoting,
    /// At a line start: how many `>` were seen, and how much of `From ` after them.
    pending: Option<(usize, usize)>,
}

impl Unquoter {
    /// A new un-quoter, positioned at the start of a message (a line start).
    pub fn new(variant: Variant) -> Self {
        Unquoter {
            quoting: variant.quoting(),
            pending: Some((0, 0)),
        }
    }

    /// A pass-through that changes nothing.
    pub(crate) fn raw() -> Self {
        Unquoter {
            quoting: Quoting::None,
            pending: Some((0, 0)),
        }
    }

    /// Unquotes `data` into `out`.
    pub fn feed<W: Write + ?Sized>(&mut self, mut data: &[u8], out: &mut W) -> io::Result<()> {
        if self.quoting == Quoting::None {
            return out.write_all(data);
        }
        while !data.is_empty() {
            match self.pending {
                None => {
                    // Mid-line: copy up to the next line that starts with '>'.
                    if let Some(i) = memchr::memmem::find(data, b"\n>") {
                        out.write_all(&data[..=i])?;
                        data = &data[i + 1..];
                        self.pending = Some((0, 0));
                    } else {
                        out.write_all(data)?;
                        if data.last() == Some(&b'\n') {
                            self.pending = Some((0, 0));
                        }
                        return Ok(());
                    }
                }
                Some((gts, matched)) => {
                    let b = data[0];
                    if matched == 0 && b == b'>' {
                        self.pending = Some((gts + 1, 0));
                        data = &data[1..];
                    } else if gts > 0 && b == FROM[matched] {
                        data = &data[1..];
                        if matched + 1 == FROM.len() {
                            let drop = match self.quoting {
                                Quoting::Mboxrd => 1,
                                Quoting::Mboxo => usize::from(gts == 1),
                                Quoting::None => 0,
                            };
                            write_gts(out, gts - drop)?;
                            out.write_all(FROM)?;
                            self.pending = None;
                        } else {
                            self.pending = Some((gts, matched + 1));
                        }
                    } else {
                        self.flush_pending(out)?;
                        // `b` is re-read mid-line (it may be the '\n' that starts a new line).
                        if b == b'\n' {
                            out.write_all(b"\n")?;
                            data = &data[1..];
                            self.pending = Some((0, 0));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes out anything held back at the end of the message.
    pub fn finish<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<()> {
        self.flush_pending(out)?;
        self.pending = Some((0, 0));
        Ok(())
    }

    fn flush_pending<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<()> {
        if let Some((gts, matched)) = self.pending.take() {
            write_gts(out, gts)?;
            out.write_all(&FROM[..matched])?;
        }
        Ok(())
    }
}

fn write_gts<W: Write + ?Sized>(out: &mut W, mut n: usize) -> io::Result<()> {
    const GTS: [u8; 64] = [b'>'; 64];
    while n > 0 {
        let k = n.min(GTS.len());
        out.write_all(&GTS[..k])?;
        n -= k;
    }
    Ok(())
}

/// Unquotes a whole stored message at once (see [`Unquoter`]).
pub fn unquote_all(variant: Variant, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut u = Unquoter::new(variant);
    // Writing to a Vec cannot fail.
    let _ = u.feed(data, &mut out);
    let _ = u.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes_per_variant() {
        let stored = b">From a\n>>From b\n>>>From c\nx >From d\n>Fro\n>\nFrom e\n";
        assert_eq!(
            unquote_all(Variant::Mboxrd, stored),
            b"From a\n>From b\n>>From c\nx >From d\n>Fro\n>\nFrom e\n"
        );
        assert_eq!(
            unquote_all(Variant::Mboxo, stored),
            b"From a\n>>From b\n>>>From c\nx >From d\n>Fro\n>\nFrom e\n"
        );
        assert_eq!(unquote_all(Variant::Mboxcl2, stored), stored);
    }

    #[test]
    fn any_chunking_gives_the_same() {
        let stored = b">From a\n>>From b\n>>\n>>>Fr\n>From ";
        let whole = unquote_all(Variant::Mboxrd, stored);
        for size in 1..stored.len() {
            let mut out = Vec::new();
            let mut u = Unquoter::new(Variant::Mboxrd);
            for c in stored.chunks(size) {
                u.feed(c, &mut out).unwrap();
            }
            u.finish(&mut out).unwrap();
            assert_eq!(out, whole, "chunk size {size}");
        }
    }
}
