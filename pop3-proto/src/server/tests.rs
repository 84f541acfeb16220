use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::types::{MessageNumber, Uid};
use mailwright_sansio::UsageError;

pub(crate) const MESSAGES: [&[u8]; 3] = [
    b"From: a@example.org\nSubject: one\n\nbody line 1\n.starts with dot\n..two dots\nlast\n",
    b"Subject: two\r\n\r\n.\r\nx\r\n",
    b"Subject: three (no final newline)\n\ntext",
];

pub(crate) fn maildrop() -> Maildrop {
    let mut m = Maildrop::default();
    for (i, msg) in MESSAGES.iter().enumerate() {
        m.push(msg.len() as u64, Uid::new(format!("uid-{i}")).unwrap());
    }
    m
}

/// A fixed instant for tests that do not move time.
pub(crate) fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// An event as a test records it (events hold tickets, which are neither cloned nor kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    Login {
        authzid: Option<String>,
        user: String,
        password: Vec<u8>,
        method: LoginMethod,
    },
    Apop {
        user: String,
        timestamp: String,
    },
    Auth {
        mechanism: String,
    },
    AuthResponse,
    Retr(MessageNumber),
    Top(MessageNumber, u32),
    StartTls(Bytes),
    Update(Vec<Deleted>),
    Closed(CloseReason),
}

/// Answers one event the way a simple application would and records it.
pub(crate) fn answer(s: &mut ServerSession, ev: Event, wire: &mut Vec<u8>) -> Seen {
    match ev {
        Event::Login {
            authzid,
            user,
            password,
            method,
            ticket,
        } => {
            if password.expose() == b"pw" {
                s.accept_login(ticket, maildrop()).unwrap();
            } else {
                s.refuse_login(ticket, Refusal::BadCredentials).unwrap();
            }
            Seen::Login {
                authzid,
                user,
                password: password.into_inner(),
                method,
            }
        }
        Event::Apop {
            user,
            timestamp,
            ticket,
            ..
        } => {
            s.accept_login(ticket, maildrop()).unwrap();
            Seen::Apop {
                user: user.to_string(),
                timestamp: timestamp.to_string(),
            }
        }
        Event::Auth {
            mechanism, ticket, ..
        } => {
            s.sasl_challenge(ticket, b"ok?").unwrap();
            Seen::Auth {
                mechanism: mechanism.to_string(),
            }
        }
        Event::AuthResponse { data, ticket } => {
            if data.expose() == b"yes" {
                s.accept_login(ticket, maildrop()).unwrap();
            } else {
                s.refuse_login(ticket, Refusal::BadCredentials).unwrap();
            }
            Seen::AuthResponse
        }
        Event::Retr { message, .. } | Event::Top { message, .. } => {
            let top = match ev {
                Event::Top { lines, .. } => Some(lines),
                _ => None,
            };
            let mut r: &[u8] = MESSAGES[message.index()];
            while !s.send_message_from(&mut r).unwrap() {
                wire.extend_from_slice(&s.poll_transmit().unwrap_or_default());
            }
            top.map_or(Seen::Retr(message), |l| Seen::Top(message, l))
        }
        Event::StartTls { discarded } => {
            s.handle_tls_established().unwrap();
            Seen::StartTls(discarded)
        }
        Event::Update { deleted, ticket } => {
            s.update_done(ticket).unwrap();
            Seen::Update(deleted)
        }
        Event::Closed(r) => Seen::Closed(r),
    }
}

/// Answers every event the way a simple application would; returns the wire octets.
pub(crate) fn drive(s: &mut ServerSession, chunks: &[&[u8]]) -> (Vec<u8>, Vec<Seen>) {
    let mut wire = Vec::new();
    let mut seen = Vec::new();
    let pump = |s: &mut ServerSession, wire: &mut Vec<u8>, seen: &mut Vec<Seen>| {
        for _ in 0..10_000 {
            let Some(ev) = s.poll_event() else { break };
            seen.push(answer(s, ev, wire));
            while let Some(b) = s.poll_transmit() {
                wire.extend_from_slice(&b);
            }
        }
        while let Some(b) = s.poll_transmit() {
            wire.extend_from_slice(&b);
        }
    };
    pump(s, &mut wire, &mut seen);
    for c in chunks {
        s.handle_input(t0(), c);
        pump(s, &mut wire, &mut seen);
    }
    (wire, seen)
}

