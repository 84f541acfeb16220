//! Server and client sessions wired back to back, without sockets.

use std::time::Instant;

use bytes::Bytes;
use mailwright_imap_proto::client::{ClientConfig, ClientSession, Event as ClientEvent};
use mailwright_imap_proto::framer::FramerConfig;
use mailwright_imap_proto::server::{
    Condition, Event as ServerEvent, RejectReason, ServerConfig, ServerSession,
};
use mailwright_imap_proto::types::command::{AuthData, CommandBody};
use mailwright_imap_proto::types::core::{AString, Literal, LiteralMode};
use mailwright_imap_proto::types::mailbox::Mailbox;
use mailwright_imap_proto::types::response::{Code, Data, StatusKind};
use mailwright_imap_proto::{Machine, Secret, SessionState};

/// What the test server saw: the `Debug` of an event it decided on, or the event itself.
#[derive(Debug)]
enum Logged {
    Decided(String),
    Other(ServerEvent),
}

impl Logged {
    fn decided(&self, prefix: &str) -> bool {
        matches!(self, Logged::Decided(d) if d.starts_with(prefix))
    }
}

/// A tiny server application: answers what it is asked and records the events.
fn serve(server: &mut ServerSession, log: &mut Vec<Logged>) {
    while let Some(ev) = server.poll_event() {
        let seen = format!("{ev:?}");
        match ev {
            ServerEvent::Login {
                handle,
                username,
                password,
                ..
            } => {
                if username == "mrc" && password.expose() == "secret" {
                    server.accept_login(handle, None).unwrap();
                } else {
                    server.reject_login(handle, None, "bad password").unwrap();
                }
            }
            ServerEvent::Select { handle, .. } => {
                server.send(Data::Exists(18)).unwrap();
                server
                    .accept_select(handle, Some(Code::ReadWrite), "SELECT completed")
                    .unwrap();
            }
            ServerEvent::Idle { handle } => server.accept_idle(handle).unwrap(),
            ServerEvent::Logout { handle } => server.accept_logout(handle).unwrap(),
            ServerEvent::IdleDone { handle } | ServerEvent::AppendEnd { handle } => server
                .complete(
                    handle,
                    Condition::Ok,
                    Some(Code::UidNext(1.try_into().unwrap())),
                    "done",
                )
                .unwrap(),
            ServerEvent::Command { handle, .. } => {
                server
                    .complete(handle, Condition::Ok, None, "done")
                    .unwrap();
            }
            other => {
                log.push(Logged::Other(other));
                continue;
            }
        }
        log.push(Logged::Decided(seen));
    }
}

struct Pair {
    client: ClientSession,
    server: ServerSession,
    server_log: Vec<Logged>,
    client_log: Vec<ClientEvent>,
    /// Deliver bytes in pieces of this size (1 = byte by byte).
    chunk: usize,
    now: Instant,
}

impl Pair {
    fn new(config: ServerConfig, chunk: usize) -> Self {
        Self {
            client: ClientSession::new(ClientConfig::default()),
            server: ServerSession::new(config),
            server_log: vec![],
            client_log: vec![],
            chunk,
            now: Instant::now(),
        }
    }

    /// Moves bytes both ways until nothing moves (bounded).
    fn run(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(b) = self.client.poll_transmit() {
                moved = true;
                for piece in b.chunks(self.chunk) {
                    self.server.handle_input(self.now, piece);
                    serve(&mut self.server, &mut self.server_log);
                }
            }
            serve(&mut self.server, &mut self.server_log);
            while let Some(b) = self.server.poll_transmit() {
                moved = true;
                for piece in b.chunks(self.chunk) {
                    self.client.handle_input(self.now, piece);
                    while let Some(ev) = self.client.poll_event() {
                        self.client_log.push(ev);
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("no quiescence");
    }

    fn completions(&self) -> Vec<(String, StatusKind)> {
        self.client_log
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Completed { command, status } => {
                    Some((command.to_string(), status.kind))
                }
                _ => None,
            })
            .collect()
    }
}

fn login_literal() -> CommandBody<'static> {
    CommandBody::Login {
        username: AString::try_from("mrc").unwrap(),
        password: Secret::new(AString::String(mailwright_imap_proto::IString::Literal(
            Literal::new(&b"secret"[..], LiteralMode::Sync).unwrap(),
        ))),
    }
}

