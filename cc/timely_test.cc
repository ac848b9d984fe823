#include "cc/timely.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

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
using cc_testing::MustCreate;
using ::testing::AllOf;
using ::testing::HasSubstr;

// An ACK for one 16 KB completion (four 4 KB packets) with an RTT sample of
// `rtt_ns` nanoseconds; 0 means no sample.
AckEvent Completion(int64_t rtt_ns, uint32_t bytes = 16384) {
  AckEvent ack;
  ack.acked_bytes = bytes;
  ack.acked_packets = bytes / 4096;
  ack.rtt = Duration::Nanoseconds(rtt_ns);
  return ack;
}

constexpr int64_t kUs = 1000;  // nanoseconds per microsecond

double RateBps(const CongestionControl& cc) {
  return static_cast<double>(cc.pacing_rate().bits_per_second());
}

// --- Creation and defaults ---------------------------------------------------

TEST(TimelyCcTest, DefaultsCreateAndStartAtLineRate) {
  auto cc = MustCreate("timely");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->name(), "timely");
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(400));
  EXPECT_FALSE(cc->wants_telemetry());
}

TEST(TimelyCcTest, DefaultWindowIsMaxRateTimesTwiceTHighInWholeMtus) {
  // 400 Gb/s x 2 x 500 us / 8 = 50,000,000 bytes -> ceil(/4096) = 12208 MTUs.
  auto cc = MustCreate("timely");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->window_bytes(), 12208u * 4096u);
}

TEST(TimelyCcTest, WindowFollowsMaxRateAndTHigh) {
  // 50 Gb/s x 2 x 500 us / 8 = 6,250,000 bytes -> 1526 MTUs.
  auto capped = MustCreate("timely:max_rate=50");
  ASSERT_NE(capped, nullptr);
  EXPECT_EQ(capped->window_bytes(), 1526u * 4096u);
  // 400 Gb/s x 2 x 100 us / 8 = 10,000,000 bytes -> 2442 MTUs.
  auto low_t_high = MustCreate("timely:t_high=100");
  ASSERT_NE(low_t_high, nullptr);
  EXPECT_EQ(low_t_high->window_bytes(), 2442u * 4096u);
}

TEST(TimelyCcTest, WindowIsAtLeastFourMtus) {
  // 1 Gb/s x 2 x 1 us / 8 = 250 bytes.
  EXPECT_EQ(DeriveTimelyWindowBytes(Bandwidth::Gbps(1), Duration::Microseconds(1), 4096),
            4u * 4096u);
}

TEST(TimelyCcTest, WindowIsCappedAtOneTebibyte) {
  // 1 Pb/s x 2 x 1000 s would be 2.5e17 bytes.
  EXPECT_EQ(DeriveTimelyWindowBytes(Bandwidth::Gbps(1e6), Duration::Seconds(1000), 4096),
            kTimelyMaxWindowBytes);
}

TEST(TimelyCcTest, WindowIsNeverBelowOneMtuForAnyContext) {
  for (const Bandwidth rate : {Bandwidth::Gbps(1), Bandwidth::Gbps(400), Bandwidth::Gbps(1e6)}) {
    for (const Duration rtt :
         {Duration::Zero(), Duration::Microseconds(12), Duration::Seconds(1)}) {
      for (const uint32_t mtu : {1u, 1500u, 4096u, 9000u}) {
        for (const char* spec :
             {"timely", "timely:t_low=0,t_high=0.001", "timely:max_rate=0.001,min_rate=0.001"}) {
          auto cc = MustCreate(spec, MakeContext(rate, rtt, mtu));
          ASSERT_NE(cc, nullptr);
          EXPECT_GE(cc->window_bytes(), mtu) << spec << " mtu=" << mtu;
        }
      }
    }
  }
}

TEST(TimelyCcTest, InitialRateIsApplied) {
  auto cc = MustCreate("timely:initial_rate=10");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(10));
}

TEST(TimelyCcTest, MaxRateDefaultsToTheContextLineRate) {
  auto cc = MustCreate("timely", MakeContext(Bandwidth::Gbps(100), Duration::Microseconds(8)));
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(100));
}

TEST(TimelyCcTest, UnknownLineRateNeedsMaxRate) {
  const CcContext unknown = MakeContext(Bandwidth::Unlimited(), Duration::Microseconds(8));
  EXPECT_THAT(CreateError("timely", unknown),
              AllOf(HasSubstr("timely"), HasSubstr("line rate is unknown"), HasSubstr("max_rate")));
  auto cc = MustCreate("timely:max_rate=25", unknown);
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(25));
}

