// Runs tern-ab's (side, seed) pairs: each in a child process (so runs are
// isolated and use every core), at most `jobs` at once, with a line of
// progress per finished run. A run directory holding a record with the same
// key is reused instead of run again.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/ab_metrics.h"

namespace tern::ab {

struct PlannedRun {
  std::string label;  // "A seed 3", for progress and errors
  std::string dir;    // DIR/runs/a-seed3: result.json, flows.csv, *.csv, record.tsv, log.txt
  std::vector<std::string> args;  // tern-replay arguments, without outputs
  std::string key;                // args and build: a record with this key is reusable
  // Empty: the run is simulated in-process. Otherwise a command (argv) that
  // runs it on real hosts and leaves their rank files (rank*.txt) in `dir`.
  std::vector<std::string> launch;
};

struct FinishedRun {
  RunRecord record;
  bool reused = false;
};

// Returns the records in `runs` order, or an error naming every run that
// failed and the log that says why.
absl::StatusOr<std::vector<FinishedRun>> ExecuteRuns(const std::vector<PlannedRun>& runs,
                                                     unsigned jobs, std::FILE* progress);

}  // namespace tern::ab
