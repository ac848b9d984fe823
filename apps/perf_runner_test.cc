#include "apps/perf_runner.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "apps/perf_options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::perf {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

PerfOptions Options(std::vector<std::string_view> args) {
  absl::StatusOr<PerfOptions> options = ParsePerfOptions(args);
  EXPECT_TRUE(options.ok()) << options.status();
  return options.ok() ? *options : PerfOptions{};
}

PerfResult MustRun(const PerfOptions& options, uint64_t size) {
  absl::StatusOr<PerfResult> result = RunPerfTest(options, size);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : PerfResult{};
}

uint64_t Counter(const PerfResult& r, std::string_view name) {
  for (const auto& [n, v] : r.counters) {
    if (n == name) return v;
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

// --- statistics ---------------------------------------------------------------------

TEST(LatencyStatsTest, MedianAndNearestRankPercentiles) {
  std::vector<double> samples;
  for (int i = 1000; i >= 1; --i) samples.push_back(i);  // unsorted on purpose
  const LatencyStats s = ComputeLatencyStats(samples);
  EXPECT_EQ(s.t_min, 1);
  EXPECT_EQ(s.t_max, 1000);
  EXPECT_EQ(s.t_typical, 501);  // samples[n / 2] of the sorted list, as perftest
  EXPECT_DOUBLE_EQ(s.t_avg, 500.5);
  EXPECT_EQ(s.p99, 990);
  EXPECT_EQ(s.p99_9, 999);
  EXPECT_NEAR(s.t_stdev, 288.675, 0.001);
}

TEST(LatencyStatsTest, OneSampleIsEveryStatistic) {
  const LatencyStats s = ComputeLatencyStats({2.5});
  EXPECT_EQ(s.t_min, 2.5);
  EXPECT_EQ(s.t_max, 2.5);
  EXPECT_EQ(s.t_typical, 2.5);
  EXPECT_EQ(s.p99_9, 2.5);
  EXPECT_EQ(s.t_stdev, 0);
}

TEST(LatencyStatsTest, NoSamplesGiveZeros) {
  const LatencyStats s = ComputeLatencyStats({});
  EXPECT_EQ(s.t_max, 0);
}

TEST(LatencyStatsTest, WarmupSamplesAreLeftOut) {
  const LatencyStats s = ComputeLatencyStats({50, 40, 3, 1, 2}, 2);
  EXPECT_EQ(s.t_min, 1);
  EXPECT_EQ(s.t_max, 3);
  EXPECT_EQ(s.t_typical, 2);
  EXPECT_EQ(ComputeLatencyStats({50, 40}, 5).t_max, 0);
}

TEST(PeakRateTrackerTest, SteadyCompletionsPeakAtTheirRate) {
  // 1000 bytes every microsecond: 8 Gb/s whatever the window.
  PeakRateTracker peak(Time::Zero(), 5, 1000);
  for (int k = 1; k <= 100; ++k) peak.OnCompletion(Time::Zero() + Duration::Microseconds(k));
  EXPECT_NEAR(peak.peak_gbps(), 8.0, 1e-9);
}

TEST(PeakRateTrackerTest, TheFastestWindowWins) {
  // Window 2: completions at 10, 20, 21, 22, 40 us. The window {21, 22} spans
  // 22 - 20 = 2 us: 2 x 1000 bytes in 2 us = 8 Gb/s.
  PeakRateTracker peak(Time::Zero(), 2, 1000);
  for (int us : {10, 20, 21, 22, 40}) {
    peak.OnCompletion(Time::Zero() + Duration::Microseconds(us));
  }
  EXPECT_NEAR(peak.peak_gbps(), 8.0, 1e-9);
}

TEST(PeakRateTrackerTest, WindowsSpanningNoTimeAreSkipped) {
  PeakRateTracker peak(Time::Zero(), 1, 1000);
  peak.OnCompletion(Time::Zero() + Duration::Microseconds(1));
  peak.OnCompletion(Time::Zero() + Duration::Microseconds(1));  // same ACK
  EXPECT_NEAR(peak.peak_gbps(), 8.0, 1e-9);
}

TEST(PeakRateTrackerTest, NothingUntilAWindowCompletes) {
  PeakRateTracker peak(Time::Zero(), 3, 1000);
  peak.OnCompletion(Time::Zero() + Duration::Microseconds(1));
  peak.OnCompletion(Time::Zero() + Duration::Microseconds(2));
  EXPECT_EQ(peak.peak_gbps(), 0);
}

TEST(PeakRateTrackerTest, WindowIsOneTwentiethOfTheMessages) {
  EXPECT_EQ(PeakWindow(20000, 1), 1000u);
  EXPECT_EQ(PeakWindow(2000, 128), 512u) << "four rounds of outstanding messages";
  EXPECT_EQ(PeakWindow(100, 128), 100u) << "never more than the run";
  EXPECT_EQ(PeakWindow(19, 0), 1u);
  EXPECT_EQ(PeakWindow(0, 0), 1u);
}

// --- runs over a clean wire ----------------------------------------------------------

struct CleanRun {
  std::string_view test;
  uint64_t size;
  uint64_t iters;
  uint64_t verified_bytes;  // every byte that crossed, once
};

class CleanWireTest : public ::testing::TestWithParam<CleanRun> {};

TEST_P(CleanWireTest, CompletesEveryMessageWithVerifiedData) {
  const CleanRun& p = GetParam();
  const std::string test = "--test=" + std::string(p.test);
  const std::string iters = std::to_string(p.iters);
  const PerfResult r = MustRun(Options({test, "-n", iters, "--verify"}), p.size);
  EXPECT_TRUE(r.ok) << r.failure;
  EXPECT_TRUE(r.passed());
  EXPECT_EQ(r.messages_posted, p.iters);
  EXPECT_EQ(r.messages_completed, p.iters);
  EXPECT_EQ(r.data_errors, 0u);
  EXPECT_EQ(r.bytes_verified, p.verified_bytes);
  EXPECT_EQ(r.retransmitted_packets, 0u) << "a clean wire loses nothing";
  EXPECT_GT(r.virtual_seconds, 0);
  if (r.has_latency) {
    EXPECT_GT(r.latency.t_min, 2.0) << "at least the 2 us one-way wire delay";
    EXPECT_LE(r.latency.t_min, r.latency.t_typical);
    EXPECT_LE(r.latency.t_typical, r.latency.p99);
    EXPECT_LE(r.latency.p99, r.latency.t_max);
  } else {
    EXPECT_GT(r.bw_avg_gbps, 100) << "near the 400 Gb/s line rate";
    EXPECT_LT(r.bw_avg_gbps, 400);
    EXPECT_GE(r.bw_peak_gbps, r.bw_avg_gbps * 0.99);
    EXPECT_NEAR(r.msg_rate_mpps, r.bw_avg_gbps * 1e3 / (8.0 * static_cast<double>(p.size)), 1e-6);
  }
}

INSTANTIATE_TEST_SUITE_P(SixTests, CleanWireTest,
                         ::testing::Values(CleanRun{"send_bw", 65536, 200, 200 * 65536},
                                           CleanRun{"write_bw", 65536, 200, 200 * 65536},
                                           CleanRun{"read_bw", 65536, 200, 200 * 65536},
                                           // Ping-pong: both directions are checked.
                                           CleanRun{"send_lat", 65536, 100, 2 * 100 * 65536},
                                           CleanRun{"write_lat", 65536, 100, 2 * 100 * 65536},
                                           CleanRun{"read_lat", 65536, 100, 100 * 65536}),
                         [](const ::testing::TestParamInfo<CleanRun>& param) {
                           return std::string(param.param.test);
                         });

TEST(PerfRunnerTest, WarmupRoundTripsRunFirstAndAreNotCounted) {
  for (std::string_view test : {"send_lat", "write_lat", "read_lat"}) {
    const PerfResult r =
        MustRun(Options({"--test", test, "-n", "20", "--warmup=7", "--verify"}), 4096);
    EXPECT_TRUE(r.passed()) << test << ": " << r.failure;
    EXPECT_EQ(r.iterations, 20u) << test;
    EXPECT_EQ(r.messages_completed, 27u) << test;
    EXPECT_GT(r.latency.t_min, 0) << test;
  }
}

TEST(PerfRunnerTest, OddSizesAreVerifiedToTheLastByte) {
  for (uint64_t size : {1u, 7u, 4097u}) {
    const PerfResult r = MustRun(Options({"--test=send_bw", "-n", "50", "--verify"}), size);
    EXPECT_TRUE(r.passed()) << size << ": " << r.failure;
    EXPECT_EQ(r.bytes_verified, 50 * size);
  }
}

TEST(PerfRunnerTest, SeveralQpsEachCompleteTheirIterations) {
  const PerfResult r =
      MustRun(Options({"--test=write_bw", "-q", "4", "-t", "16", "-n", "100", "--verify"}), 16384);
  EXPECT_TRUE(r.passed()) << r.failure;
  EXPECT_EQ(r.messages_completed, 400u);
  EXPECT_EQ(r.bytes_verified, 400u * 16384);
}

TEST(PerfRunnerTest, TxDepthAboveItersUsesOneSlotPerMessage) {
  const PerfResult r = MustRun(Options({"--test=read_bw", "-n", "3", "--verify"}), 65536);
  EXPECT_TRUE(r.passed()) << r.failure;
  EXPECT_EQ(r.messages_completed, 3u);
}

TEST(PerfRunnerTest, WithoutVerifyNothingIsChecked) {
  const PerfResult r = MustRun(Options({"--test=write_bw", "-n", "50"}), 65536);
  EXPECT_TRUE(r.passed()) << r.failure;
  EXPECT_EQ(r.bytes_verified, 0u);
}

TEST(PerfRunnerTest, LossyReorderingWireStillDeliversEveryByte) {
  const PerfResult r = MustRun(Options({"--test=write_bw", "-n", "200", "--paths", "8",
                                        "--fabric=sim:loss=0.05,reorder=2", "--verify"}),
                               65536);
  EXPECT_TRUE(r.ok) << r.failure;
  EXPECT_EQ(r.messages_completed, 200u);
  EXPECT_EQ(r.data_errors, 0u);
  EXPECT_EQ(r.bytes_verified, 200u * 65536);
  EXPECT_GT(r.retransmitted_packets, 0u);
  EXPECT_GT(Counter(r, "wire_dropped_loss"), 0u);
}

TEST(PerfRunnerTest, SameSeedSameRun) {
  const PerfOptions options =
      Options({"--test=send_bw", "-n", "100", "--fabric=sim:loss=0.02,reorder=3", "--seed=5"});
  const PerfResult a = MustRun(options, 8192);
  const PerfResult b = MustRun(options, 8192);
  EXPECT_EQ(a.virtual_seconds, b.virtual_seconds);
  EXPECT_EQ(a.counters, b.counters);
}

TEST(PerfRunnerTest, RetryFlagsSetTheTimeoutFloorAndTheBudget) {
  // Nothing ever arrives: the QP fails at expiry retry-cnt + 1, after
  // 1 + 2 + 4 ms of doubling timeouts (the default budget takes 25.5 ms).
  const PerfResult r =
      MustRun(Options({"--test=write_bw", "-n", "10", "--paths=1", "--path-policy=single",
                       "--fabric=sim:blackhole=0", "--retry-cnt=2", "--min-rto=1000"}),
              4096);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.failure, HasSubstr("retry count (2) exceeded"));
  EXPECT_EQ(r.timeouts, 3u);
  EXPECT_GE(r.virtual_seconds, 0.007);
  EXPECT_LT(r.virtual_seconds, 0.008);
}

TEST(PerfRunnerTest, BlackholedWireFailsWithTheCompletionError) {
  // One path, and it drops everything: the retry budget runs out.
  const PerfResult r = MustRun(Options({"--test=write_bw", "-n", "10", "--paths=1",
                                        "--path-policy=single", "--fabric=sim:blackhole=0"}),
                               4096);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.passed());
  EXPECT_THAT(r.failure, AllOf(HasSubstr("RETRY_EXC_ERR"), HasSubstr("retry count")));
  EXPECT_EQ(r.messages_completed, 0u);
  EXPECT_EQ(r.messages_posted, 10u);
  EXPECT_GT(r.timeouts, 0u);
}

