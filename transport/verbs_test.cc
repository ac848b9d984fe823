// The verbs-like API's contract: resource creation refuses bad arguments with
// a clear error, state transitions follow RESET -> INIT -> RTR -> RTS, posting
// fails with the failing request identified, and the context counts every
// frame it refuses.
#include "transport/verbs.h"

#include <algorithm>
#include <deque>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/random.h"
#include "transport/testing/connected_pair.h"
#include "transport/wire.h"

namespace tern {
namespace {

using testing::ConnectedPair;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

ContextConfig DefaultConfig() {
  ContextConfig config;
  config.local.ip = IpAddress::V4(0x0A000001);
  return config;
}

uint64_t Drops(const Context& context, DropReason reason) {
  return context.counters().drops[static_cast<size_t>(reason)];
}

// Counter by counter, every counter: a report adds QPs up, and a snapshot
// taken at a start is subtracted to count from there.
TEST(QpCountersTest, AddAndSubtractEveryCounter) {
  QpCounters base, more;
  uint64_t n = 1;
  for (const QpCounterField& f : QpCounterFields()) {
    base.*f.member = 1000 * n;
    more.*f.member = n++;
  }
  QpCounters sum = base;
  sum += more;
  for (const QpCounterField& f : QpCounterFields()) {
    EXPECT_EQ(sum.*f.member, base.*f.member + more.*f.member) << f.name;
  }
  sum -= base;
  for (const QpCounterField& f : QpCounterFields())
    EXPECT_EQ(sum.*f.member, more.*f.member) << f.name;
}

TEST(ContextTest, RefusesRoceAndUetPorts) {
  for (uint16_t port : {4791, 4793, 0}) {
    ContextConfig config = DefaultConfig();
    config.local.udp_port = port;
    EXPECT_FALSE(Context::Create(config).ok()) << port;
  }
}

TEST(ContextTest, PacketsPerTurnIsBounded) {
  for (uint32_t packets : {0u, 1u, 1024u, 1025u}) {
    ContextConfig config = DefaultConfig();
    config.packets_per_turn = packets;
    const absl::StatusOr<std::unique_ptr<Context>> context = Context::Create(config);
    EXPECT_EQ(context.ok(), packets == 1 || packets == 1024) << packets;
    if (!context.ok()) {
      EXPECT_THAT(context.status().message(), HasSubstr("packets_per_turn"));
    }
  }
}

TEST(ContextTest, TrafficClassWithEcnBitsIsRefused) {
  for (uint8_t traffic_class : {uint8_t{0}, uint8_t{104}, uint8_t{105}, uint8_t{3}, uint8_t{252}}) {
    ContextConfig config = DefaultConfig();
    config.traffic_class = traffic_class;
    const absl::StatusOr<std::unique_ptr<Context>> context = Context::Create(config);
    EXPECT_EQ(context.ok(), (traffic_class & 3) == 0) << int{traffic_class};
    if (!context.ok()) {
      EXPECT_THAT(context.status().message(), HasSubstr("ECN bits"));
    }
  }
}

TEST(ContextTest, CompletionQueueCapacityIsBounded) {
  auto context = *Context::Create(DefaultConfig());
  EXPECT_FALSE(context->CreateCq(0).ok());
  EXPECT_TRUE(context->CreateCq(1).ok());
}

TEST(ContextTest, CreateQpValidatesCapsAndTransportOptions) {
  auto context = *Context::Create(DefaultConfig());
  ProtectionDomain* pd = context->AllocPd();
  CompletionQueue* cq = *context->CreateCq(16);
  QpInitAttr attr;
  attr.send_cq = cq;
  attr.recv_cq = cq;
  EXPECT_TRUE(context->CreateQp(pd, attr).ok());

  QpInitAttr no_cq = attr;
  no_cq.send_cq = nullptr;
  EXPECT_FALSE(context->CreateQp(pd, no_cq).ok());
  QpInitAttr bad_window = attr;
  bad_window.transport.window_packets = 1000;
  EXPECT_THAT(context->CreateQp(pd, bad_window).status().message(), HasSubstr("power of two"));
  QpInitAttr no_paths = attr;
  no_paths.transport.paths = 0;
  EXPECT_FALSE(context->CreateQp(pd, no_paths).ok());
  QpInitAttr bad_cc = attr;
  bad_cc.transport.congestion_control = "nonesuch";
  EXPECT_THAT(context->CreateQp(pd, bad_cc).status().message(), HasSubstr("fixed"));
  QpInitAttr too_many_sge = attr;
  too_many_sge.cap.max_send_sge = 1000;
  EXPECT_FALSE(context->CreateQp(pd, too_many_sge).ok());
  auto other = *Context::Create(DefaultConfig());
  EXPECT_FALSE(context->CreateQp(other->AllocPd(), attr).ok()) << "PD of another context";
}

TEST(ContextTest, RegisterMemoryRefusesBadArguments) {
  auto context = *Context::Create(DefaultConfig());
  ProtectionDomain* pd = context->AllocPd();
  std::vector<uint8_t> buffer(64);
  EXPECT_FALSE(pd->RegisterMemory(nullptr, 64, kAccessLocalWrite).ok());
  EXPECT_FALSE(pd->RegisterMemory(buffer.data(), 64, 0x80).ok()) << "unknown flag";
  EXPECT_FALSE(pd->RegisterMemory(buffer.data(), 64, kAccessRemoteWrite).ok())
      << "remote write needs local write";
  auto mr = pd->RegisterMemory(buffer.data(), 64, kAccessLocalWrite | kAccessRemoteWrite);
  ASSERT_TRUE(mr.ok());
  EXPECT_NE((*mr)->lkey(), (*mr)->rkey());
  EXPECT_EQ(context->FindRegion((*mr)->rkey(), true), *mr);
  EXPECT_EQ(context->FindRegion((*mr)->lkey(), true), nullptr) << "an lkey is not an rkey";
  EXPECT_TRUE(pd->DeregisterMemory(*mr).ok());
  EXPECT_FALSE(pd->DeregisterMemory(*mr).ok());
}

// Lookups by key find each of many regions, and nothing after it leaves,
// whichever regions were deregistered in between; a key with the right index
// but another tag byte (a stale or forged key) finds nothing.
TEST(ContextTest, FindRegionByKeyAmongManyWithGaps) {
  auto context = *Context::Create(DefaultConfig());
  ProtectionDomain* pd = context->AllocPd();
  std::vector<uint8_t> buffer(64);
  std::vector<MemoryRegion*> regions;
  for (int i = 0; i < 300; ++i) {
    regions.push_back(*pd->RegisterMemory(buffer.data(), 64, kAccessLocalWrite));
  }
  std::vector<uint32_t> gone;
  for (int i = 0; i < 300; i += 3) {
    gone.push_back(regions[i]->lkey());
    ASSERT_TRUE(pd->DeregisterMemory(regions[i]).ok());
    regions[i] = nullptr;
  }
  for (MemoryRegion* mr : regions) {
    if (mr == nullptr) continue;
    EXPECT_EQ(context->FindRegion(mr->lkey(), false), mr);
    EXPECT_EQ(context->FindRegion(mr->rkey(), true), mr);
    EXPECT_EQ(context->FindRegion(mr->lkey() ^ 0x01, false), nullptr) << "tag byte differs";
  }
  for (uint32_t key : gone) EXPECT_EQ(context->FindRegion(key, false), nullptr);
  EXPECT_EQ(context->FindRegion(0, false), nullptr);
  EXPECT_EQ(context->FindRegion(0xFFFFFFFF, true), nullptr);
}

// The cached lookup answers as FindRegion does: it follows the key it is
// asked, and a region deregistered after the cache was filled is not found
// through it, even for the key the cache holds.
TEST(ContextTest, CachedRegionLookupForgetsDeregisteredRegions) {
  auto context = *Context::Create(DefaultConfig());
  ProtectionDomain* pd = context->AllocPd();
  std::vector<uint8_t> a(64), b(128);
  MemoryRegion* first = *pd->RegisterMemory(a.data(), a.size(), kAccessLocalWrite);
  MemoryRegion* second =
      *pd->RegisterMemory(b.data(), b.size(), kAccessLocalWrite | kAccessRemoteWrite);
  RegionLookupCache cache;
  ASSERT_TRUE(context->FindRegionCached(first->lkey(), false, cache));
  EXPECT_EQ(cache.addr, first->addr());
  EXPECT_EQ(cache.length, 64u);
  EXPECT_EQ(cache.pd, pd);
  EXPECT_FALSE(context->FindRegionCached(first->lkey(), true, cache)) << "an lkey is no rkey";
  ASSERT_TRUE(context->FindRegionCached(second->rkey(), true, cache));
  EXPECT_EQ(cache.length, 128u);
  EXPECT_EQ(cache.access, kAccessLocalWrite | kAccessRemoteWrite);
  // A registration leaves the cached answer standing.
  std::vector<uint8_t> c(32);
  ASSERT_TRUE(pd->RegisterMemory(c.data(), c.size(), kAccessLocalWrite).ok());
  EXPECT_TRUE(context->FindRegionCached(second->rkey(), true, cache));
  const uint32_t rkey = second->rkey();
  ASSERT_TRUE(pd->DeregisterMemory(second).ok());
  EXPECT_FALSE(context->FindRegionCached(rkey, true, cache)) << "deregistered after caching";
  EXPECT_TRUE(context->FindRegionCached(first->lkey(), false, cache));
}

class QueuePairTest : public ::testing::Test {
 protected:
  QueuePairTest() {
    context_ = *Context::Create(DefaultConfig());
    pd_ = context_->AllocPd();
    cq_ = *context_->CreateCq(64);
    QpInitAttr attr;
    attr.send_cq = cq_;
    attr.recv_cq = cq_;
    attr.cap.max_send_wr = 2;
    attr.cap.max_recv_wr = 2;
    attr.cap.max_send_sge = 1;
    attr.cap.max_inline_data = 16;
    qp_ = *context_->CreateQp(pd_, attr);
    buffer_.resize(4096);
    mr_ = *pd_->RegisterMemory(buffer_.data(), buffer_.size(), kAccessLocalWrite);
  }

