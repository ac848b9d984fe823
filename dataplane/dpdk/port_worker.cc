#include "dataplane/dpdk/port_worker.h"

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/str_format.h"
#include "dataplane/dpdk/capture.h"
#include "dataplane/dpdk/eal.h"
#include "dataplane/dpdk/port.h"
#include "dataplane/dpdk/steering.h"

namespace tern::dpdk {
namespace {
constexpr size_t kHoldCapacityTotal = 8192;
constexpr size_t kIpv4ChecksumOffset = sizeof(EthernetHeader) + 10;

// Called when the last attached payload segment is freed after the worker
// let go of its reference.
void FreeSharedInfo(void* /*payload*/, void* shared_info) { rte_free(shared_info); }

rte_mbuf_ext_shared_info* NewSharedInfo() {
  auto* info = static_cast<rte_mbuf_ext_shared_info*>(
      rte_zmalloc("tern_shinfo", sizeof(rte_mbuf_ext_shared_info), RTE_CACHE_LINE_SIZE));
  if (info == nullptr) return nullptr;
  info->free_cb = FreeSharedInfo;
  info->fcb_opaque = info;
  rte_mbuf_ext_refcnt_set(info, 1);
  return info;
}

constexpr WorkerCounterField kWorkerCounterFields[] = {
    {"loops", &WorkerCounters::loops},
    {"rx_frames", &WorkerCounters::rx_frames},
    {"tx_frames", &WorkerCounters::tx_frames},
    {"tx_ring_full", &WorkerCounters::tx_ring_full},
    {"tx_no_mbuf", &WorkerCounters::tx_no_mbuf},
    {"tx_oversized", &WorkerCounters::tx_oversized},
    {"rx_multi_segment", &WorkerCounters::rx_multi_segment},
    {"rx_ip_checksum_bad", &WorkerCounters::rx_ip_checksum_bad},
    {"arp_requests_answered", &WorkerCounters::arp_requests_answered},
    {"arp_requests_sent", &WorkerCounters::arp_requests_sent},
    {"arp_learned", &WorkerCounters::arp_learned},
    {"nd_solicitations_answered", &WorkerCounters::nd_solicitations_answered},
    {"nd_solicitations_sent", &WorkerCounters::nd_solicitations_sent},
    {"nd_learned", &WorkerCounters::nd_learned},
    {"nd_address_defended", &WorkerCounters::nd_address_defended},
    {"hold_overflow", &WorkerCounters::hold_overflow},
    {"steered_out", &WorkerCounters::steered_out},
    {"steered_in", &WorkerCounters::steered_in},
    {"steer_ring_full", &WorkerCounters::steer_ring_full},
    {"tx_zero_copy", &WorkerCounters::tx_zero_copy},
    {"tx_payload_copied", &WorkerCounters::tx_payload_copied},
};
// A field added to WorkerCounters and not listed above fails here.
static_assert(sizeof(WorkerCounters) == std::size(kWorkerCounterFields) * sizeof(uint64_t));

}  // namespace

PortWorker::PortWorker(const Port& port, uint16_t queue, Context& context, const TscClock& clock,
                       PacketCapture* capture)
    : port_(port),
      port_id_(port.id()),
      queue_(queue),
      context_(context),
      clock_(clock),
      capture_(capture),
      pool_(port.pool(queue)),
      tx_ipv4_checksum_(port.info().tx_ipv4_checksum),
      tx_udp_checksum_(port.info().tx_udp_checksum),
      max_frame_(port.max_frame_bytes()),
      attach_pool_(port.attach_pool(queue)),
      shared_info_(attach_pool_ != nullptr ? NewSharedInfo() : nullptr),
      rx_scratch_(port.max_frame_bytes()) {
  SetZeroCopy(true);
  neighbor_requests_.reserve(16);
}

PortWorker::~PortWorker() {
  rte_pktmbuf_free_bulk(tx_pending_, tx_count_);
  rte_pktmbuf_free_bulk(spare_, spare_count_);
  for (HoldRing& ring : held_) {
    for (size_t i = 0; i < ring.count; ++i) {
      rte_pktmbuf_free(ring.slots[(ring.head + i) % ring.slots.size()].frame);
    }
  }
  if (shared_info_ != nullptr && rte_mbuf_ext_refcnt_update(shared_info_, -1) == 0) {
    rte_free(shared_info_);
  }
}

void PortWorker::SetFaults(const FaultConfig& config) {
  // Held frames go out now: the rings are rebuilt for the new path count.
  for (HoldRing& ring : held_) {
    for (; ring.count > 0; --ring.count, ring.head = (ring.head + 1) % ring.slots.size()) {
      rte_mbuf* m = ring.slots[ring.head].frame;
      if (tx_count_ < std::size(tx_pending_)) {
        tx_pending_[tx_count_++] = m;
      } else {
        rte_pktmbuf_free(m);
      }
    }
  }
  held_total_ = 0;
  faults_.Configure(config);
  held_.clear();
  if (config.reorder > Duration::Zero() && config.paths > 1) {
    held_.resize(config.paths);
    const size_t per_path = std::max<size_t>(64, kHoldCapacityTotal / config.paths);
    for (HoldRing& ring : held_) ring.slots.resize(per_path);
  }
}

void PortWorker::RequestNeighbor(const IpAddress& ip) {
  if (neighbor_requests_.size() < neighbor_requests_.capacity()) neighbor_requests_.push_back(ip);
}

size_t PortWorker::Poll(uint64_t tsc) {
  ++counters_.loops;
  const Time now = clock_.ToTime(tsc);
  const uint64_t before = counters_.rx_frames + counters_.tx_frames;
  Receive(tsc, now);
  const Endpoint& local = context_.local();
  for (const IpAddress& ip : neighbor_requests_) {
    if (ip.is_v6 != local.ip.is_v6) continue;
    if (ip.is_v6) {
      uint8_t frame[kNdpFrameBytes];
      const size_t len =
          EncodeNdp(ip == local.ip ? ProbeAddress(local) : SolicitNeighbor(local, ip), frame);
      if (StageControlFrame(frame, len)) ++counters_.nd_solicitations_sent;
      continue;
    }
    ArpMessage request;
    request.op = ArpOp::kRequest;
    request.sender_mac = local.mac;
    // For the local address itself, an ARP probe (RFC 5227 section 2.1.1):
    // sender address 0, so that nobody learns an address not yet ours.
    request.sender_ip = ip == local.ip ? 0 : local.ip.v4();
    request.target_ip = ip.v4();
    uint8_t frame[kArpFrameBytes];
    const size_t len = EncodeArp(request, frame);
    if (StageControlFrame(frame, len)) ++counters_.arp_requests_sent;
  }
  neighbor_requests_.clear();
  ReleaseHeld(tsc);
  // New frames only when the TX queue took the last ones: a full queue pushes
  // back on the protocol instead of dropping what it built.
  if (tx_count_ < kBurst) BuildFrames(tsc, now);
  FlushTx(tsc);
  return counters_.rx_frames + counters_.tx_frames - before;
}

void PortWorker::JoinSteering(SoftwareSteering* steering, int index) {
  steering_ = steering;
  steering_index_ = index;
}

void PortWorker::Receive(uint64_t tsc, Time now) {
  rte_mbuf* rx[kBurst];
  if (steering_ != nullptr) {
    const size_t handed = steering_->Take(steering_index_, rx);
    counters_.steered_in += handed;
    Process({rx, handed}, /*may_steer=*/false, now);
  }
  const uint16_t n = rte_eth_rx_burst(port_id_, queue_, rx, kBurst);
  if (n == 0) return;
  counters_.rx_frames += n;
  if (capture_ != nullptr)
    capture_->Record(port_id_, queue_, rx, n, PacketCapture::Direction::kIn, tsc);
  Process({rx, n}, /*may_steer=*/steering_ != nullptr, now);
}

void PortWorker::Process(std::span<rte_mbuf*> frames, bool may_steer, Time now) {
  const size_t n = frames.size();
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(frames[i + 1], void*));
    rte_mbuf* m = frames[i];
    if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD) {
      ++counters_.rx_ip_checksum_bad;
      continue;
    }
    std::span<const uint8_t> frame;
    if (m->nb_segs == 1) {
      frame = {rte_pktmbuf_mtod(m, const uint8_t*), m->data_len};
    } else {
      // Chained: copy out (bounded by the scratch; longer frames are cut and
      // then refused by the decoder's length checks).
      ++counters_.rx_multi_segment;
      const uint32_t len =
          std::min<uint32_t>(m->pkt_len, static_cast<uint32_t>(rx_scratch_.size()));
      const void* p = rte_pktmbuf_read(m, 0, len, rx_scratch_.data());
      frame = {static_cast<const uint8_t*>(p), len};
    }
    const bool is_arp = frame.size() >= sizeof(EthernetHeader) &&
                        frame[12] == (kEtherTypeArp >> 8) && frame[13] == (kEtherTypeArp & 0xFF);
    if (may_steer) {
      // Address resolution belongs to the port, not to a queue: worker 0 keeps
      // the neighbor table ResolveNeighbor reads, so ARP and ICMPv6 spread
      // onto another queue go to it. Frames for no worker's UDP port stay
      // here, where this context counts the drop.
      int owner = 0;
      if (!is_arp && !IsIcmpv6(frame)) {
        const std::optional<uint16_t> udp_port = PeekUdpDestinationPort(frame);
        owner = udp_port ? steering_->OwnerOf(*udp_port) : -1;
      }
      if (owner >= 0 && owner != steering_index_) {
        if (steering_->HandOver(owner, m)) {
          ++counters_.steered_out;
          frames[i] = nullptr;  // the owner frees it
        } else {
          ++counters_.steer_ring_full;
        }
        continue;
      }
    }
    if (is_arp) {
      if (std::optional<ArpMessage> arp = DecodeArp(frame)) HandleArp(*arp);
      continue;
    }
    // Other ICMPv6 (router advertisements, listener reports) goes on to the
    // context, which counts it as not Tern.
    if (std::optional<NdpMessage> nd = DecodeNdp(frame)) {
      HandleNdp(*nd);
      continue;
    }
    context_.OnFrame(frame, now);
  }
  rte_pktmbuf_free_bulk(frames.data(), static_cast<unsigned>(n));
}

