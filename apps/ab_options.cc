#include "apps/ab_options.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "apps/replay_cli.h"
#include "transport/text.h"

#if !defined(TERN_WORKLOADS_DIR) || !defined(TERN_TOOLS_DIR)
#error "meson defines TERN_WORKLOADS_DIR and TERN_TOOLS_DIR: where apps/workloads and tools are"
#endif

namespace tern::ab {
namespace {

// tern-replay flags tern-ab sets for every run itself.
constexpr std::array<std::string_view, 6> kManagedFlags = {"seed",     "json",  "csv",
                                                           "timeline", "quiet", "help"};

// tern-replay's flags: in a side spec, a comma-separated piece whose key is
// not one of these continues the previous value (cc, fabric and workload
// values hold commas of their own: "cc=dcqcn:g=0.5,rai=40,paths=16").
constexpr std::array<std::string_view, 18> kReplayFlags = {"fabric",
                                                           "workload",
                                                           "cc",
                                                           "verb",
                                                           "paths",
                                                           "path-policy",
                                                           "mtu",
                                                           "ack-every",
                                                           "ack-delay",
                                                           "pull-window",
                                                           "packets-per-turn",
                                                           "tclass",
                                                           "time-limit",
                                                           "collective-algorithm",
                                                           "comm-groups",
                                                           "timeline-interval",
                                                           "timeline-flows",
                                                           "fairness-window"};

std::string ReplayFlagList() {
  std::string list;
  for (std::string_view flag : kReplayFlags)
    absl::StrAppend(&list, list.empty() ? "" : ", ", std::string(flag));
  return list;
}

bool IsReplayFlag(std::string_view name) {
  return std::find(kReplayFlags.begin(), kReplayFlags.end(), name) != kReplayFlags.end();
}
bool IsManaged(std::string_view name) {
  return std::find(kManagedFlags.begin(), kManagedFlags.end(), name) != kManagedFlags.end();
}

absl::Status FlagError(std::string_view flag, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat("--%s: %s (see --help)", flag, why));
}

std::string_view FlagName(std::string_view flag) {  // "--cc=x" -> "cc"
  flag.remove_prefix(2);
  return flag.substr(0, flag.find('='));
}

absl::StatusOr<AbSide> ParseSide(std::string_view flag, std::string name, std::string_view spec) {
  AbSide side{std::move(name), std::string(spec), {}};
  if (spec.empty()) return FlagError(flag, "empty; expected KEY=VALUE[,KEY=VALUE...]");
  for (const KeyValue& piece : SplitKeyValues(spec)) {
    if (piece.has_equals && IsReplayFlag(piece.key)) {
      side.args.push_back(absl::StrCat("--", std::string(piece.item)));
    } else if (piece.has_equals && IsManaged(piece.key)) {
      return FlagError(flag, absl::StrFormat("'%s' is set by tern-ab, not per side", piece.key));
    } else if (!side.args.empty() && !piece.item.empty()) {
      absl::StrAppend(&side.args.back(), ",", std::string(piece.item));
    } else {
      return FlagError(flag, absl::StrFormat("'%s': expected KEY=VALUE with KEY one of %s",
                                             piece.item, ReplayFlagList()));
    }
  }
  return side;
}

// Whether the side's own flags set `flag`.
bool SideSets(const AbSide& side, std::string_view flag) {
  return std::any_of(side.args.begin(), side.args.end(),
                     [&](const std::string& arg) { return FlagName(arg) == flag; });
}

absl::StatusOr<std::vector<uint64_t>> ParseSeeds(std::string_view text) {
  std::vector<uint64_t> seeds;
  if (text.find(',') == std::string_view::npos) {
    const std::optional<uint64_t> count = ParseUnsigned(text);
    if (!count || *count < 1 || *count > 1000) {
      return FlagError("seeds", "a count in 1..1000, or a list of seeds such as 3,7,9");
    }
    for (uint64_t s = 1; s <= *count; ++s) seeds.push_back(s);
    return seeds;
  }
  for (std::string_view piece : SplitText(text, ',')) {
    const std::optional<uint64_t> seed = ParseUnsigned(piece);
    if (!seed) return FlagError("seeds", absl::StrFormat("'%s' is not a seed", piece));
    if (std::find(seeds.begin(), seeds.end(), *seed) != seeds.end()) {
      return FlagError("seeds", absl::StrFormat("seed %d given twice", *seed));
    }
    seeds.push_back(*seed);
  }
  return seeds;
}

}  // namespace

std::string NetnsLauncher() { return absl::StrCat(TERN_TOOLS_DIR, "/replay-netns.sh"); }

