//! The client machine wired to the server machine, no sockets: every byte one side writes is fed
//! to the other.

use std::time::Instant;

use mailwright_smtp_proto::client::{Credentials, TlsPolicy};
use mailwright_smtp_proto::server::Event;
use mailwright_smtp_proto::*;
use proptest::prelude::*;

#[derive(Default)]
struct World {
    received: Vec<Vec<u8>>,
    current: Vec<u8>,
    client_events: Vec<ClientEvent>,
    server_events: Vec<Event>,
    wire: Vec<u8>,
    /// The pieces of a streamed body still to hand over.
    pieces: std::collections::VecDeque<Vec<u8>>,
}

fn mb(s: &str) -> Mailbox {
    Mailbox::try_from(s).unwrap()
}

/// Moves bytes both ways until nothing moves; the server accepts everything except recipients
/// named "nobody", and per-recipient LMTP replies reject "full".
fn pump(c: &mut ClientSession, s: &mut ServerSession, w: &mut World) {
    let mut rcpts: Vec<String> = Vec::new();
    for _ in 0..10_000 {
        let mut progress = false;
        while let Some(b) = c.poll_transmit() {
            w.wire.extend_from_slice(&b);
            s.handle_input(Instant::now(), &b);
            progress = true;
        }
        let mut tls = false;
        while let Some(e) = s.poll_event() {
            progress = true;
            match &e {
                Event::DataChunk(b) => w.current.extend_from_slice(b),
                Event::StartTls { .. } => tls = true,
                Event::Rcpt {
                    to: ForwardPath::Mailbox(m),
                    ..
                } if m.local_part.as_str() == "nobody" => {
                    s.reject(
                        Reply::new(550, EnhancedCode::new(5, 1, 1).ok(), "no such user").unwrap(),
                    )
                    .unwrap();
                }
                Event::Rcpt {
                    to: ForwardPath::Mailbox(m),
                    ..
                } => {
                    rcpts.push(m.local_part.as_str().to_owned());
                    s.accept().unwrap();
                }
                Event::DataEnd => {
                    w.received.push(std::mem::take(&mut w.current));
                    let replies = rcpts
                        .drain(..)
                        .map(|r| {
                            if r == "full" {
                                Reply::new(452, EnhancedCode::new(4, 2, 2).ok(), "mailbox full")
                                    .unwrap()
                            } else {
                                Reply::ok()
                            }
                        })
                        .collect();
                    s.data_replies(replies).unwrap();
                }
                Event::AuthCredentials { password, .. } if password.expose() != "secret" => {
                    s.reject(Reply::new(535, EnhancedCode::new(5, 7, 8).ok(), "bad").unwrap())
                        .unwrap();
                }
                e if e.needs_decision() => s.accept().unwrap(),
                _ => {}
            }
            if !matches!(e, Event::DataChunk(_)) {
                w.server_events.push(e);
            }
        }
        while let Some(b) = s.poll_transmit() {
            c.handle_input(Instant::now(), &b);
            progress = true;
        }
        if tls {
            s.handle_tls_established().unwrap();
        }
        while let Some(e) = c.poll_event() {
            progress = true;
            if e == ClientEvent::StartTls {
                c.handle_tls_established().unwrap();
            }
            if e == ClientEvent::BodyWanted {
                // A streamed body: its next piece, or its end.
                match w.pieces.pop_front() {
                    Some(piece) => c.handle_body(&piece).unwrap(),
                    None => c.handle_body_end().unwrap(),
                }
            }
            w.client_events.push(e);
        }
        if !progress {
            return;
        }
    }
    panic!("no quiescence");
}

fn pair(server: ServerConfig, client: ClientConfig) -> (ClientSession, ServerSession, World) {
    let mut c = ClientSession::new(client);
    let mut s = ServerSession::new(server);
    let mut w = World::default();
    pump(&mut c, &mut s, &mut w);
    (c, s, w)
}

fn client_cfg(mode: Mode) -> ClientConfig {
    ClientConfig::new(mode, Host::try_from("client.example.com").unwrap())
}

fn sent(w: &World) -> Vec<&TransactionResult> {
    w.client_events
        .iter()
        .filter_map(|e| {
            if let ClientEvent::Sent(r) = e {
                Some(r)
            } else {
                None
            }
        })
        .collect()
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope::new(
        ReversePath::Mailbox(mb("from@example.com")),
        rcpts
            .iter()
            .map(|r| ForwardPath::Mailbox(mb(&format!("{r}@example.org")))),
    )
}

#[test]
fn pipelined_bdat_delivery() {
    let (mut c, mut s, mut w) = pair(ServerConfig::new(Mode::Smtp, "mx"), client_cfg(Mode::Smtp));
    assert!(c.is_ready());
    c.send_message(
        envelope(&["a", "nobody", "b"]),
        &b"Subject: x\n\n.leading dot\n"[..],
    )
    .unwrap();
    pump(&mut c, &mut s, &mut w);
    let r = sent(&w);
    assert_eq!(r.len(), 1);
    assert!(r[0].delivered());
    assert_eq!(
        r[0].rcpts
            .iter()
            .map(|r| r.code().get())
            .collect::<Vec<_>>(),
        [250, 550, 250]
    );
    // BDAT carries the body without stuffing, line endings made CRLF.
    assert_eq!(w.received, [b"Subject: x\r\n\r\n.leading dot\r\n".to_vec()]);
    assert!(String::from_utf8_lossy(&w.wire).contains("BDAT 28 LAST\r\n"));
    c.quit().unwrap();
    pump(&mut c, &mut s, &mut w);
    assert_eq!(w.client_events.last(), Some(&ClientEvent::Closed));
}

