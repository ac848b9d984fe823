// The `nscc` algorithm: the Ultra Ethernet Transport's network-signal-based
// sender congestion control (UEC 1.0 specification, section 3.6.13 "NSCC"),
// published as SMaRTT (Bonato et al., "SMaRTT-REPS: Sender-based Marked
// Rapidly-adapting Trimmed & Timed Transport with Recycled Entropies",
// arXiv 2404.01630, 2024). Sub-section and table numbers are UEC 1.0.3's as a
// public ns-3 model of NSCC cites them; defaults agree with the UEC htsim model.
//
// A byte window driven by two signals per ACK, the ECN mark and the queueing
// delay (RTT sample minus base RTT) against a target, in four quadrants:
//
//                   delay < target            delay >= target
//   no ECN mark     proportional increase     fair increase
//   ECN mark        keep window, avoid path   multiplicative decrease
//
// Increases accumulate and are applied in batches ("fulfill adjustment"),
// every adjust_bytes acknowledged or adjust_period elapsed; eta is added once
// per period. QuickAdapt sets the window to the bytes acknowledged over the
// last base RTT + target when a trim, timeout or very large delay happened and
// far less than the window got through. A trim shrinks the window by the
// trimmed bytes; a path with a fresh mark at a low delay gets kAvoid, the cue
// for REPS to move traffic off it before the window shrinks.
//
// Spec: nscc[:key=value,...], every key in NsccCcInfo(). The defaults derive
// every constant from CcContext (line rate, base RTT, MTU) with the scaling of
// section 3.6.13.3: scaling_a = BDP / 150000 B (100 Gb/s x 12 us), scaling_b =
// target_qdelay / 12 us.
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

// The constants of one NSCC connection, resolved from the parameters and the
// context by CreateNsccCc. Byte figures are whole bytes (a NIC keeps them in
// 32 bits); gains are doubles here and are quantized by the constructor.
struct NsccConfig {
  uint32_t min_window = 0;   // bytes, >= the MTU
  uint32_t max_window = 0;   // MaxWnd, bytes, >= min_window
  uint32_t init_window = 0;  // bytes, in [min_window, max_window]
  // MaxWnd per nanosecond of base RTT (max_bdps x line rate in bytes/ns), to
  // resize MaxWnd when a lower base RTT is measured; 0 keeps MaxWnd fixed (it
  // was given in bytes).
  double max_window_per_ns = 0;
  uint32_t base_rtt_ns = 0;       // the context's base RTT
  uint32_t target_qdelay_ns = 0;  // queueing delay the quadrants compare against, > 0
  // Per-RTT increases at the reference scale, in bytes (section 3.6.13.3).
  uint32_t pi_bytes = 0;       // alpha x MTU x scaling_a x scaling_b: PI per RTT at zero delay
  uint32_t fi_bytes = 0;       // fi x MTU x scaling_a: fair increase per RTT
  uint32_t eta_bytes = 0;      // eta x MTU x scaling_a: added once per adjust period
  double fi_scale = 0;         // fast increase: window bytes per byte acked (fi_scale x scaling_a)
  uint32_t fast_delay_ns = 0;  // delay below which an ACK counts as "zero delay"; 0 = off
  double gamma = 0.8;          // MD gain on the relative delay excess
  double max_md_jump = 0.5;    // smallest factor one MD multiplies the window by
  double delay_gain = 0.0125;  // EWMA gain of the average queueing delay, per sample
  uint8_t qa_gate = 3;         // QuickAdapt only if acked < MaxWnd >> qa_gate
  uint8_t qa_threshold = 4;    // in target delays; a larger delay triggers QuickAdapt; 0 = off
  uint8_t adjust_period = 1;   // in base RTTs, >= 1
  uint32_t adjust_bytes = 0;   // fulfill once more than this was acknowledged
};

class NsccCc final : public CongestionControl {
 public:
  static constexpr std::string_view kName = "nscc";

  // `config` must be resolved (CreateNsccCc checks it): windows ordered and
  // nonzero, target_qdelay_ns and base_rtt_ns > 0, adjust_period >= 1.
  explicit NsccCc(const NsccConfig& config);

  // The four quadrants, QuickAdapt, fast increase and the batched increase.
  // Returns kAvoid exactly when the ACK is ECN-marked and its delay is below
  // the target (the ECN, low-delay quadrant): a path change, not a slowdown.
  PathAdvice OnAck(const AckEvent& event) override;
  // kTrimmed: QuickAdapt or shrink by the trimmed bytes. kTimeout: the same,
  // QuickAdapt armed. kDetected: shrink by the lost bytes. Always kKeep: the
  // transport avoids the entropy of trims and losses by itself.
  PathAdvice OnLoss(const LossEvent& event) override;
  // Starts the clocks on the first packet, so the first adjust period is
  // measured from the first send.
  void OnSend(const SendEvent& event) override;

  uint64_t window_bytes() const override { return cwnd_; }
  // Unpaced: the window never drops below min_window, which is at least one
  // MTU, so a sub-packet window never needs expressing as a rate.
  Bandwidth pacing_rate() const override { return Bandwidth::Unlimited(); }
  std::string_view name() const override { return kName; }

