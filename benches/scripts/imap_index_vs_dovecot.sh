#!/usr/bin/env bash
# Issue #19's index bench: one folder of N generated messages (default 100,000; real-looking
# headers with threads, 1-3 KiB) served by full_server (its `mailwright-index`) and by a private
# Dovecot (Maildir, its own indexes), the same files in both, both warm. Times each command REPS
# times per server in fresh sessions (login and SELECT are not timed) and prints the medians and
# the ratios full_server / Dovecot (below 1 is faster than Dovecot):
#
#   SELECT INBOX
#   UID SORT (REVERSE DATE) UTF-8 ALL
#   UID SORT (SUBJECT) UTF-8 ALL
#   UID THREAD REFERENCES UTF-8 ALL
#   UID SEARCH SINCE <the middle date> FROM "grace"
#   UID SEARCH SUBJECT "invoice"
#   UID FETCH <last 50> (FLAGS ENVELOPE BODYSTRUCTURE)
#   SELECT INBOX (QRESYNC (uidvalidity modseq)) after 1,000 flag changes and 100 expunges
#
#   benches/scripts/imap_index_vs_dovecot.sh
#   N=10000 REPS=5 benches/scripts/imap_index_vs_dovecot.sh
#
# Filling: the message files are written once by a generator straight into a Maildir `cur/`
# (named with S= and W= sizes, mtimes set to their INTERNALDATE) and hard-linked into both
# servers' INBOX; each server then indexes them once (SELECT, then a FETCH of ENVELOPE and
# BODYSTRUCTURE of all and one run of every timed command), which is not timed. Also prints
# full_server's resident memory after the runs. Needs root (Dovecot's master), dovecot-imapd,
# python3. Everything it starts is stopped on exit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=${N:-100000}
REPS=${REPS:-20}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${FULL_SERVER_BIN:-$TARGET_DIR/release/examples/full_server}

needs_root_and "Dovecot's master" dovecot python3

if [ -z "${FULL_SERVER_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --example full_server --quiet)
fi

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/mw-index-bench-XXXXXX")
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

# --- the messages --------------------------------------------------------------------------------
GEN=$WORK/gen
mkdir -p "$GEN/cur"
T0=$(now)
python3 - "$GEN/cur" "$N" <<'EOF'
import os, random, sys, time
cur, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(19)
names = ['Ann Archer', 'Bob Baker', 'Carol Chen', 'Dave Dunn', 'Erin Evans', 'Frank Fox', 'Grace Hopper',
         'Heidi Hall', 'Ivan Ito', 'Judy Jones', 'Mallory Mills', 'Niaj Noor', 'Olivia Ortiz', 'Peggy Park']
words = ('invoice meeting report budget lunch release review plan update question draft travel '
         'contract offer schedule notes minutes agenda feedback launch').split()
def addr(name):
    return '%s <%s@example.%s>' % (name, name.split()[0].lower(), rnd.choice(['org', 'com', 'net']))
start = 1704067200  # 1 Jan 2024
threads = []  # (message-id, subject, references)
host = 'bench'
for i in range(n):
    when = start + i * 300 + rnd.randrange(300)
    mid = '<%d.%d@bench.example>' % (i, rnd.randrange(10**9))
    if threads and rnd.random() < 0.4:
        parent = rnd.choice(threads[-2000:])
        subject = 'Re: ' + parent[1]
        refs = (parent[2] + ' ' + parent[0]).strip().split()[-10:]
        refs = ' '.join(refs)
    else:
        subject = ' '.join(rnd.choice(words) for _ in range(rnd.randrange(2, 6))).capitalize()
        refs = ''
    threads.append((mid, subject.removeprefix('Re: '), refs))
    frm, to = rnd.sample(names, 2)
    head = ['Return-Path: <%s@example.org>' % frm.split()[0].lower(),
            'Received: from mx.example.org (mx.example.org [192.0.2.%d]) by bench.example with ESMTPS id %08x; %s'
            % (rnd.randrange(1, 255), i, time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(when))),
            'Date: %s' % time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(when - rnd.randrange(60))),
            'From: %s' % addr(frm), 'To: %s' % addr(to), 'Subject: %s' % subject, 'Message-ID: %s' % mid]
    if rnd.random() < 0.3:
        head.append('Cc: %s' % addr(rnd.choice(names)))
    if refs:
        head.append('In-Reply-To: %s' % refs.split()[-1])
        head.append('References: %s' % refs)
    head.append('MIME-Version: 1.0')
    target = rnd.randrange(1024, 3072)
    if rnd.random() < 0.2:
        head.append('Content-Type: multipart/mixed; boundary="b%d"' % i)
        part = 'Content-Type: text/plain; charset=utf-8\n\n'
        body = '--b%d\n%s' % (i, part)
        text = ''
        while len('\n'.join(head)) + len(body) + len(text) < target - 400:
            text += ' '.join(rnd.choice(words) for _ in range(12)) + '\n'
        body += text + '--b%d\nContent-Type: application/pdf; name="doc%d.pdf"\nContent-Transfer-Encoding: base64\n\n' % (i, i)
        body += 'JVBERi0xLjQKJeLjz9MK' * 10 + '\n--b%d--\n' % i
    else:
        head.append('Content-Type: text/plain; charset=utf-8')
        body = ''
        while len('\n'.join(head)) + len(body) < target:
            body += ' '.join(rnd.choice(words) for _ in range(12)) + '\n'
    data = ('\n'.join(head) + '\n\n' + body).encode()
    size, vsize = len(data), len(data) + data.count(b'\n')
    name = '%d.M%dP1.%s,S=%d,W=%d:2,%s' % (when, i, host, size, vsize, 'S' if rnd.random() < 0.7 else '')
    path = os.path.join(cur, name)
    with open(path, 'wb') as f:
        f.write(data)
    os.utime(path, (when, when))
