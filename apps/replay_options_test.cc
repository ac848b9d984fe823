// The DPDK, merge and ACK-policy flags of tern-replay (the simulated run's
// other flags are covered end to end by tests/replay/replay_cli_test.py).
#include "apps/replay_options.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/testing/mutate_bytes.h"

namespace tern::replay {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<ReplayOptions> Parse(std::vector<const char*> args) {
  return ParseReplayOptions(args);
}

TEST(ReplayOptionsTest, TrafficClass) {
  absl::StatusOr<ReplayOptions> o = Parse({"--tclass", "104"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->config.traffic_class, 104u);
  EXPECT_EQ(Parse({})->config.traffic_class, 0u);
  for (const char* bad : {"--tclass=105", "--tclass=256", "--tclass=x"}) {
    EXPECT_THAT(Parse({bad}).status().message(), HasSubstr("--tclass: DSCP x 4, 0..252")) << bad;
  }
}

TEST(ReplayOptionsTest, PacketsPerTurn) {
  absl::StatusOr<ReplayOptions> o = Parse({"--packets-per-turn", "1"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->config.packets_per_turn, 1u);
  EXPECT_EQ(Parse({})->config.packets_per_turn, ContextConfig{}.packets_per_turn);
  for (const char* bad :
       {"--packets-per-turn=0", "--packets-per-turn=1025", "--packets-per-turn=x"}) {
    EXPECT_THAT(Parse({bad}).status().message(), HasSubstr("--packets-per-turn: packets, 1..1024"))
        << bad;
  }
}

TEST(ReplayOptionsTest, AckPolicyFlags) {
  absl::StatusOr<ReplayOptions> o = Parse({"--ack-every", "16", "--ack-delay=0.5"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->config.ack_every, 16u);
  EXPECT_EQ(o->config.ack_delay, Duration::Nanoseconds(500));
  const ReplayOptions defaults = *Parse({});
  EXPECT_EQ(defaults.config.ack_every, TransportOptions{}.ack_every);
  EXPECT_EQ(defaults.config.ack_delay, TransportOptions{}.ack_delay);
  EXPECT_THAT(Parse({"--ack-every=0"}).status().message(), HasSubstr("--ack-every: packets"));
  EXPECT_THAT(Parse({"--ack-every=2000"}).status().message(), HasSubstr("--ack-every"));
  EXPECT_THAT(Parse({"--ack-delay=-1"}).status().message(), HasSubstr("--ack-delay"));
  EXPECT_THAT(Parse({"--ack-delay=x"}).status().message(), HasSubstr("--ack-delay"));
}

TEST(ReplayOptionsTest, PullWindowFlag) {
  EXPECT_EQ(Parse({})->config.pull_window_packets, 0u);
  EXPECT_EQ(Parse({"--pull-window", "80"})->config.pull_window_packets, 80u);
  EXPECT_THAT(Parse({"--pull-window=1025"}).status().message(),
              AllOf(HasSubstr("--pull-window"), HasSubstr("0..1024")));
  EXPECT_THAT(Parse({"--pull-window=-1"}).status().message(), HasSubstr("--pull-window"));
}

// Fractional microseconds and milliseconds round to the nearest picosecond:
// 2.01 * 1e6 and 4.1 * 1e9 are just under whole numbers in doubles, which
// truncation used to turn into 2'009'999 ps and 4'099'999'999 ps.
TEST(ReplayOptionsTest, FractionalDurationsRoundToThePicosecond) {
  absl::StatusOr<ReplayOptions> o = Parse({"--ack-delay=2.01", "--fairness-window=2.01",
                                           "--timeline-interval=2.01", "--time-limit=4.1"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->config.ack_delay, Duration::Picoseconds(2'010'000));
  EXPECT_EQ(o->fairness_window, Duration::Picoseconds(2'010'000));
  EXPECT_EQ(o->config.timeline_interval, Duration::Picoseconds(2'010'000));
  EXPECT_EQ(o->config.time_limit, Duration::Picoseconds(4'100'000'000));
}

TEST(ReplayOptionsTest, FairnessWindowFlag) {
  absl::StatusOr<ReplayOptions> o = Parse({"--fairness-window", "25"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->fairness_window, Duration::Microseconds(25));
  EXPECT_EQ(Parse({})->fairness_window, Duration::Zero());
  EXPECT_THAT(Parse({"--fairness-window=-1"}).status().message(), HasSubstr("--fairness-window"));
  EXPECT_THAT(Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o", "--fairness-window=5"})
                  .status()
                  .message(),
              HasSubstr("--fairness-window"));
}

TEST(ReplayOptionsTest, DpdkRankFlags) {
  absl::StatusOr<ReplayOptions> o =
      Parse({"--fabric=dpdk", "--rank", "3", "--hosts", "h.txt", "--out", "r3.txt", "--link-rate",
             "25", "--base-rtt=12.5", "--time-limit", "500", "--idle-sleep", "50",
             "--workload=alltoall:size=1MB", "--verb", "send"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->dpdk);
  EXPECT_EQ(o->dpdk_options.rank, 3u);
  EXPECT_EQ(o->dpdk_options.hosts_path, "h.txt");
  EXPECT_EQ(o->dpdk_options.out_path, "r3.txt");
  EXPECT_EQ(o->dpdk_options.link_gbps, 25);
  EXPECT_EQ(o->dpdk_options.base_rtt, Duration::Nanoseconds(12'500));
  EXPECT_EQ(o->dpdk_options.time_limit_s, 0.5);
  EXPECT_EQ(o->dpdk_options.idle_sleep_us, 50);
  EXPECT_EQ(o->config.verb, TransferVerb::kSend);
}

TEST(ReplayOptionsTest, DpdkLinkMtu) {
  absl::StatusOr<ReplayOptions> o =
      Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o", "--link-mtu", "9216"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->dpdk_options.link_mtu, 9216u);
  EXPECT_EQ(Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o"})->dpdk_options.link_mtu, 0u);
  EXPECT_THAT(Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o", "--link-mtu", "100"})
                  .status()
                  .message(),
              AllOf(HasSubstr("--link-mtu"), HasSubstr("576..9216")));
  EXPECT_THAT(Parse({"--link-mtu", "9216"}).status().message(),
              HasSubstr("--link-mtu: only with --fabric=dpdk"));
}

// The range is tern-perf's (one parser): above 0, up to the largest RTO.
TEST(ReplayOptionsTest, DpdkBaseRtt) {
  EXPECT_EQ(Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o"})->dpdk_options.base_rtt,
            Duration::Zero());
  for (const char* bad : {"0", "-3", "100001", "8us", ""}) {
    EXPECT_THAT(Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o", "--base-rtt", bad})
                    .status()
                    .message(),
                AllOf(HasSubstr("--base-rtt"), HasSubstr("up to 100000 us")))
        << bad;
  }
}

TEST(ReplayOptionsTest, DpdkWorkers) {
  EXPECT_EQ(Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o"})->dpdk_options.workers, 1u);
  absl::StatusOr<ReplayOptions> o =
      Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o", "--workers", "4"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->dpdk_options.workers, 4u);
  for (const char* bad : {"0", "17", "two", "-1"}) {
    EXPECT_THAT(
        Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o", "--workers", bad}).status().message(),
        AllOf(HasSubstr("--workers"), HasSubstr("1..16")))
        << bad;
  }
  EXPECT_THAT(Parse({"--workers", "2"}).status().message(),
              HasSubstr("--workers: only with --fabric=dpdk"));
}

TEST(ReplayOptionsTest, DpdkNoCoalesceControl) {
  EXPECT_TRUE(
      Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o"})->dpdk_options.coalesce_control);
  absl::StatusOr<ReplayOptions> o =
      Parse({"--fabric=dpdk", "--no-coalesce-control", "--hosts", "h", "--out", "o"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->dpdk_options.coalesce_control);
  EXPECT_THAT(Parse({"--no-coalesce-control"}).status().message(),
              HasSubstr("--no-coalesce-control: only with --fabric=dpdk"));
  EXPECT_THAT(Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o", "--no-coalesce-control=1"})
                  .status()
                  .message(),
              HasSubstr("takes no value"));
}

TEST(ReplayOptionsTest, DpdkNoAddressCheck) {
  EXPECT_TRUE(Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o"})->dpdk_options.address_check);
  absl::StatusOr<ReplayOptions> o =
      Parse({"--fabric=dpdk", "--no-address-check", "--hosts", "h", "--out", "o"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->dpdk_options.address_check);
  EXPECT_TRUE(o->dpdk_options.coalesce_control) << "one flag clears one setting";
  EXPECT_THAT(Parse({"--no-address-check"}).status().message(),
              HasSubstr("--no-address-check: only with --fabric=dpdk"));
}

TEST(ReplayOptionsTest, DpdkWithoutRankLeavesItToOpenMpi) {
  absl::StatusOr<ReplayOptions> o = Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->dpdk_options.rank.has_value());
}

TEST(ReplayOptionsTest, DpdkNeedsHostsAndOut) {
  EXPECT_THAT(Parse({"--fabric=dpdk", "--out", "o"}).status().message(), HasSubstr("--hosts"));
  EXPECT_THAT(Parse({"--fabric=dpdk", "--hosts", "h"}).status().message(), HasSubstr("--out"));
}

TEST(ReplayOptionsTest, DpdkRefusesSimOnlyOutputs) {
  EXPECT_THAT(
      Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o", "--json", "j"}).status().message(),
      HasSubstr("--json: not with --fabric=dpdk"));
}

// --fabric=dpdk:KEYS: transmit faults on the rank's port, with tern-perf's
// keys; paths and seed follow --paths and --seed unless the spec sets them,
// whatever the flags' order.
TEST(ReplayOptionsTest, DpdkTransmitFaults) {
  absl::StatusOr<ReplayOptions> o = Parse({"--fabric=dpdk:loss=0.05,reorder=4", "--hosts", "h",
                                           "--out", "o", "--paths", "4", "--seed", "9"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->dpdk);
  ASSERT_TRUE(o->dpdk_options.faults.has_value());
  EXPECT_EQ(o->dpdk_options.faults->loss, 0.05);
  EXPECT_EQ(o->dpdk_options.faults->reorder, Duration::Microseconds(4));
  EXPECT_EQ(o->dpdk_options.faults->paths, 4u);
  EXPECT_EQ(o->dpdk_options.faults->seed, 9u);
  o = Parse({"--fabric=dpdk:dup=0.01,paths=2,seed=3", "--hosts", "h", "--out", "o"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->dpdk_options.faults->paths, 2u);
  EXPECT_EQ(o->dpdk_options.faults->seed, 3u);
  EXPECT_FALSE(Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o"})->dpdk_options.faults);
}

TEST(ReplayOptionsTest, DpdkTransmitFaultsRefuseWhatAPortCannotDo) {
  const auto error = [](const char* fabric) {
    return std::string(Parse({fabric, "--hosts", "h", "--out", "o"}).status().message());
  };
  EXPECT_THAT(error("--fabric=dpdk:delay=2"), HasSubstr("'delay' is simulator-only"));
  EXPECT_THAT(error("--fabric=dpdk:loss=2"), HasSubstr("loss"));
  EXPECT_THAT(error("--fabric=dpdk:bogus=1"), HasSubstr("bogus"));
  EXPECT_THAT(error("--fabric=dpdk:blackhole=8"), HasSubstr("below paths (8)"));
  EXPECT_THAT(Parse({"--fabric=dpdk:blackhole=5", "--paths", "4", "--hosts", "h", "--out", "o"})
                  .status()
                  .message(),
              HasSubstr("blackhole=5 needs more than 4 wire paths"));
}

TEST(ReplayOptionsTest, DpdkFlagsRefusedOnTheSimulator) {
  EXPECT_THAT(Parse({"--rank", "1"}).status().message(),
              HasSubstr("--rank: only with --fabric=dpdk"));
}

TEST(ReplayOptionsTest, MergeTakesEveryFileUpToTheNextFlag) {
  absl::StatusOr<ReplayOptions> o = Parse({"--merge", "a", "b", "c", "--json", "out.json"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_THAT(o->merge_paths, ElementsAre("a", "b", "c"));
  EXPECT_EQ(o->json_path, "out.json");
}

TEST(ReplayOptionsTest, MergeNeedsFilesAndAnOutput) {
  EXPECT_THAT(Parse({"--merge", "--json", "j"}).status().message(), HasSubstr("rank files"));
  EXPECT_THAT(Parse({"--merge", "a"}).status().message(),
              HasSubstr("needs --json FILE, --csv FILE or --timeline DIR"));
  EXPECT_THAT(Parse({"--merge", "a", "--json", "j", "--seed", "2"}).status().message(),
              HasSubstr("takes no --seed"));
}

TEST(ReplayOptionsTest, CcSamplesAreTakenByRanksAndWrittenByTheMerge) {
  absl::StatusOr<ReplayOptions> o = Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o",
                                           "--timeline-interval", "50", "--timeline-flows", "2"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->config.timeline_interval, Duration::Microseconds(50));
  EXPECT_EQ(o->config.timeline_connections, 2u);
  EXPECT_EQ(Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o"})->config.timeline_interval,
            Duration::Zero());
  EXPECT_THAT(Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o", "--timeline-interval", "0.5"})
                  .status()
                  .message(),
              HasSubstr("--timeline-interval: at least 1 microsecond with --fabric=dpdk"));
  EXPECT_THAT(
      Parse({"--fabric=dpdk", "--hosts", "h", "--out", "o", "--timeline", "d"}).status().message(),
      HasSubstr("--timeline: not with --fabric=dpdk"));
  o = Parse({"--merge", "a", "b", "--timeline", "dir"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->timeline_dir, "dir");
  EXPECT_THAT(
      Parse({"--merge", "a", "--timeline", "d", "--timeline-interval", "5"}).status().message(),
      HasSubstr("takes no --timeline-interval: the rank files say"));
}

// Seeded damage to one argument of a valid command line: each result parses
// or is an InvalidArgument with a message, never a crash. Seeds 1 to 1000.
TEST(ReplayOptionsTest, DamagedArgumentsParseOrAreRefused) {
  const std::vector<std::string> valid = {"--fabric=sim:hosts=16,trim=1",
                                          "--workload=incast:senders=4,size=1MB",
                                          "--cc=nscc",
                                          "--paths",
                                          "4",
                                          "--seed",
                                          "3",
                                          "--ack-every",
                                          "4",
                                          "--ack-delay=2",
                                          "--pull-window",
                                          "16",
                                          "--time-limit",
                                          "5",
                                          "--json",
                                          "out.json",
                                          "--quiet"};
  const auto parse = [](const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    return ParseReplayOptions(argv);
  };
  ASSERT_TRUE(parse(valid).ok()) << parse(valid).status();
  for (uint64_t seed = 1; seed <= 1000; ++seed) {
    Random rng(seed);
    std::vector<std::string> args = valid;
    std::string& damaged = args[rng.Uniform(args.size())];
    damaged = testing::MutateBytes(damaged, rng);
    // argv strings end at their first NUL, as a shell would pass them.
    damaged = damaged.substr(0, damaged.find('\0'));
    SCOPED_TRACE(::testing::Message()
                 << "seed=" << seed << " argument=\"" << absl::CEscape(damaged) << "\"");
    const absl::StatusOr<ReplayOptions> parsed = parse(args);
    if (parsed.ok()) continue;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << parsed.status();
    EXPECT_FALSE(parsed.status().message().empty());
  }
}

}  // namespace
}  // namespace tern::replay
