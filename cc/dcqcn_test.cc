#include "cc/dcqcn.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cc/congestion_control.h"
#include "cc/registry.h"
#include "cc/testing/cc_test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/units.h"

namespace tern {
namespace {

using cc_testing::CreateError;
using cc_testing::DebugVariable;
using cc_testing::MustCreate;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr double kLine = 400e9;  // default CcContext line rate, bit/s

// Microseconds since an arbitrary origin, as an event time.
Time At(double us) { return Time::FromPicoseconds(std::llround(us * 1e6)); }

double Rate(const CongestionControl& cc) { return DebugVariable(cc, "rate_gbps") * 1e9; }
double Target(const CongestionControl& cc) { return DebugVariable(cc, "target_gbps") * 1e9; }

void Cnp(CongestionControl& cc, Time now) {
  AckEvent ack;
  ack.now = now;
  ack.acked_bytes = 4096;
  ack.acked_packets = 1;
  ack.cnp = true;
  cc.OnAck(ack);
}

// An event without congestion feedback, to let the lazy timers catch up.
void Tick(CongestionControl& cc, Time now) {
  AckEvent ack;
  ack.now = now;
  ack.acked_bytes = 4096;
  ack.acked_packets = 1;
  cc.OnAck(ack);
}

void Send(CongestionControl& cc, Time now, uint32_t bytes) {
  SendEvent send;
  send.now = now;
  send.bytes = bytes;
  cc.OnSend(send);
}

// Relative tolerance for comparing a closed-form result with the stepwise
// model: both compute the paper's recurrences, in a different order.
void ExpectClose(double actual, double expected, const char* what) {
  EXPECT_NEAR(actual, expected, std::max(std::fabs(expected) * 1e-9, 1e-3)) << what;
}

// The paper's reaction point written event by event, straight from Eq. 1-4,
// as the independent reference the closed-form implementation must match.
struct ReferenceRp {
  double line = kLine;
  double rc = kLine;
  double rt = kLine;
  double alpha = 1;
  double g = 1.0 / 256;
  double rai = 40e6;
  double rhai = 200e6;
  double min_rate = 100e6;
  long f = 5;
  long timer_stage = 0;
  long byte_stage = 0;

  void Cnp() {
    rt = rc;
    rc = std::max(min_rate, rc * (1 - alpha / 2));
    alpha = (1 - g) * alpha + g;
    timer_stage = 0;
    byte_stage = 0;
  }
  void Increase() {
    if (std::max(timer_stage, byte_stage) <= f) {
      // fast recovery
    } else if (std::min(timer_stage, byte_stage) > f) {
      rt = std::min(line, rt + static_cast<double>(std::min(timer_stage, byte_stage) - f) * rhai);
    } else {
      rt = std::min(line, rt + rai);
    }
    rc = (rt + rc) / 2;
  }
  void TimerEvent() {
    ++timer_stage;
    Increase();
  }
  void ByteEvent() {
    ++byte_stage;
    Increase();
  }
};

// --- Creation, spec, defaults ------------------------------------------------

TEST(DcqcnCcTest, DefaultsCreateAtLineRate) {
  auto cc = MustCreate("dcqcn");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->name(), "dcqcn");
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(400));
  EXPECT_EQ(DebugVariable(*cc, "alpha"), 1.0);
}

TEST(DcqcnCcTest, ExampleSpecParses) {
  auto cc = MustCreate("dcqcn:g=0.00390625,rai=40");
  ASSERT_NE(cc, nullptr);
  EXPECT_TRUE(ValidateCongestionControlSpec("dcqcn:g=0.00390625,rai=40").ok());
}

TEST(DcqcnCcTest, DebugStateListsTheVariablesInOrder) {
  auto cc = MustCreate("dcqcn");
  ASSERT_NE(cc, nullptr);
  // 4 x 400 Gb/s x 8 us = 1.6 MB = 390.6 packets -> 391 x 4096.
  EXPECT_EQ(cc->DebugState(),
            "dcqcn window=1601536 rate_gbps=400 target_gbps=400 alpha=1 timer_stage=0 "
            "byte_stage=0 cnps=0");
}

