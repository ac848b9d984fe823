#include "apps/replay_dpdk.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "apps/file_io.h"
#include "apps/perf_options.h"
#include "apps/perf_pattern.h"
#include "apps/replay_dpdk_plan.h"
#include "apps/replay_generators.h"
#include "apps/replay_rank_file.h"
#include "dataplane/control/control_channel.h"
#include "dataplane/dpdk/dma_memory.h"
#include "dataplane/dpdk/eal.h"
#include "dataplane/dpdk/lcore_loops.h"
#include "dataplane/dpdk/port.h"
#include "dataplane/dpdk/port_worker.h"
#include "dataplane/dpdk/steering.h"
#include "dataplane/dpdk/tsc_clock.h"
#include "dataplane/sim/simulator.h"
#include "spdlog/spdlog.h"
#include "transport/random.h"
#include "transport/text.h"
#include "transport/wire.h"

namespace tern::replay {
namespace {

using perf::Buffer;
using perf::CountPatternErrors;
using perf::FillPattern;
using perf::PatternBase;

// Work requests a connection keeps outstanding per direction; the rest wait
// here, in order. Each peer has twice as many chunk-sized slots on both sides
// (the sender's sources, the receiver's targets), used in turn, so a slot is
// reused only after the work request that last used it completed at both ends
// (docs/replay-dpdk.md, "Verification").
constexpr uint32_t kQueueDepth = 16;
constexpr uint32_t kSlots = 2 * kQueueDepth;
constexpr int kRttProbes = 8;
// Work-request ids: a step index, or a probe (high bit).
constexpr uint64_t kProbeWrId = uint64_t{1} << 63;
// Polls without a frame before --idle-sleep applies.
constexpr uint32_t kIdleLoops = 64;
// --timeline-interval: samples a rank keeps at most (about 100 MB); a run
// that would take more stops sampling, with a warning, rather than grow
// without bound.
constexpr size_t kMaxCcSamples = size_t{1} << 20;

int64_t RealtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

bool ParseStartTime(const std::string& text, int64_t* out) {
  uint64_t ns = 0;
  if (!ParseUint(text, &ns) || ns > static_cast<uint64_t>(INT64_MAX)) return false;
  *out = static_cast<int64_t>(ns);
  return true;
}

std::vector<uint8_t> ToBytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string FromBytes(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

// The control connections of one rank and the collective operations over
// them. Runs on a helper thread while the lcore keeps the port served; never
// touches the Context.
class ControlMesh {
 public:
  ControlMesh(uint32_t rank, const std::vector<RankHost>& hosts, const RankPlan& plan,
              control::ChannelOptions options)
      : rank_(rank), hosts_(hosts), plan_(plan), options_(options) {}

  absl::Status Listen() {
    bool any_higher = false;
    for (uint32_t p : plan_.control_peers) any_higher |= p > rank_;
    if (!any_higher) return absl::OkStatus();
    absl::StatusOr<control::ControlListener> l =
        control::ControlListener::Listen("", hosts_[rank_].control_port, options_);
    if (!l.ok()) return l.status();
    listener_ = std::make_unique<control::ControlListener>(*std::move(l));
    return absl::OkStatus();
  }

  // Connects to every lower control peer and accepts every higher one (lower
  // ranks first, so the waits form no cycle), and swaps `local[i]` (for
  // control_peers[i]) with each. Fills `remote` in the same order.
  absl::Status Connect(const std::vector<control::HostSetup>& local,
                       std::vector<control::HostSetup>* remote) {
    const std::vector<uint32_t>& peers = plan_.control_peers;
    channels_.resize(peers.size());
    remote->resize(peers.size());
    for (size_t i = 0; i < peers.size(); ++i) {
      if (peers[i] > rank_) continue;
      const RankHost& h = hosts_[peers[i]];
      absl::StatusOr<control::ControlChannel> c =
          control::ControlChannel::Connect(h.ip.ToString(), h.control_port, options_);
      if (!c.ok()) {
        return absl::UnavailableError(absl::StrFormat("rank %d (%s:%d): %s", peers[i],
                                                      h.ip.ToString(), h.control_port,
                                                      c.status().message()));
      }
      channels_[i] = std::make_unique<control::ControlChannel>(*std::move(c));
      if (absl::Status s = channels_[i]->Send(ToBytes(absl::StrCat("rank ", rank_))); !s.ok()) {
        return s;
      }
      if (absl::Status s = Swap(i, local[i], remote); !s.ok()) return s;
    }
    const size_t higher = static_cast<size_t>(
        std::count_if(peers.begin(), peers.end(), [&](uint32_t p) { return p > rank_; }));
    for (size_t n = 0; n < higher; ++n) {
      absl::StatusOr<control::ControlChannel> c = listener_->Accept();
      if (!c.ok()) {
        return absl::UnavailableError(absl::StrFormat("waiting for %d more ranks to connect: %s",
                                                      higher - n, c.status().message()));
      }
      auto channel = std::make_unique<control::ControlChannel>(*std::move(c));
      absl::StatusOr<std::vector<uint8_t>> hello = channel->Receive();
      if (!hello.ok()) return hello.status();
      const std::string text = FromBytes(*hello);
      uint32_t peer = 0;
      if (!text.starts_with("rank ") || !ParseUint(std::string_view(text).substr(5), &peer)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "control: %s sent '%s', not a tern-replay rank", channel->peer(), text));
      }
      const auto it = std::lower_bound(peers.begin(), peers.end(), peer);
      if (peer <= rank_ || it == peers.end() || *it != peer) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "control: %s says it is rank %d, which rank %d does not expect (same hosts file and "
            "workload on every rank?)",
            channel->peer(), peer, rank_));
      }
      const size_t i = static_cast<size_t>(it - peers.begin());
      if (channels_[i]) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "control: rank %d connected twice (two processes with one rank?)", peer));
      }
      channels_[i] = std::move(channel);
      if (absl::Status s = Swap(i, local[i], remote); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // Every rank returns once all have called it. Rank 0 hands `*value` to all
  // the others (they receive it in *value).
  absl::Status AllBarrier(const std::string& name, std::string* value) {
    if (rank_ != 0) {
      control::ControlChannel* zero = channels_[0].get();  // control_peers[0] is rank 0
      if (absl::Status s = zero->Barrier(name); !s.ok()) return Named(0, s);
      absl::StatusOr<std::vector<uint8_t>> v = zero->Receive();
      if (!v.ok()) return Named(0, v.status());
      *value = FromBytes(*v);
      return absl::OkStatus();
    }
    for (size_t i = 0; i < channels_.size(); ++i) {
      if (absl::Status s = channels_[i]->Barrier(name); !s.ok()) {
        return Named(plan_.control_peers[i], s);
      }
    }
    for (size_t i = 0; i < channels_.size(); ++i) {
      if (absl::Status s = channels_[i]->Send(ToBytes(*value)); !s.ok()) {
        return Named(plan_.control_peers[i], s);
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Swap(size_t i, const control::HostSetup& local,
                    std::vector<control::HostSetup>* remote) {
    absl::StatusOr<control::HostSetup> peer = channels_[i]->Exchange(local);
    if (!peer.ok()) return Named(plan_.control_peers[i], peer.status());
    (*remote)[i] = *std::move(peer);
    return absl::OkStatus();
  }
  absl::Status Named(uint32_t peer, const absl::Status& s) const {
    return absl::Status(s.code(), absl::StrFormat("with rank %d: %s", peer, s.message()));
  }

  const uint32_t rank_;
  const std::vector<RankHost>& hosts_;
  const RankPlan& plan_;
  control::ChannelOptions options_;
  std::unique_ptr<control::ControlListener> listener_;
  std::vector<std::unique_ptr<control::ControlChannel>> channels_;  // per control peer
};

// The rank's port, opened before the workload is built: the `load`
// generator needs the link rate.
struct OpenedPort {
  std::unique_ptr<dpdk::Port> port;
  uint32_t mtu = 0;
  double link_gbps = 0;
};

absl::StatusOr<OpenedPort> OpenPort(const ReplayOptions& options) {
  const DpdkReplayOptions& d = options.dpdk_options;
  OpenedPort out;
  dpdk::PortOptions port_options;
  port_options.port_id = d.port_id;
  port_options.payload_mtu = options.config.mtu;
  port_options.link_mtu = d.link_mtu;
  port_options.queues = d.workers;
  absl::StatusOr<std::unique_ptr<dpdk::Port>> port = dpdk::Port::Open(port_options);
  if (!port.ok()) return port.status();
  out.port = *std::move(port);
  out.mtu = out.port->FitPayloadMtu(options.config.mtu);
  if (!out.port->WaitForLink(static_cast<int>(d.setup_timeout_s * 1000))) {
    return absl::UnavailableError(
        absl::StrFormat("port %d: link still down after %g s", out.port->id(), d.setup_timeout_s));
  }
  out.link_gbps = d.link_gbps;
  if (out.link_gbps <= 0) {
    out.link_gbps = out.port->LinkSpeedMbps() / 1000.0;
    if (out.link_gbps <= 0) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "port %d (%s) reports no link speed: give --link-rate GBPS for the ideal FCT",
          out.port->id(), out.port->info().driver));
    }
  }
  return out;
}

