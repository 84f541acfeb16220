use std::collections::HashSet;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::server::tests::{MESSAGES, Seen, drive, t0};
use crate::server::{ServerConfig, ServerSession};

fn n(i: u32) -> MessageNumber {
    MessageNumber::new(i).unwrap()
}

/// Moves octets between the two machines until neither has anything to say.
fn run(c: &mut ClientSession, s: &mut ServerSession) -> (Vec<Event>, Vec<Seen>) {
    let mut events = Vec::new();
    let mut server_events = Vec::new();
    for _ in 0..1000 {
        let up = c.poll_transmit().unwrap_or_default();
        let (down, sev) = drive(s, &[&up]);
        server_events.extend(sev);
        c.handle_input(t0(), &down);
        let mut progressed = !up.is_empty() || !down.is_empty();
        while let Some(e) = c.poll_event() {
            if let Event::StartTls = e {
                c.handle_tls_established().unwrap();
            }
            events.push(e);
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    (events, server_events)
}

fn normalise(m: &[u8]) -> Vec<u8> {
    crate::encode::DotStuffer::stuff_all(m, None)
        .strip_suffix(b".\r\n")
        .map(|b| {
            let mut d = crate::parse::DotUnstuffer::new();
            let mut out = BytesMut::new();
            let mut wire = b.to_vec();
            wire.extend_from_slice(b".\r\n");
            d.decode(&wire, &mut out);
            out.to_vec()
        })
        .unwrap()
}

fn messages(events: &[Event]) -> Vec<(MessageNumber, Vec<u8>)> {
    let mut out = Vec::new();
    let mut cur: Option<(MessageNumber, Vec<u8>)> = None;
    for e in events {
        match e {
            Event::MessageStart { message } => cur = Some((*message, Vec::new())),
            Event::MessageData(d) => cur.as_mut().unwrap().1.extend_from_slice(d),
            Event::MessageEnd { message } => {
                let m = cur.take().unwrap();
                assert_eq!(m.0, *message);
                out.push(m);
            }
            _ => {}
        }
    }
    out
}

#[test]
fn full_session_back_to_back() {
    let mut s = ServerSession::new(ServerConfig::default());
    let mut c = ClientSession::new(ClientConfig::default());
    c.capa().unwrap();
    c.login("u", b"pw").unwrap();
    c.stat().unwrap();
    c.list(None).unwrap();
    c.uidl(None).unwrap();
    c.list(Some(n(2))).unwrap();
    c.uidl(Some(n(3))).unwrap();
    for i in 1..=3 {
        c.retr(n(i)).unwrap();
    }
    c.top(n(1), 1).unwrap();
    c.dele(n(2)).unwrap();
    c.noop().unwrap();
    c.quit().unwrap();
    let (events, server_events) = run(&mut c, &mut s);
    assert!(matches!(events[0], Event::Greeting(_)));
    assert!(
        matches!(&events[1], Event::Capabilities(caps) if caps.contains(&Capability::Pipelining))
    );
    assert!(events.iter().any(|e| matches!(e, Event::LoggedIn(_))));
    assert!(events.contains(&Event::Stat(Stat {
        count: 3,
        size: 140
    })));
    let list = events.iter().find_map(|e| match e {
        Event::List(l) => Some(l.clone()),
        _ => None,
    });
    assert_eq!(
        list.unwrap().iter().map(|l| l.size).collect::<Vec<_>>(),
        [79, 22, 39]
    );
    let uidl = events.iter().find_map(|e| match e {
        Event::Uidl(l) => Some(l.clone()),
        _ => None,
    });
    let uidl = uidl.unwrap();
    let seen: HashSet<Uid> = [Uid::new("uid-1").unwrap()].into_iter().collect();
    assert_eq!(
        unseen(&uidl, &seen)
            .map(|u| u.message.get())
            .collect::<Vec<_>>(),
        [1, 3]
    );
    assert!(events.contains(&Event::ListOne(ScanListing {
        message: n(2),
        size: 22
    })));
    assert!(events.contains(&Event::UidlOne(UidListing {
        message: n(3),
        uid: Uid::new("uid-2").unwrap()
    })));
    let msgs = messages(&events);
    assert_eq!(msgs.len(), 4);
    for (i, m) in MESSAGES.iter().enumerate() {
        assert_eq!(msgs[i].1, normalise(m), "message {i}");
    }
    assert_eq!(
        msgs[3].1,
        b"From: a@example.org\r\nSubject: one\r\n\r\nbody line 1\r\n"
    );
    assert_eq!(events.last(), Some(&Event::Closed));
    let deleted = server_events.iter().find_map(|e| match e {
        Seen::Update(deleted) => Some(deleted.clone()),
        _ => None,
    });
    assert_eq!(deleted.unwrap()[0].uid.as_str(), "uid-1");
    assert!(c.is_closed() && s.is_closed());
}

#[test]
fn without_pipelining_one_command_at_a_time() {
    let mut c = ClientSession::new(ClientConfig::default());
    c.login("u", b"pw").unwrap();
    c.stat().unwrap();
    c.noop().unwrap();
    c.handle_input(t0(), b"+OK hi\r\n");
    let _ = c.poll_event();
    assert_eq!(&c.poll_transmit().unwrap()[..], b"USER u\r\n");
    c.handle_input(t0(), b"-ERR no such user\r\n");
    assert!(matches!(
        c.poll_event(),
        Some(Event::Error {
            command: CommandKind::User,
            ..
        })
    ));
    // The PASS is dropped after a refused USER.
    assert_eq!(&c.poll_transmit().unwrap()[..], b"STAT\r\n");
    c.handle_input(t0(), b"-ERR not logged in\r\n");
    let _ = c.poll_event();
    assert_eq!(&c.poll_transmit().unwrap()[..], b"NOOP\r\n");
}

#[test]
fn pipelining_sends_together_but_not_past_barriers() {
    let mut c = ClientSession::new(ClientConfig::default());
    c.handle_input(t0(), b"+OK hi\r\n+OK\r\nPIPELINING\r\n.\r\n");
    c.capa().unwrap();
    assert!(matches!(c.poll_event(), Some(Event::Greeting(_))));
    assert!(matches!(c.poll_event(), Some(Event::Capabilities(_))));
    let _ = c.poll_transmit();
    c.stat().unwrap();
    c.noop().unwrap();
    c.stls().unwrap();
    c.noop().unwrap();
    assert_eq!(&c.poll_transmit().unwrap()[..], b"STAT\r\nNOOP\r\n");
}

#[test]
fn stls_then_capa_again() {
    let config = ServerConfig {
        offer_stls: true,
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config);
    let mut c = ClientSession::new(ClientConfig::default());
    c.capa().unwrap();
    c.stls().unwrap();
    c.capa().unwrap();
    c.auth_plain("u", b"pw").unwrap();
    c.stat().unwrap();
    let (events, server_events) = run(&mut c, &mut s);
    assert!(events.contains(&Event::StartTls));
    assert!(server_events.iter().any(|e| matches!(e, Seen::StartTls(_))));
    let caps: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Capabilities(c) => Some(c.contains(&Capability::Stls)),
            _ => None,
        })
        .collect();
    assert_eq!(caps, [true, false]);
    // AUTH PLAIN is not offered by this server: refused, so STAT is refused too.
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Error {
            command: CommandKind::Auth,
            ..
        }
    )));
}

