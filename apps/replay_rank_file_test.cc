#include "apps/replay_rank_file.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "apps/replay_report.h"
#include "cc/congestion_control.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::replay {
namespace {

using ::testing::HasSubstr;

// Two ranks of a 2-host workload: step 0 goes 0 -> 1, step 1 goes 1 -> 0,
// both in collective 0.
RankResult MakeRank(uint32_t rank) {
  RankResult r;
  r.rank = rank;
  r.ranks = 2;
  r.seed = 7;
  r.workload = "alltoall:size=4KB";
  r.fingerprint = "00112233aabbccdd";
  r.cc = "fixed";
  r.paths = 4;
  r.path_policy = "recycled";
  r.mtu = 4096;
  r.link_gbps = 10;
  r.port = "net_af_packet";
  r.start_unix_ns = 1'700'000'000'000'000'000;
  r.elapsed = Duration::Microseconds(500);
  r.steps_run = 1;
  r.steps_done = 1;
  r.frames_sent = 10 + rank;
  r.frames_received = 20 + rank;
  r.faults = {.judged = 30u + rank,
              .dropped = 3,
              .blackholed = 1,
              .duplicated = 2,
              .corrupted = 4,
              .delayed = 5};
  r.collectives.push_back(Collective{"alltoall", "alltoall", "direct", 4096, 2});
  FlowResult f;
  f.step = rank;
  f.src = rank;
  f.dst = 1 - rank;
  f.bytes = 4096;
  f.start = Time::Zero() + Duration::Microseconds(1);
  f.finish = Time::Zero() + Duration::Microseconds(31 + rank);
  f.completed = true;
  f.ideal = Duration::Microseconds(10);
  f.collective = 0;
  f.label = rank == 0 ? "alltoall\tfirst" : "alltoall";  // a tab must survive
  r.flows.push_back(f);
  r.receives.push_back(RankReceive{1 - rank, 1 - rank, 4096, 4096, rank});
  RankQp qp;
  qp.peer = 1 - rank;
  qp.counters.data_packets_sent = 1;
  qp.counters.retransmitted_packets = rank;
  r.qps.push_back(qp);
  return r;
}

// Rank `rank`'s sample of its QP to the other rank at `at_us`, with the
// variables of MakeRank's algorithm, `fixed`, under the names it uses.
CcSample MakeCcSample(uint32_t rank, int64_t at_us, uint64_t bytes) {
  absl::StatusOr<std::unique_ptr<CongestionControl>> cc =
      CreateCongestionControl("fixed", CcContext{});
  CcSample s;
  s.at = Time::Zero() + Duration::Microseconds(at_us);
  s.src = rank;
  s.dst = 1 - rank;
  s.bytes_sent = bytes;
  if (cc.ok()) s.count = static_cast<uint8_t>((*cc)->DebugVariables(s.variables));
  for (int i = 0; i < s.count; ++i) s.variables[i].value = 1.5e9 + i + at_us;
  return s;
}

TEST(RankFileTest, RoundTripKeepsEveryField) {
  const RankResult r = MakeRank(0);
  const std::string text = FormatRankFile(r);
  absl::StatusOr<RankResult> back = ParseRankFile(text, "r0");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(FormatRankFile(*back), text);
  EXPECT_EQ(back->flows[0].label, "alltoall\tfirst");
  EXPECT_EQ(back->flows[0].finish, r.flows[0].finish);
  EXPECT_EQ(back->start_unix_ns, r.start_unix_ns);
  EXPECT_EQ(back->faults.judged, 30u);
  EXPECT_EQ(back->faults.delayed, 5u);
  EXPECT_EQ(back->paths, 4u);
  EXPECT_EQ(back->path_policy, "recycled");
}

TEST(RankFileTest, UnfinishedFlowRoundTripsWithInfiniteFinish) {
  RankResult r = MakeRank(0);
  r.flows[0].completed = false;
  r.flows[0].finish = Time::Infinite();
  absl::StatusOr<RankResult> back = ParseRankFile(FormatRankFile(r), "r0");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->flows[0].completed);
  EXPECT_TRUE(back->flows[0].finish.IsInfinite());
}

TEST(RankFileTest, TruncatedFileIsRefused) {
  const std::string text = FormatRankFile(MakeRank(0));
  const std::string cut = text.substr(0, text.rfind("qp\t"));
  absl::StatusOr<RankResult> r = ParseRankFile(cut, "r0.txt");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("r0.txt: truncated"));
}

TEST(RankFileTest, WrongVersionIsRefused) {
  std::string text = FormatRankFile(MakeRank(0));
  const std::string version = absl::StrCat("\t", kRankFileVersion, "\n");
  text.replace(text.find(version), version.size(), "\t9\n");
  absl::StatusOr<RankResult> r = ParseRankFile(text, "r0.txt");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("r0.txt:1: rank file version 9"));
}