TEST(DcqcnCcTest, StateIs128BytesOnLp64) {
  std::printf("sizeof(DcqcnCc) = %zu\n", sizeof(DcqcnCc));
  ::testing::Test::RecordProperty("sizeof_DcqcnCc", static_cast<int>(sizeof(DcqcnCc)));
  if constexpr (sizeof(void*) == 8) {
    EXPECT_EQ(sizeof(DcqcnCc), 128u);
  }
}

// --- Rate decrease and alpha (Eq. 1, 2) --------------------------------------

TEST(DcqcnCcTest, RateAfterCnpsInARowIsTheProductOfCuts) {
  // alpha_0 = 0.5, alpha_j = (1-g) alpha_{j-1} + g = 1 - (1-g)^j (1 - alpha_0);
  // the j-th cut multiplies the rate by (1 - alpha_{j-1}/2).
  const double g = 1.0 / 16;
  const double a0 = 0.5;
  auto cc = MustCreate("dcqcn:g=0.0625,initial_alpha=0.5,min_rate=0.001");
  ASSERT_NE(cc, nullptr);
  double rate = kLine;
  double previous = kLine;
  for (int k = 1; k <= 8; ++k) {
    Cnp(*cc, At(10));  // no time elapses: no decay, no increase
    const double alpha_before = 1 - std::pow(1 - g, k - 1) * (1 - a0);
    previous = rate;
    rate *= 1 - alpha_before / 2;
    ExpectClose(Rate(*cc), rate, "RC");
    ExpectClose(Target(*cc), previous, "RT = RC before the cut");
    EXPECT_NEAR(DebugVariable(*cc, "alpha"), 1 - std::pow(1 - g, k) * (1 - a0), 1e-12);
    EXPECT_EQ(DebugVariable(*cc, "cnps"), k);
  }
  EXPECT_EQ(cc->pacing_rate().bits_per_second(), std::llround(rate));
}

TEST(DcqcnCcTest, DefaultAlphaOfOneHalvesTheRatePerCnp) {
  // alpha = 1 is a fixed point of Eq. 1: every cut halves.
  auto cc = MustCreate("dcqcn");
  ASSERT_NE(cc, nullptr);
  for (int k = 1; k <= 5; ++k) {
    Cnp(*cc, At(0));
    ExpectClose(Rate(*cc), kLine / std::pow(2, k), "RC");
    EXPECT_EQ(DebugVariable(*cc, "alpha"), 1.0);
  }
}

TEST(DcqcnCcTest, AlphaDecaysOncePerWholeKWithoutCnp) {
  const double g = 1.0 / 16;
  auto cc = MustCreate("dcqcn:g=0.0625,k=10,initial_alpha=0.5,timer=1000");
  ASSERT_NE(cc, nullptr);
  Cnp(*cc, At(100));
  const double after_cnp = (1 - g) * 0.5 + g;
  Tick(*cc, At(100 + 9 * 10 + 9.999));  // 9 whole periods
  EXPECT_NEAR(DebugVariable(*cc, "alpha"), after_cnp * std::pow(1 - g, 9), 1e-12);
  Tick(*cc, At(100 + 10 * 10));  // the 10th ends exactly now
  EXPECT_NEAR(DebugVariable(*cc, "alpha"), after_cnp * std::pow(1 - g, 10), 1e-12);
}

