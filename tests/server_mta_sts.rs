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

mod common;

#[path = "../testsupport/dns.rs"]
mod dns_server;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
/// `text/plain`; counts the requests. Serves at most 20 connections, each bounded in time.
struct PolicyServer {
    port: u16,
    requests: Arc<AtomicUsize>,
}

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
                } else {
                    let _ = tls.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                }
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        PolicyServer { port, requests }
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

#[test]
fn enforce_delivers_to_a_matching_mx_over_verified_tls_and_caches_the_policy() {
    let dir = common::tempdir("mta-sts-enforce");
    let pki = pki(&dir);
    let (cert, key) = (pki.cert.clone(), pki.key.clone());
    let dest = TestServer::start_with(move |c| {
        c.tls.cert = cert;
        c.tls.key = key;
        c.auth.plaintext_on_loopback = false;
    });
    let d = mailwright::core::directory::Directory::open(&dest.dir, Duration::ZERO);
    d.add_domain("remote.test").unwrap();
    d.add_alias(
        &"friend@remote.test".parse().unwrap(),
        &["bob@example.org".parse().unwrap()],
    )
    .unwrap();
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
