#include "cc/swift.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cc/congestion_control.h"
#include "cc/testing/cc_test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/units.h"

namespace tern {
namespace {

using cc_testing::CreateError;
using cc_testing::DebugVariable;
using cc_testing::MakeContext;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr double kMtu = 4096;  // CcContext's default mtu_bytes

// Creates `spec`, which must name swift, or fails the test.
std::unique_ptr<SwiftCc> MustCreate(std::string_view spec, const CcContext& context = CcContext{}) {
  std::unique_ptr<CongestionControl> cc = cc_testing::MustCreate(spec, context);
  if (cc == nullptr) return nullptr;
  EXPECT_EQ(cc->name(), "swift");
  return std::unique_ptr<SwiftCc>(static_cast<SwiftCc*>(cc.release()));
}

Time AtUs(double us) { return Time::FromPicoseconds(std::llround(us * 1e6)); }
Duration Us(double us) { return Duration::Picoseconds(std::llround(us * 1e6)); }

AckEvent Ack(double now_us, double rtt_us, uint32_t packets = 1) {
  AckEvent ack;
  ack.now = AtUs(now_us);
  ack.rtt = Us(rtt_us);
  ack.acked_packets = packets;
  ack.acked_bytes = packets * static_cast<uint32_t>(kMtu);
  return ack;
}

LossEvent Loss(double now_us, LossCause cause) {
  LossEvent loss;
  loss.now = AtUs(now_us);
  loss.cause = cause;
  loss.lost_packets = 1;
  loss.lost_bytes = static_cast<uint32_t>(kMtu);
  return loss;
}

// §3.5's flow-scaling term in us, written out from the paper's formula.
double PaperFsUs(double cwnd, double range_us, double fs_min_cwnd, double fs_max_cwnd) {
  const double alpha = range_us / (1 / std::sqrt(fs_min_cwnd) - 1 / std::sqrt(fs_max_cwnd));
  const double beta = -alpha / std::sqrt(fs_max_cwnd);
  return std::clamp(alpha / std::sqrt(cwnd) + beta, 0.0, range_us);
}

// Alg. 1's multiplicative-decrease factor.
double PaperMdFactor(double delay, double target, double beta, double max_mdf) {
  return std::max(1 - beta * (delay - target) / delay, 1 - max_mdf);
}

// A fixed target of 10 us (no hop or flow scaling) for the AIMD tests.
constexpr std::string_view kFlat = "swift:base_target=10,flow_scaling=false";

// --- Creation and defaults ---------------------------------------------------

TEST(SwiftCcTest, DefaultsCreateWithBdpWindowAndNoPacing) {
  // 400 Gb/s x 8 us = 400000 bytes = 97.65625 packets of 4096.
  auto cc = MustCreate("swift");
  ASSERT_NE(cc, nullptr);
  EXPECT_DOUBLE_EQ(cc->cwnd_packets(), 400000.0 / kMtu);
  EXPECT_EQ(cc->window_bytes(), 400000u);
  EXPECT_TRUE(cc->pacing_rate().IsUnlimited());
  EXPECT_FALSE(cc->wants_telemetry());
  EXPECT_TRUE(ValidateCongestionControlSpec("swift").ok());
}

TEST(SwiftCcTest, DefaultTargetIsBaseRttPlusTwoMicrosecondsPlusFlowScaling) {
  // base_target = 8 + 2 = 10 us, fs_range = 5 x 10 = 50 us, no per-hop term.
  auto cc = MustCreate("swift");
  ASSERT_NE(cc, nullptr);
  const double fs = PaperFsUs(400000.0 / kMtu, 50, 0.1, 100);
  EXPECT_GT(fs, 0);
  EXPECT_NEAR(DebugVariable(*cc, "fs_us"), fs, 1e-6);
  EXPECT_NEAR(DebugVariable(*cc, "target_delay_us"), 10 + fs, 1e-6);
}

TEST(SwiftCcTest, DerivedBaseTargetFollowsTheContextBaseRtt) {
  auto cc = MustCreate("swift:flow_scaling=false",
                       MakeContext(Bandwidth::Gbps(400), Duration::Nanoseconds(12500)));
  ASSERT_NE(cc, nullptr);
  EXPECT_NEAR(DebugVariable(*cc, "target_delay_us"), 14.5, 1e-9);
}

TEST(SwiftCcTest, DerivedFsRangeIsFiveBaseTargets) {
  auto cc = MustCreate("swift:base_target=7,init_cwnd=1");
  ASSERT_NE(cc, nullptr);
  EXPECT_NEAR(DebugVariable(*cc, "fs_us"), PaperFsUs(1, 35, 0.1, 100), 1e-6);
}

TEST(SwiftCcTest, DerivedInitialWindowBelowOnePacketPacesAtLineRate) {
  // 1 Gb/s x 8 us = 1000 bytes: 0.244 packets, one packet every 32.768 us.
  auto cc = MustCreate("swift", MakeContext(Bandwidth::Gbps(1), Duration::Microseconds(8)));
  ASSERT_NE(cc, nullptr);
  EXPECT_DOUBLE_EQ(cc->cwnd_packets(), 1000.0 / kMtu);
  EXPECT_EQ(cc->window_bytes(), 4096u);
  EXPECT_NEAR(static_cast<double>(cc->pacing_rate().bits_per_second()), 1e9, 1);
}

TEST(SwiftCcTest, UnknownLineRateStartsAtOnePacketWithTheLargestCap) {
  auto cc = MustCreate("swift", MakeContext(Bandwidth::Unlimited(), Duration::Microseconds(8)));
  ASSERT_NE(cc, nullptr);
  EXPECT_DOUBLE_EQ(cc->cwnd_packets(), 1);
  // The derived cap is kSwiftMaxCwndPackets: init_cwnd just below it is accepted.
  EXPECT_NE(MustCreate("swift:init_cwnd=16777216",
                       MakeContext(Bandwidth::Unlimited(), Duration::Microseconds(8))),
            nullptr);
}

TEST(SwiftCcTest, InitCwndSetsTheWindowInPackets) {
  auto cc = MustCreate("swift:init_cwnd=7");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->window_bytes(), 7u * 4096u);
}

TEST(SwiftCcTest, DerivedMaxCwndIsFourWindowsAtTheBaseTarget) {
  // 4 x 400 Gb/s x 10 us / 4096 bytes = 488.28 packets.
  EXPECT_NE(MustCreate("swift:init_cwnd=488"), nullptr);
  EXPECT_THAT(CreateError("swift:init_cwnd=489"),
              AllOf(HasSubstr("init_cwnd=489"), HasSubstr("488.28"), HasSubstr("derived")));
}

// --- Flow and topology scaling (§3.5) ------------------------------------------

TEST(SwiftCcTest, FlowScalingFollowsAlphaOverSqrtCwndPlusBeta) {
  for (const int cwnd : {1, 4, 25, 99, 100, 400}) {
    auto cc = MustCreate("swift:base_target=10,fs_range=30,init_cwnd=" + std::to_string(cwnd));
    ASSERT_NE(cc, nullptr);
    const double fs = PaperFsUs(cwnd, 30, 0.1, 100);
    EXPECT_NEAR(DebugVariable(*cc, "fs_us"), fs, 1e-6) << "cwnd=" << cwnd;
    EXPECT_NEAR(DebugVariable(*cc, "target_delay_us"), 10 + fs, 1e-6) << "cwnd=" << cwnd;
  }
  // By construction: fs_range at fs_min_cwnd, 0 from fs_max_cwnd on.
  EXPECT_NEAR(PaperFsUs(0.1, 30, 0.1, 100), 30, 1e-9);
  EXPECT_EQ(PaperFsUs(400, 30, 0.1, 100), 0);
}

TEST(SwiftCcTest, FlowScalingAtFractionalWindowsIsClampedToItsRange) {
  // A timeout halves one packet to 0.5; retx_reset=1 resets to min_cwnd,
  // below fs_min_cwnd, where the term is capped at fs_range.
  auto half = MustCreate("swift:base_target=10,fs_range=30,init_cwnd=1");
  ASSERT_NE(half, nullptr);
  half->OnLoss(Loss(0, LossCause::kTimeout));
  ASSERT_DOUBLE_EQ(half->cwnd_packets(), 0.5);
  EXPECT_NEAR(DebugVariable(*half, "fs_us"), PaperFsUs(0.5, 30, 0.1, 100), 1e-6);

  auto floor = MustCreate("swift:base_target=10,fs_range=30,init_cwnd=1,retx_reset=1");
  ASSERT_NE(floor, nullptr);
  floor->OnLoss(Loss(0, LossCause::kTimeout));
  ASSERT_DOUBLE_EQ(floor->cwnd_packets(), 0.001);
  EXPECT_NEAR(DebugVariable(*floor, "fs_us"), 30, 1e-9);
}

TEST(SwiftCcTest, FsMinAndMaxCwndMoveTheScalingCurve) {
  auto cc =
      MustCreate("swift:base_target=10,fs_range=30,fs_min_cwnd=0.5,fs_max_cwnd=50,init_cwnd=4");
  ASSERT_NE(cc, nullptr);
  const double fs = PaperFsUs(4, 30, 0.5, 50);
  EXPECT_NE(fs, PaperFsUs(4, 30, 0.1, 100));
  EXPECT_NEAR(DebugVariable(*cc, "fs_us"), fs, 1e-6);
  EXPECT_EQ(
      DebugVariable(*MustCreate("swift:base_target=10,fs_range=30,fs_max_cwnd=50,init_cwnd=50"),
                    "fs_us"),
      0);
}

TEST(SwiftCcTest, FlowScalingOffGivesAFixedTarget) {
  auto cc = MustCreate("swift:base_target=10,fs_range=30,flow_scaling=false,init_cwnd=1");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(DebugVariable(*cc, "fs_us"), 0);
  EXPECT_NEAR(DebugVariable(*cc, "target_delay_us"), 10, 1e-9);
}

TEST(SwiftCcTest, PerHopScalesTheTargetWithTheHopsParameter) {
  auto five = MustCreate("swift:base_target=10,flow_scaling=false,per_hop=1.5");
  ASSERT_NE(five, nullptr);
  EXPECT_NEAR(DebugVariable(*five, "target_delay_us"), 10 + 5 * 1.5, 1e-9);  // default hops=5
  auto two = MustCreate("swift:base_target=10,flow_scaling=false,per_hop=1.5,hops=2");
  ASSERT_NE(two, nullptr);
  EXPECT_NEAR(DebugVariable(*two, "target_delay_us"), 13, 1e-9);
  // Without per_hop the hop count does not matter.
  EXPECT_NEAR(DebugVariable(*MustCreate("swift:base_target=10,flow_scaling=false,hops=200"),
                            "target_delay_us"),
              10, 1e-9);
}

TEST(SwiftCcTest, TelemetryHopCountOverridesTheParameter) {
  auto cc = MustCreate(
      "swift:base_target=10,flow_scaling=false,per_hop=2,hops=5,telemetry_hops=true,init_cwnd=10");
  ASSERT_NE(cc, nullptr);
  EXPECT_TRUE(cc->wants_telemetry());
  // 15 us: below the 20 us target of 5 hops, above the 12 us of one hop.
  Telemetry one_hop;
  one_hop.hops = 1;
  AckEvent ack = Ack(100, 15);
  ack.telemetry = &one_hop;
  cc->OnAck(ack);
  EXPECT_EQ(DebugVariable(*cc, "hops"), 1);
  EXPECT_NEAR(cc->cwnd_packets(), 10 * PaperMdFactor(15, 12, 0.8, 0.5), 1e-12);

  auto without = MustCreate("swift:base_target=10,flow_scaling=false,per_hop=2,init_cwnd=10");
  ASSERT_NE(without, nullptr);
  without->OnAck(Ack(100, 15));
  EXPECT_NEAR(without->cwnd_packets(), 10 + 1.0 / 10, 1e-12);
}

// Without telemetry the ACK's TTL gives the hop count; a TTL that shows no
// router (0 hops: a direct link, or switches that leave the TTL alone) and an
// unknown one fall back to the parameter.
TEST(SwiftCcTest, TheTtlHopCountReplacesTheParameterWhenItShowsRouters) {
  // 15 us: below the 20 us target of 5 hops, above the 12 us of one hop.
  auto cc = MustCreate("swift:base_target=10,flow_scaling=false,per_hop=2,hops=5,init_cwnd=10");
  ASSERT_NE(cc, nullptr);
  EXPECT_FALSE(cc->wants_telemetry());
  AckEvent ack = Ack(100, 15);
  ack.path_hops = 1;
  cc->OnAck(ack);
  EXPECT_EQ(DebugVariable(*cc, "hops"), 1);
  EXPECT_NEAR(cc->cwnd_packets(), 10 * PaperMdFactor(15, 12, 0.8, 0.5), 1e-12);

  for (int unknown : {0, -1}) {
    auto fallback =
        MustCreate("swift:base_target=10,flow_scaling=false,per_hop=2,hops=5,init_cwnd=10");
    ASSERT_NE(fallback, nullptr);
    AckEvent a = Ack(100, 15);
    a.path_hops = unknown;
    fallback->OnAck(a);
    EXPECT_EQ(DebugVariable(*fallback, "hops"), 5) << "path_hops " << unknown;
    EXPECT_NEAR(fallback->cwnd_packets(), 10 + 1.0 / 10, 1e-12) << "path_hops " << unknown;
  }

  // Telemetry, when asked for, outranks the TTL.
  auto both = MustCreate(
      "swift:base_target=10,flow_scaling=false,per_hop=2,hops=5,telemetry_hops=true,init_cwnd=10");
  ASSERT_NE(both, nullptr);
  Telemetry three;
  three.hops = 3;
  AckEvent t = Ack(100, 15);
  t.path_hops = 1;
  t.telemetry = &three;
  both->OnAck(t);
  EXPECT_EQ(DebugVariable(*both, "hops"), 3);
}

// --- Additive increase -------------------------------------------------------

TEST(SwiftCcTest, AdditiveIncreaseIsAiTimesAckedOverCwndPerAck) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=10");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(100, 9, 2));
  double expected = 10 + 1.0 * 2 / 10;
  EXPECT_NEAR(cc->cwnd_packets(), expected, 1e-12);
  cc->OnAck(Ack(101, 9, 3));
  expected += 1.0 * 3 / expected;
  EXPECT_NEAR(cc->cwnd_packets(), expected, 1e-12);
  EXPECT_EQ(DebugVariable(*cc, "decreases"), 0);
}