void PortWorker::HandleArp(const ArpMessage& message) {
  const Endpoint& local = context_.local();
  // Whoever asks or answers tells us its address (RFC 826's merge step).
  if (message.sender_ip != 0 && !message.sender_mac.IsZero()) {
    neighbors_.Learn(IpAddress::V4(message.sender_ip), message.sender_mac);
    ++counters_.arp_learned;
  }
  if (std::optional<ArpMessage> reply = AnswerArp(message, local)) {
    uint8_t frame[kArpFrameBytes];
    const size_t len = EncodeArp(*reply, frame);
    if (StageControlFrame(frame, len)) ++counters_.arp_requests_answered;
  }
}

void PortWorker::HandleNdp(const NdpMessage& message) {
  // An advertisement names the target's MAC; a solicitation the asker's.
  const IpAddress& ip =
      message.type == NdpType::kAdvertisement ? message.target : message.source_ip;
  if (!message.link_layer.IsZero()) {
    neighbors_.Learn(ip, message.link_layer);
    ++counters_.nd_learned;
  }
  if (std::optional<NdpMessage> reply = AnswerNdp(message, context_.local())) {
    uint8_t frame[kNdpFrameBytes];
    const size_t len = EncodeNdp(*reply, frame);
    if (StageControlFrame(frame, len)) ++counters_.nd_solicitations_answered;
    if (IsDuplicateAddressProbe(message)) ++counters_.nd_address_defended;
  }
}

