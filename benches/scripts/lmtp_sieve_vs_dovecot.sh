#!/usr/bin/env bash
# LMTP delivery with Sieve: full_server's LMTP listener against a private Dovecot LMTP with
# Pigeonhole, in one run, the same 50-rule script for every recipient and the same messages to
# both, driven by Postfix's load generator `smtp-source -L`.
#
#   benches/scripts/lmtp_sieve_vs_dovecot.sh          # defaults: -s 20 -m 2000 (in total), 3 rounds
#   SESSIONS=20 MESSAGES=2000 RCPTS=1 ROUNDS=3 benches/scripts/lmtp_sieve_vs_dovecot.sh
#
# - The script (written below, 50 `if` rules: header, address and envelope tests, fileinto
#   :create, addflag, some stop) is each user's active `~/.dovecot.sieve` on both servers.
# - Four kinds of message (about 4 KiB each), a quarter of MESSAGES and SESSIONS each, sent at
#   once by four smtp-source: a mailing-list post (fileinto "Lists", stop, at rule 22), a
#   receipt (fileinto "Receipts", to the end), a personal mail no rule files (all 50 rules,
#   implicit keep, one addflag) and a spam-flagged one (fileinto "Junk", stop, at rule 49).
# - RCPTS recipients per message (u, 2u .. Nu@example.org; with 1, alice@example.org): the
#   script runs once per recipient.
# - Durability is equal: full_server answers 250 per recipient once the copy and its directory
#   are fsynced; Dovecot runs with its default `mail_fsync = optimized` (the file is fsynced before
#   the reply). Both write Maildirs in the same work directory.
# - The clock stops at the last smtp-source's exit (each waits for every LMTP reply). After each
#   round the copies in the Maildirs are counted (all of them must be there), and at the end the
#   copies per folder are printed for both: they must be the same.
# Needs root (Dovecot's master), dovecot-lmtpd, dovecot-sieve, smtp-source (postfix), python3.
# FULL_SERVER_BIN names a binary instead of building the release example. Everything it starts is
# stopped on exit (trap), and its work directory removed (KEEP_WORK=1 keeps it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SESSIONS=${SESSIONS:-20}
MESSAGES=${MESSAGES:-2000}
RCPTS=${RCPTS:-1}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${FULL_SERVER_BIN:-$TARGET_DIR/release/examples/full_server}

needs_root_and "Dovecot's master" dovecot smtp-source python3
[ -e /usr/lib/dovecot/lmtp ] || { echo "missing dovecot-lmtpd" >&2; exit 1; }
[ -e /usr/lib/dovecot/modules/lib90_sieve_plugin.so ] || { echo "missing dovecot-sieve" >&2; exit 1; }
[ $((SESSIONS % 4)) = 0 ] && [ $((MESSAGES % 4)) = 0 ] || { echo "SESSIONS and MESSAGES: multiples of 4" >&2; exit 1; }

