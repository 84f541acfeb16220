//! MTA-STS (RFC 8461) for outbound mail, offline: the `_mta-sts` TXT, MX and address records come
//! from the test DNS server (testsupport/dns.rs), the policy from a local HTTPS server whose
//! certificate for `mta-sts.remote.test` is signed by a test CA the server is told to trust
//! (`outbound.ca_file`).
//!
//! - `enforce` with an MX host the policy names: delivered over verified TLS to a second server
//!   of ours (certificate for `localhost` from the same CA); a second message uses the cached
//!   policy (one fetch), which is also on disk under `mta-sts/`;
//! - `enforce` with an MX host the policy does not name: deferred with `4.7.5`, no connection;
//! - `enforce` with a matching MX host that offers no STARTTLS: deferred with `4.7.5`, no message;
//! - `testing` with that same MX host (plaintext, no STARTTLS): delivered as without a policy,
//!   and the `full_server` binary's log says what enforce would have refused.
//! - TLS-RPT (RFC 8460): under `enforce`, an MX host whose certificate names another host and
//!   one that verifies; the day's record survives a `kill -9` and restart, and `full_server
//!   tlsrpt send` sends the report by `mailto:` (a `multipart/report; report-type=tlsrpt`
//!   message delivered to the domain) and by `https:` (a POST), the same JSON both ways; a
//!   domain without a `_smtp._tls` record gets none; a day that is over is sent unasked.

mod common;

#[path = "../testsupport/dns.rs"]
mod dns_server;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::ServerProcess;
use common::scripted::{self, Scripted};
use common::{TestServer, wait_for};
use mailwright::outbound::queue::{self, RcptStatus};
use mailwright::server::Service;

/// A test CA and one certificate it signed for `localhost` and `mta-sts.remote.test`, written
/// to `dir`: returns the CA file and the leaf's certificate and key (DER, for the HTTPS server).
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

fn pki(dir: &Path) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Mailwright test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![
        "localhost".to_owned(),
        "mta-sts.remote.test".to_owned(),
    ])
    .unwrap()
    .signed_by(&leaf_key, &ca)
    .unwrap();
    let p = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        cert_der: leaf.der().to_vec(),
        key_der: leaf_key.serialize_der(),
    };
    std::fs::write(&p.ca, ca.pem()).unwrap();
    std::fs::write(&p.cert, leaf.pem()).unwrap();
    std::fs::write(&p.key, leaf_key.serialize_pem()).unwrap();
    p
}

/// An HTTPS server on a loopback port answering every request with `policy` as
/// `text/plain`; counts the requests. A `POST /tlsrpt` (a TLS report, RFC 8460 §5.4) is kept
/// (its header section and body) and answered `200`. Serves at most 20 connections, each
/// bounded in time.
struct PolicyServer {
    port: u16,
    requests: Arc<AtomicUsize>,
    posts: Arc<Mutex<Vec<Post>>>,
}

/// A request's header section and body.
type Post = (String, Vec<u8>);

