#!/usr/bin/env bash
# SMTP receive-and-deliver throughput: full_server against a private Postfix, in one run, with
# Postfix's own load generator `smtp-source`.
#
#   benches/scripts/smtp_vs_postfix.sh            # defaults: -s 20 -m 2000 -l 4096
#   SESSIONS=20 MESSAGES=2000 SIZE=4096 ROUNDS=3 benches/scripts/smtp_vs_postfix.sh
#
# Both servers take the same stream (`smtp-source -s SESSIONS -m MESSAGES -l SIZE`, one recipient,
# alice@example.org) on loopback, into a Maildir in the same directory on the same disk:
#   - full_server (release build): a 250 after DATA means the copy is fsynced in the Maildir (file and
#     directory), so the clock stops when smtp-source has its last 250.
#   - Postfix: smtpd -> queue (fsynced) -> qmgr -> `virtual` delivery to a Maildir (fsynced file,
#     then rename into new/). A 250 from Postfix means "queued", not "in the Maildir", so its clock
#     stops when the last message is in new/ (its "accept rate", to the 250s, is printed too).
# With ROUNDS > 1 the two alternate and the medians are compared. Prints msgs/s for each and the
# ratio. Needs root (Postfix's master), postfix (smtp-source), python3.
# Everything it starts is stopped on exit (trap), and its work directory removed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SESSIONS=${SESSIONS:-20}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-4096}
ROUNDS=${ROUNDS:-1}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# FULL_SERVER_BIN: use this binary instead of building the release example.
BIN=${FULL_SERVER_BIN:-$TARGET_DIR/release/examples/full_server}

needs_root_and "Postfix's master" postfix smtp-source python3

if [ -z "${FULL_SERVER_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --example full_server --quiet)
fi

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/mw-bench-XXXXXX")
chmod 755 "$WORK"
MW_PID=
PF_PID=
cleanup() {
  set +e
  stop_pid "$MW_PID"
  stop_postfix "$WORK/pf/conf" "$WORK/pf/queue" "$PF_PID"
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

# --- full_server -----------------------------------------------------------------------------
MW=$WORK/mw
MW_PORT=$(free_port)
"$BIN" --data-dir "$MW" domain add example.org >/dev/null
echo alice-pw | "$BIN" --data-dir "$MW" user add alice@example.org --password-stdin --scheme plain >/dev/null
cat > "$MW/mailwright.toml" <<EOF
hostname = "localhost"
[listen]
smtp = ["127.0.0.1:$MW_PORT"]
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
EOF
"$BIN" --data-dir "$MW" serve >"$WORK/mw.log" 2>&1 &
MW_PID=$!
wait_port "$MW_PORT"
MW_NEW=$MW/mail/example.org/alice/Maildir/new

# --- Postfix -> virtual -> Maildir -------------------------------------------------------------
PF=$WORK/pf
PF_PORT=$(free_port)
mkdir -p "$PF/conf" "$PF/queue" "$PF/data" "$PF/mail/example.org/alice/Maildir"/{cur,new,tmp}
chown postfix "$PF/data"
chown -R mail:mail "$PF/mail"
echo "alice@example.org example.org/alice/Maildir/" > "$PF/conf/vmailbox"
{
  postfix_main_cf_base "$PF"
  echo "default_transport = error:outbound mail disabled in this benchmark"
  echo "relay_transport = error:outbound mail disabled in this benchmark"
  echo "local_transport = error:local delivery disabled in this benchmark"
  echo "virtual_mailbox_domains = example.org"
  echo "virtual_mailbox_base = $PF/mail"
  echo "virtual_mailbox_maps = texthash:$PF/conf/vmailbox"
  echo "virtual_minimum_uid = 8"
  echo "virtual_uid_maps = static:8"
  echo "virtual_gid_maps = static:8"
  echo "virtual_mailbox_limit = 0"
} > "$PF/conf/main.cf"
postfix_master_cf "$PF_PORT" > "$PF/conf/master.cf"
postfix -c "$PF/conf" check
postfix -c "$PF/conf" start-fg >"$WORK/pf.out" 2>&1 &
PF_PID=$!
wait_port "$PF_PORT"
PF_NEW=$PF/mail/example.org/alice/Maildir/new

# --- measurement: ROUNDS rounds, each full_server then Postfix, so both see the same machine -----
# full_server's clock stops at its last 250 (the copies are then fsynced in the Maildir); Postfix's
# when the last message is in new/ (its 250s only mean "queued"; that rate is printed as well).
MW_RATES=()
PF_RATES=()
PF_ACCEPTS=()
for round in $(seq "$ROUNDS"); do
  t0=$(now)
  smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f sender@remote.test -t alice@example.org "127.0.0.1:$MW_PORT"
  t1=$(now)
  wait_count "$MW_NEW" $((round * MESSAGES)) 5
  MW_RATES+=("$(rate "$MESSAGES" "$t0" "$t1")")

  t0=$(now)
  smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f sender@remote.test -t alice@example.org "127.0.0.1:$PF_PORT"
  t1=$(now)
  wait_count "$PF_NEW" $((round * MESSAGES)) 600
  t2=$(now)
  PF_ACCEPTS+=("$(rate "$MESSAGES" "$t0" "$t1")")
  PF_RATES+=("$(rate "$MESSAGES" "$t0" "$t2")")
  echo "round $round: full_server ${MW_RATES[-1]} msgs/s, Postfix ${PF_RATES[-1]} msgs/s into the Maildir (${PF_ACCEPTS[-1]} msgs/s queued)"
done
MW_RATE=$(median "${MW_RATES[@]}")
PF_RATE=$(median "${PF_RATES[@]}")
PF_ACCEPT=$(median "${PF_ACCEPTS[@]}")

echo "smtp-source -s $SESSIONS -m $MESSAGES -l $SIZE, one recipient, $ROUNDS round(s), medians; Maildirs on $(df --output=source "$WORK" | tail -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "full_server:                 $MW_RATE msgs/s (250 = fsynced in the Maildir)"
echo "Postfix smtpd -> virtual:    $PF_RATE msgs/s into the Maildir (its 250s, queued only: $PF_ACCEPT msgs/s)"
ratio "$MW_RATE" "$PF_RATE" Postfix
