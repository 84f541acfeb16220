//! Round trips of every command and response, and arbitrary bytes never panic.

use mailwright_milter::{
    Actions, Address, Command, OptNeg, Protocol, Response, Stage, encode, parse,
};
use proptest::prelude::*;

const MAX: usize = 1 << 20;

fn text() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8..=255, 0..40)
}

fn reply_text() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(b'4'), Just(b'5')],
        0u8..10,
        0u8..10,
        text(),
    )
        .prop_map(|(a, b, c, t)| {
            let mut v = vec![a, b'0' + b, b'0' + c];
            if !t.is_empty() {
                v.push(b' ');
                v.extend(t);
            }
            v
        })
}

fn optneg() -> impl Strategy<Value = OptNeg> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        proptest::collection::vec((0usize..7, text()), 0..4),
    )
        .prop_map(|(version, a, p, m)| OptNeg {
            version,
            actions: Actions(a),
            protocol: Protocol(p),
            macros: m.into_iter().map(|(s, t)| (Stage::ALL[s], t)).collect(),
        })
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        Just(Address::Unknown),
        (any::<u16>(), text()).prop_map(|(port, addr)| Address::Inet4 { port, addr }),
        (any::<u16>(), text()).prop_map(|(port, addr)| Address::Inet6 { port, addr }),
        text().prop_map(|path| Address::Unix { path }),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        optneg().prop_map(Command::OptNeg),
        (
            any::<u8>(),
            proptest::collection::vec((text(), text()), 0..4)
        )
            .prop_map(|(code, macros)| Command::Macro { code, macros }),
        (text(), address()).prop_map(|(hostname, address)| Command::Connect { hostname, address }),
        text().prop_map(Command::Helo),
        proptest::collection::vec(text(), 0..4).prop_map(Command::Mail),
        proptest::collection::vec(text(), 0..4).prop_map(Command::Rcpt),
        Just(Command::Data),
        (text(), text()).prop_map(|(name, value)| Command::Header { name, value }),
        Just(Command::EndOfHeaders),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Command::Body),
        Just(Command::EndOfMessage),
        Just(Command::Abort),
        Just(Command::Quit),
        Just(Command::QuitNewConnection),
        text().prop_map(Command::Unknown),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        optneg().prop_map(Response::OptNeg),
        Just(Response::Accept),
        Just(Response::Continue),
        Just(Response::Discard),
        Just(Response::Reject),
        Just(Response::Tempfail),
        reply_text().prop_map(Response::ReplyCode),
        Just(Response::Skip),
        Just(Response::Progress),
        Just(Response::ConnectionFail),
        Just(Response::Shutdown),
        text().prop_map(Response::Quarantine),
        (text(), text()).prop_map(|(name, value)| Response::AddHeader { name, value }),
        (any::<u32>(), text(), text()).prop_map(|(index, name, value)| Response::InsertHeader {
            index,
            name,
            value
        }),
        (any::<u32>(), text(), text()).prop_map(|(index, name, value)| Response::ChangeHeader {
            index,
            name,
            value
        }),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Response::ReplaceBody),
        text().prop_map(Response::AddRcpt),
        (text(), text()).prop_map(|(rcpt, args)| Response::AddRcptPar { rcpt, args }),
        text().prop_map(Response::DeleteRcpt),
        (text(), proptest::option::of(text()))
            .prop_map(|(from, args)| Response::ChangeFrom { from, args }),
    ]
}

proptest! {
    #[test]
    fn commands_round_trip(cmds in proptest::collection::vec(command(), 1..6), cut in any::<usize>()) {
        let mut wire = Vec::new();
        for c in &cmds {
            encode::command(c, MAX, &mut wire).unwrap();
        }
        // Any strict prefix is incomplete, never an error.
        let cut = cut % wire.len();
        let mut rest = &wire[..];
        let mut decoded = Vec::new();
        let mut prefix = &wire[..cut];
        loop {
            match parse::command(prefix, MAX) {
                Ok((used, _)) => prefix = &prefix[used..],
                Err(e) => { prop_assert!(e.is_incomplete()); break; }
            }
        }
        while !rest.is_empty() {
            let (used, c) = parse::command(rest, MAX).unwrap();
            decoded.push(c);
            rest = &rest[used..];
        }
        prop_assert_eq!(decoded, cmds);
    }

    #[test]
    fn responses_round_trip(resps in proptest::collection::vec(response(), 1..6)) {
        let mut wire = Vec::new();
        for r in &resps {
            encode::response(r, MAX, &mut wire).unwrap();
        }
        let mut rest = &wire[..];
        let mut decoded = Vec::new();
        while !rest.is_empty() {
            let (used, r) = parse::response(rest, MAX).unwrap();
            decoded.push(r);
            rest = &rest[used..];
        }
        prop_assert_eq!(decoded, resps);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300), max in 0usize..400) {
        let used = [parse::command(&data, max).map(|(u, _)| u),
                    parse::response(&data, max).map(|(u, _)| u)];
        for used in used.into_iter().flatten() {
            prop_assert!(used <= data.len());
        }
        // What decodes re-encodes to what decodes the same.
        if let Ok((_, c)) = parse::command(&data, MAX) {
            let mut wire = Vec::new();
            encode::command(&c, MAX, &mut wire).unwrap();
            prop_assert_eq!(parse::command(&wire, MAX).unwrap().1, c);
        }
        if let Ok((_, r)) = parse::response(&data, MAX) {
            let mut wire = Vec::new();
            encode::response(&r, MAX, &mut wire).unwrap();
            prop_assert_eq!(parse::response(&wire, MAX).unwrap().1, r);
        }
    }

    #[test]
    fn framed_arbitrary_bytes_never_panic(code in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..100)) {
        let mut wire = u32::try_from(data.len() + 1).unwrap().to_be_bytes().to_vec();
        wire.push(code);
        wire.extend(&data);
        let _ = parse::command(&wire, MAX);
        let _ = parse::response(&wire, MAX);
    }
}

#[test]
fn frame_limit_is_checked_before_reading_the_frame() {
    let wire = [0, 0x10, 0, 0, b'B'];
    let err = parse::command(&wire, 1024).unwrap_err();
    assert!(!err.is_incomplete());
    assert!(parse::command(&wire, 1 << 21).unwrap_err().is_incomplete());
}

#[test]
fn nul_in_text_is_refused() {
    let mut out = vec![1, 2];
    assert!(encode::command(&Command::Helo(b"a\0b".to_vec()), MAX, &mut out).is_err());
    assert!(encode::response(&Response::ReplyCode(b"250 ok".to_vec()), MAX, &mut out).is_err());
    assert_eq!(out, [1, 2]);
}

#[test]
fn known_frames() {
    // spamass-milter's answer to GTUBE in reject mode, as libmilter frames it.
    let text = b"550 5.7.1 Blocked by SpamAssassin";
    let mut wire = u32::try_from(text.len() + 2)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    wire.push(b'y');
    wire.extend(text);
    wire.push(0);
    assert_eq!(
        parse::response(&wire, MAX).unwrap(),
        (wire.len(), Response::ReplyCode(text.to_vec()))
    );
    // The MTA's connect: host, family '4', port, address.
    let mut out = Vec::new();
    encode::command(
        &Command::Connect {
            hostname: b"mx.example".to_vec(),
            address: Address::Inet4 {
                port: 25,
                addr: b"192.0.2.1".to_vec(),
            },
        },
        MAX,
        &mut out,
    )
    .unwrap();
    assert_eq!(out, b"\0\0\0\x19Cmx.example\x004\x00\x19192.0.2.1\0");
}