// --- Algorithm 1 -------------------------------------------------------------

TEST(TimelyCcTest, AdditiveIncreaseBelowTLow) {
  // 20 us < t_low = 50 us: rate += delta = 10 Mb/s per completion.
  auto cc = MustCreate("timely:initial_rate=100");
  ASSERT_NE(cc, nullptr);
  for (int i = 1; i <= 3; ++i) {
    cc->OnAck(Completion(20 * kUs));
    EXPECT_EQ(cc->pacing_rate().bits_per_second(), 100'000'000'000 + i * 10'000'000) << i;
  }
}

TEST(TimelyCcTest, DeltaSetsTheAdditiveStep) {
  auto cc = MustCreate("timely:initial_rate=100,delta=40");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Completion(20 * kUs));
  cc->OnAck(Completion(20 * kUs));
  EXPECT_EQ(cc->pacing_rate().bits_per_second(), 100'000'000'000 + 2 * 40'000'000);
}

TEST(TimelyCcTest, NoHyperactiveIncreaseBelowTLow) {
  // Seven flat samples below t_low: the gradient is 0 throughout and the HAI
  // count reaches 7, but the t_low branch always adds exactly one delta.
  auto cc = MustCreate("timely:initial_rate=100");
  ASSERT_NE(cc, nullptr);
  for (int i = 0; i < 7; ++i) cc->OnAck(Completion(20 * kUs));
  EXPECT_EQ(cc->pacing_rate().bits_per_second(), 100'000'000'000 + 7 * 10'000'000);
  EXPECT_EQ(DebugVariable(*cc, "hai_count"), 7);
}

TEST(TimelyCcTest, MultiplicativeDecreaseAboveTHighUsesTheExactFactor) {
  auto cc = MustCreate("timely:initial_rate=100");
  ASSERT_NE(cc, nullptr);
  // rtt 1000 us: factor 1 - 0.8 x (1 - 500/1000) = 0.6.
  cc->OnAck(Completion(1000 * kUs));
  EXPECT_NEAR(RateBps(*cc), 100e9 * 0.6, 1);
  // rtt 800 us: factor 1 - 0.8 x (1 - 500/800) = 0.7, whatever the gradient.
  cc->OnAck(Completion(800 * kUs));
  EXPECT_NEAR(RateBps(*cc), 100e9 * 0.6 * 0.7, 1);
}

TEST(TimelyCcTest, BetaScalesTheDecrease) {
  // rtt 1000 us, beta 0.5: factor 1 - 0.5 x 0.5 = 0.75.
  auto cc = MustCreate("timely:initial_rate=100,beta=0.5");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Completion(1000 * kUs));
  EXPECT_NEAR(RateBps(*cc), 75e9, 1);
}

TEST(TimelyCcTest, THighSetsTheDecreaseThreshold) {
  // t_high 250 us, rtt 1000 us: factor 1 - 0.8 x (1 - 250/1000) = 0.4.
  auto cc = MustCreate("timely:initial_rate=100,t_high=250");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Completion(1000 * kUs));
  EXPECT_NEAR(RateBps(*cc), 40e9, 1);
}

TEST(TimelyCcTest, RttEqualToTHighIsInTheGradientBand) {
  // Flat RTT at exactly t_high: gradient 0, so an increase, not a decrease.
  auto cc = MustCreate("timely:initial_rate=100");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Completion(500 * kUs));
  EXPECT_EQ(cc->pacing_rate().bits_per_second(), 100'010'000'000);
}

