// The congestion-control interface: events in, decisions out.
//
// A connection owns one CongestionControl. It reports what it observed (acks
// with RTT samples and ECN marks, losses, trims, timeouts) and asks for a
// congestion window and a pacing rate, which it enforces itself: the algorithm
// decides, the connection acts. Time is always passed in; an algorithm never
// reads a clock, allocates per event or touches packets. That is the contract a
// NIC's rate-update engine could implement.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "transport/units.h"

namespace tern {

// What one switch egress port stamped on a packet as it left (in-band
// telemetry, the record HPCC needs). Field widths are the wire's: times and
// byte counts wrap modulo 2^32, so an algorithm takes differences of two
// records of the same hop with unsigned 32-bit arithmetic.
struct HopTelemetry {
  uint32_t timestamp_ns = 0;  // switch clock when the packet was dequeued, mod 2^32
  uint32_t tx_bytes = 0;      // bytes the port had transmitted, cumulative, mod 2^32
  uint32_t queue_bytes = 0;   // bytes queued at the port as the packet left
  uint32_t rate_mbps = 0;     // the port's line rate in Mb/s
};

// The telemetry stack one data packet collected, hop by hop from the sender.
inline constexpr int kMaxTelemetryHops = 5;  // a 3-tier fat tree's switch hops
struct Telemetry {
  uint8_t hops = 0;  // records filled; a longer path keeps the first kMaxTelemetryHops
  std::array<HopTelemetry, kMaxTelemetryHops> hop{};
};

// An acknowledgement: what it newly covered and what it reports.
struct AckEvent {
  Time now;
  uint32_t acked_bytes = 0;    // payload bytes newly acknowledged (cumulative or selective)
  uint32_t acked_packets = 0;  // data packets newly acknowledged
  uint32_t ce_packets = 0;     // of those reported by this ACK, how many arrived CE-marked
  // RTT sample from the timestamp echo, without the time the receiver held
  // the ACK (docs/protocol.md, section 8.3); zero when none.
  Duration rtt;
  uint64_t bytes_in_flight = 0;  // after this ACK was applied
  uint16_t entropy = 0;          // path the acknowledged packet took
  // The receiver's congestion notification (DCQCN's CNP): set when a CE-marked
  // packet arrived and the receiver had sent no CNP on this connection for
  // TransportOptions::cnp_interval.
  bool cnp = false;
  // Switches (IP routers) between the peer and here, from the TTL this ACK
  // arrived with: the reverse path, as long as the forward one in a Clos
  // fabric. -1 when unknown.
  int path_hops = -1;
  // The telemetry the acknowledged packet collected; null unless the algorithm
  // asked for it (wants_telemetry) and the fabric stamps it. Valid during the call.
  const Telemetry* telemetry = nullptr;
};

// A data packet leaving the sender (new or retransmitted). DCQCN counts these
// bytes; time-driven algorithms also use the call to advance their timers.
struct SendEvent {
  Time now;
  uint32_t bytes = 0;  // payload bytes
  uint16_t entropy = 0;
  bool retransmit = false;
  uint64_t bytes_in_flight = 0;  // after this packet
};

enum class LossCause : uint8_t {
  kDetected,  // declared lost by the loss detector (reordering-tolerant rule)
  kTrimmed,   // a switch trimmed the payload and the receiver NACKed it
  kTimeout,   // retransmission timeout: the last resort
};

struct LossEvent {
  Time now;
  LossCause cause = LossCause::kDetected;
  uint32_t lost_bytes = 0;
  uint32_t lost_packets = 0;
  uint16_t entropy = 0;  // path the lost packet took
  uint64_t bytes_in_flight = 0;
};

// What an algorithm may say about the path (entropy) a feedback came from,
// beside its window and rate: kAvoid steers new packets off that entropy for a
// while, as the transport does by itself on losses and trims.
enum class PathAdvice : uint8_t { kKeep, kAvoid };

// One internal variable of an algorithm, for timelines: a name that is a
// string literal (it must outlive the algorithm) and its current value.
struct CcVariable {
  std::string_view name;
  double value = 0;
};
inline constexpr int kMaxCcVariables = 16;

// Fixed facts about the connection, given once at creation.
struct CcContext {
  Bandwidth line_rate = Bandwidth::Gbps(400);
  uint32_t mtu_bytes = 4096;  // payload bytes per full packet
  Duration base_rtt = Duration::Microseconds(8);
  uint16_t paths = 1;  // entropies the connection sprays over
};

class CongestionControl {
 public:
  virtual ~CongestionControl() = default;

  // Called for every ACK the connection accepts, after it updated its
  // scoreboard; `acked_packets` is 0 for one that acknowledges nothing new.
  // `event.rtt` is zero when the ACK carried no usable timestamp echo.
  virtual PathAdvice OnAck(const AckEvent& event) = 0;

  // Called once per loss report: one call may cover several packets when one
  // ACK reveals several losses. Timeouts are reported with cause kTimeout,
  // once per expiry.
  virtual PathAdvice OnLoss(const LossEvent& event) = 0;

  // Called for every data packet sent. There is no timer callback: an
  // algorithm with timers (DCQCN's) advances them on whichever event comes
  // next, and a sending connection produces one per packet.
  virtual void OnSend(const SendEvent& /*event*/) {}

  // True when the algorithm reads AckEvent::telemetry: the connection then
  // asks the fabric to stamp it on every data packet (costing header bytes).
  virtual bool wants_telemetry() const { return false; }

  // Bytes the connection may have in flight. Never zero: a window below one
  // packet is expressed with a pacing rate instead.
  virtual uint64_t window_bytes() const = 0;

  // Rate at which the connection may release packets; Unlimited() means send
  // as fast as the window allows.
  virtual Bandwidth pacing_rate() const = 0;

  // Algorithm name as registered, e.g. "fixed".
  virtual std::string_view name() const = 0;

  // The algorithm's internal variables (window and rate first), written into
  // `out`; returns how many. Timelines sample this; it must not allocate.
  virtual int DebugVariables(std::span<CcVariable, kMaxCcVariables> out) const = 0;

  // One line for logs: the name, then every DebugVariables entry as
  // "name=value", e.g. "fixed window=401408 rate_gbps=0 acks=2 losses=1".
  std::string DebugState() const;
};

// Creates an algorithm from a spec "NAME[:key=value,...]", e.g.
// "fixed:window=262144,rate=100". Unknown names, unknown keys and bad values
// are refused with an error that lists what is valid.
absl::StatusOr<std::unique_ptr<CongestionControl>> CreateCongestionControl(
    std::string_view spec, const CcContext& context);

// Checks a spec without keeping the algorithm (for command-line validation).
absl::Status ValidateCongestionControlSpec(std::string_view spec);

}  // namespace tern
