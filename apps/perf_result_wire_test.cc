#include "apps/perf_result_wire.h"

#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::perf {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> Bytes(std::string_view text) { return {text.begin(), text.end()}; }
std::string Text(const std::vector<uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

PerfResult MeasuredResult() {
  PerfResult r;
  r.ok = true;
  r.bw_peak_gbps = 74.75123456789012;
  r.bw_avg_gbps = 71.8;
  r.msg_rate_mpps = 2.192;
  r.has_latency = true;
  r.latency = {0.81, 12.5, 0.93, 0.95, 0.1, 1.86, 5.05};
  r.messages_posted = 488282;
  r.messages_completed = 488281;
  r.bytes_verified = std::numeric_limits<uint64_t>::max();
  r.data_errors = 3;
  r.peak_window = 24414;
  r.virtual_seconds = 1.25e-3;
  r.bytes = 4096;
  r.mtu = 4096;
  r.failure = "stalled: 488281/488282\nmessages; QP 0x12=x";
  return r;
}

TEST(PerfResultWireTest, ServerReportRoundTrips) {
  const ServerReport sent{12345, 7, "data error at byte 9\nsecond line"};
  absl::StatusOr<ServerReport> got = DecodeServerReport(EncodeServerReport(sent));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, sent);
  const ServerReport empty;
  got = DecodeServerReport(EncodeServerReport(empty));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, empty);
}

TEST(PerfResultWireTest, ClientResultRoundTripsEveryFieldItSends) {
  const PerfResult sent = MeasuredResult();
  PerfResult got;
  got.test = PerfTest::kSendLat;
  got.iterations = 99;
  got.qps = 5;
  got.counters = {{"kept", 1}};
  ASSERT_TRUE(DecodeClientResult(EncodeClientResult(sent), &got).ok());
  EXPECT_EQ(got.ok, sent.ok);
  EXPECT_EQ(got.bw_peak_gbps, sent.bw_peak_gbps);  // exact: %.17g reads back the same
  EXPECT_EQ(got.bw_avg_gbps, sent.bw_avg_gbps);
  EXPECT_EQ(got.msg_rate_mpps, sent.msg_rate_mpps);
  EXPECT_EQ(got.has_latency, sent.has_latency);
  EXPECT_EQ(got.latency.t_min, sent.latency.t_min);
  EXPECT_EQ(got.latency.t_max, sent.latency.t_max);
  EXPECT_EQ(got.latency.t_typical, sent.latency.t_typical);
  EXPECT_EQ(got.latency.t_avg, sent.latency.t_avg);
  EXPECT_EQ(got.latency.t_stdev, sent.latency.t_stdev);
  EXPECT_EQ(got.latency.p99, sent.latency.p99);
  EXPECT_EQ(got.latency.p99_9, sent.latency.p99_9);
  EXPECT_EQ(got.messages_posted, sent.messages_posted);
  EXPECT_EQ(got.messages_completed, sent.messages_completed);
  EXPECT_EQ(got.bytes_verified, sent.bytes_verified);
  EXPECT_EQ(got.data_errors, sent.data_errors);
  EXPECT_EQ(got.peak_window, sent.peak_window);
  EXPECT_EQ(got.virtual_seconds, sent.virtual_seconds);
  EXPECT_EQ(got.bytes, sent.bytes);
  EXPECT_EQ(got.mtu, sent.mtu);
  EXPECT_EQ(got.failure, sent.failure);
  // What is not sent stays as the receiver had it.
  EXPECT_EQ(got.test, PerfTest::kSendLat);
  EXPECT_EQ(got.iterations, 99u);
  EXPECT_EQ(got.qps, 5u);
  EXPECT_EQ(got.counters.size(), 1u);
}

TEST(PerfResultWireTest, ClientResultCarriesInfinityAndNan) {
  PerfResult sent = MeasuredResult();
  sent.msg_rate_mpps = std::numeric_limits<double>::infinity();
  sent.latency.t_stdev = std::numeric_limits<double>::quiet_NaN();
  PerfResult got;
  ASSERT_TRUE(DecodeClientResult(EncodeClientResult(sent), &got).ok());
  EXPECT_TRUE(std::isinf(got.msg_rate_mpps));
  EXPECT_TRUE(std::isnan(got.latency.t_stdev));
}

