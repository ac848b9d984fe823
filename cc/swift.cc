#include "cc/swift.h"

#include <algorithm>
#include <cmath>
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

uint32_t ToNanoseconds(Duration d) {
  const int64_t ns = std::clamp(d.nanoseconds(), int64_t{0}, kSwiftMaxDelay.nanoseconds());
  return static_cast<uint32_t>(ns);
}

// alpha of §3.5: the flow-scaling term alpha / sqrt(cwnd) + beta_fs is
// fs_range at fs_min_cwnd and 0 at fs_max_cwnd.
double FlowScalingAlphaNs(const SwiftConfig& c) {
  return static_cast<double>(ToNanoseconds(c.fs_range)) /
         (1 / std::sqrt(c.fs_min_cwnd) - 1 / std::sqrt(c.fs_max_cwnd));
}

// Packets of `mtu_bytes` that `rate` delivers in `time`; 0 when either is
// unknown (zero or negative).
double PacketsIn(Bandwidth rate, Duration time, uint32_t mtu_bytes) {
  return rate.BytesIn(time) / mtu_bytes;
}

std::string Error(const std::string& what) {
  return absl::StrCat("congestion-control algorithm \"swift\": ", what);
}

}  // namespace

SwiftCc::SwiftCc(const SwiftConfig& config, const CcContext& context)
    : cwnd_(std::clamp(config.init_cwnd, config.min_cwnd, config.max_cwnd)),
      ai_(config.ai),
      beta_(config.beta),
      max_mdf_(config.max_mdf),
      min_cwnd_(config.min_cwnd),
      max_cwnd_(config.max_cwnd),
      fs_alpha_ns_(FlowScalingAlphaNs(config)),
      fs_beta_ns_(-FlowScalingAlphaNs(config) / std::sqrt(config.fs_max_cwnd)),
      last_rtt_(std::max(context.base_rtt, Duration::Zero())),
      base_target_ns_(ToNanoseconds(config.base_target)),
      per_hop_ns_(ToNanoseconds(config.per_hop)),
      fs_range_ns_(ToNanoseconds(config.fs_range)),
      mtu_bytes_(std::max<uint32_t>(context.mtu_bytes, 1)),
      retx_reset_(std::max<uint16_t>(config.retx_reset, 1)),
      default_hops_(config.hops),
      last_hops_(config.hops),
      wants_telemetry_(config.telemetry_hops) {}

double SwiftCc::FlowScalingNs(double cwnd) const {
  if (fs_range_ns_ == 0) return 0;
  const double fs = fs_alpha_ns_ / std::sqrt(cwnd) + fs_beta_ns_;
  return std::clamp(fs, 0.0, static_cast<double>(fs_range_ns_));
}

double SwiftCc::TargetDelayNs(double cwnd, uint32_t hops) const {
  return static_cast<double>(base_target_ns_) +
         static_cast<double>(hops) * static_cast<double>(per_hop_ns_) + FlowScalingNs(cwnd);
}

bool SwiftCc::CanDecrease(Time now, Duration rtt) const {
  return !decreased_ || now - last_decrease_ >= rtt;
}

void SwiftCc::ClampAndRecord(double previous, Time now) {
  cwnd_ = std::clamp(cwnd_, min_cwnd_, max_cwnd_);
  // Strictly below: a window left unchanged (a cut skipped within the RTT,
  // or one already at min_cwnd) must not push t_last_decrease forward, or a
  // steady stream of high-delay ACKs would block every later cut.
  if (cwnd_ < previous) {
    last_decrease_ = now;
    decreased_ = true;
    ++decreases_;
  }
}

