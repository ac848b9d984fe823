// Connection, receiving side: data placement with key and bounds checks,
// duplicate suppression, ACK and NACK processing.
#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "transport/connection.h"

namespace tern {
namespace {

// Copies `payload` to byte `offset` of the message laid out over `sges`.
// The caller has checked offset + payload.size() fits.
void PlaceAt(std::span<const Sge> sges, uint64_t offset, std::span<const uint8_t> payload) {
  size_t done = 0;
  for (const Sge& sge : sges) {
    if (done == payload.size()) return;
    if (offset >= sge.length) {
      offset -= sge.length;
      continue;
    }
    const size_t n = std::min<uint64_t>(sge.length - offset, payload.size() - done);
    std::memcpy(reinterpret_cast<void*>(sge.addr + offset), payload.data() + done, n);
    done += n;
    offset = 0;
  }
}

// True when [offset, offset + len) lies within a message of msg_len bytes.
bool FitsInMessage(uint32_t offset, size_t len, uint32_t msg_len) {
  return offset <= msg_len && len <= msg_len - offset;
}

}  // namespace

void Connection::OnPacket(const TernView& packet, const RxInfo& rx, Time now) {
  switch (packet.type()) {
    case PacketType::kData:
      OnData(packet, rx, now);
      break;
    case PacketType::kAck:
      OnAck(packet, rx, now);
      break;
    case PacketType::kNack:
      OnNack(packet, now);
      break;
  }
}

void Connection::QueueNack(Psn psn, NackReason reason, uint16_t entropy, uint32_t ts_echo) {
  if (nack_count_ == kNackQueue) {
    ++counters_.nacks_dropped;  // the sender recovers by timeout
    return;
  }
  if (reason == NackReason::kNoReceiveBuffer) ++counters_.rnr_nak_sent;
  nacks_[(nack_head_ + nack_count_) % kNackQueue] = PendingNack{psn, reason, entropy, ts_echo};
  ++nack_count_;
}

// --- data ---------------------------------------------------------------------

void Connection::OnData(const TernView& packet, const RxInfo& rx, Time now) {
  if (state_ == QpState::kReset || state_ == QpState::kInit) {
    ++counters_.ignored_in_state;
    return;
  }
  const Psn psn = packet.tern->psn.get();
  const uint32_t ts = packet.data->timestamp.get();
  if (state_ == QpState::kErr) {
    // Tell the peer at once rather than let it time out.
    QueueNack(psn, NackReason::kInvalidRequest, rx.entropy, ts);
    return;
  }
  ++counters_.data_packets_received;
  pull_repeat_at_ = Time::Infinite();  // the sender is sending: its ACKs will follow
  if (rx.ce) {
    ++counters_.ce_marked_received;
    if (ack_ce_count_ < 0xFFFF) ++ack_ce_count_;
    if (now >= next_cnp_allowed_) {
      ack_cnp_ = true;
      next_cnp_allowed_ = now + options_.cnp_interval;
      ack_policy_.RequestImmediate();
    }
  }
  auto note_for_ack = [&] {
    // The echo names one packet, and the ACK blames that packet's path for
    // all its CE marks: a marked packet keeps the echo from later unmarked
    // ones, so the path blamed is one that marked.
    if (ack_echo_marked_ && !rx.ce) return;
    ack_echo_marked_ = rx.ce;
    ack_ts_echo_ = ts;
    ack_echo_arrived_ns_ = static_cast<uint32_t>(now.nanoseconds());
    ack_entropy_ = rx.entropy;
    ack_has_telemetry_ = packet.telemetry != nullptr;
    if (ack_has_telemetry_) ack_telemetry_ = *packet.telemetry;
  };
  switch (tracker_.Classify(psn)) {
    case ReceiveTracker::Arrival::kDuplicate:
      ++counters_.duplicate_packets;
      tracker_.Rereport(psn);
      note_for_ack();
      ack_policy_.RequestImmediate();
      return;
    case ReceiveTracker::Arrival::kOutOfWindow:
      ++counters_.packet_seq_err;
      ack_policy_.RequestImmediate();
      return;
    case ReceiveTracker::Arrival::kNew:
      break;
  }
  if ((packet.flags() & kFlagTrimmed) != 0) {
    ++counters_.trimmed_received;
    // The trimmed packet spent its sender's credit: its pull pays for the resend.
    if (PullsOn()) ++pulls_owed_;
    QueueNack(psn, NackReason::kTrimmed, rx.entropy, ts);
    return;
  }
  bool completed = false;
  Verdict verdict = Verdict::kInvalid;
  switch (packet.opcode()) {
    case DataOpcode::kSend:
    case DataOpcode::kSendWithImm:
      verdict = AcceptSend(packet, &completed);
      break;
    case DataOpcode::kWrite:
    case DataOpcode::kWriteWithImm:
      verdict = AcceptWrite(packet, &completed);
      break;
    case DataOpcode::kReadRequest:
      verdict = AcceptReadRequest(packet);
      break;
    case DataOpcode::kReadResponse:
      verdict = AcceptReadResponse(packet, &completed);
      break;
  }
  switch (verdict) {
    case Verdict::kAccept:
      break;
    case Verdict::kRnr:
      QueueNack(psn, NackReason::kNoReceiveBuffer, rx.entropy, ts);
      return;
    case Verdict::kAccessError:
      QueueNack(psn, NackReason::kAccessError, rx.entropy, ts);
      return;
    case Verdict::kInvalid:
      QueueNack(psn, NackReason::kInvalidRequest, rx.entropy, ts);
      return;
  }
  if (psn != tracker_.cumulative()) ++counters_.out_of_sequence;
  // Each packet taken in whole is pulled for (a trimmed one was, above; a
  // refused one is refunded by its sender).
  if (PullsOn()) ++pulls_owed_;
  const Psn cumulative_before = tracker_.cumulative();
  const bool opens_hole = tracker_.Record(psn);
  if (tracker_.cumulative() != cumulative_before) CompleteRecvs();
  note_for_ack();
  // As TCP does (RFC 5681 4.2), a packet that fills a gap is acknowledged at
  // once: with spraying, the packet that completes a message is often not the
  // one flagged last, and its ACK must not wait for the coalescing timer.
  const bool fills_hole = PsnDistance(cumulative_before, tracker_.cumulative()) > 1;
  const bool ack_now =
      (packet.flags() & kFlagAckRequest) != 0 || opens_hole || fills_hole || completed;
  ack_policy_.OnArrival(now, ack_now);
}

Connection::Verdict Connection::AcceptSend(const TernView& packet, bool* completed) {
  const uint32_t rsn = packet.data->rsn.get();
  const uint32_t msg_len = packet.data->msg_len.get();
  const uint32_t offset = packet.data->offset.get();
  if (PsnBefore(rsn, rq_head_)) return Verdict::kInvalid;  // that receive is finished
  if (!PsnBefore(rsn, rq_tail_)) return Verdict::kRnr;     // not posted yet
  RecvWqe& r = rq(rsn);
  if (r.done) return Verdict::kInvalid;
  if (!r.started) {
    if (msg_len > r.capacity) {
      r.done = true;
      r.status = WcStatus::kLocLenErr;
      r.msg_len = 0;
      Fail(WcStatus::kWrFlushErr, 0, false,
           absl::StrFormat("SEND of %u bytes into a %u-byte receive", msg_len, r.capacity));
      return Verdict::kInvalid;
    }
    r.started = true;
    r.msg_len = msg_len;
    r.opcode = WcOpcode::kRecv;
    r.has_imm = packet.opcode() == DataOpcode::kSendWithImm;
    r.imm = packet.data->imm.get();
  }
  if (r.msg_len != msg_len || !FitsInMessage(offset, packet.payload.size(), msg_len)) {
    return Verdict::kInvalid;
  }
  PlaceAt(rq_sges(rsn).first(r.num_sge), offset, packet.payload);
  r.placed += static_cast<uint32_t>(packet.payload.size());
  NoteLastPacket(r, packet);
  if (r.placed == r.msg_len) {
    r.done = true;
    *completed = true;
    CompleteRecvs();
  }
  return Verdict::kAccept;
}

Connection::Verdict Connection::CheckRemoteAccess(const TernView& packet, uint32_t access,
                                                  uint8_t** target) {
  if (packet.rdma == nullptr) return Verdict::kInvalid;
  const uint64_t va = packet.rdma->remote_va.get();
  const uint32_t msg_len = packet.data->msg_len.get();
  const RegionLookupCache& mr = remote_region_;
  // The whole message must fit, checked on every packet: a message that
  // overruns its region is refused whole and touches no byte.
  if (!context_->FindRegionCached(packet.rdma->rkey.get(), /*remote_key=*/true, remote_region_) ||
      mr.pd != pd_ || (mr.access & access) != access || (access_ & access) != access ||
      va < mr.addr || va - mr.addr > mr.length || msg_len > mr.length - (va - mr.addr)) {
    return Verdict::kAccessError;
  }
  if (!FitsInMessage(packet.data->offset.get(), packet.payload.size(), msg_len)) {
    return Verdict::kInvalid;
  }
  *target = reinterpret_cast<uint8_t*>(va);
  return Verdict::kAccept;
}

Connection::Verdict Connection::AcceptWrite(const TernView& packet, bool* completed) {
  const bool with_imm = packet.opcode() == DataOpcode::kWriteWithImm;
  const uint32_t rsn = packet.data->rsn.get();
  const uint32_t msg_len = packet.data->msg_len.get();
  if (with_imm) {
    if (PsnBefore(rsn, rq_head_)) return Verdict::kInvalid;
    if (!PsnBefore(rsn, rq_tail_)) return Verdict::kRnr;
    const RecvWqe& r = rq(rsn);
    if (r.done || (r.started && r.msg_len != msg_len)) return Verdict::kInvalid;
  }
  uint8_t* target = nullptr;
  const Verdict verdict = CheckRemoteAccess(packet, kAccessRemoteWrite, &target);
  if (verdict != Verdict::kAccept) return verdict;
  if (!packet.payload.empty()) {
    std::memcpy(target + packet.data->offset.get(), packet.payload.data(), packet.payload.size());
  }
  if (!with_imm) return Verdict::kAccept;
  RecvWqe& r = rq(rsn);
  if (!r.started) {
    r.started = true;
    r.msg_len = msg_len;
    r.opcode = WcOpcode::kRecvRdmaWithImm;
    r.has_imm = true;
    r.imm = packet.data->imm.get();
  }
  r.placed += static_cast<uint32_t>(packet.payload.size());
  NoteLastPacket(r, packet);
  if (r.placed == r.msg_len) {
    r.done = true;
    *completed = true;
    CompleteRecvs();
  }
  return Verdict::kAccept;
}

void Connection::NoteLastPacket(RecvWqe& r, const TernView& packet) {
  if ((packet.flags() & kFlagLast) != 0) r.last_psn = packet.tern->psn.get();
}

Connection::Verdict Connection::AcceptReadRequest(const TernView& packet) {
  uint8_t* source = nullptr;
  const Verdict verdict = CheckRemoteAccess(packet, kAccessRemoteRead, &source);
  if (verdict != Verdict::kAccept) return verdict;
  // A READ whose response is not all sent is still outstanding at the
  // requester, which keeps at most max_dest_rd_atomic of them (its
  // max_rd_atomic, agreed at set-up). One more is the requester's error,
  // refused as ibverbs responders do.
  if (rd_tail_ - rd_next_ >= max_dest_rd_atomic_) return Verdict::kInvalid;
  // A responder entry lives until the requester acknowledges its response
  // packets, and a requester may issue its next READ as soon as an earlier
  // one completes — possibly before its ACK arrives here. The ring has
  // headroom for that (see ToRtr); should even that fill, the requester
  // retries later as it would on a missing receive.
  if (rd_tail_ - rd_head_ >= rd_.size()) return Verdict::kRnr;
  ReadResponse& r = rd_[rd_tail_ & rd_mask_];
  r = ReadResponse{};
  r.local_addr = reinterpret_cast<uint64_t>(source);
  r.length = packet.data->msg_len.get();
  r.msg_id = packet.data->msg_id.get();
  r.request_psn = packet.tern->psn.get();
  ++rd_tail_;
  return Verdict::kAccept;
}

Connection::Verdict Connection::AcceptReadResponse(const TernView& packet, bool* completed) {
  const uint32_t ssn = packet.data->msg_id.get();
  // Only a READ we issued and have not finished may be answered.
  if (!PsnAtOrBefore(sq_head_, ssn) || !PsnBefore(ssn, sq_next_)) {
    return Verdict::kInvalid;
  }
  SendWqe& w = sq(ssn);
  const uint32_t offset = packet.data->offset.get();
  if (w.opcode != WrOpcode::kRdmaRead || w.msg_id != ssn || w.done ||
      packet.data->msg_len.get() != w.length ||
      !FitsInMessage(offset, packet.payload.size(), static_cast<uint32_t>(w.length))) {
    return Verdict::kInvalid;
  }
  PlaceAt(sq_sges(ssn).first(w.num_sge), offset, packet.payload);
  w.read_placed += packet.payload.size();
  w.read_arrived = true;
  if (w.read_placed == w.length && w.segmented && w.packets_acked == w.packets_total) {
    w.done = true;
    *completed = true;
    CompleteSends();
  }
  // A response is progress: the READ is alive.
  rto_retries_ = 0;
  return Verdict::kAccept;
}

// --- acknowledgements -----------------------------------------------------------

void Connection::UpdateRtt(Duration sample) {
  // RFC 6298 smoothing, plus a slowly decaying maximum for the loss rule and
  // the minimum that dates retransmissions' deliveries.
  if (!have_rtt_) {
    srtt_ = sample;
    rttvar_ = sample / 2;
    rtt_max_ = sample;
    rtt_min_ = sample;
    have_rtt_ = true;
  } else {
    const Duration error = sample > srtt_ ? sample - srtt_ : srtt_ - sample;
    rttvar_ = rttvar_ - rttvar_ / 4 + error / 4;
    srtt_ = srtt_ - srtt_ / 8 + sample / 8;
    rtt_max_ = std::max(sample, rtt_max_ - rtt_max_ / 256);
    rtt_min_ = std::min(sample, rtt_min_);
  }
  // Samples leave out the receiver's ACK hold; the timer must wait for it.
  // Nor may it expire sooner than the loss rule would condemn the oldest
  // packet: the variance decays with every sample, so after a flight of
  // short RTTs the RFC 6298 term alone falls below RTTs seen moments ago,
  // and a peer whose loop is briefly busy would be presumed dead.
  const Duration classic = srtt_ + rttvar_ * 4 + options_.ack_delay;
  rto_ = std::clamp(std::max(classic, LossThreshold()), options_.min_rto, options_.max_rto);
}

void Connection::OnPacketAcked(const TxSlot& slot) {
  if (slot.source == SlotSource::kReadResponse) {
    ++rd_[slot.message].packets_acked;
    while (rd_head_ != rd_next_) {
      const ReadResponse& r = rd_[rd_head_ & rd_mask_];
      if (!r.segmented || r.packets_acked != r.packets_total) break;
      ++rd_head_;
    }
    return;
  }
  SendWqe& w = sq_[slot.message];
  ++w.packets_acked;
  if (w.done || !w.segmented || w.packets_acked != w.packets_total) return;
  if (w.opcode != WrOpcode::kRdmaRead || (w.read_arrived && w.read_placed == w.length)) {
    w.done = true;
  }
}

void Connection::OnAck(const TernView& packet, const RxInfo& rx, Time now) {
  (void)rx;
  if (state_ != QpState::kRts) {
    ++counters_.ignored_in_state;
    return;
  }
  ++counters_.acks_received;
  const AckHeader& ack = *packet.ack;
  const Psn window_end = ack.window_end.get();
  if (PsnBefore(peer_window_end_, window_end)) {
    pull_credit_ += PsnDistance(peer_window_end_, window_end);  // the pulls since the last ACK
    peer_window_end_ = window_end;
  }

  Duration rtt;
  const uint32_t ts_echo = ack.ts_echo.get();
  const int32_t elapsed_ns =
      static_cast<int32_t>(static_cast<uint32_t>(now.nanoseconds()) - ts_echo);
  if (ts_echo != kNoTimestamp && elapsed_ns >= 0) {
    rtt = Duration::Nanoseconds(elapsed_ns);
    UpdateRtt(rtt);
  }

  const uint64_t sack[2] = {ack.sack_bitmap[0].get(), ack.sack_bitmap[1].get()};
  uint32_t acked_bytes = 0;
  uint32_t lost_bytes = 0;
  uint16_t lost_entropy = 0;
  const uint16_t ce = ack.ce_count.get();
  const SendScoreboard::AckResult result = scoreboard_.ApplyAck(
      packet.tern->psn.get(), ack.sack_base.get(), sack, now, LossThreshold(),
      have_rtt_ ? rtt_min_ : Duration::Infinite(),
      [&](Psn, const TxSlot& s) {
        acked_bytes += s.length;
        if (s.state == SlotState::kLost) ++counters_.spurious_loss_marks;
        // CE marks are pinned on the echoed entropy, as for the penalty below.
        // A packet sent before a re-path credits nothing: its entropy is no
        // longer the selector's.
        paths_.OnDelivered(s.entropy, /*marked=*/ce > 0 && s.entropy == ack.echo_entropy.get());
        OnPacketAcked(s);
      },
      [&](Psn, const TxSlot& s) {
        lost_bytes += s.length;
        lost_entropy = s.entropy;
        paths_.OnCongestion(lost_entropy, now, PathPenalty());
      });
  const uint32_t acked = result.acked;
  if (ce > 0) paths_.OnCongestion(ack.echo_entropy.get(), now, PathPenalty());
  probe_sent_ = false;
  const bool cnp = (packet.flags() & kFlagCnp) != 0;
  if (cnp) ++counters_.rp_cnp_handled;
  // Every ACK reaches CC, even one that acknowledges nothing new: with ACKs
  // sprayed, a later ACK can overtake an earlier one, whose CE marks, RTT
  // sample and telemetry (of the slower path) no other ACK reports.
  AckEvent event{
      now, acked_bytes, acked, ce, rtt, scoreboard_.bytes_in_flight(), ack.echo_entropy.get()};
  event.cnp = cnp;
  event.path_hops = HopsFromTtl(rx.ttl);
  Telemetry telemetry;
  static_assert(kTelemetryHops <= kMaxTelemetryHops, "the wire carries more hops than CC sees");
  if (packet.telemetry != nullptr) {
    telemetry.hops = packet.telemetry->hops;  // DecodeTern bounds it by kTelemetryHops
    for (int i = 0; i < telemetry.hops; ++i) {
      const TelemetryRecord& r = packet.telemetry->record[i];
      telemetry.hop[i] = {r.timestamp_ns.get(), r.tx_bytes.get(), r.queue_bytes.get(),
                          r.rate_mbps.get()};
    }
    event.telemetry = &telemetry;
  }
  FollowPathAdvice(cc_->OnAck(event), event.entropy, now);
  if (acked > 0) {
    rto_retries_ = 0;
    ArmRto(now);
  }
  ReportLosses(now, result.lost, lost_bytes, lost_entropy);
  ArmProbe(now);
  CompleteSends();
}

void Connection::OnNack(const TernView& packet, Time now) {
  if (state_ != QpState::kRts) {
    ++counters_.ignored_in_state;
    return;
  }
  ++counters_.nacks_received;
  const Psn psn = packet.tern->psn.get();
  if (!scoreboard_.Contains(psn)) {  // already acknowledged
    ++counters_.stale_nacks;
    return;
  }
  TxSlot& s = scoreboard_.slot(psn);
  const bool from_sq = s.source == SlotSource::kSendQueue;
  const uint32_t ssn = from_sq ? sq_[s.message].msg_id : 0;
  switch (static_cast<NackReason>(packet.nack->reason)) {
    case NackReason::kTrimmed: {
      const uint32_t length = s.length;
      if (!scoreboard_.MarkLost(psn)) return;
      ++counters_.retransmits_trim;
      paths_.OnCongestion(packet.nack->echo_entropy.get(), now, PathPenalty());
      const uint16_t entropy = packet.nack->echo_entropy.get();
      FollowPathAdvice(cc_->OnLoss(LossEvent{now, LossCause::kTrimmed, length, 1, entropy,
                                             scoreboard_.bytes_in_flight()}),
                       entropy, now);
      return;
    }
    case NackReason::kNoReceiveBuffer: {
      ++counters_.rnr_nak_received;
      const Duration wait = Duration::Nanoseconds(packet.nack->retry_after_ns.get());
      if (from_sq) {
        SendWqe& w = sq_[s.message];
        // One retry per back-off period, however many packets were refused.
        if (rnr_retry_ != kRnrRetryForever && now >= w.rnr_backoff_until) {
          if (w.rnr_retries_left == 0) {
            Fail(WcStatus::kRnrRetryExcErr, ssn, true,
                 absl::StrFormat("receiver not ready: %u RNR retries exhausted", rnr_retry_));
            return;
          }
          --w.rnr_retries_left;
          w.rnr_backoff_until = now + wait;
        }
      }
      if (scoreboard_.MarkLost(psn)) {
        ++counters_.retransmits_rnr;
        RefundPulls(1);
      }
      rnr_hold_until_ = std::max(rnr_hold_until_, now + wait);
      ArmRto(now);
      return;
    }
    case NackReason::kAccessError:
      Fail(WcStatus::kRemAccessErr, ssn, from_sq,
           absl::StrFormat("peer refused PSN %u: remote access error", psn));
      return;
    case NackReason::kInvalidRequest:
      Fail(WcStatus::kRemInvReqErr, ssn, from_sq,
           absl::StrFormat("peer refused PSN %u: invalid request", psn));
      return;
  }
}

}  // namespace tern
