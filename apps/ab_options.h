// Command-line options of tern-ab: two sides to compare, the seeds, and the
// tern-replay flags every run shares. Parsing turns each (side, seed) into the
// tern-replay arguments of one run and validates them with tern-replay's own
// parser, so a bad flag fails before any run starts.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tern::ab {

struct AbSide {
  std::string name;               // "A" or "B"
  std::string spec;               // as given: "cc=nscc,paths=16"
  std::vector<std::string> args;  // as tern-replay flags: "--cc=nscc", "--paths=16"
};

struct AbOptions {
  bool help = false;
  AbSide a, b;
  std::vector<std::string> common;  // tern-replay flags shared by both sides
  std::vector<uint64_t> seeds;
  std::string out_dir = "tern-ab-out";
  unsigned jobs = 0;  // runs at once; 0: the number of cores
  bool plots = true;
  // A difference whose whole 95% interval lies within this many percent of
  // no change is "negligible", however significant (ab_stats.h).
  double margin_percent = 1;
  // --fabric=dpdk: every run goes over DPDK on this many hosts, one run at
  // a time, started by the launcher: by default the network-namespace lab
  // (tools/replay-netns.sh), or a shell command such as tools/replay-mpirun.sh
  // with its options, called as `LAUNCHER N --dir DIR -- ARGS`.
  bool dpdk = false;
  unsigned ranks = 4;
  std::string launcher;  // empty: the netns lab
};

// The built-in scenario, used for whatever the command line leaves unset:
// a 16:1 incast of 2 MB flows plus web-search background traffic at 40% load
// on a 64-host 400G leaf-spine, DCQCN against NSCC, five seeds.
inline constexpr const char* kDefaultFabric = "sim:topology=leafspine,hosts=64";
std::string DefaultWorkload();  // names the web-search CDF shipped in apps/workloads
inline constexpr const char* kDefaultA = "cc=dcqcn";
inline constexpr const char* kDefaultB = "cc=nscc";
inline constexpr uint64_t kDefaultSeeds = 5;
// Over DPDK on a few namespace hosts the built-in workload would not fit.
inline constexpr const char* kDefaultDpdkWorkload = "alltoall:size=1MB";

// Where tools/replay-netns.sh is (the checkout this binary was built from).
std::string NetnsLauncher();
// The command line that starts one DPDK run's ranks: `LAUNCHER N --dir DIR
// -- ARGS`, which leaves DIR/rank*.txt.
std::vector<std::string> LaunchCommand(const AbOptions& options, const std::string& dir,
                                       const std::vector<std::string>& args);

absl::StatusOr<AbOptions> ParseAbOptions(std::span<const char* const> args);

// The tern-replay arguments of one run, without its output files: the
// shared flags, then the side's, then --seed. Over DPDK, without --fabric
// (the launcher sets it).
std::vector<std::string> RunArguments(const AbOptions& options, const AbSide& side, uint64_t seed);

std::string AbUsage();

}  // namespace tern::ab
