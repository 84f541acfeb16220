//! A POP3 fetcher: logs in over TLS (implicit, or STLS), lists the unique-ids, streams each
//! message it has not fetched before into a directory, and optionally deletes what it fetched.
//!
//! ```text
//! FETCH_PASSWORD=secret cargo run -p mailwright-pop3-proto --features tokio --example fetch -- \
//!     --server pop.example.org --user alice --out ./mail
//! ```
//!
//! Messages land in `--out` as `<unique-id>.eml`; `--out/.uidl` remembers the unique-ids fetched
//! (RFC 1939 §7), so the next run fetches only new mail. The certificate is checked against the
//! system's roots, or against `--ca-file`.

use std::collections::HashSet;
use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use mailwright_pop3_proto::Uid;
use mailwright_pop3_proto::client::unseen;
use mailwright_pop3_proto::driver::{Client, Transport, Upgrade};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Tls {
    /// TLS from the first octet (port 995); the default.
    Implicit,
    /// A plain connection upgraded with STLS (port 110).
    Stls,
    /// No TLS at all (for a local test server only).
    None,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Auth {
    /// USER and PASS.
    User,
    /// AUTH PLAIN (RFC 5034).
    Plain,
}

/// Fetch new mail over POP3.
#[derive(Parser)]
struct Args {
    /// The POP3 server.
    #[arg(long)]
    server: String,
    /// The port (default: 995, or 110 with --tls stls or none).
    #[arg(long)]
    port: Option<u16>,
    /// How to use TLS.
    #[arg(long, value_enum, default_value = "implicit")]
    tls: Tls,
    /// PEM file of the certificates to trust instead of the system's.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// The user; the password comes from the FETCH_PASSWORD variable.
    #[arg(long)]
    user: String,
    /// How to log in.
    #[arg(long, value_enum, default_value = "user")]
    auth: Auth,
    /// The directory the messages go to.
    #[arg(long)]
    out: PathBuf,
    /// Delete the messages from the server once stored.
    #[arg(long)]
    delete: bool,
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

/// A file name for a unique-id (any of 0x21..0x7E): letters, digits, `.` and `-` kept, the rest
/// as `_xx`.
fn file_name(uid: &Uid) -> String {
    let mut name = String::new();
    for b in uid.as_str().bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            name.push(char::from(b));
        } else {
            let _ = write!(name, "_{b:02x}");
        }
    }
    name + ".eml"
}

async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let password = std::env::var("FETCH_PASSWORD").map_err(|_| "set FETCH_PASSWORD")?;
    tokio::fs::create_dir_all(&args.out).await?;
    let state = args.out.join(".uidl");
    let seen: HashSet<Uid> = match tokio::fs::read_to_string(&state).await {
        Ok(text) => text.lines().filter_map(|l| Uid::new(l).ok()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
        Err(e) => return Err(e.into()),
    };

    // The connection: TCP, upgraded in place to TLS by tokio-rustls.
    let port = args
        .port
        .unwrap_or(if args.tls == Tls::Implicit { 995 } else { 110 });
    let tcp = TcpStream::connect((args.server.as_str(), port)).await?;
    let connector = tls_connector(args.ca_file.as_deref())?;
    let name = ServerName::try_from(args.server.clone())?;
    let mut conn = Upgrade::new(tcp, move |tcp| connector.connect(name.clone(), tcp));
    if args.tls == Tls::Implicit {
        conn.start_tls().await?;
    }

    let mut client = Client::connect(conn).await?;
    client.capa().await?;
    if args.tls == Tls::Stls {
        client.stls().await?;
    }
    match args.auth {
        Auth::User => client.login(&args.user, password.as_bytes()).await?,
        Auth::Plain => client.auth_plain(&args.user, password.as_bytes()).await?,
    }

    let listing = client.uidl().await?;
    let new: Vec<_> = unseen(&listing, &seen).cloned().collect();
    let mut state_file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&state)
        .await?;
    let mut octets = 0;
    for entry in &new {
        // Streamed to a temporary name, renamed once complete.
        let path = args.out.join(file_name(&entry.uid));
        let partial = args.out.join(format!(".{}.part", file_name(&entry.uid)));
        let mut file = tokio::fs::File::create(&partial).await?;
        let mut message = client.retr(entry.message).await?;
        while let Some(chunk) = message.next().await? {
            octets += chunk.len();
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        tokio::fs::rename(&partial, &path).await?;
        state_file
            .write_all(format!("{}\n", entry.uid.as_str()).as_bytes())
            .await?;
        state_file.sync_all().await?;
        if args.delete {
            client.dele(entry.message).await?;
        }
        println!("fetched {} -> {}", entry.uid.as_str(), path.display());
    }
    // QUIT commits the deletions (RFC 1939 §6).
    client.quit().await?;
    println!(
        "{} new of {} messages, {octets} octets",
        new.len(),
        listing.len()
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fetch: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
