#!/usr/bin/env bash
# Installs what Tern needs from Debian 12's packages (when missing) and
# configures the build directory. Sourced by tools/run.sh and tools/test.sh.
set -euo pipefail

TERN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TERN_PACKAGES=(
  g++ meson ninja-build pkg-config python3
  libdpdk-dev dpdk-dev liburing-dev libabsl-dev libspdlog-dev libisal-dev
  libgtest-dev libgmock-dev libbenchmark-dev libprotobuf-dev protobuf-compiler
  tshark iproute2 iputils-ping ethtool python3-matplotlib openmpi-bin
)

tern_install_packages() {
  local missing=()
  for p in "${TERN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  echo "tern: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "tern: missing packages and not root; run as root or install: ${missing[*]}" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# tern_configure DIR [meson options...]: sets up DIR once, reconfigures if the
# options changed.
tern_configure() {
  local dir="$1"
  shift
  if [[ -f "$TERN_ROOT/$dir/build.ninja" ]]; then
    meson configure "$TERN_ROOT/$dir" "$@" >/dev/null
  else
    meson setup "$TERN_ROOT/$dir" "$TERN_ROOT" "$@" >/dev/null
  fi
}

# Reserves 2 MiB hugepages for the DPDK tests and mounts hugetlbfs, when root.
# Never fatal: without them the tools fall back to --no-huge
# (tools/dpdk-eal-args.sh decides per run).
tern_reserve_hugepages() {
  local want=1024 nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
  [[ $(id -u) -eq 0 && -w $nr ]] || return 0
  (($(cat "$nr") >= want)) || echo "$want" >"$nr" 2>/dev/null || true
  if ! grep -q "^[^ ]* /dev/hugepages hugetlbfs" /proc/mounts; then
    mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || true
  fi
  echo "tern: $(cat "$nr") hugepages of 2 MiB reserved"
}
