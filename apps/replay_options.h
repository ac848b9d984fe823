// Command-line options of tern-replay: parsing and validation only, so a bad
// invocation fails at once with one line naming the flag.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "apps/replay_runner.h"

namespace tern::replay {

struct ReplayOptions {
  bool help = false;
  std::string fabric = "sim";  // as given
  std::string workload = "incast";
  std::string cc = "fixed";
  std::string json_path;
  std::string csv_path;
  std::string timeline_dir;
  std::string chakra_algorithm;  // --collective-algorithm, for chakra: workloads
  bool quiet = false;            // no summary on stdout
  ReplayConfig config;           // fabric, verb, cc, paths, policy, mtu, seed, limits
};

absl::StatusOr<ReplayOptions> ParseReplayOptions(std::span<const char* const> args);
std::string ReplayUsage();

}  // namespace tern::replay
