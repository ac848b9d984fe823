// The congestion-control interface: events in, decisions out.
//
// A connection owns one CongestionControl. It reports what it observed (acks
// with RTT samples and ECN marks, losses, trims, timeouts) and asks for a
// congestion window and a pacing rate, which it enforces itself: the algorithm
// decides, the connection acts. Time is always passed in; an algorithm never
// reads a clock, allocates per event or touches packets. That is the contract a
// NIC's rate-update engine could implement.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "transport/units.h"

namespace tern {

// An acknowledgement that newly covered data.
struct AckEvent {
  Time now;
  uint32_t acked_bytes = 0;      // payload bytes newly acknowledged (cumulative or selective)
  uint32_t acked_packets = 0;    // data packets newly acknowledged
  uint32_t ce_packets = 0;       // of those reported by this ACK, how many arrived CE-marked
  Duration rtt;                  // RTT sample from the timestamp echo; zero when none
  uint64_t bytes_in_flight = 0;  // after this ACK was applied
  uint16_t entropy = 0;          // path the acknowledged packet took
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

// Fixed facts about the connection, given once at creation.
struct CcContext {
  Bandwidth line_rate = Bandwidth::Gbps(400);
  uint32_t mtu_bytes = 4096;  // payload bytes per full packet
  Duration base_rtt = Duration::Microseconds(8);
};

class CongestionControl {
 public:
  virtual ~CongestionControl() = default;

  // Called for every ACK that newly acknowledges data, after the connection
  // updated its scoreboard. `event.rtt` is zero when the ACK carried no usable
  // timestamp echo.
  virtual void OnAck(const AckEvent& event) = 0;

  // Called once per loss report: one call may cover several packets when one
  // ACK reveals several losses. Timeouts are reported with cause kTimeout,
  // once per expiry.
  virtual void OnLoss(const LossEvent& event) = 0;

  // Bytes the connection may have in flight. Never zero: a window below one
  // packet is expressed with a pacing rate instead.
  virtual uint64_t window_bytes() const = 0;

  // Rate at which the connection may release packets; Unlimited() means send
  // as fast as the window allows.
  virtual Bandwidth pacing_rate() const = 0;

  // Algorithm name as registered, e.g. "fixed".
  virtual std::string_view name() const = 0;

  // One line of the algorithm's internal variables, for logs and timelines.
  virtual std::string DebugState() const = 0;
};

// Creates an algorithm from a spec "NAME[:key=value,...]", e.g.
// "fixed:window=262144,rate=100". Unknown names, unknown keys and bad values
// are refused with an error that lists what is valid.
absl::StatusOr<std::unique_ptr<CongestionControl>> CreateCongestionControl(
    std::string_view spec, const CcContext& context);

// Checks a spec without keeping the algorithm (for command-line validation).
absl::Status ValidateCongestionControlSpec(std::string_view spec);

}  // namespace tern
