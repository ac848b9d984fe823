// The verbs-like API objects and the context's driver side: demultiplexing
// received frames to connections and gathering what they want to send.
#include "transport/verbs.h"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstring>

#include "absl/strings/str_format.h"
#include "transport/connection.h"
#include "transport/path_selector.h"
#include "transport/random.h"

namespace tern {

const char* WcStatusName(WcStatus status) {
  switch (status) {
    case WcStatus::kSuccess:
      return "SUCCESS";
    case WcStatus::kLocLenErr:
      return "LOC_LEN_ERR";
    case WcStatus::kLocQpOpErr:
      return "LOC_QP_OP_ERR";
    case WcStatus::kLocProtErr:
      return "LOC_PROT_ERR";
    case WcStatus::kWrFlushErr:
      return "WR_FLUSH_ERR";
    case WcStatus::kRemAccessErr:
      return "REM_ACCESS_ERR";
    case WcStatus::kRemInvReqErr:
      return "REM_INV_REQ_ERR";
    case WcStatus::kRetryExcErr:
      return "RETRY_EXC_ERR";
    case WcStatus::kRnrRetryExcErr:
      return "RNR_RETRY_EXC_ERR";
  }
  return "UNKNOWN";
}

const char* WcOpcodeName(WcOpcode opcode) {
  switch (opcode) {
    case WcOpcode::kSend:
      return "SEND";
    case WcOpcode::kRdmaWrite:
      return "RDMA_WRITE";
    case WcOpcode::kRdmaRead:
      return "RDMA_READ";
    case WcOpcode::kRecv:
      return "RECV";
    case WcOpcode::kRecvRdmaWithImm:
      return "RECV_RDMA_WITH_IMM";
  }
  return "UNKNOWN";
}

namespace {

constexpr QpCounterField kQpCounterFields[] = {
    {"data_packets_sent", &QpCounters::data_packets_sent},
    {"data_bytes_sent", &QpCounters::data_bytes_sent},
    {"retransmitted_packets", &QpCounters::retransmitted_packets},
    {"retransmitted_bytes", &QpCounters::retransmitted_bytes},
    {"retransmits_loss_detected", &QpCounters::retransmits_loss_detected},
    {"retransmits_timeout", &QpCounters::retransmits_timeout},
    {"retransmits_trim", &QpCounters::retransmits_trim},
    {"retransmits_rnr", &QpCounters::retransmits_rnr},
    {"tail_probes", &QpCounters::tail_probes},
    {"local_ack_timeout_err", &QpCounters::local_ack_timeout_err},
    {"spurious_loss_marks", &QpCounters::spurious_loss_marks},
    {"entropy_changes", &QpCounters::entropy_changes},
    {"acks_sent", &QpCounters::acks_sent},
    {"acks_received", &QpCounters::acks_received},
    {"nacks_sent", &QpCounters::nacks_sent},
    {"nacks_received", &QpCounters::nacks_received},
    {"data_packets_received", &QpCounters::data_packets_received},
    {"duplicate_packets", &QpCounters::duplicate_packets},
    {"out_of_sequence", &QpCounters::out_of_sequence},
    {"packet_seq_err", &QpCounters::packet_seq_err},
    {"trimmed_received", &QpCounters::trimmed_received},
    {"rnr_nak_sent", &QpCounters::rnr_nak_sent},
    {"rnr_nak_received", &QpCounters::rnr_nak_received},
    {"ce_marked_received", &QpCounters::ce_marked_received},
    {"window_limited", &QpCounters::window_limited},
    {"np_cnp_sent", &QpCounters::np_cnp_sent},
    {"rp_cnp_handled", &QpCounters::rp_cnp_handled},
    {"cc_path_avoids", &QpCounters::cc_path_avoids},
    {"nacks_dropped", &QpCounters::nacks_dropped},
    {"ignored_in_state", &QpCounters::ignored_in_state},
    {"stale_nacks", &QpCounters::stale_nacks},
    {"pulls_granted", &QpCounters::pulls_granted},
    {"pull_acks_repeated", &QpCounters::pull_acks_repeated},
};
// A field added to QpCounters and not listed above fails here.
static_assert(sizeof(QpCounters) == std::size(kQpCounterFields) * sizeof(uint64_t));

}  // namespace

std::span<const QpCounterField> QpCounterFields() { return kQpCounterFields; }

QpCounters& QpCounters::operator+=(const QpCounters& other) {
  for (const QpCounterField& f : kQpCounterFields) this->*f.member += other.*f.member;
  return *this;
}

QpCounters& QpCounters::operator-=(const QpCounters& other) {
  for (const QpCounterField& f : kQpCounterFields) this->*f.member -= other.*f.member;
  return *this;
}

const char* QpStateName(QpState state) {
  switch (state) {
    case QpState::kReset:
      return "RESET";
    case QpState::kInit:
      return "INIT";
    case QpState::kRtr:
      return "RTR";
    case QpState::kRts:
      return "RTS";
    case QpState::kErr:
      return "ERR";
  }
  return "UNKNOWN";
}

const char* PathPolicyName(PathPolicy policy) {
  switch (policy) {
    case PathPolicy::kSinglePath:
      return "single";
    case PathPolicy::kOblivious:
      return "oblivious";
    case PathPolicy::kWeighted:
      return "weighted";
    case PathPolicy::kRecycled:
      return "recycled";
  }
  return "unknown";
}

std::optional<PathPolicy> ParsePathPolicy(std::string_view name) {
  for (const PathPolicy policy : kPathPolicies) {
    if (name == PathPolicyName(policy)) return policy;
  }
  return std::nullopt;
}

std::string PathPolicyNames() {
  std::string names;
  for (const PathPolicy policy : kPathPolicies) {
    if (!names.empty()) names += '|';
    names += PathPolicyName(policy);
  }
  return names;
}

// --- memory regions -------------------------------------------------------------

absl::StatusOr<MemoryRegion*> ProtectionDomain::RegisterMemory(void* addr, uint64_t length,
                                                               uint32_t access) {
  const auto base = reinterpret_cast<uint64_t>(addr);
  if (addr == nullptr && length > 0) return absl::InvalidArgumentError("null address");
  if (base + length < base) return absl::InvalidArgumentError("region wraps the address space");
  if ((access & ~(kAccessLocalWrite | kAccessRemoteWrite | kAccessRemoteRead)) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat("unknown access flags 0x%x", access));
  }
  if ((access & kAccessRemoteWrite) != 0 && (access & kAccessLocalWrite) == 0) {
    // As in ibverbs: remote write without local write is refused.
    return absl::InvalidArgumentError("REMOTE_WRITE requires LOCAL_WRITE");
  }
  auto mr = std::unique_ptr<MemoryRegion>(new MemoryRegion());
  mr->addr_ = base;
  mr->length_ = length;
  mr->access_ = access;
  mr->pd_ = this;
  // Keys are not guessable from each other: the low byte is a per-registration
  // tag, as NICs do, so a stale key does not alias a new region.
  // The index is the key's top 24 bits; past them keys would alias.
  if (context_->next_key_ >= (1u << 24)) {
    return absl::ResourceExhaustedError("memory-region keys exhausted (2^24 registrations)");
  }
  const uint32_t index = context_->next_key_++;
  mr->lkey_ = (index << 8) | (static_cast<uint32_t>(context_->rng_seed_ + index * 0x9Eu) & 0xFF);
  mr->rkey_ = mr->lkey_ ^ 0x80u;
  MemoryRegion* raw = mr.get();
  context_->regions_.push_back(std::move(mr));
  context_->region_indexes_.push_back(index);
  return raw;
}

