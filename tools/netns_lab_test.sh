#!/usr/bin/env bash
# Tests tools/netns-lab.sh: a 3-host bridged lab (every pair pings, MTU set,
# jumbo frames pass, down leaves nothing), a 2-host direct pair, a 3-host
# routed lab (own subnets, gateways, pings cross the router), and usage
# errors. Exit 77 (meson: skipped) without root, `ip netns` or ping.
set -euo pipefail

LAB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netns-lab.sh"
# Unique per run: other labs and other runs of this test may be up at the same time.
BRIDGED="nlt$$b"
PAIRED="nlt$$p"
ROUTED="nlt$$r"

skip() {
  echo "SKIP: $*"
  exit 77
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Usage errors need no privilege: check them first.
expect_usage_error() {
  local rc=0
  "$LAB" "$@" >/dev/null 2>&1 || rc=$?
  ((rc == 2)) || fail "'netns-lab.sh $*' exited $rc, want 2"
}
expect_usage_error
expect_usage_error frob
expect_usage_error up
expect_usage_error up 1
expect_usage_error up 65
expect_usage_error up two
expect_usage_error up 3 --bogus
expect_usage_error up 3 --name 'bad.name'
expect_usage_error up 3 --name "$(printf 'a%.0s' {1..40})"
expect_usage_error up 3 --subnet 10.77.0.0
expect_usage_error up 3 --subnet 10.77.0.256/24
expect_usage_error up 3 --subnet 10.77.0.0/31
expect_usage_error up 9 --subnet 10.77.0.0/29
expect_usage_error up 3 --mtu 0
expect_usage_error up 3 --mtu 70000
expect_usage_error up 3 --switch pairs
expect_usage_error up 3 --switch hub
expect_usage_error up 3 --switch router --subnet 10.77.0.0/29
expect_usage_error up 3 --name
expect_usage_error down extra
expect_usage_error status --mtu 1500
expect_usage_error exec 1
expect_usage_error exec 0 true
echo "ok: usage errors exit 2"

[[ $(id -u) -eq 0 ]] || skip "not root"
command -v ip >/dev/null || skip "no ip (iproute2)"
command -v ping >/dev/null || skip "no ping (iputils-ping)"
probe="nlt$$probe"
ip netns add "$probe" 2>/dev/null || skip "cannot create network namespaces here"
ip netns del "$probe"

cleanup() {
  "$LAB" down --name "$BRIDGED" >/dev/null 2>&1 || true
  "$LAB" down --name "$PAIRED" >/dev/null 2>&1 || true
  "$LAB" down --name "$ROUTED" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# lab_left PREFIX: the namespaces of lab PREFIX that still exist.
lab_left() { ip netns list | awk '{print $1}' | grep -E "^$1-(h[0-9]+|sw)$" || true; }

# ping_ok NS IP [ARGS]: one echo, one second to answer.
ping_ok() {
  local ns=$1 ip=$2
  shift 2
  ip netns exec "$ns" ping -c1 -W1 -q "$@" "$ip" >/dev/null
}

# --- three hosts behind a bridge ---------------------------------------------------
out=$("$LAB" up 3 --name "$BRIDGED" --subnet 10.77.0.0/24 --mtu 9000)
echo "$out"
for i in 1 2 3; do
  line=$(grep "^host h$i " <<<"$out") || fail "no 'host h$i' line"
  [[ $line == *" ns=$BRIDGED-h$i "* ]] || fail "h$i: wrong namespace in '$line'"
  [[ $line == *" ip=10.77.0.$i "* ]] || fail "h$i: wrong address in '$line'"
  [[ $line == *" mac=02:77:00:00:00:0$i "* ]] || fail "h$i: wrong MAC in '$line'"
  [[ $line == *" ip6=fd77::$i plen6=64 gw6=- "* ]] || fail "h$i: wrong IPv6 address in '$line'"
  link=$(ip -n "$BRIDGED-h$i" -o link show dev eth0)
  [[ $link == *" mtu 9000 "* ]] || fail "h$i: eth0 MTU is not 9000: $link"
  [[ $link == *"state UP"* ]] || fail "h$i: eth0 is not up: $link"
done
for i in 1 2 3; do
  for j in 1 2 3; do
    ((i == j)) && continue
    ping_ok "$BRIDGED-h$i" "10.77.0.$j" || fail "h$i cannot ping h$j"
  done
done
ping_ok "$BRIDGED-h1" fd77::3 -6 || fail "h1 cannot ping h3 over IPv6"
echo "ok: every pair of 3 bridged hosts pings (h1 -> h3 over IPv6 too)"
# 8972 bytes of ICMP payload + 28 of headers = 9000: only a 9000 MTU path carries it.
ping_ok "$BRIDGED-h1" 10.77.0.3 -M "do" -s 8972 || fail "a 9000-byte unfragmented ping h1 -> h3 failed"
echo "ok: 9000-byte frames cross the bridge"
[[ $("$LAB" exec --name "$BRIDGED" 2 cat /proc/sys/net/ipv6/conf/eth0/accept_dad) == 0 ]] ||
  fail "IPv6 DAD is still on in h2"
"$LAB" status --name "$BRIDGED" | grep -q "^host h3 ns=$BRIDGED-h3 " || fail "status does not list h3"
rc=0
"$LAB" up 3 --name "$BRIDGED" >/dev/null 2>&1 || rc=$?
((rc == 1)) || fail "up over an existing lab exited $rc, want 1"
"$LAB" down --name "$BRIDGED"
[[ -z $(lab_left "$BRIDGED") ]] || fail "left after down: $(lab_left "$BRIDGED")"
"$LAB" down --name "$BRIDGED" || fail "a second down failed"
rc=0
"$LAB" status --name "$BRIDGED" >/dev/null 2>&1 || rc=$?
((rc == 1)) || fail "status of a deleted lab exited $rc, want 1"
echo "ok: down removes everything and is idempotent"

# --- two hosts on one direct veth pair ---------------------------------------------
out=$("$LAB" up 2 --name "$PAIRED" --switch pairs --mtu 1500)
echo "$out"
! ip netns list | awk '{print $1}' | grep -qx "$PAIRED-sw" || fail "pairs made a switch"
ping_ok "$PAIRED-h1" 10.77.0.2 || fail "pairs: h1 cannot ping h2"
ping_ok "$PAIRED-h2" 10.77.0.1 || fail "pairs: h2 cannot ping h1"
"$LAB" exec --name "$PAIRED" h1 ip -o link show dev eth0 | grep -q " mtu 1500 " ||
  fail "pairs: MTU is not 1500"
"$LAB" down --name "$PAIRED"
[[ -z $(lab_left "$PAIRED") ]] || fail "left after down: $(lab_left "$PAIRED")"
echo "ok: a direct pair pings and comes down"

# --- three hosts behind a router ---------------------------------------------------
out=$("$LAB" up 3 --name "$ROUTED" --switch router --subnet 10.78.0.0/24)
echo "$out"
for i in 1 2 3; do
  line=$(grep "^host h$i " <<<"$out") || fail "routed: no 'host h$i' line"
  [[ $line == *" ip=10.78.0.$((4 * i - 2)) plen=30 "* ]] || fail "routed h$i: wrong address in '$line'"
  [[ $line == *" gw=10.78.0.$((4 * i - 3))" ]] || fail "routed h$i: wrong gateway in '$line'"
  [[ $line == *" ip6=fd77:$i::2 plen6=64 gw6=fd77:$i::1 "* ]] ||
    fail "routed h$i: wrong IPv6 address or gateway in '$line'"
done
ping_ok "$ROUTED-h1" 10.78.0.10 || fail "routed: h1 cannot ping h3"
ping_ok "$ROUTED-h3" 10.78.0.6 || fail "routed: h3 cannot ping h2"
# The reply comes from another subnet, one hop away: TTL 64 arrives as 63.
# (Output kept whole: grep -q closing the pipe early would fail ping under pipefail.)
reply=$("$LAB" exec --name "$ROUTED" h1 ping -c1 -W2 10.78.0.6) || fail "routed: h1 cannot ping h2"
[[ $reply == *"ttl=63"* ]] || fail "routed: h1 -> h2 did not cross one router: $reply"
reply=$("$LAB" exec --name "$ROUTED" h1 ping -6 -c1 -W2 fd77:3::2) || fail "routed: no IPv6 h1 -> h3"
[[ $reply == *"ttl=63"* ]] || fail "routed: IPv6 h1 -> h3 did not cross one router: $reply"
"$LAB" down --name "$ROUTED"
[[ -z $(lab_left "$ROUTED") ]] || fail "left after down: $(lab_left "$ROUTED")"
echo "ok: routed hosts reach each other through the router and come down"
echo "PASS"
