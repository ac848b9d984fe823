#include "dataplane/dpdk/port.h"

#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"
#include "transport/text.h"

namespace tern::dpdk {
namespace {

std::string DpdkError(int errnum) { return rte_strerror(errnum < 0 ? -errnum : errnum); }

// IP MTU a Tern payload of `payload_mtu` needs: IPv6 outer headers (the
// larger family) minus Ethernet, plus the largest Tern header stack.
uint32_t IpMtuFor(uint32_t payload_mtu) {
  return payload_mtu + static_cast<uint32_t>(kMaxOuterHeaderBytes + kMaxTernHeaderBytes) -
         static_cast<uint32_t>(sizeof(EthernetHeader));
}

uint32_t PayloadMtuFor(uint32_t ip_mtu) {
  const uint32_t overhead = static_cast<uint32_t>(kMaxOuterHeaderBytes + kMaxTernHeaderBytes) -
                            static_cast<uint32_t>(sizeof(EthernetHeader));
  return ip_mtu > overhead ? ip_mtu - overhead : 0;
}

// The value of `key` in a net_memif port's device arguments, where it lies in
// [min, max] (the PMD refuses a port with any other value, so none reaches
// here); `fallback`, the PMD's default, otherwise.
uint32_t MemifArgument(std::string_view devargs, std::string_view key, uint32_t min, uint32_t max,
                       uint32_t fallback) {
  uint32_t found = fallback;
  for (const KeyValue& item : SplitKeyValues(devargs)) {
    uint32_t value;
    if (item.key == key && ParseUint(item.value, &value) && value >= min && value <= max) {
      found = value;
    }
  }
  return found;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Port>> Port::Open(const PortOptions& options) {
  const uint16_t port_id = options.port_id;
  if (!rte_eth_dev_is_valid_port(port_id)) {
    return absl::NotFoundError(absl::StrFormat(
        "port %d does not exist: %d port(s) found (select devices with -a PCI_ADDRESS or "
        "--vdev=net_memif0,...)",
        port_id, rte_eth_dev_count_avail()));
  }
  rte_eth_dev_info dev_info;
  if (int rc = rte_eth_dev_info_get(port_id, &dev_info); rc != 0) {
    return absl::InternalError(
        absl::StrFormat("port %d: cannot read device info: %s", port_id, DpdkError(rc)));
  }
  std::unique_ptr<Port> port(new Port());
  PortInfo& info = port->info_;
  info.port_id = port_id;
  info.driver = dev_info.driver_name != nullptr ? dev_info.driver_name : "?";
  char name[RTE_ETH_NAME_MAX_LEN] = {};
  if (rte_eth_dev_get_name_by_port(port_id, name) == 0) info.name = name;

  // Queues: as many as asked, as many as the port has.
  const uint16_t max_queues = std::min(dev_info.max_rx_queues, dev_info.max_tx_queues);
  info.queues = std::max<uint16_t>(1, std::min(options.queues, max_queues));
  if (info.queues < options.queues) {
    info.missing.push_back(
        absl::StrFormat("%d queues (has %d): workers share queues through "
                        "software steering",
                        options.queues, info.queues));
  }

  // MTU: what the payload needs, capped by the link.
  uint32_t mtu = IpMtuFor(options.payload_mtu);
  // The port's limit: its MTU bound and its largest receivable frame.
  uint32_t port_max_mtu = dev_info.max_mtu != 0 ? dev_info.max_mtu : UINT32_MAX;
  if (dev_info.max_rx_pktlen > sizeof(EthernetHeader) + 4) {
    port_max_mtu = std::min<uint32_t>(
        port_max_mtu, dev_info.max_rx_pktlen - static_cast<uint32_t>(sizeof(EthernetHeader)) - 4);
  }
  const uint32_t link_mtu = options.link_mtu != 0 ? options.link_mtu : port_max_mtu;
  if (mtu > link_mtu) {
    info.missing.push_back(absl::StrFormat(
        "MTU %d (max %d%s): payload per packet limited to %d", mtu, link_mtu,
        options.link_mtu != 0 ? ", the link MTU given" : "", PayloadMtuFor(link_mtu)));
    mtu = link_mtu;
  }
  // Past the port's report, as the link MTU given allows.
  const bool beyond_report = mtu > port_max_mtu;
  if (beyond_report) {
    info.missing.push_back(absl::StrFormat(
        "MTU %d (max %d): used anyway, as the link MTU given allows; the port is configured "
        "with %d",
        mtu, port_max_mtu, port_max_mtu));
  }

  rte_eth_conf conf;
  std::memset(&conf, 0, sizeof(conf));
  // ethdev refuses an MTU past the port's report, though frames of the link
  // MTU given pass.
  conf.rxmode.mtu = beyond_report ? port_max_mtu : mtu;
  if (dev_info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    info.tx_ipv4_checksum = true;
  } else {
    info.missing.push_back("TX IPv4 checksum offload: computed in software");
  }
  if (dev_info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
    info.tx_udp_checksum = true;
  } else {
    info.missing.push_back("TX UDP checksum offload: IPv6 UDP checksums computed in software");
  }
  if (dev_info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) {
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    info.rx_ipv4_checksum = true;
  } else {
    info.missing.push_back("RX IPv4 checksum offload: verified in software");
  }
  if (dev_info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
    info.tx_multi_segment = true;
  } else {
    info.missing.push_back("multi-segment TX: payload is copied into the mbuf (no zero-copy)");
  }
  // Several queues: RSS over addresses and UDP ports spreads what flow rules
  // (SteerUdpPort) do not place; the workers hand misplaced frames over.
  const uint64_t rss = dev_info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
  if (info.queues > 1 && rss != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = rss;
  } else if (info.queues > 1) {
    info.missing.push_back("RSS: queues past 0 receive only what the PMD itself spreads");
  }
  // The Tern checksum (CRC32C over the UDP payload) has no NIC offload; the
  // context computes it.

  if (int rc = rte_eth_dev_configure(port_id, info.queues, info.queues, &conf); rc != 0) {
    return absl::InternalError(absl::StrFormat("port %d (%s): configure with %d queues failed: %s",
                                               port_id, info.driver, info.queues, DpdkError(rc)));
  }
  uint16_t rx_desc = options.rx_descriptors;
  uint16_t tx_desc = options.tx_descriptors;
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_desc, &tx_desc); rc != 0) {
    return absl::InternalError(
        absl::StrFormat("port %d: cannot fit descriptor counts: %s", port_id, DpdkError(rc)));
  }
  info.rx_descriptors = rx_desc;
  info.tx_descriptors = tx_desc;
  const rte_devargs* devargs = rte_dev_devargs(dev_info.device);
  const std::string_view device_args =
      devargs != nullptr && devargs->args != nullptr ? devargs->args : std::string_view();
  info.ring_frames =
      info.driver == "net_memif" ? MemifRingSlots(device_args) : std::max(rx_desc, tx_desc);
  uint16_t actual_mtu = 0;
  const bool read_back = !beyond_report && rte_eth_dev_get_mtu(port_id, &actual_mtu) == 0;
  info.mtu = read_back && actual_mtu != 0 ? actual_mtu : mtu;
  info.payload_mtu = PayloadMtuFor(info.mtu);

