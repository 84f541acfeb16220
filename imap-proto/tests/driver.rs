//! The async client (`driver::Client`) against the crate's own server machine run by the shared
//! `Driver`, over `tokio::io::duplex`: STARTTLS with rustls on both sides (through `Upgrade`),
//! capability checks, LOGIN, SELECT, FETCH streamed, IDLE with updates from the service's wake,
//! work left half-done by a call, refusals, IDLE re-issued by the machine before the
//! server's autologout under tokio's paused clock, and ENABLE and SELECT with QRESYNC.
#![cfg(feature = "tokio")]

#[path = "support/tls.rs"]
mod tls;

use std::io;
use std::num::NonZeroU32;
use std::time::Duration;

use mailwright_imap_proto::driver::{
    Client, Driver, DriverConfig, Error, Link, Next, NoTls, Service, Transport,
};
use mailwright_imap_proto::server::{
    Condition, Event as ServerEvent, Refusal, ServerConfig, ServerSession, Untagged,
};
use mailwright_imap_proto::structure::Message;
use mailwright_imap_proto::types::command::{CommandBody, FetchAttribute, FetchItems};
use mailwright_imap_proto::types::core::{Atom, NString, Vec1};
use mailwright_imap_proto::types::response::{Code, Data, FetchItem};
use mailwright_imap_proto::types::sequence::{SeqItem, SeqNumber, SequenceSet};
use mailwright_imap_proto::{IString, SessionState};
use tokio::sync::mpsc;

/// One user (`alice`/`secret`) with an INBOX in memory; the messages that arrive while the
/// client idles come through `arrivals`.
struct Memory {
    messages: Vec<Vec<u8>>,
    arrivals: mpsc::UnboundedReceiver<Vec<u8>>,
    arrived: Vec<Vec<u8>>,
    tls: bool,
    /// Advertise IDLE.
    idle: bool,
}

fn atoms(names: &[&str]) -> Vec1<Atom<'static>> {
    Vec1::try_from(
        names
            .iter()
            .map(|n| Atom::try_from((*n).to_owned()).unwrap())
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

fn misuse(e: mailwright_imap_proto::UsageError) -> io::Error {
    io::Error::other(e)
}

impl Memory {
    fn capabilities(&self) -> Vec1<Atom<'static>> {
        let mut caps = vec!["IMAP4rev1"];
        if self.idle {
            caps.push("IDLE");
        }
        if !self.tls {
            // RFC 3501 §6.2.3: no LOGIN in plaintext.
            caps.extend(["STARTTLS", "LOGINDISABLED"]);
        }
        atoms(&caps)
    }

    /// Sends the FETCH responses for `set`.
    fn fetch(
        &self,
        s: &mut ServerSession,
        uid: bool,
        set: &SequenceSet,
        items: &FetchItems<'_>,
    ) -> io::Result<()> {
        let count = self.messages.len() as u32;
        for (i, raw) in self.messages.iter().enumerate() {
            let seq = i as u32 + 1;
            // UIDs are 100 + the sequence number.
            let n = if uid { 100 + seq } else { seq };
            if !set.contains(n, if uid { 100 + count } else { count }) {
                continue;
            }
            let message = Message::parse(raw);
            let mut out = Vec::new();
            if uid {
                out.push(FetchItem::Uid(NonZeroU32::new(100 + seq).unwrap()));
            }
            for attr in items.expand() {
                out.push(match attr {
                    FetchAttribute::Envelope => FetchItem::Envelope(Box::new(message.envelope())),
                    FetchAttribute::Uid if !uid => {
                        FetchItem::Uid(NonZeroU32::new(100 + seq).unwrap())
                    }
                    FetchAttribute::Rfc822Size => FetchItem::Rfc822Size(message.size() as u32),
                    FetchAttribute::Flags => FetchItem::Flags(Vec::new()),
                    FetchAttribute::BodySection { section, .. } => FetchItem::BodySection {
                        section,
                        origin: None,
                        data: NString(Some(IString::from_bytes(raw.clone()).unwrap())),
                    },
                    _ => continue,
                });
            }
            s.send(Data::Fetch {
                seq: NonZeroU32::new(seq).unwrap(),
                items: Vec1::try_from(out).unwrap(),
            })
            .map_err(misuse)?;
        }
        Ok(())
    }
}

