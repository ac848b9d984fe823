#include "dataplane/sim/simulator.h"

#include <algorithm>
#include <utility>

namespace tern::sim {
namespace {

// SplitMix64's finalizer (Steele, Lea & Flood 2014): a bijection on 64 bits
// whose output bits each depend on every input bit.
uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Below this size a heap full of stale entries is cheap enough to keep.
constexpr size_t kMinCompactSize = 1024;

}  // namespace

uint64_t DeriveSeed(uint64_t seed, uint64_t stream) {
  // Mixing the stream before combining keeps (seed, stream) pairs apart that a
  // plain sum or xor would collide, e.g. (1, 0) and (0, 1).
  return Mix64(seed + 0x9E3779B97F4A7C15ull * (Mix64(stream + 0x632BE59BD9B4E019ull) | 1));
}

EventId Simulator::Schedule(Time at, Callback callback) {
  if (at < now_) {
    ++late_schedules_;
    at = now_;
  }
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.callback = std::move(callback);
  s.pending = true;
  heap_.push_back(Entry{at, next_order_++, slot, s.generation});
  std::push_heap(heap_.begin(), heap_.end(), RunsLater);
  ++pending_;
  return MakeId(slot, s.generation);
}

bool Simulator::IsPending(EventId id) const {
  const uint32_t slot = static_cast<uint32_t>(id);
  const uint32_t generation = static_cast<uint32_t>(id >> 32);
  if (id == kNoEvent || slot >= slots_.size()) return false;
  const Slot& s = slots_[slot];
  return s.pending && s.generation == generation;
}

bool Simulator::Cancel(EventId id) {
  if (!IsPending(id)) return false;
  ReleaseSlot(static_cast<uint32_t>(id));
  --pending_;
  ++stale_;
  MaybeCompact();
  return true;
}

void Simulator::ReleaseSlot(uint32_t slot) {
  Slot& s = slots_[slot];
  s.callback = nullptr;
  s.pending = false;
  // A new generation invalidates the old id and any heap entry still naming it.
  // Generation 0 is skipped so that no id equals kNoEvent.
  if (++s.generation == 0) s.generation = 1;
  free_slots_.push_back(slot);
}

void Simulator::SkipStale() {
  while (!heap_.empty() && !IsLive(heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), RunsLater);
    heap_.pop_back();
    --stale_;
  }
}

void Simulator::MaybeCompact() {
  if (heap_.size() < kMinCompactSize || stale_ * 2 < heap_.size()) return;
  std::erase_if(heap_, [this](const Entry& e) { return !IsLive(e); });
  std::make_heap(heap_.begin(), heap_.end(), RunsLater);
  stale_ = 0;
}

Time Simulator::NextEventTime() {
  SkipStale();
  return heap_.empty() ? Time::Infinite() : heap_.front().at;
}

bool Simulator::Step() {
  SkipStale();
  if (heap_.empty()) return false;
  const Entry entry = heap_.front();
  std::pop_heap(heap_.begin(), heap_.end(), RunsLater);
  heap_.pop_back();
  // Move the callback out and free the slot first: the callback may schedule
  // (reusing the slot) or cancel its own, already spent, id.
  Callback callback = std::move(slots_[entry.slot].callback);
  ReleaseSlot(entry.slot);
  --pending_;
  now_ = entry.at;
  ++events_processed_;
  callback();
  return true;
}

void Simulator::Run() {
  stop_requested_ = false;
  while (!stop_requested_ && Step()) {
  }
}

void Simulator::RunUntil(Time end) {
  stop_requested_ = false;
  while (!stop_requested_) {
    SkipStale();
    if (heap_.empty() || heap_.front().at > end) break;
    Step();
  }
  if (!stop_requested_ && !end.IsInfinite() && end > now_) now_ = end;
}

bool Simulator::RunWhile(absl::FunctionRef<bool()> condition, Time deadline) {
  stop_requested_ = false;
  while (!stop_requested_) {
    if (!condition()) return true;
    SkipStale();
    if (heap_.empty() || heap_.front().at > deadline) return false;
    Step();
  }
  return false;
}

}  // namespace tern::sim
