#include "cc/nscc.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
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

using cc_testing::DebugVariable;
using cc_testing::MakeContext;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Most tests run on the reference network of UEC section 3.6.13.3, where
// scaling_a = 1 and, with the default target of one base RTT, scaling_b = 1:
// 100 Gb/s x 12 us = 150000 bytes, MTU 4096.
constexpr double kMtu = 4096;
constexpr double kBdp = 150000;
constexpr double kBaseRttUs = 12;
constexpr double kMaxWindow = 1.5 * kBdp;  // 225000
constexpr double kPiBytes = 4 * kMtu;      // alpha x MTU x a x b = 16384
constexpr double kFiBytes = 5 * kMtu;      // fi x MTU x a = 20480
constexpr double kEtaBytes = 614;          // round(0.15 x 4096 x 1) = round(614.4)
constexpr double kTargetNs = 12000;        // 1 x base RTT

CcContext Reference() {
  return MakeContext(Bandwidth::Gbps(100), Duration::Microseconds(12), 4096);
}

std::unique_ptr<CongestionControl> MustCreate(std::string_view spec,
                                              const CcContext& context = Reference()) {
  return cc_testing::MustCreate(spec, context);
}

std::string CreateError(std::string_view spec, const CcContext& context = Reference()) {
  return cc_testing::CreateError(spec, context);
}

Time At(double us) { return Time::FromPicoseconds(std::llround(us * 1e6)); }

// An ACK at `t_us` of `bytes` whose packet saw an RTT of `rtt_us` (0 = no sample).
AckEvent Ack(double t_us, uint32_t bytes, double rtt_us, bool ecn = false, uint64_t in_flight = 0) {
  AckEvent ack;
  ack.now = At(t_us);
  ack.acked_bytes = bytes;
  ack.acked_packets = (bytes + 4095) / 4096;
  ack.ce_packets = ecn ? 1 : 0;
  ack.rtt = Duration::Picoseconds(std::llround(rtt_us * 1e6));
  ack.bytes_in_flight = in_flight;
  ack.entropy = 7;
  return ack;
}

LossEvent Loss(double t_us, LossCause cause, uint32_t bytes, uint64_t in_flight = 0) {
  LossEvent loss;
  loss.now = At(t_us);
  loss.cause = cause;
  loss.lost_bytes = bytes;
  loss.lost_packets = 1;
  loss.bytes_in_flight = in_flight;
  return loss;
}

// RTT samples for a queueing delay on the reference network.
double RttForDelay(double delay_us) { return kBaseRttUs + delay_us; }

// ---------------------------------------------------------------------------
// Creation and derivation from the context

TEST(NsccCcTest, NameIsNscc) {
  auto cc = MustCreate("nscc");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->name(), "nscc");
}

TEST(NsccCcTest, DefaultsDeriveFromTheDefaultContext) {
  // 400 Gb/s x 8 us = 400000 bytes; MaxWnd = 1.5 BDP; target = 1 base RTT.
  auto cc = MustCreate("nscc", CcContext{});
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->window_bytes(), 600000u);
  EXPECT_EQ(DebugVariable(*cc, "max_window"), 600000);
  EXPECT_EQ(DebugVariable(*cc, "target_delay_us"), 8);
  EXPECT_EQ(DebugVariable(*cc, "base_rtt_us"), 8);
  EXPECT_TRUE(cc->pacing_rate().IsUnlimited());
  EXPECT_TRUE(ValidateCongestionControlSpec("nscc").ok());
}

TEST(NsccCcTest, MaxWindowAndTargetDeriveFromLineRateAndBaseRtt) {
  auto cc = MustCreate("nscc");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(DebugVariable(*cc, "max_window"), kMaxWindow);
  EXPECT_EQ(cc->window_bytes(), kMaxWindow);  // the window opens at MaxWnd
  EXPECT_EQ(DebugVariable(*cc, "target_delay_us"), kBaseRttUs);
}

TEST(NsccCcTest, TargetQdelayRttsScalesTheDerivedTarget) {
  auto cc = MustCreate("nscc:target_qdelay_rtts=0.75");  // UEC's value with trimming
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(DebugVariable(*cc, "target_delay_us"), 0.75 * kBaseRttUs);
}

TEST(NsccCcTest, ExplicitTargetQdelayOverridesTheFraction) {
  auto cc = MustCreate("nscc:target_qdelay=20,target_qdelay_rtts=0.75");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(DebugVariable(*cc, "target_delay_us"), 20);
}

TEST(NsccCcTest, MaxBdpsScalesTheDerivedMaxWindow) {
  auto cc = MustCreate("nscc:max_bdps=2");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(DebugVariable(*cc, "max_window"), 2 * kBdp);
  EXPECT_EQ(cc->window_bytes(), 2 * kBdp);
}

