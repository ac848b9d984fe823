// A discrete-event simulator with virtual time: the clock of every simulated
// host, link and switch. Nothing in dataplane/sim reads a wall clock; time moves
// only when Run*() takes the next event off the queue.
//
// Determinism: events run in order of (time, insertion order), so two events
// scheduled for the same instant run in the order they were scheduled, and a
// run replays exactly given the same inputs and seeds.
//
// The queue is a timing wheel (a single-level calendar queue) in front of an
// overflow heap; see the private section for why that shape.
#pragma once

#include <array>
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
  // `touches` optionally names the memory the callback reads first: the
  // simulator prefetches it while the event before this one runs (a hint; it
  // may be stale by then, which costs nothing but the hint).
  EventId Schedule(Time at, Callback callback, const void* touches = nullptr);
  EventId ScheduleAfter(Duration delay, Callback callback, const void* touches = nullptr) {
    return Schedule(now_ + delay, std::move(callback), touches);
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
  // Why a wheel: a fat-tree permutation keeps ~1k (128 hosts) to ~10k (1024
  // hosts) events pending, 98% of them due within 2 us (ACK serialisation
  // ~1 ns, a frame's ~100 ns, propagation 1 us), and runs 7-13 events per ns
  // of virtual time. A heap pays O(log pending) scattered moves per event; the
  // wheel appends to a bucket in O(1) and heap-orders only the few events of
  // one bucket when the clock reaches it. Timers 30-70 us ahead (CC, RTO) and
  // far-future failures, ~1.5% of events, wait in a heap of their own until
  // the window reaches them.
  //
  // Buckets of 2^kBucketShift ps = 1.024 ns hold ~10 events in such a run
  // (simulator_bench measured widths of 0.5-8 ns alike); kBucketCount of them
  // make an 8.4 us window, past every per-packet delay.
  static constexpr int kBucketShift = 10;
  static constexpr uint64_t kBucketCount = 8192;
  static constexpr uint64_t kBucketMask = kBucketCount - 1;
  static_assert((kBucketCount & kBucketMask) == 0, "the wheel indexes buckets by mask");
  static_assert(kBucketCount % 64 == 0, "occupied_ holds one bit per bucket");

  // One queued event. `slot` indexes slots_; the entry is stale (cancelled)
  // when the slot's generation no longer matches.
  struct Entry {
    Time at;
    uint64_t order;  // insertion number: breaks ties between equal times
    uint32_t slot;
    uint32_t generation;
  };
  static_assert(sizeof(Entry) == 24, "entries are copied on every bucket move");
  // Buckets are lists of fixed-size chunks from one shared pool, so memory
  // follows the pending events rather than each bucket's busiest moment, and
  // an emptied bucket's chunks, still in cache, take the next appends.
  static constexpr uint32_t kChunkEntries = 5;
  static constexpr uint32_t kNoChunk = ~uint32_t{0};
  struct Chunk {
    uint32_t count = 0;  // first, beside the first entries: one line for a lone event
    uint32_t next = kNoChunk;
    Entry entries[kChunkEntries];
  };
  static_assert(sizeof(Chunk) == 128, "a chunk is two cache lines");
  struct Bucket {
    uint32_t head = kNoChunk;
    uint32_t tail = kNoChunk;
  };
  struct Slot {
    Callback callback;
    const void* touches = nullptr;
    uint32_t generation = 1;
    bool pending = false;
    bool in_overflow = false;  // its entry waits in overflow_
  };
  // std::push_heap builds a max-heap: "less" means "runs later". A function
  // object rather than a function, so the heap algorithms inline it.
  struct RunsLater {
    bool operator()(const Entry& a, const Entry& b) const {
      if (a.at != b.at) return a.at > b.at;
      return a.order > b.order;
    }
  };
  // current_ and overflow_ are heaps in (time, insertion) order.
  static void PushEntry(std::vector<Entry>& heap, const Entry& e);
  static Entry PopFirst(std::vector<Entry>& heap);
  static EventId MakeId(uint32_t slot, uint32_t generation) {
    return static_cast<EventId>(generation) << 32 | slot;
  }
  // Absolute bucket number of a time; times are never negative.
  static uint64_t BucketOf(Time at) {
    return static_cast<uint64_t>(at.picoseconds()) >> kBucketShift;
  }
  bool IsLive(const Entry& e) const {
    const Slot& s = slots_[e.slot];
    return s.pending && s.generation == e.generation;
  }
  void ReleaseSlot(uint32_t slot);
  // Files `e` in current_, a wheel bucket or overflow_ by its time.
  void Enqueue(const Entry& e);
  // Leaves the next live event on top of current_; false when none is left
  // in buckets starting at or before `limit`.
  bool SkipToNextLive(Time limit);
  // With current_ empty, moves the window to the next non-empty bucket (or to
  // the overflow heap's minimum) and makes it current_, unless that bucket
  // starts after `limit`. Returns whether it moved.
  bool AdvanceWindow(Time limit);
  // Runs the event on top of current_, which SkipToNextLive() found live.
  void PopAndRun();
  // Absolute number of the first occupied bucket after base_, or kNoBucket.
  uint64_t NextOccupiedBucket() const;
  // Appends `e` to bucket `index` (b & kBucketMask).
  void AppendToBucket(uint64_t index, const Entry& e);
  // Moves bucket `index`'s entries to the end of current_ and frees its chunks.
  void TakeBucket(uint64_t index);
  // Moves overflow entries that the window now covers into their buckets.
  void DrainOverflow();
  // Rebuilds overflow_ without stale entries once they are the majority.
  void MaybeCompactOverflow();

  static constexpr uint64_t kNoBucket = ~uint64_t{0};

  Time now_ = Time::Zero();
  // The window covers absolute buckets [base_, base_ + kBucketCount). current_
  // is a heap of bucket base_, plus anything scheduled before it after
  // NextEventTime() moved the window past now() (the skipped buckets were
  // empty, so such events still run first). buckets_[b & kBucketMask] lists
  // bucket b in (base_, base_ + kBucketCount), unordered. overflow_ is a heap
  // of everything later.
  uint64_t base_ = 0;
  std::vector<Entry> current_;
  std::vector<Bucket> buckets_ = std::vector<Bucket>(kBucketCount);
  std::array<uint64_t, kBucketCount / 64> occupied_{};  // bit set: bucket non-empty
  std::vector<Chunk> chunks_;
  uint32_t free_chunk_ = kNoChunk;  // head of the free chunks, linked by `next`
  std::vector<Entry> overflow_;
  size_t overflow_stale_ = 0;  // cancelled entries still in overflow_

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  uint64_t next_order_ = 0;
  size_t pending_ = 0;
  uint64_t events_processed_ = 0;
  uint64_t late_schedules_ = 0;
  bool stop_requested_ = false;
};

}  // namespace tern::sim
