//! Known answers (Dovecot 2.3's replies for the same octets) and property tests.

use std::num::NonZeroU32;

use proptest::prelude::*;

use super::*;
use crate::encode::Encode;
use crate::types::body::{
    Address, BodyFields, BodyStructure, DispositionTail, Language, LanguageTail, MultiPart,
    SinglePart, SpecificFields,
};
use crate::types::command::SectionText;
use crate::types::core::{IString, NString, Vec1};
use crate::types::response::{Data, FetchItem, Response};

fn sec(path: &[u32], text: Option<SectionText<'static>>) -> Section<'static> {
    Section::new(
        path.iter().map(|n| NonZeroU32::new(*n).unwrap()).collect(),
        text,
    )
    .unwrap()
}

fn get(raw: &[u8], path: &[u32], text: Option<SectionText<'static>>) -> Option<String> {
    let m = Message::parse(raw);
    m.section(&sec(path, text))
        .map(|c| String::from_utf8_lossy(&c.to_imap_bytes(raw)).into_owned())
}

/// The BODYSTRUCTURE as it goes on the wire.
fn wire(raw: &[u8], extended: bool) -> String {
    String::from_utf8(Message::parse(raw).body_structure(extended).to_bytes()).unwrap()
}

const NESTED: &[u8] = b"Subject: top\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n--YY\r\n\r\ninner one\r\n--YY\r\nContent-Type: text/html\r\n\r\n<b>two</b>\r\n--YY--\r\n\r\n--XX--\r\nepilogue\r\n";

#[test]
fn sections_of_a_nested_message() {
    assert_eq!(get(NESTED, &[1], None).unwrap(), "first");
    assert_eq!(
        get(NESTED, &[1], Some(SectionText::Mime)).unwrap(),
        "Content-Type: text/plain\r\n\r\n"
    );
    assert_eq!(get(NESTED, &[2, 1], None).unwrap(), "inner one");
    assert_eq!(get(NESTED, &[2, 2], None).unwrap(), "<b>two</b>");
    assert!(
        get(NESTED, &[2], Some(SectionText::Header))
            .unwrap()
            .starts_with("Subject: inner\r\n")
    );
    assert_eq!(get(NESTED, &[3], None), None);
    assert_eq!(get(NESTED, &[1], Some(SectionText::Header)), None);
    assert_eq!(
        get(
            NESTED,
            &[],
            Some(SectionText::HeaderFields(Vec1::one(
                "SUBJECT".try_into().unwrap()
            )))
        )
        .unwrap(),
        "Subject: top\r\n\r\n"
    );
    let single = b"Subject: x\r\n\r\nbody\r\n";
    assert_eq!(get(single, &[1], None).unwrap(), "body\r\n");
    assert_eq!(
        get(single, &[1], Some(SectionText::Mime)).unwrap(),
        "Subject: x\r\n\r\n"
    );
    assert_eq!(get(single, &[2], None), None);
    assert_eq!(get(single, &[1, 1], None), None);
}

#[test]
fn dovecot_known_answers() {
    // Case of names and values kept, RFC 2231 raw, charset default only for text.
    let raw = b"Subject: params\r\nContent-Type: application/octet-stream; NAME*0*=utf-8''%E2%82%AC; NAME*1=\" rates.txt\"; x=y\r\nContent-Disposition: ATTACHMENT; FileName=\"Foo.txt\"; size=5\r\nContent-Language: en-US , DE\r\nContent-Location: http://x/y\r\nContent-MD5: abc==\r\nContent-ID: <id@x>\r\nContent-Description: A desc\r\nContent-Transfer-Encoding: BASE64\r\n\r\nAAAA\r\n";
    assert_eq!(
        wire(raw, true),
        "(\"application\" \"octet-stream\" (\"x\" \"y\" \"NAME*\" \"utf-8''%E2%82%AC rates.txt\") \"<id@x>\" \"A desc\" \"BASE64\" 6 \"abc==\" (\"ATTACHMENT\" (\"FileName\" \"Foo.txt\" \"size\" \"5\")) (\"en-US\" \"DE\") \"http://x/y\")"
    );
    // A lone type without subtype and parameters that cannot be read.
    assert_eq!(
        wire(
            b"MIME-Version: 1.0\r\nContent-Type: text; charset=us-ascii\r\n\r\nx\r\n",
            false
        ),
        "(\"\" \"\" NIL NIL NIL \"7bit\" 3)"
    );
    // message/rfc822 without Content-Type inside; message/global is a basic part.
    assert_eq!(
        wire(
            b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nhello\r\n",
            false
        ),
        "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 22 (NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1) 3)"
    );
    assert_eq!(
        wire(
            b"Content-Type: message/global\r\n\r\nSubject: in\r\n\r\nhello\r\n",
            false
        ),
        "(\"message\" \"global\" NIL NIL NIL \"7bit\" 22)"
    );
    // A multipart without a boundary has one empty text part.
    assert_eq!(
        wire(b"Content-Type: multipart/mixed\r\n\r\nno parts\r\n", false),
        "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")"
    );
    // Content-* fields of a part that is not MIME are ignored.
    assert_eq!(
        wire(
            b"Content-Transfer-Encoding: base64\r\nContent-ID: <x>\r\n\r\nAAAA\r\n",
            false
        ),
        "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1)"
    );
}

