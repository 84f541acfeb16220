//! Real Postfix (a private instance, Debian's package) relays mail into our LMTP unix socket with its
//! `lmtp:` transport, as Postfix hands mail to Dovecot's LMTP in the usual setup.
//!
//! Postfix: `virtual_mailbox_domains = example.org`, `virtual_transport = lmtp:unix:<our socket>`,
//! every other transport `error:`. Mail goes in through Postfix's smtpd (Python smtplib) and must
//! arrive whole in our Maildir; a recipient our LMTP does not know must become a bounce in
//! Postfix's log, not a delivery.

mod common;

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::postfix::Postfix;
use common::{TestServer, peer, python, strip_trace};

const SEND: &str = r"
import smtplib, sys
port, mail_from, rcpts, path = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(','), sys.argv[4]
msg = open(path, 'rb').read()
with smtplib.SMTP('127.0.0.1', port, timeout=20) as s:
    s.ehlo('client.test')
    refused = s.sendmail(mail_from, rcpts, msg, mail_options=['BODY=8BITMIME'])
    print('refused', sorted(refused))
";

/// Starts our server and a Postfix relaying `example.org` into its LMTP socket.
fn setup(name: &str) -> Option<(TestServer, Postfix)> {
    peer::require("python3", "python3")?;
    let server = TestServer::start();
    // Postfix's lmtp client runs as the `postfix` user: the server makes its socket 0666 (as
    // Dovecot does) so that works without a chmod here.
    let mode = std::fs::metadata(&server.lmtp_socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o666, "LMTP socket mode {mode:o}");
    let postfix = Postfix::start(
        name,
        &format!(
            "virtual_mailbox_domains = example.org\n\
             virtual_transport = lmtp:unix:{}\n\
             # Recipients are checked by our LMTP, not by a Postfix table.\n\
             smtpd_reject_unlisted_recipient = no\n\
             smtputf8_enable = no\n",
            server.lmtp_socket.display()
        ),
    )?;
    Some((server, postfix))
}

