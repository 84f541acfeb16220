//! IMAP service end to end: Python `imaplib` scripted sessions against a running `full_server`
//! assembly (see `tests/common`), raw sockets for what imaplib cannot send.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{TestServer, peer, python};
use mailwright::server::Service;

/// Session core: greeting, CAPABILITY, NOOP, ID, ENABLE, bad credentials, AUTHENTICATE PLAIN
/// (continuation form), state enforcement, LOGOUT.
const CORE: &str = r#"
import imaplib, sys
port = int(sys.argv[1])
M = imaplib.IMAP4('127.0.0.1', port)
assert 'IMAP4REV1' in M.capabilities, M.capabilities
assert 'AUTH=PLAIN' in M.capabilities, M.capabilities
assert 'STARTTLS' in M.capabilities, M.capabilities
typ, _ = M.noop(); assert typ == 'OK'
typ, data = M.xatom('ID', 'NIL'); assert typ == 'OK', data
try:
    M.login('alice@example.org', 'wrong'); raise SystemExit('bad password accepted')
except M.error as e:
    assert 'AUTHENTICATIONFAILED' in str(e), e
M.authenticate('PLAIN', lambda _: b'\0alice@example.org\0alice-pw')
assert M.state == 'AUTH'
typ, caps = M.capability(); assert typ == 'OK'
caps = caps[0].decode()
for c in ['IDLE', 'UIDPLUS', 'MOVE', 'SPECIAL-USE', 'NAMESPACE', 'ENABLE', 'ESEARCH']:
    assert c in caps, caps
typ, data = M.xatom('ENABLE', 'CONDSTORE'); assert typ == 'OK', data
typ, data = M.namespace(); assert typ == 'OK' and b'(("" "/"))' in data[0], data
typ, data = M.logout(); assert typ == 'BYE', (typ, data)
print('core ok')
"#;

#[test]
fn imaplib_session_core() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let out = python(CORE, &[&server.port(Service::Imap).to_string()]);
    assert!(out.contains("core ok"), "{out}");
}