PathAdvice SwiftCc::OnAck(const AckEvent& event) {
  retransmit_count_ = 0;  // Alg. 1: an ACK ends a run of timeouts
  if (event.rtt <= Duration::Zero()) return PathAdvice::kKeep;

  // Telemetry when the connection asked for it; else the ACK's TTL when it
  // shows a router; else the parameter (0 routers: a direct link, or L2
  // switches that leave the TTL alone).
  const uint32_t hops = event.telemetry != nullptr ? event.telemetry->hops
                        : event.path_hops > 0      ? static_cast<uint32_t>(event.path_hops)
                                                   : default_hops_;
  last_hops_ = static_cast<uint8_t>(std::min<uint32_t>(hops, UINT8_MAX));
  last_rtt_ = event.rtt;
  // The whole RTT sample is the delay: Tern cannot split off the endpoint part.
  const double delay_ns = static_cast<double>(event.rtt.picoseconds()) / 1e3;
  const double target_ns = TargetDelayNs(cwnd_, last_hops_);
  const double previous = cwnd_;
  if (delay_ns < target_ns) {
    // Alg. 1 additive increase: ai packets per RTT, or per ACK below one packet.
    const double acked = event.acked_packets;
    cwnd_ += cwnd_ >= 1 ? ai_ * acked / cwnd_ : ai_ * acked;
  } else if (CanDecrease(event.now, event.rtt)) {
    // Alg. 1 multiplicative decrease, proportional to the overshoot.
    cwnd_ *= std::max(1 - beta_ * (delay_ns - target_ns) / delay_ns, 1 - max_mdf_);
  }
  ClampAndRecord(previous, event.now);
  return PathAdvice::kKeep;
}

PathAdvice SwiftCc::OnLoss(const LossEvent& event) {
  const double previous = cwnd_;
  if (event.cause == LossCause::kTimeout) {
    if (retransmit_count_ < UINT16_MAX) ++retransmit_count_;
    if (retransmit_count_ >= retx_reset_) {
      cwnd_ = min_cwnd_;
    } else if (CanDecrease(event.now, last_rtt_)) {
      cwnd_ *= 1 - max_mdf_;
    }
  } else {
    // kDetected, kTrimmed: Alg. 1's fast recovery.
    retransmit_count_ = 0;
    if (CanDecrease(event.now, last_rtt_)) cwnd_ *= 1 - max_mdf_;
  }
  ClampAndRecord(previous, event.now);
  return PathAdvice::kKeep;
}

uint64_t SwiftCc::window_bytes() const {
  if (cwnd_ < 1) return mtu_bytes_;
  // cwnd <= 2^24 packets of at most 2^32 bytes: fits in 64 bits.
  const auto bytes = static_cast<uint64_t>(cwnd_ * mtu_bytes_);
  return std::max<uint64_t>(bytes, mtu_bytes_);
}

Bandwidth SwiftCc::pacing_rate() const {
  if (cwnd_ >= 1 || last_rtt_ <= Duration::Zero()) return Bandwidth::Unlimited();
  const double bits_per_second =
      cwnd_ * mtu_bytes_ * 8 * 1e12 / static_cast<double>(last_rtt_.picoseconds());
  // At least 1 bit/s: zero would mean unlimited.
  return Bandwidth::BitsPerSecond(std::max<int64_t>(static_cast<int64_t>(bits_per_second), 1));
}

int SwiftCc::DebugVariables(std::span<CcVariable, kMaxCcVariables> out) const {
  const Bandwidth rate = pacing_rate();
  out[0] = {"window", static_cast<double>(window_bytes())};
  out[1] = {"rate_gbps", rate.IsUnlimited() ? 0.0 : rate.gbps()};
  out[2] = {"cwnd_packets", cwnd_};
  out[3] = {"target_delay_us", TargetDelayNs(cwnd_, last_hops_) / 1e3};
  out[4] = {"last_delay_us", last_rtt_.microseconds()};
  out[5] = {"fs_us", FlowScalingNs(cwnd_) / 1e3};
  out[6] = {"decreases", static_cast<double>(decreases_)};
  out[7] = {"retransmit_count", static_cast<double>(retransmit_count_)};
  out[8] = {"hops", static_cast<double>(last_hops_)};
  return 9;
}

