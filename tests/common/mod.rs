//! Harness for the server's end-to-end tests: a `full_server` assembly on ephemeral loopback ports
//! in a temporary data directory, with two users, aliases and a catch-all.
//!
//! Users: `alice@example.org` (password `alice-pw`) and `bob@example.org` (`bob-pw`).
//! Aliases: `team@example.org` -> alice, bob; `@example.net` -> bob (catch-all).

#![allow(dead_code, unreachable_pub)]

#[path = "../../testsupport/dovecot.rs"]
pub mod dovecot;
pub mod haproxy;
#[path = "../../testsupport/peer.rs"]
pub mod peer;
#[path = "../../testsupport/postfix.rs"]
pub mod postfix;
pub mod postgres;
pub mod process;
pub mod scripted;
pub mod sink;
pub mod smtp_client;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mailwright::core::auth::{Scheme, hash_password};
use mailwright::core::config::{Config, Listen};
use mailwright::core::directory::Directory;
use mailwright::server::{Server, Service};

/// Polls `f` every 50 ms until it returns `Some`, or panics with `what` after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Dovecot's Maildir with `/` as the hierarchy delimiter, as ours has: the `mail_location` and
/// namespace for the tests that run one IMAP script against a private Dovecot and against us.
pub const DOVECOT_MAILDIR_SLASH: &str = "mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}";

/// A raw IMAP session in Python for scripts run against both servers: `S()` connects and logs
/// in; `s.ok(command)` sends it (with `lit` as a LITERAL+ literal at its end) and returns the
/// untagged lines (with the literals they announce) and the tagged one, asserting it is OK;
/// `s.cmd` does not assert; `s.status` returns the tagged status word. `port`, `kind`
/// ("dovecot" or "ours") and `maildir` (the user's) come from the command line.
pub const IMAP_SESSION_PY: &str = r"
import json, os, re, socket, sys, glob
port, kind, maildir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class S:
    def __init__(self):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=15)
        self.f = self.s.makefile('rb')
        self.n = 0
        self.f.readline()
        self.ok('LOGIN alice@example.org alice-pw')
    def cmd(self, text, lit=None):
        self.n += 1
        tag = 't%d' % self.n
        data = ('%s %s' % (tag, text)).encode()
        if lit is not None:
            data += b' {%d+}\r\n' % len(lit) + lit
        self.s.sendall(data + b'\r\n')
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise SystemExit('connection closed after %r: %r' % (text, lines))
            m = re.search(rb'\{(\d+)\}\r\n$', line)
            while m:
                line += self.f.read(int(m.group(1)))
                rest = self.f.readline()
                line += rest
                m = re.search(rb'\{(\d+)\}\r\n$', rest)
            line = line.decode('utf-8', 'replace')
            if line.startswith(tag + ' '):
                return lines, line
            lines.append(line)
    def ok(self, text, lit=None):
        lines, done = self.cmd(text, lit)
        assert done.split(' ')[1] == 'OK', (kind, text, lines, done)
        return lines, done
    def status(self, text):
        return self.cmd(text)[1].split(' ')[1]
";

