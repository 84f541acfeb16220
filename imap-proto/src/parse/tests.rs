//! Property and known-answer tests of the parsers against the encoders.

use proptest::prelude::*;

use crate::arbitrary;
use crate::encode::Encode;
use crate::parse::DecodeError;
use crate::types::command::{
    AuthData, Command, CommandBody, FetchAttribute, FetchItems, SearchKey,
};

fn round_trip_command(c: &Command<'_>) -> Result<(), TestCaseError> {
    let bytes = c.to_bytes();
    let (rest, back) = Command::decode(&bytes).map_err(|e| {
        TestCaseError::fail(format!("{e} in {:?}", String::from_utf8_lossy(&bytes)))
    })?;
    prop_assert!(rest.is_empty());
    prop_assert_eq!(&back, c);
    // Every proper prefix is incomplete, never malformed.
    for cut in 0..bytes.len() {
        prop_assert_eq!(
            Command::decode(&bytes[..cut]).err(),
            Some(DecodeError::Incomplete),
            "cut {} of {:?}",
            cut,
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]
    #[test]
    fn commands_round_trip(c in arbitrary::command()) {
        round_trip_command(&c)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..128)) {
        if let Ok((_, c)) = Command::decode(&data) {
            // What parses re-encodes to something that parses to the same value.
            let again = c.to_bytes();
            let (_, c2) = Command::decode(&again).unwrap();
            prop_assert_eq!(c, c2);
        }
        let _ = AuthData::decode_line(&data);
    }

    #[test]
    fn command_like_bytes_never_panic(s in "[a-z0-9]{1,3} (UID )?(FETCH|SEARCH|STORE|LIST|APPEND|SELECT|SORT|THREAD) [ -~]{0,40}\r\n") {
        let _ = Command::decode(s.as_bytes());
    }
}

fn parse(s: &str) -> Command<'_> {
    match Command::decode(s.as_bytes()) {
        Ok((rest, c)) => {
            assert!(rest.is_empty(), "rest {rest:?}");
            c
        }
        Err(e) => panic!("{s:?}: {e}"),
    }
}

#[test]
fn rfc3501_command_examples() {
    // Commands from the examples of RFC 3501 §6 and the §8 sample session.
    for s in [
        "a001 login mrc secret\r\n",
        "a002 select inbox\r\n",
        "a003 fetch 12 full\r\n",
        "a004 fetch 12 body[header]\r\n",
        "a005 store 12 +flags \\deleted\r\n",
        "a006 logout\r\n",
        "abcd CAPABILITY\r\n",
        "a002 NOOP\r\n",
        "a001 AUTHENTICATE GSSAPI\r\n",
        "A142 SELECT INBOX\r\n",
        "A932 EXAMINE blurdybloop\r\n",
        "A003 CREATE owatagusiam/\r\n",
        "A682 LIST \"\" *\r\n",
        "A683 RENAME blurdybloop sarasoop\r\n",
        "A002 LSUB \"#news.\" \"comp.mail.*\"\r\n",
        "A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n",
        "A003 APPEND saved-messages (\\Seen) {3}\r\nabc\r\n",
        "FXXZ CHECK\r\n",
        "A341 CLOSE\r\n",
        "A202 EXPUNGE\r\n",
        "A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
        "A283 SEARCH TEXT \"string not in mailbox\"\r\n",
        "A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX\r\n",
        "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n",
        "A003 STORE 2:4 +FLAGS (\\Deleted)\r\n",
        "A003 COPY 2:4 MEETING\r\n",
        "A999 UID FETCH 4827313:4828442 FLAGS\r\n",
        "a UID FETCH 1:* (UID BODY.PEEK[1.2.MIME] BODY[3.HEADER.FIELDS.NOT (X-A)]<0.2048> RFC822.SIZE)\r\n",
        "a SEARCH RETURN (MIN COUNT SAVE) OR (SEEN UNANSWERED) NOT 1:3,$ HEADER X-Foo \"\"\r\n",
        "a UID SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n",
        "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"INBOX\" \"Drafts\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN) SPECIAL-USE)\r\n",
        "a AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n",
        "a AUTHENTICATE PLAIN =\r\n",
        "a ENABLE CONDSTORE UTF8=ACCEPT\r\n",
        "a ID (\"name\" \"sodr\" \"version\" NIL)\r\n",
        "a ID NIL\r\n",
        "a UID MOVE 42:69 foo\r\n",
        "a UID EXPUNGE 3000:3002\r\n",
        "a STORE 1:* (UNCHANGEDSINCE 12345) FLAGS.SILENT ()\r\n",
        "a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n",
        "a SELECT INBOX (CONDSTORE)\r\n",
        "a COMPRESS DEFLATE\r\n",
        // RFC 6154 §5.3.
        "t1 CREATE MySpecial (USE (\\Drafts \\Sent))\r\n",
        "t1 CREATE Other (USE ())\r\n",
        "a APPEND INBOX (\\Seen $Forwarded) \" 7-Feb-1994 21:52:25 -0800\" {2+}\r\nhi\r\n",
    ] {
        let c = parse(s);
        // Re-encoding gives a command that parses to the same value.
        let again = c.to_bytes();
        assert_eq!(
            Command::decode(&again).unwrap().1,
            c,
            "{s:?} -> {:?}",
            String::from_utf8_lossy(&again)
        );
    }
}

