#!/usr/bin/env bash
# Outbound relay throughput: full_server's queue against Postfix relaying to the same sink, in one
# run, with Postfix's own tools (`smtp-source` drives the load, `smtp-sink` is the destination).
#
#   benches/scripts/relay_vs_postfix.sh            # defaults: -s 20 -m 2000 -l 4096
#   SESSIONS=20 MESSAGES=2000 SIZE=4096 ROUNDS=3 benches/scripts/relay_vs_postfix.sh
#
# Each server takes `smtp-source -s SESSIONS -m MESSAGES -l SIZE` addressed to user@remote.test from
# a trusted loopback client, queues it durably (both fsync before their 250) and relays it to
# `smtp-sink -M MESSAGES` through a relayhost setting. The clock runs from the first connection of
# smtp-source to the exit of the sink, i.e. until the last message has been accepted by the next hop.
# With ROUNDS > 1 the two alternate and the medians are compared. Needs root (Postfix's master),
# postfix (smtp-source, smtp-sink), python3. Everything it starts is stopped on exit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SESSIONS=${SESSIONS:-20}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-4096}
ROUNDS=${ROUNDS:-1}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${FULL_SERVER_BIN:-$TARGET_DIR/release/examples/full_server}

needs_root_and "Postfix's master" postfix smtp-source smtp-sink python3
if [ -z "${FULL_SERVER_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --example full_server --quiet)
fi

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/mw-relay-XXXXXX")
chmod 755 "$WORK"
MW_PID=
PF_PID=
SINK_PID=
cleanup() {
  set +e
  [ -n "$SINK_PID" ] && kill -KILL "$SINK_PID" 2>/dev/null
  stop_pid "$MW_PID"
  stop_postfix "$WORK/pf/conf" "$WORK/pf/queue" "$PF_PID"
  wait 2>/dev/null
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

SINK_PORT=$(free_port)

# --- full_server: trusted loopback client, everything relayed to the sink ---------------------
MW=$WORK/mw
MW_PORT=$(free_port)
"$BIN" --data-dir "$MW" domain add example.org >/dev/null
cat > "$MW/mailwright.toml" <<EOF
hostname = "mw.test"
[listen]
smtp = ["127.0.0.1:$MW_PORT"]
submission = []
submissions = []
lmtp = []
lmtp_socket = "lmtp.sock"
imap = []
imaps = []
pop3 = []
pop3s = []
managesieve = []
[limits]
max_connections_per_ip = 1000
[outbound]
relayhost = "[127.0.0.1]:$SINK_PORT"
trusted_networks = ["127.0.0.1"]
retry_schedule_secs = [1]
EOF
"$BIN" --data-dir "$MW" serve >"$WORK/mw.log" 2>&1 &
MW_PID=$!
wait_port "$MW_PORT"

# --- Postfix relaying to the same sink ---------------------------------------------------------
PF=$WORK/pf
PF_PORT=$(free_port)
mkdir -p "$PF/conf" "$PF/queue" "$PF/data"
chown postfix "$PF/data"
{
  postfix_main_cf_base "$PF"
  echo "relayhost = [127.0.0.1]:$SINK_PORT"
  echo "smtp_tls_security_level = none"
} > "$PF/conf/main.cf"
postfix_master_cf "$PF_PORT" > "$PF/conf/master.cf"
postfix -c "$PF/conf" check
postfix -c "$PF/conf" start-fg >"$WORK/pf.out" 2>&1 &
PF_PID=$!
wait_port "$PF_PORT"

# One run: a sink that exits after MESSAGES messages, the load into PORT, the time until the exit.
run() { # port -> prints msgs/s
  smtp-sink -u nobody -M "$MESSAGES" "127.0.0.1:$SINK_PORT" 256 >/dev/null 2>&1 &
  SINK_PID=$!
  wait_port "$SINK_PORT"
  local t0 t1
  t0=$(now)
  smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f sender@example.org -t user@remote.test "127.0.0.1:$1"
  local deadline=$(( $(date +%s) + 600 ))
  while kill -0 "$SINK_PID" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "the sink did not get $MESSAGES messages" >&2; return 1; }
    sleep 0.02
  done
  t1=$(now)
  SINK_PID=
  rate "$MESSAGES" "$t0" "$t1"
}

MW_RATES=()
PF_RATES=()
for round in $(seq "$ROUNDS"); do
  MW_RATES+=("$(run "$MW_PORT")")
  PF_RATES+=("$(run "$PF_PORT")")
  echo "round $round: full_server ${MW_RATES[-1]} msgs/s, Postfix ${PF_RATES[-1]} msgs/s (source -> queue -> sink)"
done
MW_RATE=$(median "${MW_RATES[@]}")
PF_RATE=$(median "${PF_RATES[@]}")
echo "smtp-source -s $SESSIONS -m $MESSAGES -l $SIZE -> queue -> smtp-sink, $ROUNDS round(s), medians; queues on $(df --output=source "$WORK" | tail -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "full_server queue -> sink:   $MW_RATE msgs/s"
echo "Postfix queue -> sink:       $PF_RATE msgs/s"
ratio "$MW_RATE" "$PF_RATE" Postfix
