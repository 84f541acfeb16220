//! The one login path (`core::login`) seen from clients of IMAP, POP3 and submission, with real
//! Argon2id password hashes:
//!
//! - an address past its failure budget is refused before any password is checked: 45 parallel
//!   wrong passwords from it cost no hashing (the process's CPU time grows by far less than 45
//!   hashes would take), and the right password is refused too;
//! - password hashing is capped and waiting logins are bounded: a burst of logins gets some
//!   temporary failures at once, and the process's peak memory grows by a few Argon2id buffers
//!   (19 MiB each), not one per login;
//! - an unknown user takes as long as a wrong password (medians of a few attempts, compared with
//!   each other, never with a fixed time).
//!
//! The server runs in this test process, so `/proc/self` measures it. The tests take turns (one
//! lock), so that one does not measure another.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::TestServer;
use mailwright::core::auth::{Scheme, hash_password, verify_password};
use mailwright::core::directory::Directory;
use mailwright::server::Service;

static TURN: Mutex<()> = Mutex::new(());

const SERVICES: [Service; 3] = [Service::Imap, Service::Pop3, Service::Submission];

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of proc(5) (utime, stime), counted from field 3 here; in clock ticks,
    // 100 per second on Linux.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// The peak resident memory of this process so far (VmHWM).
fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Gives the test users Argon2id hashes, as `user add` makes them.
fn argon2_users(server: &TestServer) {
    let d = Directory::open(&server.dir, Duration::ZERO);
    for (user, pw) in [
        ("alice@example.org", "alice-pw"),
        ("bob@example.org", "bob-pw"),
    ] {
        let hash = hash_password(Scheme::Argon2id, pw).unwrap();
        d.passwd().set(&user.parse().unwrap(), &hash, true).unwrap();
    }
}

/// The CPU time one Argon2id check of the server's kind takes here.
fn one_hash() -> Duration {
    let hash = hash_password(Scheme::Argon2id, "something").unwrap();
    let start = cpu_time();
    for _ in 0..5 {
        assert!(!verify_password(&hash, "wrong"));
    }
    cpu_time().saturating_sub(start) / 5
}

fn read_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\n") {
        match s.read(&mut b) {
            Ok(1) => line.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// Reads lines until one starts with `prefix`; returns that line.
fn read_reply(s: &mut TcpStream, prefix: &str) -> String {
    loop {
        let line = read_line(s);
        if line.is_empty() || line.starts_with(prefix) {
            return line;
        }
    }
}

/// A session of `service` up to the point where the password goes out.
struct Attempt {
    s: TcpStream,
    service: Service,
    send: Vec<u8>,
}

fn connect(service: Service, addr: SocketAddr, user: &str, pw: &str) -> Attempt {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_mins(1))).unwrap();
    read_line(&mut s);
    let send = match service {
        Service::Imap => format!("a LOGIN \"{user}\" \"{pw}\"\r\n").into_bytes(),
        Service::Pop3 => {
            s.write_all(format!("USER {user}\r\n").as_bytes()).unwrap();
            read_line(&mut s);
            format!("PASS {pw}\r\n").into_bytes()
        }
        _ => {
            s.write_all(b"EHLO client.test\r\n").unwrap();
            read_reply(&mut s, "250 ");
            let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pw}"));
            format!("AUTH PLAIN {plain}\r\n").into_bytes()
        }
    };
    Attempt { s, service, send }
}

impl Attempt {
    /// Sends the password; the reply and how long it took.
    fn finish(mut self) -> (String, Duration) {
        let start = Instant::now();
        self.s.write_all(&self.send).unwrap();
        let reply = match self.service {
            Service::Imap => read_reply(&mut self.s, "a "),
            _ => read_line(&mut self.s),
        };
        (reply, start.elapsed())
    }
}

fn login(service: Service, addr: SocketAddr, user: &str, pw: &str) -> (String, Duration) {
    connect(service, addr, user, pw).finish()
}

