#include "transport/receive_tracker.h"

#include "gtest/gtest.h"

namespace tern {
namespace {

using Arrival = ReceiveTracker::Arrival;

TEST(ReceiveTrackerTest, InOrderArrivalsAdvanceTheCumulativePoint) {
  ReceiveTracker tracker(128);
  tracker.Reset(10);
  EXPECT_FALSE(tracker.Record(10));
  EXPECT_FALSE(tracker.Record(11));
  EXPECT_EQ(tracker.cumulative(), 12u);
  EXPECT_FALSE(tracker.HasHoles());
}

TEST(ReceiveTrackerTest, GapOpensHoleAndFillingItJumpsAhead) {
  ReceiveTracker tracker(128);
  tracker.Reset(0);
  EXPECT_TRUE(tracker.Record(2));
  EXPECT_FALSE(tracker.Record(3));
  EXPECT_EQ(tracker.cumulative(), 0u);
  EXPECT_TRUE(tracker.HasHoles());
  EXPECT_FALSE(tracker.Record(1));
  EXPECT_FALSE(tracker.Record(0));
  EXPECT_EQ(tracker.cumulative(), 4u);
}

TEST(ReceiveTrackerTest, DuplicatesBelowAndAboveTheCumulativePoint) {
  ReceiveTracker tracker(128);
  tracker.Reset(0);
  tracker.Record(0);
  tracker.Record(5);
  EXPECT_EQ(tracker.Classify(0), Arrival::kDuplicate);
  EXPECT_EQ(tracker.Classify(5), Arrival::kDuplicate);
  EXPECT_EQ(tracker.Classify(4), Arrival::kNew);
}

TEST(ReceiveTrackerTest, BeyondTheWindowIsRefused) {
  ReceiveTracker tracker(128);
  tracker.Reset(0);
  EXPECT_EQ(tracker.window_end(), 128u);
  EXPECT_EQ(tracker.Classify(127), Arrival::kNew);
  EXPECT_EQ(tracker.Classify(128), Arrival::kOutOfWindow);
}

TEST(ReceiveTrackerTest, WraparoundKeepsCountingAcrossZero) {
  ReceiveTracker tracker(128);
  tracker.Reset(0xFFFFFFFE);
  tracker.Record(0);
  EXPECT_EQ(tracker.Classify(0), Arrival::kDuplicate);
  tracker.Record(0xFFFFFFFE);
  tracker.Record(0xFFFFFFFF);
  EXPECT_EQ(tracker.cumulative(), 1u);
  EXPECT_EQ(tracker.Classify(0xFFFFFFFF), Arrival::kDuplicate);
}

TEST(ReceiveTrackerTest, SackReportsArrivalsAboveTheCumulativePoint) {
  ReceiveTracker tracker(256);
  tracker.Reset(100);
  tracker.Record(101);
  tracker.Record(103);
  tracker.Record(170);
  Psn base;
  uint64_t bits[2];
  tracker.BuildSack(101, false, &base, bits);
  EXPECT_EQ(base, 100u);
  EXPECT_EQ(bits[0], (uint64_t{1} << 1) | (uint64_t{1} << 3));
  EXPECT_EQ(bits[1], uint64_t{1} << (70 - 64));
}

TEST(ReceiveTrackerTest, SackStartsAtTheFocusWhenEverythingCannotFit) {
  ReceiveTracker tracker(1024);
  tracker.Reset(0);
  tracker.Record(500);
  tracker.Record(600);
  Psn base;
  uint64_t bits[2];
  tracker.BuildSack(600, false, &base, bits);
  EXPECT_EQ(base, 600u);
  EXPECT_EQ(bits[0], 1u);
}

TEST(ReceiveTrackerTest, SackKeepsTheHighestArrivalInViewWhenTheFocusIsFarBelow) {
  ReceiveTracker tracker(1024);
  tracker.Reset(0);
  tracker.Record(300);
  tracker.Record(600);
  Psn base;
  uint64_t bits[2];
  tracker.BuildSack(300, false, &base, bits);
  EXPECT_EQ(base, 600u - 127u);
  EXPECT_EQ(bits[1] >> 63, 1u);
}

TEST(ReceiveTrackerTest, SackAtTheCumulativePointKeepsTheOldestHoleInView) {
  ReceiveTracker tracker(1024);
  tracker.Reset(0);
  tracker.Record(1);
  tracker.Record(600);
  Psn base;
  uint64_t bits[2];
  tracker.BuildSack(600, true, &base, bits);
  EXPECT_EQ(base, 0u);
  EXPECT_EQ(bits[0], 0b10u) << "PSN 0 missing, PSN 1 arrived";
}

TEST(ReceiveTrackerTest, SackNeverReportsStaleRingBits) {
  ReceiveTracker tracker(128);
  tracker.Reset(0);
  for (Psn p = 0; p < 300; ++p) tracker.Record(p);
  Psn base;
  uint64_t bits[2];
  tracker.BuildSack(300, false, &base, bits);
  EXPECT_EQ(base, 300u);
  EXPECT_EQ(bits[0], 0u);
  EXPECT_EQ(bits[1], 0u);
}

TEST(AckPolicyTest, CoalescesUntilCountThenFires) {
  AckPolicy policy(3, Duration::Microseconds(5));
  const Time t = Time::FromNanoseconds(1000);
  policy.OnArrival(t, false);
  policy.OnArrival(t, false);
  EXPECT_FALSE(policy.Due(t));
  policy.OnArrival(t, false);
  EXPECT_TRUE(policy.Due(t));
  policy.OnAckSent();
  EXPECT_FALSE(policy.Due(t));
  EXPECT_TRUE(policy.Deadline().IsInfinite());
}

TEST(AckPolicyTest, DelayTimerFiresAfterFirstPendingArrival) {
  AckPolicy policy(100, Duration::Microseconds(5));
  const Time t = Time::FromNanoseconds(1000);
  policy.OnArrival(t, false);
  EXPECT_EQ(policy.Deadline(), t + Duration::Microseconds(5));
  EXPECT_FALSE(policy.Due(t + Duration::Microseconds(4)));
  EXPECT_TRUE(policy.Due(t + Duration::Microseconds(5)));
}

TEST(AckPolicyTest, ImmediateArrivalIsDueAtOnce) {
  AckPolicy policy(100, Duration::Microseconds(5));
  policy.OnArrival(Time::Zero(), true);
  EXPECT_TRUE(policy.Due(Time::Zero()));
}

}  // namespace
}  // namespace tern
