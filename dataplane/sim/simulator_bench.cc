// Event-queue throughput of the simulator: the timing wheel against the binary
// heap it replaced, side by side in one run.
//
// Hold model: N events stay pending. Each event, when it runs, schedules one
// new event ahead by a delay shaped like a 400 Gb/s fabric: half ~100 ns (a
// frame's serialisation), a third ~1 us (a link's propagation), the rest
// uniform in 100 ns-5 us. One event in 16 also re-arms a timer 55-110 us ahead
// (an RTO or CC timer: cancel, then schedule), so cancels and events beyond the
// wheel's window are part of the mix. items_per_second = events run.
//   build/dataplane/sim/sim_queue_bench --benchmark_repetitions=3
//       --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "dataplane/sim/simulator.h"
#include "transport/random.h"

namespace tern::sim {
namespace {

// BASELINE ONLY: the simulator's event queue before the timing wheel (a binary
// heap with lazy cancellation, as of commit 35cbb65), cut down to what the hold
// model calls. Not used by anything but this benchmark.
class HeapQueue {
 public:
  using Callback = Simulator::Callback;

  Time now() const { return now_; }

  EventId Schedule(Time at, Callback callback) {
    if (at < now_) at = now_;
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
    return static_cast<EventId>(s.generation) << 32 | slot;
  }

  bool Cancel(EventId id) {
    const uint32_t slot = static_cast<uint32_t>(id);
    const uint32_t generation = static_cast<uint32_t>(id >> 32);
    if (id == kNoEvent || slot >= slots_.size()) return false;
    if (!slots_[slot].pending || slots_[slot].generation != generation) return false;
    ReleaseSlot(slot);
    ++stale_;
    if (heap_.size() >= 1024 && stale_ * 2 >= heap_.size()) {
      std::erase_if(heap_, [this](const Entry& e) { return !IsLive(e); });
      std::make_heap(heap_.begin(), heap_.end(), RunsLater);
      stale_ = 0;
    }
    return true;
  }

  bool Step() {
    while (!heap_.empty() && !IsLive(heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), RunsLater);
      heap_.pop_back();
      --stale_;
    }
    if (heap_.empty()) return false;
    const Entry entry = heap_.front();
    std::pop_heap(heap_.begin(), heap_.end(), RunsLater);
    heap_.pop_back();
    Callback callback = std::move(slots_[entry.slot].callback);
    ReleaseSlot(entry.slot);
    now_ = entry.at;
    callback();
    return true;
  }

 private:
  struct Entry {
    Time at;
    uint64_t order;
    uint32_t slot;
    uint32_t generation;
  };
  struct Slot {
    Callback callback;
    uint32_t generation = 1;
    bool pending = false;
  };
  static bool RunsLater(const Entry& a, const Entry& b) {
    if (a.at != b.at) return a.at > b.at;
    return a.order > b.order;
  }
  bool IsLive(const Entry& e) const {
    return slots_[e.slot].pending && slots_[e.slot].generation == e.generation;
  }
  void ReleaseSlot(uint32_t slot) {
    Slot& s = slots_[slot];
    s.callback = nullptr;
    s.pending = false;
    if (++s.generation == 0) s.generation = 1;
    free_slots_.push_back(slot);
  }

  Time now_ = Time::Zero();
  std::vector<Entry> heap_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  uint64_t next_order_ = 0;
  size_t stale_ = 0;
};

// The hold model over one queue type (Simulator or HeapQueue).
template <typename Queue>
class HoldModel {
 public:
  // `pending` events, of which one in 16 is a re-armable timer.
  explicit HoldModel(int64_t pending) : random_(1) {
    timers_.resize(static_cast<size_t>(std::max<int64_t>(1, pending / 16)));
    for (size_t i = 0; i < timers_.size(); ++i) ArmTimer(i);
    for (int64_t i = static_cast<int64_t>(timers_.size()); i < pending; ++i) ScheduleFrameEvent();
  }

  Queue& queue() { return queue_; }

 private:
  Duration FrameDelay() {
    const uint64_t kind = random_.Uniform(6);
    if (kind < 3) return Duration::Picoseconds(100'000 + random_.Uniform(30'000));
    if (kind < 5) return Duration::Picoseconds(1'000'000 + random_.Uniform(200'000));
    return Duration::Picoseconds(100'000 + random_.Uniform(4'900'000));
  }

  void ScheduleFrameEvent() {
    queue_.Schedule(queue_.now() + FrameDelay(), [this] { OnFrameEvent(); });
  }

  void ArmTimer(size_t timer) {
    queue_.Cancel(timers_[timer]);
    const Duration delay = Duration::Picoseconds(55'000'000 + random_.Uniform(55'000'000));
    timers_[timer] = queue_.Schedule(queue_.now() + delay, [this, timer] { ArmTimer(timer); });
  }

  void OnFrameEvent() {
    ScheduleFrameEvent();
    if (random_.Uniform(16) == 0) ArmTimer(random_.Uniform(timers_.size()));
  }

  Queue queue_;
  Random random_;
  std::vector<EventId> timers_;
};

template <typename Queue>
void BM_Hold(benchmark::State& state) {
  const int64_t pending = state.range(0);
  HoldModel<Queue> model(pending);
  // Run the initial fill through once so the queue holds the steady-state mix.
  for (int64_t i = 0; i < pending; ++i) model.queue().Step();
  for (auto _ : state) {
    benchmark::DoNotOptimize(model.queue().Step());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_TEMPLATE(BM_Hold, HeapQueue)->Arg(1 << 10)->Arg(1 << 16)->Arg(1 << 20);
BENCHMARK_TEMPLATE(BM_Hold, Simulator)->Arg(1 << 10)->Arg(1 << 16)->Arg(1 << 20);

}  // namespace
}  // namespace tern::sim

BENCHMARK_MAIN();
