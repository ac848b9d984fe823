// The verbs-like API: what applications program against. It follows ibverbs
// closely (ibv_context, ibv_pd, ibv_mr, ibv_cq, ibv_qp, work requests and work
// completions) so that an RDMA programmer can read it without a manual.
//
// Threading: one thread owns a Context and everything created from it
// (run-to-completion). Nothing here blocks or reads a clock.
//
// The driver side (OnFrame / PollTransmit / NextWakeup) is how a dataplane — the
// simulator or DPDK — moves packets and time through the protocol. The
// application never calls it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cc/congestion_control.h"
#include "transport/fifo.h"
#include "transport/pull_queue.h"
#include "transport/sequence.h"
#include "transport/transmit_schedule.h"
#include "transport/units.h"
#include "transport/wire.h"

namespace tern {

class Context;
class Connection;
class ProtectionDomain;

// ---------------------------------------------------------------------------
// Work requests and completions.

enum class WrOpcode : uint8_t { kSend, kSendWithImm, kRdmaWrite, kRdmaWriteWithImm, kRdmaRead };

enum SendFlag : uint32_t {
  kSendSignaled = 1 << 0,  // produce a completion on success (errors always do)
  kSendInline = 1 << 1,    // copy the payload at post time; lkeys are not checked
  kSendFence = 1 << 2,     // start only after every earlier RDMA READ completed
};

enum AccessFlag : uint32_t {
  kAccessLocalWrite = 1 << 0,
  kAccessRemoteWrite = 1 << 1,
  kAccessRemoteRead = 1 << 2,
};

// Scatter/gather element: `length` bytes at `addr` in the region with `lkey`.
struct Sge {
  uint64_t addr = 0;
  uint32_t length = 0;
  uint32_t lkey = 0;
};

struct SendWr {
  uint64_t wr_id = 0;
  WrOpcode opcode = WrOpcode::kSend;
  uint32_t send_flags = 0;       // SendFlag bits
  std::span<const Sge> sg_list;  // copied at post time
  uint32_t imm_data = 0;         // *_WITH_IMM
  uint64_t remote_addr = 0;      // RDMA_*
  uint32_t rkey = 0;             // RDMA_*
};

struct RecvWr {
  uint64_t wr_id = 0;
  std::span<const Sge> sg_list;  // copied at post time
};

enum class WcStatus : uint8_t {
  kSuccess,
  kLocLenErr,       // message larger than the receive buffer, or than the maximum
  kLocQpOpErr,      // internal QP consistency error
  kLocProtErr,      // an lkey or local bounds check failed
  kWrFlushErr,      // flushed because the QP went to ERR
  kRemAccessErr,    // the responder refused an rkey, access right or bound
  kRemInvReqErr,    // the responder found the request invalid (e.g. receive too small)
  kRetryExcErr,     // the retry budget ran out with no progress
  kRnrRetryExcErr,  // the responder had no receive posted, retries ran out
};
const char* WcStatusName(WcStatus status);

enum class WcOpcode : uint8_t { kSend, kRdmaWrite, kRdmaRead, kRecv, kRecvRdmaWithImm };
const char* WcOpcodeName(WcOpcode opcode);

struct WorkCompletion {
  uint64_t wr_id = 0;
  WcStatus status = WcStatus::kSuccess;
  WcOpcode opcode = WcOpcode::kSend;
  uint32_t byte_len = 0;  // receives and READs: bytes placed
  uint32_t imm_data = 0;  // valid when has_imm
  bool has_imm = false;
  uint32_t qp_num = 0;
};

// ---------------------------------------------------------------------------
// Resources.

class MemoryRegion {
 public:
  uint64_t addr() const { return addr_; }
  uint64_t length() const { return length_; }
  uint32_t lkey() const { return lkey_; }
  uint32_t rkey() const { return rkey_; }
  uint32_t access() const { return access_; }
  ProtectionDomain* pd() const { return pd_; }

