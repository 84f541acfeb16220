//! End to end: real clients we did not write (Python's smtplib and poplib, swaks) against the
//! server assembly; security refusals (relay, smuggling, STARTTLS injection, plaintext login).

#![allow(clippy::naive_bytecount)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{TestServer, peer, python, run_with_timeout, sample_message, strip_trace};
use mailwright::server::Service;

const SMTPLIB_SEND: &str = r"
import smtplib, sys
port, mail_from, rcpts, path = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(','), sys.argv[4]
msg = open(path, 'rb').read()
with smtplib.SMTP('127.0.0.1', port, timeout=20) as s:
    s.ehlo('client.test')
    assert s.has_extn('pipelining') and s.has_extn('size') and s.has_extn('8bitmime')
    refused = s.sendmail(mail_from, rcpts, msg)
    print('refused', sorted(refused))
";

const POPLIB_FETCH: &str = r"
import poplib, sys
port, user, pw, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
p = poplib.POP3('127.0.0.1', port, timeout=20)
caps = p.capa()
assert 'UIDL' in caps and 'TOP' in caps, caps
p.user(user); p.pass_(pw)
count, size = p.stat()
uidl = p.uidl()[1]
with open(out, 'wb') as f:
    for i in range(1, count + 1):
        resp, lines, octets = p.retr(i)
        f.write(b'\r\n'.join(lines) + b'\r\n')
        f.write(b'\x00MSG\x00')
top = p.top(1, 0)[1] if count else []
print(count, size, len(uidl), len(top))
p.quit()
";

#[test]
fn smtplib_sends_and_poplib_fetches_byte_exact() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let dir = common::tempdir("e2e-smtplib");
    let message = sample_message(
        "hello",
        &[
            "Lines that need care:",
            ".leading dot",
            "..two dots",
            "From the start",
            "",
            "tail",
        ],
    );
    std::fs::write(dir.join("msg"), &message).unwrap();
    let out = python(
        SMTPLIB_SEND,
        &[
            &server.port(Service::Smtp).to_string(),
            "sender@remote.test",
            "alice@example.org,nobody@example.org,team@example.org",
            dir.join("msg").to_str().unwrap(),
        ],
    );
    assert!(
        out.contains("'nobody@example.org'"),
        "unknown user refused: {out}"
    );
    // alice directly and through team: one copy per mailbox (the first recipient naming it gives
    // its Delivered-To); bob one, through team.
    assert_eq!(server.messages("alice@example.org").len(), 1);
    assert!(
        server.messages("alice@example.org")[0].starts_with(b"Delivered-To: alice@example.org\n")
    );
    assert_eq!(server.messages("bob@example.org").len(), 1);
    let stored = &server.messages("bob@example.org")[0];
    let text = String::from_utf8_lossy(stored);
    assert!(
        text.starts_with("Delivered-To: team@example.org\n"),
        "{text}"
    );
    assert!(text.contains("Return-Path: <sender@remote.test>\n"));
    assert!(text.contains("Received: from client.test ([127.0.0.1])"));
    assert!(!text.contains('\r'), "stored with LF line ends");

    let out = python(
        POPLIB_FETCH,
        &[
            &server.port(Service::Pop3).to_string(),
            "alice@example.org",
            "alice-pw",
            dir.join("fetched").to_str().unwrap(),
        ],
    );
    let fields: Vec<u64> = out.split_whitespace().map(|f| f.parse().unwrap()).collect();
    assert_eq!(fields[0], 1, "{out}");
    assert_eq!(fields[2], 1);
    let fetched = std::fs::read(dir.join("fetched")).unwrap();
    let first = fetched.split(|b| *b == 0).next().unwrap();
    // poplib un-stuffs dots; the fetched text is the stored text with CRLF.
    let stored =
        String::from_utf8_lossy(&server.messages("alice@example.org")[0]).replace('\n', "\r\n");
    assert_eq!(String::from_utf8_lossy(first), stored);
    assert_eq!(
        strip_trace(stored.as_bytes()),
        message.as_bytes(),
        "the body arrives byte-exact"
    );
    // RFC 1939 §5: STAT's size is the sum of the CRLF sizes.
    let total: usize = server
        .messages("alice@example.org")
        .iter()
        .map(|m| m.len() + m.iter().filter(|b| **b == b'\n').count())
        .sum();
    assert_eq!(fields[1], total as u64);
    std::fs::remove_dir_all(dir).unwrap();
}

