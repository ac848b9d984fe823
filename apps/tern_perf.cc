// tern-perf: perftest (ib_write_bw, ib_send_lat, ...) for Tern over the
// simulated wire. Parses the flags, runs each message size, prints the table
// and writes the JSON. Exit status: 0 all messages completed with no data
// error, 1 otherwise, 2 usage error.
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/perf_options.h"
#include "apps/perf_report.h"
#include "apps/perf_runner.h"

namespace tern::perf {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  return !out.fail();
}

int Main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  const absl::StatusOr<PerfOptions> parsed = ParsePerfOptions(args);
  if (!parsed.ok()) {
    std::fprintf(stderr, "tern-perf: %s (see --help)\n",
                 std::string(parsed.status().message()).c_str());
    return kExitUsage;
  }
  const PerfOptions& options = *parsed;
  if (options.help) {
    std::fputs(PerfUsage().c_str(), stdout);
    return kExitOk;
  }

  std::fputs(FormatBanner(options).c_str(), stdout);
  std::fputs(FormatTableHeader(options.test).c_str(), stdout);
  std::fflush(stdout);

  ProgressFn progress;
  if (!options.quiet) {
    progress = [](const PerfProgress& p) {
      std::fprintf(stderr, "%s\n", FormatProgress(p).c_str());
    };
  }
  std::vector<PerfResult> results;
  int status = kExitOk;
  for (uint64_t size : options.Sizes()) {
    absl::StatusOr<PerfResult> result = RunPerfTest(options, size, progress);
    if (!result.ok()) {
      std::fprintf(stderr, "tern-perf: set-up failed for %llu-byte messages: %s\n",
                   static_cast<unsigned long long>(size), result.status().ToString().c_str());
      status = kExitFailed;
      break;
    }
    std::fputs(FormatRow(*result).c_str(), stdout);
    std::fflush(stdout);
    if (!result->ok) {
      std::fprintf(stderr, "tern-perf: %llu-byte run FAILED: %s\n",
                   static_cast<unsigned long long>(size), result->failure.c_str());
    }
    if (result->data_errors > 0) {
      std::fprintf(stderr, "tern-perf: %llu-byte run: %llu data errors\n",
                   static_cast<unsigned long long>(size),
                   static_cast<unsigned long long>(result->data_errors));
    }
    if (!result->passed()) status = kExitFailed;
    const bool stop = !result->ok;  // a broken run says nothing about the next size
    results.push_back(*std::move(result));
    if (stop) break;
  }
  std::fputs(FormatRule().c_str(), stdout);
  if (!results.empty()) std::fputs(FormatCounters(options, results).c_str(), stdout);
  if (!options.json_path.empty() && !WriteFile(options.json_path, FormatJson(options, results))) {
    std::fprintf(stderr, "tern-perf: cannot write %s\n", options.json_path.c_str());
    status = kExitFailed;
  }
  return status;
}

}  // namespace
}  // namespace tern::perf

int main(int argc, char** argv) { return tern::perf::Main(argc, argv); }