#[test]
fn envelope_known_answers() {
    let raw = b"From: user@domain (Real Name)\r\nTo: @route1,@route2:user@domain, Group: a@b;\r\nCc: <@r:u@d>, \"x\" <u@d>\r\nSubject: folded\r\n\tsubject  with   spaces \r\n  and more\r\nDate: Mon, 7 Feb 1994\r\n 21:52:25 -0800\r\nIn-Reply-To:   <x@y>  \r\n\r\nbody\r\n";
    let e = Message::parse(raw).envelope();
    let s = String::from_utf8(e.to_bytes()).unwrap();
    assert_eq!(
        s,
        "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"folded subject with spaces and more\" ((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) ((NIL NIL \"MISSING_MAILBOX\" \"route1\")(NIL NIL \"MISSING_MAILBOX\" \"route2\")) ((NIL \"@r\" \"u\" \"d\")(\"x\" NIL \"u\" \"d\")) NIL \"<x@y>  \" NIL)"
    );
    let e = Message::parse(b"From: a@b").envelope();
    assert_eq!(e.from.unwrap()[0].host.as_bytes(), Some(&b"b"[..]));
}

#[test]
fn delimiter_inside_a_header_and_unterminated_parts() {
    let raw = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n--b\r\n\r\n--b--";
    assert_eq!(
        get(raw, &[1], Some(SectionText::Mime)).unwrap(),
        "Content-Type: text/plain"
    );
    assert_eq!(get(raw, &[1], None).unwrap(), "");
    assert_eq!(get(raw, &[2], Some(SectionText::Mime)).unwrap(), "\r\n");
    let root = Message::parse(raw);
    assert_eq!(root.root().children().len(), 2);
    // No final delimiter: the last part runs to the end.
    let raw =
        b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n\r\none\r\n--zz\r\n\r\ntwo\r\n";
    assert_eq!(get(raw, &[2], None).unwrap(), "two\r\n");
}

#[test]
fn lf_line_ends_and_nul() {
    let raw = b"X: y\n\nlf only body\nline2\n";
    let m = Message::parse(raw);
    assert_eq!(m.size(), 29);
    assert_eq!(
        wire(raw, false),
        "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 2)"
    );
    assert_eq!(
        get(raw, &[], Some(SectionText::Text)).unwrap(),
        "lf only body\r\nline2\r\n"
    );
    let raw = b"Subject: nul\r\n\r\nbefore\0after\r\n";
    let body = Message::parse(raw)
        .section(&sec(&[1], None))
        .unwrap()
        .to_imap_bytes(raw);
    assert_eq!(body, b"before\x80after\r\n");
}