fn raw(addr: std::net::SocketAddr, payload: &[u8], wait_for: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(payload).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        if String::from_utf8_lossy(&out).contains(wait_for) {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn malformed_input_gets_bad_and_the_session_goes_on_sasl_ir_logs_in() {
    let server = TestServer::start();
    // base64("\0alice@example.org\0alice-pw")
    let out = raw(
        server.addr(Service::Imap),
        b"a1 FROB\r\n)))\r\na2 FETCH 1 FLAGS\r\na3 AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXB3\r\na4 SELECT INBOX\r\na5 LOGOUT\r\n",
        "a5 OK",
    );
    assert!(out.contains("a1 BAD"), "{out}");
    assert!(out.contains("a2 BAD"), "{out}");
    assert!(out.contains("a3 OK"), "{out}");
    assert!(out.contains("a4 OK [READ-WRITE]"), "{out}");
    assert!(out.contains("* BYE"), "{out}");
    assert!(out.contains("a5 OK"), "{out}");
}

#[test]
fn plaintext_login_is_refused_without_tls_when_not_allowed() {
    let server = TestServer::start_with(|c| c.auth.plaintext_on_loopback = false);
    let out = raw(
        server.addr(Service::Imap),
        b"a1 CAPABILITY\r\na2 LOGIN alice@example.org alice-pw\r\na3 LOGOUT\r\n",
        "a3 OK",
    );
    assert!(out.contains("LOGINDISABLED"), "{out}");
    assert!(out.contains("a2 NO [PRIVACYREQUIRED]"), "{out}");
}

#[test]
fn starttls_discards_pipelined_plaintext() {
    let server = TestServer::start();
    let out = raw(
        server.addr(Service::Imap),
        b"a1 STARTTLS\r\na2 LOGIN alice@example.org alice-pw\r\n",
        "a1 OK",
    );
    assert!(out.contains("a1 OK"), "{out}");
    assert!(!out.contains("a2"), "{out}");
}

/// Mailboxes: LIST with `*` and `%`, special use, CHILDREN, CREATE with parents, RENAME (also of
/// INBOX), DELETE, SUBSCRIBE/LSUB, STATUS, modified UTF-7, refused names.
const MAILBOXES: &str = r#"
import imaplib, sys
port = int(sys.argv[1])
M = imaplib.IMAP4('127.0.0.1', port)
M.login('alice@example.org', 'alice-pw')
typ, data = M.list('""', '""'); assert typ == 'OK' and data == [b'(\\Noselect) "/" ""'], data
typ, data = M.list('""', '*'); assert typ == 'OK', data
names = [d.decode() for d in data]
assert names[0].endswith('"/" INBOX'), names
assert any('\\Sent' in n and n.endswith(' Sent') for n in names), names
assert any('\\Trash' in n for n in names) and any('\\Junk' in n for n in names), names
assert any('\\Archive' in n for n in names), names
assert M.create('Projects/2024/Q1')[0] == 'OK'
typ, data = M.list('""', '%'); names = [d.decode() for d in data]
assert any(n.endswith(' Projects') and '\\HasChildren' in n for n in names), names
assert not any('2024' in n for n in names), names
typ, data = M.list('Projects/', '%'); names = [d.decode() for d in data]
assert names == ['(\\HasChildren) "/" Projects/2024'], names
typ, data = M.create('Projects'); assert typ == 'NO' and b'ALREADYEXISTS' in data[0], data
# Traversal and separator smuggling are refused.
for bad in ['../bob', 'a.b', '/etc', 'x//y', '&Jjo!']:
    typ, data = M.create(bad); assert typ == 'NO', (bad, data)
# Modified UTF-7 names round-trip.
assert M.create('&ZeVnLIqe-')[0] == 'OK'
typ, data = M.list('""', '&ZeVnLIqe-'); assert data == [b'(\\HasNoChildren) "/" &ZeVnLIqe-'], data
assert M.rename('Projects', 'Work')[0] == 'OK'
typ, data = M.list('""', 'Work/*'); names = [d.decode() for d in data]
assert names == ['(\\HasChildren) "/" Work/2024', '(\\HasNoChildren) "/" Work/2024/Q1'], names
assert M.subscribe('Work/2024')[0] == 'OK'
typ, data = M.lsub('""', '*'); names = [d.decode() for d in data]
assert '() "/" Work/2024' in names and any(n.endswith(' Sent') for n in names), names
assert M.unsubscribe('Work/2024')[0] == 'OK'
typ, data = M.lsub('""', 'Work*'); assert data == [None], data
typ, data = M.status('INBOX', '(MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT)'); assert typ == 'OK', data
assert b'MESSAGES 0' in data[0] and b'UIDNEXT 1' in data[0], data
typ, data = M.status('Nope', '(MESSAGES)'); assert typ == 'NO', data
# RENAME INBOX moves its messages and leaves INBOX empty.
M.append('INBOX', None, None, b'Subject: one\r\n\r\nbody\r\n')
assert M.rename('INBOX', 'Old')[0] == 'OK'
assert b'MESSAGES 1' in M.status('Old', '(MESSAGES)')[1][0]
assert b'MESSAGES 0' in M.status('INBOX', '(MESSAGES)')[1][0]
assert M.delete('Work/2024/Q1')[0] == 'OK'
typ, data = M.delete('INBOX'); assert typ == 'NO', data
typ, data = M.select('Work/2024/Q1'); assert typ == 'NO', data
# LIST-EXTENDED / SPECIAL-USE / LIST-STATUS.
typ, data = M._simple_command('LIST', '(SPECIAL-USE)', '""', '*')
typ, data = M._untagged_response(typ, data, 'LIST')
names = [d.decode() for d in data]
assert len(names) == 5 and all('\\HasNoChildren' in n for n in names), names
typ, data = M._simple_command('LIST', '""', 'Old', 'RETURN', '(STATUS (MESSAGES))')
assert typ == 'OK', data
assert M.untagged_responses.get('STATUS') == [b'Old (MESSAGES 1)'], M.untagged_responses
M.logout()
print('mailboxes ok')
"#;

#[test]
fn imaplib_mailboxes() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let out = python(MAILBOXES, &[&server.port(Service::Imap).to_string()]);
    assert!(out.contains("mailboxes ok"), "{out}");
    // Nothing escaped the user's Maildir.
    assert!(!server.dir.join("mail/example.org/bob/Maildir/.x").exists());
}

/// Messages: APPEND (flags, date, APPENDUID), SELECT responses, FETCH items and sections,
/// \Seen by non-PEEK, STORE, SEARCH, COPY/MOVE with COPYUID, EXPUNGE, CLOSE.
const MESSAGES: &str = r#"
import imaplib, sys, re, time
port = int(sys.argv[1])
M = imaplib.IMAP4('127.0.0.1', port)
M.login('alice@example.org', 'alice-pw')
plain = b'From: "Ann Example" <ann@example.com>\r\nTo: alice@example.org, bob@example.org\r\nSubject: plain one\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <one@example.com>\r\n\r\nHello there\r\nsecond line\r\n'
multi = (b'From: bob@example.org\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nMIME-Version: 1.0\r\n'
         b'Content-Type: multipart/mixed; boundary="BB"\r\n\r\npreamble\r\n--BB\r\n'
         b'Content-Type: text/plain; charset=utf-8\r\n\r\nattached words\r\n--BB\r\n'
         b'Content-Type: application/octet-stream; name="x.bin"\r\nContent-Transfer-Encoding: base64\r\n'
         b'Content-Disposition: attachment; filename="x.bin"\r\n\r\nAAEC\r\n--BB--\r\n')
typ, data = M.append('INBOX', '(\\Flagged $Important)', '"07-Feb-1994 21:52:25 -0800"', plain)
assert typ == 'OK', data
m = re.search(rb'APPENDUID (\d+) 1\]', data[0]); assert m, data
validity = m.group(1)
typ, data = M.append('INBOX', None, None, multi); assert b'APPENDUID ' + validity + b' 2]' in data[0], data
typ, data = M.append('INBOX', '(\\Seen)', None, b'Subject: third\r\n\r\nshort\r\n'); assert typ == 'OK'
typ, data = M.append('Nope', None, None, b'x'); assert typ == 'NO' and b'TRYCREATE' in data[0], data
typ, data = M.select('INBOX'); assert typ == 'OK' and data == [b'3'], data
assert M.untagged_responses.get('UIDVALIDITY') == [validity], M.untagged_responses
assert M.untagged_responses.get('UIDNEXT') == [b'4'], M.untagged_responses
assert M.untagged_responses.get('UNSEEN') == [b'1'], M.untagged_responses
assert b'$Important' in M.untagged_responses.get('FLAGS')[0], M.untagged_responses
typ, data = M.fetch('1', '(FLAGS UID INTERNALDATE RFC822.SIZE)')
line = data[0].decode()
assert 'UID 1' in line and 'RFC822.SIZE %d' % len(plain) in line, line
assert '\\Flagged' in line and '$Important' in line and '08-Feb-1994 05:52:25 +0000' in line, line
typ, data = M.fetch('1', '(BODY.PEEK[])'); assert data[0][1] == plain, data
typ, data = M.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])'); assert data[0][1] == b'Subject: plain one\r\n\r\n', data
typ, data = M.fetch('1', '(BODY.PEEK[TEXT]<6.5>)'); assert data[0][1] == b'there', data
typ, data = M.fetch('1', '(ENVELOPE)')
env = data[0].decode()
assert '"Mon, 7 Feb 1994 21:52:25 -0800" "plain one" (("Ann Example" NIL "ann" "example.com"))' in env, env
assert '<one@example.com>' in env, env
typ, data = M.fetch('2', '(BODYSTRUCTURE)'); bs = data[0].decode()
assert '("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 14 0 NIL NIL NIL NIL)' in bs, bs
assert '"application" "octet-stream" ("name" "x.bin") NIL NIL "base64" 4 NIL' in bs, bs
assert '"mixed" ("boundary" "BB")' in bs and '("attachment" ("filename" "x.bin"))' in bs, bs
typ, data = M.fetch('2', '(BODY[1] BODY.PEEK[2.MIME])')
assert data[0][1] == b'attached words', data
assert data[1][1].startswith(b'Content-Type: application/octet-stream'), data
assert b'\\Seen' in data[0][0], data  # BODY[1] set \Seen, reported first in the FETCH (Dovecot's order)
typ, data = M.fetch('2', '(FLAGS)'); assert b'\\Seen' in data[0], data
typ, data = M.fetch('9', '(FLAGS)'); assert typ == 'NO', data
# STORE.
typ, data = M.store('1:2', '+FLAGS', '(\\Answered Custom)'); assert typ == 'OK' and len(data) == 2, data
assert b'\\Answered' in data[0] and b'Custom' in data[0], data
typ, data = M.store('1', '-FLAGS.SILENT', '(Custom)'); assert data == [None], data
typ, data = M.uid('STORE', '3', 'FLAGS', '(\\Deleted)'); assert b'UID 3' in data[0], data
# SEARCH.
def s(*crit):
    typ, data = M.search(None, *crit); assert typ == 'OK', data
    return data[0].decode()
