#include "dataplane/dpdk/telemetry.h"

#include <rte_telemetry.h>

#include <algorithm>

#include "absl/strings/str_format.h"

namespace tern::dpdk {
namespace {

void AddQpCounters(rte_tel_data* d, const QpCounters& c) {
  // The names ibverbs/mlx5 users know, then Tern's own.
  rte_tel_data_add_dict_u64(d, "out_of_sequence", c.out_of_sequence);
  rte_tel_data_add_dict_u64(d, "packet_seq_err", c.packet_seq_err);
  rte_tel_data_add_dict_u64(d, "local_ack_timeout_err", c.local_ack_timeout_err);
  rte_tel_data_add_dict_u64(d, "duplicate_request", c.duplicate_packets);
  rte_tel_data_add_dict_u64(d, "rnr_nak_retry_err", c.rnr_nak_received);
  rte_tel_data_add_dict_u64(d, "np_ecn_marked_roce_packets", c.ce_marked_received);
  rte_tel_data_add_dict_u64(d, "data_packets_sent", c.data_packets_sent);
  rte_tel_data_add_dict_u64(d, "data_packets_received", c.data_packets_received);
  rte_tel_data_add_dict_u64(d, "retransmitted_packets", c.retransmitted_packets);
  rte_tel_data_add_dict_u64(d, "retransmits_loss_detected", c.retransmits_loss_detected);
  rte_tel_data_add_dict_u64(d, "retransmits_timeout", c.retransmits_timeout);
  rte_tel_data_add_dict_u64(d, "retransmits_trim", c.retransmits_trim);
  rte_tel_data_add_dict_u64(d, "retransmits_rnr", c.retransmits_rnr);
  rte_tel_data_add_dict_u64(d, "tail_probes", c.tail_probes);
  rte_tel_data_add_dict_u64(d, "trimmed_received", c.trimmed_received);
  rte_tel_data_add_dict_u64(d, "acks_sent", c.acks_sent);
  rte_tel_data_add_dict_u64(d, "acks_received", c.acks_received);
  rte_tel_data_add_dict_u64(d, "nacks_sent", c.nacks_sent);
  rte_tel_data_add_dict_u64(d, "nacks_received", c.nacks_received);
  rte_tel_data_add_dict_u64(d, "entropy_changes", c.entropy_changes);
  rte_tel_data_add_dict_u64(d, "spurious_loss_marks", c.spurious_loss_marks);
  rte_tel_data_add_dict_u64(d, "np_cnp_sent", c.np_cnp_sent);
  rte_tel_data_add_dict_u64(d, "rp_cnp_handled", c.rp_cnp_handled);
}

int HandleWorkers(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  for (const WorkerSnapshot& s : TelemetryBoard::Instance().Snapshots()) {
    rte_tel_data* w = rte_tel_data_alloc();
    if (w == nullptr) return -ENOMEM;
    rte_tel_data_start_dict(w);
    rte_tel_data_add_dict_u64(w, "port", s.port);
    rte_tel_data_add_dict_u64(w, "loops", s.counters.loops);
    rte_tel_data_add_dict_u64(w, "rx_frames", s.counters.rx_frames);
    rte_tel_data_add_dict_u64(w, "tx_frames", s.counters.tx_frames);
    rte_tel_data_add_dict_u64(w, "tx_ring_full", s.counters.tx_ring_full);
    rte_tel_data_add_dict_u64(w, "tx_no_mbuf", s.counters.tx_no_mbuf);
    rte_tel_data_add_dict_u64(w, "rx_ip_checksum_bad", s.counters.rx_ip_checksum_bad);
    rte_tel_data_add_dict_u64(w, "arp_requests_answered", s.counters.arp_requests_answered);
    rte_tel_data_add_dict_u64(w, "nd_solicitations_answered", s.counters.nd_solicitations_answered);
    rte_tel_data_add_dict_u64(w, "nd_address_defended", s.counters.nd_address_defended);
    rte_tel_data_add_dict_u64(w, "steered_out", s.counters.steered_out);
    rte_tel_data_add_dict_u64(w, "steered_in", s.counters.steered_in);
    rte_tel_data_add_dict_u64(w, "steer_ring_full", s.counters.steer_ring_full);
    rte_tel_data_add_dict_u64(w, "tx_zero_copy", s.counters.tx_zero_copy);
    rte_tel_data_add_dict_u64(w, "tx_payload_copied", s.counters.tx_payload_copied);
    rte_tel_data_add_dict_u64(w, "rx_multi_segment", s.counters.rx_multi_segment);
    rte_tel_data_add_dict_u64(w, "frames_received", s.context.frames_received);
    rte_tel_data_add_dict_u64(w, "packets_sent", s.context.packets_sent);
    rte_tel_data_add_dict_u64(w, "control_coalesced_sent", s.context.control_coalesced_sent);
    rte_tel_data_add_dict_u64(w, "control_coalesced_received",
                              s.context.control_coalesced_received);
    for (size_t r = 1; r < static_cast<size_t>(DropReason::kCount); ++r) {
      rte_tel_data_add_dict_u64(
          w, absl::StrFormat("drop_%s", DropReasonName(static_cast<DropReason>(r))).c_str(),
          s.context.drops[r]);
    }
    rte_tel_data_add_dict_u64(w, "fault_dropped", s.faults.dropped + s.faults.blackholed);
    rte_tel_data_add_dict_u64(w, "fault_duplicated", s.faults.duplicated);
    rte_tel_data_add_dict_u64(w, "fault_corrupted", s.faults.corrupted);
    rte_tel_data_add_dict_u64(w, "fault_delayed", s.faults.delayed);
    rte_tel_data_add_dict_container(d, absl::StrFormat("worker%d", s.worker).c_str(), w, 0);
  }
  return 0;
}

int HandleQps(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  for (const WorkerSnapshot& s : TelemetryBoard::Instance().Snapshots()) {
    for (const QpSnapshot& q : s.qps) {
      rte_tel_data* qd = rte_tel_data_alloc();
      if (qd == nullptr) return -ENOMEM;
      rte_tel_data_start_dict(qd);
      rte_tel_data_add_dict_u64(qd, "worker", static_cast<uint64_t>(s.worker));
      rte_tel_data_add_dict_string(qd, "state", QpStateName(q.state));
      AddQpCounters(qd, q.counters);
      rte_tel_data_add_dict_container(
          d, absl::StrFormat("worker%d_qp0x%x", s.worker, q.qp_num).c_str(), qd, 0);
    }
  }
  return 0;
}

int HandleFaults(const char*, const char* params, rte_tel_data* d) {
  TelemetryBoard& board = TelemetryBoard::Instance();
  rte_tel_data_start_dict(d);
  if (params != nullptr && params[0] != '\0') {
    if (absl::Status s = board.RequestFaults(params); !s.ok()) {
      rte_tel_data_add_dict_string(d, "error", std::string(s.message()).c_str());
      return 0;
    }
    rte_tel_data_add_dict_string(d, "requested", params);
  }
  for (const WorkerSnapshot& s : board.Snapshots()) {
    rte_tel_data_add_dict_string(d, absl::StrFormat("worker%d", s.worker).c_str(),
                                 DescribeFaults(s.fault_config).c_str());
  }
  return 0;
}

}  // namespace

TelemetryBoard& TelemetryBoard::Instance() {
  static TelemetryBoard board;
  return board;
}

void TelemetryBoard::Register(FaultSpecParser parser) {
  std::lock_guard<std::mutex> lock(mutex_);
  parser_ = std::move(parser);
  if (registered_) return;
  registered_ = true;
  rte_telemetry_register_cmd("/tern/workers", HandleWorkers,
                             "Tern worker counters: RX/TX, ARP, drops by reason, faults");
  rte_telemetry_register_cmd("/tern/qps", HandleQps, "Tern queue pairs: state and counters");
  rte_telemetry_register_cmd("/tern/faults", HandleFaults,
                             "Tern transmit faults. Parameter: loss=P,dup=P,corrupt=P,reorder=US,"
                             "paths=N,blackhole=I to change them");
}

void TelemetryBoard::Publish(WorkerSnapshot* snapshot) {
  std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // the telemetry thread is reading: next time
  for (WorkerSnapshot& w : workers_) {
    if (w.worker == snapshot->worker) {
      std::swap(w, *snapshot);
      return;
    }
  }
  workers_.push_back(std::move(*snapshot));
  *snapshot = WorkerSnapshot();
}

bool TelemetryBoard::PendingFaults(uint64_t* generation, FaultConfig* config) {
  if (fault_generation_.load(std::memory_order_acquire) == *generation) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  *generation = fault_generation_.load(std::memory_order_relaxed);
  *config = pending_faults_;
  return true;
}

std::vector<WorkerSnapshot> TelemetryBoard::Snapshots() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<WorkerSnapshot> out = workers_;
  std::sort(out.begin(), out.end(),
            [](const WorkerSnapshot& a, const WorkerSnapshot& b) { return a.worker < b.worker; });
  return out;
}

absl::Status TelemetryBoard::RequestFaults(std::string_view spec) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!parser_) return absl::FailedPreconditionError("faults cannot be changed in this process");
  absl::StatusOr<FaultConfig> config = parser_(spec);
  if (!config.ok()) return config.status();
  pending_faults_ = *config;
  fault_generation_.fetch_add(1, std::memory_order_release);
  return absl::OkStatus();
}

void TakeSnapshot(int worker, uint16_t port, const PortWorker& w, std::span<QueuePair* const> qps,
                  WorkerSnapshot* out) {
  out->worker = worker;
  out->port = port;
  out->counters = w.counters();
  out->faults = w.faults().counters();
  out->fault_config = w.faults().config();
  out->context = w.context().counters();
  out->qps.clear();
  for (QueuePair* qp : qps) out->qps.push_back({qp->qp_num(), qp->state(), qp->counters()});
}

}  // namespace tern::dpdk