absl::StatusOr<std::unique_ptr<CongestionControl>> CreateSwiftCc(const CcParams& params,
                                                                 const CcContext& context) {
  SwiftConfig c;
  const Duration base_rtt = std::max(context.base_rtt, Duration::Zero());
  const uint32_t mtu = std::max<uint32_t>(context.mtu_bytes, 1);

  c.base_target = params.GetDuration("base_target");
  if (c.base_target.IsZero()) {
    c.base_target = std::min(base_rtt + kSwiftTargetHeadroom, kSwiftMaxDelay);
  }
  c.per_hop = params.GetDuration("per_hop");
  c.hops = static_cast<uint8_t>(params.GetUint("hops"));
  c.telemetry_hops = params.GetBool("telemetry_hops");
  c.ai = params.GetDouble("ai");
  c.beta = params.GetDouble("beta");
  c.max_mdf = params.GetDouble("max_mdf");

  c.fs_min_cwnd = params.GetDouble("fs_min_cwnd");
  c.fs_max_cwnd = params.GetDouble("fs_max_cwnd");
  if (c.fs_min_cwnd >= c.fs_max_cwnd) {
    return absl::InvalidArgumentError(Error(
        absl::StrCat("fs_min_cwnd=", c.fs_min_cwnd, " must be below fs_max_cwnd=", c.fs_max_cwnd,
                     " (flow scaling spans the windows between them)")));
  }
  if (!params.GetBool("flow_scaling")) {
    c.fs_range = Duration::Zero();
  } else if (!params.GetDuration("fs_range").IsZero()) {
    c.fs_range = params.GetDuration("fs_range");
  } else {
    c.fs_range = std::min(c.base_target * 5, kSwiftMaxDelay);
  }

  c.min_cwnd = params.GetDouble("min_cwnd");
  if (const uint64_t max_cwnd = params.GetUint("max_cwnd"); max_cwnd != 0) {
    c.max_cwnd = static_cast<double>(max_cwnd);
    if (c.min_cwnd > c.max_cwnd) {
      return absl::InvalidArgumentError(
          Error(absl::StrCat("min_cwnd=", c.min_cwnd, " exceeds max_cwnd=", max_cwnd,
                             "; lower min_cwnd or raise max_cwnd")));
    }
  } else {
    // Four times the window that keeps the line busy at the base target;
    // the largest window when the line rate is unknown.
    const double derived = 4 * PacketsIn(context.line_rate, c.base_target, mtu);
    c.max_cwnd =
        derived > 0 ? std::clamp(derived, 1.0, kSwiftMaxCwndPackets) : kSwiftMaxCwndPackets;
    c.max_cwnd = std::max(c.max_cwnd, c.min_cwnd);
  }
  if (const uint64_t init_cwnd = params.GetUint("init_cwnd"); init_cwnd != 0) {
    c.init_cwnd = static_cast<double>(init_cwnd);
    if (c.init_cwnd < c.min_cwnd || c.init_cwnd > c.max_cwnd) {
      return absl::InvalidArgumentError(Error(absl::StrCat(
          "init_cwnd=", init_cwnd, " is outside [min_cwnd=", c.min_cwnd, ", max_cwnd=", c.max_cwnd,
          params.GetUint("max_cwnd") == 0 ? " (derived: 4 x line_rate x base_target / mtu)" : "",
          "]; give a window in that range or move the bounds")));
    }
  } else {
    // One bandwidth-delay product: the line rate for one base RTT. Below one
    // packet that paces at exactly the line rate; unknown rate: one packet.
    const double bdp = PacketsIn(context.line_rate, base_rtt, mtu);
    c.init_cwnd = std::clamp(bdp > 0 ? bdp : 1.0, c.min_cwnd, c.max_cwnd);
  }
  c.retx_reset = static_cast<uint16_t>(params.GetUint("retx_reset"));
  return std::make_unique<SwiftCc>(c, context);
}

