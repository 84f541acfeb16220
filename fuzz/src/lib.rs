//! Fuzz target bodies, shared by the cargo-fuzz binaries in `fuzz_targets/` and by the stable corpus
//! replay test (`tests/fuzz_corpus.rs` in the main workspace includes this file).
//!
//! Each module holds the bodies for one crate and lists them in its `TARGETS` table; a target's name is
//! its binary name in `fuzz/Cargo.toml` and its corpus folder `fuzz/corpus/<name>/`.
//! A body must never panic on any input: a panic is the bug the fuzzer reports.

#![allow(dead_code, unreachable_pub)]

pub mod imap;
pub mod maildir;
pub mod mbox;
pub mod milter;
pub mod outbound;
pub mod pop3;
pub mod sansio;
pub mod sieve;
pub mod smtp;

/// Calls `handle_timeout` at each deadline the machine reports, answering its events with
/// `answer`; each call must make progress (a deadline that does not move would spin a driver),
/// and a closed machine wants nothing more.
pub fn run_timers<M: mailwright_sansio::Machine>(
    m: &mut M,
    mut answer: impl FnMut(&mut M, M::Event),
) {
    for _ in 0..8 {
        let Some(t) = m.poll_timeout() else { break };
        m.handle_timeout(t);
        for _ in 0..10_000 {
            let Some(ev) = m.poll_event() else { break };
            answer(m, ev);
        }
        while m.poll_transmit().is_some() {}
        assert!(
            m.is_closed() || m.poll_timeout().is_none_or(|next| next > t),
            "a deadline that does not move"
        );
    }
    if m.is_closed() {
        assert!(m.poll_timeout().is_none() && !m.wants_input());
    }
}

/// A fuzz target: its name and the function it runs on each input.
pub type Target = (&'static str, fn(&[u8]));

/// Every target of every crate.
pub fn all_targets() -> Vec<Target> {
    [
        smtp::TARGETS,
        imap::TARGETS,
        pop3::TARGETS,
        maildir::TARGETS,
        mbox::TARGETS,
        sieve::TARGETS,
        milter::TARGETS,
        outbound::TARGETS,
        sansio::TARGETS,
    ]
    .concat()
}