TEST(TimelyCcTest, GradientDecreaseFollowsTheRttDiffEwma) {
  // alpha 0.5, beta 0.8, min_rtt 50 us, all samples within [t_low, t_high].
  auto cc = MustCreate("timely:initial_rate=100,alpha=0.5,min_rtt=50");
  ASSERT_NE(cc, nullptr);
  double rate = 100e9;
  double rtt_diff = 0;

  // 100 us, the first sample: new_rtt_diff 0, gradient 0 -> + delta.
  cc->OnAck(Completion(100 * kUs));
  rate += 10e6;
  EXPECT_NEAR(RateBps(*cc), rate, 1);

  // 102 us: new diff 2, rtt_diff = 0.5 x 0 + 0.5 x 2 = 1, gradient 1/50.
  cc->OnAck(Completion(102 * kUs));
  rtt_diff = 1;
  rate *= 1 - 0.8 * (rtt_diff / 50);
  EXPECT_NEAR(RateBps(*cc), rate, 1);
  EXPECT_DOUBLE_EQ(DebugVariable(*cc, "rtt_diff_us"), 1);

  // 105 us: new diff 3, rtt_diff = 0.5 x 1 + 0.5 x 3 = 2, gradient 2/50.
  cc->OnAck(Completion(105 * kUs));
  rtt_diff = 2;
  rate *= 1 - 0.8 * (rtt_diff / 50);
  EXPECT_NEAR(RateBps(*cc), rate, 1);

  // 104 us: the RTT fell, but rtt_diff = 0.5 x 2 + 0.5 x -1 = 0.5 is still
  // positive: the EWMA keeps decreasing.
  cc->OnAck(Completion(104 * kUs));
  rtt_diff = 0.5;
  rate *= 1 - 0.8 * (rtt_diff / 50);
  EXPECT_NEAR(RateBps(*cc), rate, 1);

  // 100 us: new diff -4, rtt_diff = 0.25 - 2 = -1.75 <= 0 -> + delta.
  cc->OnAck(Completion(100 * kUs));
  rtt_diff = -1.75;
  rate += 10e6;
  EXPECT_NEAR(RateBps(*cc), rate, 1);
  EXPECT_DOUBLE_EQ(DebugVariable(*cc, "rtt_diff_us"), rtt_diff);
  EXPECT_DOUBLE_EQ(DebugVariable(*cc, "last_rtt_us"), 100);
  EXPECT_DOUBLE_EQ(DebugVariable(*cc, "min_rtt_us"), 50);
}

TEST(TimelyCcTest, DefaultAlphaWeighsTheNewestDifferenceByTwoPercent) {
  // alpha 0.02: 100 us then 110 us gives rtt_diff 0.2 us, gradient 0.2/50.
  auto cc = MustCreate("timely:initial_rate=100,min_rtt=50");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Completion(100 * kUs));
  cc->OnAck(Completion(110 * kUs));
  EXPECT_NEAR(DebugVariable(*cc, "rtt_diff_us"), 0.2, 1e-12);
  EXPECT_NEAR(RateBps(*cc), (100e9 + 10e6) * (1 - 0.8 * 0.2 / 50), 1);
}

TEST(TimelyCcTest, MinRttNormalisesTheGradient) {
  // Same series as above with alpha 1 (rtt_diff = newest difference 10 us):
  // min_rtt 25 gives gradient 0.4, min_rtt 100 gives 0.1.
  for (const auto& [spec, min_rtt] :
       {std::pair{"timely:initial_rate=100,alpha=1,min_rtt=25", 25.0},
        std::pair{"timely:initial_rate=100,alpha=1,min_rtt=100", 100.0}}) {
    auto cc = MustCreate(spec);
    ASSERT_NE(cc, nullptr);
    cc->OnAck(Completion(100 * kUs));
    cc->OnAck(Completion(110 * kUs));
    EXPECT_NEAR(RateBps(*cc), (100e9 + 10e6) * (1 - 0.8 * 10 / min_rtt), 1) << spec;
  }
}

TEST(TimelyCcTest, MinRttDefaultsToTheContextBaseRttAndFollowsSmallerSamples) {
  auto cc = MustCreate("timely", MakeContext(Bandwidth::Gbps(400), Duration::Microseconds(20)));
  ASSERT_NE(cc, nullptr);
  EXPECT_DOUBLE_EQ(DebugVariable(*cc, "min_rtt_us"), 20);
  cc->OnAck(Completion(30 * kUs));
  EXPECT_DOUBLE_EQ(DebugVariable(*cc, "min_rtt_us"), 20);
  cc->OnAck(Completion(12500));  // 12.5 us
  EXPECT_DOUBLE_EQ(DebugVariable(*cc, "min_rtt_us"), 12.5);
}

TEST(TimelyCcTest, UnknownBaseRttIsSetByTheFirstSample) {
  auto cc = MustCreate("timely", MakeContext(Bandwidth::Gbps(400), Duration::Zero()));
  ASSERT_NE(cc, nullptr);
  EXPECT_DOUBLE_EQ(DebugVariable(*cc, "min_rtt_us"), 0);
  cc->OnAck(Completion(60 * kUs));
  EXPECT_DOUBLE_EQ(DebugVariable(*cc, "min_rtt_us"), 60);
  EXPECT_LE(cc->pacing_rate(), Bandwidth::Gbps(400));  // finite, not NaN-driven
}

