#include "dataplane/dpdk/arp.h"

#include <gtest/gtest.h>

#include <vector>

namespace tern::dpdk {
namespace {

const MacAddress kMacA{{0x02, 0, 0, 0, 0, 0x0A}};
const MacAddress kMacB{{0x02, 0, 0, 0, 0, 0x0B}};

TEST(ArpTest, RequestRoundTripsAndIsBroadcast) {
  ArpMessage request{ArpOp::kRequest, kMacA, 0x0A000001, {}, 0x0A000002};
  uint8_t frame[kArpFrameBytes];
  ASSERT_EQ(EncodeArp(request, frame), kArpFrameBytes);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(frame[i], 0xFF);
  const std::optional<ArpMessage> decoded = DecodeArp(frame);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->op, ArpOp::kRequest);
  EXPECT_EQ(decoded->sender_mac, kMacA);
  EXPECT_EQ(decoded->sender_ip, 0x0A000001u);
  EXPECT_EQ(decoded->target_ip, 0x0A000002u);
}

TEST(ArpTest, OnlyTheOwnerAnswersAndTheReplyGoesToTheAsker) {
  const ArpMessage request{ArpOp::kRequest, kMacA, 0x0A000001, {}, 0x0A000002};
  Endpoint b;
  b.mac = kMacB;
  b.ip = IpAddress::V4(0x0A000002);
  const std::optional<ArpMessage> reply = AnswerArp(request, b);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->op, ArpOp::kReply);
  EXPECT_EQ(reply->sender_mac, kMacB);
  EXPECT_EQ(reply->target_mac, kMacA);
  EXPECT_EQ(reply->target_ip, 0x0A000001u);
  uint8_t frame[kArpFrameBytes];
  EncodeArp(*reply, frame);
  EXPECT_EQ(MacAddress({{frame[0], frame[1], frame[2], frame[3], frame[4], frame[5]}}), kMacA);

  Endpoint other = b;
  other.ip = IpAddress::V4(0x0A000003);
  EXPECT_FALSE(AnswerArp(request, other).has_value());
  EXPECT_FALSE(AnswerArp(*reply, b).has_value()) << "replies are not answered";
}

TEST(ArpTest, MalformedFramesAreRefused) {
  const ArpMessage request{ArpOp::kRequest, kMacA, 1, {}, 2};
  uint8_t good[kArpFrameBytes];
  EncodeArp(request, good);
  EXPECT_FALSE(DecodeArp(std::span<const uint8_t>(good, 41)).has_value()) << "truncated";
  auto mutated = [&](size_t offset, uint8_t value) {
    std::vector<uint8_t> f(good, good + kArpFrameBytes);
    f[offset] = value;
    return DecodeArp(f).has_value();
  };
  EXPECT_FALSE(mutated(13, 0x00)) << "not the ARP ethertype";
  EXPECT_FALSE(mutated(15, 6)) << "hardware type not Ethernet";
  EXPECT_FALSE(mutated(16, 0x86)) << "protocol not IPv4";
  EXPECT_FALSE(mutated(18, 8)) << "hardware length";
  EXPECT_FALSE(mutated(19, 16)) << "protocol length";
  EXPECT_FALSE(mutated(21, 3)) << "unknown op";
  EXPECT_EQ(EncodeArp(request, std::span<uint8_t>(good, 59)), 0u) << "no room";
}

}  // namespace
}  // namespace tern::dpdk