bool PortWorker::StageControlFrame(const uint8_t* bytes, size_t len) {
  if (tx_count_ >= std::size(tx_pending_)) return false;
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    ++counters_.tx_no_mbuf;
    return false;
  }
  std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), bytes, len);
  m->data_len = static_cast<uint16_t>(len);
  m->pkt_len = static_cast<uint32_t>(len);
  tx_pending_[tx_count_++] = m;
  return true;
}

void PortWorker::BuildFrames(uint64_t tsc, Time now) {
  uint16_t room = static_cast<uint16_t>(
      std::min<size_t>(kBurst, (std::size(tx_pending_) - tx_count_) / 2));  // duplicates need room
  if (room == 0) return;
  // Spare mbufs are kept between iterations: an idle loop allocates and
  // frees nothing; only what was used is refilled.
  if (spare_count_ < room) {
    if (rte_pktmbuf_alloc_bulk(pool_, spare_ + spare_count_, kBurst - spare_count_) != 0) {
      ++counters_.tx_no_mbuf;
      if (spare_count_ == 0) return;
    } else {
      spare_count_ = kBurst;
    }
  }
  room = std::min<uint16_t>(room, spare_count_);
  const size_t n = context_.PollTransmit(now, {tx_built_, room});
  for (size_t i = 0; i < n; ++i) {
    rte_mbuf* m = spare_[--spare_count_];
    const TxPacket& p = tx_built_[i];
    const size_t len = p.frame_len();
    if (len > max_frame_) {
      ++counters_.tx_oversized;
      rte_pktmbuf_free(m);
      continue;
    }
    uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
    if (AttachPayload(m, p)) {
      ++counters_.tx_zero_copy;
    } else {
      p.WriteFrame(data);
      m->data_len = static_cast<uint16_t>(len);
      m->pkt_len = static_cast<uint32_t>(len);
      if (p.is_data() && !p.payload.empty()) ++counters_.tx_payload_copied;
    }
    if (p.dst->ip.is_v6) {
      FillIpv6UdpChecksum(m);
    } else if (tx_ipv4_checksum_) {
      // The port fills in the IPv4 header checksum.
      data[kIpv4ChecksumOffset] = 0;
      data[kIpv4ChecksumOffset + 1] = 0;
      m->l2_len = sizeof(EthernetHeader);
      m->l3_len = sizeof(Ipv4Header);
      m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
    }
    Stage(m, p.entropy, len, tsc);
  }
}

