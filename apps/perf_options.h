// Command-line options of tern-perf: parsing and validation only. Every check
// that can be made before a run is made here, so a bad invocation fails in
// milliseconds with one line naming the flag, never minutes into a run.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/dpdk/fault_injector.h"
#include "dataplane/sim/multipath_wire.h"
#include "transport/text.h"
#include "transport/verbs.h"
#include "transport/wire.h"

namespace tern::perf {

enum class PerfTest : uint8_t { kSendBw, kWriteBw, kReadBw, kSendLat, kWriteLat, kReadLat };

// "send_bw", "write_lat", ...: the --test spelling.
const char* PerfTestName(PerfTest test);
// "Send", "RDMA_Write", "RDMA_Read": the verb, as perftest's banner names it.
const char* PerfTestVerb(PerfTest test);
bool IsLatencyTest(PerfTest test);

// Limits the parser enforces, exposed for --help and the tests.
inline constexpr uint64_t kMaxMessageSize = uint64_t{1} << 30;  // 1 GiB
inline constexpr uint64_t kDefaultMaxAllSize = uint64_t{1} << 23;
inline constexpr uint32_t kMaxQps = 1024;
inline constexpr uint16_t kMaxWorkers = kTernUdpPortCount;  // one UDP port each
// --link-mtu: IPv4's smallest datagram every link carries, to the usual
// largest jumbo frame of a switch.
inline constexpr uint32_t kMinLinkMtu = 576;
inline constexpr uint32_t kMaxLinkMtu = 9216;
inline constexpr uint32_t kMaxTxDepth = 8192;
// qps x tx-depth: bounds the per-QP rings and completion queues.
inline constexpr uint64_t kMaxOutstanding = uint64_t{1} << 20;
// Message buffers of both simulated hosts together.
inline constexpr uint64_t kMaxBufferBytes = uint64_t{8} << 30;
// Latency samples are kept for the percentiles: 8 bytes per iteration.
inline constexpr uint64_t kMaxIters = 100'000'000;

enum class FabricKind : uint8_t { kSim, kDpdk };
// The DPDK fabric's modes: both sides in this process over a net_ring pair, or
// one side of a two-process run with the other reached over TCP.
enum class DpdkRole : uint8_t { kLoopback, kServer, kClient };
inline constexpr uint16_t kDefaultControlPort = 18515;  // perftest's

struct PerfOptions {
  bool help = false;  // --help: print usage and exit 0; nothing else is checked

  PerfTest test = PerfTest::kWriteBw;
  uint64_t size = 65536;
  bool all_sizes = false;                  // -a
  uint64_t max_size = kDefaultMaxAllSize;  // --max-size, with -a
  uint64_t iters = 1000;
  // --warmup: round trips a latency test runs before its --iters, left out of
  // every statistic (a PMD's cold rings are not the transport's latency).
  uint64_t warmup = 0;
  uint32_t qps = 1;
  uint32_t tx_depth = 128;
  uint16_t paths = TransportOptions{}.paths;  // entropies per QP
  PathPolicy path_policy = TransportOptions{}.path_policy;
  uint32_t mtu = 4096;
  std::string cc = "fixed";
  uint64_t seed = 1;
  std::string fabric = "sim";  // as given
  // The wire the run uses: from the fabric spec, with `paths` from --paths and
  // `seed` from --seed unless the spec sets them.
  sim::MultipathWireConfig wire;
  double line_rate_gbps = 400;
  // --base-rtt: the path RTT the congestion control sizes its windows and
  // targets from.
  Duration base_rtt = TransportOptions{}.base_rtt;
  // The retry budget: the floor of the retransmission timeout, and the
  // expiries without progress before a QP fails (ibverbs retry_cnt). A shared
  // or oversubscribed host needs more than a NIC does.
  Duration min_rto = TransportOptions{}.min_rto;
  uint32_t pull_window_packets = 0;  // --pull-window: receiver-driven pulls (0: off)
  // --packets-per-turn: ContextConfig::packets_per_turn of both hosts.
  uint32_t packets_per_turn = ContextConfig{}.packets_per_turn;
  uint8_t traffic_class = ContextConfig{}.traffic_class;  // --tclass, both hosts
  uint8_t retry_cnt = QpRtsAttr{}.retry_cnt;