TEST(PerfResultWireTest, MalformedServerReportsAreRefusedWithTheLine) {
  struct Case {
    std::string_view text;
    std::string_view error;
  };
  const Case cases[] = {
      {"", "line 1, bytes_verified: missing"},
      {"bytes_verified=12", "line 1, bytes_verified: the message ends inside it"},
      {"bytes_verified=-1\ndata_errors=0\nfailure=", "not an unsigned 64-bit integer (\"-1\")"},
      {"bytes_verified=+1\ndata_errors=0\nfailure=", "not an unsigned 64-bit integer"},
      {"bytes_verified=18446744073709551616\ndata_errors=0\nfailure=",
       "not an unsigned 64-bit integer"},
      {"bytes_verified=1 \ndata_errors=0\nfailure=", "not an unsigned 64-bit integer"},
      {"bytes_verified=1\ndata_errors=0\n", "line 3, failure: missing"},
      {"bytes_verified=1\nfailure=\n", "line 2, data_errors: missing (\"failure=\")"},
      {"data_errors=1\nbytes_verified=1\nfailure=", "line 1, bytes_verified: missing"},
      // What the sscanf reader before took: leading spaces, an empty value.
      {"bytes_verified= 5\ndata_errors=0\nfailure=", "not an unsigned 64-bit integer"},
      {"bytes_verified=\ndata_errors=0\nfailure=", "not an unsigned 64-bit integer"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ServerReport> got = DecodeServerReport(Bytes(c.text));
    ASSERT_FALSE(got.ok()) << c.text;
    EXPECT_THAT(got.status().message(), HasSubstr(c.error)) << c.text;
  }
}

TEST(PerfResultWireTest, MalformedClientResultsAreRefusedAndLeaveTheResultAlone) {
  const std::string good = Text(EncodeClientResult(MeasuredResult()));
  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string text = good;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  struct Case {
    std::string text;
    std::string_view error;
  };
  const std::vector<Case> cases = {
      {replaced("ok=1", "ok=2"), "line 1, ok: not 0 or 1"},
      {replaced("has_latency=1", "has_latency=yes"), "line 5, has_latency: not 0 or 1"},
      {replaced("mtu=4096", "mtu=4294967296"), "mtu: not an unsigned 32-bit integer"},
      {replaced("bw_avg_gbps=71.799999999999997", "bw_avg_gbps=7e"), "bw_avg_gbps: not a number"},
      {replaced("bw_avg_gbps=71.799999999999997", "bw_avg_gbps=0x10"), "bw_avg_gbps: not a number"},
      {good.substr(0, good.find("failure=")), "failure: missing"},
      {good.substr(0, good.find("p99=") + 6), "p99: the message ends inside it"},
      {"1 74.75 71.8 2.192 1 0.81 12.5 0.93 0.95 0.1 1.86 5.05 1 1 1 0 1 0.1 4096 4096\n",
       "line 1, ok: missing"},  // the format before
      {std::string("ok=1\0\n", 6), "line 1, ok: not 0 or 1 (\"1\\x00\")"},
  };
  for (const Case& c : cases) {
    PerfResult got;
    got.failure = "untouched";
    got.bytes = 77;
    const absl::Status status = DecodeClientResult(Bytes(c.text), &got);
    ASSERT_FALSE(status.ok()) << c.text;
    EXPECT_THAT(status.message(), HasSubstr(c.error)) << c.text;
    EXPECT_EQ(got.failure, "untouched");
    EXPECT_EQ(got.bytes, 77u);
  }
}

TEST(PerfResultWireTest, ErrorsShowAtMostFortyBytesOfWhatWasThere) {
  const std::string junk = "bytes_verified=" + std::string(1000, '7') + "x\n";
  absl::StatusOr<ServerReport> got = DecodeServerReport(Bytes(junk));
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr(std::string(40, '7') + "\"..."));
  EXPECT_LT(got.status().message().size(), 120u);
}

}  // namespace
}  // namespace tern::perf