class DpdkRank {
 public:
  DpdkRank(const ReplayOptions& options, uint32_t rank, std::vector<RankHost> hosts,
           Workload workload, OpenedPort port)
      : options_(options),
        d_(options.dpdk_options),
        rank_(rank),
        hosts_(std::move(hosts)),
        workload_(std::move(workload)),
        chunk_(ChunkBytes(workload_)),
        plan_(PlanRank(workload_, rank, static_cast<uint32_t>(hosts_.size()), chunk_,
                       options.dpdk_options.workers)),
        clock_(dpdk::TscHz(), dpdk::ReadTsc()),
        mtu_(port.mtu),
        link_gbps_(port.link_gbps),
        port_(std::move(port.port)) {}

  // After a run that reached its final barrier, ranks on a link that needs
  // it close their ports in turn, rank 0 last (Port::AwaitPeerClosed).
  ~DpdkRank() {
    if (!closes_in_turn_) return;
    std::string unused;
    if (rank_ != 0) {
      workers_.clear();
      steering_.reset();
      port_.reset();
    }
    (void)mesh_->AllBarrier("closing", &unused);
    if (rank_ == 0) port_->AwaitPeerClosed(1000);
  }
  DpdkRank(const DpdkRank&) = delete;
  DpdkRank& operator=(const DpdkRank&) = delete;

  absl::Status Run();
  RankResult Collect() const;
  bool all_done() const { return LocalDone(); }

 private:
  struct Worker;

  // This rank's QP to one peer on one worker.
  struct Peer {
    uint32_t rank = 0;
    Worker* worker = nullptr;
    QueuePair* qp = nullptr;
    Buffer source_buffer, sink_buffer;
    MemoryRegion* source = nullptr;  // kSlots chunks we send from
    MemoryRegion* sink = nullptr;    // kSlots chunks the peer writes or sends into
    control::QpSetup local;
    control::QpSetup remote;
    Endpoint remote_endpoint;
    uint32_t in_flight = 0;
    uint64_t send_seq = 0;                              // work requests posted to this peer
    std::deque<std::pair<uint32_t, uint64_t>> waiting;  // (step, chunk index)
    uint64_t recv_expected = 0, recv_posted = 0, recv_done = 0;
    Duration base_rtt = Duration::Infinite();
    uint64_t sampled_bytes = 0;  // new payload bytes sent by the last cc sample
    QpCounters at_start;         // set-up's share, left out of the results
  };

  // One of the rank's workers (--workers): a context on its own port queue
  // and UDP port (WorkerUdpPort), a QP to every data peer, and the steps
  // StepWorkers deals it, which it runs and receives. During the run one
  // lcore steps it; the rank's other workers reach it only through its
  // inbox and `done`.
  struct Worker {
    DpdkRank* rank = nullptr;
    uint16_t index = 0;
    std::unique_ptr<Context> context;
    std::unique_ptr<dpdk::PortWorker> port;
    ProtectionDomain* pd = nullptr;
    CompletionQueue* send_cq = nullptr;
    CompletionQueue* recv_cq = nullptr;
    std::vector<Peer*> peers;  // plan_.data_peers order
    // Each completion names its QP: found here, not by a scan of `peers`.
    absl::flat_hash_map<uint32_t, Peer*> peer_of_qp;
    uint64_t runs = 0, receives = 0;  // steps it runs, transfers it receives
    uint64_t steps_done = 0, receives_done = 0, probes_done = 0;
    uint64_t tx_frames_at_start = 0, rx_frames_at_start = 0;
    uint32_t idle_loops = 0;
    Time next_tick = Time::Infinite();  // --timeline-interval
    std::vector<CcSample> cc_timeline;
    bool cc_timeline_full = false;
    // PollCompletions' batch, kept here: a local array of WorkCompletion
    // (which has member initializers) is zeroed on every call.
    std::array<WorkCompletion, 32> completions;
    // Steps ready but not yet due (start time in the future), earliest first.
    std::priority_queue<std::pair<Time, uint32_t>, std::vector<std::pair<Time, uint32_t>>,
                        std::greater<>>
        due;
    // Delays running: (finish time, step).
    std::priority_queue<std::pair<Time, uint32_t>, std::vector<std::pair<Time, uint32_t>>,
                        std::greater<>>
        delays;
    // Steps another worker's completion made ready, with when: (time, step).
    // Sized for every step it runs, so a hand-over never allocates;
    // `inbox_size` spares the loop the lock while nothing waits.
    std::mutex inbox_mutex;
    std::vector<std::pair<Time, uint32_t>> inbox, taken;
    std::atomic<size_t> inbox_size{0};
    std::atomic<bool> done{false};  // Done(), for the main lcore

    bool Done() const { return steps_done == runs && receives_done == receives; }
    void Step(uint64_t tsc) { rank->Turn(*this, tsc); }
  };

  absl::Status SetUpWorkers();
  absl::Status SetUpPeers();
  // Runs `fn` on a helper thread while this thread keeps the port served.
  absl::Status WhilePolling(const std::function<absl::Status()>& fn);
  void PollOnce();  // every worker, from this thread (set-up and barriers)
  absl::Status ConnectQps(const std::vector<control::HostSetup>& remote);
  absl::Status ProbeRtts();
  absl::Status WarmUp();
  // The RTT probes' and the warm-up's WRITE: one full packet (within a peer's
  // slots) from `p`'s sources to its sink, both at `offset`; signalled, with a
  // probe's work-request id.
  uint32_t ProbeBytes() const {
    return static_cast<uint32_t>(std::min<uint64_t>(mtu_, kSlots * chunk_));
  }
  absl::Status PostProbeWrite(Peer& p, uint64_t offset, uint64_t index);
  absl::Status RunWorkload();