CcAlgorithmInfo SwiftCcInfo() {
  return CcAlgorithmInfo{
      .name = SwiftCc::kName,
      .description =
          "Swift (SIGCOMM 2020): AIMD on a packet window towards a target delay "
          "scaled by hops and window; paced below one packet",
      .params =
          {
              {.name = "base_target",
               .kind = CcParamKind::kMicroseconds,
               .default_value = "0",
               .description = "base target delay in us; 0 = the context's base_rtt + 2 us",
               .min = std::nullopt,
               .max = 1e6},
              {.name = "per_hop",
               .kind = CcParamKind::kMicroseconds,
               .default_value = "0",
               .description = "target delay added per switch hop (h), us; 0 = no topology "
                              "scaling (base_rtt already covers the longest path)",
               .min = std::nullopt,
               .max = 1e6},
              {.name = "hops",
               .kind = CcParamKind::kUnsigned,
               .default_value = "5",
               .description = "switch hops assumed when neither telemetry nor the ACK's IP "
                              "TTL reports any (5: a 3-tier fat tree's longest path)",
               .min = 0,
               .max = 255},
              {.name = "telemetry_hops",
               .kind = CcParamKind::kBool,
               .default_value = "false",
               .description = "ask the fabric for telemetry to read each path's hop count "
                              "(otherwise the ACK's IP TTL gives it)",
               .min = std::nullopt,
               .max = std::nullopt},
              {.name = "ai",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "1",
               .description = "additive increment, packets per RTT",
               .min = std::nullopt,
               .max = 1e6},
              {.name = "beta",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.8",
               .description = "multiplicative-decrease gain on the delay overshoot",
               .min = std::nullopt,
               .max = 1},
              {.name = "max_mdf",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.5",
               .description = "largest fraction of the window one decrease removes",
               .min = std::nullopt,
               .max = 1},
              {.name = "fs_range",
               .kind = CcParamKind::kMicroseconds,
               .default_value = "0",
               .description = "flow-scaling range added to the target at fs_min_cwnd, us; "
                              "0 = 5 x base_target",
               .min = std::nullopt,
               .max = 1e6},
              {.name = "fs_min_cwnd",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.1",
               .description = "window (packets) at which flow scaling reaches fs_range",
               .min = std::nullopt,
               .max = kSwiftMaxCwndPackets},
              {.name = "fs_max_cwnd",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "100",
               .description = "window (packets) from which flow scaling adds nothing",
               .min = std::nullopt,
               .max = kSwiftMaxCwndPackets},
              {.name = "flow_scaling",
               .kind = CcParamKind::kBool,
               .default_value = "true",
               .description = "scale the target with 1/sqrt(cwnd); false = fixed target",
               .min = std::nullopt,
               .max = std::nullopt},
              {.name = "min_cwnd",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.001",
               .description = "smallest window in packets; below 1 the window is paced",
               .min = std::nullopt,
               .max = kSwiftMaxCwndPackets},
              {.name = "max_cwnd",
               .kind = CcParamKind::kUnsigned,
               .default_value = "0",
               .description = "largest window in packets; 0 = 4 x line_rate x base_target / mtu",
               .min = 0,
               .max = kSwiftMaxCwndPackets},
              {.name = "init_cwnd",
               .kind = CcParamKind::kUnsigned,
               .default_value = "0",
               .description = "initial window in packets; 0 = line_rate x base_rtt / mtu "
                              "(fractional), 1 when the line rate is unknown",
               .min = 0,
               .max = kSwiftMaxCwndPackets},
              {.name = "retx_reset",
               .kind = CcParamKind::kUnsigned,
               .default_value = "5",
               .description = "consecutive retransmission timeouts that reset the window to "
                              "min_cwnd (earlier ones cut by max_mdf)",
               .min = 1,
               .max = 65535},
          },
      .factory = &CreateSwiftCc,
  };
}

}  // namespace tern
