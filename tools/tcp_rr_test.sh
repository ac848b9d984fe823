#!/usr/bin/env bash
# End-to-end test of tern-tcp-rr over 127.0.0.1: a loopback run and its JSON,
# a separate server and client, usage errors (exit 2), connection failures and
# timeouts (exit 1, promptly), and a run stopped by SIGINT.
#   tools/tcp_rr_test.sh PATH/TO/tern-tcp-rr
set -euo pipefail

RR=${1:?usage: tcp_rr_test.sh PATH/TO/tern-tcp-rr}
command -v python3 >/dev/null || {
  echo "SKIP: no python3 to read the JSON"
  exit 77
}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_exit RC ARGS...: runs tern-tcp-rr ARGS, wants exit status RC and, for
# a failure, one line on stderr.
expect_exit() {
  local want=$1 rc=0
  shift
  "$RR" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  ((rc == want)) || fail "'tern-tcp-rr $*' exited $rc, want $want: $(cat "$WORK/err")"
  if ((want != 0)); then
    [[ $(wc -l <"$WORK/err") -eq 1 ]] || fail "'tern-tcp-rr $*': want one error line, got: $(cat "$WORK/err")"
  fi
}

# json_check FILE PYTHON-EXPRESSION...: each expression, over the JSON object j, is true.
json_check() {
  local file=$1
  shift
  python3 - "$file" "$@" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
for expr in sys.argv[2:]:
    if not eval(expr, {}, {"j": j}):
        sys.exit(f"FAIL: {expr} is false in {json.dumps(j, indent=1)}")
EOF
}

# A TCP port nothing listens on (there is a race, but a harmless one).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- usage errors --------------------------------------------------------------------
expect_exit 2
expect_exit 2 frob
expect_exit 2 loopback --bogus
expect_exit 2 loopback --size 0
expect_exit 2 loopback --size 2M
expect_exit 2 loopback --iters abc
expect_exit 2 loopback --iters
expect_exit 2 loopback --timeout -1
expect_exit 2 loopback --cpu-client 1023 # no machine here lets us run on CPU 1023
expect_exit 2 loopback --host 127.0.0.1
expect_exit 2 client --port 5000
expect_exit 2 client --host 127.0.0.1
expect_exit 2 client --host 127.0.0.1 --port 0
expect_exit 2 server
expect_exit 2 server --port 5000 --size 8
expect_exit 0 --help
echo "ok: usage errors exit 2 with one line"

# --- loopback run and its JSON -------------------------------------------------------
expect_exit 0 loopback --iters 2000 --json "$WORK/rr.json"
grep -q "t_typical\[usec\]" "$WORK/out" || fail "no latency table: $(cat "$WORK/out")"
grep -q "Transactions/s" "$WORK/out" || fail "no transactions/s line: $(cat "$WORK/out")"
for field in iterations bytes t_min_usec t_max_usec t_typical_usec t_avg_usec t_stdev_usec \
  p99_usec p99_9_usec transactions_per_sec wall_seconds; do
  grep -q "\"$field\":" "$WORK/rr.json" || fail "JSON has no $field"
done
json_check "$WORK/rr.json" \
  'j["iterations"] == 2000' 'j["bytes"] == 8' 'j["mode"] == "loopback"' \
  'j["t_typical_usec"] > 0' 'j["t_min_usec"] <= j["t_typical_usec"]' \
  'j["t_typical_usec"] <= j["p99_usec"] <= j["p99_9_usec"] <= j["t_max_usec"]' \
  'j["t_min_usec"] <= j["t_avg_usec"] <= j["t_max_usec"]' 'j["t_stdev_usec"] >= 0' \
  'j["transactions_per_sec"] > 0' 'j["stopped_early"] is False'
echo "ok: loopback --iters 2000 gives sane JSON"
expect_exit 0 loopback --iters 50 --size 1M --busy-poll --no-pin --json "$WORK/big.json"
json_check "$WORK/big.json" 'j["iterations"] == 50' 'j["bytes"] == 1048576' \
  'j["busy_poll"] is True' 'j["cpu_client"] is None'
echo "ok: 1 MiB messages with --busy-poll"

# --- a separate server and client ----------------------------------------------------
"$RR" server --port 0 --bind 127.0.0.1 --no-pin >"$WORK/server.out" 2>&1 &
server=$!
PIDS+=("$server")
for _ in $(seq 100); do
  grep -q "listening on" "$WORK/server.out" && break
  sleep 0.05
done
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/server.out")
[[ -n $port ]] || fail "server printed no port: $(cat "$WORK/server.out")"
expect_exit 0 client --host 127.0.0.1 --port "$port" --iters 500 --warmup 10 --no-pin \
  --json "$WORK/client.json"
json_check "$WORK/client.json" 'j["iterations"] == 500' 'j["mode"] == "client"' \
  "j[\"peer\"] == \"127.0.0.1:$port\""
rc=0
wait "$server" || rc=$?
((rc == 0)) || fail "server exited $rc: $(cat "$WORK/server.out")"
grep -q "served 127.0.0.1:[0-9]*: 510 round trips" "$WORK/server.out" ||
  fail "server did not report 510 round trips: $(cat "$WORK/server.out")"
echo "ok: server serves one client and exits"

# --- failures end promptly with exit 1 -----------------------------------------------
start=$SECONDS
expect_exit 1 client --host 127.0.0.1 --port "$(free_port)" --no-pin
grep -q "cannot connect" "$WORK/err" || fail "refused connection: $(cat "$WORK/err")"
expect_exit 1 client --host no-such-host.invalid --port 5000 --no-pin
# A listener that never accepts nor answers: the hello goes unanswered.
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
print(s.getsockname()[1], flush=True); time.sleep(60)' >"$WORK/mute.port" &
PIDS+=("$!")
for _ in $(seq 100); do
  [[ -s $WORK/mute.port ]] && break
  sleep 0.05
done
expect_exit 1 client --host 127.0.0.1 --port "$(cat "$WORK/mute.port")" --timeout 0.5 --no-pin
grep -q "timed out" "$WORK/err" || fail "mute server: $(cat "$WORK/err")"
expect_exit 1 server --port 0 --bind 127.0.0.1 --timeout 0.3 --no-pin
grep -q "timed out waiting for a client" "$WORK/err" || fail "lonely server: $(cat "$WORK/err")"
((SECONDS - start <= 10)) || fail "failures took $((SECONDS - start)) s"
echo "ok: refused, unresolvable, mute peer and no client exit 1 promptly"

# --- SIGINT ends a long run with a report --------------------------------------------
"$RR" loopback --duration 60 --no-pin --json "$WORK/int.json" >"$WORK/int.out" 2>&1 &
run=$!
PIDS+=("$run")
sleep 1
kill -INT "$run"
rc=0
wait "$run" || rc=$?
((rc == 0)) || fail "SIGINT run exited $rc: $(cat "$WORK/int.out")"
json_check "$WORK/int.json" 'j["stopped_early"] is True' 'j["iterations"] > 0'
echo "ok: SIGINT stops a --duration run, which still reports"
echo "PASS"
