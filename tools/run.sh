#!/usr/bin/env bash
# The main job on built-in defaults: tern-perf moving RDMA WRITEs over the
# simulated 8-path wire with loss, reordering, duplication, corruption and
# trimming on, verifying every byte. Extra arguments go to tern-perf.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
tern_install_packages
tern_configure build --buildtype=release
ninja -C "$TERN_ROOT/build" apps/tern-perf >/dev/null
if (($# == 0)); then
  set -- --fabric=sim:loss=0.01,reorder=4,dup=0.005,corrupt=0.005,trim=0.01 \
    --paths 8 --test=write_bw -a --max-size 1M -n 2000 --verify
fi
exec "$TERN_ROOT/build/apps/tern-perf" "$@"
