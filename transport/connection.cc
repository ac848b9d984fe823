// Connection, verbs side: state transitions, posting work requests, and
// turning finished work into completions in ibverbs order.
#include "transport/connection.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/strings/str_format.h"

namespace tern {
namespace {

uint32_t RingSize(uint32_t n) { return std::bit_ceil(std::max<uint32_t>(n, 1)); }

bool IsRead(WrOpcode op) { return op == WrOpcode::kRdmaRead; }
bool ConsumesReceive(WrOpcode op) {
  return op == WrOpcode::kSend || op == WrOpcode::kSendWithImm || op == WrOpcode::kRdmaWriteWithImm;
}
WcOpcode SendCompletionOpcode(WrOpcode op) {
  switch (op) {
    case WrOpcode::kSend:
    case WrOpcode::kSendWithImm:
      return WcOpcode::kSend;
    case WrOpcode::kRdmaWrite:
    case WrOpcode::kRdmaWriteWithImm:
      return WcOpcode::kRdmaWrite;
    case WrOpcode::kRdmaRead:
      return WcOpcode::kRdmaRead;
  }
  return WcOpcode::kSend;
}

}  // namespace

Connection::Connection(Context* context, ProtectionDomain* pd, uint32_t qp_num,
                       const QpInitAttr& attr, std::unique_ptr<CongestionControl> cc,
                       uint16_t base_entropy, bool allocate_up_front)
    : context_(context),
      pd_(pd),
      qp_num_(qp_num),
      send_cq_(attr.send_cq),
      recv_cq_(attr.recv_cq),
      caps_(attr.cap),
      options_(attr.transport),
      sq_(RingSize(attr.cap.max_send_wr)),
      sq_sge_pool_(sq_.size() * std::max<uint32_t>(attr.cap.max_send_sge, 1)),
      inline_pool_(sq_.size() * attr.cap.max_inline_data),
      sq_mask_(static_cast<uint32_t>(sq_.size()) - 1),
      rd_(RingSize(16)),
      rd_mask_(static_cast<uint32_t>(rd_.size()) - 1),
      rq_(RingSize(attr.cap.max_recv_wr)),
      rq_sge_pool_(rq_.size() * std::max<uint32_t>(attr.cap.max_recv_sge, 1)),
      rq_mask_(static_cast<uint32_t>(rq_.size()) - 1),
      scoreboard_(attr.transport.window_packets, attr.transport.paths, allocate_up_front),
      tracker_(attr.transport.window_packets),
      ack_policy_(attr.transport.ack_every, attr.transport.ack_delay),
      paths_(attr.transport.path_policy, attr.transport.paths, base_entropy),
      cc_(std::move(cc)),
      request_telemetry_(cc_->wants_telemetry()),
      rto_(attr.transport.min_rto) {}

std::span<Sge> Connection::sq_sges(uint32_t ssn) {
  const size_t per = std::max<uint32_t>(caps_.max_send_sge, 1);
  return {sq_sge_pool_.data() + (ssn & sq_mask_) * per, per};
}

std::span<const Sge> Connection::sq_sges(uint32_t ssn) const {
  const size_t per = std::max<uint32_t>(caps_.max_send_sge, 1);
  return {sq_sge_pool_.data() + (ssn & sq_mask_) * per, per};
}

std::span<Sge> Connection::rq_sges(uint32_t rsn) {
  const size_t per = std::max<uint32_t>(caps_.max_recv_sge, 1);
  return {rq_sge_pool_.data() + (rsn & rq_mask_) * per, per};
}

// --- state transitions ------------------------------------------------------

absl::Status Connection::ToInit(const QpInitStateAttr& attr) {
  if (state_ != QpState::kReset) {
    return absl::FailedPreconditionError(
        absl::StrFormat("QP 0x%x: INIT needs RESET, state is %s", qp_num_, QpStateName(state_)));
  }
  access_ = attr.access;
  state_ = QpState::kInit;
  return absl::OkStatus();
}

absl::Status Connection::ToRtr(const QpRtrAttr& attr) {
  if (state_ != QpState::kInit) {
    return absl::FailedPreconditionError(
        absl::StrFormat("QP 0x%x: RTR needs INIT, state is %s", qp_num_, QpStateName(state_)));
  }
  if (attr.path_mtu < kMinMtu || attr.path_mtu > kMaxMtu) {
    return absl::InvalidArgumentError(
        absl::StrFormat("path_mtu %u outside [%u, %u]", attr.path_mtu, kMinMtu, kMaxMtu));
  }
  if (attr.remote.ip.is_v6 != context_->local().ip.is_v6) {
    return absl::InvalidArgumentError("remote and local addresses are of different IP families");
  }
  if (attr.max_dest_rd_atomic == 0 || attr.max_dest_rd_atomic > 256) {
    return absl::InvalidArgumentError("max_dest_rd_atomic must be in [1, 256]");
  }
  // The algorithm was made (and its spec checked) with the default MTU at
  // creation; now that the path MTU is known it starts again from it, since
  // windows and targets are counted in packets.
  if (absl::Status s = RestartCongestionControl(attr.path_mtu, options_.base_rtt); !s.ok()) {
    return s;
  }
  peer_qpn_ = attr.dest_qp_num;
  remote_ = attr.remote;
  mtu_ = attr.path_mtu;
  min_rnr_timer_ = attr.min_rnr_timer;
  max_dest_rd_atomic_ = attr.max_dest_rd_atomic;
  // Four times the READs the peer may have outstanding: entries outlive the
  // peer's completion until its ACKs arrive (see AcceptReadRequest).
  rd_.assign(RingSize(attr.max_dest_rd_atomic * 4), ReadResponse{});
  rd_mask_ = static_cast<uint32_t>(rd_.size()) - 1;
  tracker_.Reset(attr.rq_psn);
  pull_end_ = attr.rq_psn + options_.pull_window_packets;
  pulls_owed_ = 0;
  state_ = QpState::kRtr;
  return absl::OkStatus();
}

absl::Status Connection::RestartCongestionControl(uint32_t mtu, Duration base_rtt) {
  CcContext cc_context;
  cc_context.line_rate = options_.line_rate;
  cc_context.base_rtt = base_rtt;
  cc_context.mtu_bytes = mtu;
  cc_context.paths = options_.paths;
  absl::StatusOr<std::unique_ptr<CongestionControl>> cc =
      CreateCongestionControl(options_.congestion_control, cc_context);
  if (!cc.ok()) return cc.status();
  cc_ = std::move(*cc);
  request_telemetry_ = cc_->wants_telemetry();
  options_.base_rtt = base_rtt;
  return absl::OkStatus();
}

absl::Status Connection::SetBaseRtt(Duration rtt) {
  if (state_ != QpState::kRts) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "QP 0x%x: a base RTT needs RTS, state is %s", qp_num_, QpStateName(state_)));
  }
  if (rtt <= Duration::Zero() || rtt.IsInfinite()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "QP 0x%x: base RTT %s is not a positive, finite time", qp_num_, rtt.ToString()));
  }
  // A new algorithm must not be told of ACKs for packets it never saw sent.
  if (scoreboard_.packets_in_flight() > 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("QP 0x%x: a base RTT needs nothing in flight; %u packets are", qp_num_,
                        scoreboard_.packets_in_flight()));
  }
  return RestartCongestionControl(mtu_, rtt);
}

