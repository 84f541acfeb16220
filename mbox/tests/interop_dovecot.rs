//! Interop with Dovecot 2.3 (dovecot-imapd) serving an mbox INBOX, run standalone on a loopback
//! port as the `mail` user and driven by Python's `imaplib`:
//! - Dovecot serves the mbox we wrote: same messages byte for byte (as CRLF, the IMAP form), our
//!   flags (`Status`/`X-Status`), keywords (`X-Keywords`), UIDs (`X-UID`) and UIDVALIDITY/UIDNEXT
//!   (`X-IMAPbase`).
//! - After Dovecot changes it (STORE, EXPUNGE, APPEND: Dovecot rewrites the file under its
//!   dotlock + fcntl locks), we read back what it wrote with the same UIDs and flags.

#[allow(unreachable_pub)]
#[path = "support/peer.rs"]
mod peer;

#[path = "support/dovecot.rs"]
mod dovecot;

use dovecot::{Dovecot, MBOX, chown_tree};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use mailwright_mbox::{
    Asctime, Flags, FromLine, ImapBase, Mbox, MboxOptions, Metadata, Variant, WriteOptions, Writer,
};

/// `dump`: `V <uidvalidity> <uidnext>`, then per message `<uid> <flags> <hex body>`.
/// `modify`: STORE, EXPUNGE and APPEND, then dump.
const CLIENT: &str = r"
import imaplib, re, sys
port, mode = int(sys.argv[1]), sys.argv[2]
c = imaplib.IMAP4('127.0.0.1', port)
c.login('u1', 'pw')
def dump():
    typ, _ = c.select('INBOX', readonly=True)
    assert typ == 'OK'
    _, v = c.status('INBOX', '(UIDVALIDITY UIDNEXT)')
    print('V', int(re.search(rb'UIDVALIDITY (\d+)', v[0]).group(1)), int(re.search(rb'UIDNEXT (\d+)', v[0]).group(1)))
    typ, data = c.uid('FETCH', '1:*', '(UID FLAGS BODY.PEEK[])')
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, body = item
        uid = int(re.search(rb'UID (\d+)', head).group(1))
        flags = re.search(rb'FLAGS \(([^)]*)\)', head).group(1).decode().split()
        flags = [f for f in flags if f != '\\Recent']
        print(uid, ','.join(sorted(flags)) or '-', body.hex())
if mode == 'modify':
    c.select('INBOX')
    c.uid('STORE', '11', '+FLAGS', r'(\Answered $Later)')
    c.uid('STORE', '12', '+FLAGS', r'(\Deleted)')
    c.expunge()
    c.append('INBOX', r'(\Seen)', None, b'Subject: appended\r\n\r\nby dovecot\r\n')
dump()
c.logout()
";

type Dump = (u32, u32, BTreeMap<u32, (String, Vec<u8>)>);

fn client(py: &Path, port: u16, mode: &str) -> Dump {
    let out = Command::new(py)
        .arg("-c")
        .arg(CLIENT)
        .arg(port.to_string())
        .arg(mode)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "imaplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let v: Vec<u32> = lines
        .next()
        .unwrap()
        .split(' ')
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    let mut msgs = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(' ').collect();
        let body = (0..f[2].len() / 2)
            .map(|i| u8::from_str_radix(&f[2][2 * i..2 * i + 2], 16).unwrap())
            .collect();
        msgs.insert(f[0].parse().unwrap(), (f[1].to_owned(), body));
    }
    (v[0], v[1], msgs)
}

fn to_crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + 16);
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' && (i == 0 || b[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(c);
    }
    out
}