TEST(DcqcnCcTest, AlphaDecayOverALongIdleGapIsExact) {
  // K = 1 us over one second: a million decays, computed as one power.
  auto cc = MustCreate("dcqcn:k=1,g=0.0001,initial_alpha=0.5");
  ASSERT_NE(cc, nullptr);
  Cnp(*cc, At(0));
  const double after_cnp = (1 - 0.0001) * 0.5 + 0.0001;
  Tick(*cc, At(1e6 + 0.5));
  const double expected = after_cnp * std::pow(1 - 0.0001, 1e6);
  EXPECT_NEAR(DebugVariable(*cc, "alpha"), expected, expected * 1e-9);
}

TEST(DcqcnCcTest, CnpRestartsTheAlphaTimer) {
  // CNPs every 50 us with K = 55 us: alpha never decays (Section 3.1: K must
  // exceed the CNP interval).
  const double g = 1.0 / 256;
  auto cc = MustCreate("dcqcn:initial_alpha=0.25");
  ASSERT_NE(cc, nullptr);
  double alpha = 0.25;
  for (int i = 0; i < 10; ++i) {
    Cnp(*cc, At(50.0 * i));
    alpha = (1 - g) * alpha + g;
  }
  EXPECT_NEAR(DebugVariable(*cc, "alpha"), alpha, 1e-12);
}

TEST(DcqcnCcTest, AlphaDoesNotDecayBeforeTheFirstCnp) {
  auto cc = MustCreate("dcqcn:initial_alpha=0.5");
  ASSERT_NE(cc, nullptr);
  Tick(*cc, At(0));
  Tick(*cc, At(1000));
  Cnp(*cc, At(1000));
  ExpectClose(Rate(*cc), kLine * (1 - 0.25), "first cut uses initial_alpha");
}

TEST(DcqcnCcTest, RateNeverDropsBelowMinRate) {
  auto cc = MustCreate("dcqcn");
  ASSERT_NE(cc, nullptr);
  for (int i = 0; i < 40; ++i) Cnp(*cc, At(0));
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::BitsPerSecond(100'000'000));
  auto gig = MustCreate("dcqcn:min_rate=1000");
  ASSERT_NE(gig, nullptr);
  for (int i = 0; i < 40; ++i) Cnp(*gig, At(0));
  EXPECT_EQ(gig->pacing_rate(), Bandwidth::Gbps(1));
}

// --- Rate increase (Eq. 3, 4, hyper) -----------------------------------------

TEST(DcqcnCcTest, FastRecoveryHalvesTheGapPerTimerExpiry) {
  auto cc = MustCreate("dcqcn");
  ASSERT_NE(cc, nullptr);
  Cnp(*cc, At(0));  // RT = L, RC = L/2
  Tick(*cc, At(54.999));
  ExpectClose(Rate(*cc), kLine / 2, "no expiry before T");
  for (int j = 1; j <= 5; ++j) {
    Tick(*cc, At(55.0 * j));
    ExpectClose(Rate(*cc), kLine - (kLine / 2) / std::pow(2, j), "fast recovery");
    ExpectClose(Target(*cc), kLine, "RT unchanged");
    EXPECT_EQ(DebugVariable(*cc, "timer_stage"), j);
  }
}

TEST(DcqcnCcTest, AdditiveIncreaseAfterFTimerEvents) {
  // Two CNPs leave RT = L/2, RC = L/4. With F = 3 the 4th timer event on
  // adds R_AI to RT before averaging.
  auto cc = MustCreate("dcqcn:f=3,byte_counter=0,rai=1000");
  ASSERT_NE(cc, nullptr);
  Cnp(*cc, At(0));
  Cnp(*cc, At(0));
  double rt = kLine / 2;
  double rc = kLine / 4;
  for (int j = 1; j <= 8; ++j) {
    Tick(*cc, At(55.0 * j));
    if (j > 3) rt += 1e9;  // Eq. 4
    rc = (rt + rc) / 2;    // Eq. 3
    ExpectClose(Target(*cc), rt, "RT");
    ExpectClose(Rate(*cc), rc, "RC");
  }
}

