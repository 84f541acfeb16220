use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::encode::{DotStuffer, Encode};
use crate::types::{
    AuthReply, Capability, CapabilityTag, Response, ResponseCode, ScanListing, Status, Text, Uid,
    UidListing,
};

fn atom_s() -> impl Strategy<Value = Atom> {
    "[!-~]{1,20}".prop_map(|s| Atom::new(s).unwrap())
}

fn msg() -> impl Strategy<Value = MessageNumber> {
    (1u32..=u32::MAX).prop_map(|n| MessageNumber::new(n).unwrap())
}

pub(crate) fn command_s() -> impl Strategy<Value = Command> {
    prop_oneof![
        atom_s().prop_map(Command::User),
        "[ -~]{0,30}".prop_map(|p| Command::Pass(Password::new(p.into_bytes()).unwrap())),
        (atom_s(), "[0-9a-f]{32}").prop_map(|(name, d)| Command::Apop {
            name,
            digest: Atom::new(d).unwrap()
        }),
        Just(Command::Stat),
        proptest::option::of(msg()).prop_map(Command::List),
        msg().prop_map(Command::Retr),
        msg().prop_map(Command::Dele),
        Just(Command::Noop),
        Just(Command::Rset),
        Just(Command::Quit),
        (msg(), any::<u32>()).prop_map(|(message, lines)| Command::Top { message, lines }),
        proptest::option::of(msg()).prop_map(Command::Uidl),
        Just(Command::Capa),
        Just(Command::Stls),
        (
            "[A-Z0-9-]{1,20}",
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..60))
        )
            .prop_map(|(m, ir)| Command::Auth {
                mechanism: Atom::new(m).unwrap(),
                initial_response: ir.map(Secret::new),
            }),
    ]
}

fn code_s() -> impl Strategy<Value = ResponseCode> {
    prop_oneof![
        Just(ResponseCode::InUse),
        Just(ResponseCode::LoginDelay),
        Just(ResponseCode::SysTemp),
        Just(ResponseCode::SysPerm),
        Just(ResponseCode::Auth),
        "[A-Z-]{1,8}(/[A-Z0-9]{1,8}){0,2}".prop_map(|s| ResponseCode::new(&s).unwrap()),
    ]
}

pub(crate) fn response_s() -> impl Strategy<Value = Response> {
    (
        prop_oneof![Just(Status::Ok), Just(Status::Err)],
        proptest::option::of(code_s()),
        "[ -~]{0,60}",
    )
        .prop_filter("text that starts with [ reads as a code", |(_, c, t)| {
            c.is_some() || !t.starts_with('[')
        })
        .prop_map(|(status, code, text)| Response {
            status,
            code,
            text: Text::new(text).unwrap(),
        })
}

fn capability_s() -> impl Strategy<Value = Capability> {
    prop_oneof![
        Just(Capability::Top),
        Just(Capability::User),
        proptest::collection::vec("[A-Z0-9-]{1,12}".prop_map(|s| Atom::new(s).unwrap()), 0..4)
            .prop_map(Capability::Sasl),
        Just(Capability::RespCodes),
        (any::<u32>(), any::<bool>())
            .prop_map(|(seconds, per_user)| Capability::LoginDelay { seconds, per_user }),
        Just(Capability::Pipelining),
        (proptest::option::of(any::<u32>()), any::<bool>())
            .prop_map(|(days, per_user)| Capability::Expire { days, per_user }),
        Just(Capability::Uidl),
        "[ -~]{0,40}".prop_map(|t| Capability::Implementation(Text::new(t).unwrap())),
        Just(Capability::Stls),
        Just(Capability::AuthRespCode),
        ("[!-~]{1,12}", proptest::collection::vec(atom_s(), 0..3)).prop_filter_map(
            "a tag outside RFC 2449 §6",
            |(t, params)| {
                // Tags the parser reads as a known capability are round-tripped above.
                let tag = CapabilityTag::new(t.to_ascii_uppercase()).ok()?;
                let known = [
                    "TOP",
                    "USER",
                    "SASL",
                    "RESP-CODES",
                    "LOGIN-DELAY",
                    "PIPELINING",
                    "EXPIRE",
                    "UIDL",
                    "IMPLEMENTATION",
                    "STLS",
                    "AUTH-RESP-CODE",
                ];
                (!known.contains(&tag.as_str())).then_some(Capability::Other { tag, params })
            }
        ),
    ]
}