#[test]
fn data_with_dot_stuffing_without_pipelining() {
    let mut sc = ServerConfig::new(Mode::Smtp, "mx");
    sc.extensions.pipelining = false;
    sc.extensions.chunking = false;
    let (mut c, mut s, mut w) = pair(sc, client_cfg(Mode::Smtp));
    c.send_message(envelope(&["a"]), &b"Subject: x\n\n.\n..two\r\nend"[..])
        .unwrap();
    pump(&mut c, &mut s, &mut w);
    assert!(sent(&w)[0].delivered());
    assert_eq!(
        w.received,
        [b"Subject: x\r\n\r\n.\r\n..two\r\nend\r\n".to_vec()]
    );
    // All recipients refused: RSET instead of DATA, and the session goes on.
    c.send_message(envelope(&["nobody"]), &b"x"[..]).unwrap();
    pump(&mut c, &mut s, &mut w);
    let r = sent(&w);
    assert!(!r[1].delivered() && r[1].data.is_empty());
    assert!(String::from_utf8_lossy(&w.wire).ends_with("RSET\r\n"));
    assert!(c.is_ready());
}

#[test]
fn lmtp_per_recipient_results() {
    for chunking in [true, false] {
        let mut sc = ServerConfig::new(Mode::Lmtp, "lmtp");
        sc.extensions.chunking = chunking;
        let (mut c, mut s, mut w) = pair(sc, client_cfg(Mode::Lmtp));
        c.send_message(envelope(&["a", "nobody", "full", "b"]), &b"hello\r\n"[..])
            .unwrap();
        pump(&mut c, &mut s, &mut w);
        let r = sent(&w);
        assert_eq!(
            r[0].data.iter().map(|r| r.code().get()).collect::<Vec<_>>(),
            [250, 452, 250],
            "chunking {chunking}"
        );
        assert!(String::from_utf8_lossy(&w.wire).starts_with("LHLO client.example.com\r\n"));
    }
}

#[test]
fn starttls_then_auth() {
    let mut sc = ServerConfig::new(Mode::Submission, "submit");
    sc.extensions.starttls = true;
    sc.extensions.auth = vec![Mechanism::login()];
    let mut cc = client_cfg(Mode::Submission);
    cc.credentials = Some(Credentials::new("user", "secret"));
    let (mut c, mut s, mut w) = pair(sc.clone(), cc.clone());
    assert!(c.tls_active() && s.tls_active() && s.authenticated());
    assert!(matches!(
        w.client_events.last(),
        Some(ClientEvent::Ready(_))
    ));
    c.send_message(envelope(&["a"]), &b"x\r\n"[..]).unwrap();
    pump(&mut c, &mut s, &mut w);
    assert!(sent(&w)[0].delivered());

    // Wrong password.
    cc.credentials = Some(Credentials::new("user", "nope"));
    let (_, _, w) = pair(sc.clone(), cc.clone());
    assert!(matches!(
        w.client_events.last(),
        Some(ClientEvent::Failed(client::ClientError::Auth(_)))
    ));

    // TLS required but not offered.
    sc.extensions.starttls = false;
    cc.starttls = TlsPolicy::Required;
    let (_, _, w) = pair(sc, cc);
    assert_eq!(
        w.client_events.last(),
        Some(&ClientEvent::Failed(client::ClientError::TlsNotOffered))
    );
}

