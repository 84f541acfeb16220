//! MULTIAPPEND (RFC 3502) end to end over a raw socket (Python's `imaplib` cannot send it):
//! several messages in one APPEND with synchronizing and non-synchronizing literals, one
//! `APPENDUID` with the UID set, and all or nothing when a message does not fit the quota or the
//! command goes wrong after the first message.

mod common;

use common::{TestServer, peer, python};
use mailwright::server::Service;

/// What every script here starts with: a connection to the port in `argv[1]`, `line()` and
/// `until(tag)` readers, and a LOGIN as alice that checks MULTIAPPEND is offered.
const PREAMBLE: &str = r#"
import socket, sys, re
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
buf = b''
def line():
    global buf
    while b'\r\n' not in buf:
        chunk = s.recv(65536)
        assert chunk, buf
        buf += chunk
    k = buf.index(b'\r\n') + 2
    out, buf = buf[:k], buf[k:]
    return out
def until(tag):
    """The lines up to the one that starts with tag (literals arrive inside lines here)."""
    out = b''
    while True:
        l = line()
        out += l
        if l.startswith(tag):
            return out
line()
s.sendall(b'a1 LOGIN alice@example.org alice-pw\r\n')
r = until(b'a1 ')
assert b'MULTIAPPEND' in r, r
"#;

const MULTIAPPEND: &str = r#"
def msg(i):
    return b'Subject: part %d\r\n\r\nbody %d\r\n' % (i, i)

def status():
    s.sendall(b's STATUS INBOX (MESSAGES)\r\n')
    r = until(b's ')
    return int(re.search(rb'MESSAGES (\d+)', r).group(1))

# RFC 3502 6.3.11: synchronizing literals, a + for each; flags and a date on the second.
s.sendall(b'a2 APPEND INBOX (\\Seen) {%d}\r\n' % len(msg(1)))
assert line().startswith(b'+ '), buf
s.sendall(msg(1) + b' (\\Flagged $Work) " 7-Feb-1994 22:43:04 -0800" {%d}\r\n' % len(msg(2)))
assert line().startswith(b'+ '), buf
# The third with LITERAL+, then the end of the command.
s.sendall(msg(2) + b' {%d+}\r\n' % len(msg(3)) + msg(3) + b'\r\n')
r = until(b'a2 ')
m = re.search(rb'a2 OK \[APPENDUID (\d+) ([0-9:,]+)\]', r)
assert m, r
validity = m.group(1)
assert m.group(2) == b'1:3', r
s.sendall(b'a3 SELECT INBOX\r\n')
r = until(b'a3 '); assert b'* 3 EXISTS' in r, r
s.sendall(b'a4 FETCH 1:3 (UID FLAGS INTERNALDATE BODY.PEEK[])\r\n')
r = until(b'a4 ')
assert b'a4 OK' in r, r
for i in (1, 2, 3):
    assert msg(i) in r, (i, r)
fetched = {int(l.split()[1]): l for l in r.split(b'\r\n') if l.startswith(b'* ') and b' FETCH ' in l}
assert b'\\Seen' in fetched[1] and b'\\Flagged' not in fetched[1], fetched
assert b'\\Flagged' in fetched[2] and b'$Work' in fetched[2] and b'-Feb-1994 ' in fetched[2], fetched
assert b'\\Seen' not in fetched[3], fetched

# All or nothing: room for two more messages, not three.
s.sendall(b'a5 APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s {%d+}\r\n%s\r\n' % (
    len(msg(4)), msg(4), len(msg(5)), msg(5), len(msg(6)), msg(6)))
r = until(b'a5 ')
assert b'a5 NO [OVERQUOTA]' in r, r
assert status() == 3
s.sendall(b'a6 APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s\r\n' % (len(msg(4)), msg(4), len(msg(5)), msg(5)))
r = until(b'a6 ')
assert re.search(rb'a6 OK \[APPENDUID ' + validity + rb' 4:5\]', r), r
assert status() == 5

# A malformed second message: BAD, and the first is not kept.
s.sendall(b'a7 APPEND Trash {%d+}\r\n%s (\\Bogus {%d+}\r\n%s\r\n' % (len(msg(7)), msg(7), len(msg(8)), msg(8)))
r = until(b'a7 ')
assert b'a7 BAD' in r, r
# A missing mailbox: TRYCREATE.
s.sendall(b'a8 APPEND Nowhere {%d+}\r\n%s {%d+}\r\n%s\r\n' % (len(msg(7)), msg(7), len(msg(8)), msg(8)))
r = until(b'a8 ')
assert b'a8 NO [TRYCREATE]' in r, r
s.sendall(b'a9 STATUS Trash (MESSAGES)\r\n')
r = until(b'a9 ')
assert b'MESSAGES 0' in r, r
s.sendall(b'z LOGOUT\r\n')
until(b'z ')
print('multiappend ok')
"#;

/// Big messages share one memory budget (past it they spill to disk) and come back whole; more
/// than 256 messages in one APPEND are refused `NO [LIMIT]`, none kept.
const BATCHES: &str = r"
big = [b'Subject: big %d\r\n\r\n' % i + (b'%d' % i) * 600000 + b'\r\n' for i in range(3)]
cmd = b'b1 APPEND INBOX'
for m in big:
    cmd += b' {%d+}\r\n' % len(m) + m
s.sendall(cmd + b'\r\n')
r = until(b'b1 ')
assert re.search(rb'b1 OK \[APPENDUID \d+ 1:3\]', r), r[-200:]
s.sendall(b'b2 SELECT INBOX\r\n'); until(b'b2 ')
for i, m in enumerate(big):
    s.sendall(b'b3 FETCH %d BODY.PEEK[]\r\n' % (i + 1))
    r = until(b'b3 ')
    assert m in r, i
cmd = b'b4 APPEND Trash'
for i in range(257):
    cmd += b' {9+}\r\nSubject: '
s.sendall(cmd + b'\r\n')
r = until(b'b4 ')
assert b'b4 NO [LIMIT]' in r, r
s.sendall(b'b5 STATUS Trash (MESSAGES)\r\n')
r = until(b'b5 ')
assert b'MESSAGES 0' in r, r
s.sendall(b'b6 NOOP\r\n')
assert b'b6 OK' in until(b'b6 ')
print('batches ok')
";

/// Runs `script` after [`PREAMBLE`] against the server's IMAP port.
fn run(server: &TestServer, script: &str) -> String {
    let port = server.port(Service::Imap).to_string();
    python(&format!("{PREAMBLE}{script}"), &[&port])
}

/// Nothing staged is left behind in the server's spool.
fn assert_spool_empty(server: &TestServer) {
    let spool = server.dir.join("spool");
    let left: Vec<_> = std::fs::read_dir(&spool)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn big_batches_spill_and_too_many_messages_are_refused() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let out = run(&server, BATCHES);
    assert!(out.contains("batches ok"), "{out}");
    assert_spool_empty(&server);
}

#[test]
fn multiappend_stores_all_or_nothing() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let root = server.dir.join("mail/example.org/alice/Maildir");
    let md = mailwright::store::maildir::create_user_maildir(&root).unwrap();
    md.set_quota(mailwright::maildir::Quota {
        bytes: None,
        messages: Some(5),
    })
    .unwrap();
    let out = run(&server, MULTIAPPEND);
    assert!(out.contains("multiappend ok"), "{out}");
    assert_spool_empty(&server);
    let tmp: Vec<_> = std::fs::read_dir(root.join("tmp"))
        .unwrap()
        .flatten()
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}
