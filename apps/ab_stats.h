// tern-ab's statistics: side B against side A on one metric, over runs paired
// by seed (A's and B's run with seed s replay the same workload), as the ratio
// B/A with a 95% confidence interval and a plain verdict. Pure arithmetic,
// no I/O.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace tern::ab {

// Which way a metric improves.
enum class Better { kLower, kHigher };

// B relative to A.
enum class Verdict {
  kBetter,
  kWorse,
  kNoDifference,  // the interval contains 1 and reaches beyond the margin (if any)
  kNegligible,    // the whole interval lies within the margin around 1
  kOneSeed,       // no interval from a single pair
};
std::string_view VerdictName(Verdict verdict);  // "better", "worse", ...

struct SideStats {
  std::vector<double> values;  // one per seed
  double mean = 0;
  double sd = 0;  // sample standard deviation; 0 for one value
};

struct Comparison {
  SideStats a, b;
  // B/A; nullopt when A is zero and B is not (no finite ratio).
  std::optional<double> ratio;
  std::optional<double> ci_low, ci_high;  // 95%, on the ratio
  Verdict verdict = Verdict::kNoDifference;
};

// Student's t quantile t(0.975, df) for df >= 1: the half-width multiplier of
// a two-sided 95% interval.
double StudentT975(unsigned df);

// Compares paired samples (a[i] and b[i] come from the same seed; the sizes
// must match and be at least 1).
//  - All values positive: the ratio is the geometric mean of b[i]/a[i], the
//    interval a t interval on the mean log ratio, exponentiated. Ratios are
//    what the metrics mean (slowdown, queue bytes), and logs make B/A and A/B
//    symmetric.
//  - Both sides all zero (e.g. no drops either way): ratio 1, interval [1, 1].
//  - Otherwise (counts with zeros): ratio mean(b)/mean(a), interval from a t
//    interval on the mean paired difference, divided by mean(a), and
//    floored at 0 (metrics are never negative).
// The difference is significant when the interval excludes 1 (a zero-width
// interval away from 1 is a consistent difference across seeds). With a
// `margin` m > 0, an interval inside [1/(1+m), 1+m] is kNegligible instead,
// significant or not: 5 seeds with nearly no spread make a 0.02% difference
// significant, and calling it worse would mislead. Both sides all zero are
// then negligible too.
Comparison Compare(std::span<const double> a, std::span<const double> b, Better better,
                   double margin = 0);

}  // namespace tern::ab
