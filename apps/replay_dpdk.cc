#include "apps/replay_dpdk.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

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
#include "dataplane/dpdk/port.h"
#include "dataplane/dpdk/port_worker.h"
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
        plan_(PlanRank(workload_, rank, static_cast<uint32_t>(hosts_.size()), chunk_)),
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
      worker_.reset();
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
  struct Peer {
    uint32_t rank = 0;
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
  };

  absl::Status SetUpContext();
  absl::Status SetUpPeers();
  // Runs `fn` on a helper thread while this thread keeps the port served.
  absl::Status WhilePolling(const std::function<absl::Status()>& fn);
  void PollOnce();
  absl::Status ConnectQps(const std::vector<control::HostSetup>& remote);
  absl::Status ProbeRtts();
  void RunWorkload();

  Peer* PeerOf(uint32_t rank);
  Peer* PeerOfQp(uint32_t qp_num);
  void PostRecv(Peer& p);
  void Ready(uint32_t step, Time now);
  void Start(uint32_t step, Time now);
  void Post(Peer& p, uint32_t step, uint64_t chunk);
  void PostNow(Peer& p, uint32_t step, uint64_t chunk);
  void Finish(uint32_t step, Time now);
  void Received(uint32_t step, Time now);
  void Resolved(uint32_t step, Time now);  // finished or received here
  size_t PollCompletions(Time now);
  // --timeline-interval: one cc sample per sampled peer, stamped `tick`.
  void SampleCc(Time tick);
  bool LocalDone() const {
    return steps_done_ == plan_.runs.size() && receives_done_ == plan_.receives.size();
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

  std::unique_ptr<dpdk::Port> port_;
  std::unique_ptr<Context> context_;
  std::unique_ptr<dpdk::PortWorker> worker_;
  ProtectionDomain* pd_ = nullptr;
  CompletionQueue* send_cq_ = nullptr;
  CompletionQueue* recv_cq_ = nullptr;
  std::vector<Peer> peers_;  // plan_.data_peers order
  std::unique_ptr<ControlMesh> mesh_;
  bool closes_in_turn_ = false;

  // The run, in this rank's time since the common start.
  Time start_ = Time::Zero();  // the clock's reading at the start
  int64_t start_unix_ns_ = 0;
  Duration elapsed_;
  bool timed_out_ = false;
  uint32_t idle_loops_ = 0;
  uint64_t probes_done_ = 0;

  std::vector<uint8_t> runs_here_;  // per step: this rank runs it
  std::vector<uint32_t> unfinished_deps_;
  DependentIndex dependents_;
  std::vector<uint32_t> chunks_left_;  // per step: send completions still to come
  // PollCompletions' batch, kept here: a local array of WorkCompletion (which
  // has member initializers) is zeroed on every call of the poll loop.
  std::array<WorkCompletion, 32> completions_;
  std::vector<uint32_t> chunks_seen_;  // per step: chunks received
  std::vector<uint64_t> recv_errors_;  // per step: bytes that differed
  std::vector<uint64_t> recv_bytes_;   // per step: bytes received and checked
  std::vector<FlowResult> flows_;      // per step
  std::vector<CcSample> cc_timeline_;
  bool cc_timeline_full_ = false;  // kMaxCcSamples reached
  std::vector<uint8_t> done_;
  uint64_t steps_done_ = 0;
  uint64_t receives_done_ = 0;
  // Steps ready but not yet due (start time in the future), earliest first.
  std::priority_queue<std::pair<Time, uint32_t>, std::vector<std::pair<Time, uint32_t>>,
                      std::greater<>>
      due_;
  // Delays running: (finish time, step).
  std::priority_queue<std::pair<Time, uint32_t>, std::vector<std::pair<Time, uint32_t>>,
                      std::greater<>>
      delays_;
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
  const size_t n = worker_->Poll(dpdk::ReadTsc());
  if (n > 0 || d_.idle_sleep_us <= 0) {
    idle_loops_ = 0;
    return;
  }
  if (++idle_loops_ >= kIdleLoops) {
    const timespec ts{0, static_cast<long>(d_.idle_sleep_us * 1000)};
    nanosleep(&ts, nullptr);
  }
}