impl<T: Transport> Service<ServerSession, T> for Memory {
    async fn on_event(
        &mut self,
        s: &mut ServerSession,
        event: ServerEvent,
        _link: &mut Link<'_, T>,
    ) -> io::Result<Next> {
        match event {
            ServerEvent::Command { handle, command } => {
                let condition = match &command {
                    CommandBody::Capability => {
                        s.send(Data::Capability(self.capabilities()))
                            .map_err(misuse)?;
                        Condition::Ok
                    }
                    CommandBody::Fetch {
                        uid, set, items, ..
                    } => {
                        self.fetch(s, *uid, set, items)?;
                        Condition::Ok
                    }
                    CommandBody::Noop => Condition::Ok,
                    CommandBody::Enable { capabilities } => {
                        s.send(Data::Enabled(capabilities.to_vec()))
                            .map_err(misuse)?;
                        Condition::Ok
                    }
                    _ => Condition::No,
                };
                s.complete(handle, condition, None, "done")
                    .map_err(misuse)?;
            }
            ServerEvent::StartTls { handle } => {
                s.accept_starttls(handle).map_err(misuse)?;
                self.tls = true;
                return Ok(Next::StartTls);
            }
            ServerEvent::Login {
                handle,
                username,
                password,
                ..
            } => {
                if username == "alice" && password.expose() == "secret" {
                    s.accept_login(handle, None).map_err(misuse)?;
                } else {
                    let code = Code::Other(Atom::try_from("AUTHENTICATIONFAILED").unwrap(), None);
                    s.reject_login(handle, Some(code), "Authentication failed.")
                        .map_err(misuse)?;
                }
            }
            ServerEvent::Select {
                handle,
                mailbox,
                read_only,
                qresync,
                ..
            } => {
                if s.state() == SessionState::Selected {
                    s.send(Untagged::ok(Some(Code::Closed), "Previous mailbox closed"))
                        .map_err(misuse)?;
                }
                if mailbox.is_inbox() {
                    s.send(Data::Exists(self.messages.len() as u32))
                        .map_err(misuse)?;
                    s.send(Data::Recent(0)).map_err(misuse)?;
                    let validity = Code::UidValidity(NonZeroU32::new(7).unwrap());
                    s.send(Untagged::ok(Some(validity), "UIDs valid"))
                        .map_err(misuse)?;
                    // RFC 7162 §3.2.5.1: message 2 went, message 1 got \Seen.
                    if qresync.is_some() {
                        s.send(Data::Vanished {
                            earlier: true,
                            uids: "2".parse().unwrap(),
                        })
                        .map_err(misuse)?;
                        let items = vec![
                            FetchItem::Uid(NonZeroU32::new(1).unwrap()),
                            FetchItem::ModSeq(9),
                        ];
                        s.send(Data::Fetch {
                            seq: NonZeroU32::new(1).unwrap(),
                            items: Vec1::try_from(items).unwrap(),
                        })
                        .map_err(misuse)?;
                    }
                    let code = if read_only {
                        Code::ReadOnly
                    } else {
                        Code::ReadWrite
                    };
                    s.accept_select(handle, Some(code), "SELECT completed")
                        .map_err(misuse)?;
                } else {
                    s.reject(handle, Refusal::No, None, "no such mailbox")
                        .map_err(misuse)?;
                }
            }
            ServerEvent::Idle { handle } => s.accept_idle(handle).map_err(misuse)?,
            ServerEvent::IdleDone { handle } => s
                .complete(handle, Condition::Ok, None, "IDLE terminated")
                .map_err(misuse)?,
            ServerEvent::Logout { handle } => s.accept_logout(handle).map_err(misuse)?,
            ServerEvent::Close { handle, .. } => s.accept_close(handle, "done").map_err(misuse)?,
            _ => {}
        }
        Ok(Next::Continue)
    }