TEST(NsccCcTest, ExplicitMaxWindowIsUsedAsGiven) {
  auto cc = MustCreate("nscc:max_window=50000");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(DebugVariable(*cc, "max_window"), 50000);
  EXPECT_EQ(cc->window_bytes(), 50000u);
}

TEST(NsccCcTest, InitWindowIsClampedToTheWindowRange) {
  auto mid = MustCreate("nscc:init_window=100000");
  auto high = MustCreate("nscc:init_window=1000000");
  auto low = MustCreate("nscc:init_window=10000,min_window=20000");
  ASSERT_NE(mid, nullptr);
  ASSERT_NE(high, nullptr);
  ASSERT_NE(low, nullptr);
  EXPECT_EQ(mid->window_bytes(), 100000u);
  EXPECT_EQ(high->window_bytes(), kMaxWindow);
  EXPECT_EQ(low->window_bytes(), 20000u);
}

// ---------------------------------------------------------------------------
// The four quadrants (UEC 3.6.13), each checked against its formula

TEST(NsccCcTest, FairIncreaseAddsFiBytesScaledByAckedOverWindow) {
  // No ECN, delay == target: inc = fi x acked, applied as inc / cwnd once more
  // than adjust_bytes (8 MTUs) are acknowledged.
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  const uint32_t acked = 40960;  // 10 MTUs: fulfills at once
  EXPECT_EQ(cc->OnAck(Ack(1, acked, RttForDelay(12))), PathAdvice::kKeep);
  const double expected = 100000 + std::floor(kFiBytes * acked / 100000);
  EXPECT_EQ(cc->window_bytes(), expected);  // 108388
  EXPECT_EQ(DebugVariable(*cc, "fi"), 1);
  EXPECT_EQ(DebugVariable(*cc, "pi"), 0);
}

TEST(NsccCcTest, FiParameterScalesTheFairIncrease) {
  auto cc = MustCreate("nscc:init_window=100000,fi=10");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 40960, RttForDelay(30)));
  EXPECT_EQ(cc->window_bytes(), 100000 + std::floor(2 * kFiBytes * 40960 / 100000));
}

TEST(NsccCcTest, ProportionalIncreaseScalesWithDistanceBelowTarget) {
  // No ECN, delay 3 us < 12 us: inc = pi x acked x (target - delay) / target.
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  const double acked = 40960;
  EXPECT_EQ(cc->OnAck(Ack(1, 40960, RttForDelay(3))), PathAdvice::kKeep);
  const double inc = kPiBytes * acked * (kTargetNs - 3000) / kTargetNs;
  EXPECT_EQ(cc->window_bytes(), 100000 + std::floor(inc / 100000));  // 105033
  EXPECT_EQ(DebugVariable(*cc, "pi"), 1);
  EXPECT_EQ(DebugVariable(*cc, "last_delay_us"), 3);
}

TEST(NsccCcTest, AlphaScalesTheProportionalIncrease) {
  auto cc = MustCreate("nscc:init_window=100000,alpha=8");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 40960, RttForDelay(3)));
  const double inc = 2 * kPiBytes * 40960 * (kTargetNs - 3000) / kTargetNs;
  EXPECT_EQ(cc->window_bytes(), 100000 + std::floor(inc / 100000));
}

TEST(NsccCcTest, ExplicitTargetChangesQuadrantAndScalingB) {
  // A 15 us delay is above the default 12 us target (fair increase) but below
  // a 20 us one, where proportional increase uses scaling_b = 20 / 12.
  auto cc = MustCreate("nscc:init_window=100000,target_qdelay=20");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 40960, RttForDelay(15)));
  const double pi = std::round(4 * kMtu * 1.0 * (20.0 / 12.0));  // 27307
  const double inc = pi * 40960 * (20000.0 - 15000.0) / 20000.0;
  EXPECT_EQ(cc->window_bytes(), 100000 + std::floor(inc / 100000));
  EXPECT_EQ(DebugVariable(*cc, "pi"), 1);
}

TEST(NsccCcTest, ProportionalIncreasePerRttIsBoundedByPiBytes) {
  // ACKs at 1.5 us worth about a window (27 x 4096, applied in three batches
  // of 9 MTUs): per window acknowledged the window grows by about
  // pi x (1 - 1.5/12) = 14336 bytes, a bit less as it grows, never more.
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  for (int i = 0; i < 27; ++i) cc->OnAck(Ack(1 + 0.4 * i, 4096, RttForDelay(1.5)));
  const double per_window =
      (static_cast<double>(cc->window_bytes()) - 100000) * 100000 / (27 * 4096);
  const double bound = kPiBytes * (kTargetNs - 1500) / kTargetNs;
  EXPECT_LE(per_window, bound);
  EXPECT_GT(per_window, 0.9 * bound);
}