 private:
  friend class ProtectionDomain;
  friend class Context;
  uint64_t addr_ = 0;
  uint64_t length_ = 0;
  uint32_t lkey_ = 0;
  uint32_t rkey_ = 0;
  uint32_t access_ = 0;
  ProtectionDomain* pd_ = nullptr;
};

// What an access check reads of the region one key names, copied out of the
// region. A connection keeps one per direction for the key it used last: a QP
// usually names one region, so most packets skip the lookup and the cache miss
// on the region object. See Context::FindRegionCached.
struct RegionLookupCache {
  uint32_t key = 0;
  bool remote_key = false;
  uint64_t generation = 0;  // Context's region generation when filled; 0: empty
  uint64_t addr = 0;
  uint64_t length = 0;
  uint32_t access = 0;
  const ProtectionDomain* pd = nullptr;
};

class ProtectionDomain {
 public:
  // Registers [addr, addr+length) with AccessFlag bits. The memory must stay
  // valid until DeregisterMemory. Returns the region, owned by the context.
  absl::StatusOr<MemoryRegion*> RegisterMemory(void* addr, uint64_t length, uint32_t access);
  absl::Status DeregisterMemory(MemoryRegion* mr);
  Context* context() const { return context_; }

 private:
  friend class Context;
  explicit ProtectionDomain(Context* context) : context_(context) {}
  Context* context_;
};

class CompletionQueue {
 public:
  // Moves up to out.size() completions into `out`; returns how many. Never blocks.
  size_t Poll(std::span<WorkCompletion> out);
  size_t capacity() const { return capacity_; }
  size_t size() const { return ring_.size(); }
  // Completions that found the queue full and were lost (the QPs that produced
  // them moved to ERR, as with an ibverbs CQ overrun).
  uint64_t overruns() const { return overruns_; }

