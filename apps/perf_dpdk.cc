#include "apps/perf_dpdk.h"

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <atomic>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "apps/perf_endpoint.h"
#include "dataplane/dpdk/capture.h"
#include "dataplane/dpdk/port.h"
#include "dataplane/dpdk/port_worker.h"
#include "dataplane/dpdk/telemetry.h"
#include "dataplane/dpdk/tsc_clock.h"
#include "dataplane/sim/multipath_wire.h"
#include "dataplane/sim/simulator.h"
#include "spdlog/spdlog.h"

namespace tern::perf {
namespace {

using dpdk::FaultConfig;
using dpdk::PortWorker;

FaultConfig FaultsFromWire(const sim::MultipathWireConfig& w) {
  FaultConfig f;
  f.loss = w.loss;
  f.dup = w.dup;
  f.corrupt = w.corrupt;
  f.reorder = w.reorder;
  f.paths = w.paths;
  f.blackhole = w.blackhole;
  f.seed = w.seed;
  return f;
}

// The same keys as --fabric=dpdk:... at run time, through /tern/faults.
absl::StatusOr<FaultConfig> ParseFaultSpec(std::string_view spec) {
  absl::StatusOr<sim::MultipathWireConfig> wire = sim::ParseWireSpec(spec);
  if (!wire.ok()) return wire.status();
  return FaultsFromWire(*wire);
}

// One side: its context, the worker that drives it over a port queue, and
// the test logic. Lives on one lcore once the run starts.
struct Side {
  std::unique_ptr<Context> context;
  std::unique_ptr<PortWorker> worker;
  std::unique_ptr<PerfEndpoint> endpoint;
  int index = 0;
  uint16_t port = 0;
  std::atomic<bool> done{false};
  uint64_t fault_generation = 0;
  uint64_t next_publish_tsc = 0;

  // One loop iteration: the worker, then the application, on one TSC reading.
  void Step(uint64_t tsc) {
    worker->Poll(tsc);
    endpoint->Poll(worker->clock().ToTime(tsc));
    if (!done.load(std::memory_order_relaxed) && endpoint->done()) {
      done.store(true, std::memory_order_release);
    }
    if (tsc >= next_publish_tsc) {
      // Telemetry and run-time fault changes, every few milliseconds.
      next_publish_tsc = tsc + rte_get_tsc_hz() / 200;
      dpdk::TelemetryBoard& board = dpdk::TelemetryBoard::Instance();
      FaultConfig faults;
      if (board.PendingFaults(&fault_generation, &faults)) {
        worker->SetFaults(faults);
        spdlog::info("worker {}: faults now {}", index, dpdk::DescribeFaults(faults));
      }
      const std::vector<QueuePair*> qps = endpoint->qps();
      board.Publish(dpdk::TakeSnapshot(index, port, *worker, qps));
    }
  }
};

struct LoopArgs {
  Side* side;
  std::atomic<bool>* stop;
};

int ServeLoop(void* arg) {
  auto* args = static_cast<LoopArgs*>(arg);
  while (!args->stop->load(std::memory_order_acquire)) args->side->Step(rte_rdtsc());
  return 0;
}

class LoopbackFabric : public DpdkPerfFabric {
 public:
  explicit LoopbackFabric(const PerfOptions& options)
      : options_(options), clock_(rte_get_tsc_hz(), rte_rdtsc()) {}