TEST(TimelyCcTest, TLowSetsTheAdditiveThreshold) {
  // With t_low 10 us, a rise from 20 to 30 us is in the gradient band and
  // cuts the rate; with the default t_low 50 us it would add delta.
  auto cc = MustCreate("timely:initial_rate=100,t_low=10,alpha=1,min_rtt=10");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Completion(20 * kUs));  // gradient 0 -> + delta
  cc->OnAck(Completion(30 * kUs));  // gradient 10/10 = 1 -> x (1 - 0.8)
  EXPECT_NEAR(RateBps(*cc), (100e9 + 10e6) * 0.2, 1);
}

TEST(TimelyCcTest, HyperactiveIncreaseStartsAtTheFifthNonPositiveGradient) {
  // alpha 1 so the gradient is the newest difference; a flat 100 us RTT has
  // gradient 0 on every completion.
  auto cc = MustCreate("timely:initial_rate=100,alpha=1,min_rtt=50");
  ASSERT_NE(cc, nullptr);
  int64_t expected = 100'000'000'000;
  for (int i = 1; i <= 7; ++i) {
    cc->OnAck(Completion(100 * kUs));
    expected += i < 5 ? 10'000'000 : 5 * 10'000'000;
    EXPECT_EQ(cc->pacing_rate().bits_per_second(), expected) << "completion " << i;
    EXPECT_EQ(DebugVariable(*cc, "hai_count"), i);
  }
  // A positive gradient resets the count: 110 us -> gradient 10/50 = 0.2.
  cc->OnAck(Completion(110 * kUs));
  EXPECT_NEAR(RateBps(*cc), static_cast<double>(expected) * (1 - 0.8 * 0.2), 1);
  EXPECT_EQ(DebugVariable(*cc, "hai_count"), 0);
  const double after_cut = RateBps(*cc);
  // Back to 100 us: gradient -0.2, the first non-positive one: plain delta.
  cc->OnAck(Completion(100 * kUs));
  EXPECT_NEAR(RateBps(*cc), after_cut + 10e6, 1);
  EXPECT_EQ(DebugVariable(*cc, "hai_count"), 1);
}

