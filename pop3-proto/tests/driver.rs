//! The async client (`driver::Client`) against the crate's own server machine run by the shared
//! `Driver`, over `tokio::io::duplex`: STLS with rustls on both sides (through `Upgrade`),
//! USER/PASS and AUTH PLAIN, STAT, LIST, UIDL, a streamed RETR, DELE and QUIT's update, a message
//! dropped half-read, refusals, and the response timeout under tokio's paused clock.
#![cfg(feature = "tokio")]

#[path = "support/tls.rs"]
mod tls;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailwright_pop3_proto::client::ClientConfig;
use mailwright_pop3_proto::driver::{
    Client, Driver, DriverConfig, Error, Link, Next, NoTls, Service, Transport,
};
use mailwright_pop3_proto::server::{Maildrop, Refusal};
use mailwright_pop3_proto::{
    Atom, Capability, CommandKind, MessageNumber, ServerConfig, ServerEvent, ServerSession, Uid,
};

/// A maildrop of `alice`/`secret`: messages by index, `None` once deleted.
#[derive(Clone)]
struct Drop3 {
    messages: Arc<Mutex<Vec<Option<Vec<u8>>>>>,
    /// RETR waits this long before the message goes out (to make a client time out).
    hold_retr: Option<Duration>,
}

impl Drop3 {
    fn new(messages: Vec<Vec<u8>>) -> Self {
        Self {
            messages: Arc::new(Mutex::new(messages.into_iter().map(Some).collect())),
            hold_retr: None,
        }
    }

    fn left(&self) -> usize {
        self.messages.lock().unwrap().iter().flatten().count()
    }
}

fn misuse(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(e)
}

impl<T: Transport> Service<ServerSession, T> for Drop3 {
    async fn on_event(
        &mut self,
        s: &mut ServerSession,
        event: ServerEvent,
        link: &mut Link<'_, T>,
    ) -> io::Result<Next> {
        match event {
            ServerEvent::StartTls { .. } => return Ok(Next::StartTls),
            ServerEvent::Login {
                user,
                password,
                ticket,
                ..
            } => {
                if user == "alice" && password.expose() == b"secret" {
                    let mut listing = Maildrop::default();
                    for (i, m) in self.messages.lock().unwrap().iter().enumerate() {
                        if let Some(m) = m {
                            listing.push(m.len() as u64, Uid::new(format!("uid-{i}")).unwrap());
                        }
                    }
                    s.accept_login(ticket, listing).map_err(misuse)?;
                } else {
                    s.refuse_login(ticket, Refusal::BadCredentials)
                        .map_err(misuse)?;
                }
            }
            ServerEvent::Retr { message, .. } | ServerEvent::Top { message, .. } => {
                if let Some(hold) = self.hold_retr {
                    tokio::time::sleep(hold).await;
                }
                let data = self.messages.lock().unwrap()[message.index()]
                    .clone()
                    .unwrap();
                let mut reader = &data[..];
                // The machine takes a bounded piece at a time; write each out.
                while !s.send_message_from(&mut reader).map_err(misuse)? {
                    link.flush(s).await?;
                }
            }
            ServerEvent::Update { deleted, ticket } => {
                let mut messages = self.messages.lock().unwrap();
                for d in deleted {
                    messages[d.message.index()] = None;
                }
                s.update_done(ticket).map_err(misuse)?;
            }
            _ => {}
        }
        Ok(Next::Continue)
    }
}

fn server_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.offer_stls = true;
    config.sasl_mechanisms = vec![Atom::new("PLAIN").unwrap()];
    config
}

fn serve<T: Transport + 'static>(
    transport: T,
    config: ServerConfig,
    service: Drop3,
) -> tokio::task::JoinHandle<io::Result<()>> {
    tokio::spawn(async move {
        let (mut transport, mut service) = (transport, service);
        Driver::new(DriverConfig::default())
            .run(
                &mut ServerSession::new(config),
                &mut transport,
                &mut service,
                std::future::pending(),
            )
            .await
    })
}

/// Three messages; the second is bigger than the machine's pieces (64 KiB), with dot lines.
fn messages() -> Vec<Vec<u8>> {
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    for i in 0..5000 {
        big.extend_from_slice(format!(".line {i} of the big one\r\n").as_bytes());
    }
    vec![
        b"Subject: one\r\n\r\nfirst\r\n".to_vec(),
        big,
        b"Subject: three\r\n\r\n.\r\n..\r\nthird\r\n".to_vec(),
    ]
}

fn n(i: u32) -> MessageNumber {
    MessageNumber::new(i).unwrap()
}

