#include "cc/dcqcn.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
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

// The two presets. Paper: Zhu et al. 2015 (g, K, T, B, F, R_AI as the paper
// and the Broadcom htsim model use them); R_HAI and the minimum rate, which the
// paper leaves open, from the authors' released simulator
// (bobzhuyb/ns3-rdma, mix/config.txt: RATE_HAI 200Mb/s; MinRate 100Mb/s).
// Firmware: ConnectX defaults as mlxconfig reports them (RPG_TIME_RESET 300,
// RPG_BYTE_RESET 32767, RPG_THRESHOLD 1, RPG_AI_RATE 5, RPG_HAI_RATE 50,
// RPG_MIN_RATE 1, DCE_TCP_G 1019, DCE_TCP_RTT 1, INITIAL_ALPHA_VALUE 1023),
// read with NVIDIA's "DCQCN CC Parameters" page: alpha is in 1/1024 units and
// DCE_TCP_G weighs the old alpha, so g = (1024 - 1019)/1024.
DcqcnConfig PresetConfig(bool firmware) {
  DcqcnConfig c;
  if (!firmware) {
    c.g = 1.0 / 256;
    c.alpha_timer = Duration::Microseconds(55);
    c.increase_timer = Duration::Microseconds(55);
    c.byte_counter = 10'000'000;
    c.fast_recovery_steps = 5;
    c.additive_increase = Bandwidth::BitsPerSecond(40'000'000);
    c.hyper_increase = Bandwidth::BitsPerSecond(200'000'000);
    c.min_rate = Bandwidth::BitsPerSecond(100'000'000);
    c.initial_alpha = 1.0;
  } else {
    c.g = 5.0 / 1024;
    c.alpha_timer = Duration::Microseconds(1);
    c.increase_timer = Duration::Microseconds(300);
    c.byte_counter = 32767;
    c.fast_recovery_steps = 1;
    c.additive_increase = Bandwidth::BitsPerSecond(5'000'000);
    c.hyper_increase = Bandwidth::BitsPerSecond(50'000'000);
    c.min_rate = Bandwidth::BitsPerSecond(1'000'000);
    c.initial_alpha = 1023.0 / 1024;
  }
  c.initial_rate = Bandwidth::Unlimited();  // line rate
  return c;
}

constexpr uint64_t kMaxWindowBytes = uint64_t{1} << 40;
constexpr double kMaxTimerMicroseconds = 1e6;  // 1 s, so nanoseconds fit in u32
constexpr double kMaxByteCounter = 4294967295.0;
constexpr double kMaxFastRecoverySteps = 65535;

uint32_t ToNanoseconds(Duration d) { return static_cast<uint32_t>((d.picoseconds() + 500) / 1000); }

// How many events of an increase run fit before RT would pass the line rate:
// the largest j <= limit with j x first + growth x j(j-1)/2 <= room (the
// increments are first, first + growth, ...; all >= 0).
uint64_t EventsWithinRoom(double room, double first, double growth, uint64_t limit) {
  if (first <= 0 && growth <= 0) return limit;  // RT never moves
  if (room <= 0) return 0;
  const auto cost = [&](double j) { return j * first + growth * j * (j - 1) / 2; };
  double estimate = 0;
  if (growth <= 0) {
    estimate = std::floor(room / first);
  } else {
    // Root of growth/2 j^2 + (first - growth/2) j - room = 0.
    const double b = first - growth / 2;
    estimate = std::floor((-b + std::sqrt(b * b + 2 * growth * room)) / growth);
  }
  uint64_t j = estimate >= static_cast<double>(limit)
                   ? limit
                   : static_cast<uint64_t>(std::max(estimate, 0.0));
  // The floating-point root can be off by one either way.
  while (j > 0 && cost(static_cast<double>(j)) > room) --j;
  while (j < limit && cost(static_cast<double>(j + 1)) <= room) ++j;
  return j;
}

}  // namespace

