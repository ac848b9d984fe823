#!/usr/bin/env bash
# Integration: tern-replay over DPDK as two processes on one net_memif link
# (rank 0 the memif server, rank 1 the client; control connections on
# 127.0.0.1 and 127.0.0.2, MACs given). Runs an all-to-all three times. Every
# run must complete with every byte verified (the merge exits 0), and no rank
# may log "Invalid memory": DPDK 22.11's memif frees its shared regions twice
# when both ends close at once, which the ranks' closing in turn avoids
# (Port::AwaitPeerClosed). Without that order, 3 of 30 such runs under ASan
# logged it. The third run samples each rank's congestion control
# (--timeline-interval, dcqcn), and the merge must write both ranks' samples
# to cc.csv under dcqcn's variable names. The fourth runs a ring all-reduce
# with two workers per rank (--workers 2; rank 0 steps them on two lcores,
# rank 1 on one), whose steps wait for transfers the other worker received:
# each rank's two QPs must both carry data, and cc.csv must hold samples of
# both (its qp column). A rank's QP counters must leave out the set-up's
# probes and warm-up.
#   replay_memif_test.sh TERN_REPLAY
set -euo pipefail
replay="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
pids=()
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# Control ports the kernel picks free now, rather than fixed ones another
# run on a shared machine may hold.
# shellcheck disable=SC2207
ports=($(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for one in s: one.bind(("127.0.0.1", 0))
print(*[one.getsockname()[1] for one in s])'))
cat >"$work/hosts" <<HOSTS
127.0.0.1 mac=02:74:65:72:6d:00 control-port=${ports[0]}
127.0.0.2 mac=02:74:65:72:6d:01 control-port=${ports[1]}
HOSTS
# shellcheck disable=SC2207
mem=($("$root/tools/dpdk-eal-args.sh" 256))
fail=0
for run in 1 2 3 4; do
  sock="$work/memif$run.sock"
  prefix="tern-replay-memif-$$-$run"
  pids=()
  extra=()
  workload=alltoall:size=1MB
  ((run == 3)) && extra=(--cc=dcqcn --timeline-interval 10)
  ((run == 4)) && workload=allreduce:size=4MB && extra=(--workers 2 --idle-sleep 5 --timeline-interval 10)
  for rank in 0 1; do
    role=server
    lcores=$rank
    ((run == 4 && rank == 0)) && lcores=0-1
    ((rank == 1)) && role=client
    # The client needs the server's socket (abstract: no file to wait for).
    if ((rank == 1)); then
      for _ in $(seq 200); do
        grep -q "port 0: " "$work/rank$run-0.log" 2>/dev/null && break
        sleep 0.05
      done
    fi
    timeout -k 5 120 "$replay" -l "$lcores" --file-prefix "$prefix-$rank" "${mem[@]}" --no-pci \
      "--vdev=net_memif0,role=$role,socket=$sock,bsize=9230" -- --fabric=dpdk --link-mtu 9216 \
      --rank "$rank" --hosts "$work/hosts" --out "$work/rank$run-$rank.txt" \
      "--workload=$workload" "${extra[@]}" >"$work/rank$run-$rank.log" 2>&1 &
    pids+=($!)
  done
  for rank in 0 1; do
    status=0
    wait "${pids[$rank]}" || status=$?
    if ((status != 0)); then
      echo "FAIL run $run: rank $rank exit $status"
      tail -n 5 "$work/rank$run-$rank.log"
      fail=1
    fi
    if grep -q "Invalid memory" "$work/rank$run-$rank.log"; then
      echo "FAIL run $run: rank $rank logged the memif double free:"
      grep -m 3 "Invalid memory" "$work/rank$run-$rank.log"
      fail=1
    fi
  done
  pids=()
  if ! "$replay" --merge "$work/rank$run-0.txt" "$work/rank$run-1.txt" --json "$work/replay$run.json" \
    --timeline "$work/timeline$run" >"$work/merge$run.log" 2>&1; then
    echo "FAIL run $run: merge (every flow completed and verified?):"
    tail -n 5 "$work/merge$run.log"
    fail=1
  fi
done
cc_csv="$work/timeline3/cc.csv"
if ! head -n 1 "$cc_csv" | grep -q "^time_us,src,dst,qp,gbps,window,rate_gbps,target_gbps,alpha,"; then
  echo "FAIL: cc.csv does not name dcqcn's variables: $(head -n 1 "$cc_csv")"
  fail=1
fi
# At least two rows of cc.csv $1 where column $2 is $3 (and, with $4, gbps
# is above 0); else a failure naming them $5.
require_samples() {
  local samples
  samples=$(awk -F, -v col="$2" -v want="$3" -v sending="${4:-0}" \
    'NR > 1 && $col == want && (!sending || $5 > 0)' "$1" | wc -l)
  if ((samples < 2)); then
    echo "FAIL: $1 has $samples samples of $5"
    fail=1
  fi
}
for src in 0 1; do require_samples "$cc_csv" 2 "$src" 1 "rank $src sending"; done
if [[ $(wc -l <"$work/timeline1/cc.csv") -ne 1 ]] ||
  ! grep -q "carry no congestion-control samples" "$work/merge1.log"; then
  echo "FAIL: a run without --timeline-interval has cc samples, or the merge did not say it has none"
  fail=1
fi
# With two workers a pair has two QPs, and cc.csv tells their samples apart.
for qp in 0 1; do require_samples "$work/timeline4/cc.csv" 4 "$qp" 0 "the pairs' QP $qp (worker $qp)"; done
for rank in 0 1; do
  busy=$(grep -c -P '^qp\t.*\tdata_packets_sent=[1-9]' "$work/rank4-$rank.txt" || true)
  if ((busy != 2)) || ! grep -q "2 worker(s)" "$work/rank4-$rank.log"; then
    echo "FAIL run 4: rank $rank has $busy QPs that sent data (expected one per worker, 2)"
    fail=1
  fi
done
# The results count from the start: the RTT probes and the warm-up WRITEs
# before it are left out, so each rank's QP sent exactly its 1 MB of new
# payload in run 1.
for rank in 0 1; do
  sent=$(grep -P '^qp\t' "$work/rank1-$rank.txt" | tr '\t' '\n' |
    awk -F= '$1 == "data_bytes_sent" {d = $2} $1 == "retransmitted_bytes" {r = $2} END {print d - r}')
  if [[ "$sent" != 1000000 ]]; then
    echo "FAIL run 1: rank $rank's QP counts $sent bytes of new payload sent, the workload 1000000"
    fail=1
  fi
done
if ((fail == 0)); then
  echo "PASS replay over memif: 4 runs, every byte verified, closed in turn; $(($(wc -l <"$cc_csv") - 1)) cc samples; 2 workers per rank"
fi
exit "$fail"
