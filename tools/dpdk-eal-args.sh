#!/usr/bin/env bash
# Prints EAL memory arguments for this machine: hugepages when a hugetlbfs
# with free pages is mounted, `--no-huge -m MB` otherwise. Tests and demos
# use it so they run on machines with and without hugepages.
#   tools/dpdk-eal-args.sh [MB]     (memory for --no-huge, default 1024)
set -euo pipefail
mb="${1:-1024}"
free_pages=0
for f in /sys/kernel/mm/hugepages/hugepages-*/free_hugepages; do
  [[ -r "$f" ]] && free_pages=$((free_pages + $(cat "$f")))
done
if ((free_pages >= 256)) && grep -q hugetlbfs /proc/mounts; then
  echo "-m $mb"
else
  echo "--no-huge -m $mb"
fi
