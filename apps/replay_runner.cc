#include "apps/replay_runner.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "dataplane/sim/sim_host.h"
#include "dataplane/sim/simulator.h"
#include "transport/fifo.h"
#include "transport/random.h"
#include "transport/wire.h"

namespace tern::replay {
namespace {

// Transfers larger than this are posted as several work requests; every host
// registers the same two buffers of this size (one to send from, one to
// receive into), so memory does not grow with the number of hosts.
constexpr uint64_t kMaxWorkRequestBytes = uint64_t{16} << 20;
// Work requests a queue pair keeps outstanding per direction; the rest wait
// in the replayer, in order. A QP whose workload has fewer gets queues that
// hold just those: the depth could not limit it, and an all-to-all opens a
// connection per host pair.
constexpr uint32_t kQueueDepth = 64;
constexpr uint64_t kProgressEvery = 1 << 16;

// A connection's key: the unordered pair of its hosts.
uint64_t PairKey(uint32_t x, uint32_t y) { return uint64_t{std::min(x, y)} << 32 | std::max(x, y); }

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

class Replayer {
 public:
  Replayer(const Workload& workload, const ReplayConfig& config, sim::Simulator& sim,
           sim::Fabric& fabric)
      : workload_(workload), config_(config), sim_(sim), fabric_(fabric) {}

  absl::Status SetUp();
  void Run(const ProgressFn& progress);
  ReplayResult Collect(double wall_seconds);

 private:
  struct Host {
    std::unique_ptr<Context> context;
    std::unique_ptr<sim::SimHost> nic;
    ProtectionDomain* pd = nullptr;
    CompletionQueue* send_cq = nullptr;
    CompletionQueue* recv_cq = nullptr;
    MemoryRegion* source = nullptr;
    MemoryRegion* sink = nullptr;
  };
  // One reliable connection between two hosts, used in both directions.
  // Side 0 is the lower host number.
  struct Connection {
    uint32_t host[2] = {0, 0};
    QueuePair* qp[2] = {nullptr, nullptr};
    uint32_t in_flight[2] = {0, 0};
    uint32_t depth[2] = {0, 0};  // work requests side i's QP takes at once
    // Work requests waiting for a send-queue slot: (step, bytes).
    Fifo<std::pair<uint32_t, uint64_t>> waiting[2];
  };

  Host& host(uint32_t h) { return hosts_[h]; }
  absl::Status CreateHost(uint32_t h, uint32_t cq_capacity);
  // Index 0 of `work_requests` counts those the lower-numbered host posts.
  absl::StatusOr<uint32_t> ConnectionFor(uint32_t a, uint32_t b,
                                         const std::array<uint64_t, 2>& work_requests);
  void Ready(uint32_t step);
  void Start(uint32_t step);
  void Finish(uint32_t step);
  // The last work request of transfer `step` arrived at its destination.
  void Received(uint32_t step);
  // Whether `dependent` waits for `step` to arrive (it runs where `step`
  // lands) rather than for the sender's completion, one ACK later.
  bool WaitsForArrival(uint32_t step, uint32_t dependent) const {
    const Step& s = workload_.steps[step];
    return s.kind == StepKind::kTransfer && workload_.steps[dependent].src == s.dst;
  }
  void Post(Connection& c, int side, uint32_t step, uint64_t bytes);
  void PollCompletions(uint32_t h);
  void SampleTimeline();

  const Workload& workload_;
  const ReplayConfig& config_;
  sim::Simulator& sim_;
  sim::Fabric& fabric_;
  std::unique_ptr<uint8_t, FreeDeleter> source_buffer_;
  std::unique_ptr<uint8_t, FreeDeleter> sink_buffer_;
  uint64_t buffer_bytes_ = 0;
  // The longest path's base RTT: what a lab configures once per fabric.
  Duration fabric_base_rtt_;
  std::vector<Host> hosts_;
  std::vector<Connection> connections_;
  absl::flat_hash_map<uint64_t, uint32_t> connection_of_pair_;
  std::vector<uint32_t> transfer_connection_;  // per step; UINT32_MAX for delays

