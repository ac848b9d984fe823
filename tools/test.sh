#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with warnings as
# errors, runs every test, then runs them again under ASan and UBSan.
#   --no-sanitize   skip the sanitizer pass
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
sanitize=1
for arg in "$@"; do
  case "$arg" in
    --no-sanitize) sanitize=0 ;;
    *) echo "usage: tools/test.sh [--no-sanitize]" >&2; exit 2 ;;
  esac
done
tern_install_packages
tern_reserve_hugepages

status=0
run_suite() {
  local dir="$1"
  shift
  echo "== $dir: configure and build"
  tern_configure "$dir" -Dwerror=true "$@"
  ninja -C "$TERN_ROOT/$dir"
  echo "== $dir: test"
  meson test -C "$TERN_ROOT/$dir" --print-errorlogs --num-processes "$(nproc)" || status=1
  python3 "$TERN_ROOT/tools/test_summary.py" "$TERN_ROOT/$dir/meson-logs/testlog.junit.xml" \
    "$dir" || status=1
}

run_suite build --buildtype=release
if ((sanitize)); then
  # -O1 with line tables only (-g1): half the compile time of -O2 -g, and the
  # sanitizer reports still name file and line.
  run_suite build-asan --buildtype=plain -Doptimization=1 -Ddebug=false -Dcpp_args=-g1 \
    -Db_sanitize=address,undefined -Db_lundef=false
fi
exit $status
