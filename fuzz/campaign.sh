#!/usr/bin/env bash
# The fuzz campaign: every target for a budget of CPU seconds, on idle CPU only, with the corpus
# kept outside the repository and one results line per run.
#
#   fuzz/campaign.sh 1800                    # every target, 30 CPU-minutes each, in the order below
#   fuzz/campaign.sh 600 smtp_data imap_framer
#   JOBS=2 OUT=/work/fuzz-results CORPUS=/work/fuzz-corpus fuzz/campaign.sh 1800
#   fuzz/campaign.sh --summary               # totals per target over every run in the results file
#   touch /work/fuzz-results/stop            # stop: each running target ends its run and writes its
#                                            # line (the CPU time used so far counts); no new target
#                                            # starts; the next campaign removes the file
#
# - Targets are built once with `cargo +nightly fuzz build -s none` (Rust code under
#   forbid(unsafe_code): the bugs to find are panics, overflows (debug assertions are on) and
#   failed round-trip and model checks; leave ASan out for speed). The binaries are run directly,
#   niced to 19, JOBS (default 2) at a time.
# - The budget is CPU time, not wall time: the fuzzer's utime+stime is read from /proc/<pid>/stat
#   every few seconds and SIGINT sent when it reaches the budget, so libFuzzer prints its final
#   stats (-print_final_stats=1). A busy machine makes a run take longer, not count for less.
# - The corpus of each target grows in $CORPUS/<target> (default /work/fuzz-corpus), read together
#   with the committed seeds in fuzz/corpus/<target>/ (never written). A crash, leak, timeout or
#   out-of-memory input goes to $OUT/artifacts/<target>/; the run then goes on with what is left of
#   the budget (at most RESTARTS times, default 2). Logs: $OUT/logs/<target>-<time>.log.
# - One tab-separated line per run is appended to $OUT/results.tsv (default /work/fuzz-results):
#   date, commit, target, CPU seconds, wall seconds, executions, coverage (cov) and features (ft)
#   at the start and at the end, units added to the corpus, corpus files, findings.
set -euo pipefail
cd "$(dirname "$0")"
FUZZ_DIR=$(pwd)
OUT=${OUT:-/work/fuzz-results}
CORPUS=${CORPUS:-/work/fuzz-corpus}
JOBS=${JOBS:-2}
RESTARTS=${RESTARTS:-2}
TARGET_DIR=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$FUZZ_DIR/target}}
RESULTS=$OUT/results.tsv
HEADER=$'date\tcommit\ttarget\tcpu_s\twall_s\texecs\tcov_start\tcov_end\tft_start\tft_end\tnew_units\tcorpus_files\tfindings'

# Most important first: the framers and the DATA decoder, the command and response parsers, the
# machines, then the rest.
ORDER=(
  imap_framer smtp_data milter_frames managesieve_wire sansio_proxy mbox_reader
  smtp_command smtp_reply imap_command imap_response pop3_command pop3_response
  imap_greeting imap_authenticate
  smtp_server smtp_client imap_server imap_client pop3_server pop3_client
  imap_structure sieve_parse sieve_run maildir_filename maildir_uidlist outbound_mta_sts
)

summary() {
  [ -s "$RESULTS" ] || { echo "no results in $RESULTS" >&2; exit 1; }
  awk -F'\t' 'NR > 1 {
      cpu[$3] += $4; ex[$3] += $6; last[$3] = $1; commit[$3] = $2
      if (!($3 in ft0)) ft0[$3] = $9
      ft1[$3] = $10; files[$3] = $12
      if ($13 != "none") find[$3] = find[$3] (find[$3] ? "; " : "") $13
    } END {
      printf "| target | executions | CPU-minutes | features (first run -> last) | corpus | last run | commit | findings |\n"
      printf "|---|---:|---:|---|---:|---|---|---|\n"
      for (t in cpu) printf "| %s | %d | %.1f | %s -> %s | %s | %s | %s | %s |\n", t, ex[t], cpu[t] / 60, ft0[t], ft1[t], files[t], substr(last[t], 1, 10), commit[t], (t in find) ? find[t] : "none"
    }' "$RESULTS" | { read -r h; read -r s; echo "$h"; echo "$s"; sort; }
}
if [ "${1:-}" = --summary ]; then summary; exit 0; fi

BUDGET=${1:?usage: fuzz/campaign.sh CPU_SECONDS [TARGET...] | --summary}
shift
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ORDER[@]}")
# Targets registered in Cargo.toml but missing from ORDER still run, last.
for t in $(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | grep -v '^mailwright-fuzz$'); do
  [ $# -gt 0 ] || [[ " ${ORDER[*]} " == *" $t "* ]] || TARGETS+=("$t")
done

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 1; }
nice -n 19 cargo +nightly fuzz build -s none --target-dir "$TARGET_DIR"
BIN_DIR=$TARGET_DIR/$(rustc +nightly -vV | sed -n 's/^host: //p')/release
COMMIT=$(git -C "$FUZZ_DIR" rev-parse --short HEAD)
mkdir -p "$OUT/logs" "$OUT/artifacts"
rm -f "$OUT/stop" # a stop asked of an earlier campaign
[ -s "$RESULTS" ] || echo "$HEADER" > "$RESULTS"
TICK=$(getconf CLK_TCK)

