#!/usr/bin/env bash
# netns-lab: N hosts on one machine, each in its own network namespace, joined
# by veth links: through a Linux bridge (default), as one direct veth pair, or
# through a Linux router (each host on a subnet of its own, as on a routed
# fabric: the peer's MAC is not the next hop's). Hosts are dual-stack: an
# IPv4 address from --subnet and an IPv6 address under fd77::/16.
# What DPDK's net_af_packet / net_af_xdp tests and the TCP baseline run over.
#
#   tools/netns-lab.sh up N [--name PREFIX] [--subnet A.B.C.D/LEN] [--mtu M]
#                           [--switch bridge|pairs|router]
#   tools/netns-lab.sh down [--name PREFIX]
#   tools/netns-lab.sh status [--name PREFIX]
#   tools/netns-lab.sh exec [--name PREFIX] I CMD [ARGS...]
#
# Everything the lab creates lives inside namespaces named PREFIX-h1..PREFIX-hN
# and PREFIX-sw (bridge only); the root namespace is never touched, so `down`
# is deleting those namespaces and two labs with different prefixes coexist.
set -euo pipefail

readonly PROG="netns-lab"
readonly DEFAULT_NAME="lab"
readonly DEFAULT_SUBNET="10.77.0.0/24"
readonly DEFAULT_MTU=9000
readonly MAX_HOSTS=64
readonly HOST_IF="eth0"
readonly BRIDGE_IF="br0"
readonly V6_PREFIX="fd77"

usage() {
  cat <<EOF
usage: tools/netns-lab.sh COMMAND [ARGS]
  up N [--name PREFIX] [--subnet A.B.C.D/LEN] [--mtu M] [--switch bridge|pairs|router]
        create namespaces PREFIX-h1..PREFIX-hN (N in 2..$MAX_HOSTS); host I gets
        interface $HOST_IF, the I-th address of the subnet and MAC 02:77:00:00:00:II (hex).
        bridge: a Linux bridge in namespace PREFIX-sw with one veth per host.
        pairs:  N=2 only, one direct veth pair between h1 and h2.
        router: a Linux router in namespace PREFIX-sw (IPv4 and IPv6 forwarding);
                host I is alone on the I-th /30 of the subnet with address
                4(I-1)+2, and the router, 4(I-1)+1, is its default gateway (gw=).
        IPv6: host I has $V6_PREFIX::I/64 (I in hex) on a bridge or pair; behind
        the router $V6_PREFIX:I::2/64, gateway $V6_PREFIX:I::1 (gw6=).
  down [--name PREFIX]          delete the lab (no error if there is none)
  status [--name PREFIX]        print the lab's hosts
  exec [--name PREFIX] I CMD..  run CMD in host I's namespace (I = 3 or h3; or sw)
defaults: --name $DEFAULT_NAME --subnet $DEFAULT_SUBNET --mtu $DEFAULT_MTU --switch bridge
PREFIX: a letter, then letters, digits, '_' or '-'; at most 32 characters.
Output: a table, then one line per host for scripts:
  host h1 ns=PREFIX-h1 if=$HOST_IF ip=10.77.0.1 plen=24 mac=02:77:00:00:00:01 mtu=9000 ip6=$V6_PREFIX::1 plen6=64 gw6=- gw=-
EOF
}

# A usage error: one line naming the problem, the usage text, exit 2.
usage_error() {
  echo "$PROG: $*" >&2
  usage >&2
  exit 2
}

die() {
  echo "$PROG: $*" >&2
  exit 1
}

need_root() {
  if [[ $(id -u) -ne 0 ]]; then
    die "must run as root (creating network namespaces needs CAP_SYS_ADMIN and CAP_NET_ADMIN)"
  fi
  command -v ip >/dev/null || die "'ip' not found (install iproute2)"
  ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here"
}

# --- argument checks -------------------------------------------------------------

check_name() {
  [[ $1 =~ ^[A-Za-z][A-Za-z0-9_-]{0,31}$ ]] ||
    usage_error "--name '$1': want a letter, then letters, digits, '_' or '-' (at most 32)"
}

# is_uint TEXT: a decimal number without sign or leading zeros.
is_uint() { [[ $1 =~ ^(0|[1-9][0-9]{0,8})$ ]]; }

ip_to_int() {
  local IFS=.
  local -a o
  read -r -a o <<<"$1"
  echo $(((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]))
}

int_to_ip() {
  local v=$1
  echo "$(((v >> 24) & 255)).$(((v >> 16) & 255)).$(((v >> 8) & 255)).$((v & 255))"
}

