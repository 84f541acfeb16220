//! Interop with Dovecot 2.3 (dovecot-imapd), run standalone on a loopback port as the `mail`
//! user: it serves a Maildir we wrote with our UIDs, UIDVALIDITY, flags and keywords; and we read
//! a Maildir it wrote through IMAP APPEND/STORE/EXPUNGE with the same UIDs and flags.
//! The IMAP side is driven by Python's `imaplib`.

#[allow(unreachable_pub)] // shared helper, written for every crate
#[path = "support/peer.rs"]
mod peer;

#[path = "support/dovecot.rs"]
mod dovecot;

mod common;

use dovecot::{Dovecot, MAILDIR, chown_tree};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::TempDir;
use mailwright_maildir::{DeliveryOptions, FlagUpdate, Flags, MailboxState, Maildir};

/// The imaplib side. `dump MAILBOX`: print `V <uidvalidity> <uidnext>` then one line per
/// message `<uid> <flags,sorted,comma-joined> <rfc822.size> <hex body>`. `write`: APPENDs and
/// STOREs, then dump INBOX.
const CLIENT: &str = r"
import imaplib, re, sys
port, mode = int(sys.argv[1]), sys.argv[2]
c = imaplib.IMAP4('127.0.0.1', port, timeout=20)
c.login('u1', 'pw')
def dump(box):
    typ, _ = c.select(box, readonly=True)
    assert typ == 'OK', box
    _, v = c.status(box, '(UIDVALIDITY UIDNEXT)')
    uv = re.search(rb'UIDVALIDITY (\d+)', v[0]).group(1)
    un = re.search(rb'UIDNEXT (\d+)', v[0]).group(1)
    print('V', int(uv), int(un))
    typ, data = c.uid('FETCH', '1:*', '(UID FLAGS RFC822.SIZE BODY.PEEK[])')
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, body = item
        uid = int(re.search(rb'UID (\d+)', head).group(1))
        flags = re.search(rb'FLAGS \(([^)]*)\)', head).group(1).decode().split()
        flags = [f for f in flags if f != '\\Recent']  # session state, not stored
        size = int(re.search(rb'RFC822.SIZE (\d+)', head).group(1))
        print(uid, ','.join(sorted(flags)) or '-', size, body.hex())
if mode == 'dump':
    dump(sys.argv[3])
else:
    c.append('INBOX', r'(\Seen)', None, b'Subject: a\r\n\r\nfrom dovecot a\r\n')
    c.append('INBOX', r'(\Flagged $Work)', None, b'Subject: b\r\n\r\nfrom dovecot b\r\n')
    c.append('INBOX', None, None, b'Subject: c\r\n\r\nfrom dovecot c\r\n')
    c.append('INBOX', None, None, b'Subject: d\r\n\r\nfrom dovecot d\r\n')
    c.select('INBOX')
    c.uid('STORE', '2', '+FLAGS', r'(\Answered)')
    c.uid('STORE', '3', '+FLAGS', r'(\Deleted)')
    c.expunge()
    c.create('Archive.2024')
    c.append('Archive.2024', r'(\Draft)', None, b'Subject: e\r\n\r\nin a folder\r\n')
    dump('INBOX')
c.logout()
";

fn client(py: &Path, port: u16, args: &[&str]) -> String {
    let out = Command::new(py)
        .arg("-c")
        .arg(CLIENT)
        .arg(port.to_string())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "imaplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// (uidvalidity, uidnext, uid → (flags, size, body)).
type Dump = (u32, u32, BTreeMap<u32, (String, u64, Vec<u8>)>);

fn parse_dump(text: &str) -> Dump {
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
        let body = (0..f[3].len() / 2)
            .map(|i| u8::from_str_radix(&f[3][2 * i..2 * i + 2], 16).unwrap())
            .collect();
        msgs.insert(
            f[0].parse().unwrap(),
            (f[1].to_owned(), f[2].parse().unwrap(), body),
        );
    }
    (v[0], v[1], msgs)
}

