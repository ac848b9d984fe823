// The simulated NIC of one host: it moves frames and virtual time through a
// tern::Context, as the DPDK worker loop does on real hardware.
//
// Transmit: the NIC sends one frame at a time. When idle it asks the context for
// one packet; the frame then occupies the NIC for its serialization time at the
// line rate, goes to the egress sink and the NIC asks again. When the context
// has nothing to send the NIC sleeps until Context::NextWakeup().
// Receive: Deliver() hands the frame to the context at once, then kicks the
// transmitter, since a frame may make something ready to send (an ACK).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "dataplane/sim/link.h"
#include "dataplane/sim/simulator.h"
#include "transport/units.h"
#include "transport/verbs.h"

namespace tern::sim {

struct SimHostCounters {
  uint64_t frames_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t frames_received = 0;
  uint64_t bytes_received = 0;
  uint64_t wakeups = 0;  // timer wake-ups that ran
  // Wake-ups pushed forward by kWakeupGuard because the context said it was
  // ready (NextWakeup() <= now) yet sent nothing: a context bug, or a pacing
  // edge, that would otherwise spin virtual time in place.
  uint64_t guard_wakeups = 0;
};

class SimHost {
 public:
  // How far a wake-up is pushed when the context is due but sends nothing.
  static constexpr Duration kWakeupGuard = Duration::Nanoseconds(1);

  // `ctx` and `sim` must outlive the host. `egress` receives every frame the
  // NIC finishes serializing (usually the wire's port).
  SimHost(Simulator& sim, Context& ctx, Bandwidth line_rate, FrameSink egress);
  // Cancels the host's pending events.
  ~SimHost();
  SimHost(const SimHost&) = delete;
  SimHost& operator=(const SimHost&) = delete;

  // Ingress: one frame arrives from the wire now.
  void Deliver(std::span<const uint8_t> frame);
  // The same for a Frame, whose tail (if any) is copied in first.
  void Deliver(const Frame& frame);
  // DATA frames whose payload lies wholly inside `memory` leave with that
  // payload as their tail (Frame::tail) instead of a copy. The caller promises
  // that those bytes stay allocated and unchanged while any frame sent after
  // this call may still be queued, in flight or delivered: true of a source
  // buffer written once before a run and freed after the fabric. An empty span
  // turns it off (the default).
  void SetStablePayload(std::span<const uint8_t> memory) { stable_payload_ = memory; }
  // Tells the NIC there may be work: call after the application posts a work
  // request. Cheap when the NIC is busy; never sends more than one frame at once.
  void Kick();

  // Called after the context handled a received frame or a timer wake-up,
  // the moments completions can appear: the application polls its CQs here
  // instead of on a timer of its own. The hook may post work and Kick().
  void SetActivityHook(absl::AnyInvocable<void()> hook) { activity_hook_ = std::move(hook); }

  const SimHostCounters& counters() const { return counters_; }
  Context& context() { return ctx_; }
  bool busy() const { return transmitting_; }

 private:
  void FinishTransmission();
  void OnWakeup();
  void ArmWakeup(Time at);
  void CancelWakeup();

  Simulator& sim_;
  Context& ctx_;
  Bandwidth line_rate_;
  FrameSink egress_;
  SimHostCounters counters_;
  absl::AnyInvocable<void()> activity_hook_;

  // Whether `packet` may leave with its payload as the frame's tail.
  bool PayloadIsStable(const TxPacket& packet) const;

  std::span<const uint8_t> stable_payload_;

  bool transmitting_ = false;
  Frame tx_frame_;
  EventId tx_event_ = kNoEvent;
  EventId wakeup_event_ = kNoEvent;
  Time wakeup_at_ = Time::Infinite();
};

}  // namespace tern::sim
