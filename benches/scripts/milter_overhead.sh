#!/usr/bin/env bash
# Milter overhead: full_server's SMTP receive-to-Maildir throughput without a filter and with a
# no-op milter (examples/noop_milter.rs, which answers every step with "continue"), in one run,
# driven by Postfix's load generator `smtp-source`.
#
#   benches/scripts/milter_overhead.sh            # defaults: -s 20 -m 2000 -l 4096, 3 rounds
#   SESSIONS=20 MESSAGES=2000 SIZE=4096 ROUNDS=3 benches/scripts/milter_overhead.sh
#
# The same server binary serves both configurations on two ports of two data directories; the
# rounds alternate between them. The clock stops at smtp-source's last 250, which full_server sends
# once the copy is fsynced in the Maildir. Prints msgs/s for each and the ratio. Needs smtp-source
# (package postfix) and python3; no root. Everything it starts is stopped on exit (trap), and its
# work directory removed. FULL_SERVER_BIN and NOOP_MILTER_BIN name binaries instead of building the
# release examples.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SESSIONS=${SESSIONS:-20}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-4096}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${FULL_SERVER_BIN:-$TARGET_DIR/release/examples/full_server}
MILTER_BIN=${NOOP_MILTER_BIN:-$TARGET_DIR/release/examples/noop_milter}

PATH=$PATH:/usr/sbin
for p in smtp-source python3; do
  command -v "$p" >/dev/null || { echo "missing $p" >&2; exit 1; }
done

if [ -z "${FULL_SERVER_BIN:-}" ] || [ -z "${NOOP_MILTER_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --example full_server --example noop_milter --quiet)
fi

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/mw-bench-XXXXXX")
PIDS=()
cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  wait 2>/dev/null
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

count_new() { ls -U1 "$1" 2>/dev/null | wc -l; }
wait_count() { # dir count limit_seconds
  local deadline=$(( $(date +%s) + $3 ))
  while [ "$(count_new "$1")" -lt "$2" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "only $(count_new "$1") of $2 messages in $1" >&2; return 1; }
    sleep 0.05
  done
}

"$MILTER_BIN" "$WORK/noop.sock" 2>"$WORK/milter.log" &
PIDS+=($!)
for _ in $(seq 100); do [ -S "$WORK/noop.sock" ] && break; sleep 0.05; done
[ -S "$WORK/noop.sock" ] || { echo "noop_milter did not start" >&2; exit 1; }

# start_server NAME EXTRA_TOML: a full_server with alice@example.org; prints its port.
start_server() {
  local dir=$WORK/$1 port
  port=$(free_port)
  "$BIN" --data-dir "$dir" domain add example.org >/dev/null
  echo alice-pw | "$BIN" --data-dir "$dir" user add alice@example.org --password-stdin --scheme plain >/dev/null
  cat > "$dir/mailwright.toml" <<TOML
hostname = "localhost"
[listen]
smtp = ["127.0.0.1:$port"]
submission = []
submissions = []
lmtp = []
imap = []
imaps = []
pop3 = []
pop3s = []
managesieve = []
[limits]
max_connections_per_ip = 1000
$2
TOML
  "$BIN" --data-dir "$dir" serve >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
  wait_port "$port"
  echo "$port"
}
# Not in a subshell: start_server records the server's pid.
start_server plain "" > "$WORK/plain.port"
start_server milter "[[milter]]
socket = \"unix:$WORK/noop.sock\"
on_failure = \"tempfail\"" > "$WORK/milter.port"
PLAIN_PORT=$(cat "$WORK/plain.port")
MILTER_PORT=$(cat "$WORK/milter.port")

PLAIN_RATES=()
MILTER_RATES=()
for round in $(seq "$ROUNDS"); do
  for kind in plain milter; do
    port=$PLAIN_PORT
    [ "$kind" = milter ] && port=$MILTER_PORT
    t0=$(now)
    smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f sender@remote.test -t alice@example.org "127.0.0.1:$port"
    t1=$(now)
    wait_count "$WORK/$kind/mail/example.org/alice/Maildir/new" $((round * MESSAGES)) 5
    r=$(rate "$MESSAGES" "$t0" "$t1")
    if [ "$kind" = milter ]; then MILTER_RATES+=("$r"); else PLAIN_RATES+=("$r"); fi
  done
  echo "round $round: no filter ${PLAIN_RATES[-1]} msgs/s, no-op milter ${MILTER_RATES[-1]} msgs/s"
done
PLAIN=$(median "${PLAIN_RATES[@]}")
MILTER=$(median "${MILTER_RATES[@]}")
echo "smtp-source -s $SESSIONS -m $MESSAGES -l $SIZE, one recipient, $ROUNDS round(s), medians; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "full_server, no filter:      $PLAIN msgs/s"
echo "full_server, no-op milter:   $MILTER msgs/s"
python3 -c "import sys; print('with the milter: %.2fx the rate without' % (float(sys.argv[2]) / float(sys.argv[1])))" "$PLAIN" "$MILTER"
