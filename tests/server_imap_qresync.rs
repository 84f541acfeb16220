//! QRESYNC (RFC 7162 §3.2) end to end, in raw sessions: another session changes flags and
//! expunges (and a file is removed by hand), then the first one learns exactly that from
//! `VANISHED` in place of `EXPUNGE`, from `SELECT ... (QRESYNC (...))` (with and without known
//! UIDs and seq-match data, and with a stale UIDVALIDITY), from `UID FETCH ... (CHANGEDSINCE n
//! VANISHED)`, and gets `[CLOSED]` when a SELECT replaces its mailbox (or fails to parse, which
//! leaves none selected); QRESYNC parameters
//! without `ENABLE QRESYNC` are BAD; a STORE or FETCH of one's own whose MODSEQ passes changes
//! not reported yet says up to which HIGHESTMODSEQ the client knows everything (RFC 7162 §3.2).
//! The same script runs against a private Dovecot: both must
//! report the same VANISHED sets and the same flag FETCHes (MODSEQ values differ between the
//! two; UIDs, flags and which messages are reported do not).

mod common;

use common::dovecot::Dovecot;
use common::{TestServer, peer, python};
use mailwright::server::Service;

/// What the QRESYNC scenarios read from a session (after [`common::IMAP_SESSION_PY`]): UID
/// sets expanded, the VANISHED UIDs, the flags changed per UID (asserting UID and MODSEQ are
/// there), a response code's number. A scenario prints one line `result <json>` and `ok`.
const HELPERS: &str = r"
def expand(s):
    out = []
    for part in s.split(','):
        a, _, b = part.partition(':')
        a, b = int(a), int(b or a)
        out.extend(range(min(a, b), max(a, b) + 1))
    return sorted(out)
def vanished(lines, earlier):
    got = []
    for l in lines:
        m = re.match(r'\* VANISHED (\(EARLIER\) )?([0-9:,]+)\r\n$', l)
        if m and bool(m.group(1)) == earlier:
            got += expand(m.group(2))
    return sorted(got)
def changed(lines):
    out = {}
    for l in lines:
        if re.match(r'\* \d+ FETCH ', l):
            uid = re.search(r'UID (\d+)', l)
            assert uid, ('FETCH without UID once QRESYNC is on', l)
            flags = re.search(r'FLAGS \(([^)]*)\)', l)
            assert re.search(r'MODSEQ \(\d+\)', l), ('FETCH without MODSEQ', l)
            if flags:
                out[int(uid.group(1))] = sorted(f for f in flags.group(1).split() if f != '\\Recent')
    return sorted([u, f] for u, f in out.items())
def code(lines, name):
    for l in lines:
        m = re.match(r'\* OK \[%s (\d+)\]' % name, l)
        if m:
            return int(m.group(1))
result = {}
";

/// The RFC's scenario (see the file docs), the same against both servers.
const SCENARIO: &str = r"
A, B = S(), S()
lines, _ = A.ok('CAPABILITY')
assert ' QRESYNC' in lines[0] and ' CONDSTORE' in lines[0], lines
# Before ENABLE QRESYNC: its SELECT parameter is BAD (RFC 7162 §3.2.5).
assert A.status('SELECT INBOX (QRESYNC (1 1))') == 'BAD'
lines, _ = A.ok('ENABLE QRESYNC')
assert '* ENABLED QRESYNC\r\n' in lines, lines
for i in range(1, 11):
    B.ok('APPEND INBOX', b'Subject: m%d\r\n\r\nbody %d\r\n' % (i, i))
lines, _ = A.ok('SELECT INBOX')
uv, hm = code(lines, 'UIDVALIDITY'), code(lines, 'HIGHESTMODSEQ')
assert uv and hm, lines

