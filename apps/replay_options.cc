#include "apps/replay_options.h"

#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "apps/replay_generators.h"
#include "cc/registry.h"
#include "transport/text.h"

namespace tern::replay {
namespace {

absl::Status FlagError(std::string_view flag, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat("--%s: %s (see --help)", flag, why));
}

}  // namespace

absl::StatusOr<ReplayOptions> ParseReplayOptions(std::span<const char* const> args) {
  ReplayOptions o;
  std::vector<std::string> seen;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      o.help = true;
      return o;
    }
    if (!arg.starts_with("--")) {
      return absl::InvalidArgumentError(
          absl::StrFormat("unexpected argument '%s' (see --help)", arg));
    }
    arg.remove_prefix(2);
    std::string_view name = arg, value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (name == "quiet") {
      o.quiet = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) return FlagError(name, "needs a value");
      value = args[++i];
    }
    for (const std::string& s : seen) {
      if (s == name) return FlagError(name, "given twice");
    }
    seen.emplace_back(name);
    uint64_t u;
    double d;
    if (name == "fabric") {
      o.fabric = std::string(value);
      if (value == "dpdk" || value.starts_with("dpdk:")) {
        return FlagError(name, "the DPDK dataplane is not wired to tern-replay yet; use sim");
      }
      if (value != "sim" && !value.starts_with("sim:")) {
        return FlagError(name, absl::StrFormat("'%s': expected sim[:KEY=VALUE,...]", value));
      }
      absl::StatusOr<sim::FabricConfig> f =
          sim::ParseFabricSpec(value.size() > 4 ? value.substr(4) : std::string_view());
      if (!f.ok()) return f.status();
      o.config.fabric = *f;
    } else if (name == "workload") {
      if (value.empty()) return FlagError(name, "empty");
      o.workload = std::string(value);
    } else if (name == "cc") {
      if (value == "help") {  // as the usage promises: the algorithms and their keys
        o.help = true;
        return o;
      }
      if (absl::StatusOr<ParsedCcSpec> cc = ParseCcSpec(value); !cc.ok()) {
        return FlagError(name, std::string(cc.status().message()));
      }
      o.cc = std::string(value);
    } else if (name == "seed") {
      if (!ParseUint(value, &u)) return FlagError(name, "expected a whole number");
      o.config.seed = u;
    } else if (name == "json") {
      o.json_path = std::string(value);
    } else if (name == "csv") {
      o.csv_path = std::string(value);
    } else if (name == "timeline") {
      o.timeline_dir = std::string(value);
    } else if (name == "timeline-interval") {
      if (!ParseDouble(value, &d) || !(d >= 0.01 && d <= 1e6)) {
        return FlagError(name, "microseconds in [0.01, 1e6]");
      }
      o.config.timeline_interval = Duration::Picoseconds(static_cast<int64_t>(d * 1e6));
    } else if (name == "timeline-flows") {
      if (!ParseUint(value, &u) || u > 100000) return FlagError(name, "a count in [0, 100000]");
      o.config.timeline_connections = static_cast<uint32_t>(u);
    } else if (name == "verb") {
      if (value == "write")
        o.config.verb = TransferVerb::kWrite;
      else if (value == "send")
        o.config.verb = TransferVerb::kSend;
      else
        return FlagError(name, "write or send");
    } else if (name == "paths") {
      if (!ParseUint(value, &u) || u < 1 || u > 0x3FFF) return FlagError(name, "1..16383");
      o.config.paths = static_cast<uint16_t>(u);
    } else if (name == "path-policy") {
      if (value == "single")
        o.config.path_policy = PathPolicy::kSinglePath;
      else if (value == "oblivious")
        o.config.path_policy = PathPolicy::kOblivious;
      else if (value == "weighted")
        o.config.path_policy = PathPolicy::kWeighted;
      else
        return FlagError(name, "single|oblivious|weighted");
    } else if (name == "mtu") {
      if (!ParseUint(value, &u) || u < 256 || u > 9000)
        return FlagError(name, "payload bytes, 256..9000");
      o.config.mtu = static_cast<uint32_t>(u);
    } else if (name == "time-limit") {
      if (!ParseDouble(value, &d) || !(d > 0 && d <= 1e6)) {
        return FlagError(name, "milliseconds of virtual time in (0, 1e6]");
      }
      o.config.time_limit = Duration::Picoseconds(static_cast<int64_t>(d * 1e9));
    } else if (name == "collective-algorithm") {
      o.chakra_algorithm = std::string(value);
    } else {
      return absl::InvalidArgumentError(absl::StrFormat("unknown flag --%s (see --help)", name));
    }
  }
  o.config.cc = o.cc;
  if (o.config.fabric.seed == 0) o.config.fabric.seed = o.config.seed;
  if (!o.timeline_dir.empty() && o.config.timeline_interval == Duration::Zero()) {
    o.config.timeline_interval = Duration::Microseconds(10);
  }
  return o;
}

std::string ReplayUsage() {
  return absl::StrCat(
      R"(tern-replay: replays a workload over a simulated fabric through Tern's verbs API

usage: tern-replay [--fabric=sim[:...]] [--workload=SPEC] [--cc=NAME[:k=v,...]] [--seed N]
                   [--json FILE] [--csv FILE] [--timeline DIR] [options]

  --workload=SPEC        what to replay (default incast); forms below
  --cc=SPEC              congestion control (default fixed); --cc=help lists them
  --seed N               seeds the workload, the transport and the fabric (default 1)
  --json FILE            every result as JSON
  --csv FILE             one line per flow
  --timeline DIR         DIR/queues.csv: switch-port queue and throughput samples;
                         DIR/cc.csv: each sampled queue pair's rate and CC variables;
                         DIR/fairness.csv: Jain's index of the sampled flows
  --timeline-interval US sampling period (default 10)
  --timeline-flows N     host pairs whose queue pairs cc.csv samples (default 8)
  --verb write|send      RDMA WRITE (default) or SEND with a RECV posted at the receiver
  --paths N              entropies each connection sprays over (default 8)
  --path-policy P        single|oblivious|weighted (default weighted)
  --mtu BYTES            payload bytes per packet (default 4096)
  --time-limit MS        virtual time after which unfinished flows are reported (default 1000)
  --collective-algorithm A   for chakra: traces (ring, recursive_doubling, direct)
  --quiet                no summary on stdout

)",
      sim::DescribeFabricSpec(), "\n\n", DescribeWorkloadSpecs(), "\n");
}

}  // namespace tern::replay