impl PolicyServer {
    fn start(pki: &Pki, policy: &str) -> Self {
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(pki.key_der.clone()),
        );
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![pki.cert_der.clone().into()], key)
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let count = requests.clone();
        let posts = Arc::new(Mutex::new(Vec::new()));
        let kept = posts.clone();
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{policy}",
            policy.len()
        );
        std::thread::spawn(move || {
            for tcp in listener.incoming().take(20) {
                let Ok(tcp) = tcp else { continue };
                tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.ends_with(b"\r\n\r\n") && request.len() < 8192 {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                if request.starts_with(b"GET /.well-known/mta-sts.txt ") {
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = tls.write_all(response.as_bytes());
                } else if request.starts_with(b"POST /tlsrpt ") {
                    let head = String::from_utf8_lossy(&request).into_owned();
                    let split = head.find("\r\n\r\n").unwrap() + 4;
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap();
                    let mut body = request[split..].to_vec();
                    while body.len() < length {
                        match tls.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => body.extend_from_slice(&buf[..n]),
                        }
                    }
                    kept.lock().unwrap().push((head[..split].to_owned(), body));
                    let _ = tls.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
                } else {
                    let _ = tls.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                }
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        PolicyServer {
            port,
            requests,
            posts,
        }
    }
}

fn policy(mode: &str, mx: &str) -> String {
    format!("version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 86400\r\n")
}

/// DNS for `remote.test` with its MX at `mx` (127.0.0.1), the MTA-STS TXT record and the
/// policy host.
fn dns(mx: &str) -> dns_server::DnsServer {
    let dns = dns_server::DnsServer::start();
    dns.mx("remote.test", 10, mx);
    dns.a(mx, "127.0.0.1".parse().unwrap());
    dns.a("mta-sts.remote.test", "127.0.0.1".parse().unwrap());
    dns.txt("_mta-sts.remote.test", "v=STSv1; id=20261207T1200;");
    dns
}

/// A server delivering to `mx_port`, trusting the test CA, fetching policies from `https`.
fn server(dns: &dns_server::DnsServer, mx_port: u16, https: u16, ca: &Path) -> TestServer {
    let (dns_addr, ca) = (dns.addr(), ca.to_owned());
    TestServer::start_with(move |c| {
        c.hostname = "mx.example.org".into();
        c.dns.nameservers = vec![dns_addr];
        c.dns.timeout_secs = 2;
        c.outbound.mx_port = mx_port;
        c.outbound.mta_sts_port = https;
        c.outbound.ca_file = Some(ca);
        c.outbound.retry_schedule_secs = vec![3600];
        c.outbound.delay_warning_secs = 0;
        c.outbound.connect_timeout_secs = 2;
        c.outbound.reply_timeout_secs = 10;
    })
}

/// Sends one message through submission with AUTH (Python's smtplib).
fn submit(server: &TestServer, to: &str, subject: &str) {
    let out = common::python(
        r#"
import smtplib, sys
port, rcpt, subject = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port, timeout=20)
s.ehlo("client.test")
s.login("alice@example.org", "alice-pw")
msg = f"From: <alice@example.org>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@client.test>\r\n\r\nHello.\r\n"
s.sendmail("alice@example.org", [rcpt], msg)
s.quit()
print("sent")
"#,
        &[&server.port(Service::Submission).to_string(), to, subject],
    );
    assert!(out.contains("sent"), "{out}");
}

fn mail_with(server: &TestServer, user: &str, needle: &str) -> Vec<String> {
    server
        .messages(user)
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .filter(|m| m.contains(needle))
        .collect()
}

/// Waits for the first attempt on the queued message and returns its first recipient's
/// deferral (panics if that recipient is not pending after an attempt).
fn first_deferral(server: &TestServer) -> queue::Attempt {
    let entry = wait_for(Duration::from_secs(30), "a deferral", || {
        queue::list(&server.dir.join("queue"))
            .ok()?
            .into_iter()
            .find(|e| e.attempts > 0)
    });
    let RcptStatus::Pending(Some(a)) = &entry.rcpts[0].status else {
        panic!("not deferred: {entry:?}");
    };
    a.clone()
}

/// The destination server: STARTTLS with `pki`'s certificate, no plaintext AUTH, and
/// `remote.test` a domain of its own whose `aliases` all go to bob@example.org.
fn destination(pki: &Pki, aliases: &[&str]) -> TestServer {
    let (cert, key) = (pki.cert.clone(), pki.key.clone());
    let dest = TestServer::start_with(move |c| {
        c.tls.cert = cert;
        c.tls.key = key;
        c.auth.plaintext_on_loopback = false;
    });
    let d = mailwright::core::directory::Directory::open(&dest.dir, Duration::ZERO);
    d.add_domain("remote.test").unwrap();
    for alias in aliases {
        d.add_alias(
            &alias.parse().unwrap(),
            &["bob@example.org".parse().unwrap()],
        )
        .unwrap();
    }
    dest
}

#[test]
fn enforce_delivers_to_a_matching_mx_over_verified_tls_and_caches_the_policy() {
    let dir = common::tempdir("mta-sts-enforce");
    let pki = pki(&dir);
    let dest = destination(&pki, &["friend@remote.test"]);
    let https = PolicyServer::start(&pki, &policy("enforce", "localhost"));
    let dns = dns("localhost");
    let server = server(&dns, dest.port(Service::Smtp), https.port, &pki.ca);
    submit(&server, "friend@remote.test", "sts-first");
    let got = wait_for(Duration::from_secs(30), "the delivery over TLS", || {
        mail_with(&dest, "bob@example.org", "sts-first")
            .into_iter()
            .next()
    });
    assert!(
        got.contains("by localhost (Mailwright) with ESMTPS"),
        "{got}"
    );
    // The same TXT id: the cached policy, no second fetch.
    submit(&server, "friend@remote.test", "sts-second");
    wait_for(Duration::from_secs(30), "the second delivery", || {
        mail_with(&dest, "bob@example.org", "sts-second")
            .into_iter()
            .next()
    });
    assert_eq!(https.requests.load(Ordering::SeqCst), 1);
    let cached = std::fs::read_to_string(server.dir.join("mta-sts/remote.test")).unwrap();
    assert!(cached.contains("id: 20261207T1200"), "{cached}");
    assert!(cached.contains("mode: enforce"), "{cached}");
}