 private:
  friend class Context;
  friend class Connection;
  CompletionQueue(size_t capacity, bool allocate_up_front) : capacity_(capacity) {
    if (allocate_up_front) ring_.reserve(capacity);
  }
  bool Push(const WorkCompletion& wc);
  // Memory for the most completions ever held at once, unless allocated up
  // front: a host's queues are sized for every QP completing everything at once.
  Fifo<WorkCompletion> ring_;
  size_t capacity_;
  uint64_t overruns_ = 0;
};

// ---------------------------------------------------------------------------
// Queue pairs (reliable connected).

enum class QpState : uint8_t { kReset, kInit, kRtr, kRts, kErr };
const char* QpStateName(QpState state);

struct QpCaps {
  uint32_t max_send_wr = 256;
  uint32_t max_recv_wr = 256;
  uint32_t max_send_sge = 4;
  uint32_t max_recv_sge = 4;
  uint32_t max_inline_data = 256;
};

enum class PathPolicy : uint8_t {
  kSinglePath,  // one entropy for everything (comparison baseline)
  kOblivious,   // round-robin over `paths` entropies
  kWeighted,    // round-robin, skipping entropies recently marked, trimmed or lost
  kRecycled,    // re-use entropies of acknowledged unmarked packets, else as weighted
};
inline constexpr PathPolicy kPathPolicies[] = {PathPolicy::kSinglePath, PathPolicy::kOblivious,
                                               PathPolicy::kWeighted, PathPolicy::kRecycled};
const char* PathPolicyName(PathPolicy policy);
// The policy a name from PathPolicyName stands for; nullopt for any other text.
std::optional<PathPolicy> ParsePathPolicy(std::string_view name);
// The names ParsePathPolicy accepts, for error messages: "single|oblivious|...".
std::string PathPolicyNames();

// The most entropies one QP sprays over: two blocks of this size fit in the
// entropy ports (wire.h), so a QP that re-paths gets a block disjoint from its
// last one.
inline constexpr uint16_t kMaxPaths = 8192;

// Tern's own knobs, beyond what ibverbs has. Defaults suit a 400G fabric with
// microsecond RTTs.
struct TransportOptions {
  uint16_t paths = 8;  // distinct entropy values sprayed over, 1..kMaxPaths
  PathPolicy path_policy = PathPolicy::kWeighted;
  uint32_t window_packets = 1024;                  // send window and receive bitmap; power of two
  uint32_t ack_every = 4;                          // coalesce ACKs over this many data packets...
  Duration ack_delay = Duration::Microseconds(2);  // ...or this long after the first
  Duration min_rto = Duration::Microseconds(100);
  Duration max_rto = Duration::Milliseconds(100);
  // Extra time a packet may trail a later-sent, already acknowledged packet on
  // another path before it is declared lost, on top of a quarter of the RTT.
  Duration reorder_window = Duration::Microseconds(10);
  std::string congestion_control = "fixed";  // CreateCongestionControl spec
  Bandwidth line_rate = Bandwidth::Gbps(400);
  // The fabric's base RTT as the operator configures it (as UEC does), for
  // congestion controls that scale windows or delay targets from it.
  Duration base_rtt = Duration::Microseconds(8);
  // Receiver: after a CE-marked packet, the next ACK carries a CNP unless one
  // went out less than this long ago (DCQCN's notification point; the paper's
  // N = 50 us; NVIDIA NICs default to 4 us, min_time_between_cnps).
  Duration cnp_interval = Duration::Microseconds(50);
  // Receiver-driven pulls, after EQDS (Olteanu et al., NSDI'22): 0 is off.
  // Otherwise a connection may send this many packets beyond what the peer
  // has pulled; the receiver pulls one packet per data packet it takes in,
  // and its context paces the pulls of all its connections at line_rate, so
  // arrivals at a host never exceed its link and the excess waits as pulls
  // at the receiver rather than as packets in the fabric. Both ends of a
  // connection must use the same value (docs/protocol.md, section 8.6).
  uint32_t pull_window_packets = 0;
};

struct QpInitAttr {
  CompletionQueue* send_cq = nullptr;
  CompletionQueue* recv_cq = nullptr;
  QpCaps cap;
  TransportOptions transport;
};

// RESET -> INIT.
struct QpInitStateAttr {
  uint32_t access = kAccessRemoteWrite | kAccessRemoteRead;  // allowed to remote peers
};

// INIT -> RTR: who the peer is and where our receive sequence starts.
struct QpRtrAttr {
  uint32_t dest_qp_num = 0;
  Psn rq_psn = 0;                    // first PSN expected from the peer
  Endpoint remote;                   // peer's MAC / IP / Tern UDP port
  uint32_t path_mtu = 4096;          // payload bytes per packet, 256..9000
  uint32_t max_dest_rd_atomic = 16;  // READ requests the peer may have outstanding here
  Duration min_rnr_timer = Duration::Microseconds(10);  // advertised in RNR NACKs
};

// rnr_retry 7 retries without limit, as in ibverbs: a receiver that posts its
// receives late delays a SEND but does not fail it.
inline constexpr uint8_t kRnrRetryForever = 7;

// RTR -> RTS: our send sequence and retry budgets.
struct QpRtsAttr {
  Psn sq_psn = 0;                        // first PSN we send
  uint8_t retry_cnt = 7;                 // RTO expiries without progress before RETRY_EXC_ERR
  uint8_t rnr_retry = kRnrRetryForever;  // RNR NACKs per message before RNR_RETRY_EXC_ERR, 0..7
  uint32_t max_rd_atomic = 16;           // READs we keep outstanding
};

// Per-QP counters, named after the ibverbs/mlx5 counters where one exists.
struct QpCounters {
  uint64_t data_packets_sent = 0;
  uint64_t data_bytes_sent = 0;
  uint64_t retransmitted_packets = 0;
  uint64_t retransmitted_bytes = 0;
  uint64_t retransmits_loss_detected = 0;
  uint64_t retransmits_timeout = 0;
  uint64_t retransmits_trim = 0;
  uint64_t retransmits_rnr = 0;
  uint64_t tail_probes = 0;            // oldest packet resent to elicit an ACK when none came
  uint64_t local_ack_timeout_err = 0;  // RTO expiries
  uint64_t acks_sent = 0;
  uint64_t acks_received = 0;
  uint64_t nacks_sent = 0;
  uint64_t nacks_dropped = 0;  // NACK queue full: the peer recovers by timeout
  uint64_t nacks_received = 0;
  uint64_t data_packets_received = 0;
  uint64_t duplicate_packets = 0;  // already received: dropped, re-acknowledged
  uint64_t out_of_sequence = 0;    // arrived ahead of the cumulative point
  uint64_t packet_seq_err = 0;     // outside the receive window
  uint64_t ignored_in_state =
      0;  // arrived when the QP state does not take it (INIT; ACK/NACK not in RTS)
  uint64_t stale_nacks = 0;         // NACK for a PSN no longer outstanding
  uint64_t pulls_granted = 0;       // receiver: packets pulled (pull_window_packets > 0)
  uint64_t pull_acks_repeated = 0;  // receiver: no data followed a pull, its ACK went again
  uint64_t trimmed_received = 0;
  uint64_t rnr_nak_sent = 0;
  uint64_t rnr_nak_received = 0;
  uint64_t ce_marked_received = 0;
  // A PSN marked lost that an ACK then showed had arrived, before its resend
  // went out. Resends that were not needed show as the receiver's
  // duplicate_packets.
  uint64_t spurious_loss_marks = 0;
  uint64_t entropy_changes = 0;  // retransmissions sent on a different path
  uint64_t window_limited = 0;   // times the window or flow control stopped sending
  uint64_t np_cnp_sent = 0;      // receiver: CNPs sent (ACKs flagged CNP)
  uint64_t rp_cnp_handled = 0;   // sender: CNPs passed to the congestion control
  uint64_t cc_path_avoids = 0;   // congestion control advised leaving an entropy

