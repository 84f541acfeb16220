//! A private Dovecot (dovecot-imapd) for interop and differential tests: its own configuration,
//! state and mail under a temporary directory, on an ephemeral loopback port, serving mail as the
//! `mail` user (uid 8); stopped (SIGTERM, then SIGKILL) on drop (needs root, as Dovecot's master
//! does). `testsupport/` holds the original; each published crate that uses it carries a copy in
//! its own `tests/support/` (`.ci/package-check` fails when a copy differs), included with
//! `#[path = "support/dovecot.rs"] mod dovecot;`.
#![allow(dead_code, unreachable_pub)] // each test crate uses part of it

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The uid and gid Dovecot serves mail as.
pub const MAIL_UID: u32 = 8;

/// `mail_location` for a Maildir in each user's home.
pub const MAILDIR: &str = "mail_location = maildir:~/Maildir";

/// `mail_location` for mbox files in each user's home (`~/inbox`, folders in `~/mail`), locked
/// the way our mbox crate locks (dotlock and fcntl).
pub const MBOX: &str = "mail_location = mbox:~/mail:INBOX=~/inbox
mbox_write_locks = dotlock fcntl
mbox_read_locks = fcntl";

/// A Dovecot master process; stopped on drop.
pub struct Dovecot {
    child: Child,
    /// The IMAP port.
    pub port: u16,
    log: PathBuf,
}

impl Dovecot {
    /// Starts Dovecot with its files under `dir` (which must exist): one user `user` with
    /// `password`, home `dir/home/<user>` (given to the mail user), `mail` as the mail location
    /// lines ([`MAILDIR`], [`MBOX`]).
    pub fn start(bin: &Path, dir: &Path, user: &str, password: &str, mail: &str) -> Dovecot {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        for sub in ["run", "state", "home"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let d = dir.display();
        std::fs::write(dir.join("passwd"), format!("{user}:{{PLAIN}}{password}\n")).unwrap();
        let conf = format!(
            r"base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {MAIL_UID}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_UID} home={d}/home/%u
}}
{mail}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
}}
"
        );
        let conf_path = dir.join("dovecot.conf");
        std::fs::write(&conf_path, conf).unwrap();
        chown_tree(&dir.join("home"));
        let child = Command::new(bin)
            .arg("-F")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let dc = Dovecot {
            child,
            port,
            log: dir.join("dovecot.log"),
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "dovecot did not start: {}",
                dc.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        dc
    }

    /// Dovecot's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its children; SIGKILL if it lingers.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Gives a tree to the mail user.
pub fn chown_tree(p: &Path) {
    let _ = std::os::unix::fs::lchown(p, Some(MAIL_UID), Some(MAIL_UID));
    if p.is_dir() && !p.is_symlink() {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            chown_tree(&e.path());
        }
    }
}