#[test]
fn login_with_sync_literal_select_logout_any_chunking() {
    for chunk in [1, 3, 4096] {
        let mut p = Pair::new(ServerConfig::default(), chunk);
        p.run();
        assert!(matches!(p.client_log[0], ClientEvent::Greeting(_)));
        // Wrong state: SELECT before LOGIN is refused by the session itself.
        p.client
            .enqueue(CommandBody::Select {
                mailbox: Mailbox::inbox(),
                condstore: false,
                qresync: None,
            })
            .unwrap();
        p.client.enqueue(login_literal()).unwrap();
        p.client
            .enqueue(CommandBody::Select {
                mailbox: Mailbox::inbox(),
                condstore: false,
                qresync: None,
            })
            .unwrap();
        p.run();
        assert_eq!(p.server.state(), SessionState::Selected);
        assert_eq!(p.client.state(), SessionState::Selected);
        p.client.enqueue(CommandBody::Logout).unwrap();
        p.run();
        assert_eq!(
            p.completions(),
            vec![
                ("SELECT".into(), StatusKind::Bad),
                ("LOGIN".into(), StatusKind::Ok),
                ("SELECT".into(), StatusKind::Ok),
                ("LOGOUT".into(), StatusKind::Ok),
            ]
        );
        assert!(p.server.is_closed());
        assert!(p.server_log.iter().any(|e| matches!(
            e,
            Logged::Other(ServerEvent::Rejected {
                reason: RejectReason::WrongState { .. },
                ..
            })
        )));
        assert!(
            p.client_log
                .iter()
                .any(|e| matches!(e, ClientEvent::Data(Data::Exists(18))))
        );
    }
}

#[test]
fn refused_append_literal_then_next_command() {
    let config = ServerConfig {
        framer: FramerConfig {
            max_append_literal: 10,
            ..FramerConfig::default()
        },
        ..ServerConfig::default()
    };
    let mut p = Pair::new(config, 7);
    p.client.enqueue(login_literal()).unwrap();
    let big = vec![b'x'; 100];
    p.client
        .enqueue(CommandBody::Append {
            mailbox: Mailbox::inbox(),
            flags: None,
            date: None,
            message: Literal::new(big, LiteralMode::Sync).unwrap(),
        })
        .unwrap();
    p.client.enqueue(CommandBody::Noop).unwrap();
    p.run();
    assert_eq!(
        p.completions(),
        vec![
            ("LOGIN".into(), StatusKind::Ok),
            ("APPEND".into(), StatusKind::No),
            ("NOOP".into(), StatusKind::Ok)
        ]
    );
    assert!(p.client_log.iter().any(
        |e| matches!(e, ClientEvent::Completed { status, .. } if status.code == Some(Code::TooBig))
    ));
}

#[test]
fn append_streams_in_chunks() {
    let mut p = Pair::new(ServerConfig::default(), 5);
    p.client.enqueue(login_literal()).unwrap();
    let msg: Vec<u8> = b"Subject: hi\r\n\r\nbody\r\n".repeat(10);
    for mode in [LiteralMode::Sync, LiteralMode::NonSync] {
        p.client
            .enqueue(CommandBody::Append {
                mailbox: Mailbox::inbox(),
                flags: Some(vec![]),
                date: None,
                message: Literal::new(msg.clone(), mode).unwrap(),
            })
            .unwrap();
    }
    p.run();
    let mut got = Vec::new();
    let mut chunks = 0;
    for e in &p.server_log {
        if let Logged::Other(ServerEvent::AppendChunk { data, .. }) = e {
            got.extend_from_slice(data);
            chunks += 1;
        }
    }
    assert_eq!(got, [msg.clone(), msg].concat());
    assert!(chunks > 2);
    assert_eq!(
        p.server_log
            .iter()
            .filter(|e| e.decided("AppendEnd"))
            .count(),
        2
    );
    assert_eq!(
        p.completions()
            .iter()
            .filter(|(c, k)| c == "APPEND" && *k == StatusKind::Ok)
            .count(),
        2
    );
}

