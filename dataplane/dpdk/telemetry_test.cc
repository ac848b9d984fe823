#include "dataplane/dpdk/telemetry.h"

#include <gtest/gtest.h>

#include <vector>

namespace tern::dpdk {
namespace {

WorkerSnapshot SnapshotOf(int worker, uint64_t loops, size_t qps) {
  WorkerSnapshot s;
  s.worker = worker;
  s.counters.loops = loops;
  for (size_t i = 0; i < qps; ++i) {
    QpSnapshot q;
    q.qp_num = static_cast<uint32_t>(0x100 + i);
    s.qps.push_back(q);
  }
  return s;
}

// The board is one per process; worker numbers no other test publishes.
TEST(TelemetryBoardTest, PublishSwapsInTheNewSnapshotAndHandsBackTheOld) {
  TelemetryBoard& board = TelemetryBoard::Instance();
  WorkerSnapshot first = SnapshotOf(70, 1, 3);
  board.Publish(&first);
  EXPECT_TRUE(first.qps.empty()) << "the board keeps the first snapshot of a worker";

  WorkerSnapshot second = SnapshotOf(70, 2, 5);
  board.Publish(&second);
  // The caller holds the previous snapshot now, to refill in place.
  EXPECT_EQ(second.counters.loops, 1u);
  EXPECT_EQ(second.qps.size(), 3u);

  WorkerSnapshot other = SnapshotOf(71, 9, 1);
  board.Publish(&other);
  int seen = 0;
  for (const WorkerSnapshot& s : board.Snapshots()) {
    if (s.worker == 70) {
      ++seen;
      EXPECT_EQ(s.counters.loops, 2u);
      ASSERT_EQ(s.qps.size(), 5u);
      EXPECT_EQ(s.qps[4].qp_num, 0x104u);
    } else if (s.worker == 71) {
      ++seen;
      EXPECT_EQ(s.counters.loops, 9u);
    }
  }
  EXPECT_EQ(seen, 2);
}

}  // namespace
}  // namespace tern::dpdk
