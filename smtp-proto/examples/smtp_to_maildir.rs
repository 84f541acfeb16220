//! A minimal SMTP server that stores every message it accepts in one Maildir: the crate's
//! server machine on the shared driver, with STARTTLS when given a certificate.
//!
//! ```text
//! cargo run -p mailwright-smtp-proto --features tokio --example smtp_to_maildir -- \
//!     --listen 127.0.0.1:2525 --maildir /tmp/inbox --cert cert.pem --key key.pem
//! swaks --server 127.0.0.1:2525 --tls --to me@example.org
//! ```
//!
//! Ctrl-C (SIGINT) stops it: no new connections, and each session in progress ends with the
//! protocol's goodbye (`421 4.3.2`) at the next point SMTP allows.

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use mailwright_maildir::Maildir;
use mailwright_smtp_proto::driver::{
    Driver, DriverConfig, Link, Next, Service, Transport, Upgrade,
};
use mailwright_smtp_proto::{
    EnhancedCode, Mode, Reply, ServerConfig, ServerEvent, ServerSession, UsageError,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};

/// Receive mail over SMTP into a Maildir.
#[derive(Parser)]
struct Args {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:2525")]
    listen: SocketAddr,
    /// The Maildir (created if missing).
    #[arg(long)]
    maildir: PathBuf,
    /// Our host name, in the greeting.
    #[arg(long, default_value = "localhost")]
    hostname: String,
    /// Certificate chain (PEM) to offer STARTTLS with; with --key.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Largest message accepted, in octets (advertised as SIZE).
    #[arg(long, default_value_t = 35 * 1024 * 1024)]
    max_size: u64,
}

/// The application's side of one SMTP session: collects the message and stores it.
struct ToMaildir {
    maildir: Maildir,
    from: String,
    rcpts: usize,
    message: Vec<u8>,
}

fn misuse(e: UsageError) -> io::Error {
    io::Error::other(e)
}

impl<T: Transport> Service<ServerSession, T> for ToMaildir {
    async fn on_event(
        &mut self,
        session: &mut ServerSession,
        event: ServerEvent,
        _link: &mut Link<'_, T>,
    ) -> io::Result<Next> {
        match event {
            // Flush the 220, run the handshake, then the session reads again.
            ServerEvent::StartTls { .. } => return Ok(Next::StartTls),
            ServerEvent::Mail { from, .. } => {
                self.from = from.to_string();
                self.rcpts = 0;
                session.accept().map_err(misuse)?;
            }
            ServerEvent::Rcpt { .. } => {
                // Every recipient shares the one Maildir.
                self.rcpts += 1;
                session.accept().map_err(misuse)?;
            }
            ServerEvent::DataStart => self.message.clear(),
            ServerEvent::DataChunk(chunk) => self.message.extend_from_slice(&chunk),
            ServerEvent::DataEnd => {
                // RFC 5321 §4.4: the final delivery adds the Return-Path.
                let mut stored = format!("Return-Path: {}\r\n", self.from).into_bytes();
                stored.append(&mut self.message);
                let maildir = self.maildir.clone();
                // Delivery fsyncs: keep it off the async threads.
                let delivered = tokio::task::spawn_blocking(move || maildir.deliver(&stored))
                    .await
                    .map_err(io::Error::other)?;
                match delivered {
                    Ok(d) => {
                        println!(
                            "stored {} from {} for {} recipient(s)",
                            d.unique(),
                            self.from,
                            self.rcpts
                        );
                        let text = format!("Ok: stored as {}", d.unique());
                        let ok = Reply::new(250, EnhancedCode::new(2, 0, 0).ok(), &text);
                        session.accept_with(ok.map_err(io::Error::other)?)
                    }
                    Err(e) => {
                        eprintln!("smtp_to_maildir: delivery failed: {e}");
                        let code = EnhancedCode::new(4, 3, 0).ok();
                        session.reject(Reply::new(451, code, "Local error in processing").unwrap())
                    }
                }
                .map_err(misuse)?;
            }
            // EHLO, and anything else that waits for a decision: yes.
            e if e.needs_decision() => session.accept().map_err(misuse)?,
            // QUIT, a closed session, an aborted transfer: the machine has answered.
            _ => {}
        }
        Ok(Next::Continue)
    }
}

/// A TLS acceptor for `cert` and `key`.
fn tls_acceptor(
    cert: &PathBuf,
    key: &PathBuf,
) -> Result<tokio_rustls::TlsAcceptor, Box<dyn Error>> {
    let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Runs one session until it ends or `stop` says the server is going down.
async fn session(
    tcp: TcpStream,
    config: ServerConfig,
    tls: Option<tokio_rustls::TlsAcceptor>,
    maildir: Maildir,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> io::Result<()> {
    // STARTTLS upgrades the TCP stream in place; offered only with a certificate.
    let mut conn = Upgrade::new(tcp, move |tcp| {
        let tls = tls.clone();
        async move {
            match tls {
                Some(acceptor) => acceptor.accept(tcp).await,
                None => Err(io::ErrorKind::Unsupported.into()),
            }
        }
    });
    let mut service = ToMaildir {
        maildir,
        from: String::new(),
        rcpts: 0,
        message: Vec::new(),
    };
    let shutdown = async move {
        let _ = stop.wait_for(|stopping| *stopping).await;
    };
    Driver::new(DriverConfig::default())
        .run(
            &mut ServerSession::new(config),
            &mut conn,
            &mut service,
            shutdown,
        )
        .await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let maildir = Maildir::create(&args.maildir)?;
    let tls = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
        _ => None,
    };
    let mut config = ServerConfig::new(Mode::Smtp, args.hostname.as_str());
    config.extensions.starttls = tls.is_some();
    config.limits.max_message_size = Some(args.max_size);

    let listener = TcpListener::bind(args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("smtp_to_maildir: accept: {e}");
                        continue;
                    }
                };
                let (config, tls) = (config.clone(), tls.clone());
                let session = session(tcp, config, tls, maildir.clone(), stopping.clone());
                sessions.spawn(async move {
                    if let Err(e) = session.await {
                        eprintln!("smtp_to_maildir: {peer}: {e}");
                    }
                });
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    // Going down: every session says goodbye and closes; wait for them.
    drop(listener);
    stop.send_replace(true);
    while sessions.join_next().await.is_some() {}
    println!("stopped");
    Ok(())
}
