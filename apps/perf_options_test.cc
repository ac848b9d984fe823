#include "apps/perf_options.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/testing/mutate_bytes.h"

namespace tern::perf {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::StatusOr<PerfOptions> Parse(std::vector<std::string_view> args) {
  return ParsePerfOptions(args);
}

// Parses `args`, which must be accepted.
PerfOptions MustParse(std::vector<std::string_view> args) {
  absl::StatusOr<PerfOptions> options = Parse(args);
  EXPECT_TRUE(options.ok()) << options.status();
  return options.ok() ? *options : PerfOptions{};
}

// The error message for `args`, which must be refused as a usage error.
std::string ErrorOf(std::vector<std::string_view> args) {
  absl::StatusOr<PerfOptions> options = Parse(args);
  EXPECT_FALSE(options.ok());
  if (options.ok()) return "";
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  const auto message = options.status().message();
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
  return std::string(message.data(), message.size());
}

TEST(PerfOptionsTest, OnlyTestGivesPerftestDefaults) {
  const PerfOptions o = MustParse({"--test=write_bw"});
  EXPECT_EQ(o.test, PerfTest::kWriteBw);
  EXPECT_EQ(o.size, 65536u);
  EXPECT_FALSE(o.all_sizes);
  EXPECT_EQ(o.iters, 1000u);
  EXPECT_EQ(o.qps, 1u);
  EXPECT_EQ(o.tx_depth, 128u);
  EXPECT_EQ(o.paths, 8u);
  EXPECT_EQ(o.path_policy, PathPolicy::kWeighted);
  EXPECT_EQ(o.mtu, 4096u);
  EXPECT_EQ(o.cc, "fixed");
  EXPECT_EQ(o.seed, 1u);
  EXPECT_EQ(o.fabric, "sim");
  EXPECT_EQ(o.wire.paths, 8u);
  EXPECT_EQ(o.line_rate_gbps, 400);
  EXPECT_EQ(o.min_rto, Duration::Microseconds(100));
  EXPECT_EQ(o.base_rtt, TransportOptions{}.base_rtt);
  EXPECT_EQ(o.retry_cnt, 7u);
  EXPECT_FALSE(o.verify);
  EXPECT_FALSE(o.quiet);
  EXPECT_TRUE(o.json_path.empty());
  EXPECT_THAT(o.Sizes(), ElementsAre(65536u));
}

TEST(PerfOptionsTest, EveryFlagParsedInEqualsForm) {
  const PerfOptions o = MustParse(
      {"--test=read_bw", "--size=4K", "--iters=50", "--qps=4", "--tx-depth=16", "--paths=16",
       "--path-policy=oblivious", "--mtu=1500", "--cc=fixed:window=262144", "--seed=7",
       "--fabric=sim:loss=0.01,delay=3", "--line-rate=100", "--verify", "--json=/tmp/x.json",
       "--quiet", "--min-rto=250.5", "--retry-cnt=12", "--base-rtt=12.5"});
  EXPECT_EQ(o.test, PerfTest::kReadBw);
  EXPECT_EQ(o.size, 4096u);
  EXPECT_EQ(o.iters, 50u);
  EXPECT_EQ(o.qps, 4u);
  EXPECT_EQ(o.tx_depth, 16u);
  EXPECT_EQ(o.paths, 16u);
  EXPECT_EQ(o.path_policy, PathPolicy::kOblivious);
  EXPECT_EQ(o.mtu, 1500u);
  EXPECT_EQ(o.cc, "fixed:window=262144");
  EXPECT_EQ(o.seed, 7u);
  EXPECT_EQ(o.fabric, "sim:loss=0.01,delay=3");
  EXPECT_EQ(o.wire.loss, 0.01);
  EXPECT_EQ(o.wire.delay, Duration::Microseconds(3));
  EXPECT_EQ(o.line_rate_gbps, 100);
  EXPECT_TRUE(o.verify);
  EXPECT_EQ(o.json_path, "/tmp/x.json");
  EXPECT_TRUE(o.quiet);
  EXPECT_EQ(o.min_rto, Duration::Nanoseconds(250'500));
  EXPECT_EQ(o.retry_cnt, 12u);
  EXPECT_EQ(o.base_rtt, Duration::Nanoseconds(12'500));
  // The congestion control of every QP sizes itself from it.
  EXPECT_EQ(PerfTransportOptions(o, Bandwidth::Gbps(100)).base_rtt, Duration::Nanoseconds(12'500));
}

TEST(PerfOptionsTest, EveryValueFlagParsedInSeparateForm) {
  const PerfOptions o = MustParse(
      {"--test",        "send_lat",    "--size",      "1M",   "--iters", "9",       "--paths", "2",
       "--path-policy", "single",      "--mtu",       "9000", "--cc",    "fixed",   "--seed",  "3",
       "--fabric",      "sim:paths=4", "--line-rate", "12.5", "--json",  "out.json"});
  EXPECT_EQ(o.test, PerfTest::kSendLat);
  EXPECT_EQ(o.size, 1u << 20);
  EXPECT_EQ(o.iters, 9u);
  EXPECT_EQ(o.paths, 2u);
  EXPECT_EQ(o.path_policy, PathPolicy::kSinglePath);
  EXPECT_EQ(o.mtu, 9000u);
  EXPECT_EQ(o.seed, 3u);
  EXPECT_EQ(o.wire.paths, 4u);
  EXPECT_EQ(o.line_rate_gbps, 12.5);
  EXPECT_EQ(o.json_path, "out.json");
}

TEST(PerfOptionsTest, ShortFlagsTakeSeparateOrAttachedValues) {
  const PerfOptions o = MustParse({"--test=send_bw", "-s", "100", "-n5", "-q", "2", "-t", "8"});
  EXPECT_EQ(o.size, 100u);
  EXPECT_EQ(o.iters, 5u);
  EXPECT_EQ(o.qps, 2u);
  EXPECT_EQ(o.tx_depth, 8u);
}

TEST(PerfOptionsTest, SizeSuffixesArePowersOf1024InEitherCase) {
  EXPECT_EQ(MustParse({"--test=write_bw", "-s", "64k"}).size, 65536u);
  EXPECT_EQ(MustParse({"--test=write_bw", "-s", "2M"}).size, 2u << 20);
  EXPECT_EQ(MustParse({"--test=write_bw", "-s", "1G", "-t", "1"}).size, 1u << 30);
  EXPECT_EQ(MustParse({"--test=write_bw", "-s", "1"}).size, 1u);
}

TEST(PerfOptionsTest, AllRunsPowersOfTwoFrom2To8MiB) {
  const PerfOptions o = MustParse({"--test=write_bw", "-a"});
  const std::vector<uint64_t> sizes = o.Sizes();
  ASSERT_EQ(sizes.size(), 23u);
  EXPECT_EQ(sizes.front(), 2u);
  EXPECT_EQ(sizes.back(), 1u << 23);
}

TEST(PerfOptionsTest, MaxSizeCapsAll) {
  EXPECT_THAT(MustParse({"--test=write_bw", "--all", "--max-size", "16"}).Sizes(),
              ElementsAre(2u, 4u, 8u, 16u));
  // A cap between powers of two keeps the largest power below it.
  EXPECT_THAT(MustParse({"--test=write_bw", "-a", "--max-size=20"}).Sizes(),
              ElementsAre(2u, 4u, 8u, 16u));
}

TEST(PerfOptionsTest, HelpIsAcceptedWhateverElseIsGiven) {
  EXPECT_TRUE(MustParse({"--help"}).help);
  EXPECT_TRUE(MustParse({"--bogus", "-h"}).help);
}

TEST(PerfOptionsTest, FabricInheritsPathsAndSeedUnlessTheSpecSetsThem) {
  const PerfOptions inherit = MustParse({"--test=write_bw", "--paths=4", "--seed=9"});
  EXPECT_EQ(inherit.wire.paths, 4u);
  EXPECT_EQ(inherit.wire.seed, 9u);
  const PerfOptions own =
      MustParse({"--test=write_bw", "--paths=4", "--seed=9", "--fabric=sim:paths=2,seed=5"});
  EXPECT_EQ(own.paths, 4u);
  EXPECT_EQ(own.wire.paths, 2u);
  EXPECT_EQ(own.wire.seed, 5u);
}

TEST(PerfOptionsTest, MissingTestIsRefused) {
  EXPECT_THAT(ErrorOf({"-s", "64"}), AllOf(StartsWith("--test"), HasSubstr("send_bw|write_bw")));
}

TEST(PerfOptionsTest, UnknownTestIsRefusedListingTheTests) {
  EXPECT_THAT(ErrorOf({"--test=atomic_bw"}), AllOf(StartsWith("--test"), HasSubstr("read_lat")));
}

TEST(PerfOptionsTest, UnknownFlagsAreRefused) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--bogus=1"}), HasSubstr("unknown flag '--bogus'"));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "-x"}), HasSubstr("unknown flag '-x'"));
}

TEST(PerfOptionsTest, PositionalArgumentsAreRefused) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "extra"}), HasSubstr("unexpected argument 'extra'"));
}

TEST(PerfOptionsTest, FlagGivenTwiceIsRefused) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "-n", "5", "--iters=6"}),
              AllOf(StartsWith("-n/--iters"), HasSubstr("more than once")));
}

