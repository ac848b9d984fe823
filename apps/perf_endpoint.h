// One side of a tern-perf test on a real dataplane: its queue pairs, buffers
// and the test's posting logic, driven from the thread that drives its
// Context. The requester (client) posts the test's messages and measures; the
// responder (server) serves receives, checks what arrives and answers pings.
// Neither reads the other's memory, so the same code runs in one process
// (--loopback) and across two (--server / --connect).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "apps/perf_options.h"
#include "apps/perf_pattern.h"
#include "apps/perf_runner.h"
#include "dataplane/control/control_channel.h"
#include "transport/verbs.h"

namespace tern::perf {

class PerfEndpoint {
 public:
  PerfEndpoint(const PerfOptions& options, uint64_t size, bool requester, Context& context,
               BufferAllocator allocator = {});

  // Creates the QPs (to INIT), buffers and memory regions.
  absl::Status SetUp();
  std::vector<control::QpSetup> LocalQps() const;
  // Moves every QP to RTS towards the peer's QPs, in order.
  absl::Status Connect(std::span<const control::QpSetup> peer, const Endpoint& peer_endpoint);

  // Posts the first messages (requester), or posts the receives and fills
  // the READ sources (responder: before the requester starts).
  void Start(Time now);
  // Polls the completion queues and reacts to every completion.
  void Poll(Time now);
  // Requester: every message completed. Responder: every message it must
  // see or send arrived or completed.
  bool done() const;
  bool failed() const { return failed_; }
  const std::string& failure() const { return failure_; }
  // Responder, write_bw: checks the last message written into each target
  // slot (the only ones still there). Call when the requester is done.
  void FinalCheck();

  // Results of this side.
  uint64_t messages_completed() const { return messages_completed_; }
  uint64_t total_messages() const { return total_messages_; }
  uint64_t bytes_verified() const { return bytes_verified_; }
  uint64_t data_errors() const { return data_errors_; }
  Time first_post() const { return start_; }
  Time last_completion() const { return last_completion_; }
  double peak_gbps() const { return peak_ ? peak_->peak_gbps() : 0; }
  uint64_t peak_window() const { return peak_ ? peak_->window() : 0; }
  std::vector<double>& latency_samples() { return samples_usec_; }
  std::vector<QueuePair*> qps() const;
  // First QP that has not finished, with its state: for stall reports.
  std::string DescribeProgress() const;

 private:
  struct Flow {
    QueuePair* qp = nullptr;
    MemoryRegion* mr = nullptr;
    Buffer buffer;
    uint64_t slots = 0;         // messages outstanding at once (posted sends or receives)
    uint64_t buffer_slots = 0;  // messages the buffer holds; message m uses slot m % this
    control::QpSetup peer;
    uint64_t posted = 0;
    uint64_t completed = 0;
    uint64_t recv_posted = 0;
    uint64_t recv_completed = 0;
  };
  uint8_t* SlotPtr(Flow& f, uint64_t slot) {
    return f.buffer.get() + (slot % f.buffer_slots) * size_;
  }
  uint64_t SlotAddr(Flow& f, uint64_t slot) { return reinterpret_cast<uint64_t>(SlotPtr(f, slot)); }
  uint64_t PeerSlotAddr(const Flow& f, uint64_t slot) const {
    return f.peer.addr + (slot % (f.peer.length / size_)) * size_;
  }
  // Direction 0: requester -> responder; 1: back.
  uint64_t Pattern(size_t flow, int direction, uint64_t message) const {
    return PatternBase(options_.seed, 2 * uint64_t{flow} + static_cast<uint64_t>(direction),
                       message);
  }
  void Check(Flow& f, uint64_t slot, uint64_t base, uint64_t byte_len);
  void Fail(std::string why);
  void PostSend(Flow& f, const SendWr& wr);
  void PostRecv(Flow& f, uint64_t wr_id, uint64_t addr, uint32_t length);
  void OnCompletion(bool recv, const WorkCompletion& wc, Time now);
  void Completed(Time now);

  void PostBwMessage(size_t flow);
  void OnBwCompletion(bool recv, const WorkCompletion& wc, Time now);
  void PostLatMessage(uint64_t i, Time now);
  void OnLatCompletion(bool recv, const WorkCompletion& wc, Time now);

  const PerfOptions options_;  // with the warm-up round trips as iterations
  const uint64_t size_;
  const bool requester_;
  const bool latency_test_;
  Context& context_;
  const BufferAllocator allocator_;
  ProtectionDomain* pd_ = nullptr;
  CompletionQueue* send_cq_ = nullptr;
  CompletionQueue* recv_cq_ = nullptr;
  std::vector<Flow> flows_;
  // Poll's batch, kept here: a local array of WorkCompletion (which has member
  // initializers) is zeroed on every call of the poll loop.
  std::array<WorkCompletion, 32> completions_;

  bool failed_ = false;
  std::string failure_;
  Time start_;
  Time last_completion_;
  std::unique_ptr<PeakRateTracker> peak_;
  uint64_t total_messages_ = 0;
  uint64_t messages_completed_ = 0;
  uint64_t bytes_verified_ = 0;
  uint64_t data_errors_ = 0;

  // Latency tests: the iteration in flight, and when its ping left.
  uint64_t iteration_ = 0;
  uint64_t sends_completed_ = 0;
  Time ping_time_;
  std::vector<double> samples_usec_;
};

}  // namespace tern::perf