#[tokio::test]
async fn stls_login_listings_streamed_retr_dele_and_quit() {
    let (client_io, server_io) = tls::Pki::new().duplex();
    let maildrop = Drop3::new(messages());
    let server = serve(server_io, server_config(), maildrop.clone());

    let mut client = Client::connect(client_io).await.unwrap();
    assert_eq!(client.greeting().text.as_str(), "POP3 server ready");
    let caps = client.capa().await.unwrap();
    assert!(caps.contains(&Capability::Stls), "{caps:?}");
    client.stls().await.unwrap();
    assert!(client.transport().is_tls());
    // After STLS the capabilities were asked again: STLS is no longer offered.
    assert!(!client.capabilities().contains(&Capability::Stls));
    assert!(client.capabilities().contains(&Capability::Pipelining));
    client.login("alice", b"secret").await.unwrap();

    let stat = client.stat().await.unwrap();
    let sizes: Vec<u64> = messages().iter().map(|m| m.len() as u64).collect();
    assert_eq!(stat.count, 3);
    assert_eq!(stat.size, sizes.iter().sum::<u64>());
    let list = client.list().await.unwrap();
    assert_eq!(list.iter().map(|l| l.size).collect::<Vec<_>>(), sizes);
    assert_eq!(client.list_one(n(2)).await.unwrap().size, sizes[1]);
    let uidl = client.uidl().await.unwrap();
    assert_eq!(uidl[2].uid.as_str(), "uid-2");
    assert_eq!(client.uidl_one(n(1)).await.unwrap().uid.as_str(), "uid-0");

    // The big message comes in several chunks, dot-unstuffed.
    let mut message = client.retr(n(2)).await.unwrap();
    let mut chunks = 0;
    let mut content = Vec::new();
    while let Some(chunk) = message.next().await.unwrap() {
        chunks += 1;
        content.extend_from_slice(&chunk);
    }
    assert!(chunks > 1, "{chunks}");
    assert_eq!(content, messages()[1]);
    let third = client.retr(n(3)).await.unwrap().to_vec().await.unwrap();
    assert_eq!(third, messages()[2]);

    // A message left after its first chunk: the next command still gets its own answer.
    let mut message = client.retr(n(2)).await.unwrap();
    assert!(message.next().await.unwrap().is_some());
    let top = client.top(n(1), 0).await.unwrap().to_vec().await.unwrap();
    assert_eq!(top, b"Subject: one\r\n\r\n");

    client.dele(n(1)).await.unwrap();
    client.dele(n(3)).await.unwrap();
    client.rset().await.unwrap();
    client.dele(n(1)).await.unwrap();
    client.noop().await.unwrap();
    let err = client.dele(n(1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                command: CommandKind::Dele,
                ..
            }
        ),
        "{err:?}"
    );
    client.quit().await.unwrap();
    server.await.unwrap().unwrap();
    // QUIT's UPDATE removed the message marked deleted, and only it.
    assert_eq!(maildrop.left(), 2);
    assert!(maildrop.messages.lock().unwrap()[0].is_none());
}

#[tokio::test]
async fn auth_plain_refusals_and_capabilities() {
    let (c, s) = tokio::io::duplex(64 * 1024);
    let maildrop = Drop3::new(messages());
    let _server = serve(NoTls(s), server_config(), maildrop.clone());
    let mut client = Client::connect(NoTls(c)).await.unwrap();
    // Before CAPA nothing is known: STLS asks for it, and the handshake cannot run here.
    let err = client.stls().await.unwrap_err();
    assert!(
        matches!(err, Error::Io(ref e) if e.kind() == io::ErrorKind::Unsupported),
        "{err:?}"
    );

    let (c, s) = tokio::io::duplex(64 * 1024);
    let mut config = server_config();
    config.offer_stls = false;
    config.offer_user = false;
    let _server = serve(NoTls(s), config, maildrop.clone());
    let mut client = Client::connect(NoTls(c)).await.unwrap();
    let err = client.stls().await.unwrap_err();
    assert!(matches!(err, Error::NotOffered("STLS")), "{err:?}");
    let err = client.login("alice", b"secret").await.unwrap_err();
    assert!(matches!(err, Error::NotOffered("USER")), "{err:?}");
    let err = client.auth_plain("alice", b"wrong").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                command: CommandKind::Auth,
                ..
            }
        ),
        "{err:?}"
    );
    client.auth_plain("alice", b"secret").await.unwrap();
    assert_eq!(client.stat().await.unwrap().count, 3);
    // A call dropped after it sent its command: the next call reads that answer first.
    tokio::select! {
        biased;
        _ = client.list() => panic!("the answer cannot be there yet"),
        () = std::future::ready(()) => {}
    }
    assert_eq!(client.uidl().await.unwrap().len(), 3);
    let err = client.login("bob", b"x").await.unwrap_err();
    assert!(matches!(err, Error::NotOffered("USER")), "{err:?}");
    // An argument the wire cannot carry.
    let (c, s) = tokio::io::duplex(64 * 1024);
    let _server = serve(NoTls(s), server_config(), maildrop);
    let mut client = Client::connect(NoTls(c)).await.unwrap();
    let err = client.login("al ice", b"secret").await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    client.quit().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_machine_times_out_a_silent_server_in_virtual_time() {
    let (c, s) = tokio::io::duplex(64 * 1024);
    let mut maildrop = Drop3::new(messages());
    maildrop.hold_retr = Some(Duration::from_mins(6));
    let _server = serve(NoTls(s), server_config(), maildrop);
    let mut client = Client::connect(NoTls(c)).await.unwrap();
    client.login("alice", b"secret").await.unwrap();
    let start = tokio::time::Instant::now();
    let err = client.retr(n(1)).await.unwrap_err();
    assert!(matches!(err, Error::TimedOut), "{err:?}");
    // ClientConfig::response_timeout: five minutes without an octet while an answer is due.
    assert_eq!(start.elapsed(), ClientConfig::default().response_timeout);
    assert_eq!(start.elapsed(), Duration::from_mins(5));
    assert!(matches!(client.stat().await, Err(Error::Usage(_))));
}
