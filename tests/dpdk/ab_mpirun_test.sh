#!/usr/bin/env bash
# Integration: the lab-cluster path of tern-ab on one machine. tern-ab
# --fabric=dpdk --launcher runs tools/replay-mpirun.sh, which starts the ranks
# with Open MPI's mpirun (rank from OMPI_COMM_WORLD_RANK), each wrapped into
# one host of a 4-host network-namespace lab. Every run must complete every
# flow with every byte verified, and the report must name the launcher.
# Bad launcher input must fail with a clear message.
#   ab_mpirun_test.sh TERN_AB TOOLS_DIR
# Needs root and ip netns (exit 77, skipped, otherwise) and mpirun
# (tools/bootstrap.sh installs openmpi-bin).
set -euo pipefail
ab="$1"
tools="$(cd "$2" && pwd)"
if [[ $(id -u) -ne 0 ]] || ! ip netns list >/dev/null 2>&1; then
  echo "SKIP: needs root and ip netns"
  exit 77
fi
command -v mpirun >/dev/null || { echo "FAIL: mpirun missing (apt-get install openmpi-bin)"; exit 1; }
work="$(mktemp -d)"
name="abm$$"
trap '"$tools/netns-lab.sh" down --name "$name" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$tools/netns-lab.sh" up 4 --name "$name" >"$work/lab.txt"
sed -n 's/^host h\([0-9]*\) .* ip=\([0-9.]*\) .* mac=\([0-9a-f:]*\) .*/\2 mac=\3/p' \
  "$work/lab.txt" >"$work/hosts"
eal="--file-prefix $name-{rank} $("$tools/dpdk-eal-args.sh" 256) --no-pci --vdev=net_af_packet0,iface=eth0"
launcher="$tools/replay-mpirun.sh --hosts $work/hosts --timeout 120 --eal '$eal' --wrap 'ip netns exec $name-h{rank1}'"

# The launcher's own checks: a hosts file of the wrong length is refused.
head -n 3 "$work/hosts" >"$work/hosts3"
if bash "$tools/replay-mpirun.sh" 4 --dir "$work/bad" --hosts "$work/hosts3" -- --seed 1 \
  2>"$work/bad.err"; then
  echo "FAIL: a 3-line hosts file for 4 ranks was accepted"
  exit 1
fi
grep -q "names 3 ranks, not 4" "$work/bad.err" || { echo "FAIL: unclear error:"; cat "$work/bad.err"; exit 1; }

"$ab" --fabric=dpdk --ranks 4 --launcher "$launcher" --workload=alltoall:size=128KB \
  --a=cc=fixed --b=cc=fixed,mtu=1024 --seeds 1 --no-plots --out "$work/ab"
python3 - "$work/ab" <<'PY'
import json, os, sys
out = sys.argv[1]
doc = json.load(open(os.path.join(out, "summary.json")))
problems = []
if len(doc["runs"]) != 2:
    problems.append(f"runs: {doc['runs']}")
fabric = doc["reproduce"]["fabric"]
if "replay-mpirun.sh" not in fabric or not fabric.startswith("DPDK, 4 hosts"):
    problems.append(f"fabric: {fabric}")
mtus = {}
for run in doc["runs"]:
    d = os.path.join(out, run["dir"])
    result = json.load(open(os.path.join(d, "result.json")))
    dp = result["dataplane"]
    if dp["data_errors"] != 0 or dp["bytes_verified"] != dp["bytes_expected"] or dp["bytes_expected"] == 0:
        problems.append(f"{run['dir']}: {dp}")
    if result["flows"]["completed"] != result["flows"]["total"] or result["flows"]["total"] != 12:
        problems.append(f"{run['dir']}: flows {result['flows']}")
    if sorted(f for f in os.listdir(d) if f.startswith("rank") and f.endswith(".txt")) != [
            f"rank{i}.txt" for i in range(4)]:
        problems.append(f"{run['dir']}: rank files {os.listdir(d)}")
    for rank in range(4):
        header = dict(line.split("\t", 1) for line in
                      open(os.path.join(d, f"rank{rank}.txt")).read().splitlines()[:12])
        mtus.setdefault(run["side"], set()).add(header.get("mtu"))
# B's mtu=1024 reached every rank; A's default was lowered to what af_packet
# carries (1308).
if mtus != {"a": {"1308"}, "b": {"1024"}}:
    problems.append(f"payload MTU per side, from the rank files: {mtus}")
print("\n".join(problems) if problems else "ok")
sys.exit(1 if problems else 0)
PY
