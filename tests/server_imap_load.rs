//! The IMAP service under concurrent load, checked by `examples/imap_load` (built by `cargo test`
//! with the other examples): sessions owning their mailboxes (strict checks: sequence numbers to
//! UIDs, EXISTS/EXPUNGE counts, APPENDUID order), sessions sharing one INBOX, and sessions idling.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{TestServer, run_with_timeout};
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