  // One pool per queue, so workers never contend on a mempool cache. mbufs
  // hold a whole frame in one segment.
  port->max_frame_bytes_ = info.mtu + static_cast<uint32_t>(sizeof(EthernetHeader)) + 4;
  // At least DPDK's default room: some PMDs (net_af_packet) size their rings from it.
  const uint32_t data_room =
      RTE_PKTMBUF_HEADROOM + std::max<uint32_t>(port->max_frame_bytes_, RTE_MBUF_DEFAULT_DATAROOM);
  const uint32_t mbufs = options.mbufs_per_queue != 0
                             ? options.mbufs_per_queue
                             : std::max<uint32_t>(4095, 2u * (rx_desc + tx_desc) + 1024);
  const int socket = rte_eth_dev_socket_id(port_id);
  for (uint16_t q = 0; q < info.queues; ++q) {
    const std::string pool_name = absl::StrFormat("tern_p%d_q%d", port_id, q);
    rte_mempool* pool =
        rte_pktmbuf_pool_create(pool_name.c_str(), mbufs, 256, 0, static_cast<uint16_t>(data_room),
                                socket < 0 ? static_cast<int>(rte_socket_id()) : socket);
    if (pool == nullptr) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "port %d: cannot create %d mbufs of %d bytes for queue %d: %s (more memory: "
          "hugepages, or -m MB with --no-huge)",
          port_id, mbufs, data_room, q, DpdkError(rte_errno)));
    }
    port->pools_.push_back(pool);
    if (info.tx_multi_segment) {
      const std::string attach_name = absl::StrFormat("tern_p%d_a%d", port_id, q);
      rte_mempool* attach =
          rte_pktmbuf_pool_create(attach_name.c_str(), mbufs, 256, 0, 0,
                                  socket < 0 ? static_cast<int>(rte_socket_id()) : socket);
      if (attach == nullptr) {
        return absl::ResourceExhaustedError(
            absl::StrFormat("port %d: cannot create %d attach mbufs for queue %d: %s (more memory: "
                            "hugepages, or -m MB with --no-huge)",
                            port_id, mbufs, q, DpdkError(rte_errno)));
      }
      port->attach_pools_.push_back(attach);
    }
    if (int rc = rte_eth_rx_queue_setup(port_id, q, rx_desc, static_cast<unsigned>(socket), nullptr,
                                        pool);
        rc != 0) {
      return absl::InternalError(
          absl::StrFormat("port %d: RX queue %d setup failed: %s", port_id, q, DpdkError(rc)));
    }
    if (int rc =
            rte_eth_tx_queue_setup(port_id, q, tx_desc, static_cast<unsigned>(socket), nullptr);
        rc != 0) {
      return absl::InternalError(
          absl::StrFormat("port %d: TX queue %d setup failed: %s", port_id, q, DpdkError(rc)));
    }
  }
  if (int rc = rte_eth_dev_start(port_id); rc != 0) {
    return absl::InternalError(
        absl::StrFormat("port %d (%s): start failed: %s", port_id, info.driver, DpdkError(rc)));
  }
  port->started_ = true;
  // IPv6 neighbor solicitations go to a solicited-node multicast group, which
  // a NIC's address filter drops unless told otherwise.
  if (rte_eth_allmulticast_enable(port_id) != 0) {
    info.missing.push_back(
        "all-multicast receive: IPv6 neighbor solicitations arrive only if it passes multicast");
  }
  rte_ether_addr mac;
  if (rte_eth_macaddr_get(port_id, &mac) == 0) {
    std::memcpy(info.mac.bytes.data(), mac.addr_bytes, 6);
  }
  if (info.mac.IsZero()) {
    // Virtual ports (net_ring) may have none; ARP needs one. Locally
    // administered, "tern", the port id.
    info.mac.bytes = {
        0x02, 't', 'e', 'r', static_cast<uint8_t>(port_id >> 8), static_cast<uint8_t>(port_id)};
    std::memcpy(mac.addr_bytes, info.mac.bytes.data(), 6);
    if (rte_eth_dev_default_mac_addr_set(port_id, &mac) != 0) {
      info.missing.push_back("a MAC address it accepts: using " + info.mac.ToString());
    }
  }
  spdlog::info("{}", DescribePort(info));
  for (const std::string& m : info.missing) {
    spdlog::info("port {}: {} does not offer {}", port_id, info.driver, m);
  }
  if (info.driver == "net_memif") {
    const uint32_t buffer = MemifBufferBytes(device_args);
    const uint32_t frame = info.mtu + static_cast<uint32_t>(sizeof(EthernetHeader));
    if (frame > buffer) {
      spdlog::warn(
          "port {}: frames of up to {} bytes span several memif buffers of {}; DPDK 22.11's "
          "memif transmit then loses frames whenever its ring is nearly full (docs/dpdk.md). "
          "Give bsize={} or more in --vdev on both sides",
          port_id, frame, buffer, frame);
    }
  }
  return port;
}

