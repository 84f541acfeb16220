//! Submits one message (RFC 6409) over STARTTLS (or implicit TLS) with AUTH, and prints the
//! server's reply to each recipient.
//!
//! ```text
//! SUBMIT_PASSWORD=secret cargo run -p mailwright-smtp-proto --features tokio \
//!     --example submit -- --server smtp.example.org --user alice \
//!     --from alice@example.org --to bob@example.net message.eml
//! ```
//!
//! The certificate is checked against the system's roots, or against `--ca-file`. The exit
//! status is 0 when every recipient was accepted, 1 otherwise.

use std::error::Error;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use mailwright_smtp_proto::driver::{self, Upgrade};
use mailwright_smtp_proto::{
    ClientConfig, Credentials, Envelope, ForwardPath, Host, Mailbox, Mode, Reply, ReversePath,
    TlsPolicy,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Tls {
    /// Plain connection upgraded with STARTTLS (port 587); the default.
    Starttls,
    /// TLS from the first octet (port 465).
    Implicit,
    /// No TLS at all (for a local test server only).
    None,
}

/// Submit a message over SMTP with STARTTLS and AUTH.
#[derive(Parser)]
struct Args {
    /// The submission server.
    #[arg(long)]
    server: String,
    /// The port (default: 587, or 465 with --tls implicit).
    #[arg(long)]
    port: Option<u16>,
    /// How to use TLS.
    #[arg(long, value_enum, default_value = "starttls")]
    tls: Tls,
    /// PEM file of the certificates to trust instead of the system's.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// User to authenticate as; the password comes from the SUBMIT_PASSWORD variable.
    #[arg(long)]
    user: Option<String>,
    /// Envelope sender.
    #[arg(long)]
    from: String,
    /// Envelope recipient (repeat for more).
    #[arg(long, required = true)]
    to: Vec<String>,
    /// Our name in EHLO.
    #[arg(long, default_value = "localhost")]
    helo: String,
    /// The message (RFC 5322, CRLF or LF line ends); standard input when absent.
    message: Option<PathBuf>,
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

async fn run(args: Args) -> Result<bool, Box<dyn Error>> {
    // Read before connecting: the session does not wait on a slow pipe.
    let message = match &args.message {
        Some(path) => std::fs::read(path)?,
        None => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            buf
        }
    };
    let envelope = Envelope::new(
        ReversePath::Mailbox(Mailbox::try_from(args.from.as_str())?),
        args.to
            .iter()
            .map(|to| Mailbox::try_from(to.as_str()).map(ForwardPath::Mailbox))
            .collect::<Result<Vec<_>, _>>()?,
    );

    let mut config = ClientConfig::new(Mode::Submission, Host::try_from(args.helo.as_str())?);
    config.starttls = match args.tls {
        Tls::Starttls => TlsPolicy::Required,
        Tls::Implicit | Tls::None => TlsPolicy::Never,
    };
    config.tls_active = args.tls == Tls::Implicit;
    if let Some(user) = &args.user {
        let password = std::env::var("SUBMIT_PASSWORD")
            .map_err(|_| "--user needs the password in SUBMIT_PASSWORD")?;
        config.credentials = Some(Credentials::new(user.as_str(), password));
    }

    // The connection: TCP, upgraded in place to TLS by tokio-rustls when the session asks.
    let port = args
        .port
        .unwrap_or(if args.tls == Tls::Implicit { 465 } else { 587 });
    let tcp = TcpStream::connect((args.server.as_str(), port)).await?;
    let connector = tls_connector(args.ca_file.as_deref())?;
    let name = ServerName::try_from(args.server.clone())?;
    let mut conn = Upgrade::new(tcp, move |tcp| connector.connect(name.clone(), tcp));
    if args.tls == Tls::Implicit {
        driver::Transport::start_tls(&mut conn).await?;
    }

    let result = driver::send(conn, config, envelope, message).await?;
    for (to, reply) in args.to.iter().zip(&result.rcpts) {
        let verdict = if reply.is_positive() {
            "accepted"
        } else {
            "refused"
        };
        println!("{verdict} <{to}>: {}", one_line(reply));
    }
    for reply in &result.data {
        println!("message: {}", one_line(reply));
    }
    if let Some(mail) = result.mail.as_ref().filter(|r| !r.is_positive()) {
        println!("sender refused: {}", one_line(mail));
    }
    Ok(result.delivered() && result.rcpts.iter().all(Reply::is_positive))
}

/// A reply on one line: `250 2.0.0 Ok: queued as ...`.
fn one_line(reply: &Reply) -> String {
    reply.to_string().replace("\r\n", " ")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("submit: {e}");
            ExitCode::FAILURE
        }
    }
}