DcqcnCc::DcqcnCc(const DcqcnConfig& config, Bandwidth line_rate, uint64_t window_bytes)
    : rate_bps_(static_cast<double>(config.initial_rate.IsUnlimited()
                                        ? line_rate.bits_per_second()
                                        : config.initial_rate.bits_per_second())),
      target_bps_(static_cast<double>(line_rate.bits_per_second())),
      alpha_(config.initial_alpha),
      alpha_deadline_(Time::Infinite()),
      increase_deadline_(Time::Infinite()),
      g_(config.g),
      additive_bps_(static_cast<double>(config.additive_increase.bits_per_second())),
      hyper_bps_(static_cast<double>(config.hyper_increase.bits_per_second())),
      min_rate_bps_(static_cast<double>(config.min_rate.bits_per_second())),
      line_rate_bps_(static_cast<double>(line_rate.bits_per_second())),
      window_bytes_(std::max<uint64_t>(window_bytes, 1)),
      alpha_timer_ns_(std::max<uint32_t>(ToNanoseconds(config.alpha_timer), 1)),
      increase_timer_ns_(std::max<uint32_t>(ToNanoseconds(config.increase_timer), 1)),
      byte_counter_(static_cast<uint32_t>(
          std::min<uint64_t>(config.byte_counter, std::numeric_limits<uint32_t>::max()))),
      fast_recovery_steps_(static_cast<uint16_t>(
          std::min<uint32_t>(config.fast_recovery_steps, std::numeric_limits<uint16_t>::max()))),
      // A flow that starts below line rate recovers from its first event on,
      // as if a cut had just left it there with RT at line rate.
      arm_on_first_event_(rate_bps_ < line_rate_bps_) {}

PathAdvice DcqcnCc::OnAck(const AckEvent& event) {
  AdvanceTimers(event.now);
  if (event.cnp) OnCnp(event.now);
  return PathAdvice::kKeep;
}

// ConnectX NICs do not cut the DCQCN rate on a retransmission timeout, and
// the paper's RP reacts to CNPs only; with PFC, losses are rare and not a
// congestion signal DCQCN was designed around. So a loss, a trim and a timeout
// leave the rate alone; the transport's own retransmission handles them.
PathAdvice DcqcnCc::OnLoss(const LossEvent& event) {
  AdvanceTimers(event.now);
  return PathAdvice::kKeep;
}

void DcqcnCc::OnSend(const SendEvent& event) {
  AdvanceTimers(event.now);
  // The byte counter runs only while the rate is recovering (from the first
  // CNP on, or from the start when starting below line rate).
  if (increase_deadline_.IsInfinite() || byte_counter_ == 0) return;
  const uint64_t total = uint64_t{bytes_counted_} + event.bytes;
  bytes_counted_ = static_cast<uint32_t>(total % byte_counter_);
  if (total >= byte_counter_) ApplyIncreaseEvents(total / byte_counter_, /*by_timer=*/false);
}

Bandwidth DcqcnCc::pacing_rate() const {
  // rate_bps_ >= min_rate_bps_ >= 1 bit/s, so never 0 (which would mean unlimited).
  return Bandwidth::BitsPerSecond(std::max<int64_t>(std::llround(rate_bps_), 1));
}

int DcqcnCc::DebugVariables(std::span<CcVariable, kMaxCcVariables> out) const {
  out[0] = {"window", static_cast<double>(window_bytes_)};
  out[1] = {"rate_gbps", rate_bps_ / 1e9};
  out[2] = {"target_gbps", target_bps_ / 1e9};
  out[3] = {"alpha", alpha_};
  out[4] = {"timer_stage", static_cast<double>(timer_stage_)};
  out[5] = {"byte_stage", static_cast<double>(byte_stage_)};
  out[6] = {"cnps", static_cast<double>(cnps_)};
  return 7;
}

