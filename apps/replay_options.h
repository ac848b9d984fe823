// Command-line options of tern-replay: parsing and validation only, so a bad
// invocation fails at once with one line naming the flag.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/replay_chakra.h"
#include "apps/replay_runner.h"
#include "dataplane/sim/multipath_wire.h"

namespace tern::replay {

// --fabric=dpdk: this process is one rank (host) of a multi-host run; see
// apps/replay_dpdk.h and docs/replay-dpdk.md.
struct DpdkReplayOptions {
  std::optional<uint32_t> rank;   // --rank; absent: OMPI_COMM_WORLD_RANK
  std::string hosts_path;         // --hosts: one line per rank
  std::string out_path;           // --out: this rank's result file
  double link_gbps = 0;           // --link-rate; 0: the port's reported speed
  Duration base_rtt;              // --base-rtt; zero: measured before the start
  uint16_t control_port = 18515;  // --control-port, for hosts that do not name one
  uint16_t port_id = 0;           // --dpdk-port
  uint32_t link_mtu = 0;          // --link-mtu: the link's IP MTU over the port's report
  bool coalesce_control = true;   // cleared by --no-coalesce-control
  bool address_check = true;      // cleared by --no-address-check
  double setup_timeout_s = 60;    // --setup-timeout: each set-up step and barrier
  double start_delay_ms = 200;    // --start-delay: start time = rank 0's clock + this
  double idle_sleep_us = 0;       // --idle-sleep: sleep when the port has been idle
  double time_limit_s = 10;       // --time-limit, wall clock from the start
  uint16_t workers = 1;           // --workers: port queues, contexts and lcores per rank
  // --fabric=dpdk:KEY=VALUE,...: transmit faults on this rank's port (the
  // keys of tern-perf's); paths and seed default to --paths and --seed.
  std::optional<sim::MultipathWireConfig> faults;
};

struct ReplayOptions {
  bool help = false;
  std::string fabric = "sim";  // as given
  std::string workload = "incast";
  std::string json_path;
  std::string csv_path;
  std::string timeline_dir;
  // --fairness-window: the window of DIR/fairness.csv; zero means
  // DefaultFairnessWindow (two base RTTs).
  Duration fairness_window = Duration::Zero();
  ChakraOptions chakra;  // --collective-algorithm, --comm-groups: chakra: workloads
  bool quiet = false;    // no summary on stdout
  ReplayConfig config;   // fabric, verb, cc, paths, policy, mtu, seed, limits
  bool dpdk = false;     // --fabric=dpdk
  DpdkReplayOptions dpdk_options;
  std::vector<std::string> merge_paths;  // --merge FILE...: merge rank files, run nothing
};

absl::StatusOr<ReplayOptions> ParseReplayOptions(std::span<const char* const> args);
std::string ReplayUsage();

}  // namespace tern::replay