TEST(SwiftCcTest, AiScalesTheIncrease) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=10,ai=0.5");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(100, 9, 4));
  EXPECT_NEAR(cc->cwnd_packets(), 10 + 0.5 * 4 / 10, 1e-12);
}

TEST(SwiftCcTest, BelowOnePacketTheIncreaseIsAiPerAckedPacket) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=1,ai=0.25");
  ASSERT_NE(cc, nullptr);
  cc->OnLoss(Loss(0, LossCause::kTimeout));  // 1 -> 0.5
  ASSERT_DOUBLE_EQ(cc->cwnd_packets(), 0.5);
  cc->OnAck(Ack(100, 9));
  EXPECT_DOUBLE_EQ(cc->cwnd_packets(), 0.75);
  cc->OnAck(Ack(101, 9));
  EXPECT_DOUBLE_EQ(cc->cwnd_packets(), 1.0);
  cc->OnAck(Ack(102, 9));  // now at one packet: ai / cwnd
  EXPECT_DOUBLE_EQ(cc->cwnd_packets(), 1.25);
}

TEST(SwiftCcTest, AckWithoutRttSampleChangesNothing) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=10");
  ASSERT_NE(cc, nullptr);
  AckEvent ack = Ack(100, 0, 5);
  cc->OnAck(ack);
  EXPECT_EQ(cc->cwnd_packets(), 10);
  EXPECT_NEAR(DebugVariable(*cc, "last_delay_us"), 8, 1e-12);  // still the context's base RTT
}