fn lines(wire: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(wire)
        .split("\r\n")
        .map(str::to_owned)
        .collect()
}

#[test]
fn rfc1939_example_session() {
    // RFC 1939 §10.
    let config = ServerConfig {
        apop_timestamp: Some(Text::lossy("<1896.697170952@dbc.mtview.ca.us>")),
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config);
    let (wire, events) = drive(
        &mut s,
        &[
            b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n",
            b"STAT\r\n",
            b"LIST\r\n",
            b"RETR 1\r\n",
            b"DELE 1\r\n",
            b"RETR 2\r\n",
            b"DELE 2\r\n",
            b"QUIT\r\n",
        ],
    );
    let l = lines(&wire);
    assert_eq!(
        l[0],
        "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>"
    );
    assert_eq!(l[1], "+OK maildrop has 3 messages (140 octets)");
    assert_eq!(l[2], "+OK 3 140");
    assert_eq!(
        &l[3..8],
        ["+OK 3 messages (140 octets)", "1 79", "2 22", "3 39", "."]
    );
    assert!(matches!(&events[0], Seen::Apop { timestamp, .. } if timestamp.starts_with("<1896")));
    let text = String::from_utf8_lossy(&wire);
    assert!(text.contains("+OK 79 octets\r\nFrom: a@example.org\r\nSubject: one\r\n\r\nbody line 1\r\n..starts with dot\r\n...two dots\r\nlast\r\n.\r\n+OK message 1 deleted\r\n"));
    assert!(text.contains("+OK 22 octets\r\nSubject: two\r\n\r\n..\r\nx\r\n.\r\n"));
    assert!(text.ends_with("+OK bye (1 messages left)\r\n"));
    let update = events.iter().find_map(|e| match e {
        Seen::Update(deleted) => Some(deleted.clone()),
        _ => None,
    });
    let deleted = update.unwrap();
    assert_eq!(
        deleted.iter().map(|d| d.uid.as_str()).collect::<Vec<_>>(),
        ["uid-0", "uid-1"]
    );
    assert!(s.is_closed());
    assert_eq!(events.last(), Some(&Seen::Closed(CloseReason::Quit)));
}

#[test]
fn commands_out_of_state_are_refused() {
    let mut s = ServerSession::new(ServerConfig::default());
    let (wire, _) = drive(&mut s, &[b"STAT\r\nRETR 1\r\nNOOP\r\nPASS pw\r\nUSER u\r\nPASS pw\r\nUSER u\r\nAPOP a b\r\nNOOP\r\n"]);
    let l = lines(&wire);
    assert!(l[1].starts_with("-ERR"), "{l:?}");
    assert!(l[2].starts_with("-ERR"));
    assert!(l[3].starts_with("-ERR"));
    assert_eq!(l[4], "-ERR USER first");
    assert_eq!(l[5], "+OK send PASS");
    assert!(l[6].starts_with("+OK maildrop"));
    assert!(l[7].starts_with("-ERR"), "USER in TRANSACTION: {l:?}");
    assert!(l[8].starts_with("-ERR"));
    assert_eq!(l[9], "+OK");
    assert_eq!(s.state(), SessionState::Transaction);
}

