//! The async client (`driver::Client`) against the crate's own server machine run by the shared
//! `Driver`, over `tokio::io::duplex`: STARTTLS with rustls on both sides (through `Upgrade`),
//! AUTH PLAIN and LOGIN, pipelining as offered, per-recipient results, refusals, and a reply
//! timeout under tokio's paused clock.
#![cfg(feature = "tokio")]

#[path = "support/tls.rs"]
mod tls;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailwright_smtp_proto::client::{ClientError, Stage};
use mailwright_smtp_proto::driver::{
    self, Client, Driver, DriverConfig, Error, Link, Next, NoTls, Service, Transport,
};
use mailwright_smtp_proto::{
    ClientConfig, Credentials, Envelope, ForwardPath, Host, Mailbox, Mechanism, Mode, Reply,
    ReversePath, ServerConfig, ServerEvent, ServerSession, TlsPolicy,
};
use tokio::io::DuplexStream;

/// What the test server saw.
#[derive(Debug, Default)]
struct Seen {
    /// Accepted messages: recipients and content.
    messages: Vec<(Vec<String>, Vec<u8>)>,
    /// Logins: user names of accepted credentials, with the mechanism.
    logins: Vec<(String, String)>,
    /// The server's events, by name, in order.
    events: Vec<String>,
    tls: bool,
}

/// A submission server: users `alice`/`secret`; `nobody@...` does not exist; the decision on the
/// end of data is held for `hold_data_end` (to make a client time out).
#[derive(Clone, Default)]
struct Sink {
    seen: Arc<Mutex<Seen>>,
    rcpts: Vec<String>,
    body: Vec<u8>,
    hold_data_end: Option<Duration>,
}

fn misuse(e: mailwright_smtp_proto::UsageError) -> io::Error {
    io::Error::other(e)
}

impl<T: Transport> Service<ServerSession, T> for Sink {
    async fn on_event(
        &mut self,
        s: &mut ServerSession,
        event: ServerEvent,
        link: &mut Link<'_, T>,
    ) -> io::Result<Next> {
        let name = format!("{event:?}");
        let name = name.split([' ', '(', '{']).next().unwrap_or("").to_owned();
        self.seen.lock().unwrap().events.push(name);
        match event {
            ServerEvent::StartTls { .. } => {
                self.seen.lock().unwrap().tls = true;
                return Ok(Next::StartTls);
            }
            ServerEvent::AuthCredentials {
                mechanism,
                username,
                password,
                ..
            } => {
                if username == "alice" && password.expose() == "secret" {
                    let mut seen = self.seen.lock().unwrap();
                    seen.logins.push((username, mechanism.to_string()));
                    s.accept().map_err(misuse)?;
                } else {
                    let no = Reply::new(535, None, "Authentication failed").unwrap();
                    s.reject(no).map_err(misuse)?;
                }
            }
            ServerEvent::Rcpt { to, .. } => {
                let to = to.to_string();
                if to.starts_with("<nobody@") {
                    s.reject(Reply::new(550, None, "No such user").unwrap())
                        .map_err(misuse)?;
                } else {
                    self.rcpts.push(to);
                    s.accept().map_err(misuse)?;
                }
            }
            ServerEvent::DataChunk(chunk) => self.body.extend_from_slice(&chunk),
            ServerEvent::DataEnd => {
                if let Some(hold) = self.hold_data_end {
                    // The replies to MAIL and RCPT go out; the one to the data waits.
                    link.flush(s).await?;
                    tokio::time::sleep(hold).await;
                }
                let message = (
                    std::mem::take(&mut self.rcpts),
                    std::mem::take(&mut self.body),
                );
                self.seen.lock().unwrap().messages.push(message);
                s.accept().map_err(misuse)?;
            }
            ServerEvent::Mail { .. } => {
                self.rcpts.clear();
                s.accept().map_err(misuse)?;
            }
            e if e.needs_decision() => s.accept().map_err(misuse)?,
            _ => {}
        }
        Ok(Next::Continue)
    }
}

fn server_config() -> ServerConfig {
    let mut config = ServerConfig::new(Mode::Submission, "mx.example.org");
    config.extensions.starttls = true;
    config.extensions.auth = vec![Mechanism::plain(), Mechanism::login()];
    config
}

fn client_config() -> ClientConfig {
    let mut config = ClientConfig::new(Mode::Smtp, Host::try_from("client.example.com").unwrap());
    config.credentials = Some(Credentials::new("alice", "secret"));
    config
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope::new(
        ReversePath::Mailbox(Mailbox::try_from("alice@example.com").unwrap()),
        rcpts
            .iter()
            .map(|r| ForwardPath::Mailbox(Mailbox::try_from(*r).unwrap())),
    )
}

