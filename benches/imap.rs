//! Criterion benches for the `imap` crate, side by side with `imap-codec` 1.0 in the same run;
//! see BENCHMARKS.md for how results are recorded.
//!
//! Each input is a stream of complete responses (or commands); each bench parses (or serialises)
//! all of it. Both parsers are checked to accept every input before anything is measured.

#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imap_codec::decode::Decoder;
use imap_codec::encode::Encoder;
use imap_codec::{CommandCodec, ResponseCodec};
use mailwright::imap::Encode;
use mailwright::imap::types::command::Command;
use mailwright::imap::types::response::Response;

const RFC3501_SESSION: &[u8] = b"* OK IMAP4rev1 Service Ready\r\n\
a001 OK LOGIN completed\r\n\
* 18 EXISTS\r\n\
* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
* 2 RECENT\r\n\
* OK [UNSEEN 17] Message 17 is the first unseen message\r\n\
* OK [UIDVALIDITY 3857529045] UIDs valid\r\n\
a002 OK [READ-WRITE] SELECT completed\r\n\
* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \"<B27397-0100000@cac.washington.edu>\") BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n\
a003 OK FETCH completed\r\n\
* 12 FETCH (BODY[HEADER] {342}\r\nDate: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\nFrom: Terry Gray <gray@cac.washington.edu>\r\nSubject: IMAP4rev1 WG mtg summary and minutes\r\nTo: imap@cac.washington.edu\r\ncc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\nMessage-Id: <B27397-0100000@cac.washington.edu>\r\nMIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n)\r\n\
a004 OK FETCH completed\r\n\
* 12 FETCH (FLAGS (\\Seen \\Deleted))\r\n\
a005 OK +FLAGS completed\r\n\
* BYE IMAP4rev1 server terminating connection\r\n\
a006 OK LOGOUT completed\r\n";

/// A BODYSTRUCTURE captured from Dovecot 2.3 (multipart with an attachment and a message/rfc822).
const BODYSTRUCTURE: &[u8] = b"* 2 FETCH (UID 2 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 4 0 NIL NIL (\"en\") NIL)(\"application\" \"octet-stream\" (\"name\" \"a.bin\") NIL NIL \"base64\" 4 NIL (\"attachment\" (\"filename\" \"a.bin\")) NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 49 (NIL \"inner\" ((NIL NIL \"b\" \"example.org\")) ((NIL NIL \"b\" \"example.org\")) ((NIL NIL \"b\" \"example.org\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL))\r\n";

/// 20 FETCH responses each carrying a 4 KiB message literal.
fn literal_fetch() -> Vec<u8> {
    let body: Vec<u8> = b"Subject: benchmark\r\n\r\n"
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'x', 4096 - 24))
        .chain(*b"\r\n")
        .collect();
    let mut out = Vec::new();
    for n in 1..=20 {
        out.extend_from_slice(
            format!(
                "* {n} FETCH (UID {} FLAGS (\\Seen) RFC822.SIZE 4096 BODY[] {{4096}}\r\n",
                1000 + n
            )
            .as_bytes(),
        );
        out.extend_from_slice(&body);
        out.extend_from_slice(b")\r\n");
    }
    out
}

/// One SEARCH response with 5000 numbers.
fn large_search() -> Vec<u8> {
    let mut out = b"* SEARCH".to_vec();
    for n in 1..=5000 {
        out.extend_from_slice(format!(" {}", n * 3).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

const COMMANDS: &[u8] = b"a001 LOGIN mrc secret\r\n\
a002 SELECT inbox\r\n\
a003 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM TO CC SUBJECT MESSAGE-ID)] BODY.PEEK[1.2.MIME]<0.2048>)\r\n\
a004 UID SEARCH CHARSET UTF-8 OR (FROM \"smith\" SINCE 1-Feb-1994) NOT (SEEN UNDELETED) HEADER X-Spam \"yes\" UID 1:100,200:*\r\n\
a005 UID STORE 1,3,5:9 +FLAGS.SILENT (\\Seen \\Flagged $Forwarded)\r\n\
a006 STATUS \"Sent Items\" (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)\r\n\
a007 LIST \"\" \"*\"\r\n\
a008 UID COPY 1:50 Archive\r\n\
a009 FETCH 1:100 FULL\r\n\
a010 LOGOUT\r\n";

fn split_ours(mut input: &[u8]) -> Vec<Response<'_>> {
    let mut v = Vec::new();
    while !input.is_empty() {
        let (rest, r) = Response::decode(input).expect("ours parses");
        v.push(r);
        input = rest;
    }
    v
}

fn split_theirs(mut input: &[u8]) -> Vec<imap_codec::imap_types::response::Response<'_>> {
    let codec = ResponseCodec::default();
    let mut v = Vec::new();
    while !input.is_empty() {
        let (rest, r) = codec.decode(input).expect("imap-codec parses");
        v.push(r);
        input = rest;
    }
    v
}

fn responses(c: &mut Criterion) {
    let literal = literal_fetch();
    let search = large_search();
    let inputs: [(&str, &[u8]); 4] = [
        ("rfc3501_session", RFC3501_SESSION),
        ("literal_fetch", &literal),
        ("large_search", &search),
        ("bodystructure", BODYSTRUCTURE),
    ];
    for (name, input) in inputs {
        // Both sides must understand the whole input.
        assert_eq!(split_ours(input).len(), split_theirs(input).len());
        let mut g = c.benchmark_group(format!("imap/parse/{name}"));
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function("mailwright", |b| {
            b.iter(|| black_box(split_ours(black_box(input)).len()));
        });
        g.bench_function("imap-codec", |b| {
            b.iter(|| black_box(split_theirs(black_box(input)).len()));
        });
        g.finish();

        let ours = split_ours(input);
        let theirs = split_theirs(input);
        let codec = ResponseCodec::default();
        let mut g = c.benchmark_group(format!("imap/serialise/{name}"));
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function("mailwright", |b| {
            b.iter(|| {
                let mut e = mailwright::imap::Encoder::new();
                for r in &ours {
                    r.encode(&mut e);
                }
                black_box(e.as_bytes().len())
            });
        });
        g.bench_function("imap-codec", |b| {
            b.iter(|| {
                let mut n = 0;
                for r in &theirs {
                    n += codec.encode(r).dump().len();
                }
                black_box(n)
            });
        });
        g.finish();
    }
}

fn commands(c: &mut Criterion) {
    let ours = |mut input: &[u8]| {
        let mut n = 0;
        while !input.is_empty() {
            let (rest, cmd) = Command::decode(input).expect("ours parses");
            black_box(&cmd);
            n += 1;
            input = rest;
        }
        n
    };
    let codec = CommandCodec::default();
    let theirs = |mut input: &[u8]| {
        let mut n = 0;
        while !input.is_empty() {
            let (rest, cmd) = codec.decode(input).expect("imap-codec parses");
            black_box(&cmd);
            n += 1;
            input = rest;
        }
        n
    };
    assert_eq!(ours(COMMANDS), theirs(COMMANDS));
    let mut g = c.benchmark_group("imap/parse/commands");
    g.throughput(Throughput::Bytes(COMMANDS.len() as u64));
    g.bench_function("mailwright", |b| b.iter(|| ours(black_box(COMMANDS))));
    g.bench_function("imap-codec", |b| b.iter(|| theirs(black_box(COMMANDS))));
    g.finish();
}

criterion_group!(benches, responses, commands);
criterion_main!(benches);
