#!/usr/bin/env bash
# IMAP throughput and memory per idle connection: full_server against a private Dovecot, in one
# run, with our load generator `examples/imap_load.rs` driving both with the same parameters.
#
#   benches/scripts/imap_vs_dovecot.sh          # defaults below
#   SESSIONS=20 DURATION=10 SIZE=4096 ROUNDS=3 IDLE=500 benches/scripts/imap_vs_dovecot.sh
#   FSYNC_CHANGES=false benches/scripts/imap_vs_dovecot.sh     # both with Dovecot's fsync policy
#   MAIL_FSYNC=always benches/scripts/imap_vs_dovecot.sh       # Dovecot fsyncing everything
#   BENCH_DIR=/mnt/ext4 benches/scripts/imap_vs_dovecot.sh     # Maildirs on another file system
#   JOURNALED=1 benches/scripts/imap_vs_dovecot.sh             # on a fresh journaled ext4 (loop)
#
# - Users load1..loadN@example.org (N = SESSIONS, password `load-pw`), created with the admin
#   subcommands for full_server and in a passwd-file for Dovecot, so each session owns its INBOX
#   and imap_load runs its strict consistency checks (any failure fails the script).
# - Both store into a Maildir under the same work directory (same disk). full_server answers
#   APPEND only once the message file and its directory are fsynced; Dovecot runs with its
#   defaults (`mail_fsync = optimized`: the message file is fsynced before the OK; flag changes
#   and expunges are not). FSYNC_CHANGES (default true) sets full_server's `[storage]
#   fsync_changes` (false: Dovecot's policy); MAIL_FSYNC (default optimized) sets Dovecot's.
# - Mix: MIX (imap_load's default: fetch=3,store=2,append=2,expunge=2,noop=1; an `expunge` is
#   STORE +FLAGS.SILENT (\Deleted) then EXPUNGE). ROUNDS > 1 alternates the two servers and
#   compares medians. Prints commands/s for each and the ratio.
# - Memory per idle connection: IDLE sessions LOGIN, SELECT INBOX and sit in IDLE; the memory
#   of the server is read before and while they idle. full_server: VmRSS of its one process.
#   Dovecot: the sum of Pss (proportional set size, so shared pages are not counted once per
#   process) over the master and its children (one `imap` process per connection). Measured on
#   freshly started servers, before the throughput runs.
# Needs root (Dovecot's master), dovecot-imapd, python3. Everything it starts is stopped on exit
# (trap), and its work directory removed (KEEP_WORK=1 keeps it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SESSIONS=${SESSIONS:-20}
DURATION=${DURATION:-10}
SIZE=${SIZE:-4096}
MIX=${MIX:-fetch=3,store=2,append=2,expunge=2,noop=1}
ROUNDS=${ROUNDS:-1}
IDLE=${IDLE:-300}
FSYNC_CHANGES=${FSYNC_CHANGES:-true}
MAIL_FSYNC=${MAIL_FSYNC:-optimized}
PRELOAD=${PRELOAD:-20}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# FULL_SERVER_BIN / IMAP_LOAD_BIN: use these binaries instead of building the release examples.
BIN=${FULL_SERVER_BIN:-$TARGET_DIR/release/examples/full_server}
LOAD=${IMAP_LOAD_BIN:-$TARGET_DIR/release/examples/imap_load}

needs_root_and "Dovecot's master" dovecot python3

if [ -z "${FULL_SERVER_BIN:-}" ] || [ -z "${IMAP_LOAD_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --example full_server --example imap_load --quiet)
fi

# JOURNALED=1: a 3 GiB ext4 image with its default journal, loop-mounted for the run (a root
# file system without a journal charges every file creation for the files deleted just before;
# production file systems journal).
LOOP_MNT=
LOOP_IMG=
if [ -n "${JOURNALED:-}" ]; then
  LOOP_IMG=$(mktemp "${TMPDIR:-/tmp}/mw-imap-bench-ext4-XXXXXX.img")
  LOOP_MNT=$(mktemp -d "${TMPDIR:-/tmp}/mw-imap-bench-mnt-XXXXXX")
  truncate -s 3G "$LOOP_IMG"
  mkfs.ext4 -q -F "$LOOP_IMG"
  mount -o loop "$LOOP_IMG" "$LOOP_MNT"
  BENCH_DIR=$LOOP_MNT
fi
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/mw-imap-bench-XXXXXX")
chmod 755 "$WORK"
MW_PID=
DC_PID=
IDLE_PID=
cleanup() {
  set +e
  [ -n "$IDLE_PID" ] && kill -TERM "$IDLE_PID" 2>/dev/null
  stop_pid "$MW_PID"
  stop_pid "$DC_PID"
  wait 2>/dev/null
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
  if [ -n "$LOOP_MNT" ] && [ -n "${KEEP_WORK:-}" ]; then
    echo "left $LOOP_IMG mounted at $LOOP_MNT" >&2
  elif [ -n "$LOOP_MNT" ]; then
    umount "$LOOP_MNT" && rmdir "$LOOP_MNT"
    rm -f "$LOOP_IMG"
  fi
}
trap cleanup EXIT INT TERM

# Memory in KiB: VmRSS of one process, or the sum of Pss of a process and its children.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
pss_tree_kib() {
  local total=0 p v
  for p in "$1" $(ps -o pid= --ppid "$1"); do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# --- full_server -------------------------------------------------------------------------------
MW=$WORK/mw
MW_PORT=$(free_port)
"$BIN" --data-dir "$MW" domain add example.org >/dev/null
for i in $(seq "$SESSIONS"); do
  echo load-pw | "$BIN" --data-dir "$MW" user add "load$i@example.org" --password-stdin --scheme plain >/dev/null
done
cat > "$MW/mailwright.toml" <<EOF
hostname = "localhost"
[listen]
smtp = []
submission = []
submissions = []
lmtp = []
imap = ["127.0.0.1:$MW_PORT"]
imaps = []
pop3 = []
pop3s = []
managesieve = []
[limits]
max_connections = 10000
max_connections_per_ip = 10000
[storage]
fsync_changes = $FSYNC_CHANGES
EOF
"$BIN" --data-dir "$MW" serve >"$WORK/mw.log" 2>&1 &
MW_PID=$!
wait_port "$MW_PORT"

# --- Dovecot -----------------------------------------------------------------------------------
DC=$WORK/dc
DC_PORT=$(free_port)
mkdir -p "$DC/run" "$DC/state" "$DC/home"
: > "$DC/passwd"
for i in $(seq "$SESSIONS"); do echo "load$i@example.org:{PLAIN}load-pw" >> "$DC/passwd"; done
cat > "$DC/dovecot.conf" <<EOF
base_dir = $DC/run
state_dir = $DC/state
log_path = $DC/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 8
mail_max_userip_connections = 100000
default_process_limit = 10000
default_client_limit = 100000
passdb {
  driver = passwd-file
  args = scheme=PLAIN $DC/passwd
}
userdb {
  driver = static
  args = uid=8 gid=8 home=$DC/home/%u
}
mail_location = maildir:~/Maildir
mail_fsync = $MAIL_FSYNC
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DC_PORT
  }
}
EOF
chown -R 8:8 "$DC/home"
dovecot -F -c "$DC/dovecot.conf" >"$WORK/dc.out" 2>&1 &
DC_PID=$!
wait_port "$DC_PORT"

