// An Ethernet port on any PMD, set up with what it offers: queues,
// descriptors, MTU and checksum offloads are negotiated from rte_eth_dev_info,
// and whatever the port lacks is logged and done in software, never refused.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "transport/wire.h"

struct rte_mempool;

namespace tern::dpdk {

struct PortOptions {
  uint16_t port_id = 0;
  uint16_t queues = 1;  // one RX and one TX queue per worker
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  // Tern payload bytes per packet the port must carry (the QPs' path MTU).
  uint32_t payload_mtu = 4096;
  // IP MTU the link carries, when known better than the port reports; 0
  // trusts the port. It can lower the MTU (a fabric smaller than the NIC) or
  // raise it past the report: net_memif on DPDK 22.11 reports 1518-byte
  // frames at most, yet chains its buffers for frames of any length.
  uint32_t link_mtu = 0;
  // mbufs per queue; 0 picks enough for the rings plus in-flight bursts.
  uint32_t mbufs_per_queue = 0;
};

// What was negotiated. `missing` lists, in words, what the port does not offer
// and what Tern does instead.
struct PortInfo {
  uint16_t port_id = 0;
  std::string name;    // device name (e.g. net_memif0, 0000:3b:00.0)
  std::string driver;  // PMD (e.g. net_memif, mlx5_pci)
  MacAddress mac;
  uint16_t queues = 1;
  uint16_t rx_descriptors = 0;
  uint16_t tx_descriptors = 0;
  // Frames one queue's ring holds: the larger descriptor count, or for
  // net_memif, whose rings ignore it, the size its device arguments give.
  uint32_t ring_frames = 0;
  uint32_t mtu = 0;          // IP MTU set on the port
  uint32_t payload_mtu = 0;  // Tern payload per packet that fits it (IPv6 outer headers)
  bool tx_ipv4_checksum = false;
  bool tx_udp_checksum = false;  // used for IPv6 only: IPv4 frames carry none
  bool rx_ipv4_checksum = false;
  bool tx_multi_segment = false;
  std::vector<std::string> missing;
};

struct PortStats {
  uint64_t rx_packets = 0;
  uint64_t tx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  uint64_t rx_missed = 0;  // dropped by the port: no RX descriptor free
  uint64_t rx_errors = 0;
  uint64_t tx_errors = 0;
  uint64_t rx_no_mbuf = 0;
};

class Port {
 public:
  // Configures and starts the port. Errors only for what cannot be worked
  // around (no such port, no memory for its mbufs, the PMD refusing to start).
  static absl::StatusOr<std::unique_ptr<Port>> Open(const PortOptions& options);
  ~Port();  // stops and closes the port
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  const PortInfo& info() const { return info_; }
  uint16_t id() const { return info_.port_id; }
  rte_mempool* pool(uint16_t queue) const { return pools_[queue]; }
  // mbufs without data room, to attach registered memory to (zero-copy
  // transmit); null when the port has no multi-segment TX.
  rte_mempool* attach_pool(uint16_t queue) const {
    return attach_pools_.empty() ? nullptr : attach_pools_[queue];
  }
  // Largest frame an mbuf of this port's pools holds in one segment.
  uint32_t max_frame_bytes() const { return max_frame_bytes_; }
  // The payload per packet to use for `wanted` (an app's --mtu): itself when
  // the port carries it, the port's limit otherwise, with a warning.
  uint32_t FitPayloadMtu(uint32_t wanted) const;

  // Waits up to `timeout_ms` for the link to come up (a memif peer to
  // connect, a cable to train), or with `up` false to go down (a memif peer
  // to close). True when it did.
  bool WaitForLink(int timeout_ms, bool up = true) const;
  // Two processes on the two ends of a net_memif link must close their ports
  // in turn: DPDK 22.11's memif handles the peer's close on its interrupt
  // thread (memif_disconnect frees the shared regions), and a port closed
  // while that runs frees them twice and crashes at exit. The first process
  // closes, tells the second, and the second calls AwaitPeerClosed before
  // closing: it waits up to `timeout_ms` for the link to go down, then a
  // grace period, since memif marks the link down as its disconnect begins,
  // not as it ends. Other drivers need no order and return at once.
  bool NeedsOrderedClose() const { return info_.driver == "net_memif"; }
  void AwaitPeerClosed(int timeout_ms) const;
  // The link speed the PMD reports in Mb/s; 0 when the link is down or the
  // speed unknown.
  uint32_t LinkSpeedMbps() const;
  PortStats stats() const;

  // Asks the NIC to deliver frames for UDP destination port `udp_port` (over
  // IPv4 and IPv6) to RX queue `queue`, with rte_flow rules. The error says
  // why it cannot (most virtual PMDs have no flow rules); software steering
  // between the workers (steering.h) does the job then.
  absl::Status SteerUdpPort(uint16_t udp_port, uint16_t queue);

 private:
  Port() = default;
  PortInfo info_;
  std::vector<rte_mempool*> pools_;
  std::vector<rte_mempool*> attach_pools_;
  uint32_t max_frame_bytes_ = 0;
  bool started_ = false;
  bool has_flow_rules_ = false;
};

// Two net_ring ports joined back to back in this process: what one sends the
// other receives, queue i to queue i. For --loopback and tests without a NIC.
absl::StatusOr<std::pair<uint16_t, uint16_t>> CreateRingPortPair(const std::string& name,
                                                                 uint16_t queues);

// One line: driver, MAC, queues, MTU, offloads and what is missing.
std::string DescribePort(const PortInfo& info);

// The buffer size of a net_memif port with device arguments `devargs`
// ("role=client,socket=...,bsize=N"): N, or the PMD's default of 2048. A
// frame longer than that spans several buffers, and DPDK 22.11's memif
// transmit, offered such a frame when its ring has fewer free buffers than
// the frame needs, claims one buffer too many: it overwrites the oldest
// buffer the peer has not read yet, and that frame arrives as zero-filled
// pieces. Port::Open warns of it; docs/dpdk.md has the evidence.
uint32_t MemifBufferBytes(std::string_view devargs);
// The ring size of a net_memif port: 2^N for rsize=N in its device arguments
// (1..14, as the PMD takes), or the PMD's default of 2^10.
uint32_t MemifRingSlots(std::string_view devargs);

}  // namespace tern::dpdk
