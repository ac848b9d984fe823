#include "apps/perf_runner.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "apps/perf_pattern.h"
#include "cc/congestion_control.h"
#include "dataplane/sim/link.h"
#include "dataplane/sim/multipath_wire.h"
#include "dataplane/sim/sim_host.h"
#include "dataplane/sim/simulator.h"
#include "transport/random.h"
#include "transport/verbs.h"
#include "transport/wire.h"

namespace tern::perf {

// --- statistics -------------------------------------------------------------------

LatencyStats ComputeLatencyStats(std::vector<double> samples, uint64_t warmup) {
  samples.erase(samples.begin(),
                samples.begin() + static_cast<ptrdiff_t>(std::min<size_t>(warmup, samples.size())));
  LatencyStats stats;
  if (samples.empty()) return stats;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  // Nearest rank: the smallest sample with at least p of them at or below it.
  auto percentile = [&](double p) {
    const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(n)));
    return samples[std::clamp<size_t>(rank, 1, n) - 1];
  };
  stats.t_min = samples.front();
  stats.t_max = samples.back();
  stats.t_typical = samples[n / 2];
  double sum = 0;
  for (double s : samples) sum += s;
  stats.t_avg = sum / static_cast<double>(n);
  double squares = 0;
  for (double s : samples) squares += (s - stats.t_avg) * (s - stats.t_avg);
  stats.t_stdev = std::sqrt(squares / static_cast<double>(n));
  stats.p99 = percentile(0.99);
  stats.p99_9 = percentile(0.999);
  return stats;
}

PeakRateTracker::PeakRateTracker(Time start, uint64_t window, uint64_t bytes_each)
    : window_(std::max<uint64_t>(window, 1)), bytes_each_(bytes_each), ring_(window_ + 1) {
  ring_[0] = start;
}

// The ring holds window_ + 1 times, so the slot after the newest holds the
// time window_ completions back (indices wrap without a division: this runs
// once per message, millions of times a second over DPDK).
void PeakRateTracker::OnCompletion(Time at) {
  ++count_;
  newest_ = newest_ + 1 == ring_.size() ? 0 : newest_ + 1;
  ring_[newest_] = at;
  if (count_ < window_) return;
  const size_t oldest = newest_ + 1 == ring_.size() ? 0 : newest_ + 1;
  const Duration span = at - ring_[oldest];
  if (span > Duration::Zero() && span < shortest_) shortest_ = span;
}

double PeakRateTracker::peak_gbps() const {
  if (shortest_.IsInfinite()) return 0;
  const double bits = 8.0 * static_cast<double>(bytes_each_) * static_cast<double>(window_);
  return bits / shortest_.seconds() / 1e9;
}

uint64_t PeakWindow(uint64_t messages, uint64_t outstanding) {
  // At least four rounds of outstanding messages: after a repaired loss one
  // ACK releases a round's worth of completions at once, and a shorter window
  // would show a rate the wire never carried. Never more than the run.
  return std::min<uint64_t>(std::max<uint64_t>({1, messages / 20, 4 * outstanding}),
                            std::max<uint64_t>(messages, 1));
}

void AppendQpCounters(std::span<const QueuePair* const> qps,
                      std::vector<std::pair<std::string, uint64_t>>* out) {
  QpCounters q;
  for (const QueuePair* qp : qps) q += qp->counters();
  for (const QpCounterField& f : QpCounterFields()) out->emplace_back(f.name, q.*f.member);
}

void AppendContextCounters(const Context& context,
                           std::vector<std::pair<std::string, uint64_t>>* out) {
  const ContextCounters& c = context.counters();
  out->emplace_back("ctx_frames_received", c.frames_received);
  out->emplace_back("ctx_packets_sent", c.packets_sent);
  out->emplace_back("ctx_control_coalesced_sent", c.control_coalesced_sent);
  out->emplace_back("ctx_control_coalesced_received", c.control_coalesced_received);
  for (size_t r = 1; r < static_cast<size_t>(DropReason::kCount); ++r) {
    out->emplace_back(absl::StrCat("drop_", DropReasonName(static_cast<DropReason>(r))),
                      c.drops[r]);
  }
}

void SumCounters(std::span<const std::pair<std::string, uint64_t>> add,
                 std::vector<std::pair<std::string, uint64_t>>* into) {
  for (const auto& [name, value] : add) {
    auto it = std::find_if(into->begin(), into->end(),
                           [&name = name](const auto& e) { return e.first == name; });
    if (it == into->end()) {
      into->emplace_back(name, value);
    } else {
      it->second += value;
    }
  }
}

