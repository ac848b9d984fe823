#include "cc/hpcc.h"

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cc/congestion_control.h"
#include "cc/testing/cc_test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/units.h"

namespace tern {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// The test link: 100 Gb/s = 12.5 bytes/ns, T = 10 us, so a hop's BDP B x T is
// 125000 bytes and W_init = 125000.
constexpr uint32_t kRateMbps = 100'000;
constexpr double kBytesPerNs = 12.5;
constexpr double kTns = 10'000;
constexpr double kWinit = 125'000;
constexpr double kEta = 0.95;

CcContext Context(Bandwidth line_rate = Bandwidth::Gbps(100),
                  Duration base_rtt = Duration::Microseconds(10), uint32_t mtu_bytes = 4096) {
  return cc_testing::MakeContext(line_rate, base_rtt, mtu_bytes);
}

Telemetry Stack(std::initializer_list<HopTelemetry> hops) {
  Telemetry t;
  for (const HopTelemetry& h : hops) t.hop[t.hops++] = h;
  return t;
}

HopTelemetry Hop(uint32_t ts_ns, uint32_t tx_bytes, uint32_t queue_bytes,
                 uint32_t rate_mbps = kRateMbps) {
  return HopTelemetry{ts_ns, tx_bytes, queue_bytes, rate_mbps};
}

// Holds the algorithm both as the interface (to drive it) and as HpccCc (to
// read W, Wc, U and incStage), and the time of the last ACK delivered.
struct Hpcc {
  std::unique_ptr<CongestionControl> cc;
  HpccCc* hpcc = nullptr;
  Time now;

  // Delivers at `at` one ACK carrying `telemetry` over path `entropy`, for a
  // packet sent at `sent_at` (the timestamp the ACK echoes).
  void AckAt(Time at, Time sent_at, const Telemetry& telemetry, uint32_t acked_bytes = 4096,
             uint16_t entropy = 7) {
    now = at;
    AckEvent ack;
    ack.now = at;
    ack.rtt = at - sent_at;
    ack.acked_bytes = acked_bytes;
    ack.acked_packets = 1;
    ack.entropy = entropy;
    ack.telemetry = &telemetry;
    cc->OnAck(ack);
  }

  // Delivers an ACK 1 us after the previous one, for a packet sent half-way
  // between them: after the last Wc update, so every measured ACK is an RTT
  // boundary and updates Wc. The formula tests use that.
  void Ack(const Telemetry& telemetry, uint32_t acked_bytes = 4096, uint16_t entropy = 7) {
    const Time at = now + Duration::Microseconds(1);
    AckAt(at, at - Duration::Nanoseconds(500), telemetry, acked_bytes, entropy);
  }

