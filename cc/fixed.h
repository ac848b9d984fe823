// The `fixed` algorithm: a constant congestion window and/or pacing rate that
// never react to the network. It is the no-congestion-control baseline every
// other algorithm is compared against, and the simplest example of the
// interface.
//
// Spec: fixed[:window=BYTES|packets=N][,rate=GBPS]
//   window   window in bytes; 0 (default) derives it from the context:
//            max(line_rate x base_rtt, 4 x mtu_bytes), rounded up to whole MTUs.
//   packets  window in packets of mtu_bytes; 0 (default) = unused. Excludes window.
//   rate     pacing rate in Gb/s; 0 (default) = unpaced.
// A window below one MTU is raised to one MTU, so window_bytes() is never 0.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "cc/congestion_control.h"
#include "cc/registry.h"
#include "transport/units.h"

namespace tern {

class FixedCc final : public CongestionControl {
 public:
  static constexpr std::string_view kName = "fixed";

  // `window_bytes` is what window_bytes() returns (a 0 is raised to 1 to keep
  // the interface's promise); `pacing_rate` may be Unlimited().
  FixedCc(uint64_t window_bytes, Bandwidth pacing_rate);

  // Both only count, for DebugState(): a fixed window ignores the network.
  PathAdvice OnAck(const AckEvent& event) override;
  PathAdvice OnLoss(const LossEvent& event) override;

  uint64_t window_bytes() const override { return window_bytes_; }
  Bandwidth pacing_rate() const override { return pacing_rate_; }
  std::string_view name() const override { return kName; }

  // window, rate_gbps (0 when unpaced), acks, losses, ce_marks.
  int DebugVariables(std::span<CcVariable, kMaxCcVariables> out) const override;

 private:
  uint64_t window_bytes_;
  Bandwidth pacing_rate_;
  uint64_t acks_ = 0;      // OnAck calls
  uint64_t losses_ = 0;    // OnLoss calls
  uint64_t ce_marks_ = 0;  // AckEvent::ce_packets summed: the ECN feedback ignored
};

// Per-connection state must stay small and fixed (no allocation per
// connection beyond the object itself): 8 bytes of vtable pointer plus five
// 8-byte fields, 48 bytes on LP64. docs/cc.md counts it for NIC designers.
static_assert(sizeof(FixedCc) <= 64, "FixedCc state must fit in one 64-byte cache line");

// Largest window `fixed` accepts or derives: 1 TiB, far above any real BDP and
// small enough that byte counts and transfer times cannot overflow.
inline constexpr uint64_t kFixedMaxWindowBytes = uint64_t{1} << 40;

// The window `fixed` uses when neither window nor packets is given:
// max(ceil(line_rate x base_rtt / 8), 4 x mtu_bytes), rounded up to a whole
// number of mtu_bytes. E.g. 400 Gb/s x 8 us = 400000 bytes -> 98 x 4096 =
// 401408. Four packets is the floor so that a link with a tiny or unknown
// (zero) BDP still keeps a few packets in flight. Requires mtu_bytes > 0;
// negative rates or RTTs count as zero.
uint64_t DeriveFixedWindowBytes(const CcContext& context);

// Builds a FixedCc from checked parameters. Refuses window and packets both
// nonzero.
absl::StatusOr<std::unique_ptr<CongestionControl>> CreateFixedCc(const CcParams& params,
                                                                 const CcContext& context);

// The registry entry: name, description, parameters and CreateFixedCc.
CcAlgorithmInfo FixedCcInfo();

}  // namespace tern
