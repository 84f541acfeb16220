//! QUOTA (RFC 9208) end to end with Python's `imaplib`: GETQUOTAROOT and GETQUOTA report the
//! user's Maildir++ quota (as `full_server quota set` writes it), over-quota APPEND and COPY are
//! `NO [OVERQUOTA]`, SETQUOTA is refused.

mod common;

use common::{TestServer, peer, python};
use mailwright::server::Service;

const QUOTA: &str = r#"
import imaplib, sys
port = int(sys.argv[1])
M = imaplib.IMAP4('127.0.0.1', port)
M.login('alice@example.org', 'alice-pw')
caps = M.capability()[1][0].decode().split()
for c in ['QUOTA', 'QUOTA=RES-STORAGE', 'QUOTA=RES-MESSAGE']:
    assert c in caps, caps
assert 'QUOTASET' not in caps, caps
typ, data = M.getquotaroot('INBOX')
assert typ == 'OK', data
assert data[0] == [b'INBOX ""'], data
assert data[1] == [b'"" (STORAGE 0 2 MESSAGE 0 2)'], data
msg = b'Subject: q\r\n\r\n' + b'x' * 700 + b'\r\n'
typ, data = M.append('INBOX', None, None, msg); assert typ == 'OK', data
typ, data = M.getquota('""')
assert typ == 'OK' and data == [b'"" (STORAGE 1 2 MESSAGE 1 2)'], data
typ, data = M.append('INBOX', None, None, msg); assert typ == 'OK', data
# 2 messages of 2: the third does not fit, nor does a copy.
typ, data = M.append('INBOX', None, None, b'Subject: small\r\n\r\nx\r\n')
assert typ == 'NO' and b'[OVERQUOTA]' in data[0], (typ, data)
M.select('INBOX')
typ, data = M.copy('1', 'Trash')
assert typ == 'NO' and b'[OVERQUOTA]' in data[0], (typ, data)
typ, data = M.getquota('"other"')
assert typ == 'NO', data
typ, data = M.getquotaroot('Nonexistent')
assert typ == 'NO', data
try:
    typ, data = M.setquota('""', '(STORAGE 100)')
    assert typ == 'NO', data
except M.error:
    raise SystemExit('SETQUOTA got BAD')
M.logout()
print('quota ok')
"#;

#[test]
fn getquotaroot_getquota_and_overquota() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    // Two messages and 2 KiB, as `full_server quota set alice@example.org --storage 2K
    // --messages 2` sets them.
    let root = server.dir.join("mail/example.org/alice/Maildir");
    let md = mailwright::store::maildir::create_user_maildir(&root).unwrap();
    md.set_quota(mailwright::maildir::Quota {
        bytes: Some(2048),
        messages: Some(2),
    })
    .unwrap();
    let out = python(QUOTA, &[&server.port(Service::Imap).to_string()]);
    assert!(out.contains("quota ok"), "{out}");
}
