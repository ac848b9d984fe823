#include "apps/ab_stats.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace tern::ab {
namespace {

TEST(StudentT975Test, MatchesTheTableAndTendsToTheNormalQuantile) {
  EXPECT_DOUBLE_EQ(StudentT975(1), 12.706);
  EXPECT_DOUBLE_EQ(StudentT975(4), 2.776);
  EXPECT_DOUBLE_EQ(StudentT975(30), 2.042);
  EXPECT_DOUBLE_EQ(StudentT975(100000), 1.960);
  for (unsigned df = 1; df < 200; ++df) EXPECT_GE(StudentT975(df), StudentT975(df + 1)) << df;
}

TEST(CompareTest, IdenticalSidesShowNoDifference) {
  const std::vector<double> v = {1.5, 2.5, 3.0, 1.1};
  const Comparison c = Compare(v, v, Better::kLower);
  EXPECT_EQ(c.verdict, Verdict::kNoDifference);
  EXPECT_DOUBLE_EQ(*c.ratio, 1);
  EXPECT_DOUBLE_EQ(*c.ci_low, 1);
  EXPECT_DOUBLE_EQ(*c.ci_high, 1);
}

TEST(CompareTest, RatioIsTheGeometricMeanWithATIntervalOnTheLogs) {
  const std::vector<double> a = {10, 20, 40};
  const std::vector<double> b = {5, 12, 18};
  // Logs of the ratios 0.5, 0.6, 0.45, computed here independently.
  const double d[] = {std::log(0.5), std::log(0.6), std::log(0.45)};
  const double mean = (d[0] + d[1] + d[2]) / 3;
  double ss = 0;
  for (double x : d) ss += (x - mean) * (x - mean);
  const double half = 4.303 * std::sqrt(ss / 2) / std::sqrt(3.0);
  const Comparison c = Compare(a, b, Better::kLower);
  EXPECT_NEAR(*c.ratio, std::exp(mean), 1e-12);
  EXPECT_NEAR(*c.ci_low, std::exp(mean - half), 1e-12);
  EXPECT_NEAR(*c.ci_high, std::exp(mean + half), 1e-12);
  EXPECT_LT(*c.ci_high, 1);
  EXPECT_EQ(c.verdict, Verdict::kBetter);  // lower is better, and B is lower
  EXPECT_DOUBLE_EQ(c.a.mean, 70.0 / 3);
  EXPECT_NEAR(c.a.sd,
              std::sqrt((std::pow(10 - 70.0 / 3, 2) + std::pow(20 - 70.0 / 3, 2) +
                         std::pow(40 - 70.0 / 3, 2)) /
                        2),
              1e-12);
}

TEST(CompareTest, DirectionDecidesBetterOrWorse) {
  const std::vector<double> a = {0.5, 0.6, 0.55};
  const std::vector<double> b = {0.9, 0.95, 0.92};
  EXPECT_EQ(Compare(a, b, Better::kHigher).verdict, Verdict::kBetter);
  EXPECT_EQ(Compare(a, b, Better::kLower).verdict, Verdict::kWorse);
  EXPECT_EQ(Compare(b, a, Better::kHigher).verdict, Verdict::kWorse);
}

TEST(CompareTest, NoisyDifferenceIsNotSignificant) {
  const std::vector<double> a = {10, 10, 10};
  const std::vector<double> b = {5, 20, 9};
  EXPECT_EQ(Compare(a, b, Better::kLower).verdict, Verdict::kNoDifference);
}

TEST(CompareTest, ConsistentDifferenceWithoutSpreadIsSignificant) {
  const std::vector<double> a = {10, 20};
  const std::vector<double> b = {20, 40};
  const Comparison c = Compare(a, b, Better::kLower);
  EXPECT_DOUBLE_EQ(*c.ratio, 2);
  EXPECT_DOUBLE_EQ(*c.ci_low, 2);
  EXPECT_EQ(c.verdict, Verdict::kWorse);
}

TEST(CompareTest, BothSidesZeroAreEqual) {
  const std::vector<double> zeros = {0, 0, 0};
  const Comparison c = Compare(zeros, zeros, Better::kLower);
  EXPECT_EQ(c.verdict, Verdict::kNoDifference);
  EXPECT_DOUBLE_EQ(*c.ratio, 1);
}

// The bottleneck queue of tools/run.sh's A/B: full on every seed for both
// sides, 0.02% apart with almost no spread, so the interval excludes 1.
TEST(CompareTest, ASignificantDifferenceWithinTheMarginIsNegligible) {
  const std::vector<double> a = {416900, 416920, 416880, 416910, 416890};
  const std::vector<double> b = {416985, 417001, 416968, 416990, 416972};
  EXPECT_EQ(Compare(a, b, Better::kLower).verdict, Verdict::kWorse);
  EXPECT_EQ(Compare(a, b, Better::kLower, 0.01).verdict, Verdict::kNegligible);
}

TEST(CompareTest, AnIntervalReachingBeyondTheMarginKeepsItsVerdict) {
  // Ratios 1.005 to 1.015: the interval excludes 1 and reaches past 1.01.
  const std::vector<double> a = {100, 100, 100, 100, 100};
  const std::vector<double> b = {100.5, 101.5, 101, 100.6, 101.4};
  const Comparison c = Compare(a, b, Better::kLower, 0.01);
  EXPECT_GT(*c.ci_low, 1);
  EXPECT_GT(*c.ci_high, 1.01);
  EXPECT_EQ(c.verdict, Verdict::kWorse);
  // A spread too wide for either verdict stays "no significant difference".
  const std::vector<double> wide = {90, 110, 95, 105, 100};
  EXPECT_EQ(Compare(a, wide, Better::kLower, 0.01).verdict, Verdict::kNoDifference);
}

TEST(CompareTest, WithAMarginBothSidesZeroAndTheSameAreNegligible) {
  const std::vector<double> zeros = {0, 0, 0};
  EXPECT_EQ(Compare(zeros, zeros, Better::kLower, 0.01).verdict, Verdict::kNegligible);
  // Zeros among the values: judged on the differences, scaled by A's mean.
  const std::vector<double> a = {0, 1000, 2000}, b = {1, 1001, 2001};
  EXPECT_EQ(Compare(a, b, Better::kLower).verdict, Verdict::kWorse);
  EXPECT_EQ(Compare(a, b, Better::kLower, 0.01).verdict, Verdict::kNegligible);
}

TEST(CompareTest, ZerosFallBackToPairedDifferences) {
  const std::vector<double> a = {0, 2, 4};
  const std::vector<double> b = {10, 12, 13};
  const Comparison c = Compare(a, b, Better::kLower);
  EXPECT_DOUBLE_EQ(*c.ratio, (35.0 / 3) / 2);
  // Differences 10, 10, 9: mean 29/3, sd sqrt(1/3).
  const double half = 4.303 * std::sqrt(1.0 / 3) / std::sqrt(3.0);
  EXPECT_NEAR(*c.ci_low, 1 + (29.0 / 3 - half) / 2, 1e-12);
  EXPECT_NEAR(*c.ci_high, 1 + (29.0 / 3 + half) / 2, 1e-12);
  EXPECT_EQ(c.verdict, Verdict::kWorse);
}

TEST(CompareTest, RatioIntervalFromDifferencesIsNeverNegative) {
  const std::vector<double> a = {100, 200, 300};
  const std::vector<double> b = {0, 0, 150};
  const Comparison c = Compare(a, b, Better::kLower);
  EXPECT_DOUBLE_EQ(*c.ci_low, 0);  // the difference interval reaches below -mean(a)
  EXPECT_GT(*c.ci_high, 0);
}

TEST(CompareTest, AZeroAndBPositiveHasNoRatioButAVerdict) {
  const std::vector<double> a = {0, 0, 0};
  const std::vector<double> b = {3, 4, 5};
  const Comparison c = Compare(a, b, Better::kLower);
  EXPECT_FALSE(c.ratio.has_value());
  EXPECT_FALSE(c.ci_low.has_value());
  EXPECT_EQ(c.verdict, Verdict::kWorse);
}

TEST(CompareTest, OneSeedGivesNoInterval) {
  const std::vector<double> a = {2}, b = {1};
  const Comparison c = Compare(a, b, Better::kLower);
  EXPECT_EQ(c.verdict, Verdict::kOneSeed);
  EXPECT_DOUBLE_EQ(*c.ratio, 0.5);
  EXPECT_FALSE(c.ci_low.has_value());
}

}  // namespace
}  // namespace tern::ab
