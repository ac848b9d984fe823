// tern-ab's results: the per-metric comparison of B against A over the seeds,
// and its renderings (report.md, summary.json, the terminal table). Pure: run
// records in, text out. The JSON holds every number at full precision
// (%.17g); the tables show FormatNumber of that same value, so they agree.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "apps/ab_metrics.h"
#include "apps/ab_options.h"
#include "apps/ab_stats.h"

namespace tern::ab {

struct MetricComparison {
  const MetricDefinition* metric = nullptr;
  std::string bucket;  // "" for the whole run
  Comparison comparison;
};

// a[i] and b[i] ran with the same seed. A metric appears when every run has
// it (per-bucket ones need flows of that size in every run). `margin` is a
// fraction (Compare in ab_stats.h).
std::vector<MetricComparison> CompareSides(std::span<const RunRecord> a,
                                           std::span<const RunRecord> b, double margin);

struct ReportRun {
  std::string side;  // "a" or "b"
  uint64_t seed = 0;
  std::string dir;  // relative to the report
  double wall_seconds = 0;
  bool reused = false;
};

struct AbReport {
  const AbOptions* options = nullptr;
  std::string command;  // as invoked
  std::string commit;   // the build's git description
  std::string machine;  // host, cores, CPU, kernel
  std::string fabric;   // "simulated", or the DPDK hosts
  std::vector<ReportRun> runs;
  std::string bottleneck;  // the switch port the timeline plots show
  std::vector<MetricComparison> metrics;
  std::vector<std::string> plots;  // PNG paths relative to the report
  std::string plots_note;          // why there are none, when there are none
};

// "%.4g": four significant digits.
std::string FormatNumber(double value);

std::string FormatReportMarkdown(const AbReport& report);
std::string FormatSummaryJson(const AbReport& report);
// The overall metrics side by side, for the terminal.
std::string FormatSideBySide(const AbReport& report);

}  // namespace tern::ab
