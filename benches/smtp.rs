//! Criterion benches for the `smtp` crate; see BENCHMARKS.md for how results are recorded.
//!
//! Each group measures our code beside a peer in the same run: Stalwart's `smtp-proto` for command
//! parsing and DATA unstuffing, and a plain memcpy as the ceiling for unstuffing.

#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailwright::smtp::bytes::BytesMut;
use mailwright::smtp::data::{BareLineEnding, DataDecoder};
use mailwright::smtp::parse;

/// A typical pipelined transaction's command lines, repeated.
fn commands() -> Vec<u8> {
    let one: &[u8] = b"EHLO mail.example.com\r\n\
MAIL FROM:<sender.name@example.com> SIZE=12345 BODY=8BITMIME\r\n\
RCPT TO:<first.recipient@example.org>\r\n\
RCPT TO:<second@example.org> NOTIFY=SUCCESS,FAILURE\r\n\
RCPT TO:<third.recipient@example.net>\r\n\
DATA\r\n\
RSET\r\n\
NOOP\r\n\
QUIT\r\n";
    one.repeat(100)
}

/// A 1 MiB body of 76-octet lines, one in ten starting with a stuffed dot, and the end marker.
fn body() -> Vec<u8> {
    let mut v = Vec::with_capacity(1 << 20);
    let mut i = 0;
    while v.len() < (1 << 20) {
        if i % 10 == 0 {
            v.extend_from_slice(b"..");
        }
        v.extend_from_slice(b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod te\r\n");
        i += 1;
    }
    v.extend_from_slice(b".\r\n");
    v
}

fn bench_commands(c: &mut Criterion) {
    let input = commands();
    let mut g = c.benchmark_group("smtp/commands");
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("mailwright", |b| {
        b.iter(|| {
            let mut rest = black_box(&input[..]);
            let mut n = 0;
            while let Ok((r, cmd)) = parse::command(rest) {
                black_box(&cmd);
                rest = r;
                n += 1;
            }
            assert_eq!(n, 900);
        });
    });
    g.bench_function("stalwart-smtp-proto", |b| {
        b.iter(|| {
            let mut iter = black_box(&input[..]).iter();
            let mut rx = smtp_proto::request::receiver::RequestReceiver::default();
            let mut n = 0;
            while let Ok(req) = rx.ingest(&mut iter) {
                black_box(&req);
                n += 1;
            }
            assert_eq!(n, 900);
        });
    });
    g.finish();
}

fn bench_unstuff(c: &mut Criterion) {
    let input = body();
    let mut g = c.benchmark_group("smtp/unstuff");
    g.throughput(Throughput::Bytes(input.len() as u64));
    let mut out = BytesMut::with_capacity(input.len());
    g.bench_function("mailwright", |b| {
        b.iter(|| {
            out.clear();
            let mut d = DataDecoder::new(BareLineEnding::Reject, 1000);
            let r = d.decode(black_box(&input), &mut out).unwrap();
            assert!(r.end);
            black_box(&out);
        });
    });
    let mut vout: Vec<u8> = Vec::with_capacity(input.len());
    g.bench_function("stalwart-smtp-proto", |b| {
        b.iter(|| {
            vout.clear();
            let mut d = smtp_proto::request::receiver::DataReceiver::new();
            let mut iter = black_box(&input[..]).iter();
            assert!(d.ingest(&mut iter, &mut vout));
            black_box(&vout);
        });
    });
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            vout.clear();
            vout.extend_from_slice(black_box(&input));
            black_box(&vout);
        });
    });
    g.finish();
}

criterion_group!(benches, bench_commands, bench_unstuff);
criterion_main!(benches);