#[test]
fn deletions_rset_and_listing() {
    let mut s = ServerSession::new(ServerConfig::default());
    let (wire, events) = drive(&mut s, &[
        b"USER u\r\nPASS pw\r\nDELE 2\r\nDELE 2\r\nRETR 2\r\nLIST 2\r\nSTAT\r\nUIDL\r\nRSET\r\nSTAT\r\nDELE 3\r\nLIST 4\r\nTOP 1 1\r\nQUIT\r\n",
    ]);
    let text = String::from_utf8_lossy(&wire).into_owned();
    assert!(text.contains("+OK message 2 deleted\r\n-ERR message 2 already deleted\r\n-ERR message 2 already deleted\r\n-ERR message 2 already deleted\r\n+OK 2 118\r\n"), "{text}");
    assert!(text.contains("+OK unique-id listing follows\r\n1 uid-0\r\n3 uid-2\r\n.\r\n"));
    assert!(text.contains("+OK maildrop has 3 messages (140 octets)\r\n+OK 3 140\r\n"));
    assert!(text.contains("-ERR no such message, only 3 messages in maildrop\r\n"));
    assert!(text.contains(
        "+OK 79 octets\r\nFrom: a@example.org\r\nSubject: one\r\n\r\nbody line 1\r\n.\r\n"
    ));
    let deleted = events.iter().find_map(|e| match e {
        Seen::Update(deleted) => Some(deleted.clone()),
        _ => None,
    });
    assert_eq!(
        deleted.unwrap(),
        vec![Deleted {
            message: MessageNumber::new(3).unwrap(),
            uid: Uid::new("uid-2").unwrap()
        }]
    );
}

#[test]
fn quit_in_authorization_expunges_nothing() {
    let mut s = ServerSession::new(ServerConfig::default());
    let (wire, events) = drive(&mut s, &[b"USER u\r\nQUIT\r\nNOOP\r\n"]);
    assert!(String::from_utf8_lossy(&wire).ends_with("+OK bye\r\n"));
    assert!(!events.iter().any(|e| matches!(e, Seen::Update(_))));
    assert!(s.is_closed());
}

#[test]
fn failed_logins_close_the_session() {
    let mut s = ServerSession::new(ServerConfig::default());
    let (wire, events) = drive(
        &mut s,
        &[b"USER u\r\nPASS x\r\nUSER u\r\nPASS y\r\nUSER u\r\nPASS z\r\nUSER u\r\nPASS pw\r\n"],
    );
    let l = lines(&wire);
    assert_eq!(
        l.iter()
            .filter(|l| *l == "-ERR [AUTH] Authentication failed.")
            .count(),
        3
    );
    assert!(!l.iter().any(|l| l.starts_with("+OK maildrop")));
    assert_eq!(
        events.last(),
        Some(&Seen::Closed(CloseReason::TooManyFailedLogins))
    );
}

#[test]
fn in_use_does_not_count_as_failure() {
    let mut s = ServerSession::new(ServerConfig::default());
    s.handle_input(t0(), b"USER u\r\nPASS pw\r\n");
    let Some(Event::Login { ticket, .. }) = s.poll_event() else {
        panic!()
    };
    s.refuse_login(ticket, Refusal::InUse).unwrap();
    assert_eq!(s.failed_logins, 0);
    let out = s.poll_transmit().unwrap();
    assert!(out.ends_with(b"-ERR [IN-USE] Maildrop is locked by another session.\r\n"));
}

#[test]
fn logins_arrive_as_one_event() {
    let config = ServerConfig {
        sasl_mechanisms: vec![Atom::new("PLAIN").unwrap()],
        ..ServerConfig::default()
    };
    let login = |input: &[&[u8]]| {
        let mut s = ServerSession::new(config.clone());
        let (wire, seen) = drive(&mut s, input);
        (String::from_utf8(wire).unwrap(), seen)
    };
    let (_, seen) = login(&[b"USER alice\r\nPASS pw with spaces \r\n"]);
    assert_eq!(
        seen[0],
        Seen::Login {
            authzid: None,
            user: "alice".into(),
            password: b"pw with spaces ".to_vec(),
            method: LoginMethod::UserPass
        }
    );
    // RFC 4616 §2 with an authzid: "admin\0alice\0pw", as initial response and after "+ ".
    for input in [
        &[&b"AUTH PLAIN YWRtaW4AYWxpY2UAcHc=\r\n"[..]][..],
        &[b"AUTH PLAIN\r\n", b"YWRtaW4AYWxpY2UAcHc=\r\n"],
    ] {
        let (_, seen) = login(input);
        assert_eq!(
            seen[0],
            Seen::Login {
                authzid: Some("admin".into()),
                user: "alice".into(),
                password: b"pw".to_vec(),
                method: LoginMethod::Plain
            }
        );
    }
    // Not three fields: refused by the session, counted as a failed login.
    let (wire, seen) = login(&[b"AUTH PLAIN YWxpY2U=\r\nAUTH PLAIN =\r\nAUTH PLAIN AAA=\r\n"]);
    assert!(
        wire.ends_with("-ERR [AUTH] Authentication failed.\r\n-ERR [AUTH] Authentication failed.\r\n-ERR [AUTH] Authentication failed.\r\n"),
        "{wire}"
    );
    assert_eq!(seen, [Seen::Closed(CloseReason::TooManyFailedLogins)]);
    // The Debug of an event never shows the password.
    let mut s = ServerSession::new(config.clone());
    s.handle_input(t0(), b"AUTH PLAIN AHUAaHVudGVyMg==\r\n");
    let ev = s.poll_event().unwrap();
    let debug = format!("{ev:?}");
    assert!(
        !debug.contains("hunter2") && debug.contains("***"),
        "{debug}"
    );
}

