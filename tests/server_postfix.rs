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