TEST(RankFileTest, NotARankFileIsRefused) {
  absl::StatusOr<RankResult> r = ParseRankFile("{\"tool\": \"tern-replay\"}\n", "x.json");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("not a tern-replay rank file"));
  EXPECT_FALSE(ParseRankFile("", "empty").ok());
}

TEST(RankFileTest, BadNumberNamesTheLine) {
  std::string text = FormatRankFile(MakeRank(0));
  text = absl::StrReplaceAll(text, {{"seed\t7", "seed\tseven"}});
  absl::StatusOr<RankResult> r = ParseRankFile(text, "r0");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("r0:4: seed: 'seven' is not a number"));
}

TEST(RankFileTest, BadPathChoiceIsRefused) {
  const std::string text = FormatRankFile(MakeRank(0));
  for (const auto& [from, to, why] :
       {std::tuple{"paths\t4", "paths\t0", "paths: 0 is not in 1..8192"},
        std::tuple{"paths\t4", "paths\t9000", "paths: 9000 is not in 1..8192"},
        std::tuple{"path_policy\trecycled", "path_policy\treps",
                   "path_policy: 'reps' is none of single|oblivious|weighted|recycled"}}) {
    SCOPED_TRACE(to);
    absl::StatusOr<RankResult> r = ParseRankFile(absl::StrReplaceAll(text, {{from, to}}), "r0");
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), HasSubstr(why));
  }
}

TEST(RankFileTest, CcSamplesRoundTrip) {
  RankResult r = MakeRank(0);
  r.timeline_interval = Duration::Microseconds(10);
  r.cc_timeline = {MakeCcSample(0, 10, 5000), MakeCcSample(0, 20, 0)};
  ASSERT_GT(r.cc_timeline[0].count, 0);
  r.cc_timeline[0].qp = 3;  // the pair's QP of worker 3
  r.cc_timeline[1].variables[0].value = std::numeric_limits<double>::infinity();
  const std::string text = FormatRankFile(r);
  absl::StatusOr<RankResult> back = ParseRankFile(text, "r0");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(FormatRankFile(*back), text);
  EXPECT_EQ(back->timeline_interval, Duration::Microseconds(10));
  ASSERT_EQ(back->cc_timeline.size(), 2u);
  const CcSample& first = back->cc_timeline[0];
  EXPECT_EQ(first.at, Time::Zero() + Duration::Microseconds(10));
  EXPECT_EQ(first.dst, 1u);
  EXPECT_EQ(first.qp, 3u);
  EXPECT_EQ(first.bytes_sent, 5000u);
  EXPECT_EQ(back->cc_timeline[1].qp, 0u);
  ASSERT_EQ(first.count, r.cc_timeline[0].count);
  for (int i = 0; i < first.count; ++i) {
    EXPECT_EQ(first.variables[i].name, r.cc_timeline[0].variables[i].name);
    EXPECT_EQ(first.variables[i].value, r.cc_timeline[0].variables[i].value);
  }
  EXPECT_TRUE(std::isinf(back->cc_timeline[1].variables[0].value));
}

TEST(RankFileTest, BadCcSamplesAreRefused) {
  RankResult r = MakeRank(0);
  r.timeline_interval = Duration::Microseconds(10);
  r.cc_timeline = {MakeCcSample(0, 10, 5000)};
  const std::string text = FormatRankFile(r);
  const std::string name(r.cc_timeline[0].variables[0].name);
  const std::string line = absl::StrCat("cc_sample\t10000000\t0\t1\t0\t5000\t", name, "=");
  ASSERT_THAT(text, HasSubstr(line));
  for (const auto& [from, to, why] : {
           std::tuple{line, absl::StrCat("cc_sample\t10000000\t0\t1\t0\t5000\tnope="),
                      absl::StrCat("not NAME=VALUE with a variable of 'fixed' (", name)},
           std::tuple{line, absl::StrCat("cc_sample\t10000000\t1\t0\t0\t5000\t", name, "="),
                      std::string("cc sample of rank 1's QP, not this rank's (0)")},
           std::tuple{line, absl::StrCat("cc_sample\t-1\t0\t1\t0\t5000\t", name, "="),
                      std::string("cc sample time: negative")},
           std::tuple{line, absl::StrCat("cc_sample\t10000000\t0\t1\t0\tmany\t", name, "="),
                      std::string("cc sample bytes: 'many' is not a number")},
           std::tuple{line, absl::StrCat("cc_sample\t10000000\t0\t1\t65536\t5000\t", name, "="),
                      std::string("cc sample qp: '65536' is not a number")},
           // A record cut short: its variables moved to a line of their own.
           std::tuple{line, absl::StrCat("cc_sample\t10000000\t0\t1\t5000\n", name, "="),
                      std::string("'cc_sample' record has 5 fields, expected 6 or more")},
           std::tuple{line + "1500000010", line + "fast", std::string("the value is not a number")},
           std::tuple{std::string("timeline_interval_ps\t10000000"),
                      std::string("timeline_interval_ps\t-5"),
                      std::string("timeline_interval_ps: negative")},
       }) {
    SCOPED_TRACE(to);
    absl::StatusOr<RankResult> back = ParseRankFile(absl::StrReplaceAll(text, {{from, to}}), "r0");
    ASSERT_FALSE(back.ok());
    EXPECT_THAT(back.status().message(), HasSubstr(why));
    EXPECT_THAT(back.status().message(), HasSubstr("r0:"));
  }
  // A sample ahead of the records that say whose and which algorithm's it is.
  std::string early = text;
  const size_t at = early.find("cc_sample\t");
  const std::string sample = early.substr(at, early.find('\n', at) + 1 - at);
  early.erase(at, sample.size());
  early.insert(early.find('\n') + 1, sample);
  absl::StatusOr<RankResult> back = ParseRankFile(early, "r0");
  ASSERT_FALSE(back.ok());
  EXPECT_THAT(back.status().message(), HasSubstr("r0:2: 'cc_sample' before the rank and cc"));
}

