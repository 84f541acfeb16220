//! Fuzz target bodies for the `pop3` crate.

use std::time::{Duration, Instant};

use mailwright_pop3_proto::encode::{DotStuffer, Encode};
use mailwright_pop3_proto::parse::{self, DotUnstuffer};
use mailwright_pop3_proto::server::{Maildrop, Refusal};
use mailwright_pop3_proto::{
    Atom, Capability, CapabilityTag, ClientConfig, ClientEvent, ClientSession, Command,
    DecodeError, Machine, MessageNumber, Password, ServerConfig, ServerEvent, ServerSession, Text,
    Uid, UidListing,
};

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[
    ("pop3_command", pop3_command),
    ("pop3_response", pop3_response),
    ("pop3_server", pop3_server),
    ("pop3_client", pop3_client),
];

/// Commands and SASL lines: decode -> encode -> decode agrees; values built from the bytes
/// (a password, a user name) encode to a line that decodes back to them.
pub fn pop3_command(data: &[u8]) {
    let mut input = data;
    for _ in 0..64 {
        match parse::command_with_limit(input, 4096) {
            Ok((rest, cmd)) => {
                let wire = cmd.to_bytes();
                let (left, again) = parse::command_with_limit(&wire, 8192).expect("re-parse");
                assert!(left.is_empty());
                assert_eq!(again, cmd);
                input = rest;
            }
            Err(DecodeError::Malformed { skip, .. }) if skip > 0 => {
                input = &input[skip.min(input.len())..];
            }
            Err(_) => break,
        }
    }
    if let Ok((_, r)) = parse::sasl_response(data, 4096) {
        let wire = r.to_bytes();
        assert_eq!(parse::sasl_response(&wire, 1 << 20).expect("re-parse").1, r);
    }
    let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    if let Ok(password) = Password::new(line.to_vec()) {
        let cmd = Command::Pass(password);
        assert_eq!(parse::command(&cmd.to_bytes()).expect("PASS").1, cmd);
    }
    if let Some(user) = std::str::from_utf8(line)
        .ok()
        .and_then(|l| Atom::new(l).ok())
    {
        let cmd = Command::User(user);
        assert_eq!(parse::command(&cmd.to_bytes()).expect("USER").1, cmd);
    }
}

/// Status lines, CAPA lines, continuations and dot-stuffed bodies: decode -> encode -> decode
/// agrees; a capability tag or unique-id built from the bytes round-trips, and no CAPA line ever
/// reads as the end of the list.
pub fn pop3_response(data: &[u8]) {
    if let Ok((_, r)) = parse::response(data, 4096) {
        let wire = r.to_bytes();
        assert_eq!(parse::response(&wire, 8192).expect("re-parse").1, r);
    }
    if let Ok((_, Some(c))) = parse::capability(data, 4096) {
        let wire = c.to_bytes();
        assert!(
            !wire.starts_with(b"."),
            "a CAPA line starting with '.': {wire:?}"
        );
        assert_eq!(parse::capability(&wire, 8192).expect("re-parse").1, Some(c));
    }
    if let Ok((_, r)) = parse::auth_reply(data, 4096) {
        let wire = r.to_bytes();
        assert_eq!(parse::auth_reply(&wire, 1 << 20).expect("re-parse").1, r);
    }
    let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    if let Ok(word) = std::str::from_utf8(line) {
        if let Ok(tag) = CapabilityTag::new(word.to_ascii_uppercase()) {
            let c = Capability::Other {
                tag,
                params: Vec::new(),
            };
            let wire = c.to_bytes();
            let parsed = parse::capability(&wire, 8192)
                .expect("a valid tag parses")
                .1
                .expect("a tag is never the end of the list");
            if let Capability::Other { .. } = parsed {
                assert_eq!(parsed, c);
            } else {
                // A known tag reads as its own variant, which round-trips in turn.
                let again = parse::capability(&parsed.to_bytes(), 8192)
                    .expect("known")
                    .1;
                assert_eq!(again, Some(parsed));
            }
        }
        if let (Ok(uid), Ok(message)) = (Uid::new(word), MessageNumber::new(data.len() as u32 + 1))
        {
            let l = UidListing { message, uid };
            let wire = l.to_bytes();
            assert_eq!(parse::uid_listing_line(&wire[..wire.len() - 2]), Some(l));
        }
    }
    // Stuffing then unstuffing gives a message that stuffs to the same octets.
    let stuffed = DotStuffer::stuff_all(data, None);
    let mut out = mailwright_pop3_proto::bytes::BytesMut::new();
    let mut d = DotUnstuffer::new();
    let used = d.decode(&stuffed, &mut out);
    assert!(d.is_done() && used == stuffed.len());
    assert_eq!(DotStuffer::stuff_all(&out, None), stuffed);
    let _ = DotStuffer::stuff_all(
        data,
        Some(u32::from(data.first().copied().unwrap_or(0) % 4)),
    );
}