  std::vector<dpdk::PortWorker*> PortWorkers() const;
  size_t PeerIndex(uint32_t rank) const;  // in plan_.data_peers, or its size
  // Index in peers_ of worker `worker`'s QP to `rank`, or peers_.size().
  size_t PeerSlot(uint32_t rank, uint16_t worker) const;
  Peer* PeerOf(uint32_t rank, uint16_t worker) {
    const size_t k = PeerSlot(rank, worker);
    return k < peers_.size() ? &peers_[k] : nullptr;
  }
  static Peer* PeerOfQp(Worker& w, uint32_t qp_num);
  void PostRecv(Peer& p);
  // One loop iteration of worker `w` during the run.
  void Turn(Worker& w, uint64_t tsc);
  void Ready(Worker& w, uint32_t step, Time now);
  void Start(Worker& w, uint32_t step, Time now);
  void Post(Peer& p, uint32_t step, uint64_t chunk);
  void PostNow(Peer& p, uint32_t step, uint64_t chunk);
  void Finish(Worker& w, uint32_t step, Time now);
  void Received(Worker& w, uint32_t step, Time now);
  void Resolved(Worker& w, uint32_t step, Time now);  // finished or received here
  size_t PollCompletions(Worker& w, Time now);
  // --timeline-interval: one cc sample per sampled peer, stamped `tick`.
  void SampleCc(Worker& w, Time tick);
  // Over the workers, once their loops have stopped.
  uint64_t StepsDone() const {
    uint64_t n = 0;
    for (const auto& w : workers_) n += w->steps_done;
    return n;
  }
  uint64_t ReceivesDone() const {
    uint64_t n = 0;
    for (const auto& w : workers_) n += w->receives_done;
    return n;
  }
  bool LocalDone() const {
    return StepsDone() == plan_.runs.size() && ReceivesDone() == plan_.receives.size();
  }
  Time Now() const { return clock_.ToTime(dpdk::ReadTsc()) - (start_ - Time::Zero()); }
  std::string SetupFingerprint() const {
    return absl::StrFormat("tern-replay %s seed=%d hosts=%d verb=%s fp=%s", options_.workload,
                           options_.config.seed, hosts_.size(),
                           options_.config.verb == TransferVerb::kSend ? "send" : "write",
                           WorkloadFingerprint(workload_));
  }

  const ReplayOptions& options_;
  const DpdkReplayOptions& d_;
  const uint32_t rank_;
  const std::vector<RankHost> hosts_;
  const Workload workload_;
  const uint64_t chunk_;
  const RankPlan plan_;
  dpdk::TscClock clock_;
  const uint32_t mtu_;
  const double link_gbps_;

  // Declared in the order they are built: destroyed workers first.
  std::unique_ptr<dpdk::Port> port_;
  std::unique_ptr<dpdk::SoftwareSteering> steering_;  // with several workers
  std::vector<std::unique_ptr<Worker>> workers_;
  // [data peer index * workers + worker]: each worker's QP to each peer.
  std::vector<Peer> peers_;
  std::unique_ptr<ControlMesh> mesh_;
  bool closes_in_turn_ = false;

  // The run, in this rank's time since the common start.
  Time start_ = Time::Zero();  // the clock's reading at the start
  int64_t start_unix_ns_ = 0;
  Duration elapsed_;
  bool timed_out_ = false;
  uint32_t idle_loops_ = 0;  // PollOnce's

  // Per step, each written only by the worker plan_.step_worker names.
  std::vector<uint8_t> runs_here_;  // per step: this rank runs it
  // Dependencies of a step still to resolve; any worker may resolve one.
  std::unique_ptr<std::atomic<uint32_t>[]> unfinished_deps_;
  DependentIndex dependents_;
  std::vector<uint32_t> chunks_left_;  // per step: send completions still to come
  std::vector<uint32_t> chunks_seen_;  // per step: chunks received
  std::vector<uint64_t> recv_errors_;  // per step: bytes that differed
  std::vector<uint64_t> recv_bytes_;   // per step: bytes received and checked
  std::vector<FlowResult> flows_;      // per step
  std::vector<uint8_t> done_;
};

absl::Status DpdkRank::WhilePolling(const std::function<absl::Status()>& fn) {
  std::atomic<bool> finished{false};
  absl::Status status;
  std::thread helper([&] {
    status = fn();
    finished.store(true, std::memory_order_release);
  });
  while (!finished.load(std::memory_order_acquire)) PollOnce();
  helper.join();
  return status;
}

void DpdkRank::PollOnce() {
  const uint64_t tsc = dpdk::ReadTsc();
  size_t n = 0;
  for (const auto& w : workers_) n += w->port->Poll(tsc);
  if (n > 0 || d_.idle_sleep_us <= 0) {
    idle_loops_ = 0;
    return;
  }
  if (++idle_loops_ >= kIdleLoops) {
    const timespec ts{0, static_cast<long>(d_.idle_sleep_us * 1000)};
    nanosleep(&ts, nullptr);
  }
}

std::vector<dpdk::PortWorker*> DpdkRank::PortWorkers() const {
  std::vector<dpdk::PortWorker*> out;
  for (const auto& w : workers_) out.push_back(w->port.get());
  return out;
}

absl::Status DpdkRank::SetUpWorkers() {
  const uint16_t n = static_cast<uint16_t>(plan_.workers);
  absl::StatusOr<std::unique_ptr<dpdk::SoftwareSteering>> steering = dpdk::SteerWorkers(*port_, n);
  if (!steering.ok()) return steering.status();
  steering_ = *std::move(steering);
  for (uint16_t i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->rank = this;
    w->index = i;
    ContextConfig config;
    config.local.mac = port_->info().mac;
    config.local.ip = hosts_[rank_].ip;
    config.local.udp_port = WorkerUdpPort(i);
    config.first_qp_num = WorkerFirstQpNum(i);
    config.contexts_sharing_link = n;
    // Worker 0 keeps the draws of a one-worker rank.
    config.seed = sim::DeriveSeed(options_.config.seed, 0x10000 + rank_);
    if (i > 0) config.seed = sim::DeriveSeed(config.seed, i);
    config.coalesce_control = options_.dpdk_options.coalesce_control;
    config.packets_per_turn = options_.config.packets_per_turn;
    config.traffic_class = options_.config.traffic_class;
    config.allocate_up_front = true;  // a poll-mode worker allocates nothing on the data path
    absl::StatusOr<std::unique_ptr<Context>> ctx = Context::Create(config);
    if (!ctx.ok()) return ctx.status();
    w->context = *std::move(ctx);
    w->port = std::make_unique<dpdk::PortWorker>(*port_, i, *w->context, clock_);
    if (steering_) w->port->JoinSteering(steering_.get(), i);
    workers_.push_back(std::move(w));
  }
  spdlog::info("rank {}: {} on {} ({}), {} Gb/s, {} payload bytes per packet, {} worker(s)", rank_,
               hosts_[rank_].ip.ToString(), port_->info().name, port_->info().driver, link_gbps_,
               mtu_, n);
  return absl::OkStatus();
}

