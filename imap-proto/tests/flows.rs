//! Server and client flows wired back to back, without sockets.

use bytes::Bytes;
use mailwright_imap_proto::client::{ClientEvent, ClientFlow, ClientOptions};
use mailwright_imap_proto::framer::FramerOptions;
use mailwright_imap_proto::server::{
    RejectReason, ServerEvent, ServerFlow, ServerOptions, SessionState,
};
use mailwright_imap_proto::types::command::{AuthData, CommandBody};
use mailwright_imap_proto::types::core::{AString, Literal, LiteralMode, Tag};
use mailwright_imap_proto::types::mailbox::Mailbox;
use mailwright_imap_proto::types::response::{
    Code, Continue, Data, Response, StatusKind, StatusResponse,
};

fn status<'a>(tag: &Tag<'a>, kind: StatusKind, text: &'a str) -> Response<'a> {
    Response::Status(StatusResponse::tagged(tag.clone(), kind, None, text).unwrap())
}

fn greeting() -> Response<'static> {
    Response::Status(StatusResponse::untagged(StatusKind::Ok, None, "ready").unwrap())
}

/// A tiny server application: answers what it is asked and records the events.
fn serve(server: &mut ServerFlow, log: &mut Vec<ServerEvent>) {
    while let Some(ev) = server.poll_event() {
        match &ev {
            ServerEvent::Command(c) => {
                let t = &c.tag;
                match &c.body {
                    CommandBody::Login { password, .. } if password.as_bytes() == b"secret" => {
                        server.enqueue(&status(t, StatusKind::Ok, "LOGIN completed"));
                    }
                    CommandBody::Login { .. } => {
                        server.enqueue(&status(t, StatusKind::No, "bad password"));
                    }
                    CommandBody::Select { .. } => {
                        server.enqueue(&Response::Data(Data::Exists(18)));
                        server.enqueue(&status(t, StatusKind::Ok, "SELECT completed"));
                    }
                    CommandBody::Authenticate {
                        initial_response: None,
                        ..
                    } => server.enqueue(&Response::Continue(Continue::base64(b""))),
                    CommandBody::Authenticate {
                        initial_response: Some(ir),
                        ..
                    } => {
                        let ok = ir.decode().unwrap() == b"\0mrc\0secret";
                        server.enqueue(&status(
                            t,
                            if ok { StatusKind::Ok } else { StatusKind::No },
                            "AUTHENTICATE done",
                        ));
                    }
                    CommandBody::Idle => {
                        server.enqueue(&Response::Continue(Continue::text("idling").unwrap()));
                    }
                    CommandBody::Logout => {
                        server.enqueue(&Response::Status(
                            StatusResponse::untagged(StatusKind::Bye, None, "bye").unwrap(),
                        ));
                        server.enqueue(&status(t, StatusKind::Ok, "LOGOUT completed"));
                    }
                    _ => server.enqueue(&status(t, StatusKind::Ok, "done")),
                }
            }
            ServerEvent::AuthenticateData { tag, data } => {
                let ok = data.decode().unwrap() == b"\0mrc\0secret";
                server.enqueue(&status(
                    tag,
                    if ok { StatusKind::Ok } else { StatusKind::No },
                    "AUTHENTICATE done",
                ));
            }
            ServerEvent::IdleDone { tag } | ServerEvent::AppendEnd { tag } => {
                server.enqueue(&Response::Status(
                    StatusResponse::tagged(
                        tag.clone(),
                        StatusKind::Ok,
                        Some(Code::UidNext(1.try_into().unwrap())),
                        "done",
                    )
                    .unwrap(),
                ));
            }
            ServerEvent::StartTls { .. } => {}
            _ => {}
        }
        log.push(ev);
    }
}

struct Pair {
    client: ClientFlow,
    server: ServerFlow,
    server_log: Vec<ServerEvent>,
    client_log: Vec<ClientEvent>,
    /// Deliver bytes in pieces of this size (1 = byte by byte).
    chunk: usize,
}

impl Pair {
    fn new(options: ServerOptions, chunk: usize) -> Self {
        let mut server = ServerFlow::new(options);
        server.enqueue(&greeting());
        Self {
            client: ClientFlow::new(ClientOptions::default()),
            server,
            server_log: vec![],
            client_log: vec![],
            chunk,
        }
    }

