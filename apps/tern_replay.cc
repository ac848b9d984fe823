// tern-replay: replays a workload (synthetic, flow file or Chakra trace) over
// the simulated fabric and reports flow completion times, collective times,
// queues and retransmissions.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "apps/replay_cli.h"
#include "apps/replay_generators.h"
#include "cc/registry.h"

namespace tern::replay {
namespace {

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
  ProgressLine progress(!options->quiet);
  std::vector<std::string> words(argv, argv + argc);
  absl::StatusOr<ReplayRun> run = RunFromOptions(
      *options, absl::StrJoin(words, " "), [&](const ReplayProgress& p) { progress.Update(p); });
  progress.Finish();
  if (!run.ok()) {
    std::fprintf(stderr, "tern-replay: %s\n", std::string(run.status().message()).c_str());
    return run.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  const ReplaySummary& summary = run->summary;
  if (!options->quiet) {
    std::fputs(FormatSummary(run->description, run->result, summary).c_str(), stdout);
  }
  if (absl::Status s = WriteReplayOutputs(*options, *run); !s.ok()) {
    std::fprintf(stderr, "tern-replay: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  // Unfinished or failed flows are a result worth reporting, and a failure
  // for scripts that check the exit status.
  return summary.completed == summary.flows ? 0 : 3;
}

}  // namespace
}  // namespace tern::replay

int main(int argc, char** argv) { return tern::replay::Main(argc, argv); }
