// One reliable connection: the protocol engine behind a QueuePair. Sans-IO:
// it is handed packets and the time, and asked for packets to send and when
// to be woken. It never reads a clock or blocks, and allocates on the data path
// only to grow its send scoreboard (ContextConfig::allocate_up_front).
//
// The class is split across files by concern, as eRPC does: this header holds
// the state; connection.cc the verbs side (state changes, posting,
// completions), connection_tx.cc what to send next, connection_rx.cc what
// arrives.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cc/congestion_control.h"
#include "transport/path_selector.h"
#include "transport/receive_tracker.h"
#include "transport/send_scoreboard.h"
#include "transport/verbs.h"

namespace tern {

// What the dataplane learned about a packet outside the Tern headers.
struct RxInfo {
  uint16_t entropy = 0;  // UDP source port
  bool ce = false;       // IP ECN field was CE
  uint8_t ttl = 0;       // IPv4 TTL or IPv6 hop limit as received
};

// Largest message: byte offsets are 32-bit on the wire.
inline constexpr uint64_t kMaxMessageBytes = 0xFFFFFFFFull;
inline constexpr uint32_t kMinMtu = 256;
inline constexpr uint32_t kMaxMtu = 9000;
// DataHeader::timestamp / AckHeader::ts_echo value meaning "no sample".
inline constexpr uint32_t kNoTimestamp = 0;

class Connection {
 public:
  Connection(Context* context, ProtectionDomain* pd, uint32_t qp_num, const QpInitAttr& attr,
             std::unique_ptr<CongestionControl> cc, uint16_t base_entropy,
             bool allocate_up_front);  // ContextConfig::allocate_up_front

  // --- verbs side (connection.cc) ---
  uint32_t qp_num() const { return qp_num_; }
  QpState state() const { return state_; }
  const QpCounters& counters() const { return counters_; }
  const std::string& error_reason() const { return error_reason_; }
  uint32_t peer_qp_num() const { return peer_qpn_; }
  uint32_t path_mtu() const { return mtu_; }  // payload bytes per packet
  const Endpoint& remote() const { return remote_; }
  std::string DebugState() const;
  // The congestion control's name and internal variables, for timelines.
  std::string_view cc_name() const { return cc_->name(); }
  int CcVariables(std::span<CcVariable, kMaxCcVariables> out) const {
    return cc_->DebugVariables(out);
  }

  absl::Status ToInit(const QpInitStateAttr& attr);
  absl::Status ToRtr(const QpRtrAttr& attr);
  absl::Status ToRts(const QpRtsAttr& attr);
  absl::Status ToError();
  // QueuePair::SetBaseRtt.
  absl::Status SetBaseRtt(Duration rtt);
  absl::Status PostSend(std::span<const SendWr> wrs, size_t* posted);
  absl::Status PostRecv(std::span<const RecvWr> wrs, size_t* posted);

  // --- driver side ---
  // Processes one decoded packet addressed to this QP (connection_rx.cc).
  void OnPacket(const TernView& packet, const RxInfo& rx, Time now);
  // Fires expired timers (connection_tx.cc).
  void RunTimers(Time now);
  // Writes the next packet ready at `now` into `out`; false when none is
  // (connection_tx.cc).
  bool BuildNext(Time now, TxPacket* out);
  // Writes the ACK or NACK due at `now`, if there is one: BuildNext's first
  // choice, for an owner that sends control packets ahead of data.
  bool BuildControl(Time now, TxPacket* out);
  // NextWakeup in two parts, changed by the same calls: when an ACK or NACK
  // is next due (a time in the past: now), and when timers or data next are;
  // Infinite when nothing is.
  Time ControlDueAt() const;
  Time NextTurnAt() const;
  // Earliest time BuildNext or RunTimers has work; Infinite when idle. A pure
  // function of the connection's state: it changes only in the calls above
  // (posting, state changes, OnPacket, RunTimers, BuildNext), after which the
  // owner must ask again. Earlier than the truth costs a wasted visit; later
  // delays a packet.
  Time NextWakeup() const;

  // --- receiver-driven pulls (TransportOptions::pull_window_packets) ---
  // True while packets that arrived wait for their pull.
  bool WantsPull() const { return pulls_owed_ > 0; }
  // Pulls one packet: the next ACK, due at once, lets the peer send one
  // packet more. Returns how long that packet, at full size, takes at
  // line_rate: the context's pacing interval.
  Duration GrantPull(Time now);

 private:
  // A new congestion-control algorithm from options_, for packets of `mtu`
  // payload bytes on a path of `base_rtt` (which options_ then keeps).
  absl::Status RestartCongestionControl(uint32_t mtu, Duration base_rtt);

