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

SESSIONS=${SESSIONS:-20}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-4096}
ROUNDS=${ROUNDS:-1}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# FULL_SERVER_BIN: use this binary instead of building the release example.
BIN=${FULL_SERVER_BIN:-$TARGET_DIR/release/examples/full_server}

[ "$(id -u)" = 0 ] || { echo "needs root (Postfix's master runs as root)" >&2; exit 1; }
for p in postfix smtp-source python3; do
  command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || { echo "missing $p" >&2; exit 1; }
done
PATH=$PATH:/usr/sbin

if [ -z "${FULL_SERVER_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --example full_server --quiet)
fi

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/mw-bench-XXXXXX")
chmod 755 "$WORK"
MW_PID=
PF_PID=
cleanup() {
  set +e
  if [ -n "$MW_PID" ] && kill -0 "$MW_PID" 2>/dev/null; then
    kill -TERM "$MW_PID"
    for _ in $(seq 50); do kill -0 "$MW_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$MW_PID" 2>/dev/null
  fi
  if [ -n "$PF_PID" ]; then
    timeout 20 postfix -c "$WORK/pf/conf" stop >/dev/null 2>&1
    for _ in $(seq 100); do kill -0 "$PF_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PF_PID" 2>/dev/null; then
      master=$(cat "$WORK/pf/queue/pid/master.pid" 2>/dev/null | tr -d ' ')
      [ -n "$master" ] && kill -KILL "$master" 2>/dev/null
      kill -KILL "$PF_PID" 2>/dev/null
    fi
  fi
  wait 2>/dev/null
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }
count_new() { ls -U1 "$1" 2>/dev/null | wc -l; }
rate() { python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2]))))" "$@"; }
wait_port() {
  for _ in $(seq 300); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2; return 1
}
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
cat > "$PF/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.test
mydomain = postfix.test
myorigin = postfix.test
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
default_transport = error:outbound mail disabled in this benchmark
relay_transport = error:outbound mail disabled in this benchmark
local_transport = error:local delivery disabled in this benchmark
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
virtual_mailbox_domains = example.org
virtual_mailbox_base = $PF/mail
virtual_mailbox_maps = texthash:$PF/conf/vmailbox
virtual_minimum_uid = 8
virtual_uid_maps = static:8
virtual_gid_maps = static:8
virtual_mailbox_limit = 0
message_size_limit = 0
EOF
# Nothing chrooted: the queue and the mail live under $WORK.
cat > "$PF/conf/master.cf" <<EOF
127.0.0.1:$PF_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
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
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
MW_RATE=$(median "${MW_RATES[@]}")
PF_RATE=$(median "${PF_RATES[@]}")
PF_ACCEPT=$(median "${PF_ACCEPTS[@]}")

echo "smtp-source -s $SESSIONS -m $MESSAGES -l $SIZE, one recipient, $ROUNDS round(s), medians; Maildirs on $(df --output=source "$WORK" | tail -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "full_server:                 $MW_RATE msgs/s (250 = fsynced in the Maildir)"
echo "Postfix smtpd -> virtual:    $PF_RATE msgs/s into the Maildir (its 250s, queued only: $PF_ACCEPT msgs/s)"
python3 -c "import sys; print('ratio full_server / Postfix: %.2fx' % (float(sys.argv[1]) / float(sys.argv[2])))" "$MW_RATE" "$PF_RATE"
