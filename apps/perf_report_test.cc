#include "apps/perf_report.h"

#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "apps/perf_options.h"
#include "apps/perf_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::perf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

PerfOptions Options(std::vector<std::string_view> args) {
  absl::StatusOr<PerfOptions> options = ParsePerfOptions(args);
  EXPECT_TRUE(options.ok()) << options.status();
  return options.ok() ? *options : PerfOptions{};
}

PerfResult BwResult() {
  PerfResult r;
  r.test = PerfTest::kWriteBw;
  r.bytes = 65536;
  r.iterations = 1000;
  r.mtu = 1308;
  r.ok = true;
  r.bw_peak_gbps = 391.5;
  r.bw_avg_gbps = 389.25;
  r.msg_rate_mpps = 0.742;
  r.counters = {{"retransmitted_packets", 3},
                {"drop_bad_checksum", 2},
                {"wire_dropped_loss", 4},
                {"acks_sent", 9},
                {"ctx_control_coalesced_sent", 5}};
  return r;
}

TEST(JsonNumberTest, NonFiniteValuesAreNull) {
  EXPECT_EQ(JsonNumber(1.5), "1.5");
  EXPECT_EQ(JsonNumber(-2e-7), "-2e-07");
  EXPECT_EQ(JsonNumber(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(JsonNumber(-std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(JsonNumber(std::numeric_limits<double>::quiet_NaN()), "null");
}

TEST(JsonStringTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonString("plain"), "\"plain\"");
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString("tab\tnl\n"), "\"tab\\tnl\\n\"");
  EXPECT_EQ(JsonString(std::string_view("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(JsonString("caf\xc3\xa9"), "\"caf\xc3\xa9\"") << "UTF-8 passes through";
}

// JSON text is UTF-8: a byte that begins no well-formed sequence (a Latin-1
// file name in a command line) is written as the code point of its value.
TEST(JsonStringTest, BytesThatAreNotUtf8BecomeCodePoints) {
  EXPECT_EQ(JsonString("caf\xe9.flows"), "\"caf\\u00e9.flows\"");
  EXPECT_EQ(JsonString("\xe2\x82\xac \xf0\x9f\x98\x80"), "\"\xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(JsonString("\xe2\x82"), "\"\\u00e2\\u0082\"") << "cut short";
  EXPECT_EQ(JsonString("\xc0\xaf"), "\"\\u00c0\\u00af\"") << "overlong";
  EXPECT_EQ(JsonString("\xc2\x85"), "\"\xc2\x85\"") << "U+0085 is valid in JSON";
}

TEST(PerfReportTest, BandwidthRowColumnsLineUpWithTheHeader) {
  const std::string header = FormatTableHeader(PerfTest::kWriteBw);
  const std::string row = FormatRow(BwResult());
  EXPECT_EQ(row.find("1000"), header.find("#iterations"));
  EXPECT_EQ(row.find("391.50"), header.find("BW peak"));
  EXPECT_EQ(row.find("389.25"), header.find("BW average"));
  EXPECT_EQ(row.find("0.742000"), header.find("MsgRate"));
}

TEST(PerfReportTest, LatencyRowColumnsLineUpWithTheHeader) {
  PerfResult r;
  r.bytes = 2;
  r.iterations = 1000;
  r.has_latency = true;
  r.latency = {1.11, 2.22, 3.33, 4.44, 5.55, 6.66, 7.77};
  const std::string header = FormatTableHeader(PerfTest::kSendLat);
  const std::string row = FormatRow(r);
  EXPECT_EQ(row.find("1.11"), header.find("t_min"));
  EXPECT_EQ(row.find("2.22"), header.find("t_max"));
  EXPECT_EQ(row.find("3.33"), header.find("t_typical"));
  EXPECT_EQ(row.find("4.44"), header.find("t_avg"));
  EXPECT_EQ(row.find("5.55"), header.find("t_stdev"));
  EXPECT_EQ(row.find("6.66"), header.find("99%"));
  EXPECT_EQ(row.find("7.77"), header.find("99.9%"));
}

TEST(PerfReportTest, BannerNamesTestQpsPathsMtuFabricCcAndSeed) {
  const std::string banner =
      FormatBanner(Options({"--test=read_bw", "-q", "3", "--paths=4", "--mtu=1024", "--seed=42",
                            "--fabric=sim:loss=0.5"}));
  EXPECT_THAT(banner, HasSubstr("RDMA_Read BW Test"));
  EXPECT_THAT(banner, HasSubstr("Number of qps   : 3"));
  EXPECT_THAT(banner, HasSubstr("4 (weighted)"));
  EXPECT_THAT(banner, HasSubstr("1024[B]"));
  EXPECT_THAT(banner, HasSubstr("sim:loss=0.5"));
  EXPECT_THAT(banner, HasSubstr("fixed"));
  EXPECT_THAT(banner, HasSubstr("Seed            : 42"));
}

TEST(PerfReportTest, CountersBlockListsOnlyDropsThatHappened) {
  const std::string block = FormatCounters(Options({"--test=write_bw"}), {BwResult()});
  EXPECT_THAT(block, HasSubstr("retransmitted packets : 3"));
  EXPECT_THAT(block, HasSubstr("context drops         : bad_checksum 2"));
  EXPECT_THAT(block, HasSubstr("lost 4"));
  EXPECT_THAT(block, HasSubstr("acks / nacks          : 9 / 0 sent, RNR NAKs 0; 5 in another's"));
  EXPECT_THAT(block, Not(HasSubstr("truncated")));
}

TEST(PerfReportTest, JsonCarriesConfigRunsAndCounters) {
  PerfResult failed = BwResult();
  failed.ok = false;
  failed.failure = "stalled: \"quoted\"";
  const std::string json =
      FormatJson(Options({"--test=write_bw", "--json=/tmp/a.json"}), {BwResult(), failed});
  EXPECT_THAT(json, HasSubstr("\"test\": \"write_bw\""));
  EXPECT_THAT(json, HasSubstr("\"tx_depth\": 128"));
  EXPECT_THAT(json, HasSubstr("\"json\": \"/tmp/a.json\""));
  EXPECT_THAT(json, HasSubstr("\"bw_peak_definition\""));
  EXPECT_THAT(json, HasSubstr("\"bw_avg_gbps\": 389.25"));
  EXPECT_THAT(json, HasSubstr("\"drop_bad_checksum\": 2"));
  EXPECT_THAT(json, HasSubstr("\"failure\": \"stalled: \\\"quoted\\\"\""));
  EXPECT_THAT(json, HasSubstr("\"passed\": false"));
  EXPECT_THAT(json, HasSubstr("\"mtu\": 1308")) << "the run's own, under the config's";
  EXPECT_THAT(json, Not(HasSubstr("t_min_usec"))) << "bandwidth runs carry no latency";
}

}  // namespace
}  // namespace tern::perf
