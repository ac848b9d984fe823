#include "transport/path_selector.h"

#include <set>

#include "gtest/gtest.h"

namespace tern {
namespace {

constexpr uint16_t kBase = 50000;
const Time kNow = Time::FromNanoseconds(1000);

TEST(PathSelectorTest, SinglePathAlwaysUsesTheBaseEntropy) {
  PathSelector selector(PathPolicy::kSinglePath, 8, kBase);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(selector.Next(kNow), kBase);
  EXPECT_EQ(selector.NextAvoiding(kBase, kNow), kBase);
}

TEST(PathSelectorTest, ObliviousSprayingVisitsEveryPathInTurn) {
  PathSelector selector(PathPolicy::kOblivious, 4, kBase);
  std::vector<uint16_t> seen;
  for (int i = 0; i < 8; ++i) seen.push_back(selector.Next(kNow));
  EXPECT_EQ(seen, (std::vector<uint16_t>{kBase, kBase + 1, kBase + 2, kBase + 3, kBase, kBase + 1,
                                         kBase + 2, kBase + 3}));
}

TEST(PathSelectorTest, ObliviousIgnoresCongestionFeedback) {
  PathSelector selector(PathPolicy::kOblivious, 2, kBase);
  selector.OnCongestion(kBase, kNow, Duration::Microseconds(100));
  EXPECT_EQ(selector.Next(kNow), kBase);
}

TEST(PathSelectorTest, RetransmissionAvoidsThePreviousPath) {
  PathSelector selector(PathPolicy::kOblivious, 4, kBase);
  for (int i = 0; i < 16; ++i) EXPECT_NE(selector.NextAvoiding(kBase + 2, kNow), kBase + 2);
}

TEST(PathSelectorTest, WeightedSkipsPenalisedPathUntilPenaltyEnds) {
  PathSelector selector(PathPolicy::kWeighted, 4, kBase);
  selector.OnCongestion(kBase + 1, kNow, Duration::Microseconds(10));
  std::set<uint16_t> during;
  for (int i = 0; i < 12; ++i) during.insert(selector.Next(kNow));
  EXPECT_EQ(during, (std::set<uint16_t>{kBase, kBase + 2, kBase + 3}));
  std::set<uint16_t> after;
  const Time later = kNow + Duration::Microseconds(10);
  for (int i = 0; i < 12; ++i) after.insert(selector.Next(later));
  EXPECT_EQ(after.size(), 4u);
}

TEST(PathSelectorTest, WeightedWithEveryPathPenalisedPicksTheEarliestToRecover) {
  PathSelector selector(PathPolicy::kWeighted, 3, kBase);
  selector.OnCongestion(kBase + 0, kNow, Duration::Microseconds(30));
  selector.OnCongestion(kBase + 1, kNow, Duration::Microseconds(10));
  selector.OnCongestion(kBase + 2, kNow, Duration::Microseconds(20));
  EXPECT_EQ(selector.Next(kNow), kBase + 1);
}

TEST(PathSelectorTest, UnknownEntropyFeedbackIsIgnored) {
  PathSelector selector(PathPolicy::kWeighted, 2, kBase);
  selector.OnCongestion(1234, kNow, Duration::Microseconds(10));
  EXPECT_EQ(selector.IndexOf(1234), -1);
  EXPECT_EQ(selector.Next(kNow), kBase);
  EXPECT_EQ(selector.Next(kNow), kBase + 1);
}

TEST(PathSelectorTest, RecycledReusesEntropiesOfUnmarkedDeliveriesOldestFirst) {
  PathSelector selector(PathPolicy::kRecycled, 8, kBase);
  EXPECT_EQ(selector.Next(kNow), kBase);  // nothing delivered yet: round-robin
  selector.OnDelivered(kBase + 5, /*marked=*/false);
  selector.OnDelivered(kBase + 2, /*marked=*/false);
  selector.OnDelivered(kBase + 5, /*marked=*/false);
  EXPECT_EQ(selector.Next(kNow), kBase + 5);
  EXPECT_EQ(selector.Next(kNow), kBase + 2);
  EXPECT_EQ(selector.Next(kNow), kBase + 5);
  EXPECT_EQ(selector.Next(kNow), kBase + 1);  // used up: round-robin again
}

TEST(PathSelectorTest, RecycledSkipsDeliveriesOfMarkedAcks) {
  PathSelector selector(PathPolicy::kRecycled, 8, kBase);
  selector.OnDelivered(kBase + 5, /*marked=*/true);
  EXPECT_EQ(selector.Next(kNow), kBase);
  EXPECT_EQ(selector.Next(kNow), kBase + 1);
}

// A congested path drops out of the recycled policy's rotation because its
// marked packets do not come back; a penalty steers only the exploration.
TEST(PathSelectorTest, RecycledUsesQueuedEntropiesDespitePenaltiesAndExploresAroundThem) {
  PathSelector selector(PathPolicy::kRecycled, 4, kBase);
  selector.OnDelivered(kBase + 1, /*marked=*/false);
  selector.OnCongestion(kBase + 1, kNow, Duration::Microseconds(10));
  EXPECT_EQ(selector.Next(kNow), kBase + 1);
  std::set<uint16_t> explored;
  for (int i = 0; i < 12; ++i) explored.insert(selector.Next(kNow));
  EXPECT_EQ(explored, (std::set<uint16_t>{kBase, kBase + 2, kBase + 3}));
}

TEST(PathSelectorTest, RecycledRetransmissionTakesAnotherPathAndKeepsTheQueuedOne) {
  PathSelector selector(PathPolicy::kRecycled, 4, kBase);
  selector.OnDelivered(kBase + 2, /*marked=*/false);
  selector.OnDelivered(kBase + 3, /*marked=*/false);
  EXPECT_EQ(selector.NextAvoiding(kBase + 2, kNow), kBase + 3);
  EXPECT_EQ(selector.Next(kNow), kBase + 2);
  // Only the excluded path is queued: explore instead, and keep it.
  selector.OnDelivered(kBase + 1, /*marked=*/false);
  EXPECT_NE(selector.NextAvoiding(kBase + 1, kNow), kBase + 1);
  EXPECT_EQ(selector.Next(kNow), kBase + 1);
}

TEST(PathSelectorTest, RecycledQueueOverwritesItsOldestEntryWhenFull) {
  PathSelector selector(PathPolicy::kRecycled, 128, kBase);
  // 64 entries fit; the 65th delivery pushes out the first.
  for (uint16_t i = 0; i <= 64; ++i) selector.OnDelivered(kBase + 10 + i, /*marked=*/false);
  for (uint16_t i = 1; i <= 64; ++i) EXPECT_EQ(selector.Next(kNow), kBase + 10 + i) << i;
  EXPECT_EQ(selector.Next(kNow), kBase);
}

TEST(PathSelectorTest, RecycledForgetsItsQueueOnATimeout) {
  PathSelector selector(PathPolicy::kRecycled, 8, kBase);
  selector.OnDelivered(kBase + 5, /*marked=*/false);
  selector.OnDelivered(kBase + 6, /*marked=*/false);
  selector.OnTimeout();
  EXPECT_EQ(selector.Next(kNow), kBase);
  EXPECT_EQ(selector.Next(kNow), kBase + 1);
}

// After a timeout the resend may take a penalised path: the penalties were
// learnt before the silence, and the penalised path may be the one that works.
TEST(PathSelectorTest, AfterATimeoutOnePickIgnoresPenalties) {
  for (PathPolicy policy : {PathPolicy::kWeighted, PathPolicy::kRecycled}) {
    SCOPED_TRACE(PathPolicyName(policy));
    PathSelector selector(policy, 4, kBase);
    selector.OnCongestion(kBase, kNow, Duration::Microseconds(100));
    EXPECT_EQ(selector.Next(kNow), kBase + 1);
    EXPECT_EQ(selector.Next(kNow), kBase + 2);
    EXPECT_EQ(selector.Next(kNow), kBase + 3);
    selector.OnTimeout();
    EXPECT_EQ(selector.Next(kNow), kBase);
    EXPECT_EQ(selector.Next(kNow), kBase + 1);
    EXPECT_EQ(selector.Next(kNow), kBase + 2);
    EXPECT_EQ(selector.Next(kNow), kBase + 3);
    EXPECT_EQ(selector.Next(kNow), kBase + 1);  // penalties apply again
  }
}

TEST(PathSelectorTest, OnlyTheRecycledPolicyReusesDeliveredEntropies) {
  for (PathPolicy policy : {PathPolicy::kOblivious, PathPolicy::kWeighted}) {
    PathSelector selector(policy, 8, kBase);
    selector.OnDelivered(kBase + 5, /*marked=*/false);
    EXPECT_EQ(selector.Next(kNow), kBase) << PathPolicyName(policy);
  }
}

TEST(PathSelectorTest, PolicyNamesParseBack) {
  for (PathPolicy policy : kPathPolicies) {
    EXPECT_EQ(ParsePathPolicy(PathPolicyName(policy)), policy);
  }
  EXPECT_EQ(PathPolicyNames(), "single|oblivious|weighted|recycled");
  EXPECT_EQ(ParsePathPolicy("reps"), std::nullopt);
  EXPECT_EQ(ParsePathPolicy(""), std::nullopt);
}

}  // namespace
}  // namespace tern
