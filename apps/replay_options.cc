#include "apps/replay_options.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "apps/perf_options.h"
#include "apps/replay_generators.h"
#include "cc/registry.h"
#include "transport/text.h"
#include "transport/wire.h"

namespace tern::replay {
namespace {

absl::Status FlagError(std::string_view flag, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat("--%s: %s (see --help)", flag, why));
}

}  // namespace

absl::StatusOr<ReplayOptions> ParseReplayOptions(std::span<const char* const> args) {
  ReplayOptions o;
  std::vector<std::string> seen;
  std::optional<std::string> fault_spec;  // --fabric=dpdk:SPEC
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
    if (name == "no-coalesce-control" || name == "no-address-check") {
      if (has_value) return FlagError(name, "takes no value");
      if (name == "no-coalesce-control") o.dpdk_options.coalesce_control = false;
      if (name == "no-address-check") o.dpdk_options.address_check = false;
      seen.emplace_back(name);
      continue;
    }
    if (name == "merge") {  // --merge FILE... : every argument up to the next flag
      if (has_value) o.merge_paths.emplace_back(value);
      while (i + 1 < args.size() && !std::string_view(args[i + 1]).starts_with("--")) {
        o.merge_paths.emplace_back(args[++i]);
      }
      if (o.merge_paths.empty()) return FlagError(name, "needs one or more rank files");
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
      if (value.starts_with("dpdk:")) {
        fault_spec = value.substr(5);  // read once --paths and --seed are known
        o.dpdk = true;
        continue;
      }
      if (value == "dpdk") {
        o.dpdk = true;
        continue;
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
      o.config.cc = std::string(value);
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
      o.config.timeline_interval = Duration::FractionalMicroseconds(d);
    } else if (name == "fairness-window") {
      if (!ParseDouble(value, &d) || !(d >= 0 && d <= 1e6)) {
        return FlagError(name, "microseconds in [0, 1e6]");
      }
      o.fairness_window = Duration::FractionalMicroseconds(d);
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
      if (!ParseUint(value, &u) || u < 1 || u > kMaxPaths) {
        return FlagError(name, absl::StrFormat("1..%u", kMaxPaths));
      }
      o.config.paths = static_cast<uint16_t>(u);
    } else if (name == "path-policy") {
      const std::optional<PathPolicy> policy = ParsePathPolicy(value);
      if (!policy) return FlagError(name, PathPolicyNames());
      o.config.path_policy = *policy;
    } else if (name == "mtu") {
      if (!ParseUint(value, &u) || u < 256 || u > 9000)
        return FlagError(name, "payload bytes, 256..9000");
      o.config.mtu = static_cast<uint32_t>(u);
    } else if (name == "ack-every") {
      if (!ParseUint(value, &u) || u < 1 || u > 1024) return FlagError(name, "packets, 1..1024");
      o.config.ack_every = static_cast<uint32_t>(u);
    } else if (name == "packets-per-turn") {
      if (!ParseUint(value, &u) || u < 1 || u > kMaxPacketsPerTurn) {
        return FlagError(name, absl::StrFormat("packets, 1..%u", kMaxPacketsPerTurn));
      }
      o.config.packets_per_turn = static_cast<uint32_t>(u);
    } else if (name == "tclass") {
      if (!ParseUint(value, &u) || !IsDscpTrafficClass(u)) {
        return FlagError(name, "DSCP x 4, 0..252 (the ECN bits are Tern's)");
      }
      o.config.traffic_class = static_cast<uint8_t>(u);
    } else if (name == "pull-window") {
      const uint32_t window = TransportOptions{}.window_packets;
      if (!ParseUint(value, &u) || u > window) {
        return FlagError(name, absl::StrFormat("packets, 0..%u (0: no pulls)", window));
      }
      o.config.pull_window_packets = static_cast<uint32_t>(u);
    } else if (name == "ack-delay") {
      if (!ParseDouble(value, &d) || !(d >= 0 && d <= 10000)) {
        return FlagError(name, "microseconds in [0, 10000]");
      }
      o.config.ack_delay = Duration::FractionalMicroseconds(d);
    } else if (name == "time-limit") {
      if (!ParseDouble(value, &d) || !(d > 0 && d <= 1e6)) {
        return FlagError(name, "milliseconds of virtual time in (0, 1e6]");
      }
      o.config.time_limit = Duration::Milliseconds(1).Scaled(d);
      o.dpdk_options.time_limit_s = d / 1e3;
    } else if (name == "rank") {
      if (!ParseUint(value, &u) || u >= 4096) return FlagError(name, "a rank in [0, 4096)");
      o.dpdk_options.rank = static_cast<uint32_t>(u);
    } else if (name == "hosts") {
      if (value.empty()) return FlagError(name, "empty");
      o.dpdk_options.hosts_path = std::string(value);
    } else if (name == "out") {
      if (value.empty()) return FlagError(name, "empty");
      o.dpdk_options.out_path = std::string(value);
    } else if (name == "link-rate") {
      if (!ParseDouble(value, &d) || !(d > 0 && d <= 100000)) {
        return FlagError(name, "Gb/s in (0, 100000]");
      }
      o.dpdk_options.link_gbps = d;
    } else if (name == "base-rtt") {
      const absl::StatusOr<Duration> rtt = perf::ParseBaseRtt(value);
      if (!rtt.ok()) return FlagError(name, std::string(rtt.status().message()));
      o.dpdk_options.base_rtt = *rtt;
    } else if (name == "control-port") {
      if (!ParseUint(value, &u) || u < 1 || u > 65535) return FlagError(name, "1..65535");
      o.dpdk_options.control_port = static_cast<uint16_t>(u);
    } else if (name == "dpdk-port") {
      if (!ParseUint(value, &u) || u > 1023) return FlagError(name, "a DPDK port id, 0..1023");
      o.dpdk_options.port_id = static_cast<uint16_t>(u);
    } else if (name == "link-mtu") {
      if (!ParseUint(value, &u) || u < perf::kMinLinkMtu || u > perf::kMaxLinkMtu) {
        return FlagError(
            name, absl::StrFormat("an IP MTU, %u..%u", perf::kMinLinkMtu, perf::kMaxLinkMtu));
      }
      o.dpdk_options.link_mtu = static_cast<uint32_t>(u);
    } else if (name == "setup-timeout") {
      if (!ParseDouble(value, &d) || !(d > 0 && d <= 3600)) {
        return FlagError(name, "seconds in (0, 3600]");
      }
      o.dpdk_options.setup_timeout_s = d;
    } else if (name == "start-delay") {
      if (!ParseDouble(value, &d) || !(d >= 0 && d <= 60000)) {
        return FlagError(name, "milliseconds in [0, 60000]");
      }
      o.dpdk_options.start_delay_ms = d;
    } else if (name == "workers") {
      if (!ParseUint(value, &u) || u < 1 || u > perf::kMaxWorkers) {
        return FlagError(name, absl::StrFormat("a worker count, 1..%d", perf::kMaxWorkers));
      }
      o.dpdk_options.workers = static_cast<uint16_t>(u);
    } else if (name == "idle-sleep") {
      if (!ParseDouble(value, &d) || !(d >= 0 && d <= 10000)) {
        return FlagError(name, "microseconds in [0, 10000]");
      }
      o.dpdk_options.idle_sleep_us = d;
    } else if (name == "collective-algorithm") {
      o.chakra.collective_algorithm = std::string(value);
    } else if (name == "comm-groups") {
      if (value.empty()) return FlagError(name, "needs a JSON file of communicator groups");
      o.chakra.comm_groups_file = std::string(value);
    } else {
      return absl::InvalidArgumentError(absl::StrFormat("unknown flag --%s (see --help)", name));
    }
  }
  // Flags that belong to one mode only are refused in the other, so a typo
  // never silently changes nothing.
  const auto given = [&seen](std::string_view flag) {
    return std::find(seen.begin(), seen.end(), flag) != seen.end();
  };
  if (!o.merge_paths.empty()) {
    for (const char* flag : {"fabric", "workload", "cc", "seed", "timeline-interval",
                             "timeline-flows", "rank", "hosts", "out"}) {
      if (given(flag))
        return FlagError("merge", absl::StrFormat("takes no --%s: the rank files say", flag));
    }
    if (o.json_path.empty() && o.csv_path.empty() && o.timeline_dir.empty()) {
      return FlagError("merge", "needs --json FILE, --csv FILE or --timeline DIR");
    }
    return o;
  }
  if (o.dpdk) {
    if (o.dpdk_options.hosts_path.empty()) return FlagError("fabric", "dpdk needs --hosts FILE");
    if (fault_spec.has_value()) {
      absl::StatusOr<sim::MultipathWireConfig> f = sim::ParseWireSpec(*fault_spec);
      if (!f.ok()) return FlagError("fabric", std::string(f.status().message()));
      if (absl::Status s = perf::CheckDpdkFaultKeys(*fault_spec); !s.ok()) {
        return FlagError("fabric", std::string(s.message()));
      }
      if (absl::Status s = perf::ApplyWireDefaults(*fault_spec, o.config.paths, o.config.seed, *f);
          !s.ok()) {
        return FlagError("fabric", std::string(s.message()));
      }
      o.dpdk_options.faults = *f;
    }
    if (o.dpdk_options.out_path.empty())
      return FlagError("fabric", "dpdk needs --out FILE (this rank's results)");
    for (const char* flag : {"timeline", "fairness-window", "json", "csv"}) {
      if (given(flag)) {
        return FlagError(
            flag,
            "not with --fabric=dpdk: each rank writes --out; merge the rank files with --merge");
      }
    }
    // A rank samples from its polling loop, whose turns take a microsecond or more.
    if (given("timeline-interval") && o.config.timeline_interval < Duration::Microseconds(1)) {
      return FlagError("timeline-interval", "at least 1 microsecond with --fabric=dpdk");
    }
  } else {
    for (const char* flag : {"rank", "hosts", "out", "link-rate", "base-rtt", "control-port",
                             "dpdk-port", "link-mtu", "setup-timeout", "start-delay", "idle-sleep",
                             "workers", "no-coalesce-control", "no-address-check"}) {
      if (given(flag)) return FlagError(flag, "only with --fabric=dpdk");
    }
  }
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
       tern-replay [EAL args] -- --fabric=dpdk --rank R --hosts FILE --out FILE
                   [--workload=SPEC --cc=... --seed N] [dpdk options]     (one rank per host)
       tern-replay --merge RANKFILE... --json FILE [--csv FILE] [--timeline DIR]
                                                              (rank files -> one report)

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
  --fairness-window US   fairness.csv's Jain window, rounded up to whole intervals
                         (default 0: two of the fabric's longest base RTTs)
  --verb write|send      RDMA WRITE (default) or SEND with a RECV posted at the receiver
  --paths N              entropies each connection sprays over (default 8)
  --path-policy P        single|oblivious|weighted|recycled (default weighted)
  --mtu BYTES            payload bytes per packet (default 4096)
  --ack-every N          the receiver ACKs every N data packets... (default 4)
  --ack-delay US         ...or this long after the first unacknowledged one (default 2)
  --packets-per-turn N   packets a queue pair sends in a row before the host's next one
                         gets its turn, 1..)",
      kMaxPacketsPerTurn, " (default ", ContextConfig{}.packets_per_turn,
      R"(; 1: a packet round-robin)
  --tclass N             IPv4 TOS / IPv6 traffic class of every frame, DSCP x 4 (e.g. 104
                         for DSCP 26), 0..252 (default 0); switches queue by it
  --pull-window N        receiver-driven pulls (after EQDS): a connection sends N packets
                         unpulled, then one per pull; each receiver paces its pulls at its
                         line rate, round-robin over its senders (default 0: off)
  --time-limit MS        virtual time after which unfinished flows are reported (default 1000)
  --collective-algorithm A   for chakra: traces (ring, recursive_doubling, direct)
  --comm-groups FILE     for chakra: traces, communicator groups as ASTRA-sim's
                         --comm-group-configuration: {"1": [0, 1], "2": [2, 3]}; a
                         COMM_COLL whose pg_name names a group runs among its ranks
                         (default: the groups the traces' process_group:init nodes record)
  --quiet                no summary on stdout

DPDK (--fabric=dpdk[:loss=P,dup=P,corrupt=P,reorder=US,paths=N,blackhole=I,seed=S]:
transmit faults on this rank's port from the common start; docs/replay-dpdk.md):
  --rank R               this process's rank (default: $OMPI_COMM_WORLD_RANK)
  --hosts FILE           one line per rank: IP [mac=MAC] [gw=IP] [control-port=P]
  --out FILE             this rank's result file, for --merge ("{rank}" is replaced by the rank)
  --link-rate GBPS       rate of the ideal FCT (default: the port's reported speed)
  --base-rtt US          base RTT of the ideal FCT and the congestion control (default:
                         measured, the least of 8 one-packet probes per peer)
  --control-port P       TCP set-up port of hosts that name none (default 18515)
  --dpdk-port N          DPDK port id (default 0)
  --link-mtu BYTES       IP MTU of the link in place of the port's report (as tern-perf's)
  --no-coalesce-control  one datagram per ACK or NACK (as tern-perf's; for A/B runs, and
                         for peers built before the COALESCED flag, which drop shared ones)
  --no-address-check     skip the start-up probe that stops a rank whose address another
                         host holds (as tern-perf's)
  --setup-timeout S      limit of each set-up step and barrier (default 60)
  --start-delay MS       common start = rank 0's clock at the barrier + MS (default 200)
  --idle-sleep US        sleep this long when the port is idle (default 0: busy poll)
  --workers N            workers per rank (default 1), each with its own port queue, context
                         and QP to every peer, on the rank's lcores (-l) in turn; every rank
                         gives the same N
  --time-limit MS        wall-clock limit from the start (default 10000 on DPDK)
  --timeline-interval US each rank samples its QPs' congestion control this often (>= 1;
                         default: no samples); --merge --timeline DIR writes them
  --timeline-flows N     peers whose QPs a rank samples, lowest ranks first (default 8)

Exit status: 0 every flow completed (and, over DPDK, every byte verified); 1 the run
or its output files failed; 2 bad input, named in the message; 3 a flow failed or did
not finish by --time-limit, or a byte was not verified (said on stderr too).

)",
      sim::DescribeFabricSpec(), "\n\n", DescribeWorkloadSpecs(), "\n");
}

}  // namespace tern::replay
