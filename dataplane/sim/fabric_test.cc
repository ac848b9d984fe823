#include "dataplane/sim/fabric.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/random.h"
#include "transport/text.h"
#include "transport/wire.h"

namespace tern::sim {
namespace {

using ::testing::HasSubstr;

// The default MTU frame, and the smallest Tern frame (an ACK).
constexpr size_t kFrameBytes = 4150;
constexpr size_t kAckBytes = 100;
constexpr uint16_t kEntropy = kEntropyPortBase;

// --- Configurations ---------------------------------------------------------

// A k=4 fat tree with all 16 hosts: switches s0..s7 are the edges (pod p's edge
// e is s(2p+e)), s8..s15 the aggregations (pod p's a is s(8+2p+a)), s16..s19
// the cores; aggregation a of every pod reaches cores s(16+2a) and s(17+2a).
// Host h hangs off edge s(h/2).
FabricConfig FatTree4(uint64_t seed = 1) {
  FabricConfig c;
  c.topology.kind = TopologyKind::kFatTree;
  c.topology.hosts = 16;
  c.topology.k = 4;
  c.seed = seed;
  return c;
}

FabricConfig StarOf(uint32_t hosts, uint64_t buffer_bytes) {
  FabricConfig c;
  c.topology.kind = TopologyKind::kStar;
  c.topology.hosts = hosts;
  c.buffer_bytes = buffer_bytes;
  c.seed = 1;
  return c;
}

constexpr uint32_t kFatTreeHosts = 16;
constexpr uint32_t EdgeOf(uint32_t pod, uint32_t e) { return kFatTreeHosts + 2 * pod + e; }
constexpr uint32_t AggOf(uint32_t pod, uint32_t a) { return kFatTreeHosts + 8 + 2 * pod + a; }
constexpr uint32_t CoreNode(uint32_t c) { return kFatTreeHosts + 16 + c; }

// --- Frames -----------------------------------------------------------------

// An Ethernet/IP/UDP frame of `frame_bytes` in all; the switches read only the
// outer headers, so the UDP payload is a tag identifying the frame.
Frame FrameBetween(const Endpoint& src, const Endpoint& dst, uint16_t entropy, size_t frame_bytes,
                   uint32_t tag = 0) {
  const size_t payload = frame_bytes - OuterHeaderBytes(src.ip.is_v6);
  Frame frame(kMaxOuterHeaderBytes + payload);
  const size_t outer = EncodeFrameHeaders(frame.data(), src, dst, entropy, payload);
  frame.resize(outer + payload);
  for (size_t i = 0; i < 4 && i < payload; ++i) {
    frame[outer + i] = static_cast<uint8_t>(tag >> (8 * i));
  }
  return frame;
}

// `frame` as it arrives after `switches` switches: each takes one off the
// TTL (and fixes the IPv4 checksum).
Frame AfterSwitches(Frame frame, uint32_t switches) {
  for (uint32_t i = 0; i < switches; ++i) EXPECT_TRUE(DecrementTtl(frame));
  return frame;
}

Frame HostFrame(uint32_t src, uint32_t dst, uint16_t entropy, size_t frame_bytes = kFrameBytes,
                uint32_t tag = 0) {
  return FrameBetween(Fabric::HostEndpoint(src, kDefaultUdpPort),
                      Fabric::HostEndpoint(dst, kDefaultUdpPort), entropy, frame_bytes, tag);
}

// --- Harness ----------------------------------------------------------------

struct Arrival {
  Time at;
  Frame frame;
};

// A fabric built from a config (failures included), every host attached to a
// recorder.
class FabricRig {
 public:
  explicit FabricRig(const FabricConfig& config) : rate_(config.topology.link_rate) {
    absl::StatusOr<Topology> topology = MakeTopology(config);
    if (!topology.ok()) {
      status_ = topology.status();
      return;
    }
    absl::StatusOr<std::unique_ptr<Fabric>> fabric =
        Fabric::Create(sim, *std::move(topology), config);
    if (!fabric.ok()) {
      status_ = fabric.status();
      return;
    }
    fabric_ = *std::move(fabric);
    arrivals_.resize(fabric_->hosts());
    for (uint32_t h = 0; h < fabric_->hosts(); ++h) {
      fabric_->AttachHost(h, [this, h](Frame frame) {
        arrivals_[h].push_back(Arrival{sim.now(), std::move(frame)});
      });
    }
  }
  FabricRig(const FabricRig&) = delete;
  FabricRig& operator=(const FabricRig&) = delete;

  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }
  Fabric& fabric() { return *fabric_; }
  const Fabric& fabric() const { return *fabric_; }
  const std::vector<Arrival>& arrivals(uint32_t host) const { return arrivals_[host]; }
  size_t total_arrivals() const {
    size_t n = 0;
    for (const auto& a : arrivals_) n += a.size();
    return n;
  }

  // Node id of switch index `s` ("sS").
  uint32_t Switch(uint32_t s) const { return fabric_->hosts() + s; }

  // The link leaving node `from` over its cable to `to`.
  const Link& LinkBetween(uint32_t from, uint32_t to) const {
    const Topology& t = fabric_->topology();
    for (uint32_t c = 0; c < t.cables.size(); ++c) {
      if ((t.cables[c].a == from && t.cables[c].b == to) ||
          (t.cables[c].a == to && t.cables[c].b == from)) {
        return fabric_->link(c, t.cables[c].a == from);
      }
    }
    ADD_FAILURE() << "no cable " << t.NodeName(from) << "-" << t.NodeName(to);
    return fabric_->link(0, true);
  }

  // Frames serialized by every link leaving `node`.
  uint64_t FramesSentFrom(uint32_t node) const {
    const Topology& t = fabric_->topology();
    uint64_t sent = 0;
    for (uint32_t c = 0; c < t.cables.size(); ++c) {
      if (t.cables[c].a == node) sent += fabric_->link(c, true).counters().frames_sent;
      if (t.cables[c].b == node) sent += fabric_->link(c, false).counters().frames_sent;
    }
    return sent;
  }

  PortReport Port(const std::string& name) const {
    for (PortReport& p : fabric_->Ports()) {
      if (p.name == name) return p;
    }
    ADD_FAILURE() << "no port " << name;
    return PortReport{};
  }

  void SendAt(Time at, uint32_t src, Frame frame) {
    sim.Schedule(at, [this, src, frame = std::move(frame)]() mutable {
      fabric_->SendFromHost(src, std::move(frame));
    });
  }

  // Host `src` sends `count` frames to `dst` back to back at the link rate,
  // the first at `start`: like a NIC, the next leaves when the previous one's
  // serialization ends.
  void SendBackToBack(uint32_t src, uint32_t dst, int count, Time start,
                      size_t frame_bytes = kFrameBytes) {
    nics_.push_back(std::make_unique<Nic>(Nic{this, src, dst, count, frame_bytes, 0}));
    Nic* nic = nics_.back().get();
    sim.Schedule(start, [nic] { nic->SendNext(); });
  }

  Bandwidth rate() const { return rate_; }

  Simulator sim;

 private:
  struct Nic {
    FabricRig* rig;
    uint32_t src;
    uint32_t dst;
    int left;
    size_t frame_bytes;
    uint32_t sent;
    void SendNext() {
      rig->fabric_->SendFromHost(
          src, HostFrame(src, dst, static_cast<uint16_t>(kEntropy + src), frame_bytes, sent++));
      if (--left > 0) {
        rig->sim.ScheduleAfter(rig->rate_.TransferTime(frame_bytes), [this] { SendNext(); });
      }
    }
  };