if [ -z "${FULL_SERVER_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --example full_server --quiet)
fi

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/mw-lmtp-bench-XXXXXX")
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

USERS=()
if [ "$RCPTS" = 1 ]; then
  USERS=(alice@example.org)
  TO=alice@example.org
else
  USERS=(u@example.org)
  for i in $(seq 2 "$RCPTS"); do USERS+=("${i}u@example.org"); done
  TO=u@example.org # smtp-source -r N sends to Nu@ .. 2u@ and u@
fi

# --- the Sieve script: 50 rules ----------------------------------------------------------------
SCRIPT=$WORK/rules.sieve
{
  echo 'require ["fileinto", "envelope", "imap4flags", "mailbox"];'
  echo '# 1-10: alerts from monitoring, by envelope sender'
  for i in $(seq 10); do
    printf 'if envelope :is "from" "alerts%d@monitor.example.com" {\n  addflag "\\\\Flagged";\n  fileinto :create "Alerts";\n  stop;\n}\n' "$i"
  done
  echo '# 11-22: mailing lists, by List-Id'
  for i in $(seq 12); do
    printf 'if header :contains "List-Id" "<list%d.lists.example.net>" {\n  fileinto :create "Lists";\n  stop;\n}\n' "$i"
  done
  echo '# 23-32: receipts, by the From domain'
  for i in $(seq 10); do
    printf 'if address :is :domain "from" "shop%d.example.com" {\n  fileinto :create "Receipts";\n}\n' "$i"
  done
  echo '# 33-40: tickets, by Subject'
  for i in $(seq 8); do
    printf 'if header :matches "subject" "*[TICKET-%d*]*" {\n  addflag "$Work";\n  fileinto :create "Work";\n}\n' "$i"
  done
  echo '# 41-46: people, by address'
  for i in $(seq 6); do
    printf 'if anyof (address :is "from" "friend%d@family.example.org", address :is "cc" "friend%d@family.example.org") {\n  addflag "$Family";\n}\n' "$i" "$i"
  done
  cat <<'EOF'
# 47: automatic mail
if exists "Auto-Submitted" {
  if not header :is "Auto-Submitted" "no" {
    fileinto :create "Automatic";
    stop;
  }
}
# 48: large mail
if size :over 5M {
  addflag "$Large";
}
# 49: spam flagged by a filter
if anyof (header :is "X-Spam-Flag" "YES", header :contains "X-Spam-Status" "Yes,") {
  fileinto :create "Junk";
  stop;
}
# 50: mail to an old address
if address :localpart :is ["to", "cc"] "old-alias" {
  addflag "$Old";
}
EOF
} > "$SCRIPT"
[ "$(grep -c '^if ' "$SCRIPT")" = 50 ] || { echo "the script does not have 50 rules" >&2; exit 1; }

# --- the messages ------------------------------------------------------------------------------
body() { # about 4 KiB of text
  for i in $(seq 60); do echo "Line $i of the message body, ordinary text that says nothing much at all."; done
}
message() { # kind from extra-headers subject
  {
    echo "From: $2"
    echo "To: Alice <alice@example.org>"
    echo "Subject: $4"
    echo "Date: Mon, 07 Dec 2026 12:00:00 +0000"
    echo "Message-ID: <$1-bench@example.net>"
    echo "MIME-Version: 1.0"
    echo "Content-Type: text/plain; charset=us-ascii"
    [ -n "$3" ] && printf '%b\n' "$3"
    echo
    body
  } > "$WORK/msg-$1.eml"
}
message list "Bob <bob@lists.example.net>" 'List-Id: Dev talk <list12.lists.example.net>\nPrecedence: list' "Re: the release plan"
message receipt "Orders <orders@shop10.example.com>" '' "Your order 12345"
message personal "Carol <carol@example.net>" 'Cc: friend6@family.example.org' "Dinner on Friday?"
message spam "Prize <win@spam.example.biz>" 'X-Spam-Flag: YES\nX-Spam-Status: Yes, score=12.3 required=5.0' "You have won"
KINDS=(list receipt personal spam)
# Envelope senders: none matches an alerts rule, so the envelope tests all run.
declare -A FROM=([list]=bob@lists.example.net [receipt]=orders@shop10.example.com [personal]=carol@example.net [spam]=win@spam.example.biz)

# --- full_server -------------------------------------------------------------------------------
MW=$WORK/mw
MW_PORT=$(free_port)
"$BIN" --data-dir "$MW" domain add example.org >/dev/null
for u in "${USERS[@]}"; do
  echo pw | "$BIN" --data-dir "$MW" user add "$u" --password-stdin --scheme plain >/dev/null
  home=$MW/mail/example.org/${u%@*}
  mkdir -p "$home"
  cp "$SCRIPT" "$home/.dovecot.sieve"
done
cat > "$MW/mailwright.toml" <<EOF
hostname = "localhost"
[listen]
smtp = []
submission = []
submissions = []
lmtp = ["127.0.0.1:$MW_PORT"]
imap = []
imaps = []
pop3 = []
pop3s = []
managesieve = []
[limits]
max_connections = 10000
max_connections_per_ip = 10000
EOF
"$BIN" --data-dir "$MW" serve >"$WORK/mw.log" 2>&1 &
MW_PID=$!
wait_port "$MW_PORT"

# --- Dovecot -----------------------------------------------------------------------------------
DC=$WORK/dc
DC_PORT=$(free_port)
mkdir -p "$DC/run" "$DC/state" "$DC/home"
: > "$DC/passwd"
for u in "${USERS[@]}"; do
  echo "$u:{PLAIN}pw" >> "$DC/passwd"
  mkdir -p "$DC/home/$u"
  cp "$SCRIPT" "$DC/home/$u/.dovecot.sieve"
done
cat > "$DC/dovecot.conf" <<EOF
base_dir = $DC/run
state_dir = $DC/state
log_path = $DC/dovecot.log
listen = 127.0.0.1
protocols = lmtp
ssl = no
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 8
default_process_limit = 200
default_client_limit = 1000
postmaster_address = postmaster@example.org
hostname = localhost
passdb {
  driver = passwd-file
  args = scheme=PLAIN $DC/passwd
}
userdb {
  driver = static
  args = uid=8 gid=8 home=$DC/home/%u
}
mail_location = maildir:~/Maildir
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $DC_PORT
  }
}
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
}
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
}
EOF
chown -R 8:8 "$DC/home"
dovecot -F -c "$DC/dovecot.conf" >"$WORK/dc.out" 2>&1 &
DC_PID=$!
wait_port "$DC_PORT"

