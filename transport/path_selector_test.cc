#include "transport/path_selector.h"

#include <set>

#include "gtest/gtest.h"
#include "transport/wire.h"

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

// A timeout moves every policy to the next block of entropies: the old block
// lost the packet or its ACK, and no switch routes around a dead link for it.
TEST(PathSelectorTest, ATimeoutMovesToTheNextBlockOfEntropies) {
  for (PathPolicy policy : kPathPolicies) {
    SCOPED_TRACE(PathPolicyName(policy));
    const uint16_t paths = policy == PathPolicy::kSinglePath ? 1 : 4;
    PathSelector selector(policy, 4, kBase);
    selector.OnTimeout();
    std::set<uint16_t> seen;
    for (int i = 0; i < 8; ++i) seen.insert(selector.Next(kNow));
    std::set<uint16_t> next_block;
    for (uint16_t i = 0; i < paths; ++i) next_block.insert(kBase + paths + i);
    EXPECT_EQ(seen, next_block);
    EXPECT_EQ(selector.IndexOf(kBase), -1) << "the old block is no longer the selector's";
    EXPECT_EQ(selector.EntropyOf(0), kBase + paths);
  }
}

// What the selector learnt of the old block says nothing about the new one.
TEST(PathSelectorTest, ATimeoutForgetsPenaltiesAndTheRecycledQueue) {
  for (PathPolicy policy : {PathPolicy::kWeighted, PathPolicy::kRecycled}) {
    SCOPED_TRACE(PathPolicyName(policy));
    PathSelector selector(policy, 4, kBase);
    selector.OnCongestion(kBase, kNow, Duration::Microseconds(100));
    selector.OnDelivered(kBase + 2, /*marked=*/false);
    selector.OnDelivered(kBase + 3, /*marked=*/false);
    selector.OnTimeout();
    const uint16_t block = kBase + 4;
    EXPECT_EQ(selector.Next(kNow), block);
    EXPECT_EQ(selector.Next(kNow), block + 1);
    EXPECT_EQ(selector.Next(kNow), block + 2);
    EXPECT_EQ(selector.Next(kNow), block + 3);
  }
}

TEST(PathSelectorTest, TimeoutsWalkThroughTheEntropyPortsAndWrap) {
  PathSelector selector(PathPolicy::kOblivious, 8, 0xFFF0);
  selector.OnTimeout();
  EXPECT_EQ(selector.Next(kNow), 0xFFF8);
  selector.OnTimeout();  // 0x10000 onwards is no port: back to the start
  EXPECT_EQ(selector.Next(kNow), kEntropyPortBase);
}

TEST(PathSelectorTest, EntropyBlocksStayClearOfTernsOwnPorts) {
  const uint32_t tern_end = uint32_t{kDefaultUdpPort} + kTernUdpPortCount;
  EXPECT_EQ(EntropyBlockFrom(kEntropyPortBase, 8), kEntropyPortBase);
  EXPECT_EQ(EntropyBlockFrom(kDefaultUdpPort - 8, 8), kDefaultUdpPort - 8);
  EXPECT_EQ(EntropyBlockFrom(kDefaultUdpPort - 7, 8), tern_end);
  EXPECT_EQ(EntropyBlockFrom(kDefaultUdpPort + 3, 1), tern_end);
  EXPECT_EQ(EntropyBlockFrom(tern_end, 8), tern_end);
  EXPECT_EQ(EntropyBlockFrom(0x10000 - 8, 8), 0x10000 - 8) << "0xFFFF is an entropy";
  EXPECT_EQ(EntropyBlockFrom(0x10000 - 7, 8), kEntropyPortBase);
  EXPECT_EQ(EntropyBlockFrom(0, 8), kEntropyPortBase);
  // A block too wide for the ports below Tern's starts above them.
  EXPECT_EQ(EntropyBlockFrom(0x10000 - 100, kMaxPaths), tern_end);
  for (uint32_t first = 0; first <= 0x10000; ++first) {
    const uint32_t block = EntropyBlockFrom(first, 16);
    ASSERT_GE(block, kEntropyPortBase) << first;
    ASSERT_LE(block + 16, 0x10000u) << first;
    ASSERT_TRUE(block >= tern_end || block + 16 <= kDefaultUdpPort) << first;
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
