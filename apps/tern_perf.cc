// tern-perf: perftest (ib_write_bw, ib_send_lat, ...) for Tern over the
// simulated wire or DPDK (`tern-perf [EAL args] -- --fabric=dpdk ...`).
// Parses the flags, runs each message size, prints the table and writes the
// JSON. Exit status: 0 all messages completed with no data error, 1
// otherwise, 2 usage error.
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apps/file_io.h"
#include "apps/perf_dpdk.h"
#include "apps/perf_options.h"
#include "apps/perf_report.h"
#include "apps/perf_runner.h"
#include "dataplane/dpdk/eal.h"

namespace tern::perf {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int Main(int argc, char** argv) {
  // DPDK's convention: EAL arguments, then "--", then the app's.
  const std::vector<std::string> all(argv, argv + argc);
  std::vector<std::string> eal_args;
  std::vector<std::string> app_args;
  dpdk::SplitEalArguments(all, &eal_args, &app_args);
  const bool has_eal_args = eal_args.size() < all.size();
  if (!has_eal_args) app_args.assign(all.begin() + 1, all.end());
  std::vector<std::string_view> args(app_args.begin(), app_args.end());
  const absl::StatusOr<PerfOptions> parsed = ParsePerfOptions(args);
  if (!parsed.ok()) {
    std::fprintf(stderr, "tern-perf: %s (see --help)\n",
                 PrintableText(parsed.status().message()).c_str());
    return kExitUsage;
  }
  const PerfOptions& options = *parsed;
  if (options.help) {
    std::fputs(PerfUsage().c_str(), stdout);
    return kExitOk;
  }
  if (!options.json_path.empty()) {
    if (const absl::Status s = CheckWritable(options.json_path); !s.ok()) {
      std::fprintf(stderr, "tern-perf: --json: %s\n", PrintableText(s.message()).c_str());
      return kExitFailed;
    }
  }

  std::unique_ptr<dpdk::Eal> eal;
  std::unique_ptr<DpdkPerfFabric> dpdk_fabric;
  if (options.fabric_kind == FabricKind::kDpdk) {
    if (!has_eal_args) {
      std::fprintf(stderr,
                   "tern-perf: --fabric=dpdk needs EAL arguments first: tern-perf -l 0-1 "
                   "--file-prefix NAME [--no-huge -m 1024] [-a DEVICE | --vdev ...] -- "
                   "--fabric=dpdk ... (see --help)\n");
      return kExitUsage;
    }
    std::vector<std::string> unused;
    absl::StatusOr<std::unique_ptr<dpdk::Eal>> started = dpdk::Eal::Init(all, &unused);
    if (!started.ok()) {
      std::fprintf(stderr, "tern-perf: %s\n", PrintableText(started.status().message()).c_str());
      return kExitFailed;
    }
    eal = *std::move(started);
    absl::StatusOr<std::unique_ptr<DpdkPerfFabric>> fabric = DpdkPerfFabric::Open(options);
    if (!fabric.ok()) {
      std::fprintf(stderr, "tern-perf: DPDK set-up failed: %s\n",
                   PrintableText(fabric.status().message()).c_str());
      return kExitFailed;
    }
    dpdk_fabric = *std::move(fabric);
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
    absl::StatusOr<PerfResult> result =
        dpdk_fabric ? dpdk_fabric->Run(size, progress) : RunPerfTest(options, size, progress);
    if (!result.ok()) {
      std::fprintf(stderr, "tern-perf: set-up failed for %llu-byte messages: %s\n",
                   static_cast<unsigned long long>(size),
                   PrintableText(result.status().ToString()).c_str());
      status = kExitFailed;
      break;
    }
    std::fputs(FormatRow(*result).c_str(), stdout);
    std::fflush(stdout);
    if (!result->ok) {
      std::fprintf(stderr, "tern-perf: %llu-byte run FAILED: %s\n",
                   static_cast<unsigned long long>(size), PrintableText(result->failure).c_str());
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
  if (!options.json_path.empty()) {
    if (const absl::Status written =
            WriteWholeFile(options.json_path, FormatJson(options, results));
        !written.ok()) {
      std::fprintf(stderr, "tern-perf: %s\n", PrintableText(written.message()).c_str());
      status = kExitFailed;
    }
  }
  return status;
}

}  // namespace
}  // namespace tern::perf

int main(int argc, char** argv) { return tern::perf::Main(argc, argv); }