  Bandwidth rate_;
  absl::Status status_;
  std::vector<std::vector<Arrival>> arrivals_;
  std::vector<std::unique_ptr<Nic>> nics_;
  std::unique_ptr<Fabric> fabric_;  // destroyed first: its links hold events in `sim`
};

// Sends one frame from `src` to `dst` now and lets it cross the fabric.
void SendOne(FabricRig& rig, uint32_t src, uint32_t dst, uint16_t entropy,
             Duration settle = Duration::Microseconds(10)) {
  const Time now = rig.sim.now();
  rig.SendAt(now, src, HostFrame(src, dst, entropy, 256));
  rig.sim.RunUntil(now + settle);
}

// Which core of the k=4 fat tree a frame from `src` to `dst` (in another
// pod) with `entropy` crosses; -1 when none or several did.
int CoreTaken(FabricRig& rig, uint32_t src, uint32_t dst, uint16_t entropy) {
  std::array<uint64_t, 4> before;
  for (uint32_t c = 0; c < 4; ++c) before[c] = rig.FramesSentFrom(CoreNode(c));
  SendOne(rig, src, dst, entropy);
  int core = -1;
  for (uint32_t c = 0; c < 4; ++c) {
    const uint64_t delta = rig.FramesSentFrom(CoreNode(c)) - before[c];
    if (delta == 1 && core == -1) {
      core = static_cast<int>(c);
    } else if (delta != 0) {
      return -1;
    }
  }
  return core;
}

// Pearson's statistic of `counts` against a uniform spread.
double ChiSquareUniform(const std::vector<uint64_t>& counts) {
  double total = 0;
  for (uint64_t n : counts) total += static_cast<double>(n);
  const double expected = total / static_cast<double>(counts.size());
  double chi2 = 0;
  for (uint64_t n : counts) {
    const double d = static_cast<double>(n) - expected;
    chi2 += d * d / expected;
  }
  return chi2;
}

// Upper 0.1% points of the chi-square distribution (p = 0.001), by degrees of
// freedom.
constexpr double kChiSquare999Df1 = 10.828;
constexpr double kChiSquare999Df3 = 16.266;

// --- ParseFabricSpec --------------------------------------------------------

std::string SpecError(std::string_view spec) {
  absl::StatusOr<FabricConfig> c = ParseFabricSpec(spec);
  EXPECT_FALSE(c.ok()) << spec;
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(FabricSpecTest, EmptySpecGivesTheDefaults) {
  absl::StatusOr<FabricConfig> c = ParseFabricSpec("");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->topology.kind, TopologyKind::kFatTree);
  EXPECT_EQ(c->topology.hosts, 128u);
  EXPECT_EQ(c->topology.k, 0u);
  EXPECT_EQ(c->topology.leaves, 0u);
  EXPECT_EQ(c->topology.oversubscription, 1.0);
  EXPECT_EQ(c->topology.link_rate, Bandwidth::Gbps(400));
  EXPECT_EQ(c->topology.link_delay, Duration::Microseconds(1));
  EXPECT_EQ(c->mtu_frame_bytes, 4150u);
  EXPECT_EQ(c->buffer_bytes, 0u);
  EXPECT_FALSE(c->shared_buffer);
  EXPECT_TRUE(c->ecn);
  EXPECT_DOUBLE_EQ(c->ecn_kmin, 0.2);
  EXPECT_DOUBLE_EQ(c->ecn_kmax, 0.8);
  EXPECT_DOUBLE_EQ(c->ecn_pmax, 1.0);
  EXPECT_FALSE(c->trim);
  EXPECT_TRUE(c->failures.empty());
  EXPECT_EQ(c->seed, 0u);
  // Empty items are skipped.
  absl::StatusOr<FabricConfig> commas = ParseFabricSpec(",,hosts=4,");
  ASSERT_TRUE(commas.ok()) << commas.status();
  EXPECT_EQ(commas->topology.hosts, 4u);
}

TEST(FabricSpecTest, FractionalDelayRoundsToThePicosecond) {
  // 2.01 * 1e6 is 2009999.9999999998 in doubles; truncation gave 2'009'999 ps.
  absl::StatusOr<FabricConfig> c = ParseFabricSpec("delay=2.01");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->topology.link_delay, Duration::Picoseconds(2'010'000));
}

TEST(FabricSpecTest, AcceptsEveryKey) {
  absl::StatusOr<FabricConfig> c = ParseFabricSpec(
      "topology=leafspine,hosts=64,k=8,leaves=4,oversub=2,rate=100,delay=2.5,jitter=0.004,mtu=9000,"
      "buffer=200000,shared=1,ecn=0,kmin=0.1,kmax=0.5,pmax=0.3,trim=1,failover=1,"
      "fail=s0-s4@3:down,fail=h0-s0@4.5:loss=0.5,seed=42");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->topology.kind, TopologyKind::kLeafSpine);
  EXPECT_EQ(c->topology.hosts, 64u);
  EXPECT_EQ(c->topology.k, 8u);
  EXPECT_EQ(c->topology.leaves, 4u);
  EXPECT_EQ(c->topology.oversubscription, 2.0);
  EXPECT_EQ(c->topology.link_rate, Bandwidth::Gbps(100));
  EXPECT_EQ(c->topology.link_delay, Duration::Nanoseconds(2500));
  EXPECT_EQ(c->link_jitter, Duration::Nanoseconds(4));
  EXPECT_EQ(c->mtu_frame_bytes, 9000u);
  EXPECT_EQ(c->buffer_bytes, 200000u);
  EXPECT_TRUE(c->shared_buffer);
  EXPECT_FALSE(c->ecn);
  EXPECT_DOUBLE_EQ(c->ecn_kmin, 0.1);
  EXPECT_DOUBLE_EQ(c->ecn_kmax, 0.5);
  EXPECT_DOUBLE_EQ(c->ecn_pmax, 0.3);
  EXPECT_TRUE(c->trim);
  EXPECT_TRUE(c->failover);
  EXPECT_THAT(c->failures, ::testing::ElementsAre("s0-s4@3:down", "h0-s0@4.5:loss=0.5"));
  EXPECT_EQ(c->seed, 42u);

  absl::StatusOr<FabricConfig> star = ParseFabricSpec("topology=star,shared=true,ecn=on,trim=off");
  ASSERT_TRUE(star.ok()) << star.status();
  EXPECT_EQ(star->topology.kind, TopologyKind::kStar);
  EXPECT_TRUE(star->shared_buffer);
  EXPECT_TRUE(star->ecn);
  EXPECT_FALSE(star->trim);

  absl::StatusOr<FabricConfig> fattree = ParseFabricSpec("topology=fattree,buffer=0");
  ASSERT_TRUE(fattree.ok()) << fattree.status();
  EXPECT_EQ(fattree->topology.kind, TopologyKind::kFatTree);

  absl::StatusOr<FabricConfig> file = ParseFabricSpec("file=/tmp/fabric.topo");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->topology.kind, TopologyKind::kFile);
  EXPECT_EQ(file->topology.file, "/tmp/fabric.topo");
}

TEST(FabricSpecTest, UnknownKeyListsTheValidOnes) {
  const std::string error = SpecError("hosts=4,colour=red");
  EXPECT_THAT(error, HasSubstr("unknown key 'colour'"));
  const size_t valid = error.find("valid: ");
  ASSERT_NE(valid, std::string::npos) << error;
  std::set<std::string> listed;
  for (std::string_view key : SplitText(std::string_view(error).substr(valid + 7), ',')) {
    while (key.starts_with(' ')) key.remove_prefix(1);
    listed.emplace(key);
  }
  EXPECT_EQ(listed, (std::set<std::string>{
                        "topology", "file",   "hosts", "k",      "leaves",   "oversub", "rate",
                        "delay",    "jitter", "mtu",   "buffer", "shared",   "ecn",     "kmin",
                        "kmax",     "pmax",   "trim",  "int",    "failover", "fail",    "seed"}));
  EXPECT_THAT(SpecError("hosts"), HasSubstr("expected KEY=VALUE, got 'hosts'"));
}

TEST(FabricSpecTest, RejectsBadValues) {
  struct Case {
    const char* spec;
    const char* message;
  };
  const Case cases[] = {
      {"topology=ring", "topology=ring is invalid: star, leafspine or fattree"},
      {"file=", "file= is invalid: a topology file path"},
      {"hosts=abc", "hosts=abc is invalid: a whole number up to 2^20"},
      {"hosts=-4", "hosts=-4 is invalid"},
      {"k=2000000", "k=2000000 is invalid"},
      {"leaves=1.5", "leaves=1.5 is invalid"},
      {"oversub=0.5", "oversub=0.5 is invalid: in [1, 64]"},
      {"oversub=65", "oversub=65 is invalid"},
      {"rate=0", "rate=0 is invalid: Gb/s in (0, 100000]"},
      {"rate=1e6", "rate=1e6 is invalid"},
      {"rate=fast", "rate=fast is invalid"},
      {"delay=-1", "delay=-1 is invalid: microseconds in [0, 1e6]"},
      {"delay=nan", "delay=nan is invalid"},
      {"jitter=-0.001", "jitter=-0.001 is invalid: microseconds in [0, 1000]"},
      {"jitter=2000", "jitter=2000 is invalid"},
      {"mtu=100", "mtu=100 is invalid: frame bytes in [128, 10000]"},
      {"mtu=10001", "mtu=10001 is invalid"},
      {"buffer=1499", "buffer=1499 is invalid: bytes >= 1500 (0: one BDP)"},
      {"buffer=17179869185", "buffer=17179869185 is invalid"},
      {"shared=2", "shared=2 is invalid: 0 or 1"},
      {"ecn=yes", "ecn=yes is invalid: 0 or 1"},
      {"trim=", "trim= is invalid: 0 or 1"},
      {"kmin=1.5", "kmin=1.5 is invalid: in [0, 1]"},
      {"kmax=-0.1", "kmax=-0.1 is invalid"},
      {"pmax=2", "pmax=2 is invalid"},
      {"seed=-1", "seed=-1 is invalid: a whole number"},
      {"seed=0x10", "seed=0x10 is invalid"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.spec);
    EXPECT_THAT(SpecError(c.spec), HasSubstr(c.message));
  }
}

