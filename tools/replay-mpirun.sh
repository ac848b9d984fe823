#!/usr/bin/env bash
# replay-mpirun: tern-replay over DPDK on a lab cluster, launched by Open
# MPI's mpirun: one rank per host, the rank from OMPI_COMM_WORLD_RANK. Each
# rank writes its file and log into DIR, which must be on a filesystem every
# host shares at the same path (as the checkout is); the files are then
# merged into one JSON, the same as a simulated run's.
#
#   tools/replay-mpirun.sh N --dir DIR --hosts FILE [--hostfile FILE] [--eal "ARGS"]
#                          [--wrap "CMD"] [--mpirun "ARGS"] [--timeout S]
#                          [--] [tern-replay args: --workload=... --cc=... --seed N ...]
#
# A --fabric=dpdk:loss=P,... among the tern-replay args (transmit faults on
# every rank's port, tern-perf's keys) replaces the plain --fabric=dpdk.
#
#   N               ranks (hosts)
#   --hosts FILE    tern-replay's hosts file: one line per rank, the data-plane
#                   address of its port: IP [mac=MAC] [gw=IP] [control-port=P]
#   --hostfile FILE Open MPI's hostfile (the machines, one slot each); without
#                   it every rank runs on this machine
#   --eal "ARGS"    EAL arguments of every rank (e.g. "-l 2-3 -a 0000:3b:00.0");
#                   {rank} is replaced by the rank, for a unique --file-prefix
#   --wrap "CMD"    a command each rank runs under (e.g. "ip netns exec lab-h{rank1}");
#                   {rank1} is the rank plus one
#   --mpirun "ARGS" extra mpirun arguments (e.g. "--mca btl_tcp_if_include eno1")
#   --timeout S     kill the ranks after S seconds (default 300)
#
# This is the launcher interface tern-ab's --launcher takes: N --dir DIR --
# ARGS, leaving DIR/rank*.txt. The tern checkout (and so tern-replay) must be
# at the same path on every host. TERN_REPLAY overrides the
# binary (default build/apps/tern-replay). Exit status: 0 every flow completed
# with its bytes verified, 3 some did not, 1 a rank, the gather or the merge
# failed, 2 usage. docs/replay-dpdk.md has the whole procedure.
set -euo pipefail

readonly PROG="replay-mpirun"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
replay="${TERN_REPLAY:-$root/build/apps/tern-replay}"

usage() {
  sed -n '8,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() {
  echo "$PROG: $*" >&2
  exit 1
}

# N and the options in any order up to "--", so a launcher command with its
# options given first (tern-ab --launcher) can have "N --dir DIR" appended.
n="" dir="" hosts="" hostfile="" eal="" wrap="" mpirun_extra="" timeout_s=300
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir | --hosts | --hostfile | --eal | --wrap | --mpirun | --timeout)
      [[ $# -ge 2 ]] || { echo "$PROG: $1 needs a value" >&2; usage; }
      case "$1" in
        --dir) dir="$2" ;;
        --hosts) hosts="$2" ;;
        --hostfile) hostfile="$2" ;;
        --eal) eal="$2" ;;
        --wrap) wrap="$2" ;;
        --mpirun) mpirun_extra="$2" ;;
        --timeout) timeout_s="$2" ;;
      esac
      shift 2
      ;;
    --) shift; break ;;
    -*) break ;;  # tern-replay's arguments, without "--"
    *)
      [[ -z "$n" ]] || { echo "$PROG: unexpected argument '$1'" >&2; usage; }
      n="$1"
      shift
      ;;
  esac
done
if ! [[ "$n" =~ ^[0-9]+$ ]] || ((n < 2 || n > 4096)); then
  echo "$PROG: N (the number of ranks) must be 2..4096" >&2
  usage
