#!/usr/bin/env bash
# Integration: tern-replay over DPDK across 4 network-namespace hosts
# (tools/replay-netns.sh, net_af_packet): an all-to-all, a `load` workload
# (Poisson arrivals, sizes from a small web-search-like CDF written here) and
# a ring all-reduce posted as SEND (each step waits for the one received from
# the previous rank), plus the all-to-all with every host on its own subnet
# behind a Linux router (hosts file gw=, ARP for the router), and that again
# over IPv6 (neighbor discovery for the router), and the all-to-all with
# transmit faults on every rank's port (5% loss, reorder over 8 entropies),
# whose merged JSON must count frames the faults dropped, and the all-reduce
# with two workers per rank (two af_packet queue pairs, frames steered between
# the workers in software), where each rank's two QPs toward the next rank
# must both send. Every flow must complete and every byte arrive verified.
#   replay_netns_test.sh TERN_REPLAY
# Needs root and ip netns (exit 77, skipped, otherwise).
set -euo pipefail
replay="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ $(id -u) -ne 0 ]] || ! ip netns list >/dev/null 2>&1; then
  echo "SKIP: needs root and ip netns"
  exit 77
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Flow sizes (bytes, cumulative %), shaped like the web-search distribution
# but capped at 1 MB so the test stays short on a 2-core machine.
cat >"$work/websearch-small.cdf" <<'CDF'
0 0
1000 15
10000 40
50000 60
100000 75
300000 95
1000000 100
CDF

fail=0
# run NAME [--switch router] [--ipv6] TERN-REPLAY-ARGS...
run() {
  local name="$1"
  shift
  local lab=(--switch bridge)
  if [[ "${1:-}" == --switch ]]; then
    lab=(--switch "$2")
    shift 2
  fi
  if [[ "${1:-}" == --ipv6 ]]; then
    lab+=(--ipv6)
    shift
  fi
  local status=0
  TERN_REPLAY="$replay" timeout 200 "$root/tools/replay-netns.sh" 4 --dir "$work/$name" \
    "${lab[@]}" --timeout 150 -- --time-limit 60000 "$@" >"$work/$name.out" 2>&1 || status=$?
  if ((status != 0)) || [[ ! -f "$work/$name/replay.json" ]]; then
    echo "FAIL $name: replay-netns exit $status ($*)"
    tail -n 20 "$work/$name.out"
    for log in "$work/$name"/rank*.log; do [[ -f "$log" ]] && tail -n 5 "$log"; done
    fail=1
    return 0
  fi
  python3 - "$work/$name/replay.json" "$name" "$*" <<'PY' || fail=1
import glob, json, os, re, sys
j = json.load(open(sys.argv[1]))
f, d = j["flows"], j["dataplane"]
ok = (f["total"] > 0 and f["completed"] == f["total"] and d["data_errors"] == 0
      and d["bytes_verified"] == d["bytes_expected"] > 0 and d["ranks"] == 4)
faulty = "--fabric=dpdk:" in sys.argv[3]
if faulty != (d["faults"]["dropped"] > 0):  # only the faults drop frames on the port
    print(f"FAIL {sys.argv[2]}: {d['faults']['dropped']} frames dropped by transmit faults")
    ok = False
# Receiver-driven pulls: granted on every rank's QPs when asked for, never otherwise.
pulls = sum(int(n) for r in glob.glob(os.path.join(os.path.dirname(sys.argv[1]), "rank*.txt"))
            for n in re.findall(r"pulls_granted=(\d+)", open(r).read()))
if ("--pull-window" in sys.argv[3]) != (pulls > 0):
    print(f"FAIL {sys.argv[2]}: {pulls} pulls granted")
    ok = False
# --workers 2: every rank sends on both of its workers' QPs.
if "--workers" in sys.argv[3]:
    for r in sorted(glob.glob(os.path.join(os.path.dirname(sys.argv[1]), "rank*.txt"))):
        busy = len(re.findall(r"^qp\t.*\tdata_packets_sent=[1-9]", open(r).read(), re.M))
        if busy < 2:
            print(f"FAIL {sys.argv[2]}: {os.path.basename(r)} sent on {busy} QPs, not on both workers'")
            ok = False
print(("ok  " if ok else "FAIL"), sys.argv[2], f"{f['completed']}/{f['total']} flows,",
      f"{d['bytes_verified']}/{d['bytes_expected']} bytes verified, {d['data_errors']} wrong,",
      f"{j['retransmits']['packets']} retransmitted, fct p50 {j['fct_us']['p50']:.1f} us")
sys.exit(0 if ok else 1)
PY
}
run alltoall --workload=alltoall:size=64KB
run load "--workload=load:cdf=$work/websearch-small.cdf,load=0.2,duration=2000us" --seed 3
run allreduce_send --workload=allreduce:size=256KB --verb send
run allreduce_workers --workload=allreduce:size=256KB --workers 2
run alltoall_routed --switch router --workload=alltoall:size=64KB
run alltoall_routed6 --switch router --ipv6 --workload=alltoall:size=64KB
run alltoall_faults --fabric=dpdk:loss=0.05,reorder=4,paths=8 --workload=alltoall:size=64KB
# Receiver-driven pulls, with losses: a lost packet's credit must come back.
run alltoall_pulls_faults --fabric=dpdk:loss=0.05,reorder=4,paths=8 --workload=alltoall:size=64KB \
  --pull-window 8
exit $fail
