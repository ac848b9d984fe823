#include "apps/perf_endpoint.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_format.h"
#include "dataplane/sim/simulator.h"
#include "transport/random.h"

namespace tern::perf {
namespace {

// Responder buffers for write_bw --verify: every message gets its own target
// while they fit in this much, so all of them can be checked at the end.
constexpr uint64_t kVerifyTargetBytes = uint64_t{256} << 20;

// Latency tests: two send slots (a send never waits for its own ACK) and one
// target slot (receive buffer, WRITE target, READ source/target).
constexpr uint64_t kLatSendSlots = 2;
constexpr uint64_t kLatTargetSlot = 2;
constexpr uint64_t kLatSlots = 3;

// Without --verify, a QP's messages cycle over one page of buffer, as
// perftest's cycle buffer does (max(size, page) bytes per QP): 1000 QPs with a
// 4 KiB slot per outstanding message would put 64 MiB a side through the CPU
// caches, which a NIC's DMA does not pay and perftest does not measure.
// --verify needs every outstanding message in its own slot.
constexpr uint64_t kCycleBufferBytes = 4096;

uint64_t WrId(size_t flow, uint64_t message) { return uint64_t{flow} << 32 | message; }
size_t WrFlow(uint64_t wr_id) { return static_cast<size_t>(wr_id >> 32); }
uint64_t WrMessage(uint64_t wr_id) { return wr_id & 0xFFFFFFFFu; }

}  // namespace

PerfEndpoint::PerfEndpoint(const PerfOptions& options, uint64_t size, bool requester,
                           Context& context, BufferAllocator allocator)
    : options_(WithWarmupIterations(options)),
      size_(size),
      requester_(requester),
      latency_test_(IsLatencyTest(options.test)),
      context_(context),
      allocator_(allocator) {}

absl::Status PerfEndpoint::SetUp() {
  const uint32_t qps = latency_test_ ? 1 : options_.qps;
  const uint64_t slots = latency_test_ ? kLatSlots : options_.SlotsPerQp();
  pd_ = context_.AllocPd();
  const size_t cq_capacity = qps * (slots + 4);
  absl::StatusOr<CompletionQueue*> send_cq = context_.CreateCq(cq_capacity);
  if (!send_cq.ok()) return send_cq.status();
  absl::StatusOr<CompletionQueue*> recv_cq = context_.CreateCq(cq_capacity);
  if (!recv_cq.ok()) return recv_cq.status();
  send_cq_ = *send_cq;
  recv_cq_ = *recv_cq;

  QpInitAttr attr;
  attr.send_cq = send_cq_;
  attr.recv_cq = recv_cq_;
  attr.cap.max_send_wr = static_cast<uint32_t>(std::max<uint64_t>(slots, 4));
  attr.cap.max_recv_wr = attr.cap.max_send_wr;
  attr.cap.max_send_sge = 1;
  attr.cap.max_recv_sge = 1;
  attr.cap.max_inline_data = 0;
  attr.transport = PerfTransportOptions(options_, Bandwidth::Gbps(options_.line_rate_gbps));
  flows_.resize(qps);
  for (Flow& f : flows_) {
    absl::StatusOr<QueuePair*> qp = context_.CreateQp(pd_, attr);
    if (!qp.ok()) return qp.status();
    f.qp = *qp;
    QpInitStateAttr init;
    init.access = kAccessRemoteWrite | kAccessRemoteRead;
    if (absl::Status s = f.qp->ToInit(init); !s.ok()) return s;
    f.slots = slots;
    f.buffer_slots = slots;
    if (!requester_ && options_.test == PerfTest::kWriteBw && options_.verify) {
      // Distinct targets so that every message can be checked at the end.
      f.buffer_slots =
          std::min<uint64_t>(options_.iters, std::max<uint64_t>(slots, kVerifyTargetBytes / size_));
    } else if (!latency_test_ && !options_.verify) {
      f.buffer_slots = std::clamp<uint64_t>(kCycleBufferBytes / size_, 1, slots);
    }
    const uint64_t bytes = f.buffer_slots * size_;
    f.buffer = AllocateBuffer(bytes, allocator_);
    if (f.buffer == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("cannot allocate %d bytes of message buffers", bytes));
    }
    absl::StatusOr<MemoryRegion*> mr = pd_->RegisterMemory(
        f.buffer.get(), bytes, kAccessLocalWrite | kAccessRemoteWrite | kAccessRemoteRead);
    if (!mr.ok()) return mr.status();
    f.mr = *mr;
  }
  return absl::OkStatus();
}

