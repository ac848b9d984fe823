#include "apps/perf_dpdk.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "apps/perf_endpoint.h"
#include "apps/perf_result_wire.h"
#include "dataplane/dpdk/capture.h"
#include "dataplane/dpdk/dma_memory.h"
#include "dataplane/dpdk/eal.h"
#include "dataplane/dpdk/lcore_loops.h"
#include "dataplane/dpdk/port.h"
#include "dataplane/dpdk/port_worker.h"
#include "dataplane/dpdk/steering.h"
#include "dataplane/dpdk/telemetry.h"
#include "dataplane/dpdk/tsc_clock.h"
#include "dataplane/sim/multipath_wire.h"
#include "dataplane/sim/simulator.h"
#include "spdlog/spdlog.h"

namespace tern::perf {
namespace {

// Message buffers in DPDK's heap (calloc when it is full), so that the ports
// send payload from them by reference.
constexpr BufferAllocator kDmaBuffers{dpdk::AllocateDmaMemory, dpdk::FreeDmaMemory};

using dpdk::FaultConfig;
using dpdk::PortWorker;
using dpdk::ResolveNeighbor;

// The same keys as --fabric=dpdk:... at run time, through /tern/faults.
absl::StatusOr<FaultConfig> ParseFaultSpec(std::string_view spec) {
  absl::StatusOr<sim::MultipathWireConfig> wire = sim::ParseWireSpec(spec);
  if (!wire.ok()) return wire.status();
  if (absl::Status s = CheckDpdkFaultKeys(spec); !s.ok()) return s;
  return DpdkFaults(*wire);
}

// Worker `w`'s share of the test, the same on both hosts: every Nth QP, and
// a pattern seed of its own (worker 0 keeps the run's).
PerfOptions WorkerShare(const PerfOptions& options, int w) {
  PerfOptions share = options;
  const auto worker = static_cast<uint32_t>(w);
  share.qps = options.qps / options.workers + (worker < options.qps % options.workers ? 1 : 0);
  if (w > 0) share.seed = sim::DeriveSeed(options.seed, 0x2000 + worker);
  return share;
}

// One worker of a host: its context, the PortWorker that drives it over its
// own port queue, and its share of the test. One lcore steps it once the run
// starts; other threads only read and write the atomics.
struct Side {
  PerfOptions options;  // this worker's share (the endpoint keeps a reference)
  std::unique_ptr<Context> context;
  std::unique_ptr<PortWorker> worker;
  std::unique_ptr<PerfEndpoint> endpoint;
  int index = 0;
  const dpdk::Port* port = nullptr;
  std::atomic<bool> start_requested{false};  // the endpoint starts on its lcore
  std::atomic<bool> started{false};
  std::atomic<bool> done{false};
  std::atomic<uint64_t> messages_completed{0};  // for progress lines
  uint64_t fault_generation = 0;
  uint64_t next_fault_check_tsc = 0;
  uint64_t next_publish_tsc = 0;
  std::vector<QueuePair*> qps;    // the endpoint's (fixed from its set-up), taken once
  dpdk::WorkerSnapshot snapshot;  // refilled and swapped with the board's

  // One loop iteration: the worker, then the application, on one TSC reading.
  void Step(uint64_t tsc) {
    worker->Poll(tsc);
    const Time now = worker->clock().ToTime(tsc);
    if (!started.load(std::memory_order_relaxed) &&
        start_requested.load(std::memory_order_acquire)) {
      endpoint->Start(now);
      started.store(true, std::memory_order_release);
    }
    endpoint->Poll(now);
    messages_completed.store(endpoint->messages_completed(), std::memory_order_relaxed);
    if (!done.load(std::memory_order_relaxed) && started.load(std::memory_order_relaxed) &&
        endpoint->done()) {
      done.store(true, std::memory_order_release);
    }
    dpdk::TelemetryBoard& board = dpdk::TelemetryBoard::Instance();
    if (tsc >= next_fault_check_tsc) {
      // Run-time fault changes within milliseconds.
      next_fault_check_tsc = tsc + dpdk::TscHz() / 200;
      FaultConfig faults;
      if (board.PendingFaults(&fault_generation, &faults)) {
        worker->SetFaults(faults);
        spdlog::info("worker {}: faults now {}", index, dpdk::DescribeFaults(faults));
      }
    }
    if (tsc >= next_publish_tsc) {
      // Counters for rte_telemetry, fresh enough for a person or a script
      // polling: copying every QP's counters costs the data path a miss per
      // QP, which at 1000 QPs every 5 ms was a few percent of its time.
      next_publish_tsc = tsc + dpdk::TscHz() / 20;
      if (qps.empty()) qps = endpoint->qps();
      dpdk::TakeSnapshot(index, port->id(), *worker, qps, &snapshot);
      board.Publish(&snapshot);
    }
  }
};

// One host's workers on one port: side w drives queue w and listens on UDP
// port kDefaultUdpPort + w; frames that land on another worker's queue are
// handed over through `steering`.
struct Host {
  std::vector<std::unique_ptr<Side>> sides;
  std::unique_ptr<dpdk::SoftwareSteering> steering;