namespace {

using sim::WirePort;

constexpr int kA = 0;  // the requester: posts sends, writes and reads, measures
constexpr int kB = 1;  // the responder

// One QP pair and its buffers. Side kA's QP talks to side kB's.
struct Flow {
  QueuePair* qp[2] = {nullptr, nullptr};
  MemoryRegion* mr[2] = {nullptr, nullptr};
  Buffer buffer[2];
  // Bandwidth tests: messages posted and completed by kA, receives posted and
  // completed by kB (send_bw).
  uint64_t posted = 0;
  uint64_t completed = 0;
  uint64_t recv_posted = 0;
  uint64_t recv_completed = 0;
};

// Latency tests: per-host buffer slots.
constexpr uint64_t kLatSendSlots = 2;   // alternate, so a send never waits for its own ACK
constexpr uint64_t kLatTargetSlot = 2;  // receive buffer, write target, read target
constexpr uint64_t kLatSlots = 3;

class PerfSession {
 public:
  PerfSession(const PerfOptions& options, uint64_t size, const ProgressFn& progress)
      : options_(WithWarmupIterations(options)),
        size_(size),
        progress_(progress),
        latency_test_(IsLatencyTest(options.test)),
        slots_(latency_test_ ? kLatSlots : options.SlotsPerQp()) {}

  absl::Status SetUp();
  PerfResult Run();

 private:
  // --- helpers ---
  uint8_t* SlotPtr(Flow& f, int side, uint64_t slot) { return f.buffer[side].get() + slot * size_; }
  uint64_t SlotAddr(Flow& f, int side, uint64_t slot) {
    return reinterpret_cast<uint64_t>(SlotPtr(f, side, slot));
  }
  static uint64_t WrId(size_t flow, uint64_t message) { return uint64_t{flow} << 32 | message; }
  static size_t WrFlow(uint64_t wr_id) { return static_cast<size_t>(wr_id >> 32); }
  static uint64_t WrMessage(uint64_t wr_id) { return wr_id & 0xFFFFFFFFu; }
  // Stream of flow `f` in direction `from` -> the other side.
  static uint64_t Stream(size_t flow, int from) { return 2 * uint64_t{flow} + from; }
  uint64_t Pattern(size_t flow, int from, uint64_t message) const {
    return PatternBase(options_.seed, Stream(flow, from), message);
  }
  void Fill(Flow& f, int side, uint64_t slot, uint64_t base) {
    if (options_.verify) FillPattern(SlotPtr(f, side, slot), size_, base);
  }
  // Checks a received message: its length always, its bytes with --verify.
  void Check(Flow& f, int side, uint64_t slot, uint64_t base, uint64_t byte_len);
  void Fail(std::string why);
  std::string DescribeCompletion(int side, const WorkCompletion& wc);
  std::string DescribeQps() const;

  void Post(int side, QueuePair* qp, const SendWr& wr);
  void PostRecv(int side, QueuePair* qp, uint64_t wr_id, uint64_t addr, uint32_t length,
                uint32_t lkey);
  void KickHosts();
  void PollAll();
  void OnCompletion(int side, bool recv, const WorkCompletion& wc);
  bool Done() const;

  // --- bandwidth tests ---
  void StartBw();
  void PostBwMessage(size_t flow);
  void PostBwRecv(size_t flow);
  void OnBwCompletion(int side, bool recv, const WorkCompletion& wc);

  // --- latency tests ---
  void StartLat();
  void PostPing(uint64_t i);
  void PostPong(uint64_t i);
  // Posts iteration i's message from `side`; false when deferred behind its slot.
  bool PostLatMessage(int side, uint64_t i);
  void PostLatRecv(int side, uint64_t i);
  void PostRead(uint64_t i);
  void OnLatCompletion(int side, bool recv, const WorkCompletion& wc);

  Duration VirtualBudget() const;
  void FillCounters(PerfResult& result) const;

  const PerfOptions options_;  // with the warm-up round trips as iterations
  const uint64_t size_;
  const ProgressFn& progress_;
  const bool latency_test_;
  const uint64_t slots_;

  // Declaration order is destruction order reversed: hosts and wire cancel
  // their events in the simulator, so it goes last; buffers outlive contexts.
  sim::Simulator sim_;
  std::vector<Flow> flows_;
  // PollAll's batch, kept here: a local array of WorkCompletion (which has
  // member initializers) is zeroed on every call.
  std::array<WorkCompletion, 64> completions_;
  std::unique_ptr<Context> ctx_[2];
  std::unique_ptr<sim::MultipathWire> wire_;
  std::unique_ptr<sim::SimHost> host_[2];
  ProtectionDomain* pd_[2] = {nullptr, nullptr};
  CompletionQueue* send_cq_[2] = {nullptr, nullptr};
  CompletionQueue* recv_cq_[2] = {nullptr, nullptr};

