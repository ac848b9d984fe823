// TIMELY: RTT-gradient rate control (Mittal et al., "TIMELY: RTT-based
// Congestion Control for the Datacenter", SIGCOMM 2015), Algorithm 1.
//
// A rate-based algorithm: each completion event (here, every `segment_bytes`
// of newly acknowledged data whose ACK carries an RTT sample) updates the
// sending rate from the RTT alone:
//   new_rtt_diff = new_rtt - prev_rtt
//   rtt_diff     = (1 - alpha) rtt_diff + alpha new_rtt_diff         (EWMA)
//   gradient     = rtt_diff / min_rtt                                (normalised)
//   new_rtt < t_low   ->  rate += delta                              (additive)
//   new_rtt > t_high  ->  rate *= 1 - beta (1 - t_high / new_rtt)    (multiplicative)
//   gradient <= 0     ->  rate += N delta, N = hai_factor once the gradient has
//                         been <= 0 for hai_threshold completions in a row (HAI)
//   otherwise         ->  rate *= 1 - beta gradient
// and clamps the rate to [min_rate, max_rate]. The connection paces at that
// rate; the window is only a backstop (see window_bytes()).
//
// Spec: timely[:alpha=A,beta=B,delta=MBPS,t_low=US,t_high=US,hai_threshold=N,
//              hai_factor=N,min_rtt=US,min_rate=MBPS,max_rate=GBPS,
//              initial_rate=GBPS,segment_bytes=BYTES]
// See TimelyCcInfo() for each key's default and range.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "cc/congestion_control.h"
#include "cc/registry.h"
#include "transport/units.h"

namespace tern {

// The checked configuration of one TIMELY instance (CreateTimelyCc resolves
// the "0 = derive" defaults from the CcContext before building it).
struct TimelyConfig {
  double alpha = 0.02;  // EWMA weight of the newest RTT difference, in (0, 1]
  double beta = 0.8;    // multiplicative-decrease factor, in (0, 1]
  Bandwidth delta = Bandwidth::BitsPerSecond(10'000'000);  // additive step
  Duration t_low = Duration::Microseconds(50);
  Duration t_high = Duration::Microseconds(500);
  uint32_t hai_threshold = 5;  // completions with gradient <= 0 before HAI
  uint32_t hai_factor = 5;     // N: the HAI step is N x delta
  // Normaliser of the gradient before any sample; a smaller sample lowers it.
  // Zero means unknown: the first sample sets it.
  Duration min_rtt = Duration::Microseconds(8);
  Bandwidth min_rate = Bandwidth::BitsPerSecond(100'000'000);  // > 0
  Bandwidth max_rate = Bandwidth::Gbps(400);                   // >= min_rate
  Bandwidth initial_rate = Bandwidth::Gbps(400);               // in [min_rate, max_rate]
  uint32_t segment_bytes = 16384;  // bytes per completion event; 0 = every sample
  uint64_t window_bytes = 4096;    // the backstop window, >= 1
};

class TimelyCc final : public CongestionControl {
 public:
  static constexpr std::string_view kName = "timely";

  explicit TimelyCc(const TimelyConfig& config);

  // Counts the newly acknowledged bytes; once a segment's worth has been
  // acknowledged, the next ACK with an RTT sample runs Algorithm 1. ACKs
  // without a sample (rtt zero) never change the rate.
  PathAdvice OnAck(const AckEvent& event) override;

  // TIMELY defines no reaction to loss (the paper runs it over a lossless
  // fabric with PFC): every cause, timeouts included, leaves the rate alone.
  // A timeout carries no RTT measurement, and cutting to min_rate would leave
  // the flow to climb back in delta steps of 10 Mb/s. The retransmission's
  // own RTT sample, if the path is congested, drives the t_high decrease.
  PathAdvice OnLoss(const LossEvent& event) override;

  // A backstop that does not limit in practice: max_rate x 2 x t_high (see
  // DeriveTimelyWindowBytes). TIMELY is rate-based and pacing governs.
  uint64_t window_bytes() const override { return window_bytes_; }
  Bandwidth pacing_rate() const override;
  std::string_view name() const override { return kName; }

  // window, rate_gbps, rtt_diff_us, min_rtt_us, last_rtt_us, hai_count.
  int DebugVariables(std::span<CcVariable, kMaxCcVariables> out) const override;

 private:
  // Algorithm 1 for one completion event with RTT `rtt` (> 0).
  void UpdateRate(Duration rtt);

  // Configuration, fixed at creation. Rates and thresholds keep their strong
  // types; a NIC would hold rates as u32 kb/s and times as u32 ns.
  double alpha_;  // a NIC: Q0.16
  double beta_;   // a NIC: Q0.16
  Bandwidth delta_;
  Bandwidth min_rate_;
  Bandwidth max_rate_;
  Duration t_low_;
  Duration t_high_;
  uint64_t window_bytes_;
  uint32_t hai_threshold_;
  uint32_t hai_factor_;
  uint32_t segment_bytes_;

  // Per-flow state.
  uint32_t bytes_since_update_ = 0;  // saturates; compared with segment_bytes_
  uint32_t hai_count_ = 0;           // consecutive completions with gradient <= 0
  // The rate in bit/s, always in [min_rate, max_rate]. Floating point for the
  // multiplicative steps; a NIC would keep a u32 in kb/s (4.29 Tb/s range,
  // fine enough for the 10 Mb/s step) and multiply by a Q0.16 factor.
  double rate_bps_;
  // Smoothed RTT difference in microseconds. Floating point; a NIC would use
  // a signed Q23.8 count of nanoseconds in 32 bits (+-8.3 ms, 4 ps steps).
  double rtt_diff_us_ = 0;
  Duration prev_rtt_;  // RTT of the previous completion; zero before the first
  Duration min_rtt_;   // gradient normaliser: config min_rtt lowered by samples
};

// Per-connection state: vtable pointer 8, configuration 76, per-flow state
// 40: 124 bytes, 128 with padding on LP64 (the test measures it). The
// configuration sits in each connection because each may have its own spec; a
// NIC would keep it per traffic class and about 24 bytes per flow.
static_assert(sizeof(TimelyCc) <= 128, "TimelyCc state must fit in two 64-byte cache lines");

// Largest window TIMELY returns: 1 TiB, as for `fixed`.
inline constexpr uint64_t kTimelyMaxWindowBytes = uint64_t{1} << 40;

// The backstop window: max(ceil(max_rate x 2 x t_high / 8), 4 x mtu_bytes),
// rounded up to whole MTUs and capped at kTimelyMaxWindowBytes. Paced at
// rate <= max_rate, a flow has rate x RTT bytes in flight, so this window
// binds only once the RTT exceeds 2 x t_high, where TIMELY is already
// cutting its rate. E.g. 400 Gb/s x 1 ms = 50 MB. Requires mtu_bytes > 0.
uint64_t DeriveTimelyWindowBytes(Bandwidth max_rate, Duration t_high, uint32_t mtu_bytes);

// Builds a TimelyCc from checked parameters. Refuses t_low > t_high, an
// unknown maximum rate (max_rate=0 with a zero context line rate), min_rate
// above the maximum rate and an initial_rate outside [min_rate, max_rate].
absl::StatusOr<std::unique_ptr<CongestionControl>> CreateTimelyCc(const CcParams& params,
                                                                  const CcContext& context);

// The registry entry: name, description, parameters and CreateTimelyCc.
CcAlgorithmInfo TimelyCcInfo();

}  // namespace tern