# check_subnet CIDR N SWITCH: sets NET_BASE (the network address as an
# integer) and PLEN, or fails when CIDR is malformed or has no room for N hosts
# (a router takes four addresses per host).
check_subnet() {
  local cidr=$1 hosts=$2 switch=$3
  local octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
  [[ $cidr =~ ^$octet\.$octet\.$octet\.$octet/([0-9]{1,2})$ ]] ||
    usage_error "--subnet '$cidr': want A.B.C.D/LEN, e.g. $DEFAULT_SUBNET"
  PLEN=${BASH_REMATCH[5]}
  ((PLEN >= 8 && PLEN <= 30)) || usage_error "--subnet '$cidr': LEN must be in 8..30"
  local mask=$(((0xffffffff << (32 - PLEN)) & 0xffffffff))
  NET_BASE=$(($(ip_to_int "${cidr%/*}") & mask))
  # Host addresses are base+1..base+N; base+2^(32-LEN)-1 is the broadcast.
  # Routed, host I's /30 is base+4(I-1)..base+4I-1.
  local needed=$hosts
  [[ $switch == router ]] && needed=$((4 * hosts - 2))
  (((1 << (32 - PLEN)) - 2 >= needed)) ||
    usage_error "--subnet '$cidr': a /$PLEN has no room for $hosts hosts ($switch)"
}

# --- namespaces --------------------------------------------------------------------

host_ns() { echo "$NAME-h$1"; }
switch_ns() { echo "$NAME-sw"; }
host_mac() { printf '02:77:00:00:00:%02x' "$1"; }
# Host I's IPv6 address, and the router's end of its link.
host_ip6() {
  if [[ $SWITCH == router ]]; then printf '%s:%x::2' "$V6_PREFIX" "$1"; else printf '%s::%x' "$V6_PREFIX" "$1"; fi
}
router_ip6() { printf '%s:%x::1' "$V6_PREFIX" "$1"; }
# The switch side of host I's link (I = 0: the bridge itself): deterministic
# too, so captures are readable.
port_mac() { printf '02:77:00:00:01:%02x' "$1"; }

# The lab's namespaces that exist now, one per line (hosts, then the switch).
lab_namespaces() {
  ip netns list 2>/dev/null | awk '{print $1}' |
    grep -E "^${NAME}-(h[0-9]+|sw)$" | sort -V || true
}

lab_hosts() { lab_namespaces | grep -E -- "-h[0-9]+$" || true; }

# ns_sysctl NS KEY VALUE: writes a sysctl inside NS (KEY with '/' separators).
ns_sysctl() {
  ip netns exec "$1" sh -c "echo $3 > /proc/sys/$2"
}

# Turns off what breaks af_packet/af_xdp tests on veth: checksum offload (a
# frame leaves with a partial checksum that a raw socket reads as wrong), and
# GRO/GSO/TSO (a raw socket sees super-frames larger than the MTU). Best effort:
# without ethtool, or for a feature veth does not have, it does nothing.
ns_offloads_off() {
  command -v ethtool >/dev/null || return 0
  ip netns exec "$1" ethtool -K "$2" tx off rx off gro off gso off tso off >/dev/null 2>&1 || true
}

# New namespace NS with loopback up and IPv6 duplicate-address detection off
# for every interface created in it afterwards (no 1-2 s tentative addresses).
make_ns() {
  ip netns add "$1"
  CREATED+=("$1")
  ip -n "$1" link set lo up
  local key
  for key in all default; do
    ns_sysctl "$1" "net/ipv6/conf/$key/accept_dad" 0 2>/dev/null || true
    ns_sysctl "$1" "net/ipv6/conf/$key/dad_transmits" 0 2>/dev/null || true
  done
}

# configure_host I: address, MAC, MTU and offloads of host I's interface, up;
# routed, also its default route through the router's end of its link.
configure_host() {
  local i=$1 ns
  ns=$(host_ns "$i")
  ip -n "$ns" link set "$HOST_IF" address "$(host_mac "$i")" mtu "$MTU"
  if [[ $SWITCH == router ]]; then
    ip -n "$ns" addr add "$(int_to_ip $((NET_BASE + 4 * (i - 1) + 2)))/30" dev "$HOST_IF"
  else
    ip -n "$ns" addr add "$(int_to_ip $((NET_BASE + i)))/$PLEN" dev "$HOST_IF"
  fi
  ip -n "$ns" addr add "$(host_ip6 "$i")/64" dev "$HOST_IF"
  ns_offloads_off "$ns" "$HOST_IF"
  ip -n "$ns" link set "$HOST_IF" up
  if [[ $SWITCH == router ]]; then
    ip -n "$ns" route add default via "$(int_to_ip $((NET_BASE + 4 * (i - 1) + 1)))"
    ip -n "$ns" -6 route add default via "$(router_ip6 "$i")"
  fi
}