TEST(DcqcnCcTest, ByteCounterDrivesIncreaseEvents) {
  // A timer too long to fire: only bytes sent move the rate.
  auto cc = MustCreate("dcqcn:byte_counter=8192,timer=100000,f=1,rai=500");
  ASSERT_NE(cc, nullptr);
  Cnp(*cc, At(0));
  Cnp(*cc, At(0));  // RT = L/2, RC = L/4
  Send(*cc, At(1), 4096);
  ExpectClose(Rate(*cc), kLine / 4, "half a byte counter: no event");
  Send(*cc, At(1), 4096);
  EXPECT_EQ(DebugVariable(*cc, "byte_stage"), 1);
  ExpectClose(Rate(*cc), (kLine / 2 + kLine / 4) / 2, "fast recovery step");
  // Three packets: one more event, 4096 bytes carried over.
  Send(*cc, At(2), 3 * 4096);
  EXPECT_EQ(DebugVariable(*cc, "byte_stage"), 2);
  ExpectClose(Target(*cc), kLine / 2 + 500e6, "additive step once the stage passes F=1");
  Send(*cc, At(2), 4096);
  EXPECT_EQ(DebugVariable(*cc, "byte_stage"), 3);
}

TEST(DcqcnCcTest, ByteCounterZeroTurnsItOff) {
  auto cc = MustCreate("dcqcn:byte_counter=0");
  ASSERT_NE(cc, nullptr);
  Cnp(*cc, At(0));
  for (int i = 0; i < 100; ++i) Send(*cc, At(1), 1'000'000'000);
  EXPECT_EQ(DebugVariable(*cc, "byte_stage"), 0);
  ExpectClose(Rate(*cc), kLine / 2, "no increase without a timer expiry");
}

TEST(DcqcnCcTest, HyperIncreaseWhenBothStagesPassF) {
  auto cc = MustCreate("dcqcn:f=2,byte_counter=4096,rai=10,rhai=3000");
  ASSERT_NE(cc, nullptr);
  ReferenceRp ref;
  ref.f = 2;
  ref.rai = 10e6;
  ref.rhai = 3e9;
  Cnp(*cc, At(0));
  Cnp(*cc, At(0));
  ref.Cnp();
  ref.Cnp();
  for (int i = 0; i < 3; ++i) {  // BC = 1, 2 (fast recovery), 3 (additive)
    Send(*cc, At(1), 4096);
    ref.ByteEvent();
  }
  Tick(*cc, At(55));
  Tick(*cc, At(110));
  ref.TimerEvent();
  ref.TimerEvent();
  const double rt_before = Target(*cc);
  Tick(*cc, At(165));  // T = 3, BC = 3: both past F = 2, i = 1
  ref.TimerEvent();
  ExpectClose(Target(*cc) - rt_before, 3e9, "RT += 1 x R_HAI");
  Send(*cc, At(166), 4096);  // BC = 4, T = 3: i = 1
  ref.ByteEvent();
  Tick(*cc, At(220));  // T = 4, BC = 4: i = 2
  ref.TimerEvent();
  ExpectClose(Target(*cc), ref.rt, "RT");
  ExpectClose(Rate(*cc), ref.rc, "RC");
  EXPECT_EQ(DebugVariable(*cc, "timer_stage"), 4);
  EXPECT_EQ(DebugVariable(*cc, "byte_stage"), 4);
}

TEST(DcqcnCcTest, TargetAndRateStopAtLineRate) {
  auto cc = MustCreate("dcqcn:rai=100000");
  ASSERT_NE(cc, nullptr);
  Cnp(*cc, At(0));
  for (int j = 1; j <= 200; ++j) Tick(*cc, At(55.0 * j));
  EXPECT_EQ(Target(*cc), kLine);
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(400));
}