TEST(NsccCcTest, MultiplicativeDecreaseIsProportionalToTheDelayExcess) {
  // delay_gain=1 makes the average the last sample: avg = 36 us.
  // cwnd x max(1 - gamma (avg - target) / avg, max_md_jump).
  auto cc = MustCreate("nscc:init_window=100000,gamma=0.5,delay_gain=1,qa_threshold=0");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->OnAck(Ack(1, 4096, RttForDelay(36), /*ecn=*/true)), PathAdvice::kKeep);
  const double factor = 1 - 0.5 * (36000.0 - kTargetNs) / 36000.0;
  EXPECT_EQ(cc->window_bytes(), std::floor(100000 * factor));  // 66666
  EXPECT_EQ(DebugVariable(*cc, "md"), 1);
  EXPECT_EQ(DebugVariable(*cc, "avg_delay_us"), 36);
}

TEST(NsccCcTest, MultiplicativeDecreaseWithDefaultGamma) {
  // gamma 0.8 is held in Q1.15 (26214 / 32768), within a byte here.
  auto cc = MustCreate("nscc:init_window=100000,delay_gain=1");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, RttForDelay(20), /*ecn=*/true));
  EXPECT_NEAR(static_cast<double>(cc->window_bytes()), 100000 * (1 - 0.8 * 8000.0 / 20000.0), 1);
}

TEST(NsccCcTest, MultiplicativeDecreaseHappensAtMostOncePerBaseRtt) {
  auto cc =
      MustCreate("nscc:init_window=100000,gamma=0.5,delay_gain=1,qa_threshold=0,adjust_period=255");
  ASSERT_NE(cc, nullptr);
  const double factor = 1 - 0.5 * (36000.0 - kTargetNs) / 36000.0;
  cc->OnAck(Ack(1, 4096, RttForDelay(36), true));
  const double after_first = std::floor(100000 * factor);
  ASSERT_EQ(cc->window_bytes(), after_first);
  cc->OnAck(Ack(5, 4096, RttForDelay(36), true));   // 4 us later
  cc->OnAck(Ack(13, 4096, RttForDelay(36), true));  // exactly one base RTT: not yet
  EXPECT_EQ(cc->window_bytes(), after_first);
  EXPECT_EQ(DebugVariable(*cc, "md"), 1);
  cc->OnAck(Ack(13.001, 4096, RttForDelay(36), true));  // more than one base RTT
  EXPECT_EQ(cc->window_bytes(), std::floor(after_first * factor));
  EXPECT_EQ(DebugVariable(*cc, "md"), 2);
}

TEST(NsccCcTest, MaxMdJumpBoundsOneDecrease) {
  // avg 1000 us: 1 - gamma x 988/1000 is far below the floor.
  auto halved = MustCreate("nscc:init_window=100000,gamma=1,delay_gain=1,qa_threshold=0");
  auto quartered =
      MustCreate("nscc:init_window=100000,gamma=1,delay_gain=1,qa_threshold=0,max_md_jump=0.25");
  ASSERT_NE(halved, nullptr);
  ASSERT_NE(quartered, nullptr);
  halved->OnAck(Ack(1, 4096, RttForDelay(1000), true));
  quartered->OnAck(Ack(1, 4096, RttForDelay(1000), true));
  EXPECT_EQ(halved->window_bytes(), 50000u);
  EXPECT_EQ(quartered->window_bytes(), 25000u);
}

TEST(NsccCcTest, MultiplicativeDecreaseWaitsForTheAverageDelayToExceedTheTarget) {
  // Default delay_gain 0.0125: one 36 us sample moves the average to 450 ns,
  // below the target, so the ECN, high-delay quadrant does not cut yet.
  auto cc = MustCreate("nscc:init_window=100000,qa_threshold=0");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, RttForDelay(36), true));
  EXPECT_EQ(cc->window_bytes(), 100000u);
  EXPECT_EQ(DebugVariable(*cc, "md"), 0);
  EXPECT_NEAR(DebugVariable(*cc, "avg_delay_us"), 36 * 410 / 32768.0, 1e-3);  // gain in Q1.15
}

TEST(NsccCcTest, DelayGainWeighsTheAverageTheDecreaseUses) {
  // delay_gain 0.5: avg = 18 us after one 36 us sample from 0.
  auto cc = MustCreate("nscc:init_window=100000,gamma=0.5,delay_gain=0.5,qa_threshold=0");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, RttForDelay(36), true));
  EXPECT_EQ(DebugVariable(*cc, "avg_delay_us"), 18);
  const double factor = 1 - 0.5 * (18000.0 - kTargetNs) / 18000.0;
  EXPECT_EQ(cc->window_bytes(), std::floor(100000 * factor));  // 83333
}