EOF
T1=$(now)
echo "generated $N messages in $(python3 -c "print('%.1f' % ($T1 - $T0))") s ($(du -sh "$GEN" | cut -f1))" >&2

# --- full_server -------------------------------------------------------------------------------
MW=$WORK/mw
MW_PORT=$(free_port)
"$BIN" --data-dir "$MW" domain add example.org >/dev/null
echo bench-pw | "$BIN" --data-dir "$MW" user add bench@example.org --password-stdin --scheme plain >/dev/null
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
EOF
MW_MD=$MW/mail/example.org/bench/Maildir
mkdir -p "$MW_MD/new" "$MW_MD/tmp" "$MW_MD/cur"
cp -al "$GEN/cur/." "$MW_MD/cur/"
"$BIN" --data-dir "$MW" serve >"$WORK/mw.log" 2>&1 &
MW_PID=$!
wait_port "$MW_PORT"

# --- Dovecot -----------------------------------------------------------------------------------
DC=$WORK/dc
DC_PORT=$(free_port)
DC_MD=$DC/home/bench@example.org/Maildir
mkdir -p "$DC/run" "$DC/state" "$DC_MD/new" "$DC_MD/tmp" "$DC_MD/cur"
cp -al "$GEN/cur/." "$DC_MD/cur/"
echo "bench@example.org:{PLAIN}bench-pw" > "$DC/passwd"
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
passdb {
  driver = passwd-file
  args = scheme=PLAIN $DC/passwd
}
userdb {
  driver = static
  args = uid=8 gid=8 home=$DC/home/%u
}
mail_location = maildir:~/Maildir
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

# --- the runs ----------------------------------------------------------------------------------
cat > "$WORK/bench.py" <<'EOF'
import imaplib, random, re, statistics, sys, time
port, reps, phase = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def session():
    M = imaplib.IMAP4('127.0.0.1', port)
    M.login('bench@example.org', 'bench-pw')
    return M
def timed(cmd, select=True, enable=False):
    M = session()
    if enable:
        M._simple_command('ENABLE', 'QRESYNC')
    if select:
        M.select('INBOX')
    t = time.perf_counter()
    typ, data = cmd(M)
    dt = time.perf_counter() - t
    assert typ == 'OK', (typ, data)
    M.logout()
    return dt, data
def last50(M):
    typ, data = M.uid('SEARCH', 'ALL')
    uids = data[0].split()
    return b'%s:%s' % (uids[-50], uids[-1])