TEST(DcqcnCcTest, CnpResetsStagesAndTimer) {
  auto cc = MustCreate("dcqcn:byte_counter=4096");
  ASSERT_NE(cc, nullptr);
  Cnp(*cc, At(0));
  Tick(*cc, At(55));
  Send(*cc, At(56), 4096);
  EXPECT_EQ(DebugVariable(*cc, "timer_stage"), 1);
  EXPECT_EQ(DebugVariable(*cc, "byte_stage"), 1);
  Cnp(*cc, At(100));
  EXPECT_EQ(DebugVariable(*cc, "timer_stage"), 0);
  EXPECT_EQ(DebugVariable(*cc, "byte_stage"), 0);
  const double rc = Rate(*cc);
  Tick(*cc, At(154.999));  // 55 us after the CNP, not after the old deadline (110)
  EXPECT_EQ(Rate(*cc), rc);
  Tick(*cc, At(155));
  EXPECT_GT(Rate(*cc), rc);
}

// --- Lazy timers over idle gaps ----------------------------------------------

TEST(DcqcnCcTest, IdleGapMatchesTheStepwiseModel) {
  // Timer-only additive recovery from near the floor: 1818 expiries in 100 ms
  // caught up in closed form must equal 1818 explicit steps.
  auto cc = MustCreate("dcqcn:byte_counter=0,rai=5,min_rate=1");
  ASSERT_NE(cc, nullptr);
  ReferenceRp ref;
  ref.rai = 5e6;
  ref.min_rate = 1e6;
  for (int i = 0; i < 12; ++i) {
    Cnp(*cc, At(0));
    ref.Cnp();
  }
  Tick(*cc, At(100'000));
  for (int j = 0; j < 100'000 / 55; ++j) ref.TimerEvent();
  EXPECT_EQ(DebugVariable(*cc, "timer_stage"), 100'000 / 55);
  ExpectClose(Target(*cc), ref.rt, "RT");
  ExpectClose(Rate(*cc), ref.rc, "RC");
}

TEST(DcqcnCcTest, IdleGapThroughGrowingHyperIncreaseMatchesTheModel) {
  // BC = 40 > F, then the timer runs T from 1 to 60: additive until T > F,
  // hyper with i = T - F growing until T = BC, then i = BC - F fixed, and the
  // line-rate cap on the way.
  auto cc = MustCreate("dcqcn:byte_counter=4096,rhai=100,min_rate=1");
  ASSERT_NE(cc, nullptr);
  ReferenceRp ref;
  ref.rhai = 100e6;
  ref.min_rate = 1e6;
  for (int i = 0; i < 14; ++i) {
    Cnp(*cc, At(0));
    ref.Cnp();
  }
  Send(*cc, At(1), 40 * 4096);
  for (int i = 0; i < 40; ++i) ref.ByteEvent();
  ExpectClose(Rate(*cc), ref.rc, "RC after the byte events");
  Tick(*cc, At(40 * 55 + 1));  // ends right after the growing-i events
  for (int j = 0; j < 40; ++j) ref.TimerEvent();
  ExpectClose(Target(*cc), ref.rt, "RT after i = 1..35");
  ExpectClose(Rate(*cc), ref.rc, "RC after i = 1..35");
  Tick(*cc, At(60 * 55 + 1));
  for (int j = 40; j < 60; ++j) ref.TimerEvent();
  ExpectClose(Target(*cc), ref.rt, "RT");
  ExpectClose(Rate(*cc), ref.rc, "RC");
  // RT reaches the line rate near event 136 (3.5 Gb/s a step from ~133 Gb/s).
  Tick(*cc, At(140 * 55 + 1));
  for (int j = 60; j < 140; ++j) ref.TimerEvent();
  EXPECT_EQ(ref.rt, kLine);
  ExpectClose(Target(*cc), ref.rt, "RT capped");
  ExpectClose(Rate(*cc), ref.rc, "RC a few events after the cap");
  Tick(*cc, At(600 * 55 + 1));
  for (int j = 140; j < 600; ++j) ref.TimerEvent();
  ExpectClose(Target(*cc), ref.rt, "RT capped");
  ExpectClose(Rate(*cc), ref.rc, "RC");
}

TEST(DcqcnCcTest, LongIdleGapReachesLineRateAndCountsEveryExpiry) {
  auto cc = MustCreate("dcqcn:firmware=true,byte_counter=0");
  ASSERT_NE(cc, nullptr);
  for (int i = 0; i < 30; ++i) Cnp(*cc, At(0));
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::BitsPerSecond(1'000'000));
  // 5 Mb/s per 300 us from 1 Mb/s reaches 400 Gb/s after ~80000 expiries (24 s);
  // 100 s is 333333 expiries.
  Tick(*cc, At(100e6));
  EXPECT_EQ(DebugVariable(*cc, "timer_stage"), 333'333);
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(400));
}

TEST(DcqcnCcTest, LossesAndTimeoutsDoNotChangeTheRateButAdvanceTimers) {
  auto cc = MustCreate("dcqcn");
  ASSERT_NE(cc, nullptr);
  Cnp(*cc, At(0));
  for (LossCause cause : {LossCause::kDetected, LossCause::kTrimmed, LossCause::kTimeout}) {
    LossEvent loss;
    loss.now = At(1);
    loss.cause = cause;
    loss.lost_packets = 10;
    loss.lost_bytes = 40960;
    EXPECT_EQ(cc->OnLoss(loss), PathAdvice::kKeep);
  }
  ExpectClose(Rate(*cc), kLine / 2, "no cut on loss");
  LossEvent late;
  late.now = At(55);
  late.cause = LossCause::kTimeout;
  cc->OnLoss(late);
  ExpectClose(Rate(*cc), kLine * 0.75, "the timer expiry seen by OnLoss");
}

TEST(DcqcnCcTest, CeMarksWithoutCnpAreIgnored) {
  auto cc = MustCreate("dcqcn");
  ASSERT_NE(cc, nullptr);
  AckEvent ack;
  ack.now = At(1);
  ack.acked_packets = 4;
  ack.ce_packets = 4;
  EXPECT_EQ(cc->OnAck(ack), PathAdvice::kKeep);
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(400));
  EXPECT_EQ(DebugVariable(*cc, "cnps"), 0);
}

// --- Presets -----------------------------------------------------------------

TEST(DcqcnCcTest, PaperPresetEqualsTheDeclaredDefaults) {
  auto implicit = MustCreate("dcqcn");
  auto explicit_false = MustCreate("dcqcn:firmware=false");
  auto spelled = MustCreate(
      "dcqcn:g=0.00390625,k=55,timer=55,byte_counter=10000000,f=5,rai=40,rhai=200,"
      "min_rate=100,initial_alpha=1");
  ASSERT_NE(implicit, nullptr);
  ASSERT_NE(explicit_false, nullptr);
  ASSERT_NE(spelled, nullptr);
  for (CongestionControl* cc : {implicit.get(), explicit_false.get(), spelled.get()}) {
    Cnp(*cc, At(0));
    Cnp(*cc, At(20));
    for (int i = 0; i < 3000; ++i) Send(*cc, At(20 + i * 0.5), 4096);
    Tick(*cc, At(5000));
  }
  EXPECT_EQ(implicit->DebugState(), spelled->DebugState());
  EXPECT_EQ(explicit_false->DebugState(), spelled->DebugState());
}

TEST(DcqcnCcTest, FirmwarePresetUsesConnectXDefaults) {
  auto cc = MustCreate("dcqcn:firmware=true");
  ASSERT_NE(cc, nullptr);
  const double a0 = 1023.0 / 1024;  // INITIAL_ALPHA_VALUE
  const double g = 5.0 / 1024;      // DCE_TCP_G = 1019
  Cnp(*cc, At(0));
  const double rc = kLine * (1 - a0 / 2);
  ExpectClose(Rate(*cc), rc, "cut by initial_alpha/2");
  EXPECT_NEAR(DebugVariable(*cc, "alpha"), (1 - g) * a0 + g, 1e-12);
  // K = DCE_TCP_RTT = 1 us: 299 decays by 299.5 us. T = RPG_TIME_RESET = 300 us.
  Tick(*cc, At(299.5));
  EXPECT_NEAR(DebugVariable(*cc, "alpha"), ((1 - g) * a0 + g) * std::pow(1 - g, 299), 1e-12);
  ExpectClose(Rate(*cc), rc, "no increase before 300 us");
  Tick(*cc, At(300));  // F = RPG_THRESHOLD = 1: one fast recovery step
  ExpectClose(Rate(*cc), (kLine + rc) / 2, "fast recovery");
  // RPG_BYTE_RESET = 32767 bytes.
  Send(*cc, At(301), 32766);
  EXPECT_EQ(DebugVariable(*cc, "byte_stage"), 0);
  Send(*cc, At(301), 1);
  EXPECT_EQ(DebugVariable(*cc, "byte_stage"), 1);
  // RPG_MIN_RATE = 1 Mb/s.
  for (int i = 0; i < 2000; ++i) Cnp(*cc, At(302));  // g is small: alpha climbs slowly
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::BitsPerSecond(1'000'000));
}

TEST(DcqcnCcTest, FirmwareAdditiveAndHyperStepsAreFiveAndFiftyMbps) {
  auto cc = MustCreate("dcqcn:firmware=true,byte_counter=4096");
  ASSERT_NE(cc, nullptr);
  Cnp(*cc, At(0));
  Cnp(*cc, At(0));
  const double rt = Target(*cc);
  Tick(*cc, At(300));  // T = 1: fast recovery (F = 1)
  Tick(*cc, At(600));  // T = 2, BC = 0: additive, RT += 5 Mb/s
  ExpectClose(Target(*cc), rt + 5e6, "RPG_AI_RATE");
  Send(*cc, At(601), 4096);  // BC = 1: additive
  Send(*cc, At(601), 4096);  // BC = 2, T = 2: hyper, i = 1, RT += 50 Mb/s
  ExpectClose(Target(*cc), rt + 10e6 + 50e6, "RPG_HAI_RATE");
}

TEST(DcqcnCcTest, GivenKeysOverrideThePreset) {
  auto cc = MustCreate("dcqcn:firmware=true,timer=100,initial_alpha=1");
  ASSERT_NE(cc, nullptr);
  Cnp(*cc, At(0));
  ExpectClose(Rate(*cc), kLine / 2, "initial_alpha=1 given");
  Tick(*cc, At(100));
  ExpectClose(Rate(*cc), kLine * 0.75, "timer=100 given, not 300");
  EXPECT_NEAR(DebugVariable(*cc, "alpha"), std::pow(1 - 5.0 / 1024, 100), 1e-12);  // firmware g, K
}

// --- Other parameters --------------------------------------------------------

TEST(DcqcnCcTest, InitialRateStartsBelowLineAndRecovers) {
  auto cc = MustCreate("dcqcn:initial_rate=100");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(100));
  Send(*cc, At(10), 4096);  // the first event arms the timer
  Tick(*cc, At(64.999));
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(100));
  Tick(*cc, At(65));
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(250));  // (400 + 100)/2
}