  void BringUp() {
    ASSERT_TRUE(qp_->ToInit({}).ok());
    QpRtrAttr rtr;
    rtr.dest_qp_num = 0x999;
    rtr.remote.ip = IpAddress::V4(0x0A000002);
    ASSERT_TRUE(qp_->ToRtr(rtr).ok());
    ASSERT_TRUE(qp_->ToRts({}).ok());
  }

  Sge sge(uint32_t length = 64) const {
    return Sge{reinterpret_cast<uint64_t>(buffer_.data()), length, mr_->lkey()};
  }

  std::unique_ptr<Context> context_;
  ProtectionDomain* pd_;
  CompletionQueue* cq_;
  QueuePair* qp_;
  std::vector<uint8_t> buffer_;
  MemoryRegion* mr_;
};

TEST_F(QueuePairTest, TransitionsMustFollowResetInitRtrRts) {
  EXPECT_EQ(qp_->state(), QpState::kReset);
  EXPECT_FALSE(qp_->ToRts({}).ok());
  EXPECT_FALSE(qp_->ToRtr({}).ok());
  ASSERT_TRUE(qp_->ToInit({}).ok());
  EXPECT_FALSE(qp_->ToInit({}).ok());
  EXPECT_FALSE(qp_->ToRts({}).ok());
  QpRtrAttr rtr;
  rtr.remote.ip = IpAddress::V4(0x0A000002);
  rtr.path_mtu = 100;
  EXPECT_THAT(qp_->ToRtr(rtr).message(), HasSubstr("path_mtu"));
  rtr.path_mtu = 4096;
  ASSERT_TRUE(qp_->ToRtr(rtr).ok());
  ASSERT_TRUE(qp_->ToRts({}).ok());
  EXPECT_EQ(qp_->state(), QpState::kRts);
  ASSERT_TRUE(qp_->ToError().ok());
  EXPECT_EQ(qp_->state(), QpState::kErr);
}

TEST_F(QueuePairTest, RtsRefusesAnRnrRetryAboveSeven) {
  ASSERT_TRUE(qp_->ToInit({}).ok());
  QpRtrAttr rtr;
  rtr.remote.ip = IpAddress::V4(0x0A000002);
  ASSERT_TRUE(qp_->ToRtr(rtr).ok());
  QpRtsAttr rts;
  rts.rnr_retry = 8;
  EXPECT_THAT(qp_->ToRts(rts).message(), HasSubstr("rnr_retry must be 0..7"));
  EXPECT_EQ(qp_->state(), QpState::kRtr);
  rts.rnr_retry = 7;
  ASSERT_TRUE(qp_->ToRts(rts).ok());
}

TEST_F(QueuePairTest, RtrRefusesAnAddressOfTheOtherFamily) {
  ASSERT_TRUE(qp_->ToInit({}).ok());
  QpRtrAttr rtr;
  rtr.remote.ip.is_v6 = true;
  EXPECT_FALSE(qp_->ToRtr(rtr).ok());
}

TEST_F(QueuePairTest, PostSendBeforeRtsFails) {
  const Sge s = sge();
  SendWr wr;
  wr.sg_list = {&s, 1};
  EXPECT_EQ(qp_->PostSend(wr).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(QueuePairTest, PostRecvInResetFailsButWorksFromInit) {
  const Sge s = sge();
  EXPECT_FALSE(qp_->PostRecv(RecvWr{1, {&s, 1}}).ok());
  ASSERT_TRUE(qp_->ToInit({}).ok());
  EXPECT_TRUE(qp_->PostRecv(RecvWr{1, {&s, 1}}).ok());
}

TEST_F(QueuePairTest, FullSendQueueIdentifiesTheFailingRequest) {
  BringUp();
  const Sge s = sge();
  std::vector<SendWr> wrs(3);
  for (uint64_t i = 0; i < 3; ++i) {
    wrs[i].wr_id = i;
    wrs[i].opcode = WrOpcode::kRdmaWrite;
    wrs[i].sg_list = {&s, 1};
  }
  size_t posted = 99;
  const absl::Status status = qp_->PostSend(wrs, &posted);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(posted, 2u) << "the third request is the one that failed";
}

TEST_F(QueuePairTest, TooManySgesAndOversizedInlineAreRefused) {
  BringUp();
  const Sge two[2] = {sge(), sge()};
  SendWr wr;
  wr.sg_list = two;
  size_t posted = 99;
  EXPECT_THAT(qp_->PostSend({&wr, 1}, &posted).message(), HasSubstr("max_send_sge"));
  EXPECT_EQ(posted, 0u);
  const Sge big = sge(17);
  SendWr inline_wr;
  inline_wr.send_flags = kSendInline;
  inline_wr.sg_list = {&big, 1};
  EXPECT_THAT(qp_->PostSend(inline_wr).message(), HasSubstr("INLINE"));
}

TEST_F(QueuePairTest, FullReceiveQueueIdentifiesTheFailingRequest) {
  ASSERT_TRUE(qp_->ToInit({}).ok());
  const Sge s = sge();
  std::vector<RecvWr> wrs(3, RecvWr{0, {&s, 1}});
  size_t posted = 99;
  EXPECT_FALSE(qp_->PostRecv(wrs, &posted).ok());
  EXPECT_EQ(posted, 2u);
}

TEST_F(QueuePairTest, ErrorStateFlushesPostedReceives) {
  ASSERT_TRUE(qp_->ToInit({}).ok());
  const Sge s = sge();
  ASSERT_TRUE(qp_->PostRecv(RecvWr{5, {&s, 1}}).ok());
  ASSERT_TRUE(qp_->ToError().ok());
  auto wcs = ConnectedPair::Drain(cq_);
  ASSERT_EQ(wcs.size(), 1u);
  EXPECT_EQ(wcs[0].wr_id, 5u);
  EXPECT_EQ(wcs[0].status, WcStatus::kWrFlushErr);
}

TEST(ContextFrameTest, RefusedFramesAreCountedByReason) {
  ConnectedPair pair;
  auto [a, b] = pair.ConnectQps();
  std::vector<uint8_t> buffer(64);
  MemoryRegion* mr =
      *pair.side(0).pd->RegisterMemory(buffer.data(), buffer.size(), kAccessLocalWrite);
  std::vector<uint8_t> landing(64);
  MemoryRegion* landing_mr =
      *pair.side(1).pd->RegisterMemory(landing.data(), landing.size(), kAccessLocalWrite);
  const Sge r{reinterpret_cast<uint64_t>(landing.data()), 64, landing_mr->lkey()};
  ASSERT_TRUE(b->PostRecv(RecvWr{1, {&r, 1}}).ok());
  const Sge s{reinterpret_cast<uint64_t>(buffer.data()), 64, mr->lkey()};
  SendWr wr;
  wr.sg_list = {&s, 1};
  ASSERT_TRUE(a->PostSend(wr).ok());
  // Capture A's first frame, then replay altered copies of it into B.
  std::vector<uint8_t> frame;
  pair.set_filter([&](int from, std::vector<uint8_t>& f) {
    if (from == 0 && frame.empty()) frame = f;
    return true;
  });
  pair.Run();
  ASSERT_FALSE(frame.empty());
  Context& receiver = *pair.side(1).context;
  const Time now = pair.now();

  std::vector<uint8_t> corrupt = frame;
  corrupt.back() ^= 1;
  receiver.OnFrame(corrupt, now);
  EXPECT_EQ(Drops(receiver, DropReason::kBadChecksum), 1u);

  receiver.OnFrame(std::span(frame).first(20), now);
  EXPECT_EQ(Drops(receiver, DropReason::kTruncated), 1u);

  // A valid packet for a QP that does not exist: reseal after changing dst_qpn.
  std::vector<uint8_t> stranger = frame;
  const size_t tern_at = sizeof(EthernetHeader) + sizeof(Ipv4Header) + sizeof(UdpHeader);
  auto* header = reinterpret_cast<TernHeader*>(stranger.data() + tern_at);
  header->dst_qpn.set(0xDEAD);
  SealTernChecksum(std::span(stranger).subspan(tern_at));
  receiver.OnFrame(stranger, now);
  EXPECT_EQ(Drops(receiver, DropReason::kUnknownConnection), 1u);

  std::vector<uint8_t> wrong_port = frame;
  wrong_port[tern_at - 6] ^= 0x10;  // UDP destination port
  receiver.OnFrame(wrong_port, now);
  EXPECT_EQ(Drops(receiver, DropReason::kNotTern), 1u);

  std::vector<uint8_t> bad_version = frame;
  bad_version[tern_at] = 9;
  SealTernChecksum(std::span(bad_version).subspan(tern_at));  // a peer speaking another version
  receiver.OnFrame(bad_version, now);
  EXPECT_EQ(Drops(receiver, DropReason::kBadVersion), 1u);
  EXPECT_EQ(b->state(), QpState::kRts) << "bad frames do not disturb the connection";
}

TEST(ContextFrameTest, PacketsAQpCannotTakeInItsStateAreCounted) {
  ConnectedPair pair;
  auto [a, b] = pair.ConnectQps();
  std::vector<uint8_t> frame;
  pair.set_filter([&](int from, std::vector<uint8_t>& f) {
    if (from == 0 && frame.empty()) frame = f;
    return true;
  });
  std::vector<uint8_t> buffer(64);
  MemoryRegion* mr =
      *pair.side(1).pd->RegisterMemory(buffer.data(), buffer.size(), kAccessLocalWrite);
  const Sge r{reinterpret_cast<uint64_t>(buffer.data()), 64, mr->lkey()};
  ASSERT_TRUE(b->PostRecv(RecvWr{1, {&r, 1}}).ok());
  ASSERT_TRUE(a->PostSend(SendWr{}).ok());  // an empty SEND
  pair.Run();
  ASSERT_FALSE(frame.empty());
  ASSERT_TRUE(b->ToError().ok());
  const uint64_t before = a->counters().ignored_in_state;
  // B in ERR answers data with a NACK; A, once in ERR too, ignores what arrives.
  ASSERT_TRUE(a->ToError().ok());
  pair.side(1).context->OnFrame(frame, pair.now());
  pair.Run();
  EXPECT_GT(a->counters().ignored_in_state, before);
}

// Every frame either side sends, DATA and ACK alike, carries the context's
// traffic class with ECT(0).
TEST(ContextFrameTest, FramesCarryTheTrafficClass) {
  ContextConfig base;
  base.traffic_class = 104;  // DSCP 26
  ConnectedPair pair(/*seed=*/1, /*cq_depth=*/64, base);
  auto [a, b] = pair.ConnectQps();
  uint64_t frames[2] = {0, 0};
  pair.set_filter([&](int from, std::vector<uint8_t>& f) {
    const FrameDecodeResult decoded = DecodeFrame(f, kDefaultUdpPort);
    EXPECT_TRUE(decoded.ok());
    EXPECT_EQ(f[sizeof(EthernetHeader) + offsetof(Ipv4Header, tos)], 104 | 0x02);
    ++frames[from];
    return true;
  });
  std::vector<uint8_t> buffer(64);
  MemoryRegion* mr =
      *pair.side(1).pd->RegisterMemory(buffer.data(), buffer.size(), kAccessLocalWrite);
  const Sge r{reinterpret_cast<uint64_t>(buffer.data()), 64, mr->lkey()};
  ASSERT_TRUE(b->PostRecv(RecvWr{1, {&r, 1}}).ok());
  ASSERT_TRUE(a->PostSend(SendWr{}).ok());
  pair.Run();
  EXPECT_GT(frames[0], 0u);
  EXPECT_GT(frames[1], 0u) << "no ACK came back";
}

// --- transmit scheduling ------------------------------------------------------

uint32_t SourceQp(const TxPacket& packet) {
  return reinterpret_cast<const TernHeader*>(packet.header)->src_qpn.get();
}

ContextConfig WithPacketsPerTurn(uint32_t packets) {
  ContextConfig config;
  config.packets_per_turn = packets;
  return config;
}

// QPs of side 0 of a pair, connected and in RTS; nothing is delivered unless
// a test does it, so side 0 sends into silence. QPs send turns of
// kPacketsPerTurn packets.
template <uint32_t kPacketsPerTurn>
class SchedulingFixture : public ::testing::Test {
 protected:
  std::vector<QueuePair*> ConnectQps(int n) {
    std::vector<QueuePair*> qps;
    for (int i = 0; i < n; ++i) qps.push_back(pair_.ConnectQps().first);
    return qps;
  }
  // One single-packet inline SEND on `qp`.
  void PostOne(QueuePair* qp, uint64_t wr_id = 1) {
    SendWr wr;
    wr.wr_id = wr_id;
    wr.send_flags = kSendInline;
    wr.sg_list = {&inline_sge_, 1};
    ASSERT_TRUE(qp->PostSend(wr).ok());
  }
  // Polls side 0 at `now` in bursts of `burst` until nothing comes out;
  // returns the sending QP of each packet in order.
  std::vector<uint32_t> Drain(Time now, size_t burst) {
    std::vector<uint32_t> sources;
    std::vector<TxPacket> packets(burst);
    while (size_t n = context().PollTransmit(now, packets)) {
      for (size_t i = 0; i < n; ++i) sources.push_back(SourceQp(packets[i]));
    }
    return sources;
  }
  Context& context() { return *pair_.side(0).context; }

  ConnectedPair pair_{/*seed=*/1, /*cq_depth=*/4096, WithPacketsPerTurn(kPacketsPerTurn)};
  uint8_t payload_[16] = {};
  Sge inline_sge_{reinterpret_cast<uint64_t>(payload_), sizeof payload_, 0};
};
// Strict packet round-robin.
using TransmitSchedulingTest = SchedulingFixture<1>;
using TransmitTurnsTest = SchedulingFixture<3>;

// Each QP posts three one-packet messages; the packets must come out one per
// QP per round, in posting order, whatever the burst size.
void ExpectRoundRobin(const std::vector<QueuePair*>& qps, const std::vector<uint32_t>& sources) {
  std::vector<uint32_t> expected;
  for (int round = 0; round < 3; ++round) {
    for (QueuePair* qp : qps) expected.push_back(qp->qp_num());
  }
  EXPECT_THAT(sources, ElementsAreArray(expected));
}

TEST_F(TransmitSchedulingTest, ReadyQpsTakeTurnsOnePacketPerPoll) {
  std::vector<QueuePair*> qps = ConnectQps(7);
  for (int m = 0; m < 3; ++m) {
    for (QueuePair* qp : qps) PostOne(qp, m);
  }
  ExpectRoundRobin(qps, Drain(pair_.now(), 1));
}

TEST_F(TransmitSchedulingTest, ReadyQpsTakeTurnsWithinAndAcrossBursts) {
  std::vector<QueuePair*> qps = ConnectQps(7);
  // A QP with all its messages posted first must not take the burst.
  for (QueuePair* qp : qps) {
    for (int m = 0; m < 3; ++m) PostOne(qp, m);
  }
  // 5 does not divide 7: rounds straddle bursts.
  ExpectRoundRobin(qps, Drain(pair_.now(), 5));
}

TEST_F(TransmitSchedulingTest, QpThatJustSentGoesBehindTheOthersReady) {
  std::vector<QueuePair*> qps = ConnectQps(3);
  for (int m = 0; m < 3; ++m) PostOne(qps[0], m);
  TxPacket packet;
  ASSERT_EQ(context().PollTransmit(pair_.now(), {&packet, 1}), 1u);
  EXPECT_EQ(SourceQp(packet), qps[0]->qp_num());
  // Two QPs become ready after the first sent: they go before its next packet.
  PostOne(qps[1]);
  PostOne(qps[2]);
  EXPECT_THAT(Drain(pair_.now(), 1), ElementsAreArray({qps[1]->qp_num(), qps[2]->qp_num(),
                                                       qps[0]->qp_num(), qps[0]->qp_num()}));
}

// Each of 4 QPs posts 5 one-packet messages: turns of 3, then of the 2 left.
std::vector<uint32_t> TurnsOfThreeThenTwo(const std::vector<QueuePair*>& qps) {
  std::vector<uint32_t> expected;
  for (int turn : {3, 2}) {
    for (QueuePair* qp : qps) expected.insert(expected.end(), turn, qp->qp_num());
  }
  return expected;
}

TEST_F(TransmitTurnsTest, ReadyQpsSendTheirTurnsWithinAndAcrossBursts) {
  std::vector<QueuePair*> qps = ConnectQps(4);
  for (QueuePair* qp : qps) {
    for (int m = 0; m < 5; ++m) PostOne(qp, m);
  }
  // 2 divides no turn: turns straddle bursts.
  EXPECT_THAT(Drain(pair_.now(), 2), ElementsAreArray(TurnsOfThreeThenTwo(qps)));
}

TEST_F(TransmitTurnsTest, TurnsAreTheSameWhenEveryPollAsksForOnePacket) {
  std::vector<QueuePair*> qps = ConnectQps(4);
  for (QueuePair* qp : qps) {
    for (int m = 0; m < 5; ++m) PostOne(qp, m);
  }
  EXPECT_THAT(Drain(pair_.now(), 1), ElementsAreArray(TurnsOfThreeThenTwo(qps)));
}

TEST_F(TransmitTurnsTest, QpThatBecomesReadyWaitsForTheTurnUnderWay) {
  std::vector<QueuePair*> qps = ConnectQps(2);
  for (int m = 0; m < 4; ++m) PostOne(qps[0], m);
  TxPacket packet;
  ASSERT_EQ(context().PollTransmit(pair_.now(), {&packet, 1}), 1u);
  PostOne(qps[1]);
  EXPECT_THAT(Drain(pair_.now(), 1), ElementsAreArray({qps[0]->qp_num(), qps[0]->qp_num(),
                                                       qps[1]->qp_num(), qps[0]->qp_num()}));
}

// An ACK does not wait for the data turns of the QPs due before it: behind a
// round of turns it would hold back the peer's window and fire its tail
// probes (a 64-host all-to-all drew 4,626 probes, for 25 drops).
TEST_F(TransmitTurnsTest, AnAckGoesAheadOfOtherQpsDataTurns) {
  auto [acking, peer] = pair_.ConnectQps();
  std::vector<QueuePair*> busy = ConnectQps(2);
  for (QueuePair* qp : busy) {
    for (int m = 0; m < 3; ++m) PostOne(qp, m);
  }
  uint8_t receive[64] = {};
  MemoryRegion* mr = *pair_.side(0).pd->RegisterMemory(receive, sizeof receive, kAccessLocalWrite);
  const Sge receive_sge{reinterpret_cast<uint64_t>(receive), sizeof receive, mr->lkey()};
  ASSERT_TRUE(acking->PostRecv(RecvWr{1, {&receive_sge, 1}}).ok());
  // The peer's one-packet SEND completes a message: it is acknowledged at once.
  SendWr send;
  send.send_flags = kSendInline;
  send.sg_list = {&inline_sge_, 1};
  ASSERT_TRUE(peer->PostSend(send).ok());
  TxPacket packet;
  ASSERT_EQ(pair_.side(1).context->PollTransmit(pair_.now(), {&packet, 1}), 1u);
  std::vector<uint8_t> frame(packet.frame_len());
  packet.WriteFrame(frame.data());
  context().OnFrame(frame, pair_.now());

  ASSERT_EQ(context().PollTransmit(pair_.now(), {&packet, 1}), 1u);
  EXPECT_EQ(SourceQp(packet), acking->qp_num());
  EXPECT_FALSE(packet.is_data());
  EXPECT_THAT(Drain(pair_.now(), 1),
              ElementsAreArray({busy[0]->qp_num(), busy[0]->qp_num(), busy[0]->qp_num(),
                                busy[1]->qp_num(), busy[1]->qp_num(), busy[1]->qp_num()}));
}

TEST_F(TransmitSchedulingTest, TimersFireAtTheirDeadlineAndNotBefore) {
  QueuePair* qp = ConnectQps(1)[0];
  PostOne(qp);
  TxPacket packet;
  ASSERT_EQ(context().PollTransmit(pair_.now(), {&packet, 1}), 1u);
  const Duration ns = Duration::Nanoseconds(1);

  // First the tail-loss probe, then (no ACK ever comes) the RTO.
  const Time probe = context().NextWakeup();
  ASSERT_GT(probe, pair_.now());
  ASSERT_FALSE(probe.IsInfinite());
  EXPECT_EQ(context().PollTransmit(probe - ns, {&packet, 1}), 0u);
  EXPECT_EQ(qp->counters().tail_probes, 0u);
  ASSERT_EQ(context().PollTransmit(probe, {&packet, 1}), 1u);
  EXPECT_TRUE(packet.is_retransmission());
  EXPECT_EQ(qp->counters().tail_probes, 1u);

  const Time rto = context().NextWakeup();
  ASSERT_GT(rto, probe);
  ASSERT_FALSE(rto.IsInfinite());
  EXPECT_EQ(context().PollTransmit(rto - ns, {&packet, 1}), 0u);
  EXPECT_EQ(qp->counters().local_ack_timeout_err, 0u);
  ASSERT_EQ(context().PollTransmit(rto, {&packet, 1}), 1u);
  EXPECT_TRUE(packet.is_retransmission());
  EXPECT_EQ(qp->counters().local_ack_timeout_err, 1u);
}

TEST_F(TransmitSchedulingTest, PostingToAnIdleQpWakesIt) {
  std::vector<QueuePair*> qps = ConnectQps(3);
  TxPacket packet;
  EXPECT_EQ(context().NextWakeup(), Time::Infinite());
  EXPECT_EQ(context().PollTransmit(pair_.now(), {&packet, 1}), 0u);
  PostOne(qps[1]);
  EXPECT_LE(context().NextWakeup(), pair_.now());
  ASSERT_EQ(context().PollTransmit(pair_.now(), {&packet, 1}), 1u);
  EXPECT_EQ(SourceQp(packet), qps[1]->qp_num());
}

TEST_F(TransmitSchedulingTest, DestroyedQpIsNeverPolled) {
  std::vector<QueuePair*> qps = ConnectQps(3);
  for (QueuePair* qp : qps) PostOne(qp);
  const uint32_t destroyed = qps[1]->qp_num();
  ASSERT_TRUE(context().DestroyQp(qps[1]).ok());
  EXPECT_THAT(Drain(pair_.now(), 4), ElementsAreArray({qps[0]->qp_num(), qps[2]->qp_num()}));
  // Its slot is reused by the next QP, which starts idle.
  QueuePair* fresh = ConnectQps(1)[0];
  EXPECT_NE(fresh->qp_num(), destroyed);
  // Only the timers of the two QPs that sent are left.
  const Time wakeup = context().NextWakeup();
  EXPECT_EQ(wakeup, std::min(qps[0]->NextWakeup(), qps[2]->NextWakeup()));
  EXPECT_EQ(Drain(wakeup, 4).size(), 2u);
}

// Received packets find their QP by number, also once QPs around it are gone;
// a packet for a destroyed QP is an unknown connection.
TEST_F(TransmitSchedulingTest, PacketsFindTheirQpAfterOthersAreDestroyed) {
  std::vector<std::pair<QueuePair*, QueuePair*>> pairs;
  for (int i = 0; i < 5; ++i) pairs.push_back(pair_.ConnectQps());
  Context& receiver = *pair_.side(1).context;
  ASSERT_TRUE(receiver.DestroyQp(pairs[1].second).ok());
  ASSERT_TRUE(receiver.DestroyQp(pairs[3].second).ok());
  for (const auto& [sender, unused] : pairs) PostOne(sender);
  std::vector<TxPacket> packets(8);
  const size_t n = context().PollTransmit(pair_.now(), packets);
  ASSERT_EQ(n, 5u);
  for (size_t i = 0; i < n; ++i) {
    std::vector<uint8_t> frame(packets[i].frame_len());
    packets[i].WriteFrame(frame.data());
    receiver.OnFrame(frame, pair_.now());
  }
  for (int i : {0, 2, 4}) EXPECT_EQ(pairs[i].second->counters().data_packets_received, 1u) << i;
  EXPECT_EQ(receiver.counters().drops[static_cast<size_t>(DropReason::kUnknownConnection)], 2u);
}

// --- coalesced control packets ----------------------------------------------

// QP pairs between the two contexts of a pair; each side-0 QP sends one
// single-packet SEND, which side 1 receives. Returns side 1's transmit poll
// (`burst` packets at most): the ACKs, due together.
class CoalescedControlTest : public ::testing::Test {
 protected:
  explicit CoalescedControlTest(bool coalesce = true)
      : pair_(1, 4096, [&] {
          ContextConfig config;
          config.coalesce_control = coalesce;
          return config;
        }()) {
    absl::StatusOr<MemoryRegion*> sink =
        pair_.side(1).pd->RegisterMemory(sink_.data(), sink_.size(), kAccessLocalWrite);
    EXPECT_TRUE(sink.ok()) << sink.status();
    if (sink.ok()) recv_sge_.lkey = (*sink)->lkey();
  }

  std::vector<TxPacket> AcksForOneSendEach(int qps, size_t burst) {
    for (int i = 0; i < qps; ++i) pairs_.push_back(pair_.ConnectQps());
    Context& sender = *pair_.side(0).context;
    Context& receiver = *pair_.side(1).context;
    for (auto& [a, b] : pairs_) {
      RecvWr recv;
      recv.sg_list = {&recv_sge_, 1};
      EXPECT_TRUE(b->PostRecv(recv).ok());
      SendWr wr;
      wr.send_flags = kSendInline | kSendSignaled;
      wr.sg_list = {&send_sge_, 1};
      EXPECT_TRUE(a->PostSend(wr).ok());
    }
    std::vector<TxPacket> data(static_cast<size_t>(qps));
    EXPECT_EQ(sender.PollTransmit(pair_.now(), data), static_cast<size_t>(qps));
    for (const TxPacket& p : data) {
      EXPECT_TRUE(p.is_data());
      Deliver(p, receiver);
    }
    std::vector<TxPacket> acks(burst);
    acks.resize(receiver.PollTransmit(pair_.now(), acks));
    return acks;
  }
  void Deliver(const TxPacket& packet, Context& to) {
    std::vector<uint8_t> frame(packet.frame_len());
    packet.WriteFrame(frame.data());
    if (corrupt_at_ != SIZE_MAX) frame[corrupt_at_] ^= 0x01;
    to.OnFrame(frame, pair_.now());
  }
  uint64_t AcksReceived() const {
    uint64_t n = 0;
    for (const auto& [a, b] : pairs_) n += a->counters().acks_received;
    return n;
  }

  ConnectedPair pair_;
  std::vector<std::pair<QueuePair*, QueuePair*>> pairs_;
  uint8_t payload_[16] = {};
  Sge send_sge_{reinterpret_cast<uint64_t>(payload_), sizeof payload_, 0};
  std::vector<uint8_t> sink_ = std::vector<uint8_t>(64);
  Sge recv_sge_{reinterpret_cast<uint64_t>(sink_.data()), 64, 0};
  size_t corrupt_at_ = SIZE_MAX;  // frame byte Deliver flips, if any
};

class UncoalescedControlTest : public CoalescedControlTest {
 protected:
  UncoalescedControlTest() : CoalescedControlTest(false) {}
};

TEST_F(CoalescedControlTest, AcksDueTogetherForOneHostShareADatagram) {
  const std::vector<TxPacket> acks = AcksForOneSendEach(5, 8);
  ASSERT_EQ(acks.size(), 1u);
  const auto* first = reinterpret_cast<const TernHeader*>(acks[0].header);
  EXPECT_EQ(first->type, static_cast<uint8_t>(PacketType::kAck));
  EXPECT_NE(first->flags.get() & kFlagCoalesced, 0);
  EXPECT_EQ(acks[0].payload.size(), 4 * (sizeof(TernHeader) + sizeof(AckHeader)));
  EXPECT_FALSE(acks[0].is_data()) << "its payload is control packets, not message bytes";
  const Context& receiver = *pair_.side(1).context;
  EXPECT_EQ(receiver.counters().packets_sent, 5u) << "Tern packets, coalesced ones included";
  EXPECT_EQ(receiver.counters().control_coalesced_sent, 4u);

  Context& sender = *pair_.side(0).context;
  Deliver(acks[0], sender);
  EXPECT_EQ(AcksReceived(), 5u);
  EXPECT_EQ(sender.counters().control_coalesced_received, 4u);
  EXPECT_EQ(ConnectedPair::Drain(pair_.side(0).send_cq).size(), 5u) << "every SEND completed";
  for (uint64_t drops : sender.counters().drops) EXPECT_EQ(drops, 0u);
}

TEST_F(CoalescedControlTest, ADamagedCoalescedAckCostsOnlyItself) {
  const std::vector<TxPacket> acks = AcksForOneSendEach(3, 8);
  ASSERT_EQ(acks.size(), 1u);
  // A byte of the second ACK's SACK bitmap, after the outer headers.
  corrupt_at_ = acks[0].frame_len() - acks[0].payload.size() + 30;
  Context& sender = *pair_.side(0).context;
  Deliver(acks[0], sender);
  EXPECT_EQ(AcksReceived(), 2u);
  EXPECT_EQ(sender.counters().drops[static_cast<size_t>(DropReason::kBadChecksum)], 1u);
}

TEST_F(CoalescedControlTest, ADatagramStaysWithinThePathMtu) {
  pair_.path_mtu = 256;  // four 52-byte ACKs fit, a fifth does not
  const std::vector<TxPacket> acks = AcksForOneSendEach(9, 16);
  ASSERT_EQ(acks.size(), 3u);
  for (const TxPacket& p : acks) EXPECT_LE(p.tern_len(), 256u);
  EXPECT_EQ(acks[0].tern_len(), 4 * 52u);
  EXPECT_EQ(acks[2].tern_len(), 52u);
  Context& sender = *pair_.side(0).context;
  for (const TxPacket& p : acks) Deliver(p, sender);
  EXPECT_EQ(AcksReceived(), 9u);
}

TEST_F(UncoalescedControlTest, EachAckLeavesAlone) {
  const std::vector<TxPacket> acks = AcksForOneSendEach(5, 8);
  ASSERT_EQ(acks.size(), 5u);
  for (const TxPacket& p : acks) EXPECT_TRUE(p.payload.empty());
  EXPECT_EQ(pair_.side(1).context->counters().control_coalesced_sent, 0u);
}

// Context::NextWakeup against a scan of every QP's, through random posting,
// delivery, loss, time steps and bursts. When some QP is due the context must
// say so (at or before now); otherwise it must name the exact deadline.
TEST(TransmitSchedulingRandomTest, NextWakeupIsTheEarliestOverQps) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(absl::StrFormat("seed %d", seed));
    Random rng(seed);
    ConnectedPair pair(seed);
    std::vector<QueuePair*> qps[2];
    for (int i = 0; i < 8; ++i) {
      auto [a, b] = pair.ConnectQps();
      qps[0].push_back(a);
      qps[1].push_back(b);
    }
    std::vector<uint8_t> memory[2];
    MemoryRegion* mr[2];
    for (int s = 0; s < 2; ++s) {
      memory[s].resize(1 << 16);
      mr[s] = *pair.side(s).pd->RegisterMemory(memory[s].data(), memory[s].size(),
                                               kAccessLocalWrite | kAccessRemoteWrite);
    }
    struct Flight {
      Time arrival;
      int to;
      std::vector<uint8_t> frame;
    };
    std::deque<Flight> wire;
    Time now = pair.now();
    auto check = [&](const char* after) {
      for (int s = 0; s < 2; ++s) {
        Time earliest = Time::Infinite();
        for (QueuePair* qp : qps[s]) earliest = std::min(earliest, qp->NextWakeup());
        const Time wakeup = pair.side(s).context->NextWakeup();
        if (earliest > now) {
          ASSERT_EQ(wakeup, earliest) << "side " << s << " after " << after;
        } else {
          ASSERT_LE(wakeup, now) << "side " << s << " after " << after;
        }
      }
    };
    TxPacket packets[8];
    for (int step = 0; step < 3000; ++step) {
      SCOPED_TRACE(absl::StrFormat("step %d", step));
      const uint64_t action = rng.Uniform(10);
      const int s = static_cast<int>(rng.Uniform(2));
      if (action < 2) {
        QueuePair* qp = qps[s][rng.Uniform(qps[s].size())];
        if (rng.Bernoulli(0.01)) {
          ASSERT_TRUE(qp->ToError().ok());
          check("ToError");
          continue;
        }
        Sge sge{reinterpret_cast<uint64_t>(memory[s].data()),
                static_cast<uint32_t>(1 + rng.Uniform(20000)), mr[s]->lkey()};
        SendWr wr;
        wr.opcode = WrOpcode::kRdmaWrite;
        wr.sg_list = {&sge, 1};
        wr.remote_addr = reinterpret_cast<uint64_t>(memory[1 - s].data());
        wr.rkey = mr[1 - s]->rkey();
        (void)qp->PostSend(wr);  // a full send queue is fine
        check("PostSend");
      } else if (action < 5) {
        const size_t burst = 1 + rng.Uniform(8);
        const size_t n = pair.side(s).context->PollTransmit(now, {packets, burst});
        for (size_t k = 0; k < n; ++k) {
          if (rng.Bernoulli(0.05)) continue;  // lost
          std::vector<uint8_t> frame(packets[k].frame_len());
          packets[k].WriteFrame(frame.data());
          const Duration delay = Duration::Nanoseconds(500 + rng.Uniform(3000));
          wire.push_back({now + delay, 1 - s, std::move(frame)});
        }
        check("PollTransmit");
      } else if (action < 8) {
        // Deliver what has arrived, in arrival order.
        std::stable_sort(wire.begin(), wire.end(),
                         [](const Flight& a, const Flight& b) { return a.arrival < b.arrival; });
        while (!wire.empty() && wire.front().arrival <= now) {
          pair.side(wire.front().to).context->OnFrame(wire.front().frame, now);
          wire.pop_front();
          check("OnFrame");
        }
      } else {
        now = now + Duration::Nanoseconds(1 + rng.Uniform(action == 8 ? 2000 : 200000));
        check("time step");
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace tern
