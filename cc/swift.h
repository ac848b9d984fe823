// The `swift` algorithm: Google's delay-based congestion control (Kumar et al.,
// "Swift: Delay is Simple and Effective for Congestion Control in the
// Datacenter", SIGCOMM 2020), Algorithm 1 with the target scaling of §3.5.
//
// A window in packets, fractional, grows additively while the measured delay
// is below a target and shrinks multiplicatively, in proportion to the
// overshoot, at most once per RTT when it is above. The target grows with the
// path's hop count (topology scaling) and as the window shrinks (flow
// scaling, which lets many small flows share a queue fairly). Below one packet
// the window becomes a pacing rate of cwnd x mtu / rtt (§3.4).
//
// Deviations from the paper, with their reasons:
//   - one window on the whole RTT sample: the paper separates fabric from
//     endpoint delay (fcwnd/ecwnd); Tern's AckEvent carries only the total;
//   - the hop count comes from telemetry when the connection receives it,
//     otherwise from the IP TTL of the ACK (the reverse path: as long as the
//     forward one in a Clos fabric), and from the `hops` parameter when the
//     TTL shows no router (a direct link, or switches that leave the TTL);
//   - defaults scale with CcContext (base target = base_rtt + 2 us) since the
//     paper's targets were tuned for Google's fabric.
//
// Spec: swift[:base_target=US,per_hop=US,hops=N,telemetry_hops=BOOL,ai=P,beta=B,
//             max_mdf=M,fs_range=US,fs_min_cwnd=P,fs_max_cwnd=P,flow_scaling=BOOL,
//             min_cwnd=P,max_cwnd=N,init_cwnd=N,retx_reset=N]
// (see SwiftCcInfo() in swift.cc for meanings and defaults).
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

// The parameters of one instance, every "derive from the context" already
// resolved by CreateSwiftCc. Windows are in packets of CcContext::mtu_bytes.
struct SwiftConfig {
  Duration base_target;         // target delay of a zero-hop path at a large window (§3.5)
  Duration per_hop;             // h: target added per switch hop (§3.5, topology scaling)
  uint8_t hops = 0;             // hop count used when neither telemetry nor the TTL gives one
  bool telemetry_hops = false;  // ask the fabric for telemetry, to read the hop count
  double ai = 1;                // additive increment, packets per RTT (Alg. 1)
  double beta = 0.8;            // multiplicative-decrease gain (Alg. 1)
  double max_mdf = 0.5;         // largest fraction one decrease may remove (Alg. 1)
  Duration fs_range;            // flow-scaling range; zero turns flow scaling off (§3.5)
  double fs_min_cwnd = 0.1;     // window at which flow scaling reaches fs_range
  double fs_max_cwnd = 100;     // window at and above which flow scaling is zero
  double min_cwnd = 0.001;      // floor of the window (§3.4)
  double max_cwnd = 1 << 24;    // ceiling of the window
  double init_cwnd = 1;         // window at creation
  uint16_t retx_reset = 5;      // consecutive timeouts that reset the window to min_cwnd (Alg. 1)
};

// Per-connection state. A NIC would keep the parameters (the const members)
// per traffic class rather than per connection; they are here to keep
// the object self-contained. Floating point stands in for fixed point: cwnd,
// ai and the window bounds as Q16.16 packets (2^-16 resolves 0.001 packets),
// beta and max_mdf as Q0.16, delays and the flow-scaling alpha and beta as
// 32-bit nanoseconds (signed for beta), 1/sqrt(cwnd) from a lookup table.
class SwiftCc final : public CongestionControl {
 public:
  static constexpr std::string_view kName = "swift";

  // `config` must be consistent (min_cwnd <= init_cwnd <= max_cwnd,
  // fs_min_cwnd < fs_max_cwnd, delays up to kSwiftMaxDelay); CreateSwiftCc
  // checks that. Until the first RTT sample, context.base_rtt stands in for
  // the RTT (once-per-RTT decreases, pacing).
  SwiftCc(const SwiftConfig& config, const CcContext& context);

  // Alg. 1 "on receiving ACK": ends a run of timeouts; with an RTT sample,
  // increases additively below the target and decreases (at most once per
  // RTT) above it. An ACK without a sample changes no window.
  PathAdvice OnAck(const AckEvent& event) override;