fn imap_flags(m: &Metadata) -> String {
    let f = m.flags;
    let mut names: Vec<String> = [
        (f.answered, "\\Answered"),
        (f.deleted, "\\Deleted"),
        (f.draft, "\\Draft"),
        (f.flagged, "\\Flagged"),
        (f.seen, "\\Seen"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| (*n).to_owned())
    .collect();
    names.extend(m.keywords.iter().cloned());
    names.sort();
    if names.is_empty() {
        "-".to_owned()
    } else {
        names.join(",")
    }
}

#[test]
fn dovecot_serves_our_mbox_and_we_read_its_changes() {
    let Some(bin) = peer::require("dovecot", "dovecot-imapd") else {
        return;
    };
    let Some(py) = peer::require_python_module("imaplib", "python3") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = tmp.path().join("home/u1");
    std::fs::create_dir_all(home.join("mail")).unwrap();
    let inbox = home.join("inbox");

    let date = Asctime::new(2026, 11, 28, 12, 0, 0).unwrap();
    let messages: Vec<(Metadata, &[u8])> = vec![
        (
            Metadata {
                flags: Flags {
                    seen: true,
                    old: true,
                    ..Flags::NONE
                },
                keywords: vec![],
                uid: Some(10),
                imap_base: Some(ImapBase {
                    uid_validity: 1_234_567,
                    uid_last: 20,
                    keywords: vec!["$Work".into()],
                }),
            },
            b"Subject: one\nFrom: a@example.org\n\nfirst body\n",
        ),
        (
            Metadata {
                flags: Flags {
                    flagged: true,
                    old: true,
                    ..Flags::NONE
                },
                keywords: vec!["$Work".into()],
                uid: Some(11),
                imap_base: None,
            },
            b"Subject: two\n\nsecond\n\nwith a blank line\n",
        ),
        (
            Metadata {
                flags: Flags {
                    old: true,
                    ..Flags::NONE
                },
                keywords: vec![],
                uid: Some(12),
                imap_base: None,
            },
            b"Subject: three\n\nto be expunged\n",
        ),
        (
            Metadata {
                flags: Flags {
                    seen: true,
                    answered: true,
                    draft: true,
                    old: true,
                    ..Flags::NONE
                },
                keywords: vec![],
                uid: Some(15),
                imap_base: None,
            },
            b"Subject: four\n\nlast\n",
        ),
    ];
    let mut w = Writer::new(
        std::fs::File::create(&inbox).unwrap(),
        WriteOptions::default(),
    );
    for (i, (meta, text)) in messages.iter().enumerate() {
        let from = FromLine::new(&format!("s{i}@example.org"), date).unwrap();
        w.write_message(&from, meta, text).unwrap();
    }
    w.into_inner().unwrap();
    chown_tree(&tmp.path().join("home"));

    let dc = Dovecot::start(&bin, tmp.path(), "u1", "pw", MBOX);
    let (uid_validity, uid_next, served) = client(&py, dc.port, "dump");
    assert_eq!(
        (uid_validity, uid_next),
        (1_234_567, 21),
        "dovecot log:\n{}",
        dc.log()
    );
    let expected: BTreeMap<u32, (String, Vec<u8>)> = messages
        .iter()
        .map(|(m, text)| (m.uid.unwrap(), (imap_flags(m), to_crlf(text))))
        .collect();
    assert_eq!(served, expected, "dovecot log:\n{}", dc.log());

    // Dovecot changes the mbox: flags, an expunge, an append.
    let (_, _, after) = client(&py, dc.port, "modify");
    drop(dc);
    assert_eq!(after.len(), 4);

    let mbox = Mbox::new(&inbox, MboxOptions::new(Variant::Mboxrd));
    let entries = mbox.entries().unwrap();
    // Dovecot may keep a pseudo message for its metadata; ours are the ones with a UID it serves.
    let ours: BTreeMap<u32, (String, Vec<u8>)> = entries
        .iter()
        .filter_map(|e| {
            let uid = e.metadata.uid?;
            let text = mailwright_mbox::strip_metadata(&mbox.read_message(e).unwrap());
            Some((uid, (imap_flags(&e.metadata), to_crlf(&text))))
        })
        .filter(|(uid, _)| after.contains_key(uid))
        .collect();
    // Dovecot writes a Content-Length header into messages it appends and hides it over IMAP; we
    // show the stored message, so compare without it.
    for (uid, (_, body)) in &ours {
        assert_eq!(without_content_length(body), after[uid].1, "uid {uid}");
    }
    let want = after;
    let ours_flags: BTreeMap<u32, String> =
        ours.iter().map(|(u, (f, _))| (*u, f.clone())).collect();
    let want_flags: BTreeMap<u32, String> =
        want.iter().map(|(u, (f, _))| (*u, f.clone())).collect();
    assert_eq!(ours_flags, want_flags);
    assert!(want_flags[&11].contains("\\Answered") && want_flags[&11].contains("$Later"));
    assert!(!want_flags.contains_key(&12));
    let base = entries
        .iter()
        .find_map(|e| e.metadata.imap_base.clone())
        .expect("X-IMAPbase kept");
    assert_eq!(base.uid_validity, 1_234_567);
    assert!(base.uid_last > 20);
}

/// The message without a `Content-Length:` header line.
fn without_content_length(msg: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(msg);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let head: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes()
}
