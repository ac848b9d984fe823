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
  tracker.BuildSack(false, &base, bits);
  EXPECT_EQ(base, 100u);
  EXPECT_EQ(bits[0], (uint64_t{1} << 1) | (uint64_t{1} << 3));
  EXPECT_EQ(bits[1], uint64_t{1} << (70 - 64));
}

TEST(ReceiveTrackerTest, SackStartsAtTheLowestArrivalNotYetReported) {
  ReceiveTracker tracker(1024);
  tracker.Reset(0);
  tracker.Record(500);
  tracker.Record(600);
  Psn base;
  uint64_t bits[2];
  tracker.BuildSack(false, &base, bits);
  EXPECT_EQ(base, 500u);
  EXPECT_EQ(bits[0], 1u);
  EXPECT_EQ(bits[1], uint64_t{1} << (100 - 64));
  tracker.Record(900);
  tracker.BuildSack(false, &base, bits);
  EXPECT_EQ(base, 900u) << "500 and 600 were reported";
  EXPECT_EQ(bits[0], 1u);
}

TEST(ReceiveTrackerTest, ArrivalsTooFarApartForOneBitmapAreReportedInTurn) {
  // A retransmission (300) arriving far below new data (600): each is shown
  // by one bitmap. Left out, either would be taken for lost and resent.
  ReceiveTracker tracker(1024);
  tracker.Reset(0);
  tracker.Record(300);
  tracker.Record(600);
  Psn base;
  uint64_t bits[2];
  tracker.BuildSack(false, &base, bits);
  EXPECT_EQ(base, 300u);
  EXPECT_EQ(bits[0], 1u);
  EXPECT_EQ(bits[1], 0u);
  tracker.BuildSack(false, &base, bits);
  EXPECT_EQ(base, 600u);
  EXPECT_EQ(bits[0], 1u);
}

TEST(ReceiveTrackerTest, HasUnreportedUntilEveryArrivalWasShown) {
  ReceiveTracker tracker(1024);
  tracker.Reset(0);
  EXPECT_FALSE(tracker.HasUnreported());
  tracker.Record(300);
  tracker.Record(600);
  EXPECT_TRUE(tracker.HasUnreported());
  Psn base;
  uint64_t bits[2];
  tracker.BuildSack(true, &base, bits);
  EXPECT_TRUE(tracker.HasUnreported()) << "a bitmap at the cumulative point shows neither";
  tracker.BuildSack(false, &base, bits);
  EXPECT_TRUE(tracker.HasUnreported()) << "600 is too far above 300 for the same bitmap";
  tracker.BuildSack(false, &base, bits);
  EXPECT_FALSE(tracker.HasUnreported());
}

TEST(ReceiveTrackerTest, DuplicateIsReportedAgain) {
  ReceiveTracker tracker(1024);
  tracker.Reset(0);
  tracker.Record(300);
  tracker.Record(600);
  Psn base;
  uint64_t bits[2];
  tracker.BuildSack(false, &base, bits);
  tracker.BuildSack(false, &base, bits);
  ASSERT_EQ(base, 600u);
  tracker.Rereport(300);
  tracker.BuildSack(false, &base, bits);
  EXPECT_EQ(base, 300u);
  tracker.Rereport(7);  // never arrived: nothing to report
  tracker.BuildSack(false, &base, bits);
  EXPECT_EQ(base, 0u) << "nothing unreported: the bitmap stays at the cumulative point";
}

TEST(ReceiveTrackerTest, CumulativePointReportsWhatItPasses) {
  ReceiveTracker tracker(1024);
  tracker.Reset(0);
  for (Psn p = 1; p < 200; ++p) tracker.Record(p);
  tracker.Record(700);
  tracker.Record(0);  // the cumulative point jumps to 200
  ASSERT_EQ(tracker.cumulative(), 200u);
  Psn base;
  uint64_t bits[2];
  tracker.BuildSack(false, &base, bits);
  EXPECT_EQ(base, 700u) << "1..199 need no bitmap";
}

TEST(ReceiveTrackerTest, SackAtTheCumulativePointKeepsTheOldestHoleInView) {
  ReceiveTracker tracker(1024);
  tracker.Reset(0);
  tracker.Record(1);
  tracker.Record(600);
  Psn base;
  uint64_t bits[2];
  tracker.BuildSack(true, &base, bits);
  EXPECT_EQ(base, 0u);
  EXPECT_EQ(bits[0], 0b10u) << "PSN 0 missing, PSN 1 arrived";
}

TEST(ReceiveTrackerTest, SackNeverReportsStaleRingBits) {
  ReceiveTracker tracker(128);
  tracker.Reset(0);
  for (Psn p = 0; p < 300; ++p) tracker.Record(p);
  Psn base;
  uint64_t bits[2];
  tracker.BuildSack(false, &base, bits);
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