  // Adds every counter of `other`: totals over QPs or over both ends of a connection.
  QpCounters& operator+=(const QpCounters& other);
  // Counter by counter; `other` must be an earlier snapshot of these counters.
  QpCounters& operator-=(const QpCounters& other);
};

// A uint64_t counter of a counters struct, with its name in reports.
template <typename Counters>
struct CounterField {
  const char* name;
  uint64_t Counters::*member;
};
// Every QpCounters field with the name reports and files give it: one list,
// so a new counter cannot be summed, printed or saved in some places only.
using QpCounterField = CounterField<QpCounters>;
std::span<const QpCounterField> QpCounterFields();

class QueuePair {
 public:
  uint32_t qp_num() const;
  QpState state() const;
  const QpCounters& counters() const;
  // Why the QP entered ERR, when it did.
  const std::string& error_reason() const;

  absl::Status ToInit(const QpInitStateAttr& attr);
  absl::Status ToRtr(const QpRtrAttr& attr);
  absl::Status ToRts(const QpRtsAttr& attr);
  // Moves to ERR: outstanding work requests complete with WR_FLUSH_ERR.
  absl::Status ToError();
  // The path's base RTT as measured once connected (until then
  // TransportOptions::base_rtt): the congestion control starts again from
  // it, as at RTR. Only in RTS with no packet in flight; rtt > 0.
  absl::Status SetBaseRtt(Duration rtt);

  // Posts work requests in order. On failure `*posted` (when given) is the
  // index of the request that failed: the ones before it were posted.
  absl::Status PostSend(std::span<const SendWr> wrs, size_t* posted = nullptr);
  absl::Status PostRecv(std::span<const RecvWr> wrs, size_t* posted = nullptr);
  absl::Status PostSend(const SendWr& wr) { return PostSend({&wr, 1}); }
  absl::Status PostRecv(const RecvWr& wr) { return PostRecv({&wr, 1}); }

  // One line: window, in-flight, rtt, cc state. For logs.
  std::string DebugState() const;
  // The congestion control's name and its variables now (window first), for
  // timelines; returns how many were written. Cheap: no allocation.
  std::string_view cc_name() const;
  int CcVariables(std::span<CcVariable, kMaxCcVariables> out) const;
  // When the QP next has work for the dataplane (a packet or a timer): at or
  // before now when it has some, Infinite when idle. For tests and diagnostics.
  Time NextWakeup() const;

 private:
  friend class Context;
  QueuePair(Context* context, std::unique_ptr<Connection> connection,
            TransmitSchedule::Slot schedule_slot);
  // Every call that can move the connection's wakeup ends here. The verbs
  // layer does it rather than the connection, so the protocol engine stays
  // unaware of how its context schedules transmission.
  void Reschedule();

  Context* context_;
  std::unique_ptr<Connection> connection_;
  TransmitSchedule::Slot schedule_slot_;