    async fn wake(&mut self) {
        match self.arrivals.recv().await {
            Some(message) => self.arrived.push(message),
            None => std::future::pending().await,
        }
    }

    async fn on_wake(
        &mut self,
        s: &mut ServerSession,
        _link: &mut Link<'_, T>,
    ) -> io::Result<Next> {
        self.messages.append(&mut self.arrived);
        s.send(Data::Exists(self.messages.len() as u32))
            .map_err(misuse)?;
        Ok(Next::Continue)
    }
}

fn message(subject: &str) -> Vec<u8> {
    format!("From: a@example.org\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n").into_bytes()
}

/// The server machine with its greeting's capabilities, on the shared driver over `transport`;
/// returns the sender of new mail.
fn serve<T: Transport + 'static>(
    transport: T,
    idle: bool,
    tls: bool,
) -> (
    mpsc::UnboundedSender<Vec<u8>>,
    tokio::task::JoinHandle<io::Result<()>>,
) {
    let (arrive, arrivals) = mpsc::unbounded_channel();
    let mut memory = Memory {
        messages: vec![message("one"), message("two"), message("three")],
        arrivals,
        arrived: Vec::new(),
        tls,
        idle,
    };
    let mut config = ServerConfig::default();
    config.greeting.capabilities = Some(memory.capabilities());
    let task = tokio::spawn(async move {
        let mut transport = transport;
        Driver::new(DriverConfig::default())
            .run(
                &mut ServerSession::new(config),
                &mut transport,
                &mut memory,
                std::future::pending(),
            )
            .await
    });
    (arrive, task)
}

fn range(a: u32, b: Option<u32>) -> SequenceSet {
    let end = b.map_or(SeqNumber::Largest, |b| {
        SeqNumber::Value(NonZeroU32::new(b).unwrap())
    });
    SequenceSet::try_from(vec![SeqItem::Range(
        SeqNumber::Value(NonZeroU32::new(a).unwrap()),
        end,
    )])
    .unwrap()
}

fn subject(f: &mailwright_imap_proto::driver::Fetched) -> String {
    let subject = f.envelope().unwrap().subject.as_bytes().unwrap();
    String::from_utf8_lossy(subject).into_owned()
}

