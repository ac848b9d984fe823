#include "dataplane/sim/simulator.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/random.h"

namespace tern::sim {
namespace {

using ::testing::ElementsAre;

Time Ns(int64_t ns) { return Time::FromNanoseconds(ns); }
Time Ps(int64_t ps) { return Time::FromPicoseconds(ps); }
Time Us(int64_t us) { return Time::Zero() + Duration::Microseconds(us); }
Time Ms(int64_t ms) { return Time::Zero() + Duration::Milliseconds(ms); }

// The wheel today: buckets of 1024 ps, a window of 8192 buckets. The tests
// below straddle these edges, but every one holds for any bucket size.
constexpr int64_t kBucketPs = 1024;
constexpr int64_t kWindowPs = 8192 * kBucketPs;

// Schedules one event per time, in the order given, each appending its index
// to `ran`.
void ScheduleAll(Simulator& sim, const std::vector<Time>& times, std::vector<int>& ran) {
  for (size_t i = 0; i < times.size(); ++i) {
    sim.Schedule(times[i], [&ran, i] { ran.push_back(static_cast<int>(i)); });
  }
}

// The order of (time, insertion) the simulator promises, computed directly.
std::vector<int> ExpectedOrder(const std::vector<Time>& times) {
  std::vector<int> order(times.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return times[a] < times[b]; });
  return order;
}

TEST(SimulatorTest, EventsRunInTimeOrder) {
  Simulator sim;
  std::vector<int> order;
  sim.Schedule(Ns(30), [&] { order.push_back(3); });
  sim.Schedule(Ns(10), [&] { order.push_back(1); });
  sim.Schedule(Ns(20), [&] { order.push_back(2); });
  sim.Run();
  EXPECT_THAT(order, ElementsAre(1, 2, 3));
  EXPECT_EQ(sim.now(), Ns(30));
  EXPECT_EQ(sim.events_processed(), 3u);
}

TEST(SimulatorTest, EqualTimesRunInInsertionOrder) {
  Simulator sim;
  std::vector<int> order;
  for (int i = 0; i < 100; ++i) sim.Schedule(Ns(5), [&order, i] { order.push_back(i); });
  sim.Run();
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

// A prefetch hint is only a hint: events run in the same order with or
// without one, and a hint whose memory is gone by then does no harm.
TEST(SimulatorTest, PrefetchHintsChangeNothingButTheCache) {
  Simulator sim;
  std::vector<int> order;
  int data[3] = {};
  auto gone = std::make_unique<int>(7);
  sim.Schedule(
      Ns(20), [&] { order.push_back(2); }, &data[2]);
  sim.Schedule(
      Ns(10), [&] { order.push_back(1); }, gone.get());
  sim.Schedule(Ns(10), [&] { order.push_back(11); });
  sim.Schedule(
      Ns(5), [&] { order.push_back(0); }, &data[0]);
  gone.reset();
  sim.Run();
  EXPECT_THAT(order, ElementsAre(0, 1, 11, 2));
  EXPECT_EQ(sim.events_processed(), 4u);
}

TEST(SimulatorTest, NowIsTheEventTimeInsideTheCallback) {
  Simulator sim;
  Time seen;
  sim.Schedule(Ns(42), [&] { seen = sim.now(); });
  sim.Run();
  EXPECT_EQ(seen, Ns(42));
}

TEST(SimulatorTest, CallbackMayScheduleAtTheCurrentTimeAfterDueEvents) {
  Simulator sim;
  std::vector<int> order;
  sim.Schedule(Ns(1), [&] {
    order.push_back(1);
    sim.Schedule(sim.now(), [&] { order.push_back(3); });
  });
  sim.Schedule(Ns(1), [&] { order.push_back(2); });
  sim.Run();
  EXPECT_THAT(order, ElementsAre(1, 2, 3));
}

TEST(SimulatorTest, CancelledEventDoesNotRun) {
  Simulator sim;
  bool ran = false;
  const EventId id = sim.Schedule(Ns(10), [&] { ran = true; });
  EXPECT_TRUE(sim.IsPending(id));
  EXPECT_TRUE(sim.Cancel(id));
  EXPECT_FALSE(sim.IsPending(id));
  sim.Run();
  EXPECT_FALSE(ran);
  EXPECT_EQ(sim.events_processed(), 0u);
  EXPECT_EQ(sim.pending_events(), 0u);
}

TEST(SimulatorTest, CancelTwiceOrAfterRunIsANoOp) {
  Simulator sim;
  int runs = 0;
  const EventId done = sim.Schedule(Ns(1), [&] { ++runs; });
  sim.Run();
  EXPECT_FALSE(sim.Cancel(done));
  EXPECT_FALSE(sim.Cancel(kNoEvent));
  const EventId id = sim.Schedule(Ns(2), [&] { ++runs; });
  EXPECT_TRUE(sim.Cancel(id));
  EXPECT_FALSE(sim.Cancel(id));
  sim.Run();
  EXPECT_EQ(runs, 1);
}

TEST(SimulatorTest, StaleIdDoesNotCancelTheEventReusingItsSlot) {
  Simulator sim;
  bool second_ran = false;
  const EventId first = sim.Schedule(Ns(1), [] {});
  ASSERT_TRUE(sim.Cancel(first));
  const EventId second = sim.Schedule(Ns(1), [&] { second_ran = true; });
  EXPECT_NE(first, second);
  EXPECT_FALSE(sim.Cancel(first));
  sim.Run();
  EXPECT_TRUE(second_ran);
}

TEST(SimulatorTest, CancelFromInsideAnEvent) {
  Simulator sim;
  bool ran = false;
  const EventId later = sim.Schedule(Ns(20), [&] { ran = true; });
  sim.Schedule(Ns(10), [&] { EXPECT_TRUE(sim.Cancel(later)); });
  sim.Run();
  EXPECT_FALSE(ran);
  EXPECT_EQ(sim.now(), Ns(10));
}

TEST(SimulatorTest, ManyCancellationsKeepOrderAfterCompaction) {
  // Enough cancelled entries to trigger the heap rebuild.
  Simulator sim;
  std::vector<int64_t> ran;
  std::vector<EventId> ids;
  for (int64_t i = 0; i < 5000; ++i) {
    ids.push_back(sim.Schedule(Ns(5000 - i), [&ran, i] { ran.push_back(5000 - i); }));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i % 10 != 0) {
      EXPECT_TRUE(sim.Cancel(ids[i]));
    }
  }
  EXPECT_EQ(sim.pending_events(), 500u);
  sim.Run();
  ASSERT_EQ(ran.size(), 500u);
  for (size_t i = 1; i < ran.size(); ++i) EXPECT_LT(ran[i - 1], ran[i]);
}

TEST(SimulatorTest, RunUntilStopsAtTheEndTimeInclusive) {
  Simulator sim;
  std::vector<int> order;
  sim.Schedule(Ns(10), [&] { order.push_back(10); });
  sim.Schedule(Ns(20), [&] { order.push_back(20); });
  sim.Schedule(Ns(30), [&] { order.push_back(30); });
  sim.RunUntil(Ns(20));
  EXPECT_THAT(order, ElementsAre(10, 20));
  EXPECT_EQ(sim.now(), Ns(20));
  EXPECT_EQ(sim.pending_events(), 1u);
  sim.RunUntil(Ns(25));
  EXPECT_EQ(sim.now(), Ns(25));
  EXPECT_THAT(order, ElementsAre(10, 20));
}

TEST(SimulatorTest, RunUntilAdvancesTheClockWithNoEvents) {
  Simulator sim;
  sim.RunUntil(Ns(100));
  EXPECT_EQ(sim.now(), Ns(100));
  sim.RunUntil(Ns(50));  // the past: nothing happens
  EXPECT_EQ(sim.now(), Ns(100));
}

TEST(SimulatorTest, RunUntilInfiniteDrainsTheQueue) {
  Simulator sim;
  int runs = 0;
  sim.Schedule(Ns(1), [&] { ++runs; });
  sim.RunUntil(Time::Infinite());
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(sim.now(), Ns(1));
}

TEST(SimulatorTest, RunWhileStopsWhenTheConditionTurnsFalse) {
  Simulator sim;
  int count = 0;
  for (int i = 1; i <= 10; ++i) sim.Schedule(Ns(i), [&] { ++count; });
  EXPECT_TRUE(sim.RunWhile([&] { return count < 4; }));
  EXPECT_EQ(count, 4);
  EXPECT_EQ(sim.now(), Ns(4));
}

TEST(SimulatorTest, RunWhileReturnsFalseWhenTheQueueRunsDry) {
  Simulator sim;
  sim.Schedule(Ns(1), [] {});
  EXPECT_FALSE(sim.RunWhile([] { return true; }));
  EXPECT_EQ(sim.pending_events(), 0u);
}

TEST(SimulatorTest, RunWhileRespectsTheDeadline) {
  Simulator sim;
  int count = 0;
  for (int i = 1; i <= 10; ++i) sim.Schedule(Ns(i * 10), [&] { ++count; });
  EXPECT_FALSE(sim.RunWhile([] { return true; }, Ns(35)));
  EXPECT_EQ(count, 3);
  EXPECT_EQ(sim.now(), Ns(30));
}

TEST(SimulatorTest, StopEndsRunAfterTheCurrentEvent) {
  Simulator sim;
  int count = 0;
  sim.Schedule(Ns(1), [&] { ++count; });
  sim.Schedule(Ns(2), [&] {
    ++count;
    sim.Stop();
  });
  sim.Schedule(Ns(3), [&] { ++count; });
  sim.Run();
  EXPECT_EQ(count, 2);
  sim.Run();  // a new run starts afresh
  EXPECT_EQ(count, 3);
}

TEST(SimulatorTest, SchedulingInThePastRunsNowAndIsCounted) {
  Simulator sim;
  Time seen;
  sim.Schedule(Ns(100), [&] { sim.Schedule(Ns(50), [&] { seen = sim.now(); }); });
  sim.Run();
  EXPECT_EQ(seen, Ns(100));
  EXPECT_EQ(sim.late_schedules(), 1u);
}

TEST(SimulatorTest, ScheduleAfterIsRelativeToNow) {
  Simulator sim;
  Time seen;
  sim.Schedule(Ns(10),
               [&] { sim.ScheduleAfter(Duration::Nanoseconds(5), [&] { seen = sim.now(); }); });
  sim.Run();
  EXPECT_EQ(seen, Ns(15));
}

TEST(SimulatorTest, NextEventTimeSkipsCancelledEvents) {
  Simulator sim;
  EXPECT_EQ(sim.NextEventTime(), Time::Infinite());
  const EventId first = sim.Schedule(Ns(5), [] {});
  sim.Schedule(Ns(9), [] {});
  sim.Cancel(first);
  EXPECT_EQ(sim.NextEventTime(), Ns(9));
}

TEST(SimulatorTest, InterleavedTimesRunByTimeThenInsertion) {
  Simulator sim;
  std::vector<int> ran;
  const std::vector<Time> times = {Ns(5), Ns(3), Ns(5), Ns(1), Ns(3), Ns(5), Ns(1), Ns(4)};
  ScheduleAll(sim, times, ran);
  sim.Run();
  EXPECT_EQ(ran, ExpectedOrder(times));
}

TEST(SimulatorTest, EventsOnEitherSideOfABucketEdgeKeepTheirOrder) {
  Simulator sim;
  std::vector<int> ran;
  std::vector<Time> times;
  for (int64_t edge : {kBucketPs, 2 * kBucketPs, 7 * kBucketPs}) {
    for (int64_t ps : {edge + 1, edge, edge - 1, edge, edge + 1, edge - 1}) times.push_back(Ps(ps));
  }
  ScheduleAll(sim, times, ran);
  sim.Run();
  EXPECT_EQ(ran, ExpectedOrder(times));
}

TEST(SimulatorTest, EventsOnEitherSideOfTheWindowEdgeKeepTheirOrder) {
  // Beyond the window an event waits in the overflow heap; it must still run
  // in (time, insertion) order with those that were in the wheel all along.
  Simulator sim;
  std::vector<int> ran;
  std::vector<Time> times;
  for (int64_t edge : {kWindowPs, 2 * kWindowPs, 3 * kWindowPs + kBucketPs}) {
    for (int64_t ps : {edge + 1, edge - kBucketPs, edge, edge - 1, edge, edge + kBucketPs}) {
      times.push_back(Ps(ps));
    }
  }
  ScheduleAll(sim, times, ran);
  sim.Run();
  EXPECT_EQ(ran, ExpectedOrder(times));
}

TEST(SimulatorTest, EventsScheduledWhileRunningCrossTheWindowInOrder) {
  // Each event schedules the next one window-length minus one picosecond
  // ahead, plus a tie with an event queued long before, so entries move from
  // overflow into the wheel while the wheel is turning.
  Simulator sim;
  std::vector<std::pair<int64_t, int>> ran;  // (ps, who)
  const int64_t step = kWindowPs - 1;
  for (int i = 1; i <= 5; ++i) {
    sim.Schedule(Ps(i * step), [&, i] { ran.emplace_back(sim.now().picoseconds(), -i); });
  }
  std::function<void(int)> chain = [&](int i) {
    ran.emplace_back(sim.now().picoseconds(), i);
    if (i < 5) sim.ScheduleAfter(Duration::Picoseconds(step), [&, i] { chain(i + 1); });
  };
  sim.Schedule(Time::Zero(), [&] { chain(0); });
  sim.Run();
  // The pre-queued event at each instant was scheduled first, so it runs first.
  const std::vector<std::pair<int64_t, int>> want = {
      {0, 0},        {step, -1},     {step, 1},     {2 * step, -2}, {2 * step, 2}, {3 * step, -3},
      {3 * step, 3}, {4 * step, -4}, {4 * step, 4}, {5 * step, -5}, {5 * step, 5}};
  EXPECT_EQ(ran, want);
}

TEST(SimulatorTest, FarFutureEventsRunInOrderAfterNearOnes) {
  Simulator sim;
  std::vector<int> ran;
  const std::vector<Time> times = {Ms(2000), Ns(100), Ms(1000), Us(10), Ms(2000), Ms(1000), Ps(1)};
  ScheduleAll(sim, times, ran);
  sim.Run();
  EXPECT_EQ(ran, ExpectedOrder(times));
  EXPECT_EQ(sim.now(), Ms(2000));
}

TEST(SimulatorTest, SparseEventsOverSecondsRunInOrder) {
  // One event every few hundred milliseconds: the queue must jump the empty
  // stretches rather than walk them, or this test would take minutes.
  Simulator sim;
  std::vector<int> ran;
  std::vector<Time> times;
  Random random(7);
  for (int i = 0; i < 2000; ++i) {
    times.push_back(Ps(static_cast<int64_t>(random.Uniform(600'000'000'000'000))));  // 600 s
  }
  ScheduleAll(sim, times, ran);
  sim.Run();
  EXPECT_EQ(ran, ExpectedOrder(times));
}

TEST(SimulatorTest, CancelledOverflowEventDoesNotRun) {
  Simulator sim;
  std::vector<int> ran;
  const EventId far = sim.Schedule(Ms(1), [&] { ran.push_back(1); });
  sim.Schedule(Ms(2), [&] { ran.push_back(2); });
  EXPECT_TRUE(sim.Cancel(far));
  EXPECT_FALSE(sim.IsPending(far));
  EXPECT_EQ(sim.NextEventTime(), Ms(2));
  sim.Run();
  EXPECT_THAT(ran, ElementsAre(2));
  EXPECT_EQ(sim.now(), Ms(2));
}

TEST(SimulatorTest, CancelledEventInTheCurrentBucketDoesNotRun) {
  Simulator sim;
  std::vector<int> ran;
  EventId same_instant = kNoEvent;
  sim.Schedule(Ns(10), [&] {
    ran.push_back(1);
    same_instant = sim.Schedule(sim.now(), [&] { ran.push_back(3); });
  });
  sim.Schedule(Ns(10), [&] {
    ran.push_back(2);
    EXPECT_TRUE(sim.Cancel(same_instant));
  });
  sim.Run();
  EXPECT_THAT(ran, ElementsAre(1, 2));
}

TEST(SimulatorTest, ManyCancelledOverflowEventsKeepOrder) {
  // Re-armed timers far ahead: most overflow entries go stale, enough to
  // rebuild the overflow heap.
  Simulator sim;
  std::vector<int64_t> ran;
  std::vector<EventId> ids;
  for (int64_t i = 0; i < 5000; ++i) {
    ids.push_back(sim.Schedule(Us(100) + Duration::Nanoseconds(5000 - i),
                               [&ran, i] { ran.push_back(5000 - i); }));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i % 10 != 0) {
      EXPECT_TRUE(sim.Cancel(ids[i]));
    }
  }
  EXPECT_EQ(sim.pending_events(), 500u);
  sim.Run();
  ASSERT_EQ(ran.size(), 500u);
  for (size_t i = 1; i < ran.size(); ++i) EXPECT_LT(ran[i - 1], ran[i]);
}

