#!/usr/bin/env bash
# Integration: tern-ab --fabric=dpdk, an A/B over DPDK across 4 network-namespace
# hosts (tools/replay-netns.sh, net_af_packet), two seeds per side. Every run
# must complete every flow with every byte verified, and the report must be
# written from the merged rank files.
#   ab_netns_test.sh TERN_AB
# Needs root and ip netns (exit 77, skipped, otherwise).
set -euo pipefail
ab="$1"
if [[ $(id -u) -ne 0 ]] || ! ip netns list >/dev/null 2>&1; then
  echo "SKIP: needs root and ip netns"
  exit 77
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$ab" --fabric=dpdk --ranks 4 --workload=alltoall:size=128KB --a=cc=fixed \
  --b=cc=fixed,paths=2 --seeds 2 --no-plots --out "$work/ab"
python3 - "$work/ab" <<'PY'
import json, os, sys
out = sys.argv[1]
doc = json.load(open(os.path.join(out, "summary.json")))
problems = []
if len(doc["runs"]) != 4:
    problems.append(f"runs: {doc['runs']}")
if not doc["reproduce"]["fabric"].startswith("DPDK, 4"):
    problems.append(f"fabric: {doc['reproduce']['fabric']}")
for run in doc["runs"]:
    result = json.load(open(os.path.join(out, run["dir"], "result.json")))
    d = result["dataplane"]
    if d["data_errors"] != 0 or d["bytes_verified"] != d["bytes_expected"] or d["bytes_expected"] == 0:
        problems.append(f"{run['dir']}: {d}")
    if result["flows"]["completed"] != result["flows"]["total"] or result["flows"]["total"] != 12:
        problems.append(f"{run['dir']}: flows {result['flows']}")
names = {m["name"] for m in doc["metrics"]}
for want in ("slowdown_p50", "unfinished_flows", "retransmits"):
    if want not in names:
        problems.append(f"metric {want} missing")
if "report.md" not in os.listdir(out):
    problems.append("no report.md")
print("\n".join(problems) if problems else "ok")
sys.exit(1 if problems else 0)
PY
