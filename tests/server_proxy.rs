//! The PROXY protocol (versions 1 and 2) in front of the listeners: a trusted source's header
//! names the client everywhere the server names the peer (the `Received:` field, the log lines,
//! the login failure budget); an untrusted source's header is only a bad command; a trusted
//! source without a header is dropped. Then HAProxy itself (`send-proxy-v2`) in front of SMTP
//! and IMAP.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::TestServer;
use common::smtp_client::Client;
use mailwright::server::Service;
use mailwright_sansio::proxy::{ProxyCommand, ProxyHeader, ProxyVersion, encode};

const TIMEOUT: Duration = Duration::from_secs(20);
/// The one source the servers below trust to send a header (a loopback address of its own).
const PROXY: [u8; 4] = [127, 0, 0, 2];

/// A connection to `to` made from `from` (any 127/8 address works on Linux loopback).
fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        tokio::time::timeout(TIMEOUT, socket.connect(to))
            .await
            .expect("connect in time")
            .unwrap()
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
}

fn header(version: ProxyVersion, client: &str, server: SocketAddr) -> Vec<u8> {
    let mut wire = Vec::new();
    encode(
        &ProxyHeader {
            version,
            command: ProxyCommand::Proxy {
                source: client.parse().unwrap(),
                destination: server,
            },
        },
        &mut wire,
    );
    wire
}

fn proxied_server(timeout_secs: u64) -> TestServer {
    TestServer::start_with(move |c| {
        c.listen.proxy_protocol = vec!["smtp".into(), "imap".into()];
        c.listen.proxy_trusted = vec!["127.0.0.2/32".into()];
        c.listen.proxy_timeout_secs = timeout_secs;
    })
}

/// Sends one message to alice over `stream` (greeting not read yet) and returns the `Received:`
/// field her copy got.
fn deliver(server: &TestServer, stream: TcpStream, subject: &str) -> String {
    let mut client = Client::greeted_over(stream, TIMEOUT).unwrap();
    assert_eq!(client.command("EHLO client.test").unwrap().code, 250);
    let message = format!("From: x@example.net\r\nSubject: {subject}\r\n\r\nhello\r\n");
    let reply = client
        .send("x@example.net", &["alice@example.org"], message.as_bytes())
        .unwrap();
    assert!(reply.is_ok(), "{reply:?}");
    client.quit();
    let stored = server
        .messages("alice@example.org")
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .find(|m| m.contains(&format!("Subject: {subject}")))
        .expect("delivered");
    let start = stored.find("Received: ").expect("a Received: field");
    stored[start..].lines().next().unwrap().to_owned()
}

#[test]
fn v1_and_v2_headers_name_the_client_in_received() {
    let server = proxied_server(5);
    let smtp = server.addr(Service::Smtp);
    for (version, client, subject) in [
        (ProxyVersion::V1, "127.0.0.77:40001", "v1"),
        (ProxyVersion::V2, "127.0.0.88:40002", "v2"),
    ] {
        let mut stream = connect_from(PROXY.into(), smtp);
        stream.write_all(&header(version, client, smtp)).unwrap();
        let received = deliver(&server, stream, subject);
        let ip = client.split(':').next().unwrap();
        assert!(received.contains(&format!("([{ip}])")), "{received}");
    }
    // LOCAL (a health check) keeps the proxy's own address.
    let mut stream = connect_from(PROXY.into(), smtp);
    let mut local = Vec::new();
    encode(
        &ProxyHeader {
            version: ProxyVersion::V2,
            command: ProxyCommand::Local,
        },
        &mut local,
    );
    stream.write_all(&local).unwrap();
    let received = deliver(&server, stream, "local");
    assert!(received.contains("([127.0.0.2])"), "{received}");
}