/// Our view in the same shape, with Maildir flags mapped to IMAP as Dovecot does.
fn our_dump(md: &Maildir, state: &MailboxState) -> Dump {
    let mut msgs = BTreeMap::new();
    for m in &state.messages {
        let f = m.entry.flags();
        let mut names: Vec<String> = Vec::new();
        for (c, n) in [
            ('D', "\\Draft"),
            ('F', "\\Flagged"),
            ('R', "\\Answered"),
            ('S', "\\Seen"),
            ('T', "\\Deleted"),
        ] {
            if f.contains_char(c) {
                names.push(n.to_owned());
            }
        }
        names.extend(state.keywords.names_in(f).into_iter().map(str::to_owned));
        names.sort();
        let flags = if names.is_empty() {
            "-".to_owned()
        } else {
            names.join(",")
        };
        // IMAP serves CRLF line ends whatever is on disk; W= is the size in that form.
        let body = to_crlf(&md.read_message(&m.entry).unwrap());
        assert_eq!(m.entry.vsize(), Some(body.len() as u64));
        msgs.insert(m.uid, (flags, m.entry.vsize().unwrap(), body));
    }
    (state.uid_validity, state.uid_next, msgs)
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

fn peers() -> Option<(PathBuf, PathBuf)> {
    // Dovecot runs the mail as the `mail` user: the tree must be chowned, which needs root.
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").ok()?);
    if uid != 0 {
        assert!(
            !peer::in_ci(),
            "the Dovecot interop tests need root under CI"
        );
        eprintln!("SKIP: Dovecot interop needs root (to chown the Maildir to `mail`)");
        return None;
    }
    let dovecot = peer::require("dovecot", "dovecot-imapd")?;
    let py = peer::require_python_module("imaplib", "python3")?;
    Some((dovecot, py))
}

#[test]
fn dovecot_serves_what_we_wrote() {
    let Some((bin, py)) = peers() else { return };
    let tmp = TempDir::new("dovecot-serve");
    let root = tmp.path().join("home/u1/Maildir");
    let inbox = Maildir::create_user(&root).unwrap();
    inbox.deliver(b"Subject: 1\n\nLF line ends\n").unwrap();
    let seen = DeliveryOptions {
        flags: Some(Flags::parse("S").unwrap()),
        ..Default::default()
    };
    inbox
        .deliver_with(b"Subject: 2\r\n\r\nCRLF\r\n", seen)
        .unwrap();
    let third = inbox.deliver(b"Subject: 3\r\n\r\nthird\r\n").unwrap();
    let kw = inbox.keyword_flags(&["$Work"]).unwrap();
    let add = kw.union(Flags::parse("FR").unwrap());
    inbox.set_flags(&third.entry, FlagUpdate::Add(add)).unwrap();
    // A gap in the UIDs, and a folder.
    let gone = inbox.deliver(b"Subject: gone\r\n\r\n").unwrap();
    inbox.sync().unwrap();
    inbox.remove(&gone.entry).unwrap();
    let state = inbox.sync().unwrap();
    assert_eq!(
        state.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let sent = inbox.folder("Sent").unwrap();
    sent.deliver(b"Subject: sent\r\n\r\nx\r\n").unwrap();
    let sent_state = sent.sync().unwrap();
    let ours = our_dump(&inbox, &state);
    let ours_sent = our_dump(&sent, &sent_state);
    chown_tree(tmp.path());

    let dc = Dovecot::start(&bin, tmp.path(), "u1", "pw", MAILDIR);
    let theirs = parse_dump(&client(&py, dc.port, &["dump", "INBOX"]));
    assert_eq!(theirs, ours, "dovecot log:\n{}", dc.log());
    let theirs_sent = parse_dump(&client(&py, dc.port, &["dump", "Sent"]));
    assert_eq!(theirs_sent, ours_sent);

    // While Dovecot runs (its index now exists): an APPEND through us, whose UID is appended to
    // dovecot-uidlist under the shared dotlock, and an expunge. Dovecot shows both, same UIDs.
    let appended = inbox
        .append(
            &b"Subject: live\r\n\r\nappended\r\n"[..],
            Flags::empty(),
            None,
        )
        .unwrap();
    assert_eq!(appended.uid, 5);
    inbox.remove(&state.messages[0].entry).unwrap();
    let state = inbox.sync().unwrap();
    let ours = our_dump(&inbox, &state);
    // Only the mail tree: Dovecot's own run/ directory must keep its owners.
    chown_tree(&tmp.path().join("home"));
    let theirs = parse_dump(&client(&py, dc.port, &["dump", "INBOX"]));
    assert_eq!(theirs, ours, "dovecot log:\n{}", dc.log());
}

#[test]
fn we_read_what_dovecot_wrote() {
    let Some((bin, py)) = peers() else { return };
    let tmp = TempDir::new("dovecot-write");
    let home = tmp.path().join("home/u1");
    std::fs::create_dir_all(&home).unwrap();
    chown_tree(tmp.path());
    let dc = Dovecot::start(&bin, tmp.path(), "u1", "pw", MAILDIR);
    let theirs = parse_dump(&client(&py, dc.port, &["write"]));
    assert_eq!(theirs.2.len(), 3, "dovecot log:\n{}", dc.log());
    let theirs_folder = parse_dump(&client(&py, dc.port, &["dump", "Archive.2024"]));
    drop(dc);

    let inbox = Maildir::open(home.join("Maildir")).unwrap();
    let state = inbox.sync().unwrap();
    assert_eq!(our_dump(&inbox, &state), theirs);
    assert_eq!(inbox.list_folders().unwrap(), ["Archive.2024"]);
    let folder = inbox.folder("Archive.2024").unwrap();
    assert_eq!(our_dump(&folder, &folder.sync().unwrap()), theirs_folder);

    // Back to Dovecot (its index files still there): our new message and flag change show,
    // with the UID we assigned.
    let d = inbox.deliver(b"Subject: f\r\n\r\nfrom us\r\n").unwrap();
    let first = &state.messages[0].entry;
    inbox
        .set_flags(first, FlagUpdate::Add(Flags::parse("F").unwrap()))
        .unwrap();
    let state = inbox.sync().unwrap();
    assert_eq!(state.by_unique(d.unique()).unwrap().uid, 5);
    let ours = our_dump(&inbox, &state);
    chown_tree(&tmp.path().join("home"));
    let dc = Dovecot::start(&bin, tmp.path(), "u1", "pw", MAILDIR);
    let theirs = parse_dump(&client(&py, dc.port, &["dump", "INBOX"]));
    assert_eq!(theirs, ours, "dovecot log:\n{}", dc.log());
}

/// The imaplib side of the shared-files check: LIST, a CREATE whose UIDVALIDITY comes from the
/// user's counter, and the keywords Dovecot shows on INBOX's first message.
const SHARED: &str = r"
import imaplib, re, sys
c = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]), timeout=20)
c.login('u1', 'pw')
_, boxes = c.list()
print('LIST', ' '.join(sorted(b.decode().rsplit(' ', 1)[1].strip('\x22') for b in boxes)))
typ, _ = c.create('FromDovecot')
assert typ == 'OK'
_, v = c.status('FromDovecot', '(UIDVALIDITY)')
print('V', re.search(rb'UIDVALIDITY (\d+)', v[0]).group(1).decode())
_, v = c.status('INBOX', '(UIDVALIDITY MESSAGES)')
print('INBOX', re.search(rb'UIDVALIDITY (\d+)', v[0]).group(1).decode(),
      re.search(rb'MESSAGES (\d+)', v[0]).group(1).decode())