std::vector<control::QpSetup> PerfEndpoint::LocalQps() const {
  // PSNs from the seed and the side, as the simulated run draws them.
  Random rng(sim::DeriveSeed(options_.seed, requester_ ? 0x2000 : 0x2001));
  std::vector<control::QpSetup> out;
  for (const Flow& f : flows_) {
    out.push_back({f.qp->qp_num(), static_cast<uint32_t>(rng.Next()) & 0xFFFFFF, f.mr->addr(),
                   f.mr->length(), f.mr->rkey()});
  }
  return out;
}

absl::Status PerfEndpoint::Connect(std::span<const control::QpSetup> peer,
                                   const Endpoint& peer_endpoint) {
  if (peer.size() != flows_.size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the peer has %d QPs, this side %d", peer.size(), flows_.size()));
  }
  const std::vector<control::QpSetup> local = LocalQps();
  for (size_t i = 0; i < flows_.size(); ++i) {
    Flow& f = flows_[i];
    if (peer[i].length < size_) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the peer's buffer of QP 0x%x holds %d bytes, less than one %d-byte message",
          peer[i].qp_num, peer[i].length, size_));
    }
    f.peer = peer[i];
    QpRtrAttr rtr;
    rtr.dest_qp_num = peer[i].qp_num;
    rtr.rq_psn = peer[i].psn;
    rtr.remote = peer_endpoint;
    rtr.path_mtu = options_.mtu;
    if (absl::Status s = f.qp->ToRtr(rtr); !s.ok()) return s;
    QpRtsAttr rts;
    rts.sq_psn = local[i].psn;
    rts.retry_cnt = options_.retry_cnt;
    if (absl::Status s = f.qp->ToRts(rts); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<QueuePair*> PerfEndpoint::qps() const {
  std::vector<QueuePair*> out;
  for (const Flow& f : flows_) out.push_back(f.qp);
  return out;
}

void PerfEndpoint::Fail(std::string why) {
  if (failed_) return;
  failed_ = true;
  failure_ = absl::StrFormat("%s: %s", requester_ ? "client" : "server", why);
}

void PerfEndpoint::PostSend(Flow& f, const SendWr& wr) {
  if (absl::Status s = f.qp->PostSend(wr); !s.ok()) {
    Fail(absl::StrFormat("post_send of wr_id 0x%x failed: %s", wr.wr_id, s.ToString()));
  }
}

void PerfEndpoint::PostRecv(Flow& f, uint64_t wr_id, uint64_t addr, uint32_t length) {
  const Sge sge{addr, length, f.mr->lkey()};
  RecvWr wr;
  wr.wr_id = wr_id;
  if (length > 0) wr.sg_list = {&sge, 1};
  if (absl::Status s = f.qp->PostRecv(wr); !s.ok()) {
    Fail(absl::StrFormat("post_recv of wr_id 0x%x failed: %s", wr_id, s.ToString()));
  }
}

void PerfEndpoint::Check(Flow& f, uint64_t slot, uint64_t base, uint64_t byte_len) {
  if (byte_len != size_) data_errors_ += byte_len < size_ ? size_ - byte_len : byte_len - size_;
  if (!options_.verify) return;
  const uint64_t n = std::min(byte_len, size_);
  data_errors_ += CountPatternErrors(SlotPtr(f, slot), n, base);
  bytes_verified_ += n;
}

void PerfEndpoint::Completed(Time now) {
  ++messages_completed_;
  last_completion_ = now;
  peak_->OnCompletion(now);
}

// --- start, poll, done -------------------------------------------------------------

void PerfEndpoint::Start(Time now) {
  start_ = now;
  last_completion_ = now;
  total_messages_ = latency_test_ ? options_.iters : options_.iters * flows_.size();
  peak_ = std::make_unique<PeakRateTracker>(
      now, PeakWindow(total_messages_, flows_.size() * flows_[0].slots), size_);
  if (latency_test_) samples_usec_.reserve(options_.iters);
  for (size_t i = 0; i < flows_.size(); ++i) {
    Flow& f = flows_[i];
    switch (options_.test) {
      case PerfTest::kSendBw:
        if (!requester_) {
          while (f.recv_posted < std::min(f.slots, options_.iters)) {
            PostRecv(f, WrId(i, f.recv_posted), SlotAddr(f, f.recv_posted),
                     static_cast<uint32_t>(size_));
            ++f.recv_posted;
          }
        }
        break;
      case PerfTest::kReadBw:
        // READ sources hold a fixed pattern per slot.
        if (!requester_) {
          for (uint64_t s = 0; s < f.buffer_slots; ++s)
            FillPattern(SlotPtr(f, s), size_, Pattern(i, 1, s));
        }
        break;
      case PerfTest::kReadLat:
        if (!requester_) FillPattern(SlotPtr(f, 0), size_, Pattern(0, 1, 0));
        break;
      case PerfTest::kSendLat:
      case PerfTest::kWriteLat: {
        const bool write = options_.test == PerfTest::kWriteLat;
        PostRecv(f, WrId(0, 0), write ? 0 : SlotAddr(f, kLatTargetSlot),
                 write ? 0 : static_cast<uint32_t>(size_));
        ++f.recv_posted;
        break;
      }
      default:
        break;
    }
  }
  if (!requester_) return;
  if (latency_test_) {
    PostLatMessage(0, now);
    return;
  }
  for (size_t i = 0; i < flows_.size(); ++i) {
    while (flows_[i].posted < std::min(flows_[i].slots, options_.iters) && !failed_) {
      PostBwMessage(i);
    }
  }
}

void PerfEndpoint::Poll(Time now) {
  for (bool recv : {false, true}) {
    CompletionQueue* cq = recv ? recv_cq_ : send_cq_;
    while (cq->size() > 0 && !failed_) {
      const size_t n = cq->Poll(completions_);
      for (size_t i = 0; i < n && !failed_; ++i) OnCompletion(recv, completions_[i], now);
    }
  }
}

void PerfEndpoint::OnCompletion(bool recv, const WorkCompletion& wc, Time now) {
  if (wc.status != WcStatus::kSuccess || WrFlow(wc.wr_id) >= flows_.size()) {
    const Flow* f = WrFlow(wc.wr_id) < flows_.size() ? &flows_[WrFlow(wc.wr_id)] : nullptr;
    Fail(absl::StrFormat("QP 0x%x: %s completion with status %s, wr_id 0x%x; QP state %s %s",
                         wc.qp_num, WcOpcodeName(wc.opcode), WcStatusName(wc.status), wc.wr_id,
                         f ? QpStateName(f->qp->state()) : "?",
                         f ? f->qp->error_reason() : std::string()));
    return;
  }
  if (latency_test_) {
    OnLatCompletion(recv, wc, now);
  } else {
    OnBwCompletion(recv, wc, now);
  }
}

bool PerfEndpoint::done() const {
  if (failed_) return true;
  if (requester_) return total_messages_ > 0 && messages_completed_ == total_messages_;
  switch (options_.test) {
    case PerfTest::kSendBw:
      return std::all_of(flows_.begin(), flows_.end(),
                         [&](const Flow& f) { return f.recv_completed == options_.iters; });
    case PerfTest::kSendLat:
    case PerfTest::kWriteLat:
      return sends_completed_ == options_.iters;
    default:  // the responder of WRITEs and READs only serves
      return true;
  }
}

std::string PerfEndpoint::DescribeProgress() const {
  for (const Flow& f : flows_) {
    const uint64_t done = requester_ ? f.completed : f.recv_completed;
    if (!latency_test_ && done == options_.iters) continue;
    return absl::StrFormat("%s QP 0x%x: %d posted, %d completed, %d received; %s",
                           requester_ ? "client" : "server", f.qp->qp_num(), f.posted, f.completed,
                           f.recv_completed, f.qp->DebugState());
  }
  return "";
}

void PerfEndpoint::FinalCheck() {
  if (requester_ || options_.test != PerfTest::kWriteBw || !options_.verify) return;
  for (size_t i = 0; i < flows_.size(); ++i) {
    Flow& f = flows_[i];
    // The last message written into each target slot is still there.
    const uint64_t first = options_.iters > f.buffer_slots ? options_.iters - f.buffer_slots : 0;
    for (uint64_t m = first; m < options_.iters; ++m) Check(f, m, Pattern(i, 0, m), size_);
  }
}

// --- bandwidth tests ----------------------------------------------------------------

void PerfEndpoint::PostBwMessage(size_t flow) {
  Flow& f = flows_[flow];
  const uint64_t m = f.posted++;
  const Sge sge{SlotAddr(f, m), static_cast<uint32_t>(size_), f.mr->lkey()};
  SendWr wr;
  wr.wr_id = WrId(flow, m);
  wr.send_flags = kSendSignaled;
  wr.sg_list = {&sge, 1};
  wr.rkey = f.peer.rkey;
  wr.remote_addr = PeerSlotAddr(f, m);
  switch (options_.test) {
    case PerfTest::kSendBw:
      wr.opcode = WrOpcode::kSend;
      if (options_.verify) FillPattern(SlotPtr(f, m), size_, Pattern(flow, 0, m));
      break;
    case PerfTest::kWriteBw:
      wr.opcode = WrOpcode::kRdmaWrite;
      if (options_.verify) FillPattern(SlotPtr(f, m), size_, Pattern(flow, 0, m));
      break;
    default:
      wr.opcode = WrOpcode::kRdmaRead;
      break;
  }
  PostSend(f, wr);
}

void PerfEndpoint::OnBwCompletion(bool recv, const WorkCompletion& wc, Time now) {
  const size_t flow = WrFlow(wc.wr_id);
  const uint64_t m = WrMessage(wc.wr_id);
  Flow& f = flows_[flow];
  if (recv) {  // responder of send_bw: a message arrived
    if (m != f.recv_completed) {
      Fail(absl::StrFormat("receive completions out of order: expected %d, got %d",
                           f.recv_completed, m));
      return;
    }
    Check(f, m, Pattern(flow, 0, m), wc.byte_len);
    ++f.recv_completed;
    if (f.recv_posted < options_.iters) {
      PostRecv(f, WrId(flow, f.recv_posted), SlotAddr(f, f.recv_posted),
               static_cast<uint32_t>(size_));
      ++f.recv_posted;
    }
    return;
  }
  if (!requester_ || m != f.completed) {
    Fail(absl::StrFormat("unexpected send completion of message %d (expected %d)", m, f.completed));
    return;
  }
  if (options_.test == PerfTest::kReadBw) {
    const uint64_t source_slot = m % (f.peer.length / size_);
    Check(f, m, Pattern(flow, 1, source_slot), wc.byte_len);
  }
  ++f.completed;
  Completed(now);
  if (f.posted < options_.iters) PostBwMessage(flow);
}

// --- latency tests --------------------------------------------------------------------

void PerfEndpoint::PostLatMessage(uint64_t i, Time now) {
  Flow& f = flows_[0];
  SendWr wr;
  wr.wr_id = WrId(0, i);
  wr.send_flags = kSendSignaled;
  if (options_.test == PerfTest::kReadLat) {
    const Sge sge{SlotAddr(f, kLatTargetSlot), static_cast<uint32_t>(size_), f.mr->lkey()};
    wr.opcode = WrOpcode::kRdmaRead;
    wr.sg_list = {&sge, 1};
    wr.remote_addr = PeerSlotAddr(f, 0);
    wr.rkey = f.peer.rkey;
    ping_time_ = now;
    PostSend(f, wr);
    return;
  }
  const uint64_t slot = i % kLatSendSlots;
  const int direction = requester_ ? 0 : 1;
  if (options_.verify) FillPattern(SlotPtr(f, slot), size_, Pattern(0, direction, i));
  const Sge sge{SlotAddr(f, slot), static_cast<uint32_t>(size_), f.mr->lkey()};
  wr.sg_list = {&sge, 1};
  if (options_.test == PerfTest::kWriteLat) {
    wr.opcode = WrOpcode::kRdmaWriteWithImm;
    wr.imm_data = static_cast<uint32_t>(i);
    wr.remote_addr = PeerSlotAddr(f, kLatTargetSlot);
    wr.rkey = f.peer.rkey;
  } else {
    wr.opcode = WrOpcode::kSend;
  }
  if (requester_) ping_time_ = now;
  PostSend(f, wr);
}

void PerfEndpoint::OnLatCompletion(bool recv, const WorkCompletion& wc, Time now) {
  Flow& f = flows_[0];
  const uint64_t i = WrMessage(wc.wr_id);
  if (options_.test == PerfTest::kReadLat) {
    Check(f, kLatTargetSlot, Pattern(0, 1, 0), wc.byte_len);
    samples_usec_.push_back((now - ping_time_).microseconds());
    Completed(now);
    if (++iteration_ < options_.iters) PostLatMessage(iteration_, now);
    return;
  }
  if (!recv) {
    ++sends_completed_;
    return;
  }
  if (i != f.recv_completed) {
    Fail(absl::StrFormat("receive completions out of order: expected %d, got %d", f.recv_completed,
                         i));
    return;
  }
  if (options_.test == PerfTest::kWriteLat &&
      (!wc.has_imm || wc.imm_data != static_cast<uint32_t>(i))) {
    Fail(absl::StrFormat("WRITE_WITH_IMM completion %d carries no or the wrong immediate", i));
    return;
  }
  ++f.recv_completed;
  Check(f, kLatTargetSlot, Pattern(0, requester_ ? 1 : 0, i), wc.byte_len);
  const bool write = options_.test == PerfTest::kWriteLat;
  if (f.recv_posted < options_.iters) {
    PostRecv(f, WrId(0, f.recv_posted), write ? 0 : SlotAddr(f, kLatTargetSlot),
             write ? 0 : static_cast<uint32_t>(size_));
    ++f.recv_posted;
  }
  if (!requester_) {
    PostLatMessage(i, now);  // the pong
    return;
  }
  samples_usec_.push_back((now - ping_time_).microseconds() / 2);
  Completed(now);
  if (++iteration_ < options_.iters) PostLatMessage(iteration_, now);
}

}  // namespace tern::perf