#[test]
fn auth_with_a_challenge() {
    let config = ServerConfig {
        sasl_mechanisms: vec![Atom::new("PLAIN").unwrap()],
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config);
    let mut c = ClientSession::new(ClientConfig::default());
    c.auth("plain", None).unwrap();
    c.stat().unwrap();
    let (events, _) = run(&mut c, &mut s);
    assert!(matches!(events[1], Event::AuthChallenge(_)));
    c.auth_respond(b"\0u\0pw").unwrap();
    let (events, _) = run(&mut c, &mut s);
    assert!(matches!(events[0], Event::LoggedIn(_)), "{events:?}");
    assert_eq!(
        events[1],
        Event::Stat(Stat {
            count: 3,
            size: 140
        })
    );
}

#[test]
fn auth_plain_with_initial_response() {
    let config = ServerConfig {
        sasl_mechanisms: vec![Atom::new("PLAIN").unwrap()],
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config);
    let mut c = ClientSession::new(ClientConfig::default());
    c.auth_plain("u", b"pw").unwrap();
    c.quit().unwrap();
    let (events, _) = run(&mut c, &mut s);
    assert!(matches!(events[1], Event::LoggedIn(_)), "{events:?}");
    assert_eq!(events.last(), Some(&Event::Closed));
}

#[test]
fn auth_with_a_mechanism_the_application_runs() {
    let config = ServerConfig {
        sasl_mechanisms: vec![Atom::new("X-TEST").unwrap()],
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config);
    let mut c = ClientSession::new(ClientConfig::default());
    c.auth("x-test", None).unwrap();
    let (events, _) = run(&mut c, &mut s);
    assert_eq!(
        events[1],
        Event::AuthChallenge(Secret::new(b"ok?".to_vec()))
    );
    assert_eq!(c.poll_timeout(), None, "our turn: no response is due");
    c.auth_respond(b"yes").unwrap();
    assert_eq!(
        c.auth_respond(b"again"),
        Err(UsageError::NotPending {
            expected: "SASL challenge"
        })
    );
    let (events, server) = run(&mut c, &mut s);
    assert!(matches!(events[0], Event::LoggedIn(_)), "{events:?}");
    assert_eq!(server[0], Seen::AuthResponse);
}

