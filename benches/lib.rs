//! Criterion benches of the Mailwright crates: `cargo bench -p mailwright-benches --bench
//! <smtp|imap|pop3|maildir|mbox>`. Each bench measures our code beside a peer in the same run; the
//! results and the commands that reproduce them are in BENCHMARKS.md. This library is empty: the
//! package exists so that the benches' peers are not dependencies of the `mailwright` package.
