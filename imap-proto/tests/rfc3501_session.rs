//! The RFC 3501 §8 sample session: every server line parses and re-serialises byte-identically,
//! every client line parses.

use mailwright_imap_proto::Encode;
use mailwright_imap_proto::types::command::Command;
use mailwright_imap_proto::types::response::{Data, Response};

/// The server side of RFC 3501 §8, with the long FETCH line joined as on the wire (the RFC breaks it
/// "for editorial clarity").
const SERVER: &[&[u8]] = &[
    b"* OK IMAP4rev1 Service Ready\r\n",
    b"a001 OK LOGIN completed\r\n",
    b"* 18 EXISTS\r\n",
    b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
    b"* 2 RECENT\r\n",
    b"* OK [UNSEEN 17] Message 17 is the first unseen message\r\n",
    b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
    b"a002 OK [READ-WRITE] SELECT completed\r\n",
    b"* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \"<B27397-0100000@cac.washington.edu>\") BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n",
    b"a003 OK FETCH completed\r\n",
    b"* 12 FETCH (BODY[HEADER] {342}\r\nDate: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\nFrom: Terry Gray <gray@cac.washington.edu>\r\nSubject: IMAP4rev1 WG mtg summary and minutes\r\nTo: imap@cac.washington.edu\r\ncc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\nMessage-Id: <B27397-0100000@cac.washington.edu>\r\nMIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n)\r\n",
    b"a004 OK FETCH completed\r\n",
    b"* 12 FETCH (FLAGS (\\Seen \\Deleted))\r\n",
    b"a005 OK +FLAGS completed\r\n",
    b"* BYE IMAP4rev1 server terminating connection\r\n",
    b"a006 OK LOGOUT completed\r\n",
];

const CLIENT: &[&[u8]] = &[
    b"a001 login mrc secret\r\n",
    b"a002 select inbox\r\n",
    b"a003 fetch 12 full\r\n",
    b"a004 fetch 12 body[header]\r\n",
    b"a005 store 12 +flags \\deleted\r\n",
    b"a006 logout\r\n",
];

#[test]
fn server_lines_round_trip_byte_identically() {
    for line in SERVER {
        let (rest, r) = Response::decode(line)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)));
        assert!(rest.is_empty());
        assert_eq!(r.to_bytes(), *line, "{}", String::from_utf8_lossy(line));
    }
    // The literal is exactly 342 octets, as announced.
    let (_, r) = Response::decode(SERVER[10]).unwrap();
    let Response::Data(Data::Fetch { items, .. }) = r else {
        panic!()
    };
    assert!(
        matches!(&items[0], mailwright_imap_proto::types::response::FetchItem::BodySection { data, .. } if data.as_bytes().unwrap().len() == 342)
    );
}

#[test]
fn client_lines_parse() {
    for line in CLIENT {
        let (rest, c) = Command::decode(line)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)));
        assert!(rest.is_empty());
        // Re-encoded in canonical case, the command means the same.
        assert_eq!(Command::decode(&c.to_bytes()).unwrap().1, c);
    }
}

#[test]
fn whole_server_stream_parses_in_sequence() {
    let stream: Vec<u8> = SERVER.concat();
    let mut rest = &stream[..];
    let mut n = 0;
    while !rest.is_empty() {
        let (r, _) = Response::decode(rest).unwrap();
        rest = r;
        n += 1;
    }
    assert_eq!(n, SERVER.len());
}