#[test]
fn misuse_is_an_error() {
    let mut c = ClientSession::new(ClientConfig::default());
    assert_eq!(
        c.auth_cancel(),
        Err(UsageError::NotPending {
            expected: "SASL challenge"
        })
    );
    assert_eq!(
        c.handle_tls_established(),
        Err(UsageError::NotPending {
            expected: "TLS handshake"
        })
    );
    assert!(matches!(
        c.login("a b", b"pw"),
        Err(ClientError::Invalid(TypeError::ForbiddenOctet { .. }))
    ));
    c.handle_input(t0(), b"-ERR [SYS/TEMP] go away\r\n");
    while c.poll_event().is_some() {}
    assert_eq!(c.noop(), Err(UsageError::Closed));
    assert_eq!(
        c.login("u", b"pw"),
        Err(ClientError::Usage(UsageError::Closed))
    );
}

#[test]
fn shutdown_sends_quit_after_what_is_in_flight() {
    let mut c = ClientSession::new(ClientConfig::default());
    c.handle_input(t0(), b"+OK hi\r\n+OK\r\nPIPELINING\r\n.\r\n");
    c.capa().unwrap();
    while c.poll_event().is_some() {}
    let _ = c.poll_transmit();
    c.stat().unwrap();
    c.stls().unwrap();
    c.noop().unwrap();
    assert_eq!(&c.poll_transmit().unwrap()[..], b"STAT\r\n");
    c.handle_shutdown();
    assert!(matches!(c.noop(), Err(UsageError::NotAllowed { .. })));
    c.handle_input(t0(), b"+OK 0 0\r\n");
    assert!(matches!(c.poll_event(), Some(Event::Stat(_))));
    // STLS and NOOP were never sent: QUIT goes next.
    assert_eq!(&c.poll_transmit().unwrap()[..], b"QUIT\r\n");
    c.handle_input(t0(), b"+OK bye\r\n");
    while c.poll_event().is_some() {}
    assert!(c.is_closed());
}

