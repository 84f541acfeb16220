//! Criterion benches for the `pop3` crate; see BENCHMARKS.md for how results are recorded.

#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items.

use criterion::{Criterion, criterion_group, criterion_main};

fn placeholder(c: &mut Criterion) {
    // The crate's real benches replace this as the crate lands.
    c.bench_function("pop3/noop", |b| b.iter(|| std::hint::black_box(0u64)));
}

criterion_group!(benches, placeholder);
criterion_main!(benches);