M = session()
typ, data = M.select('INBOX')
count = int(data[0])
rng = last50(M)
M.logout()
# The middle of the generated dates (one message every 5 minutes from 1 Jan 2024).
since = time.strftime('%d-%b-%Y', time.gmtime(1704067200 + count * 150))
commands = [
    ('SELECT', lambda M: M.select('INBOX'), False),
    ('UID SORT (REVERSE DATE) UTF-8 ALL', lambda M: M.uid('SORT', '(REVERSE DATE)', 'UTF-8', 'ALL'), True),
    ('UID SORT (SUBJECT) UTF-8 ALL', lambda M: M.uid('SORT', '(SUBJECT)', 'UTF-8', 'ALL'), True),
    ('UID THREAD REFERENCES UTF-8 ALL', lambda M: M.uid('THREAD', 'REFERENCES', 'UTF-8', 'ALL'), True),
    ('UID SEARCH SINCE <middle> FROM "grace"', lambda M: M.uid('SEARCH', 'SINCE', since, 'FROM', '"grace"'), True),
    ('UID SEARCH SUBJECT "invoice"', lambda M: M.uid('SEARCH', 'SUBJECT', '"invoice"'), True),
    ('UID FETCH <last 50> (FLAGS ENVELOPE BODYSTRUCTURE)', lambda M: M.uid('FETCH', rng, '(FLAGS ENVELOPE BODYSTRUCTURE)'), True),
]
if phase == 'warm':
    # Index once: every message's ENVELOPE and BODYSTRUCTURE, and every command once.
    t = time.perf_counter()
    M = session(); M.select('INBOX')
    typ, data = M.fetch('1:*', '(FLAGS ENVELOPE BODYSTRUCTURE)'); assert typ == 'OK', data
    M.logout()
    for name, cmd, sel in commands:
        timed(cmd, sel)
    print('warm-up (indexing) %.1f s, %d messages' % (time.perf_counter() - t, count), file=sys.stderr)
    sys.exit(0)
if phase == 'changes':
    # 1,000 flag changes and 100 expunges after the state a client remembers.
    M = session(); M._simple_command('ENABLE', 'QRESYNC')
    typ, data = M.select('INBOX')
    uv = int(re.search(rb'UIDVALIDITY (\d+)', b' '.join(M.untagged_responses.get('OK', []))).group(1))
    modseq = int(re.search(rb'HIGHESTMODSEQ (\d+)', b' '.join(M.untagged_responses.get('OK', []))).group(1))
    r = random.Random(7)
    for n in r.sample(range(1, count + 1), min(1000, count // 2)):
        typ, data = M.store(str(n), '+FLAGS.SILENT', '(\\Flagged)'); assert typ == 'OK', data
    for n in r.sample(range(1, max(count - 200, count // 2)), min(100, count // 10)):
        typ, data = M.store(str(n), '+FLAGS.SILENT', '(\\Deleted)'); assert typ == 'OK', data
    typ, data = M.expunge(); assert typ == 'OK', data
    M.logout()
    print('%d %d' % (uv, modseq))
    sys.exit(0)
uv, modseq = int(sys.argv[4]), int(sys.argv[5])
commands.append(('SELECT (QRESYNC) after 1000 flag changes, 100 expunges',
                 lambda M: M._simple_command('SELECT', 'INBOX', '(QRESYNC (%d %d))' % (uv, modseq)), False))
for name, cmd, sel in commands:
    enable = name.startswith('SELECT (QRESYNC')
    times = [timed(cmd, sel, enable)[0] for _ in range(reps)]
    print('%s\t%.4f' % (name, statistics.median(times)))
EOF

for side in full_server:$MW_PORT Dovecot:$DC_PORT; do
  python3 "$WORK/bench.py" "${side#*:}" 1 warm 2>&1 | sed "s/^/${side%%:*}: /" >&2
done
MW_STATE=$(python3 "$WORK/bench.py" "$MW_PORT" 1 changes)
DC_STATE=$(python3 "$WORK/bench.py" "$DC_PORT" 1 changes)
# shellcheck disable=SC2086
python3 "$WORK/bench.py" "$MW_PORT" "$REPS" run $MW_STATE > "$WORK/mw.times"
# shellcheck disable=SC2086
python3 "$WORK/bench.py" "$DC_PORT" "$REPS" run $DC_STATE > "$WORK/dc.times"

echo "N=$N messages, $REPS repetitions each in fresh sessions, medians; warm; full_server Maildir + mailwright-index, Dovecot 2.3 Maildir + its indexes; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "full_server resident memory after the runs: $(awk '/VmRSS/ {print $2, $3}' /proc/$MW_PID/status)"
printf '| command | full_server | Dovecot | ratio |\n|---|---|---|---|\n'
paste "$WORK/mw.times" "$WORK/dc.times" | awk -F'\t' '{ printf "| `%s` | %.1f ms | %.1f ms | %.2fx |\n", $1, $2 * 1000, $4 * 1000, ($4 > 0 ? $2 / $4 : 0) }'
