//! Property tests: encode -> parse round trips, arbitrary bytes never panic, prefixes are
//! incomplete, plus known-answer commands from the RFCs.

use mailwright_smtp_proto::parse::{command, reply};
use mailwright_smtp_proto::*;
use proptest::prelude::*;

fn domain() -> impl Strategy<Value = Domain> {
    prop_oneof![
        "[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?(\\.[a-z0-9]([a-z0-9_-]{0,6}[a-z0-9])?){0,3}",
        Just("例子.广告".to_owned()),
    ]
    .prop_map(|s| Domain::try_from(s.as_str()).unwrap())
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        4 => domain().prop_map(Host::Domain),
        1 => any::<[u8; 4]>().prop_map(|a| Host::Literal(AddressLiteral::Ipv4(a.into()))),
        1 => any::<[u16; 8]>().prop_map(|a| Host::Literal(AddressLiteral::Ipv6(a.into()))),
        1 => ("x-[a-z]{1,4}", "[!-Z^-~]{1,8}").prop_map(|(tag, content)| Host::Literal(AddressLiteral::general(tag, content))),
    ]
}

fn mailbox() -> impl Strategy<Value = Mailbox> {
    let local = prop_oneof![
        "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,8}(\\.[a-z0-9+-]{1,5}){0,2}",
        "[ -~]{0,10}",
        Just("用户".to_owned()),
    ];
    (local, host()).prop_map(|(l, host)| Mailbox {
        local_part: LocalPart::try_from(l.as_str()).unwrap(),
        host,
    })
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9@.<>_-][a-zA-Z0-9@.<> _-]{0,10}[a-zA-Z0-9@.<>_-]|[a-zA-Z]"
}

fn mail_params() -> impl Strategy<Value = MailParameters> {
    (
        proptest::option::of(any::<u64>()),
        proptest::option::of(prop_oneof![
            Just(BodyType::SevenBit),
            Just(BodyType::EightBitMime),
            Just(BodyType::BinaryMime)
        ]),
        any::<bool>(),
        proptest::option::of(prop_oneof![Just(Ret::Full), Just(Ret::Headers)]),
        proptest::option::of("[ -~é]{1,12}"),
        proptest::option::of(prop_oneof![
            Just(MailAuth::Unknown),
            "[ -~]{1,12}".prop_map(MailAuth::Mailbox)
        ]),
        any::<bool>(),
        proptest::option::of(("X-[A-Z]{1,5}", proptest::option::of("[!-<>-~]{1,6}"))),
    )
        .prop_map(
            |(size, body, smtputf8, ret, envid, auth, requiretls, other)| MailParameters {
                size,
                body,
                smtputf8,
                ret,
                envid,
                auth,
                requiretls,
                other: other
                    .map(|(keyword, value)| vec![Parameter { keyword, value }])
                    .unwrap_or_default(),
            },
        )
}

fn rcpt_params() -> impl Strategy<Value = RcptParameters> {
    let notify = prop_oneof![
        Just(Notify::Never),
        (any::<bool>(), any::<bool>(), any::<bool>())
            .prop_filter("non-empty", |(a, b, c)| *a || *b || *c)
            .prop_map(|(success, failure, delay)| Notify::On {
                success,
                failure,
                delay
            }),
    ];
    (
        proptest::option::of(notify),
        proptest::option::of(("rfc822|utf-8", "[ -~]{0,12}")),
    )
        .prop_map(|(notify, orcpt)| RcptParameters {
            notify,
            orcpt: orcpt.map(|(addr_type, address)| OriginalRecipient { addr_type, address }),
            other: vec![],
        })
}

fn command_strategy() -> impl Strategy<Value = Command> {
    prop_oneof![
        host().prop_map(Command::Ehlo),
        host().prop_map(Command::Helo),
        host().prop_map(Command::Lhlo),
        (
            prop_oneof![
                Just(ReversePath::Null),
                mailbox().prop_map(ReversePath::Mailbox)
            ],
            mail_params()
        )
            .prop_map(|(from, params)| Command::Mail {
                from,
                params: params.into()
            }),
        (
            prop_oneof![
                Just(ForwardPath::Postmaster),
                mailbox().prop_map(ForwardPath::Mailbox)
            ],
            rcpt_params()
        )
            .prop_map(|(to, params)| Command::Rcpt {
                to,
                params: params.into()
            }),
        Just(Command::Data),
        (any::<u64>(), any::<bool>()).prop_map(|(size, last)| Command::Bdat { size, last }),
        Just(Command::Rset),
        proptest::option::of(text()).prop_map(Command::Noop),
        Just(Command::Quit),
        text().prop_map(Command::Vrfy),
        text().prop_map(Command::Expn),
        proptest::option::of(text()).prop_map(Command::Help),
        Just(Command::StartTls),
        (
            "[A-Z0-9_-]{1,20}",
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..24))
        )
            .prop_map(|(m, initial_response)| Command::Auth {
                mechanism: Mechanism::try_from(m.as_str()).unwrap(),
                initial_response
            }),
    ]
}