assert s('ALL') == '1 2 3'
assert s('FLAGGED') == '1'
assert s('DELETED') == '3'
assert s('NOT', 'DELETED') == '1 2'
assert s('OR', 'FLAGGED', 'DELETED') == '1 3'
assert s('SUBJECT', 'PLAIN') == '1'
M.literal = 'CAFÉ'.encode('utf-8')
typ, data = M.search('UTF-8', 'SUBJECT'); assert data[0] == b'2', data
assert s('FROM', 'ann@example') == '1'
assert s('TO', 'bob') == '1'
assert s('BODY', 'attached') == '2'
assert s('TEXT', '"second line"') == '1'
assert s('HEADER', 'Message-ID', 'one@') == '1'
assert s('KEYWORD', '$Important') == '1'
assert s('UNKEYWORD', '$Important') == '2 3'
assert s('LARGER', '250') == '2', s('LARGER', '250')
assert s('SMALLER', '40') == '3'
assert s('SENTBEFORE', '8-Feb-1994') == '1 2 3'  # no Date: counts as 1-Jan-1970, as in Dovecot
assert s('SENTON', '7-Feb-1994') == '1'
assert s('BEFORE', '1-Jan-2000') == '1'
assert s('SINCE', '1-Jan-2000') == '2 3'
assert s('2:3') == '2 3'
assert s('UID', '1,3') == '1 3'
assert s('UNSEEN') == '1 3'
typ, data = M.uid('SEARCH', 'ALL'); assert data[0] == b'1 2 3', data
typ, data = M._simple_command('SEARCH', 'RETURN', '(MIN MAX COUNT ALL)', 'ALL')
assert typ == 'OK'
es = M.untagged_responses.pop('ESEARCH')[0].decode()
assert 'MIN 1 MAX 3 COUNT 3 ALL 1:3' in es, es
typ, data = M.search('KOI8-R', 'ALL'); assert typ == 'NO', data
# COPY and MOVE.
typ, data = M.copy('1:2', 'Trash'); assert typ == 'OK' and b'COPYUID' in data[0] and b' 1:2 1:2]' in data[0], data
typ, data = M.status('Trash', '(MESSAGES)'); assert b'MESSAGES 2' in data[0], data
typ, data = M.copy('1', 'Nope'); assert typ == 'NO' and b'TRYCREATE' in data[0], data
typ, data = M._simple_command('MOVE', '2', 'Archive2')
assert typ == 'NO', data
M.create('Archive2')
typ, data = M._simple_command('UID', 'MOVE', '2', 'Archive2'); assert typ == 'OK', data
assert M.untagged_responses.pop('EXPUNGE') == [b'2'], M.untagged_responses
assert M.select('Archive2')[1] == [b'1']
typ, data = M.fetch('1', '(FLAGS)'); assert b'\\Seen' in data[0] and b'\\Answered' in data[0], data
M.select('INBOX')
typ, data = M.fetch('1:*', '(UID)'); assert [d.decode() for d in data] == ['1 (UID 1)', '2 (UID 3)'], data
# EXPUNGE: the \Deleted message (now number 2) goes.
typ, data = M.expunge(); assert typ == 'OK' and data == [b'2'], data
typ, data = M.fetch('1:*', '(UID)'); assert [d.decode() for d in data] == ['1 (UID 1)'], data
# UID EXPUNGE only touches the given UIDs.
M.store('1', '+FLAGS', '(\\Deleted)')
typ, data = M._simple_command('UID', 'EXPUNGE', '99'); assert typ == 'OK'
typ, data = M.search(None, 'ALL'); assert data[0] == b'1', data
typ, data = M._simple_command('UID', 'EXPUNGE', '1'); assert typ == 'OK'
typ, data = M.search(None, 'ALL'); assert data[0] == b'', data
# EXAMINE is read-only.
typ, data = M.select('Trash', readonly=True); assert typ == 'OK', data
typ, data = M.store('1', '+FLAGS', '(\\Deleted)'); assert typ == 'NO', data
typ, data = M.fetch('1', '(BODY[])'); assert b'\\Seen' not in data[0][0], data
typ, data = M.select('Trash'); assert typ == 'OK'
M.store('1', '+FLAGS', '(\\Deleted)')
assert M.close()[0] == 'OK'
assert b'MESSAGES 1' in M.status('Trash', '(MESSAGES)')[1][0]
M.logout()
print('messages ok')
"#;

#[test]
fn imaplib_messages() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let out = python(MESSAGES, &[&server.port(Service::Imap).to_string()]);
    assert!(out.contains("messages ok"), "{out}");
}

/// Two sessions: one idles, the other appends, flags and expunges; SMTP delivers. Every change
/// shows up in the idling session within a second; \Recent goes to one session only.
const IDLE: &str = r"
import imaplib, smtplib, socket, sys, time
port, smtp_port = int(sys.argv[1]), int(sys.argv[2])
A = imaplib.IMAP4('127.0.0.1', port); A.login('alice@example.org', 'alice-pw')
B = imaplib.IMAP4('127.0.0.1', port); B.login('alice@example.org', 'alice-pw')
for i in range(3):
    B.append('INBOX', None, None, b'Subject: m%d\r\n\r\nbody\r\n' % i)