    /// Moves bytes both ways until nothing moves (bounded).
    fn run(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(b) = self.client.poll_transmit() {
                moved = true;
                for piece in b.chunks(self.chunk) {
                    self.server.handle_input(piece);
                    serve(&mut self.server, &mut self.server_log);
                }
            }
            serve(&mut self.server, &mut self.server_log);
            while let Some(b) = self.server.poll_transmit() {
                moved = true;
                for piece in b.chunks(self.chunk) {
                    self.client.handle_input(piece);
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
        password: AString::String(mailwright_imap_proto::IString::Literal(
            Literal::new(&b"secret"[..], LiteralMode::Sync).unwrap(),
        )),
    }
}

#[test]
fn login_with_sync_literal_select_logout_any_chunking() {
    for chunk in [1, 3, 4096] {
        let mut p = Pair::new(ServerOptions::default(), chunk);
        p.run();
        assert!(matches!(p.client_log[0], ClientEvent::Greeting(_)));
        // Wrong state: SELECT before LOGIN is refused by the flow itself.
        p.client.enqueue(CommandBody::Select {
            mailbox: Mailbox::inbox(),
            condstore: false,
        });
        p.client.enqueue(login_literal());
        p.client.enqueue(CommandBody::Select {
            mailbox: Mailbox::inbox(),
            condstore: false,
        });
        p.run();
        assert_eq!(p.server.state(), SessionState::Selected);
        assert_eq!(p.client.state(), SessionState::Selected);
        p.client.enqueue(CommandBody::Logout);
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
            ServerEvent::Rejected {
                reason: RejectReason::WrongState { .. },
                ..
            }
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
    let options = ServerOptions {
        framer: FramerOptions {
            max_append_literal: 10,
            ..FramerOptions::default()
        },
        ..ServerOptions::default()
    };
    let mut p = Pair::new(options, 7);
    p.client.enqueue(login_literal());
    let big = vec![b'x'; 100];
    p.client.enqueue(CommandBody::Append {
        mailbox: Mailbox::inbox(),
        flags: None,
        date: None,
        message: Literal::new(big, LiteralMode::Sync).unwrap(),
    });
    p.client.enqueue(CommandBody::Noop);
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
    let mut p = Pair::new(ServerOptions::default(), 5);
    p.client.enqueue(login_literal());
    let msg: Vec<u8> = b"Subject: hi\r\n\r\nbody\r\n".repeat(10);
    for mode in [LiteralMode::Sync, LiteralMode::NonSync] {
        p.client.enqueue(CommandBody::Append {
            mailbox: Mailbox::inbox(),
            flags: Some(vec![]),
            date: None,
            message: Literal::new(msg.clone(), mode).unwrap(),
        });
    }
    p.run();
    let mut got = Vec::new();
    let mut chunks = 0;
    for e in &p.server_log {
        if let ServerEvent::AppendChunk { data, .. } = e {
            got.extend_from_slice(data);
            chunks += 1;
        }
    }
    assert_eq!(got, [msg.clone(), msg].concat());
    assert!(chunks > 2);
    assert_eq!(
        p.server_log
            .iter()
            .filter(|e| matches!(e, ServerEvent::AppendEnd { .. }))
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
fn authenticate_with_continuation_and_cancel() {
    let mut p = Pair::new(ServerOptions::default(), 4096);
    p.client.enqueue(CommandBody::Authenticate {
        mechanism: "PLAIN".try_into().unwrap(),
        initial_response: None,
    });
    p.run();
    // The challenge reaches the application; cancel.
    assert!(matches!(
        p.client_log.last(),
        Some(ClientEvent::Continue(_))
    ));
    p.client.authenticate_continue(&AuthData::Cancel);
    p.run();
    assert!(
        p.server_log
            .iter()
            .any(|e| matches!(e, ServerEvent::AuthenticateAborted { .. }))
    );
    p.client.enqueue(CommandBody::Authenticate {
        mechanism: "PLAIN".try_into().unwrap(),
        initial_response: None,
    });
    p.run();
    p.client
        .authenticate_continue(&AuthData::encode(b"\0mrc\0secret"));
    p.run();
    // SASL-IR in one round trip.
    p.client.enqueue(CommandBody::Logout);
    p.run();
    assert_eq!(
        p.completions(),
        vec![
            ("AUTHENTICATE".into(), StatusKind::Bad),
            ("AUTHENTICATE".into(), StatusKind::Ok),
            ("LOGOUT".into(), StatusKind::Ok)
        ]
    );
    let mut p = Pair::new(ServerOptions::default(), 4096);
    p.client.enqueue(CommandBody::Authenticate {
        mechanism: "PLAIN".try_into().unwrap(),
        initial_response: Some(AuthData::encode(b"\0mrc\0secret")),
    });
    p.run();
    assert_eq!(p.server.state(), SessionState::Authenticated);
}

#[test]
fn idle_and_done() {
    let mut p = Pair::new(ServerOptions::default(), 2);
    p.client.enqueue(login_literal());
    p.client.enqueue(CommandBody::Idle);
    p.run();
    assert!(matches!(
        p.client_log.last(),
        Some(ClientEvent::Continue(_))
    ));
    // Untagged updates during IDLE.
    p.server.enqueue(&Response::Data(Data::Exists(19)));
    p.run();
    p.client.idle_done();
    p.run();
    assert!(
        p.server_log
            .iter()
            .any(|e| matches!(e, ServerEvent::IdleDone { .. }))
    );
    assert_eq!(
        p.completions().last().unwrap(),
        &("IDLE".to_string(), StatusKind::Ok)
    );
}

#[test]
fn starttls_discards_injected_plaintext() {
    let mut server = ServerFlow::new(ServerOptions::default());
    server.enqueue(&greeting());
    let _ = server.poll_transmit();
    // A man in the middle appends a command after STARTTLS in the same packet (CVE-2011-0411 class).
    server.handle_input(b"a STARTTLS\r\nb LOGIN evil evil\r\n");
    let Some(ServerEvent::Command(c)) = server.poll_event() else {
        panic!()
    };
    assert!(matches!(c.body, CommandBody::StartTls));
    assert_eq!(
        server.poll_event(),
        None,
        "the next command waits for the completion"
    );
    server.enqueue(&status(&c.tag, StatusKind::Ok, "Begin TLS negotiation now"));
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::StartTls { discarded: 19 })
    );
    assert_eq!(server.poll_event(), None);
    assert_eq!(
        server.poll_transmit(),
        Some(Bytes::from_static(b"a OK Begin TLS negotiation now\r\n"))
    );
}

#[test]
fn syntax_errors_get_tagged_bad_and_the_session_goes_on() {
    let mut server = ServerFlow::new(ServerOptions::default());
    server.handle_input(
        b"x1 FROB\r\n+++\r\nA044 BLURDYBLOOP {102856}\r\nx2 NOOP\r\nx3 LOGIN {5}\r\n",
    );
    let mut events = Vec::new();
    while let Some(e) = server.poll_event() {
        if let ServerEvent::Command(c) = &e {
            server.enqueue(&status(&c.tag, StatusKind::Ok, "ok"));
        }
        events.push(e);
    }
    let out = server.poll_transmit().unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.starts_with("x1 BAD Syntax error\r\n* BAD Syntax error\r\nA044 BAD "),
        "{out}"
    );
    assert!(
        out.contains("x2 OK ok\r\nx3 BAD Syntax error\r\n")
            || out.contains("x2 OK ok\r\n+ Ready for literal data\r\n"),
        "{out}"
    );
}

#[test]
fn unknown_command_with_sync_literal_gets_bad_instead_of_continuation() {
    // RFC 3501 §7.5: "A044 BLURDYBLOOP {102856}" / "A044 BAD No such command".
    let options = ServerOptions {
        framer: FramerOptions {
            max_literal: 1 << 20,
            ..FramerOptions::default()
        },
        ..ServerOptions::default()
    };
    let mut server = ServerFlow::new(options);
    server.handle_input(b"A044 BLURDYBLOOP {102856}\r\n");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Rejected { .. })
    ));
    let out = server.poll_transmit().unwrap();
    assert_eq!(&out[..9], b"A044 BAD ");
    server.handle_input(b"a LOGIN {3}\r\n");
    assert_eq!(server.poll_event(), None);
    assert_eq!(
        server.poll_transmit(),
        Some(Bytes::from_static(b"+ Ready for literal data\r\n"))
    );
}

