//! Criterion benches for the `smtp` crate; see BENCHMARKS.md for how results are recorded.
//!
//! Each group measures our code beside a peer in the same run: Stalwart's `smtp-proto` for command
//! parsing and DATA unstuffing, and a plain memcpy as the ceiling for unstuffing. Contestants run
//! interleaved (see `paired`), so a noisy machine skews them alike.

#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailwright::smtp::bytes::{Bytes, BytesMut};
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
        v.extend_from_slice(
            b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod te\r\n",
        );
        i += 1;
    }
    v.extend_from_slice(b".\r\n");
    v
}

/// Runs every contestant once per iteration, in turn, adds every contestant's time to `totals`,
/// and reports the time of contestant `who`.
///
/// The bench machine is shared (2 cores, other builds running), so measuring one contestant after
/// the other lets the load change between them; interleaving gives each the same load. Criterion
/// reports each contestant from its own bench function (its own time window), so `totals` also
/// sums every contestant over every window, for ratios taken from the very same iterations (see
/// `print_totals`). Each contestant times itself, so that it can leave its set-up out (the
/// zero-copy decoder needs a fresh input buffer each time).
fn paired(
    iters: u64,
    contestants: &mut [&mut dyn FnMut() -> Duration],
    who: usize,
    totals: &RefCell<Vec<Duration>>,
) -> Duration {
    let mut spent = vec![Duration::ZERO; contestants.len()];
    for _ in 0..iters {
        for (i, run) in contestants.iter_mut().enumerate() {
            spent[i] += run();
        }
    }
    for (t, s) in totals.borrow_mut().iter_mut().zip(&spent) {
        *t += *s;
    }
    spent[who]
}

/// Prints each contestant's summed time and its ratio to the first's (same iterations for all).
fn print_totals(group: &str, names: &[&str], totals: &RefCell<Vec<Duration>>) {
    let totals = totals.borrow();
    let first = totals[0].as_secs_f64();
    for (name, t) in names.iter().zip(totals.iter()) {
        eprintln!(
            "{group} same-iterations total: {name} {t:?} ({:.3}x the time of {})",
            t.as_secs_f64() / first,
            names[0]
        );
    }
}

/// Times `f`.
fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn bench_commands(c: &mut Criterion) {
    let input = commands();
    let ours = || {
        let mut rest = black_box(&input[..]);
        let mut n = 0;
        while let Ok((r, cmd)) = parse::command(rest) {
            black_box(&cmd);
            rest = r;
            n += 1;
        }
        assert_eq!(n, 900);
    };
    let theirs = || {
        let mut iter = black_box(&input[..]).iter();
        let mut rx = smtp_proto::request::receiver::RequestReceiver::default();
        let mut n = 0;
        while let Ok(req) = rx.ingest(&mut iter) {
            black_box(&req);
            n += 1;
        }
        assert_eq!(n, 900);
    };
    let names = ["mailwright", "stalwart-smtp-proto"];
    let totals = RefCell::new(vec![Duration::ZERO; names.len()]);
    let mut g = c.benchmark_group("smtp/commands");
    g.throughput(Throughput::Bytes(input.len() as u64));
    for (who, name) in names.into_iter().enumerate() {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (mut a, mut b) = (|| timed(ours), || timed(theirs));
                paired(iters, &mut [&mut a, &mut b], who, &totals)
            });
        });
    }
    g.finish();
    print_totals("smtp/commands", &names, &totals);
}

fn bench_unstuff(c: &mut Criterion) {
    let input = body();
    let mut out = BytesMut::with_capacity(input.len());
    let mut buf = BytesMut::new();
    let mut pieces: Vec<Bytes> = Vec::with_capacity(4096);
    let mut vout: Vec<u8> = Vec::with_capacity(input.len());
    let mut vcopy: Vec<u8> = Vec::with_capacity(input.len());
    let names = [
        "mailwright",
        "mailwright-zero-copy",
        "stalwart-smtp-proto",
        "memcpy",
    ];
    let totals = RefCell::new(vec![Duration::ZERO; names.len()]);
    let mut g = c.benchmark_group("smtp/unstuff");
    g.throughput(Throughput::Bytes(input.len() as u64));
    for (who, name) in names.into_iter().enumerate() {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                // `decode`: the content copied into a reused buffer.
                let mut ours = || {
                    timed(|| {
                        out.clear();
                        let mut d = DataDecoder::new(BareLineEnding::Reject, 1000);
                        let r = d.decode(black_box(&input), &mut out).unwrap();
                        assert!(r.end);
                        black_box(&out);
                    })
                };
                // `decode_bytes`: the content handed out as slices of the input buffer; filling
                // that buffer (the socket read, done by the server anyway) is not timed.
                let mut zero_copy = || {
                    pieces.clear();
                    buf = BytesMut::from(&input[..]);
                    timed(|| {
                        let mut d = DataDecoder::new(BareLineEnding::Reject, 1000);
                        let r = d
                            .decode_bytes(black_box(&mut buf), |p| pieces.push(p))
                            .unwrap();
                        assert!(r.end);
                        black_box(&pieces);
                    })
                };
                let mut theirs = || {
                    timed(|| {
                        vout.clear();
                        let mut d = smtp_proto::request::receiver::DataReceiver::new();
                        let mut iter = black_box(&input[..]).iter();
                        assert!(d.ingest(&mut iter, &mut vout));
                        black_box(&vout);
                    })
                };
                let mut memcpy = || {
                    timed(|| {
                        vcopy.clear();
                        vcopy.extend_from_slice(black_box(&input));
                        black_box(&vcopy);
                    })
                };
                paired(
                    iters,
                    &mut [&mut ours, &mut zero_copy, &mut theirs, &mut memcpy],
                    who,
                    &totals,
                )
            });
        });
    }
    g.finish();
    print_totals("smtp/unstuff", &names, &totals);
}

criterion_group!(benches, bench_commands, bench_unstuff);
criterion_main!(benches);
