//! SORT and THREAD (RFC 5256 §4, §6), SORT=DISPLAY (RFC 5957) and ESORT (RFC 5267): the RFCs'
//! commands parse to what they say, their responses parse and re-serialise byte-identically.

use std::num::NonZeroU32;

use mailwright_imap_proto::Encode;
use mailwright_imap_proto::types::command::{Command, CommandBody, SearchKey, SearchReturnOption};
use mailwright_imap_proto::types::response::{Data, Response};
use mailwright_imap_proto::types::sort::{SortCriterion, SortKey, Thread, ThreadAlgorithm};

fn command(s: &str) -> Command<'_> {
    let (rest, c) = Command::decode(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    assert!(rest.is_empty());
    let again = c.to_bytes();
    assert_eq!(Command::decode(&again).unwrap().1, c);
    c
}

fn data(line: &[u8]) -> Data<'_> {
    let (rest, r) = Response::decode(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert!(rest.is_empty());
    assert_eq!(r.to_bytes(), line, "re-encodes as sent");
    match r {
        Response::Data(d) => d,
        other => panic!("{other:?}"),
    }
}

fn n(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap()
}

#[test]
fn rfc5256_sort_examples() {
    // RFC 5256 §6 (SORT).
    let c = command("A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994\r\n");
    let CommandBody::Sort {
        uid,
        returns,
        criteria,
        charset,
        search,
    } = c.body
    else {
        panic!("{c:?}")
    };
    assert!(!uid && returns.is_none());
    assert_eq!(
        criteria.to_vec(),
        [SortCriterion {
            reverse: false,
            key: SortKey::Subject
        }]
    );
    assert_eq!(charset.as_bytes(), b"UTF-8");
    assert!(matches!(search.first(), Some(SearchKey::Since(_))));
    let c = command("A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n");
    let CommandBody::Sort { criteria, .. } = &c.body else {
        panic!()
    };
    assert_eq!(
        criteria.to_vec(),
        [
            SortCriterion {
                reverse: false,
                key: SortKey::Subject
            },
            SortCriterion {
                reverse: true,
                key: SortKey::Date
            }
        ]
    );
    command("A284 SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\"\r\n");
    assert_eq!(
        data(b"* SORT 2 84 882\r\n"),
        Data::Sort {
            ids: vec![n(2), n(84), n(882)],
            modseq: None
        }
    );
    assert_eq!(
        data(b"* SORT 5 3 4 1 2\r\n"),
        Data::Sort {
            ids: [5, 3, 4, 1, 2].map(n).to_vec(),
            modseq: None
        }
    );
    assert_eq!(
        data(b"* SORT\r\n"),
        Data::Sort {
            ids: vec![],
            modseq: None
        }
    );
    // RFC 7162 §3.1.5 adds the highest MODSEQ to a SORT as to a SEARCH.
    assert_eq!(
        data(b"* SORT 2 1 (MODSEQ 917162500)\r\n"),
        Data::Sort {
            ids: vec![n(2), n(1)],
            modseq: Some(917_162_500)
        }
    );
    // RFC 5957 §3: DISPLAYFROM and DISPLAYTO; UID SORT.
    let c = command("a UID SORT (DISPLAYFROM REVERSE DISPLAYTO) \"UTF-8\" UNDELETED\r\n");
    assert_eq!(c.body.name(), "UID SORT");
    // RFC 5267 §3: ESORT's return options come before the criteria.
    let c = command("a UID SORT RETURN (MIN MAX COUNT) (REVERSE ARRIVAL) UTF-8 1:*\r\n");
    let CommandBody::Sort { returns, .. } = &c.body else {
        panic!()
    };
    assert_eq!(
        returns.as_deref(),
        Some(
            &[
                SearchReturnOption::Min,
                SearchReturnOption::Max,
                SearchReturnOption::Count
            ][..]
        )
    );
    // The charset is required; REVERSE qualifies a key; unknown keys are refused.
    for bad in [
        "a SORT (DATE) ALL\r\n",
        "a SORT (REVERSE) UTF-8 ALL\r\n",
        "a SORT (COLOUR) UTF-8 ALL\r\n",
        "a SORT () UTF-8 ALL\r\n",
        "a SORT DATE UTF-8 ALL\r\n",
    ] {
        assert!(Command::decode(bad.as_bytes()).is_err(), "{bad:?}");
    }
}