A.select('INBOX'); B.select('INBOX')
def idle_until(conn, want, limit=3.0):
    tag = conn._new_tag().decode()
    conn.send(('%s IDLE\r\n' % tag).encode())
    assert conn.readline().startswith(b'+'), 'no continuation'
    conn.sock.settimeout(limit)
    got = []
    start = time.time()
    try:
        while not all(any(w in g for g in got) for w in want):
            got.append(conn.readline())
    finally:
        conn.sock.settimeout(None)
    elapsed = time.time() - start
    conn.send(b'DONE\r\n')
    while True:
        line = conn.readline()
        if line.startswith(tag.encode()):
            assert b'OK' in line, line
            break
        got.append(line)
    return got, elapsed
# Delivery by SMTP while A idles.
import threading
def deliver():
    time.sleep(0.3)
    s = smtplib.SMTP('127.0.0.1', smtp_port); s.sendmail('x@remote.test', ['alice@example.org'], b'Subject: smtp\r\n\r\nhi\r\n'); s.quit()
threading.Thread(target=deliver).start()
got, elapsed = idle_until(A, [b'EXISTS'])
assert any(b'* 4 EXISTS' in g for g in got), got
assert elapsed < 2.0, elapsed
# Flags changed by B show as FETCH in A.
B.store('2', '+FLAGS', '(\\Flagged)')
B.store('1', '+FLAGS', '(\\Deleted)')
B.expunge()
got, elapsed = idle_until(A, [b'EXPUNGE', b'FETCH'])
assert any(b'* 1 EXPUNGE' in g for g in got), got
assert any(b'FETCH' in g and b'\\Flagged' in g for g in got), got
# B's view after its EXPUNGE: 3 messages.
typ, data = B.fetch('1:*', '(UID)'); assert len(data) == 3, data
# NOOP reports too.
B.append('INBOX', None, None, b'Subject: late\r\n\r\nx\r\n')
typ, data = A.noop()
assert A.untagged_responses.get('EXISTS')[-1] == b'4', A.untagged_responses
# \Recent: the SMTP message was seen as recent by exactly one session.
ra = A.search(None, 'RECENT')[1][0].split()
rb = B.search(None, 'RECENT')[1][0].split()
# As Dovecot 2.3 answers this sequence: B's three APPENDs before any SELECT are recent in A, the
# first to select; so is the SMTP message (A synced first); B's APPEND to its selected mailbox is
# recent in B. Each in one session only.
assert ra == [b'1', b'2', b'3'] and rb == [b'4'], (ra, rb)
A.logout(); B.logout()
print('idle ok %.3f' % elapsed)
";

#[test]
fn idle_sees_delivery_and_other_sessions_within_a_second() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let out = python(
        IDLE,
        &[
            &server.port(Service::Imap).to_string(),
            &server.port(Service::Smtp).to_string(),
        ],
    );
    assert!(out.contains("idle ok"), "{out}");
}

#[test]
fn users_cannot_reach_each_other() {
    let server = TestServer::start();
    let out = raw(
        server.addr(Service::Imap),
        b"a1 LOGIN bob@example.org bob-pw\r\na2 SELECT ../../alice/Maildir\r\na3 SELECT \"../alice\"\r\na4 CREATE \"x/../../y\"\r\na5 LOGOUT\r\n",
        "a5 OK",
    );
    assert!(out.contains("a1 OK"), "{out}");
    for t in ["a2 NO", "a3 NO", "a4 NO"] {
        assert!(out.contains(t), "{t}: {out}");
    }
}