COMMON=(--host 127.0.0.1 --user-pattern 'load{}@example.org' --users "$SESSIONS" --password load-pw)

# --- memory per idle IDLE connection (fresh servers) -------------------------------------------
idle_memory() { # name port pid measure-function
  local name=$1 port=$2 pid=$3 fn=$4 before after out
  "$LOAD" "${COMMON[@]}" --port "$port" --idle "$SESSIONS" --duration 0 >/dev/null # warm: one login per user
  sleep 1
  before=$($fn "$pid")
  out=$WORK/idle-$name.out
  "$LOAD" "${COMMON[@]}" --port "$port" --idle "$IDLE" --duration 3 >"$out" 2>&1 &
  IDLE_PID=$!
  for _ in $(seq 600); do grep -q '^READY' "$out" && break; sleep 0.1; done
  sleep 1
  after=$($fn "$pid")
  wait "$IDLE_PID" || { echo "idle run against $name failed:" >&2; cat "$out" >&2; exit 1; }
  IDLE_PID=
  local ready
  ready=$(awk '/^READY/ {print $2}' "$out")
  [ "$ready" = "$IDLE" ] || { echo "only $ready of $IDLE idle sessions against $name" >&2; exit 1; }
  python3 -c "import sys; b,a,n=map(float,sys.argv[1:4]); print('%s: %d idle IDLE sessions: %.0f KiB -> %.0f KiB, %.1f KiB per connection' % (sys.argv[4], n, b, a, (a-b)/n))" "$before" "$after" "$IDLE" "$name"
}
MW_IDLE=$(idle_memory full_server "$MW_PORT" "$MW_PID" rss_kib)
DC_IDLE=$(idle_memory Dovecot "$DC_PORT" "$DC_PID" pss_tree_kib)
echo "$MW_IDLE"
echo "$DC_IDLE"

# --- throughput --------------------------------------------------------------------------------
run_load() { # name port -> prints ops/s
  local out=$WORK/load-$1-$round.out
  if ! "$LOAD" "${COMMON[@]}" --port "$2" --sessions "$SESSIONS" --duration "$DURATION" \
      --size "$SIZE" --mix "$MIX" --preload "$PRELOAD" --seed "$round" >"$out" 2>&1; then
    echo "imap_load against $1 failed (errors or inconsistencies):" >&2; cat "$out" >&2; exit 1
  fi
  cat "$out" >&2
  sed -n 's/^RESULT .*ops_per_sec=\([0-9.]*\).*/\1/p' "$out"
}
MW_RATES=()
DC_RATES=()
for round in $(seq "$ROUNDS"); do
  echo "--- round $round: full_server" >&2
  MW_RATES+=("$(run_load full_server "$MW_PORT")")
  echo "--- round $round: Dovecot" >&2
  DC_RATES+=("$(run_load Dovecot "$DC_PORT")")
  echo "round $round: full_server ${MW_RATES[-1]} commands/s, Dovecot ${DC_RATES[-1]} commands/s"
done
MW_RATE=$(median "${MW_RATES[@]}")
DC_RATE=$(median "${DC_RATES[@]}")
ROUND_RATIOS=()
for i in "${!MW_RATES[@]}"; do
  ROUND_RATIOS+=("$(python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) / float(sys.argv[2])))" "${MW_RATES[$i]}" "${DC_RATES[$i]}")")
done

echo "imap_load --sessions $SESSIONS --duration $DURATION --size $SIZE --mix $MIX, one user per session, $ROUNDS round(s), medians; full_server fsync_changes=$FSYNC_CHANGES, Dovecot mail_fsync=$MAIL_FSYNC; Maildirs on $(df --output=source "$WORK" | tail -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "full_server: $MW_RATE commands/s"
echo "Dovecot:     $DC_RATE commands/s"
ratio "$MW_RATE" "$DC_RATE" Dovecot
echo "per-round ratios: ${ROUND_RATIOS[*]} (median $(median "${ROUND_RATIOS[@]}"))"
echo "$MW_IDLE"
echo "$DC_IDLE"
