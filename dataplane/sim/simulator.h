// A discrete-event simulator with virtual time: the clock of every simulated
// host, link and switch. Nothing in dataplane/sim reads a wall clock; time moves
// only when Run*() takes the next event off the queue.
//
// Determinism: events run in order of (time, insertion order), so two events
// scheduled for the same instant run in the order they were scheduled, and a
// run replays exactly given the same inputs and seeds.
//
// The queue is a binary heap with lazy cancellation. The public API names no
// heap detail, so a calendar queue or timing wheel can replace it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "transport/units.h"

namespace tern::sim {

// Identifies one scheduled event. kNoEvent is never returned by Schedule(), so
// it can mark "nothing pending" in the caller's state.
using EventId = uint64_t;
inline constexpr EventId kNoEvent = 0;

// Mixes a base seed and a stream index (a link or host number) into the seed of
// that component's own Random, so components draw independent streams and adding
// one does not shift the draws of the others.
uint64_t DeriveSeed(uint64_t seed, uint64_t stream);

class Simulator {
 public:
  using Callback = absl::AnyInvocable<void()>;

  Simulator() = default;
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // The virtual time: the time of the event running now, or where the last
  // Run*() call left the clock.
  Time now() const { return now_; }

  // Runs `callback` at `at`. A time before now() is a caller bug; it is counted
  // in late_schedules() and the event runs at now(), after those already due.
  EventId Schedule(Time at, Callback callback);
  EventId ScheduleAfter(Duration delay, Callback callback) {
    return Schedule(now_ + delay, std::move(callback));
  }

  // Removes a pending event. Returns false when `id` already ran, was already
  // cancelled, or is kNoEvent; cancelling is then a no-op.
  bool Cancel(EventId id);
  bool IsPending(EventId id) const;

  // Runs events until none is left or Stop() is called.
  void Run();
  // Runs every event due at or before `end`, then leaves the clock at `end`
  // (unless Stop() ended the run early). `end` before now() runs nothing.
  void RunUntil(Time end);
  // Runs events while `condition()` holds, checking it before each event, and
  // never past `deadline`. Returns true when it stopped because `condition()`
  // became false, false when the queue ran dry, the deadline came or Stop() was
  // called. Unlike RunUntil, the clock stays at the last event run.
  bool RunWhile(absl::FunctionRef<bool()> condition, Time deadline = Time::Infinite());
  // Runs the next event, if any. Returns whether one ran.
  bool Step();
  // Makes the current Run*() return after the event that called it.
  void Stop() { stop_requested_ = true; }

  // Time of the next pending event; Time::Infinite() when there is none.
  Time NextEventTime();
  size_t pending_events() const { return pending_; }
  uint64_t events_processed() const { return events_processed_; }
  uint64_t late_schedules() const { return late_schedules_; }

 private:
  // One heap entry. `slot` indexes slots_; the entry is stale (cancelled) when
  // the slot's generation no longer matches.
  struct Entry {
    Time at;
    uint64_t order;  // insertion number: breaks ties between equal times
    uint32_t slot;
    uint32_t generation;
  };
  struct Slot {
    Callback callback;
    uint32_t generation = 1;
    bool pending = false;
  };
  // std::push_heap builds a max-heap: "less" means "runs later".
  static bool RunsLater(const Entry& a, const Entry& b) {
    if (a.at != b.at) return a.at > b.at;
    return a.order > b.order;
  }
  static EventId MakeId(uint32_t slot, uint32_t generation) {
    return static_cast<EventId>(generation) << 32 | slot;
  }
  bool IsLive(const Entry& e) const {
    const Slot& s = slots_[e.slot];
    return s.pending && s.generation == e.generation;
  }
  void ReleaseSlot(uint32_t slot);
  // Drops cancelled entries from the top of the heap.
  void SkipStale();
  // Rebuilds the heap without stale entries once they are the majority.
  void MaybeCompact();

  Time now_ = Time::Zero();
  std::vector<Entry> heap_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  uint64_t next_order_ = 0;
  size_t pending_ = 0;
  size_t stale_ = 0;  // cancelled entries still in heap_
  uint64_t events_processed_ = 0;
  uint64_t late_schedules_ = 0;
  bool stop_requested_ = false;
};

}  // namespace tern::sim