  // One hop's next record, T after the previous (EWMA weight 1, so U = u), with
  // `tx_bytes` more transmitted and `queue_bytes` queued; the queue term uses
  // the smaller of this and the previous record's queue.
  void AckWithUtilization(uint32_t* ts, uint32_t* tx, uint32_t tx_bytes, uint32_t queue_bytes) {
    *ts += static_cast<uint32_t>(kTns);
    *tx += tx_bytes;
    Ack(Stack({Hop(*ts, *tx, queue_bytes)}));
  }
};

Hpcc MustCreate(std::string_view spec, const CcContext& context = Context()) {
  Hpcc out;
  out.cc = cc_testing::MustCreate(spec, context);
  if (out.cc == nullptr) return {};
  EXPECT_EQ(out.cc->name(), "hpcc");
  out.hpcc = static_cast<HpccCc*>(out.cc.get());
  return out;
}

std::string CreateError(std::string_view spec, const CcContext& context = Context()) {
  return cc_testing::CreateError(spec, context);
}

// --- Creation and defaults ---------------------------------------------------

TEST(HpccCcTest, DefaultsCreateWithBdpWindowAndLineRatePacing) {
  // Default context: 400 Gb/s x 8 us = 400000 bytes.
  Hpcc h = MustCreate("hpcc", CcContext{});
  ASSERT_NE(h.cc, nullptr);
  EXPECT_TRUE(h.cc->wants_telemetry());
  EXPECT_EQ(h.cc->window_bytes(), 400000u);
  EXPECT_EQ(h.cc->pacing_rate(), Bandwidth::Gbps(400));
  EXPECT_EQ(h.hpcc->utilization(), 1.0);
  EXPECT_EQ(h.hpcc->inc_stage(), 0u);
}

TEST(HpccCcTest, DefaultAdditiveStepIsBdpTimesHeadroomOver125Flows) {
  // W_AI = 400000 x (1 - 0.95) / 125 = 160 bytes, i.e. 160 B / 8 us = 160 Mb/s
  // = the simulator's 10 Mb/s per 25 Gb/s at 400 Gb/s.
  Hpcc h = MustCreate("hpcc", CcContext{});
  ASSERT_NE(h.cc, nullptr);
  const uint32_t t = 8000;  // T = 8 us: EWMA weight 1
  h.Ack(Stack({Hop(0, 0, 400000, 400'000)}));
  // u = 2 (rate 100%, queue one BDP in both records) -> W = 400000 / (2 / 0.95) + 160.
  h.Ack(Stack({Hop(t, 400000, 400000, 400'000)}));
  const double wc = 400000 / (2 / kEta) + 160;
  EXPECT_NEAR(h.hpcc->reference_window(), wc, 1e-6);
  // u = 0.5: multiplicative (max_stage 0), W = Wc / (0.5 / 0.95) + 160.
  h.Ack(Stack({Hop(2 * t, 400000 + 200000, 0, 400'000)}));
  EXPECT_NEAR(h.hpcc->window(), wc / (0.5 / kEta) + 160, 1e-6);
}

// --- MeasureInflight ---------------------------------------------------------

TEST(HpccCcTest, UtilizationFromOneHopRecordPair) {
  Hpcc h = MustCreate("hpcc:w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  h.Ack(Stack({Hop(1000, 0, 30000)}));
  EXPECT_EQ(h.hpcc->utilization(), 1.0);  // the first record only is stored
  EXPECT_EQ(h.hpcc->window(), kWinit);
  h.Ack(Stack({Hop(6000, 50000, 20000)}));
  // txRate = 50000 B / 5000 ns; u = min(20000, 30000) / (B T) + txRate / B.
  const double u = 20000 / (kBytesPerNs * kTns) + (50000.0 / 5000) / kBytesPerNs;  // 0.96
  const double tau = 5000;
  const double expected_u = (1 - tau / kTns) * 1.0 + (tau / kTns) * u;  // 0.98
  EXPECT_NEAR(h.hpcc->utilization(), expected_u, 1e-12);
  // U >= eta: W = Wc / (U / eta) + W_AI.
  EXPECT_NEAR(h.hpcc->window(), kWinit / (expected_u / kEta) + 100, 1e-6);
}

TEST(HpccCcTest, QueueTermTakesTheSmallerOfTheTwoSamples) {
  Hpcc h = MustCreate("hpcc:w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  h.Ack(Stack({Hop(0, 0, 10000)}));
  h.Ack(Stack({Hop(10000, 0, 40000)}));  // tau = T: U = u; no bytes sent
  EXPECT_NEAR(h.hpcc->utilization(), 10000 / (kBytesPerNs * kTns), 1e-12);  // 0.08
}

TEST(HpccCcTest, EwmaWeightIsCappedAtOneT) {
  Hpcc h = MustCreate("hpcc:w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  h.Ack(Stack({Hop(0, 0, 0)}));
  // 30 us apart at 4 bytes/ns: u = 4 / 12.5 = 0.32, and weight min(30, 10) / 10 = 1.
  h.Ack(Stack({Hop(30000, 120000, 0)}));
  EXPECT_NEAR(h.hpcc->utilization(), 0.32, 1e-12);
}

TEST(HpccCcTest, BottleneckIsTheMostLoadedHopWithItsOwnTau) {
  Hpcc h = MustCreate("hpcc:w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  h.Ack(Stack({Hop(0, 0, 0), Hop(100, 0, 62500)}));
  // Hop 0: 2000 ns, 10000 bytes -> u = 5 / 12.5 = 0.4.
  // Hop 1: 4000 ns, 40000 bytes, queue min(62500, 80000) -> u = 0.5 + 0.8 = 1.3.
  h.Ack(Stack({Hop(2000, 10000, 0), Hop(4100, 40000, 80000)}));
  const double u1 = 62500 / (kBytesPerNs * kTns) + (40000.0 / 4000) / kBytesPerNs;
  const double tau = 4000;  // hop 1's (hop 0's 2000 would give U = 1.06)
  EXPECT_NEAR(h.hpcc->utilization(), (1 - tau / kTns) + tau / kTns * u1, 1e-12);
}

TEST(HpccCcTest, TxBytesAndTimestampsWrapAround) {
  Hpcc h = MustCreate("hpcc:w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  const uint32_t ts0 = 0xFFFFF000u;  // 4096 ns before the wrap
  const uint32_t tx0 = 0xFFFFFF00u;  // 256 bytes before the wrap
  h.Ack(Stack({Hop(ts0, tx0, 0)}));
  const uint32_t ts1 = static_cast<uint32_t>((uint64_t{ts0} + 5000) % (uint64_t{1} << 32));
  const uint32_t tx1 = static_cast<uint32_t>((uint64_t{tx0} + 25000) % (uint64_t{1} << 32));
  ASSERT_LT(ts1, ts0);
  ASSERT_LT(tx1, tx0);
  h.Ack(Stack({Hop(ts1, tx1, 0)}));
  // 25000 bytes in 5000 ns: u = 5 / 12.5 = 0.4; U = 0.5 x 1 + 0.5 x 0.4.
  EXPECT_NEAR(h.hpcc->utilization(), 0.7, 1e-12);
}

TEST(HpccCcTest, OlderRecordIsNotMeasuredButReplacesTheStoredOne) {
  Hpcc h = MustCreate("hpcc:w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  h.Ack(Stack({Hop(5000, 50000, 0)}));
  h.Ack(Stack({Hop(4000, 40000, 0)}));  // reordered: 1000 ns "back"
  EXPECT_EQ(h.hpcc->utilization(), 1.0);
  EXPECT_EQ(h.hpcc->window(), kWinit);
  // Measured from the 4000 ns record: 50000 bytes in 10000 ns -> u = 0.4.
  h.Ack(Stack({Hop(14000, 90000, 0)}));
  EXPECT_NEAR(h.hpcc->utilization(), 0.4, 1e-12);
}

TEST(HpccCcTest, SameTimestampIsNotMeasured) {
  Hpcc h = MustCreate("hpcc:w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  h.Ack(Stack({Hop(5000, 0, 0)}));
  h.Ack(Stack({Hop(5000, 1000, 0)}));
  EXPECT_EQ(h.hpcc->utilization(), 1.0);
  EXPECT_EQ(h.hpcc->window(), kWinit);
}

// --- Path changes ------------------------------------------------------------

TEST(HpccCcTest, HopCountChangeResetsTheRecords) {
  Hpcc h = MustCreate("hpcc:w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  h.Ack(Stack({Hop(0, 0, 0), Hop(0, 0, 0)}));
  // Three hops now: only stored, even though hops 0 and 1 would measure u = 8.
  h.Ack(Stack({Hop(10000, 1'000'000, 0), Hop(10000, 0, 0), Hop(10000, 0, 0)}));
  EXPECT_EQ(h.hpcc->utilization(), 1.0);
  EXPECT_EQ(h.hpcc->window(), kWinit);
  EXPECT_THAT(h.cc->DebugState(), HasSubstr("hops=3"));
  // Measured against the three-hop record: hop 2 sends 50000 bytes in 10 us.
  h.Ack(Stack({Hop(20000, 1'000'000, 0), Hop(20000, 0, 0), Hop(20000, 50000, 0)}));
  EXPECT_NEAR(h.hpcc->utilization(), 0.4, 1e-12);
}

TEST(HpccCcTest, FewerHopsResetTheRecordsToo) {
  Hpcc h = MustCreate("hpcc:w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  h.Ack(Stack({Hop(0, 0, 0), Hop(0, 0, 0), Hop(0, 0, 0)}));
  // Same rates on the two remaining hops, but the path is shorter: only stored.
  h.Ack(Stack({Hop(10000, 50000, 0), Hop(10000, 0, 0)}));
  EXPECT_EQ(h.hpcc->utilization(), 1.0);
  EXPECT_THAT(h.cc->DebugState(), HasSubstr("hops=2"));
  h.Ack(Stack({Hop(20000, 100000, 0), Hop(20000, 0, 0)}));
  EXPECT_NEAR(h.hpcc->utilization(), 0.4, 1e-12);
}

TEST(HpccCcTest, HopRateChangeResetsTheRecords) {
  Hpcc h = MustCreate("hpcc:w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  h.Ack(Stack({Hop(0, 0, 0)}));
  h.Ack(Stack({Hop(10000, 50000, 0, 50'000)}));  // the port now runs at 50 Gb/s
  EXPECT_EQ(h.hpcc->utilization(), 1.0);
  // 50000 bytes in 10 us at 6.25 bytes/ns: u = 0.8.
  h.Ack(Stack({Hop(20000, 100000, 0, 50'000)}));
  EXPECT_NEAR(h.hpcc->utilization(), 0.8, 1e-12);
}

TEST(HpccCcTest, EntropyChangeResetsTheRecords) {
  Hpcc h = MustCreate("hpcc:w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  h.Ack(Stack({Hop(0, 0, 0)}), 4096, /*entropy=*/1);
  h.Ack(Stack({Hop(10000, 50000, 0)}), 4096, /*entropy=*/2);
  EXPECT_EQ(h.hpcc->utilization(), 1.0);
  h.Ack(Stack({Hop(20000, 100000, 0)}), 4096, /*entropy=*/2);
  EXPECT_NEAR(h.hpcc->utilization(), 0.4, 1e-12);
}

// Telemetry ACKs alternating between entropies 1 and 2, each measured
// against its own path's previous record when `h` keeps two.
void ExpectAlternatingEntropiesBothMeasure(Hpcc& h) {
  h.Ack(Stack({Hop(0, 0, 0)}), 4096, /*entropy=*/1);
  h.Ack(Stack({Hop(0, 0, 0)}), 4096, /*entropy=*/2);
  EXPECT_EQ(h.hpcc->utilization(), 1.0) << "two first records: nothing measured";
  // Path 1's port sent 50000 bytes in 10 us: u = 0.4.
  h.Ack(Stack({Hop(10000, 50000, 0)}), 4096, /*entropy=*/1);
  EXPECT_NEAR(h.hpcc->utilization(), 0.4, 1e-12);
  // Path 2's port sent 100000 bytes in 10 us: u = 0.8, measured against its own record.
  h.Ack(Stack({Hop(10000, 100000, 0)}), 4096, /*entropy=*/2);
  EXPECT_NEAR(h.hpcc->utilization(), 0.8, 1e-12);
}

// With paths=2 each entropy is measured against its own previous record, so
// sprayed ACKs that alternate between two paths all measure.
TEST(HpccCcTest, PathsKeepsRecordsPerEntropy) {
  Hpcc h = MustCreate("hpcc:w_ai=100,paths=2");
  ASSERT_NE(h.cc, nullptr);
  ExpectAlternatingEntropiesBothMeasure(h);
}

// By default the table holds a record set per entropy the connection sprays
// over (CcContext::paths), at most 8: one, the paper's case, without spraying.
TEST(HpccCcTest, DefaultPathsFollowTheConnectionsSpray) {
  for (const auto& [sprayed, kept] : {std::pair{1, 1}, {2, 2}, {8, 8}, {64, 8}}) {
    CcContext context = Context();
    context.paths = static_cast<uint16_t>(sprayed);
    Hpcc h = MustCreate("hpcc:w_ai=100", context);
    ASSERT_NE(h.cc, nullptr);
    EXPECT_EQ(h.hpcc->path_count(), static_cast<uint32_t>(kept)) << sprayed << " entropies";
    std::array<CcVariable, kMaxCcVariables> vars;
    const int n = h.cc->DebugVariables(vars);
    EXPECT_EQ(vars[n - 1].name, "paths");
    EXPECT_EQ(vars[n - 1].value, kept);
    EXPECT_EQ(MustCreate("hpcc:paths=3", context).hpcc->path_count(), 3u) << "given: as given";
  }
  // Sprayed over two entropies, both measure (as with paths=2 above).
  CcContext two = Context();
  two.paths = 2;
  Hpcc h = MustCreate("hpcc:w_ai=100", two);
  ASSERT_NE(h.cc, nullptr);
  ExpectAlternatingEntropiesBothMeasure(h);
}

// A third path takes the slot stored longest ago (path 1's): paths 2 and 3
// measure, and path 1's next ACK is only stored.
TEST(HpccCcTest, PathsBeyondTheTableReplaceTheOldestSlot) {
  Hpcc h = MustCreate("hpcc:w_ai=100,paths=2");
  ASSERT_NE(h.cc, nullptr);
  h.Ack(Stack({Hop(0, 0, 0)}), 4096, /*entropy=*/1);
  h.Ack(Stack({Hop(0, 0, 0)}), 4096, /*entropy=*/2);
  h.Ack(Stack({Hop(0, 0, 0)}), 4096, /*entropy=*/3);
  h.Ack(Stack({Hop(10000, 50000, 0)}), 4096, /*entropy=*/2);
  EXPECT_NEAR(h.hpcc->utilization(), 0.4, 1e-12);
  h.Ack(Stack({Hop(10000, 100000, 0)}), 4096, /*entropy=*/3);
  EXPECT_NEAR(h.hpcc->utilization(), 0.8, 1e-12);
  h.Ack(Stack({Hop(10000, 25000, 0)}), 4096, /*entropy=*/1);
  EXPECT_NEAR(h.hpcc->utilization(), 0.8, 1e-12) << "path 1 had no record left";
}

// --- ComputeWind -------------------------------------------------------------

TEST(HpccCcTest, MultiplicativeStepsChainThroughWc) {
  Hpcc h = MustCreate("hpcc:w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  uint32_t ts = 0;
  uint32_t tx = 0;
  h.Ack(Stack({Hop(ts, tx, 125000)}));             // queued in both records: u = 2 next
  h.AckWithUtilization(&ts, &tx, 125000, 125000);  // u = 1 + 1 = 2
  const double w1 = kWinit / (2 / kEta) + 100;
  EXPECT_NEAR(h.hpcc->window(), w1, 1e-6);
  EXPECT_NEAR(h.hpcc->reference_window(), w1, 1e-6);
  h.AckWithUtilization(&ts, &tx, 125000, 25000);  // u = 0.2 + 1 = 1.2
  const double w2 = w1 / (1.2 / kEta) + 100;
  EXPECT_NEAR(h.hpcc->window(), w2, 1e-6);
  EXPECT_NEAR(h.hpcc->reference_window(), w2, 1e-6);
  EXPECT_EQ(h.hpcc->inc_stage(), 0u);
}

TEST(HpccCcTest, AdditiveStagesThenMultiplicativeAfterMaxStage) {
  Hpcc h = MustCreate("hpcc:w_ai=1000,max_stage=3");
  ASSERT_NE(h.cc, nullptr);
  uint32_t ts = 0;
  uint32_t tx = 0;
  h.Ack(Stack({Hop(ts, tx, 125000)}));             // queued in both records: u = 2 next
  h.AckWithUtilization(&ts, &tx, 125000, 125000);  // U = 2: W = 60375
  double wc = kWinit / (2 / kEta) + 1000;
  ASSERT_NEAR(h.hpcc->reference_window(), wc, 1e-6);
  for (uint32_t stage = 1; stage <= 3; ++stage) {
    h.AckWithUtilization(&ts, &tx, 62500, 0);  // U = 0.5 < eta
    wc += 1000;
    EXPECT_NEAR(h.hpcc->window(), wc, 1e-6) << "stage " << stage;
    EXPECT_NEAR(h.hpcc->reference_window(), wc, 1e-6) << "stage " << stage;
    EXPECT_EQ(h.hpcc->inc_stage(), stage);
  }
  // incStage = maxStage: multiplicative although U < eta, then back to stage 0.
  h.AckWithUtilization(&ts, &tx, 62500, 0);
  wc = wc / (0.5 / kEta) + 1000;
  EXPECT_NEAR(h.hpcc->window(), wc, 1e-6);
  EXPECT_NEAR(h.hpcc->reference_window(), wc, 1e-6);
  EXPECT_EQ(h.hpcc->inc_stage(), 0u);
  h.AckWithUtilization(&ts, &tx, 62500, 0);
  EXPECT_NEAR(h.hpcc->window(), wc + 1000, 1e-6);
  EXPECT_EQ(h.hpcc->inc_stage(), 1u);
}

TEST(HpccCcTest, MaxStageZeroIsAlwaysMultiplicative) {
  Hpcc h = MustCreate("hpcc:w_ai=1000,max_stage=0");
  ASSERT_NE(h.cc, nullptr);
  uint32_t ts = 0;
  uint32_t tx = 0;
  h.Ack(Stack({Hop(ts, tx, 125000)}));             // queued in both records: u = 2 next
  h.AckWithUtilization(&ts, &tx, 125000, 125000);  // U = 2
  const double wc = kWinit / (2 / kEta) + 1000;
  h.AckWithUtilization(&ts, &tx, 100000, 0);  // U = 0.8
  EXPECT_NEAR(h.hpcc->window(), wc / (0.8 / kEta) + 1000, 1e-6);
  EXPECT_EQ(h.hpcc->inc_stage(), 0u);
}

TEST(HpccCcTest, WindowIsCappedAtWinit) {
  Hpcc h = MustCreate("hpcc:w_ai=1000,max_stage=1");
  ASSERT_NE(h.cc, nullptr);
  uint32_t ts = 0;
  uint32_t tx = 0;
  h.Ack(Stack({Hop(ts, tx, 0)}));
  h.AckWithUtilization(&ts, &tx, 12500, 0);  // U = 0.1: Wc + W_AI > W_init
  EXPECT_EQ(h.hpcc->window(), kWinit);
  EXPECT_EQ(h.hpcc->inc_stage(), 1u);
  // U = 0 at incStage = maxStage: multiplicative, without dividing by zero.
  h.AckWithUtilization(&ts, &tx, 0, 0);
  EXPECT_EQ(h.hpcc->utilization(), 0.0);
  EXPECT_EQ(h.hpcc->window(), kWinit);
  EXPECT_EQ(h.hpcc->inc_stage(), 0u);
  EXPECT_EQ(h.cc->window_bytes(), 125000u);
}

TEST(HpccCcTest, EtaSetsTheTarget) {
  Hpcc h = MustCreate("hpcc:eta=0.5,w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  uint32_t ts = 0;
  uint32_t tx = 0;
  h.Ack(Stack({Hop(ts, tx, 0)}));
  h.AckWithUtilization(&ts, &tx, 100000, 0);  // U = 0.8 >= 0.5
  EXPECT_NEAR(h.hpcc->window(), kWinit / (0.8 / 0.5) + 100, 1e-6);
}

TEST(HpccCcTest, AiFlowsSetsTheAdditiveStep) {
  // W_AI = 125000 x 0.05 / 10 = 625 bytes.
  Hpcc h = MustCreate("hpcc:ai_flows=10,max_stage=5");
  ASSERT_NE(h.cc, nullptr);
  const double w_ai = kWinit * (1 - kEta) / 10;
  uint32_t ts = 0;
  uint32_t tx = 0;
  h.Ack(Stack({Hop(ts, tx, 125000)}));             // queued in both records: u = 2 next
  h.AckWithUtilization(&ts, &tx, 125000, 125000);  // U = 2
  const double wc = kWinit / (2 / kEta) + w_ai;
  EXPECT_NEAR(h.hpcc->window(), wc, 1e-6);
  h.AckWithUtilization(&ts, &tx, 62500, 0);  // U = 0.5: additive
  EXPECT_NEAR(h.hpcc->window(), wc + w_ai, 1e-6);
}

// --- Once per RTT ------------------------------------------------------------

// A window of 10 packets sliding at one packet per us over a 10 us RTT:
// packet k leaves at k us, and its ACK arrives at k + 10 us.
Time SentAt(int packet) { return Time::Zero() + Duration::Microseconds(packet); }
Time AckedAt(int packet) { return SentAt(packet) + Duration::Microseconds(10); }

TEST(HpccCcTest, WcIsUpdatedOncePerRttWhileWReactsToEveryAck) {
  Hpcc h = MustCreate("hpcc:w_ai=1000");
  ASSERT_NE(h.cc, nullptr);
  uint32_t ts = 0;
  uint32_t tx = 0;
  h.AckAt(AckedAt(1), SentAt(1), Stack({Hop(ts, tx, 0)}));  // first record: the clock starts
  std::vector<int> wc_updates;
  double last_wc = h.hpcc->reference_window();
  for (int packet = 2; packet <= 30; ++packet) {
    ts += 1000;
    tx += 15000;  // 15 bytes/ns = 1.2 of the link: U grows, W shrinks from Wc
    h.AckAt(AckedAt(packet), SentAt(packet), Stack({Hop(ts, tx, 0)}));
    const double wc = h.hpcc->reference_window();
    if (wc != last_wc) {
      wc_updates.push_back(packet);
      EXPECT_EQ(h.hpcc->window(), wc) << "packet " << packet;
    } else {
      // Between updates W = Wc / (U / eta) + W_AI from the unchanged Wc.
      EXPECT_NEAR(h.hpcc->window(), wc / (h.hpcc->utilization() / kEta) + 1000, 1e-6)
          << "packet " << packet;
      EXPECT_NE(h.hpcc->window(), wc) << "packet " << packet;
    }
    last_wc = wc;
  }
  // The clock starts at 11 us; packet 12 is the first sent after it (ACKed at
  // 22 us, the next update), packet 23 the first sent after that.
  EXPECT_EQ(wc_updates, (std::vector<int>{12, 23}));
}

TEST(HpccCcTest, IncStageCountsOnlyWcUpdates) {
  Hpcc h = MustCreate("hpcc:w_ai=1000,max_stage=5");
  ASSERT_NE(h.cc, nullptr);
  uint32_t ts = 0;
  uint32_t tx = 0;
  h.AckAt(AckedAt(1), SentAt(1), Stack({Hop(ts, tx, 0)}));  // the clock starts at 11 us
  for (int packet = 2; packet <= 11; ++packet) {
    ts += 1000;
    tx += 6250;  // U = 0.5: additive, W = Wc + W_AI
    h.AckAt(AckedAt(packet), SentAt(packet), Stack({Hop(ts, tx, 0)}));
    EXPECT_EQ(h.hpcc->inc_stage(), 0u) << "packet " << packet;
    EXPECT_EQ(h.hpcc->reference_window(), kWinit) << "packet " << packet;
  }
  ts += 1000;
  tx += 6250;
  h.AckAt(AckedAt(12), SentAt(12), Stack({Hop(ts, tx, 0)}));  // sent after 11 us
  EXPECT_EQ(h.hpcc->inc_stage(), 1u);
}

TEST(HpccCcTest, LossesBeforeTheUpdateDoNotDelayTheNextOne) {
  // The paper's boundary is a packet sent after the last update being
  // acknowledged, whatever happened to the packets sent before it.
  Hpcc h = MustCreate("hpcc:w_ai=1000");
  ASSERT_NE(h.cc, nullptr);
  h.AckAt(AckedAt(1), SentAt(1), Stack({Hop(0, 0, 0)}));  // the clock starts at 11 us
  // Packets 2 to 11 are lost; the next ACK is for packet 12, sent at 12 us.
  h.AckAt(AckedAt(12), SentAt(12), Stack({Hop(10000, 150000, 0)}));
  EXPECT_EQ(h.hpcc->reference_window(), h.hpcc->window());
  EXPECT_LT(h.hpcc->reference_window(), kWinit);
}

TEST(HpccCcTest, AckWithoutRttSampleIsNoBoundary) {
  // Without the echoed timestamp the send time is unknown: W reacts, Wc waits.
  Hpcc h = MustCreate("hpcc:w_ai=1000");
  ASSERT_NE(h.cc, nullptr);
  h.AckAt(AckedAt(1), SentAt(1), Stack({Hop(0, 0, 0)}));
  h.AckAt(AckedAt(12), AckedAt(12), Stack({Hop(10000, 150000, 0)}));  // rtt = 0
  EXPECT_LT(h.hpcc->window(), kWinit);
  EXPECT_EQ(h.hpcc->reference_window(), kWinit);
}

TEST(HpccCcTest, AckWithoutTelemetryChangesNothing) {
  Hpcc h = MustCreate("hpcc:w_ai=1000");
  ASSERT_NE(h.cc, nullptr);
  h.Ack(Stack({Hop(0, 0, 0)}));
  const std::string before = h.cc->DebugState();
  AckEvent plain;
  plain.now = h.now + Duration::Microseconds(20);
  plain.acked_bytes = 4096;
  plain.acked_packets = 1;
  plain.ce_packets = 1;
  plain.rtt = Duration::Microseconds(10);
  EXPECT_EQ(h.cc->OnAck(plain), PathAdvice::kKeep);
  EXPECT_EQ(h.cc->DebugState(), before);
  h.Ack(Stack({Hop(10000, 150000, 0)}));  // measured against the first record
  const double w = kWinit / (1.2 / kEta) + 1000;
  EXPECT_NEAR(h.hpcc->reference_window(), w, 1e-6);
}

TEST(HpccCcTest, WithoutFastReactAcksBetweenUpdatesAreIgnored) {
  Hpcc h = MustCreate("hpcc:w_ai=1000,fast_react=false");
  ASSERT_NE(h.cc, nullptr);
  h.AckAt(AckedAt(1), SentAt(1), Stack({Hop(0, 0, 0)}));             // the clock starts at 11 us
  h.AckAt(AckedAt(2), SentAt(2), Stack({Hop(2000, 50000, 40000)}));  // sent before: ignored
  EXPECT_EQ(h.hpcc->window(), kWinit);
  EXPECT_EQ(h.hpcc->utilization(), 1.0);
  // Measured from the first record: 40000 bytes in 4000 ns, queue min(0, 0).
  h.AckAt(AckedAt(12), SentAt(12), Stack({Hop(4000, 40000, 0)}));
  const double u = (40000.0 / 4000) / kBytesPerNs;  // 0.8
  const double expected_u = (1 - 0.4) + 0.4 * u;    // 0.92 < eta
  EXPECT_NEAR(h.hpcc->utilization(), expected_u, 1e-12);
  EXPECT_EQ(h.hpcc->window(), kWinit);  // Wc / (U / eta) + W_AI, capped at W_init
}

TEST(HpccCcTest, WithFastReactTheSameAcksAreMeasured) {
  Hpcc h = MustCreate("hpcc:w_ai=1000");
  ASSERT_NE(h.cc, nullptr);
  h.AckAt(AckedAt(1), SentAt(1), Stack({Hop(0, 0, 0)}));
  h.AckAt(AckedAt(2), SentAt(2), Stack({Hop(2000, 50000, 40000)}));  // 25 bytes/ns: u = 2
  EXPECT_NEAR(h.hpcc->utilization(), 0.8 + 0.2 * 2, 1e-12);
  EXPECT_LT(h.hpcc->window(), kWinit);
  EXPECT_EQ(h.hpcc->reference_window(), kWinit);
}

// --- Losses ------------------------------------------------------------------

TEST(HpccCcTest, LossesChangeNothing) {
  Hpcc h = MustCreate("hpcc");
  ASSERT_NE(h.cc, nullptr);
  const std::string before = h.cc->DebugState();
  for (LossCause cause : {LossCause::kDetected, LossCause::kTrimmed, LossCause::kTimeout}) {
    LossEvent loss;
    loss.cause = cause;
    loss.lost_bytes = 4096;
    loss.lost_packets = 1;
    EXPECT_EQ(h.cc->OnLoss(loss), PathAdvice::kKeep);
  }
  EXPECT_EQ(h.cc->DebugState(), before);
}

// --- Window and pacing -------------------------------------------------------

TEST(HpccCcTest, PacingRateIsWOverT) {
  Hpcc h = MustCreate("hpcc:w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  EXPECT_EQ(h.cc->pacing_rate(), Bandwidth::Gbps(100));
  uint32_t ts = 0;
  uint32_t tx = 0;
  h.Ack(Stack({Hop(ts, tx, 125000)}));             // queued in both records: u = 2 next
  h.AckWithUtilization(&ts, &tx, 125000, 125000);  // U = 2
  const double w = kWinit / (2 / kEta) + 100;      // 59475 bytes
  EXPECT_EQ(h.cc->window_bytes(), 59475u);
  EXPECT_NEAR(static_cast<double>(h.cc->pacing_rate().bits_per_second()), w * 8 / 10e-6, 1.0);
}

TEST(HpccCcTest, WindowBelowOneMtuStaysAtMtuAndPacesAtWOverT) {
  // 1 Gb/s x 10 us: W_init = 1250 bytes < one 4096-byte packet.
  Hpcc h = MustCreate("hpcc:w_ai=10", Context(Bandwidth::Gbps(1)));
  ASSERT_NE(h.cc, nullptr);
  EXPECT_EQ(h.cc->window_bytes(), 4096u);
  EXPECT_EQ(h.cc->pacing_rate(), Bandwidth::Gbps(1));
  h.Ack(Stack({Hop(0, 0, 0, 1000)}));
  // 2500 bytes in 10 us on a 1 Gb/s port (0.125 bytes/ns): u = 2.
  h.Ack(Stack({Hop(10000, 2500, 0, 1000)}));
  const double w = 1250 / (2 / kEta) + 10;  // 603.75 bytes
  EXPECT_NEAR(h.hpcc->window(), w, 1e-9);
  EXPECT_EQ(h.cc->window_bytes(), 4096u);
  EXPECT_NEAR(static_cast<double>(h.cc->pacing_rate().bits_per_second()), w * 8 / 10e-6, 1.0);
}

TEST(HpccCcTest, BaseRttParameterOverridesTheContext) {
  // T = 20 us: W_init = 250000 bytes, still paced at the line rate.
  Hpcc h = MustCreate("hpcc:base_rtt=20,w_ai=100");
  ASSERT_NE(h.cc, nullptr);
  EXPECT_EQ(h.cc->window_bytes(), 250000u);
  EXPECT_EQ(h.cc->pacing_rate(), Bandwidth::Gbps(100));
  // The queue is normalised by B x T = 250000 bytes.
  h.Ack(Stack({Hop(0, 0, 50000)}));
  h.Ack(Stack({Hop(20000, 0, 50000)}));
  EXPECT_NEAR(h.hpcc->utilization(), 50000 / (kBytesPerNs * 20000), 1e-12);  // 0.2
}

TEST(HpccCcTest, WindowNeverZero) {
  for (const char* spec : {"hpcc", "hpcc:w_ai=1", "hpcc:max_stage=0,ai_flows=1000000"}) {
    Hpcc h = MustCreate(spec, Context(Bandwidth::Gbps(1), Duration::Nanoseconds(10), 1));
    ASSERT_NE(h.cc, nullptr);
    uint32_t ts = 0;
    uint32_t tx = 0;
    h.Ack(Stack({Hop(ts, tx, 0, 1000)}));
    for (int i = 0; i < 50; ++i) {
      ts += 10;
      tx += 1'000'000;  // an absurd rate: U in the thousands
      h.Ack(Stack({Hop(ts, tx, 4'000'000'000u, 1000)}));
      EXPECT_GE(h.cc->window_bytes(), 1u) << spec;
      EXPECT_GE(h.hpcc->window(), 1.0) << spec;
      EXPECT_FALSE(h.cc->pacing_rate().IsUnlimited()) << spec;
    }
  }
}

// --- Parameters refused ------------------------------------------------------

TEST(HpccCcTest, BadParametersAreRefused) {
  EXPECT_THAT(CreateError("hpcc:gain=1"),
              AllOf(HasSubstr("unknown parameter \"gain\""), HasSubstr("eta (default 0.95)")));
  EXPECT_THAT(CreateError("hpcc:eta=1.5"), AllOf(HasSubstr("\"eta\""), HasSubstr("1.5")));
  EXPECT_THAT(CreateError("hpcc:eta=0"), HasSubstr("\"eta\""));
  EXPECT_THAT(CreateError("hpcc:max_stage=1001"), HasSubstr("\"max_stage\""));
  EXPECT_THAT(CreateError("hpcc:paths=9"), HasSubstr("\"paths\""));
  EXPECT_THAT(CreateError("hpcc:ai_flows=0"), HasSubstr("\"ai_flows\""));
  EXPECT_THAT(CreateError("hpcc:w_ai=-1"), HasSubstr("\"w_ai\""));
  EXPECT_THAT(CreateError("hpcc:base_rtt=2000000"), HasSubstr("\"base_rtt\""));
  EXPECT_THAT(CreateError("hpcc:fast_react=maybe"), HasSubstr("\"fast_react\""));
}

TEST(HpccCcTest, WaiAndAiFlowsTogetherAreRefused) {
  EXPECT_THAT(CreateError("hpcc:w_ai=100,ai_flows=10"),
              AllOf(HasSubstr("w_ai=100"), HasSubstr("ai_flows=10"), HasSubstr("one of them")));
  // w_ai=0 means "from ai_flows", so it may accompany it.
  Hpcc h = MustCreate("hpcc:w_ai=0,ai_flows=10");
  EXPECT_NE(h.cc, nullptr);
}

TEST(HpccCcTest, UnknownLineRateOrZeroRttIsRefused) {
  EXPECT_THAT(CreateError("hpcc", Context(Bandwidth::Unlimited())), HasSubstr("line_rate"));
  EXPECT_THAT(CreateError("hpcc", Context(Bandwidth::Gbps(100), Duration::Zero())),
              HasSubstr("base_rtt"));
  // base_rtt= supplies the missing T.
  Hpcc h = MustCreate("hpcc:base_rtt=10", Context(Bandwidth::Gbps(100), Duration::Zero()));
  ASSERT_NE(h.cc, nullptr);
  EXPECT_EQ(h.cc->window_bytes(), 125000u);
}

// --- Debug variables and size ------------------------------------------------

TEST(HpccCcTest, DebugStateShowsAlgorithmVariables) {
  Hpcc h = MustCreate("hpcc:w_ai=100,max_stage=5");
  ASSERT_NE(h.cc, nullptr);
  EXPECT_EQ(h.cc->DebugState(),
            "hpcc window=125000 rate_gbps=100 u=1 wc_bytes=125000 inc_stage=0 hops=0 paths=1");
  uint32_t ts = 0;
  uint32_t tx = 0;
  h.Ack(Stack({Hop(ts, tx, 0), Hop(ts, tx, 0)}));
  // Hop 0 at 0.5 (U = 0.5 < eta): additive, capped at W_init; incStage 1.
  ts += 10000;
  h.Ack(Stack({Hop(ts, 62500, 0), Hop(ts, 0, 0)}));
  EXPECT_EQ(h.cc->DebugState(),
            "hpcc window=125000 rate_gbps=100 u=0.5 wc_bytes=125000 inc_stage=1 hops=2 paths=1");
  // Hop 0 at 1.0 (its queue is min(125000, 0) = 0): W = Wc / (1 / 0.95) + 100 = 118850,
  // paced at 118850 B / 10 us = 95.08 Gb/s.
  ts += 10000;
  h.Ack(Stack({Hop(ts, 62500 + 125000, 125000), Hop(ts, 0, 0)}));
  EXPECT_EQ(h.cc->DebugState(),
            "hpcc window=118850 rate_gbps=95.08 u=1 wc_bytes=118850 inc_stage=0 hops=2 paths=1");
}

TEST(HpccCcTest, StateSizeOnLp64) {
  std::printf("sizeof(HpccCc) = %zu bytes\n", sizeof(HpccCc));
  if constexpr (sizeof(void*) == 8) {
    EXPECT_EQ(sizeof(HpccCc), 768u);
  }
  EXPECT_LE(sizeof(HpccCc), 768u);
}

}  // namespace
}  // namespace tern
