//! The PostgreSQL store (`[store] backend = "postgres"`) against a private PostgreSQL
//! (`common::postgres`): the same IMAP and POP3 scripts against a server on it and a server on
//! Maildirs give the same answers; quota; two servers on one database (a delivery through one
//! read on the other, UIDs unique and increasing under APPENDs from both, IDLE on one woken by
//! the other through LISTEN/NOTIFY), also as two `full_server` processes one of which is killed;
//! the concurrency checker of `examples/imap_check` with zero errors; TLS to the database;
//! the collection of unnamed bodies; users, domains and aliases in the database
//! (`[store] directory = "database"`), changed with the admin commands and seen by both nodes;
//! the outbound queue in the database, claimed by one node at a time, delivered once by two
//! nodes at once and by the survivor of a kill -9.

#![cfg(feature = "postgres")]

mod common;
#[path = "../examples/support/imap_check.rs"]
mod imap_check;
#[path = "../examples/support/imap_check_model.rs"]
mod imap_check_model;
#[path = "../examples/support/imap_check_ops.rs"]
mod imap_check_ops;
#[allow(dead_code)]
#[path = "../examples/support/imap_client.rs"]
mod imap_client;

use std::time::Duration;

use common::postgres::Postgres;
use common::{IMAP_SESSION_PY, TestServer, python, strip_trace};
use mailwright::server::Service;

fn pg_server(pg: &Postgres) -> TestServer {
    TestServer::start_with(|c| pg.configure(c))
}

/// Numbers that differ between two correct stores (UIDVALIDITY, MODSEQs, POP3 ids) replaced.
const NORMALIZE_PY: &str = r"
def norm(text):
    text = re.sub(r'(UIDVALIDITY|HIGHESTMODSEQ|MODSEQ \(?|APPENDUID|COPYUID) \d+', r'\1 N', text)
    text = re.sub(r'MODSEQ \(\d+\)', 'MODSEQ (N)', text)
    text = re.sub(r'QRESYNC \(\d+ \d+\)', 'QRESYNC (N N)', text)
    return text
";

/// APPEND, SELECT, STORE, SEARCH, COPY, MOVE, EXPUNGE, STATUS, mailbox management, and QRESYNC's
/// VANISHED, printed normalised.
const IMAP_SCRIPT: &str = r#"
s = S()
out = []
def show(cmd, lit=None):
    lines, done = s.ok(cmd, lit)
    keep = [l.strip() for l in lines if not l.startswith('* OK [HIGHESTMODSEQ') and not l.startswith('* FLAGS') and not l.startswith('* OK [PERMANENTFLAGS')]
    out.append(norm(cmd + ' => ' + ' | '.join(keep) + ' / ' + done.split(' ', 1)[1].strip()))
show('ENABLE QRESYNC')
s.ok('APPEND INBOX (\\Seen)', b'Subject: one\r\n\r\nfirst body\r\n')
s.ok('APPEND INBOX ($Work)', b'Subject: two\r\n\r\nsecond\r\nbody\r\n')
s.ok('APPEND INBOX', b'Subject: three\r\n\r\nthird\r\n')
show('SELECT INBOX')
lines, _ = s.ok('STATUS INBOX (HIGHESTMODSEQ UIDVALIDITY)')
m = re.search(r'HIGHESTMODSEQ (\d+)', ' '.join(lines)); before = int(m.group(1))
uv = int(re.search(r'UIDVALIDITY (\d+)', ' '.join(lines)).group(1))
show('UID STORE 2 +FLAGS (\\Flagged Urgent)')
show('UID SEARCH FLAGGED')
show('UID SEARCH UNSEEN')
show('UID SEARCH KEYWORD Urgent')
show('UID SEARCH KEYWORD $Work')
show('UID COPY 1:2 Archive')
show('UID MOVE 3 Trash')
show('STORE 1 +FLAGS (\\Deleted)')
show('EXPUNGE')
show('FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[])')
show('STATUS Archive (MESSAGES UIDNEXT UNSEEN RECENT)')
show('STATUS Trash (MESSAGES UIDNEXT)')
show('SELECT Archive')
show('FETCH 1:* (UID FLAGS)')
show('UID STORE 1:* -FLAGS (\\Seen)')
show('UID SEARCH UNSEEN')
show('CREATE a/b')
show('LIST "" a*')
show('RENAME a x')
show('LIST "" *')
show('DELETE x/b')
show('LSUB "" *')
show('SELECT INBOX (QRESYNC (%d %d))' % (uv, before))
show('NOOP')
print('\n'.join(out))
"#;

/// STAT, LIST, RETR, DELE over POP3 (Python's poplib), printed.
const POP3_SCRIPT: &str = r"
import poplib, sys
port = int(sys.argv[1])
p = poplib.POP3('127.0.0.1', port, timeout=20)
p.user('alice@example.org'); p.pass_('alice-pw')
print('STAT', p.stat())
print('LIST', p.list()[1])
r = p.retr(1)
print('RETR', r[1])
print('DELE', p.dele(1))
p.quit()
p = poplib.POP3('127.0.0.1', port, timeout=20)
p.user('alice@example.org'); p.pass_('alice-pw')
print('STAT', p.stat())
print('UIDL count', len(p.uidl()[1]))
p.quit()
";

/// Sends one message to alice over SMTP.
const SMTP_PY: &str = r"
import smtplib, sys
port = int(sys.argv[1])
msg = 'From: s@remote.test\r\nTo: alice@example.org\r\nSubject: ' + sys.argv[2] + '\r\n\r\nhello\r\n.dot line\r\nbare\rcr\r\n'
with smtplib.SMTP('127.0.0.1', port, timeout=20) as s:
    s.sendmail('s@remote.test', ['alice@example.org'], msg)
";

/// FETCH of every INBOX message: `uid size hex(body)` per line.
const FETCH_PY: &str = r"
s = S()
lines, _ = s.ok('SELECT INBOX')
lines, _ = s.ok('UID FETCH 1:* (RFC822.SIZE BODY.PEEK[])')
for l in lines:
    m = re.match(r'\* \d+ FETCH \((.*)', l, re.S)
    if not m: continue
    uid = re.search(r'UID (\d+)', l).group(1)
    size = int(re.search(r'RFC822.SIZE (\d+)', l).group(1))
    lit = re.search(r'BODY\[\] \{(\d+)\}\r\n', l)
    start = lit.end(); body = l.encode('utf-8', 'surrogateescape')
    text = l[start:start + int(lit.group(1))]
    print(uid, size, text.encode().hex())
";

fn session(script: &str) -> String {
    format!("{IMAP_SESSION_PY}\n{NORMALIZE_PY}\n{script}")
}

fn imap(server: &TestServer, script: &str) -> String {
    imap_at(server.port(Service::Imap), script)
}

fn imap_at(port: u16, script: &str) -> String {
    python(&session(script), &[&port.to_string(), "ours", "-"])
}

fn fetch_all(server: &TestServer) -> Vec<(u32, usize, Vec<u8>)> {
    fetch_at(server.port(Service::Imap))
}

fn fetch_at(port: u16) -> Vec<(u32, usize, Vec<u8>)> {
    imap_at(port, FETCH_PY)
        .lines()
        .map(|l| {
            let mut f = l.split(' ');
            let uid = f.next().unwrap().parse().unwrap();
            let size = f.next().unwrap().parse().unwrap();
            let hex = f.next().unwrap_or_default();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (uid, size, bytes)
        })
        .collect()
}