#[tokio::test]
async fn starttls_login_select_fetch_idle_and_logout() {
    let (client_io, server_io) = tls::Pki::new().duplex();
    let (arrive, server) = serve(server_io, true, false);

    let mut client = Client::connect(client_io).await.unwrap();
    assert!(client.has_capability("STARTTLS"));
    // The machine's rule: no LOGIN under LOGINDISABLED.
    let err = client.login("alice", "secret").await.unwrap_err();
    assert!(matches!(err, Error::NotOffered("LOGIN")), "{err:?}");
    client.starttls().await.unwrap();
    assert!(client.transport().is_tls());
    // Asked again over TLS: LOGIN is allowed now.
    assert!(!client.has_capability("LOGINDISABLED") && client.has_capability("IDLE"));
    let err = client.login("alice", "wrong").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                command: "LOGIN",
                ..
            }
        ),
        "{err:?}"
    );
    client.login("alice", "secret").await.unwrap();
    assert_eq!(client.state(), SessionState::Authenticated);

    let err = client.select("Nowhere").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                command: "SELECT",
                ..
            }
        ),
        "{err:?}"
    );
    let inbox = client.select("INBOX").await.unwrap();
    assert_eq!(inbox.exists, 3);
    assert_eq!(inbox.uid_validity, NonZeroU32::new(7));
    assert!(!inbox.read_only);
    assert_eq!(client.state(), SessionState::Selected);

    // The last two, one response at a time.
    let items = FetchItems::List(
        Vec1::try_from(vec![FetchAttribute::Envelope, FetchAttribute::Uid]).unwrap(),
    );
    let mut fetch = client.fetch(range(2, None), items.clone()).await.unwrap();
    let first = fetch.next().await.unwrap().unwrap();
    assert_eq!((first.seq.get(), subject(&first)), (2, "two".to_owned()));
    assert_eq!(first.uid().map(NonZeroU32::get), Some(102));
    let second = fetch.next().await.unwrap().unwrap();
    assert_eq!(subject(&second), "three");
    assert!(fetch.next().await.unwrap().is_none());
    assert!(fetch.next().await.unwrap().is_none());
    let by_uid = client
        .uid_fetch(range(101, Some(101)), FetchItems::Fast)
        .await
        .unwrap()
        .all()
        .await
        .unwrap();
    assert_eq!(by_uid.len(), 1);
    assert_eq!(by_uid[0].uid().map(NonZeroU32::get), Some(101));
    assert_eq!(by_uid[0].size(), Some(message("one").len() as u32));

    // IDLE: new mail arrives while the client waits.
    let mut idle = client.idle().await.unwrap();
    arrive.send(message("four")).unwrap();
    assert_eq!(idle.next().await.unwrap(), Data::Exists(4));
    assert_eq!(idle.reissues(), 0);
    let rest = idle.done().await.unwrap();
    assert!(rest.is_empty());
    let body = client
        .fetch(
            range(4, None),
            FetchItems::Single(FetchAttribute::BodySection {
                peek: true,
                section: mailwright_imap_proto::types::command::Section::new(vec![], None).unwrap(),
                partial: None,
            }),
        )
        .await
        .unwrap()
        .all()
        .await
        .unwrap();
    assert_eq!(body[0].body(), Some(&message("four")[..]));

    client.logout().await.unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn work_left_half_done_is_finished_by_the_next_call() {
    let (c, s) = tokio::io::duplex(64 * 1024);
    let (arrive, _server) = serve(NoTls(s), true, true);
    let mut client = Client::connect(NoTls(c)).await.unwrap();
    client.login("alice", "secret").await.unwrap();
    client.select("INBOX").await.unwrap();

    // A FETCH read for one response only: the next command still gets its own answer.
    let mut fetch = client
        .fetch(range(1, None), FetchItems::Fast)
        .await
        .unwrap();
    assert!(fetch.next().await.unwrap().is_some());
    let inbox = client.examine("INBOX").await.unwrap();
    assert_eq!(inbox.exists, 3);
    assert!(inbox.read_only);

    // A call dropped after it sent its command: its completion is read by the next call.
    tokio::select! {
        biased;
        _ = client.select("INBOX") => panic!("the answer cannot be there yet"),
        () = std::future::ready(()) => {}
    }
    assert_eq!(client.noop().await.unwrap(), []);
    assert_eq!(client.state(), SessionState::Selected);
    // Its untagged data is kept as updates.
    let updates: Vec<_> = client.take_updates().collect();
    assert_eq!(updates, [Data::Exists(3), Data::Recent(0)]);

    // An IDLE left without done: the next command sends DONE first. The update that came
    // during the IDLE is kept.
    client.idle().await.unwrap();
    arrive.send(message("four")).unwrap();
    // Time for the server to send the update before the DONE reaches it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(client.noop().await.unwrap().is_empty());
    let updates: Vec<_> = client.take_updates().collect();
    assert_eq!(updates, [Data::Exists(4)]);
    client.logout().await.unwrap();
}

