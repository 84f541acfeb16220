//! Postfix's `smtp-sink` as a destination for the outbound tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::peer;

/// `smtp-sink` on an ephemeral loopback port, writing each message to a file; killed on drop.
pub struct Sink {
    child: Child,
    dir: PathBuf,
}

impl Sink {
    /// Starts a sink; `extra` are smtp-sink options (`-r rcpt` for 4xx, `-f rcpt` for 5xx).
    pub fn start(port: u16, dir: &Path, extra: &[&str]) -> Option<Self> {
        let sink = peer::require("smtp-sink", "postfix")?;
        std::fs::create_dir_all(dir).unwrap();
        // smtp-sink runs as `nobody` when started as root and must be able to write its dumps.
        let _ = Command::new("chmod").arg("777").arg(dir).status();
        let child = Command::new(sink)
            .args(extra)
            .args(["-u", "nobody", "-d"])
            .arg(format!("{}/msg.", dir.display()))
            .arg(format!("127.0.0.1:{port}"))
            .arg("50")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "smtp-sink did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self {
            child,
            dir: dir.to_owned(),
        })
    }

    /// Where the messages are written.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many messages were received so far.
    pub fn count(&self) -> usize {
        std::fs::read_dir(&self.dir).map_or(0, |rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("msg."))
                .count()
        })
    }

    /// The messages received so far (smtp-sink prefixes X-Mail-Args / X-Rcpt-Args lines).
    pub fn messages(&self) -> Vec<String> {
        messages_in(&self.dir)
    }
}

pub fn messages_in(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("msg."))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                // smtp-sink makes the file before it writes it: an empty one is not done yet.
                .filter(|m| !m.is_empty())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
