//! A private Postfix instance for interop tests: its own configuration directory, queue and data
//! directories and log file under a temporary directory, smtpd on a free loopback port, nothing
//! chrooted, nothing able to leave the machine. Stopped (`postfix stop`, then killed if need be)
//! and removed on drop.
//!
//! `testsupport/` holds the original; each published crate that uses it carries a copy in its
//! own `tests/support/`, beside a copy of `postfix-master.cf` (`.ci/package-check` fails when a
//! copy differs), included with `#[path = "support/postfix.rs"] mod postfix;` (the root package's
//! `tests/common/` includes the original). The including module provides `peer` (`peer.rs`),
//! `tempdir(name) -> PathBuf` and `run_with_timeout(&mut Command, Duration) -> Output`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::peer;

/// A running Postfix master and its directory.
pub struct Postfix {
    /// Everything of the instance: `conf/`, `queue/`, `data/`, `maillog`.
    pub dir: PathBuf,
    /// The smtpd port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct ports that were free a moment ago on 127.0.0.1 (all held at once while chosen).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// Whether this process runs as root (Postfix's master must).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The services of `master.cf` (`postfix-master.cf` beside this file, shared with the benchmark
/// scripts); smtpd is added on the chosen port.
const MASTER_CF: &str = include_str!("postfix-master.cf");

impl Postfix {
    /// Starts an instance whose `main.cf` is the safe base plus `extra` (later lines win).
    /// Returns `None` (after a skip line; a failure under `CI=true`) when Postfix is missing or we
    /// are not root.
    pub fn start(name: &str, extra: &str) -> Option<Self> {
        Self::start_on(name, free_port(), extra)
    }

    /// As [`Postfix::start`], with smtpd on `port`.
    pub fn start_on(name: &str, port: u16, extra: &str) -> Option<Self> {
        peer::require("postfix", "postfix")?;
        if !is_root() {
            assert!(
                !peer::in_ci(),
                "a private Postfix needs root (its master runs as root) under CI=true"
            );
            eprintln!("SKIP: a private Postfix instance needs root");
            return None;
        }
        let dir = super::tempdir(name);
        let conf = dir.join("conf");
        std::fs::create_dir(&conf).unwrap();
        std::fs::create_dir(dir.join("queue")).unwrap();
        std::fs::create_dir(dir.join("data")).unwrap();
        let status = Command::new("chown")
            .args(["postfix", dir.join("data").to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success(), "chown postfix data_directory");
        let d = dir.display();
        std::fs::write(
            conf.join("main.cf"),
            format!(
                "compatibility_level = 3.6\n\
                 queue_directory = {d}/queue\n\
                 data_directory = {d}/data\n\
                 mail_owner = postfix\n\
                 setgid_group = postdrop\n\
                 inet_interfaces = 127.0.0.1\n\
                 inet_protocols = ipv4\n\
                 myhostname = postfix.test\n\
                 mydomain = postfix.test\n\
                 myorigin = postfix.test\n\
                 mydestination =\n\
                 mynetworks = 127.0.0.0/8\n\
                 alias_maps =\n\
                 alias_database =\n\
                 default_transport = error:outbound mail disabled in this test\n\
                 relay_transport = error:outbound mail disabled in this test\n\
                 local_transport = error:local delivery disabled in this test\n\
                 smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
                 maillog_file = {d}/maillog\n\
                 maillog_file_prefixes = {d}\n\
                 virtual_mailbox_limit = 0\n\
                 {extra}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            conf.join("master.cf"),
            format!("127.0.0.1:{port} inet n - n - - smtpd\n{MASTER_CF}"),
        )
        .unwrap();
        // `check` also creates the queue directories.
        let out = super::run_with_timeout(
            Command::new("postfix").arg("-c").arg(&conf).arg("check"),
            Duration::from_secs(30),
        );
        assert!(
            out.status.success(),
            "postfix check failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("maillog")).unwrap_or_default()
        );
        let child = Command::new("postfix")
            .arg("-c")
            .arg(&conf)
            .arg("start-fg")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postfix start-fg");
        let postfix = Self {
            dir,
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "postfix smtpd did not come up on port {port}:\n{}",
                postfix.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(postfix)
    }

    /// The configuration directory.
    pub fn conf(&self) -> PathBuf {
        self.dir.join("conf")
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// Waits until `done(log)` holds; returns the log, or panics with it after `limit`.
    pub fn wait_log(&self, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log();
            if done(&log) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "postfix log did not show what we waited for within {limit:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Waits for a child for up to `limit`; whether it exited.
fn wait_bounded(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn master_pid(queue: &Path) -> Option<String> {
    std::fs::read_to_string(queue.join("pid/master.pid"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

impl Drop for Postfix {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `postfix stop` signals the master, which stops its children.
            if let Ok(mut stop) = Command::new("postfix")
                .arg("-c")
                .arg(self.conf())
                .arg("stop")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                && !wait_bounded(&mut stop, Duration::from_secs(10))
            {
                let _ = stop.kill();
                let _ = stop.wait();
            }
            if !wait_bounded(&mut child, Duration::from_secs(10)) {
                if let Some(pid) = master_pid(&self.dir.join("queue")) {
                    let _ = Command::new("kill").args(["-KILL", &pid]).status();
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