/// Both ends of a duplex pipe, each able to run its side of a TLS handshake.
fn tls_pair() -> (
    tls::Tls<tokio_rustls::client::TlsStream<DuplexStream>>,
    tls::Tls<tokio_rustls::server::TlsStream<DuplexStream>>,
) {
    tls::Pki::new().duplex()
}

/// Runs the server machine on the shared driver over `transport`.
fn serve<T: Transport + 'static>(
    transport: T,
    config: ServerConfig,
    sink: Sink,
) -> tokio::task::JoinHandle<io::Result<()>> {
    tokio::spawn(async move {
        let mut transport = transport;
        let mut sink = sink;
        Driver::new(DriverConfig::default())
            .run(
                &mut ServerSession::new(config),
                &mut transport,
                &mut sink,
                std::future::pending(),
            )
            .await
    })
}

#[tokio::test]
async fn starttls_auth_pipelining_and_per_recipient_results() {
    let (client_io, server_io) = tls_pair();
    let sink = Sink::default();
    let seen = sink.seen.clone();
    let server = serve(server_io, server_config(), sink);

    let mut client = Client::connect(client_io, client_config()).await.unwrap();
    assert!(client.tls_active() && client.transport().is_tls());
    let result = client
        .send(
            envelope(&["bob@example.org", "nobody@example.org", "carol@example.org"]),
            &b"Subject: one\n\nline one\n.leading dot\n"[..],
        )
        .await
        .unwrap();
    assert!(result.delivered());
    let codes: Vec<u16> = result.rcpts.iter().map(|r| r.code().get()).collect();
    assert_eq!(codes, [250, 550, 250]);
    assert_eq!(result.mail.as_ref().unwrap().code().get(), 250);

    // A second message in the same session; every recipient refused: nothing is sent.
    let result = client
        .send(
            envelope(&["nobody@example.org"]),
            &b"Subject: two\n\nx\n"[..],
        )
        .await
        .unwrap();
    assert!(!result.delivered());
    assert_eq!(result.rcpts[0].code().get(), 550);
    client.quit().await.unwrap();
    server.await.unwrap().unwrap();

    let seen = seen.lock().unwrap();
    assert!(seen.tls);
    assert_eq!(seen.logins, [("alice".to_owned(), "PLAIN".to_owned())]);
    assert_eq!(seen.messages.len(), 1);
    let (rcpts, body) = &seen.messages[0];
    assert_eq!(rcpts, &["<bob@example.org>", "<carol@example.org>"]);
    assert_eq!(body, b"Subject: one\r\n\r\nline one\r\n.leading dot\r\n");
}

#[tokio::test]
async fn auth_login_without_pipelining_or_chunking() {
    let (client_io, server_io) = tls_pair();
    let mut config = server_config();
    config.extensions.auth = vec![Mechanism::login()];
    config.extensions.pipelining = false;
    config.extensions.chunking = false;
    let sink = Sink::default();
    let seen = sink.seen.clone();
    let server = serve(server_io, config, sink);
    let result = driver::send(
        client_io,
        client_config(),
        envelope(&["bob@example.org", "nobody@example.org"]),
        &b"Subject: login\r\n\r\nbody\r\n"[..],
    )
    .await
    .unwrap();
    assert!(result.delivered());
    assert_eq!(result.rcpts.len(), 2);
    assert!(!result.rcpts[1].is_positive());
    server.await.unwrap().unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.logins, [("alice".to_owned(), "LOGIN".to_owned())]);
    assert_eq!(seen.messages[0].1, b"Subject: login\r\n\r\nbody\r\n");
}

/// A plain server end that records what each read returned.
struct Recording {
    io: DuplexStream,
    reads: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl tokio::io::AsyncRead for Recording {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.io).poll_read(cx, buf);
        if polled.is_ready() && buf.filled().len() > before {
            let got = buf.filled()[before..].to_vec();
            self.reads.lock().unwrap().push(got);
        }
        polled
    }
}

