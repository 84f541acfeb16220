//! Running a crate's examples from its integration tests: the built binary, and a bounded run
//! that captures its output.
//!
//! `testsupport/` holds the original; each published crate that uses it carries a copy in its
//! own `tests/support/`, so that its tests run from the unpacked package alone
//! (`.ci/package-check` fails when a copy differs). Include it with
//! `#[path = "support/examples.rs"] mod examples;`. `cargo test` builds a package's examples
//! before it runs the tests; when they are missing (`cargo test --test NAME` builds none), they
//! are built here with the package's features.
#![allow(dead_code, unreachable_pub)] // each test crate uses part of it

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary of example `name` of `package`, built if missing.
pub fn example(package: &str, name: &str) -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--all-features",
                "-p",
                package,
                "--example",
                name,
            ])
            .status()
            .expect("run cargo");
        assert!(status.success(), "building example {name} failed");
    }
    assert!(path.exists(), "no example binary at {}", path.display());
    path
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Output {
    /// Both streams, for an assertion message.
    pub fn both(&self) -> String {
        format!(
            "status {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `cmd` (standard input closed) to its end; kills it and panics after `limit`.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    wait(child, limit)
}

/// Waits for `child` (whose stdout and stderr are piped) up to `limit`, reading its output
/// meanwhile; kills it and panics after `limit`.
pub fn wait(mut child: Child, limit: Duration) -> Output {
    let stdout = drain(child.stdout.take().expect("stdout piped"));
    let stderr = drain(child.stderr.take().expect("stderr piped"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after {limit:?}\n--- stdout\n{}--- stderr\n{}",
                stdout.join().unwrap(),
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}
