//! Interop with Python's `mailbox.Maildir` (CPython 3.11 stdlib): it reads what we write, with
//! the same messages and flags, and we read what it writes.

#[allow(unreachable_pub)] // shared helper, written for every crate
#[path = "support/peer.rs"]
mod peer;

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::TempDir;
use mailwright_maildir::{DeliveryOptions, FlagUpdate, Flags, Maildir, Subdir};

/// Runs `script` with the Maildir path as argv[1]; returns stdout.
fn python(py: &std::path::Path, script: &str, dir: &std::path::Path) -> String {
    let out = Command::new(py)
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const LIST: &str = r"
import mailbox, sys
md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
for key in sorted(md.keys()):
    msg = md.get_message(key)
    body = md.get_bytes(key)
    print(key, msg.get_subdir(), msg.get_flags() or '-', body.hex())
";

#[test]
fn python_reads_what_we_write() {
    let Some(py) = peer::require_python_module("mailbox", "python3") else {
        return;
    };
    let tmp = TempDir::new("py-read");
    let md = Maildir::create(tmp.path()).unwrap();
    let mut expected = BTreeMap::new();
    let plain = md.deliver(b"Subject: one\n\nbody one\n").unwrap();
    expected.insert(
        plain.unique().to_owned(),
        (
            "new",
            "-".to_owned(),
            b"Subject: one\n\nbody one\n".to_vec(),
        ),
    );
    let flagged = md
        .deliver_with(
            b"Subject: two\n\nbody two\n",
            DeliveryOptions {
                flags: Some(Flags::parse("SR").unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
    let later = md.deliver(b"Subject: three\n\n3\n").unwrap();
    let e = md
        .set_flags(&later.entry, FlagUpdate::Add(Flags::parse("FT").unwrap()))
        .unwrap();
    assert_eq!(e.subdir(), Subdir::Cur);
    expected.insert(
        flagged.unique().to_owned(),
        ("cur", "RS".into(), b"Subject: two\n\nbody two\n".to_vec()),
    );
    expected.insert(
        later.unique().to_owned(),
        ("cur", "FT".into(), b"Subject: three\n\n3\n".to_vec()),
    );

    let out = python(&py, LIST, tmp.path());
    let mut seen = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let body: Vec<u8> = (0..f[3].len() / 2)
            .map(|i| u8::from_str_radix(&f[3][2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let subdir = if f[1] == "new" { "new" } else { "cur" };
        seen.insert(f[0].to_owned(), (subdir, f[2].to_owned(), body));
    }
    assert_eq!(seen, expected);
}

const WRITE: &str = r"
import mailbox, sys
md = mailbox.Maildir(sys.argv[1], create=True)
m = mailbox.MaildirMessage(b'Subject: a\n\nfrom python a\n')
print(md.add(m))
m = mailbox.MaildirMessage(b'Subject: b\n\nfrom python b\n')
m.set_subdir('cur'); m.set_flags('FRS')
print(md.add(m))
m = mailbox.MaildirMessage(b'Subject: c\n\nfrom python c\n')
m.set_subdir('cur'); m.set_flags('D')
key = md.add(m)
print(key)
md.lock(); md.discard(key); md.unlock()
md.add_folder('Sent')
";

#[test]
fn we_read_what_python_writes() {
    let Some(py) = peer::require_python_module("mailbox", "python3") else {
        return;
    };
    let tmp = TempDir::new("py-write");
    let dir = tmp.path().join("m");
    let out = python(&py, WRITE, &dir);
    let keys: Vec<&str> = out.lines().collect();
    let md = Maildir::open(&dir).unwrap();
    let list = md.scan().unwrap();
    assert_eq!(list.len(), 2);
    let a = list
        .iter()
        .find(|e| e.unique() == keys[0])
        .expect("python key a");
    let b = list
        .iter()
        .find(|e| e.unique() == keys[1])
        .expect("python key b");
    assert_eq!(a.subdir(), Subdir::New);
    assert_eq!(b.flags().to_string(), "FRS");
    assert_eq!(
        md.read_message(b).unwrap(),
        b"Subject: b\n\nfrom python b\n"
    );
    assert_eq!(md.size(a).unwrap(), 26);
    assert_eq!(md.list_folders().unwrap(), ["Sent"]);
    // And UIDs can be assigned over it.
    assert_eq!(md.sync().unwrap().messages.len(), 2);
}