TEST(DcqcnCcTest, WindowIsWindowRttsTimesTheBdp) {
  auto one = MustCreate("dcqcn:window_rtts=1");
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->window_bytes(), 98u * 4096u);  // 400000 bytes -> 98 packets
  auto eight = MustCreate("dcqcn:window_rtts=8");
  ASSERT_NE(eight, nullptr);
  EXPECT_EQ(eight->window_bytes(), 782u * 4096u);  // 3.2 MB -> 781.25 packets
}

TEST(DcqcnCcTest, WindowDoesNotMoveWithTheRate) {
  auto cc = MustCreate("dcqcn");
  ASSERT_NE(cc, nullptr);
  const uint64_t window = cc->window_bytes();
  for (int i = 0; i < 20; ++i) Cnp(*cc, At(0));
  EXPECT_EQ(cc->window_bytes(), window);
}

TEST(DcqcnCcTest, WindowIsNeverBelowFourPackets) {
  for (const Duration rtt : {Duration::Zero(), Duration::Nanoseconds(1), Duration::Seconds(1)}) {
    for (const uint32_t mtu : {1u, 1500u, 4096u, 9000u}) {
      CcContext context;
      context.base_rtt = rtt;
      context.mtu_bytes = mtu;
      context.line_rate = Bandwidth::Gbps(1);
      auto cc = MustCreate("dcqcn:min_rate=1", context);
      ASSERT_NE(cc, nullptr);
      EXPECT_GE(cc->window_bytes(), 4u * mtu);
      EXPECT_EQ(cc->window_bytes() % mtu, 0u);
    }
  }
}

