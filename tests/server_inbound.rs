//! Inbound mail a postmaster can trust, on SMTP, submission and LMTP (in-process server, raw
//! sessions):
//!
//! - one copy per final mailbox per transaction, whatever led to it (the same RCPT a hundred
//!   times, case, `+detail`, an alias, a catch-all);
//! - all or nothing: a copy that cannot be stored (or a queue file that cannot be written) leaves
//!   no other copy behind in SMTP; LMTP keeps the copies of the recipients answered 250; a full
//!   mailbox is refused at RCPT;
//! - postmaster@, abuse@, MAILER-DAEMON@ and `<Postmaster>` always accepted and routed;
//! - loops: too many `Received:` fields, and `Delivered-To:` naming a recipient;
//! - long lines (DATA and BDAT) and NUL octets stored as received; NUL served as 0x80 by POP3
//!   and IMAP alike;
//! - DSN offered on all three ports, NOTIFY=SUCCESS reported from `<>` with ENVID and ORCPT;
//! - the SMTP error limits and the DATA deadline of `[limits]`.

#![allow(clippy::naive_bytecount)]

mod common;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::TestServer;
use common::smtp_client::{Client, Reply};
use mailwright::server::Service;

const T: Duration = Duration::from_secs(20);

/// A session greeted with `hello` (`EHLO client.test` or `LHLO client.test`).
fn hello(addr: SocketAddr, hello: &str) -> Client {
    let mut c = Client::greeted(addr, T).unwrap();
    let r = c.command(hello).unwrap();
    assert_eq!(r.code, 250, "{r:?}");
    c
}

fn ok(r: &Reply) -> bool {
    r.is_ok()
}

fn code(r: &Reply) -> String {
    r.lines.last().cloned().unwrap_or_default()
}

/// MAIL, each RCPT (expecting 2xx), DATA, the message; the replies to the end of data.
fn transaction(c: &mut Client, from: &str, rcpts: &[&str], data: &[u8], lmtp: bool) -> Vec<Reply> {
    let r = c.command(&format!("MAIL FROM:<{from}>")).unwrap();
    assert!(ok(&r), "{r:?}");
    for rcpt in rcpts {
        let r = c.command(&format!("RCPT TO:<{rcpt}>")).unwrap();
        assert!(ok(&r), "RCPT {rcpt}: {r:?}");
    }
    let r = c.command("DATA").unwrap();
    assert_eq!(r.code, 354, "{r:?}");
    c.data(data, if lmtp { rcpts.len() } else { 1 }).unwrap()
}

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: <sender@remote.test>\r\nTo: <alice@example.org>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@remote.test>\r\n\r\nbody of {subject}\r\n"
    )
    .into_bytes()
}

fn count_with(server: &TestServer, user: &str, needle: &str) -> usize {
    server
        .messages(user)
        .iter()
        .filter(|m| String::from_utf8_lossy(m).contains(needle))
        .count()
}

/// Polls until `f` holds, or panics with `what` after 30 s.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn one_copy_per_final_mailbox_however_it_was_named() {
    let server = TestServer::start();
    // The same recipient up to the recipient limit (100).
    let mut rcpts = vec!["alice@example.org"; 96];
    // Case, +detail, the alias reaching alice and bob, the catch-all reaching bob.
    rcpts.extend([
        "Alice@EXAMPLE.org",
        "alice+news@example.org",
        "team@example.org",
        "whoever@example.net",
    ]);
    for (service, greeting, lmtp) in [
        (Service::Smtp, "EHLO client.test", false),
        (Service::Lmtp, "LHLO client.test", true),
    ] {
        let mut c = hello(server.addr(service), greeting);
        let subject = format!("dedup-{lmtp}");
        let replies = transaction(
            &mut c,
            "sender@remote.test",
            &rcpts,
            &message(&subject),
            lmtp,
        );
        assert_eq!(replies.len(), if lmtp { rcpts.len() } else { 1 });
        assert!(replies.iter().all(ok), "{replies:?}");
        c.quit();
        assert_eq!(count_with(&server, "alice@example.org", &subject), 1);
        assert_eq!(count_with(&server, "bob@example.org", &subject), 1);
    }
    // The copy names the first recipient that led to the mailbox.
    let alice = server.messages("alice@example.org");
    assert!(alice[0].starts_with(b"Delivered-To: alice@example.org\n"));
    let bob = String::from_utf8_lossy(&server.messages("bob@example.org")[0]).into_owned();
    assert!(bob.starts_with("Delivered-To: team@example.org\n"), "{bob}");
}