TEST(SwiftCcTest, MaxCwndCapsTheIncrease) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=20,max_cwnd=20");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(100, 9, 10));
  EXPECT_EQ(cc->cwnd_packets(), 20);
  EXPECT_EQ(cc->window_bytes(), 20u * 4096u);
}

// --- Multiplicative decrease -------------------------------------------------

TEST(SwiftCcTest, DecreaseIsOneMinusBetaTimesOvershootOverDelay) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=100");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(100, 12));
  const double factor = 1 - 0.8 * (12.0 - 10.0) / 12.0;
  EXPECT_NEAR(cc->cwnd_packets(), 100 * factor, 1e-12);
  EXPECT_EQ(DebugVariable(*cc, "decreases"), 1);
  EXPECT_NEAR(DebugVariable(*cc, "last_delay_us"), 12, 1e-12);
}

TEST(SwiftCcTest, BetaScalesTheDecrease) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=100,beta=0.4");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(100, 12));
  EXPECT_NEAR(cc->cwnd_packets(), 100 * (1 - 0.4 * 2.0 / 12.0), 1e-12);
}

TEST(SwiftCcTest, DecreaseIsBoundedByMaxMdf) {
  // 100 us against 10: 1 - 0.8 x 0.9 = 0.28 would cut 72%; max_mdf caps it.
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=100");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(100, 100));
  EXPECT_NEAR(cc->cwnd_packets(), 50, 1e-12);

  auto gentle = MustCreate(std::string(kFlat) + ",init_cwnd=100,max_mdf=0.3");
  ASSERT_NE(gentle, nullptr);
  gentle->OnAck(Ack(100, 100));
  EXPECT_NEAR(gentle->cwnd_packets(), 70, 1e-12);
}