  DependentIndex dependents_;
  std::vector<uint32_t> unfinished_deps_;
  std::vector<uint32_t> work_requests_left_;
  // Per transfer: whether a step at its destination waits for its arrival,
  // and how many of its work requests have still to arrive there.
  std::vector<uint8_t> announces_arrival_;
  std::vector<uint32_t> arrivals_left_;
  std::vector<FlowResult> flows_;  // per step; only transfers are reported
  std::vector<Time> started_;
  std::vector<uint8_t> done_;
  uint64_t steps_done_ = 0;

  std::vector<uint64_t> timeline_last_sent_;  // per link, in Fabric::Ports() order
  std::vector<TimelineSample> timeline_;
  // Per sampled connection and direction: new payload bytes sent so far.
  std::vector<std::array<uint64_t, 2>> cc_last_sent_;
  std::vector<CcSample> cc_timeline_;
};

absl::Status Replayer::CreateHost(uint32_t h, uint32_t cq_capacity) {
  Host& hs = hosts_[h];
  ContextConfig cc;
  cc.local = sim::Fabric::HostEndpoint(h, kDefaultUdpPort);
  cc.seed = sim::DeriveSeed(config_.seed, 0x10000 + h);
  cc.packets_per_turn = config_.packets_per_turn;
  cc.traffic_class = config_.traffic_class;
  absl::StatusOr<std::unique_ptr<Context>> ctx = Context::Create(cc);
  if (!ctx.ok()) return ctx.status();
  hs.context = std::move(*ctx);
  const Bandwidth line_rate = fabric_.topology().cables[fabric_.routing().ports(h)[0]].rate;
  hs.nic = std::make_unique<sim::SimHost>(
      sim_, *hs.context, line_rate,
      [this, h](sim::Frame frame) { fabric_.SendFromHost(h, std::move(frame)); });
  fabric_.AttachHost(h, [nic = hs.nic.get()](sim::Frame frame) { nic->Deliver(frame); });
  hs.nic->SetActivityHook([this, h] { PollCompletions(h); });
  // Nothing writes the source buffer once allocated, and it is freed after
  // the run: frames can carry their payload by reference.
  hs.nic->SetStablePayload({source_buffer_.get(), buffer_bytes_});
  hs.pd = hs.context->AllocPd();
  absl::StatusOr<CompletionQueue*> send_cq = hs.context->CreateCq(cq_capacity);
  if (!send_cq.ok()) return send_cq.status();
  absl::StatusOr<CompletionQueue*> recv_cq = hs.context->CreateCq(cq_capacity);
  if (!recv_cq.ok()) return recv_cq.status();
  hs.send_cq = *send_cq;
  hs.recv_cq = *recv_cq;
  absl::StatusOr<MemoryRegion*> source =
      hs.pd->RegisterMemory(source_buffer_.get(), buffer_bytes_, kAccessLocalWrite);
  if (!source.ok()) return source.status();
  absl::StatusOr<MemoryRegion*> sink = hs.pd->RegisterMemory(
      sink_buffer_.get(), buffer_bytes_, kAccessLocalWrite | kAccessRemoteWrite);
  if (!sink.ok()) return sink.status();
  hs.source = *source;
  hs.sink = *sink;
  return absl::OkStatus();
}

absl::Status Replayer::SetUp() {
  const size_t n = workload_.steps.size();
  uint64_t largest = 1;
  std::vector<uint32_t> connections_per_host(workload_.hosts, 0);
  for (const Step& s : workload_.steps) {
    if (s.kind == StepKind::kTransfer) largest = std::max(largest, s.bytes);
  }
  buffer_bytes_ = std::min(largest, kMaxWorkRequestBytes);
  // Each connection's work requests in either direction, to size its QPs, and
  // each host's connections, to size its completion queues.
  absl::flat_hash_map<uint64_t, std::array<uint64_t, 2>> work_requests_of_pair;
  for (const Step& s : workload_.steps) {
    if (s.kind != StepKind::kTransfer) continue;
    const uint64_t chunks = (s.bytes + buffer_bytes_ - 1) / buffer_bytes_;  // as Start posts them
    work_requests_of_pair[PairKey(s.src, s.dst)][s.src < s.dst ? 0 : 1] += chunks;
  }
  for (const auto& [key, unused] : work_requests_of_pair) {
    ++connections_per_host[key >> 32];
    ++connections_per_host[static_cast<uint32_t>(key)];
  }
  // calloc: pages never written stay unbacked, so the source costs no memory.
  source_buffer_.reset(static_cast<uint8_t*>(std::calloc(buffer_bytes_, 1)));
  sink_buffer_.reset(static_cast<uint8_t*>(std::calloc(buffer_bytes_, 1)));
  if (!source_buffer_ || !sink_buffer_) {
    return absl::ResourceExhaustedError("cannot allocate the transfer buffers");
  }
  hosts_.resize(workload_.hosts);
  for (uint32_t h = 0; h < workload_.hosts; ++h) {
    // Each connection end can complete 2 x kQueueDepth work requests between
    // two polls (sends and receives land in separate queues).
    const uint32_t capacity =
        std::max<uint32_t>(16, (connections_per_host[h] + 1) * 2 * kQueueDepth);
    if (absl::Status s = CreateHost(h, capacity); !s.ok()) return s;
  }

  fabric_base_rtt_ = fabric_.longest_base_rtt();
  transfer_connection_.assign(n, UINT32_MAX);
  for (uint32_t i = 0; i < n; ++i) {
    const Step& s = workload_.steps[i];
    if (s.kind != StepKind::kTransfer) continue;
    absl::StatusOr<uint32_t> c =
        ConnectionFor(s.src, s.dst, work_requests_of_pair[PairKey(s.src, s.dst)]);
    if (!c.ok()) return c.status();
    transfer_connection_[i] = *c;
  }

  dependents_ = DependentIndex(workload_);
  unfinished_deps_.assign(n, 0);
  for (uint32_t i = 0; i < n; ++i) {
    unfinished_deps_[i] = static_cast<uint32_t>(workload_.steps[i].deps.size());
  }
  work_requests_left_.assign(n, 0);
  announces_arrival_.assign(n, 0);
  arrivals_left_.assign(n, 0);
  for (uint32_t i = 0; i < n; ++i) {
    for (const uint32_t dependent : dependents_.Of(i)) {
      if (WaitsForArrival(i, dependent)) announces_arrival_[i] = 1;
    }
  }
  started_.assign(n, Time::Infinite());
  done_.assign(n, 0);
  flows_.resize(n);

  // Ideal completion: the bytes on the wire (payload plus every packet's
  // headers) at the path's bottleneck, plus the base RTT.
  const size_t data_overhead = OuterHeaderBytes(false) + sizeof(TernHeader) + sizeof(DataHeader) +
                               (config_.verb == TransferVerb::kWrite ? sizeof(RdmaExtension) : 0);
  const size_t ack_frame = OuterHeaderBytes(false) + sizeof(TernHeader) + sizeof(AckHeader);
  for (uint32_t i = 0; i < n; ++i) {
    const Step& s = workload_.steps[i];
    FlowResult& f = flows_[i];
    f = FlowResult::Of(i, s);
    if (s.kind != StepKind::kTransfer) continue;
    const uint64_t packets = (s.bytes + config_.mtu - 1) / config_.mtu;
    const uint64_t wire_bytes = s.bytes + packets * data_overhead;
    const uint32_t first_frame =
        static_cast<uint32_t>(std::min<uint64_t>(s.bytes, config_.mtu) + data_overhead);
    const sim::PathInfo path = fabric_.Path(s.src, s.dst);
    f.ideal = path.bottleneck.TransferTime(wire_bytes) +
              fabric_.BaseRtt(s.src, s.dst, first_frame, static_cast<uint32_t>(ack_frame));
  }

  if (config_.timeline_interval > Duration::Zero()) {
    timeline_last_sent_.assign(2 * fabric_.topology().cables.size(), 0);
    sim_.Schedule(Time::Zero() + config_.timeline_interval, [this] { SampleTimeline(); });
  }
  for (uint32_t i = 0; i < n; ++i) {
    if (unfinished_deps_[i] == 0) Ready(i);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> Replayer::ConnectionFor(uint32_t x, uint32_t y,
                                                 const std::array<uint64_t, 2>& work_requests) {
  const uint64_t key = PairKey(x, y);
  if (auto it = connection_of_pair_.find(key); it != connection_of_pair_.end()) return it->second;

  Connection c;
  c.host[0] = std::min(x, y);
  c.host[1] = std::max(x, y);
  auto depth = [](uint64_t wrs) {
    return static_cast<uint32_t>(std::clamp<uint64_t>(wrs, 1, kQueueDepth));
  };
  QpInitAttr attr;
  attr.cap.max_send_sge = 1;
  attr.cap.max_recv_sge = 1;
  attr.cap.max_inline_data = 0;
  attr.transport = ReplayTransportOptions(config_);
  attr.transport.base_rtt = fabric_base_rtt_;
  Random psn_rng(sim::DeriveSeed(config_.seed, key));
  Psn psn[2];
  for (int side = 0; side < 2; ++side) {
    Host& h = host(c.host[side]);
    // SENDs from this side, and RECVs for the other side's SENDs.
    c.depth[side] = depth(work_requests[side]);
    attr.cap.max_send_wr = c.depth[side];
    attr.cap.max_recv_wr = depth(work_requests[1 - side]);
    attr.send_cq = h.send_cq;
    attr.recv_cq = h.recv_cq;
    attr.transport.line_rate =
        fabric_.topology().cables[fabric_.routing().ports(c.host[side])[0]].rate;
    absl::StatusOr<QueuePair*> qp = h.context->CreateQp(h.pd, attr);
    if (!qp.ok()) return qp.status();
    c.qp[side] = *qp;
    QpInitStateAttr init;
    init.access = kAccessRemoteWrite;
    if (absl::Status s = c.qp[side]->ToInit(init); !s.ok()) return s;
    psn[side] = static_cast<Psn>(psn_rng.Next());
  }
  // What the out-of-band exchange carries on real hosts: QP numbers, PSNs,
  // endpoints and the MTU.
  for (int side = 0; side < 2; ++side) {
    const int peer = 1 - side;
    QpRtrAttr rtr;
    rtr.dest_qp_num = c.qp[peer]->qp_num();
    rtr.rq_psn = psn[peer];
    rtr.remote = host(c.host[peer]).context->local();
    rtr.path_mtu = config_.mtu;
    rtr.max_dest_rd_atomic = 1;  // a replay posts no READs: the smallest responder ring
    if (absl::Status s = c.qp[side]->ToRtr(rtr); !s.ok()) return s;
    QpRtsAttr rts;
    rts.sq_psn = psn[side];
    if (absl::Status s = c.qp[side]->ToRts(rts); !s.ok()) return s;
  }
  connections_.push_back(std::move(c));
  const uint32_t index = static_cast<uint32_t>(connections_.size() - 1);
  connection_of_pair_.emplace(key, index);
  return index;
}

void Replayer::Ready(uint32_t step) {
  const Time at = std::max(sim_.now(), workload_.steps[step].not_before);
  // Always through the event queue: a long chain of zero-length steps must not
  // recurse, and steps ready at one instant start in a deterministic order.
  sim_.Schedule(at, [this, step] { Start(step); });
}

void Replayer::Start(uint32_t step) {
  const Step& s = workload_.steps[step];
  started_[step] = sim_.now();
  flows_[step].start = sim_.now();
  if (s.kind == StepKind::kDelay) {
    sim_.ScheduleAfter(s.duration, [this, step] { Finish(step); });
    return;
  }
  Connection& c = connections_[transfer_connection_[step]];
  const int side = c.host[0] == s.src ? 0 : 1;
  uint64_t left = s.bytes;
  while (left > 0) {
    const uint64_t chunk = std::min(left, buffer_bytes_);
    ++work_requests_left_[step];
    if (announces_arrival_[step]) ++arrivals_left_[step];
    Post(c, side, step, chunk);
    left -= chunk;
  }
  host(s.src).nic->Kick();
}

void Replayer::Post(Connection& c, int side, uint32_t step, uint64_t bytes) {
  if (c.in_flight[side] >= c.depth[side]) {
    c.waiting[side].push_back({step, bytes});
    return;
  }
  Host& src = host(c.host[side]);
  Host& dst = host(c.host[1 - side]);
  const Sge sge{src.source->addr(), static_cast<uint32_t>(bytes), src.source->lkey()};
  SendWr wr;
  wr.wr_id = step;
  wr.send_flags = kSendSignaled;
  wr.sg_list = {&sge, 1};
  absl::Status status;
  if (config_.verb == TransferVerb::kSend) {
    const Sge recv_sge{dst.sink->addr(), static_cast<uint32_t>(bytes), dst.sink->lkey()};
    RecvWr recv;
    recv.wr_id = step;
    recv.sg_list = {&recv_sge, 1};
    status = c.qp[1 - side]->PostRecv(recv);
    wr.opcode = WrOpcode::kSend;
  } else {
    wr.opcode = WrOpcode::kRdmaWrite;
    wr.remote_addr = dst.sink->addr();
    wr.rkey = dst.sink->rkey();
    if (announces_arrival_[step]) {
      // With an immediate, the destination learns of the arrival through a
      // receive completion, as a DPDK rank does (apps/replay_dpdk.cc).
      RecvWr recv;
      recv.wr_id = step;
      status = c.qp[1 - side]->PostRecv(recv);
      wr.opcode = WrOpcode::kRdmaWriteWithImm;
      wr.imm_data = step;
    }
  }
  if (status.ok()) status = c.qp[side]->PostSend(wr);
  if (!status.ok()) {
    // A QP in error refuses work: the transfer fails now rather than hang.
    flows_[step].failed = true;
    if (--work_requests_left_[step] == 0) Finish(step);
    return;
  }
  ++c.in_flight[side];
}

void Replayer::PollCompletions(uint32_t h) {
  Host& hs = host(h);
  WorkCompletion wcs[32];
  size_t got;
  while ((got = hs.recv_cq->Poll(wcs)) > 0) {
    // The sender's completion times the transfer; the last arrival lets the
    // steps here that wait for it go.
    for (size_t i = 0; i < got; ++i) {
      const uint32_t step = static_cast<uint32_t>(wcs[i].wr_id);
      if (announces_arrival_[step] && arrivals_left_[step] > 0 && --arrivals_left_[step] == 0) {
        Received(step);
      }
    }
  }
  bool posted = false;
  while ((got = hs.send_cq->Poll(wcs)) > 0) {
    for (size_t i = 0; i < got; ++i) {
      const uint32_t step = static_cast<uint32_t>(wcs[i].wr_id);
      if (wcs[i].status != WcStatus::kSuccess) flows_[step].failed = true;
      Connection& c = connections_[transfer_connection_[step]];
      const int side = c.host[0] == h ? 0 : 1;
      --c.in_flight[side];
      if (!c.waiting[side].empty()) {
        const auto [next, bytes] = c.waiting[side].front();
        c.waiting[side].pop_front();
        Post(c, side, next, bytes);
        posted = true;
      }
      if (--work_requests_left_[step] == 0) Finish(step);
    }
  }
  if (posted) hs.nic->Kick();
}

void Replayer::Finish(uint32_t step) {
  done_[step] = 1;
  ++steps_done_;
  FlowResult& f = flows_[step];
  f.finish = sim_.now();
  f.completed = !f.failed;
  for (const uint32_t dependent : dependents_.Of(step)) {
    if (WaitsForArrival(step, dependent)) continue;
    if (--unfinished_deps_[dependent] == 0) Ready(dependent);
  }
  // A failed transfer holds up nothing, as before arrivals were waited for:
  // what never arrives is let go with the sender's verdict.
  if (f.failed && arrivals_left_[step] > 0) {
    arrivals_left_[step] = 0;
    Received(step);
  }
}

void Replayer::Received(uint32_t step) {
  for (const uint32_t dependent : dependents_.Of(step)) {
    if (!WaitsForArrival(step, dependent)) continue;
    if (--unfinished_deps_[dependent] == 0) Ready(dependent);
  }
}

void Replayer::SampleTimeline() {
  // Reads the links directly: Ports() would build every port's report and
  // name at each sample.
  const sim::Topology& t = fabric_.topology();
  for (uint32_t p = 0; p < timeline_last_sent_.size(); ++p) {
    const sim::Cable& cable = t.cables[p / 2];
    if (t.IsHost(p % 2 == 0 ? cable.a : cable.b)) continue;  // host uplinks never queue
    const sim::Link& link = fabric_.link(p / 2, p % 2 == 0);
    const uint64_t sent = link.counters().bytes_sent - timeline_last_sent_[p];
    timeline_last_sent_[p] = link.counters().bytes_sent;
    if (sent == 0 && link.queued_bytes() == 0) continue;
    timeline_.push_back(TimelineSample{sim_.now(), p, link.queued_bytes(), sent});
  }
  const size_t sampled = std::min<size_t>(connections_.size(), config_.timeline_connections);
  cc_last_sent_.resize(sampled, {0, 0});
  for (size_t c = 0; c < sampled; ++c) {
    for (int side = 0; side < 2; ++side) {
      const Connection& conn = connections_[c];
      if (std::optional<CcSample> sample =
              CcSample::Of(*conn.qp[side], sim_.now(), conn.host[side], conn.host[1 - side],
                           &cc_last_sent_[c][side])) {
        cc_timeline_.push_back(*sample);
      }
    }
  }
  if (steps_done_ < workload_.steps.size()) {
    sim_.ScheduleAfter(config_.timeline_interval, [this] { SampleTimeline(); });
  }
}

void Replayer::Run(const ProgressFn& progress) {
  const Time deadline = Time::Zero() + config_.time_limit;
  uint64_t calls = 0;
  const uint64_t total = workload_.steps.size();
  sim_.RunWhile(
      [&] {
        if (progress && ++calls % kProgressEvery == 0) {
          progress(ReplayProgress{steps_done_, total, sim_.now(), sim_.events_processed()});
        }
        return steps_done_ < total;
      },
      deadline);
}

ReplayResult Replayer::Collect(double wall_seconds) {
  ReplayResult r;
  r.topology = fabric_.topology().description;
  r.buffer_bytes = fabric_.buffer_bytes();
  r.base_rtt = fabric_base_rtt_;
  r.end = sim_.now();
  r.steps_done = steps_done_;
  r.timed_out = steps_done_ < workload_.steps.size();
  r.sim_events = sim_.events_processed();
  r.wall_seconds = wall_seconds;
  for (const Host& h : hosts_) r.sim_packets += h.nic->counters().frames_sent;
  for (uint32_t i = 0; i < workload_.steps.size(); ++i) {
    if (workload_.steps[i].kind != StepKind::kTransfer) continue;
    FlowResult f = flows_[i];
    if (!done_[i]) {
      f.completed = false;
      f.finish = Time::Infinite();
    }
    r.flows.push_back(std::move(f));
  }
  for (const Collective& c : workload_.collectives) {
    r.collectives.push_back(CollectiveResult{c, Time::Infinite(), Time::Zero(), true});
  }
  for (uint32_t i = 0; i < workload_.steps.size(); ++i) {
    const int32_t c = workload_.steps[i].collective;
    if (c == kNoCollective) continue;
    CollectiveResult& cr = r.collectives[c];
    cr.start = std::min(cr.start, started_[i]);
    if (done_[i] && !flows_[i].failed) {
      cr.finish = std::max(cr.finish, flows_[i].finish);
    } else {
      cr.completed = false;
    }
  }
  r.ports = fabric_.Ports();
  r.fabric_counters = fabric_.counters();
  for (const Connection& c : connections_) {
    ConnectionResult cr;
    cr.a = c.host[0];
    cr.b = c.host[1];
    cr.counters += c.qp[0]->counters();
    cr.counters += c.qp[1]->counters();
    r.connections.push_back(cr);
  }
  r.timeline_interval = config_.timeline_interval;
  r.timeline = std::move(timeline_);
  r.cc_timeline = std::move(cc_timeline_);
  if (!connections_.empty()) r.cc_name = std::string(connections_[0].qp[0]->cc_name());
  return r;
}

}  // namespace

std::optional<CcSample> CcSample::Of(const QueuePair& qp, Time at, uint32_t src, uint32_t dst,
                                     uint64_t* sent_before) {
  const QpCounters& counters = qp.counters();
  const uint64_t fresh = counters.data_bytes_sent - counters.retransmitted_bytes;
  if (fresh == 0) return std::nullopt;
  CcSample sample;
  sample.at = at;
  sample.src = src;
  sample.dst = dst;
  sample.bytes_sent = fresh - *sent_before;
  *sent_before = fresh;
  sample.count = static_cast<uint8_t>(
      qp.CcVariables(std::span<CcVariable, kMaxCcVariables>(sample.variables)));
  return sample;
}

FlowResult FlowResult::Of(uint32_t index, const Step& s) {
  FlowResult f;
  f.step = index;
  f.src = s.src;
  f.dst = s.dst;
  f.bytes = s.bytes;
  f.collective = s.collective;
  f.label = s.label;
  return f;
}

TransportOptions ReplayTransportOptions(const ReplayConfig& config) {
  TransportOptions t;
  t.paths = config.paths;
  t.path_policy = config.path_policy;
  t.ack_every = config.ack_every;
  t.ack_delay = config.ack_delay;
  t.pull_window_packets = config.pull_window_packets;
  t.congestion_control = config.cc;
  return t;
}

absl::StatusOr<ReplayResult> RunReplay(const Workload& workload, const ReplayConfig& config,
                                       const ProgressFn& progress) {
  absl::StatusOr<sim::Topology> topology = sim::MakeTopology(config.fabric);
  if (!topology.ok()) return topology.status();
  return RunReplay(workload, *std::move(topology), config, progress);
}

absl::StatusOr<ReplayResult> RunReplay(const Workload& workload, sim::Topology topology,
                                       const ReplayConfig& config, const ProgressFn& progress) {
  if (absl::Status s = ValidateWorkload(workload); !s.ok()) return s;
  const auto wall_start = std::chrono::steady_clock::now();
  if (topology.hosts < workload.hosts) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the workload needs %d hosts; the fabric (%s) has %d", workload.hosts,
                        topology.description, topology.hosts));
  }
  sim::Simulator sim;
  absl::StatusOr<std::unique_ptr<sim::Fabric>> fabric =
      sim::Fabric::Create(sim, std::move(topology), config.fabric);
  if (!fabric.ok()) return fabric.status();
  Replayer replayer(workload, config, sim, **fabric);
  if (absl::Status s = replayer.SetUp(); !s.ok()) return s;
  replayer.Run(progress);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return replayer.Collect(wall);
}

}  // namespace tern::replay