#[test]
fn rfc5256_thread_examples() {
    // RFC 5256 §6 (THREAD).
    let c = command("A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000\r\n");
    assert!(matches!(
        c.body,
        CommandBody::Thread {
            uid: false,
            algorithm: ThreadAlgorithm::OrderedSubject,
            ..
        }
    ));
    command("A284 THREAD ORDEREDSUBJECT US-ASCII TEXT \"gewp\"\r\n");
    let c = command("A285 UID THREAD REFERENCES UTF-8 SINCE 5-MAR-2000\r\n");
    assert_eq!(c.body.name(), "UID THREAD");
    let c = command("a UID THREAD REFS UTF-8 ALL\r\n");
    assert!(matches!(
        c.body,
        CommandBody::Thread {
            algorithm: ThreadAlgorithm::Refs,
            ..
        }
    ));
    let c = command("a THREAD X-MINE UTF-8 ALL\r\n");
    assert!(matches!(
        c.body,
        CommandBody::Thread {
            algorithm: ThreadAlgorithm::Other(_),
            ..
        }
    ));
    data(b"* THREAD (166)(167)(168)(169)(172)(170)(171)(173)(174 (175)(176)(178)(181)(180))(179)(177 (183)(182)(188)(184)(185)(186)(187)(189))(190)(191)(192)(193)(194 195)(196 (197)(198))(199)(200 202)(201)(203)(204)(205)(206 207)(208)\r\n");
    assert_eq!(data(b"* THREAD\r\n"), Data::Thread(vec![]));
    let Data::Thread(threads) = data(b"* THREAD (166)(167)(168)(169)(172)((170)(179))(171)(173)((174)(175)(176)(178)(181)(180))((177)(183)(182)(188 (184)(189))(185 186)(187))(190)(191)(192)(193)((194)(195 196))(197 198)(199)(200 202)(201)(203)(204)(205 206 207)(208)\r\n") else {
        panic!()
    };
    assert_eq!(threads.len(), 23);
    // ((170)(179)): a missing parent with two children.
    assert!(threads[5].members().is_empty());
    assert_eq!(threads[5].messages(), [n(170), n(179)]);
    // RFC 5256 §4: "(3 6 (4 23)(44 7 96))".
    let Data::Thread(t) = data(b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n") else {
        panic!()
    };
    assert_eq!(t[1].members(), [n(3), n(6)]);
    assert_eq!(t[1].children()[1].members(), [n(44), n(7), n(96)]);
    assert_eq!(t[1].messages(), [3, 6, 4, 23, 44, 7, 96].map(n));
    data(b"* THREAD ((3)(5))\r\n");
    // A single nested list, an empty list, a list without SP before its nested lists, and
    // two SPs are not thread-lists.
    for bad in [
        &b"* THREAD (1 (2))\r\n"[..],
        b"* THREAD ((1))\r\n",
        b"* THREAD ()\r\n",
        b"* THREAD (1(2)(3))\r\n",
        b"* THREAD (1  2)\r\n",
        b"* THREAD (0)\r\n",
        b"* THREAD \r\n",
    ] {
        assert!(Response::decode(bad).is_err(), "{bad:?}");
    }
    // Every prefix is incomplete.
    let line = b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n";
    for cut in 0..line.len() {
        assert!(
            matches!(
                Response::decode(&line[..cut]),
                Err(mailwright_imap_proto::DecodeError::Incomplete)
            ),
            "{cut}"
        );
    }
}

#[test]
fn deep_threads_encode_and_drop_without_recursion() {
    // A branch at every level, 100 000 levels deep.
    let mut t = Thread::node(Some(n(1)), vec![]).unwrap();
    for k in 2..100_000 {
        let leaf = Thread::node(Some(n(k * 2)), vec![]).unwrap();
        t = Thread::node(Some(n(k * 2 + 1)), vec![t, leaf]).unwrap();
    }
    let bytes = Response::Data(Data::Thread(vec![t])).to_bytes();
    assert!(bytes.starts_with(b"* THREAD (199999 (199997 (199995 "));
    // Too deep to parse back: refused, not a stack overflow.
    assert!(Response::decode(&bytes).is_err());
}