#[test]
fn enforce_defers_when_no_mx_host_is_in_the_policy() {
    let dir = common::tempdir("mta-sts-refused");
    let pki = pki(&dir);
    let receiver = Scripted::start(scripted::normal);
    let https = PolicyServer::start(&pki, &policy("enforce", "*.elsewhere.test"));
    let dns = dns("mx.remote.test");
    let server = server(&dns, receiver.port(), https.port, &pki.ca);
    submit(&server, "bob@remote.test", "sts-refused");
    let a = first_deferral(&server);
    assert!(a.reply.starts_with("451 4.7.5"), "{a:?}");
    assert!(a.reply.contains("MTA-STS"), "{a:?}");
    assert_eq!(receiver.connections(), 0);
    assert_eq!(https.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn enforce_defers_when_the_mx_offers_no_tls() {
    let dir = common::tempdir("mta-sts-notls");
    let pki = pki(&dir);
    let receiver = Scripted::start(scripted::normal);
    let https = PolicyServer::start(&pki, &policy("enforce", "*.remote.test"));
    let dns = dns("mx.remote.test");
    let server = server(&dns, receiver.port(), https.port, &pki.ca);
    submit(&server, "bob@remote.test", "sts-notls");
    let a = first_deferral(&server);
    assert!(a.reply.contains("4.7.5"), "{a:?}");
    assert!(a.reply.contains("MTA-STS enforce"), "{a:?}");
    assert!(receiver.messages().is_empty());
    assert!(!receiver.lines().iter().any(|l| l.starts_with("MAIL")));
}

#[test]
fn testing_delivers_as_without_a_policy() {
    let dir = common::tempdir("mta-sts-testing");
    let pki = pki(&dir);
    // Plaintext only (no STARTTLS) and not in the policy: enforce would refuse both.
    let receiver = Scripted::start(scripted::normal);
    let https = PolicyServer::start(&pki, &policy("testing", "*.elsewhere.test"));
    let dns = dns("mx.remote.test");
    let server = server(&dns, receiver.port(), https.port, &pki.ca);
    submit(&server, "bob@remote.test", "sts-testing");
    wait_for(Duration::from_secs(30), "the delivery", || {
        receiver
            .messages()
            .iter()
            .any(|m| String::from_utf8_lossy(m).contains("sts-testing"))
            .then_some(())
    });
    assert_eq!(https.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn testing_logs_what_enforce_would_refuse() {
    let dir = common::tempdir("mta-sts-log");
    let pki = pki(&dir);
    let receiver = Scripted::start(scripted::normal);
    let https = PolicyServer::start(&pki, &policy("testing", "*.elsewhere.test"));
    let dns = dns("mx.remote.test");
    let [smtp] = common::postfix::free_ports::<1>();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::populate(&data);
    std::fs::write(
        data.join(mailwright::core::datadir::CONFIG_FILE),
        format!(
            "hostname = \"mx.example.org\"\n\n\
             [listen]\n\
             smtp = [\"127.0.0.1:{smtp}\"]\n\
             submission = []\nsubmissions = []\nlmtp = []\nimap = []\nimaps = []\n\
             pop3 = []\npop3s = []\nmanagesieve = []\n\n\
             [dns]\nnameservers = [\"{}\"]\ntimeout_secs = 2\n\n\
             [outbound]\nmx_port = {}\nmta_sts_port = {}\nca_file = \"{}\"\n\
             trusted_networks = [\"127.0.0.1\"]\nretry_schedule_secs = [3600]\n",
            dns.addr(),
            receiver.port(),
            https.port,
            pki.ca.display()
        ),
    )
    .unwrap();
    let addr = ([127, 0, 0, 1], smtp).into();
    let server = ServerProcess::start_logging(&data, addr, dir.join("server.log"), "info");
    let mut c = common::smtp_client::Client::connect(addr, Duration::from_secs(10)).unwrap();
    c.command("EHLO client.test").unwrap();
    let message = b"From: <alice@example.org>\r\nSubject: sts-log\r\n\r\nHello.\r\n";
    let r = c
        .send("alice@example.org", &["bob@remote.test"], message)
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
    c.quit();
    wait_for(Duration::from_secs(30), "the delivery", || {
        (!receiver.messages().is_empty()).then_some(())
    });
    let log = wait_for(Duration::from_secs(10), "the log lines", || {
        let log = server.log();
        log.contains("delivering without TLS").then_some(log)
    });
    assert!(
        log.contains("MTA-STS testing: MX host not in the policy"),
        "{log}"
    );
    assert!(log.contains("mx.remote.test"), "{log}");
}

/// Today (UTC) as the TLS-RPT records name it.
fn today() -> (u64, String) {
    let day = mailwright::outbound::tlsrpt::day_of(queue::now_secs());
    (day, mailwright::outbound::tlsrpt::day_name(day))
}

/// A `full_server` with TLS-RPT on, delivering to `mx_port` under the policies at `https`.
fn tls_rpt_config(
    data: &Path,
    smtp: u16,
    dns: &dns_server::DnsServer,
    mx_port: u16,
    https: u16,
    ca: &Path,
) {
    std::fs::write(
        data.join(mailwright::core::datadir::CONFIG_FILE),
        format!(
            "hostname = \"mx.example.org\"\n\n\
             [listen]\n\
             smtp = [\"127.0.0.1:{smtp}\"]\n\
             submission = []\nsubmissions = []\nlmtp = []\nimap = []\nimaps = []\n\
             pop3 = []\npop3s = []\nmanagesieve = []\n\n\
             [dns]\nnameservers = [\"{}\"]\ntimeout_secs = 2\n\n\
             [outbound]\nmx_port = {mx_port}\nmta_sts_port = {https}\nca_file = \"{}\"\n\
             trusted_networks = [\"127.0.0.1\"]\nretry_schedule_secs = [3600]\n\
             connect_timeout_secs = 2\nreply_timeout_secs = 10\n\
             tls_rpt = true\ntls_rpt_organization = \"Example Org\"\n",
            dns.addr(),
            ca.display()
        ),
    )
    .unwrap();
}

fn gunzip(bytes: &[u8]) -> serde_json::Value {
    let mut json = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut json)
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

#[test]
fn tls_rpt_records_survive_a_restart_and_the_report_goes_by_mailto_and_https() {
    let dir = common::tempdir("tls-rpt");
    let pki = pki(&dir);
    // The destination: its certificate names localhost (and mta-sts.remote.test), not
    // mx.remote.test.
    let dest = destination(&pki, &["friend@remote.test", "tlsrpt@remote.test"]);
    let https = PolicyServer::start(
        &pki,
        "version: STSv1\r\nmode: enforce\r\nmx: localhost\r\nmx: *.remote.test\r\nmax_age: 86400\r\n",
    );
    // mx.remote.test (tried first) fails verification; localhost verifies.
    let dns = dns("localhost");
    dns.mx("remote.test", 5, "mx.remote.test");
    dns.a("mx.remote.test", "127.0.0.1".parse().unwrap());
    dns.txt(
        "_smtp._tls.remote.test",
        &format!(
            "v=TLSRPTv1; rua=mailto:tlsrpt@remote.test,https://mta-sts.remote.test:{}/tlsrpt",
            https.port
        ),
    );
    let [smtp] = common::postfix::free_ports::<1>();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::populate(&data);
    tls_rpt_config(
        &data,
        smtp,
        &dns,
        dest.port(Service::Smtp),
        https.port,
        &pki.ca,
    );
    // A DKIM key for the host name: the report (From: postmaster@mx.example.org) is signed.
    let (ok, out) = common::process::admin(&data, &["dkim", "generate", "mx.example.org"]);
    assert!(ok, "{out}");
    let addr = ([127, 0, 0, 1], smtp).into();
    let mut server = ServerProcess::start_logging(&data, addr, dir.join("server.log"), "info");
    let mut c = common::smtp_client::Client::connect(addr, Duration::from_secs(10)).unwrap();
    c.command("EHLO client.test").unwrap();
    let message = b"From: <alice@example.org>\r\nSubject: rpt-first\r\n\r\nHello.\r\n";
    let r = c
        .send("alice@example.org", &["friend@remote.test"], message)
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
    c.quit();
    wait_for(Duration::from_secs(30), "the delivery over TLS", || {
        mail_with(&dest, "bob@example.org", "rpt-first")
            .into_iter()
            .next()
    });
    // Done with the message (its state written) before the crash, so that it is not sent
    // again after the restart (the documented window between the 250 and the state write).
    wait_for(Duration::from_secs(30), "the queue empty", || {
        queue::list(&data.join("queue"))
            .ok()?
            .is_empty()
            .then_some(())
    });
    let (_, day) = today();
    let record = data.join("tls-rpt").join(&day);
    let text = std::fs::read_to_string(&record).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    // The record survives a crash and a restart.
    server.kill9();
    let _server = ServerProcess::start_logging(&data, addr, dir.join("server.log"), "info");
    assert_eq!(std::fs::read_to_string(&record).unwrap(), text);
    let (ok, out) = common::process::admin(&data, &["tlsrpt", "send", "--date", "2026-13-01"]);
    assert!(!ok, "{out}");
    let (ok, out) = common::process::admin(&data, &["tlsrpt", "send"]);
    assert!(ok, "{out}");
    let mailed = wait_for(Duration::from_secs(30), "the report by mail", || {
        mail_with(&dest, "bob@example.org", "TLS-Report-Domain")
            .into_iter()
            .next()
    });
    let posted = wait_for(Duration::from_secs(30), "the report by https", || {
        https.posts.lock().unwrap().first().cloned()
    });
    // RFC 8460 §5.3: the message.
    use mail_parser::MimeHeaders as _;
    let parsed = mail_parser::MessageParser::default()
        .parse(mailed.as_bytes())
        .unwrap();
    let ct = parsed.content_type().unwrap();
    assert_eq!(
        (ct.ctype(), ct.subtype(), ct.attribute("report-type")),
        ("multipart", Some("report"), Some("tlsrpt")),
        "{mailed}"
    );
    assert_eq!(
        parsed.header_raw("TLS-Report-Domain").map(str::trim),
        Some("remote.test")
    );
    assert_eq!(
        parsed.header_raw("TLS-Report-Submitter").map(str::trim),
        Some("mx.example.org")
    );
    assert!(parsed.date().is_some(), "{mailed}");
    let signature = parsed.header_raw("DKIM-Signature").unwrap_or_default();
    assert!(signature.contains("d=mx.example.org"), "{mailed}");
    let part = parsed
        .attachments()
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.ctype() == "application" && c.subtype() == Some("tlsrpt+gzip"))
        })
        .expect("the application/tlsrpt+gzip part");
    let json = gunzip(part.contents());
    // RFC 8460 §4.4: the fields and counts.
    assert_eq!(json["organization-name"], "Example Org", "{json}");
    assert_eq!(json["contact-info"], "mailto:postmaster@mx.example.org");
    assert_eq!(
        json["date-range"]["start-datetime"],
        format!("{day}T00:00:00Z")
    );
    assert!(json["report-id"].as_str().is_some_and(|s| !s.is_empty()));
    let policies = json["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1, "{json}");
    let p = &policies[0];
    assert_eq!(p["policy"]["policy-type"], "sts");
    assert_eq!(p["policy"]["policy-domain"], "remote.test");
    assert!(
        p["policy"]["policy-string"]
            .as_array()
            .unwrap()
            .contains(&"mode: enforce".into()),
        "{json}"
    );
    assert_eq!(p["summary"]["total-successful-session-count"], 1, "{json}");
    assert_eq!(p["summary"]["total-failure-session-count"], 1, "{json}");
    let failure = &p["failure-details"][0];
    assert_eq!(
        failure["result-type"], "certificate-host-mismatch",
        "{json}"
    );
    assert_eq!(failure["receiving-mx-hostname"], "mx.remote.test");
    assert_eq!(failure["receiving-ip"], "127.0.0.1");
    assert_eq!(failure["sending-mta-ip"], "127.0.0.1");
    assert_eq!(failure["failed-session-count"], 1);
    // RFC 8460 §5.4: the POST, the same report.
    let (head, body) = posted;
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/tlsrpt+gzip\r\n"),
        "{head}"
    );
    assert_eq!(gunzip(&body), json);
    // The day's record was taken aside as sent; the report's own delivery started a new one.
    let taken: Vec<String> = std::fs::read_dir(data.join("tls-rpt"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&format!("{day}.sent.")))
        .collect();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(
        std::fs::read_to_string(data.join("tls-rpt").join(&taken[0])).unwrap(),
        text
    );
}

#[test]
fn tls_rpt_sends_no_report_without_a_record() {
    let receiver = Scripted::start(scripted::normal);
    let dns = dns_server::DnsServer::start();
    dns.mx("remote.test", 10, "mx.remote.test");
    dns.a("mx.remote.test", "127.0.0.1".parse().unwrap());
    let dns_addr = dns.addr();
    let port = receiver.port();
    let server = TestServer::start_with(move |c| {
        c.hostname = "mx.example.org".into();
        c.dns.nameservers = vec![dns_addr];
        c.dns.timeout_secs = 2;
        c.outbound.mx_port = port;
        c.outbound.retry_schedule_secs = vec![3600];
        c.outbound.tls_rpt = true;
    });
    submit(&server, "bob@remote.test", "rpt-none");
    wait_for(Duration::from_secs(30), "the delivery", || {
        (!receiver.messages().is_empty()).then_some(())
    });
    let (day, name) = today();
    let dir = server.dir.join("tls-rpt");
    let text = std::fs::read_to_string(dir.join(&name)).unwrap();
    assert!(text.contains("\"no-policy-found\""), "{text}");
    assert!(text.contains("\"starttls-not-supported\""), "{text}");
    mailwright::outbound::tlsrpt::request_send(&dir, day).unwrap();
    wait_for(Duration::from_secs(30), "the TLSRPT lookup", || {
        dns.queries()
            .iter()
            .any(|(n, _)| n.starts_with("_smtp._tls.remote.test"))
            .then_some(())
    });
    wait_for(Duration::from_secs(10), "the record taken", || {
        (!dir.join(&name).exists()).then_some(())
    });
    // Nothing was queued (the queue is empty once the message left), and nothing more came.
    std::thread::sleep(Duration::from_millis(500));
    assert!(queue::list(&server.dir.join("queue")).unwrap().is_empty());
    assert_eq!(receiver.messages().len(), 1);
}

#[test]
fn tls_rpt_sends_a_past_day_by_itself() {
    use mailwright::outbound::tlsrpt;
    let dir = common::tempdir("tls-rpt-daily");
    let pki = pki(&dir);
    let https = PolicyServer::start(&pki, &policy("enforce", "localhost"));
    let dns = dns_server::DnsServer::start();
    dns.a("mta-sts.remote.test", "127.0.0.1".parse().unwrap());
    dns.txt(
        "_smtp._tls.remote.test",
        &format!(
            "v=TLSRPTv1; rua=https://mta-sts.remote.test:{}/tlsrpt",
            https.port
        ),
    );
    let (dns_addr, ca) = (dns.addr(), pki.ca.clone());
    let server = TestServer::start_with(move |c| {
        c.hostname = "mx.example.org".into();
        c.dns.nameservers = vec![dns_addr];
        c.dns.timeout_secs = 2;
        c.outbound.ca_file = Some(ca);
        c.outbound.tls_rpt = true;
    });
    // Yesterday's record, as the relay would have left it: once a day is over it is sent
    // without being asked.
    let (today, _) = today();
    let yesterday = tlsrpt::day_name(today - 1);
    let session = tlsrpt::Session::new("remote.test", None);
    let records = server.dir.join("tls-rpt");
    std::fs::create_dir_all(&records).unwrap();
    // Written aside and renamed, so the server never sees it half written.
    std::fs::write(
        records.join("tmp"),
        format!("{}\n", serde_json::to_string(&session).unwrap()),
    )
    .unwrap();
    std::fs::rename(records.join("tmp"), records.join(&yesterday)).unwrap();
    let (_, body) = wait_for(Duration::from_secs(30), "the report by https", || {
        https.posts.lock().unwrap().first().cloned()
    });
    let json = gunzip(&body);
    assert_eq!(
        json["date-range"]["start-datetime"],
        format!("{yesterday}T00:00:00Z")
    );
    assert_eq!(
        json["policies"][0]["policy"]["policy-type"],
        "no-policy-found"
    );
    assert_eq!(
        json["policies"][0]["summary"]["total-successful-session-count"],
        1
    );
    assert!(!records.join(&yesterday).exists());
}