 public:
  ~QueuePair();
};

// ---------------------------------------------------------------------------
// The context: one per thread per port.

inline constexpr uint32_t kMaxPacketsPerTurn = 1024;  // ContextConfig::packets_per_turn

// QP numbers a context hands out start here. A host with several contexts
// (DPDK workers) starts worker w's at WorkerFirstQpNum(w), so that a capture
// or a log names a QP of the host by its number alone.
inline constexpr uint32_t kFirstQpNum = 0x100;
inline constexpr uint32_t WorkerFirstQpNum(uint32_t worker) { return kFirstQpNum + (worker << 16); }

struct ContextConfig {
  Endpoint local;     // this host's MAC / IP / Tern UDP port
  uint64_t seed = 1;  // the context's randomness (entropy choice, jitter) is all from here
  // When true the dataplane computes and verifies the Tern checksum (NIC
  // offload, or a driver that does it); when false the context does.
  bool checksum_offload = false;
  uint32_t first_qp_num = kFirstQpNum;
  // ACKs and NACKs that one PollTransmit call produces for the same peer
  // endpoint leave in one datagram (kFlagCoalesced), up to the path MTU:
  // with many QPs between two hosts, one frame instead of one per QP.
  bool coalesce_control = true;
  // Contexts that share this host's link (the DPDK workers of one port): each
  // paces its receiver-driven pulls at line_rate / this many, so that together
  // they pull no more than the link carries (docs/protocol.md section 8.6).
  uint32_t contexts_sharing_link = 1;
  // Packets a queue pair sends in a row before the next due one gets its turn
  // (TransmitSchedule). One is a strict packet round-robin; with many active
  // queue pairs that brings each one's state back from memory for every
  // packet and leaves the receiver a single packet to acknowledge at a time.
  uint32_t packets_per_turn = 16;
  // Each completion queue and each QP's send scoreboard take their full size
  // at creation, so that nothing is allocated on the data path (a DPDK
  // worker). Otherwise they grow as they fill, to the most they hold at once:
  // the replayer sizes a host's CQs for every QP completing everything at
  // once, 8 MiB a host on a 1024-host all-to-all, for completions that never
  // come all at once.
  bool allocate_up_front = false;
  // The IPv4 TOS / IPv6 traffic class of every frame, less the ECN bits (Tern
  // sends ECT(0)): DSCP << 2, as ibverbs' traffic_class and perftest's
  // --tclass take it. Switches pick the queue, and with it the ECN marking
  // and PFC settings, from the DSCP; 0 is best effort.
  uint8_t traffic_class = 0;
};

// Counters of packets the context refused before any QP saw them.
struct ContextCounters {
  uint64_t frames_received = 0;
  uint64_t packets_sent = 0;  // Tern packets, coalesced ones included
  // Control packets that left inside another's datagram, and those that
  // arrived so.
  uint64_t control_coalesced_sent = 0;
  uint64_t control_coalesced_received = 0;
  uint64_t drops[static_cast<size_t>(DropReason::kCount)] = {};
};

// A packet the protocol wants sent: Tern headers here, payload by reference
// into registered memory (not copied), plus where it goes. The payload stays
// valid until the message it belongs to completes; the payload of a
// coalesced ACK or NACK (the control packets after it, in the context's own
// memory) only until the next PollTransmit call.
struct TxPacket {
  const Endpoint* src = nullptr;
  const Endpoint* dst = nullptr;
  uint16_t entropy = 0;  // UDP source port
  uint16_t header_len = 0;
  uint8_t traffic_class = 0;  // ContextConfig::traffic_class
  alignas(8) uint8_t header[kMaxTernHeaderBytes];
  std::span<const uint8_t> payload;

  size_t tern_len() const { return header_len + payload.size(); }
  // DATA, whose payload is message bytes; otherwise an ACK or NACK, whose
  // payload (if any) is the control packets coalesced after it.
  bool is_data() const;
  bool is_retransmission() const;  // flag RETRANSMIT
  // Writes the whole frame (outer headers, Tern headers, payload) into `out`,
  // which must hold frame_len() bytes; returns the bytes written.
  size_t WriteFrame(uint8_t* out) const;
  size_t frame_len() const;
  // Writes the outer and Tern headers alone, for a dataplane that sends the
  // payload from where it lies; returns the bytes written.
  size_t WriteHeaders(uint8_t* out) const;
};

class Context {
 public:
  static absl::StatusOr<std::unique_ptr<Context>> Create(const ContextConfig& config);
  ~Context();

  ProtectionDomain* AllocPd();
  absl::StatusOr<CompletionQueue*> CreateCq(size_t capacity);
  absl::StatusOr<QueuePair*> CreateQp(ProtectionDomain* pd, const QpInitAttr& attr);
  absl::Status DestroyQp(QueuePair* qp);

  const Endpoint& local() const { return config_.local; }
  const ContextCounters& counters() const { return counters_; }

  // --- driver side ---------------------------------------------------------

  // Hands the context one received Ethernet frame. Bad frames are counted in
  // counters().drops and otherwise ignored.
  void OnFrame(std::span<const uint8_t> frame, Time now);
  // The same for a frame whose outer headers the dataplane already parsed
  // (frame.tern is the UDP payload; src.ip, entropy and ecn must be set).
  void OnPacket(const FrameView& frame, Time now);