  // A posted send work request.
  struct SendWqe {
    uint64_t wr_id;
    uint64_t length;  // total payload bytes
    uint64_t remote_addr;
    uint64_t read_placed;    // RDMA READ: response bytes placed so far
    Time rnr_backoff_until;  // RNR retries are counted once per backoff
    uint32_t msg_id;         // send sequence number
    uint32_t rsn;            // receive sequence number consumed at the peer
    uint32_t imm;
    uint32_t rkey;
    uint32_t packets_total;  // final once `segmented`
    uint32_t packets_acked;
    uint16_t num_sge;
    WrOpcode opcode;
    uint8_t send_flags;
    uint8_t rnr_retries_left;
    bool segmented;     // every packet has a PSN
    bool read_arrived;  // RDMA READ: a response packet arrived (zero-length reads too)
    bool done;          // ready to complete with `status`
    WcStatus status;
  };

  // A READ request accepted from the peer, answered from local memory.
  struct ReadResponse {
    uint64_t local_addr;
    uint32_t length;
    uint32_t msg_id;  // the requester's
    uint32_t offset;  // next byte to segment
    uint32_t packets_total;
    uint32_t packets_acked;
    Psn request_psn;  // runs only after every earlier PSN arrived (IB ordering)
    bool segmented;
  };

  // A posted receive.
  struct RecvWqe {
    uint64_t wr_id;
    uint64_t capacity;  // sum of SGE lengths
    uint32_t msg_len;
    uint32_t placed;
    uint32_t imm;
    Psn last_psn;  // of the message's last packet: completes once all before it arrived
    uint16_t num_sge;
    bool started;
    bool done;
    bool has_imm;
    WcOpcode opcode;
    WcStatus status;
  };

  struct PendingNack {
    Psn psn;
    NackReason reason;
    uint16_t entropy;
    uint32_t ts_echo;
  };

  // Outcome of processing a new DATA packet.
  enum class Verdict : uint8_t { kAccept, kRnr, kAccessError, kInvalid };

  // connection.cc
  SendWqe& sq(uint32_t ssn) { return sq_[ssn & sq_mask_]; }
  RecvWqe& rq(uint32_t rsn) { return rq_[rsn & rq_mask_]; }
  std::span<Sge> sq_sges(uint32_t ssn);
  std::span<const Sge> sq_sges(uint32_t ssn) const;
  std::span<Sge> rq_sges(uint32_t rsn);
  WcStatus ValidateLocal(std::span<const Sge> sges, uint32_t required_access);
  void CompleteSends();
  void CompleteRecvs();
  void Fail(WcStatus status, uint32_t failing_ssn, bool has_failing, std::string reason);
  void FlushAll();
  void FailOnOverrun();

  // connection_tx.cc
  bool BuildRetransmission(Time now, TxPacket* out);
  bool BuildNewData(Time now, TxPacket* out);
  bool NextSqMessage(uint32_t* ssn);
  // Payload bytes of the next packet of SQ message `ssn`, being segmented.
  uint32_t NextSegmentLength(uint32_t ssn) const;
  bool RetransmissionFits() const;
  bool NewDataFits() const;
  bool MayStart(const SendWqe& w) const;
  bool ReadResponseReady() const;
  bool WindowAllows(uint32_t bytes) const;
  Duration PullRepeatInterval() const;
  // Pulls, as the sender: whether they allow one more packet now.
  bool PullsOn() const { return options_.pull_window_packets > 0; }
  bool PullsAllow() const { return !PullsOn() || pull_credit_ > 0; }
  // A packet presumed lost (not trimmed: a trimmed one is pulled for) gives
  // its credit back.
  void RefundPulls(uint32_t packets) { pull_credit_ += packets; }
  Time DataReadyAt() const;
  void EmitData(Psn psn, Time now, bool retransmit, TxPacket* out);
  void OnTimeout(Time now);
  void OnProbeTimeout();
  void ArmProbe(Time now);
  void ArmRto(Time now);
  Duration LossThreshold() const;
  Duration PathPenalty() const;
  void ReportLosses(Time now, uint32_t packets, uint32_t bytes, uint16_t entropy);
  // Applies a congestion control's path advice about `entropy`.
  void FollowPathAdvice(PathAdvice advice, uint16_t entropy, Time now);

  // connection_rx.cc
  void OnData(const TernView& packet, const RxInfo& rx, Time now);
  void OnAck(const TernView& packet, const RxInfo& rx, Time now);
  void OnNack(const TernView& packet, Time now);
  Verdict AcceptSend(const TernView& packet, bool* completed);
  void NoteLastPacket(RecvWqe& r, const TernView& packet);
  Verdict AcceptWrite(const TernView& packet, bool* completed);
  Verdict AcceptReadRequest(const TernView& packet);
  Verdict AcceptReadResponse(const TernView& packet, bool* completed);
  Verdict CheckRemoteAccess(const TernView& packet, uint32_t access, uint8_t** target);
  void QueueNack(Psn psn, NackReason reason, uint16_t entropy, uint32_t ts_echo);
  void OnPacketAcked(const TxSlot& slot);
  void UpdateRtt(Duration sample);

