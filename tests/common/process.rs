//! The `full_server` example binary as a separate process: for crash (`kill -9`) and shutdown
//! tests, and for the admin subcommands.
//!
//! The binary is `target/<profile>/examples/full_server`, next to the test's own directory;
//! `cargo test` builds examples before running tests (a run filtered with `--test` does not: build
//! it with `cargo build --example full_server` first).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The path of the example binary.
pub fn full_server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>/examples/full_server
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join("examples").join("full_server");
    assert!(
        bin.is_file(),
        "{} is missing: `cargo test` builds examples, a run filtered with --test does not; run `cargo build --example full_server` first",
        bin.display()
    );
    bin
}

/// Runs an admin subcommand on a data directory; returns success and stdout + stderr.
pub fn admin(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let out = super::run_with_timeout(
        Command::new(full_server_binary())
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .stdin(Stdio::null()),
        Duration::from_secs(30),
    );
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A `full_server` process; killed (SIGKILL) on drop if still running.
pub struct ServerProcess {
    /// The child.
    pub child: Child,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `full_server --data-dir DIR serve` and waits until SMTP answers on `smtp`.
    pub fn start(data_dir: &Path, smtp: SocketAddr, log: PathBuf) -> Self {
        Self::start_logging(data_dir, smtp, log, "warn")
    }

    /// As [`ServerProcess::start`], logging at `level` (`RUST_LOG`) to the file `log`.
    pub fn start_logging(data_dir: &Path, smtp: SocketAddr, log: PathBuf, level: &str) -> Self {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(full_server_binary())
            .arg("--data-dir")
            .arg(data_dir)
            .arg("serve")
            .env("RUST_LOG", level)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("spawn full_server");
        let mut process = Self { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut s) = TcpStream::connect_timeout(&smtp, Duration::from_secs(1)) {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = [0u8; 3];
                if s.read_exact(&mut buf).is_ok() && &buf == b"220" {
                    let _ = s.write_all(b"QUIT\r\n");
                    break;
                }
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("full_server exited at start ({status}):\n{}", process.log());
            }
            assert!(
                Instant::now() < deadline,
                "full_server did not answer on {smtp}:\n{}",
                process.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        process
    }

    /// The process id.
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill9();
        }
    }
}
