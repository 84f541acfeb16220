#!/usr/bin/env bash
# The PostgreSQL store against the Maildir store, and two nodes behind HAProxy, in one run
# (issue #21's bench): SMTP intake with Postfix's `smtp-source`, the IMAP mix of
# `examples/imap_load` (own mailboxes) and the memory of idle IDLE connections.
#
#   benches/scripts/postgres_vs_maildir.sh
#   SESSIONS=20 MESSAGES=1000 DURATION=10 ROUNDS=3 IDLE=100 benches/scripts/postgres_vs_maildir.sh
#
# Three set-ups, each a release `full_server`:
#   - maildir: one node, the Maildir store (`fsync_changes = true`);
#   - postgres: one node on a private PostgreSQL (initdb in the work directory; fsync and
#     synchronous_commit on, its defaults, so an acknowledged message is as durable as in a
#     Maildir);
#   - 2 nodes: two nodes on that database behind HAProxy (round robin, `send-proxy-v2`).
# Rounds alternate the three; medians are compared with the maildir node. On a 2-core machine
# PostgreSQL competes with the nodes for the same cores: the figures say what one machine
# gives, not what a cluster would.
# Needs root (PostgreSQL runs as `postgres`), postgresql, haproxy, postfix (smtp-source), python3.
# FULL_SERVER_BIN / IMAP_LOAD_BIN: use these binaries instead of building the release examples.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SESSIONS=${SESSIONS:-20}
MESSAGES=${MESSAGES:-1000}
SIZE=${SIZE:-4096}
DURATION=${DURATION:-10}
MIX=${MIX:-fetch=3,store=2,append=2,expunge=2,noop=1}
ROUNDS=${ROUNDS:-1}
IDLE=${IDLE:-100}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${FULL_SERVER_BIN:-$TARGET_DIR/release/examples/full_server}
LOAD=${IMAP_LOAD_BIN:-$TARGET_DIR/release/examples/imap_load}

needs_root_and "PostgreSQL's server" haproxy smtp-source python3
[ -x "$PG_BIN/initdb" ] || { echo "missing $PG_BIN/initdb (postgresql)" >&2; exit 1; }
if [ -z "${FULL_SERVER_BIN:-}" ] || [ -z "${IMAP_LOAD_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --example full_server --example imap_load --quiet)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mw-pg-bench-XXXXXX")
chmod 755 "$WORK"
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
  [ -d "$WORK/pg/data" ] && su postgres -c "$PG_BIN/pg_ctl -D $WORK/pg/data stop -m fast" >/dev/null 2>&1
  wait 2>/dev/null
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

# --- PostgreSQL --------------------------------------------------------------------------------
PG_PORT=$(free_port)
mkdir -p "$WORK/pg"
chown postgres "$WORK/pg"
su postgres -c "$PG_BIN/initdb -D $WORK/pg/data -U postgres --auth=trust" >/dev/null
su postgres -c "$PG_BIN/pg_ctl -D $WORK/pg/data -l $WORK/pg/log -w start \
  -o '-k $WORK/pg -p $PG_PORT -c listen_addresses=127.0.0.1 -c max_connections=200'" >/dev/null
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -q \
  -c "CREATE ROLE mailwright LOGIN" -c "CREATE DATABASE mail OWNER mailwright"

# --- the nodes ---------------------------------------------------------------------------------
# node NAME STORE(maildir|postgres) direct|proxied: a running node with the load users and
# alice; prints "smtp-port imap-port pid".
node() {
  local dir=$WORK/$1 smtp imap i
  smtp=$(free_port)
  imap=$(free_port)
  "$BIN" --data-dir "$dir" domain add example.org >/dev/null
  for i in $(seq "$SESSIONS"); do
    echo load-pw | "$BIN" --data-dir "$dir" user add "load$i@example.org" --password-stdin --scheme plain >/dev/null
  done
  echo load-pw | "$BIN" --data-dir "$dir" user add alice@example.org --password-stdin --scheme plain >/dev/null
  {
    echo 'hostname = "localhost"'
    echo '[listen]'
    echo "smtp = [\"127.0.0.1:$smtp\"]"
    echo "imap = [\"127.0.0.1:$imap\"]"
    echo 'submission = []'
    echo 'submissions = []'
    echo 'lmtp = []'
    echo 'imaps = []'
    echo 'pop3 = []'
    echo 'pop3s = []'
    echo 'managesieve = []'
    if [ "$3" = proxied ]; then
      echo 'proxy_protocol = ["smtp", "imap"]'
      echo 'proxy_trusted = ["127.0.0.2"]'
    fi
    echo '[limits]'
    echo 'max_connections = 10000'
    echo 'max_connections_per_ip = 10000'
    echo '[storage]'
    echo 'fsync_changes = true'
    if [ "$2" = postgres ]; then
      echo '[store]'
      echo 'backend = "postgres"'
      echo "url = \"postgresql://mailwright@127.0.0.1:$PG_PORT/mail\""
      echo 'pool_size = 16'
    fi
  } >"$dir/mailwright.toml"
  "$BIN" --data-dir "$dir" serve >"$dir.log" 2>&1 &
  wait_port "$smtp"
  wait_port "$imap"
  echo "$smtp $imap $!"
}
read -r M_SMTP M_IMAP M_PID < <(node maildir maildir direct)
read -r P_SMTP P_IMAP P_PID < <(node postgres postgres direct)
read -r A_SMTP A_IMAP A_PID < <(node node-a postgres proxied)
read -r B_SMTP B_IMAP B_PID < <(node node-b postgres proxied)
PIDS+=("$M_PID" "$P_PID" "$A_PID" "$B_PID")