TEST(PerfOptionsTest, ValueFlagAtTheEndWithoutValueIsRefused) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--mtu"}),
              AllOf(StartsWith("--mtu"), HasSubstr("needs a value")));
}

TEST(PerfOptionsTest, BooleanFlagWithValueIsRefused) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--verify=yes"}),
              AllOf(StartsWith("--verify"), HasSubstr("takes no value")));
}

TEST(PerfOptionsTest, AllWithSizeIsRefused) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "-a", "-s", "64"}),
              AllOf(StartsWith("-a/--all"), HasSubstr("-s/--size")));
}

TEST(PerfOptionsTest, MaxSizeWithoutAllIsRefused) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--max-size=1M"}),
              AllOf(StartsWith("--max-size"), HasSubstr("-a/--all")));
}

TEST(PerfOptionsTest, RetryFlagsOutOfRangeAreRefused) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--min-rto=0.5"}),
              AllOf(StartsWith("--min-rto"), HasSubstr("valid: 1..100000 us")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--min-rto=100001"}), StartsWith("--min-rto"));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--min-rto=1ms"}), StartsWith("--min-rto"));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--base-rtt=0"}),
              AllOf(StartsWith("--base-rtt"), HasSubstr("up to 100000 us")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--base-rtt=-3"}), StartsWith("--base-rtt"));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--base-rtt=100001"}), StartsWith("--base-rtt"));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--base-rtt=8us"}), StartsWith("--base-rtt"));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--retry-cnt=256"}),
              AllOf(StartsWith("--retry-cnt"), HasSubstr("valid: 0..255")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--retry-cnt=-1"}), StartsWith("--retry-cnt"));
}

