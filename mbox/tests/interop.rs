//! Interop with real peers: Python's `mailbox.mbox` (both directions, and its locking),
//! procmail's `formail -s`, and liblockfile's `dotlockfile`.
//!
//! Each test finds its peer through `tests/support/peer.rs`: outside CI a missing peer skips the
//! test with a message, under `CI=true` it fails. Every child process is killed by a guard and
//! every wait is bounded.

#[allow(unreachable_pub)]
#[path = "support/peer.rs"]
mod peer;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailwright_mbox::{
    Asctime, Error, Flags, FromLine, LockOptions, Mbox, MboxLock, MboxOptions, Metadata,
    NewMessage, ReadOptions, Reader, Variant, WriteOptions, Writer,
};

/// Kills the child when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn from(i: usize) -> FromLine {
    FromLine::new(
        &format!("u{i}@example.org"),
        Asctime::from_unix(1_790_000_000 + i64::try_from(i).unwrap() * 61).unwrap(),
    )
    .unwrap()
}

/// Messages whose bodies hold `From ` lines in every quoted depth, CRLF text, and no final newline.
fn tricky_messages() -> Vec<Vec<u8>> {
    vec![
        b"Subject: plain\nTo: a@b\n\nhello\n".to_vec(),
        b"Subject: froms\n\nFrom the start\n>From once\n>>From twice\nnot From here\n".to_vec(),
        b"Subject: empty body\n\n".to_vec(),
        b"Subject: crlf\r\n\r\nline one\r\nline two\r\n".to_vec(),
        b"Subject: blank lines\n\n\n\nmiddle\n\n\n".to_vec(),
        b"Subject: last\n\nFrom the end\n".to_vec(),
    ]
}

