#include "cc/fixed.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cc/congestion_control.h"
#include "cc/registry.h"
#include "transport/units.h"

namespace tern {
namespace {

constexpr uint64_t kMaxPackets = uint64_t{1} << 24;

}  // namespace

FixedCc::FixedCc(uint64_t window_bytes, Bandwidth pacing_rate)
    : window_bytes_(std::max<uint64_t>(window_bytes, 1)), pacing_rate_(pacing_rate) {}

PathAdvice FixedCc::OnAck(const AckEvent& event) {
  ++acks_;
  ce_marks_ += event.ce_packets;
  return PathAdvice::kKeep;
}

PathAdvice FixedCc::OnLoss(const LossEvent& /*event*/) {
  ++losses_;
  return PathAdvice::kKeep;
}

int FixedCc::DebugVariables(std::span<CcVariable, kMaxCcVariables> out) const {
  const double rate = pacing_rate_.IsUnlimited() ? 0.0 : pacing_rate_.gbps();
  out[0] = {"window", static_cast<double>(window_bytes_)};
  out[1] = {"rate_gbps", rate};
  out[2] = {"acks", static_cast<double>(acks_)};
  out[3] = {"losses", static_cast<double>(losses_)};
  out[4] = {"ce_marks", static_cast<double>(ce_marks_)};
  return 5;
}

uint64_t DeriveFixedWindowBytes(const CcContext& context) {
  const uint64_t mtu = std::max<uint64_t>(context.mtu_bytes, 1);
  const int64_t bps = std::max<int64_t>(context.line_rate.bits_per_second(), 0);
  const int64_t ps = std::max<int64_t>(context.base_rtt.picoseconds(), 0);
  // bytes = bit/s x ps / (8 bit/byte x 1e12 ps/s), rounded up. Both factors
  // are below 2^63, so the product fits in 128 bits.
  constexpr Uint128 kPsBitsPerSecondByte = Uint128{8} * 1'000'000'000'000ULL;
  const Uint128 bdp =
      (static_cast<Uint128>(bps) * static_cast<Uint128>(ps) + kPsBitsPerSecondByte - 1) /
      kPsBitsPerSecondByte;
  const uint64_t capped =
      bdp > kFixedMaxWindowBytes ? kFixedMaxWindowBytes : static_cast<uint64_t>(bdp);
  const uint64_t window = std::max(capped, 4 * mtu);
  return (window + mtu - 1) / mtu * mtu;
}

absl::StatusOr<std::unique_ptr<CongestionControl>> CreateFixedCc(const CcParams& params,
                                                                 const CcContext& context) {
  const uint64_t window = params.GetUint("window");
  const uint64_t packets = params.GetUint("packets");
  if (window != 0 && packets != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "congestion-control algorithm \"fixed\": window=", window, " and packets=", packets,
        " are both set; give one of them (window in bytes, or packets of mtu_bytes=",
        context.mtu_bytes, ")"));
  }
  uint64_t window_bytes = 0;
  if (window != 0) {
    window_bytes = window;
  } else if (packets != 0) {
    window_bytes = packets * context.mtu_bytes;  // <= 2^24 x 2^32: no overflow
  } else {
    window_bytes = DeriveFixedWindowBytes(context);
  }
  // The interface promises a window of at least one packet.
  window_bytes = std::max<uint64_t>(window_bytes, context.mtu_bytes);
  return std::make_unique<FixedCc>(window_bytes, params.GetBandwidth("rate"));
}

CcAlgorithmInfo FixedCcInfo() {
  return CcAlgorithmInfo{
      .name = FixedCc::kName,
      .description = "constant window and/or pacing rate that ignore congestion (the baseline)",
      .params =
          {
              {.name = "window",
               .kind = CcParamKind::kUnsigned,
               .default_value = "0",
               .description = "window in bytes; 0 = max(line_rate x base_rtt, 4 x mtu) rounded "
                              "up to whole MTUs; less than one MTU is raised to one MTU",
               .min = 0,
               .max = static_cast<double>(kFixedMaxWindowBytes)},
              {.name = "packets",
               .kind = CcParamKind::kUnsigned,
               .default_value = "0",
               .description = "window in packets of mtu bytes; 0 = unused; excludes window",
               .min = 0,
               .max = static_cast<double>(kMaxPackets)},
              {.name = "rate",
               .kind = CcParamKind::kGbps,
               .default_value = "0",
               .description = "pacing rate in Gb/s; 0 = unpaced, only the window limits",
               .min = std::nullopt,
               .max = std::nullopt},
          },
      .factory = &CreateFixedCc,
  };
}

}  // namespace tern