#[test]
fn authenticate_plain_with_continuation_cancel_and_sasl_ir() {
    let mut p = Pair::new(ServerConfig::default(), 4096);
    p.client
        .enqueue(CommandBody::Authenticate {
            mechanism: "PLAIN".try_into().unwrap(),
            initial_response: None,
        })
        .unwrap();
    p.run();
    // The session's empty challenge reaches the application; cancel.
    assert!(matches!(
        p.client_log.last(),
        Some(ClientEvent::Continue(_))
    ));
    p.client.authenticate_continue(&AuthData::Cancel).unwrap();
    p.run();
    assert!(p.server_log.iter().any(|e| matches!(
        e,
        Logged::Other(ServerEvent::Rejected {
            reason: RejectReason::AuthenticateCancelled,
            ..
        })
    )));
    // Other mechanisms are refused unless the application runs them.
    p.client
        .enqueue(CommandBody::Authenticate {
            mechanism: "CRAM-MD5".try_into().unwrap(),
            initial_response: None,
        })
        .unwrap();
    p.client
        .enqueue(CommandBody::Authenticate {
            mechanism: "PLAIN".try_into().unwrap(),
            initial_response: None,
        })
        .unwrap();
    p.run();
    p.client
        .authenticate_continue(&AuthData::encode(b"\0mrc\0secret"))
        .unwrap();
    p.run();
    // The PLAIN exchange became one login event with the credentials, password redacted.
    assert!(p.server_log.iter().any(|e| e.decided(
        "Login { handle: LoginHandle { id: "
    ) && matches!(e, Logged::Decided(d) if d.contains("username: \"mrc\", password: ***"))));
    p.client.enqueue(CommandBody::Logout).unwrap();
    p.run();
    assert_eq!(
        p.completions(),
        vec![
            ("AUTHENTICATE".into(), StatusKind::Bad),
            ("AUTHENTICATE".into(), StatusKind::No),
            ("AUTHENTICATE".into(), StatusKind::Ok),
            ("LOGOUT".into(), StatusKind::Ok)
        ]
    );
    // SASL-IR in one round trip; an authzid is passed on.
    let mut p = Pair::new(ServerConfig::default(), 4096);
    p.client
        .enqueue(CommandBody::Authenticate {
            mechanism: "plain".try_into().unwrap(),
            initial_response: Some(AuthData::encode(b"mrc\0mrc\0secret")),
        })
        .unwrap();
    p.run();
    assert_eq!(p.server.state(), SessionState::Authenticated);
    assert!(
        p.server_log
            .iter()
            .any(|e| matches!(e, Logged::Decided(d) if d.contains("authzid: Some(\"mrc\")")))
    );
}

#[test]
fn idle_and_done() {
    let mut p = Pair::new(ServerConfig::default(), 2);
    p.client.enqueue(login_literal()).unwrap();
    p.run();
    let idle = p.client.idle().unwrap();
    p.run();
    assert!(matches!(
        p.client_log.last(),
        Some(ClientEvent::Idling { .. })
    ));
    // Untagged updates during IDLE.
    p.server.send(Data::Exists(19)).unwrap();
    p.run();
    assert!(matches!(
        p.client_log.last(),
        Some(ClientEvent::Data(Data::Exists(19)))
    ));
    p.client.idle_done(idle).unwrap();
    p.run();
    assert!(p.server_log.iter().any(|e| e.decided("IdleDone")));
    assert_eq!(
        p.completions().last().unwrap(),
        &("IDLE".to_string(), StatusKind::Ok)
    );
}

fn drain(server: &mut ServerSession) -> Vec<u8> {
    std::iter::from_fn(|| server.poll_transmit())
        .flatten()
        .collect()
}

#[test]
fn starttls_discards_injected_plaintext() {
    let now = Instant::now();
    let mut server = ServerSession::new(ServerConfig::default());
    let _ = drain(&mut server);
    // A man in the middle appends a command after STARTTLS in the same packet (CVE-2011-0411 class).
    server.handle_input(now, b"a STARTTLS\r\nb LOGIN evil evil\r\n");
    let Some(ServerEvent::StartTls { handle }) = server.poll_event() else {
        panic!()
    };
    assert_eq!(
        server.poll_event(),
        None,
        "the next command waits for the decision"
    );
    assert_eq!(server.accept_starttls(handle), Ok(19));
    assert_eq!(server.poll_event(), None);
    assert!(
        !server.wants_input(),
        "nothing is read before the handshake"
    );
    assert_eq!(
        server.poll_transmit(),
        Some(Bytes::from_static(b"a OK Begin TLS negotiation now.\r\n"))
    );
    server.handle_tls_established().unwrap();
    assert!(server.handle_tls_established().is_err());
    server.handle_input(now, b"c NOOP\r\n");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Command { .. })
    ));
}