TEST(SimulatorTest, ReArmedTimerRunsOnceAtItsLastTime) {
  // A retransmission timer pushed back on every ACK: each re-arm cancels the
  // pending event and reuses its slot.
  Simulator sim;
  std::vector<int64_t> fired;
  EventId timer = kNoEvent;
  for (int i = 0; i < 1000; ++i) {
    sim.Schedule(Ns(100 * i), [&, i] {
      sim.Cancel(timer);
      timer = sim.ScheduleAfter(Duration::Microseconds(100),
                                [&] { fired.push_back(sim.now().picoseconds()); });
      EXPECT_EQ(sim.pending_events(), static_cast<size_t>(1000 - i));
    });
  }
  sim.Run();
  EXPECT_THAT(fired, ElementsAre((Ns(100 * 999) + Duration::Microseconds(100)).picoseconds()));
}

TEST(SimulatorTest, StaleOverflowEntryDoesNotRunTheEventReusingItsSlot) {
  // The cancelled entry stays in the overflow heap while its slot serves two
  // later events; reaching the entry's time must run neither twice.
  Simulator sim;
  std::vector<int64_t> ran_at;
  const auto record = [&] { ran_at.push_back(sim.now().picoseconds()); };
  const EventId far = sim.Schedule(Ms(1), record);
  ASSERT_TRUE(sim.Cancel(far));
  const EventId near = sim.Schedule(Ns(10), record);
  EXPECT_NE(near, far);
  sim.RunUntil(Ns(20));
  const EventId later = sim.Schedule(Ms(2), record);
  EXPECT_NE(later, far);
  EXPECT_FALSE(sim.Cancel(far));
  sim.Run();
  EXPECT_THAT(ran_at, ElementsAre(Ns(10).picoseconds(), Ms(2).picoseconds()));
}

