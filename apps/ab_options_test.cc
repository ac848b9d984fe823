#include "apps/ab_options.h"

#include <string>
#include <vector>

#include "apps/ab_metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::ab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<AbOptions> Parse(std::vector<const char*> args) { return ParseAbOptions(args); }

std::string ErrorOf(std::vector<const char*> args) {
  absl::StatusOr<AbOptions> o = Parse(std::move(args));
  EXPECT_FALSE(o.ok());
  return o.ok() ? "" : std::string(o.status().message());
}

TEST(AbOptionsTest, DefaultsAreTheBuiltInScenario) {
  absl::StatusOr<AbOptions> o = Parse({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_THAT(o->a.args, ElementsAre("--cc=dcqcn"));
  EXPECT_THAT(o->b.args, ElementsAre("--cc=nscc"));
  EXPECT_THAT(o->seeds, ElementsAre(1, 2, 3, 4, 5));
  EXPECT_THAT(o->common, ElementsAre(std::string("--fabric=") + kDefaultFabric,
                                     "--workload=" + DefaultWorkload()));
  EXPECT_TRUE(o->plots);
  EXPECT_EQ(o->margin_percent, 1);
}

TEST(AbOptionsTest, MarginIsAPercentage) {
  absl::StatusOr<AbOptions> o = Parse({"--margin=2.5"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->margin_percent, 2.5);
  o = Parse({"--margin", "0"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->margin_percent, 0);
  for (const char* bad : {"--margin=-1", "--margin=100", "--margin=x", "--margin=nan"}) {
    EXPECT_THAT(ErrorOf({bad}), HasSubstr("--margin: a percentage in [0, 100)")) << bad;
  }
}

TEST(AbOptionsTest, CommasInsideAValueStayWithIt) {
  absl::StatusOr<AbOptions> o =
      Parse({"--a=cc=dcqcn:g=0.5,rai=40,paths=16",
             "--b=cc=nscc,path-policy=oblivious,mtu=2048,ack-every=1,ack-delay=0.5,tclass=104"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_THAT(o->a.args, ElementsAre("--cc=dcqcn:g=0.5,rai=40", "--paths=16"));
  EXPECT_THAT(o->b.args, ElementsAre("--cc=nscc", "--path-policy=oblivious", "--mtu=2048",
                                     "--ack-every=1", "--ack-delay=0.5", "--tclass=104"));
  EXPECT_EQ(o->a.spec, "cc=dcqcn:g=0.5,rai=40,paths=16");
}

TEST(AbOptionsTest, RunArgumentsAreSharedThenSideThenSeed) {
  absl::StatusOr<AbOptions> o = Parse({"--fabric=sim:topology=star,hosts=8", "--workload", "incast",
                                       "--seeds=4,9", "--b=cc=swift", "--time-limit=5"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_THAT(o->seeds, ElementsAre(4, 9));
  EXPECT_THAT(RunArguments(*o, o->b, 9),
              ElementsAre("--fabric=sim:topology=star,hosts=8", "--workload=incast",
                          "--time-limit=5", "--cc=swift", "--seed=9"));
}

TEST(AbOptionsTest, ASideMaySetTheFabricOrWorkloadAndTheOtherKeepsTheDefault) {
  absl::StatusOr<AbOptions> o =
      Parse({"--a=fabric=sim:topology=star,hosts=32,trim=1", "--b=cc=nscc"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_THAT(o->a.args, ElementsAre("--fabric=sim:topology=star,hosts=32,trim=1"));
  EXPECT_THAT(o->b.args, ElementsAre("--cc=nscc", std::string("--fabric=") + kDefaultFabric));
  EXPECT_THAT(o->common, ElementsAre("--workload=" + DefaultWorkload()));

  o = Parse({"--a=workload=incast", "--b=workload=permutation"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_THAT(o->a.args, ElementsAre("--workload=incast"));
  EXPECT_THAT(o->b.args, ElementsAre("--workload=permutation"));
  EXPECT_THAT(o->common, ElementsAre(std::string("--fabric=") + kDefaultFabric));

  // Given shared and in a side, it is still refused.
  EXPECT_THAT(ErrorOf({"--fabric=sim:hosts=16", "--a=fabric=sim:hosts=32"}),
              HasSubstr("given twice"));
}

TEST(AbOptionsTest, BadInputIsRefusedWithTheFlagNamed) {
  EXPECT_THAT(ErrorOf({"--a=cc=nosuch"}), HasSubstr("side A (cc=nosuch)"));
  EXPECT_THAT(ErrorOf({"--b=cc=dcqcn:bogus=1"}), HasSubstr("bogus"));
  EXPECT_THAT(ErrorOf({"--a=paths=0"}), HasSubstr("--paths"));
  EXPECT_THAT(ErrorOf({"--a=rai=40"}), HasSubstr("expected KEY=VALUE with KEY one of"));
  EXPECT_THAT(ErrorOf({"--a=seed=3"}), HasSubstr("set by tern-ab"));
  EXPECT_THAT(ErrorOf({"--a="}), HasSubstr("--a: empty"));
  EXPECT_THAT(ErrorOf({"--seed=3"}), HasSubstr("use --seeds"));
  EXPECT_THAT(ErrorOf({"--json=x"}), HasSubstr("sets each run's outputs"));
  EXPECT_THAT(ErrorOf({"--seeds=0"}), HasSubstr("--seeds"));
  EXPECT_THAT(ErrorOf({"--seeds=1,x"}), HasSubstr("'x' is not a seed"));
  EXPECT_THAT(ErrorOf({"--seeds=1,1"}), HasSubstr("given twice"));
  EXPECT_THAT(ErrorOf({"--jobs=0"}), HasSubstr("--jobs"));
  EXPECT_THAT(ErrorOf({"--bogus=1"}), HasSubstr("unknown flag --bogus"));
  EXPECT_THAT(ErrorOf({"--out"}), HasSubstr("needs a value"));
  EXPECT_THAT(ErrorOf({"stray"}), HasSubstr("unexpected argument"));
  EXPECT_THAT(ErrorOf({"--a=cc=swift", "--a=cc=nscc"}), HasSubstr("given twice"));
  // Set in common and in a side: tern-replay's own check.
  EXPECT_THAT(ErrorOf({"--paths=4", "--a=paths=8"}), HasSubstr("given twice"));
  EXPECT_THAT(ErrorOf({"--fabric=sim:bogus=1"}), HasSubstr("bogus"));
  // Workloads are built before any run: too few hosts, a missing file.
  EXPECT_THAT(ErrorOf({"--fabric=sim:topology=star,hosts=4", "--workload=incast:senders=8"}),
              HasSubstr("--workload"));
  EXPECT_THAT(ErrorOf({"--workload=load:cdf=/nonexistent.cdf,load=0.5"}),
              HasSubstr("/nonexistent.cdf"));
}

TEST(AbOptionsTest, DpdkRunsGoThroughTheLauncher) {
  absl::StatusOr<AbOptions> lab = Parse({"--fabric=dpdk", "--ranks=3", "--a=cc=fixed"});
  ASSERT_TRUE(lab.ok()) << lab.status();
  EXPECT_THAT(
      LaunchCommand(*lab, "out/runs/a-seed1", RunArguments(*lab, lab->a, 1)),
      ElementsAre("bash", NetnsLauncher(), "3", "--dir", "out/runs/a-seed1", "--",
                  "--workload=" + std::string(kDefaultDpdkWorkload), "--cc=fixed", "--seed=1"));
  absl::StatusOr<AbOptions> cluster =
      Parse({"--fabric=dpdk", "--ranks=16", "--launcher=tools/replay-mpirun.sh --hosts 'h s'",
             "--a=cc=fixed"});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  // Through the shell, so the launcher's own quoting holds; the run's words
  // follow as "$@".
  EXPECT_THAT(LaunchCommand(*cluster, "d", {"--seed=2"}),
              ElementsAre("bash", "-c", "tools/replay-mpirun.sh --hosts 'h s' \"$@\"",
                          "tern-ab-launcher", "16", "--dir", "d", "--", "--seed=2"));
  EXPECT_THAT(ErrorOf({"--fabric=dpdk", "--ranks=16"}), HasSubstr("more need --launcher"));
  EXPECT_THAT(ErrorOf({"--fabric=dpdk", "--ranks=1"}), HasSubstr("--ranks"));
  EXPECT_THAT(ErrorOf({"--ranks=4"}), HasSubstr("only with --fabric=dpdk"));
  EXPECT_THAT(ErrorOf({"--launcher=x"}), HasSubstr("only with --fabric=dpdk"));
  EXPECT_THAT(ErrorOf({"--fabric=dpdk", "--launcher= "}), HasSubstr("--launcher: empty"));
  // The sides are checked on a star of as many hosts as ranks.
  EXPECT_THAT(ErrorOf({"--fabric=dpdk", "--ranks=2", "--workload=incast:senders=4"}),
              HasSubstr("--workload"));
}

TEST(RunRecordTest, RoundTripsExactly) {
  RunRecord r;
  r.key = "--cc=nscc --seed=3 | v1 size=1 mtime=2";
  r.bottleneck = "s0->h0";
  r.wall_seconds = 1.25;
  r.metrics = {{"slowdown_p50", "", 1.0 / 3}, {"slowdown_p99", "<10KB", 123456.789}};
  absl::StatusOr<RunRecord> back = ParseRunRecord(FormatRunRecord(r), "record");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->key, r.key);
  EXPECT_EQ(back->bottleneck, r.bottleneck);
  EXPECT_EQ(back->wall_seconds, r.wall_seconds);
  ASSERT_EQ(back->metrics.size(), 2u);
  EXPECT_EQ(back->metrics[0].value, 1.0 / 3);  // bit for bit
  EXPECT_EQ(back->metrics[1].bucket, "<10KB");
}

TEST(RunRecordTest, MalformedRecordsAreRefusedWithTheLine) {
  auto error = [](std::string_view text) {
    absl::StatusOr<RunRecord> r = ParseRunRecord(text, "rec");
    return r.ok() ? std::string("accepted") : std::string(r.status().message());
  };
  EXPECT_THAT(error(""), HasSubstr("rec:1: empty"));
  EXPECT_THAT(error("# tern-ab run record v0\n"), HasSubstr("not a tern-ab run record"));
  EXPECT_THAT(error("# tern-ab run record v1\nbottleneck\tx\n"), HasSubstr("no key"));
  EXPECT_THAT(error("# tern-ab run record v1\nkey\tk\nmetric\tnosuch\t-\t1\n"),
              HasSubstr("rec:3: unknown metric 'nosuch'"));
  EXPECT_THAT(error("# tern-ab run record v1\nkey\tk\nmetric\tdrops\t-\tnan\n"),
              HasSubstr("not a number"));
  EXPECT_THAT(error("# tern-ab run record v1\nkey\tk\nmetric\tdrops\t1\n"), HasSubstr("rec:3"));
}

}  // namespace
}  // namespace tern::ab