TEST(PerfOptionsTest, LatencyTestsRefuseSeveralQps) {
  EXPECT_THAT(ErrorOf({"--test=send_lat", "-q", "2"}),
              AllOf(StartsWith("-q/--qps"), HasSubstr("one QP")));
}

TEST(PerfOptionsTest, LatencyTestsRefuseTxDepth) {
  EXPECT_THAT(ErrorOf({"--test=read_lat", "-t", "4"}),
              AllOf(StartsWith("-t/--tx-depth"), HasSubstr("bandwidth tests only")));
}

TEST(PerfOptionsTest, WarmupIsForLatencyTestsAndAddsToTheRunsIterations) {
  const PerfOptions o = MustParse({"--test=send_lat", "-n", "100", "--warmup=30"});
  EXPECT_EQ(o.iters, 100u);
  EXPECT_EQ(o.warmup, 30u);
  EXPECT_EQ(WithWarmupIterations(o).iters, 130u);
  EXPECT_EQ(WithWarmupIterations(o).warmup, 30u);
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--warmup=10"}),
              AllOf(StartsWith("--warmup"), HasSubstr("latency tests")));
  EXPECT_THAT(ErrorOf({"--test=send_lat", "--warmup=ten"}),
              AllOf(StartsWith("--warmup"), HasSubstr("0..100000000")));
  EXPECT_THAT(ErrorOf({"--test=read_lat", "-n", "100000000", "--warmup=1"}),
              AllOf(StartsWith("--warmup"), HasSubstr("exceeds 100000000")));
}