  std::vector<Side*> all() const {
    std::vector<Side*> out;
    for (const auto& side : sides) out.push_back(side.get());
    return out;
  }
  bool AllStarted() const {
    return std::all_of(sides.begin(), sides.end(),
                       [](const auto& s) { return s->started.load(std::memory_order_acquire); });
  }
  bool AllDone() const {
    return std::all_of(sides.begin(), sides.end(),
                       [](const auto& s) { return s->done.load(std::memory_order_acquire); });
  }
  uint64_t MessagesCompleted() const {
    uint64_t sum = 0;
    for (const auto& s : sides) sum += s->messages_completed.load(std::memory_order_relaxed);
    return sum;
  }
  uint64_t TotalMessages() const {
    uint64_t sum = 0;
    for (const auto& s : sides) sum += s->endpoint->total_messages();
    return sum;
  }
  void RequestStart() {
    for (const auto& s : sides) s->start_requested.store(true, std::memory_order_release);
  }
  // Where the run stands, for a stall report; only once no lcore steps it.
  std::string DescribeProgress() const {
    for (const auto& s : sides) {
      if (!s->done.load(std::memory_order_acquire)) {
        return absl::StrFormat("worker %d: %s", s->index, s->endpoint->DescribeProgress());
      }
    }
    return "every worker done";
  }
};

// Builds a host's workers on `port`; `first_index` numbers them in telemetry.
absl::Status MakeHost(const PerfOptions& options, uint64_t size, dpdk::Port& port,
                      const IpAddress& ip, bool requester, const dpdk::TscClock& clock,
                      dpdk::PacketCapture* capture, int first_index, Host* host) {
  const int workers = options.workers;
  absl::StatusOr<std::unique_ptr<dpdk::SoftwareSteering>> steering =
      dpdk::SteerWorkers(port, workers);
  if (!steering.ok()) return steering.status();
  host->steering = *std::move(steering);
  for (int w = 0; w < workers; ++w) {
    auto side = std::make_unique<Side>();
    side->options = WorkerShare(options, w);
    side->index = first_index + w;
    side->port = &port;
    ContextConfig config;
    config.local.mac = port.info().mac;
    config.local.ip = ip;
    config.local.udp_port = WorkerUdpPort(w);
    config.first_qp_num = WorkerFirstQpNum(static_cast<uint32_t>(w));
    config.coalesce_control = options.coalesce_control;
    config.contexts_sharing_link = static_cast<uint32_t>(workers);
    config.packets_per_turn = options.packets_per_turn;
    config.traffic_class = options.traffic_class;
    config.allocate_up_front = true;  // a poll-mode worker allocates nothing on the data path
    config.seed = sim::DeriveSeed(options.seed, (requester ? 0x1000u : 0x1001u) + 2u * w);
    absl::StatusOr<std::unique_ptr<Context>> ctx = Context::Create(config);
    if (!ctx.ok()) return ctx.status();
    side->context = *std::move(ctx);
    side->worker = std::make_unique<PortWorker>(port, static_cast<uint16_t>(w), *side->context,
                                                clock, capture);
    if (host->steering) side->worker->JoinSteering(host->steering.get(), w);
    side->worker->SetFaults(DpdkFaults(options.wire));
    side->worker->SetZeroCopy(!options.tx_copy);
    side->endpoint =
        std::make_unique<PerfEndpoint>(side->options, size, requester, *side->context, kDmaBuffers);
    if (absl::Status st = side->endpoint->SetUp(); !st.ok()) return st;
    host->sides.push_back(std::move(side));
  }
  return absl::OkStatus();
}

using SideLoops = dpdk::LcoreLoops<Side>;

ServerReport ServerSummary(const Host& server) {
  ServerReport report;
  for (const auto& side : server.sides) {
    const PerfEndpoint& e = *side->endpoint;
    if (e.failed() && report.failure.empty()) report.failure = e.failure();
    report.bytes_verified += e.bytes_verified();
    report.data_errors += e.data_errors();
  }
  return report;
}

// What both sides know of a run before measuring it: the test, the
// iterations and the QPs.
PerfResult ResultOf(const PerfOptions& options) {
  PerfResult result;
  result.test = options.test;
  result.iterations = options.iters;
  result.qps = IsLatencyTest(options.test) ? 1 : options.qps;
  return result;
}

// The client's view of the run, completed by the server's report. With
// several workers the peak is the sum of each worker's peak.
PerfResult Summarize(const PerfOptions& options, uint64_t size, const Host& client,
                     const ServerReport& server, const std::string& failure) {
  PerfResult result = ResultOf(options);
  result.bytes = size;
  result.mtu = options.mtu;
  std::string why = failure;
  Time first_post = Time::Infinite();
  Time last_completion;
  for (const auto& side : client.sides) {
    PerfEndpoint& e = *side->endpoint;
    if (why.empty() && e.failed()) why = e.failure();
    first_post = std::min(first_post, e.first_post());
    last_completion = std::max(last_completion, e.last_completion());
    result.messages_posted += e.total_messages();
    result.messages_completed += e.messages_completed();
    result.bytes_verified += e.bytes_verified();
    result.data_errors += e.data_errors();
    result.bw_peak_gbps += e.peak_gbps();
    result.peak_window += e.peak_window();
  }
  if (why.empty()) why = server.failure;
  const double elapsed = (last_completion - first_post).seconds();
  if (elapsed > 0) {
    const double completed = static_cast<double>(result.messages_completed);
    result.bw_avg_gbps = completed * static_cast<double>(size) * 8 / elapsed / 1e9;
    result.msg_rate_mpps = completed / elapsed / 1e6;
  }
  if (IsLatencyTest(options.test)) {  // one worker
    result.has_latency = true;
    result.latency = ComputeLatencyStats(std::move(client.sides[0]->endpoint->latency_samples()),
                                         options.warmup);
  }
  result.bytes_verified += server.bytes_verified;
  result.data_errors += server.data_errors;
  if (why.empty() && result.messages_completed < result.messages_posted) {
    why = "run ended before every message completed";
  }
  result.ok = why.empty();
  result.failure = why;
  result.virtual_seconds = elapsed;  // wall-clock time on this fabric
  return result;
}

// A host's context, worker and fault counters, summed over its workers, and
// its port's own counters once.
std::vector<std::pair<std::string, uint64_t>> HostCounters(const Host& host) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const auto& side : host.sides) {
    std::vector<std::pair<std::string, uint64_t>> one;
    AppendContextCounters(*side->context, &one);
    const dpdk::WorkerCounters& w = side->worker->counters();
    const dpdk::FaultCounters& f = side->worker->faults().counters();
    one.insert(one.end(), {{"port_rx_frames", w.rx_frames},
                           {"port_tx_frames", w.tx_frames},
                           {"port_tx_ring_full", w.tx_ring_full},
                           {"port_tx_no_mbuf", w.tx_no_mbuf},
                           {"port_rx_ip_checksum_bad", w.rx_ip_checksum_bad},
                           {"port_steered_out", w.steered_out},
                           {"port_steer_ring_full", w.steer_ring_full},
                           {"port_tx_zero_copy", w.tx_zero_copy},
                           {"port_tx_payload_copied", w.tx_payload_copied},
                           {"port_rx_multi_segment", w.rx_multi_segment},
                           {"arp_requests_answered", w.arp_requests_answered},
                           {"nd_solicitations_answered", w.nd_solicitations_answered},
                           {"nd_address_defended", w.nd_address_defended},
                           {"fault_dropped", f.dropped + f.blackholed},
                           {"fault_duplicated", f.duplicated},
                           {"fault_corrupted", f.corrupted},
                           {"fault_delayed", f.delayed}});
    SumCounters(one, &out);
  }
  const dpdk::PortStats port_stats = host.sides[0]->port->stats();  // the PMD's own counters
  SumCounters({{{"port_rx_missed", port_stats.rx_missed},
                {"port_rx_no_mbuf", port_stats.rx_no_mbuf},
                {"port_tx_errors", port_stats.tx_errors}}},
              &out);
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

dpdk::PortOptions PortOptionsFor(const PerfOptions& options, uint16_t port_id) {
  dpdk::PortOptions port_options;
  port_options.port_id = port_id;
  port_options.queues = options.workers;
  port_options.payload_mtu = options.mtu;
  port_options.link_mtu = options.link_mtu;
  return port_options;
}

absl::StatusOr<std::unique_ptr<dpdk::PacketCapture>> MaybeCapture(const PerfOptions& options) {
  if (options.pcap_path.empty()) return std::unique_ptr<dpdk::PacketCapture>();
  return dpdk::PacketCapture::Open(options.pcap_path);
}

class LoopbackFabric : public DpdkPerfFabric {
 public:
  explicit LoopbackFabric(const PerfOptions& options)
      : options_(options), clock_(dpdk::TscHz(), dpdk::ReadTsc()) {}

