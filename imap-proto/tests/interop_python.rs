//! Python's `imaplib` talks to a small tokio IMAP server built on [`ServerSession`].

mod common;
#[path = "support/peer.rs"]
#[allow(unreachable_pub)]
mod peer;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TempDir;
use mailwright_imap_proto::server::{
    Condition, Event as ServerEvent, ServerConfig, ServerSession, Untagged,
};
use mailwright_imap_proto::types::body::{
    BodyFields, BodyStructure, Envelope, SinglePart, SpecificFields,
};
use mailwright_imap_proto::types::command::{
    CommandBody, FetchAttribute, SearchKey, SectionText, StatusItem, StoreKind,
};
use mailwright_imap_proto::types::core::{Atom, IString, Literal, LiteralMode, NString, Tag, Vec1};
use mailwright_imap_proto::types::datetime::DateTime;
use mailwright_imap_proto::types::flag::{Flag, FlagFetch, FlagPerm};
use mailwright_imap_proto::types::mailbox::Mailbox;
use mailwright_imap_proto::types::response::{Code, Data, FetchItem, ListData};
use mailwright_imap_proto::types::sequence::SequenceSet;
use mailwright_imap_proto::{IntoStatic, Machine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone)]
struct Message {
    uid: u32,
    flags: Vec<Flag<'static>>,
    date: DateTime,
    body: Vec<u8>,
}

#[derive(Debug, Default)]
struct Store {
    messages: Vec<Message>,
    next_uid: u32,
}

/// A completion: OK with this code and text.
type Done = (Option<Code<'static>>, &'static str);

fn nstring(data: &[u8]) -> NString<'static> {
    NString(Some(IString::Literal(
        Literal::new(data.to_vec(), LiteralMode::Sync).unwrap(),
    )))
}

fn split_header(body: &[u8]) -> (&[u8], &[u8]) {
    let at = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(body.len(), |p| p + 4);
    body.split_at(at)
}

fn fetch_items(
    m: &Message,
    seq: usize,
    atts: &[FetchAttribute<'_>],
    uid: bool,
) -> Vec<FetchItem<'static>> {
    let mut out = Vec::new();
    if uid && !atts.contains(&FetchAttribute::Uid) {
        out.push(FetchItem::Uid(m.uid.try_into().unwrap()));
    }
    let _ = seq;
    let (header, text) = split_header(&m.body);
    for a in atts {
        out.push(match a {
            FetchAttribute::Flags => {
                FetchItem::Flags(m.flags.iter().cloned().map(FlagFetch::Flag).collect())
            }
            FetchAttribute::Uid => FetchItem::Uid(m.uid.try_into().unwrap()),
            FetchAttribute::Rfc822Size => FetchItem::Rfc822Size(m.body.len() as u32),
            FetchAttribute::InternalDate => FetchItem::InternalDate(m.date),
            FetchAttribute::Rfc822 => FetchItem::Rfc822(nstring(&m.body)),
            FetchAttribute::Rfc822Header => FetchItem::Rfc822Header(nstring(header)),
            FetchAttribute::Rfc822Text => FetchItem::Rfc822Text(nstring(text)),
            FetchAttribute::Envelope => FetchItem::Envelope(Box::default()),
            FetchAttribute::Body | FetchAttribute::BodyStructure => {
                let s = BodyStructure::Single(SinglePart {
                    media_type: IString::from_bytes(&b"TEXT"[..]).unwrap(),
                    subtype: IString::from_bytes(&b"PLAIN"[..]).unwrap(),
                    fields: BodyFields {
                        parameters: None,
                        id: NString(None),
                        description: NString(None),
                        encoding: IString::from_bytes(&b"7BIT"[..]).unwrap(),
                        octets: text.len() as u32,
                    },
                    specific: SpecificFields::Text {
                        lines: text.split(|&b| b == b'\n').count() as u32 - 1,
                    },
                    extension: None,
                });
                if *a == FetchAttribute::Body {
                    FetchItem::Body(Box::new(s))
                } else {
                    FetchItem::BodyStructure(Box::new(s))
                }
            }
            FetchAttribute::BodySection {
                section, partial, ..
            } => {
                let data: &[u8] = match (section.part(), section.text()) {
                    ([], None) => &m.body,
                    ([], Some(SectionText::Header)) => header,
                    ([], Some(SectionText::Text)) => text,
                    _ => b"",
                };
                let (data, origin) = match partial {
                    Some((off, len)) => {
                        let start = (*off as usize).min(data.len());
                        (
                            &data[start..(start + len.get() as usize).min(data.len())],
                            Some(*off),
                        )
                    }
                    None => (data, None),
                };
                FetchItem::BodySection {
                    section: section.clone().into_static(),
                    origin,
                    data: nstring(data),
                }
            }
            _ => continue,
        });
    }
    let _: Option<Envelope<'_>> = None;
    out
}

