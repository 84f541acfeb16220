#!/usr/bin/env bash
# Every check CI runs, in the order CI runs them. Usage: ./test.sh
# Peers for the interop tests (Dovecot, Postfix, swaks ...) are installed by .ci/run; without them the
# interop tests skip with a line naming the package to install (and fail when CI=true).
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (workspace, all targets, all features, warnings denied)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "cargo test (unit, property, interop, fuzz-corpus replay and doc tests)"
cargo test --workspace --all-features --locked

step "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked

step "packages: each published crate tested from its unpacked .crate, dependency budgets"
.ci/package-check

step "fuzz targets build (stable, no fuzzing; fuzz/run-all.sh fuzzes on nightly)"
cargo check --manifest-path fuzz/Cargo.toml --bins --quiet

step "all checks passed"
