// Connection, sending side: timers, control packets, retransmissions and
// segmentation of new messages under the window, flow control and pacing.
#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "transport/connection.h"

namespace tern {
namespace {

DataOpcode WireOpcode(WrOpcode op) {
  switch (op) {
    case WrOpcode::kSend:
      return DataOpcode::kSend;
    case WrOpcode::kSendWithImm:
      return DataOpcode::kSendWithImm;
    case WrOpcode::kRdmaWrite:
      return DataOpcode::kWrite;
    case WrOpcode::kRdmaWriteWithImm:
      return DataOpcode::kWriteWithImm;
    case WrOpcode::kRdmaRead:
      return DataOpcode::kReadRequest;
  }
  return DataOpcode::kSend;
}

// The sender's clock in ns, mod 2^32, skipping the value that means "none".
uint32_t WireTimestamp(Time now) {
  const auto ts = static_cast<uint32_t>(now.nanoseconds());
  return ts == kNoTimestamp ? ts + 1 : ts;
}

// The echo of a packet the receiver held from `arrived_ns` to `now_ns` (its
// own clock, ns mod 2^32) before acknowledging it: the packet's timestamp
// advanced by the hold, so that the sender's sample leaves out the receiver's
// ACK coalescing, which is not delay in the network (as QUIC's ack_delay).
uint32_t EchoAfterHold(uint32_t ts, uint32_t arrived_ns, uint32_t now_ns) {
  if (ts == kNoTimestamp) return ts;
  const uint32_t echo = ts + (now_ns - arrived_ns);
  return echo == kNoTimestamp ? echo + 1 : echo;
}

void FillTernHeader(TernHeader* h, PacketType type, uint16_t flags, uint32_t dst_qpn,
                    uint32_t src_qpn, Psn psn) {
  h->version = kTernVersion;
  h->type = static_cast<uint8_t>(type);
  h->flags.set(flags);
  h->dst_qpn.set(dst_qpn);
  h->src_qpn.set(src_qpn);
  h->psn.set(psn);
  h->checksum.set(0);
}

}  // namespace

// --- timers -------------------------------------------------------------------

Duration Connection::LossThreshold() const {
  // A packet reported missing is lost once it has been out longer than the
  // slowest RTT seen recently, plus a quarter RTT and the configured
  // reordering allowance (in the spirit of RACK's reo_wnd, RFC 8985), plus
  // the longest the receiver holds an ACK, which RTT samples leave out.
  if (!have_rtt_) return options_.min_rto;
  return rtt_max_ + srtt_ / 4 + options_.reorder_window + options_.ack_delay;
}

Duration Connection::PathPenalty() const {
  // How long the weighted path policy avoids a path after bad news: long
  // enough for the congestion to drain, short enough to come back quickly.
  return have_rtt_ ? srtt_ * 2 : options_.min_rto / 4;
}

void Connection::ArmRto(Time now) {
  const bool waiting = !scoreboard_.Empty() || reads_outstanding_ > 0;
  rto_deadline_ = waiting ? std::max(now, rnr_hold_until_) + rto_ : Time::Infinite();
}

Duration Connection::GrantPull(Time now) {
  ++pull_end_;
  --pulls_owed_;
  ++counters_.pulls_granted;
  ack_policy_.RequestImmediate();
  pull_repeats_ = 0;
  pull_repeat_at_ = now + PullRepeatInterval();
  const size_t full_packet = OuterHeaderBytes(remote_.ip.is_v6) + sizeof(TernHeader) +
                             sizeof(DataHeader) + sizeof(RdmaExtension) + mtu_;
  return options_.line_rate.TransferTime(full_packet);
}

void Connection::ReportLosses(Time now, uint32_t packets, uint32_t bytes, uint16_t entropy) {
  if (packets == 0) return;
  counters_.retransmits_loss_detected += packets;
  RefundPulls(packets);
  FollowPathAdvice(cc_->OnLoss(LossEvent{now, LossCause::kDetected, bytes, packets, entropy,
                                         scoreboard_.bytes_in_flight()}),
                   entropy, now);
}

void Connection::FollowPathAdvice(PathAdvice advice, uint16_t entropy, Time now) {
  if (advice != PathAdvice::kAvoid) return;
  ++counters_.cc_path_avoids;
  paths_.OnCongestion(entropy, now, PathPenalty());
}

void Connection::ArmProbe(Time now) {
  // Loss detection needs a fresh ACK covering the missing packets. When the
  // window is full of lost packets no ACK comes, so after two RTTs (or the
  // loss threshold, if longer) of silence one packet is resent to ask for one.
  if (scoreboard_.packets_in_flight() == 0 || probe_sent_) {
    probe_deadline_ = Time::Infinite();
    return;
  }
  const Duration wait = have_rtt_ ? std::max(srtt_ * 2, LossThreshold()) : options_.min_rto / 2;
  probe_deadline_ = now + wait;
}

void Connection::OnProbeTimeout() {
  probe_deadline_ = Time::Infinite();
  // The oldest packet in flight: the likeliest to be lost.
  for (Psn psn = scoreboard_.snd_una(); psn != scoreboard_.snd_nxt(); ++psn) {
    if (scoreboard_.slot(psn).state != SlotState::kInFlight) continue;
    scoreboard_.MarkLost(psn);
    RefundPulls(1);
    ++counters_.tail_probes;
    probe_sent_ = true;
    return;
  }
}

void Connection::OnTimeout(Time now) {
  if (scoreboard_.Empty() && reads_outstanding_ == 0) {
    rto_deadline_ = Time::Infinite();
    return;
  }
  ++counters_.local_ack_timeout_err;
  if (++rto_retries_ > retry_cnt_) {
    const bool has_failing = sq_head_ != sq_tail_;
    Fail(WcStatus::kRetryExcErr, sq_head_, has_failing,
         absl::StrFormat("retry count (%u) exceeded: no acknowledgement for %s", retry_cnt_,
                         rto_.ToString()));
    return;
  }
  // The last resort: the oldest packet in flight, and everything out longer
  // than any recent RTT, is presumed lost. What went out since cannot have
  // been acknowledged yet; condemning it too would resend a window that is
  // still on its way.
  const Duration threshold = LossThreshold();
  uint32_t lost_packets = 0;
  uint32_t lost_bytes = 0;
  for (Psn psn = scoreboard_.snd_una(); psn != scoreboard_.snd_nxt(); ++psn) {
    const TxSlot& slot = scoreboard_.slot(psn);
    if (lost_packets > 0 && now - slot.sent_at < threshold) continue;
    if (scoreboard_.MarkLost(psn)) {
      ++lost_packets;
      lost_bytes += slot.length;
    }
  }
  counters_.retransmits_timeout += lost_packets;
  RefundPulls(lost_packets);
  paths_.OnTimeout();
  // A timeout names no path: there is nothing to avoid.
  (void)cc_->OnLoss(LossEvent{now, LossCause::kTimeout, lost_bytes, lost_packets, 0,
                              scoreboard_.bytes_in_flight()});
  rto_ = std::min(rto_ * 2, options_.max_rto);
  rto_deadline_ = now + rto_;
}

void Connection::RunTimers(Time now) {
  if (state_ != QpState::kRts) return;
  if (now >= rto_deadline_) OnTimeout(now);
  if (state_ == QpState::kRts && now >= probe_deadline_) OnProbeTimeout();
  if (now >= pull_repeat_at_) {
    ack_policy_.RequestImmediate();
    ++counters_.pull_acks_repeated;
    pull_repeat_at_ = ++pull_repeats_ < kPullRepeats
                          ? now + PullRepeatInterval() * (int64_t{1} << pull_repeats_)
                          : Time::Infinite();
  }
}

Duration Connection::PullRepeatInterval() const {
  // Long enough for the pulled packet to come back, if the sender has one.
  return have_rtt_ ? std::max(srtt_ * 2, options_.min_rto / 4) : options_.min_rto / 4;
}

// --- what to send next --------------------------------------------------------

bool Connection::BuildNext(Time now, TxPacket* out) {
  if (BuildControl(now, out)) return true;
  if (state_ != QpState::kRts || now < rnr_hold_until_ || now < next_send_at_) return false;
  return BuildRetransmission(now, out) || BuildNewData(now, out);
}

bool Connection::BuildControl(Time now, TxPacket* out) {
  if (nack_count_ > 0) {
    const PendingNack& n = nacks_[nack_head_];
    nack_head_ = (nack_head_ + 1) % kNackQueue;
    --nack_count_;
    auto* h = reinterpret_cast<TernHeader*>(out->header);
    FillTernHeader(h, PacketType::kNack, 0, peer_qpn_, qp_num_, n.psn);
    auto* nack = reinterpret_cast<NackHeader*>(out->header + sizeof(TernHeader));
    nack->reason = static_cast<uint8_t>(n.reason);
    nack->reserved = 0;
    nack->echo_entropy.set(n.entropy);
    nack->ts_echo.set(n.ts_echo);
    nack->retry_after_ns.set(n.reason == NackReason::kNoReceiveBuffer
                                 ? static_cast<uint32_t>(min_rnr_timer_.nanoseconds())
                                 : 0);
    out->header_len = sizeof(TernHeader) + sizeof(NackHeader);
    out->payload = {};
    out->entropy = n.entropy;
    ++counters_.nacks_sent;
    return true;
  }
  if (state_ == QpState::kReset || state_ == QpState::kInit || !ack_policy_.Due(now)) return false;
  auto* h = reinterpret_cast<TernHeader*>(out->header);
  const uint16_t flags =
      static_cast<uint16_t>((ack_ce_count_ > 0 ? kFlagEcnEcho : 0) | (ack_cnp_ ? kFlagCnp : 0) |
                            (ack_has_telemetry_ ? kFlagTelemetry : 0));
  FillTernHeader(h, PacketType::kAck, flags, peer_qpn_, qp_num_, tracker_.cumulative());
  auto* ack = reinterpret_cast<AckHeader*>(out->header + sizeof(TernHeader));
  Psn base;
  uint64_t bitmap[2];
  sack_at_cumulative_ = !sack_at_cumulative_;
  tracker_.BuildSack(sack_at_cumulative_, &base, bitmap);
  ack->sack_base.set(base);
  ack->sack_bitmap[0].set(bitmap[0]);
  ack->sack_bitmap[1].set(bitmap[1]);
  // With pulls, the peer may go no further than it has been pulled.
  const Psn window_end = tracker_.window_end();
  ack->window_end.set(PullsOn() && PsnBefore(pull_end_, window_end) ? pull_end_ : window_end);
  ack->ts_echo.set(
      EchoAfterHold(ack_ts_echo_, ack_echo_arrived_ns_, static_cast<uint32_t>(now.nanoseconds())));
  ack_ts_echo_ = kNoTimestamp;  // an ACK forced by something else carries no RTT sample
  ack->echo_entropy.set(ack_entropy_);
  ack->ce_count.set(ack_ce_count_);
  out->header_len = sizeof(TernHeader) + sizeof(AckHeader);
  if (ack_has_telemetry_) {
    std::memcpy(out->header + out->header_len, &ack_telemetry_, sizeof ack_telemetry_);
    out->header_len += sizeof(TelemetryStack);
    ack_has_telemetry_ = false;  // one echo per stack
  }
  if (ack_cnp_) {
    ++counters_.np_cnp_sent;
    ack_cnp_ = false;
  }
  out->payload = {};
  out->entropy = ack_entropy_ != 0 ? ack_entropy_ : paths_.Next(now);
  ack_policy_.OnAckSent();
  // Arrivals too far apart for one bitmap go in the ACKs that follow at once:
  // left for the next arrival, the last of a burst would never be reported.
  if (tracker_.HasUnreported()) ack_policy_.RequestImmediate();
  ack_ce_count_ = 0;
  ack_echo_marked_ = false;
  ++counters_.acks_sent;
  return true;
}

bool Connection::WindowAllows(uint32_t bytes) const {
  // An empty pipe may always take one packet, so a window below one packet
  // (expressed through pacing) cannot stall the connection.
  const uint64_t in_flight = scoreboard_.bytes_in_flight();
  return in_flight == 0 || in_flight + bytes <= cc_->window_bytes();
}

bool Connection::BuildRetransmission(Time now, TxPacket* out) {
  Psn psn;
  if (!scoreboard_.NextLost(&psn)) return false;
  if (!WindowAllows(scoreboard_.slot(psn).length) || !PullsAllow()) {
    ++counters_.window_limited;
    return false;
  }
  EmitData(psn, now, /*retransmit=*/true, out);
  return true;
}

bool Connection::ReadResponseReady() const {
  // A READ executes after everything sent before it (ibverbs RC ordering), so
  // it never returns bytes an earlier WRITE has yet to deliver.
  return rd_next_ != rd_tail_ &&
         PsnBefore(rd_[rd_next_ & rd_mask_].request_psn, tracker_.cumulative());
}

bool Connection::MayStart(const SendWqe& w) const {
  // FENCE waits for every earlier READ; a READ waits for a free max_rd_atomic
  // slot. A message already being segmented has started.
  const bool fenced =
      (w.send_flags & kSendFence) != 0 && seg_msg_offset_ == 0 && reads_outstanding_ > 0;
  const bool read_limited = w.opcode == WrOpcode::kRdmaRead && reads_outstanding_ >= max_rd_atomic_;
  return !fenced && !read_limited;
}

uint32_t Connection::NextSegmentLength(uint32_t ssn) const {
  const SendWqe& w = sq_[ssn & sq_mask_];
  if (w.opcode == WrOpcode::kRdmaRead || w.num_sge == 0) return 0;
  return std::min(mtu_, sq_sges(ssn)[seg_sge_].length - seg_sge_offset_);
}

bool Connection::NextSqMessage(uint32_t* ssn) {
  while (sq_next_ != sq_tail_) {
    SendWqe& w = sq(sq_next_);
    if (w.done) {  // completed in error before it was sent
      ++sq_next_;
      continue;
    }
    if (!MayStart(w)) return false;
    *ssn = sq_next_;
    return true;
  }
  return false;
}

bool Connection::BuildNewData(Time now, TxPacket* out) {
  if (!scoreboard_.HasRoom() || !PsnBefore(scoreboard_.snd_nxt(), peer_window_end_) ||
      !PullsAllow()) {
    ++counters_.window_limited;
    return false;
  }
  TxSlot slot{};
  // READ responses first: they unblock the peer.
  if (ReadResponseReady()) {
    ReadResponse& r = rd_[rd_next_ & rd_mask_];
    const uint32_t length = std::min(mtu_, r.length - r.offset);
    if (!WindowAllows(length)) {
      ++counters_.window_limited;
      return false;
    }
    slot.payload_addr = r.local_addr + r.offset;
    slot.offset = r.offset;
    slot.length = static_cast<uint16_t>(length);
    slot.message = static_cast<uint16_t>(rd_next_ & rd_mask_);
    slot.source = SlotSource::kReadResponse;
    slot.flags = static_cast<uint8_t>(r.offset == 0 ? kFlagFirst : 0);
    r.offset += length;
    ++r.packets_total;
    if (r.offset == r.length) {
      r.segmented = true;
      slot.flags |= kFlagLast | kFlagAckRequest;
      ++rd_next_;
    }
    EmitData(scoreboard_.Append(slot), now, /*retransmit=*/false, out);
    return true;
  }
  uint32_t ssn;
  if (!NextSqMessage(&ssn)) return false;
  SendWqe& w = sq(ssn);
  const uint32_t length = NextSegmentLength(ssn);
  if (length > 0) slot.payload_addr = sq_sges(ssn)[seg_sge_].addr + seg_sge_offset_;
  if (!WindowAllows(length)) {
    ++counters_.window_limited;
    return false;
  }
  slot.offset = seg_msg_offset_;
  slot.length = static_cast<uint16_t>(length);
  slot.message = static_cast<uint16_t>(ssn & sq_mask_);
  slot.source = SlotSource::kSendQueue;
  slot.flags = static_cast<uint8_t>(seg_msg_offset_ == 0 ? kFlagFirst : 0);
  seg_msg_offset_ += length;
  seg_sge_offset_ += length;
  if (w.num_sge > 0 && seg_sge_offset_ == sq_sges(ssn)[seg_sge_].length) {
    ++seg_sge_;
    seg_sge_offset_ = 0;
  }
  ++w.packets_total;
  // Packets never straddle SGEs, so each payload is one contiguous span of
  // registered memory and leaves without a copy.
  if (w.opcode == WrOpcode::kRdmaRead || seg_sge_ >= w.num_sge) {
    w.segmented = true;
    slot.flags |= kFlagLast | kFlagAckRequest;
    if (w.opcode == WrOpcode::kRdmaRead) ++reads_outstanding_;
    ++sq_next_;
    seg_sge_ = seg_sge_offset_ = seg_msg_offset_ = 0;
  }
  EmitData(scoreboard_.Append(slot), now, /*retransmit=*/false, out);
  return true;
}

void Connection::EmitData(Psn psn, Time now, bool retransmit, TxPacket* out) {
  TxSlot& s = scoreboard_.slot(psn);
  const uint16_t entropy = retransmit ? paths_.NextAvoiding(s.entropy, now) : paths_.Next(now);
  const uint16_t path = static_cast<uint16_t>(std::max(paths_.IndexOf(entropy), 0));
  if (retransmit && entropy != s.entropy) ++counters_.entropy_changes;
  scoreboard_.OnTransmit(psn, path, entropy, now);

  auto* h = reinterpret_cast<TernHeader*>(out->header);
  // A retransmission asks for an immediate ACK: recovery should not wait for
  // coalescing.
  const uint16_t flags =
      static_cast<uint16_t>(s.flags | (retransmit ? kFlagRetransmit | kFlagAckRequest : 0) |
                            (request_telemetry_ ? kFlagTelemetry : 0));
  FillTernHeader(h, PacketType::kData, flags, peer_qpn_, qp_num_, psn);
  auto* d = reinterpret_cast<DataHeader*>(out->header + sizeof(TernHeader));
  d->reserved = 0;
  d->payload_len.set(s.length);
  d->offset.set(s.offset);
  d->timestamp.set(WireTimestamp(now));
  DataOpcode opcode;
  if (s.source == SlotSource::kReadResponse) {
    const ReadResponse& r = rd_[s.message];
    opcode = DataOpcode::kReadResponse;
    d->msg_id.set(r.msg_id);
    d->rsn.set(0);
    d->msg_len.set(r.length);
    d->imm.set(0);
  } else {
    const SendWqe& w = sq_[s.message];
    opcode = WireOpcode(w.opcode);
    d->msg_id.set(w.msg_id);
    d->rsn.set(w.rsn);
    d->msg_len.set(static_cast<uint32_t>(w.length));
    d->imm.set(w.imm);
    if (OpcodeHasRdmaExtension(opcode)) {
      auto* x =
          reinterpret_cast<RdmaExtension*>(out->header + sizeof(TernHeader) + sizeof(DataHeader));
      x->remote_va.set(w.remote_addr);
      x->rkey.set(w.rkey);
    }
  }
  d->opcode = static_cast<uint8_t>(opcode);
  out->header_len = static_cast<uint16_t>(DataHeaderBytes(opcode, flags));
  if (request_telemetry_) {
    // Switches fill it on the way; it starts empty.
    std::memset(out->header + DataHeaderBytes(opcode), 0, sizeof(TelemetryStack));
  }
  out->payload = {reinterpret_cast<const uint8_t*>(s.payload_addr), s.length};
  out->entropy = entropy;

  ++counters_.data_packets_sent;
  counters_.data_bytes_sent += s.length;
  if (retransmit) {
    ++counters_.retransmitted_packets;
    counters_.retransmitted_bytes += s.length;
  }
  if (PullsOn()) --pull_credit_;
  cc_->OnSend(SendEvent{now, s.length, entropy, retransmit, scoreboard_.bytes_in_flight()});
  const Bandwidth rate = cc_->pacing_rate();
  if (!rate.IsUnlimited()) {
    // Pace whole frames, outer headers included, so a rate at line speed
    // does not overdrive the link.
    next_send_at_ = std::max(next_send_at_, now) +
                    rate.TransferTime(OuterHeaderBytes(remote_.ip.is_v6) + out->tern_len());
  }
  if (rto_deadline_.IsInfinite()) ArmRto(now);
  if (probe_deadline_.IsInfinite()) ArmProbe(now);
}

bool Connection::RetransmissionFits() const {
  Psn psn;
  return scoreboard_.NextLost(&psn) && WindowAllows(scoreboard_.slot(psn).length) && PullsAllow();
}

bool Connection::NewDataFits() const {
  if (!scoreboard_.HasRoom() || !PsnBefore(scoreboard_.snd_nxt(), peer_window_end_) ||
      !PullsAllow()) {
    return false;
  }
  if (ReadResponseReady()) {
    const ReadResponse& r = rd_[rd_next_ & rd_mask_];
    return WindowAllows(std::min(mtu_, r.length - r.offset));
  }
  if (sq_next_ == sq_tail_) return false;
  const SendWqe& w = sq_[sq_next_ & sq_mask_];
  // A request completed in error is skipped by the next BuildNext.
  if (w.done) return true;
  return MayStart(w) && WindowAllows(NextSegmentLength(sq_next_));
}

Time Connection::DataReadyAt() const {
  // BuildRetransmission and BuildNewData ask the window about the packet they
  // would send, which may be shorter than an MTU; so does this. Asking about
  // a full MTU would hide a short last segment that fits until something
  // else woke the QP.
  if (!RetransmissionFits() && !NewDataFits()) return Time::Infinite();
  return std::max(next_send_at_, rnr_hold_until_);
}

Time Connection::ControlDueAt() const {
  if (nack_count_ > 0) return Time::Zero();
  // The states in which BuildControl sends an ACK.
  if (state_ == QpState::kReset || state_ == QpState::kInit) return Time::Infinite();
  return ack_policy_.Deadline();
}

Time Connection::NextTurnAt() const {
  if (state_ != QpState::kRts) return Time::Infinite();
  return std::min({rto_deadline_, probe_deadline_, pull_repeat_at_, DataReadyAt()});
}

Time Connection::NextWakeup() const { return std::min(ControlDueAt(), NextTurnAt()); }

}  // namespace tern
