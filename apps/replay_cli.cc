#include "apps/replay_cli.h"

#include <sys/resource.h>

#include <filesystem>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "apps/file_io.h"
#include "apps/replay_generators.h"

namespace tern::replay {
namespace {

uint64_t PeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

// The three files --timeline DIR gets, in the order they are written.
constexpr const char* kTimelineFiles[] = {"/queues.csv", "/cc.csv", "/fairness.csv"};

absl::Status CreateTimelineDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

absl::Status PrepareReplayOutputs(const ReplayOptions& options) {
  for (const std::string* path : {&options.json_path, &options.csv_path}) {
    if (path->empty()) continue;
    if (absl::Status s = CheckWritable(*path); !s.ok()) return s;
  }
  if (options.timeline_dir.empty()) return absl::OkStatus();
  if (absl::Status s = CreateTimelineDirectory(options.timeline_dir); !s.ok()) return s;
  for (const char* name : kTimelineFiles) {
    if (absl::Status s = CheckWritable(options.timeline_dir + name); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<ReplayInputs> MakeReplayInputs(const ReplayOptions& options) {
  // Every set-up error is the options' fault: InvalidArgument, so callers
  // can tell it from a run that failed.
  const auto fabric_error = [](const absl::Status& status) {
    return absl::InvalidArgumentError(absl::StrCat("--fabric: ", status.message()));
  };
  std::string topology_file;
  if (options.config.fabric.topology.kind == sim::TopologyKind::kFile) {
    absl::StatusOr<std::string> text = ReadWholeFile(options.config.fabric.topology.file);
    if (!text.ok()) return fabric_error(text.status());
    topology_file = *std::move(text);
  }
  absl::StatusOr<sim::Topology> topology = sim::MakeTopology(options.config.fabric, topology_file);
  if (!topology.ok()) return fabric_error(topology.status());
  WorkloadEnvironment env;
  env.hosts = topology->hosts;
  env.host_rate = options.config.fabric.topology.link_rate;
  env.seed = options.config.seed;
  env.chakra = options.chakra;
  absl::StatusOr<Workload> workload = MakeWorkload(options.workload, env);
  if (!workload.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--workload: ", workload.status().message()));
  }
  return ReplayInputs{*std::move(topology), *std::move(workload)};
}

absl::StatusOr<ReplayRun> RunFromOptions(const ReplayOptions& options, const std::string& command,
                                         const ProgressFn& progress) {
  absl::StatusOr<ReplayInputs> inputs = MakeReplayInputs(options);
  if (!inputs.ok()) return inputs.status();
  absl::StatusOr<ReplayResult> result =
      RunReplay(inputs->workload, std::move(inputs->topology), options.config, progress);
  if (!result.ok()) return result.status();
  ReplayRun run;
  run.description.command = command;
  run.description.workload = options.workload;
  run.description.fabric = options.fabric;
  run.description.cc = options.config.cc;
  run.description.paths = options.config.paths;
  run.description.path_policy = PathPolicyName(options.config.path_policy);
  run.description.seed = options.config.seed;
  run.summary = Summarize(*result);
  run.result = *std::move(result);
  return run;
}

absl::Status WriteReplayOutputs(const ReplayOptions& options, const ReplayRun& run) {
  if (!options.json_path.empty()) {
    absl::Status s = WriteWholeFile(
        options.json_path, FormatJson(run.description, run.result, run.summary, PeakRssBytes()));
    if (!s.ok()) return s;
  }
  if (!options.csv_path.empty()) {
    if (absl::Status s = WriteWholeFile(options.csv_path, FormatFlowsCsv(run.result)); !s.ok())
      return s;
  }
  if (!options.timeline_dir.empty()) {
    if (absl::Status s = CreateTimelineDirectory(options.timeline_dir); !s.ok()) return s;
    const Duration interval = run.result.timeline_interval;
    const Duration window = options.fairness_window > Duration::Zero()
                                ? options.fairness_window
                                : DefaultFairnessWindow(run.result, interval);
    const std::string& dir = options.timeline_dir;
    const std::string texts[] = {FormatTimelineCsv(run.result, interval),
                                 FormatCcTimelineCsv(run.result, interval),
                                 FormatFairnessCsv(run.result, interval, window)};
    static_assert(std::size(texts) == std::size(kTimelineFiles));
    for (size_t i = 0; i < std::size(texts); ++i) {
      if (absl::Status s = WriteWholeFile(dir + kTimelineFiles[i], texts[i]); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace tern::replay