TEST(FabricSpecTest, RejectsAKeyGivenTwiceButAllowsRepeatedFailures) {
  EXPECT_THAT(SpecError("hosts=4,rate=100,hosts=8"), HasSubstr("hosts given twice"));
  EXPECT_THAT(SpecError("ecn=1,ecn=1"), HasSubstr("ecn given twice"));
  absl::StatusOr<FabricConfig> c = ParseFabricSpec("fail=s0-s8@1:down,fail=s0-s8@2:down");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->failures.size(), 2u);
}

TEST(FabricSpecTest, RejectsKminAboveKmax) {
  EXPECT_THAT(SpecError("kmin=0.6,kmax=0.5"), HasSubstr("kmin must not exceed kmax"));
  // Against the default kmax (0.8) too, in either order of keys.
  EXPECT_THAT(SpecError("kmin=0.9"), HasSubstr("kmin must not exceed kmax"));
  EXPECT_THAT(SpecError("kmax=0.1"), HasSubstr("kmin must not exceed kmax"));
  EXPECT_TRUE(ParseFabricSpec("kmax=0.5,kmin=0.5").ok());
}

TEST(FabricSpecTest, MalformedFailuresFailWhenTheTopologyIsMade) {
  struct Case {
    const char* fail;
    const char* message;
  };
  const Case cases[] = {
      {"", "malformed"},
      {"s8-s16:down", "malformed"},
      {"s8-s16@5", "malformed"},
      {"s8@5:down", "expected two node names joined by '-'"},
      {"s8-s16-s17@5:down", "expected two node names joined by '-'"},
      {"s8-s20@5:down", "unknown node"},  // k=4 has s0..s19
      {"h16-s7@5:down", "unknown node"},  // 16 hosts: h0..h15
      {"x8-s16@5:down", "unknown node"},
      {"s-s16@5:down", "unknown node"},
      {"s0-s1@5:down", "no link joins those nodes"},  // two edges
      {"s8-s16@-1:down", "bad time"},
      {"s8-s16@soon:down", "bad time"},
      {"s8-s16@5:melt", "unknown failure kind"},
      {"s8-s16@5:slow=0", "slow= needs a factor in (0, 1]"},
      {"s8-s16@5:slow=1.5", "slow= needs a factor in (0, 1]"},
      {"s8-s16@5:loss=1.1", "loss= needs a probability in [0, 1]"},
      {"s8-s16@5:loss=", "loss= needs a probability in [0, 1]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fail);
    absl::StatusOr<FabricConfig> config =
        ParseFabricSpec(absl::StrCat("topology=fattree,hosts=16,k=4,fail=", c.fail));
    ASSERT_TRUE(config.ok()) << config.status();  // parsed later, against the topology
    absl::StatusOr<Topology> t = MakeTopology(*config);
    ASSERT_FALSE(t.ok());
    EXPECT_THAT(t.status().message(), HasSubstr(absl::StrCat("fail=", c.fail, ": ")));
    EXPECT_THAT(t.status().message(), HasSubstr(c.message));
  }
  // Well-formed ones become the topology's failures, on the named cable.
  FabricConfig config = FatTree4();
  config.failures = {"s8-s16@5:down", "s16-s8@6:slow=0.5", "h3-s1@7.5:loss=0.25", "s8-s16@9:up"};
  absl::StatusOr<Topology> t = MakeTopology(config);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->failures.size(), 4u);
  EXPECT_EQ(t->failures[3].cable, t->failures[0].cable);
  EXPECT_EQ(t->failures[3].kind, CableFailure::Kind::kUp);
  EXPECT_EQ(t->failures[3].at, Time::Zero() + Duration::Microseconds(9));
  const Cable& agg_core = t->cables[t->failures[0].cable];
  EXPECT_EQ(t->NodeName(agg_core.a), "s8");
  EXPECT_EQ(t->NodeName(agg_core.b), "s16");
  EXPECT_EQ(t->failures[0].kind, CableFailure::Kind::kDown);
  EXPECT_EQ(t->failures[0].at, Time::Zero() + Duration::Microseconds(5));
  EXPECT_EQ(t->failures[1].cable, t->failures[0].cable);
  EXPECT_EQ(t->failures[1].kind, CableFailure::Kind::kSlow);
  EXPECT_DOUBLE_EQ(t->failures[1].value, 0.5);
  const Cable& host = t->cables[t->failures[2].cable];
  EXPECT_EQ(t->NodeName(host.a), "h3");
  EXPECT_EQ(t->NodeName(host.b), "s1");
  EXPECT_EQ(t->failures[2].kind, CableFailure::Kind::kLoss);
  EXPECT_EQ(t->failures[2].at, Time::Zero() + Duration::Nanoseconds(7500));
  EXPECT_DOUBLE_EQ(t->failures[2].value, 0.25);
}

// A topology file is read by the caller (apps/ does the I/O): without its
// text it is refused, rather than parsed as an empty file.
TEST(FabricSpecTest, TopologyFileWithoutItsTextIsRefused) {
  absl::StatusOr<FabricConfig> config = ParseFabricSpec("file=/some/f.topo");
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<Topology> t = MakeTopology(*config);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("/some/f.topo: a topology file's text"));
  EXPECT_TRUE(MakeTopology(*config, "hosts 2\nswitches 1\nlink h0 s0\nlink h1 s0\n").ok());
}

// A failure time past the picosecond clock's range (~9.2e12 us) once passed,
// and its conversion to picoseconds overflowed into a failure at the start.
TEST(FabricSpecTest, FailureTimesBeyondTheClockAreRejected) {
  FabricConfig config = FatTree4();
  config.failures = {"s8-s16@1e13:down"};
  absl::StatusOr<Topology> t = MakeTopology(config);
  EXPECT_FALSE(t.ok()) << "fails at " << t->failures[0].at.picoseconds() << " ps";
  absl::StatusOr<Topology> file =
      ParseTopology("hosts 2\nswitches 1\nlink h0 s0\nlink h1 s0\nfail h0 s0 1e13 down\n", "t.topo",
                    Bandwidth::Gbps(400), Duration::Microseconds(1));
  EXPECT_FALSE(file.ok()) << "fails at " << file->failures[0].at.picoseconds() << " ps";
}

// --- Delivery and routing ---------------------------------------------------

TEST(FabricRoutingTest, HostEndpointsAreDistinctAndNumberedFromTenDotOne) {
  EXPECT_EQ(Fabric::HostEndpoint(0, 7).ip, IpAddress::V4(0x0A000001));
  EXPECT_EQ(Fabric::HostEndpoint(15, 7).ip, IpAddress::V4(0x0A000010));
  EXPECT_EQ(Fabric::HostEndpoint(0x12345, 7).ip, IpAddress::V4(0x0A012346));
  EXPECT_EQ(Fabric::HostEndpoint(3, 4791).udp_port, 4791);
  std::set<std::array<uint8_t, 6>> macs;
  for (uint32_t h : {0u, 1u, 255u, 256u, 65536u, 0xFFFFFEu}) {
    const MacAddress mac = Fabric::HostEndpoint(h, 7).mac;
    EXPECT_EQ(mac.bytes[0] & 0x03, 0x02) << "unicast, locally administered";
    macs.insert(mac.bytes);
  }
  EXPECT_EQ(macs.size(), 6u);
}

TEST(FabricRoutingTest, EveryHostReachesEveryOtherOverTheTopologysHops) {
  FabricRig rig(FatTree4());
  ASSERT_TRUE(rig.ok()) << rig.status();
  const Fabric& fabric = rig.fabric();
  ASSERT_EQ(fabric.hosts(), 16u);
  uint32_t tag = 0;
  for (uint32_t src = 0; src < 16; ++src) {
    for (uint32_t dst = 0; dst < 16; ++dst) {
      if (src == dst) continue;
      SCOPED_TRACE(absl::StrCat("h", src, " -> h", dst));
      // Same edge switch: 0 switch-to-switch hops; same pod: up to an
      // aggregation and down; other pod: up to a core and down.
      const uint32_t hops = src / 2 == dst / 2 ? 0 : src / 4 == dst / 4 ? 2 : 4;
      ASSERT_EQ(fabric.routing().SwitchHops(src, dst), hops);

      const size_t arrived_before = rig.total_arrivals();
      const size_t dst_before = rig.arrivals(dst).size();
      const uint64_t switch_sent_before = fabric.SwitchPortTotals().frames_sent;
      const uint64_t switched_before = fabric.counters().switched_frames;
      const Time sent_at = rig.sim.now();
      const Frame frame = HostFrame(src, dst, static_cast<uint16_t>(kEntropy + tag), 1000, tag);
      ++tag;
      rig.fabric().SendFromHost(src, frame);
      rig.sim.Run();

      ASSERT_EQ(rig.total_arrivals(), arrived_before + 1);
      ASSERT_EQ(rig.arrivals(dst).size(), dst_before + 1);
      // Unchanged but for the TTL, which each of the hops + 1 switches takes
      // one off (and the IPv4 checksum that covers it).
      EXPECT_EQ(rig.arrivals(dst).back().frame, AfterSwitches(frame, hops + 1));
      const uint8_t ttl =
          rig.arrivals(dst).back().frame[sizeof(EthernetHeader) + offsetof(Ipv4Header, ttl)];
      EXPECT_EQ(HopsFromTtl(ttl), static_cast<int>(hops + 1));
      // One switch output port per switch on the path: hops + 1 switches.
      EXPECT_EQ(fabric.SwitchPortTotals().frames_sent - switch_sent_before, hops + 1);
      EXPECT_EQ(fabric.counters().switched_frames - switched_before, hops + 1);
      // hops + 2 links, each a propagation delay; every switch port
      // serializes the frame once.
      const PathInfo path = fabric.Path(src, dst);
      EXPECT_EQ(path.links, hops + 2);
      EXPECT_EQ(rig.arrivals(dst).back().at - sent_at,
                Duration::Microseconds(hops + 2) +
                    Bandwidth::Gbps(400).TransferTime(frame.size()) * (hops + 1));
    }
  }
  EXPECT_EQ(fabric.counters().no_route_drops, 0u);
  EXPECT_EQ(fabric.counters().ttl_expired_drops, 0u);
  EXPECT_EQ(fabric.counters().host_unattached_drops, 0u);
}