TEST(SimulatorTest, RunUntilAcrossAnEmptyStretchLeavesTheClockAtTheEnd) {
  Simulator sim;
  std::vector<int> ran;
  sim.Schedule(Ns(10), [&] { ran.push_back(1); });
  sim.Schedule(Ms(500), [&] { ran.push_back(3); });
  sim.RunUntil(Ms(100));
  EXPECT_THAT(ran, ElementsAre(1));
  EXPECT_EQ(sim.now(), Ms(100));
  // Scheduled after the jump, just past the clock: runs before the far event.
  sim.ScheduleAfter(Duration::Nanoseconds(5), [&] { ran.push_back(2); });
  EXPECT_EQ(sim.NextEventTime(), Ms(100) + Duration::Nanoseconds(5));
  sim.Run();
  EXPECT_THAT(ran, ElementsAre(1, 2, 3));
}

TEST(SimulatorTest, EventScheduledBeforeThePeekedNextEventRunsFirst) {
  // NextEventTime() may move the wheel up to a far event; one scheduled in
  // between afterwards must still run first.
  Simulator sim;
  std::vector<int> ran;
  sim.Schedule(Ms(1000), [&] { ran.push_back(3); });
  EXPECT_EQ(sim.NextEventTime(), Ms(1000));
  sim.Schedule(Us(5), [&] { ran.push_back(2); });
  sim.Schedule(Ns(1), [&] { ran.push_back(1); });
  EXPECT_EQ(sim.NextEventTime(), Ns(1));
  sim.Run();
  EXPECT_THAT(ran, ElementsAre(1, 2, 3));
}

