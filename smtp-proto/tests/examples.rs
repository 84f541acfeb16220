//! The examples against real peers: `submit` submits through a private Postfix over STARTTLS
//! with AUTH (Dovecot checks the password), and swaks sends to `smtp_to_maildir` over STARTTLS.
#![cfg(feature = "tokio")]

#[path = "support/dovecot.rs"]
mod dovecot;
#[path = "support/examples.rs"]
mod examples;
#[path = "support/peer.rs"]
#[allow(unreachable_pub)]
mod peer;
#[path = "support/postfix.rs"]
#[allow(unreachable_pub, dead_code)]
mod postfix;
#[path = "support/tls.rs"]
mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const PACKAGE: &str = "mailwright-smtp-proto";

/// A fresh directory under the system's temporary directory (used by `postfix`).
fn tempdir(name: &str) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mw-smtp-{name}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `cmd` to its end within `limit` (used by `postfix`).
fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Output {
    let out = examples::run(cmd, limit);
    Output {
        status: out.status,
        stdout: out.stdout.into_bytes(),
        stderr: out.stderr.into_bytes(),
    }
}

/// Removes a directory when dropped.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Files under `dir` (recursively) whose content contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read_to_string(&path).is_ok_and(|s| s.contains(needle)) {
            found.push(path);
        }
    }
    found
}

#[test]
fn submit_sends_through_postfix_with_starttls_and_auth() {
    let Some(dovecot_bin) = peer::require("dovecot", "dovecot-core") else {
        return;
    };
    let dir = tempdir("submit");
    let _cleanup = Cleanup(dir.clone());
    let pem = tls::Pki::new().write(&dir);

    // Dovecot checks the passwords for Postfix over its SASL socket.
    let socket = dir.join("auth-postfix");
    let dovecot_dir = dir.join("dovecot");
    std::fs::create_dir(&dovecot_dir).unwrap();
    let options = dovecot::Options {
        mail: dovecot::MAILDIR,
        auth_socket: Some(&socket),
        ..dovecot::Options::default()
    };
    let dovecot =
        dovecot::Dovecot::start_with(&dovecot_bin, &dovecot_dir, "alice", "secret", &options);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "no auth socket: {}",
            dovecot.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Postfix: STARTTLS with our certificate, AUTH only under TLS, bob@example.test delivered
    // to a Maildir, any other recipient unknown.
    let vmail = dir.join("vmail");
    std::fs::create_dir(&vmail).unwrap();
    std::os::unix::fs::chown(&vmail, Some(dovecot::MAIL_UID), Some(dovecot::MAIL_UID)).unwrap();
    let extra = format!(
        "smtpd_tls_security_level = may\n\
         smtpd_tls_cert_file = {cert}\n\
         smtpd_tls_key_file = {key}\n\
         smtpd_tls_auth_only = yes\n\
         smtpd_tls_loglevel = 1\n\
         smtpd_sasl_auth_enable = yes\n\
         smtpd_sasl_type = dovecot\n\
         smtpd_sasl_path = {socket}\n\
         mynetworks =\n\
         smtpd_relay_restrictions = permit_sasl_authenticated, reject\n\
         virtual_mailbox_domains = example.test\n\
         virtual_mailbox_base = {vmail}\n\
         virtual_mailbox_maps = inline:{{ bob@example.test=bob/ }}\n\
         virtual_minimum_uid = 1\n\
         virtual_uid_maps = static:{uid}\n\
         virtual_gid_maps = static:{uid}\n\
         virtual_transport = virtual",
        cert = pem.cert.display(),
        key = pem.key.display(),
        socket = socket.display(),
        vmail = vmail.display(),
        uid = dovecot::MAIL_UID,
    );
    let Some(postfix) = postfix::Postfix::start("submit", &extra) else {
        return;
    };

    let message = dir.join("message.eml");
    std::fs::write(
        &message,
        "From: Alice <alice@example.test>\nTo: bob@example.test\n\
         Subject: submitted by the example\n\n.a line with a leading dot\nbye\n",
    )
    .unwrap();
    let submit = examples::example(PACKAGE, "submit");
    let port = postfix.port.to_string();
    let args = |ca: bool| {
        let mut cmd = Command::new(&submit);
        cmd.args(["--server", "localhost", "--port", &port, "--user", "alice"])
            .args(["--from", "alice@example.test"])
            .args(["--to", "bob@example.test", "--to", "nobody@example.test"])
            .arg(&message)
            .env("SUBMIT_PASSWORD", "secret");
        if ca {
            cmd.arg("--ca-file").arg(&pem.ca);
        }
        cmd
    };

    // The certificate is checked: without our CA the handshake fails and nothing is sent.
    let out = examples::run(&mut args(false), Duration::from_mins(1));
    assert!(!out.status.success(), "{}", out.both());
    assert!(
        out.stderr.contains("certificate"),
        "{}\n{}",
        out.both(),
        postfix.log()
    );

    let out = examples::run(&mut args(true), Duration::from_mins(1));
    // One recipient refused: the exit status says so, each reply is printed.
    assert!(!out.status.success(), "{}", out.both());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("accepted <bob@example.test>: 250 2.1.5"),
        "{}",
        out.both()
    );
    assert!(
        lines[1].starts_with("refused <nobody@example.test>: 550 5.1.1"),
        "{}",
        out.both()
    );
    assert!(
        lines[2].starts_with("message: 250 2.0.0 Ok") && lines[2].contains("queued as"),
        "{}",
        out.both()
    );

    // Postfix logged the TLS session and the SASL login, and delivered the message.
    let log = postfix.wait_log(Duration::from_secs(30), |log| log.contains("status=sent"));
    assert!(
        log.contains("sasl_method=PLAIN, sasl_username=alice"),
        "{log}"
    );
    assert!(log.contains("TLS connection established"), "{log}");
    let stored = files_containing(&vmail.join("bob"), "Subject: submitted by the example");
    assert_eq!(stored.len(), 1, "{log}");
    let content = std::fs::read_to_string(&stored[0]).unwrap();
    assert!(
        content.contains("\n.a line with a leading dot\n"),
        "{content}"
    );
}