#[test]
fn header_fields_sections() {
    let raw = b"From: a@b";
    let f = || Vec1::one("From".try_into().unwrap());
    assert_eq!(
        get(raw, &[], Some(SectionText::HeaderFields(f()))).unwrap(),
        "From: a@b\r\n"
    );
    assert_eq!(
        get(
            raw,
            &[],
            Some(SectionText::HeaderFieldsNot(Vec1::one(
                "X".try_into().unwrap()
            )))
        )
        .unwrap(),
        "From: a@b"
    );
    let raw = b"To: x\r\nFrom: a@b\r\n  folded\r\nSubject: s\r\n\r\nbody";
    assert_eq!(
        get(raw, &[], Some(SectionText::HeaderFields(f()))).unwrap(),
        "From: a@b\r\n  folded\r\n\r\n"
    );
    assert_eq!(
        get(raw, &[], Some(SectionText::HeaderFieldsNot(f()))).unwrap(),
        "To: x\r\nSubject: s\r\n\r\n"
    );
}

// ---- Generated MIME trees -------------------------------------------------------------------

/// A MIME tree to render and the BODYSTRUCTURE it must give.
#[derive(Debug, Clone)]
enum Gen {
    Text {
        subtype: String,
        charset: Option<String>,
        lines: Vec<String>,
        disposition: Option<(String, String)>,
    },
    Basic {
        media: (String, String),
        encoding: String,
        lines: Vec<String>,
    },
    Multi {
        subtype: String,
        parts: Vec<Gen>,
    },
    Message {
        subject: String,
        from: (String, String, String),
        inner: Box<Gen>,
    },
}

fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]{1,8}"
}

fn gen_tree() -> impl Strategy<Value = Gen> {
    let leaf = prop_oneof![
        (
            word(),
            proptest::option::of("[a-zA-Z0-9-]{1,10}"),
            proptest::collection::vec("[a-zA-Z0-9 .,;:]{0,30}", 0..4),
            proptest::option::of((
                prop_oneof![Just("inline".to_owned()), Just("ATTACHMENT".to_owned())],
                word()
            )),
        )
            .prop_map(|(subtype, charset, lines, disposition)| Gen::Text {
                subtype,
                charset,
                lines,
                disposition
            }),
        (
            (word(), word()),
            prop_oneof![Just("base64".to_owned()), Just("8BIT".to_owned())],
            proptest::collection::vec("[a-zA-Z0-9+/=]{0,40}", 0..3)
        )
            .prop_map(|(media, encoding, lines)| Gen::Basic {
                media: (format!("x{}", media.0), media.1),
                encoding,
                lines
            }),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            (word(), proptest::collection::vec(inner.clone(), 1..4))
                .prop_map(|(subtype, parts)| Gen::Multi { subtype, parts }),
            (
                proptest::collection::vec(word(), 1..4),
                (word(), word(), word()),
                inner
            )
                .prop_map(|(subject, from, inner)| Gen::Message {
                    subject: subject.join(" "),
                    from,
                    inner: Box::new(inner)
                }),
        ]
    })
}