// h0 -> h15 crosses 5 switches: a frame must arrive with TTL >= 1 after them,
// so one sent with TTL 6 arrives and one sent with 5 is dropped at the fifth.
// Frames from a SimHost carry their route note; the others are read on entry.
TEST(FabricRoutingTest, FramesWhoseTtlRunsOutOnThePathAreDropped) {
  for (const bool noted : {false, true}) {
    SCOPED_TRACE(noted ? "route note from the host" : "headers read by the first switch");
    FabricRig rig(FatTree4());
    ASSERT_TRUE(rig.ok()) << rig.status();
    ASSERT_EQ(rig.fabric().routing().SwitchHops(0, 15), 4u);
    for (const uint8_t ttl : {uint8_t{6}, uint8_t{5}}) {
      Frame frame = AfterSwitches(HostFrame(0, 15, kEntropy, 500), kInitialTtl - ttl);
      if (noted) frame.route = ReadFabricRoute(frame);
      rig.fabric().SendFromHost(0, frame);
      rig.sim.Run();
    }
    ASSERT_EQ(rig.arrivals(15).size(), 1u);
    EXPECT_EQ(rig.arrivals(15)[0].frame[sizeof(EthernetHeader) + offsetof(Ipv4Header, ttl)], 1);
    EXPECT_EQ(rig.arrivals(15)[0].frame, AfterSwitches(HostFrame(0, 15, kEntropy, 500), 63));
    EXPECT_EQ(rig.fabric().counters().ttl_expired_drops, 1u);
  }
}

