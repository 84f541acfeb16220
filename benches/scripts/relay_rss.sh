#!/usr/bin/env bash
# Memory of the outbound relay: the RSS of full_server while it relays large messages to a slow
# sink, which must stay bounded (issue #17: not messages x size, not size x concurrency).
#
#   benches/scripts/relay_rss.sh                  # defaults: 200 messages of 20 MiB
#   MESSAGES=200 SIZE=20971520 SESSIONS=4 SINK_DELAY=1 benches/scripts/relay_rss.sh
#
# Two phases, so that the relay's memory is seen apart from intake's:
# 1. `smtp-source -s SESSIONS -m MESSAGES -l SIZE` sends to user@remote.test from a trusted loopback
#    client while the next hop is down: the server queues every message durably (its deliveries
#    are deferred and retried every second).
# 2. The server is restarted (the queue is durable), so that what intake left in its heap does
#    not hide what relaying takes; `smtp-sink -w SINK_DELAY -M MESSAGES` starts on the `relayhost`
#    port (each DATA answered after SINK_DELAY seconds) and the whole queue is relayed,
#    `destination_concurrency` (20) connections at once. The server's RSS is sampled every 0.2 s
#    until the sink has taken the last message.
# Printed: the RSS peak of phase 1 (VmHWM), and of phase 2 (VmHWM of the restarted server). Needs postfix (smtp-source, smtp-sink) and python3;
# FULL_SERVER_BIN names the binary (else a release build).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MESSAGES=${MESSAGES:-200}
SIZE=${SIZE:-20971520}
SESSIONS=${SESSIONS:-4}
SINK_DELAY=${SINK_DELAY:-1}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${FULL_SERVER_BIN:-$TARGET_DIR/release/examples/full_server}

PATH=$PATH:/usr/sbin
for p in smtp-source smtp-sink python3; do
  command -v "$p" >/dev/null || { echo "missing $p" >&2; exit 1; }
done
if [ -z "${FULL_SERVER_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --example full_server --quiet)
fi

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/mw-relay-rss-XXXXXX")
chmod 755 "$WORK"
MW_PID=
SINK_PID=
cleanup() {
  set +e
  [ -n "$SINK_PID" ] && kill -KILL "$SINK_PID" 2>/dev/null
  stop_pid "$MW_PID"
  wait 2>/dev/null
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

SINK_PORT=$(free_port)
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
max_message_size = $(( SIZE + 1048576 ))
[outbound]
relayhost = "[127.0.0.1]:$SINK_PORT"
trusted_networks = ["127.0.0.1"]
retry_schedule_secs = [1]
EOF
"$BIN" --data-dir "$MW" serve >"$WORK/mw.log" 2>&1 &
MW_PID=$!
wait_port "$MW_PORT"

rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
IDLE=$(rss_kib "$MW_PID" VmRSS)

# Phase 1: intake, the next hop down.
t0=$(now)
smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f sender@example.org -t user@remote.test \
  "127.0.0.1:$MW_PORT"
t1=$(now)
INTAKE_PEAK=$(rss_kib "$MW_PID" VmHWM)
QUEUED=$(find "$MW/queue" -maxdepth 1 -name '*.msg' | wc -l)

# Phase 2: relaying to the slow sink, from a restarted server.
stop_pid "$MW_PID"
"$BIN" --data-dir "$MW" serve >"$WORK/mw2.log" 2>&1 &
MW_PID=$!
wait_port "$MW_PORT"
SINK_USER=()
[ "$(id -u)" = 0 ] && SINK_USER=(-u nobody)
START=$(rss_kib "$MW_PID" VmRSS)
MAX=$START
smtp-sink "${SINK_USER[@]}" -w "$SINK_DELAY" -M "$MESSAGES" "127.0.0.1:$SINK_PORT" 256 >/dev/null 2>&1 &
SINK_PID=$!
t2=$(now)
deadline=$(( $(date +%s) + 3600 ))
while kill -0 "$SINK_PID" 2>/dev/null; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "the sink did not get $MESSAGES messages" >&2; exit 1; }
  r=$(rss_kib "$MW_PID" VmRSS)
  [ "${r:-0}" -gt "$MAX" ] && MAX=$r
  sleep 0.2
done
t3=$(now)
SINK_PID=
PEAK=$(rss_kib "$MW_PID" VmHWM)

secs() { python3 -c "print('%.0f' % ($2 - $1))"; }
echo "smtp-source -s $SESSIONS -m $MESSAGES -l $SIZE -> queue ($QUEUED queued, $(secs "$t0" "$t1") s), then -> smtp-sink -w $SINK_DELAY ($(secs "$t2" "$t3") s); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data relayed:               $(( MESSAGES * SIZE / 1048576 )) MiB ($MESSAGES x $(( SIZE / 1048576 )) MiB)"
echo "RSS before the load:        $(( IDLE / 1024 )) MiB"
echo "RSS peak while queueing:    $(( INTAKE_PEAK / 1024 )) MiB (VmHWM)"
echo "RSS while relaying:         $(( START / 1024 )) MiB at the start, peak $(( PEAK / 1024 )) MiB (VmHWM; sampled maximum $(( MAX / 1024 )) MiB)"