TEST(NsccCcTest, EcnAtLowDelayAvoidsThePathAndKeepsTheWindow) {
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->OnAck(Ack(1, 40960, RttForDelay(3), /*ecn=*/true)), PathAdvice::kAvoid);
  EXPECT_EQ(cc->window_bytes(), 100000u);
  EXPECT_EQ(DebugVariable(*cc, "path_changes"), 1);
  EXPECT_EQ(DebugVariable(*cc, "pi"), 0);
  EXPECT_EQ(DebugVariable(*cc, "md"), 0);
}

TEST(NsccCcTest, PathAdviceIsKeepInTheOtherThreeQuadrants) {
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->OnAck(Ack(1, 4096, RttForDelay(3))), PathAdvice::kKeep);         // PI
  EXPECT_EQ(cc->OnAck(Ack(2, 4096, RttForDelay(12))), PathAdvice::kKeep);        // FI
  EXPECT_EQ(cc->OnAck(Ack(3, 4096, RttForDelay(12), true)), PathAdvice::kKeep);  // MD
  EXPECT_EQ(cc->OnAck(Ack(4, 4096, RttForDelay(11.999), true)), PathAdvice::kAvoid);
  EXPECT_EQ(DebugVariable(*cc, "path_changes"), 1);
}

TEST(NsccCcTest, AckWithoutRttSampleIsJudgedByTheAverageDelay) {
  // The average is 0 at first: an ECN mark without a sample is low-delay.
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->OnAck(Ack(1, 4096, /*rtt_us=*/0, true)), PathAdvice::kAvoid);
  EXPECT_EQ(DebugVariable(*cc, "last_delay_us"), 0);
}

// ---------------------------------------------------------------------------
// Batched increase: adjust_bytes, adjust_period, eta

TEST(NsccCcTest, EtaIsAddedOncePerAdjustPeriod) {
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(0, 4096, RttForDelay(3), true));  // starts the clocks, no increase
  cc->OnAck(Ack(11.9, 4096, RttForDelay(3), true));
  EXPECT_EQ(cc->window_bytes(), 100000u);
  cc->OnAck(Ack(12, 4096, RttForDelay(3), true));  // one base RTT since the start
  EXPECT_EQ(cc->window_bytes(), 100000 + kEtaBytes);
  cc->OnAck(Ack(13, 4096, RttForDelay(3), true));  // not again within the period
  EXPECT_EQ(cc->window_bytes(), 100000 + kEtaBytes);
}

TEST(NsccCcTest, EtaParameterSetsTheAdditiveStep) {
  auto cc = MustCreate("nscc:init_window=100000,eta=1");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(0, 4096, RttForDelay(3), true));
  cc->OnAck(Ack(12, 4096, RttForDelay(3), true));
  EXPECT_EQ(cc->window_bytes(), 100000 + kMtu);
}

TEST(NsccCcTest, AdjustPeriodIsCountedInBaseRtts) {
  auto cc = MustCreate("nscc:init_window=100000,adjust_period=2");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(0, 4096, RttForDelay(3), true));
  cc->OnAck(Ack(12, 4096, RttForDelay(3), true));
  EXPECT_EQ(cc->window_bytes(), 100000u);
  cc->OnAck(Ack(24, 4096, RttForDelay(3), true));
  EXPECT_EQ(cc->window_bytes(), 100000 + kEtaBytes);
}

TEST(NsccCcTest, AdjustBytesDelaysTheIncreaseUntilEnoughIsAcked) {
  // 16 MTUs = 65536 bytes: the first 10-MTU ACK only accumulates.
  auto cc = MustCreate("nscc:init_window=100000,adjust_bytes=16");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 40960, RttForDelay(12)));
  EXPECT_EQ(cc->window_bytes(), 100000u);
  cc->OnAck(Ack(2, 40960, RttForDelay(12)));
  EXPECT_EQ(cc->window_bytes(), 100000 + std::floor(kFiBytes * 81920 / 100000));  // 116777
}

TEST(NsccCcTest, OnSendStartsTheAdjustClock) {
  auto sent = MustCreate("nscc:init_window=100000");
  auto silent = MustCreate("nscc:init_window=100000");
  ASSERT_NE(sent, nullptr);
  ASSERT_NE(silent, nullptr);
  SendEvent send;
  send.now = At(0);
  send.bytes = 4096;
  sent->OnSend(send);
  sent->OnAck(Ack(12, 4096, RttForDelay(3), true));
  silent->OnAck(Ack(12, 4096, RttForDelay(3), true));  // its clock starts here
  EXPECT_EQ(sent->window_bytes(), 100000 + kEtaBytes);
  EXPECT_EQ(silent->window_bytes(), 100000u);
}

// ---------------------------------------------------------------------------
// Fast increase (UEC 3.6.13.6)

