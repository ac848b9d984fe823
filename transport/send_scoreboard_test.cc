#include "transport/send_scoreboard.h"

#include <vector>

#include "gtest/gtest.h"

namespace tern {
namespace {

const uint64_t kNoSack[2] = {0, 0};

Time At(int64_t us) { return Time::FromNanoseconds(us * 1000); }

// The entropy of path index `path` before any re-path.
uint16_t EntropyOf(uint16_t path) { return static_cast<uint16_t>(0xC000 + path); }

// Sends `count` packets of 100 bytes, packet i on path (i % paths) at time i us.
void SendPackets(SendScoreboard& board, int count, uint16_t paths, int64_t start_us = 0) {
  for (int i = 0; i < count; ++i) {
    TxSlot slot{};
    slot.length = 100;
    const Psn psn = board.Append(slot);
    const auto path = static_cast<uint16_t>(i % paths);
    board.OnTransmit(psn, path, EntropyOf(path), At(start_us + i));
  }
}

const Duration kLongThreshold = Duration::Microseconds(1000);
const Duration kMinRtt = Duration::Microseconds(10);

// Applies an ACK; returns the PSNs it declared lost.
std::vector<Psn> Ack(SendScoreboard& board, Psn cumulative, Psn base, const uint64_t (&sack)[2],
                     Time now = At(0), Duration threshold = kLongThreshold) {
  std::vector<Psn> lost;
  board.ApplyAck(
      cumulative, base, sack, now, threshold, kMinRtt, [](Psn, const TxSlot&) {},
      [&](Psn psn, const TxSlot&) { lost.push_back(psn); });
  return lost;
}

std::vector<Psn> PsnRange(Psn first, Psn end) {
  std::vector<Psn> psns;
  for (Psn psn = first; psn != end; ++psn) psns.push_back(psn);
  return psns;
}

TEST(SendScoreboardTest, CumulativeAckFreesSlotsAndBytes) {
  SendScoreboard board(16, 1);
  board.Reset(100);
  SendPackets(board, 5, 1);
  EXPECT_EQ(board.bytes_in_flight(), 500u);
  std::vector<Psn> acked;
  const auto result = board.ApplyAck(
      103, 0, kNoSack, At(0), kLongThreshold, kMinRtt,
      [&](Psn p, const TxSlot&) { acked.push_back(p); }, [](Psn, const TxSlot&) {});
  EXPECT_EQ(result.acked, 3u);
  EXPECT_EQ(acked, (std::vector<Psn>{100, 101, 102}));
  EXPECT_EQ(board.snd_una(), 103u);
  EXPECT_EQ(board.bytes_in_flight(), 200u);
}

TEST(SendScoreboardTest, SackBitsAcknowledgeOutOfOrderAndKeepUna) {
  SendScoreboard board(16, 6);
  board.Reset(0);
  SendPackets(board, 6, 6);                // every packet on its own path: no path-order evidence
  const uint64_t sack[2] = {0b101000, 0};  // PSN 3 and 5
  EXPECT_TRUE(Ack(board, 0, 0, sack).empty());
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
  Ack(board, 2, 0, sack);
  const auto again = board.ApplyAck(
      2, 0, sack, At(0), kLongThreshold, kMinRtt, [](Psn, const TxSlot&) {},
      [](Psn, const TxSlot&) {});
  EXPECT_EQ(again.acked, 0u);
}

TEST(SendScoreboardTest, AckBeyondWhatWasSentIsClamped) {
  SendScoreboard board(16, 1);
  board.Reset(0);
  SendPackets(board, 2, 1);
  Ack(board, 1000, 0, kNoSack);
  EXPECT_EQ(board.snd_una(), 2u);
  EXPECT_TRUE(board.Empty());
}

TEST(SendScoreboardTest, WraparoundAcrossPsnZero) {
  SendScoreboard board(16, 1);
  board.Reset(0xFFFFFFFE);
  SendPackets(board, 4, 1);
  EXPECT_EQ(board.snd_nxt(), 2u);
  const uint64_t sack[2] = {0b10, 0};  // base 0: PSN 1
  Ack(board, 0xFFFFFFFF, 0, sack);
  EXPECT_EQ(board.snd_una(), 0xFFFFFFFFu);
  EXPECT_EQ(board.slot(1).state, SlotState::kAcked);
  Ack(board, 1, 0, kNoSack);
  EXPECT_EQ(board.snd_una(), 2u);
}

TEST(SendScoreboardTest, OvertakenOnTheSamePathIsLost) {
  SendScoreboard board(16, 2);
  board.Reset(0);
  SendPackets(board, 4, 2);              // paths 0,1,0,1
  const uint64_t sack[2] = {0b0100, 0};  // PSN 2 (path 0) arrived; PSN 0 (path 0) did not
  EXPECT_EQ(Ack(board, 0, 0, sack, At(3)), (std::vector<Psn>{0}));
  EXPECT_EQ(board.slot(1).state, SlotState::kInFlight) << "other path: only reordered";
}

TEST(SendScoreboardTest, OvertakenOnAnotherPathWaitsForTheThreshold) {
  SendScoreboard board(16, 2);
  board.Reset(0);
  SendPackets(board, 2, 2);  // PSN 0 path 0 at 0us, PSN 1 path 1 at 1us
  const uint64_t sack[2] = {0b10, 0};
  EXPECT_TRUE(Ack(board, 0, 0, sack, At(5), Duration::Microseconds(10)).empty());
  EXPECT_EQ(Ack(board, 0, 0, sack, At(10), Duration::Microseconds(10)), (std::vector<Psn>{0}));
}

TEST(SendScoreboardTest, PathEvidenceFromAnEarlierAckDoesNotCondemn) {
  // ACKs can arrive out of order. The newer ACK reports PSN 2 (path 0) but its
  // bitmap starts at 2, so it says nothing about PSN 0. The older ACK, arriving
  // later, covers PSN 0 but was generated before anything arrived: combining
  // the two would condemn PSN 0 wrongly.
  SendScoreboard board(16, 2);
  board.Reset(0);
  SendPackets(board, 3, 2);  // PSN 0 path 0, PSN 1 path 1, PSN 2 path 0
  const uint64_t newer[2] = {0b1, 0};
  EXPECT_TRUE(Ack(board, 0, 2, newer, At(4)).empty());
  EXPECT_TRUE(Ack(board, 0, 0, kNoSack, At(5)).empty());
  EXPECT_EQ(board.slot(0).state, SlotState::kInFlight);
}

TEST(SendScoreboardTest, OutsideTheBitmapOnlySendOrderCondemns) {
  SendScoreboard board(1024, 1);
  board.Reset(0);
  SendPackets(board, 300, 1);  // PSN i at i us
  // The bitmap starts at 200: no ACK reports PSNs 0..199 missing, but PSN 200,
  // sent after them, arrived. Those sent more than the threshold before the
  // ACK are lost; the rest, and everything sent after PSN 200, wait.
  const uint64_t sack[2] = {0b1, 0};
  EXPECT_EQ(Ack(board, 0, 200, sack, At(250), Duration::Microseconds(100)), PsnRange(0, 151));
  EXPECT_EQ(board.slot(151).state, SlotState::kInFlight);
  EXPECT_EQ(board.slot(250).state, SlotState::kInFlight);
  EXPECT_EQ(Ack(board, 0, 200, sack, At(10000), Duration::Microseconds(100)), PsnRange(151, 200));
  EXPECT_EQ(board.slot(201).state, SlotState::kInFlight) << "sent after the latest delivery";
}

TEST(SendScoreboardTest, LossRunLongerThanTheBitmapIsFoundAtOnce) {
  // One path; PSNs 0..299 dropped in a burst, 300..309 arrived. An ACK with
  // its bitmap at the cumulative point shows 128 zeros and proves nothing by
  // itself; the one anchored at the arrivals condemns the whole run.
  SendScoreboard board(1024, 1);
  board.Reset(0);
  SendPackets(board, 310, 1);
  EXPECT_TRUE(Ack(board, 0, 0, kNoSack, At(400), Duration::Microseconds(50)).empty());
  const uint64_t arrivals[2] = {0x3ff, 0};
  EXPECT_EQ(Ack(board, 0, 300, arrivals, At(400), Duration::Microseconds(50)), PsnRange(0, 300));
  EXPECT_EQ(board.packets_in_flight(), 0u);
}

TEST(SendScoreboardTest, RetransmissionDeliveredTooSoonDatesNothing) {
  SendScoreboard board(16, 1);
  board.Reset(0);
  SendPackets(board, 2, 1);  // PSN 0 at 0 us, PSN 1 at 1 us
  board.MarkLost(0);
  board.OnTransmit(0, 0, EntropyOf(0), At(100));
  // Acknowledged 5 us after the resend, under the 10 us minimum RTT: the
  // original arrived, so PSN 1 has not been overtaken by a 100 us send.
  EXPECT_TRUE(Ack(board, 1, 0, kNoSack, At(105), Duration::Microseconds(20)).empty());
  EXPECT_EQ(board.slot(1).state, SlotState::kInFlight);
}

TEST(SendScoreboardTest, RetransmissionReportedTooSoonIsNoPathEvidence) {
  SendScoreboard board(16, 2);
  board.Reset(0);
  SendPackets(board, 2, 2);  // PSN 0 on path 0 at 0 us, PSN 1 on path 1 at 1 us
  board.MarkLost(1);
  board.OnTransmit(1, 0, EntropyOf(0), At(100));  // resent on path 0, behind PSN 0
  // 2 us later PSN 1 is reported: its original arrived, on path 1. Taking the
  // report for the resend on path 0 would condemn PSN 0, which nothing overtook.
  const uint64_t sack[2] = {0b10, 0};
  EXPECT_TRUE(Ack(board, 0, 0, sack, At(102)).empty());
  EXPECT_EQ(board.slot(0).state, SlotState::kInFlight);
}

TEST(SendScoreboardTest, RetransmissionDeliveredAfterMinRttDatesLaterLosses) {
  SendScoreboard board(16, 1);
  board.Reset(0);
  SendPackets(board, 2, 1);
  board.MarkLost(0);
  board.OnTransmit(0, 0, EntropyOf(0), At(100));
  // 30 us after the resend: that copy arrived, and PSN 1, sent before it and
  // out for 149 us, is lost.
  EXPECT_EQ(Ack(board, 1, 0, kNoSack, At(130), Duration::Microseconds(20)), (std::vector<Psn>{1}));
}

// After a re-path, path 0 is another entropy: a packet reported there says
// nothing of what the old entropy of path 0 still carries.
TEST(SendScoreboardTest, AReportOnAPathsNewEntropyCondemnsNothingSentOnItsOldOne) {
  for (const bool repathed : {false, true}) {
    SCOPED_TRACE(repathed ? "re-pathed" : "same entropy");
    SendScoreboard board(16, 1);
    board.Reset(0);
    for (Psn psn = 0; psn < 2; ++psn) {
      TxSlot slot{};
      slot.length = 100;
      board.Append(slot);
      const uint16_t entropy = psn == 1 && repathed ? EntropyOf(1) : EntropyOf(0);
      board.OnTransmit(psn, 0, entropy, At(psn));
    }
    const uint64_t sack[2] = {0b10, 0};  // PSN 1 arrived
    EXPECT_EQ(Ack(board, 0, 0, sack, At(20)), repathed ? std::vector<Psn>{} : std::vector<Psn>{0});
  }
}

TEST(SendScoreboardTest, NothingReportedMeansNothingLost) {
  SendScoreboard board(16, 2);
  board.Reset(0);
  SendPackets(board, 4, 2);
  EXPECT_TRUE(Ack(board, 0, 0, kNoSack, At(1000), Duration::Microseconds(1)).empty());
}

TEST(SendScoreboardTest, LostSetYieldsEachLostPacketOnceAndSkipsLateAcks) {
  SendScoreboard board(16, 1);
  board.Reset(0);
  SendPackets(board, 3, 1);
  EXPECT_TRUE(board.MarkLost(0));
  EXPECT_TRUE(board.MarkLost(1));
  EXPECT_FALSE(board.MarkLost(1)) << "already lost";
  EXPECT_EQ(board.bytes_in_flight(), 100u);
  EXPECT_EQ(board.packets_lost(), 2u);
  Ack(board, 1, 0, kNoSack);  // PSN 0 arrived after all
  EXPECT_EQ(board.packets_lost(), 1u);
  Psn psn;
  ASSERT_TRUE(board.NextLost(&psn));
  EXPECT_EQ(psn, 1u);
  board.OnTransmit(1, 0, EntropyOf(0), At(10));
  EXPECT_EQ(board.packets_lost(), 0u);
  EXPECT_FALSE(board.NextLost(&psn));
}

TEST(SendScoreboardTest, LostPacketsAreResentLowestPsnFirst) {
  // Found in the order 7, 3, 5 (a probe, then an ACK): the resend order is
  // 3, 5, 7, so the hole at the receiver's cumulative point closes first.
  SendScoreboard board(16, 1);
  board.Reset(100);
  SendPackets(board, 10, 1);
  for (Psn psn : {107u, 103u, 105u}) board.MarkLost(psn);
  std::vector<Psn> order;
  Psn psn;
  for (int t = 20; board.NextLost(&psn); ++t) {
    order.push_back(psn);
    board.OnTransmit(psn, 0, EntropyOf(0), At(t));
  }
  EXPECT_EQ(order, (std::vector<Psn>{103, 105, 107}));
  board.MarkLost(101);  // below where the last search ended
  ASSERT_TRUE(board.NextLost(&psn));
  EXPECT_EQ(psn, 101u);
}

TEST(SendScoreboardTest, RetransmissionReentersFlightOnItsNewPath) {
  SendScoreboard board(16, 2);
  board.Reset(0);
  SendPackets(board, 1, 2);
  board.MarkLost(0);
  board.OnTransmit(0, 1, EntropyOf(1), At(50));
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
  Ack(board, 1, 0, kNoSack);
  EXPECT_TRUE(board.HasRoom());
}

// The ring starts small and doubles as packets stay outstanding: slots keep
// their contents and states across each growth, also when the outstanding
// run wraps around the ring's end and PSN 0, and the window stays the one
// asked for.
TEST(SendScoreboardTest, SlotsSurviveTheRingGrowingToTheWindow) {
  SendScoreboard board(1000, 1);  // rounded up to 1024
  EXPECT_EQ(board.capacity(), 1024u);
  board.Reset(0xFFFFFFF8);
  SendPackets(board, 12, 1);           // PSNs ...F8 to 3, across the small ring's end
  Ack(board, 0xFFFFFFFC, 0, kNoSack);  // 8 outstanding from ...FC, wrapped
  const int more = 1024 - 8;
  for (int i = 0; i < more; ++i) {
    TxSlot slot{};
    slot.length = static_cast<uint16_t>(i % 1000 + 1);
    slot.offset = static_cast<uint32_t>(i);
    const Psn psn = board.Append(slot);
    board.OnTransmit(psn, 0, EntropyOf(0), At(100 + i));
  }
  EXPECT_FALSE(board.HasRoom());
  EXPECT_EQ(board.outstanding(), 1024u);
  EXPECT_EQ(board.packets_in_flight(), 1024u);
  EXPECT_EQ(board.slot(0xFFFFFFFC).sent_at, At(4));
  EXPECT_EQ(board.slot(3).sent_at, At(11));
  for (int i = 0; i < more; ++i) {
    const TxSlot& s = board.slot(4 + static_cast<Psn>(i));
    ASSERT_EQ(s.offset, static_cast<uint32_t>(i)) << "PSN " << 4 + i;
    ASSERT_EQ(s.length, i % 1000 + 1);
    ASSERT_EQ(s.state, SlotState::kInFlight);
  }
  const uint64_t sack[2] = {0b1, 0};  // base 5: PSN 5 only
  Ack(board, 0xFFFFFFFE, 5, sack);
  EXPECT_EQ(board.slot(5).state, SlotState::kAcked);
  EXPECT_EQ(board.snd_una(), 0xFFFFFFFEu);
  EXPECT_TRUE(board.HasRoom());
}

}  // namespace
}  // namespace tern