/// Renders a part (header and body); `id` numbers the boundaries.
fn render(g: &Gen, id: &mut u32, out: &mut Vec<u8>) {
    match g {
        Gen::Text {
            subtype,
            charset,
            lines,
            disposition,
        } => {
            out.extend_from_slice(format!("Content-Type: text/{subtype}").as_bytes());
            if let Some(c) = charset {
                out.extend_from_slice(format!("; charset=\"{c}\"").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            if let Some((d, f)) = disposition {
                out.extend_from_slice(
                    format!("Content-Disposition: {d}; filename={f}\r\n").as_bytes(),
                );
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(lines.join("\r\n").as_bytes());
        }
        Gen::Basic {
            media,
            encoding,
            lines,
        } => {
            out.extend_from_slice(
                format!(
                    "Content-Type: {}/{}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n",
                    media.0, media.1
                )
                .as_bytes(),
            );
            out.extend_from_slice(lines.join("\r\n").as_bytes());
        }
        Gen::Multi { subtype, parts } => {
            *id += 1;
            let b = format!("=_{id}_=");
            out.extend_from_slice(
                format!("Content-Type: multipart/{subtype}; boundary=\"{b}\"\r\n\r\npreamble\r\n")
                    .as_bytes(),
            );
            for p in parts {
                out.extend_from_slice(format!("--{b}\r\n").as_bytes());
                render(p, id, out);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("--{b}--\r\nepilogue").as_bytes());
        }
        Gen::Message {
            subject,
            from,
            inner,
        } => {
            out.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
            out.extend_from_slice(
                format!(
                    "Subject: {subject}\r\nFrom: \"{}\" <{}@{}>\r\nMIME-Version: 1.0\r\n",
                    from.0, from.1, from.2
                )
                .as_bytes(),
            );
            render(inner, id, out);
        }
    }
}

fn s(v: &str) -> IString<'static> {
    IString::from_bytes(v.as_bytes().to_vec()).unwrap()
}

fn ns(v: Option<&str>) -> NString<'static> {
    NString(v.map(s))
}

fn no_tail() -> DispositionTail<'static> {
    DispositionTail {
        disposition: None,
        language: Some(LanguageTail {
            language: Language::Single(NString::NIL),
            location: Some((NString::NIL, Vec::new())),
        }),
    }
}

