//! Responses captured from a live Dovecot parse and re-serialise byte-identically, and the client
//! flow drives a whole session against it.

mod common;
#[path = "support/peer.rs"]
#[allow(unreachable_pub)]
mod peer;

#[path = "support/dovecot.rs"]
mod dovecot;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::TempDir;
use dovecot::Dovecot;
use mailwright_imap_proto::Encode;
use mailwright_imap_proto::client::{ClientConfig, ClientSession, Event as ClientEvent};
use mailwright_imap_proto::framer::{Framer, FramerConfig, FramerEvent, FramerSide};
use mailwright_imap_proto::server::{Condition, Event as ServerEvent, ServerConfig, ServerSession};
use mailwright_imap_proto::types::command::{
    AppendMessage, CommandBody, FetchAttribute, FetchItems, ListReturnOption, SearchKey,
    SearchReturnOption, Section, StatusItem, StoreKind,
};
use mailwright_imap_proto::types::core::{AString, Atom, IString, Literal, LiteralMode, Vec1};
use mailwright_imap_proto::types::flag::Flag;
use mailwright_imap_proto::types::mailbox::{ListMailbox, Mailbox};
use mailwright_imap_proto::types::response::{Code, Data, FetchItem, Response, StatusKind};
use mailwright_imap_proto::types::sequence::{SeqItem, SeqNumber, SequenceSet};
use mailwright_imap_proto::types::sort::{SortCriterion, SortKey, ThreadAlgorithm};
use mailwright_imap_proto::{Machine, Secret};

const USER: &str = "alice";
const PASSWORD: &str = "se cret";

const PLAIN: &[u8] = b"From: Terry Gray <gray@cac.washington.edu>\nTo: imap@cac.washington.edu\nCc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\nSubject: IMAP4rev1 WG mtg summary and minutes\nDate: Wed, 17 Jul 1996 02:23:25 -0700\nMessage-Id: <B27397-0100000@cac.washington.edu>\nMIME-Version: 1.0\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\n\nHello.\n";

const MULTIPART: &[u8] = b"From: a@example.org\nTo: Undisclosed recipients:;\nSubject: =?utf-8?q?caf=C3=A9?=\nDate: Thu, 1 Feb 2024 10:00:00 +0100\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Language: en\n\nbody\n--b1\nContent-Type: application/octet-stream; name=\"a.bin\"\nContent-Disposition: attachment; filename=\"a.bin\"\nContent-Transfer-Encoding: base64\n\nAAEC\n--b1\nContent-Type: message/rfc822\n\nFrom: b@example.org\nSubject: inner\n\ninner body\n--b1--\n";

/// Maildir with an INBOX namespace holding the special-use folders Sent and Trash; LITERAL-
/// instead of LITERAL+, so that the client sends small literals at once and waits for "+" before
/// large ones.
const MAIL: &str = "imap_literal_minus = yes
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = create
  }
}";

fn start_dovecot(d: &Path) -> Option<(Dovecot, u16)> {
    let dovecot = peer::require("dovecot", "dovecot-imapd")?;
    if !Path::new("/usr/lib/dovecot/imap").exists() {
        peer::require("/usr/lib/dovecot/imap", "dovecot-imapd");
        return None;
    }
    let maildir = d.join("home").join(USER).join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    std::fs::write(
        maildir.join("cur").join("1700000001.M1P1.mailwright:2,S"),
        PLAIN,
    )
    .unwrap();
    std::fs::write(
        maildir.join("new").join("1700000002.M2P1.mailwright"),
        MULTIPART,
    )
    .unwrap();
    let dc = Dovecot::start(&dovecot, d, USER, PASSWORD, MAIL);
    let port = dc.port;
    Some((dc, port))
}

/// A client connection that keeps every raw response frame.
struct Conn {
    stream: TcpStream,
    client: ClientSession,
    /// Every octet sent to Dovecot.
    sent: Vec<u8>,
    raw: Framer,
    frames: Vec<Vec<u8>>,
    events: Vec<ClientEvent>,
}

impl Conn {
    fn flush(&mut self) {
        while let Some(b) = self.client.poll_transmit() {
            self.stream.write_all(&b).unwrap();
            self.sent.extend_from_slice(&b);
        }
    }

