#include "dataplane/dpdk/tsc_clock.h"

#include <gtest/gtest.h>

namespace tern::dpdk {
namespace {

TEST(TscClockTest, ConvertsTicksAtTheGivenRate) {
  const TscClock clock(2'500'000'000, 1000);  // 2.5 GHz: 400 ps per tick
  EXPECT_EQ(clock.ToTime(1000), Time::FromPicoseconds(0));
  EXPECT_EQ(clock.ToTime(1001).picoseconds(), 400);
  EXPECT_EQ(clock.ToTime(1000 + 2'500'000'000), Time::FromPicoseconds(1'000'000'000'000));
}

TEST(TscClockTest, OddRatesStayWithinAPicosecondPerSecond) {
  const TscClock clock(2'899'999'997, 0);
  const int64_t ps = clock.ToTime(2'899'999'997ull * 3600).picoseconds();
  EXPECT_NEAR(static_cast<double>(ps), 3600e12, 3600.0 * 1);  // an hour of ticks
}

TEST(TscClockTest, ToTscInvertsToTime) {
  const TscClock clock(3'000'000'000, 12345);
  for (uint64_t tsc : {12345ull, 12346ull, 99'999'999ull, 12345ull + 3'000'000'000ull}) {
    const uint64_t back = clock.ToTsc(clock.ToTime(tsc));
    EXPECT_LE(back > tsc ? back - tsc : tsc - back, 1u) << tsc;
  }
}

}  // namespace
}  // namespace tern::dpdk