// IPv6 makes the UDP checksum mandatory (RFC 8200, 8.1); transport/ leaves it
// zero because it covers the payload, which a zero-copy frame carries in an
// attached segment. IPv4 frames go without one (RFC 768 allows it; the Tern
// CRC32C protects the packet).
void PortWorker::FillIpv6UdpChecksum(rte_mbuf* m) const {
  constexpr uint16_t kUdpOffset = sizeof(EthernetHeader) + sizeof(Ipv6Header);
  if (m->data_len < kUdpOffset + sizeof(UdpHeader)) return;  // not a frame transport/ built
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, sizeof(EthernetHeader));
  auto* udp = rte_pktmbuf_mtod_offset(m, rte_udp_hdr*, kUdpOffset);
  if (tx_udp_checksum_) {
    // The DPDK offload contract: lengths, flags, and the pseudo-header sum in
    // the checksum field; the port adds the rest.
    m->l2_len = sizeof(EthernetHeader);
    m->l3_len = sizeof(Ipv6Header);
    m->ol_flags |= RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM;
    udp->dgram_cksum = rte_ipv6_phdr_cksum(ip, m->ol_flags);
  } else {
    udp->dgram_cksum = 0;
    udp->dgram_cksum = rte_ipv6_udptcp_cksum_mbuf(m, ip, kUdpOffset);
  }
}