# Session B: flags on 2 and 7, 3, 4 and 9 expunged.
B.ok('SELECT INBOX')
B.ok('UID STORE 2,7 +FLAGS.SILENT (\\Flagged)')
B.ok('UID STORE 3:4,9 +FLAGS.SILENT (\\Deleted)')
B.ok('EXPUNGE')
# A, still selected: VANISHED in place of EXPUNGE (§3.2.10), the flags with UID and MODSEQ.
lines, _ = A.ok('NOOP')
assert not [l for l in lines if l.endswith(' EXPUNGE\r\n')], lines
result['noop_vanished'] = vanished(lines, False)
result['noop_changed'] = changed(lines)
assert result['noop_vanished'] == [3, 4, 9], lines
assert result['noop_changed'] == [[2, ['\\Flagged']], [7, ['\\Flagged']]], lines
# More while A looks: \Seen on 8, 10 expunged, 5's file removed by hand (another program).
B.ok('UID STORE 8 +FLAGS.SILENT (\\Seen)')
B.ok('UID STORE 10 +FLAGS.SILENT (\\Deleted)')
B.ok('EXPUNGE')
five = [f for f in glob.glob(maildir + '/cur/*') + glob.glob(maildir + '/new/*')
        if re.match(rb'Subject: m5\r?\n', open(f, 'rb').read())]
assert len(five) == 1, five
os.remove(five[0])
lines, _ = A.ok('NOOP')
result['noop2_vanished'] = vanished(lines, False)
assert result['noop2_vanished'] == [5, 10], lines