/// Makes a user's Maildir unusable for new copies: its `tmp/` becomes a file.
fn break_maildir(server: &TestServer, user: &str) {
    let md = server.maildir(user);
    mailwright::store::create_user_maildir(&md).unwrap();
    std::fs::remove_dir_all(md.join("tmp")).unwrap();
    std::fs::write(md.join("tmp"), b"not a directory").unwrap();
}

#[test]
fn a_copy_that_cannot_be_stored_leaves_no_other_copy_in_smtp() {
    let server = TestServer::start();
    break_maildir(&server, "bob@example.org");
    let mut c = hello(server.addr(Service::Smtp), "EHLO client.test");
    let replies = transaction(
        &mut c,
        "sender@remote.test",
        &["alice@example.org", "bob@example.org"],
        &message("atomic-smtp"),
        false,
    );
    assert!(code(&replies[0]).starts_with("451 4.3.0"), "{replies:?}");
    c.quit();
    assert!(
        server.messages("alice@example.org").is_empty(),
        "no copy kept"
    );
    let tmp = server.maildir("alice@example.org").join("tmp");
    assert_eq!(
        std::fs::read_dir(tmp).unwrap().count(),
        0,
        "nothing left in tmp/"
    );
}

#[test]
fn lmtp_keeps_the_copies_of_the_recipients_answered_250() {
    let server = TestServer::start();
    break_maildir(&server, "bob@example.org");
    let mut c = hello(server.addr(Service::Lmtp), "LHLO client.test");
    // alice alone, bob alone, and team (alice and bob): alice's copy serves alice and team.
    let replies = transaction(
        &mut c,
        "sender@remote.test",
        &["alice@example.org", "bob@example.org", "team@example.org"],
        &message("atomic-lmtp"),
        true,
    );
    c.quit();
    assert_eq!(replies[0].code, 250, "{replies:?}");
    assert!(code(&replies[1]).starts_with("451 4.3.0"), "{replies:?}");
    assert!(code(&replies[2]).starts_with("451 4.3.0"), "{replies:?}");
    assert_eq!(count_with(&server, "alice@example.org", "atomic-lmtp"), 1);
}

#[test]
fn a_queue_file_that_cannot_be_written_rolls_the_local_copies_back() {
    let server = TestServer::start();
    // Submission: a local recipient and one elsewhere; the queue cannot take the message.
    let tmp = server.dir.join("queue/tmp");
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::write(&tmp, b"not a directory").unwrap();
    let mut c = hello(server.addr(Service::Submission), "EHLO client.test");
    let r = c
        .command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXB3")
        .unwrap();
    assert_eq!(r.code, 235, "{r:?}");
    let replies = transaction(
        &mut c,
        "alice@example.org",
        &["bob@example.org", "friend@remote.test"],
        &message("atomic-queue"),
        false,
    );
    c.quit();
    assert!(code(&replies[0]).starts_with("451 4.3.0"), "{replies:?}");
    assert!(
        server.messages("bob@example.org").is_empty(),
        "the committed local copy was rolled back"
    );
}

#[test]
fn a_full_mailbox_is_refused_at_rcpt() {
    for permanent in [false, true] {
        let server = TestServer::start_with(|c| c.storage.quota_full_permanent = permanent);
        let md =
            mailwright::store::create_user_maildir(&server.maildir("bob@example.org")).unwrap();
        md.set_quota(mailwright::maildir::Quota {
            bytes: Some(2000),
            messages: Some(1),
        })
        .unwrap();
        let expected = if permanent { "552 5.2.2" } else { "452 4.2.2" };
        let mut c = hello(server.addr(Service::Smtp), "EHLO client.test");
        // SIZE= announces more than the quota leaves.
        assert!(ok(&c
            .command("MAIL FROM:<s@remote.test> SIZE=5000")
            .unwrap()));
        let r = c.command("RCPT TO:<bob@example.org>").unwrap();
        assert!(code(&r).starts_with(expected), "{r:?}");
        assert!(ok(&c.command("RSET").unwrap()));
        let replies = transaction(
            &mut c,
            "s@remote.test",
            &["bob@example.org"],
            &message("q1"),
            false,
        );
        assert!(ok(&replies[0]), "{replies:?}");
        // Now the message count is used up.
        assert!(ok(&c.command("MAIL FROM:<s@remote.test>").unwrap()));
        let r = c.command("RCPT TO:<bob@example.org>").unwrap();
        assert!(code(&r).starts_with(expected), "{r:?}");
        c.quit();
        let mut l = hello(server.addr(Service::Lmtp), "LHLO client.test");
        assert!(ok(&l.command("MAIL FROM:<s@remote.test>").unwrap()));
        let r = l.command("RCPT TO:<bob@example.org>").unwrap();
        assert!(code(&r).starts_with(expected), "LMTP: {r:?}");
        l.quit();
        assert_eq!(server.messages("bob@example.org").len(), 1);
    }
}