TEST(FabricRoutingTest, FramesToUnknownAddressesAndNonIpv4FramesAreDropped) {
  FabricRig rig(FatTree4());
  ASSERT_TRUE(rig.ok()) << rig.status();
  const Endpoint h0 = Fabric::HostEndpoint(0, kDefaultUdpPort);
  std::vector<Frame> frames;
  // 10.0.0.17 would be host 16; the fabric has 16 hosts.
  frames.push_back(FrameBetween(h0, Fabric::HostEndpoint(16, kDefaultUdpPort), kEntropy, 500));
  Endpoint nobody = h0;
  nobody.ip = IpAddress::V4(0x0A000000);  // 10.0.0.0: below host 0
  frames.push_back(FrameBetween(h0, nobody, kEntropy, 500));
  nobody.ip = IpAddress::V4(0xC0A80001);  // 192.168.0.1
  frames.push_back(FrameBetween(h0, nobody, kEntropy, 500));
  // IPv6, even with host 5's MAC.
  Endpoint v6_src = h0;
  Endpoint v6_dst = Fabric::HostEndpoint(5, kDefaultUdpPort);
  std::array<uint8_t, 16> a{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  v6_src.ip = IpAddress::V6(a);
  a[15] = 6;
  v6_dst.ip = IpAddress::V6(a);
  frames.push_back(FrameBetween(v6_src, v6_dst, kEntropy, 500));
  // ARP, a runt and an IPv4 header with options (IHL 6), each to host 5.
  Frame arp(60, 0);
  std::memcpy(arp.data(), v6_dst.mac.bytes.data(), 6);
  arp[12] = static_cast<uint8_t>(kEtherTypeArp >> 8);
  arp[13] = static_cast<uint8_t>(kEtherTypeArp);
  frames.push_back(arp);
  frames.push_back(Frame(10, 0xFF));
  Frame options = HostFrame(0, 5, kEntropy, 500);
  options[sizeof(EthernetHeader)] = 0x46;
  frames.push_back(options);

  for (Frame& f : frames) rig.fabric().SendFromHost(0, std::move(f));
  rig.sim.Run();
  EXPECT_EQ(rig.fabric().counters().no_route_drops, frames.size());
  EXPECT_EQ(rig.fabric().counters().switched_frames, 0u);
  EXPECT_EQ(rig.total_arrivals(), 0u);
  EXPECT_EQ(rig.fabric().SwitchPortTotals().frames_offered, 0u);
}

TEST(FabricRoutingTest, FramesForAnUnattachedHostAreCounted) {
  Simulator sim;
  FabricConfig config = StarOf(3, 0);
  absl::StatusOr<Topology> t = MakeTopology(config);
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<std::unique_ptr<Fabric>> fabric = Fabric::Create(sim, *t, config);
  ASSERT_TRUE(fabric.ok()) << fabric.status();
  (*fabric)->SendFromHost(0, HostFrame(0, 2, kEntropy));
  sim.Run();
  EXPECT_EQ((*fabric)->counters().host_unattached_drops, 1u);
  EXPECT_EQ((*fabric)->counters().switched_frames, 1u);
}

// --- ECMP -------------------------------------------------------------------

TEST(FabricEcmpTest, EntropiesSpreadEvenlyOverTheCores) {
  constexpr uint32_t kEntropies = 4096;
  constexpr uint32_t kSrc = 0;   // pod 0, edge s0
  constexpr uint32_t kDst = 15;  // pod 3
  for (uint64_t seed : {1, 7, 20240601}) {
    SCOPED_TRACE(absl::StrCat("fabric seed ", seed));
    FabricRig rig(FatTree4(seed));
    ASSERT_TRUE(rig.ok()) << rig.status();
    // 200 ns apart: far more than a 256-byte frame's 5.12 ns, so no queue.
    for (uint32_t i = 0; i < kEntropies; ++i) {
      rig.SendAt(Time::Zero() + Duration::Nanoseconds(200) * i, kSrc,
                 HostFrame(kSrc, kDst, static_cast<uint16_t>(kEntropyPortBase + i), 256, i));
    }
    rig.sim.Run();
    ASSERT_EQ(rig.arrivals(kDst).size(), kEntropies);
    EXPECT_EQ(rig.fabric().SwitchPortTotals().max_queue_bytes, 0u);

    std::vector<uint64_t> per_core;
    for (uint32_t c = 0; c < 4; ++c) per_core.push_back(rig.FramesSentFrom(CoreNode(c)));
    std::vector<uint64_t> per_uplink;
    for (uint32_t a = 0; a < 2; ++a) {
      per_uplink.push_back(rig.LinkBetween(EdgeOf(0, 0), AggOf(0, a)).counters().frames_sent);
    }
    SCOPED_TRACE(::testing::PrintToString(per_core));
    EXPECT_EQ(per_core[0] + per_core[1] + per_core[2] + per_core[3], kEntropies);
    EXPECT_EQ(per_uplink[0] + per_uplink[1], kEntropies);
    // Uniform over 4 cores: 3 degrees of freedom; over 2 uplinks: 1.
    EXPECT_LT(ChiSquareUniform(per_core), kChiSquare999Df3);
    EXPECT_LT(ChiSquareUniform(per_uplink), kChiSquare999Df1);
  }
}

TEST(FabricEcmpTest, OneEntropyAlwaysTakesOnePath) {
  constexpr uint64_t kSeed = 3;
  SCOPED_TRACE(absl::StrCat("fabric seed ", kSeed));
  for (uint16_t entropy : {uint16_t{0xC123}, uint16_t{0xC000}, uint16_t{0xFFFF}}) {
    SCOPED_TRACE(absl::StrCat("entropy ", entropy));
    FabricRig rig(FatTree4(kSeed));
    ASSERT_TRUE(rig.ok()) << rig.status();
    for (uint32_t i = 0; i < 100; ++i) {
      rig.SendAt(Time::Zero() + Duration::Nanoseconds(100) * i, 2,
                 HostFrame(2, 13, entropy, 1000, i));
    }
    rig.sim.Run();
    ASSERT_EQ(rig.arrivals(13).size(), 100u);
    for (uint32_t i = 0; i < 100; ++i) {
      // Edge, aggregation, core, aggregation, edge: 5 switches.
      EXPECT_EQ(rig.arrivals(13)[i].frame, AfterSwitches(HostFrame(2, 13, entropy, 1000, i), 5))
          << "in order";
    }
    int cores_used = 0;
    for (uint32_t c = 0; c < 4; ++c) {
      const uint64_t sent = rig.FramesSentFrom(CoreNode(c));
      EXPECT_TRUE(sent == 0 || sent == 100) << "core " << c << " carried " << sent;
      cores_used += sent > 0;
    }
    EXPECT_EQ(cores_used, 1);
  }
}

// --- Incast -----------------------------------------------------------------

// N hosts of a star start together, each sending F frames of S bytes back to
// back at the line rate R to host 0, whose port (rate R) drains one frame per
// S/R: every S/R, N frames arrive and one leaves. After the last round the
// fabric has taken N·F frames, sent F - 1 and is serializing one, so the queue
// peaks at (N - 1)·F frames: the (N-1)/N share of the N·F·S bytes offered that
// the port could not drain, less the frame in service.
TEST(FabricIncastTest, PeakQueueIsWhatTheSendersOutranTheReceiverPortBy) {
  constexpr uint32_t kSenders = 8;
  constexpr int kFramesEach = 40;
  FabricRig rig(StarOf(kSenders + 1, 16 << 20));
  ASSERT_TRUE(rig.ok()) << rig.status();
  for (uint32_t h = 1; h <= kSenders; ++h) rig.SendBackToBack(h, 0, kFramesEach, Time::Zero());
  rig.sim.Run();

  const PortReport port = rig.Port("s0->h0");
  const uint64_t expected = uint64_t{kSenders - 1} * kFramesEach * kFrameBytes;  // 1,162,000
  EXPECT_NEAR(static_cast<double>(port.counters.max_queue_bytes), static_cast<double>(expected),
              kFrameBytes);
  EXPECT_EQ(port.counters.frames_dropped(), 0u);
  // Arrivals find every occupancy from empty to the peak equally often, so
  // the median is half the peak (to two 64 KB histogram buckets).
  EXPECT_NEAR(static_cast<double>(port.queue_p50_bytes), static_cast<double>(expected) / 2,
              2.0 * (16 << 20) / 256);
  EXPECT_LE(port.queue_p50_bytes, port.queue_p99_bytes);
  ASSERT_EQ(rig.arrivals(0).size(), size_t{kSenders} * kFramesEach);
  // The port never idles once the first frame arrives (after one delay):
  // the last frame is delivered a second delay after N·F serializations.
  const Duration serialize = rig.rate().TransferTime(kFrameBytes);
  EXPECT_EQ(rig.arrivals(0).back().at,
            Time::Zero() + Duration::Microseconds(2) + serialize * (kSenders * kFramesEach));
  // Nothing queued anywhere else: the uplinks are the NICs' own pace.
  for (uint32_t h = 1; h <= kSenders; ++h) {
    EXPECT_EQ(rig.Port(absl::StrCat("h", h, "->s0")).counters.max_queue_bytes, 0u);
  }
}

// With a buffer of Q bytes the queue fills to Q, and from then on every round
// drops what does not fit: drops = (N - 1)·F·S - Q bytes, in frames.
TEST(FabricIncastTest, SmallBufferDropsWhatExceedsIt) {
  constexpr uint32_t kSenders = 4;
  constexpr int kFramesEach = 40;
  constexpr uint64_t kBufferFrames = 20;
  FabricRig rig(StarOf(kSenders + 1, kBufferFrames * kFrameBytes));
  ASSERT_TRUE(rig.ok()) << rig.status();
  ASSERT_EQ(rig.fabric().switch_port_config().queue_bytes, kBufferFrames * kFrameBytes);
  for (uint32_t h = 1; h <= kSenders; ++h) rig.SendBackToBack(h, 0, kFramesEach, Time::Zero());
  rig.sim.Run();

  const PortReport port = rig.Port("s0->h0");
  const uint64_t expected_drops = (kSenders - 1) * kFramesEach - kBufferFrames;  // 100
  EXPECT_NEAR(static_cast<double>(port.counters.dropped_queue_full),
              static_cast<double>(expected_drops), 1.0);
  EXPECT_EQ(port.counters.dropped_shared_buffer, 0u);
  EXPECT_EQ(port.counters.max_queue_bytes, kBufferFrames * kFrameBytes);
  EXPECT_EQ(rig.arrivals(0).size(),
            size_t{kSenders} * kFramesEach - port.counters.dropped_queue_full);
  EXPECT_EQ(rig.fabric().SwitchPortTotals().dropped_queue_full, port.counters.dropped_queue_full);
}

// --- ECN and buffer sizing ----------------------------------------------------

TEST(FabricEcnTest, ThresholdsAreFractionsOfThePortBuffer) {
  FabricConfig config = StarOf(4, 100000);
  config.ecn_kmin = 0.25;
  config.ecn_kmax = 0.75;
  config.ecn_pmax = 0.5;
  {
    FabricRig rig(config);
    ASSERT_TRUE(rig.ok()) << rig.status();
    const Fabric& fabric = rig.fabric();
    const LinkConfig& port = fabric.switch_port_config();
    EXPECT_EQ(fabric.buffer_bytes(), 100000u);
    EXPECT_EQ(port.queue_bytes, 100000u);
    EXPECT_EQ(port.ecn_kmin_bytes, 25000u);
    EXPECT_EQ(port.ecn_kmax_bytes, 75000u);
    EXPECT_DOUBLE_EQ(port.ecn_pmax, 0.5);
    EXPECT_DOUBLE_EQ(EcnMarkProbability(port, 25000), 0.0);
    EXPECT_DOUBLE_EQ(EcnMarkProbability(port, 50000), 0.25);
    EXPECT_DOUBLE_EQ(EcnMarkProbability(port, 75000), 1.0);
    // The switch's links carry that config; host uplinks do not mark.
    const Link& down = rig.LinkBetween(rig.Switch(0), 0);
    EXPECT_EQ(down.config().queue_bytes, 100000u);
    EXPECT_EQ(down.config().ecn_kmin_bytes, 25000u);
    EXPECT_EQ(down.config().ecn_kmax_bytes, 75000u);
    const Link& up = rig.LinkBetween(0, rig.Switch(0));
    EXPECT_EQ(up.config().ecn_kmax_bytes, 0u);
    EXPECT_TRUE(up.config().rate.IsUnlimited());
  }
  config.ecn = false;
  FabricRig rig(config);
  ASSERT_TRUE(rig.ok()) << rig.status();
  EXPECT_EQ(rig.fabric().switch_port_config().ecn_kmax_bytes, 0u);
  EXPECT_DOUBLE_EQ(EcnMarkProbability(rig.fabric().switch_port_config(), 99999), 0.0);
  EXPECT_EQ(rig.LinkBetween(rig.Switch(0), 0).config().ecn_kmax_bytes, 0u);
}

TEST(FabricEcnTest, MarksUnderIncastOnlyWhenEnabled) {
  for (bool ecn : {true, false}) {
    SCOPED_TRACE(ecn ? "ecn=1" : "ecn=0");
    FabricConfig config = StarOf(5, 1000000);  // kmin 200 KB, kmax 800 KB
    config.ecn = ecn;
    FabricRig rig(config);
    ASSERT_TRUE(rig.ok()) << rig.status();
    for (uint32_t h = 1; h <= 4; ++h) rig.SendBackToBack(h, 0, 60, Time::Zero());
    rig.sim.Run();
    const PortReport port = rig.Port("s0->h0");
    ASSERT_GT(port.counters.max_queue_bytes, 700000u);  // 3 x 60 frames queued at the peak
    uint64_t ce = 0;
    for (const Arrival& a : rig.arrivals(0)) {
      const FrameDecodeResult r = DecodeFrame(a.frame, kDefaultUdpPort);
      ASSERT_TRUE(r.ok());
      ce += r.frame.ecn == Ecn::kCe;
    }
    EXPECT_EQ(ce, port.counters.ecn_marked);
    if (ecn) {
      EXPECT_GT(port.counters.ecn_marked, 0u);
    } else {
      EXPECT_EQ(port.counters.ecn_marked, 0u);
    }
  }
}

TEST(FabricEcnTest, DefaultBufferIsOneBdpOfTheLongestPath) {
  absl::StatusOr<FabricConfig> config = ParseFabricSpec("topology=fattree,hosts=16,k=4");
  ASSERT_TRUE(config.ok()) << config.status();
  FabricRig rig(*config);
  ASSERT_TRUE(rig.ok()) << rig.status();
  // Longest path: 6 links (host, edge-agg, agg-core, core-agg, agg-edge,
  // host). RTT = 2 x 6 x 1 us + 6 x (4150 B + 100 B) at 400 Gb/s
  //     = 12 us + 6 x 83 ns + 6 x 2 ns = 12.51 us; x 400 Gb/s / 8 = 625,500 B.
  const Bandwidth rate = Bandwidth::Gbps(400);
  const Duration rtt =
      Duration::Microseconds(12) + rate.TransferTime(4150) * 6 + rate.TransferTime(100) * 6;
  ASSERT_EQ(rtt, Duration::Nanoseconds(12510));
  const uint64_t bdp = static_cast<uint64_t>(static_cast<Int128>(rtt.picoseconds()) *
                                             rate.bits_per_second() / 8 / 1'000'000'000'000);
  EXPECT_EQ(bdp, 625500u);
  EXPECT_EQ(rig.fabric().longest_base_rtt(), rtt);
  EXPECT_EQ(rig.fabric().buffer_bytes(), bdp);
  const LinkConfig& port = rig.fabric().switch_port_config();
  EXPECT_EQ(port.queue_bytes, bdp);
  EXPECT_EQ(port.ecn_kmin_bytes, 125100u);  // 0.2 x 625,500
  EXPECT_EQ(port.ecn_kmax_bytes, 500400u);  // 0.8 x 625,500

  // A buffer below two MTU frames is raised to two.
  FabricConfig tiny = FatTree4();
  tiny.buffer_bytes = 1500;
  FabricRig tiny_rig(tiny);
  ASSERT_TRUE(tiny_rig.ok()) << tiny_rig.status();
  EXPECT_EQ(tiny_rig.fabric().buffer_bytes(), 2 * 4150u);
}

// --- Failures -----------------------------------------------------------------

// s8 is pod 0's aggregation 0 and s16 core 0: a real agg-core cable.
constexpr const char* kAggCore = "s8-s16";
constexpr uint32_t kFailAtUs = 1000;

struct Probe {
  uint16_t entropy;
  bool crossed;    // went over the watched link
  bool delivered;  // reached its host
};

// Sends frames with entropies 0xC000 + i, one at a time, from `src` to `dst`,
// and records which crossed `watched` and which arrived.
std::vector<Probe> ProbeEntropies(FabricRig& rig, uint32_t src, uint32_t dst, const Link& watched,
                                  int count) {
  std::vector<Probe> probes;
  for (int i = 0; i < count; ++i) {
    const uint16_t entropy = static_cast<uint16_t>(kEntropyPortBase + i);
    const uint64_t sent = watched.counters().frames_sent;
    const size_t arrived = rig.arrivals(dst).size();
    SendOne(rig, src, dst, entropy);
    probes.push_back(Probe{entropy, watched.counters().frames_sent == sent + 1,
                           rig.arrivals(dst).size() == arrived + 1});
  }
  return probes;
}

// Probes host 0 -> host 15 (over s8->s16 or not) and back (over s16->s8 or
// not) before and after the failure of s8-s16 at kFailAtUs; `lost` says
// whether frames over the failed cable vanish after it.
void CheckFailureOnAggCore(const std::string& kind, bool lost,
                           uint64_t LinkCounters::*drop_counter) {
  FabricConfig config = FatTree4(5);
  config.failures = {absl::StrCat(kAggCore, "@", kFailAtUs, ":", kind)};
  SCOPED_TRACE(absl::StrCat(config.failures[0], ", fabric seed ", config.seed));
  FabricRig rig(config);
  ASSERT_TRUE(rig.ok()) << rig.status();
  const Link& up = rig.LinkBetween(AggOf(0, 0), CoreNode(0));  // s8 -> s16
  const Link& down = rig.LinkBetween(CoreNode(0), AggOf(0, 0));
  ASSERT_EQ(rig.fabric().topology().NodeName(AggOf(0, 0)), "s8");
  ASSERT_EQ(rig.fabric().topology().NodeName(CoreNode(0)), "s16");

  const Time fail_at = Time::Zero() + Duration::Microseconds(kFailAtUs);
  std::vector<Probe> before_up = ProbeEntropies(rig, 0, 15, up, 24);
  std::vector<Probe> before_down = ProbeEntropies(rig, 15, 0, down, 24);
  ASSERT_LT(rig.sim.now(), fail_at);
  int crossing_up = 0, crossing_down = 0;
  for (const Probe& p : before_up) {
    EXPECT_TRUE(p.delivered) << "before the failure, entropy " << p.entropy;
    crossing_up += p.crossed;
  }
  for (const Probe& p : before_down) {
    EXPECT_TRUE(p.delivered) << "before the failure, entropy " << p.entropy;
    crossing_down += p.crossed;
  }
  // Both directions have paths over the cable and paths around it.
  ASSERT_GT(crossing_up, 0);
  ASSERT_LT(crossing_up, 24);
  ASSERT_GT(crossing_down, 0);
  ASSERT_LT(crossing_down, 24);
  EXPECT_EQ(up.counters().*drop_counter, 0u);
  EXPECT_EQ(down.counters().*drop_counter, 0u);

  rig.sim.RunUntil(fail_at + Duration::Microseconds(1));
  const std::vector<Probe> after_up = ProbeEntropies(rig, 0, 15, up, 24);
  const std::vector<Probe> after_down = ProbeEntropies(rig, 15, 0, down, 24);
  for (int i = 0; i < 24; ++i) {
    SCOPED_TRACE(absl::StrCat("entropy ", after_up[i].entropy));
    // ECMP does not route around a failure: the same entropies cross it.
    EXPECT_EQ(after_up[i].crossed, before_up[i].crossed);
    EXPECT_EQ(after_down[i].crossed, before_down[i].crossed);
    EXPECT_EQ(after_up[i].delivered, !(lost && after_up[i].crossed));
    EXPECT_EQ(after_down[i].delivered, !(lost && after_down[i].crossed));
  }
  EXPECT_EQ(up.counters().*drop_counter, lost ? uint64_t(crossing_up) : 0u);
  EXPECT_EQ(down.counters().*drop_counter, lost ? uint64_t(crossing_down) : 0u);
}

TEST(FabricFailureTest, CableDownBlackHolesBothDirectionsFromItsTime) {
  CheckFailureOnAggCore("down", true, &LinkCounters::dropped_blackhole);
}

TEST(FabricFailureTest, LossOneDropsEverythingOnTheCableFromItsTime) {
  CheckFailureOnAggCore("loss=1", true, &LinkCounters::dropped_loss);
}

TEST(FabricFailureTest, SlowHalvesTheSwitchSideRatesFromItsTime) {
  FabricConfig config = FatTree4(5);
  config.failures = {absl::StrCat(kAggCore, "@", kFailAtUs, ":slow=0.5"),
                     absl::StrCat("h0-s0@", kFailAtUs, ":slow=0.5")};
  SCOPED_TRACE(absl::StrCat("fabric seed ", config.seed));
  FabricRig rig(config);
  ASSERT_TRUE(rig.ok()) << rig.status();
  const Link& up = rig.LinkBetween(AggOf(0, 0), CoreNode(0));
  const Link& down = rig.LinkBetween(CoreNode(0), AggOf(0, 0));
  const Link& to_host = rig.LinkBetween(EdgeOf(0, 0), 0);
  const Link& from_host = rig.LinkBetween(0, EdgeOf(0, 0));
  const Bandwidth full = Bandwidth::Gbps(400);
  const Bandwidth half = Bandwidth::Gbps(200);

  // An entropy whose path from host 0 to host 15 crosses s8 -> s16.
  std::vector<Probe> probes = ProbeEntropies(rig, 0, 15, up, 24);
  const auto it =
      std::find_if(probes.begin(), probes.end(), [](const Probe& p) { return p.crossed; });
  ASSERT_NE(it, probes.end());
  const uint16_t entropy = it->entropy;
  const auto latency = [&] {
    const Time start = rig.sim.now();
    SendOne(rig, 0, 15, entropy);
    EXPECT_FALSE(rig.arrivals(15).empty());
    return rig.arrivals(15).back().at - start;
  };

  const Duration before = latency();
  EXPECT_EQ(before, Duration::Microseconds(6) + full.TransferTime(256) * 5);
  EXPECT_EQ(up.config().rate, full);
  EXPECT_EQ(down.config().rate, full);
  EXPECT_EQ(to_host.config().rate, full);

  rig.sim.RunUntil(Time::Zero() + Duration::Microseconds(kFailAtUs) + Duration::Nanoseconds(1));
  EXPECT_EQ(up.config().rate, half);
  EXPECT_EQ(down.config().rate, half);
  EXPECT_EQ(to_host.config().rate, half);
  EXPECT_TRUE(from_host.config().rate.IsUnlimited()) << "the NIC keeps its own pace";
  // One of the five switch ports on the path now serializes at half rate.
  EXPECT_EQ(latency(), before + half.TransferTime(256) - full.TransferTime(256));
}

// With failover the aggregation switch s8, which sees its cable to s16 go down, hashes what it sent
// there over its other core links, so every frame from host 0 up to host 15 arrives. The core s16
// sees the failure too but has no other way into pod 0, and the other pods' switches do not see it:
// frames from host 15 that they hash via s16 are still lost.
TEST(FabricFailureTest, FailoverMovesTrafficOffAPortTheSwitchSeesDown) {
  FabricConfig config = FatTree4(5);
  config.failover = true;
  config.failures = {absl::StrCat(kAggCore, "@", kFailAtUs, ":down")};
  SCOPED_TRACE(absl::StrCat("fabric seed ", config.seed));
  FabricRig rig(config);
  ASSERT_TRUE(rig.ok()) << rig.status();
  const Link& up = rig.LinkBetween(AggOf(0, 0), CoreNode(0));
  const Link& down = rig.LinkBetween(CoreNode(0), AggOf(0, 0));
  const std::vector<Probe> before_up = ProbeEntropies(rig, 0, 15, up, 24);
  int crossing_up = 0;
  for (const Probe& p : before_up) crossing_up += p.crossed;
  ASSERT_GT(crossing_up, 0) << "no entropy hashed over s8 -> s16";
  EXPECT_EQ(rig.fabric().counters().failover_rehashed, 0u) << "nothing is down yet";

  rig.sim.RunUntil(Time::Zero() + Duration::Microseconds(kFailAtUs + 1));
  const std::vector<Probe> after_up = ProbeEntropies(rig, 0, 15, up, 24);
  const std::vector<Probe> after_down = ProbeEntropies(rig, 15, 0, down, 24);
  int lost_down = 0;
  for (int i = 0; i < 24; ++i) {
    SCOPED_TRACE(absl::StrCat("entropy ", after_up[i].entropy));
    EXPECT_TRUE(after_up[i].delivered);
    EXPECT_FALSE(after_up[i].crossed) << "sent onto the dead cable";
    lost_down += after_down[i].delivered ? 0 : 1;
  }
  EXPECT_EQ(rig.fabric().counters().failover_rehashed, uint64_t(crossing_up));
  EXPECT_GT(lost_down, 0) << "no frame from host 15 was hashed toward s16 by another pod";
  EXPECT_EQ(down.counters().dropped_blackhole, uint64_t(lost_down));
}

// A cable that went down, slow and lossy, then up, is as built again: every
// probe crosses or avoids it as before and arrives, at the full rate.
TEST(FabricFailureTest, UpRestoresACableAsBuilt) {
  FabricConfig config = FatTree4(5);
  const uint32_t up_at_us = kFailAtUs + 100;
  config.failures = {absl::StrCat(kAggCore, "@", kFailAtUs, ":down"),
                     absl::StrCat(kAggCore, "@", kFailAtUs, ":slow=0.5"),
                     absl::StrCat(kAggCore, "@", kFailAtUs, ":loss=0.5"),
                     absl::StrCat(kAggCore, "@", up_at_us, ":up")};
  SCOPED_TRACE(absl::StrCat("fabric seed ", config.seed));
  FabricRig rig(config);
  ASSERT_TRUE(rig.ok()) << rig.status();
  const Link& up = rig.LinkBetween(AggOf(0, 0), CoreNode(0));
  const Link& down = rig.LinkBetween(CoreNode(0), AggOf(0, 0));

  rig.sim.RunUntil(Time::Zero() + Duration::Microseconds(kFailAtUs + 1));
  EXPECT_TRUE(up.config().blackhole);
  EXPECT_EQ(up.config().rate, Bandwidth::Gbps(200));
  EXPECT_EQ(up.config().loss, 0.5);
  const std::vector<Probe> while_down = ProbeEntropies(rig, 0, 15, up, 24);
  int lost = 0;
  for (const Probe& p : while_down) lost += p.crossed && !p.delivered;
  ASSERT_GT(lost, 0) << "no probe crossed the failed cable";

  rig.sim.RunUntil(Time::Zero() + Duration::Microseconds(up_at_us + 1));
  for (const Link* link : {&up, &down}) {
    EXPECT_FALSE(link->config().blackhole);
    EXPECT_EQ(link->config().rate, Bandwidth::Gbps(400));
    EXPECT_EQ(link->config().loss, 0.0);
  }
  const std::vector<Probe> after_up = ProbeEntropies(rig, 0, 15, up, 24);
  const std::vector<Probe> after_down = ProbeEntropies(rig, 15, 0, down, 24);
  for (int i = 0; i < 24; ++i) {
    SCOPED_TRACE(absl::StrCat("entropy ", after_up[i].entropy));
    EXPECT_EQ(after_up[i].crossed, while_down[i].crossed);
    EXPECT_TRUE(after_up[i].delivered);
    EXPECT_TRUE(after_down[i].delivered);
  }
}

// --- Shared buffer ------------------------------------------------------------

// Hosts 1 and 2 each send 40 frames back to back to host 0 of a 5-port star:
// the queue for host 0 grows one frame per frame time. With a shared buffer of
// 5 x 4 frames it takes the whole pool (20 frames, more than a port's 4), so
// when host 3 then sends two frames at once to host 4, the first goes straight
// to the idle serializer and the second finds no shared space.
TEST(FabricSharedBufferTest, PortsShareBufferTimesPortsAndRefusalsAreCounted) {
  constexpr uint64_t kPortBuffer = 4 * kFrameBytes;
  for (bool shared : {true, false}) {
    SCOPED_TRACE(shared ? "shared=1" : "shared=0");
    FabricConfig config = StarOf(5, kPortBuffer);
    config.shared_buffer = shared;
    FabricRig rig(config);
    ASSERT_TRUE(rig.ok()) << rig.status();
    EXPECT_EQ(rig.fabric().buffer_bytes(), kPortBuffer);
    EXPECT_EQ(rig.fabric().switch_port_config().queue_bytes, shared ? 0 : kPortBuffer);
    rig.SendBackToBack(1, 0, 40, Time::Zero());
    rig.SendBackToBack(2, 0, 40, Time::Zero());
    // Half a frame time after round 30, when no other frame is moving.
    const Duration frame_time = rig.rate().TransferTime(kFrameBytes);
    const Time late = Time::Zero() + frame_time * 30 + frame_time / 2;
    rig.SendAt(late, 3, HostFrame(3, 4, kEntropy, kFrameBytes, 1));
    rig.SendAt(late, 3, HostFrame(3, 4, kEntropy, kFrameBytes, 2));
    rig.sim.Run();

    const PortReport incast = rig.Port("s0->h0");
    const PortReport other = rig.Port("s0->h4");
    EXPECT_EQ(other.counters.frames_offered, 2u);
    if (shared) {
      constexpr uint64_t kPoolFrames = 5 * 4;
      EXPECT_EQ(incast.counters.max_queue_bytes, kPoolFrames * kFrameBytes);
      EXPECT_NEAR(static_cast<double>(incast.counters.dropped_shared_buffer),
                  static_cast<double>(40 - kPoolFrames), 1.0);
      EXPECT_EQ(incast.counters.dropped_queue_full, 0u);
      EXPECT_EQ(other.counters.dropped_shared_buffer, 1u);
      EXPECT_EQ(other.counters.dropped_queue_full, 0u);
      ASSERT_EQ(rig.arrivals(4).size(), 1u);
      EXPECT_EQ(rig.arrivals(4)[0].frame,
                AfterSwitches(HostFrame(3, 4, kEntropy, kFrameBytes, 1), 1));
    } else {
      EXPECT_EQ(incast.counters.max_queue_bytes, kPortBuffer);
      EXPECT_NEAR(static_cast<double>(incast.counters.dropped_queue_full),
                  static_cast<double>(40 - 4), 1.0);
      EXPECT_EQ(incast.counters.dropped_shared_buffer, 0u);
      EXPECT_EQ(other.counters.frames_dropped(), 0u);
      EXPECT_EQ(rig.arrivals(4).size(), 2u);
    }
    EXPECT_EQ(rig.fabric().SwitchPortTotals().dropped_shared_buffer,
              incast.counters.dropped_shared_buffer + other.counters.dropped_shared_buffer);
  }
}

// --- Determinism ----------------------------------------------------------------

// Random traffic, mostly toward hosts 0 and 1 so queues build, ECN marks and
// drops happen; a lossy cable draws on link randomness too.
void RunRandomTraffic(FabricRig& rig, uint64_t traffic_seed) {
  Random random(traffic_seed);
  for (int i = 0; i < 3000; ++i) {
    const uint32_t src = 2 + static_cast<uint32_t>(random.Uniform(14));
    const uint32_t dst = random.Uniform(4) == 0 ? static_cast<uint32_t>(random.Uniform(16))
                                                : static_cast<uint32_t>(i % 2);
    if (dst == src) continue;
    const uint16_t entropy = static_cast<uint16_t>(kEntropyPortBase + random.Uniform(0x4000));
    const size_t bytes = 64 + random.Uniform(kFrameBytes - 64 + 1);
    const Time at = Time::Zero() + Duration::Picoseconds(static_cast<int64_t>(
                                       random.Uniform(Duration::Microseconds(20).picoseconds())));
    rig.SendAt(at, src, HostFrame(src, dst, entropy, bytes, static_cast<uint32_t>(i)));
  }
  rig.sim.Run();
}

FabricConfig DeterminismConfig(uint64_t seed) {
  FabricConfig config = FatTree4(seed);
  config.buffer_bytes = 100000;
  config.failures = {"s9-s18@5:loss=0.3"};
  return config;
}

TEST(FabricDeterminismTest, SameSeedAndTrafficGiveIdenticalCounters) {
  constexpr uint64_t kFabricSeed = 9;
  constexpr uint64_t kTrafficSeed = 12345;
  SCOPED_TRACE(absl::StrCat("fabric seed ", kFabricSeed, ", traffic seed ", kTrafficSeed));
  FabricRig a(DeterminismConfig(kFabricSeed));
  FabricRig b(DeterminismConfig(kFabricSeed));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  RunRandomTraffic(a, kTrafficSeed);
  RunRandomTraffic(b, kTrafficSeed);

  // The run exercised the random parts: ECN marks, drops, losses.
  const LinkCounters totals = a.fabric().SwitchPortTotals();
  ASSERT_GT(totals.ecn_marked, 0u) << totals.ToString();
  ASSERT_GT(totals.dropped_queue_full, 0u) << totals.ToString();
  ASSERT_GT(totals.dropped_loss, 0u) << totals.ToString();

  const std::vector<PortReport> pa = a.fabric().Ports();
  const std::vector<PortReport> pb = b.fabric().Ports();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    SCOPED_TRACE(pa[i].name);
    EXPECT_EQ(pa[i].name, pb[i].name);
    EXPECT_EQ(pa[i].counters.ToString(), pb[i].counters.ToString());
    EXPECT_EQ(pa[i].queue_p99_bytes, pb[i].queue_p99_bytes);
    EXPECT_EQ(pa[i].queue_samples, pb[i].queue_samples);
  }
  for (uint32_t h = 0; h < 16; ++h) {
    ASSERT_EQ(a.arrivals(h).size(), b.arrivals(h).size());
    for (size_t i = 0; i < a.arrivals(h).size(); ++i) {
      EXPECT_EQ(a.arrivals(h)[i].at, b.arrivals(h)[i].at);
      EXPECT_EQ(a.arrivals(h)[i].frame, b.arrivals(h)[i].frame);
    }
  }
}

