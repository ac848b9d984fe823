#include "dataplane/sim/link.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"

namespace tern::sim {
namespace {

uint16_t ReadBe16(std::span<const uint8_t> bytes, size_t offset) {
  return static_cast<uint16_t>(bytes[offset] << 8 | bytes[offset + 1]);
}

void WriteBe16(std::span<uint8_t> bytes, size_t offset, uint16_t value) {
  bytes[offset] = static_cast<uint8_t>(value >> 8);
  bytes[offset + 1] = static_cast<uint8_t>(value);
}

void FixIpv4HeaderChecksum(std::span<uint8_t> frame, size_t ip_offset) {
  auto header = frame.subspan(ip_offset, sizeof(Ipv4Header));
  WriteBe16(header, offsetof(Ipv4Header, header_checksum), 0);
  WriteBe16(header, offsetof(Ipv4Header, header_checksum), FoldChecksum(OnesComplementAdd(header)));
}

// Recomputes the UDP checksum over the pseudo-header (RFC 768 / RFC 8200 §8.1)
// and the datagram. Callers skip it when the sender left it zero (IPv4).
void FixUdpChecksum(std::span<uint8_t> frame, const FrameLayout& layout, size_t udp_len) {
  uint32_t sum = 0;
  if (layout.ipv6) {
    sum = OnesComplementAdd(frame.subspan(layout.ip_offset + offsetof(Ipv6Header, src), 32), sum);
  } else {
    sum = OnesComplementAdd(frame.subspan(layout.ip_offset + offsetof(Ipv4Header, src), 8), sum);
  }
  sum += kIpProtoUdp;
  sum += static_cast<uint32_t>(udp_len >> 16) + static_cast<uint32_t>(udp_len & 0xFFFF);
  auto udp = frame.subspan(layout.udp_offset, udp_len);
  WriteBe16(udp, offsetof(UdpHeader, checksum), 0);
  uint16_t checksum = FoldChecksum(OnesComplementAdd(udp, sum));
  if (checksum == 0) checksum = 0xFFFF;  // zero means "no checksum"
  WriteBe16(udp, offsetof(UdpHeader, checksum), checksum);
}

}  // namespace

FrameLayout ParseFrameLayout(std::span<const uint8_t> frame) {
  return ParseFrameLayout(frame, frame.size());
}

FrameLayout ParseFrameLayout(std::span<const uint8_t> frame, size_t wire_size) {
  FrameLayout layout;
  if (frame.size() < sizeof(EthernetHeader)) return layout;
  const uint16_t ether_type = ReadBe16(frame, offsetof(EthernetHeader, ether_type));
  const size_t ip = sizeof(EthernetHeader);
  uint8_t protocol = 0;
  size_t ip_header_len = 0;
  if (ether_type == kEtherTypeIpv4) {
    if (frame.size() < ip + sizeof(Ipv4Header) || frame[ip] != 0x45) return layout;
    protocol = frame[ip + offsetof(Ipv4Header, protocol)];
    ip_header_len = sizeof(Ipv4Header);
    layout.ecn = static_cast<Ecn>(frame[ip + offsetof(Ipv4Header, tos)] & 0x3);
  } else if (ether_type == kEtherTypeIpv6) {
    if (frame.size() < ip + sizeof(Ipv6Header) || (frame[ip] >> 4) != 6) return layout;
    protocol = frame[ip + offsetof(Ipv6Header, next_header)];
    ip_header_len = sizeof(Ipv6Header);
    layout.ipv6 = true;
    // Traffic class straddles bytes 0 and 1; its ECN bits are 0x30 of byte 1.
    layout.ecn = static_cast<Ecn>((frame[ip + 1] >> 4) & 0x3);
  } else {
    return layout;
  }
  layout.ip = true;
  layout.ip_offset = ip;
  layout.ecn_offset = ip + 1;  // IPv4 TOS byte; IPv6 byte holding the low TC bits
  const size_t udp = ip + ip_header_len;
  if (protocol != kIpProtoUdp || frame.size() < udp + sizeof(UdpHeader)) return layout;
  const size_t udp_len = ReadBe16(frame, udp + offsetof(UdpHeader, length));
  if (udp_len < sizeof(UdpHeader) || udp + udp_len > wire_size) return layout;
  layout.udp = true;
  layout.udp_offset = udp;
  layout.payload_offset = udp + sizeof(UdpHeader);
  layout.payload_len = udp_len - sizeof(UdpHeader);
  layout.src_port = ReadBe16(frame, udp + offsetof(UdpHeader, src_port));
  layout.dst_port = ReadBe16(frame, udp + offsetof(UdpHeader, dst_port));
  return layout;
}

namespace {

// Length of the Tern headers a trim keeps, or 0 when the frame is not a Tern v1
// DATA frame with payload that has not been trimmed yet.
size_t TrimmedTernLength(std::span<const uint8_t> frame, const FrameLayout& layout) {
  if (!layout.udp || layout.payload_len < sizeof(TernHeader) + sizeof(DataHeader) ||
      frame.size() < layout.payload_offset + sizeof(TernHeader) + sizeof(DataHeader)) {
    return 0;
  }
  TernHeader th;
  std::memcpy(&th, frame.data() + layout.payload_offset, sizeof th);
  if (th.version != kTernVersion || th.type != static_cast<uint8_t>(PacketType::kData) ||
      (th.flags.get() & kFlagTrimmed) != 0) {
    return 0;
  }
  const uint8_t opcode = frame[layout.payload_offset + sizeof(TernHeader)];
  if (!OpcodeIsValid(opcode)) return 0;
  const size_t header_len = DataHeaderBytes(static_cast<DataOpcode>(opcode), th.flags.get());
  // The headers a trim keeps must be stored, not in a tail.
  if (frame.size() < layout.payload_offset + header_len) return 0;
  return layout.payload_len > header_len ? header_len : 0;
}

// Where the TelemetryStack of a Tern DATA frame that carries one starts in
// `frame`; 0 for any other frame.
size_t TelemetryStackOffset(std::span<const uint8_t> frame, const FrameLayout& layout) {
  if (!layout.udp) return 0;
  // A frame with a tail stores its Tern headers, so the stack is in `frame`.
  const std::span<const uint8_t> tern = frame.subspan(
      layout.payload_offset, std::min(layout.payload_len, frame.size() - layout.payload_offset));
  if (tern.size() < sizeof(TernHeader) + sizeof(DataHeader)) return 0;
  TernHeader th;
  std::memcpy(&th, tern.data(), sizeof th);
  const uint8_t opcode = tern[sizeof(TernHeader)];
  if (th.version != kTernVersion || th.type != static_cast<uint8_t>(PacketType::kData) ||
      (th.flags.get() & kFlagTelemetry) == 0 || !OpcodeIsValid(opcode)) {
    return 0;
  }
  const size_t at = DataHeaderBytes(static_cast<DataOpcode>(opcode));
  if (tern.size() < at + sizeof(TelemetryStack)) return 0;
  return layout.payload_offset + at;
}

}  // namespace

bool StampTelemetry(std::span<uint8_t> frame, Time now, uint64_t port_tx_bytes,
                    uint64_t queue_bytes, Bandwidth rate) {
  return StampTelemetry(frame, frame.size(), now, port_tx_bytes, queue_bytes, rate);
}

bool StampTelemetry(Frame& frame, Time now, uint64_t port_tx_bytes, uint64_t queue_bytes,
                    Bandwidth rate) {
  return StampTelemetry(frame, frame.wire_size(), now, port_tx_bytes, queue_bytes, rate);
}

bool StampTelemetry(std::span<uint8_t> frame, size_t wire_size, Time now, uint64_t port_tx_bytes,
                    uint64_t queue_bytes, Bandwidth rate) {
  const size_t at = TelemetryStackOffset(frame, ParseFrameLayout(frame, wire_size));
  if (at == 0) return false;
  auto* stack = reinterpret_cast<TelemetryStack*>(frame.data() + at);
  if (stack->hops >= kTelemetryHops) return false;
  TelemetryRecord& r = stack->record[stack->hops++];
  // The wire keeps the low 32 bits; receivers take differences modulo 2^32.
  r.timestamp_ns.set(static_cast<uint32_t>(now.nanoseconds()));
  r.tx_bytes.set(static_cast<uint32_t>(port_tx_bytes));
  r.queue_bytes.set(static_cast<uint32_t>(std::min<uint64_t>(queue_bytes, UINT32_MAX)));
  r.rate_mbps.set(
      static_cast<uint32_t>(std::min<int64_t>(rate.bits_per_second() / 1'000'000, UINT32_MAX)));
  return true;
}

FabricRoute ReadFabricRoute(const Frame& frame) {
  FabricRoute route;
  route.parsed = true;
  const FrameLayout layout = ParseFrameLayout(frame, frame.wire_size());
  if (!layout.ip || layout.ipv6) return route;
  Ipv4Header ip;
  std::memcpy(&ip, frame.data() + layout.ip_offset, sizeof(ip));
  route.routable = true;
  route.ttl = ip.ttl;
  route.src_ip = ip.src.get();
  route.dst_ip = ip.dst.get();
  route.src_port = layout.src_port;
  route.dst_port = layout.dst_port;
  route.telemetry = TelemetryStackOffset(frame, layout) != 0;
  return route;
}

bool IsTrimmable(const Frame& frame) {
  return TrimmedTernLength(frame, ParseFrameLayout(frame, frame.wire_size())) > 0;
}

bool TrimFrame(Frame& frame) {
  const FrameLayout layout = ParseFrameLayout(frame, frame.wire_size());
  const size_t header_len = TrimmedTernLength(frame, layout);
  if (header_len == 0) return false;
  frame.tail = {};  // all payload, which the trim cuts

  const size_t udp_len = sizeof(UdpHeader) + header_len;
  frame.resize(layout.udp_offset + udp_len);  // also drops any Ethernet padding
  std::span<uint8_t> bytes(frame);
  const size_t flags_offset = layout.payload_offset + offsetof(TernHeader, flags);
  WriteBe16(bytes, flags_offset,
            static_cast<uint16_t>(ReadBe16(bytes, flags_offset) | kFlagTrimmed));
  WriteBe16(bytes, layout.udp_offset + offsetof(UdpHeader, length), static_cast<uint16_t>(udp_len));
  if (layout.ipv6) {
    WriteBe16(bytes, layout.ip_offset + offsetof(Ipv6Header, payload_length),
              static_cast<uint16_t>(udp_len));
  } else {
    WriteBe16(bytes, layout.ip_offset + offsetof(Ipv4Header, total_length),
              static_cast<uint16_t>(sizeof(Ipv4Header) + udp_len));
    FixIpv4HeaderChecksum(bytes, layout.ip_offset);
  }
  SealTernChecksum(bytes.subspan(layout.payload_offset, header_len));
  // The UDP checksum covers the Tern bytes, so it goes after the reseal.
  if (ReadBe16(bytes, layout.udp_offset + offsetof(UdpHeader, checksum)) != 0) {
    FixUdpChecksum(bytes, layout, udp_len);
  }
  return true;
}

LinkCounters& LinkCounters::operator+=(const LinkCounters& other) {
  frames_offered += other.frames_offered;
  bytes_offered += other.bytes_offered;
  frames_sent += other.frames_sent;
  bytes_sent += other.bytes_sent;
  frames_delivered += other.frames_delivered;
  bytes_delivered += other.bytes_delivered;
  dropped_queue_full += other.dropped_queue_full;
  dropped_loss += other.dropped_loss;
  dropped_blackhole += other.dropped_blackhole;
  duplicated += other.duplicated;
  corrupted += other.corrupted;
  trimmed += other.trimmed;
  ecn_marked += other.ecn_marked;
  dropped_shared_buffer += other.dropped_shared_buffer;
  max_queue_bytes = std::max(max_queue_bytes, other.max_queue_bytes);
  return *this;
}

std::string LinkCounters::ToString() const {
  return absl::StrFormat(
      "offered=%d/%dB sent=%d/%dB delivered=%d/%dB dropped(queue=%d shared=%d loss=%d "
      "blackhole=%d) "
      "dup=%d corrupt=%d trim=%d ce=%d max_queue=%dB",
      frames_offered, bytes_offered, frames_sent, bytes_sent, frames_delivered, bytes_delivered,
      dropped_queue_full, dropped_shared_buffer, dropped_loss, dropped_blackhole, duplicated,
      corrupted, trimmed, ecn_marked, max_queue_bytes);
}

void QueueHistogram::Add(uint64_t queued_bytes) {
  ++samples_;
  if (queued_bytes == 0) {
    ++empty_;
    return;
  }
  if (counts_.empty()) counts_.resize(kBuckets);
  // Bucket b holds occupancies in (b * width, (b + 1) * width].
  const uint64_t bucket = std::min<uint64_t>((queued_bytes - 1) / bucket_bytes_, kBuckets - 1);
  ++counts_[bucket];
}

uint64_t QueueHistogram::Percentile(double fraction) const {
  if (samples_ == 0) return 0;
  const double wanted = fraction * static_cast<double>(samples_);
  uint64_t seen = empty_;
  if (static_cast<double>(seen) >= wanted) return 0;
  for (size_t b = 0; b < counts_.size(); ++b) {
    seen += counts_[b];
    if (static_cast<double>(seen) >= wanted) return (b + 1) * bucket_bytes_;
  }
  return kBuckets * bucket_bytes_;
}

namespace {
// Without a queue limit the histogram still needs a scale: a few megabytes is
// more than any port of the fabrics simulated here holds.
constexpr uint64_t kUnboundedHistogramCeiling = uint64_t{4} << 20;
uint64_t HistogramCeiling(uint64_t queue_bytes) {
  return queue_bytes > 0 ? queue_bytes : kUnboundedHistogramCeiling;
}
}  // namespace

Link::Link(Simulator& sim, const LinkConfig& config, uint64_t seed, FrameSink sink)
    : sim_(sim),
      config_(config),
      random_(seed),
      sink_(std::move(sink)),
      histogram_(HistogramCeiling(config.queue_bytes)) {}

void Link::SetSharedBuffer(SharedBuffer* buffer) {
  shared_ = buffer;
  const uint64_t ceiling = config_.queue_bytes > 0 ? config_.queue_bytes
                           : buffer != nullptr     ? buffer->capacity()
                                                   : kUnboundedHistogramCeiling;
  histogram_ = QueueHistogram(ceiling);
}

Link::~Link() {
  sim_.Cancel(send_next_event_);
  sim_.Cancel(arrival_event_);
}

void Link::Send(Frame frame) {
  // A departure due at this instant goes first, so the frame finds the
  // queue it leaves behind, whichever event the simulator runs first.
  if (send_next_event_ != kNoEvent && busy_until_ <= sim_.now()) {
    sim_.Cancel(send_next_event_);
    SendNext();
  }
  ++counters_.frames_offered;
  counters_.bytes_offered += frame.wire_size();

  bool to_header_queue = false;
  // Draw only for frames that can be trimmed, so `trim` is the fraction of
  // trimmable DATA frames cut.
  if (config_.trim > 0 && IsTrimmable(frame) && random_.Bernoulli(config_.trim)) {
    TrimFrame(frame);
    ++counters_.trimmed;
    to_header_queue = true;
  }

  histogram_.Add(queued_bytes());
  // An idle serializer takes the frame at once: it never waits in a queue.
  // (A queued frame means a busy serializer: SendNext drains the queue.)
  if (sim_.now() >= busy_until_ && queued_frames() == 0) {
    Transmit(std::move(frame));
    return;
  }

  const uint64_t limit = config_.queue_bytes;
  const auto fits = [&](uint64_t queued, uint64_t bytes) {
    return (limit == 0 || queued + bytes <= limit) &&
           (shared_ == nullptr || shared_->used() + bytes <= shared_->capacity());
  };
  if (!to_header_queue && !fits(queued_bytes_, frame.wire_size())) {
    if (!config_.trim_on_overflow || !TrimFrame(frame)) {
      if (limit > 0 && queued_bytes_ + frame.wire_size() > limit) {
        ++counters_.dropped_queue_full;
      } else {
        ++counters_.dropped_shared_buffer;
      }
      return;
    }
    ++counters_.trimmed;
    to_header_queue = true;
  }
  // The header queue has a buffer of its own, of the same size.
  if (to_header_queue && !fits(header_queued_bytes_, frame.wire_size())) {
    if (limit > 0 && header_queued_bytes_ + frame.wire_size() > limit) {
      ++counters_.dropped_queue_full;
    } else {
      ++counters_.dropped_shared_buffer;
    }
    return;
  }
  if (shared_ != nullptr) shared_->TryReserve(frame.wire_size());

  if (ShouldMarkCe()) {
    const FrameLayout layout = ParseFrameLayout(frame, frame.wire_size());
    if (layout.ip && (layout.ecn == Ecn::kEct0 || layout.ecn == Ecn::kEct1)) {
      MarkCongestionExperienced(frame, layout.ecn_offset);
      ++counters_.ecn_marked;
    }
  }

  if (to_header_queue) {
    header_queued_bytes_ += frame.wire_size();
    header_queue_.push_back(std::move(frame));
  } else {
    queued_bytes_ += frame.wire_size();
    queue_.push_back(std::move(frame));
  }
  counters_.max_queue_bytes = std::max(counters_.max_queue_bytes, queued_bytes());
  if (send_next_event_ == kNoEvent) ScheduleSendNext();
}

double EcnMarkProbability(const LinkConfig& config, uint64_t queued_bytes) {
  const uint64_t kmin = config.ecn_kmin_bytes;
  const uint64_t kmax = config.ecn_kmax_bytes;
  if (kmax == 0 || queued_bytes <= kmin) return 0;
  if (queued_bytes >= kmax) return 1;
  return config.ecn_pmax * static_cast<double>(queued_bytes - kmin) /
         static_cast<double>(kmax - kmin);
}

bool Link::ShouldMarkCe() {
  const double p = EcnMarkProbability(config_, queued_bytes());
  return p >= 1 || random_.Bernoulli(p);
}

void Link::Dequeued(uint64_t bytes) {
  if (shared_ != nullptr) shared_->Release(bytes);
}

void Link::Transmit(Frame frame) {
  // A route note saves parsing the frame (a cache miss) only to find no stack.
  if (config_.stamp_telemetry && (!frame.route.parsed || frame.route.telemetry)) {
    StampTelemetry(frame, sim_.now(), counters_.bytes_sent, queued_bytes(), config_.rate);
  }
  // The frame's last bit leaves at busy_until_; nothing about it changes
  // while it serializes, so it goes on the wire now, with that departure,
  // and no event marks the end of its serialization. Only a queued frame
  // needs one (SendNext): one event per frame and hop where there were two.
  busy_until_ = sim_.now() + config_.rate.TransferTime(frame.wire_size());
  ++counters_.frames_sent;
  counters_.bytes_sent += frame.wire_size();
  PutOnWire(std::move(frame), busy_until_);
}

void Link::SendNext() {
  send_next_event_ = kNoEvent;
  // Trimmed headers overtake every full frame still waiting.
  Fifo<Frame>& from = header_queue_.empty() ? queue_ : header_queue_;
  uint64_t& from_bytes = header_queue_.empty() ? queued_bytes_ : header_queued_bytes_;
  Frame next = std::move(from.front());
  from.pop_front();
  from_bytes -= next.wire_size();
  Dequeued(next.wire_size());
  Transmit(std::move(next));
  if (queued_frames() > 0) ScheduleSendNext();
}

void Link::ScheduleSendNext() {
  send_next_event_ = sim_.Schedule(busy_until_, [this] { SendNext(); });
}

void Link::PutOnWire(Frame frame, Time departure) {
  if (config_.blackhole) {
    ++counters_.dropped_blackhole;
    return;
  }
  if (random_.Bernoulli(config_.loss)) {
    ++counters_.dropped_loss;
    return;
  }
  if (random_.Bernoulli(config_.corrupt) && !frame.empty()) {
    frame.AttachTail();
    // Flip a bit the receiver's Tern checksum covers: past the UDP header when
    // there is one, anywhere in the frame otherwise.
    const FrameLayout layout = ParseFrameLayout(frame);
    size_t begin = 0;
    size_t end = frame.size();
    if (layout.udp && layout.payload_len > 0) {
      begin = layout.payload_offset;
      end = layout.payload_offset + layout.payload_len;
    }
    const uint64_t bit = random_.Uniform((end - begin) * 8);
    frame[begin + bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    ++counters_.corrupted;
  }
  const bool duplicate = random_.Bernoulli(config_.dup);

  Duration delay = config_.delay;
  if (config_.jitter > Duration::Zero()) {
    delay += Duration::Picoseconds(
        static_cast<int64_t>(random_.Uniform(static_cast<uint64_t>(config_.jitter.picoseconds()))));
  }
  // FIFO: a frame never overtakes one that left before it.
  const Time arrival = std::max(departure + delay, last_arrival_);
  last_arrival_ = arrival;
  if (duplicate) {
    ++counters_.duplicated;
    wire_.push_back(InFlight{arrival, frame});
  }
  wire_.push_back(InFlight{arrival, std::move(frame)});
  if (arrival_event_ == kNoEvent) {
    arrival_event_ = sim_.Schedule(
        wire_.front().arrival, [this] { DeliverHead(); }, &wire_.front());
  }
}

void Link::DeliverHead() {
  arrival_event_ = kNoEvent;
  Frame frame = std::move(wire_.front().frame);
  wire_.pop_front();
  // Arm the next arrival before calling out: the sink may send on this link.
  if (!wire_.empty()) {
    arrival_event_ = sim_.Schedule(
        wire_.front().arrival, [this] { DeliverHead(); }, &wire_.front());
  }
  ++counters_.frames_delivered;
  counters_.bytes_delivered += frame.wire_size();
  sink_(std::move(frame));
}

}  // namespace tern::sim
