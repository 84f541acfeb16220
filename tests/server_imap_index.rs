//! The per-folder index (`mailwright-index`) end to end with Python's `imaplib`: APPEND indexes
//! the message; FETCH ENVELOPE, BODYSTRUCTURE, BODY, RFC822.SIZE and INTERNALDATE, SORT, THREAD
//! and SEARCH on headers answer from it without reading the message files (the files are
//! overwritten with other text and the answers stay); a damaged index is rebuilt; EXPUNGE
//! drops lines.

mod common;

use common::{TestServer, peer, python};
use mailwright::server::Service;

const INDEX: &str = r#"
import imaplib, os, sys, glob
port, root = int(sys.argv[1]), sys.argv[2]
folder = os.path.join(root, '.I')
index = os.path.join(folder, 'mailwright-index')
def login():
    M = imaplib.IMAP4('127.0.0.1', port)
    M.login('alice@example.org', 'alice-pw')
    return M
M = login()
M.create('I')
msgs = [
    'From: Ann <ann@x>\r\nTo: bob@x\r\nSubject: Re: apple\r\nMessage-ID: <b@x>\r\nReferences: <a@x>\r\n'
    'Date: Tue, 2 Jan 2024 00:00:00 +0000\r\n\r\nhello\r\n',
    'From: Zed <zed@x>\r\nSubject: apple\r\nMessage-ID: <a@x>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n'
    'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n'
    'Content-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n--b\r\nContent-Type: application/pdf; name="a.pdf"\r\n'
    'Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n',
    'From: =?utf-8?q?Caf=C3=A9?= <cafe@x>\r\nSubject: banana\r\nDate: Wed, 3 Jan 2024 00:00:00 +0000\r\n\r\nx\r\n',
]
for i, m in enumerate(msgs):
    typ, data = M.append('I', None, '"0%d-Jan-2024 10:00:00 +0000"' % (i + 1), m.encode())
    assert typ == 'OK', data
# APPEND indexed each message.
lines = open(index).read().splitlines()
assert lines[0] == 'mailwright-index 1' and len(lines) == 4, lines
assert all(not l.endswith('\t-') for l in lines[1:]), lines
M.logout()

ITEMS = '(UID ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE INTERNALDATE)'
def answers():
    M = login()
    M.select('I')
    typ, data = M.fetch('1:*', ITEMS)
    assert typ == 'OK', data
    flat = b''.join(d if isinstance(d, bytes) else d[0] + d[1] for d in data)
    out = [flat]
    for crit in ['(SUBJECT)', '(REVERSE DATE)', '(FROM)', '(DISPLAYFROM)', '(SIZE)']:
        typ, data = M.sort(crit, 'UTF-8', 'ALL'); assert typ == 'OK', data
        out.append(data[0])
    typ, data = M.thread('REFERENCES', 'UTF-8', 'ALL'); assert typ == 'OK', data
    out.append(data[0])
    for key in [('FROM', 'ann'), ('SUBJECT', 'apple'), ('SENTSINCE', '2-Jan-2024'), ('SINCE', '2-Jan-2024'),
                ('LARGER', '100'), ('HEADER', 'Message-ID', 'a@x')]:
        typ, data = M.search(None, *key); assert typ == 'OK', data
        out.append(data[0])
    M.logout()
    return out
first = answers()
assert b'"Re: apple"' in first[0] and b'("application" "pdf"' in first[0], first[0]
assert first[1] == b'1 2 3', first
assert first[6] == b'(2 1)(3)', first

# A damaged index (a flipped digit in a line) is rebuilt from the Maildir; the answers stay.
text = open(index).read()
head, rest = text.split('\n', 1)
rest = rest.replace('\t', '\t9', 1)
open(index, 'w').write(head + '\n' + rest)
assert answers() == first
assert open(index).read().startswith('mailwright-index 1\n')

# Every message file overwritten with other text: the index answers without reading them.
files = glob.glob(os.path.join(folder, 'cur', '*'))
assert len(files) == 3, files
for f in files:
    open(f, 'wb').write(b'Subject: other\r\nFrom: nobody@x\r\n\r\n' + b'y' * 500 + b'\r\n')
assert answers() == first, (answers(), first)

# EXPUNGE: the expunged message's line goes (1 of 3 is over an eighth: compacted).
M = login()
M.select('I')
M.store('1', '+FLAGS', '\\Deleted'); M.expunge()
names = [l.split(' ', 1)[1].split('\t')[0] for l in open(index).read().splitlines()[1:]]
assert len(names) == 2, names
assert sorted(names) == sorted(os.path.basename(f).split(':')[0] for f in glob.glob(os.path.join(folder, 'cur', '*'))), names
print('index ok')
"#;

#[test]
fn fetch_sort_thread_search_answer_from_the_index() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let root = server.maildir("alice@example.org");
    let out = python(
        INDEX,
        &[
            &server.port(Service::Imap).to_string(),
            &root.to_string_lossy(),
        ],
    );
    assert!(out.contains("index ok"), "{out}");
}