  // kDetected and kTrimmed are Alg. 1's fast recovery: cut by max_mdf at most
  // once per RTT. kTimeout cuts the same way until retx_reset consecutive
  // timeouts, then resets the window to min_cwnd.
  PathAdvice OnLoss(const LossEvent& event) override;

  // Only the hop count is read from telemetry, so it is asked for only when
  // telemetry_hops is set (the IP TTL gives it for free, as in the paper).
  bool wants_telemetry() const override { return wants_telemetry_; }

  // cwnd x mtu_bytes rounded down, but never below one packet: a window
  // under one packet is enforced by pacing_rate() instead.
  uint64_t window_bytes() const override;

  // Unlimited while cwnd >= 1 packet; below, cwnd x mtu_bytes per last RTT
  // sample (context.base_rtt before the first), i.e. one packet every
  // rtt / cwnd (§3.4). Unlimited when that RTT is zero.
  Bandwidth pacing_rate() const override;

  std::string_view name() const override { return kName; }

  // window, rate_gbps (0 when unpaced), cwnd_packets, target_delay_us (the
  // target the next ACK is compared with: current cwnd and last hop count),
  // last_delay_us (last RTT sample), fs_us (flow-scaling part of that
  // target), decreases (window cuts of any cause), retransmit_count
  // (consecutive timeouts), hops (last hop count used).
  int DebugVariables(std::span<CcVariable, kMaxCcVariables> out) const override;

  double cwnd_packets() const { return cwnd_; }

 private:
  // §3.5: base + hops x h + clamp(alpha / sqrt(cwnd) + beta_fs, 0, fs_range).
  double TargetDelayNs(double cwnd, uint32_t hops) const;
  double FlowScalingNs(double cwnd) const;
  bool CanDecrease(Time now, Duration rtt) const;
  // Clamps cwnd to [min_cwnd, max_cwnd] and records a decrease (Alg. 1's
  // t_last_decrease) when it ended below `previous`.
  void ClampAndRecord(double previous, Time now);

  double cwnd_;  // packets
  const double ai_;
  const double beta_;
  const double max_mdf_;
  const double min_cwnd_;
  const double max_cwnd_;
  const double fs_alpha_ns_;  // alpha of §3.5, ns x sqrt(packet)
  const double fs_beta_ns_;   // beta of §3.5 (negative), ns
  Time last_decrease_;        // t_last_decrease of Alg. 1; valid once decreased_
  Duration last_rtt_;         // last RTT sample; context.base_rtt before the first
  const uint32_t base_target_ns_;
  const uint32_t per_hop_ns_;
  const uint32_t fs_range_ns_;  // 0: flow scaling off
  const uint32_t mtu_bytes_;
  uint32_t decreases_ = 0;
  uint16_t retransmit_count_ = 0;  // consecutive timeouts (Alg. 1 retransmit_cnt)
  const uint16_t retx_reset_;
  const uint8_t default_hops_;
  uint8_t last_hops_;
  const bool wants_telemetry_;
  bool decreased_ = false;  // false until the first decrease: the first may come at once
};

// 8 bytes of vtable pointer, seven doubles, a Time and a Duration (80), five
// u32 (20), two u16, four one-byte fields: 120 bytes on LP64.
static_assert(sizeof(SwiftCc) <= 128, "SwiftCc state must fit in two 64-byte cache lines");

// Largest delay a parameter or derivation may give (stored as u32 ns): 1 s.
inline constexpr Duration kSwiftMaxDelay = Duration::Milliseconds(1000);
// Largest window in packets, as for `fixed`'s packets.
inline constexpr double kSwiftMaxCwndPackets = 1 << 24;
// Queueing headroom the derived base target adds to CcContext::base_rtt.
inline constexpr Duration kSwiftTargetHeadroom = Duration::Microseconds(2);

// Builds a SwiftCc from checked parameters, deriving base_target, fs_range,
// init_cwnd and max_cwnd from the context where they are 0. Refuses
// fs_min_cwnd >= fs_max_cwnd, min_cwnd > max_cwnd and init_cwnd outside
// [min_cwnd, max_cwnd].
absl::StatusOr<std::unique_ptr<CongestionControl>> CreateSwiftCc(const CcParams& params,
                                                                 const CcContext& context);

// The registry entry: name, description, parameters and CreateSwiftCc.
CcAlgorithmInfo SwiftCcInfo();

}  // namespace tern