TEST(FabricDeterminismTest, DifferentSeedsHashEntropiesDifferently) {
  constexpr uint64_t kSeedA = 9;
  constexpr uint64_t kSeedB = 10;
  SCOPED_TRACE(absl::StrCat("fabric seeds ", kSeedA, " and ", kSeedB));
  FabricRig a(FatTree4(kSeedA));
  FabricRig b(FatTree4(kSeedB));
  FabricRig a_again(FatTree4(kSeedA));
  ASSERT_TRUE(a.ok() && b.ok() && a_again.ok());
  int differ = 0;
  for (uint32_t i = 0; i < 32; ++i) {
    const uint16_t entropy = static_cast<uint16_t>(kEntropyPortBase + i);
    const int core_a = CoreTaken(a, 0, 15, entropy);
    const int core_b = CoreTaken(b, 0, 15, entropy);
    ASSERT_GE(core_a, 0);
    ASSERT_GE(core_b, 0);
    EXPECT_EQ(CoreTaken(a_again, 0, 15, entropy), core_a);
    differ += core_a != core_b;
  }
  // 32 independent 1-in-4 agreements: all agreeing has probability 2^-64.
  EXPECT_GT(differ, 0);
}

// --- Paths and base RTT -------------------------------------------------------

TEST(FabricPathTest, AcrossPodsIsSixLinksAndTheBaseRttAddsUp) {
  FabricRig rig(FatTree4());
  ASSERT_TRUE(rig.ok()) << rig.status();
  const Fabric& fabric = rig.fabric();
  const Bandwidth rate = Bandwidth::Gbps(400);

  const PathInfo path = fabric.Path(0, 15);
  EXPECT_EQ(path.links, 6u);
  EXPECT_EQ(path.propagation, Duration::Microseconds(6));
  EXPECT_EQ(path.bottleneck, rate);
  EXPECT_EQ(path.rates, std::vector<Bandwidth>(6, rate));
  EXPECT_EQ(path.ForwardingDelay(4150), rate.TransferTime(4150) * 5);

  const Duration rtt = fabric.BaseRtt(0, 15, 4150, 100);
  EXPECT_EQ(rtt,
            Duration::Microseconds(12) + rate.TransferTime(4150) * 5 + rate.TransferTime(100) * 6);
  EXPECT_EQ(rtt, Duration::Nanoseconds(12000 + 5 * 83 + 6 * 2));
  EXPECT_EQ(fabric.BaseRtt(15, 0, 4150, 100), rtt);

  EXPECT_EQ(fabric.Path(0, 1).links, 2u);  // same edge
  EXPECT_EQ(fabric.Path(0, 3).links, 4u);  // same pod
  EXPECT_EQ(fabric.BaseRtt(0, 1, 4150, 100),
            Duration::Microseconds(4) + rate.TransferTime(4150) + rate.TransferTime(100) * 2);

  // A lone frame takes exactly the one-way part: propagation plus the
  // store-and-forward of every switch port.
  rig.fabric().SendFromHost(0, HostFrame(0, 15, kEntropy, kFrameBytes));
  rig.sim.Run();
  ASSERT_EQ(rig.arrivals(15).size(), 1u);
  EXPECT_EQ(rig.arrivals(15)[0].at - Time::Zero(),
            path.propagation + path.ForwardingDelay(kFrameBytes));
}