#[test]
fn postmaster_abuse_and_mailer_daemon_are_always_accepted() {
    let server = TestServer::start();
    let rcpts = [
        "<Postmaster>",
        "<postmaster@example.org>",
        "<POSTMASTER@example.net>",
        "<abuse@example.org>",
        "<mailer-daemon@localhost>",
        "<postmaster@localhost>",
    ];
    for (service, greeting) in [
        (Service::Smtp, "EHLO client.test"),
        (Service::Lmtp, "LHLO client.test"),
    ] {
        let mut c = hello(server.addr(service), greeting);
        for (i, rcpt) in rcpts.iter().enumerate() {
            assert!(ok(&c.command("MAIL FROM:<s@remote.test>").unwrap()));
            let r = c.command(&format!("RCPT TO:{rcpt}")).unwrap();
            assert!(ok(&r), "{rcpt}: {r:?}");
            assert_eq!(c.command("DATA").unwrap().code, 354);
            let replies = c
                .data(&message(&format!("pm-{greeting:.4}-{i}")), 1)
                .unwrap();
            assert!(ok(&replies[0]), "{rcpt}: {replies:?}");
        }
        c.quit();
    }
    // No [postmaster] address and no postmaster@localhost user: the first user, alice (the
    // catch-all of example.net does not take its postmaster).
    assert_eq!(count_with(&server, "alice@example.org", "Subject: pm-"), 12);
    assert_eq!(count_with(&server, "bob@example.org", "Subject: pm-"), 0);

    let server = TestServer::start_with(|c| {
        c.postmaster.address = "bob@example.org".into();
        c.postmaster.abuse = "team@example.org".into();
    });
    let mut c = hello(server.addr(Service::Smtp), "EHLO client.test");
    let r = transaction(
        &mut c,
        "s@remote.test",
        &["postmaster@example.org"],
        &message("pm-set"),
        false,
    );
    assert!(ok(&r[0]));
    let r = transaction(
        &mut c,
        "s@remote.test",
        &["abuse@example.net"],
        &message("abuse-set"),
        false,
    );
    assert!(ok(&r[0]));
    c.quit();
    assert_eq!(count_with(&server, "bob@example.org", "pm-set"), 1);
    assert_eq!(count_with(&server, "alice@example.org", "pm-set"), 0);
    assert_eq!(count_with(&server, "alice@example.org", "abuse-set"), 1);
    assert_eq!(count_with(&server, "bob@example.org", "abuse-set"), 1);
}

fn with_received(n: usize, subject: &str) -> Vec<u8> {
    let mut m = String::new();
    for i in 0..n {
        let _ = write!(
            m,
            "Received: from hop{i}.test by hop{}.test; Sun, 29 Nov 2026 01:00:00 +0000\r\n",
            i + 1
        );
    }
    m.push_str(&String::from_utf8(message(subject)).unwrap());
    m.into_bytes()
}

#[test]
fn too_many_received_fields_is_a_loop_on_every_port() {
    let server = TestServer::start();
    for (service, greeting, lmtp) in [
        (Service::Smtp, "EHLO client.test", false),
        (Service::Submission, "EHLO client.test", false),
        (Service::Lmtp, "LHLO client.test", true),
    ] {
        let mut c = hello(server.addr(service), greeting);
        if service == Service::Submission {
            let r = c
                .command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXB3")
                .unwrap();
            assert_eq!(r.code, 235);
        }
        let from = "alice@example.org";
        let at_limit = transaction(
            &mut c,
            from,
            &["bob@example.org"],
            &with_received(48, "hops-48"),
            lmtp,
        );
        assert!(ok(&at_limit[0]), "{service:?} {at_limit:?}");
        let over = transaction(
            &mut c,
            from,
            &["bob@example.org"],
            &with_received(49, "hops-49"),
            lmtp,
        );
        assert_eq!(code(&over[0]), "554 5.4.6 Too many hops", "{service:?}");
        c.quit();
    }
    assert_eq!(count_with(&server, "bob@example.org", "hops-48"), 3);
    assert_eq!(count_with(&server, "bob@example.org", "hops-49"), 0);
}

