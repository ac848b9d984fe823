// Congestion-control scenarios on the simulated 400G fat tree, short enough
// for the test suite: the 8:1 incast of 2 MB flows for every registered
// algorithm, the signals each algorithm needs arriving end to end (CNPs for
// DCQCN, per-hop telemetry for HPCC), and spraying around a degraded core
// link. The full scenarios, with their tables, are tools/cc-scenarios.py.
#include <algorithm>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_join.h"
#include "apps/replay_generators.h"
#include "apps/replay_report.h"
#include "apps/replay_runner.h"
#include "cc/registry.h"
#include "gtest/gtest.h"

namespace tern::replay {
namespace {

constexpr uint64_t kSeed = 1;
// Ethernet, IPv4, UDP, Tern, DATA and RDMA headers of every WRITE packet.
constexpr uint64_t kWriteHeaderBytes = 14 + 20 + 8 + 20 + 28 + 12;

// `fabric` is the KEY=VALUE list of --fabric=sim:..., empty for the defaults.
ReplayConfig ConfigFor(const std::string& fabric, const std::string& cc, uint16_t paths,
                       uint64_t seed = kSeed) {
  absl::StatusOr<sim::FabricConfig> f = sim::ParseFabricSpec(fabric);
  EXPECT_TRUE(f.ok()) << f.status();
  ReplayConfig c;
  if (f.ok()) c.fabric = *f;
  c.fabric.seed = seed;
  c.seed = seed;
  c.cc = cc;
  c.paths = paths;
  return c;
}

// HPCC keeps per-hop records of one path; spraying would mix switch ports.
uint16_t PathsFor(const std::string& cc) { return cc == "hpcc" ? 1 : 8; }

ReplayResult MustRun(const std::string& workload, const ReplayConfig& config) {
  WorkloadEnvironment env;
  absl::StatusOr<sim::Topology> topology = sim::MakeTopology(config.fabric);
  EXPECT_TRUE(topology.ok()) << topology.status();
  env.hosts = topology.ok() ? topology->hosts : 0;
  env.host_rate = config.fabric.topology.link_rate;
  env.seed = config.seed;
  absl::StatusOr<Workload> w = MakeWorkload(workload, env);
  EXPECT_TRUE(w.ok()) << w.status();
  if (!w.ok()) return {};
  absl::StatusOr<ReplayResult> r = RunReplay(*w, config);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : ReplayResult{};
}

// Writes an htsim connection matrix to a file of the test's temporary
// directory; returns the workload spec that replays it.
std::string FlowsWorkload(const std::string& name, const std::string& lines) {
  const std::string path = ::testing::TempDir() + "/" + name + ".flows";
  std::ofstream(path) << lines;
  return "flows:" + path;
}

// Every timeline sample of the congestion-control variable `name`.
std::vector<double> Sampled(const ReplayResult& r, std::string_view name) {
  std::vector<double> out;
  for (const CcSample& s : r.cc_timeline) {
    for (int i = 0; i < s.count; ++i) {
      if (s.variables[i].name == name) out.push_back(s.variables[i].value);
    }
  }
  return out;
}

struct IncastOutcome {
  bool all_completed = true;
  Duration max_fct;
  // Every sender's bytes through the one bottleneck, plus one base RTT: the
  // ideal of the last flow to finish (about 340 us for 8 x 2 MB at 400G).
  Duration ideal;
  uint64_t drops = 0;
  uint64_t trims = 0;
  uint64_t queue_p50_bytes = 0;  // the largest median occupancy of any switch port
  uint64_t buffer_bytes = 0;     // per switch port
  QpCounters counters;           // over every queue pair
};

// `pull_window`: TransportOptions::pull_window_packets (0: no pulls).
IncastOutcome Incast(const std::string& cc, const std::string& fabric = "", uint64_t seed = kSeed,
                     uint32_t pull_window = 0) {
  ReplayConfig config = ConfigFor(fabric, cc, PathsFor(cc), seed);
  config.pull_window_packets = pull_window;
  const ReplayResult r = MustRun("incast:senders=8,size=2000000", config);
  IncastOutcome o;
  o.all_completed = !r.flows.empty();
  // A flow's own ideal is its wire bytes at the bottleneck plus the base RTT.
  const Bandwidth rate = Bandwidth::Gbps(400);
  const uint64_t packets = (2'000'000 + 4095) / 4096;
  const Duration wire = rate.TransferTime(2'000'000 + packets * kWriteHeaderBytes);
  for (const FlowResult& f : r.flows) {
    o.all_completed &= f.completed && !f.failed;
    o.max_fct = std::max(o.max_fct, f.fct());
    o.ideal = std::max(o.ideal, f.ideal - wire);  // the base RTT
  }
  o.ideal += wire * static_cast<int64_t>(r.flows.size());
  o.buffer_bytes = r.buffer_bytes;
  for (const sim::PortReport& p : r.ports) {
    o.drops += p.counters.frames_dropped();
    o.trims += p.counters.trimmed;
    o.queue_p50_bytes = std::max(o.queue_p50_bytes, p.queue_p50_bytes);
  }
  for (const ConnectionResult& c : r.connections) o.counters += c.counters;
  return o;
}

TEST(CcScenarioTest, IncastCompletesUnderEveryAlgorithm) {
  for (const CcAlgorithmInfo& a : RegisteredAlgorithms()) {
    const std::string cc(a.name);
    SCOPED_TRACE("cc " + cc + " seed 1");
    const IncastOutcome o = Incast(cc);
    EXPECT_TRUE(o.all_completed);
    // Whatever the algorithm, the data gets through within a few drain times.
    EXPECT_LT(o.max_fct, o.ideal * 4) << o.max_fct.ToString();
  }
}

// The algorithms that read delay or telemetry hold the 1-BDP buffer's queue
// below overflow better than no congestion control does, and so finish the
// incast close to the ideal (the last byte leaves the bottleneck at 16 MB /
// 400 Gb/s).
TEST(CcScenarioTest, DelayAndTelemetryAlgorithmsBeatNoControlOnIncast) {
  const IncastOutcome fixed = Incast("fixed");
  ASSERT_GT(fixed.drops, 0u)
      << "the incast no longer overflows the buffer: the test lost its point";
  for (const std::string cc : {"swift", "hpcc", "nscc"}) {
    SCOPED_TRACE("cc " + cc + " seed 1");
    const IncastOutcome o = Incast(cc);
    EXPECT_LT(o.drops, fixed.drops);
    EXPECT_LT(o.max_fct, o.ideal * 3 / 2) << o.max_fct.ToString();
  }
}

// Scenario outcomes vary with the seed (it drives the transport's and the
// fabric's random choices), and one seed's draw can land on either side of a
// bound that the seeds' median clears: claims about typical behaviour take
// the median of kSeeds seeds, or the mean where the tail is the point.
constexpr uint64_t kSeeds = 5;

template <class T>
T Median(std::vector<T> values) {
  if (values.empty()) return T{};
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// HPCC sends its first window at line rate, so the incast overflows the 1-BDP
// buffer once; after that one RTT the telemetry cuts every window to its share
// and the queue drains. Most frames then find it short, and the last flow ends
// near the published figure (about 373 us, 1.15x that simulator's ideal).
TEST(CcScenarioTest, HpccDrainsTheIncastBurstAndKeepsTheQueueShort) {
  std::vector<uint64_t> queue_p50;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const IncastOutcome o = Incast("hpcc", "", seed);
    EXPECT_TRUE(o.all_completed);
    ASSERT_EQ(o.buffer_bytes, 625'500u);  // one BDP of the longest path
    EXPECT_LT(o.max_fct, o.ideal * 6 / 5) << o.max_fct.ToString();
    queue_p50.push_back(o.queue_p50_bytes);
  }
  EXPECT_LT(Median(queue_p50), 625'500u / 3);
}

// DCQCN's loop is closed: marked packets make the receiver send CNPs and the
// sender's rate falls below the line rate.
TEST(CcScenarioTest, DcqcnReceivesCnpsAndCutsItsRate) {
  ReplayConfig c = ConfigFor("", "dcqcn", 8);
  c.timeline_interval = Duration::Microseconds(5);
  const ReplayResult r = MustRun("incast:senders=8,size=2000000", c);
  QpCounters total;
  for (const ConnectionResult& cr : r.connections) total += cr.counters;
  EXPECT_GT(total.np_cnp_sent, 0u);
  EXPECT_EQ(total.rp_cnp_handled, total.np_cnp_sent);
  const std::vector<double> rates = Sampled(r, "rate_gbps");
  ASSERT_FALSE(rates.empty());
  EXPECT_LT(*std::min_element(rates.begin(), rates.end()), 300);
}

// HPCC's telemetry is stamped by every switch on the path and reaches the
// sender: a flow across pods of the 3-tier tree reports 5 hops.
TEST(CcScenarioTest, HpccSeesEverySwitchHop) {
  ReplayConfig c = ConfigFor("", "hpcc", 1);
  c.timeline_interval = Duration::Microseconds(5);
  // Host 0 and host 127 of the 128-host k=8 tree sit in different pods.
  const ReplayResult r = MustRun("incast:senders=1,receiver=127,size=2000000", c);
  const std::vector<double> hops = Sampled(r, "hops");
  ASSERT_FALSE(hops.empty());
  EXPECT_EQ(*std::max_element(hops.begin(), hops.end()), 5);
  // Without stamping (int=0), HPCC learns nothing and says so.
  ReplayConfig off = ConfigFor("int=0", "hpcc", 1);
  off.timeline_interval = Duration::Microseconds(5);
  const ReplayResult silent = MustRun("incast:senders=1,receiver=127,size=2000000", off);
  for (const double h : Sampled(silent, "hops")) EXPECT_EQ(h, 0);
}

// A core link at a tenth of its rate: flows hashed onto it on one path crawl;
// sprayed over 8 entropies they mostly avoid it. Which flows hash onto it
// depends on the seed, so the claim is about the mean over seeds of the last
// flow's FCT. A single seed's draw can go either way: about a third of the
// packets are dropped, and single runs spread from 530 to 880 us.
// NSCC sprays with REPS (`recycled`), the policy UEC pairs it with; under
// `weighted` it gains little or nothing here (means of seeds 1 to 16,
// sprayed against one path: 582 against 602 us while ACKs that acknowledged
// nothing new did not reach CC, 649 against 613 since; with `recycled` 545
// against 613; swift, `weighted`, 651 against 774).
TEST(CcScenarioTest, SprayingRoutesAroundADegradedCoreLink) {
  constexpr uint64_t kSpraySeeds = kSeeds + 1;
  for (const std::string cc : {"swift", "nscc"}) {
    SCOPED_TRACE("cc " + cc);
    const PathPolicy sprayed_policy =
        cc == "nscc" ? PathPolicy::kRecycled : TransportOptions{}.path_policy;
    const std::string fabric = "hosts=16,fail=s8-s16@0:slow=0.1";
    auto max_fct = [](const ReplayResult& r) {
      Duration m;
      for (const FlowResult& f : r.flows) {
        EXPECT_TRUE(f.completed);
        m = std::max(m, f.fct());
      }
      return m;
    };
    Duration one_total, many_total;
    for (uint64_t seed = 1; seed <= kSpraySeeds; ++seed) {
      SCOPED_TRACE("seed " + std::to_string(seed));
      one_total +=
          max_fct(MustRun("incast:senders=8,size=2000000", ConfigFor(fabric, cc, 1, seed)));
      ReplayConfig sprayed = ConfigFor(fabric, cc, 8, seed);
      sprayed.path_policy = sprayed_policy;
      many_total += max_fct(MustRun("incast:senders=8,size=2000000", sprayed));
    }
    EXPECT_LT(many_total, one_total) << "seeds 1 to " << kSpraySeeds;
  }
}

// A link down from the start black-holes what ECMP sends it, data one way and
// ACKs the other; every spraying policy finishes every flow, because a
// timeout moves a QP to a fresh block of entropies and forgets what it learnt
// of the old one. Three cases on the k=8 tree (s0 an edge switch, s32 pod 0's
// first aggregation switch, s64 the first core), 4 paths, nscc:
// - s32-s64, seed 3: the recycled policy resent flow 15->82's last packet on
//   queued entropies that lost either the packet or its ACK until the retry
//   count ran out, before a timeout emptied the queue.
// - s0-s32, seed 5: one flow had one entropy left whose ACKs came back; a CE
//   mark penalised it, and the weighted policy's resends went round the three
//   dead ones, before a timeout lifted the penalties.
// - s32-s64, seed 4: all four entropies of flow 9->76 were dead one way or
//   the other, and it failed under every policy before timeouts re-pathed.
TEST(CcScenarioTest, EveryPathPolicySurvivesADeadLink) {
  struct Case {
    const char* fabric;
    uint64_t seed;
  };
  for (const Case& dead :
       {Case{"hosts=128,fail=s32-s64@0:down", 3}, Case{"hosts=128,fail=s0-s32@0:down", 5},
        Case{"hosts=128,fail=s32-s64@0:down", 4}}) {
    for (const PathPolicy policy :
         {PathPolicy::kOblivious, PathPolicy::kWeighted, PathPolicy::kRecycled}) {
      SCOPED_TRACE(testing::Message()
                   << dead.fabric << " policy " << PathPolicyName(policy) << " seed " << dead.seed);
      ReplayConfig c = ConfigFor(dead.fabric, "nscc", 4, dead.seed);
      c.path_policy = policy;
      const ReplayResult r = MustRun("permutation:size=2MB", c);
      ASSERT_EQ(r.flows.size(), 128u);
      for (const FlowResult& f : r.flows) EXPECT_TRUE(f.completed) << f.src << "->" << f.dst;
      uint64_t blackholed = 0;
      for (const sim::PortReport& p : r.ports) blackholed += p.counters.dropped_blackhole;
      EXPECT_GT(blackholed, 0u) << "the dead link carried nothing: the test proves nothing";
    }
  }
}

// Four 12 MB flows on one path each into one host, joining 150 us apart,
// overflow the receiver's port in bursts of well over 128 packets. Before the
// send-order loss rule (transport/send_scoreboard.h) no ACK's bitmap reached
// back to the start of such a run, so the first flow recovered it one
// tail-loss probe per 2 RTTs: 30 probes, and 2269 us for a flow the others
// finish in under 1000.
TEST(CcScenarioTest, BurstLossLongerThanTheSackBitmapIsRecoveredWithoutProbes) {
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  const std::string workload = FlowsWorkload("burst_loss",
                                             "16->0 id 1 start 0 size 12000000\n"
                                             "32->0 id 2 start 150000000 size 12000000\n"
                                             "48->0 id 3 start 300000000 size 12000000\n"
                                             "64->0 id 4 start 450000000 size 12000000\n");
  const ReplayResult r = MustRun(workload, ConfigFor("", "nscc", 1));
  ASSERT_EQ(r.flows.size(), 4u);
  for (const FlowResult& f : r.flows) {
    EXPECT_TRUE(f.completed);
    EXPECT_LT(f.fct(), Duration::Microseconds(1000)) << f.label;
  }
  uint64_t drops = 0;
  for (const sim::PortReport& p : r.ports) drops += p.counters.frames_dropped();
  QpCounters counters;
  for (const ConnectionResult& c : r.connections) counters += c.counters;
  EXPECT_GT(drops, 128u) << "the scenario no longer loses bursts";
  EXPECT_EQ(counters.tail_probes, 0u);
  EXPECT_EQ(counters.retransmits_timeout, 0u);
  EXPECT_LE(counters.retransmitted_packets, drops) << "every resend replaces a drop";
}

// The Jain index of every sample with two or more flows running.
std::vector<double> SharedJain(const std::vector<FairnessPoint>& points) {
  std::vector<double> out;
  for (const FairnessPoint& p : points) {
    if (p.active >= 2) out.push_back(p.jain);
  }
  return out;
}

// Equal fixed windows (40 packets each, 120 in flight: under one BDP, so no
// queue and no drops) from three senders with equal RTTs, joining 20 us apart:
// their long-run shares are equal. Over two base RTTs the index says so; over
// single 5 us intervals (under half an RTT) it sees the ACK-clocked bursts
// and reports a median far below 0.95. This is why fairness.csv's window
// defaults to two base RTTs (docs/cc.md, Fairness).
TEST(CcScenarioTest, EqualWindowsMeasureFairOnlyOverAnRttScaleWindow) {
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  // One sender in each of three other pods of the k=8 tree (16 hosts a pod).
  const std::string workload = FlowsWorkload("equal_windows",
                                             "16->0 id 1 start 0 size 3000000\n"
                                             "32->0 id 2 start 20000000 size 3000000\n"
                                             "48->0 id 3 start 40000000 size 3000000\n");
  ReplayConfig c = ConfigFor("", "fixed:packets=40", 8);
  const Duration interval = Duration::Microseconds(5);
  c.timeline_interval = interval;
  const ReplayResult r = MustRun(workload, c);
  ASSERT_EQ(r.flows.size(), 3u);
  for (const FlowResult& f : r.flows) EXPECT_TRUE(f.completed);
  EXPECT_EQ(r.base_rtt, Duration::Nanoseconds(12510));
  const std::vector<double> rtt_scale =
      SharedJain(FairnessTimeline(r, interval, DefaultFairnessWindow(r, interval)));
  const std::vector<double> short_scale = SharedJain(FairnessTimeline(r, interval, interval));
  ASSERT_GE(rtt_scale.size(), 20u);
  EXPECT_GE(*std::min_element(rtt_scale.begin(), rtt_scale.end()), 0.95);
  EXPECT_GE(Median(rtt_scale), 0.98);
  EXPECT_LT(Median(short_scale), 0.8);
}

TEST(FairnessTimelineTest, JainOverFlowsRunningThroughTheInterval) {
  ReplayResult r;
  auto flow = [](uint32_t src, int64_t start_us, int64_t finish_us) {
    FlowResult f;
    f.src = src;
    f.dst = 0;
    f.start = Time::Zero() + Duration::Microseconds(start_us);
    f.finish = Time::Zero() + Duration::Microseconds(finish_us);
    f.completed = true;
    return f;
  };
  r.flows = {flow(1, 0, 100), flow(2, 0, 100), flow(3, 15, 100)};
  auto sample = [](int64_t at_us, uint32_t src, uint64_t bytes) {
    CcSample s;
    s.at = Time::Zero() + Duration::Microseconds(at_us);
    s.src = src;
    s.dst = 0;
    s.bytes_sent = bytes;
    return s;
  };
  // At 10 us flow 3 has not started: Jain over (100, 300) = 400^2 / (2 x 100000).
  // At 20 us flow 3 started within the interval and is left out.
  // At 30 us all three run: (100, 100, 0) -> 200^2 / (3 x 20000) = 2/3.
  // At 40 us all three sent nothing: stalled.
  r.cc_timeline = {sample(10, 1, 100), sample(10, 2, 300), sample(20, 1, 100), sample(20, 2, 100),
                   sample(20, 3, 50),  sample(30, 1, 100), sample(30, 2, 100), sample(30, 3, 0),
                   sample(40, 1, 0),   sample(40, 2, 0),   sample(40, 3, 0)};
  const std::vector<FairnessPoint> points =
      FairnessTimeline(r, Duration::Microseconds(10), Duration::Microseconds(10));
  ASSERT_EQ(points.size(), 4u);
  EXPECT_FALSE(points[2].stalled);
  EXPECT_TRUE(points[3].stalled);
  EXPECT_EQ(points[3].active, 3u);
  EXPECT_EQ(points[0].active, 2u);
  EXPECT_DOUBLE_EQ(points[0].jain, 0.8);
  EXPECT_EQ(points[1].active, 2u);
  EXPECT_DOUBLE_EQ(points[1].jain, 1.0);
  EXPECT_EQ(points[2].active, 3u);
  EXPECT_DOUBLE_EQ(points[2].jain, 2.0 / 3.0);
}

// A window of several intervals sums each flow's bytes over them, so bursts
// that alternate between flows from one interval to the next even out.
TEST(FairnessTimelineTest, WindowSumsTheIntervalsItSpans) {
  ReplayResult r;
  for (const uint32_t src : {1u, 2u}) {
    FlowResult f;
    f.src = src;
    f.start = Time::Zero();
    f.finish = Time::Zero() + Duration::Microseconds(100);
    f.completed = true;
    r.flows.push_back(f);
  }
  // Flow 1 sends in odd intervals, flow 2 in even ones.
  for (int i = 1; i <= 6; ++i) {
    for (const uint32_t src : {1u, 2u}) {
      CcSample s;
      s.at = Time::Zero() + Duration::Microseconds(5 * i);
      s.src = src;
      s.bytes_sent = (i % 2 == 1) == (src == 1) ? 1000 : 0;
      r.cc_timeline.push_back(s);
    }
  }
  const Duration interval = Duration::Microseconds(5);
  const std::vector<FairnessPoint> per_interval = FairnessTimeline(r, interval, interval);
  ASSERT_EQ(per_interval.size(), 6u);
  EXPECT_DOUBLE_EQ(per_interval[3].jain, 0.5);  // (0, 1000): one flow had it all
  // 12 us rounds up to 3 intervals; the first two samples' windows reach
  // before the flows started. From 15 us on each window holds (2000, 1000) or
  // (1000, 2000): 3000^2 / (2 x 5e6) = 0.9.
  const std::vector<FairnessPoint> windowed =
      FairnessTimeline(r, interval, Duration::Microseconds(12));
  ASSERT_EQ(windowed.size(), 6u);
  EXPECT_EQ(windowed[1].active, 0u);
  for (size_t i = 2; i < 6; ++i) {
    EXPECT_EQ(windowed[i].active, 2u) << i;
    EXPECT_DOUBLE_EQ(windowed[i].jain, 0.9) << i;
  }
  // Four intervals: (2000, 2000), perfectly fair.
  const std::vector<FairnessPoint> even = FairnessTimeline(r, interval, Duration::Microseconds(20));
  EXPECT_DOUBLE_EQ(even[3].jain, 1.0);
  EXPECT_DOUBLE_EQ(even[5].jain, 1.0);
}

TEST(FairnessTimelineTest, DefaultWindowIsTwoBaseRtts) {
  ReplayResult r;
  EXPECT_EQ(DefaultFairnessWindow(r, Duration::Microseconds(5)), Duration::Microseconds(5));
  r.base_rtt = Duration::Nanoseconds(12510);
  EXPECT_EQ(DefaultFairnessWindow(r, Duration::Microseconds(5)), Duration::Nanoseconds(25020));
}

// Four flows with equal RTTs (one sender in each of four other pods) join
// 150 us apart, run together, and leave (tools/cc-scenarios.py's
// fairness-sym). Swift's flows read the same queue, so their windows
// converge. Before ACK echoes left out the receiver's hold
// (docs/protocol.md, section 8.3), a flow whose ACKs waited for the
// coalescing timer read up to 2 us more delay than the others, was cut
// harder and stayed behind: Jain's median over two base RTTs was 0.913 to
// 0.937 for seeds 1 to 5, and is 0.948 to 0.966 since.
TEST(CcScenarioTest, SwiftSharesABottleneckAmongEqualRttFlows) {
  const std::string workload = FlowsWorkload("swift_fair",
                                             "16->0 id 1 start 0 size 15625000\n"
                                             "32->0 id 2 start 150000000 size 10625000\n"
                                             "48->0 id 3 start 300000000 size 10625000\n"
                                             "64->0 id 4 start 450000000 size 15625000\n");
  std::vector<double> medians;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    ReplayConfig c = ConfigFor("", "swift", 8, seed);
    const Duration interval = Duration::Microseconds(5);
    c.timeline_interval = interval;
    const ReplayResult r = MustRun(workload, c);
    ASSERT_EQ(r.flows.size(), 4u);
    for (const FlowResult& f : r.flows) EXPECT_TRUE(f.completed);
    medians.push_back(
        Median(SharedJain(FairnessTimeline(r, interval, DefaultFairnessWindow(r, interval)))));
  }
  EXPECT_GE(Median(medians), 0.945)
      << "medians of seeds 1 to " << kSeeds << ": " << absl::StrJoin(medians, ", ");
}

// Receiver-driven pulls (TransportOptions::pull_window_packets) with no
// congestion control at the senders: 8 senders of 16 unpulled packets each
// (128, under the 1-BDP buffer of 149) into one host never overflow it, and
// the queue is empty for most arrivals. The price: 16 packets cover only
// part of a cross-pod sender's round trip at its eighth of the link, so the
// link is not full and the last flow ends at about 401 us against the ideal
// 340 (a same-edge sender takes the pulls the others cannot use and ends
// first, at 154 us).
TEST(CcScenarioTest, ReceiverPullsKeepTheIncastOutOfTheBuffer) {
  for (uint64_t seed = 1; seed <= 2; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const IncastOutcome o = Incast("fixed", "", seed, 16);
    EXPECT_TRUE(o.all_completed);
    EXPECT_LT(o.max_fct, Duration::Microseconds(425)) << o.max_fct.ToString();
    EXPECT_EQ(o.drops, 0u);
    EXPECT_EQ(o.queue_p50_bytes, 0u);
    EXPECT_EQ(o.counters.pulls_granted, o.counters.data_packets_received);
  }
}

// Pulls with trimming and a shallow buffer (50 KB, about 12 packets), as
// EQDS runs: one BDP (152 packets) unpulled per sender, so the incast's first
// round trip is mostly trimmed; each trimmed header is pulled for, and its
// resend waits for that pull instead of going straight back into the full
// queue. Without pulls, the same run trims 21,000 packets and ends at
// 381-386 us; with them, about 1,200 and 344-358 us (ideal 340).
TEST(CcScenarioTest, ReceiverPullsResendTrimmedPacketsWhenPulled) {
  for (uint64_t seed = 1; seed <= 2; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const IncastOutcome o = Incast("fixed", "trim=1,buffer=50000", seed, 152);
    EXPECT_TRUE(o.all_completed);
    EXPECT_LT(o.max_fct, Duration::Microseconds(375)) << o.max_fct.ToString();
    EXPECT_LT(o.trims, 2000u);
    EXPECT_EQ(o.counters.retransmits_timeout, 0u);
  }
}

// Pulls as EQDS runs them (one BDP unpulled, trimming switches with a
// shallow buffer) on the fairness scenario (four equal-RTT flows joining,
// running together and leaving): the receiver's round-robin gives equal
// shares from the first whole window after each join, which no sender-side
// algorithm here does (docs/cc.md, Receiver-driven pulls).
TEST(CcScenarioTest, ReceiverPullsShareABottleneckEqually) {
  const std::string workload = FlowsWorkload("pull_fair",
                                             "16->0 id 1 start 0 size 15625000\n"
                                             "32->0 id 2 start 150000000 size 10625000\n"
                                             "48->0 id 3 start 300000000 size 10625000\n"
                                             "64->0 id 4 start 450000000 size 15625000\n");
  for (uint64_t seed = 1; seed <= 2; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    ReplayConfig c = ConfigFor("trim=1,buffer=50000", "fixed", 8, seed);
    c.pull_window_packets = 152;
    const Duration interval = Duration::Microseconds(5);
    c.timeline_interval = interval;
    const ReplayResult r = MustRun(workload, c);
    for (const FlowResult& f : r.flows) EXPECT_TRUE(f.completed);
    const std::vector<double> jain =
        SharedJain(FairnessTimeline(r, interval, DefaultFairnessWindow(r, interval)));
    ASSERT_GE(jain.size(), 100u);
    EXPECT_GE(Median(jain), 0.99);
    const auto fair = std::count_if(jain.begin(), jain.end(), [](double j) { return j >= 0.95; });
    EXPECT_GE(static_cast<double>(fair) / static_cast<double>(jain.size()), 0.9);
  }
}

}  // namespace
}  // namespace tern::replay