absl::Status DpdkRank::SetUpContext() {
  ContextConfig config;
  config.local.mac = port_->info().mac;
  config.local.ip = hosts_[rank_].ip;
  config.seed = sim::DeriveSeed(options_.config.seed, 0x10000 + rank_);
  config.coalesce_control = options_.dpdk_options.coalesce_control;
  config.packets_per_turn = options_.config.packets_per_turn;
  config.traffic_class = options_.config.traffic_class;
  config.allocate_up_front = true;  // a poll-mode worker allocates nothing on the data path
  absl::StatusOr<std::unique_ptr<Context>> ctx = Context::Create(config);
  if (!ctx.ok()) return ctx.status();
  context_ = *std::move(ctx);
  worker_ = std::make_unique<dpdk::PortWorker>(*port_, 0, *context_, clock_);
  spdlog::info("rank {}: {} on {} ({}), {} Gb/s, {} payload bytes per packet", rank_,
               hosts_[rank_].ip.ToString(), port_->info().name, port_->info().driver, link_gbps_,
               mtu_);
  return absl::OkStatus();
}

absl::Status DpdkRank::SetUpPeers() {
  pd_ = context_->AllocPd();
  const size_t capacity = std::max<size_t>(16, (plan_.data_peers.size() + 1) * 2 * kSlots);
  absl::StatusOr<CompletionQueue*> send_cq = context_->CreateCq(capacity);
  if (!send_cq.ok()) return send_cq.status();
  absl::StatusOr<CompletionQueue*> recv_cq = context_->CreateCq(capacity);
  if (!recv_cq.ok()) return recv_cq.status();
  send_cq_ = *send_cq;
  recv_cq_ = *recv_cq;
  QpInitAttr attr;
  attr.send_cq = send_cq_;
  attr.recv_cq = recv_cq_;
  attr.cap.max_send_wr = kSlots;
  attr.cap.max_recv_wr = kSlots;
  attr.cap.max_send_sge = 1;
  attr.cap.max_recv_sge = 1;
  attr.cap.max_inline_data = 0;
  attr.transport = ReplayTransportOptions(options_.config);
  attr.transport.line_rate = Bandwidth::Gbps(link_gbps_);
  if (d_.base_rtt_us > 0) {
    attr.transport.base_rtt = Duration::FractionalMicroseconds(d_.base_rtt_us);
  }
  const uint64_t region = kSlots * chunk_;
  peers_.resize(plan_.data_peers.size());
  for (size_t i = 0; i < peers_.size(); ++i) {
    Peer& p = peers_[i];
    p.rank = plan_.data_peers[i];
    p.recv_expected = plan_.chunks_from[i];
    absl::StatusOr<QueuePair*> qp = context_->CreateQp(pd_, attr);
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
    absl::StatusOr<MemoryRegion*> source =
        pd_->RegisterMemory(p.source_buffer.get(), region, kAccessLocalWrite);
    if (!source.ok()) return source.status();
    absl::StatusOr<MemoryRegion*> sink =
        pd_->RegisterMemory(p.sink_buffer.get(), region, kAccessLocalWrite | kAccessRemoteWrite);
    if (!sink.ok()) return sink.status();
    p.source = *source;
    p.sink = *sink;
    // PSNs from the seed and the ordered pair, as the simulated run draws them.
    Random psn_rng(sim::DeriveSeed(options_.config.seed, uint64_t{rank_} << 32 | p.rank));
    p.local = control::QpSetup{p.qp->qp_num(), static_cast<uint32_t>(psn_rng.Next()) & 0xFFFFFF,
                               p.sink->addr(), p.sink->length(), p.sink->rkey()};
  }
  return absl::OkStatus();
}