TEST(SimulatorTest, RunWhileDeadlineBeforeASparseEventLeavesItPending) {
  Simulator sim;
  std::vector<int> ran;
  sim.Schedule(Ms(1000), [&] { ran.push_back(2); });
  EXPECT_FALSE(sim.RunWhile([] { return true; }, Ms(1)));
  EXPECT_EQ(sim.now(), Time::Zero());
  EXPECT_EQ(sim.pending_events(), 1u);
  sim.Schedule(Us(2), [&] { ran.push_back(1); });
  sim.Run();
  EXPECT_THAT(ran, ElementsAre(1, 2));
}

TEST(SimulatorTest, LateScheduleAfterAJumpRunsAtNow) {
  Simulator sim;
  Time seen;
  sim.Schedule(Ms(300), [&] { sim.Schedule(Ns(1), [&] { seen = sim.now(); }); });
  sim.Schedule(Ms(300) + Duration::Picoseconds(1), [] {});
  sim.Run();
  EXPECT_EQ(seen, Ms(300));
  EXPECT_EQ(sim.late_schedules(), 1u);
}

// The reference for the differential test: pending events in an ordered map
// keyed by (time, insertion number), which is the order's definition.
class ReferenceQueue {
 public:
  Time now() const { return now_; }
  EventId Schedule(Time at, Simulator::Callback callback) {
    if (at < now_) {
      ++late_schedules_;
      at = now_;
    }
    const Key key{at, next_order_++};
    events_.emplace(key, std::move(callback));
    keys_.emplace(++last_id_, key);
    return last_id_;
  }
  bool Cancel(EventId id) {
    const auto it = keys_.find(id);
    if (it == keys_.end()) return false;
    events_.erase(it->second);
    keys_.erase(it);
    return true;
  }
  bool Step() {
    if (events_.empty()) return false;
    auto node = events_.extract(events_.begin());
    std::erase_if(keys_, [&](const auto& entry) { return entry.second == node.key(); });
    now_ = node.key().first;
    node.mapped()();
    return true;
  }
  Time NextEventTime() const {
    return events_.empty() ? Time::Infinite() : events_.begin()->first.first;
  }
  void RunUntil(Time end) {
    while (!events_.empty() && events_.begin()->first.first <= end) Step();
    if (end > now_) now_ = end;
  }
  bool RunWhile(absl::FunctionRef<bool()> condition, Time deadline) {
    while (true) {
      if (!condition()) return true;
      if (events_.empty() || events_.begin()->first.first > deadline) return false;
      Step();
    }
  }
  void Run() {
    while (Step()) {
    }
  }
  size_t pending_events() const { return events_.size(); }
  uint64_t late_schedules() const { return late_schedules_; }

