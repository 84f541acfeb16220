//! Lists the subjects of the last messages of a mailbox: IMAP over implicit TLS or STARTTLS,
//! LOGIN, SELECT, and a FETCH of their ENVELOPE.
//!
//! ```text
//! IMAP_PASSWORD=secret cargo run -p mailwright-imap-proto --features tokio \
//!     --example list_subjects -- --server imap.example.org --user alice --last 10
//! ```
//!
//! The certificate is checked against the system's roots, or against `--ca-file`. Subjects are
//! printed as the server sends them (RFC 2047 encoded words are not decoded).

use std::error::Error;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use mailwright_imap_proto::driver::{Client, Transport, Upgrade};
use mailwright_imap_proto::types::command::{FetchAttribute, FetchItems};
use mailwright_imap_proto::types::sequence::{SeqItem, SeqNumber, SequenceSet};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Tls {
    /// TLS from the first octet (port 993); the default.
    Implicit,
    /// A plain connection upgraded with STARTTLS (port 143).
    Starttls,
    /// No TLS at all (for a local test server only).
    None,
}

/// List the subjects of the last messages of a mailbox.
#[derive(Parser)]
struct Args {
    /// The IMAP server.
    #[arg(long)]
    server: String,
    /// The port (default: 993, or 143 with --tls starttls or none).
    #[arg(long)]
    port: Option<u16>,
    /// How to use TLS.
    #[arg(long, value_enum, default_value = "implicit")]
    tls: Tls,
    /// PEM file of the certificates to trust instead of the system's.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// The user; the password comes from the IMAP_PASSWORD variable.
    #[arg(long)]
    user: String,
    /// The mailbox.
    #[arg(long, default_value = "INBOX")]
    mailbox: String,
    /// How many of the last messages.
    #[arg(long, default_value_t = 10)]
    last: u32,
}

/// A TLS client configuration that trusts `ca_file`, or the system's roots.
fn tls_connector(ca_file: Option<&Path>) -> Result<tokio_rustls::TlsConnector, Box<dyn Error>> {
    let ca_file = ca_file.unwrap_or(Path::new("/etc/ssl/certs/ca-certificates.crt"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)? {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let password = std::env::var("IMAP_PASSWORD").map_err(|_| "set IMAP_PASSWORD")?;

    // The connection: TCP, upgraded in place to TLS by tokio-rustls.
    let port = args
        .port
        .unwrap_or(if args.tls == Tls::Implicit { 993 } else { 143 });
    let tcp = TcpStream::connect((args.server.as_str(), port)).await?;
    let connector = tls_connector(args.ca_file.as_deref())?;
    let name = ServerName::try_from(args.server.clone())?;
    let mut conn = Upgrade::new(tcp, move |tcp| connector.connect(name.clone(), tcp));
    if args.tls == Tls::Implicit {
        conn.start_tls().await?;
    }

    let mut client = Client::connect(conn).await?;
    if args.tls == Tls::Starttls {
        client.starttls().await?;
    }
    client.login(&args.user, &password).await?;
    let mailbox = client.select(&args.mailbox).await?;
    println!("{}: {} messages", args.mailbox, mailbox.exists);

    if let (Some(last), Some(wanted)) =
        (NonZeroU32::new(mailbox.exists), NonZeroU32::new(args.last))
    {
        let first = NonZeroU32::new(last.get().saturating_sub(wanted.get() - 1)).unwrap_or(last);
        let set = SequenceSet::try_from(vec![SeqItem::Range(
            SeqNumber::Value(first),
            SeqNumber::Value(last),
        )])?;
        let mut fetch = client
            .fetch(set, FetchItems::Single(FetchAttribute::Envelope))
            .await?;
        while let Some(message) = fetch.next().await? {
            let subject = message
                .envelope()
                .and_then(|e| e.subject.as_bytes())
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            println!("{:>6}  {subject}", message.seq);
        }
    }
    client.logout().await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("list_subjects: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