absl::Status DpdkRank::SetUpPeers() {
  const uint32_t n = plan_.workers;
  for (auto& w : workers_) {
    w->pd = w->context->AllocPd();
    const size_t capacity = std::max<size_t>(16, (plan_.data_peers.size() + 1) * 2 * kSlots);
    absl::StatusOr<CompletionQueue*> send_cq = w->context->CreateCq(capacity);
    if (!send_cq.ok()) return send_cq.status();
    absl::StatusOr<CompletionQueue*> recv_cq = w->context->CreateCq(capacity);
    if (!recv_cq.ok()) return recv_cq.status();
    w->send_cq = *send_cq;
    w->recv_cq = *recv_cq;
  }
  for (uint32_t i : plan_.runs) ++workers_[plan_.step_worker[i]]->runs;
  for (uint32_t i : plan_.receives) ++workers_[plan_.step_worker[i]]->receives;
  QpInitAttr attr;
  attr.cap.max_send_wr = kSlots;
  attr.cap.max_recv_wr = kSlots;
  attr.cap.max_send_sge = 1;
  attr.cap.max_recv_sge = 1;
  attr.cap.max_inline_data = 0;
  attr.transport = ReplayTransportOptions(options_.config);
  attr.transport.line_rate = Bandwidth::Gbps(link_gbps_);
  const uint64_t region = kSlots * chunk_;
  peers_.resize(plan_.data_peers.size() * n);
  for (size_t k = 0; k < peers_.size(); ++k) {
    Peer& p = peers_[k];
    Worker& w = *workers_[k % n];
    p.rank = plan_.data_peers[k / n];
    p.worker = &w;
    p.recv_expected = plan_.chunks_from[k];
    attr.send_cq = w.send_cq;
    attr.recv_cq = w.recv_cq;
    absl::StatusOr<QueuePair*> qp = w.context->CreateQp(w.pd, attr);
    if (!qp.ok()) return qp.status();
    p.qp = *qp;
    QpInitStateAttr init;
    init.access = kAccessRemoteWrite;
    if (absl::Status s = p.qp->ToInit(init); !s.ok()) return s;
    p.source_buffer = perf::AllocateBuffer(region, {dpdk::AllocateDmaMemory, dpdk::FreeDmaMemory});
    p.sink_buffer = perf::AllocateBuffer(region);
    if (!p.source_buffer || !p.sink_buffer) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("cannot allocate 2 x %d bytes of slots for rank %d", region, p.rank));
    }
    // The sink slots this run will use, written once now: the first write to
    // a page faults (the OS maps and zeroes it), which in the receive path
    // cost the worker's loop about a third of a 16 MB all-reduce over memif.
    // (Writing the source slots as well, in DPDK's hugepages, made no
    // difference there.)
    std::memset(p.sink_buffer.get(), 0, std::min<uint64_t>(kSlots, p.recv_expected) * chunk_);
    absl::StatusOr<MemoryRegion*> source =
        w.pd->RegisterMemory(p.source_buffer.get(), region, kAccessLocalWrite);
    if (!source.ok()) return source.status();
    absl::StatusOr<MemoryRegion*> sink =
        w.pd->RegisterMemory(p.sink_buffer.get(), region, kAccessLocalWrite | kAccessRemoteWrite);
    if (!sink.ok()) return sink.status();
    p.source = *source;
    p.sink = *sink;
    // PSNs from the seed and the ordered pair, as the simulated run draws
    // them (worker 0; the others' from those).
    uint64_t psn_seed = sim::DeriveSeed(options_.config.seed, uint64_t{rank_} << 32 | p.rank);
    if (w.index > 0) psn_seed = sim::DeriveSeed(psn_seed, w.index);
    Random psn_rng(psn_seed);
    p.local = control::QpSetup{p.qp->qp_num(), static_cast<uint32_t>(psn_rng.Next()) & 0xFFFFFF,
                               p.sink->addr(), p.sink->length(), p.sink->rkey()};
    w.peers.push_back(&p);
    w.peer_of_qp.emplace(p.qp->qp_num(), &p);
  }
  for (auto& w : workers_) {
    w->inbox.reserve(w->runs);
    w->taken.reserve(w->runs);
  }
  return absl::OkStatus();
}

absl::Status DpdkRank::ConnectQps(const std::vector<control::HostSetup>& remote) {
  const std::vector<dpdk::PortWorker*> port_workers = PortWorkers();
  dpdk::PortWorker& first = *workers_[0]->port;  // keeps the port's neighbor table
  for (size_t c = 0; c < plan_.control_peers.size(); ++c) {
    const uint32_t peer_rank = plan_.control_peers[c];
    if (PeerIndex(peer_rank) == plan_.data_peers.size()) continue;
    // One QP per worker: the exchange refused a peer offering another count.
    const control::HostSetup& setup = remote[c];
    if (setup.endpoint.ip != hosts_[peer_rank].ip) {
      return absl::InvalidArgumentError(
          absl::StrFormat("rank %d says its address is %s, the hosts file says %s", peer_rank,
                          setup.endpoint.ip.ToString(), hosts_[peer_rank].ip.ToString()));
    }
    MacAddress mac;
    if (hosts_[peer_rank].mac) {
      mac = *hosts_[peer_rank].mac;
    } else {
      const std::optional<IpAddress>& gateway = hosts_[rank_].gateway;
      absl::StatusOr<MacAddress> resolved = dpdk::ResolveNeighbor(
          first, port_workers, gateway ? *gateway : setup.endpoint.ip, d_.setup_timeout_s);
      if (!resolved.ok()) return resolved.status();
      mac = *resolved;
    }
    for (uint16_t w = 0; w < plan_.workers; ++w) {
      Peer* p = PeerOf(peer_rank, w);
      if (setup.qps[w].length < kSlots * chunk_) {
        return absl::InvalidArgumentError(
            absl::StrFormat("rank %d offers %d bytes of slots; expected %d", peer_rank,
                            setup.qps[w].length, kSlots * chunk_));
      }
      p->remote = setup.qps[w];
      p->remote_endpoint = setup.endpoint;
      // The peer's worker w listens on its worker 0's UDP port + w (WorkerUdpPort).
      p->remote_endpoint.udp_port = static_cast<uint16_t>(setup.endpoint.udp_port + w);
      p->remote_endpoint.mac = mac;
      QpRtrAttr rtr;
      rtr.dest_qp_num = p->remote.qp_num;
      rtr.rq_psn = p->remote.psn;
      rtr.remote = p->remote_endpoint;
      rtr.path_mtu = mtu_;
      if (absl::Status s = p->qp->ToRtr(rtr); !s.ok()) return s;
      QpRtsAttr rts;
      rts.sq_psn = p->local.psn;
      if (absl::Status s = p->qp->ToRts(rts); !s.ok()) return s;
      // Receives for the first work requests the peer will send.
      while (p->recv_posted < std::min<uint64_t>(p->recv_expected, kSlots)) PostRecv(*p);
    }
  }
  return absl::OkStatus();
}

size_t DpdkRank::PeerIndex(uint32_t rank) const {
  const auto it = std::lower_bound(plan_.data_peers.begin(), plan_.data_peers.end(), rank);
  if (it == plan_.data_peers.end() || *it != rank) return plan_.data_peers.size();
  return static_cast<size_t>(it - plan_.data_peers.begin());
}