#[test]
fn delivered_to_a_recipient_before_is_a_forwarding_loop() {
    let server = TestServer::start();
    let looped = |subject: &str| {
        let mut m = b"Delivered-To: bob@example.org\r\n".to_vec();
        m.extend_from_slice(&message(subject));
        m
    };
    // SMTP, every recipient loops: the message is refused.
    let mut c = hello(server.addr(Service::Smtp), "EHLO client.test");
    let r = transaction(
        &mut c,
        "alice@example.org",
        &["bob@example.org"],
        &looped("loop-all"),
        false,
    );
    assert_eq!(
        code(&r[0]),
        "554 5.4.6 Mail forwarding loop for <bob@example.org>"
    );
    // Through the alias too: team reaches bob's mailbox.
    let r = transaction(
        &mut c,
        "alice@example.org",
        &["team@example.org"],
        &looped("loop-alias"),
        false,
    );
    assert!(
        ok(&r[0]),
        "team itself is not in Delivered-To: alice's copy goes, bob's mailbox is skipped: {r:?}"
    );
    // SMTP, some loop: the others get it, the sender a report about the looping ones.
    let r = transaction(
        &mut c,
        "alice@example.org",
        &["alice@example.org", "bob@example.org"],
        &looped("loop-some"),
        false,
    );
    assert!(ok(&r[0]), "{r:?}");
    c.quit();
    assert_eq!(count_with(&server, "bob@example.org", "Subject: loop-"), 0);
    // The loop report below may already be there and quotes the original's
    // header: count the originals only.
    let originals = |needle: &str| {
        server
            .messages("alice@example.org")
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .filter(|m| m.contains(needle) && !m.contains("multipart/report"))
            .count()
    };
    assert_eq!(originals("Subject: loop-alias"), 1);
    assert_eq!(originals("Subject: loop-some"), 1);
    wait_until("the loop report", || {
        count_with(&server, "alice@example.org", "multipart/report") == 1
    });
    let report = server
        .messages("alice@example.org")
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .find(|m| m.contains("multipart/report"))
        .unwrap();
    assert!(report.contains("Return-Path: <>\n"), "{report}");
    assert!(
        report.contains("From: Mail Delivery System <postmaster@localhost>"),
        "{report}"
    );
    assert!(
        report
            .contains("Final-Recipient: rfc822; bob@example.org\nAction: failed\nStatus: 5.4.6\n"),
        "{report}"
    );
    assert!(report.contains("Subject: loop-some"), "{report}");
    // LMTP: per recipient.
    let mut l = hello(server.addr(Service::Lmtp), "LHLO client.test");
    let r = transaction(
        &mut l,
        "alice@example.org",
        &["alice@example.org", "bob@example.org"],
        &looped("loop-lmtp"),
        true,
    );
    l.quit();
    assert_eq!(r[0].code, 250, "{r:?}");
    assert_eq!(
        code(&r[1]),
        "554 5.4.6 Mail forwarding loop for <bob@example.org>"
    );
    assert_eq!(originals("Subject: loop-lmtp"), 1);
}

/// A message whose body has one line of `len` octets.
fn long_line_message(subject: &str, len: usize) -> Vec<u8> {
    let mut m = message(subject);
    m.extend(std::iter::repeat_n(b'x', len));
    m.extend_from_slice(b"\r\nend\r\n");
    m
}

/// BDAT LAST with `data` as one chunk; the reply.
fn bdat(c: &mut Client, from: &str, to: &str, data: &[u8]) -> Reply {
    assert!(ok(&c.command(&format!("MAIL FROM:<{from}>")).unwrap()));
    assert!(ok(&c.command(&format!("RCPT TO:<{to}>")).unwrap()));
    c.stream()
        .write_all(format!("BDAT {} LAST\r\n", data.len()).as_bytes())
        .unwrap();
    c.stream().write_all(data).unwrap();
    c.reply().unwrap()
}