fi
[[ -n "$dir" ]] || { echo "$PROG: --dir DIR is required" >&2; usage; }
[[ -n "$hosts" ]] || { echo "$PROG: --hosts FILE is required" >&2; usage; }
[[ "$timeout_s" =~ ^[0-9]+$ ]] || { echo "$PROG: --timeout: whole seconds" >&2; usage; }
[[ -f "$hosts" ]] || die "--hosts: $hosts not found"
hosts="$(realpath "$hosts")"
lines=$(grep -cv '^[[:space:]]*\(#\|$\)' "$hosts" || true)
((lines == n)) || die "--hosts: $hosts names $lines ranks, not $n"
[[ -z "$hostfile" || -f "$hostfile" ]] || die "--hostfile: $hostfile not found"
command -v mpirun >/dev/null || die "mpirun not found (Debian: apt-get install openmpi-bin)"
[[ -x "$replay" ]] || die "$replay not found (build first: ninja -C build apps/tern-replay)"
mkdir -p "$dir"
dir="$(realpath "$dir")"  # the ranks may start elsewhere
rm -f "$dir"/rank*.txt

launch=(mpirun -np "$n" --bind-to none)
# shellcheck disable=SC2206  # extra mpirun arguments are words by design
[[ -n "$mpirun_extra" ]] && launch+=($mpirun_extra)
if [[ -n "$hostfile" ]]; then
  launch+=(--hostfile "$hostfile" --map-by node)  # rank i on the i-th host
else
  launch+=(--oversubscribe)  # every rank here: more ranks than cores is expected
fi
[[ $(id -u) -ne 0 ]] || launch+=(--allow-run-as-root)

# One rank: its EAL and wrap words with {rank}/{rank1} filled in, then
# tern-replay, writing its file and log into DIR. Runs under bash on every
# host, the tern-replay arguments passed through.
# shellcheck disable=SC2016  # expanded by the rank's shell
rank_script='
r=$OMPI_COMM_WORLD_RANK
fill() { local s=${1//\{rank1\}/$((r + 1))}; printf "%s" "${s//\{rank\}/$r}"; }
read -ra eal <<<"$(fill "$TERN_EAL")"
read -ra wrap <<<"$(fill "$TERN_WRAP")"
fabric=(--fabric=dpdk)
for a in "$@"; do [[ $a == --fabric=dpdk:* ]] && fabric=(); done
exec "${wrap[@]}" "$TERN_REPLAY_BIN" "${eal[@]}" -- "${fabric[@]}" --hosts "$TERN_HOSTS" \
  --out "$TERN_DIR/rank$r.txt" "$@" >"$TERN_DIR/rank$r.log" 2>&1'
export TERN_EAL="$eal" TERN_WRAP="$wrap" TERN_DIR="$dir" TERN_HOSTS="$hosts" \
  TERN_REPLAY_BIN="$replay"

status=0
timeout -k 10 "$timeout_s" "${launch[@]}" -x TERN_EAL -x TERN_WRAP -x TERN_DIR -x TERN_HOSTS \
  -x TERN_REPLAY_BIN bash -c "$rank_script" rank "$@" >"$dir/mpirun.log" 2>&1 || status=$?
# Open MPI returns the first failing rank's status; 3 (unfinished flows) is a
# result, anything else a failure.
if ((status == 124 || status == 137)); then
  die "ranks killed after --timeout $timeout_s s; their logs: $dir/rank*.log"
elif ((status != 0 && status != 3)); then
  echo "$PROG: mpirun failed (exit $status); $dir/mpirun.log:" >&2
  tail -n 5 "$dir/mpirun.log" >&2
  for ((i = 0; i < n; i++)); do
    [[ -f "$dir/rank$i.txt" ]] && continue
    echo "rank $i wrote no results; its log ($dir/rank$i.log):" >&2
    tail -n 5 "$dir/rank$i.log" >&2 2>/dev/null || true
  done
  exit 1
fi
count=$(find "$dir" -maxdepth 1 -name 'rank*.txt' | wc -l)
((count == n)) ||
  die "$count of $n rank files in $dir: is it on a filesystem every host shares? logs: $dir/rank*.log"
status=0
# Ranks that sampled their congestion control (--timeline-interval): the
# merge writes the samples to DIR/timeline/cc.csv.
timeline=()
for a in "$@"; do [[ $a == --timeline-interval* ]] && timeline=(--timeline "$dir/timeline"); done
"$replay" --merge "$dir"/rank*.txt --json "$dir/replay.json" --csv "$dir/flows.csv" \
  "${timeline[@]}" || status=$?
echo "merged JSON: $dir/replay.json (per-flow CSV: $dir/flows.csv; rank logs and files: $dir)"
exit "$status"
