#include "dataplane/sim/multipath_wire.h"

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/wire.h"

namespace tern::sim {
namespace {

using ::testing::HasSubstr;

Endpoint HostEndpoint(uint8_t host) {
  Endpoint e;
  e.mac.bytes = {0x02, 0, 0, 0, 0, host};
  e.ip = IpAddress::V4(0x0A000000u | host);
  return e;
}

// A sealed Tern SEND frame from host 1 to host 2 with this entropy and PSN.
Frame MakeDataFrame(uint16_t entropy, uint32_t psn, size_t payload = 256) {
  const size_t tern_len = sizeof(TernHeader) + sizeof(DataHeader) + payload;
  Frame frame(kMaxOuterHeaderBytes + tern_len);
  const size_t outer =
      EncodeFrameHeaders(frame.data(), HostEndpoint(1), HostEndpoint(2), entropy, tern_len);
  frame.resize(outer + tern_len);
  TernHeader th{};
  th.version = kTernVersion;
  th.type = static_cast<uint8_t>(PacketType::kData);
  th.psn.set(psn);
  DataHeader dh{};
  dh.opcode = static_cast<uint8_t>(DataOpcode::kSend);
  dh.payload_len.set(static_cast<uint16_t>(payload));
  std::memcpy(frame.data() + outer, &th, sizeof th);
  std::memcpy(frame.data() + outer + sizeof th, &dh, sizeof dh);
  SealTernChecksum(std::span<uint8_t>(frame).subspan(outer));
  return frame;
}

uint16_t EntropyOf(const Frame& frame) { return ParseFrameLayout(frame).src_port; }

struct Arrival {
  WirePort at;
  Time time;
  Frame frame;
};

// A wire with both ports connected to recorders.
class WireHarness {
 public:
  explicit WireHarness(const MultipathWireConfig& config) : wire_(sim_, config) {
    for (WirePort port : {WirePort::kA, WirePort::kB}) {
      wire_.Connect(port, [this, port](Frame f) {
        arrivals_.push_back(Arrival{port, sim_.now(), std::move(f)});
      });
    }
  }
  Simulator& sim() { return sim_; }
  MultipathWire& wire() { return wire_; }
  const std::vector<Arrival>& arrivals() const { return arrivals_; }
  size_t ArrivalsAt(WirePort port) const {
    size_t n = 0;
    for (const Arrival& a : arrivals_) n += a.at == port;
    return n;
  }