#[test]
fn an_untrusted_header_is_refused_and_a_trusted_source_needs_one() {
    let server = proxied_server(1);
    let smtp = server.addr(Service::Smtp);
    // From 127.0.0.1, not trusted: served as itself, its header a command SMTP does not know.
    let stream = connect_from([127, 0, 0, 1].into(), smtp);
    let mut client = Client::greeted_over(stream, TIMEOUT).unwrap();
    let line = String::from_utf8(header(ProxyVersion::V1, "192.0.2.1:1", smtp)).unwrap();
    let reply = client.command(line.trim_end()).unwrap();
    assert_eq!(reply.code, 500, "{reply:?}");
    client.quit();
    let stream = connect_from([127, 0, 0, 1].into(), smtp);
    let received = deliver(&server, stream, "untrusted");
    assert!(received.contains("([127.0.0.1])"), "{received}");

    // From the trusted source: a protocol command instead of a header, then silence, are each
    // dropped without a greeting.
    let mut stream = connect_from(PROXY.into(), smtp);
    stream.write_all(b"EHLO client.test\r\n").unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    assert!(got.is_empty(), "{}", got.escape_ascii());
    let started = Instant::now();
    let mut stream = connect_from(PROXY.into(), smtp);
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    assert!(got.is_empty(), "{}", got.escape_ascii());
    assert!(started.elapsed() < TIMEOUT, "dropped by proxy_timeout_secs");

    // IMAP behind a v2 header over IPv6: greeted as usual.
    let imap = server.addr(Service::Imap);
    let mut stream = connect_from(PROXY.into(), imap);
    stream
        .write_all(&header(ProxyVersion::V2, "[2001:db8::7]:5000", imap))
        .unwrap();
    let mut greeting = [0u8; 4];
    stream.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"* OK");
}

/// Connects from 127.0.0.2 to an implicit-TLS port, sends a PROXY header given in hex, then
/// does the TLS handshake and prints the greeting.
const HEADER_THEN_TLS: &str = r#"
import socket, ssl, sys
port, header = int(sys.argv[1]), bytes.fromhex(sys.argv[2])
s = socket.socket()
s.bind(("127.0.0.2", 0))
s.settimeout(20)
s.connect(("127.0.0.1", port))
s.sendall(header)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(s, server_hostname="localhost")
print(t.recv(4096).decode())
t.close()
"#;

#[test]
fn on_an_implicit_tls_port_the_header_comes_before_the_handshake() {
    let server = TestServer::start_with(|c| {
        c.listen.proxy_protocol = vec!["imaps".into()];
        c.listen.proxy_trusted = vec!["127.0.0.2/32".into()];
    });
    let imaps = server.addr(Service::Imaps);
    let wire = header(ProxyVersion::V2, "127.0.0.66:6000", imaps);
    let hex = wire.iter().fold(String::new(), |mut hex, b| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{b:02x}");
        hex
    });
    let out = common::python(HEADER_THEN_TLS, &[&imaps.port().to_string(), &hex]);
    assert!(out.starts_with("* OK"), "{out}");
}

/// A `full_server` data directory: SMTP and IMAP on `ports`, both expecting a PROXY header from
/// 127.0.0.2.
fn proxied_data_dir(name: &str, [smtp, imap]: [u16; 2]) -> std::path::PathBuf {
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
             imap = [\"127.0.0.1:{imap}\"]\n\
             imaps = []\n\
             pop3 = []\n\
             pop3s = []\n\
             managesieve = []\n\
             proxy_protocol = [\"smtp\", \"imap\"]\n\
             proxy_trusted = [\"127.0.0.2\"]\n\n\
             [limits]\n\
             auth_failure_delay_secs = 0\n"
        ),
    )
    .unwrap();
    dir
}