absl::Status DpdkRank::ConnectQps(const std::vector<control::HostSetup>& remote) {
  for (size_t c = 0; c < plan_.control_peers.size(); ++c) {
    Peer* p = PeerOf(plan_.control_peers[c]);
    if (p == nullptr) continue;
    const control::HostSetup& setup = remote[c];
    if (setup.qps.size() != 1 || setup.qps[0].length < kSlots * chunk_) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "rank %d offers %d QPs / %d bytes of slots; expected 1 / %d", p->rank, setup.qps.size(),
          setup.qps.empty() ? 0 : setup.qps[0].length, kSlots * chunk_));
    }
    p->remote = setup.qps[0];
    p->remote_endpoint = setup.endpoint;
    if (setup.endpoint.ip != hosts_[p->rank].ip) {
      return absl::InvalidArgumentError(
          absl::StrFormat("rank %d says its address is %s, the hosts file says %s", p->rank,
                          setup.endpoint.ip.ToString(), hosts_[p->rank].ip.ToString()));
    }
    if (hosts_[p->rank].mac) {
      p->remote_endpoint.mac = *hosts_[p->rank].mac;
    } else {
      dpdk::PortWorker* workers[1] = {worker_.get()};
      const std::optional<IpAddress>& gateway = hosts_[rank_].gateway;
      absl::StatusOr<MacAddress> mac = dpdk::ResolveNeighbor(
          *worker_, workers, gateway ? *gateway : setup.endpoint.ip, d_.setup_timeout_s);
      if (!mac.ok()) return mac.status();
      p->remote_endpoint.mac = *mac;
    }
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
  return absl::OkStatus();
}

DpdkRank::Peer* DpdkRank::PeerOf(uint32_t rank) {
  const auto it = std::lower_bound(plan_.data_peers.begin(), plan_.data_peers.end(), rank);
  if (it == plan_.data_peers.end() || *it != rank) return nullptr;
  return &peers_[static_cast<size_t>(it - plan_.data_peers.begin())];
}

DpdkRank::Peer* DpdkRank::PeerOfQp(uint32_t qp_num) {
  for (Peer& p : peers_) {
    if (p.qp->qp_num() == qp_num) return &p;
  }
  return nullptr;
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
  // A few one-byte RDMA WRITEs (no immediate, so no receive is consumed) to
  // each data peer in turn; the smallest completion time is the pair's base
  // RTT: wire, PMD and both ends' loop, on this machine as it is.
  const uint64_t hz = dpdk::TscHz();
  for (Peer& p : peers_) {
    for (int k = 0; k < kRttProbes; ++k) {
      const Sge sge{p.source->addr(), 1, p.source->lkey()};
      SendWr wr;
      wr.wr_id = kProbeWrId | static_cast<uint64_t>(k);
      wr.opcode = WrOpcode::kRdmaWrite;
      wr.send_flags = kSendSignaled;
      wr.sg_list = {&sge, 1};
      wr.remote_addr = p.remote.addr;
      wr.rkey = p.remote.rkey;
      const uint64_t before = probes_done_;
      const uint64_t t0 = dpdk::ReadTsc();
      if (absl::Status s = p.qp->PostSend(wr); !s.ok()) return s;
      const uint64_t deadline = t0 + static_cast<uint64_t>(d_.setup_timeout_s * hz);
      while (probes_done_ == before) {
        PollOnce();
        PollCompletions(Time::Zero());
        if (dpdk::ReadTsc() > deadline) {
          return absl::DeadlineExceededError(
              absl::StrFormat("RTT probe to rank %d unanswered after %g s: %s", p.rank,
                              d_.setup_timeout_s, p.qp->DebugState()));
        }
      }
      const uint64_t t1 = dpdk::ReadTsc();
      p.base_rtt = std::min(p.base_rtt, clock_.ToTime(t1) - clock_.ToTime(t0));
    }
  }
  return absl::OkStatus();
}

// --- the workload ------------------------------------------------------------

void DpdkRank::Ready(uint32_t step, Time now) {
  due_.emplace(std::max(now, workload_.steps[step].not_before), step);
}

void DpdkRank::Start(uint32_t step, Time now) {
  const Step& s = workload_.steps[step];
  flows_[step].start = now;
  if (s.kind == StepKind::kDelay) {
    delays_.emplace(now + s.duration, step);
    return;
  }
  Peer* p = PeerOf(s.dst);
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
    if (--chunks_left_[step] == 0) Finish(step, Now());
    return;
  }
  ++p.in_flight;
}

void DpdkRank::Finish(uint32_t step, Time now) {
  done_[step] = 1;
  ++steps_done_;
  FlowResult& f = flows_[step];
  f.finish = now;
  f.completed = !f.failed;
  Resolved(step, now);
}

void DpdkRank::Received(uint32_t step, Time now) {
  ++receives_done_;
  Resolved(step, now);
}