absl::Status ProtectionDomain::DeregisterMemory(MemoryRegion* mr) {
  auto& regions = context_->regions_;
  auto it = std::find_if(regions.begin(), regions.end(),
                         [&](const std::unique_ptr<MemoryRegion>& r) { return r.get() == mr; });
  if (it == regions.end() || (*it)->pd_ != this) {
    return absl::NotFoundError("memory region not registered in this protection domain");
  }
  auto& indexes = context_->region_indexes_;
  indexes.erase(indexes.begin() + (it - regions.begin()));
  regions.erase(it);
  ++context_->region_generation_;
  return absl::OkStatus();
}

const MemoryRegion* Context::FindRegion(uint32_t key, bool remote_key) const {
  // Regions are appended in key-index order and leave in order, so
  // region_indexes_ is sorted by index (the key's top 24 bits): a binary
  // search per lookup, as a NIC would index a table by key.
  const auto it = std::lower_bound(region_indexes_.begin(), region_indexes_.end(), key >> 8);
  if (it == region_indexes_.end() || *it != key >> 8) return nullptr;
  const MemoryRegion* mr = regions_[static_cast<size_t>(it - region_indexes_.begin())].get();
  return (remote_key ? mr->rkey_ : mr->lkey_) == key ? mr : nullptr;
}