absl::Status Connection::ToRts(const QpRtsAttr& attr) {
  if (state_ != QpState::kRtr) {
    return absl::FailedPreconditionError(
        absl::StrFormat("QP 0x%x: RTS needs RTR, state is %s", qp_num_, QpStateName(state_)));
  }
  if (attr.max_rd_atomic == 0) return absl::InvalidArgumentError("max_rd_atomic must be > 0");
  if (attr.rnr_retry > kRnrRetryForever) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "rnr_retry must be 0..7 (7 retries without limit), got %u", attr.rnr_retry));
  }
  scoreboard_.Reset(attr.sq_psn);
  // Until the peer's first ACK, assume it grants the window we would: with
  // pulls, the packets that need none, which are also the first credit.
  const uint32_t granted = PullsOn()
                               ? std::min(options_.pull_window_packets, scoreboard_.capacity())
                               : scoreboard_.capacity();
  peer_window_end_ = attr.sq_psn + granted;
  pull_credit_ = granted;
  retry_cnt_ = attr.retry_cnt;
  rnr_retry_ = attr.rnr_retry;
  max_rd_atomic_ = attr.max_rd_atomic;
  state_ = QpState::kRts;
  return absl::OkStatus();
}

absl::Status Connection::ToError() {
  if (state_ == QpState::kErr) return absl::OkStatus();
  Fail(WcStatus::kWrFlushErr, 0, false, "moved to ERR by the application");
  return absl::OkStatus();
}