 private:
  using Key = std::pair<Time, uint64_t>;
  std::map<Key, Simulator::Callback> events_;
  std::map<EventId, Key> keys_;
  Time now_ = Time::Zero();
  uint64_t next_order_ = 0;
  EventId last_id_ = kNoEvent;
  uint64_t late_schedules_ = 0;
};

// A seeded mix of schedules (same instant, late, next bucket, the 100 ns-5 us
// hold of a fabric, past the window, seconds ahead), cancels, steps and runs,
// with events that schedule and cancel others. Everything observable goes
// into a log, so two queues given the same seed must log the same lines.
template <typename Queue>
class RandomMix {
 public:
  explicit RandomMix(uint64_t seed) : random_(seed) {}

  std::vector<std::string> Run(int operations) {
    for (int i = 0; i < operations; ++i) {
      const uint64_t op = random_.Uniform(20);
      if (op < 8) {
        ScheduleToken();
      } else if (op < 11) {
        CancelToken();
      } else if (op < 17) {
        log_.push_back(absl::StrCat("step ", queue_.Step()));
      } else if (op == 17) {
        queue_.RunUntil(RandomTime());
        log_.push_back(absl::StrCat("run until, now ", queue_.now().picoseconds()));
      } else if (op == 18) {
        log_.push_back(absl::StrCat("next ", queue_.NextEventTime().picoseconds()));
      } else {
        uint64_t budget = random_.Uniform(50);
        const bool stopped = queue_.RunWhile([&] { return budget-- > 0; }, RandomTime());
        log_.push_back(absl::StrCat("run while ", stopped, ", now ", queue_.now().picoseconds()));
      }
      log_.push_back(absl::StrCat("pending ", queue_.pending_events()));
    }
    queue_.Run();
    log_.push_back(absl::StrCat("drained at ", queue_.now().picoseconds(), ", late ",
                                queue_.late_schedules()));
    return std::move(log_);
  }