#[test]
fn syntax_errors_get_tagged_bad_and_the_session_goes_on() {
    let now = Instant::now();
    let mut server = ServerSession::new(ServerConfig::default());
    let _ = drain(&mut server);
    server.handle_input(
        now,
        b"x1 FROB\r\n+++\r\nA044 BLURDYBLOOP {102856}\r\nx2 NOOP\r\nx3 LOGIN {5}\r\n",
    );
    while let Some(e) = server.poll_event() {
        if let ServerEvent::Command { handle, .. } = e {
            server.complete(handle, Condition::Ok, None, "ok").unwrap();
        }
    }
    let out = drain(&mut server);
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.starts_with("x1 BAD Unknown command\r\n* BAD Syntax error\r\nA044 BAD "),
        "{out}"
    );
    assert!(
        out.contains("x2 OK ok\r\n+ Ready for literal data\r\n"),
        "{out}"
    );
}

#[test]
fn unknown_command_with_sync_literal_gets_bad_instead_of_continuation() {
    // RFC 3501 §7.5: "A044 BLURDYBLOOP {102856}" / "A044 BAD No such command".
    let config = ServerConfig {
        framer: FramerConfig {
            max_literal: 1 << 20,
            ..FramerConfig::default()
        },
        ..ServerConfig::default()
    };
    let now = Instant::now();
    let mut server = ServerSession::new(config);
    let _ = drain(&mut server);
    server.handle_input(now, b"A044 BLURDYBLOOP {102856}\r\n");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Rejected { .. })
    ));
    let out = server.poll_transmit().unwrap();
    assert_eq!(&out[..], b"A044 BAD Unknown command\r\n");
    server.handle_input(now, b"a LOGIN {3}\r\n");
    assert_eq!(server.poll_event(), None);
    assert_eq!(
        server.poll_transmit(),
        Some(Bytes::from_static(b"+ Ready for literal data\r\n"))
    );
}

#[test]
fn literal_of_a_command_in_the_wrong_state_is_refused_before_the_client_sends_it() {
    let now = Instant::now();
    let mut server = ServerSession::new(ServerConfig::default());
    let _ = drain(&mut server);
    // SELECT before LOGIN, with the mailbox name as a synchronizing literal.
    server.handle_input(now, b"s1 SELECT {5}\r\n");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Rejected {
            reason: RejectReason::WrongState { .. },
            ..
        })
    ));
    assert_eq!(
        server.poll_transmit(),
        Some(Bytes::from_static(
            b"s1 BAD SELECT not allowed before authentication\r\n"
        ))
    );
    // The client never sent the octets; the next command is read normally.
    server.handle_input(now, b"s2 NOOP\r\n");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Command { .. })
    ));
}

#[test]
fn login_after_login_is_answered_as_dovecot_does() {
    let now = Instant::now();
    let mut server = ServerSession::new(ServerConfig::default());
    let _ = drain(&mut server);
    server.handle_input(now, b"a LOGIN u p\r\n");
    let Some(ServerEvent::Login { handle, .. }) = server.poll_event() else {
        panic!()
    };
    server.accept_login(handle, None).unwrap();
    server.handle_input(now, b"b LOGIN u p\r\nc FETCH 1 FLAGS\r\n");
    while server.poll_event().is_some() {}
    assert_eq!(
        String::from_utf8(drain(&mut server)).unwrap(),
        "a OK Logged in\r\nb BAD Error in IMAP command LOGIN: Unknown command.\r\n\
         c BAD No mailbox selected.\r\n"
    );
}

