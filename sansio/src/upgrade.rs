//! A connection that upgrades itself to TLS in place (feature `tokio`): STARTTLS for any TLS
//! library, with no TLS dependency here.
//!
//! [`Upgrade`] holds a plain stream and the function that runs a handshake over it. Its
//! [`Transport::start_tls`] hands the plain stream to that function and reads and writes through
//! the TLS stream it returns from then on. With `tokio-rustls` the function is one call (the
//! READMEs of the protocol crates have this as a compiled example):
//!
//! ```text
//! let connector = tokio_rustls::TlsConnector::from(Arc::new(rustls_client_config));
//! let name = rustls::pki_types::ServerName::try_from("imap.example.org")?.to_owned();
//! let tcp = tokio::net::TcpStream::connect(("imap.example.org", 143)).await?;
//! let conn = Upgrade::new(tcp, move |tcp| connector.connect(name.clone(), tcp));
//! // STARTTLS: the client driver calls conn.start_tls() when the server accepts it.
//! // Implicit TLS (port 993): call conn.start_tls().await? before the greeting.
//! ```
//!
//! A server does the same with `tokio_rustls::TlsAcceptor::accept`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::driver::Transport;

/// A stream that is plain until [`Transport::start_tls`] runs the handshake function over it,
/// and TLS after; see the [module docs](self).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use mailwright_sansio::driver::Transport;
/// use mailwright_sansio::upgrade::Upgrade;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
///
/// // A stand-in for a TLS library: the "TLS stream" here is the same duplex stream.
/// let (a, mut b) = tokio::io::duplex(64);
/// let mut conn = Upgrade::new(a, |plain: DuplexStream| async move { Ok(plain) });
/// assert!(!conn.is_tls());
/// conn.start_tls().await?;
/// assert!(conn.is_tls());
/// conn.write_all(b"over TLS").await?;
/// let mut got = [0u8; 8];
/// b.read_exact(&mut got).await?;
/// assert_eq!(&got, b"over TLS");
/// // A second upgrade is refused.
/// assert!(conn.start_tls().await.is_err());
/// # Ok(()) }
/// ```
pub struct Upgrade<S, T, F> {
    state: State<S, T>,
    handshake: F,
}

enum State<S, T> {
    Plain(S),
    Tls(T),
    /// A handshake failed or was cut short: the stream is gone.
    Broken,
}

impl<S, T, F> std::fmt::Debug for Upgrade<S, T, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Plain(_) => "plain",
            State::Tls(_) => "tls",
            State::Broken => "broken",
        };
        f.debug_struct("Upgrade")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<S, T, F> Upgrade<S, T, F> {
    /// A plain `stream`; `handshake` runs TLS over it when [`Transport::start_tls`] is called.
    pub fn new(stream: S, handshake: F) -> Self {
        Self {
            state: State::Plain(stream),
            handshake,
        }
    }

    /// Whether the handshake has run.
    pub fn is_tls(&self) -> bool {
        matches!(self.state, State::Tls(_))
    }

    /// The TLS stream, once the handshake has run (for the peer's certificate, the protocol
    /// version ...).
    pub fn tls(&self) -> Option<&T> {
        match &self.state {
            State::Tls(t) => Some(t),
            _ => None,
        }
    }

    /// The plain stream, before the handshake.
    pub fn plain(&self) -> Option<&S> {
        match &self.state {
            State::Plain(s) => Some(s),
            _ => None,
        }
    }
}

fn broken() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the TLS handshake failed; the connection is closed",
    )
}

impl<S, T, F> AsyncRead for Upgrade<S, T, F>
where
    S: AsyncRead + Unpin,
    T: AsyncRead + Unpin,
    F: Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_read(cx, buf),
            State::Tls(t) => Pin::new(t).poll_read(cx, buf),
            State::Broken => Poll::Ready(Err(broken())),
        }
    }
}

impl<S, T, F> AsyncWrite for Upgrade<S, T, F>
where
    S: AsyncWrite + Unpin,
    T: AsyncWrite + Unpin,
    F: Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_write(cx, buf),
            State::Tls(t) => Pin::new(t).poll_write(cx, buf),
            State::Broken => Poll::Ready(Err(broken())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_flush(cx),
            State::Tls(t) => Pin::new(t).poll_flush(cx),
            State::Broken => Poll::Ready(Err(broken())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_shutdown(cx),
            State::Tls(t) => Pin::new(t).poll_shutdown(cx),
            State::Broken => Poll::Ready(Ok(())),
        }
    }
}

impl<S, T, F, H> Transport for Upgrade<S, T, F>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    T: AsyncRead + AsyncWrite + Unpin + Send,
    F: FnMut(S) -> H + Unpin + Send,
    H: Future<Output = io::Result<T>> + Send,
{
    /// Runs the handshake function over the plain stream. Fails when TLS is active already
    /// ([`io::ErrorKind::Unsupported`]); a failed handshake leaves the connection closed.
    async fn start_tls(&mut self) -> io::Result<()> {
        match std::mem::replace(&mut self.state, State::Broken) {
            State::Plain(plain) => {
                let tls = (self.handshake)(plain).await?;
                self.state = State::Tls(tls);
                Ok(())
            }
            State::Tls(tls) => {
                self.state = State::Tls(tls);
                Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "TLS is active already",
                ))
            }
            State::Broken => Err(broken()),
        }
    }
}