cpu_ticks() { # pid -> utime + stime in clock ticks (fields 14 and 15, after the "(comm)")
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -1; return; }
  stat=${stat##*) }
  awk '{print $12 + $13}' <<<"$stat"
}

# One target: runs the fuzzer until it has used BUDGET CPU seconds (restarting after a finding),
# then appends its line to the results.
run_target() {
  local t=$1 bin=$BIN_DIR/$1 used=0 wall0 findings=() log logs=() restarts=0
  [ -x "$bin" ] || { echo "$t: no binary at $bin" >&2; return 0; }
  mkdir -p "$CORPUS/$t" "$OUT/artifacts/$t" "$FUZZ_DIR/corpus/$t"
  wall0=$(date +%s)
  while [ "$used" -lt "$BUDGET" ]; do
    log=$OUT/logs/$t-$(date -u +%Y%m%dT%H%M%S).log
    logs+=("$log")
    nice -n 19 "$bin" "$CORPUS/$t" "$FUZZ_DIR/corpus/$t" -print_final_stats=1 -rss_limit_mb=2048 \
      -timeout=120 -artifact_prefix="$OUT/artifacts/$t/" >"$log" 2>&1 &
    local pid=$! ticks=0 now_ticks limit=$(((BUDGET - used) * TICK))
    while kill -0 "$pid" 2>/dev/null; do
      now_ticks=$(cpu_ticks "$pid")
      [ "$now_ticks" -lt 0 ] || ticks=$now_ticks
      if [ "$ticks" -ge "$limit" ] || [ -e "$OUT/stop" ]; then kill -INT "$pid" 2>/dev/null; break; fi
      sleep 5
    done
    wait "$pid" 2>/dev/null || true
    used=$((used + ticks / TICK))
    [ ! -e "$OUT/stop" ] || break
    # A run that ended before its budget found something (or could not start).
    if ! grep -q 'libFuzzer: run interrupted' "$log"; then
      local what
      what=$(grep -m1 -o -E "panicked at [^:]*:[0-9]+:[0-9]+|ERROR: libFuzzer: [a-z-]+|SUMMARY: [^ ]+ [^ ]+" "$log" | head -1)
      findings+=("${what:-ended early, see $(basename "$log")}: $(grep -m1 -o "Test unit written to [^ ]*" "$log" | sed 's/.*\///')")
      restarts=$((restarts + 1))
      [ "$restarts" -le "$RESTARTS" ] || break
      grep -q 'INITED' "$log" || break # it could not start: no use trying again
    fi
  done
  local wall=$(($(date +%s) - wall0))
  local execs=0 cov0 cov1 ft0 ft1 added=0 l
  for l in "${logs[@]}"; do
    execs=$((execs + $(sed -n 's/^stat::number_of_executed_units: *//p' "$l" | tail -1 | grep . || echo 0)))
    added=$((added + $(sed -n 's/^stat::new_units_added: *//p' "$l" | tail -1 | grep . || echo 0)))
  done
  cov0=$(grep -m1 -o 'INITED cov: [0-9]*' "${logs[0]}" | grep -o '[0-9]*$' || echo '?')
  ft0=$(grep -m1 -o 'INITED cov: [0-9]* ft: [0-9]*' "${logs[0]}" | grep -o '[0-9]*$' || echo '?')
  cov1=$(grep -o 'cov: [0-9]*' "${logs[-1]}" | tail -1 | grep -o '[0-9]*$' || echo '?')
  ft1=$(grep -o 'ft: [0-9]*' "${logs[-1]}" | tail -1 | grep -o '[0-9]*$' || echo '?')
  local files
  files=$(find "$CORPUS/$t" -type f | wc -l)
  local f="none"
  [ ${#findings[@]} -eq 0 ] || f=$(IFS=';'; echo "${findings[*]}")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$COMMIT" \
    "$t" "$used" "$wall" "$execs" "$cov0" "$cov1" "$ft0" "$ft1" "$added" "$files" "$f" >> "$RESULTS"
  echo "$t: $used CPU s, $wall s wall, $execs executions, ft $ft0 -> $ft1, findings: $f"
}

running=0
for t in "${TARGETS[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then wait -n || true; running=$((running - 1)); fi
  [ ! -e "$OUT/stop" ] || break
  run_target "$t" &
  running=$((running + 1))
done
wait
echo "results: $RESULTS (fuzz/campaign.sh --summary for the totals per target)"