#[test]
fn client_discards_what_follows_the_starttls_ok() {
    let now = Instant::now();
    let mut client = ClientSession::new(ClientConfig::default());
    client.handle_input(now, b"* OK hi\r\n");
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::Greeting(_))
    ));
    client.enqueue(CommandBody::StartTls).unwrap();
    let _ = client.poll_transmit();
    // An attacker appends a response after the OK, in the same plaintext packet.
    client.handle_input(
        now,
        b"A0001 OK Begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n",
    );
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::Completed {
            command: "STARTTLS",
            ..
        })
    ));
    assert_eq!(
        client.poll_event(),
        Some(ClientEvent::StartTls { discarded: 35 })
    );
    assert_eq!(client.poll_event(), None);
    assert_eq!(client.capabilities(), None);
    client.handle_tls_established().unwrap();
}

#[test]
fn malformed_login_is_logged_without_its_octets() {
    let now = Instant::now();
    let mut server = ServerSession::new(ServerConfig::default());
    server.handle_input(now, b"a LOGIN alice hunter2 extra\r\n");
    let Some(ServerEvent::Rejected {
        reason: RejectReason::Syntax(e),
        ..
    }) = server.poll_event()
    else {
        panic!()
    };
    assert!(!format!("{e} {e:?}").contains("hunter2"), "{e}");
    // Nor does a login's password reach the log through the event's or the command's Debug.
    server.handle_input(now, b"b LOGIN alice hunter2\r\n");
    let ev = server.poll_event().unwrap();
    assert!(!format!("{ev:?}").contains("hunter2"), "{ev:?}");
    assert!(format!("{ev:?}").contains("password: ***"), "{ev:?}");
    let (_, c) = mailwright_imap_proto::Command::decode(b"b LOGIN alice hunter2\r\n").unwrap();
    assert_eq!(
        format!("{:?}", c.body),
        "Login { username: Atom(AtomExt(\"alice\")), password: *** }"
    );
}

#[test]
fn sasl_ir_and_continuation_data_are_redacted_too() {
    let now = Instant::now();
    let mut server = ServerSession::new(ServerConfig::default());
    // base64("\0alice\0hunter2") in a malformed and in a valid AUTHENTICATE.
    server.handle_input(now, b"a AUTHENTICATE PLAIN AGFsaWNlAGh1bnRlcjI= x\r\n");
    let ev = server.poll_event().unwrap();
    assert!(!format!("{ev:?}").contains("AGFsaWNlAGh1bnRlcjI"), "{ev:?}");
    let c =
        mailwright_imap_proto::Command::decode(b"a AUTHENTICATE PLAIN AGFsaWNlAGh1bnRlcjI=\r\n")
            .unwrap()
            .1;
    assert!(!format!("{c:?}").contains("AGFsaWNlAGh1bnRlcjI"), "{c:?}");
    let e = AuthData::decode_line(b"AGFsaWNlAGh1bnRlcjI=!\r\n").unwrap_err();
    assert!(!format!("{e:?}").contains("AGFsaWNl"), "{e:?}");
}

#[test]
fn command_lines_of_60_kib_are_taken_as_dovecot_takes_them() {
    // An ID line of 60 KiB: over the 8 KiB of RFC 7162's minimum, under the 64 KiB default.
    let mut line = b"a ID (".to_vec();
    for k in 0..30 {
        line.extend_from_slice(format!("\"k{k}\" \"{}\" ", "v".repeat(2040)).as_bytes());
    }
    line.pop();
    line.extend_from_slice(b")\r\n");
    assert!(line.len() > 60 * 1024 && line.len() < 64 * 1024);
    let now = Instant::now();
    let mut server = ServerSession::new(ServerConfig::default());
    server.handle_input(now, &line);
    let Some(ServerEvent::Command {
        command: CommandBody::Id {
            parameters: Some(p),
        },
        ..
    }) = server.poll_event()
    else {
        panic!()
    };
    assert_eq!(p.len(), 30);
    // One octet more than the limit is refused, and the session goes on.
    let mut server = ServerSession::new(ServerConfig::default());
    let _ = drain(&mut server);
    let long = [
        &b"b ID (\"k\" \""[..],
        &vec![b'v'; 64 * 1024],
        b"\")\r\nc NOOP\r\n",
    ]
    .concat();
    server.handle_input(now, &long);
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Rejected {
            reason: RejectReason::Limit(_),
            ..
        })
    ));
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Command { .. })
    ));
}
