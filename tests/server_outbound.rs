//! The outbound queue against real peers, offline: MX answers come from the test DNS server
//! (testsupport/dns.rs), the destination is Postfix's `smtp-sink` on a loopback port.
//!
//! - submission (smtplib, AUTH) to `user@remote.test` reaches the sink through the MX route;
//! - a destination answering 4xx, then replaced by one answering 250: exactly one delivery;
//! - 5xx: one RFC 3464 report in the sender's Maildir that Python's email parser reads as
//!   multipart/report; a null MX and a nonexistent domain bounce without a connection;
//! - an alias forwarding outside: the envelope sender is rewritten with SRS, and a bounce to the
//!   SRS address comes back to the original sender;
//! - `require_tls` to a destination without STARTTLS defers; to a second server of ours with a
//!   test-CA certificate it delivers over verified TLS, and defers when the CA is not trusted;
//! - relayed mail is DKIM-signed and Python's dkimpy verifies it; delay notices and expiry;
//! - the admin `queue` commands while the server runs;
//! - against a scripted receiver (tests/common/scripted.rs): a refusal in Latin-1 bounces its
//!   recipient; a receiver that stalls at each stage is given up on after that stage's configured
//!   timer (RFC 5321 §4.5.3.2) and the recipient deferred; a bounce of forwarded mail, addressed
//!   to our SRS address, reaches the original sender whether or not the host name is a local
//!   domain; `queue delete` leaves the other messages' back-off alone, and `queue list/show` give
//!   each recipient's state, last reply and next attempt;
//! - a smarthost (a second server of ours, certificate from a test CA): AUTH with credentials from
//!   a mode-0600 file over verified STARTTLS and over implicit TLS; a group-readable file is
//!   refused, an unverifiable certificate defers, and a `530 5.7.0` defers instead of bouncing;
//! - one message to a domain that is down and to one that is up: the second is delivered at once
//!   and its 5xx recipient reported at once, while the first backs off on its own; at most
//!   `destination_concurrency` deliveries to one domain at once; a destination none of whose hosts
//!   answers is backed off as a whole (its next message is deferred without a connection); an
//!   idle connection is reused for the next message to the same domain, then closed with QUIT;
//! - a message over 1 MiB is streamed from the queue file and arrives intact; DSN (RFC 3461): a
//!   next hop without DSN gets no DSN parameters and the sender who asked NOTIFY=SUCCESS gets a
//!   "relayed" report with ENVID and ORCPT; NOTIFY=FAILURE alone gets no delay notice.

mod common;

#[path = "../testsupport/dns.rs"]
mod dns_server;

use std::path::PathBuf;
use std::time::Duration;

use common::scripted::{self, Answer, Scripted};
use common::sink::{Sink, messages_in};
use common::smtp_client::Client;
use common::{TestServer, peer, python, wait_for};
use mailwright::outbound::queue::{self, RcptStatus};
use mailwright::server::Service;

/// A server whose MX lookups go to `dns` and whose MX port is `port`; retries after 1 s.
fn server(
    dns: &dns_server::DnsServer,
    port: u16,
    tweak: impl FnOnce(&mut mailwright::core::config::Config),
) -> TestServer {
    let dns_addr = dns.addr();
    TestServer::start_with(move |c| {
        c.hostname = "mx.example.org".into();
        c.dns.nameservers = vec![dns_addr];
        c.dns.timeout_secs = 2;
        c.outbound.mx_port = port;
        c.outbound.retry_schedule_secs = vec![1];
        c.outbound.delay_warning_secs = 0;
        c.outbound.connect_timeout_secs = 2;
        c.outbound.reply_timeout_secs = 10;
        tweak(c);
    })
}

/// The test DNS (see [`remote_dns`]), a free port and a sink on it started with `extra` options.
fn setup(name: &str, extra: &[&str]) -> Option<(dns_server::DnsServer, u16, Sink)> {
    let dns = remote_dns();
    let port = common::postfix::free_port();
    let sink = Sink::start(port, &common::tempdir(name), extra)?;
    Some((dns, port, sink))
}

fn remote_dns() -> dns_server::DnsServer {
    let dns = dns_server::DnsServer::start();
    dns.mx("remote.test", 10, "mx.remote.test");
    dns.a("mx.remote.test", "127.0.0.1".parse().unwrap());
    dns.mx("nomail.test", 0, ".");
    dns.mx("sender.test", 10, "mx.remote.test");
    dns
}

/// Sends one message through submission with AUTH (Python's smtplib).
fn submit(server: &TestServer, from: &str, to: &str, subject: &str) {
    let out = python(
        r#"
import smtplib, sys
port, sender, rcpt, subject = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = smtplib.SMTP("127.0.0.1", port, timeout=20)
s.ehlo("client.test")
s.login("alice@example.org", "alice-pw")
msg = f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@client.test>\r\n\r\nHello from the outbound test.\r\n"
s.sendmail(sender, [rcpt], msg)
s.quit()
print("sent")
"#,
        &[
            &server.port(Service::Submission).to_string(),
            from,
            to,
            subject,
        ],
    );
    assert!(out.contains("sent"), "{out}");
}

/// Sends one message on port 25 (EHLO `helo`, then MAIL, RCPT and DATA) and asserts the server
/// accepted it.
fn send_on_port_25(server: &TestServer, helo: &str, from: &str, to: &str, message: &[u8]) {
    let mut c = Client::connect(server.addr(Service::Smtp), Duration::from_secs(10)).unwrap();
    c.command(&format!("EHLO {helo}")).unwrap();
    let r = c.send(from, &[to], message).unwrap();
    assert!(r.is_ok(), "{r:?}");
    c.quit();
}

/// The user's messages whose text contains `needle`.
fn mail_with(server: &TestServer, user: &str, needle: &str) -> Vec<String> {
    server
        .messages(user)
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .filter(|m| m.contains(needle))
        .collect()
}

#[test]
fn submission_relays_through_mx_to_smtp_sink() {
    let Some((dns, port, sink)) = setup("sink-ok", &[]) else {
        return;
    };
    let server = server(&dns, port, |_| {});
    submit(
        &server,
        "alice@example.org",
        "friend@remote.test",
        "relay-1",
    );
    let got = wait_for(Duration::from_secs(20), "the sink to receive", || {
        let m = sink.messages();
        (!m.is_empty()).then_some(m)
    });
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert!(m.contains("X-Mail-Args: <alice@example.org>"), "{m}");
    assert!(m.contains("X-Rcpt-Args: <friend@remote.test>"), "{m}");
    assert!(m.contains("Subject: relay-1"), "{m}");
    assert!(
        m.contains("by mx.example.org (Mailwright)"),
        "our Received line: {m}"
    );
    assert!(
        !m.contains("Return-Path:"),
        "a relay adds no Return-Path: {m}"
    );
    assert!(
        dns.queries().iter().any(|(n, _)| n == "remote.test"),
        "the route came from an MX lookup"
    );
    // A quoted local part (RFC 5321 §4.1.2) is relayed as it came, quotes and all.
    submit(
        &server,
        "alice@example.org",
        "\"john smith\"@remote.test",
        "relay-quoted",
    );
    let got = wait_for(Duration::from_secs(20), "the quoted recipient", || {
        let m = sink.messages();
        (m.len() == 2).then_some(m)
    });
    let quoted = got
        .iter()
        .find(|m| m.contains("Subject: relay-quoted"))
        .unwrap();
    assert!(
        quoted.contains("X-Rcpt-Args: <\"john smith\"@remote.test>"),
        "{quoted}"
    );
    wait_for(Duration::from_secs(10), "an empty queue", || {
        queue::list(&server.dir.join("queue"))
            .unwrap()
            .is_empty()
            .then_some(())
    });
    // Unauthenticated port 25 may not relay.
    let mut c = Client::connect(server.addr(Service::Smtp), Duration::from_secs(10)).unwrap();
    c.command("EHLO client.test").unwrap();
    assert!(c.command("MAIL FROM:<x@sender.test>").unwrap().is_ok());
    let r = c.command("RCPT TO:<friend@remote.test>").unwrap();
    assert_eq!(r.code, 554, "{r:?}");
    c.quit();
}

