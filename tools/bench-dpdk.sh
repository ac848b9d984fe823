#!/usr/bin/env bash
# Tern over DPDK against the raw PMD and Linux TCP, on this machine, in one run:
#   1. bulk goodput over net_memif (write_bw, two processes, one lcore each)
#      against dpdk-testpmd txonly -> rxonly over net_memif at the same frame
#      size on the same cores;
#   2. 8-byte send_lat over net_memif (p50 / p99 / p99.9);
#   3. the same request/response over Linux TCP on loopback (tern-tcp-rr), one
#      pinned thread per side;
#   4. write_bw of 4 KiB messages over net_memif with 1, 10, 100 and 1000 QPs
#      (tern-perf's default tx-depth on each, 128 outstanding as perftest's
#      ib_write_bw; --qp-messages in all), against one QP.
# Prints a markdown table (paste it into docs/dpdk.md with the date and the
# machine). Medians of --runs runs (default 3). Each write_bw run moves
# --bw-bytes (default 2 GB, about a second here), so that it measures the
# steady state testpmd's per-second counters show; --iters is the round trips
# of each latency run, after 2048 warm-up round trips: until both memif rings
# (1024 slots) have gone round once, every round trip pays first-touch page
# faults in the shared memory, about 4.6 us here (docs/dpdk.md).
#   tools/bench-dpdk.sh [--runs N] [--iters N] [--bw-bytes N] [--qp-messages N]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=3
iters=20000
bw_bytes=2000000000
qp_messages=400000
while (($#)); do
  case "$1" in
    --runs | --iters | --bw-bytes | --qp-messages)
      (($# >= 2)) || { echo "bench-dpdk: $1 needs a value" >&2; exit 2; } ;;
  esac
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --iters) iters="$2"; shift 2 ;;
    --bw-bytes) bw_bytes="$2"; shift 2 ;;
    --qp-messages) qp_messages="$2"; shift 2 ;;
    *) echo "usage: tools/bench-dpdk.sh [--runs N] [--iters N] [--bw-bytes N] [--qp-messages N]" >&2; exit 2 ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ && "$iters" =~ ^[1-9][0-9]*$ && "$bw_bytes" =~ ^[1-9][0-9]*$ &&
  "$qp_messages" =~ ^[1-9][0-9]*$ ]] || {
  echo "bench-dpdk: --runs, --iters, --bw-bytes and --qp-messages take positive integers" >&2
  exit 2
}
perf="$root/build/apps/tern-perf"
tcp_rr="$root/build/tools/tern-tcp-rr"
for bin in "$perf" "$tcp_rr"; do
  [[ -x "$bin" ]] || { echo "bench-dpdk: $bin missing; run tools/test.sh or ninja -C build" >&2; exit 1; }
done
command -v dpdk-testpmd >/dev/null || { echo "bench-dpdk: dpdk-testpmd missing (apt-get install dpdk)" >&2; exit 1; }
# shellcheck disable=SC2207
mem=($("$root/tools/dpdk-eal-args.sh" 512))
work="$(mktemp -d)"
trap 'pkill -f "file-prefix bench-$$" 2>/dev/null || true; rm -rf "$work"' EXIT
median() { sort -g | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "nan")}'; }
# The runs behind a median, in run order, scaled by $1 (memif on this kind of
# VM is bimodal run by run: the spread says whether the median means much).
runs_of() { local scale="$1"; shift; printf '%s\n' "$@" | awk -v k="$scale" '{printf "%s%.3g", (NR > 1 ? ", " : ""), $1 * k}'; }
progress() { echo "bench-dpdk: $*" >&2; }
# memif buffers that hold a whole frame of the 9216-byte link MTU used below:
# DPDK 22.11's memif transmit loses frames that span several buffers when its
# ring is nearly full (docs/dpdk.md). Tern and testpmd run with the same.
memif_buffer=9230

# Tern over memif: server on lcore 0, client on lcore 1. Prints the JSON path.
tern_memif() {
  local name="$1"
  shift
  local sock="$work/$name.sock"
  rm -f "$sock"
  "$perf" -l 0 --file-prefix "bench-$$-s" "${mem[@]}" --no-pci \
    "--vdev=net_memif0,role=server,socket=$sock,bsize=$memif_buffer" -- --fabric=dpdk --server --quiet \
    --control-port 18777 "$@" >"$work/$name.server.log" 2>&1 &
  local server=$!
  for _ in $(seq 100); do grep -q "port 0: " "$work/$name.server.log" 2>/dev/null && break; sleep 0.1; done
  "$perf" -l 1 --file-prefix "bench-$$-c" "${mem[@]}" --no-pci \
    "--vdev=net_memif0,role=client,socket=$sock,bsize=$memif_buffer" -- --fabric=dpdk --connect 127.0.0.1 \
    --control-port 18777 --quiet --json "$work/$name.json" "$@" >"$work/$name.client.log" 2>&1 ||
    { progress "tern-perf $name failed; see below"; tail -n 5 "$work/$name.client.log" >&2; }
  wait "$server" || true
  echo "$work/$name.json"
}

json() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['runs'][0]; print($2)" "$1"; }

# testpmd txonly -> rxonly over memif, frame of $1 bytes; prints the highest
# per-second Rx-pps: the ceiling. Here testpmd over memif runs at either
# about 16 Mpps or about 2 Mpps for seconds at a time (seen within one run),
# so a median of seconds would measure which mode it was in.
testpmd_memif() {
  local frame="$1" sock="$work/testpmd.sock"
  # One mbuf per frame, as Tern's; testpmd reads its flags in order, so the
  # mbuf size comes before --txpkts.
  local mbuf=()
  ((frame + 128 > 2176)) && mbuf=("--mbuf-size=$((frame + 256))")
  rm -f "$sock"
  timeout 16 dpdk-testpmd -l 0-1 --main-lcore 1 --file-prefix "bench-$$-rx" "${mem[@]}" --no-pci \
    "--vdev=net_memif0,role=server,socket=$sock,bsize=$memif_buffer" -- "${mbuf[@]}" --forward-mode=rxonly --stats-period 1 -a \
    --total-num-mbufs=16384 >"$work/rx.log" 2>&1 &
  local rx=$!
  for _ in $(seq 100); do grep -q "Port 0: link state change\|Checking link" "$work/rx.log" 2>/dev/null && break; sleep 0.1; done
  timeout 10 dpdk-testpmd -l 0-1 --main-lcore 0 --file-prefix "bench-$$-tx" "${mem[@]}" --no-pci \
    "--vdev=net_memif0,role=client,socket=$sock,bsize=$memif_buffer" -- "${mbuf[@]}" --forward-mode=txonly "--txpkts=$frame" \
    --stats-period 1 -a --total-num-mbufs=16384 >"$work/tx.log" 2>&1 || true
  wait "$rx" || true
  # Seconds with traffic, skipping the first (start-up).
  grep -o 'Rx-pps: *[0-9]*' "$work/rx.log" | awk '{print $2}' | awk '$1 > 0' | tail -n +2 |
    sort -g | tail -n 1
}

echo "| test | size | Tern | baseline | Tern / baseline | runs (Tern; baseline) |"
echo "| --- | --- | --- | --- | --- | --- |"
# net_memif on DPDK 22.11 reports 1518-byte frames at most but chains its
# buffers for longer ones: --link-mtu lets each message cross as one packet,
# and testpmd sends frames of the same size from mbufs that hold them.
for size in 1024 4096 8192; do
  gbps=()
  mpps=()
  frames=()
  for r in $(seq "$runs"); do
    progress "Tern write_bw ${size} B over memif, run $r/$runs"
    j=$(tern_memif "bw$size-$r" --test=write_bw -s "$size" -n $(((bw_bytes + size - 1) / size)) \
      --mtu "$size" --link-mtu 9216)
    [[ -f "$j" ]] || continue
    gbps+=("$(json "$j" "r['bw_avg_gbps']")")
    mpps+=("$(json "$j" "r['counters']['data_packets_sent'] / r['virtual_seconds'] / 1e6")")
    frames+=("$(json "$j" "round(r['counters']['data_bytes_sent'] / r['counters']['data_packets_sent'])")")
  done
  g=$(printf '%s\n' "${gbps[@]}" | median)
  p=$(printf '%s\n' "${mpps[@]}" | median)
  payload=$(printf '%s\n' "${frames[@]}" | median)
  frame=$((${payload%.*} + 42 + 60))  # Ethernet/IPv4/UDP + Tern DATA/RDMA headers
  pps=()
  for r in $(seq "$runs"); do
    progress "testpmd txonly ${frame}-byte frames over memif, run $r/$runs"
    pps+=("$(testpmd_memif "$frame")")
  done
  # The ceiling: the best run, as each run's figure is its best second (a
  # run that stayed in memif's slow mode throughout would lower a median).
  base=$(printf '%s\n' "${pps[@]}" | sort -g | tail -n 1)
  spread="Mpps $(runs_of 1 "${mpps[@]}"); $(runs_of 1e-6 "${pps[@]}")"
  awk -v s="$size" -v g="$g" -v p="$p" -v b="$base" -v f="$frame" -v r="$spread" 'BEGIN {
    printf "| write_bw goodput, memif | %d B (%d B frames) | %.2f Gb/s, %.3f Mpps | testpmd %.3f Mpps | %.2f (packet rate) | %s |\n",
      s, f, g, p, b / 1e6, (b > 0 ? p * 1e6 / b : 0), r }'
