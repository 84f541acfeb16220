//! SORT, SORT=DISPLAY, ESORT and THREAD (RFC 5256, RFC 5957, RFC 5267) end to end with Python's
//! `imaplib`. `tests/server_imap_dovecot.rs` compares the orders and threads with Dovecot's on
//! three corpora.

mod common;

use common::{TestServer, peer, python};
use mailwright::server::Service;

/// Five messages whose orders differ by every key; then SORT, UID SORT, ESORT and refusals.
const SORT: &str = r#"
import imaplib, sys
port = int(sys.argv[1])
M = imaplib.IMAP4('127.0.0.1', port)
M.login('alice@example.org', 'alice-pw')
caps = M.capability()[1][0].decode().split()
for c in ['SORT', 'SORT=DISPLAY', 'ESORT', 'THREAD=REFERENCES', 'THREAD=ORDEREDSUBJECT', 'THREAD=REFS']:
    assert c in caps, caps
M.create('S')
msgs = [
    # (internal date, From, To, Subject, Date, body size)
    ('01-Jan-2024 00:00:05 +0000', 'Zed <a@x>', 'c@x', 'Re: banana', 'Tue, 2 Jan 2024 00:00:00 +0000', 10),
    ('01-Jan-2024 00:00:01 +0000', 'Amy <z@x>', '"Bob" <b@x>', 'apple', 'Mon, 1 Jan 2024 23:00:00 -0500', 300),
    ('01-Jan-2024 00:00:03 +0000', 'm@x', 'a@x', '[list] Fwd: Cherry', 'Mon, 1 Jan 2024 01:00:00 +0000', 50),
    ('01-Jan-2024 00:00:02 +0000', '"" <b@x>', 'Yan <y@x>', 'APPLE (fwd)', None, 1),
    ('01-Jan-2024 00:00:04 +0000', 'B <c@x>', 'd@x', 'cherry', 'Sun, 31 Dec 2023 12:00:00 +0000', 120),
]
for date, frm, to, subj, sent, n in msgs:
    head = 'From: %s\r\nTo: %s\r\nSubject: %s\r\n' % (frm, to, subj)
    if sent:
        head += 'Date: %s\r\n' % sent
    typ, data = M.append('S', None, '"%s"' % date, (head + '\r\n' + 'x' * n + '\r\n').encode())
    assert typ == 'OK', data
M.select('S')
def sort(crit, *keys):
    typ, data = M.sort(crit, 'UTF-8', *(keys or ('ALL',)))
    assert typ == 'OK', (crit, data)
    return data[0].decode()
# Ties keep mailbox order; REVERSE reverses one key only.
assert sort('(ARRIVAL)') == '2 4 3 5 1', sort('(ARRIVAL)')
assert sort('(REVERSE ARRIVAL)') == '1 5 3 4 2'
# Message 4 has no Date: its INTERNALDATE counts. Message 2 is 2 Jan 04:00 UTC.
assert sort('(DATE)') == '5 4 3 1 2', sort('(DATE)')
assert sort('(SIZE)') == '4 1 3 5 2', sort('(SIZE)')
# Base subjects: BANANA, APPLE, CHERRY, APPLE, CHERRY.
assert sort('(SUBJECT)') == '2 4 1 3 5', sort('(SUBJECT)')
assert sort('(SUBJECT REVERSE SIZE)') == '2 4 1 5 3', sort('(SUBJECT REVERSE SIZE)')
# FROM is the mailbox (a, z, m, b, c); DISPLAYFROM the name, or the address when it is empty.
assert sort('(FROM)') == '1 4 5 3 2', sort('(FROM)')
assert sort('(DISPLAYFROM)') == '2 5 4 3 1', sort('(DISPLAYFROM)')
assert sort('(TO)') == '3 2 1 5 4', sort('(TO)')
assert sort('(DISPLAYTO)') == '3 2 1 5 4', sort('(DISPLAYTO)')
assert sort('(SUBJECT)', 'LARGER', '170') == '2 5', sort('(SUBJECT)', 'LARGER', '170')
typ, data = M.uid('SORT', '(REVERSE SIZE)', 'UTF-8', 'ALL')
assert typ == 'OK' and data[0] == b'2 5 3 1 4', data
# ESORT (RFC 5267): MIN and MAX are the first and last in sort order, ALL in that order.
typ, data = M._simple_command('SORT', 'RETURN', '(MIN MAX COUNT ALL)', '(SIZE)', 'UTF-8', 'ALL')
assert typ == 'OK', data
es = M.untagged_responses.pop('ESEARCH')[0].decode()
assert es.endswith('MIN 4 MAX 2 COUNT 5 ALL 4,1,3,5,2'), es
typ, data = M._simple_command('UID', 'SORT', 'RETURN', '()', '(ARRIVAL)', 'UTF-8', 'ALL')
es = M.untagged_responses.pop('ESEARCH')[0].decode()
assert es.endswith('UID ALL 2,4,3,5,1'), es
# CONDSTORE: a MODSEQ key adds the highest MODSEQ of the matches.
typ, data = M.sort('(ARRIVAL)', 'UTF-8', 'MODSEQ', '1')
assert typ == 'OK' and b'(MODSEQ ' in data[0], data
# The charset is required, and only UTF-8 and US-ASCII are known.
typ, data = M.sort('(ARRIVAL)', 'KOI8-R', 'ALL')
assert typ == 'NO' and b'[BADCHARSET' in data[0], (typ, data)
try:
    M._simple_command('SORT', '(ARRIVAL)', 'ALL'); raise SystemExit('no charset accepted')
except M.error as e:
    pass
typ, data = M.noop(); assert typ == 'OK'
# THREAD: a reply by References, one by subject only; UIDs after an expunge.
M.create('T')
for hdr in ['Message-ID: <a@x>\r\nSubject: hello\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000',
            'Message-ID: <b@x>\r\nReferences: <a@x>\r\nSubject: Re: hello\r\nDate: Mon, 1 Jan 2024 11:00:00 +0000',
            'Message-ID: <c@x>\r\nSubject: other\r\nDate: Mon, 1 Jan 2024 09:00:00 +0000',
            'Message-ID: <d@x>\r\nSubject: Re: hello\r\nDate: Mon, 1 Jan 2024 12:00:00 +0000']:
    typ, data = M.append('T', None, None, (hdr + '\r\n\r\nx\r\n').encode()); assert typ == 'OK', data
M.select('T')
typ, data = M.thread('REFERENCES', 'UTF-8', 'ALL')
assert typ == 'OK' and data[0] == b'(3)(1 (2)(4))', data
typ, data = M.thread('ORDEREDSUBJECT', 'UTF-8', 'ALL')
assert typ == 'OK' and data[0] == b'(3)(1 (2)(4))', data
typ, data = M.thread('REFS', 'UTF-8', 'ALL')
assert typ == 'OK' and data[0] == b'(3)(1 2)(4)', data
M.store('1', '+FLAGS', '\\Deleted'); M.expunge()
typ, data = M.uid('THREAD', 'REFERENCES', 'UTF-8', 'ALL')
assert typ == 'OK' and data[0] == b'(3)((2)(4))', data
typ, data = M.thread('REFERENCES', 'UTF-8', 'SUBJECT', 'nothing')
assert typ == 'OK' and data == [b''], data
typ, data = M.thread('XWHATEVER', 'UTF-8', 'ALL')
assert typ == 'NO', data
print('sort ok')
"#;

#[test]
fn sort_esort_display_sort_and_thread() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let out = python(SORT, &[&server.port(Service::Imap).to_string()]);
    assert!(out.contains("sort ok"), "{out}");
}
