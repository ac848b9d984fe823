#include "apps/perf_dpdk.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "apps/perf_endpoint.h"
#include "dataplane/dpdk/capture.h"
#include "dataplane/dpdk/eal.h"
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
using dpdk::ResolveArp;

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
  const dpdk::Port* port = nullptr;
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
      next_publish_tsc = tsc + dpdk::TscHz() / 200;
      dpdk::TelemetryBoard& board = dpdk::TelemetryBoard::Instance();
      FaultConfig faults;
      if (board.PendingFaults(&fault_generation, &faults)) {
        worker->SetFaults(faults);
        spdlog::info("worker {}: faults now {}", index, dpdk::DescribeFaults(faults));
      }
      const std::vector<QueuePair*> qps = endpoint->qps();
      board.Publish(dpdk::TakeSnapshot(index, port->id(), *worker, qps));
    }
  }
};

// What the server knows that the client's result needs.
struct ServerReport {
  std::string failure;
  uint64_t bytes_verified = 0;
  uint64_t data_errors = 0;
};

ServerReport ServerSummary(const PerfEndpoint& server) {
  return {server.failed() ? server.failure() : "", server.bytes_verified(), server.data_errors()};
}

// The client's view of the run, completed by the server's report.
PerfResult Summarize(const PerfOptions& options, uint64_t size, PerfEndpoint& client,
                     const ServerReport& server, const std::string& failure) {
  PerfResult result;
  result.test = options.test;
  result.bytes = size;
  result.iterations = options.iters;
  result.qps = IsLatencyTest(options.test) ? 1 : options.qps;
  std::string why = failure;
  if (client.failed()) why = client.failure();
  if (why.empty()) why = server.failure;
  const double elapsed = (client.last_completion() - client.first_post()).seconds();
  if (elapsed > 0) {
    const double completed = static_cast<double>(client.messages_completed());
    result.bw_avg_gbps = completed * static_cast<double>(size) * 8 / elapsed / 1e9;
    result.msg_rate_mpps = completed / elapsed / 1e6;
  }
  result.bw_peak_gbps = client.peak_gbps();
  result.peak_window = client.peak_window();
  if (IsLatencyTest(options.test)) {
    result.has_latency = true;
    result.latency = ComputeLatencyStats(std::move(client.latency_samples()));
  }
  result.messages_posted = client.total_messages();
  result.messages_completed = client.messages_completed();
  result.bytes_verified = client.bytes_verified() + server.bytes_verified;
  result.data_errors = client.data_errors() + server.data_errors;
  if (why.empty() && result.messages_completed < result.messages_posted) {
    why = "run ended before every message completed";
  }
  result.ok = why.empty();
  result.failure = why;
  result.virtual_seconds = elapsed;  // wall-clock time on this fabric
  return result;
}

// A side's context, port and fault counters.
std::vector<std::pair<std::string, uint64_t>> SideCounters(const Side& side) {
  std::vector<std::pair<std::string, uint64_t>> out;
  AppendContextCounters(*side.context, &out);
  const dpdk::WorkerCounters& w = side.worker->counters();
  const dpdk::PortStats port_stats = side.port->stats();  // the PMD's own counters
  const dpdk::FaultCounters& f = side.worker->faults().counters();
  out.insert(out.end(), {{"port_rx_frames", w.rx_frames},
                         {"port_tx_frames", w.tx_frames},
                         {"port_tx_ring_full", w.tx_ring_full},
                         {"port_rx_missed", port_stats.rx_missed},
                         {"port_rx_no_mbuf", port_stats.rx_no_mbuf},
                         {"port_tx_errors", port_stats.tx_errors},
                         {"port_tx_no_mbuf", w.tx_no_mbuf},
                         {"port_rx_ip_checksum_bad", w.rx_ip_checksum_bad},
                         {"arp_requests_answered", w.arp_requests_answered},
                         {"fault_dropped", f.dropped + f.blackholed},
                         {"fault_duplicated", f.duplicated},
                         {"fault_corrupted", f.corrupted},
                         {"fault_delayed", f.delayed}});
  return out;
}

void AppendCaptureCounters(const dpdk::PacketCapture* capture, PerfResult* result) {
  if (capture != nullptr) {
    result->counters.emplace_back("pcap_frames_written", capture->frames_written());
    result->counters.emplace_back("pcap_frames_missed", capture->frames_missed());
  }
  for (const auto& [name, value] : result->counters) {
    if (name == "retransmitted_packets") result->retransmitted_packets = value;
    if (name == "local_ack_timeout_err") result->timeouts = value;
  }
}

