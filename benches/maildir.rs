//! Criterion benches for the `maildir` crate; see BENCHMARKS.md for how results are recorded.
//!
//! - `maildir/deliver_1k/{fsync,nofsync}`: one 1 KiB delivery (tmp, write, link, dir fsync).
//! - `maildir/scan_100k`: listing a folder of 100,000 messages (sizes and flags from names);
//!   `maildir/readdir_100k` is the bare `std::fs::read_dir` of the same two directories.
//! - `maildir/uidlist_parse_100k` and `maildir/sync_100k` (UID map load: parse
//!   `dovecot-uidlist` alone, and scan + uidlist + MODSEQ file with nothing to change).
//! - The peer, Python's `mailbox.Maildir` on the same folder, is timed in the same run by a
//!   Python loop of its own (no interpreter start-up counted) and printed beside the results.

#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use mailwright_maildir::{Flag, FlagUpdate, Flags, Maildir};

const BIG: usize = 100_000;

fn message() -> Vec<u8> {
    let mut m = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: bench\r\n\r\n".to_vec();
    m.resize(1024 - 2, b'x');
    m.extend_from_slice(b"\r\n");
    m
}

fn bench_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mw-maildir-bench-{name}"))
}

/// The 100k folder, generated once (and reused by later runs).
fn big_folder() -> Maildir {
    let dir = bench_dir("100k");
    if let Ok(md) = Maildir::open(&dir)
        && md.scan().map_or(0, |l| l.len()) == BIG
    {
        return md;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut md = Maildir::create(&dir).unwrap();
    md.set_fsync(false);
    let msg = message();
    let seen = Flags::empty().with(Flag::Seen);
    for i in 0..BIG {
        let d = md.deliver(&msg).unwrap();
        if i % 2 == 0 {
            md.set_flags(&d.entry, FlagUpdate::Add(seen)).unwrap();
        }
    }
    md.sync().unwrap();
    md
}

/// Runs a Python timing loop; returns its printed seconds per operation.
fn python_peer(script: &str, dir: &Path) -> Option<f64> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

const PY_SCAN: &str = r"
import mailbox, sys, time
n = 5
t = time.perf_counter()
for _ in range(n):
    assert len(mailbox.Maildir(sys.argv[1], factory=None, create=False).keys()) > 0
print((time.perf_counter() - t) / n)
";

const PY_DELIVER: &str = r"
import mailbox, sys, time
md = mailbox.Maildir(sys.argv[1], factory=None, create=True)
msg = b'From: a@example.org\r\nTo: b@example.org\r\nSubject: bench\r\n\r\n' + b'x' * 963 + b'\r\n'
n = 2000
t = time.perf_counter()
for _ in range(n):
    md.add(msg)
print((time.perf_counter() - t) / n)
";

fn deliver(c: &mut Criterion) {
    let msg = message();
    let mut g = c.benchmark_group("maildir");
    for fsync in [true, false] {
        let dir = bench_dir(if fsync {
            "deliver-fsync"
        } else {
            "deliver-nofsync"
        });
        let _ = std::fs::remove_dir_all(&dir);
        let mut md = Maildir::create(&dir).unwrap();
        md.set_fsync(fsync);
        let name = if fsync {
            "deliver_1k/fsync"
        } else {
            "deliver_1k/nofsync"
        };
        g.bench_function(name, |b| b.iter(|| black_box(md.deliver(&msg).unwrap())));
        let _ = std::fs::remove_dir_all(&dir);
    }
    g.finish();
    let dir = bench_dir("deliver-python");
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(s) = python_peer(PY_DELIVER, &dir) {
        println!(
            "peer python mailbox.Maildir.add (1 KiB, no fsync): {:.2} µs/message",
            s * 1e6
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn scan(c: &mut Criterion) {
    let md = big_folder();
    let mut g = c.benchmark_group("maildir");
    g.sample_size(20);
    g.bench_function("scan_100k", |b| {
        b.iter(|| black_box(md.scan().unwrap().len()));
    });
    g.bench_function("readdir_100k", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for sub in ["new", "cur"] {
                for e in std::fs::read_dir(md.path().join(sub)).unwrap() {
                    n += black_box(e.unwrap().file_name().len()) & 1;
                }
            }
            n
        });
    });
    g.bench_function("uidlist_parse_100k", |b| {
        b.iter(|| black_box(md.read_uidlist().unwrap().unwrap().records.len()));
    });
    g.bench_function("sync_100k", |b| {
        b.iter(|| black_box(md.sync().unwrap().messages.len()));
    });
    g.finish();
    if let Some(s) = python_peer(PY_SCAN, md.path()) {
        println!(
            "peer python mailbox.Maildir(...).keys() on 100k: {:.2} ms/scan",
            s * 1e3
        );
    }
}

criterion_group!(benches, deliver, scan);
criterion_main!(benches);