TEST(SwiftCcTest, DelayAtTheTargetNeitherIncreasesNorDecreases) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=10");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(100, 10));
  EXPECT_EQ(cc->cwnd_packets(), 10);
  EXPECT_EQ(DebugVariable(*cc, "decreases"), 0);
}

TEST(SwiftCcTest, DecreasesAtMostOncePerRtt) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=100");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(100, 12));
  double expected = 100 * PaperMdFactor(12, 10, 0.8, 0.5);
  ASSERT_NEAR(cc->cwnd_packets(), expected, 1e-12);
  cc->OnAck(Ack(111.999, 12));  // within 12 us of the cut: no second cut
  EXPECT_NEAR(cc->cwnd_packets(), expected, 1e-12);
  cc->OnAck(Ack(112, 12));  // one RTT later
  expected *= PaperMdFactor(12, 10, 0.8, 0.5);
  EXPECT_NEAR(cc->cwnd_packets(), expected, 1e-12);
  EXPECT_EQ(DebugVariable(*cc, "decreases"), 2);
}

TEST(SwiftCcTest, IncreasesInBetweenDoNotReopenTheDecreaseWindow) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=100");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(100, 12));
  double expected = 100 * PaperMdFactor(12, 10, 0.8, 0.5);
  cc->OnAck(Ack(105, 9));
  expected += 1 / expected;
  cc->OnAck(Ack(106, 20));  // still within 20 us of the cut
  EXPECT_NEAR(cc->cwnd_packets(), expected, 1e-12);
}