TEST(NsccCcTest, FastIncreaseAfterAWindowAckedAtZeroDelay) {
  // No batched increase in this test: adjust_bytes and adjust_period at max.
  auto cc = MustCreate("nscc:init_window=100000,adjust_bytes=65535,adjust_period=255");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 40960, RttForDelay(0.5)));
  cc->OnAck(Ack(2, 40960, RttForDelay(0.5)));
  EXPECT_EQ(cc->window_bytes(), 100000u);  // 81920 bytes < one window so far
  EXPECT_EQ(DebugVariable(*cc, "fast_increase"), 0);
  cc->OnAck(Ack(3, 40960, RttForDelay(0.5)));  // 122880 > 100000
  EXPECT_EQ(cc->window_bytes(), 100000 + 0.25 * 40960);
  EXPECT_EQ(DebugVariable(*cc, "fast_increase"), 1);
  cc->OnAck(Ack(4, 40960, RttForDelay(0.5)));  // engaged: every ACK adds
  EXPECT_EQ(cc->window_bytes(), 100000 + 2 * 0.25 * 40960);
  cc->OnAck(Ack(5, 40960, RttForDelay(5)));  // delay is back: off
  EXPECT_EQ(cc->window_bytes(), 100000 + 2 * 0.25 * 40960);
  EXPECT_EQ(DebugVariable(*cc, "fast_increase"), 0);
}

TEST(NsccCcTest, FiScaleSetsTheFastIncreaseStep) {
  auto cc = MustCreate("nscc:init_window=100000,adjust_bytes=65535,adjust_period=255,fi_scale=0.5");
  ASSERT_NE(cc, nullptr);
  for (int i = 1; i <= 3; ++i) cc->OnAck(Ack(i, 40960, RttForDelay(0.5)));
  EXPECT_EQ(cc->window_bytes(), 100000 + 0.5 * 40960);
}

TEST(NsccCcTest, FastDelayZeroDisablesFastIncrease) {
  auto cc = MustCreate("nscc:init_window=100000,adjust_bytes=65535,adjust_period=255,fast_delay=0");
  ASSERT_NE(cc, nullptr);
  for (int i = 1; i <= 4; ++i) cc->OnAck(Ack(i, 40960, RttForDelay(0)));
  EXPECT_EQ(cc->window_bytes(), 100000u);
  EXPECT_EQ(DebugVariable(*cc, "fast_increase"), 0);
}

TEST(NsccCcTest, FastDelaySetsWhatCountsAsZeroDelay) {
  auto cc = MustCreate("nscc:init_window=100000,adjust_bytes=65535,adjust_period=255,fast_delay=2");
  ASSERT_NE(cc, nullptr);
  for (int i = 1; i <= 3; ++i) cc->OnAck(Ack(i, 40960, RttForDelay(1.5)));
  EXPECT_EQ(cc->window_bytes(), 100000 + 0.25 * 40960);
}

// ---------------------------------------------------------------------------
// Trims, losses, timeouts and QuickAdapt (UEC 3.6.13, 3.6.13.5)

TEST(NsccCcTest, TrimShrinksTheWindowByTheTrimmedBytes) {
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->OnLoss(Loss(1, LossCause::kTrimmed, 4096)), PathAdvice::kKeep);
  EXPECT_EQ(cc->window_bytes(), 100000u - 4096u);
  EXPECT_EQ(DebugVariable(*cc, "quick_adapts"), 0);
}

TEST(NsccCcTest, DetectedLossShrinksTheWindowByTheLostBytes) {
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->OnLoss(Loss(1, LossCause::kDetected, 8192)), PathAdvice::kKeep);
  EXPECT_EQ(cc->window_bytes(), 100000u - 8192u);
}

TEST(NsccCcTest, TrimAfterAPeriodOfLittleProgressQuickAdaptsToTheAckedBytes) {
  // The first feedback at 1 us starts the QuickAdapt period (base RTT +
  // target = 24 us). 12288 bytes are acked in it, below MaxWnd >> 3 = 28125.
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, RttForDelay(12)));
  for (double t : {5.0, 6.0, 7.0}) cc->OnAck(Ack(t, 4096, RttForDelay(12)));
  EXPECT_EQ(DebugVariable(*cc, "acked_this_rtt"), 12288);
  cc->OnLoss(Loss(25, LossCause::kTrimmed, 4096, /*in_flight=*/50000));
  EXPECT_EQ(cc->window_bytes(), 12288u);
  EXPECT_EQ(DebugVariable(*cc, "quick_adapts"), 1);
  EXPECT_EQ(DebugVariable(*cc, "acked_this_rtt"), 0);
  // Trims and marks of the 50000 bytes in flight at the QuickAdapt describe
  // the old queue: ignored.
  cc->OnLoss(Loss(26, LossCause::kTrimmed, 4096));
  cc->OnAck(Ack(27, 4096, RttForDelay(100), true));
  EXPECT_EQ(cc->window_bytes(), 12288u);
  EXPECT_EQ(DebugVariable(*cc, "quick_adapts"), 1);
}

