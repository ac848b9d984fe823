// tern-replay: replays a workload (synthetic, flow file or Chakra trace) over
// the simulated fabric and reports flow completion times, collective times,
// queues and retransmissions.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "apps/replay_generators.h"
#include "apps/replay_options.h"
#include "apps/replay_report.h"
#include "apps/replay_runner.h"
#include "cc/registry.h"

namespace tern::replay {
namespace {

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "tern-replay: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

uint64_t PeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

// A progress line on a terminal, for runs longer than a couple of seconds.
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}
  void Update(const ReplayProgress& p) {
    if (!enabled_) return;
    const double wall = Seconds();
    if (wall < 2 || wall - last_ < 0.25) return;
    last_ = wall;
    shown_ = true;
    const double fraction =
        p.steps_total ? static_cast<double>(p.steps_done) / static_cast<double>(p.steps_total) : 0;
    const int filled = static_cast<int>(fraction * 30);
    std::fprintf(stderr, "\r[%-30s] %5.1f%% steps  %.1f us virtual  %.1f M events  %.1f s",
                 std::string(filled, '#').c_str(), 100 * fraction,
                 (p.now - Time::Zero()).microseconds(), static_cast<double>(p.sim_events) / 1e6,
                 wall);
  }
  void Finish() {
    if (shown_) std::fprintf(stderr, "\r%80s\r", "");
  }

 private:
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  bool enabled_;
  bool shown_ = false;
  double last_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

int Main(int argc, char** argv) {
  absl::StatusOr<ReplayOptions> options =
      ParseReplayOptions(std::span<const char* const>(argv + 1, static_cast<size_t>(argc - 1)));
  if (!options.ok()) {
    std::fprintf(stderr, "tern-replay: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(ReplayUsage().c_str(), stdout);
    std::fputs(DescribeAlgorithms().c_str(), stdout);
    return 0;
  }
  absl::StatusOr<sim::Topology> topology = sim::MakeTopology(options->config.fabric);
  if (!topology.ok()) {
    std::fprintf(stderr, "tern-replay: %s\n", std::string(topology.status().message()).c_str());
    return 2;
  }
  WorkloadEnvironment env;
  env.hosts = topology->hosts;
  env.host_rate = options->config.fabric.topology.link_rate;
  env.seed = options->config.seed;
  env.chakra.collective_algorithm = options->chakra_algorithm;
  absl::StatusOr<Workload> workload = MakeWorkload(options->workload, env);
  if (!workload.ok()) {
    std::fprintf(stderr, "tern-replay: --workload: %s\n",
                 std::string(workload.status().message()).c_str());
    return 2;
  }
  ProgressLine progress(!options->quiet);
  absl::StatusOr<ReplayResult> result =
      RunReplay(*workload, options->config, [&](const ReplayProgress& p) { progress.Update(p); });
  progress.Finish();
  if (!result.ok()) {
    std::fprintf(stderr, "tern-replay: %s\n", std::string(result.status().message()).c_str());
    return 1;
  }
  RunDescription run;
  std::vector<std::string> words(argv, argv + argc);
  run.command = absl::StrJoin(words, " ");
  run.workload = options->workload;
  run.fabric = options->fabric;
  run.cc = options->cc;
  run.seed = options->config.seed;
  const ReplaySummary summary = Summarize(*result);
  if (!options->quiet) std::fputs(FormatSummary(run, *result, summary).c_str(), stdout);
  bool ok = true;
  if (!options->json_path.empty()) {
    ok &= WriteFile(options->json_path, FormatJson(run, *result, summary, PeakRssBytes()));
  }
  if (!options->csv_path.empty()) ok &= WriteFile(options->csv_path, FormatFlowsCsv(*result));
  if (!options->timeline_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options->timeline_dir, ec);
    ok &= WriteFile(options->timeline_dir + "/queues.csv",
                    FormatTimelineCsv(*result, options->config.timeline_interval));
    ok &= WriteFile(options->timeline_dir + "/cc.csv",
                    FormatCcTimelineCsv(*result, options->config.timeline_interval));
    ok &= WriteFile(options->timeline_dir + "/fairness.csv",
                    FormatFairnessCsv(*result, options->config.timeline_interval));
  }
  if (!ok) return 1;
  // Unfinished or failed flows are a result worth reporting, and a failure
  // for scripts that check the exit status.
  return summary.completed == summary.flows ? 0 : 3;
}

}  // namespace
}  // namespace tern::replay

int main(int argc, char** argv) { return tern::replay::Main(argc, argv); }