#[test]
fn a_silent_server_times_out() {
    let mut c = ClientSession::new(ClientConfig {
        response_timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    });
    assert_eq!(c.poll_timeout(), None, "no instant seen yet");
    c.handle_timeout(t0());
    assert_eq!(c.poll_timeout(), Some(t0() + Duration::from_secs(30)));
    c.handle_input(t0() + Duration::from_secs(10), b"+OK hi\r\n");
    assert!(matches!(c.poll_event(), Some(Event::Greeting(_))));
    assert_eq!(c.poll_timeout(), None, "nothing is due");
    c.noop().unwrap();
    let sent = t0() + Duration::from_mins(7);
    assert_eq!(c.poll_timeout(), Some(t0() + Duration::from_secs(10)));
    c.handle_timeout(sent);
    assert_eq!(c.poll_timeout(), Some(sent + Duration::from_secs(30)));
    // Octets of the answer keep the session waiting, even before the line is complete.
    c.handle_input(sent + Duration::from_secs(29), b"+O");
    c.handle_timeout(sent + Duration::from_secs(31));
    assert!(!c.is_closed());
    c.handle_timeout(sent + Duration::from_secs(59));
    assert_eq!(c.poll_event(), Some(Event::TimedOut));
    assert_eq!(c.poll_event(), Some(Event::Closed));
    assert!(c.is_closed() && c.poll_timeout().is_none());
}

#[test]
fn error_greeting_closes() {
    let mut c = ClientSession::new(ClientConfig::default());
    c.handle_input(t0(), b"-ERR [SYS/TEMP] go away\r\n");
    assert!(matches!(c.poll_event(), Some(Event::Greeting(_))));
    assert_eq!(c.poll_event(), Some(Event::Closed));
}

fn scripted_events(server_bytes: &[&[u8]]) -> Vec<Event> {
    let mut c = ClientSession::new(ClientConfig::default());
    c.capa().unwrap();
    c.login("u", b"pw").unwrap();
    c.uidl(None).unwrap();
    c.retr(n(1)).unwrap();
    c.top(n(2), 0).unwrap();
    c.quit().unwrap();
    let mut events = Vec::new();
    for chunk in server_bytes {
        c.handle_input(t0(), chunk);
        while let Some(e) = c.poll_event() {
            events.push(e);
        }
        let _ = c.poll_transmit();
    }
    // Merge adjacent data chunks: how the input is split must not matter beyond chunking.
    let mut merged: Vec<Event> = Vec::new();
    for e in events {
        if let (Some(Event::MessageData(prev)), Event::MessageData(d)) = (merged.last_mut(), &e) {
            let mut b = prev.to_vec();
            b.extend_from_slice(d);
            *prev = Bytes::from(b);
            continue;
        }
        merged.push(e);
    }
    merged
}

const SCRIPT: &[u8] = b"+OK ready\r\n+OK\r\nTOP\r\nUIDL\r\nPIPELINING\r\n.\r\n+OK\r\n+OK logged in\r\n+OK\r\n1 a\r\n2 b\r\n.\r\n+OK 5 octets\r\n..x\r\n\r\n.\r\n+OK\r\nH: v\r\n\r\n.\r\n+OK bye\r\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn split_anywhere_same_events(cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let whole = scripted_events(&[SCRIPT]);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(SCRIPT.len())).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&SCRIPT[last..p]);
            last = p;
        }
        chunks.push(&SCRIPT[last..]);
        prop_assert_eq!(scripted_events(&chunks), whole);
    }

    #[test]
    fn arbitrary_server_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut input = b"+OK ready\r\n".to_vec();
        input.extend_from_slice(&data);
        let _ = scripted_events(&[&input]);
    }
}

#[test]
fn script_events() {
    let events = scripted_events(&[SCRIPT]);
    assert!(events.contains(&Event::MessageData(Bytes::from_static(b".x\r\n\r\n"))));
    assert!(events.contains(&Event::MessageData(Bytes::from_static(b"H: v\r\n\r\n"))));
    assert_eq!(events.last(), Some(&Event::Closed));
}