void DpdkRank::Resolved(uint32_t step, Time now) {
  for (const uint32_t dependent : dependents_.Of(step)) {
    if (runs_here_[dependent] && --unfinished_deps_[dependent] == 0) Ready(dependent, now);
  }
}

size_t DpdkRank::PollCompletions(Time now) {
  std::span<WorkCompletion> wcs = completions_;
  size_t got, total = 0;
  while ((got = send_cq_->Poll(wcs)) > 0) {
    total += got;
    for (size_t i = 0; i < got; ++i) {
      const WorkCompletion& wc = wcs[i];
      Peer* p = PeerOfQp(wc.qp_num);
      if (wc.wr_id & kProbeWrId) {
        ++probes_done_;
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
      if (--chunks_left_[step] == 0) Finish(step, now);
    }
  }
  while ((got = recv_cq_->Poll(wcs)) > 0) {
    total += got;
    for (size_t i = 0; i < got; ++i) {
      const WorkCompletion& wc = wcs[i];
      Peer* p = PeerOfQp(wc.qp_num);
      if (p == nullptr) continue;
      const uint64_t slot = p->recv_done % kSlots;
      ++p->recv_done;
      if (p->recv_posted < p->recv_expected) PostRecv(*p);
      const uint32_t step = wc.imm_data;
      if (wc.status != WcStatus::kSuccess || !wc.has_imm || step >= workload_.steps.size() ||
          workload_.steps[step].kind != StepKind::kTransfer || workload_.steps[step].dst != rank_ ||
          workload_.steps[step].src != p->rank) {
        spdlog::error("rank {}: unexpected receive from rank {}: status {}, imm {} ({})", rank_,
                      p->rank, WcStatusName(wc.status), wc.imm_data, wc.has_imm ? "set" : "none");
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
      if (chunks_seen_[step] == ChunksOf(s.bytes, chunk_)) Received(step, now);
    }
  }
  return total;
}

void DpdkRank::SampleCc(Time tick) {
  const size_t sampled = std::min<size_t>(peers_.size(), options_.config.timeline_connections);
  if (cc_timeline_.size() + sampled > kMaxCcSamples) {
    if (!cc_timeline_full_) {
      spdlog::warn("rank {}: {} cc samples kept; no more are taken (raise --timeline-interval)",
                   rank_, cc_timeline_.size());
      cc_timeline_full_ = true;
    }
    return;
  }
  for (size_t i = 0; i < sampled; ++i) {
    Peer& p = peers_[i];
    if (std::optional<CcSample> sample =
            CcSample::Of(*p.qp, tick, rank_, p.rank, &p.sampled_bytes)) {
      cc_timeline_.push_back(*sample);
    }
  }
}

void DpdkRank::RunWorkload() {
  const size_t n = workload_.steps.size();
  runs_here_.assign(n, 0);
  for (uint32_t i : plan_.runs) runs_here_[i] = 1;
  dependents_ = DependentIndex(workload_);
  unfinished_deps_.assign(n, 0);
  for (uint32_t i = 0; i < n; ++i) {
    unfinished_deps_[i] = static_cast<uint32_t>(workload_.steps[i].deps.size());
  }
  for (uint32_t i : plan_.runs) {
    if (unfinished_deps_[i] == 0) Ready(i, Time::Zero());
  }

  const uint64_t hz = dpdk::TscHz();
  const uint64_t start_tsc = clock_.ToTsc(start_);
  const uint64_t deadline = start_tsc + static_cast<uint64_t>(d_.time_limit_s * hz);
  const Duration interval = options_.config.timeline_interval;
  Time next_tick = interval > Duration::Zero() ? Time::Zero() + interval : Time::Infinite();
  while (!LocalDone()) {
    const uint64_t tsc = dpdk::ReadTsc();
    const Time now = clock_.ToTime(tsc) - (start_ - Time::Zero());
    size_t work = worker_->Poll(tsc);
    work += PollCompletions(now);
    if (now >= next_tick) {
      // Stamped with the tick, so every rank's samples of a tick line up; a
      // tick the loop overslept is skipped and its bytes go to the next one.
      SampleCc(next_tick);
      next_tick =
          next_tick + interval * ((now - next_tick).picoseconds() / interval.picoseconds() + 1);
    }
    while (!due_.empty() && due_.top().first <= now) {
      const uint32_t step = due_.top().second;
      due_.pop();
      Start(step, now);
      ++work;
    }
    while (!delays_.empty() && delays_.top().first <= now) {
      const uint32_t step = delays_.top().second;
      delays_.pop();
      Finish(step, now);
      ++work;
    }
    if (tsc > deadline) {
      timed_out_ = true;
      break;
    }
    if (work > 0 || d_.idle_sleep_us <= 0) {
      idle_loops_ = 0;
    } else if (++idle_loops_ >= kIdleLoops) {
      const timespec ts{0, static_cast<long>(d_.idle_sleep_us * 1000)};
      nanosleep(&ts, nullptr);
    }
  }
  elapsed_ = Now() - Time::Zero();
  if (timed_out_) {
    spdlog::warn(
        "rank {}: --time-limit of {} s reached with {}/{} of its steps finished and {}/{} "
        "transfers "
        "received",
        rank_, d_.time_limit_s, steps_done_, plan_.runs.size(), receives_done_,
        plan_.receives.size());
  }
}

absl::Status DpdkRank::Run() {
  if (absl::Status s = SetUpContext(); !s.ok()) return s;
  dpdk::PortWorker* workers[1] = {worker_.get()};
  if (d_.address_check) {
    if (absl::Status s =
            dpdk::CheckAddressUnique(*worker_, workers, dpdk::kDuplicateAddressWaitSeconds);
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
  // Out of band: one setup per control peer (a QP where data flows).
  std::vector<control::HostSetup> local(plan_.control_peers.size());
  for (size_t c = 0; c < local.size(); ++c) {
    control::HostSetup& h = local[c];
    h.endpoint = context_->local();
    h.mtu = mtu_;
    h.paths = options_.config.paths;
    h.congestion_control = options_.config.cc;
    h.workload = SetupFingerprint();
    if (Peer* p = PeerOf(plan_.control_peers[c])) h.qps.push_back(p->local);
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
  if (d_.base_rtt_us <= 0) {
    if (absl::Status s = ProbeRtts(); !s.ok()) return s;
  } else {
    for (Peer& p : peers_) {
      p.base_rtt = Duration::FractionalMicroseconds(d_.base_rtt_us);
    }
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
    worker_->SetFaults(faults);
    spdlog::info("rank {}: transmit faults {}", rank_, dpdk::DescribeFaults(faults));
  }
  while (RealtimeNs() < start_unix_ns_) PollOnce();
  start_ = clock_.ToTime(dpdk::ReadTsc());
  RunWorkload();
  // Serve the peers until every rank is done (their last ACKs come from us).
  std::string done_text = "done";
  if (absl::Status s = WhilePolling([&] { return mesh_->AllBarrier("done", &done_text); });
      !s.ok()) {
    spdlog::error("rank {}: final barrier: {}", rank_, s.ToString());
  } else {
    closes_in_turn_ = port_->NeedsOrderedClose();
  }
  if (d_.faults.has_value()) {
    const dpdk::FaultCounters& f = worker_->faults().counters();
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
  r.steps_done = steps_done_;
  if (worker_) {
    r.frames_sent = worker_->counters().tx_frames;
    r.frames_received = worker_->counters().rx_frames;
    r.faults = worker_->faults().counters();
  }
  r.collectives = workload_.collectives;
  // Ideal: the bytes on the wire (payload plus every packet's headers) at the
  // link rate, plus the pair's base RTT (measured or --base-rtt).
  const size_t data_overhead =
      OuterHeaderBytes(false) + sizeof(TernHeader) + sizeof(DataHeader) +
      (options_.config.verb == TransferVerb::kWrite ? sizeof(RdmaExtension) : 0);
  const Bandwidth rate = Bandwidth::Gbps(link_gbps_);
  for (uint32_t i : plan_.runs) {
    const Step& s = workload_.steps[i];
    if (s.kind != StepKind::kTransfer) continue;
    FlowResult f = flows_[i];
    const uint64_t packets = (s.bytes + mtu_ - 1) / mtu_;
    const Peer* p = nullptr;
    for (const Peer& q : peers_) {
      if (q.rank == s.dst) p = &q;
    }
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
  for (const Peer& p : peers_) r.qps.push_back(RankQp{p.rank, p.qp->counters()});
  r.timeline_interval = options_.config.timeline_interval;
  r.cc_timeline = cc_timeline_;
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
