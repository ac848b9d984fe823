#include "tools/tcp_rr_report.h"

#include <string>
#include <vector>

#include "apps/perf_report.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::tcp_rr {
namespace {

using ::testing::HasSubstr;

// Four samples (round trip / 2, usec) over 0.5 s: 8 transactions/s.
RrResult FourSampleResult() {
  RrResult result;
  result.peer = "127.0.0.1:40000";
  result.bytes = 8;
  result.warmup = 100;
  result.cpu_server = 0;
  result.cpu_client = 1;
  Summarize({4.0, 1.0, 3.0, 2.0}, 0.5, result);
  return result;
}

TEST(TcpRrReportTest, SummarizeUsesTernPerfStatistics) {
  const RrResult r = FourSampleResult();
  EXPECT_EQ(r.iterations, 4u);
  EXPECT_EQ(r.wall_seconds, 0.5);
  EXPECT_EQ(r.transactions_per_sec, 8);
  EXPECT_EQ(r.latency.t_min, 1);
  EXPECT_EQ(r.latency.t_max, 4);
  EXPECT_EQ(r.latency.t_typical, 3);  // samples[n / 2] of the sorted list, as perftest
  EXPECT_EQ(r.latency.t_avg, 2.5);
  EXPECT_EQ(r.latency.p99, 4);  // nearest rank
  EXPECT_EQ(r.latency.p99_9, 4);
}

TEST(TcpRrReportTest, SummarizeOfAZeroLengthPhaseHasNoRate) {
  RrResult r;
  Summarize({1.0}, 0, r);
  EXPECT_EQ(r.transactions_per_sec, 0);
}

TEST(TcpRrReportTest, TableRowIsTernPerfSendLatRow) {
  const RrResult r = FourSampleResult();
  perf::PerfResult row;
  row.test = perf::PerfTest::kSendLat;
  row.bytes = 8;
  row.iterations = 4;
  row.has_latency = true;
  row.latency = r.latency;
  EXPECT_EQ(FormatRrTable(r),
            perf::FormatTableHeader(perf::PerfTest::kSendLat) + perf::FormatRow(row) +
                perf::FormatRule() +
                " Transactions/s  : 8 (round trips per second, 0.500 s measured)\n");
}

TEST(TcpRrReportTest, TableSaysWhenASignalStoppedTheRun) {
  RrResult r = FourSampleResult();
  r.stopped_early = true;
  EXPECT_THAT(FormatRrTable(r), HasSubstr("stopped early by a signal"));
}

TEST(TcpRrReportTest, BannerNamesBothCpusInLoopback) {
  TcpRrOptions options;
  options.mode = RrMode::kLoopback;
  const std::string banner = FormatRrBanner(options, FourSampleResult());
  EXPECT_THAT(banner, HasSubstr(" CPUs            : server 0, client 1\n"));
  EXPECT_THAT(banner, HasSubstr(" Peer            : 127.0.0.1:40000\n"));
  EXPECT_THAT(banner, HasSubstr("TCP_NODELAY, blocking I/O"));
  EXPECT_THAT(banner, HasSubstr("round trip / 2"));
}

TEST(TcpRrReportTest, JsonHasEveryField) {
  TcpRrOptions options;
  options.mode = RrMode::kLoopback;
  options.busy_poll = true;
  EXPECT_EQ(FormatRrJson(options, FourSampleResult()),
            R"({
  "tool": "tern-tcp-rr",
  "transport": "linux_tcp",
  "mode": "loopback",
  "peer": "127.0.0.1:40000",
  "bytes": 8,
  "iterations": 4,
  "warmup_iterations": 100,
  "latency_definition": "round trip / 2 per iteration, as perftest send_lat and tern-perf --test=send_lat; t_typical is the median, percentiles are nearest-rank",
  "t_min_usec": 1,
  "t_max_usec": 4,
  "t_typical_usec": 3,
  "t_avg_usec": 2.5,
  "t_stdev_usec": 1.118033989,
  "p99_usec": 4,
  "p99_9_usec": 4,
  "transactions_per_sec": 8,
  "wall_seconds": 0.5,
  "stopped_early": false,
  "tcp_nodelay": true,
  "busy_poll": true,
  "cpu_server": 0,
  "cpu_client": 1,
  "duration_sec": 0,
  "timeout_sec": 10
}
)");
}

TEST(TcpRrReportTest, JsonCpuOfAnUnpinnedSideIsNull) {
  TcpRrOptions options;
  options.mode = RrMode::kClient;
  RrResult r = FourSampleResult();
  r.cpu_server = -1;
  const std::string json = FormatRrJson(options, r);
  EXPECT_THAT(json, HasSubstr("\"cpu_server\": null,"));
  EXPECT_THAT(json, HasSubstr("\"mode\": \"client\","));
}

}  // namespace
}  // namespace tern::tcp_rr