TEST(MergeTest, MergesTwoRanksIntoOneResult) {
  absl::StatusOr<ReplayResult> m =
      MergeRankResults(std::vector<RankResult>{MakeRank(1), MakeRank(0)});
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->flows.size(), 2u);
  EXPECT_EQ(m->flows[0].step, 0u);
  EXPECT_EQ(m->flows[1].step, 1u);
  ASSERT_EQ(m->connections.size(), 1u);
  EXPECT_EQ(m->connections[0].counters.data_packets_sent, 2u);
  EXPECT_EQ(m->connections[0].counters.retransmitted_packets, 1u);
  ASSERT_EQ(m->collectives.size(), 1u);
  EXPECT_TRUE(m->collectives[0].completed);
  EXPECT_EQ(m->collectives[0].finish, Time::Zero() + Duration::Microseconds(32));
  ASSERT_TRUE(m->dataplane.has_value());
  EXPECT_EQ(m->dataplane->bytes_expected, 8192u);
  EXPECT_EQ(m->dataplane->data_errors, 1u);
  EXPECT_EQ(m->dataplane->frames_sent, 21u);
  EXPECT_EQ(m->dataplane->faults.judged, 61u);
  EXPECT_EQ(m->dataplane->faults.dropped, 6u);
  EXPECT_EQ(m->dataplane->faults.blackholed, 2u);
  EXPECT_EQ(m->dataplane->faults.delayed, 10u);
  const ReplaySummary s = Summarize(*m);
  EXPECT_EQ(s.completed, 2u);
  const std::string json = FormatJson(DescribeMergedRun(*m, "tern-replay --merge"), *m, s, 0);
  EXPECT_THAT(json, HasSubstr("\"fabric\": \"dpdk\""));
  EXPECT_THAT(json, HasSubstr("\"paths\": 4, \"path_policy\": \"recycled\""));
  EXPECT_THAT(FormatSummary(DescribeMergedRun(*m, "tern-replay --merge"), *m, s),
              HasSubstr("faults       61 frames judged: 8 dropped, 4 duplicated, 8 corrupted, "
                        "10 delayed"));
  EXPECT_THAT(json, HasSubstr("\"data_errors\": 1"));
  EXPECT_THAT(json, HasSubstr("\"faults\": {\"judged\": 61, \"dropped\": 6, \"blackholed\": 2, "
                              "\"duplicated\": 4, \"corrupted\": 8, \"delayed\": 10}"));
  EXPECT_THAT(json, HasSubstr("\"completed\": 2"));
}

TEST(MergeTest, MissingRankIsNamed) {
  RankResult r = MakeRank(0);
  r.ranks = 3;
  RankResult r1 = MakeRank(1);
  r1.ranks = 3;
  absl::StatusOr<ReplayResult> m = MergeRankResults(std::vector<RankResult>{r, r1});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("rank 2 missing"));
}

TEST(MergeTest, RankGivenTwiceIsRefused) {
  absl::StatusOr<ReplayResult> m =
      MergeRankResults(std::vector<RankResult>{MakeRank(0), MakeRank(0), MakeRank(1)});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("rank 0 given more than once"));
}

TEST(MergeTest, MismatchedSeedsAreRefused) {
  RankResult r1 = MakeRank(1);
  r1.seed = 8;
  absl::StatusOr<ReplayResult> m = MergeRankResults(std::vector<RankResult>{MakeRank(0), r1});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("rank 0 has seed 7, rank 1 has 8"));
}

