//! Criterion benches for the `pop3` crate; see BENCHMARKS.md for how results are recorded.
//!
//! RETR streaming: dot-stuffing a 1 MiB message handed over in 64 KiB chunks, against a plain
//! memcpy of the same octets in the same chunks (the floor any streaming server pays).

#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailwright_pop3_proto::Uid;
use mailwright_pop3_proto::bytes::BytesMut;
use mailwright_pop3_proto::encode::DotStuffer;
use mailwright_pop3_proto::parse::DotUnstuffer;
use mailwright_pop3_proto::server::Maildrop;
use mailwright_pop3_proto::{ServerConfig, ServerEvent, ServerSession};

const CHUNK: usize = 64 * 1024;

fn message(line_end: &str) -> Vec<u8> {
    let mut m =
        format!("From: a@example.org{line_end}Subject: bench{line_end}{line_end}").into_bytes();
    let mut i = 0u32;
    while m.len() < 1 << 20 {
        if i.is_multiple_of(50) {
            m.extend_from_slice(format!(".a line that starts with a dot{line_end}").as_bytes());
        }
        m.extend_from_slice(
            format!("line {i}: the quick brown fox jumps over the lazy dog, 0123456789{line_end}")
                .as_bytes(),
        );
        i += 1;
    }
    m
}

fn retr_streaming(c: &mut Criterion) {
    let crlf = message("\r\n");
    let lf = message("\n");
    let mut g = c.benchmark_group("pop3/retr_stream");
    g.throughput(Throughput::Bytes(crlf.len() as u64));
    let mut out = BytesMut::with_capacity(crlf.len() * 2);

    g.bench_function("memcpy", |b| {
        b.iter(|| {
            out.clear();
            for chunk in crlf.chunks(CHUNK) {
                out.extend_from_slice(black_box(chunk));
            }
            black_box(out.len())
        });
    });
    g.bench_function("dotstuff_crlf", |b| {
        b.iter(|| {
            out.clear();
            let mut s = DotStuffer::new();
            for chunk in crlf.chunks(CHUNK) {
                s.feed(black_box(chunk), &mut out);
            }
            s.finish(&mut out);
            black_box(out.len())
        });
    });
    g.bench_function("dotstuff_lf_to_crlf", |b| {
        b.iter(|| {
            out.clear();
            let mut s = DotStuffer::new();
            for chunk in lf.chunks(CHUNK) {
                s.feed(black_box(chunk), &mut out);
            }
            s.finish(&mut out);
            black_box(out.len())
        });
    });
    let now = Instant::now();
    g.bench_function("server_session_retr", |b| {
        b.iter(|| {
            let mut s = ServerSession::new(ServerConfig::default());
            s.handle_input(now, b"USER u\r\nPASS p\r\nRETR 1\r\n");
            let Some(ServerEvent::Login { ticket, .. }) = s.poll_event() else {
                unreachable!()
            };
            let mut drop = Maildrop::default();
            drop.push(crlf.len() as u64, Uid::new("u").unwrap());
            s.accept_login(ticket, drop).unwrap();
            let Some(ServerEvent::Retr { .. }) = s.poll_event() else {
                unreachable!()
            };
            let mut reader = &crlf[..];
            let mut sent = 0;
            loop {
                let done = s.send_message_from(&mut reader).unwrap();
                while let Some(b) = s.poll_transmit() {
                    sent += black_box(b).len();
                }
                if done {
                    break;
                }
            }
            sent
        });
    });
    let wire = DotStuffer::stuff_all(&crlf, None);
    g.bench_function("client_unstuff", |b| {
        b.iter(|| {
            out.clear();
            let mut d = DotUnstuffer::new();
            for chunk in wire.chunks(CHUNK) {
                d.decode(black_box(chunk), &mut out);
            }
            black_box(out.len())
        });
    });
    g.finish();
}

criterion_group!(benches, retr_streaming);
criterion_main!(benches);
