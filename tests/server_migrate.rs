//! `full_server migrate --to postgres|maildir` against a private PostgreSQL
//! (`common::postgres`): a user's mail made over IMAP on the Maildir store looks the same over
//! IMAP after the copy to PostgreSQL and after the copy back (UIDVALIDITY, UIDNEXT,
//! HIGHESTMODSEQ, every message's UID, FLAGS, MODSEQ, INTERNALDATE and octets, QRESYNC's
//! VANISHED, LIST, LSUB and SPECIAL-USE, quota); the issue's mbsync (isync) test: after each
//! switch the next run changes nothing; a name a Maildir++ folder cannot hold is refused.

#![cfg(feature = "postgres")]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::postgres::Postgres;
use common::process::admin;
use common::{IMAP_SESSION_PY, peer, python};
use mailwright::core::config::Config;
use mailwright::server::{Server, Service};

/// A server on a data directory the test keeps (it is restarted on another store).
struct Running {
    addrs: Vec<(Service, std::net::SocketAddr)>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(dir: &Path, config: Config) -> Self {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let data_dir = dir.to_owned();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = Server::bind(&data_dir, config).await.unwrap();
                addr_tx.send(server.local_addrs()).unwrap();
                server
                    .run(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        let addrs = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        Self {
            addrs,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn imap_port(&self) -> String {
        self.addrs
            .iter()
            .find(|(s, _)| *s == Service::Imap)
            .map(|(_, a)| a.port().to_string())
            .expect("IMAP bound")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// alice's mail: messages with flags, keywords (`$Forwarded` among them) and internal dates,
/// a folder two levels deep, a subscription changed, a flag changed after the append, an
/// expunge (so there is history for QRESYNC), a quota.
const SEED: &str = r#"
s = S()
s.ok('APPEND INBOX (\\Seen $Forwarded) "01-Feb-2020 10:00:00 +0000"', b'Subject: one\r\n\r\nfirst body\r\n')
s.ok('APPEND INBOX (Urgent) "02-Feb-2020 10:00:00 +0100"', b'Subject: two\r\n\r\nsecond\r\nbody\r\n')
s.ok('APPEND INBOX', b'Subject: three\r\n\r\nthird\r\n')
s.ok('APPEND INBOX (\\Draft)', b'Subject: four\r\n\r\nfourth, to go\r\n')
s.ok('CREATE Lists/rust')
s.ok('SUBSCRIBE Lists/rust')
s.ok('UNSUBSCRIBE Junk')
s.ok('APPEND Lists/rust (\\Flagged)', b'Subject: list\r\n\r\nlist body\r\n')
s.ok('SELECT INBOX')
s.ok('UID STORE 2 +FLAGS (\\Answered $Work)')
s.ok('UID STORE 4 +FLAGS (\\Deleted)')
s.ok('EXPUNGE')
s.ok('UID COPY 1 Archive')
"#;

/// Everything a client caches, printed: per mailbox STATUS, the defined flags, every message
/// (flags sorted), and VANISHED (EARLIER) since MODSEQ 1; LIST, LSUB, quota.
const DUMP: &str = r#"
s = S()
s.ok('ENABLE QRESYNC')
out = []
lines, _ = s.ok('LIST "" "*"')
names = []
for l in sorted(lines):
    out.append(l.strip())
    names.append(re.search(r'"/" (.*)$', l.strip()).group(1).strip('"'))
lines, _ = s.ok('LSUB "" "*"')
out += sorted(l.strip() for l in lines)
lines, _ = s.ok('GETQUOTAROOT INBOX')
out += [l.strip() for l in lines]
def sort_flags(text):
    return re.sub(r'FLAGS \(([^)]*)\)', lambda m: 'FLAGS (' + ' '.join(sorted(m.group(1).split())) + ')', text)
for n in sorted(names):
    lines, _ = s.ok('STATUS "%s" (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ UNSEEN)' % n)
    out += [l.strip() for l in lines]
    uv = re.search(r'UIDVALIDITY (\d+)', ' '.join(lines)).group(1)
    lines, _ = s.ok('EXAMINE "%s" (QRESYNC (%s 1))' % (n, uv))
    out += [sort_flags(l.strip()) for l in lines if 'FLAGS' in l or 'VANISHED' in l or 'HIGHESTMODSEQ' in l]
    lines, _ = s.ok('UID FETCH 1:* (UID FLAGS MODSEQ INTERNALDATE RFC822.SIZE BODY.PEEK[])')
    out += [sort_flags(l.strip()) for l in lines]
print('\n'.join(out))
"#;

fn dump(server: &Running, dir: &Path) -> String {
    let maildir = dir.join("mail/example.org/alice/Maildir");
    python(
        &format!("{IMAP_SESSION_PY}{DUMP}"),
        &[&server.imap_port(), "ours", maildir.to_str().unwrap()],
    )
}

fn base_config() -> Config {
    common::test_config()
}

/// A configuration file naming only the database, for the admin command.
fn store_toml(dir: &Path, pg: &Postgres) -> PathBuf {
    let path = dir.join("migrate.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"mailwright\"\ndbname = \"mail\"\n",
            pg.port
        ),
    )
    .unwrap();
    path
}

/// Maildir -> PostgreSQL: what a client caches is the same over IMAP; a second copy is
/// refused unless `--force`; the Maildir is left as it was.
#[test]
fn a_copy_to_postgres_keeps_what_clients_cache() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let Some(pg) = Postgres::start() else {
        return;
    };
    let dir = common::tempdir("migrate");
    common::populate(&dir);
    // Before the mail: `quota set` makes the default folders (and subscribes them) again.
    let (ok, text) = admin(
        &dir,
        &["quota", "set", "alice@example.org", "--storage", "10M"],
    );
    assert!(ok, "{text}");
    let before = {
        let server = Running::start(&dir, base_config());
        let maildir = dir.join("mail/example.org/alice/Maildir");
        python(
            &format!("{IMAP_SESSION_PY}{SEED}"),
            &[&server.imap_port(), "ours", maildir.to_str().unwrap()],
        );
        dump(&server, &dir)
    };
    {
        // A restart on the same store changes nothing either (MODSEQs included).
        let server = Running::start(&dir, base_config());
        assert_eq!(before, dump(&server, &dir), "a restart changes nothing");
    }
    assert!(before.contains("VANISHED (EARLIER) 4"), "{before}");
    assert!(before.contains("(STORAGE "), "{before}");
    let toml = store_toml(&dir, &pg);
    let conf = toml.to_str().unwrap();
    let tree_before = files(&dir.join("mail"));

    let (ok, text) = admin(&dir, &["--config", conf, "migrate", "--to", "postgres"]);
    println!("{text}");
    assert!(ok, "{text}");
    assert!(
        text.contains("alice@example.org: 8 mailboxes, 5 messages"),
        "{text}"
    );
    assert!(text.contains("bob@example.org"), "{text}");
    assert_eq!(
        files(&dir.join("mail")),
        tree_before,
        "the source is untouched"
    );
    // The users went too, with their hashes as the passwd file has them.
    let passwd = std::fs::read_to_string(dir.join("passwd")).unwrap();
    let users: Vec<&str> = passwd
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    assert!(text.contains(&format!("{} users, ", users.len())), "{text}");
    for line in &users {
        let mut fields = line.split(':');
        let (user, hash) = (fields.next().unwrap(), fields.next().unwrap());
        assert_eq!(
            pg.sql(&format!(
                "SELECT password FROM users WHERE username = '{user}'"
            ))
            .trim(),
            hash
        );
    }

    // The server on the database, users included: each login below is checked there.
    let pg_config = || {
        let mut c = base_config();
        pg.configure(&mut c);
        c.store.directory = Some(mailwright::core::config::DirectoryBackend::Database);
        c
    };
    let server = Running::start(&dir, pg_config());
    let on_pg = dump(&server, &dir);
    drop(server);
    // HIGHESTMODSEQ too: the copy takes the last one the Maildir store wrote, not the one a
    // new process's first sync moves to.
    assert_eq!(before, on_pg, "Maildir -> PostgreSQL");

    let (ok, text) = admin(&dir, &["--config", conf, "migrate", "--to", "postgres"]);
    assert!(!ok && text.contains("already in the database"), "{text}");
    let (ok, text) = admin(
        &dir,
        &[
            "--config",
            conf,
            "migrate",
            "--to",
            "postgres",
            "--user",
            "alice@example.org",
            "--force",
        ],
    );
    assert!(ok, "{text}");
    let server = Running::start(&dir, pg_config());
    let on_pg = dump(&server, &dir);
    drop(server);
    // The first copy's process moved the Maildir's MODSEQs above their reservation (as any
    // process opening a folder does: the maildir crate's `uids` module), so the second copy
    // has a larger HIGHESTMODSEQ; never a smaller one.
    let ((before, old), (after, new)) = (highest_modseqs(&before), highest_modseqs(&on_pg));
    assert_eq!(before, after);
    assert!(old.iter().zip(&new).all(|(o, n)| n >= o), "{old:?} {new:?}");

    // And back: refused while the Maildir is there; with --force it is kept aside.
    let back = ["--config", conf, "migrate", "--to", "maildir"];
    let (ok, text) = admin(&dir, &back);
    assert!(!ok && text.contains("a Maildir exists"), "{text}");
    let (ok, text) = admin(&dir, &[&back[..], &["--force"]].concat());
    println!("{text}");
    assert!(ok, "{text}");
    assert!(
        text.contains("alice@example.org: 8 mailboxes, 5 messages"),
        "{text}"
    );
    let aside = std::fs::read_dir(dir.join("mail/example.org/alice"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("Maildir.before-migrate.")
        })
        .count();
    assert_eq!(aside, 1, "the old Maildir is kept");
    let server = Running::start(&dir, base_config());
    let on_maildir = dump(&server, &dir);
    drop(server);
    assert_eq!(on_pg, on_maildir, "PostgreSQL -> Maildir");
    // A new process reads the written Maildir as the server showed it (MODSEQs included).
    let (ok, text) = admin(
        &dir,
        &["--config", conf, "migrate", "--to", "postgres", "--force"],
    );
    assert!(ok, "{text}");
    let server = Running::start(&dir, pg_config());
    assert_eq!(on_pg, dump(&server, &dir), "Maildir -> PostgreSQL again");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The text with each HIGHESTMODSEQ replaced by `N`, and the numbers.
fn highest_modseqs(text: &str) -> (String, Vec<u64>) {
    let mut numbers = Vec::new();
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("HIGHESTMODSEQ ") {
        let (head, tail) = rest.split_at(i + "HIGHESTMODSEQ ".len());
        out.push_str(head);
        let end = tail
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(tail.len());
        numbers.push(tail[..end].parse().unwrap());
        out.push('N');
        rest = &tail[end..];
    }
    out.push_str(rest);
    (out, numbers)
}

/// Every message file under `dir` (in a `cur/` or `new/`) with its length; the names carry the
/// flags.
fn files(dir: &Path) -> Vec<(String, u64)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, u64)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if p
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|d| d == "cur" || d == "new")
            {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.push((rel, e.metadata().map_or(0, |m| m.len())));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The remote side of the mbsync test: three INBOX messages (the first \Seen), one with a
/// keyword, a folder two levels deep with a message.
const SYNC_SEED: &str = r"
import imaplib, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login('alice@example.org', 'alice-pw')
for i in range(3):
    M.append('INBOX', '(\\Seen)' if i == 0 else None, None, b'Subject: remote %d\r\n\r\nbody %d\r\n' % (i, i))
M.create('Lists/rust')
M.append('Lists/rust', '(\\Flagged)', None, b'Subject: list\r\n\r\nlist body\r\n')
M.select('INBOX')
M.uid('STORE', '2', '+FLAGS', '(\\Answered)')
M.logout()
";

fn mbsync(config: &Path) -> String {
    let out = common::run_with_timeout(
        std::process::Command::new("mbsync")
            .arg("-V")
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

fn write_mbsyncrc(path: &Path, port: &str, local: &Path) {
    std::fs::write(
        path,
        format!(
            "IMAPAccount test\nHost 127.0.0.1\nPort {port}\nUser alice@example.org\nPass alice-pw\nSSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount test\n\n\
             MaildirStore local\nPath {l}/\nInbox {l}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            l = local.display()
        ),
    )
    .unwrap();
}

/// Every file under mbsync's local tree with its contents (messages and mbsync's state files),
/// lock files left out.
fn local_state(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if !p.to_string_lossy().ends_with(".lock") {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// What mbsync reports per mailbox (`-V`): `far side: N messages, N recent` and the same for
/// the near side.
fn counts(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|l| l.contains(" side: ") || l.starts_with("Opening far side box"))
        .collect()
}

/// The issue's test: a user synchronised with mbsync (isync), copied to PostgreSQL and the
/// server restarted on it: the next mbsync run changes nothing, on either side (its local
/// Maildir and state files byte for byte; the server's UIDs, flags and MODSEQs over IMAP).
#[test]
fn mbsync_finds_nothing_to_do_after_a_copy_to_postgres() {
    let Some(_) = peer::require("mbsync", "isync") else {
        return;
    };
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let Some(pg) = Postgres::start() else {
        return;
    };
    let dir = common::tempdir("migrate-mbsync");
    common::populate(&dir);
    let work = common::tempdir("migrate-mbsync-local");
    let local = work.join("local");
    std::fs::create_dir_all(&local).unwrap();
    let rc = work.join("mbsyncrc");
    let (before, idle) = {
        let server = Running::start(&dir, base_config());
        let port = server.imap_port();
        python(SYNC_SEED, &[&port]);
        write_mbsyncrc(&rc, &port, &local);
        mbsync(&rc);
        // A local change goes up too, then a run with nothing to do.
        std::fs::write(
            local.join("INBOX/cur/1700000000.local.host:2,S"),
            b"Subject: local\n\nfrom the near side\n",
        )
        .unwrap();
        mbsync(&rc);
        let idle = mbsync(&rc);
        assert_eq!(
            local_state(&local),
            {
                mbsync(&rc);
                local_state(&local)
            },
            "mbsync settles: {idle}"
        );
        (dump(&server, &dir), idle)
    };
    let near = local_state(&local);
    assert!(
        near.iter()
            .filter(|(n, _)| n.starts_with("INBOX/cur/") || n.starts_with("INBOX/new/"))
            .count()
            == 4,
        "{:?}",
        near.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );

    let toml = store_toml(&dir, &pg);
    let (ok, text) = admin(
        &dir,
        &[
            "--config",
            toml.to_str().unwrap(),
            "migrate",
            "--to",
            "postgres",
        ],
    );
    assert!(ok, "{text}");
    let server = Running::start(&dir, {
        let mut c = base_config();
        pg.configure(&mut c);
        c
    });
    write_mbsyncrc(&rc, &server.imap_port(), &local);
    let out = mbsync(&rc);
    assert_eq!(
        local_state(&local),
        near,
        "mbsync changed its Maildir: {out}"
    );
    assert!(counts(&out).len() >= 8 * 3, "{out}");
    assert_eq!(counts(&out), counts(&idle), "{out}");
    let on_pg = dump(&server, &dir);
    drop(server);
    assert_eq!(before, on_pg, "mbsync changed the server's side: {out}");

    // Back to Maildir (the old one kept aside): again nothing to do.
    let (ok, text) = admin(
        &dir,
        &[
            "--config",
            toml.to_str().unwrap(),
            "migrate",
            "--to",
            "maildir",
            "--force",
        ],
    );
    assert!(ok, "{text}");
    let server = Running::start(&dir, base_config());
    write_mbsyncrc(&rc, &server.imap_port(), &local);
    let out = mbsync(&rc);
    assert_eq!(
        local_state(&local),
        near,
        "mbsync changed its Maildir: {out}"
    );
    assert_eq!(counts(&out), counts(&idle), "{out}");
    assert_eq!(
        on_pg,
        dump(&server, &dir),
        "mbsync changed the server's side: {out}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&work);
}

/// A mailbox name a Maildir++ folder cannot hold (a `.` in a level) stops the copy to Maildir,
/// naming it; nothing of that user is written.
#[test]
fn a_name_maildir_cannot_hold_is_refused_clearly() {
    let Some(_) = peer::require("python3", "python3") else {
        return;
    };
    let Some(pg) = Postgres::start() else {
        return;
    };
    let dir = common::tempdir("migrate-names");
    common::populate(&dir);
    let maildir = dir.join("mail/example.org/alice/Maildir");
    {
        let mut c = base_config();
        pg.configure(&mut c);
        let server = Running::start(&dir, c);
        python(
            &format!("{IMAP_SESSION_PY}s = S()\ns.ok('CREATE \"v1.2\"')\n"),
            &[&server.imap_port(), "ours", maildir.to_str().unwrap()],
        );
    }
    let toml = store_toml(&dir, &pg);
    let (ok, text) = admin(
        &dir,
        &[
            "--config",
            toml.to_str().unwrap(),
            "migrate",
            "--to",
            "maildir",
        ],
    );
    assert!(!ok, "{text}");
    assert!(
        text.contains("\"v1.2\"") && text.contains("rename it first"),
        "{text}"
    );
    assert!(!maildir.exists(), "nothing written");
    assert!(
        text.contains("bob@example.org: not in the database"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
