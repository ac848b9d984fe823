// tern-replay over DPDK runs one process per host (rank); each writes what it
// measured to a rank file, and the merge turns all of them into one
// ReplayResult, the same shape a simulated run produces, so FormatJson,
// Summarize and FormatFlowsCsv render it unchanged.
//
// A rank file (version kRankFileVersion below) is UTF-8 text, one record per
// line, fields separated by tabs, string fields C-escaped (absl::CEscape), so
// a label holding a tab or a newline cannot break the line structure. Times
// are integer picoseconds since the rank's start instant (the common start
// time, read on that rank's own clock).
//
//   tern-replay-rank <TAB> VERSION                 first line: magic and version
//   KEY <TAB> VALUE                               header: rank, ranks, seed, workload,
//                                                 fingerprint, verb, cc, paths,
//                                                 path_policy, mtu, link_gbps,
//                                                 port, start_unix_ns, elapsed_ps, timed_out,
//                                                 steps_run, steps_done, frames_sent,
//                                                 frames_received, fault_judged,
//                                                 fault_dropped, fault_blackholed,
//                                                 fault_duplicated, fault_corrupted,
//                                                 fault_delayed, timeline_interval_ps
//   collective NAME OP ALGORITHM BYTES RANKS       every collective of the workload
//   flow STEP SRC DST BYTES START FINISH IDEAL STATUS COLLECTIVE LABEL
//                                                 every transfer this rank sent;
//                                                 STATUS ok|failed|unfinished, FINISH -1
//                                                 when unfinished
//   recv STEP SRC BYTES RECEIVED ERRORS            every transfer sent to this rank:
//                                                 bytes expected, bytes received and
//                                                 checked, bytes that differed from the pattern
//   qp PEER NAME=VALUE...                          counters of this rank's QP to PEER
//   cc_sample AT SRC DST QP BYTES NAME=VALUE...    with timeline_interval_ps > 0: one
//                                                 congestion-control sample of the QP
//                                                 SRC (this rank) -> DST at tick AT (QP:
//                                                 which of the pair's, the worker), its
//                                                 new payload bytes since the tick before
//                                                 and the algorithm's variables
//   end <TAB> LINES                                 last line: records before it, so a
//                                                 truncated file is refused
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/replay_report.h"
#include "apps/replay_runner.h"
#include "apps/replay_workload.h"
#include "transport/verbs.h"

namespace tern::replay {

inline constexpr std::string_view kRankFileMagic = "tern-replay-rank";
// 2: every QpCounterFields() counter; 3: paths and path_policy; 4: cc samples;
// 5: a cc sample names its QP of the pair (the worker)
inline constexpr uint32_t kRankFileVersion = 5;

// One transfer as its destination saw it.
struct RankReceive {
  uint32_t step = 0;
  uint32_t src = 0;
  uint64_t bytes = 0;        // the transfer's size
  uint64_t received = 0;     // bytes that arrived and were checked
  uint64_t data_errors = 0;  // of those, bytes that differed from the pattern
};

struct RankQp {
  uint32_t peer = 0;
  QpCounters counters;
};

struct RankResult {
  uint32_t rank = 0;
  uint32_t ranks = 0;
  uint64_t seed = 0;
  std::string workload;     // the --workload spec
  std::string fingerprint;  // WorkloadFingerprint of what the spec produced
  std::string verb = "write";
  std::string cc;
  uint16_t paths = 0;       // entropies each QP sprays over
  std::string path_policy;  // a PathPolicyName
  uint32_t mtu = 0;
  double link_gbps = 0;       // the rate ideal FCTs were computed with
  std::string port;           // PMD of the rank's port
  int64_t start_unix_ns = 0;  // the common start time (CLOCK_REALTIME) the rank started at
  Duration elapsed;           // from the start until the rank stopped
  bool timed_out = false;
  uint64_t steps_run = 0;   // steps this rank ran (sent transfers and delays)
  uint64_t steps_done = 0;  // of those, finished
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  dpdk::FaultCounters faults;  // what --fabric=dpdk:... did to this rank's frames
  std::vector<Collective> collectives;
  std::vector<FlowResult> flows;      // transfers this rank sent
  std::vector<RankReceive> receives;  // transfers sent to this rank
  std::vector<RankQp> qps;
  // --timeline-interval: the sampling period (zero: the rank took no
  // samples) and the samples of its QPs' sending sides, at ticks that are
  // multiples of it since the common start, so every rank's ticks line up.
  Duration timeline_interval;
  std::vector<CcSample> cc_timeline;
};

// A short digest of everything a rank runs by (hosts, steps with their
// endpoints, sizes, start times and dependencies, collectives): equal on two
// ranks when they built the same workload.
std::string WorkloadFingerprint(const Workload& workload);

std::string FormatRankFile(const RankResult& result);
// `name` (the file's path) prefixes every error, with the line number.
absl::StatusOr<RankResult> ParseRankFile(std::string_view text, std::string_view name);

// Merges one result per rank: every rank 0..ranks-1 exactly once, all from the
// same workload, seed, verb, congestion control and path choice (the error names the first
// field that differs and both ranks). Flows come out in step order;
// collectives span their transfers; a connection's counters are summed over
// both ends; ReplayResult::dataplane carries the data check; the ranks' cc
// samples (all taken at one interval, or none) come out in time order.
absl::StatusOr<ReplayResult> MergeRankResults(std::vector<RankResult> ranks);
// Reads and parses every file, then merges.
absl::StatusOr<ReplayResult> MergeRankResults(const std::vector<std::string>& paths);

// The run description of a merged result, for FormatJson / FormatSummary.
RunDescription DescribeMergedRun(const ReplayResult& merged, std::string command);

}  // namespace tern::replay