# On a failure (or a signal) during `up`, deletes the namespaces created so far.
CREATED=()
UP_DONE=0
cleanup_failed_up() {
  local rc=$?
  ((UP_DONE)) && return 0
  local ns
  for ns in "${CREATED[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  ((${#CREATED[@]})) && echo "$PROG: up failed; removed what it had created" >&2
  exit $((rc == 0 ? 1 : rc))
}

cmd_up() {
  if [[ -n $(lab_namespaces) ]]; then
    die "lab '$NAME' already exists ($(lab_namespaces | tr '\n' ' ')); run: $0 down --name $NAME"
  fi
  trap cleanup_failed_up EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local i
  if [[ $SWITCH == pairs ]]; then
    make_ns "$(host_ns 1)"
    make_ns "$(host_ns 2)"
    ip link add "$HOST_IF" netns "$(host_ns 1)" type veth peer name "$HOST_IF" netns "$(host_ns 2)"
  elif [[ $SWITCH == router ]]; then
    local sw
    sw=$(switch_ns)
    make_ns "$sw"
    ns_sysctl "$sw" net/ipv4/ip_forward 1
    ns_sysctl "$sw" net/ipv6/conf/all/forwarding 1
    for ((i = 1; i <= N; i++)); do
      make_ns "$(host_ns "$i")"
      ip link add "$HOST_IF" netns "$(host_ns "$i")" type veth peer name "p$i" netns "$sw"
      ip -n "$sw" link set "p$i" address "$(port_mac "$i")" mtu "$MTU"
      ip -n "$sw" addr add "$(int_to_ip $((NET_BASE + 4 * (i - 1) + 1)))/30" dev "p$i"
      ip -n "$sw" addr add "$(router_ip6 "$i")/64" dev "p$i"
      ns_offloads_off "$sw" "p$i"
      ip -n "$sw" link set "p$i" up
    done
  else
    local sw
    sw=$(switch_ns)
    make_ns "$sw"
    # STP off and no forwarding delay: a port forwards as soon as it is up.
    # No multicast snooping: multicast floods like broadcast, as on a dumb switch.
    ip -n "$sw" link add "$BRIDGE_IF" type bridge stp_state 0 forward_delay 0 mcast_snooping 0
    ip -n "$sw" link set "$BRIDGE_IF" address "$(port_mac 0)" mtu "$MTU"
    ns_sysctl "$sw" "net/ipv6/conf/$BRIDGE_IF/disable_ipv6" 1 2>/dev/null || true
    for ((i = 1; i <= N; i++)); do
      make_ns "$(host_ns "$i")"
      # Created directly in both namespaces: no temporary names in the root
      # namespace that could collide with another lab being built.
      ip link add "$HOST_IF" netns "$(host_ns "$i")" type veth peer name "p$i" netns "$sw"
      ip -n "$sw" link set "p$i" address "$(port_mac "$i")" mtu "$MTU" master "$BRIDGE_IF"
      ns_sysctl "$sw" "net/ipv6/conf/p$i/disable_ipv6" 1 2>/dev/null || true
      ns_offloads_off "$sw" "p$i"
      ip -n "$sw" link set "p$i" up
    done
    ip -n "$sw" link set "$BRIDGE_IF" up
  fi
  for ((i = 1; i <= N; i++)); do configure_host "$i"; done
  UP_DONE=1
  trap - EXIT INT TERM
  echo "$PROG: lab '$NAME' up: $N hosts, $SWITCH, $(int_to_ip "$NET_BASE")/$PLEN, mtu $MTU"
  print_hosts
}

cmd_down() {
  local ns
  for ns in $(lab_namespaces); do
    ip netns del "$ns" 2>/dev/null || true
  done
  if [[ -n $(lab_namespaces) ]]; then
    die "could not delete: $(lab_namespaces | tr '\n' ' ')"
  fi
}

