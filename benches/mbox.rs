//! Criterion benches for the `mbox` crate; see BENCHMARKS.md for how results are recorded.
//!
//! Scan throughput over a generated mbox (1 GiB by default; `MBOX_BENCH_MB` to change it), read
//! from the page cache (the file is read once before measuring):
//! - `mbox_scan/mailwright_entries`: our streaming `Reader::next_entry` over a `File` (positions,
//!   From line, flags; the text is skipped).
//! - `mbox_scan/mailwright_messages`: `Reader::next_message_to` with unquoting into a sink.
//! - `mbox_scan/mbox_reader_crate`: the `mbox-reader` crate (mmap, byte loop) counting entries.
//!   (The `mbox` crate on crates.io is a malloc box, not an mbox parser.)
//! - `mbox_scan/grep_c`: `grep -c '^From '` on the same file, process start included.

#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.

use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailwright_mbox::{
    Asctime, Flags, FromLine, Metadata, ReadOptions, Reader, WriteOptions, Writer,
};

fn size_bytes() -> u64 {
    let mb: u64 = std::env::var("MBOX_BENCH_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    mb * 1024 * 1024
}

/// A realistic-looking message of about 4 KiB: headers, text lines, a quoted `From ` line.
fn message(i: u64) -> Vec<u8> {
    let mut m = format!(
        "Return-Path: <sender{i}@example.org>\nReceived: from mx.example.org (mx.example.org [192.0.2.1])\n\
\tby mail.example.net with ESMTPS id {i:016x}\n\tfor <rcpt@example.net>; Sat, 28 Nov 2026 12:34:56 +0000\n\
From: Sender {i} <sender{i}@example.org>\nTo: rcpt@example.net\nSubject: message number {i}\n\
Date: Sat, 28 Nov 2026 12:34:56 +0000\nMessage-ID: <{i}@example.org>\nMIME-Version: 1.0\n\
Content-Type: text/plain; charset=utf-8\n\n"
    )
    .into_bytes();
    let line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n";
    for n in 0..(40 + i % 20) {
        if n == 10 {
            m.extend_from_slice(b"From the desk of the sender: a line that must be quoted.\n");
        }
        m.extend_from_slice(line);
    }
    m
}

/// The bench file, generated once per size and reused by later runs.
fn bench_file() -> PathBuf {
    let size = size_bytes();
    let path = std::env::temp_dir().join(format!("mw-mbox-bench-{}mb.mbox", size / (1024 * 1024)));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= size) {
        return path;
    }
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).unwrap();
    let mut w = Writer::new(
        BufWriter::with_capacity(1 << 20, file),
        WriteOptions::default(),
    );
    let date = Asctime::new(2026, 11, 28, 12, 34, 56).unwrap();
    let from = FromLine::new("sender@example.org", date).unwrap();
    let seen = Metadata::with_flags(Flags {
        seen: true,
        old: true,
        ..Flags::NONE
    });
    let mut i = 0;
    while w.written() < size {
        let meta = if i % 3 == 0 {
            &seen
        } else {
            &Metadata::default()
        };
        w.write_message(&from, meta, &message(i)).unwrap();
        i += 1;
    }
    w.into_inner().unwrap().flush().unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn count_ours(path: &Path) -> u64 {
    let mut r = Reader::with_options(std::fs::File::open(path).unwrap(), ReadOptions::default());
    let mut n = 0;
    while let Some(e) = r.next_entry().unwrap() {
        black_box(&e);
        n += 1;
    }
    n
}

fn count_ours_text(path: &Path) -> u64 {
    let mut r = Reader::with_options(std::fs::File::open(path).unwrap(), ReadOptions::default());
    let mut sink = std::io::sink();
    let mut n = 0;
    while r.next_message_to(&mut sink).unwrap().is_some() {
        n += 1;
    }
    n
}

fn count_mbox_reader(path: &Path) -> u64 {
    let file = mbox_reader::MboxFile::from_file(path).unwrap();
    // Its iterator yields an entry when it meets the next `From ` line, so the last message is
    // not returned: add it back to compare counts.
    file.iter()
        .inspect(|e| {
            black_box(e.message());
        })
        .count() as u64
        + 1
}

fn count_grep(path: &Path) -> u64 {
    let out = Command::new("grep")
        .arg("-c")
        .arg("^From ")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// A way to count the messages of the bench file.
type Counter = fn(&Path) -> u64;

/// CPU time used so far by this process and by its waited-for children, in seconds, from
/// `/proc/self/stat` (utime, stime, cutime, cstime; clock ticks of 1/100 s).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // After the ')' field 3 (state) is index 0, so utime (14) is index 11.
    if f.len() < 15 {
        return (0.0, 0.0);
    }
    ((f[11] + f[12]) / 100.0, (f[13] + f[14]) / 100.0)
}

/// Throughput per CPU second (not per wall second): on a loaded machine the wall clock measures
/// the scheduler, the CPU time measures the code. Printed beside criterion's wall-clock figures.
fn cpu_throughput(path: &Path, len: u64) {
    const RUNS: u32 = 3;
    let contenders: [(&str, Counter, bool); 4] = [
        ("mailwright_entries", count_ours, false),
        ("mailwright_messages", count_ours_text, false),
        ("mbox_reader_crate", count_mbox_reader, false),
        ("grep_c", count_grep, true),
    ];
    for (name, f, child) in contenders {
        let (s0, c0) = cpu_seconds();
        for _ in 0..RUNS {
            black_box(f(path));
        }
        let (s1, c1) = cpu_seconds();
        let cpu = if child { c1 - c0 } else { s1 - s0 };
        let gbps = len as f64 * f64::from(RUNS) / cpu.max(0.01) / 1e9;
        eprintln!(
            "cpu-time throughput {name:<22} {gbps:6.2} GB/s ({cpu:.2} CPU s for {RUNS} scans)"
        );
    }
}

fn scan(c: &mut Criterion) {
    let path = bench_file();
    let len = std::fs::metadata(&path).unwrap().len();
    // Warm the page cache and check that everyone agrees on the count.
    let n = count_ours(&path);
    assert_eq!(count_grep(&path), n, "grep disagrees");
    assert_eq!(count_mbox_reader(&path), n, "mbox-reader disagrees");
    assert_eq!(count_ours_text(&path), n);
    eprintln!("bench file: {} ({len} bytes, {n} messages)", path.display());
    cpu_throughput(&path, len);

    let mut g = c.benchmark_group("mbox_scan");
    g.throughput(Throughput::Bytes(len));
    g.sample_size(10);
    g.bench_function("mailwright_entries", |b| {
        b.iter(|| black_box(count_ours(&path)));
    });
    g.bench_function("mailwright_messages", |b| {
        b.iter(|| black_box(count_ours_text(&path)));
    });
    g.bench_function("mbox_reader_crate", |b| {
        b.iter(|| black_box(count_mbox_reader(&path)));
    });
    g.bench_function("grep_c", |b| b.iter(|| black_box(count_grep(&path))));
    g.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