#[test]
fn imap_and_pop3_answer_as_the_maildir_store_does() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let ours = pg_server(&pg);
    let maildir = TestServer::start();
    let on_pg = imap(&ours, IMAP_SCRIPT);
    let on_maildir = imap(&maildir, IMAP_SCRIPT);
    assert_eq!(
        on_pg, on_maildir,
        "postgres:\n{on_pg}\nmaildir:\n{on_maildir}"
    );
    assert!(on_pg.contains("VANISHED"), "{on_pg}");
    // A delivery over SMTP: the same octets and sizes through IMAP after the trace headers.
    for s in [&ours, &maildir] {
        python(SMTP_PY, &[&s.port(Service::Smtp).to_string(), "delivered"]);
    }
    let (a, b) = (fetch_all(&ours), fetch_all(&maildir));
    assert_eq!(a.len(), b.len());
    for ((ua, sa, ba), (ub, sb, bb)) in a.iter().zip(&b) {
        assert_eq!(ua, ub);
        assert_eq!(*sa, ba.len(), "RFC822.SIZE is the size served");
        assert_eq!(*sb, bb.len());
        assert_eq!(strip_trace(ba), strip_trace(bb));
    }
    let on_pg = python(POP3_SCRIPT, &[&ours.port(Service::Pop3).to_string()]);
    let on_maildir = python(POP3_SCRIPT, &[&maildir.port(Service::Pop3).to_string()]);
    let cut = |t: &str| {
        // The delivered message's trace headers differ; the lines of the first do not.
        t.lines()
            .filter(|l| !l.starts_with("RETR") || !l.contains("Received"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(cut(&on_pg), cut(&on_maildir), "{on_pg}\n{on_maildir}");
}

#[test]
fn quota_overrun_is_refused_with_overquota() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let server = pg_server(&pg);
    imap(&server, "s = S()\ns.ok('SELECT INBOX')");
    pg.sql("UPDATE accounts SET bytes_limit = 100 WHERE username = 'alice@example.org'");
    let out = imap(
        &server,
        r"
s = S()
s.ok('APPEND INBOX', b'Subject: small\r\n\r\nok\r\n')
print(s.cmd('APPEND INBOX', b'Subject: big\r\n\r\n' + b'x' * 200 + b'\r\n')[1].strip())
s.ok('GETQUOTAROOT INBOX')
",
    );
    assert!(out.contains("NO [OVERQUOTA]"), "{out}");
    // SMTP too: the recipient is refused (at RCPT or at the end of the data), nothing stored.
    let refused = python(
        r"
import smtplib, sys
try:
    with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20) as s:
        s.sendmail('s@remote.test', ['alice@example.org'], 'Subject: big\r\n\r\n' + 'x' * 200 + '\r\n')
    print('accepted')
except smtplib.SMTPRecipientsRefused as e:
    print('refused', list(e.recipients.values())[0][0])
except smtplib.SMTPDataError as e:
    print('refused', e.smtp_code)
",
        &[&server.port(Service::Smtp).to_string()],
    );
    assert!(
        refused.starts_with("refused 452") || refused.starts_with("refused 552"),
        "{refused}"
    );
    let used = pg
        .sql("SELECT used_bytes, used_messages FROM accounts WHERE username = 'alice@example.org'");
    assert_eq!(
        used.trim(),
        "19|1",
        "usage counts the octets stored (LF line ends)"
    );
}

/// Appends `n` messages through `port`, printing each APPENDUID's UID.
const APPEND_LOOP_PY: &str = r"
import sys
n = int(sys.argv[4])
s = S()
for i in range(n):
    lines, done = s.ok('APPEND INBOX', b'Subject: c%d\r\n\r\nx\r\n' % i)
    print(re.search(r'APPENDUID \d+ (\d+)', done).group(1))
";

/// IDLE on the node of argv[1] while the node of argv[4] APPENDs: prints the untagged line the
/// idler gets and how long after the APPEND's OK.
const IDLE_ACROSS_PY: &str = r"
import sys, time
b = S()
b.ok('SELECT INBOX')
port = int(sys.argv[4])
a = S()
b.s.sendall(b'i IDLE\r\n')
assert b.f.readline().startswith(b'+')
a.ok('APPEND INBOX', b'Subject: idle\r\n\r\nx\r\n')
t0 = time.monotonic()
line = b.f.readline().decode()
print(line.strip(), round(time.monotonic() - t0, 3))
b.s.sendall(b'DONE\r\n')
";

/// Five sessions LOGIN, SELECT INBOX and IDLE; prints `idling`, idles six seconds, ends.
const FIVE_IDLERS_PY: &str = r"
import socket, sys, time
port = int(sys.argv[1])
held = []
for i in range(5):
    s = socket.create_connection(('127.0.0.1', port), timeout=20)
    f = s.makefile('rb')
    f.readline()
    s.sendall(b'a LOGIN alice@example.org alice-pw\r\nb SELECT INBOX\r\nc IDLE\r\n')
    while not f.readline().startswith(b'+'):
        pass
    held.append((s, f))
print('idling', flush=True)
time.sleep(6)
for s, f in held:
    s.sendall(b'DONE\r\nd LOGOUT\r\n')
print('ok')
";

/// Idling sessions do not poll the database (the store wakes them through LISTEN/NOTIFY): once
/// five IDLEs have begun, no backend of the node runs a query for seconds.
#[test]
fn idle_sessions_do_not_poll_the_database() {
    use std::io::BufRead as _;
    let Some(pg) = Postgres::start() else {
        return;
    };
    let server = pg_server(&pg);
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            FIVE_IDLERS_PY,
            &server.port(Service::Imap).to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "idling");
    std::thread::sleep(Duration::from_secs(3));
    // A session polling every 500 ms would have queried within the last two seconds.
    let recent = pg.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'mail' \
         AND pid <> pg_backend_pid() AND query_start > now() - interval '2 seconds'",
    );
    let busy = pg.sql(
        "SELECT string_agg(state || ': ' || query, '; ') FROM pg_stat_activity \
         WHERE datname = 'mail' AND pid <> pg_backend_pid()",
    );
    assert_eq!(recent.trim(), "0", "queries while idling: {busy}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(
        child.wait().unwrap().success() && rest.contains("ok"),
        "{rest}"
    );
}

