//! The IMAP service under concurrent load, checked by `examples/imap_load` (built by `cargo test`
//! with the other examples): sessions owning their mailboxes (strict checks: sequence numbers to
//! UIDs, EXISTS/EXPUNGE counts, APPENDUID order), sessions sharing one INBOX, and sessions idling.
//! And by the concurrency checker of `examples/imap_check` (its module, run in this process): ten
//! sessions sharing one mailbox must agree at every checkpoint, against our server and against
//! a private Dovecot (the proof that the checker asks only what a correct server gives).

mod common;
#[path = "../examples/support/imap_check.rs"]
mod imap_check;
#[path = "../examples/support/imap_check_model.rs"]
mod imap_check_model;
#[path = "../examples/support/imap_check_ops.rs"]
mod imap_check_ops;
#[allow(dead_code)]
#[path = "../examples/support/imap_client.rs"]
mod imap_client;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::dovecot::Dovecot;
use common::{TestServer, peer, run_with_timeout};
use mailwright::server::Service;

/// `target/<profile>/examples/imap_load`, beside this test's `deps/` directory.
fn imap_load() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("examples").join("imap_load");
    bin.exists().then_some(bin)
}

fn run(server: &TestServer, args: &[&str]) -> String {
    let Some(bin) = imap_load() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "examples/imap_load is not built (cargo test builds it with the examples)"
        );
        eprintln!(
            "skipped: examples/imap_load not built (run `cargo test` without --test filters)"
        );
        return String::new();
    };
    let port = server.port(Service::Imap).to_string();
    let out = run_with_timeout(
        Command::new(bin)
            .args(["--port", &port, "--command-timeout", "20"])
            .args(args),
        Duration::from_mins(2),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "imap_load {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("errors=0 inconsistencies=0"), "{text}");
    text
}

#[test]
fn concurrent_sessions_stay_consistent() {
    let server = TestServer::start();
    // One session per user: every strict check applies.
    let owned = run(
        &server,
        &[
            "--user",
            "alice@example.org",
            "--password",
            "alice-pw",
            "--user",
            "bob@example.org",
            "--password",
            "bob-pw",
            "--sessions",
            "2",
            "--ops",
            "400",
            "--preload",
            "8",
            "--size",
            "2000",
        ],
    );
    if owned.is_empty() {
        return;
    }
    // Four sessions on one INBOX: appends, flag changes and expunges race.
    run(
        &server,
        &[
            "--user",
            "alice@example.org",
            "--password",
            "alice-pw",
            "--sessions",
            "4",
            "--ops",
            "400",
            "--preload",
            "8",
            "--size",
            "1000",
        ],
    );
    // Sessions sitting in IDLE, then leaving with DONE and LOGOUT.
    let idle = run(
        &server,
        &[
            "--user",
            "alice@example.org",
            "--password",
            "alice-pw",
            "--idle",
            "20",
            "--duration",
            "0.5",
        ],
    );
    assert!(idle.contains("READY 20"), "{idle}");
}

/// Runs the checker for three seconds (ten sessions, a checkpoint a second, a fixed seed).
fn check(addr: String, strict_recent: bool) -> imap_check::CheckReport {
    let cfg = imap_check::CheckConfig {
        addr,
        user: "alice@example.org".into(),
        password: "alice-pw".into(),
        sessions: 10,
        duration: Duration::from_secs(3),
        checkpoint_every: Duration::from_secs(1),
        preload: 3,
        seed: 7,
        command_timeout: Duration::from_secs(20),
        strict_recent,
        ..imap_check::CheckConfig::default()
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(imap_check::run(cfg))
}

#[test]
fn shared_mailbox_sessions_agree_at_every_checkpoint_ours_and_dovecot() {
    let server = TestServer::start();
    let ours = check(server.hostport(Service::Imap), true);
    assert!(ours.passed(), "ours:\n{}", ours.summary());
    assert!(
        ours.checkpoints == 3 && ours.commands > 300,
        "{}",
        ours.summary()
    );
    let Some(bin) = peer::require("dovecot", "dovecot-imapd") else {
        return;
    };
    let dir = common::tempdir("imap-check-dovecot");
    // Dovecot's own mailbox format: its Maildir code loses UIDs under this much concurrency
    // ("Expunged message reappeared, giving a new UID" in its log), which is not what the
    // checker is about.
    let dc = Dovecot::start(
        &bin,
        &dir,
        "alice@example.org",
        "alice-pw",
        "mail_location = mdbox:~/mdbox",
    );
    let theirs = check(format!("127.0.0.1:{}", dc.port), false);
    assert!(
        theirs.passed() && theirs.checkpoints == 3,
        "dovecot:\n{}\n{}",
        theirs.summary(),
        dc.log()
    );
    drop(dc);
    let _ = std::fs::remove_dir_all(&dir);
}