    /// Reads until `done` says so (bounded by 10 s).
    fn read_until(&mut self, mut done: impl FnMut(&ClientEvent) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 16384];
        loop {
            self.flush();
            assert!(
                Instant::now() < deadline,
                "timeout; frames so far: {:?}",
                self.frames
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect::<Vec<_>>()
            );
            let n = self.stream.read(&mut buf).unwrap();
            assert!(n > 0, "Dovecot closed the connection");
            self.raw.handle_input(&buf[..n]);
            while let Some(ev) = self.raw.poll_event() {
                match ev {
                    FramerEvent::Frame(f) => self.frames.push(f.to_vec()),
                    other => panic!("framer: {other:?}"),
                }
            }
            self.client.handle_input(Instant::now(), &buf[..n]);
            let mut finished = false;
            while let Some(ev) = self.client.poll_event() {
                finished |= done(&ev);
                self.events.push(ev);
            }
            if finished {
                return;
            }
        }
    }

    /// Sends a command and reads through its completion; returns the completion kind.
    fn run(&mut self, body: CommandBody<'_>) -> StatusKind {
        let tag = self.client.enqueue(body).unwrap();
        let mut kind = None;
        self.read_until(|ev| match ev {
            ClientEvent::Completed { status, .. } if status.tag.as_ref() == Some(&tag) => {
                kind = Some(status.kind);
                true
            }
            _ => false,
        });
        kind.unwrap()
    }
}