bool Context::FindRegionCached(uint32_t key, bool remote_key, RegionLookupCache& cache) const {
  if (cache.generation == region_generation_ && cache.key == key &&
      cache.remote_key == remote_key) {
    return true;
  }
  const MemoryRegion* mr = FindRegion(key, remote_key);
  if (mr == nullptr) return false;
  cache = {key, remote_key, region_generation_, mr->addr_, mr->length_, mr->access_, mr->pd_};
  return true;
}

// --- completion queues ----------------------------------------------------------

bool CompletionQueue::Push(const WorkCompletion& wc) {
  if (ring_.size() == capacity_) {
    ++overruns_;
    return false;
  }
  ring_.push_back(wc);
  return true;
}

size_t CompletionQueue::Poll(std::span<WorkCompletion> out) {
  size_t n = 0;
  while (n < out.size() && !ring_.empty()) {
    out[n++] = ring_.front();
    ring_.pop_front();
  }
  return n;
}

// --- queue pairs ----------------------------------------------------------------

QueuePair::QueuePair(Context* context, std::unique_ptr<Connection> connection,
                     TransmitSchedule::Slot schedule_slot)
    : context_(context), connection_(std::move(connection)), schedule_slot_(schedule_slot) {}
QueuePair::~QueuePair() = default;
uint32_t QueuePair::qp_num() const { return connection_->qp_num(); }
QpState QueuePair::state() const { return connection_->state(); }
const QpCounters& QueuePair::counters() const { return connection_->counters(); }
const std::string& QueuePair::error_reason() const { return connection_->error_reason(); }
void QueuePair::Reschedule() { context_->Reschedule(schedule_slot_, *connection_); }

absl::Status QueuePair::ToInit(const QpInitStateAttr& attr) {
  absl::Status status = connection_->ToInit(attr);
  Reschedule();
  return status;
}
absl::Status QueuePair::ToRtr(const QpRtrAttr& attr) {
  absl::Status status = connection_->ToRtr(attr);
  Reschedule();
  return status;
}
absl::Status QueuePair::ToRts(const QpRtsAttr& attr) {
  absl::Status status = connection_->ToRts(attr);
  Reschedule();
  return status;
}
absl::Status QueuePair::SetBaseRtt(Duration rtt) {
  absl::Status status = connection_->SetBaseRtt(rtt);
  Reschedule();
  return status;
}
absl::Status QueuePair::ToError() {
  absl::Status status = connection_->ToError();
  Reschedule();
  return status;
}
absl::Status QueuePair::PostSend(std::span<const SendWr> wrs, size_t* posted) {
  absl::Status status = connection_->PostSend(wrs, posted);
  Reschedule();
  return status;
}
absl::Status QueuePair::PostRecv(std::span<const RecvWr> wrs, size_t* posted) {
  // A receive can end an RNR wait at the peer only, but posting may also
  // complete or flush work here: the wakeup is recomputed either way.
  absl::Status status = connection_->PostRecv(wrs, posted);
  Reschedule();
  return status;
}
Time QueuePair::NextWakeup() const { return connection_->NextWakeup(); }
std::string QueuePair::DebugState() const { return connection_->DebugState(); }
std::string_view QueuePair::cc_name() const { return connection_->cc_name(); }
int QueuePair::CcVariables(std::span<CcVariable, kMaxCcVariables> out) const {
  return connection_->CcVariables(out);
}