 private:
  Time RandomTime() {
    const int64_t now = queue_.now().picoseconds();
    int64_t at = now;
    switch (random_.Uniform(8)) {
      case 0:  // the current instant
        break;
      case 1:  // a caller bug: in the past
        at -= static_cast<int64_t>(random_.Uniform(5000));
        break;
      case 2:
      case 3:  // this bucket or the next few
        at += static_cast<int64_t>(random_.Uniform(4 * kBucketPs));
        break;
      case 4:
      case 5:  // serialisation, propagation, ACK delay
        at += 100'000 + static_cast<int64_t>(random_.Uniform(4'900'000));
        break;
      case 6:  // timers: around and past the window
        at += static_cast<int64_t>(random_.Uniform(30 * kWindowPs));
        break;
      default:  // failures and time limits
        at += static_cast<int64_t>(random_.Uniform(2'000'000'000'000));
        break;
    }
    // Whole nanoseconds half of the time, so that equal times are common.
    if (random_.Bernoulli(0.5) && at > now) at = (at + 999) / 1000 * 1000;
    return Ps(at);
  }

  void ScheduleToken() {
    const size_t token = ids_.size();
    const Time at = RandomTime();
    ids_.push_back(queue_.Schedule(at, [this, token] { OnEvent(token); }));
    log_.push_back(absl::StrCat("schedule ", token, " at ", at.picoseconds()));
  }

