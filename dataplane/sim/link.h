// One direction of a simulated wire segment: an output queue, a serializer and
// a propagation delay, with the impairments a fabric inflicts (drop-tail, ECN
// marking, loss, duplication, corruption, payload trimming, black holes).
//
// A Link is the port abstraction of the fabric simulator: a host NIC's egress,
// a switch's output port and a test wire are all a Link delivering to a sink.
//
// Timeline of one frame:
//   Send(): the frame joins the output queue (or, when the serializer is idle,
//     goes straight to it). Queue-time decisions happen here: drop-tail at
//     queue_bytes, ECN marking above ecn_threshold_bytes, random trimming.
//     Trimmed frames wait in a separate header queue that is served first.
//   Serialization: frames leave one at a time, each taking rate.TransferTime().
//     A departure due at the instant a frame arrives happens first.
//   On the wire: loss, black hole, corruption and duplication are decided as
//     serialization starts (and counted as sent then), then the frame arrives
//     `delay + U[0, jitter)` after its last bit left, but never before a frame
//     that left earlier: delivery is FIFO, as on a real path. Deciding at the
//     start spares an event per frame and hop (docs/simulator.md).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "dataplane/sim/frame_buffer.h"
#include "dataplane/sim/simulator.h"
#include "transport/fifo.h"
#include "transport/random.h"
#include "transport/units.h"
#include "transport/wire.h"

namespace tern::sim {

// What a fabric's switches route a frame by, read from its headers once, as
// the sending host writes them (SimHost): then no hop touches the frame's
// bytes, each touch being a cache miss once a large fabric's frames outgrow
// the caches. The hops are taken off the IP TTL where the frame leaves.
struct FabricRoute {
  uint32_t src_ip = 0;
  uint32_t dst_ip = 0;
  uint16_t src_port = 0;  // UDP ports; 0 when not UDP
  uint16_t dst_port = 0;
  uint8_t ttl = 0;   // as the frame entered
  uint8_t hops = 0;  // switches passed, not yet taken off the TTL
  bool parsed : 1 = false;
  bool routable : 1 = false;   // IPv4 (the fabric routes nothing else)
  bool telemetry : 1 = false;  // a Tern DATA frame with a TelemetryStack to stamp
};
static_assert(sizeof(FabricRoute) == 16, "one per frame in flight");

// A whole Ethernet frame (no preamble, no FCS), as bytes, with the fabric's
// route note, which switches and links read instead of the headers.
//
// The stored bytes may stop before the frame does: its last `tail.size()`
// bytes, a DATA packet's payload, can stay in the sender's memory when the
// sender keeps them unchanged for the whole run (SimHost::SetStablePayload).
// A frame in flight then holds its headers alone, so a large fabric's frames
// stay in the caches. Whoever reads or changes the payload (a corruption,
// the receiving host) copies it in with AttachTail(); a trim drops it.
struct Frame : std::vector<uint8_t, FrameBufferAllocator<uint8_t>> {
  using std::vector<uint8_t, FrameBufferAllocator<uint8_t>>::vector;
  FabricRoute route;
  std::span<const uint8_t> tail;

