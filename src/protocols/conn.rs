//! A client connection as the driver sees it: TCP, a unix socket or an in-memory pipe (simulation
//! tests), TLS on top (implicit, or after STARTTLS), and COMPRESS=DEFLATE (RFC 4978) on top of
//! that.
//!
//! Compressed input is inflated only as fast as the session reads it, into the reader's own buffer,
//! so a deflate bomb costs what its inflated text would cost sent plainly: the driver reads only
//! when the machine wants input and after the replies so far were written (and a client that does
//! not read its replies is dropped by the write timeout).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use mailwright_sansio::driver::Transport;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Any byte stream a session can run over.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// The connection below TLS.
enum Base {
    Tcp(TcpStream),
    Unix(UnixStream),
    Memory(Box<dyn Stream>),
}

enum Link {
    Plain(Base),
    Tls(Box<TlsStream<Base>>),
    /// Only while a handshake runs (or after it failed).
    Gone,
}

/// Deflate state of both directions (raw deflate, RFC 1951: no zlib header).
struct Deflate {
    tx: Compress,
    rx: Decompress,
    /// Compressed input read but not yet inflated.
    rx_raw: Vec<u8>,
    rx_pos: usize,
    /// Compressed output not yet written.
    tx_out: Vec<u8>,
    tx_pos: usize,
    /// Input was taken since the last sync flush.
    tx_dirty: bool,
}

/// Compressed output held before a write waits for the peer.
const TX_HIGH_WATER: usize = 64 * 1024;

/// A client connection.
pub struct Conn {
    link: Link,
    acceptor: Option<TlsAcceptor>,
    deflate: Option<Box<Deflate>>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("tls", &self.is_tls())
            .field("compressed", &self.deflate.is_some())
            .finish_non_exhaustive()
    }
}

impl Conn {
    fn new(base: Base, acceptor: Option<TlsAcceptor>) -> Self {
        Self {
            link: Link::Plain(base),
            acceptor,
            deflate: None,
        }
    }

    /// A TCP connection; `acceptor` is what STARTTLS (or implicit TLS) uses.
    pub fn tcp(stream: TcpStream, acceptor: Option<TlsAcceptor>) -> Self {
        let _ = stream.set_nodelay(true);
        Self::new(Base::Tcp(stream), acceptor)
    }

    /// A unix-socket connection (LMTP); no TLS.
    pub fn unix(stream: UnixStream) -> Self {
        Self::new(Base::Unix(stream), None)
    }

    /// Any other stream: an in-memory pipe in simulation tests.
    pub fn memory(stream: impl Stream, acceptor: Option<TlsAcceptor>) -> Self {
        Self::new(Base::Memory(Box::new(stream)), acceptor)
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        matches!(self.link, Link::Tls(_))
    }

    /// Whether a TLS upgrade (STARTTLS) can be offered: plain, with a certificate, not a unix socket.
    pub fn can_start_tls(&self) -> bool {
        self.acceptor.is_some() && matches!(self.link, Link::Plain(Base::Tcp(_) | Base::Memory(_)))
    }

    /// Whether COMPRESS=DEFLATE is active.
    pub fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// Turns on COMPRESS=DEFLATE in both directions, from the next octet read and written (call it
    /// after the reply that accepts COMPRESS was written). `pending` is what the client sent after
    /// its COMPRESS command and was read already: compressed octets, inflated with the rest.
    pub fn start_compression(&mut self, pending: &[u8]) {
        self.deflate = Some(Box::new(Deflate {
            tx: Compress::new(Compression::default(), false),
            rx: Decompress::new(false),
            rx_raw: pending.to_vec(),
            rx_pos: 0,
            tx_out: Vec::new(),
            tx_pos: 0,
            tx_dirty: false,
        }));
    }