// --- Losses and timeouts -----------------------------------------------------

TEST(SwiftCcTest, DetectedLossAndTrimCutByMaxMdfOncePerRtt) {
  for (const LossCause cause : {LossCause::kDetected, LossCause::kTrimmed}) {
    auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=100,max_mdf=0.25");
    ASSERT_NE(cc, nullptr);
    cc->OnLoss(Loss(100, cause));
    EXPECT_NEAR(cc->cwnd_packets(), 75, 1e-12);
    cc->OnLoss(Loss(107, cause));  // the context's 8 us base RTT stands in for the RTT
    EXPECT_NEAR(cc->cwnd_packets(), 75, 1e-12);
    cc->OnLoss(Loss(108, cause));
    EXPECT_NEAR(cc->cwnd_packets(), 75 * 0.75, 1e-12);
  }
}

TEST(SwiftCcTest, LossUsesTheLastRttSampleForOncePerRtt) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=100");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(100, 30));  // a 30 us sample, and a cut at 100 us
  const double after_ack = 100 * PaperMdFactor(30, 10, 0.8, 0.5);
  cc->OnLoss(Loss(120, LossCause::kDetected));
  EXPECT_NEAR(cc->cwnd_packets(), after_ack, 1e-12);
  cc->OnLoss(Loss(130, LossCause::kDetected));
  EXPECT_NEAR(cc->cwnd_packets(), after_ack * 0.5, 1e-12);
}

