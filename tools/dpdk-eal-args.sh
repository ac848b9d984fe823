#!/usr/bin/env bash
# Prints EAL memory arguments for this machine: hugepages when a hugetlbfs is
# mounted with MB of pages free, `--no-huge -m MB` otherwise. Tests and demos
# use it so they run on machines with and without hugepages.
#   tools/dpdk-eal-args.sh [MB]     (memory to reserve, default 1024)
#
# With hugepages it adds --huge-unlink: the page files are unlinked as soon as
# they are mapped, so the pages go back to the kernel when the process exits,
# even when it is killed. Without it every run left its files in
# /dev/hugepages and the next run found too few pages free.
set -euo pipefail
mb="${1:-1024}"
free_kb=0
for dir in /sys/kernel/mm/hugepages/hugepages-*kB; do
  [[ -r "$dir/free_hugepages" ]] || continue
  page_kb="${dir##*hugepages-}"
  page_kb="${page_kb%kB}"
  free_kb=$((free_kb + $(cat "$dir/free_hugepages") * page_kb))
done
if ((free_kb >= mb * 1024)) && grep -q hugetlbfs /proc/mounts; then
  echo "-m $mb --huge-unlink"
else
  echo "--no-huge -m $mb"
fi
