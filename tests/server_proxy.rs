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