// --- posting ------------------------------------------------------------------

WcStatus Connection::ValidateLocal(std::span<const Sge> sges, uint32_t required_access) {
  const RegionLookupCache& mr = local_region_;
  for (const Sge& sge : sges) {
    if (sge.length == 0) continue;
    if (!context_->FindRegionCached(sge.lkey, /*remote_key=*/false, local_region_) ||
        mr.pd != pd_ || (mr.access & required_access) != required_access || sge.addr < mr.addr ||
        sge.addr + sge.length > mr.addr + mr.length || sge.addr + sge.length < sge.addr) {
      return WcStatus::kLocProtErr;
    }
  }
  return WcStatus::kSuccess;
}

absl::Status Connection::PostSend(std::span<const SendWr> wrs, size_t* posted) {
  size_t count = 0;
  auto fail = [&](absl::Status status) {
    if (posted != nullptr) *posted = count;
    return status;
  };
  if (state_ != QpState::kRts && state_ != QpState::kErr) {
    return fail(absl::FailedPreconditionError(absl::StrFormat(
        "QP 0x%x: post_send needs RTS, state is %s", qp_num_, QpStateName(state_))));
  }
  for (const SendWr& wr : wrs) {
    if (sq_tail_ - sq_head_ >= caps_.max_send_wr) {
      return fail(absl::ResourceExhaustedError(absl::StrFormat(
          "QP 0x%x: send queue full (%u work requests)", qp_num_, caps_.max_send_wr)));
    }
    if (wr.sg_list.size() > caps_.max_send_sge) {
      return fail(absl::InvalidArgumentError(
          absl::StrFormat("work request %d has %d SGEs, max_send_sge is %u", count,
                          wr.sg_list.size(), caps_.max_send_sge)));
    }
    const bool is_inline = (wr.send_flags & kSendInline) != 0;
    uint64_t length = 0;
    for (const Sge& sge : wr.sg_list) length += sge.length;
    if (is_inline && (IsRead(wr.opcode) || length > caps_.max_inline_data)) {
      return fail(absl::InvalidArgumentError(
          absl::StrFormat("work request %d: INLINE needs a send or write of at most %u bytes",
                          count, caps_.max_inline_data)));
    }
    const uint32_t ssn = sq_tail_;
    SendWqe& w = sq(ssn);
    w = SendWqe{};
    w.wr_id = wr.wr_id;
    w.opcode = wr.opcode;
    w.send_flags = static_cast<uint8_t>(wr.send_flags);
    w.length = length;
    w.remote_addr = wr.remote_addr;
    w.rkey = wr.rkey;
    w.imm = wr.imm_data;
    w.msg_id = ssn;
    w.rnr_retries_left = rnr_retry_;
    w.status = WcStatus::kSuccess;
    std::span<Sge> sges = sq_sges(ssn);
    if (is_inline) {
      uint8_t* copy = inline_pool_.data() + (ssn & sq_mask_) * caps_.max_inline_data;
      uint64_t at = 0;
      for (const Sge& sge : wr.sg_list) {
        std::memcpy(copy + at, reinterpret_cast<const void*>(sge.addr), sge.length);
        at += sge.length;
      }
      sges[0] = Sge{reinterpret_cast<uint64_t>(copy), static_cast<uint32_t>(length), 0};
      w.num_sge = length > 0 ? 1 : 0;
    } else {
      // Drop empty SGEs so segmentation never stalls on one.
      uint16_t n = 0;
      for (const Sge& sge : wr.sg_list) {
        if (sge.length > 0) sges[n++] = sge;
      }
      w.num_sge = n;
    }
    ++sq_tail_;
    ++count;
    if (state_ == QpState::kErr) {
      w.done = true;
      w.status = WcStatus::kWrFlushErr;
      continue;
    }
    // Local errors complete the request with an error status (as a NIC would)
    // rather than failing the post.
    WcStatus local = WcStatus::kSuccess;
    if (length > kMaxMessageBytes) {
      local = WcStatus::kLocLenErr;
    } else if (!is_inline) {
      local = ValidateLocal({sges.data(), w.num_sge},
                            IsRead(wr.opcode) ? uint32_t{kAccessLocalWrite} : 0u);
    }
    if (ConsumesReceive(wr.opcode)) w.rsn = next_rsn_++;
    if (local != WcStatus::kSuccess) {
      Fail(local, ssn, true,
           absl::StrFormat("work request 0x%x: %s", wr.wr_id, WcStatusName(local)));
      continue;
    }
  }
  if (posted != nullptr) *posted = count;
  CompleteSends();
  return absl::OkStatus();
}

