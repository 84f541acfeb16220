//! The connection's octets, with COMPRESS=DEFLATE (RFC 4978) once negotiated: raw deflate
//! (RFC 1951, no zlib header) both ways, the server's output flushed with a sync flush after
//! every burst of responses so the client never waits on buffered data.

use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::core::net::Conn;

/// Deflate state of both directions.
pub(crate) struct Deflate {
    tx: Compress,
    rx: Decompress,
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deflate")
    }
}

impl Deflate {
    /// Fresh raw-deflate streams.
    pub(crate) fn new() -> Self {
        Self {
            tx: Compress::new(Compression::default(), false),
            rx: Decompress::new(false),
        }
    }

    fn compress(&mut self, input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        let mut rest = input;
        loop {
            out.reserve(4096);
            let before = self.tx.total_in();
            let flush = if rest.is_empty() {
                FlushCompress::Sync
            } else {
                FlushCompress::None
            };
            self.tx
                .compress_vec(rest, &mut out, flush)
                .map_err(io::Error::other)?;
            let used = usize::try_from(self.tx.total_in() - before).unwrap_or(rest.len());
            rest = &rest[used.min(rest.len())..];
            if rest.is_empty() && flush == FlushCompress::Sync && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }

    /// Inflates octets received (also those the protocol session buffered before COMPRESS took
    /// effect) into `out`.
    pub(crate) fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut rest = input;
        // Bounded: each round consumes input or fills 32 KiB of output.
        for _ in 0..1_000_000 {
            out.reserve(32 * 1024);
            let (in_before, out_before) = (self.rx.total_in(), out.len());
            let status = self
                .rx
                .decompress_vec(rest, out, FlushDecompress::None)
                .map_err(io::Error::other)?;
            let used = usize::try_from(self.rx.total_in() - in_before).unwrap_or(rest.len());
            rest = &rest[used.min(rest.len())..];
            let produced = out.len() > out_before;
            if status == Status::StreamEnd || (rest.is_empty() && out.len() < out.capacity()) {
                return Ok(());
            }
            if used == 0 && !produced {
                return Ok(());
            }
        }
        Err(io::Error::other("deflate stream does not progress"))
    }
}

/// Writes octets, compressed when COMPRESS is active, and flushes.
pub(crate) async fn send(conn: &mut Conn, z: &mut Option<Deflate>, bytes: &[u8]) -> io::Result<()> {
    match z {
        Some(z) => {
            let packed = z.compress(bytes)?;
            conn.write_all(&packed).await?;
        }
        None => conn.write_all(bytes).await?,
    }
    conn.flush().await
}

/// Reads what is there into `out` (decompressed when COMPRESS is active); `Ok(false)` at end of
/// stream. `out` may stay empty when compressed input did not complete a block.
pub(crate) async fn recv(
    conn: &mut Conn,
    z: &mut Option<Deflate>,
    raw: &mut [u8],
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    let n = conn.read(raw).await?;
    if n == 0 {
        return Ok(false);
    }
    match z {
        Some(z) => z.inflate(&raw[..n], out)?,
        None => out.extend_from_slice(&raw[..n]),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_both_directions() {
        let mut a = Deflate::new();
        let mut b = Deflate::new();
        let mut got = Vec::new();
        let big = vec![b'x'; 100_000];
        for msg in [&b"* OK hello\r\n"[..], b"a1 OK done\r\n", &big] {
            let packed = a.compress(msg).unwrap();
            // The receiving side decompresses with its rx state; feed it in two pieces.
            let (p1, p2) = packed.split_at(packed.len() / 2);
            let mut out = Vec::new();
            b.inflate(p1, &mut out).unwrap();
            b.inflate(p2, &mut out).unwrap();
            assert_eq!(out, msg);
            got.extend_from_slice(&out);
        }
        assert_eq!(got.len(), 12 + 12 + 100_000);
    }
}