fn maildrop() -> Maildrop {
    let mut m = Maildrop::default();
    for i in 0..3 {
        m.push(10 + i, Uid::new(format!("u{i}")).expect("uid"));
    }
    m
}

/// What a server run shows: the octets sent and the events without their tickets.
type Transcript = (Vec<u8>, Vec<String>);

/// Answers one event as a simple application would; returns the event without its ticket.
fn answer(s: &mut ServerSession, ev: ServerEvent, wire: &mut Vec<u8>) -> String {
    match ev {
        ServerEvent::Login {
            user,
            password,
            method,
            ticket,
            ..
        } => {
            if password.expose().first() == Some(&b'a') {
                s.accept_login(ticket, maildrop()).expect("accept");
            } else {
                s.refuse_login(ticket, Refusal::BadCredentials)
                    .expect("refuse");
            }
            format!("login {user:?} {method:?}")
        }
        ServerEvent::Apop { user, ticket, .. } => {
            s.accept_login(ticket, maildrop()).expect("accept");
            format!("apop {user}")
        }
        ServerEvent::Auth {
            mechanism, ticket, ..
        } => {
            s.sasl_challenge(ticket, b"x").expect("challenge");
            format!("auth {mechanism}")
        }
        ServerEvent::AuthResponse { data, ticket } => {
            if data.expose().is_empty() {
                s.refuse_login(ticket, Refusal::InUse).expect("refuse");
            } else {
                s.accept_login(ticket, maildrop()).expect("accept");
            }
            "auth response".to_owned()
        }
        ServerEvent::Retr { message, .. } | ServerEvent::Top { message, .. } => {
            if message.get() == 3 {
                s.refuse_message().expect("refuse message");
            } else {
                let mut r: &[u8] = b"Subject: x\n\n.body\nmore\n";
                while !s.send_message_from(&mut r).expect("stream") {
                    wire.extend_from_slice(&s.poll_transmit().unwrap_or_default());
                }
            }
            format!("message {message}")
        }
        ServerEvent::StartTls { discarded } => {
            s.handle_tls_established().expect("tls");
            format!("stls {discarded:?}")
        }
        ServerEvent::Update { deleted, ticket } => {
            s.update_done(ticket).expect("update");
            format!("update {deleted:?}")
        }
        ServerEvent::Closed(reason) => format!("closed {reason:?}"),
        other => panic!("unexpected {other:?}"),
    }
}

fn run_server(s: &mut ServerSession, now: Instant, chunks: &[&[u8]]) -> Transcript {
    let mut wire = Vec::new();
    let mut events = Vec::new();
    for chunk in chunks {
        Machine::handle_input(s, now, chunk);
        for _ in 0..10_000 {
            let Some(ev) = Machine::poll_event(s) else {
                break;
            };
            events.push(answer(s, ev, &mut wire));
            while let Some(b) = Machine::poll_transmit(s) {
                wire.extend_from_slice(&b);
            }
        }
        while let Some(b) = Machine::poll_transmit(s) {
            wire.extend_from_slice(&b);
        }
    }
    (wire, events)
}