# SELECT with QRESYNC from the MODSEQ A knew at first: [CLOSED] (§3.2.11), then exactly what
# changed (§3.2.5.1): VANISHED (EARLIER) before the FETCHes.
lines, done = A.ok('SELECT INBOX (QRESYNC (%d %d))' % (uv, hm))
assert [l for l in lines if l.startswith('* OK [CLOSED]')], lines
first_fetch = min([i for i, l in enumerate(lines) if ' FETCH ' in l] or [len(lines)])
assert all(i < first_fetch for i, l in enumerate(lines) if l.startswith('* VANISHED')), lines
result['select_vanished'] = vanished(lines, True)
result['select_changed'] = changed(lines)
assert result['select_vanished'] == [3, 4, 5, 9, 10], lines
assert result['select_changed'] == [[2, ['\\Flagged']], [7, ['\\Flagged']], [8, ['\\Seen']]], lines
hm2 = code(lines, 'HIGHESTMODSEQ')
# Known UIDs narrow both.
lines, _ = A.ok('SELECT INBOX (QRESYNC (%d %d 1:5))' % (uv, hm))
result['known_vanished'] = vanished(lines, True)
result['known_changed'] = changed(lines)
assert result['known_vanished'] == [3, 4, 5], lines
assert result['known_changed'] == [[2, ['\\Flagged']]], lines
# With seq-match data (the client's numbers 1, 2 were UIDs 1, 2): the same, as the history
# reaches back that far.
lines, _ = A.ok('EXAMINE INBOX (QRESYNC (%d %d 1:10 (1:2 1:2)))' % (uv, hm))
result['seqmatch_vanished'] = vanished(lines, True)
assert result['seqmatch_vanished'] == [3, 4, 5, 9, 10], lines
# Nothing changed since the current HIGHESTMODSEQ; a stale UIDVALIDITY resynchronises nothing.
lines, _ = A.ok('SELECT INBOX (QRESYNC (%d %d))' % (uv, hm2))
result['current'] = [vanished(lines, True), changed(lines)]
assert result['current'] == [[], []], lines
lines, _ = A.ok('SELECT INBOX (QRESYNC (%d %d))' % (uv + 1, hm))
result['stale'] = [vanished(lines, True), changed(lines)]
assert result['stale'] == [[], []], lines
# UID FETCH with VANISHED (§3.2.6): the UIDs of the set expunged since, then the changes.
lines, _ = A.ok('UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)' % hm)
result['fetch_vanished'] = vanished(lines, True)
result['fetch_changed'] = changed(lines)
assert result['fetch_vanished'] == [3, 4, 5, 9, 10], lines
assert result['fetch_changed'] == result['select_changed'], lines
lines, _ = A.ok('UID FETCH 4:8 (FLAGS) (CHANGEDSINCE %d VANISHED)' % hm)
result['fetch_part'] = [vanished(lines, True), changed(lines)]
assert result['fetch_part'] == [[4, 5], [[7, ['\\Flagged']], [8, ['\\Seen']]]], lines
# VANISHED only in UID FETCH, only with CHANGEDSINCE.
assert A.status('FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)') == 'BAD'
assert A.status('UID FETCH 1:* (FLAGS) (VANISHED)') == 'BAD'
# seq-match data whose two sets differ in size is BAD (as Dovecot answers).
lines, done = A.cmd('SELECT INBOX (QRESYNC (%d %d 1:5 (1:3 1:2)))' % (uv, hm))
assert done.split(' ')[1] == 'BAD', done
result['bad_seq_match'] = [l.split(']')[0] for l in lines]
# A session that did not enable QRESYNC: BAD, which closes its mailbox as a refused SELECT
# does (RFC 3501 §6.3.1; Dovecot too).
C = S()
C.ok('SELECT INBOX')
lines, _ = C.ok('SELECT INBOX')
result['closed_without_qresync'] = bool([l for l in lines if l.startswith('* OK [CLOSED]')])
lines, done = C.cmd('SELECT INBOX (QRESYNC (%d %d))' % (uv, hm))
assert done.split(' ')[1] == 'BAD', done
result['bad_select_closed'] = [l.split(']')[0] for l in lines]
result['after_bad_select'] = C.status('FETCH 1 (UID)')
C.ok('SELECT INBOX')
assert C.status('UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)') == 'BAD'
# It gets EXPUNGE, not VANISHED.
B.ok('UID STORE 1 +FLAGS.SILENT (\\Deleted)')
B.ok('EXPUNGE')
lines, _ = C.ok('NOOP')
assert '* 1 EXPUNGE\r\n' in lines and not vanished(lines, False), lines
# A change of one's own while others' changes are not reported yet (RFC 7162 §3.2): the
# command says up to which HIGHESTMODSEQ the client knows everything (Dovecot in its tagged OK,
# we in an untagged one); from there, QRESYNC gives what it missed and its own change.
D, E = S(), S()
D.ok('ENABLE QRESYNC')
lines, _ = D.ok('SELECT INBOX')
known = code(lines, 'HIGHESTMODSEQ')
E.ok('SELECT INBOX')
E.ok('UID STORE 6 +FLAGS.SILENT (\\Deleted)')
E.ok('EXPUNGE')
E.ok('UID STORE 8 +FLAGS.SILENT (\\Answered)')
lines, done = D.ok('STORE 1 +FLAGS (\\Draft)')
floor = code(lines + ['* ' + done.split(' ', 1)[1]], 'HIGHESTMODSEQ')
assert floor == known, (known, lines, done)
lines, _ = D.ok('SELECT INBOX (QRESYNC (%d %d))' % (uv, floor))
result['own_change'] = [vanished(lines, True), changed(lines)]
assert result['own_change'] == [[6], [[2, ['\\Draft', '\\Flagged']], [8, ['\\Answered', '\\Seen']]]], lines
# The same for the \Seen a FETCH of the text sets, while an expunge waits to be told.
known = code(lines, 'HIGHESTMODSEQ')
E.ok('UID STORE 8 +FLAGS.SILENT (\\Deleted)')
E.ok('EXPUNGE')
lines, done = D.ok('FETCH 2 (BODY[])')
floor = code(lines + ['* ' + done.split(' ', 1)[1]], 'HIGHESTMODSEQ')
assert floor == known, (known, lines, done)
lines, _ = D.ok('SELECT INBOX (QRESYNC (%d %d))' % (uv, floor))
result['own_seen'] = [vanished(lines, True), changed(lines)]
assert result['own_seen'] == [[8], [[7, ['\\Flagged', '\\Seen']]]], lines
# A SELECT or EXAMINE whose arguments do not parse fails too, and leaves no mailbox selected
# (RFC 3501 §6.3.1), marked with [CLOSED] (RFC 7162 §3.2.11): known UIDs may not hold '*'.
for bad in ['SELECT INBOX (QRESYNC (%d %d 1:*))' % (uv, floor), 'EXAMINE INBOX (FOO)', 'SELECT']:
    D.ok('SELECT INBOX')
    lines, done = D.cmd(bad)
    closed = [l for l in lines if l.startswith('* OK [CLOSED]')]
    result.setdefault('unparsed_select', []).append([done.split(' ')[1], len(closed), D.status('FETCH 1 (FLAGS)')])
assert result['unparsed_select'] == [['BAD', 1, 'BAD']] * 3, result['unparsed_select']
print('result ' + json.dumps(result, sort_keys=True))
print('ok')
";