/// A running server; stopped (gracefully) and its directory removed on drop.
pub struct TestServer {
    /// The data directory.
    pub dir: PathBuf,
    addrs: Vec<(Service, SocketAddr)>,
    /// The LMTP unix socket.
    pub lmtp_socket: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A fresh temporary directory for one test.
pub fn tempdir(name: &str) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mw-{name}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fills a data directory with the test domains, users and aliases.
pub fn populate(dir: &Path) {
    mailwright::core::datadir::init(dir).unwrap();
    let d = Directory::open(dir, Duration::ZERO);
    d.add_domain("example.org").unwrap();
    d.add_domain("example.net").unwrap();
    for (user, pw) in [
        ("alice@example.org", "alice-pw"),
        ("bob@example.org", "bob-pw"),
    ] {
        d.passwd()
            .set(
                &user.parse().unwrap(),
                &hash_password(Scheme::Plain, pw).unwrap(),
                false,
            )
            .unwrap();
    }
    d.add_alias(
        &"team@example.org".parse().unwrap(),
        &[
            "alice@example.org".parse().unwrap(),
            "bob@example.org".parse().unwrap(),
        ],
    )
    .unwrap();
    d.add_alias(
        &"@example.net".parse().unwrap(),
        &["bob@example.org".parse().unwrap()],
    )
    .unwrap();
}

/// The configuration tests start from: every service on an ephemeral loopback port, no login delay.
pub fn test_config() -> Config {
    let mut config = Config {
        listen: Listen::ephemeral(),
        ..Config::default()
    };
    config.limits.auth_failure_delay_secs = 0;
    config
}

/// A test CA and a `localhost` certificate it signed, written to `dir` as `ca.pem`, `cert.pem` and
/// `key.pem`; then a server using that certificate, with plaintext logins refused (TLS is what makes
/// them acceptable). Returns the server and the CA file clients should trust.
pub fn start_with_test_ca(dir: &Path) -> (TestServer, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Mailwright test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let server = TestServer::start_with(move |c| {
        c.tls.cert = cert;
        c.tls.key = key;
        c.auth.plaintext_on_loopback = false;
    });
    (server, dir.join("ca.pem"))
}

impl TestServer {
    /// Starts a server with the test configuration.
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// Starts a server after `tweak` adjusts the test configuration.
    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempdir("server");
        populate(&dir);
        let mut config = test_config();
        tweak(&mut config);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let data_dir = dir.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = Server::bind(&data_dir, config).await.unwrap();
                addr_tx
                    .send((
                        server.local_addrs(),
                        server.lmtp_socket().map(Path::to_owned),
                    ))
                    .unwrap();
                server
                    .run(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        let (addrs, socket) = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        Self {
            dir,
            addrs,
            lmtp_socket: socket.unwrap_or_default(),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The address of a service.
    pub fn addr(&self, service: Service) -> SocketAddr {
        self.addrs
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, a)| *a)
            .expect("service bound")
    }

    /// `host:port` of a service, for command-line peers.
    pub fn hostport(&self, service: Service) -> String {
        self.addr(service).to_string()
    }

    /// Port of a service.
    pub fn port(&self, service: Service) -> u16 {
        self.addr(service).port()
    }

    /// A user's Maildir.
    pub fn maildir(&self, user: &str) -> PathBuf {
        let (local, domain) = user.split_once('@').unwrap();
        self.dir
            .join("mail")
            .join(domain)
            .join(local)
            .join("Maildir")
    }

    /// Every message in a user's INBOX (new and cur), oldest first.
    pub fn messages(&self, user: &str) -> Vec<Vec<u8>> {
        let md = self.maildir(user);
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(md.join(sub)).ok())
            .flatten()
            .map(|e| e.unwrap().path())
            .collect();
        let unique = |f: &PathBuf| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            name.split(':').next().unwrap().to_owned()
        };
        files.sort_by(|a, b| mailwright::maildir::delivery_order(&unique(a), &unique(b)));
        files.iter().map(|f| std::fs::read(f).unwrap()).collect()
    }

    /// The certificate clients should trust.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("tls/cert.pem")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a Python 3 script with arguments, with a time limit; returns stdout. Panics on failure.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = run_with_timeout(
        Command::new("python3").arg("-c").arg(script).args(args),
        Duration::from_mins(1),
    );
    assert!(
        out.status.success(),
        "python failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command, killing it after `limit`.
pub fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn peer");
    let deadline = std::time::Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} timed out after {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A message with CRLF line ends, as a client sends it.
pub fn sample_message(subject: &str, body_lines: &[&str]) -> String {
    let mut m = format!(
        "From: Sender <sender@remote.test>\r\nTo: alice@example.org\r\nSubject: {subject}\r\nMessage-ID: <{subject}@remote.test>\r\n\r\n"
    );
    for l in body_lines {
        m.push_str(l);
        m.push_str("\r\n");
    }
    m
}

/// The body of a stored message after its trace headers (`Delivered-To`, `Return-Path`, `Received`).
pub fn strip_trace(stored: &[u8]) -> &[u8] {
    let text = stored;
    let mut pos = 0;
    loop {
        let line_end = text[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(text.len(), |i| pos + i + 1);
        let line = &text[pos..line_end];
        let is_trace = line.starts_with(b"Delivered-To:")
            || line.starts_with(b"Return-Path:")
            || line.starts_with(b"Received:")
            || line.starts_with(b"\t");
        if !is_trace {
            return &text[pos..];
        }
        pos = line_end;
    }
}
