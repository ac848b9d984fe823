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

}  // namespace
}  // namespace tern