#[test]
fn helo_fallback_and_greeting_refusal() {
    let mut c = ClientSession::new(client_cfg(Mode::Smtp));
    c.handle_input(Instant::now(), b"220 old.example ready\r\n");
    assert_eq!(
        c.poll_transmit().unwrap(),
        &b"EHLO client.example.com\r\n"[..]
    );
    c.handle_input(Instant::now(), b"502 5.5.1 what?\r\n");
    assert_eq!(
        c.poll_transmit().unwrap(),
        &b"HELO client.example.com\r\n"[..]
    );
    c.handle_input(Instant::now(), b"250 old.example\r\n");
    assert!(matches!(c.poll_event(), Some(ClientEvent::Ready(e)) if e.capabilities.is_empty()));
    c.send_message(envelope(&["a"]), &b".x"[..]).unwrap();
    assert_eq!(
        c.poll_transmit().unwrap(),
        &b"MAIL FROM:<from@example.com>\r\n"[..]
    );

    let mut c = ClientSession::new(client_cfg(Mode::Smtp));
    c.handle_input(Instant::now(), b"554 5.7.1 go away\r\n");
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Failed(client::ClientError::Greeting(_)))
    ));
    let mut c = ClientSession::new(client_cfg(Mode::Smtp));
    c.handle_input(Instant::now(), b"garbage\r\n");
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Failed(client::ClientError::Protocol(_)))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any body arrives with canonical CRLF line endings (and a final CRLF through DATA).
    #[test]
    fn bodies_arrive(body in proptest::collection::vec(prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), Just(b'a'), any::<u8>()], 0..200), chunking: bool, pipelining: bool) {
        let mut sc = ServerConfig::new(Mode::Smtp, "mx");
        sc.extensions.chunking = chunking;
        sc.extensions.pipelining = pipelining;
        let (mut c, mut s, mut w) = pair(sc, client_cfg(Mode::Smtp));
        c.send_message(envelope(&["a"]), body.clone()).unwrap();
        pump(&mut c, &mut s, &mut w);
        prop_assert!(sent(&w)[0].delivered());
        let mut expect = Vec::new();
        {
            let mut i = 0;
            while i < body.len() {
                match (body[i], body.get(i + 1)) {
                    (b'\r', Some(b'\n')) => { expect.extend_from_slice(b"\r\n"); i += 2; }
                    (b'\r' | b'\n', _) => { expect.extend_from_slice(b"\r\n"); i += 1; }
                    (x, _) => { expect.push(x); i += 1; }
                }
            }
            if !chunking && !expect.is_empty() && !expect.ends_with(b"\r\n") { expect.extend_from_slice(b"\r\n"); }
        }
        prop_assert_eq!(&w.received[0], &expect);
    }

    /// A body handed over in pieces split anywhere arrives as the same body sent whole, over
    /// DATA with or without pipelining, and also when CHUNKING is offered; in LMTP too.
    #[test]
    fn streamed_bodies_arrive_as_whole_ones(body in proptest::collection::vec(prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), Just(b'a'), any::<u8>()], 0..300),
                                           cuts in proptest::collection::vec(any::<usize>(), 0..8),
                                           chunking: bool, pipelining: bool, lmtp: bool) {
        let mode = if lmtp { Mode::Lmtp } else { Mode::Smtp };
        let config = || {
            let mut sc = ServerConfig::new(mode, "mx");
            sc.extensions.chunking = chunking;
            sc.extensions.pipelining = pipelining;
            sc
        };
        // Whole, through DATA (CHUNKING off), as the reference.
        let mut whole_cfg = config();
        whole_cfg.extensions.chunking = false;
        let (mut c, mut s, mut w) = pair(whole_cfg, client_cfg(mode));
        c.send_message(envelope(&["a", "b"]), body.clone()).unwrap();
        pump(&mut c, &mut s, &mut w);
        let whole = w.received.clone();

        let (mut c, mut s, mut w) = pair(config(), client_cfg(mode));
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (body.len() + 1)).collect();
        cuts.sort_unstable();
        let mut from = 0;
        for cut in cuts.into_iter().chain([body.len()]) {
            w.pieces.push_back(body[from..cut].to_vec());
            from = cut;
        }
        let info = client::BodyInfo { size: Some(body.len() as u64), eight_bit: !body.is_ascii() };
        c.send_message_streamed(envelope(&["a", "b"]), info).unwrap();
        pump(&mut c, &mut s, &mut w);
        prop_assert!(w.pieces.is_empty());
        prop_assert_eq!(&w.received, &whole);
        let results = sent(&w);
        prop_assert_eq!(results.len(), 1);
        prop_assert!(results[0].delivered());
        prop_assert_eq!(results[0].data.len(), if lmtp { 2 } else { 1 });
        prop_assert!(c.is_ready());
    }
}

/// A piece nobody asked for is a usage error and changes nothing; a refused transaction never
/// asks for the body and ends with `Sent`; the session goes on.
#[test]
fn streamed_body_misuse_and_refusals() {
    let (mut c, mut s, mut w) = pair(ServerConfig::new(Mode::Smtp, "mx"), client_cfg(Mode::Smtp));
    assert!(c.handle_body(b"x").is_err(), "no transaction");
    assert!(c.handle_body_end().is_err(), "no transaction");
    // Every recipient refused: no BodyWanted, the transaction ends with its replies.
    c.send_message_streamed(envelope(&["nobody"]), client::BodyInfo::default())
        .unwrap();
    assert!(c.handle_body(b"x").is_err(), "before the 354");
    w.pieces.push_back(b"never asked for".to_vec());
    pump(&mut c, &mut s, &mut w);
    assert!(!w.client_events.contains(&ClientEvent::BodyWanted));
    assert_eq!(w.pieces.len(), 1);
    assert!(!sent(&w)[0].delivered());
    // Then a streamed message goes through on the same session, an empty piece included.
    w.pieces = [b"Subject: s\n\n".to_vec(), Vec::new(), b".dot\n".to_vec()].into();
    c.send_message_streamed(envelope(&["a"]), client::BodyInfo::default())
        .unwrap();
    pump(&mut c, &mut s, &mut w);
    assert_eq!(w.received.last().unwrap(), b"Subject: s\r\n\r\n.dot\r\n");
    assert!(sent(&w)[1].delivered());
    assert!(c.handle_body(b"x").is_err(), "after the end");
}
