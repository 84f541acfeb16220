//! The reference mail server: `cargo run --example full_server`.
//!
//! Zero config: the first run creates `./mailwright-data` (configuration, a self-signed certificate
//! for localhost, the users, domains and aliases files) and listens on loopback development ports.
//! The same binary administers the data directory, also while the server runs:
//!
//! ```text
//! cargo run --example full_server -- user add alice@localhost
//! cargo run --example full_server -- --help
//! ```

use std::process::ExitCode;

use clap::Parser;
use mailwright::cli::{Cli, Command, run_admin};
use mailwright::core::datadir;
use mailwright::server::Server;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None | Some(Command::Serve) => serve(&cli),
        Some(command) => run_admin(&cli.data_dir, cli.config.as_deref(), command),
    }
}

fn serve(cli: &Cli) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        // Colour only on a terminal: a log file or the journal gets plain key=value lines.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stdout())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    let created = match datadir::init(&cli.data_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "full_server: cannot create data directory {}: {e}",
                cli.data_dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    for path in &created.paths {
        println!("created {}", path.display());
    }
    let config = match datadir::load_config(&cli.data_dir, cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("full_server: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A development certificate naming the configured host, if the configured one is missing.
    match datadir::ensure_certificate(&cli.data_dir, &config) {
        Ok(Some((cert, key))) => println!("created {}\ncreated {}", cert.display(), key.display()),
        Ok(None) => {}
        Err(e) => {
            eprintln!("full_server: cannot create a certificate: {e}");
            return ExitCode::FAILURE;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("full_server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let server = match Server::bind(&cli.data_dir, config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("full_server: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("Mailwright {} serving data directory {}", env!("CARGO_PKG_VERSION"), cli.data_dir.display());
        for (service, addr) in server.local_addrs() {
            println!("  {service:<12} {addr}");
        }
        if let Some(path) = server.lmtp_socket() {
            println!("  {:<12} {}", "lmtp (unix)", path.display());
        }
        let users = server.core().directory.passwd().users().unwrap_or_default();
        if users.is_empty() {
            println!(
                "No users yet. Add one (in another terminal, while this runs):\n  cargo run --example full_server -- user add you@localhost"
            );
        }
        server.run(shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => {}
    }
}
