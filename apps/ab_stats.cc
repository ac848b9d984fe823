#include "apps/ab_stats.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace tern::ab {
namespace {

SideStats Describe(std::span<const double> values) {
  SideStats s;
  s.values.assign(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  if (values.size() > 1) {
    double squares = 0;
    for (double v : values) squares += (v - s.mean) * (v - s.mean);
    s.sd = std::sqrt(squares / static_cast<double>(values.size() - 1));
  }
  return s;
}

// Mean and 95% half-width of paired differences.
struct Interval {
  double mean = 0;
  double half = 0;
};
Interval MeanInterval(const std::vector<double>& d) {
  const SideStats s = Describe(d);
  const auto n = static_cast<unsigned>(d.size());
  return {s.mean, StudentT975(n - 1) * s.sd / std::sqrt(static_cast<double>(n))};
}

// Whether the interval [low, high] on the ratio B/A lies within `margin` of 1.
bool WithinMargin(double low, double high, double margin) {
  return margin > 0 && low >= 1 / (1 + margin) && high <= 1 + margin;
}

// `low` and `high` bound the ratio B/A.
Verdict Judge(double low, double high, Better better, double margin) {
  if (WithinMargin(low, high, margin)) return Verdict::kNegligible;
  const bool above = low > 1;  // B larger than A
  const bool below = high < 1;
  if (!above && !below) return Verdict::kNoDifference;
  return above == (better == Better::kHigher) ? Verdict::kBetter : Verdict::kWorse;
}

}  // namespace

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kBetter:
      return "better";
    case Verdict::kWorse:
      return "worse";
    case Verdict::kNoDifference:
      return "no significant difference";
    case Verdict::kNegligible:
      return "negligible";
    case Verdict::kOneSeed:
      return "one seed: no interval";
  }
  return "?";
}

double StudentT975(unsigned df) {
  // Two-sided 95% quantiles of Student's t (standard tables).
  static constexpr std::array<double, 30> kSmall = {
      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
      2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
      2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df == 0) return INFINITY;
  if (df <= kSmall.size()) return kSmall[df - 1];
  // Between table rows, the value at the band's smallest df: the interval is
  // never narrower than the exact one.
  if (df <= 40) return 2.040;    // t(31)
  if (df <= 60) return 2.020;    // t(41)
  if (df <= 120) return 2.000;   // t(61)
  if (df <= 1000) return 1.980;  // t(121)
  return 1.960;
}

Comparison Compare(std::span<const double> a, std::span<const double> b, Better better,
                   double margin) {
  Comparison c;
  c.a = Describe(a);
  c.b = Describe(b);
  const size_t n = std::min(a.size(), b.size());
  const bool all_positive = std::all_of(a.begin(), a.end(), [](double v) { return v > 0; }) &&
                            std::all_of(b.begin(), b.end(), [](double v) { return v > 0; });
  const bool all_zero = std::all_of(a.begin(), a.end(), [](double v) { return v == 0; }) &&
                        std::all_of(b.begin(), b.end(), [](double v) { return v == 0; });
  if (all_zero) {
    c.ratio = c.ci_low = c.ci_high = 1;
    c.verdict = n > 1 ? Judge(1, 1, better, margin) : Verdict::kOneSeed;
    return c;
  }
  std::vector<double> d(n);
  if (all_positive) {
    for (size_t i = 0; i < n; ++i) d[i] = std::log(b[i] / a[i]);
    const Interval log_ratio = MeanInterval(d);
    c.ratio = std::exp(log_ratio.mean);
    if (n < 2) {
      c.verdict = Verdict::kOneSeed;
      return c;
    }
    c.ci_low = std::exp(log_ratio.mean - log_ratio.half);
    c.ci_high = std::exp(log_ratio.mean + log_ratio.half);
    c.verdict = Judge(*c.ci_low, *c.ci_high, better, margin);
    return c;
  }
  for (size_t i = 0; i < n; ++i) d[i] = b[i] - a[i];
  const Interval diff = MeanInterval(d);
  if (c.a.mean > 0) c.ratio = c.b.mean / c.a.mean;
  if (n < 2) {
    c.verdict = Verdict::kOneSeed;
    return c;
  }
  // Judged on the difference, so it works when A's mean is zero too: the
  // difference interval excludes 0 exactly when the ratio interval excludes 1.
  // Without a ratio there is no margin to be within.
  c.verdict = Judge(1 + (diff.mean - diff.half), 1 + (diff.mean + diff.half), better, 0);
  if (c.a.mean > 0) {
    // Every metric is a count, a size or a time: its ratio is never negative.
    c.ci_low = std::max(0.0, 1 + (diff.mean - diff.half) / c.a.mean);
    c.ci_high = 1 + (diff.mean + diff.half) / c.a.mean;
    if (WithinMargin(*c.ci_low, *c.ci_high, margin)) c.verdict = Verdict::kNegligible;
  }
  return c;
}

}  // namespace tern::ab
