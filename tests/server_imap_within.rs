//! WITHIN (RFC 5032), STATUS=SIZE (RFC 8438), SEARCHRES (RFC 5182) and CREATE-SPECIAL-USE
//! (RFC 6154 §3) are advertised and answer, with Python's `imaplib`.

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

const SEARCHRES: &str = r"
import imaplib, sys
port = int(sys.argv[1])
M = imaplib.IMAP4('127.0.0.1', port)
M.login('alice@example.org', 'alice-pw')
assert 'SEARCHRES' in M.capability()[1][0].decode().split()
M.create('R')
for subj, n in [('keep', 30), ('drop', 10), ('keep', 20), ('keep', 40), ('drop', 5)]:
    typ, data = M.append('R', None, None, ('Subject: %s\r\n\r\n' % subj + 'x' * n + '\r\n').encode())
    assert typ == 'OK', data
M.select('R')
def cmd(*args):
    typ, data = M._simple_command(*args)
    assert typ == 'OK', (args, typ, data)
    return M.untagged_responses.pop('ESEARCH', None), M.untagged_responses.pop('SEARCH', None), M.untagged_responses.pop('SORT', None)
# SAVE alone answers nothing; $ is the saved set in FETCH, SEARCH, STORE and UID commands.
es, se, so = cmd('SEARCH', 'RETURN', '(SAVE)', 'SUBJECT', 'keep')
assert (es, se) == (None, None), (es, se)
typ, data = M.search(None, '$'); assert data == [b'1 3 4'], data
typ, data = M.uid('SEARCH', 'UID', '$'); assert data == [b'1 3 4'], data
typ, data = M.search(None, 'NOT', '$'); assert data == [b'2 5'], data
typ, data = M.store('$', '+FLAGS', '\\Flagged'); assert typ == 'OK', data
typ, data = M.search(None, 'FLAGGED'); assert data == [b'1 3 4'], data
# SAVE with MIN and MAX saves those only; with COUNT, everything.
es, _, _ = cmd('SEARCH', 'RETURN', '(SAVE MIN MAX)', 'SUBJECT', 'keep')
assert es[0].endswith(b'MIN 1 MAX 4'), es
typ, data = M.search(None, '$'); assert data == [b'1 4'], data
es, _, _ = cmd('SEARCH', 'RETURN', '(SAVE COUNT)', 'SUBJECT', 'drop')
assert es[0].endswith(b'COUNT 2'), es
typ, data = M.search(None, '$'); assert data == [b'2 5'], data
# ESORT with SAVE MIN: the first in sort order (the smallest 'keep').
es, _, _ = cmd('SORT', 'RETURN', '(SAVE MIN)', '(SIZE)', 'UTF-8', 'SUBJECT', 'keep')
assert es[0].endswith(b'MIN 3'), es
typ, data = M.search(None, '$'); assert data == [b'3'], data
# A SEARCH that fails empties it; an expunged message leaves it.
cmd('SEARCH', 'RETURN', '(SAVE)', 'ALL')
typ, data = M._simple_command('SEARCH', 'RETURN', '(SAVE)', 'CHARSET', 'KOI8-R', 'ALL')
assert typ == 'NO', data
typ, data = M.search(None, '$'); assert data == [b''], data
cmd('SEARCH', 'RETURN', '(SAVE)', 'SUBJECT', 'drop')
M.store('2', '+FLAGS', '\\Deleted'); M.expunge()
typ, data = M.search(None, '$'); assert data == [b'4'], data
print('searchres ok')
";

#[test]
fn searchres_saves_and_dollar_names_it() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let out = python(SEARCHRES, &[&server.port(Service::Imap).to_string()]);
    assert!(out.contains("searchres ok"), "{out}");
}

const CREATE_SPECIAL_USE: &str = r#"
import imaplib, sys
port = int(sys.argv[1])
M = imaplib.IMAP4('127.0.0.1', port)
M.login('alice@example.org', 'alice-pw')
assert 'CREATE-SPECIAL-USE' in M.capability()[1][0].decode().split()
# Archive is made at the first login: delete it, then make it again with its use.
typ, data = M.delete('Archive'); assert typ == 'OK', data
typ, data = M._simple_command('CREATE', 'Archive', '(USE (\\Archive))')
assert typ == 'OK', data
typ, data = M.list('""', 'Archive')
assert typ == 'OK' and b'\\Archive' in data[0], data
# Another use, two uses, or a name without one: NO [USEATTR], nothing created.
for name, uses in [('Mine', '(\\Sent)'), ('Sent2', '(\\Sent \\Drafts)'), ('Junk2', '(\\Junk)')]:
    typ, data = M._simple_command('CREATE', name, '(USE %s)' % uses)
    assert typ == 'NO' and b'[USEATTR]' in data[0], (name, typ, data)
    typ, data = M.list('""', name)
    assert data == [None], (name, data)
typ, data = M._simple_command('CREATE', 'Plain', '(USE ())')
assert typ == 'OK', data
print('create-special-use ok')
"#;

#[test]
fn create_special_use() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let server = TestServer::start();
    let out = python(
        CREATE_SPECIAL_USE,
        &[&server.port(Service::Imap).to_string()],
    );
    assert!(out.contains("create-special-use ok"), "{out}");
}