# The table and the machine-readable lines, read back from the namespaces.
print_hosts() {
  local hosts
  hosts=$(lab_hosts)
  local ns host link mac mtu addr ip plen gw addr6 ip6 plen6 gw6 lines=()
  printf '%-6s %-20s %-6s %-18s %-18s %s\n' HOST NAMESPACE IF ADDRESS MAC MTU
  for ns in $hosts; do
    host=${ns##*-}
    link=$(ip -n "$ns" -o link show dev "$HOST_IF" 2>/dev/null) || link=""
    mac=$(sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p' <<<"$link")
    mtu=$(sed -n 's/.* mtu \([0-9]*\) .*/\1/p' <<<"$link")
    addr=$(ip -n "$ns" -o -4 addr show dev "$HOST_IF" 2>/dev/null | awk '{print $4; exit}') || addr=""
    ip=${addr%/*}
    plen=${addr#*/}
    gw=$(ip -n "$ns" -4 route show default 2>/dev/null | awk '{print $3; exit}') || gw=""
    addr6=$(ip -n "$ns" -o -6 addr show dev "$HOST_IF" scope global 2>/dev/null |
      awk '{print $4; exit}') || addr6=""
    gw6=$(ip -n "$ns" -6 route show default 2>/dev/null | awk '{print $3; exit}') || gw6=""
    ip6=${addr6%/*}
    plen6=${addr6#*/}
    printf '%-6s %-20s %-6s %-18s %-18s %s\n' "$host" "$ns" "$HOST_IF" "${addr:--}" "${mac:--}" \
      "${mtu:--}"
    lines+=("host $host ns=$ns if=$HOST_IF ip=${ip:--} plen=${plen:--} mac=${mac:--} mtu=${mtu:--} ip6=${ip6:--} plen6=${plen6:--} gw6=${gw6:--} gw=${gw:--}")
  done
  printf '%s\n' "${lines[@]}"
}

# --- command line ------------------------------------------------------------------

# parse_flags ALLOWED ARGS...: the flags of up/down/status. Sets NAME
# and the up options; positional arguments go to POSITIONAL.
POSITIONAL=()
parse_flags() {
  local allowed=$1
  shift
  while (($#)); do
    local flag=$1 value=""
    case "$flag" in
      --*=*)
        value=${flag#*=}
        flag=${flag%%=*}
        ;;
      --*)
        if [[ " $allowed " == *" $flag "* ]]; then
          (($# >= 2)) || usage_error "$flag needs a value"
          value=$2
          shift
        fi
        ;;
    esac
    case "$flag" in
      --*)
        [[ " $allowed " == *" $flag "* ]] || usage_error "unknown flag '$flag' for '$COMMAND'"
        case "$flag" in
          --name) NAME=$value ;;
          --subnet) SUBNET=$value ;;
          --mtu) MTU=$value ;;
          --switch) SWITCH=$value ;;
        esac
        ;;
      -*) usage_error "unknown flag '$flag' for '$COMMAND'" ;;
      *) POSITIONAL+=("$flag") ;;
    esac
    shift
  done
}

main() {
  (($#)) || usage_error "missing command"
  COMMAND=$1
  shift
  NAME=$DEFAULT_NAME
  SUBNET=$DEFAULT_SUBNET
  MTU=$DEFAULT_MTU
  SWITCH=bridge
  case "$COMMAND" in
    up)
      parse_flags "--name --subnet --mtu --switch" "$@"
      ((${#POSITIONAL[@]} == 1)) || usage_error "up takes one argument, the number of hosts"
      N=${POSITIONAL[0]}
      { is_uint "$N" && ((N >= 2 && N <= MAX_HOSTS)); } ||
        usage_error "host count '$N': want a number in 2..$MAX_HOSTS"
      check_name "$NAME"
      check_subnet "$SUBNET" "$N" "$SWITCH"
      { is_uint "$MTU" && ((MTU >= 68 && MTU <= 65535)); } ||
        usage_error "--mtu '$MTU': want a number in 68..65535"
      case "$SWITCH" in
        bridge | router) ;;
        pairs) ((N == 2)) || usage_error "--switch pairs joins exactly 2 hosts (got $N)" ;;
        *) usage_error "--switch '$SWITCH': want bridge, pairs or router" ;;
      esac
      need_root
      cmd_up
      ;;
    down | status)
      parse_flags "--name" "$@"
      ((${#POSITIONAL[@]} == 0)) || usage_error "$COMMAND takes no arguments (got '${POSITIONAL[0]}')"
      check_name "$NAME"
      need_root
      if [[ $COMMAND == down ]]; then
        cmd_down
      else
        [[ -n $(lab_hosts) ]] || die "no lab named '$NAME'"
        print_hosts
      fi
      ;;
    exec)
      # Flags only before I: everything after I belongs to CMD.
      while (($#)); do
        case "$1" in
          --name) (($# >= 2)) || usage_error "--name needs a value"; NAME=$2; shift 2 ;;
          --name=*) NAME=${1#*=}; shift ;;
          --) shift; break ;;
          -*) usage_error "unknown flag '$1' for 'exec'" ;;
          *) break ;;
        esac
      done
      (($# >= 2)) || usage_error "exec needs a host and a command"
      check_name "$NAME"
      local host=${1#h} ns
      shift
      if [[ $host == sw ]]; then
        ns=$(switch_ns)
      else
        { is_uint "$host" && ((host >= 1 && host <= MAX_HOSTS)); } ||
          usage_error "exec: host '$host': want 1..$MAX_HOSTS, hN or sw"
        ns=$(host_ns "$host")
      fi
      need_root
      lab_namespaces | grep -qx -- "$ns" || die "no namespace '$ns' (is the lab up?)"
      exec ip netns exec "$ns" "$@"
      ;;
    -h | --help | help)
      usage
      ;;
    *) usage_error "unknown command '$COMMAND'" ;;
  esac
}

main "$@"
