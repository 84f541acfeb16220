//! A private HAProxy (Debian's `haproxy`) in TCP mode, for the tests of the PROXY protocol and
//! of several nodes behind one address.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::peer;

/// A running HAProxy; killed on drop.
pub struct Haproxy(Child);

impl Haproxy {
    /// Starts HAProxy with `config` (written to `dir/haproxy.cfg`; its log goes to
    /// `dir/haproxy.log`) and waits (bounded) until each of `fronts` (ports on 127.0.0.1)
    /// accepts connections. `None` when HAProxy is missing outside CI.
    pub fn start(dir: &Path, config: &str, fronts: &[u16]) -> Option<Self> {
        let bin = peer::require("haproxy", "haproxy")?;
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, config).unwrap();
        let log = || std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default();
        let mut child = Command::new(bin)
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("haproxy.log")).unwrap())
            .spawn()
            .expect("spawn haproxy");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !fronts
            .iter()
            .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
        {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("haproxy exited ({status}):\n{}", log());
            }
            assert!(
                Instant::now() < deadline,
                "haproxy did not listen:\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self(child))
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
