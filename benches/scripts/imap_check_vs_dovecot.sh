#!/usr/bin/env bash
# The concurrency checker's mix as a benchmark: `examples/imap_check` (SESSIONS sessions of one
# user sharing one INBOX, random APPEND, STORE, EXPUNGE, FETCH, COPY, SEARCH and NOOP, all stopping
# every CHECKPOINT seconds to agree on the count, UIDs and flags) against full_server and a private
# Dovecot in one run, alternating rounds. Any NO, BAD, lost connection or disagreement fails the
# script, so every figure is error-free. Prints commands/s for each and the ratio of the medians.
#
#   benches/scripts/imap_check_vs_dovecot.sh
#   SESSIONS=10 DURATION=10 ROUNDS=3 benches/scripts/imap_check_vs_dovecot.sh
#   MAIL_FSYNC=always FSYNC_CHANGES=true benches/scripts/imap_check_vs_dovecot.sh
#
# - full_server stores in Maildir; Dovecot in mdbox (imap_check's docs: Dovecot's Maildir code
#   gives messages new UIDs under this much concurrency, which the checker reports as failures).
# - Durability: FSYNC_CHANGES (default true) is full_server's `[storage] fsync_changes` (flag
#   changes and expunges fsynced before the reply); MAIL_FSYNC (default always) is Dovecot's
#   `mail_fsync`, so by default both fsync every change before answering.
# Needs root (Dovecot's master), dovecot-imapd. Everything it starts is stopped on exit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SESSIONS=${SESSIONS:-10}
DURATION=${DURATION:-10}
CHECKPOINT=${CHECKPOINT:-1}
ROUNDS=${ROUNDS:-3}
FSYNC_CHANGES=${FSYNC_CHANGES:-true}
MAIL_FSYNC=${MAIL_FSYNC:-always}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${FULL_SERVER_BIN:-$TARGET_DIR/release/examples/full_server}
CHECK=${IMAP_CHECK_BIN:-$TARGET_DIR/release/examples/imap_check}

needs_root_and "Dovecot's master" dovecot python3

if [ -z "${FULL_SERVER_BIN:-}" ] || [ -z "${IMAP_CHECK_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --example full_server --example imap_check --quiet)
fi

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/mw-imap-check-bench-XXXXXX")
chmod 755 "$WORK"
MW_PID=
DC_PID=
cleanup() {
  set +e
  stop_pid "$MW_PID"
  stop_pid "$DC_PID"
  wait 2>/dev/null
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

# --- full_server -------------------------------------------------------------------------------
MW=$WORK/mw
MW_PORT=$(free_port)
"$BIN" --data-dir "$MW" domain add example.org >/dev/null
echo check-pw | "$BIN" --data-dir "$MW" user add check@example.org --password-stdin --scheme plain >/dev/null
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
echo "check@example.org:{PLAIN}check-pw" > "$DC/passwd"
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
mail_location = mdbox:~/mdbox
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

run_check() { # name port -> prints commands/s
  local out=$WORK/check-$1-$round.out
  if ! "$CHECK" --host 127.0.0.1 --port "$2" --user check@example.org --password check-pw \
      --sessions "$SESSIONS" --duration "$DURATION" --checkpoint "$CHECKPOINT" --seed "$round" \
      >"$out" 2>&1; then
    echo "imap_check against $1 failed (errors or disagreements):" >&2; cat "$out" >&2; exit 1
  fi
  tail -1 "$out" >&2
  local commands
  commands=$(sed -n 's/^RESULT commands=\([0-9]*\).*/\1/p' "$out")
  python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$commands" "$DURATION"
}
MW_RATES=()
DC_RATES=()
for round in $(seq "$ROUNDS"); do
  MW_RATES+=("$(run_check full_server "$MW_PORT")")
  DC_RATES+=("$(run_check Dovecot "$DC_PORT")")
  echo "round $round: full_server ${MW_RATES[-1]} commands/s, Dovecot ${DC_RATES[-1]} commands/s"
done
MW_RATE=$(median "${MW_RATES[@]}")
DC_RATE=$(median "${DC_RATES[@]}")
echo "imap_check --sessions $SESSIONS --duration $DURATION --checkpoint $CHECKPOINT, one shared INBOX, $ROUNDS round(s), medians, zero errors; full_server Maildir fsync_changes=$FSYNC_CHANGES, Dovecot mdbox mail_fsync=$MAIL_FSYNC; on $(df --output=source "$WORK" | tail -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "full_server: $MW_RATE commands/s"
echo "Dovecot:     $DC_RATE commands/s"
ratio "$MW_RATE" "$DC_RATE" Dovecot