#[test]
fn temporary_failure_then_success_delivers_exactly_once() {
    let Some((dns, port, sink)) = setup("sink-4xx", &["-r", "rcpt"]) else {
        return;
    };
    let server = server(&dns, port, |c| c.outbound.retry_schedule_secs = vec![3]);
    submit(
        &server,
        "alice@example.org",
        "friend@remote.test",
        "retry-1",
    );
    let qdir = server.dir.join("queue");
    let entry = wait_for(Duration::from_secs(20), "a deferral", || {
        queue::list(&qdir).ok()?.into_iter().find(|e| {
            matches!(&e.rcpts[0].status, RcptStatus::Pending(Some(a)) if a.reply.starts_with('4'))
        })
    });
    // Under load the poll may first see the state after a second deferral (3 s apart).
    assert!(entry.attempts >= 1, "{entry:?}");
    let dir4 = sink.dir().to_owned();
    drop(sink);
    let dir2 = common::tempdir("sink-2xx");
    let sink = Sink::start(port, &dir2, &[]).unwrap();
    let got = wait_for(Duration::from_secs(30), "the retry", || {
        let m = sink.messages();
        (!m.is_empty()).then_some(m)
    });
    assert!(got[0].contains("Subject: retry-1"));
    wait_for(Duration::from_secs(10), "an empty queue", || {
        queue::list(&qdir).unwrap().is_empty().then_some(())
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(sink.messages().len(), 1, "delivered exactly once");
    assert!(messages_in(&dir4).is_empty(), "the 4xx sink kept nothing");
    assert!(
        mail_with(&server, "alice@example.org", "delivery-status").is_empty(),
        "no report for a deferral"
    );
}

/// Python's email parser reads the report as RFC 3464 wants.
fn check_report(report: &str, action: &str, rcpt: &str, status_class: char) {
    // Unique per call: tests checking reports about the same recipient run at once.
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "mw-dsn-{}-{}-{rcpt}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::write(&path, report).unwrap();
    let out = python(
        r#"
import email, sys
from email import policy
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=policy.default)
assert m.get_content_type() == "multipart/report", m.get_content_type()
assert m.get_param("report-type") == "delivery-status"
parts = [p.get_content_type() for p in m.iter_parts()]
assert parts == ["text/plain", "message/delivery-status", "text/rfc822-headers"], parts
ds = list(m.iter_parts())[1]
blocks = ds.get_payload()
per_msg, per_rcpt = blocks[0], blocks[1]
print("reporting", per_msg["Reporting-MTA"])
print("action", per_rcpt["Action"])
print("status", per_rcpt["Status"])
print("final", per_rcpt["Final-Recipient"])
print("auto", m["Auto-Submitted"])
"#,
        &[path.to_str().unwrap()],
    );
    let _ = std::fs::remove_file(&path);
    assert!(out.contains(&format!("action {action}")), "{out}\n{report}");
    assert!(out.contains(&format!("status {status_class}.")), "{out}");
    assert!(out.contains(&format!("final rfc822; {rcpt}")), "{out}");
    assert!(out.contains("reporting dns; mx.example.org"), "{out}");
    assert!(out.contains("auto auto-replied"), "{out}");
}

#[test]
fn permanent_failures_bounce_once_to_the_sender() {
    let Some((dns, port, sink)) = setup("sink-5xx", &["-f", "rcpt"]) else {
        return;
    };
    let server = server(&dns, port, |_| {});
    submit(
        &server,
        "alice@example.org",
        "friend@remote.test",
        "bounce-1",
    );
    submit(
        &server,
        "alice@example.org",
        "someone@nomail.test",
        "bounce-2",
    );
    submit(
        &server,
        "alice@example.org",
        "someone@absent.test",
        "bounce-3",
    );
    let reports = wait_for(Duration::from_secs(30), "three reports", || {
        let r = mail_with(&server, "alice@example.org", "multipart/report");
        (r.len() >= 3).then_some(r)
    });
    let find = |needle: &str| {
        reports
            .iter()
            .find(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("no report about {needle}: {reports:?}"))
    };
    let sink_reply = find("friend@remote.test");
    check_report(sink_reply, "failed", "friend@remote.test", '5');
    assert!(
        sink_reply.contains("Remote-MTA: dns; mx.remote.test[127.0.0.1]"),
        "{sink_reply}"
    );
    assert!(
        sink_reply.contains("Subject: bounce-1"),
        "original headers: {sink_reply}"
    );
    assert!(
        sink_reply.contains("Return-Path: <>"),
        "sent from the null sender: {sink_reply}"
    );
    let null_mx = find("someone@nomail.test");
    check_report(null_mx, "failed", "someone@nomail.test", '5');
    assert!(null_mx.contains("5.1.10"), "{null_mx}");
    let nx = find("someone@absent.test");
    assert!(nx.contains("5.1.2"), "{nx}");
    assert!(sink.messages().is_empty());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        mail_with(&server, "alice@example.org", "multipart/report").len(),
        3,
        "one report per message"
    );
    assert!(queue::list(&server.dir.join("queue")).unwrap().is_empty());
}

