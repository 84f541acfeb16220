//! Fuzz target bodies for the `pop3` crate.

use mailwright_pop3_proto::client::{ClientEvent, ClientLimits, ClientSession};
use mailwright_pop3_proto::encode::{DotStuffer, Encode};
use mailwright_pop3_proto::parse::{self, DotUnstuffer};
use mailwright_pop3_proto::server::{Maildrop, ServerConfig, ServerEvent, ServerSession};
use mailwright_pop3_proto::{Atom, MessageNumber, Text, Uid};

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[
    ("pop3_command", pop3_command),
    ("pop3_response", pop3_response),
    ("pop3_server", pop3_server),
    ("pop3_client", pop3_client),
];

/// Commands and SASL lines: decode -> encode -> decode agrees.
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
            Err(parse::ParseError::Malformed { consumed, .. }) => input = &input[consumed..],
            Err(_) => break,
        }
    }
    if let Ok((_, r)) = parse::sasl_response(data, 4096) {
        let wire = r.to_bytes();
        assert_eq!(parse::sasl_response(&wire, 1 << 20).expect("re-parse").1, r);
    }
}

/// Status lines, CAPA lines, continuations and dot-stuffed bodies.
pub fn pop3_response(data: &[u8]) {
    if let Ok((_, r)) = parse::response(data, 4096) {
        let wire = r.to_bytes();
        assert_eq!(parse::response(&wire, 8192).expect("re-parse").1, r);
    }
    if let Ok((_, Some(c))) = parse::capability(data, 4096) {
        let wire = c.to_bytes();
        assert_eq!(parse::capability(&wire, 8192).expect("re-parse").1, Some(c));
    }
    if let Ok((_, r)) = parse::auth_reply(data, 4096) {
        let wire = r.to_bytes();
        assert_eq!(parse::auth_reply(&wire, 1 << 20).expect("re-parse").1, r);
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

/// A server session fed arbitrary input in two pieces, answered by a simple application.
pub fn pop3_server(data: &[u8]) {
    let mut config = ServerConfig::default();
    config.offer_stls = true;
    config.sasl_mechanisms = vec![Atom::new("PLAIN").expect("atom")];
    config.apop_timestamp = Some(Text::lossy("<1.2@fuzz>"));
    let mut s = ServerSession::new(config);
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    for chunk in [&data[..cut], &data[cut..]] {
        s.handle_input(chunk);
        for _ in 0..10_000 {
            let Some(ev) = s.poll_event() else { break };
            match ev {
                ServerEvent::Pass { password, .. } => {
                    if password.expose().first() == Some(&b'a') {
                        s.accept_login(maildrop()).expect("accept");
                    } else {
                        s.refuse_login(None, "no").expect("refuse");
                    }
                }
                ServerEvent::Apop { .. } => s.accept_login(maildrop()).expect("accept"),
                ServerEvent::Auth { .. } => s.sasl_challenge(b"x").expect("challenge"),
                ServerEvent::AuthResponse { .. } => s.accept_login(maildrop()).expect("accept"),
                ServerEvent::Retr { .. } | ServerEvent::Top { .. } => {
                    let mut r: &[u8] = b"Subject: x\n\n.body\nmore\n";
                    while !s.send_message_from(&mut r).expect("stream") {
                        let _ = s.poll_transmit();
                    }
                }
                ServerEvent::StartTls { .. } => s.tls_established().expect("tls"),
                ServerEvent::Update { .. } => s.update_done(Ok(())).expect("update"),
                _ => {}
            }
            let _ = s.poll_transmit();
        }
    }
}

/// A client session with a queue of commands, fed arbitrary server output.
pub fn pop3_client(data: &[u8]) {
    let mut c = ClientSession::new(ClientLimits::default());
    c.capa();
    let _ = c.login("u", b"p");
    c.stat();
    c.list(None);
    c.uidl(None);
    if let Ok(n) = MessageNumber::new(1) {
        c.retr(n);
        c.top(n, 2);
        c.dele(n);
    }
    let _ = c.auth_plain("u", b"p");
    c.quit();
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    for chunk in [&data[..cut], &data[cut..]] {
        c.handle_input(chunk);
        for _ in 0..10_000 {
            match c.poll_event() {
                None => break,
                Some(ClientEvent::StartTls) => c.tls_established(),
                Some(ClientEvent::AuthChallenge(_)) => c.auth_cancel(),
                Some(_) => {}
            }
        }
        let _ = c.poll_transmit();
    }
}