// --- context --------------------------------------------------------------------

Context::Context(const ContextConfig& config)
    : config_(config),
      schedule_(config.packets_per_turn),
      next_qp_num_(config.first_qp_num),
      rng_seed_(config.seed) {}
Context::~Context() = default;

absl::StatusOr<std::unique_ptr<Context>> Context::Create(const ContextConfig& config) {
  if (config.local.udp_port == 0) return absl::InvalidArgumentError("local UDP port is 0");
  if (config.local.udp_port == 4791 || config.local.udp_port == 4793) {
    return absl::InvalidArgumentError(
        absl::StrFormat("UDP port %u belongs to %s", config.local.udp_port,
                        config.local.udp_port == 4791 ? "RoCEv2" : "Ultra Ethernet"));
  }
  if (config.contexts_sharing_link == 0 || config.contexts_sharing_link > 1024) {
    return absl::InvalidArgumentError(absl::StrFormat("contexts_sharing_link %u outside [1, 1024]",
                                                      config.contexts_sharing_link));
  }
  if (config.packets_per_turn == 0 || config.packets_per_turn > kMaxPacketsPerTurn) {
    return absl::InvalidArgumentError(absl::StrFormat("packets_per_turn %u outside [1, %u]",
                                                      config.packets_per_turn, kMaxPacketsPerTurn));
  }
  if (!IsDscpTrafficClass(config.traffic_class)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "traffic class %u has ECN bits set: give DSCP << 2 (Tern sends ECT(0) itself)",
        config.traffic_class));
  }
  return std::unique_ptr<Context>(new Context(config));
}

ProtectionDomain* Context::AllocPd() {
  pds_.push_back(std::unique_ptr<ProtectionDomain>(new ProtectionDomain(this)));
  return pds_.back().get();
}

absl::StatusOr<CompletionQueue*> Context::CreateCq(size_t capacity) {
  if (capacity == 0 || capacity > (1u << 24)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("CQ capacity %d outside [1, 2^24]", capacity));
  }
  cqs_.push_back(
      std::unique_ptr<CompletionQueue>(new CompletionQueue(capacity, config_.allocate_up_front)));
  return cqs_.back().get();
}