#[test]
fn other_sasl_mechanisms_go_to_the_application() {
    let config = ServerConfig {
        sasl_mechanisms: vec![Atom::new("PLAIN").unwrap(), Atom::new("X-TEST").unwrap()],
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config.clone());
    let (wire, seen) = drive(&mut s, &[b"AUTH x-test\r\n", b"eWVz\r\n", b"STAT\r\n"]);
    let text = String::from_utf8(wire).unwrap();
    assert_eq!(
        seen,
        [
            Seen::Auth {
                mechanism: "X-TEST".into()
            },
            Seen::AuthResponse
        ]
    );
    assert!(text.contains("+ b2s/\r\n+OK maildrop has 3"), "{text}");
    assert!(text.ends_with("+OK 3 140\r\n"));
}

#[test]
fn decisions_need_their_pending_question() {
    let mut s = ServerSession::new(ServerConfig::default());
    let mut other = ServerSession::new(ServerConfig::default());
    s.handle_input(t0(), b"USER u\r\nPASS pw\r\n");
    other.handle_input(t0(), b"USER u\r\nPASS pw\r\n");
    let Some(Event::Login { ticket, .. }) = s.poll_event() else {
        panic!()
    };
    let Some(Event::Login { ticket: theirs, .. }) = other.poll_event() else {
        panic!()
    };
    // A ticket of another session is refused and changes nothing.
    assert_eq!(
        s.accept_login(theirs, maildrop()),
        Err(UsageError::NotPending {
            expected: "login decision"
        })
    );
    assert_eq!(s.state(), SessionState::Authorization);
    assert_eq!(
        s.send_message_chunk(b"x"),
        Err(UsageError::NotPending {
            expected: "message"
        })
    );
    assert!(matches!(
        s.send_message_from(&mut &b"x"[..]),
        Err(MessageError::Usage(UsageError::NotPending { .. }))
    ));
    assert_eq!(
        s.finish_message(),
        Err(UsageError::NotPending {
            expected: "message"
        })
    );
    s.accept_login(ticket, maildrop()).unwrap();
    assert_eq!(s.state(), SessionState::Transaction);
    s.handle_input(t0(), b"QUIT\r\n");
    let Some(Event::Update { ticket, .. }) = s.poll_event() else {
        panic!()
    };
    s.update_failed(ticket).unwrap();
    let out = s.poll_transmit().unwrap();
    assert!(out.ends_with(b"-ERR [SYS/TEMP] some deleted messages not removed\r\n"));
    assert!(s.is_closed());
    assert_eq!(s.refuse_message(), Err(UsageError::Closed));
    assert_eq!(s.handle_tls_established(), Err(UsageError::Closed));
}

