#include "apps/replay_runner.h"

#include <limits>
#include <string>

#include "apps/replay_cli.h"
#include "apps/replay_report.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::replay {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Step Transfer(uint32_t src, uint32_t dst, uint64_t bytes) {
  Step s;
  s.kind = StepKind::kTransfer;
  s.src = src;
  s.dst = dst;
  s.bytes = bytes;
  s.label = "t";
  return s;
}

ReplayConfig FatTree16(uint64_t seed) {
  ReplayConfig c;
  c.fabric.topology.kind = sim::TopologyKind::kFatTree;
  c.fabric.topology.hosts = 16;
  c.fabric.seed = seed;
  c.seed = seed;
  return c;
}

ReplayResult MustRun(const Workload& w, const ReplayConfig& c) {
  absl::StatusOr<ReplayResult> r = RunReplay(w, c);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : ReplayResult{};
}

// One flow alone on the fabric: its completion is the wire bytes at the line
// rate plus the base RTT, within 1%, for sizes from one packet to many.
TEST(ReplayRunnerTest, LoneFlowCompletesInSizeOverRatePlusBaseRtt) {
  for (const uint64_t bytes : {uint64_t{4096}, uint64_t{100'000}, uint64_t{2'000'000}}) {
    for (const uint32_t dst : {1u, 3u, 15u}) {  // same edge, same pod, other pod
      SCOPED_TRACE(testing::Message() << "bytes " << bytes << " dst " << dst << " seed 1");
      Workload w;
      w.hosts = 16;
      w.steps.push_back(Transfer(0, dst, bytes));
      const ReplayResult r = MustRun(w, FatTree16(1));
      ASSERT_EQ(r.flows.size(), 1u);
      const FlowResult& f = r.flows[0];
      ASSERT_TRUE(f.completed);
      EXPECT_NEAR(f.fct().seconds() / f.ideal.seconds(), 1.0, 0.01)
          << "fct " << f.fct().ToString() << " ideal " << f.ideal.ToString();
    }
  }
}

TEST(ReplayRunnerTest, SendVerbCompletesWithReceivesPosted) {
  Workload w;
  w.hosts = 16;
  w.steps.push_back(Transfer(2, 9, 300'000));
  w.steps.push_back(Transfer(9, 2, 5'000));
  w.steps[1].deps = {0};
  ReplayConfig c = FatTree16(3);
  c.verb = TransferVerb::kSend;
  const ReplayResult r = MustRun(w, c);
  ASSERT_EQ(r.flows.size(), 2u);
  EXPECT_TRUE(r.flows[0].completed);
  EXPECT_TRUE(r.flows[1].completed);
}

// A step waits for what its host can see, as a DPDK rank does: a transfer
// into its host when the transfer's last byte arrives there, a transfer of
// its own host when the sender's completion (one ACK later) comes.
TEST(ReplayRunnerTest, DependentsWaitForWhatTheirHostCanObserve) {
  for (const TransferVerb verb : {TransferVerb::kWrite, TransferVerb::kSend}) {
    SCOPED_TRACE(verb == TransferVerb::kWrite ? "write, seed 3" : "send, seed 3");
    Workload w;
    w.hosts = 16;
    w.steps.push_back(Transfer(2, 9, 300'000));
    w.steps.push_back(Transfer(9, 2, 5'000));  // at the destination
    w.steps[1].deps = {0};
    w.steps.push_back(Transfer(2, 5, 5'000));  // at the source
    w.steps[2].deps = {0};
    ReplayConfig c = FatTree16(3);
    c.verb = verb;
    const ReplayResult r = MustRun(w, c);
    ASSERT_EQ(r.flows.size(), 3u);
    for (const FlowResult& f : r.flows) EXPECT_TRUE(f.completed);
    EXPECT_EQ(r.flows[2].start, r.flows[0].finish);
    // Host 9 saw the last byte after at least the 300 KB at 400 Gb/s (6 us),
    // and before the ACK of it reached host 2.
    EXPECT_GT(r.flows[1].start, r.flows[0].start + Duration::Microseconds(6));
    EXPECT_LT(r.flows[1].start, r.flows[0].finish);
  }
}

TEST(ReplayRunnerTest, DelaysAndStartTimesAreHonoured) {
  Workload w;
  w.hosts = 4;
  Step delay;
  delay.kind = StepKind::kDelay;
  delay.src = 1;
  delay.duration = Duration::Microseconds(30);
  w.steps.push_back(delay);
  w.steps.push_back(Transfer(1, 2, 10'000));
  w.steps[1].deps = {0};
  w.steps.push_back(Transfer(3, 0, 10'000));
  w.steps[2].not_before = Time::Zero() + Duration::Microseconds(7);
  ReplayConfig c = FatTree16(1);
  const ReplayResult r = MustRun(w, c);
  ASSERT_EQ(r.flows.size(), 2u);  // delays are not flows
  EXPECT_EQ(r.flows[0].start, Time::Zero() + Duration::Microseconds(30));
  EXPECT_EQ(r.flows[1].start, Time::Zero() + Duration::Microseconds(7));
}

// With spraying over many entropies, a core link that dies while flows run
// stops none of them. Pinned to one path, the flows hashed onto it stall until
// a retransmission timeout moves them to another entropy: they complete too.
TEST(ReplayRunnerTest, SprayingSurvivesAFailedCoreLink) {
  Workload w;
  w.hosts = 16;
  for (uint32_t h = 0; h < 16; ++h) w.steps.push_back(Transfer(h, (h + 8) % 16, 1'000'000));
  ReplayConfig c = FatTree16(5);
  c.time_limit = Duration::Milliseconds(200);
  // s8 is pod 0's first aggregation switch, s16 the first core (k = 4).
  c.fabric.failures = {"s8-s16@5:down"};
  c.paths = 16;
  const ReplayResult sprayed = MustRun(w, c);
  for (const FlowResult& f : sprayed.flows) {
    EXPECT_TRUE(f.completed) << f.src << "->" << f.dst << " seed 5";
  }
  uint64_t blackholed = 0;
  for (const sim::PortReport& p : sprayed.ports) blackholed += p.counters.dropped_blackhole;
  EXPECT_GT(blackholed, 0u) << "the failed link carried nothing: the test proves nothing";

  c.paths = 1;
  c.path_policy = PathPolicy::kSinglePath;
  const ReplayResult pinned = MustRun(w, c);
  for (const FlowResult& f : pinned.flows) {
    EXPECT_TRUE(f.completed) << f.src << "->" << f.dst << " pinned, seed 5";
  }
  uint64_t timeouts = 0;
  for (const ConnectionResult& q : pinned.connections) timeouts += q.counters.local_ack_timeout_err;
  EXPECT_GT(timeouts, 0u) << "no single-path flow crossed s8-s16 with seed 5";
}

std::string JsonWithoutRunCost(ReplayResult r) {
  r.wall_seconds = 0;
  RunDescription run;
  return FormatJson(run, r, Summarize(r), 0);
}

// The path choice shapes every result, so the reports name it with the rest
// of the configuration.
TEST(ReplayReportTest, ReportsNameThePathChoice) {
  absl::StatusOr<ReplayOptions> o = ParseReplayOptions(std::vector<const char*>{
      "--fabric=sim:hosts=16", "--workload=permutation", "--paths", "4", "--path-policy=recycled"});
  ASSERT_TRUE(o.ok()) << o.status();
  absl::StatusOr<ReplayRun> run = RunFromOptions(*o, "tern-replay");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_THAT(
      FormatJson(run->description, run->result, run->summary, 0),
      ::testing::HasSubstr("\"cc\": \"fixed\", \"paths\": 4, \"path_policy\": \"recycled\""));
  EXPECT_THAT(FormatSummary(run->description, run->result, run->summary),
              ::testing::HasSubstr("cc fixed  paths 4 recycled  seed 1"));
}

// A value printf would write as inf or nan (a collective that took no time,
// a fairness mean of nothing) is null in the JSON, which stays parseable.
TEST(ReplayReportTest, NonFiniteNumbersAreNullInTheJson) {
  ReplayResult r;
  ReplaySummary s = Summarize(r);
  s.fairness_mean = std::numeric_limits<double>::quiet_NaN();
  s.slowdown.p99 = std::numeric_limits<double>::infinity();
  const std::string json = FormatJson(RunDescription{}, r, s, 0);
  EXPECT_THAT(json, HasSubstr("\"jain_mean\": null"));
  EXPECT_THAT(json, HasSubstr("\"p99\": null"));
  EXPECT_THAT(json, Not(HasSubstr("inf")));
  EXPECT_THAT(json, Not(HasSubstr("nan")));
}

TEST(ReplayRunnerTest, SameSeedSameResultsDifferentSeedDifferentResults) {
  Workload w;
  w.hosts = 16;
  for (uint32_t h = 1; h < 16; h += 2) w.steps.push_back(Transfer(h, 0, 200'000));
  for (uint32_t h = 2; h < 16; h += 2) w.steps.push_back(Transfer(h, (h + 5) % 16, 150'000));
  const std::string a = JsonWithoutRunCost(MustRun(w, FatTree16(11)));
  const std::string b = JsonWithoutRunCost(MustRun(w, FatTree16(11)));
  const std::string other = JsonWithoutRunCost(MustRun(w, FatTree16(12)));
  EXPECT_EQ(a, b) << "seed 11";
  EXPECT_NE(a, other);
}

TEST(ReplayRunnerTest, RefusesAWorkloadLargerThanTheFabric) {
  Workload w;
  w.hosts = 17;
  w.steps.push_back(Transfer(0, 16, 10));
  absl::StatusOr<ReplayResult> r = RunReplay(w, FatTree16(1));
  EXPECT_THAT(r.status().message(), HasSubstr("needs 17 hosts"));
  w.hosts = 16;
  w.steps[0].dst = 0;
  EXPECT_FALSE(RunReplay(w, FatTree16(1)).ok());  // ValidateWorkload: a transfer to itself
}

TEST(ReplayRunnerTest, UnfinishedFlowsAreReportedAtTheTimeLimit) {
  Workload w;
  w.hosts = 16;
  w.steps.push_back(Transfer(0, 15, 50'000'000));
  ReplayConfig c = FatTree16(1);
  c.time_limit = Duration::Microseconds(100);
  const ReplayResult r = MustRun(w, c);
  EXPECT_TRUE(r.timed_out);
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_FALSE(r.flows[0].completed);
  const ReplaySummary s = Summarize(r);
  EXPECT_EQ(s.unfinished, 1u);
  EXPECT_EQ(s.completed, 0u);
}

// The ACK policy reaches every queue pair: a receiver that ACKs each packet
// sends about four times the ACKs of one that ACKs every fourth, and a long
// ACK delay with a large count leaves the delay timer to send them.
TEST(ReplayRunnerTest, AckPolicyReachesTheReceivers) {
  Workload w;
  w.hosts = 16;
  w.steps.push_back(Transfer(0, 15, 1'000'000));
  const auto acks_sent = [&w](uint32_t every, Duration delay) {
    ReplayConfig c = FatTree16(1);
    c.ack_every = every;
    c.ack_delay = delay;
    const ReplayResult r = MustRun(w, c);
    EXPECT_TRUE(r.flows.at(0).completed);
    uint64_t acks = 0;
    for (const ConnectionResult& conn : r.connections) acks += conn.counters.acks_sent;
    return acks;
  };
  const uint64_t data_packets = (1'000'000 + 4095) / 4096;
  const uint64_t every1 = acks_sent(1, Duration::Microseconds(2));
  const uint64_t every4 = acks_sent(4, Duration::Microseconds(2));
  EXPECT_GE(every1, data_packets);
  EXPECT_NEAR(static_cast<double>(every4), every1 / 4.0, every1 * 0.05 + 2);
  // 1024 never fills before the 1 us delay runs out at 400G (about 12
  // packets), so the timer sends them: more than one per 1024, fewer than
  // one per packet.
  const uint64_t timed = acks_sent(1024, Duration::Microseconds(1));
  EXPECT_GT(timed, data_packets / 1024 + 1);
  EXPECT_LT(timed, every4);
}

// Two flows of 100 packets leave host 0 at once. Sent a packet each in turn
// they finish one packet time (83 ns at 400G) apart; in turns of 64 the
// second flow's last 36 packets go after the first is done, about 3 us later.
TEST(ReplayRunnerTest, PacketsPerTurnReachesTheHosts) {
  Workload w;
  w.hosts = 16;
  w.steps.push_back(Transfer(0, 5, 100 * 4096));
  w.steps.push_back(Transfer(0, 9, 100 * 4096));
  const auto finish_gap = [&w](uint32_t packets_per_turn) {
    ReplayConfig c = FatTree16(1);
    c.packets_per_turn = packets_per_turn;
    const ReplayResult r = MustRun(w, c);
    EXPECT_TRUE(r.flows.at(0).completed && r.flows.at(1).completed);
    const Time a = r.flows.at(0).finish;
    const Time b = r.flows.at(1).finish;
    return a > b ? a - b : b - a;
  };
  EXPECT_LT(finish_gap(1), Duration::Nanoseconds(500));
  EXPECT_GT(finish_gap(64), Duration::Microseconds(2));
}

TEST(ReplayReportTest, PercentilesAreNearestRank) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  const Percentiles p = ComputePercentiles(v);
  EXPECT_EQ(p.p50, 50);
  EXPECT_EQ(p.p95, 95);
  EXPECT_EQ(p.p99, 99);
  EXPECT_EQ(p.max, 100);
  EXPECT_DOUBLE_EQ(p.mean, 50.5);
  EXPECT_EQ(ComputePercentiles({}).count, 0u);
}

TEST(ReplayReportTest, CollectiveBusBandwidthFollowsNcclTests) {
  ReplayResult r;
  CollectiveResult c;
  c.collective.name = "ar";
  c.collective.operation = "allreduce";
  c.collective.bytes = 1'000'000;
  c.collective.ranks = 8;
  c.start = Time::Zero();
  c.finish = Time::Zero() + Duration::Microseconds(100);
  c.completed = true;
  r.collectives.push_back(c);
  const ReplaySummary s = Summarize(r);
  ASSERT_EQ(s.collectives.size(), 1u);
  EXPECT_DOUBLE_EQ(s.collectives[0].algbw_gbps, 80.0);  // 8e6 bits in 100 us
  EXPECT_DOUBLE_EQ(s.collectives[0].busbw_gbps, 80.0 * 2 * 7 / 8);
}

// A topology file that cannot be read says why, as every input file does: a
// directory used to read as an empty file ("needs 'hosts N' ...").
TEST(ReplayInputsTest, TopologyFilesThatCannotBeReadSayWhy) {
  const auto error = [](const std::string& path) {
    ReplayOptions options;
    absl::StatusOr<sim::FabricConfig> fabric = sim::ParseFabricSpec("file=" + path);
    EXPECT_TRUE(fabric.ok()) << fabric.status();
    options.config.fabric = *fabric;
    absl::StatusOr<ReplayInputs> inputs = MakeReplayInputs(options);
    EXPECT_FALSE(inputs.ok());
    return std::string(inputs.status().message());
  };
  EXPECT_EQ(error("/nonexistent/f.topo"),
            "--fabric: /nonexistent/f.topo: cannot open: No such file or directory");
  EXPECT_EQ(error("/"), "--fabric: /: cannot read: Is a directory");
  EXPECT_THAT(error("/dev/zero"), HasSubstr("/dev/zero: more than 1073741824 bytes"));
}

}  // namespace
}  // namespace tern::replay