#[test]
fn literal_of_a_command_in_the_wrong_state_is_refused_before_the_client_sends_it() {
    let mut server = ServerFlow::new(ServerOptions::default());
    // SELECT before LOGIN, with the mailbox name as a synchronizing literal.
    server.handle_input(b"s1 SELECT {5}\r\n");
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
    server.handle_input(b"s2 NOOP\r\n");
    assert!(matches!(server.poll_event(), Some(ServerEvent::Command(_))));
}

#[test]
fn client_discards_what_follows_the_starttls_ok() {
    let mut client = ClientFlow::new(ClientOptions::default());
    client.handle_input(b"* OK hi\r\n");
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::Greeting(_))
    ));
    client.enqueue(CommandBody::StartTls);
    let _ = client.poll_transmit();
    // An attacker appends a response after the OK, in the same plaintext packet.
    client.handle_input(b"A0001 OK Begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n");
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
}

#[test]
fn client_with_literal_plus_sends_without_waiting() {
    let mut client = ClientFlow::new(ClientOptions {
        non_sync_literals: Some(4096),
        ..ClientOptions::default()
    });
    client.handle_input(b"* OK hi\r\n");
    let _ = client.poll_event();
    client.enqueue(login_literal());
    client.enqueue(CommandBody::Append {
        mailbox: Mailbox::inbox(),
        flags: None,
        date: None,
        message: Literal::new(vec![b'x'; 5000], LiteralMode::Sync).unwrap(),
    });
    // The small literal goes as {6+}; the 5000-octet one stays synchronizing (LITERAL-).
    let out = client.poll_transmit().unwrap();
    assert!(out.starts_with(b"A0001 LOGIN mrc {6+}\r\nsecret\r\nA0002 APPEND INBOX {5000}\r\n"));
    assert!(out.ends_with(b"{5000}\r\n"));
}

#[test]
fn malformed_login_is_logged_without_its_octets() {
    let mut server = ServerFlow::new(ServerOptions::default());
    server.handle_input(b"a LOGIN alice hunter2 extra\r\n");
    let Some(ServerEvent::Rejected {
        reason: RejectReason::Syntax(e),
        ..
    }) = server.poll_event()
    else {
        panic!()
    };
    assert!(!format!("{e}").contains("hunter2"), "{e}");
}
