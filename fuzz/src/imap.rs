//! Fuzz target bodies for the `imap` crate.

use std::time::{Duration, Instant};

use mailwright_imap_proto::client::{ClientConfig, ClientSession, Event as ClientEvent};
use mailwright_imap_proto::framer::{Framer, FramerConfig, FramerEvent, FramerSide};
use mailwright_imap_proto::server::{Condition, Event as ServerEvent, ServerConfig, ServerSession};
use mailwright_imap_proto::structure::Message;
use mailwright_imap_proto::types::body::BodyStructure;
use mailwright_imap_proto::types::command::{AuthData, Command, CommandBody};
use mailwright_imap_proto::types::command::{Section, SectionText};
use mailwright_imap_proto::types::core::Vec1;
use mailwright_imap_proto::types::core::{AString, IString, Literal, LiteralMode};
use mailwright_imap_proto::types::response::{Data, FetchItem};
use mailwright_imap_proto::types::response::{Response, StatusResponse};
use mailwright_imap_proto::{
    Date, Encode, FetchAttribute, FetchItems, IntoStatic, Machine, Secret, SequenceSet,
};

/// The targets of this module: (name, body).
pub const TARGETS: &[super::Target] = &[
    ("imap_command", imap_command),
    ("imap_response", imap_response),
    ("imap_greeting", imap_greeting),
    ("imap_authenticate", imap_authenticate),
    ("imap_framer", imap_framer),
    ("imap_server", imap_server),
    ("imap_client", imap_client),
    ("imap_structure", imap_structure),
];

/// Command parser: never panics; decode → encode → decode agrees. The same input as text
/// (sequence set, date, section, FETCH attributes): parse → Display → parse agrees.
pub fn imap_command(data: &[u8]) {
    if let Ok((_, c)) = Command::decode(data) {
        let bytes = c.to_bytes();
        let (rest, again) = Command::decode(&bytes).expect("an encoded command parses");
        assert!(rest.is_empty());
        assert_eq!(again, c);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        text_round_trip::<SequenceSet>(text);
        text_round_trip::<Date>(text);
        text_round_trip::<Section<'static>>(text);
        text_round_trip::<FetchAttribute<'static>>(text);
        text_round_trip::<FetchItems<'static>>(text);
    }
}

/// `text` parsed as a `T`, if it is one, is written by `Display` as text that parses back to it.
fn text_round_trip<T>(text: &str)
where
    T: std::str::FromStr + std::fmt::Display + PartialEq + std::fmt::Debug + Encode,
{
    if let Ok(value) = text.parse::<T>()
        && std::str::from_utf8(&value.to_bytes()).is_ok()
    {
        let shown = value.to_string();
        let again = shown.parse::<T>().ok().expect("Display parses back");
        assert_eq!(again, value);
    }
}

/// Response parser: never panics; decode → encode → decode agrees.
pub fn imap_response(data: &[u8]) {
    if let Ok((_, r)) = Response::decode(data) {
        let bytes = r.to_bytes();
        let (rest, again) = Response::decode(&bytes).expect("an encoded response parses");
        assert!(rest.is_empty());
        assert_eq!(again, r);
    }
}

/// Greeting parser: never panics; decode → encode → decode agrees.
pub fn imap_greeting(data: &[u8]) {
    if let Ok((_, g)) = StatusResponse::decode_greeting(data) {
        let bytes = Response::Status(g.clone()).to_bytes();
        assert_eq!(
            StatusResponse::decode_greeting(&bytes)
                .expect("greeting parses")
                .1,
            g
        );
    }
}

/// AUTHENTICATE continuation lines: never panic; base64 decodes and re-encodes.
pub fn imap_authenticate(data: &[u8]) {
    if let Ok((_, d)) = AuthData::decode_line(data)
        && let (AuthData::Base64(_), Ok(raw)) = (&d, d.decode())
    {
        // SASL data never shows in Debug.
        if let AuthData::Base64(text) = &d
            && text.expose().as_str().len() >= 8
        {
            assert!(!format!("{d:?}").contains(text.expose().as_str()));
        }
        assert_eq!(
            AuthData::encode(&raw).decode().expect("re-encoded base64"),
            raw
        );
    }
}

