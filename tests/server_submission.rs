//! Submission policy and anti-abuse against the running server, with clients we did not write
//! (Python's smtplib, swaks) and a line-by-line raw client for exact replies: AUTH only after
//! STARTTLS, failed-login delay and counters, envelope sender ownership, Message-ID/Date fix-ups,
//! rate limits, DNSBL with a local DNS server, early talkers.

mod common;
#[path = "../testsupport/dns.rs"]
mod dns_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{TestServer, peer, python, run_with_timeout};
use mailwright::core::config::Config;
use mailwright::server::Service;

/// A blocking SMTP client that sends one command and reads one whole reply.
struct Raw {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Raw {
    fn connect(addr: SocketAddr) -> (Self, String) {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut raw = Self {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        };
        let greeting = raw.reply();
        (raw, greeting)
    }

    /// One reply (all its lines), or what was read before the connection ended.
    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => return all,
                Ok(_) => {}
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    fn cmd(&mut self, line: &str) -> String {
        self.stream
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.reply()
    }

    /// Whether the server has closed the connection.
    fn closed(&mut self) -> bool {
        let _ = self.stream.write_all(b"NOOP\r\n");
        let mut rest = String::new();
        matches!(self.reader.read_line(&mut rest), Ok(0) | Err(_))
    }
}

fn swaks(args: &[&str]) -> String {
    let out = run_with_timeout(
        std::process::Command::new("swaks").args(args),
        Duration::from_mins(1),
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Submission with STARTTLS and one `AUTH PLAIN` (smtplib's `login` would try every mechanism).
const SMTPLIB_SUBMIT: &str = r"
import smtplib, ssl, sys
port, user, pw, mail_from, rcpts, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split(','), sys.argv[6]
msg = open(path, 'rb').read()
with smtplib.SMTP('127.0.0.1', port, timeout=20) as s:
    s.ehlo('client.test')
    print('auth-before-tls', s.has_extn('auth'))
    s.starttls(context=ssl._create_unverified_context())
    s.ehlo('client.test')
    print('auth-after-tls', s.has_extn('auth'))
    s.user, s.password = user, pw
    s.auth('PLAIN', s.auth_plain)
    try:
        refused = s.sendmail(mail_from, rcpts, msg)
        print('sent', sorted((k, v[0], v[1].decode()) for k, v in refused.items()))
    except smtplib.SMTPSenderRefused as e:
        print('sender-refused', e.smtp_code, e.smtp_error.decode())
    except smtplib.SMTPRecipientsRefused as e:
        print('all-refused', sorted((k, v[0], v[1].decode()) for k, v in e.recipients.items()))
";

/// One session over STARTTLS trying each password with one `AUTH PLAIN`; prints each outcome and
/// how long it took, then whether the server closed the session.
const SMTPLIB_AUTH_TRIES: &str = r"
import smtplib, ssl, sys, time
port, user, passwords = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(',')
s = smtplib.SMTP('127.0.0.1', port, timeout=20)
s.starttls(context=ssl._create_unverified_context())
s.ehlo('client.test')
for pw in passwords:
    s.user, s.password = user, pw
    t = time.monotonic()
    try:
        code, _ = s.auth('PLAIN', s.auth_plain)
        print('ok', code, '%.2f' % (time.monotonic() - t))
    except smtplib.SMTPAuthenticationError as e:
        print('fail', e.smtp_code, e.smtp_error.decode(), '%.2f' % (time.monotonic() - t))
    except smtplib.SMTPServerDisconnected:
        print('disconnected')
        break
try:
    s.noop()
    print('open')
except (smtplib.SMTPServerDisconnected, ConnectionError):
    print('closed')
";

fn write_message(name: &str, text: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = common::tempdir(name);
    let path = dir.join("msg");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn submit(server: &TestServer, user: &str, pw: &str, from: &str, rcpts: &str, msg: &str) -> String {
    let (dir, path) = write_message("subm-msg", msg);
    let out = python(
        SMTPLIB_SUBMIT,
        &[
            &server.port(Service::Submission).to_string(),
            user,
            pw,
            from,
            rcpts,
            path.to_str().unwrap(),
        ],
    );
    std::fs::remove_dir_all(dir).unwrap();
    out
}

fn strict(c: &mut Config) {
    c.abuse.exempt_loopback = false;
}

#[test]
fn auth_is_offered_only_after_starttls_without_the_loopback_allowance() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start_with(|c| c.auth.plaintext_on_loopback = false);
    let (mut raw, greeting) = Raw::connect(server.addr(Service::Submission));
    assert!(greeting.starts_with("220 "), "{greeting}");
    let ehlo = raw.cmd("EHLO client.test");
    assert!(
        ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    // AUTH sent anyway is refused and nothing is verified.
    let auth = raw.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXB3");
    assert!(auth.starts_with('5') && !auth.starts_with("235"), "{auth}");
    let out = submit(
        &server,
        "alice@example.org",
        "alice-pw",
        "alice@example.org",
        "bob@example.org",
        "Subject: s\r\n\r\nhi\r\n",
    );
    assert!(
        out.contains("auth-before-tls False")
            && out.contains("auth-after-tls True")
            && out.contains("sent []"),
        "{out}"
    );
    // With the allowance (the default), a loopback client sees AUTH before TLS ...
    let relaxed = TestServer::start();
    let (mut raw, _) = Raw::connect(relaxed.addr(Service::Submission));
    assert!(raw.cmd("EHLO client.test").contains("AUTH PLAIN LOGIN"));
}

#[test]
fn the_loopback_allowance_never_applies_to_other_addresses() {
    // ... but the policy never allows plaintext from a non-loopback address, with or without it.
    let dir = common::tempdir("subm-policy");
    common::populate(&dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = mailwright::server::Server::bind(&dir, common::test_config())
            .await
            .unwrap();
        let core = server.core();
        assert!(core.config.auth.plaintext_on_loopback);
        let remote = mailwright::core::net::Peer {
            addr: Some("192.0.2.10:40000".parse().unwrap()),
        };
        let remote6 = mailwright::core::net::Peer {
            addr: Some("[2001:db8::1]:40000".parse().unwrap()),
        };
        let local = mailwright::core::net::Peer {
            addr: Some("127.0.0.1:40000".parse().unwrap()),
        };
        assert!(!core.login_allowed(false, remote));
        assert!(!core.login_allowed(false, remote6));
        assert!(core.login_allowed(true, remote));
        assert!(core.login_allowed(false, local));
    });
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_wrong_password_waits_and_the_third_failure_closes_the_session() {
    let (Some(_), Some(_)) = (
        peer::require("python3", "python3"),
        peer::require("swaks", "swaks"),
    ) else {
        return;
    };
    let server = TestServer::start_with(|c| {
        c.limits.auth_failure_delay_secs = 1;
    });
    let sub = server.hostport(Service::Submission);
    let started = Instant::now();
    let out = swaks(&[
        "--to",
        "bob@example.org",
        "--from",
        "alice@example.org",
        "--server",
        &sub,
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "alice@example.org",
        "--auth-password",
        "wrong",
    ]);
    let took = started.elapsed();
    assert!(
        out.contains("535 5.7.8 Authentication credentials invalid"),
        "{out}"
    );
    assert!(
        took >= Duration::from_secs(1),
        "the refusal waited: {took:?}"
    );
    let out = python(
        SMTPLIB_AUTH_TRIES,
        &[
            &server.port(Service::Submission).to_string(),
            "alice@example.org",
            "wrong1,wrong2,wrong3,alice-pw",
        ],
    );
    eprintln!("swaks wrong password: {took:?}; smtplib session:\n{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    for line in &lines[..2] {
        assert!(
            line.starts_with("fail 535 5.7.8 Authentication credentials invalid "),
            "{out}"
        );
        let secs: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(
            secs >= 0.95,
            "each failure waits the configured second: {out}"
        );
    }
    assert!(
        lines[2].starts_with("fail 421 4.7.0 Too many failed login attempts, closing connection"),
        "{out}"
    );
    // The fourth try finds the connection closed.
    assert_eq!(lines[3..], ["disconnected", "closed"], "{out}");
}

#[test]
fn failures_from_one_address_block_auth_for_a_while() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start_with(|c| {
        strict(c);
        c.abuse.auth_failures_per_ip = 4;
    });
    let port = server.port(Service::Submission).to_string();
    let out = python(
        SMTPLIB_AUTH_TRIES,
        &[&port, "alice@example.org", "w1,w2,w3"],
    );
    assert!(
        out.contains("fail 421 4.7.0") && out.trim_end().ends_with("closed"),
        "{out}"
    );
    // A new session: the fourth failure is counted; then even the right password is refused
    // without being checked.
    let out = python(
        SMTPLIB_AUTH_TRIES,
        &[&port, "alice@example.org", "w4,alice-pw"],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("fail 535 5.7.8"), "{out}");
    assert!(
        lines[1].starts_with(
            "fail 454 4.7.0 Too many failed logins from your address, try again later"
        ),
        "{out}"
    );
    assert_eq!(lines[2], "open", "{out}");
}

#[test]
fn forged_senders_are_refused_and_aliases_accepted() {
    let (Some(_), Some(_)) = (
        peer::require("python3", "python3"),
        peer::require("swaks", "swaks"),
    ) else {
        return;
    };
    let server = TestServer::start();
    let sub = server.hostport(Service::Submission);
    let send_as = |from: &str| {
        swaks(&[
            "--to",
            "bob@example.org",
            "--from",
            from,
            "--server",
            &sub,
            "--tls",
            "--auth",
            "LOGIN",
            "--auth-user",
            "alice@example.org",
            "--auth-password",
            "alice-pw",
        ])
    };
    let out = send_as("bob@example.org");
    assert!(
        out.contains(
            "553 5.7.1 Sender address <bob@example.org> is not owned by user alice@example.org"
        ),
        "{out}"
    );
    assert!(!out.contains("Ok: queued"), "{out}");
    let out = send_as("someone@remote.test");
    assert!(out.contains("553 5.7.1"), "{out}");
    // team@ is an alias that reaches alice (and bob); alice+tag@ is alice with a detail.
    for own in [
        "team@example.org",
        "alice+lists@example.org",
        "ALICE@example.org",
    ] {
        let out = send_as(own);
        assert!(out.contains("250 2.0.0 Ok: queued"), "{own}: {out}");
    }
    // bob owns the example.net catch-all; alice does not.
    let out = send_as("anything@example.net");
    assert!(out.contains("553 5.7.1"), "{out}");
    assert_eq!(server.messages("bob@example.org").len(), 3);
    // The null sender, with smtplib.
    let out = submit(
        &server,
        "bob@example.org",
        "bob-pw",
        "",
        "alice@example.org",
        "Subject: s\r\n\r\nhi\r\n",
    );
    assert!(
        out.contains("sender-refused 553 5.7.1 The null sender is not accepted on submission"),
        "{out}"
    );
    let out = submit(
        &server,
        "bob@example.org",
        "bob-pw",
        "whatever@example.net",
        "alice@example.org",
        "Subject: s\r\n\r\nhi\r\n",
    );
    assert!(out.contains("sent []"), "{out}");
    // Switched off, any sender goes (but never the null sender).
    let open = TestServer::start_with(|c| c.submission.enforce_sender = false);
    let out = submit(
        &open,
        "alice@example.org",
        "alice-pw",
        "bob@example.org",
        "bob@example.org",
        "Subject: s\r\n\r\nhi\r\n",
    );
    assert!(out.contains("sent []"), "{out}");
}

fn header_section(stored: &[u8]) -> String {
    let text = String::from_utf8_lossy(stored);
    text.split("\n\n").next().unwrap().to_owned()
}

#[test]
fn message_id_and_date_are_added_when_missing_and_left_alone_when_present() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let bare = "From: alice@example.org\r\nSubject: bare\r\n\r\nMessage-ID: <in-body@x>\r\nDate: in body\r\n";
    let out = submit(
        &server,
        "alice@example.org",
        "alice-pw",
        "alice@example.org",
        "bob@example.org",
        bare,
    );
    assert!(out.contains("sent []"), "{out}");
    let complete = "Date: Mon, 2 Jan 2023 10:00:00 +0100\r\nFrom: alice@example.org\r\nSubject: complete\r\nMessage-Id: <given@client.test>\r\n\r\nbody\r\n";
    let out = submit(
        &server,
        "alice@example.org",
        "alice-pw",
        "alice@example.org",
        "bob@example.org",
        complete,
    );
    assert!(out.contains("sent []"), "{out}");
    let stored = server.messages("bob@example.org");
    assert_eq!(stored.len(), 2);

    let first = String::from_utf8_lossy(&stored[0]).into_owned();
    let head = header_section(&stored[0]);
    let ids: Vec<&str> = head
        .lines()
        .filter(|l| l.starts_with("Message-ID:"))
        .collect();
    assert_eq!(ids.len(), 1, "{first}");
    assert!(
        ids[0].starts_with("Message-ID: <") && ids[0].ends_with("@localhost>"),
        "{first}"
    );
    assert_eq!(
        head.lines().filter(|l| l.starts_with("Date: ")).count(),
        1,
        "{first}"
    );
    // Added after the trace fields, before the client's own header; the rest is byte-exact.
    let added_at = first.find("Message-ID:").unwrap();
    assert!(first.find("Received:").unwrap() < added_at);
    assert!(first[added_at..].contains(
        "\nFrom: alice@example.org\nSubject: bare\n\nMessage-ID: <in-body@x>\nDate: in body\n"
    ));
    assert!(first.ends_with(&bare.replace("\r\n", "\n")), "{first}");

    let second = String::from_utf8_lossy(&stored[1]).into_owned();
    assert!(
        second.ends_with(&complete.replace("\r\n", "\n")),
        "{second}"
    );
    assert!(!second.contains("Message-ID:"), "nothing added: {second}");
    assert_eq!(second.matches("Date:").count(), 1, "{second}");

    // Port 25 relays what it receives as is.
    let (mut raw, _) = Raw::connect(server.addr(Service::Smtp));
    raw.cmd("EHLO client.test");
    raw.cmd("MAIL FROM:<s@remote.test>");
    raw.cmd("RCPT TO:<bob@example.org>");
    assert!(raw.cmd("DATA").starts_with("354"));
    assert!(raw.cmd("Subject: inbound\r\n\r\nx\r\n.").starts_with("250"));
    let inbound =
        String::from_utf8_lossy(server.messages("bob@example.org").last().unwrap()).into_owned();
    assert!(
        !inbound.contains("Message-ID:") && !inbound.contains("\nDate:"),
        "{inbound}"
    );
}

#[test]
fn connection_rate_per_ip_closes_with_421() {
    let server = TestServer::start_with(|c| {
        strict(c);
        c.abuse.connections_per_ip_per_minute = 3;
    });
    for _ in 0..3 {
        let (mut raw, greeting) = Raw::connect(server.addr(Service::Smtp));
        assert!(greeting.starts_with("220 "), "{greeting}");
        raw.cmd("QUIT");
    }
    let (mut raw, greeting) = Raw::connect(server.addr(Service::Submission));
    assert_eq!(
        greeting,
        "421 4.7.0 Too many connections from your address (limit 3 per minute), try again later\r\n"
    );
    assert!(raw.closed());
    // Implicit TLS (465) is counted before the handshake and closed without a reply.
    let mut tls = TcpStream::connect(server.addr(Service::Submissions)).unwrap();
    tls.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    assert!(matches!(tls.read_to_end(&mut rest), Ok(0)), "{rest:?}");
    // LMTP (a trusted MTA's channel) is not counted.
    let (_, greeting) = Raw::connect(server.addr(Service::Lmtp));
    assert!(greeting.starts_with("220 "), "{greeting}");
}

#[test]
fn message_and_recipient_rates_answer_450_naming_the_limit() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start_with(|c| {
        strict(c);
        c.abuse.messages_per_ip_per_minute = 2;
    });
    let (mut raw, _) = Raw::connect(server.addr(Service::Smtp));
    raw.cmd("EHLO client.test");
    for _ in 0..2 {
        assert!(raw.cmd("MAIL FROM:<s@remote.test>").starts_with("250"));
        assert!(raw.cmd("RSET").starts_with("250"));
    }
    assert_eq!(
        raw.cmd("MAIL FROM:<s@remote.test>"),
        "450 4.7.1 Too many messages from your address (limit 2 per minute), try again later\r\n"
    );

    let server = TestServer::start_with(|c| {
        strict(c);
        c.abuse.recipients_per_user_per_hour = 2;
        c.abuse.messages_per_user_per_minute = 2;
    });
    // Refused recipients are not counted: nobody@ is unknown.
    let out = submit(
        &server,
        "alice@example.org",
        "alice-pw",
        "alice@example.org",
        "nobody@example.org,bob@example.org,alice@example.org,team@example.org",
        "Subject: s\r\n\r\nhi\r\n",
    );
    assert!(
        out.contains("('nobody@example.org', 550, '5.1.1 No such user here')")
            && out.contains(
                "('team@example.org', 450, '4.7.1 Too many recipients from your account (limit 2 per hour), try again later')"
            ),
        "{out}"
    );
    assert_eq!(server.messages("bob@example.org").len(), 1);
    let out = submit(
        &server,
        "alice@example.org",
        "alice-pw",
        "alice@example.org",
        "bob@example.org",
        "Subject: s\r\n\r\nhi\r\n",
    );
    assert!(
        out.contains("all-refused") && out.contains("450, '4.7.1 Too many recipients"),
        "{out}"
    );
    // Two messages started (MAIL) this minute: the third is refused at MAIL.
    let out = submit(
        &server,
        "alice@example.org",
        "alice-pw",
        "alice@example.org",
        "bob@example.org",
        "Subject: s\r\n\r\nhi\r\n",
    );
    assert!(
        out.contains(
            "sender-refused 450 4.7.1 Too many messages from your account (limit 2 per minute), try again later"
        ),
        "{out}"
    );
}

#[test]
fn submission_caps_recipients_per_message() {
    let server = TestServer::start_with(|c| c.submission.max_recipients_per_message = 2);
    let (mut raw, _) = Raw::connect(server.addr(Service::Submission));
    raw.cmd("EHLO client.test");
    // Plaintext AUTH from loopback: the development allowance.
    assert!(
        raw.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXB3")
            .starts_with("235")
    );
    assert!(raw.cmd("MAIL FROM:<alice@example.org>").starts_with("250"));
    assert!(raw.cmd("RCPT TO:<bob@example.org>").starts_with("250"));
    assert!(raw.cmd("RCPT TO:<alice@example.org>").starts_with("250"));
    assert_eq!(
        raw.cmd("RCPT TO:<team@example.org>"),
        "452 4.5.3 Error: too many recipients\r\n"
    );
    // Port 25 keeps limits.max_recipients.
    let (mut raw, _) = Raw::connect(server.addr(Service::Smtp));
    raw.cmd("EHLO client.test");
    raw.cmd("MAIL FROM:<s@remote.test>");
    for rcpt in ["bob", "alice", "team"] {
        assert!(
            raw.cmd(&format!("RCPT TO:<{rcpt}@example.org>"))
                .starts_with("250")
        );
    }
}

/// A UDP socket that never answers: every query to it times out.
fn silent_dns() -> std::net::UdpSocket {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap()
}

#[test]
fn dnsbl_listed_clients_get_554_and_lookup_failures_do_not_block() {
    let dns = dns_server::DnsServer::start();
    // RFC 5782 §2.1: 127.0.0.1 is looked up as 1.0.0.127.<zone>.
    dns.a("1.0.0.127.bl.test", "127.0.0.2".parse().unwrap());
    dns.a("1.0.0.127.errors.test", "127.255.255.254".parse().unwrap());
    let listed = TestServer::start_with(|c| {
        strict(c);
        c.dns.nameservers = vec![dns.addr()];
        c.dns.timeout_secs = 2;
        c.abuse.dnsbl_zones = vec!["clean.test".into(), "bl.test".into()];
    });
    let (mut raw, greeting) = Raw::connect(listed.addr(Service::Smtp));
    assert_eq!(
        greeting,
        "554 5.7.1 Service unavailable; client [127.0.0.1] blocked using bl.test\r\n"
    );
    // RFC 5321 §3.1: the server waits for QUIT, answering 503 meanwhile.
    assert!(raw.cmd("EHLO client.test").starts_with("503 5.5.1"));
    assert!(raw.cmd("MAIL FROM:<a@b.test>").starts_with("503 5.5.1"));
    assert!(raw.cmd("QUIT").starts_with("221"));
    assert!(raw.closed());
    // Submission is not checked against DNSBLs.
    let (_, greeting) = Raw::connect(listed.addr(Service::Submission));
    assert!(greeting.starts_with("220 "), "{greeting}");

    let clean = TestServer::start_with(|c| {
        strict(c);
        c.dns.nameservers = vec![dns.addr()];
        c.abuse.dnsbl_zones = vec!["clean.test".into(), "errors.test".into()];
    });
    let (_, greeting) = Raw::connect(clean.addr(Service::Smtp));
    assert!(greeting.starts_with("220 "), "not listed: {greeting}");
    let queried: Vec<String> = dns.queries().into_iter().map(|(n, _)| n).collect();
    assert!(
        queried.contains(&"1.0.0.127.clean.test".to_owned()),
        "{queried:?}"
    );

    let silent = silent_dns();
    let broken = TestServer::start_with(|c| {
        strict(c);
        c.dns.nameservers = vec![silent.local_addr().unwrap()];
        c.dns.timeout_secs = 1;
        c.abuse.dnsbl_zones = vec!["bl.test".into()];
    });
    let (_, greeting) = Raw::connect(broken.addr(Service::Smtp));
    assert!(
        greeting.starts_with("220 "),
        "a DNS failure never blocks: {greeting}"
    );
    // Loopback clients are exempt by default: no lookup at all.
    let trusting = TestServer::start_with(|c| {
        c.dns.nameservers = vec![silent.local_addr().unwrap()];
        c.abuse.dnsbl_zones = vec!["bl.test".into()];
    });
    let started = Instant::now();
    let (_, greeting) = Raw::connect(trusting.addr(Service::Smtp));
    assert!(greeting.starts_with("220 ") && started.elapsed() < Duration::from_millis(900));
}

#[test]
fn early_talkers_are_refused_and_patient_clients_greeted() {
    let server = TestServer::start_with(|c| {
        strict(c);
        c.abuse.greeting_delay_ms = 300;
    });
    let smtp = server.addr(Service::Smtp);
    let mut s = TcpStream::connect(smtp).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"EHLO spambot.test\r\nMAIL FROM:<x@spam.test>\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert_eq!(
        out,
        "554 5.5.1 Protocol error: data sent before the greeting\r\n"
    );
    let started = Instant::now();
    let (mut raw, greeting) = Raw::connect(smtp);
    assert!(greeting.starts_with("220 "), "{greeting}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(raw.cmd("EHLO client.test").starts_with("250"));
    // Submission greets at once.
    let started = Instant::now();
    let (_, greeting) = Raw::connect(server.addr(Service::Submission));
    assert!(greeting.starts_with("220 ") && started.elapsed() < Duration::from_millis(300));
}

/// IMAP and POP3 logins count toward the same per-address failure budget as submission AUTH:
/// past it, even the right password is refused (IMAP `NO [UNAVAILABLE]`, POP3 `-ERR [SYS/TEMP]`).
#[test]
fn imap_and_pop3_logins_share_the_per_address_failure_budget() {
    let server = TestServer::start_with(|c| {
        c.abuse.exempt_loopback = false;
        c.abuse.auth_failures_per_ip = 2;
    });
    let out = python(
        r#"
import imaplib, poplib, sys
imap_port, pop_port = int(sys.argv[1]), int(sys.argv[2])
def imap(pw):
    m = imaplib.IMAP4("127.0.0.1", imap_port, timeout=20)
    try:
        m.login("alice@example.org", pw)
        return "OK"
    except imaplib.IMAP4.error as e:
        return str(e)
    finally:
        try: m.logout()
        except Exception: pass
def pop(pw):
    p = poplib.POP3("127.0.0.1", pop_port, timeout=20)
    try:
        p.user("alice@example.org")
        p.pass_(pw)
        return "OK"
    except poplib.error_proto as e:
        return e.args[0].decode()
    finally:
        try: p.quit()
        except Exception: pass
print("first", imap("alice-pw"))
print("bad1", imap("wrong"))
print("bad2", pop("wrong"))
print("imap", imap("alice-pw"))
print("pop", pop("alice-pw"))
"#,
        &[
            &server.port(Service::Imap).to_string(),
            &server.port(Service::Pop3).to_string(),
        ],
    );
    assert!(out.contains("first OK"), "{out}");
    assert!(out.contains("bad1") && !out.contains("bad1 OK"), "{out}");
    assert!(out.contains("bad2 -ERR [AUTH]"), "{out}");
    assert!(out.contains("imap") && out.contains("UNAVAILABLE"), "{out}");
    assert!(out.contains("pop -ERR [SYS/TEMP]"), "{out}");
}