#[test]
fn long_lines_are_stored_unchanged_up_to_the_limit() {
    let server = TestServer::start();
    let mut c = hello(server.addr(Service::Smtp), "EHLO client.test");
    // Postfix takes any length; RFC 5321's 1000 is where most servers stop. 10,000 goes in whole.
    let r = transaction(
        &mut c,
        "s@remote.test",
        &["alice@example.org"],
        &long_line_message("long-data", 10_000),
        false,
    );
    assert!(ok(&r[0]), "{r:?}");
    let r = bdat(
        &mut c,
        "s@remote.test",
        "alice@example.org",
        &long_line_message("long-bdat", 10_000),
    );
    assert!(ok(&r), "{r:?}");
    // Past limits.max_line_length (65536 with the line end): refused, DATA and BDAT alike.
    let r = transaction(
        &mut c,
        "s@remote.test",
        &["alice@example.org"],
        &long_line_message("too-long-data", 65_535),
        false,
    );
    assert!(code(&r[0]).starts_with("550 5.6.0"), "{r:?}");
    let r = bdat(
        &mut c,
        "s@remote.test",
        "alice@example.org",
        &long_line_message("too-long-bdat", 65_535),
    );
    assert!(code(&r).starts_with("550 5.6.0"), "{r:?}");
    let r = transaction(
        &mut c,
        "s@remote.test",
        &["alice@example.org"],
        &long_line_message("at-limit", 65_534),
        false,
    );
    assert!(ok(&r[0]), "{r:?}");
    c.quit();
    let stored = server.messages("alice@example.org");
    assert_eq!(stored.len(), 3);
    for (m, len) in stored.iter().zip([10_000, 10_000, 65_534]) {
        let line = m.split(|b| *b == b'\n').map(<[u8]>::len).max().unwrap();
        assert_eq!(line, len, "stored unchanged");
    }
}

#[test]
fn nul_octets_are_kept_and_served_as_0x80_by_pop3_and_imap() {
    let server = TestServer::start();
    let mut c = hello(server.addr(Service::Smtp), "EHLO client.test");
    let mut m = message("nul");
    m.extend_from_slice(b"a\0b\r\n");
    let r = transaction(&mut c, "s@remote.test", &["alice@example.org"], &m, false);
    assert!(ok(&r[0]), "Postfix passes NUL through, and so do we: {r:?}");
    c.quit();
    let stored = &server.messages("alice@example.org")[0];
    assert!(
        stored.windows(4).any(|w| w == b"a\0b\n"),
        "stored as received"
    );
    let crlf_size = stored.len() + stored.iter().filter(|b| **b == b'\n').count();

    // POP3: the size LIST gives is the octet count RETR sends, NUL as 0x80.
    let mut pop3 = TcpStream::connect(server.addr(Service::Pop3)).unwrap();
    pop3.set_read_timeout(Some(T)).unwrap();
    pop3.write_all(b"USER alice@example.org\r\nPASS alice-pw\r\nLIST 1\r\nRETR 1\r\nQUIT\r\n")
        .unwrap();
    let mut out = Vec::new();
    pop3.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(text.contains(&format!("+OK 1 {crlf_size}\r\n")), "{text}");
    assert!(out.windows(5).any(|w| w == b"a\x80b\r\n"), "{text}");
    assert!(!out.contains(&0), "{text}");

    // IMAP: the same octets, in a literal of the same size.
    let mut imap = TcpStream::connect(server.addr(Service::Imap)).unwrap();
    imap.set_read_timeout(Some(T)).unwrap();
    imap.write_all(b"a LOGIN alice@example.org alice-pw\r\nb SELECT INBOX\r\nc FETCH 1 BODY.PEEK[]\r\nd LOGOUT\r\n")
        .unwrap();
    let mut out = Vec::new();
    imap.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(
        text.contains(&format!("BODY[] {{{crlf_size}}}\r\n")),
        "{text}"
    );
    assert!(out.windows(5).any(|w| w == b"a\x80b\r\n"), "{text}");
}