TEST(SwiftCcTest, TimeoutsCutThenResetAfterRetxResetInARow) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=64,retx_reset=3");
  ASSERT_NE(cc, nullptr);
  cc->OnLoss(Loss(100, LossCause::kTimeout));
  EXPECT_NEAR(cc->cwnd_packets(), 32, 1e-12);
  cc->OnLoss(Loss(200, LossCause::kTimeout));
  EXPECT_NEAR(cc->cwnd_packets(), 16, 1e-12);
  EXPECT_EQ(DebugVariable(*cc, "retransmit_count"), 2);
  cc->OnLoss(Loss(300, LossCause::kTimeout));
  EXPECT_DOUBLE_EQ(cc->cwnd_packets(), 0.001);
  EXPECT_EQ(cc->window_bytes(), 4096u);
  EXPECT_EQ(DebugVariable(*cc, "decreases"), 3);
}

TEST(SwiftCcTest, ResetToMinCwndIgnoresTheOncePerRttRule) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=64,retx_reset=2");
  ASSERT_NE(cc, nullptr);
  cc->OnLoss(Loss(100, LossCause::kTimeout));
  cc->OnLoss(Loss(101, LossCause::kTimeout));  // within the RTT, but the second in a row
  EXPECT_DOUBLE_EQ(cc->cwnd_packets(), 0.001);
}

TEST(SwiftCcTest, TimeoutWithinTheRttCountsWithoutCutting) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=64");
  ASSERT_NE(cc, nullptr);
  cc->OnLoss(Loss(100, LossCause::kTimeout));
  cc->OnLoss(Loss(104, LossCause::kTimeout));
  EXPECT_NEAR(cc->cwnd_packets(), 32, 1e-12);
  EXPECT_EQ(DebugVariable(*cc, "retransmit_count"), 2);
}

TEST(SwiftCcTest, AckAndFastRecoveryEndARunOfTimeouts) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=64,retx_reset=3");
  ASSERT_NE(cc, nullptr);
  cc->OnLoss(Loss(100, LossCause::kTimeout));
  cc->OnLoss(Loss(200, LossCause::kTimeout));
  AckEvent no_sample;  // even an ACK without an RTT sample shows progress
  no_sample.now = AtUs(250);
  no_sample.acked_packets = 1;
  cc->OnAck(no_sample);
  EXPECT_EQ(DebugVariable(*cc, "retransmit_count"), 0);
  cc->OnLoss(Loss(300, LossCause::kTimeout));
  cc->OnLoss(Loss(400, LossCause::kTimeout));
  EXPECT_NEAR(cc->cwnd_packets(), 4, 1e-12);    // four halvings, no reset
  cc->OnLoss(Loss(500, LossCause::kDetected));  // fast recovery: 4 -> 2, count cleared
  EXPECT_EQ(DebugVariable(*cc, "retransmit_count"), 0);
  cc->OnLoss(Loss(600, LossCause::kTimeout));
  cc->OnLoss(Loss(700, LossCause::kTimeout));
  EXPECT_NEAR(cc->cwnd_packets(), 0.5, 1e-12);  // not the 0.001 of a reset
}