#[test]
fn forwarding_rewrites_the_sender_with_srs_and_bounces_come_back() {
    let Some((dns, port, sink)) = setup("sink-srs", &[]) else {
        return;
    };
    let server = server(&dns, port, |_| {});
    mailwright::core::directory::Directory::open(&server.dir, Duration::ZERO)
        .add_alias(
            &"fwd@example.org".parse().unwrap(),
            &[
                "friend@remote.test".parse().unwrap(),
                "bob@example.org".parse().unwrap(),
            ],
        )
        .unwrap();
    send_on_port_25(
        &server,
        "outside.test",
        "writer@sender.test",
        "fwd@example.org",
        b"From: <writer@sender.test>\r\nSubject: forward-1\r\n\r\nhi\r\n",
    );
    let got = wait_for(Duration::from_secs(20), "the forwarded copy", || {
        let m = sink.messages();
        (!m.is_empty()).then_some(m)
    });
    let m = &got[0];
    assert!(m.contains("X-Rcpt-Args: <friend@remote.test>"), "{m}");
    let srs = m
        .lines()
        .find_map(|l| l.strip_prefix("X-Mail-Args: <"))
        .and_then(|l| l.split('>').next())
        .unwrap()
        .to_owned();
    assert!(
        srs.starts_with("srs0=") && srs.ends_with("=sender.test=writer@mx.example.org"),
        "{srs}"
    );
    assert_eq!(
        mail_with(&server, "bob@example.org", "forward-1").len(),
        1,
        "the local target got its copy"
    );
    // A bounce to the SRS address goes back to the original sender (whose MX is the sink too).
    let mut c = Client::connect(server.addr(Service::Smtp), Duration::from_secs(10)).unwrap();
    c.command("EHLO remote.test").unwrap();
    let r = c
        .send(
            "",
            &[&srs],
            b"Subject: bounce of forward-1\r\n\r\nfailed\r\n",
        )
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
    // A forged SRS address is refused.
    let forged = srs.replacen("srs0=", "srs0=zz", 1);
    assert!(
        !c.command("MAIL FROM:<>")
            .unwrap()
            .code
            .to_string()
            .is_empty()
    );
    let r = c.command(&format!("RCPT TO:<{forged}>")).unwrap();
    assert_eq!(r.code, 550, "{r:?}");
    c.quit();
    let back = wait_for(Duration::from_secs(20), "the returned bounce", || {
        sink.messages()
            .into_iter()
            .find(|m| m.contains("X-Rcpt-Args: <writer@sender.test>"))
    });
    assert!(back.contains("X-Mail-Args: <>"), "{back}");
}

#[test]
fn require_tls_defers_and_the_queue_commands_show_it() {
    let Some((dns, port, sink)) = setup("sink-tls", &[]) else {
        return;
    };
    let server = server(&dns, port, |c| {
        c.outbound.require_tls = vec!["remote.test".into()];
        c.outbound.retry_schedule_secs = vec![3600];
    });
    submit(&server, "alice@example.org", "friend@remote.test", "tls-1");
    let qdir = server.dir.join("queue");
    let entry = wait_for(Duration::from_secs(20), "a deferral", || {
        queue::list(&qdir)
            .ok()?
            .into_iter()
            .find(|e| e.attempts > 0)
    });
    let RcptStatus::Pending(Some(a)) = &entry.rcpts[0].status else {
        panic!("{entry:?}");
    };
    assert!(
        a.reply.contains("4.7.5") || a.reply.contains("TLS"),
        "{a:?}"
    );
    assert!(sink.messages().is_empty(), "nothing sent in plaintext");
    // The admin commands see and manage it while the server runs.
    let (ok, out) = common::process::admin(&server.dir, &["queue", "list"]);
    assert!(
        ok && out.contains(&entry.id) && out.contains("deferred") && out.contains("-- 1 messages"),
        "{out}"
    );
    let (ok, out) = common::process::admin(&server.dir, &["queue", "show", &entry.id]);
    assert!(
        ok && out.contains("Subject: tls-1") && out.contains("attempts: 1"),
        "{out}"
    );
    let (ok, out) = common::process::admin(&server.dir, &["queue", "retry", &entry.id]);
    assert!(ok, "{out}");
    wait_for(Duration::from_secs(10), "the requested retry", || {
        queue::list(&qdir)
            .ok()?
            .into_iter()
            .find(|e| e.attempts > 1)
    });
    let (ok, out) = common::process::admin(&server.dir, &["queue", "delete", &entry.id]);
    assert!(ok, "{out}");
    let (ok, out) = common::process::admin(&server.dir, &["queue", "list"]);
    assert!(ok && out.contains("-- 0 messages"), "{out}");
    let (ok, out) = common::process::admin(&server.dir, &["queue", "show", "../../etc/passwd"]);
    assert!(!ok, "{out}");
    assert!(sink.messages().is_empty());
}

#[test]
fn relayed_mail_is_dkim_signed_and_verifies_with_dkimpy() {
    if peer::require_python_module("dkim", "dkimpy (pip install dkimpy)").is_none() {
        return;
    }
    let Some((dns, port, sink)) = setup("sink-dkim", &[]) else {
        return;
    };
    let server = server(&dns, port, |_| {});
    let (ok, record) = common::process::admin(&server.dir, &["dkim", "generate", "example.org"]);
    assert!(ok, "{record}");
    let txt = record
        .lines()
        .find_map(|l| l.split_once(" IN TXT "))
        .map_or_else(
            || panic!("no TXT record in {record}"),
            |(_, t)| t.trim().trim_matches('"').to_owned(),
        );
    submit(&server, "alice@example.org", "friend@remote.test", "dkim-1");
    let got = wait_for(Duration::from_secs(20), "the signed message", || {
        sink.messages().into_iter().next()
    });
    assert!(
        got.contains("DKIM-Signature: v=1; a=ed25519-sha256"),
        "{got}"
    );
    let path = sink.dir().join("signed.eml");
    std::fs::write(&path, &got).unwrap();
    let out = python(
        r"
import sys, dkim
msg = open(sys.argv[1], 'rb').read().replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
record = sys.argv[2].encode()
print('dkim', 'pass' if dkim.verify(msg, dnsfunc=lambda name, timeout=5: record) else 'fail')
",
        &[path.to_str().unwrap(), &txt],
    );
    assert!(out.contains("dkim pass"), "{out}\n{got}");
}

#[test]
fn a_destination_that_keeps_deferring_gets_a_delay_notice_then_expires() {
    let Some((dns, port, _sink)) = setup("sink-expire", &["-r", "rcpt"]) else {
        return;
    };
    let server = server(&dns, port, |c| {
        c.outbound.delay_warning_secs = 1;
        c.outbound.max_lifetime_secs = 5;
    });
    submit(
        &server,
        "alice@example.org",
        "friend@remote.test",
        "expire-1",
    );
    let reports = wait_for(
        Duration::from_secs(30),
        "the delay notice and the bounce",
        || {
            let r = mail_with(&server, "alice@example.org", "multipart/report");
            (r.len() >= 2).then_some(r)
        },
    );
    let delayed = reports
        .iter()
        .find(|r| r.contains("Action: delayed"))
        .expect("a delay notice");
    check_report(delayed, "delayed", "friend@remote.test", '4');
    let failed = reports
        .iter()
        .find(|r| r.contains("Action: failed"))
        .expect("a bounce");
    check_report(failed, "failed", "friend@remote.test", '4');
    assert!(failed.contains("Status: 4.4.7"), "{failed}");
    assert!(failed.contains("Delivery time expired"), "{failed}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        mail_with(&server, "alice@example.org", "multipart/report").len(),
        2
    );
    assert!(queue::list(&server.dir.join("queue")).unwrap().is_empty());
}