# --- the runs ----------------------------------------------------------------------------------
copies() { # maildir: messages in every folder's new/ and cur/
  find "$1" -type f \( -path '*/new/*' -o -path '*/cur/*' \) 2>/dev/null | wc -l
}
per_folder() { # maildir: "folder count" lines
  find "$1" -type f \( -path '*/new/*' -o -path '*/cur/*' \) 2>/dev/null \
    | sed -e "s#^$1/##" -e 's#^\(new\|cur\)/.*#INBOX#' -e 's#/\(new\|cur\)/.*##' -e 's#^\.##' \
    | sort | uniq -c | awk '{print $2 " " $1}'
}
mw_maildirs() { for u in "${USERS[@]}"; do echo "$MW/mail/example.org/${u%@*}/Maildir"; done; }
dc_maildirs() { for u in "${USERS[@]}"; do echo "$DC/home/$u/Maildir"; done; }
total_copies() { local n=0 d; for d in $($1); do n=$((n + $(copies "$d"))); done; echo "$n"; }

send_all() { # port -> runs the four smtp-source at once, returns when all are done
  local pids=() k rflag=()
  [ "$RCPTS" = 1 ] || rflag=(-r "$RCPTS")
  for k in "${KINDS[@]}"; do
    smtp-source -L -s $((SESSIONS / 4)) -m $((MESSAGES / 4)) "${rflag[@]}" -F "$WORK/msg-$k.eml" \
      -f "${FROM[$k]}" -t "$TO" "127.0.0.1:$1" >"$WORK/source-$k.out" 2>&1 &
    pids+=($!)
  done
  local failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  [ "$failed" = 0 ] || { echo "smtp-source failed:" >&2; cat "$WORK"/source-*.out >&2; exit 1; }
}

MW_RATES=()
DC_RATES=()
for round in $(seq "$ROUNDS"); do
  for who in mw dc; do
    port=$MW_PORT
    [ "$who" = dc ] && port=$DC_PORT
    t0=$(now)
    send_all "$port"
    t1=$(now)
    want=$((round * MESSAGES * RCPTS))
    got=$(total_copies "${who}_maildirs")
    [ "$got" = "$want" ] || { echo "$who: $got copies in the Maildirs, want $want" >&2; exit 1; }
    r=$(rate "$((MESSAGES * RCPTS))" "$t0" "$t1")
    if [ "$who" = mw ]; then MW_RATES+=("$r"); else DC_RATES+=("$r"); fi
  done
  echo "round $round: full_server ${MW_RATES[-1]} deliveries/s, Dovecot ${DC_RATES[-1]} deliveries/s"
done
MW_RATE=$(median "${MW_RATES[@]}")
DC_RATE=$(median "${DC_RATES[@]}")

MW_FOLDERS=$(for d in $(mw_maildirs); do per_folder "$d"; done | sort)
DC_FOLDERS=$(for d in $(dc_maildirs); do per_folder "$d"; done | sort)
echo "copies per folder, full_server: $(echo "$MW_FOLDERS" | tr '\n' ' ')"
echo "copies per folder, Dovecot:     $(echo "$DC_FOLDERS" | tr '\n' ' ')"
[ "$MW_FOLDERS" = "$DC_FOLDERS" ] || { echo "the two servers filed the messages differently" >&2; exit 1; }

echo "smtp-source -L, $SESSIONS sessions, $MESSAGES messages x $RCPTS recipient(s) per round, 50-rule Sieve script, $ROUNDS round(s), medians; Dovecot mail_fsync=optimized; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "full_server: $MW_RATE deliveries/s"
echo "Dovecot:     $DC_RATE deliveries/s"
ratio "$MW_RATE" "$DC_RATE" Dovecot