// With eight wire paths and one of them black-holed, a QP pinned to one
// entropy that lands on it moves to another entropy at its first timeout:
// every WRITE and READ completes whichever path is dead.
TEST(PerfRunnerTest, APinnedQpEscapesABlackholedPathAfterATimeout) {
  for (const char* test : {"--test=write_bw", "--test=read_bw"}) {
    uint64_t timeouts = 0;
    for (int path = 0; path < 8; ++path) {
      SCOPED_TRACE(absl::StrCat(test, ", wire path ", path, " black-holed"));
      const std::string fabric = absl::StrCat("--fabric=sim:paths=8,blackhole=", path);
      const PerfResult r =
          MustRun(Options({test, "-n", "50", "--paths=1", "--path-policy=single", fabric}), 65536);
      EXPECT_TRUE(r.passed()) << r.failure;
      EXPECT_EQ(r.messages_completed, 50u);
      timeouts += r.timeouts;
    }
    EXPECT_GT(timeouts, 0u) << test << ": no QP's entropy crossed the dead path";
  }
}

TEST(PerfRunnerTest, CountersNameDropReasonsAndWire) {
  const PerfResult r = MustRun(Options({"--test=write_bw", "-n", "20"}), 4096);
  EXPECT_EQ(Counter(r, "drop_bad_checksum"), 0u);
  EXPECT_GT(Counter(r, "wire_frames_delivered"), 0u);
  EXPECT_GT(Counter(r, "data_packets_sent"), 0u);
}

}  // namespace
}  // namespace tern::perf
