#!/usr/bin/env bash
# The fabric simulator's speed on this machine, with the real transport in the
# loop (tern-replay, release build):
#   1. 32:1 incast of 2 MB flows on a 128-host fat tree at 400G (target <= 1.5 s);
#   2. permutation of 2 MB flows on 128, 1024 and 8192-host fat trees
#      (target <= 16 s at 1024; wall time should grow no faster than packets).
# Prints a markdown table: wall seconds (median of --runs), events, packets,
# events/s, microseconds of wall per packet, peak RSS. --max-hosts caps the
# permutation sizes (8192 takes minutes and several GB). --baseline BIN also
# runs another tern-replay (e.g. a build of the commit before a change), taking
# turns with this build run by run so that both see the same machine load, and
# prints its table first. Each table ends with how much the wall time per
# packet grows from the smallest to the largest permutation (the target is 1x).
#   tools/bench-sim.sh [--runs N] [--max-hosts N] [--baseline BIN]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=1
max_hosts=8192
baseline=""
while (($#)); do
  case "$1" in
    --runs | --max-hosts | --baseline)
      (($# >= 2)) || { echo "bench-sim: $1 needs a value" >&2; exit 2; } ;;
  esac
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --max-hosts) max_hosts="$2"; shift 2 ;;
    --baseline) baseline="$2"; shift 2 ;;
    *) echo "usage: tools/bench-sim.sh [--runs N] [--max-hosts N] [--baseline BIN]" >&2; exit 2 ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ && "$max_hosts" =~ ^[1-9][0-9]*$ ]] || {
  echo "bench-sim: --runs and --max-hosts take positive integers" >&2
  exit 2
}
replay="$root/build/apps/tern-replay"
[[ -x "$replay" ]] || { echo "bench-sim: $replay missing; run tools/test.sh or ninja -C build" >&2; exit 1; }
[[ -z "$baseline" || -x "$baseline" ]] || { echo "bench-sim: --baseline $baseline is not executable" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sides=(this)
[[ -n "$baseline" ]] && sides=(baseline this)
declare -A binary=([this]="$replay" [baseline]="$baseline")
declare -A rows
declare -A permutations  # per side: wall us per packet of each permutation, smallest first

# bench NAME FABRIC WORKLOAD: one table row per side, the median wall of $runs
# runs.
bench() {
  local name="$1" fabric="$2" workload="$3" i side
  for ((i = 0; i < runs; i++)); do
    for side in "${sides[@]}"; do
      "${binary[$side]}" --fabric="$fabric" --workload="$workload" --quiet \
        --json "$tmp/$side.$i.json" || {
        echo "bench-sim: $name did not complete every flow ($side)" >&2
        return 1
      }
    done
  done
  for side in "${sides[@]}"; do
    local row
    row="$(python3 - "$name" "$tmp" "$runs" "$side" <<'PY'
import json, statistics, sys
name, tmp, runs, side = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
docs = [json.load(open(f"{tmp}/{side}.{i}.json")) for i in range(runs)]
wall = statistics.median(d["run"]["wall_seconds"] for d in docs)
sim = docs[0]["sim"]
rss = max(d["run"]["peak_rss_bytes"] for d in docs) / 2**20
print(f"| {name} | {wall:.2f} | {sim['sim_events']:,} | {sim['sim_packets']:,} | "
      f"{sim['sim_events'] / wall / 1e6:.2f} | {wall / sim['sim_packets'] * 1e6:.2f} | {rss:.0f} |")
PY
)"
    rows[$side]+="$row"$'\n'
    # The row's wall us/packet column.
    if [[ "$name" == permutation* ]]; then
      permutations[$side]+="$(awk -F'|' '{print $7}' <<<"$row") "
    fi
  done
}

bench "incast 32:1 2MB, 128-host fat tree" "sim:hosts=128" "incast:senders=32,size=2MB"
for hosts in 128 1024 8192; do
  ((hosts <= max_hosts)) || continue
  bench "permutation 2MB, $hosts-host fat tree" "sim:hosts=$hosts" "permutation:size=2MB"
done
for side in "${sides[@]}"; do
  [[ -n "$baseline" ]] && echo "${binary[$side]}:"
  echo "| scenario | wall s | events | packets | M events/s | wall us/packet | peak RSS MiB |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s' "${rows[$side]}"
  read -r -a costs <<<"${permutations[$side]:-}"
  if ((${#costs[@]} >= 2)); then
    python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f"\nWall time per packet grows {b / a:.2f}x from the smallest permutation to the largest (target: 1x).")' \
      "${costs[0]}" "${costs[-1]}"
  fi
done
