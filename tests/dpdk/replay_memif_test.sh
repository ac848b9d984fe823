#!/usr/bin/env bash
# Integration: tern-replay over DPDK as two processes on one net_memif link
# (rank 0 the memif server, rank 1 the client; control connections on
# 127.0.0.1 and 127.0.0.2, MACs given). Runs an all-to-all three times. Every
# run must complete with every byte verified (the merge exits 0), and no rank
# may log "Invalid memory": DPDK 22.11's memif frees its shared regions twice
# when both ends close at once, which the ranks' closing in turn avoids
# (Port::AwaitPeerClosed). Without that order, 3 of 30 such runs under ASan
# logged it.
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
cat >"$work/hosts" <<'HOSTS'
127.0.0.1 mac=02:74:65:72:6d:00 control-port=18731
127.0.0.2 mac=02:74:65:72:6d:01 control-port=18732
HOSTS
# shellcheck disable=SC2207
mem=($("$root/tools/dpdk-eal-args.sh" 256))
fail=0
for run in 1 2 3; do
  sock="$work/memif$run.sock"
  prefix="tern-replay-memif-$$-$run"
  pids=()
  for rank in 0 1; do
    role=server
    ((rank == 1)) && role=client
    # The client needs the server's socket (abstract: no file to wait for).
    if ((rank == 1)); then
      for _ in $(seq 200); do
        grep -q "port 0: " "$work/rank$run-0.log" 2>/dev/null && break
        sleep 0.05
      done
    fi
    timeout -k 5 120 "$replay" -l "$rank" --file-prefix "$prefix-$rank" "${mem[@]}" --no-pci \
      "--vdev=net_memif0,role=$role,socket=$sock,bsize=9230" -- --fabric=dpdk --link-mtu 9216 \
      --rank "$rank" --hosts "$work/hosts" --out "$work/rank$run-$rank.txt" \
      --workload=alltoall:size=1MB >"$work/rank$run-$rank.log" 2>&1 &
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
    >"$work/merge$run.log" 2>&1; then
    echo "FAIL run $run: merge (every flow completed and verified?):"
    tail -n 5 "$work/merge$run.log"
    fail=1
  fi
done
if ((fail == 0)); then echo "PASS replay over memif: 3 runs, every byte verified, closed in turn"; fi
exit "$fail"