  absl::Status Open() {
    absl::StatusOr<std::pair<uint16_t, uint16_t>> pair =
        dpdk::CreateRingPortPair(absl::StrFormat("tern_loop%d", getpid()), options_.workers);
    if (!pair.ok()) return pair.status();
    for (uint16_t id : {pair->first, pair->second}) {
      absl::StatusOr<std::unique_ptr<dpdk::Port>> port =
          dpdk::Port::Open(PortOptionsFor(options_, id));
      if (!port.ok()) return port.status();
      options_.mtu = (*port)->FitPayloadMtu(options_.mtu);
      ports_.push_back(*std::move(port));
    }
    absl::StatusOr<std::unique_ptr<dpdk::PacketCapture>> capture = MaybeCapture(options_);
    if (!capture.ok()) return capture.status();
    capture_ = *std::move(capture);
    dpdk::TelemetryBoard::Instance().Register(ParseFaultSpec);
    const size_t lcores = 1 + dpdk::WorkerLcores().size();
    if (lcores < 2u * options_.workers) {
      spdlog::info("{} lcore(s) (-l) for {} workers on the two hosts: some lcores step several",
                   lcores, 2 * options_.workers);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<PerfResult> Run(uint64_t size, const ProgressFn& progress) override {
    const auto wall_start = std::chrono::steady_clock::now();
    Host hosts[2];  // client, server
    // The client at --ip (default 10.0.0.1), the server at the next address.
    IpAddress ip = options_.local_ip.empty() ? IpAddress::V4(0x0A000001u)
                                             : *IpAddress::Parse(options_.local_ip);
    for (int i : {0, 1}) {
      if (i == 1) ++ip.bytes[ip.is_v6 ? 15 : 3];  // --ip leaves room (perf_options.cc)
      if (absl::Status st = MakeHost(options_, size, *ports_[i], ip, i == 0, clock_, capture_.get(),
                                     i * options_.workers, &hosts[i]);
          !st.ok()) {
        return st;
      }
    }
    // Each host finds the other's MAC with ARP, as on a routed fabric; its
    // workers share port, MAC and address.
    std::vector<PortWorker*> workers;
    for (const Host& host : hosts) {
      for (const auto& side : host.sides) workers.push_back(side->worker.get());
    }
    // Nobody else holds our addresses (ARP probe, IPv6 DAD), once per process.
    for (const Host& host : hosts) {
      if (address_checked_ || !options_.address_check) break;
      if (absl::Status st = dpdk::CheckAddressUnique(*host.sides[0]->worker, workers,
                                                     dpdk::kDuplicateAddressWaitSeconds);
          !st.ok()) {
        return st;
      }
    }
    address_checked_ = true;
    MacAddress peer_mac[2];
    for (int i : {0, 1}) {
      absl::StatusOr<MacAddress> mac = ResolveNeighbor(
          *hosts[i].sides[0]->worker, workers, hosts[1 - i].sides[0]->context->local().ip, 2);
      if (!mac.ok()) return mac.status();
      peer_mac[i] = *mac;
    }
    for (int i : {0, 1}) {
      for (size_t w = 0; w < hosts[i].sides.size(); ++w) {
        const Side& peer = *hosts[1 - i].sides[w];
        Endpoint remote = peer.context->local();
        remote.mac = peer_mac[i];
        if (absl::Status st =
                hosts[i].sides[w]->endpoint->Connect(peer.endpoint->LocalQps(), remote);
            !st.ok()) {
          return st;
        }
      }
    }

    // Clients first: with two lcores the client steps on this one.
    std::vector<Side*> order = hosts[0].all();
    for (Side* side : hosts[1].all()) order.push_back(side);
    SideLoops loops(order);
    if (absl::Status st = loops.Launch(); !st.ok()) return st;
    const uint64_t hz = dpdk::TscHz();
    const uint64_t start_tsc = dpdk::ReadTsc();
    const uint64_t deadline = start_tsc + static_cast<uint64_t>(options_.timeout_seconds * hz);
    // The server posts its receives before the client may send.
    hosts[1].RequestStart();
    while (!hosts[1].AllStarted() && dpdk::ReadTsc() < deadline) loops.StepMain(dpdk::ReadTsc());
    hosts[0].RequestStart();
    uint64_t next_progress = start_tsc + hz;
    bool stalled = false;
    while (!(hosts[0].AllDone() && hosts[1].AllDone())) {
      const uint64_t tsc = dpdk::ReadTsc();
      loops.StepMain(tsc);
      if (tsc > deadline) {
        stalled = true;
        break;
      }
      if (progress && tsc > next_progress) {
        next_progress = tsc + hz;
        const double elapsed = static_cast<double>(tsc - start_tsc) / static_cast<double>(hz);
        progress(PerfProgress{size, hosts[0].MessagesCompleted(), hosts[0].TotalMessages(), elapsed,
                              elapsed});
      }
    }
    loops.Stop();
    std::string failure;
    if (stalled) {
      failure =
          absl::StrFormat("stalled: --timeout of %g s exceeded with %d/%d messages completed; %s",
                          options_.timeout_seconds, hosts[0].MessagesCompleted(),
                          hosts[0].TotalMessages(), hosts[0].DescribeProgress());
    }
    for (const auto& side : hosts[1].sides) side->endpoint->FinalCheck();
    PerfResult result = Summarize(options_, size, hosts[0], ServerSummary(hosts[1]), failure);
    std::vector<const QueuePair*> qps;
    for (const Host& host : hosts) {
      for (const auto& side : host.sides) {
        for (QueuePair* qp : side->endpoint->qps()) qps.push_back(qp);
      }
    }
    AppendQpCounters(qps, &result.counters);
    for (const Host& host : hosts) SumCounters(HostCounters(host), &result.counters);
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
  bool address_checked_ = false;  // CheckAddressUnique done
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

  // The two processes close their ports in turn, the client first
  // (Port::AwaitPeerClosed; without it 2 runs of perf_dpdk_memif in about 60
  // crashed at exit under ASan).
  ~PeerFabric() override {
    if (channel_ == nullptr || port_ == nullptr) return;
    if (!client_) {
      (void)channel_->Barrier("closing");  // the client has closed, or is gone
      port_->AwaitPeerClosed(1000);
    }
    capture_.reset();
    port_.reset();
    if (client_) (void)channel_->Barrier("closing");
  }

  absl::Status Open() {
    absl::StatusOr<std::unique_ptr<dpdk::Port>> port =
        dpdk::Port::Open(PortOptionsFor(options_, options_.dpdk_port));
    if (!port.ok()) return port.status();
    port_ = *std::move(port);
    options_.mtu = port_->FitPayloadMtu(options_.mtu);
    absl::StatusOr<std::unique_ptr<dpdk::PacketCapture>> capture = MaybeCapture(options_);
    if (!capture.ok()) return capture.status();
    capture_ = *std::move(capture);
    dpdk::TelemetryBoard::Instance().Register(ParseFaultSpec);

    control::ChannelOptions channel_options;
    channel_options.timeout =
        std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_seconds * 1000));
    // A server can wait a while for its client: say for what, and how long,
    // on the port it really has (--control-port=0 lets the kernel choose).
    absl::StatusOr<control::ControlChannel> channel;
    if (client_) {
      spdlog::info("control: connecting to {} port {} (up to {} s)", options_.connect_host,
                   options_.control_port, options_.timeout_seconds);
      channel = control::ControlChannel::Connect(options_.connect_host, options_.control_port,
                                                 channel_options);
    } else {
      absl::StatusOr<control::ControlListener> listener =
          control::ControlListener::Listen("", options_.control_port, channel_options);
      if (!listener.ok()) return listener.status();
      spdlog::info("control: waiting up to {} s for a client on TCP port {}",
                   options_.timeout_seconds, listener->port());
      channel = listener->Accept();
    }
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
    Host host;
    const IpAddress ip = options_.local_ip.empty()
                             ? IpAddress::V4(client_ ? 0x0A000001u : 0x0A000002u)
                             : *IpAddress::Parse(options_.local_ip);
    if (absl::Status st =
            MakeHost(options_, size, *port_, ip, client_, clock_, capture_.get(), 0, &host);
        !st.ok()) {
      return st;
    }

    // Out of band, once per worker: QPs, addresses and what both sides must
    // agree on (the workload names the worker count, and the base RTT both
    // sides' congestion control sizes itself from).
    std::vector<control::HostSetup> peers;
    for (size_t w = 0; w < host.sides.size(); ++w) {
      const Side& side = *host.sides[w];
      control::HostSetup local;
      local.endpoint = side.context->local();
      local.mtu = options_.mtu;
      local.paths = options_.paths;
      local.congestion_control = options_.cc;
      local.workload = absl::StrFormat(
          "%s size=%d iters=%d warmup=%d qps=%d tx_depth=%d verify=%d workers=%d "
          "worker=%d base_rtt_us=%g",
          PerfTestName(options_.test), size, options_.iters, options_.warmup, options_.qps,
          options_.tx_depth, options_.verify, options_.workers, w,
          options_.base_rtt.microseconds());
      local.qps = side.endpoint->LocalQps();
      absl::StatusOr<control::HostSetup> peer = channel_->Exchange(local);
      if (!peer.ok()) return peer.status();
      peers.push_back(*std::move(peer));
    }
    std::vector<PortWorker*> workers;
    for (Side* side : host.all()) workers.push_back(side->worker.get());
    if (!address_checked_ && options_.address_check) {  // nobody else holds our address, once
      if (absl::Status st =
              dpdk::CheckAddressUnique(*workers[0], workers, dpdk::kDuplicateAddressWaitSeconds);
          !st.ok()) {
        return st;
      }
      address_checked_ = true;
    }
    MacAddress peer_mac;
    if (!options_.peer_mac.empty()) {
      peer_mac = *MacAddress::Parse(options_.peer_mac);
    } else {
      // The peer's workers share its MAC and address: worker 0 asks, for
      // the gateway's when the peer is behind one.
      const IpAddress next_hop = options_.gateway_ip.empty()
                                     ? peers[0].endpoint.ip
                                     : *IpAddress::Parse(options_.gateway_ip);
      absl::StatusOr<MacAddress> mac = ResolveNeighbor(*workers[0], workers, next_hop, 5);
      if (!mac.ok()) return mac.status();
      peer_mac = *mac;
      // The peer may still be asking: answer until it is ready too.
    }
    for (size_t w = 0; w < host.sides.size(); ++w) {
      Endpoint remote = peers[w].endpoint;
      remote.mac = peer_mac;
      if (absl::Status st = host.sides[w]->endpoint->Connect(peers[w].qps, remote); !st.ok()) {
        return st;
      }
    }
    SideLoops loops(host.all());
    if (absl::Status st = loops.Launch(); !st.ok()) return st;
    // The server posts its receives and fills its READ sources before the
    // client may send anything.
    if (!client_) {
      host.RequestStart();
      while (!host.AllStarted()) loops.StepMain(dpdk::ReadTsc());
    }
    if (absl::Status st = BarrierWhilePolling(loops, absl::StrFormat("ready %d", size)); !st.ok()) {
      return st;
    }

    const uint64_t start_tsc = dpdk::ReadTsc();
    if (client_) host.RequestStart();
    const uint64_t hz = dpdk::TscHz();
    const uint64_t deadline = start_tsc + static_cast<uint64_t>(options_.timeout_seconds * hz);
    uint64_t next_progress = start_tsc + hz;
    bool stalled = false;
    while (!host.AllDone()) {
      const uint64_t tsc = dpdk::ReadTsc();
      loops.StepMain(tsc);
      if (tsc > deadline) {
        stalled = true;
        break;
      }
      if (client_ && progress && tsc > next_progress) {
        next_progress = tsc + hz;
        const double elapsed = static_cast<double>(tsc - start_tsc) / static_cast<double>(hz);
        progress(
            PerfProgress{size, host.MessagesCompleted(), host.TotalMessages(), elapsed, elapsed});
      }
    }
    std::string failure;
    if (stalled) {
      failure =
          absl::StrFormat("stalled: --timeout of %g s exceeded with %d/%d messages",
                          options_.timeout_seconds, host.MessagesCompleted(), host.TotalMessages());
    }
    // Keep serving until the peer is done too (its last ACKs come from us).
    if (absl::Status st = BarrierWhilePolling(loops, absl::StrFormat("done %d", size)); !st.ok()) {
      if (failure.empty()) failure = std::string(st.message());
    }
    loops.Stop();
    if (stalled) absl::StrAppend(&failure, "; ", host.DescribeProgress());
    for (const auto& side : host.sides) side->endpoint->FinalCheck();

    PerfResult result;
    if (client_) {
      absl::StatusOr<std::vector<uint8_t>> report = channel_->Receive();
      if (!report.ok()) return report.status();
      absl::StatusOr<ServerReport> server = DecodeServerReport(*report);
      if (!server.ok()) {
        return absl::DataLossError(absl::StrCat(
            "control: malformed result report from the server: ", server.status().message()));
      }
      result = Summarize(options_, size, host, *server, failure);
      if (absl::Status st = channel_->Send(EncodeClientResult(result)); !st.ok()) return st;
    } else {
      ServerReport mine = ServerSummary(host);
      if (mine.failure.empty()) mine.failure = failure;
      if (absl::Status st = channel_->Send(EncodeServerReport(mine)); !st.ok()) return st;
      absl::StatusOr<std::vector<uint8_t>> final_result = channel_->Receive();
      if (!final_result.ok()) return final_result.status();
      result = ResultOf(options_);
      if (absl::Status st = DecodeClientResult(*final_result, &result); !st.ok()) {
        return absl::DataLossError(
            absl::StrCat("control: malformed final result from the client: ", st.message()));
      }
    }
    std::vector<const QueuePair*> qps;
    for (Side* side : host.all()) {
      for (QueuePair* qp : side->endpoint->qps()) qps.push_back(qp);
    }
    result.counters.clear();
    AppendQpCounters(qps, &result.counters);
    SumCounters(HostCounters(host), &result.counters);
    AppendCaptureCounters(capture_.get(), &result);
    result.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    return result;
  }

 private:
  bool address_checked_ = false;  // CheckAddressUnique done
  // A barrier on the control thread while this lcore keeps its sides served.
  absl::Status BarrierWhilePolling(SideLoops& loops, const std::string& name) {
    std::atomic<bool> passed{false};
    absl::Status status;
    std::thread control([&] {
      status = channel_->Barrier(name);
      passed.store(true, std::memory_order_release);
    });
    while (!passed.load(std::memory_order_acquire)) loops.StepMain(dpdk::ReadTsc());
    control.join();
    return status;
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
