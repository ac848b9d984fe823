// tern-replay's results: the statistics a run is judged by (FCT and slowdown
// percentiles overall and by flow size, collective times and bus bandwidth,
// switch-port queues, retransmissions, fairness) and their three renderings:
// a terminal summary, the JSON document and the per-flow CSV. Pure: a
// ReplayResult in, text out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/replay_runner.h"

namespace tern::replay {

struct Percentiles {
  uint64_t count = 0;
  double p50 = 0, p95 = 0, p99 = 0, max = 0, mean = 0;
};
// Nearest-rank percentiles; all zero for no values.
Percentiles ComputePercentiles(std::vector<double> values);

// Flow-size buckets, by upper bound (exclusive); the last is unbounded.
struct SizeBucket {
  std::string name;  // "<10KB", "10KB-100KB", ...
  uint64_t flows = 0;
  Percentiles fct_us;
  Percentiles slowdown;
};

struct CollectiveSummary {
  std::string name, operation, algorithm;
  uint32_t ranks = 0;
  uint64_t bytes = 0;
  bool completed = false;
  double time_us = 0;
  double algbw_gbps = 0;  // bytes / time
  double busbw_gbps = 0;  // algbw x BusBandwidthFactor
};

struct PortSummary {
  std::string name;
  uint64_t queue_max_bytes = 0;
  uint64_t queue_p50_bytes = 0;
  uint64_t queue_p99_bytes = 0;
  uint64_t ecn_marked = 0;
  uint64_t trimmed = 0;
  uint64_t dropped = 0;
  double utilisation = 0;  // bytes sent / (rate x run time)
};

struct ReplaySummary {
  uint64_t flows = 0, completed = 0, failed = 0, unfinished = 0;
  Percentiles fct_us;
  Percentiles slowdown;
  std::vector<SizeBucket> by_size;
  std::vector<CollectiveSummary> collectives;
  // Switch output ports that carried traffic, busiest queue first.
  std::vector<PortSummary> ports;
  uint64_t queue_max_bytes = 0;  // over all switch ports
  uint64_t queue_p50_bytes = 0;  // the largest per-port median
  uint64_t queue_p99_bytes = 0;  // the largest per-port p99
  uint64_t ecn_marked = 0, trimmed = 0, dropped = 0;
  QpCounters transport;  // over every connection
  // Jain's index over the throughputs of flows that share a receiver (its
  // downlink is their common bottleneck in incast-like workloads): the mean
  // and the minimum over receivers with two or more flows.
  uint64_t fairness_groups = 0;
  double fairness_mean = 1, fairness_min = 1;
  double virtual_us = 0;
};

ReplaySummary Summarize(const ReplayResult& result);

// What produced the run, for the reports.
struct RunDescription {
  std::string command;
  std::string workload;
  std::string fabric;
  std::string cc;
  uint16_t paths = 0;  // entropies each connection sprays over
  std::string path_policy;
  uint64_t seed = 0;
};

std::string FormatSummary(const RunDescription& run, const ReplayResult& result,
                          const ReplaySummary& summary);
// Every figure of `summary` plus the run's cost; machine-dependent figures
// (wall time, events per second, memory) are all under "run", so two runs
// with the same seed differ only there.
std::string FormatJson(const RunDescription& run, const ReplayResult& result,
                       const ReplaySummary& summary, uint64_t peak_rss_bytes);
std::string FormatFlowsCsv(const ReplayResult& result);
// One line per timeline sample: time_us,port,queued_bytes,gbps.
std::string FormatTimelineCsv(const ReplayResult& result, Duration interval);

// Jain's fairness index of the flows sending over the window that ends at one
// timeline sample.
struct FairnessPoint {
  Time at;
  uint32_t active = 0;   // flows running throughout the window
  bool stalled = false;  // two or more ran and none sent a byte (all in timeouts)
  double jain = 1;       // over their rates; 1 when fewer than two ran or stalled
};

// Jain's index at every congestion-control timeline sample, over the new
// payload bytes each flow sent in the `window` that ends at the sample (the
// window is rounded up to whole sampling intervals, at least one; consecutive
// windows overlap when it spans several). Only flows that ran for the whole
// window count (started at or before its start, finished at or after its
// end), so a flow that stalls counts as a zero rather than dropping out.
//
// The window should span at least a base RTT: a window-based sender's rate is
// only defined over an RTT (it sends its window once per round trip, in ACK-
// clocked bursts), so shorter windows see the phase of the bursts, not the
// shares. docs/cc.md measures how far apart the two are.
//
// Needs one flow per sampled queue pair (a connection carrying several flows
// at once cannot be split) and samples of every flow (--timeline-flows at
// least the number of host pairs).
std::vector<FairnessPoint> FairnessTimeline(const ReplayResult& result, Duration interval,
                                            Duration window);

// The window tern-replay uses when --fairness-window is not given: two of the
// fabric's longest base RTTs, or one sampling interval when the run has no
// base RTT.
Duration DefaultFairnessWindow(const ReplayResult& result, Duration interval);

// FairnessTimeline as CSV: time_us,active,stalled (0|1),jain.
std::string FormatFairnessCsv(const ReplayResult& result, Duration interval, Duration window);

// One line per congestion-control sample of a queue pair:
// time_us,src,dst,gbps, then the algorithm's variables by name (window first).
std::string FormatCcTimelineCsv(const ReplayResult& result, Duration interval);

}  // namespace tern::replay