TEST(SwiftCcTest, MinCwndIsTheFloor) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=1,min_cwnd=0.25");
  ASSERT_NE(cc, nullptr);
  for (int i = 0; i < 10; ++i) cc->OnLoss(Loss(100.0 * (i + 1), LossCause::kDetected));
  EXPECT_DOUBLE_EQ(cc->cwnd_packets(), 0.25);
  EXPECT_EQ(DebugVariable(*cc, "decreases"), 2);  // 1 -> 0.5 -> 0.25, then at the floor
}

// --- Pacing below one packet (§3.4) --------------------------------------------

TEST(SwiftCcTest, BelowOnePacketPacesAtCwndTimesMtuPerRtt) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=1");
  ASSERT_NE(cc, nullptr);
  // 40 us against a 10 us target: max(1 - 0.8 x 30/40, 0.5) = 0.5.
  cc->OnAck(Ack(100, 40));
  ASSERT_DOUBLE_EQ(cc->cwnd_packets(), 0.5);
  EXPECT_EQ(cc->window_bytes(), 4096u);
  const double bits_per_second = 0.5 * kMtu * 8 / 40e-6;  // 409.6 Mb/s
  EXPECT_NEAR(static_cast<double>(cc->pacing_rate().bits_per_second()), bits_per_second, 1);
  EXPECT_NEAR(DebugVariable(*cc, "rate_gbps"), bits_per_second / 1e9, 1e-9);

  cc->OnAck(Ack(101, 9));  // back above one packet: unpaced, window in bytes
  EXPECT_DOUBLE_EQ(cc->cwnd_packets(), 1.5);
  EXPECT_TRUE(cc->pacing_rate().IsUnlimited());
  EXPECT_EQ(cc->window_bytes(), 6144u);
  EXPECT_EQ(DebugVariable(*cc, "rate_gbps"), 0);
}

TEST(SwiftCcTest, BeforeAnyRttSampleThePacingUsesTheContextBaseRtt) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=1,retx_reset=1");
  ASSERT_NE(cc, nullptr);
  cc->OnLoss(Loss(100, LossCause::kTimeout));
  ASSERT_DOUBLE_EQ(cc->cwnd_packets(), 0.001);
  EXPECT_NEAR(static_cast<double>(cc->pacing_rate().bits_per_second()), 0.001 * kMtu * 8 / 8e-6, 1);
}

TEST(SwiftCcTest, ZeroRttLeavesASubPacketWindowUnpaced) {
  auto cc = MustCreate("swift:base_target=10,init_cwnd=1,retx_reset=1",
                       MakeContext(Bandwidth::Gbps(400), Duration::Zero()));
  ASSERT_NE(cc, nullptr);
  cc->OnLoss(Loss(100, LossCause::kTimeout));
  EXPECT_TRUE(cc->pacing_rate().IsUnlimited());
  EXPECT_EQ(cc->window_bytes(), 4096u);
}

TEST(SwiftCcTest, WindowIsNeverBelowOnePacket) {
  for (const Bandwidth rate : {Bandwidth::Unlimited(), Bandwidth::Gbps(1), Bandwidth::Gbps(800)}) {
    for (const Duration rtt : {Duration::Zero(), Duration::Nanoseconds(1), Duration::Seconds(1)}) {
      for (const uint32_t mtu : {1u, 1500u, 4096u, 9000u}) {
        auto cc = MustCreate("swift:retx_reset=2", MakeContext(rate, rtt, mtu));
        ASSERT_NE(cc, nullptr);
        EXPECT_GE(cc->window_bytes(), mtu);
        for (int i = 0; i < 3; ++i) cc->OnLoss(Loss(1e7 * (i + 1), LossCause::kTimeout));
        EXPECT_GE(cc->window_bytes(), mtu);
        EXPECT_GT(cc->window_bytes(), 0u);
      }
    }
  }
}