/// File names under a Maildir tree (flags included), without mbsync's and our metadata files.
fn tree(dir: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                let parent = p.parent().and_then(|d| d.file_name()).unwrap_or_default();
                if parent == "cur" || parent == "new" {
                    out.push(rel);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn mbsync(config: &std::path::Path) -> String {
    let out = common::run_with_timeout(
        std::process::Command::new("mbsync")
            .arg("-c")
            .arg(config)
            .arg("-a"),
        Duration::from_mins(1),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "mbsync failed: {text}");
    text
}

/// The remote side of the sync tests (mbsync, offlineimap): three INBOX messages (the first
/// \Seen) and one in `Lists/rust`.
const SYNC_SEED: &str = r"
import imaplib, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login('alice@example.org', 'alice-pw')
for i in range(3):
    M.append('INBOX', '(\\Seen)' if i == 0 else None, None, b'Subject: remote %d\r\n\r\nbody %d\r\n' % (i, i))
M.create('Lists/rust')
M.append('Lists/rust', None, None, b'Subject: list\r\n\r\nlist body\r\n')
M.logout()
";

/// A remote flag change for the sync tests: \Answered on UID 3.
const SYNC_REMOTE_ANSWER: &str = r"
import imaplib, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login('alice@example.org', 'alice-pw')
M.select('INBOX')
M.uid('STORE', '3', '+FLAGS', '(\\Answered)')
M.logout()
";

/// The remote INBOX's flags and subjects, as imaplib prints them.
const SYNC_REMOTE_DUMP: &str = r"
import imaplib, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login('alice@example.org', 'alice-pw')
M.select('INBOX')
typ, data = M.fetch('1:*', '(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
print(data)
";

/// mbsync (isync) syncs a local Maildir with our server both ways; a second run changes nothing.
#[test]
fn mbsync_syncs_both_ways_and_a_second_run_changes_nothing() {
    let Some(_) = peer::require("mbsync", "isync") else {
        return;
    };
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let port = server.port(Service::Imap).to_string();
    python(SYNC_SEED, &[&port]);
    let dir = common::tempdir("mbsync");
    let local = dir.join("local");
    std::fs::create_dir_all(&local).unwrap();
    let config = dir.join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "IMAPAccount test\nHost 127.0.0.1\nPort {port}\nUser alice@example.org\nPass alice-pw\nSSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount test\n\n\
             MaildirStore local\nPath {l}/\nInbox {l}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            l = local.display()
        ),
    )
    .unwrap();
    mbsync(&config);
    let inbox = tree(&local.join("INBOX"));
    assert_eq!(inbox.len(), 3, "{inbox:?}");
    assert_eq!(
        inbox.iter().filter(|n| n.ends_with(",S")).count(),
        1,
        "{inbox:?}"
    );
    assert_eq!(tree(&local.join("Lists/rust")).len(), 1);
    assert!(local.join("Sent").is_dir() && local.join("Trash").is_dir());

    // Local changes: a new message, a flag; remote change: a flag.
    let m = local.join("INBOX/cur/1700000000.local.host:2,S");
    std::fs::write(&m, b"Subject: local\n\nfrom the near side\n").unwrap();
    let first = local.join("INBOX").join(&inbox[1]);
    std::fs::rename(&first, format!("{}F", first.display())).unwrap();
    python(SYNC_REMOTE_ANSWER, &[&port]);
    mbsync(&config);
    let remote = server.maildir("alice@example.org");
    let out = python(SYNC_REMOTE_DUMP, &[&port]);
    assert!(out.contains("Subject: local"), "{out}");
    assert!(out.contains("\\\\Flagged"), "{out}");
    let local_inbox = tree(&local.join("INBOX"));
    assert_eq!(local_inbox.len(), 4, "{local_inbox:?}");
    assert!(
        local_inbox.iter().any(|n| n.ends_with(",R")),
        "{local_inbox:?}"
    );

    // A second run with nothing changed changes nothing on either side.
    let before = (tree(&local), tree(&remote));
    mbsync(&config);
    let after = (tree(&local), tree(&remote));
    assert_eq!(before, after);
    let _ = std::fs::remove_dir_all(&dir);
}

/// CONDSTORE (RFC 7162): MODSEQ in FETCH, CHANGEDSINCE, UNCHANGEDSINCE with MODIFIED, SEARCH
/// MODSEQ, HIGHESTMODSEQ.
const CONDSTORE: &str = r"
import imaplib, re, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login('alice@example.org', 'alice-pw')
for i in range(2):
    M.append('INBOX', None, None, b'Subject: c%d\r\n\r\nx\r\n' % i)
typ, data = M._simple_command('SELECT', 'INBOX', '(CONDSTORE)'); assert typ == 'OK', data
M.state = 'SELECTED'
hms = int(M.untagged_responses['HIGHESTMODSEQ'][0])
typ, data = M.uid('FETCH', '1:*', '(FLAGS)', '(CHANGEDSINCE 0)')
assert len(data) == 2 and all(b'MODSEQ (' in d for d in data), data
typ, data = M.store('1', '+FLAGS', '(\\Seen)')
m1 = int(re.search(rb'MODSEQ \((\d+)\)', data[0]).group(1)); assert m1 > hms, (m1, hms)
typ, data = M.uid('FETCH', '1:*', '(FLAGS)', '(CHANGEDSINCE %d)' % (m1 - 1))
assert len(data) == 1 and b'UID 1 ' in data[0] or b'UID 1)' in data[0], data
typ, data = M._simple_command('STORE', '1:2', '(UNCHANGEDSINCE %d)' % hms, '+FLAGS', '(\\Flagged)')
assert typ == 'OK' and b'MODIFIED 1]' in data[0], data
# The STORE's own FETCH response carried MODSEQ; a FETCH of FLAGS alone does not (RFC 7162 §3.1).
typ, data = M.fetch('2', '(FLAGS)')
assert b'MODSEQ' in data[0] and b'\\Flagged' in data[-1] and b'MODSEQ' not in data[-1], data
typ, data = M.fetch('1', '(FLAGS)'); assert b'\\Flagged' not in data[0], data
typ, data = M.search(None, 'MODSEQ', str(m1))
assert re.match(rb'^[12 ]+ \(MODSEQ \d+\)$', data[0]), data
typ, data = M.status('INBOX', '(HIGHESTMODSEQ)'); assert typ == 'OK', data
M.logout()
print('condstore ok')
";

#[test]
fn condstore_modseq_changedsince_unchangedsince() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let out = python(CONDSTORE, &[&server.port(Service::Imap).to_string()]);
    assert!(out.contains("condstore ok"), "{out}");
}

