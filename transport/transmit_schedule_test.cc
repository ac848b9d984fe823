// The schedule's contract: members come out due in (wakeup, insertion) order,
// a served member goes behind the others due once its turn is over, idle and
// removed members never come out, and NextWakeup is the earliest key.
#include "transport/transmit_schedule.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern {
namespace {

using ::testing::ElementsAre;
using Slot = TransmitSchedule::Slot;

Time Us(int64_t us) { return Time::Zero() + Duration::Microseconds(us); }

std::vector<Slot> PopAllDue(TransmitSchedule& s, Time now) {
  std::vector<Slot> out;
  Slot slot;
  while (s.PopDue(now, &slot)) out.push_back(slot);
  return out;
}

TEST(TransmitScheduleTest, NewMembersAreIdle) {
  TransmitSchedule s;
  s.Add();
  s.Add();
  EXPECT_EQ(s.NextWakeup(), Time::Infinite());
  EXPECT_TRUE(PopAllDue(s, Time::Infinite()).empty());
}

TEST(TransmitScheduleTest, DueMembersComeOutByWakeupThenInsertion) {
  TransmitSchedule s;
  const Slot a = s.Add(), b = s.Add(), c = s.Add(), d = s.Add();
  s.Set(a, Us(5));
  s.Set(b, Us(3));
  s.Set(c, Us(5));
  s.Set(d, Us(9));
  EXPECT_EQ(s.NextWakeup(), Us(3));
  EXPECT_THAT(PopAllDue(s, Us(5)), ElementsAre(b, a, c));
  EXPECT_EQ(s.NextWakeup(), Us(9));
}

TEST(TransmitScheduleTest, NotDueBeforeItsWakeup) {
  TransmitSchedule s;
  const Slot a = s.Add();
  s.Set(a, Us(10));
  Slot slot;
  EXPECT_FALSE(s.PopDue(Us(10) - Duration::Nanoseconds(1), &slot));
  EXPECT_TRUE(s.PopDue(Us(10), &slot));
  EXPECT_EQ(slot, a);
}

TEST(TransmitScheduleTest, ServedMemberGoesBehindTheOthersDue) {
  TransmitSchedule s;
  const Slot a = s.Add(), b = s.Add(), c = s.Add();
  for (Slot m : {a, b, c}) s.Set(m, Time::Zero());
  std::vector<Slot> order;
  Slot slot;
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(s.PopDue(Us(1), &slot));
    order.push_back(slot);
    // An unpaced member's wakeup stays in the past: it must not jump ahead.
    s.Served(slot, Us(1), Time::Zero());
  }
  EXPECT_THAT(order, ElementsAre(a, b, c, a, b, c, a));
}

// Pops and serves `count` times at `now`, each member unpaced (wakeup in the
// past); returns who sent.
std::vector<Slot> ServeUnpaced(TransmitSchedule& s, Time now, int count) {
  std::vector<Slot> order;
  Slot slot;
  for (int i = 0; i < count && s.PopDue(now, &slot); ++i) {
    order.push_back(slot);
    s.Served(slot, now, Time::Zero());
  }
  return order;
}

TEST(TransmitScheduleTest, MemberSendsItsWholeTurnBeforeTheNextDue) {
  TransmitSchedule s(/*packets_per_turn=*/3);
  const Slot a = s.Add(), b = s.Add();
  s.Set(a, Time::Zero());
  s.Set(b, Time::Zero());
  EXPECT_THAT(ServeUnpaced(s, Us(1), 8), ElementsAre(a, a, a, b, b, b, a, a));
}

TEST(TransmitScheduleTest, TurnLastsAcrossPolls) {
  // A simulated NIC polls for one packet at a time: the turn must not depend
  // on how many packets each poll asks for.
  TransmitSchedule s(/*packets_per_turn=*/2);
  const Slot a = s.Add(), b = s.Add();
  s.Set(a, Time::Zero());
  s.Set(b, Time::Zero());
  std::vector<Slot> order;
  for (int poll = 1; poll <= 4; ++poll) {
    for (Slot m : ServeUnpaced(s, Us(poll), 1)) order.push_back(m);
  }
  EXPECT_THAT(order, ElementsAre(a, a, b, b));
}

TEST(TransmitScheduleTest, TurnEndsWhenTheMemberHasNothingDueNow) {
  TransmitSchedule s(/*packets_per_turn=*/4);
  const Slot a = s.Add(), b = s.Add();
  s.Set(a, Time::Zero());
  s.Set(b, Time::Zero());
  Slot slot;
  ASSERT_TRUE(s.PopDue(Us(1), &slot));
  ASSERT_EQ(slot, a);
  s.Served(a, Us(1), Us(3));  // paced: its next packet is due at 3 us
  EXPECT_THAT(ServeUnpaced(s, Us(2), 4), ElementsAre(b, b, b, b));
  // At 3 us b (waiting since its turn ended at 2 us) goes first, then a, due
  // again, gets a whole turn of its own.
  EXPECT_THAT(ServeUnpaced(s, Us(3), 9), ElementsAre(b, b, b, b, a, a, a, a, b));
}

TEST(TransmitScheduleTest, UnchangedWakeupKeepsTheMembersPlace) {
  TransmitSchedule s;
  const Slot a = s.Add(), b = s.Add();
  s.Set(a, Time::Zero());
  s.Served(b, Us(1), Time::Zero());  // b behind a, keyed at 1 us
  s.Set(b, Time::Zero());            // news for b: its place stays at 1 us
  s.Set(a, Time::Zero());            // no change: a stays first
  EXPECT_THAT(PopAllDue(s, Us(2)), ElementsAre(a, b));
}

TEST(TransmitScheduleTest, IdleAndRemovedMembersNeverComeOut) {
  TransmitSchedule s;
  const Slot a = s.Add(), b = s.Add(), c = s.Add();
  s.Set(a, Us(1));
  s.Set(b, Us(2));
  s.Set(c, Us(3));
  s.Set(a, Time::Infinite());
  s.Remove(b);
  EXPECT_EQ(s.scheduled(), 1u);
  EXPECT_THAT(PopAllDue(s, Us(10)), ElementsAre(c));
  // The slot comes back idle.
  EXPECT_EQ(s.Add(), b);
  EXPECT_EQ(s.NextWakeup(), Time::Infinite());
}

TEST(TransmitScheduleTest, NextWakeupIsTheEarliestUnderRandomChanges) {
  constexpr int kMembers = 64;
  TransmitSchedule s;
  std::vector<Time> wakeup(kMembers, Time::Infinite());
  for (int i = 0; i < kMembers; ++i) s.Add();
  uint64_t x = 12345;
  auto next = [&] { return x = x * 6364136223846793005ull + 1442695040888963407ull; };
  for (int step = 0; step < 5000; ++step) {
    const Slot m = static_cast<Slot>((next() >> 33) % kMembers);
    const uint64_t r = next() >> 33;
    wakeup[m] = r % 5 == 0 ? Time::Infinite() : Us(static_cast<int64_t>(r % 1000));
    s.Set(m, wakeup[m]);
    Time earliest = Time::Infinite();
    for (Time w : wakeup) earliest = std::min(earliest, w);
    ASSERT_EQ(s.NextWakeup(), earliest) << "step " << step;
  }
}

}  // namespace
}  // namespace tern