TEST(NsccCcTest, TrimAfterAPeriodOfGoodProgressOnlyShrinks) {
  // 28672 bytes acked >= MaxWnd >> 3 = 28125: no QuickAdapt.
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, RttForDelay(12)));
  for (int i = 0; i < 7; ++i) cc->OnAck(Ack(2 + i, 4096, RttForDelay(12)));
  EXPECT_EQ(cc->window_bytes(), 100000u);  // 28672 <= adjust_bytes, before the period
  cc->OnLoss(Loss(25, LossCause::kTrimmed, 4096));
  EXPECT_EQ(cc->window_bytes(), 100000u - 4096u);
  EXPECT_EQ(DebugVariable(*cc, "quick_adapts"), 0);
}

TEST(NsccCcTest, QaGateSetsHowFarBelowMaxWindowTheAckedBytesMustBe) {
  // qa_gate=2: MaxWnd >> 2 = 56250, so 28672 acked bytes now qualify.
  auto cc = MustCreate("nscc:init_window=100000,qa_gate=2");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, RttForDelay(12)));
  for (int i = 0; i < 7; ++i) cc->OnAck(Ack(2 + i, 4096, RttForDelay(12)));
  cc->OnLoss(Loss(25, LossCause::kTrimmed, 4096));
  EXPECT_EQ(cc->window_bytes(), 28672u);
  EXPECT_EQ(DebugVariable(*cc, "quick_adapts"), 1);
}

TEST(NsccCcTest, TrimBeforeThePeriodEndsArmsQuickAdaptForItsEnd) {
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, RttForDelay(12)));
  cc->OnLoss(Loss(10, LossCause::kTrimmed, 4096));
  EXPECT_EQ(cc->window_bytes(), 100000u - 4096u);  // too early: only shrinks
  EXPECT_EQ(DebugVariable(*cc, "quick_adapts"), 0);
  // The period ends at 25 us; a plain ACK then fires the armed QuickAdapt.
  cc->OnAck(Ack(25, 8192, RttForDelay(12)));
  EXPECT_EQ(cc->window_bytes(), 8192u);
  EXPECT_EQ(DebugVariable(*cc, "quick_adapts"), 1);
}

TEST(NsccCcTest, LargeDelayTriggersQuickAdaptWithoutATrim) {
  // qa_threshold 4 x 12 us = 48 us: a 49 us delay at the period's end fires.
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, RttForDelay(12)));
  cc->OnAck(Ack(25, 8192, RttForDelay(49)));
  EXPECT_EQ(cc->window_bytes(), 8192u);
  EXPECT_EQ(DebugVariable(*cc, "quick_adapts"), 1);
}

TEST(NsccCcTest, DelayAtTheQaThresholdDoesNotTriggerQuickAdapt) {
  // 48 us is not above 4 x 12 us: the ACK is a fair increase instead, and the
  // adjust period (12 us) has passed, so eta is added too.
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, RttForDelay(12)));
  const double before = static_cast<double>(cc->window_bytes());
  cc->OnAck(Ack(25, 8192, RttForDelay(48)));
  const double inc = kFiBytes * (4096 + 8192);
  EXPECT_EQ(cc->window_bytes(), before + std::floor(inc / before) + kEtaBytes);
  EXPECT_EQ(DebugVariable(*cc, "quick_adapts"), 0);
}

TEST(NsccCcTest, QaThresholdZeroLeavesQuickAdaptToTrimsAndTimeouts) {
  auto cc = MustCreate("nscc:init_window=100000,qa_threshold=0");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, RttForDelay(12)));
  cc->OnAck(Ack(25, 8192, RttForDelay(500)));
  EXPECT_EQ(DebugVariable(*cc, "quick_adapts"), 0);
  EXPECT_GT(cc->window_bytes(), 100000u);  // fair increase and eta
}

TEST(NsccCcTest, TimeoutQuickAdaptsToWhatGotThrough) {
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, RttForDelay(12)));
  EXPECT_EQ(cc->OnLoss(Loss(25, LossCause::kTimeout, 4096)), PathAdvice::kKeep);
  EXPECT_EQ(cc->window_bytes(), 4096u);  // nothing acked since 1 us: the minimum
  EXPECT_EQ(DebugVariable(*cc, "quick_adapts"), 1);
}

