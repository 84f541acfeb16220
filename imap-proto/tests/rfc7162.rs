//! QRESYNC (RFC 7162 §3.2): the RFC's commands parse to what they say and re-encode to the
//! same value, its responses parse and re-serialise byte-identically, what the grammar forbids
//! is refused, and every prefix of a line is "need more".

use mailwright_imap_proto::Encode;
use mailwright_imap_proto::types::command::{Command, CommandBody};
use mailwright_imap_proto::types::response::{Code, Data, Response, StatusKind};
use mailwright_imap_proto::types::sequence::SequenceSet;

fn command(s: &str) -> Command<'_> {
    let (rest, c) = Command::decode(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    assert!(rest.is_empty());
    let again = c.to_bytes();
    assert_eq!(Command::decode(&again).unwrap().1, c);
    c
}

fn response(line: &[u8]) -> Response<'_> {
    let (rest, r) = Response::decode(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert!(rest.is_empty());
    assert_eq!(r.to_bytes(), line, "re-encodes as sent");
    r
}

fn data(line: &[u8]) -> Data<'_> {
    match response(line) {
        Response::Data(d) => d,
        other => panic!("{other:?}"),
    }
}

fn set(s: &str) -> SequenceSet {
    s.parse().unwrap()
}

fn all_prefixes_incomplete(line: &[u8], command: bool) {
    for cut in 0..line.len() {
        let r = if command {
            Command::decode(&line[..cut]).map(|_| ())
        } else {
            Response::decode(&line[..cut]).map(|_| ())
        };
        assert!(
            matches!(r, Err(mailwright_imap_proto::DecodeError::Incomplete)),
            "{:?} cut at {cut}: {r:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn rfc7162_select_qresync() {
    // §3.2.5.1 (example A03): UIDVALIDITY, MODSEQ and known UIDs.
    let c = command("A03 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541))\r\n");
    let CommandBody::Select {
        condstore: false,
        qresync: Some(q),
        ..
    } = &c.body
    else {
        panic!("{c:?}")
    };
    assert_eq!(q.uid_validity.get(), 67_890_007);
    assert_eq!(q.modseq, 90_060_115_194_045_000);
    assert_eq!(q.known_uids, Some(set("41:211,214:541")));
    assert!(q.seq_match.is_none());
    // Without known UIDs (§3.2.5.1, A02), with CONDSTORE too and in either order, EXAMINE.
    let c = command("A02 SELECT INBOX (QRESYNC (67890007 90060115194045000))\r\n");
    assert!(
        matches!(&c.body, CommandBody::Select { qresync: Some(q), .. } if q.known_uids.is_none())
    );
    let c = command("A04 EXAMINE INBOX (CONDSTORE QRESYNC (1 2))\r\n");
    assert!(matches!(
        &c.body,
        CommandBody::Examine {
            condstore: true,
            qresync: Some(_),
            ..
        }
    ));
    let (_, c2) = Command::decode(b"A04 EXAMINE INBOX (QRESYNC (1 2) CONDSTORE)\r\n").unwrap();
    assert_eq!(c2.body, c.body);
    // §3.2.5.2 (B01): seq-match-data narrows VANISHED when the server's memory is short.
    let c = command(
        "B01 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 \
         (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,\
         29988,29991,29994,29997)))\r\n",
    );
    let CommandBody::Select {
        qresync: Some(q), ..
    } = &c.body
    else {
        panic!("{c:?}")
    };
    let m = q.seq_match.as_ref().unwrap();
    assert_eq!(m.seqs, set("5000,7500,9000,9990:9999"));
    assert_eq!(m.uids.numbers(0, 100).len(), 13);
    // seq-match-data without known-uids is allowed by the grammar.
    command("B02 SELECT INBOX (QRESYNC (67890007 1 (1:2 5,9)))\r\n");
    all_prefixes_incomplete(
        b"B03 SELECT INBOX (CONDSTORE QRESYNC (67890007 9 1:29 (5,7 15,22)))\r\n",
        true,
    );
}

#[test]
fn rfc7162_uid_fetch_vanished() {
    // §3.2.6.
    let c = command("s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n");
    assert!(matches!(
        &c.body,
        CommandBody::Fetch {
            uid: true,
            changed_since: Some(12345),
            vanished: true,
            ..
        }
    ));
    let (_, c2) =
        Command::decode(b"s100 UID FETCH 300:500 (FLAGS) (VANISHED CHANGEDSINCE 12345)\r\n")
            .unwrap();
    assert_eq!(c2.body, c.body);
    all_prefixes_incomplete(
        b"s1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n",
        true,
    );
}

#[test]
fn rfc7162_responses() {
    // §3.2.5.1 and §3.2.10.
    let d = data(b"* VANISHED (EARLIER) 41,43:116,118,120:211,214:540\r\n");
    assert_eq!(
        d,
        Data::Vanished {
            earlier: true,
            uids: set("41,43:116,118,120:211,214:540")
        }
    );
    let d = data(b"* VANISHED 405,407,410,425\r\n");
    assert_eq!(
        d,
        Data::Vanished {
            earlier: false,
            uids: set("405,407,410,425")
        }
    );
    data(b"* 49 FETCH (UID 117 FLAGS (\\Seen \\Answered) MODSEQ (90060115194045001))\r\n");
    // §3.2.11: the boundary between the old mailbox's responses and the new one's.
    let Response::Status(s) = response(b"* OK [CLOSED] Previous mailbox closed.\r\n") else {
        panic!()
    };
    assert_eq!((s.kind, s.code), (StatusKind::Ok, Some(Code::Closed)));
    all_prefixes_incomplete(b"* VANISHED (EARLIER) 41,43:116\r\n", false);
    all_prefixes_incomplete(b"* VANISHED 3:5\r\n", false);
}

#[test]
fn what_the_grammar_forbids_is_refused() {
    for bad in [
        // known-uids: "*" is not allowed; neither is "$".
        "a SELECT INBOX (QRESYNC (1 2 1:*))\r\n",
        "a SELECT INBOX (QRESYNC (1 2 $))\r\n",
        "a SELECT INBOX (QRESYNC (1 2 1:5 (1:* 1:5)))\r\n",
        // uidvalidity is an nz-number; the parameter is a list.
        "a SELECT INBOX (QRESYNC (0 2))\r\n",
        "a SELECT INBOX (QRESYNC 1 2)\r\n",
        "a SELECT INBOX (QRESYNC (1))\r\n",
        // Each parameter once.
        "a SELECT INBOX (CONDSTORE CONDSTORE)\r\n",
        "a SELECT INBOX (QRESYNC (1 2) QRESYNC (1 2))\r\n",
        "a SELECT INBOX ()\r\n",
        // VANISHED only in UID FETCH, only with CHANGEDSINCE.
        "a FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n",
        "a UID FETCH 1:* (FLAGS) (VANISHED)\r\n",
        "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED VANISHED)\r\n",
    ] {
        assert!(Command::decode(bad.as_bytes()).is_err(), "{bad:?}");
    }
    for bad in [
        &b"* VANISHED 1:*\r\n"[..],
        b"* VANISHED (EARLIER)\r\n",
        b"* VANISHED (LATER) 1\r\n",
        b"* VANISHED\r\n",
    ] {
        assert!(Response::decode(bad).is_err(), "{bad:?}");
    }
}
