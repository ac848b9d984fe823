#!/usr/bin/env bash
# Integration: tern-perf as two processes (--server / --connect) over one DPDK
# link, set up out of band over TCP, with --verify and transmit faults (5%
# loss, reorder over 8 entropies) on both sides.
#   perf_two_process_test.sh TERN_PERF memif|af_packet|af_packet_routed|af_packet_routed6
# memif: a net_memif pair over a unix socket. af_packet: two network
# namespaces joined by a veth pair (tools/netns-lab.sh), one net_af_packet
# port in each; needs root (exit 77, skipped, otherwise). af_packet_routed:
# the same through a Linux router, each host on its own subnet, so ARP must
# ask for the gateway (--gateway) and every frame is forwarded by the kernel.
# af_packet_routed6: the same over IPv6, so neighbor discovery replaces ARP.
# Tern's addresses there are not the kernel's (::3 against the lab's ::2),
# so the router's solicitations for them are answered by Tern alone.
set -euo pipefail
perf="$1"
link="$2"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
tag="$$"
# shellcheck disable=SC2207
mem=($("$root/tools/dpdk-eal-args.sh" 512))
lossy="--fabric=dpdk:loss=0.05,reorder=4,paths=8"
faults="$lossy"
cleanup() {
  [[ "$link" == af_packet* ]] && "$root/tools/netns-lab.sh" down --name "tp$tag" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# The server and client commands for a port of $1 queue pairs (--workers).
commands() {
  local queues="$1"
  case "$link" in
    memif)
      # memif takes its queue count from the application. Its buffers hold a
      # whole jumbo frame: DPDK 22.11's memif transmit loses frames that span
      # several buffers when its ring is nearly full (docs/dpdk.md).
      server_cmd=("$perf" -l 0 --file-prefix "tern-srv-$tag" "${mem[@]}" --no-pci
        "--vdev=net_memif0,role=server,socket=$sock,bsize=9230" --)
      client_cmd=("$perf" -l 1 --file-prefix "tern-cli-$tag" "${mem[@]}" --no-pci
        "--vdev=net_memif0,role=client,socket=$sock,bsize=9230" --)
      ;;
    af_packet)
      # One socket per queue in a fanout group: the kernel spreads frames over
      # them by flow hash, so a worker receives frames for the other.
      server_cmd=(ip netns exec "tp$tag-h1" "$perf" -l 0 --file-prefix "tern-srv-$tag" "${mem[@]}"
        --no-pci "--vdev=net_af_packet0,iface=eth0,qpairs=$queues" -- --ip 10.77.0.1)
      client_cmd=(ip netns exec "tp$tag-h2" "$perf" -l 1 --file-prefix "tern-cli-$tag" "${mem[@]}"
        --no-pci "--vdev=net_af_packet0,iface=eth0,qpairs=$queues" -- --ip 10.77.0.2)
      ;;
    af_packet_routed)
      # tools/netns-lab.sh --switch router: h1 10.77.0.2/30 behind 10.77.0.1,
      # h2 10.77.0.6/30 behind 10.77.0.5.
      server_cmd=(ip netns exec "tp$tag-h1" "$perf" -l 0 --file-prefix "tern-srv-$tag" "${mem[@]}"
        --no-pci "--vdev=net_af_packet0,iface=eth0" -- --ip 10.77.0.2 --gateway 10.77.0.1)
      client_cmd=(ip netns exec "tp$tag-h2" "$perf" -l 1 --file-prefix "tern-cli-$tag" "${mem[@]}"
        --no-pci "--vdev=net_af_packet0,iface=eth0" -- --ip 10.77.0.6 --gateway 10.77.0.5)
      ;;
    af_packet_routed6)
      # The same lab: h1 fd77:1::2/64 behind fd77:1::1, h2 fd77:2::2/64 behind
      # fd77:2::1; the control connection stays on IPv4.
      server_cmd=(ip netns exec "tp$tag-h1" "$perf" -l 0 --file-prefix "tern-srv-$tag" "${mem[@]}"
        --no-pci "--vdev=net_af_packet0,iface=eth0" -- --ip fd77:1::3 --gateway fd77:1::1)
      client_cmd=(ip netns exec "tp$tag-h2" "$perf" -l 1 --file-prefix "tern-cli-$tag" "${mem[@]}"
        --no-pci "--vdev=net_af_packet0,iface=eth0" -- --ip fd77:2::3 --gateway fd77:2::1)
      ;;
  esac
}

# Packets the router sent toward host h$1 (its port p$1).
router_tx_packets() {
  ip -n "tp$tag-sw" -s -j link show "p$1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["packets"])'
}

