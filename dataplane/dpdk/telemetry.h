// Tern's counters over rte_telemetry (dpdk-telemetry.py, or any client of
// the telemetry socket):
//   /tern/workers  per worker: loop, RX/TX, ARP and fault-injection counters
//   /tern/qps      QPs by state, their counters summed, and their names
//                  ("worker0_qp0x100"), 200 a page (/tern/qps,200 for the next)
//   /tern/qp       one QP's state and counters (/tern/qp,worker0_qp0x100)
//   /tern/faults   the transmit impairments; with a parameter
//                  (/tern/faults,loss=0.05,reorder=4) replaces them at run time
// Workers publish snapshots every few tens of milliseconds with try_lock, so
// the fast path never waits for the telemetry thread, and swap them in, so
// it allocates nothing. rte_telemetry callbacks
// carry no user pointer, hence one board per process.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/dpdk/fault_injector.h"
#include "dataplane/dpdk/port_worker.h"
#include "transport/verbs.h"

namespace tern::dpdk {

struct QpSnapshot {
  uint32_t qp_num = 0;
  QpState state = QpState::kReset;
  QpCounters counters;
};

struct WorkerSnapshot {
  int worker = 0;
  uint16_t port = 0;
  WorkerCounters counters;
  FaultCounters faults;
  FaultConfig fault_config;
  ContextCounters context;
  std::vector<QpSnapshot> qps;
};

// Parses the text after "/tern/faults," into a config (the app's fabric spec).
using FaultSpecParser = std::function<absl::StatusOr<FaultConfig>(std::string_view)>;

class TelemetryBoard {
 public:
  static TelemetryBoard& Instance();

  // Registers the /tern commands (once per process). `parser` reads run-time
  // fault changes; without one, /tern/faults is read-only.
  void Register(FaultSpecParser parser);

  // From a worker's thread: swaps `*snapshot` in for that worker's previous
  // one, which the caller gets back to refill, so that publishing allocates
  // nothing once both have held every QP. Does nothing while the telemetry
  // thread holds the board.
  void Publish(WorkerSnapshot* snapshot);
  // From worker threads: the fault config to apply when `*generation` is
  // behind (one relaxed load when nothing changed).
  bool PendingFaults(uint64_t* generation, FaultConfig* config);

  // For the callbacks and tests.
  std::vector<WorkerSnapshot> Snapshots();
  absl::Status RequestFaults(std::string_view spec);

 private:
  std::mutex mutex_;
  std::vector<WorkerSnapshot> workers_;
  FaultSpecParser parser_;
  FaultConfig pending_faults_;
  std::atomic<uint64_t> fault_generation_{0};
  bool registered_ = false;
};

// Copies a worker's state into `*out`, reusing its QP list's storage.
void TakeSnapshot(int worker, uint16_t port, const PortWorker& w, std::span<QueuePair* const> qps,
                  WorkerSnapshot* out);

}  // namespace tern::dpdk