void DcqcnCc::AdvanceTimers(Time now) {
  if (arm_on_first_event_) {
    arm_on_first_event_ = false;
    increase_deadline_ = now + Duration::Nanoseconds(increase_timer_ns_);
  }
  // Eq. 2, once per whole K elapsed since the last CNP or decay: n periods
  // multiply alpha by (1-g)^n, so an idle gap costs one pow().
  if (now >= alpha_deadline_) {
    const int64_t period_ps = int64_t{alpha_timer_ns_} * 1000;
    const int64_t periods = 1 + (now - alpha_deadline_).picoseconds() / period_ps;
    alpha_ *= std::pow(1 - g_, static_cast<double>(periods));
    alpha_deadline_ = alpha_deadline_ + Duration::Picoseconds(periods * period_ps);
  }
  if (now >= increase_deadline_) {
    const int64_t period_ps = int64_t{increase_timer_ns_} * 1000;
    const int64_t periods = 1 + (now - increase_deadline_).picoseconds() / period_ps;
    increase_deadline_ = increase_deadline_ + Duration::Picoseconds(periods * period_ps);
    ApplyIncreaseEvents(static_cast<uint64_t>(periods), /*by_timer=*/true);
  }
}

void DcqcnCc::OnCnp(Time now) {
  cnps_ = SaturatingAdd(cnps_, 1);
  // Eq. 1, in the paper's order: the cut uses alpha before this CNP's update.
  target_bps_ = rate_bps_;
  rate_bps_ = std::max(min_rate_bps_, rate_bps_ * (1 - alpha_ / 2));
  alpha_ = (1 - g_) * alpha_ + g_;
  // A CNP restarts the increase machinery (Section 3.1) and the alpha timer.
  timer_stage_ = 0;
  byte_stage_ = 0;
  bytes_counted_ = 0;
  alpha_deadline_ = now + Duration::Nanoseconds(alpha_timer_ns_);
  increase_deadline_ = now + Duration::Nanoseconds(increase_timer_ns_);
}

void DcqcnCc::ApplyIncreaseEvents(uint64_t events, bool by_timer) {
  uint32_t& own = by_timer ? timer_stage_ : byte_stage_;
  const uint64_t other = by_timer ? byte_stage_ : timer_stage_;
  const uint64_t f = fast_recovery_steps_;
  // Split the events into runs whose target increments are an arithmetic
  // sequence. The stage only grows, so the phases come in order (fast
  // recovery, additive, hyper with growing i, hyper with fixed i) and the
  // loop runs at most four times, however many events there are.
  while (events > 0) {
    if (rate_bps_ >= line_rate_bps_ && target_bps_ >= line_rate_bps_) {
      own = SaturatingAdd(own, events);  // at line rate: no event can change a rate
      return;
    }
    const uint64_t next = uint64_t{own} + 1;  // the stage the next event will have
    uint64_t run = events;
    double first = 0;
    double growth = 0;
    if (std::max(next, other) <= f) {
      run = f - own;  // fast recovery (Eq. 3): RT unchanged
    } else if (std::min(next, other) <= f) {
      first = additive_bps_;         // additive increase (Eq. 4)
      if (next <= f) run = f - own;  // until this stage passes F too: then hyper
    } else if (next >= other) {
      first = static_cast<double>(other - f) * hyper_bps_;  // hyper, i = BC - F fixed
    } else {
      // Hyper with i = own - F growing by one per event until own reaches other.
      first = static_cast<double>(next - f) * hyper_bps_;
      growth = hyper_bps_;
      run = other - own;
    }
    run = std::min(run, events);
    ApplyIncreaseRun(run, first, growth);
    own = SaturatingAdd(own, run);
    events -= run;
  }
}