absl::Status Connection::PostRecv(std::span<const RecvWr> wrs, size_t* posted) {
  size_t count = 0;
  auto fail = [&](absl::Status status) {
    if (posted != nullptr) *posted = count;
    return status;
  };
  if (state_ == QpState::kReset) {
    return fail(absl::FailedPreconditionError(
        absl::StrFormat("QP 0x%x: post_recv needs INIT or later, state is RESET", qp_num_)));
  }
  for (const RecvWr& wr : wrs) {
    if (rq_tail_ - rq_head_ >= caps_.max_recv_wr) {
      return fail(absl::ResourceExhaustedError(absl::StrFormat(
          "QP 0x%x: receive queue full (%u work requests)", qp_num_, caps_.max_recv_wr)));
    }
    if (wr.sg_list.size() > caps_.max_recv_sge) {
      return fail(absl::InvalidArgumentError(
          absl::StrFormat("receive work request %d has %d SGEs, max_recv_sge is %u", count,
                          wr.sg_list.size(), caps_.max_recv_sge)));
    }
    const uint32_t rsn = rq_tail_;
    RecvWqe& r = rq(rsn);
    r = RecvWqe{};
    r.wr_id = wr.wr_id;
    r.status = WcStatus::kSuccess;
    std::span<Sge> sges = rq_sges(rsn);
    uint16_t n = 0;
    for (const Sge& sge : wr.sg_list) {
      if (sge.length == 0) continue;
      sges[n++] = sge;
      r.capacity += sge.length;
    }
    r.num_sge = n;
    ++rq_tail_;
    ++count;
    if (state_ == QpState::kErr) {
      r.done = true;
      r.status = WcStatus::kWrFlushErr;
    } else if (ValidateLocal({sges.data(), n}, kAccessLocalWrite) != WcStatus::kSuccess) {
      r.done = true;
      r.status = WcStatus::kLocProtErr;
      // A bad receive is the receiver's own error: the QP fails.
      Fail(WcStatus::kWrFlushErr, 0, false,
           absl::StrFormat("receive 0x%x: local protection error", wr.wr_id));
    }
  }
  if (posted != nullptr) *posted = count;
  CompleteRecvs();
  return absl::OkStatus();
}

// --- completions ------------------------------------------------------------

