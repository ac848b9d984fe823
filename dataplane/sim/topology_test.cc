#include "dataplane/sim/topology.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/testing/mutate_bytes.h"

namespace tern::sim {
namespace {

using ::testing::HasSubstr;

Topology MustBuild(const TopologySpec& spec) {
  absl::StatusOr<Topology> t = BuildTopology(spec);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : Topology{};
}

Routing MustRoute(const Topology& t) {
  absl::StatusOr<Routing> r = Routing::Compute(t);
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

absl::Status ParseError(const std::string& text) {
  return ParseTopology(text, "t.topo", Bandwidth::Gbps(400), Duration::Microseconds(1)).status();
}

TEST(TopologyTest, FatTreeHasTheTextbookShape) {
  TopologySpec spec;
  spec.kind = TopologyKind::kFatTree;
  spec.hosts = 16;
  const Topology t = MustBuild(spec);  // k = 4: 16 hosts, 8 edge, 8 aggregation, 4 core
  EXPECT_EQ(t.hosts, 16u);
  EXPECT_EQ(t.switches, 20u);
  EXPECT_EQ(t.cables.size(), 16u + 16u + 16u);
  const Routing r = MustRoute(t);
  EXPECT_EQ(r.SwitchHops(0, 1), 0u);   // same edge switch
  EXPECT_EQ(r.SwitchHops(0, 2), 2u);   // same pod: edge, aggregation, edge
  EXPECT_EQ(r.SwitchHops(0, 15), 4u);  // across pods, through a core
  EXPECT_EQ(r.max_switch_hops(), 4u);
  // From an edge switch toward another pod: both aggregation uplinks; from an
  // aggregation switch: both its cores.
  const uint32_t edge = r.host_switch(0);
  EXPECT_EQ(r.NextHops(edge, 15).size(), 2u);
  EXPECT_EQ(r.NextHops(edge, 2).size(), 2u);
}

// Switch-to-switch distances by a plain breadth-first search, to check the
// routing table against.
std::vector<std::vector<uint32_t>> SwitchDistances(const Topology& t) {
  std::vector<std::vector<uint32_t>> near(t.switches);
  for (const Cable& c : t.cables) {
    if (t.IsHost(c.a) || t.IsHost(c.b)) continue;
    near[c.a - t.hosts].push_back(c.b - t.hosts);
    near[c.b - t.hosts].push_back(c.a - t.hosts);
  }
  std::vector<std::vector<uint32_t>> dist(t.switches,
                                          std::vector<uint32_t>(t.switches, UINT32_MAX));
  for (uint32_t from = 0; from < t.switches; ++from) {
    std::vector<uint32_t> queue = {from};
    dist[from][from] = 0;
    for (size_t i = 0; i < queue.size(); ++i) {
      for (uint32_t n : near[queue[i]]) {
        if (dist[from][n] != UINT32_MAX) continue;
        dist[from][n] = dist[from][queue[i]] + 1;
        queue.push_back(n);
      }
    }
  }
  return dist;
}

// Every switch's next hops toward every host are exactly its ports to
// switches one hop closer, in port order, on topologies whose port lists
// repeat (fat tree, leaf-spine) and on an irregular one.
TEST(TopologyTest, NextHopsAreExactlyThePortsOneHopCloser) {
  std::vector<Topology> topologies;
  TopologySpec fat;
  fat.kind = TopologyKind::kFatTree;
  fat.hosts = 128;
  topologies.push_back(MustBuild(fat));
  TopologySpec leaf;
  leaf.kind = TopologyKind::kLeafSpine;
  leaf.hosts = 64;
  leaf.oversubscription = 2;
  topologies.push_back(MustBuild(leaf));
  absl::StatusOr<Topology> odd = ParseTopology(
      "hosts 3\nswitches 5\nlink h0 s0\nlink h1 s3\nlink h2 s4\nlink s0 s1\nlink s0 s2\n"
      "link s1 s3\nlink s2 s3\nlink s1 s4\n",
      "odd.topo", Bandwidth::Gbps(400), Duration::Microseconds(1));
  ASSERT_TRUE(odd.ok()) << odd.status();
  topologies.push_back(*odd);
  for (const Topology& t : topologies) {
    const Routing r = MustRoute(t);
    const std::vector<std::vector<uint32_t>> dist = SwitchDistances(t);
    for (uint32_t sw = t.hosts; sw < t.nodes(); ++sw) {
      for (uint32_t host = 0; host < t.hosts; ++host) {
        const uint32_t target = r.host_switch(host) - t.hosts;
        std::vector<uint16_t> want;
        if (sw - t.hosts != target) {
          const std::vector<uint32_t>& cables = r.ports(sw);
          for (uint16_t port = 0; port < cables.size(); ++port) {
            const Cable& c = t.cables[cables[port]];
            const uint32_t next = c.a == sw ? c.b : c.a;
            if (!t.IsHost(next) && dist[next - t.hosts][target] + 1 == dist[sw - t.hosts][target]) {
              want.push_back(port);
            }
          }
        }
        const std::span<const uint16_t> got = r.NextHops(sw, host);
        ASSERT_EQ(std::vector<uint16_t>(got.begin(), got.end()), want)
            << t.NodeName(sw) << " toward h" << host;
      }
    }
  }
}

TEST(TopologyTest, FatTreePicksTheSmallestArityAndFillsInOrder) {
  TopologySpec spec;
  spec.hosts = 100;  // k = 8 holds 128
  const Topology t = MustBuild(spec);
  EXPECT_EQ(t.hosts, 100u);
  EXPECT_EQ(t.switches, 80u);
  EXPECT_THAT(t.description, HasSubstr("k=8"));
  spec.k = 6;
  spec.hosts = 60;
  EXPECT_FALSE(BuildTopology(spec).ok());  // k=6 holds 54
  spec.k = 5;
  EXPECT_FALSE(BuildTopology(spec).ok());
}

TEST(TopologyTest, LeafSpineOversubscription) {
  TopologySpec spec;
  spec.kind = TopologyKind::kLeafSpine;
  spec.hosts = 64;
  spec.leaves = 4;
  spec.oversubscription = 2;  // 16 host ports per leaf, 8 uplinks
  const Topology t = MustBuild(spec);
  EXPECT_EQ(t.switches, 4u + 8u);
  EXPECT_EQ(t.cables.size(), 64u + 4u * 8u);
  const Routing r = MustRoute(t);
  EXPECT_EQ(r.NextHops(r.host_switch(0), 63).size(), 8u);
  EXPECT_EQ(r.SwitchHops(0, 63), 2u);
  spec.oversubscription = 0.5;
  EXPECT_FALSE(BuildTopology(spec).ok());
}

TEST(TopologyTest, StarIsOneSwitch) {
  TopologySpec spec;
  spec.kind = TopologyKind::kStar;
  spec.hosts = 9;
  const Topology t = MustBuild(spec);
  const Routing r = MustRoute(t);
  EXPECT_EQ(t.switches, 1u);
  EXPECT_EQ(r.max_switch_hops(), 0u);
  EXPECT_EQ(r.host_port(8), 8u);
  spec.hosts = 1;
  EXPECT_FALSE(BuildTopology(spec).ok());
}

TEST(TopologyTest, ParsesTheTextFormat) {
  const std::string text = R"(# two leaves, one spine
hosts 4
switches 3
link h0 s0
link h1 s0 100          # a slower host link
link h2 s1 400 0.5
link h3 s1
link s0 s2
link s1 s2
fail s0 s2 12.5 slow=0.5
)";
  absl::StatusOr<Topology> t =
      ParseTopology(text, "t.topo", Bandwidth::Gbps(400), Duration::Microseconds(1));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->hosts, 4u);
  EXPECT_EQ(t->cables[1].rate, Bandwidth::Gbps(100));
  EXPECT_EQ(t->cables[2].delay, Duration::Nanoseconds(500));
  EXPECT_EQ(t->cables[3].delay, Duration::Microseconds(1));
  ASSERT_EQ(t->failures.size(), 1u);
  EXPECT_EQ(t->failures[0].cable, 4u);
  EXPECT_EQ(t->failures[0].kind, CableFailure::Kind::kSlow);
  EXPECT_EQ(t->failures[0].at, Time::Zero() + Duration::Nanoseconds(12500));
  EXPECT_EQ(MustRoute(*t).SwitchHops(0, 3), 2u);
}

TEST(TopologyTest, FractionalMicrosecondsRoundToThePicosecond) {
  // 2.01 * 1e6 is 2009999.9999999998 in doubles; truncation gave 2'009'999 ps.
  absl::StatusOr<Topology> t =
      ParseTopology("hosts 2\nswitches 1\nlink h0 s0 400 2.01\nlink h1 s0\nfail h1 s0 2.01 down\n",
                    "t.topo", Bandwidth::Gbps(400), Duration::Microseconds(1));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->cables[0].delay, Duration::Picoseconds(2'010'000));
  ASSERT_EQ(t->failures.size(), 1u);
  EXPECT_EQ(t->failures[0].at, Time::Zero() + Duration::Picoseconds(2'010'000));
}