absl::StatusOr<QueuePair*> Context::CreateQp(ProtectionDomain* pd, const QpInitAttr& attr) {
  if (pd == nullptr || pd->context() != this) {
    return absl::InvalidArgumentError("protection domain of another context");
  }
  if (attr.send_cq == nullptr || attr.recv_cq == nullptr) {
    return absl::InvalidArgumentError("send_cq and recv_cq are required");
  }
  const QpCaps& cap = attr.cap;
  if (cap.max_send_wr == 0 || cap.max_send_wr > 65536 || cap.max_recv_wr == 0 ||
      cap.max_recv_wr > 65536) {
    return absl::InvalidArgumentError("max_send_wr and max_recv_wr must be in [1, 65536]");
  }
  if (cap.max_send_sge == 0 || cap.max_send_sge > 32 || cap.max_recv_sge == 0 ||
      cap.max_recv_sge > 32) {
    return absl::InvalidArgumentError("max_send_sge and max_recv_sge must be in [1, 32]");
  }
  if (cap.max_inline_data > 4096) return absl::InvalidArgumentError("max_inline_data > 4096");
  const TransportOptions& t = attr.transport;
  if (t.paths == 0 || t.paths > kMaxPaths) {
    return absl::InvalidArgumentError(absl::StrFormat("paths must be in [1, %u]", kMaxPaths));
  }
  if (t.window_packets < 16 || t.window_packets > 65536 ||
      (t.window_packets & (t.window_packets - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "window_packets %u must be a power of two in [16, 65536]", t.window_packets));
  }
  if (t.pull_window_packets > t.window_packets) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "pull_window_packets %u exceeds window_packets %u: the receive window would cap it",
        t.pull_window_packets, t.window_packets));
  }
  if (t.base_rtt < Duration::Zero()) return absl::InvalidArgumentError("base_rtt must be >= 0");
  if (t.min_rto <= Duration::Zero() || t.max_rto < t.min_rto) {
    return absl::InvalidArgumentError("need 0 < min_rto <= max_rto");
  }
  CcContext cc_context;
  cc_context.line_rate = t.line_rate;
  cc_context.base_rtt = t.base_rtt;
  cc_context.paths = t.paths;
  auto cc = CreateCongestionControl(t.congestion_control, cc_context);
  if (!cc.ok()) return cc.status();

  const uint32_t qp_num = next_qp_num_++;
  // Each QP sprays over its own block of source ports, so QPs between the
  // same hosts hash independently.
  Random rng(rng_seed_ ^ (uint64_t{qp_num} * 0x9E3779B97F4A7C15ull));
  const uint32_t span = 0x10000 - kEntropyPortBase - t.paths;
  const uint16_t base = EntropyBlockFrom(kEntropyPortBase + rng.Uniform(span), t.paths);
  auto connection = std::make_unique<Connection>(this, pd, qp_num, attr, std::move(*cc), base,
                                                 config_.allocate_up_front);
  const TransmitSchedule::Slot slot = schedule_.Add();
  // Both schedules see the same Adds and Removes, so hand out the same slot.
  const TransmitSchedule::Slot control_slot = control_schedule_.Add();
  assert(control_slot == slot);
  static_cast<void>(control_slot);
  if (slot >= connection_of_slot_.size()) connection_of_slot_.resize(slot + 1);
  pulls_.Reserve(connection_of_slot_.size());
  Connection* raw = connection.get();
  qps_.push_back(std::unique_ptr<QueuePair>(new QueuePair(this, std::move(connection), slot)));
  qp_entries_.push_back({qp_num, slot, raw});
  connection_of_slot_[slot] = raw;
  idle_due_.reserve(2 * qps_.size());  // a slot may be idle in both schedules
  Reschedule(slot, *raw);
  return qps_.back().get();
}

absl::Status Context::DestroyQp(QueuePair* qp) {
  auto it = std::find_if(qps_.begin(), qps_.end(),
                         [&](const std::unique_ptr<QueuePair>& q) { return q.get() == qp; });
  if (it == qps_.end()) return absl::NotFoundError("queue pair not in this context");
  schedule_.Remove(qp->schedule_slot_);
  control_schedule_.Remove(qp->schedule_slot_);
  pulls_.Remove(qp->schedule_slot_);
  connection_of_slot_[qp->schedule_slot_] = nullptr;
  qp_entries_.erase(qp_entries_.begin() + (it - qps_.begin()));
  qps_.erase(it);
  return absl::OkStatus();
}

const Context::QpEntry* Context::FindQp(uint32_t qp_num) const {
  // QP numbers grow by one with each creation, so until a QP is destroyed
  // each sits at its number's offset: one load, where the search below takes
  // ten dependent ones at 1000 QPs.
  const uint32_t guess = qp_num - config_.first_qp_num;
  if (guess < qp_entries_.size() && qp_entries_[guess].qp_num == qp_num) {
    return &qp_entries_[guess];
  }
  // Destroyed QPs leave the vectors in order, so qp_entries_ stays sorted.
  const auto it =
      std::lower_bound(qp_entries_.begin(), qp_entries_.end(), qp_num,
                       [](const QpEntry& entry, uint32_t num) { return entry.qp_num < num; });
  if (it == qp_entries_.end() || it->qp_num != qp_num) return nullptr;
  return &*it;
}

void Context::Reschedule(TransmitSchedule::Slot slot, const Connection& connection) {
  schedule_.Set(slot, connection.NextTurnAt());
  control_schedule_.Set(slot, connection.ControlDueAt());
}

void Context::OnFrame(std::span<const uint8_t> frame, Time now) {
  ++counters_.frames_received;
  const FrameDecodeResult outer = DecodeFrame(frame, config_.local.udp_port);
  if (!outer.ok()) {
    ++counters_.drops[static_cast<size_t>(outer.error)];
    return;
  }
  OnPacket(outer.frame, now);
}