TEST(NsccCcTest, EarlyTimeoutShrinksAndArmsQuickAdapt) {
  auto cc = MustCreate("nscc:init_window=100000");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, RttForDelay(12)));
  cc->OnLoss(Loss(5, LossCause::kTimeout, 4096));
  EXPECT_EQ(cc->window_bytes(), 100000u - 4096u);
  cc->OnAck(Ack(25, 16384, RttForDelay(3)));
  EXPECT_EQ(cc->window_bytes(), 16384u);
  EXPECT_EQ(DebugVariable(*cc, "quick_adapts"), 1);
}

// ---------------------------------------------------------------------------
// Window bounds and base RTT

TEST(NsccCcTest, WindowNeverExceedsMaxWindow) {
  auto cc = MustCreate("nscc:init_window=100000,max_window=110000");
  ASSERT_NE(cc, nullptr);
  for (int i = 0; i < 20; ++i) cc->OnAck(Ack(1 + i, 40960, RttForDelay(12)));
  EXPECT_EQ(cc->window_bytes(), 110000u);
}

TEST(NsccCcTest, WindowNeverFallsBelowMinWindow) {
  auto cc = MustCreate("nscc:init_window=100000,min_window=50000");
  ASSERT_NE(cc, nullptr);
  cc->OnLoss(Loss(1, LossCause::kDetected, 40000));
  cc->OnLoss(Loss(2, LossCause::kDetected, 40000));
  EXPECT_EQ(cc->window_bytes(), 50000u);
}

TEST(NsccCcTest, MinWindowBelowOneMtuIsRaisedToOneMtu) {
  auto cc = MustCreate("nscc:init_window=100000,min_window=1");
  ASSERT_NE(cc, nullptr);
  cc->OnLoss(Loss(1, LossCause::kDetected, 200000));
  EXPECT_EQ(cc->window_bytes(), 4096u);
  EXPECT_TRUE(cc->pacing_rate().IsUnlimited());
}

TEST(NsccCcTest, ShorterRttLowersBaseRttAndMaxWindow) {
  // 6 us measured: base RTT 6 us, MaxWnd = 1.5 x 12.5 B/ns x 6000 ns.
  auto cc = MustCreate("nscc");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, 6));
  EXPECT_EQ(DebugVariable(*cc, "base_rtt_us"), 6);
  EXPECT_EQ(DebugVariable(*cc, "max_window"), 112500);
  EXPECT_EQ(cc->window_bytes(), 112500u);
  EXPECT_EQ(DebugVariable(*cc, "last_delay_us"), 0);
  EXPECT_EQ(DebugVariable(*cc, "target_delay_us"), kBaseRttUs);  // the target stays
}

TEST(NsccCcTest, ExplicitMaxWindowIgnoresBaseRttChanges) {
  auto cc = MustCreate("nscc:max_window=200000");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, 6));
  EXPECT_EQ(DebugVariable(*cc, "base_rtt_us"), 6);
  EXPECT_EQ(DebugVariable(*cc, "max_window"), 200000);
}

TEST(NsccCcTest, WindowStaysWithinBoundsUnderRandomEvents) {
  std::mt19937 rng(20240402);
  for (const CcContext& context :
       {Reference(), CcContext{},
        MakeContext(Bandwidth::Gbps(800), Duration::Microseconds(3), 9000),
        MakeContext(Bandwidth::Gbps(1), Duration::Microseconds(2), 1500)}) {
    auto cc = MustCreate("nscc", context);
    ASSERT_NE(cc, nullptr);
    const uint64_t max = static_cast<uint64_t>(DebugVariable(*cc, "max_window"));
    double t = 0;
    for (int i = 0; i < 20000; ++i) {
      t += std::uniform_real_distribution<double>(0, 3)(rng);
      const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
      const uint32_t bytes = std::uniform_int_distribution<uint32_t>(1, 200000)(rng);
      if (kind < 7) {
        const double rtt = std::uniform_real_distribution<double>(0, 200)(rng);
        cc->OnAck(Ack(t, bytes, rtt, kind % 2 == 0, bytes));
      } else {
        cc->OnLoss(Loss(t, static_cast<LossCause>(kind - 7), bytes, bytes));
      }
      ASSERT_GE(cc->window_bytes(), context.mtu_bytes) << "event " << i;
      ASSERT_LE(cc->window_bytes(), max) << "event " << i;
      ASSERT_TRUE(cc->pacing_rate().IsUnlimited());
    }
  }
}

// ---------------------------------------------------------------------------
// Refusals

TEST(NsccCcTest, UnknownKeyIsRefusedWithTheValidKeys) {
  EXPECT_THAT(CreateError("nscc:beta=1"),
              AllOf(HasSubstr("\"beta\""), HasSubstr("gamma (default 0.8)"),
                    HasSubstr("qa_gate (default 3)")));
}

