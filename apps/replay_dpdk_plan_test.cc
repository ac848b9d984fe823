#include "apps/replay_dpdk_plan.h"

#include "apps/replay_generators.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::replay {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(HostsFileTest, ParsesAddressesMacsAndPorts) {
  absl::StatusOr<std::vector<RankHost>> h = ParseHostsFile(
      "# lab\n10.77.0.1 mac=02:77:00:00:00:01\n\n10.77.0.2 control-port=20000  # two\n", "hosts",
      18515);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].ip.ToString(), "10.77.0.1");
  ASSERT_TRUE((*h)[0].mac.has_value());
  EXPECT_EQ((*h)[0].mac->ToString(), "02:77:00:00:00:01");
  EXPECT_EQ((*h)[0].control_port, 18515);
  EXPECT_FALSE((*h)[1].mac.has_value());
  EXPECT_EQ((*h)[1].control_port, 20000);
}

TEST(HostsFileTest, ParsesGateways) {
  absl::StatusOr<std::vector<RankHost>> h =
      ParseHostsFile("10.77.0.2 gw=10.77.0.1\n10.77.0.6 gw=10.77.0.5\n10.77.0.10\n", "hosts", 1);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->size(), 3u);
  ASSERT_TRUE((*h)[1].gateway.has_value());
  EXPECT_EQ((*h)[1].gateway->ToString(), "10.77.0.5");
  EXPECT_FALSE((*h)[2].gateway.has_value());
}

TEST(HostsFileTest, ParsesIpv6RanksAndGateways) {
  absl::StatusOr<std::vector<RankHost>> h =
      ParseHostsFile("fd77:1::3 gw=fd77:1::1\nfd77:2::3 gw=fd77:2::1\n", "hosts", 1);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->size(), 2u);
  EXPECT_TRUE((*h)[0].ip.is_v6);
  EXPECT_EQ((*h)[1].gateway->ToString(), "fd77:2::1");
}

TEST(HostsFileTest, RefusesBadLinesNamingThem) {
  EXPECT_THAT(ParseHostsFile("10.0.0.1\nfoo\n", "h", 1).status().message(),
              HasSubstr("h:2: 'foo': expected an IPv4 or IPv6 address"));
  EXPECT_THAT(ParseHostsFile("10.0.0.1\n10.0.0.1\n", "h", 1).status().message(),
              HasSubstr("h:2: 10.0.0.1 is listed twice"));
  EXPECT_THAT(ParseHostsFile("10.0.0.1 mac=zz\n10.0.0.2\n", "h", 1).status().message(),
              HasSubstr("h:1: mac=zz"));
  EXPECT_THAT(ParseHostsFile("10.0.0.1 port=3\n10.0.0.2\n", "h", 1).status().message(),
              HasSubstr("expected mac=MAC, gw=IP or control-port=PORT"));
  EXPECT_THAT(ParseHostsFile("10.0.0.1 gw=fe80::1\n10.0.0.2\n", "h", 1).status().message(),
              HasSubstr("h:1: gw=fe80::1: expected an IPv4 address, as the rank's"));
  EXPECT_THAT(ParseHostsFile("fd77::1 gw=10.0.0.1\nfd77::2\n", "h", 1).status().message(),
              HasSubstr("h:1: gw=10.0.0.1: expected an IPv6 address"));
  EXPECT_THAT(ParseHostsFile("10.0.0.1\nfd77::2\n", "h", 1).status().message(),
              HasSubstr("h:2: fd77::2 is not of rank 0's IP family"));
  EXPECT_THAT(ParseHostsFile("fd77::1\nfd77:0::1\n", "h", 1).status().message(),
              HasSubstr("h:2: fd77:0::1 is listed twice"));
  EXPECT_THAT(ParseHostsFile("10.0.0.1 gw=10.0.0.254\n10.0.1.2 mac=02:00:00:00:00:02\n", "h", 1)
                  .status()
                  .message(),
              HasSubstr("h:2: gw= and mac= do not mix"));
  EXPECT_THAT(ParseHostsFile("10.0.0.1\n", "h", 1).status().message(), HasSubstr("at least 2"));
}

