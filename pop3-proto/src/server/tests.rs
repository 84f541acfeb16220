use proptest::prelude::*;

use super::*;
use crate::types::PlainCredentials;

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

/// Answers every event the way a simple application would; returns the wire octets.
pub(crate) fn drive(s: &mut ServerSession, chunks: &[&[u8]]) -> (Vec<u8>, Vec<ServerEvent>) {
    let mut wire = Vec::new();
    let mut seen = Vec::new();
    let pump = |s: &mut ServerSession, wire: &mut Vec<u8>, seen: &mut Vec<ServerEvent>| {
        for _ in 0..10_000 {
            let Some(ev) = s.poll_event() else { break };
            seen.push(ev.clone());
            match ev {
                ServerEvent::Pass { password, .. } => {
                    if password.expose() == b"pw" {
                        s.accept_login(maildrop()).unwrap();
                    } else {
                        s.refuse_login(Some(ResponseCode::Auth), "bad password")
                            .unwrap();
                    }
                }
                ServerEvent::Apop { .. } => s.accept_login(maildrop()).unwrap(),
                ServerEvent::Auth {
                    initial_response: None,
                    ..
                } => s.sasl_challenge(b"").unwrap(),
                ServerEvent::Auth {
                    initial_response: Some(d),
                    ..
                }
                | ServerEvent::AuthResponse { data: d } => {
                    match PlainCredentials::decode(d.expose()) {
                        Some(c) if c.password.expose() == b"pw" => {
                            s.accept_login(maildrop()).unwrap();
                        }
                        _ => s.refuse_login(Some(ResponseCode::Auth), "no").unwrap(),
                    }
                }
                ServerEvent::Retr { message, .. } | ServerEvent::Top { message, .. } => {
                    let mut r: &[u8] = MESSAGES[message.index()];
                    while !s.send_message_from(&mut r).unwrap() {
                        wire.extend_from_slice(&s.poll_transmit().unwrap_or_default());
                    }
                }
                ServerEvent::StartTls { .. } => s.tls_established().unwrap(),
                ServerEvent::Update { .. } => s.update_done(Ok(())).unwrap(),
                ServerEvent::Closed(_) => {}
            }
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
        s.handle_input(c);
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
    assert!(
        matches!(&events[0], ServerEvent::Apop { timestamp, .. } if timestamp.as_str().starts_with("<1896"))
    );
    let text = String::from_utf8_lossy(&wire);
    assert!(text.contains("+OK 79 octets\r\nFrom: a@example.org\r\nSubject: one\r\n\r\nbody line 1\r\n..starts with dot\r\n...two dots\r\nlast\r\n.\r\n+OK message 1 deleted\r\n"));
    assert!(text.contains("+OK 22 octets\r\nSubject: two\r\n\r\n..\r\nx\r\n.\r\n"));
    assert!(text.ends_with("+OK bye (1 messages left)\r\n"));
    let update = events.iter().find_map(|e| match e {
        ServerEvent::Update { deleted } => Some(deleted.clone()),
        _ => None,
    });
    let deleted = update.unwrap();
    assert_eq!(
        deleted.iter().map(|d| d.uid.as_str()).collect::<Vec<_>>(),
        ["uid-0", "uid-1"]
    );
    assert!(s.is_closed());
    assert_eq!(events.last(), Some(&ServerEvent::Closed(CloseReason::Quit)));
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
        ServerEvent::Update { deleted } => Some(deleted.clone()),
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
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ServerEvent::Update { .. }))
    );
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
            .filter(|l| l.starts_with("-ERR [AUTH] bad password"))
            .count(),
        3
    );
    assert!(!l.iter().any(|l| l.starts_with("+OK maildrop")));
    assert_eq!(
        events.last(),
        Some(&ServerEvent::Closed(CloseReason::TooManyFailedLogins))
    );
}

#[test]
fn in_use_does_not_count_as_failure() {
    let mut s = ServerSession::new(ServerConfig::default());
    s.handle_input(b"USER u\r\nPASS pw\r\n");
    assert!(matches!(s.poll_event(), Some(ServerEvent::Pass { .. })));
    s.refuse_login(Some(ResponseCode::InUse), "maildrop locked")
        .unwrap();
    assert_eq!(s.failed_logins, 0);
    let out = s.poll_transmit().unwrap();
    assert!(out.ends_with(b"-ERR [IN-USE] maildrop locked\r\n"));
    assert_eq!(
        s.accept_login(Maildrop::default()),
        Err(ServerError::NotExpected("accept_login"))
    );
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
    s.handle_input(b"CAPA\r\nSTLS\r\nUSER evil\r\nPASS pw\r\n");
    let ev = s.poll_event();
    assert_eq!(
        ev,
        Some(ServerEvent::StartTls {
            discarded: Bytes::from_static(b"USER evil\r\nPASS pw\r\n")
        })
    );
    let wire = s.poll_transmit().unwrap();
    let text = String::from_utf8_lossy(&wire);
    assert!(text.contains("STLS\r\n"));
    assert!(text.ends_with("+OK Begin TLS negotiation now\r\n"));
    assert!(!s.wants_input());
    s.handle_input(b"\x16\x03\x01 handshake");
    assert_eq!(s.poll_event(), None);
    s.tls_established().unwrap();
    s.handle_input(b"CAPA\r\nSTLS\r\n");
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
    s.handle_input(b"USER u\r\nPASS pw\r\nRETR 1\r\nNOOP\r\n");
    let Some(ServerEvent::Pass { .. }) = s.poll_event() else {
        panic!()
    };
    s.accept_login(maildrop()).unwrap();
    let Some(ServerEvent::Retr { .. }) = s.poll_event() else {
        panic!()
    };
    s.refuse_message(Some(ResponseCode::SysTemp), "gone")
        .unwrap();
    assert_eq!(s.poll_event(), None);
    let out = s.poll_transmit().unwrap();
    assert!(out.ends_with(b"-ERR [SYS/TEMP] gone\r\n+OK\r\n"));
}

#[test]
fn message_streams_in_bounded_pieces() {
    let mut config = ServerConfig::default();
    config.limits.transmit_high_water = 1024;
    let mut s = ServerSession::new(config);
    let big: Vec<u8> = b"line of text\n".repeat(100_000);
    let mut drop = Maildrop::default();
    drop.push(big.len() as u64 + 100_000, Uid::new("big").unwrap());
    s.handle_input(b"USER u\r\nPASS pw\r\nRETR 1\r\n");
    let Some(ServerEvent::Pass { .. }) = s.poll_event() else {
        panic!()
    };
    s.accept_login(drop).unwrap();
    let Some(ServerEvent::Retr { .. }) = s.poll_event() else {
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
            ServerEvent::Update { deleted } => Some(deleted.iter().map(|d| d.message.get()).collect()),
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
    s.handle_input(b"USER u\r\nPASS pw\r\n");
    assert!(matches!(s.poll_event(), Some(ServerEvent::Pass { .. })));
    assert!(s.wants_input());
    s.handle_input(&b"NOOP\r\n".repeat(6));
    assert!(!s.wants_input(), "half the limit reached");
    s.handle_input(&b"NOOP\r\n".repeat(6));
    assert_eq!(
        s.poll_event(),
        Some(ServerEvent::Closed(CloseReason::InputOverflow))
    );
    let out = s.poll_transmit().unwrap();
    assert!(out.ends_with(b"-ERR [SYS/PERM] too much pipelined input\r\n"));
}