case "$link" in
  memif)
    sock="$work/memif.sock"
    server_host=127.0.0.1
    ;;
  af_packet | af_packet_routed | af_packet_routed6)
    if [[ $(id -u) -ne 0 ]] || ! ip netns list >/dev/null 2>&1; then
      echo "SKIP: needs root and ip netns"
      exit 77
    fi
    if [[ "$link" == af_packet ]]; then
      "$root/tools/netns-lab.sh" up 2 --name "tp$tag" --switch pairs >/dev/null
      server_host=10.77.0.1
    else
      "$root/tools/netns-lab.sh" up 2 --name "tp$tag" --switch router >/dev/null
      server_host=10.77.0.2
    fi
    if [[ "$link" == af_packet_routed6 ]]; then
      # The router learns each Tern address from Tern's own solicitation for
      # the gateway. Probing such an entry at once, rather than after 5 s,
      # makes the router ask Tern during the first run, which run() checks was
      # answered (unanswered, the entry would fail after 3 probes, 1 s apart).
      # shellcheck disable=SC2016  # expanded by the inner shell
      ip netns exec "tp$tag-sw" sh -c \
        'for f in /proc/sys/net/ipv6/neigh/p*/delay_first_probe_time; do echo 0 >"$f"; done'
    fi
    ;;
  *)
    echo "usage: perf_two_process_test.sh TERN_PERF memif|af_packet|af_packet_routed|af_packet_routed6" >&2
    exit 2
    ;;
esac
commands 1

fail=0
run() {
  local name="$1"
  shift
  [[ "$link" == memif ]] && rm -f "$sock"
  # The server listens on a port the kernel chooses, which no other process
  # holds (a fixed one can be any client's ephemeral port), and logs it once
  # its DPDK port is up (a memif client needs the server's socket).
  timeout 120 "${server_cmd[@]}" "$faults" --server --control-port 0 --verify \
    --quiet --timeout 60 --json "$work/$name.server.json" "$@" >"$work/$name.server.log" 2>&1 &
  local server=$! control_port=""
  for _ in $(seq 300); do
    control_port=$(sed -n 's/.* for a client on TCP port \([0-9]*\)$/\1/p' "$work/$name.server.log")
    [[ -n "$control_port" ]] || ! kill -0 "$server" 2>/dev/null && break
    sleep 0.1
  done
  if [[ -z "$control_port" ]]; then
    echo "FAIL $name: the server logged no control port ($*)"
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    tail -n 15 "$work/$name.server.log"
    fail=1
    return 0
  fi
  if ! timeout 120 "${client_cmd[@]}" "$faults" --connect "$server_host" \
    --control-port "$control_port" --verify --quiet --timeout 60 --json "$work/$name.json" "$@" \
    >"$work/$name.client.log" 2>&1; then
    echo "FAIL $name: client failed ($*)"
    tail -n 15 "$work/$name.client.log" "$work/$name.server.log"
    fail=1
  fi
  if ! wait "$server"; then
    echo "FAIL $name: server failed ($*)"
    tail -n 15 "$work/$name.server.log"
    fail=1
  fi
  [[ -f "$work/$name.json" ]] || return 0
  # Over af_packet with two queues the software steering must have been used.
  local must_steer=0 must_answer_nd=0
  [[ "$link" == af_packet && "$*" == *--workers* ]] && must_steer=1
  # The first run only: afterwards the router holds a confirmed entry.
  [[ "$link" == af_packet_routed6 && "$name" == write_bw ]] && must_answer_nd=1
  # Jumbo runs: every data packet must have carried the full --mtu.
  local min_payload=0
  [[ "$name" == *jumbo* ]] && min_payload=8192
  python3 - "$work/$name.json" "$link $name" "$must_steer" "$must_answer_nd" "$min_payload" <<'PY' || fail=1
import json, sys
server_runs = json.load(open(sys.argv[1].replace(".json", ".server.json")))["runs"]
for index, run in enumerate(json.load(open(sys.argv[1]))["runs"]):
    ok = run["ok"] and run["data_errors"] == 0 and run["messages_completed"] == run["messages_posted"]
    # The server reports the client's result: the same size and MTU.
    served = server_runs[index] if index < len(server_runs) else {}
    if (served.get("bytes"), served.get("mtu")) != (run["bytes"], run["mtu"]):
        print("FAIL", sys.argv[2], "the server reports bytes", served.get("bytes"), "mtu",
              served.get("mtu"), "where the client has", run["bytes"], run["mtu"])
        ok = False
    if sys.argv[3] == "1" and run["counters"].get("port_steered_out", 0) == 0:
        print("FAIL", sys.argv[2], "no frame was steered to another worker")
        ok = False
    if sys.argv[4] == "1" and run["counters"].get("nd_solicitations_answered", 0) == 0:
        print("FAIL", sys.argv[2], "the router never had to ask for the client's address")
        ok = False
    counters = run["counters"]
    payload = counters["data_bytes_sent"] / max(1, counters["data_packets_sent"])
    if int(sys.argv[5]) and run["mtu"] != int(sys.argv[5]):
        print("FAIL", sys.argv[2], "the run reports mtu", run["mtu"], "want", sys.argv[5])
        ok = False
    if payload < int(sys.argv[5]):
        print("FAIL", sys.argv[2], "data packets carried", payload, "payload bytes on average, want",
              sys.argv[5])
        ok = False
    print(("ok  " if ok else "FAIL"), sys.argv[2], run["bytes"], "B:", run["messages_completed"],
          "/", run["messages_posted"], "messages,", run["bytes_verified"], "bytes verified,",
          run["data_errors"], "wrong,", run["retransmitted_packets"], "retransmitted,",
          run["counters"].get("port_steered_out", 0), "steered to another worker")
    sys.exit(0 if ok else 1)
PY
}
if [[ "$link" == af_packet_routed* ]]; then
  # 300 messages of 51 frames (1308 B each) cross the router; the client's
  # injected 5% loss takes some before it, retransmissions add some back.
  before=$(router_tx_packets 1)
  run write_bw --test=write_bw -s 65536 -n 300
  forwarded=$(($(router_tx_packets 1) - before))
  if ((forwarded < 300 * 51 * 9 / 10)); then
    echo "FAIL routed: the router forwarded $forwarded packets to the server, want >= 13770"
    fail=1
  else
    echo "ok   routed: the router forwarded $forwarded packets to the server"
  fi
  run read_bw --test=read_bw -s 16384 -n 200
  exit $fail
