//! A private Dovecot (dovecot-imapd) for interop and differential tests: its own configuration,
//! state and mail under a temporary directory, on an ephemeral loopback port, serving mail as the
//! `mail` user (uid 8); stopped (SIGTERM, then SIGKILL) on drop (needs root, as Dovecot's master
//! does). `testsupport/` holds the original; each published crate that uses it carries a copy in
//! its own `tests/support/` (`.ci/package-check` fails when a copy differs), included with
//! `#[path = "support/dovecot.rs"] mod dovecot;`.
#![allow(dead_code, unreachable_pub)] // each test crate uses part of it

use std::fmt::Write as _;
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

/// What a Dovecot serves besides IMAP; [`Options::default`] is plain IMAP only.
#[derive(Default)]
pub struct Options<'a> {
    /// `mail_location` lines ([`MAILDIR`], [`MBOX`]).
    pub mail: &'a str,
    /// Serve POP3 as well ([`Dovecot::pop3_port`]).
    pub pop3: bool,
    /// Serve TLS with this certificate and key (PEM files): STARTTLS/STLS on the plain ports,
    /// implicit TLS on [`Dovecot::imaps_port`] (and [`Dovecot::pop3s_port`]).
    pub tls: Option<(&'a Path, &'a Path)>,
    /// A SASL authentication socket at this path, for Postfix (`smtpd_sasl_type = dovecot`).
    pub auth_socket: Option<&'a Path>,
}

/// A Dovecot master process; stopped on drop.
pub struct Dovecot {
    child: Child,
    /// The IMAP port.
    pub port: u16,
    /// The IMAP port with implicit TLS, when TLS is served.
    pub imaps_port: Option<u16>,
    /// The POP3 port, when POP3 is served.
    pub pop3_port: Option<u16>,
    /// The POP3 port with implicit TLS, when POP3 and TLS are served.
    pub pop3s_port: Option<u16>,
    log: PathBuf,
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Dovecot {
    /// Starts Dovecot with its files under `dir` (which must exist): one user `user` with
    /// `password`, home `dir/home/<user>` (given to the mail user), `mail` as the mail location
    /// lines ([`MAILDIR`], [`MBOX`]).
    pub fn start(bin: &Path, dir: &Path, user: &str, password: &str, mail: &str) -> Dovecot {
        Self::start_with(
            bin,
            dir,
            user,
            password,
            &Options {
                mail,
                ..Options::default()
            },
        )
    }

    /// [`Dovecot::start`] with POP3, TLS or an authentication socket as `options` asks.
    pub fn start_with(
        bin: &Path,
        dir: &Path,
        user: &str,
        password: &str,
        options: &Options<'_>,
    ) -> Dovecot {
        let port = free_port();
        let tls = options.tls.is_some();
        let imaps_port = tls.then(free_port);
        let pop3_port = options.pop3.then(free_port);
        let pop3s_port = (options.pop3 && tls).then(free_port);
        for sub in ["run", "state", "home"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let d = dir.display();
        std::fs::write(dir.join("passwd"), format!("{user}:{{PLAIN}}{password}\n")).unwrap();
        let protocols = if options.pop3 { "imap pop3" } else { "imap" };
        // Port 0 turns a listener off: Dovecot's built-in ones (993, 995) must not be bound.
        let ssl = match options.tls {
            Some((cert, key)) => format!(
                "ssl = yes\nssl_cert = <{}\nssl_key = <{}",
                cert.display(),
                key.display()
            ),
            None => "ssl = no".to_owned(),
        };
        let mut services = format!(
            "service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {}
    ssl = yes
  }}
}}
",
            imaps_port.unwrap_or(0)
        );
        if let Some(pop3) = pop3_port {
            let _ = write!(
                services,
                "service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {}
    ssl = yes
  }}
}}
",
                pop3s_port.unwrap_or(0)
            );
        }
        if let Some(socket) = options.auth_socket {
            let _ = write!(
                services,
                "service auth {{
  unix_listener {} {{
    mode = 0666
  }}
}}
",
                socket.display()
            );
        }
        let mail = options.mail;
        let conf = format!(
            r"base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
listen = 127.0.0.1
protocols = {protocols}
{ssl}
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
{services}"
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
            imaps_port,
            pop3_port,
            pop3s_port,
            log: dir.join("dovecot.log"),
        };
        let start = Instant::now();
        let ports = [Some(port), imaps_port, pop3_port, pop3s_port];
        while ports
            .iter()
            .flatten()
            .any(|p| TcpStream::connect(("127.0.0.1", *p)).is_err())
        {
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