TEST(TimelyCcTest, HaiThresholdAndFactorAreApplied) {
  // hai_threshold 2, hai_factor 3: +delta, then +3 delta from the second on.
  auto cc = MustCreate("timely:initial_rate=100,alpha=1,min_rtt=50,hai_threshold=2,hai_factor=3");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Completion(100 * kUs));
  EXPECT_EQ(cc->pacing_rate().bits_per_second(), 100'010'000'000);
  cc->OnAck(Completion(100 * kUs));
  EXPECT_EQ(cc->pacing_rate().bits_per_second(), 100'040'000'000);
  cc->OnAck(Completion(100 * kUs));
  EXPECT_EQ(cc->pacing_rate().bits_per_second(), 100'070'000'000);
}

TEST(TimelyCcTest, HaiFactorOneDisablesHyperactiveIncrease) {
  auto cc = MustCreate("timely:initial_rate=100,alpha=1,min_rtt=50,hai_factor=1");
  ASSERT_NE(cc, nullptr);
  for (int i = 0; i < 8; ++i) cc->OnAck(Completion(100 * kUs));
  EXPECT_EQ(cc->pacing_rate().bits_per_second(), 100'000'000'000 + 8 * 10'000'000);
}

// --- Clamps ------------------------------------------------------------------

TEST(TimelyCcTest, RateNeverExceedsTheMaximumRate) {
  auto at_line = MustCreate("timely");
  ASSERT_NE(at_line, nullptr);
  for (int i = 0; i < 10; ++i) at_line->OnAck(Completion(20 * kUs));
  EXPECT_EQ(at_line->pacing_rate(), Bandwidth::Gbps(400));

  auto capped = MustCreate("timely:max_rate=50");
  ASSERT_NE(capped, nullptr);
  EXPECT_EQ(capped->pacing_rate(), Bandwidth::Gbps(50));
  for (int i = 0; i < 10; ++i) capped->OnAck(Completion(20 * kUs));
  EXPECT_EQ(capped->pacing_rate(), Bandwidth::Gbps(50));
}

TEST(TimelyCcTest, RateNeverFallsBelowTheMinimumRate) {
  // rtt 1 s: factor 1 - 0.8 x (1 - 500e-6) ~ 0.2 per completion.
  auto cc = MustCreate("timely");
  ASSERT_NE(cc, nullptr);
  for (int i = 0; i < 50; ++i) cc->OnAck(Completion(1'000'000 * kUs));
  EXPECT_EQ(cc->pacing_rate().bits_per_second(), 100'000'000);  // default min_rate 100 Mb/s

  auto raised = MustCreate("timely:min_rate=1000");
  ASSERT_NE(raised, nullptr);
  for (int i = 0; i < 50; ++i) raised->OnAck(Completion(1'000'000 * kUs));
  EXPECT_EQ(raised->pacing_rate().bits_per_second(), 1'000'000'000);
}

TEST(TimelyCcTest, GradientAboveOneOverBetaDropsToTheMinimumRate) {
  // alpha 1, min_rtt 50: 100 -> 200 us gives gradient 2, factor 1 - 1.6 < 0.
  auto cc = MustCreate("timely:initial_rate=100,alpha=1,min_rtt=50");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Completion(100 * kUs));
  cc->OnAck(Completion(200 * kUs));
  EXPECT_EQ(cc->pacing_rate().bits_per_second(), 100'000'000);
  EXPECT_FALSE(cc->pacing_rate().IsUnlimited());
}

// --- Which events update -----------------------------------------------------

TEST(TimelyCcTest, AckWithoutRttSampleIsIgnored) {
  auto cc = MustCreate("timely:initial_rate=100");
  ASSERT_NE(cc, nullptr);
  const std::string before = cc->DebugState();
  cc->OnAck(Completion(0));
  cc->OnAck(Completion(-5 * kUs));  // not a measurement either
  EXPECT_EQ(cc->DebugState(), before);
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(100));
}

TEST(TimelyCcTest, BytesOfAcksWithoutSampleCountTowardTheSegment) {
  // segment 32 KB: a 16 KB ACK without sample, then a 16 KB ACK with one.
  auto cc = MustCreate("timely:initial_rate=100,segment_bytes=32768");
  ASSERT_NE(cc, nullptr);
  cc->OnAck(Completion(0));
  cc->OnAck(Completion(20 * kUs));
  EXPECT_EQ(cc->pacing_rate().bits_per_second(), 100'010'000'000);
}

TEST(TimelyCcTest, OneUpdatePerSegmentOfAcknowledgedBytes) {
  // Default segment 16 KB, ACKs of one 4 KB packet: every fourth ACK updates.
  auto cc = MustCreate("timely:initial_rate=100");
  ASSERT_NE(cc, nullptr);
  for (int i = 1; i <= 8; ++i) {
    cc->OnAck(Completion(20 * kUs, 4096));
    EXPECT_EQ(cc->pacing_rate().bits_per_second(), 100'000'000'000 + (i / 4) * 10'000'000) << i;
  }
}

TEST(TimelyCcTest, SegmentBytesZeroUpdatesOnEveryAckWithASample) {
  auto cc = MustCreate("timely:initial_rate=100,segment_bytes=0");
  ASSERT_NE(cc, nullptr);
  for (int i = 0; i < 3; ++i) cc->OnAck(Completion(20 * kUs, 4096));
  EXPECT_EQ(cc->pacing_rate().bits_per_second(), 100'030'000'000);
}

TEST(TimelyCcTest, LossesOfEveryCauseLeaveTheRateAlone) {
  auto cc = MustCreate("timely:initial_rate=100");
  ASSERT_NE(cc, nullptr);
  const std::string before = cc->DebugState();
  for (const LossCause cause : {LossCause::kDetected, LossCause::kTrimmed, LossCause::kTimeout}) {
    LossEvent loss;
    loss.cause = cause;
    loss.lost_bytes = 4096;
    loss.lost_packets = 1;
    EXPECT_EQ(cc->OnLoss(loss), PathAdvice::kKeep);
  }
  EXPECT_EQ(cc->DebugState(), before);
}

TEST(TimelyCcTest, AcksNeverAdviseAvoidingAPath) {
  auto cc = MustCreate("timely");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->OnAck(Completion(1000 * kUs)), PathAdvice::kKeep);
}

// --- Debug output ------------------------------------------------------------

TEST(TimelyCcTest, DebugStateListsWindowRateAndAlgorithmState) {
  auto cc = MustCreate("timely");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->DebugState(),
            "timely window=50003968 rate_gbps=400 rtt_diff_us=0 min_rtt_us=8 last_rtt_us=0 "
            "hai_count=0");
  cc->OnAck(Completion(1000 * kUs));  // 400 x 0.6 = 240 Gb/s
  EXPECT_EQ(cc->DebugState(),
            "timely window=50003968 rate_gbps=240 rtt_diff_us=0 min_rtt_us=8 last_rtt_us=1000 "
            "hai_count=1");
}

TEST(TimelyCcTest, DebugVariablesStartWithWindowThenRate) {
  auto cc = MustCreate("timely");
  ASSERT_NE(cc, nullptr);
  std::array<CcVariable, kMaxCcVariables> vars;
  const int n = cc->DebugVariables(std::span<CcVariable, kMaxCcVariables>(vars));
  ASSERT_EQ(n, 6);
  EXPECT_EQ(vars[0].name, "window");
  EXPECT_EQ(vars[1].name, "rate_gbps");
}

// --- Parameters refused ------------------------------------------------------

TEST(TimelyCcTest, UnknownKeyIsRefusedWithTheValidKeys) {
  EXPECT_THAT(CreateError("timely:tlow=50"),
              AllOf(HasSubstr("unknown parameter \"tlow\""), HasSubstr("t_low (default 50)"),
                    HasSubstr("segment_bytes (default 16384)")));
}

TEST(TimelyCcTest, OutOfRangeValuesAreRefusedNamingTheKey) {
  for (const char* spec :
       {"timely:alpha=0", "timely:alpha=1.5", "timely:beta=0", "timely:beta=2", "timely:delta=0",
        "timely:t_high=0", "timely:t_low=-1", "timely:hai_threshold=0", "timely:hai_factor=0",
        "timely:min_rate=0", "timely:segment_bytes=2000000000", "timely:max_rate=-1"}) {
    const std::string key = std::string(spec).substr(7, std::string(spec).find('=') - 7);
    EXPECT_THAT(CreateError(spec),
                AllOf(HasSubstr("bad value for parameter \"" + key + "\""), HasSubstr("timely")))
        << spec;
  }
}

TEST(TimelyCcTest, TLowAboveTHighIsRefused) {
  EXPECT_THAT(CreateError("timely:t_low=600"),
              AllOf(HasSubstr("t_low=600"), HasSubstr("t_high=500"), HasSubstr("t_low <= t_high")));
  EXPECT_NE(MustCreate("timely:t_low=500"), nullptr);  // equal is allowed
}

TEST(TimelyCcTest, MinRateAboveMaximumRateIsRefused) {
  EXPECT_THAT(CreateError("timely:min_rate=500000"),
              AllOf(HasSubstr("min_rate=500 Gb/s"), HasSubstr("400 Gb/s")));
  EXPECT_THAT(CreateError("timely:max_rate=1,min_rate=2000"), HasSubstr("min_rate=2 Gb/s"));
}

TEST(TimelyCcTest, InitialRateOutsideTheRateRangeIsRefused) {
  EXPECT_THAT(CreateError("timely:initial_rate=500"),
              AllOf(HasSubstr("initial_rate=500 Gb/s"), HasSubstr("outside")));
  EXPECT_THAT(CreateError("timely:initial_rate=0.05"), HasSubstr("initial_rate=0.05 Gb/s"));
}

TEST(TimelyCcTest, ValidateRunsTheSameChecks) {
  EXPECT_TRUE(ValidateCongestionControlSpec("timely:alpha=0.875,t_low=10").ok());
  EXPECT_FALSE(ValidateCongestionControlSpec("timely:t_low=600").ok());
}

// --- State size --------------------------------------------------------------

TEST(TimelyCcTest, StateSizeOnLp64) {
  ::testing::Test::RecordProperty("sizeof_TimelyCc", static_cast<int>(sizeof(TimelyCc)));
  // The header's count: vtable 8 + configuration 76 + per-flow state 40 = 124,
  // padded to 128.
  std::printf("sizeof(TimelyCc) = %zu\n", sizeof(TimelyCc));
  if constexpr (sizeof(void*) == 8) {
    EXPECT_EQ(sizeof(TimelyCc), 128u);
  }
}

}  // namespace
}  // namespace tern
