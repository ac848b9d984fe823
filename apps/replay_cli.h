// What tern-replay does with parsed options, shared by tern-replay and
// tern-ab (which runs the same thing once per side and seed): build the
// topology and workload, run the replay, summarise it, and write the files
// the options ask for.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "apps/replay_options.h"
#include "apps/replay_report.h"
#include "apps/replay_runner.h"

namespace tern::replay {

struct ReplayRun {
  RunDescription description;
  ReplayResult result;
  ReplaySummary summary;
};

// The topology and workload the options describe, as RunFromOptions builds
// them: InvalidArgument naming --fabric or --workload when either is bad.
struct ReplayInputs {
  sim::Topology topology;
  Workload workload;
};
absl::StatusOr<ReplayInputs> MakeReplayInputs(const ReplayOptions& options);

// Errors: InvalidArgument for a bad topology or workload (the message names
// the flag), or whatever RunReplay refuses. `command` is recorded in the
// reports.
absl::StatusOr<ReplayRun> RunFromOptions(const ReplayOptions& options, const std::string& command,
                                         const ProgressFn& progress = nullptr);

// Writes --json, --csv and --timeline DIR/{queues,cc,fairness}.csv as the
// options ask; the error names the file that could not be written.
absl::Status WriteReplayOutputs(const ReplayOptions& options, const ReplayRun& run);
// Creates the --timeline directory and checks that every file
// WriteReplayOutputs would write can be written (CheckWritable): a bad path
// is then an error before the run, not after it.
absl::Status PrepareReplayOutputs(const ReplayOptions& options);

}  // namespace tern::replay