bool PortWorker::AttachPayload(rte_mbuf* head, const TxPacket& packet) {
  const std::span<const uint8_t> payload = packet.payload;
  if (!zero_copy_ || !packet.is_data() || payload.size() < kZeroCopyMinPayload ||
      payload.size() > UINT16_MAX) {
    return false;
  }
  // A retransmission can still be queued when the original's ACK completes
  // the message and the application rewrites the buffer; a copy leaves with
  // what its checksum covers. Retransmissions are few, so copying them costs
  // little.
  if (packet.is_retransmission()) return false;
  const std::optional<uint64_t> iova = dma_addresses_.Lookup(payload.data(), payload.size());
  // The reference count has 16 bits: far into them, copy rather than wrap.
  if (!iova || rte_mbuf_ext_refcnt_read(shared_info_) > UINT16_MAX / 2) return false;
  rte_mbuf* tail = rte_pktmbuf_alloc(attach_pool_);
  if (tail == nullptr) return false;
  rte_mbuf_ext_refcnt_update(shared_info_, 1);
  // The PMD only reads the payload; DPDK's API takes the buffer non-const.
  rte_pktmbuf_attach_extbuf(tail, const_cast<uint8_t*>(payload.data()), *iova,
                            static_cast<uint16_t>(payload.size()), shared_info_);
  tail->data_len = static_cast<uint16_t>(payload.size());
  tail->pkt_len = static_cast<uint32_t>(payload.size());
  const size_t headers = packet.WriteHeaders(rte_pktmbuf_mtod(head, uint8_t*));
  head->data_len = static_cast<uint16_t>(headers);
  head->pkt_len = static_cast<uint32_t>(headers);
  rte_pktmbuf_chain(head, tail);  // two segments: never over the limit
  return true;
}

bool PortWorker::AttachesRegisteredMemory(const rte_mbuf* m) {
  for (; m != nullptr; m = m->next) {
    if (RTE_MBUF_HAS_EXTBUF(m)) return true;
  }
  return false;
}

void PortWorker::Stage(rte_mbuf* m, uint16_t entropy, size_t len, uint64_t tsc) {
  if (!faults_.active()) {
    tx_pending_[tx_count_++] = m;
    return;
  }
  const size_t outer =
      OuterHeaderBytes(len >= sizeof(EthernetHeader) &&
                       rte_pktmbuf_mtod(m, const uint8_t*)[12] == (kEtherTypeIpv6 >> 8) &&
                       rte_pktmbuf_mtod(m, const uint8_t*)[13] == (kEtherTypeIpv6 & 0xFF));
  const FaultVerdict v = faults_.Judge(entropy, len, outer);
  if (v.drop) {
    rte_pktmbuf_free(m);
    return;
  }
  const bool delayed = v.delay > Duration::Zero() && v.path < held_.size();
  // Never flip a bit in registered memory, and never let a frame that is
  // still "on the wire" read it later: once sent, the bytes belong to the wire.
  if ((v.corrupt_offset < len || delayed) && AttachesRegisteredMemory(m)) {
    rte_mbuf* linear = rte_pktmbuf_copy(m, pool_, 0, UINT32_MAX);
    rte_pktmbuf_free(m);
    if (linear == nullptr) {
      ++counters_.tx_no_mbuf;
      return;
    }
    m = linear;
  }
  if (v.corrupt_offset < len) rte_pktmbuf_mtod(m, uint8_t*)[v.corrupt_offset] ^= v.corrupt_mask;
  rte_mbuf* copy = v.duplicate ? rte_pktmbuf_copy(m, pool_, 0, UINT32_MAX) : nullptr;
  for (rte_mbuf* frame : {m, copy}) {
    if (frame == nullptr) continue;
    if (delayed) {
      HoldRing& ring = held_[v.path];
      if (ring.count < ring.slots.size()) {
        const uint64_t release = clock_.ToTsc(clock_.ToTime(tsc) + v.delay);
        ring.slots[(ring.head + ring.count) % ring.slots.size()] = {frame, release};
        ++ring.count;
        ++held_total_;
        continue;
      }
      ++counters_.hold_overflow;
    }
    if (tx_count_ < std::size(tx_pending_)) {
      tx_pending_[tx_count_++] = frame;
    } else {
      rte_pktmbuf_free(frame);  // only a duplicate can find no room
    }
  }
}

