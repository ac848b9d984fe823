#!/usr/bin/env bash
# The main job on built-in defaults:
#  1. tern-ab: DCQCN against NSCC on a 64-host 400G leaf-spine in the
#     simulator (a 16:1 incast of 2 MB flows plus web-search background at
#     40% load, five seeds), printing the side-by-side table and writing
#     tern-ab-out/report.md with its plots;
#  2. a short tern-perf --loopback over DPDK (net_ring, 5% loss), to show the
#     real data plane moves and verifies data.
# Extra arguments go to tern-ab instead, and step 2 is skipped, e.g.
#   bash tools/run.sh --a=cc=swift --b=cc=hpcc --seeds 3 --out my-ab
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
tern_install_packages
tern_reserve_hugepages
tern_configure build --buildtype=release
ninja -C "$TERN_ROOT/build" apps/tern-ab apps/tern-perf >/dev/null
if (($# > 0)); then  # from the caller's directory, so a relative --out lands there
  exec "$TERN_ROOT/build/apps/tern-ab" "$@"
fi
cd "$TERN_ROOT"
echo "== 1/2 tern-ab: is NSCC better than DCQCN on an incast with web-search background?"
build/apps/tern-ab --out tern-ab-out
echo
echo "== 2/2 tern-perf --loopback over DPDK (net_ring pair, 5% loss, 8 paths, every byte verified)"
lcores=0-1
(($(nproc) < 2)) && lcores=0
# shellcheck disable=SC2046  # the EAL memory arguments are words
build/apps/tern-perf -l "$lcores" --file-prefix "tern-run-$$" $(tools/dpdk-eal-args.sh) --no-pci \
  --log-level=lib.eal:error -- --fabric=dpdk:loss=0.05,reorder=4 --loopback --test=write_bw \
  -s 65536 -n 2000 --verify
