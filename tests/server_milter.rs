//! Mail filters over the milter protocol, against SpamAssassin's spamd and spamass-milter
//! started privately on loopback (Debian packages `spamd`, `spamc`, `spamass-milter`):
//!
//! - tag mode (`-m`): a clean message is delivered with the filter's `X-Spam-*` fields; GTUBE is
//!   accepted with `X-Spam-Flag: YES` and filed in the Junk folder (or, with
//!   `[spam] junk_marked = false`, the INBOX); a mark the client forged files nothing;
//! - reject mode (`-r -1`): GTUBE is refused with the filter's own reply, `550 5.7.1`;
//! - the filter stopped: `on_failure = "tempfail"` answers `451 4.7.1`, `"accept"` delivers
//!   without the filter;
//!
//! against rspamd's proxy worker in milter mode (Debian package `rspamd`): GTUBE refused with
//! `554 5.7.1 Gtube pattern`, a clean message delivered with `X-Spam-Status`; and against a
//! filter of our own (the filter side of `mailwright-milter`): the macros Postfix sends, a
//! refusal at RCPT, every modification, and a filter that never answers.

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

/// A filter of our own (mailwright-milter's filter side) on a unix socket: serves one
/// connection, answers each command with `answer` (which calls `reply` as it sees fit; left
/// unanswered, a command gets `Continue`, or nothing at all with `silent`), and returns what it
/// saw.
fn our_filter(
    socket: &Path,
    silent: bool,
    answer: fn(&mailwright_milter::Command, &mut mailwright_milter::ServerSession),
) -> std::thread::JoinHandle<Vec<mailwright_milter::Command>> {
    use mailwright_milter::{Actions, Response, ServerConfig, ServerEvent, ServerSession};
    use mailwright_sansio::Machine;
    use std::io::{Read, Write};
    let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        let mut session = ServerSession::new(ServerConfig {
            actions: Actions::ADD_HEADERS
                | Actions::CHANGE_HEADERS
                | Actions::CHANGE_BODY
                | Actions::ADD_RCPT
                | Actions::DELETE_RCPT,
            ..ServerConfig::default()
        });
        let mut seen = Vec::new();
        let mut buf = [0u8; 8192];
        // Bounded: every read waits at most T, and the MTA closes the connection at the end.
        for _ in 0..10_000 {
            while let Some(event) = session.poll_event() {
                if let ServerEvent::Command(cmd) = event {
                    if session.reply_pending() && !silent {
                        answer(&cmd, &mut session);
                        if session.reply_pending() {
                            session.reply(Response::Continue).unwrap();
                        }
                    }
                    seen.push(cmd);
                }
            }
            while let Some(bytes) = session.poll_transmit() {
                stream.write_all(&bytes).unwrap();
            }
            if session.is_closed() {
                break;
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => session.handle_input(std::time::Instant::now(), &buf[..n]),
            }
        }
        seen
    })
}