impl tokio::io::AsyncWrite for Recording {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Transport for Recording {
    async fn start_tls(&mut self) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

#[tokio::test]
async fn the_transaction_is_pipelined_when_the_server_offers_it() {
    for offered in [true, false] {
        let (c, s) = tokio::io::duplex(64 * 1024);
        let reads = Arc::new(Mutex::new(Vec::new()));
        let mut config = server_config();
        config.extensions.starttls = false;
        config.extensions.auth.clear();
        config.extensions.pipelining = offered;
        config.extensions.chunking = false;
        config.mode = Mode::Smtp;
        let recording = Recording {
            io: s,
            reads: reads.clone(),
        };
        let server = serve(recording, config, Sink::default());
        let mut client_config = client_config();
        client_config.credentials = None;
        let result = driver::send(
            NoTls(c),
            client_config,
            envelope(&["bob@example.org", "carol@example.org"]),
            &b"Subject: pipe\r\n\r\nbody\r\n"[..],
        )
        .await
        .unwrap();
        assert!(result.delivered());
        server.await.unwrap().unwrap();
        let reads: Vec<String> = reads
            .lock()
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect();
        let mail = reads.iter().find(|r| r.starts_with("MAIL")).unwrap();
        if offered {
            // RFC 2920 §3.1: MAIL, the RCPTs and DATA go in one group.
            assert_eq!(
                mail,
                "MAIL FROM:<alice@example.com> SIZE=23\r\nRCPT TO:<bob@example.org>\r\n\
                 RCPT TO:<carol@example.org>\r\nDATA\r\n"
            );
        } else {
            assert_eq!(mail, "MAIL FROM:<alice@example.com> SIZE=23\r\n");
            assert!(reads.contains(&"RCPT TO:<carol@example.org>\r\n".to_owned()));
        }
    }
}

#[tokio::test]
async fn refused_credentials_and_missing_starttls_are_session_errors() {
    let (client_io, server_io) = tls_pair();
    let server = serve(server_io, server_config(), Sink::default());
    let mut config = client_config();
    config.credentials = Some(Credentials::new("alice", "wrong"));
    let err = Client::connect(client_io, config).await.unwrap_err();
    assert!(
        matches!(err, Error::Session(ClientError::Auth(ref r)) if r.code().get() == 535),
        "{err:?}"
    );
    drop(server);

    // STARTTLS required, the server does not offer it.
    let (c, s) = tokio::io::duplex(4096);
    let mut config = server_config();
    config.extensions.starttls = false;
    let _server = serve(NoTls(s), config, Sink::default());
    let mut config = client_config();
    config.starttls = TlsPolicy::Required;
    let err = Client::connect(NoTls(c), config).await.unwrap_err();
    assert!(
        matches!(err, Error::Session(ClientError::TlsNotOffered)),
        "{err:?}"
    );

    // STARTTLS offered, but this connection cannot run a handshake.
    let (c, s) = tokio::io::duplex(4096);
    let _server = serve(NoTls(s), server_config(), Sink::default());
    let err = Client::connect(NoTls(c), client_config())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Io(ref e) if e.kind() == io::ErrorKind::Unsupported),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_dropped_send_is_finished_by_the_next_call() {
    let (c, s) = tokio::io::duplex(64 * 1024);
    let mut config = server_config();
    config.extensions.starttls = false;
    config.extensions.auth_requires_tls = false;
    let sink = Sink::default();
    let seen = sink.seen.clone();
    let server = serve(NoTls(s), config, sink);
    let mut client = Client::connect(NoTls(c), client_config()).await.unwrap();
    tokio::select! {
        biased;
        _ = client.send(envelope(&["bob@example.org"]), &b"Subject: first\r\n\r\n"[..]) => {
            panic!("the replies cannot be there yet")
        }
        () = std::future::ready(()) => {}
    }
    let result = client
        .send(
            envelope(&["carol@example.org"]),
            &b"Subject: second\r\n\r\n"[..],
        )
        .await
        .unwrap();
    assert!(result.delivered());
    client.quit().await.unwrap();
    server.await.unwrap().unwrap();
    // The first transaction ran to its end too.
    let seen = seen.lock().unwrap();
    let rcpts: Vec<&str> = seen.messages.iter().map(|m| m.0[0].as_str()).collect();
    assert_eq!(rcpts, ["<bob@example.org>", "<carol@example.org>"]);
}

#[tokio::test(start_paused = true)]
async fn the_machine_times_out_the_reply_to_the_data_in_virtual_time() {
    let (c, s) = tokio::io::duplex(64 * 1024);
    let mut config = server_config();
    config.extensions.starttls = false;
    config.extensions.auth_requires_tls = false;
    let sink = Sink {
        hold_data_end: Some(Duration::from_mins(11)),
        ..Sink::default()
    };
    let _server = serve(NoTls(s), config, sink);
    let mut client = Client::connect(NoTls(c), client_config()).await.unwrap();
    let start = tokio::time::Instant::now();
    let err = client
        .send(
            envelope(&["bob@example.org"]),
            &b"Subject: slow\r\n\r\n"[..],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Session(ClientError::Timeout(Stage::DataEnd))),
        "{err:?}"
    );
    // RFC 5321 §4.5.3.2.6: ten minutes for the reply to the end of the data.
    assert_eq!(start.elapsed(), Duration::from_mins(10));
    // The session is over.
    assert!(matches!(
        client.send(envelope(&["bob@example.org"]), &b"x"[..]).await,
        Err(Error::Usage(_))
    ));
}