TEST(ResolveRankTest, FlagThenOpenMpiThenError) {
  EXPECT_EQ(*ResolveRank(2, "1", 4), 2u);
  EXPECT_EQ(*ResolveRank(std::nullopt, "3", 4), 3u);
  EXPECT_THAT(ResolveRank(std::nullopt, nullptr, 4).status().message(), HasSubstr("--rank"));
  EXPECT_THAT(ResolveRank(std::nullopt, "4", 4).status().message(),
              HasSubstr("from OMPI_COMM_WORLD_RANK"));
  EXPECT_FALSE(ResolveRank(std::nullopt, "x", 4).ok());
}

Workload MakeOrDie(std::string_view spec, uint32_t hosts) {
  WorkloadEnvironment env;
  env.hosts = hosts;
  env.host_rate = Bandwidth::Gbps(10);
  absl::StatusOr<Workload> w = MakeWorkload(spec, env);
  EXPECT_TRUE(w.ok()) << w.status();
  return *std::move(w);
}

TEST(PlanRankTest, AlltoallRankSendsToAndReceivesFromEveryOther) {
  const Workload w = MakeOrDie("alltoall:size=64KB", 4);
  const RankPlan p = PlanRank(w, 2, 4, ChunkBytes(w), 1);
  EXPECT_THAT(p.data_peers, ElementsAre(0, 1, 3));
  EXPECT_THAT(p.control_peers, ElementsAre(0, 1, 3));
  EXPECT_EQ(p.runs.size(), 3u);
  EXPECT_EQ(p.receives.size(), 3u);
  for (uint64_t c : p.chunks_from) EXPECT_GT(c, 0u);
}

TEST(PlanRankTest, RankZeroHoldsControlWithEveryRank) {
  Workload w;
  w.hosts = 3;
  Step s;
  s.src = 1;
  s.dst = 2;
  s.bytes = 3 * kMaxChunkBytes + 1;
  w.steps.push_back(s);
  const RankPlan zero = PlanRank(w, 0, 3, ChunkBytes(w), 1);
  EXPECT_TRUE(zero.data_peers.empty());
  EXPECT_THAT(zero.control_peers, ElementsAre(1, 2));
  const RankPlan two = PlanRank(w, 2, 3, ChunkBytes(w), 1);
  EXPECT_THAT(two.control_peers, ElementsAre(0, 1));
  EXPECT_THAT(two.chunks_from, ElementsAre(4));
}

TEST(PlanRankTest, EachSourceDealsItsStepsToTheWorkersInTurn) {
  Workload w;
  w.hosts = 3;
  // Rank 1 sends five transfers to rank 2 (of 1, 2, 3, 4 and 5 chunks);
  // rank 0's one transfer does not shift rank 1's turns.
  for (uint64_t chunks = 1; chunks <= 5; ++chunks) {
    Step s;
    s.src = 1;
    s.dst = 2;
    s.bytes = chunks * kMaxChunkBytes;
    w.steps.push_back(s);
    if (chunks == 2) {
      Step other = s;
      other.src = 0;
      w.steps.push_back(other);
    }
  }
  EXPECT_THAT(StepWorkers(w, 2), ElementsAre(0, 1, 0, 0, 1, 0));
  EXPECT_THAT(StepWorkers(w, 3), ElementsAre(0, 1, 0, 2, 0, 1));
  const RankPlan two = PlanRank(w, 2, 3, ChunkBytes(w), 2);
  EXPECT_EQ(two.workers, 2u);
  // Per peer (0, then 1), per worker: worker 0 gets rank 1's chunks 1 + 3 + 5,
  // worker 1 its 2 + 4; rank 0's 2 chunks go to its worker 0.
  EXPECT_THAT(two.chunks_from, ElementsAre(2, 0, 9, 6));
  EXPECT_EQ(two.step_worker, StepWorkers(w, 2));
}

TEST(DependenciesTest, RingAllreduceIsObservable) {
  const Workload w = MakeOrDie("allreduce:size=1MB", 4);
  EXPECT_TRUE(CheckDependenciesObservable(w).ok());
}

TEST(DependenciesTest, DependencyOnAForeignTransferIsRefused) {
  Workload w;
  w.hosts = 4;
  Step a;
  a.src = 0;
  a.dst = 1;
  a.bytes = 10;
  a.label = "first";
  Step b;
  b.src = 2;
  b.dst = 3;
  b.bytes = 10;
  b.deps = {0};
  b.label = "second";
  w.steps = {a, b};
  const absl::Status s = CheckDependenciesObservable(w);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("step 1 (second, runs on host 2) depends on step 0"));
}

}  // namespace
}  // namespace tern::replay
