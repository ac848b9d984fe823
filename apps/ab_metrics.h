// The metrics tern-ab compares, taken from one run's ReplaySummary, and the
// small per-run file they are kept in (DIR/runs/SIDE-seedN/record.tsv), so a
// re-invocation reuses finished runs without re-reading their JSON.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/ab_stats.h"
#include "apps/replay_report.h"

namespace tern::ab {

struct MetricDefinition {
  std::string_view name;   // "slowdown_p99"
  std::string_view title;  // "FCT slowdown p99"
  Better better;
};
// Every metric tern-ab knows; FindMetric gives nullptr for an unknown name.
std::span<const MetricDefinition> MetricDefinitions();
const MetricDefinition* FindMetric(std::string_view name);

struct MetricValue {
  std::string name;
  std::string bucket;  // a flow-size bucket ("<10KB", ...), or "" for the whole run
  double value = 0;
};

// The metrics of one run. Per-bucket slowdowns for buckets with flows;
// collective times and bus bandwidth only when the workload has collectives.
std::vector<MetricValue> ExtractMetrics(const replay::ReplaySummary& summary);

// One finished run as tern-ab keeps it.
struct RunRecord {
  std::string key;         // what produced it (arguments and build); reuse needs a match
  std::string bottleneck;  // the switch port with the deepest queue ("" if none)
  double wall_seconds = 0;
  std::vector<MetricValue> metrics;
};
std::string FormatRunRecord(const RunRecord& record);
// InvalidArgument naming `source` and the line for anything malformed.
absl::StatusOr<RunRecord> ParseRunRecord(std::string_view text, std::string_view source);

}  // namespace tern::ab