  // Fills `out` with up to out.size() packets ready at `now` and returns how
  // many were written. Only QPs with work due are visited: each has its
  // expired timers run, then gives one packet (control first, then data) and
  // goes behind the other due QPs, so a burst is shared round-robin.
  size_t PollTransmit(Time now, std::span<TxPacket> out);

  // When PollTransmit must next be called even if no frame arrives: `now` or
  // earlier if something is ready, Time::Infinite() if nothing is pending.
  Time NextWakeup() const;

  // Finds the region holding [addr, addr+len) for `key`, or null. Used by the
  // connections for lkey and rkey checks.
  const MemoryRegion* FindRegion(uint32_t key, bool remote_key) const;
  // FindRegion through `cache`: true when `key` names a region, whose bounds
  // and rights `cache` then holds. The cache answers while no region has been
  // deregistered since it was filled; a registration changes no answer.
  bool FindRegionCached(uint32_t key, bool remote_key, RegionLookupCache& cache) const;

 private:
  // What a received packet needs of its QP, kept in one compact array so
  // that the lookup does not load the QueuePair object on the way.
  struct QpEntry {
    uint32_t qp_num;
    TransmitSchedule::Slot slot;
    Connection* connection;
  };

  explicit Context(const ContextConfig& config);
  const QpEntry* FindQp(uint32_t qp_num) const;
  // Re-keys the connection in `slot` after its wakeup may have changed.
  void Reschedule(TransmitSchedule::Slot slot, const Connection& connection);
  // Sets the checksum and addresses of a packet `connection` built.
  void Finish(const Connection& connection, TxPacket& packet) const;
  // Decodes and delivers one Tern packet of a datagram.
  void OnTernPacket(const FrameView& frame, std::span<const uint8_t> bytes, Time now);
  // Puts the control packets of `packets` bound for one endpoint into the
  // first one's datagram; returns how many packets are left (in order).
  size_t CoalesceControl(std::span<TxPacket> packets);
  // Sets kFlagCoalesced on a built control packet and seals it again.
  void MarkFollowed(std::span<uint8_t> packet) const;
  // Grants the pulls due by `now`, one packet each, round-robin among the
  // connections owed them, paced at each one's line rate.
  void GrantPulls(Time now);

  ContextConfig config_;
  ContextCounters counters_;
  std::vector<std::unique_ptr<ProtectionDomain>> pds_;
  std::vector<std::unique_ptr<MemoryRegion>> regions_;
  // regions_[i]'s key index, beside it for the same reason as qp_entries_.
  std::vector<uint32_t> region_indexes_;
  std::vector<std::unique_ptr<CompletionQueue>> cqs_;
  std::vector<std::unique_ptr<QueuePair>> qps_;  // sorted by QP number
  // qps_[i]'s entry, beside it: the lookup per received packet searches one
  // compact array and goes from it straight to the connection.
  std::vector<QpEntry> qp_entries_;
  // The QPs by when they next have work, and the connection of each schedule
  // slot (the transmit path, too, skips the QueuePair object).
  TransmitSchedule schedule_;
  // The same slots by when each next owes an ACK or NACK: those go out ahead
  // of data turns. Behind a round of other QPs' turns (with many QPs sending
  // both ways, tens of microseconds) an ACK would hold back the peer's
  // window and fire its tail probes.
  TransmitSchedule control_schedule_;
  std::vector<Connection*> connection_of_slot_;
  // Slots due in a PollTransmit that sent nothing: rescheduled once it ends,
  // so one call visits each of them once (in each schedule).
  std::vector<TransmitSchedule::Slot> idle_due_;
  // Receiver-driven pulls: the QPs owed pulls (by schedule slot) and when the
  // next pull may go.
  PullQueue pulls_;
  Time next_pull_at_;
  // CoalesceControl's work space: which of the first kCoalesceScan packets
  // may carry others and how many bytes (the path MTU), and the bytes of the
  // packets they carry.
  static constexpr size_t kCoalesceScan = 64;
  std::array<uint32_t, kCoalesceScan> coalesce_limit_{};
  std::array<uint8_t, kCoalesceScan * kMaxTernHeaderBytes> coalesce_buffer_{};
  uint32_t next_qp_num_;
  uint32_t next_key_ = 1;
  // Moves on every deregistration, emptying every RegionLookupCache.
  uint64_t region_generation_ = 1;
  uint64_t rng_seed_;

  friend class ProtectionDomain;
  friend class QueuePair;
};

}  // namespace tern