fn reply_strategy() -> impl Strategy<Value = Reply> {
    (
        2u16..=5,
        0u16..=5,
        0u16..=9,
        any::<bool>(),
        0u16..=20,
        0u16..=999,
        proptest::collection::vec("([a-zA-Z][ -~]{0,20})?", 1..4),
    )
        .prop_map(|(a, b, c, enh, s, d, lines)| {
            let code = ReplyCode::new(a * 100 + b * 10 + c).unwrap();
            let e = (enh && a != 3).then(|| EnhancedCode::new(a as u8, s, d).unwrap());
            Reply::from_parts(code, e, lines).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn command_round_trip(c in command_strategy()) {
        let wire = c.to_bytes();
        let (rest, back) = command(&wire).unwrap_or_else(|e| panic!("{e} {:?}", String::from_utf8_lossy(&wire)));
        prop_assert!(rest.is_empty());
        prop_assert_eq!(&back, &c);
        // Every strict prefix is incomplete, never an error.
        for cut in 0..wire.len() {
            prop_assert_eq!(command(&wire[..cut]), Err(DecodeError::Incomplete));
        }
    }

    #[test]
    fn reply_round_trip(r in reply_strategy()) {
        let wire = r.to_bytes();
        let (rest, back) = reply(&wire).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(&back, &r);
        for cut in 0..wire.len() {
            prop_assert_eq!(reply(&wire[..cut]), Err(DecodeError::Incomplete));
        }
    }

    /// Reply text is kept octet for octet, UTF-8 or not (Latin-1 servers exist).
    #[test]
    fn reply_octets_round_trip(
        code in 200u16..=559,
        lines in proptest::collection::vec(
            proptest::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..=0x7e, 0x80u8..=0xff], 0..30),
            1..4,
        ),
    ) {
        prop_assume!(ReplyCode::new(code).is_ok());
        // Text that starts like an enhanced code would be read as one.
        prop_assume!(lines[0].first().is_none_or(|c| !c.is_ascii_digit()));
        let r = Reply::from_parts(ReplyCode::new(code).unwrap(), None, lines.clone()).unwrap();
        let wire = r.to_bytes();
        let (rest, back) = reply(&wire).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(back.raw_lines(), &lines[..]);
        prop_assert_eq!(&back, &r);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = command(&b);
        let _ = reply(&b);
    }

    /// `Display` writes the wire form, and `FromStr` reads it back; a mailbox also reads bare.
    #[test]
    fn addresses_parse_back_from_their_display(m in mailbox(), null: bool, postmaster: bool) {
        prop_assert_eq!(&m.to_string().parse::<Mailbox>().unwrap(), &m);
        let from = if null { ReversePath::Null } else { ReversePath::Mailbox(m.clone()) };
        prop_assert_eq!(&from.to_string().parse::<ReversePath>().unwrap(), &from);
        let to = if postmaster { ForwardPath::Postmaster } else { ForwardPath::Mailbox(m.clone()) };
        prop_assert_eq!(&to.to_string().parse::<ForwardPath>().unwrap(), &to);
        prop_assert_eq!(m.to_string().parse::<ForwardPath>().unwrap(), ForwardPath::Mailbox(m.clone()));
        let envelope = Envelope::parse(&from.to_string(), [to.to_string(), m.to_string()]).unwrap();
        prop_assert_eq!(envelope, Envelope::new(from, [to, ForwardPath::Mailbox(m)]));
    }

    #[test]
    fn address_text_never_panics(s in "\\PC{0,60}", t in "<?[a-z@.<>\\[\\]:\"]{0,20}>?") {
        for s in [&s, &t] {
            let _ = s.parse::<Mailbox>();
            let _ = s.parse::<ReversePath>();
            let _ = s.parse::<ForwardPath>();
            let _ = s.parse::<Domain>();
            let _ = s.parse::<Host>();
            let _ = Envelope::parse(s, [s]);
        }
    }

    #[test]
    fn near_commands_never_panic(s in "(MAIL FROM:|RCPT TO:|EHLO |AUTH |BDAT )[ -~]{0,40}\r\n") {
        let _ = command(s.as_bytes());
    }
}

