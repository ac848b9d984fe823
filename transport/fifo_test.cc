#include "transport/fifo.h"

#include <memory>

#include "gtest/gtest.h"

namespace tern {
namespace {

TEST(FifoTest, KeepsOrderAcrossWrapsAndGrowth) {
  Fifo<int> fifo;
  int next_in = 0;
  int next_out = 0;
  // Push two, pop one, many times: the ring wraps, and grows while wrapped.
  for (int round = 0; round < 1000; ++round) {
    fifo.push_back(next_in++);
    fifo.push_back(next_in++);
    ASSERT_EQ(fifo.front(), next_out++);
    fifo.pop_front();
  }
  EXPECT_EQ(fifo.size(), 1000u);
  while (!fifo.empty()) {
    ASSERT_EQ(fifo.front(), next_out++);
    fifo.pop_front();
  }
  EXPECT_EQ(next_out, next_in);
}

TEST(FifoTest, ReserveKeepsWhatAWrappedRingHolds) {
  Fifo<int> fifo;
  for (int i = 0; i < 4; ++i) fifo.push_back(i);
  fifo.pop_front();
  fifo.pop_front();
  fifo.push_back(4);  // wraps into the freed slots
  fifo.reserve(100);
  for (int i = 5; i < 100; ++i) fifo.push_back(i);
  for (int i = 2; i < 100; ++i) {
    ASSERT_EQ(fifo.front(), i);
    fifo.pop_front();
  }
  EXPECT_TRUE(fifo.empty());
}

TEST(FifoTest, PopFreesWhatTheSlotHeld) {
  Fifo<std::shared_ptr<int>> fifo;
  auto item = std::make_shared<int>(7);
  fifo.push_back(item);
  fifo.push_back(std::make_shared<int>(8));
  EXPECT_EQ(item.use_count(), 2);
  fifo.pop_front();
  EXPECT_EQ(item.use_count(), 1);
  EXPECT_EQ(*fifo.front(), 8);
}

}  // namespace
}  // namespace tern