/// A server session fed arbitrary input, answered by a simple application. Model: the transcript
/// does not depend on how the input is split; every deadline it reports moves on when honoured;
/// a closed session wants nothing more.
pub fn pop3_server(data: &[u8]) {
    let mut config = ServerConfig::default();
    config.offer_stls = true;
    config.sasl_mechanisms = vec![
        Atom::new("PLAIN").expect("atom"),
        Atom::new("X-FUZZ").expect("atom"),
    ];
    config.apop_timestamp = Some(Text::lossy("<1.2@fuzz>"));
    config.command_timeout = Duration::from_secs(u64::from(data.get(1).copied().unwrap_or(1)));
    let now = Instant::now();
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut whole = ServerSession::new(config.clone());
    whole.handle_timeout(now);
    let a = run_server(&mut whole, now, &[data]);
    let overflow = data.len() > config.limits.max_buffered_input;
    let mut split = ServerSession::new(config);
    split.handle_timeout(now);
    let b = run_server(&mut split, now, &[&data[..cut], &data[cut..]]);
    // After STLS what follows is the TLS stream: the split decides what was plaintext. Input over
    // the buffer limit closes a session that got it at once, not one that got it in two reads.
    let stls = |t: &Transcript| t.1.iter().position(|e| e.starts_with("stls"));
    match (stls(&a), stls(&b)) {
        _ if overflow => {}
        (None, None) => {
            assert_eq!(a, b, "the split changed the transcript");
            // Once both have seen the time after their last decision, their timers agree.
            whole.handle_timeout(now);
            split.handle_timeout(now);
            assert_eq!(whole.poll_timeout(), split.poll_timeout());
        }
        (x, y) => {
            let (x, y) = (x.unwrap_or(a.1.len()), y.unwrap_or(b.1.len()));
            assert_eq!(
                a.1[..x],
                b.1[..y],
                "the split changed the events before STLS"
            );
        }
    }
    super::run_timers(&mut whole, |_, _| {});
}

fn run_client(chunks: &[&[u8]], now: Instant) -> (Vec<ClientEvent>, Vec<u8>, ClientSession) {
    let mut c = ClientSession::new(ClientConfig::default());
    c.handle_timeout(now);
    let _ = c.capa();
    let _ = c.login("u", b"p");
    let _ = c.stat();
    let _ = c.list(None);
    let _ = c.uidl(None);
    if let Ok(n) = MessageNumber::new(1) {
        let _ = c.retr(n);
        let _ = c.top(n, 2);
        let _ = c.dele(n);
    }
    let _ = c.auth_plain("u", b"p");
    let _ = c.quit();
    let mut events: Vec<ClientEvent> = Vec::new();
    let mut sent = Vec::new();
    for chunk in chunks {
        c.handle_input(now, chunk);
        for _ in 0..10_000 {
            let Some(e) = c.poll_event() else { break };
            match &e {
                ClientEvent::StartTls => c.handle_tls_established().expect("tls"),
                ClientEvent::AuthChallenge(_) => c.auth_cancel().expect("cancel"),
                _ => {}
            }
            // How the input is split may only change how message data is chunked.
            if let (Some(ClientEvent::MessageData(prev)), ClientEvent::MessageData(d)) =
                (events.last_mut(), &e)
            {
                let mut joined = prev.to_vec();
                joined.extend_from_slice(d);
                *prev = joined.into();
                continue;
            }
            events.push(e);
        }
        while let Some(b) = c.poll_transmit() {
            sent.extend_from_slice(&b);
        }
    }
    (events, sent, c)
}

/// A client session with a queue of commands, fed arbitrary server output. Model: the events and
/// the octets sent do not depend on how the input is split (message data merged); deadlines
/// move on when honoured.
pub fn pop3_client(data: &[u8]) {
    let now = Instant::now();
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (whole, sent_whole, mut c) = run_client(&[data], now);
    let (split, sent_split, _) = run_client(&[&data[..cut], &data[cut..]], now);
    // After STLS what follows is the TLS stream: the split decides what was plaintext.
    let stls = |e: &[ClientEvent]| e.iter().position(|e| *e == ClientEvent::StartTls);
    match (stls(&whole), stls(&split)) {
        (None, None) => {
            assert_eq!(whole, split, "the split changed the events");
            assert_eq!(sent_whole, sent_split, "the split changed what was sent");
        }
        (w, s) => {
            let (w, s) = (w.unwrap_or(whole.len()), s.unwrap_or(split.len()));
            assert_eq!(
                whole[..w],
                split[..s],
                "the split changed the events before STLS"
            );
        }
    }
    c.handle_shutdown();
    while c.poll_transmit().is_some() {}
    super::run_timers(&mut c, |_, _| {});
}
