// Runs one tern-perf test for one message size over the simulator: two hosts
// joined by a MultipathWire, `qps` connected QP pairs, and an application that
// reacts to every completion the instant it is polled (in virtual time). Set-up
// errors come back as a Status; what happens during the run (a stall, a
// completion error, data errors) is in the result. Nothing here prints.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/perf_options.h"
#include "transport/units.h"
#include "transport/verbs.h"

namespace tern::perf {

// Latency statistics in microseconds. t_typical is the median; percentiles are
// nearest-rank over the sorted samples.
struct LatencyStats {
  double t_min = 0;
  double t_max = 0;
  double t_typical = 0;
  double t_avg = 0;
  double t_stdev = 0;
  double p99 = 0;
  double p99_9 = 0;
};
// Over the samples after the first `warmup` (the run's warm-up round trips).
LatencyStats ComputeLatencyStats(std::vector<double> samples_usec, uint64_t warmup = 0);

// BW peak: the highest rate over any window of `window` consecutive
// completions. With t_0 the first post and t_k the k-th completion, the window
// of w completions ending at k (k >= w) carries w messages in t_k - t_{k-w}.
// Windows that span no time (completions released by one ACK) are skipped.
// Streaming: keeps only the last window + 1 completion times.
class PeakRateTracker {
 public:
  PeakRateTracker(Time start, uint64_t window, uint64_t bytes_each);
  // Completion times must not decrease.
  void OnCompletion(Time at);
  // Gb/s; 0 until a window with a positive span has completed.
  double peak_gbps() const;
  uint64_t window() const { return window_; }

 private:
  uint64_t window_;
  uint64_t bytes_each_;
  std::vector<Time> ring_;  // window_ + 1 most recent times, t_0 included
  size_t newest_ = 0;       // ring_ index of the latest time; the oldest is next
  uint64_t count_ = 0;      // completions seen
  // The shortest span of window_ completions: the same bytes each time, so
  // the shortest is the fastest (no division per completion).
  Duration shortest_ = Duration::Infinite();
};
// The window tern-perf uses: max(messages / 20, 4 x outstanding), at most messages.
uint64_t PeakWindow(uint64_t messages, uint64_t outstanding);

struct PerfResult {
  PerfTest test = PerfTest::kWriteBw;
  uint64_t bytes = 0;       // message size
  uint64_t iterations = 0;  // per QP
  uint64_t qps = 1;
  uint32_t mtu = 0;     // payload bytes per packet the run used (a port may lower --mtu)
  bool ok = false;      // every message completed successfully (data errors aside)
  std::string failure;  // why not, when !ok

  double bw_peak_gbps = 0;
  double bw_avg_gbps = 0;
  double msg_rate_mpps = 0;
  uint64_t peak_window = 0;  // completions per BW peak window
  bool has_latency = false;
  LatencyStats latency;

  // Bandwidth tests: messages (over all QPs). Latency tests: iterations (round
  // trips, or READs).
  uint64_t messages_posted = 0;
  uint64_t messages_completed = 0;
  uint64_t bytes_verified = 0;
  uint64_t data_errors = 0;  // bytes that differed from the pattern (or never arrived)
  uint64_t retransmitted_packets = 0;
  uint64_t timeouts = 0;
  double wall_seconds = 0;
  double virtual_seconds = 0;  // first post to the end of the run
  // Transport, context and wire counters of the run, in a stable order.
  std::vector<std::pair<std::string, uint64_t>> counters;

  bool passed() const { return ok && data_errors == 0; }
};

struct PerfProgress {
  uint64_t bytes = 0;  // message size
  uint64_t done = 0;
  uint64_t total = 0;
  double virtual_seconds = 0;
  double wall_seconds = 0;
};
// Called about once per wall-clock second during long runs.
using ProgressFn = std::function<void(const PerfProgress&)>;

// Counters as tern-perf reports them (name, value), in a stable order: the
// QPs' counters summed, a context's counters, and a sum by name.
void AppendQpCounters(std::span<const QueuePair* const> qps,
                      std::vector<std::pair<std::string, uint64_t>>* out);
void AppendContextCounters(const Context& context,
                           std::vector<std::pair<std::string, uint64_t>>* out);
void SumCounters(std::span<const std::pair<std::string, uint64_t>> add,
                 std::vector<std::pair<std::string, uint64_t>>* into);

// Runs options.test with messages of `size` bytes. `progress` may be empty.
absl::StatusOr<PerfResult> RunPerfTest(const PerfOptions& options, uint64_t size,
                                       const ProgressFn& progress = {});

}  // namespace tern::perf