#[test]
fn details() {
    let c = parse("a003 fetch 12 full\r\n");
    assert!(matches!(
        c.body,
        CommandBody::Fetch {
            items: FetchItems::Full,
            ..
        }
    ));
    assert_eq!(
        c.body.class(),
        crate::types::command::CommandClass::Selected
    );
    let c = parse("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n");
    let CommandBody::Search { criteria, .. } = c.body else {
        panic!()
    };
    assert!(matches!(&criteria[2], SearchKey::Not(k) if matches!(**k, SearchKey::From(_))));
    let c = parse("a fetch 1 body.peek[]<0.10>\r\n");
    assert!(matches!(
        c.body,
        CommandBody::Fetch {
            items: FetchItems::Single(FetchAttribute::BodySection {
                peek: true,
                partial: Some((0, _)),
                ..
            }),
            ..
        }
    ));
    for bad in [
        "a fetch 1 body.peek\r\n",
        "a fetch 0 flags\r\n",
        "a fetch 1 body[MIME]\r\n",
        "a fetch 1 body[1.]\r\n",
        "a  noop\r\n",
        "a noop \r\n",
        "+ noop\r\n",
        "a select\r\n",
        "a store 1 flags\r\n",
        "a search\r\n",
        "a login a\0 b\r\n",
        "a AUTHENTICATE PLAIN abc\r\n",
        "a append inbox {1}\r\n\0\r\n",
    ] {
        assert!(
            matches!(
                Command::decode(bad.as_bytes()),
                Err(DecodeError::Malformed { .. })
            ),
            "{bad:?}"
        );
    }
    // Nesting is bounded instead of overflowing the stack.
    let deep = format!("a SEARCH {}ALL{}\r\n", "(".repeat(5000), ")".repeat(5000));
    assert!(Command::decode(deep.as_bytes()).is_err());
    let deep = format!("a SEARCH {}ALL\r\n", "NOT ".repeat(5000));
    assert!(Command::decode(deep.as_bytes()).is_err());
}

#[test]
fn auth_lines() {
    assert_eq!(AuthData::decode_line(b"*\r\n").unwrap().1, AuthData::Cancel);
    assert_eq!(AuthData::decode_line(b"\r\n").unwrap().1, AuthData::Empty);
    assert_eq!(
        AuthData::decode_line(b"AHVzZXIAcGFzcw==\r\n")
            .unwrap()
            .1
            .decode()
            .unwrap(),
        b"\0user\0pass"
    );
    assert!(AuthData::decode_line(b"abc\r\n").is_err());
}

mod responses {
    use proptest::prelude::*;

    use crate::arbitrary;
    use crate::encode::Encode;
    use crate::parse::DecodeError;
    use crate::types::response::Response;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(384))]
        #[test]
        fn responses_round_trip(r in arbitrary::response()) {
            let bytes = r.to_bytes();
            let (rest, back) = Response::decode(&bytes)
                .map_err(|e| TestCaseError::fail(format!("{e} in {:?}", String::from_utf8_lossy(&bytes))))?;
            prop_assert!(rest.is_empty());
            prop_assert_eq!(&back, &r);
            for cut in 0..bytes.len() {
                prop_assert_eq!(Response::decode(&bytes[..cut]).err(), Some(DecodeError::Incomplete),
                    "cut {} of {:?}", cut, String::from_utf8_lossy(&bytes));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            if let Ok((_, r)) = Response::decode(&data) {
                let again = r.to_bytes();
                let (_, r2) = Response::decode(&again).unwrap();
                prop_assert_eq!(r, r2);
            }
        }

        #[test]
        fn unknown_like_bytes_round_trip(s in "\\* [A-Z0-9]{1,6}( [ -~]{0,30})?\r\n") {
            if let Ok((rest, r)) = Response::decode(s.as_bytes()) {
                prop_assert!(rest.is_empty());
                if matches!(r, Response::Data(crate::types::response::Data::Other { .. })) {
                    prop_assert_eq!(r.to_bytes(), s.as_bytes());
                }
            }
        }

        #[test]
        fn response_like_bytes_never_panic(s in "\\* ([0-9]{1,3} )?(FETCH|LIST|STATUS|ESEARCH|NAMESPACE|OK|SEARCH|SORT|THREAD) [ -~]{0,60}\r\n") {
            let _ = Response::decode(s.as_bytes());
        }
    }

    #[test]
    fn unknown_untagged_data_is_kept_raw() {
        use crate::types::response::Data;
        for (line, name, raw) in [
            (&b"* XSORT 3 1 2\r\n"[..], "XSORT", &b" 3 1 2"[..]),
            (b"* XFOO bar\r\n", "XFOO", b" bar"),
            (b"* XFOO\r\n", "XFOO", b""),
            (b"* 3 XBAR (a b)\r\n", "3", b" XBAR (a b)"),
            (b"* XLIT {3}\r\na\r\n (x)\r\n", "XLIT", b" {3}\r\na\r\n (x)"),
        ] {
            let (rest, r) = Response::decode(line).unwrap();
            assert!(rest.is_empty());
            let Response::Data(Data::Other { name: n, raw: r2 }) = &r else {
                panic!("{r:?}")
            };
            assert_eq!((n.as_str(), &r2[..]), (name, raw));
            assert_eq!(r.to_bytes(), line);
        }
        // A known keyword with bad arguments stays an error; so do bare LF and a bad name.
        for bad in [
            &b"* 0 FETCH (UID 1)\r\n"[..],
            b"* FLAGS x\r\n",
            b"* XFOO a\nb\r\n",
            b"* XFOO(\r\n",
        ] {
            assert!(Response::decode(bad).is_err(), "{bad:?}");
        }
    }
}