/// The BODYSTRUCTURE `g` must give, and the length of its rendered body.
fn expect(g: &Gen, id: &mut u32) -> BodyStructure<'static> {
    let mut rendered = Vec::new();
    let mut scratch = *id;
    render(g, &mut scratch, &mut rendered);
    let body_len = |r: &[u8]| {
        let at = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let body = &r[at..];
        (
            body.len() as u32,
            body.windows(2).filter(|w| *w == b"\r\n").count() as u32,
        )
    };
    match g {
        Gen::Text {
            subtype,
            charset,
            disposition,
            ..
        } => {
            *id = scratch;
            let (octets, lines) = body_len(&rendered);
            let params = vec![(s("charset"), s(charset.as_deref().unwrap_or("us-ascii")))];
            let mut tail = no_tail();
            if let Some((d, f)) = disposition {
                tail.disposition = Some((s(d), Some(Vec1::one((s("filename"), s(f))))));
            }
            BodyStructure::Single(SinglePart {
                media_type: s("text"),
                subtype: s(subtype),
                fields: BodyFields {
                    parameters: Some(Vec1::try_from(params).unwrap()),
                    id: NString::NIL,
                    description: NString::NIL,
                    encoding: s("7bit"),
                    octets,
                },
                specific: SpecificFields::Text { lines },
                extension: Some((NString::NIL, Some(tail))),
            })
        }
        Gen::Basic {
            media, encoding, ..
        } => {
            *id = scratch;
            let (octets, _) = body_len(&rendered);
            BodyStructure::Single(SinglePart {
                media_type: s(&media.0),
                subtype: s(&media.1),
                fields: BodyFields {
                    parameters: None,
                    id: NString::NIL,
                    description: NString::NIL,
                    encoding: s(encoding),
                    octets,
                },
                specific: SpecificFields::Basic,
                extension: Some((NString::NIL, Some(no_tail()))),
            })
        }
        Gen::Multi { subtype, parts } => {
            *id += 1;
            let b = format!("=_{id}_=");
            let parts: Vec<BodyStructure<'static>> = parts.iter().map(|p| expect(p, id)).collect();
            BodyStructure::Multi(MultiPart {
                parts: Vec1::try_from(parts).unwrap(),
                subtype: s(subtype),
                extension: Some((Some(Vec1::one((s("boundary"), s(&b)))), Some(no_tail()))),
            })
        }
        Gen::Message {
            subject,
            from,
            inner,
        } => {
            let (octets, lines) = body_len(&rendered);
            let inner_bs = expect(inner, id);
            let addr = Vec1::one(Address {
                name: ns(Some(&from.0)),
                adl: NString::NIL,
                mailbox: ns(Some(&from.1)),
                host: ns(Some(&from.2)),
            });
            BodyStructure::Single(SinglePart {
                media_type: s("message"),
                subtype: s("rfc822"),
                fields: BodyFields {
                    parameters: None,
                    id: NString::NIL,
                    description: NString::NIL,
                    encoding: s("7bit"),
                    octets,
                },
                specific: SpecificFields::Message {
                    envelope: Box::new(Envelope {
                        subject: ns(Some(subject)),
                        from: Some(addr.clone()),
                        sender: Some(addr.clone()),
                        reply_to: Some(addr),
                        ..Envelope::default()
                    }),
                    body: Box::new(inner_bs),
                    lines,
                },
                extension: Some((NString::NIL, Some(no_tail()))),
            })
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A generated MIME tree gives the BODYSTRUCTURE it was built from, and that
    /// BODYSTRUCTURE survives the encoder and the response parser.
    #[test]
    fn generated_trees_round_trip(g in gen_tree()) {
        let mut raw = b"MIME-Version: 1.0\r\n".to_vec();
        render(&g, &mut 0, &mut raw);
        let m = Message::parse(&raw);
        let got = m.body_structure(true);
        prop_assert_eq!(&got, &expect(&g, &mut 0), "{}", String::from_utf8_lossy(&raw));
        for extended in [false, true] {
            let bs = m.body_structure(extended);
            let item = if extended { FetchItem::BodyStructure(Box::new(bs)) } else { FetchItem::Body(Box::new(bs)) };
            let resp = Response::Data(Data::Fetch {
                seq: NonZeroU32::new(1).unwrap(),
                items: Vec1::try_from(vec![item, FetchItem::Envelope(Box::new(m.envelope()))]).unwrap(),
            });
            let bytes = resp.to_bytes();
            let (rest, back) = Response::decode(&bytes).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert!(rest.is_empty());
            prop_assert_eq!(back, resp);
        }
    }

    /// Any octets parse; every structure and section comes out without panicking, every range
    /// stays inside the message, and what is encoded parses back.
    #[test]
    fn arbitrary_bytes_never_panic(
        head in proptest::collection::vec(any::<u8>(), 0..300),
        path in proptest::collection::vec(1u32..4, 0..4),
    ) {
        let mut wrapped = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n".to_vec();
        wrapped.extend_from_slice(&head);
        wrapped.extend_from_slice(b"\r\n--b--\r\n");
        for raw in [&head[..], &wrapped[..]] {
            let m = Message::parse(raw);
            check_ranges(m.root(), raw.len())?;
            for extended in [false, true] {
                let item = FetchItem::BodyStructure(Box::new(m.body_structure(extended)));
                let resp = Response::Data(Data::Fetch {
                    seq: NonZeroU32::new(1).unwrap(),
                    items: Vec1::try_from(vec![item, FetchItem::Envelope(Box::new(m.envelope()))]).unwrap(),
                });
                let bytes = resp.to_bytes();
                prop_assert!(Response::decode(&bytes).is_ok());
            }
            for text in [None, Some(SectionText::Mime), Some(SectionText::Header), Some(SectionText::Text),
                         Some(SectionText::HeaderFields(Vec1::one("from".try_into().unwrap())))] {
                if path.is_empty() && text == Some(SectionText::Mime) {
                    continue;
                }
                if let Some(c) = m.section(&sec(&path, text)) {
                    let out = c.to_imap_bytes(raw);
                    prop_assert!(!out.contains(&0));
                }
            }
        }
    }

    /// Address lists of any shape parse and write back without panicking.
    #[test]
    fn arbitrary_address_lists_never_panic(v in proptest::collection::vec(any::<u8>(), 0..120)) {
        let a = address::parse(&v);
        let _ = address::write(&a);
    }
}

fn check_ranges(p: &Part, len: usize) -> Result<(), TestCaseError> {
    prop_assert!(p.header().start <= p.header().end);
    prop_assert!(p.header().end <= p.body().start);
    prop_assert!(p.body().start <= p.body().end && p.body().end <= len);
    for c in p.children() {
        prop_assert!(c.header().start >= p.body().start && c.body().end <= p.body().end);
        check_ranges(c, len)?;
    }
    Ok(())
}