TEST(MergeTest, MismatchedWorkloadsAreRefused) {
  RankResult r1 = MakeRank(1);
  r1.fingerprint = "ffffffffffffffff";
  absl::StatusOr<ReplayResult> m = MergeRankResults(std::vector<RankResult>{MakeRank(0), r1});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("workload fingerprint"));
}

TEST(MergeTest, MismatchedPathChoicesAreRefused) {
  RankResult r1 = MakeRank(1);
  r1.paths = 8;
  absl::StatusOr<ReplayResult> m = MergeRankResults(std::vector<RankResult>{MakeRank(0), r1});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("rank 0 has paths 4, rank 1 has 8"));
  r1 = MakeRank(1);
  r1.path_policy = "weighted";
  m = MergeRankResults(std::vector<RankResult>{MakeRank(0), r1});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(),
              HasSubstr("rank 0 has path_policy recycled, rank 1 has weighted"));
}

TEST(MergeTest, CcSamplesComeOutInTimeOrder) {
  RankResult r0 = MakeRank(0);
  RankResult r1 = MakeRank(1);
  for (RankResult* r : {&r0, &r1}) {
    r->timeline_interval = Duration::Microseconds(10);
    r->cc_timeline = {MakeCcSample(r->rank, 10, 1000 + r->rank),
                      MakeCcSample(r->rank, 20, 2000 + r->rank)};
  }
  r1.cc_timeline[1].qp = 1;  // worker 1's QP: a column of its own
  absl::StatusOr<ReplayResult> m = MergeRankResults(std::vector<RankResult>{r1, r0});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->timeline_interval, Duration::Microseconds(10));
  ASSERT_EQ(m->cc_timeline.size(), 4u);
  std::vector<uint64_t> bytes;
  for (const CcSample& c : m->cc_timeline) bytes.push_back(c.bytes_sent);
  EXPECT_EQ(bytes, (std::vector<uint64_t>{1000, 1001, 2000, 2001}));
  // 1000 bytes in 10 us: 0.8 Gb/s, under the algorithm's own column names.
  const std::string csv = FormatCcTimelineCsv(*m, m->timeline_interval);
  EXPECT_THAT(csv, HasSubstr(absl::StrCat("time_us,src,dst,qp,gbps,",
                                          std::string(r0.cc_timeline[0].variables[0].name))));
  EXPECT_THAT(csv, HasSubstr("\n10.000,0,1,0,0.800,"));
  EXPECT_THAT(csv, HasSubstr("\n20.000,1,0,1,1.601,"));
}

TEST(MergeTest, MismatchedTimelineIntervalsAreRefused) {
  RankResult r1 = MakeRank(1);
  r1.timeline_interval = Duration::Microseconds(10);
  absl::StatusOr<ReplayResult> m = MergeRankResults(std::vector<RankResult>{MakeRank(0), r1});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(),
              HasSubstr("rank 0 has timeline interval (ps) 0, rank 1 has 10000000"));
}

TEST(MergeTest, CcSampleTowardAnUnknownRankIsRefused) {
  RankResult r1 = MakeRank(1);
  r1.cc_timeline = {MakeCcSample(1, 10, 1000)};
  r1.cc_timeline[0].dst = 5;
  absl::StatusOr<ReplayResult> m = MergeRankResults(std::vector<RankResult>{MakeRank(0), r1});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("rank 1 has a cc sample toward rank 5 of 2"));
}

TEST(MergeTest, ReadsFilesAndNamesAnUnreadableOne) {
  const std::string dir = ::testing::TempDir();
  for (uint32_t rank : {0u, 1u}) {
    std::ofstream(dir + "/rank" + std::to_string(rank) + ".txt") << FormatRankFile(MakeRank(rank));
  }
  absl::StatusOr<ReplayResult> m =
      MergeRankResults(std::vector<std::string>{dir + "/rank0.txt", dir + "/rank1.txt"});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->flows.size(), 2u);
  absl::StatusOr<ReplayResult> bad =
      MergeRankResults(std::vector<std::string>{dir + "/rank0.txt", dir + "/nope.txt"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("nope.txt"));
}

TEST(WorkloadFingerprintTest, DiffersWhenAStepDiffers) {
  Workload w;
  w.hosts = 2;
  w.steps.push_back(Step{});
  w.steps[0].src = 0;
  w.steps[0].dst = 1;
  w.steps[0].bytes = 100;
  const std::string a = WorkloadFingerprint(w);
  EXPECT_EQ(a, WorkloadFingerprint(w));
  w.steps[0].bytes = 101;
  EXPECT_NE(a, WorkloadFingerprint(w));
}

}  // namespace
}  // namespace tern::replay
