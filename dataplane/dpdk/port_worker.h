// The run-to-completion loop body for one (port, queue) and the Context it
// drives: RX burst -> ARP or protocol -> TX burst. The caller's lcore calls
// Poll() with one TSC reading per iteration; the worker never blocks, takes no
// lock and allocates nothing after construction.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/dpdk/arp.h"
#include "dataplane/dpdk/dma_memory.h"
#include "dataplane/dpdk/fault_injector.h"
#include "dataplane/dpdk/ndp.h"
#include "dataplane/dpdk/neighbors.h"
#include "dataplane/dpdk/tsc_clock.h"
#include "transport/verbs.h"

struct rte_mbuf;
struct rte_mbuf_ext_shared_info;
struct rte_mempool;

namespace tern::dpdk {

class Port;
class PacketCapture;
class SoftwareSteering;

inline constexpr uint16_t kBurst = 32;
// Payloads shorter than this are copied even from DPDK memory: a second
// segment costs the PMD more than copying a few cache lines.
inline constexpr size_t kZeroCopyMinPayload = 512;

struct WorkerCounters {
  uint64_t loops = 0;
  uint64_t rx_frames = 0;
  uint64_t tx_frames = 0;
  uint64_t tx_ring_full = 0;        // frames the TX queue refused for a while (retried)
  uint64_t tx_no_mbuf = 0;          // loop iterations that found the mbuf pool empty
  uint64_t tx_oversized = 0;        // frames larger than an mbuf (never with a sane MTU)
  uint64_t rx_multi_segment = 0;    // frames copied out of chained mbufs
  uint64_t rx_ip_checksum_bad = 0;  // refused on the port's checksum verdict
  uint64_t arp_requests_answered = 0;
  uint64_t arp_requests_sent = 0;
  uint64_t arp_learned = 0;
  uint64_t nd_solicitations_answered = 0;  // IPv6 neighbor discovery, as ARP above
  uint64_t nd_solicitations_sent = 0;
  uint64_t nd_learned = 0;
  // Another host's duplicate address detection asked for our address: a
  // misconfigured lab host is trying to take it. Answered (defended).
  uint64_t nd_address_defended = 0;
  uint64_t hold_overflow = 0;      // reorder hold queue full: sent without its delay
  uint64_t steered_out = 0;        // received here, handed to the worker owning their UDP port
  uint64_t steered_in = 0;         // handed here by another worker
  uint64_t steer_ring_full = 0;    // dropped: the owner's steering ring was full
  uint64_t tx_zero_copy = 0;       // payload sent from registered memory, by reference
  uint64_t tx_payload_copied = 0;  // DATA payload copied into the mbuf
};
// Every WorkerCounters field with its name, in declaration order.
using WorkerCounterField = CounterField<WorkerCounters>;
std::span<const WorkerCounterField> WorkerCounterFields();

class PortWorker {
 public:
  PortWorker(const Port& port, uint16_t queue, Context& context, const TscClock& clock,
             PacketCapture* capture = nullptr);
  ~PortWorker();
  PortWorker(const PortWorker&) = delete;
  PortWorker& operator=(const PortWorker&) = delete;

  // One iteration at TSC `tsc`. Returns frames received plus frames sent.
  size_t Poll(uint64_t tsc);

  // Shares the port with other workers: a received frame for another
  // worker's UDP port is handed to it through `steering`, and frames handed
  // here are processed as if received. `index` is this worker's place in it.
  // ARP and ICMPv6 go to worker 0, which resolves neighbors for the port: it
  // is the asker to pass to ResolveNeighbor. Before the first Poll.
  void JoinSteering(SoftwareSteering* steering, int index);

  // Asks for the MAC of `ip` on the next Poll: an ARP request for IPv4, a
  // neighbor solicitation for IPv6 (`ip` and the local address share a family).
  // For the local address itself, a probe (ARP probe, duplicate address
  // detection) that only another holder of the address answers.
  void RequestNeighbor(const IpAddress& ip);
  NeighborTable& neighbors() { return neighbors_; }

  // Transmit impairments; only from the thread that calls Poll(). Frames held
  // back by the previous setting are sent at once.
  void SetFaults(const FaultConfig& config);
  const FaultInjector& faults() const { return faults_; }

  // Zero-copy transmit (on by default where the port has multi-segment TX):
  // a payload of kZeroCopyMinPayload bytes or more that lies in DPDK memory
  // (AllocateDmaMemory) goes out as a second mbuf attached to the registered
  // memory itself. Off: every payload is copied, for A/B runs.
  void SetZeroCopy(bool on) { zero_copy_ = on && shared_info_ != nullptr; }
  bool zero_copy() const { return zero_copy_; }