std::string DefaultWorkload() {
  return absl::StrCat("incast:senders=16,size=2MB,jitter=5us+load:cdf=", TERN_WORKLOADS_DIR,
                      "/websearch.cdf,load=0.4,duration=1ms");
}

absl::StatusOr<AbOptions> ParseAbOptions(std::span<const char* const> args) {
  AbOptions o;
  std::string a_spec = kDefaultA, b_spec = kDefaultB;
  std::vector<std::string> seen;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      o.help = true;
      return o;
    }
    if (!arg.starts_with("--") || arg.size() == 2) {
      return absl::InvalidArgumentError(
          absl::StrFormat("unexpected argument '%s' (see --help)", arg));
    }
    const std::string name(FlagName(arg));
    if (name == "no-plots") {
      o.plots = false;
      continue;
    }
    std::string value;
    if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return FlagError(name, "needs a value");
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return FlagError(name, "given twice");
    }
    seen.push_back(name);
    if (name == "a") {
      a_spec = value;
    } else if (name == "b") {
      b_spec = value;
    } else if (name == "seeds") {
      absl::StatusOr<std::vector<uint64_t>> seeds = ParseSeeds(value);
      if (!seeds.ok()) return seeds.status();
      o.seeds = *std::move(seeds);
    } else if (name == "out") {
      if (value.empty()) return FlagError(name, "empty");
      o.out_dir = value;
    } else if (name == "ranks") {
      const std::optional<uint64_t> ranks = ParseUnsigned(value);
      if (!ranks || *ranks < 2 || *ranks > 4096) return FlagError(name, "a count in 2..4096");
      o.ranks = static_cast<unsigned>(*ranks);
    } else if (name == "launcher") {
      if (value.find_first_not_of(" \t") == std::string::npos) return FlagError(name, "empty");
      o.launcher = value;
    } else if (name == "fabric" && value == "dpdk") {
      o.dpdk = true;  // not a tern-replay flag here: the launcher sets it per rank
    } else if (name == "margin") {
      const std::optional<double> margin = ParseNonNegativeDouble(value);
      if (!margin || *margin >= 100) return FlagError(name, "a percentage in [0, 100)");
      o.margin_percent = *margin;
    } else if (name == "jobs") {
      const std::optional<uint64_t> jobs = ParseUnsigned(value);
      if (!jobs || *jobs < 1 || *jobs > 256) return FlagError(name, "a count in 1..256");
      o.jobs = static_cast<unsigned>(*jobs);
    } else if (IsManaged(name)) {
      return FlagError(name, name == "seed" ? "tern-ab sets each run's seed; use --seeds"
                                            : "tern-ab sets each run's outputs itself");
    } else if (IsReplayFlag(name)) {
      o.common.push_back(absl::StrCat("--", name, "=", value));
    } else {
      return absl::InvalidArgumentError(absl::StrFormat("unknown flag --%s (see --help)", name));
    }
  }
  auto has = [&](std::string_view flag) {
    return std::find(seen.begin(), seen.end(), flag) != seen.end();
  };
  for (const char* flag : {"ranks", "launcher"}) {
    if (has(flag) && !o.dpdk) return FlagError(flag, "only with --fabric=dpdk");
  }
  if (o.dpdk && o.launcher.empty() && o.ranks > 8) {
    return FlagError("ranks", "the network-namespace lab takes 2..8; more need --launcher");
  }
  if (o.dpdk) o.jobs = 1;  // the ranks of one run take every core
  if (o.seeds.empty()) {
    for (uint64_t s = 1; s <= kDefaultSeeds; ++s) o.seeds.push_back(s);
  }
  absl::StatusOr<AbSide> a = ParseSide("a", "A", a_spec);
  if (!a.ok()) return a.status();
  absl::StatusOr<AbSide> b = ParseSide("b", "B", b_spec);
  if (!b.ok()) return b.status();
  o.a = *std::move(a);
  o.b = *std::move(b);
  // A default applies where nothing sets its flag: to both sides as a shared
  // flag, or to the one side that leaves it unset (the other side's own value
  // would otherwise meet it in the same run: "given twice").
  auto add_default = [&](std::string_view flag, const std::string& value) {
    if (has(flag)) return;
    const std::string arg = absl::StrCat("--", std::string(flag), "=", value);
    const bool a_sets = SideSets(o.a, flag);
    const bool b_sets = SideSets(o.b, flag);
    if (!a_sets && !b_sets) o.common.push_back(arg);
    if (a_sets != b_sets) (a_sets ? o.b : o.a).args.push_back(arg);
  };
  add_default("fabric", kDefaultFabric);
  add_default("workload", o.dpdk ? kDefaultDpdkWorkload : DefaultWorkload());
  // Each side's runs go through tern-replay's parser now: a bad value or a
  // flag set both in common and in a side fails before anything runs.
  for (const AbSide* side : {&o.a, &o.b}) {
    std::vector<std::string> run = RunArguments(o, *side, o.seeds.front());
    if (o.dpdk) {
      // The same flags on a star of as many simulated hosts: the transport
      // settings and the workload are checked the same way.
      for (const std::string& arg : side->args) {
        if (arg.starts_with("--fabric=")) {
          return FlagError(side == &o.a ? "a" : "b", "sides share the fabric over DPDK");
        }
      }
      run.push_back(absl::StrFormat("--fabric=sim:topology=star,hosts=%d", o.ranks));
    }
    std::vector<const char*> argv;
    for (const std::string& s : run) argv.push_back(s.c_str());
    absl::StatusOr<replay::ReplayOptions> parsed = replay::ParseReplayOptions(argv);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("side %s (%s): %s", side->name, side->spec, parsed.status().message()));
    }
    if (parsed->help) {
      return FlagError(side == &o.a ? "a" : "b",
                       "cc=help is not a side; run tern-replay --cc=help");
    }
    // The topology and workload too (files read, hosts counted), so a bad
    // workload is one error now rather than one failed run per seed.
    if (absl::StatusOr<replay::ReplayInputs> inputs = replay::MakeReplayInputs(*parsed);
        !inputs.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("side %s (%s): %s", side->name, side->spec, inputs.status().message()));
    }
  }
  return o;
}