fn frames(chunks: &[&[u8]]) -> Vec<FramerEvent> {
    let mut f = Framer::new(
        FramerSide::Commands,
        FramerConfig {
            max_line: 64,
            max_literal: 32,
            max_append_literal: 64,
            ..FramerConfig::default()
        },
    );
    let mut out = Vec::new();
    for c in chunks {
        f.handle_input(c);
        for _ in 0..10_000 {
            match f.poll_event() {
                Some(FramerEvent::LiteralChunk { data, remaining }) => {
                    // Chunking depends on the split; merge so that runs compare.
                    if let Some(FramerEvent::LiteralChunk {
                        data: prev,
                        remaining: r,
                    }) = out.last_mut()
                    {
                        *prev = [&prev[..], &data[..]].concat().into();
                        *r = remaining;
                    } else {
                        out.push(FramerEvent::LiteralChunk { data, remaining });
                    }
                }
                Some(ev) => out.push(ev),
                None => break,
            }
        }
    }
    out
}

/// Framer: never panics; splitting the input at any point gives the same events.
pub fn imap_framer(data: &[u8]) {
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(data.len());
    assert_eq!(frames(&[data]), frames(&[&data[..cut], &data[cut..]]));
}

/// Takes the OK decision for whatever the server asks. A handle fresh from `poll_event` is
/// always accepted (no time passes in between).
fn agree(server: &mut ServerSession, now: Instant, ev: ServerEvent) {
    const FRESH: &str = "a fresh handle is accepted";
    match ev {
        ServerEvent::Command { handle, .. }
        | ServerEvent::IdleDone { handle }
        | ServerEvent::AppendEnd { handle } => {
            server
                .complete(handle, Condition::Ok, None, "ok")
                .expect(FRESH);
        }
        ServerEvent::Login { handle, .. } | ServerEvent::Authenticate { handle, .. } => {
            server.accept_login(handle, None).expect(FRESH);
        }
        ServerEvent::Select { handle, .. } => {
            server.accept_select(handle, None, "ok").expect(FRESH);
        }
        ServerEvent::Close { handle, .. } => server.accept_close(handle, "ok").expect(FRESH),
        ServerEvent::Logout { handle } => server.accept_logout(handle).expect(FRESH),
        ServerEvent::Idle { handle } => server.accept_idle(handle).expect(FRESH),
        ServerEvent::StartTls { handle } => {
            server.accept_starttls(handle).expect(FRESH);
            server
                .handle_tls_established()
                .expect("a handshake after STARTTLS");
        }
        ServerEvent::Compress { handle, .. } => {
            let rest = server.accept_compress(handle).expect(FRESH);
            server.handle_input(now, &rest);
        }
        _ => {}
    }
}

fn fuzz_server() -> ServerSession {
    ServerSession::new(ServerConfig {
        framer: FramerConfig {
            max_line: 256,
            max_literal: 64,
            max_append_literal: 128,
            ..FramerConfig::default()
        },
        login_timeout: Duration::from_secs(40),
        command_timeout: Duration::from_secs(10),
        max_bad_commands: 8,
        sasl_mechanisms: vec!["X".into()],
        ..ServerConfig::default()
    })
}

/// `text` with the numbers of `{ id: N` blanked: decision handles are numbered per process.
fn without_handle_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("{ id: ") {
        out.push_str(&rest[..at + 6]);
        rest = rest[at + 6..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push('_');
    }
    out.push_str(rest);
    out
}

