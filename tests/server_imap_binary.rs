//! BINARY (RFC 3516) end to end over a raw socket (Python's `imaplib` has no literal8):
//! FETCH BINARY / BINARY.PEEK / BINARY.SIZE undo base64 and quoted-printable, send literal8
//! when the content has NUL, answer `NO [UNKNOWN-CTE]` for an encoding they cannot undo, and
//! APPEND takes a literal8.

mod common;

use common::{TestServer, peer, python};
use mailwright::server::Service;

const BINARY: &str = r#"
import socket, sys, re, base64
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
buf = b''
def fill(n):
    global buf
    while len(buf) < n:
        chunk = s.recv(65536)
        assert chunk, buf
        buf += chunk
def line():
    """One response line with the literals it announces, as (text, [literals])."""
    global buf
    text, lits = b'', []
    while True:
        while b'\r\n' not in buf:
            fill(len(buf) + 1)
        k = buf.index(b'\r\n') + 2
        l, buf = buf[:k], buf[k:]
        text += l
        m = re.search(rb'~?\{(\d+)\}\r\n$', l)
        if not m:
            return text, lits
        n = int(m.group(1))
        fill(n)
        lits.append(buf[:n]); text += buf[:n]; buf = buf[n:]
def until(tag):
    out = []
    while True:
        t, lits = line()
        out.append((t, lits))
        if t.startswith(tag):
            return out

line()
s.sendall(b'a1 LOGIN alice@example.org alice-pw\r\n')
r = until(b'a1 ')
assert any(b' BINARY' in t and b' MULTIAPPEND' in t for t, _ in r), r

blob = bytes(range(256)) * 2
msg = (b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\nSubject: bin\r\n\r\n'
       b'--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n'
       + base64.encodebytes(blob).replace(b'\n', b'\r\n') +
       b'--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\n'
       b'caf=C3=A9 na=C3=AF=\r\nve\r\n'
       b'--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n'
       b'--b\r\nContent-Type: text/plain\r\n\r\nplain text\r\n'
       b'--b--\r\n')
s.sendall(b'a2 APPEND INBOX {%d+}\r\n' % len(msg) + msg + b'\r\n')
assert until(b'a2 ')[-1][0].startswith(b'a2 OK')
s.sendall(b'a3 SELECT INBOX\r\n'); until(b'a3 ')

s.sendall(b'a4 FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[4] BINARY.PEEK[1]<250.10>)\r\n')
r = until(b'a4 ')
assert r[-1][0].startswith(b'a4 OK'), r
t, lits = r[0]
assert b'BINARY[1] ~{512}' in t, t[:200]
assert lits[0] == blob
assert b'BINARY.SIZE[1] 512' in t, t
assert lits[1] == b'caf\xc3\xa9 na\xc3\xafve', lits[1]
assert b'BINARY.SIZE[2] %d' % len(lits[1]) in t, t
assert lits[2] == b'plain text', lits[2]
# 250..259 of the decoded blob: bytes 250..255, then 0..3 (NUL among them: literal8).
assert b'BINARY[1]<250> ~{10}' in t, t
assert lits[3] == blob[250:260]
# PEEK left \Seen alone; BINARY without PEEK sets it.
s.sendall(b'a5 FETCH 1 (FLAGS)\r\n'); r = until(b'a5 ')
assert b'\\Seen' not in r[0][0], r
s.sendall(b'a6 FETCH 1 BINARY[2]\r\n'); r = until(b'a6 ')
assert b'\\Seen' in r[0][0] and r[0][1] == [b'caf\xc3\xa9 na\xc3\xafve'], r
# An encoding the server cannot undo.
s.sendall(b'a7 FETCH 1 (UID BINARY.PEEK[3])\r\n'); r = until(b'a7 ')
assert r[-1][0].startswith(b'a7 NO [UNKNOWN-CTE]'), r

# APPEND with literal8: NUL octets stored as they are and fetched back as literal8.
raw = b'Subject: nul\r\n\r\na\x00b\r\n'
s.sendall(b'a8 APPEND INBOX ~{%d}\r\n' % len(raw))
t, _ = line(); assert t.startswith(b'+ '), t
s.sendall(raw + b'\r\n')
r = until(b'a8 '); assert r[-1][0].startswith(b'a8 OK'), r
s.sendall(b'a9 NOOP\r\n'); until(b'a9 ')
s.sendall(b'b1 FETCH 2 (BINARY.PEEK[] BINARY.SIZE[] BINARY.PEEK[1])\r\n'); r = until(b'b1 ')
t, lits = r[0]
assert lits == [raw, b'a\x00b\r\n'], r
assert b'BINARY[] ~{%d}' % len(raw) in t and b'BINARY.SIZE[] %d' % len(raw) in t, t
s.sendall(b'z LOGOUT\r\n'); until(b'z ')
print('binary ok')
"#;

#[test]
fn fetch_binary_decodes_and_append_takes_literal8() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let out = python(BINARY, &[&server.port(Service::Imap).to_string()]);
    assert!(out.contains("binary ok"), "{out}");
}