  const WorkerCounters& counters() const { return counters_; }
  Context& context() { return context_; }
  const Context& context() const { return context_; }
  const TscClock& clock() const { return clock_; }

 private:
  void Receive(uint64_t tsc, Time now);
  // ARP, neighbor discovery or protocol for each frame; frames handed to another worker are
  // nulled in `frames`, the rest freed.
  void Process(std::span<rte_mbuf*> frames, bool may_steer, Time now);
  void HandleArp(const ArpMessage& message);
  void HandleNdp(const NdpMessage& message);
  // Moves what the context has ready into tx_pending_ (through the faults).
  void BuildFrames(uint64_t tsc, Time now);
  // Points the packet's payload segment at registered memory; false (and
  // nothing changed) when it must be copied instead.
  bool AttachPayload(rte_mbuf* head, const TxPacket& packet);
  // Whether a segment of `m` is a payload attached from a memory region.
  static bool AttachesRegisteredMemory(const rte_mbuf* m);
  void Stage(rte_mbuf* m, uint16_t entropy, size_t len, uint64_t tsc);
  void ReleaseHeld(uint64_t tsc);
  void FlushTx(uint64_t tsc);
  bool StageControlFrame(const uint8_t* bytes, size_t len);
  void FillIpv6UdpChecksum(rte_mbuf* m) const;

  const Port& port_;
  const uint16_t port_id_;
  const uint16_t queue_;
  Context& context_;
  const TscClock& clock_;
  PacketCapture* capture_;
  SoftwareSteering* steering_ = nullptr;
  int steering_index_ = -1;
  rte_mempool* pool_;
  const bool tx_ipv4_checksum_;
  const bool tx_udp_checksum_;
  const uint32_t max_frame_;
  rte_mempool* attach_pool_;  // null: the port cannot send chained mbufs
  bool zero_copy_ = false;
  // Shared by every attached payload segment; the worker holds one reference
  // and each segment in flight one, so it outlives the worker if need be.
  rte_mbuf_ext_shared_info* shared_info_ = nullptr;
  DmaAddressMap dma_addresses_;

  NeighborTable neighbors_;
  FaultInjector faults_;
  WorkerCounters counters_;

  // Frames built and not yet accepted by the TX queue; sent before anything new.
  rte_mbuf* tx_pending_[4 * kBurst];
  uint16_t tx_count_ = 0;
  uint16_t tx_captured_ = 0;  // leading tx_pending_ frames already captured
  rte_mbuf* spare_[kBurst];   // allocated, not yet used for a frame
  uint16_t spare_count_ = 0;
  // What PollTransmit fills, kept here rather than on the stack: building 32
  // of them per loop iteration cost an idle loop more than polling did.
  TxPacket tx_built_[kBurst];
  std::vector<uint8_t> rx_scratch_;  // a chained frame, linearized
  std::vector<IpAddress> neighbor_requests_;

  // Frames delayed by the reorder impairment: one FIFO per path (the delay is
  // constant per path, so each FIFO is in release order).
  struct Held {
    rte_mbuf* frame;
    uint64_t release_tsc;
  };
  struct HoldRing {
    std::vector<Held> slots;
    size_t head = 0;
    size_t count = 0;
  };
  std::vector<HoldRing> held_;
  size_t held_total_ = 0;
};

// Asks for `ip`'s MAC through `asker` (ARP or neighbor discovery) until an
// answer is learned, polling every worker in `all` meanwhile (a peer in this
// process must answer); UnavailableError after `timeout_seconds`,
// InvalidArgumentError when `ip` is not of the local address's family.
absl::StatusOr<MacAddress> ResolveNeighbor(PortWorker& asker, std::span<PortWorker* const> all,
                                           const IpAddress& ip, double timeout_seconds);

// Whether another host already holds the local address (an ARP probe, RFC
// 5227; duplicate address detection for IPv6, RFC 4862 section 5.4):
// `worker` probes once and listens `wait_seconds`, polling every worker in
// `all`. FailedPrecondition naming the other host's MAC when one answers; OK
// when none does.
absl::Status CheckAddressUnique(PortWorker& worker, std::span<PortWorker* const> all,
                                double wait_seconds);
// What the apps wait: the RFCs' timers (1 to 2 s) are sized for slow links; a
// host on a lab fabric answers within microseconds.
inline constexpr double kDuplicateAddressWaitSeconds = 0.2;

}  // namespace tern::dpdk