/// A server fed `chunks` at one instant, agreeing to everything: the octets it sent and its
/// events (as text; the APPEND data of consecutive chunks joined, as the split decides the
/// chunks).
fn server_transcript(chunks: &[&[u8]]) -> (Vec<u8>, Vec<String>) {
    let mut server = fuzz_server();
    let now = Instant::now();
    server.handle_timeout(now);
    let (mut wire, mut events) = (Vec::new(), Vec::new());
    let mut append = Vec::new();
    let flush = |append: &mut Vec<u8>, events: &mut Vec<String>| {
        if !append.is_empty() {
            events.push(format!("AppendData {append:?}"));
            append.clear();
        }
    };
    for chunk in chunks {
        server.handle_input(now, chunk);
        for _ in 0..10_000 {
            let Some(ev) = server.poll_event() else { break };
            if let ServerEvent::AppendChunk { data, .. } = &ev {
                append.extend_from_slice(data);
                continue;
            }
            flush(&mut append, &mut events);
            events.push(without_handle_ids(&format!("{ev:?}")));
            agree(&mut server, now, ev);
            while let Some(b) = server.poll_transmit() {
                wire.extend_from_slice(&b);
            }
        }
        while let Some(b) = server.poll_transmit() {
            wire.extend_from_slice(&b);
        }
    }
    flush(&mut append, &mut events);
    (wire, events)
}

/// Server session: never panics on any client bytes, agreeing to every command, with a clock
/// that moves a second per chunk (the timers fire on long inputs); a closed session stays closed;
/// every deadline it reports moves on when honoured. Model: at one instant, the events and the octets sent do not depend on how the input is split
/// (up to a STARTTLS or COMPRESS, after which the split decides what was plaintext).
pub fn imap_server(data: &[u8]) {
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (wire_a, a) = server_transcript(&[data]);
    let (wire_b, b) = server_transcript(&[&data[..cut], &data[cut..]]);
    let upgrade = |e: &[String]| {
        e.iter()
            .position(|e| e.starts_with("StartTls") || e.starts_with("Compress"))
    };
    match (upgrade(&a), upgrade(&b)) {
        (None, None) => {
            assert_eq!(a, b, "the split changed the events");
            assert_eq!(wire_a, wire_b, "the split changed what was sent");
        }
        (x, y) => assert_eq!(
            a[..x.unwrap_or(a.len())],
            b[..y.unwrap_or(b.len())],
            "the split changed the events before STARTTLS or COMPRESS"
        ),
    }

    let mut server = fuzz_server();
    let start = Instant::now();
    server.handle_timeout(start);
    for (k, chunk) in data.chunks(7).enumerate() {
        let now = start + Duration::from_secs(k as u64);
        if server.poll_timeout().is_some_and(|t| t <= now) {
            server.handle_timeout(now);
        }
        let was_closed = server.is_closed();
        server.handle_input(now, chunk);
        for _ in 0..10_000 {
            let Some(ev) = server.poll_event() else { break };
            agree(&mut server, now, ev);
        }
        while server.poll_transmit().is_some() {}
        if was_closed {
            assert!(server.is_closed(), "a closed session stays closed");
            assert_eq!(server.poll_timeout(), None);
        }
    }
    let later = start + Duration::from_secs(data.len() as u64);
    super::run_timers(&mut server, |s, ev| agree(s, later, ev));
}

fn fuzz_client() -> ClientSession {
    ClientSession::new(ClientConfig {
        framer: FramerConfig {
            max_line: 256,
            max_literal: 64,
            ..FramerConfig::responses()
        },
        idle_reissue: Duration::from_secs(3),
        ..ClientConfig::default()
    })
}

/// A client with a LOGIN (sync literal) and an IDLE queued, fed `chunks` at one instant: its
/// events and the octets it sent. Nothing is queued that upgrades the stream.
fn client_transcript(chunks: &[&[u8]]) -> (Vec<ClientEvent>, Vec<u8>) {
    let mut client = fuzz_client();
    let now = Instant::now();
    client.handle_timeout(now);
    let _ = client.enqueue(CommandBody::Login {
        username: AString::try_from("u").expect("atom"),
        password: Secret::new(AString::String(IString::Literal(
            Literal::new(&b"p w"[..], LiteralMode::Sync).expect("literal"),
        ))),
    });
    let _idle = client.idle().expect("no IDLE yet");
    let (mut events, mut wire) = (Vec::new(), Vec::new());
    for chunk in chunks {
        client.handle_input(now, chunk);
        for _ in 0..10_000 {
            let Some(e) = client.poll_event() else { break };
            events.push(e);
        }
        while let Some(b) = client.poll_transmit() {
            wire.extend_from_slice(&b);
        }
    }
    (events, wire)
}