#[test]
fn dsn_is_offered_and_a_success_notice_comes_from_the_null_sender() {
    let server = TestServer::start();
    for (service, greeting) in [
        (Service::Smtp, "EHLO client.test"),
        (Service::Submission, "EHLO client.test"),
        (Service::Lmtp, "LHLO client.test"),
    ] {
        let mut c = Client::greeted(server.addr(service), T).unwrap();
        let r = c.command(greeting).unwrap();
        assert!(
            r.lines.iter().any(|l| &l[4..] == "DSN"),
            "{service:?}: {r:?}"
        );
        c.quit();
    }
    let mut c = hello(server.addr(Service::Smtp), "EHLO client.test");
    assert!(ok(&c
        .command("MAIL FROM:<bob@example.org> RET=HDRS ENVID=env+2B42")
        .unwrap()));
    let r = c
        .command(
            "RCPT TO:<alice@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Alice@Example.ORG",
        )
        .unwrap();
    assert!(ok(&r), "{r:?}");
    // NEVER: no report, whatever happens.
    assert!(ok(&c
        .command("RCPT TO:<team@example.org> NOTIFY=NEVER")
        .unwrap()));
    assert_eq!(c.command("DATA").unwrap().code, 354);
    let r = c.data(&message("dsn-success"), 1).unwrap();
    assert!(ok(&r[0]), "{r:?}");
    c.quit();
    wait_until("the success report", || {
        count_with(&server, "bob@example.org", "multipart/report") == 1
    });
    std::thread::sleep(Duration::from_millis(500));
    let reports: Vec<String> = server
        .messages("bob@example.org")
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .filter(|m| m.contains("multipart/report"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0];
    assert!(report.contains("Return-Path: <>\n"), "{report}");
    assert!(
        report.contains("Original-Envelope-Id: env+42\n"),
        "{report}"
    );
    assert!(
        report.contains("Original-Recipient: rfc822;Alice@Example.ORG\nFinal-Recipient: rfc822; alice@example.org\nAction: delivered\nStatus: 2.0.0\n"),
        "{report}"
    );
    assert!(
        !report.contains("team@example.org"),
        "NOTIFY=NEVER: {report}"
    );
    assert!(report.contains("Subject: dsn-success"), "{report}");
    assert!(
        !report.contains("body of dsn-success"),
        "RET=HDRS: {report}"
    );
}

/// Sends `lines` one at a time, returning each reply's first line, until the server closes.
fn bad_commands(addr: SocketAddr, n: usize) -> (Vec<String>, Vec<Duration>) {
    let mut c = hello(addr, "EHLO client.test");
    let mut replies = Vec::new();
    let mut waits = Vec::new();
    for i in 0..n {
        let start = Instant::now();
        if c.stream()
            .write_all(format!("FROB {i}\r\n").as_bytes())
            .is_err()
        {
            break;
        }
        match c.reply() {
            Ok(r) => {
                waits.push(start.elapsed());
                replies.extend(r.lines);
            }
            Err(_) => break,
        }
    }
    (replies, waits)
}

#[test]
fn the_error_limits_of_limits_slow_down_then_close() {
    let server = TestServer::start_with(|c| {
        c.limits.soft_error_limit = 2;
        c.limits.hard_error_limit = 4;
        c.limits.error_delay_secs = 1;
    });
    let (replies, waits) = bad_commands(server.addr(Service::Smtp), 10);
    // Four errors: the fourth reply is followed by 421 and the close.
    assert_eq!(replies.len(), 5, "{replies:?}");
    assert!(
        replies[..4]
            .iter()
            .all(|r| r.starts_with("502") || r.starts_with("500")),
        "{replies:?}"
    );
    assert!(replies[4].starts_with("421 4.7.0"), "{replies:?}");
    assert!(waits[0] < Duration::from_millis(900), "{waits:?}");
    assert!(
        waits[2] >= Duration::from_millis(900),
        "past the soft limit: {waits:?}"
    );
}

#[test]
fn a_trickled_message_cannot_outlast_the_data_deadline() {
    let server = TestServer::start_with(|c| {
        c.limits.data_timeout_secs = 2;
        c.limits.idle_timeout_secs = 30;
    });
    let mut c = hello(server.addr(Service::Smtp), "EHLO client.test");
    assert!(ok(&c.command("MAIL FROM:<s@remote.test>").unwrap()));
    assert!(ok(&c.command("RCPT TO:<alice@example.org>").unwrap()));
    assert_eq!(c.command("DATA").unwrap().code, 354);
    let start = Instant::now();
    let mut closed = false;
    // One octet every 200 ms: always within the idle timeout, never done.
    for _ in 0..50 {
        if c.stream().write_all(b"x").is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if start.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let reply = c.reply();
    let elapsed = start.elapsed();
    if let Ok(r) = &reply {
        assert!(code(r).starts_with("421 4.4.2"), "{r:?}");
    } else {
        assert!(closed, "{reply:?}");
    }
    assert!(elapsed < Duration::from_secs(5), "closed after {elapsed:?}");
    assert!(server.messages("alice@example.org").is_empty());
}
