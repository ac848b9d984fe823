// tern-replay's --workload=SPEC: synthetic traffic patterns (incast,
// permutation, all-to-all, all-reduce, Poisson load from a flow-size CDF) and
// the file-backed sources (flow files, Chakra traces), all producing one
// replay::Workload for a fabric of a given size.
//
// Spec syntax: NAME[:key=value,...], or flows:FILE and chakra:DIR.
// Sizes are bytes, with an optional suffix: KB, MB, GB (10^3, 10^6, 10^9) or
// KiB, MiB, GiB (2^10, 2^20, 2^30); a bare K, M or G is refused as ambiguous
// (tern-perf reads it as a power of 1024, network simulators as 10^3).
// Durations are microseconds unless suffixed ns, us, ms or s.
// Random choices come from Random(env.seed): the same seed builds the same
// workload.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/replay_chakra.h"
#include "apps/replay_workload.h"
#include "transport/random.h"
#include "transport/units.h"

namespace tern::replay {

struct WorkloadEnvironment {
  uint32_t hosts = 0;   // hosts of the fabric the workload will run on
  Bandwidth host_rate;  // each host's link rate; the `load` generator needs it
  uint64_t seed = 1;
  ChakraOptions chakra;  // for chakra:DIR
};

// Parses a --workload spec and builds the workload for env.hosts hosts; see
// DescribeWorkloadSpecs() for the forms. Specs joined by '+' are built one by
// one and run side by side in one workload. Errors (InvalidArgument): unknown
// name or key (the message lists the valid ones), a key given twice, a bad
// value, a workload needing more hosts than env.hosts, an empty '+' part;
// file errors as the loaders report them.
absl::StatusOr<Workload> MakeWorkload(std::string_view spec, const WorkloadEnvironment& env);

// Help text: every form, its keys and their defaults.
std::string DescribeWorkloadSpecs();

// A flow-size distribution given as points of its CDF, linear in between (the
// form HPCC's traffic generator reads). A first point above 0% puts that much
// probability on its size exactly.
class FlowSizeCdf {
 public:
  // A size drawn by inverting the CDF: uniform within a segment, rounded to
  // whole bytes, at least 1.
  uint64_t Sample(Random& random) const;
  // Mean size of the piecewise-linear distribution: each segment contributes
  // its probability times its midpoint (Sample's rounding aside).
  double Mean() const { return mean_; }

 private:
  struct Point {
    double bytes = 0;
    double percent = 0;  // cumulative, 0..100
  };
  friend absl::StatusOr<FlowSizeCdf> ParseFlowSizeCdf(std::string_view text,
                                                      std::string_view source_name);
  explicit FlowSizeCdf(std::vector<Point> points);

  std::vector<Point> points_;  // bytes and percent non-decreasing; last percent 100
  double mean_ = 0;
};

// Reads lines `BYTES CUMULATIVE_PERCENT` ('#' comments and blank lines
// skipped). Errors: "<file>:<line>: ..." for a line that is not two
// non-negative numbers, sizes or percents going down, a percent above 100, a
// last percent other than 100; an unreadable or empty file.
absl::StatusOr<FlowSizeCdf> LoadFlowSizeCdf(const std::string& path);
// The same from text already read; `source_name` stands for the file in errors.
absl::StatusOr<FlowSizeCdf> ParseFlowSizeCdf(std::string_view text, std::string_view source_name);

}  // namespace tern::replay