/// RFC 3502 §6.3.11: the second message follows the first literal with its own flags and date;
/// one message stays a plain APPEND.
#[test]
fn rfc3502_multiappend() {
    let c = parse(
        "A003 APPEND saved-messages (\\Seen) {2+}\r\nhi (\\Seen) \" 7-Feb-1994 22:43:04 -0800\" {3+}\r\nhey\r\n",
    );
    let CommandBody::MultiAppend { mailbox, messages } = &c.body else {
        panic!("{c:?}")
    };
    assert!(format!("{mailbox:?}").contains("saved-messages"));
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].message.data(), b"hi");
    assert!(messages[0].date.is_none());
    assert_eq!(messages[1].message.data(), b"hey");
    assert!(messages[1].date.is_some() && messages[1].flags.is_some());
    assert!(matches!(
        parse("a APPEND INBOX {2+}\r\nhi\r\n").body,
        CommandBody::Append { .. }
    ));
}

/// RFC 3516 §4.1 and §4.2: BINARY, BINARY.PEEK with a partial, BINARY.SIZE; a decoded part with
/// NUL comes as literal8, one without as a literal.
#[test]
fn rfc3516_binary() {
    use crate::types::response::{Data, FetchItem, Response};
    use std::num::NonZeroU32;
    let n = |v| NonZeroU32::new(v).unwrap();
    let c = parse("A1 FETCH 1 (BINARY.PEEK[1.2]<0.10> BINARY.SIZE[1] BINARY[])\r\n");
    let CommandBody::Fetch { items, .. } = &c.body else {
        panic!("{c:?}")
    };
    assert_eq!(
        items.expand(),
        [
            FetchAttribute::Binary {
                peek: true,
                section: vec![n(1), n(2)],
                partial: Some((0, n(10)))
            },
            FetchAttribute::BinarySize {
                section: vec![n(1)]
            },
            FetchAttribute::Binary {
                peek: false,
                section: vec![],
                partial: None
            },
        ]
    );
    assert_eq!(
        c.to_bytes(),
        b"A1 FETCH 1 (BINARY.PEEK[1.2]<0.10> BINARY.SIZE[1] BINARY[])\r\n"
    );
    let wire = b"* 1 FETCH (BINARY[1] ~{4}\r\n\0abc BINARY.SIZE[1] 4 BINARY[2]<2> {2}\r\nhi BINARY[3] NIL)\r\n";
    let (rest, r) = Response::decode(wire).unwrap();
    assert!(rest.is_empty());
    let Response::Data(Data::Fetch { items, .. }) = &r else {
        panic!("{r:?}")
    };
    assert_eq!(
        items.as_slice()[0],
        FetchItem::Binary {
            section: vec![n(1)],
            origin: None,
            data: Some(b"\0abc"[..].into()),
            literal8: true
        }
    );
    assert_eq!(
        items.as_slice()[1],
        FetchItem::BinarySize {
            section: vec![n(1)],
            size: 4
        }
    );
    assert_eq!(r.to_bytes(), wire);
    // Cut anywhere inside the literal8: need more, not an error.
    assert_eq!(
        Response::decode(&wire[..30]).err(),
        Some(DecodeError::Incomplete)
    );
    assert!(Command::decode(b"A1 FETCH 1 BINARY[1.]\r\n").is_err());
    assert!(Command::decode(b"A1 FETCH 1 BINARY[TEXT]\r\n").is_err());
}
