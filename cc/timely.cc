#include "cc/timely.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cc/congestion_control.h"
#include "cc/registry.h"
#include "transport/units.h"

namespace tern {
namespace {

// Bandwidths printed in Gb/s for error messages.
std::string Gbps(Bandwidth b) { return absl::StrCat(b.gbps(), " Gb/s"); }

absl::Status Refuse(std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("congestion-control algorithm \"timely\": ", std::string(why)));
}

}  // namespace

TimelyCc::TimelyCc(const TimelyConfig& config)
    : alpha_(config.alpha),
      beta_(config.beta),
      delta_(config.delta),
      min_rate_(config.min_rate),
      max_rate_(config.max_rate),
      t_low_(config.t_low),
      t_high_(config.t_high),
      window_bytes_(std::max<uint64_t>(config.window_bytes, 1)),
      hai_threshold_(config.hai_threshold),
      hai_factor_(config.hai_factor),
      segment_bytes_(config.segment_bytes),
      rate_bps_(static_cast<double>(config.initial_rate.bits_per_second())),
      min_rtt_(config.min_rtt) {}

PathAdvice TimelyCc::OnAck(const AckEvent& event) {
  constexpr uint32_t kSaturated = std::numeric_limits<uint32_t>::max();
  bytes_since_update_ = event.acked_bytes > kSaturated - bytes_since_update_
                            ? kSaturated
                            : bytes_since_update_ + event.acked_bytes;
  // Zero means the ACK carried no timestamp echo: no sample, no update. A
  // negative duration cannot be a measurement either.
  if (event.rtt <= Duration::Zero()) return PathAdvice::kKeep;
  // Algorithm 1 runs once per completion event of a segment (16 KB in the
  // paper's section 6 experiments), not per packet.
  if (bytes_since_update_ < segment_bytes_) return PathAdvice::kKeep;
  bytes_since_update_ = 0;
  UpdateRate(event.rtt);
  return PathAdvice::kKeep;
}

PathAdvice TimelyCc::OnLoss(const LossEvent& /*event*/) { return PathAdvice::kKeep; }

Bandwidth TimelyCc::pacing_rate() const {
  // min_rate >= 1 kb/s, so the rounded rate is never 0 (which would mean unpaced).
  return Bandwidth::BitsPerSecond(std::llround(rate_bps_));
}

void TimelyCc::UpdateRate(Duration rtt) {
  min_rtt_ = min_rtt_.IsZero() ? rtt : std::min(min_rtt_, rtt);
  // The first completion has no predecessor: its difference is zero.
  const Duration prev = prev_rtt_.IsZero() ? rtt : prev_rtt_;
  prev_rtt_ = rtt;

  // Algorithm 1: EWMA of the RTT difference, normalised by the
  // minimum RTT into a dimensionless gradient.
  const double new_rtt_diff_us = (rtt - prev).microseconds();
  rtt_diff_us_ = (1 - alpha_) * rtt_diff_us_ + alpha_ * new_rtt_diff_us;
  const double gradient = rtt_diff_us_ / min_rtt_.microseconds();

  // Hyperactive increase (HAI) counts completions in a row whose gradient
  // says the queue is not growing, whichever branch below acts on them.
  if (gradient <= 0) {
    if (hai_count_ < std::numeric_limits<uint32_t>::max()) ++hai_count_;
  } else {
    hai_count_ = 0;
  }

  const double delta_bps = static_cast<double>(delta_.bits_per_second());
  if (rtt < t_low_) {
    // Below t_low the RTT holds too little queueing for its gradient to mean
    // much (a burst of one segment alone moves it): probe additively.
    rate_bps_ += delta_bps;
  } else if (rtt > t_high_) {
    // Above t_high cut in proportion to the excess, ignoring the gradient, so
    // that a queue standing at a constant high level still drains.
    const double t_high_over_rtt =
        static_cast<double>(t_high_.picoseconds()) / static_cast<double>(rtt.picoseconds());
    rate_bps_ *= 1 - beta_ * (1 - t_high_over_rtt);
  } else if (gradient <= 0) {
    const uint32_t n = hai_count_ >= hai_threshold_ ? hai_factor_ : 1;
    rate_bps_ += n * delta_bps;
  } else {
    // A gradient above 1/beta would make the factor negative; the clamp to
    // min_rate below then takes over.
    rate_bps_ *= std::max(0.0, 1 - beta_ * gradient);
  }
  rate_bps_ = std::clamp(rate_bps_, static_cast<double>(min_rate_.bits_per_second()),
                         static_cast<double>(max_rate_.bits_per_second()));
}