done

p50=(); p99=(); p999=(); rate=()
for r in $(seq "$runs"); do
  progress "Tern send_lat 8 B over memif, run $r/$runs"
  j=$(tern_memif "lat-$r" --test=send_lat -s 8 -n "$iters" --warmup 2048)
  [[ -f "$j" ]] || continue
  p50+=("$(json "$j" "r['t_typical_usec']")")
  p99+=("$(json "$j" "r['p99_usec']")")
  p999+=("$(json "$j" "r['p99_9_usec']")")
  rate+=("$(json "$j" "1e6 / (2 * r['t_avg_usec'])")")  # one outstanding: 1 / mean round trip
done
tp50=$(printf '%s\n' "${p50[@]}" | median)
tp99=$(printf '%s\n' "${p99[@]}" | median)
tp999=$(printf '%s\n' "${p999[@]}" | median)
trate=$(printf '%s\n' "${rate[@]}" | median)
c50=(); c99=(); crate=()
for r in $(seq "$runs"); do
  progress "Linux TCP request/response 8 B on loopback, run $r/$runs"
  "$tcp_rr" loopback --size 8 --iters "$iters" --json "$work/tcp-$r.json" >/dev/null
  c50+=("$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['t_typical_usec'])" "$work/tcp-$r.json")")
  c99+=("$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['p99_usec'])" "$work/tcp-$r.json")")
  crate+=("$(python3 -c "import json,sys; print(1e6 / (2 * json.load(open(sys.argv[1]))['t_avg_usec']))" "$work/tcp-$r.json")")
done
k50=$(printf '%s\n' "${c50[@]}" | median)
k99=$(printf '%s\n' "${c99[@]}" | median)
krate=$(printf '%s\n' "${crate[@]}" | median)
spread="p50 $(runs_of 1 "${p50[@]}"), p99 $(runs_of 1 "${p99[@]}"); p50 $(runs_of 1 "${c50[@]}")"
awk -v a="$tp50" -v b="$tp99" -v c="$tp999" -v k="$k50" -v kk="$k99" -v r="$spread" 'BEGIN {
  printf "| send_lat 8 B, memif vs Linux TCP loopback | p50 / p99 / p99.9 | %.2f / %.2f / %.2f us | TCP p50 %.2f us, p99 %.2f us | %.2f (p50) | %s |\n",
    a, b, c, k, kk, (k > 0 ? a / k : 0), r }'
spread="k/s $(runs_of 1e-3 "${rate[@]}"); $(runs_of 1e-3 "${crate[@]}")"
awk -v t="$trate" -v k="$krate" -v r="$spread" 'BEGIN {
  printf "| request/response rate, 8 B | one outstanding | %.0f /s | TCP %.0f /s | %.2f | %s |\n",
    t, k, (k > 0 ? t / k : 0), r }'

# 1 to 1000 QPs: the same messages spread over more QPs, the runs of each
# count taking turns with the others so that the VM's slow spells fall on all.
declare -A qp_gbps
for r in $(seq "$runs"); do
  for q in 1 10 100 1000; do
    progress "Tern write_bw 4096 B over memif, $q QPs, run $r/$runs"
    per_qp=$(((qp_messages + q - 1) / q))
    j=$(tern_memif "qp$q-$r" --test=write_bw -s 4096 -q "$q" -n "$per_qp" --link-mtu 9216)
    [[ -f "$j" ]] || continue
    qp_gbps[$q]+="$(json "$j" "r['bw_avg_gbps']") "
  done
done
# shellcheck disable=SC2086  # the runs are space-separated on purpose
one=$(printf '%s\n' ${qp_gbps[1]:-} | median)
for q in 1 10 100 1000; do
  # shellcheck disable=SC2086
  g=$(printf '%s\n' ${qp_gbps[$q]:-} | median)
  # shellcheck disable=SC2086
  spread="Gb/s $(runs_of 1 ${qp_gbps[$q]:-})"
  awk -v q="$q" -v g="$g" -v o="$one" -v r="$spread" 'BEGIN {
    printf "| QP scaling, write_bw 4096 B x128 per QP, memif | %d QPs | %.2f Gb/s | 1 QP %.2f Gb/s | %.2f | %s |\n",
      q, g, o, (o > 0 ? g / o : 0), r }'
done