#[test]
fn a_message_that_cannot_be_read_is_given_up() {
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk gone"));
            }
            self.0 -= 1;
            buf[..3].copy_from_slice(b"ab\n");
            Ok(3)
        }
    }
    for (reads, closed) in [(0, false), (1, true)] {
        let mut s = ServerSession::new(ServerConfig::default());
        s.handle_input(t0(), b"USER u\r\nPASS pw\r\nRETR 1\r\nNOOP\r\n");
        let Some(Event::Login { ticket, .. }) = s.poll_event() else {
            panic!()
        };
        s.accept_login(ticket, maildrop()).unwrap();
        assert!(matches!(s.poll_event(), Some(Event::Retr { .. })));
        let e = s.send_message_from(&mut Failing(reads)).unwrap_err();
        assert!(matches!(e, MessageError::Read(_)), "{e}");
        assert_eq!(s.is_closed(), closed);
        let out = s.poll_transmit().unwrap();
        if closed {
            // Streaming had begun: dropping the connection is the only honest failure.
            assert!(out.ends_with(b"ab\r\n"));
            assert_eq!(s.poll_event(), Some(Event::Closed(CloseReason::Aborted)));
        } else {
            assert!(out.ends_with(b"-ERR [SYS/TEMP] message is no longer available\r\n"));
            assert_eq!(s.poll_event(), None);
            assert!(s.poll_transmit().unwrap().ends_with(b"+OK\r\n"));
        }
    }
}

#[test]
fn shutdown_waits_for_the_pending_decision() {
    let mut s = ServerSession::new(ServerConfig::default());
    let _ = s.poll_transmit();
    s.handle_input(t0(), b"USER u\r\nPASS pw\r\nSTAT\r\n");
    let Some(Event::Login { ticket, .. }) = s.poll_event() else {
        panic!()
    };
    s.handle_shutdown();
    assert!(!s.is_closed(), "the login decision is still pending");
    s.accept_login(ticket, maildrop()).unwrap();
    let out = s.poll_transmit().unwrap();
    // The pipelined STAT is not run.
    assert_eq!(
        &out[..],
        b"+OK send PASS\r\n+OK maildrop has 3 messages (140 octets)\r\n-ERR [SYS/TEMP] Server shutting down.\r\n"
    );
    assert_eq!(s.poll_event(), Some(Event::Closed(CloseReason::Shutdown)));
    assert!(s.is_closed());

    // Waiting for the client: at once.
    let mut s = ServerSession::new(ServerConfig::default());
    let _ = s.poll_transmit();
    s.handle_shutdown();
    assert_eq!(
        &s.poll_transmit().unwrap()[..],
        b"-ERR [SYS/TEMP] Server shutting down.\r\n"
    );
    assert!(s.is_closed());
}

#[test]
fn refused_connections_say_why() {
    let mut s = ServerSession::refused(ConnectionRefusal::TooManyConnections);
    assert_eq!(
        &s.poll_transmit().unwrap()[..],
        b"-ERR [SYS/TEMP] Too many connections, try again later.\r\n"
    );
    assert_eq!(
        s.poll_event(),
        Some(Event::Closed(CloseReason::Refused(
            ConnectionRefusal::TooManyConnections
        )))
    );
    assert!(s.is_closed() && s.poll_timeout().is_none() && !s.wants_input());
}

#[test]
fn timers_wait_for_the_first_instant() {
    let mut s = ServerSession::new(ServerConfig {
        autologout: Duration::from_secs(1),
        ..ServerConfig::default()
    });
    // The session knows no time before the driver passes one.
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(t0());
    assert_eq!(s.poll_timeout(), Some(t0() + Duration::from_mins(3)));
    s.handle_input(t0(), b"USER u\r\nPASS pw\r\n");
    let Some(Event::Login { ticket, .. }) = s.poll_event() else {
        panic!()
    };
    assert_eq!(
        s.poll_timeout(),
        None,
        "no timer runs while a decision is pending"
    );
    s.accept_login(ticket, maildrop()).unwrap();
    assert_eq!(
        s.poll_timeout(),
        Some(t0()),
        "the decision asks for the time at once"
    );
    let later = t0() + Duration::from_secs(5);
    s.handle_timeout(later);
    // RFC 1939 §3: autologout is never shorter than 10 minutes.
    assert_eq!(s.poll_timeout(), Some(later + MIN_AUTOLOGOUT));
}