// --- Refusals ------------------------------------------------------------------

TEST(DcqcnCcTest, UnknownKeyIsRefusedWithTheValidKeys) {
  EXPECT_THAT(CreateError("dcqcn:gain=0.1"),
              AllOf(HasSubstr("unknown parameter \"gain\""), HasSubstr("g (default 0.00390625)"),
                    HasSubstr("firmware (default false)"), HasSubstr("rhai (default 200)")));
}

TEST(DcqcnCcTest, OutOfRangeValuesAreRefused) {
  EXPECT_THAT(CreateError("dcqcn:g=0"), HasSubstr("\"g\""));
  EXPECT_THAT(CreateError("dcqcn:g=1.5"), HasSubstr("in (0, 1]"));
  EXPECT_THAT(CreateError("dcqcn:initial_alpha=2"), HasSubstr("\"initial_alpha\""));
  EXPECT_THAT(CreateError("dcqcn:k=0"), HasSubstr("\"k\""));
  EXPECT_THAT(CreateError("dcqcn:timer=0"), HasSubstr("\"timer\""));
  EXPECT_THAT(CreateError("dcqcn:timer=2000000"), HasSubstr("[0.001, 1000000]"));
  EXPECT_THAT(CreateError("dcqcn:min_rate=0"), HasSubstr("\"min_rate\""));
  EXPECT_THAT(CreateError("dcqcn:f=70000"), HasSubstr("[0, 65535]"));
  EXPECT_THAT(CreateError("dcqcn:byte_counter=5000000000"), HasSubstr("\"byte_counter\""));
  EXPECT_THAT(CreateError("dcqcn:firmware=yes"), HasSubstr("true or false"));
  EXPECT_THAT(CreateError("dcqcn:rai=-1"), HasSubstr("\"rai\""));
}

TEST(DcqcnCcTest, RatesAboveTheLineRateAreRefused) {
  EXPECT_THAT(CreateError("dcqcn:min_rate=500000"),
              AllOf(HasSubstr("min_rate=500000 Mb/s"), HasSubstr("line rate 400 Gb/s")));
  EXPECT_THAT(CreateError("dcqcn:initial_rate=500"),
              AllOf(HasSubstr("initial_rate=500 Gb/s"), HasSubstr("above the line rate")));
  EXPECT_THAT(CreateError("dcqcn:initial_rate=0.05"),
              AllOf(HasSubstr("initial_rate=0.05 Gb/s"), HasSubstr("below min_rate=100")));
  EXPECT_FALSE(ValidateCongestionControlSpec("dcqcn:initial_rate=500").ok());
}

TEST(DcqcnCcTest, UnknownLineRateIsRefused) {
  CcContext context;
  context.line_rate = Bandwidth::Unlimited();
  EXPECT_THAT(CreateError("dcqcn", context), HasSubstr("line rate is unknown"));
}

}  // namespace
}  // namespace tern
