#!/usr/bin/env bash
# Integration: tern-perf over DPDK --loopback (net_ring pair, two lcores), with
# --verify, every test, clean and with transmit faults (5% loss, reorder over
# 8 entropies; one run also black-holes an entropy). Every message must complete
# with 0 data errors.
#   perf_loopback_test.sh TERN_PERF
set -euo pipefail
perf="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2207
mem=($("$root/tools/dpdk-eal-args.sh" 512))
fail=0
run() {
  local name="$1"
  shift
  local prefix="tern-test-$$-$name"
  if ! timeout 120 "$perf" -l 0-1 --file-prefix "$prefix" "${mem[@]}" --no-pci --log-level=user1,info -- \
    --fabric=dpdk"$FAULTS" --verify --quiet --timeout 60 --json "$work/$name.json" "$@" \
    >"$work/$name.log" 2>&1; then
    echo "FAIL $name: tern-perf exited $? ($*)"
    tail -20 "$work/$name.log"
    fail=1
    return
  fi
  python3 - "$work/$name.json" "$name" <<'PY' || fail=1
import json, sys
doc = json.load(open(sys.argv[1]))
for run in doc["runs"]:
    ok = run["ok"] and run["data_errors"] == 0 and run["messages_completed"] == run["messages_posted"]
    if sys.argv[2].endswith("_ipv6") and run["counters"].get("nd_solicitations_answered", 0) == 0:
        print("FAIL", sys.argv[2], "no neighbor solicitation was answered")
        ok = False
    coalesced = run["counters"].get("ctx_control_coalesced_sent", 0)
    if sys.argv[2].endswith("_coalesced") and coalesced == 0:
        print("FAIL", sys.argv[2], "no ACK shared another's datagram")
        ok = False
    if sys.argv[2].endswith("_pulls") != (run["counters"].get("pulls_granted", 0) > 0):
        print("FAIL", sys.argv[2], run["counters"].get("pulls_granted", 0), "pulls granted")
        ok = False
    if sys.argv[2].endswith("_separate") and coalesced != 0:
        print("FAIL", sys.argv[2], coalesced, "ACKs shared a datagram despite --no-coalesce-control")
        ok = False
    print(("ok  " if ok else "FAIL"), sys.argv[2], run["bytes"], "B:",
          run["messages_completed"], "/", run["messages_posted"], "messages,",
          run["bytes_verified"], "bytes verified,", run["data_errors"], "wrong,",
          run["retransmitted_packets"], "retransmitted")
    if not ok:
        sys.exit(1)
PY
}
FAULTS=""
run clean_write_bw --test=write_bw -s 65536 -n 500 --no-address-check
FAULTS=":loss=0.05,reorder=4,paths=8,seed=3"
for t in write_bw send_bw read_bw; do
  run "faults_$t" --test=$t -s 16384 -n 300 -q 2
done
for t in send_lat write_lat read_lat; do
  run "faults_$t" --test=$t -s 64 -n 200
done
# Two workers per host (four sides on the two lcores), three QPs between them.
run faults_send_bw_workers --test=send_bw -s 16384 -n 200 -q 3 --workers 2
# Many QPs: their ACKs share datagrams, unless --no-coalesce-control.
run faults_write_bw_qps_coalesced --test=write_bw -s 4096 -n 200 -q 8
run faults_write_bw_qps_separate --test=write_bw -s 4096 -n 200 -q 8 --no-coalesce-control
# Receiver-driven pulls: losses must give their credit back, or the QPs stall.
run faults_write_bw_pulls --test=write_bw -s 16384 -n 200 -q 4 --pull-window 8
# ...and with two workers per host, each pacing its pulls at half the link.
run faults_write_bw_workers_pulls --test=write_bw -s 16384 -n 200 -q 4 --workers 2 --pull-window 8
# The recycled path policy, with one of the 8 entropies black-holed on top.
FAULTS=":loss=0.05,reorder=4,paths=8,blackhole=3,seed=3"
run faults_write_bw_recycled --test=write_bw -s 16384 -n 300 -q 2 --path-policy=recycled
FAULTS=":loss=0.05,reorder=4,paths=8,seed=3"
# IPv6: the two hosts find each other with neighbor discovery.
run faults_write_bw_ipv6 --test=write_bw -s 16384 -n 200 --ip fd00::1
# A --json that cannot be written is refused before EAL starts, not after
# the run.
if out="$("$perf" -l 0-1 --file-prefix "tern-test-$$-json" "${mem[@]}" --no-pci -- \
  --fabric=dpdk --loopback --test=write_bw -n 10 --json "$work/no-such-dir/out.json" 2>&1)"; then
  echo "FAIL unwritable --json: tern-perf exited 0"
  fail=1
elif [[ "$out" != *"--json: cannot write $work/no-such-dir/out.json"* || "$out" == *EAL* ]]; then
  echo "FAIL unwritable --json: not refused before the run: $out"
  fail=1
else
  echo "ok   unwritable --json refused before the run"
fi
exit $fail