// jitter=US delays each frame on each link by U[0, jitter): back-to-back
// frames across the pods arrive in order, each between the jitter-free time
// and that plus six links' jitter, and not all at the jitter-free spacing.
TEST(FabricPathTest, JitterDelaysFramesButKeepsThemInOrder) {
  FabricConfig config = FatTree4(7);
  config.link_jitter = Duration::Nanoseconds(20);
  FabricRig rig(config);
  ASSERT_TRUE(rig.ok()) << rig.status();
  const PathInfo path = rig.fabric().Path(0, 15);
  constexpr int kFrames = 64;
  rig.SendBackToBack(0, 15, kFrames, Time::Zero());
  rig.sim.Run();
  const std::vector<Arrival>& got = rig.arrivals(15);
  ASSERT_EQ(got.size(), static_cast<size_t>(kFrames)) << "seed 7";
  const Duration spacing = rig.rate().TransferTime(kFrameBytes);
  int off_schedule = 0;
  for (int i = 0; i < kFrames; ++i) {
    SCOPED_TRACE(testing::Message() << "frame " << i << ", seed 7");
    const Time unjittered =
        Time::Zero() + path.propagation + path.ForwardingDelay(kFrameBytes) + spacing * i;
    EXPECT_GE(got[i].at, unjittered);
    EXPECT_LE(got[i].at, unjittered + config.link_jitter * 6);
    if (i > 0) {
      EXPECT_GE(got[i].at, got[i - 1].at);
    }
    if (got[i].at != unjittered) ++off_schedule;
    // The tag is the send order.
    const size_t tag_at = got[i].frame.size() - (kFrameBytes - OuterHeaderBytes(false));
    EXPECT_EQ(got[i].frame[tag_at], static_cast<uint8_t>(i));
  }
  EXPECT_GT(off_schedule, kFrames / 2);
}