  absl::Status Open() {
    absl::StatusOr<std::pair<uint16_t, uint16_t>> pair =
        dpdk::CreateRingPortPair(absl::StrFormat("tern_loop%d", getpid()), 1);
    if (!pair.ok()) return pair.status();
    for (uint16_t id : {pair->first, pair->second}) {
      dpdk::PortOptions port_options;
      port_options.port_id = id;
      port_options.payload_mtu = options_.mtu;
      absl::StatusOr<std::unique_ptr<dpdk::Port>> port = dpdk::Port::Open(port_options);
      if (!port.ok()) return port.status();
      if ((*port)->info().payload_mtu < options_.mtu) {
        return absl::InvalidArgumentError(
            absl::StrFormat("--mtu %d does not fit port %d (payload at most %d)", options_.mtu, id,
                            (*port)->info().payload_mtu));
      }
      ports_.push_back(*std::move(port));
    }
    if (!options_.pcap_path.empty()) {
      absl::StatusOr<std::unique_ptr<dpdk::PacketCapture>> capture =
          dpdk::PacketCapture::Open(options_.pcap_path);
      if (!capture.ok()) return capture.status();
      capture_ = *std::move(capture);
    }
    dpdk::TelemetryBoard::Instance().Register(ParseFaultSpec);
    // The responder's lcore: the first worker lcore, if the EAL has one.
    server_lcore_ = rte_get_next_lcore(rte_lcore_id(), 1, 0);
    if (server_lcore_ >= RTE_MAX_LCORE) {
      spdlog::info("one lcore only (-l): client and server share it, latency will suffer");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<PerfResult> Run(uint64_t size, const ProgressFn& progress) override {
    const auto wall_start = std::chrono::steady_clock::now();
    Side sides[2];
    for (int i : {0, 1}) {
      Side& s = sides[i];
      s.index = i;
      s.port = ports_[i]->id();
      ContextConfig config;
      config.local.mac = ports_[i]->info().mac;
      config.local.ip = IpAddress::V4(0x0A000001u + static_cast<uint32_t>(i));
      config.seed = sim::DeriveSeed(options_.seed, 0x1000 + static_cast<uint64_t>(i));
      absl::StatusOr<std::unique_ptr<Context>> ctx = Context::Create(config);
      if (!ctx.ok()) return ctx.status();
      s.context = *std::move(ctx);
      s.worker = std::make_unique<PortWorker>(*ports_[i], 0, *s.context, clock_, capture_.get());
      s.worker->SetFaults(FaultsFromWire(options_.wire));
      s.endpoint = std::make_unique<PerfEndpoint>(options_, size, i == 0, *s.context);
      if (absl::Status st = s.endpoint->SetUp(); !st.ok()) return st;
    }
    // Each side finds the other's MAC with ARP, as on a routed fabric.
    Endpoint remote[2];
    for (int i : {0, 1}) {
      absl::StatusOr<MacAddress> mac = Resolve(sides, i, sides[1 - i].context->local().ip.v4());
      if (!mac.ok()) return mac.status();
      remote[i] = sides[1 - i].context->local();
      remote[i].mac = *mac;
    }
    for (int i : {0, 1}) {
      const std::vector<QpExchange> peer = sides[1 - i].endpoint->LocalQps();
      if (absl::Status st = sides[i].endpoint->Connect(peer, remote[i]); !st.ok()) return st;
    }

    std::atomic<bool> stop{false};
    LoopArgs server_args{&sides[1], &stop};
    const uint64_t start_tsc = rte_rdtsc();
    sides[1].endpoint->Start(clock_.ToTime(start_tsc));
    sides[0].endpoint->Start(clock_.ToTime(start_tsc));
    const bool two_lcores = server_lcore_ < RTE_MAX_LCORE;
    if (two_lcores && rte_eal_remote_launch(ServeLoop, &server_args, server_lcore_) != 0) {
      return absl::InternalError(
          absl::StrFormat("cannot launch the server on lcore %d", server_lcore_));
    }
    const uint64_t hz = rte_get_tsc_hz();
    const uint64_t deadline = start_tsc + static_cast<uint64_t>(options_.timeout_seconds * hz);
    uint64_t next_progress = start_tsc + hz;
    std::string failure;
    while (true) {
      const uint64_t tsc = rte_rdtsc();
      sides[0].Step(tsc);
      if (!two_lcores) sides[1].Step(tsc);
      if (sides[0].done.load(std::memory_order_acquire) &&
          sides[1].done.load(std::memory_order_acquire)) {
        break;
      }
      if (tsc > deadline) {
        failure = absl::StrFormat(
            "stalled: --timeout of %g s exceeded with %d/%d messages "
            "completed; %s",
            options_.timeout_seconds, sides[0].endpoint->messages_completed(),
            sides[0].endpoint->total_messages(), sides[0].endpoint->DescribeProgress());
        break;
      }
      if (progress && tsc > next_progress) {
        next_progress = tsc + hz;
        const double elapsed = static_cast<double>(tsc - start_tsc) / static_cast<double>(hz);
        progress(PerfProgress{size, sides[0].endpoint->messages_completed(),
                              sides[0].endpoint->total_messages(), elapsed, elapsed});
      }
    }
    stop.store(true, std::memory_order_release);
    if (two_lcores) rte_eal_wait_lcore(server_lcore_);
    sides[1].endpoint->FinalCheck();
    PerfResult result = Collect(sides, size, failure);
    result.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    return result;
  }

 private:
  // Asks for `ip` from side `i` until the answer arrives (both sides polled).
  absl::StatusOr<MacAddress> Resolve(Side* sides, int i, uint32_t ip) {
    const uint64_t hz = rte_get_tsc_hz();
    const uint64_t deadline = rte_rdtsc() + 2 * hz;
    uint64_t next_request = 0;
    while (true) {
      const uint64_t tsc = rte_rdtsc();
      if (std::optional<MacAddress> mac = sides[i].worker->neighbors().Lookup(ip)) return *mac;
      if (tsc > deadline) {
        return absl::UnavailableError(
            absl::StrFormat("no ARP reply for %s within 2 s", IpAddress::V4(ip).ToString()));
      }
      if (tsc >= next_request) {
        sides[i].worker->RequestArp(ip);
        next_request = tsc + hz / 10;
      }
      sides[0].worker->Poll(tsc);
      sides[1].worker->Poll(tsc);
    }
  }

  PerfResult Collect(Side* sides, uint64_t size, const std::string& failure) {
    PerfEndpoint& client = *sides[0].endpoint;
    PerfEndpoint& server = *sides[1].endpoint;
    PerfResult result;
    result.test = options_.test;
    result.bytes = size;
    result.iterations = options_.iters;
    result.qps = IsLatencyTest(options_.test) ? 1 : options_.qps;
    std::string why = failure;
    if (client.failed()) why = client.failure();
    if (why.empty() && server.failed()) why = server.failure();
    result.ok = why.empty();
    result.failure = why;
    const double elapsed = (client.last_completion() - client.first_post()).seconds();
    if (elapsed > 0) {
      const double completed = static_cast<double>(client.messages_completed());
      result.bw_avg_gbps = completed * static_cast<double>(size) * 8 / elapsed / 1e9;
      result.msg_rate_mpps = completed / elapsed / 1e6;
    }
    result.bw_peak_gbps = client.peak_gbps();
    result.peak_window = client.peak_window();
    if (IsLatencyTest(options_.test)) {
      result.has_latency = true;
      result.latency = ComputeLatencyStats(std::move(client.latency_samples()));
    }
    result.messages_posted = client.total_messages();
    result.messages_completed = client.messages_completed();
    result.bytes_verified = client.bytes_verified() + server.bytes_verified();
    result.data_errors = client.data_errors() + server.data_errors();
    if (result.ok && result.messages_completed < result.messages_posted) {
      result.ok = false;
      result.failure = "run ended before every message completed";
    }
    result.virtual_seconds = elapsed;  // wall time on this fabric
    std::vector<const QueuePair*> qps;
    for (int i : {0, 1}) {
      for (QueuePair* qp : sides[i].endpoint->qps()) qps.push_back(qp);
    }
    AppendQpCounters(qps, &result.counters);
    for (int i : {0, 1}) {
      std::vector<std::pair<std::string, uint64_t>> one;
      AppendContextCounters(*sides[i].context, &one);
      const dpdk::WorkerCounters& w = sides[i].worker->counters();
      const dpdk::FaultCounters& f = sides[i].worker->faults().counters();
      one.insert(one.end(), {{"port_rx_frames", w.rx_frames},
                             {"port_tx_frames", w.tx_frames},
                             {"port_tx_ring_full", w.tx_ring_full},
                             {"port_tx_no_mbuf", w.tx_no_mbuf},
                             {"port_rx_ip_checksum_bad", w.rx_ip_checksum_bad},
                             {"arp_requests_answered", w.arp_requests_answered},
                             {"fault_dropped", f.dropped + f.blackholed},
                             {"fault_duplicated", f.duplicated},
                             {"fault_corrupted", f.corrupted},
                             {"fault_delayed", f.delayed}});
      SumCounters(one, &result.counters);
    }
    if (capture_) {
      result.counters.emplace_back("pcap_frames_written", capture_->frames_written());
      result.counters.emplace_back("pcap_frames_missed", capture_->frames_missed());
    }
    for (const auto& [name, value] : result.counters) {
      if (name == "retransmitted_packets") result.retransmitted_packets = value;
      if (name == "local_ack_timeout_err") result.timeouts = value;
    }
    return result;
  }

  const PerfOptions& options_;
  dpdk::TscClock clock_;
  std::vector<std::unique_ptr<dpdk::Port>> ports_;
  std::unique_ptr<dpdk::PacketCapture> capture_;
  unsigned server_lcore_ = RTE_MAX_LCORE;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DpdkPerfFabric>> DpdkPerfFabric::Open(const PerfOptions& options) {
  if (options.role != DpdkRole::kLoopback) {
    return absl::UnimplementedError("--server/--connect are not built yet; use --loopback");
  }
  auto fabric = std::make_unique<LoopbackFabric>(options);
  if (absl::Status s = fabric->Open(); !s.ok()) return s;
  return fabric;
}

}  // namespace tern::perf