#[test]
fn long_lines_are_refused_and_skipped() {
    let mut s = ServerSession::new(ServerConfig::default());
    let long = vec![b'A'; 2000];
    let (wire, _) = drive(&mut s, &[&long, &long, b"\r\nUSER u\r\n"]);
    let l = lines(&wire);
    assert_eq!(l[1], "-ERR line too long");
    assert_eq!(l[2], "+OK send PASS");
}

#[test]
fn stls_discards_plaintext_after_it() {
    let config = ServerConfig {
        offer_stls: true,
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config);
    let _ = s.poll_transmit();
    s.handle_input(t0(), b"CAPA\r\nSTLS\r\nUSER evil\r\nPASS pw\r\n");
    let ev = s.poll_event();
    assert_eq!(
        ev,
        Some(Event::StartTls {
            discarded: Bytes::from_static(b"USER evil\r\nPASS pw\r\n")
        })
    );
    let wire = s.poll_transmit().unwrap();
    let text = String::from_utf8_lossy(&wire);
    assert!(text.contains("STLS\r\n"));
    assert!(text.ends_with("+OK Begin TLS negotiation now\r\n"));
    assert!(!s.wants_input());
    s.handle_input(t0(), b"\x16\x03\x01 handshake");
    assert_eq!(s.poll_event(), None);
    s.handle_tls_established().unwrap();
    assert_eq!(
        s.handle_tls_established(),
        Err(UsageError::NotPending {
            expected: "TLS handshake"
        })
    );
    s.handle_input(t0(), b"CAPA\r\nSTLS\r\n");
    assert_eq!(s.poll_event(), None);
    let text = String::from_utf8_lossy(&s.poll_transmit().unwrap()).into_owned();
    assert!(!text.contains("STLS\r\n"), "{text}");
    assert!(text.ends_with("-ERR command not valid in this state\r\n"));
}

#[test]
fn login_can_require_tls() {
    let config = ServerConfig {
        offer_stls: true,
        require_tls_for_login: true,
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config);
    let (wire, _) = drive(&mut s, &[b"CAPA\r\nUSER u\r\n"]);
    let text = String::from_utf8_lossy(&wire);
    assert!(!text.contains("\r\nUSER\r\n"));
    assert!(text.ends_with("-ERR [AUTH] login needs TLS first (STLS)\r\n"));
}

#[test]
fn sasl_plain_with_and_without_initial_response() {
    let config = ServerConfig {
        sasl_mechanisms: vec![Atom::new("PLAIN").unwrap()],
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config.clone());
    let (wire, _) = drive(&mut s, &[b"CAPA\r\nAUTH PLAIN AHUAcHc=\r\nSTAT\r\n"]);
    let text = String::from_utf8_lossy(&wire);
    assert!(text.contains("SASL PLAIN\r\n"));
    assert!(text.contains("+OK maildrop has 3 messages"), "{text}");

    let mut s = ServerSession::new(config.clone());
    let (wire, _) = drive(&mut s, &[b"AUTH plain\r\n", b"AHUAcHc=\r\n"]);
    let text = String::from_utf8_lossy(&wire);
    assert!(text.contains("+ \r\n+OK maildrop"), "{text}");

    let mut s = ServerSession::new(config.clone());
    let (wire, _) = drive(
        &mut s,
        &[b"AUTH PLAIN\r\n*\r\nAUTH CRAM-MD5\r\nAUTH PLAIN\r\n!!\r\n"],
    );
    let l = lines(&wire);
    assert_eq!(
        &l[1..6],
        [
            "+ ",
            "-ERR authentication cancelled",
            "-ERR unsupported authentication mechanism",
            "+ ",
            "-ERR invalid base64 in SASL response"
        ]
    );
}