Port::~Port() {
  if (has_flow_rules_) {
    rte_flow_error error;
    rte_flow_flush(info_.port_id, &error);
  }
  if (started_) {
    rte_eth_dev_stop(info_.port_id);
    rte_eth_dev_close(info_.port_id);
  }
  for (rte_mempool* pool : pools_) rte_mempool_free(pool);
  for (rte_mempool* pool : attach_pools_) rte_mempool_free(pool);
}

absl::Status Port::SteerUdpPort(uint16_t udp_port, uint16_t queue) {
  if (queue >= info_.queues) {
    return absl::InvalidArgumentError(
        absl::StrFormat("port %d has no RX queue %d", info_.port_id, queue));
  }
  rte_flow_attr attr = {};
  attr.ingress = 1;
  rte_flow_item_udp udp_spec = {};
  rte_flow_item_udp udp_mask = {};
  udp_spec.hdr.dst_port = rte_cpu_to_be_16(udp_port);
  udp_mask.hdr.dst_port = 0xFFFF;
  rte_flow_action_queue to_queue = {};
  to_queue.index = queue;
  const rte_flow_action actions[] = {{RTE_FLOW_ACTION_TYPE_QUEUE, &to_queue},
                                     {RTE_FLOW_ACTION_TYPE_END, nullptr}};
  for (rte_flow_item_type ip : {RTE_FLOW_ITEM_TYPE_IPV4, RTE_FLOW_ITEM_TYPE_IPV6}) {
    rte_flow_item pattern[4] = {};
    pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;
    pattern[1].type = ip;
    pattern[2].type = RTE_FLOW_ITEM_TYPE_UDP;
    pattern[2].spec = &udp_spec;
    pattern[2].mask = &udp_mask;
    pattern[3].type = RTE_FLOW_ITEM_TYPE_END;
    rte_flow_error error = {};
    if (rte_flow_create(info_.port_id, &attr, pattern, actions, &error) == nullptr) {
      return absl::UnimplementedError(absl::StrFormat(
          "port %d (%s): no flow rule UDP port %d -> queue %d over %s: %s", info_.port_id,
          info_.driver, udp_port, queue, ip == RTE_FLOW_ITEM_TYPE_IPV4 ? "IPv4" : "IPv6",
          error.message != nullptr ? error.message : DpdkError(rte_errno)));
    }
    has_flow_rules_ = true;
  }
  return absl::OkStatus();
}