 private:
  Simulator sim_;
  std::vector<Arrival> arrivals_;
  MultipathWire wire_;
};

// --- Paths ------------------------------------------------------------------

TEST(MultipathWireTest, PathIsEntropyModuloPaths) {
  MultipathWireConfig config;
  config.paths = 8;
  WireHarness h(config);
  for (uint16_t k = 0; k < 32; ++k) {
    const Frame frame = MakeDataFrame(static_cast<uint16_t>(kEntropyPortBase + k), k);
    EXPECT_EQ(MultipathWire::PathOf(frame, 8), (kEntropyPortBase + k) % 8);
    h.wire().Send(WirePort::kA, frame);
  }
  h.sim().Run();
  for (uint16_t p = 0; p < 8; ++p) {
    EXPECT_EQ(h.wire().link(WirePort::kA, p).counters().frames_sent, 4u) << "path " << p;
    EXPECT_EQ(h.wire().link(WirePort::kB, p).counters().frames_sent, 0u) << "path " << p;
  }
  EXPECT_EQ(h.ArrivalsAt(WirePort::kB), 32u);
}

TEST(MultipathWireTest, FramesArriveAtTheOtherPort) {
  WireHarness h(MultipathWireConfig{});
  h.wire().Send(WirePort::kA, MakeDataFrame(kEntropyPortBase, 1));
  h.wire().Send(WirePort::kB, MakeDataFrame(kEntropyPortBase + 1, 2));
  h.sim().Run();
  ASSERT_EQ(h.arrivals().size(), 2u);
  EXPECT_EQ(h.ArrivalsAt(WirePort::kA), 1u);
  EXPECT_EQ(h.ArrivalsAt(WirePort::kB), 1u);
  EXPECT_EQ(h.wire().counters(WirePort::kA).frames_delivered, 1u);
  EXPECT_EQ(h.wire().counters(WirePort::kB).frames_delivered, 1u);
}

TEST(MultipathWireTest, UnparseableFramesTravelOnPathZero) {
  MultipathWireConfig config;
  config.paths = 4;
  WireHarness h(config);
  Frame arp(60, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  Frame garbage = {1, 2, 3};
  EXPECT_EQ(MultipathWire::PathOf(arp, 4), 0);
  h.wire().Send(WirePort::kA, arp);
  h.wire().Send(WirePort::kA, garbage);
  h.sim().Run();
  ASSERT_EQ(h.arrivals().size(), 2u);
  EXPECT_EQ(h.arrivals()[0].frame, arp);
  EXPECT_EQ(h.arrivals()[1].frame, garbage);
  EXPECT_EQ(h.wire().link(WirePort::kA, 0).counters().frames_sent, 2u);
}

TEST(MultipathWireTest, ReorderSpreadsPathDelaysEvenly) {
  MultipathWireConfig config;
  config.paths = 5;
  config.delay = Duration::Microseconds(2);
  config.reorder = Duration::Microseconds(4);
  WireHarness h(config);
  // One frame per path, highest path first: they arrive lowest path first.
  for (int p = 4; p >= 0; --p) {
    h.wire().Send(WirePort::kA, MakeDataFrame(static_cast<uint16_t>(kEntropyPortBase + p), 0));
  }
  h.sim().Run();
  ASSERT_EQ(h.arrivals().size(), 5u);
  const Duration serialization = config.rate.TransferTime(MakeDataFrame(0, 0).size());
  for (int p = 0; p < 5; ++p) {
    SCOPED_TRACE(testing::Message() << "path " << p);
    EXPECT_EQ(EntropyOf(h.arrivals()[p].frame) % 5, p);
    // Path p: 2 us + 4 us * p / 4.
    EXPECT_EQ(h.arrivals()[p].time, Time::Zero() + serialization + Duration::Microseconds(2 + p));
  }
}

TEST(MultipathWireTest, LargestReorderSpreadDoesNotOverflow) {
  MultipathWireConfig config = ParseWireSpec("paths=65535,reorder=1e9").value();
  Simulator sim;
  MultipathWire wire(sim, config);
  EXPECT_EQ(wire.link(WirePort::kA, 65534).config().delay, config.delay + Duration::Seconds(1000));
  EXPECT_EQ(wire.link(WirePort::kB, 1).config().delay,
            config.delay + Duration::Picoseconds(1'000'000'000'000'000 / 65534));
}

TEST(MultipathWireTest, SinglePathGetsNoSpread) {
  MultipathWireConfig config;
  config.paths = 1;
  config.rate = Bandwidth::Unlimited();
  config.reorder = Duration::Microseconds(10);
  WireHarness h(config);
  h.wire().Send(WirePort::kA, MakeDataFrame(kEntropyPortBase + 3, 0));
  h.sim().Run();
  ASSERT_EQ(h.arrivals().size(), 1u);
  EXPECT_EQ(h.arrivals()[0].time, Time::Zero() + config.delay);
}

TEST(MultipathWireTest, SprayingOverSpreadPathsReorders) {
  MultipathWireConfig config;
  config.paths = 4;
  config.reorder = Duration::Microseconds(3);
  WireHarness h(config);
  for (uint32_t i = 0; i < 64; ++i) {
    h.wire().Send(WirePort::kA, MakeDataFrame(static_cast<uint16_t>(kEntropyPortBase + i), i));
  }
  h.sim().Run();
  ASSERT_EQ(h.arrivals().size(), 64u);
  int inversions = 0;
  uint32_t last_psn = 0;
  for (const Arrival& a : h.arrivals()) {
    const FrameDecodeResult f = DecodeFrame(a.frame, kDefaultUdpPort);
    ASSERT_TRUE(f.ok());
    const uint32_t psn = DecodeTern(f.frame.tern, true).view.tern->psn.get();
    inversions += psn < last_psn;
    last_psn = psn;
  }
  EXPECT_GT(inversions, 0);
}

// --- Impairments --------------------------------------------------------------

TEST(MultipathWireTest, ImpairmentsApplyToBothDirections) {
  MultipathWireConfig config;
  config.loss = 1;
  WireHarness h(config);
  for (uint16_t k = 0; k < 16; ++k) {
    h.wire().Send(WirePort::kA, MakeDataFrame(static_cast<uint16_t>(kEntropyPortBase + k), k));
    h.wire().Send(WirePort::kB, MakeDataFrame(static_cast<uint16_t>(kEntropyPortBase + k), k));
  }
  h.sim().Run();
  EXPECT_TRUE(h.arrivals().empty());
  EXPECT_EQ(h.wire().counters(WirePort::kA).dropped_loss, 16u);
  EXPECT_EQ(h.wire().counters(WirePort::kB).dropped_loss, 16u);
  EXPECT_EQ(h.wire().counters().dropped_loss, 32u);
}

TEST(MultipathWireTest, ConfiguredBlackholeDropsOnePathBothWays) {
  MultipathWireConfig config;
  config.paths = 4;
  config.blackhole = 2;
  WireHarness h(config);
  for (uint16_t k = 0; k < 8; ++k) {
    h.wire().Send(WirePort::kA, MakeDataFrame(static_cast<uint16_t>(kEntropyPortBase + k), k));
    h.wire().Send(WirePort::kB, MakeDataFrame(static_cast<uint16_t>(kEntropyPortBase + k), k));
  }
  h.sim().Run();
  EXPECT_EQ(h.arrivals().size(), 12u);
  for (const Arrival& a : h.arrivals()) EXPECT_NE(EntropyOf(a.frame) % 4, 2);
  EXPECT_EQ(h.wire().link(WirePort::kA, 2).counters().dropped_blackhole, 2u);
  EXPECT_EQ(h.wire().link(WirePort::kB, 2).counters().dropped_blackhole, 2u);
}

TEST(MultipathWireTest, SetBlackholeMovesAndHealsAtRunTime) {
  MultipathWireConfig config;
  config.paths = 2;
  WireHarness h(config);
  const Frame on_path0 = MakeDataFrame(kEntropyPortBase, 0);
  const Frame on_path1 = MakeDataFrame(kEntropyPortBase + 1, 1);

  h.wire().SetBlackhole(1);
  h.wire().Send(WirePort::kA, on_path0);
  h.wire().Send(WirePort::kA, on_path1);
  h.sim().Run();
  EXPECT_EQ(h.arrivals().size(), 1u);

  h.wire().SetBlackhole(0);
  h.wire().Send(WirePort::kB, on_path0);
  h.wire().Send(WirePort::kB, on_path1);
  h.sim().Run();
  EXPECT_EQ(h.arrivals().size(), 2u);
  EXPECT_EQ(h.arrivals().back().frame, on_path1);

  h.wire().SetBlackhole(-1);
  h.wire().Send(WirePort::kA, on_path0);
  h.wire().Send(WirePort::kA, on_path1);
  h.sim().Run();
  EXPECT_EQ(h.arrivals().size(), 4u);
  EXPECT_EQ(h.wire().counters().dropped_blackhole, 2u);
}

TEST(MultipathWireTest, UnconnectedPortCountsItsDrops) {
  Simulator sim;
  MultipathWire wire(sim, MultipathWireConfig{});
  wire.Send(WirePort::kA, MakeDataFrame(kEntropyPortBase, 0));
  sim.Run();
  EXPECT_EQ(wire.unconnected_drops(), 1u);
  EXPECT_TRUE(wire.idle());
}

TEST(MultipathWireTest, CountersSumEveryPathLink) {
  MultipathWireConfig config;
  config.paths = 3;
  config.dup = 0.5;
  config.seed = 4;
  SCOPED_TRACE(testing::Message() << "seed=" << config.seed);
  WireHarness h(config);
  for (uint16_t k = 0; k < 30; ++k) {
    h.wire().Send(k % 2 ? WirePort::kA : WirePort::kB,
                  MakeDataFrame(static_cast<uint16_t>(kEntropyPortBase + k), k));
  }
  h.sim().Run();
  LinkCounters sum;
  for (WirePort port : {WirePort::kA, WirePort::kB}) {
    for (uint16_t p = 0; p < 3; ++p) sum += h.wire().link(port, p).counters();
  }
  EXPECT_EQ(sum.ToString(), h.wire().counters().ToString());
  EXPECT_EQ(h.wire().counters().frames_delivered, h.arrivals().size());
  EXPECT_EQ(h.arrivals().size(), 30 + sum.duplicated);
}

// Arrival trace of sprayed traffic both ways with every impairment on.
std::vector<std::tuple<int, int64_t, std::vector<uint8_t>>> ImpairedTrace(uint64_t seed) {
  MultipathWireConfig config;
  config.paths = 8;
  config.reorder = Duration::Microseconds(2);
  config.jitter = Duration::Microseconds(1);
  config.loss = 0.05;
  config.dup = 0.05;
  config.corrupt = 0.05;
  config.trim = 0.05;
  config.queue_bytes = 4000;
  config.ecn_threshold_bytes = 1000;
  config.seed = seed;
  WireHarness h(config);
  for (uint32_t i = 0; i < 1000; ++i) {
    h.sim().Schedule(Time::FromNanoseconds(i * 3), [&h, i] {
      const auto entropy = static_cast<uint16_t>(kEntropyPortBase + i * 7);
      h.wire().Send(i % 3 ? WirePort::kA : WirePort::kB, MakeDataFrame(entropy, i));
    });
  }
  h.sim().Run();
  EXPECT_TRUE(h.wire().idle());
  std::vector<std::tuple<int, int64_t, std::vector<uint8_t>>> trace;
  for (const Arrival& a : h.arrivals()) {
    trace.emplace_back(static_cast<int>(a.at), a.time.picoseconds(),
                       std::vector<uint8_t>(a.frame.begin(), a.frame.end()));
  }
  return trace;
}

TEST(MultipathWireTest, SameSeedGivesTheSameTrace) {
  const uint64_t seed = 12345;
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  const auto first = ImpairedTrace(seed);
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, ImpairedTrace(seed));
}

TEST(MultipathWireTest, DifferentSeedsGiveDifferentTraces) {
  EXPECT_NE(ImpairedTrace(1), ImpairedTrace(2));
}

TEST(MultipathWireTest, PathsDrawIndependentStreams) {
  // The same frames on two paths with loss 0.5 lose different frames.
  MultipathWireConfig config;
  config.paths = 2;
  config.loss = 0.5;
  config.rate = Bandwidth::Unlimited();
  config.seed = 9;
  SCOPED_TRACE(testing::Message() << "seed=" << config.seed);
  WireHarness h(config);
  for (uint32_t i = 0; i < 64; ++i) {
    h.wire().Send(WirePort::kA, MakeDataFrame(kEntropyPortBase, i));
    h.wire().Send(WirePort::kA, MakeDataFrame(kEntropyPortBase + 1, i));
  }
  h.sim().Run();
  std::vector<uint32_t> survivors[2];
  for (const Arrival& a : h.arrivals()) {
    const FrameDecodeResult f = DecodeFrame(a.frame, kDefaultUdpPort);
    survivors[f.frame.entropy % 2].push_back(DecodeTern(f.frame.tern, true).view.tern->psn.get());
  }
  EXPECT_NE(survivors[0], survivors[1]);
}

// --- ParseWireSpec --------------------------------------------------------------

TEST(ParseWireSpecTest, EmptyGivesDefaults) {
  const absl::StatusOr<MultipathWireConfig> config = ParseWireSpec("");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(*config, MultipathWireConfig{});
  EXPECT_EQ(config->paths, 8);
  EXPECT_EQ(config->rate, Bandwidth::Gbps(400));
  EXPECT_EQ(config->delay, Duration::Microseconds(2));
  EXPECT_EQ(config->blackhole, -1);
}

TEST(ParseWireSpecTest, AcceptsEveryKey) {
  const absl::StatusOr<MultipathWireConfig> config = ParseWireSpec(
      "loss=0.01,dup=0.002,corrupt=1e-4,trim=0.5,reorder=5,delay=1.5,jitter=0.25,rate=100,"
      "blackhole=3,paths=16,queue=65536,ecn=20000,seed=42");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_DOUBLE_EQ(config->loss, 0.01);
  EXPECT_DOUBLE_EQ(config->dup, 0.002);
  EXPECT_DOUBLE_EQ(config->corrupt, 1e-4);
  EXPECT_DOUBLE_EQ(config->trim, 0.5);
  EXPECT_EQ(config->reorder, Duration::Microseconds(5));
  EXPECT_EQ(config->delay, Duration::Nanoseconds(1500));
  EXPECT_EQ(config->jitter, Duration::Nanoseconds(250));
  EXPECT_EQ(config->rate, Bandwidth::Gbps(100));
  EXPECT_EQ(config->blackhole, 3);
  EXPECT_EQ(config->paths, 16);
  EXPECT_EQ(config->queue_bytes, 65536u);
  EXPECT_EQ(config->ecn_threshold_bytes, 20000u);
  EXPECT_EQ(config->seed, 42u);
}

TEST(ParseWireSpecTest, BlackholeIsCheckedAgainstPathsGivenLater) {
  EXPECT_TRUE(ParseWireSpec("blackhole=10,paths=16").ok());
  EXPECT_FALSE(ParseWireSpec("blackhole=10,paths=4").ok());
  EXPECT_FALSE(ParseWireSpec("blackhole=8").ok());  // default 8 paths: 0..7
}

TEST(ParseWireSpecTest, SkipsEmptyItems) {
  const absl::StatusOr<MultipathWireConfig> config = ParseWireSpec("loss=0.5,,paths=2,");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->paths, 2);
}

// Each bad spec is rejected with a message naming the key and the value.
struct BadSpec {
  const char* spec;
  const char* key;
  const char* value;
};

class ParseWireSpecRejectsTest : public testing::TestWithParam<BadSpec> {};

TEST_P(ParseWireSpecRejectsTest, WithAMessageNamingKeyAndValue) {
  const BadSpec& bad = GetParam();
  const absl::StatusOr<MultipathWireConfig> config = ParseWireSpec(bad.spec);
  ASSERT_FALSE(config.ok()) << bad.spec;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(config.status().message());
  EXPECT_THAT(message, HasSubstr(std::string("'") + bad.key + "'"));
  EXPECT_THAT(message, HasSubstr(std::string("'") + bad.value + "'"));
}

INSTANTIATE_TEST_SUITE_P(
    BadInputs, ParseWireSpecRejectsTest,
    testing::Values(BadSpec{"loss=1.5", "loss", "1.5"}, BadSpec{"dup=-0.1", "dup", "-0.1"},
                    BadSpec{"corrupt=abc", "corrupt", "abc"}, BadSpec{"trim=", "trim", ""},
                    BadSpec{"loss=nan", "loss", "nan"}, BadSpec{"loss=0.1x", "loss", "0.1x"},
                    BadSpec{"delay=-1", "delay", "-1"}, BadSpec{"reorder=inf", "reorder", "inf"},
                    BadSpec{"jitter=1e10", "jitter", "1e10"}, BadSpec{"rate=0", "rate", "0"},
                    BadSpec{"rate=-400", "rate", "-400"}, BadSpec{"paths=0", "paths", "0"},
                    BadSpec{"paths=65536", "paths", "65536"}, BadSpec{"paths=2.5", "paths", "2.5"},
                    BadSpec{"blackhole=-1", "blackhole", "-1"},
                    BadSpec{"paths=4,blackhole=4", "blackhole", "4"},
                    BadSpec{"queue=-5", "queue", "-5"}, BadSpec{"ecn=1k", "ecn", "1k"},
                    BadSpec{"seed=x", "seed", "x"}, BadSpec{"los=0.1", "los", "0.1"},
                    BadSpec{"loss=0.1,loss=0.2", "loss", "0.2"}));

TEST(ParseWireSpecTest, UnknownKeyListsTheValidKeys) {
  const absl::StatusOr<MultipathWireConfig> config = ParseWireSpec("bandwidth=100");
  ASSERT_FALSE(config.ok());
  const std::string message(config.status().message());
  for (const char* key : {"loss", "dup", "corrupt", "trim", "reorder", "delay", "jitter", "rate",
                          "blackhole", "paths", "queue", "ecn"}) {
    EXPECT_THAT(message, HasSubstr(key));
  }
}

TEST(ParseWireSpecTest, ItemWithoutEqualsIsRejected) {
  const absl::StatusOr<MultipathWireConfig> config = ParseWireSpec("loss");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("KEY=VALUE"));
  EXPECT_THAT(config.status().message(), HasSubstr("'loss'"));
}

TEST(ParseWireSpecTest, ToStringRoundTrips) {
  MultipathWireConfig config;
  config.paths = 12;
  config.rate = Bandwidth::Gbps(12.5);
  config.delay = Duration::Nanoseconds(1234);
  config.reorder = Duration::Picoseconds(7);
  config.jitter = Duration::Microseconds(3);
  config.loss = 0.1;
  config.dup = 1.0 / 3;
  config.corrupt = 1e-9;
  config.trim = 1;
  config.blackhole = 11;
  config.queue_bytes = 1 << 20;
  config.ecn_threshold_bytes = 12345;
  config.seed = 0xFFFFFFFFFFFFFFFFull;
  const std::string spec = ToString(config);
  SCOPED_TRACE(spec);
  const absl::StatusOr<MultipathWireConfig> back = ParseWireSpec(spec);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, config);
  EXPECT_EQ(ParseWireSpec(ToString(MultipathWireConfig{})).value(), MultipathWireConfig{});
}

TEST(ParseWireSpecTest, ToStringOfDefaultsIsReadable) {
  EXPECT_EQ(ToString(MultipathWireConfig{}),
            "paths=8,rate=400,delay=2,reorder=0,jitter=0,loss=0,dup=0,corrupt=0,trim=0,"
            "queue=0,ecn=0,seed=1");
}

TEST(ParseWireSpecTest, DescriptionMentionsEveryKey) {
  const std::string help = DescribeWireSpec();
  for (const char* key : {"loss=", "dup=", "corrupt=", "trim=", "reorder=", "delay=", "jitter=",
                          "rate=", "blackhole=", "paths=", "queue=", "ecn=", "seed="}) {
    EXPECT_THAT(help, HasSubstr(key));
  }
}

}  // namespace
}  // namespace tern::sim
