// tern-replay's engine over the simulated fabric: one tern::Context and one
// simulated NIC per host, one reliable-connected queue pair per pair of hosts
// that exchange data, and every transfer of the workload posted as a work
// request (RDMA WRITE, or SEND with a RECV posted at the destination) when its
// dependencies are done. It uses the verbs API only, as on the DPDK dataplane.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/replay_workload.h"
#include "dataplane/dpdk/fault_injector.h"
#include "dataplane/sim/fabric.h"
#include "transport/verbs.h"

namespace tern::replay {

enum class TransferVerb : uint8_t { kWrite, kSend };

struct ReplayConfig {
  sim::FabricConfig fabric;
  TransferVerb verb = TransferVerb::kWrite;
  std::string cc = "fixed";
  uint16_t paths = TransportOptions{}.paths;
  PathPolicy path_policy = TransportOptions{}.path_policy;
  uint32_t mtu = 4096;  // payload bytes per packet
  // The receiver's ACK policy (TransportOptions::ack_every / ack_delay).
  uint32_t ack_every = TransportOptions{}.ack_every;
  Duration ack_delay = TransportOptions{}.ack_delay;
  // Receiver-driven pulls (TransportOptions::pull_window_packets); 0: off.
  uint32_t pull_window_packets = 0;
  // Packets a queue pair sends in a row before the host's next one
  // (ContextConfig::packets_per_turn).
  uint32_t packets_per_turn = ContextConfig{}.packets_per_turn;
  uint8_t traffic_class = ContextConfig{}.traffic_class;  // DSCP << 2 of every frame
  uint64_t seed = 1;
  // Virtual time after which the run stops and unfinished transfers are
  // reported as such.
  Duration time_limit = Duration::Seconds(1);
  // Queue-occupancy and throughput samples for --timeline; zero: none.
  Duration timeline_interval = Duration::Zero();
  // With a timeline, the congestion-control state of the queue pairs of the
  // first this many host pairs (in the order they first exchanged data) is
  // sampled too.
  uint32_t timeline_connections = 8;
};

// One transfer step as it ran.
struct FlowResult {
  // Step `index` of a workload, before it runs: what it is, none of how it went.
  static FlowResult Of(uint32_t index, const Step& s);

  uint32_t step = 0;
  uint32_t src = 0;
  uint32_t dst = 0;
  uint64_t bytes = 0;
  Time start;   // when it was posted
  Time finish;  // when the sender's completion arrived
  bool completed = false;
  bool failed = false;  // completed with an error status
  Duration ideal;       // wire bytes / bottleneck + base RTT
  int32_t collective = kNoCollective;
  std::string label;

  Duration fct() const { return finish - start; }
  double slowdown() const { return fct().seconds() / ideal.seconds(); }
};

struct CollectiveResult {
  Collective collective;
  Time start;   // first step started
  Time finish;  // last step finished
  bool completed = false;
};

// Per queue-pair counters of one host pair, summed over both ends.
struct ConnectionResult {
  uint32_t a = 0;
  uint32_t b = 0;
  QpCounters counters;
};

// One sample of the timeline.
struct TimelineSample {
  Time at;
  uint32_t port = 0;  // index into ReplayResult::ports
  uint64_t queued_bytes = 0;
  uint64_t bytes_sent = 0;  // since the previous sample
};

// One sample of one queue pair's congestion control.
struct CcSample {
  Time at;
  uint32_t src = 0;  // the host whose queue pair this is: it sends to dst
  uint32_t dst = 0;
  // Which of the pair's QPs: its worker over DPDK (--workers), 0 in the
  // simulator, which connects a pair with one QP a side.
  uint16_t qp = 0;
  uint64_t bytes_sent = 0;  // new payload bytes sent since the previous sample
  uint8_t count = 0;        // variables used
  std::array<CcVariable, kMaxCcVariables> variables{};

  // `qp`'s congestion control at `at`, the QP sending from `src` to `dst`.
  // `*sent_before` holds the new payload bytes the QP had sent at its last
  // sample and is advanced. Empty while the QP has sent nothing: a direction
  // that never carried data has nothing to show.
  static std::optional<CcSample> Of(const QueuePair& qp, Time at, uint32_t src, uint32_t dst,
                                    uint64_t* sent_before);
};

// A run on a real dataplane (tern-replay --fabric=dpdk, merged from the
// ranks' files); absent for simulated runs.
struct DataplaneResult {
  std::string name = "dpdk";
  uint32_t ranks = 0;
  std::string workload;  // the spec every rank built
  std::string cc;
  std::string verb;
  uint16_t paths = 0;
  std::string path_policy;
  uint64_t seed = 0;
  std::string port;             // PMD of rank 0's port
  double link_gbps = 0;         // rate of the ideal FCTs
  uint64_t bytes_expected = 0;  // transfers' bytes, as their destinations counted them
  uint64_t bytes_verified = 0;  // arrived and checked against the pattern
  uint64_t data_errors = 0;     // bytes that differed from it
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  dpdk::FaultCounters faults;  // summed over the ranks' ports (--fabric=dpdk:...)
};

struct ReplayResult {
  std::string topology;
  uint64_t buffer_bytes = 0;
  // The fabric's longest base RTT (the CC context's base_rtt); zero when the
  // run had no simulated fabric.
  Duration base_rtt;
  std::vector<FlowResult> flows;
  std::vector<CollectiveResult> collectives;
  std::vector<sim::PortReport> ports;
  std::vector<ConnectionResult> connections;
  // The period of `timeline` and `cc_timeline`; zero when nothing was sampled.
  Duration timeline_interval;
  std::vector<TimelineSample> timeline;
  std::vector<CcSample> cc_timeline;
  std::string cc_name;  // the algorithm every queue pair ran
  sim::FabricCounters fabric_counters;
  Time end;  // virtual time of the last event run
  bool timed_out = false;
  uint64_t steps_done = 0;
  uint64_t sim_events = 0;
  uint64_t sim_packets = 0;  // frames the host NICs sent
  double wall_seconds = 0;
  std::optional<DataplaneResult> dataplane;
};

// Called now and then during a run (about every 2^16 events).
struct ReplayProgress {
  uint64_t steps_done = 0;
  uint64_t steps_total = 0;
  Time now;
  uint64_t sim_events = 0;
};
using ProgressFn = std::function<void(const ReplayProgress&)>;

// The transport settings every queue pair of a replay takes from `config`,
// on the simulator and over DPDK alike; each fabric adds its line rate and
// base RTT.
TransportOptions ReplayTransportOptions(const ReplayConfig& config);

// Runs `workload` on the fabric described by `config` (a topology with at
// least workload.hosts hosts). Errors are set-up failures (bad topology, too
// few hosts, a transport refusing a QP); transfers that never finish are
// reported in the result, not as an error.
absl::StatusOr<ReplayResult> RunReplay(const Workload& workload, const ReplayConfig& config,
                                       const ProgressFn& progress = nullptr);
// The same on a topology already built from config.fabric (MakeTopology).
absl::StatusOr<ReplayResult> RunReplay(const Workload& workload, sim::Topology topology,
                                       const ReplayConfig& config,
                                       const ProgressFn& progress = nullptr);

}  // namespace tern::replay