void PortWorker::ReleaseHeld(uint64_t tsc) {
  if (held_total_ == 0) return;
  for (HoldRing& ring : held_) {
    while (ring.count > 0 && ring.slots[ring.head].release_tsc <= tsc &&
           tx_count_ < std::size(tx_pending_)) {
      tx_pending_[tx_count_++] = ring.slots[ring.head].frame;
      ring.head = (ring.head + 1) % ring.slots.size();
      --ring.count;
      --held_total_;
    }
  }
}

void PortWorker::FlushTx(uint64_t tsc) {
  if (tx_count_ == 0) return;
  // Captured once, when first offered: a retried frame is not written twice.
  if (capture_ != nullptr && tx_captured_ < tx_count_) {
    capture_->Record(port_id_, queue_, tx_pending_ + tx_captured_,
                     static_cast<uint16_t>(tx_count_ - tx_captured_),
                     PacketCapture::Direction::kOut, tsc);
    tx_captured_ = tx_count_;
  }
  const uint16_t sent = rte_eth_tx_burst(port_id_, queue_, tx_pending_, tx_count_);
  tx_captured_ = static_cast<uint16_t>(tx_captured_ - sent);
  counters_.tx_frames += sent;
  if (sent < tx_count_) {
    ++counters_.tx_ring_full;
    std::memmove(tx_pending_, tx_pending_ + sent, (tx_count_ - sent) * sizeof(rte_mbuf*));
  }
  tx_count_ = static_cast<uint16_t>(tx_count_ - sent);
}

absl::StatusOr<MacAddress> ResolveNeighbor(PortWorker& asker, std::span<PortWorker* const> all,
                                           const IpAddress& ip, double timeout_seconds) {
  const IpAddress& local = asker.context().local().ip;
  if (ip.is_v6 != local.is_v6) {
    return absl::InvalidArgumentError(
        absl::StrFormat("next hop %s and this host's address %s are not of one IP family",
                        ip.ToString(), local.ToString()));
  }
  const uint64_t hz = TscHz();
  const uint64_t deadline = ReadTsc() + static_cast<uint64_t>(timeout_seconds * hz);
  uint64_t next_request = 0;
  while (true) {
    const uint64_t tsc = ReadTsc();
    if (std::optional<MacAddress> mac = asker.neighbors().Lookup(ip)) return *mac;
    if (tsc > deadline) {
      return absl::UnavailableError(absl::StrFormat(
          "no %s for %s within %g s (wrong address, peer not up, or peer behind a "
          "router: tern-perf --gateway; or give the next hop's MAC: tern-perf --peer-mac, "
          "tern-replay hosts file mac=)",
          ip.is_v6 ? "neighbor advertisement" : "ARP reply", ip.ToString(), timeout_seconds));
    }
    if (tsc >= next_request) {
      asker.RequestNeighbor(ip);
      next_request = tsc + hz / 10;
    }
    for (PortWorker* w : all) w->Poll(tsc);
  }
}

absl::Status CheckAddressUnique(PortWorker& worker, std::span<PortWorker* const> all,
                                double wait_seconds) {
  const Endpoint& local = worker.context().local();
  // One probe, as RFC 4862's DupAddrDetectTransmits (RFC 5227 sends three,
  // 1 to 2 s apart: a lab fabric does not lose the one).
  worker.RequestNeighbor(local.ip);
  const uint64_t deadline = ReadTsc() + static_cast<uint64_t>(wait_seconds * TscHz());
  for (uint64_t tsc = ReadTsc(); tsc <= deadline; tsc = ReadTsc()) {
    for (PortWorker* w : all) w->Poll(tsc);
    // An answer for our address (an ARP reply, a neighbor advertisement) was
    // learned like any other.
    const std::optional<MacAddress> owner = worker.neighbors().Lookup(local.ip);
    if (owner && *owner != local.mac) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "address %s is already in use on this link by %s (%s); give each host its own address",
          local.ip.ToString(), owner->ToString(),
          local.ip.is_v6 ? "duplicate address detection" : "ARP probe"));
    }
  }
  return absl::OkStatus();
}

std::span<const WorkerCounterField> WorkerCounterFields() { return kWorkerCounterFields; }

}  // namespace tern::dpdk
