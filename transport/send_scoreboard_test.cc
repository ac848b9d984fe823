#include "transport/send_scoreboard.h"

#include <vector>

#include "gtest/gtest.h"

namespace tern {
namespace {

const uint64_t kNoSack[2] = {0, 0};

Time At(int64_t us) { return Time::FromNanoseconds(us * 1000); }

// Sends `count` packets of 100 bytes, packet i on path (i % paths) at time i us.
void SendPackets(SendScoreboard& board, int count, uint16_t paths, int64_t start_us = 0) {
  for (int i = 0; i < count; ++i) {
    TxSlot slot{};
    slot.length = 100;
    const Psn psn = board.Append(slot);
    board.OnTransmit(psn, static_cast<uint16_t>(i % paths), At(start_us + i));
  }
}

std::vector<Psn> Lost(SendScoreboard& board, Time now, Duration threshold) {
  std::vector<Psn> lost;
  board.DetectLosses(now, threshold, [&](Psn psn, const TxSlot&) { lost.push_back(psn); });
  return lost;
}

TEST(SendScoreboardTest, CumulativeAckFreesSlotsAndBytes) {
  SendScoreboard board(16, 1);
  board.Reset(100);
  SendPackets(board, 5, 1);
  EXPECT_EQ(board.bytes_in_flight(), 500u);
  std::vector<Psn> acked;
  EXPECT_EQ(board.ApplyAck(103, 0, kNoSack, [&](Psn p, const TxSlot&) { acked.push_back(p); }),
            3u);
  EXPECT_EQ(acked, (std::vector<Psn>{100, 101, 102}));
  EXPECT_EQ(board.snd_una(), 103u);
  EXPECT_EQ(board.bytes_in_flight(), 200u);
}

TEST(SendScoreboardTest, SackBitsAcknowledgeOutOfOrderAndKeepUna) {
  SendScoreboard board(16, 1);
  board.Reset(0);
  SendPackets(board, 6, 1);
  const uint64_t sack[2] = {0b101000, 0};  // PSN 3 and 5
  EXPECT_EQ(board.ApplyAck(0, 0, sack, [](Psn, const TxSlot&) {}), 2u);
  EXPECT_EQ(board.snd_una(), 0u);
  EXPECT_EQ(board.slot(3).state, SlotState::kAcked);
  EXPECT_EQ(board.slot(4).state, SlotState::kInFlight);
  EXPECT_EQ(board.bytes_in_flight(), 400u);
}

TEST(SendScoreboardTest, RepeatedAckCountsNothingTwice) {
  SendScoreboard board(16, 1);
  board.Reset(0);
  SendPackets(board, 4, 1);
  const uint64_t sack[2] = {0b1000, 0};
  board.ApplyAck(2, 0, sack, [](Psn, const TxSlot&) {});
  EXPECT_EQ(board.ApplyAck(2, 0, sack, [](Psn, const TxSlot&) {}), 0u);
}

TEST(SendScoreboardTest, AckBeyondWhatWasSentIsClamped) {
  SendScoreboard board(16, 1);
  board.Reset(0);
  SendPackets(board, 2, 1);
  EXPECT_EQ(board.ApplyAck(1000, 0, kNoSack, [](Psn, const TxSlot&) {}), 2u);
  EXPECT_EQ(board.snd_una(), 2u);
  EXPECT_TRUE(board.Empty());
}

TEST(SendScoreboardTest, WraparoundAcrossPsnZero) {
  SendScoreboard board(16, 1);
  board.Reset(0xFFFFFFFE);
  SendPackets(board, 4, 1);
  EXPECT_EQ(board.snd_nxt(), 2u);
  const uint64_t sack[2] = {0b10, 0};  // base 0: PSN 1
  board.ApplyAck(0xFFFFFFFF, 0, sack, [](Psn, const TxSlot&) {});
  EXPECT_EQ(board.snd_una(), 0xFFFFFFFFu);
  EXPECT_EQ(board.slot(1).state, SlotState::kAcked);
  board.ApplyAck(1, 0, kNoSack, [](Psn, const TxSlot&) {});
  EXPECT_EQ(board.snd_una(), 2u);
}

TEST(SendScoreboardTest, OvertakenOnTheSamePathIsLost) {
  SendScoreboard board(16, 2);
  board.Reset(0);
  SendPackets(board, 4, 2);  // paths 0,1,0,1
  const uint64_t sack[2] = {0b0100, 0};  // PSN 2 (path 0) arrived; PSN 0 (path 0) did not
  board.ApplyAck(0, 0, sack, [](Psn, const TxSlot&) {});
  EXPECT_EQ(Lost(board, At(3), Duration::Microseconds(100)), (std::vector<Psn>{0}));
  EXPECT_EQ(board.slot(1).state, SlotState::kInFlight) << "other path: only reordered";
}

TEST(SendScoreboardTest, OvertakenOnAnotherPathWaitsForTheThreshold) {
  SendScoreboard board(16, 2);
  board.Reset(0);
  SendPackets(board, 2, 2);  // PSN 0 path 0 at 0us, PSN 1 path 1 at 1us
  const uint64_t sack[2] = {0b10, 0};
  board.ApplyAck(0, 0, sack, [](Psn, const TxSlot&) {});
  EXPECT_TRUE(Lost(board, At(5), Duration::Microseconds(10)).empty());
  EXPECT_EQ(board.NextLossCheck(Duration::Microseconds(10)), At(10));
  EXPECT_EQ(Lost(board, At(10), Duration::Microseconds(10)), (std::vector<Psn>{0}));
}

TEST(SendScoreboardTest, NothingAckedMeansNothingLost) {
  SendScoreboard board(16, 2);
  board.Reset(0);
  SendPackets(board, 4, 2);
  EXPECT_TRUE(Lost(board, At(1000), Duration::Microseconds(1)).empty());
  EXPECT_TRUE(board.NextLossCheck(Duration::Microseconds(1)).IsInfinite());
}

TEST(SendScoreboardTest, LostQueueYieldsEachLostPacketOnceAndSkipsLateAcks) {
  SendScoreboard board(16, 1);
  board.Reset(0);
  SendPackets(board, 3, 1);
  EXPECT_TRUE(board.MarkLost(0));
  EXPECT_TRUE(board.MarkLost(1));
  EXPECT_FALSE(board.MarkLost(1)) << "already lost";
  EXPECT_EQ(board.bytes_in_flight(), 100u);
  board.ApplyAck(1, 0, kNoSack, [](Psn, const TxSlot&) {});  // PSN 0 arrived after all
  Psn psn;
  ASSERT_TRUE(board.PeekLost(&psn));
  EXPECT_EQ(psn, 1u);
  board.PopLost();
  EXPECT_FALSE(board.PeekLost(&psn));
}

TEST(SendScoreboardTest, RetransmissionReentersFlightOnItsNewPath) {
  SendScoreboard board(16, 2);
  board.Reset(0);
  SendPackets(board, 1, 2);
  board.MarkLost(0);
  board.OnTransmit(0, 1, At(50));
  EXPECT_EQ(board.slot(0).state, SlotState::kInFlight);
  EXPECT_EQ(board.slot(0).path, 1u);
  EXPECT_EQ(board.slot(0).transmissions, 2u);
  EXPECT_EQ(board.bytes_in_flight(), 100u);
}

TEST(SendScoreboardTest, WindowFillsAtCapacity) {
  SendScoreboard board(16, 1);
  board.Reset(0);
  SendPackets(board, 16, 1);
  EXPECT_FALSE(board.HasRoom());
  board.ApplyAck(1, 0, kNoSack, [](Psn, const TxSlot&) {});
  EXPECT_TRUE(board.HasRoom());
}

}  // namespace
}  // namespace tern
