// The verbs-like API's contract: resource creation refuses bad arguments with
// a clear error, state transitions follow RESET -> INIT -> RTR -> RTS, posting
// fails with the failing request identified, and the context counts every
// frame it refuses.
#include "transport/verbs.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/testing/connected_pair.h"

namespace tern {
namespace {

using testing::ConnectedPair;
using ::testing::HasSubstr;

ContextConfig DefaultConfig() {
  ContextConfig config;
  config.local.ip = IpAddress::V4(0x0A000001);
  return config;
}

uint64_t Drops(const Context& context, DropReason reason) {
  return context.counters().drops[static_cast<size_t>(reason)];
}

TEST(ContextTest, RefusesRoceAndUetPorts) {
  for (uint16_t port : {4791, 4793, 0}) {
    ContextConfig config = DefaultConfig();
    config.local.udp_port = port;
    EXPECT_FALSE(Context::Create(config).ok()) << port;
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

}  // namespace
}  // namespace tern