/// Client session: never panics on any server bytes, with a sync literal waiting for `+` and an
/// IDLE whose DONE waits for its `+`; every deadline it reports moves on when honoured. Model: at
/// one instant, the events and the octets sent do not depend on how the input is split.
pub fn imap_client(data: &[u8]) {
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let whole = client_transcript(&[data]);
    let split = client_transcript(&[&data[..cut], &data[cut..]]);
    assert_eq!(whole.0, split.0, "the split changed the events");
    assert_eq!(whole.1, split.1, "the split changed what was sent");

    let mut client = fuzz_client();
    let _ = client.enqueue(CommandBody::Login {
        username: AString::try_from("u").expect("atom"),
        password: Secret::new(AString::String(IString::Literal(
            Literal::new(&b"p w"[..], LiteralMode::Sync).expect("literal"),
        ))),
    });
    let idle = client.idle().expect("no IDLE yet");
    let mut idle = Some(idle);
    let start = Instant::now();
    for (k, chunk) in data.chunks(5).enumerate() {
        let now = start + Duration::from_secs(k as u64);
        if client.poll_timeout().is_some_and(|t| t <= now) {
            client.handle_timeout(now);
        }
        client.handle_input(now, chunk);
        for _ in 0..10_000 {
            if client.poll_event().is_none() {
                break;
            }
        }
        if k == 7
            && let Some(h) = idle.take()
        {
            let _ = client.idle_done(h);
        }
        let _ = client.poll_transmit();
        let _ = client.handle_tls_established();
    }
    for tag in client.in_flight() {
        let _ = tag.clone().into_static();
    }
    super::run_timers(&mut client, |_, _| {});
}

/// Message structure: any octets give an ENVELOPE, BODY and BODYSTRUCTURE that encode in a FETCH
/// response which parses back to the same values, and every section of the first parts is a
/// NUL-free piece of the message no longer than its CRLF form.
pub fn imap_structure(data: &[u8]) {
    let m = Message::parse(data);
    let size = usize::try_from(m.size()).unwrap_or(usize::MAX);
    for extended in [false, true] {
        let bs = m.body_structure(extended);
        let item = if extended {
            FetchItem::BodyStructure(Box::new(bs))
        } else {
            FetchItem::Body(Box::new(bs))
        };
        let r = Response::Data(Data::Fetch {
            seq: 1.try_into().expect("nonzero"),
            items: Vec1::try_from(vec![item, FetchItem::Envelope(Box::new(m.envelope()))])
                .expect("two items"),
        });
        let bytes = r.to_bytes();
        // Deep nesting is refused by the parser's own limit; anything it parses must agree.
        if let Ok((rest, again)) = Response::decode(&bytes) {
            assert!(rest.is_empty());
            assert_eq!(again, r);
        } else {
            assert!(depth(&m.body_structure(false)) > 16);
        }
    }
    let texts = [
        None,
        Some(SectionText::Header),
        Some(SectionText::Text),
        Some(SectionText::Mime),
        Some(SectionText::HeaderFieldsNot(Vec1::one(
            AString::try_from("Subject").expect("atom"),
        ))),
    ];
    for path in [&[][..], &[1][..], &[2][..], &[1, 1][..], &[2, 1][..]] {
        let path: Vec<std::num::NonZeroU32> = path
            .iter()
            .filter_map(|n| std::num::NonZeroU32::new(*n))
            .collect();
        for text in texts.clone() {
            let Ok(section) = Section::new(path.clone(), text) else {
                continue;
            };
            if let Some(c) = m.section(&section) {
                let out = c.to_imap_bytes(data);
                assert!(!out.contains(&0));
                assert!(out.len() <= size + 2 * (data.len() + 1));
            }
        }
    }
}

fn depth(b: &BodyStructure<'_>) -> usize {
    use mailwright_imap_proto::types::body::SpecificFields;
    match b {
        BodyStructure::Multi(m) => 1 + m.parts.iter().map(depth).max().unwrap_or(0),
        BodyStructure::Single(s) => match &s.specific {
            SpecificFields::Message { body, .. } => 2 + depth(body),
            _ => 1,
        },
    }
}
