//! Durability and shutdown of the `full_server` binary, run as a separate process:
//!
//! - `kill -9` in the middle of a stream of deliveries from several clients: every message that got
//!   a 250 is in its recipients' Maildirs exactly once and whole; nothing partial is in `new/` or
//!   `cur/`; the restarted server serves the same Maildirs over POP3 (Python's poplib) and takes mail
//!   again.
//! - SIGTERM with sessions open (idle SMTP, logged-in POP3, SMTP in the middle of DATA): the
//!   sessions are told and closed, the process exits 0 within a few seconds, and the message whose
//!   data was cut short is not delivered.
//!
//! The binary runs as a separate process (tests/common/process.rs).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::ServerProcess;
use common::smtp_client::Client;
use common::{peer, python, strip_trace};

/// Client threads streaming deliveries.
const THREADS: usize = 4;
/// Crashes in the kill test.
const CRASHES: usize = 2;
/// Acknowledged messages to wait for before the kill.
const ACKS_BEFORE_KILL: usize = 24;

/// A data directory with the harness's users, and a configuration with SMTP and POP3 on the given
/// ports and every other TCP service off (so tests running at once do not fight over the default
/// ports).
fn data_dir(name: &str, smtp: u16, pop3: u16) -> PathBuf {
    let dir = common::tempdir(name);
    common::populate(&dir);
    std::fs::write(
        dir.join(mailwright::core::datadir::CONFIG_FILE),
        format!(
            "hostname = \"localhost\"\n\n\
             [listen]\n\
             smtp = [\"127.0.0.1:{smtp}\"]\n\
             submission = []\n\
             submissions = []\n\
             lmtp = []\n\
             imap = []\n\
             imaps = []\n\
             pop3 = [\"127.0.0.1:{pop3}\"]\n\
             pop3s = []\n\
             managesieve = []\n\n\
             [limits]\n\
             auth_failure_delay_secs = 0\n"
        ),
    )
    .unwrap();
    dir
}

fn maildir(dir: &Path, user: &str) -> PathBuf {
    let (local, domain) = user.split_once('@').unwrap();
    dir.join("mail").join(domain).join(local).join("Maildir")
}

/// Every file in a user's `new/` and `cur/`.
fn inbox_files(dir: &Path, user: &str) -> Vec<PathBuf> {
    let md = maildir(dir, user);
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(md.join(sub)).ok())
        .flatten()
        .map(|e| e.unwrap().path())
        .collect()
}

/// The id of message `i` of client thread `t`.
fn message_id(t: usize, i: usize) -> String {
    format!("dur-{t}-{i}@durability.test")
}

