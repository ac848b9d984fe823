#include "dataplane/dpdk/fault_injector.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tern::dpdk {
namespace {

constexpr uint16_t kEntropy0 = 0xC000;

TEST(FaultInjectorTest, InactiveConfigPassesEverythingUntouched) {
  FaultInjector faults;
  EXPECT_FALSE(faults.active());
  for (uint16_t e = 0; e < 100; ++e) {
    const FaultVerdict v = faults.Judge(static_cast<uint16_t>(kEntropy0 + e), 1000, 42);
    EXPECT_FALSE(v.drop);
    EXPECT_FALSE(v.duplicate);
    EXPECT_EQ(v.corrupt_offset, SIZE_MAX);
    EXPECT_EQ(v.delay, Duration::Zero());
  }
}

TEST(FaultInjectorTest, RatesFollowTheProbabilities) {
  const uint64_t seed = 7;
  FaultConfig config;
  config.loss = 0.05;
  config.dup = 0.02;
  config.corrupt = 0.01;
  config.seed = seed;
  FaultInjector faults(config);
  constexpr int kFrames = 200000;
  for (int i = 0; i < kFrames; ++i) faults.Judge(static_cast<uint16_t>(kEntropy0 + i), 1000, 42);
  const FaultCounters& c = faults.counters();
  // Binomial: 5 standard deviations.
  EXPECT_NEAR(c.dropped, 0.05 * kFrames, 5 * std::sqrt(0.05 * 0.95 * kFrames)) << "seed " << seed;
  const double passed = kFrames - static_cast<double>(c.dropped);
  EXPECT_NEAR(c.duplicated, 0.02 * passed, 5 * std::sqrt(0.02 * passed)) << "seed " << seed;
  EXPECT_NEAR(c.corrupted, 0.01 * passed, 5 * std::sqrt(0.01 * passed)) << "seed " << seed;
}

TEST(FaultInjectorTest, CorruptionHitsOnlyTheProtectedBytes) {
  FaultConfig config;
  config.corrupt = 1;
  FaultInjector faults(config);
  for (int i = 0; i < 10000; ++i) {
    const FaultVerdict v = faults.Judge(kEntropy0, 100, 42);
    ASSERT_GE(v.corrupt_offset, 42u);
    ASSERT_LT(v.corrupt_offset, 100u);
    ASSERT_EQ(__builtin_popcount(v.corrupt_mask), 1);
  }
  // Nothing protected: nothing corrupted.
  EXPECT_EQ(faults.Judge(kEntropy0, 42, 42).corrupt_offset, SIZE_MAX);
}

TEST(FaultInjectorTest, ReorderDelaysEachPathByItsShare) {
  FaultConfig config;
  config.reorder = Duration::Microseconds(7);
  config.paths = 8;
  FaultInjector faults(config);
  for (uint16_t path = 0; path < 8; ++path) {
    const FaultVerdict v = faults.Judge(static_cast<uint16_t>(kEntropy0 + path), 1000, 42);
    EXPECT_EQ(v.path, path);
    EXPECT_EQ(v.delay, Duration::Microseconds(path)) << "path " << path;
  }
}

TEST(FaultInjectorTest, BlackholeDropsOnePathOnly) {
  FaultConfig config;
  config.paths = 4;
  config.blackhole = 2;
  FaultInjector faults(config);
  for (uint16_t e = 0; e < 400; ++e) {
    const FaultVerdict v = faults.Judge(static_cast<uint16_t>(kEntropy0 + e), 1000, 42);
    EXPECT_EQ(v.drop, e % 4 == 2);
  }
  EXPECT_EQ(faults.counters().blackholed, 100u);
}

TEST(FaultInjectorTest, SameSeedSameVerdicts) {
  FaultConfig config;
  config.loss = 0.3;
  config.dup = 0.3;
  config.corrupt = 0.3;
  config.seed = 99;
  FaultInjector a(config);
  FaultInjector b(config);
  for (int i = 0; i < 1000; ++i) {
    const FaultVerdict va = a.Judge(static_cast<uint16_t>(i), 500, 60);
    const FaultVerdict vb = b.Judge(static_cast<uint16_t>(i), 500, 60);
    ASSERT_EQ(va.drop, vb.drop) << "seed 99, frame " << i;
    ASSERT_EQ(va.duplicate, vb.duplicate);
    ASSERT_EQ(va.corrupt_offset, vb.corrupt_offset);
  }
  EXPECT_EQ(DescribeFaults(FaultConfig{}), "none");
}

}  // namespace
}  // namespace tern::dpdk