#[test]
fn tls_to_a_starttls_destination_verified_when_required() {
    // The destination is a second server with a certificate for `localhost` from a test CA.
    let ca_dir = common::tempdir("tls-dest");
    let (dest, ca) = common::start_with_test_ca(&ca_dir);
    let d = mailwright::core::directory::Directory::open(&dest.dir, Duration::ZERO);
    d.add_domain("remote.test").unwrap();
    d.add_alias(
        &"friend@remote.test".parse().unwrap(),
        &["bob@example.org".parse().unwrap()],
    )
    .unwrap();
    let dns = dns_server::DnsServer::start();
    dns.mx("remote.test", 10, "localhost");
    dns.a("localhost", "127.0.0.1".parse().unwrap());
    let port = dest.port(Service::Smtp);
    let server = server(&dns, port, move |c| {
        c.outbound.require_tls = vec!["remote.test".into()];
        c.outbound.ca_file = Some(ca);
    });
    submit(
        &server,
        "alice@example.org",
        "friend@remote.test",
        "tls-verified",
    );
    let got = wait_for(Duration::from_secs(20), "the delivery over TLS", || {
        mail_with(&dest, "bob@example.org", "tls-verified")
            .into_iter()
            .next()
    });
    assert!(
        got.contains("by localhost (Mailwright) with ESMTPS"),
        "{got}"
    );
    // Without the CA the certificate cannot be verified: required TLS defers instead of sending.
    let dns_addr = dns.addr();
    let strict = TestServer::start_with(move |c| {
        c.hostname = "mx.example.org".into();
        c.dns.nameservers = vec![dns_addr];
        c.outbound.mx_port = port;
        c.outbound.require_tls = vec!["remote.test".into()];
        c.outbound.ca_file = Some(PathBuf::from("/nonexistent-ca.pem"));
        c.outbound.retry_schedule_secs = vec![3600];
    });
    submit(
        &strict,
        "alice@example.org",
        "friend@remote.test",
        "tls-unverified",
    );
    let entry = wait_for(Duration::from_secs(20), "a deferral", || {
        queue::list(&strict.dir.join("queue"))
            .ok()?
            .into_iter()
            .find(|e| e.attempts > 0)
    });
    let RcptStatus::Pending(Some(a)) = &entry.rcpts[0].status else {
        panic!("{entry:?}");
    };
    assert!(a.reply.contains("4.7.5"), "{a:?}");
    assert!(mail_with(&dest, "bob@example.org", "tls-unverified").is_empty());
}

#[test]
fn a_report_to_a_forwarding_alias_is_forwarded_from_the_queue() {
    let Some((dns, port, sink)) = setup("sink-fwd-dsn", &[]) else {
        return;
    };
    let server = server(&dns, port, |c| {
        c.outbound.trusted_networks = vec!["127.0.0.1".into()];
    });
    mailwright::core::directory::Directory::open(&server.dir, Duration::ZERO)
        .add_alias(
            &"fwd2@example.org".parse().unwrap(),
            &["friend@remote.test".parse().unwrap()],
        )
        .unwrap();
    // A trusted client relays mail from the alias to a domain with a null MX: the bounce goes
    // to the alias, which forwards it outside through the queue, still from <>.
    send_on_port_25(
        &server,
        "trusted.test",
        "fwd2@example.org",
        "someone@nomail.test",
        b"From: <fwd2@example.org>\r\nSubject: fwd-dsn\r\n\r\nhi\r\n",
    );
    let got = wait_for(Duration::from_secs(20), "the forwarded report", || {
        sink.messages().into_iter().next()
    });
    assert!(got.contains("X-Mail-Args: <>"), "{got}");
    assert!(got.contains("X-Rcpt-Args: <friend@remote.test>"), "{got}");
    assert!(
        got.contains("multipart/report") && got.contains("someone@nomail.test"),
        "{got}"
    );
    wait_for(Duration::from_secs(10), "an empty queue", || {
        queue::list(&server.dir.join("queue"))
            .unwrap()
            .is_empty()
            .then_some(())
    });
}

/// Submits one message as alice over a raw session: `mail` and `rcpt` are the command lines'
/// arguments after the colon (with DSN parameters); asserts the 250.
fn submit_raw(server: &TestServer, mail: &str, rcpt: &str, data: &[u8]) {
    let mut c = Client::connect(server.addr(Service::Submission), Duration::from_secs(10)).unwrap();
    let r = c
        .command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXB3")
        .unwrap();
    assert_eq!(r.code, 235, "{r:?}");
    assert!(c.command(&format!("MAIL FROM:{mail}")).unwrap().is_ok());
    let r = c.command(&format!("RCPT TO:{rcpt}")).unwrap();
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(c.command("DATA").unwrap().code, 354);
    let r = c.data(data, 1).unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    c.quit();
}

#[test]
fn long_lines_leave_as_quoted_printable_within_998_octets() {
    let Some((dns, port, sink)) = setup("sink-long", &[]) else {
        return;
    };
    let server = server(&dns, port, |_| {});
    let long = (0..1000).fold(String::new(), |mut l, i| {
        use std::fmt::Write as _;
        let _ = write!(l, "w{i} ");
        l
    });
    assert!(long.len() > 3000);
    let message = format!(
        "From: <alice@example.org>\r\nTo: <friend@remote.test>\r\nSubject: long-relay\r\nMessage-ID: <long-relay@client.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nshort line\r\n{long}\r\nGr\u{fc}\u{df}e\r\n"
    );
    submit_raw(
        &server,
        "<alice@example.org>",
        "<friend@remote.test>",
        message.as_bytes(),
    );
    let got = wait_for(Duration::from_secs(20), "the sink to receive", || {
        sink.messages().pop()
    });
    // smtp-sink writes what it received, with its own X- lines and Received on top.
    assert!(
        got.lines().all(|l| l.len() <= 998),
        "a line over 998 octets left: {}",
        got.lines().map(str::len).max().unwrap()
    );
    assert!(
        got.contains("Content-Transfer-Encoding: quoted-printable\n"),
        "{got}"
    );
    assert!(got.contains("MIME-Version: 1.0\n"), "{got}");
    let path = sink.dir().join("decoded-check");
    std::fs::write(&path, &got).unwrap();
    python(
        r#"
import email, sys
from email import policy
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=policy.default)
open(sys.argv[1] + ".decoded", "w", encoding="utf-8").write(m.get_content())
"#,
        &[path.to_str().unwrap()],
    );
    let decoded = std::fs::read_to_string(path.with_extension("decoded")).unwrap();
    // (smtp-sink's file ends with a line end of its own.)
    assert_eq!(
        decoded.trim_end(),
        format!("short line\n{long}\nGr\u{fc}\u{df}e")
    );
    wait_for(Duration::from_secs(10), "an empty queue", || {
        queue::list(&server.dir.join("queue"))
            .unwrap()
            .is_empty()
            .then_some(())
    });
}

#[test]
fn dsn_parameters_travel_to_a_next_hop_that_offers_dsn() {
    let Some((dns, port, sink)) = setup("sink-dsn", &[]) else {
        return;
    };
    let server = server(&dns, port, |_| {});
    submit_raw(
        &server,
        "<alice@example.org> RET=HDRS ENVID=env-7",
        "<friend@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Friend@remote.test",
        b"Subject: dsn-relay\r\nMessage-ID: <dsn-relay@client.test>\r\n\r\nhello\r\n",
    );
    let got = wait_for(Duration::from_secs(20), "the sink to receive", || {
        sink.messages().pop()
    });
    assert!(
        got.contains("X-Mail-Args: <alice@example.org> RET=HDRS ENVID=env-7\n"),
        "{got}"
    );
    assert!(
        got.contains(
            "X-Rcpt-Args: <friend@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Friend@remote.test\n"
        ),
        "{got}"
    );
    // smtp-sink offers DSN: the success notice is its business, not ours.
    std::thread::sleep(Duration::from_secs(2));
    assert!(mail_with(&server, "alice@example.org", "multipart/report").is_empty());
}