TEST(NsccCcTest, OutOfRangeValuesAreRefused) {
  EXPECT_THAT(CreateError("nscc:gamma=1.5"), HasSubstr("gamma"));
  EXPECT_THAT(CreateError("nscc:max_md_jump=0"), HasSubstr("max_md_jump"));
  EXPECT_THAT(CreateError("nscc:qa_gate=32"), HasSubstr("qa_gate"));
  EXPECT_THAT(CreateError("nscc:adjust_period=0"), HasSubstr("adjust_period"));
  EXPECT_THAT(CreateError("nscc:fast_delay=70"), HasSubstr("fast_delay"));
  EXPECT_THAT(CreateError("nscc:max_window=4294967296"), HasSubstr("max_window"));
  EXPECT_THAT(CreateError("nscc:delay_gain=-1"), HasSubstr("delay_gain"));
}

TEST(NsccCcTest, MinWindowAboveExplicitMaxWindowIsRefused) {
  EXPECT_THAT(CreateError("nscc:max_window=50000,min_window=60000"),
              AllOf(HasSubstr("max_window=50000"), HasSubstr("min_window=60000")));
}

TEST(NsccCcTest, MinWindowAboveDerivedMaxWindowRaisesIt) {
  auto cc = MustCreate("nscc:min_window=300000");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(DebugVariable(*cc, "max_window"), 300000);
  EXPECT_EQ(cc->window_bytes(), 300000u);
}

TEST(NsccCcTest, ContextWithoutLineRateIsRefused) {
  EXPECT_THAT(
      CreateError("nscc", MakeContext(Bandwidth::Unlimited(), Duration::Microseconds(12), 4096)),
      HasSubstr("line_rate"));
}

TEST(NsccCcTest, ContextWithoutBaseRttIsRefused) {
  EXPECT_THAT(CreateError("nscc", MakeContext(Bandwidth::Gbps(100), Duration::Zero(), 4096)),
              HasSubstr("base_rtt"));
}

TEST(NsccCcTest, MaxWindowBeyond32BitsIsRefused) {
  // 1.6 Tb/s x 10 ms x 1000 BDPs.
  EXPECT_THAT(CreateError("nscc:max_bdps=1000",
                          MakeContext(Bandwidth::Gbps(1600), Duration::Milliseconds(10), 4096)),
              HasSubstr("32-bit"));
}

// ---------------------------------------------------------------------------
// Debug output and state size

TEST(NsccCcTest, DebugVariablesListWindowRateThenState) {
  auto cc = MustCreate("nscc");
  ASSERT_NE(cc, nullptr);
  std::array<CcVariable, kMaxCcVariables> vars;
  const int n = cc->DebugVariables(std::span<CcVariable, kMaxCcVariables>(vars));
  std::vector<std::string_view> names;
  for (int i = 0; i < n; ++i) names.push_back(vars[i].name);
  EXPECT_THAT(
      names, ElementsAre("window", "rate_gbps", "target_delay_us", "last_delay_us", "avg_delay_us",
                         "base_rtt_us", "max_window", "acked_this_rtt", "fast_increase", "pi", "fi",
                         "md", "path_changes", "quick_adapts"));
  EXPECT_EQ(cc->DebugState(),
            "nscc window=225000 rate_gbps=0 target_delay_us=12 last_delay_us=0 avg_delay_us=0 "
            "base_rtt_us=12 max_window=225000 acked_this_rtt=0 fast_increase=0 pi=0 fi=0 md=0 "
            "path_changes=0 quick_adapts=0");
}

TEST(NsccCcTest, DebugStateCountsEachQuadrant) {
  auto cc = MustCreate("nscc:init_window=100000,delay_gain=1,qa_threshold=0");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Ack(1, 4096, RttForDelay(3)));         // PI
  cc->OnAck(Ack(2, 4096, RttForDelay(20)));        // FI
  cc->OnAck(Ack(3, 4096, RttForDelay(20), true));  // MD
  cc->OnAck(Ack(4, 4096, RttForDelay(3), true));   // path change
  EXPECT_EQ(DebugVariable(*cc, "pi"), 1);
  EXPECT_EQ(DebugVariable(*cc, "fi"), 1);
  EXPECT_EQ(DebugVariable(*cc, "md"), 1);
  EXPECT_EQ(DebugVariable(*cc, "path_changes"), 1);
  EXPECT_EQ(DebugVariable(*cc, "acked_this_rtt"), 3 * 4096);  // the first ACK started the period
}

TEST(NsccCcTest, StateIs128BytesOnLp64) {
  std::printf("sizeof(NsccCc) = %zu bytes\n", sizeof(NsccCc));
  ::testing::Test::RecordProperty("sizeof_NsccCc", static_cast<int>(sizeof(NsccCc)));
  if constexpr (sizeof(void*) == 8) {
    EXPECT_EQ(sizeof(NsccCc), 128u);
  }
}

}  // namespace
}  // namespace tern