/// Waits (bounded) until the log has `what`.
fn wait_for_log(server: &common::process::ServerProcess, what: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let log = server.log();
        if log.contains(what) {
            return log;
        }
        assert!(Instant::now() < deadline, "no {what:?} in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Says a wrong password over IMAP on `stream` and waits for the NO.
fn fail_imap_login(stream: &mut TcpStream) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"\r\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the greeting");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"* OK"), "{}", got.escape_ascii());
    stream
        .write_all(b"a LOGIN alice@example.org wrong\r\n")
        .unwrap();
    got.clear();
    while !got.windows(4).any(|w| w == b"a NO") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the NO");
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn the_log_names_the_client_the_header_claims() {
    let ports = common::postfix::free_ports::<2>();
    let dir = proxied_data_dir("proxy-log", ports);
    let imap: SocketAddr = ([127, 0, 0, 1], ports[1]).into();
    let server = common::process::ServerProcess::start_logging(
        &dir,
        ([127, 0, 0, 1], ports[0]).into(),
        dir.join("log"),
        "info",
    );
    let mut stream = connect_from(PROXY.into(), imap);
    stream
        .write_all(&header(ProxyVersion::V2, "127.0.0.99:4321", imap))
        .unwrap();
    fail_imap_login(&mut stream);
    let log = wait_for_log(&server, "login failed client=127.0.0.99");
    assert!(log.contains("peer=127.0.0.99:4321"), "{log}");
    // An untrusted source's claim is never believed.
    let mut stream = connect_from([127, 0, 0, 1].into(), imap);
    stream
        .write_all(&header(ProxyVersion::V1, "127.0.0.98:4321", imap))
        .unwrap();
    let mut buf = [0u8; 512];
    let _ = stream.read(&mut buf).unwrap();
    drop(stream);
    // Its header is logged as the bad command it is, under its own address.
    let log = wait_for_log(&server, "unknown command: TCP4 127.0.0.98");
    assert!(!log.contains("peer=127.0.0.98"), "{log}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// HAProxy (`send-proxy-v2`, connecting from 127.0.0.2) in front of SMTP and IMAP: the client's
/// own address (127.0.0.3) is in the `Received:` field and in the login failure line.
#[test]
fn behind_haproxy_with_send_proxy_v2() {
    let ports = common::postfix::free_ports::<4>();
    let [smtp, imap, front_smtp, front_imap] = ports;
    let dir = proxied_data_dir("proxy-haproxy", [smtp, imap]);
    let server = common::process::ServerProcess::start_logging(
        &dir,
        ([127, 0, 0, 1], smtp).into(),
        dir.join("log"),
        "info",
    );
    let config = format!(
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\n\
         frontend smtp\n  bind 127.0.0.1:{front_smtp}\n  default_backend smtp\n\
         backend smtp\n  server mw 127.0.0.1:{smtp} send-proxy-v2 source 127.0.0.2\n\n\
         frontend imap\n  bind 127.0.0.1:{front_imap}\n  default_backend imap\n\
         backend imap\n  server mw 127.0.0.1:{imap} send-proxy-v2 source 127.0.0.2\n"
    );
    let Some(_proxy) = common::haproxy::Haproxy::start(&dir, &config, &[front_smtp, front_imap])
    else {
        return;
    };
    let client: IpAddr = [127, 0, 0, 3].into();

    let stream = connect_from(client, ([127, 0, 0, 1], front_smtp).into());
    let mut smtp_client = Client::greeted_over(stream, TIMEOUT).unwrap();
    assert_eq!(smtp_client.command("EHLO client.test").unwrap().code, 250);
    let reply = smtp_client
        .send(
            "x@example.net",
            &["alice@example.org"],
            b"From: x@example.net\r\nSubject: via haproxy\r\n\r\nhello\r\n",
        )
        .unwrap();
    assert!(reply.is_ok(), "{reply:?}");
    smtp_client.quit();
    let new = dir.join("mail/example.org/alice/Maildir/new");
    let stored: Vec<String> = std::fs::read_dir(&new)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].contains("(client.test ([127.0.0.3]))") || stored[0].contains("([127.0.0.3])"),
        "{}",
        stored[0]
    );

    let mut stream = connect_from(client, ([127, 0, 0, 1], front_imap).into());
    fail_imap_login(&mut stream);
    wait_for_log(&server, "login failed client=127.0.0.3");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