size_t DpdkRank::PeerSlot(uint32_t rank, uint16_t worker) const {
  const size_t i = PeerIndex(rank);
  return i < plan_.data_peers.size() ? i * plan_.workers + worker : peers_.size();
}

DpdkRank::Peer* DpdkRank::PeerOfQp(Worker& w, uint32_t qp_num) {
  const auto it = w.peer_of_qp.find(qp_num);
  return it == w.peer_of_qp.end() ? nullptr : it->second;
}

void DpdkRank::PostRecv(Peer& p) {
  // SEND: the chunk lands in the next slot. WRITE WITH IMM: the receive only
  // carries the immediate; the data went to the slot the sender chose.
  const uint64_t slot = p.recv_posted % kSlots;
  const Sge sge{p.sink->addr() + slot * chunk_, static_cast<uint32_t>(chunk_), p.sink->lkey()};
  RecvWr wr;
  wr.wr_id = p.recv_posted;
  if (options_.config.verb == TransferVerb::kSend) wr.sg_list = {&sge, 1};
  if (absl::Status s = p.qp->PostRecv(wr); !s.ok()) {
    spdlog::error("rank {}: post_recv to rank {} failed: {}", rank_, p.rank, s.ToString());
  }
  ++p.recv_posted;
}

absl::Status DpdkRank::ProbeRtts() {
  // A few RDMA WRITEs of one full packet (no immediate, so no receive is
  // consumed) on each QP in turn; the smallest completion time is the QP's
  // base RTT: a data packet and its ACK through the wire, the PMD and both
  // ends' loops, on this machine as it is (the simulator's base RTT also
  // counts a full data frame).
  const uint64_t hz = dpdk::TscHz();
  for (Peer& p : peers_) {
    Worker& w = *p.worker;
    for (int k = 0; k < kRttProbes; ++k) {
      const uint64_t before = w.probes_done;
      const uint64_t t0 = dpdk::ReadTsc();
      if (absl::Status s = PostProbeWrite(p, 0, k); !s.ok()) return s;
      const uint64_t deadline = t0 + static_cast<uint64_t>(d_.setup_timeout_s * hz);
      while (w.probes_done == before) {
        PollOnce();
        PollCompletions(w, Time::Zero());
        if (dpdk::ReadTsc() > deadline) {
          return absl::DeadlineExceededError(
              absl::StrFormat("RTT probe to rank %d unanswered after %g s: %s", p.rank,
                              d_.setup_timeout_s, p.qp->DebugState()));
        }
      }
      const uint64_t t1 = dpdk::ReadTsc();
      p.base_rtt = std::min(p.base_rtt, clock_.ToTime(t1) - clock_.ToTime(t0));
    }
    spdlog::info(
        "rank {}: base RTT to rank {} (worker {}) {:.1f} us, the least of {} {}-byte WRITEs", rank_,
        p.rank, w.index, p.base_rtt.microseconds(), kRttProbes, ProbeBytes());
  }
  return absl::OkStatus();
}

absl::Status DpdkRank::PostProbeWrite(Peer& p, uint64_t offset, uint64_t index) {
  const Sge sge{p.source->addr() + offset, ProbeBytes(), p.source->lkey()};
  SendWr wr;
  wr.wr_id = kProbeWrId | index;
  wr.opcode = WrOpcode::kRdmaWrite;
  wr.send_flags = kSendSignaled;
  wr.sg_list = {&sge, 1};
  wr.remote_addr = p.remote.addr + offset;
  wr.rkey = p.remote.rkey;
  return p.qp->PostSend(wr);
}

absl::Status DpdkRank::WarmUp() {
  // A port's first lap through its rings is slow: memif's shared buffers, for
  // one, are mapped page by page as each process first touches them, and on
  // memif that lap cost a 1 MB all-reduce RTO expiries and about twice its
  // time (docs/replay-dpdk.md, "A warm start"). So before the start each
  // worker sends twice its port's ring in full-packet WRITEs, shared among
  // its peers, kQueueDepth in flight per peer, into the sink slots the
  // workload then overwrites.
  const uint64_t hz = dpdk::TscHz();
  const uint64_t deadline = dpdk::ReadTsc() + static_cast<uint64_t>(d_.setup_timeout_s * hz);
  const uint64_t frames = 2 * uint64_t{port_->info().ring_frames};
  const uint64_t packet_bytes = ProbeBytes();
  const uint64_t packets_per_sink = kSlots * chunk_ / packet_bytes;
  const uint64_t t0 = dpdk::ReadTsc();
  uint64_t writes = 0;
  for (const auto& w : workers_) {
    if (w->peers.empty()) continue;
    const uint64_t per_peer = (frames + w->peers.size() - 1) / w->peers.size();
    writes += per_peer * w->peers.size();
    for (Peer* p : w->peers) {
      const uint64_t done_before = w->probes_done;
      uint64_t posted = 0;
      while (w->probes_done - done_before < per_peer) {
        while (posted < per_peer && posted - (w->probes_done - done_before) < kQueueDepth) {
          const uint64_t offset = posted % packets_per_sink * packet_bytes;
          if (absl::Status s = PostProbeWrite(*p, offset, posted); !s.ok()) return s;
          ++posted;
        }
        PollOnce();
        PollCompletions(*w, Time::Zero());
        if (dpdk::ReadTsc() > deadline) {
          return absl::DeadlineExceededError(absl::StrFormat(
              "warm-up WRITEs to rank %d unanswered after %g s (%d of %d done): %s", p->rank,
              d_.setup_timeout_s, w->probes_done - done_before, per_peer, p->qp->DebugState()));
        }
      }
    }
  }
  spdlog::info("rank {}: warm-up, {} {}-byte WRITEs to {} QP(s) in {:.2f} ms", rank_, writes,
               packet_bytes, peers_.size(), (dpdk::ReadTsc() - t0) * 1e3 / hz);
  return absl::OkStatus();
}

// --- the workload ------------------------------------------------------------

void DpdkRank::Ready(Worker& w, uint32_t step, Time now) {
  w.due.emplace(std::max(now, workload_.steps[step].not_before), step);
}

void DpdkRank::Start(Worker& w, uint32_t step, Time now) {
  const Step& s = workload_.steps[step];
  flows_[step].start = now;
  if (s.kind == StepKind::kDelay) {
    w.delays.emplace(now + s.duration, step);
    return;
  }
  Peer* p = PeerOf(s.dst, w.index);
  const uint64_t chunks = ChunksOf(s.bytes, chunk_);
  chunks_left_[step] = static_cast<uint32_t>(chunks);
  for (uint64_t c = 0; c < chunks; ++c) Post(*p, step, c);
}

void DpdkRank::Post(Peer& p, uint32_t step, uint64_t chunk) {
  if (p.in_flight >= kQueueDepth) {
    p.waiting.emplace_back(step, chunk);
    return;
  }
  PostNow(p, step, chunk);
}