#[test]
fn notify_never_suppresses_the_bounce_and_ret_full_returns_the_message() {
    let Some((dns, port, _sink)) = setup("sink-never", &["-f", "rcpt"]) else {
        return;
    };
    let server = server(&dns, port, |_| {});
    submit_raw(
        &server,
        "<alice@example.org>",
        "<friend@remote.test> NOTIFY=NEVER",
        b"Subject: never-report\r\nMessage-ID: <never@client.test>\r\n\r\nquiet\r\n",
    );
    submit_raw(
        &server,
        "<alice@example.org> RET=FULL",
        "<other@remote.test> NOTIFY=FAILURE",
        b"Subject: full-report\r\nMessage-ID: <full@client.test>\r\n\r\nthe whole body comes back\r\n",
    );
    let report = wait_for(Duration::from_secs(30), "the RET=FULL report", || {
        mail_with(&server, "alice@example.org", "multipart/report").pop()
    });
    assert!(
        report.contains("Content-Type: message/rfc822\n"),
        "{report}"
    );
    assert!(report.contains("the whole body comes back"), "{report}");
    assert!(
        report.contains("Final-Recipient: rfc822; other@remote.test"),
        "{report}"
    );
    wait_for(Duration::from_secs(10), "an empty queue", || {
        queue::list(&server.dir.join("queue"))
            .unwrap()
            .is_empty()
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    let reports = mail_with(&server, "alice@example.org", "multipart/report");
    assert_eq!(reports.len(), 1, "NOTIFY=NEVER: no report: {reports:?}");
}

/// Submits one message as alice (AUTH over a raw session) to several recipients.
fn submit_to(server: &TestServer, rcpts: &[&str], subject: &str) {
    let mut c = Client::connect(server.addr(Service::Submission), Duration::from_secs(10)).unwrap();
    let r = c
        .command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXB3")
        .unwrap();
    assert_eq!(r.code, 235, "{r:?}");
    let data = format!("Subject: {subject}\r\nMessage-ID: <{subject}@client.test>\r\n\r\nhi\r\n");
    let r = c.send("alice@example.org", rcpts, data.as_bytes()).unwrap();
    assert!(r.is_ok(), "{r:?}");
    c.quit();
}

#[test]
fn a_refusal_in_latin1_bounces_its_recipient() {
    let dns = remote_dns();
    // Some servers answer in Latin-1: "Empf\xe4nger" is not UTF-8.
    let receiver = Scripted::start(scripted::answer(
        "RCPT TO:<nobody@",
        b"550 5.1.1 Empf\xe4nger unbekannt\r\n",
    ));
    let server = server(&dns, receiver.port(), |_| {});
    submit_to(
        &server,
        &["friend@remote.test", "nobody@remote.test"],
        "latin1-1",
    );
    let report = wait_for(Duration::from_secs(30), "the bounce", || {
        mail_with(&server, "alice@example.org", "multipart/report").pop()
    });
    check_report(&report, "failed", "nobody@remote.test", '5');
    assert!(report.contains("5.1.1"), "{report}");
    // The text is shown lossily, not dropped.
    assert!(report.contains("nger unbekannt"), "{report}");
    let got = receiver.messages();
    assert_eq!(got.len(), 1, "the other recipient got it");
    assert!(String::from_utf8_lossy(&got[0]).contains("Subject: latin1-1"));
    wait_for(Duration::from_secs(10), "an empty queue", || {
        queue::list(&server.dir.join("queue"))
            .unwrap()
            .is_empty()
            .then_some(())
    });
}

#[test]
fn each_client_timer_is_its_own_setting() {
    // (the command the receiver does not answer, what the deferral names)
    let stages = [
        ("", "the greeting"),
        ("MAIL", "the reply to MAIL"),
        ("RCPT", "the reply to RCPT"),
        ("DATA", "the reply to DATA"),
        (".", "the reply to the end of data"),
    ];
    let dns = remote_dns();
    for (verb, what) in stages {
        let receiver = Scripted::start(move |line| {
            let matches = if verb.is_empty() || verb == "." {
                line == verb
            } else {
                line.get(..verb.len())
                    .is_some_and(|v| v.eq_ignore_ascii_case(verb))
            };
            if matches {
                Answer::Stall
            } else {
                scripted::normal(line)
            }
        });
        // Every stage's timer is 1 s; the other waits (EHLO ...) stay at the 10 s of `server`, so a
        // deferral well within 10 s came from the stage's own timer.
        let server = server(&dns, receiver.port(), |c| {
            let o = &mut c.outbound;
            o.retry_schedule_secs = vec![3600];
            o.greeting_timeout_secs = 1;
            o.mail_timeout_secs = 1;
            o.rcpt_timeout_secs = 1;
            o.data_init_timeout_secs = 1;
            o.data_end_timeout_secs = 1;
        });
        submit_to(&server, &["friend@remote.test"], "stall");
        let entry = wait_for(Duration::from_secs(8), what, || {
            queue::list(&server.dir.join("queue"))
                .ok()?
                .into_iter()
                .find(|e| e.attempts > 0)
        });
        let RcptStatus::Pending(Some(a)) = &entry.rcpts[0].status else {
            panic!("{entry:?}");
        };
        assert!(
            a.reply.starts_with("451 4.4.")
                && a.reply.contains(&format!("timed out waiting for {what}")),
            "{verb:?}: {a:?}"
        );
        assert!(receiver.messages().is_empty() || verb == ".");
    }
}

#[test]
fn a_report_to_our_srs_address_goes_to_the_original_sender() {
    // The host name as a domain of its own, and as one of the local domains.
    for hostname in ["mx.example.org", "example.org"] {
        let dns = remote_dns();
        let receiver = Scripted::start(scripted::answer(
            "RCPT TO:<friend@",
            b"550 5.1.1 no such user\r\n",
        ));
        let server = server(&dns, receiver.port(), |c| c.hostname = hostname.into());
        mailwright::core::directory::Directory::open(&server.dir, Duration::ZERO)
            .add_alias(
                &"fwd@example.org".parse().unwrap(),
                &["friend@remote.test".parse().unwrap()],
            )
            .unwrap();
        send_on_port_25(
            &server,
            "outside.test",
            "writer@sender.test",
            "fwd@example.org",
            b"From: <writer@sender.test>\r\nSubject: srs-return\r\n\r\nhi\r\n",
        );
        // The forwarded copy is refused; our report goes to the SRS address, which stands for
        // writer@sender.test (whose MX is the receiver too).
        wait_for(Duration::from_secs(20), "the returned report", || {
            receiver
                .lines()
                .iter()
                .any(|l| l == "RCPT TO:<writer@sender.test>")
                .then_some(())
        });
        let lines = receiver.lines();
        assert!(
            lines.iter().any(|l| l.starts_with("MAIL FROM:<srs0=")),
            "{hostname}: the copy left with an SRS sender: {lines:?}"
        );
        let report = receiver
            .messages()
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .find(|m| m.contains("multipart/report"))
            .unwrap_or_else(|| panic!("{hostname}: no report: {lines:?}"));
        assert!(report.contains("Subject: srs-return"), "{report}");
        wait_for(Duration::from_secs(10), "an empty queue", || {
            queue::list(&server.dir.join("queue"))
                .unwrap()
                .is_empty()
                .then_some(())
        });
    }
}

#[test]
fn queue_delete_touches_one_message_and_list_shows_each_recipient() {
    let dns = remote_dns();
    let receiver = Scripted::start(scripted::answer("RCPT", b"451 4.3.2 try later\r\n"));
    let server = server(&dns, receiver.port(), |c| {
        c.outbound.retry_schedule_secs = vec![3600];
    });
    submit_to(&server, &["one@remote.test"], "keep-1");
    submit_to(&server, &["two@remote.test"], "delete-1");
    let qdir = server.dir.join("queue");
    let entries = wait_for(Duration::from_secs(20), "two deferrals", || {
        let l = queue::list(&qdir).ok()?;
        (l.len() == 2 && l.iter().all(|e| e.attempts == 1)).then_some(l)
    });
    let (ok, out) = common::process::admin(&server.dir, &["queue", "list"]);
    assert!(ok, "{out}");
    for want in [
        "one@remote.test  (deferred: 451 4.3.2 try later from mx.remote.test[127.0.0.1]; next attempt in ",
        "two@remote.test  (deferred: 451 4.3.2 try later from mx.remote.test[127.0.0.1]; next attempt in ",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
    let gone = entries
        .iter()
        .find(|e| e.rcpts[0].address == "two@remote.test")
        .unwrap();
    let kept = entries
        .iter()
        .find(|e| e.rcpts[0].address == "one@remote.test")
        .unwrap();
    let (ok, out) = common::process::admin(&server.dir, &["queue", "show", &kept.id]);
    assert!(
        ok && out.contains("rcpt: one@remote.test  (deferred: 451 4.3.2 try later"),
        "{out}"
    );
    let connections = |r: &Scripted| r.lines().iter().filter(|l| l.starts_with("EHLO")).count();
    let before = connections(&receiver);
    let (ok, out) = common::process::admin(&server.dir, &["queue", "delete", &gone.id]);
    assert!(ok, "{out}");
    // Long enough for the server to notice (it looks every second) and for a retry to happen
    // if the deletion had made the other message due.
    std::thread::sleep(Duration::from_secs(3));
    let left = queue::list(&qdir).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, kept.id);
    assert_eq!(left[0].attempts, 1, "no extra attempt: {:?}", left[0]);
    assert_eq!(left[0].next_attempt, kept.next_attempt);
    assert_eq!(connections(&receiver), before, "no new connection");
}

/// Writes the relayhost credentials file with `mode` and returns its path.
fn credentials_file(dir: &std::path::Path, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("relay.secret");
    std::fs::write(
        &path,
        "# the smarthost account\nalice@example.org:alice-pw\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// The first queue entry with an attempt, and its recipient's last reply.
fn first_deferral(server: &TestServer, limit: Duration) -> String {
    let entry = wait_for(limit, "a deferral", || {
        queue::list(&server.dir.join("queue"))
            .ok()?
            .into_iter()
            .find(|e| e.attempts > 0)
    });
    match &entry.rcpts[0].status {
        RcptStatus::Pending(Some(a)) => a.reply.clone(),
        other => panic!("not deferred: {other:?}"),
    }
}

#[test]
fn smarthost_with_auth_over_verified_tls() {
    // The smarthost is a second server of ours: submission needs TLS before AUTH (plaintext
    // logins are refused even on loopback), and its certificate for `localhost` comes from a
    // test CA.
    let ca_dir = common::tempdir("smarthost");
    let (smarthost, ca) = common::start_with_test_ca(&ca_dir);
    let d = mailwright::core::directory::Directory::open(&smarthost.dir, Duration::ZERO);
    d.add_domain("remote.test").unwrap();
    d.add_alias(
        &"friend@remote.test".parse().unwrap(),
        &["bob@example.org".parse().unwrap()],
    )
    .unwrap();
    let dns = dns_server::DnsServer::start();
    dns.a("localhost", "127.0.0.1".parse().unwrap());
    let relay = |port: u16, tweak: &dyn Fn(&mut mailwright::core::config::Config)| {
        let ca = ca.clone();
        server(&dns, 9, |c| {
            c.outbound.relayhost = format!("localhost:{port}");
            c.outbound.ca_file = Some(ca);
            c.outbound.retry_schedule_secs = vec![3600];
            tweak(c);
        })
    };
    let secret = credentials_file(&ca_dir, 0o600);
    let with_secret = |c: &mut mailwright::core::config::Config| {
        c.outbound.relayhost_credentials = Some(secret.clone());
    };
    // STARTTLS on the submission port, then AUTH.
    let a = relay(smarthost.port(Service::Submission), &with_secret);
    submit(
        &a,
        "alice@example.org",
        "friend@remote.test",
        "smart-starttls",
    );
    // Implicit TLS on the submissions port (465 in real life).
    let b = relay(smarthost.port(Service::Submissions), &|c| {
        with_secret(c);
        c.outbound.relayhost_implicit_tls = Some(true);
    });
    submit(
        &b,
        "alice@example.org",
        "friend@remote.test",
        "smart-implicit",
    );
    for subject in ["smart-starttls", "smart-implicit"] {
        let got = wait_for(Duration::from_secs(20), subject, || {
            mail_with(&smarthost, "bob@example.org", subject).pop()
        });
        assert!(
            got.contains("by localhost (Mailwright) with ESMTPSA"),
            "authenticated over TLS: {got}"
        );
    }
    // A credentials file others may read is refused; nothing is sent.
    let loose_dir = common::tempdir("smarthost-loose");
    let loose = credentials_file(&loose_dir, 0o640);
    let c = relay(smarthost.port(Service::Submission), &|c| {
        c.outbound.relayhost_credentials = Some(loose.clone());
    });
    submit(&c, "alice@example.org", "friend@remote.test", "smart-loose");
    let reply = first_deferral(&c, Duration::from_secs(20));
    assert!(
        reply.starts_with("451 4.7.0")
            && reply.contains("chmod 600")
            && !reply.contains("alice-pw"),
        "{reply}"
    );
    // Without the CA the certificate cannot be verified: deferred, not sent in plaintext.
    let d = relay(smarthost.port(Service::Submission), &|c| {
        with_secret(c);
        c.outbound.ca_file = Some(PathBuf::from("/nonexistent-ca.pem"));
    });
    submit(
        &d,
        "alice@example.org",
        "friend@remote.test",
        "smart-unverified",
    );
    let reply = first_deferral(&d, Duration::from_secs(20));
    assert!(reply.contains("4.7.5"), "{reply}");
    for subject in ["smart-loose", "smart-unverified"] {
        assert!(mail_with(&smarthost, "bob@example.org", subject).is_empty());
    }
}

#[test]
fn a_530_from_the_smarthost_defers() {
    let receiver = Scripted::start(scripted::answer(
        "MAIL",
        b"530 5.7.0 Authentication required\r\n",
    ));
    let dns = dns_server::DnsServer::start();
    let port = receiver.port();
    let server = server(&dns, 9, |c| {
        c.outbound.relayhost = format!("[127.0.0.1]:{port}");
        c.outbound.retry_schedule_secs = vec![3600];
    });
    submit(
        &server,
        "alice@example.org",
        "friend@remote.test",
        "smart-530",
    );
    let reply = first_deferral(&server, Duration::from_secs(20));
    assert!(reply.starts_with("530 5.7.0"), "{reply}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        mail_with(&server, "alice@example.org", "multipart/report").is_empty(),
        "no bounce"
    );
}

#[test]
fn each_destination_is_scheduled_on_its_own() {
    let dns = remote_dns();
    // down.test's MX is on an address nothing listens on: every attempt is refused.
    dns.mx("down.test", 10, "mx.down.test");
    dns.a("mx.down.test", "127.0.0.2".parse().unwrap());
    let receiver = Scripted::start(scripted::answer(
        "RCPT TO:<nobody@",
        b"550 5.1.1 no such user\r\n",
    ));
    let server = server(&dns, receiver.port(), |c| {
        c.outbound.retry_schedule_secs = vec![3600];
    });
    // The domain that is down comes first, as in issue #17.
    submit_to(
        &server,
        &["bob@down.test", "carol@remote.test", "nobody@remote.test"],
        "per-destination",
    );
    wait_for(Duration::from_secs(20), "carol's copy", || {
        (receiver.messages().len() == 1).then_some(())
    });
    let report = wait_for(Duration::from_secs(20), "the bounce for nobody", || {
        mail_with(&server, "alice@example.org", "multipart/report").pop()
    });
    check_report(&report, "failed", "nobody@remote.test", '5');
    assert!(
        !report.contains("Final-Recipient: rfc822; bob@down.test"),
        "only the failed recipient: {report}"
    );
    let entry = wait_for(Duration::from_secs(10), "the recorded state", || {
        let e = queue::list(&server.dir.join("queue")).ok()?.pop()?;
        (!matches!(e.rcpts[1].status, RcptStatus::Pending(_))
            && !matches!(e.rcpts[2].status, RcptStatus::Pending(_)))
        .then_some(e)
    });
    assert!(
        matches!(&entry.rcpts[0].status, RcptStatus::Pending(Some(_))),
        "{entry:?}"
    );
    assert!(
        matches!(&entry.rcpts[1].status, RcptStatus::Delivered(_)),
        "{entry:?}"
    );
    assert!(
        matches!(&entry.rcpts[2].status, RcptStatus::Failed(_)),
        "{entry:?}"
    );
    let now = queue::now_secs();
    let (attempts, next) = entry.waits["down.test"];
    assert_eq!(attempts, 1);
    assert!(next > now + 3000 && entry.next_attempt == next, "{entry:?}");
    let (ok, out) = common::process::admin(&server.dir, &["queue", "list"]);
    assert!(
        ok && out.contains("bob@down.test  (deferred: ")
            && out.contains("; next attempt in 3")
            && out.contains("carol@remote.test  (sent: 250")
            && out.contains("nobody@remote.test  (failed: 550 5.1.1 no such user"),
        "{out}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        mail_with(&server, "alice@example.org", "multipart/report").len(),
        1
    );
    assert_eq!(receiver.messages().len(), 1, "carol got one copy");
}

#[test]
fn deliveries_to_one_destination_are_limited() {
    let dns = remote_dns();
    for (limit, subject) in [(20, "limit-20"), (1, "limit-1")] {
        // A slow receiver: two seconds before it accepts each message.
        let receiver = Scripted::start(|line| {
            if line == "." {
                Answer::Delayed(Duration::from_secs(2), b"250 2.0.0 queued\r\n".to_vec())
            } else {
                scripted::normal(line)
            }
        });
        let server = server(&dns, receiver.port(), |c| {
            c.outbound.destination_concurrency = limit;
        });
        // Each arrives while the one before is still being sent, so each round finds one.
        for n in 0..3 {
            submit_to(&server, &["friend@remote.test"], &format!("{subject}-{n}"));
            std::thread::sleep(Duration::from_millis(300));
        }
        wait_for(Duration::from_secs(30), "three deliveries", || {
            (receiver.messages().len() == 3).then_some(())
        });
        let most = receiver.max_connections();
        if limit == 1 {
            assert_eq!(most, 1, "one connection at a time");
        } else {
            assert!(most >= 2, "without a tight limit they overlap: {most}");
        }
    }
}

#[test]
fn a_dead_destination_is_backed_off_as_a_whole() {
    let dns = remote_dns();
    // Accepts connections but never greets.
    let receiver = Scripted::start(|line| {
        if line.is_empty() {
            Answer::Stall
        } else {
            scripted::normal(line)
        }
    });
    let server = server(&dns, receiver.port(), |c| {
        c.outbound.retry_schedule_secs = vec![3600];
        c.outbound.greeting_timeout_secs = 1;
    });
    submit_to(&server, &["friend@remote.test"], "dead-1");
    let first = first_deferral(&server, Duration::from_secs(10));
    assert!(first.contains("the greeting"), "{first}");
    assert_eq!(receiver.connections(), 1);
    submit_to(&server, &["pal@remote.test"], "dead-2");
    let qdir = server.dir.join("queue");
    let second = wait_for(Duration::from_secs(10), "the second deferral", || {
        queue::list(&qdir)
            .ok()?
            .into_iter()
            .find(|e| e.rcpts[0].address == "pal@remote.test" && e.attempts > 0)
    });
    let RcptStatus::Pending(Some(a)) = &second.rcpts[0].status else {
        panic!("{second:?}");
    };
    assert!(
        a.reply.contains("the greeting") && a.reply.contains("destination backed off"),
        "{a:?}"
    );
    assert_eq!(receiver.connections(), 1, "no second connection");
    // `queue retry` tries it again at once, dead or not.
    let (ok, out) = common::process::admin(&server.dir, &["queue", "retry"]);
    assert!(ok, "{out}");
    wait_for(Duration::from_secs(10), "a new connection", || {
        (receiver.connections() > 1).then_some(())
    });
}

#[test]
fn an_idle_connection_carries_the_next_message() {
    let dns = remote_dns();
    for (cache, connections) in [(3, 1), (0, 2)] {
        let receiver = Scripted::start(scripted::normal);
        let server = server(&dns, receiver.port(), |c| {
            c.outbound.connection_cache_secs = cache;
        });
        for n in 1..=2 {
            submit_to(&server, &["friend@remote.test"], &format!("cached-{n}"));
            wait_for(Duration::from_secs(10), "the delivery", || {
                (receiver.messages().len() == n).then_some(())
            });
        }
        assert_eq!(receiver.connections(), connections, "cache {cache}");
        // The cached connection is closed politely once it has idled long enough.
        wait_for(Duration::from_secs(10), "QUIT", || {
            (receiver.lines().iter().filter(|l| *l == "QUIT").count() == connections).then_some(())
        });
    }
}

#[test]
fn a_large_message_is_streamed_from_the_queue_file_intact() {
    let dns = remote_dns();
    let receiver = Scripted::start(scripted::normal);
    let server = server(&dns, receiver.port(), |_| {});
    // Over the size read whole (1 MiB): lines that start with a dot, 8-bit text, and lines long
    // enough that pieces split them, their line ends and their leading dots anywhere.
    let mut body = String::new();
    for i in 0..25_000 {
        use std::fmt::Write as _;
        let dot = if i % 7 == 0 { "." } else { "" };
        let _ = write!(
            body,
            "{dot}line {i} Gr\u{fc}\u{df}e {}\r\n",
            "x".repeat(i % 150)
        );
    }
    assert!(body.len() > 2 << 20);
    let message = format!(
        "From: <alice@example.org>\r\nTo: <friend@remote.test>\r\nSubject: streamed\r\nMessage-ID: <streamed@client.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    );
    submit_raw(
        &server,
        "<alice@example.org>",
        "<friend@remote.test>",
        message.as_bytes(),
    );
    let got = wait_for(Duration::from_mins(1), "the receiver to get it", || {
        receiver.messages().pop()
    });
    assert!(
        got.ends_with(body.as_bytes()),
        "the body arrived changed ({} octets for {})",
        got.len(),
        body.len()
    );
    let mail = receiver
        .lines()
        .into_iter()
        .find(|l| l.starts_with("MAIL FROM:"))
        .unwrap();
    assert!(mail.contains("BODY=8BITMIME"), "{mail}");
    wait_for(Duration::from_secs(10), "an empty queue", || {
        queue::list(&server.dir.join("queue"))
            .unwrap()
            .is_empty()
            .then_some(())
    });
}

#[test]
fn notify_success_to_a_next_hop_without_dsn_gets_a_relayed_report() {
    let dns = remote_dns();
    // The scripted receiver does not offer DSN (RFC 3461 §4.2: we owe the "relayed" notice).
    let receiver = Scripted::start(scripted::normal);
    let server = server(&dns, receiver.port(), |_| {});
    submit_raw(
        &server,
        "<alice@example.org> RET=HDRS ENVID=env-9",
        "<friend@remote.test> NOTIFY=SUCCESS ORCPT=rfc822;Friend@remote.test",
        b"Subject: relayed-notice\r\nMessage-ID: <relayed@client.test>\r\n\r\nhello\r\n",
    );
    let report = wait_for(Duration::from_secs(30), "the relayed report", || {
        mail_with(&server, "alice@example.org", "multipart/report").pop()
    });
    check_report(&report, "relayed", "friend@remote.test", '2');
    assert!(report.contains("Original-Envelope-Id: env-9"), "{report}");
    assert!(
        report.contains("Original-Recipient: rfc822;Friend@remote.test"),
        "{report}"
    );
    // The DSN parameters were not sent to a server that did not offer DSN.
    let rcpt = receiver
        .lines()
        .into_iter()
        .find(|l| l.starts_with("RCPT TO:"))
        .unwrap();
    assert_eq!(rcpt, "RCPT TO:<friend@remote.test>");
}

#[test]
fn notify_failure_alone_gets_no_delay_notice_but_the_expiry_bounce() {
    // Every RCPT is answered 451: the message is deferred until it expires.
    let dns = remote_dns();
    let receiver = Scripted::start(scripted::answer("RCPT", b"451 4.3.0 try later\r\n"));
    let server = server(&dns, receiver.port(), |c| {
        c.outbound.delay_warning_secs = 1;
        c.outbound.max_lifetime_secs = 4;
    });
    submit_raw(
        &server,
        "<alice@example.org> ENVID=env-10",
        "<friend@remote.test> NOTIFY=FAILURE",
        b"Subject: no-delay\r\nMessage-ID: <no-delay@client.test>\r\n\r\nslow\r\n",
    );
    let failed = wait_for(Duration::from_secs(30), "the expiry bounce", || {
        mail_with(&server, "alice@example.org", "multipart/report").pop()
    });
    check_report(&failed, "failed", "friend@remote.test", '4');
    assert!(failed.contains("Original-Envelope-Id: env-10"), "{failed}");
    std::thread::sleep(Duration::from_secs(1));
    let reports = mail_with(&server, "alice@example.org", "multipart/report");
    assert_eq!(
        reports.len(),
        1,
        "RFC 3461 §4.1: no DELAY asked, no delay notice"
    );
}

/// A message of about `size` octets with `subject`, lines of 78 octets.
fn big_message(subject: &str, size: usize) -> Vec<u8> {
    let mut m =
        format!("Subject: {subject}\r\nMessage-ID: <{subject}@client.test>\r\n\r\n").into_bytes();
    let mut n = 0usize;
    while m.len() < size {
        m.extend_from_slice(
            format!("line {n:08} of the body, long enough to fill the message up quickly.\r\n")
                .as_bytes(),
        );
        n += 1;
    }
    m
}

#[test]
fn ret_full_returns_a_large_message_whole_under_the_bounce_size_limit() {
    let Some((dns, port, _sink)) = setup("sink-big-full", &["-f", "rcpt"]) else {
        return;
    };
    // 2 MiB: over the 1 MiB a spool keeps in memory, so the report is copied from the queue
    // file and delivered to alice's mailbox through a spool on disk.
    let server = server(&dns, port, |c| c.outbound.bounce_size_limit = 4 << 20);
    let message = big_message("big-full", 2 << 20);
    submit_raw(
        &server,
        "<alice@example.org> RET=FULL",
        "<big@remote.test> NOTIFY=FAILURE",
        &message,
    );
    let report = wait_for(Duration::from_secs(30), "the RET=FULL report", || {
        mail_with(&server, "alice@example.org", "multipart/report").pop()
    });
    assert!(
        report.contains("Content-Type: message/rfc822\n"),
        "{}",
        &report[..2000]
    );
    let body = String::from_utf8(message).unwrap().replace("\r\n", "\n");
    let body = &body[body.find("\n\n").unwrap() + 2..];
    assert!(report.contains(body), "the whole body came back");
}

#[test]
fn ret_full_over_the_bounce_size_limit_returns_the_headers() {
    let Some((dns, port, _sink)) = setup("sink-big-hdrs", &["-f", "rcpt"]) else {
        return;
    };
    // Over Postfix's bounce_size_limit default, 50000.
    let server = server(&dns, port, |_| {});
    submit_raw(
        &server,
        "<alice@example.org> RET=FULL",
        "<big@remote.test> NOTIFY=FAILURE",
        &big_message("big-headers", 60_000),
    );
    let report = wait_for(Duration::from_secs(30), "the report", || {
        mail_with(&server, "alice@example.org", "multipart/report").pop()
    });
    assert!(
        report.contains("Content-Type: text/rfc822-headers\n"),
        "{report}"
    );
    assert!(report.contains("Subject: big-headers"), "{report}");
    assert!(!report.contains("line 00000000"), "{report}");
}