void DcqcnCc::ApplyIncreaseRun(uint64_t events, double first, double growth) {
  if (events == 0) return;
  // Per event j: RT += first + growth (j-1), then RC = (RT + RC)/2. The gap
  // d = RT - RC then follows d_j = (d_{j-1} + a_j)/2, whose sum is
  //   d_n = 2^-n d_0 + first (1 - 2^-n) + growth (n - 2 + 2^(1-n)).
  const uint64_t unclamped = EventsWithinRoom(line_rate_bps_ - target_bps_, first, growth, events);
  if (unclamped > 0) {
    const double n = static_cast<double>(unclamped);
    const double half_n = std::ldexp(1.0, -static_cast<int>(std::min<uint64_t>(unclamped, 4096)));
    const double gap = target_bps_ - rate_bps_;
    target_bps_ += n * first + growth * n * (n - 1) / 2;
    const double new_gap = half_n * gap + first * (1 - half_n) + growth * (n - 2 + 2 * half_n);
    rate_bps_ = target_bps_ - new_gap;
  }
  if (unclamped < events) {
    // The next event would take RT past the line rate: it stops there, and
    // from then on each event halves the gap to it.
    target_bps_ = line_rate_bps_;
    rate_bps_ = (target_bps_ + rate_bps_) / 2;
    const uint64_t rest = events - unclamped - 1;
    const double half_rest = std::ldexp(1.0, -static_cast<int>(std::min<uint64_t>(rest, 4096)));
    rate_bps_ = target_bps_ - (target_bps_ - rate_bps_) * half_rest;
  }
  // RC <= RT holds exactly; rounding must not break it. A gap under 1 bit/s
  // is closed, or halving would approach line rate forever.
  if (target_bps_ - rate_bps_ < 1) rate_bps_ = target_bps_;
  rate_bps_ = std::clamp(rate_bps_, min_rate_bps_, line_rate_bps_);
}

absl::StatusOr<std::unique_ptr<CongestionControl>> CreateDcqcnCc(const CcParams& params,
                                                                 const CcContext& context) {
  const auto error = [](auto&&... parts) {
    return absl::InvalidArgumentError(
        absl::StrCat("congestion-control algorithm \"dcqcn\": ", parts...));
  };
  if (context.line_rate.IsUnlimited()) {
    return error(
        "the line rate is unknown (CcContext.line_rate is 0); DCQCN paces between "
        "min_rate and the line rate and needs it");
  }
  DcqcnConfig c = PresetConfig(params.GetBool("firmware"));
  // A key the spec gave overrides the preset; the others keep the preset's value.
  if (params.WasGiven("g")) c.g = params.GetDouble("g");
  if (params.WasGiven("k")) c.alpha_timer = params.GetDuration("k");
  if (params.WasGiven("timer")) c.increase_timer = params.GetDuration("timer");
  if (params.WasGiven("byte_counter")) c.byte_counter = params.GetUint("byte_counter");
  if (params.WasGiven("f")) c.fast_recovery_steps = static_cast<uint32_t>(params.GetUint("f"));
  if (params.WasGiven("rai")) c.additive_increase = params.GetBandwidth("rai");
  if (params.WasGiven("rhai")) c.hyper_increase = params.GetBandwidth("rhai");
  if (params.WasGiven("min_rate")) c.min_rate = params.GetBandwidth("min_rate");
  if (params.WasGiven("initial_alpha")) c.initial_alpha = params.GetDouble("initial_alpha");
  c.initial_rate = params.GetBandwidth("initial_rate");

  const Bandwidth line = context.line_rate;
  if (c.min_rate > line) {
    return error("min_rate=", c.min_rate.bits_per_second() / 1e6, " Mb/s is above the line rate ",
                 line.gbps(), " Gb/s");
  }
  if (!c.initial_rate.IsUnlimited() && c.initial_rate > line) {
    return error("initial_rate=", c.initial_rate.gbps(), " Gb/s is above the line rate ",
                 line.gbps(), " Gb/s; give at most the line rate, or 0 for it");
  }
  if (!c.initial_rate.IsUnlimited() && c.initial_rate < c.min_rate) {
    return error("initial_rate=", c.initial_rate.gbps(),
                 " Gb/s is below min_rate=", c.min_rate.bits_per_second() / 1e6, " Mb/s");
  }
  // A cap that the rate, not the window, reaches first: window_rtts x the
  // line rate's BDP over the configured base RTT, at least four packets,
  // rounded up to whole packets.
  const double mtu = static_cast<double>(std::max<uint32_t>(context.mtu_bytes, 1));
  const double bdp = line.BytesIn(context.base_rtt) * params.GetDouble("window_rtts");
  const double window =
      std::min(std::max(std::ceil(bdp / mtu), 4.0) * mtu, static_cast<double>(kMaxWindowBytes));
  return std::make_unique<DcqcnCc>(c, line, static_cast<uint64_t>(window));
}