/// Runs a Python script with arguments, bounded in time; returns stdout.
fn python(py: &Path, script: &str, args: &[&str]) -> Vec<u8> {
    let child = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let mut guard = Guard(child);
    let start = Instant::now();
    loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            let mut out = Vec::new();
            let mut err = Vec::new();
            std::io::Read::read_to_end(guard.0.stdout.as_mut().unwrap(), &mut out).unwrap();
            std::io::Read::read_to_end(guard.0.stderr.as_mut().unwrap(), &mut err).unwrap();
            assert!(
                status.success(),
                "python failed: {}",
                String::from_utf8_lossy(&err)
            );
            return out;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "python timed out"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Python prints, per message: from line, flags, body as hex, one item per line.
const PY_DUMP: &str = r#"
import mailbox, sys
m = mailbox.mbox(sys.argv[1], create=False)
for key in m.iterkeys():
    msg = m.get_message(key)
    print(msg.get_from())
    print(msg.get_flags() or "-")
    print(m.get_bytes(key).hex())
"#;

fn python_dump(py: &Path, path: &Path) -> Vec<(String, String, Vec<u8>)> {
    let out = String::from_utf8(python(py, PY_DUMP, &[path.to_str().unwrap()])).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    lines
        .chunks(3)
        .map(|c| {
            let hex = c[2];
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (c[0].to_owned(), c[1].to_owned(), bytes)
        })
        .collect()
}

#[test]
fn python_reads_what_we_write() {
    let Some(py) = peer::require_python_module("mailbox", "python3") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.mbox");
    let msgs = tricky_messages();
    let mut w = Writer::new(
        std::fs::File::create(&path).unwrap(),
        WriteOptions::default(),
    );
    for (i, m) in msgs.iter().enumerate() {
        w.write_message(&from(i), &Metadata::default(), m).unwrap();
    }
    let flags = Flags {
        seen: true,
        answered: true,
        flagged: true,
        deleted: true,
        ..Flags::NONE
    };
    w.write_message(
        &from(99),
        &Metadata::with_flags(flags),
        b"Subject: flagged\n\nx\n",
    )
    .unwrap();
    w.into_inner().unwrap();

    let theirs = python_dump(&py, &path);
    assert_eq!(theirs.len(), msgs.len() + 1);
    // Python does not unquote: what it returns must be byte for byte what we stored.
    let mut reader = Reader::new(std::fs::File::open(&path).unwrap());
    let mut stored = Vec::new();
    for (i, (from_line, _, body)) in theirs.iter().enumerate() {
        let entry = reader
            .next_raw_to(&mut stored_clear(&mut stored))
            .unwrap()
            .unwrap();
        assert_eq!(body, &stored, "message {i}");
        assert_eq!(
            format!("From {from_line}").as_bytes(),
            entry.from_line.as_bytes()
        );
        // And where no line needed quoting, that is the original message itself.
        if i < msgs.len() && !String::from_utf8_lossy(&msgs[i]).contains("From ") {
            assert_eq!(body, &msgs[i], "message {i}");
        }
    }
    let mut their_flags: Vec<char> = theirs[msgs.len()].1.chars().collect();
    their_flags.sort_unstable();
    assert_eq!(their_flags, ['A', 'D', 'F', 'R']);
}

fn stored_clear(v: &mut Vec<u8>) -> &mut Vec<u8> {
    v.clear();
    v
}

const PY_WRITE: &str = r#"
import mailbox, sys
m = mailbox.mbox(sys.argv[1])
for name in sys.argv[2:]:
    data = open(name, "rb").read()
    if name.endswith(".flagged"):
        msg = mailbox.mboxMessage(data)
        msg.set_flags("RAF")
        msg.set_from("flagger@example.org")
        m.add(msg)
    else:
        m.add(data)
m.flush()
m.close()
"#;

#[test]
fn we_read_what_python_writes() {
    let Some(py) = peer::require_python_module("mailbox", "python3") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("theirs.mbox");
    // Python's own quoting is mboxo-style (`From ` -> `>From `), so originals with `>From ` lines
    // would be ambiguous to any reader: these bodies hold plain `From ` lines only.
    let msgs: Vec<Vec<u8>> = vec![
        b"Subject: one\n\nhello\n".to_vec(),
        b"Subject: two\n\nFrom the start\nmiddle\nFrom the end\n".to_vec(),
        b"Subject: three\n\n\n\nblank lines\n\n".to_vec(),
    ];
    let mut names = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let name = dir.path().join(format!("m{i}.eml"));
        std::fs::write(&name, m).unwrap();
        names.push(name.to_str().unwrap().to_owned());
    }
    let flagged = dir.path().join("m.flagged");
    std::fs::write(&flagged, b"Subject: flagged\n\nbody\n").unwrap();
    names.push(flagged.to_str().unwrap().to_owned());
    let mut args = vec![path.to_str().unwrap()];
    args.extend(names.iter().map(String::as_str));
    python(&py, PY_WRITE, &args);

    for variant in [Variant::Mboxo, Variant::Mboxrd] {
        let mut r = Reader::with_options(
            std::fs::File::open(&path).unwrap(),
            ReadOptions::new(variant),
        );
        let mut text = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let e = r.next_message(&mut text).unwrap().expect("message");
            assert_eq!(
                &text,
                m,
                "{variant:?} message {i}: {}",
                String::from_utf8_lossy(&text)
            );
            assert_eq!(e.from_line.sender(), "MAILER-DAEMON");
            assert!(e.from_line.date().is_some());
            assert!(e.tolerated.is_empty(), "{:?}", e.tolerated);
        }
        let e = r.next_message(&mut text).unwrap().expect("flagged message");
        assert_eq!(e.from_line.sender(), "flagger@example.org");
        let f = e.metadata.flags;
        assert!(
            f.seen && f.answered && f.flagged && !f.deleted && !f.draft,
            "{f:?}"
        );
        assert!(r.next_entry().unwrap().is_none());
    }
}