  // --- identity and configuration ---
  Context* context_;
  ProtectionDomain* pd_;
  // The regions this QP's posts (lkeys) and the peer's requests (rkeys) named
  // last.
  RegionLookupCache local_region_;
  RegionLookupCache remote_region_;
  const uint32_t qp_num_;
  QpState state_ = QpState::kReset;
  CompletionQueue* send_cq_;
  CompletionQueue* recv_cq_;
  QpCaps caps_;
  TransportOptions options_;
  uint32_t access_ = 0;  // remote access allowed on this QP
  uint32_t peer_qpn_ = 0;
  Endpoint remote_;
  uint32_t mtu_ = 4096;
  uint32_t max_rd_atomic_ = 16;
  uint32_t max_dest_rd_atomic_ = 16;
  uint8_t retry_cnt_ = 7;
  uint8_t rnr_retry_ = kRnrRetryForever;
  Duration min_rnr_timer_ = Duration::Microseconds(10);
  std::string error_reason_;
  QpCounters counters_;

  // --- send queue: [sq_head_, sq_tail_) posted, sq_next_ next to segment ---
  std::vector<SendWqe> sq_;
  std::vector<Sge> sq_sge_pool_;
  std::vector<uint8_t> inline_pool_;
  uint32_t sq_mask_;
  uint32_t sq_head_ = 0;
  uint32_t sq_tail_ = 0;
  uint32_t sq_next_ = 0;  // message being segmented
  uint32_t seg_sge_ = 0;  // its SGE
  uint32_t seg_sge_offset_ = 0;
  uint32_t seg_msg_offset_ = 0;
  uint32_t next_rsn_ = 0;  // next receive sequence number to consume at the peer
  uint32_t reads_outstanding_ = 0;

  // --- responder READ queue: [rd_head_, rd_tail_), rd_next_ being segmented ---
  std::vector<ReadResponse> rd_;
  uint32_t rd_mask_;
  uint32_t rd_head_ = 0;
  uint32_t rd_tail_ = 0;
  uint32_t rd_next_ = 0;

  // --- receive queue: [rq_head_, rq_tail_) posted ---
  std::vector<RecvWqe> rq_;
  std::vector<Sge> rq_sge_pool_;
  uint32_t rq_mask_;
  uint32_t rq_head_ = 0;
  uint32_t rq_tail_ = 0;

  // --- reliability ---
  SendScoreboard scoreboard_;
  ReceiveTracker tracker_;
  AckPolicy ack_policy_;
  PathSelector paths_;
  std::unique_ptr<CongestionControl> cc_;
  bool request_telemetry_ = false;  // the algorithm reads telemetry: DATA carries a stack
  Psn peer_window_end_ = 0;         // flow control from the peer's ACKs
  Time next_send_at_;               // pacing
  Time rnr_hold_until_;             // RNR NACK: no data until then
  Time rto_deadline_ = Time::Infinite();
  Time probe_deadline_ = Time::Infinite();  // tail-loss probe (RACK-TLP, RFC 8985)
  bool probe_sent_ = false;                 // one probe per silence: the next waits for an ACK
  Duration rto_;
  uint8_t rto_retries_ = 0;
  Duration srtt_;
  Duration rttvar_;
  Duration rtt_max_;
  Duration rtt_min_;
  bool have_rtt_ = false;

  // --- what the next ACK reports ---
  uint32_t ack_ts_echo_ = kNoTimestamp;
  uint32_t ack_echo_arrived_ns_ = 0;  // our clock, ns mod 2^32, when that packet arrived
  uint16_t ack_entropy_ = 0;
  uint16_t ack_ce_count_ = 0;
  bool ack_echo_marked_ = false;    // the packet echoed arrived CE-marked
  bool ack_cnp_ = false;            // the next ACK carries a CNP
  Time next_cnp_allowed_;           // CNP rate limit (TransportOptions::cnp_interval)
  bool ack_has_telemetry_ = false;  // the next ACK echoes ack_telemetry_
  TelemetryStack ack_telemetry_{};
  bool sack_at_cumulative_ = false;  // alternates when the bitmap cannot cover everything
  Psn pull_end_ = 0;                 // pulls: the peer may send PSNs before this one
  uint32_t pulls_owed_ = 0;          // pulls: packets taken in and not yet pulled for
  // Pulls, as the sender: packets it may still send, new or resent. Each
  // packet sent spends one; the peer's pulls (window_end advancing) add them
  // back, and so does each packet presumed lost, whose pull never comes.
  int64_t pull_credit_ = 0;
  // Pulls, as the receiver: a pull's ACK may be lost, and a sender with no
  // credit and nothing in flight sends nothing that would bring another. If
  // no data follows a pull, its ACK is repeated (window_end is cumulative),
  // at doubling intervals, kPullRepeats times at most.
  static constexpr uint8_t kPullRepeats = 4;
  Time pull_repeat_at_ = Time::Infinite();
  uint8_t pull_repeats_ = 0;

  // --- NACKs waiting to be sent (a small ring; overflow drops, counted) ---
  static constexpr uint32_t kNackQueue = 16;
  PendingNack nacks_[kNackQueue];
  uint32_t nack_head_ = 0;
  uint32_t nack_count_ = 0;
};

}  // namespace tern
