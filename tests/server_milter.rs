//! Mail filters over the milter protocol, against SpamAssassin's spamd and spamass-milter
//! started privately on loopback (Debian packages `spamd`, `spamc`, `spamass-milter`):
//!
//! - tag mode (`-m`): a clean message is delivered with the filter's `X-Spam-*` fields; GTUBE is
//!   accepted with `X-Spam-Flag: YES` and filed in the Junk folder (or, with
//!   `[spam] junk_marked = false`, the INBOX); a mark the client forged files nothing;
//! - reject mode (`-r -1`): GTUBE is refused with the filter's own reply, `550 5.7.1`;
//! - the filter stopped: `on_failure = "tempfail"` answers `451 4.7.1`, `"accept"` delivers
//!   without the filter.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;
use common::peer;
use common::smtp_client::{Client, Reply};
use mailwright::core::config::{Milter, MilterFailure};
use mailwright::server::Service;

const T: Duration = Duration::from_secs(30);

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// A child process killed (and reaped) when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM first: spamd takes its children down with it.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.0.try_wait().is_ok_and(|s| s.is_some()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// spamd on a free loopback port, local tests only (`-L`: no DNS, deterministic scores).
fn start_spamd(dir: &Path) -> Option<(Daemon, u16)> {
    let spamd = peer::require("spamd", "spamd")?;
    let spamc = peer::require("spamc", "spamc")?;
    let home = dir.join("sa");
    std::fs::create_dir_all(&home).unwrap();
    let port = free_port();
    let mut cmd = Command::new(spamd);
    cmd.args(["-L", "-x", "-m", "2", "--min-children=1", "-s", "stderr"])
        .arg("-H")
        .arg(&home)
        .args(["-i", &format!("127.0.0.1:{port}"), "-A", "127.0.0.1"])
        .arg("-r")
        .arg(home.join("spamd.pid"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("spamd.log")).unwrap());
    if is_root() {
        let _ = Command::new("chown")
            .arg("-R")
            .arg("debian-spamd:")
            .arg(&home)
            .status();
        cmd.args(["-u", "debian-spamd", "-g", "debian-spamd"]);
    }
    let daemon = Daemon(cmd.spawn().expect("spawn spamd"));
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let ready = Command::new(&spamc)
            .args(["-d", "127.0.0.1", "-p", &port.to_string(), "-K"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return Some((daemon, port));
        }
        assert!(
            Instant::now() < deadline,
            "spamd did not start: {}",
            std::fs::read_to_string(dir.join("spamd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// spamass-milter on a unix socket in `dir`, talking to spamd on `spamd_port`, with `args`.
fn start_milter(dir: &Path, name: &str, spamd_port: u16, args: &[&str]) -> (Daemon, PathBuf) {
    let program = peer::find("spamass-milter").expect("spamass-milter");
    let socket = dir.join(format!("{name}.sock"));
    let daemon = Daemon(
        Command::new(program)
            .arg("-p")
            .arg(&socket)
            .args(args)
            .args(["--", "-d", "127.0.0.1", "-p", &spamd_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn spamass-milter"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "spamass-milter did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (daemon, socket)
}

fn milter(socket: &Path, on_failure: MilterFailure) -> Milter {
    Milter {
        name: "spamassassin".into(),
        socket: format!("unix:{}", socket.display()),
        on_failure,
        ..Milter::default()
    }
}

fn message(subject: &str, body: &str) -> String {
    format!(
        "From: Sender <sender@remote.test>\r\nTo: alice@example.org\r\nSubject: {subject}\r\n\
         Date: Mon, 7 Dec 2026 12:00:00 +0000\r\nMessage-ID: <{subject}@remote.test>\r\n\r\n{body}\r\n"
    )
}

fn send(server: &TestServer, subject: &str, body: &str) -> Reply {
    let mut c = Client::greeted(server.addr(Service::Smtp), T).unwrap();
    assert_eq!(c.command("EHLO client.remote.test").unwrap().code, 250);
    let r = c
        .send(
            "sender@remote.test",
            &["alice@example.org"],
            message(subject, body).as_bytes(),
        )
        .unwrap();
    c.quit();
    r
}

/// The stored message of alice's INBOX whose Subject is `subject`.
fn stored(server: &TestServer, subject: &str) -> Option<String> {
    server
        .messages("alice@example.org")
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .find(|m| m.contains(&format!("Subject: {subject}\n")))
}

/// The messages in alice's Junk folder (Maildir++ `.Junk`).
fn junk(server: &TestServer) -> Vec<String> {
    let dir = server.maildir("alice@example.org").join(".Junk");
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(dir.join(sub)).ok())
        .flatten()
        .map(|e| String::from_utf8_lossy(&std::fs::read(e.unwrap().path()).unwrap()).into_owned())
        .collect()
}

fn header_names(message: &str) -> Vec<String> {
    message
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with([' ', '\t']))
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.to_owned()))
        .collect()
}

#[test]
fn spamassassin_through_spamass_milter() {
    if peer::require("spamass-milter", "spamass-milter").is_none() {
        return;
    }
    let dir = common::tempdir("milter-sa");
    let Some((_spamd, spamd_port)) = start_spamd(&dir) else {
        return;
    };

    // Tag mode: headers added, nothing refused, GTUBE filed in Junk (the default).
    let (tagger, socket) = start_milter(&dir, "tag", spamd_port, &["-m"]);
    let server = TestServer::start_with(|c| {
        c.milter = vec![milter(&socket, MilterFailure::Tempfail)];
    });
    let r = send(&server, "clean", "Hello Alice, lunch on Friday?");
    assert_eq!(r.code, 250, "{r:?}");
    let clean = stored(&server, "clean").expect("clean message delivered");
    assert!(
        clean.contains("\nX-Spam-Status: No"),
        "filter headers kept:\n{clean}"
    );
    assert!(clean.contains("Hello Alice, lunch on Friday?"));
    // A spam mark the client wrote itself is the filter's to replace, and files nothing.
    let forged = "X-Spam-Flag: YES\r\nFrom: Sender <sender@remote.test>";
    let mut c = Client::greeted(server.addr(Service::Smtp), T).unwrap();
    assert_eq!(c.command("EHLO client.remote.test").unwrap().code, 250);
    let data =
        message("forged", "Hello Alice").replacen("From: Sender <sender@remote.test>", forged, 1);
    let r = c
        .send(
            "sender@remote.test",
            &["alice@example.org"],
            data.as_bytes(),
        )
        .unwrap();
    c.quit();
    assert_eq!(r.code, 250, "{r:?}");
    let forged = stored(&server, "forged").expect("a forged mark stays in the INBOX");
    assert!(!forged.contains("X-Spam-Flag: YES"), "{forged}");
    let r = send(&server, "gtube", GTUBE);
    assert_eq!(r.code, 250, "{r:?}");
    assert!(
        stored(&server, "gtube").is_none(),
        "spam is not in the INBOX"
    );
    let filed = junk(&server);
    assert_eq!(filed.len(), 1, "spam filed in Junk");
    assert!(filed[0].contains("\nX-Spam-Flag: YES\n"), "{}", filed[0]);
    drop(server);

    // Junk filing off: GTUBE in the INBOX, tagged.
    let server = TestServer::start_with(|c| {
        c.milter = vec![milter(&socket, MilterFailure::Tempfail)];
        c.spam.junk_marked = false;
    });
    let r = send(&server, "gtube", GTUBE);
    assert_eq!(r.code, 250, "{r:?}");
    assert!(junk(&server).is_empty());
    let spam = stored(&server, "gtube").expect("GTUBE delivered in tag mode");
    assert!(spam.contains("\nX-Spam-Flag: YES\n"), "{spam}");
    assert!(spam.contains("GTUBE"), "{spam}");
    assert!(
        header_names(&spam)
            .iter()
            .filter(|n| *n == "X-Spam-Flag")
            .count()
            == 1,
        "{spam}"
    );
    drop(server);

    // Reject mode: GTUBE refused with the filter's reply, a clean message still delivered.
    let (_rejecter, socket) = start_milter(&dir, "reject", spamd_port, &["-m", "-r", "-1"]);
    let server = TestServer::start_with(|c| {
        c.milter = vec![milter(&socket, MilterFailure::Tempfail)];
    });
    let r = send(&server, "gtube", GTUBE);
    assert_eq!(r.code, 550, "{r:?}");
    assert!(
        r.lines.join(" ").contains("5.7.1 Blocked by SpamAssassin"),
        "{r:?}"
    );
    assert!(stored(&server, "gtube").is_none());
    let r = send(&server, "clean", "Hello again");
    assert_eq!(r.code, 250, "{r:?}");
    assert!(stored(&server, "clean").is_some());
    drop(server);

    // The filter stopped: the configured fallback.
    let tag_socket = dir.join("tag.sock");
    drop(tagger);
    let _ = std::fs::remove_file(&tag_socket);
    let server = TestServer::start_with(|c| {
        c.milter = vec![milter(&tag_socket, MilterFailure::Tempfail)];
    });
    let r = send(&server, "tempfail", "Hello");
    assert_eq!(r.code, 451, "{r:?}");
    assert!(r.lines.join(" ").contains("4.7.1"), "{r:?}");
    drop(server);
    let server = TestServer::start_with(|c| {
        c.milter = vec![milter(&tag_socket, MilterFailure::Accept)];
    });
    let r = send(&server, "accepted", "Hello");
    assert_eq!(r.code, 250, "{r:?}");
    let m = stored(&server, "accepted").expect("delivered without the filter");
    assert!(!m.contains("X-Spam-"), "{m}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