  bool dirty_[2] = {false, false};  // work posted since the last kick
  bool failed_ = false;
  std::string failure_;
  Time start_;
  Time last_completion_;
  std::unique_ptr<PeakRateTracker> peak_;
  uint64_t total_messages_ = 0;  // what the run must complete
  uint64_t messages_posted_ = 0;
  uint64_t messages_completed_ = 0;
  uint64_t bytes_verified_ = 0;
  uint64_t data_errors_ = 0;

  // Latency state: iteration counters of each side.
  uint64_t ping_posted_ = 0;
  uint64_t send_done_[2] = {0, 0};
  uint64_t recv_done_[2] = {0, 0};
  bool send_busy_[2][kLatSendSlots] = {};
  // A ping or pong that waits for its send slot; UINT64_MAX: none.
  uint64_t deferred_[2] = {UINT64_MAX, UINT64_MAX};
  Time ping_time_;
  std::vector<double> samples_usec_;
};

absl::Status PerfSession::SetUp() {
  sim::MultipathWireConfig wire_config = options_.wire;
  wire_ = std::make_unique<sim::MultipathWire>(sim_, wire_config);
  const Bandwidth line_rate = Bandwidth::Gbps(options_.line_rate_gbps);
  for (int side : {kA, kB}) {
    ContextConfig config;
    config.local.mac.bytes = {0x02, 0x00, 0x00, 0x00, 0x00, static_cast<uint8_t>(side + 1)};
    config.local.ip = IpAddress::V4(0x0A000001u + static_cast<uint32_t>(side));
    config.seed = sim::DeriveSeed(options_.seed, 0x1000 + static_cast<uint64_t>(side));
    config.packets_per_turn = options_.packets_per_turn;
    config.traffic_class = options_.traffic_class;
    absl::StatusOr<std::unique_ptr<Context>> ctx = Context::Create(config);
    if (!ctx.ok()) return ctx.status();
    ctx_[side] = std::move(*ctx);
    const WirePort port = side == kA ? WirePort::kA : WirePort::kB;
    host_[side] = std::make_unique<sim::SimHost>(
        sim_, *ctx_[side], line_rate,
        [this, port](sim::Frame frame) { wire_->Send(port, std::move(frame)); });
    wire_->Connect(port, [this, side](sim::Frame frame) { host_[side]->Deliver(frame); });
    pd_[side] = ctx_[side]->AllocPd();
    // Every outstanding message can complete in one event (one ACK covers
    // many), and completions are polled between events.
    const size_t cq_capacity = options_.qps * (slots_ + 4);
    absl::StatusOr<CompletionQueue*> send_cq = ctx_[side]->CreateCq(cq_capacity);
    if (!send_cq.ok()) return send_cq.status();
    absl::StatusOr<CompletionQueue*> recv_cq = ctx_[side]->CreateCq(cq_capacity);
    if (!recv_cq.ok()) return recv_cq.status();
    send_cq_[side] = *send_cq;
    recv_cq_[side] = *recv_cq;
  }

  QpInitAttr attr;
  attr.cap.max_send_wr = static_cast<uint32_t>(std::max<uint64_t>(slots_, 4));
  attr.cap.max_recv_wr = attr.cap.max_send_wr;
  attr.cap.max_send_sge = 1;
  attr.cap.max_recv_sge = 1;
  attr.cap.max_inline_data = 0;
  attr.transport = PerfTransportOptions(options_, line_rate);
  Random psn_rng(sim::DeriveSeed(options_.seed, 0x2000));
  const uint64_t buffer_bytes = slots_ * size_;
  flows_.resize(options_.qps);
  for (size_t i = 0; i < flows_.size(); ++i) {
    Flow& f = flows_[i];
    Psn psn[2];
    for (int side : {kA, kB}) {
      attr.send_cq = send_cq_[side];
      attr.recv_cq = recv_cq_[side];
      absl::StatusOr<QueuePair*> qp = ctx_[side]->CreateQp(pd_[side], attr);
      if (!qp.ok()) return qp.status();
      f.qp[side] = *qp;
      QpInitStateAttr init;
      init.access = kAccessRemoteWrite | kAccessRemoteRead;
      if (absl::Status s = f.qp[side]->ToInit(init); !s.ok()) return s;
      psn[side] = static_cast<Psn>(psn_rng.Next());
      f.buffer[side] = AllocateBuffer(buffer_bytes);
      if (f.buffer[side] == nullptr) {
        return absl::ResourceExhaustedError(
            absl::StrFormat("cannot allocate %d bytes of message buffers", buffer_bytes));
      }
      absl::StatusOr<MemoryRegion*> mr =
          pd_[side]->RegisterMemory(f.buffer[side].get(), buffer_bytes,
                                    kAccessLocalWrite | kAccessRemoteWrite | kAccessRemoteRead);
      if (!mr.ok()) return mr.status();
      f.mr[side] = *mr;
    }
    // The out-of-band exchange: QP numbers, PSNs, MTU and endpoints.
    for (int side : {kA, kB}) {
      const int peer = 1 - side;
      QpRtrAttr rtr;
      rtr.dest_qp_num = f.qp[peer]->qp_num();
      rtr.rq_psn = psn[peer];
      rtr.remote = ctx_[peer]->local();
      rtr.path_mtu = options_.mtu;
      if (absl::Status s = f.qp[side]->ToRtr(rtr); !s.ok()) return s;
      QpRtsAttr rts;
      rts.sq_psn = psn[side];
      rts.retry_cnt = options_.retry_cnt;
      if (absl::Status s = f.qp[side]->ToRts(rts); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// --- posting and polling ------------------------------------------------------------

void PerfSession::Fail(std::string why) {
  if (failed_) return;
  failed_ = true;
  failure_ = std::move(why);
}

void PerfSession::Post(int side, QueuePair* qp, const SendWr& wr) {
  if (absl::Status s = qp->PostSend(wr); !s.ok()) {
    Fail(absl::StrFormat("host %c: post_send of wr_id 0x%x failed: %s", 'A' + side, wr.wr_id,
                         s.ToString()));
    return;
  }
  dirty_[side] = true;
}

void PerfSession::PostRecv(int side, QueuePair* qp, uint64_t wr_id, uint64_t addr, uint32_t length,
                           uint32_t lkey) {
  const Sge sge{addr, length, lkey};
  RecvWr wr;
  wr.wr_id = wr_id;
  if (length > 0) wr.sg_list = {&sge, 1};
  if (absl::Status s = qp->PostRecv(wr); !s.ok()) {
    Fail(absl::StrFormat("host %c: post_recv of wr_id 0x%x failed: %s", 'A' + side, wr_id,
                         s.ToString()));
    return;
  }
  dirty_[side] = true;
}

void PerfSession::KickHosts() {
  for (int side : {kA, kB}) {
    if (!dirty_[side]) continue;
    dirty_[side] = false;
    host_[side]->Kick();
  }
}

void PerfSession::PollAll() {
  for (int side : {kA, kB}) {
    for (bool recv : {false, true}) {
      CompletionQueue* cq = recv ? recv_cq_[side] : send_cq_[side];
      while (cq->size() > 0 && !failed_) {
        const size_t n = cq->Poll(completions_);
        for (size_t i = 0; i < n && !failed_; ++i) OnCompletion(side, recv, completions_[i]);
      }
    }
  }
  KickHosts();
}

std::string PerfSession::DescribeCompletion(int side, const WorkCompletion& wc) {
  const size_t flow = WrFlow(wc.wr_id);
  std::string qp_state = "QP not found";
  for (const Flow& f : flows_) {
    if (f.qp[side]->qp_num() == wc.qp_num) {
      qp_state = absl::StrFormat("QP state %s%s%s", QpStateName(f.qp[side]->state()),
                                 f.qp[side]->error_reason().empty() ? "" : ": ",
                                 f.qp[side]->error_reason());
    }
  }
  return absl::StrFormat(
      "host %c QP 0x%x: %s completion with status %s, wr_id 0x%x (QP pair %d, "
      "message %d); %s",
      'A' + side, wc.qp_num, WcOpcodeName(wc.opcode), WcStatusName(wc.status), wc.wr_id, flow,
      WrMessage(wc.wr_id), qp_state);
}

void PerfSession::OnCompletion(int side, bool recv, const WorkCompletion& wc) {
  if (wc.status != WcStatus::kSuccess) {
    Fail(DescribeCompletion(side, wc));
    return;
  }
  if (WrFlow(wc.wr_id) >= flows_.size()) {
    Fail(absl::StrCat("unknown wr_id: ", DescribeCompletion(side, wc)));
    return;
  }
  if (latency_test_) {
    OnLatCompletion(side, recv, wc);
  } else {
    OnBwCompletion(side, recv, wc);
  }
}

void PerfSession::Check(Flow& f, int side, uint64_t slot, uint64_t base, uint64_t byte_len) {
  if (byte_len != size_) {
    data_errors_ += byte_len < size_ ? size_ - byte_len : byte_len - size_;
  }
  if (!options_.verify) return;
  const uint64_t n = std::min(byte_len, size_);
  data_errors_ += CountPatternErrors(SlotPtr(f, side, slot), n, base);
  bytes_verified_ += n;
}

bool PerfSession::Done() const {
  return messages_completed_ == total_messages_ &&
         (latency_test_ || options_.test != PerfTest::kSendBw ||
          std::all_of(flows_.begin(), flows_.end(),
                      [&](const Flow& f) { return f.recv_completed == options_.iters; })) &&
         (!latency_test_ ||
          (send_done_[kA] == ping_posted_ &&
           (options_.test == PerfTest::kReadLat || send_done_[kB] == options_.iters)));
}

// --- bandwidth tests ----------------------------------------------------------------

void PerfSession::StartBw() {
  total_messages_ = options_.iters * flows_.size();
  for (size_t i = 0; i < flows_.size(); ++i) {
    if (options_.test == PerfTest::kSendBw) {
      while (flows_[i].recv_posted < slots_) PostBwRecv(i);
    }
  }
  for (size_t i = 0; i < flows_.size(); ++i) {
    while (flows_[i].posted < slots_ && !failed_) PostBwMessage(i);
  }
}

void PerfSession::PostBwMessage(size_t flow) {
  Flow& f = flows_[flow];
  const uint64_t m = f.posted++;
  const uint64_t slot = m % slots_;
  const Sge sge{SlotAddr(f, kA, slot), static_cast<uint32_t>(size_), f.mr[kA]->lkey()};
  SendWr wr;
  wr.wr_id = WrId(flow, m);
  wr.send_flags = kSendSignaled;
  wr.sg_list = {&sge, 1};
  switch (options_.test) {
    case PerfTest::kSendBw:
      wr.opcode = WrOpcode::kSend;
      Fill(f, kA, slot, Pattern(flow, kA, m));
      break;
    case PerfTest::kWriteBw:
      wr.opcode = WrOpcode::kRdmaWrite;
      Fill(f, kA, slot, Pattern(flow, kA, m));
      break;
    default:  // kReadBw: the responder's slot holds fresh data for every READ
      wr.opcode = WrOpcode::kRdmaRead;
      Fill(f, kB, slot, Pattern(flow, kB, m));
      break;
  }
  wr.remote_addr = SlotAddr(f, kB, slot);
  wr.rkey = f.mr[kB]->rkey();
  ++messages_posted_;
  Post(kA, f.qp[kA], wr);
}

void PerfSession::PostBwRecv(size_t flow) {
  Flow& f = flows_[flow];
  const uint64_t r = f.recv_posted++;
  const uint64_t slot = r % slots_;
  PostRecv(kB, f.qp[kB], WrId(flow, r), SlotAddr(f, kB, slot), static_cast<uint32_t>(size_),
           f.mr[kB]->lkey());
}

void PerfSession::OnBwCompletion(int side, bool recv, const WorkCompletion& wc) {
  const size_t flow = WrFlow(wc.wr_id);
  const uint64_t m = WrMessage(wc.wr_id);
  Flow& f = flows_[flow];
  const uint64_t slot = m % slots_;
  if (side == kB && recv) {  // send_bw: a message arrived
    if (m != f.recv_completed) {
      Fail(
          absl::StrFormat("receive completions out of order on QP pair %d: expected message "
                          "%d, got %d",
                          flow, f.recv_completed, m));
      return;
    }
    Check(f, kB, slot, Pattern(flow, kA, m), wc.byte_len);
    ++f.recv_completed;
    if (f.recv_posted < options_.iters) PostBwRecv(flow);
    return;
  }
  if (side != kA || recv) {
    Fail(absl::StrCat("unexpected completion: ", DescribeCompletion(side, wc)));
    return;
  }
  if (m != f.completed) {
    Fail(
        absl::StrFormat("send completions out of order on QP pair %d: expected message %d, "
                        "got %d",
                        flow, f.completed, m));
    return;
  }
  switch (options_.test) {
    case PerfTest::kWriteBw:
      // An acknowledged WRITE has been placed: check it before the slot is reused.
      Check(f, kB, slot, Pattern(flow, kA, m), size_);
      break;
    case PerfTest::kReadBw:
      Check(f, kA, slot, Pattern(flow, kB, m), wc.byte_len);
      break;
    default:  // kSendBw: checked at the receive completion
      break;
  }
  ++f.completed;
  ++messages_completed_;
  last_completion_ = sim_.now();
  peak_->OnCompletion(last_completion_);
  if (f.posted < options_.iters) PostBwMessage(flow);
}

// --- latency tests --------------------------------------------------------------------

void PerfSession::StartLat() {
  total_messages_ = options_.iters;
  if (options_.test != PerfTest::kReadLat) {
    PostLatRecv(kA, 0);
    PostLatRecv(kB, 0);
    PostPing(0);
  } else {
    PostRead(0);
  }
}

void PerfSession::PostLatRecv(int side, uint64_t i) {
  Flow& f = flows_[0];
  // WRITE_WITH_IMM consumes a receive but places nothing in it.
  const bool write = options_.test == PerfTest::kWriteLat;
  PostRecv(side, f.qp[side], WrId(0, i), write ? 0 : SlotAddr(f, side, kLatTargetSlot),
           write ? 0 : static_cast<uint32_t>(size_), f.mr[side]->lkey());
}

// The ping (A -> B, iteration i) and pong (B -> A) of send_lat and write_lat.
void PerfSession::PostPing(uint64_t i) {
  if (PostLatMessage(kA, i)) {
    ++ping_posted_;
    ++messages_posted_;
    ping_time_ = sim_.now();
  }
}

void PerfSession::PostPong(uint64_t i) { PostLatMessage(kB, i); }

bool PerfSession::PostLatMessage(int side, uint64_t i) {
  const uint64_t slot = i % kLatSendSlots;
  if (send_busy_[side][slot]) {  // its previous send awaits its ACK
    deferred_[side] = i;
    return false;
  }
  Flow& f = flows_[0];
  const int peer = 1 - side;
  send_busy_[side][slot] = true;
  Fill(f, side, slot, Pattern(0, side, i));
  const Sge sge{SlotAddr(f, side, slot), static_cast<uint32_t>(size_), f.mr[side]->lkey()};
  SendWr wr;
  wr.wr_id = WrId(0, i);
  wr.send_flags = kSendSignaled;
  wr.sg_list = {&sge, 1};
  if (options_.test == PerfTest::kWriteLat) {
    wr.opcode = WrOpcode::kRdmaWriteWithImm;
    wr.imm_data = static_cast<uint32_t>(i);
    wr.remote_addr = SlotAddr(f, peer, kLatTargetSlot);
    wr.rkey = f.mr[peer]->rkey();
  } else {
    wr.opcode = WrOpcode::kSend;
  }
  Post(side, f.qp[side], wr);
  return true;
}

void PerfSession::PostRead(uint64_t i) {
  Flow& f = flows_[0];
  // Fresh responder data for every READ, so a stale response shows.
  Fill(f, kB, 0, Pattern(0, kB, i));
  const Sge sge{SlotAddr(f, kA, kLatTargetSlot), static_cast<uint32_t>(size_), f.mr[kA]->lkey()};
  SendWr wr;
  wr.wr_id = WrId(0, i);
  wr.opcode = WrOpcode::kRdmaRead;
  wr.send_flags = kSendSignaled;
  wr.sg_list = {&sge, 1};
  wr.remote_addr = SlotAddr(f, kB, 0);
  wr.rkey = f.mr[kB]->rkey();
  ++ping_posted_;
  ++messages_posted_;
  ping_time_ = sim_.now();
  Post(kA, f.qp[kA], wr);
}

void PerfSession::OnLatCompletion(int side, bool recv, const WorkCompletion& wc) {
  Flow& f = flows_[0];
  const uint64_t i = WrMessage(wc.wr_id);
  const uint64_t expected = recv ? recv_done_[side] : send_done_[side];
  if (i != expected) {
    Fail(absl::StrFormat("host %c: %s completions out of order: expected iteration %d, got %d",
                         'A' + side, recv ? "receive" : "send", expected, i));
    return;
  }
  auto record_sample = [&](Duration d) {
    samples_usec_.push_back(d.microseconds());
    ++messages_completed_;
    last_completion_ = sim_.now();
    peak_->OnCompletion(last_completion_);
  };
  if (options_.test == PerfTest::kReadLat) {
    ++send_done_[kA];
    Check(f, kA, kLatTargetSlot, Pattern(0, kB, i), wc.byte_len);
    record_sample(sim_.now() - ping_time_);
    if (ping_posted_ < options_.iters) PostRead(ping_posted_);
    return;
  }
  if (!recv) {  // a ping or pong left: its slot is free again
    ++send_done_[side];
    send_busy_[side][i % kLatSendSlots] = false;
    const uint64_t deferred = deferred_[side];
    if (deferred != UINT64_MAX && deferred % kLatSendSlots == i % kLatSendSlots) {
      deferred_[side] = UINT64_MAX;
      if (side == kA) {
        PostPing(deferred);
      } else {
        PostPong(deferred);
      }
    }
    return;
  }
  if (options_.test == PerfTest::kWriteLat &&
      (!wc.has_imm || wc.imm_data != static_cast<uint32_t>(i))) {
    Fail(absl::StrFormat(
        "host %c: WRITE_WITH_IMM completion %d carries %s", 'A' + side, i,
        wc.has_imm ? absl::StrFormat("immediate %u", wc.imm_data) : std::string("no immediate")));
    return;
  }
  ++recv_done_[side];
  // The message from the other side arrived in the target slot.
  Check(f, side, kLatTargetSlot, Pattern(0, 1 - side, i), wc.byte_len);
  if (recv_done_[side] < options_.iters) PostLatRecv(side, recv_done_[side]);
  if (side == kB) {
    PostPong(i);
    return;
  }
  record_sample((sim_.now() - ping_time_) / 2);
  if (ping_posted_ < options_.iters) PostPing(ping_posted_);
}

// --- the run ------------------------------------------------------------------------

Duration PerfSession::VirtualBudget() const {
  // The ideal time: the payload at the bottleneck rate (host NIC, the paths a
  // QP can use, or the pacing the congestion control starts with), or at
  // what the window lets through per round trip, whichever is slower; plus a
  // round trip per iteration for latency tests. Generous on purpose: the
  // budget only has to catch a run that no longer progresses.
  const sim::MultipathWireConfig& w = wire_->config();
  const uint32_t usable_paths = options_.path_policy == PathPolicy::kSinglePath
                                    ? 1u
                                    : std::min<uint32_t>(options_.paths, w.paths);
  double rate_bps = std::min(options_.line_rate_gbps * 1e9,
                             static_cast<double>(w.rate.bits_per_second()) * usable_paths);
  double window_bytes = static_cast<double>(slots_ * size_);
  CcContext cc_context;
  cc_context.line_rate = Bandwidth::Gbps(options_.line_rate_gbps);
  cc_context.mtu_bytes = options_.mtu;
  cc_context.base_rtt = options_.base_rtt;
  if (auto cc = CreateCongestionControl(options_.cc, cc_context); cc.ok()) {
    const Bandwidth pacing = (*cc)->pacing_rate();
    if (!pacing.IsUnlimited()) {
      rate_bps = std::min(rate_bps, static_cast<double>(pacing.bits_per_second()));
    }
    window_bytes = std::min(window_bytes, static_cast<double>((*cc)->window_bytes()));
  }
  const double rtt = 2 * (w.delay + w.reorder + w.jitter).seconds() +
                     2 * static_cast<double>(options_.mtu) * 8 / rate_bps;
  const bool ping_pong =
      options_.test == PerfTest::kSendLat || options_.test == PerfTest::kWriteLat;
  const double bits =
      static_cast<double>(total_messages_) * (ping_pong ? 2 : 1) * static_cast<double>(size_) * 8;
  const double window_bps = static_cast<double>(flows_.size()) * window_bytes * 8 / rtt;
  double ideal = bits / std::min(rate_bps, window_bps);
  ideal += rtt * (latency_test_ ? static_cast<double>(options_.iters) : 1.0);
  return Duration::Seconds(10 * ideal + 1);
}

std::string PerfSession::DescribeQps() const {
  std::string out;
  for (size_t i = 0; i < flows_.size(); ++i) {
    const Flow& f = flows_[i];
    const bool done = latency_test_ ? Done() : f.completed == options_.iters;
    if (done) continue;
    absl::StrAppend(
        &out, absl::StrFormat("; QP pair %d: %d/%d completed, A {%s}, B {%s}", i,
                              latency_test_ ? messages_completed_ : f.completed, options_.iters,
                              f.qp[kA]->DebugState(), f.qp[kB]->DebugState()));
    break;  // the first stuck pair is enough to start from
  }
  return out;
}

PerfResult PerfSession::Run() {
  const auto wall_start = std::chrono::steady_clock::now();
  auto wall_seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  };
  start_ = sim_.now();
  last_completion_ = start_;
  total_messages_ = latency_test_ ? options_.iters : options_.iters * flows_.size();
  peak_ = std::make_unique<PeakRateTracker>(
      start_, PeakWindow(total_messages_, uint64_t{options_.qps} * slots_), size_);
  if (latency_test_) {
    samples_usec_.reserve(options_.iters);
    StartLat();
  } else {
    StartBw();
  }
  KickHosts();
  const Time deadline = start_ + VirtualBudget();
  double last_progress = 0;
  uint64_t steps = 0;
  while (!failed_) {
    PollAll();
    if (failed_ || Done()) break;
    const Time next = sim_.NextEventTime();
    if (next.IsInfinite()) {
      Fail(absl::StrFormat("stalled: no simulator event left at %s with %d/%d messages completed%s",
                           (sim_.now() - start_).ToString(), messages_completed_, total_messages_,
                           DescribeQps()));
      break;
    }
    if (next > deadline) {
      Fail(absl::StrFormat(
          "stalled: virtual-time budget of %s (10x the ideal + 1 s) exceeded "
          "with %d/%d messages completed%s",
          (deadline - start_).ToString(), messages_completed_, total_messages_, DescribeQps()));
      break;
    }
    sim_.Step();
    if (progress_ && (++steps & 4095) == 0) {
      const double now = wall_seconds();
      if (now - last_progress >= 1.0) {
        last_progress = now;
        progress_(PerfProgress{size_, messages_completed_, total_messages_,
                               (sim_.now() - start_).seconds(), now});
      }
    }
  }

  PerfResult result;
  result.test = options_.test;
  result.bytes = size_;
  result.iterations = options_.iters - options_.warmup;  // the measured ones
  result.qps = flows_.size();
  result.mtu = options_.mtu;
  result.ok = !failed_;
  result.failure = failure_;
  const double elapsed = (last_completion_ - start_).seconds();
  if (elapsed > 0) {
    const double completed = static_cast<double>(messages_completed_);
    result.bw_avg_gbps = completed * static_cast<double>(size_) * 8 / elapsed / 1e9;
    result.msg_rate_mpps = completed / elapsed / 1e6;
  }
  result.bw_peak_gbps = peak_->peak_gbps();
  result.peak_window = peak_->window();
  if (latency_test_) {
    result.has_latency = true;
    result.latency = ComputeLatencyStats(std::move(samples_usec_), options_.warmup);
  }
  result.messages_posted = messages_posted_;
  result.messages_completed = messages_completed_;
  result.bytes_verified = bytes_verified_;
  result.data_errors = data_errors_;
  result.virtual_seconds = (failed_ ? sim_.now() - start_ : last_completion_ - start_).seconds();
  FillCounters(result);
  for (const auto& [name, value] : result.counters) {
    if (name == "retransmitted_packets") result.retransmitted_packets = value;
    if (name == "local_ack_timeout_err") result.timeouts = value;
  }
  result.wall_seconds = wall_seconds();
  return result;
}

void PerfSession::FillCounters(PerfResult& result) const {
  std::vector<const QueuePair*> qps;
  for (const Flow& f : flows_) {
    for (int side : {kA, kB}) qps.push_back(f.qp[side]);
  }
  result.counters.clear();
  AppendQpCounters(qps, &result.counters);
  uint64_t cq_overruns = 0;
  for (int side : {kA, kB}) {
    cq_overruns += send_cq_[side]->overruns() + recv_cq_[side]->overruns();
  }
  auto& out = result.counters;
  out.emplace_back("cq_overruns", cq_overruns);
  std::vector<std::pair<std::string, uint64_t>> contexts;
  for (int side : {kA, kB}) {
    std::vector<std::pair<std::string, uint64_t>> one;
    AppendContextCounters(*ctx_[side], &one);
    SumCounters(one, &contexts);
  }
  out.insert(out.end(), contexts.begin(), contexts.end());
  sim::SimHostCounters host;
  for (int side : {kA, kB}) {
    host.frames_sent += host_[side]->counters().frames_sent;
    host.bytes_sent += host_[side]->counters().bytes_sent;
    host.wakeups += host_[side]->counters().wakeups;
    host.guard_wakeups += host_[side]->counters().guard_wakeups;
  }
  out.emplace_back("host_frames_sent", host.frames_sent);
  out.emplace_back("host_bytes_sent", host.bytes_sent);
  out.emplace_back("host_wakeups", host.wakeups);
  out.emplace_back("host_guard_wakeups", host.guard_wakeups);
  const sim::LinkCounters w = wire_->counters();
  out.emplace_back("wire_frames_offered", w.frames_offered);
  out.emplace_back("wire_frames_delivered", w.frames_delivered);
  out.emplace_back("wire_bytes_delivered", w.bytes_delivered);
  out.emplace_back("wire_dropped_loss", w.dropped_loss);
  out.emplace_back("wire_dropped_queue_full", w.dropped_queue_full);
  out.emplace_back("wire_dropped_blackhole", w.dropped_blackhole);
  out.emplace_back("wire_duplicated", w.duplicated);
  out.emplace_back("wire_corrupted", w.corrupted);
  out.emplace_back("wire_trimmed", w.trimmed);
  out.emplace_back("wire_ecn_marked", w.ecn_marked);
  out.emplace_back("wire_max_queue_bytes", w.max_queue_bytes);
  out.emplace_back("sim_events", sim_.events_processed());
  out.emplace_back("sim_late_schedules", sim_.late_schedules());
}

}  // namespace

absl::StatusOr<PerfResult> RunPerfTest(const PerfOptions& options, uint64_t size,
                                       const ProgressFn& progress) {
  if (size < 1 || size > kMaxMessageSize) {
    return absl::InvalidArgumentError(absl::StrFormat("message size %d outside 1..1G", size));
  }
  const auto wall_start = std::chrono::steady_clock::now();
  PerfSession session(options, size, progress);
  if (absl::Status s = session.SetUp(); !s.ok()) return s;
  PerfResult result = session.Run();
  // Set-up included: what the user waits for.
  result.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return result;
}

}  // namespace tern::perf
