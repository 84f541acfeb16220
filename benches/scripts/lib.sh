# Shell helpers shared by the side-by-side benchmark scripts in this folder (sourced, not run).

# needs_root_and WHY TOOL...: exits unless run as root (WHY names the peer's master process) and
# every TOOL is on the PATH, which gains /usr/sbin (where Postfix and Dovecot install).
needs_root_and() {
  [ "$(id -u)" = 0 ] || { echo "needs root ($1 runs as root)" >&2; exit 1; }
  shift
  PATH=$PATH:/usr/sbin
  local p
  for p in "$@"; do
    command -v "$p" >/dev/null || { echo "missing $p" >&2; exit 1; }
  done
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }

# rate COUNT T0 T1: COUNT / (T1 - T0), rounded.
rate() { python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2]))))" "$@"; }

# Waits (up to 30 s) until something accepts connections on 127.0.0.1:PORT.
wait_port() {
  for _ in $(seq 300); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2; return 1
}

# The median of its arguments.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# ratio A B: prints "ratio full_server / PEER: A/Bx" with PEER as $3.
ratio() { python3 -c "import sys; print('ratio full_server / %s: %.2fx' % (sys.argv[3], float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2" "$3"; }

# Stops a process by TERM, then KILL after 5 s.
stop_pid() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
  kill -TERM "$1"
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
}

# Stops a private Postfix: stop_postfix CONF_DIR QUEUE_DIR START_FG_PID.
stop_postfix() {
  [ -n "$3" ] || return 0
  timeout 20 postfix -c "$1" stop >/dev/null 2>&1
  for _ in $(seq 100); do kill -0 "$3" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$3" 2>/dev/null; then
    local master
    master=$(cat "$2/pid/master.pid" 2>/dev/null | tr -d ' ')
    [ -n "$master" ] && kill -KILL "$master" 2>/dev/null
    kill -KILL "$3" 2>/dev/null
  fi
}

# Writes a master.cf for a private Postfix with smtpd on 127.0.0.1:PORT, nothing chrooted (the
# queue and the mail live in the benchmark's work directory): postfix_master_cf PORT > FILE.
postfix_master_cf() {
  echo "127.0.0.1:$1 inet n - n - - smtpd"
  grep -v '^#' "$(dirname "${BASH_SOURCE[0]}")/../../testsupport/postfix-master.cf"
}

# The Postfix main.cf lines both Postfix benchmarks share: a private instance under DIR on loopback.
postfix_main_cf_base() {
  cat <<EOF
compatibility_level = 3.6
queue_directory = $1/queue
data_directory = $1/data
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
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file = $1/maillog
maillog_file_prefixes = $1
message_size_limit = 0
EOF
}