std::vector<std::string> RunArguments(const AbOptions& options, const AbSide& side, uint64_t seed) {
  std::vector<std::string> args = options.common;
  args.insert(args.end(), side.args.begin(), side.args.end());
  args.push_back(absl::StrCat("--seed=", seed));
  return args;
}

std::vector<std::string> LaunchCommand(const AbOptions& options, const std::string& dir,
                                       const std::vector<std::string>& args) {
  std::vector<std::string> command;
  if (options.launcher.empty()) {
    command = {"bash", NetnsLauncher()};
  } else {  // a shell command with options of its own; the run's words follow
    command = {"bash", "-c", options.launcher + " \"$@\"", "tern-ab-launcher"};
  }
  for (std::string word :
       {std::to_string(options.ranks), std::string("--dir"), dir, std::string("--")}) {
    command.push_back(std::move(word));
  }
  command.insert(command.end(), args.begin(), args.end());
  return command;
}

std::string AbUsage() {
  return absl::StrFormat(
      R"(tern-ab: is congestion control (or transport setting) B better than A on a workload?

usage: tern-ab [--a=SPEC] [--b=SPEC] [--seeds K|S1,S2,...] [--out DIR] [--jobs N]
               [--margin PCT] [--no-plots] [tern-replay flags]

Runs the workload once per side and seed on the simulated fabric (seed s gives
both sides the same workload), in parallel, and writes DIR/report.md,
DIR/summary.json and DIR/plots/*.png: every metric for A and B across seeds,
the ratio B/A with a 95%% confidence interval and a verdict. Finished runs in
DIR/runs are reused when tern-ab is run again with the same inputs.

  --a=SPEC, --b=SPEC   a side: tern-replay flags as KEY=VALUE joined by commas,
                       e.g. --a=cc=dcqcn --b=cc=nscc:gamma=0.5,paths=16
                       (default A %s, B %s); keys: %s
  --seeds K            seeds 1..K (default %d), or a list: --seeds 3,7,9
  --out DIR            where the report goes (default tern-ab-out)
  --jobs N             runs at once (default: the number of cores)
  --margin PCT         a difference whose whole 95%% interval lies within PCT
                       percent of no change is "negligible", not better or
                       worse (default 1; 0: every significant one is a verdict)
  --fabric=dpdk        run over DPDK, one rank per host, one run at a time: on
                       network-namespace hosts (tools/replay-netns.sh; root) unless
                       --launcher says otherwise; default workload %s
  --ranks N            hosts of a --fabric=dpdk run (default 4; 2..8 on the netns lab)
  --launcher CMD       shell command that starts the ranks, called as
                       CMD N --dir DIR -- ARGS and leaving DIR/rank*.txt; for a
                       cluster: "tools/replay-mpirun.sh --hostfile F --hosts H --eal '...'"
  --no-plots           tables only
  tern-replay flags    shared by both sides: --fabric, --workload, --time-limit, ...
                       (not --seed, --json, --csv, --timeline: tern-ab sets them)

Defaults: --fabric=%s
          --workload=%s
)",
      kDefaultA, kDefaultB, ReplayFlagList(), kDefaultSeeds, kDefaultDpdkWorkload, kDefaultFabric,
      DefaultWorkload());
}

}  // namespace tern::ab
