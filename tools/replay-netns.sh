#!/usr/bin/env bash
# replay-netns: tern-replay over DPDK on one machine. Brings up an N-host
# network-namespace lab (tools/netns-lab.sh, a bridge or a router, a name of
# its own),
# runs one tern-replay rank per namespace on net_af_packet (or net_af_xdp),
# each with its own --file-prefix, waits for all of them within a time
# limit, merges their rank files into one JSON (the same as a simulated
# run's) and tears the lab down, whatever happened.
#
#   tools/replay-netns.sh N [--dir DIR] [--timeout S] [--pmd af_packet|af_xdp]
#                           [--switch bridge|router] [--ipv6]
#                           [--] [tern-replay args: --workload=... --cc=... --seed N ...]
#
# --ipv6: the ranks talk over the lab's IPv6 addresses (neighbor discovery
# instead of ARP behind a router). A --fabric=dpdk:loss=P,... among the
# tern-replay args (transmit faults on every rank's port, tern-perf's keys)
# replaces the plain --fabric=dpdk. A --workers N among them gives each
# rank's af_packet port N queue pairs; the rank's workers then share its one
# lcore, so this checks function, not speed (af_xdp: one worker only).
#
# The ranks' logs and rank files, the hosts file, the merged replay.json,
# flows.csv and (with --timeline-interval) timeline/cc.csv stay in DIR
# (default: a new directory under /tmp), printed at the
# end. TERN_REPLAY overrides the binary (default build/apps/tern-replay).
# Exit status: 0 every flow completed with its bytes verified, 3 some did
# not, 1 a rank or the merge failed, 2 usage. Needs root (namespaces).
set -euo pipefail

readonly PROG="replay-netns"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
replay="${TERN_REPLAY:-$root/build/apps/tern-replay}"

usage() {
  sed -n '10,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() {
  echo "$PROG: $*" >&2
  exit 1
}

[[ $# -ge 1 ]] || usage
n="$1"
shift
if ! [[ "$n" =~ ^[0-9]+$ ]] || ((n < 2 || n > 8)); then
  echo "$PROG: N must be 2..8" >&2
  usage
fi
dir=""
timeout_s=120
pmd="af_packet"
switch="bridge"
family=4
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir | --timeout | --pmd | --switch)
      [[ $# -ge 2 ]] || { echo "$PROG: $1 needs a value" >&2; usage; } ;;
  esac
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --pmd) pmd="$2"; shift 2 ;;
    --switch) switch="$2"; shift 2 ;;
    --ipv6) family=6; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[[ "$timeout_s" =~ ^[0-9]+$ ]] || { echo "$PROG: --timeout: whole seconds" >&2; usage; }
case "$pmd" in
  af_packet) vdev="net_af_packet0,iface=eth0" ;;
  af_xdp) vdev="net_af_xdp0,iface=eth0" ;;
  *) echo "$PROG: --pmd: af_packet or af_xdp" >&2; usage ;;
esac
[[ "$switch" == bridge || "$switch" == router ]] || { echo "$PROG: --switch: bridge or router" >&2; usage; }
[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces)"
ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here"
[[ -x "$replay" ]] || die "$replay not found (build first: ninja -C build apps/tern-replay)"

[[ -n "$dir" ]] || dir="$(mktemp -d /tmp/tern-replay-netns.XXXXXX)"
mkdir -p "$dir"
name="rp$$"
pids=()
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$root/tools/netns-lab.sh" down --name "$name" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$root/tools/netns-lab.sh" up "$n" --name "$name" --switch "$switch" >"$dir/lab.txt" ||
  die "netns-lab up failed: $(cat "$dir/lab.txt")"
# Hosts file, rank i = host h(i+1): its address and MAC (no ARP needed);
# behind a router, its address and gateway (ARP or neighbor discovery asks
# for the router).
ip_key=ip
gw_key=gw
((family == 6)) && ip_key=ip6 && gw_key=gw6
awk -v ip="$ip_key" -v gw="$gw_key" -v routed="$([[ $switch == router ]] && echo 1 || echo 0)" '
  /^host h[0-9]+ / {
    for (i = 3; i <= NF; i++) { eq = index($i, "="); f[substr($i, 1, eq - 1)] = substr($i, eq + 1) }
    print f[ip], (routed ? "gw=" f[gw] : "mac=" f["mac"])
  }' "$dir/lab.txt" >"$dir/hosts"
[[ $(wc -l <"$dir/hosts") -eq $n ]] || die "could not read the lab's hosts from $dir/lab.txt"

# --workers N: a port queue pair per worker.
workers=1
args=("$@")
for ((a = 0; a < ${#args[@]}; a++)); do
  case "${args[a]}" in
    --workers) ((a + 1 < ${#args[@]})) && workers="${args[a + 1]}" ;;
    --workers=*) workers="${args[a]#--workers=}" ;;
  esac
done
if [[ "$workers" =~ ^[0-9]+$ ]] && ((workers > 1)); then
  [[ "$pmd" == af_packet ]] || die "--workers $workers: only with --pmd af_packet (qpairs)"
  vdev="$vdev,qpairs=$workers"
fi

# More DPDK processes than cores: idle ranks sleep briefly so busy ones run,
# unless the caller chose.
extra=()
if ((n > $(nproc))) && [[ " $* " != *" --idle-sleep"* ]]; then extra+=(--idle-sleep 50); fi
# shellcheck disable=SC2207
mem=($("$root/tools/dpdk-eal-args.sh" 256))
fabric=(--fabric=dpdk)
for a in "$@"; do [[ $a == --fabric=dpdk:* ]] && fabric=(); done
rm -f "$dir"/rank*.txt
for ((i = 0; i < n; i++)); do
  ip netns exec "$name-h$((i + 1))" timeout -k 5 "$timeout_s" "$replay" \
    -l "$((i % $(nproc)))" --file-prefix "$name-h$((i + 1))" "${mem[@]}" --no-pci \
    "--vdev=$vdev" -- "${fabric[@]}" --rank "$i" --hosts "$dir/hosts" --out "$dir/rank$i.txt" \
    "${extra[@]}" "$@" >"$dir/rank$i.log" 2>&1 &
  pids+=($!)
done
failed=0
for ((i = 0; i < n; i++)); do
  status=0
  wait "${pids[$i]}" || status=$?
  if ((status == 124 || status == 137)); then
    echo "$PROG: rank $i killed after --timeout $timeout_s s; its log: $dir/rank$i.log" >&2
    failed=1
  elif ((status != 0 && status != 3)); then
    echo "$PROG: rank $i failed (exit $status):" >&2
    tail -n 5 "$dir/rank$i.log" >&2
    failed=1
  fi
done
pids=()
((failed == 0)) || exit 1
status=0
# Ranks that sampled their congestion control (--timeline-interval): the
# merge writes the samples to DIR/timeline/cc.csv.
timeline=()
for a in "$@"; do [[ $a == --timeline-interval* ]] && timeline=(--timeline "$dir/timeline"); done
"$replay" --merge "$dir"/rank*.txt --json "$dir/replay.json" --csv "$dir/flows.csv" \
  "${timeline[@]}" || status=$?
echo "merged JSON: $dir/replay.json (per-flow CSV: $dir/flows.csv; rank logs and files: $dir)"
exit "$status"
