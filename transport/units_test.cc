// Tests of the header-only base types: units.h, sequence.h and random.h.

#include <cstdint>
#include <limits>
#include <set>

#include "gtest/gtest.h"
#include "transport/sequence.h"

// units.h and random.h use __int128, which -Wpedantic (warning_level=3) flags.
#include "transport/random.h"
#include "transport/units.h"

namespace tern {
namespace {

// ---------------------------------------------------------------------------
// Duration.

TEST(DurationTest, FactoriesScaleToPicoseconds) {
  EXPECT_EQ(Duration::Picoseconds(7).picoseconds(), 7);
  EXPECT_EQ(Duration::Nanoseconds(3).picoseconds(), 3'000);
  EXPECT_EQ(Duration::Microseconds(2).picoseconds(), 2'000'000);
  EXPECT_EQ(Duration::Milliseconds(5).picoseconds(), 5'000'000'000);
  EXPECT_EQ(Duration::Seconds(1.5).picoseconds(), 1'500'000'000'000);
  EXPECT_EQ(Duration::Microseconds(4).nanoseconds(), 4'000);
}

TEST(DurationTest, SecondsRoundsToNearestPicosecond) {
  // 4.1 * 1e12 is 4099999999999.9995 in doubles: truncation lost a picosecond.
  EXPECT_EQ(Duration::Seconds(4.1).picoseconds(), 4'100'000'000'000);
  EXPECT_EQ(Duration::Seconds(2.4e-12).picoseconds(), 2);
  EXPECT_EQ(Duration::Seconds(2.6e-12).picoseconds(), 3);
  EXPECT_EQ(Duration::Seconds(-1.5).picoseconds(), -1'500'000'000'000);
}

TEST(DurationTest, ArithmeticAndComparison) {
  const Duration a = Duration::Nanoseconds(10);
  const Duration b = Duration::Nanoseconds(4);
  EXPECT_EQ(a + b, Duration::Nanoseconds(14));
  EXPECT_EQ(a - b, Duration::Nanoseconds(6));
  EXPECT_EQ(b - a, Duration::Nanoseconds(-6));
  EXPECT_EQ(a * 3, Duration::Nanoseconds(30));
  EXPECT_EQ(a / 4, Duration::Picoseconds(2'500));
  Duration c = a;
  c += b;
  EXPECT_EQ(c, Duration::Nanoseconds(14));
  c -= a;
  EXPECT_EQ(c, b);
  EXPECT_LT(b, a);
  EXPECT_GT(Duration::Infinite(), a);
  EXPECT_TRUE(Duration::Zero().IsZero());
  EXPECT_TRUE(Duration::Infinite().IsInfinite());
}

// A floating-point factor used to convert silently to int64_t, so d * 0.5 was
// d * 0. It no longer compiles, for * and / alike; integer factors still do.
// (A requires-expression has to be in a template to test an invalid
// expression without being a hard error itself.)
template <typename Factor>
constexpr bool kDurationTimes = requires(Duration d, Factor k) {
  d* k;
};
template <typename Factor>
constexpr bool kDurationOver = requires(Duration d, Factor k) {
  d / k;
};
static_assert(kDurationTimes<int64_t>);
static_assert(kDurationTimes<int>);
static_assert(kDurationTimes<uint32_t>);
static_assert(!kDurationTimes<double>);
static_assert(!kDurationTimes<float>);
static_assert(!kDurationTimes<long double>);
static_assert(kDurationOver<int64_t>);
static_assert(!kDurationOver<double>);
static_assert(!kDurationOver<float>);
// Likewise a fractional count of a unit: Microseconds(2.5) was 2 us.
template <typename Count>
constexpr bool kCountsMicroseconds = requires(Count n) {
  Duration::Microseconds(n);
};
template <typename Count>
constexpr bool kCountsNanoseconds = requires(Count n) {
  Duration::Nanoseconds(n);
};
static_assert(kCountsMicroseconds<int>);
static_assert(kCountsMicroseconds<int64_t>);
static_assert(kCountsMicroseconds<uint32_t>);
static_assert(!kCountsMicroseconds<double>);
static_assert(!kCountsMicroseconds<float>);
static_assert(kCountsNanoseconds<int64_t>);
static_assert(!kCountsNanoseconds<double>);
static_assert(Duration::Nanoseconds(2).Scaled(0.25) == Duration::Picoseconds(500));

TEST(DurationTest, ScaledRoundsToNearestPicosecond) {
  EXPECT_EQ(Duration::Nanoseconds(10).Scaled(1.5), Duration::Nanoseconds(15));
  EXPECT_EQ(Duration::Nanoseconds(10).Scaled(0.5), Duration::Nanoseconds(5));
  EXPECT_EQ(Duration::Picoseconds(10).Scaled(0.33), Duration::Picoseconds(3));  // 3.3
  EXPECT_EQ(Duration::Picoseconds(10).Scaled(0.37), Duration::Picoseconds(4));  // 3.7
  // Halves round away from zero, on both sides.
  EXPECT_EQ(Duration::Picoseconds(5).Scaled(0.5), Duration::Picoseconds(3));
  EXPECT_EQ(Duration::Picoseconds(3).Scaled(0.5), Duration::Picoseconds(2));
  EXPECT_EQ(Duration::Picoseconds(-5).Scaled(0.5), Duration::Picoseconds(-3));
  EXPECT_EQ(Duration::Picoseconds(-10).Scaled(0.33), Duration::Picoseconds(-3));
  // Just under a half rounds down (adding 0.5 and truncating would round up).
  EXPECT_EQ(Duration::Picoseconds(1).Scaled(0.49999999999999994), Duration::Zero());
  // 2.01 * 1e6 is 2009999.9999999998 in doubles: truncation lost a picosecond.
  EXPECT_EQ(Duration::Microseconds(1).Scaled(2.01), Duration::Picoseconds(2'010'000));
  EXPECT_EQ(Duration::Nanoseconds(7).Scaled(1.0), Duration::Nanoseconds(7));
  EXPECT_EQ(Duration::Nanoseconds(7).Scaled(0.0), Duration::Zero());
  EXPECT_EQ(Duration::Nanoseconds(7).Scaled(-2.0), Duration::Nanoseconds(-14));
}

TEST(DurationTest, FractionalMicrosecondsRoundToThePicosecond) {
  EXPECT_EQ(Duration::FractionalMicroseconds(2.5), Duration::Nanoseconds(2500));
  EXPECT_EQ(Duration::FractionalMicroseconds(2.01), Duration::Picoseconds(2'010'000));
  EXPECT_EQ(Duration::FractionalMicroseconds(1e-6), Duration::Picoseconds(1));
  EXPECT_EQ(Duration::FractionalMicroseconds(4e-7), Duration::Zero());
  EXPECT_EQ(Duration::FractionalMicroseconds(-3), Duration::Microseconds(-3));
}

TEST(DurationTest, ScaledSaturatesAndKeepsInfinite) {
  EXPECT_TRUE(Duration::Infinite().Scaled(0.5).IsInfinite());
  EXPECT_TRUE(Duration::Infinite().Scaled(3.0).IsInfinite());
  const Duration big = Duration::Picoseconds(std::numeric_limits<int64_t>::max() / 2);
  EXPECT_TRUE(big.Scaled(4.0).IsInfinite());
  EXPECT_EQ(big.Scaled(-4.0).picoseconds(), std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(
      Duration::Nanoseconds(1).Scaled(std::numeric_limits<double>::quiet_NaN()).IsInfinite());
}

TEST(DurationTest, ToStringPicksUnitByMagnitude) {
  EXPECT_EQ(Duration::Picoseconds(250).ToString(), "250ps");
  EXPECT_EQ(Duration::Picoseconds(-250).ToString(), "-250ps");
  EXPECT_EQ(Duration::Picoseconds(1'500).ToString(), "1.500ns");
  EXPECT_EQ(Duration::Nanoseconds(1'500).ToString(), "1.500us");
  EXPECT_EQ(Duration::Microseconds(2'250).ToString(), "2.250ms");
  EXPECT_EQ(Duration::Seconds(3).ToString(), "3.000s");
  EXPECT_EQ(Duration::Zero().ToString(), "0ps");
  EXPECT_EQ(Duration::Infinite().ToString(), "inf");
}

// ---------------------------------------------------------------------------
// Time.

TEST(TimeTest, AddingAndSubtractingDurations) {
  const Time t = Time::FromNanoseconds(100);
  EXPECT_EQ(t + Duration::Nanoseconds(5), Time::FromNanoseconds(105));
  EXPECT_EQ(t - Duration::Nanoseconds(5), Time::FromNanoseconds(95));
  EXPECT_EQ(Time::FromNanoseconds(105) - t, Duration::Nanoseconds(5));
  EXPECT_EQ(t.picoseconds(), 100'000);
  EXPECT_LT(t, Time::FromNanoseconds(101));
}

TEST(TimeTest, AddingInfiniteDurationSaturates) {
  EXPECT_TRUE((Time::FromNanoseconds(100) + Duration::Infinite()).IsInfinite());
}

TEST(TimeTest, InfiniteTimePlusDurationStaysInfinite) {
  const Time later = Time::Infinite() + Duration::Nanoseconds(5);
  EXPECT_TRUE(later.IsInfinite());
  EXPECT_EQ(later, Time::Infinite());
}

// ---------------------------------------------------------------------------
// Bandwidth.

TEST(BandwidthTest, TransferTimeAt400Gbps) {
  const Bandwidth rate = Bandwidth::Gbps(400);
  EXPECT_EQ(rate.TransferTime(4096), Duration::Picoseconds(81'920));
  EXPECT_EQ(rate.TransferTime(1), Duration::Picoseconds(20));
  EXPECT_EQ(rate.TransferTime(0), Duration::Zero());
}

TEST(BandwidthTest, TransferTimeOfLargeSizeDoesNotOverflow) {
  // 1 TiB at 1 Gb/s: 2^40 * 8 s / 1e9 = 8796.09302 s.
  const Duration d = Bandwidth::Gbps(1).TransferTime(uint64_t{1} << 40);
  EXPECT_EQ(d.picoseconds(), 8'796'093'022'208'000);
}

TEST(BandwidthTest, BytesInIsTheBandwidthDelayProduct) {
  // 400 Gb/s x 12.51 us = 625500 bytes: the simulator's default port buffer.
  EXPECT_EQ(Bandwidth::Gbps(400).BytesIn(Duration::Nanoseconds(12'510)), 625'500.0);
  EXPECT_EQ(Bandwidth::Gbps(100).BytesIn(Duration::Nanoseconds(1)), 12.5);
  EXPECT_EQ(Bandwidth::Gbps(400).BytesIn(Duration::Zero()), 0.0);
  EXPECT_EQ(Bandwidth::Gbps(400).BytesIn(Duration::Nanoseconds(-5)), 0.0);
  EXPECT_EQ(Bandwidth::Unlimited().BytesIn(Duration::Microseconds(10)), 0.0);
}

TEST(BandwidthTest, UnlimitedTransfersInZeroTime) {
  EXPECT_TRUE(Bandwidth::Unlimited().IsUnlimited());
  EXPECT_EQ(Bandwidth::Unlimited().TransferTime(1 << 20), Duration::Zero());
}

TEST(BandwidthTest, GbpsRoundTrips) {
  EXPECT_EQ(Bandwidth::Gbps(100).bits_per_second(), 100'000'000'000);
  // 2.01 * 1e9 is 2009999999.9999998 in doubles: truncation lost a bit/s.
  EXPECT_EQ(Bandwidth::Gbps(2.01).bits_per_second(), 2'010'000'000);
  EXPECT_EQ(Bandwidth::Gbps(0.4e-9).bits_per_second(), 0);
  EXPECT_EQ(Bandwidth::Gbps(0.6e-9).bits_per_second(), 1);
  EXPECT_DOUBLE_EQ(Bandwidth::BitsPerSecond(25'000'000'000).gbps(), 25.0);
}

// ---------------------------------------------------------------------------
// PSN arithmetic.

TEST(PsnTest, BeforeWithoutWraparound) {
  EXPECT_TRUE(PsnBefore(5, 6));
  EXPECT_FALSE(PsnBefore(6, 5));
  EXPECT_FALSE(PsnBefore(5, 5));
  EXPECT_TRUE(PsnAtOrBefore(5, 5));
}

TEST(PsnTest, BeforeAcrossWraparound) {
  EXPECT_TRUE(PsnBefore(0xFFFFFFFFu, 0));
  EXPECT_TRUE(PsnBefore(0xFFFFFF00u, 0x100));
  EXPECT_FALSE(PsnBefore(0, 0xFFFFFFFFu));
  EXPECT_EQ(PsnDistance(0xFFFFFFFEu, 1), 3);
  EXPECT_EQ(PsnDistance(1, 0xFFFFFFFEu), -3);
}

TEST(PsnTest, MaxAcrossWraparound) {
  EXPECT_EQ(PsnMax(0xFFFFFFF0u, 3), 3u);
  EXPECT_EQ(PsnMax(3, 0xFFFFFFF0u), 3u);
  EXPECT_EQ(PsnMax(10, 20), 20u);
}

// ---------------------------------------------------------------------------
// Random.

TEST(RandomTest, SameSeedReplaysSameStream) {
  Random a(42);
  Random b(42);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.Next(), b.Next()) << "draw " << i;
}

TEST(RandomTest, NearbySeedsGiveDifferentStreams) {
  Random a(42);
  Random b(43);
  int equal = 0;
  for (int i = 0; i < 1000; ++i) equal += a.Next() == b.Next() ? 1 : 0;
  EXPECT_EQ(equal, 0);
}

TEST(RandomTest, UniformStaysBelowBoundAndCoversIt) {
  Random rng(7);
  for (uint64_t bound : {uint64_t{1}, uint64_t{2}, uint64_t{10}, uint64_t{1} << 40}) {
    for (int i = 0; i < 10'000; ++i) ASSERT_LT(rng.Uniform(bound), bound) << "bound " << bound;
  }
  std::set<uint64_t> seen;
  for (int i = 0; i < 1'000; ++i) seen.insert(rng.Uniform(10));
  EXPECT_EQ(seen.size(), 10u);
}

TEST(RandomTest, UniformDoubleInUnitInterval) {
  Random rng(9);
  for (int i = 0; i < 10'000; ++i) {
    const double x = rng.UniformDouble();
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
  }
}

TEST(RandomTest, BernoulliExtremes) {
  Random rng(11);
  for (int i = 0; i < 1'000; ++i) {
    ASSERT_FALSE(rng.Bernoulli(0.0));
    ASSERT_TRUE(rng.Bernoulli(1.0));
  }
}

}  // namespace
}  // namespace tern