/// offlineimap3 syncs a local Maildir with our server both ways; a second run changes nothing.
#[test]
fn offlineimap_syncs_both_ways_and_a_second_run_changes_nothing() {
    let Some(bin) = peer::require("offlineimap", "offlineimap3") else {
        return;
    };
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let port = server.port(Service::Imap).to_string();
    python(SYNC_SEED, &[&port]);
    let dir = common::tempdir("offlineimap");
    let local = dir.join("local");
    std::fs::create_dir_all(&local).unwrap();
    let config = dir.join("offlineimaprc");
    std::fs::write(
        &config,
        format!(
            "[general]\naccounts = test\nmetadata = {d}/meta\n\n\
             [Account test]\nlocalrepository = local\nremoterepository = remote\n\n\
             [Repository local]\ntype = Maildir\nlocalfolders = {d}/local\n\n\
             [Repository remote]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\n\
             remoteuser = alice@example.org\nremotepass = alice-pw\nssl = no\nstarttls = no\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let run = || {
        let out = common::run_with_timeout(
            std::process::Command::new(&bin)
                .arg("-c")
                .arg(&config)
                .arg("-o")
                .arg("-u")
                .arg("basic"),
            Duration::from_mins(1),
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && !text.contains("ERROR"),
            "offlineimap failed: {text}"
        );
        text
    };
    run();
    let inbox = tree(&local.join("INBOX"));
    assert_eq!(inbox.len(), 3, "{inbox:?}");
    assert_eq!(
        inbox.iter().filter(|n| n.ends_with(",S")).count(),
        1,
        "{inbox:?}"
    );
    assert_eq!(
        tree(&local.join("Lists.rust")).len(),
        1,
        "{:?}",
        tree(&local)
    );

    // A local message and a local flag go up; a remote flag comes down.
    std::fs::write(
        local.join("INBOX/new/1700000000.local.host"),
        b"Subject: local\n\nfrom the near side\n",
    )
    .unwrap();
    let first = local.join("INBOX").join(&inbox[1]);
    std::fs::rename(&first, format!("{}F", first.display())).unwrap();
    python(SYNC_REMOTE_ANSWER, &[&port]);
    run();
    let out = python(SYNC_REMOTE_DUMP, &[&port]);
    assert!(out.contains("Subject: local"), "{out}");
    assert!(out.contains("\\\\Flagged"), "{out}");
    let local_inbox = tree(&local.join("INBOX"));
    assert_eq!(local_inbox.len(), 4, "{local_inbox:?}");
    // The \Answered set remotely on UID 3 came down as R on that message. (It may also be the
    // message flagged F locally: offlineimap's file order does not follow UIDs.)
    let answered = local_inbox
        .iter()
        .find(|n| n.contains(",U=3,"))
        .unwrap_or_else(|| panic!("no UID 3 in {local_inbox:?}"));
    let flags = answered.rsplit_once(":2,").map_or("", |(_, f)| f);
    assert!(flags.contains('R'), "{local_inbox:?}");

    let remote = server.maildir("alice@example.org");
    let before = (tree(&local), tree(&remote));
    run();
    let after = (tree(&local), tree(&remote));
    assert_eq!(before, after);
    let _ = std::fs::remove_dir_all(&dir);
}

/// RFC 3501 §7.4.1: a message expunged by another session keeps its number in this one until a
/// command that allows EXPUNGE responses (NOOP here); FETCH, STORE and SEARCH send none.
const EXPUNGE_NUMBERING: &str = r"
import imaplib, sys
port = int(sys.argv[1])
A = imaplib.IMAP4('127.0.0.1', port); A.login('alice@example.org', 'alice-pw')
B = imaplib.IMAP4('127.0.0.1', port); B.login('alice@example.org', 'alice-pw')
for i in range(4):
    B.append('INBOX', None, None, b'Subject: n%d\r\n\r\nbody\r\n' % i)
A.select('INBOX'); B.select('INBOX')
B.store('1,3', '+FLAGS', '(\\Deleted)')
typ, data = B.expunge(); assert data == [b'3', b'1'] or data == [b'1', b'2'], data
A.untagged_responses.clear()
typ, data = A.fetch('1:4', '(UID FLAGS)'); assert typ == 'OK' and len(data) == 4, data
typ, data = A.search(None, 'ALL'); assert data == [b'1 2 3 4'], data
typ, data = A.store('2', '+FLAGS', '(\\Flagged)'); assert typ == 'OK', data
assert 'EXPUNGE' not in A.untagged_responses, A.untagged_responses
typ, data = A.noop()
exp = A.untagged_responses.pop('EXPUNGE')
assert exp in ([b'3', b'1'], [b'1', b'2']), exp
typ, data = A.fetch('1:*', '(UID FLAGS)')
assert [d.split(b' (')[0] for d in data] == [b'1', b'2'], data
assert b'UID 2' in data[0] and b'\\Flagged' in data[0] and b'UID 4' in data[1], data
A.logout(); B.logout()
print('numbering ok')
";

#[test]
fn expunges_wait_for_a_command_that_allows_them() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let out = python(
        EXPUNGE_NUMBERING,
        &[&server.port(Service::Imap).to_string()],
    );
    assert!(out.contains("numbering ok"), "{out}");
}

/// A large APPEND is spooled to disk and comes back byte for byte; one over the limit is refused
/// before its literal (RFC 7889 APPENDLIMIT advertised).
const BIG_APPEND: &str = r"
import imaplib, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login('alice@example.org', 'alice-pw')
caps = M.capability()[1][0].decode()
assert 'APPENDLIMIT=4000000' in caps, caps
body = b''.join(b'line %07d of a big message\r\n' % i for i in range(100000))
msg = b'Subject: big\r\n\r\n' + body
assert 2000000 < len(msg) < 4000000
typ, data = M.append('INBOX', None, None, msg); assert typ == 'OK', data
M.select('INBOX')
typ, data = M.fetch('1', '(RFC822.SIZE BODY.PEEK[])')
assert b'RFC822.SIZE %d' % len(msg) in data[0][0], data[0][0]
assert data[0][1] == msg
try:
    typ, data = M.append('INBOX', None, None, msg + body)
except M.error as e:
    typ, data = 'NO', [str(e).encode()]
assert typ == 'NO' and b'TOOBIG' in data[0], data
typ, data = M.noop(); assert typ == 'OK'
M.logout()
print('big ok')
";

#[test]
fn big_appends_are_spooled_and_over_limit_ones_refused() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start_with(|c| c.limits.max_message_size = 4_000_000);
    let out = python(BIG_APPEND, &[&server.port(Service::Imap).to_string()]);
    assert!(out.contains("big ok"), "{out}");
    // The spool file is gone.
    let spool = server.dir.join("spool");
    let left: Vec<_> = std::fs::read_dir(&spool)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

/// COMPRESS=DEFLATE (RFC 4978): raw deflate both ways after the tagged OK, LITERAL+ APPEND and a
/// FETCH through it.
const COMPRESS: &str = r"
import socket, sys, zlib
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
buf = b''
def plain_until(tag):
    global buf
    while tag not in buf:
        buf += s.recv(65536)
    out, buf = buf, b''
    return out
plain_until(b'\r\n')
s.sendall(b'a1 LOGIN alice@example.org alice-pw\r\n')
assert b'COMPRESS=DEFLATE' in plain_until(b'a1 OK')
s.sendall(b'a2 COMPRESS DEFLATE\r\n')
assert plain_until(b'\r\n').startswith(b'a2 OK'), 'no OK'
c = zlib.compressobj(wbits=-15); d = zlib.decompressobj(wbits=-15)
def send(b):
    s.sendall(c.compress(b) + c.flush(zlib.Z_SYNC_FLUSH))
def until(tag):
    out = b''
    while tag not in out:
        out += d.decompress(s.recv(65536))
    return out
msg = b'Subject: squeezed\r\n\r\n' + b'compressible line\r\n' * 2000
send(b'a3 APPEND INBOX {%d+}\r\n' % len(msg) + msg + b'\r\n')
r = until(b'a3 '); assert b'a3 OK' in r, r
send(b'a4 SELECT INBOX\r\n'); r = until(b'a4 '); assert b'a4 OK' in r, r
send(b'a5 FETCH 1 BODY.PEEK[]\r\n'); r = until(b'a5 OK')
assert msg in r, len(r)
send(b'a6 COMPRESS DEFLATE\r\n'); r = until(b'a6 '); assert b'a6 NO [COMPRESSIONACTIVE]' in r, r
send(b'a7 LOGOUT\r\n'); r = until(b'a7 '); assert b'* BYE' in r and b'a7 OK' in r, r
print('compress ok')
";