void DpdkRank::PostNow(Peer& p, uint32_t step, uint64_t chunk) {
  const Step& s = workload_.steps[step];
  const uint64_t offset = chunk * chunk_;
  const uint64_t len = std::min(chunk_, s.bytes - offset);
  const uint64_t slot = p.send_seq % kSlots;
  uint8_t* source = p.source_buffer.get() + slot * chunk_;
  // The pattern of (step, offset): what the receiver checks.
  FillPattern(source, len, PatternBase(options_.config.seed, step, offset));
  const Sge sge{p.source->addr() + slot * chunk_, static_cast<uint32_t>(len), p.source->lkey()};
  SendWr wr;
  wr.wr_id = step;
  wr.send_flags = kSendSignaled;
  wr.sg_list = {&sge, 1};
  wr.imm_data = step;
  if (options_.config.verb == TransferVerb::kSend) {
    wr.opcode = WrOpcode::kSendWithImm;
  } else {
    wr.opcode = WrOpcode::kRdmaWriteWithImm;
    wr.remote_addr = p.remote.addr + slot * chunk_;
    wr.rkey = p.remote.rkey;
  }
  ++p.send_seq;
  if (absl::Status st = p.qp->PostSend(wr); !st.ok()) {
    // A QP in error refuses work: the transfer fails now rather than hang.
    flows_[step].failed = true;
    if (--chunks_left_[step] == 0) Finish(*p.worker, step, Now());
    return;
  }
  ++p.in_flight;
}

void DpdkRank::Finish(Worker& w, uint32_t step, Time now) {
  done_[step] = 1;
  ++w.steps_done;
  FlowResult& f = flows_[step];
  f.finish = now;
  f.completed = !f.failed;
  Resolved(w, step, now);
}

void DpdkRank::Received(Worker& w, uint32_t step, Time now) {
  ++w.receives_done;
  Resolved(w, step, now);
}

void DpdkRank::Resolved(Worker& w, uint32_t step, Time now) {
  for (const uint32_t dependent : dependents_.Of(step)) {
    if (!runs_here_[dependent] ||
        unfinished_deps_[dependent].fetch_sub(1, std::memory_order_acq_rel) != 1) {
      continue;
    }
    Worker& owner = *workers_[plan_.step_worker[dependent]];
    if (&owner == &w) {
      Ready(w, dependent, now);
      continue;
    }
    std::lock_guard<std::mutex> lock(owner.inbox_mutex);
    owner.inbox.emplace_back(now, dependent);
    owner.inbox_size.store(owner.inbox.size(), std::memory_order_release);
  }
}

size_t DpdkRank::PollCompletions(Worker& w, Time now) {
  std::span<WorkCompletion> wcs = w.completions;
  size_t got, total = 0;
  while ((got = w.send_cq->Poll(wcs)) > 0) {
    total += got;
    for (size_t i = 0; i < got; ++i) {
      const WorkCompletion& wc = wcs[i];
      Peer* p = PeerOfQp(w, wc.qp_num);
      if (wc.wr_id & kProbeWrId) {
        ++w.probes_done;
        if (wc.status != WcStatus::kSuccess) {
          spdlog::error("rank {}: RTT probe failed: {}", rank_, WcStatusName(wc.status));
        }
        continue;
      }
      const uint32_t step = static_cast<uint32_t>(wc.wr_id);
      if (wc.status != WcStatus::kSuccess && !flows_[step].failed) {
        flows_[step].failed = true;
        spdlog::error("rank {}: step {} to rank {} completed with {}; QP {} {}", rank_, step,
                      workload_.steps[step].dst, WcStatusName(wc.status),
                      p ? QpStateName(p->qp->state()) : "?", p ? p->qp->error_reason() : "");
      }
      if (p != nullptr) {
        --p->in_flight;
        if (!p->waiting.empty()) {
          const auto [next, chunk] = p->waiting.front();
          p->waiting.pop_front();
          PostNow(*p, next, chunk);
        }
      }
      if (--chunks_left_[step] == 0) Finish(w, step, now);
    }
  }
  while ((got = w.recv_cq->Poll(wcs)) > 0) {
    total += got;
    for (size_t i = 0; i < got; ++i) {
      const WorkCompletion& wc = wcs[i];
      Peer* p = PeerOfQp(w, wc.qp_num);
      if (p == nullptr) continue;
      const uint64_t slot = p->recv_done % kSlots;
      ++p->recv_done;
      if (p->recv_posted < p->recv_expected) PostRecv(*p);
      const uint32_t step = wc.imm_data;
      if (wc.status != WcStatus::kSuccess || !wc.has_imm || step >= workload_.steps.size() ||
          workload_.steps[step].kind != StepKind::kTransfer || workload_.steps[step].dst != rank_ ||
          workload_.steps[step].src != p->rank || plan_.step_worker[step] != w.index) {
        spdlog::error(
            "rank {}: unexpected receive from rank {} on worker {}: status {}, imm {} ({})", rank_,
            p->rank, w.index, WcStatusName(wc.status), wc.imm_data, wc.has_imm ? "set" : "none");
        continue;
      }
      const Step& s = workload_.steps[step];
      const uint64_t offset = uint64_t{chunks_seen_[step]} * chunk_;
      const uint64_t len = offset < s.bytes ? std::min(chunk_, s.bytes - offset) : 0;
      ++chunks_seen_[step];
      const uint8_t* data = p->sink_buffer.get() + slot * chunk_;
      uint64_t errors =
          CountPatternErrors(data, len, PatternBase(options_.config.seed, step, offset));
      if (options_.config.verb == TransferVerb::kSend && wc.byte_len != len) {
        errors += wc.byte_len > len ? wc.byte_len - len : len - wc.byte_len;
      }
      recv_errors_[step] += errors;
      recv_bytes_[step] += len;
      if (chunks_seen_[step] == ChunksOf(s.bytes, chunk_)) Received(w, step, now);
    }
  }
  return total;
}

void DpdkRank::SampleCc(Worker& w, Time tick) {
  const size_t sampled =
      std::min<size_t>(plan_.data_peers.size(), options_.config.timeline_connections);
  if (w.cc_timeline.size() + sampled > kMaxCcSamples / workers_.size()) {
    if (!w.cc_timeline_full) {
      spdlog::warn(
          "rank {} worker {}: {} cc samples kept; no more are taken (raise --timeline-interval)",
          rank_, w.index, w.cc_timeline.size());
      w.cc_timeline_full = true;
    }
    return;
  }
  for (size_t i = 0; i < sampled; ++i) {
    Peer& p = *w.peers[i];
    if (std::optional<CcSample> sample =
            CcSample::Of(*p.qp, tick, rank_, p.rank, &p.sampled_bytes)) {
      sample->qp = w.index;
      w.cc_timeline.push_back(*sample);
    }
  }
}

void DpdkRank::Turn(Worker& w, uint64_t tsc) {
  const Time now = clock_.ToTime(tsc) - (start_ - Time::Zero());
  size_t work = w.port->Poll(tsc);
  work += PollCompletions(w, now);
  if (now >= w.next_tick) {
    // Stamped with the tick, so every rank's samples of a tick line up; a
    // tick the loop overslept is skipped and its bytes go to the next one.
    const Duration interval = options_.config.timeline_interval;
    SampleCc(w, w.next_tick);
    w.next_tick =
        w.next_tick + interval * ((now - w.next_tick).picoseconds() / interval.picoseconds() + 1);
  }
  if (w.inbox_size.load(std::memory_order_acquire) > 0) {
    {
      std::lock_guard<std::mutex> lock(w.inbox_mutex);
      w.taken.swap(w.inbox);
      w.inbox_size.store(0, std::memory_order_relaxed);
    }
    for (const auto& [at, step] : w.taken) Ready(w, step, at);
    w.taken.clear();
  }
  while (!w.due.empty() && w.due.top().first <= now) {
    const uint32_t step = w.due.top().second;
    w.due.pop();
    Start(w, step, now);
    ++work;
  }
  while (!w.delays.empty() && w.delays.top().first <= now) {
    const uint32_t step = w.delays.top().second;
    w.delays.pop();
    Finish(w, step, now);
    ++work;
  }
  if (!w.done.load(std::memory_order_relaxed) && w.Done()) {
    w.done.store(true, std::memory_order_release);
  }
  if (work > 0 || d_.idle_sleep_us <= 0) {
    w.idle_loops = 0;
  } else if (++w.idle_loops >= kIdleLoops) {
    const timespec ts{0, static_cast<long>(d_.idle_sleep_us * 1000)};
    nanosleep(&ts, nullptr);
  }
}