  // window, rate_gbps (always 0: unpaced), target_delay_us, last_delay_us,
  // avg_delay_us, base_rtt_us, max_window, acked_this_rtt, fast_increase,
  // pi, fi, md, path_changes, quick_adapts.
  int DebugVariables(std::span<CcVariable, kMaxCcVariables> out) const override;

 private:
  enum Flag : uint8_t {
    kStarted = 1 << 0,       // clocks running (first event seen)
    kQaStarted = 1 << 1,     // a QuickAdapt period is running
    kTriggerQa = 1 << 2,     // a trim or timeout armed QuickAdapt
    kIncreaseMode = 1 << 3,  // fast increase engaged
    kDecreased = 1 << 4,     // last_decrease_ns_ holds a decrease time
  };

  bool Has(Flag f) const { return (flags_ & f) != 0; }
  void Set(Flag f, bool on) { flags_ = on ? (flags_ | f) : (flags_ & ~f); }
  void Start(uint32_t now_ns);
  // Folds one RTT sample into the base RTT (its minimum) and returns the
  // queueing delay in ns.
  uint32_t TakeRttSample(Duration rtt);
  void UpdateAverageDelay(uint32_t delay_ns);
  // QuickAdapt (section 3.6.13): true when it set the window or when the feedback is a
  // mark on bytes sent before the last QuickAdapt; the caller then skips the
  // window update.
  bool QuickAdapt(bool loss, bool marked, uint32_t delay_ns, uint64_t in_flight, uint32_t now_ns);
  void FastIncrease(uint32_t acked_bytes, uint32_t delay_ns);
  void MultiplicativeDecrease(uint32_t now_ns);
  void FulfillAdjustment(uint32_t now_ns);
  void Shrink(uint32_t bytes);
  void SetWindow(uint64_t bytes);  // clamps to [min_window_, max_window_]

  // Increase owed, in bytes x window bytes, applied as inc / cwnd. A NIC would
  // keep it as a u64 with 8 fraction bits. First, for alignment.
  double inc_bytes_ = 0;

  // Window state (bytes; 32 bits as in a NIC).
  uint32_t cwnd_;
  uint32_t max_window_;
  uint32_t min_window_;
  uint32_t achieved_bytes_ = 0;  // acknowledged in the current QuickAdapt period
  uint32_t received_bytes_ = 0;  // acknowledged since the last fulfill
  uint32_t fast_count_ = 0;      // consecutive bytes acknowledged at "zero" delay
  uint32_t ignore_bytes_ = 0;    // marks of this many bytes predate the last QuickAdapt

  // Constants (bytes, ns).
  uint32_t pi_bytes_;
  uint32_t fi_bytes_;
  uint32_t eta_bytes_;
  uint32_t adjust_bytes_;
  uint32_t target_ns_;
  // Window bytes per byte acked in fast increase. A NIC would use Q8.8.
  float fi_scale_;
  // MaxWnd per ns of base RTT; 0 = fixed. A NIC would use Q16.16 bytes/ns.
  float max_window_per_ns_;

  // Delay state, ns. Times are the low 32 bits of the event clock in ns; only
  // differences are taken (wrapping every 4.29 s: an idle gap of a multiple of
  // that at worst delays the next period by one period).
  uint32_t base_rtt_ns_;
  uint32_t last_delay_ns_ = 0;
  float avg_delay_ns_ = 0;  // a NIC would keep ns in Q24.8
  uint32_t last_adjust_ns_ = 0;
  uint32_t last_decrease_ns_ = 0;
  uint32_t qa_start_ns_ = 0;

  // Counters for timelines.
  uint32_t pi_acks_ = 0;       // ACKs in the proportional-increase quadrant
  uint32_t fi_acks_ = 0;       // ACKs in the fair-increase quadrant
  uint32_t decreases_ = 0;     // multiplicative decreases applied
  uint32_t path_changes_ = 0;  // kAvoid returned (ECN, low-delay quadrant)
  uint32_t quick_adapts_ = 0;  // QuickAdapts that set the window

  // Gains in Q1.15 (value x 32768), as a NIC would hold them.
  uint16_t gamma_q15_;
  uint16_t max_md_jump_q15_;
  uint16_t delay_gain_q15_;
  uint16_t fast_delay_ns_;  // <= 65535 ns
  uint8_t qa_gate_;
  uint8_t qa_threshold_;   // in target delays
  uint8_t adjust_period_;  // in base RTTs
  uint8_t flags_ = 0;
};

// Per-connection state on LP64: 8 bytes of vtable pointer, the u32 window and
// counter fields, one double, two floats and the Q1.15 gains: 128 bytes, two
// cache lines. NsccCcTest.StateIs128BytesOnLp64 prints it.
static_assert(sizeof(NsccCc) <= 128, "NsccCc state must fit in 128 bytes");

// Gains and fractions are held in Q1.15: value x 32768, rounded.
inline constexpr double kNsccQ15One = 32768.0;

// Builds an NsccCc from checked parameters and the context. Refuses a context
// without a line rate or base RTT to derive from (unless the values that need
// them are given) and min_window above an explicit max_window.
absl::StatusOr<std::unique_ptr<CongestionControl>> CreateNsccCc(const CcParams& params,
                                                                const CcContext& context);

// The registry entry: name, description, parameters and CreateNsccCc.
CcAlgorithmInfo NsccCcInfo();

}  // namespace tern