/// What a message looks like after stuffing and unstuffing: CRLF line ends, a final line end.
fn normalise(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &b) in m.iter().enumerate() {
        if b == b'\n' && (i == 0 || m[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        if out.ends_with(b"\r") {
            out.push(b'\n');
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn command_round_trips(c in command_s()) {
        let bytes = c.to_bytes();
        let (rest, parsed) = command_with_limit(&bytes, 4096).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(parsed, c);
    }

    #[test]
    fn command_split_anywhere(c in command_s(), cut in any::<prop::sample::Index>()) {
        let bytes = c.to_bytes();
        let cut = cut.index(bytes.len());
        prop_assert_eq!(command_with_limit(&bytes[..cut], 4096), Err(DecodeError::Incomplete));
        let mut both = bytes.clone();
        both.extend_from_slice(b"NOOP\r\n");
        let (rest, parsed) = command_with_limit(&both, 4096).unwrap();
        prop_assert_eq!(rest, b"NOOP\r\n");
        prop_assert_eq!(parsed, c);
    }

    #[test]
    fn response_round_trips(r in response_s(), cut in any::<prop::sample::Index>()) {
        let bytes = r.to_bytes();
        let (rest, parsed) = response(&bytes, 4096).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(&parsed, &r);
        let cut = cut.index(bytes.len());
        prop_assert_eq!(response(&bytes[..cut], 4096), Err(DecodeError::Incomplete));
        let (_, reply) = auth_reply(&bytes, 4096).unwrap();
        prop_assert_eq!(reply, AuthReply::Done(r));
    }

    #[test]
    fn capability_round_trips(c in capability_s()) {
        let bytes = c.to_bytes();
        let (rest, parsed) = capability(&bytes, 4096).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(parsed, Some(c));
    }

    #[test]
    fn continuation_round_trips(d in proptest::collection::vec(any::<u8>(), 0..100)) {
        let r = AuthReply::Continue(Secret::new(d));
        let bytes = r.to_bytes();
        prop_assert_eq!(auth_reply(&bytes, 4096).unwrap().1, r);
        let s = SaslResponse::Data(Secret::new(bytes.clone()));
        let sb = s.to_bytes();
        prop_assert_eq!(sasl_response(&sb, 4096).unwrap().1, s);
    }

    #[test]
    fn listings_round_trip(n in msg(), size in any::<u64>(), uid in "[!-~]{1,70}") {
        let s = ScanListing { message: n, size };
        let b = s.to_bytes();
        let (_, MultiLine::Line(l)) = multiline_line(&b, 512).unwrap() else { panic!() };
        prop_assert_eq!(scan_listing_line(l), Some(s));
        let u = UidListing { message: n, uid: Uid::new(uid).unwrap() };
        let b = u.to_bytes();
        let (_, MultiLine::Line(l)) = multiline_line(&b, 512).unwrap() else { panic!() };
        prop_assert_eq!(uid_listing_line(l), Some(u));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = command(&data);
        let _ = command_with_limit(&data, 8);
        let _ = response(&data, 512);
        let _ = capability(&data, 512);
        let _ = auth_reply(&data, 512);
        let _ = sasl_response(&data, 512);
        let _ = multiline_line(&data, 512);
        let _ = scan_listing_line(&data);
        let _ = uid_listing_line(&data);
        let mut out = BytesMut::new();
        DotUnstuffer::new().decode(&data, &mut out);
    }

    #[test]
    fn arbitrary_lines_never_panic(data in "[ -~]{0,80}") {
        let line = format!("{data}\r\n");
        let _ = command(line.as_bytes());
        let _ = response(line.as_bytes(), 512);
        let _ = capability(line.as_bytes(), 512);
        for kw in ["USER ", "PASS ", "APOP ", "LIST ", "TOP ", "AUTH ", "+OK ", "-ERR [", "SASL ", "+ "] {
            let l = format!("{kw}{data}\r\n");
            let _ = command(l.as_bytes());
            let _ = response(l.as_bytes(), 512);
            let _ = capability(l.as_bytes(), 512);
            let _ = auth_reply(l.as_bytes(), 512);
        }
    }

    #[test]
    fn dot_stuffing_round_trips(
        m in proptest::collection::vec(prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), Just(b'a')], 0..80),
        chunk in 1usize..9,
    ) {
        let mut s = DotStuffer::new();
        let mut wire = BytesMut::new();
        for c in m.chunks(chunk) {
            s.feed(c, &mut wire);
        }
        s.finish(&mut wire);
        prop_assert_eq!(&wire[..], &DotStuffer::stuff_all(&m, None)[..]);
        wire.extend_from_slice(b"+OK next\r\n");
        let mut d = DotUnstuffer::new();
        let mut out = BytesMut::new();
        let mut used = 0;
        for c in wire.chunks(chunk) {
            used += d.decode(c, &mut out);
            if d.is_done() { break; }
        }
        prop_assert!(d.is_done());
        prop_assert_eq!(&wire[used..], b"+OK next\r\n");
        // A bare CR followed by a line end reads back as CRLF, which is what normalise gives.
        prop_assert_eq!(out.to_vec(), normalise(&m));
    }
}

#[test]
fn rfc1939_examples() {
    // RFC 1939 §7 APOP example.
    let (_, c) = command(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n").unwrap();
    assert_eq!(
        c,
        Command::Apop {
            name: Atom::new("mrose").unwrap(),
            digest: Atom::new("c4c9334bac560ecc979e58001b3e22fb").unwrap()
        }
    );
    let (_, g) = response(
        b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n",
        512,
    )
    .unwrap();
    assert_eq!(
        g.apop_timestamp(),
        Some("<1896.697170952@dbc.mtview.ca.us>")
    );
    let (_, s) = response(b"+OK 2 320\r\n", 512).unwrap();
    assert_eq!(s.stat().unwrap().count, 2);
    assert_eq!(s.stat().unwrap().size, 320);
    let (_, c) = command(b"top 10 0\r\n").unwrap();
    assert_eq!(
        c,
        Command::Top {
            message: MessageNumber::new(10).unwrap(),
            lines: 0
        }
    );
    assert!(matches!(
        command(b"RETR 0\r\n"),
        Err(DecodeError::Malformed {
            kind: MalformedKind::Arguments,
            skip: 8,
            ..
        })
    ));
    assert!(matches!(
        command(b"LIST 1 2\r\n"),
        Err(DecodeError::Malformed {
            kind: MalformedKind::Arguments,
            ..
        })
    ));
    assert!(matches!(
        command(b"XYZZY\r\n"),
        Err(DecodeError::Malformed {
            kind: MalformedKind::UnknownCommand,
            ..
        })
    ));
    // RFC 2449 §8.1.1
    let (_, r) = response(
        b"-ERR [IN-USE] Do you have another POP session running?\r\n",
        512,
    )
    .unwrap();
    assert_eq!(r.code, Some(ResponseCode::InUse));
    assert_eq!(r.text.as_str(), "Do you have another POP session running?");
    // RFC 5034 §6 example: AUTH with an initial response.
    let (_, c) = command(b"AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\n").unwrap();
    let Command::Auth {
        mechanism,
        initial_response: Some(ir),
    } = c
    else {
        panic!()
    };
    assert_eq!(mechanism.as_str(), "PLAIN");
    assert_eq!(ir.expose(), b"test\0test\0test");
    assert_eq!(
        sasl_response(b"*\r\n", 512).unwrap().1,
        SaslResponse::Cancel
    );
}

#[test]
fn secrets_are_redacted_in_errors() {
    let Err(DecodeError::Malformed { excerpt, .. }) = command(b"PASS\r\n") else {
        panic!()
    };
    assert_eq!(excerpt.as_bytes(), b"PASS <redacted>");
    let Err(DecodeError::Malformed { excerpt, .. }) = command(b"AUTH PLAIN !!!\r\n") else {
        panic!()
    };
    assert_eq!(excerpt.as_bytes(), b"AUTH <redacted>");
    let mut long = b"pass ".to_vec();
    long.extend_from_slice(&[b's'; 600]);
    let Err(DecodeError::Malformed { excerpt, .. }) = command(&long) else {
        panic!()
    };
    assert_eq!(excerpt.as_bytes(), b"pass <redacted>");
    let Err(DecodeError::Malformed { excerpt, .. }) = sasl_response(b"!!secret!!\r\n", 512) else {
        panic!()
    };
    assert_eq!(excerpt.as_bytes(), b"<redacted>");
    let Err(DecodeError::Malformed { excerpt, .. }) = command(b"BOGUS arg\r\n") else {
        panic!()
    };
    assert_eq!(excerpt.to_string(), "BOGUS arg");
}

#[test]
fn long_lines_are_refused_without_a_line_end() {
    let long = vec![b'a'; 600];
    let Err(DecodeError::Malformed {
        kind,
        skip,
        excerpt,
    }) = command(&long)
    else {
        panic!()
    };
    assert_eq!(
        kind,
        MalformedKind::LineTooLong {
            limit: DEFAULT_MAX_COMMAND_LINE
        }
    );
    // No LF yet: everything buffered goes, and the rest of the line with it when it comes.
    assert_eq!(skip, 600);
    assert_eq!(excerpt.as_bytes().len(), mailwright_sansio::EXCERPT_LEN);
    let mut ended = long.clone();
    ended.extend_from_slice(b"\r\nNOOP\r\n");
    let Err(DecodeError::Malformed { skip, .. }) = command(&ended) else {
        panic!()
    };
    assert_eq!(&ended[skip..], b"NOOP\r\n");
    assert_eq!(skip_line(b"aaa\r\nNOOP\r\n"), Some(5));
}

#[test]
fn a_capability_never_reads_as_the_end_of_the_list() {
    // Found by fuzzing pop3_response: ". " read as a capability tagged "." that encoded as ".",
    // the end of the list. RFC 2449 §9: `cchar = %x21-2D / %x2F-7F`, no "." in a tag.
    for line in [&b". \r\n"[..], b".l\r\n", b"X.Y\r\n", b".. x\r\n"] {
        assert!(
            matches!(
                capability(line, 512),
                Err(DecodeError::Malformed {
                    kind: MalformedKind::Capability,
                    ..
                })
            ),
            "{line:?}"
        );
    }
    assert!(CapabilityTag::new(".").is_err());
    assert!(CapabilityTag::new("X-A.B").is_err());
    assert_eq!(capability(b".\r\n", 512).unwrap().1, None);
    assert_eq!(
        capability(b"x-foo a.b\r\n", 512).unwrap().1,
        Some(Capability::Other {
            tag: CapabilityTag::new("X-FOO").unwrap(),
            params: vec![Atom::new("a.b").unwrap()]
        })
    );
}

#[test]
fn capa_example_from_rfc2449() {
    let body = b"TOP\r\nUSER\r\nSASL CRAM-MD5 KERBEROS_V4\r\nRESP-CODES\r\nLOGIN-DELAY 900\r\nPIPELINING\r\nEXPIRE 60\r\nUIDL\r\nIMPLEMENTATION Shlemazle-Plotz-v302\r\n.\r\n";
    let mut input = &body[..];
    let mut caps = Vec::new();
    loop {
        let (rest, c) = capability(input, 512).unwrap();
        input = rest;
        match c {
            Some(c) => caps.push(c),
            None => break,
        }
    }
    assert_eq!(caps.len(), 9);
    assert_eq!(
        caps[4],
        Capability::LoginDelay {
            seconds: 900,
            per_user: false
        }
    );
    assert_eq!(
        caps[6],
        Capability::Expire {
            days: Some(60),
            per_user: false
        }
    );
    assert_eq!(
        caps[8],
        Capability::Implementation(Text::new("Shlemazle-Plotz-v302").unwrap())
    );
}