  // --fabric=dpdk[:KEY=VALUE,...]: the spec's impairments (loss, dup, corrupt,
  // reorder, paths, blackhole, seed) are applied on transmit.
  FabricKind fabric_kind = FabricKind::kSim;
  DpdkRole role = DpdkRole::kLoopback;
  std::string connect_host;  // --connect: the server's control address
  uint16_t control_port = kDefaultControlPort;
  uint16_t dpdk_port = 0;  // --dpdk-port: the ethdev port id
  std::string local_ip;    // --ip: this host's data address ("" = a default)
  std::string peer_mac;    // --peer-mac: static next hop instead of ARP
  std::string gateway_ip;  // --gateway: next hop ARP resolves ("" = the peer)
  std::string pcap_path;   // --pcap: capture the port's frames
  uint32_t link_mtu = 0;   // --link-mtu: the link's IP MTU over the port's report (0: none)
  // --workers: lcores per host, each with its own context, UDP port, port
  // queue and a round-robin share of the QPs.
  uint16_t workers = 1;
  bool tx_copy = false;  // --tx-copy: no zero-copy transmit (for A/B runs)
  // --no-coalesce-control clears it: one datagram per ACK or NACK (for A/B
  // runs, and for peers that predate the COALESCED flag).
  bool coalesce_control = true;
  // Probe at start that no other host holds our address; --no-address-check
  // clears it (docs/dpdk.md, neighbor discovery).
  bool address_check = true;
  double timeout_seconds = 60;  // --timeout: wall-clock budget per size
  bool verify = false;
  bool quiet = false;
  std::string json_path;  // empty: no JSON

  // Message sizes to run, in order: {size}, or the powers of two from 2 to
  // max_size with -a.
  std::vector<uint64_t> Sizes() const;
  // Messages each QP keeps buffers for: tx-depth for bandwidth tests (never
  // more than iters), 1 for latency tests.
  uint64_t SlotsPerQp() const;
};

// The options a run's endpoints execute: a latency test's warm-up round trips
// are its first iterations (`warmup` stays set, for the report to skip them).
PerfOptions WithWarmupIterations(const PerfOptions& options);

// The transport options every QP of a run gets, on either fabric.
TransportOptions PerfTransportOptions(const PerfOptions& options, Bandwidth line_rate);

// A byte count for a flag value: the whole text, no sign, no spaces, with an
// optional K, M or G suffix (powers of 1024). The plain number parsers are in
// transport/text.h.
std::optional<uint64_t> ParseBytes(std::string_view text);

// --base-rtt (tern-perf, tern-replay): microseconds above 0, up to the
// transport's largest RTO. An error says what is valid, without the flag.
absl::StatusOr<Duration> ParseBaseRtt(std::string_view microseconds);

// Whether a wire spec (KEY=VALUE,...) that ParseWireSpec accepted sets `key`.
bool WireSpecSetsKey(std::string_view spec, std::string_view key);

// Gives `wire` (parsed from `spec`) the app's --paths and --seed where the
// spec set neither; an error when its blackhole path is then out of range.
absl::Status ApplyWireDefaults(std::string_view spec, uint16_t paths, uint64_t seed,
                               sim::MultipathWireConfig& wire);

// --fabric=dpdk:KEY=VALUE,... (tern-perf, tern-replay) and /tern/faults: the
// simulator's wire keys a real port's transmit faults take. OK, or an error
// naming the first key only a simulated wire has (trim, delay, jitter, rate,
// queue, ecn) and the valid ones. The spec's syntax is ParseWireSpec's to check.
absl::Status CheckDpdkFaultKeys(std::string_view spec);
// Those faults in the worker's terms.
dpdk::FaultConfig DpdkFaults(const sim::MultipathWireConfig& wire);

// Parses the arguments after argv[0]. A usage error is InvalidArgumentError
// with a one-line message that names the flag and says what is valid.
absl::StatusOr<PerfOptions> ParsePerfOptions(std::span<const std::string_view> args);

// The --help text: flags, the fabric keys and the congestion-control algorithms.
std::string PerfUsage();

}  // namespace tern::perf