// --- Parameters refused ------------------------------------------------------

TEST(SwiftCcTest, UnknownKeyIsRefusedWithTheValidKeys) {
  EXPECT_THAT(CreateError("swift:alpha=1"),
              AllOf(HasSubstr("unknown parameter \"alpha\""), HasSubstr("base_target"),
                    HasSubstr("retx_reset")));
}

TEST(SwiftCcTest, OutOfRangeValuesAreRefused) {
  EXPECT_THAT(CreateError("swift:beta=1.5"), HasSubstr("\"beta\""));
  EXPECT_THAT(CreateError("swift:max_mdf=0"), HasSubstr("\"max_mdf\""));
  EXPECT_THAT(CreateError("swift:max_mdf=1.01"), HasSubstr("\"max_mdf\""));
  EXPECT_THAT(CreateError("swift:ai=-1"), HasSubstr("\"ai\""));
  EXPECT_THAT(CreateError("swift:hops=256"), HasSubstr("\"hops\""));
  EXPECT_THAT(CreateError("swift:retx_reset=0"), HasSubstr("\"retx_reset\""));
  EXPECT_THAT(CreateError("swift:base_target=2000000"), HasSubstr("\"base_target\""));
  EXPECT_THAT(CreateError("swift:min_cwnd=0"), HasSubstr("\"min_cwnd\""));
  EXPECT_THAT(CreateError("swift:telemetry_hops=yes"), HasSubstr("\"telemetry_hops\""));
}

TEST(SwiftCcTest, FsMinCwndMustBeBelowFsMaxCwnd) {
  EXPECT_THAT(CreateError("swift:fs_min_cwnd=100,fs_max_cwnd=10"),
              AllOf(HasSubstr("fs_min_cwnd=100"), HasSubstr("fs_max_cwnd=10")));
  EXPECT_THAT(CreateError("swift:fs_min_cwnd=5,fs_max_cwnd=5"), HasSubstr("must be below"));
}

TEST(SwiftCcTest, MinCwndAboveMaxCwndIsRefused) {
  EXPECT_THAT(CreateError("swift:min_cwnd=4,max_cwnd=2"),
              AllOf(HasSubstr("min_cwnd=4"), HasSubstr("max_cwnd=2")));
}

TEST(SwiftCcTest, InitCwndOutsideTheBoundsIsRefused) {
  EXPECT_THAT(CreateError("swift:init_cwnd=1,min_cwnd=2"), HasSubstr("init_cwnd=1"));
  EXPECT_THAT(CreateError("swift:init_cwnd=30,max_cwnd=20"),
              AllOf(HasSubstr("init_cwnd=30"), HasSubstr("max_cwnd=20")));
}

// --- Debug variables and size --------------------------------------------------

TEST(SwiftCcTest, DebugStateListsWindowRateAndInternals) {
  auto cc = MustCreate(std::string(kFlat) + ",init_cwnd=10");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->DebugState(),
            "swift window=40960 rate_gbps=0 cwnd_packets=10 target_delay_us=10 last_delay_us=8 "
            "fs_us=0 decreases=0 retransmit_count=0 hops=5");
  cc->OnAck(Ack(100, 12));
  EXPECT_NEAR(DebugVariable(*cc, "cwnd_packets"), 10 * PaperMdFactor(12, 10, 0.8, 0.5), 1e-12);
  EXPECT_EQ(DebugVariable(*cc, "window"), static_cast<double>(cc->window_bytes()));
  EXPECT_EQ(DebugVariable(*cc, "decreases"), 1);
}

TEST(SwiftCcTest, StateIs120BytesOnLp64) {
  ::testing::Test::RecordProperty("sizeof_SwiftCc", static_cast<int>(sizeof(SwiftCc)));
  if constexpr (sizeof(void*) == 8) {
    EXPECT_EQ(sizeof(SwiftCc), 120u);
  }
  EXPECT_LE(sizeof(SwiftCc), 128u);
}

}  // namespace
}  // namespace tern