fi
run write_bw --test=write_bw -s 65536 -n 300
run send_bw --test=send_bw -s 8192 -n 300 -q 2
run read_bw --test=read_bw -s 16384 -n 200
run send_lat --test=send_lat -s 64 -n 200
if [[ "$link" == memif ]]; then
  # net_memif reports 1518-byte frames at most but carries longer ones: with
  # the link MTU given, 8 KiB packets cross it whole.
  run write_bw_jumbo --test=write_bw -s 65536 -n 300 --mtu 8192 --link-mtu 9216
  # 1000 QPs of 4 KiB packets on a link without faults keep memif's ring full,
  # where memif buffers smaller than a frame lose a few hundred frames a run
  # (they arrive zero-filled, as not_tern and truncated drops): with buffers
  # that hold a frame, the receiving context must drop nothing.
  faults="--fabric=dpdk"
  run write_bw_many_qps --test=write_bw -s 4096 -n 100 -q 1000 --link-mtu 9216
  if ! grep -q "context drops *: none" "$work/write_bw_many_qps.server.log"; then
    echo "FAIL memif write_bw_many_qps: the server dropped frames on a link without faults:"
    grep "context drops" "$work/write_bw_many_qps.server.log"
    fail=1
  fi
  faults="$lossy"
  # Sides whose congestion control would size itself from different base RTTs
  # are refused at set-up, both naming the mismatch.
  rm -f "$sock"
  timeout 60 "${server_cmd[@]}" --fabric=dpdk --server --control-port 0 --base-rtt 20 --test=write_bw -n 10 \
    >"$work/mismatch.server.log" 2>&1 &
  server=$!
  control_port=""
  for _ in $(seq 300); do
    control_port=$(sed -n 's/.* for a client on TCP port \([0-9]*\)$/\1/p' "$work/mismatch.server.log")
    [[ -n "$control_port" ]] || ! kill -0 "$server" 2>/dev/null && break
    sleep 0.1
  done
  timeout 60 "${client_cmd[@]}" --fabric=dpdk --connect 127.0.0.1 --control-port "$control_port" \
    --test=write_bw -n 10 >"$work/mismatch.client.log" 2>&1 && client_rc=0 || client_rc=$?
  wait "$server" && server_rc=0 || server_rc=$?
  for side in client server; do
    rc_name="${side}_rc"
    if [[ ${!rc_name} -eq 0 ]] || ! grep -q "workload mismatch: .*base_rtt_us=.*base_rtt_us=" \
      "$work/mismatch.$side.log"; then
      echo "FAIL memif base RTT mismatch: the $side (exit ${!rc_name}) did not refuse it:"
      tail -n 5 "$work/mismatch.$side.log"
      fail=1
    else
      echo "ok   memif base RTT mismatch refused by the $side"
    fi
  done
fi
# Two workers per host on two port queues, each with two of the four QPs.
commands 2
run write_bw_workers --test=write_bw -s 16384 -n 200 -q 4 --workers 2
exit $fail
