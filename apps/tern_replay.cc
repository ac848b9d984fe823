// tern-replay: replays a workload (synthetic, flow file or Chakra trace) over
// the simulated fabric and reports flow completion times, collective times,
// queues and retransmissions; or runs one rank of it on the DPDK dataplane
// (`tern-replay [EAL args] -- --fabric=dpdk ...`), whose rank files
// `tern-replay --merge` turns into the same report.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "apps/file_io.h"
#include "apps/huge_page_heap.h"
#include "apps/replay_cli.h"
#include "apps/replay_dpdk.h"
#include "apps/replay_generators.h"
#include "apps/replay_rank_file.h"
#include "cc/registry.h"
#include "dataplane/dpdk/eal.h"

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

// 0 when every flow completed, else 3, with the reason on stderr as well as
// in the summary, so that a --quiet run says why it failed.
int FlowsExitStatus(const ReplayRun& run) {
  const ReplaySummary& s = run.summary;
  if (s.completed == s.flows) return 0;
  std::fprintf(stderr,
               "tern-replay: %llu of %llu flows did not complete: %llu failed, %llu unfinished%s\n",
               static_cast<unsigned long long>(s.flows - s.completed),
               static_cast<unsigned long long>(s.flows), static_cast<unsigned long long>(s.failed),
               static_cast<unsigned long long>(s.unfinished),
               run.result.timed_out ? " at the time limit (--time-limit)" : "");
  return 3;
}

// --merge: the ranks' files of a DPDK run into one JSON / CSV, as a simulated
// run writes them. Exit 3 when a flow did not complete or a byte was not
// verified.
int Merge(const ReplayOptions& options, const std::string& command) {
  if (absl::Status s = PrepareReplayOutputs(options); !s.ok()) {
    std::fprintf(stderr, "tern-replay: %s\n", PrintableText(s.message()).c_str());
    return 1;
  }
  absl::StatusOr<ReplayResult> merged = MergeRankResults(options.merge_paths);
  if (!merged.ok()) {
    std::fprintf(stderr, "tern-replay: --merge: %s\n",
                 PrintableText(merged.status().message()).c_str());
    return 2;
  }
  // Samples taken but not asked for, or asked for but not taken: say so
  // rather than leave a silent gap.
  if (options.timeline_dir.empty() && !merged->cc_timeline.empty()) {
    std::fprintf(stderr,
                 "tern-replay: the rank files carry %zu congestion-control samples; "
                 "--timeline DIR writes them\n",
                 merged->cc_timeline.size());
  } else if (!options.timeline_dir.empty() && merged->cc_timeline.empty()) {
    std::fprintf(stderr,
                 "tern-replay: the rank files carry no congestion-control samples (the ranks "
                 "ran without --timeline-interval): %s/cc.csv has none\n",
                 options.timeline_dir.c_str());
  }
  ReplayRun run;
  run.description = DescribeMergedRun(*merged, command);
  run.result = *std::move(merged);
  run.summary = Summarize(run.result);
  if (!options.quiet) {
    std::fputs(FormatSummary(run.description, run.result, run.summary).c_str(), stdout);
  }
  if (absl::Status s = WriteReplayOutputs(options, run); !s.ok()) {
    std::fprintf(stderr, "tern-replay: %s\n", PrintableText(s.message()).c_str());
    return 1;
  }
  const DataplaneResult& d = *run.result.dataplane;
  const bool data_ok = d.data_errors == 0 && d.bytes_verified == d.bytes_expected;
  if (!data_ok) {
    std::fprintf(stderr, "tern-replay: %llu of %llu bytes verified, %llu data errors\n",
                 static_cast<unsigned long long>(d.bytes_verified),
                 static_cast<unsigned long long>(d.bytes_expected),
                 static_cast<unsigned long long>(d.data_errors));
  }
  const int flows_status = FlowsExitStatus(run);
  return flows_status == 0 && data_ok ? 0 : 3;
}

// --fabric=dpdk: one rank; EAL arguments before "--".
int RunRank(const ReplayOptions& options, const std::vector<std::string>& all, bool has_eal_args) {
  if (!has_eal_args) {
    std::fprintf(stderr,
                 "tern-replay: --fabric=dpdk needs EAL arguments first: tern-replay -l 0 "
                 "--file-prefix NAME [--no-huge -m 512] [-a DEVICE | --vdev ...] -- "
                 "--fabric=dpdk --rank R --hosts FILE --out FILE ... (see --help)\n");
    return 2;
  }
  std::vector<std::string> unused;
  absl::StatusOr<std::unique_ptr<dpdk::Eal>> eal = dpdk::Eal::Init(all, &unused);
  if (!eal.ok()) {
    std::fprintf(stderr, "tern-replay: %s\n", PrintableText(eal.status().message()).c_str());
    return 1;
  }
  bool all_done = false;
  const absl::Status status = RunDpdkRank(options, &all_done);
  if (!status.ok()) {
    std::fprintf(stderr, "tern-replay: %s\n", PrintableText(status.message()).c_str());
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return all_done ? 0 : 3;
}

int Main(int argc, char** argv) {
  // DPDK's convention: EAL arguments, then "--", then the app's.
  const std::vector<std::string> all(argv, argv + argc);
  std::vector<std::string> eal_args, app_args;
  dpdk::SplitEalArguments(all, &eal_args, &app_args);
  const bool has_eal_args = eal_args.size() < all.size();
  if (!has_eal_args) app_args.assign(all.begin() + 1, all.end());
  std::vector<const char*> app_argv;
  for (const std::string& a : app_args) app_argv.push_back(a.c_str());
  absl::StatusOr<ReplayOptions> options = ParseReplayOptions(app_argv);
  if (!options.ok()) {
    std::fprintf(stderr, "tern-replay: %s\n", PrintableText(options.status().message()).c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(ReplayUsage().c_str(), stdout);
    std::fputs(DescribeAlgorithms().c_str(), stdout);
    return 0;
  }
  if (!options->merge_paths.empty()) return Merge(*options, absl::StrJoin(all, " "));
  if (options->dpdk) return RunRank(*options, all, has_eal_args);
  if (has_eal_args) {
    std::fprintf(stderr, "tern-replay: EAL arguments before '--' only with --fabric=dpdk\n");
    return 2;
  }
  RestartWithHugePageHeap(argv);
  if (absl::Status s = PrepareReplayOutputs(*options); !s.ok()) {
    std::fprintf(stderr, "tern-replay: %s\n", PrintableText(s.message()).c_str());
    return 1;
  }
  ProgressLine progress(!options->quiet);
  absl::StatusOr<ReplayRun> run = RunFromOptions(
      *options, absl::StrJoin(all, " "), [&](const ReplayProgress& p) { progress.Update(p); });
  progress.Finish();
  if (!run.ok()) {
    std::fprintf(stderr, "tern-replay: %s\n", PrintableText(run.status().message()).c_str());
    return run.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  const ReplaySummary& summary = run->summary;
  if (!options->quiet) {
    std::fputs(FormatSummary(run->description, run->result, summary).c_str(), stdout);
  }
  if (absl::Status s = WriteReplayOutputs(*options, *run); !s.ok()) {
    std::fprintf(stderr, "tern-replay: %s\n", PrintableText(s.message()).c_str());
    return 1;
  }
  // Unfinished or failed flows are a result worth reporting, and a failure
  // for scripts that check the exit status.
  return FlowsExitStatus(*run);
}

}  // namespace
}  // namespace tern::replay

int main(int argc, char** argv) { return tern::replay::Main(argc, argv); }
