// DCQCN, the reaction point (sender) side: Zhu et al., "Congestion Control for
// Large-Scale RDMA Deployments", SIGCOMM 2015, Section 3.1. The notification
// point is in the transport: a receiver that saw CE marks sends at most one
// CNP per interval, and it reaches us as AckEvent::cnp.
//
// DCQCN is rate-based. It keeps a current rate RC (what we pace at), a target
// rate RT and a congestion estimate alpha:
//   - on a CNP (Eq. 1):   RT = RC, RC = RC x (1 - alpha/2), alpha = (1-g) alpha + g;
//   - every K without a CNP (Eq. 2): alpha = (1-g) alpha;
//   - rate increase events, from a timer (every T) and a byte counter (every B
//     bytes sent), each bumping its own stage counter; the stage pair selects
//       fast recovery    max(T, BC) <= F:  RC = (RT + RC)/2          (Eq. 3)
//       additive incr.   otherwise:        RT += R_AI, then Eq. 3     (Eq. 4)
//       hyper increase   min(T, BC) > F:   RT += i x R_HAI, then Eq. 3,
//                                          i = min(T, BC) - F.
// A CNP resets both stages, the byte counter and both timers.
//
// There is no timer callback: the timers are advanced on the `now` of
// whichever event comes next (every packet sent is one). A long idle gap is
// caught up in closed form, segment by segment, so it costs a handful of
// steps rather than one per elapsed period; the result is the paper's, not an
// approximation of it.
//
// Spec: dcqcn[:firmware=BOOL][,g=..][,k=US][,timer=US][,byte_counter=BYTES][,f=N]
//             [,rai=MBPS][,rhai=MBPS][,min_rate=MBPS][,initial_alpha=..]
//             [,initial_rate=GBPS][,window_rtts=..]
// `firmware=true` switches every key the spec does not set from the paper's
// values to NVIDIA/Mellanox ConnectX firmware defaults; a key the spec sets
// always wins. Both presets are listed in DcqcnCcInfo() and PresetConfig().
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

// The tunables, resolved from a spec and a preset. Rates are Bandwidth (bit/s).
struct DcqcnConfig {
  double g = 1.0 / 256;              // alpha gain, (0, 1]
  Duration alpha_timer;              // K: alpha decays once per K without a CNP
  Duration increase_timer;           // T: one rate increase event per T
  uint64_t byte_counter = 0;         // B: one rate increase event per B bytes; 0 = off
  uint32_t fast_recovery_steps = 5;  // F
  Bandwidth additive_increase;       // R_AI; 0 = none
  Bandwidth hyper_increase;          // R_HAI; 0 = none
  Bandwidth min_rate;                // RC never drops below this; > 0
  double initial_alpha = 1.0;        // alpha used by the first CNP, (0, 1]
  Bandwidth initial_rate;            // RC at start; 0 = line rate
};

class DcqcnCc final : public CongestionControl {
 public:
  static constexpr std::string_view kName = "dcqcn";

  // `config` must have been checked by CreateDcqcnCc (positive timers,
  // min_rate <= initial rate <= line_rate, line_rate > 0). `window_bytes` is
  // returned by window_bytes() as is (raised to 1 if 0).
  DcqcnCc(const DcqcnConfig& config, Bandwidth line_rate, uint64_t window_bytes);

  // A CNP flag is one CNP; CE counts are ignored (DCQCN reacts to CNPs only).
  PathAdvice OnAck(const AckEvent& event) override;
  // Losses, trims and timeouts do not change the rate (see the .cc); the call
  // only advances the timers.
  PathAdvice OnLoss(const LossEvent& event) override;
  // Counts the bytes for the byte counter and advances the timers.
  void OnSend(const SendEvent& event) override;

  // A fixed cap that does not bind in practice: the rate does the limiting.
  uint64_t window_bytes() const override { return window_bytes_; }
  // RC, as of the last event (the timers advance only on events).
  Bandwidth pacing_rate() const override;
  std::string_view name() const override { return kName; }

  // window, rate_gbps (RC), target_gbps (RT), alpha, timer_stage,
  // byte_stage, cnps; as of the last event.
  int DebugVariables(std::span<CcVariable, kMaxCcVariables> out) const override;

 private:
  // Catches both timers up with `now`: alpha decay (Eq. 2) and timer-driven
  // rate increase events.
  void AdvanceTimers(Time now);
  // Eq. 1, and resets the increase state.
  void OnCnp(Time now);
  // Applies `events` rate increase events all driven by one counter (the
  // timer's or the byte counter's); the other stage stays fixed meanwhile.
  void ApplyIncreaseEvents(uint64_t events, bool by_timer);
  // Applies `events` events whose target increments form an arithmetic
  // sequence first_step, first_step + step_growth, ..., with RT capped at the
  // line rate and RC = (RT + RC)/2 after each, in closed form.
  void ApplyIncreaseRun(uint64_t events, double first_step, double step_growth);

  // Floating point where a NIC would use fixed point; the comment says which.
  double rate_bps_;         // RC. NIC: u32 in Mb/s (firmware rates are Mb/s).
  double target_bps_;       // RT. NIC: u32 in Mb/s.
  double alpha_;            // NIC: Q0.10, as the firmware's 1/1024 units.
  Time alpha_deadline_;     // next alpha decay; Infinite() before the first CNP
  Time increase_deadline_;  // next timer increase event; Infinite() when unarmed
  double g_;                // NIC: Q0.10 (dce_tcp_g is in 1/1024).
  double additive_bps_;     // R_AI
  double hyper_bps_;        // R_HAI
  double min_rate_bps_;
  double line_rate_bps_;  // RT and RC never exceed it
  uint64_t window_bytes_;
  uint32_t alpha_timer_ns_;       // K; NIC timers tick in microseconds, ns is finer
  uint32_t increase_timer_ns_;    // T
  uint32_t byte_counter_;         // B; 0 = off
  uint32_t bytes_counted_ = 0;    // bytes sent since the last byte-counter event
  uint32_t timer_stage_ = 0;      // T in the paper: timer events since the last CNP
  uint32_t byte_stage_ = 0;       // BC: byte-counter events since the last CNP
  uint32_t cnps_ = 0;             // CNPs handled, for DebugVariables
  uint16_t fast_recovery_steps_;  // F
  // True until the first event when the flow starts below line rate: the
  // increase timer is armed then, since only events carry the time.
  bool arm_on_first_event_;
};

// Per-connection state is bounded and fixed: 128 bytes on LP64 (vtable pointer,
// the state above and a per-connection copy of the tunables), two cache lines
// at most. The test prints and checks the number.
static_assert(sizeof(DcqcnCc) <= 128, "DcqcnCc state must fit in 128 bytes");

// Builds a DcqcnCc from checked parameters, filling every key the spec did not
// give from the preset `firmware` selects. Refuses a context with no line rate,
// and min_rate or initial_rate above the line rate.
absl::StatusOr<std::unique_ptr<CongestionControl>> CreateDcqcnCc(const CcParams& params,
                                                                 const CcContext& context);

// The registry entry: name, description, parameters and CreateDcqcnCc.
CcAlgorithmInfo DcqcnCcInfo();

}  // namespace tern