    /// Acknowledges the client's next segments at once (Linux `TCP_QUICKACK`): used before a
    /// synchronizing literal, whose `+` the client waits for.
    pub fn quickack(&self) {
        let tcp = match &self.link {
            Link::Plain(Base::Tcp(t)) => t,
            Link::Tls(t) => match t.get_ref().0 {
                Base::Tcp(t) => t,
                _ => return,
            },
            _ => return,
        };
        let _ = tcp.set_quickack(true);
    }

    /// Runs the TLS handshake (implicit TLS at connect, or STARTTLS).
    pub async fn upgrade(&mut self) -> io::Result<()> {
        let acceptor = self
            .acceptor
            .clone()
            .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "no TLS certificate"))?;
        match std::mem::replace(&mut self.link, Link::Gone) {
            Link::Plain(base) if !matches!(base, Base::Unix(_)) => {
                self.link = Link::Tls(Box::new(acceptor.accept(base).await?));
                Ok(())
            }
            other => {
                self.link = other;
                Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "TLS is only offered on plain TCP",
                ))
            }
        }
    }
}

impl Transport for Conn {
    async fn start_tls(&mut self) -> io::Result<()> {
        self.upgrade().await
    }
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the connection failed its TLS handshake",
    )
}

macro_rules! base_dispatch {
    ($base:expr, $s:ident => $e:expr) => {
        match $base {
            Base::Tcp($s) => $e,
            Base::Unix($s) => $e,
            Base::Memory($s) => $e,
        }
    };
}

impl AsyncRead for Base {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        base_dispatch!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Base {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        base_dispatch!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        base_dispatch!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        base_dispatch!(self.get_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}

impl Link {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self {
            Link::Plain(b) => Pin::new(b).poll_read(cx, buf),
            Link::Tls(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
            Link::Gone => Poll::Ready(Err(gone())),
        }
    }
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Link::Plain(b) => Pin::new(b).poll_write(cx, buf),
            Link::Tls(t) => Pin::new(t.as_mut()).poll_write(cx, buf),
            Link::Gone => Poll::Ready(Err(gone())),
        }
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Link::Plain(b) => Pin::new(b).poll_flush(cx),
            Link::Tls(t) => Pin::new(t.as_mut()).poll_flush(cx),
            Link::Gone => Poll::Ready(Err(gone())),
        }
    }
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Link::Plain(b) => Pin::new(b).poll_shutdown(cx),
            Link::Tls(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
            Link::Gone => Poll::Ready(Ok(())),
        }
    }
}

