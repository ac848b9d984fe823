#!/usr/bin/env bash
# Installs what Tern needs from Debian 12's packages (when missing) and
# configures the build directory. Sourced by tools/run.sh and tools/test.sh.
set -euo pipefail

TERN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TERN_PACKAGES=(
  g++ meson ninja-build pkg-config python3
  libdpdk-dev dpdk-dev liburing-dev libabsl-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  tshark iproute2 iputils-ping ethtool
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