/// The example server: its address, and the process (stopped with SIGINT by the test).
struct Server {
    child: std::process::Child,
    addr: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(args: &[&std::ffi::OsStr]) -> Server {
        let bin = examples::example(PACKAGE, "smtp_to_maildir");
        let mut child = Command::new(bin)
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--hostname", "mx.example.test"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server {
            child,
            addr,
            stdout,
        }
    }

    /// SIGINT (as Ctrl-C), then what it printed until it exited, and whether it exited 0.
    fn interrupt(mut self) -> (bool, String) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        (exit.success(), rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn swaks_sends_to_smtp_to_maildir_over_starttls() {
    let Some(swaks) = peer::require("swaks", "swaks") else {
        return;
    };
    let dir = tempdir("to-maildir");
    let _cleanup = Cleanup(dir.clone());
    let pem = tls::Pki::new().write(&dir);
    let maildir = dir.join("Maildir");
    let server = Server::start(&[
        "--maildir".as_ref(),
        maildir.as_os_str(),
        "--cert".as_ref(),
        pem.cert.as_os_str(),
        "--key".as_ref(),
        pem.key.as_os_str(),
    ]);

    let out = examples::run(
        Command::new(&swaks)
            .args(["--server", &server.addr, "--tls", "--pipeline"])
            .args(["--from", "sender@remote.test", "--to", "me@example.test"])
            .args(["--header", "Subject: over STARTTLS"])
            .args(["--body", ".a dot-stuffed line\nthe end"]),
        Duration::from_mins(1),
    );
    assert!(out.status.success(), "{}", out.both());
    assert!(
        out.stdout.contains("<-  220 2.0.0 Ready to start TLS"),
        "{}",
        out.both()
    );
    assert!(
        out.stdout.contains("<~  250 2.0.0 Ok: stored as"),
        "{}",
        out.both()
    );

    // A second client is still connected when the server is told to stop: it gets the goodbye.
    let mut idle = TcpStream::connect(&server.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut greeting = [0u8; 64];
    let n = idle.read(&mut greeting).unwrap();
    assert!(greeting[..n].starts_with(b"220 mx.example.test"));
    idle.write_all(b"EHLO idle.test\r\n").unwrap();
    let mut ehlo = Vec::new();
    while !ehlo.ends_with(b"\r\n") || !String::from_utf8_lossy(&ehlo).contains("\r\n250 ") {
        let mut buf = [0u8; 512];
        let n = idle.read(&mut buf).unwrap();
        assert!(n > 0);
        ehlo.extend_from_slice(&buf[..n]);
    }

    let (clean, printed) = server.interrupt();
    let mut goodbye = String::new();
    idle.read_to_string(&mut goodbye).unwrap();
    assert!(goodbye.starts_with("421 4.3.2"), "{goodbye:?}");
    assert!(clean, "{printed}");
    assert!(
        printed.contains("stored ") && printed.ends_with("stopped\n"),
        "{printed}"
    );

    let stored = files_containing(&maildir.join("new"), "Subject: over STARTTLS");
    assert_eq!(stored.len(), 1);
    let content = std::fs::read_to_string(&stored[0]).unwrap();
    assert!(
        content.starts_with("Return-Path: <sender@remote.test>\r\n"),
        "{content}"
    );
    assert!(
        content.contains("\r\n.a dot-stuffed line\r\nthe end\r\n"),
        "{content}"
    );
}