// Builds a side's context, worker and endpoint on `port`.
absl::Status MakeSide(const PerfOptions& options, uint64_t size, const dpdk::Port& port,
                      const IpAddress& ip, bool requester, const dpdk::TscClock& clock,
                      dpdk::PacketCapture* capture, Side* side) {
  side->port = &port;
  ContextConfig config;
  config.local.mac = port.info().mac;
  config.local.ip = ip;
  config.seed = sim::DeriveSeed(options.seed, requester ? 0x1000 : 0x1001);
  absl::StatusOr<std::unique_ptr<Context>> ctx = Context::Create(config);
  if (!ctx.ok()) return ctx.status();
  side->context = *std::move(ctx);
  side->worker = std::make_unique<PortWorker>(port, 0, *side->context, clock, capture);
  side->worker->SetFaults(FaultsFromWire(options.wire));
  side->endpoint = std::make_unique<PerfEndpoint>(options, size, requester, *side->context);
  return side->endpoint->SetUp();
}

// A port that cannot carry --mtu is used with the payload it can carry.
void ClampMtu(const dpdk::PortInfo& port, PerfOptions* options) {
  if (port.payload_mtu >= options->mtu) return;
  spdlog::warn("port {} carries at most {} payload bytes per packet: --mtu {} lowered to {}",
               port.port_id, port.payload_mtu, options->mtu, port.payload_mtu);
  options->mtu = port.payload_mtu;
}

absl::StatusOr<std::unique_ptr<dpdk::PacketCapture>> MaybeCapture(const PerfOptions& options) {
  if (options.pcap_path.empty()) return std::unique_ptr<dpdk::PacketCapture>();
  return dpdk::PacketCapture::Open(options.pcap_path);
}

struct LoopArgs {
  Side* side;
  std::atomic<bool>* stop;
};

int ServeLoop(void* arg) {
  auto* args = static_cast<LoopArgs*>(arg);
  while (!args->stop->load(std::memory_order_acquire)) args->side->Step(dpdk::ReadTsc());
  return 0;
}

