//! WITHIN (RFC 5032) and STATUS=SIZE (RFC 8438) are advertised and answer, with Python's
//! `imaplib`.

mod common;

use common::{TestServer, peer, python};
use mailwright::server::Service;

const WITHIN: &str = r"
import imaplib, sys, time
port = int(sys.argv[1])
M = imaplib.IMAP4('127.0.0.1', port)
M.login('alice@example.org', 'alice-pw')
caps = M.capability()[1][0].decode().split()
for c in ['WITHIN', 'STATUS=SIZE']:
    assert c in caps, caps
M.create('W')
old = imaplib.Time2Internaldate(time.time() - 3 * 86400)
msg = b'Subject: w\r\n\r\nbody\r\n'
typ, data = M.append('W', None, old, msg); assert typ == 'OK', data
typ, data = M.append('W', None, None, msg); assert typ == 'OK', data
typ, data = M.status('W', '(MESSAGES SIZE)')
assert typ == 'OK' and data[0] == b'W (MESSAGES 2 SIZE %d)' % (2 * len(msg)), data
M.select('W')
typ, data = M.search(None, 'YOUNGER', '86400'); assert data == [b'2'], data
typ, data = M.search(None, 'OLDER', '86400'); assert data == [b'1'], data
print('within ok')
";

#[test]
fn within_and_status_size() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let out = python(WITHIN, &[&server.port(Service::Imap).to_string()]);
    assert!(out.contains("within ok"), "{out}");
}
