#include "cc/fixed.h"

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cc/congestion_control.h"
#include "cc/testing/cc_test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/units.h"

namespace tern {
namespace {

using cc_testing::MakeContext;
using cc_testing::MustCreate;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(FixedCcTest, NameIsFixed) {
  auto cc = MustCreate("fixed");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->name(), "fixed");
}

TEST(FixedCcTest, DefaultWindowIsBdpRoundedUpToWholeMtus) {
  // Default context: 400 Gb/s x 8 us = 400000 bytes -> 98 packets of 4096.
  auto cc = MustCreate("fixed");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->window_bytes(), 401408u);
}

TEST(FixedCcTest, DefaultWindowThatIsAWholeNumberOfMtusIsKept) {
  // 409.6 Gb/s x 8 us = 409600 bytes = exactly 100 x 4096.
  const CcContext context =
      MakeContext(Bandwidth::BitsPerSecond(409'600'000'000), Duration::Microseconds(8), 4096);
  EXPECT_EQ(DeriveFixedWindowBytes(context), 409600u);
}

TEST(FixedCcTest, DefaultWindowRoundsUpToTheContextMtu) {
  // 100 Gb/s x 10 us = 125000 bytes -> 84 packets of 1500 = 126000.
  const CcContext context = MakeContext(Bandwidth::Gbps(100), Duration::Microseconds(10), 1500);
  auto cc = MustCreate("fixed", context);
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->window_bytes(), 126000u);
}

TEST(FixedCcTest, DefaultWindowIsFourMtusWhenBdpIsSmaller) {
  // 1 Gb/s x 8 us = 1000 bytes < 4 x 4096.
  const CcContext context = MakeContext(Bandwidth::Gbps(1), Duration::Microseconds(8), 4096);
  EXPECT_EQ(DeriveFixedWindowBytes(context), 4u * 4096u);
}

TEST(FixedCcTest, DefaultWindowIsFourMtusWhenLineRateIsUnknown) {
  const CcContext context = MakeContext(Bandwidth::Unlimited(), Duration::Microseconds(8), 4096);
  EXPECT_EQ(DeriveFixedWindowBytes(context), 4u * 4096u);
}

TEST(FixedCcTest, DefaultWindowIsFourMtusWhenBaseRttIsZero) {
  const CcContext context = MakeContext(Bandwidth::Gbps(400), Duration::Zero(), 4096);
  EXPECT_EQ(DeriveFixedWindowBytes(context), 4u * 4096u);
}

TEST(FixedCcTest, DefaultWindowIsCappedAtOneTebibyte) {
  // 1 Pb/s x 1 s would be 1.25e14 bytes.
  const CcContext context = MakeContext(Bandwidth::Gbps(1e6), Duration::Milliseconds(1000), 4096);
  EXPECT_EQ(DeriveFixedWindowBytes(context), kFixedMaxWindowBytes);
}

TEST(FixedCcTest, DerivedWindowUsesLineRateNotPacingRate) {
  auto cc = MustCreate("fixed:rate=10");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->window_bytes(), 401408u);
}

TEST(FixedCcTest, ExplicitWindowIsUsedAsGiven) {
  auto cc = MustCreate("fixed:window=65537");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->window_bytes(), 65537u);  // not rounded to MTUs
}

TEST(FixedCcTest, ExplicitWindowBelowOneMtuIsRaisedToOneMtu) {
  auto cc = MustCreate("fixed:window=1");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->window_bytes(), 4096u);
}

TEST(FixedCcTest, PacketsSetTheWindowInContextMtus) {
  auto cc = MustCreate("fixed:packets=16");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->window_bytes(), 16u * 4096u);

  const CcContext context = MakeContext(Bandwidth::Gbps(100), Duration::Microseconds(10), 1500);
  auto small_mtu = MustCreate("fixed:packets=16", context);
  ASSERT_NE(small_mtu, nullptr);
  EXPECT_EQ(small_mtu->window_bytes(), 16u * 1500u);
}

TEST(FixedCcTest, PacketsWithExplicitZeroWindowIsAccepted) {
  auto cc = MustCreate("fixed:window=0,packets=2");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->window_bytes(), 2u * 4096u);
}