  void CancelToken() {
    if (ids_.empty()) return;
    const size_t token = random_.Uniform(ids_.size());
    log_.push_back(absl::StrCat("cancel ", token, ": ", queue_.Cancel(ids_[token])));
  }

  void OnEvent(size_t token) {
    log_.push_back(absl::StrCat("ran ", token, " at ", queue_.now().picoseconds()));
    const uint64_t action = random_.Uniform(8);
    if (action < 3) ScheduleToken();
    if (action == 3) CancelToken();
  }

  Queue queue_;
  Random random_;
  std::vector<EventId> ids_;  // by token
  std::vector<std::string> log_;
};

TEST(SimulatorTest, RandomMixMatchesTheReferenceOrder) {
  for (uint64_t seed : {1, 2, 3, 4, 5, 42, 1234, 987654321}) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    const std::vector<std::string> want = RandomMix<ReferenceQueue>(seed).Run(20000);
    const std::vector<std::string> got = RandomMix<Simulator>(seed).Run(20000);
    const auto [w, g] = std::mismatch(want.begin(), want.end(), got.begin(), got.end());
    ASSERT_TRUE(w == want.end() && g == got.end())
        << "first difference at log line " << (w - want.begin()) << ": reference \""
        << (w == want.end() ? "<end>" : *w) << "\", simulator \"" << (g == got.end() ? "<end>" : *g)
        << "\"";
  }
}

TEST(DeriveSeedTest, DistinctStreamsAndSeedsGiveDistinctSeeds) {
  std::set<uint64_t> seeds;
  for (uint64_t seed = 0; seed < 32; ++seed) {
    for (uint64_t stream = 0; stream < 32; ++stream) seeds.insert(DeriveSeed(seed, stream));
  }
  EXPECT_EQ(seeds.size(), 32u * 32u);
  EXPECT_EQ(DeriveSeed(7, 3), DeriveSeed(7, 3));
}

}  // namespace
}  // namespace tern::sim