#[test]
fn formail_splits_our_files_into_the_same_messages() {
    let Some(formail) = peer::require("formail", "procmail") else {
        return;
    };
    for variant in Variant::ALL {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ours.mbox");
        let mut w = Writer::new(
            std::fs::File::create(&path).unwrap(),
            WriteOptions::new(variant),
        );
        let msgs = tricky_messages();
        for (i, m) in msgs.iter().enumerate() {
            let meta = Metadata::with_flags(Flags {
                seen: i % 2 == 0,
                ..Flags::NONE
            });
            w.write_message(&from(i), &meta, m).unwrap();
        }
        w.into_inner().unwrap();
        let file = std::fs::read(&path).unwrap();
        let out = dir.path().join("split");
        std::fs::create_dir(&out).unwrap();
        let child = Command::new(&formail)
            .arg("-s")
            .args(["sh", "-c", &format!("cat > '{}'/m.$FILENO", out.display())])
            .stdin(std::fs::File::open(&path).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut guard = Guard(child);
        let start = Instant::now();
        while guard.0.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "formail timed out"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut parts: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        parts.sort();
        let mut r = Reader::with_options(&file[..], ReadOptions::new(variant));
        let mut n = 0;
        while let Some(e) = r.next_entry().unwrap() {
            // formail hands each message over as it lies in the file: From line to next From line.
            let part = std::fs::read(&parts[n]).unwrap();
            let ours = &file[e.offset as usize..e.end as usize];
            if ours.contains(&b'\r') {
                // formail rewrites a CRLF header/body separator; the split itself is what we check.
                assert!(
                    part.starts_with(e.from_line.as_bytes()),
                    "{variant:?} message {n}"
                );
                assert!(part.ends_with(b"line two\r\n\n"), "{variant:?} message {n}");
                n += 1;
                continue;
            }
            assert_eq!(
                String::from_utf8_lossy(&part),
                String::from_utf8_lossy(&file[e.offset as usize..e.end as usize]),
                "{variant:?} message {n}"
            );
            n += 1;
        }
        assert_eq!(n, parts.len(), "{variant:?}");
        assert_eq!(n, tricky_messages().len());
    }
}

fn wait_for(path: &Path, exists: bool) {
    let start = Instant::now();
    while path.exists() != exists {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "waiting for {} (exists={exists})",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn one_message(mbox: &Mbox) -> Result<Vec<u64>, Error> {
    let f = from(1);
    mbox.append(&[NewMessage {
        from: &f,
        metadata: &Metadata::default(),
        text: b"Subject: x\n\ny\n",
    }])
}

fn mbox_with_timeout(path: &Path, timeout: Duration) -> Mbox {
    let mut o = MboxOptions::new(Variant::Mboxrd);
    o.lock = LockOptions::with_timeout(timeout);
    Mbox::new(path, o)
}

#[test]
fn dotlockfile_and_we_exclude_each_other() {
    let Some(dotlockfile) = peer::require("dotlockfile", "liblockfile-bin") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inbox");
    let lock = dir.path().join("inbox.lock");
    std::fs::write(&path, "").unwrap();

    // dotlockfile holds the lock (with its pid in it) for 1.5 s.
    let child = Command::new(&dotlockfile)
        .args(["-p", "-l", "-r", "0"])
        .arg(&lock)
        .args(["sleep", "1.5"])
        .spawn()
        .unwrap();
    let mut guard = Guard(child);
    wait_for(&lock, true);
    let err = one_message(&mbox_with_timeout(&path, Duration::from_millis(200))).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LockTimeout {
                kind: "dotlock",
                ..
            }
        ),
        "{err}"
    );
    let start = Instant::now();
    one_message(&mbox_with_timeout(&path, Duration::from_secs(10))).unwrap();
    assert!(
        start.elapsed() > Duration::from_millis(300),
        "we should have waited for dotlockfile"
    );
    assert!(guard.0.wait().unwrap().success());

    // We hold the lock: dotlockfile (one try) fails, then succeeds once we let go.
    let held = MboxLock::exclusive(&path, false, &LockOptions::default()).unwrap();
    let status = Command::new(&dotlockfile)
        .args(["-p", "-l", "-r", "0"])
        .arg(&lock)
        .status()
        .unwrap();
    assert!(!status.success(), "dotlockfile took a lock we hold");
    drop(held);
    assert!(!lock.exists());
    let status = Command::new(&dotlockfile)
        .args(["-p", "-l", "-r", "0"])
        .arg(&lock)
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new(&dotlockfile)
        .arg("-u")
        .arg(&lock)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        Mbox::new(&path, MboxOptions::default())
            .entries()
            .unwrap()
            .len(),
        1
    );
}

const PY_HOLD: &str = r#"
import mailbox, sys, time
m = mailbox.mbox(sys.argv[1])
m.lock()
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
m.unlock()
print("unlocked", flush=True)
"#;

const PY_TRY: &str = r#"
import mailbox, sys
m = mailbox.mbox(sys.argv[1])
try:
    m.lock()
except mailbox.ExternalClashError as e:
    print("clash", e)
    sys.exit(0)
m.unlock()
print("got it")
"#;