/// Recipients of message `i`: alice, bob, or the alias that reaches both.
fn recipients(i: usize) -> (&'static str, &'static [&'static str]) {
    match i % 3 {
        0 => ("alice@example.org", &["alice@example.org"]),
        1 => ("bob@example.org", &["bob@example.org"]),
        _ => (
            "team@example.org",
            &["alice@example.org", "bob@example.org"],
        ),
    }
}

/// Message `i` of thread `t` (CRLF): mostly small, some of a few hundred KiB, a few over the
/// server's 1 MiB in-memory spool so they spill to disk; the last line is an end marker.
fn message(t: usize, i: usize) -> Vec<u8> {
    let id = message_id(t, i);
    let lines = match (t % THREADS, i % 10) {
        (0, 5) => 15_000,
        (_, 3 | 7) => 4_000,
        _ => 20,
    };
    let mut m = format!(
        "From: <stream{t}@remote.test>\r\nTo: <{}>\r\nSubject: durability {t} {i}\r\nMessage-ID: <{id}>\r\n\r\n",
        recipients(i).0
    );
    for l in 0..lines {
        let _ = write!(m, "{id} line {l:05} {}\r\n", "d".repeat(50));
        if l % 1000 == 999 {
            m.push_str(".\r\n");
        }
    }
    let _ = write!(m, "END-MARKER {id}\r\n");
    m.into_bytes()
}

/// What a client thread saw: ids that got a 250.
type Acked = Arc<Mutex<Vec<(usize, usize)>>>;

/// Streams messages until a failure after `stop` is set (or a time limit); records every 250.
fn stream(t: usize, smtp: SocketAddr, stop: &AtomicBool, acked: &Acked, total: &AtomicUsize) {
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut i = 0;
    while Instant::now() < deadline {
        let Ok(mut client) = Client::connect(smtp, Duration::from_secs(10)) else {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        loop {
            let (to, _) = recipients(i);
            match client.send(&format!("stream{t}@remote.test"), &[to], &message(t, i)) {
                Ok(reply) if reply.code == 250 => {
                    acked.lock().unwrap().push((t, i));
                    total.fetch_add(1, Ordering::SeqCst);
                }
                Ok(reply) => panic!("message {t}/{i} refused: {reply:?}"),
                Err(_) => break,
            }
            i += 1;
            if Instant::now() > deadline {
                return;
            }
        }
        i += 1;
        if stop.load(Ordering::SeqCst) {
            return;
        }
    }
}

/// Checks the Maildirs after the crash: every acked message present exactly once per recipient and
/// whole; every file in new/ and cur/ a whole message we sent; returns (files, acked) counts.
fn check_maildirs(dir: &Path, acked: &[(usize, usize)]) -> (usize, usize) {
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut files = 0;
    for user in ["alice@example.org", "bob@example.org"] {
        for path in inbox_files(dir, user) {
            files += 1;
            let stored = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&stored).into_owned();
            let id = text
                .lines()
                .find_map(|l| l.strip_prefix("Message-ID: <"))
                .and_then(|l| l.strip_suffix('>'))
                .unwrap_or_else(|| {
                    panic!(
                        "{} has no Message-ID: partial or foreign file:\n{}",
                        path.display(),
                        &text[..text.len().min(500)]
                    )
                })
                .to_owned();
            let (t, i) = id
                .strip_prefix("dur-")
                .and_then(|r| r.strip_suffix("@durability.test"))
                .and_then(|r| r.split_once('-'))
                .map(|(t, i)| (t.parse::<usize>().unwrap(), i.parse::<usize>().unwrap()))
                .unwrap();
            let expected = String::from_utf8(message(t, i))
                .unwrap()
                .replace("\r\n", "\n");
            assert!(
                strip_trace(&stored) == expected.as_bytes(),
                "{} is not whole ({} bytes, expected {} after the trace fields)",
                path.display(),
                stored.len(),
                expected.len()
            );
            assert!(recipients(i).1.contains(&user), "{id} in {user}'s Maildir");
            *seen.entry((user.to_owned(), id)).or_default() += 1;
        }
    }
    for ((user, id), n) in &seen {
        assert_eq!(*n, 1, "{id} is in {user}'s Maildir {n} times");
    }
    let mut acked_copies = 0;
    for (t, i) in acked {
        for user in recipients(*i).1 {
            acked_copies += 1;
            assert!(
                seen.contains_key(&((*user).to_owned(), message_id(*t, *i))),
                "message {} got a 250 but is not in {user}'s Maildir",
                message_id(*t, *i)
            );
        }
    }
    (files, acked_copies)
}

const POP3_CHECK: &str = r"
import poplib, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
p = poplib.POP3('127.0.0.1', port, timeout=20)
p.user(user); p.pass_(pw)
count, size = p.stat()
uidl = p.uidl()[1]
assert len(uidl) == count, (len(uidl), count)
total = 0
for i in range(1, count + 1):
    resp, lines, octets = p.retr(i)
    assert lines[-1].startswith(b'END-MARKER '), lines[-1]
    total += octets
p.quit()
print(count, size, total)
";

/// Streams deliveries from [`THREADS`] clients (thread ids from `first_thread`) into `server`
/// until [`ACKS_BEFORE_KILL`] got a 250, then SIGKILLs it mid-stream; returns what got a 250.
fn crash_mid_stream(
    mut server: ServerProcess,
    smtp: SocketAddr,
    first_thread: usize,
) -> Vec<(usize, usize)> {
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Acked = Arc::default();
    let total = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (first_thread..first_thread + THREADS)
        .map(|t| {
            let (stop, acked, total) = (stop.clone(), acked.clone(), total.clone());
            std::thread::spawn(move || stream(t, smtp, &stop, &acked, &total))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while total.load(Ordering::SeqCst) < ACKS_BEFORE_KILL {
        assert!(
            Instant::now() < deadline,
            "only {} messages acknowledged in 20 s:\n{}",
            total.load(Ordering::SeqCst),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Let the clients get into the middle of their next transactions.
    std::thread::sleep(Duration::from_millis(30));
    stop.store(true, Ordering::SeqCst);
    server.kill9();
    for t in threads {
        t.join().expect("client thread");
    }
    acked.lock().unwrap().clone()
}

#[test]
fn kill_9_mid_stream_loses_no_acknowledged_message() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let [smtp_port, pop3_port] = common::postfix::free_ports();
    let dir = data_dir("durability", smtp_port, pop3_port);
    let smtp = SocketAddr::from(([127, 0, 0, 1], smtp_port));
    let logs = common::tempdir("durability-logs");
    // Two crashes on the same data directory: the second one also restarts over the first's debris.
    let mut acked = Vec::new();
    for round in 0..CRASHES {
        let server = ServerProcess::start(&dir, smtp, logs.join(format!("crash{round}.log")));
        let this = crash_mid_stream(server, smtp, round * THREADS);
        acked.extend(this.iter().copied());
        let (files, acked_copies) = check_maildirs(&dir, &acked);
        assert!(files >= acked_copies);
        eprintln!(
            "crash {round}: kill -9 after {} acknowledged messages in this round; {acked_copies} acknowledged copies in all, {files} whole files in new/ and cur/",
            this.len()
        );
    }

    // Restart on the same data directory: POP3 serves what is there, SMTP takes mail again.
    let mut server = ServerProcess::start(&dir, smtp, logs.join("after.log"));
    let alice_files = inbox_files(&dir, "alice@example.org").len();
    let out = python(
        POP3_CHECK,
        &[&pop3_port.to_string(), "alice@example.org", "alice-pw"],
    );
    let fields: Vec<usize> = out.split_whitespace().map(|f| f.parse().unwrap()).collect();
    assert_eq!(
        fields[0], alice_files,
        "POP3 lists every whole message: {out}"
    );
    let mut client = Client::connect(smtp, Duration::from_secs(10)).unwrap();
    let reply = client
        .send(
            "after@remote.test",
            &["alice@example.org"],
            &message(CRASHES * THREADS, 0),
        )
        .unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");
    client.quit();
    assert_eq!(
        inbox_files(&dir, "alice@example.org").len(),
        alice_files + 1
    );
    server.terminate();
    let status = server.wait(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "restarted server exits 0 on SIGTERM: {status:?}\n{}",
        server.log()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&logs);
}

/// Reads until EOF or `limit`; returns what came.
fn read_to_close(s: &mut TcpStream, limit: Duration) -> String {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends `lines` and reads until what came contains `until` (or 20 s pass).
fn converse(s: &mut TcpStream, lines: &str, until: &str) -> String {
    s.write_all(lines.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).contains(until) && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn sigterm_with_sessions_open_exits_zero_promptly() {
    let [smtp_port, pop3_port] = common::postfix::free_ports();
    let dir = data_dir("graceful", smtp_port, pop3_port);
    let smtp = SocketAddr::from(([127, 0, 0, 1], smtp_port));
    let logs = common::tempdir("graceful-logs");
    let mut server = ServerProcess::start(&dir, smtp, logs.join("server.log"));

    // An idle SMTP session after EHLO.
    let mut idle = Client::connect(smtp, Duration::from_secs(20)).unwrap();
    // An SMTP session in the middle of DATA.
    let mut mid = Client::connect(smtp, Duration::from_secs(5)).unwrap();
    for (command, code) in [
        ("MAIL FROM:<a@remote.test>", 250),
        ("RCPT TO:<alice@example.org>", 250),
        ("DATA", 354),
    ] {
        let reply = mid.command(command).unwrap();
        assert_eq!(reply.code, code, "{command}: {reply:?}");
    }
    mid.stream()
        .write_all(b"Subject: cut short\r\n\r\nfirst half\r\n")
        .unwrap();
    // A POP3 session logged in (it holds the maildrop lock).
    let mut pop = TcpStream::connect(("127.0.0.1", pop3_port)).unwrap();
    let out = converse(
        &mut pop,
        "USER bob@example.org\r\nPASS bob-pw\r\n",
        "maildrop has",
    );
    assert!(out.contains("+OK maildrop has 0"), "{out}");

    let start = Instant::now();
    server.terminate();
    let status = server.wait(Duration::from_secs(5));
    let elapsed = start.elapsed();
    assert!(
        status.is_some_and(|s| s.success()),
        "exit 0 within 5 s of SIGTERM, got {status:?} after {elapsed:?}:\n{}",
        server.log()
    );
    // RFC 5321 §3.8: the sessions were told (421) and closed.
    let out = read_to_close(idle.stream(), Duration::from_secs(2));
    assert!(out.starts_with("421 "), "idle SMTP session: {out:?}");
    let out = read_to_close(mid.stream(), Duration::from_secs(2));
    assert!(out.starts_with("421 "), "mid-DATA session: {out:?}");
    let out = read_to_close(&mut pop, Duration::from_secs(2));
    assert!(out.starts_with("-ERR "), "POP3 session: {out:?}");
    // The message cut short is not delivered, not even in part.
    assert!(inbox_files(&dir, "alice@example.org").is_empty());
    // The LMTP socket is removed at a clean exit.
    assert!(!dir.join("lmtp.sock").exists());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&logs);
}

#[test]
fn acknowledged_set_is_checked_exactly() {
    // The checker itself: a file that is cut short or duplicated is caught.
    let dir = common::tempdir("durability-checker");
    let md = maildir(&dir, "alice@example.org");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    let whole = String::from_utf8(message(1, 0))
        .unwrap()
        .replace("\r\n", "\n");
    let stored =
        format!("Delivered-To: alice@example.org\nReturn-Path: <stream1@remote.test>\n{whole}");
    std::fs::write(md.join("new/1.M1.test"), &stored).unwrap();
    assert_eq!(check_maildirs(&dir, &[(1, 0)]), (1, 1));
    std::fs::write(md.join("new/2.M2.test"), &stored[..stored.len() - 10]).unwrap();
    let cut = std::panic::catch_unwind(|| check_maildirs(&dir, &[(1, 0)]));
    assert!(cut.is_err(), "a partial file is caught");
    std::fs::write(md.join("new/2.M2.test"), &stored).unwrap();
    let dup = std::panic::catch_unwind(|| check_maildirs(&dir, &[(1, 0)]));
    assert!(dup.is_err(), "a duplicate is caught");
    std::fs::remove_file(md.join("new/2.M2.test")).unwrap();
    let missing = std::panic::catch_unwind(|| check_maildirs(&dir, &[(1, 0), (1, 1)]));
    assert!(missing.is_err(), "a missing acknowledged message is caught");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Messages queued for the crash test.
const QUEUED: usize = 1000;

/// `kill -9` with 1,000 messages waiting in the outbound queue (the relay host is down), then a
/// restart with the relay host up: every message arrives exactly once.
#[test]
fn kill_9_with_a_full_queue_then_restart_delivers_each_once() {
    if peer::require("smtp-sink", "postfix").is_none() {
        return;
    }
    let [smtp_port, pop3_port, relay_port] = common::postfix::free_ports::<3>();
    let dir = data_dir("queue-crash", smtp_port, pop3_port);
    let mut config = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(mailwright::core::datadir::CONFIG_FILE))
        .unwrap();
    write!(
        config,
        "\n[outbound]\nrelayhost = \"[127.0.0.1]:{relay_port}\"\nretry_schedule_secs = [1]\n\
         connect_timeout_secs = 2\ntrusted_networks = [\"127.0.0.1\"]\ndelay_warning_secs = 0\n"
    )
    .unwrap();
    drop(config);
    let smtp = SocketAddr::from(([127, 0, 0, 1], smtp_port));
    let mut server = ServerProcess::start(&dir, smtp, dir.join("server.log"));
    let mut c = Client::connect(smtp, Duration::from_secs(10)).unwrap();
    c.command("EHLO trusted.test").unwrap();
    for i in 0..QUEUED {
        let body = format!(
            "From: <a@example.org>\r\nSubject: queued {i}\r\nMessage-ID: <q{i}@crash.test>\r\n\r\nmessage {i}\r\n"
        );
        let r = c
            .send(
                "alice@example.org",
                &[&format!("r{}@remote.test", i % 7)],
                body.as_bytes(),
            )
            .unwrap();
        assert!(r.is_ok(), "message {i}: {r:?}");
    }
    c.quit();
    let queued = mailwright::outbound::queue::list(&dir.join("queue")).unwrap();
    assert_eq!(queued.len(), QUEUED, "all waiting: the relay host is down");
    server.kill9();
    // The relay host comes up; the server restarts.
    let sink = common::sink::Sink::start(relay_port, &dir.join("sink"), &[]).unwrap();
    let server = ServerProcess::start(&dir, smtp, dir.join("server.log"));
    let deadline = Instant::now() + Duration::from_secs(90);
    while sink.count() < QUEUED && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for text in sink.messages() {
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or("?")
            .to_owned();
        *seen.entry(id).or_default() += 1;
    }
    let dupes: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "delivered twice: {dupes:?}");
    assert_eq!(
        seen.len(),
        QUEUED,
        "every message delivered:\n{}",
        server.log()
    );
    assert!(
        mailwright::outbound::queue::list(&dir.join("queue"))
            .unwrap()
            .is_empty()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
