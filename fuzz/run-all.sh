#!/usr/bin/env bash
# Run every fuzz target for SECONDS seconds each (default 60) with cargo-fuzz on nightly.
# Usage: fuzz/run-all.sh [SECONDS]
# New inputs that libFuzzer finds go to fuzz/corpus/<target>/ (commit only small, useful ones);
# crashes go to fuzz/artifacts/<target>/.
set -euo pipefail
secs=${1:-60}
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 1; }
for target in $(cargo +nightly fuzz list); do
  echo "== $target (${secs}s)"
  mkdir -p "corpus/$target"
  cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$secs" -rss_limit_mb=2048
done