#[test]
fn python_mailbox_locking_and_ours_exclude_each_other() {
    let Some(py) = peer::require_python_module("mailbox", "python3") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inbox");
    std::fs::write(&path, "").unwrap();

    // Python holds lockf + dotlock for 1.5 s.
    let child = Command::new(&py)
        .arg("-c")
        .arg(PY_HOLD)
        .arg(&path)
        .arg("1.5")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = Guard(child);
    let mut out = BufReader::new(guard.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "locked");
    let err = one_message(&mbox_with_timeout(&path, Duration::from_millis(200))).unwrap_err();
    assert!(matches!(err, Error::LockTimeout { .. }), "{err}");
    // Our shared (read) lock is a fcntl F_RDLCK: Python's lockf write lock keeps it out too.
    let ro = MboxOptions {
        lock: LockOptions::with_timeout(Duration::from_millis(200)),
        ..MboxOptions::default()
    };
    let err = Mbox::new(&path, ro).entries().unwrap_err();
    assert!(
        matches!(err, Error::LockTimeout { kind: "fcntl", .. }),
        "{err}"
    );
    let start = Instant::now();
    one_message(&mbox_with_timeout(&path, Duration::from_secs(10))).unwrap();
    assert!(
        start.elapsed() > Duration::from_millis(300),
        "we should have waited for Python"
    );
    assert!(guard.0.wait().unwrap().success());

    // We hold the lock: Python's lock() fails at once with ExternalClashError.
    let held = MboxLock::exclusive(&path, false, &LockOptions::default()).unwrap();
    let out = String::from_utf8(python(&py, PY_TRY, &[path.to_str().unwrap()])).unwrap();
    assert!(out.starts_with("clash"), "{out}");
    drop(held);
    let out = String::from_utf8(python(&py, PY_TRY, &[path.to_str().unwrap()])).unwrap();
    assert!(out.starts_with("got it"), "{out}");
}

const PY_APPENDER: &str = r#"
import mailbox, sys, time
path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = mailbox.mbox(path)
deadline = time.time() + 60
for i in range(n):
    while True:
        try:
            m.lock()
            break
        except mailbox.ExternalClashError:
            assert time.time() < deadline, "lock never free"
            time.sleep(0.005)
    m.add(("Subject: %s-%d\n\nwritten by python %s number %d\n" % (tag, i, tag, i)).encode())
    m.flush()
    m.unlock()
m.close()
print("done")
"#;

/// Two Python processes (mailbox.mbox with its lockf + dotlock) and two of our threads append to
/// one mbox at the same time: every message arrives whole, once.
#[test]
fn python_processes_and_our_threads_append_concurrently() {
    let Some(py) = peer::require_python_module("mailbox", "python3") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.mbox");
    std::fs::write(&path, "").unwrap();
    const N: usize = 15;
    let pythons: Vec<Guard> = ["pa", "pb"]
        .iter()
        .map(|tag| {
            Guard(
                Command::new(&py)
                    .arg("-c")
                    .arg(PY_APPENDER)
                    .arg(&path)
                    .arg(tag)
                    .arg(N.to_string())
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let threads: Vec<_> = ["ra", "rb"]
        .iter()
        .map(|tag| {
            let path = path.clone();
            let tag = (*tag).to_owned();
            std::thread::spawn(move || {
                let mbox = mbox_with_timeout(&path, Duration::from_secs(30));
                for i in 0..N {
                    let f = from(i);
                    let text = format!("Subject: {tag}-{i}\n\nwritten by rust {tag} number {i}\n");
                    mbox.append(&[NewMessage {
                        from: &f,
                        metadata: &Metadata::default(),
                        text: text.as_bytes(),
                    }])
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let start = Instant::now();
    for mut p in pythons {
        loop {
            if let Some(status) = p.0.try_wait().unwrap() {
                assert!(status.success(), "python appender failed");
                break;
            }
            assert!(
                start.elapsed() < Duration::from_mins(1),
                "python appender hung"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let mut r = Reader::new(std::fs::File::open(&path).unwrap());
    let mut text = Vec::new();
    let mut subjects = Vec::new();
    while let Some(e) = r.next_message(&mut text).unwrap() {
        assert!(e.tolerated.is_empty(), "{:?}", e.tolerated);
        let s = String::from_utf8(text.clone()).unwrap();
        let subject = s
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("Subject: ")
            .to_owned();
        let (tag, i) = subject.split_once('-').unwrap();
        let who = if tag.starts_with('p') {
            "python"
        } else {
            "rust"
        };
        assert_eq!(
            s,
            format!("Subject: {subject}\n\nwritten by {who} {tag} number {i}\n")
        );
        subjects.push(subject);
    }
    subjects.sort();
    let before = subjects.len();
    subjects.dedup();
    assert_eq!((before, subjects.len()), (4 * N, 4 * N));
    // And Python agrees on the count.
    assert_eq!(python_dump(&py, &path).len(), 4 * N);
}