absl::Status DpdkRank::RunWorkload() {
  const size_t n = workload_.steps.size();
  runs_here_.assign(n, 0);
  for (uint32_t i : plan_.runs) runs_here_[i] = 1;
  dependents_ = DependentIndex(workload_);
  unfinished_deps_ = std::make_unique<std::atomic<uint32_t>[]>(n);
  for (uint32_t i = 0; i < n; ++i) {
    unfinished_deps_[i].store(static_cast<uint32_t>(workload_.steps[i].deps.size()),
                              std::memory_order_relaxed);
  }
  for (uint32_t i : plan_.runs) {
    if (workload_.steps[i].deps.empty()) Ready(*workers_[plan_.step_worker[i]], i, Time::Zero());
  }
  const Duration interval = options_.config.timeline_interval;
  std::vector<Worker*> workers;
  for (auto& w : workers_) {
    w->next_tick = interval > Duration::Zero() ? Time::Zero() + interval : Time::Infinite();
    workers.push_back(w.get());
  }

  const uint64_t hz = dpdk::TscHz();
  const uint64_t start_tsc = clock_.ToTsc(start_);
  const uint64_t deadline = start_tsc + static_cast<uint64_t>(d_.time_limit_s * hz);
  dpdk::LcoreLoops<Worker> loops(workers);
  if (absl::Status s = loops.Launch(); !s.ok()) return s;
  const auto workers_done = [&] {
    return std::all_of(workers.begin(), workers.end(),
                       [](const Worker* w) { return w->done.load(std::memory_order_acquire); });
  };
  while (!workers_done()) {
    const uint64_t tsc = dpdk::ReadTsc();
    loops.StepMain(tsc);
    if (tsc > deadline) {
      timed_out_ = true;
      break;
    }
  }
  loops.Stop();
  elapsed_ = Now() - Time::Zero();
  if (timed_out_) {
    spdlog::warn(
        "rank {}: --time-limit of {} s reached with {}/{} of its steps finished and {}/{} "
        "transfers received",
        rank_, d_.time_limit_s, StepsDone(), plan_.runs.size(), ReceivesDone(),
        plan_.receives.size());
  }
  return absl::OkStatus();
}