/// Numbers (1-based positions) of the messages a set names.
fn resolve(set: &SequenceSet, store: &Store, uid: bool) -> Vec<usize> {
    let largest = if uid {
        store.messages.last().map_or(0, |m| m.uid)
    } else {
        store.messages.len() as u32
    };
    (0..store.messages.len())
        .filter(|&i| {
            set.contains(
                if uid {
                    store.messages[i].uid
                } else {
                    i as u32 + 1
                },
                largest,
            )
        })
        .map(|i| i + 1)
        .collect()
}

/// An APPEND being received: tag, mailbox, flags, date, octets so far.
type PendingAppend = (
    Tag<'static>,
    Mailbox<'static>,
    Vec<Flag<'static>>,
    Option<DateTime>,
    Vec<u8>,
);

async fn serve(mut stream: tokio::net::TcpStream, store: Arc<Mutex<Store>>) -> std::io::Result<()> {
    let mut config = ServerConfig::default();
    config.greeting.capabilities = Some(Vec1::one(Atom::try_from("IMAP4rev1").unwrap()));
    config.greeting.text = "mailwright ready".into();
    let mut flow = ServerSession::new(config);
    flow.handle_timeout(std::time::Instant::now());
    let mut buf = vec![0u8; 8192];
    let mut append: Option<PendingAppend> = None;
    loop {
        while let Some(ev) = flow.poll_event() {
            match ev {
                ServerEvent::Login {
                    handle,
                    username,
                    password,
                    ..
                } => {
                    if username == "alice" && password.expose() == "pa ss" {
                        flow.accept_login(handle, None).unwrap();
                    } else {
                        let failed =
                            Code::Other(Atom::try_from("AUTHENTICATIONFAILED").unwrap(), None);
                        flow.reject_login(handle, Some(failed), "bad").unwrap();
                    }
                }
                ServerEvent::Select { handle, .. } => {
                    let st = store.lock().unwrap();
                    flow.send(Data::Flags(vec![
                        Flag::Answered,
                        Flag::Flagged,
                        Flag::Deleted,
                        Flag::Seen,
                        Flag::Draft,
                    ]))
                    .unwrap();
                    flow.send(Data::Exists(st.messages.len() as u32)).unwrap();
                    flow.send(Data::Recent(0)).unwrap();
                    flow.send(Untagged::ok(
                        Some(Code::UidValidity(42.try_into().unwrap())),
                        "UIDs valid",
                    ))
                    .unwrap();
                    flow.send(Untagged::ok(
                        Some(Code::PermanentFlags(vec![
                            FlagPerm::Flag(Flag::Seen),
                            FlagPerm::Flag(Flag::Deleted),
                            FlagPerm::Asterisk,
                        ])),
                        "Limited",
                    ))
                    .unwrap();
                    flow.accept_select(handle, Some(Code::ReadWrite), "SELECT completed")
                        .unwrap();
                }
                ServerEvent::Close { handle, .. } => {
                    let mut st = store.lock().unwrap();
                    st.messages.retain(|m| !m.flags.contains(&Flag::Deleted));
                    flow.accept_close(handle, "done").unwrap();
                }
                ServerEvent::Logout { handle } => flow.accept_logout(handle).unwrap(),
                ServerEvent::Idle { handle } => flow.accept_idle(handle).unwrap(),
                ServerEvent::Command { handle, command } => {
                    let mut st = store.lock().unwrap();
                    let done: Done = match command {
                        CommandBody::Capability => {
                            let caps = [
                                "IMAP4rev1",
                                "LITERAL+",
                                "UIDPLUS",
                                "MOVE",
                                "IDLE",
                                "APPENDLIMIT=52428800",
                            ];
                            flow.send(Data::Capability(
                                Vec1::try_from(
                                    caps.iter()
                                        .map(|c| Atom::try_from(*c).unwrap())
                                        .collect::<Vec<_>>(),
                                )
                                .unwrap(),
                            ))
                            .unwrap();
                            (None, "CAPABILITY completed")
                        }
                        CommandBody::List { .. } => {
                            let l = ListData {
                                attributes: vec![Atom::try_from("HasNoChildren").unwrap()],
                                delimiter: Some(b'/'),
                                mailbox: Mailbox::inbox(),
                                extended: None,
                            };
                            flow.send(Data::List(l)).unwrap();
                            (None, "LIST completed")
                        }
                        CommandBody::Status { mailbox, items } => {
                            let values = items
                                .iter()
                                .map(|i| {
                                    (
                                        *i,
                                        Some(match i {
                                            StatusItem::Messages => st.messages.len() as u64,
                                            StatusItem::UidNext => u64::from(st.next_uid),
                                            StatusItem::UidValidity => 42,
                                            StatusItem::Unseen => st
                                                .messages
                                                .iter()
                                                .filter(|m| !m.flags.contains(&Flag::Seen))
                                                .count()
                                                as u64,
                                            _ => 0,
                                        }),
                                    )
                                })
                                .collect();
                            flow.send(Data::Status {
                                mailbox,
                                items: values,
                            })
                            .unwrap();
                            (None, "STATUS completed")
                        }
                        CommandBody::Search { uid, criteria, .. } => {
                            let ids = (0..st.messages.len())
                                .filter(|&i| {
                                    criteria.iter().all(|k| match k {
                                        SearchKey::All => true,
                                        SearchKey::Deleted => {
                                            st.messages[i].flags.contains(&Flag::Deleted)
                                        }
                                        SearchKey::Unseen => {
                                            !st.messages[i].flags.contains(&Flag::Seen)
                                        }
                                        _ => true,
                                    })
                                })
                                .map(|i| {
                                    if uid {
                                        st.messages[i].uid
                                    } else {
                                        i as u32 + 1
                                    }
                                    .try_into()
                                    .unwrap()
                                })
                                .collect();
                            flow.send(Data::Search { ids, modseq: None }).unwrap();
                            (None, "SEARCH completed")
                        }
                        CommandBody::Fetch {
                            uid, set, items, ..
                        } => {
                            let atts = items.expand();
                            for n in resolve(&set, &st, uid) {
                                let m = &mut st.messages[n - 1];
                                if atts.iter().any(|a| {
                                    matches!(
                                        a,
                                        FetchAttribute::Rfc822
                                            | FetchAttribute::BodySection { peek: false, .. }
                                    )
                                }) && !m.flags.contains(&Flag::Seen)
                                {
                                    m.flags.push(Flag::Seen);
                                }
                                let items = fetch_items(m, n, &atts, uid);
                                flow.send(Data::Fetch {
                                    seq: (n as u32).try_into().unwrap(),
                                    items: Vec1::try_from(items).unwrap(),
                                })
                                .unwrap();
                            }
                            (None, "FETCH completed")
                        }
                        CommandBody::Store {
                            uid,
                            set,
                            kind,
                            silent,
                            flags,
                            ..
                        } => {
                            for n in resolve(&set, &st, uid) {
                                let m = &mut st.messages[n - 1];
                                match kind {
                                    StoreKind::Replace => m.flags.clone_from(&flags),
                                    StoreKind::Add => m.flags.extend(
                                        flags
                                            .iter()
                                            .filter(|f| !m.flags.contains(f))
                                            .cloned()
                                            .collect::<Vec<_>>(),
                                    ),
                                    StoreKind::Remove => m.flags.retain(|f| !flags.contains(f)),
                                }
                                if !silent {
                                    let items = vec![FetchItem::Flags(
                                        m.flags.iter().cloned().map(FlagFetch::Flag).collect(),
                                    )];
                                    flow.send(Data::Fetch {
                                        seq: (n as u32).try_into().unwrap(),
                                        items: Vec1::try_from(items).unwrap(),
                                    })
                                    .unwrap();
                                }
                            }
                            (None, "STORE completed")
                        }
                        CommandBody::Expunge => {
                            let mut i = 0;
                            while i < st.messages.len() {
                                if st.messages[i].flags.contains(&Flag::Deleted) {
                                    st.messages.remove(i);
                                    flow.send(Data::Expunge((i as u32 + 1).try_into().unwrap()))
                                        .unwrap();
                                } else {
                                    i += 1;
                                }
                            }
                            (None, "done")
                        }
                        _ => (None, "done"),
                    };
                    drop(st);
                    flow.complete(handle, Condition::Ok, done.0, done.1)
                        .unwrap();
                }
                ServerEvent::AppendStart {
                    tag,
                    mailbox,
                    flags,
                    date,
                    length,
                } => {
                    append = Some((
                        tag,
                        mailbox,
                        flags.unwrap_or_default(),
                        date,
                        Vec::with_capacity(length as usize),
                    ));
                }
                ServerEvent::AppendChunk { data, .. } => {
                    if let Some(a) = append.as_mut() {
                        a.4.extend_from_slice(&data);
                    }
                }
                ServerEvent::AppendEnd { handle } => {
                    let (_, _mailbox, flags, date, body) = append.take().unwrap();
                    let mut st = store.lock().unwrap();
                    st.next_uid += 1;
                    let uid = st.next_uid;
                    let date = date
                        .unwrap_or_else(|| DateTime::from_unix_timestamp(1_700_000_000).unwrap());
                    st.messages.push(Message {
                        uid,
                        flags,
                        date,
                        body,
                    });
                    drop(st);
                    flow.complete(
                        handle,
                        Condition::Ok,
                        Some(Code::AppendUid {
                            uid_validity: 42.try_into().unwrap(),
                            uids: SequenceSet::single(uid.try_into().unwrap()),
                        }),
                        "APPEND completed",
                    )
                    .unwrap();
                }
                ServerEvent::IdleDone { handle } => flow
                    .complete(handle, Condition::Ok, None, "IDLE terminated")
                    .unwrap(),
                _ => {}
            }
        }
        while let Some(out) = flow.poll_transmit() {
            stream.write_all(&out).await?;
        }
        if flow.is_closed() {
            return Ok(());
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        flow.handle_input(std::time::Instant::now(), &buf[..n]);
    }
}

const SCRIPT: &str = r"
import imaplib, sys, time
port = int(sys.argv[1])
m = imaplib.IMAP4('127.0.0.1', port, timeout=20)
print('CAPS', ' '.join(sorted(m.capabilities)))
try:
    m.login('alice', 'wrong')
except imaplib.IMAP4.error as e:
    print('LOGIN-FAILED', e)
print('LOGIN', m.login('alice', 'pa ss')[0])
print('LIST', m.list()[1])
print('SELECT', m.select('INBOX'))
msg = b'From: a@example.org\r\nSubject: hello\r\n\r\nline one\r\nline two\r\n'
print('APPEND', m.append('INBOX', r'(\Flagged)', imaplib.Time2Internaldate(1700000000), msg))
print('APPEND2', m.append('INBOX', None, None, b'Subject: two\r\n\r\nsecond\r\n'))
m.select('INBOX')
typ, data = m.search(None, 'ALL')
print('SEARCH', data)
typ, data = m.fetch('1', '(RFC822)')
assert data[0][1] == msg, data
print('FETCH-RFC822', len(data[0][1]))
typ, data = m.fetch('1:*', '(FLAGS RFC822.SIZE BODY.PEEK[HEADER] INTERNALDATE)')
print('FETCH', data)
typ, data = m.uid('FETCH', '1:*', '(FLAGS BODY.PEEK[TEXT]<0.4>)')
print('UIDFETCH', data)
print('STORE', m.store('2', '+FLAGS', r'(\Deleted)'))
print('EXPUNGE', m.expunge())
print('STATUS', m.status('INBOX', '(MESSAGES UIDNEXT UNSEEN)'))
print('NOOP', m.noop())
print('CLOSE', m.close())
print('LOGOUT', m.logout())
";

#[test]
fn python_imaplib_against_our_server() {
    let Some(python) = peer::require("python3", "python3") else {
        return;
    };
    let dir = TempDir::new("python");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let store = Arc::new(Mutex::new(Store::default()));
    let server_store = store.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = std::thread::spawn(move || {
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            // One connection, bounded in time.
            let accepted = tokio::time::timeout(Duration::from_secs(30), listener.accept()).await;
            if let Ok(Ok((stream, _))) = accepted {
                let _ = tokio::time::timeout(Duration::from_secs(30), serve(stream, server_store))
                    .await;
            }
        });
    });
    let script = dir.path().join("client.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = Command::new(python)
        .arg(&script)
        .arg(port.to_string())
        .current_dir(dir.path())
        .output()
        .unwrap();
    server.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "imaplib failed:\n{stdout}\n{stderr}");
    for needle in [
        "IMAP4REV1 LITERAL+",
        "LOGIN-FAILED",
        "LOGIN OK",
        "SELECT ('OK', [b'0'])",
        "[APPENDUID 42 1] APPEND completed",
        "SEARCH [b'1 2']",
        "FETCH-RFC822 59",
        "RFC822.SIZE 59",
        "INTERNALDATE \"14-Nov-2023 22:13:20 +0000\"",
        "BODY[TEXT]<0> {4}",
        "EXPUNGE ('OK', [b'2'])",
        "STATUS ('OK', [b'INBOX (MESSAGES 1 UIDNEXT 2 UNSEEN 0)'])",
        "LOGOUT ('BYE'",
    ] {
        assert!(
            stdout.contains(needle),
            "missing {needle:?} in:\n{stdout}\n{stderr}"
        );
    }
    assert_eq!(store.lock().unwrap().messages.len(), 1);
}
