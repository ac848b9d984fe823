// Coverage-guided fuzzing of what a user hands the apps as text: flow files
// (htsim and HPCC), flow-size CDFs, topology files (parsed, then built into a
// fabric), rank files, --workload and --fabric specs, congestion-control
// specs, and the command lines of tern-replay, tern-perf and tern-ab. The
// first input byte picks the parser; the rest is its text (for a command
// line, arguments split at newlines).
// Passing means each input is parsed or refused with an error, with no crash,
// hang or sanitizer report. See transport/connection_fuzz.cc for how fuzz
// targets are built and run.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "apps/ab_options.h"
#include "apps/perf_options.h"
#include "apps/replay_flow_files.h"
#include "apps/replay_generators.h"
#include "apps/replay_options.h"
#include "apps/replay_rank_file.h"
#include "cc/registry.h"
#include "dataplane/sim/fabric.h"
#include "dataplane/sim/simulator.h"
#include "dataplane/sim/topology.h"
#include "transport/text.h"

namespace tern::replay {
namespace {

// Builds fabrics of parsed topology files only up to this many nodes: the
// point is the parser and the routing, not the memory a huge file asks for.
constexpr size_t kMaxFabricNodes = 512;

void ParseTopologyAndBuild(std::string_view text) {
  absl::StatusOr<sim::Topology> topology =
      sim::ParseTopology(text, "fuzz.topo", Bandwidth::Gbps(400), Duration::Microseconds(1));
  if (!topology.ok() || topology->nodes() > kMaxFabricNodes ||
      topology->cables.size() > kMaxFabricNodes * 8) {
    return;
  }
  sim::Simulator sim;
  (void)sim::Fabric::Create(sim, *std::move(topology), sim::FabricConfig{});
}

enum class Tool { kReplay, kPerf, kAb };

void ParseCommandLine(Tool tool, std::string_view text) {
  // The arguments after the program's name, as each parser takes them.
  std::vector<std::string> words;
  for (std::string_view word : SplitText(text, '\n')) words.emplace_back(word);
  std::vector<const char*> argv;
  for (const std::string& word : words) argv.push_back(word.c_str());
  switch (tool) {
    case Tool::kReplay:
      (void)ParseReplayOptions(argv);
      break;
    case Tool::kPerf: {
      const std::vector<std::string_view> args(words.begin(), words.end());
      (void)perf::ParsePerfOptions(args);
      break;
    }
    case Tool::kAb:
      (void)ab::ParseAbOptions(argv);
      break;
  }
}

void RunOne(std::span<const uint8_t> data) {
  if (data.empty()) return;
  const std::string_view text(reinterpret_cast<const char*>(data.data()) + 1, data.size() - 1);
  switch (data[0] % 11) {
    case 0:
      (void)ParseHtsimConnectionMatrix(text, "fuzz.htsim");
      break;
    case 1:
      (void)ParseHpccFlowFile(text, "fuzz.hpcc");
      break;
    case 2:
      (void)ParseFlowSizeCdf(text, "fuzz.cdf");
      break;
    case 3:
      ParseTopologyAndBuild(text);
      break;
    case 4:
      (void)ParseRankFile(text, "fuzz.rank");
      break;
    case 5: {
      // Specs that name files are left out: a path to a device or a pipe
      // would make the run read forever, which is the user's to avoid.
      if (text.find("flows:") != text.npos || text.find("chakra:") != text.npos ||
          text.find("cdf=") != text.npos) {
        break;
      }
      WorkloadEnvironment env;
      env.hosts = 16;
      env.host_rate = Bandwidth::Gbps(400);
      (void)MakeWorkload(text, env);
      break;
    }
    case 6:
      (void)sim::ParseFabricSpec(text);
      break;
    case 7:
      (void)ParseCcSpec(text);
      break;
    case 8:
      ParseCommandLine(Tool::kReplay, text);
      break;
    case 9:
      ParseCommandLine(Tool::kPerf, text);
      break;
    default:
      ParseCommandLine(Tool::kAb, text);
      break;
  }
}

}  // namespace
}  // namespace tern::replay

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tern::replay::RunOne({data, size});
  return 0;
}