TEST(TopologyTest, TextFormatErrorsNameTheLine) {
  EXPECT_THAT(ParseError("hosts 2\nswitches 1\nlink h0 s0\nlink h1 s5\n").message(),
              HasSubstr("t.topo:4:"));
  EXPECT_THAT(ParseError("link h0 s0\n").message(), HasSubstr("must come first"));
  EXPECT_THAT(ParseError("hosts 2\nswitches 1\nlink h0 s0 fast\n").message(),
              HasSubstr("bad rate"));
  EXPECT_THAT(ParseError("hosts 2\nswitches 1\nlink h0 s0 400 -1\n").message(),
              HasSubstr("bad delay"));
  EXPECT_THAT(ParseError("hosts 2\nswitches 1\nlink h0 s0\nfail h1 s0 5 down\n").message(),
              HasSubstr("no link between h1 and s0"));
  EXPECT_THAT(ParseError("hosts 2\nswitches 1\nlink h0 s0\nfail h0 s0 5 melt\n").message(),
              HasSubstr("unknown failure"));
  EXPECT_THAT(ParseError("hosts 2\nswitches 1\nrouter r0\n").message(),
              HasSubstr("unknown statement 'router'"));
  EXPECT_THAT(ParseError("hosts x\n").message(), HasSubstr("t.topo:1:"));
  EXPECT_THAT(ParseError("").message(), HasSubstr("at least one link"));
  EXPECT_THAT(ParseError("hosts 2\nswitches 1\nlink h0 h0\n").message(),
              HasSubstr("two different nodes"));
}