fn macros_seen(seen: &[mailwright_milter::Command]) -> Vec<(String, String)> {
    seen.iter()
        .filter_map(|c| match c {
            mailwright_milter::Command::Macro { macros, .. } => Some(macros),
            _ => None,
        })
        .flatten()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

#[test]
fn our_filter_gets_postfix_macros_and_its_verdicts_and_modifications_apply() {
    use mailwright_milter::{Command as C, Response as R};
    use std::io::Write as _;
    let dir = common::tempdir("milter-ours");
    let socket = dir.join("ours.sock");
    let filter = our_filter(&socket, false, |cmd, session| match cmd {
        C::Rcpt(args) if args[0] == b"<bob@example.org>" => {
            session
                .reply(R::ReplyCode(b"550 5.7.1 No mail for bob today".to_vec()))
                .unwrap();
        }
        C::EndOfMessage => {
            for m in [
                R::InsertHeader {
                    index: 0,
                    name: b"X-Filtered".to_vec(),
                    value: b"yes".to_vec(),
                },
                R::ChangeHeader {
                    index: 1,
                    name: b"Subject".to_vec(),
                    value: b"changed".to_vec(),
                },
                R::ReplaceBody(b"new body\r\n".to_vec()),
                R::AddRcpt(b"<bob@example.org>".to_vec()),
                R::DeleteRcpt(b"<alice@example.org>".to_vec()),
            ] {
                session.reply(m).unwrap();
            }
            session.reply(R::Accept).unwrap();
        }
        _ => {}
    });
    let server = TestServer::start_with(|c| {
        "mx.example.org".clone_into(&mut c.hostname);
        c.milter = vec![milter(&socket, MilterFailure::Tempfail)];
    });
    let mut c = Client::greeted(server.addr(Service::Smtp), T).unwrap();
    assert_eq!(c.command("EHLO client.remote.test").unwrap().code, 250);
    assert_eq!(
        c.command("MAIL FROM:<sender@remote.test>").unwrap().code,
        250
    );
    assert_eq!(c.command("RCPT TO:<alice@example.org>").unwrap().code, 250);
    let r = c.command("RCPT TO:<bob@example.org>").unwrap();
    assert_eq!(r.code, 550, "{r:?}");
    assert!(r.lines[0].contains("5.7.1 No mail for bob today"), "{r:?}");
    assert_eq!(c.command("DATA").unwrap().code, 354);
    c.stream()
        .write_all(message("original", "old body").as_bytes())
        .unwrap();
    c.stream().write_all(b".\r\n").unwrap();
    let r = c.reply().unwrap();
    assert_eq!(r.code, 250, "{r:?}");
    c.quit();
    let seen = filter.join().unwrap();

    // Postfix's macros, with their values.
    let macros = macros_seen(&seen);
    let value = |name: &str| {
        macros.iter().find(|(n, _)| n == name).map_or_else(
            || panic!("macro {name} not sent: {macros:?}"),
            |(_, v)| v.clone(),
        )
    };
    assert_eq!(value("j"), "mx.example.org");
    assert_eq!(value("{client_addr}"), "127.0.0.1");
    assert_eq!(value("{mail_addr}"), "sender@remote.test");
    assert_eq!(value("{rcpt_addr}"), "alice@example.org");
    assert!(!value("i").is_empty());
    assert!(
        seen.iter()
            .any(|c| matches!(c, C::Helo(h) if h == b"client.remote.test"))
    );
    assert!(seen.iter().any(
        |c| matches!(c, C::Header { name, value } if name == b"Subject" && value == b"original")
    ));
    assert!(
        seen.iter()
            .any(|c| matches!(c, C::Body(b) if b == b"old body\r\n"))
    );

    // The modifications: bob got the changed message, alice nothing.
    assert!(server.messages("alice@example.org").is_empty());
    let bob = server.messages("bob@example.org");
    assert_eq!(bob.len(), 1);
    let bob = String::from_utf8_lossy(&bob[0]).into_owned();
    let (head, body) = bob.split_once("\n\n").unwrap();
    assert_eq!(body, "new body\n", "{bob}");
    assert!(head.contains("\nSubject: changed\n"), "{bob}");
    assert!(!head.contains("Subject: original"), "{bob}");
    let names = header_names(&bob);
    let first_client_field = names.iter().position(|n| n == "From").unwrap();
    assert_eq!(names[first_client_field - 1], "X-Filtered", "{bob}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_filter_that_does_not_answer_gets_the_fallback() {
    let dir = common::tempdir("milter-silent");
    for (n, on_failure, code) in [
        (0, MilterFailure::Tempfail, 451),
        (1, MilterFailure::Accept, 250),
    ] {
        let socket = dir.join(format!("silent{n}.sock"));
        let filter = our_filter(&socket, true, |_, _| {});
        let server = TestServer::start_with(|c| {
            let mut m = milter(&socket, on_failure);
            m.command_timeout_secs = 1;
            c.milter = vec![m];
        });
        let started = Instant::now();
        let r = send(&server, "silent", "Hello");
        assert_eq!(r.code, code, "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(20));
        drop(server);
        let seen = filter.join().unwrap();
        assert!(
            matches!(seen.first(), Some(mailwright_milter::Command::Macro { .. })),
            "{seen:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Asks rspamd's controller for `/ping`.
fn rspamd_ready(controller: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", controller)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /ping HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.contains("pong")
}

/// rspamd (Debian package `rspamd`) privately on loopback: the stock configuration with its
/// directories redirected, a proxy worker in milter mode, a normal worker, a controller, and
/// the `X-Spam-Status` field added by milter_headers. Returns it and the proxy's port.
fn start_rspamd(dir: &Path) -> Option<(Daemon, u16)> {
    let rspamd = peer::require("rspamd", "rspamd")?;
    let root = dir.join("rspamd");
    for sub in ["local/override.d", "local/local.d", "run", "db/tmp", "log"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    let (proxy, normal, controller) = (free_port(), free_port(), free_port());
    let files = [
        (
            "override.d/worker-proxy.inc",
            format!(
                "bind_socket = \"127.0.0.1:{proxy}\";\nmilter = yes;\ntimeout = 120s;\n\
                 upstream \"local\" {{ default = yes; hosts = \"127.0.0.1:{normal}\"; }}\n\
                 count = 1;\nmax_retries = 5;\ndiscard_on_reject = false;\n\
                 quarantine_on_reject = false;\nreject_message = \"Spam message rejected\";\n"
            ),
        ),
        (
            "override.d/worker-normal.inc",
            format!("bind_socket = \"127.0.0.1:{normal}\";\ncount = 1;\n"),
        ),
        (
            "override.d/worker-controller.inc",
            format!(
                "bind_socket = \"127.0.0.1:{controller}\";\ncount = 1;\npassword = \"q1\";\n\
                 secure_ip = \"127.0.0.1\";\nstatic_dir = \"${{WWWDIR}}\";\n"
            ),
        ),
        (
            "override.d/logging.inc",
            "type = \"file\";\nfilename = \"$LOGDIR/rspamd.log\";\nlevel = \"info\";\n".to_owned(),
        ),
        (
            "local.d/options.inc",
            "tempdir = \"$DBDIR/tmp\";\n".to_owned(),
        ),
        (
            "local.d/milter_headers.conf",
            "use = [\"x-spam-status\"];\nskip_local = false;\nskip_authenticated = false;\n"
                .to_owned(),
        ),
    ];
    for (name, text) in files {
        std::fs::write(root.join("local").join(name), text).unwrap();
    }
    let mut cmd = Command::new(rspamd);
    cmd.arg("-f");
    if is_root() {
        for sub in ["run", "db", "log"] {
            let _ = Command::new("chown")
                .arg("-R")
                .arg("_rspamd:_rspamd")
                .arg(root.join(sub))
                .status();
        }
        cmd.args(["-u", "_rspamd", "-g", "_rspamd"]);
    }
    let var = |name: &str, sub: &str| format!("--var={name}={}", root.join(sub).display());
    cmd.args(["-c", "/etc/rspamd/rspamd.conf"])
        .arg(var("LOCAL_CONFDIR", "local"))
        .arg(var("RUNDIR", "run"))
        .arg(var("DBDIR", "db"))
        .arg(var("LOGDIR", "log"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("stderr.log")).unwrap());
    let daemon = Daemon(cmd.spawn().expect("spawn rspamd"));
    // A cold start compiles its hyperscan databases: about 10 s here.
    let deadline = Instant::now() + Duration::from_mins(2);
    while !(rspamd_ready(controller) && std::net::TcpStream::connect(("127.0.0.1", normal)).is_ok())
    {
        assert!(
            Instant::now() < deadline,
            "rspamd did not start: {}",
            std::fs::read_to_string(root.join("log/rspamd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Some((daemon, proxy))
}

#[test]
fn rspamd_proxy_in_milter_mode() {
    let dir = common::tempdir("milter-rspamd");
    let Some((_rspamd, proxy)) = start_rspamd(&dir) else {
        return;
    };
    let server = TestServer::start_with(|c| {
        c.milter = vec![Milter {
            name: "rspamd".into(),
            socket: format!("inet:127.0.0.1:{proxy}"),
            ..Milter::default()
        }];
    });
    let r = send(&server, "gtube", GTUBE);
    assert_eq!(r.code, 554, "{r:?}");
    assert!(r.lines.join(" ").contains("5.7.1 Gtube pattern"), "{r:?}");
    assert!(stored(&server, "gtube").is_none());
    let r = send(&server, "clean", "Hello Alice, lunch on Friday?");
    assert_eq!(r.code, 250, "{r:?}");
    let clean = stored(&server, "clean").expect("clean message delivered");
    assert!(clean.contains("\nX-Spam-Status: No"), "{clean}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn submission_filters_get_the_authenticated_user_and_port_25_only_filters_do_not_run() {
    let dir = common::tempdir("milter-submission");
    let socket = dir.join("sub.sock");
    let filter = our_filter(&socket, false, |_, _| {});
    let server = TestServer::start_with(|c| {
        let mut on_submission = milter(&socket, MilterFailure::Tempfail);
        on_submission.submission = true;
        // A port-25-only filter that is not there: submission never asks it.
        let absent = milter(&dir.join("absent.sock"), MilterFailure::Tempfail);
        c.milter = vec![on_submission, absent];
    });
    let mut c = Client::greeted(server.addr(Service::Submission), T).unwrap();
    assert_eq!(c.command("EHLO client.remote.test").unwrap().code, 250);
    let auth = c
        .command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXB3")
        .unwrap();
    assert_eq!(auth.code, 235, "{auth:?}");
    let r = c
        .send(
            "alice@example.org",
            &["bob@example.org"],
            message("submitted", "Hi Bob").as_bytes(),
        )
        .unwrap();
    assert_eq!(r.code, 250, "{r:?}");
    c.quit();
    let seen = filter.join().unwrap();
    let macros = macros_seen(&seen);
    assert!(
        macros
            .iter()
            .any(|(n, v)| n == "{auth_authen}" && v == "alice@example.org"),
        "{macros:?}"
    );
    assert_eq!(server.messages("bob@example.org").len(), 1);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_filter_accepting_the_connection_leaves_the_next_one_to_decide() {
    use mailwright_milter::{Command as C, Response as R};
    let dir = common::tempdir("milter-two");
    let (first, second) = (dir.join("first.sock"), dir.join("second.sock"));
    let accepter = our_filter(&first, false, |cmd, session| {
        if matches!(cmd, C::Connect { .. }) {
            session.reply(R::Accept).unwrap();
        }
    });
    let refuser = our_filter(&second, false, |cmd, session| {
        if matches!(cmd, C::Mail(_)) {
            session
                .reply(R::ReplyCode(b"553 5.7.1 Not from you".to_vec()))
                .unwrap();
        }
    });
    let server = TestServer::start_with(|c| {
        c.milter = vec![
            milter(&first, MilterFailure::Tempfail),
            milter(&second, MilterFailure::Tempfail),
        ];
    });
    let r = send(&server, "twice", "Hello");
    assert_eq!(r.code, 553, "{r:?}");
    assert!(r.lines[0].contains("5.7.1 Not from you"), "{r:?}");
    let seen = accepter.join().unwrap();
    assert!(!seen.iter().any(|c| matches!(c, C::Mail(_))), "{seen:?}");
    assert!(
        refuser
            .join()
            .unwrap()
            .iter()
            .any(|c| matches!(c, C::Mail(_)))
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_nul_in_a_header_reaches_the_filter_as_a_space() {
    use mailwright_milter::Command as C;
    let dir = common::tempdir("milter-nul");
    let socket = dir.join("nul.sock");
    let filter = our_filter(&socket, false, |_, _| {});
    let server = TestServer::start_with(|c| {
        c.milter = vec![milter(&socket, MilterFailure::Tempfail)];
    });
    let r = send(&server, "nul\0inside", "Hello");
    assert_eq!(r.code, 250, "{r:?}");
    let seen = filter.join().unwrap();
    assert!(
        seen.iter().any(
            |c| matches!(c, C::Header { name, value } if name == b"Subject" && value == b"nul inside")
        ),
        "{seen:?}"
    );
    assert_eq!(server.messages("alice@example.org").len(), 1);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