c.select('INBOX', readonly=True)
_, data = c.fetch('1', '(FLAGS)')
flags = re.search(rb'FLAGS \(([^)]*)\)', data[0]).group(1).decode().split()
print('FLAGS', ' '.join(sorted(f for f in flags if not f.startswith('\\'))))
c.logout()
";

/// Dovecot reads what we keep beside its files: UIDVALIDITY comes from one per-user counter
/// (ours and Dovecot's, in turn), the first 26 keywords are letters it names, and our own files
/// and directories (first-recent, keywords past the letters, expunged messages) are no mailboxes.
#[test]
fn dovecot_shares_the_uidvalidity_counter_and_sees_the_letter_keywords() {
    let Some((bin, py)) = peers() else { return };
    let tmp = TempDir::new("dovecot-shared");
    let root = tmp.path().join("home/u1/Maildir");
    let inbox = Maildir::create_user(&root).unwrap();
    let mut ours: Vec<u32> = vec![inbox.sync().unwrap().uid_validity];
    for f in inbox.list_folders().unwrap() {
        ours.push(inbox.folder(&f).unwrap().sync().unwrap().uid_validity);
    }
    inbox.deliver(b"Subject: k\r\n\r\nkeywords\r\n").unwrap();
    let gone = inbox.deliver(b"Subject: gone\r\n\r\n").unwrap();
    let mut st = inbox.sync_claim_recent().unwrap();
    let all: Vec<String> = (0..30).map(|i| format!("$Label{i:02}")).collect();
    let names: Vec<&str> = all.iter().map(String::as_str).collect();
    inbox
        .store(&mut st, &[1], FlagUpdate::Add(Flags::empty()), &names, None)
        .unwrap();
    inbox.remove(&gone.entry).unwrap(); // kept in mailwright-expunged/
    let v_inbox = inbox.sync().unwrap().uid_validity;
    chown_tree(tmp.path());

    let dc = Dovecot::start(&bin, tmp.path(), "u1", "pw", MAILDIR);
    let out = Command::new(&py)
        .arg("-c")
        .arg(SHARED)
        .arg(dc.port.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "imaplib failed: {}\ndovecot log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        dc.log()
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |key: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(key).map(|r| r.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    assert_eq!(line("LIST"), "Drafts INBOX Junk Sent Trash");
    let theirs: u32 = line("V").parse().unwrap();
    assert_eq!(
        theirs,
        ours.iter().max().unwrap() + 1,
        "Dovecot took the next value"
    );
    assert_eq!(line("INBOX"), format!("{v_inbox} 1"));
    assert_eq!(line("FLAGS"), names[..26].join(" "), "the letters, named");
    drop(dc);
    // And we take the one after Dovecot's.
    let next = inbox
        .create_folder("FromUs")
        .unwrap()
        .sync()
        .unwrap()
        .uid_validity;
    assert_eq!(next, theirs + 1);
}