void Connection::CompleteSends() {
  bool overrun = false;
  while (sq_head_ != sq_tail_) {
    SendWqe& w = sq(sq_head_);
    if (!w.done) break;
    if (w.status != WcStatus::kSuccess || (w.send_flags & kSendSignaled) != 0) {
      WorkCompletion wc;
      wc.wr_id = w.wr_id;
      wc.status = w.status;
      wc.opcode = SendCompletionOpcode(w.opcode);
      wc.byte_len = IsRead(w.opcode) ? static_cast<uint32_t>(w.read_placed) : 0;
      wc.qp_num = qp_num_;
      overrun |= !send_cq_->Push(wc);
    }
    if (IsRead(w.opcode) && w.status == WcStatus::kSuccess) --reads_outstanding_;
    ++sq_head_;
  }
  if (overrun) FailOnOverrun();
}

void Connection::CompleteRecvs() {
  bool overrun = false;
  while (rq_head_ != rq_tail_) {
    RecvWqe& r = rq(rq_head_);
    if (!r.done) break;
    // Packets are placed in any order, but a receive completes only once every
    // earlier PSN has arrived, so an RDMA WRITE posted before a SEND is visible
    // when the SEND's completion is (ibverbs RC ordering).
    if (state_ != QpState::kErr && r.status == WcStatus::kSuccess &&
        !PsnBefore(r.last_psn, tracker_.cumulative())) {
      break;
    }
    WorkCompletion wc;
    wc.wr_id = r.wr_id;
    wc.status = r.status;
    wc.opcode = r.opcode;
    wc.byte_len = r.msg_len;
    wc.imm_data = r.imm;
    wc.has_imm = r.has_imm;
    wc.qp_num = qp_num_;
    overrun |= !recv_cq_->Push(wc);
    ++rq_head_;
  }
  if (overrun) FailOnOverrun();
}

void Connection::FailOnOverrun() {
  // A CQ that overran has lost completions; as a NIC does, the QP fails so
  // the loss is seen, and what it still holds is flushed (the flushes that
  // find the CQ still full are lost and counted too). Called after the loop
  // that overran, since Fail completes what it flushes.
  Fail(WcStatus::kWrFlushErr, 0, false, "completion queue overrun");
}

void Connection::Fail(WcStatus status, uint32_t failing_ssn, bool has_failing, std::string reason) {
  if (state_ == QpState::kErr) return;
  state_ = QpState::kErr;
  error_reason_ = std::move(reason);
  // Work that finished before the failing request completes normally; the
  // failing request carries the error; everything else is flushed (with no
  // failing request, everything not yet completed).
  for (uint32_t ssn = sq_head_; ssn != sq_tail_; ++ssn) {
    SendWqe& w = sq(ssn);
    if (has_failing && w.done && w.status == WcStatus::kSuccess && PsnBefore(ssn, failing_ssn)) {
      continue;
    }
    w.done = true;
    w.status = (has_failing && ssn == failing_ssn) ? status : WcStatus::kWrFlushErr;
  }
  FlushAll();
}

void Connection::FlushAll() {
  for (uint32_t rsn = rq_head_; rsn != rq_tail_; ++rsn) {
    RecvWqe& r = rq(rsn);
    if (r.done) continue;
    r.done = true;
    r.status = WcStatus::kWrFlushErr;
  }
  nack_count_ = 0;
  ack_policy_.OnAckSent();
  rto_deadline_ = Time::Infinite();
  probe_deadline_ = Time::Infinite();
  CompleteSends();
  CompleteRecvs();
}

std::string Connection::DebugState() const {
  return absl::StrFormat(
      "qp=0x%x state=%s una=%u nxt=%u inflight=%u/%uB cwnd=%u rcv_nxt=%u srtt=%s rto=%s cc={%s}",
      qp_num_, QpStateName(state_), scoreboard_.snd_una(), scoreboard_.snd_nxt(),
      scoreboard_.packets_in_flight(), scoreboard_.bytes_in_flight(), cc_->window_bytes(),
      tracker_.cumulative(), srtt_.ToString(), rto_.ToString(), cc_->DebugState());
}

}  // namespace tern