fn set(items: &[(u32, Option<u32>)]) -> SequenceSet {
    let n = |v: u32| {
        if v == 0 {
            SeqNumber::Largest
        } else {
            SeqNumber::Value(v.try_into().unwrap())
        }
    };
    SequenceSet::try_from(
        items
            .iter()
            .map(|&(a, b)| b.map_or(SeqItem::Single(n(a)), |b| SeqItem::Range(n(a), n(b))))
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

#[test]
fn dovecot_session_round_trips_byte_identically() {
    let dir = TempDir::new("dovecot");
    let Some((_guard, port)) = start_dovecot(dir.path()) else {
        return;
    };
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut c = Conn {
        stream,
        client: ClientSession::new(ClientConfig::default()),
        sent: Vec::new(),
        raw: Framer::new(FramerSide::Responses, FramerConfig::responses()),
        frames: Vec::new(),
        events: Vec::new(),
    };
    c.read_until(|ev| matches!(ev, ClientEvent::Greeting(_)));
    use StatusKind::Ok;
    assert_eq!(c.run(CommandBody::Capability), Ok);
    // Dovecot advertises LITERAL- in its greeting: the password literal goes at once.
    assert!(c.client.has_capability("LITERAL-"));
    let password = AString::String(IString::Literal(
        Literal::new(PASSWORD.as_bytes(), LiteralMode::Sync).unwrap(),
    ));
    assert_eq!(
        c.run(CommandBody::Login {
            username: AString::try_from(USER).unwrap(),
            password: Secret::new(password)
        }),
        Ok
    );
    let login = format!("A0002 LOGIN {USER} {{7+}}\r\n{PASSWORD}\r\n");
    assert!(
        String::from_utf8_lossy(&c.sent).contains(&login),
        "{}",
        String::from_utf8_lossy(&c.sent)
    );
    // The login's OK carried the capabilities of the authenticated state.
    assert!(
        c.client.has_capability("UIDPLUS"),
        "{:?} {:?}",
        c.client.capabilities(),
        &c.events[c.events.len().saturating_sub(2)..]
    );
    assert_eq!(
        c.run(CommandBody::Enable {
            capabilities: Vec1::one(Atom::try_from("CONDSTORE").unwrap())
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::Id {
            parameters: Some(vec![(
                IString::from_bytes(&b"name"[..]).unwrap(),
                mailwright_imap_proto::NString(Some(
                    IString::from_bytes(&b"mailwright"[..]).unwrap()
                ))
            )])
        }),
        Ok
    );
    assert_eq!(c.run(CommandBody::Namespace), Ok);
    assert_eq!(
        c.run(CommandBody::Create {
            mailbox: Mailbox::from_utf8("Caf\u{e9}/\u{53f0}\u{5317} & co").unwrap(),
            special_use: None,
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::List {
            selection: None,
            reference: Mailbox(AString::from_bytes(&b""[..]).unwrap()),
            patterns: Vec1::one(ListMailbox::from_bytes(&b"*"[..]).unwrap()),
            patterns_list: false,
            returns: Some(vec![
                ListReturnOption::Children,
                ListReturnOption::SpecialUse,
                ListReturnOption::Subscribed,
                ListReturnOption::Status(
                    Vec1::try_from(vec![
                        StatusItem::Messages,
                        StatusItem::Unseen,
                        StatusItem::UidNext
                    ])
                    .unwrap()
                ),
            ]),
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::Lsub {
            reference: Mailbox(AString::from_bytes(&b""[..]).unwrap()),
            pattern: ListMailbox::from_bytes(&b"*"[..]).unwrap()
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::Status {
            mailbox: Mailbox::inbox(),
            items: Vec1::try_from(vec![
                StatusItem::Messages,
                StatusItem::Recent,
                StatusItem::UidNext,
                StatusItem::UidValidity,
                StatusItem::Unseen,
                StatusItem::HighestModSeq
            ])
            .unwrap(),
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::Select {
            mailbox: Mailbox::inbox(),
            condstore: true,
            qresync: None
        }),
        Ok
    );
    let all = set(&[(1, Some(0))]);
    let items = |v: Vec<FetchAttribute<'static>>| FetchItems::List(Vec1::try_from(v).unwrap());
    assert_eq!(
        c.run(CommandBody::Fetch {
            uid: false,
            set: all.clone(),
            items: items(vec![
                FetchAttribute::Flags,
                FetchAttribute::InternalDate,
                FetchAttribute::Rfc822Size,
                FetchAttribute::Envelope,
                FetchAttribute::BodyStructure,
                FetchAttribute::Uid,
                FetchAttribute::ModSeq,
            ]),
            changed_since: None,
            vanished: false,
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::Fetch {
            uid: false,
            set: all.clone(),
            items: FetchItems::Full,
            changed_since: None,
            vanished: false
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::Fetch {
            uid: true,
            set: all.clone(),
            items: items(vec![
                FetchAttribute::BodySection {
                    peek: true,
                    section: Section::whole(),
                    partial: None
                },
                FetchAttribute::BodySection {
                    peek: true,
                    section: Section::new(
                        vec![1.try_into().unwrap()],
                        Some(mailwright_imap_proto::types::command::SectionText::Mime)
                    )
                    .unwrap(),
                    partial: None
                },
                FetchAttribute::BodySection {
                    peek: true,
                    section: Section::new(
                        vec![],
                        Some(
                            mailwright_imap_proto::types::command::SectionText::HeaderFields(
                                Vec1::try_from(vec![
                                    AString::try_from("From").unwrap(),
                                    AString::try_from("Subject").unwrap()
                                ])
                                .unwrap()
                            )
                        )
                    )
                    .unwrap(),
                    partial: Some((0, 20.try_into().unwrap()))
                },
                FetchAttribute::Rfc822Header,
            ]),
            changed_since: Some(0),
            vanished: false,
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::Search {
            uid: false,
            returns: None,
            charset: None,
            criteria: Vec1::one(SearchKey::All)
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::Search {
            uid: true,
            returns: Some(vec![
                SearchReturnOption::Min,
                SearchReturnOption::Max,
                SearchReturnOption::Count,
                SearchReturnOption::All
            ]),
            charset: Some(AString::try_from("UTF-8").unwrap()),
            criteria: Vec1::try_from(vec![
                SearchKey::Or(
                    Box::new(SearchKey::Seen),
                    Box::new(SearchKey::Not(Box::new(SearchKey::Subject(
                        AString::try_from("nothing").unwrap()
                    ))))
                ),
                SearchKey::ModSeq {
                    entry: None,
                    modseq: 1
                }
            ])
            .unwrap(),
        }),
        Ok
    );
    // SORT, ESORT and THREAD (RFC 5256, RFC 5957, RFC 5267): Dovecot's `* SORT`, `* ESEARCH`
    // and `* THREAD` parse (and re-serialise, below).
    let utf8 = || AString::try_from("UTF-8").unwrap();
    let by = |reverse, key| SortCriterion { reverse, key };
    assert_eq!(
        c.run(CommandBody::Sort {
            uid: false,
            returns: None,
            criteria: Vec1::try_from(vec![
                by(false, SortKey::Subject),
                by(true, SortKey::Date),
                by(false, SortKey::DisplayFrom)
            ])
            .unwrap(),
            charset: utf8(),
            search: Vec1::one(SearchKey::All),
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::Sort {
            uid: true,
            returns: Some(vec![
                SearchReturnOption::Min,
                SearchReturnOption::Max,
                SearchReturnOption::Count,
                SearchReturnOption::All
            ]),
            criteria: Vec1::one(by(true, SortKey::Size)),
            charset: utf8(),
            search: Vec1::one(SearchKey::All),
        }),
        Ok
    );
    for algorithm in [
        ThreadAlgorithm::References,
        ThreadAlgorithm::OrderedSubject,
        ThreadAlgorithm::Refs,
    ] {
        assert_eq!(
            c.run(CommandBody::Thread {
                uid: true,
                algorithm,
                charset: utf8(),
                search: Vec1::one(SearchKey::All),
            }),
            Ok
        );
    }
    let appended = Literal::new(
        PLAIN
            .iter()
            .flat_map(|&b| {
                if b == b'\n' {
                    vec![b'\r', b'\n']
                } else {
                    vec![b]
                }
            })
            .collect::<Vec<u8>>(),
        LiteralMode::Sync,
    )
    .unwrap();
    assert_eq!(
        c.run(CommandBody::Append {
            mailbox: Mailbox::inbox(),
            flags: Some(vec![Flag::Flagged]),
            date: None,
            message: appended
        }),
        Ok
    );
    // Over LITERAL-'s 4096 octets: a synchronizing literal, sent after Dovecot's "+".
    let big = Literal::new(
        [
            &b"Subject: big\r\n\r\n"[..],
            &b"0123456789abcdef\r\n".repeat(300),
        ]
        .concat(),
        LiteralMode::Sync,
    )
    .unwrap();
    let big_len = big.data().len();
    assert_eq!(
        c.run(CommandBody::Append {
            mailbox: Mailbox::try_from("Trash").unwrap(),
            flags: None,
            date: None,
            message: big
        }),
        Ok
    );
    assert!(String::from_utf8_lossy(&c.sent).contains(&format!("APPEND Trash {{{big_len}}}\r\n")));
    assert!(c.frames.iter().any(|f| f.starts_with(b"+ ")));
    assert_eq!(c.run(CommandBody::Noop), Ok);
    // MULTIAPPEND (RFC 3502): two messages in one command, one APPENDUID for both.
    let msg = |t: &'static [u8]| Literal::new(t, LiteralMode::Sync).unwrap();
    assert_eq!(
        c.run(CommandBody::MultiAppend {
            mailbox: Mailbox::try_from("Trash").unwrap(),
            messages: vec![
                AppendMessage {
                    flags: Some(vec![Flag::Seen]),
                    date: None,
                    message: msg(b"Subject: one\r\n\r\n1\r\n"),
                },
                AppendMessage {
                    flags: None,
                    date: None,
                    message: msg(b"Subject: two\r\n\r\n2\r\n"),
                },
            ],
        }),
        Ok
    );
    // BINARY (RFC 3516): the base64 attachment of the multipart decodes to NUL, 1, 2 (literal8).
    assert_eq!(
        c.run(CommandBody::Fetch {
            uid: false,
            set: all.clone(),
            items: items(vec![
                FetchAttribute::Binary {
                    peek: true,
                    section: vec![2.try_into().unwrap()],
                    partial: None,
                },
                FetchAttribute::BinarySize {
                    section: vec![2.try_into().unwrap()],
                },
                FetchAttribute::Binary {
                    peek: true,
                    section: vec![],
                    partial: Some((0, 10.try_into().unwrap())),
                },
            ]),
            changed_since: None,
            vanished: false,
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::Store {
            uid: false,
            set: set(&[(1, None)]),
            unchanged_since: None,
            kind: StoreKind::Add,
            silent: false,
            flags: vec![
                Flag::Deleted,
                Flag::Keyword(Atom::try_from("$Forwarded").unwrap())
            ],
            flags_list: true
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::Copy {
            uid: true,
            set: set(&[(1, Some(2))]),
            mailbox: Mailbox::try_from("Trash").unwrap()
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::Move {
            uid: false,
            set: set(&[(2, None)]),
            mailbox: Mailbox::try_from("Trash").unwrap()
        }),
        Ok
    );
    assert_eq!(
        c.run(CommandBody::UidExpunge {
            set: set(&[(1, None)])
        }),
        Ok
    );
    // IDLE: DONE asked for before Dovecot's "+" waits for it.
    let idle = c.client.idle().unwrap();
    c.client.idle_done(idle).unwrap();
    c.read_until(|ev| matches!(ev, ClientEvent::Idling { .. }));
    c.read_until(
        |ev| matches!(ev, ClientEvent::Completed { command: "IDLE", status } if status.kind == Ok),
    );
    assert_eq!(c.run(CommandBody::Unselect), Ok);
    assert_eq!(c.run(CommandBody::Logout), Ok);

    // Every frame Dovecot sent parses and re-serialises byte for byte.
    let mut kinds = std::collections::BTreeSet::new();
    for f in &c.frames {
        let (rest, r) =
            Response::decode(f).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(f)));
        assert!(rest.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&r.to_bytes()),
            String::from_utf8_lossy(f)
        );
        kinds.insert(match &r {
            Response::Status(s) => {
                format!("status {:?}", s.code.as_ref().map(std::mem::discriminant))
            }
            Response::Data(d) => format!("data {:?}", std::mem::discriminant(d)),
            Response::Continue(_) => "continue".into(),
        });
    }
    assert!(c.frames.len() > 40, "{} frames", c.frames.len());
    // Spot checks on what the grammar must have understood.
    let has = |p: &dyn Fn(&ClientEvent) -> bool| c.events.iter().any(p);
    assert!(has(
        &|e| matches!(e, ClientEvent::Data(Data::Fetch { items, .. }) if items.iter().any(|i| matches!(i, FetchItem::BodyStructure(b) if matches!(**b, mailwright_imap_proto::types::body::BodyStructure::Multi(_)))))
    ));
    assert!(has(&|e| matches!(
        e,
        ClientEvent::Data(Data::ESearch { .. })
    )));
    assert!(has(&|e| matches!(
        e,
        ClientEvent::Data(Data::Namespace { .. })
    )));
    assert!(has(
        &|e| matches!(e, ClientEvent::Data(Data::Sort { ids, .. }) if ids.len() == 2)
    ));
    assert!(has(
        &|e| matches!(e, ClientEvent::Data(Data::Thread(t)) if t.len() == 2)
    ));
    assert!(has(
        &|e| matches!(e, ClientEvent::Completed { status, .. } if matches!(status.code, Some(Code::AppendUid { .. })))
    ));
    assert!(has(
        &|e| matches!(e, ClientEvent::Completed { status, .. } if matches!(status.code, Some(Code::CopyUid { .. })))
    ));
    assert!(has(
        &|e| matches!(e, ClientEvent::Completed { status, .. } if matches!(&status.code, Some(Code::AppendUid { uids, .. }) if uids.to_bytes().contains(&b':')))
    ));
    assert!(has(&|e| matches!(
        e,
        ClientEvent::Data(Data::Fetch { items, .. }) if items.iter().any(|i| matches!(i, FetchItem::Binary { data: Some(d), literal8: true, .. } if d.as_ref() == b"\0\x01\x02"))
    )));
    assert!(has(&|e| matches!(
        e,
        ClientEvent::Data(Data::Fetch { items, .. }) if items.iter().any(|i| matches!(i, FetchItem::BinarySize { size: 3, .. }))
    )));
    assert!(has(
        &|e| matches!(e, ClientEvent::Data(Data::List(l)) if l.attributes.iter().any(|a| a.as_str() == "Sent"))
    ));
    assert!(has(
        &|e| matches!(e, ClientEvent::Data(Data::List(l)) if l.mailbox.to_utf8().is_ok_and(|n| n == "Caf\u{e9}/\u{53f0}\u{5317} & co"))
    ));
    eprintln!(
        "{} Dovecot frames of {} kinds round-tripped",
        c.frames.len(),
        kinds.len()
    );
}

/// What Dovecot answers to `lines`, each line's response text without Dovecot's timing suffix
/// (" (0.001 + 0.000 secs)").
fn dovecot_says(port: u16, lines: &[&[u8]]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let mut expect = |stream: &mut TcpStream, tag: &[u8], out: &mut Vec<u8>| {
        while !(out.starts_with(tag)
            || out
                .windows(tag.len() + 2)
                .any(|w| w[..2] == *b"\r\n" && w[2..] == *tag))
            || !out.ends_with(b"\r\n")
        {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "{}", String::from_utf8_lossy(out));
            out.extend_from_slice(&buf[..n]);
        }
    };
    expect(&mut stream, b"* OK", &mut out);
    out.clear();
    for line in lines {
        stream.write_all(line).unwrap();
        let tag = [&line[..line.iter().position(|&b| b == b' ').unwrap()], b" "].concat();
        expect(&mut stream, &tag, &mut out);
    }
    let text = String::from_utf8(out).unwrap();
    text.lines()
        .map(|l| match l.find(" (0.") {
            Some(k) if l.ends_with("secs).") => format!("{}.\r\n", &l[..k]),
            _ => format!("{l}\r\n"),
        })
        .filter(|l| !l.starts_with("* ") || l.starts_with("* BYE"))
        .collect()
}

/// What our server session answers to `lines`, accepting the login and nothing else.
fn we_say(lines: &[&[u8]]) -> String {
    let now = Instant::now();
    let mut s = ServerSession::new(ServerConfig::default());
    let _ = s.poll_transmit();
    let mut out = Vec::new();
    for line in lines {
        s.handle_input(now, line);
        while let Some(ev) = s.poll_event() {
            match ev {
                ServerEvent::Login { handle, .. } => s.accept_login(handle, None).unwrap(),
                ServerEvent::Logout { handle } => s.accept_logout(handle).unwrap(),
                ServerEvent::Command { handle, .. } => {
                    s.complete(handle, Condition::No, None, "not here").unwrap();
                }
                _ => {}
            }
        }
        out.extend(std::iter::from_fn(|| s.poll_transmit()).flatten());
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn refusals_and_goodbyes_read_as_dovecots() {
    let dir = TempDir::new("dovecot-texts");
    let Some((_guard, port)) = start_dovecot(dir.path()) else {
        return;
    };
    // LOGIN when already logged in, a selected-state command without a mailbox, LOGOUT.
    let session: &[&[u8]] = &[
        b"a LOGIN alice \"se cret\"\r\n",
        b"b LOGIN alice x\r\n",
        b"c FETCH 1 FLAGS\r\n",
        b"d LOGOUT\r\n",
    ];
    let theirs = dovecot_says(port, session);
    let ours = we_say(session);
    // Dovecot's login OK carries its own capabilities; compare from the second line on.
    let tail = |s: &str| s.split_once("\r\n").map(|(_, t)| t.to_owned()).unwrap();
    assert_eq!(
        tail(&ours),
        tail(&theirs),
        "ours:\n{ours}\ntheirs:\n{theirs}"
    );
    assert!(
        ours.contains("b BAD Error in IMAP command LOGIN: Unknown command.\r\n"),
        "{ours}"
    );
}

/// A logged-in connection to the private Dovecot.
fn logged_in(port: u16) -> Conn {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut c = Conn {
        stream,
        client: ClientSession::new(ClientConfig::default()),
        sent: Vec::new(),
        raw: Framer::new(FramerSide::Responses, FramerConfig::responses()),
        frames: Vec::new(),
        events: Vec::new(),
    };
    c.read_until(|ev| matches!(ev, ClientEvent::Greeting(_)));
    assert_eq!(
        c.run(CommandBody::Login {
            username: AString::try_from(USER).unwrap(),
            password: Secret::new(AString::try_from(PASSWORD).unwrap()),
        }),
        StatusKind::Ok
    );
    c
}

#[test]
fn dovecot_qresync_replies_parse() {
    // RFC 7162 §3.2: ENABLE QRESYNC, SELECT with QRESYNC after another session changed flags
    // and expunged, UID FETCH (CHANGEDSINCE VANISHED), VANISHED in place of EXPUNGE, CLOSED.
    let dir = TempDir::new("dovecot-qresync");
    let Some((_guard, port)) = start_dovecot(dir.path()) else {
        return;
    };
    use StatusKind::Ok;
    let mut a = logged_in(port);
    let mut b = logged_in(port);
    let select = |mailbox: Mailbox<'static>, qresync| CommandBody::Select {
        mailbox,
        condstore: false,
        qresync,
    };
    assert_eq!(
        a.run(CommandBody::Enable {
            capabilities: Vec1::one(Atom::try_from("QRESYNC").unwrap())
        }),
        Ok
    );
    for _ in 0..4 {
        assert_eq!(
            b.run(CommandBody::Append {
                mailbox: Mailbox::inbox(),
                flags: None,
                date: None,
                message: Literal::new(PLAIN, LiteralMode::Sync).unwrap(),
            }),
            Ok
        );
    }
    assert_eq!(a.run(select(Mailbox::inbox(), None)), Ok);
    let code = |c: &Conn, f: &dyn Fn(&Code<'_>) -> Option<u64>| {
        c.events
            .iter()
            .rev()
            .find_map(|e| match e {
                ClientEvent::Status(s) => s.code.as_ref().and_then(f),
                _ => None,
            })
            .unwrap()
    };
    let validity = code(&a, &|c| match c {
        Code::UidValidity(v) => Some(u64::from(v.get())),
        _ => None,
    });
    let modseq = code(&a, &|c| match c {
        Code::HighestModSeq(m) => Some(*m),
        _ => None,
    });
    assert_eq!(a.run(CommandBody::Unselect), Ok);
    // Session B: a flag change on message 3 (UID 3), UIDs 4 and 5 expunged.
    assert_eq!(b.run(select(Mailbox::inbox(), None)), Ok);
    let store = |s: &str, flag: Flag<'static>| CommandBody::Store {
        uid: true,
        set: s.parse().unwrap(),
        unchanged_since: None,
        kind: StoreKind::Add,
        silent: true,
        flags: vec![flag],
        flags_list: true,
    };
    assert_eq!(b.run(store("3", Flag::Flagged)), Ok);
    assert_eq!(b.run(store("4:5", Flag::Deleted)), Ok);
    assert_eq!(b.run(CommandBody::Expunge), Ok);
    // Session A resynchronises.
    let params = mailwright_imap_proto::types::qresync::QresyncParams {
        uid_validity: u32::try_from(validity).unwrap().try_into().unwrap(),
        modseq,
        known_uids: Some("1:6".parse().unwrap()),
        seq_match: None,
    };
    let from = a.events.len();
    assert_eq!(a.run(select(Mailbox::inbox(), Some(params.clone()))), Ok);
    let vanished: Vec<&Data<'_>> = a.events[from..]
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Data(d @ Data::Vanished { .. }) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(
        vanished,
        [&Data::Vanished {
            earlier: true,
            uids: "4:5".parse().unwrap()
        }]
    );
    assert!(a.events[from..].iter().any(|e| matches!(
        e,
        ClientEvent::Data(Data::Fetch { items, .. })
            if items.contains(&FetchItem::Uid(3.try_into().unwrap()))
    )));
    // The same through UID FETCH, then a SELECT that closes the mailbox.
    assert_eq!(
        a.run(CommandBody::Fetch {
            uid: true,
            set: "1:*".parse().unwrap(),
            items: FetchItems::Single(FetchAttribute::Flags),
            changed_since: Some(modseq),
            vanished: true,
        }),
        Ok
    );
    assert_eq!(b.run(store("1", Flag::Deleted)), Ok);
    assert_eq!(b.run(CommandBody::Expunge), Ok);
    assert_eq!(a.run(CommandBody::Noop), Ok);
    assert!(a.events.iter().any(|e| matches!(
        e,
        ClientEvent::Data(Data::Vanished { earlier: false, uids }) if uids.to_string() == "1"
    )));
    assert_eq!(a.run(select(Mailbox::inbox(), Some(params))), Ok);
    assert!(
        a.events
            .iter()
            .any(|e| matches!(e, ClientEvent::Status(s) if s.code == Some(Code::Closed)))
    );
    assert_eq!(a.run(CommandBody::Logout), Ok);
    for f in &a.frames {
        let (rest, r) =
            Response::decode(f).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(f)));
        assert!(rest.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&r.to_bytes()),
            String::from_utf8_lossy(f)
        );
    }
}
