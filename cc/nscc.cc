#include "cc/nscc.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cc/congestion_control.h"
#include "cc/registry.h"
#include "transport/units.h"

namespace tern {
namespace {

constexpr uint32_t kU32Max = std::numeric_limits<uint32_t>::max();

// The reference network every NSCC constant is defined on (section 3.6.13.3):
// 100 Gb/s over a 12 us base RTT, a BDP of 150000 bytes.
constexpr double kReferenceBdpBytes = 150000;
constexpr double kReferenceRttNs = 12000;

// Periods are compared as u32 nanosecond differences, which wrap at 4.29 s;
// 10 ms keeps the longest (255 base RTTs) well inside that.
constexpr int64_t kMaxBaseRttNs = 10'000'000;
constexpr int64_t kMaxTargetNs = 1'000'000'000;

// The event clock's low 32 bits in ns: the width a NIC's timestamps have.
uint32_t NowNs(Time now) { return static_cast<uint32_t>(static_cast<uint64_t>(now.nanoseconds())); }

// Time since `since`, correct for gaps below 2^32 ns.
uint32_t Elapsed(uint32_t now_ns, uint32_t since_ns) { return now_ns - since_ns; }

uint16_t ToQ15(double v) {
  return static_cast<uint16_t>(std::clamp(std::lround(v * kNsccQ15One), 0L, 65535L));
}

double FromQ15(uint16_t q) { return q / kNsccQ15One; }

// Every refusal starts like the registry's own messages.
constexpr char kPrefix[] = "congestion-control algorithm \"nscc\": ";

}  // namespace

NsccCc::NsccCc(const NsccConfig& config)
    : cwnd_(config.init_window),
      max_window_(config.max_window),
      min_window_(std::max<uint32_t>(config.min_window, 1)),
      pi_bytes_(config.pi_bytes),
      fi_bytes_(config.fi_bytes),
      eta_bytes_(config.eta_bytes),
      adjust_bytes_(config.adjust_bytes),
      target_ns_(std::max<uint32_t>(config.target_qdelay_ns, 1)),
      fi_scale_(static_cast<float>(config.fi_scale)),
      max_window_per_ns_(static_cast<float>(config.max_window_per_ns)),
      base_rtt_ns_(std::max<uint32_t>(config.base_rtt_ns, 1)),
      gamma_q15_(ToQ15(config.gamma)),
      max_md_jump_q15_(ToQ15(config.max_md_jump)),
      delay_gain_q15_(ToQ15(config.delay_gain)),
      fast_delay_ns_(static_cast<uint16_t>(std::min<uint32_t>(config.fast_delay_ns, 65535))),
      qa_gate_(std::min<uint8_t>(config.qa_gate, 31)),
      qa_threshold_(config.qa_threshold),
      adjust_period_(std::max<uint8_t>(config.adjust_period, 1)) {
  max_window_ = std::max(max_window_, min_window_);
  SetWindow(cwnd_);
}

void NsccCc::Start(uint32_t now_ns) {
  last_adjust_ns_ = now_ns;
  Set(kStarted, true);
}

void NsccCc::OnSend(const SendEvent& event) {
  if (!Has(kStarted)) Start(NowNs(event.now));
}

PathAdvice NsccCc::OnAck(const AckEvent& event) {
  const uint32_t now = NowNs(event.now);
  if (!Has(kStarted)) Start(now);
  achieved_bytes_ = SaturatingAdd(achieved_bytes_, event.acked_bytes);
  received_bytes_ = SaturatingAdd(received_bytes_, event.acked_bytes);
  ignore_bytes_ = SaturatingSub(ignore_bytes_, event.acked_bytes);

  const bool marked = event.ce_packets > 0;
  uint32_t delay = 0;
  if (event.rtt > Duration::Zero()) {
    delay = TakeRttSample(event.rtt);
    UpdateAverageDelay(delay);
    last_delay_ns_ = delay;
  } else {
    // No timestamp echo: judge the ACK by the average delay, as htsim's NSCC
    // model does, rather than by a made-up zero.
    delay = static_cast<uint32_t>(avg_delay_ns_);
  }
  const bool below_target = delay < target_ns_;

  // The ECN, low-delay quadrant: the mark is fresh but the queue has not
  // built up yet, so the congestion is on this path rather than at the
  // destination. Move traffic off it (REPS) and leave the window alone.
  PathAdvice advice = PathAdvice::kKeep;
  if (marked && below_target) {
    advice = PathAdvice::kAvoid;
    ++path_changes_;
  }

  if (QuickAdapt(/*loss=*/false, marked, delay, event.bytes_in_flight, now)) return advice;

  const uint32_t acked = event.acked_bytes;
  if (!marked && !below_target) {
    // Fair increase (section 3.6.13): fi bytes per RTT whatever the window,
    // so small windows gain a larger fraction and competing flows converge.
    ++fi_acks_;
    inc_bytes_ += static_cast<double>(fi_bytes_) * acked;
  } else if (!marked) {
    // Proportional increase: up to pi_bytes per RTT at zero delay, falling
    // linearly to none at the target. Fast increase replaces it on a path
    // that has stayed empty for a whole window.
    ++pi_acks_;
    FastIncrease(acked, delay);
    if (!Has(kIncreaseMode)) {
      inc_bytes_ += static_cast<double>(pi_bytes_) * acked *
                    static_cast<double>(target_ns_ - delay) / static_cast<double>(target_ns_);
    }
  } else if (!below_target) {
    MultiplicativeDecrease(now);
  }

  const uint64_t adjust_period_ns = uint64_t{adjust_period_} * base_rtt_ns_;
  if (received_bytes_ > adjust_bytes_ || Elapsed(now, last_adjust_ns_) >= adjust_period_ns) {
    FulfillAdjustment(now);
  }
  return advice;
}

PathAdvice NsccCc::OnLoss(const LossEvent& event) {
  const uint32_t now = NowNs(event.now);
  if (!Has(kStarted)) Start(now);
  ignore_bytes_ = SaturatingSub(ignore_bytes_, event.lost_bytes);
  switch (event.cause) {
    case LossCause::kTrimmed:
      // A trimmed packet met a full queue: count one base RTT of queueing in
      // the average (htsim's model), arm QuickAdapt, and unless QuickAdapt
      // acts now, give back the trimmed bytes (section 3.6.13.5). A trim of a
      // packet sent before the last QuickAdapt is ignored like its marks.
      UpdateAverageDelay(base_rtt_ns_);
      Set(kTriggerQa, true);
      if (!QuickAdapt(/*loss=*/true, /*marked=*/true, 0, event.bytes_in_flight, now)) {
        Shrink(event.lost_bytes);
      }
      break;
    case LossCause::kTimeout:
      // The last resort: QuickAdapt to what got through (at once when its
      // period is over, else at its end), and give back the lost bytes now.
      Set(kTriggerQa, true);
      if (!QuickAdapt(/*loss=*/true, /*marked=*/false, 0, event.bytes_in_flight, now)) {
        Shrink(event.lost_bytes);
      }
      break;
    case LossCause::kDetected:
      // NSCC's inferred loss: give back the lost bytes.
      Shrink(event.lost_bytes);
      break;
  }
  return PathAdvice::kKeep;
}

uint32_t NsccCc::TakeRttSample(Duration rtt) {
  const uint32_t rtt_ns =
      static_cast<uint32_t>(std::clamp<int64_t>(rtt.nanoseconds(), 1, int64_t{kU32Max}));
  if (rtt_ns < base_rtt_ns_) {
    // A shorter path than the configured base RTT: the base RTT is the
    // minimum seen, and MaxWnd follows the BDP it implies (section 3.6.13.3).
    base_rtt_ns_ = rtt_ns;
    if (max_window_per_ns_ > 0) {
      const double max = static_cast<double>(max_window_per_ns_) * rtt_ns;
      max_window_ = std::max(min_window_, static_cast<uint32_t>(std::min<double>(max, kU32Max)));
      SetWindow(cwnd_);
    }
  }
  return rtt_ns - base_rtt_ns_;
}

void NsccCc::UpdateAverageDelay(uint32_t delay_ns) {
  // get_avg_delay of section 3.6.13.6 as an EWMA per sample (htsim's model).
  const float gain = static_cast<float>(FromQ15(delay_gain_q15_));
  avg_delay_ns_ += gain * (static_cast<float>(delay_ns) - avg_delay_ns_);
}

bool NsccCc::QuickAdapt(bool loss, bool marked, uint32_t delay_ns, uint64_t in_flight,
                        uint32_t now_ns) {
  bool handled = false;
  const uint64_t period_ns = uint64_t{base_rtt_ns_} + target_ns_;
  if (ignore_bytes_ > 0 && marked) {
    // Feedback on bytes already in flight when QuickAdapt last set the window
    // describes the queue that window was sized for.
    handled = true;
  } else if (!Has(kQaStarted)) {
    // The first feedback starts the first period.
    Set(kQaStarted, true);
    achieved_bytes_ = 0;
    qa_start_ns_ = now_ns;
  } else if (Elapsed(now_ns, qa_start_ns_) >= period_ns) {
    const bool large_delay = qa_threshold_ > 0 && delay_ns > uint64_t{qa_threshold_} * target_ns_;
    if ((Has(kTriggerQa) || loss || large_delay) && achieved_bytes_ < (max_window_ >> qa_gate_)) {
      // Far less than the window got through in the last period: that is
      // what the network can take now.
      cwnd_ = std::max(achieved_bytes_, min_window_);
      ignore_bytes_ = static_cast<uint32_t>(std::min<uint64_t>(in_flight, kU32Max));
      Set(kTriggerQa, false);
      ++quick_adapts_;
      handled = true;
    }
    achieved_bytes_ = 0;
    qa_start_ns_ = now_ns;
  }
  if (handled) {
    inc_bytes_ = 0;
    received_bytes_ = 0;
  }
  return handled;
}

void NsccCc::FastIncrease(uint32_t acked_bytes, uint32_t delay_ns) {
  // Section 3.6.13.6: after a whole window acknowledged at (near) zero delay,
  // grow by fi_scale per byte acknowledged until the delay reappears.
  if (delay_ns < fast_delay_ns_) {
    fast_count_ = SaturatingAdd(fast_count_, acked_bytes);
    if (fast_count_ > cwnd_ || Has(kIncreaseMode)) {
      SetWindow(uint64_t{cwnd_} +
                static_cast<uint64_t>(static_cast<double>(acked_bytes) * fi_scale_));
      Set(kIncreaseMode, true);
      return;
    }
  } else {
    fast_count_ = 0;
  }
  Set(kIncreaseMode, false);
}

void NsccCc::MultiplicativeDecrease(uint32_t now_ns) {
  Set(kIncreaseMode, false);
  fast_count_ = 0;
  const double avg = avg_delay_ns_;
  const bool rtt_passed = !Has(kDecreased) || Elapsed(now_ns, last_decrease_ns_) > base_rtt_ns_;
  if (avg > target_ns_ && rtt_passed) {
    // Proportional to the average delay's excess over the target, at most
    // once per base RTT: the next RTT's delays do not show this cut yet.
    const double factor =
        std::max(1 - FromQ15(gamma_q15_) * (avg - target_ns_) / avg, FromQ15(max_md_jump_q15_));
    SetWindow(static_cast<uint64_t>(cwnd_ * factor));
    last_decrease_ns_ = now_ns;
    Set(kDecreased, true);
    ++decreases_;
  }
}

void NsccCc::FulfillAdjustment(uint32_t now_ns) {
  uint64_t window = uint64_t{cwnd_} + static_cast<uint64_t>(inc_bytes_ / cwnd_);
  if (Elapsed(now_ns, last_adjust_ns_) >= uint64_t{adjust_period_} * base_rtt_ns_) {
    window += eta_bytes_;
    last_adjust_ns_ = now_ns;
  }
  SetWindow(window);
  inc_bytes_ = 0;
  received_bytes_ = 0;
}

void NsccCc::Shrink(uint32_t bytes) { SetWindow(SaturatingSub(cwnd_, bytes)); }

void NsccCc::SetWindow(uint64_t bytes) {
  cwnd_ = static_cast<uint32_t>(std::clamp<uint64_t>(bytes, min_window_, max_window_));
}

int NsccCc::DebugVariables(std::span<CcVariable, kMaxCcVariables> out) const {
  int n = 0;
  out[n++] = {"window", static_cast<double>(cwnd_)};
  out[n++] = {"rate_gbps", 0.0};
  out[n++] = {"target_delay_us", target_ns_ / 1e3};
  out[n++] = {"last_delay_us", last_delay_ns_ / 1e3};
  out[n++] = {"avg_delay_us", avg_delay_ns_ / 1e3};
  out[n++] = {"base_rtt_us", base_rtt_ns_ / 1e3};
  out[n++] = {"max_window", static_cast<double>(max_window_)};
  out[n++] = {"acked_this_rtt", static_cast<double>(achieved_bytes_)};
  out[n++] = {"fast_increase", Has(kIncreaseMode) ? 1.0 : 0.0};
  out[n++] = {"pi", static_cast<double>(pi_acks_)};
  out[n++] = {"fi", static_cast<double>(fi_acks_)};
  out[n++] = {"md", static_cast<double>(decreases_)};
  out[n++] = {"path_changes", static_cast<double>(path_changes_)};
  out[n++] = {"quick_adapts", static_cast<double>(quick_adapts_)};
  return n;
}

absl::StatusOr<std::unique_ptr<CongestionControl>> CreateNsccCc(const CcParams& params,
                                                                const CcContext& context) {
  const int64_t base_rtt_ns = context.base_rtt.nanoseconds();
  if (base_rtt_ns <= 0 || base_rtt_ns > kMaxBaseRttNs) {
    return absl::InvalidArgumentError(
        absl::StrCat(kPrefix, "CcContext.base_rtt is ", context.base_rtt.ToString(),
                     "; NSCC measures queueing delay and its periods from the base RTT, which "
                     "must be in [1ns, 10ms]"));
  }
  if (context.line_rate.IsUnlimited()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kPrefix,
                     "CcContext.line_rate is unknown (0); NSCC scales its window "
                     "and gains from the BDP line_rate x base_rtt"));
  }
  const double mtu = context.mtu_bytes;
  const double bdp_bytes = context.line_rate.BytesIn(context.base_rtt);

  NsccConfig c;
  c.base_rtt_ns = static_cast<uint32_t>(base_rtt_ns);
  // Target queueing delay: given, or a fraction of the base RTT (section
  // 3.6.13.3: 1 base RTT without trimming, 0.75 where switches trim).
  const Duration target_given = params.GetDuration("target_qdelay");
  const double target_ns = target_given.IsZero()
                               ? params.GetDouble("target_qdelay_rtts") * base_rtt_ns
                               : static_cast<double>(target_given.picoseconds()) / 1e3;
  if (target_ns < 1 || target_ns > kMaxTargetNs) {
    return absl::InvalidArgumentError(absl::StrCat(kPrefix, "target queueing delay of ", target_ns,
                                                   " ns is outside [1ns, 1s]; adjust ",
                                                   "target_qdelay or target_qdelay_rtts"));
  }
  c.target_qdelay_ns = static_cast<uint32_t>(std::llround(target_ns));

  // Windows. MaxWnd = max_bdps x BDP (Table 3-82: 1.5) unless given.
  const uint64_t min_given = params.GetUint("min_window");
  const uint64_t max_given = params.GetUint("max_window");
  const uint64_t min_window = std::max<uint64_t>(min_given, context.mtu_bytes);
  if (min_window > kU32Max) {
    return absl::InvalidArgumentError(
        absl::StrCat(kPrefix, "min_window of ", min_window, " bytes exceeds 2^32-1"));
  }
  uint64_t max_window = 0;
  if (max_given != 0) {
    if (max_given < min_window) {
      return absl::InvalidArgumentError(
          absl::StrCat(kPrefix, "max_window=", max_given, " is below the minimum window of ",
                       min_window, " bytes (min_window=", min_given, ", at least one MTU of ",
                       context.mtu_bytes, "); raise max_window or lower min_window"));
    }
    max_window = max_given;
  } else {
    const double derived = params.GetDouble("max_bdps") * bdp_bytes;
    if (derived > kU32Max) {
      return absl::InvalidArgumentError(absl::StrCat(kPrefix, "max_bdps x BDP = ", derived,
                                                     " bytes exceeds the 32-bit window (2^32-1); ",
                                                     "lower max_bdps or give max_window"));
    }
    max_window = std::max(static_cast<uint64_t>(derived), min_window);
    c.max_window_per_ns =
        params.GetDouble("max_bdps") * context.line_rate.BytesIn(Duration::Nanoseconds(1));
  }
  c.min_window = static_cast<uint32_t>(min_window);
  c.max_window = static_cast<uint32_t>(max_window);
  // The spec opens the window at MaxWnd (Table 3-83).
  const uint64_t init_given = params.GetUint("init_window");
  c.init_window = static_cast<uint32_t>(
      init_given == 0 ? max_window : std::clamp(init_given, min_window, max_window));

  // Gains at the reference scale (section 3.6.13.3).
  const double scaling_a = bdp_bytes / kReferenceBdpBytes;
  const double scaling_b = target_ns / kReferenceRttNs;
  const auto bytes = [](double v) {
    return static_cast<uint32_t>(std::min<double>(std::llround(v), kU32Max));
  };
  c.pi_bytes = bytes(params.GetDouble("alpha") * mtu * scaling_a * scaling_b);
  c.fi_bytes = bytes(params.GetDouble("fi") * mtu * scaling_a);
  c.eta_bytes = bytes(params.GetDouble("eta") * mtu * scaling_a);
  c.fi_scale = params.GetDouble("fi_scale") * scaling_a;
  c.fast_delay_ns = static_cast<uint32_t>(params.GetDuration("fast_delay").nanoseconds());
  c.gamma = params.GetDouble("gamma");
  c.max_md_jump = params.GetDouble("max_md_jump");
  c.delay_gain = params.GetDouble("delay_gain");
  c.qa_gate = static_cast<uint8_t>(params.GetUint("qa_gate"));
  c.qa_threshold = static_cast<uint8_t>(params.GetUint("qa_threshold"));
  c.adjust_period = static_cast<uint8_t>(params.GetUint("adjust_period"));
  c.adjust_bytes = static_cast<uint32_t>(
      std::min<uint64_t>(params.GetUint("adjust_bytes") * context.mtu_bytes, kU32Max));
  return std::make_unique<NsccCc>(c);
}