#[test]
fn known_commands() {
    // RFC 5321 §D.1 and friends.
    let c = command(b"MAIL FROM:<Smith@bar.com>\r\n").unwrap().1;
    assert!(matches!(
        c,
        Command::Mail {
            from: ReversePath::Mailbox(_),
            ..
        }
    ));
    let c = command(b"mail from: <> SIZE=1000 BODY=8bitmime smtputf8\r\n")
        .unwrap()
        .1;
    let Command::Mail {
        from: ReversePath::Null,
        params,
    } = c
    else {
        panic!()
    };
    assert_eq!(params.size, Some(1000));
    assert_eq!(params.body, Some(BodyType::EightBitMime));
    assert!(params.smtputf8);
    // RFC 3461 §6 example.
    let c = command(
        b"RCPT TO:<Bob@Example.COM> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+40Example.COM\r\n",
    )
    .unwrap()
    .1;
    let Command::Rcpt { params, .. } = c else {
        panic!()
    };
    assert_eq!(params.orcpt.as_ref().unwrap().address, "Bob@Example.COM");
    assert_eq!(
        params.notify,
        Some(Notify::On {
            success: true,
            failure: true,
            delay: false
        })
    );
    let c = command(b"MAIL FROM:<e=mc2@example.com> AUTH=e+3Dmc2@example.com\r\n")
        .unwrap()
        .1;
    let Command::Mail { params, .. } = c else {
        panic!()
    };
    assert_eq!(
        params.auth,
        Some(MailAuth::Mailbox("e=mc2@example.com".into()))
    );
    assert_eq!(
        command(b"BDAT 86 LAST\r\n").unwrap().1,
        Command::Bdat {
            size: 86,
            last: true
        }
    );
    assert_eq!(
        command(b"AUTH PLAIN AHRlc3QAMTIzNA==\r\n").unwrap().1,
        Command::Auth {
            mechanism: Mechanism::plain(),
            initial_response: Some(b"\0test\x001234".to_vec())
        }
    );
    assert!(matches!(
        command(b"FOO\r\n"),
        Err(DecodeError::Malformed {
            kind: MalformedKind::UnknownCommand,
            skip: 5,
            ..
        })
    ));
    // A keyword given twice, in any case, known or not.
    for line in [
        &b"MAIL FROM:<a@b> SIZE=1 SIZE=2\r\n"[..],
        b"MAIL FROM:<a@b> smtputf8 SMTPUTF8\r\n",
        b"MAIL FROM:<a@b> BODY=7BIT SIZE=1 body=8BITMIME\r\n",
        b"MAIL FROM:<a@b> X-A=1 SIZE=2 x-a\r\n",
        b"RCPT TO:<a@b> NOTIFY=NEVER notify=NEVER\r\n",
        b"RCPT TO:<a@b> ORCPT=rfc822;a@b X-Y ORCPT=rfc822;c@d\r\n",
        b"RCPT TO:<a@b> X-Y=1 X-Z x-y=2\r\n",
    ] {
        assert!(
            matches!(
                command(line),
                Err(DecodeError::Malformed {
                    kind: MalformedKind::Parameter,
                    ..
                })
            ),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    assert!(command(b"MAIL FROM:<a@b> X-A=1 X-B=1 SIZE=2 SMTPUTF8\r\n").is_ok());
    assert!(matches!(
        command(b"RCPT TO:a@b\r\n"),
        Err(DecodeError::Malformed {
            kind: MalformedKind::Syntax,
            ..
        })
    ));
    assert!(matches!(
        command(b"DATA x\r\n"),
        Err(DecodeError::Malformed {
            kind: MalformedKind::Syntax,
            ..
        })
    ));
    // Secrets are redacted from the excerpt.
    let Err(DecodeError::Malformed { excerpt, .. }) = command(b"AUTH PLAIN !!!secret\r\n") else {
        panic!()
    };
    assert_eq!(excerpt.as_bytes(), b"AUTH <redacted>");
}

#[test]
fn ehlo_response_round_trip() {
    let e = EhloResponse {
        domain: "mx.example.com".into(),
        greeting: Some("at your service".into()),
        capabilities: vec![
            Capability::Size(Some(1000)),
            Capability::Pipelining,
            Capability::Auth(vec![Mechanism::plain(), Mechanism::login()]),
            Capability::Other {
                keyword: "X-FOO".into(),
                params: vec!["a".into()],
            },
        ],
    };
    let wire = e.to_reply().to_bytes();
    assert!(wire.starts_with(b"250-mx.example.com at your service\r\n250-SIZE 1000\r\n"));
    let (_, r) = reply(&wire).unwrap();
    assert_eq!(EhloResponse::from_reply(&r).unwrap(), e);
}
