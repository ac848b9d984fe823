#include "dataplane/dpdk/telemetry.h"

#include <rte_telemetry.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "transport/text.h"

namespace tern::dpdk {
namespace {

void AddQpCounters(rte_tel_data* d, const QpCounters& c) {
  // The names ibverbs/mlx5 users know for counters Tern names otherwise,
  // then every counter by Tern's name.
  rte_tel_data_add_dict_u64(d, "duplicate_request", c.duplicate_packets);
  rte_tel_data_add_dict_u64(d, "rnr_nak_retry_err", c.rnr_nak_received);
  rte_tel_data_add_dict_u64(d, "np_ecn_marked_roce_packets", c.ce_marked_received);
  for (const QpCounterField& f : QpCounterFields()) {
    rte_tel_data_add_dict_u64(d, f.name, c.*f.member);
  }
}

int HandleWorkers(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  for (const WorkerSnapshot& s : TelemetryBoard::Instance().Snapshots()) {
    rte_tel_data* w = rte_tel_data_alloc();
    if (w == nullptr) return -ENOMEM;
    rte_tel_data_start_dict(w);
    rte_tel_data_add_dict_u64(w, "port", s.port);
    for (const WorkerCounterField& f : WorkerCounterFields()) {
      rte_tel_data_add_dict_u64(w, f.name, s.counters.*f.member);
    }
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

std::string QpName(int worker, uint32_t qp_num) {
  return absl::StrFormat("worker%d_qp0x%x", worker, qp_num);
}

// A reply holds 16 KB of JSON, and a dict at most 256 entries: a thousand QPs
// do not fit in one. /tern/qps sums them and names them a page at a time;
// /tern/qp gives one.
constexpr size_t kQpNamesPerPage = 200;

// /tern/qps[,FIRST]: how many QPs in each state, their counters summed, and
// the names of QPs FIRST (default 0) onwards, a page at a time; "next" is
// the FIRST of the following page, when there is one.
int HandleQps(const char*, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  uint64_t first = 0;
  if (params != nullptr && params[0] != '\0') {
    const std::optional<uint64_t> parsed = ParseUnsigned(params);
    if (!parsed) {
      rte_tel_data_add_dict_string(d, "error",
                                   "parameter: the index of the first QP to name (0, 200, ...)");
      return 0;
    }
    first = *parsed;
  }
  std::map<std::string_view, uint64_t> states;
  QpCounters total;
  std::vector<std::string> names;
  for (const WorkerSnapshot& s : TelemetryBoard::Instance().Snapshots()) {
    for (const QpSnapshot& q : s.qps) {
      ++states[QpStateName(q.state)];
      total += q.counters;
      names.push_back(QpName(s.worker, q.qp_num));
    }
  }
  rte_tel_data_add_dict_u64(d, "qps", names.size());
  rte_tel_data* by_state = rte_tel_data_alloc();
  rte_tel_data* total_counters = rte_tel_data_alloc();
  rte_tel_data* page = rte_tel_data_alloc();
  if (by_state == nullptr || total_counters == nullptr || page == nullptr) {
    rte_tel_data_free(by_state);
    rte_tel_data_free(total_counters);
    rte_tel_data_free(page);
    return -ENOMEM;
  }
  rte_tel_data_start_dict(by_state);
  for (const auto& [state, count] : states) {
    rte_tel_data_add_dict_u64(by_state, std::string(state).c_str(), count);
  }
  rte_tel_data_add_dict_container(d, "states", by_state, 0);
  rte_tel_data_start_dict(total_counters);
  AddQpCounters(total_counters, total);
  rte_tel_data_add_dict_container(d, "total", total_counters, 0);
  rte_tel_data_start_array(page, RTE_TEL_STRING_VAL);
  const size_t begin = std::min<uint64_t>(first, names.size());
  const size_t end = std::min(names.size(), begin + kQpNamesPerPage);
  for (size_t i = begin; i < end; ++i) rte_tel_data_add_array_string(page, names[i].c_str());
  rte_tel_data_add_dict_u64(d, "first", begin);
  rte_tel_data_add_dict_container(d, "names", page, 0);
  if (end < names.size()) rte_tel_data_add_dict_u64(d, "next", end);
  return 0;
}

// /tern/qp,NAME: one QP's worker, state and counters, NAME as /tern/qps
// lists it.
int HandleQp(const char*, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  const std::string_view wanted = params == nullptr ? std::string_view() : params;
  for (const WorkerSnapshot& s : TelemetryBoard::Instance().Snapshots()) {
    for (const QpSnapshot& q : s.qps) {
      if (QpName(s.worker, q.qp_num) != wanted) continue;
      rte_tel_data_add_dict_u64(d, "worker", static_cast<uint64_t>(s.worker));
      rte_tel_data_add_dict_string(d, "state", QpStateName(q.state));
      AddQpCounters(d, q.counters);
      return 0;
    }
  }
  rte_tel_data_add_dict_string(
      d, "error",
      wanted.empty() ? "parameter: a QP's name, as /tern/qps lists them (worker0_qp0x100)"
                     : "no such QP (names as /tern/qps lists them)");
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
  rte_telemetry_register_cmd("/tern/qps", HandleQps,
                             "Tern queue pairs: number by state, counters summed, names. "
                             "Parameter: the index of the first name (200 a page)");
  rte_telemetry_register_cmd("/tern/qp", HandleQp,
                             "One Tern queue pair's state and counters. Parameter: its name");
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