TEST(PerfOptionsTest, BuffersAboveTheLimitAreRefused) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "-s", "1G"}),
              AllOf(StartsWith("-t/--tx-depth"), HasSubstr("GiB")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "-a", "--max-size=1G"}), StartsWith("--max-size"));
}

TEST(PerfOptionsTest, TooManyOutstandingMessagesAreRefused) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "-s", "2", "-q", "1024", "-t", "8192", "-n", "10000"}),
              StartsWith("-t/--tx-depth"));
}

TEST(PerfOptionsTest, DpdkFabricTakesFaultsAndRoles) {
  const absl::StatusOr<PerfOptions> loopback =
      Parse({"--test=write_bw", "--fabric=dpdk:loss=0.05,reorder=4", "--pcap=x.pcapng"});
  ASSERT_TRUE(loopback.ok()) << loopback.status();
  EXPECT_EQ(loopback->fabric_kind, FabricKind::kDpdk);
  EXPECT_EQ(loopback->role, DpdkRole::kLoopback);
  EXPECT_EQ(loopback->wire.loss, 0.05);
  EXPECT_EQ(loopback->pcap_path, "x.pcapng");
  const absl::StatusOr<PerfOptions> client =
      Parse({"--test=send_lat", "--fabric=dpdk", "--connect=10.1.1.1", "--control-port=2000",
             "--ip=10.0.0.7", "--peer-mac=02:00:00:00:00:02", "--dpdk-port=1", "--timeout=5"});
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->role, DpdkRole::kClient);
  EXPECT_EQ(client->connect_host, "10.1.1.1");
  EXPECT_EQ(client->control_port, 2000);
  EXPECT_EQ(client->dpdk_port, 1);
  EXPECT_EQ(client->local_ip, "10.0.0.7");
  const absl::StatusOr<PerfOptions> any_port =
      Parse({"--test=send_lat", "--fabric=dpdk", "--server", "--control-port=0"});
  ASSERT_TRUE(any_port.ok()) << any_port.status();
  EXPECT_EQ(any_port->control_port, 0);
}