CcAlgorithmInfo DcqcnCcInfo() {
  return CcAlgorithmInfo{
      .name = DcqcnCc::kName,
      .description =
          "DCQCN reaction point (Zhu et al., SIGCOMM 2015): rate cut by alpha/2 on "
          "each CNP, recovery by timer and byte counter; paced, window only a cap",
      .params =
          {
              {.name = "firmware",
               .kind = CcParamKind::kBool,
               .default_value = "false",
               .description = "false: every key not given takes the paper's value (the "
                              "defaults shown); true: ConnectX firmware defaults instead",
               .min = std::nullopt,
               .max = std::nullopt},
              {.name = "g",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.00390625",
               .description = "alpha gain (Eq. 1, 2); paper 1/256, firmware 5/1024 "
                              "(DCE_TCP_G=1019)",
               .min = std::nullopt,
               .max = 1},
              {.name = "k",
               .kind = CcParamKind::kMicroseconds,
               .default_value = "55",
               .description = "alpha timer K in us: alpha decays once per K without a CNP; "
                              "paper 55, firmware 1 (DCE_TCP_RTT)",
               .min = 0.001,
               .max = kMaxTimerMicroseconds},
              {.name = "timer",
               .kind = CcParamKind::kMicroseconds,
               .default_value = "55",
               .description = "rate increase timer T in us; paper 55, firmware 300 "
                              "(RPG_TIME_RESET)",
               .min = 0.001,
               .max = kMaxTimerMicroseconds},
              {.name = "byte_counter",
               .kind = CcParamKind::kUnsigned,
               .default_value = "10000000",
               .description = "rate increase byte counter B in bytes sent, 0 = off; paper "
                              "10 MB, firmware 32767 (RPG_BYTE_RESET)",
               .min = 0,
               .max = kMaxByteCounter},
              {.name = "f",
               .kind = CcParamKind::kUnsigned,
               .default_value = "5",
               .description = "fast recovery steps F per counter; paper 5, firmware 1 "
                              "(RPG_THRESHOLD)",
               .min = 0,
               .max = kMaxFastRecoverySteps},
              {.name = "rai",
               .kind = CcParamKind::kMbps,
               .default_value = "40",
               .description = "additive increase R_AI in Mb/s, 0 = none; paper 40, firmware 5 "
                              "(RPG_AI_RATE)",
               .min = std::nullopt,
               .max = std::nullopt},
              {.name = "rhai",
               .kind = CcParamKind::kMbps,
               .default_value = "200",
               .description = "hyper increase step R_HAI in Mb/s, 0 = none; paper setup 200, "
                              "firmware 50 (RPG_HAI_RATE)",
               .min = std::nullopt,
               .max = std::nullopt},
              {.name = "min_rate",
               .kind = CcParamKind::kMbps,
               .default_value = "100",
               .description = "lowest rate in Mb/s, at most the line rate; paper setup 100, "
                              "firmware 1 (RPG_MIN_RATE)",
               .min = 0.001,
               .max = std::nullopt},
              {.name = "initial_alpha",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "1",
               .description = "alpha before the first CNP, in (0, 1]; paper 1, firmware "
                              "1023/1024 (INITIAL_ALPHA_VALUE)",
               .min = std::nullopt,
               .max = 1},
              {.name = "initial_rate",
               .kind = CcParamKind::kGbps,
               .default_value = "0",
               .description = "starting rate in Gb/s, 0 = line rate; below it the flow "
                              "recovers towards line rate from its first event",
               .min = std::nullopt,
               .max = std::nullopt},
              {.name = "window_rtts",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "4",
               .description = "window cap as a multiple of line rate x base RTT (at least 4 "
                              "packets); a safety cap, the rate does the limiting",
               .min = std::nullopt,
               .max = 1e6},
          },
      .factory = &CreateDcqcnCc,
  };
}

}  // namespace tern