TEST(FabricPathTest, FollowsTheCableRatesOfAFileTopology) {
  // h0 - s0 at 100G, s0 - s1 at 50G with 3 us, s1 - h1 at the default.
  absl::StatusOr<Topology> t =
      ParseTopology("hosts 2\nswitches 2\nlink h0 s0 100\nlink s0 s1 50 3\nlink s1 h1\n", "t.topo",
                    Bandwidth::Gbps(400), Duration::Microseconds(1));
  ASSERT_TRUE(t.ok()) << t.status();
  Simulator sim;
  absl::StatusOr<std::unique_ptr<Fabric>> fabric = Fabric::Create(sim, *t, FabricConfig{});
  ASSERT_TRUE(fabric.ok()) << fabric.status();
  const PathInfo path = (*fabric)->Path(0, 1);
  EXPECT_EQ(path.links, 3u);
  EXPECT_EQ(path.propagation, Duration::Microseconds(5));
  EXPECT_EQ(path.bottleneck, Bandwidth::Gbps(50));
  EXPECT_EQ(path.rates, (std::vector<Bandwidth>{Bandwidth::Gbps(100), Bandwidth::Gbps(50),
                                                Bandwidth::Gbps(400)}));
  EXPECT_EQ(path.ForwardingDelay(1000),
            Bandwidth::Gbps(50).TransferTime(1000) + Bandwidth::Gbps(400).TransferTime(1000));
}

}  // namespace
}  // namespace tern::sim
