//! IMAP concurrency checker: `--sessions` sessions (at least 10 by default) of one user share
//! one mailbox and run a random mix of APPEND, STORE, EXPUNGE, FETCH, COPY, SEARCH and NOOP for
//! `--duration` seconds; every `--checkpoint` seconds all of them stop, NOOP, and must agree on
//! the message count, the UIDs and every message's flags. Any NO, BAD, BYE or lost connection
//! fails the run, as does any broken rule (see `support/imap_check.rs` for the list). Works
//! against any IMAP4rev1 server with UIDPLUS (our `full_server`, Dovecot ...).
//!
//! ```text
//! cargo run --example imap_check -- --port 2143 --user alice@localhost --password pw \
//!     --sessions 10 --duration 10 --checkpoint 1 --seed 7
//! ```
//!
//! Dovecot refuses more than `mail_max_userip_connections` (10 by default) sessions of one
//! user from one address; run it on its `mdbox` format, as `tests/server_imap_load.rs` does:
//! its Maildir code gives messages new UIDs under this much concurrency.
//!
//! Output: the failures and disagreements found (20 of each at most), then one line
//! `RESULT commands=N checkpoints=K expungeissued=E failures=F disagreements=D`. Exit code 0
//! when F and D are 0, 1 otherwise, 2 on bad arguments.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

#[path = "support/imap_check.rs"]
mod imap_check;
#[path = "support/imap_check_model.rs"]
mod imap_check_model;
#[path = "support/imap_check_ops.rs"]
mod imap_check_ops;
#[allow(dead_code)]
#[path = "support/imap_client.rs"]
mod imap_client;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(about = "IMAP concurrency checker (see the file's docs)")]
struct Args {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long, default_value_t = 2143)]
    port: u16,
    /// The user every session logs in as.
    #[arg(long)]
    user: String,
    /// Its password.
    #[arg(long)]
    password: String,
    /// The shared mailbox.
    #[arg(long, default_value = "INBOX")]
    mailbox: String,
    /// The mailbox some COPYs go to (created when missing).
    #[arg(long, default_value = "Check-side")]
    side_mailbox: String,
    /// Concurrent sessions.
    #[arg(long, default_value_t = 10)]
    sessions: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds between checkpoints.
    #[arg(long, default_value_t = 1.0)]
    checkpoint: f64,
    /// Messages each session APPENDs before the run.
    #[arg(long, default_value_t = 4)]
    preload: usize,
    /// Seed of the operation choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds one command may take.
    #[arg(long, default_value_t = 30)]
    command_timeout: u64,
    /// Every message that arrived during the run must be \Recent in exactly one session (not
    /// only in one at most).
    #[arg(long)]
    strict_recent: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.sessions < 2 || args.duration <= 0.0 || args.checkpoint <= 0.0 {
        eprintln!("imap_check: need 2 sessions or more and positive times");
        return ExitCode::from(2);
    }
    let cfg = imap_check::CheckConfig {
        addr: format!("{}:{}", args.host, args.port),
        user: args.user,
        password: args.password,
        mailbox: args.mailbox,
        side_mailbox: args.side_mailbox,
        sessions: args.sessions,
        duration: Duration::from_secs_f64(args.duration),
        checkpoint_every: Duration::from_secs_f64(args.checkpoint),
        preload: args.preload,
        seed: args.seed,
        command_timeout: Duration::from_secs(args.command_timeout),
        strict_recent: args.strict_recent,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let report = rt.block_on(imap_check::run(cfg));
    print!("{}", report.summary());
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