#[test]
fn two_nodes_share_the_mail_and_never_hand_out_one_uid_twice() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let a = pg_server(&pg);
    let b = pg_server(&pg);
    python(SMTP_PY, &[&a.port(Service::Smtp).to_string(), "through-a"]);
    let on_b = fetch_all(&b);
    assert_eq!(on_b.len(), 1);
    assert!(
        String::from_utf8_lossy(&on_b[0].2).contains("Subject: through-a"),
        "{on_b:?}"
    );
    // Concurrent APPENDs through both nodes.
    let script = session(APPEND_LOOP_PY);
    let runs: Vec<_> = [a.port(Service::Imap), b.port(Service::Imap)]
        .into_iter()
        .map(|port| {
            let script = script.clone();
            std::thread::spawn(move || python(&script, &[&port.to_string(), "ours", "-", "25"]))
        })
        .collect();
    let mut all = Vec::new();
    for run in runs {
        let uids: Vec<u32> = run
            .join()
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert_eq!(uids.len(), 25);
        assert!(uids.windows(2).all(|w| w[0] < w[1]), "{uids:?}");
        all.extend(uids);
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 50, "no UID handed out twice");
    for node in [&a, &b] {
        let seen: Vec<u32> = fetch_all(node).iter().map(|m| m.0).collect();
        assert_eq!(seen.len(), 51);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
    }
    // IDLE on B hears of an APPEND on A within a second (the issue's bound).
    let out = python(
        &session(IDLE_ACROSS_PY),
        &[
            &b.port(Service::Imap).to_string(),
            "ours",
            "-",
            &a.port(Service::Imap).to_string(),
        ],
    );
    let (line, secs) = out.trim().rsplit_once(' ').unwrap();
    assert_eq!(line, "* 52 EXISTS", "{out}");
    assert!(secs.parse::<f64>().unwrap() < 1.0, "{out}");
    // The POP3 maildrop lock holds across nodes.
    let out = python(
        r"
import poplib, sys
a = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=20)
a.user('alice@example.org'); a.pass_('alice-pw')
b = poplib.POP3('127.0.0.1', int(sys.argv[2]), timeout=20)
b.user('alice@example.org')
try:
    b.pass_('alice-pw')
    print('both locked')
except poplib.error_proto as e:
    print('refused', e)
a.quit()
c = poplib.POP3('127.0.0.1', int(sys.argv[2]), timeout=20)
c.user('alice@example.org'); c.pass_('alice-pw')
print('after quit', c.stat()[0])
c.quit()
",
        &[
            &a.port(Service::Pop3).to_string(),
            &b.port(Service::Pop3).to_string(),
        ],
    );
    assert!(out.contains("refused"), "{out}");
    assert!(out.contains("after quit 52"), "{out}");
}

#[test]
fn the_concurrency_checker_finds_no_error_on_one_node_and_across_two() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let server = pg_server(&pg);
    let report = check(server.hostport(Service::Imap));
    assert!(report.passed(), "one node:\n{}", report.summary());
    assert!(report.checkpoints == 3, "{}", report.summary());
    // The same user on both nodes: sessions alternate between them, views agree at every
    // checkpoint.
    let other = pg_server(&pg);
    let report = check(format!(
        "{},{}",
        server.hostport(Service::Imap),
        other.hostport(Service::Imap)
    ));
    assert!(report.passed(), "two nodes:\n{}", report.summary());
    assert!(report.checkpoints == 3, "{}", report.summary());
}

/// The checker for three seconds (ten sessions, a checkpoint a second, a fixed seed).
fn check(addr: String) -> imap_check::CheckReport {
    let cfg = imap_check::CheckConfig {
        addr,
        user: "alice@example.org".into(),
        password: "alice-pw".into(),
        sessions: 10,
        duration: Duration::from_secs(3),
        checkpoint_every: Duration::from_secs(1),
        preload: 3,
        seed: 7,
        command_timeout: Duration::from_secs(20),
        strict_recent: true,
        ..imap_check::CheckConfig::default()
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(imap_check::run(cfg))
}

/// The runtime of the tests that drive a `PostgresStore` directly (its pool and LISTEN task
/// run on it; the store's blocking calls come from the test thread).
fn store_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A configuration whose `[store]` is `pg`'s database.
fn pg_config(pg: &Postgres) -> mailwright::core::config::Config {
    let mut config = mailwright::core::config::Config::default();
    pg.configure(&mut config);
    config
}

#[test]
fn a_write_on_one_node_wakes_the_watchers_on_another_through_listen() {
    use mailwright::store::postgres::PostgresStore;
    use mailwright::store::{MailStore, MailboxName};
    let Some(pg) = Postgres::start() else {
        return;
    };
    let rt = store_runtime();
    let config = pg_config(&pg);
    let dir = common::tempdir("pg-listen");
    let a = rt
        .block_on(PostgresStore::connect(&dir, &config.store))
        .unwrap();
    let b = rt
        .block_on(PostgresStore::connect(&dir, &config.store))
        .unwrap();
    let alice: mailwright::core::directory::Address = "alice@example.org".parse().unwrap();
    let mut changes = b.account(&alice).unwrap().watch(&MailboxName::inbox());
    // B's LISTEN is sent by its own task: deliver through A until a delivery wakes B's watcher
    // within a second (only B's LISTEN connection can wake it: a store does not poll).
    let mut woken = false;
    for i in 0..10 {
        let mut delivery = a.delivery();
        let text = format!("Subject: {i}\n\nx\n");
        let copy = delivery
            .prepare(&alice, &mut std::io::Cursor::new(text.into_bytes()))
            .unwrap();
        assert!(delivery.commit(&[copy])[0].is_ok());
        assert_eq!(delivery.publish().len(), 1);
        if rt
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(1), changes.changed()).await
            })
            .is_ok()
        {
            woken = true;
            break;
        }
    }
    assert!(woken, "a delivery through A never woke B's watcher");
    drop((a, b));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tls_require_verifies_the_database_against_the_ca_file() {
    use mailwright::core::config::DbTls;
    use mailwright::store::MailStore;
    use mailwright::store::postgres::PostgresStore;
    let Some((pg, ca)) = Postgres::start_with_tls() else {
        return;
    };
    let rt = store_runtime();
    let dir = common::tempdir("pg-tls");
    let mut config = pg_config(&pg);
    config.store.tls = DbTls::Require;
    // Another CA: the handshake fails, nothing is sent in the clear instead.
    let (other, _) = Postgres::start_with_tls().unwrap();
    config.store.ca_file = Some(other.dir.join("ca.pem"));
    let refused = rt.block_on(PostgresStore::connect(&dir, &config.store));
    assert!(
        refused.is_err(),
        "a server certificate of another CA was accepted"
    );
    config.store.ca_file = Some(ca);
    let store = rt
        .block_on(PostgresStore::connect(&dir, &config.store))
        .unwrap();
    let alice: mailwright::core::directory::Address = "alice@example.org".parse().unwrap();
    assert!(store.account(&alice).unwrap().list().unwrap().len() >= 6);
    let ssl = pg.sql(
        "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'mailwright'",
    );
    assert_eq!(ssl.trim(), "t", "every connection of the store is TLS");
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bodies_nobody_names_are_collected_and_the_others_kept() {
    use mailwright::store::postgres::PostgresStore;
    use mailwright::store::{Flag, FlagOp, Flags, MailStore, MailboxName};
    let Some(pg) = Postgres::start() else {
        return;
    };
    let rt = store_runtime();
    let dir = common::tempdir("pg-gc");
    let config = pg_config(&pg);
    let store = rt
        .block_on(PostgresStore::connect(&dir, &config.store))
        .unwrap();
    // The migration that added `blobs.saved_at` ran (later ones may follow).
    assert_eq!(
        pg.sql("SELECT max(version) = count(*) FROM schema_migrations")
            .trim(),
        "t",
        "every migration ran once"
    );
    let alice: mailwright::core::directory::Address = "alice@example.org".parse().unwrap();
    let mut delivery = store.delivery();
    let copies: Vec<_> = ["Subject: a\n\nkept\n", "Subject: b\n\nexpunged\n"]
        .iter()
        .map(|t| {
            delivery
                .prepare(&alice, &mut std::io::Cursor::new(t.as_bytes().to_vec()))
                .unwrap()
        })
        .collect();
    assert!(delivery.commit(&copies).iter().all(Result::is_ok));
    delivery.publish();
    // A prepared copy never committed writes nothing: its body goes in with the commit.
    let mut dropped = store.delivery();
    dropped
        .prepare(
            &alice,
            &mut std::io::Cursor::new(b"Subject: c\n\nnever\n".to_vec()),
        )
        .unwrap();
    drop(dropped);
    let (mut inbox, view) = store
        .account(&alice)
        .unwrap()
        .select(&MailboxName::inbox(), false)
        .unwrap();
    let second = view.messages[1].uid;
    inbox
        .store(
            &[second],
            FlagOp::Add,
            Flags::empty().with(Flag::Deleted),
            &[],
            None,
        )
        .unwrap();
    assert_eq!(inbox.expunge(&[second]).unwrap(), [second]);
    // Within the grace period the expunged message still reads.
    assert_eq!(store.collect_garbage(Duration::from_hours(1)).unwrap(), 0);
    assert!(inbox.open(second).unwrap().is_some());
    // Past it (zero here), the expunged body goes, the other stays.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(store.collect_garbage(Duration::ZERO).unwrap(), 1);
    assert_eq!(pg.sql("SELECT count(*) FROM blobs").trim(), "1");
    assert!(inbox.open(view.messages[0].uid).unwrap().is_some());
    assert!(inbox.open(second).unwrap().is_none());
    drop((inbox, store));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn deliveries_committing_together_get_increasing_uids_and_their_own_errors() {
    use mailwright::store::postgres::PostgresStore;
    use mailwright::store::{MailStore, MailboxName};
    use std::io::Cursor;
    const THREADS: usize = 8;
    const EACH: usize = 25;
    let Some(pg) = Postgres::start() else {
        return;
    };
    let rt = store_runtime();
    let dir = common::tempdir("pg-group");
    let config = pg_config(&pg);
    let store = std::sync::Arc::new(
        rt.block_on(PostgresStore::connect(&dir, &config.store))
            .unwrap(),
    );
    let alice: mailwright::core::directory::Address = "alice@example.org".parse().unwrap();
    // A copy prepared into a mailbox that is deleted before the copy commits.
    let doomed = MailboxName::new("Doomed").unwrap();
    store.account(&alice).unwrap().create(&doomed).unwrap();
    let mut late = store.delivery();
    let copy = late
        .prepare_into(
            &alice,
            &doomed,
            false,
            &[],
            &mut Cursor::new(b"Subject: late\n\nlost\n".to_vec()),
        )
        .unwrap();
    store.account(&alice).unwrap().delete(&doomed).unwrap();
    let start = std::sync::Arc::new(std::sync::Barrier::new(THREADS + 1));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (store, alice, start) = (store.clone(), alice.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for i in 0..EACH {
                    let mut delivery = store.delivery();
                    let text = format!("Subject: {t}-{i}\n\nbody {t} {i}\n");
                    let c = delivery
                        .prepare(&alice, &mut Cursor::new(text.into_bytes()))
                        .unwrap();
                    assert!(delivery.commit(&[c]).iter().all(Result::is_ok));
                    delivery.publish();
                }
            })
        })
        .collect();
    start.wait();
    // Its commit fails (alone, or in a round with others, which then go one by one) ...
    assert!(late.commit(&[copy])[0].is_err());
    for w in workers {
        w.join().unwrap();
    }
    // ... and every other commit is in, each with its own UID, in order; commits shared rounds
    // (one MODSEQ per round and mailbox).
    let (_inbox, view) = store
        .account(&alice)
        .unwrap()
        .select(&MailboxName::inbox(), true)
        .unwrap();
    let uids: Vec<u32> = view.messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids.len(), THREADS * EACH);
    assert!(uids.windows(2).all(|w| w[0] < w[1]), "{uids:?}");
    let total = (THREADS * EACH).to_string();
    assert_eq!(pg.sql("SELECT count(*) FROM blobs").trim(), total);
    assert_eq!(
        pg.sql("SELECT used_messages FROM accounts WHERE username = 'alice@example.org'")
            .trim(),
        total
    );
    let rounds: usize = pg
        .sql("SELECT count(DISTINCT modseq) FROM messages")
        .trim()
        .parse()
        .unwrap();
    eprintln!("{} deliveries in {rounds} rounds", THREADS * EACH);
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