absl::Status DpdkRank::Run() {
  if (absl::Status s = SetUpWorkers(); !s.ok()) return s;
  if (d_.address_check) {
    if (absl::Status s = dpdk::CheckAddressUnique(*workers_[0]->port, PortWorkers(),
                                                  dpdk::kDuplicateAddressWaitSeconds);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = SetUpPeers(); !s.ok()) return s;
  const size_t n = workload_.steps.size();
  chunks_left_.assign(n, 0);
  chunks_seen_.assign(n, 0);
  recv_errors_.assign(n, 0);
  recv_bytes_.assign(n, 0);
  flows_.resize(n);
  done_.assign(n, 0);
  for (uint32_t i = 0; i < n; ++i) {
    flows_[i] = FlowResult::Of(i, workload_.steps[i]);
    flows_[i].finish = Time::Infinite();
  }

  control::ChannelOptions channel_options;
  channel_options.timeout = std::chrono::milliseconds(
      static_cast<int64_t>((d_.setup_timeout_s + d_.time_limit_s) * 1000));
  mesh_ = std::make_unique<ControlMesh>(rank_, hosts_, plan_, channel_options);
  if (absl::Status s = mesh_->Listen(); !s.ok()) return s;
  // Out of band: one setup per control peer, with a QP per worker where data
  // flows. Its endpoint is worker 0's.
  std::vector<control::HostSetup> local(plan_.control_peers.size());
  for (size_t c = 0; c < local.size(); ++c) {
    control::HostSetup& h = local[c];
    h.endpoint = workers_[0]->context->local();
    h.mtu = mtu_;
    h.paths = options_.config.paths;
    h.congestion_control = options_.config.cc;
    h.workload = SetupFingerprint();
    for (uint16_t w = 0; w < plan_.workers; ++w) {
      if (Peer* p = PeerOf(plan_.control_peers[c], w)) h.qps.push_back(p->local);
    }
  }
  std::vector<control::HostSetup> remote;
  // Ranks start at different times: say what this one waits for, and how long.
  spdlog::info("rank {}: set-up over TCP, ranks to reach: {} (up to {} s)", rank_,
               plan_.control_peers.size(), d_.setup_timeout_s);
  if (absl::Status s = WhilePolling([&] { return mesh_->Connect(local, &remote); }); !s.ok()) {
    return s;
  }
  if (absl::Status s = ConnectQps(remote); !s.ok()) return s;
  std::string unused;
  if (absl::Status s = WhilePolling([&] { return mesh_->AllBarrier("connected", &unused); });
      !s.ok()) {
    return s;
  }
  if (d_.base_rtt == Duration::Zero()) {
    if (absl::Status s = ProbeRtts(); !s.ok()) return s;
  } else {
    for (Peer& p : peers_) p.base_rtt = d_.base_rtt;
  }
  if (absl::Status s = WarmUp(); !s.ok()) return s;
  // Measured or given, it sizes each QP's congestion control (rather than
  // TransportOptions' default) as well as the ideal FCT; the warm-up's
  // traffic leaves no trace in its state.
  for (Peer& p : peers_) {
    if (absl::Status s = p.qp->SetBaseRtt(p.base_rtt); !s.ok()) return s;
  }
  // The common start: rank 0's wall clock plus --start-delay, handed out
  // through the last set-up barrier; every rank waits for it on its own
  // CLOCK_REALTIME (NTP/PTP-synchronised across hosts, one clock in a netns lab).
  std::string start_text =
      absl::StrCat(RealtimeNs() + static_cast<int64_t>(d_.start_delay_ms * 1e6));
  if (absl::Status s = WhilePolling([&] { return mesh_->AllBarrier("start", &start_text); });
      !s.ok()) {
    return s;
  }
  if (!ParseStartTime(start_text, &start_unix_ns_)) {
    return absl::DataLossError(absl::StrFormat("rank 0 sent start time '%s'", start_text));
  }
  const int64_t late = RealtimeNs() - start_unix_ns_;
  if (late > 0) {
    spdlog::warn(
        "rank {}: start time passed {} us ago before the barrier released this rank "
        "(raise --start-delay)",
        rank_, late / 1000);
  }
  if (d_.faults.has_value()) {
    // On the workload only: set-up and the RTT probes ran on a clean wire.
    dpdk::FaultConfig faults = perf::DpdkFaults(*d_.faults);
    faults.seed = sim::DeriveSeed(faults.seed, 0x20000 + rank_);  // each rank its own draws
    spdlog::info("rank {}: transmit faults {}", rank_, dpdk::DescribeFaults(faults));
    for (auto& w : workers_) {
      dpdk::FaultConfig own = faults;
      if (w->index > 0) own.seed = sim::DeriveSeed(faults.seed, w->index);
      w->port->SetFaults(own);
    }
  }
  while (RealtimeNs() < start_unix_ns_) PollOnce();
  start_ = clock_.ToTime(dpdk::ReadTsc());
  // The results count from here: set-up, probes and warm-up are left out.
  for (Peer& p : peers_) p.at_start = p.qp->counters();
  for (auto& w : workers_) {
    w->tx_frames_at_start = w->port->counters().tx_frames;
    w->rx_frames_at_start = w->port->counters().rx_frames;
  }
  if (absl::Status s = RunWorkload(); !s.ok()) return s;
  // Serve the peers until every rank is done (their last ACKs come from us).
  std::string done_text = "done";
  if (absl::Status s = WhilePolling([&] { return mesh_->AllBarrier("done", &done_text); });
      !s.ok()) {
    spdlog::error("rank {}: final barrier: {}", rank_, s.ToString());
  } else {
    closes_in_turn_ = port_->NeedsOrderedClose();
  }
  if (d_.faults.has_value()) {
    dpdk::FaultCounters f;
    for (const auto& w : workers_) f += w->port->faults().counters();
    spdlog::info(
        "rank {}: transmit faults: {} frames judged, {} dropped, {} duplicated, {} "
        "corrupted, {} delayed",
        rank_, f.judged, f.dropped + f.blackholed, f.duplicated, f.corrupted, f.delayed);
  }
  return absl::OkStatus();
}

RankResult DpdkRank::Collect() const {
  RankResult r;
  r.rank = rank_;
  r.ranks = static_cast<uint32_t>(hosts_.size());
  r.seed = options_.config.seed;
  r.workload = options_.workload;
  r.fingerprint = WorkloadFingerprint(workload_);
  r.verb = options_.config.verb == TransferVerb::kSend ? "send" : "write";
  r.cc = options_.config.cc;
  r.paths = options_.config.paths;
  r.path_policy = PathPolicyName(options_.config.path_policy);
  r.mtu = mtu_;
  r.link_gbps = link_gbps_;
  r.port = port_ ? port_->info().driver : "";
  r.start_unix_ns = start_unix_ns_;
  r.elapsed = elapsed_;
  r.timed_out = timed_out_;
  r.steps_run = plan_.runs.size();
  r.steps_done = StepsDone();
  for (const auto& w : workers_) {
    r.frames_sent += w->port->counters().tx_frames - w->tx_frames_at_start;
    r.frames_received += w->port->counters().rx_frames - w->rx_frames_at_start;
    r.faults += w->port->faults().counters();
    r.cc_timeline.insert(r.cc_timeline.end(), w->cc_timeline.begin(), w->cc_timeline.end());
  }
  // The rank file keeps them in time order.
  std::stable_sort(r.cc_timeline.begin(), r.cc_timeline.end(),
                   [](const CcSample& a, const CcSample& b) { return a.at < b.at; });
  r.collectives = workload_.collectives;
  // Ideal: the bytes on the wire (payload plus every packet's headers) at the
  // link rate, plus the base RTT of the QP it went on (measured or --base-rtt).
  const size_t data_overhead =
      OuterHeaderBytes(false) + sizeof(TernHeader) + sizeof(DataHeader) +
      (options_.config.verb == TransferVerb::kWrite ? sizeof(RdmaExtension) : 0);
  const Bandwidth rate = Bandwidth::Gbps(link_gbps_);
  for (uint32_t i : plan_.runs) {
    const Step& s = workload_.steps[i];
    if (s.kind != StepKind::kTransfer) continue;
    FlowResult f = flows_[i];
    const uint64_t packets = (s.bytes + mtu_ - 1) / mtu_;
    const size_t k = PeerSlot(s.dst, plan_.step_worker[i]);
    const Peer* p = k < peers_.size() ? &peers_[k] : nullptr;
    const Duration rtt = p && !p->base_rtt.IsInfinite() ? p->base_rtt : Duration::Zero();
    f.ideal = rate.TransferTime(s.bytes + packets * data_overhead) + rtt;
    if (!done_[i]) {
      f.completed = false;
      f.finish = Time::Infinite();
    }
    r.flows.push_back(std::move(f));
  }
  for (uint32_t i : plan_.receives) {
    r.receives.push_back(RankReceive{i, workload_.steps[i].src, workload_.steps[i].bytes,
                                     recv_bytes_[i], recv_errors_[i]});
  }
  for (const Peer& p : peers_) {
    QpCounters since_start = p.qp->counters();
    since_start -= p.at_start;
    r.qps.push_back(RankQp{p.rank, since_start});
  }
  r.timeline_interval = options_.config.timeline_interval;
  return r;
}

}  // namespace

absl::Status RunDpdkRank(const ReplayOptions& options, bool* all_done) {
  *all_done = false;
  const DpdkReplayOptions& d = options.dpdk_options;
  absl::StatusOr<std::string> hosts_text = ReadWholeFile(d.hosts_path);
  if (!hosts_text.ok()) return hosts_text.status();
  absl::StatusOr<std::vector<RankHost>> hosts =
      ParseHostsFile(*hosts_text, d.hosts_path, d.control_port);
  if (!hosts.ok()) return hosts.status();
  absl::StatusOr<uint32_t> rank = ResolveRank(d.rank, std::getenv("OMPI_COMM_WORLD_RANK"),
                                              static_cast<uint32_t>(hosts->size()));
  if (!rank.ok()) return rank.status();
  // "{rank}" in --out: one path for every rank on a shared filesystem.
  std::string out_path = d.out_path;
  if (const size_t at = out_path.find("{rank}"); at != std::string::npos) {
    out_path.replace(at, 6, absl::StrCat(*rank));
  }
  if (absl::Status s = CheckWritable(out_path); !s.ok()) return s;
  WorkloadEnvironment env;
  env.hosts = static_cast<uint32_t>(hosts->size());
  absl::StatusOr<OpenedPort> port = OpenPort(options);
  if (!port.ok()) {
    return absl::Status(port.status().code(),
                        absl::StrFormat("rank %d: %s", *rank, port.status().message()));
  }
  env.host_rate = Bandwidth::Gbps(port->link_gbps);
  env.seed = options.config.seed;
  env.chakra = options.chakra;
  absl::StatusOr<Workload> workload = MakeWorkload(options.workload, env);
  if (!workload.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--workload: ", workload.status().message()));
  }
  if (absl::Status s = ValidateWorkload(*workload); !s.ok()) return s;
  if (absl::Status s = CheckDependenciesObservable(*workload); !s.ok()) return s;

  DpdkRank runner(options, *rank, *std::move(hosts), *std::move(workload), *std::move(port));
  const absl::Status status = runner.Run();
  if (!status.ok())
    return absl::Status(status.code(), absl::StrFormat("rank %d: %s", *rank, status.message()));
  if (absl::Status s = WriteWholeFile(out_path, FormatRankFile(runner.Collect())); !s.ok()) {
    return s;
  }
  *all_done = runner.all_done();
  return absl::OkStatus();
}

}  // namespace tern::replay