  // The frame's length on the wire, stored bytes and tail.
  size_t wire_size() const { return size() + tail.size(); }
  void AttachTail() {
    insert(end(), tail.begin(), tail.end());
    tail = {};
  }
};
// Where a link (or a host, or a switch) hands the frames it emits.
using FrameSink = absl::AnyInvocable<void(Frame frame)>;

// Where the headers of an Ethernet / IPv4|IPv6 / UDP frame sit, found by
// bounds-checked fixed offsets: the same header shapes wire.h accepts (no VLAN
// tags, no IPv4 options, no IPv6 extension headers). Not a validity check:
// switches look only at what they need.
struct FrameLayout {
  bool ip = false;   // an IPv4 (IHL 5) or IPv6 header follows Ethernet
  bool udp = false;  // ...carrying UDP, with a UDP length that fits the frame
  bool ipv6 = false;
  size_t ip_offset = 0;
  size_t ecn_offset = 0;  // byte holding the ECN bits (see FrameView::ecn_offset)
  Ecn ecn = Ecn::kNotEct;
  size_t udp_offset = 0;
  size_t payload_offset = 0;  // first byte after the UDP header: the Tern packet
  size_t payload_len = 0;     // UDP length minus the UDP header
  uint16_t src_port = 0;      // the entropy value
  uint16_t dst_port = 0;
};
FrameLayout ParseFrameLayout(std::span<const uint8_t> frame);
// The same for the stored bytes of a frame `wire_size` bytes long (a Frame
// with a tail): the UDP length is checked against `wire_size`, so the payload
// the layout names may lie past `headers`.
FrameLayout ParseFrameLayout(std::span<const uint8_t> headers, size_t wire_size);
// The route note of `frame` (parsed, and routable when it is IPv4).
FabricRoute ReadFabricRoute(const Frame& frame);

// Cuts the payload of a Tern DATA frame, as a trimming switch does: keeps the
// outer headers and the Tern headers up to the end of the DATA header (and its
// RDMA extension), sets kFlagTrimmed, fixes the IP and UDP lengths, the IPv4
// header checksum and a non-zero UDP checksum, and reseals the Tern checksum.
// DataHeader::payload_len keeps the original length. Returns false, leaving the
// frame untouched, for anything else: other packet types, DATA without payload,
// frames already trimmed, frames that are not Tern v1.
bool TrimFrame(Frame& frame);

// Fills the next free record of the TelemetryStack of a Tern DATA frame that
// carries one (kFlagTelemetry) with what the egress port knows as the frame
// leaves; returns false, changing nothing, for any other frame or a full
// stack. The Tern checksum skips the stack, so it stays valid.
bool StampTelemetry(std::span<uint8_t> frame, Time now, uint64_t port_tx_bytes,
                    uint64_t queue_bytes, Bandwidth rate);
bool StampTelemetry(Frame& frame, Time now, uint64_t port_tx_bytes, uint64_t queue_bytes,
                    Bandwidth rate);
// The same for the stored bytes of a frame `wire_size` bytes long; its tail
// holds no part of the stack, which comes before the payload.
bool StampTelemetry(std::span<uint8_t> headers, size_t wire_size, Time now, uint64_t port_tx_bytes,
                    uint64_t queue_bytes, Bandwidth rate);
// Whether TrimFrame() would cut this frame.
bool IsTrimmable(const Frame& frame);

struct LinkConfig {
  Bandwidth rate = Bandwidth::Gbps(400);  // Unlimited(): no serialization time
  Duration delay = Duration::Zero();      // propagation: last bit out to last bit in
  Duration jitter = Duration::Zero();     // extra delay, uniform in [0, jitter)
  // Output-queue capacity in bytes, not counting the frame being serialized;
  // frames that do not fit are dropped (drop-tail). 0: unbounded.
  uint64_t queue_bytes = 0;
  // When queue_bytes is exceeded, trim Tern DATA frames to their headers and put
  // them in the header queue instead of dropping them (a trimming switch).
  bool trim_on_overflow = false;
  // RED-style ECN marking of ECN-capable frames, decided at enqueue on the
  // bytes already waiting (q): never below ecn_kmin_bytes, with probability
  // ecn_pmax * (q - kmin) / (kmax - kmin) between the two, always above
  // ecn_kmax_bytes. kmin == kmax is a step threshold. kmax 0: no marking.
  uint64_t ecn_kmin_bytes = 0;
  uint64_t ecn_kmax_bytes = 0;
  double ecn_pmax = 1.0;
  double loss = 0;         // probability a frame is lost on the wire
  double dup = 0;          // probability a frame arrives twice
  double corrupt = 0;      // probability one bit of the UDP payload (the Tern part) flips
  double trim = 0;         // probability a Tern DATA frame with payload is trimmed at enqueue
  bool blackhole = false;  // every frame is lost on the wire
  // Fill a telemetry record (queue, bytes sent, time, rate) into every Tern
  // DATA frame that carries a TelemetryStack, as the frame starts to leave.
  bool stamp_telemetry = false;
};

// What a link did. Invariants once the link is idle:
//   frames_offered = frames_sent + dropped_queue_full + dropped_shared_buffer
//   frames_delivered = frames_sent - dropped_loss - dropped_blackhole + duplicated
struct LinkCounters {
  uint64_t frames_offered = 0;  // Send() calls
  uint64_t bytes_offered = 0;
  uint64_t frames_sent = 0;  // serialized onto the wire (after any trim), from its start
  uint64_t bytes_sent = 0;
  uint64_t frames_delivered = 0;  // handed to the sink, duplicates included
  uint64_t bytes_delivered = 0;
  uint64_t dropped_queue_full = 0;
  uint64_t dropped_loss = 0;
  uint64_t dropped_blackhole = 0;
  uint64_t duplicated = 0;
  uint64_t corrupted = 0;
  uint64_t trimmed = 0;  // by chance or on overflow
  uint64_t ecn_marked = 0;
  uint64_t dropped_shared_buffer = 0;  // the switch's shared buffer was full
  uint64_t max_queue_bytes = 0;        // high-water mark of both queues together