class LoopbackFabric : public DpdkPerfFabric {
 public:
  explicit LoopbackFabric(const PerfOptions& options)
      : options_(options), clock_(dpdk::TscHz(), dpdk::ReadTsc()) {}

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
      ClampMtu((*port)->info(), &options_);
      ports_.push_back(*std::move(port));
    }
    absl::StatusOr<std::unique_ptr<dpdk::PacketCapture>> capture = MaybeCapture(options_);
    if (!capture.ok()) return capture.status();
    capture_ = *std::move(capture);
    dpdk::TelemetryBoard::Instance().Register(ParseFaultSpec);
    // The responder's lcore: the first worker lcore, if the EAL has one.
    server_lcore_ = dpdk::NextWorkerLcore();
    if (!server_lcore_) {
      spdlog::info("one lcore only (-l): client and server share it, latency will suffer");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<PerfResult> Run(uint64_t size, const ProgressFn& progress) override {
    const auto wall_start = std::chrono::steady_clock::now();
    Side sides[2];
    for (int i : {0, 1}) {
      sides[i].index = i;
      const IpAddress ip = IpAddress::V4(0x0A000001u + static_cast<uint32_t>(i));
      if (absl::Status st =
              MakeSide(options_, size, *ports_[i], ip, i == 0, clock_, capture_.get(), &sides[i]);
          !st.ok()) {
        return st;
      }
    }
    // Each side finds the other's MAC with ARP, as on a routed fabric.
    PortWorker* workers[2] = {sides[0].worker.get(), sides[1].worker.get()};
    Endpoint remote[2];
    for (int i : {0, 1}) {
      absl::StatusOr<MacAddress> mac =
          ResolveArp(*workers[i], workers, sides[1 - i].context->local().ip.v4(), 2);
      if (!mac.ok()) return mac.status();
      remote[i] = sides[1 - i].context->local();
      remote[i].mac = *mac;
    }
    for (int i : {0, 1}) {
      const std::vector<control::QpSetup> peer = sides[1 - i].endpoint->LocalQps();
      if (absl::Status st = sides[i].endpoint->Connect(peer, remote[i]); !st.ok()) return st;
    }

    std::atomic<bool> stop{false};
    LoopArgs server_args{&sides[1], &stop};
    const uint64_t start_tsc = dpdk::ReadTsc();
    sides[1].endpoint->Start(clock_.ToTime(start_tsc));
    sides[0].endpoint->Start(clock_.ToTime(start_tsc));
    const bool two_lcores = server_lcore_.has_value();
    if (two_lcores && !dpdk::LaunchOnLcore(*server_lcore_, ServeLoop, &server_args)) {
      return absl::InternalError(
          absl::StrFormat("cannot launch the server on lcore %d", *server_lcore_));
    }
    const uint64_t hz = dpdk::TscHz();
    const uint64_t deadline = start_tsc + static_cast<uint64_t>(options_.timeout_seconds * hz);
    uint64_t next_progress = start_tsc + hz;
    std::string failure;
    while (true) {
      const uint64_t tsc = dpdk::ReadTsc();
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
    if (two_lcores) dpdk::WaitForLcore(*server_lcore_);
    sides[1].endpoint->FinalCheck();
    PerfResult result =
        Summarize(options_, size, *sides[0].endpoint, ServerSummary(*sides[1].endpoint), failure);
    std::vector<const QueuePair*> qps;
    for (Side& side : sides) {
      for (QueuePair* qp : side.endpoint->qps()) qps.push_back(qp);
    }
    AppendQpCounters(qps, &result.counters);
    for (Side& side : sides) SumCounters(SideCounters(side), &result.counters);
    AppendCaptureCounters(capture_.get(), &result);
    result.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    return result;
  }

 private:
  PerfOptions options_;  // a copy: the MTU may be lowered to fit the port
  dpdk::TscClock clock_;
  std::vector<std::unique_ptr<dpdk::Port>> ports_;
  std::unique_ptr<dpdk::PacketCapture> capture_;
  std::optional<unsigned> server_lcore_;  // none: both sides on this lcore
};

// One side of a two-process run: one port, a TCP control channel to the
// other side, and the side's test logic on this lcore. The control channel
// carries the set-up, two barriers per size and the results.
class PeerFabric : public DpdkPerfFabric {
 public:
  explicit PeerFabric(const PerfOptions& options)
      : options_(options),
        client_(options.role == DpdkRole::kClient),
        clock_(dpdk::TscHz(), dpdk::ReadTsc()) {}

  absl::Status Open() {
    dpdk::PortOptions port_options;
    port_options.port_id = options_.dpdk_port;
    port_options.payload_mtu = options_.mtu;
    absl::StatusOr<std::unique_ptr<dpdk::Port>> port = dpdk::Port::Open(port_options);
    if (!port.ok()) return port.status();
    port_ = *std::move(port);
    ClampMtu(port_->info(), &options_);
    absl::StatusOr<std::unique_ptr<dpdk::PacketCapture>> capture = MaybeCapture(options_);
    if (!capture.ok()) return capture.status();
    capture_ = *std::move(capture);
    dpdk::TelemetryBoard::Instance().Register(ParseFaultSpec);

    control::ChannelOptions channel_options;
    channel_options.timeout =
        std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_seconds * 1000));
    absl::StatusOr<control::ControlChannel> channel =
        client_ ? control::ControlChannel::Connect(options_.connect_host, options_.control_port,
                                                   channel_options)
                : control::ControlChannel::Accept("", options_.control_port, channel_options);
    if (!channel.ok()) return channel.status();
    channel_ = std::make_unique<control::ControlChannel>(*std::move(channel));
    spdlog::info("control: {} {} over {}", client_ ? "connected to" : "accepted", channel_->peer(),
                 control::BackendName(channel_->backend()));
    if (!port_->WaitForLink(static_cast<int>(options_.timeout_seconds * 1000))) {
      return absl::UnavailableError(absl::StrFormat("port %d: link still down after %g s",
                                                    port_->id(), options_.timeout_seconds));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<PerfResult> Run(uint64_t size, const ProgressFn& progress) override {
    const auto wall_start = std::chrono::steady_clock::now();
    Side side;
    const IpAddress ip = options_.local_ip.empty()
                             ? IpAddress::V4(client_ ? 0x0A000001u : 0x0A000002u)
                             : *IpAddress::Parse(options_.local_ip);
    if (absl::Status st =
            MakeSide(options_, size, *port_, ip, client_, clock_, capture_.get(), &side);
        !st.ok()) {
      return st;
    }

    // Out of band: QPs, addresses and what both sides must agree on.
    control::HostSetup local;
    local.endpoint = side.context->local();
    local.mtu = options_.mtu;
    local.paths = options_.paths;
    local.congestion_control = options_.cc;
    local.workload = absl::StrFormat("%s size=%d iters=%d qps=%d tx_depth=%d verify=%d",
                                     PerfTestName(options_.test), size, options_.iters,
                                     options_.qps, options_.tx_depth, options_.verify);
    local.qps = side.endpoint->LocalQps();
    absl::StatusOr<control::HostSetup> peer = channel_->Exchange(local);
    if (!peer.ok()) return peer.status();
    Endpoint remote = peer->endpoint;
    if (!options_.peer_mac.empty()) {
      remote.mac = *MacAddress::Parse(options_.peer_mac);
    } else {
      PortWorker* workers[1] = {side.worker.get()};
      absl::StatusOr<MacAddress> mac = ResolveArp(*side.worker, workers, remote.ip.v4(), 5);
      if (!mac.ok()) return mac.status();
      remote.mac = *mac;
      // The peer may still be asking: answer until it is ready too.
    }
    if (absl::Status st = side.endpoint->Connect(peer->qps, remote); !st.ok()) return st;
    // The server posts its receives and fills its READ sources before the
    // client may send anything.
    if (!client_) side.endpoint->Start(clock_.ToTime(dpdk::ReadTsc()));
    if (absl::Status st = BarrierWhilePolling(side, absl::StrFormat("ready %d", size)); !st.ok()) {
      return st;
    }

    const uint64_t start_tsc = dpdk::ReadTsc();
    if (client_) side.endpoint->Start(clock_.ToTime(start_tsc));
    const uint64_t hz = dpdk::TscHz();
    const uint64_t deadline = start_tsc + static_cast<uint64_t>(options_.timeout_seconds * hz);
    uint64_t next_progress = start_tsc + hz;
    std::string failure;
    while (!side.done.load(std::memory_order_acquire)) {
      const uint64_t tsc = dpdk::ReadTsc();
      side.Step(tsc);
      if (tsc > deadline) {
        failure =
            absl::StrFormat("stalled: --timeout of %g s exceeded with %d/%d messages; %s",
                            options_.timeout_seconds, side.endpoint->messages_completed(),
                            side.endpoint->total_messages(), side.endpoint->DescribeProgress());
        break;
      }
      if (client_ && progress && tsc > next_progress) {
        next_progress = tsc + hz;
        const double elapsed = static_cast<double>(tsc - start_tsc) / static_cast<double>(hz);
        progress(PerfProgress{size, side.endpoint->messages_completed(),
                              side.endpoint->total_messages(), elapsed, elapsed});
      }
    }
    // Keep serving until the peer is done too (its last ACKs come from us).
    if (absl::Status st = BarrierWhilePolling(side, absl::StrFormat("done %d", size)); !st.ok()) {
      if (failure.empty()) failure = std::string(st.message());
    }
    side.endpoint->FinalCheck();

    PerfResult result;
    if (client_) {
      absl::StatusOr<std::vector<uint8_t>> report = channel_->Receive();
      if (!report.ok()) return report.status();
      ServerReport server;
      if (!DecodeServerReport(*report, &server)) {
        return absl::DataLossError("control: malformed result report from the server");
      }
      result = Summarize(options_, size, *side.endpoint, server, failure);
      if (absl::Status st = channel_->Send(EncodeResult(result)); !st.ok()) return st;
    } else {
      ServerReport mine = ServerSummary(*side.endpoint);
      if (mine.failure.empty()) mine.failure = failure;
      if (absl::Status st = channel_->Send(EncodeServerReport(mine)); !st.ok()) return st;
      absl::StatusOr<std::vector<uint8_t>> final_result = channel_->Receive();
      if (!final_result.ok()) return final_result.status();
      if (!DecodeResult(*final_result, &result)) {
        return absl::DataLossError("control: malformed final result from the client");
      }
    }
    std::vector<const QueuePair*> qps;
    for (QueuePair* qp : side.endpoint->qps()) qps.push_back(qp);
    result.counters.clear();
    AppendQpCounters(qps, &result.counters);
    SumCounters(SideCounters(side), &result.counters);
    AppendCaptureCounters(capture_.get(), &result);
    result.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    return result;
  }

 private:
  // A barrier on the control thread while this lcore keeps the port served.
  absl::Status BarrierWhilePolling(Side& side, const std::string& name) {
    std::atomic<bool> passed{false};
    absl::Status status;
    std::thread control([&] {
      status = channel_->Barrier(name);
      passed.store(true, std::memory_order_release);
    });
    while (!passed.load(std::memory_order_acquire)) side.Step(dpdk::ReadTsc());
    control.join();
    return status;
  }

  // Results over the control channel: text "key=value" lines, so that a
  // mismatch between builds is an error, not garbage.
  static std::vector<uint8_t> ToBytes(const std::string& s) { return {s.begin(), s.end()}; }
  static std::vector<uint8_t> EncodeServerReport(const ServerReport& r) {
    return ToBytes(absl::StrFormat("bytes_verified=%d\ndata_errors=%d\nfailure=%s",
                                   r.bytes_verified, r.data_errors, r.failure));
  }
  static bool DecodeServerReport(const std::vector<uint8_t>& bytes, ServerReport* r) {
    const std::string text(bytes.begin(), bytes.end());
    unsigned long long verified = 0, errors = 0;
    int consumed = 0;
    if (std::sscanf(text.c_str(), "bytes_verified=%llu\ndata_errors=%llu\nfailure=%n", &verified,
                    &errors, &consumed) != 2 ||
        consumed == 0) {
      return false;
    }
    r->bytes_verified = verified;
    r->data_errors = errors;
    r->failure = text.substr(static_cast<size_t>(consumed));
    return true;
  }
  static std::vector<uint8_t> EncodeResult(const PerfResult& r) {
    const LatencyStats& l = r.latency;
    return ToBytes(absl::StrFormat(
        "%d %.17g %.17g %.17g %d %.17g %.17g %.17g %.17g %.17g %.17g %.17g %d %d %d %d %d "
        "%.17g\n%s",
        r.ok, r.bw_peak_gbps, r.bw_avg_gbps, r.msg_rate_mpps, r.has_latency, l.t_min, l.t_max,
        l.t_typical, l.t_avg, l.t_stdev, l.p99, l.p99_9, r.messages_posted, r.messages_completed,
        r.bytes_verified, r.data_errors, r.peak_window, r.virtual_seconds, r.failure));
  }
  bool DecodeResult(const std::vector<uint8_t>& bytes, PerfResult* r) const {
    const std::string text(bytes.begin(), bytes.end());
    int ok = 0, has_latency = 0, consumed = 0;
    unsigned long long posted = 0, completed = 0, verified = 0, errors = 0, window = 0;
    LatencyStats& l = r->latency;
    if (std::sscanf(
            text.c_str(),
            "%d %lg %lg %lg %d %lg %lg %lg %lg %lg %lg %lg %llu %llu %llu %llu %llu %lg\n%n", &ok,
            &r->bw_peak_gbps, &r->bw_avg_gbps, &r->msg_rate_mpps, &has_latency, &l.t_min, &l.t_max,
            &l.t_typical, &l.t_avg, &l.t_stdev, &l.p99, &l.p99_9, &posted, &completed, &verified,
            &errors, &window, &r->virtual_seconds, &consumed) != 18) {
      return false;
    }
    r->test = options_.test;
    r->iterations = options_.iters;
    r->qps = IsLatencyTest(options_.test) ? 1 : options_.qps;
    r->ok = ok != 0;
    r->has_latency = has_latency != 0;
    r->messages_posted = posted;
    r->messages_completed = completed;
    r->bytes_verified = verified;
    r->data_errors = errors;
    r->peak_window = window;
    r->failure = text.substr(static_cast<size_t>(consumed));
    return true;
  }

  PerfOptions options_;  // a copy: the MTU may be lowered to fit the port
  const bool client_;
  dpdk::TscClock clock_;
  std::unique_ptr<dpdk::Port> port_;
  std::unique_ptr<dpdk::PacketCapture> capture_;
  std::unique_ptr<control::ControlChannel> channel_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DpdkPerfFabric>> DpdkPerfFabric::Open(const PerfOptions& options) {
  if (options.role != DpdkRole::kLoopback) {
    auto fabric = std::make_unique<PeerFabric>(options);
    if (absl::Status s = fabric->Open(); !s.ok()) return s;
    return fabric;
  }
  auto fabric = std::make_unique<LoopbackFabric>(options);
  if (absl::Status s = fabric->Open(); !s.ok()) return s;
  return fabric;
}

}  // namespace tern::perf
