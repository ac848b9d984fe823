#include "dataplane/sim/sim_host.h"

#include <utility>

namespace tern::sim {

SimHost::SimHost(Simulator& sim, Context& ctx, Bandwidth line_rate, FrameSink egress)
    : sim_(sim), ctx_(ctx), line_rate_(line_rate), egress_(std::move(egress)) {}

SimHost::~SimHost() {
  sim_.Cancel(tx_event_);
  sim_.Cancel(wakeup_event_);
}

void SimHost::Deliver(std::span<const uint8_t> frame) {
  ++counters_.frames_received;
  counters_.bytes_received += frame.size();
  ctx_.OnFrame(frame, sim_.now());
  if (activity_hook_) activity_hook_();
  Kick();
}

void SimHost::Deliver(const Frame& frame) {
  if (frame.tail.empty()) {
    Deliver(std::span<const uint8_t>(frame));
    return;
  }
  // Put back together in one buffer that every host of the thread shares:
  // a delivery is over before the next begins, and one buffer stays in the
  // cache where one per host (4 KB each, 32 MB for 8192 hosts) was written
  // cold at every delivery.
  thread_local std::vector<uint8_t> whole;
  whole.assign(frame.begin(), frame.end());
  whole.insert(whole.end(), frame.tail.begin(), frame.tail.end());
  Deliver(std::span<const uint8_t>(whole));
}

bool SimHost::PayloadIsStable(const TxPacket& packet) const {
  // Only a DATA packet's payload is message bytes; a control packet's is a
  // coalescing buffer the context reuses.
  if (packet.payload.empty() || !packet.is_data()) return false;
  const auto begin = reinterpret_cast<uintptr_t>(packet.payload.data());
  const auto stable = reinterpret_cast<uintptr_t>(stable_payload_.data());
  return begin >= stable && begin - stable + packet.payload.size() <= stable_payload_.size();
}

void SimHost::Kick() {
  // A busy NIC polls again when its frame is out; that poll sees this work.
  if (transmitting_) return;
  const Time now = sim_.now();
  TxPacket packet;
  if (ctx_.PollTransmit(now, std::span<TxPacket>(&packet, 1)) == 1) {
    // The poll after this frame replaces any pending wake-up.
    CancelWakeup();
    if (PayloadIsStable(packet)) {
      tx_frame_.resize(packet.frame_len() - packet.payload.size());
      tx_frame_.resize(packet.WriteHeaders(tx_frame_.data()));
      tx_frame_.tail = packet.payload;
    } else {
      tx_frame_.resize(packet.frame_len());
      tx_frame_.resize(packet.WriteFrame(tx_frame_.data()));
    }
    // Now, while the headers are in the cache: a fabric routes by it.
    tx_frame_.route = ReadFabricRoute(tx_frame_);
    transmitting_ = true;
    tx_event_ = sim_.ScheduleAfter(line_rate_.TransferTime(tx_frame_.wire_size()),
                                   [this] { FinishTransmission(); });
    return;
  }
  Time next = ctx_.NextWakeup();
  if (next.IsInfinite()) {
    CancelWakeup();
    return;
  }
  if (next <= now) {
    // Due but nothing came out: step virtual time forward rather than spin.
    next = now + kWakeupGuard;
    ++counters_.guard_wakeups;
  }
  ArmWakeup(next);
}

void SimHost::FinishTransmission() {
  tx_event_ = kNoEvent;
  transmitting_ = false;
  ++counters_.frames_sent;
  counters_.bytes_sent += tx_frame_.wire_size();
  egress_(std::move(tx_frame_));
  tx_frame_ = Frame();
  Kick();
}

void SimHost::OnWakeup() {
  wakeup_event_ = kNoEvent;
  wakeup_at_ = Time::Infinite();
  ++counters_.wakeups;
  Kick();
  if (activity_hook_) activity_hook_();
}

void SimHost::ArmWakeup(Time at) {
  if (wakeup_event_ != kNoEvent && wakeup_at_ == at) return;
  CancelWakeup();
  wakeup_at_ = at;
  wakeup_event_ = sim_.Schedule(at, [this] { OnWakeup(); });
}

void SimHost::CancelWakeup() {
  sim_.Cancel(wakeup_event_);
  wakeup_event_ = kNoEvent;
  wakeup_at_ = Time::Infinite();
}

}  // namespace tern::sim