#[tokio::test]
async fn refusals_of_the_server_and_of_the_machine() {
    // A greeting that refuses.
    let (c, s) = tokio::io::duplex(4096);
    tokio::spawn(async move {
        let mut session = ServerSession::refused(ServerConfig::default(), "Too busy.");
        struct Nothing;
        impl<T: Transport> Service<ServerSession, T> for Nothing {
            async fn on_event(
                &mut self,
                _: &mut ServerSession,
                _: ServerEvent,
                _: &mut Link<'_, T>,
            ) -> io::Result<Next> {
                Ok(Next::Continue)
            }
        }
        Driver::new(DriverConfig::default())
            .run(
                &mut session,
                &mut NoTls(s),
                &mut Nothing,
                std::future::pending(),
            )
            .await
    });
    let err = Client::connect(NoTls(c)).await.unwrap_err();
    assert!(matches!(err, Error::Greeting(_)), "{err:?}");

    // IDLE not offered; a command the server does not know.
    let (c, s) = tokio::io::duplex(4096);
    let _server = serve(NoTls(s), false, true);
    let mut client = Client::connect(NoTls(c)).await.unwrap();
    client.login("alice", "secret").await.unwrap();
    let err = client.idle().await.unwrap_err();
    assert!(matches!(err, Error::NotOffered("IDLE")), "{err:?}");
    let err = client.run(CommandBody::Namespace).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                command: "NAMESPACE",
                ..
            }
        ),
        "{err:?}"
    );
    let answer = client.run(CommandBody::Capability).await.unwrap();
    assert!(matches!(answer.data[..], [Data::Capability(_)]));
    // A user name the wire cannot carry (RFC 3501 §4.3: no NUL, even in a literal).
    let err = client.login("al\0ice", "secret").await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    client.logout().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn idle_outlives_the_servers_autologout_in_virtual_time() {
    let (c, s) = tokio::io::duplex(64 * 1024);
    let (arrive, server) = serve(NoTls(s), true, true);
    let mut client = Client::connect(NoTls(c)).await.unwrap();
    client.login("alice", "secret").await.unwrap();
    client.select("INBOX").await.unwrap();
    let start = tokio::time::Instant::now();
    let mut idle = client.idle().await.unwrap();

    // New mail 45 minutes in: by then the machine has re-issued the IDLE once (at 29 minutes),
    // so the server's 30-minute autologout never fired.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_mins(45)).await;
        arrive.send(message("late")).unwrap();
    });
    assert_eq!(idle.next().await.unwrap(), Data::Exists(4));
    assert_eq!(start.elapsed(), Duration::from_mins(45));
    assert_eq!(idle.reissues(), 1);

    // Nothing more for 20 minutes: a second re-issue at 58 minutes, and the wait just ends.
    let quiet = tokio::time::timeout(Duration::from_mins(20), idle.next()).await;
    assert!(quiet.is_err(), "{quiet:?}");
    assert_eq!(idle.reissues(), 2);
    idle.done().await.unwrap();
    assert_eq!(client.noop().await.unwrap(), []);
    client.logout().await.unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn enable_and_select_with_qresync() {
    let (client_io, server_io) = tokio::io::duplex(1 << 16);
    let (_arrive, server) = serve(NoTls(server_io), false, true);
    let mut client = Client::connect(NoTls(client_io)).await.unwrap();
    client.login("alice", "secret").await.unwrap();
    let enabled = client.enable(&["QRESYNC"]).await.unwrap();
    assert_eq!(enabled, [Atom::try_from("QRESYNC").unwrap()]);
    let plain = client.select("INBOX").await.unwrap();
    assert!(!plain.closed && plain.vanished.is_empty() && plain.changed.is_empty());
    let params = mailwright_imap_proto::types::qresync::QresyncParams {
        uid_validity: NonZeroU32::new(7).unwrap(),
        modseq: 8,
        known_uids: Some("1:3".parse().unwrap()),
        seq_match: None,
    };
    let resync = client.select_qresync("INBOX", false, params).await.unwrap();
    assert!(resync.closed, "{resync:?}");
    assert_eq!(resync.vanished, ["2".parse::<SequenceSet>().unwrap()]);
    assert_eq!(resync.changed.len(), 1);
    assert_eq!(resync.exists, 3);
    client.logout().await.unwrap();
    server.await.unwrap().unwrap();
}