TEST(FixedCcTest, WindowAndPacketsBothNonzeroAreRefused) {
  absl::StatusOr<std::unique_ptr<CongestionControl>> cc =
      CreateCongestionControl("fixed:window=65536,packets=16", CcContext{});
  ASSERT_FALSE(cc.ok());
  EXPECT_EQ(cc.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cc.status().message(),
              AllOf(HasSubstr("window=65536"), HasSubstr("packets=16"), HasSubstr("one of them")));
}

TEST(FixedCcTest, DefaultRateIsUnlimited) {
  auto cc = MustCreate("fixed");
  ASSERT_NE(cc, nullptr);
  EXPECT_TRUE(cc->pacing_rate().IsUnlimited());
}

TEST(FixedCcTest, RateIsAppliedAsPacingRate) {
  auto cc = MustCreate("fixed:rate=12.5");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(12.5));
}

TEST(FixedCcTest, ExplicitZeroRateIsUnlimited) {
  auto cc = MustCreate("fixed:rate=0");
  ASSERT_NE(cc, nullptr);
  EXPECT_TRUE(cc->pacing_rate().IsUnlimited());
}

TEST(FixedCcTest, EventsChangeNeitherWindowNorRate) {
  auto cc = MustCreate("fixed:window=65536,rate=100");
  ASSERT_NE(cc, nullptr);
  AckEvent ack;
  ack.acked_bytes = 4096;
  ack.acked_packets = 1;
  ack.ce_packets = 1;
  ack.rtt = Duration::Microseconds(50);
  LossEvent loss;
  loss.cause = LossCause::kTimeout;
  loss.lost_packets = 3;
  for (int i = 0; i < 100; ++i) {
    cc->OnAck(ack);
    cc->OnLoss(loss);
  }
  EXPECT_EQ(cc->window_bytes(), 65536u);
  EXPECT_EQ(cc->pacing_rate(), Bandwidth::Gbps(100));
}

TEST(FixedCcTest, DebugStateShowsWindowRateAndEventCounts) {
  auto cc = MustCreate("fixed");
  ASSERT_NE(cc, nullptr);
  AckEvent marked;
  marked.ce_packets = 3;
  cc->OnAck(AckEvent{});
  cc->OnAck(marked);
  cc->OnLoss(LossEvent{});
  EXPECT_EQ(cc->DebugState(), "fixed window=401408 rate_gbps=0 acks=2 losses=1 ce_marks=3");
}

TEST(FixedCcTest, DebugStateShowsPacingRateInGbps) {
  auto cc = MustCreate("fixed:window=65536,rate=100");
  ASSERT_NE(cc, nullptr);
  EXPECT_EQ(cc->DebugState(), "fixed window=65536 rate_gbps=100 acks=0 losses=0 ce_marks=0");
}

TEST(FixedCcTest, ConstructorRaisesZeroWindowToOneByte) {
  FixedCc cc(0, Bandwidth::Unlimited());
  EXPECT_EQ(cc.window_bytes(), 1u);
}

TEST(FixedCcTest, WindowIsNeverZeroForAnyContext) {
  for (const Bandwidth rate : {Bandwidth::Unlimited(), Bandwidth::Gbps(1), Bandwidth::Gbps(800)}) {
    for (const Duration rtt : {Duration::Zero(), Duration::Nanoseconds(1), Duration::Seconds(1)}) {
      for (const uint32_t mtu : {1u, 1500u, 4096u, 9000u}) {
        const CcContext context = MakeContext(rate, rtt, mtu);
        for (const char* spec : {"fixed", "fixed:window=1", "fixed:packets=1"}) {
          auto cc = MustCreate(spec, context);
          ASSERT_NE(cc, nullptr);
          EXPECT_GE(cc->window_bytes(), mtu) << spec << " mtu=" << mtu;
        }
      }
    }
  }
}

TEST(FixedCcTest, StateIsFortyEightBytesOnLp64) {
  // docs/cc.md quotes this number: vtable pointer + window + rate + three counters.
  ::testing::Test::RecordProperty("sizeof_FixedCc", static_cast<int>(sizeof(FixedCc)));
  if constexpr (sizeof(void*) == 8) {
    EXPECT_EQ(sizeof(FixedCc), 48u);
  }
  EXPECT_LE(sizeof(FixedCc), 64u);
}

}  // namespace
}  // namespace tern