uint32_t Port::FitPayloadMtu(uint32_t wanted) const {
  if (info_.payload_mtu >= wanted) return wanted;
  spdlog::warn(
      "port {} carries at most {} payload bytes per packet: --mtu {} lowered to {} (where the "
      "PMD under-reports what it carries, as net_memif does, --link-mtu raises the limit)",
      info_.port_id, info_.payload_mtu, wanted, info_.payload_mtu);
  return info_.payload_mtu;
}

bool Port::WaitForLink(int timeout_ms, bool up) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  const uint16_t wanted = up ? RTE_ETH_LINK_UP : RTE_ETH_LINK_DOWN;
  while (true) {
    rte_eth_link link;
    if (rte_eth_link_get_nowait(info_.port_id, &link) == 0 && link.link_status == wanted) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Port::AwaitPeerClosed(int timeout_ms) const {
  if (NeedsOrderedClose() && WaitForLink(timeout_ms, /*up=*/false)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

uint32_t Port::LinkSpeedMbps() const {
  rte_eth_link link;
  if (rte_eth_link_get_nowait(info_.port_id, &link) != 0 || link.link_status != RTE_ETH_LINK_UP ||
      link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN) {
    return 0;
  }
  return link.link_speed;
}

PortStats Port::stats() const {
  PortStats out;
  rte_eth_stats s;
  if (rte_eth_stats_get(info_.port_id, &s) != 0) return out;
  out.rx_packets = s.ipackets;
  out.tx_packets = s.opackets;
  out.rx_bytes = s.ibytes;
  out.tx_bytes = s.obytes;
  out.rx_missed = s.imissed;
  out.rx_errors = s.ierrors;
  out.tx_errors = s.oerrors;
  out.rx_no_mbuf = s.rx_nombuf;
  return out;
}

absl::StatusOr<std::pair<uint16_t, uint16_t>> CreateRingPortPair(const std::string& name,
                                                                 uint16_t queues) {
  if (queues == 0 || queues > RTE_MAX_QUEUES_PER_PORT) {
    return absl::InvalidArgumentError(absl::StrFormat("ring pair: bad queue count %d", queues));
  }
  // a_to_b[i] carries A's TX queue i to B's RX queue i, and back.
  std::vector<rte_ring*> a_to_b(queues);
  std::vector<rte_ring*> b_to_a(queues);
  for (uint16_t q = 0; q < queues; ++q) {
    for (auto [rings, dir] : {std::pair{&a_to_b, "ab"}, std::pair{&b_to_a, "ba"}}) {
      const std::string ring_name = absl::StrFormat("%s_%s%d", name, dir, q);
      rte_ring* ring = rte_ring_create(ring_name.c_str(), 4096, static_cast<int>(rte_socket_id()),
                                       RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (ring == nullptr) {
        return absl::ResourceExhaustedError(absl::StrFormat("ring pair: cannot create ring %s: %s",
                                                            ring_name, DpdkError(rte_errno)));
      }
      (*rings)[q] = ring;
    }
  }
  const std::string a_name = name + "_a";
  const std::string b_name = name + "_b";
  const int a = rte_eth_from_rings(a_name.c_str(), b_to_a.data(), queues, a_to_b.data(), queues,
                                   rte_socket_id());
  const int b = rte_eth_from_rings(b_name.c_str(), a_to_b.data(), queues, b_to_a.data(), queues,
                                   rte_socket_id());
  if (a < 0 || b < 0) {
    return absl::InternalError(
        absl::StrFormat("ring pair: cannot create net_ring ports: %s", DpdkError(rte_errno)));
  }
  return std::pair{static_cast<uint16_t>(a), static_cast<uint16_t>(b)};
}

uint32_t MemifBufferBytes(std::string_view devargs) {
  return MemifArgument(devargs, "bsize", 1, UINT16_MAX, 2048);
}

uint32_t MemifRingSlots(std::string_view devargs) {
  return uint32_t{1} << MemifArgument(devargs, "rsize", 1, 14, 10);
}

std::string DescribePort(const PortInfo& info) {
  return absl::StrFormat(
      "port %d: %s (%s) mac %s, %d queue(s), %d/%d descriptors, MTU %d (payload %d), "
      "offloads:%s%s%s%s",
      info.port_id, info.name, info.driver, info.mac.ToString(), info.queues, info.rx_descriptors,
      info.tx_descriptors, info.mtu, info.payload_mtu,
      info.tx_ipv4_checksum ? " tx-ipv4-cksum" : "", info.tx_udp_checksum ? " tx-udp-cksum" : "",
      info.rx_ipv4_checksum ? " rx-ipv4-cksum" : "", info.tx_multi_segment ? " multi-seg" : "");
}

}  // namespace tern::dpdk