int TimelyCc::DebugVariables(std::span<CcVariable, kMaxCcVariables> out) const {
  out[0] = {"window", static_cast<double>(window_bytes_)};
  out[1] = {"rate_gbps", rate_bps_ / 1e9};
  out[2] = {"rtt_diff_us", rtt_diff_us_};
  out[3] = {"min_rtt_us", min_rtt_.microseconds()};
  out[4] = {"last_rtt_us", prev_rtt_.microseconds()};
  out[5] = {"hai_count", static_cast<double>(hai_count_)};
  return 6;
}

uint64_t DeriveTimelyWindowBytes(Bandwidth max_rate, Duration t_high, uint32_t mtu_bytes) {
  const uint64_t mtu = std::max<uint64_t>(mtu_bytes, 1);
  const int64_t bps = std::max<int64_t>(max_rate.bits_per_second(), 0);
  const int64_t ps = std::max<int64_t>(t_high.picoseconds(), 0);
  // bytes = bit/s x 2 x ps / (8 bit/byte x 1e12 ps/s), rounded up. bps <= 1e15
  // and ps <= 1e15 (the registry's ranges), so the product fits in 128 bits.
  constexpr Uint128 kPsBitsPerSecondByte = Uint128{8} * 1'000'000'000'000ULL;
  const Uint128 bytes =
      (static_cast<Uint128>(bps) * 2 * static_cast<Uint128>(ps) + kPsBitsPerSecondByte - 1) /
      kPsBitsPerSecondByte;
  const uint64_t capped =
      bytes > kTimelyMaxWindowBytes ? kTimelyMaxWindowBytes : static_cast<uint64_t>(bytes);
  const uint64_t window = std::max(capped, 4 * mtu);
  return std::min((window + mtu - 1) / mtu * mtu, kTimelyMaxWindowBytes);
}

absl::StatusOr<std::unique_ptr<CongestionControl>> CreateTimelyCc(const CcParams& params,
                                                                  const CcContext& context) {
  TimelyConfig config;
  config.alpha = params.GetDouble("alpha");
  config.beta = params.GetDouble("beta");
  config.delta = params.GetBandwidth("delta");
  config.t_low = params.GetDuration("t_low");
  config.t_high = params.GetDuration("t_high");
  config.hai_threshold = static_cast<uint32_t>(params.GetUint("hai_threshold"));
  config.hai_factor = static_cast<uint32_t>(params.GetUint("hai_factor"));
  config.segment_bytes = static_cast<uint32_t>(params.GetUint("segment_bytes"));
  config.min_rate = params.GetBandwidth("min_rate");

  if (config.t_low > config.t_high) {
    return Refuse(absl::StrCat("t_low=", config.t_low.microseconds(), " us is above t_high=",
                               config.t_high.microseconds(), " us; give t_low <= t_high"));
  }

  const Bandwidth max_rate = params.GetBandwidth("max_rate");
  config.max_rate = max_rate.IsUnlimited() ? context.line_rate : max_rate;
  if (config.max_rate.IsUnlimited()) {
    return Refuse(
        "the line rate is unknown (CcContext.line_rate is 0) and max_rate=0; give max_rate=GBPS");
  }
  if (config.min_rate > config.max_rate) {
    return Refuse(absl::StrCat("min_rate=", Gbps(config.min_rate), " is above the maximum rate ",
                               Gbps(config.max_rate), " (max_rate, or the line rate when 0)"));
  }

  const Bandwidth initial_rate = params.GetBandwidth("initial_rate");
  config.initial_rate = initial_rate.IsUnlimited() ? config.max_rate : initial_rate;
  if (config.initial_rate < config.min_rate || config.initial_rate > config.max_rate) {
    return Refuse(absl::StrCat("initial_rate=", Gbps(config.initial_rate), " is outside [",
                               Gbps(config.min_rate), ", ", Gbps(config.max_rate),
                               "] (min_rate, maximum rate)"));
  }

  // The fixed normaliser of the paper; the fabric's configured base RTT when
  // not given (it may be 0, unknown, until the first sample).
  const Duration min_rtt = params.GetDuration("min_rtt");
  config.min_rtt = min_rtt.IsZero() ? context.base_rtt : min_rtt;

  config.window_bytes = DeriveTimelyWindowBytes(config.max_rate, config.t_high, context.mtu_bytes);
  return std::make_unique<TimelyCc>(config);
}