#[test]
fn refusing_a_message() {
    let mut s = ServerSession::new(ServerConfig::default());
    s.handle_input(t0(), b"USER u\r\nPASS pw\r\nRETR 1\r\nNOOP\r\n");
    let Some(Event::Login { ticket, .. }) = s.poll_event() else {
        panic!()
    };
    s.accept_login(ticket, maildrop()).unwrap();
    let Some(Event::Retr { .. }) = s.poll_event() else {
        panic!()
    };
    s.refuse_message().unwrap();
    assert_eq!(
        s.refuse_message(),
        Err(UsageError::NotPending {
            expected: "message"
        })
    );
    assert_eq!(s.poll_event(), None);
    let out = s.poll_transmit().unwrap();
    assert!(out.ends_with(b"-ERR [SYS/TEMP] message is no longer available\r\n+OK\r\n"));
}

#[test]
fn message_streams_in_bounded_pieces() {
    let mut config = ServerConfig::default();
    config.limits.transmit_high_water = 1024;
    let mut s = ServerSession::new(config);
    let big: Vec<u8> = b"line of text\n".repeat(100_000);
    let mut drop = Maildrop::default();
    drop.push(big.len() as u64 + 100_000, Uid::new("big").unwrap());
    s.handle_input(t0(), b"USER u\r\nPASS pw\r\nRETR 1\r\n");
    let Some(Event::Login { ticket, .. }) = s.poll_event() else {
        panic!()
    };
    s.accept_login(ticket, drop).unwrap();
    let Some(Event::Retr { .. }) = s.poll_event() else {
        panic!()
    };
    let mut r = &big[..];
    let mut total = 0;
    let mut max_piece = 0;
    loop {
        let done = s.send_message_from(&mut r).unwrap();
        while let Some(b) = s.poll_transmit() {
            total += b.len();
            max_piece = max_piece.max(b.len());
        }
        if done {
            break;
        }
    }
    assert!(max_piece < 64 * 1024, "{max_piece}");
    assert!(total > big.len() + 100_000);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let config = ServerConfig {
            offer_stls: true,
            sasl_mechanisms: vec![Atom::new("PLAIN").unwrap()],
            apop_timestamp: Some(Text::lossy("<1.2@h>")),
            ..ServerConfig::default()
        };
        let mut s = ServerSession::new(config);
        let mut input = b"USER u\r\nPASS pw\r\n".to_vec();
        input.extend_from_slice(&data);
        let _ = drive(&mut s, &[&input]);
    }

    #[test]
    fn split_anywhere_same_transcript(
        cmds in proptest::collection::vec(prop_oneof![
            Just("STAT"), Just("LIST"), Just("LIST 2"), Just("UIDL"), Just("UIDL 9"), Just("RETR 1"),
            Just("RETR 3"), Just("TOP 1 0"), Just("TOP 2 1"), Just("DELE 1"), Just("DELE 2"), Just("RSET"),
            Just("NOOP"), Just("CAPA"), Just("BOGUS"), Just("USER x"),
        ], 0..12),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
    ) {
        let mut input = b"USER u\r\nPASS pw\r\n".to_vec();
        for c in &cmds {
            input.extend_from_slice(c.as_bytes());
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(b"QUIT\r\n");
        let (whole, whole_events) = drive(&mut ServerSession::new(ServerConfig::default()), &[&input]);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len())).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&input[last..p]);
            last = p;
        }
        chunks.push(&input[last..]);
        let (split, split_events) = drive(&mut ServerSession::new(ServerConfig::default()), &chunks);
        prop_assert_eq!(whole, split);
        prop_assert_eq!(whole_events, split_events);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Stat,
    List(Option<u32>),
    Uidl(Option<u32>),
    Retr(u32),
    Top(u32, u32),
    Dele(u32),
    Rset,
    Noop,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Stat),
        proptest::option::of(1u32..6).prop_map(Op::List),
        proptest::option::of(1u32..6).prop_map(Op::Uidl),
        (1u32..6).prop_map(Op::Retr),
        ((1u32..6), (0u32..4)).prop_map(|(n, l)| Op::Top(n, l)),
        (1u32..6).prop_map(Op::Dele),
        Just(Op::Rset),
        Just(Op::Noop),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The machine against a reference model of the maildrop: deletions, RSET, and what QUIT
    /// reports.
    #[test]
    fn model_based_transaction(ops in proptest::collection::vec(op(), 0..25)) {
        let sizes: Vec<u64> = MESSAGES.iter().map(|m| m.len() as u64).collect();
        let mut deleted = [false; 3];
        let mut s = ServerSession::new(ServerConfig::default());
        let _ = drive(&mut s, &[b"USER u\r\nPASS pw\r\n"]);
        let live = |deleted: &[bool; 3], n: u32| (1..=3).contains(&n) && !deleted[n as usize - 1];
        for op in ops {
            let (line, expect): (String, String) = match op {
                Op::Stat => {
                    let count = deleted.iter().filter(|d| !**d).count();
                    let size: u64 = sizes.iter().zip(&deleted).filter(|(_, d)| !**d).map(|(s, _)| s).sum();
                    ("STAT".into(), format!("+OK {count} {size}"))
                }
                Op::List(Some(n)) => (format!("LIST {n}"), if live(&deleted, n) { format!("+OK {n} {}", sizes[n as usize - 1]) } else { "-ERR".into() }),
                Op::Uidl(Some(n)) => (format!("UIDL {n}"), if live(&deleted, n) { format!("+OK {n} uid-{}", n - 1) } else { "-ERR".into() }),
                Op::List(None) => ("LIST".into(), "+OK".into()),
                Op::Uidl(None) => ("UIDL".into(), "+OK".into()),
                Op::Retr(n) => (format!("RETR {n}"), if live(&deleted, n) { format!("+OK {} octets", sizes[n as usize - 1]) } else { "-ERR".into() }),
                Op::Top(n, l) => (format!("TOP {n} {l}"), if live(&deleted, n) { format!("+OK {} octets", sizes[n as usize - 1]) } else { "-ERR".into() }),
                Op::Dele(n) => {
                    let e = if live(&deleted, n) { format!("+OK message {n} deleted") } else { "-ERR".into() };
                    if live(&deleted, n) {
                        deleted[n as usize - 1] = true;
                    }
                    (format!("DELE {n}"), e)
                }
                Op::Rset => {
                    deleted = [false; 3];
                    ("RSET".into(), "+OK maildrop has 3 messages".into())
                }
                Op::Noop => ("NOOP".into(), "+OK".into()),
            };
            let (wire, _) = drive(&mut s, &[format!("{line}\r\n").as_bytes()]);
            let text = String::from_utf8_lossy(&wire).into_owned();
            prop_assert!(text.starts_with(&expect), "{} -> {} (expected {})", line, text, expect);
            if let Op::List(None) | Op::Uidl(None) = op {
                let n = text.lines().count() - 2;
                prop_assert_eq!(n, deleted.iter().filter(|d| !**d).count());
            }
        }
        let (_, events) = drive(&mut s, &[b"QUIT\r\n"]);
        let reported: Vec<u32> = events.iter().find_map(|e| match e {
            Seen::Update(deleted) => Some(deleted.iter().map(|d| d.message.get()).collect()),
            _ => None,
        }).unwrap();
        let model: Vec<u32> = (1..=3).filter(|&n| deleted[n as usize - 1]).collect();
        prop_assert_eq!(reported, model);
    }
}

#[test]
fn pipelined_input_is_bounded() {
    let mut config = ServerConfig::default();
    config.limits.max_buffered_input = 64;
    let mut s = ServerSession::new(config);
    s.handle_input(t0(), b"USER u\r\nPASS pw\r\n");
    assert!(matches!(s.poll_event(), Some(Event::Login { .. })));
    assert!(s.wants_input());
    s.handle_input(t0(), &b"NOOP\r\n".repeat(6));
    assert!(!s.wants_input(), "half the limit reached");
    s.handle_input(t0(), &b"NOOP\r\n".repeat(6));
    assert_eq!(
        s.poll_event(),
        Some(Event::Closed(CloseReason::InputOverflow))
    );
    let out = s.poll_transmit().unwrap();
    assert!(out.ends_with(b"-ERR [SYS/PERM] too much pipelined input\r\n"));
}