/// Our server's history of expunges does not reach back to the client's MODSEQ (it was lost,
/// or the folder was last written by an older version): VANISHED (EARLIER) is then every UID
/// the client names that the mailbox does not hold (UID 2, expunged before the client's MODSEQ,
/// too: RFC 7162 §3.2.5.2 allows it), narrowed by seq-match data to the UIDs above the highest
/// message number that still holds the UID the client had for it.
const FALLBACK: &str = r"
A, B = S(), S()
A.ok('ENABLE QRESYNC')
for i in range(1, 11):
    B.ok('APPEND INBOX', b'Subject: m%d\r\n\r\nbody %d\r\n' % (i, i))
B.ok('SELECT INBOX')
B.ok('UID STORE 2 +FLAGS.SILENT (\\Deleted)')
B.ok('EXPUNGE')
lines, _ = A.ok('SELECT INBOX')
uv, hm = code(lines, 'UIDVALIDITY'), code(lines, 'HIGHESTMODSEQ')
A.ok('UNSELECT')
B.ok('UID STORE 7 +FLAGS.SILENT (\\Deleted)')
B.ok('EXPUNGE')
os.remove(os.path.join(maildir, 'mailwright-vanished'))
lines, _ = A.ok('SELECT INBOX (QRESYNC (%d %d))' % (uv, hm))
assert vanished(lines, True) == [2, 7], lines
lines, _ = A.ok('SELECT INBOX (QRESYNC (%d %d 1:20 (1:5 1,3:6)))' % (uv, hm))
assert vanished(lines, True) == [7], lines
# A pair that no longer matches (message 6 was UID 7) narrows nothing past the last match.
lines, _ = A.ok('SELECT INBOX (QRESYNC (%d %d 1:20 (1,6 1,7)))' % (uv, hm))
assert vanished(lines, True) == [2, 7], lines
lines, _ = A.ok('UID FETCH 5:* (FLAGS) (CHANGEDSINCE %d VANISHED)' % hm)
assert vanished(lines, True) == [7], lines
# The next expunge starts the history again: exact from the MODSEQ before it.
B.ok('UID STORE 8 +FLAGS.SILENT (\\Deleted)')
lines, _ = A.ok('NOOP')
lines, _ = A.ok('SELECT INBOX')
before = code(lines, 'HIGHESTMODSEQ')
B.ok('EXPUNGE')
lines, _ = A.ok('NOOP')
assert vanished(lines, False) == [8], lines
lines, _ = A.ok('UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)' % before)
assert vanished(lines, True) == [8], lines
lines, _ = A.ok('UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)' % (before - 1))
assert vanished(lines, True) == [2, 7, 8], lines
print('result {}')
print('ok')
";

fn run_script(script: &str, port: u16, kind: &str, maildir: &std::path::Path) -> String {
    let script = format!("{}{HELPERS}{script}", common::IMAP_SESSION_PY);
    let out = python(
        &script,
        &[&port.to_string(), kind, maildir.to_str().unwrap()],
    );
    assert!(out.contains("\nok"), "{kind}: {out}");
    out.lines()
        .find_map(|l| l.strip_prefix("result "))
        .unwrap_or_else(|| panic!("{kind}: {out}"))
        .to_owned()
}

fn ours(script: &str) -> String {
    let server = TestServer::start();
    let maildir = server.maildir("alice@example.org");
    run_script(script, server.port(Service::Imap), "ours", &maildir)
}

#[test]
fn qresync_reports_exactly_what_changed() {
    if peer::require("python3", "python3").is_none() {
        return;
    }
    ours(SCENARIO);
}

#[test]
fn qresync_without_the_history_answers_from_the_mailbox() {
    if peer::require("python3", "python3").is_none() {
        return;
    }
    ours(FALLBACK);
}

#[test]
fn qresync_like_dovecot() {
    if peer::require("python3", "python3").is_none() {
        return;
    }
    let Some(bin) = peer::require("dovecot", "dovecot-imapd") else {
        return;
    };
    let dir = common::tempdir("imap-qresync");
    let dc = Dovecot::start(
        &bin,
        &dir,
        "alice@example.org",
        "alice-pw",
        common::DOVECOT_MAILDIR_SLASH,
    );
    let maildir = dir.join("home/alice@example.org/Maildir");
    let theirs = run_script(SCENARIO, dc.port, "dovecot", &maildir);
    drop(dc);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(ours(SCENARIO), theirs, "ours, then Dovecot's");
}