impl Deflate {
    /// Writes out held compressed output; ready when all of it is written.
    fn poll_drain(&mut self, link: &mut Link, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.tx_pos < self.tx_out.len() {
            let n = ready!(link.poll_write(cx, &self.tx_out[self.tx_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.tx_pos += n;
        }
        self.tx_out.clear();
        self.tx_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Compresses `input` (all of it) into the held output, with a sync flush when asked.
    fn compress(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            self.tx_out.reserve(input.len() / 2 + 1024);
            let (in_before, len_before) = (self.tx.total_in(), self.tx_out.len());
            let spare = self.tx_out.capacity() - len_before;
            self.tx
                .compress_vec(input, &mut self.tx_out, flush)
                .map_err(io::Error::other)?;
            let used = usize::try_from(self.tx.total_in() - in_before).unwrap_or(input.len());
            input = &input[used.min(input.len())..];
            // A compressor that filled all the room it had may hold more output back.
            if input.is_empty() && self.tx_out.len() - len_before < spare {
                return Ok(());
            }
        }
    }

    fn poll_read(
        &mut self,
        link: &mut Link,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Bounded: every round either inflates into `buf`, or reads more compressed input.
        loop {
            if self.rx_pos < self.rx_raw.len() {
                let input = &self.rx_raw[self.rx_pos..];
                let out = buf.initialize_unfilled();
                let (in_before, out_before) = (self.rx.total_in(), self.rx.total_out());
                self.rx
                    .decompress(input, out, FlushDecompress::None)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                let used = usize::try_from(self.rx.total_in() - in_before).unwrap_or(input.len());
                let produced =
                    usize::try_from(self.rx.total_out() - out_before).unwrap_or_default();
                self.rx_pos += used;
                if self.rx_pos == self.rx_raw.len() {
                    self.rx_raw.clear();
                    self.rx_pos = 0;
                }
                if produced > 0 {
                    buf.advance(produced);
                    return Poll::Ready(Ok(()));
                }
                if used > 0 {
                    continue;
                }
            }
            // Need more compressed input.
            let mut raw = [0u8; 8 * 1024];
            let mut rb = ReadBuf::new(&mut raw);
            ready!(link.poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
            self.rx_raw.extend_from_slice(rb.filled());
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match &mut this.deflate {
            Some(z) => z.poll_read(&mut this.link, cx, buf),
            None => this.link.poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match &mut this.deflate {
            None => this.link.poll_write(cx, buf),
            Some(z) => {
                if z.tx_out.len() - z.tx_pos >= TX_HIGH_WATER {
                    ready!(z.poll_drain(&mut this.link, cx))?;
                }
                z.compress(buf, FlushCompress::None)?;
                z.tx_dirty = true;
                // Write what is ready; what the peer does not take now waits for the next call.
                if let Poll::Ready(Err(e)) = z.poll_drain(&mut this.link, cx) {
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(buf.len()))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(z) = &mut this.deflate {
            if std::mem::take(&mut z.tx_dirty) {
                // A sync flush after every burst, so the client never waits on buffered data.
                z.compress(&[], FlushCompress::Sync)?;
            }
            ready!(z.poll_drain(&mut this.link, cx))?;
        }
        this.link.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(z) = &mut this.deflate {
            ready!(z.poll_drain(&mut this.link, cx))?;
        }
        this.link.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The far end of a compressed connection, decoding with flate2 directly.
    fn inflate(data: &[u8]) -> Vec<u8> {
        let mut d = Decompress::new(false);
        let mut out = Vec::with_capacity(1 << 20);
        d.decompress_vec(data, &mut out, FlushDecompress::Sync)
            .unwrap();
        out
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut c = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(data.len() + 1024);
        c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        out
    }

    #[tokio::test]
    async fn compressed_both_ways_and_flushed_per_burst() {
        let (mut peer, ours) = tokio::io::duplex(1 << 20);
        let mut conn = Conn::memory(ours, None);
        conn.start_compression(&[]);
        let big = vec![b'x'; 100_000];
        conn.write_all(b"* OK hello\r\n").await.unwrap();
        conn.write_all(&big).await.unwrap();
        conn.flush().await.unwrap();
        let mut got = vec![0u8; 64 * 1024];
        let n = peer.read(&mut got).await.unwrap();
        let plain = inflate(&got[..n]);
        assert_eq!(&plain[..12], b"* OK hello\r\n");
        assert_eq!(plain.len(), 12 + big.len());

        peer.write_all(&deflate(b"a1 NOOP\r\n")).await.unwrap();
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"a1 NOOP\r\n");
    }

    #[tokio::test]
    async fn a_bomb_is_inflated_only_as_fast_as_it_is_read() {
        let (mut peer, ours) = tokio::io::duplex(1 << 20);
        let mut conn = Conn::memory(ours, None);
        conn.start_compression(&[]);
        let plain = b"a NOOP\r\n".repeat(250_000); // 2 MB of commands
        let packed = deflate(&plain);
        assert!(packed.len() < 20_000, "{}", packed.len());
        peer.write_all(&packed).await.unwrap();
        let mut buf = [0u8; 16 * 1024];
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n <= buf.len());
        // What is held inflated is what the reader asked for; the rest is still compressed.
        let z = conn.deflate.as_ref().unwrap();
        assert!(z.rx_raw.len() <= packed.len());
        let mut total = n;
        while total < plain.len() {
            total += conn.read(&mut buf).await.unwrap();
        }
        assert_eq!(total, plain.len());
    }
}
