//! Fuzz target bodies for the `imap` crate.

use mailwright_imap_proto::client::{ClientFlow, ClientOptions};
use mailwright_imap_proto::framer::{Framer, FramerEvent, FramerOptions};
use mailwright_imap_proto::server::{ServerEvent, ServerFlow, ServerOptions};
use mailwright_imap_proto::structure::Message;
use mailwright_imap_proto::types::body::BodyStructure;
use mailwright_imap_proto::types::command::{AuthData, Command, CommandBody};
use mailwright_imap_proto::types::command::{Section, SectionText};
use mailwright_imap_proto::types::core::Vec1;
use mailwright_imap_proto::types::core::{AString, IString, Literal, LiteralMode};
use mailwright_imap_proto::types::response::{Data, FetchItem};
use mailwright_imap_proto::types::response::{Response, StatusKind, StatusResponse};
use mailwright_imap_proto::{Encode, IntoStatic};

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

/// Command parser: never panics; decode → encode → decode agrees.
pub fn imap_command(data: &[u8]) {
    if let Ok((_, c)) = Command::decode(data) {
        let bytes = c.to_bytes();
        let (rest, again) = Command::decode(&bytes).expect("an encoded command parses");
        assert!(rest.is_empty());
        assert_eq!(again, c);
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
        assert_eq!(
            AuthData::encode(&raw).decode().expect("re-encoded base64"),
            raw
        );
    }
}

fn frames(chunks: &[&[u8]]) -> Vec<FramerEvent> {
    let mut f = Framer::new(FramerOptions {
        max_line: 64,
        max_literal: 32,
        max_append_literal: 64,
        ..FramerOptions::default()
    });
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

/// Server flow: never panics on any client bytes, answering every command OK.
pub fn imap_server(data: &[u8]) {
    let mut server = ServerFlow::new(ServerOptions {
        framer: FramerOptions {
            max_line: 256,
            max_literal: 64,
            max_append_literal: 128,
            ..FramerOptions::default()
        },
        ..ServerOptions::default()
    });
    for chunk in data.chunks(7) {
        server.handle_input(chunk);
        for _ in 0..10_000 {
            let Some(ev) = server.poll_event() else { break };
            let tag = match ev {
                ServerEvent::Command(c) => Some(c.tag),
                ServerEvent::AuthenticateData { tag, .. }
                | ServerEvent::IdleDone { tag }
                | ServerEvent::AppendEnd { tag } => Some(tag),
                _ => None,
            };
            if let Some(tag) = tag {
                server.enqueue(&Response::Status(
                    StatusResponse::tagged(tag, StatusKind::Ok, None, "ok").expect("valid"),
                ));
            }
        }
        let _ = server.poll_transmit();
    }
}

/// Client flow: never panics on any server bytes, with a sync literal waiting for `+`.
pub fn imap_client(data: &[u8]) {
    let mut client = ClientFlow::new(ClientOptions {
        framer: FramerOptions {
            max_line: 256,
            max_literal: 64,
            ..FramerOptions::for_responses()
        },
        ..ClientOptions::default()
    });
    client.enqueue(CommandBody::Login {
        username: AString::try_from("u").expect("atom"),
        password: AString::String(IString::Literal(
            Literal::new(&b"p w"[..], LiteralMode::Sync).expect("literal"),
        )),
    });
    client.enqueue(CommandBody::Idle);
    for chunk in data.chunks(5) {
        client.handle_input(chunk);
        for _ in 0..10_000 {
            if client.poll_event().is_none() {
                break;
            }
        }
        let _ = client.poll_transmit();
    }
    for tag in client.in_flight() {
        let _ = tag.clone().into_static();
    }
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
