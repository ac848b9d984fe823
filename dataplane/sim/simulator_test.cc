#include "dataplane/sim/simulator.h"

#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::sim {
namespace {

using ::testing::ElementsAre;

Time Ns(int64_t ns) { return Time::FromNanoseconds(ns); }

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