void Context::OnPacket(const FrameView& frame, Time now) {
  // Coalesced control packets: each is judged alone, so a damaged one costs
  // only itself.
  ForEachTernPacket(frame.tern, [&](std::span<const uint8_t> packet, size_t index) {
    if (index > 0) ++counters_.control_coalesced_received;
    OnTernPacket(frame, packet, now);
  });
}

void Context::OnTernPacket(const FrameView& frame, std::span<const uint8_t> bytes, Time now) {
  auto count_drop = [&](DropReason reason) { ++counters_.drops[static_cast<size_t>(reason)]; };
  const TernDecodeResult inner = DecodeTern(bytes, !config_.checksum_offload);
  if (!inner.ok()) return count_drop(inner.error);
  const TernView& packet = inner.view;
  const QpEntry* qp = FindQp(packet.tern->dst_qpn.get());
  Connection* connection = qp != nullptr ? qp->connection : nullptr;
  if (connection == nullptr || connection->peer_qp_num() != packet.tern->src_qpn.get() ||
      connection->state() == QpState::kReset || !(connection->remote().ip == frame.src.ip)) {
    return count_drop(DropReason::kUnknownConnection);
  }
  RxInfo rx;
  rx.entropy = frame.entropy;
  rx.ce = frame.ecn == Ecn::kCe;
  rx.ttl = frame.ttl;
  connection->OnPacket(packet, rx, now);
  if (connection->WantsPull() && !pulls_.Contains(qp->slot)) {
    // A pacer that idled starts again now, not in the past.
    if (pulls_.empty()) next_pull_at_ = std::max(next_pull_at_, now);
    pulls_.Push(qp->slot);
  }
  Reschedule(qp->slot, *connection);
}

void Context::GrantPulls(Time now) {
  while (!pulls_.empty() && next_pull_at_ <= now) {
    const TransmitSchedule::Slot slot = pulls_.Pop();
    Connection& c = *connection_of_slot_[slot];
    next_pull_at_ = next_pull_at_ + c.GrantPull(now) * config_.contexts_sharing_link;
    if (c.WantsPull()) pulls_.Push(slot);
    Reschedule(slot, c);
  }
}

size_t Context::PollTransmit(Time now, std::span<TxPacket> out) {
  GrantPulls(now);
  size_t produced = 0;
  TransmitSchedule::Slot slot;
  // ACKs and NACKs first, in the order they fell due.
  while (produced < out.size() && control_schedule_.PopDue(now, &slot)) {
    Connection& c = *connection_of_slot_[slot];
    if (!c.BuildControl(now, &out[produced])) {
      idle_due_.push_back(slot);  // as below: never visited twice in a call
      continue;
    }
    Finish(c, out[produced]);
    if (produced < kCoalesceScan) coalesce_limit_[produced] = c.path_mtu();
    ++produced;
    control_schedule_.Set(slot, c.ControlDueAt());
  }
  while (produced < out.size() && schedule_.PopDue(now, &slot)) {
    Connection& c = *connection_of_slot_[slot];
    c.RunTimers(now);
    // The rest of its turn in one visit, as far as this call has room.
    const uint32_t turn_left = schedule_.TurnLeft(slot);
    uint32_t sent = 0;
    while (produced < out.size() && sent < turn_left && c.BuildNext(now, &out[produced])) {
      Finish(c, out[produced]);
      if (produced < kCoalesceScan) coalesce_limit_[produced] = c.path_mtu();
      ++produced;
      ++sent;
    }
    if (sent > 0) {
      schedule_.Served(slot, now, c.NextTurnAt(), sent);
      control_schedule_.Set(slot, c.ControlDueAt());
      continue;
    }
    if (c.NextTurnAt() <= now) {
      // Due yet nothing to send (a stale loss record, a request completed in
      // error): the visit settled it, or the next call tries again.
      idle_due_.push_back(slot);
    } else {
      Reschedule(slot, c);
    }
  }
  for (const TransmitSchedule::Slot idle : idle_due_) Reschedule(idle, *connection_of_slot_[idle]);
  idle_due_.clear();
  counters_.packets_sent += produced;
  if (config_.coalesce_control && produced > 1) return CoalesceControl(out.first(produced));
  return produced;
}