TEST(TopologyTest, RoutingRefusesHostsWithoutOneSwitchAndDisconnectedFabrics) {
  absl::StatusOr<Topology> t = ParseTopology("hosts 2\nswitches 1\nlink h0 s0\nlink h1 h0\n", "x",
                                             Bandwidth::Gbps(400), Duration::Microseconds(1));
  ASSERT_TRUE(t.ok());
  EXPECT_THAT(Routing::Compute(*t).status().message(), HasSubstr("h0 must have exactly one link"));
  t = ParseTopology("hosts 2\nswitches 2\nlink h0 s0\nlink h1 s1\n", "x", Bandwidth::Gbps(400),
                    Duration::Microseconds(1));
  ASSERT_TRUE(t.ok());
  EXPECT_THAT(Routing::Compute(*t).status().message(), HasSubstr("disconnected"));
}

// Seeded damage to a valid file (bytes overwritten, inserted, deleted, the
// file cut short): each result routes, or is refused, with an
// InvalidArgument naming the file. Seeds 1 to 500; the failing seed and
// input are printed.
TEST(TopologyTest, DamagedFilesParseOrAreRefusedNamingTheFile) {
  const std::string valid =
      "# two leaves, one spine\nhosts 4\nswitches 3\n"
      "link h0 s0\nlink h1 s0 100\nlink h2 s1 400 0.5\nlink h3 s1\n"
      "link s0 s2\nlink s1 s2\nfail s0 s2 12.5 slow=0.5\n";
  int routed = 0;
  for (uint64_t seed = 1; seed <= 500; ++seed) {
    Random rng(seed);
    const std::string text = testing::MutateBytes(valid, rng);
    SCOPED_TRACE(::testing::Message()
                 << "seed=" << seed << " input=\"" << absl::CEscape(text) << "\"");
    const absl::StatusOr<Topology> t =
        ParseTopology(text, "t.topo", Bandwidth::Gbps(400), Duration::Microseconds(1));
    absl::Status status = t.status();
    if (t.ok()) {
      const absl::StatusOr<Routing> routing = Routing::Compute(*t);
      if (routing.ok()) {
        ++routed;
        continue;
      }
      status = routing.status();
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    if (!t.ok()) {
      EXPECT_THAT(status.message(), HasSubstr("t.topo")) << status;
    }
  }
  EXPECT_GT(routed, 20) << "some damage leaves a valid file: the accept path runs too";
}

}  // namespace
}  // namespace tern::sim