TEST(PerfOptionsTest, DpdkFlagsAreCheckedAndNeedTheDpdkFabric) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--loopback"}),
              AllOf(StartsWith("--loopback"), HasSubstr("--fabric=dpdk")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk:trim=0.1"}),
              AllOf(StartsWith("--fabric"), HasSubstr("simulator-only")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--server", "--connect=h"}),
              HasSubstr("choose one"));
  EXPECT_EQ(Parse({"--test=write_bw", "--fabric=dpdk", "--ip=fd00::1"})->local_ip, "fd00::1");
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--ip=10.0.0"}),
              AllOf(StartsWith("--ip"), HasSubstr("IPv4 or IPv6")));
  // --loopback's server takes the next address; a server or client has no such need.
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--ip=fd00::ff"}),
              AllOf(StartsWith("--ip"), HasSubstr("no next address")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--loopback", "--ip=10.0.0.255"}),
              StartsWith("--ip"));
  EXPECT_EQ(Parse({"--test=write_bw", "--fabric=dpdk", "--server", "--ip=10.0.0.255"})->local_ip,
            "10.0.0.255");
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--peer-mac=02:00"}),
              StartsWith("--peer-mac"));
  EXPECT_EQ(Parse({"--test=write_bw", "--fabric=dpdk", "--connect=h", "--gateway=10.1.0.254"})
                ->gateway_ip,
            "10.1.0.254");
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--server", "--gateway=fe80::1"}),
              AllOf(StartsWith("--gateway"), HasSubstr("is IPv6 and this host's address")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--server", "--ip=fd00::2",
                       "--gateway=10.1.0.254"}),
              AllOf(StartsWith("--gateway"), HasSubstr("is IPv4 and this host's address")));
  EXPECT_EQ(Parse({"--test=write_bw", "--fabric=dpdk", "--server", "--ip=fd00:1::2",
                   "--gateway=fd00:1::1"})
                ->gateway_ip,
            "fd00:1::1");
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--server", "--gateway=10.1.0"}),
              AllOf(StartsWith("--gateway"), HasSubstr("not an IPv4 or IPv6 address")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--gateway=10.1.0.254"}),
              AllOf(StartsWith("--gateway"), HasSubstr("--server")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--server", "--gateway=10.1.0.254",
                       "--peer-mac=02:00:00:00:00:02"}),
              AllOf(StartsWith("--gateway"), HasSubstr("--peer-mac")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--gateway=10.1.0.254"}),
              AllOf(StartsWith("--gateway"), HasSubstr("--fabric=dpdk")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--control-port=0"}),
              AllOf(StartsWith("--control-port"), HasSubstr("only for --server")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--connect=h", "--control-port=0"}),
              AllOf(StartsWith("--control-port"), HasSubstr("only for --server")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--server", "--control-port=65536"}),
              AllOf(StartsWith("--control-port"), HasSubstr("not a TCP port")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--timeout=-1"}),
              StartsWith("--timeout"));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=ib"}), HasSubstr("unknown fabric"));
}

TEST(PerfOptionsTest, LinkMtuNeedsTheDpdkFabricAndAnIpMtu) {
  EXPECT_EQ(Parse({"--test=write_bw", "--fabric=dpdk", "--link-mtu=9216"})->link_mtu, 9216u);
  EXPECT_EQ(Parse({"--test=write_bw", "--fabric=dpdk"})->link_mtu, 0u);
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--link-mtu=9000"}),
              AllOf(StartsWith("--link-mtu"), HasSubstr("--fabric=dpdk")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--link-mtu=575"}),
              AllOf(StartsWith("--link-mtu"), HasSubstr("576..9216")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--link-mtu=9217"}),
              StartsWith("--link-mtu"));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--link-mtu=1500B"}),
              StartsWith("--link-mtu"));
}

TEST(PerfOptionsTest, PullWindowReachesTheTransport) {
  const absl::StatusOr<PerfOptions> o = Parse({"--test=write_bw", "--pull-window=32"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(PerfTransportOptions(*o, Bandwidth::Gbps(400)).pull_window_packets, 32u);
  EXPECT_EQ(Parse({"--test=write_bw"})->pull_window_packets, 0u);
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--pull-window=1025"}),
              AllOf(StartsWith("--pull-window"), HasSubstr("0..1024")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--pull-window=x"}), StartsWith("--pull-window"));
}

TEST(PerfOptionsTest, PacketsPerTurn) {
  const absl::StatusOr<PerfOptions> o = Parse({"--test=write_bw", "--packets-per-turn=1"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->packets_per_turn, 1u);
  EXPECT_EQ(Parse({"--test=write_bw"})->packets_per_turn, ContextConfig{}.packets_per_turn);
  for (const char* bad :
       {"--packets-per-turn=0", "--packets-per-turn=1025", "--packets-per-turn=x"}) {
    EXPECT_THAT(ErrorOf({"--test=write_bw", bad}),
                AllOf(StartsWith("--packets-per-turn"), HasSubstr("1..1024")))
        << bad;
  }
}

TEST(PerfOptionsTest, TrafficClass) {
  const absl::StatusOr<PerfOptions> o = Parse({"--test=write_bw", "--tclass=104"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->traffic_class, 104u);
  EXPECT_EQ(Parse({"--test=write_bw"})->traffic_class, 0u);
  for (const char* bad : {"--tclass=106", "--tclass=256", "--tclass=-4", "--tclass=x"}) {
    EXPECT_THAT(ErrorOf({"--test=write_bw", bad}),
                AllOf(StartsWith("--tclass"), HasSubstr("DSCP x 4, 0..252")))
        << bad;
  }
}

TEST(PerfOptionsTest, NoCoalesceControlNeedsTheDpdkFabric) {
  EXPECT_TRUE(Parse({"--test=write_bw", "--fabric=dpdk"})->coalesce_control);
  EXPECT_FALSE(
      Parse({"--test=write_bw", "--fabric=dpdk", "--no-coalesce-control"})->coalesce_control);
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--no-coalesce-control"}),
              AllOf(StartsWith("--no-coalesce-control"), HasSubstr("--fabric=dpdk")));
}

TEST(PerfOptionsTest, NoAddressCheckNeedsTheDpdkFabric) {
  EXPECT_TRUE(Parse({"--test=write_bw", "--fabric=dpdk"})->address_check);
  EXPECT_FALSE(Parse({"--test=write_bw", "--fabric=dpdk", "--no-address-check"})->address_check);
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--no-address-check"}),
              AllOf(StartsWith("--no-address-check"), HasSubstr("--fabric=dpdk")));
}

TEST(PerfOptionsTest, WorkersNeedTheDpdkFabricAndAQpEach) {
  const absl::StatusOr<PerfOptions> two =
      Parse({"--test=write_bw", "--fabric=dpdk", "--workers=2", "-q", "4"});
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->workers, 2);
  EXPECT_EQ(Parse({"--test=write_bw", "--fabric=dpdk"})->workers, 1);
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--workers=2", "-q", "2"}),
              AllOf(StartsWith("--workers"), HasSubstr("--fabric=dpdk")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--workers=0"}),
              AllOf(StartsWith("--workers"), HasSubstr("1..16")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--workers=17", "-q", "32"}),
              StartsWith("--workers"));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=dpdk", "--workers=3", "-q", "2"}),
              AllOf(StartsWith("--workers"), HasSubstr("-q 2")));
  EXPECT_THAT(ErrorOf({"--test=send_lat", "--fabric=dpdk", "--workers=2"}),
              AllOf(StartsWith("--workers"), HasSubstr("latency")));
  // Every worker captures into the one file (PacketCapture takes a lock).
  EXPECT_EQ(Parse({"--test=write_bw", "--fabric=dpdk", "--workers=2", "-q", "2", "--pcap=x.pcapng"})
                ->pcap_path,
            "x.pcapng");
}

TEST(PerfOptionsTest, BadWireSpecIsRefusedWithTheWireError) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=sim:loss=2"}),
              AllOf(StartsWith("--fabric"), HasSubstr("loss")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--fabric=sim:colour=red"}), StartsWith("--fabric"));
}

TEST(PerfOptionsTest, BlackholeBeyondInheritedPathsNamesPaths) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--paths=4", "--fabric=sim:blackhole=6"}),
              AllOf(StartsWith("--paths"), HasSubstr("blackhole=6")));
}

TEST(PerfOptionsTest, BadCongestionControlIsRefusedWithTheRegistryError) {
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--cc=warp"}),
              AllOf(StartsWith("--cc"), HasSubstr("warp")));
  EXPECT_THAT(ErrorOf({"--test=write_bw", "--cc=fixed:speed=1"}), StartsWith("--cc"));
}

struct BadValue {
  std::vector<std::string_view> args;
  std::string_view flag;   // how the error must start
  std::string_view valid;  // part of the "what is valid" text
};

class PerfOptionsBadValueTest : public ::testing::TestWithParam<BadValue> {};

TEST_P(PerfOptionsBadValueTest, IsRefusedNamingTheFlagAndWhatIsValid) {
  std::vector<std::string_view> args = {"--test=write_bw"};
  for (std::string_view a : GetParam().args) args.push_back(a);
  const std::string error = ErrorOf(args);
  EXPECT_THAT(error, StartsWith(std::string(GetParam().flag)));
  EXPECT_THAT(error, HasSubstr(std::string(GetParam().valid)));
}

INSTANTIATE_TEST_SUITE_P(
    EachFlag, PerfOptionsBadValueTest,
    ::testing::Values(
        BadValue{{"-s", "0"}, "-s/--size", "1..1G"}, BadValue{{"-s", "2G"}, "-s/--size", "1..1G"},
        BadValue{{"-s", "abc"}, "-s/--size", "1..1G"}, BadValue{{"-s", "-1"}, "-s/--size", "1..1G"},
        BadValue{{"-s", "1.5K"}, "-s/--size", "1..1G"},
        BadValue{{"-s", "64KB"}, "-s/--size", "1..1G"},
        BadValue{{"-s", "99999999999999999999"}, "-s/--size", "1..1G"},
        BadValue{{"-a", "--max-size=1"}, "--max-size", "2..1G"},
        BadValue{{"-n", "0"}, "-n/--iters", "1..100000000"},
        BadValue{{"-n", "many"}, "-n/--iters", "1..100000000"},
        BadValue{{"-q", "0"}, "-q/--qps", "1..1024"},
        BadValue{{"-q", "1025"}, "-q/--qps", "1..1024"},
        BadValue{{"-t", "0"}, "-t/--tx-depth", "1..8192"},
        BadValue{{"-t", "8193"}, "-t/--tx-depth", "1..8192"},
        BadValue{{"--paths=0"}, "--paths", "1..8192"},
        BadValue{{"--paths=8193"}, "--paths", "1..8192"},
        BadValue{{"--path-policy=random"}, "--path-policy", "single|oblivious|weighted|recycled"},
        BadValue{{"--mtu=255"}, "--mtu", "256..9000"},
        BadValue{{"--mtu=9001"}, "--mtu", "256..9000"},
        BadValue{{"--seed=-1"}, "--seed", "0..2^64-1"},
        BadValue{{"--seed=0x10"}, "--seed", "0..2^64-1"},
        BadValue{{"--fabric=ns3"}, "--fabric", "sim[:KEY=VALUE,...]"},
        BadValue{{"--line-rate=0"}, "--line-rate", "0.001..100000"},
        BadValue{{"--line-rate=fast"}, "--line-rate", "0.001..100000"},
        BadValue{{"--line-rate=inf"}, "--line-rate", "0.001..100000"},
        BadValue{{"--json="}, "--json", "file name"}));

TEST(PerfOptionsTest, UsageDescribesFlagsFabricKeysAndAlgorithms) {
  const std::string usage = PerfUsage();
  EXPECT_THAT(usage, HasSubstr("--test=TEST"));
  EXPECT_THAT(usage, HasSubstr("BW peak"));
  EXPECT_THAT(usage, HasSubstr(sim::DescribeWireSpec()));
  EXPECT_THAT(usage, HasSubstr("fixed"));
}

// Seeded damage to one argument of a valid command line: each result parses
// or is an InvalidArgument with a message, never a crash. Seeds 1 to 1000.
TEST(PerfOptionsTest, DamagedArgumentsParseOrAreRefused) {
  const std::vector<std::string> valid = {"--test=write_bw",
                                          "-s",
                                          "4096",
                                          "-q",
                                          "4",
                                          "-t",
                                          "16",
                                          "-n",
                                          "1000",
                                          "--mtu",
                                          "4096",
                                          "--cc=swift",
                                          "--pull-window",
                                          "8",
                                          "--verify",
                                          "--seed",
                                          "7",
                                          "--json",
                                          "out.json"};
  ASSERT_TRUE(ParsePerfOptions(std::vector<std::string_view>(valid.begin(), valid.end())).ok());
  for (uint64_t seed = 1; seed <= 1000; ++seed) {
    Random rng(seed);
    std::vector<std::string> args = valid;
    std::string& damaged = args[rng.Uniform(args.size())];
    damaged = testing::MutateBytes(damaged, rng);
    SCOPED_TRACE(::testing::Message()
                 << "seed=" << seed << " argument=\"" << absl::CEscape(damaged) << "\"");
    const absl::StatusOr<PerfOptions> parsed =
        ParsePerfOptions(std::vector<std::string_view>(args.begin(), args.end()));
    if (parsed.ok()) continue;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << parsed.status();
    EXPECT_FALSE(parsed.status().message().empty());
  }
}

}  // namespace
}  // namespace tern::perf