fn wait_for_messages(server: &TestServer, user: &str, count: usize, postfix: &Postfix) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.messages(user).len() < count {
        assert!(
            Instant::now() < deadline,
            "{user} got {} of {count} messages in 30 s; postfix log:\n{}",
            server.messages(user).len(),
            postfix.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn postfix_relays_into_our_lmtp_socket_whole() {
    let Some((server, postfix)) = setup("postfix-lmtp") else {
        return;
    };
    let dir = common::tempdir("postfix-msg");
    // 8-bit text, dot lines, a `From ` line, a long body: what an LMTP hop must keep intact.
    let mut message = String::from(
        "From: Sender <sender@remote.test>\r\nTo: alice@example.org, team@example.org\r\nSubject: through postfix\r\nDate: Sun, 29 Nov 2026 01:00:00 +0000\r\nMessage-ID: <through-postfix@remote.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    );
    message.push_str("Grüße aus Köln\r\n.\r\n..two\r\n.leading\r\nFrom the start\r\n\r\n");
    for i in 0..2000 {
        let _ = write!(message, "body line {i:04} {}\r\n", "z".repeat(40));
    }
    message.push_str("END OF MESSAGE\r\n");
    std::fs::write(dir.join("msg"), &message).unwrap();
    let out = python(
        SEND,
        &[
            &postfix.port.to_string(),
            "sender@remote.test",
            "alice@example.org,team@example.org",
            dir.join("msg").to_str().unwrap(),
        ],
    );
    assert!(out.contains("refused []"), "{out}");
    // alice directly and through team, in one LMTP transaction: one copy for her mailbox; bob
    // through team. Both recipients are answered 250.
    wait_for_messages(&server, "alice@example.org", 1, &postfix);
    wait_for_messages(&server, "bob@example.org", 1, &postfix);
    let log = postfix.wait_log(Duration::from_secs(10), |l| {
        l.matches("status=sent").count() >= 2
    });
    assert_eq!(server.messages("alice@example.org").len(), 1, "{log}");
    assert!(
        log.lines()
            .filter(|l| l.contains("status=sent"))
            .all(|l| l.contains("lmtp") && l.contains("250 2.0.0")),
        "{log}"
    );
    let lf = message.replace("\r\n", "\n");
    for (user, delivered_to) in [
        (
            "alice@example.org",
            ["alice@example.org", "team@example.org"],
        ),
        ("bob@example.org", ["team@example.org", "team@example.org"]),
    ] {
        for stored in server.messages(user) {
            let text = String::from_utf8_lossy(&stored).into_owned();
            assert!(
                text.contains("(Postfix) with ESMTP"),
                "Postfix's Received: {text}"
            );
            assert!(text.contains("with LMTP"), "our Received: {text}");
            assert!(
                text.contains("Return-Path: <sender@remote.test>\n"),
                "{text}"
            );
            assert_eq!(
                String::from_utf8_lossy(strip_trace(&stored)),
                lf,
                "{user}: the message arrives whole after the trace fields"
            );
            let to = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("Delivered-To: "))
                .unwrap_or_default();
            assert!(delivered_to.contains(&to), "{user}: {text}");
        }
    }
    drop(postfix);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unknown_recipient_at_our_lmtp_bounces_in_postfix() {
    let Some((server, postfix)) = setup("postfix-unknown") else {
        return;
    };
    let dir = common::tempdir("postfix-unknown-msg");
    std::fs::write(
        dir.join("msg"),
        "From: s@remote.test\r\nTo: nobody@example.org\r\nSubject: unknown\r\nMessage-ID: <unknown@remote.test>\r\n\r\nnobody reads this\r\n",
    )
    .unwrap();
    // Postfix accepts (it does not know our users); our LMTP refuses the recipient.
    let out = python(
        SEND,
        &[
            &postfix.port.to_string(),
            "s@remote.test",
            "nobody@example.org,alice@example.org",
            dir.join("msg").to_str().unwrap(),
        ],
    );
    assert!(out.contains("refused []"), "{out}");
    let log = postfix.wait_log(Duration::from_secs(30), |l| {
        l.contains("to=<nobody@example.org>") && l.contains("status=bounced")
    });
    let line = log
        .lines()
        .find(|l| l.contains("to=<nobody@example.org>") && l.contains("status="))
        .unwrap();
    assert!(line.contains("status=bounced"), "{line}");
    assert!(
        line.contains("550 5.1.1"),
        "our refusal is in the bounce: {line}"
    );
    assert!(line.contains("RCPT TO"), "{line}");
    // The other recipient of the same message was delivered.
    wait_for_messages(&server, "alice@example.org", 1, &postfix);
    assert!(server.messages("bob@example.org").is_empty());
    assert!(
        !server.dir.join("mail/example.org/nobody").exists(),
        "no mailbox made for an unknown user"
    );
    drop(postfix);
    let _ = std::fs::remove_dir_all(dir);
}

/// Starts our server with `hostname = "mw.test"`, relaying through `relay_port` (a Postfix), and a
/// Postfix that sends `example.org` and `mw.test` to our SMTP port, with `extra` in its main.cf.
fn mx_pair(name: &str, extra: &str) -> Option<(TestServer, Postfix)> {
    let relay_port = common::postfix::free_port();
    let server = TestServer::start_with(|c| {
        c.hostname = "mw.test".into();
        c.outbound.relayhost = format!("[127.0.0.1]:{relay_port}");
        c.outbound.retry_schedule_secs = vec![1];
        c.outbound.delay_warning_secs = 0;
    });
    let ours = server.port(mailwright::server::Service::Smtp);
    let postfix = Postfix::start_on(
        name,
        relay_port,
        &format!(
            "relay_domains = example.org, mw.test\n\
             transport_maps = inline:{{ example.org=smtp:[127.0.0.1]:{ours}, mw.test=smtp:[127.0.0.1]:{ours} }}\n\
             smtputf8_enable = no\n\
             {extra}\n"
        ),
    )?;
    Some((server, postfix))
}

fn wait_for_mail(server: &TestServer, user: &str, needle: &str, postfix: &Postfix) -> String {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        if let Some(m) = server
            .messages(user)
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .find(|m| m.contains(needle))
        {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{user} got no message with {needle:?} in 60 s; postfix log:\n{}",
            postfix.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Postfix -> us -> an alias forwarding to a Postfix domain -> Postfix (which sends that address
/// back to the alias) -> us: the second arrival carries our Delivered-To, is refused as a
/// forwarding loop, and the sender gets Postfix's bounce through our SRS address. Not forever.
#[test]
fn a_two_hop_forwarding_loop_with_postfix_ends_in_a_bounce() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let Some((server, postfix)) = mx_pair(
        "postfix-loop",
        "virtual_alias_domains = postfix.test\n\
         virtual_alias_maps = inline:{ x@postfix.test=loop@example.org }",
    ) else {
        return;
    };
    mailwright::core::directory::Directory::open(&server.dir, Duration::ZERO)
        .add_alias(
            &"loop@example.org".parse().unwrap(),
            &["x@postfix.test".parse().unwrap()],
        )
        .unwrap();
    let dir = common::tempdir("postfix-loop-msg");
    std::fs::write(
        dir.join("msg"),
        "From: alice@example.org\r\nTo: loop@example.org\r\nSubject: round and round\r\nMessage-ID: <loop@example.org>\r\n\r\nwhere does it end?\r\n",
    )
    .unwrap();
    let out = python(
        SEND,
        &[
            &postfix.port.to_string(),
            "alice@example.org",
            "loop@example.org",
            dir.join("msg").to_str().unwrap(),
        ],
    );
    assert!(out.contains("refused []"), "{out}");
    let bounce = wait_for_mail(&server, "alice@example.org", "multipart/report", &postfix);
    assert!(
        bounce.contains("MAILER-DAEMON@postfix.test"),
        "Postfix's bounce: {bounce}"
    );
    assert!(
        bounce.contains("5.4.6") && bounce.contains("Mail forwarding loop for <loop@example.org>"),
        "our refusal is in it: {bounce}"
    );
    assert!(bounce.contains("Subject: round and round"), "{bounce}");
    // Twice through us (the first delivery, the looping one), once bounced; then quiet.
    std::thread::sleep(Duration::from_secs(3));
    let log = postfix.log();
    let to_loop = log
        .lines()
        .filter(|l| l.contains("to=<loop@example.org>") && l.contains("status="))
        .count();
    assert_eq!(to_loop, 2, "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("to=<loop@example.org>") && l.contains("status=bounced")),
        "{log}"
    );
    assert_eq!(
        server
            .messages("alice@example.org")
            .iter()
            .filter(|m| String::from_utf8_lossy(m).contains("multipart/report"))
            .count(),
        1
    );
    drop(postfix);
    let _ = std::fs::remove_dir_all(dir);
}

/// Postfix's sendmail asks for a success notice (`-N success`): Postfix passes NOTIFY and ORCPT to
/// us (we offer DSN), we deliver and send the "delivered" report from `<>`; Postfix sends none.
#[test]
fn postfix_sendmail_notify_success_gets_our_delivered_report() {
    let Some((server, postfix)) = mx_pair("postfix-dsn", "") else {
        return;
    };
    let sendmail = peer::require("sendmail", "postfix").unwrap();
    let mut child = std::process::Command::new(sendmail)
        .arg("-C")
        .arg(postfix.conf())
        .args([
            "-f",
            "alice@example.org",
            "-N",
            "success,failure",
            "-V",
            "env-77",
        ])
        .arg("bob@example.org")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"From: alice@example.org\nTo: bob@example.org\nSubject: tell me when\n\nhello bob\n",
        )
        .unwrap();
    assert!(child.wait().unwrap().success());
    let delivered = wait_for_mail(
        &server,
        "bob@example.org",
        "Subject: tell me when",
        &postfix,
    );
    assert!(
        delivered.contains("by postfix.test (Postfix"),
        "{delivered}"
    );
    let report = wait_for_mail(&server, "alice@example.org", "multipart/report", &postfix);
    assert!(report.contains("Return-Path: <>\n"), "{report}");
    assert!(
        report.contains("From: Mail Delivery System <postmaster@mw.test>"),
        "{report}"
    );
    assert!(
        report.contains("Original-Recipient: rfc822;bob@example.org\nFinal-Recipient: rfc822; bob@example.org\nAction: delivered\nStatus: 2.0.0\n"),
        "{report}"
    );
    assert!(
        report.contains("Original-Envelope-Id: env-77\n"),
        "{report}"
    );
    assert!(report.contains("Subject: tell me when"), "{report}");
    let log = postfix.wait_log(Duration::from_secs(10), |l| l.contains("status=sent"));
    assert!(
        !log.contains("sender delivery status notification"),
        "we offered DSN: the notice is ours, not Postfix's:\n{log}"
    );
}

/// The reply codes (with enhanced codes' class) of one session: EHLO, MAIL, each RCPT, then DATA
/// with `data`, if any recipient was taken.
fn codes(addr: std::net::SocketAddr, rcpts: &[&str], data: &[u8]) -> Vec<u16> {
    use common::smtp_client::Client;
    let mut c = Client::connect(addr, Duration::from_secs(20)).unwrap();
    let mut codes = vec![c.command("MAIL FROM:<s@remote.test>").unwrap().code];
    for r in rcpts {
        codes.push(c.command(&format!("RCPT TO:{r}")).unwrap().code);
    }
    if codes[1..].contains(&250) {
        codes.push(c.command("DATA").unwrap().code);
        codes.extend(c.data(data, 1).unwrap().iter().map(|r| r.code));
    }
    c.quit();
    codes
}

/// Unknown commands until the server closes: the replies' codes.
fn errors_until_closed(addr: std::net::SocketAddr) -> Vec<u16> {
    use common::smtp_client::Client;
    use std::io::Write as _;
    let mut c = Client::connect(addr, Duration::from_secs(30)).unwrap();
    let mut codes = Vec::new();
    for i in 0..30 {
        if c.stream()
            .write_all(format!("FROB {i}\r\n").as_bytes())
            .is_err()
        {
            break;
        }
        match c.reply() {
            Ok(r) => codes.push(r.code),
            Err(_) => break,
        }
    }
    // The 421 may come in the same read as the last error reply.
    while let Ok(r) = c.reply() {
        codes.push(r.code);
    }
    codes
}

/// Each line of `lines` in one session after EHLO: the reply's code and enhanced code (from its
/// last line), and at the end whether the session is still open (a NOOP's code) or `closed`.
fn answers(addr: std::net::SocketAddr, lines: &[&str]) -> Vec<String> {
    use common::smtp_client::Client;
    let mut c = Client::connect(addr, Duration::from_secs(20)).unwrap();
    let mut out = Vec::new();
    for line in lines.iter().copied().chain(["NOOP"]) {
        match c.command(line) {
            Ok(r) => {
                let last = r.lines.last().cloned().unwrap_or_default();
                out.push(last.split(' ').take(2).collect::<Vec<_>>().join(" "));
            }
            Err(_) => {
                out.push("closed".to_owned());
                break;
            }
        }
    }
    out
}

/// Where the behaviour is a choice, we answer the same sessions as Postfix 3.7's smtpd does (its
/// defaults, with the error limits lowered alike to keep the test short).
#[test]
fn the_same_sessions_get_the_same_answers_as_postfix() {
    let server = TestServer::start_with(|c| {
        c.limits.soft_error_limit = 2;
        c.limits.hard_error_limit = 5;
    });
    let Some(postfix) = Postfix::start(
        "postfix-compare",
        "virtual_mailbox_domains = example.org\n\
         virtual_transport = discard:\n\
         smtpd_reject_unlisted_recipient = no\n\
         smtpd_soft_error_limit = 2\n\
         smtpd_hard_error_limit = 5\n",
    ) else {
        return;
    };
    let ours = server.addr(mailwright::server::Service::Smtp);
    let theirs: std::net::SocketAddr = ([127, 0, 0, 1], postfix.port).into();
    let message = |extra_head: &str, body: &[u8]| {
        let mut m =
            format!("{extra_head}From: s@remote.test\r\nSubject: compare\r\n\r\n").into_bytes();
        m.extend_from_slice(body);
        m.extend_from_slice(b"\r\n");
        m
    };
    let hops = |n: usize| {
        (0..n).fold(String::new(), |mut m, i| {
            let _ = write!(
                m,
                "Received: from h{i}.test by h{i}.test; Mon, 7 Dec 2026 01:00:00 +0000\r\n"
            );
            m
        })
    };
    let long = vec![b'y'; 10_000];
    let cases: Vec<(&str, Vec<&str>, Vec<u8>)> = vec![
        (
            "the same recipient 100 times",
            vec!["<alice@example.org>"; 100],
            message("", b"dup"),
        ),
        ("<Postmaster>", vec!["<Postmaster>"], message("", b"pm")),
        // Postfix counts its own Received field against hopcount_limit (50), and so do we.
        (
            "48 Received fields",
            vec!["<alice@example.org>"],
            message(&hops(48), b"ok"),
        ),
        (
            "49 Received fields",
            vec!["<alice@example.org>"],
            message(&hops(49), b"loop"),
        ),
        (
            "a 10,000-octet line",
            vec!["<alice@example.org>"],
            message("", &long),
        ),
        (
            "a NUL octet",
            vec!["<alice@example.org>"],
            message("", b"a\0b"),
        ),
    ];
    for (what, rcpts, data) in &cases {
        assert_eq!(
            codes(ours, rcpts, data),
            codes(theirs, rcpts, data),
            "{what}: our codes, then Postfix's"
        );
    }
    // Arguments that do not parse: the enhanced codes of a bad sender and recipient address, a
    // BDAT without a readable size ends the session, QUIT with words after it says goodbye.
    let mail = "MAIL FROM:<s@remote.test>";
    let rcpt = "RCPT TO:<alice@example.org>";
    let sessions: Vec<Vec<&str>> = vec![
        vec!["MAIL FROM:<s@remote.test"],
        vec!["MAIL FROM:<s@remote..test>"],
        vec![mail, "RCPT TO:<>"],
        vec![mail, "RCPT TO:<alice@example.org"],
        vec![mail, rcpt, "BDAT x"],
        vec![mail, rcpt, "BDAT 5 LASTX"],
        vec!["QUIT now"],
    ];
    for lines in &sessions {
        assert_eq!(
            answers(ours, lines),
            answers(theirs, lines),
            "{lines:?}: our answers, then Postfix's"
        );
    }
    let (ours_errors, theirs_errors) = (errors_until_closed(ours), errors_until_closed(theirs));
    assert_eq!(ours_errors, theirs_errors, "the hard error limit");
    assert_eq!(ours_errors.last(), Some(&421));
}