fn swaks(args: &[&str]) -> String {
    let out = run_with_timeout(
        std::process::Command::new("swaks").args(args),
        Duration::from_mins(1),
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn swaks_smtp_pipelining_starttls_submission_and_lmtp() {
    let Some(_) = peer::require("swaks", "swaks") else {
        return;
    };
    let server = TestServer::start();
    let smtp = server.hostport(Service::Smtp);
    let out = swaks(&[
        "--to",
        "alice@example.org",
        "--from",
        "s@remote.test",
        "--server",
        &smtp,
        "--pipeline",
    ]);
    assert!(out.contains("250 2.0.0 Ok: queued"), "{out}");
    let out = swaks(&["--to", "alice@example.org", "--server", &smtp, "--tls"]);
    assert!(
        out.contains("TLS started") && out.contains("250 2.0.0 Ok: queued"),
        "{out}"
    );
    // Submission: STARTTLS then AUTH, PLAIN and LOGIN.
    let sub = server.hostport(Service::Submission);
    for mech in ["PLAIN", "LOGIN"] {
        let out = swaks(&[
            "--to",
            "bob@example.org",
            "--from",
            "alice@example.org",
            "--server",
            &sub,
            "--tls",
            "--auth",
            mech,
            "--auth-user",
            "alice@example.org",
            "--auth-password",
            "alice-pw",
        ]);
        assert!(
            out.contains("235 2.7.0") && out.contains("250 2.0.0 Ok: queued"),
            "{mech}: {out}"
        );
    }
    let out = swaks(&[
        "--to",
        "bob@example.org",
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
    assert!(out.contains("535 5.7.8"), "{out}");
    // Submission without AUTH: MAIL refused (RFC 6409 §4.3 via the machine's submission mode).
    let out = swaks(&["--to", "bob@example.org", "--server", &sub, "--tls"]);
    assert!(out.contains("530"), "{out}");
    // Implicit TLS on submissions.
    let subs = server.hostport(Service::Submissions);
    let out = swaks(&[
        "--to",
        "bob@example.org",
        // Submission checks that the envelope sender belongs to the user (src/submission.rs).
        "--from",
        "bob@example.org",
        "--server",
        &subs,
        "--tlsc",
        "--auth",
        "PLAIN",
        "--auth-user",
        "bob@example.org",
        "--auth-password",
        "bob-pw",
    ]);
    assert!(out.contains("250 2.0.0 Ok: queued"), "{out}");
    // LMTP over TCP and over the unix socket: one reply per recipient.
    let lmtp = server.hostport(Service::Lmtp);
    let out = swaks(&[
        "--to",
        "alice@example.org,bob@example.org",
        "--server",
        &lmtp,
        "--protocol",
        "LMTP",
    ]);
    assert_eq!(out.matches("250 2.0.0 Ok: queued").count(), 2, "{out}");
    let out = swaks(&[
        "--to",
        "anyone@example.net",
        "--socket",
        server.lmtp_socket.to_str().unwrap(),
        "--protocol",
        "LMTP",
    ]);
    assert!(out.contains("250 2.0.0 Ok: queued"), "{out}");
    assert_eq!(server.messages("alice@example.org").len(), 3);
    assert_eq!(server.messages("bob@example.org").len(), 5);
    let lmtp_copy =
        String::from_utf8_lossy(server.messages("bob@example.org").last().unwrap()).into_owned();
    assert!(lmtp_copy.contains("with LMTP"), "{lmtp_copy}");
    assert!(
        lmtp_copy.starts_with("Delivered-To: anyone@example.net\n"),
        "{lmtp_copy}"
    );
}

/// A raw conversation: after the greeting, sends each group of pipelined lines and collects the
/// replies until the server is quiet for a moment (RFC 2920: a client waits after EHLO and DATA).
/// Returns all replies once the server closes or `limit` passes.
fn raw_session(addr: std::net::SocketAddr, payload: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    let deadline = std::time::Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let mut read_quiet = |s: &mut TcpStream, out: &mut Vec<u8>| -> bool {
        loop {
            match s.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return true;
                }
                Err(_) => return false,
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
        }
    };
    let mut open = read_quiet(&mut s, &mut out);
    // Split after every line that must end a pipelined group (EHLO, HELO, LHLO, DATA).
    let mut groups: Vec<Vec<u8>> = vec![Vec::new()];
    for line in payload.split_inclusive(|b| *b == b'\n') {
        groups.last_mut().unwrap().extend_from_slice(line);
        let upper = line.to_ascii_uppercase();
        if ["EHLO", "HELO", "LHLO", "DATA"]
            .iter()
            .any(|c| upper.starts_with(c.as_bytes()))
            && upper.len() <= 6 + 255
        {
            groups.push(Vec::new());
        }
    }
    for group in groups.iter().filter(|g| !g.is_empty()) {
        if !open || s.write_all(group).is_err() {
            break;
        }
        // The reply to an end of data comes after the fsyncs: give it time to arrive, however
        // loaded the machine, before reading the rest quietly.
        if group.starts_with(b".\r\n") || group.windows(5).any(|w| w == b"\r\n.\r\n") {
            let before = out.len();
            while std::time::Instant::now() < deadline
                && !out[before..].windows(2).any(|w| w == b"\r\n")
            {
                if !read_quiet(&mut s, &mut out) && out.len() == before {
                    break;
                }
            }
        }
        open = read_quiet(&mut s, &mut out);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn open_relay_unknown_users_and_traversal_are_refused() {
    let server = TestServer::start();
    let smtp = server.addr(Service::Smtp);
    let replies = raw_session(
        smtp,
        b"EHLO x.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<victim@elsewhere.test>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<../../etc@example.org>\r\nRCPT TO:<a/b@example.org>\r\nRCPT TO:<alice@example.org>\r\nQUIT\r\n",
        Duration::from_secs(5),
    );
    let codes: Vec<&str> = replies
        .lines()
        .filter(|l| !l.starts_with("250-"))
        .map(|l| &l[..3])
        .collect();
    // `../../etc` is not even an RFC 5321 Dot-string: 501; `a/b` is one, but not a safe name: 550.
    assert_eq!(
        codes,
        [
            "220", "250", "250", "554", "550", "501", "550", "250", "221"
        ],
        "{replies}"
    );
    assert!(replies.contains("554 5.7.1"), "{replies}");
    assert!(replies.contains("550 5.1.1"), "{replies}");
}

#[test]
fn smuggling_sequences_never_end_data_and_nothing_is_delivered() {
    let server = TestServer::start();
    let smtp = server.addr(Service::Smtp);
    // Each payload tries to end the message early and smuggle a second one in.
    for ending in [&b"\n.\n"[..], b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"] {
        let mut payload =
            b"EHLO x.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n"
                .to_vec();
        payload.extend_from_slice(b"Subject: one\r\n\r\nbody");
        payload.extend_from_slice(ending);
        payload.extend_from_slice(b"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\nQUIT\r\n");
        let replies = raw_session(smtp, &payload, Duration::from_secs(3));
        assert!(!replies.contains("Ok: queued"), "{ending:?}: {replies}");
    }
    assert!(server.messages("alice@example.org").is_empty());
    assert!(
        server.messages("bob@example.org").is_empty(),
        "no smuggled message"
    );
}

const STARTTLS_INJECTION: &str = r"
import socket, ssl, sys
port, proto = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(('127.0.0.1', port), timeout=10)
f = s.makefile('rb')
def line():
    return f.readline().decode()
greet = line()
if proto == 'smtp':
    s.sendall(b'EHLO x.test\r\n')
    while True:
        l = line()
        if l[3] == ' ': break
    # The injected command shares the packet with STARTTLS.
    s.sendall(b'STARTTLS\r\nRSET\r\n')
    first = line()
    assert first.startswith('220'), first
else:
    s.sendall(b'STLS\r\nNOOP\r\n')
    first = line()
    assert first.startswith('+OK'), first
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(s)
t.settimeout(2)
if proto == 'smtp':
    t.sendall(b'NOOP\r\n')
else:
    t.sendall(b'CAPA\r\n')
data = b''
try:
    while len(data) < 4096:
        chunk = t.recv(4096)
        if not chunk: break
        data += chunk
        if data.endswith(b'\r\n') and (proto == 'smtp' or data.endswith(b'.\r\n')): break
except socket.timeout:
    pass
print(repr(data))
";

#[test]
fn commands_pipelined_after_starttls_are_discarded() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    // SMTP: the first reply under TLS must answer our NOOP, not the injected RSET.
    let out = python(
        STARTTLS_INJECTION,
        &[&server.port(Service::Smtp).to_string(), "smtp"],
    );
    assert!(out.starts_with("b'250 2.0.0"), "{out}");
    assert_eq!(
        out.matches("250").count(),
        1,
        "exactly one reply (to NOOP): {out}"
    );
    // POP3: the first reply under TLS must be CAPA's, not the injected NOOP's.
    let out = python(
        STARTTLS_INJECTION,
        &[&server.port(Service::Pop3).to_string(), "pop3"],
    );
    assert!(
        out.contains("Capability") || out.contains("CAPA") || out.contains("TOP"),
        "{out}"
    );
    assert_eq!(out.matches("+OK").count(), 1, "{out}");
}

#[test]
fn plaintext_logins_are_refused_before_tls_when_not_allowed() {
    let server = TestServer::start_with(|c| c.auth.plaintext_on_loopback = false);
    // Submission offers no AUTH before STARTTLS.
    let replies = raw_session(
        server.addr(Service::Submission),
        b"EHLO x.test\r\nAUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXB3\r\nQUIT\r\n",
        Duration::from_secs(3),
    );
    assert!(
        !replies.contains("AUTH PLAIN LOGIN") && !replies.contains("250-AUTH"),
        "{replies}"
    );
    assert!(!replies.contains("235"), "{replies}");
    // POP3 refuses USER/PASS before STLS.
    let mut s = TcpStream::connect(server.addr(Service::Pop3)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"USER alice@example.org\r\nPASS alice-pw\r\nQUIT\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(!out.contains("maildrop has"), "{out}");
    assert!(out.contains("-ERR"), "{out}");
}

#[test]
fn pop3_locks_the_maildrop_and_deletes_only_at_quit() {
    let server = TestServer::start();
    let smtp = server.addr(Service::Smtp);
    for i in 0..3 {
        let payload = format!(
            "EHLO x.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: m{i}\r\n\r\nbody {i}\r\n.\r\nQUIT\r\n"
        );
        assert!(
            raw_session(smtp, payload.as_bytes(), Duration::from_secs(3)).contains("Ok: queued")
        );
    }
    let pop3 = server.addr(Service::Pop3);
    let mut first = TcpStream::connect(pop3).unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut reader = std::io::BufReader::new(first.try_clone().unwrap());
    let mut line = String::new();
    let read_line = |reader: &mut std::io::BufReader<TcpStream>, line: &mut String| {
        line.clear();
        std::io::BufRead::read_line(reader, line).unwrap();
    };
    read_line(&mut reader, &mut line);
    first
        .write_all(b"USER alice@example.org\r\nPASS alice-pw\r\n")
        .unwrap();
    read_line(&mut reader, &mut line);
    read_line(&mut reader, &mut line);
    assert!(line.starts_with("+OK maildrop has 3"), "{line}");
    // A second session is refused while the first holds the lock.
    let mut second = TcpStream::connect(pop3).unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    second
        .write_all(b"USER alice@example.org\r\nPASS alice-pw\r\nQUIT\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = second.read_to_string(&mut out);
    assert!(out.contains("-ERR [IN-USE]"), "{out}");
    // DELE then drop the connection without QUIT: nothing is deleted.
    first.write_all(b"DELE 1\r\n").unwrap();
    read_line(&mut reader, &mut line);
    assert!(line.starts_with("+OK"), "{line}");
    drop(first);
    drop(reader);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.messages("alice@example.org").len(), 3);
    // DELE then QUIT: deleted.
    let out = raw_session(
        pop3,
        b"USER alice@example.org\r\nPASS alice-pw\r\nDELE 2\r\nQUIT\r\n",
        Duration::from_secs(3),
    );
    assert!(out.contains("+OK bye (2 messages left)"), "{out}");
    let left = server.messages("alice@example.org");
    assert_eq!(left.len(), 2);
    assert!(
        left.iter()
            .all(|m| !String::from_utf8_lossy(m).contains("Subject: m1")),
        "message 2 (m1) is gone"
    );
}

#[test]
fn limits_recipients_and_size_get_protocol_replies() {
    let server = TestServer::start_with(|c| {
        c.limits.max_recipients = 2;
        c.limits.max_message_size = 2048;
    });
    let smtp = server.addr(Service::Smtp);
    let replies = raw_session(
        smtp,
        b"EHLO x.test\r\nMAIL FROM:<a@remote.test> SIZE=5000\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<team@example.org>\r\nQUIT\r\n",
        Duration::from_secs(3),
    );
    assert!(replies.contains("SIZE 2048"), "{replies}");
    assert!(replies.contains("552"), "SIZE refused early: {replies}");
    assert!(
        replies.contains("452 4.5.3"),
        "too many recipients: {replies}"
    );
    let big = "x".repeat(100);
    let mut payload = String::from(
        "EHLO x.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n",
    );
    for _ in 0..40 {
        payload.push_str(&big);
        payload.push_str("\r\n");
    }
    payload.push_str(".\r\nQUIT\r\n");
    let replies = raw_session(smtp, payload.as_bytes(), Duration::from_secs(3));
    assert!(replies.contains("552 5.3.4"), "{replies}");
    assert!(server.messages("alice@example.org").is_empty());
}

#[test]
fn connections_per_ip_are_limited() {
    let server = TestServer::start_with(|c| c.limits.max_connections_per_ip = 2);
    let smtp = server.addr(Service::Smtp);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(smtp).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"220"));
        held.push(s);
    }
    let mut third = TcpStream::connect(smtp).unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut out = String::new();
    let _ = third.read_to_string(&mut out);
    assert!(out.starts_with("421 4.7.0"), "{out}");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let out = raw_session(smtp, b"QUIT\r\n", Duration::from_secs(2));
    assert!(out.starts_with("220"), "slot released: {out}");
}

const TLS_WITH_CA: &str = r"
import smtplib, poplib, ssl, sys
ca, smtp, sub, subs, pop3, pop3s = sys.argv[1], *map(int, sys.argv[2:7])
ctx = ssl.create_default_context(cafile=ca)
ctx.minimum_version = ssl.TLSVersion.TLSv1_2
with smtplib.SMTP('localhost', smtp, timeout=20) as s:
    s.starttls(context=ctx)
    s.ehlo('client.test')
    assert not s.has_extn('starttls'), 'STARTTLS is not offered twice'
    s.sendmail('s@remote.test', ['alice@example.org'], b'Subject: over starttls\r\n\r\nhi\r\n')
with smtplib.SMTP('localhost', sub, timeout=20) as s:
    s.starttls(context=ctx)
    s.login('bob@example.org', 'bob-pw')
    s.sendmail('bob@example.org', ['alice@example.org'], b'Subject: submitted\r\n\r\nhi\r\n')
with smtplib.SMTP_SSL('localhost', subs, context=ctx, timeout=20) as s:
    s.login('bob@example.org', 'bob-pw')
    s.sendmail('bob@example.org', ['alice@example.org'], b'Subject: implicit\r\n\r\nhi\r\n')
p = poplib.POP3('localhost', pop3, timeout=20)
p.stls(context=ctx)
p.user('alice@example.org'); p.pass_('alice-pw')
print('stls', p.stat()[0]); p.quit()
p = poplib.POP3_SSL('localhost', pop3s, context=ctx, timeout=20)
p.user('alice@example.org'); p.pass_('alice-pw')
print('pop3s', p.stat()[0], p._tls_established if hasattr(p, '_tls_established') else ''); p.quit()
";

#[test]
fn starttls_and_implicit_tls_verify_against_a_test_ca() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let dir = common::tempdir("e2e-ca");
    let (server, ca) = common::start_with_test_ca(&dir);
    let ports: Vec<String> = [
        Service::Smtp,
        Service::Submission,
        Service::Submissions,
        Service::Pop3,
        Service::Pop3s,
    ]
    .iter()
    .map(|s| server.port(*s).to_string())
    .collect();
    let mut args = vec![ca.to_str().unwrap().to_owned()];
    args.extend(ports);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = python(TLS_WITH_CA, &args);
    assert!(out.contains("stls 3") && out.contains("pop3s 3"), "{out}");
    let subjects: Vec<String> = server
        .messages("alice@example.org")
        .iter()
        .map(|m| {
            String::from_utf8_lossy(m)
                .lines()
                .find(|l| l.starts_with("Subject:"))
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        subjects,
        [
            "Subject: over starttls",
            "Subject: submitted",
            "Subject: implicit"
        ]
    );
    let first = String::from_utf8_lossy(&server.messages("alice@example.org")[1]).into_owned();
    assert!(
        first.contains("with ESMTPSA"),
        "authenticated TLS submission is recorded (RFC 3848): {first}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

const POP3_RECONNECT: &str = r"
import poplib, ssl, sys
port, tls_port = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
for i in range(30):
    if i % 2:
        p = poplib.POP3_SSL('127.0.0.1', tls_port, context=ctx, timeout=10)
    else:
        p = poplib.POP3('127.0.0.1', port, timeout=10)
    p.user('alice@example.org'); p.pass_('alice-pw')
    p.stat()
    p.quit()
print('ok')
";

#[test]
fn pop3_releases_the_lock_before_answering_quit() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    // A client that logs in again as soon as it reads QUIT's +OK must never find its own previous
    // session still holding the maildrop ([IN-USE]).
    let out = python(
        POP3_RECONNECT,
        &[
            &server.port(Service::Pop3).to_string(),
            &server.port(Service::Pop3s).to_string(),
        ],
    );
    assert_eq!(out.trim(), "ok");
}