/// Runs `n` logins of each service at once (all connected first, then the passwords together).
fn burst(server: &TestServer, n: usize, user: &str, pw: &str) -> Vec<(Service, String)> {
    let barrier = Arc::new(Barrier::new(n * SERVICES.len()));
    let mut threads = Vec::new();
    for service in SERVICES {
        for _ in 0..n {
            let (addr, user, pw, barrier) = (
                server.addr(service),
                user.to_owned(),
                pw.to_owned(),
                barrier.clone(),
            );
            threads.push(std::thread::spawn(move || {
                let attempt = connect(service, addr, &user, &pw);
                barrier.wait();
                (service, attempt.finish().0)
            }));
        }
    }
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Whether `reply` is a successful login.
fn accepted(service: Service, reply: &str) -> bool {
    match service {
        Service::Imap => reply.starts_with("a OK"),
        // The right password, but another of these sessions holds the maildrop.
        Service::Pop3 => reply.starts_with("+OK") || reply.starts_with("-ERR [IN-USE]"),
        _ => reply.starts_with("235"),
    }
}

/// Whether `reply` is a temporary refusal (blocked address or busy hashing).
fn temporary(service: Service, reply: &str) -> bool {
    match service {
        Service::Imap => reply.starts_with("a NO [UNAVAILABLE]"),
        Service::Pop3 => {
            reply.starts_with("-ERR [SYS/TEMP]")
                || reply.starts_with("-ERR [AUTH]") && reply.contains("Too many")
        }
        _ => reply.starts_with("454 4.7.0"),
    }
}

#[test]
fn a_blocked_address_is_refused_without_any_password_check() {
    let _turn = TURN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let server = TestServer::start_with(|c| {
        c.abuse.exempt_loopback = false;
        c.abuse.auth_failures_per_ip = 3;
        c.abuse.connections_per_ip_per_minute = 0;
        c.submission.max_auth_failures = 100;
    });
    argon2_users(&server);
    let hash = one_hash();
    for service in SERVICES {
        let (reply, _) = login(service, server.addr(service), "alice@example.org", "wrong");
        assert!(
            !accepted(service, &reply) && !temporary(service, &reply),
            "{service:?}: {reply}"
        );
    }
    let before = cpu_time();
    let replies = burst(&server, 15, "alice@example.org", "wrong");
    let spent = cpu_time().saturating_sub(before);
    eprintln!("blocked: {spent:?} for 45, one hash {hash:?}");
    for (service, reply) in &replies {
        assert!(temporary(*service, reply), "{service:?}: {reply}");
    }
    assert!(
        spent < hash * 45 / 4,
        "45 refusals took {spent:?} of CPU; one hash takes {hash:?}"
    );
    // Refused before the password is looked at: the right one too.
    for service in SERVICES {
        let (reply, _) = login(
            service,
            server.addr(service),
            "alice@example.org",
            "alice-pw",
        );
        assert!(temporary(service, &reply), "{service:?}: {reply}");
    }
}

#[test]
fn hashing_is_capped_and_waiting_logins_are_bounded() {
    let _turn = TURN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let server = TestServer::start_with(|c| {
        c.limits.max_connections_per_ip = 500;
        c.abuse.connections_per_ip_per_minute = 0;
    });
    argon2_users(&server);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let n = 20;
    let before = peak_memory();
    let replies = burst(&server, n, "alice@example.org", "alice-pw");
    let grown = peak_memory().saturating_sub(before);
    eprintln!("burst: peak memory grew {} MiB", grown / 1024 / 1024);
    let ok = replies.iter().filter(|(s, r)| accepted(*s, r)).count();
    let busy = replies.iter().filter(|(s, r)| temporary(*s, r)).count();
    assert_eq!(ok + busy, replies.len(), "{replies:?}");
    // At most one hash per core runs and eight logins per core wait; the rest are told to come
    // back later at once.
    assert!(
        busy > 0,
        "{} logins at once, none refused: {replies:?}",
        replies.len()
    );
    assert!(ok >= cores, "{replies:?}");
    // Each Argon2id check holds 19 MiB: one per login at once would be 60.
    let per_hash = 19 * 1024 * 1024;
    assert!(
        grown < per_hash * 15,
        "peak memory grew by {} MiB",
        grown / 1024 / 1024
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn an_unknown_user_takes_as_long_as_a_wrong_password() {
    let _turn = TURN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let server = TestServer::start();
    argon2_users(&server);
    for service in SERVICES {
        let addr = server.addr(service);
        let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            wrong.push(login(service, addr, "alice@example.org", "not-it").1);
            unknown.push(login(service, addr, "nobody@example.org", "not-it").1);
        }
        let (w, u) = (median(wrong), median(unknown));
        eprintln!("{service:?}: wrong {w:?} unknown {u:?}");
        let (fast, slow) = (w.min(u), w.max(u));
        assert!(
            slow.saturating_sub(fast) <= slow / 3 + Duration::from_millis(10),
            "{service:?}: wrong password {w:?}, unknown user {u:?}"
        );
    }
}