  uint64_t frames_dropped() const {
    return dropped_queue_full + dropped_shared_buffer + dropped_loss + dropped_blackhole;
  }
  // Sums the counts; max_queue_bytes takes the larger.
  LinkCounters& operator+=(const LinkCounters& other);
  std::string ToString() const;
};

// The RED curve: the probability that a frame arriving to `queued_bytes`
// already waiting is marked CE under `config`.
double EcnMarkProbability(const LinkConfig& config, uint64_t queued_bytes);

// A switch's packet memory shared by its output ports: a frame is admitted
// only when it fits both its port's queue_bytes (if any) and what is left here.
class SharedBuffer {
 public:
  explicit SharedBuffer(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}
  bool TryReserve(uint64_t bytes) {
    if (used_ + bytes > capacity_) return false;
    used_ += bytes;
    return true;
  }
  void Release(uint64_t bytes) { used_ -= bytes; }
  uint64_t capacity() const { return capacity_; }
  uint64_t used() const { return used_; }

 private:
  uint64_t capacity_;
  uint64_t used_ = 0;
};

// The queue occupancy each arriving frame finds, for percentiles: kBuckets
// equal buckets up to a ceiling, the last also taking everything above. Frames
// that find the queue empty are only counted, so an idle link allocates nothing.
class QueueHistogram {
 public:
  static constexpr size_t kBuckets = 256;
  explicit QueueHistogram(uint64_t ceiling_bytes)
      : bucket_bytes_(std::max<uint64_t>(1, (ceiling_bytes + kBuckets - 1) / kBuckets)) {}
  void Add(uint64_t queued_bytes);
  uint64_t samples() const { return samples_; }
  // Smallest occupancy q such that a fraction >= `fraction` of arrivals found
  // at most q (resolved to the bucket's upper edge); 0 with no samples.
  uint64_t Percentile(double fraction) const;
  uint64_t bucket_bytes() const { return bucket_bytes_; }

 private:
  uint64_t bucket_bytes_;
  uint64_t samples_ = 0;
  uint64_t empty_ = 0;
  std::vector<uint32_t> counts_;  // allocated on the first non-empty sample
};

class Link {
 public:
  // `seed` feeds this link's own Random (see DeriveSeed), so links draw
  // independent streams. `sink` receives every frame that arrives.
  Link(Simulator& sim, const LinkConfig& config, uint64_t seed, FrameSink sink);
  // Cancels the link's pending events; frames still queued or in flight vanish.
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Enqueues a frame for transmission at sim.now().
  void Send(Frame frame);

  // Switches the black hole on or off; frames already on the wire (or being
  // serialized) are unaffected, frames still queued are lost when they are sent.
  void SetBlackhole(bool on) { config_.blackhole = on; }
  // Failure injection at run time: a new rate applies from the next frame
  // serialized, a new loss probability to frames starting to leave from now on.
  void SetRate(Bandwidth rate) { config_.rate = rate; }
  void SetLoss(double loss) { config_.loss = loss; }
  // Makes this link draw on a switch's shared packet memory; nullptr: none.
  // Must be set before the first Send().
  void SetSharedBuffer(SharedBuffer* buffer);

  const LinkConfig& config() const { return config_; }
  const LinkCounters& counters() const { return counters_; }
  const QueueHistogram& queue_histogram() const { return histogram_; }
  // Bytes and frames waiting in both queues (not the one being serialized).
  uint64_t queued_bytes() const { return queued_bytes_ + header_queued_bytes_; }
  size_t queued_frames() const { return queue_.size() + header_queue_.size(); }
  size_t in_flight_frames() const { return wire_.size(); }
  // Nothing queued, being serialized or on the wire.
  bool idle() const { return sim_.now() >= busy_until_ && queued_frames() == 0 && wire_.empty(); }

 private:
  struct InFlight {
    Time arrival;
    Frame frame;
  };

  // Serializes `frame` from now and puts it on the wire.
  void Transmit(Frame frame);
  // The serializer is free: transmits the first queued frame.
  void SendNext();
  // Arms SendNext for when the serializer frees up.
  void ScheduleSendNext();
  void PutOnWire(Frame frame, Time departure);
  void DeliverHead();
  bool ShouldMarkCe();
  // Leaves a queue: gives its bytes back to the shared buffer.
  void Dequeued(uint64_t bytes);

  Simulator& sim_;
  LinkConfig config_;
  Random random_;
  FrameSink sink_;
  LinkCounters counters_;
  QueueHistogram histogram_;
  SharedBuffer* shared_ = nullptr;

  Fifo<Frame> queue_;         // full frames, FIFO
  Fifo<Frame> header_queue_;  // trimmed frames, served first
  uint64_t queued_bytes_ = 0;
  uint64_t header_queued_bytes_ = 0;

  Time busy_until_ = Time::Zero();  // the serializer's last frame ends
  EventId send_next_event_ = kNoEvent;

  Fifo<InFlight> wire_;  // arrival times non-decreasing
  Time last_arrival_ = Time::Zero();
  EventId arrival_event_ = kNoEvent;
};

}  // namespace tern::sim