/// A data directory for a `full_server` process with SMTP and IMAP on these ports, every other
/// TCP service off, and its mail in `pg`.
fn node_dir(name: &str, pg: &Postgres, smtp: u16, imap: u16) -> std::path::PathBuf {
    let dir = common::tempdir(name);
    common::populate(&dir);
    std::fs::write(
        dir.join(mailwright::core::datadir::CONFIG_FILE),
        format!(
            "hostname = \"localhost\"\n\n\
             [listen]\n\
             smtp = [\"127.0.0.1:{smtp}\"]\n\
             submission = []\n\
             submissions = []\n\
             lmtp = []\n\
             imap = [\"127.0.0.1:{imap}\"]\n\
             imaps = []\n\
             pop3 = []\n\
             pop3s = []\n\
             managesieve = []\n\n\
             [limits]\n\
             auth_failure_delay_secs = 0\n\n\
             [store]\n\
             backend = \"postgres\"\n\
             directory = \"files\"\n\
             url = \"postgresql://mailwright@127.0.0.1:{}/mail\"\n\
             pool_size = 4\n",
            pg.port
        ),
    )
    .unwrap();
    dir
}

/// Two `full_server` processes configured from their files: what is acknowledged through one
/// is read on the other exactly once, also after the first is killed with SIGKILL.
#[test]
fn two_full_server_processes_on_one_database_and_one_killed() {
    use common::process::ServerProcess;
    let Some(pg) = Postgres::start() else {
        return;
    };
    let [smtp_a, imap_a, smtp_b, imap_b] = common::postfix::free_ports::<4>();
    let dir_a = node_dir("pg-node-a", &pg, smtp_a, imap_a);
    let dir_b = node_dir("pg-node-b", &pg, smtp_b, imap_b);
    let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
    let mut a = ServerProcess::start(&dir_a, addr(smtp_a), dir_a.join("server.log"));
    let b = ServerProcess::start(&dir_b, addr(smtp_b), dir_b.join("server.log"));
    for i in 0..10 {
        python(SMTP_PY, &[&smtp_a.to_string(), &format!("acked-{i}")]);
    }
    a.kill9();
    python(SMTP_PY, &[&smtp_b.to_string(), "after-the-kill"]);
    let subjects: Vec<String> = fetch_at(imap_b)
        .iter()
        .map(|(_, _, body)| {
            let text = String::from_utf8_lossy(body).into_owned();
            let line = text.lines().find(|l| l.starts_with("Subject: ")).unwrap();
            line["Subject: ".len()..].to_owned()
        })
        .collect();
    let mut expected: Vec<String> = (0..10).map(|i| format!("acked-{i}")).collect();
    expected.push("after-the-kill".to_owned());
    assert_eq!(
        subjects, expected,
        "each acknowledged message once, in order"
    );
    drop(b);
    for d in [dir_a, dir_b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Two nodes behind HAProxy on one database, as a site runs them: one SMTP and one IMAP
/// address, round robin over the nodes, `send-proxy-v2` from 127.0.0.2. Messages sent through
/// the one address land on both nodes, name the client (not HAProxy) in `Received:`, and are
/// read once each, in order, through the other; an IDLE through HAProxy hears within a second
/// of an APPEND the next connection (so the other node) makes.
#[test]
fn two_nodes_behind_haproxy() {
    use common::process::ServerProcess;
    let Some(pg) = Postgres::start() else {
        return;
    };
    let [smtp_a, imap_a, smtp_b, imap_b, front_smtp, front_imap] =
        common::postfix::free_ports::<6>();
    let node = |name: &str, host: &str, smtp: u16, imap: u16| {
        let dir = node_dir(name, &pg, smtp, imap);
        let file = dir.join(mailwright::core::datadir::CONFIG_FILE);
        let config = std::fs::read_to_string(&file)
            .unwrap()
            .replace(
                "hostname = \"localhost\"",
                &format!("hostname = \"{host}\""),
            )
            .replace(
                "managesieve = []\n",
                "managesieve = []\nproxy_protocol = [\"smtp\", \"imap\"]\n\
                 proxy_trusted = [\"127.0.0.2\"]\n",
            );
        std::fs::write(&file, config).unwrap();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], smtp));
        let server = ServerProcess::start(&dir, addr, dir.join("server.log"));
        (dir, server)
    };
    let (dir_a, a) = node("pg-ha-a", "node-a.test", smtp_a, imap_a);
    let (dir_b, b) = node("pg-ha-b", "node-b.test", smtp_b, imap_b);
    let config = format!(
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\n\
         frontend smtp\n  bind 127.0.0.1:{front_smtp}\n  default_backend smtp\n\
         backend smtp\n  balance roundrobin\n\
         \x20 server a 127.0.0.1:{smtp_a} send-proxy-v2 source 127.0.0.2\n\
         \x20 server b 127.0.0.1:{smtp_b} send-proxy-v2 source 127.0.0.2\n\n\
         frontend imap\n  bind 127.0.0.1:{front_imap}\n  default_backend imap\n\
         backend imap\n  balance roundrobin\n\
         \x20 server a 127.0.0.1:{imap_a} send-proxy-v2 source 127.0.0.2\n\
         \x20 server b 127.0.0.1:{imap_b} send-proxy-v2 source 127.0.0.2\n"
    );
    let Some(_proxy) = common::haproxy::Haproxy::start(&dir_a, &config, &[front_smtp, front_imap])
    else {
        return;
    };
    for i in 0..6 {
        python(
            SMTP_PY,
            &[&front_smtp.to_string(), &format!("via-haproxy-{i}")],
        );
    }
    let messages = fetch_at(front_imap);
    let texts: Vec<String> = messages
        .iter()
        .map(|(_, _, body)| String::from_utf8_lossy(body).into_owned())
        .collect();
    let subjects: Vec<&str> = texts
        .iter()
        .map(|t| t.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap())
        .collect();
    let expected: Vec<String> = (0..6).map(|i| format!("via-haproxy-{i}")).collect();
    assert_eq!(subjects, expected, "each message once, in order");
    for host in ["by node-a.test", "by node-b.test"] {
        assert!(
            texts.iter().any(|t| t.contains(host)),
            "none {host}: {texts:?}"
        );
    }
    assert!(
        texts
            .iter()
            .all(|t| t.contains("[127.0.0.1]") && !t.contains("127.0.0.2")),
        "the client, not HAProxy, in Received: {texts:?}"
    );
    let out = python(
        &session(IDLE_ACROSS_PY),
        &[
            &front_imap.to_string(),
            "ours",
            "-",
            &front_imap.to_string(),
        ],
    );
    let (line, secs) = out.trim().rsplit_once(' ').unwrap();
    assert_eq!(line, "* 7 EXISTS", "{out}");
    assert!(secs.parse::<f64>().unwrap() < 1.0, "{out}");
    drop((a, b));
    for d in [dir_a, dir_b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Sends `via-a-<i>` for i from 0 to 299 to argv[1], one connection each, printing `acked i`
/// after each 250; ends at the first failure.
const SMTP_LOAD_PY: &str = r"
import smtplib, sys
port = int(sys.argv[1])
for i in range(300):
    msg = 'From: s@remote.test\r\nTo: alice@example.org\r\nSubject: via-a-%d\r\n\r\nload\r\n' % i
    try:
        with smtplib.SMTP('127.0.0.1', port, timeout=10) as s:
            s.sendmail('s@remote.test', ['alice@example.org'], msg)
    except Exception as e:
        print('stopped', i, type(e).__name__, flush=True)
        break
    print('acked', i, flush=True)
";

/// kill -9 of a node in the middle of SMTP load: every message it acknowledged is in the
/// database exactly once (the one in flight at the kill may be there or not), and the other
/// node goes on serving.
#[test]
fn a_node_killed_during_smtp_load_loses_no_acknowledged_message() {
    use common::process::ServerProcess;
    use std::io::BufRead as _;
    let Some(pg) = Postgres::start() else {
        return;
    };
    let [smtp_a, imap_a, smtp_b, imap_b] = common::postfix::free_ports::<4>();
    let dir_a = node_dir("pg-kill-a", &pg, smtp_a, imap_a);
    let dir_b = node_dir("pg-kill-b", &pg, smtp_b, imap_b);
    let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
    let mut a = ServerProcess::start(&dir_a, addr(smtp_a), dir_a.join("server.log"));
    let b = ServerProcess::start(&dir_b, addr(smtp_b), dir_b.join("server.log"));
    let mut load = std::process::Command::new("python3")
        .args(["-c", SMTP_LOAD_PY, &smtp_a.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut lines = std::io::BufReader::new(load.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(i) = line.strip_prefix("acked ") {
            acked.push(format!("via-a-{i}"));
        }
        if acked.len() == 20 {
            break;
        }
    }
    a.kill9();
    for line in lines.by_ref() {
        if let Some(i) = line.unwrap().strip_prefix("acked ") {
            acked.push(format!("via-a-{i}"));
        }
    }
    let _ = load.wait();
    assert!(acked.len() >= 20 && acked.len() < 300, "{}", acked.len());
    python(SMTP_PY, &[&smtp_b.to_string(), "via-b-after"]);
    let subjects: Vec<String> = fetch_at(imap_b)
        .iter()
        .map(|(_, _, body)| {
            let text = String::from_utf8_lossy(body).into_owned();
            let line = text.lines().find(|l| l.starts_with("Subject: ")).unwrap();
            line["Subject: ".len()..].to_owned()
        })
        .collect();
    for s in &acked {
        assert_eq!(
            subjects.iter().filter(|t| *t == s).count(),
            1,
            "{s} acknowledged: once in the store"
        );
    }
    // At most the message in flight when the node died is there without its 250.
    let extra: Vec<&String> = subjects
        .iter()
        .filter(|s| s.starts_with("via-a-") && !acked.contains(s))
        .collect();
    assert!(extra.len() <= 1, "not acknowledged yet stored: {extra:?}");
    assert_eq!(subjects.last().map(String::as_str), Some("via-b-after"));
    drop(b);
    for d in [dir_a, dir_b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A data directory for the admin commands, whose configuration names `pg`'s database (and so,
/// by default, its directory).
fn admin_dir(pg: &Postgres) -> std::path::PathBuf {
    let dir = common::tempdir("pg-admin");
    std::fs::write(
        dir.join(mailwright::core::datadir::CONFIG_FILE),
        format!(
            "hostname = \"localhost\"\n\n[store]\nbackend = \"postgres\"\n\
             url = \"postgresql://mailwright@127.0.0.1:{}/mail\"\npool_size = 2\n",
            pg.port
        ),
    )
    .unwrap();
    dir
}

/// `full_server --data-dir dir args...` with `stdin`; panics unless it succeeds.
fn admin(dir: &std::path::Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(common::process::full_server_binary())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {text}");
    text
}

/// A node whose users, domains and aliases are the database's.
fn db_directory_server(pg: &Postgres) -> common::TestServer {
    common::TestServer::start_with(|c| {
        pg.configure(c);
        c.store.directory = Some(mailwright::core::config::DirectoryBackend::Database);
    })
}

/// IMAP LOGIN and SMTP AUTH (submission) of `user` with `password` on a node: `imap smtp`,
/// each `ok` or `no`.
const LOGINS_PY: &str = r"
import imaplib, smtplib, sys
imap_port, smtp_port, user, pw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = []
i = imaplib.IMAP4('127.0.0.1', imap_port, timeout=20)
try:
    i.login(user, pw); out.append('ok'); i.logout()
except imaplib.IMAP4.error:
    out.append('no')
with smtplib.SMTP('127.0.0.1', smtp_port, timeout=20) as s:
    s.ehlo('client.test')
    try:
        s.login(user, pw); out.append('ok')
    except smtplib.SMTPAuthenticationError:
        out.append('no')
print(' '.join(out))
";

fn logins(node: &common::TestServer, user: &str, password: &str) -> String {
    python(
        LOGINS_PY,
        &[
            &node.port(Service::Imap).to_string(),
            &node.port(Service::Submission).to_string(),
            user,
            password,
        ],
    )
    .trim()
    .to_owned()
}

/// A user added with the admin commands logs in over IMAP and SMTP AUTH on both nodes (each
/// then has the login cached); `quota set|show` work on the database; once removed, both
/// refuse it at once (through `NOTIFY`, long before the cache's five minutes).
#[test]
fn a_user_added_with_the_cli_logs_in_on_both_nodes_and_is_refused_once_removed() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let dir = admin_dir(&pg);
    admin(&dir, &["domain", "add", "shared.test"], "");
    let out = admin(
        &dir,
        &["user", "add", "carol@shared.test", "--password-stdin"],
        "carol-pw\n",
    );
    assert!(out.contains("mail in the database"), "{out}");
    assert_eq!(admin(&dir, &["user", "list"], ""), "carol@shared.test\n");
    let (a, b) = (db_directory_server(&pg), db_directory_server(&pg));
    for node in [&a, &b] {
        assert_eq!(logins(node, "carol@shared.test", "carol-pw"), "ok ok");
        assert_eq!(logins(node, "carol@shared.test", "wrong"), "no no");
        assert_eq!(
            logins(node, "alice@example.org", "alice-pw"),
            "no no",
            "files unused"
        );
    }
    // The quota commands act on the database too.
    admin(
        &dir,
        &[
            "quota",
            "set",
            "carol@shared.test",
            "--storage",
            "1K",
            "--messages",
            "5",
        ],
        "",
    );
    let out = admin(&dir, &["quota", "show", "carol@shared.test"], "");
    assert_eq!(
        out, "carol@shared.test: storage 0 of 1024 octets, messages 0 of 5\n",
        "{out}"
    );
    assert_eq!(
        pg.sql(
            "SELECT bytes_limit, messages_limit FROM accounts WHERE username = 'carol@shared.test'"
        )
        .trim(),
        "1024|5"
    );
    admin(&dir, &["user", "del", "carol@shared.test"], "");
    for node in [&a, &b] {
        let mut seen = String::new();
        for _ in 0..20 {
            seen = logins(node, "carol@shared.test", "carol-pw");
            if seen == "no no" {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        assert_eq!(seen, "no no", "a removed user is refused");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A domain and an alias added while both nodes run route mail on both: an address refused as
/// not local before is delivered through node A to the alias's target, read on node B.
#[test]
fn a_domain_and_an_alias_added_route_mail_on_the_other_node() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let dir = admin_dir(&pg);
    admin(&dir, &["domain", "add", "example.org"], "");
    admin(
        &dir,
        &[
            "user",
            "add",
            "alice@example.org",
            "--password-stdin",
            "--scheme",
            "plain",
        ],
        "alice-pw\n",
    );
    let (a, b) = (db_directory_server(&pg), db_directory_server(&pg));
    let send = r"
import smtplib, sys
with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20) as s:
    try:
        s.sendmail('s@remote.test', [sys.argv[2]], 'Subject: to ' + sys.argv[2] + '\r\n\r\nhi\r\n')
        print('sent')
    except smtplib.SMTPRecipientsRefused as e:
        print('refused', list(e.recipients.values())[0][0])
";
    let smtp_a = a.port(Service::Smtp).to_string();
    let out = python(send, &[&smtp_a, "sales@team.test"]);
    assert_eq!(out.trim(), "refused 554", "not local yet: {out}");
    admin(&dir, &["domain", "add", "team.test"], "");
    admin(
        &dir,
        &["alias", "add", "sales@team.test", "alice@example.org"],
        "",
    );
    assert!(admin(&dir, &["alias", "list"], "").contains("sales@team.test: alice@example.org"));
    let mut out = String::new();
    for _ in 0..20 {
        out = python(send, &[&smtp_a, "sales@team.test"]);
        if out.trim() == "sent" {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(out.trim(), "sent");
    let on_b = fetch_all(&b);
    assert_eq!(on_b.len(), 1, "{on_b:?}");
    assert!(String::from_utf8_lossy(&on_b[0].2).contains("Subject: to sales@team.test"));
    let _ = std::fs::remove_dir_all(dir);
}

/// `full_server migrate`'s copies of the directory: the files (users with their hashes,
/// domains, aliases) into the database and back into another data directory give the same
/// directory, and a second run of either changes nothing.
#[test]
fn the_directory_files_copy_into_the_database_and_back_unchanged() {
    use mailwright::core::directory::Directory;
    use mailwright::store::postgres::{
        DirectoryCopy, PostgresStore, copy_database_to_files, copy_files_to_database,
    };
    let Some(pg) = Postgres::start() else {
        return;
    };
    let files = common::tempdir("pg-dir-files");
    common::populate(&files);
    let rt = store_runtime();
    let store = rt
        .block_on(PostgresStore::connect(&files, &pg_config(&pg).store))
        .unwrap();
    let from_files = Directory::open(&files, Duration::ZERO);
    let all = DirectoryCopy {
        users: 2,
        domains: from_files.domains().unwrap().len(),
        aliases: 2,
    };
    assert_eq!(copy_files_to_database(&files, &store).unwrap(), all);
    assert_eq!(copy_files_to_database(&files, &store).unwrap(), all);
    let in_db = Directory::with_database(&files, Duration::ZERO, store.directory());
    let view = |d: &Directory| {
        let users = d.users().unwrap();
        let hashes: Vec<_> = users.iter().map(|u| d.password_hash(u).unwrap()).collect();
        (users, hashes, d.domains().unwrap(), d.aliases().unwrap())
    };
    assert_eq!(view(&in_db), view(&from_files));
    assert!(
        in_db
            .verify_or_dummy("bob@example.org", "bob-pw", "{PLAIN}x")
            .unwrap()
    );
    let back = common::tempdir("pg-dir-back");
    assert_eq!(copy_database_to_files(&store, &back).unwrap(), all);
    let texts =
        || ["passwd", "domains", "aliases"].map(|f| std::fs::read_to_string(back.join(f)).unwrap());
    let first = texts();
    assert_eq!(copy_database_to_files(&store, &back).unwrap(), all);
    assert_eq!(texts(), first, "a second copy changes nothing");
    assert_eq!(
        view(&Directory::open(&back, Duration::ZERO)),
        view(&from_files)
    );
    drop(store);
    for d in [files, back] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A message for a remote destination through the queue in the database, driven directly on
/// two "nodes" (two stores on one database): held by its node until published, claimed by one
/// node at a time, its state kept across the nodes, released, taken over once the claim of a
/// node that stopped runs out, made due by a retry; and what a queue in files held is moved in.
#[test]
fn the_queue_in_the_database_is_claimed_by_one_node_at_a_time() {
    use mailwright::outbound::queue::{
        Attempt, Envelope, Kind, MessageDsn, Queue, RcptDsn, RcptStatus,
    };
    use mailwright::store::postgres::PostgresStore;
    let Some(pg) = Postgres::start() else {
        return;
    };
    let rt = store_runtime();
    let config = pg_config(&pg);
    let (dir_a, dir_b) = (common::tempdir("pgq-a"), common::tempdir("pgq-b"));
    // A message left in the queue files of node A before it moved to the database.
    let files = Queue::open(dir_a.join("queue")).unwrap();
    let old = files
        .enqueue(
            "",
            &["old@remote.test".to_owned()],
            Kind::Report,
            b"",
            &mut &b"Subject: old\n\nleft in files\n"[..],
            5,
        )
        .unwrap();
    drop(files);
    let store_a = rt
        .block_on(PostgresStore::connect(&dir_a, &config.store))
        .unwrap();
    let store_b = rt
        .block_on(PostgresStore::connect(&dir_b, &config.store))
        .unwrap();
    let a = Queue::open_database(dir_a.join("queue"), store_a.database(), 3).unwrap();
    let b = Queue::open_database(dir_b.join("queue"), store_b.database(), 3).unwrap();
    assert_eq!(b.len(), 1, "the queue file was moved into the database");
    assert!(!dir_a.join(format!("queue/{old}.msg")).exists());
    let moved = b.take_due(10, 10).pop().unwrap();
    assert_eq!(
        (moved.id.as_str(), moved.kind),
        (old.as_str(), Kind::Report)
    );
    assert_eq!(
        b.read_message(&moved).unwrap(),
        b"Subject: old\n\nleft in files\n"
    );
    let mut moved = moved;
    moved.rcpts[0].status = RcptStatus::Delivered(Attempt {
        remote: None,
        reply: "250 ok".into(),
    });
    b.finish(moved).unwrap();
    assert!(b.is_empty());

    let rcpts = vec![
        ("a@x.test".to_owned(), RcptDsn::default()),
        ("b@y.test".to_owned(), RcptDsn::default()),
    ];
    let envelope = Envelope {
        from: "me@here.test",
        rcpts: &rcpts,
        kind: Kind::Message,
        dsn: &MessageDsn::default(),
    };
    let prepared = a
        .prepare(
            &envelope,
            b"Received: x\n",
            &mut &b"Subject: hi\n\nbody\n"[..],
            100,
        )
        .unwrap();
    let committed = a.commit(prepared).unwrap();
    assert_eq!(b.len(), 1, "committed: in the database");
    assert!(
        b.take_due(100, 10).is_empty(),
        "held by its node until published"
    );
    let id = a.publish(committed);
    let mut due = b.take_due(100, 10);
    assert_eq!(due.len(), 1);
    assert!(
        a.take_due(100, 10).is_empty(),
        "claimed by B: not A's to take"
    );
    assert!(
        b.take_due(100, 10).is_empty(),
        "in flight is not taken twice"
    );
    let mut e = due.pop().unwrap();
    assert_eq!(e.id, id);
    assert_eq!(
        b.read_message(&e).unwrap(),
        b"Received: x\nSubject: hi\n\nbody\n"
    );
    let mut read = Vec::new();
    std::io::Read::read_to_end(&mut b.open_message(&e).unwrap(), &mut read).unwrap();
    assert_eq!(read, b"Received: x\nSubject: hi\n\nbody\n");
    assert_eq!(b.scan_message(&e).unwrap().longest_line, 11);
    e.rcpts[0].status = RcptStatus::Delivered(Attempt {
        remote: Some("mx.x.test".into()),
        reply: "250 ok".into(),
    });
    e.rcpts[1].status = RcptStatus::Pending(Some(Attempt {
        remote: None,
        reply: "451 4.4.1 try later".into(),
    }));
    e.attempts = 1;
    e.next_attempt = 400;
    e.waits.insert("y.test".into(), (1, 400));
    b.finish(e).unwrap();
    assert!(a.take_due(399, 10).is_empty());
    let e = a.take_due(400, 10).pop().unwrap();
    assert_eq!(e.attempts, 1);
    assert_eq!(e.waits.get("y.test"), Some(&(1, 400)));
    assert!(matches!(e.rcpts[0].status, RcptStatus::Delivered(_)));
    assert_eq!(e.pending().count(), 1);
    a.release(std::slice::from_ref(&e));
    let e = b
        .take_due(400, 10)
        .pop()
        .expect("released: anyone's to take");
    assert_eq!(b.next_due(), None, "nothing else waits");
    // B stops while it holds the message: A takes it once B's claim has run out.
    drop((b, store_b));
    assert!(a.take_due(400, 10).is_empty(), "B's claim still runs");
    let e2 = common::wait_for(Duration::from_secs(10), "B's claim to run out", || {
        a.take_due(400, 10).pop()
    });
    assert_eq!(e2.id, e.id);
    let mut e2 = e2;
    e2.next_attempt = 1000;
    a.finish(e2).unwrap();
    assert!(a.take_due(500, 10).is_empty());
    assert_eq!(a.retry_now(None, 500), 1);
    let mut e3 = a.take_due(500, 10).pop().expect("a retry makes it due");
    assert_eq!(e3.due_at("y.test"), 500);
    e3.rcpts[1].status = RcptStatus::Failed(Attempt {
        remote: None,
        reply: "550 no".into(),
    });
    a.finish(e3).unwrap();
    assert!(a.is_empty(), "done: removed");
    // A message committed and rolled back (another copy of its transaction failed) is gone.
    let c = a
        .commit(a.prepare(&envelope, b"", &mut &b"y\n"[..], 6).unwrap())
        .unwrap();
    a.rollback(c).unwrap();
    assert!(a.is_empty());
    drop((a, store_a));
    for d in [dir_a, dir_b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Sends `count` messages for `x@remote.test` (relayed: the client is in `trusted_networks`),
/// subjects `<prefix>-<i>`.
const SMTP_REMOTE_PY: &str = r"
import smtplib, sys
port, prefix, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with smtplib.SMTP('127.0.0.1', port, timeout=20) as s:
    for i in range(count):
        msg = 'From: s@example.org\r\nTo: x@remote.test\r\nSubject: %s-%d\r\n\r\nhello\r\n' % (prefix, i)
        s.sendmail('s@example.org', ['x@remote.test'], msg)
";

/// A destination for the outbound tests that refuses every recipient with `451` until `accept`
/// is set.
fn destination(
    accept: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> common::scripted::Scripted {
    use common::scripted::{Answer, Scripted, normal};
    let accept = accept.clone();
    Scripted::start(move |line| {
        if line.to_ascii_uppercase().starts_with("RCPT")
            && !accept.load(std::sync::atomic::Ordering::SeqCst)
        {
            Answer::Reply(b"451 4.3.0 not now\r\n".to_vec())
        } else {
            normal(line)
        }
    })
}

/// The subjects of the messages `dest` received, sorted.
fn subjects_at(dest: &common::scripted::Scripted) -> Vec<String> {
    let mut out: Vec<String> = dest
        .messages()
        .iter()
        .filter_map(|m| {
            let text = String::from_utf8_lossy(m).into_owned();
            text.lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .map(|s| s.trim_end().to_owned())
        })
        .collect();
    out.sort();
    out
}

/// A node (see [`node_dir`]) whose mail for other domains goes to `relay_port`, retried every
/// second, with claims on messages in delivery that last 3 s unrenewed.
fn queue_node_dir(
    name: &str,
    pg: &Postgres,
    smtp: u16,
    imap: u16,
    relay_port: u16,
) -> std::path::PathBuf {
    let dir = node_dir(name, pg, smtp, imap);
    let file = dir.join(mailwright::core::datadir::CONFIG_FILE);
    let config = std::fs::read_to_string(&file).unwrap();
    let config = format!(
        "{config}\n[outbound]\n\
         relayhost = \"[127.0.0.1]:{relay_port}\"\n\
         retry_schedule_secs = [1]\n\
         delay_warning_secs = 0\n\
         connect_timeout_secs = 2\n\
         queue_lease_secs = 3\n\
         trusted_networks = [\"127.0.0.0/8\"]\n"
    );
    std::fs::write(file, config).unwrap();
    dir
}

/// Two `full_server` processes on one database, the queue in it: mail for a remote destination
/// accepted by either node is delivered exactly once, while both delivery loops run at once.
#[test]
fn two_nodes_deliver_the_shared_queue_each_message_once() {
    use common::process::ServerProcess;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let Some(pg) = Postgres::start() else {
        return;
    };
    let accept = Arc::new(AtomicBool::new(true));
    let dest = destination(&accept);
    let [smtp_a, imap_a, smtp_b, imap_b] = common::postfix::free_ports::<4>();
    let dir_a = queue_node_dir("pgq-two-a", &pg, smtp_a, imap_a, dest.port());
    let dir_b = queue_node_dir("pgq-two-b", &pg, smtp_b, imap_b, dest.port());
    let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
    let a = ServerProcess::start(&dir_a, addr(smtp_a), dir_a.join("server.log"));
    let b = ServerProcess::start(&dir_b, addr(smtp_b), dir_b.join("server.log"));
    python(SMTP_REMOTE_PY, &[&smtp_a.to_string(), "via-a", "15"]);
    python(SMTP_REMOTE_PY, &[&smtp_b.to_string(), "via-b", "15"]);
    let mut expected: Vec<String> = (0..15)
        .flat_map(|i| [format!("via-a-{i}"), format!("via-b-{i}")])
        .collect();
    expected.sort();
    common::wait_for(Duration::from_secs(30), "every message delivered", || {
        (dest.messages().len() >= expected.len()).then_some(())
    });
    // Room for a second delivery, were there one: longer than a claim lasts.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(subjects_at(&dest), expected, "each message once");
    assert_eq!(pg.sql("SELECT count(*) FROM outbound_queue").trim(), "0");
    drop((a, b));
    for d in [dir_a, dir_b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// The test of issue #21: node A holds queued messages the destination defers, and is killed
/// with SIGKILL; the destination then accepts, and node B, started after, delivers every one of
/// them exactly once.
#[test]
fn messages_queued_on_a_killed_node_are_delivered_by_the_other_once() {
    use common::process::ServerProcess;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(pg) = Postgres::start() else {
        return;
    };
    let accept = Arc::new(AtomicBool::new(false));
    let dest = destination(&accept);
    let [smtp_a, imap_a, smtp_b, imap_b] = common::postfix::free_ports::<4>();
    let dir_a = queue_node_dir("pgq-kill-a", &pg, smtp_a, imap_a, dest.port());
    let dir_b = queue_node_dir("pgq-kill-b", &pg, smtp_b, imap_b, dest.port());
    let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
    let mut a = ServerProcess::start(&dir_a, addr(smtp_a), dir_a.join("server.log"));
    python(SMTP_REMOTE_PY, &[&smtp_a.to_string(), "deferred", "10"]);
    // Each message tried at least once and deferred, and tried again since.
    common::wait_for(
        Duration::from_secs(30),
        "the attempts that are refused",
        || {
            let refused = dest
                .lines()
                .iter()
                .filter(|l| l.starts_with("RCPT"))
                .count();
            (refused >= 20).then_some(())
        },
    );
    a.kill9();
    assert_eq!(
        pg.sql("SELECT count(*) FROM outbound_queue").trim(),
        "10",
        "the deferred messages are in the database"
    );
    assert!(dest.messages().is_empty());
    accept.store(true, Ordering::SeqCst);
    let b = ServerProcess::start(&dir_b, addr(smtp_b), dir_b.join("server.log"));
    let expected: Vec<String> = {
        let mut v: Vec<String> = (0..10).map(|i| format!("deferred-{i}")).collect();
        v.sort();
        v
    };
    common::wait_for(Duration::from_secs(30), "node B to deliver them", || {
        (dest.messages().len() >= expected.len()).then_some(())
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(subjects_at(&dest), expected, "each message once");
    assert_eq!(pg.sql("SELECT count(*) FROM outbound_queue").trim(), "0");
    drop(b);
    for d in [dir_a, dir_b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A site whose users were in the files (kept there before the database directory was the
/// default, or moving to it): the first start on an empty database directory copies them in,
/// and their logins go on working; a database directory with users is left alone (above).
#[test]
fn an_empty_database_directory_is_filled_from_the_files_at_start() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    // A fresh database: the server's start makes the (empty) tables, then fills them.
    let node = db_directory_server(&pg);
    assert_eq!(logins(&node, "alice@example.org", "alice-pw"), "ok ok");
    assert_eq!(
        pg.sql("SELECT count(*) FROM users WHERE username = 'alice@example.org'")
            .trim(),
        "1"
    );
    assert_eq!(
        pg.sql("SELECT count(*) FROM domains WHERE name = 'example.org'")
            .trim(),
        "1"
    );
}