CcAlgorithmInfo TimelyCcInfo() {
  return CcAlgorithmInfo{
      .name = TimelyCc::kName,
      .description =
          "TIMELY (SIGCOMM 2015): rate from the RTT gradient, paced; RTT thresholds "
          "t_low/t_high",
      .params =
          {
              {.name = "alpha",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.02",
               .description = "EWMA weight of the newest RTT difference (authors' reference code; "
                              "the HPCC ns-3 model uses 0.875 with one update per RTT)",
               .min = std::nullopt,
               .max = 1},
              {.name = "beta",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.8",
               .description = "multiplicative-decrease factor (paper section 6)",
               .min = std::nullopt,
               .max = 1},
              {.name = "delta",
               .kind = CcParamKind::kMbps,
               .default_value = "10",
               .description = "additive increment in Mb/s per completion (paper section 6)",
               .min = 0.001,
               .max = std::nullopt},
              {.name = "t_low",
               .kind = CcParamKind::kMicroseconds,
               .default_value = "50",
               .description = "RTT in us below which the rate grows additively (paper section 6)",
               .min = std::nullopt,
               .max = std::nullopt},
              {.name = "t_high",
               .kind = CcParamKind::kMicroseconds,
               .default_value = "500",
               .description = "RTT in us above which the rate is cut by beta x (1 - t_high/rtt) "
                              "(paper section 6)",
               .min = 0.001,
               .max = std::nullopt},
              {.name = "hai_threshold",
               .kind = CcParamKind::kUnsigned,
               .default_value = "5",
               .description = "completions in a row with gradient <= 0 before hyperactive "
                              "increase",
               .min = 1,
               .max = 1'000'000},
              {.name = "hai_factor",
               .kind = CcParamKind::kUnsigned,
               .default_value = "5",
               .description = "N: the hyperactive increase step is N x delta; 1 disables HAI",
               .min = 1,
               .max = 1'000'000},
              {.name = "min_rtt",
               .kind = CcParamKind::kMicroseconds,
               .default_value = "0",
               .description = "gradient normaliser in us; 0 = the context's base RTT; a smaller "
                              "RTT sample lowers it",
               .min = std::nullopt,
               .max = std::nullopt},
              {.name = "min_rate",
               .kind = CcParamKind::kMbps,
               .default_value = "100",
               .description = "lowest rate in Mb/s",
               .min = 0.001,
               .max = std::nullopt},
              {.name = "max_rate",
               .kind = CcParamKind::kGbps,
               .default_value = "0",
               .description = "highest rate in Gb/s; 0 = the line rate",
               .min = std::nullopt,
               .max = std::nullopt},
              {.name = "initial_rate",
               .kind = CcParamKind::kGbps,
               .default_value = "0",
               .description = "starting rate in Gb/s; 0 = the maximum rate",
               .min = std::nullopt,
               .max = std::nullopt},
              {.name = "segment_bytes",
               .kind = CcParamKind::kUnsigned,
               .default_value = "16384",
               .description = "acknowledged bytes per completion event (paper section 6: 16 KB); "
                              "0 = update on every ACK with an RTT sample",
               .min = 0,
               .max = 1 << 30},
          },
      .factory = &CreateTimelyCc,
  };
}

}  // namespace tern