CcAlgorithmInfo NsccCcInfo() {
  constexpr double kU32 = 4294967295.0;
  return CcAlgorithmInfo{
      .name = NsccCc::kName,
      .description =
          "UEC NSCC / SMaRTT: byte window on ECN x delay quadrants, QuickAdapt, "
          "trim reaction, path avoidance on ECN at low delay",
      .params =
          {
              {.name = "target_qdelay",
               .kind = CcParamKind::kMicroseconds,
               .default_value = "0",
               .description = "target queueing delay (RTT minus base RTT) in us; 0 = "
                              "target_qdelay_rtts x base_rtt",
               .min = std::nullopt,
               .max = 4000},
              {.name = "target_qdelay_rtts",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "1",
               .description = "target queueing delay in base RTTs when target_qdelay=0 (UEC: 1 "
                              "without trimming, 0.75 with)",
               .min = std::nullopt,
               .max = 100},
              {.name = "max_window",
               .kind = CcParamKind::kUnsigned,
               .default_value = "0",
               .description = "MaxWnd in bytes; 0 = max_bdps x line_rate x base_rtt, following "
                              "the measured base RTT",
               .min = 0,
               .max = kU32},
              {.name = "max_bdps",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "1.5",
               .description = "MaxWnd in BDPs when max_window=0 (UEC Table 3-82)",
               .min = std::nullopt,
               .max = 1000},
              {.name = "init_window",
               .kind = CcParamKind::kUnsigned,
               .default_value = "0",
               .description = "initial window in bytes; 0 = MaxWnd (UEC Table 3-83); clamped "
                              "to [min_window, MaxWnd]",
               .min = 0,
               .max = kU32},
              {.name = "min_window",
               .kind = CcParamKind::kUnsigned,
               .default_value = "0",
               .description = "smallest window in bytes; 0 or less than one MTU = one MTU",
               .min = 0,
               .max = kU32},
              {.name = "alpha",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "4",
               .description = "proportional increase per RTT at zero delay, in MTUs x scaling_a "
                              "x scaling_b (UEC 3.6.13.3)",
               .min = std::nullopt,
               .max = 1000},
              {.name = "fi",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "5",
               .description = "fair increase per RTT at or above the target delay, in MTUs x "
                              "scaling_a (UEC Table 3-82)",
               .min = std::nullopt,
               .max = 1000},
              {.name = "eta",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.15",
               .description = "additive increase once per adjust_period, in MTUs x scaling_a "
                              "(UEC Table 3-82)",
               .min = std::nullopt,
               .max = 1000},
              {.name = "fi_scale",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.25",
               .description = "fast increase: window bytes per byte acked, x scaling_a (UEC "
                              "Table 3-82)",
               .min = std::nullopt,
               .max = 1000},
              {.name = "fast_delay",
               .kind = CcParamKind::kMicroseconds,
               .default_value = "1",
               .description = "queueing delay in us below which an ACK counts as zero delay "
                              "for fast increase (htsim); 0 = no fast increase",
               .min = std::nullopt,
               .max = 65.535},
              {.name = "gamma",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.8",
               .description = "multiplicative decrease gain on (avg_delay - target) / avg_delay "
                              "(UEC Table 3-82)",
               .min = std::nullopt,
               .max = 1},
              {.name = "max_md_jump",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.5",
               .description = "smallest factor one multiplicative decrease applies (UEC Table "
                              "3-82)",
               .min = std::nullopt,
               .max = 1},
              {.name = "qa_gate",
               .kind = CcParamKind::kUnsigned,
               .default_value = "3",
               .description = "QuickAdapt only when the bytes acked in its period are below "
                              "MaxWnd / 2^qa_gate (UEC Table 3-82)",
               .min = 0,
               .max = 31},
              {.name = "qa_threshold",
               .kind = CcParamKind::kUnsigned,
               .default_value = "4",
               .description = "queueing delay, in target delays, above which QuickAdapt fires "
                              "without a trim; 0 = only trims and timeouts (UEC with trimming)",
               .min = 0,
               .max = 255},
              {.name = "adjust_bytes",
               .kind = CcParamKind::kUnsigned,
               .default_value = "8",
               .description = "apply the accumulated increase once more than this many MTUs "
                              "were acked (UEC Table 3-82)",
               .min = 0,
               .max = 65535},
              {.name = "adjust_period",
               .kind = CcParamKind::kUnsigned,
               .default_value = "1",
               .description = "apply the accumulated increase and add eta at least every this "
                              "many base RTTs (UEC Table 3-82)",
               .min = 1,
               .max = 255},
              {.name = "delay_gain",
               .kind = CcParamKind::kPositiveDouble,
               .default_value = "0.0125",
               .description = "EWMA gain per RTT sample of the average queueing delay that "
                              "multiplicative decrease uses (htsim)",
               .min = std::nullopt,
               .max = 1},
          },
      .factory = &CreateNsccCc,
  };
}

}  // namespace tern