#[test]
fn compress_deflate_both_ways() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let out = python(COMPRESS, &[&server.port(Service::Imap).to_string()]);
    assert!(out.contains("compress ok"), "{out}");
}

#[test]
fn too_many_errors_hang_up_and_idle_needs_done() {
    // `max_errors`, the old name of `hard_error_limit`, is IMAP's limit of invalid commands.
    let server = TestServer::start_with(|c| c.limits.max_errors = 10);
    let mut junk = Vec::new();
    for i in 0..12 {
        junk.extend_from_slice(format!("x{i} FROB\r\n").as_bytes());
    }
    junk.extend_from_slice(b"z NOOP\r\n");
    let out = raw(server.addr(Service::Imap), &junk, "Too many invalid");
    // Dovecot's words; the tenth error (limits.max_errors) gets the BYE instead of a BAD.
    assert!(out.contains("x8 BAD"), "{out}");
    assert!(!out.contains("x9 BAD"), "{out}");
    assert!(
        out.contains("* BYE Too many invalid IMAP commands.\r\n"),
        "{out}"
    );
    assert!(!out.contains("z OK"), "{out}");
    // Something other than DONE ends IDLE with BAD; the session goes on.
    let out = raw(
        server.addr(Service::Imap),
        b"a LOGIN alice@example.org alice-pw\r\nb SELECT INBOX\r\nc IDLE\r\nd NOOP\r\ne NOOP\r\nf LOGOUT\r\n",
        "f OK",
    );
    assert!(out.contains("c BAD"), "{out}");
    assert!(out.contains("e OK"), "{out}");
    assert!(out.contains("f OK"), "{out}");
}

const TLS: &str = r"
import imaplib, ssl, sys
ca, imap, imaps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
M = imaplib.IMAP4('localhost', imap)
assert 'LOGINDISABLED' in M.capabilities and 'STARTTLS' in M.capabilities, M.capabilities
M.starttls(ssl_context=ctx)
assert 'AUTH=PLAIN' in M.capabilities and 'STARTTLS' not in M.capabilities, M.capabilities
M.login('alice@example.org', 'alice-pw')
M.append('INBOX', None, None, b'Subject: over starttls\r\n\r\nhi\r\n')
M.logout()
S = imaplib.IMAP4_SSL('localhost', imaps, ssl_context=ctx)
assert 'STARTTLS' not in S.capabilities, S.capabilities
S.authenticate('PLAIN', lambda _: b'\0alice@example.org\0alice-pw')
S.select('INBOX')
typ, data = S.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
assert data[0][1] == b'Subject: over starttls\r\n\r\n', data
S.logout()
print('tls ok')
";

#[test]
fn starttls_and_implicit_tls_verify_against_a_test_ca() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let dir = common::tempdir("imap-ca");
    let (server, ca) = common::start_with_test_ca(&dir);
    let out = python(
        TLS,
        &[
            ca.to_str().unwrap(),
            &server.port(Service::Imap).to_string(),
            &server.port(Service::Imaps).to_string(),
        ],
    );
    assert!(out.contains("tls ok"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A mailbox deleted under a session that has it selected ends that session with BYE; a file
/// dropped into `new/` by another program (as procmail or Dovecot's LDA would) shows in IDLE.
const OUTSIDE_CHANGES: &str = r"
import imaplib, os, sys, time
port, maildir = int(sys.argv[1]), sys.argv[2]
A = imaplib.IMAP4('127.0.0.1', port); A.login('alice@example.org', 'alice-pw')
A.select('INBOX')
tag = A._new_tag().decode()
A.send(('%s IDLE\r\n' % tag).encode())
assert A.readline().startswith(b'+')
time.sleep(0.2)
name = os.path.join(maildir, 'tmp', '1700000001.P1Q1.outside')
open(name, 'wb').write(b'Subject: dropped\n\nby another program\n')
os.rename(name, os.path.join(maildir, 'new', '1700000001.P1Q1.outside'))
start = time.time()
A.sock.settimeout(3)
line = A.readline()
assert line == b'* 1 EXISTS\r\n', line
assert time.time() - start < 1.5, time.time() - start
A.send(b'DONE\r\n')
while not A.readline().startswith(tag.encode()):
    pass
A.sock.settimeout(None)
A.create('Gone'); A.select('Gone')
B = imaplib.IMAP4('127.0.0.1', port); B.login('alice@example.org', 'alice-pw')
assert B.delete('Gone')[0] == 'OK'
try:
    A.noop()
    raise SystemExit('no BYE')
except imaplib.IMAP4.abort as e:
    assert 'deleted' in str(e), e
B.logout()
print('outside ok')
";

#[test]
fn outside_changes_show_and_a_deleted_selected_mailbox_ends_the_session() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    // Log in once so the Maildir exists.
    raw(
        server.addr(Service::Imap),
        b"a LOGIN alice@example.org alice-pw\r\nb LOGOUT\r\n",
        "b OK",
    );
    let maildir = server.maildir("alice@example.org");
    let out = python(
        OUTSIDE_CHANGES,
        &[
            &server.port(Service::Imap).to_string(),
            maildir.to_str().unwrap(),
        ],
    );
    assert!(out.contains("outside ok"), "{out}");
}

#[test]
fn select_responses_have_text_and_new_keywords_update_flags() {
    let server = TestServer::start();
    let out = raw(
        server.addr(Service::Imap),
        b"a LOGIN alice@example.org alice-pw\r\nb APPEND INBOX {9+}\r\nSubj: x\r\n\r\nc SELECT INBOX\r\nd STORE 1 +FLAGS (NewWord)\r\ne EXAMINE INBOX\r\nf LOGOUT\r\n",
        "f OK",
    );
    // RFC 3501 §9: resp-text after a code is not empty.
    assert!(!out.contains("] \r\n"), "{out}");
    let store_part = &out[out.find("c OK").unwrap()..out.find("d OK").unwrap()];
    assert!(
        store_part.contains("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft NewWord)"),
        "{out}"
    );
    assert!(store_part.contains("NewWord \\*)]"), "{out}");
    assert!(out.contains("* OK [CLOSED]"), "{out}");
    assert!(out.contains("* OK [PERMANENTFLAGS ()]"), "{out}");
}

/// \Recent as Dovecot keeps it (RFC 3501 §2.3.2): APPENDed messages are recent for the first
/// read-write SELECT only; EXAMINE and STATUS see them without claiming. A COPY that does not fit
/// in the quota is refused whole (NO [OVERQUOTA], nothing copied); a MOVE within the account is
/// not charged.
const RECENT_QUOTA: &str = r"
import imaplib, re, sys
port = int(sys.argv[1])
def conn():
    c = imaplib.IMAP4('127.0.0.1', port); c.login('alice@example.org', 'alice-pw'); return c
A, B, C = conn(), conn(), conn()
for i in range(3):
    A.append('INBOX', None, None, b'Subject: r%d\r\n\r\nbody\r\n' % i)
def status(box, item):
    _, v = C.status(box, '(%s)' % item)
    return int(re.search(rb'%s (\d+)' % item.encode(), v[0]).group(1))
assert status('INBOX', 'RECENT') == 3
B.select('INBOX', readonly=True)
assert B.untagged_responses['RECENT'][-1] == b'3', B.untagged_responses
assert B.search(None, 'RECENT')[1][0].split() == [b'1', b'2', b'3']
assert status('INBOX', 'RECENT') == 3, 'EXAMINE claims nothing'
A.select('INBOX')
assert A.untagged_responses['RECENT'][-1] == b'3', A.untagged_responses
assert A.search(None, 'NEW')[1][0].split() == [b'1', b'2', b'3']
assert A.search(None, 'OLD')[1][0] == b''
assert status('INBOX', 'RECENT') == 0
typ, data = A.copy('1:3', 'Trash')
assert typ == 'NO' and b'OVERQUOTA' in data[0], (typ, data)
assert status('Trash', 'MESSAGES') == 0
typ, data = A._simple_command('MOVE', '1:3', 'Trash'); assert typ == 'OK', data
assert status('Trash', 'MESSAGES') == 3 and status('Trash', 'RECENT') == 3
assert status('INBOX', 'MESSAGES') == 0
print('recent quota ok')
";

#[test]
fn recent_like_dovecot_and_copy_refused_whole_over_quota() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    // Room for four messages in the account.
    let md =
        mailwright::maildir::Maildir::create_user(server.maildir("alice@example.org")).unwrap();
    md.set_quota(mailwright::maildir::Quota {
        bytes: None,
        messages: Some(4),
    })
    .unwrap();
    let out = python(RECENT_QUOTA, &[&server.port(Service::Imap).to_string()]);
    assert!(out.contains("recent quota ok"), "{out}");
}

