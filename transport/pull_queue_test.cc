#include "transport/pull_queue.h"

#include <vector>

#include "gtest/gtest.h"

namespace tern {
namespace {

std::vector<PullQueue::Slot> Drain(PullQueue& q) {
  std::vector<PullQueue::Slot> out;
  while (!q.empty()) out.push_back(q.Pop());
  return out;
}

TEST(PullQueueTest, FirstInFirstOutAndEachSlotOnce) {
  PullQueue q;
  q.Reserve(4);
  EXPECT_TRUE(q.empty());
  q.Push(2);
  q.Push(0);
  q.Push(3);
  EXPECT_TRUE(q.Contains(0));
  EXPECT_FALSE(q.Contains(1));
  EXPECT_FALSE(q.Contains(9));  // never reserved
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.Pop(), 2u);
  EXPECT_FALSE(q.Contains(2));
  q.Push(2);  // back of the line
  EXPECT_EQ(Drain(q), (std::vector<PullQueue::Slot>{0, 3, 2}));
}

TEST(PullQueueTest, WrapsAroundItsRing) {
  PullQueue q;
  q.Reserve(3);
  for (int round = 0; round < 5; ++round) {
    q.Push(0);
    q.Push(1);
    q.Push(2);
    EXPECT_EQ(q.Pop(), 0u);
    q.Push(0);
    EXPECT_EQ(Drain(q), (std::vector<PullQueue::Slot>{1, 2, 0})) << "round " << round;
  }
}

TEST(PullQueueTest, ReserveKeepsTheOrderOfAWrappedRing) {
  PullQueue q;
  q.Reserve(3);
  q.Push(0);
  q.Push(1);
  EXPECT_EQ(q.Pop(), 0u);
  q.Push(2);
  q.Push(0);  // the ring has wrapped: 1, 2, 0
  q.Reserve(5);
  q.Push(4);
  EXPECT_EQ(Drain(q), (std::vector<PullQueue::Slot>{1, 2, 0, 4}));
}

TEST(PullQueueTest, RemoveTakesASlotOutWhereverItIs) {
  PullQueue q;
  q.Reserve(4);
  q.Push(3);
  q.Push(1);
  q.Push(2);
  q.Remove(1);
  q.Remove(0);  // not queued: nothing happens
  EXPECT_FALSE(q.Contains(1));
  q.Push(1);
  EXPECT_EQ(Drain(q), (std::vector<PullQueue::Slot>{3, 2, 1}));
}

}  // namespace
}  // namespace tern