F_SMTP=$(free_port)
F_IMAP=$(free_port)
cat >"$WORK/haproxy.cfg" <<EOF
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend smtp
  bind 127.0.0.1:$F_SMTP
  default_backend smtp
backend smtp
  balance roundrobin
  server a 127.0.0.1:$A_SMTP send-proxy-v2 source 127.0.0.2
  server b 127.0.0.1:$B_SMTP send-proxy-v2 source 127.0.0.2
frontend imap
  bind 127.0.0.1:$F_IMAP
  default_backend imap
backend imap
  balance roundrobin
  server a 127.0.0.1:$A_IMAP send-proxy-v2 source 127.0.0.2
  server b 127.0.0.1:$B_IMAP send-proxy-v2 source 127.0.0.2
EOF
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
wait_port "$F_SMTP"
wait_port "$F_IMAP"

COMMON=(--host 127.0.0.1 --user-pattern 'load{}@example.org' --users "$SESSIONS" --password load-pw)

# --- memory per idle IDLE connection, one node each --------------------------------------------
idle_memory() { # name port pid
  local out=$WORK/idle-$1.out before after ready
  "$LOAD" "${COMMON[@]}" --port "$2" --idle "$SESSIONS" --duration 0 >/dev/null
  sleep 1
  before=$(awk '/^VmRSS:/ {print $2}' "/proc/$3/status")
  "$LOAD" "${COMMON[@]}" --port "$2" --idle "$IDLE" --duration 3 >"$out" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do grep -q '^READY' "$out" && break; sleep 0.1; done
  sleep 1
  after=$(awk '/^VmRSS:/ {print $2}' "/proc/$3/status")
  wait "$pid" || { echo "idle run against $1 failed:" >&2; cat "$out" >&2; exit 1; }
  ready=$(awk '/^READY/ {print $2}' "$out")
  [ "$ready" = "$IDLE" ] || { echo "only $ready of $IDLE idle sessions against $1" >&2; exit 1; }
  python3 -c "import sys; b,a,n=map(float,sys.argv[1:4]); print('%s: %d idle IDLE sessions, %.1f KiB per connection' % (sys.argv[4], n, (a-b)/n))" "$before" "$after" "$IDLE" "$1"
}
idle_memory maildir "$M_IMAP" "$M_PID"
idle_memory postgres "$P_IMAP" "$P_PID"

# --- SMTP intake and the IMAP mix, alternating -------------------------------------------------
smtp_rate() { # port -> msgs/s to the last 250
  local t0 t1
  t0=$(now)
  smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f sender@remote.test -t alice@example.org "127.0.0.1:$1" >/dev/null
  t1=$(now)
  rate "$MESSAGES" "$t0" "$t1"
}
imap_rate() { # name port -> commands/s
  local out=$WORK/load-$1-$round.out
  if ! "$LOAD" "${COMMON[@]}" --port "$2" --sessions "$SESSIONS" --duration "$DURATION" \
      --size "$SIZE" --mix "$MIX" --preload 20 --seed "$round" >"$out" 2>&1; then
    echo "imap_load against $1 failed:" >&2; cat "$out" >&2; exit 1
  fi
  sed -n 's/^RESULT .*ops_per_sec=\([0-9.]*\).*/\1/p' "$out"
}
declare -A SMTP IMAP
for round in $(seq "$ROUNDS"); do
  for set in maildir postgres two-nodes; do
    case $set in
      maildir) s=$M_SMTP i=$M_IMAP ;;
      postgres) s=$P_SMTP i=$P_IMAP ;;
      two-nodes) s=$F_SMTP i=$F_IMAP ;;
    esac
    SMTP[$set]="${SMTP[$set]:-} $(smtp_rate "$s")"
    IMAP[$set]="${IMAP[$set]:-} $(imap_rate "$set" "$i")"
    echo "round $round, $set: SMTP $(echo "${SMTP[$set]}" | awk '{print $NF}') msgs/s, IMAP $(echo "${IMAP[$set]}" | awk '{print $NF}') commands/s"
  done
done
echo "smtp-source -s $SESSIONS -m $MESSAGES -l $SIZE; imap_load --sessions $SESSIONS --duration $DURATION --mix $MIX; $ROUNDS round(s), medians; load average $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
for set in maildir postgres two-nodes; do
  sm=$(median ${SMTP[$set]})
  im=$(median ${IMAP[$set]})
  python3 -c "import sys; print('%-9s SMTP %6.0f msgs/s (%.2fx maildir), IMAP %6.0f commands/s (%.2fx maildir)' % (sys.argv[1], float(sys.argv[2]), float(sys.argv[2]) / float(sys.argv[4]), float(sys.argv[3]), float(sys.argv[3]) / float(sys.argv[5])))" \
    "$set" "$sm" "$im" "$(median ${SMTP[maildir]})" "$(median ${IMAP[maildir]})"
done