namespace {

// ACK or NACK not yet carrying others: headers only, fixed size.
bool IsControlPacket(const TxPacket& packet) {
  return packet.payload.empty() && packet.header_len >= sizeof(TernHeader) && !packet.is_data();
}

}  // namespace

size_t Context::CoalesceControl(std::span<TxPacket> packets) {
  const size_t scan = std::min(packets.size(), kCoalesceScan);
  size_t used = 0;  // bytes of coalesce_buffer_
  bool absorbed_any = false;
  for (size_t i = 0; i < scan; ++i) {
    TxPacket& carrier = packets[i];
    // header_len 0 marks a packet already carried by an earlier one.
    if (carrier.header_len == 0 || !IsControlPacket(carrier)) continue;
    const size_t start = used;
    size_t datagram = carrier.header_len;
    std::span<uint8_t> last(carrier.header, carrier.header_len);
    for (size_t j = i + 1; j < scan; ++j) {
      TxPacket& p = packets[j];
      if (p.header_len == 0 || !IsControlPacket(p) || !(*p.dst == *carrier.dst)) continue;
      if (datagram + p.header_len > coalesce_limit_[i] ||
          used + p.header_len > coalesce_buffer_.size()) {
        break;
      }
      MarkFollowed(last);
      last = {coalesce_buffer_.data() + used, p.header_len};
      std::memcpy(last.data(), p.header, p.header_len);
      used += p.header_len;
      datagram += p.header_len;
      p.header_len = 0;
      ++counters_.control_coalesced_sent;
    }
    if (used > start) {
      carrier.payload = {coalesce_buffer_.data() + start, used - start};
      absorbed_any = true;
    }
  }
  if (!absorbed_any) return packets.size();
  size_t kept = 0;
  for (TxPacket& p : packets) {
    if (p.header_len == 0) continue;
    if (&packets[kept] != &p) packets[kept] = p;
    ++kept;
  }
  return kept;
}

void Context::MarkFollowed(std::span<uint8_t> packet) const {
  auto* header = reinterpret_cast<TernHeader*>(packet.data());
  header->flags.set(static_cast<uint16_t>(header->flags.get() | kFlagCoalesced));
  if (!config_.checksum_offload) header->checksum.set(TernChecksum(packet));
}

void Context::Finish(const Connection& connection, TxPacket& packet) const {
  packet.src = &config_.local;
  packet.dst = &connection.remote();
  packet.traffic_class = config_.traffic_class;
  if (!config_.checksum_offload) {
    auto* header = reinterpret_cast<TernHeader*>(packet.header);
    header->checksum.set(TernChecksum({packet.header, packet.header_len}, packet.payload));
  }
}

Time Context::NextWakeup() const {
  const Time transmit = std::min(schedule_.NextWakeup(), control_schedule_.NextWakeup());
  return pulls_.empty() ? transmit : std::min(transmit, next_pull_at_);
}

bool TxPacket::is_data() const {
  return header_len >= sizeof(TernHeader) &&
         header[offsetof(TernHeader, type)] == static_cast<uint8_t>(PacketType::kData);
}

bool TxPacket::is_retransmission() const {
  return header_len >= sizeof(TernHeader) &&
         (reinterpret_cast<const TernHeader*>(header)->flags.get() & kFlagRetransmit) != 0;
}

size_t TxPacket::frame_len() const { return OuterHeaderBytes(dst->ip.is_v6) + tern_len(); }

size_t TxPacket::WriteHeaders(uint8_t* out) const {
  const size_t n = EncodeFrameHeaders(out, *src, *dst, entropy, tern_len(), traffic_class);
  std::memcpy(out + n, header, header_len);
  return n + header_len;
}

size_t TxPacket::WriteFrame(uint8_t* out) const {
  const size_t n = WriteHeaders(out);
  if (!payload.empty()) std::memcpy(out + n, payload.data(), payload.size());
  return n + payload.size();
}

}  // namespace tern