/// SEARCH keys on dates (INTERNALDATE), sizes, flags and sequence numbers are answered from the
/// file names and a `stat`, without opening a message: here every message file is replaced by a
/// directory of the same name and mtime (unreadable even by root), and the answers are right.
#[test]
fn metadata_search_opens_no_message_file() {
    use mailwright::maildir::{DeliveryOptions, Flag, Flags, Maildir};
    use std::time::{Duration, UNIX_EPOCH};
    let server = TestServer::start();
    let mut inbox = Maildir::create_user(server.maildir("alice@example.org")).unwrap();
    inbox.set_fsync(false);
    // One message a day from 1-Jan-2023; every third one \Deleted.
    const JAN_2023: u64 = 1_672_531_200;
    for i in 0..500u64 {
        let mut flags = Flags::empty();
        if i % 3 == 0 {
            flags.insert(Flag::Trashed);
        }
        let opts = DeliveryOptions {
            flags: Some(flags),
            internal_date: Some(UNIX_EPOCH + Duration::from_secs(JAN_2023 + i * 86_400)),
            ..DeliveryOptions::default()
        };
        let text = format!("Subject: day {i}\r\n\r\n{}\r\n", "x".repeat(i as usize));
        inbox.deliver_with(text.as_bytes(), opts).unwrap();
    }
    for e in std::fs::read_dir(inbox.path().join("cur"))
        .unwrap()
        .flatten()
    {
        let mtime = e.metadata().unwrap().modified().unwrap();
        std::fs::remove_file(e.path()).unwrap();
        std::fs::create_dir(e.path()).unwrap();
        std::fs::File::open(e.path())
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
    let out = raw(
        server.addr(Service::Imap),
        b"a LOGIN alice@example.org alice-pw\r\nb SELECT INBOX\r\n\
          c SEARCH RETURN (COUNT) SINCE 1-Jan-2024 NOT DELETED\r\n\
          d SEARCH RETURN (COUNT) OR LARGER 400 SMALLER 30 UNDELETED\r\n\
          e SEARCH ON 5-Jan-2023\r\n\
          f SEARCH RETURN (COUNT) 100:* BEFORE 1-Jan-2024 FLAGGED\r\n\
          g UID SEARCH RETURN (COUNT) DELETED YOUNGER 999999999\r\n\
          h FETCH 5 (INTERNALDATE RFC822.SIZE)\r\ni LOGOUT\r\n",
        "i OK",
    );
    // Days 365..499 (1-Jan-2024 on), less the 45 deleted among them.
    assert!(out.contains("* ESEARCH (TAG \"c\") COUNT 90\r\n"), "{out}");
    // Message i has 19 + digits(i) + i octets: 10 are smaller than 30 (i < 10) and 121 larger
    // than 400 (i > 378); 6 and 81 of them are not \Deleted.
    assert!(out.contains("* ESEARCH (TAG \"d\") COUNT 87\r\n"), "{out}");
    assert!(out.contains("* SEARCH 5\r\n"), "{out}");
    assert!(out.contains("* ESEARCH (TAG \"f\") COUNT 0\r\n"), "{out}");
    assert!(
        out.contains("* ESEARCH (TAG \"g\") UID COUNT 167\r\n"),
        "{out}"
    );
    assert!(
        out.contains("* 5 FETCH (INTERNALDATE \"05-Jan-2023 00:00:00 +0000\" RFC822.SIZE 24)"),
        "{out}"
    );
    for tag in ["c", "d", "e", "f", "g", "h"] {
        assert!(out.contains(&format!("{tag} OK ")), "{tag}: {out}");
    }
}
